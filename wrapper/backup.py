"""Restore, first step: a backup's key store and registry data into an empty deployment.

The backup itself is written by entrypoints/backup.sh in the harbor-db image (pg_dump is the
database's own tool); the database goes back with entrypoints/restore-database.sh once the
wrapper has generated from the restored store. Both run as compose/docker-compose.backup.yml
says.

A backup is a folder someone hands over: everything in it is checked before anything is
written (names, links, file types, every key item's shape, the pairs that must come from one
install), and a refusal names the file and leaves the target as it was. The copy then reads
each file with O_NOFOLLOW (a file swapped for a link after the check is refused, not
followed), writes into a temporary folder inside the target and renames at the end; as root,
every file and folder is handed to the registry's user as it is made, so that no root-owned
blob is left even when the registry folder's top is already right (init-data then touches
nothing below it).
"""

from __future__ import annotations

import errno
import os
import re
import stat

from .context import HARBOR_UID
from .datadir import LAYOUT_ITEM, Refused, version_tuple

STORE = ".store"
# Store items a backup must hold (keys.py makes each on the first run).
REQUIRED = ("secretkey", "core_secret", "jobservice_secret", "csrf_key", "registry_http_secret",
            "robot_prefix", "registry_password", "registry_htpasswd", "token/private_key.pem")
# Items a backup may hold besides: top-level names, and the folders of certificate and data
# items (a new store item belongs here, or restores of backups that hold it are refused).
OPTIONAL = ("database_password", "fingerprint.key", "token/root.crt")
FOLDERS = ("https", "internal", "data", "token", "acme")
_ITEM_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,99}", re.ASCII)
_PRINTABLE = re.compile(rb"[!-~]+")
_KINDS = {stat.S_IFLNK: "a symbolic link", stat.S_IFIFO: "a FIFO", stat.S_IFSOCK: "a socket",
          stat.S_IFCHR: "a character device", stat.S_IFBLK: "a block device"}
_READ_LIMIT = 1024 * 1024  # any store item is far below


def backup_path(backups: str, name: str) -> str:
    """The backup's folder: a plain name under --backups, never a path out of it."""
    if not name or "/" in name or name in (".", "..") or "\0" in name:
        raise Refused([f"{name!r}: a backup is named by its folder under {backups} (such as "
                       "harbor-backup-20261123T101010Z), without / or .."])
    return os.path.join(backups, name)


def _is_empty(folder: str) -> bool:
    try:
        return not [e for e in os.listdir(folder) if e != "lost+found"]
    except FileNotFoundError:
        return True


def _kind(mode: int) -> str | None:
    """None for a regular file or a folder; else what it is."""
    if stat.S_ISREG(mode) or stat.S_ISDIR(mode):
        return None
    return _KINDS.get(stat.S_IFMT(mode), "not a regular file")


def _entries(top: str, refusals: list[str]):
    """(relative path, lstat) of everything under top, never following a link; a link or
    special file is a refusal naming it. Walks with scandir, one folder open at a time."""
    stack = [""]
    while stack:
        relative = stack.pop()
        folder = os.path.join(top, relative) if relative else top
        try:
            with os.scandir(folder) as scan:
                children = [(e.name, e.stat(follow_symlinks=False)) for e in scan]
        except OSError as err:
            refusals.append(f"{folder}: cannot be read ({err.strerror})")
            continue
        for name, st in sorted(children):
            path = os.path.join(relative, name) if relative else name
            kind = _kind(st.st_mode)
            if kind == "a symbolic link":
                target = os.readlink(os.path.join(top, path))
                refusals.append(f"{os.path.join(top, path)} is a symbolic link (to {target}): a "
                                "backup holds files and folders only")
                continue
            if kind:
                refusals.append(f"{os.path.join(top, path)} is {kind}: a backup holds files "
                                "and folders only")
                continue
            yield path, st
            if stat.S_ISDIR(st.st_mode):
                stack.append(path)


