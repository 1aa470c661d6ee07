"""Harbor's user settings as variables, against the facts of v2.15.2 core's config metadata
(tests/core-config-metadata.yml): every variable's key, type and accepted values, what reaches
CONFIG_OVERWRITE_JSON, and secrets never shown."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from helpers_keys import fixed_keys
from support import REPO, clean_env
from wrapper import schema
from wrapper.components import core
from wrapper.context import Paths
from wrapper.settings import InvalidSettings, load

sys.path.insert(0, str(Path(__file__).parent / "doubles"))
import core_settings  # noqa: E402  the core double's model of core's config checks

FACTS = yaml.safe_load((Path(__file__).parent / "core-config-metadata.yml").read_text())
ITEMS = {item["key"]: item for item in FACTS["items"]}
USER_ITEMS = {k: i for k, i in ITEMS.items() if i["scope"] == "user"}
BASE = {"HARBOR_HOSTNAME": "harbor.example.test"}
INT32 = (-(2 ** 31), 2 ** 31 - 1)
INT64 = (-(2 ** 63), 2 ** 63 - 1)
API_LIMIT = 9_999_999_999  # more than 10 digits: refused by the config API
POSITIVE = {"token_expiration", "robot_token_duration", "session_timeout"}

# User settings of v2.15.2 that have no variable, and why.
LEFT_OUT = {
    "scan_all_policy": "a schedule object, set with the scan-all API",
    "storage_per_project": "a quota in bytes per project, set per project or in the portal",
    "http_authproxy_server_certificate": "a multi-line PEM inside the JSON",
}
# The schema kind that stands for each Go item type, and the JSON type core needs.
KIND_OF_TYPE = {
    "BoolType": ({schema.BOOL}, bool),
    "IntType": ({schema.INT}, int),
    "Int64Type": ({schema.INT}, int),
    "LdapScopeType": ({schema.INT}, int),
    "AuthModeType": ({schema.ENUM}, str),
    "ProjectCreationRestrictionType": ({schema.ENUM}, str),
    "StringType": ({schema.STR, schema.URL}, str),
    "NonEmptyStringType": ({schema.STR}, str),
    "PasswordType": ({schema.STR}, str),
    "StringToStringMapType": ({schema.JSON}, dict),
}
USER = schema.USER_SETTINGS
IDS = [s.key for s in USER]


def core_accepts(item: dict, value) -> bool:
    """The facts' type rules, applied to a JSON value as core's config API applies them."""
    text, kind = core_settings.go_text(value), item["type"]
    if kind == "BoolType":
        return isinstance(value, bool)  # ParseBool, and the audit rule asserts a Go bool
    if kind in ("IntType", "Int64Type"):
        number = core_settings.go_int(text, 32 if kind == "IntType" else 64)
        if number is None:
            return False
        return not item["key"] in POSITIVE or 0 < number <= API_LIMIT
    if kind in FACTS["type_choices"]:
        return text in FACTS["type_choices"][kind]
    if kind == "NonEmptyStringType":
        return isinstance(value, str) and bool(text.strip())
    if kind == "StringToStringMapType":
        return isinstance(value, dict) and all(isinstance(v, str) for v in value.values())
    return isinstance(value, str)


def valid_values(setting) -> list:
    """Every accepted value where they can be counted, the bounds where they cannot."""
    if setting.kind == schema.BOOL:
        return ["true", "false", "1", "0", "yes", "no"]
    if setting.kind == schema.ENUM:
        return list(setting.choices)
    if setting.kind == schema.INT:
        low, high = setting.bounds
        return sorted({str(int(low)), str(int(low) + 1), str(int(high))})
    if setting.kind == schema.JSON:
        return ['{}', '{"prompt": "login", "acr_values": "x y"}']
    if setting.kind == schema.URL:
        return ["https://idp.example.test/realms/harbor"]
    return ["a value, with = and \"quotes\" and ünïcode", "x"]


def core_env(variables) -> dict[str, str]:
    files = core.files(load({**BASE, **variables}), fixed_keys(KEY), Paths("/harbor-setup"))
    content = next(f for f in files if f.path == "config/core/env").content.decode()
    return dict(line.split("=", 1) for line in content.splitlines() if line)


KEY = None


@pytest.fixture(autouse=True)
def _token_key(token_key):
    global KEY
    KEY = token_key


def test_every_user_setting_of_core_has_a_variable_or_a_reason():
    assert set(IDS) | set(LEFT_OUT) == set(USER_ITEMS)
    assert not set(IDS) & set(LEFT_OUT)


@pytest.mark.parametrize("setting", USER, ids=IDS)
def test_variable_matches_the_item(setting):
    item = USER_ITEMS[setting.key]
    kinds, _ = KIND_OF_TYPE[item["type"]]
    assert setting.kind in kinds
    assert setting.env_name == "HARBOR_" + setting.key.upper()
    assert setting.core and setting.default is None  # unset: the database keeps its value
    assert setting.secret == (item["type"] == "PasswordType" or setting.key.endswith("_secret"))
    assert setting.nonempty == (item["type"] == "NonEmptyStringType")
    if item["type"] in FACTS["type_choices"]:
        allowed = FACTS["type_choices"][item["type"]]
        if setting.kind == schema.ENUM:
            assert sorted(setting.choices) == sorted(allowed)
        else:
            assert [str(n) for n in range(int(setting.minimum), int(setting.maximum) + 1)] \
                == allowed
    if setting.kind == schema.INT:
        low, high = setting.bounds
        bits = INT32 if item["type"] == "IntType" else INT64
        assert bits[0] <= low and high <= bits[1]


@pytest.mark.parametrize("setting", USER, ids=IDS)
def test_every_accepted_value_reaches_core_in_the_type_core_takes(setting):
    item = USER_ITEMS[setting.key]
    _, json_type = KIND_OF_TYPE[item["type"]]
    for raw in valid_values(setting):
        extra = {}
        if setting.key == "skip_audit_log_database":
            extra = {"HARBOR_AUDIT_LOG_FORWARD_ENDPOINT": "syslog.example.test:514"}
        if setting.key == "ldap_group_search_filter":
            extra = {"HARBOR_LDAP_GROUP_ATTRIBUTE_NAME": "cn"}
        env = core_env({setting.env_name: raw, **extra})
        sent = json.loads(env["CONFIG_OVERWRITE_JSON"])
        assert set(sent) == {setting.key} | {k.removeprefix("HARBOR_").lower() for k in extra}
        value = sent[setting.key]
        assert type(value) is json_type, (raw, value)
        assert core_accepts(item, value), (raw, value)
        for other, other_value in sent.items():
            assert core_accepts(USER_ITEMS[other], other_value)


def refused(setting) -> list[str]:
    if setting.kind == schema.BOOL:
        return ["maybe", "2"]
    if setting.kind == schema.ENUM:
        return [setting.choices[0].upper(), "", "ldap"]
    if setting.kind == schema.INT:
        low, high = setting.bounds
        return [str(int(low) - 1), str(int(high) + 1), "1.5", "ten"]
    if setting.kind == schema.JSON:
        return ["[1]", '{"a": 1}', "{"]
    if setting.kind == schema.URL:
        return ["ftp://idp.example.test", "not a url"]
    if setting.nonempty:
        return ["", "  "]
    return []


@pytest.mark.parametrize("setting", [s for s in USER if refused(s)],
                         ids=[s.key for s in USER if refused(s)])
def test_refused_values_name_the_variable_and_what_is_accepted(setting):
    for raw in refused(setting):
        item = USER_ITEMS[setting.key]
        with pytest.raises(InvalidSettings) as caught:
            load({**BASE, setting.env_name: raw})
        (message,) = [e for e in caught.value.errors if e.startswith(setting.env_name + ":")]
        assert "accepted:" in message
        if setting.kind == schema.ENUM:
            assert all(choice in message for choice in setting.choices)
        if raw.strip() and not setting.secret:
            assert repr(raw)[1:-1] in message or "JSON" in message


def test_values_core_would_refuse_are_exactly_those_refused():
    """Around every bound, the wrapper accepts what core accepts (enumerated)."""
    for setting in USER:
        if setting.kind != schema.INT:
            continue
        item = USER_ITEMS[setting.key]
        low, high = setting.bounds
        for n in (int(low) - 1, int(low), int(high), int(high) + 1):
            try:
                sent = json.loads(core_env({setting.env_name: str(n)})["CONFIG_OVERWRITE_JSON"])
            except InvalidSettings:
                continue
            assert core_accepts(item, sent[setting.key]), (setting.key, n)


def test_all_problems_at_once():
    with pytest.raises(InvalidSettings) as caught:
        load({**BASE, "HARBOR_AUTH_MODE": "ldap", "HARBOR_LDAP_SCOPE": "3",
              "HARBOR_SELF_REGISTRATION": "perhaps", "HARBOR_LDAP_URL": "",
              "HARBOR_TOKEN_EXPIRATION": "0"})
    names = {e.split(":", 1)[0] for e in caught.value.errors}
    assert names == {"HARBOR_AUTH_MODE", "HARBOR_LDAP_SCOPE", "HARBOR_SELF_REGISTRATION",
                     "HARBOR_LDAP_URL", "HARBOR_TOKEN_EXPIRATION"}


def test_unset_settings_leave_core_without_the_variable():
    """With CONFIG_OVERWRITE_JSON present (even {}), core makes every setting read-only."""
    assert "CONFIG_OVERWRITE_JSON" not in core_env({})


def test_cross_rules_core_applies():
    with pytest.raises(InvalidSettings) as caught:
        load({**BASE, "HARBOR_SKIP_AUDIT_LOG_DATABASE": "true",
              "HARBOR_LDAP_GROUP_SEARCH_FILTER": "(objectClass=groupOfNames)"})
    names = {e.split(":", 1)[0] for e in caught.value.errors}
    assert names == {"HARBOR_SKIP_AUDIT_LOG_DATABASE", "HARBOR_LDAP_GROUP_ATTRIBUTE_NAME"}


SECRETS = [s for s in USER if s.secret]


def test_secret_settings_exist():
    assert {s.key for s in SECRETS} == {"oidc_client_secret", "ldap_search_password",
                                        "uaa_client_secret"}


@pytest.mark.parametrize("setting", SECRETS, ids=[s.key for s in SECRETS])
def test_secrets_are_masked_and_read_from_files(setting, tmp_path):
    secret = "Sup3r-s3cret-" + setting.key
    path = tmp_path / "secret"
    path.write_text(secret + "\n")
    assert json.loads(core_env({setting.env_name + "_FILE": str(path)})[
        "CONFIG_OVERWRITE_JSON"])[setting.key] == secret
    for variables in ({setting.env_name: secret},
                      {setting.env_name: secret, "HARBOR_LDAP_SCOPE": "7"},
                      {setting.env_name + "_FILE": str(path)}):
        for args in (["show"], ["check"]):
            done = subprocess.run([sys.executable, "-m", "wrapper", *args], cwd=REPO,
                                  env=clean_env({**BASE, **variables}), capture_output=True,
                                  text=True)
            assert secret not in done.stdout + done.stderr
            if args == ["show"] and "HARBOR_LDAP_SCOPE" not in variables:
                line = next(x for x in done.stdout.splitlines()
                            if x.startswith(setting.env_name + " "))
                assert "***" in line or "set" in line
    assert secret not in repr(load({**BASE, setting.env_name: secret}))


class _NoDatabase:
    """The core double's config checks with an empty database (its defaults)."""

    @staticmethod
    def store():
        store = core_settings.Store(None, core_settings.load_meta(
            str(Path(__file__).parent / "core-config-metadata.yml")))
        store.stored = lambda: {}
        store.users_besides_admin = lambda: 0
        return core_settings, store


