"""Every key, secret and certificate Harbor needs, made once in the store and kept.

A secret the user brings (HARBOR_SECRET_KEY, ...) seeds the store when it is empty; a
different value later is an error, never a silent replacement.
"""

from __future__ import annotations

import ipaddress
import secrets as random
import string
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from . import certificates, consistency, internal_tls
from .marker import verdict
from .settings import InvalidSettings
from .store import Store

_ALNUM = string.ascii_letters + string.digits
REGISTRY_USER = "harbor_registry_user"
# bcrypt cost of the registry credential: the registry checks it on every request core
# forwards, and the password is 32 random characters; upstream's htpasswd uses 5 as well.
_BCRYPT_ROUNDS = 5
# The CAs the wrapper makes outlive their leaf certificates, which are re-issued under them.
CA_MIN_DAYS = 3650


def _token(length: int) -> bytes:
    return "".join(random.choice(_ALNUM) for _ in range(length)).encode()


@dataclass(repr=False)
class Keys:
    """Never printed: the repr names the fields only."""

    secretkey: str
    core_secret: str
    jobservice_secret: str
    csrf_key: str
    registry_password: str
    registry_htpasswd: str
    robot_prefix: str
    registry_http_secret: str
    database_password: str
    token_key: bytes
    token_cert: bytes
    https_cert: bytes | None = None        # chain, server first
    https_key: bytes | None = None
    https_ca: bytes | None = None          # the CA clients trust (ours), if we made it
    internal_ca: bytes | None = None
    internal: dict[str, tuple[bytes, bytes]] = field(default_factory=dict)  # stem -> (crt, key)
    created: list[str] = field(default_factory=list)
    checked: set[str] = field(default_factory=set)  # verdicts for the marker: see verdict()

    def __repr__(self) -> str:
        return f"Keys(<{len(self.__dataclass_fields__)} fields, masked>)"


def _pki():
    from . import pki

    return pki


def server_names(s) -> list[str]:
    """SANs of the server certificate: hostname, and the host of the external URL."""
    names = [s["hostname"]]
    if s["external_url"]:
        host = urlsplit(s["external_url"]).hostname
        if host and host not in names:
            names.append(host)
    return names


# (store item, setting, variable) of the secrets a user may bring
SUPPLIED = (("secretkey", "secret_key", "HARBOR_SECRET_KEY"),
            ("core_secret", "core_secret", "HARBOR_CORE_SECRET"),
            ("jobservice_secret", "jobservice_secret", "HARBOR_JOBSERVICE_SECRET"),
            ("csrf_key", "csrf_key", "HARBOR_CSRF_KEY"),
            ("registry_http_secret", "registry_http_secret", "HARBOR_REGISTRY_HTTP_SECRET"))


def _differs(store: Store, name: str, variable: str) -> str:
    return (f"{variable}: differs from the value already made in {store.path(name)}; it is "
            "kept once made (delete that file to rotate it, knowing every component must "
            "then restart)")


def conflicts(store: Store, s) -> list[str]:
    """Supplied secrets that differ from the store, found before anything is written."""
    return [_differs(store, name, variable) for name, setting, variable in SUPPLIED
            if s.values[setting] is not None
            and store.read(name) not in (None, s.values[setting].encode())]


