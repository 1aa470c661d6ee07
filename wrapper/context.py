"""Values derived from settings that several components share (URLs, database, Redis, proxy)."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote

HARBOR_UID = 10000
DB_UID = 999  # PostgreSQL and Valkey

# Hosts that never go through the outbound proxy (upstream's internal set).
_INTERNAL_HOSTS = ("127.0.0.1", "localhost", ".local", ".internal", "log", "db", "redis", "nginx",
                   "core", "portal", "postgresql", "jobservice", "registry", "registryctl",
                   "trivy-adapter", "exporter")


@dataclass(frozen=True)
class Paths:
    """Where consumers find things: the output folder as every container mounts it."""
    out: str

    def config(self, *parts: str) -> str:
        return "/".join((self.out, "config") + parts)

    def secret(self, *parts: str) -> str:
        return "/".join((self.out, "secret") + parts)


def public_url(s) -> str:
    if s["external_url"]:
        return s["external_url"]
    host = s["hostname"]
    if ":" in host:  # an IPv6 address: bracketed in URLs
        host = f"[{host}]"
    if s.https:
        port = s["https.port"]
        return f"https://{host}" + ("" if port == 443 else f":{port}")
    port = s["http.port"]
    return f"http://{host}" + ("" if port == 80 else f":{port}")


def service_urls(internal_tls: bool) -> dict[str, str]:
    if internal_tls:
        return {
            "core_url": "https://core:8443", "core_local_url": "https://core:8443",
            "portal_url": "https://portal:8443", "registry_url": "https://registry:5443",
            "registry_controller_url": "https://registryctl:8443",
            "jobservice_url": "https://jobservice:8443",
            "token_service_url": "https://core:8443/service/token",
            "trivy_adapter_url": "https://trivy-adapter:8443",
        }
    return {
        "core_url": "http://core:8080", "core_local_url": "http://127.0.0.1:8080",
        "portal_url": "http://portal:8080", "registry_url": "http://registry:5000",
        "registry_controller_url": "http://registryctl:8080",
        "jobservice_url": "http://jobservice:8080",
        "token_service_url": "http://core:8080/service/token",
        "trivy_adapter_url": "http://trivy-adapter:8080",
    }


def database(s, keys) -> dict[str, object]:
    if s.on("external_database"):
        p = "external_database.harbor."
        return {
            "host": s[p + "host"], "port": s[p + "port"], "name": s[p + "db_name"],
            "username": s[p + "username"], "password": s[p + "password"] or "",
            "sslmode": s[p + "ssl_mode"],
            "max_idle_conns": s[p + "max_idle_conns"] or 2,
            "max_open_conns": s[p + "max_open_conns"] or 0,
            "conn_max_lifetime": s[p + "conn_max_lifetime"] or "5m",
            "conn_max_idle_time": s[p + "conn_max_idle_time"] or "0",
        }
    return {
        "host": "postgresql", "port": 5432, "name": "registry", "username": "postgres",
        "password": keys.database_password, "sslmode": "disable",
        # upstream: 0 or unset falls back to 2 idle and 0 (unlimited) open connections
        "max_idle_conns": s["database.max_idle_conns"] or 2,
        "max_open_conns": s["database.max_open_conns"] or 0,
        "conn_max_lifetime": s["database.conn_max_lifetime"] or "5m",
        "conn_max_idle_time": s["database.conn_max_idle_time"] or "0",
    }


def database_env(db: dict, prefix: str, name_variable: str) -> dict[str, object]:
    """The connection settings as core (POSTGRESQL_*) and the exporter (HARBOR_DATABASE_*)
    read them; they differ only in prefix and in the name of the database variable."""
    return {
        f"{prefix}HOST": db["host"], f"{prefix}PORT": db["port"],
        f"{prefix}USERNAME": db["username"], f"{prefix}PASSWORD": db["password"],
        f"{prefix}{name_variable}": db["name"], f"{prefix}SSLMODE": db["sslmode"],
        f"{prefix}MAX_IDLE_CONNS": db["max_idle_conns"],
        f"{prefix}MAX_OPEN_CONNS": db["max_open_conns"],
        f"{prefix}CONN_MAX_LIFETIME": db["conn_max_lifetime"],
        f"{prefix}CONN_MAX_IDLE_TIME": db["conn_max_idle_time"],
    }


@dataclass(frozen=True)
class Redis:
    host: str
    password: str
    username: str
    sentinel_master_set: str
    tls: bool
    idle_timeout_seconds: int
    registry_db: int
    jobservice_db: int
    trivy_db: int
    harbor_db: int | None
    cache_layer_db: int | None

    @property
    def scheme(self) -> str:
        return ("rediss" if self.tls else "redis") + ("+sentinel" if self.sentinel_master_set else "")

    def url(self, db: int | None) -> str:
        """Harbor's grammar: raw user, percent-encoded password, no path for db 0."""
        auth = f"{self.username}:{quote(self.password, safe='')}@" if self.password else ""
        sentinel = f"/{self.sentinel_master_set}" if self.sentinel_master_set else ""
        db_part = f"/{db}" if db else ""
        return (f"{self.scheme}://{auth}{self.host}{sentinel}{db_part}"
                f"?idle_timeout_seconds={self.idle_timeout_seconds}")


