"""Reading HARBOR_* variables and harbor.yml: names, types, _FILE, blocks, validation."""

import pytest

from wrapper import schema
from wrapper.settings import FROM_FILE, FROM_VARIABLE, FROM_VARIABLE_FILE, InvalidSettings, load

BASE = {"HARBOR_HOSTNAME": "harbor.example.test"}


def errors_of(variables) -> list[str]:
    with pytest.raises(InvalidSettings) as caught:
        load(variables)
    return caught.value.errors


@pytest.mark.parametrize("key,name", [
    ("database.max_idle_conns", "HARBOR_DATABASE_MAX_IDLE_CONNS"),
    ("external_redis.sentinel_master_set", "HARBOR_EXTERNAL_REDIS_SENTINEL_MASTER_SET"),
    ("storage_service.s3.regionendpoint", "HARBOR_STORAGE_SERVICE_S3_REGIONENDPOINT"),
    ("log.external_endpoint.host", "HARBOR_LOG_EXTERNAL_ENDPOINT_HOST"),
    ("harbor_admin_password", "HARBOR_ADMIN_PASSWORD"),
    ("external_redis.tlsOptions.rootCA", "HARBOR_EXTERNAL_REDIS_TLS_OPTIONS_ROOT_CA"),
])
def test_variable_names_follow_harbor_yml_keys(key, name):
    assert schema.BY_KEY[key].env_name == name


def test_every_variable_name_is_unique():
    assert len(schema.BY_ENV) == len(schema.SETTINGS)


def test_every_harbor_yml_key_of_the_template_has_a_setting():
    template_keys = [
        "hostname", "http.port", "https.port", "https.certificate", "https.private_key",
        "https.strong_ssl_ciphers", "ip_family.ipv4.enabled", "ip_family.ipv6.enabled",
        "internal_tls.enabled", "internal_tls.dir", "external_url", "harbor_admin_password",
        "database.password", "database.max_idle_conns", "database.max_open_conns",
        "database.conn_max_lifetime", "database.conn_max_idle_time", "data_volume",
        "storage_service.ca_bundle", "storage_service.filesystem.maxthreads",
        "storage_service.redirect.disable", "trivy.ignore_unfixed", "trivy.skip_update",
        "trivy.skip_java_db_update", "trivy.db_repository", "trivy.java_db_repository",
        "trivy.offline_scan", "trivy.security_check", "trivy.insecure", "trivy.timeout",
        "trivy.github_token", "jobservice.max_job_workers", "jobservice.max_job_duration_hours",
        "jobservice.job_loggers", "jobservice.logger_sweeper_duration",
        "notification.webhook_job_max_retry", "notification.webhook_job_http_client_timeout",
        "log.level", "log.local.rotate_count", "log.local.rotate_size", "log.local.location",
        "log.external_endpoint.protocol", "log.external_endpoint.host",
        "log.external_endpoint.port", "_version", "external_database.harbor.host",
        "external_database.harbor.port", "external_database.harbor.db_name",
        "external_database.harbor.username", "external_database.harbor.password",
        "external_database.harbor.ssl_mode", "external_database.harbor.max_idle_conns",
        "external_database.harbor.max_open_conns", "redis.registry_db_index",
        "redis.jobservice_db_index", "redis.trivy_db_index", "external_redis.host",
        "external_redis.password", "external_redis.tlsOptions.enable",
        "external_redis.tlsOptions.rootCA", "external_redis.registry_db_index",
        "external_redis.jobservice_db_index", "external_redis.trivy_db_index",
        "external_redis.idle_timeout_seconds", "uaa.ca_file", "metric.enabled", "metric.port",
        "metric.path", "trace.enabled", "trace.sample_rate", "trace.jaeger.endpoint",
        "trace.otel.endpoint", "proxy.http_proxy", "proxy.https_proxy", "proxy.no_proxy",
        "proxy.components", "upload_purging.enabled", "upload_purging.age",
        "upload_purging.interval", "upload_purging.dryrun", "cache.enabled", "cache.expire_hours",
        "core.quota_update_provider"]
    assert [k for k in template_keys if k not in schema.BY_KEY] == []


