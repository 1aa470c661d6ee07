"""Certificate lifecycle: `status`, expiry warnings, re-issue of the wrapper's own leaf
certificates, `--renew-ca`, and the refusal of an expired user certificate.

The clock is moved in-process (certificates.now and pki._now patched together); the CLI runs
under Debian's faketime in tests/e2e/test_certs.py.
"""

from __future__ import annotations

import datetime
import re
import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from support import REPO, clean_env, run_wrapper, snapshot
from wrapper import certificates, cli, pki, status

HOST = "harbor.example.test"
BASE = {"HARBOR_HOSTNAME": HOST, "HARBOR_ADMIN_PASSWORD": "s3cret-admin-pw"}
UTC = datetime.timezone.utc
DAY = datetime.timedelta(days=1)
MADE_ENV = {**BASE, "HARBOR_INTERNAL_TLS_ENABLED": "true", "HARBOR_HTTPS_CERT_VALIDITY_DAYS": "40"}


def real_now() -> datetime.datetime:
    return datetime.datetime.now(UTC)


# --- helpers ------------------------------------------------------------------------------

def _cert(subject: str, issuer_key, issuer_name, key, not_before, not_after, ca=False,
          sans=()) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    builder = (x509.CertificateBuilder().subject_name(name)
               .issuer_name(issuer_name or name).public_key(key.public_key())
               .serial_number(x509.random_serial_number())
               .not_valid_before(not_before).not_valid_after(not_after)
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if sans:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.DNSName(s) for s in sans]), critical=False)
    return builder.sign(issuer_key or key, hashes.SHA256())


def user_certificate(folder: Path, not_before, not_after, ca_not_after=None) -> tuple[Path, Path,
                                                                                      bytes]:
    """A server certificate for HOST from a test CA (a corporate or ACME one, say)."""
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = _cert("Test Corp CA", None, None, ca_key, real_now() - 400 * DAY,
               ca_not_after or real_now() + 3000 * DAY, ca=True)
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = _cert(HOST, ca_key, ca.subject, key, not_before, not_after, sans=(HOST,))
    pem = lambda c: c.public_bytes(serialization.Encoding.PEM)  # noqa: E731
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "tls.crt").write_bytes(pem(leaf) + pem(ca))
    (folder / "tls.key").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    return folder / "tls.crt", folder / "tls.key", pem(ca)


def run(argv: list[str], variables: dict, monkeypatch, at=None) -> tuple[int, str, str]:
    """cli.main in this process, with these variables and, optionally, the clock at `at`."""
    for name in [k for k in os.environ if k.startswith("HARBOR_")]:
        monkeypatch.delenv(name)
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    if at is not None:
        monkeypatch.setattr(certificates, "now", lambda: at)
        monkeypatch.setattr(pki, "_now", lambda: at)
    out, err = io.StringIO(), io.StringIO()
    monkeypatch.setattr(sys, "stdout", out)
    monkeypatch.setattr(sys, "stderr", err)
    from wrapper import generate as gen

    monkeypatch.setattr(gen.Steps.__init__, "__defaults__", (err,))
    code = cli.main(argv)
    monkeypatch.undo()
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def made(tmp_path_factory) -> Path:
    """One generation with internal TLS, made once (the RSA token key is slow)."""
    out = tmp_path_factory.mktemp("made") / "out"
    result = run_wrapper(["generate", "--out", str(out)], MADE_ENV)
    assert result.returncode == 0, result.stderr
    return out


@pytest.fixture
def out(made, tmp_path, monkeypatch) -> Path:
    """A copy of it, generated once more at its new path (the path is part of the inputs)."""
    copy = tmp_path / "out"
    shutil.copytree(made, copy, symlinks=True)
    assert run(["generate", "--out", str(copy)], MADE_ENV, monkeypatch)[0] == 0
    return copy


