"""The persistent store: every key and secret, each made once.

Items are files in DIR/.store. An item is created by writing a complete temporary file and
hard-linking it to its final name: link() fails when the name exists, atomically, on local
file systems and on NFS alike. So concurrent wrappers agree on the first item written (with
or without a working lock: get_or_create never replaces a complete item), and a killed
wrapper leaves either no item or a whole one. Where the file system has no hard
links, the complete temporary file is renamed to the final name unless it exists
(renameat2 RENAME_NOREPLACE): never an empty or partial item.
"""

from __future__ import annotations

import errno
import os
from . import fs


class Store:
    def __init__(self, root: str):
        self.root = root

    def path(self, name: str) -> str:
        return os.path.join(self.root, name)

    def read(self, name: str) -> bytes | None:
        """The item's bytes; None when absent (or empty: a file an older version's killed
        run may have left, which is then made anew)."""
        try:
            fd = os.open(self.path(name), os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except FileNotFoundError:
            return None
        with os.fdopen(fd, "rb") as handle:
            return handle.read() or None

    def _temp(self, name: str, data: bytes) -> str:
        folder = os.path.dirname(self.path(name))
        if not os.path.isdir(folder):
            fs.makedirs(folder, 0o700)
        temp = self.path(f"{name}.tmp-{os.getpid()}-{os.urandom(4).hex()}")
        try:
            fs.create(temp, data, 0o600)
        except BaseException:
            _unlink_quietly(temp)
            raise
        return temp

    def get_or_create(self, name: str, make) -> tuple[bytes, bool]:
        """(value, created_now). make() runs only when the item does not exist yet. Never
        replaces a complete item: the name is taken with link() (or RENAME_NOREPLACE), which
        fails when it exists, so every concurrent wrapper gets the first complete item."""
        existing = self.read(name)
        if existing is not None:
            return existing, False
        if os.path.lexists(self.path(name)):  # empty: see read()
            return self._repair_empty(name, make)
        created = self._take(name, make())
        value = self.read(name)
        if value is None and os.path.lexists(self.path(name)):
            return self._repair_empty(name, make)  # an older version's run wrote it empty
        return value, created

    def _take(self, name: str, data: bytes) -> bool:
        """Give name the complete data unless it exists, atomically; True if this did."""
        temp = self._temp(name, data)
        try:
            try:
                fs.link(temp, self.path(name))
                return True
            except FileExistsError:
                return False
            except OSError as err:  # file systems without hard links
                if err.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP):
                    raise
                return fs.rename_noreplace(temp, self.path(name))
        finally:
            if os.path.lexists(temp):
                fs.unlink(temp)

    def _repair_empty(self, name: str, make) -> tuple[bytes, bool]:
        """An empty item an older version's killed run left. Concurrent wrappers decide its
        value under the same no-replace primitive, at <name>.repaired (kept: removing it
        would let a late wrapper decide again); the empty file is then replaced by that
        value, by whoever comes first: they all write the same bytes."""
        repaired = f"{name}.repaired"
        created = False
        value = self.read(repaired)
        if value is None:
            created = self._take(repaired, make())
            value = self.read(repaired)
        if value is None:  # an empty <name>.repaired: not ours to decide on
            raise OSError(errno.EIO, "empty store item", self.path(repaired))
        if self.read(name) is None:
            fs.replace(self._temp(name, value), self.path(name))
        current = self.read(name)
        return current if current is not None else value, created

    def clean_temporaries(self, stale_seconds: float) -> None:
        """Temporary files of killed runs (this far from now either way: never a live one's)."""
        import time

        now = time.time()
        for folder, _, names in os.walk(self.root):
            for entry in names:
                path = os.path.join(folder, entry)
                try:
                    if ".tmp-" in entry and abs(now - os.lstat(path).st_mtime) > stale_seconds:
                        fs.unlink(path)
                except FileNotFoundError:
                    pass

    def replace(self, name: str, data: bytes) -> None:
        """For derived items only (a server certificate re-issued for new names)."""
        fs.replace(self._temp(name, data), self.path(name))


def _unlink_quietly(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass
