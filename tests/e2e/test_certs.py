"""Certificate lifecycle end to end (issue 8).

- expiry: the CLI under Debian's faketime (a clock 30 days ahead): a server certificate the
  wrapper made that expires in 10 days is re-issued by the next run with the same inputs, by
  the same CA (a TLS client that trusted the CA before still verifies it); `status` shows the
  dates before and after, and its exit code follows the window.
- your own certificate on compose: the README's commands (tests/e2e runs them as written, with
  the test's folders in place of /etc/harbor/tls and new/), a certificate from a test CA;
  TLS verified with that CA; renewed files + `up -d`: the new one is served by the same proxy
  container (nginx reloaded, nothing restarted), keys unchanged, the pushed image still there;
  an expired one is refused with the variable and the date and the previous one stays served.
- your own certificate on Swarm: Docker secrets with compose/docker-stack.certs.yml on a
  one-node swarm (the stack derived as in test_swarm.py: local volumes, dnsrr), renewed with
  new secret names and a second deploy.

Harbor's host name is this machine's address on Docker's default bridge (the wrapper refuses
loopback addresses): Docker then verifies the certificate for real, with the test CA in
/etc/docker/certs.d/<host>:<port>/ca.crt (removed at the end); Python's ssl module checks it too.
"""

from __future__ import annotations

import datetime
import json
import os
import re
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from compose_support import HTTPS_PORT, PASSWORD, Harbor, pull, push_and_pull, tls_verified
from e2e_support import REPO, sh
from swarm_support import (STACK_FILE, Stack, Swarm, create_secret, derive_stack,
                           remove_network, remove_secret, wait_for)

pytestmark = pytest.mark.certs_e2e

UTC = datetime.timezone.utc
DAY = datetime.timedelta(days=1)


def say(msg: str) -> None:
    print(f"[certs-e2e] {msg}", flush=True)


# --------------------------------------------------------------------------- helpers

class UserCA:
    """A CA of the user's (corporate, ACME, ...), made by the test."""

    def __init__(self, name: str = "certs e2e user CA"):
        self.key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        now = datetime.datetime.now(UTC)
        self.cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
                     .public_key(self.key.public_key()).serial_number(x509.random_serial_number())
                     .not_valid_before(now - DAY).not_valid_after(now + 400 * DAY)
                     .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
                     .sign(self.key, hashes.SHA256()))
        self.pem = self.cert.public_bytes(serialization.Encoding.PEM)

    def issue(self, host: str, start: datetime.datetime, end: datetime.datetime
              ) -> tuple[bytes, bytes, x509.Certificate]:
        """(chain PEM, key PEM, leaf): the leaf for host (an IP SAN) then this CA."""
        import ipaddress

        key = ec.generate_private_key(ec.SECP256R1())
        leaf = (x509.CertificateBuilder()
                .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)]))
                .issuer_name(self.cert.subject).public_key(key.public_key())
                .serial_number(x509.random_serial_number())
                .not_valid_before(start).not_valid_after(end)
                .add_extension(x509.SubjectAlternativeName(
                    [x509.IPAddress(ipaddress.ip_address(host))]), critical=False)
                .sign(self.key, hashes.SHA256()))
        chain = leaf.public_bytes(serialization.Encoding.PEM) + self.pem
        key_pem = key.private_bytes(serialization.Encoding.PEM,
                                    serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption())
        return chain, key_pem, leaf

    def write(self, folder: Path, host: str, days: float = 90, start_days: float = -1
              ) -> x509.Certificate:
        now = datetime.datetime.now(UTC)
        chain, key, leaf = self.issue(host, now + start_days * DAY, now + days * DAY)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "tls.crt").write_bytes(chain)
        (folder / "tls.key").write_bytes(key)
        return leaf


def served(port: int, host: str) -> x509.Certificate:
    """The certificate the server on 127.0.0.1:port presents for host (not verified)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        with context.wrap_socket(raw, server_hostname=host) as tls:
            return x509.load_der_x509_certificate(tls.getpeercert(binary_form=True))


def readme_block(name: str, replace: dict[str, str] | None = None) -> str:
    """A `<!-- certs:NAME -->` sh block of the README, with the test's paths substituted."""
    text = (REPO / "README.md").read_text()
    block = re.search(rf"<!-- certs:{name} -->\n```sh\n(.*?)```", text, re.S).group(1)
    for old, new in (replace or {}).items():
        block = block.replace(old, new)
    return block


