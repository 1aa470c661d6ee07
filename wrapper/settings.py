"""Read HARBOR_* variables (and optionally an existing harbor.yml) into typed settings.

Precedence: NAME or NAME_FILE variable > harbor.yml (HARBOR_CONFIG_FILE) > schema default.
Every problem is collected; `load` raises InvalidSettings with all of them at once.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any, Mapping

from . import masking, schema
from .quoting import shown_value
from .schema import BOOL, BY_ENV, ENUM, FLOAT, INT, JSON, LIST, PORT, SETTINGS

DEFAULT, FROM_FILE, FROM_VARIABLE, FROM_VARIABLE_FILE = "default", "file", "variable", "variable file"


class InvalidSettings(Exception):
    """Every problem found, in a stable order; `settings` holds what could be read (or None)."""

    def __init__(self, errors: list[str], settings: "Settings | None" = None):
        super().__init__("\n".join(errors))
        self.errors = errors
        self.settings = settings


@dataclass(repr=False)
class Settings:
    values: dict[str, Any]            # harbor.yml key -> effective value (None: unset)
    sources: dict[str, str]           # harbor.yml key -> DEFAULT / FROM_FILE / ...
    blocks: set[str]                  # presence-switched blocks that are on
    input_files: dict[str, bytes] = field(default_factory=dict)  # key -> content of PATH settings
    warnings: list[str] = field(default_factory=list)
    invalid: set[str] = field(default_factory=set)  # keys whose given value was refused

    def __repr__(self) -> str:
        shown = {k: ("***" if schema.BY_KEY[k].secret and v is not None else v)
                 for k, v in self.values.items() if v is not None}
        return f"Settings({shown})"

    def __getitem__(self, key: str) -> Any:
        return self.values[key]

    def on(self, block: str) -> bool:
        """Is a presence-switched block on (and, for blocks with a switch, enabled)?"""
        if block not in self.blocks:
            return False
        switch = schema.BY_KEY.get(block + ".enabled")
        return bool(self.values[switch.key]) if switch else True

    @property
    def https(self) -> bool:
        return self.values["protocol"] == "https"

    @property
    def storage_provider(self) -> str:
        for name in schema.STORAGE_PROVIDERS:
            if f"storage_service.{name}" in self.blocks:
                return name
        return "filesystem"

    def provider_settings(self, provider: str) -> dict[str, Any]:
        prefix = f"storage_service.{provider}."
        return {k[len(prefix):]: v for k, v in self.values.items()
                if k.startswith(prefix) and v is not None}


def raw_value(env_key, variables, file_layer, secret_files, default=None):
    if env_key in secret_files:
        return secret_files[env_key]
    if env_key in variables:
        return variables[env_key]
    return file_layer.get(env_key, default)


def _strip_one_newline(text: str) -> str:
    for ending in ("\r\n", "\n"):
        if text.endswith(ending):
            return text[: -len(ending)]
    return text


def _is_utf8(text: str) -> bool:
    """Values from os.environ carry undecodable bytes as lone surrogates."""
    try:
        text.encode("utf-8")
        return True
    except UnicodeEncodeError:
        return False


def printable(text: str) -> str:
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _to_env_string(value: Any) -> str:
    """A harbor.yml value in the form its variable takes."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return ",".join(str(v) for v in value)
    if isinstance(value, dict):
        return json.dumps(value)
    return str(value)


