"""Harbor up with `docker compose up` and variables only, end to end.

The Harbor images cannot be pulled here: the stand-ins of tests/e2e/images keep their
contract (entrypoint, user, config paths, ports), with the real nginx, distribution
registry, PostgreSQL, Redis and rsyslog, and contract doubles for core, jobservice and
registryctl. The wrapper image is built from the repo's Dockerfile.

The host name is 127.0.0.2: a loopback address other than 127.0.0.1 (which Harbor refuses).
Docker treats 127.0.0.0/8 registries as insecure and would skip certificate checks, so the
TLS trust of the generated CA is checked separately with Python's ssl module.
"""

from __future__ import annotations

import json
import shutil
import ssl
import time
import urllib.request

import pytest

from compose_support import (CERTS_D, HTTP_PORT, HTTPS_PORT, Harbor, pull, push_and_pull,
                             tls_verified)
from e2e_support import BASE_IMAGE_NAME, sh

pytestmark = pytest.mark.compose_e2e

PROJECT = "harbore2e"
# each data volume as upstream's installer leaves it (make/photon/prepare/utils/*.py)
DATA_VOLUMES = {"registry": "10000:10000 0755", "job-logs": "10000:10000 0755",
                "trivy-cache": "10000:10000 0755", "trivy-reports": "10000:10000 0755",
                "database": "999:999 0700", "redis": "999:999 0755"}


METRICS_PORT = 29090


def exec_in(h: Harbor, service: str, script: str, user: str | None = None):
    """sh -c SCRIPT in a running service, with its env file loaded as its shim does."""
    load = (f". /harbor-setup/entrypoints/lib.sh && harbor_load_env "
            f"/harbor-setup/config/{service}/env 2>/dev/null && "
            if service in ("core", "jobservice", "trivy-adapter", "exporter") else "")
    args = ["exec", "-T"] + (["-u", user] if user else []) + [service, "sh", "-c", load + script]
    return h.compose(*args, timeout=120)


# data volume -> the uid of the image that writes it (tests/e2e/images/image-contract.yml)
WRITERS = {"registry": 10000, "job-logs": 10000, "database": 999, "redis": 999}
PROFILE_WRITERS = {"trivy-cache": 10000, "trivy-reports": 10000, "harbor-logs": 10000}


def assert_writable_only_by(h: Harbor, volume: str, uid: int) -> None:
    """The volume's top belongs to uid, and no other unprivileged user may write in it."""
    others = sorted({4242, 999, 10000} - {uid})
    script = (f"stat -c '%u %a' /v; "
              f"setpriv --reuid={uid} --regid={uid} --clear-groups "
              f"sh -c 'touch /v/.e2e-probe && rm /v/.e2e-probe' && echo owner-writes; "
              + "".join(f"setpriv --reuid={o} --regid={o} --clear-groups touch /v/.e2e-{o} "
                        f"2>/dev/null && echo {o}-writes; " for o in others) + "true")
    out = sh("docker", "run", "--rm", "-v", f"{h.project}_{volume}:/v", "--entrypoint", "sh",
             BASE_IMAGE_NAME, "-c", script).stdout.split()
    owner, mode = int(out[0]), int(out[1], 8)
    assert owner == uid, f"volume {volume} belongs to uid {owner}, its image runs as {uid}"
    assert mode & 0o022 == 0, f"volume {volume} is group/other-writable ({mode:o})"
    assert "owner-writes" in out, f"uid {uid} cannot write into volume {volume}"
    assert not [w for w in out if w.endswith("-writes") and w != "owner-writes"], (volume, out)


def run_job(h: Harbor) -> None:
    """Core asks jobservice for a job with its secret, as Harbor does for GC, scans...; the
    job logs through the FILE logger into /var/log/jobs as uid 10000."""
    body = '{"job": {"name": "DEMO", "metadata": {"kind": "Generic"}}}'
    auth = '-H "Authorization: Harbor-Secret $CORE_SECRET"'
    out = exec_in(h, "core", f"curl -fsS -X POST {auth} -H 'Content-Type: application/json' "
                         f"-d '{body}' \"$JOBSERVICE_URL/api/v1/jobs\"").stdout
    job_id = json.loads(out)["job"]["id"]
    deadline = time.monotonic() + 60
    while True:
        stats = json.loads(exec_in(h, "core", f"curl -fsS {auth} "
                                          f"\"$JOBSERVICE_URL/api/v1/jobs/{job_id}\"").stdout)["job"]
        if stats["status"] not in ("Pending", "Running"):
            break
        assert time.monotonic() < deadline, f"job {job_id} still {stats['status']}"
        time.sleep(1)
    logs = h.compose("logs", "--tail", "20", "jobservice", check=False).stdout
    assert stats["status"] == "Success", f"job {job_id}: {stats['status']}\n{logs}"
    owner = exec_in(h, "jobservice", f"stat -c '%u:%g %a' /var/log/jobs/{job_id}.log").stdout.split()
    assert owner == ["10000:10000", "600"]
    text = exec_in(h, "core", f"curl -fsS {auth} \"$JOBSERVICE_URL/api/v1/jobs/{job_id}/log\"").stdout
    assert f"({job_id}) done" in text


