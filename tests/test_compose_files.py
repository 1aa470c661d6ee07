"""The compose file and its opt-in overrides load in the real compose v2 (no engine needed)."""

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
COMPOSE = REPO / "compose"


def compose_config(*files: str, env: dict) -> subprocess.CompletedProcess:
    if shutil.which("docker") is None or subprocess.run(
            ["docker", "compose", "version"], capture_output=True).returncode != 0:
        if os.environ.get("CI"):
            pytest.fail("the docker compose v2 plugin is missing (run .ci/start-engine.sh)")
        pytest.skip("the docker compose v2 plugin is missing")
    args = ["docker", "compose"]
    for name in files:
        args += ["-f", str(COMPOSE / name)]
    variables = {k: v for k, v in os.environ.items() if not k.startswith("HARBOR_")}
    return subprocess.run(args + ["config", "--format", "json"], capture_output=True, text=True,
                          env={**variables, **env})


def test_missing_hostname_is_named():
    result = compose_config("docker-compose.yml", env={})
    assert result.returncode != 0 and "HARBOR_HOSTNAME" in result.stderr


def test_only_set_variables_reach_the_wrapper():
    result = compose_config("docker-compose.yml", env={"HARBOR_HOSTNAME": "h.example.test",
                                                       "HARBOR_LOG_LEVEL": "debug"})
    assert result.returncode == 0, result.stderr
    env = json.loads(result.stdout)["services"]["setupwrapper"]["environment"]
    assert env["HARBOR_LOG_LEVEL"] == "debug" and env["HARBOR_HOSTNAME"] == "h.example.test"
    assert env["HARBOR_CACHE_ENABLED"] is None  # unset: not passed at all


def test_secrets_override(tmp_path):
    (tmp_path / "a").write_text("admin\n")
    (tmp_path / "d").write_text("db\n")
    result = compose_config("docker-compose.yml", "docker-compose.secrets.yml",
                            env={"HARBOR_HOSTNAME": "h.example.test",
                                 "HARBOR_ADMIN_PASSWORD_SECRET": str(tmp_path / "a"),
                                 "HARBOR_DATABASE_PASSWORD_SECRET": str(tmp_path / "d")})
    assert result.returncode == 0, result.stderr
    wrapper = json.loads(result.stdout)["services"]["setupwrapper"]
    assert wrapper["environment"]["HARBOR_ADMIN_PASSWORD_FILE"] == "/run/secrets/harbor_admin_password"
    assert {s["source"] for s in wrapper["secrets"]} == {"harbor_admin_password",
                                                         "harbor_database_password"}


def test_logs_are_bounded_unless_sent_to_syslog():
    result = compose_config("docker-compose.yml", env={"HARBOR_HOSTNAME": "h.example.test",
                                                       "COMPOSE_PROFILES": "syslog,trivy,metrics",
                                                       "HARBOR_LOG_MAX_SIZE": "5m"})
    assert result.returncode == 0, result.stderr
    for name, service in json.loads(result.stdout)["services"].items():
        assert service["logging"] == {"driver": "json-file",
                                      "options": {"max-size": "5m", "max-file": "5"}}, name
    result = compose_config("docker-compose.yml", "docker-compose.syslog.yml",
                            env={"HARBOR_HOSTNAME": "h.example.test", "COMPOSE_PROFILES": "syslog"})
    services = json.loads(result.stdout)["services"]
    assert services["core"]["logging"]["options"] == {"syslog-address": "tcp://127.0.0.1:1514",
                                                      "tag": "core"}, "no json-file option left"
    assert services["log"]["logging"]["driver"] == "json-file"


def test_http_override_publishes_the_http_port_only():
    env = {"HARBOR_HOSTNAME": "h.example.test", "HARBOR_PROTOCOL": "http",
           "HARBOR_HTTP_PORT": "8080", "COMPOSE_PROFILES": "metrics"}
    result = compose_config("docker-compose.yml", "docker-compose.http.yml", env=env)
    assert result.returncode == 0, result.stderr
    ports = json.loads(result.stdout)["services"]["proxy"]["ports"]
    assert [(p["published"], p["target"]) for p in ports] == [("8080", 8080)]
    result = compose_config("docker-compose.yml", "docker-compose.http.yml",
                            "docker-compose.metrics.yml", env=env)
    ports = json.loads(result.stdout)["services"]["proxy"]["ports"]
    assert sorted(p["target"] for p in ports) == [8080, 9090]
    result = compose_config("docker-compose.yml", env=env)
    ports = json.loads(result.stdout)["services"]["proxy"]["ports"]
    assert sorted(p["target"] for p in ports) == [8080, 8443], "https stays the default"


def test_syslog_and_metrics_overrides():
    result = compose_config("docker-compose.yml", "docker-compose.syslog.yml",
                            env={"HARBOR_HOSTNAME": "h.example.test", "COMPOSE_PROFILES": "syslog"})
    assert result.returncode == 0, result.stderr
    services = json.loads(result.stdout)["services"]
    assert services["core"]["logging"]["driver"] == "syslog"
    assert services["core"]["logging"]["options"]["tag"] == "core"
    assert services["core"]["depends_on"]["log"]["condition"] == "service_healthy"
    result = compose_config("docker-compose.yml", "docker-compose.metrics.yml",
                            env={"HARBOR_HOSTNAME": "h.example.test", "COMPOSE_PROFILES": "metrics",
                                 "HARBOR_METRIC_PORT": "9191"})
    assert result.returncode == 0, result.stderr
    services = json.loads(result.stdout)["services"]
    assert any(p["target"] == 9090 and p["published"] == "9191" for p in services["proxy"]["ports"])
    assert "exporter" in services


