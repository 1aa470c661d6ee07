"""Property-based: every accepted combination renders files that parse (YAML, env, INI,
logrotate, rsyslog, nginx with crossplane and with the real `nginx -t`) and keep every value
intact; every rejected one names each of its wrong variables and never tracebacks. Hostile
values (line breaks, quotes, braces, $, non-UTF-8 bytes, huge or deeply nested values, files
that are not regular) are drawn on purpose.

Per run: ACCEPTED_EXAMPLES + REJECTED_EXAMPLES combinations (more than 1,000); nginx -t runs
once per distinct pair of nginx.conf files, at most NGINX_CHECKS of them, in one batch."""

import configparser
import hashlib
import os
import re
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
ACCEPTED_EXAMPLES = int(os.environ.get("HARBOR_TEST_ACCEPTED_EXAMPLES", 600))
REJECTED_EXAMPLES = int(os.environ.get("HARBOR_TEST_REJECTED_EXAMPLES", 500))
NGINX_CHECKS = 120

# Any single line: quotes, $, #, backslashes, braces, spaces, non-ASCII letters.
text = st.text(st.characters(min_codepoint=32, max_codepoint=0x2FF, exclude_characters="\x7f")
               | st.sampled_from(list("\"'$#\\{};=` \t\u2603\u00e9")), min_size=1, max_size=24)
dns_name = st.from_regex(r"\A[a-zA-Z]([a-zA-Z0-9-]{0,9}[a-zA-Z0-9])?(\.[a-z][a-z0-9]{0,8}){1,3}\Z"
                         ).filter(lambda h: not h.lower().endswith(".localhost"))
host = dns_name | st.sampled_from(["10.0.0.5", "192.0.2.7", "2001:db8::5", "fd00::1:2"])
port = st.integers(1024, 65535).map(str)
duration = st.sampled_from(["0", "5m", "1h30m", "90s", "1.5h", "300ms", "5m0s"])
url_path = st.from_regex(r"\A/[A-Za-z0-9._~/-]{0,12}\Z")


def bracketed(h: str) -> str:
    return f"[{h}]" if ":" in h else h


