"""init-data: the data folders Harbor's images write, owned as upstream's installer leaves them.

The registry, jobservice and trivy-adapter images run as uid 10000, PostgreSQL and Valkey as
999, and none of them creates or chowns its data folder: a new volume, NFS folder or host
folder is root:root 0755 and the service cannot write. Upstream's `prepare`
(make/photon/prepare/utils/*.py, prepare_dir) creates each folder under /data with the owner and
mode below; the deployment files mount every data volume at /data/<name> of a one-shot
container that runs `harbor-setupwrapper init-data` (or bind-mount a host folder at /data).

Fast on a large registry: only the top folder is looked at. When its owner is already right
nothing below it is touched. When it is wrong (a new volume, or data restored as another user),
everything below is handed over first and the top last, so a run that was cut short is
redone by the next one. The mode is set on the top folder only, as upstream does.
"""

from __future__ import annotations

import errno
import os
import re
import stat
import sys
import time
from dataclasses import dataclass

from . import db_snapshot
from .context import HARBOR_UID

POSTGRES_UID = 999  # harbor-db's postgres user
VALKEY_UID = 999    # valkey-photon's valkey user


@dataclass(frozen=True)
class DataDir:
    name: str    # under /data, upstream's name
    uid: int
    gid: int
    mode: int
    images: str  # who writes it, for messages


DATA_DIRS = (
    DataDir("registry", HARBOR_UID, HARBOR_UID, 0o755, "registry and registryctl"),
    DataDir("job_logs", HARBOR_UID, HARBOR_UID, 0o755, "jobservice"),
    DataDir("database", POSTGRES_UID, POSTGRES_UID, 0o700, "harbor-db (PostgreSQL)"),
    DataDir("redis", VALKEY_UID, VALKEY_UID, 0o755, "valkey-photon"),
    DataDir("trivy-adapter/trivy", HARBOR_UID, HARBOR_UID, 0o755, "trivy-adapter"),
    DataDir("trivy-adapter/reports", HARBOR_UID, HARBOR_UID, 0o755, "trivy-adapter"),
)

# the steps, in the order they run
CREATE, CHOWN_BELOW, CHMOD, CHOWN_TOP = "create", "chown-below", "chmod", "chown-top"


@dataclass(frozen=True)
class State:
    """What stat says of a top folder."""
    uid: int
    gid: int
    mode: int  # permission bits only


def plan(want: DataDir, state: State | None) -> tuple[str, ...]:
    """The steps that bring a top folder (None: missing) to what its image needs."""
    if state is None:
        return (CREATE, CHMOD, CHOWN_TOP)  # new and empty: nothing below to hand over
    steps = []
    owner_wrong = (state.uid, state.gid) != (want.uid, want.gid)
    if owner_wrong:
        steps.append(CHOWN_BELOW)
    if state.mode != want.mode:
        steps.append(CHMOD)
    if owner_wrong:
        steps.append(CHOWN_TOP)
    return tuple(steps)


def refused(want: DataDir, path: str, reason: str) -> str:
    return (f"{path}: cannot give it to {want.uid}:{want.gid} mode {want.mode:04o} "
            f"({want.images} runs as uid {want.uid}): {reason}. On NFS, export it with "
            f"no_root_squash, or create the folder on the server owned by {want.uid}:{want.gid} "
            f"with mode {want.mode:04o}.")


class Changed(OSError):
    """A folder was swapped (for a link, or another folder) between check and change."""


class Report:
    """What a hand-over did: entries re-owned, and what it left alone (bounded)."""

    KEEP = 20  # skipped entries named; beyond, counted

    def __init__(self):
        self.handed = 0
        self.skipped: list[str] = []
        self.more = 0

    def skip(self, path: str, why: str) -> None:
        if len(self.skipped) < self.KEEP:
            self.skipped.append(f"{path}: {why}")
        else:
            self.more += 1


_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
MAX_DEPTH = 256  # registry data is about 12 deep; each level holds one folder open
PROGRESS_SECONDS = 3.0
_SPECIAL = {stat.S_IFIFO: "a FIFO", stat.S_IFSOCK: "a socket", stat.S_IFCHR: "a device",
            stat.S_IFBLK: "a device"}


def _mount_points() -> set[str]:
    """Every mount point the kernel lists (bind mounts keep st_dev: compared by path too)."""
    try:
        with open("/proc/self/mountinfo", encoding="utf-8", errors="surrogateescape") as lines:
            return {re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)),
                           line.split()[4]) for line in lines}
    except OSError:
        return set()