def run_block(block: str, env: dict, cwd: Path = REPO, check: bool = True, timeout: float = 900
              ) -> subprocess.CompletedProcess:
    say("$ " + block.strip().replace("\n", "\n[certs-e2e] $ "))
    result = subprocess.run(["sh", "-ec", block], cwd=cwd, env=env, capture_output=True,
                            text=True, timeout=timeout)
    if check and result.returncode != 0:
        raise AssertionError(f"README block failed ({result.returncode}):\n{block}\n"
                             f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return result


def wrapper(*args: str, env: dict, fake: str | None = None) -> subprocess.CompletedProcess:
    """The CLI on this host, optionally under faketime (e.g. fake='+30d')."""
    faketime = shutil.which("faketime")
    if fake:
        assert faketime, "faketime is missing (tests/run.sh installs Debian's faketime)"
    cmd = ([faketime, "-f", fake] if fake else []) + [sys.executable, "-m", "wrapper", *args]
    clean = {k: v for k, v in os.environ.items() if not k.startswith("HARBOR_")}
    return subprocess.run(cmd, cwd=REPO, env={**clean, **env}, capture_output=True, text=True,
                          timeout=300)


# --------------------------------------------------------------------------- expiry

_HANDSHAKE = """
import socket, ssl, sys, threading
chain, key, ca = sys.argv[1:4]
server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
server.load_cert_chain(chain, key)
listener = socket.create_server(("127.0.0.1", 0))
port = listener.getsockname()[1]
def serve():
    conn, _ = listener.accept()
    try:
        with server.wrap_socket(conn, server_side=True) as tls:
            tls.recv(1)
    except OSError:
        pass
threading.Thread(target=serve, daemon=True).start()
client = ssl.create_default_context(cafile=ca)
with socket.create_connection(("127.0.0.1", port)) as raw:
    with client.wrap_socket(raw, server_hostname=sys.argv[4]) as tls:
        print("verified", tls.version())
"""


def test_self_made_server_certificate_is_reissued_before_it_expires(tmp_path):
    out = tmp_path / "out"
    env = {"HARBOR_HOSTNAME": "harbor.example.test", "HARBOR_HTTPS_CERT_VALIDITY_DAYS": "40"}
    assert wrapper("generate", "--out", str(out), env=env).returncode == 0
    old_ca = tmp_path / "trusted-ca.crt"   # what a client trusted before
    shutil.copy(out / "secret/cert/ca.crt", old_ca)
    old = x509.load_pem_x509_certificates((out / "secret/cert/server.crt").read_bytes())[0]
    old_key = (out / "secret/cert/server.key").read_bytes()
    old_end = old.not_valid_after_utc.strftime("%Y-%m-%dT%H:%M:%SZ")

    today = wrapper("status", "--out", str(out), env=env)
    assert today.returncode == 0, today.stdout
    # 30 days later: 10 days left, inside the 30-day window
    later = wrapper("status", "--out", str(out), env=env, fake="+30d")
    assert later.returncode == 1, later.stdout
    assert f"to {old_end} (9 days left)" in later.stdout or f"to {old_end} (10 days left)" \
        in later.stdout, later.stdout
    assert "https server (made by the wrapper): EXPIRING" in later.stdout

    started = time.monotonic()
    run = wrapper("generate", "--out", str(out), env=env, fake="+30d")  # same inputs
    say(f"re-issue run under faketime +30d: {time.monotonic() - started:.2f}s")
    assert run.returncode == 0, run.stderr
    assert "unchanged" not in run.stderr and "warning" not in run.stderr, run.stderr
    new = x509.load_pem_x509_certificates((out / "secret/cert/server.crt").read_bytes())[0]
    new_end = new.not_valid_after_utc.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert new.not_valid_after_utc - old.not_valid_after_utc > 29 * DAY
    assert new.subject == old.subject and (out / "secret/cert/server.key").read_bytes() == old_key
    assert (out / "secret/cert/ca.crt").read_bytes() == old_ca.read_bytes()

    # a client that trusted the CA before verifies the new certificate (at the fake date)
    handshake = subprocess.run(
        [shutil.which("faketime"), "-f", "+30d", sys.executable, "-c", _HANDSHAKE,
         str(out / "secret/cert/server.crt"), str(out / "secret/cert/server.key"), str(old_ca),
         "harbor.example.test"], capture_output=True, text=True, timeout=60)
    assert handshake.returncode == 0 and "verified" in handshake.stdout, handshake.stderr

    after = wrapper("status", "--out", str(out), "--json", env=env, fake="+30d")
    assert after.returncode == 0, after.stdout
    server = [c for c in json.loads(after.stdout)["certificates"] if c["role"] == "https server"]
    assert server[0]["not_after"] == new_end != old_end
    say(f"server certificate: {old_end} before, {new_end} after the re-issue")
    # the next run at that date: nothing to do
    again = wrapper("generate", "--out", str(out), env=env, fake="+30d")
    assert "unchanged" in again.stderr
    # past the new end: CRITICAL
    assert wrapper("status", "--out", str(out), env=env, fake="+72d").returncode == 2


# --------------------------------------------------------------------------- compose

COMPOSE_PROJECT = "harborcertse2e"
CERTS_D = Path("/etc/docker/certs.d")


def host_address() -> str:
    """An address of this machine that is not loopback: the default bridge's gateway."""
    import ipaddress

    subnet = sh("docker", "network", "inspect", "bridge", "-f",
                "{{(index .IPAM.Config 0).Subnet}}").stdout.strip()
    address = str(ipaddress.ip_network(subnet)[1])  # Docker gives the bridge the first one
    assert sh("ip", "-4", "-o", "addr", "show", "to", address).stdout.strip(), \
        f"{address} is not an address of this machine"
    return address


def trust(address: str, ca: bytes) -> Path:
    folder = CERTS_D / address
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "ca.crt").write_bytes(ca)
    return folder
