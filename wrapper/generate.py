"""generate: settings in, keys made once, files rendered, one new generation published."""

from __future__ import annotations

# Imports stay light here: a rerun with unchanged input runs unchanged() only (the bench
# holds it to 45 ms as a process), so everything else is imported where it is used.
import json
import os
import sys
import time

from . import HARBOR_VERSION, __version__, tree
from .store import Store

try:  # CPython's own SHA-256: hashing a few KB needs no OpenSSL library loaded
    from _sha256 import sha256
except ImportError:  # pragma: no cover - Python 3.12 renamed it
    try:
        from _sha2 import sha256
    except ImportError:
        from hashlib import sha256

STORE = tree.STORE


class Steps:
    """One concise line per step on stderr, with its duration."""

    def __init__(self, stream=sys.stderr):
        self.stream = stream
        self.started = time.perf_counter()
        self.last = self.started

    def done(self, step: str, detail: str = "") -> None:
        now = time.perf_counter()
        ms = (now - self.last) * 1000
        self.last = now
        print(f"harbor-setupwrapper: {step:<9} {ms:7.1f} ms  {detail}".rstrip(), file=self.stream)

    def warn(self, message: str) -> None:
        print(f"harbor-setupwrapper: warning: {message}", file=self.stream)


_HERE = os.path.dirname(os.path.abspath(__file__))
_TEMPLATES = os.path.join(_HERE, "templates")


def shim_sources() -> str | None:
    for candidate in (os.path.join(sys.prefix, "share", "harbor-setupwrapper", "entrypoints"),
                      os.path.join(os.path.dirname(_HERE), "entrypoints")):
        if os.path.isdir(candidate):
            return candidate
    return None


def _shim_paths() -> list[str]:
    source = shim_sources()
    if source is None:
        return []
    return [os.path.join(source, n) for n in sorted(os.listdir(source))
            if n.endswith(".sh") and os.path.isfile(os.path.join(source, n))]


def shim_files() -> list:
    from .files import File

    result = []
    for path in _shim_paths():
        with open(path, "rb") as handle:
            result.append(File(f"entrypoints/{os.path.basename(path)}", handle.read(),
                               0o755, 0, 0))
    return result


def hmac_sha256(key: bytes, message: bytes) -> str:
    """HMAC-SHA256 (RFC 2104) as hmac.new(key, message, "sha256").hexdigest(), without
    importing hmac and hashlib on the fast path."""
    if len(key) > 64:
        key = sha256(key).digest()
    key = key.ljust(64, b"\0")
    inner = sha256(bytes(b ^ 0x36 for b in key) + message).digest()
    return sha256(bytes(b ^ 0x5C for b in key) + inner).hexdigest()


def _templates_digest() -> bytes:
    digest = sha256()
    for name in sorted(os.listdir(_TEMPLATES)):
        with open(os.path.join(_TEMPLATES, name), "rb") as handle:
            digest.update(name.encode() + b"\0" + handle.read())
    return digest.digest()


def _code_digest() -> str:
    """Templates and shims: what a new wrapper version may change besides __version__."""
    digest = sha256(_templates_digest())
    for path in _shim_paths():
        with open(path, "rb") as handle:
            digest.update(os.path.basename(path).encode() + b"\0" + handle.read())
    return digest.hexdigest()


def fingerprint(key: bytes, s, out: str, shims: list, link_fixed: bool) -> str:
    """HMAC of everything the output depends on; keyed so that it leaks no password."""
    import hashlib
    import hmac

    material = {
        "version": __version__,
        "out": out,
        "link_fixed": link_fixed,
        "values": s.values,
        "blocks": sorted(s.blocks),  # presence-switched blocks: not seen in values
        "files": {k: hashlib.sha256(v).hexdigest() for k, v in sorted(s.input_files.items())},
        "templates": _templates_digest().hex(),
        "shims": tree.content_hash(shims),
    }
    canonical = json.dumps(material, sort_keys=True, default=str).encode()
    return hmac.new(key, canonical, hashlib.sha256).hexdigest()


