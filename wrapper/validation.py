"""Rules that span several settings, and checks of the files settings point at.

Each message starts with the variable it is about and says what is accepted.
Also fills settings.input_files with the content of every file a setting names.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
from urllib.parse import urlsplit

from . import certificates, schema
from .internal_tls import REQUIRED_FILES as INTERNAL_TLS_FILES
from .quoting import shown_value

_LABEL = r"[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9])?"
_HOSTNAME = re.compile(rf"(?=.{{1,253}}\Z){_LABEL}(?:\.{_LABEL})*\.?", re.ASCII)
_HOURS = re.compile(r"^(\d+)h$")
_PLACEHOLDERS = {"/your/certificate/path", "/your/private/key/path"}
_SIZE = re.compile(r"\d{1,12}[kMG]?", re.ASCII)
_DURATION = re.compile(r"[-+]?(?:0|(?:(?:\d+(?:\.\d*)?|\.\d+)(?:ns|us|\u00b5s|\u03bcs|ms|s|m|h))+)",
                       re.ASCII)
_URLPATH = re.compile(r"/[A-Za-z0-9._~/-]*", re.ASCII)
_LIST_ITEM = re.compile(r"[!-+\--~]+", re.ASCII)  # printable ASCII without space and comma
MAX_TEXT = 16 * 1024


def env(key: str) -> str:
    return schema.BY_KEY[key].env_name


def is_ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
        return True
    except ValueError:
        return False


def host_problem(host: str) -> str | None:
    """None for a DNS name or an IP address; else what is wrong, for the message."""
    if is_ip(host):
        return None
    if not host.isascii():
        return "is not ASCII; accepted: a DNS name in ASCII (punycode, xn--...) or an IP address"
    if not _HOSTNAME.fullmatch(host):
        return "is not a host name; accepted: a DNS name or IP address without scheme, port or path"
    return None


def is_local(host: str) -> bool:
    """What every container resolves to itself (Harbor refuses 127.0.0.1 and localhost): in
    any spelling, and the unspecified addresses. Other 127.x addresses are left alone: a
    host with one of them as its own name (a test machine) is a choice, not a slip."""
    name = host.lower().rstrip(".")
    if name in ("localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"):
        return True
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    if address.version == 6 and address.ipv4_mapped:
        address = address.ipv4_mapped
    return address in (ipaddress.ip_address("127.0.0.1"), ipaddress.ip_address("::1")) or (
        address.is_unspecified)


def url_problem(url: str, schemes=("http", "https"), userinfo=False, path=True) -> str | None:
    """None for an absolute URL Harbor can use; else what is wrong."""
    from urllib.parse import urlsplit

    if any(c.isspace() for c in url) or not url.isprintable():
        return "contains a space or a control character"
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return ("is not a URL (a malformed [IPv6] host, or a port that is not a number "
                "from 1 to 65535)")
    if parts.scheme not in schemes:
        return f"has the scheme {parts.scheme or 'none'!r}, not " + " or ".join(schemes)
    host = parts.hostname
    if not host:
        return "has no host"
    if ":" in host and f"[{host}]" not in parts.netloc.lower():
        return "has an IPv6 address without brackets, e.g. https://[2001:db8::1]:8443"
    problem = host_problem(host)
    if problem:
        return "has a host that " + problem.split(";")[0]
    if port == 0:
        return "has port 0"
    if (parts.username is not None or parts.password is not None) and not userinfo:
        return "contains user:password@, which would be shown to every client"
    if parts.query or parts.fragment or url.endswith(("?", "#")):
        return "has a query or fragment"
    if not path and parts.path not in ("", "/"):
        return f"has the path {parts.path!r}"
    return None


def output_folder_problem(out: str) -> str | None:
    """The output folder's path lands in env files and nginx.conf (quoted there)."""
    if not out:
        return "is empty; accepted: the path of the output folder, e.g. /harbor-setup"
    try:
        os.path.abspath(out).encode("utf-8")
    except UnicodeEncodeError:
        return "contains bytes that are not UTF-8; accepted: a UTF-8 path"
    path = os.path.abspath(out)
    if not path.isprintable() or any(c in path for c in '"\\$'):
        return (f"{_shown(path)} holds a quote, backslash, $ or control character, which "
                "nginx.conf cannot hold; accepted: a path without them (spaces are fine)")
    return None


