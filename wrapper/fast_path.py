"""The fast path of a rerun: same raw inputs as the current generation, the tree as publish()
leaves it, no certificate due: nothing to do.

Imports stay light here: a rerun with unchanged input runs unchanged() only (the bench holds
it to 45 ms as a process, interpreter start included), so it reads the marker and hashes the
raw inputs, and never imports cryptography, jinja2 or the settings schema's parsers.
"""

from __future__ import annotations

import json
import os

from . import __version__, tree
from .marker import CHECKED, expiry_due
from .shims import shim_paths
from .store import Store

try:  # CPython's own SHA-256: hashing a few KB needs no OpenSSL library loaded
    from _sha256 import sha256
except ImportError:  # pragma: no cover - Python 3.12 renamed it
    try:
        from _sha2 import sha256
    except ImportError:
        from hashlib import sha256

_TEMPLATES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "templates")

def hmac_sha256(key: bytes, message: bytes) -> str:
    """HMAC-SHA256 (RFC 2104) as hmac.new(key, message, "sha256").hexdigest(), without
    importing hmac and hashlib on the fast path."""
    if len(key) > 64:
        key = sha256(key).digest()
    key = key.ljust(64, b"\0")
    inner = sha256(bytes(b ^ 0x36 for b in key) + message).digest()
    return sha256(bytes(b ^ 0x5C for b in key) + inner).hexdigest()


def templates_digest() -> bytes:
    digest = sha256()
    for name in sorted(os.listdir(_TEMPLATES)):
        with open(os.path.join(_TEMPLATES, name), "rb") as handle:
            digest.update(name.encode() + b"\0" + handle.read())
    return digest.digest()


def _code_digest() -> str:
    """Templates and shims: what a new wrapper version may change besides __version__."""
    digest = sha256(templates_digest())
    for path in shim_paths():
        with open(path, "rb") as handle:
            digest.update(os.path.basename(path).encode() + b"\0" + handle.read())
    return digest.hexdigest()


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
    acme = acme_digest(out)
    if acme:
        material["acme"] = acme
    return hmac_sha256(key, json.dumps(material, sort_keys=True).encode())


def same_inputs(out: str, marker: dict, variables, link_fixed: bool) -> bool | None:
    """Whether the marker's generation was made from these raw inputs; None when that cannot
    be told (no fingerprint in the marker, no key, a named file unreadable). out: absolute."""
    if not marker.get("inputs") or not isinstance(marker.get("input_paths"), list):
        return None
    key = Store(os.path.join(out, tree.STORE)).read("fingerprint.key")
    if not key:
        return None
    own = inputs_fingerprint(key, variables, out, link_fixed, marker["input_paths"])
    return None if own is None else own == marker["inputs"]


def acme_digest(out: str) -> str | None:
    """The certificate the `renew` mode obtained from the ACME server is an input too: a new
    one makes a new generation."""
    data = Store(os.path.join(out, tree.STORE)).read("acme/server.crt")
    return sha256(data).hexdigest() if data else None


def unchanged(out: str, variables, link_fixed: bool, steps) -> bool:
    """Same raw inputs as the current generation, and the tree as publish() leaves it:
    nothing to do. Reads only, imports nothing heavy."""
    out = os.path.abspath(out)
    marker = tree.read_marker(out)
    if not marker or not marker.get("inputs") or not isinstance(marker.get("input_paths"), list):
        return False
    if marker.get("checked") != CHECKED:
        return False  # published before the consistency check existed: render it anew
    if not tree.links_ok(out):
        return False
    try:
        tree.check_layout(out)
    except tree.Refused:
        return False
    if same_inputs(out, marker, variables, link_fixed) is not True:
        return False
    if expiry_due(marker):
        from . import certificates

        try:
            window = certificates.window_of(variables)
        except ValueError:
            return False  # the full path reports it
        if certificates.renewal_pending(os.path.join(out, tree.CURRENT), window):
            return False
    link(out, link_fixed, steps)
    steps.done("unchanged", f"{out} is up to date (generation {marker['generation']})")
    return True


def link(out: str, link_fixed: bool, steps) -> None:
    if link_fixed:
        from . import fixed_paths

        done = fixed_paths.link(out)
        steps.done("link", ", ".join(done) if done else "no fixed folder found")
