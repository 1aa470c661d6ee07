"""Host data folder: adopting an official install's keys, the upgrade guard's refusals."""

import os
import shutil
from pathlib import Path

import pytest

from support import run_wrapper
from wrapper import datadir, pki
from wrapper.datadir import Guard, Refused
from wrapper.store import Store

BASE = {"HARBOR_HOSTNAME": "harbor.example.test", "HARBOR_ADMIN_PASSWORD": "Harbor12345"}


def cluster(data: Path, name: str) -> None:
    folder = data / "database" / name
    folder.mkdir(parents=True)
    (folder / "PG_VERSION").write_text(name[2:] + "\n")


def refusal(out: Path, variables: dict) -> str:
    with pytest.raises(Refused) as refused:
        Guard(str(out), variables)
    assert len(refused.value.reasons) == 1
    return refused.value.reasons[0]


def official(data: Path, token_key: bytes) -> dict[str, bytes]:
    """upstream's data/secret as prepare writes it (10000:10000 0600 files, root 0755 dirs)."""
    files = {"secret/keys/secretkey": b"AbCdEfGh12345678",
             "secret/core/private_key.pem": token_key,
             "secret/registry/root.crt": pki.token_cert(token_key)}
    for relative, content in files.items():
        path = data / relative
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o755)
        path.write_bytes(content)
        path.chmod(0o600)
        if os.geteuid() == 0:
            os.chown(path, 10000, 10000)
    return files


# --- the upgrade guard ------------------------------------------------------------------

def test_pg14_under_v2_15_2_is_refused_and_says_what_to_do(tmp_path):
    cluster(tmp_path / "data", "pg14")
    text = refusal(tmp_path / "out", {"HARBOR_DATA_VOLUME": str(tmp_path / "data")})
    assert f"{tmp_path}/data/database/pg14 is a PostgreSQL 14 cluster" in text
    assert "upgrades only pg15 to pg18" in text and "empty database" in text
    assert "Back up the folder first" in text
    assert "run Harbor v2.15.1 once on this data (HARBOR_IMAGE_TAG=v2.15.1" in text


def test_pg13_names_no_version_it_does_not_know(tmp_path):
    cluster(tmp_path / "data", "pg13")
    text = refusal(tmp_path / "out", {"HARBOR_DATA_VOLUME": str(tmp_path / "data")})
    assert "run the Harbor release whose database image upgrades pg13 once on it" in text


def test_a_newer_cluster_than_the_image_is_a_downgrade(tmp_path):
    cluster(tmp_path / "data", "pg18")
    text = refusal(tmp_path / "out", {"HARBOR_DATA_VOLUME": str(tmp_path / "data"),
                                      "HARBOR_IMAGE_TAG": "v2.15.1"})
    assert "pg18 is a PostgreSQL 18 cluster, newer than the pg15 of Harbor v2.15.1" in text
    assert "a downgrade cannot work" in text and "restore the backup" in text


def test_the_flat_9_6_layout_is_refused(tmp_path):
    (tmp_path / "data/database").mkdir(parents=True)
    (tmp_path / "data/database/PG_VERSION").write_text("9.6\n")
    text = refusal(tmp_path / "out", {"HARBOR_DATA_VOLUME": str(tmp_path / "data")})
    assert "PostgreSQL 9.6 cluster in the flat layout" in text and "Back up first" in text


@pytest.mark.parametrize("layout,tag", [(["pg15"], "v2.15.2"), (["pg18"], "v2.15.2"),
                                        (["pg15", "pg18"], "v2.15.2"), (["pg14"], "v2.15.1"),
                                        (["pg15"], "v2.13.0"), ([], "v2.15.2"),
                                        (["pg14"], "v2.12.0"), (["pg14"], "dev")])
def test_what_the_database_image_upgrades_or_runs_passes(tmp_path, layout, tag):
    for name in layout:
        cluster(tmp_path / "data", name)
    (tmp_path / "data").mkdir(exist_ok=True)
    guard = Guard(str(tmp_path / "out"), {"HARBOR_DATA_VOLUME": str(tmp_path / "data"),
                                         "HARBOR_IMAGE_TAG": tag})
    assert guard.warnings == []


def test_a_pg_folder_without_a_cluster_is_no_cluster(tmp_path):
    (tmp_path / "data/database/pg14").mkdir(parents=True)  # no PG_VERSION
    Guard(str(tmp_path / "out"), {"HARBOR_DATA_VOLUME": str(tmp_path / "data")})