class Disk:
    """The one place init-data touches the filesystem (tests count or refuse its calls).

    Every step works on file descriptors opened without following links, from the root
    down, and checks that the folder is still the one stat saw: a folder swapped for a link
    (or another folder) between check and change is refused, never followed."""

    def __init__(self, root: str | None = None):
        self.root = root  # opened as given (links followed); everything below it no-follow
        self._seen: dict[str, tuple[int, int]] = {}  # path -> (st_dev, st_ino) at state()
        self._mounts: set[str] | None = None

    def _parent(self, path: str) -> tuple[int, str]:
        """(fd of the parent folder, name), each folder below the root opened no-follow."""
        root = self.root if self.root and path.startswith(self.root.rstrip("/") + "/") \
            else os.path.dirname(path)
        parts = path[len(root.rstrip("/")) + 1:].split("/")
        fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            for part in parts[:-1]:
                child = os.open(part, _DIR_FLAGS, dir_fd=fd)
                os.close(fd)
                fd = child
        except OSError:
            os.close(fd)
            raise
        return fd, parts[-1]

    def state(self, path: str) -> State | None:
        try:
            fd, name = self._parent(path)
        except FileNotFoundError:
            return None  # its parent is missing too (trivy-adapter/)
        try:
            st = os.stat(name, dir_fd=fd, follow_symlinks=False)
        except FileNotFoundError:
            return None
        finally:
            os.close(fd)
        if stat.S_ISLNK(st.st_mode):
            raise NotADirectoryError(errno.ELOOP, "is a symbolic link: init-data never follows "
                                                  "one (mount the folder itself)")
        if not stat.S_ISDIR(st.st_mode):
            raise NotADirectoryError(errno.ENOTDIR, "exists and is not a folder")
        self._seen[path] = (st.st_dev, st.st_ino)
        return State(st.st_uid, st.st_gid, st.st_mode & 0o777)

    def _open(self, path: str) -> int:
        """The folder stat saw, as an fd; Changed when it is no longer that one."""
        fd, name = self._parent(path)
        try:
            top = os.open(name, _DIR_FLAGS, dir_fd=fd)
        except OSError as err:
            if err.errno in (errno.ELOOP, errno.ENOTDIR):
                raise Changed(err.errno, "was replaced by a link or a file after it was "
                                         "checked: nothing below it was changed") from None
            raise
        finally:
            os.close(fd)
        st = os.fstat(top)
        if path in self._seen and self._seen[path] != (st.st_dev, st.st_ino):
            os.close(top)
            raise Changed(errno.ESTALE, "was replaced by another folder after it was checked: "
                                        "nothing below it was changed")
        return top

    def mkdir(self, path: str) -> None:
        parent = os.path.dirname(path)
        if self.root and parent.startswith(self.root.rstrip("/") + "/") and \
                not os.path.lexists(parent):
            self.mkdir(parent)  # trivy-adapter/ of trivy-adapter/trivy
        fd, name = self._parent(path)
        try:
            os.mkdir(name, 0o755, dir_fd=fd)
            st = os.stat(name, dir_fd=fd, follow_symlinks=False)
            self._seen[path] = (st.st_dev, st.st_ino)
        finally:
            os.close(fd)

    def chmod(self, path: str, mode: int) -> None:
        fd = self._open(path)
        try:
            os.fchmod(fd, mode)
        finally:
            os.close(fd)

    def chown(self, path: str, uid: int, gid: int) -> None:
        fd = self._open(path)
        try:
            os.fchown(fd, uid, gid)
        finally:
            os.close(fd)

    def hand_over(self, path: str, uid: int, gid: int, say) -> Report:
        """Everything below path to uid:gid, in bounded memory (one scandir per level, no
        list of the tree), skipping what does not belong to the folder alone: files with
        several hard links (the other name may be outside), other mounts, FIFOs, sockets and
        devices. Links are re-owned themselves, never followed."""
        if self._mounts is None:
            self._mounts = _mount_points()
        report = Report()
        top = self._open(path)
        device = os.fstat(top).st_dev
        last = time.monotonic()
        stack = [(top, path, os.scandir(top))]
        try:
            while stack:
                fd, where, entries = stack[-1]
                entry = next(entries, None)
                if entry is None:
                    entries.close()
                    os.close(fd)
                    stack.pop()
                    continue
                child = f"{where}/{entry.name}"
                st = entry.stat(follow_symlinks=False)
                kind = stat.S_IFMT(st.st_mode)
                if st.st_dev != device or child in self._mounts:
                    report.skip(child, "another mount: init-data never crosses one")
                elif kind in _SPECIAL:
                    report.skip(child, f"{_SPECIAL[kind]}: left as it is")
                elif kind == stat.S_IFDIR:
                    if len(stack) >= MAX_DEPTH:
                        report.skip(child, f"deeper than {MAX_DEPTH} levels: left as it is")
                        continue
                    sub = self._open_below(fd, entry.name, st, child)
                    os.fchown(sub, uid, gid)
                    report.handed += 1
                    stack.append((sub, child, os.scandir(sub)))
                elif kind == stat.S_IFREG and st.st_nlink > 1:
                    report.skip(child, f"a file with {st.st_nlink} hard links (another may be "
                                       "outside the data folder): left as it is")
                else:  # a file with one link, or a link (re-owned itself)
                    self._chown_entry(fd, entry.name, st, uid, gid)
                    report.handed += 1
                now = time.monotonic()
                if now - last >= PROGRESS_SECONDS:
                    last = now
                    say(f"harbor-setupwrapper: data {path}: {report.handed} entries handed "
                        "over so far")
        finally:
            for fd, _, entries in stack:
                entries.close()
                os.close(fd)
        return report

    @staticmethod
    def _open_below(parent: int, name: str, st, path: str) -> int:
        try:
            fd = os.open(name, _DIR_FLAGS, dir_fd=parent)
        except OSError as err:
            if err.errno in (errno.ELOOP, errno.ENOTDIR):
                raise Changed(err.errno, f"{path} was replaced by a link or a file while it "
                                         "was handed over: stopped there") from None
            raise
        now = os.fstat(fd)
        if (now.st_dev, now.st_ino) != (st.st_dev, st.st_ino):
            os.close(fd)
            raise Changed(errno.ESTALE, f"{path} was replaced by another folder while it was "
                                        "handed over: stopped there")
        return fd

    @staticmethod
    def _chown_entry(parent: int, name: str, st, uid: int, gid: int) -> None:
        """Re-own the inode stat saw, or nothing: a file is opened (O_PATH, no-follow) and
        checked again (same inode, still one link) before the change."""
        if stat.S_ISLNK(st.st_mode):
            os.chown(name, uid, gid, dir_fd=parent, follow_symlinks=False)
            return
        fd = os.open(name, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=parent)
        try:
            now = os.fstat(fd)
            if (now.st_dev, now.st_ino) != (st.st_dev, st.st_ino) or now.st_nlink != 1 \
                    or not stat.S_ISREG(now.st_mode):
                raise Changed(errno.ESTALE, f"{name} changed while it was handed over: "
                                            "stopped there")
            os.chown(f"/proc/self/fd/{fd}", uid, gid)  # the inode behind the fd (O_PATH
            # has no fchown); /proc is mounted in every container init-data runs in
        finally:
            os.close(fd)


