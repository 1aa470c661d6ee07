"""Hostile and wrong input: every problem at once, named, in a stable order, never a traceback,
never a hang, never a huge or secret value echoed."""

import os
import subprocess
import sys

import pytest

from support import REPO, clean_env
from wrapper.context import public_url
from wrapper.settings import InvalidSettings, load

BASE = {"HARBOR_HOSTNAME": "harbor.example.test"}


def errors_of(variables) -> list[str]:
    with pytest.raises(InvalidSettings) as caught:
        load(variables)
    return caught.value.errors


def named(errors) -> list[str]:
    return [e.split(":", 1)[0].split(" ", 1)[0] for e in errors]


def test_every_problem_at_once_in_the_schema_order():
    errors = errors_of({"HARBOR_HOSTNAME": "", "HARBOR_HTTP_PORT": "x",
                        "HARBOR_SECRET_KEY": "x", "HARBOR_EXTERNAL_URL": "ftp://x"})
    assert named(errors) == ["HARBOR_HOSTNAME", "HARBOR_HTTP_PORT", "HARBOR_EXTERNAL_URL",
                             "HARBOR_SECRET_KEY"], errors
    again = errors_of({"HARBOR_EXTERNAL_URL": "ftp://x", "HARBOR_SECRET_KEY": "x",
                       "HARBOR_HTTP_PORT": "x", "HARBOR_HOSTNAME": ""})
    assert again == errors


def test_unknown_variables_are_warned_with_the_closest_name_even_when_invalid():
    with pytest.raises(InvalidSettings) as caught:
        load({"HARBOR_DATABSE_PASSWORD": "x", "HARBOR_HTTP_PORT": "x"})
    warnings = caught.value.settings.warnings
    assert any(w.startswith("HARBOR_DATABSE_PASSWORD ") and
               "did you mean HARBOR_DATABASE_PASSWORD?" in w for w in warnings), warnings
    s = load({**BASE, "HARBOR_DATABSE_PASSWORD": "x", "HARBOR_NFS_SERVER": "n",
              "HARBOR_CORE_REPLICAS": "2"})
    assert len(s.warnings) == 1


def test_strict_makes_unknown_variables_errors():
    errors = errors_of({**BASE, "HARBOR_DATABSE_PASSWORD": "x", "HARBOR_STRICT": "true"})
    assert errors[0].startswith("HARBOR_DATABSE_PASSWORD:") and "did you mean" in errors[0]
    assert load({**BASE, "HARBOR_STRICT": "true", "HARBOR_IMAGE_TAG": "v"}).warnings == []
    assert named(errors_of({**BASE, "HARBOR_STRICT": "perhaps"})) == ["HARBOR_STRICT"]


@pytest.mark.parametrize("url", [
    "https://reg.example.com:99999", "https://reg.example.com:0", "https://reg example.com",
    "https://reg.example.com?x=1", "https://user:pass@reg.example.com", "https://[::1",
    "https://2001:db8::1", "https://b\u00fccher.example", "ftp://reg.example.com",
    "https://reg.example.com/harbor", "https://", "https://reg.example.com#top",
])
def test_external_urls_harbor_cannot_use_are_refused(url):
    errors = errors_of({**BASE, "HARBOR_EXTERNAL_URL": url})
    assert named(errors) == ["HARBOR_EXTERNAL_URL"], errors
    assert "pass" not in errors[0] or "user:password" in errors[0]


def test_other_loopback_addresses_stay_accepted_for_test_machines():
    assert load({"HARBOR_HOSTNAME": "127.0.0.2"})["hostname"] == "127.0.0.2"


def test_bracketed_ipv6_external_url_and_ipv6_hostname():
    assert load({**BASE, "HARBOR_EXTERNAL_URL": "https://[2001:db8::1]:8443"})
    s = load({"HARBOR_HOSTNAME": "2001:db8::5", "HARBOR_HTTPS_PORT": "8443"})
    assert public_url(s) == "https://[2001:db8::5]:8443"