def test_a_recorded_newer_version_is_refused(tmp_path):
    Store(str(tmp_path / "out/.store")).replace(datadir.VERSION_ITEM, b"v2.16.0")
    text = refusal(tmp_path / "out", {})
    assert text.startswith("HARBOR_IMAGE_TAG=v2.15.2, but this data was last run by Harbor "
                           "v2.16.0: a downgrade cannot work")
    assert "Set HARBOR_IMAGE_TAG=v2.16.0 again, or restore the backup" in text
    assert str(tmp_path / "out/.store/data/harbor-version") in text


def test_an_upgrade_passes_with_a_warning_to_back_up(tmp_path):
    Store(str(tmp_path / "out/.store")).replace(datadir.VERSION_ITEM, b"v2.15.1")
    guard = Guard(str(tmp_path / "out"), {})
    assert guard.warnings == [
        "Harbor v2.15.1 -> v2.15.2 on this data: Harbor migrates its database on the first "
        "start and there is no way back but a backup taken before. Back up first (README: "
        "Day 2, backup)."]
    guard.record()
    assert Store(str(tmp_path / "out/.store")).read(datadir.VERSION_ITEM) == b"v2.15.2"


def test_tags_that_are_not_versions_are_not_compared_but_said(tmp_path):
    Store(str(tmp_path / "out/.store")).replace(datadir.VERSION_ITEM, b"v2.15.2")
    guard = Guard(str(tmp_path / "out"), {"HARBOR_IMAGE_TAG": "latest"})
    assert guard.warnings == [
        "HARBOR_IMAGE_TAG changes from v2.15.2 to latest, which are not both versions vX.Y.Z: "
        "the upgrade guard cannot compare them. Back up first (README: Day 2, backup)."]


def test_a_database_that_disappeared_is_refused(tmp_path):
    (tmp_path / "data").mkdir()
    Store(str(tmp_path / "out/.store")).replace(datadir.LAYOUT_ITEM, b"pg18")
    text = refusal(tmp_path / "out", {"HARBOR_DATA_VOLUME": str(tmp_path / "data")})
    assert text.startswith(f"this data last ran with its database in {tmp_path}/data/database/"
                           "pg18, which is missing now: Harbor would start an empty database.")
    assert "delete " + str(tmp_path / "out/.store/data/database-layout") in text


def test_a_data_folder_that_is_not_mounted_is_refused(tmp_path):
    text = refusal(tmp_path / "out", {"HARBOR_DATA_VOLUME": str(tmp_path / "nowhere")})
    assert text.startswith(f"HARBOR_DATA_VOLUME: {tmp_path}/nowhere is not a folder here. "
                           "With compose, add -f compose/docker-compose.hostdata.yml")


def test_the_guard_records_version_and_layout_once(tmp_path):
    cluster(tmp_path / "data", "pg18")
    (tmp_path / "out/.store").mkdir(parents=True)
    variables = {"HARBOR_DATA_VOLUME": str(tmp_path / "data")}
    Guard(str(tmp_path / "out"), variables).record()
    store = Store(str(tmp_path / "out/.store"))
    assert store.read(datadir.VERSION_ITEM) == b"v2.15.2"
    assert store.read(datadir.LAYOUT_ITEM) == b"pg18"
    before = os.stat(store.path(datadir.VERSION_ITEM)).st_mtime_ns
    Guard(str(tmp_path / "out"), variables).record()
    assert os.stat(store.path(datadir.VERSION_ITEM)).st_mtime_ns == before


def test_generate_refuses_before_writing_anything(tmp_path):
    cluster(tmp_path / "data", "pg14")
    result = run_wrapper(["generate", "--out", str(tmp_path / "out")],
                         {**BASE, "HARBOR_DATA_VOLUME": str(tmp_path / "data")})
    assert result.returncode == 3
    assert "refused, nothing was changed (no container has touched the data):" in result.stderr
    assert "pg14 is a PostgreSQL 14 cluster" in result.stderr
    assert not (tmp_path / "out").exists()


