"""A snapshot of the database before the harbor-db image upgrades it, and the way back.

Harbor v2.15.2's database image, on a folder holding a `pg15` cluster and no `pg18`, runs
pg_upgrade into `pg18` and then deletes `pg15`. init-data (it sees the database folder in both
data modes, before PostgreSQL starts) first copies the old cluster beside it:

    DATABASE/snapshot-pg15/pg15/          the copy: owners, modes and times kept
    DATABASE/snapshot-pg15/SNAPSHOT.json  written last: what was copied (files, bytes), when,
                                          and the Harbor version that last ran on it
    DATABASE/snapshot-pg15.decision       init-data's decision on this upgrade of this cluster
                                          (snapshot, declined or refused), replaced atomically

and records the same facts in the wrapper's store (`data/db-snapshot`), where `status` reads
them. The postgresql shim (entrypoints/postgresql.sh) reads the snapshot and the decision: with
an upgrade pending it starts the image's entrypoint only after a complete snapshot of this
cluster, or a decision to go without one while it is itself told
HARBOR_DATABASE_UPGRADE_SNAPSHOT=false; a refusal keeps it waiting. That holds on every target,
whatever the start order (Swarm and Rancher have none). `rollback` puts the copy back as
`pg15`, removes `pg18` and sets the recorded Harbor version back; `rollback --drop` deletes the
snapshot. HARBOR_DATABASE_UPGRADE_SNAPSHOT=false turns the snapshot off.
"""

from __future__ import annotations

import datetime
import json
import os
import shutil
import struct

from . import HARBOR_VERSION, fs
from .datadir import LAYOUT_ITEM, PREVIOUS_VERSION_ITEM, TAG_VARIABLE, VERSION_ITEM, db_image_for
from .store import Store

VARIABLE = "HARBOR_DATABASE_UPGRADE_SNAPSHOT"
STORE_ITEM = "data/db-snapshot"
MARKER = "SNAPSHOT.json"
DROP_COMMAND = "harbor-setupwrapper rollback --drop"
ROLLBACK_COMMAND = "harbor-setupwrapper rollback"
# pg_upgrade (copy mode) writes the new cluster as large as the old one: room for both
ROOM_FACTOR = 2
# the decision record, beside the snapshot in the database folder's top (upstream's entrypoint
# reads only PG_VERSION, pg<old> and pg<new> there; initdb and pg_upgrade work inside those):
# KEY=value lines, which the shim reads with sh. Written by init-data (root), mode 0644: the
# shim runs as the database image's user (999) and only reads
DECISION_SUFFIX = ".decision"
SNAPSHOT, DECLINED, REFUSED = "snapshot", "declined", "refused"
# the snapshot's top folder: root's, and searchable by the database user, whose shim checks
# SNAPSHOT.json and the copy's pg_control; it cannot add or remove entries there
SNAPSHOT_MODE = 0o711


class Refused(Exception):
    """Nothing was changed (but the decision record, which says so)."""


def clusters_for(variables) -> tuple[int, int]:
    """(old, new) majors of the harbor-db image that will start: pg<old> is upgraded."""
    tag = (variables.get(TAG_VARIABLE) or "").strip() or HARBOR_VERSION
    image = db_image_for(tag) or db_image_for(HARBOR_VERSION)
    return image[0], image[1]


def enabled(variables) -> bool:
    value = (variables.get(VARIABLE) or "true").strip().lower()
    if value in ("true", "1", "yes"):
        return True
    if value in ("false", "0", "no"):
        return False
    raise Refused(f"{VARIABLE}={value!r}: accepted: true, false, 1, 0, yes or no")


def _has_cluster(path: str) -> bool:
    return os.path.isfile(os.path.join(path, "PG_VERSION"))


def _nonempty(path: str) -> bool:
    """sh's `test -s`: exists (links followed) and is larger than 0 bytes."""
    try:
        return os.stat(path).st_size > 0
    except OSError:
        return False


