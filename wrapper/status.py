"""`status`: the current generation and every certificate in use, for people and monitoring.

Reads only (a read-only folder is fine: no lock; of the store it reads the database snapshot's
record only). Exit codes follow the
monitoring-plugin convention, so Nagios-style checks and scripts can call it as it is.
"""

from __future__ import annotations

import datetime
import json
import os

from . import HARBOR_VERSION, __version__, certificates, db_snapshot, tree

OK, WARNING, CRITICAL, UNKNOWN, NOT_YET_VALID = 0, 1, 2, 3, 4
EXIT_CODES = {
    OK: "every certificate is valid beyond the warning window",
    WARNING: "a certificate expires within the warning window",
    CRITICAL: "a certificate has expired",
    UNKNOWN: "no generation to read, a certificate file that cannot be read, or a bad "
             "--warning-days / HARBOR_CERT_WARNING_DAYS",
    NOT_YET_VALID: "a certificate is not valid until a later date than this host's clock "
                   "(the clock is behind, or was ahead when it was made); none has expired",
}
_LABEL = {OK: "OK", WARNING: "WARNING", CRITICAL: "CRITICAL", UNKNOWN: "UNKNOWN",
          NOT_YET_VALID: "NOT VALID YET"}


CERTIFICATE_LIMIT = 4 * 1024 * 1024  # a chain of a thousand certificates fits


def _reader(out: str, problems: list[str]):
    """Files of the current generation, read as the wrapper reads them (no link followed,
    regular files only, bounded); one that is there but unusable is a problem, not a
    certificate less."""
    from cryptography import x509

    name = tree.current_generation(out)

    def read(relative: str) -> bytes | None:
        data = tree.read_current(out, relative, CERTIFICATE_LIMIT)
        path = os.path.join(out, tree.CURRENT, relative)
        if data is None:
            if name and os.path.lexists(os.path.join(out, tree.GENERATIONS, name, relative)):
                problems.append(f"{path} cannot be read: not a regular file inside the "
                                f"generation, or larger than {CERTIFICATE_LIMIT >> 20} MiB")
            return None
        try:
            if not x509.load_pem_x509_certificates(data):
                raise ValueError
        except ValueError:
            problems.append(f"{path} holds no readable PEM certificate")
        return data
    return read


def report(out: str, window: int, at: datetime.datetime | None = None) -> dict:
    at = at or certificates.now()
    out = os.path.abspath(out)
    current = os.path.join(out, tree.CURRENT)
    marker_path = os.path.join(current, tree.MARKER)
    marker = tree.read_marker(out)
    result: dict = {"folder": out, "checked": certificates.iso(at), "warning_days": window}
    if marker is None:
        result.update(code=UNKNOWN, status=_LABEL[UNKNOWN], certificates=[],
                      problem=f"no generation in {out} ({marker_path} is missing, unreadable "
                              "or not a JSON object): has `harbor-setupwrapper generate` run "
                              "with this --out?")
        return result
    try:
        made = certificates.iso(datetime.datetime.fromtimestamp(
            os.lstat(os.path.join(out, tree.GENERATIONS, tree.current_generation(out) or "",
                                  tree.MARKER)).st_mtime, datetime.timezone.utc))
    except OSError:
        made = None
    problems: list[str] = []
    entries = certificates.inventory(_reader(out, problems))
    states = [c.state(at, window) for c in entries]
    code = (UNKNOWN if problems else CRITICAL if "expired" in states else
            NOT_YET_VALID if certificates.NOT_YET_VALID in states else
            WARNING if "expiring" in states else OK)
    result.update({
        "generation": _text(marker.get("generation")),
        "made": made,
        # a keyed hash (HMAC-SHA256) of the settings: equal settings, equal hash; no secret
        "settings_hmac": _text(marker.get("settings")),
        "wrapper": _text(marker.get("wrapper")),
        "harbor": _text(marker.get("harbor")) or (
            HARBOR_VERSION if marker.get("wrapper") == __version__ else None),
        "code": code, "status": _LABEL[code],
        "certificates": [c.as_dict(at, window) for c in entries],
        "warnings": certificates.warnings(entries, window, at),
        "database_snapshot": db_snapshot.status_entry(os.path.join(out, ".store"), at),
        "problems": problems,
    })
    return result


def _text(value) -> str | None:
    """A marker field as status shows it: a short single line, whatever the file holds."""
    if value is None:
        return None
    text = value if isinstance(value, str) else json.dumps(value)[:200]
    text = text.encode("ascii", "backslashreplace").decode("ascii")
    return text if text.isprintable() and len(text) <= 200 else repr(text[:200])


def text(r: dict) -> str:
    lines = [f"status:        {r['status']} (exit {r['code']})", f"folder:        {r['folder']}"]
    if "problem" in r:
        return "\n".join(lines + [f"problem:       {r['problem']}"]) + "\n"
    lines += [
        f"generation:    {r['generation']}",
        f"made:          {r['made']}",
        f"settings hash: {r['settings_hmac']} (HMAC-SHA256, keyed: no secret in it)",
        f"Harbor:        {r['harbor'] or 'unknown'} (harbor-setupwrapper {r['wrapper']})",
        f"checked:       {r['checked']}, warning window {r['warning_days']} days",
        "",
    ]
    for c in r["certificates"]:
        origin = "made by the wrapper" if c["made_by"] == "wrapper" else f"from {c['variable']}"
        state = (f"NOT VALID UNTIL {c['not_before']} (this host's clock: {r['checked']})"
                 if c["state"] == certificates.NOT_YET_VALID else c["state"].upper())
        lines += [
            f"{c['role']} ({origin}): {state}",
            f"  file:        {c['file']}",
            f"  subject:     {c['subject']}",
            f"  issuer:      {c['issuer']}",
            f"  SANs:        {', '.join(c['sans']) or '-'}",
            f"  SHA-256:     {c['sha256']}",
            f"  valid:       {c['not_before']} to {c['not_after']} ({c['days_left']} days left)",
        ]
    snap = r.get("database_snapshot")
    if snap:
        lines += [
            f"database snapshot: {snap['cluster']} before the upgrade "
            f"(Harbor {snap['harbor_version'] or 'unknown'} ran on it)",
            f"  folder:      {snap['path']} (in the database volume)",
            f"  size:        {snap['size']}",
            f"  taken:       {snap['taken']} ({snap['age']} ago)",
            f"  roll back:   {snap['rollback']}",
            f"  drop it:     {snap['drop']}",
        ]
    for warning in r["warnings"]:
        lines.append(f"warning: {warning}")
    for problem in r.get("problems", ()):
        lines.append(f"problem: {problem}")
    return "\n".join(lines) + "\n"


def main(out: str, window_arg: int | None, as_json: bool, variables, stdout, stderr) -> int:
    if window_arg is not None and window_arg < 0:
        print("harbor-setupwrapper: --warning-days: accepted: a whole number of days, 0 or more",
              file=stderr)
        return UNKNOWN
    try:
        window = window_arg if window_arg is not None else certificates.window_of(variables)
    except ValueError as err:
        print(f"harbor-setupwrapper: {err}", file=stderr)
        return UNKNOWN
    try:
        r = report(out, window)
    except Exception as err:  # a monitoring check says UNKNOWN, never a traceback
        r = {"folder": os.path.abspath(out), "warning_days": window, "code": UNKNOWN,
             "status": _LABEL[UNKNOWN], "certificates": [],
             "problem": f"cannot read the generation: {type(err).__name__}: {err}"}
    if as_json:
        stdout.write(json.dumps(r, indent=2) + "\n")
    else:
        stdout.write(text(r))
    return r["code"]
