"""Adoption of an official install (HARBOR_DATA_VOLUME) and the upgrade guard on hostile
folders: every case below is refused before anything is written, exit 3, with its exact
line, and nothing anywhere changes (a recursive listing with bytes, owners, modes and mtimes
of the data folder, the output folder and a folder beside them, before and after). The
cases are listed, not sampled."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from support import REPO, clean_env, listing
from wrapper import cli, pki

BASE = {"HARBOR_HOSTNAME": "harbor.example.test"}
HEAD = "harbor-setupwrapper: refused, nothing was changed (no container has touched the data):"


def _pem(key, password: bytes | None = None) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(password) if password
        else serialization.NoEncryption())


@pytest.fixture
def folders(tmp_path, token_key) -> Path:
    """DATA in upstream's layout with its three key files, an empty out, an outside folder."""
    data = tmp_path / "data"
    for relative, content in {"secret/keys/secretkey": b"AbCdEfGh12345678",
                              "secret/core/private_key.pem": token_key,
                              "secret/registry/root.crt": pki.token_cert(token_key)}.items():
        (data / relative).parent.mkdir(parents=True, exist_ok=True)
        (data / relative).write_bytes(content)
        (data / relative).chmod(0o600)
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside/key").write_bytes(token_key)
    (tmp_path / "outside/secretkey").write_bytes(b"0123456789abcdef")
    (tmp_path / "out").mkdir()
    return tmp_path


def _write(relative: str, content: bytes):
    def change(p: Path):
        (p / "data" / relative).write_bytes(content)
    return change


def _link(relative: str, target: str):
    def change(p: Path):
        path = p / "data" / relative
        if path.is_dir() and not path.is_symlink():
            import shutil

            shutil.rmtree(path)
        else:
            path.unlink()
        path.symlink_to(target.format(p=p))
    return change


def _record(item: str, content: bytes | None = None, make=None):
    def change(p: Path):
        path = p / "out/.store" / item
        path.parent.mkdir(parents=True, exist_ok=True)
        if make:
            make(path)
        else:
            path.write_bytes(content)
    return change


def _small_rsa() -> bytes:
    return _pem(rsa.generate_private_key(public_exponent=65537, key_size=1024))


def _other_certificate(p: Path) -> None:
    other = _pem(rsa.generate_private_key(public_exponent=65537, key_size=2048))
    (p / "data/secret/registry/root.crt").write_bytes(pki.token_cert(other))


def _encrypted(p: Path) -> None:
    key = serialization.load_pem_private_key(
        (p / "data/secret/core/private_key.pem").read_bytes(), password=None)
    (p / "data/secret/core/private_key.pem").write_bytes(_pem(key, b"passphrase"))


D = "{data}"
S = "{out}/.store"
DAMAGED = ("Restore the store from a backup (README: Day 2, restore), or delete the file when "
           "you know the data is right for this version: the guard then records the current "
           "one.")
