"""The Day 2 compose files load in the real compose v2, and with HARBOR_DATA_VOLUME every data
mount is a bind mount of the host folder (so `down -v`, which removes volumes, cannot reach
it)."""

import json

from test_compose_files import compose_config

DATA = "/srv/harbor-data"
BASE = {"HARBOR_HOSTNAME": "h.example.test"}
# service -> its data mounts: target -> folder under DATA (upstream's names)
DATA_MOUNTS = {
    "registry": {"/storage": "registry"},
    "registryctl": {"/storage": "registry"},
    "postgresql": {"/var/lib/postgresql/data": "database"},
    "redis": {"/var/lib/redis": "redis"},
    "jobservice": {"/var/log/jobs": "job_logs"},
    "core": {"/data": "registry"},
    "trivy-adapter": {"/home/scanner/.cache/trivy": "trivy-adapter/trivy",
                      "/home/scanner/.cache/reports": "trivy-adapter/reports"},
    "init-data": {"/data/registry": "registry", "/data/job_logs": "job_logs",
                  "/data/database": "database", "/data/redis": "redis",
                  "/data/trivy-adapter/trivy": "trivy-adapter/trivy",
                  "/data/trivy-adapter/reports": "trivy-adapter/reports"},
}


def services(*files: str, **env: str) -> dict:
    result = compose_config(*files, env={**BASE, "COMPOSE_PROFILES": "trivy,backup", **env})
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)["services"]


def mounts(service: dict) -> dict[str, dict]:
    return {m["target"]: m for m in service.get("volumes", [])}


def test_host_folder_mode_binds_every_data_folder():
    found = services("docker-compose.yml", "docker-compose.hostdata.yml",
                     HARBOR_DATA_VOLUME=DATA)
    for name, wanted in DATA_MOUNTS.items():
        have = mounts(found[name])
        for target, folder in wanted.items():
            assert have[target]["type"] == "bind", (name, target)
            assert have[target]["source"] == f"{DATA}/{folder}", (name, target)
    wrapper = mounts(found["setupwrapper"])
    assert wrapper["/harbor-setup"]["source"] == f"{DATA}/harbor-setup"
    assert wrapper[DATA]["read_only"] is True and wrapper[f"{DATA}/secret"]["type"] == "bind"
    # the guard runs before init-data touches a folder
    assert found["init-data"]["depends_on"]["setupwrapper"]["condition"] == (
        "service_completed_successfully")


def test_host_folder_mode_needs_the_folder():
    result = compose_config("docker-compose.yml", "docker-compose.hostdata.yml", env=BASE)
    assert result.returncode != 0 and "set HARBOR_DATA_VOLUME" in result.stderr


def test_backup_file_follows_the_mode():
    named = services("docker-compose.yml", "docker-compose.backup.yml")
    assert mounts(named["restore-keys"])["/storage"]["type"] == "volume"
    assert mounts(named["restore-keys"])["/harbor-setup"]["source"] == "harbor-setup"
    host = services("docker-compose.yml", "docker-compose.hostdata.yml",
                    "docker-compose.backup.yml", HARBOR_DATA_VOLUME=DATA)
    for name in ("restore-keys", "backup"):
        assert mounts(host[name])["/storage"]["source"] == f"{DATA}/registry", name
    assert mounts(host["restore-keys"])["/harbor-setup"]["source"] == f"{DATA}/harbor-setup"
