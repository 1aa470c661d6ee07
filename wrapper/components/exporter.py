"""harbor-exporter: exporter/env, only with metrics on."""

from .. import context as ctx
from ..files import env_file


def files(s, keys, paths):
    if not s.on("metric"):
        return []
    itls = s.on("internal_tls")
    r = ctx.redis(s)
    db = ctx.database(s, keys)
    env = {
        "LOG_LEVEL": s["log.level"],
        "HARBOR_EXPORTER_PORT": 8080, "HARBOR_EXPORTER_METRICS_PATH": "/metrics",
        "HARBOR_EXPORTER_METRICS_ENABLED": "true", "HARBOR_EXPORTER_MAX_REQUESTS": 30,
        "HARBOR_EXPORTER_CACHE_TIME": 23, "HARBOR_EXPORTER_CACHE_CLEAN_INTERVAL": 14400,
        "HARBOR_METRIC_NAMESPACE": "harbor", "HARBOR_METRIC_SUBSYSTEM": "exporter",
        "HARBOR_SERVICE_HOST": "core",
        "HARBOR_REDIS_URL": r.url(r.jobservice_db),
        "HARBOR_REDIS_NAMESPACE": "harbor_job_service_namespace", "HARBOR_REDIS_TIMEOUT": 3600,
        "HARBOR_SERVICE_PORT": 8443 if itls else 8080,
        "HARBOR_SERVICE_SCHEME": "https" if itls else "http",
        **ctx.database_env(db, "HARBOR_DATABASE_", "DBNAME"),
    }
    return [env_file("config/exporter/env", env)]
