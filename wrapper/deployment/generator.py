"""Writes every deployment file from wrapper/deployment/description.py.

    python -m wrapper.deployment            write the files
    python -m wrapper.deployment --check    change nothing; exit 1 naming each file that differs

Each file is built as plain dicts and lists, then written by the small YAML writer at the end
of this module, which keeps what users and Rancher read: comments, anchors, short lists on one
line, and the Go template conditions of the Rancher items.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import yaml

from wrapper.docs import compose_passthrough
from wrapper.deployment import description as d
from wrapper.deployment.texts import HEADERS, RANCHER_CATALOG

REPO = Path(__file__).resolve().parents[2]
COMMAND = "python -m wrapper.deployment"
GENERATED_NOTE = f"Generated from wrapper/deployment/description.py by `{COMMAND}`: edit there."

IMAGE_PREFIX, IMAGE_TAG = "${HARBOR_IMAGE_PREFIX:-goharbor}", "${HARBOR_IMAGE_TAG:-v2.15.2}"
WRAPPER_IMAGE = "${HARBOR_WRAPPER_IMAGE:-harbor-setupwrapper:0.1.0}"
RANCHER_ITEMS = {"rancher": "rancher-catalog/templates/harbor-setupwrapper/0",
                 "rancher-distributed": "rancher-catalog/templates/harbor-setupwrapper-distributed/0"}


# --- the YAML writer's vocabulary ------------------------------------------------------------

class Flow(list):
    """A list written on one line: [a, b]."""


class FlowMap(dict):
    """A mapping written on one line: {a: b}."""


class Spaced(dict):
    """A mapping with a blank line between its entries (top level, services)."""


class Comment:
    """A comment line (or lines): as a list item, or as a mapping key (its value is unused)."""

    def __init__(self, text: str):
        self.text = text


class Anchor:
    def __init__(self, name: str, value):
        self.name, self.value = name, value


class Alias:
    def __init__(self, name: str):
        self.name = name


class Tagged:
    """A value with a YAML tag, such as compose's !override."""

    def __init__(self, tag: str, value):
        self.tag, self.value = tag, value


class Folded:
    """A long string written as folded lines (>-): YAML joins them with spaces."""

    def __init__(self, lines: list[str]):
        self.lines = lines


class If:
    """Rancher's Go template: the entries (a mapping key) or items (a list item) it holds are
    there only when the condition is true."""

    def __init__(self, condition: str, value):
        self.condition, self.value = condition, value


class Raw(str):
    """Written as it is (a Go template inside a scalar); lines after the first are indented."""


def comments(text: str) -> list[Comment]:
    return [Comment(text)]


# --- rules shared by the targets ---------------------------------------------------------------

def harbor_services(target: str) -> dict[str, dict]:
    """The services of Harbor's images (not the wrapper's one-shots) the target runs."""
    return {n: s for n, s in d.SERVICES.items() if target in s["on"] and s["image"] != "wrapper"}


def image(name: str, target: str) -> str:
    repository = d.SERVICES[name]["image"]
    if target.startswith("rancher"):
        return "${harbor_wrapper_image}" if repository == "wrapper" else (
            "${harbor_image_prefix}/%s:${harbor_image_tag}" % repository)
    return WRAPPER_IMAGE if repository == "wrapper" else f"{IMAGE_PREFIX}/{repository}:{IMAGE_TAG}"


def data_mounts(service: dict) -> list:
    mounts = [f"{volume}:{target}" for volume, target in service.get("data", {}).items()]
    return ([Comment(service["data_note"])] if "data_note" in service else []) + mounts


def named_mounts(service: dict) -> list:
    """Without volumes_from (the stack, the distributed item): each volume by name."""
    return ([f"{d.SETUP_VOLUME}:{d.SETUP_PATH}:ro"]
            + [f"{v}:{d.FIXED_VOLUMES[v]}" for v in service.get("fixed", [])]
            + data_mounts(service))


def setup_mount(service: dict, target: str) -> list[str]:
    """Rule: a one-shot of the wrapper's image mounts harbor-setup (read-write) on the targets
    its `setup_mount` names, and nowhere else (init-data: the snapshot's record)."""
    if target not in service.get("setup_mount", ()):
        return []
    return [Comment("the wrapper's volume: the snapshot is recorded in its store (status shows "
                    "it)"), f"{d.SETUP_VOLUME}:{d.SETUP_PATH}"]


def wrapper_mounts() -> list:
    return [f"{d.SETUP_VOLUME}:{d.SETUP_PATH}",
            Comment("the fixed folders Harbor's images read; the wrapper links their files into "
                    "harbor-setup"),
            *(f"{v}:{path}" for v, path in d.FIXED_VOLUMES.items())]


