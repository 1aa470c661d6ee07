"""trivy-adapter: trivy-adapter/env, only with HARBOR_WITH_TRIVY."""

from .. import context as ctx
from ..files import env_file


def files(s, keys, paths):
    if not s["with_trivy"]:
        return []
    r = ctx.redis(s)
    url = r.url(r.trivy_db)
    b = ctx.python_bool
    env = {
        "SCANNER_LOG_LEVEL": s["log.level"],
        "SCANNER_REDIS_URL": url, "SCANNER_STORE_REDIS_URL": url,
        "SCANNER_STORE_REDIS_NAMESPACE": "harbor.scanner.trivy:store",
        "SCANNER_JOB_QUEUE_REDIS_URL": url,
        "SCANNER_JOB_QUEUE_REDIS_NAMESPACE": "harbor.scanner.trivy:job-queue",
        "SCANNER_TRIVY_CACHE_DIR": "/home/scanner/.cache/trivy",
        "SCANNER_TRIVY_REPORTS_DIR": "/home/scanner/.cache/reports",
        "SCANNER_TRIVY_VULN_TYPE": "os,library",
        "SCANNER_TRIVY_SEVERITY": "UNKNOWN,LOW,MEDIUM,HIGH,CRITICAL",
        "SCANNER_TRIVY_IGNORE_UNFIXED": b(s["trivy.ignore_unfixed"]),
        "SCANNER_TRIVY_SKIP_UPDATE": b(s["trivy.skip_update"]),
        "SCANNER_TRIVY_SKIP_JAVA_DB_UPDATE": b(s["trivy.skip_java_db_update"]),
        "SCANNER_TRIVY_DB_REPOSITORY": s["trivy.db_repository"],
        "SCANNER_TRIVY_JAVA_DB_REPOSITORY": s["trivy.java_db_repository"],
        "SCANNER_TRIVY_OFFLINE_SCAN": b(s["trivy.offline_scan"]),
        "SCANNER_TRIVY_SECURITY_CHECKS": s["trivy.security_check"],
        "SCANNER_TRIVY_GITHUB_TOKEN": s["trivy.github_token"] or "",
        "SCANNER_TRIVY_INSECURE": b(s["trivy.insecure"]),
        "SCANNER_TRIVY_TIMEOUT": s["trivy.timeout"],
    }
    env.update(ctx.proxy_env(s, "trivy"))
    if s.on("internal_tls"):
        env.update({"SCANNER_API_SERVER_ADDR": ":8443",
                    "SCANNER_API_SERVER_TLS_KEY": paths.secret("tls", "trivy_adapter.key"),
                    "SCANNER_API_SERVER_TLS_CERTIFICATE": paths.secret("tls", "trivy_adapter.crt")})
    return [env_file("config/trivy-adapter/env", env)]
