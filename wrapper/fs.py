"""Every change the wrapper makes to the file system goes through this module.

One place, so that each change is made the same careful way (an exact mode whatever the
umask, no symlink followed at the name being created or removed) and so that the crash-point
test can count the changes and stop a run just before any one of them
(tests/test_crash_points.py sets `crash_at`; os._exit unwinds nothing, like SIGKILL).
"""

from __future__ import annotations

import errno
import os
import stat

calls = 0                      # changes made so far by this process
crash_at: int | None = None    # test hook: exit at once, before the crash_at-th change

_NOFOLLOW = os.O_NOFOLLOW | os.O_CLOEXEC


def _point() -> None:
    global calls
    calls += 1
    if calls == crash_at:
        os._exit(137)


class _ExactModes:
    """umask 0 around one call, so that the mode given is the mode made."""

    def __enter__(self):
        self.old = os.umask(0)

    def __exit__(self, *exc):
        os.umask(self.old)


def mkdir(path: str, mode: int) -> None:
    _point()
    with _ExactModes():
        os.mkdir(path, mode)


def makedirs(path: str, mode: int) -> None:
    """Like os.makedirs(exist_ok=True), every folder it makes with exactly mode; refuses a
    symlink on the way only where it creates (callers check their roots with lstat)."""
    if os.path.isdir(path):
        return
    parent = os.path.dirname(path)
    if parent and parent != path:
        makedirs(parent, mode)
    try:
        mkdir(path, mode)
    except FileExistsError:
        if not os.path.isdir(path):
            raise


def chmod(path: str, mode: int) -> None:
    _point()
    os.chmod(path, mode)


def create(path: str, data: bytes, mode: int, owner: tuple[int, int] | None = None) -> None:
    """A new file (never an existing one, never through a symlink) with data, owner, mode."""
    _point()
    with _ExactModes():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW, 0o600)
    try:
        _point()
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        if owner is not None:
            _point()
            os.fchown(fd, *owner)
        if mode != 0o600:
            _point()
            os.fchmod(fd, mode)
        fsync(fd)
    finally:
        os.close(fd)


def fsync(fd: int) -> None:
    """Durable against a power cut (not needed against a kill: the crash-point test skips it)."""
    os.fsync(fd)


def fsync_dir(path: str) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        fsync(fd)
    finally:
        os.close(fd)


def open_lock(path: str) -> int:
    """The lock file, created 0600 if absent; a symlink there is refused (ELOOP)."""
    _point()
    with _ExactModes():
        return os.open(path, os.O_RDWR | os.O_CREAT | _NOFOLLOW, 0o600)


def link(source: str, target: str) -> None:
    _point()
    os.link(source, target, follow_symlinks=False)


def rename(source: str, target: str) -> None:
    _point()
    os.rename(source, target)


def replace(source: str, target: str) -> None:
    _point()
    os.replace(source, target)


def symlink(target: str, path: str) -> None:
    _point()
    os.symlink(target, path)


def unlink(path: str) -> None:
    _point()
    os.unlink(path)


def rmtree(path: str) -> None:
    """Remove a folder the wrapper made; a symlink inside is removed, never followed.
    Missing entries are fine (another run may be removing the same folder)."""
    try:
        entries = os.listdir(path) if stat.S_ISDIR(os.lstat(path).st_mode) else None
    except FileNotFoundError:
        return
    try:
        if entries is None:
            unlink(path)
            return
        for entry in entries:
            rmtree(os.path.join(path, entry))
        _point()
        os.rmdir(path)
    except FileNotFoundError:
        pass


_RENAME_NOREPLACE = 1
_renameat2 = None


def rename_noreplace(source: str, target: str) -> bool:
    """Rename unless target exists, atomically where the kernel and file system can
    (renameat2 RENAME_NOREPLACE); True if renamed. Where they cannot, an exists-check first:
    only wrappers racing without working locks could then both rename."""
    global _renameat2
    if _renameat2 is None:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        _renameat2 = getattr(libc, "renameat2", False)
    _point()
    if _renameat2:
        import ctypes

        at_fdcwd = -100
        if _renameat2(at_fdcwd, os.fsencode(source), at_fdcwd, os.fsencode(target),
                      _RENAME_NOREPLACE) == 0:
            return True
        err = ctypes.get_errno()
        if err == errno.EEXIST:
            return False
        if err not in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP, errno.EOPNOTSUPP):
            raise OSError(err, os.strerror(err), target)
    if os.path.lexists(target):
        return False
    os.rename(source, target)
    return True


def read_beneath(root: str, relative: str, limit: int = 1 << 20) -> bytes | None:
    """Bytes of root/relative, following no symlink below root; None if it is absent, not a
    regular file, larger than limit, or reached through a symlink."""
    parts = relative.split("/")
    try:
        fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        for part in parts[:-1]:
            nxt = os.open(part, os.O_RDONLY | os.O_DIRECTORY | _NOFOLLOW, dir_fd=fd)
            os.close(fd)
            fd = nxt
        nxt = os.open(parts[-1], os.O_RDONLY | _NOFOLLOW | os.O_NONBLOCK, dir_fd=fd)
        os.close(fd)
        fd = nxt
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_size > limit:
            return None
        chunks, size = [], 0
        while chunk := os.read(fd, 65536):
            chunks.append(chunk)
            size += len(chunk)
            if size > limit:
                return None
        return b"".join(chunks)
    except OSError:
        return None
    finally:
        os.close(fd)
