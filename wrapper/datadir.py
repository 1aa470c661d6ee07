"""Harbor's data in a host folder (HARBOR_DATA_VOLUME), in upstream's layout.

    DATA/secret/keys/secretkey, secret/core/private_key.pem, secret/registry/root.crt
                         upstream's keys: adopted byte for byte when present, written when not
    DATA/harbor-setup/   the wrapper's DIR (its key store .store/ and generations), next to secret/
    DATA/database/pgNN/  PostgreSQL, DATA/registry/, DATA/redis/, DATA/job_logs/, ...

Also the upgrade guard: the store records which Harbor version (image tag) and which
database layout last ran on the data, and a change that would lose data or cannot work is
refused before any container starts. The guard reads one small file and lists one folder:
it runs on every start, the fast path included.
"""

from __future__ import annotations

import os
import re

from . import HARBOR_VERSION
from .store import Store

VARIABLE = "HARBOR_DATA_VOLUME"
TAG_VARIABLE = "HARBOR_IMAGE_TAG"
VERSION_ITEM = "data/harbor-version"
LAYOUT_ITEM = "data/database-layout"
PREVIOUS_VERSION_ITEM = "data/harbor-version-before"
DATABASE = "database"
# store item -> upstream's file under DATA (prepare: 10000:10000 0600, folders root 0755)
UPSTREAM_KEYS = {
    "secretkey": "secret/keys/secretkey",
    "token/private_key.pem": "secret/core/private_key.pem",
    "token/root.crt": "secret/registry/root.crt",
}
# Which PostgreSQL cluster each harbor-db image starts (its entrypoint's "<old> <new>"): it
# runs pg<new>, upgrades pg<old> to it, and anything else it leaves aside and initdb's an
# empty pg<new>. Newest first: (first Harbor version, old, new, last version with it).
DB_IMAGES = (
    ((2, 15, 2), 15, 18, None),
    ((2, 13, 0), 14, 15, "v2.15.1"),
)
BACKUP_HINT = "Back up first (README: Day 2, backup)."
_DAMAGED = ("Restore the store from a backup (README: Day 2, restore), or delete the file "
            "when you know the data is right for this version: the guard then records the "
            "current one.")


_RECORD = {VERSION_ITEM: re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}"),
           LAYOUT_ITEM: re.compile(r"flat|pg\d{1,3}")}
_KEY_LIMIT = 64 * 1024


class Unsafe(Exception):
    """A file handed over that the wrapper does not read: why, worded after its path."""


