#!/usr/bin/python3
"""CONTRACT DOUBLE for harbor_jobservice (test-only; not Harbor).

Installed as /harbor/harbor_jobservice in the harbor-standin/harbor-jobservice image,
started as `harbor_jobservice -c /etc/jobservice/config.yml`. It checks the config
file and environment the real jobservice needs, connects to the worker-pool redis,
and serves GET /api/v1/stats (the image HEALTHCHECK). Exit 2: contract broken;
exit 3: redis never answered. Every log line starts with "[jobservice-double]".

Jobs: POST /api/v1/jobs (header "Authorization: Harbor-Secret <CORE_SECRET>", as the
real API checks) launches a job of a known name; the job runs in the background and,
for each configured job logger, logs as the real one does: the FILE logger opens
<base_dir>/<job id>.log (O_CREATE|O_WRONLY, mode 0600) when the job starts, and when that
fails the job context cannot be built and the job ends in status "Error". Like the real
jobservice, the double does NOT check base_dir when it starts.
GET /api/v1/jobs/<id> answers the job's stats, GET /api/v1/jobs/<id>/log its FILE log.

Double-only knob: JOBSERVICE_DOUBLE_WAIT_SECONDS (default 60).
"""

from __future__ import annotations

import argparse
import datetime as dt
import hmac
import json
import os
import sys
import threading
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.realpath(__file__)))

from double_common import (  # noqa: E402
    EXIT_CONTRACT,
    Problems,
    QuietHandler,
    exit_on_sigterm,
    RedisURLError,
    log,
    make_server,
    read_config,
    read_listener,
    parse_redis_url,
    redacted_redis,
    redis_client,
    wait_for,
)

TAG = "jobservice-double"
LEVELS = {"DEBUG", "INFO", "WARNING", "ERROR", "FATAL"}
JOB_LOGGERS = {"STD_OUTPUT", "FILE", "DB"}
SERVICE_LOGGERS = {"STD_OUTPUT", "FILE"}


def positive_int(p: Problems, where: str, value, allow_zero=False) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int) or value < (0 if allow_zero else 1):
        p.add(f"{where} must be a {'non-negative' if allow_zero else 'positive'} integer, got {value!r}")
        return None
    return value


def load_config(path: str, env=os.environ) -> dict:
    p = Problems(TAG)
    doc = read_config(p, path)
    cfg: dict = read_listener(p, doc, env, "JOB_SERVICE_PROTOCOL", "JOB_SERVICE_PORT", "JOB_SERVICE_HTTPS_CERT",
                              "JOB_SERVICE_HTTPS_KEY")
    pool = doc.get("worker_pool")
    if not isinstance(pool, dict):
        p.add("worker_pool is missing or not a mapping")
        pool = {}
    cfg["workers"] = positive_int(p, "worker_pool.workers", pool.get("workers"))
    if pool.get("backend") != "redis":
        p.add(f"worker_pool.backend must be 'redis', got {pool.get('backend')!r}")
    rp = pool.get("redis_pool")
    if not isinstance(rp, dict):
        p.add("worker_pool.redis_pool is missing or not a mapping")
        rp = {}
    url = env.get("JOB_SERVICE_POOL_REDIS_URL") or rp.get("redis_url")
    cfg["redis"] = None
    if not url or not isinstance(url, str):
        p.add("worker_pool.redis_pool.redis_url is missing")
    else:
        try:
            cfg["redis"] = parse_redis_url(url)
        except RedisURLError as exc:
            p.add(f"worker_pool.redis_pool.redis_url is not a valid Harbor redis URL: {exc}")
    cfg["namespace"] = env.get("JOB_SERVICE_POOL_REDIS_NAMESPACE") or rp.get("namespace")
    if not cfg["namespace"]:
        p.add("worker_pool.redis_pool.namespace is missing")

    job_loggers = doc.get("job_loggers")
    if not isinstance(job_loggers, list) or not job_loggers:
        p.add("job_loggers must be a non-empty list")
        job_loggers = []
    for i, lg in enumerate(job_loggers):
        where = f"job_loggers[{i}]"
        if not isinstance(lg, dict):
            p.add(f"{where} is not a mapping")
            continue
        name = lg.get("name")
        if name not in JOB_LOGGERS:
            p.add(f"{where}.name must be one of {sorted(JOB_LOGGERS)}, got {name!r}")
        if lg.get("level") not in LEVELS:
            p.add(f"{where}.level must be one of {sorted(LEVELS)}, got {lg.get('level')!r}")
        if name == "FILE":
            base = (lg.get("settings") or {}).get("base_dir")
            if not base:
                p.add(f"{where} (FILE) has no settings.base_dir")
        if "sweeper" in lg:
            sw = lg.get("sweeper") or {}
            positive_int(p, f"{where}.sweeper.duration", sw.get("duration"), allow_zero=True)
    loggers = doc.get("loggers")
    if not isinstance(loggers, list) or not loggers:
        p.add("loggers must be a non-empty list")
        loggers = []
    for i, lg in enumerate(loggers):
        if not isinstance(lg, dict) or lg.get("name") not in SERVICE_LOGGERS:
            p.add(f"loggers[{i}].name must be one of {sorted(SERVICE_LOGGERS)}")
        elif lg.get("level") not in LEVELS:
            p.add(f"loggers[{i}].level must be one of {sorted(LEVELS)}, got {lg.get('level')!r}")
    reaper = doc.get("reaper")
    if reaper is not None:
        if not isinstance(reaper, dict):
            p.add("reaper is not a mapping")
        elif "max_update_hours" in reaper:
            positive_int(p, "reaper.max_update_hours", reaper["max_update_hours"])

    for name in ("CORE_SECRET", "JOBSERVICE_SECRET", "REGISTRY_CREDENTIAL_USERNAME",
                 "REGISTRY_CREDENTIAL_PASSWORD"):
        p.require_env(name, env)
    lvl = env.get("LOG_LEVEL", "")
    if lvl and lvl.lower() not in ("debug", "info", "warning", "error", "fatal"):
        p.add(f"env LOG_LEVEL={lvl!r} is not a Harbor log level")
    cfg["job_loggers"] = [lg for lg in job_loggers if isinstance(lg, dict)]
    p.exit_if_any()
    return cfg