def upgrade_pending(database: str, old: int, new: int) -> bool:
    """What the harbor-db image's entrypoint tests before it runs pg_upgrade (v2.15.2's
    make/photon/db/docker-entrypoint.sh, `test -s` each time): no PG_VERSION at the top (a 9.6
    cluster, refused), none in pg<new>, one in pg<old>. The shim tests the same."""
    return (not _nonempty(os.path.join(database, "PG_VERSION"))
            and not _nonempty(os.path.join(database, f"pg{new}", "PG_VERSION"))
            and _nonempty(os.path.join(database, f"pg{old}", "PG_VERSION")))


def system_identifier(cluster: str) -> str:
    """The cluster's identity, as pg_controldata prints it ("Database system identifier").

    A decision is tied to this, not to PG_VERSION: PG_VERSION says only "15", the same in every
    PostgreSQL 15 cluster, so a record left by an earlier cluster (a restore, another volume's
    content) would pass for this one's. The system identifier is set once by initdb (from the
    time and the pid), never changed afterwards, kept by a copy or move of the cluster and
    different for any other; it is the first field of global/pg_control (a uint64 in the
    machine's byte order). Not the file's checksum or time (each checkpoint rewrites it), nor
    an inode (a restore or a migration changes it). Raises OSError or ValueError."""
    with open(os.path.join(cluster, "global", "pg_control"), "rb") as handle:
        head = handle.read(8)
    if len(head) != 8:
        raise ValueError(f"{cluster}/global/pg_control is shorter than 8 bytes")
    return str(struct.unpack("=Q", head)[0])


def decision_path(database: str, old: int) -> str:
    return snapshot_path(database, old) + DECISION_SUFFIX


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def write_decision(database: str, old: int, new: int, identity: str, decision: str,
                   message: str) -> None:
    """Replace the decision record atomically: a new file beside it, synced, renamed over it
    (the shim reads the old record or the new one, never a part)."""
    lines = [
        "# harbor-setupwrapper init-data: its decision on the PostgreSQL upgrade of this cluster",
        f"decision={decision}",
        f"cluster=pg{old}",
        f"upgrade_to=pg{new}",
        f"system_identifier={identity}",
        "decided=" + datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        f"message={_one_line(message)}",
    ]
    target = decision_path(database, old)
    temp = os.path.join(database, "." + os.path.basename(target) + ".tmp")
    if os.path.lexists(temp):
        fs.unlink(temp)  # an earlier run cut short (or anything planted there)
    fs.create(temp, ("\n".join(lines) + "\n").encode(), 0o644)
    fs.replace(temp, target)
    fs.fsync_dir(database)


def read_decision(database: str, old: int) -> dict | None:
    """The decision record as a dict (None: none, or unreadable)."""
    try:
        with open(decision_path(database, old), encoding="utf-8") as handle:
            text = handle.read(64 * 1024)
    except (OSError, ValueError):
        return None
    return dict(line.split("=", 1) for line in text.splitlines()
                if "=" in line and not line.startswith("#"))


def measure(path: str) -> tuple[int, int]:
    """(entries, bytes) below path, links not followed."""
    entries = size = 0
    for folder, dirs, files in os.walk(path):
        for name in dirs + files:
            st = os.lstat(os.path.join(folder, name))
            entries += 1
            size += st.st_size
    return entries, size


def copy_tree(source: str, target: str) -> None:
    """Copy source to target (must not exist) with owners, modes and times."""
    def own(src_stat, dst):
        os.chown(dst, src_stat.st_uid, src_stat.st_gid, follow_symlinks=False)

    st = os.lstat(source)
    os.mkdir(target, 0o700)
    for name in sorted(os.listdir(source)):
        src, dst = os.path.join(source, name), os.path.join(target, name)
        entry = os.lstat(src)
        if os.path.islink(src):
            os.symlink(os.readlink(src), dst)
            own(entry, dst)
            os.utime(dst, ns=(entry.st_atime_ns, entry.st_mtime_ns), follow_symlinks=False)
        elif os.path.isdir(src):
            copy_tree(src, dst)
        else:
            shutil.copy2(src, dst, follow_symlinks=False)
            own(entry, dst)
            os.chmod(dst, entry.st_mode & 0o7777)
    own(st, target)
    os.chmod(target, st.st_mode & 0o7777)
    os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns))


