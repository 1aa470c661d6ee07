"""Harbor's settings as variables, end to end on compose, with a real LDAP server.

One deployment, three `up -d`:
  1. no settings variables: the admin changes a setting through the API (core gets no
     CONFIG_OVERWRITE_JSON, so the API may change it);
  2. LDAP settings as variables (ldaps:// to Debian's slapd on this host, its test CA in the
     trust bundle), and another HARBOR_ADMIN_PASSWORD: the API's setting is kept, the
     settings are read-only now, the admin password is still the first one, an LDAP user logs
     in with `docker login`, creates a project and pushes;
  3. a changed variable (project creation for admins only) wins after `up -d`.
The core double keeps settings, users and projects in the real PostgreSQL and authenticates
LDAP users against slapd with the CA installed from /harbor_cust_cert (core_settings.py).
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import ssl
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from compose_support import CERTS_D, HTTPS_PORT, PASSWORD, Harbor
from e2e_support import sh
from slapd_support import HOSTNAME, PEOPLE, SEARCH_DN, Slapd

pytestmark = pytest.mark.settings_e2e

PROJECT = "harborsettings"
LDAP_USER, LDAP_PASSWORD = "alice", "al1ce's LDAP pw"
SEARCH_PASSWORD = "search pw #1"
NEW_ADMIN_PASSWORD = "a different one 2"
READ_ONLY = "current config is init by env variable: CONFIG_OVERWRITE_JSON, it cannot be updated"


@pytest.fixture(scope="module")
def slapd():
    server = Slapd({LDAP_USER: LDAP_PASSWORD}, SEARCH_PASSWORD).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def deployment(wrapper_image, standins, slapd):
    folder = Path(tempfile.mkdtemp(prefix="e2e-settings-"))
    trust = folder / "trust"
    trust.mkdir()
    (trust / "ca.crt").write_bytes(slapd.ca)
    # core reaches slapd on this host by the name in its certificate
    override = folder / "ldap-host.yml"
    override.write_text(f'services:\n  core:\n    extra_hosts:\n      - "{HOSTNAME}:host-gateway"\n')
    h = Harbor(PROJECT, wrapper_image, files=("compose/docker-compose.yml",
                                               "compose/docker-compose.trust.yml", str(override)))
    h.env["HARBOR_SETUP_TRUST_DIR"] = str(trust)
    h.compose("down", "-v", "--remove-orphans", check=False)
    yield h
    sh("docker", "logout", h.host, check=False)
    h.compose("down", "-v", "--remove-orphans", check=False)
    shutil.rmtree(CERTS_D / h.host, ignore_errors=True)
    shutil.rmtree(folder, ignore_errors=True)


def api(h: Harbor, method: str, path: str, user: str, password: str, body=None):
    """(status, parsed JSON or text) of a call to Harbor's API through the proxy."""
    context = ssl.create_default_context(cadata=h.ca.decode())
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        f"https://127.0.0.2:{HTTPS_PORT}/api/v2.0{path}", data=data, method=method,
        headers={"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode())
                 .decode(), "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, context=context, timeout=30) as answer:
            status, raw = answer.status, answer.read()
    except urllib.error.HTTPError as err:
        status, raw = err.code, err.read()
    try:
        return status, json.loads(raw)
    except ValueError:
        return status, raw.decode(errors="replace")


def settings_of(h: Harbor) -> dict:
    status, body = api(h, "GET", "/configurations", "admin", PASSWORD)
    assert status == 200, body
    return body


def wait_for_core(h: Harbor, timeout: float = 240) -> None:
    """Until the admin can call the API (core restarted with its new environment)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            status, _ = api(h, "GET", "/users/current", "admin", PASSWORD)
            if status == 200:
                return
        except OSError:
            pass
        if time.monotonic() > deadline:
            logs = h.compose("logs", "--tail", "60", "core", check=False).stdout
            raise AssertionError(f"core never answered the admin:\n{logs}")
        time.sleep(2)


def docker_login(h: Harbor, user: str, password: str):
    return sh("docker", "login", h.host, "-u", user, "--password-stdin", check=False,
              input=password, timeout=60)


def push(h: Harbor, repository: str) -> None:
    image = f"{h.host}/{repository}"
    with tempfile.TemporaryDirectory() as context:
        Path(context, "payload").write_bytes(os.urandom(256 * 1024))
        Path(context, "Dockerfile").write_text("FROM scratch\nCOPY payload /payload\n")
        sh("docker", "build", "-q", "-t", image, context,
           env={**os.environ, "DOCKER_BUILDKIT": "0"})
    try:
        sh("docker", "push", image, timeout=300)
    finally:
        sh("docker", "rmi", "-f", image, check=False)


def test_settings_as_variables_with_ldap(deployment, slapd):
    h = deployment
    started = time.monotonic()

    # 1. no settings variables: the API may change settings, and core has no overwrite
    h.compose("up", "-d", timeout=900)
    h.ca = h.trust_ca()
    wait_for_core(h)
    assert "CONFIG_OVERWRITE_JSON" not in h.volume_file("config/core/env").decode()
    before = settings_of(h)
    assert before["auth_mode"] == {"value": "db_auth", "editable": True}
    assert before["robot_token_duration"]["value"] == 30  # Harbor's default
    status, body = api(h, "PUT", "/configurations", "admin", PASSWORD,
                       {"robot_token_duration": 7})
    assert status == 200, body
    assert settings_of(h)["robot_token_duration"] == {"value": 7, "editable": True}
    print(f"\n[e2e] settings phase 1 (up, API change): {time.monotonic() - started:.0f}s")

    # 2. LDAP settings as variables; a new admin password
    h.env.update({
        "HARBOR_AUTH_MODE": "ldap_auth",
        "HARBOR_LDAP_URL": slapd.url,
        "HARBOR_LDAP_SEARCH_DN": SEARCH_DN,
        "HARBOR_LDAP_SEARCH_PASSWORD": SEARCH_PASSWORD,
        "HARBOR_LDAP_BASE_DN": PEOPLE,
        "HARBOR_LDAP_UID": "uid",
        "HARBOR_LDAP_FILTER": "(objectClass=inetOrgPerson)",
        "HARBOR_LDAP_SCOPE": "2",
        "HARBOR_LDAP_VERIFY_CERT": "true",
        "HARBOR_PROJECT_CREATION_RESTRICTION": "everyone",
        "HARBOR_ADMIN_PASSWORD": NEW_ADMIN_PASSWORD,
    })
    phase = time.monotonic()
    h.compose("up", "-d", timeout=900)
    wait_for_core(h)
    core_env = h.volume_file("config/core/env").decode()
    overwrite = json.loads(core_env.split("CONFIG_OVERWRITE_JSON=", 1)[1].splitlines()[0])
    assert overwrite["ldap_scope"] == 2 and overwrite["ldap_verify_cert"] is True
    assert overwrite["ldap_search_password"] == SEARCH_PASSWORD
    settings = settings_of(h)
    # the setting made in the API, not a variable, is kept; the variables are applied
    assert settings["robot_token_duration"] == {"value": 7, "editable": False}
    assert settings["auth_mode"] == {"value": "ldap_auth", "editable": False}
    assert settings["ldap_url"]["value"] == slapd.url and settings["ldap_scope"]["value"] == 2
    assert "ldap_search_password" not in settings  # never returned by the API
    status, body = api(h, "PUT", "/configurations", "admin", PASSWORD, {"read_only": True})
    assert status == 403 and body["errors"][0]["message"] == READ_ONLY
    # the admin password is the first start's; the changed variable is ignored, as in Harbor
    assert api(h, "GET", "/users/current", "admin", NEW_ADMIN_PASSWORD)[0] == 401
    logs = h.compose("logs", "core", check=False).stdout
    assert "Admin password from config (HARBOR_ADMIN_PASSWORD) ignored" in logs
    assert NEW_ADMIN_PASSWORD not in logs and SEARCH_PASSWORD not in logs

    # an LDAP user: wrong password refused, right one logs in, creates a project, pushes
    assert docker_login(h, LDAP_USER, "wrong").returncode != 0
    login = docker_login(h, LDAP_USER, LDAP_PASSWORD)
    assert login.returncode == 0, login.stderr + h.compose("logs", "--tail", "30", "core",
                                                          check=False).stdout
    status, me = api(h, "GET", "/users/current", LDAP_USER, LDAP_PASSWORD)
    assert status == 200 and me["username"] == LDAP_USER and me["sysadmin_flag"] is False
    assert api(h, "POST", "/projects", LDAP_USER, LDAP_PASSWORD,
               {"project_name": "alice-team"})[0] == 201
    push(h, "alice-team/hello:1")
    logs = h.compose("logs", "core", check=False).stdout
    assert f"authenticated by LDAP as uid={LDAP_USER},{PEOPLE}" in logs
    assert "appended /harbor_cust_cert/harbor-setupwrapper-trust.crt" in logs
    # slapd saw it: TLS (LDAPS only) and the bind as the user's entry
    assert "TLS established" in slapd.log()
    assert f'BIND dn="uid={LDAP_USER},{PEOPLE}" method=128' in slapd.log()
    # the user now exists: the auth mode could no longer change
    assert settings_of(h)["auth_mode"]["editable"] is False
    print(f"[e2e] settings phase 2 (LDAP variables, login, push): "
          f"{time.monotonic() - phase:.0f}s")

    # 3. a changed variable wins after up -d
    h.env["HARBOR_PROJECT_CREATION_RESTRICTION"] = "adminonly"
    phase = time.monotonic()
    h.compose("up", "-d", timeout=900)
    wait_for_core(h)
    settings = settings_of(h)
    assert settings["project_creation_restriction"]["value"] == "adminonly"
    assert settings["robot_token_duration"]["value"] == 7
    status, body = api(h, "POST", "/projects", LDAP_USER, LDAP_PASSWORD,
                       {"project_name": "alice-second"})
    assert status == 403, body
    assert api(h, "POST", "/projects", "admin", PASSWORD, {"project_name": "by-admin"})[0] == 201
    assert docker_login(h, LDAP_USER, LDAP_PASSWORD).returncode == 0
    push(h, "alice-team/hello:2")  # her own project still takes her pushes
    print(f"[e2e] settings phase 3 (changed variable): {time.monotonic() - phase:.0f}s; "
          f"all {time.monotonic() - started:.0f}s")
