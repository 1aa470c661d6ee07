"""harbor-registryctl: registryctl/config.yml and registryctl/env."""

from .. import context as ctx
from ..files import env_file, yaml_file


def files(s, keys, paths):
    itls = s.on("internal_tls")
    config = {"protocol": "https" if itls else "http", "port": 8443 if itls else 8080}
    if itls:
        config["https_config"] = {"cert": paths.secret("tls", "registryctl.crt"),
                                  "key": paths.secret("tls", "registryctl.key")}
    config["log_level"] = ctx.registry_log_level(s["log.level"])
    config["registry_config"] = paths.config("registry", "config.yml")
    env = {"CORE_SECRET": keys.core_secret, "JOBSERVICE_SECRET": keys.jobservice_secret}
    if itls:
        env.update({
            "INTERNAL_TLS_ENABLED": "true",
            "INTERNAL_TLS_TRUST_CA_PATH": paths.config("shared", "trust-certificates",
                                                       "harbor_internal_ca.crt"),
            "INTERNAL_TLS_KEY_PATH": paths.secret("tls", "registryctl.key"),
            "INTERNAL_TLS_CERT_PATH": paths.secret("tls", "registryctl.crt"),
        })
    env.update(ctx.trace_env(s, "harbor-registryctl"))
    return [yaml_file("config/registryctl/config.yml", config),
            env_file("config/registryctl/env", env)]
