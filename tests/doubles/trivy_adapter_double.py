#!/usr/bin/python3
"""CONTRACT DOUBLE for scanner-trivy, Harbor's trivy adapter (test-only; not Harbor, not Trivy).

Installed as /home/scanner/bin/scanner-trivy in the harbor-standin/trivy-adapter-photon
image. Like the real adapter (goharbor/harbor-scanner-trivy v0.38, pkg/etc), it reads only
SCANNER_* environment variables, parses them as caarlos0/env would (Go booleans and
durations, exit 1 "getting config" on a bad one), then checks the config as etc.Check
does: MkdirAll of the cache and reports folders (which SUCCEEDS on an existing folder it
cannot write, as the real one), and that a configured TLS certificate and key exist.
It needs the redis of SCANNER_REDIS_URL, and serves:
  GET /probe/healthy, /probe/ready     (the image HEALTHCHECK)
  GET /api/v1/metadata                 scanner metadata (with the DB's dates when it is there)
  POST /api/v1/scan                    runs "trivy" as the adapter does: the vulnerability DB
                                       must be in <cache>/db (trivy.db and metadata.json);
                                       without it, with SCANNER_TRIVY_SKIP_UPDATE=true the job
                                       fails with trivy's own error (202, then the report is a
                                       500 with "running trivy: exit status 1: ..."), else the
                                       double "downloads" one: it writes a placeholder DB and
                                       logs the download as an OUTBOUND line (there is no
                                       network to reach ghcr.io here). Then it writes the
                                       report into a temporary file of the reports folder;
                                       500 when a folder is not writable
  GET /api/v1/scan/<id>/report         the report, or the failed job's error
Every log line starts with "[trivy-adapter-double]". Exit 1: config (as the real one).
"""

from __future__ import annotations

import json
import os
import re
import sys
import tempfile
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.realpath(__file__)))

from double_common import (  # noqa: E402
    Problems,
    QuietHandler,
    RedisURLError,
    exit_on_sigterm,
    go_parse_bool,
    log,
    make_server,
    parse_redis_url,
    redacted_redis,
    redis_client,
    wait_for,
)

TAG = "trivy-adapter-double"
EXIT_CONFIG = 1  # the real main() exits 1 on any error of run()
BOOLS = {
    "SCANNER_TRIVY_DEBUG_MODE": "false", "SCANNER_TRIVY_IGNORE_UNFIXED": "false",
    "SCANNER_TRIVY_SKIP_UPDATE": "false", "SCANNER_TRIVY_SKIP_JAVA_DB_UPDATE": "false",
    "SCANNER_TRIVY_OFFLINE_SCAN": "false", "SCANNER_TRIVY_INSECURE": "false",
    "SCANNER_API_SERVER_METRICS_ENABLED": "true",
}
DURATIONS = {
    "SCANNER_TRIVY_TIMEOUT": "5m0s", "SCANNER_API_SERVER_READ_TIMEOUT": "15s",
    "SCANNER_API_SERVER_WRITE_TIMEOUT": "15s", "SCANNER_API_SERVER_IDLE_TIMEOUT": "60s",
    "SCANNER_STORE_REDIS_SCAN_JOB_TTL": "1h", "SCANNER_REDIS_POOL_IDLE_TIMEOUT": "5m",
}
GO_DURATION = re.compile(r"^[-+]?((\d+(\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h))+$|^0$")
VULN_TYPES = {"os", "library"}
SEVERITIES = {"UNKNOWN", "LOW", "MEDIUM", "HIGH", "CRITICAL"}


