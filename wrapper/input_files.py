"""Reading the files settings name: regular files only, never more than a bound.

A FIFO would block the wrapper forever and /dev/zero would fill its memory, so anything that
is not a regular file is refused before it is read, and it is opened without blocking.
"""

from __future__ import annotations

import os
import stat

SECRET_LIMIT = 64 * 1024           # a password, a key: far below this
FILE_LIMIT = 4 * 1024 * 1024       # certificates, CA bundles, harbor.yml, a GCS key file


class UnreadableFile(Exception):
    """The reason, worded to follow "cannot read PATH: "."""


def read_regular_file(path: str, limit: int = FILE_LIMIT) -> bytes:
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            raise UnreadableFile("it is not a regular file")
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as err:
        raise UnreadableFile(err.strerror or str(err)) from None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):  # replaced between stat and open
            raise UnreadableFile("it is not a regular file")
        with os.fdopen(fd, "rb", closefd=False) as handle:
            data = handle.read(limit + 1)
    except OSError as err:
        raise UnreadableFile(err.strerror or str(err)) from None
    finally:
        os.close(fd)
    if len(data) > limit:
        raise UnreadableFile(f"it is larger than {limit // 1024} KiB")
    return data


def read_or_none(path: str, limit: int = FILE_LIMIT) -> bytes | None:
    try:
        return read_regular_file(path, limit)
    except UnreadableFile:
        return None
