"""A Keys object with fixed values, for rendering components without any I/O."""

import functools

from wrapper.keys import Keys


@functools.cache
def session_keys() -> Keys:
    """One fixed key set per test session, for property tests (hypothesis must not print it)."""
    from wrapper import pki

    return fixed_keys(pki.new_token_key())


def fixed_keys(token_key: bytes, internal: bool = False) -> Keys:
    from wrapper import internal_tls, pki

    ca_key, ca_cert = pki.new_ca("test CA", 30)
    server_key = pki.new_ec_key()
    keys = Keys(
        secretkey="0123456789abcdef", core_secret="coresecret000001",
        jobservice_secret="jobsecret0000001", csrf_key="c" * 32,
        registry_password="r" * 32, registry_htpasswd="harbor_registry_user:$2b$05$x\n",
        robot_prefix="robotpfx", registry_http_secret="h" * 32, database_password="dbpass",
        token_key=token_key, token_cert=pki.token_cert(token_key),
        https_cert=pki.issue(ca_key, ca_cert, server_key, "h", ["h"], 30), https_key=server_key,
        https_ca=ca_cert)
    keys.internal_ca = ca_cert
    for stem in internal_tls.CERTIFICATES:
        key = pki.new_ec_key()
        keys.internal[stem] = (pki.issue(ca_key, ca_cert, key, stem, [stem], 30), key)
    return keys
