"""compose/docker-stack.yml: what `docker stack deploy` accepts, and the wrapper/shim design.

Most checks read the YAML only. The last ones run `docker stack config`, which needs the
docker client (no engine, no swarm); they skip without it, except in CI (CI set), where they
fail.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from wrapper import docs  # noqa: E402

STACK_PATH = REPO / "compose" / "docker-stack.yml"
COMPOSE_PATH = REPO / "compose" / "docker-compose.yml"
STACK_TEXT = STACK_PATH.read_text()
STACK = yaml.safe_load(STACK_TEXT)
COMPOSE = yaml.safe_load(COMPOSE_PATH.read_text())
SERVICES = STACK["services"]
WRAPPER = SERVICES["setupwrapper"]
INIT_DATA = SERVICES["init-data"]
RENEW = SERVICES["renew"]
HARBOR_SERVICES = {name: s for name, s in SERVICES.items()
                   if name not in ("setupwrapper", "init-data", "renew")}

# docker/cli, cli/compose/types/types.go (read at docker/cli master, same lists in v28):
# ForbiddenProperties make `docker stack deploy` fail ("compose file contains unsupported
# options"), UnsupportedProperties are dropped with a warning, DeprecatedProperties dropped.
FORBIDDEN_PROPERTIES = {
    "extends", "volume_driver", "volumes_from", "cpu_quota", "cpu_shares", "cpuset",
    "mem_limit", "memswap_limit",
}
UNSUPPORTED_PROPERTIES = {
    "build", "cgroupns_mode", "cgroup_parent", "devices", "domainname", "external_links",
    "ipc", "links", "mac_address", "network_mode", "pid", "privileged", "restart",
    "security_opt", "shm_size", "userns_mode",
}
DEPRECATED_PROPERTIES = {"container_name", "expose"}
# Parsed by the loader but never converted into a service spec (cli/compose/convert):
# Swarm has no start order, so the stack must not pretend to have one.
WITHOUT_EFFECT = {"depends_on"}

# The fixed-path volumes of the wrapper (wrapper/fixed_paths.py) and who reads which.
FIXED = {
    "etc-registry": "/etc/registry",
    "etc-registryctl": "/etc/registryctl",
    "etc-jobservice": "/etc/jobservice",
    "ca-download": "/etc/core/ca",
    "cust-cert": "/harbor_cust_cert",
    "harbor-ssl": "/etc/harbor/ssl",
}
FIXED_NEEDED = {
    "registry": {"etc-registry", "cust-cert"},
    # the images' own health checks present /etc/harbor/ssl/<name>.{crt,key} with internal TLS
    "registryctl": {"etc-registry", "etc-registryctl", "cust-cert", "harbor-ssl"},
    "jobservice": {"etc-jobservice", "cust-cert", "harbor-ssl"},
    "core": {"ca-download", "cust-cert"},
    "proxy": {"cust-cert"},
    "trivy-adapter": {"cust-cert"},  # install_cert.sh reads /harbor_cust_cert
    "exporter": {"cust-cert"},
    "portal": set(),
    "postgresql": set(),
    "redis": set(),
}
STATELESS = ("proxy", "portal", "core", "registry", "registryctl", "jobservice")
# Set by the stack itself instead of being passed through from the calling shell.
EXPLICIT = {
    "HARBOR_HOSTNAME": None,  # required, checked separately
    "HARBOR_PROTOCOL": "http",
    "HARBOR_EXTERNAL_URL": "https://${HARBOR_HOSTNAME}",
    "HARBOR_NGINX_RESOLVER": "${HARBOR_NGINX_RESOLVER:-127.0.0.11}",
    "HARBOR_ADMIN_PASSWORD_FILE": "/run/secrets/harbor_admin_password",
    "HARBOR_DATABASE_PASSWORD_FILE": "/run/secrets/harbor_database_password",
    # not a setting: the Harbor version the images run, which the upgrade guard records
    "HARBOR_IMAGE_TAG": "${HARBOR_IMAGE_TAG:-v2.15.2}",
}
NOT_SETTINGS = {"HARBOR_IMAGE_TAG"}
REQUIRED = {"HARBOR_HOSTNAME": "harbor.example.test", "HARBOR_NFS_SERVER": "192.0.2.10",
            "HARBOR_NFS_PATH": "/exports/harbor"}


def volume_specs(service: dict) -> list:
    return service.get("volumes", [])


def short_mounts(service: dict) -> dict[str, tuple[str, str]]:
    """source -> (target, mode) of the short-syntax volume mounts."""
    mounts = {}
    for spec in volume_specs(service):
        if isinstance(spec, str):
            source, target, *mode = spec.split(":")
            mounts[source] = (target, mode[0] if mode else "rw")
    return mounts


def wrapper_environment() -> list[tuple[str, str | None]]:
    pairs = []
    for item in WRAPPER["environment"]:
        name, sep, value = item.partition("=")
        pairs.append((name, value if sep else None))
    return pairs


# --- keys Swarm rejects or ignores ---------------------------------------------------------

@pytest.mark.parametrize("name", sorted(SERVICES))
def test_no_key_that_swarm_rejects_or_ignores(name):
    keys = set(SERVICES[name])
    assert not keys & FORBIDDEN_PROPERTIES, "docker stack deploy refuses these"
    assert not keys & UNSUPPORTED_PROPERTIES, "docker stack deploy ignores these"
    assert not keys & DEPRECATED_PROPERTIES, "docker stack deploy ignores these"
    assert not keys & WITHOUT_EFFECT, "Swarm gives no start order"
    assert "profiles" not in keys, "not in the 3.x schema docker stack reads"


def test_logs_are_bounded_json_files_as_in_the_compose_file():
    # syslog to a 127.0.0.1 log container cannot work in Swarm
    assert "log" not in SERVICES
    bounded = {"driver": "json-file", "options": {"max-size": "${HARBOR_LOG_MAX_SIZE:-20m}",
                                                  "max-file": "${HARBOR_LOG_MAX_FILE:-5}"}}
    for name, service in SERVICES.items():
        assert service.get("logging") == bounded, name
    for name, service in COMPOSE["services"].items():
        assert service.get("logging") == bounded, name


def test_file_format_is_one_docker_stack_reads():
    assert STACK["version"].startswith("3.")


# --- the wrapper --------------------------------------------------------------------------

def test_wrapper_gets_every_generator_variable():
    names = [name for name, _ in wrapper_environment()]
    assert len(names) == len(set(names)), "a variable is listed twice"
    assert set(names) == set(docs.compose_passthrough()) | NOT_SETTINGS


def test_wrapper_sets_http_behind_traefik_and_secret_files():
    env = dict(wrapper_environment())
    for name, value in EXPLICIT.items():
        if value is not None:
            assert env[name] == value
    assert env["HARBOR_HOSTNAME"].startswith("${HARBOR_HOSTNAME:?")
    bare = {name for name, value in wrapper_environment() if value is None}
    assert bare == set(docs.compose_passthrough()) - set(EXPLICIT)
    assert NOT_SETTINGS <= set(env)


def test_wrapper_is_a_one_shot_job():
    deploy = WRAPPER["deploy"]
    assert deploy["mode"] == "replicated-job"
    assert deploy.get("restart_policy", {}).get("condition", "on-failure") in ("none", "on-failure")
    assert WRAPPER["command"] == ["generate", "--link-fixed-paths"]
    assert WRAPPER["image"] == COMPOSE["services"]["setupwrapper"]["image"]


def test_wrapper_mounts_setup_and_every_fixed_path_read_write():
    mounts = short_mounts(WRAPPER)
    assert mounts["harbor-setup"] == ("/harbor-setup", "rw")
    for volume, target in FIXED.items():
        assert mounts[volume] == (target, "rw")
    assert set(mounts) == {"harbor-setup", *FIXED}


def test_wrapper_reads_the_passwords_from_docker_secrets():
    assert set(WRAPPER["secrets"]) == {"harbor_admin_password", "harbor_database_password"}
    for name in WRAPPER["secrets"]:
        assert STACK["secrets"][name] == {"external": True}
    assert not any("secrets" in s for s in HARBOR_SERVICES.values())


def test_renew_keeps_running_with_the_wrappers_volumes_secrets_and_variables():
    """It runs `generate` in each round: any difference from the job's inputs would publish
    another config than the job's."""
    assert RENEW["image"] == WRAPPER["image"]
    assert RENEW["command"] == ["renew", "--link-fixed-paths"]
    assert RENEW["deploy"] == {"mode": "replicated", "replicas": 1}
    assert RENEW["environment"] == WRAPPER["environment"]
    assert RENEW["secrets"] == WRAPPER["secrets"] and RENEW["volumes"] == WRAPPER["volumes"]
    assert RENEW["networks"] == WRAPPER["networks"]
    assert (RENEW["cap_drop"], RENEW["cap_add"]) == (["ALL"], ["CHOWN", "DAC_OVERRIDE",
                                                               "FOWNER"])


