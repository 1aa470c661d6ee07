"""The persistent store: every key and secret, each made once.

Items are files in DIR/.store. An item is created by writing a temporary file and
hard-linking it to its final name: link() fails when the name exists, atomically, on local
file systems and on NFS alike. So concurrent wrappers agree on the first item written, and
a killed wrapper leaves either no item or a whole one.
"""

from __future__ import annotations

import errno
import os
import secrets
from typing import Callable


class Store:
    def __init__(self, root: str):
        self.root = root

    def path(self, name: str) -> str:
        return os.path.join(self.root, name)

    def read(self, name: str) -> bytes | None:
        try:
            with open(self.path(name), "rb") as handle:
                return handle.read()
        except FileNotFoundError:
            return None

    def _temp(self, name: str, data: bytes) -> str:
        os.makedirs(os.path.dirname(self.path(name)), mode=0o700, exist_ok=True)
        temp = self.path(f"{name}.tmp-{os.getpid()}-{secrets.token_hex(4)}")
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        return temp

    def get_or_create(self, name: str, make: Callable[[], bytes]) -> tuple[bytes, bool]:
        """(value, created_now). make() runs only when the item does not exist yet."""
        existing = self.read(name)
        if existing is not None:
            return existing, False
        temp = self._temp(name, make())
        try:
            os.link(temp, self.path(name))
            created = True
        except FileExistsError:
            created = False
        except OSError as err:  # file systems without hard links
            if err.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP):
                raise
            created = self._create_exclusive(name, temp)
        finally:
            os.unlink(temp)
        return self.read(name), created

    def _create_exclusive(self, name: str, temp: str) -> bool:
        try:
            fd = os.open(self.path(name), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return False
        with open(temp, "rb") as source:
            os.write(fd, source.read())
        os.fsync(fd)
        os.close(fd)
        return True

    def replace(self, name: str, data: bytes) -> None:
        """For derived items only (a server certificate re-issued for new names)."""
        os.replace(self._temp(name, data), self.path(name))
