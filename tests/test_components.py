"""Each component's files mean what upstream prepare v2.15.2 writes for the same settings."""

import configparser
import json

import pytest
import yaml

from helpers_keys import fixed_keys
from wrapper.components import core, jobservice, log, nginx, portal, registry, registryctl, render_all, shared, trivy, exporter, db
from wrapper.context import Paths, Redis
from wrapper.settings import load

BASE = {"HARBOR_HOSTNAME": "harbor.example.test"}
PATHS = Paths("/harbor-setup")


@pytest.fixture(scope="module")
def keys(token_key):
    return fixed_keys(token_key)


def by_path(files):
    return {f.path: f for f in files}


def env_of(file) -> dict[str, str]:
    lines = file.content.decode().splitlines()
    return dict(line.split("=", 1) for line in lines if line)


def render(component, keys, **variables):
    return by_path(component.files(load({**BASE, **variables}), keys, PATHS))


def test_core_env_defaults(keys):
    files = render(core, keys)
    env = env_of(files["config/core/env"])
    assert env["EXT_ENDPOINT"] == "https://harbor.example.test"
    assert env["_REDIS_URL_CORE"] == "redis://redis:6379?idle_timeout_seconds=30"
    assert env["_REDIS_URL_REG"] == "redis://redis:6379/1?idle_timeout_seconds=30"
    assert env["POSTGRESQL_HOST"] == "postgresql" and env["POSTGRESQL_DATABASE"] == "registry"
    assert env["POSTGRESQL_PASSWORD"] == keys.database_password
    assert env["CORE_SECRET"] == keys.core_secret and env["CSRF_KEY"] == keys.csrf_key
    assert env["REGISTRY_CREDENTIAL_USERNAME"] == "harbor_registry_user"
    assert env["REGISTRY_CREDENTIAL_PASSWORD"] == keys.registry_password
    assert env["WITH_TRIVY"] == "False" and env["PORT"] == "8080"
    assert env["QUOTA_UPDATE_PROVIDER"] == "db" and env["READ_ONLY"] == "false"
    assert env["TOKEN_SERVICE_URL"] == "http://core:8080/service/token"
    assert env["CORE_LOCAL_URL"] == "http://127.0.0.1:8080"
    # paths point into the output folder
    assert env["KEY_PATH"] == "/harbor-setup/secret/keys/secretkey"
    assert env["TOKEN_PRIVATE_KEY_PATH"] == "/harbor-setup/secret/core/private_key.pem"
    assert env["CONFIG_PATH"] == "/harbor-setup/config/core/app.conf"
    assert files["secret/keys/secretkey"].content == keys.secretkey.encode()
    assert files["secret/keys/secretkey"].mode == 0o600
    assert files["secret/core/private_key.pem"].content.startswith(b"-----BEGIN RSA PRIVATE KEY")
    app = configparser.ConfigParser()
    app.read_string("[top]\n" + files["config/core/app.conf"].content.decode())
    assert app["prod"]["httpport"] == "8080" and app["top"]["appname"] == "Harbor"


@pytest.mark.parametrize("variables,url", [
    ({"HARBOR_PROTOCOL": "http"}, "http://harbor.example.test"),
    ({"HARBOR_PROTOCOL": "http", "HARBOR_HTTP_PORT": "8080"}, "http://harbor.example.test:8080"),
    ({"HARBOR_HTTPS_PORT": "8443"}, "https://harbor.example.test:8443"),
    ({"HARBOR_EXTERNAL_URL": "https://reg.example.com"}, "https://reg.example.com"),
])
def test_ext_endpoint(keys, variables, url):
    assert env_of(render(core, keys, **variables)["config/core/env"])["EXT_ENDPOINT"] == url


def test_redis_url_grammar():
    r = Redis(host="s1:26379,s2:26379", password="r:p@ss/", username="ruser",
              sentinel_master_set="mymaster", tls=True, idle_timeout_seconds=45, registry_db=1,
              jobservice_db=2, trivy_db=5, harbor_db=None, cache_layer_db=None)
    assert r.url(3) == ("rediss+sentinel://ruser:r%3Ap%40ss%2F@s1:26379,s2:26379/mymaster/3"
                        "?idle_timeout_seconds=45")
    plain = Redis(host="redis:6379", password="", username="", sentinel_master_set="", tls=False,
                  idle_timeout_seconds=30, registry_db=1, jobservice_db=2, trivy_db=5,
                  harbor_db=None, cache_layer_db=None)
    assert plain.url(0) == "redis://redis:6379?idle_timeout_seconds=30"


