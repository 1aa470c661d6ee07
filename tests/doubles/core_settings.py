"""CONTRACT DOUBLE (test-only; not Harbor): what core v2.15.2 keeps in its database.

- user settings: loaded from the `properties` table, CONFIG_OVERWRITE_JSON applied at every
  start through the same checks as the config API (a refused value stops core), read-only for
  the API while the variable is set;
- the admin password: HARBOR_ADMIN_PASSWORD is applied only while the admin row has no salt
  (the first start), later values are ignored with core's warning;
- users: admin in the database; in ldap_auth mode every other user is authenticated against
  the LDAP server (search bind, search, user bind) and onboarded into `harbor_user`.

The facts (names, types, defaults, scopes) are tests/core-config-metadata.yml, copied into the
image next to this file. The tables carry upstream's names with only the columns used here.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import secrets
import ssl
from urllib.parse import urlsplit

import yaml

META_FILE = os.path.join(os.path.dirname(os.path.realpath(__file__)), "core-config-metadata.yml")
ADMIN_ID = 1
READ_ONLY_MESSAGE = ("current config is init by env variable: CONFIG_OVERWRITE_JSON, it "
                     "cannot be updated")
INT_TYPES = ("IntType", "Int64Type", "LdapScopeType", "PortType", "QuotaType")
POSITIVE = ("token_expiration", "robot_token_duration", "session_timeout")
API_LIMIT = 9_999_999_999

SCHEMA = """
SELECT pg_advisory_xact_lock(716);
CREATE TABLE IF NOT EXISTS properties (
    id serial PRIMARY KEY, k varchar(64) UNIQUE NOT NULL, v varchar(2048) NOT NULL);
CREATE TABLE IF NOT EXISTS harbor_user (
    user_id serial PRIMARY KEY, username varchar(255) UNIQUE NOT NULL,
    password varchar(40) NOT NULL DEFAULT '', salt varchar(40) NOT NULL DEFAULT '',
    sysadmin_flag boolean NOT NULL DEFAULT false, deleted boolean NOT NULL DEFAULT false,
    creation_time timestamp DEFAULT now());
CREATE TABLE IF NOT EXISTS project (
    project_id serial PRIMARY KEY, name varchar(255) UNIQUE NOT NULL, owner_id int NOT NULL,
    public boolean NOT NULL DEFAULT false, creation_time timestamp DEFAULT now());
INSERT INTO harbor_user (user_id, username, sysadmin_flag) VALUES (1, 'admin', true)
    ON CONFLICT DO NOTHING;
INSERT INTO harbor_user (user_id, username, deleted) VALUES (2, 'anonymous', true)
    ON CONFLICT DO NOTHING;
INSERT INTO project (project_id, name, owner_id) VALUES (1, 'library', 1) ON CONFLICT DO NOTHING;
SELECT setval('harbor_user_user_id_seq', (SELECT max(user_id) FROM harbor_user));
SELECT setval('project_project_id_seq', (SELECT max(project_id) FROM project));
"""


class Fatal(Exception):
    """What makes core log.Fatalf at start."""


class Refused(Exception):
    """What the config API answers with an error (status, message)."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


def load_meta(path: str = META_FILE) -> dict:
    with open(path, encoding="utf-8") as fh:
        facts = yaml.safe_load(fh)
    return {"items": {i["key"]: i for i in facts["items"]}, "choices": facts["type_choices"]}


# ------------------------------------------------------------------ values and their types


def go_text(value) -> str:
    """A JSON value as core turns it into text before checking it (numbers without exponent)."""
    if isinstance(value, dict):
        return json.dumps(value, separators=(",", ":"))
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        f = float(value)
        return str(int(f)) if f.is_integer() and abs(f) < 1e21 else repr(f)
    if value is None:
        return "<nil>"
    return str(value)


def go_bool(text: str) -> bool | None:
    return {"1": True, "t": True, "T": True, "TRUE": True, "true": True, "True": True,
            "0": False, "f": False, "F": False, "FALSE": False, "false": False,
            "False": False}.get(text)


def go_int(text: str, bits: int) -> int | None:
    limit = 2 ** (bits - 1)
    try:
        value = int(text, 10)
        return value if -limit <= value < limit else None
    except ValueError:
        pass
    try:
        number = float(text)
    except ValueError:
        return None
    return int(number) if math.isfinite(number) and number == math.trunc(number) else None


def type_problem(meta: dict, item: dict, text: str) -> str | None:
    kind = item["type"]
    if kind == "BoolType":
        return None if go_bool(text) is not None else f'strconv.ParseBool: parsing "{text}"'
    if kind in ("IntType", "PortType"):
        if go_int(text, 32) is None:
            return f"invalid int string: {text}"
    if kind in ("Int64Type", "QuotaType") and go_int(text, 64) is None:
        return f"invalid int64 string: {text}"
    if kind in meta["choices"] and text not in meta["choices"][kind]:
        return f"invalid {item['key']}, should be one of {', '.join(meta['choices'][kind])}"
    if kind == "NonEmptyStringType" and not text.strip():
        return "the value can not be empty"
    if kind in ("MapType", "StringToStringMapType"):
        try:
            parsed = json.loads(text)
        except ValueError as exc:
            return str(exc)
        if not isinstance(parsed, dict) or (kind == "StringToStringMapType" and not all(
                isinstance(v, str) for v in parsed.values())):
            return "json: cannot unmarshal into the map"
    if kind == "Float64Type":
        try:
            float(text)
        except ValueError:
            return f"invalid float string: {text}"
    return None