KEY_AGAIN = "restore the original file."
CASES = {
    # --- adoption: malformed keys
    "secretkey with a newline": (
        _write("secret/keys/secretkey", b"AbCdEfGh12345678\n"),
        f"{D}/secret/keys/secretkey is 17 bytes: Harbor's secretkey is 16 bytes (no newline). "
        f"It encrypts the credentials in Harbor's database: {KEY_AGAIN}"),
    "secretkey truncated": (
        _write("secret/keys/secretkey", b"AbCdEfGh"),
        f"{D}/secret/keys/secretkey is 8 bytes: Harbor's secretkey is 16 bytes (no newline). "
        f"It encrypts the credentials in Harbor's database: {KEY_AGAIN}"),
    "token key of another type (EC)": (
        lambda p: _write("secret/core/private_key.pem", pki.new_ec_key())(p),
        f"{D}/secret/core/private_key.pem is an EC key: Harbor signs its tokens with "
        f"RS256, an RSA key of 2048 bits or more (upstream's prepare makes 4096); {KEY_AGAIN}"),
    "token key of another type (Ed25519)": (
        lambda p: _write("secret/core/private_key.pem",
                         _pem(ed25519.Ed25519PrivateKey.generate()))(p),
        f"{D}/secret/core/private_key.pem is an Ed25519 key: Harbor signs its tokens with RS256, "
        f"an RSA key of 2048 bits or more (upstream's prepare makes 4096); {KEY_AGAIN}"),
    "token key of another size (RSA 1024)": (
        lambda p: _write("secret/core/private_key.pem", _small_rsa())(p),
        f"{D}/secret/core/private_key.pem is an RSA key of 1024 bits: Harbor signs its tokens "
        f"with RS256, an RSA key of 2048 bits or more (upstream's prepare makes 4096); "
        f"{KEY_AGAIN}"),
    "encrypted token key": (
        _encrypted,
        f"{D}/secret/core/private_key.pem is an encrypted private key: Harbor's token signing "
        f"key is unencrypted PEM (core reads it without a passphrase); {KEY_AGAIN}"),
    "token key garbage": (
        _write("secret/core/private_key.pem", b"-----BEGIN PRIVATE KEY-----\ngarbage\n"),
        f"{D}/secret/core/private_key.pem is not a readable PEM private key (Harbor's token "
        f"signing key): {KEY_AGAIN}"),
    "root.crt of another key": (
        _other_certificate,
        f"{D}/secret/registry/root.crt is not the certificate of the token key "
        "(secret/core/private_key.pem or the store's): the registry would refuse every token. "
        "Restore the pair from one install, or delete root.crt to have it made anew from the "
        "key."),
    "root.crt garbage": (
        _write("secret/registry/root.crt", b"\x00\x01garbage"),
        f"{D}/secret/registry/root.crt is not a PEM certificate (the token key's, root.crt): "
        f"{KEY_AGAIN}"),
    # --- adoption: links and files that are not files
    "secretkey an absolute link out": (
        _link("secret/keys/secretkey", "{p}/outside/secretkey"),
        f"{D}/secret/keys/secretkey is a symbolic link (to {{tmp}}/outside/secretkey): the "
        "wrapper reads these files only inside the folder, never through a link; put the file "
        "itself there"),
    "token key a relative link out": (
        _link("secret/core/private_key.pem", "../../../outside/key"),
        f"{D}/secret/core/private_key.pem is a symbolic link (to ../../../outside/key): the "
        "wrapper reads these files only inside the folder, never through a link; put the file "
        "itself there"),
    "the keys folder a link out": (
        _link("secret/keys", "{p}/outside"),
        f"{D}/secret/keys/secretkey is a symbolic link (to {{tmp}}/outside): the wrapper reads "
        "these files only inside the folder, never through a link; put the file itself there"),
    "secretkey a FIFO": (
        lambda p: ((p / "data/secret/keys/secretkey").unlink(),
                   os.mkfifo(p / "data/secret/keys/secretkey")),
        f"{D}/secret/keys/secretkey is not a regular file"),
    "secretkey a folder": (
        lambda p: ((p / "data/secret/keys/secretkey").unlink(),
                   (p / "data/secret/keys/secretkey").mkdir()),
        f"{D}/secret/keys/secretkey is not a regular file"),
    "token key huge": (
        _write("secret/core/private_key.pem", b"x" * (1024 * 1024)),
        f"{D}/secret/core/private_key.pem is larger than 64 KiB, far more than such a file "
        "holds"),
    # --- the upgrade guard's records
    "version record garbage": (
        _record("data/harbor-version", b"\x00\xff\xfe garbage"),
        f"{S}/data/harbor-version is not a Harbor version (an image tag such as v2.15.2): the "
        f"wrapper's store is damaged. {DAMAGED}"),
    "version record of two lines": (
        _record("data/harbor-version", b"v2.15.2\nv2.14.0\n"),
        f"{S}/data/harbor-version is not a Harbor version (an image tag such as v2.15.2): the "
        f"wrapper's store is damaged. {DAMAGED}"),
    "version record huge": (
        _record("data/harbor-version", b"v" * 100_000),
        f"{S}/data/harbor-version is larger than 4 KiB, far more than such a file holds. "
        f"{DAMAGED}"),
    "version record a link": (
        _record("data/harbor-version", make=lambda path: path.symlink_to("/etc/hostname")),
        f"{S}/data/harbor-version is a symbolic link (to /etc/hostname): the wrapper reads "
        f"these files only inside the folder, never through a link; put the file itself there. "
        f"{DAMAGED}"),
    "version record a FIFO": (
        _record("data/harbor-version", make=os.mkfifo),
        f"{S}/data/harbor-version is not a regular file. {DAMAGED}"),
    "layout record garbage": (
        _record("data/database-layout", b"../../etc"),
        f"{S}/data/database-layout is not a database layout (pgNN or flat): the wrapper's "
        f"store is damaged. {DAMAGED}"),
}