def test_external_database_and_redis(keys):
    files = render(core, keys, HARBOR_EXTERNAL_DATABASE_HARBOR_HOST="pg.example",
                   HARBOR_EXTERNAL_DATABASE_HARBOR_PASSWORD="p w#$",
                   HARBOR_EXTERNAL_REDIS_HOST="cache:6380", HARBOR_EXTERNAL_REDIS_PASSWORD="x@y",
                   HARBOR_EXTERNAL_REDIS_HARBOR_DB_INDEX="7")
    env = env_of(files["config/core/env"])
    assert env["POSTGRESQL_HOST"] == "pg.example" and env["POSTGRESQL_PASSWORD"] == "p w#$"
    assert env["POSTGRESQL_MAX_IDLE_CONNS"] == "2" and env["POSTGRESQL_MAX_OPEN_CONNS"] == "0"
    assert env["_REDIS_URL_REG"] == "redis://:x%40y@cache:6380/1?idle_timeout_seconds=30"
    assert env["_REDIS_URL_HARBOR"] == "redis://:x%40y@cache:6380/7?idle_timeout_seconds=30"


def test_internal_tls_switches_urls_ports_and_paths(token_key):
    keys = fixed_keys(token_key)
    s = load({**BASE, "HARBOR_INTERNAL_TLS_ENABLED": "true"})
    files = by_path(render_all(s, keys, PATHS))
    env = env_of(files["config/core/env"])
    assert env["PORT"] == "8443" and env["CORE_URL"] == "https://core:8443"
    assert env["REGISTRY_URL"] == "https://registry:5443"
    assert env["INTERNAL_TLS_KEY_PATH"] == "/harbor-setup/secret/tls/core.key"
    reg = yaml.safe_load(files["config/registry/config.yml"].content)
    assert reg["http"]["addr"] == ":5443" and reg["http"]["tls"]["minimumtls"] == "tls1.2"
    js = yaml.safe_load(files["config/jobservice/config.yml"].content)
    assert js["protocol"] == "https" and js["port"] == 8443
    for stem in ("proxy", "portal", "core", "job_service", "registry", "registryctl", "harbor_db"):
        assert files[f"secret/tls/{stem}.key"].mode == 0o600
        assert files[f"secret/tls/{stem}.crt"].mode == 0o644
    assert files["secret/tls/harbor_db.key"].uid == 999
    assert "secret/tls/trivy_adapter.crt" not in files
    assert b"proxy_pass https://core/v2/" in files["config/nginx/nginx.conf"].content
    assert files["config/shared/trust-certificates/harbor_internal_ca.crt"].content == keys.internal_ca
    assert keys.internal_ca in files["config/shared/trust-bundle.crt"].content


def test_registry_config(keys):
    files = render(registry, keys, HARBOR_LOG_LEVEL="warning")
    config = yaml.safe_load(files["config/registry/config.yml"].content)
    assert config["log"]["level"] == "warn"
    assert config["storage"]["filesystem"] == {"rootdirectory": "/storage"}
    assert config["storage"]["cache"] == {"layerinfo": "redis"}
    assert config["storage"]["maintenance"]["uploadpurging"] == {
        "enabled": True, "age": "168h", "interval": "24h", "dryrun": False}
    assert config["redis"]["addr"] == "redis:6379" and config["redis"]["db"] == 1
    assert config["redis"]["enabletls"] is False and "enableTLS" not in config["redis"]
    assert config["http"]["addr"] == ":5000"
    assert config["http"]["secret"] == keys.registry_http_secret != "placeholder"
    assert config["auth"]["htpasswd"]["path"] == "/harbor-setup/config/registry/passwd"
    assert files["config/registry/passwd"].content == keys.registry_htpasswd.encode()
    assert files["secret/registry/root.crt"].content == keys.token_cert