def _read_or_none(path: str) -> bytes | None:
    from .input_files import read_or_none  # never blocks on a FIFO, never reads /dev/zero

    return read_or_none(path)


def input_paths(variables) -> list[str] | None:
    """Every file the HARBOR_* variables name (and those harbor.yml names); None when
    HARBOR_CONFIG_FILE cannot be read (then the full path reports it)."""
    from . import schema

    names = {k: v for k, v in variables.items() if k.startswith("HARBOR_")}
    paths = [v for k, v in names.items() if k.endswith("_FILE") and k not in schema.BY_ENV]
    paths += [names[s.env_name] for s in schema.SETTINGS
              if s.kind in (schema.PATH, schema.DIR) and names.get(s.env_name)]
    trusted = schema.BY_KEY["trusted_ca_files"].env_name
    paths += [p.strip() for p in names.get(trusted, "").split(",") if p.strip()]
    if names.get("HARBOR_CONFIG_FILE"):
        import yaml

        from .settings import _flatten

        paths.append(names["HARBOR_CONFIG_FILE"])
        try:
            tree_ = yaml.safe_load(_read_or_none(names["HARBOR_CONFIG_FILE"]).decode("utf-8"))
            flat = _flatten(tree_) if isinstance(tree_, dict) else {}
        except (AttributeError, OSError, ValueError, RecursionError, yaml.YAMLError):
            return None
        paths += [str(v) for k, v in flat.items() if k in schema.BY_KEY and v
                  and schema.BY_KEY[k].kind in (schema.PATH, schema.DIR)]
    return sorted(set(paths))


def inputs_fingerprint(key: bytes, variables, out: str, link_fixed: bool,
                       paths: list[str]) -> str | None:
    """HMAC of the raw inputs: the HARBOR_* variables and every file they name (paths, as
    input_paths() found them on the full run and the marker records). Equal raw inputs give
    equal settings, so a rerun can stop here without parsing anything; None when a named
    file cannot be read (then the full path reports it)."""
    names = {k: v for k, v in variables.items() if k.startswith("HARBOR_")}
    contents = {}
    for path in paths:
        if os.path.isdir(path):
            for entry in sorted(os.listdir(path)):
                contents[f"{path}/{entry}"] = _read_or_none(os.path.join(path, entry))
        else:
            contents[path] = _read_or_none(path)
        if contents.get(path, b"") is None:
            return None
    material = {
        "version": __version__, "out": out, "link_fixed": link_fixed, "variables": names,
        "files": {k: sha256(v or b"").hexdigest() for k, v in sorted(contents.items())},
        "code": _code_digest(),
    }
    return hmac_sha256(key, json.dumps(material, sort_keys=True).encode())


# certificates.DEFAULT_WINDOW and USER_WARNING_DAYS (a test keeps them equal): not imported,
# that module imports the schema, which the fast path of a rerun does without
_DEFAULT_WINDOW_DAYS, _USER_WARNING_DAYS = 30, 7


def expiry_due(marker: dict | None, variables) -> bool:
    """Could a certificate of the generation be due for a warning or a re-issue? False only
    when the earliest expiry the marker records is beyond the warning window: then nothing
    about certificates needs to be parsed."""
    raw = (variables.get("HARBOR_CERT_WARNING_DAYS") or "").strip() or str(_DEFAULT_WINDOW_DAYS)
    expiry = (marker or {}).get("earliest_expiry")
    if not raw.isdigit() or not isinstance(expiry, (int, float)):
        return True
    window = max(int(raw), _USER_WARNING_DAYS)
    return expiry - window * 86400 <= _now()


def _now() -> float:
    """certificates.now() (the clock tests move) once that module is loaded; the same clock
    read directly before, so that the fast path need not import it."""
    loaded = sys.modules.get(f"{__package__}.certificates")
    return loaded.now().timestamp() if loaded is not None else time.time()


