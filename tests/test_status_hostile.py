"""`status` on hostile generations: every case below ends with its exact exit code and
line, never a traceback, never a hang, never a write (a recursive listing with bytes, owners,
modes and mtimes of the folder before and after; one case on a read-only mount). The cases
are listed, not sampled."""

from __future__ import annotations

import datetime
import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from support import listing, run_wrapper
from wrapper import cli
from wrapper.certificates import SERVER

UNKNOWN_TEXT = ("no generation in {out} ({out}/current/ready is missing, unreadable or not a "
                "JSON object): has `harbor-setupwrapper generate` run with this --out?")


@pytest.fixture(scope="module")
def made(tmp_path_factory, token_key) -> Path:
    out = tmp_path_factory.mktemp("made") / "out"
    (out / ".store/token").mkdir(parents=True)
    (out / ".store/token/private_key.pem").write_bytes(token_key)
    result = run_wrapper(["generate", "--out", str(out)], {"HARBOR_HOSTNAME": "harbor.example.test"})
    assert result.returncode == 0, result.stderr
    return out


def _generation(out: Path) -> Path:
    return out / ".generations" / os.path.basename(os.readlink(out / "current"))


def _replace(relative: str, make):
    def change(out: Path):
        path = _generation(out) / relative
        path.unlink()
        make(path)
    return change


def _bytes(relative: str, data: bytes):
    return _replace(relative, lambda path: path.write_bytes(data))


def chain(length: int, expired_at: int | None = None) -> bytes:
    """`length` certificates, server first, each signed by the next (one EC key: fast)."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    pems = []
    for i in range(length):
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"link {i}")])
        issuer = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"link {i + 1}")])
        end = now - datetime.timedelta(days=1) if i == expired_at else \
            now + datetime.timedelta(days=365)
        cert = (x509.CertificateBuilder().subject_name(name).issuer_name(issuer)
                .public_key(key.public_key()).serial_number(i + 1)
                .not_valid_before(now - datetime.timedelta(days=2)).not_valid_after(end)
                .sign(key, hashes.SHA256()))
        from cryptography.hazmat.primitives.serialization import Encoding

        pems.append(cert.public_bytes(Encoding.PEM))
    return b"".join(pems)


C = "{out}/current/" + SERVER
CASES = {
    # name: (change, exit code, the problem lines (or None: the status of a good generation))
    "marker garbage": (_bytes("ready", b"\x00\xff garbage"), 3, [UNKNOWN_TEXT]),
    "marker a JSON list": (_bytes("ready", b"[1, 2, 3]"), 3, [UNKNOWN_TEXT]),
    "marker nested 100,000 deep": (_bytes("ready", b"[" * 100_000 + b"]" * 100_000), 3,
                                   [UNKNOWN_TEXT]),
    "marker of 2 MiB": (_bytes("ready", b'{"x": "' + b"x" * (2 << 20) + b'"}'), 3,
                        [UNKNOWN_TEXT]),
    "marker a FIFO": (_replace("ready", os.mkfifo), 3, [UNKNOWN_TEXT]),
    "marker a link out": (_replace("ready", lambda p: p.symlink_to("/etc/hostname")), 3,
                          [UNKNOWN_TEXT]),
    "current a link out": (lambda out: ((out / "current").unlink(),
                                        (out / "current").symlink_to("/etc")), 3,
                           [UNKNOWN_TEXT]),
    "marker fields of other types": (
        _bytes("ready", json.dumps({"generation": {"a": [1]}, "wrapper": 5,
                                    "settings": "x\ny\x1b[2J"}).encode()), 0, None),
    "server certificate garbage": (_bytes(SERVER, b"-----BEGIN CERTIFICATE-----\ngarbage\n"),
                                   3, [f"{C} holds no readable PEM certificate"]),
    "server certificate empty": (_bytes(SERVER, b""), 3,
                                 [f"{C} holds no readable PEM certificate"]),
    "server certificate of 5 MiB": (
        _bytes(SERVER, b"x" * (5 << 20)), 3,
        [f"{C} cannot be read: not a regular file inside the generation, or larger than 4 MiB"]),
    "server certificate a FIFO": (
        _replace(SERVER, os.mkfifo), 3,
        [f"{C} cannot be read: not a regular file inside the generation, or larger than 4 MiB"]),
    "server certificate a link out": (
        _replace(SERVER, lambda p: p.symlink_to("/etc/ssl/certs/ca-certificates.crt")), 3,
        [f"{C} cannot be read: not a regular file inside the generation, or larger than 4 MiB"]),
    "a chain of 1,000 certificates": (_bytes(SERVER, chain(1000)), 0, None),
    "a chain of 1,000 with one expired": (_bytes(SERVER, chain(1000, expired_at=500)), 2, None),
}


def _status(out: Path, capsys, *extra) -> tuple[int, str, str]:
    code = cli.main(["status", "--out", str(out), *extra])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.parametrize("case", CASES)
def test_a_hostile_generation_gets_its_exit_code_and_is_never_written(case, made, tmp_path,
                                                                      capsys, monkeypatch):
    monkeypatch.delenv("HARBOR_CERT_WARNING_DAYS", raising=False)
    out = tmp_path / "out"
    shutil.copytree(made, out, symlinks=True)
    change, code, problems = CASES[case]
    change(out)
    before = listing(out)
    started = time.perf_counter()
    got, text, err = _status(out, capsys)
    seconds = time.perf_counter() - started
    got_json, as_json, err_json = _status(out, capsys, "--json")
    assert (got, got_json) == (code, code), (text, err)
    assert "Traceback" not in err + err_json
    report = json.loads(as_json)
    expected = [line.format(out=out) for line in problems or []]
    if case.startswith(("marker", "current")) and code == 3:
        assert report["problem"] == expected[0]
        assert f"problem:       {expected[0]}" in text
    else:
        assert report.get("problems", []) == expected
        assert [line[len("problem: "):] for line in text.splitlines()
                if line.startswith("problem: ")] == expected
    assert text.isprintable() or all(line.isprintable() for line in text.splitlines())
    assert listing(out) == before
    if "1,000" in case:
        assert len([c for c in report["certificates"] if c["role"] == "https chain"]) == 999
        print(f"\n{case}: status in {seconds:.2f} s")


@pytest.mark.skipif(os.geteuid() != 0, reason="a read-only bind mount needs root")
def test_a_read_only_folder_is_read_and_never_written(made, tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("HARBOR_CERT_WARNING_DAYS", raising=False)
    out = tmp_path / "out"
    shutil.copytree(made, out, symlinks=True)
    mounted = tmp_path / "ro"
    mounted.mkdir()
    for args in (["--bind", str(out), str(mounted)], ["-o", "remount,bind,ro", str(mounted)]):
        result = subprocess.run(["mount", *args], capture_output=True, text=True)
        if result.returncode != 0:
            subprocess.run(["umount", str(mounted)], capture_output=True)
            pytest.skip(f"cannot mount read-only here ({result.stderr.strip()}): outside our "
                        "reach")
    try:
        before = listing(out)
        code, text, err = _status(mounted, capsys)
        assert code == 0, text + err
        assert "status:        OK (exit 0)" in text and "https server" in text
        assert listing(out) == before
    finally:
        subprocess.run(["umount", str(mounted)], check=True)