def wrapper_environment(target: str, shell: str) -> list:
    """The target's own settings, then every other variable of the schema, passed on when set."""
    out, own = [], set()
    for name, value, note in d.WRAPPER_ENVIRONMENT[target]:
        if note:
            out.append(Comment(note))
        out.append(f"{name}={value}")
        own.add(name)
    out.append(Comment(f"every other variable of the wrapper is passed on when it is set {shell};"
                       "\nthe list is the settings schema's (wrapper/docs.py compose_passthrough)"))
    return out + [name for name in compose_passthrough() if name not in own]


RENEW_COMMAND = ["renew", "--link-fixed-paths"]
RENEW_NOTE = """\
Keeps running: every HARBOR_RENEW_INTERVAL seconds it re-issues the certificates the wrapper
made that expire within HARBOR_CERT_WARNING_DAYS and, with HARBOR_ACME_*, obtains and renews
the ACME certificate; each change is a new generation, which the proxy reloads by itself.
Nothing is restarted. It runs `generate` as setupwrapper does: same volumes and variables."""


STACK_RENEW_NOTE = """\
Keeps running (one replica): every HARBOR_RENEW_INTERVAL seconds it re-issues the certificates
the wrapper made that expire within HARBOR_CERT_WARNING_DAYS and publishes a new generation;
the proxy reloads it by itself, the other services read theirs at their next start. It runs
`generate` as the setupwrapper job does: same volumes, secrets and variables. Clients get
Traefik's certificate (its ACME resolver: docker-stack.traefik-acme.yml), or yours with
docker-stack.certs.yml."""


def with_renew(services: dict) -> dict:
    """Rule (every override file): what an override gives setupwrapper it gives renew too, so
    that renew's `generate` sees the inputs setupwrapper saw (else it would publish another
    config, or make its own certificate in place of yours)."""
    out = type(services)()
    for name, entry in services.items():
        out[name] = entry
        if name == "setupwrapper" and "renew" in d.SERVICES:
            out["renew"] = entry
    return out


def replicas_variable(name: str) -> str:
    return "HARBOR_" + name.upper().replace("-", "_") + "_REPLICAS"


def volumes_of(target: str) -> list[str]:
    volumes = [d.SETUP_VOLUME, *d.FIXED_VOLUMES, *d.DATA_VOLUMES]
    return volumes + [d.LOG_VOLUME] if target == "compose" else volumes


# --- compose ------------------------------------------------------------------------------------

HEALTH_NOTE = """\
the images' own health checks (no `test` here: Docker keeps the image's), checked more
often than Docker's default 30 s so that services waiting on each other start sooner (the
registry waits for redis, jobservice for core). Every 5 s: one curl per service; unhealthy
after a minute of failures. (start_interval: docker-compose.engine25.yml, Engine 25 or
later; compose refuses it on older engines.)"""

INIT_DATA_NOTE = """\
Gives each data volume to the user its image runs as (uid 10000; 999 for PostgreSQL and
Valkey) with upstream's mode, then exits; it mounts the data volumes and nothing else, at
upstream's /data/<name>. Only the top folders are checked: fast on a large registry.
The services mount the data volumes with nocopy: Docker would otherwise hand an empty
volume back to root:root the first time an image mounts it over its own folder."""


def compose_depends_on(service: dict) -> dict:
    out = {}
    for other, condition in service.get("after", {}).items():
        # a re-run of the wrapper (up -d with new variables) restarts what depends on it
        out[other] = (Alias("after-setup") if other == "setupwrapper" else
                      Alias("after-init-data") if other == "init-data" else
                      FlowMap(condition=condition))
    return out