# job names the real jobservice registers (src/jobservice/job/known_jobs.go, a subset)
KNOWN_JOBS = {"DEMO", "GARBAGE_COLLECTION", "REPLICATION", "IMAGE_SCAN", "RETENTION",
              "PURGE_AUDIT_LOG", "SYSTEM_ARTIFACT_CLEANUP", "EXECUTION_SWEEP", "WEBHOOK"}
JOBS: dict = {}
JOBS_LOCK = threading.Lock()


def run_job(cfg: dict, job_id: str, name: str) -> None:
    """The job's life as the real runner sees it: build the context (open every job
    logger), log, finish. A FILE logger that cannot open its file fails the job."""
    streams = []
    try:
        for lg in cfg["job_loggers"]:
            if lg.get("name") == "FILE":
                path = os.path.join(lg["settings"]["base_dir"], f"{job_id}.log")
                fd = os.open(path, os.O_CREAT | os.O_WRONLY, 0o600)
                streams.append(os.fdopen(fd, "w"))
    except OSError as exc:
        log(TAG, f"job {name} {job_id}: failed to initialize job context: "
                 f"open job log: {exc.strerror} ({exc.filename})")
        status = "Error"
    else:
        for line in (f"Job {name} ({job_id}) started by the jobservice double",
                     f"Job {name} ({job_id}) done"):
            stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
            for out in streams:
                out.write(f"{stamp} [INFO] {line}\n")
                out.flush()
            log(TAG, line)
        status = "Success"
    finally:
        for out in streams:
            out.close()
    with JOBS_LOCK:
        JOBS[job_id]["status"] = status
        JOBS[job_id]["update_time"] = int(time.time())


