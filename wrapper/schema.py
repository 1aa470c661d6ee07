"""The one declarative table of settings.

Every key of Harbor v2.15.2's harbor.yml has a row here, plus a few additions of ours.
Validation, the README's variable table, `show` and `check` are all derived from it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

# Value kinds. Each maps to a parser in settings.parse and to an "accepted" text.
STR, INT, BOOL, LIST, JSON, FLOAT, PORT, PATH, DIR, ENUM = (
    "str", "int", "bool", "list", "json", "float", "port", "path", "dir", "enum",
)
# Strings with a grammar, checked in validation.py before they reach any file.
HOST, URL, SIZE, DURATION, URLPATH = "host", "url", "size", "duration", "urlpath"
INT_RANGE = (-(2 ** 31), 2 ** 31 - 1)  # what Harbor's Go int fields and YAML readers take

ACCEPTED = {
    STR: "a string",
    INT: "a whole number",
    BOOL: "true, false, 1, 0, yes or no",
    LIST: "a comma-separated list",
    JSON: "a JSON object",
    FLOAT: "a number",
    PORT: "a port number from 1 to 65535",
    PATH: "the path of a readable file",
    DIR: "the path of a readable folder",
    HOST: "a DNS name or IP address",
    URL: "an http(s):// URL",
    SIZE: "a size such as 200M (a whole number, optionally followed by k, M or G)",
    DURATION: "a Go duration such as 5m, 1h30m or 0",
    URLPATH: "a path starting with / made of letters, digits and . _ ~ - /",
}


@dataclass(frozen=True)
class Setting:
    key: str                      # path in harbor.yml, e.g. "database.max_idle_conns"
    kind: str
    default: Any = None           # None: unset
    doc: str = ""
    secret: bool = False          # masked everywhere, accepts NAME_FILE
    choices: tuple = ()           # for ENUM, and allowed items for LIST
    addition: bool = False        # not a harbor.yml key: one of ours
    no_effect: bool = False       # accepted for compatibility, changes nothing here
    minimum: float | None = None  # for INT and FLOAT (INT: INT_RANGE when unset)
    maximum: float | None = None
    core: bool = False            # a user setting of core: written into CONFIG_OVERWRITE_JSON
    nonempty: bool = False        # an empty value is refused (core's NonEmptyStringType)
    env_name: str = field(init=False, default="")

    def __post_init__(self):
        object.__setattr__(self, "env_name", env_name_for(self.key))

    @property
    def block(self) -> str | None:
        return block_of(self.key)

    @property
    def accepted(self) -> str:
        if self.kind == ENUM:
            return "one of " + ", ".join(self.choices)
        if self.kind == LIST and self.choices:
            return "a comma-separated list of " + ", ".join(self.choices)
        if self.kind == LIST:
            return "a comma-separated list of names without spaces"
        if self.kind in (INT, FLOAT) and (self.minimum, self.maximum) != (None, None):
            noun = "a whole number" if self.kind == INT else "a number"
            if self.maximum is None:
                return f"{noun}, {_num(self.minimum)} or more"
            return f"{noun} from {_num(self.minimum)} to {_num(self.maximum)}"
        return ACCEPTED[self.kind]

    @property
    def bounds(self) -> tuple:
        low, high = (INT_RANGE if self.kind == INT else (None, None))
        return (low if self.minimum is None else self.minimum,
                high if self.maximum is None else self.maximum)


def _num(value) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def _snake(part: str) -> str:
    """camelCase and snake_case harbor.yml keys to UPPER_SNAKE (tlsOptions -> TLS_OPTIONS)."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", part).upper()


def env_name_for(key: str) -> str:
    name = "_".join(_snake(p) for p in key.split("."))
    return name if name.startswith("HARBOR_") else "HARBOR_" + name


# Blocks that harbor.yml switches on by being present. A block is on when any of its
# variables is set. Longest prefix first, so that nested blocks win.
BLOCKS = (
    "external_database",
    "external_redis",
    "storage_service.filesystem",
    "storage_service.azure",
    "storage_service.gcs",
    "storage_service.s3",
    "storage_service.swift",
    "storage_service.oss",
    "log.external_endpoint",
    "metric",
    "trace",
    "internal_tls",
    "acme",
)
STORAGE_PROVIDERS = ("filesystem", "azure", "gcs", "s3", "swift", "oss")


