"""settings.parse reads every variable as environs (over marshmallow) did before issue 17: the
same values accepted, the same typed results. environs stays in the test extra as the oracle.

Every setting of the schema is checked with the same texts: the kinds' edge cases written out,
then generated ones."""

from __future__ import annotations

import pytest
from hypothesis import given, strategies as st

from wrapper import schema
from wrapper.settings import parse

# One setting per way of parsing (kind, and the choices of enums and lists): the others of the
# schema are parsed the very same way.
_WAYS = {}
for _setting in schema.SETTINGS:
    _WAYS.setdefault((_setting.kind, _setting.choices), _setting)
WAYS = list(_WAYS.values())

EDGES = [
    "", " ", "0", "1", "-1", "+1", " 7 ", "07", "1_000", "1__0", "_1", "٣", "１２", "0x10",
    "1e3", "1.5", ".5", "5.", "-0", "nan", "NaN", "inf", "-Infinity", "1e400", "9" * 4301,
    "65535", "65536", "0", "t", "T", "true", "True", "TRUE", "tRue", "on", "ON", "oN", "y", "Y",
    "yes", "YES", "yEs", "f", "false", "off", "n", "no", "NO", " true", "true ", "2", "ja",
    ",", ",,", "a,", ",a", " a , b ", "STD_OUTPUT,FILE", "STD_OUTPUT, FILE", "FILE,FILE", "DB",
    "core", "core,trivy", "core ,trivy", "Core", "debug", "info", "warning", "DEBUG", "info ",
    "https", "http", "tcp", "udp", "db", "redis", "everyone", "adminonly", "db_auth",
    "{}", '{"a": "b"}', "[]", "null", "1", '"x"', "{", "{" * 3000 + "}" * 3000, " {} ",
    "x" * (64 * 1024 + 1), "\x00", "a\nb", "\udcff",
]


def environs_value(setting: schema.Setting, raw: str):
    """What the pre-issue-17 settings.py made of raw: the typed value, or ValueError."""
    import json

    from environs import Env
    from marshmallow import validate

    if setting.kind == schema.JSON:  # parsed without environs then too
        if len(raw) > 64 * 1024:
            raise ValueError
        try:
            return json.loads(raw)
        except RecursionError:
            raise ValueError from None

    class OneVariable(Env):
        def _get_value(self, env_key, default):
            return raw if env_key == setting.env_name else default

    env, name, kind = OneVariable(eager=False), setting.env_name, setting.kind
    if kind == schema.ENUM:
        value = env.str(name, None, validate=validate.OneOf(setting.choices))
    elif kind == schema.INT:
        value = env.int(name, None)
    elif kind == schema.PORT:
        value = env.int(name, None, validate=validate.Range(1, 65535))
    elif kind == schema.FLOAT:
        value = env.float(name, None)
    elif kind == schema.BOOL:
        value = env.bool(name, None)
    elif kind == schema.LIST:
        check = validate.ContainsOnly(setting.choices) if setting.choices else None
        items = env.list(name, None, subcast=str, validate=check)
        value = [i.strip() for i in items if i.strip()] if items is not None else None
    else:
        value = env.str(name, None)
    try:
        env.seal()
    except Exception:  # environs.EnvValidationError: the value was refused
        raise ValueError from None
    return value


def outcome(read, setting, raw):
    try:
        value = read(setting, raw)
    except ValueError:
        return "refused"
    return type(value).__name__, repr(value)


def test_every_kind_of_the_schema_is_compared():
    kinds = {s.kind for s in WAYS}
    assert kinds == {s.kind for s in schema.SETTINGS}
    assert len(WAYS) >= 15  # enums and lists with choices each add a way


@pytest.mark.parametrize("setting", WAYS, ids=lambda s: f"{s.kind}-{s.env_name}")
def test_edge_cases_read_as_before(setting):
    texts = EDGES + list(setting.choices) + [",".join(setting.choices),
                                             " " + ",".join(setting.choices)]
    for raw in texts:
        assert outcome(parse, setting, raw) == outcome(environs_value, setting, raw), raw


_TEXT = st.one_of(
    st.text(max_size=12),
    st.from_regex(r"\A[ +-]?[0-9_]{0,6}(\.[0-9]*)?([eE][+-]?[0-9]{1,3})?[ ]?\Z"),
    st.lists(st.sampled_from(["core", "trivy", "jobservice", "FILE", "DB", "STD_OUTPUT", " ",
                              "x", ""]), max_size=4).map(",".join),
    st.sampled_from(EDGES),
)


@given(raw=_TEXT)
def test_generated_texts_read_as_before(raw):
    for setting in WAYS:
        assert outcome(parse, setting, raw) == outcome(environs_value, setting, raw)
