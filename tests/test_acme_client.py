"""ACME on compose, without Docker: the wrapper's client against pebble (the ACME test server
of the Let's Encrypt project, Debian's package, on this host's loopback) and the HTTP-01
answers served from DIR/.acme-challenge; the `renew` round that obtains, publishes and renews;
each failure mode with its message, the certificate in use kept. The proxy's nginx serving
the answers, Docker trusting pebble's root and the reload are proven in tests/e2e/test_acme.py.
"""

from __future__ import annotations

import datetime
import functools
import http.server
import io
import os
import sys
import threading
from contextlib import redirect_stderr
from pathlib import Path

import pytest
from cryptography import x509

sys.path.insert(0, str(Path(__file__).parent / "e2e"))
sys.path.insert(0, str(Path(__file__).parent / "doubles"))
import acme_ratelimit_double  # noqa: E402
from pebble_support import Pebble, free_port  # noqa: E402

from wrapper import acme_certificate, cli, pki, renew, tree  # noqa: E402
from wrapper.settings import load  # noqa: E402
from wrapper.store import Store  # noqa: E402
from wrapper.validation import check  # noqa: E402

HOST = "127.0.0.2"  # an IP identifier (RFC 8738): pebble reaches it without DNS
EMAIL = "registry-admin@harbor.example.org"
UTC = datetime.timezone.utc


class _Answers(http.server.SimpleHTTPRequestHandler):
    """What the proxy's nginx does on its http port: /.well-known/acme-challenge/TOKEN from
    DIR/.acme-challenge/TOKEN (tests/e2e/test_acme.py runs the real nginx)."""

    def log_message(self, *args) -> None:
        pass

    def translate_path(self, path: str) -> str:
        prefix = "/.well-known/acme-challenge/"
        name = path.split("?", 1)[0][len(prefix):] if path.startswith(prefix) else ""
        if not name or "/" in name:
            return "/nonexistent"
        return os.path.join(self.directory, name)