def wait_healthy(h: Harbor, timeout: float = 240) -> None:
    """Every running service healthy by its image's own health check (the compose file sets
    no `test`, so Docker runs the image's HEALTHCHECK command)."""
    deadline = time.monotonic() + timeout
    while True:
        ids = h.compose("ps", "-q").stdout.split()
        states = json.loads(sh("docker", "inspect", *ids).stdout)
        bad = {s["Config"]["Labels"]["com.docker.compose.service"]:
               (s["State"].get("Health") or {}).get("Status", s["State"]["Status"])
               for s in states
               if (s["State"].get("Health") or {}).get("Status", "healthy") != "healthy"
               or s["State"]["Status"] != "running"}
        if not bad:
            return
        if time.monotonic() > deadline:
            logs = h.compose("logs", "--tail", "15", *bad, check=False).stdout
            raise AssertionError(f"not healthy after {timeout}s: {bad}\n{logs}")
        time.sleep(2)


@pytest.fixture(scope="module")
def harbor(wrapper_image, standins):
    h = Harbor(PROJECT, wrapper_image)
    h.compose("down", "-v", "--remove-orphans", check=False)
    yield h
    h.compose("down", "-v", "--remove-orphans", check=False)
    for host in ("127.0.0.2", "127.0.0.3"):
        shutil.rmtree(CERTS_D / f"{host}:{HTTPS_PORT}", ignore_errors=True)


def test_compose_lifecycle(harbor):
    h = harbor
    started = time.monotonic()
    h.compose("up", "-d", timeout=900)
    ca = h.trust_ca()
    first_login = h.login()
    print(f"\n[e2e] from `docker compose up` to the first successful login: "
          f"{time.monotonic() - started:.1f}s (login retried for {first_login:.1f}s)")

    # the generated CA really verifies the server, and the download button serves it
    assert tls_verified("127.0.0.2", HTTPS_PORT, ca)
    with pytest.raises(ssl.SSLCertVerificationError):
        tls_verified("127.0.0.2", HTTPS_PORT, _other_ca())
    context = ssl.create_default_context(cadata=ca.decode())
    with urllib.request.urlopen(f"https://127.0.0.2:{HTTPS_PORT}/api/v2.0/systeminfo/getcert",
                                context=context, timeout=10) as answer:
        assert answer.read() == ca
    # http redirects to https on the published port
    request = urllib.request.Request(f"http://127.0.0.2:{HTTP_PORT}/v2/")
    with pytest.raises(urllib.error.HTTPError) as redirect:
        urllib.request.build_opener(_NoRedirect).open(request, timeout=10)
    assert redirect.value.code == 308
    assert redirect.value.headers["Location"] == f"https://127.0.0.2:{HTTPS_PORT}/v2/"

    push_and_pull(h, "1")
    keys = h.keys()
    # each data volume belongs to its image's user, writable by nobody else
    assert h.data_volumes(DATA_VOLUMES) == DATA_VOLUMES
    run_job(h)
    for volume, uid in WRITERS.items():
        assert_writable_only_by(h, volume, uid)

    h.compose("restart", timeout=600)
    h.login()
    pull(h, "1")
    assert h.keys() == keys

    h.compose("down", timeout=600)
    h.compose("up", "-d", timeout=900)
    h.login()
    pull(h, "1")
    assert h.keys() == keys

    # a new host name: configs follow, keys stay, the certificate names the new host
    h.env["HARBOR_HOSTNAME"] = "127.0.0.3"
    h.compose("up", "-d", timeout=900)
    core_env = h.volume_file("config/core/env").decode()
    assert f"EXT_ENDPOINT=https://127.0.0.3:{HTTPS_PORT}" in core_env
    ca_again = h.trust_ca()
    assert ca_again == ca
    h.login()
    pull(h, "1")
    new_keys = h.keys()
    assert {k: v for k, v in new_keys.items()} == keys  # server.key and CA included
    assert tls_verified("127.0.0.3", HTTPS_PORT, ca)