def test_registry_storage_s3_and_redis_password_are_escaped(keys):
    files = render(registry, keys, HARBOR_STORAGE_SERVICE_S3_BUCKET="b",
                   HARBOR_STORAGE_SERVICE_S3_REGION="eu-1",
                   HARBOR_STORAGE_SERVICE_S3_REGIONENDPOINT="http://minio:9000",
                   HARBOR_STORAGE_SERVICE_S3_SECURE="false",
                   HARBOR_STORAGE_SERVICE_S3_SECRETKEY="a: b #c",
                   HARBOR_STORAGE_SERVICE_REDIRECT_DISABLE="true",
                   HARBOR_EXTERNAL_REDIS_HOST="s1:26379,s2:26379",
                   HARBOR_EXTERNAL_REDIS_SENTINEL_MASTER_SET="mymaster",
                   HARBOR_EXTERNAL_REDIS_PASSWORD="p: #w",
                   HARBOR_EXTERNAL_REDIS_TLS_OPTIONS_ENABLE="true")
    config = yaml.safe_load(files["config/registry/config.yml"].content)
    assert config["redis"]["enabletls"] is True
    assert config["storage"]["s3"] == {"region": "eu-1", "bucket": "b", "secretkey": "a: b #c",
                                       "regionendpoint": "http://minio:9000", "secure": False}
    assert config["storage"]["redirect"] == {"disable": True}
    assert config["redis"]["password"] == "p: #w"
    assert config["redis"]["sentinelMasterSet"] == "mymaster"
    assert config["redis"]["addr"] == "s1:26379,s2:26379"


def test_registryctl_and_jobservice(keys):
    files = render(registryctl, keys)
    config = yaml.safe_load(files["config/registryctl/config.yml"].content)
    assert config == {"protocol": "http", "port": 8080, "log_level": "info",
                      "registry_config": "/harbor-setup/config/registry/config.yml"}
    assert env_of(files["config/registryctl/env"]) == {"CORE_SECRET": keys.core_secret,
                                                       "JOBSERVICE_SECRET": keys.jobservice_secret}
    files = render(jobservice, keys, HARBOR_JOBSERVICE_MAX_JOB_DURATION_HOURS="12",
                   HARBOR_JOBSERVICE_JOB_LOGGERS="STD_OUTPUT,FILE,DB")
    config = yaml.safe_load(files["config/jobservice/config.yml"].content)
    assert config["reaper"]["max_update_hours"] == 24
    assert [x["name"] for x in config["job_loggers"]] == ["STD_OUTPUT", "FILE", "DB"]
    assert config["job_loggers"][1]["settings"]["base_dir"] == "/var/log/jobs"
    assert config["loggers"] == [{"name": "STD_OUTPUT", "level": "INFO"}]
    assert config["worker_pool"]["redis_pool"]["redis_url"] == (
        "redis://redis:6379/2?idle_timeout_seconds=30")
    env = env_of(files["config/jobservice/env"])
    assert env["REGISTRY_CREDENTIAL_PASSWORD"] == keys.registry_password
    assert env["JOBSERVICE_WEBHOOK_JOB_MAX_RETRY"] == "3"


def test_proxy_settings_and_sorted_no_proxy(keys):
    env = env_of(render(core, keys, HARBOR_PROXY_HTTP_PROXY="http://proxy:3128",
                        HARBOR_PROXY_NO_PROXY="b.example,a.example",
                        HARBOR_PROXY_COMPONENTS="core")["config/core/env"])
    assert env["HTTP_PROXY"] == "http://proxy:3128"
    no_proxy = env["NO_PROXY"].split(",")
    assert no_proxy == sorted(no_proxy) and {"a.example", "core", "postgresql"} <= set(no_proxy)
    js_env = env_of(render(jobservice, keys, HARBOR_PROXY_HTTP_PROXY="http://proxy:3128",
                           HARBOR_PROXY_COMPONENTS="core")["config/jobservice/env"])
    assert js_env["HTTP_PROXY"] == ""
    # as upstream: no NO_PROXY either for a component not in proxy.components
    assert js_env["NO_PROXY"] == "" and js_env["HTTPS_PROXY"] == ""