def compose() -> dict:
    services = Spaced()
    services["setupwrapper"] = {
        "image": WRAPPER_IMAGE,
        "build": Anchor("wrapper-build", {
            "context": "..",
            "args": {"BASE_IMAGE": "${HARBOR_WRAPPER_BASE_IMAGE:-python:3.12-slim}"}}),
        "restart": "no",
        "network_mode": "none",
        "logging": Alias("logging"),
        "volumes": Anchor("wrapper-volumes", wrapper_mounts()),
        "environment": Anchor("wrapper-environment",
                              wrapper_environment("compose", "(shell or .env)")),
        Comment("more variables, or *_FILE paths for compose secrets, can also come from this "
                "file"): None,
        "env_file": [{"path": "${HARBOR_ENV_FILE:-harbor.env}", "required": False}],
    }
    init = d.SERVICES["init-data"]
    services[Comment(INIT_DATA_NOTE)] = None
    services["init-data"] = {
        "image": WRAPPER_IMAGE, "build": Alias("wrapper-build"), "command": Flow(["init-data"]),
        "restart": "no", "network_mode": "none", "logging": Alias("logging"),
        "cap_drop": Flow(["ALL"]), "cap_add": Flow(init["cap_add"]),
        **service_environment(init, "compose"),
        "volumes": setup_mount(init, "compose") + data_mounts(init),
    }
    renew = d.SERVICES["renew"]
    services[Comment(RENEW_NOTE)] = None
    services["renew"] = {
        "image": WRAPPER_IMAGE, "build": Alias("wrapper-build"), "command": Flow(RENEW_COMMAND),
        "restart": "always", "logging": Alias("logging"),
        Comment("the ACME server"): None,
        "networks": Flow(["harbor"]),
        "cap_drop": Flow(["ALL"]), "cap_add": Flow(renew["cap_add"]),
        "volumes": Alias("wrapper-volumes"),
        "environment": Alias("wrapper-environment"),
        "env_file": [{"path": "${HARBOR_ENV_FILE:-harbor.env}", "required": False}],
        "depends_on": compose_depends_on(renew),
    }
    for name, service in harbor_services("compose").items():
        own = service.get("compose", {})
        entry = {"<<": Alias("harbor")}
        if "profile" in service:
            entry["profiles"] = Flow([service["profile"]])
        entry["image"] = image(name, "compose")
        entry["entrypoint"] = Flow([f"/harbor-setup/entrypoints/{name}.sh"])
        if service.get("cap_add"):
            entry["cap_add"] = Flow(service["cap_add"])
        if "shm_size" in service:
            entry["shm_size"] = f"{service['shm_size'] >> 30}gb"
        entry.update(service_environment(service, "compose"))
        volumes = own.get("volumes", []) + data_mounts(service)
        if volumes:
            entry["volumes"] = volumes
        if "ports" in own:
            entry["ports"] = own["ports"]
        entry["depends_on"] = compose_depends_on(service)
        services[name] = entry
    doc = Spaced()
    doc["name"] = "harbor"
    doc[Comment("Docker's json-file driver keeps every line forever: each container's log is "
                "bounded")] = None
    doc["x-logging"] = Anchor("logging", d.LOGGING)
    doc["x-harbor"] = Anchor("harbor", {
        "restart": "always", "logging": Alias("logging"), "networks": Flow(["harbor"]),
        "volumes_from": Flow(["setupwrapper:ro"]), "cap_drop": Flow(["ALL"]),
        Comment(HEALTH_NOTE): None, "healthcheck": d.HEALTHCHECK["compose"]})
    doc["x-after-setup"] = Anchor("after-setup", {"condition": d.COMPLETED, "restart": True})
    doc["x-after-init-data"] = Anchor("after-init-data", {"condition": d.COMPLETED})
    doc["services"] = services
    doc["networks"] = {"harbor": {}}
    doc["volumes"] = {v: {} for v in volumes_of("compose")}
    return doc


def compose_backup() -> dict:
    services = Spaced()
    for name, service in d.BACKUP_SERVICES.items():
        services[name] = ({"<<": Alias("backup"), **service} if "image" not in service
                          else service)
    in_db_image = {}
    for key, value in d.BACKUP_IN_DB_IMAGE.items():
        if key == "user":
            in_db_image[Comment(d.BACKUP_USER_NOTE)] = None
        in_db_image[key] = value
    return Spaced({"x-backup": Anchor("backup", in_db_image), "services": services})


def compose_hostdata() -> dict:
    """Every data volume of every compose service becomes its folder under HARBOR_DATA_VOLUME
    (upstream's layout); bind mounts take no nocopy."""
    services = Spaced({"setupwrapper": {"volumes": d.HOSTDATA_WRAPPER_VOLUMES}})
    for name, service in d.SERVICES.items():
        if "compose" not in service["on"] or not service.get("data"):
            continue
        volumes = []
        if setup_mount(service, "compose"):
            volumes.append(f"${{HARBOR_DATA_VOLUME}}/{d.SETUP_VOLUME}:{d.SETUP_PATH}")
        for volume, target in service["data"].items():
            path, _, options = target.partition(":")
            kept = [o for o in options.split(",") if o and o != "nocopy"]
            volumes.append(f"${{HARBOR_DATA_VOLUME}}/{d.DATA_VOLUMES[volume]}:{path}"
                           + (":" + ",".join(kept) if kept else ""))
        services[name] = {"volumes": volumes}
        if name == "init-data":
            services[name][Comment("the upgrade guard runs first: a refused folder is not "
                                   "touched")] = None
            services[name]["depends_on"] = {"setupwrapper": FlowMap(condition=d.COMPLETED)}
    return {"services": with_renew(services)}


def compose_syslog() -> dict:
    """Every Harbor service but the log container itself logs to it, as upstream's do."""
    services = {}
    for name, service in harbor_services("compose").items():
        if name == "log":
            continue
        services[name] = {
            "logging": FlowMap(driver="syslog", options=FlowMap(
                {"syslog-address": d.SYSLOG_ADDRESS, "tag": name})),
            "depends_on": FlowMap(log=Alias("after-log"))}
    return Spaced({"x-after-log": Anchor("after-log", {"condition": d.HEALTHY}),
                   "services": services})