@pytest.fixture
def answers(tmp_path):
    """DIR and the port where its challenge answers are served."""
    out = tmp_path / "out"
    out.mkdir()
    handler = functools.partial(_Answers, directory=str(out / acme_certificate.CHALLENGE_DIR))
    server = http.server.ThreadingHTTPServer((HOST, 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield out, server.server_address[1]
    server.shutdown()


@pytest.fixture
def pebble(tmp_path, answers):
    with Pebble(tmp_path / "pebble", http_port=answers[1], env={"PEBBLE_WFE_NONCEREJECT": "0"}
                ) as server:
        yield server


def variables(pebble, out, **extra) -> dict:
    return {"HARBOR_HOSTNAME": HOST, "HARBOR_ADMIN_PASSWORD": "s3cret-admin-pw",
            "HARBOR_ACME_EMAIL": EMAIL, "HARBOR_ACME_DIRECTORY": pebble.directory,
            "HARBOR_ACME_CA_FILE": str(pebble.ca_file), **extra}


def run_round(out, env, monkeypatch) -> str:
    for name in [k for k in os.environ if k.startswith("HARBOR_")]:
        monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    err = io.StringIO()
    from wrapper import generate as gen

    monkeypatch.setattr(gen.Steps.__init__, "__defaults__", (err,))
    with redirect_stderr(err):
        assert renew.one_round(str(out), False, cli.main) == 0, err.getvalue()
    return err.getvalue()


def served(out: Path) -> bytes:
    return (out / "current" / "secret" / "cert" / "server.crt").read_bytes()


def issuer(chain: bytes) -> str:
    return pki.load_certs(chain)[0].issuer.rfc4514_string()


def test_a_round_obtains_the_certificate_and_publishes_it(pebble, answers, monkeypatch, token_key):
    out, _ = answers
    (out / ".store" / "token").mkdir(parents=True)
    (out / ".store" / "token" / "private_key.pem").write_bytes(token_key)
    log = run_round(out, variables(pebble, out), monkeypatch)
    assert "ACME: certificate for 127.0.0.2 obtained" in log, log
    chain = served(out)
    assert "Pebble Intermediate" in issuer(chain), issuer(chain)
    leaf = pki.load_certs(chain)[0]
    assert pki.sans_of(leaf) == {HOST}
    store = Store(str(out / ".store"))
    # the served certificate is for the server key the wrapper keeps; no CA of ours offered
    assert pki.key_matches(chain, store.read("https/server.key"))
    assert not (out / "current" / "secret" / "cert" / "ca.crt").exists()
    # pebble's intermediate and root verify it
    root = x509.load_pem_x509_certificate(pebble.root())
    chain_certs = pki.load_certs(chain)
    leaf.verify_directly_issued_by(chain_certs[1])
    chain_certs[1].verify_directly_issued_by(root)
    # the account key is a store item like every key: 0600, made once
    account = out / ".store" / acme_certificate.ACCOUNT_KEY
    assert account.stat().st_mode & 0o777 == 0o600
    # nginx serves the answers on its http port
    conf = (out / "current" / "config" / "nginx" / "nginx.conf").read_text()
    assert "location ^~ /.well-known/acme-challenge/" in conf
    assert f"alias {out}/.acme-challenge/;" in conf or f'alias "{out}/.acme-challenge/";' in conf
    # a second round: nothing due, nothing new
    generation = tree.read_marker(str(out))["generation"]
    key_before, account_before = store.read("https/server.key"), account.read_bytes()
    log = run_round(out, variables(pebble, out), monkeypatch)
    assert "obtained" not in log and tree.read_marker(str(out))["generation"] == generation
    assert account.read_bytes() == account_before and store.read("https/server.key") == key_before


def test_renewal_through_pebbles_short_validity(tmp_path, answers, monkeypatch, token_key):
    """pebble issues certificates valid 60 s: a round after two thirds of that renews, for
    the same key and account, and publishes a new generation."""
    out, port = answers
    (out / ".store" / "token").mkdir(parents=True)
    (out / ".store" / "token" / "private_key.pem").write_bytes(token_key)
    with Pebble(tmp_path / "short", http_port=port, validity=60,
                env={"PEBBLE_WFE_NONCEREJECT": "0"}) as short:
        env = variables(short, out)
        run_round(out, env, monkeypatch)
        first, generation = served(out), tree.read_marker(str(out))["generation"]
        store = Store(str(out / ".store"))
        key, account = store.read("https/server.key"), store.read(acme_certificate.ACCOUNT_KEY)
        assert "Pebble" in issuer(first)
        log = run_round(out, env, monkeypatch)
        assert "obtained" not in log and served(out) == first  # 60 s: not due yet
        later = pki.load_certs(first)[0].not_valid_before_utc + datetime.timedelta(seconds=41)
        monkeypatch.setattr(acme_certificate, "_now", lambda: later)
        log = run_round(out, env, monkeypatch)
        assert "obtained" in log, log
        assert served(out) != first and tree.read_marker(str(out))["generation"] != generation
        assert store.read("https/server.key") == key
        assert store.read(acme_certificate.ACCOUNT_KEY) == account
        assert pki.key_matches(served(out), key)


def test_due_renews_at_the_window_or_two_thirds_of_the_lifetime():
    key = pki.new_ec_key()
    ca_key, ca = pki.new_ca("test", 3650)
    now = datetime.datetime.now(UTC)
    for days, left_due, left_not_due in ((90, 29.9, 30.1), (6, 1.9, 2.1), (397, 29.9, 30.1)):
        chain = pki.issue(ca_key, ca, key, "h.example.org", ["h.example.org"], days)
        start = pki.load_certs(chain)[0].not_valid_before_utc
        end = pki.load_certs(chain)[0].not_valid_after_utc
        lifetime = (end - start).total_seconds() / 86400
        threshold = min(30, lifetime / 3)
        for left, expected in ((threshold - 0.1, True), (threshold + 0.1, False)):
            at = end - datetime.timedelta(days=left)
            assert acme_certificate.due(chain, key, ["h.example.org"], 30, at) is expected, \
                (days, left)
    chain = pki.issue(ca_key, ca, key, "h.example.org", ["h.example.org"], 90)
    assert acme_certificate.due(chain, key, ["other.example.org"], 30, now)  # names changed
    assert acme_certificate.due(chain, pki.new_ec_key(), ["h.example.org"], 30, now)  # key
    assert acme_certificate.due(None, key, ["h.example.org"], 30, now)


# --- failure modes: a clear message, the certificate in use kept -------------------------

@pytest.fixture
def obtained(pebble, answers, monkeypatch, token_key):
    """A deployment serving an ACME certificate; returns (out, variables)."""
    out, _ = answers
    (out / ".store" / "token").mkdir(parents=True)
    (out / ".store" / "token" / "private_key.pem").write_bytes(token_key)
    env = variables(pebble, out)
    run_round(out, env, monkeypatch)
    assert "Pebble" in issuer(served(out))
    return out, env


def _fails(out, env, monkeypatch, expected: str) -> str:
    """A round that must fail with `expected` in its message and change nothing served. The
    changed variables are deployed first, as `up -d` does: the setupwrapper publishes them, then
    renew runs its round with the same ones."""
    for name in [k for k in os.environ if k.startswith("HARBOR_")]:
        monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with redirect_stderr(io.StringIO()):
        assert cli.main(["generate", "--out", str(out)]) == 0
    before = served(out)
    store = Store(str(out / ".store"))
    stored = store.read(acme_certificate.CERTIFICATE)
    monkeypatch.setattr(acme_certificate, "_now", lambda: datetime.datetime.now(UTC)
                        + datetime.timedelta(days=5 * 365))  # every certificate due
    monkeypatch.setattr(acme_certificate, "usable", lambda *a, **k: True)  # ... but served
    log = run_round(out, env, monkeypatch)
    assert expected in log, log
    assert "renew: ACME: " in log and "Traceback" not in log
    assert served(out) == before
    assert store.read(acme_certificate.CERTIFICATE) == stored
    return log


def test_directory_unreachable(obtained, monkeypatch):
    out, env = obtained
    closed = f"https://127.0.0.1:{free_port()}/dir"
    log = _fails(out, {**env, "HARBOR_ACME_DIRECTORY": closed}, monkeypatch,
                 f"HARBOR_ACME_DIRECTORY: cannot read the ACME directory {closed}")
    assert "Connection refused" in log and "the certificate in use is kept" in log


def test_directory_not_trusted(obtained, monkeypatch):
    out, env = obtained
    env = {k: v for k, v in env.items() if k != "HARBOR_ACME_CA_FILE"}
    _fails(out, env, monkeypatch, "is not trusted (a private ACME server: set "
                                  "HARBOR_ACME_CA_FILE")


def test_challenge_refused(obtained, tmp_path, monkeypatch):
    """pebble's validation finds nothing on the http port (nothing listens there)."""
    out, env = obtained
    with Pebble(tmp_path / "nowhere", http_port=free_port(),
                env={"PEBBLE_WFE_NONCEREJECT": "0"}) as other:
        log = _fails(out, {**env, "HARBOR_ACME_DIRECTORY": other.directory,
                           "HARBOR_ACME_CA_FILE": str(other.ca_file)}, monkeypatch,
                     "the ACME server could not validate 127.0.0.2 over HTTP-01")
    assert "connection refused" in log and "HARBOR_HTTP_PORT" in log


def test_rate_limited(answers):
    """pebble has no rate limits: a double answers as Let's Encrypt does over its limits."""
    out, _ = answers
    server, directory = acme_ratelimit_double.serve()
    try:
        with pytest.raises(acme_certificate.Failed) as failed:
            acme_certificate.obtain(str(out), Store(str(out / ".store")), [HOST], EMAIL,
                                    directory, None)
    finally:
        server.shutdown()
    assert str(failed.value).startswith("the ACME server refuses for now (rate limit): "
                                        + acme_ratelimit_double.DETAIL)
    assert "tried again at the next round" in str(failed.value)
    assert not (out / ".store" / acme_certificate.CERTIFICATE).exists()


def test_nonces_always_refused(tmp_path, answers):
    out, port = answers
    with Pebble(tmp_path / "nonce", http_port=port, env={"PEBBLE_WFE_NONCEREJECT": "100"}) as p:
        with pytest.raises(acme_certificate.Failed) as failed:
            acme_certificate.obtain(str(out), Store(str(out / ".store")), [HOST], EMAIL,
                                    p.directory, str(p.ca_file))
    assert "kept refusing the request's nonce" in str(failed.value)
    assert not (out / ".store" / acme_certificate.CERTIFICATE).exists()


def test_email_refused_by_the_server(pebble, answers):
    """An address our grammar lets through but the ACME server refuses (Let's Encrypt refuses
    e.g. example.com ones; pebble refuses malformed ones): the message names the variable."""
    out, _ = answers
    with pytest.raises(acme_certificate.Failed) as failed:
        acme_certificate.obtain(str(out), Store(str(out / ".store")), [HOST], "admin",
                                pebble.directory, str(pebble.ca_file))
    assert str(failed.value).startswith("HARBOR_ACME_EMAIL: the ACME server refuses this "
                                        "address (contact email \"admin\" is invalid)")


@pytest.mark.parametrize("extra,message", [
    ({"HARBOR_ACME_EMAIL": "not-an-address"}, "HARBOR_ACME_EMAIL: 'not-an-address' is not "
                                              "accepted; accepted: one e-mail address"),
    ({"HARBOR_ACME_DIRECTORY": "http://acme.example.org/dir"},
     "HARBOR_ACME_DIRECTORY: the value 'http://acme.example.org/dir'"),
    ({"HARBOR_HTTPS_CERTIFICATE": "/etc/hosts", "HARBOR_HTTPS_PRIVATE_KEY": "/etc/hosts"},
     "HARBOR_HTTPS_CERTIFICATE: set together with HARBOR_ACME_* variables"),
    ({"HARBOR_ACME_CHALLENGE": "dns-01"}, "HARBOR_ACME_CHALLENGE"),
])
def test_bad_acme_settings_are_named(extra, message):
    env = {"HARBOR_HOSTNAME": "harbor.example.org", "HARBOR_ACME_EMAIL": EMAIL, **extra}
    from wrapper.settings import InvalidSettings

    with pytest.raises(InvalidSettings) as err:
        load(env)
    assert any(message in line for line in err.value.errors), err.value.errors


def test_behind_traefik_the_variables_are_traefiks():
    """HARBOR_PROTOCOL http (the Swarm stack, Traefik terminates TLS and its resolver reads the
    HARBOR_ACME_* variables): accepted, and the wrapper serves no challenge."""
    from wrapper.components import nginx
    from wrapper.context import Paths

    s = load({"HARBOR_HOSTNAME": "harbor.example.org", "HARBOR_PROTOCOL": "http",
              "HARBOR_ACME_EMAIL": EMAIL})
    conf = next(f for f in nginx.files(s, None, Paths("/harbor-setup"))
                if f.path == "config/nginx/nginx.conf").content.decode()
    assert "acme-challenge" not in conf
