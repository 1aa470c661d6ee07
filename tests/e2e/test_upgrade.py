"""The PostgreSQL 15 -> 18 upgrade of Harbor v2.15.2, its snapshot and the rollback, end to end.

A pg15 cluster as Harbor v2.14 leaves it ($PGDATA/pg15, made with Debian's PostgreSQL 15, data
checksums off; tests/e2e/pg15_cluster.py) holds a few of Harbor's tables with rows this test
writes, and the wrapper's store records Harbor v2.14.4 as the version that ran on it (the
setupwrapper run once with HARBOR_IMAGE_TAG=v2.14.4; v2.14.4's own images are not built here:
their names differ, e.g. redis-photon). Then, in named-volume and in host-folder mode:

  1. `up -d` at v2.15.2: init-data snapshots pg15, the db stand-in pg_upgrades it to pg18;
     the rows are there under PostgreSQL 18; login, push and pull work; `status` lists the
     snapshot with its size, age and the command that drops it.
  2. stop, `run --rm rollback`: pg15 is back (PostgreSQL 15 started on it reads the rows), pg18
     is gone, the recorded version is v2.14.4 again.
  3. `up -d` at v2.15.2 again: upgraded again, the rows kept.
  4. host-folder mode only (issue 17's follow-up): backup with PostgreSQL 18's pg_dump, an empty
     host folder, restore-keys and restore-database (pg_restore 18), up: rows and image back.

One deployment per mode carries all the checks. Run: pytest -m upgrade_e2e
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from pathlib import Path

import pytest

from compose_support import PASSWORD, pull, push_and_pull
from e2e_support import sh
from pg15_cluster import make_pg15, pg15_query
from test_data import STOP_FOR_BACKUP, DataHarbor

pytestmark = pytest.mark.upgrade_e2e

DB_PASSWORD = "pg-upgrade-e2e-pw"
# Harbor's tables as the core double keeps them (tests/doubles/core_settings.py, columns of
# Harbor's harbor_user and project), with the admin password already set at v2.14 (PBKDF2 as
# Harbor hashes it): login after the upgrade reads that row, core does not set it again.
ADMIN_SALT = "0123456789abcdef0123456789abcdef"
ADMIN_HASH = hashlib.pbkdf2_hmac("sha256", PASSWORD.encode(), ADMIN_SALT.encode(), 4096, 16).hex()
HARBOR_ROWS = f"""
CREATE TABLE properties (id serial PRIMARY KEY, k varchar(64) UNIQUE NOT NULL,
                         v varchar(2048) NOT NULL);
CREATE TABLE harbor_user (user_id serial PRIMARY KEY, username varchar(255) UNIQUE NOT NULL,
    password varchar(40) NOT NULL DEFAULT '', salt varchar(40) NOT NULL DEFAULT '',
    sysadmin_flag boolean NOT NULL DEFAULT false, deleted boolean NOT NULL DEFAULT false,
    creation_time timestamp DEFAULT now());
CREATE TABLE project (project_id serial PRIMARY KEY, name varchar(255) UNIQUE NOT NULL,
    owner_id int NOT NULL, public boolean NOT NULL DEFAULT false,
    creation_time timestamp DEFAULT now());
INSERT INTO schema_migrations VALUES (150, false);
INSERT INTO harbor_user (user_id, username, password, salt, sysadmin_flag)
    VALUES (1, 'admin', '{ADMIN_HASH}', '{ADMIN_SALT}', true);
INSERT INTO harbor_user (user_id, username, deleted) VALUES (2, 'anonymous', true);
INSERT INTO harbor_user (user_id, username) VALUES (3, 'upgrade-e2e');
INSERT INTO project (project_id, name, owner_id) VALUES (1, 'library', 1),
                                                        (2, 'kept-through-pg18', 3);
