"""Harbor on Swarm behind the stack's Traefik with an ACME certificate resolver
(compose/docker-stack.traefik-acme.yml), against pebble, end to end (issue 14).

The stack and the ACME overlay are deployed as written, with this machine's changes of
swarm_support.derive_stack (local volumes, dnsrr, Traefik's port in host mode). Traefik is the
real Traefik v3 binary (harbor-standin/traefik). The ACME server is pebble (pebble_support),
run by the test on the address of the swarm's docker_gwbridge, where Traefik's container
reaches this machine; its HTTPS is signed by a CA of the test's, handed to Traefik with
HARBOR_ACME_CA_FILE. pebble validates for real: it resolves Harbor's name through /etc/hosts
(the test adds one line, 127.0.0.5, and takes it out again) and makes the TLS-ALPN-01
connection to Traefik's published port. Proven: the certificate Traefik serves is pebble's
(verified with pebble's root, for Harbor's name), docker login, push and pull through Traefik;
then Traefik's own renewal: pebble issues certificates valid for VALIDITY seconds and the test
gives Traefik `certificatesDuration=1` (hours; its renew period is then 20 minutes, checked
every minute), so the first check renews; the new certificate is served by the same Traefik
task, no restart, and login goes on.
Docker treats a registry name that resolves into 127.0.0.0/8 as insecure and skips the
certificate check, so trust is checked with Python's ssl module.
"""

from __future__ import annotations

import os
import shutil
import ssl
import tempfile
import time
from pathlib import Path

import pytest
import yaml

from e2e_support import sh
from pebble_support import Pebble
from swarm_support import (STACK_FILE, TRAEFIK_ACME_FILE, Stack, Swarm, build_image,
                           create_secret, derive_stack, free_port, pull, remove_network,
                           remove_secret, served_certificate, wait_for)

pytestmark = [pytest.mark.acme_e2e, pytest.mark.swarm_acme_e2e]

STACK = "harborswarmacme"
NETWORK = "harborswarmacme"
NAME = "harbor-acme-e2e.test"
ADDRESS = "127.0.0.5"
HOSTS_LINE = f"{ADDRESS} {NAME}  # harbor-setupwrapper swarm ACME e2e\n"
PASSWORD = "acme p@ss 'x'"
SECRETS = ("harbor_admin_password", "harbor_database_password")
VALIDITY = 600  # seconds: under Traefik's 20-minute renew period for certificatesDuration=1
SERVICES = ("registry", "registryctl", "postgresql", "redis", "core", "portal", "jobservice",
            "proxy", "traefik")


def say(msg: str) -> None:
    print(f"[swarm-acme] {msg}", flush=True)


def hosts_add() -> None:
    with open("/etc/hosts", "a") as hosts:
        hosts.write(HOSTS_LINE)


def hosts_remove() -> None:
    """Rewritten beside and renamed over: the other lanes' processes resolve names meanwhile
    and never see a half-written /etc/hosts."""
    hosts = Path("/etc/hosts")
    lines = hosts.read_text().splitlines(keepends=True)
    temporary = hosts.with_name(f".hosts.swarm-acme-{os.getpid()}")
    temporary.write_text("".join(line for line in lines if line != HOSTS_LINE))
    os.chmod(temporary, hosts.stat().st_mode & 0o7777)
    os.replace(temporary, hosts)


def gwbridge_gateway() -> str:
    """This machine's address on docker_gwbridge, the bridge through which Swarm tasks reach
    the host (created by `docker swarm init`)."""
    return sh("docker", "network", "inspect", "-f", "{{(index .IPAM.Config 0).Gateway}}",
              "docker_gwbridge").stdout.strip()


@pytest.fixture(scope="module")
def acme_stack(wrapper_image, standins, traefik_image):
    swarm = Swarm()
    workdir = Path(tempfile.mkdtemp(prefix="harbor-swarm-acme-"))
    stack = pebble = None
    added_host = False
    certs_d = None
    images: list[str] = []
    state = {"logged_in": False}
    try:
        swarm.ensure()
        hosts_add()
        added_host = True
        port = free_port(ADDRESS)
        pebble = Pebble(workdir / "pebble", tls_port=port, listen=gwbridge_gateway(),
                        validity=VALIDITY, env={"PEBBLE_WFE_NONCEREJECT": "0"}).start()
        stack_file = workdir / "docker-stack.yml"
        doc = derive_stack(STACK_FILE.read_text(), overlays=(TRAEFIK_ACME_FILE.read_text(),))
        # the test's only change to the resolver: the certificates' duration pebble gives
        doc["services"]["traefik"]["command"].append(
            "--certificatesResolvers.harbor.acme.certificatesDuration=1")
        stack_file.write_text(yaml.safe_dump(doc, sort_keys=False))
        env = {k: v for k, v in os.environ.items() if not k.startswith("HARBOR_")}
        env.update({
            "HARBOR_HOSTNAME": NAME,
            "HARBOR_IMAGE_PREFIX": "harbor-standin",
            "HARBOR_WRAPPER_IMAGE": wrapper_image,
            "HARBOR_TRAEFIK_IMAGE": traefik_image,
            "HARBOR_TRAEFIK_HTTPS_PORT": str(port),
            "HARBOR_ACME_EMAIL": "harbor-admin@acme-e2e.test",
            "HARBOR_ACME_DIRECTORY": pebble.directory,
            "HARBOR_ACME_CA_FILE": str(pebble.ca_file),
            "HARBOR_NETWORK_NAME": NETWORK,
            "HARBOR_DATA_NODE_CONSTRAINT": "node.role == manager",
        })
        stack = Stack(STACK, stack_file, env)
        if STACK in sh("docker", "stack", "ls", "--format", "{{.Name}}").stdout.split():
            say(f"removing a stack {STACK} left by an earlier run")
            stack.remove()
        remove_network(NETWORK)
        create_secret("harbor_admin_password", PASSWORD)
        create_secret("harbor_database_password", os.urandom(12).hex())
        certs_d = Path("/etc/docker/certs.d") / f"{NAME}:{port}"
        certs_d.mkdir(parents=True, exist_ok=True)
        (certs_d / "ca.crt").write_bytes(pebble.root())
        yield stack, pebble, port, state, images
    finally:
        problems = []
        if state["logged_in"] and stack is not None:
            sh("docker", "logout", f"{NAME}:{stack.env['HARBOR_TRAEFIK_HTTPS_PORT']}",
               check=False)
        for image in images:
            sh("docker", "rmi", "-f", image, check=False)
        if certs_d is not None:
            shutil.rmtree(certs_d, ignore_errors=True)
        if stack is not None:
            problems += stack.remove()
        problems += remove_network(NETWORK)
        for name in SECRETS:
            problems += remove_secret(name)
        if pebble is not None:
            pebble.stop()
        if added_host:
            hosts_remove()
        shutil.rmtree(workdir, ignore_errors=True)
        swarm.leave()
        if problems:
            raise AssertionError("cleanup incomplete:\n" + "\n".join(problems))