def mib(n: int) -> str:
    return f"{n / 2 ** 20:.1f} MiB"


def snapshot_path(database: str, old: int) -> str:
    return os.path.join(database, f"snapshot-pg{old}")


def take(database: str, store: Store | None, variables, say, free_bytes=None) -> str | None:
    """Before an upgrade: copy pg<old> into snapshot-pg<old>. Returns what was done, or None
    when no upgrade is pending. Raises Refused (no data changed) when there is no room, the
    variable is not a boolean, the cluster has no identity or the copy fails. Every decision
    (snapshot taken or kept, declined, refused) is written to the decision record."""
    old, new = clusters_for(variables)
    if not upgrade_pending(database, old, new):
        return None
    cluster = os.path.join(database, f"pg{old}")

    def refused(identity: str, message: str) -> Refused:
        try:
            write_decision(database, old, new, identity, REFUSED, message)
        except OSError:
            pass  # no record: the shim waits all the same, only without the reason
        return Refused(message)

    try:
        identity = system_identifier(cluster)
    except (OSError, ValueError) as err:
        raise refused("", f"{cluster} has PG_VERSION but no readable global/pg_control ({err}): "
                          "it is not a complete PostgreSQL cluster, and the upgrade would fail "
                          "on it. Restore the database from a backup (README: Day 2).") from None
    try:
        decision, done = _decide(database, cluster, identity, store, variables, say,
                                 free_bytes, old, new)
    except Refused as err:
        raise refused(identity, str(err)) from None
    except OSError as err:
        raise refused(identity, f"the database snapshot before the upgrade failed: {err}; "
                                f"PostgreSQL does not upgrade without it (set {VARIABLE}=false "
                                "to upgrade without one)") from err
    write_decision(database, old, new, identity, decision, done)
    return done