def init_data(root: str, dirs=DATA_DIRS, disk: Disk | None = None,
              say=lambda line: print(line, file=sys.stderr)) -> list[str]:
    """Prepares every folder under root; returns the problems (empty: all done)."""
    disk = disk or Disk(root)
    problems = []
    for want in dirs:
        path = os.path.join(root, want.name)
        try:
            steps = plan(want, disk.state(path))
            handed = 0
            for step in steps:
                if step == CREATE:
                    disk.mkdir(path)
                elif step == CHOWN_BELOW:
                    report = disk.hand_over(path, want.uid, want.gid, say)
                    handed = report.handed
                    for line in report.skipped:
                        say(f"harbor-setupwrapper: data {want.name}: skipped {line}")
                    if report.more:
                        say(f"harbor-setupwrapper: data {want.name}: skipped {report.more} "
                            "more entries of these kinds")
                elif step == CHMOD:
                    disk.chmod(path, want.mode)
                else:
                    disk.chown(path, want.uid, want.gid)
        except Changed as err:
            problems.append(f"{path}: {err.strerror}. Its top folder keeps its owner, so the "
                            "next init-data redoes it; run it again once nothing else changes "
                            "the folder.")
            continue
        except OSError as err:
            problems.append(refused(want, path, err.strerror or str(err)))
            continue
        done = ", ".join(steps) if steps else "already right"
        if CHOWN_BELOW in steps:
            skipped = len(report.skipped) + report.more
            done += f" ({handed} entries below" + (f", {skipped} skipped)" if skipped else ")")
        say(f"harbor-setupwrapper: data {want.name:<21} {want.uid}:{want.gid} "
            f"{want.mode:04o}  {done}")
    if not problems:  # the database snapshot, when this start would upgrade PostgreSQL
        problems += db_snapshot.before_upgrade(root, say)
    return problems
