"""restore-keys on hostile backups: every case below is refused with the file named, exit 3,
and nothing anywhere changes (the backup, the targets and a folder beside them, compared by a
recursive listing with bytes, owners, modes and mtimes). The cases are listed, not sampled."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from support import listing, run_wrapper
from wrapper import cli

NAME = "harbor-backup-20261123T101010Z"


@pytest.fixture(scope="module")
def stores(tmp_path_factory, token_key) -> tuple[Path, Path]:
    """Two installs' key stores (https and internal TLS: every kind of item)."""
    made = []
    for index in range(2):
        out = tmp_path_factory.mktemp(f"install{index}") / "out"
        if index == 0:  # the other install makes its own (slow) token key
            (out / ".store/token").mkdir(parents=True)
            (out / ".store/token/private_key.pem").write_bytes(token_key)
        result = run_wrapper(["generate", "--out", str(out)],
                             {"HARBOR_HOSTNAME": "harbor.example.test",
                              "HARBOR_INTERNAL_TLS_ENABLED": "true"})
        assert result.returncode == 0, result.stderr
        made.append(out / ".store")
    return made[0], made[1]


def _setup(tmp_path: Path, store: Path) -> Path:
    backup = tmp_path / "backups" / NAME
    backup.mkdir(parents=True)
    shutil.copytree(store, backup / "store")
    (backup / "registry/docker/registry/v2/blobs/sha256/ab").mkdir(parents=True)
    (backup / "registry/docker/registry/v2/blobs/sha256/ab/data").write_bytes(b"blob")
    (backup / "registry.pgdump").write_bytes(b"PGDMP")
    (tmp_path / "out").mkdir()
    (tmp_path / "storage").mkdir()
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside/secret").write_text("host file")
    return backup


def _truncate(path: Path, keep: float = 0.5):
    data = path.read_bytes()
    path.write_bytes(data[:int(len(data) * keep)])


def _from_other(item: str):
    def change(backup: Path, other: Path):
        (backup / "store" / item).write_bytes((other / item).read_bytes())
    return change


S = "{backup}/store"
R = "{backup}/registry"
# name -> (what to do to the backup (backup, other install's store), the refusal lines)
CASES = {
    "store file, absolute link": (
        lambda b, o: _relink(b / "store/core_secret", "/etc/hostname"),
        [f"{S}/core_secret is a symbolic link (to /etc/hostname): a backup holds files and "
         "folders only"]),
    "store file, relative link out": (
        lambda b, o: _relink(b / "store/token/private_key.pem", "../../../../outside/secret"),
        [f"{S}/token/private_key.pem is a symbolic link (to ../../../../outside/secret): a "
         "backup holds files and folders only"]),
    "store folder is a link": (
        lambda b, o: (shutil.rmtree(b / "store/https"), (b / "store/https").symlink_to(
            "../../../outside")),
        [f"{S}/https is a symbolic link (to ../../../outside): a backup holds files and "
         "folders only"]),
    "registry file, absolute link": (
        lambda b, o: (b / "registry/docker/registry/v2/blobs/sha256/ab/link").symlink_to(
            "/etc/shadow"),
        [f"{R}/docker/registry/v2/blobs/sha256/ab/link is a symbolic link (to /etc/shadow): a "
         "backup holds files and folders only"]),
    "registry folder, relative link": (
        lambda b, o: (b / "registry/docker/registry/v2/repositories").symlink_to(
            "../../../../../outside"),
        [f"{R}/docker/registry/v2/repositories is a symbolic link (to ../../../../../outside): "
         "a backup holds files and folders only"]),
    "registry is a link": (
        lambda b, o: (shutil.rmtree(b / "registry"), (b / "registry").symlink_to("/etc")),
        [f"{R} is a symbolic link or not a folder: a backup holds the registry's data as a "
         "folder"]),
    "FIFO in the store": (
        lambda b, o: os.mkfifo(b / "store/token/pipe"),
        [f"{S}/token/pipe is a FIFO: a backup holds files and folders only"]),
    "FIFO in the registry": (
        lambda b, o: os.mkfifo(b / "registry/docker/pipe"),
        [f"{R}/docker/pipe is a FIFO: a backup holds files and folders only"]),
    "socket in the registry": (
        lambda b, o: _socket(b / "registry/docker/sock"),
        [f"{R}/docker/sock is a socket: a backup holds files and folders only"]),
    "missing key": (
        lambda b, o: (b / "store/csrf_key").unlink(),
        [f"{S}/csrf_key is missing: every backup of the wrapper holds it"]),
    "missing token key": (
        lambda b, o: (b / "store/token/private_key.pem").unlink(),
        [f"{S}/token/private_key.pem is missing: every backup of the wrapper holds it"]),
    "extra key": (
        lambda b, o: (b / "store/authorized_keys").write_text("ssh-ed25519 AAAA"),
        [f"{S}/authorized_keys is not an item of the wrapper's key store: an extra file (from "
         "another tool, or a damaged backup)"]),
    "extra folder": (
        lambda b, o: (b / "store/ssh").mkdir(),
        [f"{S}/ssh is not a folder of the wrapper's key store (those are https, internal, "
         "data, token, acme)"]),
    "token certificate of another install": (
        _from_other("token/root.crt"),
        [f"{S}/token/root.crt is not the certificate of token/private_key.pem: the two come "
         "from different installs"]),
    "server certificate of another install": (
        _from_other("https/server.crt"),
        [f"{S}/https/server.crt is not the certificate of https/server.key: the two come from "
         "different installs"]),
    "server key and certificate of another install": (
        lambda b, o: (_from_other("https/server.crt")(b, o), _from_other("https/server.key")(b, o)),
        [f"{S}/https/server.crt was not issued by https/ca.pem: the two come from different "
         "installs"]),
    "registry htpasswd of another install": (
        _from_other("registry_htpasswd"),
        [f"{S}/registry_htpasswd does not match registry_password: the two come from different "
         "installs"]),
    "truncated secretkey": (
        lambda b, o: _truncate(b / "store/secretkey"),
        [f"{S}/secretkey is 8 bytes: Harbor's secretkey is 16 (no newline); truncated or not a "
         "store's secretkey"]),
    "truncated token key": (
        lambda b, o: _truncate(b / "store/token/private_key.pem"),
        [f"{S}/token/private_key.pem is not an unencrypted PEM private key (truncated?)"]),
    "truncated CA": (
        lambda b, o: _truncate(b / "store/https/ca.pem", 0.8),
        [f"{S}/https/ca.pem is not a PEM key and certificate (truncated?)"]),
    "truncated certificate": (
        lambda b, o: _truncate(b / "store/internal/core.crt"),
        [f"{S}/internal/core.crt is not PEM (truncated?)"]),
    "truncated csrf key": (
        lambda b, o: _truncate(b / "store/csrf_key"),
        [f"{S}/csrf_key is 16 bytes, not 32 (truncated?)"]),
    "emptied secret": (
        lambda b, o: _truncate(b / "store/core_secret", 0),
        [f"{S}/core_secret is empty (truncated?)"]),
    "garbage version record": (
        lambda b, o: (b / "store/data/harbor-version").write_bytes(b"\x00\xffgarbage"),
        [f"{S}/data/harbor-version is not a Harbor version vX.Y.Z"]),
}


