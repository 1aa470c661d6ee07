"""Day 2 with the data, end to end: backup and restore, a host data folder, moving in from an
official install, the upgrade guard. The commands are the README's "Day 2" ones.

The database's content is checked with a marker table written through psql: the core double
keeps no users or projects of its own, so the marker stands for them (it lives in the same
database, `registry`). The stand-in harbor-db runs PostgreSQL 15 in the pg18 folder; like the
real image it starts an empty pg18 cluster beside a pg14 folder, which the guard prevents.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from compose_support import CERTS_D, Harbor, pull, push_and_pull
from e2e_support import sh

pytestmark = pytest.mark.data_e2e

STOP_FOR_BACKUP = ("proxy", "portal", "core", "jobservice", "registryctl", "registry")
MARKER = "users, projects and the rest of the database"


class DataHarbor(Harbor):
    """A deployment with the compose files of the README's Day 2 commands."""

    def __init__(self, project: str, wrapper_image: str, *files: str, **variables: str):
        super().__init__(project, wrapper_image,
                         tuple(f"compose/{name}" for name in ("docker-compose.yml", *files)))
        self.env.update(variables)

    def volume_file(self, path: str) -> bytes:
        data = self.env.get("HARBOR_DATA_VOLUME")
        if data:  # host-folder mode: the wrapper's folder is DATA/harbor-setup
            return (Path(data) / "harbor-setup" / path).resolve().read_bytes()
        return super().volume_file(path)

    def sql(self, statement: str) -> str:
        return self.compose("exec", "-T", "postgresql", "psql", "-v", "ON_ERROR_STOP=1", "-U",
                            "postgres", "-d", "registry", "-tAc", statement).stdout.strip()

    def services(self) -> dict[str, str]:
        states = sh("docker", "ps", "-a", "--filter",
                    f"label=com.docker.compose.project={self.project}", "--format",
                    "{{.Label \"com.docker.compose.service\"}} {{.State}}").stdout
        return dict(line.split() for line in states.splitlines())

    def remove(self) -> None:
        self.compose("down", "-v", "--remove-orphans", check=False)
        shutil.rmtree(CERTS_D / self.host, ignore_errors=True)


def write_marker(h: DataHarbor) -> None:
    h.sql(f"CREATE TABLE e2e_marker (note text); INSERT INTO e2e_marker VALUES ('{MARKER}')")


def test_backup_down_v_restore_into_a_fresh_deployment(wrapper_image, standins, tmp_path):
    backups = tmp_path / "backups"
    h = DataHarbor("harbordatabk", wrapper_image, "docker-compose.backup.yml",
                   HARBOR_BACKUP_DIR=str(backups))
    h.remove()
    try:
        h.compose("up", "-d", timeout=900)
        ca = h.trust_ca()
        h.login()
        push_and_pull(h, "backup")
        write_marker(h)
        keys = h.keys()

        # a backup while Harbor runs is refused: the database and the registry must agree
        refused = h.compose("run", "--rm", "backup", check=False)
        assert refused.returncode != 0 and "core is running: stop Harbor first" in refused.stderr

        h.compose("stop", *STOP_FOR_BACKUP)
        name = h.compose("run", "--rm", "backup").stdout.strip().splitlines()[-1]
        backup = backups / name
        assert name.startswith("harbor-backup-") and (backup / "registry.pgdump").is_file()
        assert "THIS BACKUP HOLDS SECRETS" in (backup / "README.txt").read_text()
        for root, dirs, files in os.walk(backup):
            for d in dirs:
                assert os.stat(os.path.join(root, d)).st_mode & 0o777 == 0o700
            for f in files:
                assert os.stat(os.path.join(root, f)).st_mode & 0o777 == 0o600, f
        assert backup.stat().st_mode & 0o777 == 0o700
        assert (backup / "store/secretkey").read_bytes() == keys["secret/keys/secretkey"]

        h.compose("down", "-v", timeout=600)
        h.compose("run", "--rm", "restore-keys", name)
        h.compose("run", "--rm", "restore-database", name, timeout=900)
        h.compose("up", "-d", timeout=900)
        assert h.trust_ca() == ca
        h.login()
        pull(h, "backup")
        assert h.keys() == keys
        assert h.sql("SELECT note FROM e2e_marker") == MARKER

        # restoring over a deployment that has keys is refused, and changes nothing
        again = h.compose("run", "--rm", "restore-keys", name, check=False)
        assert again.returncode == 3 and "already holds keys" in again.stderr
        assert h.keys() == keys
    finally:
        h.remove()
        shutil.rmtree(backups, ignore_errors=True)

