"""The one place that writes the output folder, atomically.

DIR/.generations/<hash>/   a complete tree: config/, secret/, entrypoints/, ready
DIR/current                symlink to the generation in use, swapped with rename()
DIR/config, DIR/secret,    static symlinks through current/, created once
DIR/entrypoints, DIR/ready

A generation is written under a temporary name, then renamed to the hash of its content;
`current` is replaced by rename() of a new symlink. Both are atomic on local file systems
and on NFS, so a reader (or a run killed at any moment) sees the previous tree or the new
one, never a mix. The marker `ready` is the last file written into a generation. An old
generation is renamed away (del-*) before it is deleted, so a name under .generations always
holds a complete generation. Every change goes through wrapper.fs; nothing here follows a
symlink the wrapper did not make: check_layout() refuses DIR before the first write if it
holds one where the wrapper writes.
"""

from __future__ import annotations

import json
import os
import stat
import time

from . import fs

GENERATIONS = ".generations"
STORE = ".store"
LOCK = ".lock"
CURRENT = "current"
MARKER = "ready"
LINKED = ("config", "secret", "entrypoints", MARKER)
KEEP_OLD = 1          # generations kept besides the current one
STALE_SECONDS = 600   # temporary folders this far from now (either way) are left by killed runs


class Refused(Exception):
    """DIR holds something the wrapper did not make where it writes; nothing was written."""

    def __init__(self, problems: list[str]):
        super().__init__("; ".join(problems))
        self.problems = problems


def content_hash(files) -> str:
    import hashlib

    digest = hashlib.sha256()
    for f in sorted(files, key=lambda f: f.path):
        digest.update(f"{f.path}\0{f.mode:o}\0{f.uid}\0{f.gid}\0{len(f.content)}\0".encode())
        digest.update(f.content)
    return digest.hexdigest()[:20]


def _is_generation(name: str) -> bool:
    return (len(name) == 33 and name[20] == "-"
            and all(c in "0123456789abcdef" for c in name[:20] + name[21:]))


def current_generation(out: str) -> str | None:
    """The generation `current` names, if it is a link the wrapper made."""
    try:
        target = os.readlink(os.path.join(out, CURRENT))
    except OSError:
        return None
    head, name = os.path.split(target)
    return name if head == GENERATIONS and _is_generation(name) else None


def read_current(out: str, relative: str, limit: int = 1 << 20) -> bytes | None:
    """A file of the current generation, reached without following a foreign symlink."""
    name = current_generation(out)
    if name is None:
        return None
    return fs.read_beneath(out, f"{GENERATIONS}/{name}/{relative}", limit)


def read_marker(out: str) -> dict | None:
    data = read_current(out, MARKER)
    try:
        marker = json.loads(data) if data else None
    except (ValueError, RecursionError):  # RecursionError: a marker nested too deeply
        return None
    return marker if isinstance(marker, dict) else None


def links_ok(out: str) -> bool:
    """DIR/config, secret, entrypoints and ready are the links publish() makes."""
    for entry in LINKED:
        try:
            if os.readlink(os.path.join(out, entry)) != os.path.join(CURRENT, entry):
                return False
        except OSError:
            return False
    return True


def check_layout(out: str) -> None:
    """Refuse (before anything is written) a DIR that holds, where the wrapper writes,
    something it did not make: a symlink planted for .generations, .store, .lock or inside
    them, a `current` pointing elsewhere, a real folder at DIR/config, ..."""
    problems: list[str] = []

    def mode(name: str) -> int | None:
        try:
            return os.lstat(os.path.join(out, name)).st_mode
        except FileNotFoundError:
            return None

    def refuse(name: str, what: str) -> None:
        problems.append(f"{os.path.join(out, name)} {what}, not what harbor-setupwrapper "
                        "makes there; move it away and run again")

    if os.path.lexists(out) and not os.path.isdir(out):
        raise Refused([f"{out} is not a folder"])
    for name, wanted, what in ((GENERATIONS, stat.S_ISDIR, "a folder"),
                               (STORE, stat.S_ISDIR, "a folder"),
                               (LOCK, stat.S_ISREG, "a file")):
        m = mode(name)
        if m is not None and not wanted(m):
            refuse(name, "is a symlink" if stat.S_ISLNK(m) else f"is not {what}")
    if mode(CURRENT) is not None and current_generation(out) is None:
        refuse(CURRENT, "is not a link into .generations/")
    for entry in LINKED:
        m = mode(entry)
        if m is None:
            continue
        try:
            ours = os.readlink(os.path.join(out, entry)) == os.path.join(CURRENT, entry)
        except OSError:
            ours = False
        if not ours:
            refuse(entry, "is a symlink elsewhere" if stat.S_ISLNK(m) else
                   "is a folder" if stat.S_ISDIR(m) else "is a file")
    if not problems:
        for folder in (GENERATIONS, STORE):
            _no_symlinks_below(out, folder, refuse, depth=1 if folder == GENERATIONS else 9)
    if problems:
        raise Refused(problems)


def _no_symlinks_below(out: str, relative: str, refuse, depth: int) -> None:
    try:
        entries = list(os.scandir(os.path.join(out, relative)))
    except (FileNotFoundError, NotADirectoryError):
        return
    for entry in entries:
        name = os.path.join(relative, entry.name)
        if entry.is_symlink():
            refuse(name, "is a symlink")
        elif depth > 1 and entry.is_dir(follow_symlinks=False):
            _no_symlinks_below(out, name, refuse, depth - 1)