@pytest.mark.parametrize("host", ["::1", "LOCALHOST", "0.0.0.0", "localhost", "127.0.0.1",
                                  "Localhost.", "::", "::ffff:127.0.0.1", "0:0::1",
                                  "b\u00fccher.example", "a..b", "-x.example", "x.example:443"])
def test_hostnames_others_cannot_reach_or_that_are_not_names_are_refused(host):
    assert named(errors_of({"HARBOR_HOSTNAME": host})) == ["HARBOR_HOSTNAME"]


@pytest.mark.parametrize("variables,name", [
    ({"HARBOR_ADMIN_PASSWORD": ""}, "HARBOR_ADMIN_PASSWORD"),
    ({"HARBOR_DATABASE_PASSWORD": ""}, "HARBOR_DATABASE_PASSWORD"),
    ({"HARBOR_REDIS_REGISTRY_DB_INDEX": "-1"}, "HARBOR_REDIS_REGISTRY_DB_INDEX"),
    ({"HARBOR_EXTERNAL_REDIS_HOST": "r:6379", "HARBOR_EXTERNAL_REDIS_TRIVY_DB_INDEX": "-5"},
     "HARBOR_EXTERNAL_REDIS_TRIVY_DB_INDEX"),
    ({"HARBOR_DATABASE_MAX_IDLE_CONNS": "-1"}, "HARBOR_DATABASE_MAX_IDLE_CONNS"),
    ({"HARBOR_DATABASE_MAX_OPEN_CONNS": "-900"}, "HARBOR_DATABASE_MAX_OPEN_CONNS"),
    ({"HARBOR_HTTPS_CERT_VALIDITY_DAYS": "99999999"}, "HARBOR_HTTPS_CERT_VALIDITY_DAYS"),
    ({"HARBOR_HTTPS_CERT_VALIDITY_DAYS": "-10"}, "HARBOR_HTTPS_CERT_VALIDITY_DAYS"),
    ({"HARBOR_HTTPS_CERT_VALIDITY_DAYS": "0"}, "HARBOR_HTTPS_CERT_VALIDITY_DAYS"),
    ({"HARBOR_JOBSERVICE_MAX_JOB_WORKERS": "9" * 5000}, "HARBOR_JOBSERVICE_MAX_JOB_WORKERS"),
    ({"HARBOR_TRACE_SAMPLE_RATE": "nan", "HARBOR_TRACE_OTEL_ENDPOINT": "o:4318",
      "HARBOR_TRACE_OTEL_URL_PATH": "/v1"}, "HARBOR_TRACE_SAMPLE_RATE"),
    ({"HARBOR_PROXY_NO_PROXY": "a\n~INJECTED=1"}, "HARBOR_PROXY_NO_PROXY"),
    ({"HARBOR_PROXY_NO_PROXY": "a b"}, "HARBOR_PROXY_NO_PROXY"),
    ({"HARBOR_METRIC_PATH": "/m { return 200 pwned; } location /x"}, "HARBOR_METRIC_PATH"),
    ({"HARBOR_LOG_EXTERNAL_ENDPOINT_HOST": 'syslog" Port="1', "HARBOR_LOG_EXTERNAL_ENDPOINT_PORT":
      "514"}, "HARBOR_LOG_EXTERNAL_ENDPOINT_HOST"),
    ({"HARBOR_LOG_LOCAL_ROTATE_SIZE": "1M\n}\n/etc/shadow {"}, "HARBOR_LOG_LOCAL_ROTATE_SIZE"),
    ({"HARBOR_LOG_LOCAL_ROTATE_SIZE": "1M daily"}, "HARBOR_LOG_LOCAL_ROTATE_SIZE"),
    ({"HARBOR_DATABASE_CONN_MAX_LIFETIME": "5 minutes"}, "HARBOR_DATABASE_CONN_MAX_LIFETIME"),
    ({"HARBOR_TRIVY_TIMEOUT": "5m; rm"}, "HARBOR_TRIVY_TIMEOUT"),
    ({"HARBOR_TRACE_ATTRIBUTES": "[" * 100000}, "HARBOR_TRACE_ATTRIBUTES"),
    ({"HARBOR_PROXY_HTTP_PROXY": "http://u:p@[::1"}, "HARBOR_PROXY_HTTP_PROXY"),
    ({"HARBOR_EXTERNAL_REDIS_HOST": "r:6379?x", "HARBOR_EXTERNAL_REDIS_PASSWORD": "p"},
     "HARBOR_EXTERNAL_REDIS_HOST"),
    ({"HARBOR_EXTERNAL_REDIS_HOST": "r:6379", "HARBOR_EXTERNAL_REDIS_SENTINEL_MASTER_SET":
      "m/0?x"}, "HARBOR_EXTERNAL_REDIS_SENTINEL_MASTER_SET"),
    ({"HARBOR_TRACE_JAEGER_ENDPOINT": "jaeger:14268"}, "HARBOR_TRACE_JAEGER_ENDPOINT"),
])
def test_accepted_though_wrong_values_are_refused(variables, name):
    assert name in named(errors_of({**BASE, **variables}))