def compose_podman() -> dict:
    services = {"setupwrapper": {"environment": [
        Comment(d.PODMAN_RESOLVER_NOTE), f"HARBOR_NGINX_RESOLVER={d.PODMAN_RESOLVER}"]}}
    for name, test in d.PODMAN_HEALTH_TESTS.items():
        services[name] = {"healthcheck": {"test": Flow(test)}}
    return Spaced({"services": with_renew(services),
                   Comment("a fixed subnet, so that the proxy knows where the DNS server is "
                           "(its gateway)"): None,
                   "networks": {"harbor": {"ipam": {"config": [d.PODMAN_SUBNET]}}}})


def compose_overrides() -> dict[str, dict]:
    return {
        "compose/docker-compose.backup.yml": compose_backup(),
        "compose/docker-compose.certs.yml": {"services": with_renew(d.CERTS_OVERRIDE)},
        "compose/docker-compose.hostdata.yml": compose_hostdata(),
        "compose/docker-compose.http.yml": {
            "services": {"proxy": {"ports": Tagged("!override", d.HTTP_PORTS)}}},
        "compose/docker-compose.metrics.yml": {"services": {"proxy": {
            "ports": d.METRICS_PORTS, "depends_on": d.METRICS_PROXY_AFTER}}},
        "compose/docker-compose.secrets.yml": Spaced(
            d.SECRETS_OVERRIDE, services=with_renew(d.SECRETS_OVERRIDE["services"])),
        "compose/docker-compose.syslog.yml": compose_syslog(),
        "compose/docker-compose.trust.yml": {"services": with_renew(d.TRUST_OVERRIDE)},
        "compose/docker-compose.podman.yml": compose_podman(),
        "compose/docker-compose.trivy-offline.yml": {
            "services": with_renew(d.TRIVY_OFFLINE_OVERRIDE)},
        "compose/docker-compose.engine25.yml": {"services": {
            name: {"healthcheck": {"start_interval": d.START_INTERVAL}}
            for name in harbor_services("compose")}},
    }


# --- the Swarm stack ------------------------------------------------------------------------------

def wait_for_shim(writer: str) -> Folded:
    """Waits until the wrapper wrote the service's shim, then runs it. $0 is the service name
    (the last entrypoint item); $$ is a literal $ for compose and Rancher."""
    return Folded([
        "s=/harbor-setup/entrypoints/$$0.sh; n=0;",
        'until [ -f "$$s" ]; do',
        f'[ $$((n % 10)) -ne 0 ] || echo "$$0: waiting for $$s, which the {writer} writes" >&2;',
        "n=$$((n + 1)); sleep 1;",
        "done;",
        'exec "$$s"'])


def stack_deploy(name: str, service: dict) -> dict:
    variable = replicas_variable(name)
    if "profile" in service:
        return {"replicas": "${%s:-0}" % variable}
    if service.get("stateful"):  # one replica, on the data node only
        return {"replicas": "${%s:-1}" % variable,
                "placement": {"constraints": Flow([d.STACK_DATA_NODE]),
                              "max_replicas_per_node": 1}}
    deploy = {"replicas": "${%s:-1}" % variable,
              "placement": {"max_replicas_per_node": "${HARBOR_MAX_REPLICAS_PER_NODE:-1}"}}
    if "labels" in service.get("stack", {}):
        deploy["labels"] = service["stack"]["labels"]
    return deploy


JOB = {"mode": "replicated-job", "restart_policy": {"condition": "on-failure", "max_attempts": 3}}