SELECT setval('harbor_user_user_id_seq', 3);
SELECT setval('project_project_id_seq', 2);
"""
ROWS_QUERY = ("SELECT string_agg(u.username || '/' || p.name, ',' ORDER BY p.project_id) "
              "FROM project p JOIN harbor_user u ON u.user_id = p.owner_id")
ROWS = "admin/library,upgrade-e2e/kept-through-pg18"
OLD_VERSION = "v2.14.4"
# after the upgrade: the new cluster, the snapshot and init-data's decision, which the
# postgresql shim waited for (database/snapshot-pg15.decision)
UPGRADED = ["pg18", "snapshot-pg15", "snapshot-pg15.decision"]


def volume_entries(volume: str) -> list[str]:
    """The names at the top of a named volume, read through a throw-away container."""
    out = sh("docker", "run", "--rm", "-v", f"{volume}:/d:ro", "--entrypoint", "ls",
             "harbor-e2e-base:bookworm", "-A", "/d").stdout
    return sorted(out.split())


def database_entries(h: DataHarbor) -> list[str]:
    data = h.env.get("HARBOR_DATA_VOLUME")
    if data:
        return sorted(os.listdir(Path(data) / "database"))
    return volume_entries(f"{h.project}_database")


def database_mount(h: DataHarbor) -> str:
    data = h.env.get("HARBOR_DATA_VOLUME")
    return str(Path(data) / "database") if data else f"{h.project}_database"


def recorded_version(h: DataHarbor) -> str:
    return h.volume_file(".store/data/harbor-version").decode().strip()


def upgrade_timed(h: DataHarbor) -> float:
    started = time.monotonic()
    h.compose("up", "-d", timeout=900)
    return time.monotonic() - started


@pytest.mark.parametrize("mode", ["named-volume", "host-folder"])
def test_pg15_upgrade_snapshot_rollback_and_upgrade_again(wrapper_image, standins, tmp_path, mode):
    db_image = standins["harbor-db"]
    project = "harborupgvol" if mode == "named-volume" else "harborupghost"
    files = ["docker-compose.backup.yml"]
    variables = {"HARBOR_DATABASE_PASSWORD": DB_PASSWORD,
                 "HARBOR_BACKUP_DIR": str(tmp_path / "backups")}
    data = tmp_path / "data"
    if mode == "host-folder":
        files.append("docker-compose.hostdata.yml")
        variables["HARBOR_DATA_VOLUME"] = str(data)
    h = DataHarbor(project, wrapper_image, *files, **variables)
    h.remove()
    try:
        # --- Harbor v2.14's data: a pg15 cluster with rows, the store recording v2.14.4
        if mode == "host-folder":
            (data / "database").mkdir(parents=True)
            os.chown(data / "database", 999, 999)
            (data / "database").chmod(0o700)
        else:
            sh("docker", "volume", "create", "--label", f"com.docker.compose.project={project}",
               "--label", "com.docker.compose.volume=database", f"{project}_database")
        control = make_pg15(db_image, database_mount(h), HARBOR_ROWS, DB_PASSWORD)
        assert "Data page checksum version:           0" in control, control
        assert database_entries(h) == ["pg15"]
        h.compose("run", "--rm", "--no-deps", "-e", f"HARBOR_IMAGE_TAG={OLD_VERSION}",
                  "setupwrapper")
        assert recorded_version(h) == OLD_VERSION

        # --- 1. v2.15.2 starts on it: snapshot, pg_upgrade, rows under 18, Harbor works
        took = upgrade_timed(h)
        print(f"\n[upgrade-e2e] {mode}: up -d with the pg15 -> pg18 upgrade took {took:.0f}s")
        assert h.sql("SHOW server_version") == "18.6"
        assert h.sql(ROWS_QUERY) == ROWS
        assert h.sql("SHOW data_checksums") == "off"
        assert database_entries(h) == UPGRADED
        assert recorded_version(h) == "v2.15.2"
        h.trust_ca()
        h.login()
        assert "password already exists in database" in h.compose("logs", "core").stdout
        push_and_pull(h, "upgrade")
        status = json.loads(h.compose("run", "--rm", "--no-deps", "setupwrapper", "status",
                                      "--json", check=False).stdout)
        snap = status["database_snapshot"]
        assert snap["path"] == "/data/database/snapshot-pg15" and snap["cluster"] == "pg15"
        assert snap["harbor_version"] == OLD_VERSION and snap["bytes"] > 1_000_000
        assert snap["drop"] == "harbor-setupwrapper rollback --drop" and snap["age"]
        init_logs = h.compose("logs", "init-data").stdout
        assert "snapshot of pg15" in init_logs and "rollback --drop" in init_logs
        assert "snapshot /var/lib/postgresql/data/snapshot-pg15 of this cluster is complete" \
            in h.compose("logs", "postgresql").stdout

        # --- 2. rollback: pg15 back with its rows, pg18 gone, v2.14.4 recorded again
        refused = h.compose("run", "--rm", "rollback", check=False)
        assert refused.returncode == 3 and "PostgreSQL is running" in refused.stderr
        assert database_entries(h) == UPGRADED
        h.compose("stop", timeout=300)
        h.compose("run", "--rm", "rollback")
        assert database_entries(h) == ["pg15"]
        assert pg15_query(db_image, database_mount(h), ROWS_QUERY) == ROWS
        assert pg15_query(db_image, database_mount(h), "SHOW server_version").startswith("15.")
        assert recorded_version(h) == OLD_VERSION
        again = h.compose("run", "--rm", "rollback", check=False)
        assert again.returncode == 3 and "no snapshot" in again.stderr
        assert database_entries(h) == ["pg15"]

        # --- 3. v2.15.2 again: upgraded again, rows kept
        took = upgrade_timed(h)
        print(f"[upgrade-e2e] {mode}: up -d after the rollback (upgrade again) took {took:.0f}s")
        assert h.sql("SHOW server_version") == "18.6"
        assert h.sql(ROWS_QUERY) == ROWS
        assert h.compose("logs", "postgresql").stdout.count("upgrade DB from 15 to 18") == 2
        assert database_entries(h) == UPGRADED
        h.compose("run", "--rm", "rollback", "--drop")
        assert database_entries(h) == ["pg18"]

        if mode == "host-folder":
            restore_into_an_empty_host_folder(h, data, tmp_path / "backups")
    finally:
        h.remove()
        shutil.rmtree(data, ignore_errors=True)
        shutil.rmtree(tmp_path / "backups", ignore_errors=True)


def restore_into_an_empty_host_folder(h: DataHarbor, data: Path, backups: Path) -> None:
    """Issue 17's follow-up: the README's restore in host-folder mode, with PostgreSQL 18."""
    h.login()
    keys = h.keys()
    h.compose("stop", *STOP_FOR_BACKUP)
    name = h.compose("run", "--rm", "backup").stdout.strip().splitlines()[-1]
    assert (backups / name / "registry.pgdump").is_file()
    h.compose("down", "-v", timeout=600)
    shutil.rmtree(data)  # a new host: an empty data folder
    data.mkdir()
    h.compose("run", "--rm", "restore-keys", name)
    restored = h.compose("run", "--rm", "restore-database", name, timeout=900)
    assert "restored from" in restored.stderr
    h.compose("up", "-d", timeout=900)
    assert h.sql("SHOW server_version") == "18.6"
    assert h.sql(ROWS_QUERY) == ROWS
    assert sorted(os.listdir(data / "database")) == ["pg18"]
    h.login()
    pull(h, "upgrade")
    assert h.keys() == keys