def _relink(path: Path, target: str):
    path.unlink()
    path.symlink_to(target)


def _socket(path: Path):
    import stat

    os.mknod(path, stat.S_IFSOCK | 0o600)


def _restore(tmp_path, capsys, name=NAME):
    code = cli.main(["restore-keys", name, "--backups", str(tmp_path / "backups"),
                     "--out", str(tmp_path / "out"), "--storage", str(tmp_path / "storage")])
    return code, capsys.readouterr().err


@pytest.mark.parametrize("case", CASES)
def test_a_hostile_backup_is_refused_and_nothing_changes(case, stores, tmp_path, capsys):
    backup = _setup(tmp_path, stores[0])
    (backup / "store/data").mkdir(exist_ok=True)
    (backup / "store/data/harbor-version").write_text("v2.15.2")
    change, lines = CASES[case]
    change(backup, stores[1])
    before = listing(tmp_path)
    code, err = _restore(tmp_path, capsys)
    assert code == 3, err
    expected = [line.format(backup=backup) for line in lines]
    said = [line[2:] for line in err.splitlines() if line.startswith("  ")]
    assert said == expected, err
    assert listing(tmp_path) == before


def test_the_good_backup_of_the_cases_restores(stores, tmp_path, capsys):
    """The cases differ from a backup that restores by their one change only."""
    backup = _setup(tmp_path, stores[0])
    (backup / "store/data").mkdir(exist_ok=True)
    (backup / "store/data/harbor-version").write_text("v2.15.2")
    outside = listing(tmp_path / "outside")
    code, err = _restore(tmp_path, capsys)
    assert code == 0, err
    assert (tmp_path / "storage/docker/registry/v2/blobs/sha256/ab/data").read_bytes() == b"blob"
    assert listing(tmp_path / "outside") == outside
    assert not [p for p in os.listdir(tmp_path / "storage") if p.startswith(".restoring")]


@pytest.mark.parametrize("name,line", [
    ("../outside", "'../outside': a backup is named by its folder under {backups} (such as "
                   "harbor-backup-20261123T101010Z), without / or .."),
    ("..", "'..': a backup is named by its folder under {backups} (such as "
           "harbor-backup-20261123T101010Z), without / or .."),
    ("/etc", "'/etc': a backup is named by its folder under {backups} (such as "
             "harbor-backup-20261123T101010Z), without / or .."),
    ("link-out", "{backups}/link-out is not a backup of harbor-setupwrapper: a symbolic link"),
    ("missing", "{backups}/missing is not a backup of harbor-setupwrapper: no such folder"),
])
def test_a_backup_name_out_of_the_backups_folder_is_refused(name, line, stores, tmp_path,
                                                            capsys):
    _setup(tmp_path, stores[0])
    (tmp_path / "outside/store").mkdir()
    (tmp_path / "backups/link-out").symlink_to(tmp_path / "outside")
    before = listing(tmp_path)
    code, err = _restore(tmp_path, capsys, name)
    assert code == 3, err
    assert [l[2:] for l in err.splitlines() if l.startswith("  ")] == [
        line.format(backups=tmp_path / "backups")]
    assert listing(tmp_path) == before


@pytest.mark.skipif(os.geteuid() != 0, reason="handing files to 10000 needs root")
def test_no_root_owned_file_is_left_in_a_registry_folder_already_owned_right(stores, tmp_path,
                                                                            capsys):
    """Issue 17 part 5 / 9: init-data skips a top folder that is already 10000's, so the
    restore itself must hand every entry over as it makes it."""
    backup = _setup(tmp_path, stores[0])
    for depth in range(3):
        folder = backup / "registry/docker/registry/v2/repositories" / ("r" * (depth + 1))
        folder.mkdir(parents=True)
        (folder / "_manifests").write_bytes(b"m" * depth)
    os.chown(tmp_path / "storage", 10000, 10000)
    code, err = _restore(tmp_path, capsys)
    assert code == 0, err
    owners = {p: (st[2], st[3]) for p, st in listing(tmp_path / "storage").items()}
    assert "docker/registry/v2/repositories/rrr/_manifests" in owners
    assert set(owners.values()) == {(10000, 10000)}, owners
