"""compose/docker-compose.podman.yml repeats each image's own health check (Podman drops the
compose file's health-check options unless a `test` is given): the checks it names are the
images' (tests/e2e/images/image-contract.yml), for every service of the compose file that
has one, and it changes nothing else but the proxy's DNS resolver (given to both wrapper services) and the network's
subnet. No Podman needed."""

from __future__ import annotations

from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
TABLE = yaml.safe_load((REPO / "tests/e2e/images/image-contract.yml").read_text())["images"]
OVERRIDE = yaml.safe_load((REPO / "compose/docker-compose.podman.yml").read_text())
BASE = yaml.safe_load((REPO / "compose/docker-compose.yml").read_text())


def test_each_health_check_is_the_images_own():
    checks = {image["compose_service"]: image["healthcheck"]
              for image in TABLE.values() if image.get("healthcheck")}
    services = OVERRIDE["services"]
    named = {name: s["healthcheck"]["test"] for name, s in services.items() if "healthcheck" in s}
    assert named == checks
    for name in named:
        assert name in BASE["services"], name
        assert services[name] == {"healthcheck": {"test": checks[name]}}, name


def test_nothing_else_but_the_resolver():
    others = {name: s for name, s in OVERRIDE["services"].items() if "healthcheck" not in s}
    resolver = {"environment": [
        "HARBOR_NGINX_RESOLVER=${HARBOR_NGINX_RESOLVER:-${HARBOR_PODMAN_GATEWAY:-10.89.250.1}}"]}
    # renew runs `generate` in each round: it gets the setupwrapper's variables
    assert others == {"setupwrapper": resolver, "renew": resolver}
    # the resolver is the gateway of the network's subnet
    (config,) = OVERRIDE["networks"]["harbor"]["ipam"]["config"]
    assert config == {"subnet": "${HARBOR_PODMAN_SUBNET:-10.89.250.0/24}",
                      "gateway": "${HARBOR_PODMAN_GATEWAY:-10.89.250.1}"}