def test_generate_records_the_version_then_refuses_a_downgrade(out):
    assert run_wrapper(["generate", "--out", str(out)], BASE).returncode == 0
    assert (out / ".store/data/harbor-version").read_bytes() == b"v2.15.2"
    result = run_wrapper(["generate", "--out", str(out)], {**BASE, "HARBOR_IMAGE_TAG": "v2.14.0"})
    assert result.returncode == 3 and "a downgrade cannot work" in result.stderr
    assert (out / ".store/data/harbor-version").read_bytes() == b"v2.15.2"


# --- moving in from an official install --------------------------------------------------

def test_an_official_install_moves_in_with_its_keys_byte_for_byte(out, tmp_path, token_key):
    data = tmp_path / "data"
    shutil.rmtree(out / ".store")  # an empty store, as on a first start
    files = official(data, token_key)
    result = run_wrapper(["generate", "--out", str(out)],
                         {**BASE, "HARBOR_DATA_VOLUME": str(data)})
    assert result.returncode == 0, result.stderr
    assert "kept from" in result.stderr
    for relative, content in files.items():
        assert (out / relative).read_bytes() == content  # the generation Harbor reads
        assert (data / relative).read_bytes() == content  # untouched
    # a rerun with new settings keeps them
    result = run_wrapper(["generate", "--out", str(out)],
                         {**BASE, "HARBOR_DATA_VOLUME": str(data), "HARBOR_LOG_LEVEL": "debug"})
    assert result.returncode == 0, result.stderr
    assert (out / "secret/keys/secretkey").read_bytes() == files["secret/keys/secretkey"]


def test_a_new_data_folder_gets_upstream_key_files(out, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    result = run_wrapper(["generate", "--out", str(out)], {**BASE, "HARBOR_DATA_VOLUME": str(data)})
    assert result.returncode == 0, result.stderr
    for item, relative in datadir.UPSTREAM_KEYS.items():
        path = data / relative
        assert path.read_bytes() == (out / ".store" / item).read_bytes()
        assert path.stat().st_mode & 0o777 == 0o600
        assert oct(path.parent.stat().st_mode & 0o777) == oct(0o755)
        if os.geteuid() == 0:
            assert (path.stat().st_uid, path.stat().st_gid) == (10000, 10000)


def test_keys_that_differ_from_the_store_are_refused(tmp_path, token_key):
    data = tmp_path / "data"
    official(data, token_key)
    store = Store(str(tmp_path / "store"))
    store.get_or_create("secretkey", lambda: b"0000000000000000")
    with pytest.raises(Refused) as refused:
        datadir.adopt(store, str(data))
    text, = refused.value.reasons
    assert text.startswith(f"{data}/secret/keys/secretkey differs from {tmp_path}/store/"
                           "secretkey: this data folder and the wrapper's store hold different "
                           "keys. Keep the one the database was made with")
    assert store.read("secretkey") == b"0000000000000000"


def test_a_secretkey_of_the_wrong_length_is_refused(tmp_path, token_key):
    data = tmp_path / "data"
    official(data, token_key)
    (data / "secret/keys/secretkey").write_bytes(b"AbCdEfGh12345678\n")
    with pytest.raises(Refused) as refused:
        datadir.adopt(Store(str(tmp_path / "store")), str(data))
    assert refused.value.reasons == [
        f"{data}/secret/keys/secretkey is 17 bytes: Harbor's secretkey is 16 bytes (no "
        "newline). It encrypts the credentials in Harbor's database: restore the original file."]


def test_a_broken_token_key_is_refused(tmp_path, token_key):
    data = tmp_path / "data"
    official(data, token_key)
    (data / "secret/core/private_key.pem").write_bytes(b"not a key")
    with pytest.raises(Refused) as refused:
        datadir.adopt(Store(str(tmp_path / "store")), str(data))
    assert refused.value.reasons == [
        f"{data}/secret/core/private_key.pem is not a readable PEM private key (Harbor's token "
        "signing key): restore the original file."]


def test_existing_upstream_files_are_never_overwritten(tmp_path):
    data = tmp_path / "data"
    (data / "secret/keys").mkdir(parents=True)
    (data / "secret/keys/secretkey").write_bytes(b"keep me as I am!")
    store = Store(str(tmp_path / "store"))
    store.get_or_create("secretkey", lambda: b"0000000000000000")
    assert "secret/keys/secretkey" not in datadir.write_upstream_keys(store, str(data), False)
    assert (data / "secret/keys/secretkey").read_bytes() == b"keep me as I am!"
