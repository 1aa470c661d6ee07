"""renew: the long-running mode of the same image (a service next to the proxy).

Each round, every HARBOR_RENEW_INTERVAL seconds:
  1. with HARBOR_ACME_*: obtains the server certificate from the ACME server when there is
     none for the names yet, or when it is due (acme_certificate.due);
  2. runs `generate` as a start of the deployment would: unchanged inputs and nothing due
     stop at the fast path (the marker's expiry state); a certificate the wrapper made that
     expires within HARBOR_CERT_WARNING_DAYS is re-issued for the same key, and a new ACME
     certificate is an input, so either publishes a new generation.
The proxy reloads a new generation by itself within HARBOR_SETUP_RELOAD_SECONDS (10 s): no
container is restarted. A failing round says why, keeps what is served, and the next round
tries again; only a signal ends the loop.
"""

from __future__ import annotations

import os
import signal
import sys
import time


def _say(message: str) -> None:
    print(f"harbor-setupwrapper: renew: {message}", file=sys.stderr, flush=True)


def _acme_round(out: str, variables) -> None:
    from . import acme_certificate, certificates, keys, pki, tree
    from .settings import InvalidSettings, load
    from .store import Store

    try:
        s = load(variables)
    except InvalidSettings:
        return  # generate reports it, right after
    if not (s.https and s.on("acme")) or s.values["https.certificate"]:
        return
    store = Store(os.path.join(out, tree.STORE))
    names = keys.server_names(s)
    chain = store.read(acme_certificate.CERTIFICATE)
    key = store.read(acme_certificate.SERVER_KEY)
    if not acme_certificate.due(chain, key, names, s.values["cert_warning_days"]):
        return
    started = time.monotonic()
    try:
        with tree.locked(out):
            chain = acme_certificate.obtain(
                out, store, names, s.values["acme.email"], s.values["acme.directory"],
                s.values["acme.ca_file"])
    except acme_certificate.Failed as err:
        _say(f"ACME: {err}")
        return
    leaf = certificates.describe(pki.load_certs(chain)[0], "https server",
                                 acme_certificate.CERTIFICATE)
    _say(f"ACME: certificate for {', '.join(names)} obtained in "
         f"{time.monotonic() - started:.1f} s (issuer {leaf.issuer}, valid until "
         f"{certificates.iso(leaf.not_after)}, SHA-256 {leaf.sha256})")


def one_round(out: str, link_fixed: bool, command, variables=None) -> int:
    """ACME (if asked for), then generate; the exit code generate would have.
    command: the command line's main (cli.main), which runs `generate` as a start would."""
    from . import tree

    variables = os.environ if variables is None else variables
    marker = tree.read_marker(os.path.abspath(out)) or {}
    before = marker.get("generation")
    if _made_from_other_inputs(out, marker, variables, link_fixed):
        _say(f"generation {before} was made from other variables or files than this service "
             "has (a newer setupwrapper's, or an older one's): left alone; `up -d` or "
             "`docker stack deploy` gives both the same")
        return 0
    _acme_round(out, variables)
    code = command(["generate", "--out", out] + (["--link-fixed-paths"] if link_fixed else []))
    after = (tree.read_marker(os.path.abspath(out)) or {}).get("generation")
    if code == 0 and after != before:
        _say(f"published generation {after}; the proxy reloads it within "
             f"{os.environ.get('HARBOR_SETUP_RELOAD_SECONDS', '10')} s")
    return code


def _made_from_other_inputs(out: str, marker: dict, variables, link_fixed: bool) -> bool:
    """The current generation's inputs differ from what this service sees. A renew task still
    running with the variables of before a redeploy must not publish them again over the new
    setupwrapper's generation (nor a new one over an old), so it leaves such a round alone."""
    from .fast_path import same_inputs

    return same_inputs(os.path.abspath(out), marker, variables, link_fixed) is False


def interval_of(variables) -> int:
    from . import schema

    setting = schema.BY_KEY["renew_interval"]
    raw = (variables.get(setting.env_name) or "").strip()
    if raw.isdigit() and setting.minimum <= int(raw) <= setting.maximum:
        return int(raw)
    return setting.default  # `generate` names a bad value in each round


def main(out: str, link_fixed: bool, first_round: bool, command) -> int:
    """Loops until SIGTERM/SIGINT. first_round: run a round at once (else after one
    interval: in compose the one-shot setupwrapper has just generated)."""
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    interval = interval_of(os.environ)
    _say(f"checking every {interval} s ({out})")
    acme_pending = bool(any(k.startswith("HARBOR_ACME_") and v for k, v in os.environ.items()))
    if first_round or acme_pending:
        one_round(out, link_fixed, command)
    while True:
        time.sleep(interval_of(os.environ))
        try:
            one_round(out, link_fixed, command)
        except Exception as err:  # a round must never end the service
            _say(f"round failed: {type(err).__name__}: {err}; tried again in {interval} s")