def test_init_data_is_a_one_shot_job_with_the_data_volumes_only():
    assert INIT_DATA["deploy"]["mode"] == "replicated-job"
    assert INIT_DATA["command"] == ["init-data"]
    assert INIT_DATA["image"] == WRAPPER["image"]
    reference = COMPOSE["services"]["init-data"]
    # compose's init-data also mounts the wrapper's folder, where it records the database
    # snapshot before a PostgreSQL upgrade for `status` and `rollback`; the stack's does not
    # (the snapshot is taken there too, unrecorded; rollback is compose's only)
    assert INIT_DATA["volumes"] == [v for v in reference["volumes"]
                                    if v != "harbor-setup:/harbor-setup"]
    assert (INIT_DATA["cap_drop"], INIT_DATA["cap_add"]) == (reference["cap_drop"],
                                                             reference["cap_add"])


def test_header_says_what_the_nfs_export_must_allow_for_the_data_folders():
    header = STACK_TEXT.split("\nversion:")[0]
    assert "no_root_squash" in header and "create those folders on the server with" in header
    for line in ("registry, job-logs, trivy-cache, trivy-reports  to 10000:10000, mode 0755",
                 "database                                        to   999:999,   mode 0700",
                 "redis                                           to   999:999,   mode 0755"):
        assert line in header