def earliest_expiry(files) -> int | None:
    """The earliest not-after of every certificate in the generation's files."""
    from . import pki

    ends = []
    for f in files:
        if b"-----BEGIN CERTIFICATE-----" in f.content:
            try:
                ends += [c.not_valid_after_utc.timestamp() for c in pki.load_certs(f.content)]
            except ValueError:
                return None
    return int(min(ends)) if ends else None


def unchanged(out: str, variables, link_fixed: bool, steps: Steps) -> bool:
    """The fast path of a rerun: same raw inputs as the current generation, and the tree as
    publish() leaves it; nothing to do. Reads only, imports nothing heavy."""
    out = os.path.abspath(out)
    marker = tree.read_marker(out)
    if not marker or not marker.get("inputs") or not isinstance(marker.get("input_paths"), list):
        return False
    if not tree.links_ok(out):
        return False
    try:
        tree.check_layout(out)
    except tree.Refused:
        return False
    key = Store(os.path.join(out, STORE)).read("fingerprint.key")
    if not key or marker["inputs"] != inputs_fingerprint(key, variables, out, link_fixed,
                                                         marker["input_paths"]):
        return False
    if expiry_due(marker, variables):
        from . import certificates

        try:
            window = certificates.window_of(variables)
        except ValueError:
            return False  # the full path reports it
        if _renewal_due(out, marker, window):
            return False
    _link(out, link_fixed, steps)
    steps.done("unchanged", f"{out} is up to date (generation {marker['generation']})")
    return True


def _renewal_due(out: str, marker: dict, window: int) -> bool:
    """A certificate the wrapper made is due for re-issue: the marker says from when (older
    markers: read the certificates)."""
    from . import certificates

    due = certificates.due(marker, "renew_at")
    if due is None:
        return certificates.renewal_pending(os.path.join(out, tree.CURRENT), window)
    return due


class TokenKeyInAdvance:
    """Starts the RSA-4096 token key generation at once, in a thread (it releases the GIL),
    when the store has no token key yet: a cold run then overlaps it with everything else."""

    def __init__(self, out: str):
        import threading

        self._key: bytes | None = None
        self._thread = None
        if Store(os.path.join(os.path.abspath(out), STORE)).read("token/private_key.pem") is None:
            self._thread = threading.Thread(target=self._make)  # joined at exit: no crash
            self._thread.start()

    def _make(self) -> None:
        from . import pki

        self._key = pki.new_token_key()

    def __call__(self) -> bytes:
        if self._thread is not None:
            self._thread.join()
        if self._key is None:
            from . import pki

            self._key = pki.new_token_key()
        return self._key