def _flatten(tree: Any, prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    if isinstance(tree, dict):
        for key, value in tree.items():
            path = f"{prefix}.{key}" if prefix else str(key)
            if path in schema.BY_KEY:
                out[path] = value
            elif isinstance(value, dict) and value:
                out.update(_flatten(value, path))
            else:
                out[path] = value
    return out


_YAML_MAX_NODES = 20000
_YAML_MAX_DEPTH = 20


def _tree_is_small(tree: Any) -> bool:
    """Bounded walk: deep nesting and alias bombs stop here, not in str() or a recursion."""
    budget = _YAML_MAX_NODES
    stack = [(tree, 0)]
    while stack:
        node, depth = stack.pop()
        budget -= 1
        if budget < 0 or depth > _YAML_MAX_DEPTH:
            return False
        if isinstance(node, dict):
            stack.extend((v, depth + 1) for v in node.values())
            stack.extend((k, depth + 1) for k in node)
        elif isinstance(node, (list, tuple, set)):
            stack.extend((v, depth + 1) for v in node)
    return True


def _read_config_file(path: str, errors: list[str], warnings: list[str]):
    """harbor.yml -> (file layer by variable name, keys present, top-level keys)."""
    import yaml

    from .input_files import UnreadableFile, read_regular_file

    name = "HARBOR_CONFIG_FILE"
    nothing = ({}, set(), set())
    try:
        text = read_regular_file(path).decode("utf-8")
    except UnreadableFile as err:
        errors.append(f"{name}: cannot read {shown_value(path)}: {err}; accepted: the path of "
                      "a harbor.yml file")
        return nothing
    except UnicodeDecodeError as err:
        errors.append(f"{name}: {shown_value(path)} is not UTF-8 text (byte {err.start}); "
                      "accepted: a harbor.yml file in UTF-8")
        return nothing
    try:
        tree = yaml.safe_load(text) or {}
    except yaml.YAMLError as err:
        where = getattr(err, "problem_mark", None)
        at = f" at line {where.line + 1}" if where is not None else ""
        errors.append(f"{name}: {shown_value(path)} is not valid YAML{at}: "
                      f"{getattr(err, 'problem', None) or 'cannot parse'}")
        return nothing
    except RecursionError:
        tree = None
    if tree is None or not _tree_is_small(tree):
        errors.append(f"{name}: {shown_value(path)} is nested too deeply or too large; "
                      f"accepted: a harbor.yml of at most {_YAML_MAX_DEPTH} levels")
        return nothing
    if not isinstance(tree, dict):
        errors.append(f"{name}: {shown_value(path)} must hold a YAML mapping (harbor.yml)")
        return nothing
    layer, present = {}, set()
    for key, value in _flatten(tree).items():
        setting = schema.BY_KEY.get(key)
        if setting is None:
            warnings.append(f"{name}: key {shown_value(key)} is not used by the wrapper")
            continue
        present.add(key)
        if value is None:
            continue
        layer[setting.env_name] = _to_env_string(value)
    # harbor.yml names blocks that are on by their presence, even when empty.
    present_blocks = {k for k, v in tree.items() if isinstance(k, str)}
    return layer, present, present_blocks


# A variable's text is read as the settings library environs (over marshmallow) read it before
# issue 17; its import alone was a fifth of a re-render. tests/test_parsing.py compares the two.
_TRUTHY = frozenset(("t", "T", "true", "True", "TRUE", "on", "On", "ON", "y", "Y", "yes", "Yes",
                     "YES", "1"))
_FALSY = frozenset(("f", "F", "false", "False", "FALSE", "off", "Off", "OFF", "n", "N", "no",
                    "No", "NO", "0"))
_JSON_LIMIT = 64 * 1024


def parse(setting: schema.Setting, raw: str) -> Any:
    """The typed value of one variable's text; ValueError when its kind does not accept it.
    Bounds and grammars are validation's (validation.py), except a port's range."""
    kind = setting.kind
    if kind in (INT, PORT):
        number = int(raw)
        if kind == PORT and not 1 <= number <= 65535:
            raise ValueError
        return number
    if kind == FLOAT:
        number = float(raw)
        if number != number or number in (float("inf"), float("-inf")):
            raise ValueError
        return number
    if kind == BOOL:
        if raw in _TRUTHY:
            return True
        if raw in _FALSY:
            return False
        raise ValueError
    if kind == LIST:
        items = raw.split(",") if raw != "" else []
        if setting.choices and any(item not in setting.choices for item in items):
            raise ValueError
        return [item.strip() for item in items if item.strip()]
    if kind == JSON:
        if len(raw) > _JSON_LIMIT:
            raise ValueError
        try:
            return json.loads(raw)
        except RecursionError:
            raise ValueError from None
    if kind == ENUM and raw not in setting.choices:
        raise ValueError
    return raw  # STR and the string kinds with a grammar


def _describe_error(setting: schema.Setting, raw: str | None) -> str:
    shown = "" if raw is None or setting.secret else f" {shown_value(raw)}"
    return f"{setting.env_name}: the value{shown} is not accepted; accepted: {setting.accepted}"


def _order(message: str) -> int:
    """Problems are listed in the schema's order of the variable they name."""
    name = message.split(":", 1)[0].split(" ", 1)[0]
    for candidate in (name, name.removesuffix("_FILE")):
        if candidate in _POSITION:
            return _POSITION[candidate]
    return len(_POSITION)


_POSITION = {"HARBOR_CONFIG_FILE": -2, "HARBOR_STRICT": -1,
             **{s.env_name: i for i, s in enumerate(SETTINGS)}}
_TRUE, _FALSE = ("true", "1", "yes", "y", "on"), ("false", "0", "no", "n", "off", "")


def _known_names() -> set[str]:
    return (set(BY_ENV) | {s.env_name + "_FILE" for s in SETTINGS if s.secret}
            | set(schema.META_VARIABLES))


def _unknown_variables(variables: Mapping[str, str], strict: bool,
                       errors: list[str], warnings: list[str]) -> None:
    import difflib

    known = _known_names()
    for name in sorted(variables):
        if (not name.startswith("HARBOR_") or name in known
                or name.startswith(schema.IGNORED_PREFIXES)
                or name.endswith(schema.IGNORED_SUFFIXES)):
            continue
        close = difflib.get_close_matches(name, known, n=1, cutoff=0.8)
        hint = f"; did you mean {close[0]}?" if close else ""
        if strict:
            errors.append(f"{printable(name)}: is not a variable the wrapper knows{hint} "
                          "(HARBOR_STRICT=true makes this an error)")
        else:
            warnings.append(f"{printable(name)} is not a variable the wrapper knows; it is "
                            f"ignored{hint}")


def _read_secret_files(variables, errors, broken) -> dict[str, str]:
    from .input_files import SECRET_LIMIT, UnreadableFile, read_regular_file

    contents = {}
    for setting in SETTINGS:
        file_var = setting.env_name + "_FILE"
        if not setting.secret or file_var not in variables:
            continue
        if setting.env_name in variables:
            errors.append(f"{setting.env_name} and {file_var} are both set; set only one of them")
            broken.add(setting.env_name)
            continue
        path = variables[file_var]
        try:
            text = read_regular_file(path, SECRET_LIMIT).decode("utf-8")
        except UnreadableFile as err:
            errors.append(f"{file_var}: cannot read {shown_value(printable(path))}: {err}; "
                          "accepted: the path of a regular file holding the value")
            broken.add(setting.env_name)
            continue
        except UnicodeDecodeError:
            errors.append(f"{file_var}: the file is not UTF-8 text; accepted: a file holding "
                          "the value in UTF-8")
            broken.add(setting.env_name)
            continue
        contents[setting.env_name] = _strip_one_newline(text)
    return contents


def load(variables: Mapping[str, str] | None = None) -> Settings:
    variables = dict(os.environ if variables is None else variables)
    errors: list[str] = []
    warnings: list[str] = []
    broken: set[str] = set()  # variables already reported; their setting keeps its default

    # Undecodable bytes: reported once, by name, and never parsed.
    for name in sorted(variables):
        if name.startswith("HARBOR_") and not _is_utf8(variables[name]):
            errors.append(f"{printable(name)}: contains bytes that are not UTF-8; accepted: "
                          "UTF-8 text")
            broken.add(name.removesuffix("_FILE"))
    usable = {k: v for k, v in variables.items()
              if not (k.startswith("HARBOR_") and not _is_utf8(v))}

    strict = False
    raw_strict = usable.get("HARBOR_STRICT")
    if raw_strict is not None:
        if raw_strict.strip().lower() in _TRUE + _FALSE:
            strict = raw_strict.strip().lower() in _TRUE
        else:
            errors.append(f"HARBOR_STRICT: the value {shown_value(raw_strict)} is not accepted; "
                          f"accepted: {schema.ACCEPTED[BOOL]}")

    file_layer, file_keys, file_top = {}, set(), set()
    config_file = usable.get("HARBOR_CONFIG_FILE")
    if config_file:
        file_layer, file_keys, file_top = _read_config_file(config_file, errors, warnings)

    secret_files = _read_secret_files(usable, errors, broken)
    _unknown_variables(variables, strict, errors, warnings)

    def given(setting: schema.Setting) -> str | None:
        if setting.env_name in variables:
            return FROM_VARIABLE
        if setting.secret and setting.env_name + "_FILE" in variables:
            return FROM_VARIABLE_FILE
        if setting.key in file_keys:
            return FROM_FILE
        return None

    sources = {s.key: given(s) or DEFAULT for s in SETTINGS}
    given_blocks = {s.block for s in SETTINGS if sources[s.key] != DEFAULT}
    blocks = {b for b in schema.BLOCKS if b in given_blocks or b in file_top}

    defaults = _dynamic_defaults(file_top if config_file else None)
    values: dict[str, Any] = {}
    invalid: set[str] = set()
    for setting in SETTINGS:
        default = defaults.get(setting.key, setting.default)
        raw = raw_value(setting.env_name, usable, file_layer, secret_files)
        masking.remember(raw, secret=setting.secret)
        if setting.env_name in broken:
            values[setting.key] = default
            invalid.add(setting.key)
        elif raw is None and setting.kind == LIST and default is not None:
            values[setting.key] = [item.strip() for item in default if item.strip()]  # a copy
        elif raw is None:
            values[setting.key] = default
        else:
            try:
                values[setting.key] = parse(setting, raw)
            except ValueError:
                errors.append(_describe_error(setting, raw))
                values[setting.key] = default
                invalid.add(setting.key)

    settings = Settings(values=values, sources=sources, blocks=blocks, warnings=warnings,
                        invalid=invalid)
    from .validation import check

    errors.extend(check(settings))
    if errors:
        raise InvalidSettings(sorted(dict.fromkeys(errors), key=_order), settings)
    return settings


def _dynamic_defaults(harbor_yml_top: set[str] | None) -> dict[str, Any]:
    """Defaults that depend on how a migrated harbor.yml is shaped. A key absent from an
    imported harbor.yml means what upstream's prepare makes of it: its code default, which
    is not always the value the template ships (prepare/utils/configs.py, models.py)."""
    if harbor_yml_top is None:
        return {}
    return {
        # In harbor.yml, https is on by the presence of its block.
        "protocol": "https" if "https" in harbor_yml_top else "http",
        # blocks without `enabled` are off: `.get('enabled') or False`
        "internal_tls.enabled": False,
        "trace.enabled": False,
        "upload_purging.enabled": False,
        # `max_idle_conns or 2`, `max_open_conns or 0`
        "database.max_idle_conns": 2,
        "database.max_open_conns": 0,
        # `proxy.get('components') or []`: no component uses the proxy
        "proxy.components": [],
    }