KEYS = ("secret/keys/secretkey", "secret/core/private_key.pem", "secret/registry/root.crt",
        "config/registry/passwd")


def started_at(project: str) -> dict[str, str]:
    """When each running service started (the one-shot setupwrapper and init-data, which
    compose runs on every `up`, have exited)."""
    names = sh("docker", "ps", "--filter", f"label=com.docker.compose.project={project}",
               "--filter", "status=running", "--format", "{{.Names}}").stdout.split()
    return {n: sh("docker", "inspect", "-f", "{{.State.StartedAt}}", n).stdout.strip()
            for n in names}


@pytest.fixture
def compose_harbor(wrapper_image, standins, tmp_path):
    h = Harbor(COMPOSE_PROJECT, wrapper_image,
               files=("compose/docker-compose.yml", "compose/docker-compose.certs.yml"))
    h.env["COMPOSE_PROJECT_NAME"] = COMPOSE_PROJECT  # the README's commands name no project
    h.env["HARBOR_HOSTNAME"] = host_address()
    h.env["HARBOR_SETUP_CERT_DIR"] = str(tmp_path / "tls")
    (tmp_path / "tls").mkdir()
    h.compose("down", "-v", "--remove-orphans", check=False)
    try:
        yield h
    finally:
        h.compose("down", "-v", "--remove-orphans", check=False)
        sh("docker", "logout", h.host, check=False)
        sh("docker", "rmi", "-f", f"{h.host}/library/e2e:1", check=False)
        shutil.rmtree(CERTS_D / h.host, ignore_errors=True)