def redis(s) -> Redis:
    if s.on("external_redis"):
        p = "external_redis."
        return Redis(
            host=s[p + "host"], password=s[p + "password"] or "", username=s[p + "username"] or "",
            sentinel_master_set=s[p + "sentinel_master_set"] or "",
            tls=bool(s[p + "tlsOptions.enable"]), idle_timeout_seconds=s[p + "idle_timeout_seconds"],
            registry_db=s[p + "registry_db_index"], jobservice_db=s[p + "jobservice_db_index"],
            trivy_db=s[p + "trivy_db_index"], harbor_db=s[p + "harbor_db_index"],
            cache_layer_db=s[p + "cache_layer_db_index"])
    return Redis(
        host="redis:6379", password="", username="", sentinel_master_set="", tls=False,
        idle_timeout_seconds=30, registry_db=s["redis.registry_db_index"],
        jobservice_db=s["redis.jobservice_db_index"], trivy_db=s["redis.trivy_db_index"],
        harbor_db=s["redis.harbor_db_index"], cache_layer_db=s["redis.cache_layer_db_index"])


def proxy_env(s, component: str) -> dict[str, str]:
    """As upstream: the proxy URLs and NO_PROXY only for the components in proxy.components,
    empty values for the others."""
    if component not in s["proxy.components"]:
        return {"HTTP_PROXY": "", "HTTPS_PROXY": "", "NO_PROXY": ""}
    no_proxy = sorted(set(_INTERNAL_HOSTS) | {h.strip() for h in s["proxy.no_proxy"] if h.strip()})
    return {
        "HTTP_PROXY": s["proxy.http_proxy"] or "",
        "HTTPS_PROXY": s["proxy.https_proxy"] or "",
        "NO_PROXY": ",".join(no_proxy),
    }


def trace_env(s, service_name: str) -> dict[str, str]:
    import json

    if not s.on("trace"):
        return {}
    env = {
        "TRACE_ENABLED": "true", "TRACE_SERVICE_NAME": service_name,
        "TRACE_SAMPLE_RATE": _number(s["trace.sample_rate"]),
        "TRACE_NAMESPACE": s["trace.namespace"] or "",
        "TRACE_ATTRIBUTES": json.dumps(s["trace.attributes"]),
    }
    if any(s.sources[k] != "default" for k in s.values if k.startswith("trace.jaeger.")):
        env.update({
            "TRACE_JAEGER_ENDPOINT": s["trace.jaeger.endpoint"] or "",
            "TRACE_JAEGER_USERNAME": s["trace.jaeger.username"] or "",
            "TRACE_JAEGER_PASSWORD": s["trace.jaeger.password"] or "",
            "TRACE_JAEGER_AGENT_HOSTNAME": s["trace.jaeger.agent_host"] or "",
            "TRACE_JAEGER_AGENT_PORT": str(s["trace.jaeger.agent_port"] or ""),
        })
    else:
        env.update({
            "TRACE_OTEL_ENDPOINT": s["trace.otel.endpoint"] or "",
            "TRACE_OTEL_URL_PATH": s["trace.otel.url_path"] or "",
            "TRACE_OTEL_COMPRESSION": python_bool(s["trace.otel.compression"]),
            "TRACE_OTEL_TIMEOUT": str(s["trace.otel.timeout"]),
            "TRACE_OTEL_INSECURE": python_bool(s["trace.otel.insecure"]),
        })
    return env


def cache_env(s, r: Redis, with_core_url: bool) -> dict[str, str]:
    if not s["cache.enabled"]:
        return {}
    env = {"_REDIS_URL_CORE": r.url(0)} if with_core_url else {}
    if r.cache_layer_db is not None:
        env["_REDIS_URL_CACHE_LAYER"] = r.url(r.cache_layer_db)
    env.update({"CACHE_ENABLED": "true", "CACHE_EXPIRE_HOURS": str(s["cache.expire_hours"])})
    return env


def python_bool(value: bool) -> str:
    """Upstream renders these flags with Python's str(): True / False."""
    return "True" if value else "False"


def _number(value) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def registry_log_level(level: str) -> str:
    return "warn" if level == "warning" else level