class JobHandler(QuietHandler):
    TAG = TAG
    cfg: dict = {}
    started = ""

    def do_GET(self):
        path = self.path.split("?", 1)[0]
        if path.startswith("/api/v1/jobs/") and len(path.strip("/").split("/")) in (4, 5):
            return self.job_get(path)
        if path != "/api/v1/stats":
            return self.send_body(404, json.dumps({"code": 404, "message": f"{path} is not implemented by the jobservice double"}),
                                  "application/json")
        try:
            client = redis_client(self.cfg["redis"], timeout=3)
            try:
                client.ping()
                client.set(f"{self.cfg['namespace']}:double:heartbeat", str(int(time.time())), ex=600)
            finally:
                client.close()
            status = "Healthy"
            code = 200
        except Exception as exc:  # noqa: BLE001
            log(TAG, f"stats: redis unhealthy: {type(exc).__name__}: {exc}")
            status, code = "Unhealthy", 500
        now = dt.datetime.now(dt.timezone.utc).isoformat()
        body = {"worker_pools": [{
            "worker_pool_id": "jobservice-double",
            "started_at": self.started,
            "heartbeat_at": now,
            "job_names": [],
            "concurrency": self.cfg["workers"],
            "status": status,
        }]}
        self.send_body(code, json.dumps(body), "application/json")

    def authorized(self) -> bool:
        header = self.headers.get("Authorization", "").strip()
        secret = header[len("Harbor-Secret"):].strip() if header.startswith("Harbor-Secret") else ""
        expected = os.environ.get("CORE_SECRET", "")
        if not secret or not hmac.compare_digest(secret.encode(), expected.encode()):
            self.send_body(401, json.dumps({"code": 401, "message": "unauthorized"}),
                           "application/json")
            return False
        return True

    def do_POST(self):
        path = self.path.split("?", 1)[0]
        n = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(n) if n else b""
        if path != "/api/v1/jobs":
            return self.send_body(404, json.dumps({"code": 404, "message": f"{path} not found"}),
                                  "application/json")
        if not self.authorized():
            return None
        try:
            req = json.loads(raw or b"{}")["job"]
            name = req["name"]
        except (ValueError, KeyError, TypeError):
            return self.send_body(400, json.dumps({"code": 400, "message": "bad job request"}),
                                  "application/json")
        if name not in KNOWN_JOBS:
            return self.send_body(400, json.dumps(
                {"code": 400, "message": f"job with name '{name}' is unknown"}), "application/json")
        job_id = uuid.uuid4().hex[:24]
        stats = {"id": job_id, "name": name, "kind": "Generic", "status": "Running",
                 "enqueue_time": int(time.time()), "update_time": int(time.time())}
        with JOBS_LOCK:
            JOBS[job_id] = stats
        threading.Thread(target=run_job, args=(self.cfg, job_id, name), daemon=True).start()
        self.send_body(202, json.dumps({"job": stats}), "application/json")

    def job_get(self, path: str):
        if not self.authorized():
            return None
        parts = path.strip("/").split("/")  # api v1 jobs <id> [log]
        with JOBS_LOCK:
            stats = dict(JOBS.get(parts[3], {}))
        if not stats:
            return self.send_body(404, json.dumps({"code": 404, "message": "job not found"}),
                                  "application/json")
        if len(parts) == 4:
            return self.send_body(200, json.dumps({"job": stats}), "application/json")
        for lg in self.cfg["job_loggers"]:
            if lg.get("name") == "FILE":
                try:
                    with open(os.path.join(lg["settings"]["base_dir"], f"{parts[3]}.log"),
                              encoding="utf-8") as fh:
                        return self.send_body(200, fh.read())
                except OSError as exc:
                    return self.send_body(404, f"no log: {exc.strerror}")
        return self.send_body(404, "no FILE job logger")

    do_HEAD = do_GET


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="harbor_jobservice (double)")
    ap.add_argument("-c", dest="config", default="", help="config file path")
    args = ap.parse_args(argv)
    exit_on_sigterm(TAG)
    log(TAG, "TEST DOUBLE of harbor_jobservice v2.15.2 (not Harbor) starting")
    if not args.config:
        log(TAG, "FATAL: no config file given with -c")
        return EXIT_CONTRACT
    cfg = load_config(args.config)
    log(TAG, f"config OK: {args.config}, port {cfg['port']}{' (TLS)' if cfg['tls'] else ''}, "
             f"{cfg['workers']} workers, redis {redacted_redis(cfg['redis'])} "
             f"namespace {cfg['namespace']}")
    deadline = time.monotonic() + float(os.environ.get("JOBSERVICE_DOUBLE_WAIT_SECONDS", "60"))

    def ping():
        c = redis_client(cfg["redis"])
        try:
            if c.ping() is not True:
                raise RuntimeError("PING did not answer PONG")
        finally:
            c.close()

    wait_for(TAG, "redis worker pool", ping, deadline)
    JobHandler.cfg = cfg
    JobHandler.started = dt.datetime.now(dt.timezone.utc).isoformat()
    cert, key = cfg["tls"] or (None, None)
    server = make_server(TAG, cfg["port"], JobHandler, cert, key)
    log(TAG, f"listening on :{cfg['port']} ({'https' if cert else 'http'})")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except SystemExit:
        raise
    except Exception as exc:  # noqa: BLE001
        log(TAG, f"FATAL: unexpected {type(exc).__name__}: {exc}")
        sys.exit(EXIT_CONTRACT)
