"""A wrong clock (issue 20), under Debian's libfaketime (tests/run.sh installs it): the
certificates the wrapper made while the clock was ahead are re-issued once it is right, and
a clock that is behind what was made is named for what it is, losing no key."""

from __future__ import annotations

import datetime
import shutil
import subprocess
import sys
from pathlib import Path

from cryptography import x509
from cryptography.x509.verification import PolicyBuilder, Store
from support import REPO, clean_env, snapshot

from wrapper import status

HOST = "harbor.example.test"
ENV = {"HARBOR_HOSTNAME": HOST, "HARBOR_INTERNAL_TLS_ENABLED": "true"}
AHEAD, BEHIND = "+730d", "-730d"


def wrapper(args: list[str], fake: str | None = None) -> subprocess.CompletedProcess:
    faketime = shutil.which("faketime")
    assert faketime, "faketime is missing (tests/run.sh installs Debian's faketime)"
    cmd = ([faketime, "-f", fake] if fake else []) + [sys.executable, "-m", "wrapper", *args]
    return subprocess.run(cmd, cwd=REPO, env=clean_env(ENV), capture_output=True, text=True)


def keys(out: Path) -> dict[str, bytes]:
    """Every private key and secret of the store (CA items: their key part)."""
    result = {}
    for path in (out / ".store").rglob("*"):
        name = str(path.relative_to(out / ".store"))
        if path.is_file() and not name.endswith(".crt") and "datadir" not in name:
            data = path.read_bytes()
            result[name] = data.split(b"-----BEGIN CERTIFICATE")[0]
    return result


def cert(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificates(path.read_bytes())[0]


def verifies_now(out: Path) -> None:
    now = datetime.datetime.now(datetime.timezone.utc)
    chain = x509.load_pem_x509_certificates((out / "secret/cert/server.crt").read_bytes())
    verifier = (PolicyBuilder().store(Store([cert(out / "secret/cert/ca.crt")])).time(now)
                .build_server_verifier(x509.DNSName(HOST)))
    verifier.verify(chain[0], chain[1:])  # raises when not valid now
    internal_ca = cert(out / "secret/tls/harbor_internal_ca.crt")
    for name in ("core", "registry", "job_service"):
        leaf = cert(out / f"secret/tls/{name}.crt")
        leaf.verify_directly_issued_by(internal_ca)
        assert leaf.not_valid_before_utc <= now < leaf.not_valid_after_utc, name
    for c in (internal_ca, cert(out / "secret/registry/root.crt")):
        assert c.not_valid_before_utc <= now < c.not_valid_after_utc


def test_made_with_the_clock_ahead_then_reissued_under_the_right_clock(out):
    made = wrapper(["generate", "--out", str(out)], AHEAD)
    assert made.returncode == 0, made.stderr
    ahead = cert(out / "secret/cert/ca.crt").not_valid_before_utc
    assert ahead > datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=700)
    kept = keys(out)
    checked = wrapper(["status", "--out", str(out)])
    assert checked.returncode == status.NOT_YET_VALID, checked.stdout
    assert "NOT VALID UNTIL" in checked.stdout and "EXPIRED" not in checked.stdout

    again = wrapper(["generate", "--out", str(out)])
    assert again.returncode == 0 and "up to date" not in again.stderr, again.stderr
    verifies_now(out)
    assert keys(out) == kept  # the same keys, the CAs re-issued for theirs
    assert wrapper(["status", "--out", str(out)]).returncode == status.OK
    before = snapshot(out)
    third = wrapper(["generate", "--out", str(out)])
    assert third.returncode == 0 and "up to date" in third.stderr, third.stderr
    assert snapshot(out) == before


def test_made_now_then_the_clock_behind_is_named_and_loses_no_key(out):
    made = wrapper(["generate", "--out", str(out)])
    assert made.returncode == 0, made.stderr
    kept = keys(out)
    before = snapshot(out)
    checked = wrapper(["status", "--out", str(out)], BEHIND)
    assert checked.returncode == status.NOT_YET_VALID == 4, checked.stdout
    assert "status:        NOT VALID YET (exit 4)" in checked.stdout
    server = cert(out / "secret/cert/server.crt")
    assert (f"https server (made by the wrapper): NOT VALID UNTIL "
            f"{server.not_valid_before_utc:%Y-%m-%dT%H:%M:%SZ} (this host's clock: ") \
        in checked.stdout
    assert "EXPIRED" not in checked.stdout
    assert snapshot(out) == before  # status only reads

    # whatever runs next: generate under the clock behind, status, and the right clock again
    behind = wrapper(["generate", "--out", str(out)], BEHIND)
    assert behind.returncode == 0, behind.stderr
    assert keys(out) == kept
    assert wrapper(["status", "--out", str(out)], BEHIND).returncode == status.OK
    right = wrapper(["generate", "--out", str(out)])
    assert right.returncode == 0, right.stderr
    assert keys(out) == kept
    verifies_now(out)
    assert wrapper(["status", "--out", str(out)]).returncode == status.OK
