"""generate, the pipeline: settings in, keys made once, files rendered, checked, one new
generation published.

The fast path of a rerun (nothing changed) is fast_path.unchanged(); the step report is
steps.Steps. Both are re-exported here for callers of the full command.
"""

from __future__ import annotations

import json
import os

from . import HARBOR_VERSION, __version__, tree
from .fast_path import (acme_digest, hmac_sha256, input_paths,  # noqa: F401
                        inputs_fingerprint, link, templates_digest, unchanged)
from . import marker as markers
from .marker import CHECKED, expiry_due
from .shims import shim_files, shim_sources  # noqa: F401
from .steps import Steps
from .store import Store

STORE = tree.STORE


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
        "templates": templates_digest().hex(),
        "shims": tree.content_hash(shims),
    }
    acme = acme_digest(out)
    if acme:
        material["acme"] = acme
    canonical = json.dumps(material, sort_keys=True, default=str).encode()
    return hmac.new(key, canonical, hashlib.sha256).hexdigest()


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


def _renewal_due(out: str, marker: dict, window: int) -> bool:
    """A certificate the wrapper made is due for re-issue (expiring, or made under a clock
    that was ahead); the certificates are read only outside the marker's quiet interval."""
    if not expiry_due(marker):
        return False
    from . import certificates

    return certificates.renewal_pending(os.path.join(out, tree.CURRENT), window)


def generate(out: str, s, link_fixed: bool = False, steps: Steps | None = None,
             variables=None, token_key: TokenKeyInAdvance | None = None,
             renew_ca: tuple = (), data_volume: str | None = None) -> dict:
    """Returns {"changed": bool, "generation": name, "created": [store items made now]}.
    variables: the raw inputs s was read from, recorded for the fast path of reruns.
    renew_ca: "https" and/or "internal": replace that CA the wrapper made (on purpose only).
    data_volume: the host data folder (HARBOR_DATA_VOLUME), whose upstream keys are adopted.
    Raises InvalidSettings or tree.Refused before the first write."""
    import threading

    from . import certificates, consistency, datadir, fs
    from . import keys as keymaker
    from .components import render_all
    from .context import Paths
    from .files import Renders, reusing
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
    if not renew_ca and hmac_key and marker and marker.get("checked") == CHECKED and \
            tree.links_ok(out) and marker.get(
            "settings") == fingerprint(hmac_key, s, out, shims, link_fixed) and \
            not _renewal_due(out, marker, s.values["cert_warning_days"]):
        link(out, link_fixed, steps)
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

    listed = (marker or {}).get("rendered")
    with tree.locked(out):
        tree.check_layout(out)
        warm_up = None
        if not listed:  # a first run: overlaps the RSA-4096 key generation (it releases the
            # GIL); a re-render reuses the templates it can and compiles only the others
            warm_up = threading.Thread(target=_warm_up)
            warm_up.start()
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
        verified = markers.verified(marker)
        keys = keymaker.ensure(store, s, recover_secretkey=_secretkey_in_current(out),
                               make_token_key=token_key,
                               recover_database_password=_database_password_in_current(out),
                               verified=verified)
        steps.done("keys", f"{len(keys.created)} made now" if keys.created else "all kept")

        if warm_up is not None:
            warm_up.join()
        renders = Renders(hmac_key, listed, lambda path: tree.read_current(out, path),
                          templates_digest().hex())
        with reusing(renders):
            files = render_all(s, keys, Paths(out)) + shims
        # never publish a tree whose components disagree
        checked = keys.checked | consistency.check(files, verified)
        steps.done("render", f"{len(files)} files")

        if not chown:
            steps.warn("not running as root: files keep this user's ownership instead of "
                       "uid 10000 / 999 (Harbor's containers may not be able to read them)")
        settings_hash = fingerprint(hmac_key, s, out, shims, link_fixed)
        name = tree.content_hash(files) + "-" + settings_hash[:12]
        previous = (marker or {}).get("generation")
        window = s.values["cert_warning_days"]
        scheduled = markers.schedule_verdict(files, window)
        if scheduled in verified:  # the same certificates as the current generation's
            schedule = {k: marker[k] for k in markers.SCHEDULE}
        else:
            schedule = certificates.schedule({f.path: f.content for f in files}, window)
        marker = {"settings": settings_hash, "generation": name, "wrapper": __version__,
                  "harbor": HARBOR_VERSION, "checked": CHECKED, **schedule,
                  "verified": sorted(checked | {scheduled}), "rendered": renders.made}
        paths = input_paths(variables) if variables is not None else None
        if paths is not None:
            marker["input_paths"] = paths
            marker["inputs"] = inputs_fingerprint(hmac_key, variables, out, link_fixed, paths)
        generation = tree.publish(out, files, marker, chown)
        tree.clean(out, keep=generation)
        tree.settle(out, files, marker, chown)
        store.clean_temporaries(tree.STALE_SECONDS)
        datadir.write_upstream_keys(store, data_volume, chown)
        steps.done("write", f"generation {generation}"
                   + (" (unchanged files)" if previous == generation else ""))
    link(out, link_fixed, steps)
    return {"changed": True, "generation": generation, "created": keys.created}


def _warm_up() -> None:
    """Import the renderers and compile the templates."""
    from . import files

    env = files._jinja()
    for name in env.list_templates():
        env.get_template(name)
    import yaml  # noqa: F401


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
