"""Every certificate the wrapper makes for a server (the https server certificate and each
internal TLS one) is valid for at most 397 days, unless HARBOR_HTTPS_CERT_VALIDITY_DAYS asks
for more; its CAs keep their long life. Every combination that changes which certificates are
made is enumerated."""

from __future__ import annotations

import itertools
import os

import pytest

from wrapper import certificates, generate, pki, schema
from wrapper.settings import load

HOST = "harbor.example.test"
LIMIT = 397
SWITCHES = {"HARBOR_INTERNAL_TLS_ENABLED": ("false", "true"),
            "HARBOR_WITH_TRIVY": ("false", "true"),
            "HARBOR_EXTERNAL_DATABASE_HARBOR_HOST": (None, "pg.example.test")}
CASES = [dict(zip(SWITCHES, values)) for values in itertools.product(*SWITCHES.values())]


def made(out, variables: dict) -> list[certificates.Certificate]:
    env = {"HARBOR_HOSTNAME": HOST, **{k: v for k, v in variables.items() if v is not None}}
    with open(os.devnull, "w") as quiet:
        generate.generate(str(out), load(env), steps=generate.Steps(quiet))
    return certificates.in_use(os.path.join(out, "current"))


def lifetime_days(c: certificates.Certificate) -> float:
    return (c.not_after - c.not_before).total_seconds() / 86400


def servers(entries):
    return [c for c in entries if c.made_here and not c.is_ca and c.file != certificates.TOKEN]


def test_the_default_is_397_days():
    assert schema.BY_KEY["https.cert_validity_days"].default == LIMIT


def test_the_variable_names_the_client_limits():
    doc = schema.BY_KEY["https.cert_validity_days"].doc
    assert "825 days" in doc and "398 days" in doc and "Apple" in doc and "Chrome" in doc


@pytest.mark.parametrize("variables", CASES, ids=lambda v: ",".join(f"{k[7:]}={v[k]}" for k in v))
def test_every_server_certificate_lives_at_most_397_days(out, variables):
    entries = made(out, variables)
    leaves = servers(entries)
    internal = variables["HARBOR_INTERNAL_TLS_ENABLED"] == "true"
    expected = 1  # the https server certificate
    if internal:
        expected += 6  # proxy, portal, core, job_service, registry, registryctl
        expected += variables["HARBOR_WITH_TRIVY"] == "true"
        expected += variables["HARBOR_EXTERNAL_DATABASE_HARBOR_HOST"] is None  # harbor_db
    assert len(leaves) == expected, [c.file for c in leaves]
    for c in leaves:
        # notBefore is set 5 minutes back (clock skew): the lifetime counted from it
        assert lifetime_days(c) <= LIMIT + 1 / 288, (c.file, lifetime_days(c))
    for ca in (c for c in entries if c.made_here and c.is_ca):
        assert lifetime_days(ca) >= 3650, ca.file


@pytest.mark.parametrize("days", [398, 825, 3650])
def test_the_variable_asks_for_more(out, days):
    entries = made(out, {"HARBOR_INTERNAL_TLS_ENABLED": "true",
                         "HARBOR_HTTPS_CERT_VALIDITY_DAYS": str(days)})
    leaves = servers(entries)
    assert leaves and all(days - 1 < lifetime_days(c) <= days + 1 / 288 for c in leaves)


def test_a_longer_certificate_made_before_is_reissued_at_the_new_default(out):
    """A store from a version whose default was 3650 days: the next run re-issues the server
    certificates at 397 days, for the same keys."""
    first = servers(made(out, {"HARBOR_INTERNAL_TLS_ENABLED": "true",
                               "HARBOR_HTTPS_CERT_VALIDITY_DAYS": "3650"}))
    again = servers(made(out, {"HARBOR_INTERNAL_TLS_ENABLED": "true"}))
    assert {c.file for c in again} == {c.file for c in first}
    assert all(lifetime_days(c) <= LIMIT + 1 / 288 for c in again)
    store = os.path.join(out, ".store")
    for c in again:
        stem = "https/server" if c.file == certificates.SERVER else \
            "internal/" + os.path.basename(c.file)[:-4]
        with open(os.path.join(out, "current", c.file), "rb") as cert, \
                open(os.path.join(store, f"{stem}.key"), "rb") as key:
            assert pki.key_matches(cert.read(), key.read()), c.file
