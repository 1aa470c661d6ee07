#!/usr/bin/python3
"""CONTRACT DOUBLE for harbor_registryctl (test-only; not Harbor).

Installed as /home/harbor/harbor_registryctl in the harbor-standin/harbor-registryctl
image, started as `harbor_registryctl -c /etc/registryctl/config.yml`. It checks the
config file (protocol, port, log_level, registry_config which must exist and parse as
a registry YAML config) and CORE_SECRET / JOBSERVICE_SECRET, then serves
GET /api/health (the image HEALTHCHECK). Exit 2 when the contract is broken.
Every log line starts with "[registryctl-double]".
"""

from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.realpath(__file__)))

from double_common import (  # noqa: E402
    EXIT_CONTRACT,
    Problems,
    QuietHandler,
    exit_on_sigterm,
    log,
    make_server,
    read_config,
    read_listener,
)

TAG = "registryctl-double"
LOG_LEVELS = {"debug", "info", "warn", "warning", "error", "fatal"}


def load_config(path: str, env=os.environ) -> dict:
    p = Problems(TAG)
    doc = read_config(p, path)
    cfg: dict = read_listener(p, doc, env, "REGISTRYCTL_PROTOCOL", "PORT", "REGISTRYCTL_HTTPS_CERT",
                              "REGISTRYCTL_HTTPS_KEY")
    level = doc.get("log_level")
    if not isinstance(level, str) or level.lower() not in LOG_LEVELS:
        p.add(f"log_level must be one of {sorted(LOG_LEVELS)}, got {level!r}")

    import yaml

    reg = env.get("REGISTRY_CONFIG") or doc.get("registry_config")
    cfg["registry_config"] = reg
    if not reg:
        p.add("registry_config is missing")
    else:
        try:
            with open(reg, encoding="utf-8") as fh:
                rdoc = yaml.safe_load(fh)
            if not isinstance(rdoc, dict):
                p.add(f"registry_config {reg} is not a YAML mapping")
            else:
                for k in ("version", "storage", "http"):
                    if k not in rdoc:
                        p.add(f"registry_config {reg} has no '{k}' section")
        except OSError as exc:
            p.add(f"registry_config {reg} is not readable by uid {os.getuid()}: {exc.strerror}")
        except yaml.YAMLError as exc:
            p.add(f"registry_config {reg} is not valid YAML: {exc}")

    for name in ("CORE_SECRET", "JOBSERVICE_SECRET"):
        p.require_env(name, env)
    p.exit_if_any()
    return cfg


class CtlHandler(QuietHandler):
    TAG = TAG

    def do_GET(self):
        path = self.path.split("?", 1)[0]
        if path == "/api/health":
            return self.send_body(200, "")
        return self.send_body(404, f"{path} is not implemented by the registryctl double\n")

    do_HEAD = do_GET


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="harbor_registryctl (double)")
    ap.add_argument("-c", dest="config", default="", help="config file path")
    args = ap.parse_args(argv)
    exit_on_sigterm(TAG)
    log(TAG, "TEST DOUBLE of harbor_registryctl v2.15.2 (not Harbor) starting")
    if not args.config:
        log(TAG, "FATAL: no config file given with -c")
        return EXIT_CONTRACT
    cfg = load_config(args.config)
    cert, key = cfg["tls"] or (None, None)
    server = make_server(TAG, cfg["port"], CtlHandler, cert, key)
    log(TAG, f"config OK: {args.config}, registry config {cfg['registry_config']}; "
             f"listening on :{cfg['port']} ({'https' if cert else 'http'})")
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