def _check_kind(setting, value, err) -> None:
    """The grammar of one value: everything that lands in a file is checked here first."""
    name, kind = setting.env_name, setting.kind
    if value is None:
        return
    if isinstance(value, str):
        shown = "" if setting.secret else f" {_shown(value)}"
        if "\n" in value or "\r" in value or "\0" in value:
            err(f"{name}: contains a line break or NUL; accepted: a single line")
            return
        if len(value) > MAX_TEXT:
            err(f"{name}: is {len(value)} characters long; accepted: at most {MAX_TEXT}")
            return
        problem = None
        if not value:
            return  # empty: the rules below say where a value is required
        if kind == schema.HOST:
            problem = host_problem(value)
        elif kind == schema.URL:
            problem = url_problem(value)
            problem = problem and f"{problem}; accepted: {setting.accepted}"
        elif kind == schema.SIZE and not _SIZE.fullmatch(value):
            problem = f"is not accepted; accepted: {setting.accepted}"
        elif kind == schema.DURATION and not _DURATION.fullmatch(value):
            problem = f"is not accepted; accepted: {setting.accepted}"
        elif kind == schema.URLPATH and not _URLPATH.fullmatch(value):
            problem = f"is not accepted; accepted: {setting.accepted}"
        if problem:
            err(f"{name}: the value{shown} {problem}")
    elif kind in (schema.INT, schema.FLOAT) and not isinstance(value, bool):
        low, high = setting.bounds
        if not ((low is None or value >= low) and (high is None or value <= high)):
            noun = "a whole number" if kind == schema.INT else "a number"
            accepted = f"{noun} from {schema._num(low)} to {schema._num(high)}"
            err(f"{name}: the value {_shown(str(value))} is out of range; accepted: {accepted}")
    elif kind == schema.LIST:
        for item in value:
            if not _LIST_ITEM.fullmatch(item):
                shown = "an item" if setting.secret else f"the item {_shown(item)}"
                err(f"{name}: {shown} contains a space, a line break or a character other than "
                    f"printable ASCII; accepted: {setting.accepted}")
                break


def _shown(value: str) -> str:
    return shown_value(value)


def check(s) -> list[str]:
    errors: list[str] = []
    err = errors.append
    v = s.values

    for setting in schema.SETTINGS:
        if setting.key not in s.invalid:
            _check_kind(setting, v[setting.key], err)
    # cross-setting rules below see only values of the right kind
    bad = {st.key for st in schema.SETTINGS if any(e.startswith(st.env_name + ":") for e in errors)}
    s.invalid |= bad
    for key in bad:
        v[key] = schema.BY_KEY[key].default
    later: list[str] = []
    _check_rules(s, later.append)
    reported = {schema.BY_KEY[k].env_name for k in s.invalid}
    errors += [e for e in later if e.split(":", 1)[0].split(" ", 1)[0] not in reported]
    return errors


