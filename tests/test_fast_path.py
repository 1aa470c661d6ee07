"""The unchanged-input rerun stops after hashing its raw inputs: it imports nothing heavy (its
time is measured by bench/bench.py against its 45 ms target, not here)."""

from __future__ import annotations

import json
import subprocess
import sys

from support import REPO, clean_env
from test_generate import BASE, generate

PROBE = r"""
import json, sys
from wrapper.cli import main
code = main(sys.argv[1:])
print(json.dumps({"code": code, "modules": sorted(sys.modules)}))
"""

HEAVY = ("argparse", "hashlib", "hmac", "wrapper.settings", "wrapper.schema", "wrapper.components",
         "wrapper.keys", "wrapper.pki", "wrapper.files", "wrapper.context", "jinja2", "yaml",
         "environs", "marshmallow", "cryptography", "bcrypt", "threading", "dataclasses")


def _rerun(out, *args):
    result = subprocess.run([sys.executable, "-c", PROBE, "generate", "--out", str(out), *args],
                            cwd=REPO, env=clean_env(BASE),
                            capture_output=True, text=True, check=True)
    return json.loads(result.stdout), result.stderr


def test_an_unchanged_rerun_imports_nothing_heavy(out):
    assert generate(out).returncode == 0
    probe, stderr = _rerun(out)
    assert probe["code"] == 0 and "unchanged" in stderr
    assert [m for m in probe["modules"] if m.startswith(HEAVY)] == []


def test_the_fixed_paths_know_the_trust_bundle_without_importing_the_components():
    from wrapper import fixed_paths
    from wrapper.components import shared

    assert fixed_paths.TRUST_BUNDLE == shared.TRUST_BUNDLE


def test_a_rerun_after_the_links_went_missing_restores_them(out):
    assert generate(out).returncode == 0
    (out / "config").unlink()
    (out / "ready").unlink()
    result = generate(out)
    assert result.returncode == 0 and "up to date" not in result.stderr
    assert (out / "ready").is_file() and (out / "config/core/env").is_file()


def test_the_fast_path_hmac_is_rfc_2104():
    import hashlib
    import hmac

    from wrapper.generate import hmac_sha256

    for key in (b"", b"k" * 32, b"x" * 64, b"long" * 40):
        for message in (b"", b"harbor", bytes(range(256)) * 9):
            assert hmac_sha256(key, message) == hmac.new(key, message, hashlib.sha256).hexdigest()


def test_the_marker_holds_one_expiry_state_read_as_plain_epochs():
    """Quiet (no certificate read) only while valid_from - skew <= now < min(renew_at,
    warn_at); every other case, and a marker without them, reads the certificates."""
    from wrapper.marker import CLOCK_SKEW_SECONDS, expiry_due

    now = 2_000_000_000
    quiet = {"valid_from": now - 86400, "renew_at": now + 50, "warn_at": now + 10}
    assert not expiry_due(quiet, now)
    assert expiry_due(quiet, now + 10)  # warn_at has come
    assert expiry_due({**quiet, "warn_at": None}, now + 50)  # renew_at has come
    assert not expiry_due({**quiet, "warn_at": None, "renew_at": None}, now + 10**6)
    assert not expiry_due({**quiet, "valid_from": now + CLOCK_SKEW_SECONDS}, now)
    assert expiry_due({**quiet, "valid_from": now + CLOCK_SKEW_SECONDS + 1}, now)  # clock behind
    assert not expiry_due({**quiet, "valid_from": None}, now)
    for missing in quiet:
        assert expiry_due({k: v for k, v in quiet.items() if k != missing}, now)
    assert expiry_due({**quiet, "renew_at": "soon"}, now)
    assert expiry_due({}, now) and expiry_due(None, now)


def test_a_rerender_with_the_same_certificates_loads_no_cryptography(out):
    """One input changed, no certificate due: the checks the current generation passed are
    not repeated (its marker lists their verdicts), so cryptography stays unloaded; nor do
environs and marshmallow (settings.parse reads the variables), nor jinja2 (no template's
input changed: tests/test_template_reuse.py)."""
    from pathlib import Path

    assert generate(out, HARBOR_INTERNAL_TLS_ENABLED="true").returncode == 0
    before = json.loads((out / "ready").read_text())
    assert before["verified"]
    variables = {**BASE, "HARBOR_INTERNAL_TLS_ENABLED": "true", "HARBOR_LOG_LEVEL": "debug"}
    result = subprocess.run([sys.executable, "-c", PROBE, "generate", "--out", str(out)],
                            cwd=REPO, env=clean_env(variables), capture_output=True, text=True,
                            check=True)
    probe = json.loads(result.stdout)
    assert probe["code"] == 0 and "unchanged" not in result.stderr, result.stderr
    assert [m for m in probe["modules"] if m.startswith(("cryptography", "environs",
                                                            "marshmallow", "jinja2"))] == []
    after = json.loads((out / "ready").read_text())
    assert after["generation"] != before["generation"]
    assert {k: after[k] for k in ("renew_at", "warn_at", "valid_from", "verified")} == \
        {k: before[k] for k in ("renew_at", "warn_at", "valid_from", "verified")}
    assert "LOG_LEVEL=debug" in Path(out / "config/core/env").read_text()