def test_defaults_are_the_harbor_yml_template_ones():
    s = load(BASE)
    assert s["http.port"] == 80 and s["https.port"] == 443 and s.https
    assert s["jobservice.job_loggers"] == ["STD_OUTPUT", "FILE"]
    assert s["database.max_open_conns"] == 900
    assert s["log.level"] == "info"
    assert s["upload_purging.enabled"] is True
    assert s.storage_provider == "filesystem"
    assert not s.on("metric") and not s.on("internal_tls") and not s.on("external_redis")


@pytest.mark.parametrize("raw,expected", [
    ("true", True), ("false", False), ("1", True), ("0", False), ("yes", True), ("no", False)])
def test_booleans(raw, expected):
    assert load({**BASE, "HARBOR_CACHE_ENABLED": raw})["cache.enabled"] is expected


def test_lists_are_comma_separated_and_json_is_parsed():
    s = load({**BASE, "HARBOR_JOBSERVICE_JOB_LOGGERS": "STD_OUTPUT,DB",
              "HARBOR_TRACE_ATTRIBUTES": '{"application": "harbor"}',
              "HARBOR_TRACE_OTEL_ENDPOINT": "otel:4318", "HARBOR_TRACE_OTEL_URL_PATH": "/v1/traces"})
    assert s["jobservice.job_loggers"] == ["STD_OUTPUT", "DB"]
    assert s["trace.attributes"] == {"application": "harbor"}


def test_block_is_on_when_any_of_its_variables_is_set():
    s = load({**BASE, "HARBOR_METRIC_PORT": "9091"})
    assert s.on("metric") and s["metric.port"] == 9091
    assert not load({**BASE, "HARBOR_METRIC_ENABLED": "false"}).on("metric")
    s = load({**BASE, "HARBOR_EXTERNAL_REDIS_HOST": "cache:6380"})
    assert s.on("external_redis")
    s = load({**BASE, "HARBOR_STORAGE_SERVICE_S3_BUCKET": "b", "HARBOR_STORAGE_SERVICE_S3_REGION": "r"})
    assert s.storage_provider == "s3"


def test_secret_from_file_strips_exactly_one_trailing_newline(tmp_path):
    secret = tmp_path / "pw"
    secret.write_text("pa ss\n")
    s = load({**BASE, "HARBOR_ADMIN_PASSWORD_FILE": str(secret)})
    assert s["harbor_admin_password"] == "pa ss"
    assert s.sources["harbor_admin_password"] == FROM_VARIABLE_FILE


def test_a_secret_file_keeping_a_second_newline_is_rejected(tmp_path):
    secret = tmp_path / "pw"
    secret.write_text("pass\n\n")
    errors = errors_of({**BASE, "HARBOR_ADMIN_PASSWORD_FILE": str(secret)})
    assert any(e.startswith("HARBOR_ADMIN_PASSWORD:") and "line break" in e for e in errors)


def test_name_and_name_file_together_are_an_error(tmp_path):
    secret = tmp_path / "pw"
    secret.write_text("x")
    errors = errors_of({**BASE, "HARBOR_ADMIN_PASSWORD": "y",
                        "HARBOR_ADMIN_PASSWORD_FILE": str(secret)})
    assert errors == ["HARBOR_ADMIN_PASSWORD and HARBOR_ADMIN_PASSWORD_FILE are both set; "
                      "set only one of them"]


def test_unreadable_secret_file_is_named():
    errors = errors_of({**BASE, "HARBOR_DATABASE_PASSWORD_FILE": "/nonexistent/pw"})
    assert errors[0].startswith("HARBOR_DATABASE_PASSWORD_FILE:")


def test_all_problems_are_reported_at_once():
    errors = errors_of({"HARBOR_HTTP_PORT": "eighty", "HARBOR_LOG_LEVEL": "INFO",
                        "HARBOR_CACHE_ENABLED": "maybe"})
    named = {e.split(":")[0] for e in errors}
    assert {"HARBOR_HTTP_PORT", "HARBOR_LOG_LEVEL", "HARBOR_CACHE_ENABLED"} <= named
    assert any("accepted: one of debug, info, warning, error, fatal" in e for e in errors)