def leaf(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificates(path.read_bytes())[0]


# --- status ---------------------------------------------------------------------------------

def test_status_lists_every_certificate_with_its_facts(out):
    result = run_wrapper(["status", "--out", str(out), "--json"], {})
    assert result.returncode == 0, result.stdout + result.stderr
    r = json.loads(result.stdout)
    marker = json.loads((out / "ready").read_text())
    assert r["generation"] == marker["generation"] == os.readlink(out / "current").split("/")[-1]
    assert r["settings_hmac"] == marker["settings"] and r["harbor"] == "v2.15.2"
    assert r["status"] == "OK" and r["code"] == 0 and r["warning_days"] == 30
    by_role = {c["role"]: c for c in r["certificates"]}
    assert set(by_role) == {"https server", "https CA", "internal TLS CA",
                            "token signing (root.crt)"} | {
        f"internal TLS {stem}" for stem in ("proxy", "portal", "core", "job_service", "registry",
                                            "registryctl", "harbor_db")}
    server = by_role["https server"]
    cert = leaf(out / "secret/cert/server.crt")
    assert server["sans"] == [HOST] and server["subject"] == f"CN={HOST}"
    assert server["sha256"].replace(":", "").lower() == cert.fingerprint(hashes.SHA256()).hex()
    assert server["not_after"] == cert.not_valid_after_utc.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert server["made_by"] == "wrapper" and server["days_left"] in (39, 40)
    assert by_role["https CA"]["days_left"] >= 3649  # the CA outlives its leaf certificates
    assert by_role["internal TLS core"]["sans"] == ["core"]
    text = run_wrapper(["status", "--out", str(out)], {}).stdout
    for line in (f"generation:    {r['generation']}", "Harbor:        v2.15.2",
                 f"  SHA-256:     {server['sha256']}", f"  SANs:        {HOST}",
                 "status:        OK (exit 0)"):
        assert line in text


def test_status_prints_no_secret(out):
    printed = run_wrapper(["status", "--out", str(out), "--json"], {}).stdout + run_wrapper(
        ["status", "--out", str(out)], {}).stdout
    store = out / ".store"
    for item in ("secretkey", "core_secret", "csrf_key", "registry_password", "fingerprint.key"):
        assert (store / item).read_bytes().decode("latin-1") not in printed
    assert "PRIVATE KEY" not in printed and BASE["HARBOR_ADMIN_PASSWORD"] not in printed


def test_status_writes_nothing_and_works_on_a_read_only_mount(out):
    (out / ".lock").unlink(missing_ok=True)
    before = snapshot(out)
    script = (f"mount --bind {out} {out} && mount -o remount,bind,ro {out} && "
              f"touch {out}/probe 2>/dev/null && exit 99; "
              f"exec {sys.executable} -m wrapper status --out {out}")
    result = subprocess.run(["unshare", "-m", "sh", "-c", script], cwd=REPO, env=clean_env(),
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "status:        OK" in result.stdout
    assert snapshot(out) == before and not (out / ".lock").exists()


def test_status_exit_codes_follow_the_window(out, monkeypatch):
    now = real_now()
    assert run(["status", "--out", str(out)], {}, monkeypatch, at=now)[0] == status.OK
    # 40-day server certificate: inside a 45-day window, and then expired
    code, text, _ = run(["status", "--out", str(out), "--warning-days", "45"], {}, monkeypatch,
                        at=now)
    assert code == status.WARNING and "https server (made by the wrapper): EXPIRING" in text
    code, _, _ = run(["status", "--out", str(out)], {"HARBOR_CERT_WARNING_DAYS": "45"},
                     monkeypatch, at=now)
    assert code == status.WARNING
    code, text, _ = run(["status", "--out", str(out)], {}, monkeypatch, at=now + 41 * DAY)
    assert code == status.CRITICAL and "status:        CRITICAL (exit 2)" in text
    assert "https server (made by the wrapper): EXPIRED" in text


def test_status_without_generation_or_with_a_bad_window_is_unknown(tmp_path, out, monkeypatch):
    code, text, _ = run(["status", "--out", str(tmp_path / "none")], {}, monkeypatch)
    assert code == status.UNKNOWN and "no generation in" in text
    assert not (tmp_path / "none").exists()
    code, _, err = run(["status", "--out", str(out)], {"HARBOR_CERT_WARNING_DAYS": "soon"},
                       monkeypatch)
    assert code == status.UNKNOWN
    assert "HARBOR_CERT_WARNING_DAYS: 'soon' is not accepted; accepted: a whole number" in err
    code, _, err = run(["status", "--out", str(out), "--warning-days", "-1"], {}, monkeypatch)
    assert code == status.UNKNOWN and "--warning-days: accepted" in err


# --- re-issue of the wrapper's own leaf certificates -----------------------------------------

def test_leaf_certificates_are_reissued_within_the_window_same_ca_same_key(out, monkeypatch):
    server, ca = out / "secret/cert/server.crt", out / "secret/cert/ca.crt"
    old_server, old_ca = leaf(server), ca.read_bytes()
    old_key = (out / "secret/cert/server.key").read_bytes()
    old_core = leaf(out / "secret/tls/core.crt")
    later = real_now() + 15 * DAY   # 25 days left: inside the default 30-day window
    code, _, err = run(["generate", "--out", str(out)], MADE_ENV, monkeypatch, at=later)
    assert code == 0, err
    assert "unchanged" not in err  # the fast path did not stop the re-issue
    new = leaf(server)
    assert new.not_valid_after_utc > old_server.not_valid_after_utc + 14 * DAY
    assert new.subject == old_server.subject and pki.sans_of(new) == {HOST}
    assert ca.read_bytes() == old_ca
    assert (out / "secret/cert/server.key").read_bytes() == old_key
    new.verify_directly_issued_by(x509.load_pem_x509_certificate(old_ca))
    assert leaf(out / "secret/tls/core.crt").serial_number != old_core.serial_number
    assert pki.key_matches((out / "secret/tls/core.crt").read_bytes(),
                           (out / "secret/tls/core.key").read_bytes())
    # renewed: the next run at the same moment changes nothing and warns about nothing
    before = snapshot(out)
    code, _, err = run(["generate", "--out", str(out)], MADE_ENV, monkeypatch, at=later)
    assert code == 0 and "unchanged" in err and "warning" not in err
    assert snapshot(out) == before


def test_outside_the_window_nothing_is_reissued(out, monkeypatch):
    before = snapshot(out)
    code, _, err = run(["generate", "--out", str(out)], MADE_ENV, monkeypatch,
                       at=real_now() + 5 * DAY)
    assert code == 0 and "unchanged" in err and "warning" not in err
    assert snapshot(out) == before


def test_token_certificate_is_reissued_for_the_same_key(out, monkeypatch):
    old = (out / "secret/registry/root.crt").read_bytes()
    key = (out / "secret/core/private_key.pem").read_bytes()
    code, _, err = run(["generate", "--out", str(out)], MADE_ENV, monkeypatch,
                       at=real_now() + 3640 * DAY)
    assert code == 0, err
    new = (out / "secret/registry/root.crt").read_bytes()
    assert new != old and pki.key_matches(new, key, trusted=True)
    assert (out / "secret/core/private_key.pem").read_bytes() == key


def test_ca_near_expiry_is_a_warning_with_the_procedure(out, monkeypatch):
    code, _, err = run(["generate", "--out", str(out)], MADE_ENV, monkeypatch,
                       at=real_now() + 3640 * DAY)
    assert code == 0
    assert ("warning: the https CA the wrapper made (CN=Harbor CA (harbor-setupwrapper),"
            "O=harbor-setupwrapper, secret/cert/ca.crt) expires on ") in err
    assert ("Replace it on purpose: `harbor-setupwrapper generate --renew-ca https` makes a new "
            "CA and new certificates; clients must then trust the new ca.crt "
            "(README, section Certificates)") in err
    assert "`harbor-setupwrapper generate --renew-ca internal` makes a new CA; then restart " \
           "every Harbor service" in err
    # the CA is never replaced without being asked
    assert "https/ca.pem" in {str(p.relative_to(out / ".store")) for p in
                              (out / ".store").rglob("*.pem")}
    code, text, _ = run(["status", "--out", str(out)], MADE_ENV, monkeypatch,
                        at=real_now() + 3640 * DAY)
    assert code == status.WARNING and "https CA (made by the wrapper): EXPIRING" in text


def test_a_leaf_is_never_issued_beyond_its_ca(out, monkeypatch):
    at = real_now() + 3640 * DAY
    code, _, err = run(["generate", "--out", str(out)], MADE_ENV, monkeypatch, at=at)
    ca = leaf(out / "secret/cert/ca.crt")
    assert leaf(out / "secret/cert/server.crt").not_valid_after_utc <= ca.not_valid_after_utc
    assert ("warning: the https server certificate the wrapper made (secret/cert/server.crt) "
            "expires on ") in err and "which its CA does not allow" in err
    # and it is not re-issued again on every run
    before = snapshot(out)
    code, _, err = run(["generate", "--out", str(out)], MADE_ENV, monkeypatch, at=at)
    assert "unchanged" in err and snapshot(out) == before


def test_renew_ca_makes_a_new_ca_and_keeps_the_keys(out, monkeypatch):
    old_ca = (out / "secret/cert/ca.crt").read_bytes()
    old_internal = (out / "secret/tls/harbor_internal_ca.crt").read_bytes()
    key = (out / "secret/cert/server.key").read_bytes()
    code, _, err = run(["generate", "--out", str(out), "--renew-ca", "https"], MADE_ENV,
                       monkeypatch)
    assert code == 0, err
    new_ca = (out / "secret/cert/ca.crt").read_bytes()
    assert new_ca != old_ca and "https CA moved to" in err
    leaf(out / "secret/cert/server.crt").verify_directly_issued_by(
        x509.load_pem_x509_certificate(new_ca))
    assert (out / "secret/cert/server.key").read_bytes() == key
    assert (out / "secret/tls/harbor_internal_ca.crt").read_bytes() == old_internal
    retired = list((out / ".store/https").glob("ca.pem.retired-*"))
    assert len(retired) == 1 and old_ca in retired[0].read_bytes()
    code, _, err = run(["generate", "--out", str(out), "--renew-ca", "internal"], MADE_ENV,
                       monkeypatch)
    assert code == 0 and (out / "secret/tls/harbor_internal_ca.crt").read_bytes() != old_internal
    leaf(out / "secret/tls/core.crt").verify_directly_issued_by(
        leaf(out / "secret/tls/harbor_internal_ca.crt"))


def test_a_rerun_reads_the_dates_in_the_marker_not_the_certificates(out):
    marker = json.loads((out / "ready").read_text())
    server = leaf(out / "secret/cert/server.crt")
    assert marker["renew_at"] == int((server.not_valid_after_utc - 30 * DAY).timestamp())
    assert marker["warn_at"] == marker["renew_at"]  # the server certificate ends first
    script = ("import sys; from wrapper import cli; code = cli.main(['generate', '--out', "
              f"{str(out)!r}]); assert code == 0; "
              "print(sorted(m for m in sys.modules if m.startswith('cryptography'))[:3])")
    result = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True,
                            text=True, env=clean_env(MADE_ENV))
    assert result.returncode == 0 and "unchanged" in result.stderr, result.stderr
    assert result.stdout.strip() == "[]"  # the fast path imports no cryptography


def test_a_marker_without_dates_still_gets_its_certificates_reissued(out, monkeypatch):
    """Generations made before renew_at / warn_at existed."""
    ready = Path(os.path.realpath(out / "ready"))
    marker = json.loads(ready.read_text())
    del marker["renew_at"], marker["warn_at"]
    ready.write_text(json.dumps(marker))
    old = leaf(out / "secret/cert/server.crt")
    code, _, err = run(["generate", "--out", str(out)], MADE_ENV, monkeypatch,
                       at=real_now() + 15 * DAY)
    assert code == 0 and "unchanged" not in err
    assert leaf(out / "secret/cert/server.crt").not_valid_after_utc > old.not_valid_after_utc


# --- certificates the user brings -------------------------------------------------------------

def test_expired_user_certificate_is_refused_naming_variable_and_date(out, tmp_path,
                                                                      monkeypatch):
    expired_on = real_now() - 3 * DAY
    crt, key, _ = user_certificate(tmp_path / "u", real_now() - 90 * DAY, expired_on)
    before = snapshot(out)
    code, _, err = run(["generate", "--out", str(out)],
                       {**BASE, "HARBOR_HTTPS_CERTIFICATE": str(crt),
                        "HARBOR_HTTPS_PRIVATE_KEY": str(key)}, monkeypatch)
    assert code == 2
    assert (f"HARBOR_HTTPS_CERTIFICATE: the certificate (CN={HOST}) expired on "
            f"{expired_on:%Y-%m-%d}; accepted: a certificate valid today") in err
    assert snapshot(out) == before


def test_expired_certificate_in_the_user_chain_is_refused(tmp_path, monkeypatch):
    ca_end = real_now() - DAY
    crt, key, _ = user_certificate(tmp_path / "u", real_now() - 9 * DAY, real_now() + 90 * DAY,
                                   ca_not_after=ca_end)
    code, _, err = run(["check"], {**BASE, "HARBOR_HTTPS_CERTIFICATE": str(crt),
                                   "HARBOR_HTTPS_PRIVATE_KEY": str(key)}, monkeypatch)
    assert code == 2 and (f"HARBOR_HTTPS_CERTIFICATE: certificate 2 of the chain (CN=Test Corp "
                          f"CA) expired on {ca_end:%Y-%m-%d}") in err


def test_user_certificate_not_valid_yet_is_refused(tmp_path, monkeypatch):
    crt, key, _ = user_certificate(tmp_path / "u", real_now() + 2 * DAY, real_now() + 90 * DAY)
    code, _, err = run(["check"], {**BASE, "HARBOR_HTTPS_CERTIFICATE": str(crt),
                                   "HARBOR_HTTPS_PRIVATE_KEY": str(key)}, monkeypatch)
    assert code == 2 and f"HARBOR_HTTPS_CERTIFICATE: the certificate (CN={HOST}) is not valid " \
                         "until " in err and "this host's clock says" in err and "check the clock of this host" in err


@pytest.mark.parametrize("days,window,warned", [(5, "30", True), (5, "0", True),
                                                (20, "0", False), (20, "30", True),
                                                (60, "30", False)])
def test_user_certificate_near_expiry_is_a_warning(out, tmp_path, monkeypatch, days, window,
                                                   warned):
    ends = real_now() + days * DAY
    crt, key, _ = user_certificate(tmp_path / "u", real_now() - DAY, ends)
    code, _, err = run(["generate", "--out", str(out)],
                       {**BASE, "HARBOR_HTTPS_CERTIFICATE": str(crt),
                        "HARBOR_HTTPS_PRIVATE_KEY": str(key),
                        "HARBOR_CERT_WARNING_DAYS": window}, monkeypatch)
    assert code == 0, err
    message = (f"warning: HARBOR_HTTPS_CERTIFICATE: the https server certificate (CN={HOST}, "
               f"secret/cert/server.crt) expires on {ends:%Y-%m-%d} (in {days - 1} days); put "
               "the renewed files in place and run again (README, section Certificates)")
    assert (message in err) is warned, err
    assert err.count("HARBOR_HTTPS_CERTIFICATE:") == (1 if warned else 0)


def test_user_certificate_change_makes_a_new_generation_and_keeps_every_key(out, tmp_path,
                                                                           monkeypatch):
    crt, key, _ = user_certificate(tmp_path / "u", real_now() - DAY, real_now() + 90 * DAY)
    env = {**BASE, "HARBOR_HTTPS_CERTIFICATE": str(crt), "HARBOR_HTTPS_PRIVATE_KEY": str(key)}
    assert run(["generate", "--out", str(out)], env, monkeypatch)[0] == 0
    keys = {p: (out / p).read_bytes() for p in ("secret/keys/secretkey",
                                                 "secret/core/private_key.pem",
                                                 "secret/registry/root.crt")}
    first = os.readlink(out / "current")
    user_certificate(tmp_path / "u", real_now() - DAY, real_now() + 400 * DAY)  # renewed files
    code, _, err = run(["generate", "--out", str(out)], env, monkeypatch)
    assert code == 0 and "unchanged" not in err
    assert os.readlink(out / "current") != first
    assert (out / "secret/cert/server.crt").read_bytes() == crt.read_bytes()
    assert {p: (out / p).read_bytes() for p in keys} == keys


def test_expired_internal_tls_dir_certificate_is_refused(tmp_path, monkeypatch):
    from wrapper import internal_tls

    folder = tmp_path / "tls"
    folder.mkdir()
    ca_key, ca = pki.new_ca("internal", 30)
    (folder / f"{internal_tls.CA}.crt").write_bytes(ca)
    for stem, name in internal_tls.CERTIFICATES.items():
        key = pki.new_ec_key()
        (folder / f"{stem}.key").write_bytes(key)
        (folder / f"{stem}.crt").write_bytes(pki.issue(ca_key, ca, key, name, [name], 30))
    env = {**BASE, "HARBOR_INTERNAL_TLS_DIR": str(folder)}
    assert run(["check"], env, monkeypatch)[0] == 0
    code, _, err = run(["check"], env, monkeypatch, at=real_now() + 31 * DAY)
    assert code == 2 and "HARBOR_INTERNAL_TLS_DIR: harbor_internal_ca.crt the certificate " \
                         "(CN=internal,O=harbor-setupwrapper) expired on " in err


# --- settings -----------------------------------------------------------------------------------

def test_window_must_be_below_the_validity(monkeypatch):
    code, _, err = run(["check"], {**BASE, "HARBOR_HTTPS_CERT_VALIDITY_DAYS": "30"}, monkeypatch)
    assert code == 2 and ("HARBOR_CERT_WARNING_DAYS: 30 is not below "
                          "HARBOR_HTTPS_CERT_VALIDITY_DAYS (30); accepted: fewer days") in err
    code, _, err = run(["check"], {**BASE, "HARBOR_CERT_WARNING_DAYS": "-2"}, monkeypatch)
    assert code == 2 and "HARBOR_CERT_WARNING_DAYS: the value '-2' is out of range" in err
    code, _, err = run(["check"], {**BASE, "HARBOR_HTTPS_CERT_VALIDITY_DAYS": "0"}, monkeypatch)
    assert code == 2 and "HARBOR_HTTPS_CERT_VALIDITY_DAYS: the value '0' is out of range" in err
    assert "HARBOR_CERT_WARNING_DAYS" not in err  # one message per problem
    assert run(["check"], {**BASE, "HARBOR_HTTPS_CERT_VALIDITY_DAYS": "31"}, monkeypatch)[0] == 0


# --- the README's procedures --------------------------------------------------------------------

def readme_blocks() -> dict[str, str]:
    import re

    text = (REPO / "README.md").read_text()
    return dict(re.findall(r"<!-- certs:([a-z-]+) -->\n```sh\n(.*?)```", text, re.S))


def test_readme_exit_codes_are_those_of_status():
    text = (REPO / "README.md").read_text()
    for code, meaning in status.EXIT_CODES.items():
        assert f"| {code} | {meaning.replace('--warning-days / HARBOR_CERT_WARNING_DAYS', '`--warning-days` / `HARBOR_CERT_WARNING_DAYS`')} |" in text


def test_readme_procedures_use_the_files_and_options_that_exist():
    """The e2e tests (tests/e2e/test_certs.py) run these blocks; here: what they name exists."""
    blocks = readme_blocks()
    assert set(blocks) == {"status", "status-volume", "compose-up", "compose-renew", "swarm-up",
                           "swarm-renew", "renew-ca"}
    for block in blocks.values():
        for name in re.findall(r"compose/[a-z.-]+\.yml", block):
            assert (REPO / name).is_file(), name
    for option in ("--renew-ca https", "--renew-ca internal"):
        assert option in blocks["renew-ca"]
        assert option.split()[1] in cli._parser()._subparsers._group_actions[0].choices[
            "generate"].format_help()
    header = (REPO / "compose/docker-stack.certs.yml").read_text()
    for line in blocks["swarm-up"].splitlines():
        assert line.strip().rstrip("\\").strip() in header
    header = (REPO / "compose/docker-compose.certs.yml").read_text()
    for line in blocks["compose-up"].splitlines():
        assert line.strip().rstrip("\\").strip() in header