def stack() -> dict:
    services = Spaced()
    services["setupwrapper"] = {
        "image": WRAPPER_IMAGE, "logging": Alias("logging"),
        "command": Flow(["generate", "--link-fixed-paths"]),
        "deploy": JOB, "networks": Flow(["harbor"]),
        "volumes": Anchor("wrapper-volumes", wrapper_mounts()),
        "secrets": Flow(["harbor_admin_password", "harbor_database_password"]),
        "environment": Anchor("wrapper-environment",
                              wrapper_environment("stack", "in the calling shell")),
    }
    init = d.SERVICES["init-data"]
    services[Comment(
        "Gives each data volume to the user its image runs as, with upstream's mode, then exits\n"
        "(see NFS above); it mounts the data volumes and nothing else, at upstream's "
        "/data/<name>.\nSwarm has no start order: each service's shim waits until its data "
        "folder is writable.")] = None
    services["init-data"] = {
        "image": WRAPPER_IMAGE, "logging": Alias("logging"), "command": Flow(["init-data"]),
        "deploy": JOB, "cap_drop": Flow(["ALL"]), "cap_add": Flow(init["cap_add"]),
        "networks": Flow(["harbor"]), **service_environment(init, "stack"),
        "volumes": setup_mount(init, "stack") + data_mounts(init),
    }
    services[Comment(STACK_RENEW_NOTE)] = None
    services["renew"] = {
        "image": WRAPPER_IMAGE, "logging": Alias("logging"), "command": Flow(RENEW_COMMAND),
        "deploy": {"mode": "replicated", "replicas": 1},
        "cap_drop": Flow(["ALL"]), "cap_add": Flow(d.SERVICES["renew"]["cap_add"]),
        "networks": Flow(["harbor"]),
        "volumes": Alias("wrapper-volumes"),
        "secrets": Flow(["harbor_admin_password", "harbor_database_password"]),
        "environment": Alias("wrapper-environment"),
    }
    for name, service in harbor_services("stack").items():
        entry = {"image": image(name, "stack"), "logging": Alias("logging"),
                 "healthcheck": Alias("health"),
                 "entrypoint": Flow(["/bin/sh", "-c", Alias("wait-for-shim"), name]),
                 "cap_drop": Flow(["ALL"])}
        if service.get("cap_add"):
            entry["cap_add"] = Flow(service["cap_add"])
        entry["networks"] = Flow(["harbor"])
        entry.update(service_environment(service, "stack"))
        entry["volumes"] = named_mounts(service)
        if "shm_size" in service:
            entry["volumes"] += [Comment("Swarm ignores shm_size"), {
                "type": "tmpfs", "target": "/dev/shm", "tmpfs": {"size": service["shm_size"]}}]
        if name == "proxy":
            entry[Comment("no published port: Traefik reaches the proxy's port 8080 over the "
                          "harbor network")] = None
        entry["deploy"] = stack_deploy(name, service)
        services[name] = entry
    doc = Spaced()
    doc["version"] = "3.9"
    doc[Comment("Waits for the service's shim, then runs it. $0 is the service name (the last "
                "entrypoint item).")] = None
    doc["x-wait-for-shim"] = Anchor("wait-for-shim", wait_for_shim("harbor-setupwrapper job"))
    doc[Comment("The images' own health checks (no `test`: Docker keeps the image's), checked "
                "every 10 s\ninstead of Docker's default 30 s: Swarm adds a task to the "
                "service's DNS only once healthy.")] = None
    doc["x-health"] = Anchor("health", d.HEALTHCHECK["stack"])
    doc[Comment("Docker's json-file driver keeps every line forever: each task's log is "
                "bounded")] = None
    doc["x-logging"] = Anchor("logging", d.LOGGING)
    doc["x-nfs"] = Anchor("nfs", {
        "type": "nfs",
        Comment("one substitution per value: docker/cli loses ${VAR:?message} followed by "
                "another ${...}"): None,
        "o": d.STACK_NFS_OPTIONS})
    doc["services"] = services
    doc["networks"] = {"harbor": {"driver": "overlay", "attachable": True,
                                  "name": "${HARBOR_NETWORK_NAME:-harbor}"}}
    doc["secrets"] = {"harbor_admin_password": {"external": True},
                      "harbor_database_password": {"external": True}}
    doc[Comment("One NFS sub-directory per volume: $HARBOR_NFS_PATH/<volume name> must exist on "
                "the export.")] = None
    doc["volumes"] = {v: {"driver": "local", "driver_opts": {
        "<<": Alias("nfs"), "device": f":{d.STACK_NFS_PATH}/{v}"}} for v in volumes_of("stack")}
    return doc


def stack_certs() -> dict:
    return Spaced({"version": "3.9", **d.STACK_CERTS_OVERRIDE,
                   "services": with_renew(d.STACK_CERTS_OVERRIDE["services"])})


# --- the Rancher 1.6 items -------------------------------------------------------------------------

def host_label(target: str, name: str) -> dict:
    answer = (d.RANCHER_DATA_HOST_LABEL if target == "rancher-distributed"
              and d.SERVICES[name].get("stateful") else d.RANCHER_HOST_LABEL[target])
    label = {"io.rancher.scheduler.affinity:host_label": "${%s}" % answer}
    # the single host item always pins (its volumes live on that host); the other when answered
    return label if target == "rancher" else {If(f".Values.{answer}", label): None}


def labels(target: str, name: str, **first) -> dict:
    out = dict(first)
    for key, value in host_label(target, name).items():
        out[key] = value
    return out


def rancher_answer(variable: str) -> str:
    """Rule (Rancher items): a variable a service is given (its `environment` in the
    description) comes from the catalog answer of the same name in lower case,
    HARBOR_IMAGE_TAG from ${harbor_image_tag}; texts.py asks the question."""
    return "${%s}" % variable.lower()


def service_environment(service: dict, target: str) -> dict:
    """A service's own variables (its `environment` in the description, under its
    `environment_note`): compose and the stack pass them on from the shell, the Rancher items
    from the answers (rancher_answer)."""
    names = service.get("environment")
    if not names:
        return {}
    out = {}
    if service.get("environment_note"):
        out[Comment(service["environment_note"])] = None
    out["environment"] = (Flow(names) if target in ("compose", "stack") else
                          [f"{name}={rancher_answer(name)}" for name in names])
    return out


def rancher_environment(target: str) -> list:
    out = []
    for name, value, condition in d.RANCHER_ENVIRONMENT[target]:
        item = f"{name}={value}"
        out.append(If(condition, [item]) if condition else item)
    return out


