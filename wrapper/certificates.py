"""Certificates in use: what they are, when they expire, and what to say about it.

Read-only, except retire_ca (generate --renew-ca): reads PEM bytes or the current generation.
Used by `status`, by `generate` (warnings, and the leaf certificates it re-issues before
they expire) and by validation (a user-supplied certificate that has expired is refused).
"""

from __future__ import annotations

import datetime
import hashlib
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

from . import internal_tls, schema
from .marker import CLOCK_SKEW_SECONDS

if TYPE_CHECKING:
    from cryptography import x509

# cryptography is imported inside the functions: the fast path of a rerun (generate.unchanged)
# reads only the marker's dates and must not pay for that import.

WINDOW_VARIABLE = "HARBOR_CERT_WARNING_DAYS"
DEFAULT_WINDOW = 30
USER_WARNING_DAYS = 7     # a certificate the user brings is always warned about this late
OURS = "harbor-setupwrapper"  # the organisation of the CAs the wrapper makes

SERVER = "secret/cert/server.crt"
HTTPS_CA = "secret/cert/ca.crt"
TOKEN = "secret/registry/root.crt"
INTERNAL_DIR = "secret/tls"
TRUST_DIR = "config/shared/trust-certificates"
# trusted CA files the user brings (components/shared.py) -> their variable
_TRUSTED = {"storage_ca_bundle.crt": "storage_service.ca_bundle",
            "redis_tls_ca.crt": "external_redis.tlsOptions.rootCA",
            "trusted_ca_files.crt": "trusted_ca_files"}

README_SECTION = "README, section Certificates"
NOT_YET_VALID = "not valid yet"
_SKEW = datetime.timedelta(seconds=CLOCK_SKEW_SECONDS)


def now() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)