# --- Harbor's services ----------------------------------------------------------------------

def test_services_are_those_of_the_compose_file_without_syslog():
    assert set(SERVICES) == set(COMPOSE["services"]) - {"log"}


@pytest.mark.parametrize("name", sorted(HARBOR_SERVICES))
def test_service_matches_the_compose_file(name):
    service, reference = SERVICES[name], COMPOSE["services"][name]
    assert service["image"] == reference["image"]
    assert service.get("cap_drop") == reference.get("cap_drop")
    assert service.get("cap_add") == reference.get("cap_add")
    data = [v for v in volume_specs(service)
            if isinstance(v, str) and v.split(":")[0] not in ("harbor-setup", *FIXED)]
    assert sorted(data) == sorted(v.rstrip("/") for v in reference.get("volumes", []))


@pytest.mark.parametrize("name", sorted(HARBOR_SERVICES))
def test_service_mounts_setup_read_only_and_only_the_fixed_paths_it_needs(name):
    mounts = short_mounts(SERVICES[name])
    assert mounts["harbor-setup"] == ("/harbor-setup", "ro")
    fixed = {v for v in mounts if v in FIXED}
    assert fixed == FIXED_NEEDED[name]
    for volume in fixed:
        assert mounts[volume][0] == FIXED[volume]


@pytest.mark.parametrize("name", sorted(HARBOR_SERVICES))
def test_service_waits_for_its_shim(name):
    entrypoint = SERVICES[name]["entrypoint"]
    assert entrypoint[:2] == ["/bin/sh", "-c"] and entrypoint[3] == name and len(entrypoint) == 4
    script = entrypoint[2]
    assert "/harbor-setup/entrypoints/$$0.sh" in script
    assert "harbor-setupwrapper" in script
    assert re.search(r'exec "\$\$s"\s*$', script)
    assert "$" not in script.replace("$$", ""), "an unescaped $ would be interpolated"


