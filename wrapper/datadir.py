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
        if refusals:
            raise Refused(refusals)
        self.recorded = recorded

    def _read(self, item: str) -> str | None:
        value = self.store.read(item)
        return value.decode().strip() if value else None

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


def _read_file(path: str) -> bytes | None:
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except FileNotFoundError:
        return None


def adopt(store: Store, data: str | None) -> list[str]:
    """Seed the store with upstream's keys found under DATA (an official install moving
    in), byte for byte. Raises Refused when the store already holds different ones: the
    database's stored credentials are encrypted with one of the two secretkeys."""
    if not data:
        return []
    from . import pki

    adopted, refusals = [], []
    for item, relative in UPSTREAM_KEYS.items():
        path = os.path.join(data, relative)
        found = _read_file(path)
        if found is None:
            continue
        if item == "secretkey" and len(found) not in (16, 24, 32):
            refusals.append(f"{path} is {len(found)} bytes: Harbor's secretkey is 16 bytes "
                            "(no newline). It encrypts the credentials in Harbor's database: "
                            "restore the original file.")
            continue
        if item == "token/private_key.pem":
            try:
                pki.load_key(found)
            except (ValueError, TypeError):
                refusals.append(f"{path} is not a readable PEM private key (Harbor's token "
                                "signing key): restore the original file.")
                continue
        value, created = store.get_or_create(item, lambda: found)
        if value != found and item != "token/root.crt":  # the certificate is derived
            refusals.append(
                f"{path} differs from {store.path(item)}: this data folder and the wrapper's "
                f"store hold different keys. Keep the one the database was made with: to adopt "
                f"{path}, move {store.path(item)} away (a backup holds it too); to keep the "
                f"store's, move {path} away.")
        elif created:
            adopted.append(relative)
    if refusals:
        raise Refused(refusals)
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
