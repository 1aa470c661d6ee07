"""Helpers for the end-to-end tests: building images, running commands."""

from __future__ import annotations

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