def load_config(env=os.environ) -> dict:
    p = Problems(TAG)
    get = lambda name, default="": env.get(name, default)  # noqa: E731
    for name, default in BOOLS.items():
        if go_parse_bool(get(name, default)) is None:
            p.add(f"env {name}={get(name)!r} is not a Go boolean")
    for name, default in DURATIONS.items():
        if not GO_DURATION.match(get(name, default)):
            p.add(f"env {name}={get(name)!r} is not a Go duration (e.g. 5m0s)")
    for t in get("SCANNER_TRIVY_VULN_TYPE", "os,library").split(","):
        if t not in VULN_TYPES:
            p.add(f"env SCANNER_TRIVY_VULN_TYPE has {t!r}; accepted: {sorted(VULN_TYPES)}")
    for sev in get("SCANNER_TRIVY_SEVERITY", "UNKNOWN,LOW,MEDIUM,HIGH,CRITICAL").split(","):
        if sev not in SEVERITIES:
            p.add(f"env SCANNER_TRIVY_SEVERITY has {sev!r}; accepted: {sorted(SEVERITIES)}")
    cfg = {
        "addr": get("SCANNER_API_SERVER_ADDR", ":8080"),
        "cert": get("SCANNER_API_SERVER_TLS_CERTIFICATE"),
        "key": get("SCANNER_API_SERVER_TLS_KEY"),
        "cache": get("SCANNER_TRIVY_CACHE_DIR", "/home/scanner/.cache/trivy"),
        "reports": get("SCANNER_TRIVY_REPORTS_DIR", "/home/scanner/.cache/reports"),
        "skip_update": go_parse_bool(get("SCANNER_TRIVY_SKIP_UPDATE", "false")),
        "db_repository": get("SCANNER_TRIVY_DB_REPOSITORY", "mirror.gcr.io/aquasec/trivy-db,"
                                                           "ghcr.io/aquasecurity/trivy-db"),
        "store_ns": get("SCANNER_STORE_REDIS_NAMESPACE", "harbor.scanner.trivy:data-store"),
    }
    host, _, port = cfg["addr"].rpartition(":")
    if not port.isdigit() or not 0 < int(port) < 65536:
        p.add(f"env SCANNER_API_SERVER_ADDR={cfg['addr']!r} is not [host]:port")
    cfg["port"] = int(port) if port.isdigit() else 0
    try:
        cfg["redis"] = parse_redis_url(get("SCANNER_REDIS_URL", "redis://localhost:6379"))
    except RedisURLError as exc:
        p.add(f"env SCANNER_REDIS_URL is not a redis URL: {exc}")
    # v0.38 reads no store or job-queue URL of its own: the pool's redis serves both
    for name in ("SCANNER_STORE_REDIS_URL", "SCANNER_JOB_QUEUE_REDIS_URL"):
        if get(name) and get(name) != get("SCANNER_REDIS_URL"):
            log(TAG, f"WARNING: {name} is ignored (v0.38 uses SCANNER_REDIS_URL only)")
    p.exit_if_any("getting config")
    # etc.Check
    for what in ("cache", "reports"):
        try:
            os.makedirs(cfg[what], mode=0o755, exist_ok=True)
        except OSError as exc:
            p.add(f"creating {what} dir {cfg[what]}: {exc.strerror}")
    if bool(cfg["cert"]) != bool(cfg["key"]):
        pass  # IsTLSEnabled needs both; with one only, the real adapter serves plain HTTP
    elif cfg["cert"]:
        for name in ("cert", "key"):
            if not os.path.exists(cfg[name]):
                p.add(f"TLS {name} file {cfg[name]} does not exist")
    if p.items:
        p.exit_if_any("checking config")
    cfg["tls"] = bool(cfg["cert"] and cfg["key"])
    return cfg


DB_SCHEMA = 2  # trivy's vulnerability DB schema version


class TrivyFailure(Exception):
    """trivy exited 1: the adapter reports its combined output."""


def ensure_db(cfg: dict) -> None:
    """What trivy does before a scan: the vulnerability DB must be in the cache folder."""
    db = os.path.join(cfg["cache"], "db")
    meta, data = os.path.join(db, "metadata.json"), os.path.join(db, "trivy.db")
    if os.path.exists(meta) and os.path.exists(data):
        try:
            with open(meta, encoding="utf-8") as fh:
                version = json.load(fh).get("Version")
        except (OSError, ValueError, AttributeError) as exc:
            raise TrivyFailure(f"FATAL\tFatal error\trun error: init error: DB error: "
                               f"metadata error: {exc}") from None
        if version != DB_SCHEMA:
            raise TrivyFailure("FATAL\tFatal error\trun error: init error: DB error: the "
                               f"version of DB schema doesn't match. Local DB: {version}, "
                               f"Expected: {DB_SCHEMA}")
        return
    if cfg["skip_update"]:
        log(TAG, "trivy: ERROR The first run cannot skip downloading DB")
        raise TrivyFailure("FATAL\tFatal error\trun error: init error: DB error: "
                           "--skip-db-update cannot be specified on the first run")
    log(TAG, f"OUTBOUND: trivy downloads the vulnerability DB from {cfg['db_repository']} "
             "(simulated: the double writes a placeholder DB)")
    os.makedirs(db, exist_ok=True)
    with open(data, "wb") as fh:
        fh.write(b"placeholder of the trivy-adapter double\n")
    with open(meta, "w", encoding="utf-8") as fh:
        json.dump({"Version": DB_SCHEMA, "Source": "trivy-adapter double (no real DB)",
                   "UpdatedAt": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}, fh)


def db_properties(cfg: dict) -> dict:
    try:
        with open(os.path.join(cfg["cache"], "db", "metadata.json"), encoding="utf-8") as fh:
            meta = json.load(fh)
    except (OSError, ValueError):
        return {}
    out = {}
    for key, name in (("UpdatedAt", "updated-at"), ("NextUpdate", "next-update")):
        if isinstance(meta, dict) and meta.get(key):
            out[f"harbor.scanner-adapter/vulnerability-database-{name}"] = str(meta[key])
    return out


