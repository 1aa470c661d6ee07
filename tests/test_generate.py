"""generate end to end: the tree, keys made once, reruns, bad input, ownership, output."""

import functools
import os
import re
import subprocess
import sys
from pathlib import Path

import bcrypt
import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from support import REPO, clean_env, run_wrapper, snapshot
from wrapper import pki

BASE = {"HARBOR_HOSTNAME": "harbor.example.test", "HARBOR_ADMIN_PASSWORD": "Adm1n pass#$'\""}


def generate(out: Path, **variables) -> subprocess.CompletedProcess:
    return run_wrapper(["generate", "--out", str(out)], {**BASE, **variables})


def env_file(path: Path) -> dict[str, str]:
    return dict(line.split("=", 1) for line in path.read_text().splitlines() if line)


@functools.lru_cache(maxsize=256)
def _checkpw(password: bytes, hashed: bytes) -> bool:
    """bcrypt's answer for one pair never changes; the crash tests check the same pair
    hundreds of times."""
    return bcrypt.checkpw(password, hashed)


def check_consistent(out: Path) -> None:
    """The current generation is complete and agrees with the store."""
    store = out / ".store"
    assert (out / "ready").is_file()
    assert (out / "secret/keys/secretkey").read_bytes() == (store / "secretkey").read_bytes()
    assert (out / "secret/core/private_key.pem").read_bytes() == (
        store / "token/private_key.pem").read_bytes()
    assert pki.key_matches((out / "secret/registry/root.crt").read_bytes(),
                           (out / "secret/core/private_key.pem").read_bytes())
    core = env_file(out / "config/core/env")
    for name in ("jobservice", "registryctl"):
        other = env_file(out / f"config/{name}/env")
        assert other["CORE_SECRET"] == core["CORE_SECRET"]
        assert other["JOBSERVICE_SECRET"] == core["JOBSERVICE_SECRET"]
    user, hashed = (out / "config/registry/passwd").read_text().strip().split(":", 1)
    assert user == core["REGISTRY_CREDENTIAL_USERNAME"]
    assert _checkpw(core["REGISTRY_CREDENTIAL_PASSWORD"].encode(), hashed.encode())
    cert = (out / "secret/cert/server.crt").read_bytes()
    assert pki.key_matches(cert, (out / "secret/cert/server.key").read_bytes())
    chain = pki.load_certs(cert)
    chain[0].verify_directly_issued_by(pki.load_certs((out / "secret/cert/ca.crt").read_bytes())[0])


def test_first_run_writes_the_upstream_layout(out):
    result = generate(out)
    assert result.returncode == 0, result.stderr
    for path in ("config/core/env", "config/core/app.conf", "config/registry/config.yml",
                 "config/registry/passwd", "config/registryctl/config.yml",
                 "config/registryctl/env", "config/jobservice/config.yml", "config/jobservice/env",
                 "config/nginx/nginx.conf", "config/portal/nginx.conf", "config/db/env",
                 "config/log/logrotate.conf", "config/log/rsyslog_docker.conf",
                 "secret/keys/secretkey", "secret/core/private_key.pem",
                 "secret/registry/root.crt", "secret/cert/server.crt", "secret/cert/server.key",
                 "secret/cert/ca.crt", "entrypoints/core.sh", "entrypoints/lib.sh", "ready"):
        assert (out / path).is_file(), path
    check_consistent(out)
    secretkey = (out / "secret/keys/secretkey").read_bytes()
    assert len(secretkey) == 16 and b"\n" not in secretkey
    core = env_file(out / "config/core/env")
    assert len(core["CSRF_KEY"]) == 32 and len(core["ROBOT_SCANNER_NAME_PREFIX"]) == 8
    assert core["HARBOR_ADMIN_PASSWORD"] == BASE["HARBOR_ADMIN_PASSWORD"]
    # one concise line per step, with a duration
    assert all(re.match(r"harbor-setupwrapper: \S+ +\d+\.\d ms", line)
               for line in result.stderr.splitlines()), result.stderr


