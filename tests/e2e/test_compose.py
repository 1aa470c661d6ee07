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

import os
import shutil
import socket
import ssl
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest

from e2e_support import REPO, compose_binary, sh

pytestmark = pytest.mark.compose_e2e

PROJECT = "harbore2e"
HTTPS_PORT, HTTP_PORT = 28443, 28080
# arrives intact through the env file and the shim: spaces, quotes, #, $, backslash
PASSWORD = "p@ss w0rd #1 $HOME \\ \"q\" 'x'"
CERTS_D = Path("/etc/docker/certs.d")


class Harbor:
    def __init__(self, project: str, wrapper_image: str):
        self.project = project
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("HARBOR_")}
        self.env.update({
            "HARBOR_HOSTNAME": "127.0.0.2", "HARBOR_ADMIN_PASSWORD": PASSWORD,
            "HARBOR_HTTP_PORT": str(HTTP_PORT), "HARBOR_HTTPS_PORT": str(HTTPS_PORT),
            "HARBOR_IMAGE_PREFIX": "harbor-standin", "HARBOR_WRAPPER_IMAGE": wrapper_image,
        })

    def compose(self, *args: str, check: bool = True, timeout: float = 600):
        return sh(*compose_binary(), "-p", self.project, "-f",
                  str(REPO / "compose/docker-compose.yml"), *args, check=check, env=self.env,
                  timeout=timeout)

    @property
    def host(self) -> str:
        return f"{self.env['HARBOR_HOSTNAME']}:{HTTPS_PORT}"

    def volume_file(self, path: str) -> bytes:
        """A file of the harbor-setup volume, read through a throw-away container."""
        result = subprocess.run(
            ["docker", "run", "--rm", "-v", f"{self.project}_harbor-setup:/h:ro",
             "--entrypoint", "cat", "harbor-e2e-base:bookworm", f"/h/{path}"],
            capture_output=True, timeout=120)
        assert result.returncode == 0, result.stderr
        return result.stdout

    def keys(self) -> dict[str, bytes]:
        return {p: self.volume_file(p) for p in (
            "secret/keys/secretkey", "secret/core/private_key.pem", "secret/registry/root.crt",
            "config/registry/passwd", "secret/cert/ca.crt", "secret/cert/server.key")}

    def trust_ca(self) -> bytes:
        """As the README tells users: compose cp from the wrapper into certs.d."""
        folder = CERTS_D / self.host
        folder.mkdir(parents=True, exist_ok=True)
        self.compose("cp", "setupwrapper:/harbor-setup/secret/cert/ca.crt",
                     str(folder / "ca.crt"))
        ca = (folder / "ca.crt").read_bytes()
        assert ca == self.volume_file("secret/cert/ca.crt")
        return ca

    def login(self, timeout: float = 240) -> float:
        """Retries `docker login` until it works; returns the seconds it took."""
        started = time.monotonic()
        while True:
            result = sh("docker", "login", self.host, "-u", "admin", "--password-stdin",
                        check=False, input=PASSWORD, timeout=60)
            if result.returncode == 0:
                return time.monotonic() - started
            if time.monotonic() - started > timeout:
                logs = self.compose("logs", "--tail", "40", check=False).stdout
                raise AssertionError(f"docker login never worked: {result.stderr}\n{logs}")
            time.sleep(2)


def tls_verified(host: str, port: int, ca: bytes) -> bool:
    context = ssl.create_default_context(cadata=ca.decode())
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        with context.wrap_socket(raw, server_hostname=host) as tls:
            return tls.version() is not None


@pytest.fixture(scope="module")
def harbor(wrapper_image, standins):
    h = Harbor(PROJECT, wrapper_image)
    h.compose("down", "-v", "--remove-orphans", check=False)
    yield h
    h.compose("down", "-v", "--remove-orphans", check=False)
    for host in ("127.0.0.2", "127.0.0.3"):
        shutil.rmtree(CERTS_D / f"{host}:{HTTPS_PORT}", ignore_errors=True)


def push_and_pull(h: Harbor, tag: str) -> None:
    image = f"{h.host}/library/e2e:{tag}"
    with tempfile.TemporaryDirectory() as context:
        Path(context, "payload").write_bytes(os.urandom(3 * 1024 * 1024))
        Path(context, "Dockerfile").write_text("FROM scratch\nCOPY payload /payload\n")
        sh("docker", "build", "-q", "-t", image, context,
           env={**os.environ, "DOCKER_BUILDKIT": "0"})
    digest = sh("docker", "image", "inspect", "-f", "{{.Id}}", image).stdout.strip()
    sh("docker", "push", image, timeout=300)
    sh("docker", "rmi", image)
    sh("docker", "pull", image, timeout=300)
    assert sh("docker", "image", "inspect", "-f", "{{.Id}}", image).stdout.strip() == digest


def pull(h: Harbor, tag: str) -> None:
    image = f"{h.host}/library/e2e:{tag}"
    sh("docker", "rmi", "-f", image, check=False)
    sh("docker", "pull", image, timeout=300)


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


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def _other_ca() -> bytes:
    from wrapper import pki

    return pki.new_ca("not Harbor's CA", 1)[1]
