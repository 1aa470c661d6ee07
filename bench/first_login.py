"""First login after `docker compose up -d`, with the stand-in images, and where the time goes.

    flock /tmp/e2e-host.lock .venv/bin/python bench/first_login.py [--runs N] [--compose FILE]

(also `python bench/bench.py --first-login`). Needs the Docker engine: it builds the
stand-ins and the wrapper image as the end-to-end tests do (layers cached), then, per run,
starts a fresh project (`down -v` first), and from the moment `up -d` starts polls what
`docker login` does through the proxy every 0.2 s: GET /v2/ (401 with a Bearer realm), a token
from core's token service with the admin password, GET /v2/ with it (200). It prints the
seconds to that first success, and the timeline of the median run from `docker events`: when
each container started, became healthy, exited. Target (issue 17): first login <= 15 s.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import re
import shutil
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests" / "e2e"))

from e2e_support import (BASE_IMAGE_NAME, HOST_CA_BUNDLE, WRAPPER_IMAGE,  # noqa: E402
                         build_module, compose_binary, host_lock, sh)

PROJECT = "benchlogin"
HTTPS_PORT, HTTP_PORT = 29443, 29080
HOST = "127.0.0.2"
PASSWORD = "bench-Passw0rd-1"
TARGET = 15.0


def build_images() -> None:
    build_module().build_standins()
    with tempfile.TemporaryDirectory() as context:
        for name in ("Dockerfile", "pyproject.toml", "README.md"):
            shutil.copy(REPO / name, context)
        for folder in ("wrapper", "entrypoints"):
            shutil.copytree(REPO / folder, Path(context) / folder,
                            ignore=shutil.ignore_patterns("__pycache__"))
        if os.path.exists(HOST_CA_BUNDLE):
            shutil.copy(HOST_CA_BUNDLE, Path(context) / "extra-ca.crt")
        sh("docker", "build", "-q", "-t", WRAPPER_IMAGE, "--build-arg",
           f"BASE_IMAGE={BASE_IMAGE_NAME}", context,
           env={**os.environ, "DOCKER_BUILDKIT": "0"}, timeout=1200)


def compose(compose_file: Path, *args: str, check: bool = True):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HARBOR_", "COMPOSE_"))}
    env.update({"HARBOR_HOSTNAME": HOST, "HARBOR_ADMIN_PASSWORD": PASSWORD,
                "HARBOR_HTTP_PORT": str(HTTP_PORT), "HARBOR_HTTPS_PORT": str(HTTPS_PORT),
                "HARBOR_IMAGE_PREFIX": "harbor-standin", "HARBOR_WRAPPER_IMAGE": WRAPPER_IMAGE})
    return sh(*compose_binary(), "-p", PROJECT, "-f", str(compose_file), *args, check=check,
              env=env, timeout=900)


UNVERIFIED = ssl.create_default_context()
UNVERIFIED.check_hostname = False
UNVERIFIED.verify_mode = ssl.CERT_NONE  # the bench measures time, not the CA (the tests do)


def logged_in() -> bool:
    """What `docker login` does: ping, token with the password, ping with the token."""
    url = f"https://{HOST}:{HTTPS_PORT}/v2/"
    try:
        urllib.request.urlopen(url, timeout=2, context=UNVERIFIED)
        return False  # a registry without auth is not Harbor's
    except urllib.error.HTTPError as exc:
        challenge = exc.headers.get("WWW-Authenticate", "") if exc.code == 401 else ""
    except OSError:
        return False
    realm = re.search(r'realm="([^"]+)"', challenge)
    service = re.search(r'service="([^"]+)"', challenge)
    if not (realm and service):
        return False
    basic = base64.b64encode(f"admin:{PASSWORD}".encode()).decode()
    try:
        request = urllib.request.Request(f"{realm[1]}?service={service[1]}",
                                         headers={"Authorization": f"Basic {basic}"})
        token = json.load(urllib.request.urlopen(request, timeout=2, context=UNVERIFIED))
        bearer = token.get("token") or token.get("access_token")
        request = urllib.request.Request(url, headers={"Authorization": f"Bearer {bearer}"})
        return urllib.request.urlopen(request, timeout=2, context=UNVERIFIED).status == 200
    except (OSError, ValueError):
        return False


class Events:
    """docker events of the project while it starts: (seconds since t0, service, what)."""

    def __init__(self, t0_wall: float):
        self.t0, self.seen = t0_wall, []
        self.proc = subprocess.Popen(
            ["docker", "events", "--filter", f"label=com.docker.compose.project={PROJECT}",
             "--filter", "type=container", "--format", "{{json .}}"],
            stdout=subprocess.PIPE, text=True)
        self.thread = threading.Thread(target=self.read, daemon=True)
        self.thread.start()

    def read(self) -> None:
        for line in self.proc.stdout:
            event = json.loads(line)
            action = event.get("Action") or event.get("status", "")
            if action in ("start", "die", "health_status: healthy"):
                service = event["Actor"]["Attributes"].get("com.docker.compose.service", "?")
                seconds = event["timeNano"] / 1e9 - self.t0
                self.seen.append((seconds, service, action.replace("health_status: ", "")))

    def stop(self) -> list[tuple[float, str, str]]:
        self.proc.terminate()
        self.proc.wait(timeout=10)
        return sorted(self.seen)


def one_run(compose_file: Path) -> tuple[float, float, list]:
    compose(compose_file, "down", "-v", "--remove-orphans", check=False)
    t0_wall, t0 = time.time(), time.monotonic()
    events = Events(t0_wall)
    up = threading.Thread(target=compose, args=(compose_file, "up", "-d"), daemon=True)
    up.start()
    up_returned = None
    try:
        while not logged_in():
            if up_returned is None and not up.is_alive():
                up_returned = time.monotonic() - t0
            if time.monotonic() - t0 > 300:
                raise SystemExit("no login within 300 s:\n" + compose(
                    compose_file, "logs", "--tail", "30", check=False).stdout)
            time.sleep(0.2)
        login = time.monotonic() - t0
        up.join(timeout=300)
        if up_returned is None:
            up_returned = time.monotonic() - t0
        time.sleep(1)  # the last events arrive
        return login, up_returned, events.stop()
    finally:
        compose(compose_file, "down", "-v", "--remove-orphans", check=False)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=int(os.environ.get("BENCH_LOGIN_RUNS", "3")))
    parser.add_argument("--compose", type=Path, default=REPO / "compose/docker-compose.yml")
    args = parser.parse_args(argv)
    with host_lock("bench: first login"):
        build_images()
        runs = [one_run(args.compose.resolve()) for _ in range(args.runs)]
    logins = [login for login, _, _ in runs]
    median = statistics.median(logins)
    login, up_returned, timeline = min(runs, key=lambda r: abs(r[0] - median))
    print(f"first login after `docker compose up -d` ({args.compose.name}, stand-ins), "
          f"{args.runs} runs: median {median:.1f} s (runs: "
          f"{', '.join(f'{x:.1f}' for x in logins)}); target <= {TARGET:.0f} s")
    print(f"timeline of the median run (seconds after `up -d` started; `up -d` returned at "
          f"{up_returned:.1f} s, login at {login:.1f} s):")
    for seconds, service, action in timeline:
        print(f"  {seconds:6.1f}  {service:<14} {action}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
