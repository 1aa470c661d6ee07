"""The generation marker (`ready`, the last file of a generation): what made it, whether it
passed the consistency checks, and its one expiry state.

Light on purpose: the fast path of a rerun reads it without importing cryptography.
"""

from __future__ import annotations

import sys
import time

# The marker's "checked": the consistency checks (consistency.py) this generation passed
# before it was published; a marker without it is rendered anew, never taken as up to date.
CHECKED = 1

# How far a certificate's notBefore may lie ahead of this host's clock before the wrapper
# treats it as made under a wrong clock (certificates made here start 5 minutes back).
CLOCK_SKEW_SECONDS = 600


def now() -> float:
    """certificates.now() (the clock tests move) once that module is loaded; the same clock
    read directly before, so that the fast path need not import it."""
    loaded = sys.modules.get(f"{__package__}.certificates")
    return loaded.now().timestamp() if loaded is not None else time.time()


def expiry_due(marker: dict | None, at: float | None = None) -> bool:
    """The marker's one expiry state: its certificates need neither a re-issue nor a warning
    while valid_from - skew <= now < min(renew_at, warn_at) (epoch seconds, written by
    certificates.schedule()). Outside that interval, or for a marker without it, the
    certificates must be read."""
    marker = marker or {}
    start, ends = marker.get("valid_from"), (marker.get("renew_at"), marker.get("warn_at"))
    if not all(k in marker for k in ("valid_from", "renew_at", "warn_at")) or not all(
            t is None or isinstance(t, int) for t in (start, *ends)):
        return True
    at = now() if at is None else at
    if start is not None and at < start - CLOCK_SKEW_SECONDS:
        return True
    return any(t is not None and at >= t for t in ends)


def verdict(*parts: bytes | str) -> str:
    """The digest under which a certificate check's inputs are recorded in the marker as
    passed ("verified"). The next run skips a check whose digest the current marker lists
    while its expiry state is quiet (expiry_due): then nothing time-dependent can have
    come due, and equal inputs give the same answer; a re-render need not load cryptography."""
    import hashlib

    digest = hashlib.sha256()
    for part in parts:
        data = part.encode() if isinstance(part, str) else part
        digest.update(len(data).to_bytes(8, "big") + data)
    return digest.hexdigest()


def verified(marker: dict | None) -> frozenset[str]:
    """The verdicts a run may rely on: the current marker's, while its expiry state is quiet."""
    if not marker or marker.get("checked") != CHECKED or expiry_due(marker):
        return frozenset()
    listed = marker.get("verified")
    return frozenset(v for v in listed if isinstance(v, str)) if isinstance(listed, list) \
        else frozenset()


SCHEDULE = ("renew_at", "warn_at", "valid_from")


def schedule_verdict(files, window: int) -> str:
    """The inputs of certificates.schedule(): every file holding a certificate, the window."""
    parts = [f"{f.path}\0".encode() + f.content for f in sorted(files, key=lambda f: f.path)
             if b"-----BEGIN CERTIFICATE-----" in f.content]
    return verdict("schedule", str(window), *parts)
