"""The one masking rule for everything the wrapper prints: errors, warnings, `show`, `status`
(text and --json), init-data and restore-keys lines.

1. A setting marked `secret` in the schema never shows its value (`MASK`), wherever it came
   from (the variable, NAME_FILE, harbor.yml).
2. Any URL-like text shows without its userinfo: `https://bob:pw@host` -> `https://***@host`,
   `bob:pw@host` -> `***@host`.

Messages apply the rule where they quote a value (`shown` here, `settings.shown_value`).
Behind that, `MaskedStream` wraps stdout and stderr for the whole run (cli.main) and applies
both rules to every line written: rule 2 as a pattern, rule 1 by replacing the values of the
secret settings this run has read (`remember`, called by settings.load for every setting, so
values from NAME_FILE and harbor.yml too; the fast path reads none and imports no schema). A
new message needs nothing more than to quote values with `shown`.
"""

from __future__ import annotations

import re

MASK = "********"
USERINFO_MASK = "***"
_MIN_REMEMBERED = 4  # shorter values would mask ordinary words; the messages never quote them

# scheme://userinfo@ : greedy up to the last @ before a space or quote (a password may hold @)
_WITH_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*://)[^\s'\"]*@")
# user:password@host without a scheme
_BARE = re.compile(r"(?<![\w.+%/:-])[^\s'\"/@:]+:(?!//)[^\s'\"]*@(?=[\w\[])")

_remembered: set[str] = set()


def strip_userinfo(text: str) -> str:
    """Rule 2 on any text."""
    if "@" not in text:  # both patterns need one; they take quadratic time on long words
        return text
    text = _WITH_SCHEME.sub(lambda m: m.group(1) + USERINFO_MASK + "@", text)
    return _BARE.sub(USERINFO_MASK + "@", text)


def shown(value, secret: bool = False, limit: int = 60) -> str:
    """A value as messages quote it: masked, then repr, cut after `limit` characters (the
    userinfo goes first, so that a cut cannot leave half a password)."""
    if secret:
        return MASK
    text = strip_userinfo(str(value))
    if len(text) <= limit:
        return repr(text)
    return f"{text[:limit]!r}... ({len(text)} characters)"


def _forms(value: str):
    """The spellings a value can take in output: as is, in repr, in JSON, escaped."""
    import json

    yield value
    yield repr(value)[1:-1]
    yield json.dumps(value)[1:-1]
    yield value.encode("utf-8", "backslashreplace").decode("utf-8")


def _userinfo_of(value: str) -> list[str]:
    """The userinfo (and its password) of a URL-like value, for the backstop."""
    head = value.split("://", 1)[1] if "://" in value else value
    if "@" not in head:
        return []
    info = head.rsplit("@", 1)[0]
    if "://" not in value and ":" not in info:
        return []  # user@host: no password in it
    return [info, info.split(":", 1)[1]] if ":" in info else [info]


def remember(value, secret: bool = True) -> None:
    """A value read this run: secret (rule 1: masked whole) or any (rule 2: its userinfo)."""
    if not isinstance(value, str) or not value:
        return
    parts = [value] if secret else []
    parts += _userinfo_of(value)
    for part in parts:
        for form in _forms(part):
            if len(form) >= _MIN_REMEMBERED:
                _remembered.add(form)


def forget() -> None:
    """A new run (cli.main): the last run's values no longer apply."""
    _remembered.clear()


def mask(text: str) -> str:
    """Both rules on text about to be printed."""
    for value in sorted(_remembered, key=len, reverse=True):
        if value in text:
            text = text.replace(value, MASK)
    return strip_userinfo(text)


class MaskedStream:
    """A text stream that writes everything through `mask`, a line at a time."""

    def __init__(self, stream):
        self.stream = stream
        self._pending = ""

    def write(self, text: str) -> int:
        self._pending += text
        if "\n" in self._pending:
            done, self._pending = self._pending.rsplit("\n", 1)
            self.stream.write(mask(done + "\n"))
        return len(text)

    def flush(self) -> None:
        if self._pending:
            self.stream.write(mask(self._pending))
            self._pending = ""
        self.stream.flush()

    def __getattr__(self, name):
        return getattr(self.stream, name)