def _check_rules(s, err) -> None:
    v = s.values
    host = v["hostname"]
    if not host:
        if "hostname" not in s.invalid:
            err(f"{env('hostname')}: not set; accepted: the host name or IP address clients use, "
                "e.g. harbor.example.com")
    elif host == "reg.mydomain.com" or is_local(host):
        err(f"{env('hostname')}: {_shown(host)} cannot be reached by other hosts and containers; "
            "accepted: a real host name or IP address")

    if v["external_url"]:
        problem = url_problem(v["external_url"], path=False)
        if problem:
            err(f"{env('external_url')}: the value {_shown(v['external_url'])} {problem}; "
                "accepted: http(s)://host[:port] with no path, query or user")

    if v["harbor_admin_password"] == "":
        err(f"{env('harbor_admin_password')}: is empty; accepted: a password of at least one "
            "character (core's first start sets it)")
    if v["database.password"] == "":
        err(f"{env('database.password')}: is empty; accepted: a password, or unset to have a "
            "random one made once")

    if s.https and v["http.port"] == v["https.port"]:
        err(f"{env('https.port')}: equals HARBOR_HTTP_PORT ({v['http.port']}); accepted: "
            "two different ports")
    if s.https and not (v["ip_family.ipv4.enabled"] or v["ip_family.ipv6.enabled"]):
        err(f"{env('ip_family.ipv4.enabled')}: IPv4 and IPv6 are both off, nginx would not "
            "listen; accepted: at least one of them true")

    resolver = v["nginx_resolver"]
    if resolver and not re.fullmatch(r"[A-Za-z0-9_.-]+(:\d{1,5})?|\[[0-9A-Fa-f:]+\](:\d{1,5})?",
                                     resolver, re.ASCII):
        err(f"{env('nginx_resolver')}: {_shown(resolver)} is not accepted; accepted: a DNS server "
            "address such as 127.0.0.11 or 10.0.0.2:53")

    _check_length(err, v, "secret_key", 16)
    _check_length(err, v, "csrf_key", 32)
    for key in ("core_secret", "jobservice_secret", "registry_http_secret"):
        if v[key] is not None and not re.fullmatch(r"[!-~]{8,}", v[key]):
            err(f"{env(key)}: accepted: 8 or more printable characters without spaces")

    _check_files(s, err)
    _check_https(s, err)
    certificates.check_window(s, err)
    _check_acme(s, err)
    _check_blocks(s, err)
    _check_user_settings(s, err)


def _check_user_settings(s, err):
    """What core's config API would refuse in CONFIG_OVERWRITE_JSON (core then does not start)."""
    v = s.values
    for setting in schema.USER_SETTINGS:
        if setting.nonempty and v[setting.key] is not None and not v[setting.key].strip():
            err(f"{setting.env_name}: is empty; accepted: {setting.doc.split(', e.g.')[0]} "
                "(core refuses an empty one), or unset")
    parms = v["oidc_extra_redirect_parms"]
    if parms is not None and (not isinstance(parms, dict) or not all(
            isinstance(x, str) for x in parms.values())):
        err(f"{env('oidc_extra_redirect_parms')}: accepted: a JSON object of strings, e.g. "
            '{"prompt": "login"}')
    if v["ldap_group_search_filter"] and not v["ldap_group_attribute_name"]:
        err(f"{env('ldap_group_attribute_name')}: not set while HARBOR_LDAP_GROUP_SEARCH_FILTER "
            "is; accepted: the attribute naming a group, e.g. cn (core refuses a group filter "
            "without it)")
    if v["ldap_group_membership_attribute"] == "" and v["ldap_group_search_filter"]:
        err(f"{env('ldap_group_membership_attribute')}: is empty while "
            "HARBOR_LDAP_GROUP_SEARCH_FILTER is set; accepted: e.g. memberof, or unset")
    if v["skip_audit_log_database"] and not v["audit_log_forward_endpoint"]:
        err(f"{env('skip_audit_log_database')}: true without HARBOR_AUDIT_LOG_FORWARD_ENDPOINT; "
            "accepted: false, or an endpoint set too (core refuses to drop audit logs "
            "without forwarding them)")


def _check_acme(s, err):
    if not s.on("acme"):
        return
    v = s.values
    # with HARBOR_PROTOCOL http (Swarm: behind Traefik, whose resolver uses these variables)
    # the wrapper does no ACME and serves no challenge
    if s.https and v["https.certificate"]:
        err(f"{env('https.certificate')}: set together with HARBOR_ACME_* variables; accepted: "
            "one way to the server certificate, your own files or ACME")
    email = v["acme.email"]
    if email is not None and not re.fullmatch(r"[^@\s:,<>]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+",
                                              email, re.ASCII):
        err(f"{env('acme.email')}: {_shown(email)} is not accepted; accepted: one e-mail "
            "address such as admin@example.com")
    if s.https and v["acme.ca_file"] and not os.access(v["acme.ca_file"], os.R_OK):
        err(f"{env('acme.ca_file')}: {_shown(v['acme.ca_file'])} cannot be read; accepted: "
            "the path of a readable PEM file")
    problem = url_problem(v["acme.directory"], schemes=("https",))
    if problem:
        err(f"{env('acme.directory')}: the value {_shown(v['acme.directory'])} {problem}; "
            "accepted: the https:// URL of an ACME directory")


