"""The unit every component returns: a file's bytes, mode and owner, and the text formats."""

from __future__ import annotations

import contextlib
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
    renders = _RENDERS[-1] if _RENDERS else None
    material = renders.material(template, context) if renders else None
    content = renders.reuse(path, material) if material else None
    if content is None:
        content = _jinja().get_template(template).render(**context).encode()
    if material:
        renders.made[path] = renders.seal(material, content)
    return File(path, content)


_RENDERS: list["Renders"] = []  # the Renders of the generate() running now, if any


class Renders:
    """The templates the current generation rendered, reused where a template's inputs are
    the same: a re-render that changes no template's input imports no jinja2 at all.

    `listed` (the marker's "rendered") holds per file an HMAC, under the store's fingerprint
    key, of the template's inputs and of the bytes rendered; `read` gives the current
    generation's file. A file whose bytes or inputs differ, or that cannot be read, is
    rendered anew; an entry cannot be forged without the key. `templates`: a digest of
    every template's source (fast_path.templates_digest)."""

    def __init__(self, key: bytes, listed, read, templates: str):
        self.key, self.read, self.templates = key, read, templates
        self.listed = listed if isinstance(listed, dict) else {}
        self.made: dict[str, str] = {}  # the next marker's "rendered"

    def material(self, template: str, context: dict) -> bytes | None:
        """The template's inputs, canonical; None for a value without a canonical form."""
        import json

        from . import __version__

        try:
            return json.dumps({"wrapper": __version__, "templates": self.templates,
                               "template": template, "context": context},
                              sort_keys=True, default=_canonical).encode()
        except (TypeError, ValueError):
            return None

    def seal(self, material: bytes, content: bytes) -> str:
        import hashlib
        import hmac

        return hmac.new(self.key, material + hashlib.sha256(content).digest(),
                        "sha256").hexdigest()

    def reuse(self, path: str, material: bytes) -> bytes | None:
        import hmac

        listed = self.listed.get(path)
        if not isinstance(listed, str):
            return None
        content = self.read(path)
        if content is None or not hmac.compare_digest(listed, self.seal(material, content)):
            return None
        return content


def _canonical(value):
    from .context import Paths

    if isinstance(value, Paths):
        return {"Paths": value.out}
    raise TypeError(type(value).__name__)


@contextlib.contextmanager
def reusing(renders: Renders):
    """template_file() consults renders (and records into it) inside this block."""
    _RENDERS.append(renders)
    try:
        yield renders
    finally:
        _RENDERS.pop()
