"""The unit every component returns: a file's bytes, mode and owner, and the text formats."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from .context import HARBOR_UID


@dataclass(frozen=True)
class File:
    path: str                 # relative to the generation: "config/core/env", "secret/keys/secretkey"
    content: bytes
    mode: int = 0o640
    uid: int = HARBOR_UID
    gid: int = HARBOR_UID

    @property
    def secret(self) -> bool:
        return self.mode & 0o077 == 0


class UnsafeValue(ValueError):
    """A value would change the syntax of the file it lands in. Validation refuses such
    values first; this is the last line of defence, so it never names the value itself."""


_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*", re.ASCII)


def env_file(path: str, variables: dict[str, object], uid: int = HARBOR_UID) -> File:
    """KEY=value lines, unquoted, as docker's env_file and our shims read them: a value is
    everything after the first `=` up to the end of the line, so it may hold anything but a
    line break (or NUL)."""
    lines = []
    for key, value in variables.items():
        text = "" if value is None else str(value)
        if not _ENV_NAME.fullmatch(key) or any(c in text for c in "\n\r\0"):
            raise UnsafeValue(f"{path}: the value of {key} would break the env file")
        lines.append(f"{key}={text}")
    return File(path, ("\n".join(lines) + "\n").encode(), 0o640, uid, uid)


def yaml_file(path: str, data: dict) -> File:
    import yaml

    text = yaml.safe_dump(data, sort_keys=False, default_flow_style=False, allow_unicode=True)
    return File(path, text.encode())


@functools.cache
def _jinja():
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("wrapper", "templates"),
        undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True,
        keep_trailing_newline=True, autoescape=False)
    env.filters.update(nginx_string=nginx_string, token=token)
    return env


def nginx_string(value) -> str:
    """A double-quoted nginx string. `$` would start a variable where nginx expands them and
    nginx has no escape for it, so `$`, quotes, backslashes and control characters are refused."""
    text = str(value)
    if not text.isprintable() or any(c in text for c in '"\\$'):
        raise UnsafeValue("a value for nginx.conf holds a quote, backslash, $ or control "
                          "character")
    return f'"{text}"'


_TOKEN = re.compile(r"[A-Za-z0-9_.:\[\]/-]+", re.ASCII)


def token(value) -> str:
    """One bare word (host, port, size, protocol) in logrotate or rsyslog syntax."""
    text = str(value)
    if not _TOKEN.fullmatch(text):
        raise UnsafeValue("a value for logrotate or rsyslog is not a single plain word")
    return text


def template_file(path: str, template: str, **context) -> File:
    return File(path, _jinja().get_template(template).render(**context).encode())
