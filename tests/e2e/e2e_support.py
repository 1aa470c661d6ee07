"""Helpers for the end-to-end tests: building images, running commands."""

from __future__ import annotations

import contextlib
import fcntl
import importlib.util
import json
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
WRAPPER_IMAGE = "harbor-setupwrapper:e2e"
BASE_IMAGE_NAME = "harbor-e2e-base:bookworm"
HOST_CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"


def build_module():
    spec = importlib.util.spec_from_file_location(
        "standin_build", REPO / "tests/e2e/images/build.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def sh(*cmd: str, check: bool = True, env: dict | None = None, timeout: float = 600,
       input: str | None = None) -> subprocess.CompletedProcess:
    result = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout,
                            input=input)
    if check and result.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed ({result.returncode}):\n"
                             f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return result


def compose_binary() -> list[str]:
    if sh("docker", "compose", "version", check=False).returncode == 0:
        return ["docker", "compose"]
    raise AssertionError("the docker compose v2 plugin is missing: run .ci/start-engine.sh")


def image_size(image: str) -> int:
    return json.loads(sh("docker", "image", "inspect", image).stdout)[0]["Size"]




HOST_LOCK = "/tmp/e2e-host.lock"


def _ancestors() -> set[int]:
    pids, pid = set(), os.getpid()
    while pid > 1:
        pids.add(pid)
        try:
            with open(f"/proc/{pid}/stat") as f:
                pid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            break
    return pids


def _held_by_ancestor(path: str) -> bool:
    """Whether `flock PATH pytest ...` (a process above this one) already holds the lock."""
    try:
        inode = os.stat(path).st_ino
        with open("/proc/locks") as f:
            lines = f.read().splitlines()
    except OSError:
        return False
    mine = _ancestors()
    for line in lines:
        fields = line.split()
        # "1: FLOCK  ADVISORY  WRITE 1234 00:2a:5678 0 EOF" (blocked waiters carry "->")
        if "->" in fields or len(fields) < 6 or fields[1] != "FLOCK":
            continue
        if fields[5].rsplit(":", 1)[-1] == str(inode) and int(fields[4]) in mine:
            return True
    return False


@contextlib.contextmanager
def host_lock(what: str, path: str = HOST_LOCK):
    """Holds /tmp/e2e-host.lock (see PROTOCOL: one user of the host's engine at a time) around
    builds and anything else on the host's engine; a no-op when a parent process holds it.
    `path`: another engine's lock (Podman's: /tmp/podman.lock), the same way."""
    if _held_by_ancestor(path):
        yield
        return
    with open(path, "a") as handle:
        started = time.monotonic()
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            print(f"[e2e] waiting for {path} ({what})", flush=True)
            fcntl.flock(handle, fcntl.LOCK_EX)
            print(f"[e2e] got {path} after {time.monotonic() - started:.0f}s", flush=True)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