def rancher_template(target: str) -> dict:
    single = target == "rancher"
    on = harbor_services(target)
    optional = [n for n, s in on.items() if "profile" in s]
    always = [n for n, s in on.items() if "profile" not in s]
    services = Spaced()
    wrapper_labels = {}
    if single:
        sidekicks = ",".join(["init-data", "renew", *always])
        if optional:
            sidekicks += ("\n{{- if %s -}} ,%s {{- end }}" % (d.TRIVY_ANSWERED, ",".join(optional)))
        wrapper_labels["io.rancher.sidekicks"] = Raw(sidekicks)
    wrapper_labels["io.rancher.container.start_once"] = "true"
    wrapper_labels.update(host_label(target, "setupwrapper"))
    services["setupwrapper"] = {
        "image": image("setupwrapper", target),
        "command": Flow(["generate", "--link-fixed-paths"]),
        "labels": wrapper_labels,
        "volumes": wrapper_mounts(),
        "environment": rancher_environment(target),
    }
    init = d.SERVICES["init-data"]
    init_volumes = [f"{v}:{t}" for v, t in init["data"].items()
                    if not any(v in on[o].get("data", {}) for o in optional)]
    optional_volumes = [f"{v}:{t}" for v, t in init["data"].items() if f"{v}:{t}" not in
                        init_volumes]
    init_volumes[:0] = setup_mount(init, target)
    if optional_volumes:
        init_volumes.append(If(d.TRIVY_ANSWERED, optional_volumes))
    services[Comment(
        "Gives each data volume to the user its image runs as (uid 10000; 999 for PostgreSQL "
        "and\nValkey) with upstream's mode, then exits; each service's shim waits until its "
        "data folder\nis writable. Only the top folders are checked: fast on a large registry.\n"
        + ("A sidekick without volumes_from: no other container gets the data volumes through "
           "it." if single else "It runs once, on a host that reaches the shared storage."))] = None
    services["init-data"] = {
        "image": image("init-data", target), "command": Flow(["init-data"]),
        "labels": labels(target, "init-data", **{"io.rancher.container.start_once": "true"}),
        "cap_drop": Flow(["ALL"]), "cap_add": Flow(init["cap_add"]),
        **service_environment(init, target),
        "volumes": init_volumes,
    }
    services[Comment(RENEW_NOTE + (
        "\nA sidekick: on the wrapper's host, with the wrapper's named volumes."
        if single else "\nOne container, with the wrapper's volumes on the shared storage."))] = None
    services["renew"] = {
        "image": image("renew", target), "command": Flow(RENEW_COMMAND),
        "labels": labels(target, "renew", **({} if single else {
            "harbor-setupwrapper.service": "renew"})),
        "cap_drop": Flow(["ALL"]), "cap_add": Flow(d.SERVICES["renew"]["cap_add"]),
        "volumes": wrapper_mounts(),
        "environment": rancher_environment(target),
    }
    writer = "harbor-setupwrapper container" if single else "harbor-setupwrapper service"
    first = True
    for name, service in on.items():
        if first:  # the wait loop is written out once, then named by its anchor
            entry = {"image": image(name, target),
                     Comment("wait until the wrapper has written this service's shim (named by "
                             "the last item), then run it"): None,
                     "entrypoint": ["/bin/sh", "-c",
                                    Anchor("wait-for-shim", wait_for_shim(writer)), name]}
            first = False
        else:
            entry = {"image": image(name, target),
                     "entrypoint": Flow(["/bin/sh", "-c", Alias("wait-for-shim"), name])}
        own = service.get(target, {})
        entry_labels = {} if single else {"harbor-setupwrapper.service": name}
        entry_labels.update(host_label(target, name))
        if own.get("labels"):
            entry_labels[Comment(
                "rawmind0 rancher-traefik labels (Traefik catalog item, rancher_integration: "
                "external);\nTraefik publishes the proxy only while its health check passes "
                "(rancher-compose.yml)")] = None
            entry_labels.update(own["labels"])
        entry["labels"] = entry_labels
        entry["cap_drop"] = Flow(["ALL"])
        if service.get("cap_add"):
            entry["cap_add"] = Flow(service["cap_add"])
        if "shm_size" in service:
            entry["shm_size"] = service["shm_size"]
        entry.update(service_environment(service, target))
        if single:
            entry["volumes_from"] = Flow(["setupwrapper"])
            if service.get("data"):
                entry["volumes"] = data_mounts(service)
        else:
            entry["volumes"] = named_mounts(service)
        if own.get("ports"):
            entry["ports"] = own["ports"] + [If('eq .Values.harbor_protocol "https"',
                                                own["https_ports"])]
        if single:
            if name == next(iter(on)):
                entry[Comment("bare service names (core, redis, ...) inside the sidekick "
                              "group")] = None
            entry["dns_search"] = Flow(["setupwrapper"])
        if name in optional:
            services[If(d.TRIVY_ANSWERED, {name: entry})] = None
        else:
            services[name] = entry
    volumes = {}
    for volume in volumes_of(target):
        users = [n for n, s in on.items() if volume in s.get("data", {})]
        spec = {"driver": d.RANCHER_VOLUME_DRIVER[target]}
        if users and all(u in optional for u in users):
            volumes.setdefault("optional", {})[volume] = spec
        else:
            volumes[volume] = spec
    if "optional" in volumes:
        volumes[If(d.TRIVY_ANSWERED, volumes.pop("optional"))] = None
    doc = Spaced()
    doc["version"] = "2"
    doc["services"] = services
    doc[Comment("Stack-scoped volumes on the one host: removing the stack removes them and "
                "Harbor's data." if single else
                "Stack-scoped volumes, one sub-folder each on the storage driver's share.")] = None
    doc["volumes"] = volumes
    return doc