def typed(item: dict, text: str):
    """A stored text as the API returns it."""
    kind = item["type"]
    if kind == "BoolType":
        return bool(go_bool(text))
    if kind in INT_TYPES:
        value = go_int(text, 64)
        return 0 if value is None else value
    if kind == "Float64Type":
        return float(text)
    return text


# ------------------------------------------------------------------ the database


class Store:
    def __init__(self, connect, meta: dict):
        self.connect = connect  # () -> a psycopg2 connection
        self.meta = meta

    def init_schema(self) -> None:
        conn = self.connect()
        try:
            with conn, conn.cursor() as cur:
                cur.execute(SCHEMA)
        finally:
            conn.close()

    def _query(self, sql: str, args=(), fetch: bool = True):
        conn = self.connect()
        try:
            with conn, conn.cursor() as cur:
                cur.execute(sql, args)
                return cur.fetchall() if fetch and cur.description else None
        finally:
            conn.close()

    def stored(self) -> dict[str, str]:
        return dict(self._query("SELECT k, v FROM properties"))

    def config(self) -> dict[str, str]:
        """Every user setting: the database's value, else core's default."""
        values = {k: i["default"] for k, i in self.meta["items"].items() if i["scope"] == "user"}
        values.update({k: v for k, v in self.stored().items() if k in values})
        return values

    def value(self, key: str):
        return typed(self.meta["items"][key], self.config()[key])

    def users_besides_admin(self) -> int:
        return self._query("SELECT count(*) FROM harbor_user WHERE user_id > 1 "
                           "AND deleted = false")[0][0]

    def validate(self, cfgs: dict) -> None:
        """The config API's checks, in its order (controller.validateCfg)."""
        current = self.config()
        if "auth_mode" in cfgs and go_text(cfgs["auth_mode"]) != current["auth_mode"]:
            if self.users_besides_admin():
                raise Refused(400, "the auth mode cannot be modified as new users have been "
                                   "inserted into database")
        for key, value in cfgs.items():
            item = self.meta["items"].get(key)
            if item is None:
                raise Refused(400, f"invalid config, item not defined in metadatalist, {key}")
            if item["scope"] == "system":
                raise Refused(400, f"system config items cannot be updated, item: {key}")
            problem = type_problem(self.meta, item, go_text(value))
            if problem:
                raise Refused(400, f"item name {key}: {problem}")
        group = ("ldap_group_search_filter", "ldap_group_attribute_name",
                 "ldap_group_membership_attribute")
        if any(k in cfgs for k in group):
            merged = {k: current[k] for k in group}
            for k in group:
                if k in cfgs:
                    if not isinstance(cfgs[k], str):  # core asserts a Go string: it panics
                        raise Refused(500, f"{k}: interface conversion: not a string")
                    merged[k] = cfgs[k]
            if merged[group[0]] and not merged[group[1]]:
                raise Refused(400, "ldap group name attribute can not be empty")
            if merged[group[0]] and not merged[group[2]]:
                raise Refused(400, "ldap group membership attribute can not be empty")
        if "skip_audit_log_database" in cfgs or "audit_log_forward_endpoint" in cfgs:
            skip = cfgs.get("skip_audit_log_database", go_bool(current["skip_audit_log_database"]))
            endpoint = cfgs.get("audit_log_forward_endpoint", current["audit_log_forward_endpoint"])
            if not isinstance(skip, bool) or not isinstance(endpoint, str):
                raise Refused(500, "audit log settings: interface conversion")
            if skip and not endpoint:
                raise Refused(400, "audit log forward endpoint should be configured before "
                                   "enable skip audit log in database")
        for key in POSITIVE:
            value = cfgs.get(key)
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                if value <= 0:
                    raise Refused(400, f"the {key} value must be positive")
                if int(value) > API_LIMIT:
                    raise Refused(400, f"the {key} value is over the limit value: {API_LIMIT}")

    def update(self, cfgs: dict) -> None:
        self.validate(cfgs)
        conn = self.connect()
        try:
            with conn, conn.cursor() as cur:
                for key, value in cfgs.items():
                    cur.execute("INSERT INTO properties (k, v) VALUES (%s, %s) ON CONFLICT (k) "
                                "DO UPDATE SET v = EXCLUDED.v", (key, go_text(value)))
        finally:
            conn.close()

    def overwrite_from_env(self, raw: str | None) -> bool:
        """At every start: CONFIG_OVERWRITE_JSON through the API's checks. True: read-only."""
        if raw is None:
            return False
        try:
            cfgs = json.loads(raw)
        except ValueError as exc:
            raise Fatal(f"failed to init config from CONFIG_OVERWRITE_JSON, error {exc}")
        if not isinstance(cfgs, dict):
            raise Fatal("failed to init config from CONFIG_OVERWRITE_JSON, error json: cannot "
                        "unmarshal into map[string]interface {}")
        try:
            self.update(cfgs)
        except Refused as exc:
            raise Fatal(f"failed to init config from CONFIG_OVERWRITE_JSON, error {exc}")
        return True

    # --- users
    def init_admin_password(self, password: str) -> str:
        """Core's updateInitPassword: only while the admin row has no salt."""
        salt = self._query("SELECT salt FROM harbor_user WHERE user_id = 1")[0][0]
        if salt:
            if password:
                return ("Admin password from config (HARBOR_ADMIN_PASSWORD) ignored: password "
                        "already exists in database. Use Harbor UI or API to change.")
            return "User id: 1 already has its encrypted password."
        salt = secrets.token_hex(16)
        self._query("UPDATE harbor_user SET password = %s, salt = %s WHERE user_id = 1",
                    (encrypt(password, salt), salt), fetch=False)
        return "User id: 1 updated its encrypted password successfully."

    def user(self, username: str):
        rows = self._query("SELECT user_id, password, salt, sysadmin_flag FROM harbor_user "
                           "WHERE username = %s AND deleted = false", (username,))
        return rows[0] if rows else None

    def onboard(self, username: str) -> int:
        self._query("INSERT INTO harbor_user (username) VALUES (%s) ON CONFLICT DO NOTHING",
                    (username,), fetch=False)
        return self.user(username)[0]

    def project(self, name: str):
        rows = self._query("SELECT project_id, owner_id, public FROM project WHERE name = %s",
                           (name,))
        return rows[0] if rows else None

    def create_project(self, name: str, owner_id: int, public: bool) -> bool:
        rows = self._query("INSERT INTO project (name, owner_id, public) VALUES (%s, %s, %s) "
                           "ON CONFLICT DO NOTHING RETURNING project_id", (name, owner_id, public))
        return bool(rows)


