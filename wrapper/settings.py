"""Read HARBOR_* variables (and optionally an existing harbor.yml) into typed settings.

Precedence: NAME or NAME_FILE variable > harbor.yml (HARBOR_CONFIG_FILE) > schema default.
Every problem is collected; `load` raises InvalidSettings with all of them at once.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any, Mapping

from environs import FileAwareEnv

from . import schema
from .schema import BOOL, BY_ENV, DIR, ENUM, FLOAT, INT, JSON, LIST, PATH, PORT, SETTINGS, STR

DEFAULT, FROM_FILE, FROM_VARIABLE, FROM_VARIABLE_FILE = "default", "file", "variable", "variable file"


class InvalidSettings(Exception):
    def __init__(self, errors: list[str]):
        super().__init__("\n".join(errors))
        self.errors = errors


@dataclass(repr=False)
class Settings:
    values: dict[str, Any]            # harbor.yml key -> effective value (None: unset)
    sources: dict[str, str]           # harbor.yml key -> DEFAULT / FROM_FILE / ...
    blocks: set[str]                  # presence-switched blocks that are on
    input_files: dict[str, bytes] = field(default_factory=dict)  # key -> content of PATH settings
    warnings: list[str] = field(default_factory=list)

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


class _Env(FileAwareEnv):
    """environs reading from a given mapping; NAME_FILE is read with one trailing newline cut."""

    def __init__(self, variables: Mapping[str, str], file_layer: dict[str, str]):
        super().__init__(eager=False)
        self._variables = variables
        self._environ = file_layer

    def _get_value(self, env_key: str, default: Any) -> Any:
        file_key = env_key + "_FILE"
        if file_key in self._variables and schema.BY_ENV[env_key].secret:
            return _read_secret_file(self._variables[file_key])
        if env_key in self._variables:
            return self._variables[env_key]
        return self._environ.get(env_key, default)


def _read_secret_file(path: str) -> str:
    with open(path, encoding="utf-8") as handle:
        text = handle.read()
    for ending in ("\r\n", "\n"):
        if text.endswith(ending):
            return text[: -len(ending)]
    return text


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


def _read_config_file(path: str, errors: list[str], warnings: list[str]):
    """harbor.yml -> (file layer by variable name, keys present, top-level keys)."""
    import yaml

    try:
        with open(path, encoding="utf-8") as handle:
            tree = yaml.safe_load(handle) or {}
    except OSError as err:
        errors.append(f"HARBOR_CONFIG_FILE: cannot read {path}: {err.strerror}")
        return {}, set(), set()
    except yaml.YAMLError as err:
        errors.append(f"HARBOR_CONFIG_FILE: {path} is not valid YAML: {err}")
        return {}, set(), set()
    if not isinstance(tree, dict):
        errors.append(f"HARBOR_CONFIG_FILE: {path} must hold a YAML mapping (harbor.yml)")
        return {}, set(), set()
    layer, present = {}, set()
    for key, value in _flatten(tree).items():
        setting = schema.BY_KEY.get(key)
        if setting is None:
            warnings.append(f"HARBOR_CONFIG_FILE: key {key!r} is not used by the wrapper")
            continue
        present.add(key)
        if value is None:
            continue
        layer[setting.env_name] = _to_env_string(value)
    # harbor.yml names blocks that are on by their presence, even when empty.
    present_blocks = {k for k, v in tree.items() if isinstance(k, str)}
    return layer, present, present_blocks


def _parse_one(env: _Env, setting: schema.Setting, default: Any) -> Any:
    from marshmallow import validate

    name, kind = setting.env_name, setting.kind
    if kind in (STR, PATH, DIR):
        return env.str(name, default)
    if kind == ENUM:
        return env.str(name, default, validate=validate.OneOf(setting.choices))
    if kind == INT:
        return env.int(name, default)
    if kind == PORT:
        return env.int(name, default, validate=validate.Range(1, 65535))
    if kind == FLOAT:
        return env.float(name, default)
    if kind == BOOL:
        return env.bool(name, default)
    if kind == LIST:
        check = validate.ContainsOnly(setting.choices) if setting.choices else None
        return env.list(name, default, subcast=str, validate=check)
    if kind == JSON:
        return env.json(name, default)
    raise AssertionError(kind)


def _describe_error(setting: schema.Setting, raw: str | None) -> str:
    shown = "" if raw is None or setting.secret else f" {raw!r}"
    return f"{setting.env_name}: the value{shown} is not accepted; accepted: {setting.accepted}"


def load(variables: Mapping[str, str] | None = None) -> Settings:
    variables = dict(os.environ if variables is None else variables)
    errors: list[str] = []
    warnings: list[str] = []

    file_layer, file_keys, file_top = {}, set(), set()
    if variables.get("HARBOR_CONFIG_FILE"):
        file_layer, file_keys, file_top = _read_config_file(
            variables["HARBOR_CONFIG_FILE"], errors, warnings)

    # NAME and NAME_FILE: exclusive, and the file must be readable.
    broken: set[str] = set()
    for setting in SETTINGS:
        file_var = setting.env_name + "_FILE"
        if not setting.secret or file_var not in variables:
            continue
        if setting.env_name in variables:
            errors.append(f"{setting.env_name} and {file_var} are both set; set only one of them")
            broken.add(setting.env_name)
        elif not os.access(variables[file_var], os.R_OK) or os.path.isdir(variables[file_var]):
            errors.append(f"{file_var}: {variables[file_var]!r} is not a readable file; "
                          "accepted: the path of a file holding the value")
            broken.add(setting.env_name)
    known = set(BY_ENV) | {s.env_name + "_FILE" for s in SETTINGS if s.secret} | set(
        schema.META_VARIABLES)
    for name in sorted(variables):
        if name.startswith("HARBOR_") and name not in known and not name.startswith(
                schema.IGNORED_PREFIXES) and not name.endswith(schema.IGNORED_SUFFIXES):
            warnings.append(f"{name} is not a variable the wrapper knows; it is ignored")

    def given(setting: schema.Setting) -> str | None:
        if setting.env_name in variables:
            return FROM_VARIABLE
        if setting.secret and setting.env_name + "_FILE" in variables:
            return FROM_VARIABLE_FILE
        if setting.key in file_keys:
            return FROM_FILE
        return None

    sources = {s.key: given(s) or DEFAULT for s in SETTINGS}
    blocks = {b for b in schema.BLOCKS
              if any(sources[s.key] != DEFAULT for s in SETTINGS if s.block == b)
              or b in file_top}

    env = _Env(variables, file_layer)
    defaults = _dynamic_defaults(file_top if variables.get("HARBOR_CONFIG_FILE") else None)
    values: dict[str, Any] = {}
    for setting in SETTINGS:
        if setting.env_name in broken:
            values[setting.key] = None
            continue
        try:
            values[setting.key] = _parse_one(env, setting, defaults.get(setting.key, setting.default))
        except (OSError, UnicodeDecodeError) as err:
            errors.append(f"{setting.env_name}_FILE: cannot read it: {err}")
            values[setting.key] = None
    try:
        env.seal()
    except Exception as err:  # environs.EnvValidationError
        for name in getattr(err, "error_messages", {}):
            setting = BY_ENV[name]
            raw = variables.get(name, file_layer.get(name))
            errors.append(_describe_error(setting, raw))

    settings = Settings(values=values, sources=sources, blocks=blocks, warnings=warnings)
    if not errors:
        from .validation import check

        errors.extend(check(settings))
    if errors:
        raise InvalidSettings(errors)
    return settings


def _dynamic_defaults(harbor_yml_top: set[str] | None) -> dict[str, Any]:
    """Defaults that depend on how a migrated harbor.yml is shaped."""
    if harbor_yml_top is None:
        return {}
    # In harbor.yml, https is on by the presence of its block.
    return {"protocol": "https" if "https" in harbor_yml_top else "http"}