def test_own_certificate_on_compose(compose_harbor, tmp_path):
    h = compose_harbor
    host = h.env["HARBOR_HOSTNAME"]
    ca = UserCA()
    trust(h.host, ca.pem)
    folder = tmp_path / "tls"
    first = ca.write(folder, host)
    paths = {"/etc/harbor/tls": str(folder), "new/": f"{tmp_path / 'new'}/"}

    started = time.monotonic()
    run_block(readme_block("compose-up", paths), h.env)
    h.login()
    say(f"up with the user's certificate to the first login: {time.monotonic() - started:.1f}s")
    assert served(HTTPS_PORT, host) == first
    assert tls_verified(host, HTTPS_PORT, ca.pem)
    push_and_pull(h, "1")
    keys = {p: h.volume_file(p) for p in KEYS}
    before = started_at(COMPOSE_PROJECT)
    assert any("proxy" in name for name in before)

    # renewal: new files in place, the same `up -d`
    second = ca.write(tmp_path / "new", host, days=120)
    started = time.monotonic()
    run_block(readme_block("compose-renew", paths), h.env)
    wait_for("the proxy serves the renewed certificate",
             lambda: served(HTTPS_PORT, host) == second, timeout=60)
    say(f"renewal: from `up -d` to the new certificate served: "
        f"{time.monotonic() - started:.1f}s")
    assert tls_verified(host, HTTPS_PORT, ca.pem)
    assert {p: h.volume_file(p) for p in KEYS} == keys
    assert started_at(COMPOSE_PROJECT) == before  # nothing restarted, the proxy reloaded
    logs = h.compose("logs", "proxy").stdout
    assert "new configuration published: reloading nginx" in logs
    h.login()
    pull(h, "1")  # the registry's data is intact

    # status, as the README runs it
    status = run_block(readme_block("status"), h.env)
    fingerprint = ":".join(f"{b:02X}" for b in second.fingerprint(hashes.SHA256()))
    assert "status:        OK (exit 0)" in status.stdout
    assert f"SHA-256:     {fingerprint}" in status.stdout
    assert "https server (from HARBOR_HTTPS_CERTIFICATE): OK" in status.stdout
    # and on the volume mounted read-only, as a monitoring job does
    status = run_block(readme_block("status-volume", {
        "harbor_harbor-setup": f"{COMPOSE_PROJECT}_harbor-setup",
        "harbor-setupwrapper:0.1.0": h.env["HARBOR_WRAPPER_IMAGE"]}), h.env)
    report = json.loads(status.stdout)
    assert report["code"] == 0 and report["certificates"][0]["sha256"] == fingerprint

    # an expired certificate is refused; the previous one stays served
    now = datetime.datetime.now(UTC)
    chain, key, _ = ca.issue(host, now - 40 * DAY, now - 2 * DAY)
    (folder / "tls.crt").write_bytes(chain)
    (folder / "tls.key").write_bytes(key)
    refused = run_block(readme_block("compose-up", paths), h.env, check=False)
    assert refused.returncode != 0
    logs = h.compose("logs", "setupwrapper").stdout
    expected = (f"HARBOR_HTTPS_CERTIFICATE: the certificate (CN={host}) expired on "
                f"{now - 2 * DAY:%Y-%m-%d}")
    assert expected in logs, logs[-3000:]
    assert served(HTTPS_PORT, host) == second


# --------------------------------------------------------------------------- swarm

STACK = "harborcertse2e"
SWARM_PORT = 28463
CERT_SECRETS = ("harbor_https_certificate_1", "harbor_https_private_key_1",
                "harbor_https_certificate_2", "harbor_https_private_key_2")
PASSWORD_SECRETS = ("harbor_admin_password", "harbor_database_password")


@pytest.fixture
def swarm_stack(wrapper_image, standins, tmp_path):
    swarm = Swarm()
    stack = None
    for name in CERT_SECRETS:
        assert sh("docker", "secret", "inspect", name, check=False).returncode != 0, \
            f"a Docker secret {name} exists already; the test will not touch it"
    try:
        swarm.ensure()
        base = tmp_path / "docker-stack.yml"
        base.write_text(yaml.safe_dump(derive_stack(STACK_FILE.read_text()), sort_keys=False))
        env = {k: v for k, v in os.environ.items() if not k.startswith("HARBOR_")}
        env.update({
            "HARBOR_HOSTNAME": host_address(), "HARBOR_HTTPS_PORT": str(SWARM_PORT),
            "HARBOR_IMAGE_PREFIX": "harbor-standin", "HARBOR_WRAPPER_IMAGE": wrapper_image,
            "HARBOR_NETWORK_NAME": STACK,
            "HARBOR_DATA_NODE_CONSTRAINT": "node.role == manager",
        })
        stack = Stack(STACK, base, env)
        if STACK in sh("docker", "stack", "ls", "--format", "{{.Name}}").stdout.split():
            stack.remove()
        remove_network(STACK)
        create_secret("harbor_admin_password", PASSWORD)
        create_secret("harbor_database_password", os.urandom(12).hex())
        yield stack
    finally:
        problems = []
        address = f"{host_address()}:{SWARM_PORT}"
        sh("docker", "logout", address, check=False)
        sh("docker", "rmi", "-f", f"{address}/library/e2e:1", check=False)
        shutil.rmtree(CERTS_D / address, ignore_errors=True)
        if stack is not None:
            problems += stack.remove()
        problems += remove_network(STACK)
        for name in PASSWORD_SECRETS:
            problems += remove_secret(name)
        for name in CERT_SECRETS:  # made by the README's commands, without the test's label
            sh("docker", "secret", "rm", name, check=False)
        swarm.leave()
        if problems:
            raise AssertionError("cleanup incomplete:\n" + "\n".join(problems))


