"""Certificates that renew themselves, on compose, end to end (issue 14, parts 2 and 3).

One compose project, two phases, each waiting on what is served (no fixed sleeps):

1. The wrapper's own certificate: the one-shot setupwrapper runs under Debian's faketime 370
   days in the past (libfaketime from this host, preloaded), so the server certificate it
   makes has 27 days left, inside the 30-day window; the `renew` service (real clock) re-issues
   it in its first round and publishes a new generation, which the proxy reloads. No command
   is run, no container restarted, the key is the same, a client that trusted the wrapper's
   CA verifies the new certificate, Docker logs in, `status` is OK.
2. ACME: HARBOR_ACME_* pointing at pebble (the ACME test server, Debian's package, on this
   host's loopback; its validation reaches the proxy's published http port at 127.0.0.2) and
   `up -d`, as a user does: the renew service obtains the certificate over HTTP-01 and the
   proxy serves pebble's certificate; Docker trusts pebble's root (certs.d) and nothing else:
   login, push, pull. pebble issues certificates valid for PEBBLE_VALIDITY seconds: the renew
   service renews at two thirds of the lifetime, and the new one is served without a
   restart, same key, same ACME account.

The only test-only changes to the deployment (an override written here): the renew service
joins the host's network, so as to reach pebble on loopback, and both wrapper services see
pebble's listener CA (HARBOR_ACME_CA_FILE) at the same path; the faketime library for phase 1.
"""

from __future__ import annotations

import datetime
import json
import shutil
import ssl
import time
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from compose_support import CERTS_D, Harbor, push_and_pull, tls_verified
from e2e_support import sh
from pebble_support import Pebble
from test_certs import served, started_at

pytestmark = pytest.mark.acme_e2e

PROJECT = "harboracmee2e"
HOST = "127.0.0.2"
# not the compose lane's ports: this test runs in another lane (tests/e2e/lanes.py)
HTTP_PORT, HTTPS_PORT = 28081, 28444
FAKETIME_LIB = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1"
RENEW_INTERVAL = 5      # the schema's minimum
# renewal at two thirds (50 s); served within RENEW_INTERVAL + a round + the proxy's 10 s
# reload poll, which leaves the old certificate valid while the new one is not yet served
PEBBLE_VALIDITY = 75


def say(msg: str) -> None:
    print(f"[acme-e2e] {msg}", flush=True)


def public_key(cert: x509.Certificate) -> bytes:
    return cert.public_key().public_bytes(serialization.Encoding.DER,
                                          serialization.PublicFormat.SubjectPublicKeyInfo)


def wait_served(predicate, what: str, timeout: float, h: Harbor) -> tuple[x509.Certificate, float]:
    """Polls the certificate the proxy serves until predicate(it); returns it and the wait."""
    started = time.monotonic()
    while True:
        try:
            cert = served(HTTPS_PORT, HOST)
            if predicate(cert):
                return cert, time.monotonic() - started
        except OSError:
            pass
        if time.monotonic() - started > timeout:
            logs = h.compose("logs", "--tail", "60", "renew", "proxy", check=False).stdout
            raise AssertionError(f"never served: {what}\n{logs}")
        time.sleep(0.5)


def verified(ca: bytes) -> bool:
    try:
        return tls_verified(HOST, HTTPS_PORT, ca)
    except ssl.SSLCertVerificationError:
        return False


def override(folder: Path, pebble_dir: Path) -> Path:
    shared = [f"{pebble_dir}:{pebble_dir}:ro"]
    text = {"services": {
        "setupwrapper": {
            "volumes": [f"{FAKETIME_LIB}:/faketime/libfaketime.so.1:ro", *shared],
            "environment": ["LD_PRELOAD=/faketime/libfaketime.so.1", "FAKETIME=-370d",
                            "FAKETIME_DONT_FAKE_MONOTONIC=1"]},
        "renew": {"network_mode": "host", "networks": None, "volumes": shared}}}
    path = folder / "acme-e2e.override.yml"
    dumped = json.dumps(text)  # YAML is a superset of JSON; !reset for the network list
    path.write_text(dumped.replace('"networks": null', '"networks": !reset []'))
    return path


@pytest.fixture
def harbor(wrapper_image, standins, tmp_path):
    assert Path(FAKETIME_LIB).exists(), "faketime is missing (tests/run.sh installs it)"
    h = Harbor(PROJECT, wrapper_image, ports=(HTTP_PORT, HTTPS_PORT))
    h.env["HARBOR_HOSTNAME"] = HOST
    h.env["HARBOR_RENEW_INTERVAL"] = str(RENEW_INTERVAL)
    h.compose("down", "-v", "--remove-orphans", check=False)
    folder = CERTS_D / h.host
    try:
        yield h, tmp_path, folder
    finally:
        h.compose("down", "-v", "--remove-orphans", check=False)
        shutil.rmtree(folder, ignore_errors=True)
        sh("docker", "logout", h.host, check=False)


