"""The server certificate from an ACME server (Let's Encrypt, or a private one), HTTP-01.

The client is `acme`, the protocol library of certbot, kept by the Let's Encrypt project
(EFF) and released with certbot: RFC 8555 in full, IP identifiers (RFC 8738), typed
problem documents (rateLimited, invalidContact, ...). The alternatives on PyPI are either
unmaintained (sewer, last release 2020; acme-tiny, a script) or build on `acme` themselves.

The account key and the certificate are items of the store; the certificate's key is the
server key the wrapper already keeps (https/server.key), so that a renewal never changes it.
The challenge answers are files in DIR/.acme-challenge, which the proxy's nginx serves on its
http port under /.well-known/acme-challenge/. Every failure keeps the certificate in use and
says what to fix; the `renew` mode tries again at its next round.
"""

from __future__ import annotations

import datetime
import ipaddress
import os

from . import fs
from .store import Store

ACCOUNT_KEY = "acme/account.key"
CERTIFICATE = "acme/server.crt"     # the chain the ACME server issued, server first
SERVER_KEY = "https/server.key"
CHALLENGE_DIR = ".acme-challenge"   # in DIR; the proxy serves it on its http port
USER_AGENT = "harbor-setupwrapper"


class Failed(Exception):
    """One line that names the variable or the cause, and says what happens next."""


def _now() -> datetime.datetime:
    from . import certificates

    return certificates.now()


def usable(chain_pem: bytes | None, key_pem: bytes | None, names: list[str],
           at: datetime.datetime | None = None) -> bool:
    """The stored ACME chain can be served: for these names, this key, valid now."""
    from . import pki

    if not chain_pem or not key_pem:
        return False
    try:
        leaf = pki.load_certs(chain_pem)[0]
        at = at or _now()
        return (pki.sans_of(leaf) == {_normal(n) for n in names}
                and pki.key_matches(chain_pem, key_pem, trusted=True)
                and leaf.not_valid_before_utc <= at < leaf.not_valid_after_utc)
    except (ValueError, IndexError):
        return False


def due(chain_pem: bytes | None, key_pem: bytes | None, names: list[str], window_days: int,
        at: datetime.datetime | None = None) -> bool:
    """A new certificate is wanted: none usable, or it expires within the warning window or
    within a third of its lifetime, whichever comes first (Let's Encrypt's advice: renew at
    two thirds; a 90-day certificate at 30 days left, a 6-day one at 2 days left)."""
    from . import pki

    at = at or _now()
    if not usable(chain_pem, key_pem, names, at):
        return True
    leaf = pki.load_certs(chain_pem)[0]
    lifetime = leaf.not_valid_after_utc - leaf.not_valid_before_utc
    left = leaf.not_valid_after_utc - at
    return left <= min(datetime.timedelta(days=window_days), lifetime / 3)


def _normal(name: str) -> str:
    try:
        return str(ipaddress.ip_address(name))
    except ValueError:
        return name


def _split(names: list[str]) -> tuple[list[str], list]:
    domains, ips = [], []
    for name in names:
        try:
            ips.append(ipaddress.ip_address(name))
        except ValueError:
            domains.append(name)
    return domains, ips


def _account_key(store: Store):
    import josepy
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    def make() -> bytes:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        return key.private_bytes(serialization.Encoding.PEM,
                                 serialization.PrivateFormat.PKCS8,
                                 serialization.NoEncryption())

    pem, _ = store.get_or_create(ACCOUNT_KEY, make)
    return josepy.JWKRSA(key=serialization.load_pem_private_key(pem, password=None))


def _problem(err, settings_names) -> str:
    """A clear line for an ACME problem document."""
    kind = (getattr(err, "typ", "") or "").rsplit(":", 1)[-1]
    detail = getattr(err, "detail", None) or str(err)
    email_var, directory_var = settings_names
    if kind == "rateLimited":
        return (f"the ACME server refuses for now (rate limit): {detail}; the certificate in "
                "use is kept and the request is tried again at the next round")
    if kind in ("invalidContact", "unsupportedContact"):
        return (f"{email_var}: the ACME server refuses this address ({detail}); accepted: an "
                "e-mail address the ACME server takes (a real domain)")
    if kind == "badNonce":
        return f"the ACME server kept refusing the request's nonce ({detail}); tried again later"
    return f"the ACME server ({directory_var}) refused the request: {kind or 'error'}: {detail}"


def _challenge_failures(err) -> str:
    lines = []
    for authzr in getattr(err, "failed_authzrs", ()):
        for challb in authzr.body.challenges:
            if challb.error is not None:
                lines.append(f"{authzr.body.identifier.value}: {challb.error.detail or challb.error}")
    return "; ".join(lines) or str(err)