def _generate(p: Path, monkeypatch, capsys) -> tuple[int, str]:
    for name in [n for n in os.environ if n.startswith("HARBOR_")]:
        monkeypatch.delenv(name)
    for name, value in {**BASE, "HARBOR_DATA_VOLUME": str(p / "data")}.items():
        monkeypatch.setenv(name, value)
    code = cli.main(["generate", "--out", str(p / "out")])
    return code, capsys.readouterr().err


@pytest.mark.parametrize("case", CASES)
def test_a_hostile_data_folder_or_record_is_refused_before_anything_is_written(
        case, folders, monkeypatch, capsys):
    change, line = CASES[case]
    change(folders)
    before = listing(folders)
    code, err = _generate(folders, monkeypatch, capsys)
    assert code == 3, err
    assert err.splitlines() == [HEAD, "  " + line.format(data=folders / "data", tmp=folders,
                                                         out=folders / "out")]
    assert listing(folders) == before


def test_the_folders_of_the_cases_are_adopted_as_they_are(folders, monkeypatch, capsys):
    """The cases differ from a folder that moves in by their one change only."""
    code, err = _generate(folders, monkeypatch, capsys)
    assert code == 0, err
    assert "adopt" in err and (folders / "out/.store/secretkey").read_bytes() == \
        b"AbCdEfGh12345678"


def _guard_as_nobody(out: Path, variables: dict) -> tuple[int, list[str]]:
    """Guard(out, variables) in a forked child that dropped to nobody (65534): (exit,
    refusals). A fork, not a new interpreter: the interpreter may live where nobody cannot
    reach (here /root/.pyenv); everything the guard needs is imported beforehand."""
    import json

    from wrapper import datadir
    from wrapper.datadir import _key_problem, _key_type  # noqa: F401 (imported for the child)

    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child
        code = 0
        try:
            os.close(read)
            os.setgroups([])
            os.setgid(65534)
            os.setuid(65534)
            try:
                datadir.Guard(str(out), variables)
                reasons = []
            except datadir.Refused as refused:
                reasons, code = refused.reasons, 3
            os.write(write, json.dumps(reasons).encode())
        except BaseException as err:  # reported to the parent, never a second pytest
            os.write(write, json.dumps([f"child failed: {err!r}"]).encode())
            code = 99
        finally:
            os._exit(code)
    os.close(write)
    with os.fdopen(read, "rb") as pipe:
        said = json.loads(pipe.read() or b"[]")
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status), said


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to drop to another user")
@pytest.mark.parametrize("relative", ["secret/keys/secretkey", "secret/core/private_key.pem",
                                      "secret/registry/root.crt"])
def test_an_unreadable_key_file_is_refused(relative, folders, tmp_path_factory):
    """Root reads everything, so the guard runs here as nobody (65534), for real: the key
    file stays root's 0600 and the kernel says EACCES (nothing injected). In a folder nobody
    can reach (pytest's own is 0700)."""
    import shutil
    import tempfile

    from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448  # noqa: F401

    base = Path(tempfile.mkdtemp(prefix="h18-nobody-"))
    try:
        base.chmod(0o755)
        shutil.copytree(folders, base / "f", symlinks=True)
        for root, _, _ in os.walk(base):
            os.chmod(root, 0o755)
        _unreadable(relative, base / "f")
    finally:
        shutil.rmtree(base)


def _unreadable(relative: str, folders: Path) -> None:

    pki.load_key(pki.new_ec_key())  # the child has every module it needs already
    for folder in ("secret", "secret/keys", "secret/core", "secret/registry"):
        (folders / "data" / folder).chmod(0o755)
    for other in ("secret/keys/secretkey", "secret/core/private_key.pem",
                  "secret/registry/root.crt"):
        if other != relative:
            os.chown(folders / "data" / other, 65534, 65534)
    before = listing(folders)
    code, said = _guard_as_nobody(folders / "out",
                                  {**BASE, "HARBOR_DATA_VOLUME": str(folders / "data")})
    assert (code, said) == (3, [f"{folders}/data/{relative} cannot be read (Permission denied)"])
    assert listing(folders) == before
