"""Keys and certificates, all with `cryptography` (no openssl subprocess)."""

from __future__ import annotations

import datetime
import ipaddress

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

_NO_ENCRYPTION = serialization.NoEncryption()


def new_token_key() -> bytes:
    """RSA 4096 in PKCS#1 PEM (BEGIN RSA PRIVATE KEY): Harbor core's libtrust rejects PKCS#8."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=4096)
    return key.private_bytes(serialization.Encoding.PEM,
                             serialization.PrivateFormat.TraditionalOpenSSL, _NO_ENCRYPTION)


def new_ec_key() -> bytes:
    key = ec.generate_private_key(ec.SECP256R1())
    return key.private_bytes(serialization.Encoding.PEM,
                             serialization.PrivateFormat.PKCS8, _NO_ENCRYPTION)


def load_key(pem: bytes, trusted: bool = False):
    """trusted: a key we made ourselves; skips the slow RSA consistency check."""
    return serialization.load_pem_private_key(pem, password=None,
                                              unsafe_skip_rsa_key_validation=trusted)


def load_certs(pem: bytes) -> list[x509.Certificate]:
    return x509.load_pem_x509_certificates(pem)


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)


def _builder(subject: x509.Name, issuer: x509.Name, public_key, days: int,
             not_after: datetime.datetime | None = None):
    now = _now()
    end = now + datetime.timedelta(days=days)
    return (x509.CertificateBuilder()
            .subject_name(subject).issuer_name(issuer).public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(min(end, not_after) if not_after else end)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False))


def token_cert(key_pem: bytes, days: int = 3650) -> bytes:
    """root.crt as upstream makes it: empty subject, self-signed, CA, 10 years."""
    key = load_key(key_pem, trusted=True)
    empty = x509.Name([])
    cert = (_builder(empty, empty, key.public_key(), days)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(key.public_key()),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.PEM)


def new_ca(common_name: str, days: int) -> tuple[bytes, bytes]:
    key_pem = new_ec_key()
    name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "harbor-setupwrapper"),
                      x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    return key_pem, _ca_cert(key_pem, name, days)


def reissue_ca(key_pem: bytes, cert_pem: bytes) -> bytes:
    """The CA certificate anew for the same key and name, valid from now for as long as the
    old one was: what it signed still verifies under it (made under a clock that was ahead)."""
    old = load_certs(cert_pem)[0]
    days = max((old.not_valid_after_utc - old.not_valid_before_utc).days, 1)
    return _ca_cert(key_pem, old.subject, days)


def _ca_cert(key_pem: bytes, name: x509.Name, days: int) -> bytes:
    key = load_key(key_pem, trusted=True)
    cert = (_builder(name, name, key.public_key(), days)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                         content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False,
                                         encipher_only=False, decipher_only=False), critical=True)
            .sign(key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.PEM)


def _san(name: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(name))
    except ValueError:
        return x509.DNSName(name)


def issue(ca_key_pem: bytes, ca_cert_pem: bytes, key_pem: bytes, common_name: str,
          sans: list[str], days: int) -> bytes:
    """A leaf certificate for key_pem, signed by the CA, usable as TLS server and client;
    it never outlives the CA."""
    ca_key, ca_cert = load_key(ca_key_pem, trusted=True), load_certs(ca_cert_pem)[0]
    public_key = load_key(key_pem, trusted=True).public_key()
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name[:64])])
    cert = (_builder(subject, ca_cert.subject, public_key, days, ca_cert.not_valid_after_utc)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.SubjectAlternativeName([_san(n) for n in sans]), critical=False)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH,
                                                  ExtendedKeyUsageOID.CLIENT_AUTH]),
                           critical=False)
            .sign(ca_key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.PEM)


def sans_of(cert: x509.Certificate) -> set[str]:
    try:
        ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return set()
    return {str(v) for v in ext.get_values_for_type(x509.DNSName)} | {
        str(v) for v in ext.get_values_for_type(x509.IPAddress)}


def public_der(obj) -> bytes:
    return obj.public_key().public_bytes(serialization.Encoding.DER,
                                         serialization.PublicFormat.SubjectPublicKeyInfo)


def key_matches(cert_pem: bytes, key_pem: bytes, trusted: bool = False) -> bool:
    return public_der(load_certs(cert_pem)[0]) == public_der(load_key(key_pem, trusted))


def expires(cert_pem: bytes) -> datetime.datetime:
    return load_certs(cert_pem)[0].not_valid_after_utc
