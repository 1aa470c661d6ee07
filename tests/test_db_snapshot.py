"""The database snapshot before a PostgreSQL upgrade, and rollback (wrapper/db_snapshot.py).

The end-to-end proof with real PostgreSQL 15 and 18 is tests/e2e/test_upgrade.py; here the
file-level behaviour: when a snapshot is taken, what it keeps, when it is refused, and that a
refused rollback changes nothing.
"""

from __future__ import annotations

import io
import itertools
import json
import os
import shutil
import stat
import struct
import subprocess
from pathlib import Path

import pytest

from wrapper import db_snapshot, status
from wrapper.datadir import LAYOUT_ITEM, PREVIOUS_VERSION_ITEM, VERSION_ITEM, Guard
from wrapper.store import Store

V = {"HARBOR_IMAGE_TAG": "v2.15.2"}


def cluster(path, version="15", files=3, identity=None):
    """A cluster's files; global/pg_control starts with the system identifier (random: each
    cluster its own, as initdb makes it)."""
    path.mkdir(parents=True)
    (path / "PG_VERSION").write_text(f"{version}\n")
    (path / "global").mkdir(mode=0o700)
    head = struct.pack("=Q", identity) if identity is not None else os.urandom(8)
    (path / "global" / "pg_control").write_bytes(head + os.urandom(8184))
    (path / "base").mkdir(mode=0o700)
    for i in range(files):
        (path / "base" / f"{i}").write_bytes(os.urandom(100 + i))
    (path / "pg_hba.conf").write_text("host all all all scram-sha-256\n")
    (path / "pg_hba.conf").chmod(0o640)
    (path / "link").symlink_to("base/0")
    for entry in [path, *path.rglob("*")]:
        os.chown(entry, 999, 999, follow_symlinks=False)
    path.chmod(0o700)
    os.utime(path / "base" / "0", (1_000_000, 1_000_000))


def tree(path):
    """Everything below path: relative name -> (uid, gid, mode, size, mtime, link/content)."""
    out = {}
    for entry in sorted(path.rglob("*")):
        st = entry.lstat()
        if entry.is_symlink():
            body = os.readlink(entry)
        elif entry.is_file():
            body = entry.read_bytes()
        else:
            body = None
        out[str(entry.relative_to(path))] = (st.st_uid, st.st_gid, st.st_mode, st.st_size,
                                             int(st.st_mtime), body)
    return out


@pytest.fixture
def setup(tmp_path):
    database = tmp_path / "database"
    database.mkdir(mode=0o700)
    store = Store(str(tmp_path / "harbor-setup" / ".store"))
    os.makedirs(store.root)
    return database, store


def lines():
    said = []
    return said, said.append


# each PG_VERSION the image's entrypoint tests with `test -s`: absent, empty, or a version
@pytest.mark.parametrize("flat,old,new", list(itertools.product([None, "", "x"], repeat=3)))
def test_upgrade_pending_as_the_entrypoint_tests_it(tmp_path, flat, old, new):
    for where, content in (("", flat), ("pg15", old), ("pg18", new)):
        if content is not None:
            (tmp_path / where).mkdir(exist_ok=True)
            (tmp_path / where / "PG_VERSION").write_text(content)
    want = not flat and bool(old) and not new
    assert db_snapshot.upgrade_pending(str(tmp_path), 15, 18) == want


def test_snapshot_copies_the_cluster_with_owners_modes_and_times(setup):
    database, store = setup
    cluster(database / "pg15")
    store.replace(PREVIOUS_VERSION_ITEM, b"v2.14.4")
    store.replace(VERSION_ITEM, b"v2.15.2")
    said, say = lines()
    done = db_snapshot.take(str(database), store, V, say)
    snap = database / "snapshot-pg15"
    assert done == f"snapshot {snap} taken"
    assert tree(snap / "pg15") == tree(database / "pg15")
    st = (snap / "pg15").stat()
    assert (st.st_uid, st.st_gid, st.st_mode & 0o7777) == (999, 999, 0o700)
    record = json.loads((snap / "SNAPSHOT.json").read_text())
    assert record["harbor_version"] == "v2.14.4" and record["cluster"] == "pg15"
    assert json.loads(store.read(db_snapshot.STORE_ITEM)) == record
    assert "rollback --drop" in said[0]
    # the next start of the same pending upgrade keeps it
    assert "kept" in db_snapshot.take(str(database), store, V, say)