def test_certificate_override(tmp_path):
    result = compose_config("docker-compose.yml", "docker-compose.certs.yml",
                            env={"HARBOR_HOSTNAME": "h.example.test"})
    assert result.returncode != 0 and "set HARBOR_SETUP_CERT_DIR" in result.stderr
    result = compose_config("docker-compose.yml", "docker-compose.certs.yml",
                            env={"HARBOR_HOSTNAME": "h.example.test",
                                 "HARBOR_SETUP_CERT_DIR": str(tmp_path),
                                 "HARBOR_SETUP_CERT_FILE": "live/h/fullchain.pem"})
    assert result.returncode == 0, result.stderr
    wrapper = json.loads(result.stdout)["services"]["setupwrapper"]
    env = wrapper["environment"]
    assert env["HARBOR_HTTPS_CERTIFICATE"] == "/run/harbor-certificate/live/h/fullchain.pem"
    assert env["HARBOR_HTTPS_PRIVATE_KEY"] == "/run/harbor-certificate/tls.key"
    mount = [v for v in wrapper["volumes"] if v["target"] == "/run/harbor-certificate"]
    assert mount == [{"type": "bind", "source": str(tmp_path),
                      "target": "/run/harbor-certificate", "read_only": True,
                      "bind": {"create_host_path": True}}] or (
        mount[0]["source"] == str(tmp_path) and mount[0]["read_only"] is True)
    # the base file's own volumes are all still there
    assert {v["target"] for v in wrapper["volumes"]} >= {"/harbor-setup", "/etc/registry"}


def test_engine25_override_checks_every_second_while_starting_only():
    result = compose_config("docker-compose.yml", "docker-compose.engine25.yml",
                            env={"HARBOR_HOSTNAME": "h.example.test",
                                 "COMPOSE_PROFILES": "syslog,trivy,metrics"})
    assert result.returncode == 0, result.stderr
    services = json.loads(result.stdout)["services"]
    for name, service in services.items():
        if name in ("setupwrapper", "init-data", "renew"):
            assert "healthcheck" not in service, name
            continue
        assert service["healthcheck"]["start_interval"] == "1s", name
        assert service["healthcheck"]["interval"] == "5s", name  # after the start, as before


OVERRIDES = sorted(p.name for p in COMPOSE.glob("docker-compose.*.yml"))


@pytest.mark.parametrize("override", [None, *OVERRIDES])
def test_renew_gets_the_wrappers_inputs_with_every_override(override, tmp_path):
    """renew runs `generate` in each round: with other variables, files or volumes than
    setupwrapper's it would publish another config (or make its own certificate in place
    of yours). Every override file, as compose merges it."""
    (tmp_path / "secret").write_text("x\n")
    env = {"HARBOR_HOSTNAME": "h.example.test", "HARBOR_LOG_LEVEL": "debug",
           "HARBOR_SETUP_CERT_DIR": str(tmp_path), "HARBOR_SETUP_TRUST_DIR": str(tmp_path),
           "HARBOR_SETUP_TRIVY_DB_DIR": str(tmp_path), "HARBOR_DATA_VOLUME": str(tmp_path),
           "HARBOR_ADMIN_PASSWORD_SECRET": str(tmp_path / "secret"),
           "HARBOR_DATABASE_PASSWORD_SECRET": str(tmp_path / "secret"),
           "COMPOSE_PROFILES": "syslog,trivy,metrics"}
    result = compose_config("docker-compose.yml", *([override] if override else []), env=env)
    assert result.returncode == 0, result.stderr
    services = json.loads(result.stdout)["services"]
    wrapper, renew = services["setupwrapper"], services["renew"]
    for key in ("image", "environment", "volumes", "secrets", "env_file"):
        assert renew.get(key) == wrapper.get(key), f"{override}: renew's {key}"
    assert renew["command"] == ["renew", "--link-fixed-paths"]
    assert renew["restart"] == "always"
    assert renew["depends_on"]["setupwrapper"]["condition"] == "service_completed_successfully"
    assert renew["depends_on"]["setupwrapper"]["restart"] is True
    assert renew["depends_on"]["proxy"]["condition"] == "service_healthy"


@pytest.mark.parametrize("value", [None, "false"])
def test_init_data_and_postgresql_get_the_same_snapshot_setting(value):
    """The postgresql shim lets an upgrade through without a snapshot only when it is told
    false too; unset reaches neither (both read it as true)."""
    env = {"HARBOR_HOSTNAME": "h.example.test"}
    if value is not None:
        env["HARBOR_DATABASE_UPGRADE_SNAPSHOT"] = value
    result = compose_config("docker-compose.yml", env=env)
    assert result.returncode == 0, result.stderr
    services = json.loads(result.stdout)["services"]
    for name in ("init-data", "postgresql"):
        assert services[name]["environment"]["HARBOR_DATABASE_UPGRADE_SNAPSHOT"] == value, name