def test_keys_have_the_formats_harbor_needs(tmp_path):
    out = tmp_path / "fresh"
    assert generate(out, HARBOR_HOSTNAME="10.1.2.3",
                    HARBOR_EXTERNAL_URL="https://reg.example.com").returncode == 0
    key_pem = (out / "secret/core/private_key.pem").read_bytes()
    assert key_pem.startswith(b"-----BEGIN RSA PRIVATE KEY-----")
    key = pki.load_key(key_pem)
    assert isinstance(key, rsa.RSAPrivateKey) and key.key_size == 4096
    root = pki.load_certs((out / "secret/registry/root.crt").read_bytes())[0]
    assert root.subject == x509.Name([]) and (root.not_valid_after_utc - root.not_valid_before_utc).days >= 3649
    server = pki.load_certs((out / "secret/cert/server.crt").read_bytes())[0]
    assert pki.sans_of(server) == {"10.1.2.3", "reg.example.com"}
    assert (server.not_valid_after_utc - server.not_valid_before_utc).days == 397
    assert isinstance(server.public_key(), ec.EllipticCurvePublicKey)


def test_rerun_with_unchanged_input_changes_no_byte(out):
    assert generate(out).returncode == 0
    before = snapshot(out)
    result = generate(out)
    assert result.returncode == 0 and "unchanged" in result.stderr
    assert snapshot(out) == before


def test_rerun_with_changed_input_keeps_every_key(out):
    assert generate(out).returncode == 0
    store_before = {p: v for p, v in snapshot(out / ".store").items() if "server.crt" not in p}
    ca_before = (out / "secret/cert/ca.crt").read_bytes()
    key_before = (out / "secret/cert/server.key").read_bytes()
    old_core = env_file(out / "config/core/env")
    assert generate(out, HARBOR_HOSTNAME="new.example.test", HARBOR_LOG_LEVEL="debug").returncode == 0
    new_core = env_file(out / "config/core/env")
    assert new_core["EXT_ENDPOINT"] == "https://new.example.test" and new_core["LOG_LEVEL"] == "debug"
    for name in ("CORE_SECRET", "JOBSERVICE_SECRET", "CSRF_KEY", "REGISTRY_CREDENTIAL_PASSWORD",
                 "ROBOT_SCANNER_NAME_PREFIX", "POSTGRESQL_PASSWORD"):
        assert new_core[name] == old_core[name]
    store_after = {p: v for p, v in snapshot(out / ".store").items() if "server.crt" not in p}
    assert {p: v[0] for p, v in store_after.items()} == {p: v[0] for p, v in store_before.items()}
    assert (out / "secret/cert/ca.crt").read_bytes() == ca_before
    assert (out / "secret/cert/server.key").read_bytes() == key_before
    server = pki.load_certs((out / "secret/cert/server.crt").read_bytes())[0]
    assert pki.sans_of(server) == {"new.example.test"}
    check_consistent(out)


def test_bad_input_exits_2_without_traceback_and_writes_nothing(tmp_path):
    out = tmp_path / "never"
    result = generate(out, HARBOR_HTTP_PORT="http", HARBOR_LOG_LEVEL="loud")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = [l.strip() for l in result.stderr.splitlines()[1:]]
    assert {l.split(":")[0] for l in lines} == {"HARBOR_HTTP_PORT", "HARBOR_LOG_LEVEL"}
    assert not out.exists()


def test_bad_input_on_a_rerun_leaves_the_tree_untouched(out):
    assert generate(out).returncode == 0
    before = snapshot(out)
    assert generate(out, HARBOR_CSRF_KEY="short").returncode == 2
    assert snapshot(out) == before


def test_supplied_secret_key_is_used_and_never_replaced(out):
    assert generate(out, HARBOR_SECRET_KEY="0123456789abcdef").returncode == 0
    assert (out / "secret/keys/secretkey").read_bytes() == b"0123456789abcdef"
    before = snapshot(out)
    result = generate(out, HARBOR_SECRET_KEY="fedcba9876543210")
    assert result.returncode == 2 and "HARBOR_SECRET_KEY: differs" in result.stderr
    assert "fedcba9876543210" not in result.stderr
    assert snapshot(out) == before


def test_lost_secretkey_is_recovered_from_the_current_tree(out):
    assert generate(out).returncode == 0
    secretkey = (out / "secret/keys/secretkey").read_bytes()
    (out / ".store/secretkey").unlink()
    assert generate(out, HARBOR_LOG_LEVEL="debug").returncode == 0
    assert (out / "secret/keys/secretkey").read_bytes() == secretkey