@pytest.mark.parametrize("recorded,previous,want", [
    (None, None, None),                     # a store that never recorded a version
    (b"v2.14.4", None, "v2.14.4"),          # init-data before the guard recorded v2.15.2
    (b"v2.15.2", b"v2.14.4", "v2.14.4"),    # init-data after it
    (b"v2.15.2", None, None),               # v2.15.2 recorded with nothing before it
])
def test_the_snapshot_records_the_version_before_this_start(setup, recorded, previous, want):
    database, store = setup
    cluster(database / "pg15")
    if recorded:
        store.replace(VERSION_ITEM, recorded)
    if previous:
        store.replace(PREVIOUS_VERSION_ITEM, previous)
    db_snapshot.take(str(database), store, V, print)
    assert json.loads(store.read(db_snapshot.STORE_ITEM))["harbor_version"] == want


def test_no_snapshot_when_nothing_would_be_upgraded(setup):
    database, store = setup
    cluster(database / "pg15")
    cluster(database / "pg18", "18")
    assert db_snapshot.take(str(database), store, V, print) is None
    assert sorted(os.listdir(database)) == ["pg15", "pg18"]


def test_the_variable_turns_it_off(setup):
    database, store = setup
    cluster(database / "pg15")
    done = db_snapshot.take(str(database), store, dict(V, HARBOR_DATABASE_UPGRADE_SNAPSHOT="no"),
                            print)
    assert "no snapshot" in done
    assert sorted(os.listdir(database)) == ["pg15", "snapshot-pg15.decision"]
    with pytest.raises(db_snapshot.Refused, match="HARBOR_DATABASE_UPGRADE_SNAPSHOT='maybe'"):
        db_snapshot.take(str(database), store, dict(V, HARBOR_DATABASE_UPGRADE_SNAPSHOT="maybe"),
                         print)


def test_refused_without_room_for_the_snapshot_and_the_upgrade(setup):
    database, store = setup
    cluster(database / "pg15")
    entries, size = db_snapshot.measure(str(database / "pg15"))
    with pytest.raises(db_snapshot.Refused) as err:
        db_snapshot.take(str(database), store, V, print, free_bytes=2 * size - 1)
    assert "in all, but" in str(err.value) and "HARBOR_DATABASE_UPGRADE_SNAPSHOT=false" in str(err.value)
    assert sorted(os.listdir(database)) == ["pg15", "snapshot-pg15.decision"]
    assert store.read(db_snapshot.STORE_ITEM) is None
    assert db_snapshot.take(str(database), store, V, print, free_bytes=2 * size)


def test_a_partial_snapshot_is_made_again(setup):
    database, store = setup
    cluster(database / "pg15")
    (database / "snapshot-pg15.partial" / "pg15").mkdir(parents=True)
    db_snapshot.take(str(database), store, V, print)
    assert sorted(os.listdir(database)) == ["pg15", "snapshot-pg15", "snapshot-pg15.decision"]
    assert tree(database / "snapshot-pg15" / "pg15") == tree(database / "pg15")


def upgraded(database, store):
    """The state after the image's upgrade: the snapshot, pg18, no pg15; version recorded."""
    cluster(database / "pg15")
    before = tree(database / "pg15")
    store.replace(PREVIOUS_VERSION_ITEM, b"v2.14.4")
    store.replace(VERSION_ITEM, b"v2.15.2")
    db_snapshot.take(str(database), store, V, print)
    for entry in sorted((database / "pg15").rglob("*"), reverse=True):
        entry.unlink() if entry.is_file() or entry.is_symlink() else entry.rmdir()
    (database / "pg15").rmdir()
    cluster(database / "pg18", "18")
    store.replace(VERSION_ITEM, b"v2.15.2")
    store.replace(LAYOUT_ITEM, b"pg18")
    return before