def test_a_non_utf8_byte_in_any_value_is_refused_by_name():
    errors = errors_of({**BASE, "HARBOR_TRIVY_DB_REPOSITORY": "a\udcffb",
                        "HARBOR_ADMIN_PASSWORD": "x\udce9"})
    assert named(errors) == ["HARBOR_ADMIN_PASSWORD", "HARBOR_TRIVY_DB_REPOSITORY"]
    assert all("\udcff" not in e and "\udce9" not in e for e in errors)


def test_huge_values_are_cut_and_secrets_never_echoed():
    errors = errors_of({**BASE, "HARBOR_EXTERNAL_URL": "https://x/" + "a" * 120_000,
                        "HARBOR_LOG_LEVEL": "b" * 120_000,
                        "HARBOR_PROXY_HTTP_PROXY": "ftp://user:hunter2@proxy"})
    assert all(len(e) < 400 for e in errors), [len(e) for e in errors]
    assert not any("hunter2" in e for e in errors)


def test_values_are_single_lines_even_from_harbor_yml(tmp_path):
    harbor_yml = tmp_path / "harbor.yml"
    harbor_yml.write_text('hostname: h.example.test\nproxy:\n  no_proxy: "a\\n~INJECTED=1"\n'
                          '  components: [core]\n')
    assert "HARBOR_PROXY_NO_PROXY" in named(errors_of({"HARBOR_CONFIG_FILE": str(harbor_yml)}))


@pytest.mark.parametrize("body", [b"hostname: h\xff.example\n", b"a:\n" + b"  - [" * 5000,
                                  b"x: " + b"[" * 100000,
                                  b"a: &a [x, x, x, x, x, x, x, x, x, x]\n" + b"".join(
                                      b"%c: &%c [*%c, *%c, *%c, *%c, *%c, *%c, *%c, *%c]\n"
                                      % ((98 + i,) * 2 + (97 + i,) * 8) for i in range(9))
                                  + b"hostname: *j\n",
                                  b"hostname: [unclosed\n", b"- a list\n"])
def test_broken_harbor_yml_is_named(tmp_path, body):
    harbor_yml = tmp_path / "harbor.yml"
    harbor_yml.write_bytes(body)
    errors = errors_of({"HARBOR_CONFIG_FILE": str(harbor_yml)})
    assert any(e.startswith("HARBOR_CONFIG_FILE:") for e in errors), errors
    assert all(len(e) < 400 for e in errors)


