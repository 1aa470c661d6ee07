"""Shared helpers of the Harbor CONTRACT DOUBLES (test-only, not Harbor code).

The doubles stand in for harbor_core, harbor_jobservice and harbor_registryctl in
the e2e stand-in images. They check the configuration contract the real binaries
rely on and fail loudly (message + non-zero exit) when it is broken.

Python 3 standard library plus Debian's python3-redis only.
"""

from __future__ import annotations

import http.server
import os
import signal
import socket
import ssl
import sys
import time
from urllib.parse import parse_qs, unquote

EXIT_CONTRACT = 2  # configuration contract broken
EXIT_DEPENDENCY = 3  # a dependency (database, redis, ...) never answered

GO_TRUE = {"1", "t", "T", "TRUE", "true", "True"}
GO_FALSE = {"0", "f", "F", "FALSE", "false", "False"}



def read_config(p: Problems, path: str) -> dict:
    """The -c YAML of jobservice and registryctl: a readable mapping, or exit with why."""
    import yaml

    try:
        with open(path, encoding="utf-8") as fh:
            doc = yaml.safe_load(fh)
    except OSError as exc:
        p.add(f"config {path} is not readable by uid {os.getuid()}: {exc.strerror}")
        p.exit_if_any()
    except yaml.YAMLError as exc:
        p.add(f"config {path} is not valid YAML: {exc}")
        p.exit_if_any()
    if not isinstance(doc, dict):
        p.add(f"config {path} is not a YAML mapping")
        p.exit_if_any()
    return doc


def read_listener(p: Problems, doc: dict, env, protocol_var: str, port_var: str,
                  cert_var: str, key_var: str) -> dict:
    """protocol, port and https_config as jobservice and registryctl read them, each with
    the environment variable that overrides it. Returns {"port": ..., "tls": (cert, key)|None}."""
    protocol = env.get(protocol_var) or doc.get("protocol")
    if protocol not in ("http", "https"):
        p.add(f"protocol must be 'http' or 'https', got {protocol!r}")
    port = doc.get("port")
    if env.get(port_var):
        port = int(env[port_var]) if env[port_var].isdigit() else env[port_var]
    if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
        p.add(f"port must be a TCP port number, got {port!r}")
    cfg = {"port": port, "tls": None}
    if protocol == "https":
        https = doc.get("https_config") or {}
        cert = env.get(cert_var) or https.get("cert")
        key = env.get(key_var) or https.get("key")
        for n, f in (("https_config.cert", cert), ("https_config.key", key)):
            if not f:
                p.add(f"protocol is https but {n} is missing")
            elif not os.access(f, os.R_OK):
                p.add(f"{n} {f} is not readable by uid {os.getuid()}")
        cfg["tls"] = (cert, key)
    return cfg

def log(tag: str, msg: str) -> None:
    """Print msg with the double's tag on every line."""
    for line in str(msg).splitlines() or [""]:
        print(f"[{tag}] {line}", flush=True)


class Problems:
    """Collects contract violations, then reports them all at once."""

    def __init__(self, tag: str):
        self.tag = tag
        self.items: list[str] = []

    def add(self, msg: str) -> None:
        self.items.append(msg)

    def require_env(self, name: str, env=os.environ) -> str:
        value = env.get(name)
        if value is None:
            self.add(f"env {name} is not set")
            return ""
        if value == "":
            self.add(f"env {name} is empty")
        return value

    def exit_if_any(self, what: str = "configuration contract broken") -> None:
        if not self.items:
            return
        log(self.tag, f"FATAL: {what} ({len(self.items)} problem(s)):")
        for item in self.items:
            log(self.tag, f"FATAL:   - {item}")
        sys.stdout.flush()
        sys.exit(EXIT_CONTRACT)


def exit_on_sigterm(tag: str) -> None:
    """Stop at once on SIGTERM/SIGINT, as the Go binaries do (even as PID 1)."""

    def handler(signum, _frame):
        log(tag, f"received {signal.Signals(signum).name}, exiting")
        sys.stdout.flush()
        os._exit(0)

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