def generate(out: str, s, link_fixed: bool = False, steps: Steps | None = None,
             variables=None, token_key: TokenKeyInAdvance | None = None,
             renew_ca: tuple = (), data_volume: str | None = None) -> dict:
    """Returns {"changed": bool, "generation": name, "created": [store items made now]}.
    variables: the raw inputs s was read from, recorded for the fast path of reruns.
    renew_ca: "https" and/or "internal": replace that CA the wrapper made (on purpose only).
    data_volume: the host data folder (HARBOR_DATA_VOLUME), whose upstream keys are adopted.
    Raises InvalidSettings or tree.Refused before the first write."""
    import threading

    from . import certificates, datadir, fs
    from . import keys as keymaker
    from .components import render_all
    from .context import Paths
    from .settings import InvalidSettings

    steps = steps or Steps()
    out = os.path.abspath(out)
    tree.check_layout(out)
    store = Store(os.path.join(out, STORE))
    shims = shim_files()
    for warning in s.warnings:
        steps.warn(warning)

    hmac_key = store.read("fingerprint.key")
    marker = tree.read_marker(out)
    if not renew_ca and hmac_key and marker and tree.links_ok(out) and marker.get(
            "settings") == fingerprint(hmac_key, s, out, shims, link_fixed) and \
            not _renewal_due(out, marker, s.values["cert_warning_days"]):
        _link(out, link_fixed, steps)
        steps.done("unchanged", f"{out} is up to date (generation {marker['generation']})")
        return {"changed": False, "generation": marker["generation"], "created": []}

    conflicts = keymaker.conflicts(store, s)  # nothing is written on refused input
    if conflicts:
        raise InvalidSettings(conflicts)
    chown = os.geteuid() == 0
    if chown and os.path.isdir(out) and not os.stat(out).st_mode & 0o001:
        steps.warn(f"{out} is mode {os.stat(out).st_mode & 0o7777:04o}: Harbor's containers "
                   "(uid 10000 and 999) cannot reach their files through it; it is left as "
                   "it is")

    with tree.locked(out):
        tree.check_layout(out)
        warm_up = threading.Thread(target=_warm_up)
        warm_up.start()  # overlaps the RSA-4096 key generation, which releases the GIL
        if not os.path.isdir(store.root):
            fs.makedirs(store.root, 0o700)
        elif os.stat(store.root).st_mode & 0o7777 != 0o700:
            fs.chmod(store.root, 0o700)
        hmac_key, _ = store.get_or_create("fingerprint.key", lambda: os.urandom(32))
        for which in renew_ca:
            steps.done("renew-ca", certificates.retire_ca(store, which))
        adopted = datadir.adopt(store, data_volume)
        if adopted:
            steps.done("adopt", f"kept from {data_volume}: " + ", ".join(adopted))
        keys = keymaker.ensure(store, s, recover_secretkey=_secretkey_in_current(out),
                               make_token_key=token_key,
                               recover_database_password=_database_password_in_current(out))
        steps.done("keys", f"{len(keys.created)} made now" if keys.created else "all kept")

        warm_up.join()
        files = render_all(s, keys, Paths(out)) + shims
        steps.done("render", f"{len(files)} files")

        if not chown:
            steps.warn("not running as root: files keep this user's ownership instead of "
                       "uid 10000 / 999 (Harbor's containers may not be able to read them)")
        settings_hash = fingerprint(hmac_key, s, out, shims, link_fixed)
        name = tree.content_hash(files) + "-" + settings_hash[:12]
        previous = (marker or {}).get("generation")
        marker = {"settings": settings_hash, "generation": name, "wrapper": __version__,
                  "harbor": HARBOR_VERSION, "earliest_expiry": earliest_expiry(files),
                  **certificates.schedule({f.path: f.content for f in files},
                                          s.values["cert_warning_days"])}
        paths = input_paths(variables) if variables is not None else None
        if paths is not None:
            marker["input_paths"] = paths
            marker["inputs"] = inputs_fingerprint(hmac_key, variables, out, link_fixed, paths)
        generation = tree.publish(out, files, marker, chown)
        tree.clean(out, keep=generation)
        store.clean_temporaries(tree.STALE_SECONDS)
        datadir.write_upstream_keys(store, data_volume, chown)
        steps.done("write", f"generation {generation}"
                   + (" (unchanged files)" if previous == generation else ""))
    _link(out, link_fixed, steps)
    return {"changed": True, "generation": generation, "created": keys.created}


def _warm_up() -> None:
    """Import the renderers and compile the templates."""
    from . import files

    env = files._jinja()
    for name in env.list_templates():
        env.get_template(name)
    import yaml  # noqa: F401


def _link(out: str, link_fixed: bool, steps: Steps) -> None:
    if link_fixed:
        from . import fixed_paths

        done = fixed_paths.link(out)
        steps.done("link", ", ".join(done) if done else "no fixed folder found")


def _secretkey_in_current(out: str) -> bytes | None:
    """The secretkey encrypts data in Harbor's database: if the store lost it but the
    current generation still has it, bring it back rather than make a new one."""
    data = tree.read_current(out, "secret/keys/secretkey", limit=64)
    return data if data and len(data) == 16 else None


def _database_password_in_current(out: str) -> bytes | None:
    """The internal database keeps the password it was initialised with: if the store lost
    it, bring it back from the current generation's db/env."""
    data = tree.read_current(out, "config/db/env", limit=65536)
    for line in (data or b"").splitlines():
        name, sep, value = line.partition(b"=")
        if sep and name == b"POSTGRES_PASSWORD" and value:
            return value
    return None