def run_wait_script(tmp_path, create_after: float | None):
    """Run the entrypoint script with the setup folder moved to tmp_path."""
    script = SERVICES["core"]["entrypoint"][2].replace("$$", "$").replace(
        "/harbor-setup/", f"{tmp_path}/")
    shim = tmp_path / "entrypoints" / "core.sh"
    shim.parent.mkdir(exist_ok=True)
    body = "#!/bin/sh\necho \"shim ran as $0 with $# arguments\"\n"
    if create_after is None:
        shim.write_text(body)
        shim.chmod(0o755)
    proc = subprocess.Popen(["/bin/sh", "-c", script, "core"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    if create_after is not None:
        time.sleep(create_after)
        temp = shim.with_suffix(".tmp")
        temp.write_text(body)
        temp.chmod(0o755)
        temp.rename(shim)
    out, err = proc.communicate(timeout=30)
    return proc.returncode, out, err


def test_wait_script_execs_an_existing_shim_at_once(tmp_path):
    code, out, err = run_wait_script(tmp_path, None)
    assert code == 0 and out.strip().endswith("core.sh with 0 arguments")
    assert err == ""


def test_wait_script_names_the_wrapper_while_waiting(tmp_path):
    code, out, err = run_wait_script(tmp_path, 1.5)
    assert code == 0 and "with 0 arguments" in out
    assert err.count("harbor-setupwrapper") == 1  # once per 10 s, the first at once
    assert err.startswith("core: waiting for")


# --- deploy settings --------------------------------------------------------------------------

@pytest.mark.parametrize("name", STATELESS)
def test_stateless_services_scale_by_variable(name):
    variable = "HARBOR_" + name.upper() + "_REPLICAS"
    assert SERVICES[name]["deploy"]["replicas"] == "${%s:-1}" % variable


@pytest.mark.parametrize("name", STATELESS)
def test_stateless_replicas_spread_over_nodes(name):
    """Losing one node must never take every replica of a service (max 1 per node unless set)."""
    placement = SERVICES[name]["deploy"]["placement"]
    assert placement["max_replicas_per_node"] == "${HARBOR_MAX_REPLICAS_PER_NODE:-1}"
    assert "constraints" not in placement


@pytest.mark.parametrize("name", ["trivy-adapter", "exporter"])
def test_optional_services_are_off_by_default(name):
    variable = "HARBOR_" + name.upper().replace("-", "_") + "_REPLICAS"
    assert SERVICES[name]["deploy"]["replicas"] == "${%s:-0}" % variable


@pytest.mark.parametrize("name", ["postgresql", "redis"])
def test_data_services_are_pinned_by_a_variable_constraint(name):
    deploy = SERVICES[name]["deploy"]
    assert deploy["replicas"] == "${HARBOR_%s_REPLICAS:-1}" % name.upper()
    (constraint,) = deploy["placement"]["constraints"]
    assert re.fullmatch(r"\$\{HARBOR_[A-Z_]+:-node\.labels\.[a-z-]+ == true\}", constraint)
    assert deploy["placement"]["max_replicas_per_node"] == 1


def test_postgresql_gets_shared_memory_as_tmpfs():
    tmpfs = [v for v in volume_specs(SERVICES["postgresql"]) if isinstance(v, dict)]
    assert tmpfs == [{"type": "tmpfs", "target": "/dev/shm", "tmpfs": {"size": 1 << 30}}]


def test_one_attachable_overlay_network():
    assert list(STACK["networks"]) == ["harbor"]
    network = STACK["networks"]["harbor"]
    assert network["driver"] == "overlay" and network["attachable"] is True
    assert all(s["networks"] == ["harbor"] for s in SERVICES.values())


# --- Traefik --------------------------------------------------------------------------------

def test_traefik_labels_only_on_the_proxy_service():
    for name, service in SERVICES.items():
        assert not any(k.startswith("traefik.") for k in service.get("labels", {})), \
            "container labels: Traefik's swarm provider reads deploy.labels"
        if name != "proxy":
            assert not any(k.startswith("traefik.") for k in service.get("deploy", {}).get(
                "labels", {}))
    assert "ports" not in SERVICES["proxy"]


def test_traefik_router_service_and_middleware():
    labels = SERVICES["proxy"]["deploy"]["labels"]
    router = "traefik.http.routers.harbor."
    assert labels["traefik.enable"] == "true"
    assert labels[router + "rule"] == "Host(`${HARBOR_HOSTNAME}`)"
    assert labels[router + "entrypoints"] == "${HARBOR_TRAEFIK_ENTRYPOINT:-websecure}"
    assert labels[router + "tls"] == "true"
    assert labels["traefik.http.services.harbor.loadbalancer.server.port"] == "8080"
    assert labels["traefik.http.services.harbor.loadbalancer.passhostheader"] == "true"
    assert labels["traefik.swarm.network"] == STACK["networks"]["harbor"]["name"]
    middlewares = labels[router + "middlewares"].split(",")
    for middleware in middlewares:
        prefix = f"traefik.http.middlewares.{middleware}."
        options = {k[len(prefix):]: v for k, v in labels.items() if k.startswith(prefix)}
        assert options, f"middleware {middleware} is not defined"
        assert not any(k.startswith("buffering") for k in options), "no body-size limit"
    assert labels["traefik.http.middlewares.harbor-forwarded-https.headers."
                  "customrequestheaders.X-Forwarded-Proto"] == "https"
    assert not any(".buffering." in k for k in labels)


def test_header_documents_traefik_timeouts_and_nfs_folders():
    header = STACK_TEXT.split("\nversion:")[0]
    for option in ("readTimeout=0", "writeTimeout=0", "idleTimeout"):
        assert f"--entryPoints.websecure.transport.respondingTimeouts.{option}" in header
    for volume in STACK["volumes"]:
        assert f"/exports/harbor/{volume} " in header + " " or \
            f"/exports/harbor/{volume}\n" in header


# --- volumes and variables ------------------------------------------------------------------

def test_every_volume_is_an_nfs_sub_directory_of_its_own():
    used = {source for s in SERVICES.values() for source in short_mounts(s)}
    assert used == set(STACK["volumes"])
    for name, volume in STACK["volumes"].items():
        assert volume["driver"] == "local"
        opts = volume["driver_opts"]
        assert opts["type"] == "nfs"
        assert opts["o"].startswith("addr=${HARBOR_NFS_SERVER:?")
        assert "nfsvers=4" in opts["o"]
        assert re.fullmatch(r":\$\{HARBOR_NFS_PATH:\?[^}]*\}/" + re.escape(name), opts["device"])


def test_images_use_the_same_variables_as_the_compose_file():
    for name, service in HARBOR_SERVICES.items():
        assert re.fullmatch(r"\$\{HARBOR_IMAGE_PREFIX:-goharbor\}/[a-z-]+:"
                            r"\$\{HARBOR_IMAGE_TAG:-v2\.15\.2\}", service["image"])
    assert WRAPPER["image"] == "${HARBOR_WRAPPER_IMAGE:-harbor-setupwrapper:0.1.0}"


def test_required_variable_messages_survive_docker_cli_interpolation():
    # docker/cli's interpolation splits ${VAR:?message} at a "-" inside the message and then
    # silently uses the rest as a default value: keep messages free of "-".
    # It also drops the error when another ${...} follows in the same value: one per value.
    messages = re.findall(r"\$\{[A-Z_]+:?\?([^}]*)\}", STACK_TEXT)
    assert messages and not [m for m in messages if "-" in m]
    for line in STACK_TEXT.splitlines():
        if not line.lstrip().startswith("#") and re.search(r"\$\{[A-Z_]+:?\?", line):
            assert len(re.findall(r"(?<!\$)\$\{", line)) == 1, line


def test_stack_only_variables_never_reach_the_wrapper():
    used = set(re.findall(r"(?<!\$)\$\{(HARBOR_[A-Z0-9_]+)", STACK_TEXT))
    passed = set(docs.compose_passthrough())
    stack_only = used - passed
    assert stack_only, "the stack has variables of its own"
    # the image tag is the stack's and the wrapper's: the upgrade guard records it
    assert not stack_only & {n for n, _ in wrapper_environment()} - NOT_SETTINGS
    for name in stack_only:
        assert name in STACK_TEXT.split("\nversion:")[0], f"{name} is not documented in the header"


# --- docker stack config --------------------------------------------------------------------

def has_stack_config(docker: str) -> bool:
    # An old client (Debian bookworm's docker.io 20.10) has no `stack config` and answers
    # `docker stack config --help` with the help of `docker stack`, exit code 0.
    usage = subprocess.run([docker, "stack", "--help"], capture_output=True, text=True).stdout
    return bool(re.search(r"^\s+config\s", usage, re.M))


def docker_stack_config(env_overrides: dict[str, str], drop: tuple[str, ...] = ()):
    docker = shutil.which("docker")
    if docker is None or not has_stack_config(docker):
        if os.environ.get("CI"):
            pytest.fail("CI needs a docker client that has `docker stack config` "
                        f"(found: {docker or 'none'})")
        pytest.skip("no docker client with `docker stack config`")
    env = {k: v for k, v in os.environ.items() if not k.startswith("HARBOR_")}
    env.update(env_overrides)
    for name in drop:
        env.pop(name, None)
    return subprocess.run([docker, "stack", "config", "-c", str(STACK_PATH)], env=env,
                          capture_output=True, text=True, timeout=60)


def test_docker_stack_config_accepts_the_stack():
    result = docker_stack_config(REQUIRED)
    assert result.returncode == 0, result.stderr
    config = yaml.safe_load(result.stdout)
    services = config["services"]
    assert set(services) == set(SERVICES)
    for name, volume in config["volumes"].items():
        assert volume["driver_opts"]["device"] == f":/exports/harbor/{name}"
        assert volume["driver_opts"]["o"] == "addr=192.0.2.10,rw,nfsvers=4"
    env = services["setupwrapper"]["environment"]
    assert env["HARBOR_HOSTNAME"] == "harbor.example.test"
    assert env["HARBOR_EXTERNAL_URL"] == "https://harbor.example.test"
    assert services["setupwrapper"]["deploy"]["mode"] == "replicated-job"
    assert services["proxy"]["cap_add"] == SERVICES["proxy"]["cap_add"]
    script = services["core"]["entrypoint"][2]
    assert "/harbor-setup/entrypoints/$0.sh" in script and "$$" not in script
    labels = services["proxy"]["deploy"]["labels"]
    assert labels["traefik.http.routers.harbor.rule"] == "Host(`harbor.example.test`)"
    assert services["postgresql"]["deploy"]["placement"]["constraints"] == [
        "node.labels.harbor-data == true"]


@pytest.mark.parametrize("missing", sorted(REQUIRED))
def test_docker_stack_config_refuses_a_missing_required_variable(missing):
    result = docker_stack_config(REQUIRED, drop=(missing,))
    assert result.returncode != 0
    assert missing in result.stderr


# --- the Traefik overlay (compose/docker-stack.traefik.yml) ---------------------------------

TRAEFIK_PATH = REPO / "compose" / "docker-stack.traefik.yml"
TRAEFIK_SECRETS = {"HARBOR_HTTPS_CERTIFICATE_SECRET": "harbor_https_certificate_1",
                   "HARBOR_HTTPS_PRIVATE_KEY_SECRET": "harbor_https_private_key_1"}


def test_docker_stack_config_merges_the_traefik_overlay():
    docker_stack_config(REQUIRED)  # skips without a client that has `docker stack config`
    env = {k: v for k, v in os.environ.items() if not k.startswith("HARBOR_")}
    env.update(REQUIRED, **TRAEFIK_SECRETS, HARBOR_TRAEFIK_ENTRYPOINT="https")
    result = subprocess.run([shutil.which("docker"), "stack", "config", "-c", str(STACK_PATH),
                             "-c", str(TRAEFIK_PATH)], env=env, capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr
    config = yaml.safe_load(result.stdout)
    assert set(config["services"]) == set(SERVICES) | {"traefik"}
    traefik = config["services"]["traefik"]
    # the proxy's router names this entry point; Traefik defines it and reads the labels
    assert config["services"]["proxy"]["deploy"]["labels"][
        "traefik.http.routers.harbor.entrypoints"] == "https"
    assert "--entryPoints.https.address=:443" in traefik["command"]
    assert "--providers.swarm.exposedByDefault=false" in traefik["command"]
    assert "--providers.swarm.network=harbor" in traefik["command"]
    assert "--entryPoints.https.transport.respondingTimeouts.readTimeout=0" in traefik["command"]
    assert traefik["networks"] == {"harbor": None}
    assert traefik["volumes"] == [{"type": "bind", "source": "/var/run/docker.sock",
                                   "target": "/var/run/docker.sock", "read_only": True}]
    assert traefik["deploy"]["placement"]["constraints"] == ["node.role == manager"]
    script = traefik["entrypoint"][2]
    assert 'exec /entrypoint.sh "$@"' in script and "$$" not in script
    assert {config["secrets"][s["source"]]["name"] for s in traefik["secrets"]} == \
        set(TRAEFIK_SECRETS.values())


def test_traefik_overlay_needs_the_certificate_secrets():
    docker_stack_config(REQUIRED)
    for missing in TRAEFIK_SECRETS:
        env = {k: v for k, v in os.environ.items() if not k.startswith("HARBOR_")}
        env.update(REQUIRED, **{k: v for k, v in TRAEFIK_SECRETS.items() if k != missing})
        result = subprocess.run([shutil.which("docker"), "stack", "config", "-c",
                                 str(STACK_PATH), "-c", str(TRAEFIK_PATH)], env=env,
                                capture_output=True, text=True, timeout=60)
        assert result.returncode != 0 and missing in result.stderr


# --- the ACME overlay (compose/docker-stack.traefik-acme.yml) -------------------------------

ACME_PATH = REPO / "compose" / "docker-stack.traefik-acme.yml"
ACME = {"HARBOR_ACME_EMAIL": "admin@example.test"}


def acme_stack_config(env_overrides: dict[str, str]):
    docker_stack_config(REQUIRED)  # skips without a client that has `docker stack config`
    env = {k: v for k, v in os.environ.items() if not k.startswith("HARBOR_")}
    env.update(REQUIRED, **env_overrides)
    return subprocess.run([shutil.which("docker"), "stack", "config", "-c", str(STACK_PATH),
                           "-c", str(ACME_PATH)], env=env, capture_output=True, text=True,
                          timeout=60)


def test_acme_overlay_gives_traefik_a_resolver_from_the_acme_variables():
    result = acme_stack_config({**ACME, "HARBOR_ACME_DIRECTORY": "https://acme.test/dir",
                                "HARBOR_ACME_CA_FILE": "/etc/harbor/acme-ca.pem"})
    assert result.returncode == 0, result.stderr
    config = yaml.safe_load(result.stdout)
    traefik = config["services"]["traefik"]
    resolver = "--certificatesResolvers.harbor.acme."
    assert resolver + "email=admin@example.test" in traefik["command"]
    assert resolver + "caServer=https://acme.test/dir" in traefik["command"]
    assert resolver + "tlsChallenge=true" in traefik["command"]
    assert config["services"]["proxy"]["deploy"]["labels"][
        "traefik.http.routers.harbor.tls.certresolver"] == "harbor"
    mounts = {v["target"]: v for v in traefik["volumes"]}
    assert mounts["/etc/traefik/acme-ca.pem"]["source"] == "/etc/harbor/acme-ca.pem"
    assert mounts["/acme"]["source"] == "traefik-acme"
    assert config["volumes"]["traefik-acme"]["driver_opts"]["device"] == \
        ":/exports/harbor/traefik-acme"
    assert traefik["deploy"]["replicas"] == 1
    assert "secrets" not in traefik


def test_acme_overlay_defaults_to_lets_encrypt_and_needs_an_email():
    result = acme_stack_config(ACME)
    assert result.returncode == 0, result.stderr
    traefik = yaml.safe_load(result.stdout)["services"]["traefik"]
    assert "--certificatesResolvers.harbor.acme.caServer=" \
        "https://acme-v02.api.letsencrypt.org/directory" in traefik["command"]
    assert {v["target"]: v["source"] for v in traefik["volumes"]}[
        "/etc/traefik/acme-ca.pem"] == "/dev/null"
    missing = acme_stack_config({})
    assert missing.returncode != 0 and "HARBOR_ACME_EMAIL" in missing.stderr


@pytest.mark.parametrize("ca", ["", "-----BEGIN CERTIFICATE-----\n"])
def test_acme_overlay_trusts_the_ca_file_only_when_it_has_one(tmp_path, ca):
    """The entrypoint script, run by sh with its paths moved into tmp_path: the CA options
    are added only for a non-empty file (the default mount is /dev/null)."""
    script = yaml.safe_load(ACME_PATH.read_text())["services"]["traefik"]["entrypoint"][2]
    script = script.replace("$$", "$")
    (tmp_path / "ca.pem").write_text(ca)
    (tmp_path / "entrypoint.sh").write_text('#!/bin/sh\nprintf "%s\\n" "$@"\n')
    (tmp_path / "entrypoint.sh").chmod(0o755)
    script = script.replace("/etc/traefik/acme-ca.pem", str(tmp_path / "ca.pem")).replace(
        "/entrypoint.sh", str(tmp_path / "entrypoint.sh"))
    out = subprocess.run(["sh", "-c", script, "traefik", "--ping=true"], capture_output=True,
                         text=True, check=True).stdout.split()
    extra = [f"--certificatesResolvers.harbor.acme.caCertificates={tmp_path / 'ca.pem'}",
             "--certificatesResolvers.harbor.acme.caSystemCertPool=true"]
    assert out == ["--ping=true"] + (extra if ca else [])