def test_trace_metric_cache(keys):
    s = {"HARBOR_TRACE_OTEL_ENDPOINT": "otel:4318", "HARBOR_TRACE_OTEL_URL_PATH": "/v1/traces",
         "HARBOR_TRACE_ATTRIBUTES": '{"application": "harbor"}', "HARBOR_METRIC_PORT": "9091",
         "HARBOR_CACHE_ENABLED": "yes", "HARBOR_REDIS_CACHE_LAYER_DB_INDEX": "9"}
    env = env_of(render(core, keys, **s)["config/core/env"])
    assert env["TRACE_ENABLED"] == "true" and env["TRACE_SERVICE_NAME"] == "harbor-core"
    assert json.loads(env["TRACE_ATTRIBUTES"]) == {"application": "harbor"}
    assert env["TRACE_OTEL_COMPRESSION"] == "False" and env["TRACE_OTEL_TIMEOUT"] == "10"
    assert env["METRIC_ENABLE"] == "true" and env["METRIC_PORT"] == "9091"
    assert env["CACHE_ENABLED"] == "true" and env["_REDIS_URL_CACHE_LAYER"].startswith(
        "redis://redis:6379/9")
    exporter_env = env_of(render(exporter, keys, **s)["config/exporter/env"])
    assert exporter_env["HARBOR_DATABASE_DBNAME"] == "registry"
    assert exporter_env["HARBOR_DATABASE_PASSWORD"] == keys.database_password
    assert exporter_env["HARBOR_DATABASE_MAX_OPEN_CONNS"] == "900"
    assert exporter_env["HARBOR_REDIS_URL"] == "redis://redis:6379/2?idle_timeout_seconds=30"
    assert exporter_env["HARBOR_SERVICE_PORT"] == "8080"
    assert exporter_env["HARBOR_SERVICE_SCHEME"] == "http"
    assert not render(exporter, keys)


def test_trivy_only_with_trivy(keys):
    assert render(trivy, keys) == {}
    env = env_of(render(trivy, keys, HARBOR_WITH_TRIVY="true")["config/trivy-adapter/env"])
    assert env["SCANNER_REDIS_URL"] == "redis://redis:6379/5?idle_timeout_seconds=30"
    assert env["SCANNER_TRIVY_SKIP_UPDATE"] == "False"
    assert env["SCANNER_TRIVY_DB_REPOSITORY"] == "ghcr.io/aquasecurity/trivy-db"


def test_db_env_and_log(keys):
    files = render(db, keys)
    assert env_of(files["config/db/env"]) == {"POSTGRES_PASSWORD": keys.database_password}
    assert files["config/db/env"].uid == 999
    files = render(log, keys, HARBOR_LOG_EXTERNAL_ENDPOINT_HOST="syslog.example",
                   HARBOR_LOG_EXTERNAL_ENDPOINT_PORT="514")
    text = files["config/log/rsyslog_docker.conf"].content.decode()
    assert 'Target="syslog.example" Port="514" Protocol="tcp"' in text and "omfile" not in text
    assert "rotate 50" in render(log, keys)["config/log/logrotate.conf"].content.decode()


def test_nginx_routing(keys):
    https = render(nginx, keys)["config/nginx/nginx.conf"].content.decode()
    assert "listen 8443 ssl;" in https and "return 308 https://$host:443$request_uri;" in https
    assert 'ssl_certificate "/harbor-setup/secret/cert/server.crt";' in https
    assert "client_max_body_size 0;" in https
    v2 = https.split("location /v2/ {")[1].split("}")[0]
    assert "proxy_pass http://core/v2/;" in v2 and "proxy_set_header Host $http_host;" in v2
    assert "proxy_read_timeout 900;" in v2
    http = render(nginx, keys, HARBOR_PROTOCOL="http")["config/nginx/nginx.conf"].content.decode()
    assert "listen 8080;" in http and "ssl" not in http and "return 308" not in http
    assert "location /v1/ {\n      return 404;" in http


def test_nginx_with_a_resolver_follows_replaced_services(keys):
    static = render(nginx, keys)["config/nginx/nginx.conf"].content.decode()
    assert "upstream core {" in static and "resolver" not in static
    dynamic = render(nginx, keys, HARBOR_NGINX_RESOLVER="127.0.0.11")[
        "config/nginx/nginx.conf"].content.decode()
    assert "resolver 127.0.0.11 valid=10s ipv6=off;" in dynamic
    assert "upstream core {" not in dynamic
    v2 = dynamic.split("location /v2/ {")[1].split("}")[0]
    assert "set $harbor_upstream core:8080;" in v2 and "proxy_pass http://$harbor_upstream;" in v2
    root = dynamic.split("location / {")[1].split("}")[0]
    assert "set $harbor_upstream portal:8080;" in root


def test_files_of_a_full_render_are_unique(keys):
    s = load({**BASE, "HARBOR_INTERNAL_TLS_ENABLED": "true", "HARBOR_WITH_TRIVY": "true",
              "HARBOR_METRIC_ENABLED": "true"})
    paths = [f.path for f in render_all(s, keys, PATHS)]
    assert len(paths) == len(set(paths))