@pytest.mark.parametrize("setting", USER, ids=IDS)
def test_the_core_double_takes_every_value_the_wrapper_renders(setting):
    """The double applies CONFIG_OVERWRITE_JSON with core's checks: what the wrapper accepts,
    it accepts; and it refuses what core refuses (the wrapper refused it first)."""
    core_settings, store = _NoDatabase.store()
    for raw in valid_values(setting):
        extra = {}
        if setting.key == "skip_audit_log_database":
            extra = {"HARBOR_AUDIT_LOG_FORWARD_ENDPOINT": "syslog.example.test:514"}
        if setting.key == "ldap_group_search_filter":
            extra = {"HARBOR_LDAP_GROUP_ATTRIBUTE_NAME": "cn"}
        sent = json.loads(core_env({setting.env_name: raw, **extra})["CONFIG_OVERWRITE_JSON"])
        store.validate(sent)
    if setting.kind == schema.INT:
        with pytest.raises(core_settings.Refused):
            store.validate({setting.key: "not a number"})
    if setting.kind == schema.ENUM:
        with pytest.raises(core_settings.Refused):
            store.validate({setting.key: setting.choices[0].upper()})


def test_the_core_double_refuses_what_core_refuses():
    core_settings, store = _NoDatabase.store()
    for cfgs in ({"postgresql_host": "x"}, {"no_such_item": 1}, {"ldap_scope": 3},
                 {"token_expiration": 0}, {"session_timeout": 10 ** 10},
                 {"skip_audit_log_database": True},
                 {"ldap_group_search_filter": "(cn=*)"}, {"ldap_url": " "}):
        with pytest.raises(core_settings.Refused):
            store.validate(cfgs)
    store.users_besides_admin = lambda: 1
    with pytest.raises(core_settings.Refused, match="auth mode cannot be modified"):
        store.validate({"auth_mode": "ldap_auth"})
    store.validate({"auth_mode": "db_auth"})  # unchanged: fine
