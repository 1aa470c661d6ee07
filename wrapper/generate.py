"""generate: settings in, keys made once, files rendered, one new generation published."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import sys
import threading
import time
from pathlib import Path
from typing import Mapping

from . import HARBOR_VERSION, __version__, certificates, fixed_paths, tree
from .context import Paths
from .files import File
from .store import Store

STORE = ".store"


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


def shim_sources() -> Path | None:
    for candidate in (Path(sys.prefix) / "share" / "harbor-setupwrapper" / "entrypoints",
                      Path(__file__).resolve().parent.parent / "entrypoints"):
        if candidate.is_dir():
            return candidate
    return None


def shim_files() -> list[File]:
    source = shim_sources()
    if source is None:
        return []
    return [File(f"entrypoints/{p.name}", p.read_bytes(), 0o755, 0, 0)
            for p in sorted(source.iterdir()) if p.is_file() and p.suffix == ".sh"]


def _templates_digest() -> bytes:
    digest = hashlib.sha256()
    for path in sorted((Path(__file__).parent / "templates").iterdir()):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.digest()


def fingerprint(key: bytes, s, out: str, shims: list[File], link_fixed: bool) -> str:
    """HMAC of everything the output depends on; keyed so that it leaks no password."""
    material = {
        "version": __version__,
        "out": out,
        "link_fixed": link_fixed,
        "values": s.values,
        "files": {k: hashlib.sha256(v).hexdigest() for k, v in sorted(s.input_files.items())},
        "templates": _templates_digest().hex(),
        "shims": tree.content_hash(shims),
    }
    canonical = json.dumps(material, sort_keys=True, default=str).encode()
    return hmac.new(key, canonical, hashlib.sha256).hexdigest()


def _read_or_none(path: str) -> bytes | None:
    from .input_files import read_or_none  # never blocks on a FIFO, never reads /dev/zero

    return read_or_none(path)


def inputs_fingerprint(key: bytes, variables: Mapping[str, str], out: str,
                       shims: list[File], link_fixed: bool) -> str | None:
    """HMAC of the raw inputs: the HARBOR_* variables and every file they name. Equal raw
    inputs give equal settings, so a rerun can stop here without parsing anything; None when
    a named file cannot be read (then the full path reports it)."""
    from . import schema

    names = {k: v for k, v in variables.items() if k.startswith("HARBOR_")}
    paths = [v for k, v in names.items() if k.endswith("_FILE") and k not in schema.BY_ENV]
    paths += [names[s.env_name] for s in schema.SETTINGS
              if s.kind in (schema.PATH, schema.DIR) and names.get(s.env_name)]
    if names.get("HARBOR_CONFIG_FILE"):
        import yaml

        from .settings import _flatten

        paths.append(names["HARBOR_CONFIG_FILE"])
        try:
            tree_ = yaml.safe_load(_read_or_none(names["HARBOR_CONFIG_FILE"]).decode("utf-8"))
            flat = _flatten(tree_) if isinstance(tree_, dict) else {}
        except (AttributeError, UnicodeDecodeError, RecursionError, yaml.YAMLError):
            return None
        paths += [str(v) for k, v in flat.items() if k in schema.BY_KEY and v
                  and schema.BY_KEY[k].kind in (schema.PATH, schema.DIR)]
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
        "files": {k: hashlib.sha256(v or b"").hexdigest() for k, v in sorted(contents.items())},
        "templates": _templates_digest().hex(), "shims": tree.content_hash(shims),
    }
    canonical = json.dumps(material, sort_keys=True).encode()
    return hmac.new(key, canonical, hashlib.sha256).hexdigest()


def unchanged(out: str, variables: Mapping[str, str], link_fixed: bool,
              steps: Steps) -> bool:
    """The fast path of a rerun: same raw inputs as the current generation, nothing to do."""
    out = os.path.abspath(out)
    key = Store(os.path.join(out, STORE)).read("fingerprint.key")
    marker = tree.read_marker(out)
    if not key or not marker or not marker.get("inputs"):
        return False
    if marker["inputs"] != inputs_fingerprint(key, variables, out, shim_files(), link_fixed):
        return False
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
    due = certificates.due(marker, "renew_at")
    if due is None:
        return certificates.renewal_pending(os.path.join(out, tree.CURRENT), window)
    return due


class TokenKeyInAdvance:
    """Starts the RSA-4096 token key generation at once, in a thread (it releases the GIL),
    when the store has no token key yet: a cold run then overlaps it with everything else."""

    def __init__(self, out: str):
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
             variables: Mapping[str, str] | None = None,
             token_key: TokenKeyInAdvance | None = None, renew_ca: tuple = (),
             data_volume: str | None = None) -> dict:
    """Returns {"changed": bool, "generation": name, "created": [store items made now]}.
    variables: the raw inputs s was read from, recorded for the fast path of reruns.
    renew_ca: "https" and/or "internal": replace that CA the wrapper made (on purpose only).
    data_volume: the host data folder (HARBOR_DATA_VOLUME), whose upstream keys are adopted."""
    from . import datadir
    from . import keys as keymaker
    from .components import render_all

    steps = steps or Steps()
    out = os.path.abspath(out)
    store = Store(os.path.join(out, STORE))
    shims = shim_files()
    for warning in s.warnings:
        steps.warn(warning)

    hmac_key = store.read("fingerprint.key")
    marker = tree.read_marker(out)
    if not renew_ca and hmac_key and marker and marker.get("settings") == fingerprint(
            hmac_key, s, out, shims, link_fixed) and not _renewal_due(
            out, marker, s.values["cert_warning_days"]):
        _link(out, link_fixed, steps)
        steps.done("unchanged", f"{out} is up to date (generation {marker['generation']})")
        return {"changed": False, "generation": marker["generation"], "created": []}

    with tree.locked(out):
        warm_up = threading.Thread(target=_warm_up)
        warm_up.start()  # overlaps the RSA-4096 key generation, which releases the GIL
        os.chmod(out, 0o755)
        os.makedirs(store.root, mode=0o700, exist_ok=True)
        os.chmod(store.root, 0o700)
        hmac_key, _ = store.get_or_create("fingerprint.key", lambda: os.urandom(32))
        for which in renew_ca:
            steps.done("renew-ca", certificates.retire_ca(store, which))
        adopted = datadir.adopt(store, data_volume)
        if adopted:
            steps.done("adopt", f"kept from {data_volume}: " + ", ".join(adopted))
        keys = keymaker.ensure(store, s, recover_secretkey=_secretkey_in_current(out),
                               make_token_key=token_key)
        steps.done("keys", f"{len(keys.created)} made now" if keys.created else "all kept")

        warm_up.join()
        files = render_all(s, keys, Paths(out)) + shims
        steps.done("render", f"{len(files)} files")

        chown = os.geteuid() == 0
        if not chown:
            steps.warn("not running as root: files keep this user's ownership instead of "
                       "uid 10000 / 999 (Harbor's containers may not be able to read them)")
        settings_hash = fingerprint(hmac_key, s, out, shims, link_fixed)
        name = tree.content_hash(files) + "-" + settings_hash[:12]
        previous = (marker or {}).get("generation")
        marker = {"settings": settings_hash, "generation": name, "wrapper": __version__,
                  "harbor": HARBOR_VERSION, **certificates.schedule(
                      {f.path: f.content for f in files}, s.values["cert_warning_days"])}
        if variables is not None:
            marker["inputs"] = inputs_fingerprint(hmac_key, variables, out, shims, link_fixed)
        generation = tree.publish(out, files, marker, chown)
        tree.clean(out, keep=generation)
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
        done = fixed_paths.link(out)
        steps.done("link", ", ".join(done) if done else "no fixed folder found")


def _secretkey_in_current(out: str) -> bytes | None:
    """The secretkey encrypts data in Harbor's database: if the store lost it but the
    current generation still has it, bring it back rather than make a new one."""
    try:
        with open(os.path.join(out, tree.CURRENT, "secret", "keys", "secretkey"), "rb") as f:
            data = f.read()
        return data if len(data) == 16 else None
    except OSError:
        return None
