"""pebble, the ACME test server of the Let's Encrypt project (Debian's package `pebble`,
installed by tests/run.sh), as a fixture for the ACME end-to-end tests.

    with Pebble(tmp_path, http_port=28080) as pebble:
        pebble.directory      # https://127.0.0.1:<free port>/dir
        pebble.ca_file        # the CA of pebble's own listener (HARBOR_ACME_CA_FILE)
        pebble.root()         # the root pebble issues certificates under (clients trust it)

pebble runs on this host's loopback by default. `container=NETWORK` runs the same binary in a
container of the offline base image instead, on that Docker network under the alias `pebble`
(directory https://pebble:14000/dir), for clients in containers (Traefik on Swarm); on this
host it takes free ports, so that several can run at once.
Its validation authority connects to the name or IP address of each order on `http_port`
(HTTP-01) and `tls_port` (TLS-ALPN-01): the ports where the ACME client answers.
`validity` (seconds) shortens the certificates it issues, to force renewals; `env` passes
pebble's switches (PEBBLE_VA_ALWAYS_VALID, PEBBLE_WFE_NONCEREJECT, ...).
"""

from __future__ import annotations

import datetime
import ipaddress
import json
import os
import shutil
import socket
import ssl
import subprocess
import time
import urllib.request
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

BASE_IMAGE = "harbor-e2e-base:bookworm"


def binary() -> str:
    found = shutil.which("pebble") or ("/usr/bin/pebble" if os.path.exists("/usr/bin/pebble")
                                       else None)
    assert found, "pebble is missing (tests/run.sh installs Debian's package pebble)"
    return found


def _listener_pki(folder: Path, names: list[str]) -> Path:
    """A CA of its own and a certificate for pebble's listener (pebble ships none in Debian)."""
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "pebble listener test CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now - datetime.timedelta(hours=1))
          .not_valid_after(now + datetime.timedelta(days=30))
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    sans = []
    for name in names:
        try:
            sans.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            sans.append(x509.DNSName(name))
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
            .issuer_name(ca_name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(days=30))
            .add_extension(x509.SubjectAlternativeName(sans), critical=False)
            .sign(ca_key, hashes.SHA256()))
    pem = serialization.Encoding.PEM
    (folder / "listener.crt").write_bytes(cert.public_bytes(pem))
    (folder / "listener.key").write_bytes(key.private_bytes(
        pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    (folder / "listener-ca.crt").write_bytes(ca.public_bytes(pem))
    for name in ("listener.crt", "listener.key", "listener-ca.crt"):
        os.chmod(folder / name, 0o644)  # read by pebble in a container too
    return folder / "listener-ca.crt"


class Pebble:
    def __init__(self, workdir: Path, http_port: int = 5002, tls_port: int = 5001,
                 port: int = 0, management_port: int = 0, validity: int | None = None,
                 env: dict[str, str] | None = None, container: str | None = None,
                 name: str = "pebble-e2e", listen: str = "127.0.0.1"):
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        os.chmod(self.workdir, 0o755)
        self.http_port, self.tls_port = http_port, tls_port
        # 0: a free port of this host (pebble on loopback), 14000/15000 in a container
        self.port = port or (14000 if container else free_port(listen))
        self.management_port = management_port or (15000 if container else free_port(listen))
        self.validity, self.env = validity, dict(env or {})
        self.network, self.name = container, name
        # on this host: `listen`, loopback by default; another address of this host (e.g. a
        # Docker bridge's gateway) lets containers reach it
        self.listen = listen
        self.host = "pebble" if container else listen
        self.process: subprocess.Popen | None = None
        self.ca_file = _listener_pki(self.workdir, list(dict.fromkeys(
            ["pebble", "localhost", "127.0.0.1", listen])))
        self._published_management: int | None = None

    # --- where clients find it ------------------------------------------------------------

    @property
    def directory(self) -> str:
        return f"https://{self.host}:{self.port}/dir"

    def _management(self) -> str:
        port = self._published_management or self.management_port
        return f"https://{'127.0.0.1' if self.network else self.listen}:{port}"

    def _get(self, path: str) -> bytes:
        context = ssl.create_default_context(cafile=str(self.ca_file))
        with urllib.request.urlopen(self._management() + path, context=context,
                                    timeout=10) as answer:
            return answer.read()

    def root(self) -> bytes:
        """The root pebble made at its start: what a client must trust (docker: certs.d)."""
        return self._get("/roots/0")

    def intermediate(self) -> bytes:
        return self._get("/intermediates/0")

    # --- start and stop ---------------------------------------------------------------------

    def _config(self, inside: str) -> Path:
        config = {"pebble": {
            "listenAddress": f"{'0.0.0.0' if self.network else self.listen}:{self.port}",
            "managementListenAddress":
                f"{'0.0.0.0' if self.network else self.listen}:{self.management_port}",
            "certificate": f"{inside}/listener.crt", "privateKey": f"{inside}/listener.key",
            "httpPort": self.http_port, "tlsPort": self.tls_port,
            "ocspResponderURL": "", "externalAccountBindingRequired": False}}
        if self.validity is not None:
            config["pebble"]["certificateValidityPeriod"] = self.validity
        path = self.workdir / "pebble-config.json"
        path.write_text(json.dumps(config, indent=2))
        os.chmod(path, 0o644)
        return path

    def start(self) -> "Pebble":
        env = {"PEBBLE_VA_NOSLEEP": "1", **self.env}
        if self.network:
            self._config("/pebble")
            subprocess.run(["docker", "rm", "-f", self.name], capture_output=True)
            run = ["docker", "run", "-d", "--name", self.name, "--network", self.network,
                   "--network-alias", "pebble", "-p", f"127.0.0.1::{self.management_port}",
                   "-v", f"{binary()}:/usr/local/bin/pebble:ro",
                   "-v", f"{self.workdir}:/pebble:ro", "--entrypoint", "/usr/local/bin/pebble"]
            for k, v in env.items():
                run += ["-e", f"{k}={v}"]
            result = subprocess.run(run + [BASE_IMAGE, "-config", "/pebble/pebble-config.json"],
                                    capture_output=True, text=True, timeout=120)
            assert result.returncode == 0, result.stderr
            port = subprocess.run(["docker", "port", self.name, str(self.management_port)],
                                  capture_output=True, text=True, check=True).stdout
            self._published_management = int(port.split()[0].rsplit(":", 1)[1])
        else:
            config = self._config(str(self.workdir))
            self.log = open(self.workdir / "pebble.log", "wb")
            self.process = subprocess.Popen([binary(), "-config", str(config)],
                                            env={**os.environ, **env}, stdout=self.log,
                                            stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while True:
            try:
                self.root()
                return self
            except (OSError, ssl.SSLError) as err:
                if time.monotonic() > deadline:
                    raise AssertionError(f"pebble did not start: {err}\n{self.logs()}")
                if self.process is not None and self.process.poll() is not None:
                    raise AssertionError(f"pebble exited: {self.logs()}")
                time.sleep(0.2)

    def logs(self) -> str:
        if self.network:
            result = subprocess.run(["docker", "logs", self.name], capture_output=True,
                                    text=True)
            return result.stdout + result.stderr
        try:
            return (self.workdir / "pebble.log").read_text(errors="replace")
        except OSError:
            return ""

    def stop(self) -> None:
        if self.network:
            subprocess.run(["docker", "rm", "-f", self.name], capture_output=True)
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
            self.process = None
            self.log.close()

    def __enter__(self) -> "Pebble":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]