def test_renewal_without_a_command_then_acme(harbor):
    h, tmp_path, certs_d = harbor
    pebble_dir = tmp_path / "pebble"
    with Pebble(pebble_dir, http_port=HTTP_PORT, validity=PEBBLE_VALIDITY,
                env={"PEBBLE_WFE_NONCEREJECT": "0"}) as pebble:
        h.files = ("compose/docker-compose.yml", str(override(tmp_path, pebble_dir)))

        # --- phase 1: the wrapper's own certificate, re-issued by the renew service ----------
        up = time.monotonic()
        h.compose("up", "-d", timeout=900)  # returns once the proxy is healthy, renew started
        before = started_at(PROJECT)
        assert {n for n in before if "renew" in n}, f"no renew container runs: {before}"
        first, _ = wait_served(lambda c: True, "any certificate", 120, h)
        age = datetime.datetime.now(datetime.timezone.utc) - first.not_valid_before_utc
        assert age > datetime.timedelta(days=369), first.not_valid_before_utc  # faketime'd
        renewed, waited = wait_served(lambda c: c.serial_number != first.serial_number,
                                      "the re-issued certificate", 120, h)
        say(f"own certificate re-issued by the renew service and served {waited:.1f} s after "
            f"the first was seen ({time.monotonic() - up:.0f} s after `up -d`)")
        now = datetime.datetime.now(datetime.timezone.utc)
        assert abs(renewed.not_valid_before_utc - now) < datetime.timedelta(minutes=10)
        assert renewed.not_valid_after_utc - now > datetime.timedelta(days=390)
        assert public_key(renewed) == public_key(first)  # same key
        assert renewed.issuer == first.issuer
        ca = h.trust_ca()  # the CA the wrapper made in the past: clients trusted it then
        assert verified(ca)
        h.login()
        assert started_at(PROJECT) == before, "a container was restarted"
        # `status` in the running renew service (setupwrapper ran on the test's past clock)
        status = h.compose("exec", "-T", "renew", "harbor-setupwrapper", "status", "--json",
                           check=False)
        assert status.returncode == 0, status.stdout + status.stderr
        assert json.loads(status.stdout)["status"] == "OK", status.stdout
        assert "published generation" in h.compose("logs", "renew").stdout

        # --- phase 2: ACME with pebble ------------------------------------------------------
        h.env.update({"HARBOR_ACME_EMAIL": "registry-admin@harbor.example.org",
                      "HARBOR_ACME_DIRECTORY": pebble.directory,
                      "HARBOR_ACME_CA_FILE": str(pebble.ca_file)})
        key_before = h.volume_file(".store/https/server.key")
        up = time.monotonic()
        h.compose("up", "-d", timeout=900)
        acme, _ = wait_served(lambda c: "Pebble" in c.issuer.rfc4514_string(),
                              "pebble's certificate", 240, h)
        to_acme = time.monotonic() - up
        say(f"time from `up -d` (ACME variables set) to pebble's certificate served: "
            f"{to_acme:.1f} s")
        before = started_at(PROJECT)
        assert public_key(acme) == public_key(first)
        assert h.volume_file(".store/https/server.key") == key_before
        root = pebble.root()
        shutil.rmtree(certs_d, ignore_errors=True)
        certs_d.mkdir(parents=True)
        (certs_d / "ca.crt").write_bytes(root)  # Docker trusts pebble's root, nothing else
        assert verified(root)
        assert not verified(ca), "the wrapper's certificate is still served"
        h.login()
        push_and_pull(h, "acme")
        account = h.volume_file(".store/acme/account.key")

        # --- the ACME certificate renewed (pebble's short validity) -------------------------
        renewed, waited = wait_served(lambda c: c.serial_number != acme.serial_number,
                                      "the renewed ACME certificate", PEBBLE_VALIDITY + 60, h)
        since = datetime.datetime.now(datetime.timezone.utc) - acme.not_valid_before_utc
        say(f"ACME renewal served {since.total_seconds():.0f} s after the first certificate's "
            f"notBefore (lifetime {PEBBLE_VALIDITY} s, due at two thirds; renew interval "
            f"{RENEW_INTERVAL} s; the proxy reloads within 10 s)")
        assert acme.not_valid_after_utc > datetime.datetime.now(datetime.timezone.utc), \
            "the renewed certificate came after the old one expired"
        assert "Pebble" in renewed.issuer.rfc4514_string()
        assert public_key(renewed) == public_key(acme)
        assert h.volume_file(".store/acme/account.key") == account
        assert verified(root)
        h.login()
        assert started_at(PROJECT) == before, "a container was restarted"
        logs = h.compose("logs", "renew").stdout
        timings = [line.split("renew: ", 1)[-1] for line in logs.splitlines()
                   if "obtained in" in line]
        say("renew service: " + " | ".join(timings))
        assert len(timings) >= 2, logs