def test_internal_tls_certificates_are_made_per_component(out):
    assert generate(out, HARBOR_INTERNAL_TLS_ENABLED="true", HARBOR_WITH_TRIVY="true").returncode == 0
    ca = pki.load_certs((out / "secret/tls/harbor_internal_ca.crt").read_bytes())[0]
    for stem, name in (("core", "core"), ("job_service", "jobservice"),
                       ("trivy_adapter", "trivy-adapter"), ("harbor_db", "harbor_db")):
        cert = (out / f"secret/tls/{stem}.crt").read_bytes()
        assert pki.sans_of(pki.load_certs(cert)[0]) == {name}
        assert pki.key_matches(cert, (out / f"secret/tls/{stem}.key").read_bytes())
        pki.load_certs(cert)[0].verify_directly_issued_by(ca)
        assert (out / f"secret/tls/{stem}.key").stat().st_mode & 0o777 == 0o600


def test_user_supplied_certificate_is_used(out, tmp_path):
    ca_key, ca_cert = pki.new_ca("user CA", 30)
    key = pki.new_ec_key()
    cert = pki.issue(ca_key, ca_cert, key, "harbor.example.test", ["harbor.example.test"], 30)
    (tmp_path / "s.crt").write_bytes(cert + ca_cert)
    (tmp_path / "s.key").write_bytes(key)
    assert generate(out, HARBOR_HTTPS_CERTIFICATE=str(tmp_path / "s.crt"),
                    HARBOR_HTTPS_PRIVATE_KEY=str(tmp_path / "s.key")).returncode == 0
    assert (out / "secret/cert/server.crt").read_bytes() == cert + ca_cert
    assert not (out / "secret/cert/ca.crt").exists()
    other = pki.new_ec_key()
    (tmp_path / "o.key").write_bytes(other)
    result = generate(out, HARBOR_HTTPS_CERTIFICATE=str(tmp_path / "s.crt"),
                      HARBOR_HTTPS_PRIVATE_KEY=str(tmp_path / "o.key"))
    assert result.returncode == 2 and "HARBOR_HTTPS_PRIVATE_KEY: does not match" in result.stderr


@pytest.mark.skipif(os.geteuid() != 0, reason="ownership is only applied when run as root")
def test_ownership_and_modes_as_upstream(out):
    assert generate(out).returncode == 0
    def owner(path):
        st = (out / path).stat()
        return st.st_uid, st.st_gid, st.st_mode & 0o777
    assert owner("secret/keys/secretkey") == (10000, 10000, 0o600)
    assert owner("secret/core/private_key.pem") == (10000, 10000, 0o600)
    assert owner("secret/cert/server.key") == (10000, 10000, 0o600)
    assert owner("config/core/env") == (10000, 10000, 0o640)
    assert owner("config/db/env") == (999, 999, 0o640)
    assert owner("config/registry/config.yml") == (10000, 10000, 0o640)
    assert (out / ".store").stat().st_mode & 0o777 == 0o700


def test_not_root_skips_chown_with_one_warning(out, monkeypatch):
    import io

    from wrapper import generate as generate_module
    from wrapper.settings import load

    monkeypatch.setattr(generate_module.os, "geteuid", lambda: 4242)
    chowned = []
    monkeypatch.setattr(os, "fchown", lambda *args: chowned.append(args))
    stream = io.StringIO()
    generate_module.generate(str(out), load(BASE), steps=generate_module.Steps(stream))
    assert stream.getvalue().count("warning: not running as root") == 1
    assert chowned == []
    assert (out / "ready").is_file()