def test_own_certificate_on_swarm_from_docker_secrets(swarm_stack, tmp_path):
    stack = swarm_stack
    host = stack.env["HARBOR_HOSTNAME"]
    ca = UserCA()
    trust(f"{host}:{SWARM_PORT}", ca.pem)
    folder = tmp_path / "files"
    first = ca.write(folder, host)
    # the README's commands with the derived stack file, this stack's name, and
    # --resolve-image never (no registry here to ask for digests)
    paths = {"-c compose/docker-stack.yml": f"-c {stack.file}",
             "compose/docker-stack.certs.yml": str(REPO / "compose/docker-stack.certs.yml"),
             "docker stack deploy": "docker stack deploy --resolve-image never",
             " harbor\n": f" {STACK}\n"}
    started = time.monotonic()
    run_block(readme_block("swarm-up", paths), stack.env, cwd=folder, timeout=600)
    address = f"{host}:{SWARM_PORT}"

    def login():
        return sh("docker", "login", address, "-u", "admin", "--password-stdin", check=False,
                  input=PASSWORD, timeout=60).returncode == 0
    wait_for("docker login through the proxy's own TLS", login, timeout=300,
             diagnose=lambda: stack.diagnostics(["setupwrapper", "proxy", "core"]), interval=2)
    say(f"stack deploy with the certificate secrets to the first login: "
        f"{time.monotonic() - started:.1f}s")
    assert served(SWARM_PORT, host) == first
    assert tls_verified(host, SWARM_PORT, ca.pem)
    with tempfile.TemporaryDirectory() as context:
        Path(context, "payload").write_bytes(os.urandom(1024 * 1024))
        Path(context, "Dockerfile").write_text("FROM scratch\nCOPY payload /payload\n")
        sh("docker", "build", "-q", "-t", f"{address}/library/e2e:1", context,
           env={**os.environ, "DOCKER_BUILDKIT": "0"})
    sh("docker", "push", f"{address}/library/e2e:1", timeout=300)
    proxy = stack.running("proxy")[0]
    keys = {p: Stack.read(stack.container(proxy), f"/harbor-setup/{p}")
            for p in ("secret/registry/root.crt", "config/registry/passwd")}

    # renewal: new secrets, deploy again with their names, remove the old ones
    second = ca.write(folder, host, days=120)
    started = time.monotonic()
    run_block(readme_block("swarm-renew", paths), stack.env, cwd=folder, timeout=600)
    wait_for("the proxy serves the renewed certificate",
             lambda: served(SWARM_PORT, host) == second, timeout=120,
             diagnose=lambda: stack.diagnostics(["setupwrapper", "proxy"]))
    say(f"renewal: from the second deploy to the new certificate served: "
        f"{time.monotonic() - started:.1f}s")
    assert tls_verified(host, SWARM_PORT, ca.pem)
    same_proxy = stack.running("proxy")[0]
    assert stack.container(same_proxy) == stack.container(proxy)  # reloaded, not replaced
    assert {p: Stack.read(stack.container(same_proxy), f"/harbor-setup/{p}") for p in keys} \
        == keys
    for name in CERT_SECRETS[:2]:
        assert sh("docker", "secret", "inspect", name, check=False).returncode != 0
    sh("docker", "rmi", "-f", f"{address}/library/e2e:1")
    assert login()
    sh("docker", "pull", f"{address}/library/e2e:1", timeout=300)  # data intact