def block_of(key: str) -> str | None:
    for block in BLOCKS:
        if key == block or key.startswith(block + "."):
            return block
    return None


S = Setting
_LEVELS = ("debug", "info", "warning", "error", "fatal")

SETTINGS: tuple[Setting, ...] = (
    # --- host, ports, URL -------------------------------------------------------------
    S("hostname", HOST, None, "Host name or IP address clients use to reach Harbor (required)."),
    S("protocol", ENUM, "https", "Serve https (default) or plain http.", choices=("https", "http"),
      addition=True),
    S("http.port", PORT, 80, "Published http port."),
    S("https.port", PORT, 443, "Published https port."),
    S("https.certificate", PATH, None,
      "PEM server certificate (chain) file. Unset: the wrapper makes its own CA and certificate."),
    S("https.private_key", PATH, None, "PEM private key file of that certificate."),
    S("https.strong_ssl_ciphers", BOOL, False, "Use the strong TLS cipher list in nginx."),
    S("https.cert_validity_days", INT, 397,
      "Validity of the server and internal TLS certificates the wrapper makes itself (days); "
      "its CAs keep at least 3650. They are re-issued under the same CA when they expire "
      "within HARBOR_CERT_WARNING_DAYS (by `generate`, and by the `renew` service without a "
      "restart). The default 397 is what clients accept: Apple platforms refuse any TLS "
      "server certificate valid for more than 825 days, even from a CA trusted by hand, and "
      "publicly trusted ones beyond 398 days, as do Chrome, Safari and Firefox. Ask for "
      "more only for clients without such limits.", addition=True,
      minimum=1, maximum=36500),
    S("cert_warning_days", INT, 30,
      "Days before a certificate expires from which `generate` warns and re-issues its own "
      "ones, and `status` exits non-zero.", addition=True, minimum=0, maximum=36500),
    S("renew_interval", INT, 3600,
      "Seconds between two rounds of the `renew` service: each re-issues the certificates "
      "the wrapper made that expire within HARBOR_CERT_WARNING_DAYS, renews the ACME "
      "certificate, and publishes a new generation that the proxy reloads.", addition=True,
      minimum=5, maximum=86400),
    S("acme.email", STR, None,
      "ACME: the e-mail address of the account (the ACME server's expiry notices). Setting "
      "any HARBOR_ACME_* variable has the `renew` service obtain the server certificate from "
      "the ACME server over HTTP-01 on HARBOR_HTTP_PORT (which must be reachable from it "
      "as port 80 under HARBOR_HOSTNAME) and renew it; until then the wrapper's own "
      "certificate is served.", addition=True),
    S("acme.directory", URL, "https://acme-v02.api.letsencrypt.org/directory",
      "ACME: the directory URL of the ACME server (default: Let's Encrypt's production one).",
      addition=True),
    S("acme.ca_file", STR, None,
      "ACME: path of a PEM file of the CA that signs a private ACME server's own https "
      "certificate (not needed for Let's Encrypt); read when the certificate is ordered, so "
      "that on Swarm, where Traefik uses it, the wrapper needs no copy.", addition=True),
    S("acme.challenge", ENUM, "http-01",
      "ACME: the challenge answered (HTTP-01: the proxy serves /.well-known/acme-challenge/ "
      "on its http port).", choices=("http-01",), addition=True),
    S("external_url", URL, None,
      "Public URL when Harbor sits behind an outer proxy, e.g. https://reg.example.com."),
    S("nginx_resolver", STR, None,
      "DNS server the proxy's nginx asks for Harbor's services while it runs, so that replaced "
      "containers and tasks are followed (Docker's: 127.0.0.11). Unset: resolved once at "
      "start, as upstream.", addition=True),
    S("ip_family.ipv4.enabled", BOOL, True, "Listen on IPv4 (https listeners)."),
    S("ip_family.ipv6.enabled", BOOL, False, "Listen on IPv6 (https listeners)."),
    S("harbor_admin_password", STR, "Harbor12345",
      "Initial admin password, used at core's first start only.", secret=True),
    S("data_volume", STR, None,
      "Host folder holding Harbor's data in upstream's layout (database/, registry/, redis/, "
      "job_logs/, secret/, and the wrapper's harbor-setup/), for compose with "
      "compose/docker-compose.hostdata.yml; an official install's data_volume moves in as it "
      "is. Unset: Docker named volumes. Takes effect as a variable only (compose mounts it)."),
    S("_version", STR, "2.15.0", "harbor.yml schema version.", no_effect=True),
    S("with_trivy", BOOL, False, "Run the Trivy scanner (upstream's --with-trivy).", addition=True),
    # --- secrets made once, which a user may also bring ---------------------------------
    S("secret_key", STR, None,
      "16-character key that encrypts secrets in the database. Unset: made once.",
      secret=True, addition=True),
    S("core_secret", STR, None, "Secret shared by core, jobservice and registryctl. Unset: made once.",
      secret=True, addition=True),
    S("jobservice_secret", STR, None, "Jobservice secret. Unset: made once.", secret=True,
      addition=True),
    S("csrf_key", STR, None, "32-character CSRF key. Unset: made once.", secret=True, addition=True),
    S("registry_http_secret", STR, None,
      "Registry http.secret, equal on every registry replica. Unset: made once.",
      secret=True, addition=True),
    # --- database -----------------------------------------------------------------------
    S("database.password", STR, None,
      "Password of the internal PostgreSQL. Unset: a random one, made once.", secret=True),
    S("database.max_idle_conns", INT, 100, "Idle connections kept in the pool.", minimum=0),
    S("database.max_open_conns", INT, 900, "Maximum open connections (0: unlimited).", minimum=0),
    S("database.conn_max_lifetime", DURATION, "5m",
      "Maximum lifetime of a connection (Go duration)."),
    S("database.conn_max_idle_time", DURATION, "0",
      "Maximum idle time of a connection (Go duration)."),
    S("database.upgrade_snapshot", BOOL, True,
      "Before the database image upgrades PostgreSQL (a pg15 cluster and no pg18), init-data "
      "copies the old cluster beside it (snapshot-pg15, refused when the volume lacks room for "
      "it and the upgrade); the postgresql service, which reads this too, does not upgrade "
      "before. `rollback` puts it back (README: Day 2, upgrade and rollback).",
      addition=True),
    S("external_database.harbor.host", HOST, None, "External PostgreSQL host."),
    S("external_database.harbor.port", PORT, 5432, "External PostgreSQL port."),
    S("external_database.harbor.db_name", STR, "registry", "External database name."),
    S("external_database.harbor.username", STR, "postgres", "External database user."),
    S("external_database.harbor.password", STR, None, "External database password.", secret=True),
    S("external_database.harbor.ssl_mode", ENUM, "disable", "libpq sslmode.",
      choices=("disable", "require", "verify-ca", "verify-full")),
    S("external_database.harbor.max_idle_conns", INT, 2, "Idle connections kept in the pool.",
      minimum=0),
    S("external_database.harbor.max_open_conns", INT, 0, "Maximum open connections.", minimum=0),
    S("external_database.harbor.conn_max_lifetime", DURATION, "5m", "Connection lifetime."),
    S("external_database.harbor.conn_max_idle_time", DURATION, "0", "Connection idle time."),
    # --- redis --------------------------------------------------------------------------
    S("redis.registry_db_index", INT, 1, "Internal Redis DB index of the registry.", minimum=0),
    S("redis.jobservice_db_index", INT, 2, "Internal Redis DB index of jobservice.", minimum=0),
    S("redis.trivy_db_index", INT, 5, "Internal Redis DB index of Trivy.", minimum=0),
    S("redis.harbor_db_index", INT, None, "Internal Redis DB index for Harbor's own data.",
      minimum=0),
    S("redis.cache_layer_db_index", INT, None, "Internal Redis DB index of the cache layer.",
      minimum=0),
    S("external_redis.host", STR, "redis:6379",
      "External Redis host:port, or sentinel hosts h1:p1,h2:p2."),
    S("external_redis.password", STR, None, "External Redis password.", secret=True),
    S("external_redis.username", STR, None, "External Redis user name (ACL)."),
    S("external_redis.sentinel_master_set", STR, None, "Sentinel master set name."),
    S("external_redis.tlsOptions.enable", BOOL, False, "Connect to Redis over TLS."),
    S("external_redis.tlsOptions.rootCA", PATH, None, "CA file that signed the Redis certificate."),
    S("external_redis.registry_db_index", INT, 1, "Redis DB index of the registry.", minimum=0),
    S("external_redis.jobservice_db_index", INT, 2, "Redis DB index of jobservice.", minimum=0),
    S("external_redis.trivy_db_index", INT, 5, "Redis DB index of Trivy.", minimum=0),
    S("external_redis.idle_timeout_seconds", INT, 30, "Idle timeout of Redis connections.",
      minimum=0),
    S("external_redis.harbor_db_index", INT, None, "Redis DB index for Harbor's own data.",
      minimum=0),
    S("external_redis.cache_layer_db_index", INT, None, "Redis DB index of the cache layer.",
      minimum=0),
    # --- storage ------------------------------------------------------------------------
    S("storage_service.ca_bundle", PATH, None, "CA bundle the registry trusts for its storage."),
    S("storage_service.redirect.disable", BOOL, False, "Disable redirects to the storage backend."),
    S("storage_service.filesystem.rootdirectory", STR, "/storage", "Filesystem root directory."),
    S("storage_service.filesystem.maxthreads", INT, None, "Filesystem driver thread limit."),
    S("storage_service.azure.accountname", STR, None, "Azure account name."),
    S("storage_service.azure.accountkey", STR, None, "Azure account key.", secret=True),
    S("storage_service.azure.container", STR, None, "Azure container."),
    S("storage_service.azure.realm", STR, None, "Azure realm, e.g. core.windows.net."),
    S("storage_service.azure.rootdirectory", STR, None, "Azure root directory."),
    S("storage_service.gcs.bucket", STR, None, "GCS bucket."),
    S("storage_service.gcs.keyfile", PATH, None, "GCS service account JSON key file."),
    S("storage_service.gcs.rootdirectory", STR, None, "GCS root directory."),
    S("storage_service.gcs.chunksize", INT, None, "GCS upload chunk size (bytes)."),
    S("storage_service.s3.region", STR, None, "S3 region."),
    S("storage_service.s3.bucket", STR, None, "S3 bucket."),
    S("storage_service.s3.accesskey", STR, None, "S3 access key.", secret=True),
    S("storage_service.s3.secretkey", STR, None, "S3 secret key.", secret=True),
    S("storage_service.s3.sessiontoken", STR, None, "S3 session token.", secret=True),
    S("storage_service.s3.regionendpoint", STR, None, "S3-compatible endpoint URL."),
    S("storage_service.s3.forcepathstyle", BOOL, None, "Path-style bucket URLs."),
    S("storage_service.s3.accelerate", BOOL, None, "S3 transfer acceleration."),
    S("storage_service.s3.encrypt", BOOL, None, "Server-side encryption."),
    S("storage_service.s3.keyid", STR, None, "KMS key id."),
    S("storage_service.s3.secure", BOOL, None, "Use https to reach S3."),
    S("storage_service.s3.skipverify", BOOL, None, "Skip TLS verification of S3."),
    S("storage_service.s3.v4auth", BOOL, None, "AWS signature v4."),
    S("storage_service.s3.chunksize", INT, None, "Multipart chunk size (bytes)."),
    S("storage_service.s3.multipartcopychunksize", INT, None, "Multipart copy chunk size."),
    S("storage_service.s3.multipartcopymaxconcurrency", INT, None, "Multipart copy concurrency."),
    S("storage_service.s3.multipartcopythresholdsize", INT, None, "Multipart copy threshold."),
    S("storage_service.s3.rootdirectory", STR, None, "S3 root directory."),
    S("storage_service.s3.storageclass", STR, None, "S3 storage class."),
    S("storage_service.s3.useragent", STR, None, "User agent sent to S3."),
    S("storage_service.s3.usedualstack", BOOL, None, "Dual-stack S3 endpoints."),
    S("storage_service.s3.objectacl", STR, None, "Canned ACL of new objects."),
    S("storage_service.s3.loglevel", STR, None, "S3 SDK log level."),
    S("storage_service.swift.authurl", STR, None, "Swift auth URL."),
    S("storage_service.swift.username", STR, None, "Swift user."),
    S("storage_service.swift.password", STR, None, "Swift password.", secret=True),
    S("storage_service.swift.container", STR, None, "Swift container."),
    S("storage_service.swift.region", STR, None, "Swift region."),
    S("storage_service.swift.tenant", STR, None, "Swift tenant."),
    S("storage_service.swift.tenantid", STR, None, "Swift tenant id."),
    S("storage_service.swift.domain", STR, None, "Swift domain."),
    S("storage_service.swift.domainid", STR, None, "Swift domain id."),
    S("storage_service.swift.trustid", STR, None, "Swift trust id."),
    S("storage_service.swift.insecureskipverify", BOOL, None, "Skip TLS verification of Swift."),
    S("storage_service.swift.chunksize", INT, None, "Swift chunk size."),
    S("storage_service.swift.prefix", STR, None, "Swift object prefix."),
    S("storage_service.swift.secretkey", STR, None, "Swift temp URL secret key.", secret=True),
    S("storage_service.swift.accesskey", STR, None, "Swift access key.", secret=True),
    S("storage_service.swift.authversion", INT, None, "Swift auth version."),
    S("storage_service.swift.endpointtype", STR, None, "Swift endpoint type."),
    S("storage_service.oss.accesskeyid", STR, None, "OSS access key id."),
    S("storage_service.oss.accesskeysecret", STR, None, "OSS access key secret.", secret=True),
    S("storage_service.oss.region", STR, None, "OSS region."),
    S("storage_service.oss.endpoint", STR, None, "OSS endpoint."),
    S("storage_service.oss.internal", BOOL, None, "Use the OSS internal endpoint."),
    S("storage_service.oss.bucket", STR, None, "OSS bucket."),
    S("storage_service.oss.secure", BOOL, None, "Use https to reach OSS."),
    S("storage_service.oss.chunksize", INT, None, "OSS chunk size."),
    S("storage_service.oss.rootdirectory", STR, None, "OSS root directory."),
    S("storage_service.oss.encrypt", BOOL, None, "OSS server-side encryption."),
    # --- trivy --------------------------------------------------------------------------
    S("trivy.ignore_unfixed", BOOL, False, "Report only fixed vulnerabilities."),
    S("trivy.skip_update", BOOL, False, "Do not download the vulnerability DB."),
    S("trivy.skip_java_db_update", BOOL, False, "Do not download the Java index DB."),
    S("trivy.db_repository", STR, "ghcr.io/aquasecurity/trivy-db", "OCI repository of the DB."),
    S("trivy.java_db_repository", STR, "ghcr.io/aquasecurity/trivy-java-db",
      "OCI repository of the Java DB."),
    S("trivy.offline_scan", BOOL, False, "Scan without network access."),
    S("trivy.security_check", STR, "vuln", "Security checks to run."),
    S("trivy.insecure", BOOL, False, "Skip TLS verification of registries."),
    S("trivy.timeout", DURATION, "5m0s", "Scan timeout (Go duration)."),
    S("trivy.github_token", STR, None, "GitHub token for DB downloads.", secret=True),
    # --- jobservice, notification -------------------------------------------------------
    S("jobservice.max_job_workers", INT, 10, "Job workers.", minimum=1),
    S("jobservice.max_job_duration_hours", INT, 24,
      "Hours before a running job is marked failed (Harbor raises values below 24 to 24).",
      minimum=0),
    S("jobservice.job_loggers", LIST, ["STD_OUTPUT", "FILE"], "Job log backends.",
      choices=("STD_OUTPUT", "FILE", "DB")),
    S("jobservice.logger_sweeper_duration", INT, 1, "Days job logs are kept.", minimum=0),
    S("notification.webhook_job_max_retry", INT, 3, "Webhook retries.", minimum=0),
    S("notification.webhook_job_http_client_timeout", INT, 3, "Webhook timeout (seconds).",
      minimum=1),
    # --- log ----------------------------------------------------------------------------
    S("log.level", ENUM, "info", "Log level of every component.", choices=_LEVELS),
    S("log.local.rotate_count", INT, 50, "Rotated log files kept by the log container.",
      minimum=0),
    S("log.local.rotate_size", SIZE, "200M", "Size at which a log file is rotated."),
    S("log.local.location", STR, "/var/log/harbor", "Upstream host log path.", no_effect=True),
    S("log.external_endpoint.protocol", ENUM, "tcp", "Syslog protocol.", choices=("tcp", "udp")),
    S("log.external_endpoint.host", HOST, None, "Syslog server host."),
    S("log.external_endpoint.port", PORT, None, "Syslog server port."),
    # --- proxy --------------------------------------------------------------------------
    S("proxy.http_proxy", STR, None, "HTTP proxy URL for outbound traffic.", secret=True),
    S("proxy.https_proxy", STR, None, "HTTPS proxy URL for outbound traffic.", secret=True),
    S("proxy.no_proxy", LIST, [], "Extra hosts that bypass the proxy."),
    S("proxy.components", LIST, ["core", "jobservice", "trivy"], "Components that use the proxy.",
      choices=("core", "jobservice", "trivy")),
    # --- registry maintenance, cache, core ----------------------------------------------
    S("upload_purging.enabled", BOOL, True, "Purge abandoned uploads."),
    S("upload_purging.age", STR, "168h", "Age of uploads to purge (<n>h, n >= 2)."),
    S("upload_purging.interval", STR, "24h", "Purge interval (<n>h, n >= 2)."),
    S("upload_purging.dryrun", BOOL, False, "Only log what would be purged."),
    S("cache.enabled", BOOL, False, "Cache artifact and project data in Redis."),
    S("cache.expire_hours", INT, 24, "Cache expiry (hours, > 0).", minimum=1),
    S("core.quota_update_provider", ENUM, "db", "Where quota updates are made.",
      choices=("db", "redis")),
    S("uaa.ca_file", PATH, None, "CA of a UAA server core must trust."),
    S("trusted_ca_files", LIST, [],
      "PEM files of CA certificates that core, jobservice, registry and the trivy adapter "
      "trust (OIDC provider, LDAPS server, object storage, replication targets), "
      "comma-separated paths inside the wrapper container; installed through the images' "
      "/harbor_cust_cert and shown by `status`.", addition=True),
    # --- metric, trace, internal TLS (blocks with an `enabled` switch) ------------------
    S("metric.enabled", BOOL, True, "Expose Prometheus metrics (on when any HARBOR_METRIC_* is set)."),
    S("metric.port", PORT, 9090, "Metrics port."),
    S("metric.path", URLPATH, "/metrics", "Metrics path."),
    S("trace.enabled", BOOL, True, "Export traces (on when any HARBOR_TRACE_* is set)."),
    S("trace.sample_rate", FLOAT, 1, "Trace sample rate.", minimum=0, maximum=1),
    S("trace.namespace", STR, "", "Trace namespace."),
    S("trace.attributes", JSON, {}, "Extra trace attributes, a JSON object of strings."),
    S("trace.jaeger.endpoint", URL, None, "Jaeger collector endpoint."),
    S("trace.jaeger.username", STR, None, "Jaeger user."),
    S("trace.jaeger.password", STR, None, "Jaeger password.", secret=True),
    S("trace.jaeger.agent_host", HOST, None, "Jaeger agent host."),
    S("trace.jaeger.agent_port", PORT, None, "Jaeger agent port."),
    S("trace.otel.endpoint", STR, None, "OTLP endpoint host:port."),
    S("trace.otel.url_path", URLPATH, None, "OTLP URL path, e.g. /v1/traces."),
    S("trace.otel.compression", BOOL, False, "Compress OTLP traffic."),
    S("trace.otel.insecure", BOOL, False, "OTLP without TLS."),
    S("trace.otel.timeout", INT, 10, "OTLP timeout (seconds).", minimum=1),
    S("internal_tls.enabled", BOOL, True,
      "TLS between Harbor components (on when any HARBOR_INTERNAL_TLS_* is set)."),
    S("internal_tls.dir", DIR, None,
      "Folder with certificates made by `prepare gencert`. Unset: the wrapper makes them."),
    S("internal_tls.strong_ssl_ciphers", BOOL, False, "Strong cipher list (internal listeners)."),
)

