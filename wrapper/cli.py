"""Command line: generate, renew, init-data, check, show, status, variables, restore-keys,
rollback."""

from __future__ import annotations

import os
import sys

from . import HARBOR_VERSION, __version__

EXIT_INVALID = 2
EXIT_REFUSED = 3


def _parser():
    import argparse

    parser = argparse.ArgumentParser(
        prog="harbor-setupwrapper",
        description=f"Generates Harbor {HARBOR_VERSION}'s configuration from HARBOR_* variables.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    gen = commands.add_parser("generate", help="write config, keys and certificates into DIR")
    gen.add_argument("--out", default=os.environ.get("HARBOR_SETUP_DIR", "/harbor-setup"),
                     help="output folder (default: $HARBOR_SETUP_DIR or /harbor-setup)")
    gen.add_argument("--link-fixed-paths", action="store_true",
                     help="also link the fixed paths Harbor's images read (inside the wrapper "
                          "container)")
    gen.add_argument("--renew-ca", action="append", choices=("https", "internal"), default=[],
                     help="replace that CA the wrapper made (kept aside in the store) and "
                          "re-issue its certificates for the same keys; see the README")
    renew = commands.add_parser(
        "renew", help="keep running: re-issue certificates before they expire (and obtain the "
                      "ACME one), publishing a new generation the proxy reloads")
    renew.add_argument("--out", default=os.environ.get("HARBOR_SETUP_DIR", "/harbor-setup"),
                       help="output folder (default: $HARBOR_SETUP_DIR or /harbor-setup)")
    renew.add_argument("--link-fixed-paths", action="store_true",
                       help="as for generate (inside the wrapper container)")
    renew.add_argument("--now", action="store_true",
                       help="run the first round at once (default: after one interval, since "
                            "the deployment's start has just generated)")
    init = commands.add_parser(
        "init-data", help="give the data folders under ROOT to the users Harbor's images run as")
    init.add_argument("--root", default="/data",
                      help="the folder holding registry, database, ... (default: /data)")
    commands.add_parser("check", help="validate the settings only; write nothing")
    from .status import EXIT_CODES

    status = commands.add_parser(
        "status", help="the current generation and every certificate in use; reads only",
        epilog="exit codes: " + "; ".join(f"{k}: {v}" for k, v in EXIT_CODES.items()))
    status.add_argument("--out", default=os.environ.get("HARBOR_SETUP_DIR", "/harbor-setup"),
                        help="output folder (default: $HARBOR_SETUP_DIR or /harbor-setup)")
    status.add_argument("--warning-days", type=int, default=None,
                        help="warning window in days (default: $HARBOR_CERT_WARNING_DAYS or 30)")
    status.add_argument("--json", action="store_true", help="machine-readable output")
    show = commands.add_parser("show", help="effective settings, secrets masked, and their source")
    show.add_argument("--all", action="store_true", help="include settings of blocks that are off")
    restore = commands.add_parser(
        "restore-keys", help="restore, first step: a backup's key store and registry data into "
                             "an empty deployment (README: Day 2)")
    restore.add_argument("backup", help="the backup's folder name under --backups")
    restore.add_argument("--backups", default="/backups", help="folder of backups (/backups)")
    restore.add_argument("--out", default=os.environ.get("HARBOR_SETUP_DIR", "/harbor-setup"),
                         help="the wrapper's folder (default: $HARBOR_SETUP_DIR or /harbor-setup)")
    restore.add_argument("--storage", default="/storage",
                         help="the registry's data folder (/storage); '' for object storage")
    back = commands.add_parser(
        "rollback", help="undo a PostgreSQL upgrade: put the snapshot taken before it back, "
                         "remove the upgraded cluster, set the recorded Harbor version back")
    back.add_argument("--drop", action="store_true", help="delete the snapshot instead")
    back.add_argument("--database", default="/data/database",
                      help="the database folder (harbor-db's PGDATA; default /data/database)")
    back.add_argument("--out", default=os.environ.get("HARBOR_SETUP_DIR", "/harbor-setup"),
                      help="the wrapper's folder (default: $HARBOR_SETUP_DIR or /harbor-setup)")
    variables = commands.add_parser("variables", help="the variable reference")
    variables.add_argument("--format", choices=("markdown", "env"), default="markdown",
                           help="a Markdown table (README) or an .env example (compose)")
    return parser


def _load():
    from .settings import load

    return load()


def _invalid(err, written: str = "nothing was written") -> int:
    settings = getattr(err, "settings", None)
    for warning in settings.warnings if settings is not None else ():
        print(f"harbor-setupwrapper: warning: {warning}", file=sys.stderr)
    print(f"harbor-setupwrapper: invalid settings, {written}:", file=sys.stderr)
    for line in err.errors:
        print(f"  {line}", file=sys.stderr)
    return EXIT_INVALID


def _tolerant_output() -> None:
    """A terminal that cannot show a character gets an escape, not a traceback."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.reconfigure(errors="backslashreplace")
        except (AttributeError, ValueError):
            pass


def _certificate_warnings(out: str, variables, steps) -> None:
    """Certificates of the generation in use that expired or expire within the window."""
    from . import certificates

    try:
        window = certificates.window_of(variables)
    except ValueError:
        return  # refused by validation already
    for warning in certificates.expiry_warnings(out, window):
        steps.warn(warning)


def _init_data(root: str) -> int:
    from . import trivy_db
    from .data_dirs import init_data

    if not os.path.isdir(root):
        print(f"harbor-setupwrapper: {root} does not exist: mount the data volumes under it",
              file=sys.stderr)
        return 1
    problems = init_data(root)
    problems += trivy_db.bring_in(root, say=lambda line: print(line, file=sys.stderr))
    for problem in problems:
        print(f"harbor-setupwrapper: {problem}", file=sys.stderr)
    return 1 if problems else 0


def _plain_generate(argv: list[str]) -> tuple[str, bool] | None:
    """(out, link_fixed) of a plain `generate [--out DIR] [--link-fixed-paths]`, else None:
    such a rerun tries the fast path before argparse is even imported."""
    if not argv or argv[0] != "generate":
        return None
    out, link_fixed, rest = os.environ.get("HARBOR_SETUP_DIR", "/harbor-setup"), False, argv[1:]
    while rest:
        arg, rest = rest[0], rest[1:]
        if arg == "--link-fixed-paths":
            link_fixed = True
        elif arg == "--out" and rest:
            out, rest = rest[0], rest[1:]
        elif arg.startswith("--out="):
            out = arg[len("--out="):]
        else:
            return None
    return out, link_fixed


def _fast_rerun(out: str, link_fixed: bool) -> bool:
    """The unchanged-input rerun, with nothing heavy imported; False: take the full path
    (which also reports what made this one stop)."""
    from .datadir import Guard
    from .datadir import Refused as DataRefused
    from .fast_path import unchanged
    from .marker import expiry_due
    from .steps import Steps
    from .tree import read_marker

    try:
        guard = Guard(out, os.environ)  # the upgrade guard, on every start
    except DataRefused:
        return False
    if guard.warnings:
        return False
    steps = Steps()
    if not unchanged(out, os.environ, link_fixed, steps):
        return False
    guard.record()
    if expiry_due(read_marker(os.path.abspath(out))):
        _certificate_warnings(out, os.environ, steps)
    return True


def _rollback(args) -> int:
    from . import db_snapshot
    from .store import Store

    say = lambda line: print(f"harbor-setupwrapper: {line}", file=sys.stderr)  # noqa: E731
    store = Store(os.path.join(os.path.abspath(args.out), ".store"))
    try:
        if not os.path.isdir(args.database):
            raise db_snapshot.Refused(f"{args.database} is not a folder: mount the database "
                                      "volume there")
        if not os.path.isdir(store.root):
            raise db_snapshot.Refused(f"{store.root} is not a folder: mount the wrapper's "
                                      "volume at --out")
        action = db_snapshot.drop if args.drop else db_snapshot.rollback
        action(args.database, store, os.environ, say)
    except db_snapshot.Refused as err:
        say(f"refused, nothing was changed: {err}")
        return EXIT_REFUSED
    return 0


def main(argv: list[str] | None = None) -> int:
    """Every line printed goes through the masking rule (wrapper/masking.py)."""
    from . import masking

    _tolerant_output()
    masking.forget()
    streams = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = masking.MaskedStream(sys.stdout), masking.MaskedStream(sys.stderr)
    try:
        return _main(argv)
    finally:
        for masked in (sys.stdout, sys.stderr):
            masked.flush()
        sys.stdout, sys.stderr = streams


def _main(argv: list[str] | None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    plain = _plain_generate(argv)
    try:
        if plain and plain[0] and _fast_rerun(*plain):
            return 0
    except OSError as err:
        print(f"harbor-setupwrapper: cannot write: {err}", file=sys.stderr)
        return 1
    if plain:  # already parsed: argparse is not even imported
        from types import SimpleNamespace

        args = SimpleNamespace(command="generate", out=plain[0], link_fixed_paths=plain[1],
                               renew_ca=[])
    else:
        args = _parser().parse_args(argv)
    if args.command == "variables":
        from .docs import env_example, variables_table

        print(variables_table() if args.format == "markdown" else env_example(), end="")
        return 0
    if args.command == "renew":
        from .renew import main as renew

        return renew(args.out, args.link_fixed_paths, args.now, main)
    if args.command == "init-data":
        return _init_data(args.root)
    if args.command == "rollback":
        return _rollback(args)
    if args.command == "status":
        from .status import main as status

        return status(args.out, args.warning_days, args.json, os.environ, sys.stdout, sys.stderr)

    from .datadir import Refused
    from .settings import InvalidSettings
    from .tree import Refused as UnsafeFolder

    try:
        if args.command == "restore-keys":
            from .backup import backup_path, restore_keys

            for line in restore_keys(backup_path(args.backups, args.backup), args.out,
                                     args.storage or None, os.geteuid() == 0):
                print(f"harbor-setupwrapper: restored {line}", file=sys.stderr)
            return 0
        if args.command == "generate":
            from .datadir import Guard
            from .generate import Steps, TokenKeyInAdvance, generate, unchanged
            from .validation import output_folder_problem

            problem = output_folder_problem(args.out)
            if problem:
                print(f"harbor-setupwrapper: --out / HARBOR_SETUP_DIR: {problem}", file=sys.stderr)
                return EXIT_INVALID
            steps = Steps()
            guard = Guard(args.out, os.environ)  # the upgrade guard, on every start
            for warning in guard.warnings:
                steps.warn(warning)
            if not args.renew_ca and not plain and unchanged(args.out, os.environ,
                                                             args.link_fixed_paths, steps):
                guard.record()
                _certificate_warnings(args.out, os.environ, steps)
                return 0
            token_key = TokenKeyInAdvance(args.out)
            settings = _load()
            steps.done("settings", "valid")
            generate(args.out, settings, link_fixed=args.link_fixed_paths, steps=steps,
                     variables=os.environ, token_key=token_key,
                     renew_ca=tuple(dict.fromkeys(args.renew_ca)), data_volume=guard.data)
            guard.record()
            _certificate_warnings(args.out, os.environ, steps)
            return 0
        settings = _load()
    except InvalidSettings as err:
        if args.command == "show" and err.settings is not None:
            from .docs import show

            print(show(err.settings, include_off=args.all), end="")
            return _invalid(err, "shown as far as they could be read")
        return _invalid(err)
    except Refused as err:
        print("harbor-setupwrapper: refused, nothing was changed (no container has touched "
              "the data):", file=sys.stderr)
        for line in err.reasons:
            print(f"  {line}", file=sys.stderr)
        return EXIT_REFUSED
    except UnsafeFolder as err:
        print("harbor-setupwrapper: refusing the output folder, nothing was written:",
              file=sys.stderr)
        for line in err.problems:
            print(f"  {line}", file=sys.stderr)
        return EXIT_INVALID
    except OSError as err:
        print(f"harbor-setupwrapper: cannot write: {err}", file=sys.stderr)
        return 1
    if args.command == "check":
        for warning in settings.warnings:
            print(f"harbor-setupwrapper: warning: {warning}", file=sys.stderr)
        print("harbor-setupwrapper: settings are valid", file=sys.stderr)
        return 0
    from .docs import show

    print(show(settings, include_off=args.all), end="")
    return 0