class locked:
    """Serialise writers on one DIR. fcntl locks work on local file systems and NFSv4;
    correctness does not depend on them (store items and generations are created with
    no-replace primitives, what is published is checked), they only avoid wasted work. Where
    the lock cannot be taken (ENOLCK: NFSv3 without a lock manager, some NAS, FUSE and SMB
    mounts) the run says so once on stderr and goes on."""

    def __init__(self, out: str):
        self.out = out

    def __enter__(self):
        import fcntl

        if not os.path.isdir(self.out):
            fs.makedirs(self.out, 0o755)
        self.fd = fs.open_lock(os.path.join(self.out, LOCK))
        try:
            fcntl.lockf(self.fd, fcntl.LOCK_EX)
        except OSError as err:
            import sys

            print(f"harbor-setupwrapper: warning: cannot lock {os.path.join(self.out, LOCK)} "
                  f"({err.strerror or err}); going on without the lock, safely: concurrent "
                  "runs agree on every key and certificate, they may only repeat work",
                  file=sys.stderr)
        return self

    def __exit__(self, *exc):
        os.close(self.fd)


def _write_file(root: str, f, chown: bool) -> None:
    path = os.path.join(root, f.path)
    fs.makedirs(os.path.dirname(path), 0o755)
    fs.create(path, f.content, f.mode, (f.uid, f.gid) if chown else None)


def _token() -> str:
    return os.urandom(4).hex()


def _symlink(target: str, link: str) -> None:
    """Point link at target, replacing what is there in one rename()."""
    try:
        if os.readlink(link) == target:
            return
    except OSError:
        pass
    temp = f"{link}.tmp-{_token()}"
    fs.symlink(target, temp)
    fs.replace(temp, link)


def _complete(folder: str, files) -> bool:
    """Every file of the generation is there with its size, and the marker."""
    try:
        if not stat.S_ISDIR(os.lstat(folder).st_mode):
            return False
        for f in files:
            info = os.lstat(os.path.join(folder, f.path))
            if not stat.S_ISREG(info.st_mode) or info.st_size != len(f.content):
                return False
        return os.lstat(os.path.join(folder, MARKER)).st_size > 0
    except OSError:
        return False


def _discard(generations: str, path: str) -> None:
    """Rename away first: a kill during the deletion leaves a del-* folder, never a
    half-deleted generation under its own name."""
    trash = os.path.join(generations, f"del-{os.getpid()}-{_token()}")
    try:
        fs.rename(path, trash)
    except FileNotFoundError:
        return
    fs.rmtree(trash)


def publish(out: str, files, marker: dict, chown: bool) -> str:
    """Write files plus the marker as a new generation and make it current. Returns its name."""
    from .files import File

    generations = os.path.join(out, GENERATIONS)
    if not os.path.isdir(generations):
        fs.makedirs(generations, 0o755)
    name = marker["generation"]
    final = os.path.join(generations, name)
    if not _complete(final, files):
        if os.path.lexists(final):
            _discard(generations, final)
        temp = os.path.join(generations, f"tmp-{os.getpid()}-{_token()}")
        fs.mkdir(temp, 0o755)
        try:
            for f in files:
                _write_file(temp, f, chown)
            _write_file(temp, File(MARKER, (json.dumps(marker, sort_keys=True) + "\n").encode(),
                                   0o644, 0, 0), chown)
            fs.fsync_dir(temp)
            try:
                fs.rename(temp, final)
            except OSError:  # the same generation was published meanwhile
                fs.rmtree(temp)
        except BaseException:  # out of space, ...: leave nothing behind
            try:
                fs.rmtree(temp)
            except OSError:
                pass
            raise
    _symlink(os.path.join(GENERATIONS, name), os.path.join(out, CURRENT))
    for entry in LINKED:
        _symlink(os.path.join(CURRENT, entry), os.path.join(out, entry))
    fs.fsync_dir(out)
    return name


def current_complete(out: str) -> bool:
    """`current` names a generation that is there, marker included."""
    name = current_generation(out)
    return name is not None and os.path.isfile(os.path.join(out, GENERATIONS, name, MARKER))


def settle(out: str, files, marker: dict, chown: bool, attempts: int = 8) -> None:
    """After clean(): `current` names a complete generation. Without a working lock a racing
    run's clean() can remove the generation another run has just made current (each checks
    `current` before it removes one, but not atomically with it); every run that removes or
    publishes checks afterwards, so the last one to act leaves a complete tree."""
    for _ in range(attempts):
        if current_complete(out) and links_ok(out):
            return
        publish(out, files, marker, chown)
    raise OSError(f"{out}: concurrent runs kept removing the generation in use")


def clean(out: str, keep: str) -> None:
    """Drop old generations (keeping the newest KEEP_OLD besides `keep`), folders and links
    left by killed runs (temporaries only once STALE_SECONDS from now, either way)."""
    generations = os.path.join(out, GENERATIONS)
    now = time.time()
    old = []
    for entry in os.listdir(generations):
        path = os.path.join(generations, entry)
        try:
            mtime = os.lstat(path).st_mtime
        except FileNotFoundError:
            continue
        if entry.startswith("del-"):
            fs.rmtree(path)
        elif entry.startswith("tmp-"):
            if abs(now - mtime) > STALE_SECONDS:
                fs.rmtree(path)
        elif entry != keep:
            old.append((mtime, path))
    for _, path in sorted(old, reverse=True)[KEEP_OLD:]:
        if current_generation(out) != os.path.basename(path):  # a racing run's, made current
            _discard(generations, path)
    for entry in os.listdir(out):
        base, sep, _ = entry.partition(".tmp-")
        path = os.path.join(out, entry)
        if sep and base in (CURRENT, *LINKED) and os.path.islink(path):
            # only a killed run's: a fresh one may be a racing run's, between its symlink()
            # and its rename onto the link (without a lock, removing it failed that run)
            try:
                if abs(now - os.lstat(path).st_mtime) > STALE_SECONDS:
                    fs.unlink(path)
            except FileNotFoundError:
                pass
