"""The committed deployment files are what wrapper/deployment/description.py makes.

compose/docker-compose*.yml, compose/docker-stack*.yml and both Rancher items are generated
by `python -m wrapper.deployment`; a file edited by hand, or a description changed without
regenerating, fails here with the command that refreshes them.
"""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from wrapper import schema
from wrapper.deployment import description, generator

REPO = Path(__file__).resolve().parent.parent
FILES = generator.files()


@pytest.mark.parametrize("path", sorted(FILES))
def test_committed_file_is_generated(path):
    committed = (REPO / path).read_text() if (REPO / path).is_file() else None
    assert committed == FILES[path], (
        f"{path} differs from what wrapper/deployment/description.py makes. Change the "
        f"description (not the file), then run:\n    {generator.COMMAND}")


def test_every_deployment_file_is_generated():
    on_disk = {str(p.relative_to(REPO)) for p in (REPO / "compose").glob("docker-*.yml")}
    on_disk |= {str(p.relative_to(REPO)) for p in (REPO / "rancher-catalog/templates").glob(
        "*/0/*.yml*")}
    assert on_disk == set(FILES), "a deployment file the generator does not write"


def test_check_names_a_stale_file_and_the_command(tmp_path, capsys, monkeypatch):
    for path, text in FILES.items():
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text(text)
    assert generator.stale(tmp_path) == []
    edited = tmp_path / "compose/docker-stack.yml"
    edited.write_text(edited.read_text().replace("retries: 6", "retries: 7"))
    assert generator.stale(tmp_path) == ["compose/docker-stack.yml"]
    monkeypatch.setattr(generator, "REPO", tmp_path)
    assert generator.main(["--check"]) == 1
    assert "compose/docker-stack.yml" in capsys.readouterr().out
    assert generator.main([]) == 0
    assert generator.stale(tmp_path) == []


def test_one_change_in_the_description_reaches_every_target(monkeypatch):
    services = copy.deepcopy(description.SERVICES)
    services["core"]["cap_add"] = ["SETGID", "SETUID", "NET_RAW"]
    monkeypatch.setattr(description, "SERVICES", services)
    changed = {path for path, text in generator.files().items() if text != FILES[path]}
    assert changed == {
        "compose/docker-compose.yml", "compose/docker-stack.yml",
        "rancher-catalog/templates/harbor-setupwrapper/0/docker-compose.yml.tpl",
        "rancher-catalog/templates/harbor-setupwrapper-distributed/0/docker-compose.yml.tpl"}


def test_a_variable_of_init_data_reaches_every_target_the_rancher_items_from_its_answer(
        monkeypatch):
    services = copy.deepcopy(description.SERVICES)
    services["init-data"]["environment"].append("HARBOR_EXAMPLE_KNOB")
    monkeypatch.setattr(description, "SERVICES", services)
    made = generator.files()
    assert {path for path, text in made.items() if text != FILES[path]} == {
        "compose/docker-compose.yml", "compose/docker-stack.yml",
        *(f"{folder}/docker-compose.yml.tpl" for folder in generator.RANCHER_ITEMS.values())}
    for folder in generator.RANCHER_ITEMS.values():
        assert "- HARBOR_EXAMPLE_KNOB=${harbor_example_knob}\n" in made[
            f"{folder}/docker-compose.yml.tpl"]


def test_a_new_setting_needs_only_a_regenerate(monkeypatch):
    new = schema.Setting("example.new_knob", schema.SETTINGS[1].kind, doc="x", addition=True)
    monkeypatch.setattr(schema, "SETTINGS", (*schema.SETTINGS, new))
    made = generator.files()
    for path in ("compose/docker-compose.yml", "compose/docker-stack.yml"):
        env = yaml.safe_load(made[path])["services"]["setupwrapper"]["environment"]
        assert new.env_name in env, path


def test_generated_files_parse_as_yaml():
    for path, text in FILES.items():
        if not path.endswith(".tpl"):  # the templates are checked by test_rancher_catalog.py
            assert isinstance(yaml.safe_load(text.replace("!override", "")), dict), path