def read_inside(top: str, relative: str, limit: int = _KEY_LIMIT) -> bytes | None:
    """TOP/RELATIVE's bytes, None when absent. Every folder below TOP is opened without
    following links, the file too, non-blocking, and it must be a regular file of at most
    `limit` bytes: a link out of the folder, a FIFO or an unreadable file is Unsafe."""
    import errno
    import stat

    parts = relative.split("/")
    try:
        fd = os.open(top, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    try:
        for index, part in enumerate(parts):
            last = index == len(parts) - 1
            flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | (
                os.O_NONBLOCK if last else os.O_DIRECTORY)
            try:
                child = os.open(part, flags, dir_fd=fd)
            except FileNotFoundError:
                return None
            except OSError as err:
                where = os.path.join(top, *parts[:index + 1])
                if err.errno == errno.ELOOP or (err.errno == errno.ENOTDIR and os.path.islink(
                        where)):
                    raise Unsafe(f"is a symbolic link (to {os.readlink(where)}): the wrapper "
                                 "reads these files only inside the folder, never through a "
                                 "link; put the file itself there") from None
                if err.errno == errno.ENOTDIR:
                    raise Unsafe(f"cannot be read: {where} is not a folder") from None
                raise Unsafe(f"cannot be read ({err.strerror})") from None
            os.close(fd)
            fd = child
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise Unsafe("is not a regular file")
        try:
            with os.fdopen(os.dup(fd), "rb") as handle:
                data = handle.read(limit + 1)
        except OSError as err:
            raise Unsafe(f"cannot be read ({err.strerror})") from None
        if len(data) > limit:
            raise Unsafe(f"is larger than {limit // 1024} KiB, far more than such a file holds")
        return data
    finally:
        os.close(fd)


class Refused(Exception):
    """A data transition that would lose data or cannot work. Nothing was changed."""

    def __init__(self, reasons: list[str]):
        super().__init__("; ".join(reasons))
        self.reasons = reasons


def version_tuple(tag: str) -> tuple[int, int, int] | None:
    match = re.fullmatch(r"v?(\d+)\.(\d+)\.(\d+)([-+][0-9A-Za-z.-]+)?", tag.strip())
    return tuple(int(x) for x in match.groups()[:3]) if match else None


def db_image_for(tag: str):
    """(old, new, last version) of the harbor-db image of that Harbor version, or None."""
    version = version_tuple(tag)
    if version is None:
        return None
    for first, old, new, last in DB_IMAGES:
        if version >= first:
            return old, new, last
    return None


def database_layout(database: str) -> list[str]:
    """The clusters in a harbor-db data folder: "pg15", "pg18", ... or "flat" (9.6)."""
    try:
        entries = os.listdir(database)
    except (FileNotFoundError, NotADirectoryError):
        return []
    found = ["flat"] if "PG_VERSION" in entries else []
    found += sorted((e for e in entries if re.fullmatch(r"pg\d+", e)
                     and os.path.isfile(os.path.join(database, e, "PG_VERSION"))),
                    key=lambda e: int(e[2:]))
    return found


def layout_refusals(data: str, tag: str, layout: list[str]) -> list[str]:
    """Why the harbor-db image of `tag` cannot start on this database folder."""
    image = db_image_for(tag)
    if image is None or not layout:
        return []
    old, new, _ = image
    where = os.path.join(data, DATABASE)
    if "flat" in layout:
        return [f"{where} holds a PostgreSQL 9.6 cluster in the flat layout of old Harbor "
                f"releases (PG_VERSION at its top): Harbor {tag}'s database image refuses it. "
                "Upgrade that installation with the official installer's releases first. "
                + BACKUP_HINT]
    majors = [int(e[2:]) for e in layout]
    if new in majors or old in majors:
        return []
    newest = max(majors)
    if newest > new:
        return [f"{where}/pg{newest} is a PostgreSQL {newest} cluster, newer than the pg{new} "
                f"of Harbor {tag}: this data ran with a newer Harbor, and a downgrade cannot "
                "work (its database image would start an empty database beside yours). Set "
                f"{TAG_VARIABLE} to the version that last ran on it, or restore the backup "
                "taken before that upgrade."]
    via = next((last for _, o, _, last in DB_IMAGES if o == newest and last), None)
    step = (f"run Harbor {via} once on this data ({TAG_VARIABLE}={via}: its database image "
            f"upgrades pg{newest}), then {tag}" if via else
            f"run the Harbor release whose database image upgrades pg{newest} once on it, "
            f"then {tag}")
    return [f"{where}/pg{newest} is a PostgreSQL {newest} cluster: Harbor {tag}'s database "
            f"image upgrades only pg{old} to pg{new}; it would leave pg{newest} aside and start "
            f"an empty database. Back up the folder first (README: Day 2, backup), then "
            f"{step}."]


def version_refusals(recorded: str | None, tag: str, store_item: str) -> tuple[list[str], list[str]]:
    """(refusals, warnings) of a change from the recorded Harbor version to `tag`."""
    if not recorded or recorded == tag:
        return [], []
    before, after = version_tuple(recorded), version_tuple(tag)
    if before is None or after is None:
        return [], [f"{TAG_VARIABLE} changes from {recorded} to {tag}, which are not both "
                    "versions vX.Y.Z: the upgrade guard cannot compare them. " + BACKUP_HINT]
    if after < before:
        return [f"{TAG_VARIABLE}={tag}, but this data was last run by Harbor {recorded}: a "
                "downgrade cannot work (Harbor migrated its database forward on the first start "
                f"of {recorded}). Set {TAG_VARIABLE}={recorded} again, or restore the backup "
                f"taken before the upgrade to {recorded} (it holds its own record; README: "
                f"Day 2, restore). The record is {store_item}."], []
    return [], [f"Harbor {recorded} -> {tag} on this data: Harbor migrates its database on "
                "the first start and there is no way back but a backup taken before. "
                + BACKUP_HINT]


class Guard:
    """Checks at construction (raises Refused); record() after a successful run."""

    def __init__(self, out: str, variables):
        self.store = Store(os.path.join(os.path.abspath(out), ".store"))
        self.tag = (variables.get(TAG_VARIABLE) or "").strip() or HARBOR_VERSION
        self.data = variables.get(VARIABLE) or None
        self.warnings: list[str] = []
        refusals: list[str] = []
        if self.data is not None and not os.path.isdir(self.data):
            raise Refused([f"{VARIABLE}: {self.data} is not a folder here. With compose, add "
                           "-f compose/docker-compose.hostdata.yml: it mounts that host folder "
                           "(create it first). The Swarm stack and the Rancher items keep their "
                           "data in their own volumes: leave it unset there."])
        recorded = self._read(VERSION_ITEM)
        more, self.warnings = version_refusals(recorded, self.tag, self.store.path(VERSION_ITEM))
        refusals += more
        self.layout = None
        if self.data is not None:
            found = database_layout(os.path.join(self.data, DATABASE))
            self.layout = found[-1] if found else None
            was = self._read(LAYOUT_ITEM)
            if was and was != "flat" and self.layout is None:
                refusals.append(
                    f"this data last ran with its database in "
                    f"{os.path.join(self.data, DATABASE, was)}, which is missing now: Harbor "
                    f"would start an empty database. Check {VARIABLE} (the right folder, "
                    "mounted?) or restore a backup (README: Day 2, restore). To start over with "
                    f"an empty database on purpose, delete {self.store.path(LAYOUT_ITEM)}.")
            refusals += layout_refusals(self.data, self.tag, found)
            refusals += adoption_refusals(self.store, self.data)[1]
        if refusals:
            raise Refused(refusals)
        self.recorded = recorded

    def _read(self, item: str) -> str | None:
        """A record, checked: garbage there is a damaged store, refused (never guessed)."""
        path = self.store.path(item)
        try:
            value = read_inside(self.store.root, item, 4096)
        except Unsafe as err:
            raise Refused([f"{path} {err}. " + _DAMAGED]) from None
        if not value:
            return None
        text = value.decode("ascii", "replace").strip()
        if not _RECORD[item].fullmatch(text):
            kind = ("a Harbor version (an image tag such as v2.15.2)" if item == VERSION_ITEM
                    else "a database layout (pgNN or flat)")
            raise Refused([f"{path} is not {kind}: the wrapper's store is damaged. "
                           + _DAMAGED])
        return text

    def record(self) -> None:
        """Remember the version and layout now on the data (a write only when they change)."""
        if not os.path.isdir(self.store.root):
            return
        if self.recorded != self.tag:
            if self.recorded:  # the database snapshot before an upgrade records it
                self.store.replace(PREVIOUS_VERSION_ITEM, self.recorded.encode())
            self.store.replace(VERSION_ITEM, self.tag.encode())
        if self.layout and self._read(LAYOUT_ITEM) != self.layout:
            self.store.replace(LAYOUT_ITEM, self.layout.encode())


def _key_problem_free(key_pem: bytes) -> bool:
    return _key_problem("token/private_key.pem", key_pem, {}) is None


def _key_type(key) -> str:
    from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519

    for kind, name in ((ec.EllipticCurvePrivateKey, "EC"), (ed25519.Ed25519PrivateKey,
                       "Ed25519"), (ed448.Ed448PrivateKey, "Ed448"), (dsa.DSAPrivateKey, "DSA")):
        if isinstance(key, kind):
            return name
    return "other"


def _key_problem(item: str, found: bytes, keys: dict[str, bytes]) -> str | None:
    """What is wrong with one of upstream's key files, worded after its path; None: fine."""
    from . import pki

    if item == "secretkey":
        if len(found) not in (16, 24, 32):
            return (f"is {len(found)} bytes: Harbor's secretkey is 16 bytes (no newline). It "
                    "encrypts the credentials in Harbor's database: restore the original file.")
        return None
    if item == "token/private_key.pem":
        try:
            key = pki.load_key(found)
        except TypeError:
            return ("is an encrypted private key: Harbor's token signing key is unencrypted "
                    "PEM (core reads it without a passphrase); restore the original file.")
        except ValueError:
            return ("is not a readable PEM private key (Harbor's token signing key): restore "
                    "the original file.")
        from cryptography.hazmat.primitives.asymmetric import rsa

        if not isinstance(key, rsa.RSAPrivateKey) or key.key_size < 2048:
            kind = (f"an RSA key of {key.key_size} bits" if isinstance(key, rsa.RSAPrivateKey)
                    else f"an {_key_type(key)} key")
            return (f"is {kind}: Harbor signs its tokens with RS256, an RSA key of 2048 bits "
                    "or more (upstream's prepare makes 4096); restore the original file.")
        return None
    # token/root.crt: the certificate of the token key that will be used
    try:
        certs = pki.load_certs(found)
        if not certs:
            raise ValueError
    except ValueError:
        return "is not a PEM certificate (the token key's, root.crt): restore the original file."
    key = keys.get("token/private_key.pem")
    try:
        if key is not None and _key_problem_free(key) and not pki.key_matches(found, key):
            return ("is not the certificate of the token key (secret/core/private_key.pem or "
                    "the store's): the registry would refuse every token. Restore the pair "
                    "from one install, or delete root.crt to have it made anew from the key.")
    except (ValueError, TypeError):
        return None  # the key is refused on its own
    return None


def adoption_refusals(store: Store, data: str | None) -> tuple[dict[str, bytes], list[str]]:
    """(upstream's key files found under DATA, why they cannot be adopted): every check
    before anything is written. The content checks run only for a file the store does not
    hold byte for byte already (adopted before: checked then), so the fast path stays light."""
    if not data:
        return {}, []
    found, refusals = {}, []
    for item, relative in UPSTREAM_KEYS.items():
        path = os.path.join(data, relative)
        try:
            value = read_inside(data, relative)
        except Unsafe as err:
            refusals.append(f"{path} {err}")
            continue
        if value is not None:
            found[item] = value
    keys = dict(found)
    if "token/private_key.pem" not in keys:
        try:
            stored = read_inside(store.root, "token/private_key.pem")
        except Unsafe:
            stored = None
        if stored:
            keys["token/private_key.pem"] = stored
    for item, value in found.items():
        path = os.path.join(data, UPSTREAM_KEYS[item])
        try:
            stored = read_inside(store.root, item)
        except Unsafe as err:
            refusals.append(f"{store.path(item)} {err}")
            continue
        if stored == value:
            continue
        problem = _key_problem(item, value, keys)
        if problem:
            refusals.append(f"{path} {problem}")
        elif stored and item != "token/root.crt":  # the certificate is derived
            refusals.append(
                f"{path} differs from {store.path(item)}: this data folder and the wrapper's "
                f"store hold different keys. Keep the one the database was made with: to adopt "
                f"{path}, move {store.path(item)} away (a backup holds it too); to keep the "
                f"store's, move {path} away.")
    return found, refusals


def adopt(store: Store, data: str | None) -> list[str]:
    """Seed the store with upstream's keys found under DATA (an official install moving
    in), byte for byte. Raises Refused when one cannot be adopted (the Guard has said so
    already, before anything was written) or the store already holds different ones: the
    database's stored credentials are encrypted with one of the two secretkeys."""
    found, refusals = adoption_refusals(store, data)
    if refusals:
        raise Refused(refusals)
    adopted = []
    for item, value in found.items():
        stored, created = store.get_or_create(item, lambda: value)
        if created:
            adopted.append(UPSTREAM_KEYS[item])
        elif stored != value and item != "token/root.crt":
            raise Refused([f"{os.path.join(data, UPSTREAM_KEYS[item])} differs from "
                           f"{store.path(item)}: written by another run meanwhile"])
    return adopted


def write_upstream_keys(store: Store, data: str | None, chown: bool) -> list[str]:
    """Upstream's key files under DATA, where missing, from the store: the folder stays in the
    official layout (and could go back to the official installer). Existing files are never
    touched."""
    from .context import HARBOR_UID  # not at the top: the guard runs on the fast path

    if not data:
        return []
    written = []
    for item, relative in UPSTREAM_KEYS.items():
        path = os.path.join(data, relative)
        value = store.read(item)
        if value is None or os.path.lexists(path):
            continue
        folder = os.path.dirname(path)
        os.makedirs(folder, mode=0o755, exist_ok=True)
        temp = f"{path}.tmp-{os.getpid()}"
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
        try:
            os.write(fd, value)
            if chown:
                os.fchown(fd, HARBOR_UID, HARBOR_UID)
            os.fchmod(fd, 0o600)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(temp, path)
        written.append(relative)
    return written