@st.composite
def accepted(draw) -> dict[str, str]:
    v = {"HARBOR_HOSTNAME": draw(host)}
    v["HARBOR_PROTOCOL"] = draw(st.sampled_from(["https", "http"]))
    v["HARBOR_HTTP_PORT"] = draw(port)
    v["HARBOR_HTTPS_PORT"] = str(int(v["HARBOR_HTTP_PORT"]) % 60000 + 1025)
    v["HARBOR_ADMIN_PASSWORD"] = draw(text)
    if draw(st.booleans()):
        v["HARBOR_DATABASE_PASSWORD"] = draw(text)
        v["HARBOR_DATABASE_MAX_IDLE_CONNS"] = str(draw(st.integers(0, 1000)))
        v["HARBOR_DATABASE_CONN_MAX_LIFETIME"] = draw(duration)
    if draw(st.booleans()):
        v["HARBOR_EXTERNAL_URL"] = draw(st.sampled_from(["https", "http"])) + "://" + bracketed(
            draw(host)) + draw(st.sampled_from(["", ":8443", ":1", ":65535", "/"]))
    v["HARBOR_LOG_LEVEL"] = draw(st.sampled_from(["debug", "info", "warning", "error", "fatal"]))
    v["HARBOR_LOG_LOCAL_ROTATE_SIZE"] = draw(st.sampled_from(["200M", "1G", "500k", "1048576"]))
    v["HARBOR_LOG_LOCAL_ROTATE_COUNT"] = str(draw(st.integers(0, 500)))
    v["HARBOR_JOBSERVICE_JOB_LOGGERS"] = ",".join(draw(st.lists(
        st.sampled_from(["STD_OUTPUT", "FILE", "DB"]), min_size=1, max_size=3, unique=True)))
    if draw(st.booleans()):
        v["HARBOR_INTERNAL_TLS_ENABLED"] = "true"
        v["HARBOR_INTERNAL_TLS_STRONG_SSL_CIPHERS"] = draw(st.sampled_from(["true", "false"]))
    if draw(st.booleans()):
        v["HARBOR_IP_FAMILY_IPV6_ENABLED"] = "true"
    v["HARBOR_WITH_TRIVY"] = draw(st.sampled_from(["true", "false"]))
    if v["HARBOR_WITH_TRIVY"] == "true":
        v["HARBOR_TRIVY_TIMEOUT"] = draw(duration)
        v["HARBOR_TRIVY_GITHUB_TOKEN"] = draw(text)
    if draw(st.booleans()):
        v["HARBOR_METRIC_PORT"] = draw(port)
        v["HARBOR_METRIC_PATH"] = draw(url_path)
    if draw(st.booleans()):
        v["HARBOR_EXTERNAL_DATABASE_HARBOR_HOST"] = draw(host)
        v["HARBOR_EXTERNAL_DATABASE_HARBOR_PASSWORD"] = draw(text)
        v["HARBOR_EXTERNAL_DATABASE_HARBOR_USERNAME"] = draw(text)
        v["HARBOR_EXTERNAL_DATABASE_HARBOR_SSL_MODE"] = draw(st.sampled_from(["disable", "require"]))
    if draw(st.booleans()):
        sentinel = draw(st.booleans())
        v["HARBOR_EXTERNAL_REDIS_HOST"] = "s1:26379,s2:26379" if sentinel else "cache:6380"
        if sentinel:
            v["HARBOR_EXTERNAL_REDIS_SENTINEL_MASTER_SET"] = "mymaster"
        if draw(st.booleans()):
            v["HARBOR_EXTERNAL_REDIS_PASSWORD"] = draw(text)
        v["HARBOR_EXTERNAL_REDIS_TLS_OPTIONS_ENABLE"] = draw(st.sampled_from(["true", "false"]))
        v["HARBOR_EXTERNAL_REDIS_REGISTRY_DB_INDEX"] = str(draw(st.integers(0, 15)))
    provider = draw(st.sampled_from(["filesystem", "s3", "azure", "swift", "oss"]))
    if provider == "s3":
        v.update({"HARBOR_STORAGE_SERVICE_S3_BUCKET": draw(text),
                  "HARBOR_STORAGE_SERVICE_S3_REGION": draw(text),
                  "HARBOR_STORAGE_SERVICE_S3_SECRETKEY": draw(text),
                  "HARBOR_STORAGE_SERVICE_S3_SECURE": draw(st.sampled_from(["true", "false"]))})
    elif provider == "azure":
        v.update({"HARBOR_STORAGE_SERVICE_AZURE_ACCOUNTNAME": "a",
                  "HARBOR_STORAGE_SERVICE_AZURE_ACCOUNTKEY": draw(text),
                  "HARBOR_STORAGE_SERVICE_AZURE_CONTAINER": draw(text)})
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
        v["HARBOR_PROXY_HTTP_PROXY"] = "http://" + draw(st.sampled_from(
            ["", "user:p%40ss@"])) + bracketed(draw(host)) + ":3128"
        v["HARBOR_PROXY_NO_PROXY"] = ",".join(draw(st.lists(
            dns_name | st.sampled_from([".example.com", "10.0.0.0/8", "*.corp"]), max_size=3)))
        v["HARBOR_PROXY_COMPONENTS"] = ",".join(draw(st.lists(
            st.sampled_from(["core", "jobservice", "trivy"]), max_size=3, unique=True)))
    trace = draw(st.sampled_from(["off", "jaeger", "otel"]))
    if trace == "jaeger":
        v["HARBOR_TRACE_JAEGER_ENDPOINT"] = "http://jaeger:14268/api/traces"
        v["HARBOR_TRACE_NAMESPACE"] = draw(text)
    elif trace == "otel":
        v.update({"HARBOR_TRACE_OTEL_ENDPOINT": "otel:4318",
                  "HARBOR_TRACE_OTEL_URL_PATH": draw(url_path),
                  "HARBOR_TRACE_SAMPLE_RATE": str(draw(st.floats(0, 1)))})
    if draw(st.booleans()):
        v.update({"HARBOR_CACHE_ENABLED": "true", "HARBOR_CACHE_EXPIRE_HOURS": "12"})
    if draw(st.booleans()):
        v.update({"HARBOR_LOG_EXTERNAL_ENDPOINT_HOST": draw(host),
                  "HARBOR_LOG_EXTERNAL_ENDPOINT_PORT": draw(port),
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


def env_lines(body: str) -> dict[str, str]:
    """As the shims read them: split on \\n only, NAME= up to the first =."""
    out = {}
    for line in body.split("\n")[:-1]:
        name, sep, value = line.partition("=")
        assert sep and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name), line
        assert name not in out, f"{name} twice"
        out[name] = value
    return out


def check_parses(files, variables: dict[str, str]) -> None:
    for f in files:
        body = f.content.decode()
        if f.path.endswith(".yml"):
            assert isinstance(yaml.safe_load(body), dict), f.path
        elif f.path.endswith("/env"):
            env = env_lines(body)
            if f.path == "config/core/env":
                assert env["HARBOR_ADMIN_PASSWORD"] == variables["HARBOR_ADMIN_PASSWORD"]
        elif f.path.endswith("app.conf"):
            configparser.ConfigParser().read_string("[top]\n" + body)
        elif f.path.endswith("logrotate.conf"):
            lines = body.strip().split("\n")
            assert lines[0].endswith("{") and lines[-1] == "}" and body.count("{") == 1
            assert all(len(line.split()) <= 2 for line in lines[1:-1]), body
        elif f.path.endswith("rsyslog_docker.conf"):
            actions = re.findall(r"^\s*action\((.*)\)\s*$", body, re.M)
            assert len(actions) == 1 and body.count('"') % 2 == 0
            if "HARBOR_LOG_EXTERNAL_ENDPOINT_HOST" in variables:
                assert f'Target="{variables["HARBOR_LOG_EXTERNAL_ENDPOINT_HOST"]}"' in actions[0]
        elif f.path.endswith("nginx.conf"):
            _crossplane_check(body)


def _crossplane_check(body: str) -> None:
    import tempfile

    with tempfile.NamedTemporaryFile("w", suffix=".conf") as handle:
        handle.write(body)
        handle.flush()
        parsed = crossplane.parse(handle.name, single=True, check_ctx=True, check_args=True,
                                  ignore=["include"])
    assert parsed["errors"] == [], parsed["errors"]


def nginx_accepts(trees) -> None:
    """`nginx -t` on the proxy's and portal's nginx.conf of every (root, files), in one
    mount namespace whose hosts file names Harbor's services (nginx resolves upstreams)."""
    if NGINX is None:
        if os.environ.get("CI"):
            pytest.fail("nginx is not installed")
        pytest.skip("nginx is not installed")
    import tempfile

    with tempfile.TemporaryDirectory() as work:
        confs = []
        for root, files in trees:
            write_tree(files, Path(root))
            confs += [str(Path(root) / "config" / name / "nginx.conf") for name in ("nginx", "portal")]
        Path(work, "hosts").write_text(HOSTS)
        Path(work, "list").write_text("".join(c + "\n" for c in confs))
        script = (f'mount --bind "{work}/hosts" /etc/hosts && '
                  f'while IFS= read -r c; do {NGINX} -q -t -c "$c" || {{ echo "FAILED: $c"; '
                  f'exit 1; }}; done < "{work}/list"')
        result = subprocess.run(["unshare", "--mount", "sh", "-c", script], capture_output=True,
                                text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_accepted_combination_renders_files_that_parse(tmp_path):
    keys = session_keys()
    distinct: dict[str, dict] = {}

    @hsettings(max_examples=ACCEPTED_EXAMPLES, deadline=None, database=None,
               suppress_health_check=[HealthCheck.too_slow])
    @given(variables=accepted())
    def explore(variables):
        s = load(variables)
        files = render_all(s, keys, Paths("/harbor setup {x}"))
        check_parses(files, variables)
        nginx_pair = b"".join(f.content for f in files if f.path.endswith("nginx.conf"))
        distinct.setdefault(hashlib.sha256(nginx_pair).hexdigest(), variables)

    explore()
    # the real nginx, on a bounded number of the distinct configurations seen
    trees = []
    for i, variables in enumerate(list(distinct.values())[:NGINX_CHECKS]):
        root = tmp_path / f"out {i} {{x}}"
        trees.append((root, render_all(load(variables), keys, Paths(str(root)))))
    nginx_accepts(trees)


# --- rejected -------------------------------------------------------------------------------

_NOT_UTF8 = "\udcff"  # how os.environ carries an undecodable byte
_ANY_TEXT = ["a\nb", "x\r", "a\0b", "ok" + _NOT_UTF8, "x" * 20_000]
HOSTILE = {
    schema.STR: _ANY_TEXT,
    schema.INT: ["12x", "1e3", "0x10", "9" * 30, "-" + "9" * 12],
    schema.PORT: ["0", "65536", "-1", "http", "99999"],
    schema.FLOAT: ["fast", "nan", "inf", "-1", "2"],
    schema.BOOL: ["maybe", "2", "tru"],
    schema.ENUM: ["bogus", "INFO ", "https\n"],
    schema.JSON: ["[" * 5000, "{not json", "[1]", '{"a": 1}', '{"a":' * 20_000],
    schema.HOST: ["b\u00fccher.example", "a b", "x;y", 'h"', "[::1]", "h.example:443", "a..b"]
    + _ANY_TEXT,
    schema.URL: ["https://[::1", "ftp://x", "https://h.example:99999", "https://u:p@h.example",
                 "https://h.example?q=1", "https://h ex", "https://2001:db8::1"] + _ANY_TEXT,
    schema.SIZE: ["1M\n}\n/etc/shadow {", "1 G", "1T", "size"],
    schema.DURATION: ["5 minutes", "1d", "5m; x"],
    schema.URLPATH: ["/m { return 200 pwned; } location /x", "metrics", "/a b", '/a"b', "/$x"],
    schema.LIST: ["a\n~INJECTED=1", "a b", "a,b\tc", "x" + _NOT_UTF8],
    schema.PATH: ["/dev/zero", "/nonexistent/file.pem"],
    schema.DIR: ["/nonexistent/dir"],
}
SPECIFIC = {  # values refused by a rule of their own
    "HARBOR_HOSTNAME": ["::1", "LOCALHOST", "0.0.0.0", "127.0.0.1", "localhost",
                        "reg.mydomain.com"],
    "HARBOR_EXTERNAL_URL": ["https://h.example/path"],
    "HARBOR_ADMIN_PASSWORD": [""],
    "HARBOR_DATABASE_PASSWORD": [""],
    "HARBOR_HTTPS_CERT_VALIDITY_DAYS": ["99999999", "-10", "0"],
    "HARBOR_REDIS_REGISTRY_DB_INDEX": ["-1"],
    "HARBOR_DATABASE_MAX_OPEN_CONNS": ["-1"],
    "HARBOR_SECRET_KEY": ["short"],
    "HARBOR_PROXY_HTTP_PROXY": ["ftp://proxy", "http://[::1"],
    "HARBOR_LOG_EXTERNAL_ENDPOINT_HOST": ['syslog" Port="1'],
    "HARBOR_METRIC_PATH": ["/m { return 200 pwned; } location /x"],
    "HARBOR_LOG_LOCAL_ROTATE_SIZE": ["1M\n}\n/etc/shadow {"],
    "HARBOR_PROXY_NO_PROXY": ["a\n~INJECTED=1"],
}
# PATH settings read only in some configurations: the ones always read are drawn
PATH_ALWAYS_READ = {"HARBOR_STORAGE_SERVICE_CA_BUNDLE", "HARBOR_UAA_CA_FILE"}


def _candidates(setting) -> list[str]:
    if setting.kind in (schema.PATH, schema.DIR) and setting.env_name not in PATH_ALWAYS_READ:
        return []
    values = list(HOSTILE[setting.kind]) + SPECIFIC.get(setting.env_name, [])
    if setting.choices and setting.kind == schema.LIST:
        values.append("NOT_A_CHOICE")
    return values


REJECTABLE = [(s.env_name, v) for s in schema.SETTINGS for v in _candidates(s)]


@st.composite
def rejected(draw):
    base = draw(accepted())
    wrong = dict(draw(st.lists(st.sampled_from(REJECTABLE), min_size=1, max_size=3,
                               unique_by=lambda pair: pair[0])))
    # the same values through an imported harbor.yml (a UTF-8 file: no undecodable bytes)
    via_file = all(_NOT_UTF8 not in v for v in wrong.values()) and draw(st.booleans())
    return {k: v for k, v in base.items() if k not in wrong}, wrong, via_file


def harbor_yml(wrong: dict[str, str]) -> str:
    tree: dict = {}
    for name, value in wrong.items():
        *parents, leaf = schema.BY_ENV[name].key.split(".")
        node = tree
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return yaml.safe_dump(tree, allow_unicode=True)


def test_every_rejected_combination_names_each_wrong_variable():
    @hsettings(max_examples=REJECTED_EXAMPLES, deadline=None, database=None,
               suppress_health_check=[HealthCheck.too_slow])
    @given(case=rejected())
    def explore(case):
        base, wrong, via_file = case
        with tempfile.TemporaryDirectory() as folder:
            variables = {**base, **wrong}
            if via_file:
                Path(folder, "harbor.yml").write_text(harbor_yml(wrong), encoding="utf-8")
                variables = {**base, "HARBOR_CONFIG_FILE": str(Path(folder, "harbor.yml"))}
            with pytest.raises(InvalidSettings) as caught:
                load(variables)
        errors = caught.value.errors
        for name, value in wrong.items():
            assert any(e.startswith((name + ":", name + "_FILE:", name + " ")) for e in errors), (
                name, errors)
            setting = schema.BY_ENV[name]
            if setting.secret and len(value) > 3:
                assert not any(value in e for e in errors), name
        assert all(len(e) < 600 for e in errors)
        assert all(_NOT_UTF8 not in e for e in errors)

    explore()