def fatal(tag: str, msg: str, code: int = EXIT_CONTRACT) -> None:
    log(tag, f"FATAL: {msg}")
    sys.exit(code)


def go_parse_bool(value: str) -> bool | None:
    """strconv.ParseBool: returns None when Go would reject the value."""
    if value in GO_TRUE:
        return True
    if value in GO_FALSE:
        return False
    return None


# ---------------------------------------------------------------- redis URLs


class RedisURLError(ValueError):
    pass


def parse_redis_url(url: str) -> dict:
    """Parse a Harbor redis URL.

    Forms: redis://[user[:password]@]host:port[/db][?idle_timeout_seconds=N]
           redis+sentinel://[user[:password]@]h1:p1,h2:p2/master[/db][?...]
           rediss://..., rediss+sentinel://... (TLS)
    The password is percent-encoded (Harbor quotes it with safe='').
    """
    if "://" not in url:
        raise RedisURLError("no scheme (expected redis://, rediss://, redis+sentinel://, rediss+sentinel://)")
    scheme, rest = url.split("://", 1)
    if scheme not in ("redis", "rediss", "redis+sentinel", "rediss+sentinel"):
        raise RedisURLError(f"unsupported scheme {scheme!r}")
    query = ""
    if "?" in rest:
        rest, query = rest.split("?", 1)
    if "/" in rest:
        netloc, path = rest.split("/", 1)
    else:
        netloc, path = rest, ""
    username = password = None
    if "@" in netloc:
        userinfo, netloc = netloc.rsplit("@", 1)
        if ":" in userinfo:
            username, password = userinfo.split(":", 1)
            password = unquote(password)
        else:
            username = userinfo
        username = unquote(username) or None
    hosts = []
    for hp in netloc.split(","):
        if not hp:
            raise RedisURLError("empty host")
        host, sep, port = hp.rpartition(":")
        if not sep:
            host, port = hp, "6379"
        if not host:
            raise RedisURLError(f"empty host in {hp!r}")
        if not port.isdigit() or not 0 < int(port) < 65536:
            raise RedisURLError(f"bad port in {hp!r}")
        hosts.append((host, int(port)))
    sentinel = scheme.endswith("+sentinel")
    parts = [p for p in path.split("/") if p != ""]
    master = None
    if sentinel:
        if not parts:
            raise RedisURLError("sentinel URL without a master set name")
        master = parts.pop(0)
    elif len(hosts) > 1:
        raise RedisURLError("several hosts but the scheme is not +sentinel")
    db = 0
    if parts:
        if len(parts) > 1 or not parts[0].isdigit():
            raise RedisURLError(f"bad database path {path!r}")
        db = int(parts[0])
    params = parse_qs(query, keep_blank_values=True)
    idle = None
    if "idle_timeout_seconds" in params:
        raw = params["idle_timeout_seconds"][-1]
        if not raw.isdigit():
            raise RedisURLError(f"idle_timeout_seconds={raw!r} is not a whole number")
        idle = int(raw)
    return {
        "scheme": scheme,
        "tls": scheme.startswith("rediss"),
        "sentinel": sentinel,
        "master": master,
        "hosts": hosts,
        "username": username,
        "password": password,
        "db": db,
        "idle_timeout_seconds": idle,
        "params": sorted(params),
    }


def redacted_redis(info: dict) -> str:
    auth = ""
    if info["username"] or info["password"]:
        auth = f"{info['username'] or ''}:{'***' if info['password'] else ''}@"
    hosts = ",".join(f"{h}:{p}" for h, p in info["hosts"])
    master = f"/{info['master']}" if info["master"] else ""
    return f"{info['scheme']}://{auth}{hosts}{master}/{info['db']}"


def redis_client(info: dict, timeout: float = 5.0):
    import redis  # Debian python3-redis

    common = dict(
        username=info["username"],
        password=info["password"],
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
    )
    if info["tls"]:
        common["ssl"] = True
    if info["sentinel"]:
        from redis.sentinel import Sentinel

        sentinel = Sentinel(info["hosts"], sentinel_kwargs={"socket_timeout": timeout}, **common)
        return sentinel.master_for(info["master"], db=info["db"])
    host, port = info["hosts"][0]
    return redis.Redis(host=host, port=port, db=info["db"], **common)