def rancher_compose(target: str) -> dict:
    services = {}
    if target == "rancher":
        services[Comment("The primary: its scale applies to every sidekick. It runs once "
                         "(start_once).")] = None
        services["setupwrapper"] = {"scale": 1, "start_on_create": True}
    else:
        services["setupwrapper"] = {"scale": 1, "start_on_create": True}
        services["init-data"] = {"scale": 1, "start_on_create": True}
        services["renew"] = {"scale": 1, "start_on_create": True}
        for name, service in harbor_services(target).items():
            own = service[target]["health_check"]
            check = {"port": own["port"]}
            if "request_line" in own:
                check["request_line"] = own["request_line"]
            check.update(d.RANCHER_HEALTH_CHECK)
            check["strategy"] = own["strategy"]
            if service.get("stateful") and name == "postgresql":
                services[Comment("one container each, never more; not recreated on a failed "
                                 "check (their data is on the volume)")] = None
            if "profile" in service:
                services[Comment("used only when the Trivy answer is true (an entry for a "
                                 "service the template leaves out\nis not used)")] = None
            scale = "${harbor_scale}" if name in d.STATELESS else 1
            services[name] = {"scale": scale, "health_check": check}
    doc = Spaced({"version": "2", "catalog": RANCHER_CATALOG[target]})
    if target == "rancher-distributed":
        doc[Comment("Health checks: Traefik publishes only healthy services, and a container "
                    "that fails its\ncheck is replaced. The setupwrapper and init-data run once "
                    "and exit, so they have none (a\ncheck would have them recreated, re-running "
                    "them over and over); renew serves nothing to check.")] = None
    doc["services"] = services
    return doc


# --- every file -------------------------------------------------------------------------------------

def documents() -> dict[str, dict]:
    """path (relative to the repository) -> the file's content as plain data."""
    out = {"compose/docker-compose.yml": compose(), **compose_overrides(),
           "compose/docker-stack.yml": stack(), "compose/docker-stack.certs.yml": stack_certs(),
           "compose/docker-stack.traefik.yml":
               Spaced({"version": "3.9", **d.STACK_TRAEFIK_OVERRIDE}),
           "compose/docker-stack.traefik-acme.yml":
               Spaced({"version": "3.9", **d.STACK_TRAEFIK_ACME_OVERRIDE})}
    for target, folder in RANCHER_ITEMS.items():
        out[f"{folder}/docker-compose.yml.tpl"] = rancher_template(target)
        out[f"{folder}/rancher-compose.yml"] = rancher_compose(target)
    return out


# lists written on one line when they are short (the rest are one item per line)
FLOW_LISTS = {"cap_add", "cap_drop", "networks", "volumes_from", "profiles", "command",
              "entrypoint", "dns_search", "secrets", "options"}


def styled(value, key=None):
    """The house style for data written out in the description: short lists of FLOW_LISTS on
    one line, a mapping of one plain value ({condition: service_healthy}) on one line."""
    if isinstance(value, (Flow, FlowMap, Alias, Comment, Folded, Raw)):
        return value
    if isinstance(value, (Anchor, Tagged, If)):
        value.value = styled(value.value, key)
        return value
    if isinstance(value, dict):
        out = type(value)((k, styled(v, k)) for k, v in value.items())
        if type(value) is dict and len(value) == 1 and not isinstance(
                next(iter(value.values())), (dict, list, Anchor, Folded)):
            return FlowMap(out)
        return out
    if isinstance(value, list):
        items = [styled(v) for v in value]
        if key in FLOW_LISTS and all(isinstance(v, (str, int)) for v in items) and len(
                inline(items)) <= 60:
            return Flow(items)
        return items
    return value


def render(path: str, doc: dict) -> str:
    header = HEADERS.get(path, "")
    lines = [("# " + line).rstrip() for line in header.rstrip("\n").split("\n")] if header else []
    lines += ["# " + GENERATED_NOTE, ""]
    lines += mapping(styled(doc), 0)
    return "\n".join(lines) + "\n"


def files() -> dict[str, str]:
    return {path: render(path, doc) for path, doc in documents().items()}