def test_internal_tls_trivy_metrics_and_syslog(harbor):
    """The same deployment, now with internal TLS between components and the trivy, metrics
    and syslog profiles: every service healthy by its image's own health check, login, push
    and pull through TLS, a job logged, a scan that writes into the trivy volumes, the
    exporter's metrics, and a forced log rotation as the log image's user."""
    h = harbor
    h.env.update({"HARBOR_INTERNAL_TLS_ENABLED": "true", "HARBOR_WITH_TRIVY": "true",
                  "HARBOR_METRIC_ENABLED": "true", "HARBOR_METRIC_PORT": str(METRICS_PORT),
                  "COMPOSE_PROFILES": "trivy,metrics,syslog"})
    h.files = ("compose/docker-compose.yml", "compose/docker-compose.syslog.yml",
               "compose/docker-compose.metrics.yml")
    started = time.monotonic()
    h.compose("up", "-d", timeout=900)
    h.trust_ca()
    h.login()
    print(f"\n[e2e] internal TLS + trivy/metrics/syslog: from `up` to the first login "
          f"{time.monotonic() - started:.1f}s")
    assert "REGISTRY_URL=https://registry:5443" in h.volume_file("config/core/env").decode()
    wait_healthy(h)
    push_and_pull(h, "tls")
    run_job(h)

    # trivy-adapter double: a scan request from core (TLS) writes the DB and the report
    digest = "sha256:" + "0" * 64
    scan = ('{"registry": {"url": "https://core:8443"}, '
            f'"artifact": {{"repository": "library/e2e", "digest": "{digest}"}}}}')
    out = exec_in(h, "core", f"curl -fsS -X POST -H 'Content-Type: application/json' -d '{scan}' "
                         f"\"$TRIVY_ADAPTER_URL/api/v1/scan\"").stdout
    scan_id = json.loads(out)["id"]
    report = exec_in(h, "core", f"curl -fsS \"$TRIVY_ADAPTER_URL/api/v1/scan/{scan_id}/report\"").stdout
    assert json.loads(report)["artifact"]["digest"] == digest
    files = exec_in(h, "trivy-adapter", "stat -c '%u %n' /home/scanner/.cache/trivy/db/metadata.json "
                                    "/home/scanner/.cache/reports/scan_report_*").stdout.split("\n")
    assert files[0].startswith("10000 ") and files[1].startswith("10000 "), files
    for volume, uid in PROFILE_WRITERS.items():
        assert_writable_only_by(h, volume, uid)

    # exporter double: it read its env, reached the database, redis and core (TLS)
    metrics = exec_in(h, "core", "curl -fsS http://exporter:8080/metrics").stdout
    for component in ("core", "database", "redis"):
        assert f'harbor_up{{component="{component}"}} 1' in metrics, metrics

    # syslog: the services' output reaches files in /var/log/docker; a forced rotation as
    # the log image's user (uid 10000, as its hourly cron job runs it) rotates them
    logs = exec_in(h, "log", "ls /var/log/docker").stdout.split()
    assert {"core.log", "trivy-adapter.log", "exporter.log"} <= set(logs), logs
    exec_in(h, "log", "logrotate -f -s /var/lib/logrotate/logrotate.status /etc/logrotate.conf",
           user="10000")
    rotated = exec_in(h, "log", "ls /var/log/docker").stdout.split()
    assert "core.log.1.gz" in rotated, rotated


def test_bad_variable_stops_everything_with_a_message(wrapper_image, standins):
    h = Harbor(PROJECT + "bad", wrapper_image)
    h.env["HARBOR_LOG_LEVEL"] = "loud"
    h.compose("down", "-v", check=False)
    try:
        result = h.compose("up", "-d", check=False, timeout=600)
        assert result.returncode != 0
        logs = h.compose("logs", "setupwrapper").stdout
        assert "HARBOR_LOG_LEVEL" in logs and "accepted: one of debug" in logs
        states = sh("docker", "ps", "-a", "--filter", f"label=com.docker.compose.project={h.project}",
                    "--format", "{{.Label \"com.docker.compose.service\"}} {{.State}}").stdout
        running = [line for line in states.splitlines() if line.split()[1] == "running"]
        assert running == [], states
        exited = dict(line.split() for line in states.splitlines())
        assert exited["setupwrapper"] == "exited"
    finally:
        h.compose("down", "-v", check=False)


def test_internal_tls_files_where_the_images_health_checks_read_them(wrapper_image, standins):
    """The jobservice and registryctl images' health checks present /etc/harbor/ssl/*: the
    files are there and readable by the image's user (uid 10000). The whole stack with
    internal TLS, healthy by those checks, is proven by the stand-ins' tests."""
    h = Harbor(PROJECT + "tls", wrapper_image)
    h.env["HARBOR_INTERNAL_TLS_ENABLED"] = "true"
    h.compose("down", "-v", check=False)
    try:
        h.compose("up", "-d", "--no-deps", "setupwrapper")
        # not `compose wait`: it looks only at running containers, and fails with "no
        # containers for project" when the one-shot has already exited
        cid = h.compose("ps", "-a", "-q", "setupwrapper").stdout.strip()
        assert sh("docker", "wait", cid, timeout=300).stdout.strip() == "0", \
            h.compose("logs", "setupwrapper", check=False).stdout
        for service, stem in (("jobservice", "job_service"), ("registryctl", "registryctl")):
            files = [f"/etc/harbor/ssl/{stem}.{ext}" for ext in ("crt", "key")]
            result = h.compose("run", "--rm", "--no-deps", "--entrypoint", "/bin/sh", service,
                               "-c", 'id -u; for f in "$@"; do head -c 11 "$f"; echo; done',
                               "sh", *files)
            uid, *heads = result.stdout.split()
            assert uid == "10000", service
            assert heads == ["-----BEGIN", "-----BEGIN"], (service, result.stdout)
    finally:
        h.compose("down", "-v", check=False)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def _other_ca() -> bytes:
    from wrapper import pki

    return pki.new_ca("not Harbor's CA", 1)[1]
