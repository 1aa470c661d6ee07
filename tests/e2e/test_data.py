"""Day 2 with the data, end to end: backup and restore, a host data folder, moving in from an
official install, the upgrade guard. The commands are the README's "Day 2" ones.

The database's content is checked with a marker table written through psql: the core double
keeps no users or projects of its own, so the marker stands for them (it lives in the same
database, `registry`). The stand-in harbor-db runs PostgreSQL 18 as the real image does; like
the real image it would start an empty pg18 cluster beside a pg14 folder, which the guard
prevents. Backup and restore use that image's own pg_dump and pg_restore (PostgreSQL 18).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from compose_support import (CERTS_D, HTTPS_PORT, PASSWORD, Harbor, pull, push_and_pull,
                             tls_verified)
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


UPSTREAM_KEYS = ("secret/keys/secretkey", "secret/core/private_key.pem", "secret/registry/root.crt")


def owner_mode(path: Path) -> tuple[int, int, int]:
    st = path.stat()
    return st.st_uid, st.st_gid, st.st_mode & 0o777


def assert_official_layout(data: Path) -> None:
    """What prepare leaves under data_volume (harbor-v2.15.2-prepare-facts.md, 2.3)."""
    assert owner_mode(data / "database") == (999, 999, 0o700)
    assert owner_mode(data / "redis")[:2] == (999, 999)
    for name in ("registry", "job_logs"):
        assert owner_mode(data / name)[:2] == (10000, 10000), name
    for folder in ("secret", "secret/keys", "secret/core", "secret/registry"):
        assert owner_mode(data / folder) == (0, 0, 0o755), folder
    for key in UPSTREAM_KEYS:
        assert owner_mode(data / key) == (10000, 10000, 0o600), key


def official_harbor_yml(data: Path, db_password: str) -> Path:
    """An official installer's harbor.yml: its certificate paths are the host's, which the
    README's procedure replaces with prepare's copies under secret/cert."""
    path = data / "harbor.yml"
    path.write_text(
        "hostname: 127.0.0.2\n"
        "http:\n  port: 80\n"
        "https:\n  port: 443\n  certificate: /etc/ssl/harbor/server.crt\n"
        "  private_key: /etc/ssl/harbor/server.key\n"
        f"harbor_admin_password: '{PASSWORD.replace(chr(39), chr(39) * 2)}'\n"
        f"database:\n  password: {db_password}\n  max_idle_conns: 100\n  max_open_conns: 900\n"
        f"data_volume: {data}\n"
        "jobservice:\n  max_job_workers: 10\n  job_loggers: [STD_OUTPUT, FILE]\n"
        "  logger_sweeper_duration: 1\n"
        "notification:\n  webhook_job_max_retry: 3\n  webhook_job_http_client_timeout: 3\n"
        "log:\n  level: info\n  local:\n    rotate_count: 50\n    rotate_size: 200M\n"
        "    location: /var/log/harbor\n"
        "_version: 2.15.0\n")
    return path


def official_certificate(data: Path) -> bytes:
    """secret/cert/server.crt and .key as prepare copies them (10000:10000 0600); the CA."""
    from wrapper import pki

    ca_key, ca_cert = pki.new_ca("official install's CA", 365)
    key = pki.new_ec_key()
    cert = pki.issue(ca_key, ca_cert, key, "127.0.0.2", ["127.0.0.2"], 365)
    (data / "secret/cert").mkdir(mode=0o755)
    os.chown(data / "secret/cert", 10000, 10000)
    for name, content in (("server.crt", cert), ("server.key", key)):
        (data / "secret/cert" / name).write_bytes(content)
        (data / "secret/cert" / name).chmod(0o600)
        os.chown(data / "secret/cert" / name, 10000, 10000)
    return ca_cert


def test_host_folder_survives_down_v_then_an_official_install_moves_in(
        wrapper_image, standins, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    h = DataHarbor("harbordatahost", wrapper_image, "docker-compose.hostdata.yml",
                   HARBOR_DATA_VOLUME=str(data))
    official = tmp_path / "official"
    moved = DataHarbor("harbordatamove", wrapper_image, "docker-compose.hostdata.yml",
                       HARBOR_DATA_VOLUME=str(official),  # the README's procedure
                       HARBOR_CONFIG_FILE=str(official / "harbor.yml"),
                       HARBOR_HTTPS_CERTIFICATE=str(official / "secret/cert/server.crt"),
                       HARBOR_HTTPS_PRIVATE_KEY=str(official / "secret/cert/server.key"))
    del moved.env["HARBOR_ADMIN_PASSWORD"]  # from harbor.yml
    h.remove()
    moved.remove()
    try:
        # host-folder mode: push, down -v, up: the image and the keys are still there
        h.compose("up", "-d", timeout=900)
        h.trust_ca()
        h.login()
        push_and_pull(h, "host")
        write_marker(h)
        keys = h.keys()
        assert (data / "database/pg18/PG_VERSION").is_file()
        assert (data / "registry/docker/registry/v2/repositories/library/e2e").is_dir()
        for key in UPSTREAM_KEYS:  # upstream's key files, equal to what Harbor reads
            assert (data / key).read_bytes() == h.volume_file(key)
        assert_official_layout(data)
        h.compose("down", "-v", timeout=600)
        h.compose("up", "-d", timeout=900)
        h.login()
        pull(h, "host")
        assert h.keys() == keys
        assert h.sql("SELECT note FROM e2e_marker") == MARKER
        h.compose("down", "-v", timeout=600)

        # an official install: the same data as prepare leaves it, without the wrapper's folder
        official.mkdir()
        for name in ("database", "registry", "redis", "job_logs", "secret"):
            sh("cp", "-a", str(data / name), str(official / name))
        db_password = (data / "harbor-setup/.store/database_password").read_text()
        official_harbor_yml(official, db_password)
        official_ca = official_certificate(official)
        assert_official_layout(official)
        before = {key: (official / key).read_bytes() for key in UPSTREAM_KEYS}

        moved.compose("up", "-d", timeout=900)
        (CERTS_D / moved.host).mkdir(parents=True, exist_ok=True)
        (CERTS_D / moved.host / "ca.crt").write_bytes(official_ca)
        moved.login()  # the old admin password (from harbor.yml)
        assert tls_verified("127.0.0.2", HTTPS_PORT, official_ca)  # the official certificate
        pull(moved, "host")
        assert moved.sql("SELECT note FROM e2e_marker") == MARKER
        for key in UPSTREAM_KEYS:
            assert moved.volume_file(key) == before[key] == (official / key).read_bytes()
        assert (official / "harbor-setup/.store/secretkey").read_bytes() == before[
            "secret/keys/secretkey"]
        assert (official / "harbor-setup/.store/data/harbor-version").read_text() == "v2.15.2"

        # the upgrade guard: a newer recorded version is refused before any container starts
        moved.compose("down", timeout=600)
        (official / "harbor-setup/.store/data/harbor-version").write_text("v2.16.0")
        refused = moved.compose("up", "-d", check=False, timeout=600)
        assert refused.returncode != 0
        logs = moved.compose("logs", "setupwrapper").stdout
        assert "HARBOR_IMAGE_TAG=v2.15.2, but this data was last run by Harbor v2.16.0" in logs
        states = moved.services()
        assert states.pop("setupwrapper") == "exited"
        assert all(state != "running" for state in states.values()), states
    finally:
        h.remove()
        moved.remove()


def test_a_pg14_folder_is_refused_before_any_container_touches_it(
        wrapper_image, standins, tmp_path):
    data = tmp_path / "data"
    cluster = data / "database/pg14"
    cluster.mkdir(parents=True)
    (cluster / "PG_VERSION").write_text("14\n")
    sh("chown", "-R", "999:999", str(data / "database"))
    (data / "database").chmod(0o700)
    h = DataHarbor("harbordatapg14", wrapper_image, "docker-compose.hostdata.yml",
                   HARBOR_DATA_VOLUME=str(data))
    h.remove()
    try:
        refused = h.compose("up", "-d", check=False, timeout=600)
        assert refused.returncode != 0
        logs = h.compose("logs", "setupwrapper").stdout
        assert f"{data}/database/pg14 is a PostgreSQL 14 cluster" in logs
        assert "HARBOR_IMAGE_TAG=v2.15.1" in logs and "Back up the folder first" in logs
        assert sorted(os.listdir(data / "database")) == ["pg14"]  # no empty pg18 beside it
        states = h.services()
        assert states.pop("setupwrapper") == "exited"
        assert all(state != "running" for state in states.values()), states
    finally:
        h.remove()
