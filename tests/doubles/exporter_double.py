#!/usr/bin/python3
"""CONTRACT DOUBLE for harbor_exporter (test-only; not Harbor).

Installed as /harbor/harbor_exporter in the harbor-standin/harbor-exporter image. Like the
real one (src/cmd/exporter/main.go at v2.15.2) it reads HARBOR_* variables only (viper,
prefix "harbor"): HARBOR_DATABASE_{HOST,PORT,USERNAME,PASSWORD,DBNAME,SSLMODE,...},
HARBOR_SERVICE_{SCHEME,HOST,PORT} (core), HARBOR_REDIS_{URL,NAMESPACE,TIMEOUT} (the
jobservice redis) and HARBOR_EXPORTER_{PORT,METRICS_PATH,METRICS_ENABLED,MAX_REQUESTS,
TLS_ENABLED,TLS_CERT,TLS_KEY,CACHE_TIME,CACHE_CLEAN_INTERVAL}. It connects to the database
first and stops (exit 1, "failed to initialize database") when it cannot, then serves
the metrics path on the port. A scrape asks core's /api/v2.0/health, the database and the
redis, and answers Prometheus text (harbor_up{component=...}). The exporter has no volume.

Stricter than the real one, by design: a port that viper would read as 0 (not a number)
stops the double with a message, where the real exporter would listen on a random port.
Every log line starts with "[exporter-double]". Double-only knob:
EXPORTER_DOUBLE_WAIT_SECONDS (default 60).
"""

from __future__ import annotations

import json
import os
import ssl
import sys
import time
import urllib.request

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
    redis_client,
    wait_for,
)

TAG = "exporter-double"
SSLMODES = {"disable", "allow", "prefer", "require", "verify-ca", "verify-full"}


def port_of(p: Problems, name: str, env) -> int:
    raw = env.get(name, "")
    if not raw.isdigit() or not 0 < int(raw) < 65536:
        p.add(f"env {name}={raw!r} is not a TCP port (viper would read 0)")
        return 0
    return int(raw)


def load_config(env=os.environ) -> dict:
    p = Problems(TAG)
    cfg = {
        "db": {"host": p.require_env("HARBOR_DATABASE_HOST", env),
               "port": port_of(p, "HARBOR_DATABASE_PORT", env),
               "user": p.require_env("HARBOR_DATABASE_USERNAME", env),
               "password": env.get("HARBOR_DATABASE_PASSWORD", ""),
               "dbname": p.require_env("HARBOR_DATABASE_DBNAME", env),
               "sslmode": env.get("HARBOR_DATABASE_SSLMODE") or "disable"},
        "scheme": env.get("HARBOR_SERVICE_SCHEME", ""),
        "core_host": p.require_env("HARBOR_SERVICE_HOST", env),
        "core_port": port_of(p, "HARBOR_SERVICE_PORT", env),
        "port": port_of(p, "HARBOR_EXPORTER_PORT", env),
        "path": env.get("HARBOR_EXPORTER_METRICS_PATH", ""),
        "namespace": env.get("HARBOR_REDIS_NAMESPACE", ""),
    }
    if cfg["db"]["sslmode"] not in SSLMODES:
        p.add(f"env HARBOR_DATABASE_SSLMODE={cfg['db']['sslmode']!r}; accepted: {sorted(SSLMODES)}")
    if cfg["scheme"] not in ("http", "https"):
        p.add(f"env HARBOR_SERVICE_SCHEME={cfg['scheme']!r}; accepted: http, https")
    if not cfg["path"].startswith("/"):
        p.add(f"env HARBOR_EXPORTER_METRICS_PATH={cfg['path']!r} must start with /")
    try:
        cfg["redis"] = parse_redis_url(p.require_env("HARBOR_REDIS_URL", env))
    except RedisURLError as exc:
        p.add(f"env HARBOR_REDIS_URL is not a Harbor redis URL: {exc}")
    if not cfg["namespace"]:
        p.add("env HARBOR_REDIS_NAMESPACE is not set (the jobservice's redis namespace)")
    for name in ("HARBOR_EXPORTER_METRICS_ENABLED", "HARBOR_EXPORTER_TLS_ENABLED"):
        if env.get(name) and go_parse_bool(env[name]) is None:
            p.add(f"env {name}={env[name]!r} is not a boolean")
    cfg["tls"] = go_parse_bool(env.get("HARBOR_EXPORTER_TLS_ENABLED") or "false")
    if cfg["tls"]:
        cfg["cert"] = p.require_env("HARBOR_EXPORTER_TLS_CERT", env)
        cfg["key"] = p.require_env("HARBOR_EXPORTER_TLS_KEY", env)
    p.exit_if_any()
    return cfg


def db_connect(db: dict):
    import psycopg2  # Debian python3-psycopg2

    return psycopg2.connect(host=db["host"], port=db["port"], user=db["user"],
                            password=db["password"], dbname=db["dbname"],
                            sslmode=db["sslmode"], connect_timeout=5)


class Handler(QuietHandler):
    TAG = TAG
    cfg: dict = {}

    def do_GET(self):
        path = self.path.split("?", 1)[0]
        if path != self.cfg["path"]:
            return self.send_body(404, "404 page not found\n")
        cfg = self.cfg
        up = {}
        url = f"{cfg['scheme']}://{cfg['core_host']}:{cfg['core_port']}/api/v2.0/health"
        try:
            ctx = ssl.create_default_context() if cfg["scheme"] == "https" else None
            with urllib.request.urlopen(url, timeout=5, context=ctx) as answer:
                health = json.loads(answer.read())
            up["core"] = 1 if health.get("status") == "healthy" else 0
        except Exception as exc:  # noqa: BLE001
            log(TAG, f"core {url}: {type(exc).__name__}: {exc}")
            up["core"] = 0
        try:
            conn = db_connect(cfg["db"])
            try:
                with conn.cursor() as cur:
                    cur.execute("SELECT 1")
                up["database"] = 1
            finally:
                conn.close()
        except Exception as exc:  # noqa: BLE001
            log(TAG, f"database: {type(exc).__name__}")
            up["database"] = 0
        try:
            client = redis_client(cfg["redis"], timeout=3)
            try:
                client.ping()
            finally:
                client.close()
            up["redis"] = 1
        except Exception as exc:  # noqa: BLE001
            log(TAG, f"redis: {type(exc).__name__}")
            up["redis"] = 0
        lines = ["# HELP harbor_up Running status of a Harbor component (exporter double)",
                 "# TYPE harbor_up gauge"]
        lines += [f'harbor_up{{component="{c}"}} {v}' for c, v in sorted(up.items())]
        self.send_body(200, "\n".join(lines) + "\n", "text/plain; version=0.0.4; charset=utf-8")


def main() -> int:
    exit_on_sigterm(TAG)
    log(TAG, "TEST DOUBLE of harbor_exporter v2.15.2 (not Harbor) starting")
    cfg = load_config()
    deadline = time.monotonic() + float(os.environ.get("EXPORTER_DOUBLE_WAIT_SECONDS", "60"))

    def connect():
        db_connect(cfg["db"]).close()

    try:
        wait_for(TAG, "database", connect, deadline)
    except SystemExit:
        log(TAG, "FATAL: failed to initialize database")
        sys.stdout.flush()
        os._exit(1)
    Handler.cfg = cfg
    server = make_server(TAG, cfg["port"], Handler, cfg.get("cert"), cfg.get("key"))
    log(TAG, f"listening on :{cfg['port']}{cfg['path']} ({'https' if cfg['tls'] else 'http'})")
    server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