def encrypt(password: str, salt: str) -> str:
    """Harbor's password hash (PBKDF2-SHA256, 4096 rounds, 16 bytes, hex)."""
    return hashlib.pbkdf2_hmac("sha256", password.encode(), salt.encode(), 4096, 16).hex()


def password_matches(row, password: str) -> bool:
    _, stored, salt, _ = row
    return bool(salt) and secrets.compare_digest(stored, encrypt(password, salt))


# ------------------------------------------------------------------ LDAP


class LdapError(Exception):
    pass


def _escape(value: str) -> str:
    from ldap3.utils.conv import escape_filter_chars

    return escape_filter_chars(value)


def ldap_authenticate(conf: dict, username: str, password: str) -> str:
    """Harbor's LDAP login: bind as the search DN, find exactly one entry whose uid attribute
    is the user name (with the extra filter, in the scope), bind as it. Returns the DN."""
    import ldap3

    if not password:
        raise LdapError("empty password not allowed by the client")
    url = conf["ldap_url"] if "://" in conf["ldap_url"] else "ldap://" + conf["ldap_url"]
    parts = urlsplit(url)
    secure = parts.scheme == "ldaps"
    verify = go_bool(conf["ldap_verify_cert"]) is not False
    timeout = int(go_int(conf["ldap_timeout"] or "5", 32) or 5)
    tls = ldap3.Tls(validate=ssl.CERT_REQUIRED if verify else ssl.CERT_NONE,
                    ca_certs_file=os.environ.get("SSL_CERT_FILE") if verify else None)
    server = ldap3.Server(parts.hostname, port=parts.port or (636 if secure else 389),
                          use_ssl=secure, tls=tls, connect_timeout=timeout)
    try:
        search = ldap3.Connection(server, user=conf["ldap_search_dn"] or None,
                                  password=conf["ldap_search_password"] or None,
                                  receive_timeout=timeout, raise_exceptions=True)
        search.bind()
        uid = conf["ldap_uid"] or "cn"
        extra = conf["ldap_filter"].strip()
        if extra and not extra.startswith("("):
            extra = f"({extra})"
        query = f"(&{extra}({uid}={_escape(username)}))"
        scope = {"0": ldap3.BASE, "1": ldap3.LEVEL}.get(conf["ldap_scope"], ldap3.SUBTREE)
        search.search(conf["ldap_base_dn"], query, search_scope=scope, attributes=[uid])
        entries = list(search.response or [])
        entries = [e for e in entries if e.get("type") == "searchResEntry"]
        search.unbind()
        if len(entries) != 1:
            raise LdapError(f"found {len(entries)} entries for {username!r} (need exactly 1)")
        dn = entries[0]["dn"]
        user = ldap3.Connection(server, user=dn, password=password, receive_timeout=timeout,
                                raise_exceptions=False)
        if not user.bind():
            raise LdapError(f"bind as {dn} refused: {user.result.get('description')}")
        user.unbind()
        return dn
    except ldap3.core.exceptions.LDAPException as exc:
        raise LdapError(f"{type(exc).__name__}: {exc}") from None
