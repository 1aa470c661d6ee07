"""Property-based: every accepted combination renders files that parse (YAML, env, INI, nginx
with crossplane and with the real `nginx -t`); every rejected one names its variable."""

import configparser
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import crossplane
import pytest
import yaml
from hypothesis import HealthCheck, given, settings as hsettings, strategies as st

from helpers_keys import session_keys
from wrapper import schema
from wrapper.components import render_all
from wrapper.context import Paths
from wrapper.settings import InvalidSettings, load

NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else None)
HOSTS = "127.0.0.1 localhost core portal registry jobservice exporter\n"

text = st.text(st.characters(min_codepoint=32, max_codepoint=0x2FF, exclude_characters="\x7f"),
               min_size=1, max_size=24)
hostname = st.from_regex(r"\A[a-z]([a-z0-9-]{0,9}[a-z0-9])?(\.[a-z][a-z0-9]{0,8}){1,3}\Z")
port = st.integers(1024, 65535).map(str)


@st.composite
def accepted(draw) -> dict[str, str]:
    v = {"HARBOR_HOSTNAME": draw(st.one_of(hostname, st.just("10.0.0.5")))}
    v["HARBOR_PROTOCOL"] = draw(st.sampled_from(["https", "http"]))
    v["HARBOR_HTTP_PORT"] = draw(port)
    v["HARBOR_HTTPS_PORT"] = str(int(v["HARBOR_HTTP_PORT"]) % 60000 + 1025)
    v["HARBOR_ADMIN_PASSWORD"] = draw(text)
    v["HARBOR_LOG_LEVEL"] = draw(st.sampled_from(["debug", "info", "warning", "error", "fatal"]))
    v["HARBOR_JOBSERVICE_JOB_LOGGERS"] = ",".join(draw(st.lists(
        st.sampled_from(["STD_OUTPUT", "FILE", "DB"]), min_size=1, max_size=3, unique=True)))
    if draw(st.booleans()):
        v["HARBOR_INTERNAL_TLS_ENABLED"] = "true"
        v["HARBOR_INTERNAL_TLS_STRONG_SSL_CIPHERS"] = draw(st.sampled_from(["true", "false"]))
    if draw(st.booleans()):
        v["HARBOR_IP_FAMILY_IPV6_ENABLED"] = "true"
    v["HARBOR_WITH_TRIVY"] = draw(st.sampled_from(["true", "false"]))
    if draw(st.booleans()):
        v["HARBOR_METRIC_PORT"] = draw(port)
        v["HARBOR_METRIC_PATH"] = "/" + draw(st.from_regex(r"\A[a-z]{1,8}\Z"))
    if draw(st.booleans()):
        v["HARBOR_EXTERNAL_DATABASE_HARBOR_HOST"] = draw(hostname)
        v["HARBOR_EXTERNAL_DATABASE_HARBOR_PASSWORD"] = draw(text)
        v["HARBOR_EXTERNAL_DATABASE_HARBOR_SSL_MODE"] = draw(st.sampled_from(["disable", "require"]))
    if draw(st.booleans()):
        sentinel = draw(st.booleans())
        v["HARBOR_EXTERNAL_REDIS_HOST"] = "s1:26379,s2:26379" if sentinel else "cache:6380"
        if sentinel:
            v["HARBOR_EXTERNAL_REDIS_SENTINEL_MASTER_SET"] = "mymaster"
        if draw(st.booleans()):
            v["HARBOR_EXTERNAL_REDIS_PASSWORD"] = draw(text)
        v["HARBOR_EXTERNAL_REDIS_TLS_OPTIONS_ENABLE"] = draw(st.sampled_from(["true", "false"]))
    provider = draw(st.sampled_from(["filesystem", "s3", "azure", "swift", "oss"]))
    if provider == "s3":
        v.update({"HARBOR_STORAGE_SERVICE_S3_BUCKET": "b", "HARBOR_STORAGE_SERVICE_S3_REGION": "r",
                  "HARBOR_STORAGE_SERVICE_S3_SECRETKEY": draw(text),
                  "HARBOR_STORAGE_SERVICE_S3_SECURE": draw(st.sampled_from(["true", "false"]))})
    elif provider == "azure":
        v.update({"HARBOR_STORAGE_SERVICE_AZURE_ACCOUNTNAME": "a",
                  "HARBOR_STORAGE_SERVICE_AZURE_ACCOUNTKEY": draw(text),
                  "HARBOR_STORAGE_SERVICE_AZURE_CONTAINER": "c"})
    elif provider == "swift":
        v.update({"HARBOR_STORAGE_SERVICE_SWIFT_AUTHURL": "https://keystone/v3",
                  "HARBOR_STORAGE_SERVICE_SWIFT_USERNAME": "u",
                  "HARBOR_STORAGE_SERVICE_SWIFT_PASSWORD": draw(text),
                  "HARBOR_STORAGE_SERVICE_SWIFT_CONTAINER": "c"})
    elif provider == "oss":
        v.update({"HARBOR_STORAGE_SERVICE_OSS_ACCESSKEYID": "i",
                  "HARBOR_STORAGE_SERVICE_OSS_ACCESSKEYSECRET": draw(text),
                  "HARBOR_STORAGE_SERVICE_OSS_REGION": "r", "HARBOR_STORAGE_SERVICE_OSS_BUCKET": "b"})
    elif draw(st.booleans()):
        v["HARBOR_STORAGE_SERVICE_FILESYSTEM_MAXTHREADS"] = str(draw(st.integers(25, 500)))
    if draw(st.booleans()):
        v["HARBOR_PROXY_HTTP_PROXY"] = "http://proxy.example:3128"
        v["HARBOR_PROXY_NO_PROXY"] = ",".join(draw(st.lists(hostname, max_size=3)))
    trace = draw(st.sampled_from(["off", "jaeger", "otel"]))
    if trace == "jaeger":
        v["HARBOR_TRACE_JAEGER_ENDPOINT"] = "http://jaeger:14268/api/traces"
    elif trace == "otel":
        v.update({"HARBOR_TRACE_OTEL_ENDPOINT": "otel:4318", "HARBOR_TRACE_OTEL_URL_PATH": "/v1"})
    if draw(st.booleans()):
        v.update({"HARBOR_CACHE_ENABLED": "true", "HARBOR_CACHE_EXPIRE_HOURS": "12"})
    if draw(st.booleans()):
        v.update({"HARBOR_LOG_EXTERNAL_ENDPOINT_HOST": "syslog.example",
                  "HARBOR_LOG_EXTERNAL_ENDPOINT_PORT": "514",
                  "HARBOR_LOG_EXTERNAL_ENDPOINT_PROTOCOL": draw(st.sampled_from(["tcp", "udp"]))})
    v["HARBOR_UPLOAD_PURGING_ENABLED"] = draw(st.sampled_from(["true", "false"]))
    v["HARBOR_HTTPS_STRONG_SSL_CIPHERS"] = draw(st.sampled_from(["true", "false"]))
    if draw(st.booleans()):
        v["HARBOR_NGINX_RESOLVER"] = draw(st.sampled_from(["127.0.0.11", "10.0.0.2:53"]))
    return v