def test_traefik_serves_the_acme_certificate_from_pebble(acme_stack, capsys):
    stack, pebble, port, state, images = acme_stack
    root = pebble.root()
    started = time.monotonic()
    stack.deploy()
    wait_for("the setupwrapper job completed", lambda: stack.job_done(stack.job_iteration()), 180,
             diagnose=lambda: stack.diagnostics(["setupwrapper"]))

    def acme_certificate():
        try:
            return served_certificate(ADDRESS, port, NAME, root)
        except ssl.SSLCertVerificationError as exc:  # Traefik's own default until then
            raise AssertionError(f"not pebble's certificate yet: {exc}")
        except OSError as exc:
            raise AssertionError(f"Traefik does not answer yet: {exc}")
    served = wait_for("Traefik serves a certificate from pebble", acme_certificate, 300,
                      diagnose=lambda: stack.diagnostics(["traefik", "proxy"])
                      + "\n===== pebble\n" + pebble.logs()[-4000:], interval=2)
    to_certificate = time.monotonic() - started
    from cryptography import x509
    cert = x509.load_pem_x509_certificate(served)
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == [NAME]
    assert "Pebble" in cert.issuer.rfc4514_string(), cert.issuer.rfc4514_string()
    say(f"Traefik serves pebble's certificate for {NAME} (issuer {cert.issuer.rfc4514_string()},"
        f" until {cert.not_valid_after_utc:%Y-%m-%d}) {to_certificate:.1f}s after "
        f"`docker stack deploy`")

    address = f"{NAME}:{port}"

    def login():
        result = sh("docker", "login", address, "-u", "admin", "--password-stdin", check=False,
                    input=PASSWORD, timeout=60)
        assert result.returncode == 0, result.stderr[-500:]
        state["logged_in"] = True
        return True
    wait_for(f"docker login {address} through Traefik", login, 300,
             diagnose=lambda: stack.diagnostics(["traefik", "proxy", "core"]), interval=2)
    to_login = time.monotonic() - started
    wait_for("every service runs its replicas", lambda: stack.converged(SERVICES), 300,
             diagnose=stack.diagnostics, interval=2)
    image = f"{address}/library/swarm-acme:1"
    images.append(image)
    pushed = build_image(image)
    sh("docker", "push", image, timeout=300)
    assert pull(image) == pushed
    # the certificate is still pebble's one (no re-issue meanwhile)
    assert served_certificate(ADDRESS, port, NAME, root) == served
    # Traefik's own renewal: the same task serves a new certificate from pebble, for the
    # same name, before the first one expires; login goes on
    traefik = stack.container(stack.running("traefik")[0])
    first_seen = time.monotonic()

    def renewed():
        now = acme_certificate()
        return now if now != served else None
    renewed_pem = wait_for("Traefik serves a renewed certificate", renewed, 180,
                           diagnose=lambda: stack.diagnostics(["traefik"]), interval=2)
    to_renewal = time.monotonic() - first_seen
    new = x509.load_pem_x509_certificate(renewed_pem)
    assert new.extensions.get_extension_for_class(x509.SubjectAlternativeName).value \
        .get_values_for_type(x509.DNSName) == [NAME]
    assert new.not_valid_after_utc > cert.not_valid_after_utc
    assert stack.container(stack.running("traefik")[0]) == traefik  # renewed, not restarted
    assert login()
    summary = (f"`docker stack deploy` to: pebble's certificate served {to_certificate:.1f}s, "
               f"first login through Traefik {to_login:.1f}s; push and pull through Traefik; "
               f"Traefik's renewal of pebble's {VALIDITY}s certificate served {to_renewal:.1f}s "
               "after the first was seen, same task")
    say(summary)
    with capsys.disabled():
        print(f"\n[swarm-acme] {summary}")
