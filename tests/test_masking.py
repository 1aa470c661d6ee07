"""No secret in any output (wrapper/masking.py), enumerated from the schema, not sampled.

Every setting marked secret gets bad values (and a good one) by each route that can carry
it (the variable, NAME_FILE, harbor.yml); every other setting gets a URL with userinfo, with
and without a scheme. The value (or the password in the userinfo) must appear in no output of
any command, and in none of the messages and `show` text at their source (before the
stream-level backstop), so both layers of the rule are held to it.
"""

from __future__ import annotations

import io
import json
import os
import time
import types
from pathlib import Path

import pytest
import yaml

from wrapper import cli, docs, masking, schema
from wrapper.settings import InvalidSettings, load

BASE = {"HARBOR_HOSTNAME": "harbor.example.test"}
SECRETS = [s for s in schema.SETTINGS if s.secret]
OTHERS = [s for s in schema.SETTINGS if not s.secret]


def _password(setting) -> str:
    return f"Pw-{setting.env_name[7:].lower().replace('_', '-')}-S3cr3t"


def secret_values(setting) -> dict[str, str]:
    """Bad values of every kind validation refuses, the kind-specific one, and a good one."""
    pw = _password(setting)
    values = {
        "line break": f"{pw}\nsecond-line",
        "too long": pw + "x" * (17 * 1024),
        "control character": f"{pw}\x07",
        "wrong in place": {  # what this setting's own rule refuses
            "HARBOR_SECRET_KEY": pw[:15] + "-too-long",
            "HARBOR_CSRF_KEY": pw,
            "HARBOR_CORE_SECRET": f"{pw} with spaces",
            "HARBOR_JOBSERVICE_SECRET": f"{pw} with spaces",
            "HARBOR_REGISTRY_HTTP_SECRET": f"{pw} with spaces",
            "HARBOR_PROXY_HTTP_PROXY": f"ftp://user:{pw}@proxy.example.test",
            "HARBOR_PROXY_HTTPS_PROXY": f"https://user:{pw}@proxy example.test",
        }.get(setting.env_name, f"{pw}\r"),
        "accepted": pw,
    }
    return values


def userinfo_values(setting) -> dict[str, tuple[str, str]]:
    """(value, password) of a URL-like value with userinfo."""
    pw = _password(setting)
    return {"with scheme, @ and / in the password": (f"https://bob:a@/{pw}@reg.example.test", pw),
            "without scheme": (f"bob:{pw}@reg.example.test", pw)}


def _secret_cases():
    for setting in SECRETS:
        for label, value in secret_values(setting).items():
            for route in ("variable", "file", "harbor.yml"):
                if route == "file" and label == "too long":
                    continue  # NAME_FILE caps the file at 64 KiB: covered by the variable
                yield pytest.param(setting, route, value, _password(setting),
                                   id=f"{setting.env_name}-{route}-{label}")


def _userinfo_cases():
    """Both spellings as a variable; through harbor.yml (the same values afterwards), one."""
    for setting in OTHERS:
        for label, (value, pw) in userinfo_values(setting).items():
            for route in ("variable", "harbor.yml"):
                if route == "harbor.yml" and label == "without scheme":
                    continue
                yield pytest.param(setting, route, value, pw,
                                   id=f"{setting.env_name}-{route}-{label}")


SECRET_CASES = list(_secret_cases())
USERINFO_CASES = list(_userinfo_cases())


def test_the_cases_cover_the_schema():
    """Every secret setting, by every route; every other setting with userinfo."""
    assert {c.values[0].key for c in SECRET_CASES} == {s.key for s in SECRETS}
    assert {c.values[0].key for c in USERINFO_CASES} == {s.key for s in OTHERS}
    print(f"\n{len(SECRETS)} secret settings, {len(SECRET_CASES)} cases; "
          f"{len(OTHERS)} other settings, {len(USERINFO_CASES)} userinfo cases")
    assert len(SECRET_CASES) == len(SECRETS) * (5 * 3 - 1)
    assert len(USERINFO_CASES) == len(OTHERS) * 3


