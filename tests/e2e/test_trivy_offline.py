"""Trivy without the internet, end to end on compose.

Updates off (compose/docker-compose.trivy-offline.yml): with no DB in the volume the adapter's
shim says so at start and a scan fails with trivy's own error, as the real adapter reports it;
with the DB brought in as the README says (a host folder in trivy's cache layout, copied by
init-data into the volume, owned by the adapter's user) the scan succeeds. The trivy-adapter
double logs every download it would make as an OUTBOUND line: there is none.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from pathlib import Path

import pytest

from compose_support import Harbor

pytestmark = pytest.mark.trivy_offline_e2e

PROJECT = "harbortrivyoffline"
DIGEST = "sha256:" + "1" * 64
SCAN = ('{"registry": {"url": "http://core:8080"}, '
        f'"artifact": {{"repository": "library/offline", "digest": "{DIGEST}"}}}}')
FIRST_RUN = "--skip-db-update cannot be specified on the first run"


@pytest.fixture(scope="module")
def deployment(wrapper_image, standins):
    folder = Path(tempfile.mkdtemp(prefix="e2e-trivy-db-"))
    h = Harbor(PROJECT, wrapper_image)
    h.env.update({"HARBOR_WITH_TRIVY": "true", "COMPOSE_PROFILES": "trivy",
                  "HARBOR_SETUP_TRIVY_DB_DIR": str(folder)})
    h.files = ("compose/docker-compose.yml", "compose/docker-compose.trivy-offline.yml")
    h.compose("down", "-v", "--remove-orphans", check=False)
    yield h, folder
    h.compose("down", "-v", "--remove-orphans", check=False)
    shutil.rmtree(folder, ignore_errors=True)


def in_core(h: Harbor, script: str) -> str:
    load = (". /harbor-setup/entrypoints/lib.sh && harbor_load_env "
            "/harbor-setup/config/core/env 2>/dev/null && ")
    return h.compose("exec", "-T", "core", "sh", "-c", load + script, timeout=120).stdout


def scan(h: Harbor) -> tuple[int, dict]:
    """A scan request as core sends it; (HTTP status, body) of the report request."""
    deadline = time.monotonic() + 120
    while True:  # the adapter may still be starting
        out = in_core(h, f"curl -sS -X POST -H 'Content-Type: application/json' -d '{SCAN}' "
                         "\"$TRIVY_ADAPTER_URL/api/v1/scan\" || true")
        if out.strip().startswith("{"):
            break
        assert time.monotonic() < deadline, out
        time.sleep(2)
    job = json.loads(out)["id"]
    answer = in_core(h, "curl -sS -w '\\n%{http_code}' "
                        f"\"$TRIVY_ADAPTER_URL/api/v1/scan/{job}/report\"")
    body, status = answer.rsplit("\n", 1)
    return int(status), json.loads(body)


def adapter_log(h: Harbor) -> str:
    return h.compose("logs", "trivy-adapter", check=False).stdout


def test_trivy_offline(deployment):
    h, folder = deployment
    started = time.monotonic()
    h.compose("up", "-d", timeout=900)
    env = h.volume_file("config/trivy-adapter/env").decode()
    for line in ("SCANNER_TRIVY_SKIP_UPDATE=True", "SCANNER_TRIVY_SKIP_JAVA_DB_UPDATE=True",
                 "SCANNER_TRIVY_OFFLINE_SCAN=True"):
        assert line in env

    # no DB: said at start, and the scan fails with trivy's error through the adapter
    status, body = scan(h)
    assert status == 500, body
    assert body["error"]["message"].startswith("running trivy: exit status 1: ")
    assert FIRST_RUN in body["error"]["message"]
    assert "HARBOR_TRIVY_SKIP_UPDATE is true but" in adapter_log(h)

    # the DB brought in as the README says: trivy's cache layout in the host folder
    (folder / "db").mkdir()
    (folder / "db" / "trivy.db").write_bytes(b"offline test DB (placeholder bytes)\n")
    (folder / "db" / "metadata.json").write_text(json.dumps(
        {"Version": 2, "NextUpdate": "2026-12-05T00:00:00Z",
         "UpdatedAt": "2026-12-04T00:00:00Z", "DownloadedAt": "2026-12-04T01:00:00Z"}))
    h.compose("up", "-d", timeout=900)
    init = h.compose("logs", "init-data", check=False).stdout
    assert "trivy db       brought in from /trivy-db-import (10000:10000)" in init, init
    owners = h.compose("exec", "-T", "trivy-adapter", "stat", "-c", "%u:%g %a %n",
                       "/home/scanner/.cache/trivy/db", "/home/scanner/.cache/trivy/db/trivy.db",
                       timeout=60).stdout.split("\n")
    assert owners[0].startswith("10000:10000 755 ") and owners[1].startswith("10000:10000 644 ")
    status, body = scan(h)
    assert status == 200, body
    assert body["artifact"]["digest"] == DIGEST
    metadata = json.loads(in_core(h, "curl -fsS \"$TRIVY_ADAPTER_URL/api/v1/metadata\""))
    assert metadata["properties"][
        "harbor.scanner-adapter/vulnerability-database-updated-at"] == "2026-12-04T00:00:00Z"

    # nothing tried to leave: the double logs every download it would make
    log = adapter_log(h)
    assert "OUTBOUND" not in log, [line for line in log.splitlines() if "OUTBOUND" in line]
    # a rerun with the same DB leaves it alone
    h.compose("up", "-d", timeout=900)
    assert "trivy db       already in the volume, unchanged" in h.compose(
        "logs", "init-data", check=False).stdout
    print(f"\n[e2e] trivy offline: {time.monotonic() - started:.0f}s")