def test_files_that_are_not_regular_are_refused_without_reading(tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    for variables, name in [
            ({"HARBOR_ADMIN_PASSWORD_FILE": "/dev/zero"}, "HARBOR_ADMIN_PASSWORD_FILE"),
            ({"HARBOR_ADMIN_PASSWORD_FILE": str(fifo)}, "HARBOR_ADMIN_PASSWORD_FILE"),
            ({"HARBOR_CONFIG_FILE": str(fifo)}, "HARBOR_CONFIG_FILE"),
            ({"HARBOR_CONFIG_FILE": "/dev/zero"}, "HARBOR_CONFIG_FILE"),
            ({"HARBOR_STORAGE_SERVICE_CA_BUNDLE": str(fifo)}, "HARBOR_STORAGE_SERVICE_CA_BUNDLE"),
            ({"HARBOR_UAA_CA_FILE": "/dev/zero"}, "HARBOR_UAA_CA_FILE")]:
        assert named(errors_of({**BASE, **variables})) == [name]


def test_a_secret_file_that_is_too_big_or_not_utf8_is_refused(tmp_path):
    big, latin = tmp_path / "big", tmp_path / "latin"
    big.write_bytes(b"x" * 200_000)
    latin.write_bytes(b"caf\xe9")
    for path in (big, latin):
        errors = errors_of({**BASE, "HARBOR_DATABASE_PASSWORD_FILE": str(path)})
        assert named(errors) == ["HARBOR_DATABASE_PASSWORD_FILE"]


def run_cli(args, variables, env_extra=None, timeout=60):
    env = clean_env(variables)
    env.update(env_extra or {})
    return subprocess.run([sys.executable, "-m", "wrapper", *args], cwd=REPO, env=env,
                          capture_output=True, timeout=timeout)


def _env_bytes(variables: dict) -> dict:
    """os.environ as a process with these raw bytes in its variables sees them."""
    return {k: os.fsdecode(v) if isinstance(v, bytes) else v for k, v in variables.items()}


# The audit's tracebacks and hangs, through the real command line.
HOSTILE = [
    {"HARBOR_EXTERNAL_URL": "https://[::1"},
    {"HARBOR_HOSTNAME": "b\u00fccher.example"},
    {"HARBOR_EXTERNAL_URL": "https://b\u00fccher.example"},
    {"HARBOR_HTTPS_CERT_VALIDITY_DAYS": "99999999"},
    {"HARBOR_HTTPS_CERT_VALIDITY_DAYS": "-10"},
    {"HARBOR_HTTPS_CERT_VALIDITY_DAYS": "0"},
    {"HARBOR_HOSTNAME": b"h\xff.example"},
    {"HARBOR_ADMIN_PASSWORD": b"\xff"},
    {b"HARBOR_\xff": "x", "HARBOR_STRICT": "true"},
    {"HARBOR_TRACE_ATTRIBUTES": "{\"a\":" * 20000},
    {"HARBOR_ADMIN_PASSWORD_FILE": "/dev/zero"},
    {"HARBOR_PROXY_NO_PROXY": "a\n~INJECTED=1"},
]


@pytest.mark.parametrize("command", ["check", "show", "generate"])
@pytest.mark.parametrize("variables", HOSTILE, ids=range(len(HOSTILE)))
def test_cli_never_tracebacks_on_hostile_input(command, variables, tmp_path):
    raw = {os.fsdecode(k) if isinstance(k, bytes) else k: v for k, v in variables.items()}
    env = {"HARBOR_HOSTNAME": "harbor.example.test", **_env_bytes(raw)}
    args = [command] + (["--out", str(tmp_path / "out")] if command == "generate" else [])
    result = run_cli(args, env)
    assert result.returncode == 2, result.stderr.decode(errors="replace")
    assert b"Traceback" not in result.stderr
    assert not (tmp_path / "out" / "ready").exists()


def test_cli_config_file_fifo_does_not_hang(tmp_path):
    fifo = tmp_path / "harbor.yml"
    os.mkfifo(fifo)
    for command in ("check", "generate"):
        args = [command] + (["--out", str(tmp_path / "out")] if command == "generate" else [])
        result = run_cli(args, {"HARBOR_CONFIG_FILE": str(fifo)}, timeout=30)
        assert result.returncode == 2 and b"HARBOR_CONFIG_FILE" in result.stderr


def test_show_on_invalid_settings_shows_what_it_can_and_the_problems():
    result = run_cli(["show"], {**BASE, "HARBOR_HTTP_PORT": "x", "HARBOR_LOG_LEVEL": "debug"})
    assert result.returncode == 2
    out, err = result.stdout.decode(), result.stderr.decode()
    assert "harbor.example.test" in out and "debug" in out
    assert "HARBOR_HTTP_PORT" in out and "invalid" in out
    assert "  HARBOR_HTTP_PORT: the value 'x' is not accepted" in err


def test_show_with_a_terminal_that_cannot_print_the_value():
    result = run_cli(["show", "--all"],
                     {**BASE, "HARBOR_TRIVY_DB_REPOSITORY": "caf\u00e9 \u2603"},
                     {"PYTHONIOENCODING": "ascii", "LC_ALL": "C"})
    assert result.returncode == 0, result.stderr
    assert b"caf\\xe9 \\u2603" in result.stdout


def test_check_does_not_call_a_non_utf8_value_valid():
    result = run_cli(["check"], _env_bytes({**BASE, "HARBOR_TRACE_NAMESPACE": b"\xff"}))
    assert result.returncode == 2 and b"HARBOR_TRACE_NAMESPACE: contains bytes" in result.stderr


# Last line of defence: values that would change a file's syntax never reach it.

def test_env_files_refuse_a_line_break_whatever_validation_let_through():
    from wrapper.files import UnsafeValue, env_file

    for value in ("a\n~INJECTED=1", "a\rb", "a\0b"):
        with pytest.raises(UnsafeValue) as caught:
            env_file("config/core/env", {"NO_PROXY": value})
        assert "INJECTED" not in str(caught.value)
    with pytest.raises(UnsafeValue):
        env_file("config/core/env", {"A=B": "x"})


def test_nginx_strings_and_plain_words_refuse_what_would_escape():
    from wrapper.files import UnsafeValue, nginx_string, token

    assert nginx_string("/out dir/{x};") == '"/out dir/{x};"'
    for value in ('/a"b', "/a$b", "/a\\b", "/a\nb"):
        with pytest.raises(UnsafeValue):
            nginx_string(value)
    assert token("200M") == "200M" and token("[2001:db8::1]") == "[2001:db8::1]"
    for value in ("1M\n}", 'h" Port="1', "a b", ""):
        with pytest.raises(UnsafeValue):
            token(value)


@pytest.mark.parametrize("out", ["out dir", "out{x};", "o;u t{}"])
def test_an_output_folder_with_spaces_or_braces_gives_an_nginx_conf_nginx_accepts(tmp_path, out):
    from test_properties import nginx_accepts  # the real nginx -t, with Harbor's hosts

    from helpers_keys import session_keys
    from wrapper.components import render_all
    from wrapper.context import Paths

    root = tmp_path / out
    files = render_all(load({**BASE, "HARBOR_INTERNAL_TLS_ENABLED": "true",
                             "HARBOR_METRIC_PORT": "9091"}), session_keys(), Paths(str(root)))
    nginx_accepts([(root, files)])


@pytest.mark.parametrize("out", ['a"b', "a$b", "a\\b", "a\nb", ""])
def test_an_output_folder_nginx_cannot_hold_is_refused(tmp_path, out):
    result = run_cli(["generate", "--out", str(tmp_path / out) if out else ""], BASE)
    assert result.returncode == 2 and b"--out / HARBOR_SETUP_DIR:" in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_every_default_passes_the_grammar_of_its_own_setting():
    from wrapper import schema
    from wrapper.validation import _check_kind

    problems = []
    for setting in schema.SETTINGS:
        _check_kind(setting, setting.default, problems.append)
    assert problems == []
