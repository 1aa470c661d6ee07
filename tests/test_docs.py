"""Documentation derived from the schema stays equal to it."""

import re
from pathlib import Path

import yaml

from wrapper.docs import compose_passthrough, env_example, variables_table

REPO = Path(__file__).resolve().parent.parent


def test_readme_variable_table_is_the_schema():
    readme = (REPO / "README.md").read_text()
    table = re.search(r"<!-- variables:start -->\n(.*)<!-- variables:end -->", readme, re.S)
    assert table and table.group(1) == variables_table()


def test_env_example_is_the_schema():
    assert (REPO / "compose/.env.example").read_text() == env_example()


def test_compose_passes_every_variable_to_the_wrapper():
    compose = yaml.safe_load((REPO / "compose/docker-compose.yml").read_text())
    names = {entry.split("=")[0] for entry in compose["services"]["setupwrapper"]["environment"]}
    assert set(compose_passthrough()) <= names


def test_env_example_lists_every_variable_the_compose_file_reads():
    text = (REPO / "compose/docker-compose.yml").read_text()
    read = set(re.findall(r"\$\{(HARBOR_[A-Z0-9_]+)", text))
    listed = set(re.findall(r"^#?(HARBOR_[A-Z0-9_]+)=", env_example(), re.M))
    assert read <= listed