def test_hostname_is_required_and_checked():
    assert errors_of({})[0].startswith("HARBOR_HOSTNAME: not set")
    assert errors_of({"HARBOR_HOSTNAME": "reg.mydomain.com"})[0].startswith("HARBOR_HOSTNAME:")
    assert errors_of({"HARBOR_HOSTNAME": "https://x.example"})[0].startswith("HARBOR_HOSTNAME:")


def test_secret_values_are_never_echoed_in_errors():
    errors = errors_of({**BASE, "HARBOR_SECRET_KEY": "tooshort-secret"})
    assert errors and all("tooshort-secret" not in e for e in errors)
    assert errors[0].startswith("HARBOR_SECRET_KEY:") and "exactly 16" in errors[0]


def test_harbor_yml_is_read_and_variables_override_it(tmp_path):
    harbor_yml = tmp_path / "harbor.yml"
    harbor_yml.write_text("""
hostname: old.example.test
http:
  port: 8080
harbor_admin_password: FromFile1
database:
  password: dbfromfile
  max_idle_conns: 50
jobservice:
  max_job_workers: 3
  job_loggers: [STD_OUTPUT]
log:
  level: debug
metric:
  enabled: true
  port: 9191
  path: /m
""")
    s = load({"HARBOR_CONFIG_FILE": str(harbor_yml), "HARBOR_HOSTNAME": "new.example.test"})
    assert s["hostname"] == "new.example.test" and s.sources["hostname"] == FROM_VARIABLE
    assert s["http.port"] == 8080 and s.sources["http.port"] == FROM_FILE
    assert s["jobservice.job_loggers"] == ["STD_OUTPUT"]
    assert s["log.level"] == "debug" and s.on("metric") and s["metric.port"] == 9191
    # no https block in that harbor.yml: plain http, as upstream
    assert not s.https


def test_harbor_yml_placeholder_certificate_is_rejected(tmp_path):
    harbor_yml = tmp_path / "harbor.yml"
    harbor_yml.write_text("hostname: h.example.test\nhttps:\n  port: 443\n"
                          "  certificate: /your/certificate/path\n"
                          "  private_key: /your/private/key/path\n")
    errors = errors_of({"HARBOR_CONFIG_FILE": str(harbor_yml)})
    assert any(e.startswith("HARBOR_HTTPS_CERTIFICATE:") and "placeholder" in e for e in errors)


def test_unknown_harbor_variables_are_warned_about():
    s = load({**BASE, "HARBOR_HOSTNAM": "typo", "HARBOR_IMAGE_TAG": "v2.15.2"})
    assert any(w.startswith("HARBOR_HOSTNAM ") for w in s.warnings)
    assert not any("HARBOR_IMAGE_TAG" in w for w in s.warnings)


@pytest.mark.parametrize("variables,named", [
    ({"HARBOR_EXTERNAL_DATABASE_HARBOR_PORT": "5433"}, "HARBOR_EXTERNAL_DATABASE_HARBOR_HOST"),
    ({"HARBOR_STORAGE_SERVICE_S3_BUCKET": "b"}, "HARBOR_STORAGE_SERVICE_S3_REGION"),
    ({"HARBOR_STORAGE_SERVICE_S3_BUCKET": "b", "HARBOR_STORAGE_SERVICE_S3_REGION": "r",
      "HARBOR_STORAGE_SERVICE_GCS_BUCKET": "g"}, "HARBOR_STORAGE_SERVICE_S3_*"),
    ({"HARBOR_UPLOAD_PURGING_AGE": "1h"}, "HARBOR_UPLOAD_PURGING_AGE"),
    ({"HARBOR_CACHE_ENABLED": "true", "HARBOR_CACHE_EXPIRE_HOURS": "0"},
     "HARBOR_CACHE_EXPIRE_HOURS"),
    ({"HARBOR_TRACE_ENABLED": "true"}, "HARBOR_TRACE_JAEGER_*"),
    ({"HARBOR_TRACE_OTEL_ENDPOINT": "otel:4318"}, "HARBOR_TRACE_OTEL_URL_PATH"),
    ({"HARBOR_LOG_EXTERNAL_ENDPOINT_HOST": "syslog"}, "HARBOR_LOG_EXTERNAL_ENDPOINT_PORT"),
    ({"HARBOR_EXTERNAL_REDIS_USERNAME": "u"}, "HARBOR_EXTERNAL_REDIS_PASSWORD"),
    ({"HARBOR_EXTERNAL_REDIS_HOST": "redis://x"}, "HARBOR_EXTERNAL_REDIS_HOST"),
    ({"HARBOR_EXTERNAL_REDIS_HOST": "r:6379", "HARBOR_REDIS_REGISTRY_DB_INDEX": "3"},
     "HARBOR_REDIS_REGISTRY_DB_INDEX"),
    ({"HARBOR_HTTPS_CERTIFICATE": "/etc/hostname"}, "HARBOR_HTTPS_PRIVATE_KEY"),
    ({"HARBOR_CSRF_KEY": "short"}, "HARBOR_CSRF_KEY"),
    ({"HARBOR_PROXY_COMPONENTS": "core,registry"}, "HARBOR_PROXY_COMPONENTS"),
    ({"HARBOR_HTTPS_PORT": "80"}, "HARBOR_HTTPS_PORT"),
    ({"HARBOR_ADMIN_PASSWORD": "a\nb"}, "HARBOR_ADMIN_PASSWORD"),
])
def test_rejected_settings_name_their_variable(variables, named):
    errors = errors_of({**BASE, **variables})
    assert any(e.startswith(named) for e in errors), errors


