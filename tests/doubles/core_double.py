#!/usr/bin/python3
"""CONTRACT DOUBLE for harbor_core (test-only; not Harbor).

Installed as /harbor/harbor_core in the harbor-standin/harbor-core image. It reads
the same environment and files as Harbor v2.15.2 core, refuses to start (exit 2)
when the contract is broken, waits for PostgreSQL and Redis like core does (exit 3
when they never answer), and then serves just enough of core for a docker
login / push / pull through the proxy:

  GET  /api/v2.0/ping                 -> "Pong"
  GET  /api/v2.0/health               -> live checks of database, redis, registry
  GET  /api/v2.0/systeminfo           -> a few non-secret facts
  GET  /api/v2.0/systeminfo/getcert   -> /etc/core/ca/ca.crt, or 404
  GET  /service/token                 -> RS256 registry token (basic auth: admin from the
                                         database, other users by LDAP in ldap_auth mode)
  GET/PUT /api/v2.0/configurations    -> user settings (admin; PUT refused while
                                         CONFIG_OVERWRITE_JSON is set, as core does)
  POST /api/v2.0/projects             -> a project owned by the caller
  GET  /api/v2.0/users/current        -> the caller
  *    /v2/...                        -> Bearer check, then forwarded to REGISTRY_URL
                                         with the registry basic-auth credential

Every log line starts with "[core-double]". Secrets are never printed.

What core keeps in its database (settings, users, projects) is kept in the real PostgreSQL:
see core_settings.py. CONFIG_OVERWRITE_JSON is applied at every start, HARBOR_ADMIN_PASSWORD
only at the first.

Environment (as Harbor core): CONFIG_PATH, KEY_PATH, TOKEN_PRIVATE_KEY_PATH, CSRF_KEY,
CORE_SECRET, JOBSERVICE_SECRET, EXT_ENDPOINT, HARBOR_ADMIN_PASSWORD, POSTGRESQL_*,
_REDIS_URL_CORE, _REDIS_URL_REG (+ _REDIS_URL_HARBOR/_REDIS_URL_CACHE_LAYER when set),
REGISTRY_URL, REGISTRY_CREDENTIAL_USERNAME/PASSWORD, TOKEN_SERVICE_URL,
INTERNAL_TLS_ENABLED/CERT_PATH/KEY_PATH.
Double-only knobs: CORE_DOUBLE_WAIT_SECONDS (default 60), CORE_DOUBLE_CHECK_ONLY=1
(validate and exit 0 without serving).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import http.client
import json
import os
import re
import secrets
import ssl
import sys
import time
import uuid
from urllib.parse import parse_qs, urlsplit

sys.path.insert(0, os.path.dirname(os.path.realpath(__file__)))

sys.path.insert(1, os.path.join(os.path.dirname(os.path.realpath(__file__)), "vendor"))

import core_settings  # noqa: E402
from double_common import (  # noqa: E402
    EXIT_CONTRACT,
    Problems,
    QuietHandler,
    exit_on_sigterm,
    go_parse_bool,
    iter_chunked,
    log,
    make_server,
    parse_redis_url,
    redacted_redis,
    redis_client,
    wait_for,
    RedisURLError,
)

TAG = "core-double"
ISSUER = "harbor-token-issuer"
SERVICE = "harbor-registry"
TOKEN_EXPIRATION = 30 * 60  # Harbor default token_expiration: 30 minutes
ADMIN = "admin"
HOP_BY_HOP = {
    "connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te",
    "trailer", "trailers", "transfer-encoding", "upgrade",
}
SSLMODES = {"disable", "allow", "prefer", "require", "verify-ca", "verify-full"}
GO_DURATION = re.compile(r"^[-+]?(0|([0-9]*(\.[0-9]*)?(ns|us|µs|ms|s|m|h))+)$")
REPO_PATH = re.compile(r"^/v2/(?P<name>.+?)/(?P<kind>manifests|blobs|tags|referrers)(/|$)")
CHUNK = 1 << 20


# ------------------------------------------------------------- config checks


def parse_beego_ini(path: str) -> dict[str, dict[str, str]]:
    """Minimal beego ini reader: top-level keys go to section "default"."""
    sections: dict[str, dict[str, str]] = {"default": {}}
    current = "default"
    with open(path, encoding="utf-8") as fh:
        for lineno, raw in enumerate(fh, 1):
            line = raw.strip()
            if not line or line[0] in "#;":
                continue
            if line.startswith("[") and line.endswith("]"):
                current = line[1:-1].strip().lower()
                if not current:
                    raise ValueError(f"line {lineno}: empty section name")
                sections.setdefault(current, {})
                continue
            if line.startswith("include "):
                raise ValueError(f"line {lineno}: 'include' is not supported by the double")
            if "=" not in line:
                raise ValueError(f"line {lineno}: expected 'key = value', got {line!r}")
            key, value = line.split("=", 1)
            value = value.strip()
            if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
                value = value[1:-1]
            sections[current][key.strip().lower()] = value
    return sections


def libtrust_kid(public_key) -> str:
    """libtrust key id: base32 of the first 240 bits of sha256(DER SPKI), 12x4 groups."""
    from cryptography.hazmat.primitives import serialization

    der = public_key.public_bytes(serialization.Encoding.DER,
                                  serialization.PublicFormat.SubjectPublicKeyInfo)
    b32 = base64.b32encode(hashlib.sha256(der).digest()[:30]).decode().rstrip("=")
    return ":".join(b32[i:i + 4] for i in range(0, len(b32), 4))


def check_url(problems: Problems, name: str, value: str, schemes=("http", "https")):
    if not value:
        return None
    parts = urlsplit(value)
    if parts.scheme not in schemes or not parts.netloc:
        problems.add(f"env {name}={value!r} is not a {'/'.join(schemes)} URL with a host")
        return None
    return parts


def load_token_key(problems: Problems, path: str):
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except OSError as exc:
        problems.add(f"token private key {path} (TOKEN_PRIVATE_KEY_PATH) is not readable "
                     f"by uid {os.getuid()}: {exc.strerror}")
        return None
    m = re.search(rb"-----BEGIN ([A-Z0-9 ]+)-----", data)
    if not m:
        problems.add(f"token private key {path} holds no PEM block")
        return None
    pem_type = m.group(1).decode()
    if pem_type != "RSA PRIVATE KEY":
        hint = {
            "PRIVATE KEY": "PKCS#8",
            "ENCRYPTED PRIVATE KEY": "encrypted PKCS#8",
            "EC PRIVATE KEY": "EC; core signs RS256 and needs RSA",
        }.get(pem_type, "unsupported")
        problems.add(
            f"token private key {path} has PEM type '{pem_type}' ({hint}); Harbor core "
            "(libtrust.UnmarshalPrivateKeyPEM) only accepts 'RSA PRIVATE KEY' (PKCS#1, "
            "as written by `openssl genrsa -traditional`)")
        return None
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        problems.add(f"token private key {path} does not parse as an unencrypted RSA key: {exc}")
        return None
    if not isinstance(key, rsa.RSAPrivateKey):
        problems.add(f"token private key {path} is not an RSA key")
        return None
    return key


def load_config(env=os.environ) -> dict:
    p = Problems(TAG)
    cfg: dict = {}

    # app.conf (beego): [<runmode>] httpport, default 8080
    port = 8080
    config_path = env.get("CONFIG_PATH", "")
    if config_path:
        try:
            ini = parse_beego_ini(config_path)
            runmode = env.get("BEEGO_RUNMODE") or ini["default"].get("runmode", "dev")
            raw = ini.get(runmode, {}).get("httpport", ini["default"].get("httpport", "8080"))
            if not raw.isdigit() or not 0 < int(raw) < 65536:
                p.add(f"{config_path}: httpport {raw!r} is not a TCP port")
            else:
                port = int(raw)
        except OSError as exc:
            p.add(f"CONFIG_PATH {config_path} is not readable by uid {os.getuid()}: {exc.strerror}")
        except ValueError as exc:
            p.add(f"CONFIG_PATH {config_path} is not a valid beego ini file: {exc}")
    cfg["port"] = port

    # secretkey: raw bytes, exactly 16, no newline
    key_path = env.get("KEY_PATH") or "/etc/core/key"
    try:
        with open(key_path, "rb") as fh:
            key = fh.read()
        if len(key) != 16:
            nl = " (it ends with a newline; the file must have none)" if key.endswith(b"\n") else ""
            p.add(f"secret key {key_path} (KEY_PATH) must be exactly 16 bytes, got {len(key)}{nl}")
    except OSError as exc:
        p.add(f"secret key {key_path} (KEY_PATH) is not readable by uid {os.getuid()}: {exc.strerror}")

    token_key_path = env.get("TOKEN_PRIVATE_KEY_PATH") or "/etc/core/private_key.pem"
    cfg["token_key"] = load_token_key(p, token_key_path)

    csrf = env.get("CSRF_KEY")
    if csrf is None:
        p.add("env CSRF_KEY is not set")
    elif len(csrf) != 32:
        p.add(f"env CSRF_KEY must be exactly 32 characters, got {len(csrf)}")

    for name in ("CORE_SECRET", "JOBSERVICE_SECRET", "HARBOR_ADMIN_PASSWORD",
                 "REGISTRY_CREDENTIAL_USERNAME", "REGISTRY_CREDENTIAL_PASSWORD"):
        p.require_env(name, env)
    cfg["admin_password"] = env.get("HARBOR_ADMIN_PASSWORD", "")
    cfg["registry_user"] = env.get("REGISTRY_CREDENTIAL_USERNAME", "")
    cfg["registry_password"] = env.get("REGISTRY_CREDENTIAL_PASSWORD", "")

    ext = p.require_env("EXT_ENDPOINT", env)
    cfg["ext_endpoint"] = check_url(p, "EXT_ENDPOINT", ext)
    registry = p.require_env("REGISTRY_URL", env)
    cfg["registry_url"] = check_url(p, "REGISTRY_URL", registry)
    token_url = p.require_env("TOKEN_SERVICE_URL", env)
    check_url(p, "TOKEN_SERVICE_URL", token_url)
    for name in ("CORE_URL", "CORE_LOCAL_URL", "JOBSERVICE_URL", "REGISTRY_CONTROLLER_URL",
                 "PORTAL_URL", "TRIVY_ADAPTER_URL"):
        check_url(p, name, env.get(name, ""))

    # database
    dbtype = env.get("DATABASE_TYPE", "postgresql")
    if dbtype != "postgresql":
        p.add(f"env DATABASE_TYPE={dbtype!r}: only 'postgresql' is supported")
    db = {n.lower(): p.require_env(f"POSTGRESQL_{n}", env)
          for n in ("HOST", "PORT", "USERNAME", "DATABASE", "SSLMODE")}
    if "POSTGRESQL_PASSWORD" not in env:
        p.add("env POSTGRESQL_PASSWORD is not set")
    db["password"] = env.get("POSTGRESQL_PASSWORD", "")
    if db["port"] and (not db["port"].isdigit() or not 0 < int(db["port"]) < 65536):
        p.add(f"env POSTGRESQL_PORT={db['port']!r} is not a TCP port")
    if db["sslmode"] and db["sslmode"] not in SSLMODES:
        p.add(f"env POSTGRESQL_SSLMODE={db['sslmode']!r} is not one of {sorted(SSLMODES)}")
    for name in ("POSTGRESQL_MAX_IDLE_CONNS", "POSTGRESQL_MAX_OPEN_CONNS", "MAX_JOB_WORKERS"):
        v = env.get(name, "")
        if v and not re.fullmatch(r"-?\d+", v):
            p.add(f"env {name}={v!r} is not an integer")
    for name in ("POSTGRESQL_CONN_MAX_LIFETIME", "POSTGRESQL_CONN_MAX_IDLE_TIME"):
        v = env.get(name, "")
        if v and not GO_DURATION.match(v):
            p.add(f"env {name}={v!r} is not a Go duration (e.g. 5m, 0)")
    cfg["db"] = db

    # redis
    redis_urls = {}
    for name in ("_REDIS_URL_CORE", "_REDIS_URL_REG", "_REDIS_URL_HARBOR", "_REDIS_URL_CACHE_LAYER"):
        required = name in ("_REDIS_URL_CORE", "_REDIS_URL_REG")
        v = p.require_env(name, env) if required else env.get(name, "")
        if not v:
            continue
        try:
            redis_urls[name] = parse_redis_url(v)
        except RedisURLError as exc:
            p.add(f"env {name} is not a valid Harbor redis URL: {exc}")
    cfg["redis"] = redis_urls

    # strictly parsed optional values
    for name in ("WITH_TRIVY", "METRIC_ENABLE", "TRACE_ENABLED", "CACHE_ENABLED",
                 "INTERNAL_TLS_ENABLED", "TRACE_OTEL_COMPRESSION", "TRACE_OTEL_INSECURE"):
        v = env.get(name, "")
        if v and go_parse_bool(v) is None:
            p.add(f"env {name}={v!r} is not a Go boolean (true/false/1/0/True/False...)")
    v = env.get("TRACE_ATTRIBUTES", "")
    if v:
        try:
            attrs = json.loads(v)
            if not isinstance(attrs, dict) or not all(isinstance(x, str) for x in attrs.values()):
                raise ValueError("not a string-to-string map")
        except ValueError as exc:
            p.add(f"env TRACE_ATTRIBUTES is not a JSON string map: {exc}")
    v = env.get("QUOTA_UPDATE_PROVIDER", "")
    if v and v not in ("db", "redis"):
        p.add(f"env QUOTA_UPDATE_PROVIDER={v!r} must be 'db' or 'redis'")

    # internal TLS
    cfg["tls"] = None
    if go_parse_bool(env.get("INTERNAL_TLS_ENABLED", "") or "false"):
        cert = env.get("INTERNAL_TLS_CERT_PATH", "")
        key_file = env.get("INTERNAL_TLS_KEY_PATH", "")
        for n, f in (("INTERNAL_TLS_CERT_PATH", cert), ("INTERNAL_TLS_KEY_PATH", key_file)):
            if not f:
                p.add(f"INTERNAL_TLS_ENABLED is true but env {n} is empty")
            elif not os.access(f, os.R_OK):
                p.add(f"{n} {f} is not readable by uid {os.getuid()}")
        cfg["tls"] = (cert, key_file)

    p.exit_if_any()
    cfg["public_key"] = cfg["token_key"].public_key()
    cfg["kid"] = libtrust_kid(cfg["public_key"])
    return cfg


# ------------------------------------------------------------- dependencies


def db_check(db: dict, timeout: int = 5):
    import psycopg2

    conn = psycopg2.connect(host=db["host"], port=int(db["port"]), user=db["username"],
                            password=db["password"], dbname=db["database"],
                            sslmode=db["sslmode"], connect_timeout=timeout)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT current_database(), current_user, version()")
            return cur.fetchone()
    finally:
        conn.close()


def redis_check(info: dict):
    client = redis_client(info)
    try:
        if client.ping() is not True:
            raise RuntimeError("PING did not answer PONG")
        return True
    finally:
        client.close()


def registry_connection(cfg: dict, timeout: float = 10):
    u = cfg["registry_url"]
    if u.scheme == "https":
        conn = http.client.HTTPSConnection(u.netloc, timeout=timeout,
                                           context=ssl.create_default_context())
    else:
        conn = http.client.HTTPConnection(u.netloc, timeout=timeout)
    return conn


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def registry_ping(cfg: dict):
    conn = registry_connection(cfg)
    try:
        conn.request("GET", "/v2/", headers={
            "Authorization": basic(cfg["registry_user"], cfg["registry_password"])})
        resp = conn.getresponse()
        resp.read()
        if resp.status == 401:
            raise RuntimeError("registry REJECTED REGISTRY_CREDENTIAL_USERNAME/PASSWORD "
                               "(htpasswd mismatch)")
        if resp.status != 200:
            raise RuntimeError(f"registry answered {resp.status} to GET /v2/")
        return True
    finally:
        conn.close()


# ------------------------------------------------------------------- tokens


def parse_scopes(values: list[str]) -> list[dict]:
    out = []
    for value in values:
        for item in value.split(" "):
            if not item:
                continue
            parts = item.split(":")
            if len(parts) < 3:
                raise ValueError(f"bad scope {item!r}")
            out.append({"type": parts[0], "name": ":".join(parts[1:-1]),
                        "actions": [a for a in parts[-1].split(",") if a]})
    return out


def issue_token(cfg: dict, subject: str, access: list[dict]) -> dict:
    import jwt

    now = int(time.time())
    claims = {
        "iss": ISSUER,
        "sub": subject,
        "aud": SERVICE,
        "exp": now + TOKEN_EXPIRATION,
        "nbf": now,
        "iat": now,
        "jti": secrets.token_hex(16),
        "access": access,
    }
    token = jwt.encode(claims, cfg["token_key"], algorithm="RS256",
                       headers={"kid": cfg["kid"], "typ": "JWT"})
    issued = dt.datetime.fromtimestamp(now, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {"token": token, "access_token": token, "expires_in": TOKEN_EXPIRATION,
            "issued_at": issued}


def verify_token(cfg: dict, token: str) -> dict:
    import jwt

    header = jwt.get_unverified_header(token)
    if header.get("kid") != cfg["kid"]:
        raise jwt.InvalidTokenError("kid does not match the token key")
    return jwt.decode(token, cfg["public_key"], algorithms=["RS256"], audience=SERVICE,
                      issuer=ISSUER, options={"require": ["exp", "aud", "iss"]}, leeway=5)


def action_for(method: str) -> str:
    if method in ("GET", "HEAD"):
        return "pull"
    if method == "DELETE":
        return "delete"
    return "push"


def allowed(claims: dict, name: str, action: str) -> bool:
    for entry in claims.get("access") or []:
        if entry.get("type") == "repository" and entry.get("name") == name:
            acts = entry.get("actions") or []
            if action in acts or "*" in acts:
                return True
    return False


# ------------------------------------------------------------------ server


class CoreHandler(QuietHandler):
    TAG = TAG
    cfg: dict = {}

    # --- plumbing
    def do_GET(self):
        self.route()

    do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_GET

    def route(self):
        path = self.path.split("?", 1)[0]
        try:
            if path.startswith("/v2/") or path == "/v2":
                return self.registry_api(path)
            if path == "/api/v2.0/configurations" and self.command in ("GET", "PUT"):
                return self.configurations()
            if path == "/api/v2.0/projects" and self.command == "POST":
                return self.create_project()
            if path == "/api/v2.0/users/current" and self.command == "GET":
                return self.current_user()
            if self.command not in ("GET", "HEAD"):
                self.discard_body()
                return self.error_json(405, "METHOD_NOT_ALLOWED", f"{self.command} is not served by the core double")
            if path == "/api/v2.0/ping":
                return self.send_body(200, "Pong")
            if path == "/api/v2.0/health":
                return self.health()
            if path == "/api/v2.0/systeminfo":
                return self.systeminfo()
            if path == "/api/v2.0/systeminfo/getcert":
                return self.getcert()
            if path == "/service/token":
                return self.token()
            return self.error_json(404, "NOT_FOUND", f"{path} is not implemented by the core double")
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        except Exception as exc:  # noqa: BLE001
            log(TAG, f"ERROR handling {self.command} {path}: {type(exc).__name__}: {exc}")
            self.close_connection = True
            try:
                self.error_json(500, "UNKNOWN", f"core double error: {type(exc).__name__}")
            except OSError:
                pass

    def error_json(self, code: int, err: str, msg: str, extra: dict | None = None):
        body = json.dumps({"errors": [{"code": err, "message": msg}]})
        self.send_body(code, body, "application/json; charset=utf-8", extra)

    # --- API
    def health(self):
        cfg = self.cfg
        comps = []
        for name, fn in (
            ("database", lambda: db_check(cfg["db"], 3)),
            ("redis", lambda: [redis_check(i) for i in cfg["redis"].values()]),
            ("registry", lambda: registry_ping(cfg)),
        ):
            try:
                fn()
                comps.append({"name": name, "status": "healthy"})
            except Exception as exc:  # noqa: BLE001
                comps.append({"name": name, "status": "unhealthy",
                              "error": f"{type(exc).__name__}: {exc}"})
        comps.insert(0, {"name": "core", "status": "healthy"})
        status = "healthy" if all(c["status"] == "healthy" for c in comps) else "unhealthy"
        self.send_body(200, json.dumps({"status": status, "components": comps}),
                       "application/json; charset=utf-8")

    def systeminfo(self):
        ext = self.cfg["ext_endpoint"]
        info = {
            "harbor_version": "v2.15.2-core-double",
            "external_url": f"{ext.scheme}://{ext.netloc}",
            "registry_url": ext.netloc,
            "auth_mode": self.store.config()["auth_mode"],
            "self_registration": self.store.value("self_registration"),
            "with_trivy": go_parse_bool(os.environ.get("WITH_TRIVY", "") or "false") or False,
            "has_ca_root": os.path.isfile("/etc/core/ca/ca.crt"),
            "contract_double": True,
        }
        self.send_body(200, json.dumps(info), "application/json; charset=utf-8")

    def getcert(self):
        path = "/etc/core/ca/ca.crt"
        try:
            with open(path, "rb") as fh:
                data = fh.read()
        except FileNotFoundError:
            return self.error_json(404, "NOT_FOUND", "No certificate found")
        except OSError as exc:
            return self.error_json(500, "UNKNOWN", f"cannot read {path}: {exc.strerror}")
        self.send_body(200, data, "application/octet-stream",
                       {"Content-Disposition": 'attachment; filename="ca.crt"'})

    def token(self):
        q = parse_qs(self.path.split("?", 1)[1] if "?" in self.path else "")
        service = (q.get("service") or [""])[-1]
        if service != SERVICE:
            return self.error_json(400, "BAD_REQUEST", f"unknown service {service!r}, expected {SERVICE!r}")
        try:
            scopes = parse_scopes(q.get("scope", []))
        except ValueError as exc:
            return self.error_json(400, "BAD_REQUEST", str(exc))
        subject, user_id = "", None
        if self.headers.get("Authorization", ""):
            who = self.authenticated()
            if who is None:
                return self.error_json(401, "UNAUTHORIZED", "invalid credentials",
                                       {"WWW-Authenticate": 'Basic realm="harbor"'})
            user_id, subject, _ = who
        access = self.grant(user_id, scopes)
        tok = issue_token(self.cfg, subject, access)
        granted = " ".join(f"{s['type']}:{s['name']}:{','.join(s['actions'])}" for s in access)
        log(TAG, f"token: issued for {subject or 'anonymous'}: [{granted}]")
        self.send_body(200, json.dumps(tok), "application/json; charset=utf-8")

    # --- users, settings, projects (what core keeps in its database)
    store: core_settings.Store = None  # type: ignore[assignment]
    read_only_for_all = False

    def authenticated(self):
        """(user_id, username, is_admin) for the Basic credentials, or None (logged)."""
        auth = self.headers.get("Authorization", "")
        user = password = None
        if auth.startswith("Basic "):
            try:
                user, _, password = base64.b64decode(auth[6:]).decode().partition(":")
            except ValueError:
                pass
        if not user:
            return None
        row = self.store.user(user)
        mode = self.store.config()["auth_mode"]
        if user == ADMIN or mode == "db_auth":  # the admin always logs in from the database
            if row and core_settings.password_matches(row, password or ""):
                return row[0], user, bool(row[3])
            log(TAG, f"login: REJECTED credentials for user {user!r} (database)")
            return None
        if mode != "ldap_auth":
            log(TAG, f"login: {user!r}: auth mode {mode} is not modelled by the double")
            return None
        conf = self.store.config()
        conf["ldap_search_password"] = self.store.stored().get("ldap_search_password", "")
        try:
            dn = core_settings.ldap_authenticate(conf, user, password or "")
        except core_settings.LdapError as exc:
            log(TAG, f"login: LDAP REJECTED {user!r}: {exc}")
            return None
        user_id = self.store.onboard(user)
        log(TAG, f"login: {user!r} authenticated by LDAP as {dn} (user id {user_id})")
        return user_id, user, False

    def grant(self, user_id, scopes: list[dict]) -> list[dict]:
        if user_id == core_settings.ADMIN_ID:  # the admin may do everything it asks for
            return [s for s in scopes if s["actions"]]
        out = []
        for s in scopes:
            if s["type"] != "repository" or "/" not in s["name"]:
                continue
            project = self.store.project(s["name"].split("/", 1)[0])
            if project is None:
                continue
            _, owner, public = project
            allowed_actions = (["pull", "push", "delete", "*"] if user_id is not None
                               and owner == user_id else ["pull"] if public else [])
            actions = [a for a in s["actions"] if a in allowed_actions]
            if actions:
                out.append({**s, "actions": actions})
        return out

    def read_json_body(self):
        n = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(n) if n else b""
        try:
            return json.loads(raw or b"null")
        except ValueError:
            return None

    def api_caller(self):
        who = self.authenticated() if self.headers.get("Authorization") else None
        if who is None:
            self.discard_body()
            self.error_json(401, "UNAUTHORIZED", "unauthorized")
        return who

    def configurations(self):
        who = self.api_caller()
        if who is None:
            return
        if not who[2]:
            self.discard_body()
            return self.error_json(403, "FORBIDDEN", "forbidden")
        if self.command == "PUT":
            body = self.read_json_body()
            if self.read_only_for_all:
                return self.error_json(403, "FORBIDDEN", core_settings.READ_ONLY_MESSAGE)
            if not isinstance(body, dict):
                return self.error_json(400, "BAD_REQUEST", "invalid configurations")
            try:
                self.store.update(body)
            except core_settings.Refused as exc:
                return self.error_json(exc.status, "BAD_REQUEST", str(exc))
            log(TAG, f"configurations: updated {sorted(body)} through the API")
            return self.send_body(200, "")
        items = self.store.meta["items"]
        auth_mode_editable = not self.read_only_for_all and not self.store.users_besides_admin()
        out = {}
        for key, text in self.store.config().items():
            if items[key]["type"] == "PasswordType":
                continue
            editable = auth_mode_editable if key == "auth_mode" else not self.read_only_for_all
            out[key] = {"value": core_settings.typed(items[key], text), "editable": editable}
        self.send_body(200, json.dumps(out), "application/json; charset=utf-8")

    def create_project(self):
        who = self.api_caller()
        if who is None:
            return
        body = self.read_json_body()
        user_id, _, is_admin = who
        if not is_admin and self.store.config()["project_creation_restriction"] == "adminonly":
            return self.error_json(403, "FORBIDDEN", "Only system admin can create project")
        name = (body or {}).get("project_name") if isinstance(body, dict) else None
        if not isinstance(name, str) or not re.fullmatch(r"[a-z0-9]+(?:[._-][a-z0-9]+)*", name):
            return self.error_json(400, "BAD_REQUEST", "invalid project name")
        public = str(((body.get("metadata") or {}).get("public") or "false")).lower() == "true"
        if not self.store.create_project(name, user_id, public):
            return self.error_json(409, "CONFLICT", f"The project named {name} already exists")
        self.send_body(201, "", extra={"Location": f"/api/v2.0/projects/{name}"})

    def current_user(self):
        who = self.api_caller()
        if who is None:
            return
        user_id, name, is_admin = who
        self.send_body(200, json.dumps({"user_id": user_id, "username": name,
                                        "sysadmin_flag": is_admin}),
                       "application/json; charset=utf-8")

    # --- /v2/
    def challenge(self, scope: str | None, code: int = 401, err="UNAUTHORIZED",
                  msg="authentication required"):
        self.discard_body()
        host = self.headers.get("Host") or self.cfg["ext_endpoint"].netloc
        value = (f'Bearer realm="{self.cfg["ext_endpoint"].scheme}://{host}/service/token",'
                 f'service="{SERVICE}"')
        if scope:
            value += f',scope="{scope}"'
        self.error_json(code, err, msg, {"WWW-Authenticate": value,
                                         "Docker-Distribution-Api-Version": "registry/2.0"})

    def registry_api(self, path: str):
        import jwt

        m = REPO_PATH.match(path)
        name = m.group("name") if m else None
        action = action_for(self.command)
        scope = f"repository:{name}:{'pull' if action == 'pull' else 'pull,push'}" if name else None
        auth = self.headers.get("Authorization", "")
        if not auth.startswith("Bearer "):
            return self.challenge(scope)
        try:
            claims = verify_token(self.cfg, auth[7:].strip())
        except jwt.InvalidTokenError as exc:
            log(TAG, f"v2: invalid bearer token: {type(exc).__name__}: {exc}")
            return self.challenge(scope)
        if name is not None and not allowed(claims, name, action):
            if not claims.get("sub"):
                return self.challenge(scope)
            return self.challenge(scope, 403, "DENIED", f"{action} on {name} not granted by the token")
        if name is None and path.rstrip("/") != "/v2" and not claims.get("sub"):
            return self.challenge(None)
        self.forward()

    def forward(self):
        cfg = self.cfg
        target = cfg["registry_url"]
        conn = registry_connection(cfg, timeout=900)
        try:
            conn.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
            chunked = "chunked" in self.headers.get("Transfer-Encoding", "").lower()
            length = self.headers.get("Content-Length")
            for k, v in self.headers.items():
                lk = k.lower()
                if lk in HOP_BY_HOP or lk in ("authorization", "content-length"):
                    continue
                conn.putheader(k, v)
            if "Host" not in self.headers:
                conn.putheader("Host", target.netloc)
            xff = self.headers.get("X-Forwarded-For")
            conn.putheader("X-Forwarded-For",
                           f"{xff}, {self.client_address[0]}" if xff else self.client_address[0])
            conn.putheader("Authorization", basic(cfg["registry_user"], cfg["registry_password"]))
            if chunked:
                conn.putheader("Transfer-Encoding", "chunked")
                conn.endheaders()
                for data in iter_chunked(self.rfile):
                    conn.send(b"%x\r\n" % len(data) + data + b"\r\n")
                conn.send(b"0\r\n\r\n")
            elif length is not None:
                n = int(length)
                conn.putheader("Content-Length", str(n))
                conn.endheaders()
                while n > 0:
                    data = self.rfile.read(min(n, CHUNK))
                    if not data:
                        raise ConnectionError("client closed the connection inside the body")
                    conn.send(data)
                    n -= len(data)
            else:
                conn.endheaders()
            resp = conn.getresponse()
        except (OSError, http.client.HTTPException) as exc:
            conn.close()
            log(TAG, f"v2: registry {target.netloc} unreachable: {type(exc).__name__}: {exc}")
            self.close_connection = True
            return self.error_json(502, "UNKNOWN", "registry unreachable from the core double",
                                   {"Connection": "close"})
        try:
            self.relay(resp, target)
        finally:
            conn.close()

    def relay(self, resp, target):
        if resp.status == 401:
            resp.read()
            log(TAG, "v2: the registry REJECTED REGISTRY_CREDENTIAL_USERNAME/PASSWORD "
                     "(htpasswd in /etc/registry/passwd does not match core's env)")
            return self.error_json(500, "UNKNOWN", "registry rejected core's credentials")
        self.send_response(resp.status, resp.reason)
        prefixes = [f"{target.scheme}://{target.netloc}"]
        if target.port in (None, 80, 443):
            prefixes.append(f"{target.scheme}://{target.hostname}")
        upstream_length = None
        for k, v in resp.getheaders():
            lk = k.lower()
            if lk in HOP_BY_HOP or lk in ("date", "server"):
                continue
            if lk == "content-length":
                upstream_length = v
                continue
            if lk == "location":
                for prefix in prefixes:
                    if v.startswith(prefix) and v[len(prefix):len(prefix) + 1] in ("/", "?", ""):
                        v = v[len(prefix):] or "/"
                        break
            self.send_header(k, v)
        no_body = self.command == "HEAD" or resp.status in (204, 304) or resp.status < 200
        if upstream_length is not None:
            self.send_header("Content-Length", upstream_length)
        elif not no_body:
            self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        if no_body:
            resp.read()
            return
        if upstream_length is not None:
            while True:
                data = resp.read(CHUNK)
                if not data:
                    break
                self.wfile.write(data)
        else:
            while True:
                data = resp.read1(CHUNK)
                if not data:
                    break
                self.wfile.write(b"%x\r\n" % len(data) + data + b"\r\n")
            self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()


def main() -> int:
    exit_on_sigterm(TAG)
    log(TAG, "TEST DOUBLE of harbor_core v2.15.2 (not Harbor) starting")
    cfg = load_config()
    ext = cfg["ext_endpoint"]
    db = cfg["db"]
    log(TAG, f"config OK: port {cfg['port']}{' (TLS)' if cfg['tls'] else ''}, "
             f"EXT_ENDPOINT {ext.scheme}://{ext.netloc}, token key kid {cfg['kid']}")
    log(TAG, f"database {db['username']}@{db['host']}:{db['port']}/{db['database']} "
             f"sslmode={db['sslmode']}")
    for name, info in cfg["redis"].items():
        log(TAG, f"{name} -> {redacted_redis(info)}")
    log(TAG, f"registry {cfg['registry_url'].geturl()} as {cfg['registry_user']}")

    wait = float(os.environ.get("CORE_DOUBLE_WAIT_SECONDS", "60"))
    deadline = time.monotonic() + wait
    row = wait_for(TAG, "database", lambda: db_check(db), deadline)
    log(TAG, f"database answers: current_database={row[0]} user={row[1]} ({row[2].split(',')[0]})")
    for name, info in cfg["redis"].items():
        wait_for(TAG, f"redis {name}", lambda info=info: redis_check(info), deadline)

    if os.environ.get("CORE_DOUBLE_CHECK_ONLY") == "1":
        log(TAG, "CORE_DOUBLE_CHECK_ONLY=1: contract satisfied, exiting")
        return 0

    import psycopg2

    store = core_settings.Store(lambda: psycopg2.connect(
        host=db["host"], port=int(db["port"]), user=db["username"], password=db["password"],
        dbname=db["database"], sslmode=db["sslmode"], connect_timeout=10),
        core_settings.load_meta())
    store.init_schema()
    try:
        CoreHandler.read_only_for_all = store.overwrite_from_env(
            os.environ.get("CONFIG_OVERWRITE_JSON"))
    except core_settings.Fatal as exc:
        log(TAG, f"FATAL {exc}")
        return 1
    if CoreHandler.read_only_for_all:
        log(TAG, "CONFIG_OVERWRITE_JSON applied; every setting is read-only in the API")
    log(TAG, store.init_admin_password(cfg["admin_password"]))
    log(TAG, f"auth mode {store.config()['auth_mode']}")
    CoreHandler.store = store

    CoreHandler.cfg = cfg
    cert, key = cfg["tls"] or (None, None)
    server = make_server(TAG, cfg["port"], CoreHandler, cert, key)
    log(TAG, f"listening on :{cfg['port']} ({'https' if cert else 'http'}); "
             f"instance {uuid.uuid4().hex[:8]}")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except SystemExit:
        raise
    except Exception as exc:  # noqa: BLE001 - anything unexpected is loud
        log(TAG, f"FATAL: unexpected {type(exc).__name__}: {exc}")
        sys.exit(EXIT_CONTRACT)