def _read(path: str) -> bytes:
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(0, "it is no longer a regular file")
        with os.fdopen(os.dup(fd), "rb") as handle:
            return handle.read(_READ_LIMIT + 1)
    finally:
        os.close(fd)


def _item_problem(name: str, data: bytes, items: dict[str, bytes]) -> str | None:
    """What is wrong with one store item's content (truncated, not its shape), or None."""
    from . import pki

    if not data:
        return "is empty (truncated?)"
    if len(data) > _READ_LIMIT:
        return "is larger than any key item (1 MiB)"
    if name == "secretkey":
        if len(data) not in (16, 24, 32):
            return (f"is {len(data)} bytes: Harbor's secretkey is 16 (no newline); truncated or "
                    "not a store's secretkey")
    elif name in ("core_secret", "jobservice_secret", "registry_http_secret",
                  "database_password", "robot_prefix"):
        if not _PRINTABLE.fullmatch(data) or (name != "robot_prefix" and len(data) < 8):
            return "is not 8 or more printable characters (truncated?)"
    elif name == "csrf_key":
        if len(data) != 32:
            return f"is {len(data)} bytes, not 32 (truncated?)"
    elif name == "registry_password":
        if not _PRINTABLE.fullmatch(data) or len(data) != 32:
            return f"is not 32 printable characters (truncated?)"
    elif name == "registry_htpasswd":
        import bcrypt

        user, _, hashed = data.rstrip(b"\n").partition(b":")
        if user != b"harbor_registry_user" or not hashed.startswith(b"$2"):
            return "is not an htpasswd line of harbor_registry_user (truncated?)"
        password = items.get("registry_password")
        try:
            if password and not bcrypt.checkpw(password, hashed):
                return "does not match registry_password: the two come from different installs"
        except ValueError:
            return "holds a malformed bcrypt hash (truncated?)"
    elif name == "fingerprint.key":
        if len(data) != 32:
            return f"is {len(data)} bytes, not 32 (truncated?)"
    elif name == "data/harbor-version":
        if version_tuple(data.decode("ascii", "replace")) is None:
            return "is not a Harbor version vX.Y.Z"
    elif name == "data/database-layout":
        if not re.fullmatch(rb"flat|pg\d{1,3}", data.strip()):
            return "is not a database layout (pgNN or flat)"
    elif name.endswith((".key", "private_key.pem")):
        try:
            pki.load_key(data)
        except (ValueError, TypeError):
            return "is not an unencrypted PEM private key (truncated?)"
    elif name.endswith((".crt", ".pem")):
        try:
            certs = pki.load_certs(data)
            if not certs:
                raise ValueError
            if name.endswith("ca.pem"):
                pki.load_key(data[:data.index(b"-----BEGIN CERTIFICATE-----")])
        except (ValueError, TypeError):
            return "is not PEM (truncated?)" if name.endswith(".crt") else \
                "is not a PEM key and certificate (truncated?)"
    return None


def _pairs(items: dict[str, bytes]) -> list[tuple[str, str]]:
    """(item, why) of pairs that must come from one install and do not."""
    from . import pki

    wrong = []

    def loads(name):
        try:
            return pki.load_certs(items[name])[0]
        except (KeyError, ValueError):
            return None

    if "token/root.crt" in items and "token/private_key.pem" in items:
        try:
            if not pki.key_matches(items["token/root.crt"], items["token/private_key.pem"]):
                wrong.append(("token/root.crt", "is not the certificate of "
                              "token/private_key.pem: the two come from different installs"))
        except (ValueError, TypeError):
            pass  # reported as malformed
    for folder in ("https", "internal"):
        ca = loads(f"{folder}/ca.pem")
        for name in sorted(items):
            if not (name.startswith(folder + "/") and name.endswith(".crt")):
                continue
            cert, key = loads(name), items.get(name[:-4] + ".key")
            if cert is None:
                continue
            try:
                if key is not None and not pki.key_matches(items[name], key):
                    wrong.append((name, f"is not the certificate of {name[:-4]}.key: the two "
                                        "come from different installs"))
                elif ca is not None:
                    cert.verify_directly_issued_by(ca)
            except (ValueError, TypeError, Exception):  # InvalidSignature is no ValueError
                wrong.append((name, f"was not issued by {folder}/ca.pem: the two come from "
                                    "different installs"))
    return wrong