def test_nothing_printed_contains_a_secret(out, tmp_path):
    password_file = tmp_path / "dbpw"
    password_file.write_text("Db-Secret-Value-42\n")
    variables = {**BASE, "HARBOR_DATABASE_PASSWORD_FILE": str(password_file),
                 "HARBOR_STORAGE_SERVICE_S3_BUCKET": "b", "HARBOR_STORAGE_SERVICE_S3_REGION": "r",
                 "HARBOR_STORAGE_SERVICE_S3_SECRETKEY": "S3-Secret-Value-42",
                 "HARBOR_INTERNAL_TLS_ENABLED": "true"}
    printed = ""
    for args, extra in ((["generate", "--out", str(out)], {}),
                        (["generate", "--out", str(out)], {"HARBOR_LOG_LEVEL": "debug"}),
                        (["generate", "--out", str(out)], {}),
                        (["show"], {}), (["show", "--all"], {}), (["check"], {}),
                        (["check"], {"HARBOR_SECRET_KEY": "wrong-length-secret"}),
                        (["generate", "--out", str(out)], {"HARBOR_CSRF_KEY": "x" * 31}),
                        (["generate", "--out", str(out)],
                         {"HARBOR_SECRET_KEY": "another16charkey"})):
        result = run_wrapper(args, {**variables, **extra})
        printed += result.stdout + result.stderr
    secrets = {"Db-Secret-Value-42", "S3-Secret-Value-42", BASE["HARBOR_ADMIN_PASSWORD"],
               "wrong-length-secret", "another16charkey", "x" * 31}
    for item in (out / ".store").rglob("*"):
        if item.is_file():
            data = item.read_bytes()
            if b"BEGIN" in data:
                secrets.update(line for line in data.decode().splitlines()
                               if line and not line.startswith("-----"))
            else:
                secrets.add(data.decode(errors="replace").strip())
    for name in ("core", "jobservice"):
        secrets.update(v for k, v in env_file(out / f"config/{name}/env").items()
                       if "SECRET" in k or "PASSWORD" in k or k == "CSRF_KEY")
    leaked = [s for s in secrets if len(s) >= 8 and s in printed]
    assert "HARBOR_DATABASE_PASSWORD" in printed and "********" in printed
    assert leaked == []


def test_show_reports_sources(out, tmp_path):
    harbor_yml = tmp_path / "harbor.yml"
    harbor_yml.write_text("hostname: f.example.test\nhttp:\n  port: 8081\n")
    pw = tmp_path / "pw"
    pw.write_text("secret\n")
    result = run_wrapper(["show"], {"HARBOR_CONFIG_FILE": str(harbor_yml),
                                    "HARBOR_LOG_LEVEL": "debug",
                                    "HARBOR_ADMIN_PASSWORD_FILE": str(pw)})
    rows = {line.split()[0]: line.split()[1:] for line in result.stdout.splitlines()}
    assert rows["HARBOR_HOSTNAME"] == ["f.example.test", "file"]
    assert rows["HARBOR_HTTP_PORT"] == ["8081", "file"]
    assert rows["HARBOR_LOG_LEVEL"] == ["debug", "variable"]
    assert rows["HARBOR_ADMIN_PASSWORD"] == ["********", "variable", "file"]
    assert rows["HARBOR_HTTPS_PORT"] == ["443", "default"]


def test_fixed_path_links_point_through_current(out, tmp_path):
    from wrapper import fixed_paths

    root = tmp_path / "root"
    for folder in fixed_paths.LINKS:
        (root / folder.lstrip("/")).mkdir(parents=True)
    assert generate(out).returncode == 0
    fixed_paths.link(str(out), str(root))
    link = root / "etc/registry/config.yml"
    assert os.readlink(link) == f"{out}/config/registry/config.yml"
    assert link.read_bytes() == (out / "config/registry/config.yml").read_bytes()
    assert (root / "etc/core/ca/ca.crt").read_bytes() == (out / "secret/cert/ca.crt").read_bytes()
    assert (root / "harbor_cust_cert/harbor-setupwrapper-trust.crt").read_bytes() == b""
    # internal TLS is off: the health checks' links point at files that do not exist
    assert os.readlink(root / "etc/harbor/ssl/job_service.key") == f"{out}/secret/tls/job_service.key"
    assert not (root / "etc/harbor/ssl/job_service.key").exists()


def test_health_check_certificates_at_etc_harbor_ssl_with_internal_tls(out, tmp_path):
    """The jobservice and registryctl images' own health checks read these four files."""
    from wrapper import fixed_paths

    root = tmp_path / "root"
    (root / "etc/harbor/ssl").mkdir(parents=True)
    assert generate(out, HARBOR_INTERNAL_TLS_ENABLED="true").returncode == 0
    fixed_paths.link(str(out), str(root))
    for stem in ("job_service", "registryctl"):
        for ext in ("crt", "key"):
            link = root / f"etc/harbor/ssl/{stem}.{ext}"
            target = out / f"secret/tls/{stem}.{ext}"
            assert link.read_bytes() == target.read_bytes()
            assert target.stat().st_uid == 10000 or os.geteuid() != 0  # readable by uid 10000