def _decide(database, cluster, identity, store, variables, say, free_bytes, old, new):
    """(decision, what was done) for a pending upgrade of cluster; raises Refused or OSError."""
    target = snapshot_path(database, old)
    if not enabled(variables):
        return DECLINED, (f"PostgreSQL {old} -> {new} upgrade pending, no snapshot ({VARIABLE}="
                          f"false): the image deletes pg{old} once the upgrade succeeds")
    if os.path.isfile(os.path.join(target, MARKER)):
        try:
            kept = system_identifier(os.path.join(target, f"pg{old}"))
        except (OSError, ValueError):
            kept = "unreadable"
        if kept != identity:
            raise Refused(
                f"{target} holds a snapshot of another PostgreSQL cluster (system identifier "
                f"{kept}; {cluster} is {identity}): it would not bring this one back, and a new "
                f"snapshot cannot take its place. Move it off the volume or delete it "
                f"({DROP_COMMAND}), then start again; or set {VARIABLE}=false to upgrade "
                "without a snapshot (back up first: README, Day 2).")
        os.chmod(target, SNAPSHOT_MODE)  # one taken before the shim checked it was 0700
        return SNAPSHOT, f"snapshot {target} kept (taken before an earlier attempt of this upgrade)"
    partial = target + ".partial"
    if os.path.lexists(partial):
        shutil.rmtree(partial)  # a run that was cut short
    entries, size = measure(cluster)
    if free_bytes is None:
        fs_stat = os.statvfs(database)
        free_bytes = fs_stat.f_bavail * fs_stat.f_frsize
    if free_bytes < ROOM_FACTOR * size:
        raise Refused(
            f"{database}: the PostgreSQL {old} cluster is {mib(size)}; its snapshot needs "
            f"{mib(size)} and the upgrade to {new} another {mib(size)}, {mib(ROOM_FACTOR * size)} "
            f"in all, but {mib(free_bytes)} are free. Free some room (or grow the volume) and "
            f"start again; or set {VARIABLE}=false to upgrade without a snapshot (back up first: "
            "README, Day 2).")
    version = None
    if store is not None:
        # init-data may run before or after the setupwrapper's guard records this start's
        # version (named volumes: no order between them); the guard writes the version before
        # a change first, then the new one
        tag = (variables.get(TAG_VARIABLE) or "").strip() or HARBOR_VERSION
        current = store.read(VERSION_ITEM)
        if current and current.decode().strip() != tag:
            version = current.decode().strip()
        else:
            value = store.read(PREVIOUS_VERSION_ITEM) if current else None
            version = value.decode().strip() if value else None
    os.mkdir(partial, 0o700)
    copy_tree(cluster, os.path.join(partial, f"pg{old}"))
    record = {
        "cluster": f"pg{old}", "upgrade_to": f"pg{new}", "path": target,
        "taken": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "entries": entries + 1, "bytes": size, "harbor_version": version,
        "system_identifier": identity,
    }
    body = (json.dumps(record, indent=2) + "\n").encode()
    with open(os.path.join(partial, MARKER), "wb") as handle:
        handle.write(body)
        handle.flush()
        os.fsync(handle.fileno())
    os.chmod(partial, SNAPSHOT_MODE)
    os.rename(partial, target)  # SNAPSHOT.json appears with the complete copy, never before
    if store is not None and os.path.isdir(store.root):
        store.replace(STORE_ITEM, body)
    say(f"snapshot of pg{old} ({mib(size)}) in {target} before the upgrade to PostgreSQL "
        f"{new}; undo the upgrade: {ROLLBACK_COMMAND}; drop it: {DROP_COMMAND}")
    return SNAPSHOT, f"snapshot {target} taken"


def before_upgrade(root: str, say, variables=None) -> list[str]:
    """init-data's step: the snapshot when a start would upgrade root/database. Returns the
    problems (empty: done or nothing to do)."""
    variables = os.environ if variables is None else variables
    out = variables.get("HARBOR_SETUP_DIR") or "/harbor-setup"
    store_root = os.path.join(out, ".store")
    store = Store(store_root) if os.path.isdir(store_root) else None
    try:
        done = take(os.path.join(root, "database"), store, variables, say)
    except Refused as err:
        return [str(err)]
    except OSError as err:
        return [f"the database snapshot before the upgrade failed: {err}; PostgreSQL does not "
                f"upgrade without it (set {VARIABLE}=false to upgrade without one)"]
    if done:
        say(f"harbor-setupwrapper: data database: {done}")
    return []


def read_record(path: str) -> dict | None:
    try:
        with open(path, "rb") as handle:
            record = json.loads(handle.read())
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None


def status_entry(store_root: str, now: datetime.datetime | None = None) -> dict | None:
    """What `status` shows of the snapshot (from the store's record), or None."""
    record = read_record(os.path.join(store_root, STORE_ITEM))
    if record is None:
        return None
    now = now or datetime.datetime.now(datetime.timezone.utc)
    try:
        taken = datetime.datetime.fromisoformat(record["taken"])
        age = now - taken
        age_text = (f"{age.days} days" if age.days else
                    f"{int(age.total_seconds() // 3600)} hours, {int(age.total_seconds() % 3600 // 60)} minutes")
    except (KeyError, ValueError, TypeError):
        age_text = "unknown"
    return {"path": record.get("path"), "cluster": record.get("cluster"),
            "bytes": record.get("bytes"), "size": mib(int(record.get("bytes") or 0)),
            "taken": record.get("taken"), "age": age_text,
            "harbor_version": record.get("harbor_version"),
            "rollback": ROLLBACK_COMMAND, "drop": DROP_COMMAND}