def _redis_host(item: str) -> bool:
    host, _, port = item.rpartition(":")
    if not port.isdigit() or not 1 <= int(port) <= 65535:
        return False
    if host.startswith("[") and host.endswith("]"):
        return is_ip(host[1:-1])
    return bool(host) and host_problem(host) is None


def _check_length(err, v, key, length):
    value = v[key]
    if value is not None and len(value.encode()) != length:
        err(f"{env(key)}: has {len(value.encode())} bytes; accepted: exactly {length} characters "
            "(ASCII)")


def _read(s, err, key) -> bytes | None:
    from .input_files import UnreadableFile, read_regular_file

    path = s.values[key]
    if not path:
        return None
    if path in _PLACEHOLDERS:
        err(f"{env(key)}: {path!r} is harbor.yml's placeholder; accepted: the path of a real file")
        return None
    try:
        data = read_regular_file(path)
    except UnreadableFile as exc:
        err(f"{env(key)}: cannot read {_shown(path)} ({exc}); accepted: the path of a "
            "readable file inside the wrapper container")
        return None
    s.input_files[key] = data
    return data


def _check_certificates(err, key, data: bytes | None):
    if data is None:
        return
    from . import pki

    try:
        if not pki.load_certs(data):
            raise ValueError
    except ValueError:
        err(f"{env(key)}: is not a PEM certificate; accepted: one or more "
            "'-----BEGIN CERTIFICATE-----' blocks")


def _check_files(s, err):
    for key in ("storage_service.ca_bundle", "external_redis.tlsOptions.rootCA", "uaa.ca_file"):
        _check_certificates(err, key, _read(s, err, key))
    _check_trusted_cas(s, err)
    if s.storage_provider == "gcs":
        data = _read(s, err, "storage_service.gcs.keyfile")
        if data is not None:
            try:
                json.loads(data)
            except ValueError:
                err(f"{env('storage_service.gcs.keyfile')}: is not JSON; accepted: a GCS "
                    "service account key file")
    if s.on("internal_tls") and s.values["internal_tls.dir"]:
        _check_internal_tls_dir(s, err)


def _check_trusted_cas(s, err):
    """Each file of the trust bundle: readable, PEM, and every certificate in it a CA."""
    if not s.values["trusted_ca_files"]:
        return  # and cryptography stays unloaded: a re-render may not need it at all
    from cryptography import x509

    from .components.shared import trusted_ca_key
    from .input_files import UnreadableFile, read_regular_file

    name = env("trusted_ca_files")
    accepted = ("accepted: PEM files of CA certificates (basic constraints CA:TRUE), "
                "comma-separated")
    for index, path in enumerate(s.values["trusted_ca_files"] or []):
        try:
            data = read_regular_file(path)
        except UnreadableFile as exc:
            err(f"{name}: cannot read {shown_value(path, 240)} ({exc}); {accepted}")
            continue
        try:
            certs = x509.load_pem_x509_certificates(data)
        except ValueError:
            certs = []
        if not certs:
            err(f"{name}: {shown_value(path, 240)} holds no PEM certificate; {accepted}")
            continue
        for cert in certs:
            try:
                is_ca = cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
            except x509.ExtensionNotFound:
                is_ca = False
            if not is_ca:
                err(f"{name}: {shown_value(path, 240)} holds a certificate that is not a CA "
                    f"({cert.subject.rfc4514_string()}); {accepted}")
                break
        else:
            s.input_files[trusted_ca_key(index)] = data


