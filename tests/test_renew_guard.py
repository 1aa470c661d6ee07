"""A renew task whose variables differ from those the current generation was made from (one
still running from before a redeploy, or one started before the new setupwrapper ran) leaves
the round alone instead of publishing its own settings over the other's."""

from __future__ import annotations

import io
import os
from contextlib import redirect_stderr

from wrapper import cli, renew, tree

BASE = {"HARBOR_HOSTNAME": "renew-guard.example.test", "HARBOR_ADMIN_PASSWORD": "s3cret-admin-pw"}


def _with(monkeypatch, env: dict) -> None:
    for name in [k for k in os.environ if k.startswith("HARBOR_")]:
        monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)


def test_a_round_with_other_variables_publishes_nothing(out, monkeypatch):
    _with(monkeypatch, {**BASE, "HARBOR_LOG_LEVEL": "debug"})  # the redeploy's setupwrapper
    with redirect_stderr(io.StringIO()):
        assert cli.main(["generate", "--out", str(out)]) == 0
    published = tree.read_marker(str(out))["generation"]
    core_env = (out / "current" / "config" / "core" / "env").read_text()

    _with(monkeypatch, {**BASE, "HARBOR_LOG_LEVEL": "info"})  # the old renew task
    err = io.StringIO()
    with redirect_stderr(err):
        assert renew.one_round(str(out), False, cli.main) == 0
    assert "made from other variables or files than this service has" in err.getvalue()
    assert tree.read_marker(str(out))["generation"] == published
    assert (out / "current" / "config" / "core" / "env").read_text() == core_env

    _with(monkeypatch, {**BASE, "HARBOR_LOG_LEVEL": "debug"})  # the new renew task
    err = io.StringIO()
    with redirect_stderr(err):
        assert renew.one_round(str(out), False, cli.main) == 0
    assert "other variables" not in err.getvalue()
    assert tree.read_marker(str(out))["generation"] == published  # nothing due: fast path