def _variables(setting, route, value, tmp_path) -> dict[str, str]:
    if route == "variable":
        return {**BASE, setting.env_name: value}
    if route == "file":
        path = tmp_path / "secret"
        path.write_text(value)
        return {**BASE, setting.env_name + "_FILE": str(path)}
    tree: dict = {}
    node = tree
    *parents, leaf = setting.key.split(".")
    for part in parents:
        node = node.setdefault(part, {})
    node[leaf] = value
    path = tmp_path / "harbor.yml"
    path.write_text(yaml.safe_dump({"hostname": "harbor.example.test", **tree}))
    return {"HARBOR_CONFIG_FILE": str(path)}


def _messages(variables) -> str:
    """Errors, warnings and `show` as made at their source: no stream backstop involved."""
    try:
        settings = load(variables)
        errors = []
    except InvalidSettings as err:
        settings, errors = err.settings, err.errors
    text = "\n".join(errors)
    if settings is not None:
        text += "\n".join(settings.warnings) + docs.show(settings, include_off=True)
    return text


def _forms(secret: str) -> list[str]:
    return [secret, repr(secret)[1:-1], json.dumps(secret)[1:-1]]


def _commands(tmp_path) -> dict[str, list[str]]:
    """Every command; `reads` tells which read the settings (and run once per case)."""
    out = str(tmp_path / "out")  # the `out` fixture: its store holds a token key already
    return {
        "check": ["check"],
        "show": ["show", "--all"],
        "generate": ["generate", "--out", out],
        "status": ["status", "--out", out],
        "status --json": ["status", "--out", out, "--json"],
        "init-data": ["init-data", "--root", str(tmp_path / "no-data")],
        "restore-keys": ["restore-keys", "nothing", "--backups", str(tmp_path / "none"),
                         "--out", out, "--storage", ""],
        "rollback": ["rollback", "--out", out, "--database", str(tmp_path / "no-database")],
        "variables": ["variables"],
        "renew": ["renew", "--out", out, "--now"],  # one round: see _one_renew_round
    }


READ_SETTINGS = ("check", "show", "generate")


def test_every_command_is_run():
    parser = cli._parser()
    action = next(a for a in parser._actions if a.dest == "command")
    assert {args[0] for args in _commands(Path("/x")).values()} == set(action.choices)


def _set(variables, monkeypatch):
    for name in [n for n in os.environ if n.startswith("HARBOR_")]:
        monkeypatch.delenv(name)
    for name, value in variables.items():
        monkeypatch.setenv(name, value)


def _run(commands, capsys) -> str:
    printed = []
    for args in commands:
        try:
            code = cli.main(args)
        except SystemExit as exit_:
            code = exit_.code
        captured = capsys.readouterr()
        assert "Traceback" not in captured.err, (args, captured.err)
        printed.append(f"{args} exit {code}\n{captured.out}{captured.err}")
    return "\n".join(printed)


def _run_every_command(variables, tmp_path, monkeypatch, capsys) -> str:
    """The commands that read the settings. A valid setting is not generated per case (a
    whole generation each): test_generate_with_every_secret_set_shows_none does that."""
    _set(variables, monkeypatch)
    valid = not _refused(variables)
    return _run([args for name, args in _commands(tmp_path).items()
                 if name in READ_SETTINGS and not (name == "generate" and valid)], capsys)


def _one_renew_round(monkeypatch):
    """`renew` loops until stopped: its first wait ends it, after the first round (only
    renew's own view of the time module is replaced, not time.sleep for everyone)."""
    from wrapper import renew

    def stop(_seconds):
        raise SystemExit(0)

    monkeypatch.setattr(renew, "time", types.SimpleNamespace(monotonic=time.monotonic, sleep=stop))


def _refused(variables) -> bool:
    try:
        load(variables)
        return False
    except InvalidSettings:
        return True