def obtain(out: str, store: Store, names: list[str], email: str | None, directory: str,
           ca_file: str | None, variables=("HARBOR_ACME_EMAIL", "HARBOR_ACME_DIRECTORY"),
           timeout: float = 90, attempts: int = 3) -> bytes:
    """Orders a certificate for `names` with HTTP-01 and stores it; returns the chain.
    Raises Failed with one clear line; the store's certificate is then left as it was.
    A refused nonce (RFC 8555 badNonce, which servers may answer to any request) is
    retried with a new order."""
    for attempt in range(attempts):
        try:
            return _obtain(out, store, names, email, directory, ca_file, variables, timeout)
        except _BadNonce as err:
            if attempt == attempts - 1:
                raise Failed(str(err)) from None
    raise AssertionError("unreachable")


class _BadNonce(Exception):
    pass


def _obtain(out, store, names, email, directory, ca_file, variables, timeout) -> bytes:
    import requests
    from acme import challenges, client, crypto_util, errors, messages

    from . import pki

    key_pem = store.read(SERVER_KEY)
    if key_pem is None:
        key_pem, _ = store.get_or_create(SERVER_KEY, pki.new_ec_key)
    account = _account_key(store)
    verify = ca_file or True
    net = client.ClientNetwork(account, alg=__import__("josepy").RS256, verify_ssl=verify,
                               user_agent=USER_AGENT, timeout=30)
    folder = os.path.join(out, CHALLENGE_DIR)
    written: list[str] = []
    try:
        try:
            directory_doc = client.ClientV2.get_directory(directory, net)
        except (requests.exceptions.RequestException, errors.ClientError, ValueError) as err:
            raise Failed(f"{variables[1]}: cannot read the ACME directory {directory}: "
                         f"{_reason(err)}; the certificate in use is kept and the request is "
                         "tried again at the next round") from None
        acme = client.ClientV2(directory_doc, net)
        registration = messages.NewRegistration.from_data(
            email=email or None, terms_of_service_agreed=True)
        try:
            acme.new_account(registration)
        except errors.ConflictError as existing:  # this key has an account: use it
            net.account = messages.RegistrationResource(uri=existing.location,
                                                        body=messages.Registration())
        domains, ips = _split(names)
        csr = crypto_util.make_csr(key_pem, domains=domains or None, ipaddrs=ips or None)
        order = acme.new_order(csr)
        for authz in order.authorizations:
            if authz.body.status == messages.STATUS_VALID:
                continue
            http = [c for c in authz.body.challenges if isinstance(c.chall, challenges.HTTP01)]
            if not http:
                raise Failed(f"the ACME server offers no HTTP-01 challenge for "
                             f"{authz.body.identifier.value}")
            challb = http[0]
            response, validation = challb.response_and_validation(account)
            if not os.path.isdir(folder):
                fs.makedirs(folder, 0o755)
            path = os.path.join(folder, challb.chall.encode("token"))
            fs.create(path, validation.encode(), 0o644)
            written.append(path)
            acme.answer_challenge(challb, response)
        deadline = datetime.datetime.now() + datetime.timedelta(seconds=timeout)
        try:
            order = acme.poll_and_finalize(order, deadline)
        except errors.ValidationError as err:
            raise Failed(f"the ACME server could not validate {', '.join(names)} over HTTP-01: "
                         f"{_challenge_failures(err)}; it must reach this host's http port "
                         "(HARBOR_HTTP_PORT, published by the proxy) under the name; the "
                         "certificate in use is kept") from None
        except errors.TimeoutError:
            raise Failed(f"the ACME server did not finish the order within {timeout:.0f} s; "
                         "the certificate in use is kept") from None
    except messages.Error as err:
        if (getattr(err, "typ", "") or "").endswith(":badNonce"):
            raise _BadNonce(_problem(err, variables)) from None
        raise Failed(_problem(err, variables)) from None
    except requests.exceptions.RequestException as err:
        raise Failed(f"{variables[1]}: the ACME server at {directory} cannot be reached: "
                     f"{_reason(err)}; the certificate in use is kept") from None
    finally:
        for path in written:
            try:
                os.unlink(path)
            except OSError:
                pass
    chain = order.fullchain_pem.encode()
    if not usable(chain, key_pem, names):
        raise Failed("the ACME server issued a certificate that does not match the request "
                     f"({', '.join(names)}); it is not used")
    store.replace(CERTIFICATE, chain)
    return chain


def _reason(err) -> str:
    text = str(err)
    if "CERTIFICATE_VERIFY_FAILED" in text:
        return ("its https certificate is not trusted (a private ACME server: set "
                "HARBOR_ACME_CA_FILE to the CA that signed it)")
    for marker in ("Failed to establish a new connection: ", "SSLError(", "Caused by "):
        if marker in text:
            text = text.split(marker, 1)[1]
    return text.rstrip(")'\"").strip()[:300]