class Handler(QuietHandler):
    TAG = TAG
    cfg: dict = {}

    def answer(self, code: int, doc) -> None:
        self.send_body(code, json.dumps(doc), "application/json")

    def do_GET(self):
        path = self.path.split("?", 1)[0]
        if path in ("/probe/healthy", "/probe/ready"):
            return self.send_body(200, "")
        if path == "/api/v1/metadata":  # `trivy version` needs no DB
            return self.answer(200, {
                "scanner": {"name": "Trivy", "vendor": "Aqua Security",
                            "version": os.environ.get("TRIVY_VERSION", "unknown")},
                "properties": {"harbor.scanner-adapter/double": "true",
                               **db_properties(self.cfg)}})
        m = re.fullmatch(r"/api/v1/scan/([0-9a-f-]+)/report", path)
        if m:
            client = redis_client(self.cfg["redis"])
            try:
                report = client.get(f"{self.cfg['store_ns']}:scan-job:{m.group(1)}")
            finally:
                client.close()
            if report is None:
                return self.answer(404, {"error": {"message": "scan job not found"}})
            if report.startswith(b"FAILED:"):
                return self.answer(500, {"error": {"message": report[7:].decode()}})
            return self.send_body(200, report, "application/vnd.security.vulnerability.report; version=1.1")
        return self.answer(404, {"error": {"message": f"{path} not implemented by the double"}})

    def do_POST(self):
        path = self.path.split("?", 1)[0]
        n = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(n) if n else b""
        if path != "/api/v1/scan":
            return self.answer(404, {"error": {"message": f"{path} not implemented by the double"}})
        try:
            req = json.loads(raw)
            repo = req["artifact"]["repository"]
            digest = req["artifact"]["digest"]
            req["registry"]["url"]
        except (ValueError, KeyError, TypeError):
            return self.answer(422, {"error": {"message": "scan request needs registry.url, "
                                                          "artifact.repository and artifact.digest"}})
        job_id = str(uuid.uuid4())
        try:
            ensure_db(self.cfg)
        except TrivyFailure as exc:
            error = f"running trivy: exit status 1: {exc}"
            log(TAG, f"scan {job_id} of {repo}@{digest} failed: {error}")
            client = redis_client(self.cfg["redis"])
            try:
                client.set(f"{self.cfg['store_ns']}:scan-job:{job_id}", "FAILED:" + error,
                           ex=3600)
            finally:
                client.close()
            return self.answer(202, {"id": job_id})
        except OSError as exc:
            log(TAG, f"scan {job_id} of {repo}@{digest} failed: {exc.strerror or exc} "
                     f"({exc.filename or ''})")
            return self.answer(500, {"error": {"message": f"scan failed: {exc}"}})
        try:
            fd, report_path = tempfile.mkstemp(prefix="scan_report_", suffix=".json",
                                               dir=self.cfg["reports"])
            report = json.dumps({"artifact": {"repository": repo, "digest": digest},
                                 "scanner": {"name": "Trivy"}, "vulnerabilities": []})
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(report)
        except OSError as exc:
            log(TAG, f"scan {job_id} of {repo}@{digest} failed: {exc.strerror or exc} "
                     f"({exc.filename or ''})")
            return self.answer(500, {"error": {"message": f"scan failed: {exc}"}})
        client = redis_client(self.cfg["redis"])
        try:
            client.set(f"{self.cfg['store_ns']}:scan-job:{job_id}", report, ex=3600)
        finally:
            client.close()
        log(TAG, f"scan {job_id} of {repo}@{digest}: report {report_path}")
        return self.answer(202, {"id": job_id})


def main() -> int:
    exit_on_sigterm(TAG)
    log(TAG, "TEST DOUBLE of harbor-scanner-trivy v0.38 (not Harbor, not Trivy) starting")
    try:
        cfg = load_config()
    except SystemExit:
        sys.stdout.flush()
        os._exit(EXIT_CONFIG)
    log(TAG, f"config OK: {cfg['addr']}{' (TLS)' if cfg['tls'] else ''}, cache {cfg['cache']}, "
             f"reports {cfg['reports']}, redis {redacted_redis(cfg['redis'])}")
    deadline = time.monotonic() + float(os.environ.get("TRIVY_DOUBLE_WAIT_SECONDS", "60"))

    def ping():
        c = redis_client(cfg["redis"])
        try:
            c.ping()
        finally:
            c.close()

    wait_for(TAG, "redis", ping, deadline)
    Handler.cfg = cfg
    server = make_server(TAG, cfg["port"], Handler, cfg["cert"] if cfg["tls"] else None,
                         cfg["key"] if cfg["tls"] else None)
    log(TAG, f"listening on :{cfg['port']} ({'https' if cfg['tls'] else 'http'})")
    server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