@dataclass(frozen=True)
class Certificate:
    role: str                 # "https server", "https CA", "internal TLS core", "token"
    file: str                 # path inside the generation
    subject: str
    issuer: str
    sans: tuple[str, ...]
    sha256: str               # AB:CD:...
    not_before: datetime.datetime
    not_after: datetime.datetime
    is_ca: bool
    made_here: bool           # made by the wrapper (else brought by the user)
    variable: str | None      # the variable it came from, when the user brought it

    def days_left(self, at: datetime.datetime) -> float:
        return (self.not_after - at).total_seconds() / 86400

    def state(self, at: datetime.datetime, window: int) -> str:
        """ok, expiring (within the window), expired, or not valid yet (its validity starts
        after this host's clock: a clock that is behind, or was ahead when it was made)."""
        if at >= self.not_after:
            return "expired"
        if at < self.not_before:
            return NOT_YET_VALID
        limit = window if self.made_here else max(window, USER_WARNING_DAYS)
        return "expiring" if self.days_left(at) <= limit else "ok"

    def as_dict(self, at: datetime.datetime, window: int) -> dict:
        return {"role": self.role, "file": self.file, "subject": self.subject,
                "issuer": self.issuer, "sans": list(self.sans), "sha256": self.sha256,
                "not_before": iso(self.not_before), "not_after": iso(self.not_after),
                "days_left": int(self.days_left(at) // 1), "state": self.state(at, window),
                "ca": self.is_ca, "made_by": "wrapper" if self.made_here else "user",
                "variable": self.variable}


def iso(moment: datetime.datetime) -> str:
    return moment.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def day(moment: datetime.datetime) -> str:
    return moment.astimezone(datetime.timezone.utc).strftime("%Y-%m-%d")


def _name(name: x509.Name) -> str:
    return name.rfc4514_string() or "(empty)"


def _made_here(cert: x509.Certificate) -> bool:
    from cryptography.x509.oid import NameOID

    return any(a.value == OURS for a in cert.issuer.get_attributes_for_oid(
        NameOID.ORGANIZATION_NAME))


def _is_ca(cert: x509.Certificate) -> bool:
    from cryptography import x509

    try:
        return cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        return False


def fingerprint(cert: x509.Certificate) -> str:
    from cryptography.hazmat.primitives import serialization

    digest = hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest().upper()
    return ":".join(digest[i:i + 2] for i in range(0, len(digest), 2))


def describe(cert: x509.Certificate, role: str, file: str, made_here: bool | None = None,
             variable: str | None = None) -> Certificate:
    from .pki import sans_of

    made = _made_here(cert) if made_here is None else made_here
    return Certificate(role=role, file=file, subject=_name(cert.subject),
                       issuer=_name(cert.issuer), sans=tuple(sorted(sans_of(cert))),
                       sha256=fingerprint(cert), not_before=cert.not_valid_before_utc,
                       not_after=cert.not_valid_after_utc, is_ca=_is_ca(cert),
                       made_here=made, variable=None if made else variable)


def _file_reader(root: str):
    def read(path: str) -> bytes | None:
        try:
            with open(os.path.join(root, path), "rb") as handle:
                return handle.read()
        except OSError:
            return None
    return read


def in_use(root: str) -> list[Certificate]:
    """Every certificate of the generation at root (e.g. DIR/current), server first."""
    return inventory(_file_reader(root))


def inventory(read) -> list[Certificate]:
    """Every certificate of a generation, read(path inside it) -> bytes or None.
    A certificate found twice (our CA in the chain and in ca.crt) is listed once."""
    from cryptography import x509

    def _load(path: str) -> list[x509.Certificate]:
        try:
            return x509.load_pem_x509_certificates(read(path) or b"")
        except ValueError:
            return []

    found: list[Certificate] = []
    seen: set[str] = set()

    def add(cert: x509.Certificate, role: str, file: str, **kw) -> None:
        entry = describe(cert, role, file, **kw)
        if entry.sha256 not in seen:
            seen.add(entry.sha256)
            found.append(entry)

    https = schema.BY_KEY["https.certificate"].env_name
    chain = _load(SERVER)
    for cert in chain[:1]:
        add(cert, "https server", SERVER, variable=https)
    for cert in _load(HTTPS_CA):
        add(cert, "https CA", HTTPS_CA)
    for cert in chain[1:]:
        add(cert, "https chain", SERVER, variable=https)
    internal = schema.BY_KEY["internal_tls.dir"].env_name
    for cert in _load(f"{INTERNAL_DIR}/{internal_tls.CA}.crt"):
        add(cert, "internal TLS CA", f"{INTERNAL_DIR}/{internal_tls.CA}.crt", variable=internal)
    for stem in internal_tls.CERTIFICATES:
        file = f"{INTERNAL_DIR}/{stem}.crt"
        for cert in _load(file)[:1]:
            add(cert, f"internal TLS {stem}", file, variable=internal)
    for cert in _load(TOKEN)[:1]:
        add(cert, "token signing (root.crt)", TOKEN, made_here=True)
    for name, key in _TRUSTED.items():
        file = f"{TRUST_DIR}/{name}"
        for cert in _load(file):
            add(cert, "trusted CA", file, made_here=False,
                variable=schema.BY_KEY[key].env_name)
    return found


# --- the window ---------------------------------------------------------------------------

def window_of(variables) -> int:
    """The warning window from the raw variables; ValueError names the variable."""
    raw = variables.get(WINDOW_VARIABLE)
    if raw is None or raw.strip() == "":
        return DEFAULT_WINDOW
    try:
        days = int(raw.strip())
    except ValueError:
        days = -1
    if days < 0:
        raise ValueError(f"{WINDOW_VARIABLE}: {raw!r} is not accepted; accepted: a whole "
                         "number of days, 0 or more")
    return days


def check_window(s, err) -> None:
    """The window must be shorter than the validity of the certificates the wrapper makes,
    or every run would re-issue them."""
    window, validity = s.values["cert_warning_days"], s.values["https.cert_validity_days"]
    if window >= validity:
        err(f"{WINDOW_VARIABLE}: {window} is not below "
            f"{schema.BY_KEY['https.cert_validity_days'].env_name} ({validity}); accepted: "
            "fewer days than the validity of the certificates the wrapper makes (they are "
            "re-issued once they expire within the window)")


# --- user-supplied certificates: refused once expired ---------------------------------------

def check_supplied(data: bytes, variable: str, err, at: datetime.datetime | None = None,
                   label: str = "") -> None:
    """An expired (or not yet valid) certificate in a file the user names is an error."""
    from cryptography import x509

    at = at or now()
    try:
        certs = x509.load_pem_x509_certificates(data)
    except ValueError:
        return  # reported by the format checks
    what = f"{label} " if label else ""
    for i, cert in enumerate(certs):
        which = "the certificate" if i == 0 else f"certificate {i + 1} of the chain"
        subject = _name(cert.subject)
        if at >= cert.not_valid_after_utc:
            err(f"{variable}: {what}{which} ({subject}) expired on "
                f"{day(cert.not_valid_after_utc)}; accepted: a certificate valid today "
                f"({day(at)}); put the renewed files in place ({README_SECTION})")
        elif at < cert.not_valid_before_utc:
            err(f"{variable}: {what}{which} ({subject}) is not valid until "
                f"{iso(cert.not_valid_before_utc)} and this host's clock says {iso(at)}; "
                "accepted: a certificate valid now; check the clock of this host")


# --- what generate says, and what it re-issues ---------------------------------------------

def renewal_due(cert_pem: bytes, ca_cert_pem: bytes | None, window: int,
                at: datetime.datetime | None = None) -> bool:
    """A leaf the wrapper made is re-issued when it expires within the window, provided a
    new one would live longer (it never outlives its CA)."""
    from cryptography import x509

    at = at or now()
    leaf = x509.load_pem_x509_certificates(cert_pem)[0]
    if made_ahead(leaf, at):
        return True
    if leaf.not_valid_after_utc - at > datetime.timedelta(days=window):
        return False
    if ca_cert_pem is None:
        return True
    ca = x509.load_pem_x509_certificates(ca_cert_pem)[0]
    return ca.not_valid_after_utc > leaf.not_valid_after_utc + datetime.timedelta(minutes=1)


def made_ahead(cert: x509.Certificate, at: datetime.datetime | None = None) -> bool:
    """Its validity starts later than this host's clock, beyond the skew allowed: made under
    a clock that was ahead (or this clock is behind). The wrapper re-issues its own."""
    return cert.not_valid_before_utc > (at or now()) + _SKEW


def _renewals(read, window: int, at: datetime.datetime) -> list[datetime.datetime]:
    """When each certificate the wrapper made in a generation falls due for re-issue: a leaf
    that expires within the window (only if a new one would outlive it), and at once any
    certificate (CA or leaf) whose validity starts after `at`."""
    from cryptography import x509

    soon = datetime.datetime.min.replace(tzinfo=datetime.timezone.utc)
    for ca_file in (HTTPS_CA, f"{INTERNAL_DIR}/{internal_tls.CA}.crt"):
        try:
            ca = x509.load_pem_x509_certificates(read(ca_file) or b"")
        except ValueError:
            continue
        if ca and _made_here(ca[0]) and made_ahead(ca[0], at):
            return [soon]

    pairs = [(SERVER, HTTPS_CA)]
    pairs += [(f"{INTERNAL_DIR}/{stem}.crt", f"{INTERNAL_DIR}/{internal_tls.CA}.crt")
              for stem in internal_tls.CERTIFICATES]
    pairs.append((TOKEN, None))
    moments = []
    for leaf_file, ca_file in pairs:
        leaf_pem = read(leaf_file)
        if not leaf_pem:
            continue
        try:
            leaf = x509.load_pem_x509_certificates(leaf_pem)[0]
            if leaf_file != TOKEN and not _made_here(leaf):
                continue
            if made_ahead(leaf, at):
                moments.append(soon)
                continue
            ca_pem = read(ca_file) if ca_file else None
            if ca_pem and x509.load_pem_x509_certificates(ca_pem)[0].not_valid_after_utc <= \
                    leaf.not_valid_after_utc + datetime.timedelta(minutes=1):
                continue  # its CA ends first: nothing to gain (generate warns instead)
        except (ValueError, IndexError):
            moments.append(soon)
            continue  # unreadable: let the full path make it again
        moments.append(leaf.not_valid_after_utc - datetime.timedelta(days=window))
    return moments


def renewal_pending(root: str, window: int, at: datetime.datetime | None = None) -> bool:
    """True when a leaf the wrapper made in the generation at root is due for re-issue:
    the fast path of a rerun must then not stop early."""
    at = at or now()
    return any(moment <= at for moment in _renewals(_file_reader(root), window, at))


def schedule(files: dict[str, bytes], window: int) -> dict[str, int | None]:
    """For the marker of a new generation, its one expiry state (epoch seconds): nothing is
    due while valid_from - skew <= now < min(renew_at, warn_at). renew_at: from when a rerun
    must re-issue a leaf; warn_at: from when it must warn; valid_from: the latest start of
    validity of every certificate (a clock behind it must look at them). The fast path of a
    rerun compares the clock with them instead of parsing certificates."""
    at = now()
    renewals = _renewals(files.get, window, at)
    warn, starts = [], []
    for c in inventory(files.get):
        limit = window if c.made_here else max(window, USER_WARNING_DAYS)
        warn.append(at if c.not_before > at else c.not_after - datetime.timedelta(days=limit))
        starts.append(c.not_before)

    def epoch(moments, latest=False):
        if not moments:
            return None
        return int(max((max if latest else min)(moments).timestamp(), 0))
    return {"renew_at": epoch(renewals), "warn_at": epoch(warn),
            "valid_from": epoch(starts, latest=True)}


def warnings(entries: list[Certificate], window: int,
             at: datetime.datetime | None = None) -> list[str]:
    """One line per certificate that has expired or expires within the window."""
    at = at or now()
    out = []
    for c in entries:
        state = c.state(at, window)
        if state == "ok":
            continue
        if state == NOT_YET_VALID:
            out.append(not_yet_valid_warning(c, at))
            continue
        when = (f"expired on {day(c.not_after)}" if state == "expired"
                else f"expires on {day(c.not_after)} (in {int(c.days_left(at))} days)")
        if c.made_here and c.is_ca:
            kind = "https CA" if c.file == HTTPS_CA else "internal TLS CA"
            flag = "--renew-ca " + ("https" if kind == "https CA" else "internal")
            out.append(
                f"the {kind} the wrapper made ({c.subject}, {c.file}) {when}; the certificates "
                f"it signs cannot be re-issued beyond that date. Replace it on purpose: "
                f"`harbor-setupwrapper generate {flag}` makes a new CA"
                + (" and new certificates; clients must then trust the new ca.crt"
                   if kind == "https CA" else "; then restart every Harbor service")
                + f" ({README_SECTION})")
        elif c.made_here:
            out.append(f"the {c.role} certificate the wrapper made ({c.file}) {when}; it is "
                       "re-issued when a new one can outlive it, which its CA does not allow")
        else:
            out.append(f"{c.variable}: the {c.role} certificate ({c.subject}, {c.file}) {when}; "
                       f"put the renewed files in place and run again ({README_SECTION})")
    return out


def not_yet_valid_warning(c: Certificate, at: datetime.datetime) -> str:
    what = (f"the {c.role} certificate the wrapper made ({c.file})" if c.made_here else
            f"{c.variable}: the {c.role} certificate ({c.subject}, {c.file})")
    then = ("the next `harbor-setupwrapper generate` re-issues it for the same key"
            if c.made_here else "it is left as it is: check the clock of this host, or put "
            f"a certificate valid now in place ({README_SECTION})")
    return (f"{what} is not valid until {iso(c.not_before)}; this host's clock says "
            f"{iso(at)}; {then}")


def expiry_warnings(out: str, window: int, at: datetime.datetime | None = None) -> list[str]:
    """Warnings about the generation in use; none at all inside its marker's quiet
    interval (marker.expiry_due)."""
    from . import tree
    from .marker import expiry_due

    if not expiry_due(tree.read_marker(out), None if at is None else at.timestamp()):
        return []
    return warnings(in_use(os.path.join(out, tree.CURRENT)), window, at)


# --- replacing a CA the wrapper made: only when asked (generate --renew-ca) -----------------

CA_ITEMS = {"https": ("https/ca.pem", ("https/server.crt",)),
            "internal": ("internal/ca.pem",
                         tuple(f"internal/{stem}.crt" for stem in internal_tls.CERTIFICATES))}


def retire_ca(store, which: str, at: datetime.datetime | None = None) -> str:
    """Moves the CA item aside (kept as <item>.retired-<time>) and drops the certificates it
    signed, so that this run makes a new CA and re-issues them for the same keys.
    The only function of this module that writes (into the store, under the run's lock)."""
    ca_item, leaves = CA_ITEMS[which]
    if not os.path.exists(store.path(ca_item)):
        return f"no {which} CA made by the wrapper here: nothing to replace"
    stamp = (at or now()).strftime("%Y%m%dT%H%M%SZ")
    os.rename(store.path(ca_item), store.path(f"{ca_item}.retired-{stamp}"))
    for leaf in leaves:
        try:
            os.unlink(store.path(leaf))
        except FileNotFoundError:
            pass
    return f"{which} CA moved to {store.path(ca_item)}.retired-{stamp}; a new one is made now"