def test_rollback_puts_pg15_back_removes_pg18_and_sets_the_version_back(setup):
    database, store = setup
    before = upgraded(database, store)
    said, say = lines()
    db_snapshot.rollback(str(database), store, V, say)
    assert sorted(os.listdir(database)) == ["pg15"]
    assert tree(database / "pg15") == before
    assert store.read(VERSION_ITEM) == b"v2.14.4" and store.read(LAYOUT_ITEM) == b"pg15"
    assert store.read(db_snapshot.STORE_ITEM) is None
    assert "HARBOR_IMAGE_TAG=v2.14.4" in said[0]


def state(database, store):
    return tree(database), {n: store.read(n) for n in (VERSION_ITEM, LAYOUT_ITEM,
                                                        db_snapshot.STORE_ITEM)}


@pytest.mark.parametrize("damage,message", [
    ("no-snapshot", "no snapshot"),
    ("no-marker", "SNAPSHOT.json is missing"),
    ("file-missing", "the snapshot recorded"),
    ("file-shorter", "the snapshot recorded"),
    ("no-pg-version", "has no PG_VERSION"),
    ("pg15-exists", "the upgrade did not complete"),
    ("postgres-running", "PostgreSQL is running"),
])
def test_rollback_refuses_and_changes_nothing(setup, damage, message):
    database, store = setup
    upgraded(database, store)
    snap = database / "snapshot-pg15"
    if damage == "no-snapshot":
        for entry in sorted(snap.rglob("*"), reverse=True):
            entry.unlink() if entry.is_file() or entry.is_symlink() else entry.rmdir()
        snap.rmdir()
    elif damage == "no-marker":
        (snap / "SNAPSHOT.json").unlink()
    elif damage == "file-missing":
        (snap / "pg15" / "base" / "1").unlink()
    elif damage == "file-shorter":
        (snap / "pg15" / "base" / "1").write_bytes(b"x")
    elif damage == "no-pg-version":
        (snap / "pg15" / "PG_VERSION").unlink()
    elif damage == "pg15-exists":
        cluster(database / "pg15")
    else:
        (database / "pg18" / "postmaster.pid").write_text("1\n")
    before = state(database, store)
    with pytest.raises(db_snapshot.Refused, match=message):
        db_snapshot.rollback(str(database), store, V, print)
    assert state(database, store) == before


def test_drop_deletes_the_snapshot_and_its_record(setup):
    database, store = setup
    upgraded(database, store)
    assert (database / "snapshot-pg15.decision").is_file()
    db_snapshot.drop(str(database), store, V, print)
    assert sorted(os.listdir(database)) == ["pg18"] and store.read(db_snapshot.STORE_ITEM) is None
    with pytest.raises(db_snapshot.Refused, match="no snapshot"):
        db_snapshot.drop(str(database), store, V, print)


def test_status_lists_the_snapshot_with_size_age_and_the_drop_command(setup):
    database, store = setup
    upgraded(database, store)
    entry = db_snapshot.status_entry(store.root)
    assert entry["path"] == str(database / "snapshot-pg15") and entry["size"].endswith("MiB")
    text = status.text({"status": "OK", "code": 0, "folder": "/x", "generation": 1, "made": "-",
                        "settings_hmac": "-", "harbor": "v2.15.2", "wrapper": "0", "checked": "-",
                        "warning_days": 30, "certificates": [], "warnings": [],
                        "database_snapshot": entry})
    assert "database snapshot: pg15" in text and "harbor-setupwrapper rollback --drop" in text
    assert "ago)" in text and "Harbor v2.14.4 ran on it" in text


def test_the_guard_keeps_the_version_before_a_change(tmp_path):
    out = tmp_path / "setup"
    (out / ".store").mkdir(parents=True)
    Guard(str(out), {"HARBOR_IMAGE_TAG": "v2.14.4"}).record()
    store = Store(str(out / ".store"))
    assert store.read(PREVIOUS_VERSION_ITEM) is None
    Guard(str(out), {"HARBOR_IMAGE_TAG": "v2.15.2"}).record()
    assert store.read(PREVIOUS_VERSION_ITEM) == b"v2.14.4"
    assert store.read(VERSION_ITEM) == b"v2.15.2"