def _check_https(s, err):
    cert_key, key_key = "https.certificate", "https.private_key"
    given = [k for k in (cert_key, key_key) if s.values[k]]
    if len(given) == 1:
        missing = key_key if given == [cert_key] else cert_key
        err(f"{env(missing)}: not set while {env(given[0])} is; accepted: both or neither "
            "(neither: the wrapper makes its own certificate)")
        return
    if not given or not s.https:
        return
    from . import pki

    cert, key = _read(s, err, cert_key), _read(s, err, key_key)
    if cert is None or key is None:
        return
    try:
        pki.load_certs(cert)
    except ValueError:
        err(f"{env(cert_key)}: is not a PEM certificate; accepted: a PEM certificate chain, "
            "server certificate first")
        return
    try:
        pki.load_key(key)
    except (ValueError, TypeError):
        err(f"{env(key_key)}: is not an unencrypted PEM private key; accepted: a PEM key "
            "without passphrase")
        return
    if not pki.key_matches(cert, key):
        err(f"{env(key_key)}: does not match the certificate in {env(cert_key)}; accepted: the "
            "private key of that certificate")
    certificates.check_supplied(cert, env(cert_key), err)


def _check_internal_tls_dir(s, err):
    from . import pki
    from .input_files import UnreadableFile, read_regular_file

    folder = s.values["internal_tls.dir"]
    needed = INTERNAL_TLS_FILES(with_trivy=s.values["with_trivy"],
                                internal_db=not s.on("external_database"))
    for name in needed:
        path = os.path.join(folder, name)
        try:
            data = read_regular_file(path)
        except UnreadableFile as exc:
            err(f"{env('internal_tls.dir')}: cannot read {name} in {_shown(folder)} ({exc}); "
                "accepted: a folder made by `prepare gencert`, or unset to let the wrapper make it")
            continue
        s.input_files[f"internal_tls.dir/{name}"] = data
        try:
            if name.endswith(".crt"):
                certs = pki.load_certs(data)
                certificates.check_supplied(data, env("internal_tls.dir"), err, label=name)
                if name != "harbor_internal_ca.crt" and not pki.sans_of(certs[0]):
                    err(f"{env('internal_tls.dir')}: {name} has no subjectAltName; accepted: "
                        "certificates with the component's name as SAN")
            else:
                pki.load_key(data)
        except (ValueError, TypeError):
            err(f"{env('internal_tls.dir')}: {name} is not valid PEM")


