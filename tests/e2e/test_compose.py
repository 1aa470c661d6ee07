"""Harbor up with `docker compose up` and variables only, end to end.

The Harbor images cannot be pulled here: the stand-ins of tests/e2e/images keep their
contract (entrypoint, user, config paths, ports), with the real nginx, distribution
registry, PostgreSQL, Redis and rsyslog, and contract doubles for core, jobservice and
registryctl. The wrapper image is built from the repo's Dockerfile.

The host name is 127.0.0.2: a loopback address other than 127.0.0.1 (which Harbor refuses).
Docker treats 127.0.0.0/8 registries as insecure and would skip certificate checks, so the
TLS trust of the generated CA is checked separately with Python's ssl module.
"""

from __future__ import annotations

import shutil
import ssl
import time
import urllib.request

import pytest

from compose_support import (CERTS_D, HTTP_PORT, HTTPS_PORT, Harbor, pull, push_and_pull,
                             tls_verified)
from e2e_support import sh

pytestmark = pytest.mark.compose_e2e

PROJECT = "harbore2e"
# each data volume as upstream's installer leaves it (make/photon/prepare/utils/*.py)
DATA_VOLUMES = {"registry": "10000:10000 0755", "job-logs": "10000:10000 0755",
                "trivy-cache": "10000:10000 0755", "trivy-reports": "10000:10000 0755",
                "database": "999:999 0700", "redis": "999:999 0755"}


@pytest.fixture(scope="module")
def harbor(wrapper_image, standins):
    h = Harbor(PROJECT, wrapper_image)
    h.compose("down", "-v", "--remove-orphans", check=False)
    yield h
    h.compose("down", "-v", "--remove-orphans", check=False)
    for host in ("127.0.0.2", "127.0.0.3"):
        shutil.rmtree(CERTS_D / f"{host}:{HTTPS_PORT}", ignore_errors=True)


def test_compose_lifecycle(harbor):
    h = harbor
    started = time.monotonic()
    h.compose("up", "-d", timeout=900)
    ca = h.trust_ca()
    first_login = h.login()
    print(f"\n[e2e] from `docker compose up` to the first successful login: "
          f"{time.monotonic() - started:.1f}s (login retried for {first_login:.1f}s)")

    # the generated CA really verifies the server, and the download button serves it
    assert tls_verified("127.0.0.2", HTTPS_PORT, ca)
    with pytest.raises(ssl.SSLCertVerificationError):
        tls_verified("127.0.0.2", HTTPS_PORT, _other_ca())
    context = ssl.create_default_context(cadata=ca.decode())
    with urllib.request.urlopen(f"https://127.0.0.2:{HTTPS_PORT}/api/v2.0/systeminfo/getcert",
                                context=context, timeout=10) as answer:
        assert answer.read() == ca
    # http redirects to https on the published port
    request = urllib.request.Request(f"http://127.0.0.2:{HTTP_PORT}/v2/")
    with pytest.raises(urllib.error.HTTPError) as redirect:
        urllib.request.build_opener(_NoRedirect).open(request, timeout=10)
    assert redirect.value.code == 308
    assert redirect.value.headers["Location"] == f"https://127.0.0.2:{HTTPS_PORT}/v2/"

    push_and_pull(h, "1")
    keys = h.keys()
    # each data volume belongs to its image's user, writable by nobody else
    assert h.data_volumes(DATA_VOLUMES) == DATA_VOLUMES

    h.compose("restart", timeout=600)
    h.login()
    pull(h, "1")
    assert h.keys() == keys

    h.compose("down", timeout=600)
    h.compose("up", "-d", timeout=900)
    h.login()
    pull(h, "1")
    assert h.keys() == keys

    # a new host name: configs follow, keys stay, the certificate names the new host
    h.env["HARBOR_HOSTNAME"] = "127.0.0.3"
    h.compose("up", "-d", timeout=900)
    core_env = h.volume_file("config/core/env").decode()
    assert f"EXT_ENDPOINT=https://127.0.0.3:{HTTPS_PORT}" in core_env
    ca_again = h.trust_ca()
    assert ca_again == ca
    h.login()
    pull(h, "1")
    new_keys = h.keys()
    assert {k: v for k, v in new_keys.items()} == keys  # server.key and CA included
    assert tls_verified("127.0.0.3", HTTPS_PORT, ca)


def test_bad_variable_stops_everything_with_a_message(wrapper_image, standins):
    h = Harbor(PROJECT + "bad", wrapper_image)
    h.env["HARBOR_LOG_LEVEL"] = "loud"
    h.compose("down", "-v", check=False)
    try:
        result = h.compose("up", "-d", check=False, timeout=600)
        assert result.returncode != 0
        logs = h.compose("logs", "setupwrapper").stdout
        assert "HARBOR_LOG_LEVEL" in logs and "accepted: one of debug" in logs
        states = sh("docker", "ps", "-a", "--filter", f"label=com.docker.compose.project={h.project}",
                    "--format", "{{.Label \"com.docker.compose.service\"}} {{.State}}").stdout
        running = [line for line in states.splitlines() if line.split()[1] == "running"]
        assert running == [], states
        exited = dict(line.split() for line in states.splitlines())
        assert exited["setupwrapper"] == "exited"
    finally:
        h.compose("down", "-v", check=False)


def test_internal_tls_files_where_the_images_health_checks_read_them(wrapper_image, standins):
    """The jobservice and registryctl images' health checks present /etc/harbor/ssl/*: the
    files are there and readable by the image's user (uid 10000). The whole stack with
    internal TLS, healthy by those checks, is proven by the stand-ins' tests."""
    h = Harbor(PROJECT + "tls", wrapper_image)
    h.env["HARBOR_INTERNAL_TLS_ENABLED"] = "true"
    h.compose("down", "-v", check=False)
    try:
        h.compose("up", "-d", "--no-deps", "setupwrapper")
        h.compose("wait", "setupwrapper", timeout=300)  # its exit code: 0
        for service, stem in (("jobservice", "job_service"), ("registryctl", "registryctl")):
            files = [f"/etc/harbor/ssl/{stem}.{ext}" for ext in ("crt", "key")]
            result = h.compose("run", "--rm", "--no-deps", "--entrypoint", "/bin/sh", service,
                               "-c", 'id -u; for f in "$@"; do head -c 11 "$f"; echo; done',
                               "sh", *files)
            uid, *heads = result.stdout.split()
            assert uid == "10000", service
            assert heads == ["-----BEGIN", "-----BEGIN"], (service, result.stdout)
    finally:
        h.compose("down", "-v", check=False)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def _other_ca() -> bytes:
    from wrapper import pki

    return pki.new_ca("not Harbor's CA", 1)[1]
