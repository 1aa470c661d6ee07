"""The distribution registry: registry/config.yml, the htpasswd file and root.crt."""

from .. import context as ctx
from ..files import File, yaml_file


def storage(s, paths) -> dict:
    provider = s.storage_provider
    options = s.provider_settings(provider)
    if provider == "filesystem":
        options.setdefault("rootdirectory", "/storage")
    if provider == "gcs" and options.get("keyfile"):
        options["keyfile"] = paths.secret("registry", "gcs.key")
    section = {"cache": {"layerinfo": "redis"}, provider: options}
    purge = {"enabled": bool(s["upload_purging.enabled"])}
    if purge["enabled"]:
        purge.update({"age": s["upload_purging.age"], "interval": s["upload_purging.interval"],
                      "dryrun": bool(s["upload_purging.dryrun"])})
    section["maintenance"] = {"uploadpurging": purge}
    section["delete"] = {"enabled": True}
    if s["storage_service.redirect.disable"]:
        section["redirect"] = {"disable": True}
    return section


def files(s, keys, paths):
    itls = s.on("internal_tls")
    r = ctx.redis(s)
    redis = {"addr": r.host}
    if r.sentinel_master_set:
        redis["sentinelMasterSet"] = r.sentinel_master_set
    redis.update({"readtimeout": "10s", "writetimeout": "10s", "dialtimeout": "10s",
                  "password": r.password, "username": r.username, "db": r.registry_db,
                  # a boolean, under the lower-case key the registry build reads
                  # (goharbor/distribution release/2.8: `yaml:"enabletls"`; yaml.v2 matches
                  # keys exactly, so upstream's `enableTLS` is never read)
                  "enabletls": r.tls,
                  "pool": {"maxidle": 100, "maxactive": 500, "idletimeout": "60s"}})
    http = {"addr": ":5443" if itls else ":5000"}
    if itls:
        http["tls"] = {"certificate": paths.secret("tls", "registry.crt"),
                       "key": paths.secret("tls", "registry.key"), "minimumtls": "tls1.2"}
    # upstream writes the constant "placeholder", which breaks several registry replicas
    http["secret"] = keys.registry_http_secret
    if s.on("metric"):
        http["debug"] = {"addr": f":{s['metric.port']}",
                         "prometheus": {"enabled": True, "path": s["metric.path"]}}
    else:
        http["debug"] = {"addr": "localhost:5001"}
    config = {
        "version": 0.1,
        "log": {"level": ctx.registry_log_level(s["log.level"]), "fields": {"service": "registry"}},
        "storage": storage(s, paths),
        "redis": redis,
        "http": http,
        "auth": {"htpasswd": {"realm": "harbor-registry-basic-realm",
                              "path": paths.config("registry", "passwd")}},
        "validation": {"disabled": True},
        "compatibility": {"schema1": {"enabled": True}},
    }
    out = [
        yaml_file("config/registry/config.yml", config),
        File("config/registry/passwd", keys.registry_htpasswd.encode(), 0o644),
        File("secret/registry/root.crt", keys.token_cert, 0o600),
    ]
    if s.storage_provider == "gcs" and s["storage_service.gcs.keyfile"]:
        out.append(File("secret/registry/gcs.key", s.input_files["storage_service.gcs.keyfile"],
                        0o600))
    return out
