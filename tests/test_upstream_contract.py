"""Our compose deployment against the one Harbor's own installer writes.

tests/upstream-compose-contract.yml holds the facts of upstream's docker-compose.yml (v2.15.2,
read from prepare's template and the code that fills it). Each difference between those facts
and compose/docker-compose.yml (generated from wrapper/deployment/description.py; the metrics
and syslog opt-ins applied where upstream has them behind a setting) must be a row of the
README's table "Deliberate differences: the deployment" with its reason; a row that no longer
matches a difference fails too.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parent.parent
CONTRACT = yaml.safe_load((REPO / "tests/upstream-compose-contract.yml").read_text())
HEADING = "#### Deliberate differences: the deployment"
NONE = "—"


class ComposeLoader(yaml.SafeLoader):
    """compose's !override read as the plain value."""


ComposeLoader.add_constructor("!override", lambda loader, node: loader.construct_sequence(node))


def load(name: str) -> dict:
    return yaml.load((REPO / "compose" / name).read_text(), Loader=ComposeLoader)


def our_mounts(services: dict, service: dict) -> dict[str, bool]:
    """container path -> read-only, volumes_from resolved."""
    out = {}
    for source in service.get("volumes_from") or []:
        name, _, mode = source.partition(":")
        for path, read_only in our_mounts(services, services[name]).items():
            out[path] = read_only or mode == "ro"
    for volume in service.get("volumes") or []:
        parts = re.sub(r"\$\{[^{}]*(\{[^{}]*\}[^{}]*)*\}", "VAR", volume).split(":")
        options = parts[2].split(",") if len(parts) > 2 else []
        out[parts[1].rstrip("/") or "/"] = "ro" in options
    return out


def logging_text(logging: dict | None) -> str:
    if not logging:
        return "default"
    options = logging.get("options", {})
    if logging["driver"] == "syslog":
        return f"syslog {options.get('syslog-address', logging.get('address'))} " \
               f"tag {options.get('tag', logging.get('tag'))}"
    if logging["driver"] == "json-file" and "max-size" in options:
        return "json-file, bounded"
    return logging["driver"]


def caps(values) -> str:
    return ", ".join(sorted(values or [])) or "none"


def ours() -> dict[str, dict]:
    """Our compose services in the contract's terms."""
    base = load("docker-compose.yml")["services"]
    syslog = load("docker-compose.syslog.yml")["services"]
    metrics = load("docker-compose.metrics.yml")["services"]
    out = {}
    for name, service in base.items():
        ports = {}
        for spec in service.get("ports", []) + metrics.get(name, {}).get("ports", []):
            host, _, container = spec.rpartition(":")
            ports[int(container)] = host
        logging = logging_text(service.get("logging"))
        if name in syslog:
            logging += "; with docker-compose.syslog.yml: " + logging_text(syslog[name]["logging"])
        out[name] = {
            "restart": service.get("restart"), "user": service.get("user"),
            "cap_drop": caps(service.get("cap_drop")), "cap_add": caps(service.get("cap_add")),
            "mounts": our_mounts(base, service),
            "ports": ports,
            "depends_on": {other: condition["condition"].replace("service_", "").replace(
                "_successfully", "") for other, condition in (service.get("depends_on") or {}).items()},
            "logging": logging.replace(f"tag {name}", "tag <service>"),
            "shm_size": service.get("shm_size"),
            "tmpfs": service.get("tmpfs"),
        }
    return out


def upstream() -> dict[str, dict]:
    out = {}
    for name, service in CONTRACT["services"].items():
        out[name] = {
            "restart": service["restart"], "user": service.get("user"),
            "cap_drop": caps(service["cap_drop"]), "cap_add": caps(service["cap_add"]),
            "mounts": service["mounts"], "ports": service["ports"],
            "depends_on": {other: "started" for other in service["depends_on"]},
            "logging": logging_text(None if service["logging"] == {"driver": "default"}
                                    else service["logging"]).replace(f"tag {name}",
                                                                     "tag <service>"),
            "shm_size": service["shm_size"], "tmpfs": service.get("tmpfs"),
        }
    return out