def write_tree(files, root: Path) -> None:
    for f in files:
        path = root / f.path
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(f.content)


def check_parses(files, root: Path) -> None:
    for f in files:
        body = f.content.decode()
        if f.path.endswith(".yml"):
            assert isinstance(yaml.safe_load(body), dict), f.path
        elif f.path.endswith("/env"):
            for line in body.split("\n")[:-1]:  # the shims split on \n only
                name, _, _ = line.partition("=")
                assert name.isidentifier() and "=" in line, (f.path, line)
        elif f.path.endswith("app.conf"):
            configparser.ConfigParser().read_string("[top]\n" + body)
        elif f.path.endswith("nginx.conf"):
            parsed = crossplane.parse(str(root / f.path), single=True, check_ctx=True,
                                      check_args=True, ignore=["include"])
            assert parsed["errors"] == [], parsed["errors"]


@hsettings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(variables=accepted())
def test_every_accepted_combination_renders_files_that_parse(variables):
    s, keys = load(variables), session_keys()
    with tempfile.TemporaryDirectory() as tmp:
        files = render_all(s, keys, Paths(tmp))
        write_tree(files, Path(tmp))
        check_parses(files, Path(tmp))


@pytest.mark.skipif(NGINX is None and not os.environ.get("CI"), reason="nginx is not installed")
@hsettings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(variables=accepted())
def test_real_nginx_accepts_the_proxy_and_portal_configs(variables, tmp_path_factory):
    """`nginx -t` resolves upstream names, so it runs in a mount namespace with a hosts file
    that names Harbor's services."""
    s, keys = load(variables), session_keys()
    root = tmp_path_factory.mktemp("nginx")
    files = render_all(s, keys, Paths(str(root)))
    write_tree(files, root)
    (root / "hosts").write_text(HOSTS)
    script = (f"mount --bind {root}/hosts /etc/hosts && "
              f"{NGINX} -q -t -c {root}/config/nginx/nginx.conf && "
              f"{NGINX} -q -t -c {root}/config/portal/nginx.conf")
    result = subprocess.run(["unshare", "--mount", "sh", "-c", script], capture_output=True,
                            text=True)
    assert result.returncode == 0, result.stderr


def _invalid_value(setting):
    return {schema.INT: "12x", schema.PORT: "70000", schema.FLOAT: "fast",
            schema.BOOL: "maybe", schema.ENUM: "bogus", schema.JSON: "{not json",
            schema.LIST: "NOT_A_CHOICE" if setting.choices else None,
            schema.PATH: "/nonexistent/file.pem", schema.DIR: "/nonexistent/dir",
            schema.HOST: "bad host!", schema.URL: "ftp://x", schema.SIZE: "1 G",
            schema.DURATION: "5 minutes", schema.URLPATH: "/m { return 200; }",
            schema.STR: None}[setting.kind]


REJECTABLE = [s for s in schema.SETTINGS if _invalid_value(s) is not None
              and not s.no_effect and s.key not in ("https.certificate", "https.private_key")]


@hsettings(max_examples=80, deadline=None)
@given(setting=st.sampled_from(REJECTABLE), extra=accepted())
def test_every_rejected_value_names_its_variable(setting, extra):
    variables = {**extra, setting.env_name: _invalid_value(setting)}
    if setting.kind == schema.DIR:
        variables["HARBOR_INTERNAL_TLS_ENABLED"] = "true"
    if setting.kind == schema.PATH and setting.key.startswith("storage_service.gcs"):
        variables = {k: v for k, v in variables.items() if "STORAGE_SERVICE" not in k}
        variables.update({setting.env_name: _invalid_value(setting),
                          "HARBOR_STORAGE_SERVICE_GCS_BUCKET": "b"})
    if setting.key == "external_redis.tlsOptions.rootCA":
        variables["HARBOR_EXTERNAL_REDIS_TLS_OPTIONS_ENABLE"] = "true"
    with pytest.raises(InvalidSettings) as caught:
        load(variables)
    assert any(e.startswith(setting.env_name) for e in caught.value.errors), caught.value.errors