# Harbor's user settings (core keeps them in its database; the portal and the API change them).
# The key is core's own name, so that HARBOR_<KEY> is the variable and <key> the JSON key.
# Facts (names, types, accepted values): tests/core-config-metadata.yml.
_AUTH_MODES = ("db_auth", "ldap_auth", "uaa_auth", "http_auth", "oidc_auth")
_SCOPE = "0 (base), 1 (one level) or 2 (subtree)"
_LIMIT = 9_999_999_999  # the API refuses numbers of more than 10 digits


def _core(key, kind, doc, **kw):
    return Setting(key, kind, None, doc + " Unset: left as it is in Harbor's database.",
                   addition=True, core=True, **kw)


C = _core
USER_SETTINGS: tuple[Setting, ...] = (
    C("auth_mode", ENUM, "How users authenticate. Harbor accepts a change only while no user "
      "but admin exists; afterwards core refuses to start with a different one.",
      choices=_AUTH_MODES),
    C("primary_auth_mode", BOOL, "Show the OIDC/LDAP login as the portal's primary one."),
    C("self_registration", BOOL, "Users may sign themselves up (db_auth)."),
    C("project_creation_restriction", ENUM, "Who may create projects.",
      choices=("everyone", "adminonly")),
    C("token_expiration", INT, "Lifetime of registry tokens (minutes).", minimum=1),
    C("robot_token_duration", INT, "Default lifetime of robot account secrets (days).",
      minimum=1),
    C("robot_name_prefix", STR, "Prefix of robot account names (Harbor's default: robot$)."),
    C("session_timeout", INT, "Portal session timeout (minutes).", minimum=1, maximum=_LIMIT),
    C("read_only", BOOL, "Read-only mode: pushes and deletions are refused."),
    C("notification_enable", BOOL, "Send webhook notifications."),
    C("banner_message", STR, "Banner shown in the portal (Harbor's JSON banner text)."),
    C("audit_log_forward_endpoint", STR, "Syslog endpoint host:port audit logs are forwarded "
      "to."),
    C("skip_audit_log_database", BOOL, "Do not keep audit logs in the database (needs "
      "HARBOR_AUDIT_LOG_FORWARD_ENDPOINT)."),
    C("disabled_audit_log_event_types", STR, "Comma-separated audit log event types not "
      "logged, e.g. create_artifact,delete_artifact."),
    C("pull_audit_log_disable", BOOL, "Do not write an audit log entry per pull."),
    C("pull_time_update_disable", BOOL, "Do not record the last pull time of artifacts."),
    C("pull_count_update_disable", BOOL, "Do not count pulls."),
    C("scanner_skip_update_pulltime", BOOL, "Pulls by the scanner leave the pull time alone."),
    C("quota_per_project_enable", BOOL, "Enforce per-project storage quotas."),
    # OIDC
    C("oidc_name", STR, "OIDC provider name shown on the login page."),
    C("oidc_endpoint", URL, "OIDC provider (issuer) URL."),
    C("oidc_client_id", STR, "OIDC client id."),
    C("oidc_client_secret", STR, "OIDC client secret.", secret=True),
    C("oidc_scope", STR, "OIDC scopes, comma-separated, e.g. openid,profile,email,"
      "offline_access."),
    C("oidc_groups_claim", STR, "ID token claim holding the user's groups."),
    C("oidc_admin_group", STR, "OIDC group whose members are Harbor administrators."),
    C("oidc_group_filter", STR, "Regular expression selecting the OIDC groups Harbor keeps."),
    C("oidc_user_claim", STR, "ID token claim used as the user name."),
    C("oidc_verify_cert", BOOL, "Verify the OIDC provider's certificate (Harbor: true)."),
    C("oidc_auto_onboard", BOOL, "Create OIDC users at their first login without asking."),
    C("oidc_extra_redirect_parms", JSON, "Extra query parameters of the OIDC redirect, a JSON "
      "object of strings."),
    C("oidc_logout", BOOL, "Log out of the OIDC provider when leaving Harbor."),
    # LDAP
    C("ldap_url", STR, "LDAP server URL, e.g. ldaps://ldap.example.com.", nonempty=True),
    C("ldap_search_dn", STR, "DN that searches the directory."),
    C("ldap_search_password", STR, "Password of HARBOR_LDAP_SEARCH_DN.", secret=True),
    C("ldap_base_dn", STR, "Base DN of the user search.", nonempty=True),
    C("ldap_filter", STR, "Extra filter of the user search, e.g. (objectClass=person)."),
    C("ldap_uid", STR, "Attribute matched against the login name (Harbor: cn).",
      nonempty=True),
    C("ldap_scope", INT, f"Scope of the user search: {_SCOPE}.", minimum=0, maximum=2),
    C("ldap_timeout", INT, "Timeout of LDAP operations (seconds).", minimum=1),
    C("ldap_verify_cert", BOOL, "Verify the LDAPS server's certificate (Harbor: true); trust "
      "its CA with HARBOR_TRUSTED_CA_FILES."),
    C("ldap_group_base_dn", STR, "Base DN of the group search."),
    C("ldap_group_search_filter", STR, "Filter of the group search, e.g. "
      "(objectClass=groupOfNames)."),
    C("ldap_group_attribute_name", STR, "Attribute naming a group, e.g. cn."),
    C("ldap_group_search_scope", INT, f"Scope of the group search: {_SCOPE}.", minimum=0,
      maximum=2),
    C("ldap_group_admin_dn", STR, "DN of the LDAP group whose members are Harbor "
      "administrators."),
    C("ldap_group_membership_attribute", STR, "User attribute listing the user's groups "
      "(Harbor: memberof)."),
    C("ldap_group_attach_parallel", BOOL, "Attach LDAP groups to a user in parallel at login."),
    # UAA
    C("uaa_endpoint", STR, "UAA server, host[:port] or URL."),
    C("uaa_client_id", STR, "UAA client id."),
    C("uaa_client_secret", STR, "UAA client secret.", secret=True),
    C("uaa_verify_cert", BOOL, "Verify the UAA server's certificate."),
    # HTTP auth proxy
    C("http_authproxy_endpoint", URL, "Authentication proxy endpoint."),
    C("http_authproxy_tokenreview_endpoint", URL, "Token review endpoint."),
    C("http_authproxy_admin_groups", STR, "Comma-separated groups with admin rights."),
    C("http_authproxy_admin_usernames", STR, "Comma-separated user names with admin rights."),
    C("http_authproxy_verify_cert", BOOL, "Verify the proxy's certificate."),
    C("http_authproxy_skip_search", BOOL, "Onboard users without searching them first."),
)
SETTINGS = SETTINGS + USER_SETTINGS

