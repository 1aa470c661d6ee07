"""The one place that writes the output folder, atomically.

DIR/.generations/<hash>/   a complete tree: config/, secret/, entrypoints/, ready
DIR/current                symlink to the generation in use, swapped with rename()
DIR/config, DIR/secret,    static symlinks through current/, created once
DIR/entrypoints, DIR/ready

A generation is written under a temporary name, then renamed to the hash of its content;
`current` is replaced by rename() of a new symlink. Both are atomic on local file systems
and on NFS, so a reader (or a run killed at any moment) sees the previous tree or the new
one, never a mix. The marker `ready` is the last file written into a generation.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import secrets
import shutil
import time
from contextlib import contextmanager

from .files import File

GENERATIONS = ".generations"
CURRENT = "current"
MARKER = "ready"
LINKED = ("config", "secret", "entrypoints", MARKER)
KEEP_OLD = 1          # generations kept besides the current one
STALE_SECONDS = 600   # temporary folders older than this are left by killed runs


def content_hash(files: list[File]) -> str:
    digest = hashlib.sha256()
    for f in sorted(files, key=lambda f: f.path):
        digest.update(f"{f.path}\0{f.mode:o}\0{f.uid}\0{f.gid}\0{len(f.content)}\0".encode())
        digest.update(f.content)
    return digest.hexdigest()[:20]


def read_marker(out: str) -> dict | None:
    try:
        with open(os.path.join(out, CURRENT, MARKER), encoding="utf-8") as handle:
            return json.load(handle)
    except (OSError, ValueError):
        return None


@contextmanager
def locked(out: str):
    """Serialise writers on one DIR. fcntl locks work on NFSv4; correctness does not depend
    on them (items and generations are created atomically), they only avoid wasted work."""
    os.makedirs(out, exist_ok=True)
    fd = os.open(os.path.join(out, ".lock"), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.lockf(fd, fcntl.LOCK_EX)
        except OSError:
            pass
        yield
    finally:
        os.close(fd)


def _write_file(root: str, f: File, chown: bool) -> None:
    path = os.path.join(root, f.path)
    os.makedirs(os.path.dirname(path), mode=0o755, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, f.content)
        if chown:
            os.fchown(fd, f.uid, f.gid)
        os.fchmod(fd, f.mode)
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _symlink(target: str, link: str) -> None:
    """Point link at target, replacing what is there in one rename()."""
    try:
        if os.readlink(link) == target:
            return
    except OSError:
        pass
    temp = f"{link}.tmp-{secrets.token_hex(4)}"
    os.symlink(target, temp)
    os.replace(temp, link)


def publish(out: str, files: list[File], marker: dict, chown: bool) -> str:
    """Write files plus the marker as a new generation and make it current. Returns its name."""
    generations = os.path.join(out, GENERATIONS)
    os.makedirs(generations, mode=0o755, exist_ok=True)
    name = content_hash(files) + "-" + marker["settings"][:12]
    final = os.path.join(generations, name)
    if not os.path.isfile(os.path.join(final, MARKER)):
        temp = os.path.join(generations, f"tmp-{os.getpid()}-{secrets.token_hex(4)}")
        os.makedirs(temp, mode=0o755)
        for f in files:
            _write_file(temp, f, chown)
        _write_file(temp, File(MARKER, (json.dumps(marker, sort_keys=True) + "\n").encode(),
                               0o644, 0, 0), chown)
        _fsync_dir(temp)
        try:
            os.rename(temp, final)
        except OSError:  # the same generation was published meanwhile
            shutil.rmtree(temp, ignore_errors=True)
    _symlink(os.path.join(GENERATIONS, name), os.path.join(out, CURRENT))
    for entry in LINKED:
        _symlink(os.path.join(CURRENT, entry), os.path.join(out, entry))
    _fsync_dir(out)
    return name


def clean(out: str, keep: str) -> None:
    """Drop old generations (keeping the newest KEEP_OLD besides `keep`) and stale temporaries."""
    generations = os.path.join(out, GENERATIONS)
    now = time.time()
    old = []
    for entry in os.listdir(generations):
        path = os.path.join(generations, entry)
        age = now - os.lstat(path).st_mtime
        if entry.startswith("tmp-"):
            if age > STALE_SECONDS:
                shutil.rmtree(path, ignore_errors=True)
        elif entry != keep:
            old.append((os.lstat(path).st_mtime, path))
    for _, path in sorted(old, reverse=True)[KEEP_OLD:]:
        shutil.rmtree(path, ignore_errors=True)