def test_init_data_takes_the_snapshot_and_refusal_fails_it(tmp_path, monkeypatch):
    from wrapper.data_dirs import init_data

    root = tmp_path / "data"
    cluster(root / "database" / "pg15")
    monkeypatch.setenv("HARBOR_SETUP_DIR", str(tmp_path / "nowhere"))
    said = io.StringIO()
    assert init_data(str(root), say=lambda line: said.write(line + "\n")) == []
    assert (root / "database" / "snapshot-pg15" / "SNAPSHOT.json").is_file()
    assert "snapshot" in said.getvalue()


# --- init-data's decision record (the postgresql shim waits for it: tests/test_shims.py) --------

def identity_of(path):
    return str(struct.unpack("=Q", (path / "global" / "pg_control").read_bytes()[:8])[0])


def pg_controldata() -> str | None:
    """PostgreSQL's own tool, when this machine has it (Debian: /usr/lib/postgresql/N/bin)."""
    return shutil.which("pg_controldata") or next(
        (str(p) for p in sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_controldata"))), None)


@pytest.mark.parametrize("head", [0, 1, 2 ** 63 - 1, 2 ** 63, 2 ** 64 - 1, 7_301_234_567_890_123_456])
def test_the_identity_is_what_pg_controldata_prints(tmp_path, head):
    """The shim asks pg_controldata; init-data reads the bytes: the same value, also above 2**63
    (pg_controldata reads a damaged pg_control too, with a warning: random bytes after it)."""
    tool = pg_controldata()
    if tool is None:
        pytest.skip("no pg_controldata on this machine (Debian: postgresql-15)")
    cluster(tmp_path / "pg15", identity=head)
    out = subprocess.run([tool, str(tmp_path / "pg15")], env={"LC_ALL": "C"},
                         capture_output=True, text=True, check=True).stdout
    printed = next(line.split(":", 1)[1].strip() for line in out.splitlines()
                   if line.startswith("Database system identifier:"))
    assert db_snapshot.system_identifier(str(tmp_path / "pg15")) == printed == str(head)


PATHS = ["taken", "kept", "declined-false", "declined-0", "declined-no", "not-a-boolean",
         "no-room", "copy-failed", "no-pg-control", "other-cluster-snapshot"]


@pytest.mark.parametrize("path", PATHS)
def test_every_decision_on_a_pending_upgrade_is_recorded_for_this_cluster(setup, monkeypatch, path):
    database, store = setup
    cluster(database / "pg15")
    identity = identity_of(database / "pg15")
    variables = dict(V)
    free = None
    if path == "kept":
        db_snapshot.take(str(database), store, V, print)
        os.unlink(database / "snapshot-pg15.decision")
        (database / "snapshot-pg15").chmod(0o700)  # as taken before the shim read it
    elif path.startswith("declined-"):
        variables["HARBOR_DATABASE_UPGRADE_SNAPSHOT"] = path.split("-")[1]
    elif path == "not-a-boolean":
        variables["HARBOR_DATABASE_UPGRADE_SNAPSHOT"] = "maybe"
    elif path == "no-room":
        free = 1
    elif path == "copy-failed":
        def fail(source, target):
            raise OSError(28, "No space left on device")
        monkeypatch.setattr(db_snapshot, "copy_tree", fail)
    elif path == "no-pg-control":
        os.unlink(database / "pg15" / "global" / "pg_control")
        identity = ""
    elif path == "other-cluster-snapshot":
        cluster(database / "snapshot-pg15" / "pg15")
        (database / "snapshot-pg15" / "SNAPSHOT.json").write_text("{}\n")
    want = {"taken": "snapshot", "kept": "snapshot"}.get(
        path, "declined" if path.startswith("declined-") else "refused")
    if want == "refused":
        with pytest.raises(db_snapshot.Refused) as err:
            db_snapshot.take(str(database), store, variables, print, free_bytes=free)
        done = str(err.value)
    else:
        done = db_snapshot.take(str(database), store, variables, print, free_bytes=free)
    record = db_snapshot.read_decision(str(database), 15)
    assert record == {"decision": want, "cluster": "pg15", "upgrade_to": "pg18",
                      "system_identifier": identity, "decided": record["decided"],
                      "message": " ".join(done.split())}
    st = os.stat(database / "snapshot-pg15.decision")
    assert stat.S_IMODE(st.st_mode) == 0o644 and st.st_uid == os.getuid()
    assert not [n for n in os.listdir(database) if n.endswith(".tmp")]
    if want == "snapshot":  # the shim (uid 999) can look in: SNAPSHOT.json, the copy's pg_control
        assert stat.S_IMODE(os.stat(database / "snapshot-pg15").st_mode) == 0o711
        assert identity_of(database / "snapshot-pg15" / "pg15") == identity
    if path == "other-cluster-snapshot":
        assert "another PostgreSQL cluster" in done and "rollback --drop" in done


def test_no_record_when_no_upgrade_is_pending_and_an_old_one_is_left_alone(setup):
    database, store = setup
    cluster(database / "pg15")
    db_snapshot.take(str(database), store, V, print)
    before = (database / "snapshot-pg15.decision").read_bytes()
    cluster(database / "pg18", "18")  # upgraded
    assert db_snapshot.take(str(database), store, V, print) is None
    assert (database / "snapshot-pg15.decision").read_bytes() == before


def test_init_data_records_a_refusal_and_a_new_decision_replaces_it(tmp_path, monkeypatch):
    from wrapper.data_dirs import init_data

    root = tmp_path / "data"
    cluster(root / "database" / "pg15")
    monkeypatch.setenv("HARBOR_SETUP_DIR", str(tmp_path / "nowhere"))
    monkeypatch.setenv("HARBOR_DATABASE_UPGRADE_SNAPSHOT", "perhaps")
    problems = init_data(str(root), say=lambda line: None)
    assert problems and "perhaps" in problems[0]
    assert db_snapshot.read_decision(str(root / "database"), 15)["decision"] == "refused"
    monkeypatch.setenv("HARBOR_DATABASE_UPGRADE_SNAPSHOT", "false")
    assert init_data(str(root), say=lambda line: None) == []
    assert db_snapshot.read_decision(str(root / "database"), 15)["decision"] == "declined"


def test_the_record_is_replaced_whole_or_not_at_all(setup, monkeypatch):
    """A new file beside it, synced, renamed over it: a run cut short before the rename
    leaves the old record as it was; a leftover temporary file (or a link planted at its
    name) is removed, not followed."""
    database, store = setup
    cluster(database / "pg15")
    db_snapshot.write_decision(str(database), 15, 18, "1", "refused", "no room")
    before = (database / "snapshot-pg15.decision").read_bytes()
    outside = database.parent / "outside"
    outside.write_text("keep")
    (database / ".snapshot-pg15.decision.tmp").symlink_to(outside)

    def cut(source, target):
        raise OSError(5, "cut short")
    monkeypatch.setattr(db_snapshot.fs, "replace", cut)
    with pytest.raises(OSError):
        db_snapshot.write_decision(str(database), 15, 18, "1", "declined", "x")
    assert (database / "snapshot-pg15.decision").read_bytes() == before
    assert outside.read_text() == "keep"
    monkeypatch.undo()
    db_snapshot.write_decision(str(database), 15, 18, "2", "declined", "two\nlines")
    assert db_snapshot.read_decision(str(database), 15)["system_identifier"] == "2"
    assert db_snapshot.read_decision(str(database), 15)["message"] == "two lines"
    assert sorted(os.listdir(database)) == ["pg15", "snapshot-pg15.decision"]


def test_rollback_removes_the_record_so_the_next_start_decides_again(setup):
    database, store = setup
    upgraded(database, store)
    assert (database / "snapshot-pg15.decision").is_file()
    db_snapshot.rollback(str(database), store, V, print)
    assert not (database / "snapshot-pg15.decision").exists()
