"""Each of the four generated deployment files runs the services the description says.

The facts come from wrapper/deployment/description.py (through tests/topology.py); the files
are written from it by `python -m wrapper.deployment`. A failure here means a generator rule
lost a fact, and names the file and the place: `compose/docker-compose.yml: services.registry.
volumes: missing registry:/storage:nocopy`.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from test_rancher_catalog import DISTRIBUTED, SINGLE, catalog_of, loaded, variants
from topology import (DATA_OWNER, DATA_VOLUMES, FIXED_VOLUMES, HEALTHY, ROOT, SERVICES,
                      Service)

REPO = Path(__file__).resolve().parent.parent
COMPOSE_FILE = "compose/docker-compose.yml"
STACK_FILE = "compose/docker-stack.yml"
RANCHER_FILE = "rancher-catalog/templates/harbor-setupwrapper/0/docker-compose.yml.tpl"
DISTRIBUTED_FILE = ("rancher-catalog/templates/harbor-setupwrapper-distributed/0/"
                    "docker-compose.yml.tpl")
SETUP = "harbor-setup:/harbor-setup:ro"


def image_of(service: Service, prefix: str, tag: str, wrapper: str) -> str:
    return wrapper if service.image == "wrapper" else f"{prefix}/{service.image}:{tag}"


def data_mounts(service: Service) -> list[str]:
    return [f"{volume}:{target}" for volume, target in service.data.items()]


def setup_mount(service: Service, platform: str) -> list[str]:
    """The wrapper's volume, read-write, where a one-shot records in its store (init-data)."""
    return ["harbor-setup:/harbor-setup"] if platform in service.setup_mount else []


def named_mounts(service: Service, platform: str) -> list[str]:
    """The stack's and the distributed item's mounts: no volumes_from there."""
    setup = (["harbor-setup:/harbor-setup"] if service.writes_setup else
             setup_mount(service, platform) if service.image == "wrapper" else [SETUP])
    return setup + [f"{v}:{FIXED_VOLUMES[v]}" for v in service.fixed] + data_mounts(service)


class Check:
    """Collects every difference of one file, each with its place."""

    def __init__(self, file: str, services: dict):
        self.file, self.services, self.problems = file, services, []

    def equal(self, name: str, key: str, found, expected) -> None:
        if found != expected:
            self.problems.append(f"{self.file}: services.{name}.{key}: found {found!r}, "
                                 f"tests/topology.py says {expected!r}")

    def same_items(self, name: str, key: str, found: list, expected: list) -> None:
        for item in sorted(set(expected) - set(found)):
            self.problems.append(f"{self.file}: services.{name}.{key}: missing {item}")
        for item in sorted(set(found) - set(expected)):
            self.problems.append(f"{self.file}: services.{name}.{key}: {item} is not in "
                                 "tests/topology.py")

    def common(self, platform: str, image) -> None:
        expected = {n for n, s in SERVICES.items() if platform in s.on} | {"setupwrapper"}
        self.same_items("*", "(names)", list(self.services), list(expected))
        for name, topo in SERVICES.items():
            service = self.services.get(name)
            if service is None:
                continue
            self.equal(name, "image", service.get("image"), image(topo))
            self.equal(name, "cap_drop", service.get("cap_drop"), ["ALL"])
            self.equal(name, "cap_add", service.get("cap_add"), list(topo.cap_add) or None)
            self.equal(name, "user", service.get("user"), None)  # the image's own
            self.equal(name, "healthcheck.test", service.get("healthcheck", {}).get("test"),
                       None)
            if topo.environment:  # the wrapper's own list (renew) is test_stack_lint's
                self.equal(name, "environment (names)", [
                    e.split("=", 1)[0] for e in service.get("environment") or []],
                    list(topo.environment))

    def answered(self, values: dict[str, str]) -> None:
        """Rancher: each variable of a service has the answer of its name in lower case."""
        for name, topo in SERVICES.items():
            env = dict(e.split("=", 1) for e in self.services.get(name, {}).get(
                "environment") or [] if "=" in e)
            for variable in topo.environment:
                self.equal(name, f"environment.{variable}", env.get(variable),
                           values.get(variable.lower(),
                                      f"${{{variable.lower()}}}, which no question asks"))

    def report(self) -> None:
        assert not self.problems, "\n".join(self.problems)


def strings(volumes) -> list[str]:
    return [v for v in volumes or [] if isinstance(v, str)]


def compose_check(services: dict) -> Check:
    check = Check(COMPOSE_FILE, services)
    check.common("compose", lambda s: image_of(s, "${HARBOR_IMAGE_PREFIX:-goharbor}",
                                                "${HARBOR_IMAGE_TAG:-v2.15.2}",
                                                "${HARBOR_WRAPPER_IMAGE:-harbor-setupwrapper:0.1.0}"))
    for name, topo in SERVICES.items():
        if name not in services:
            continue
        service = services[name]
        found = [v for v in strings(service.get("volumes"))
                 if v.split(":")[0] in DATA_VOLUMES or v.startswith("harbor-setup:")]
        setup = ["harbor-setup:/harbor-setup"] if topo.writes_setup else setup_mount(topo, "compose")
        check.same_items(name, "volumes", found, setup + data_mounts(topo))
        check.equal(name, "volumes_from", service.get("volumes_from"),
                    None if topo.image == "wrapper" else ["setupwrapper:ro"])
        after = {k: v["condition"] for k, v in (service.get("depends_on") or {}).items()}
        check.equal(name, "depends_on", after, topo.after)
        check.equal(name, "profiles", service.get("profiles"),
                    [topo.optional] if topo.optional else None)
        if topo.health:
            check.equal(name, "healthcheck", "healthcheck" in service, True)
    return check


