"""Helpers for the compose end-to-end tests: a Harbor project driven by docker compose."""

from __future__ import annotations

import os
import socket
import ssl
import subprocess
import tempfile
import time
from pathlib import Path

from e2e_support import REPO, compose_binary, sh

# the host ports of the compose lane's projects (tests/e2e/lanes.py); a test in another lane
# publishes on ports of its own
HTTPS_PORT, HTTP_PORT = 28443, 28080
# arrives intact through the env file and the shim: spaces, quotes, #, $, backslash
PASSWORD = "p@ss w0rd #1 $HOME \\ \"q\" 'x'"
CERTS_D = Path("/etc/docker/certs.d")


class Harbor:
    def __init__(self, project: str, wrapper_image: str,
                 files: tuple[str, ...] = ("compose/docker-compose.yml",),
                 ports: tuple[int, int] = (HTTP_PORT, HTTPS_PORT)):
        self.project = project
        self.files = files
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("HARBOR_")}
        self.env.update({
            "HARBOR_HOSTNAME": "127.0.0.2", "HARBOR_ADMIN_PASSWORD": PASSWORD,
            "HARBOR_HTTP_PORT": str(ports[0]), "HARBOR_HTTPS_PORT": str(ports[1]),
            "HARBOR_IMAGE_PREFIX": "harbor-standin", "HARBOR_WRAPPER_IMAGE": wrapper_image,
        })

    def compose(self, *args: str, check: bool = True, timeout: float = 600):
        files = [arg for name in self.files for arg in ("-f", str(REPO / name))]
        return sh(*compose_binary(), "-p", self.project, *files, *args, check=check,
                  env=self.env, timeout=timeout)

    @property
    def host(self) -> str:
        return f"{self.env['HARBOR_HOSTNAME']}:{self.env['HARBOR_HTTPS_PORT']}"

    def volume_file(self, path: str) -> bytes:
        """A file of the harbor-setup volume, read through a throw-away container."""
        result = subprocess.run(
            ["docker", "run", "--rm", "-v", f"{self.project}_harbor-setup:/h:ro",
             "--entrypoint", "cat", "harbor-e2e-base:bookworm", f"/h/{path}"],
            capture_output=True, timeout=120)
        assert result.returncode == 0, result.stderr
        return result.stdout

    def data_volumes(self, names) -> dict[str, str]:
        """volume -> "uid:gid mode" of its top folder, read through a throw-away container."""
        names = sorted(names)
        mounts = [arg for name in names for arg in ("-v", f"{self.project}_{name}:/v/{name}:ro")]
        result = subprocess.run(
            ["docker", "run", "--rm", *mounts, "--entrypoint", "stat", "harbor-e2e-base:bookworm",
             "-c", "%u:%g %04a", *(f"/v/{name}" for name in names)],
            capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stderr
        return dict(zip(names, result.stdout.split("\n")))

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
            time.sleep(0.5)


def tls_verified(host: str, port: int, ca: bytes) -> bool:
    context = ssl.create_default_context(cadata=ca.decode())
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        with context.wrap_socket(raw, server_hostname=host) as tls:
            return tls.version() is not None


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
