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


def test_the_fast_path_knows_the_certificate_windows_without_importing_cryptography():
    from wrapper import certificates, generate

    assert generate._DEFAULT_WINDOW_DAYS == certificates.DEFAULT_WINDOW
    assert generate._USER_WARNING_DAYS == certificates.USER_WARNING_DAYS


def test_a_certificate_near_its_end_still_takes_the_full_check(out):
    import time

    from wrapper.generate import expiry_due

    soon = {"earliest_expiry": int(time.time()) + 10 * 86400}
    later = {"earliest_expiry": int(time.time()) + 400 * 86400}
    assert expiry_due(soon, {}) and not expiry_due(later, {})
    assert expiry_due({"earliest_expiry": int(time.time()) + 6 * 86400},
                      {"HARBOR_CERT_WARNING_DAYS": "2"})  # brought ones: warned 7 days ahead
    assert not expiry_due(soon, {"HARBOR_CERT_WARNING_DAYS": "2"})
    assert expiry_due(later, {"HARBOR_CERT_WARNING_DAYS": "x"})
    assert expiry_due({}, {})