def test_compose_file():
    compose_check(yaml.safe_load((REPO / COMPOSE_FILE).read_text())["services"]).report()


def test_a_missed_place_is_named():
    services = yaml.safe_load((REPO / COMPOSE_FILE).read_text())["services"]
    services["registryctl"]["volumes"] = []
    services["core"]["cap_add"].append("NET_ADMIN")
    assert sorted(compose_check(services).problems) == [
        f"{COMPOSE_FILE}: services.core.cap_add: found ['SETGID', 'SETUID', 'NET_ADMIN'], "
        "tests/topology.py says ['SETGID', 'SETUID']",
        f"{COMPOSE_FILE}: services.registryctl.volumes: missing registry:/storage:nocopy"]


def test_swarm_stack():
    services = yaml.safe_load((REPO / STACK_FILE).read_text())["services"]
    check = Check(STACK_FILE, services)
    check.common("stack", lambda s: image_of(s, "${HARBOR_IMAGE_PREFIX:-goharbor}",
                                              "${HARBOR_IMAGE_TAG:-v2.15.2}",
                                              "${HARBOR_WRAPPER_IMAGE:-harbor-setupwrapper:0.1.0}"))
    for name, topo in SERVICES.items():
        if name not in services:
            continue
        service = services[name]
        check.same_items(name, "volumes", strings(service.get("volumes")),
                         named_mounts(topo, "stack"))
        deploy = service.get("deploy", {})
        if topo.image == "wrapper":
            check.equal(name, "deploy.mode", deploy.get("mode"),
                        "replicated" if topo.keeps_running else "replicated-job")
        elif topo.optional:
            variable = "HARBOR_" + name.upper().replace("-", "_") + "_REPLICAS"
            check.equal(name, "deploy.replicas", deploy.get("replicas"), "${%s:-0}" % variable)
        if topo.health:
            check.equal(name, "healthcheck", "healthcheck" in service, True)
    check.report()


RANCHER_IMAGE = lambda s: image_of(s, "goharbor", "v2.15.2", "harbor-setupwrapper:0.1.0")  # noqa


def test_rancher_single_host_item():
    services = loaded(SINGLE, "trivy-and-optional-answers")["services"]
    check = Check(RANCHER_FILE, services)
    check.common("rancher", RANCHER_IMAGE)
    for name, topo in SERVICES.items():
        if name not in services:
            continue
        service = services[name]
        check.same_items(name, "volumes", strings(service.get("volumes")),
                         named_mounts(topo, "rancher") if topo.writes_setup else
                         setup_mount(topo, "rancher") + data_mounts(topo))
        check.equal(name, "volumes_from", service.get("volumes_from"),
                    None if topo.image == "wrapper" else ["setupwrapper"])
    check.answered(variants(SINGLE)["trivy-and-optional-answers"])
    check.report()


def test_rancher_distributed_item():
    services = loaded(DISTRIBUTED, "trivy-and-optional-answers")["services"]
    rancher = catalog_of(DISTRIBUTED)["services"]
    check = Check(DISTRIBUTED_FILE, services)
    check.common("rancher-distributed", RANCHER_IMAGE)
    for name, topo in SERVICES.items():
        if name not in services:
            continue
        service = services[name]
        check.same_items(name, "volumes", strings(service.get("volumes")),
                         named_mounts(topo, "rancher-distributed"))
        check.equal(name, "volumes_from", service.get("volumes_from"), None)
        if topo.health:
            check.equal(name, "health_check (rancher-compose.yml)",
                        "health_check" in rancher.get(name, {}), True)
    check.answered(variants(DISTRIBUTED)["trivy-and-optional-answers"])
    check.report()


# --- the description itself -----------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(SERVICES))
def test_each_data_volume_is_written_by_its_owner_only(name):
    topo = SERVICES[name]
    for volume, target in topo.data.items():
        if topo.image == "wrapper" or ":ro" in target:
            continue
        assert DATA_OWNER[volume] == topo.user, (
            f"{name} writes {volume} as uid {topo.user}; init-data gives it to "
            f"{DATA_OWNER[volume]} (wrapper/data_dirs.py)")


def test_init_data_mounts_every_data_volume_and_every_one_is_used():
    assert set(SERVICES["init-data"].data) == set(DATA_VOLUMES)
    users = {v for n, s in SERVICES.items() if n != "init-data" for v in s.data}
    assert users == set(DATA_VOLUMES)
    assert all("nocopy" in t.split(":")[-1].split(",") for s in SERVICES.values()
               for t in s.data.values()), \
        "without nocopy Docker gives an empty volume back to root when an image mounts it"


def test_dependencies_exist_and_start_earlier():
    for name, topo in SERVICES.items():
        for other, condition in topo.after.items():
            assert other in SERVICES or other == "setupwrapper", (name, other)
            if condition == HEALTHY:
                assert SERVICES[other].health, f"{name} waits for {other}'s health check"


def test_init_data_records_the_snapshot_where_status_can_show_it():
    """compose and the single-host item: init-data mounts the wrapper's volume, so the
    snapshot before a PostgreSQL upgrade is recorded in the store (README: Day 2)."""
    assert set(SERVICES["init-data"].setup_mount) == {"compose", "rancher"}
    assert all(not s.setup_mount for n, s in SERVICES.items() if n != "init-data")


def test_the_one_shots_run_as_root_the_others_as_their_image_user():
    assert SERVICES["init-data"].user == ROOT
