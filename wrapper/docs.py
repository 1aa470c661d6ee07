"""Texts derived from the schema: the README's variable table and `show`."""

from __future__ import annotations

import json

from . import schema


def _default(setting: schema.Setting) -> str:
    if setting.default is None:
        return "made once" if setting.secret and setting.addition else ""
    if isinstance(setting.default, bool):
        return "true" if setting.default else "false"
    if isinstance(setting.default, list):
        return ",".join(setting.default)
    if isinstance(setting.default, dict):
        return json.dumps(setting.default)
    return str(setting.default)


def variables_table() -> str:
    rows = ["| Variable | harbor.yml key | Default | Accepted | Description |",
            "|---|---|---|---|---|"]
    for s in schema.SETTINGS:
        name = f"`{s.env_name}`" + (" (also `_FILE`)" if s.secret else "")
        key = "(addition)" if s.addition else f"`{s.key}`"
        default = _default(s).replace("|", "\\|")
        doc = s.doc + (" Accepted, has no effect here." if s.no_effect else "")
        rows.append(f"| {name} | {key} | {f'`{default}`' if default else ''} | {s.accepted} | {doc} |")
    for name, doc in schema.META_VARIABLES.items():
        rows.append(f"| `{name}` | (addition) | | | {doc} |")
    return "\n".join(rows) + "\n"


def _shown(setting: schema.Setting, value) -> str:
    if value is None:
        return "(unset)"
    if setting.secret:
        return "********"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ",".join(value)
    if isinstance(value, dict):
        return json.dumps(value)
    return str(value)


def show(settings, include_off: bool = False) -> str:
    lines = []
    width = max(len(s.env_name) for s in schema.SETTINGS)
    for s in schema.SETTINGS:
        block = s.block
        if block and not include_off and block not in settings.blocks:
            continue
        value = settings.values[s.key]
        lines.append(f"{s.env_name:<{width}}  {_shown(s, value):<40}  {settings.sources[s.key]}")
    return "\n".join(lines) + "\n"