def _check_store(source: str, refusals: list[str]) -> list[str]:
    """The store items to copy (relative paths of files); refusals for the rest."""
    files, items = [], {}
    if os.path.islink(source) or not os.path.isdir(source):
        what = "a symbolic link" if os.path.islink(source) else "missing or not a folder"
        refusals.append(f"{source} is {what}: a backup of harbor-setupwrapper holds its key "
                        "store there")
        return []
    for path, st in _entries(source, refusals):
        if stat.S_ISDIR(st.st_mode):
            if "/" in path or path not in FOLDERS:
                refusals.append(f"{os.path.join(source, path)} is not a folder of the wrapper's "
                                f"key store (those are {', '.join(FOLDERS)})")
            continue
        if ".tmp-" in path:
            continue  # a killed run's temporary file, never an item: not restored
        top = path.split("/", 1)[0]
        if not (path in REQUIRED or path in OPTIONAL or (
                top in FOLDERS and path.count("/") == 1
                and _ITEM_NAME.fullmatch(path.split("/")[1]))):
            refusals.append(f"{os.path.join(source, path)} is not an item of the wrapper's key "
                            "store: an extra file (from another tool, or a damaged backup)")
            continue
        try:
            items[path] = _read(os.path.join(source, path))
        except OSError as err:
            refusals.append(f"{os.path.join(source, path)}: cannot be read "
                            f"({err.strerror or err})")
            continue
        files.append(path)
    for name in REQUIRED:
        if name not in items and not any(r.startswith(os.path.join(source, name) + " ")
                                         or r.startswith(os.path.join(source, name) + ":")
                                         for r in refusals):
            refusals.append(f"{os.path.join(source, name)} is missing: every backup of the "
                            "wrapper holds it")
    for name in sorted(items):
        problem = _item_problem(name, items[name], items)
        if problem:
            refusals.append(f"{os.path.join(source, name)} {problem}")
    for name, why in _pairs(items):
        refusals.append(f"{os.path.join(source, name)} {why}")
    return files


