"""The unit every component returns: a file's bytes, mode and owner, and the text formats."""

from __future__ import annotations

import functools
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


def env_file(path: str, variables: dict[str, object], uid: int = HARBOR_UID) -> File:
    """KEY=value lines, unquoted, as docker's env_file and our shims read them."""
    lines = [f"{key}={'' if value is None else value}" for key, value in variables.items()]
    return File(path, ("\n".join(lines) + "\n").encode(), 0o640, uid, uid)


def yaml_file(path: str, data: dict) -> File:
    import yaml

    text = yaml.safe_dump(data, sort_keys=False, default_flow_style=False, allow_unicode=True)
    return File(path, text.encode())


@functools.cache
def _jinja():
    import jinja2

    return jinja2.Environment(
        loader=jinja2.PackageLoader("wrapper", "templates"),
        undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True,
        keep_trailing_newline=True, autoescape=False)


def template_file(path: str, template: str, **context) -> File:
    return File(path, _jinja().get_template(template).render(**context).encode())
