"""The entrypoint shims shipped into every generation (entrypoints/*.sh)."""

from __future__ import annotations

import os
import sys

_HERE = os.path.dirname(os.path.abspath(__file__))


def shim_sources() -> str | None:
    for candidate in (os.path.join(sys.prefix, "share", "harbor-setupwrapper", "entrypoints"),
                      os.path.join(os.path.dirname(_HERE), "entrypoints")):
        if os.path.isdir(candidate):
            return candidate
    return None


def shim_paths() -> list[str]:
    source = shim_sources()
    if source is None:
        return []
    return [os.path.join(source, n) for n in sorted(os.listdir(source))
            if n.endswith(".sh") and os.path.isfile(os.path.join(source, n))]


def shim_files() -> list:
    from .files import File

    result = []
    for path in shim_paths():
        with open(path, "rb") as handle:
            result.append(File(f"entrypoints/{os.path.basename(path)}", handle.read(),
                               0o755, 0, 0))
    return result
