"""Helpers to run the wrapper and look at what it wrote."""

from __future__ import annotations

import os
import stat
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


def listing(top: Path) -> dict[str, tuple]:
    """Every entry under top and top itself ("."): bytes of a regular file or a link's target,
    mode, owner and mtime, read without following links (a FIFO or socket is not opened)."""
    result = {}
    for root, dirs, files in os.walk(top):
        for name in ["."] + dirs + files if root == str(top) else dirs + files:
            path = Path(root) / name if name != "." else Path(root)
            st = path.lstat()
            body = os.readlink(path) if stat.S_ISLNK(st.st_mode) else (
                path.read_bytes() if stat.S_ISREG(st.st_mode) else None)
            result[str(path.relative_to(top))] = (body, st.st_mode, st.st_uid, st.st_gid,
                                                  st.st_mtime_ns)
    return result


def snapshot(folder: Path) -> dict[str, tuple]:
    """Every entry under folder (folder itself left out): as listing()."""
    return {name: entry for name, entry in listing(folder).items() if name != "."}
