"""harbor-core: core/env, core/app.conf, the secretkey and the token signing key."""

import json

from .. import context as ctx
from .. import schema
from ..files import File, env_file, template_file


def config_overwrite(s) -> dict | None:
    """Core's CONFIG_OVERWRITE_JSON: the user settings given as variables, in the JSON types
    core's config API takes (booleans, numbers, strings, objects). None when none is given:
    core then leaves every setting to the portal and the API (with the variable present,
    even as {}, core makes all settings read-only)."""
    given = {st.key: s[st.key] for st in schema.USER_SETTINGS if s[st.key] is not None}
    return given or None


def files(s, keys, paths):
    itls = s.on("internal_tls")
    urls = ctx.service_urls(itls)
    db = ctx.database(s, keys)
    r = ctx.redis(s)
    env = {
        "CONFIG_PATH": paths.config("core", "app.conf"),
        "KEY_PATH": paths.secret("keys", "secretkey"),
        "TOKEN_PRIVATE_KEY_PATH": paths.secret("core", "private_key.pem"),
        "UAA_CA_ROOT": paths.config("core", "certificates", "uaa_ca.pem"),
        "_REDIS_URL_CORE": r.url(0),
    }
    if r.harbor_db is not None:
        env["_REDIS_URL_HARBOR"] = r.url(r.harbor_db)
    env.update({
        "_REDIS_URL_REG": r.url(r.registry_db),
        "LOG_LEVEL": s["log.level"],
        "EXT_ENDPOINT": ctx.public_url(s),
        "DATABASE_TYPE": "postgresql",
        **ctx.database_env(db, "POSTGRESQL_", "DATABASE"),
        "REGISTRY_URL": urls["registry_url"], "PORTAL_URL": urls["portal_url"],
        "TOKEN_SERVICE_URL": urls["token_service_url"],
        "HARBOR_ADMIN_PASSWORD": s["harbor_admin_password"],
        "MAX_JOB_WORKERS": s["jobservice.max_job_workers"],
        "CORE_SECRET": keys.core_secret, "JOBSERVICE_SECRET": keys.jobservice_secret,
        "WITH_TRIVY": ctx.python_bool(s["with_trivy"]),
        "CORE_URL": urls["core_url"], "CORE_LOCAL_URL": urls["core_local_url"],
        "JOBSERVICE_URL": urls["jobservice_url"], "TRIVY_ADAPTER_URL": urls["trivy_adapter_url"],
        "REGISTRY_STORAGE_PROVIDER_NAME": s.storage_provider,
        "READ_ONLY": "false",
        "RELOAD_KEY": "",
        "REGISTRY_CONTROLLER_URL": urls["registry_controller_url"],
        "REGISTRY_CREDENTIAL_USERNAME": "harbor_registry_user",
        "REGISTRY_CREDENTIAL_PASSWORD": keys.registry_password,
        "CSRF_KEY": keys.csrf_key,
        "ROBOT_SCANNER_NAME_PREFIX": keys.robot_prefix,
        "PERMITTED_REGISTRY_TYPES_FOR_PROXY_CACHE": "docker-hub,harbor,azure-acr,ali-acr,aws-ecr,"
        "google-gcr,docker-registry,github-ghcr,jfrog-artifactory",
        "REPLICATION_ADAPTER_WHITELIST": "ali-acr,aws-ecr,azure-acr,docker-hub,docker-registry,"
        "github-ghcr,google-gcr,harbor,huawei-SWR,jfrog-artifactory,tencent-tcr,volcengine-cr",
    })
    env.update(ctx.proxy_env(s, "core"))
    if itls:
        env.update({
            "PORT": 8443, "INTERNAL_TLS_ENABLED": "true",
            "INTERNAL_TLS_KEY_PATH": paths.secret("tls", "core.key"),
            "INTERNAL_TLS_CERT_PATH": paths.secret("tls", "core.crt"),
            "INTERNAL_TLS_TRUST_CA_PATH": paths.config("shared", "trust-certificates",
                                                       "harbor_internal_ca.crt"),
        })
    else:
        env["PORT"] = 8080
    if s.on("metric"):
        env.update({"METRIC_ENABLE": "true", "METRIC_PATH": s["metric.path"],
                    "METRIC_PORT": s["metric.port"], "METRIC_NAMESPACE": "harbor",
                    "METRIC_SUBSYSTEM": "core"})
    env.update(ctx.trace_env(s, "harbor-core"))
    env.update(ctx.cache_env(s, r, with_core_url=False))
    env["QUOTA_UPDATE_PROVIDER"] = s["core.quota_update_provider"]
    overwrite = config_overwrite(s)
    if overwrite is not None:
        env["CONFIG_OVERWRITE_JSON"] = json.dumps(overwrite, sort_keys=True,
                                                  separators=(",", ":"))

    out = [
        env_file("config/core/env", env),
        template_file("config/core/app.conf", "core-app.conf.j2", httpport=8443 if itls else 8080),
        File("secret/keys/secretkey", keys.secretkey.encode(), 0o600),
        File("secret/core/private_key.pem", keys.token_key, 0o600),
    ]
    if s["uaa.ca_file"]:
        out.append(File("config/core/certificates/uaa_ca.pem", s.input_files["uaa.ca_file"],
                        0o644))
    return out