# An imported harbor.yml: an absent key means what upstream's prepare v2.15.2 makes of it
# (its code default, prepare/utils/configs.py and models.py), not the template's value.

def _from_yml(tmp_path, body: str, **variables):
    harbor_yml = tmp_path / "harbor.yml"
    harbor_yml.write_text("hostname: h.example.test\n" + body)
    return load({"HARBOR_CONFIG_FILE": str(harbor_yml), **variables})


def test_harbor_yml_blocks_without_enabled_are_off_as_upstream(tmp_path):
    s = _from_yml(tmp_path, "internal_tls:\n  verify_client_cert: false\n"
                            "trace:\n  otel:\n    endpoint: otel:4318\n    url_path: /v1\n"
                            "upload_purging:\n  age: 168h\n")
    assert not s.on("internal_tls") and not s.on("trace")
    assert s["upload_purging.enabled"] is False


def test_harbor_yml_without_upload_purging_or_pool_sizes_or_components(tmp_path):
    from types import SimpleNamespace

    from wrapper.context import database, proxy_env

    s = _from_yml(tmp_path, "database:\n  password: pw\n"
                            "proxy:\n  http_proxy: http://proxy.example:3128\n")
    assert s["upload_purging.enabled"] is False
    db = database(s, keys=SimpleNamespace(database_password="x"))
    assert (db["max_idle_conns"], db["max_open_conns"]) == (2, 0)
    for component in ("core", "jobservice", "trivy"):
        assert proxy_env(s, component) == {"HTTP_PROXY": "", "HTTPS_PROXY": "", "NO_PROXY": ""}


def test_harbor_yml_values_that_are_given_still_count(tmp_path):
    s = _from_yml(tmp_path, "internal_tls:\n  enabled: true\n"
                            "upload_purging:\n  enabled: true\n  age: 72h\n  interval: 24h\n"
                            "database:\n  password: pw\n  max_idle_conns: 50\n"
                            "  max_open_conns: 900\n"
                            "proxy:\n  http_proxy: http://p.example:3128\n  components: [core]\n")
    assert s.on("internal_tls") and s["upload_purging.enabled"] is True
    assert (s["database.max_idle_conns"], s["database.max_open_conns"]) == (50, 900)
    assert s["proxy.components"] == ["core"]


def test_variables_only_defaults_stay_the_templates(tmp_path):
    s = load(BASE)
    assert s["upload_purging.enabled"] is True and s["database.max_open_conns"] == 900
    assert s["proxy.components"] == ["core", "jobservice", "trivy"]
    assert load({**BASE, "HARBOR_TRACE_OTEL_ENDPOINT": "o:4318",
                 "HARBOR_TRACE_OTEL_URL_PATH": "/v1"}).on("trace")