def differences() -> set[tuple[str, str, str, str]]:
    """(service, fact, ours, upstream) for every fact that differs."""
    mine, theirs = ours(), upstream()
    found = set()
    for name in sorted(set(mine) | set(theirs)):
        if name not in theirs or name not in mine:
            found.add((name, "service", "runs" if name in mine else NONE,
                       "runs" if name in theirs else NONE))
            continue
        a, b = mine[name], theirs[name]
        for fact in ("restart", "user", "cap_drop", "cap_add", "logging", "shm_size", "tmpfs"):
            if a[fact] != b[fact]:
                found.add((name, fact, str(a[fact] or NONE), str(b[fact] or NONE)))
        for path in set(a["mounts"]) | set(b["mounts"]):
            here = a["mounts"].get(path)
            there = b["mounts"].get(path)
            here_text = NONE if here is None else "read-only" if here else "read-write"
            there_text = NONE if there is None else (
                ("read-only" if there["read_only"] else "read-write")
                + (f", when {there['when']}" if "when" in there else ""))
            if here_text != there_text:
                found.add((name, f"mount {path}", here_text, there_text))
        for port in set(a["ports"]) | set(b["ports"]):
            if (port in a["ports"]) != (port in b["ports"]) or (
                    port == 10514 and a["ports"][port] != b["ports"][port]):
                found.add((name, f"port {port}", a["ports"].get(port, NONE),
                           b["ports"].get(port, NONE)))
        for other in set(a["depends_on"]) | set(b["depends_on"]):
            here, there = a["depends_on"].get(other, NONE), b["depends_on"].get(other, NONE)
            if here != there:
                found.add((name, f"depends_on {other}", here, there))
    return found


def readme_rows() -> list[tuple[set[str], str, str, str, str]]:
    text = (REPO / "README.md").read_text()
    assert HEADING in text, f"README has no {HEADING!r} section"
    section = text.split(HEADING, 1)[1].split("\n#", 1)[0]
    rows = []
    for line in section.splitlines():
        if not line.startswith("| `"):
            continue
        cells = [c.strip() for c in line.strip().strip("|").split(" | ")]
        assert len(cells) == 5, f"a row needs 5 cells: {line}"
        services = set(re.findall(r"`([^`]+)`", cells[0]))
        facts, here, there = (c.replace("`", "") for c in cells[1:4])
        for fact in facts.split("; "):  # one row: every service with every fact it names
            rows.append((services, fact, here, there, cells[4]))
    return rows


def test_contract_table_is_complete():
    for name, service in CONTRACT["services"].items():
        for key in ("image", "restart", "cap_drop", "cap_add", "mounts", "ports", "depends_on",
                    "logging", "shm_size"):
            assert key in service, f"{name}: {key}"
        for path, fact in service["mounts"].items():
            assert path.startswith("/") and not path.endswith("/"), (name, path)
            assert isinstance(fact["read_only"], bool), (name, path)


def test_same_images():
    base = load("docker-compose.yml")["services"]
    for name, service in CONTRACT["services"].items():
        assert f"/{service['image']}:" in base[name]["image"], name


def test_every_difference_from_upstream_is_named_with_its_reason():
    rows = readme_rows()
    missing = []
    for service, fact, here, there in sorted(differences()):
        if not any(service in s and fact == f and here == h and there == t and why
                   for s, f, h, t, why in rows):
            missing.append(f"| `{service}` | {fact} | {here} | {there} | <why> |")
    assert not missing, (
        f"compose/docker-compose.yml differs from upstream's compose file "
        f"(tests/upstream-compose-contract.yml) where README's {HEADING!r} says nothing; "
        "add a row with the reason, or change wrapper/deployment/description.py:\n"
        + "\n".join(missing))


def test_every_named_difference_still_exists():
    found = differences()
    stale = [f"{name}: {fact} ({here} / {there})" for services, fact, here, there, _ in readme_rows()
             for name in sorted(services) if (name, fact, here, there) not in found]
    assert not stale, "README names differences that are gone:\n" + "\n".join(stale)


@pytest.mark.parametrize("fact", ["mounts", "cap_add", "depends_on"])
def test_a_changed_fact_is_caught(fact, monkeypatch):
    """The comparison sees a change of each kind (it cannot pass by seeing nothing)."""
    before = differences()
    changed = yaml.safe_load(yaml.safe_dump(CONTRACT))
    service = changed["services"]["registry"]
    if fact == "mounts":
        service["mounts"]["/storage"]["read_only"] = True
    elif fact == "cap_add":
        service["cap_add"].append("NET_ADMIN")
    else:
        service["depends_on"].append("portal")
    monkeypatch.setitem(globals(), "CONTRACT", changed)
    assert differences() - before