BY_KEY = {s.key: s for s in SETTINGS}
BY_ENV = {s.env_name: s for s in SETTINGS}

# HARBOR_* variables that belong to the compose, stack and catalog files, not to the generator.
IGNORED_PREFIXES = ("HARBOR_SETUP_", "HARBOR_IMAGE_", "HARBOR_NFS_", "HARBOR_WRAPPER_",
                    "HARBOR_TRAEFIK_", "HARBOR_NETWORK_", "HARBOR_DATA_NODE_", "HARBOR_ENV_FILE")
IGNORED_SUFFIXES = ("_REPLICAS",)  # the stack's HARBOR_<SERVICE>_REPLICAS

# Variables the wrapper reads that are not settings of Harbor.
META_VARIABLES = {
    "HARBOR_CONFIG_FILE": "An existing harbor.yml to read; variables override its values.",
    "HARBOR_SETUP_DIR": "Output folder (default /harbor-setup); `--out` wins.",
    "HARBOR_STRICT": "true: unknown HARBOR_* variables are errors, not warnings (default false).",
    "HARBOR_IMAGE_TAG": "The Harbor version the deployment runs (compose passes its image tag, "
                        "the Rancher items their Image tag answer; default v2.15.2). The upgrade "
                        "guard compares it with the version recorded on the data.",
}