def _check_blocks(s, err):
    v = s.values
    if s.on("log.external_endpoint"):
        for key in ("log.external_endpoint.host", "log.external_endpoint.port"):
            if not v[key]:
                err(f"{env(key)}: not set; accepted: required once any "
                    "HARBOR_LOG_EXTERNAL_ENDPOINT_* is set")
    if s.on("external_database") and not v["external_database.harbor.host"]:
        err(f"{env('external_database.harbor.host')}: not set; accepted: the host of the external "
            "PostgreSQL, required once any HARBOR_EXTERNAL_DATABASE_* is set")

    if "external_redis" in s.blocks:
        internal = [st.env_name for st in schema.SETTINGS
                    if st.key.startswith("redis.") and s.sources[st.key] != "default"]
        if internal:
            err(f"{internal[0]}: an internal Redis setting is set together with "
                "HARBOR_EXTERNAL_REDIS_*; accepted: HARBOR_EXTERNAL_REDIS_*_DB_INDEX for an "
                "external Redis")
        if v["external_redis.username"] and not v["external_redis.password"]:
            err(f"{env('external_redis.password')}: not set while HARBOR_EXTERNAL_REDIS_USERNAME "
                "is; accepted: a password for that user")
        hosts = v["external_redis.host"].split(",")
        if not all(_redis_host(h.strip()) for h in hosts):
            err(f"{env('external_redis.host')}: {_shown(v['external_redis.host'])} is not "
                "accepted; accepted: host:port, or host:port,host:port for sentinels")
        for key in ("external_redis.sentinel_master_set", "external_redis.username"):
            if v[key] and not re.fullmatch(r"[A-Za-z0-9_.~-]+", v[key], re.ASCII):
                err(f"{env(key)}: {_shown(v[key])} is not accepted; accepted: letters, digits "
                    "and . _ ~ - (it is written into Redis URLs)")

    providers = [p for p in schema.STORAGE_PROVIDERS if f"storage_service.{p}" in s.blocks]
    if len(providers) > 1:
        err(f"HARBOR_STORAGE_SERVICE_{providers[1].upper()}_*: set together with "
            f"HARBOR_STORAGE_SERVICE_{providers[0].upper()}_*; accepted: one storage provider")
    required = {"s3": ("bucket", "region"), "gcs": ("bucket",),
                "azure": ("accountname", "accountkey", "container"),
                "swift": ("authurl", "username", "password", "container"),
                "oss": ("accesskeyid", "accesskeysecret", "region", "bucket")}
    for provider in providers[:1]:
        for name in required.get(provider, ()):
            key = f"storage_service.{provider}.{name}"
            if v[key] in (None, ""):
                err(f"{env(key)}: not set; accepted: required for the {provider} storage provider")

    if v["upload_purging.enabled"]:
        for key in ("upload_purging.age", "upload_purging.interval"):
            match = _HOURS.match(str(v[key]))
            if not match or int(match.group(1)) < 2:
                err(f"{env(key)}: {_shown(str(v[key]))} is not accepted; accepted: <n>h with n >= 2, "
                    "e.g. 168h")
    if v["cache.enabled"] and v["cache.expire_hours"] <= 0:
        err(f"{env('cache.expire_hours')}: accepted: a whole number of hours above 0")
    if v["jobservice.max_job_workers"] < 1:
        err(f"{env('jobservice.max_job_workers')}: accepted: a whole number of at least 1")
    if v["jobservice.logger_sweeper_duration"] < 0:
        err(f"{env('jobservice.logger_sweeper_duration')}: accepted: a number of days, 0 or more")
    if v["jobservice.max_job_duration_hours"] < 24:
        s.warnings.append(f"{env('jobservice.max_job_duration_hours')}: "
                          f"{v['jobservice.max_job_duration_hours']} is raised to 24, as Harbor does")
    if not v["jobservice.job_loggers"]:
        err(f"{env('jobservice.job_loggers')}: empty; accepted: a comma-separated list of "
            "STD_OUTPUT, FILE, DB")
    if s.on("metric") and not str(v["metric.path"]).startswith("/"):
        err(f"{env('metric.path')}: accepted: a path starting with /")
    for key in ("proxy.http_proxy", "proxy.https_proxy"):
        problem = v[key] and url_problem(v[key], ("http", "https", "socks5"), userinfo=True)
        if problem:
            err(f"{env(key)}: {problem}; accepted: a proxy URL such as "
                "http://proxy.example.com:3128")
    if s.on("trace"):
        _check_trace(s, err)
    if not isinstance(v["trace.attributes"], dict) or not all(
            isinstance(x, str) for pair in v["trace.attributes"].items() for x in pair):
        err(f"{env('trace.attributes')}: accepted: a JSON object of strings, e.g. "
            '{"application": "harbor"}')


def _explicit(s, prefix: str) -> bool:
    return any(s.sources[k] != "default" for k in s.values if k.startswith(prefix))


def _check_trace(s, err):
    v = s.values
    jaeger, otel = _explicit(s, "trace.jaeger."), _explicit(s, "trace.otel.")
    if jaeger == otel:
        err("HARBOR_TRACE_JAEGER_* / HARBOR_TRACE_OTEL_*: "
            + ("both are set" if jaeger else "neither is set")
            + "; accepted: exactly one trace exporter when tracing is on")
    if jaeger and bool(v["trace.jaeger.endpoint"]) == bool(v["trace.jaeger.agent_host"]):
        err(f"{env('trace.jaeger.endpoint')}: accepted: exactly one of "
            "HARBOR_TRACE_JAEGER_ENDPOINT and HARBOR_TRACE_JAEGER_AGENT_HOST")
    if otel:
        for key in ("trace.otel.endpoint", "trace.otel.url_path"):
            if not v[key]:
                err(f"{env(key)}: not set; accepted: required for the OTLP exporter")