def _assert_absent(secret: str, text: str, where: str):
    for form in _forms(secret):
        assert form not in text, f"{where} shows {form!r}:\n{text[:3000]}"


@pytest.mark.parametrize("setting,route,value,secret", SECRET_CASES)
def test_a_secret_setting_never_shows_its_value(setting, route, value, secret, tmp_path, out,
                                                monkeypatch, capsys):
    variables = _variables(setting, route, value, tmp_path)
    _assert_absent(secret, _messages(variables), "a message at its source")
    _assert_absent(secret, _run_every_command(variables, tmp_path, monkeypatch, capsys),
                   "a command")


@pytest.mark.parametrize("setting,route,value,secret", USERINFO_CASES)
def test_a_url_never_shows_its_userinfo(setting, route, value, secret, tmp_path, out,
                                        monkeypatch, capsys):
    variables = _variables(setting, route, value, tmp_path)
    _assert_absent(secret, _messages(variables), "a message at its source")
    _assert_absent(secret, _run_every_command(variables, tmp_path, monkeypatch, capsys),
                   "a command")


def test_generate_with_every_secret_set_shows_none(tmp_path, out, monkeypatch, capsys):
    """A whole generation (and a rerun, and status) with every secret setting given."""
    variables = {**BASE, **{s.env_name: _password(s) for s in SECRETS
                            if not s.block and s.env_name not in (
                                "HARBOR_SECRET_KEY", "HARBOR_CSRF_KEY")}}
    for name in ("HARBOR_PROXY_HTTP_PROXY", "HARBOR_PROXY_HTTPS_PROXY"):
        variables[name] = f"http://user:{variables[name]}@proxy.example.test:3128"
    variables["HARBOR_SECRET_KEY"] = "Pw-16-chars-key!"
    variables["HARBOR_CSRF_KEY"] = "Pw-32-characters-csrf-key-S3cr3t"
    _set(variables, monkeypatch)
    _one_renew_round(monkeypatch)
    started = time.perf_counter()
    commands = _commands(tmp_path)
    printed = _run([commands["generate"], *commands.values()], capsys)
    assert " ms  valid" in printed and "status:        OK" in printed, printed
    for name, value in variables.items():
        if schema.BY_ENV[name].secret:
            _assert_absent(value.split("@")[0].split(":")[-1], printed, "a command")
    print(f"\n{len(variables) - 1} secrets through {len(commands) + 1} commands in "
          f"{time.perf_counter() - started:.1f} s")


@pytest.mark.parametrize("text,expected", [
    ("https://bob:S3cretPW@reg.example.com", "https://***@reg.example.com"),
    ("'https://b:p@ss@h/x'", "'https://***@h/x'"),
    ("redis://:pw@redis:6379/1", "redis://***@redis:6379/1"),
    ("bob:pw@host", "***@host"),
    ("postgres://u:p@db/registry?sslmode=disable", "postgres://***@db/registry?sslmode=disable"),
    ("socks5://u:p/x@h:1", "socks5://***@h:1"),
    ("mail bob@example.org", "mail bob@example.org"),
    ("the value 2001:db8::1 is", "the value 2001:db8::1 is"),
    ("https://reg.example.com/path", "https://reg.example.com/path"),
])
def test_userinfo_is_stripped(text, expected):
    assert masking.strip_userinfo(text) == expected


def test_the_stream_backstop_masks_remembered_values_across_writes():
    masking.remember("Backstop-S3cret-value")
    masking.remember("https://u:Backstop-Url-Pw@h.example", secret=False)
    sink = io.StringIO()
    stream = masking.MaskedStream(sink)
    stream.write("a Backstop-")
    stream.write("S3cret-value and Backstop-Url-Pw\n")
    stream.write('{"x": "Backstop-S3cret-value"}')
    stream.flush()
    assert sink.getvalue() == f"a {masking.MASK} and {masking.MASK}\n{{\"x\": \"{masking.MASK}\"}}"
