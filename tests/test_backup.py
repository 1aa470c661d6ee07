"""Backup and restore: the restore's first step (keys and registry data), its refusals, and
the scripts' contract with the compose file."""

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from support import REPO, run_wrapper
from wrapper.backup import restore_keys
from wrapper.datadir import Refused


@pytest.fixture(scope="module")
def real_store(tmp_path_factory, token_key) -> Path:
    """A key store as a generation makes it (https and internal TLS: every kind of item)."""
    out = tmp_path_factory.mktemp("made") / "out"
    (out / ".store/token").mkdir(parents=True)
    (out / ".store/token/private_key.pem").write_bytes(token_key)
    result = run_wrapper(["generate", "--out", str(out)],
                         {"HARBOR_HOSTNAME": "harbor.example.test",
                          "HARBOR_INTERNAL_TLS_ENABLED": "true"})
    assert result.returncode == 0, result.stderr
    return out / ".store"


def backup_folder(tmp_path: Path, store: Path) -> Path:
    backup = tmp_path / "backups/harbor-backup-20261123T101010Z"
    backup.mkdir(parents=True)
    shutil.copytree(store, backup / "store")
    (backup / "registry/docker/registry/v2/blobs").mkdir(parents=True)
    (backup / "registry/docker/registry/v2/blobs/data").write_bytes(b"blob")
    (backup / "registry.pgdump").write_bytes(b"PGDMP")
    return backup


def test_restore_keys_puts_store_and_registry_back(tmp_path, real_store):
    backup = backup_folder(tmp_path, real_store)
    (tmp_path / "storage").mkdir()
    result = run_wrapper(["restore-keys", backup.name, "--backups", str(backup.parent),
                          "--out", str(tmp_path / "out"), "--storage", str(tmp_path / "storage")],
                         {})
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "out/.store/secretkey").read_bytes() == (real_store / "secretkey").read_bytes()
    assert (tmp_path / "out/.store").stat().st_mode & 0o777 == 0o700
    blob = tmp_path / "storage/docker/registry/v2/blobs/data"
    assert blob.read_bytes() == b"blob"
    if os.geteuid() == 0:
        assert (blob.stat().st_uid, blob.stat().st_gid) == (10000, 10000)
    assert "restored key store" in result.stderr and "restored registry data" in result.stderr


def test_restore_forgets_the_database_folder_the_backup_ran_on(tmp_path, real_store):
    """A host folder's store records database/pg18; the restore starts an empty one that
    pg_restore fills, which the guard would refuse as a database that disappeared."""
    from wrapper.datadir import LAYOUT_ITEM, VERSION_ITEM, Guard

    backup = backup_folder(tmp_path, real_store)
    (backup / "store/data").mkdir(exist_ok=True)
    (backup / "store" / LAYOUT_ITEM).write_bytes(b"pg18")
    (backup / "store" / VERSION_ITEM).write_bytes(b"v2.15.2")
    data = tmp_path / "data"
    data.mkdir()
    restore_keys(str(backup), str(data / "harbor-setup"), None, False)
    assert not (data / "harbor-setup/.store" / LAYOUT_ITEM).exists()
    assert (data / "harbor-setup/.store" / VERSION_ITEM).read_bytes() == b"v2.15.2"
    Guard(str(data / "harbor-setup"), {"HARBOR_DATA_VOLUME": str(data)})  # not refused


def test_restore_keys_refuses_a_deployment_with_keys_and_changes_nothing(tmp_path, real_store):
    backup = backup_folder(tmp_path, real_store)
    (tmp_path / "out/.store").mkdir(parents=True)
    (tmp_path / "out/.store/secretkey").write_bytes(b"0000000000000000")
    (tmp_path / "storage/docker").mkdir(parents=True)
    with pytest.raises(Refused) as refused:
        restore_keys(str(backup), str(tmp_path / "out"), str(tmp_path / "storage"), False)
    assert refused.value.reasons == [
        f"{tmp_path}/out/.store already holds keys: a restore goes into an empty deployment, or "
        "its keys would not match the database. Remove the deployment first (named volumes: "
        "docker compose down -v; a host folder: an empty HARBOR_DATA_VOLUME).",
        f"{tmp_path}/storage already holds registry data: restore into an empty one."]
    assert (tmp_path / "out/.store/secretkey").read_bytes() == b"0000000000000000"


def test_restore_keys_refuses_what_is_not_a_backup(tmp_path):
    (tmp_path / "backups/other").mkdir(parents=True)
    result = run_wrapper(["restore-keys", "other", "--backups", str(tmp_path / "backups"),
                          "--out", str(tmp_path / "out"), "--storage", ""], {})
    assert result.returncode == 3
    assert (f"{tmp_path}/backups/other is not a backup of harbor-setupwrapper: "
            f"{tmp_path}/backups/other/store/secretkey is missing") in result.stderr
    assert not (tmp_path / "out").exists()


def test_restore_into_an_empty_store_folder_and_object_storage(tmp_path, real_store):
    backup = backup_folder(tmp_path, real_store)
    (tmp_path / "out/.store").mkdir(parents=True)  # the mount point of an empty volume
    done = restore_keys(str(backup), str(tmp_path / "out"), None, False)
    assert done == [f"key store -> {tmp_path}/out/.store"]


@pytest.mark.parametrize("script", ["backup.sh", "restore-database.sh"])
def test_scripts_are_posix_sh_and_shipped_as_shims(script):
    path = REPO / "entrypoints" / script
    assert os.access(path, os.X_OK)
    subprocess.run(["sh", "-n", str(path)], check=True)
    compose = yaml.safe_load((REPO / "compose/docker-compose.backup.yml").read_text())
    entrypoints = {s.get("entrypoint", [None])[0] for s in compose["services"].values()}
    assert f"/harbor-setup/entrypoints/{script}" in entrypoints


def test_backup_says_it_holds_secrets_and_writes_0600():
    text = (REPO / "entrypoints/backup.sh").read_text()
    assert "umask 077" in text and "THIS BACKUP HOLDS SECRETS" in text
    assert "chmod 0600" in text and "chmod 0700" in text
