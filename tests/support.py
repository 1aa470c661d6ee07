"""Helpers to run the wrapper and look at what it wrote."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BASE_ENV = {"HARBOR_HOSTNAME": "harbor.example.test"}


def clean_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HARBOR_")}
    env.update(extra or {})
    return env


def run_wrapper(args: list[str], variables: dict[str, str], **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "wrapper", *args], cwd=REPO,
                          env=clean_env(variables), capture_output=True, text=True, **kwargs)


def snapshot(folder: Path) -> dict[str, tuple]:
    """Every entry under folder: bytes, mode, owner, link target and mtime."""
    result = {}
    for root, dirs, files in os.walk(folder):
        for name in dirs + files:
            path = Path(root) / name
            st = path.lstat()
            body = os.readlink(path) if path.is_symlink() else (
                path.read_bytes() if path.is_file() else None)
            result[str(path.relative_to(folder))] = (body, st.st_mode, st.st_uid, st.st_gid,
                                                     st.st_mtime_ns)
    return result