def restore_keys(backup: str, out: str, storage: str | None, chown: bool) -> list[str]:
    """Copy BACKUP/store to OUT/.store and BACKUP/registry into STORAGE. Refuses (and
    changes nothing) unless the backup is whole and both targets are empty: a restore never
    mixes two deployments."""
    source = os.path.join(backup, "store")
    target = os.path.join(out, STORE)
    registry = os.path.join(backup, "registry")
    refusals: list[str] = []
    if os.path.islink(backup) or not os.path.isdir(backup):
        raise Refused([f"{backup} is not a backup of harbor-setupwrapper: "
                       + ("a symbolic link" if os.path.islink(backup) else "no such folder")])
    if not os.path.lexists(os.path.join(source, "secretkey")):
        refusals.append(f"{backup} is not a backup of harbor-setupwrapper: {source}/secretkey "
                        "is missing")
        store_files = []
    else:
        store_files = _check_store(source, refusals)
    if os.path.islink(target) or (os.path.lexists(target) and not os.path.isdir(target)):
        refusals.append(f"{target} is a link or a file: the key store is a folder")
    elif not _is_empty(target):
        refusals.append(
            f"{target} already holds keys: a restore goes into an empty deployment, or its keys "
            "would not match the database. Remove the deployment first (named volumes: docker "
            "compose down -v; a host folder: an empty HARBOR_DATA_VOLUME).")
    registry_entries: list[tuple[str, int]] = []  # (path, mode): small, even for 200,000
    if storage and os.path.lexists(registry):
        if os.path.islink(registry) or not os.path.isdir(registry):
            refusals.append(f"{registry} is a symbolic link or not a folder: a backup holds the "
                            "registry's data as a folder")
        else:
            registry_entries = [(p, st.st_mode) for p, st in _entries(registry, refusals)]
            if os.path.islink(storage):
                refusals.append(f"{storage} is a symbolic link: restore into the registry's "
                                "data folder itself")
            elif not _is_empty(storage):
                refusals.append(f"{storage} already holds registry data: restore into an empty "
                                "one.")
    if refusals:
        raise Refused(refusals)

    # the database comes back through pg_restore into a new cluster, not as the folder the
    # record names: the guard would refuse the empty database folder it finds first
    store_files = [f for f in store_files if f != LAYOUT_ITEM]
    # stage both, then put both in place: a failure while copying leaves the targets as they
    # were (the staging folders are removed)
    done = []
    os.makedirs(out, exist_ok=True)
    temp = f"{target}.restoring-{os.getpid()}"
    owner = (HARBOR_UID, HARBOR_UID) if chown else None
    staging = os.path.join(storage, f".restoring-{os.getpid()}") if storage else None
    try:
        folders = _folders_of(store_files)
        _copy(source, [(p, stat.S_IFDIR | 0o700) for p in folders]
              + [(p, stat.S_IFREG | 0o600) for p in store_files], temp, None)
        os.chmod(temp, 0o700)
        if staging and registry_entries:
            os.makedirs(storage, exist_ok=True)
            _copy(registry, registry_entries, staging, owner)
    except BaseException:
        _remove(temp)
        if staging:
            _remove(staging)
        raise
    if os.path.isdir(target):
        os.rmdir(target)  # empty, checked above
    os.rename(temp, target)
    done.append(f"key store -> {target}")
    if staging and registry_entries:
        for name in os.listdir(staging):
            os.rename(os.path.join(staging, name), os.path.join(storage, name))
        os.rmdir(staging)
        if owner:
            os.chown(storage, *owner, follow_symlinks=False)
        done.append(f"registry data -> {storage} ({len(registry_entries)} entries"
                    + (f", owned by {HARBOR_UID}:{HARBOR_UID})" if owner else ")"))
    return done


def _folders_of(files: list[str]) -> list[str]:
    return sorted({f.split("/", 1)[0] for f in files if "/" in f})


def _copy(source: str, entries, dest: str, owner) -> None:
    """Folders and files ((relative path, mode), parents first) from source into a new dest;
    each file read without following links; each entry owned by `owner` as it is made."""
    os.mkdir(dest, 0o700)
    if owner:
        os.chown(dest, *owner, follow_symlinks=False)
    for path, mode in entries:
        into = os.path.join(dest, path)
        if stat.S_ISDIR(mode):
            os.mkdir(into, 0o700)
            if owner:
                os.chown(into, *owner, follow_symlinks=False)
            os.chmod(into, stat.S_IMODE(mode) | 0o700)
            continue
        try:
            src = os.open(os.path.join(source, path),
                          os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
        except OSError as err:
            if err.errno == errno.ELOOP:
                raise Refused([f"{os.path.join(source, path)} changed into a link while it was "
                               "restored: nothing was restored"]) from None
            raise
        try:
            if not stat.S_ISREG(os.fstat(src).st_mode):
                raise Refused([f"{os.path.join(source, path)} changed into something else "
                               "than a file while it was restored: nothing was restored"])
            dst = os.open(into, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
                          | os.O_CLOEXEC, 0o600)
            try:
                if owner:
                    os.fchown(dst, *owner)
                while chunk := os.read(src, 1024 * 1024):
                    view = memoryview(chunk)
                    while view:
                        view = view[os.write(dst, view):]
                os.fchmod(dst, stat.S_IMODE(mode) & 0o777)
            finally:
                os.close(dst)
        finally:
            os.close(src)


def _remove(folder: str) -> None:
    import shutil

    shutil.rmtree(folder, ignore_errors=True)
