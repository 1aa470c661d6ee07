"""harbor-jobservice: jobservice/config.yml and jobservice/env."""

from .. import context as ctx
from ..files import env_file, yaml_file


def files(s, keys, paths):
    itls = s.on("internal_tls")
    urls = ctx.service_urls(itls)
    r = ctx.redis(s)
    level = s["log.level"].upper()
    config = {"protocol": "https" if itls else "http"}
    if itls:
        config["https_config"] = {"cert": paths.secret("tls", "job_service.crt"),
                                  "key": paths.secret("tls", "job_service.key")}
    config["port"] = 8443 if itls else 8080
    config["worker_pool"] = {
        "workers": s["jobservice.max_job_workers"], "backend": "redis",
        "redis_pool": {"redis_url": r.url(r.jobservice_db),
                       "namespace": "harbor_job_service_namespace", "idle_timeout_second": 3600},
    }
    sweep_days = s["jobservice.logger_sweeper_duration"]
    loggers = []
    for name in dict.fromkeys(s["jobservice.job_loggers"]):
        logger = {"name": name, "level": level}
        if name == "FILE":
            logger["settings"] = {"base_dir": "/var/log/jobs"}
            logger["sweeper"] = {"duration": sweep_days, "settings": {"work_dir": "/var/log/jobs"}}
        elif name == "DB":
            logger["sweeper"] = {"duration": sweep_days}
        loggers.append(logger)
    config["job_loggers"] = loggers
    config["loggers"] = [{"name": "STD_OUTPUT", "level": level}]
    if s.on("metric"):
        config["metric"] = {"enabled": True, "path": s["metric.path"], "port": s["metric.port"]}
    config["reaper"] = {"max_update_hours": max(24, s["jobservice.max_job_duration_hours"]),
                        "max_dangling_hours": 168}
    config["max_retrieve_size_mb"] = 10

    env = {
        "CORE_SECRET": keys.core_secret, "REGISTRY_URL": urls["registry_url"],
        "JOBSERVICE_SECRET": keys.jobservice_secret, "CORE_URL": urls["core_url"],
        "REGISTRY_CONTROLLER_URL": urls["registry_controller_url"],
        "JOBSERVICE_WEBHOOK_JOB_MAX_RETRY": s["notification.webhook_job_max_retry"],
        "JOBSERVICE_WEBHOOK_JOB_HTTP_CLIENT_TIMEOUT":
            s["notification.webhook_job_http_client_timeout"],
        "LOG_LEVEL": s["log.level"],
    }
    if itls:
        env.update({
            "INTERNAL_TLS_ENABLED": "true",
            "INTERNAL_TLS_TRUST_CA_PATH": paths.config("shared", "trust-certificates",
                                                       "harbor_internal_ca.crt"),
            "INTERNAL_TLS_KEY_PATH": paths.secret("tls", "job_service.key"),
            "INTERNAL_TLS_CERT_PATH": paths.secret("tls", "job_service.crt"),
        })
    env.update(ctx.proxy_env(s, "jobservice"))
    env.update({"REGISTRY_CREDENTIAL_USERNAME": "harbor_registry_user",
                "REGISTRY_CREDENTIAL_PASSWORD": keys.registry_password})
    if s.on("metric"):
        env.update({"METRIC_NAMESPACE": "harbor", "METRIC_SUBSYSTEM": "jobservice"})
    env.update(ctx.trace_env(s, "harbor-jobservice"))
    env.update(ctx.cache_env(s, r, with_core_url=True))
    return [yaml_file("config/jobservice/config.yml", config),
            env_file("config/jobservice/env", env)]