def stale(root: Path | None = None) -> list[str]:
    """The generated files whose committed text differs from what the description makes."""
    root = root or REPO
    return [path for path, text in files().items()
            if not (root / path).is_file() or (root / path).read_text() != text]


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args == ["--check"]:
        differ = stale()
        for path in differ:
            print(f"{path}: differs from wrapper/deployment/description.py; run `{COMMAND}`")
        return 1 if differ else 0
    if args:
        print(__doc__.strip().split("\n\n")[1], file=sys.stderr)
        return 2
    for path, text in files().items():
        target = REPO / path
        if not target.is_file() or target.read_text() != text:
            target.write_text(text)
            print(f"wrote {path}")
    return 0


# --- the YAML writer ----------------------------------------------------------------------------

def _plain(text: str, flow: bool) -> bool:
    if not text or text != text.strip() or "\n" in text or text[0] in ":?!&*|>%@`":
        return False
    if flow and any(c in text for c in ",[]{}:#"):
        return False
    try:
        loaded = yaml.safe_load(f"[{text}]" if flow else f"k: {text}")
    except yaml.YAMLError:
        return False
    return loaded == ([text] if flow else {"k": text})


def scalar(value, flow: bool = False) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, Raw):
        return str(value)
    return value if _plain(value, flow) else json.dumps(value, ensure_ascii=False)


def key_text(key) -> str:
    return "<<" if key == "<<" else scalar(key)


def inline(value, flow: bool = False) -> str:
    if isinstance(value, Alias):
        return "*" + value.name
    if isinstance(value, Anchor):
        return f"&{value.name} " + inline(value.value, flow)
    if isinstance(value, Tagged):
        return f"{value.tag} " + inline(value.value, flow)
    if isinstance(value, dict):
        return "{" + ", ".join(f"{key_text(k)}: {inline(v, True)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(inline(v, True) for v in value) + "]"
    return scalar(value, flow)


def _block(value) -> bool:
    if isinstance(value, (Anchor, Tagged)):
        return _block(value.value)
    if isinstance(value, (Flow, FlowMap)):
        return False
    return isinstance(value, (dict, list)) and bool(value)


def comment_lines(comment: Comment, pad: str) -> list[str]:
    return [(pad + "# " + line).rstrip() for line in comment.text.split("\n")]


def entry(head: str, value, indent: int) -> list[str]:
    """One `key: value` (head "key:") or list item (head "-") at indent."""
    pad, tags = " " * indent, ""
    while isinstance(value, (Anchor, Tagged)) and _block(value) or isinstance(
            value, Anchor) and isinstance(value.value, Folded):
        tags += f" &{value.name}" if isinstance(value, Anchor) else f" {value.tag}"
        value = value.value
    if isinstance(value, Folded):
        return [f"{pad}{head}{tags} >-"] + [f"{pad}  {line}" for line in value.lines]
    if isinstance(value, Raw) and "\n" in value:
        first, *rest = value.split("\n")
        return [f"{pad}{head}{tags} {first}"] + [f"{pad}  {line}" for line in rest]
    if isinstance(value, str) and "\n" in value:
        body = value[:-1] if value.endswith("\n") else value
        return ([f"{pad}{head}{tags} {'|' if value.endswith(chr(10)) else '|-'}"]
                + [f"{pad}  {line}".rstrip() for line in body.split("\n")])
    if isinstance(value, dict) and _block(value):
        if head == "-" and not tags:
            lines = mapping(value, indent + 2)
            return [f"{pad}- {lines[0].lstrip()}"] + lines[1:]
        return [f"{pad}{head}{tags}"] + mapping(value, indent + 2)
    if isinstance(value, list) and _block(value):
        return [f"{pad}{head}{tags}"] + sequence(value, indent + 2)
    return [f"{pad}{head}{tags} {inline(value)}"]


def mapping(value: dict, indent: int) -> list[str]:
    pad, lines, after_comment = " " * indent, [], False
    for i, (key, item) in enumerate(value.items()):
        if isinstance(value, Spaced) and i and not after_comment:
            lines.append("")
        after_comment = isinstance(key, Comment)
        if isinstance(key, Comment):
            lines += comment_lines(key, pad)
        elif isinstance(key, If):
            inner = Spaced(key.value) if isinstance(value, Spaced) else key.value
            lines += [pad + "{{- if %s }}" % key.condition, *mapping(inner, indent),
                      pad + "{{- end }}"]
        else:
            lines += entry(key_text(key) + ":", item, indent)
    return lines


def sequence(items: list, indent: int) -> list[str]:
    pad, lines = " " * indent, []
    for item in items:
        if isinstance(item, Comment):
            lines += comment_lines(item, pad)
        elif isinstance(item, If):
            lines += [pad + "{{- if %s }}" % item.condition, *sequence(item.value, indent),
                      pad + "{{- end }}"]
        else:
            lines += entry("-", item, indent)
    return lines
