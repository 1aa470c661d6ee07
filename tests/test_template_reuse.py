"""A re-render reuses the current generation's rendered templates whose inputs are the same
(files.Renders): what it publishes is byte for byte what rendering them anew gives, a template
whose inputs changed is rendered anew, and so is a file changed in the tree."""

from __future__ import annotations

import io
import json

import pytest

import wrapper.components as components
from wrapper import files
from wrapper.generate import Steps, generate, templates_digest
from wrapper.settings import load

BASE = {"HARBOR_HOSTNAME": "harbor.example.test", "HARBOR_ADMIN_PASSWORD": "Adm1n-pass"}
TEMPLATED = ("config/core/app.conf", "config/log/logrotate.conf",
             "config/log/rsyslog_docker.conf", "config/nginx/nginx.conf",
             "config/portal/nginx.conf")

# Each step adds to the variables before it; the files each one must render anew.
STEPS = [
    ({"HARBOR_LOG_LEVEL": "debug"}, set()),  # no template's input
    ({"HARBOR_HTTPS_PORT": "8443"}, {"config/nginx/nginx.conf"}),
    ({"HARBOR_IP_FAMILY_IPV6_ENABLED": "true"},
     {"config/nginx/nginx.conf", "config/portal/nginx.conf"}),
    ({"HARBOR_LOG_LOCAL_ROTATE_COUNT": "5"}, {"config/log/logrotate.conf"}),
    ({"HARBOR_LOG_EXTERNAL_ENDPOINT_HOST": "syslog.example.test",
      "HARBOR_LOG_EXTERNAL_ENDPOINT_PORT": "514"}, {"config/log/rsyslog_docker.conf"}),
    ({"HARBOR_NGINX_RESOLVER": "10.0.0.2"}, {"config/nginx/nginx.conf"}),
    ({"HARBOR_METRIC_PORT": "9091"}, {"config/nginx/nginx.conf"}),
    ({"HARBOR_INTERNAL_TLS_ENABLED": "true"}, set(TEMPLATED) - {
        "config/log/logrotate.conf", "config/log/rsyslog_docker.conf"}),
    ({"HARBOR_JOBSERVICE_MAX_JOB_WORKERS": "5"}, set()),
    ({"HARBOR_PROTOCOL": "http"}, {"config/nginx/nginx.conf"}),
]


@pytest.fixture
def rendered_twice(monkeypatch):
    """Every render_all of generate() also renders without reuse and compares; returns the
    paths whose templates each run rendered anew."""
    runs: list[set[str]] = []
    original = components.render_all

    def both(s, keys, paths):
        anew: set[str] = set()
        renders = files._RENDERS[-1]
        reuse = renders.reuse

        def counted(path, material):
            content = reuse(path, material)
            if content is None:
                anew.add(path)
            return content

        monkeypatch.setattr(renders, "reuse", counted)
        made = original(s, keys, paths)
        files._RENDERS.pop()
        try:
            fresh = original(s, keys, paths)
        finally:
            files._RENDERS.append(renders)
        assert made == fresh  # every file: path, bytes, mode, owner
        runs.append(anew)
        return made

    monkeypatch.setattr(components, "render_all", both)
    return runs


def run(out, variables) -> dict:
    return generate(str(out), load(variables), steps=Steps(io.StringIO()), variables=variables)


def test_reuse_publishes_what_rendering_anew_gives(out, rendered_twice):
    variables = dict(BASE)
    assert run(out, variables)["changed"]
    assert rendered_twice == [set(TEMPLATED)]  # a first run has nothing to reuse
    for change, anew in STEPS:
        variables.update(change)
        assert run(out, variables)["changed"], change
        assert rendered_twice[-1] == anew, change
    marker = json.loads((out / "ready").read_text())
    assert sorted(marker["rendered"]) == sorted(TEMPLATED)


def test_a_template_file_changed_in_the_tree_is_rendered_anew(out, rendered_twice):
    assert run(out, BASE)["changed"]
    conf = out / "config/nginx/nginx.conf"
    good = conf.read_bytes()
    conf.write_bytes(good.replace(b"server_tokens off", b"server_tokens on"))
    assert conf.read_bytes() != good
    assert run(out, {**BASE, "HARBOR_LOG_LEVEL": "debug"})["changed"]
    assert rendered_twice[-1] == {"config/nginx/nginx.conf"}
    assert conf.read_bytes() == good


def test_a_marker_entry_made_without_the_key_is_not_trusted(out, rendered_twice, monkeypatch):
    """The marker is in the tree: its entries are HMACs under the store's key, so one made
    for changed bytes with the right inputs but without that key is rendered anew."""
    materials = {}
    seal = files.Renders.seal

    def recorded(self, material, content):
        materials[content] = material
        return seal(self, material, content)

    monkeypatch.setattr(files.Renders, "seal", recorded)
    assert run(out, BASE)["changed"]
    conf = out / "config/portal/nginx.conf"
    good = conf.read_bytes()
    changed = good + b"# changed\n"
    conf.write_bytes(changed)
    marker = json.loads((out / "ready").read_text())
    forger = files.Renders(b"not the store's key".ljust(32, b"."), {}, lambda path: None,
                           templates_digest().hex())
    marker["rendered"]["config/portal/nginx.conf"] = seal(forger, materials[good], changed)
    (out / "ready").write_text(json.dumps(marker))
    assert run(out, {**BASE, "HARBOR_LOG_LEVEL": "debug"})["changed"]
    assert rendered_twice[-1] == {"config/portal/nginx.conf"}
    assert conf.read_bytes() == good


def test_a_value_without_a_canonical_form_is_never_reused():
    renders = files.Renders(b"k" * 32, {}, lambda path: b"", templates_digest().hex())
    assert renders.material("logrotate.conf.j2", {"rotate_count": object()}) is None
    assert renders.material("logrotate.conf.j2", {"rotate_count": 1}) != renders.material(
        "logrotate.conf.j2", {"rotate_count": True})
    assert renders.material("logrotate.conf.j2", {"rotate_count": 1}) != renders.material(
        "logrotate.conf.j2", {"rotate_count": "1"})