def ensure(store: Store, s, recover_secretkey: bytes | None = None,
           make_token_key=None, recover_database_password: bytes | None = None,
           verified: frozenset[str] = frozenset()) -> Keys:
    """verified: the current marker's verdicts, when its expiry state is quiet."""
    created: list[str] = []
    errors: list[str] = []

    def item(name: str, make, supplied: str | None = None, variable: str = "") -> bytes:
        if supplied is not None:
            value, new = store.get_or_create(name, lambda: supplied.encode())
            if value != supplied.encode():
                errors.append(_differs(store, name, variable))
        else:
            value, new = store.get_or_create(name, make)
        if new:
            created.append(name)
        return value

    v = s.values
    secretkey = item("secretkey", lambda: recover_secretkey or _token(16),
                     v["secret_key"], "HARBOR_SECRET_KEY")
    core_secret = item("core_secret", lambda: _token(16), v["core_secret"], "HARBOR_CORE_SECRET")
    js_secret = item("jobservice_secret", lambda: _token(16), v["jobservice_secret"],
                     "HARBOR_JOBSERVICE_SECRET")
    csrf = item("csrf_key", lambda: _token(32), v["csrf_key"], "HARBOR_CSRF_KEY")
    http_secret = item("registry_http_secret", lambda: _token(32), v["registry_http_secret"],
                       "HARBOR_REGISTRY_HTTP_SECRET")
    robot_prefix = item("robot_prefix", lambda: _token(8))
    db_password = (v["database.password"].encode() if v["database.password"] is not None
                   else item("database_password", lambda: recover_database_password or _token(32)))
    registry_password = item("registry_password", lambda: _token(32))

    def htpasswd() -> bytes:
        import bcrypt

        hashed = bcrypt.hashpw(registry_password, bcrypt.gensalt(rounds=_BCRYPT_ROUNDS))
        return REGISTRY_USER.encode() + b":" + hashed + b"\n"

    # derived from the password the store kept (not the one this run may have made and
    # lost to a concurrent run); one that does not verify against it is made anew
    htpasswd_entry = item("registry_htpasswd", htpasswd)
    if not consistency.htpasswd_verifies(htpasswd_entry, REGISTRY_USER,
                                         registry_password.decode()):
        htpasswd_entry = htpasswd()
        store.replace("registry_htpasswd", htpasswd_entry)
        created.append("registry_htpasswd")
    if errors:
        raise InvalidSettings(errors)

    token_key = item("token/private_key.pem", make_token_key or (lambda: _pki().new_token_key()))
    # made once like every item, so that racing runs publish the same one
    token_cert = item("token/root.crt", lambda: _pki().token_cert(token_key))
    window = v["cert_warning_days"]
    if verdict("token", token_cert, token_key, str(window)) not in verified and (
            not _pki().key_matches(token_cert, token_key, trusted=True)
            or certificates.renewal_due(token_cert, None, window)):
        token_cert = _pki().token_cert(token_key)
        store.replace("token/root.crt", token_cert)
        created.append("token/root.crt")
    checked = {verdict("token", token_cert, token_key, str(window))}

    keys = Keys(
        secretkey=secretkey.decode(), core_secret=core_secret.decode(),
        jobservice_secret=js_secret.decode(), csrf_key=csrf.decode(),
        registry_password=registry_password.decode(), registry_htpasswd=htpasswd_entry.decode(),
        robot_prefix=robot_prefix.decode(), registry_http_secret=http_secret.decode(),
        database_password=db_password.decode(), token_key=token_key, token_cert=token_cert,
        created=created, checked=checked)
    days = v["https.cert_validity_days"]
    if s.https:
        if v["https.certificate"]:
            keys.https_cert = s.input_files["https.certificate"]
            keys.https_key = s.input_files["https.private_key"]
        else:
            _own_server_certificate(store, keys, server_names(s), days, item, window,
                                    verified)
            if s.on("acme"):
                _acme_certificate(store, keys, server_names(s))
    if s.on("internal_tls"):
        _internal_certificates(store, s, keys, days, item, window, verified)
    return keys


def _ca(store: Store, keys: Keys, item, name: str, common_name: str,
        days: int, verified: frozenset[str]) -> tuple[bytes, bytes]:
    """A CA kept as one item (key then certificate), so that racing wrappers agree on it.
    One made under a clock that was ahead is re-issued for the same key."""
    days = max(days, CA_MIN_DAYS)
    bundle = item(name, lambda: b"".join(_pki().new_ca(common_name, days)))
    cut = bundle.index(b"-----BEGIN CERTIFICATE-----")
    key, cert = bundle[:cut], bundle[cut:]
    if verdict("ca", bundle) not in verified and \
            certificates.made_ahead(_pki().load_certs(cert)[0]):
        cert = _pki().reissue_ca(key, cert)
        store.replace(name, key + cert)
        keys.created.append(name)
    keys.checked.add(verdict("ca", key + cert))
    return key, cert