def _complete(target: str, record: dict | None) -> str | None:
    """Why the snapshot cannot be put back (None: it can)."""
    if record is None:
        return f"{target}/{MARKER} is missing or unreadable: the snapshot was not finished"
    cluster = os.path.join(target, record.get("cluster", "?"))
    if not _has_cluster(cluster):
        return f"{cluster} has no PG_VERSION"
    entries, size = measure(cluster)
    if (entries + 1, size) != (record.get("entries"), record.get("bytes")):
        return (f"{cluster} holds {entries + 1} entries, {size} bytes; the snapshot recorded "
                f"{record.get('entries')} entries, {record.get('bytes')} bytes")
    return None


def rollback(database: str, store: Store, variables, say) -> None:
    """Put the snapshot back as pg<old>, remove pg<new>, set the recorded version back."""
    old, new = clusters_for(variables)
    target = snapshot_path(database, old)
    if not os.path.isdir(target):
        raise Refused(f"no snapshot in {target}: nothing to roll back to (it is taken when a "
                      f"start upgrades pg{old} to pg{new}, unless {VARIABLE}=false)")
    record = read_record(os.path.join(target, MARKER))
    problem = _complete(target, record)
    if problem:
        raise Refused(f"the snapshot is incomplete, nothing was changed: {problem}")
    old_dir = os.path.join(database, f"pg{old}")
    new_dir = os.path.join(database, f"pg{new}")
    if os.path.lexists(old_dir):
        raise Refused(f"{old_dir} exists: the upgrade did not complete, there is nothing to "
                      f"roll back (drop the snapshot with {DROP_COMMAND} once Harbor runs)")
    if os.path.exists(os.path.join(new_dir, "postmaster.pid")):
        raise Refused(f"{new_dir}/postmaster.pid exists: PostgreSQL is running (or was killed) "
                      "on the upgraded cluster. Stop Harbor first (docker compose stop), then "
                      "run the rollback again.")
    os.rename(os.path.join(target, record["cluster"]), old_dir)
    if os.path.lexists(new_dir):
        doomed = os.path.join(database, f".pg{new}.rolled-back")
        os.rename(new_dir, doomed)
        shutil.rmtree(doomed)
    version = record.get("harbor_version")
    if version:
        store.replace(VERSION_ITEM, version.encode())
    elif os.path.lexists(store.path(VERSION_ITEM)):
        os.unlink(store.path(VERSION_ITEM))
    if store.read(LAYOUT_ITEM):
        store.replace(LAYOUT_ITEM, f"pg{old}".encode())
    _forget(store, target)
    say(f"rolled back: {old_dir} is the snapshot taken {record.get('taken')}, pg{new} removed, "
        f"recorded Harbor version {version or 'none (unknown before the upgrade)'}. Start the "
        f"Harbor release that ran on it (HARBOR_IMAGE_TAG={version or '...'}); starting "
        f"{HARBOR_VERSION} upgrades it again.")


def drop(database: str, store: Store, variables, say) -> None:
    old, _ = clusters_for(variables)
    target = snapshot_path(database, old)
    if not os.path.lexists(target) and not os.path.lexists(target + ".partial"):
        _forget(store, target)
        raise Refused(f"no snapshot in {target}")
    _forget(store, target)
    say(f"dropped the snapshot {target}")


def _forget(store: Store, target: str) -> None:
    for path in (target, target + ".partial"):
        if os.path.lexists(path):
            shutil.rmtree(path)
    decision = target + DECISION_SUFFIX  # it named this snapshot: the next start decides again
    if os.path.lexists(decision):
        os.unlink(decision)
    if os.path.lexists(store.path(STORE_ITEM)):
        os.unlink(store.path(STORE_ITEM))