def one_line(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {' '.join(str(exc).split())}"


def wait_for(tag: str, what: str, attempt, deadline: float, interval: float = 2.0):
    """Call attempt() until it returns without raising or the deadline passes."""
    last = None
    tries = 0
    while True:
        tries += 1
        try:
            result = attempt()
            log(tag, f"{what}: OK after {tries} attempt(s)")
            return result
        except Exception as exc:  # noqa: BLE001 - report any failure
            last = exc
            if tries == 1 or tries % 5 == 0:
                log(tag, f"{what}: not ready yet ({one_line(exc)}); retrying")
        if time.monotonic() >= deadline:
            fatal(tag, f"{what}: gave up after {tries} attempt(s): {one_line(last)}",
                  EXIT_DEPENDENCY)
        time.sleep(interval)


# ------------------------------------------------------------------ serving


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def server_bind(self):
        # Listen on IPv4 and IPv6 when the kernel allows it (Go binds [::]).
        if self.address_family == socket.AF_INET6:
            try:
                self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
            except OSError:
                pass
        super().server_bind()


def make_server(tag: str, port: int, handler, tls_cert: str | None = None,
                tls_key: str | None = None) -> Server:
    try:
        Server.address_family = socket.AF_INET6 if socket.has_ipv6 else socket.AF_INET
        server = Server(("::" if socket.has_ipv6 else "0.0.0.0", port), handler)
    except OSError:
        Server.address_family = socket.AF_INET
        server = Server(("0.0.0.0", port), handler)
    if tls_cert:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        try:
            ctx.load_cert_chain(tls_cert, tls_key)
        except (OSError, ssl.SSLError) as exc:
            fatal(tag, f"cannot load TLS certificate {tls_cert} / key {tls_key}: {exc}")
        server.socket = ctx.wrap_socket(server.socket, server_side=True)
    return server


class QuietHandler(http.server.BaseHTTPRequestHandler):
    """One log line per request, tagged, without query strings or headers."""

    TAG = "double"
    protocol_version = "HTTP/1.1"
    server_version = "harbor-test-double"
    sys_version = ""

    def log_request(self, code="-", size="-"):
        path = self.path.split("?", 1)[0] if isinstance(self.path, str) else "-"
        log(self.TAG, f'{self.client_address[0]} "{self.command} {path}" {code} {size}')

    def log_message(self, fmt, *args):  # errors from the base class
        log(self.TAG, f"{self.client_address[0]} {fmt % args}")

    def send_body(self, code: int, body: bytes | str, ctype: str = "text/plain; charset=utf-8",
                  extra: dict | None = None):
        if isinstance(body, str):
            body = body.encode()
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def discard_body(self):
        """Read and drop a request body so the connection stays usable."""
        te = self.headers.get("Transfer-Encoding", "")
        if "chunked" in te.lower():
            for _ in iter_chunked(self.rfile):
                pass
            return
        n = int(self.headers.get("Content-Length") or 0)
        while n > 0:
            data = self.rfile.read(min(n, 1 << 20))
            if not data:
                break
            n -= len(data)


def iter_chunked(rfile):
    """Yield the data of an HTTP/1.1 chunked body read from rfile."""
    while True:
        line = rfile.readline(65537)
        if not line:
            raise ConnectionError("client closed the connection inside a chunked body")
        size = int(line.split(b";", 1)[0].strip() or b"0", 16)
        if size == 0:
            # trailers until an empty line
            while True:
                t = rfile.readline(65537)
                if t in (b"\r\n", b"\n", b""):
                    return
        remaining = size
        while remaining:
            data = rfile.read(min(remaining, 1 << 20))
            if not data:
                raise ConnectionError("client closed the connection inside a chunk")
            remaining -= len(data)
            yield data
        rfile.readline(3)  # CRLF after the chunk