def _leaf(store: Store, keys: Keys, item, ca: tuple[bytes, bytes], stem: str,
          names: list[str], days: int, window: int,
          verified: frozenset[str]) -> tuple[bytes, bytes]:
    """(certificate, key); the key is made once, the certificate re-issued when names change
    or when it expires within the warning window (same CA, same key, same names)."""
    key = item(f"{stem}.key", lambda: _pki().new_ec_key())
    cert = item(f"{stem}.crt", lambda: _pki().issue(*ca, key, names[0], names, days))

    def passed(cert: bytes) -> str:
        return verdict("leaf", cert, key, ca[1], "\0".join(names), str(days), str(window))

    if passed(cert) not in verified and _leaf_due(cert, key, ca, names, days, window):
        cert = _pki().issue(*ca, key, names[0], names, days)
        store.replace(f"{stem}.crt", cert)
        keys.created.append(f"{stem}.crt")
    keys.checked.add(passed(cert))
    return cert, key


def _leaf_due(cert: bytes, key: bytes, ca: tuple[bytes, bytes], names: list[str], days: int,
              window: int) -> bool:
    pki = _pki()
    wanted = {str(ipaddress.ip_address(n)) if _is_ip(n) else n for n in names}
    return pki.sans_of(pki.load_certs(cert)[0]) != wanted or \
        not pki.key_matches(cert, key, True) or \
        certificates.renewal_due(cert, ca[1], window) or _outlives(cert, days)


def _outlives(cert_pem: bytes, days: int) -> bool:
    """Issued for longer than the validity asked for now (e.g. 3650 days by an older
    version): clients such as Apple's refuse it, so it is re-issued."""
    import datetime

    from . import pki

    cert = pki.load_certs(cert_pem)[0]
    lifetime = cert.not_valid_after_utc - cert.not_valid_before_utc
    return lifetime > datetime.timedelta(days=days, minutes=10)


def _own_server_certificate(store: Store, keys: Keys, names: list[str], days: int, item,
                            window: int, verified: frozenset[str]):
    ca = _ca(store, keys, item, "https/ca.pem", "Harbor CA (harbor-setupwrapper)", days,
             verified)
    cert, key = _leaf(store, keys, item, ca, "https/server", names, days, window, verified)
    keys.https_cert, keys.https_key, keys.https_ca = cert + ca[1], key, ca[1]


def _acme_certificate(store: Store, keys: Keys, names: list[str]) -> None:
    """The chain the ACME server issued (renew mode), once there is one for these names and
    this key, valid now; until then the wrapper's own certificate, for the same key."""
    from . import acme_certificate

    chain = store.read(acme_certificate.CERTIFICATE)
    if acme_certificate.usable(chain, keys.https_key, names):
        keys.https_cert, keys.https_ca = chain, None


def _internal_certificates(store: Store, s, keys: Keys, days: int, item, window: int,
                           verified: frozenset[str]):
    internal_db = not s.on("external_database")
    stems = internal_tls.stems(s.values["with_trivy"], internal_db)
    if s.values["internal_tls.dir"]:
        keys.internal_ca = s.input_files[f"internal_tls.dir/{internal_tls.CA}.crt"]
        for stem in stems:
            keys.internal[stem] = (s.input_files[f"internal_tls.dir/{stem}.crt"],
                                   s.input_files[f"internal_tls.dir/{stem}.key"])
        return
    ca = _ca(store, keys, item, "internal/ca.pem", "Harbor internal CA (harbor-setupwrapper)",
             days, verified)
    keys.internal_ca = ca[1]
    for stem in stems:
        name = internal_tls.CERTIFICATES[stem]
        keys.internal[stem] = _leaf(store, keys, item, ca, f"internal/{stem}", [name], days,
                                    window, verified)


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
        return True
    except ValueError:
        return False
