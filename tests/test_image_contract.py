"""The table of the real images (tests/e2e/images/image-contract.yml) covers our deployment.

Every path the compose files and the Swarm stack mount into a Harbor service must be in
the table for that service's image, so that the stand-ins are checked at every place the
deployment depends on (a newcomer who adds a mount is told here to look the path up in
upstream's image). No Docker needed.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parent.parent
TABLE = yaml.safe_load((REPO / "tests/e2e/images/image-contract.yml").read_text())
DEPLOYMENTS = sorted((REPO / "compose").glob("docker-compose*.yml")) + [
    REPO / "compose/docker-stack.yml"]
IMAGE = re.compile(r"/(?P<name>[a-z0-9-]+):")


class ComposeLoader(yaml.SafeLoader):
    """YAML with compose's merge tags (!override, !reset) read as plain values."""


for _tag in ("!override", "!reset"):
    ComposeLoader.add_constructor(
        _tag, lambda loader, node: (loader.construct_mapping(node) if isinstance(
            node, yaml.MappingNode) else loader.construct_sequence(node) if isinstance(
            node, yaml.SequenceNode) else loader.construct_scalar(node)))


def load(path: Path) -> dict:
    return yaml.load(path.read_text(), Loader=ComposeLoader) or {}


def known_paths(image: str) -> set[str]:
    entry = TABLE["images"][image]
    return ({p.rstrip("/") for p in entry["paths"]} | set(TABLE["shared_paths"])
            | {v.rstrip("/") for v in entry["volumes"]})


def targets(service: dict) -> set[str]:
    out = set()
    for volume in service.get("volumes") or []:
        if isinstance(volume, dict):
            if volume.get("type") != "tmpfs":  # memory, owned by the container's runtime
                out.add(volume["target"])
        else:
            # source:target[:mode], where the source may hold ${VAR:-default} expressions
            parts = re.sub(r"\$\{[^{}]*(\{[^{}]*\}[^{}]*)*\}", "VAR", volume).split(":")
            out.add(parts[1] if len(parts) > 1 else parts[0])
    return {t.rstrip("/") or "/" for t in out}


def mounts(path: Path) -> dict[str, tuple[str, set[str]]]:
    """service -> (image name, every target mounted into it, volumes_from resolved)."""
    services = load(path).get("services") or {}
    # overrides take their images from the main compose file
    base = load(REPO / "compose/docker-compose.yml").get("services") or {}
    out = {}
    for name, service in services.items():
        image = service.get("image") or (base.get(name) or {}).get("image") or ""
        match = IMAGE.search(image.replace("}", ""))
        if not match or match["name"] not in TABLE["images"]:
            continue
        found = targets(service)
        for source in service.get("volumes_from") or []:
            found |= targets(services.get(source.split(":")[0], {}))
        out[name] = (match["name"], found)
    return out


def test_every_image_of_the_compose_file_is_in_the_table():
    doc = load(REPO / "compose/docker-compose.yml")
    images = {m["name"] for s in doc["services"].values()
              if (m := IMAGE.search(s["image"].replace("}", "")))}
    assert images == set(TABLE["images"])


def test_table_names_each_image_s_compose_service():
    doc = load(REPO / "compose/docker-compose.yml")
    for image, entry in TABLE["images"].items():
        service = doc["services"][entry["compose_service"]]
        assert f"/{image}:" in service["image"]


@pytest.mark.parametrize("deployment", DEPLOYMENTS, ids=lambda p: p.name)
def test_every_mounted_path_is_in_the_table(deployment):
    missing = []
    for service, (image, found) in mounts(deployment).items():
        for target in sorted(found - known_paths(image)):
            missing.append(f"{service} ({image}): {target}")
    assert not missing, (
        f"{deployment.name} mounts paths the table does not describe; look each up in "
        "goharbor/harbor v2.15.2 (make/photon/<component>/Dockerfile*) and add it to "
        "tests/e2e/images/image-contract.yml:\n" + "\n".join(missing))


def test_table_entries_are_complete():
    for image, entry in TABLE["images"].items():
        for key in ("user", "uid", "gid", "entrypoint", "cmd", "workdir", "healthcheck",
                    "volumes", "paths"):
            assert key in entry, f"{image}: {key} missing"
        for path, fact in entry["paths"].items():
            assert path.startswith("/") and isinstance(fact["in_image"], bool), (image, path)
            if fact["in_image"]:
                assert re.fullmatch(r"\d+:\d+", fact["owner"]), (image, path)
                assert re.fullmatch(r"0?[0-7]{3,4}", fact["mode"]), (image, path)
