"""The entrypoint shims under a real POSIX sh (dash, Debian's /bin/sh, as in Harbor's images
that have no bash): bad wait values fail at once, env lines are loaded literally, a damaged line
is refused instead of being exported as NAME=NAME; the postgresql shim, run as uid 999, holds
a pending PostgreSQL upgrade until init-data has decided for that cluster (below)."""

import itertools
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from support import REPO

DASH = shutil.which("dash")
SHIM = str(REPO / "entrypoints" / "core.sh")


@pytest.fixture(scope="module")
def sh() -> str:
    if DASH is None:
        pytest.fail("dash is not installed (Debian's /bin/sh); the shims must be tested with it")
    return DASH


def run_shim(sh, setup_dir, command, timeout=20, **variables):
    env = {"PATH": os.environ["PATH"], "HARBOR_SETUP_DIR": str(setup_dir), **variables}
    return subprocess.run([sh, SHIM, *command], env=env, capture_output=True, text=True,
                          timeout=timeout)


def make_dir(tmp_path, env_body: str, ready=True):
    (tmp_path / "config" / "core").mkdir(parents=True)
    (tmp_path / "config" / "core" / "env").write_text(env_body)
    if ready:
        (tmp_path / "ready").write_text("x")
    return tmp_path


@pytest.mark.parametrize("value", ["abc", "-1", "1.5", " 5", "9999999999", "10s"])
def test_a_wait_that_is_not_a_number_fails_at_once(sh, tmp_path, value):
    folder = make_dir(tmp_path, "A=1\n", ready=False)
    result = run_shim(sh, folder, ["true"], timeout=10, HARBOR_SETUP_WAIT_SECONDS=value)
    assert result.returncode == 1
    assert "HARBOR_SETUP_WAIT_SECONDS" in result.stderr and "whole number" in result.stderr


def test_a_zero_wait_gives_up_at_once_and_says_why(sh, tmp_path):
    folder = make_dir(tmp_path, "A=1\n", ready=False)
    result = run_shim(sh, folder, ["true"], timeout=10, HARBOR_SETUP_WAIT_SECONDS="0")
    assert result.returncode == 1 and "ready does not exist" in result.stderr


def test_values_are_loaded_literally(sh, tmp_path):
    values = {"A": "with space", "B": "q'uo\"te", "C": "$HOME `id` $(id)", "D": "back\\slash",
              "E": "a=b=c", "F": "", "G": "#not a comment", "H": "caf\u00e9"}
    folder = make_dir(tmp_path, "".join(f"{k}={v}\n" for k, v in values.items()))
    result = run_shim(sh, folder, ["env", "-0"])
    assert result.returncode == 0, result.stderr
    seen = dict(item.split("=", 1) for item in result.stdout.split("\0") if "=" in item)
    assert {k: seen.get(k) for k in values} == values


def test_a_line_without_equals_is_refused_not_exported_as_name_equals_name(sh, tmp_path):
    folder = make_dir(tmp_path, "A=1\nBROKEN\nC=3\n")
    result = run_shim(sh, folder, ["sh", "-c", "echo ran; env"])
    assert result.returncode == 1, result.stdout
    assert "ran" not in result.stdout and "BROKEN=BROKEN" not in result.stdout
    assert "line 2 has no '='" in result.stderr


def test_a_line_with_a_bad_name_is_refused(sh, tmp_path):
    folder = make_dir(tmp_path, "A=1\n1X=2\n")
    result = run_shim(sh, folder, ["true"])
    assert result.returncode == 1 and "does not start with NAME=" in result.stderr


def test_the_last_line_without_newline_and_the_command_run(sh, tmp_path):
    folder = make_dir(tmp_path, "A=1\nB=two")
    result = run_shim(sh, folder, ["sh", "-c", 'printf "%s|%s" "$A" "$B"'])
    assert result.returncode == 0 and result.stdout == "1|two"


# --- the postgresql shim before a PostgreSQL upgrade -------------------------------------------
# It runs the image's entrypoint (here a stand-in that prints ENTRYPOINT and its arguments) only
# once init-data has decided for this cluster. The states are made by init-data's own code
# (wrapper/db_snapshot.py), so the test covers what one writes and the other reads; the cluster
# identity comes from PostgreSQL's pg_controldata when this machine has it (Debian:
# postgresql-15), else from a stand-in printing the same line.

PG_SHIM = str(REPO / "entrypoints" / "postgresql.sh")
OFF_VALUES = ["false", "FALSE", " no ", "0"]
NOT_OFF_VALUES = [None, "", "true", "yes", "maybe"]
POLL = 1.5  # seconds a waiting shim is watched: two of its checks, a second apart


def pg_tool_dir(bin_dir: Path) -> str:
    from test_db_snapshot import pg_controldata

    tool = pg_controldata()
    if tool:
        return os.path.dirname(tool)
    fake = bin_dir / "pg_controldata"
    fake.write_text("#!/usr/bin/env python3\nimport struct, sys\n"
                    "head = open(sys.argv[1] + '/global/pg_control', 'rb').read(8)\n"
                    "print('Database system identifier:           %d' % "
                    "struct.unpack('=Q', head)[0])\n")
    fake.chmod(0o755)
    return str(bin_dir)


class PgWorld:
    """A setup folder, a database folder (999's, 0700, as init-data leaves it), the
    entrypoint stand-in; everything readable by uid 999 (a folder of its own under /tmp)."""

    def __init__(self, root: Path):
        self.root = root
        root.chmod(0o755)
        (root / "setup" / "config" / "db").mkdir(parents=True)
        (root / "setup" / "config" / "db" / "env").write_text("POSTGRES_PASSWORD=secret-pw\n")
        (root / "setup" / "ready").write_text("1")
        self.data = root / "database"
        self.data.mkdir(mode=0o700)
        os.chown(self.data, 999, 999)
        self.bin = root / "bin"
        self.bin.mkdir()
        self.entrypoint = self.bin / "docker-entrypoint.sh"
        self.entrypoint.write_text('#!/bin/sh\necho "ENTRYPOINT $*"\n')
        self.entrypoint.chmod(0o755)
        self.path = pg_tool_dir(self.bin) + os.pathsep + os.environ["PATH"]

    def cluster(self, name="pg15", version="15"):
        path = self.data / name
        path.mkdir(mode=0o700)
        (path / "PG_VERSION").write_text(f"{version}\n")
        (path / "global").mkdir(mode=0o700)
        (path / "global" / "pg_control").write_bytes(os.urandom(8192))
        (path / "global" / "pg_control").chmod(0o600)
        for entry in [path, *path.rglob("*")]:
            os.chown(entry, 999, 999)
        return path

    def init_data(self, free_bytes=None, **variables):
        from wrapper import db_snapshot

        try:
            return db_snapshot.take(str(self.data), None, {"HARBOR_IMAGE_TAG": "v2.15.2",
                                                            **variables}, lambda line: None,
                                    free_bytes=free_bytes)
        except db_snapshot.Refused as err:
            return err

    def start(self, command=None, as_postgres=True, **variables):
        env = {"PATH": self.path, "HARBOR_SETUP_DIR": str(self.root / "setup"),
               "PGDATA": str(self.data), **{k: v for k, v in variables.items() if v is not None}}
        prefix = ["setpriv", "--reuid", "999", "--regid", "999", "--clear-groups"] \
            if as_postgres else []
        command = [str(self.entrypoint), "15", "18"] if command is None else command
        return subprocess.Popen([*prefix, DASH, PG_SHIM, *command], env=env, text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)


@pytest.fixture
def world(sh):
    if shutil.which("setpriv") is None:
        pytest.fail("setpriv (util-linux) is needed: the shim runs as the database user, 999")
    root = Path(tempfile.mkdtemp(prefix="pg-shim-"))
    try:
        yield PgWorld(root)
    finally:
        shutil.rmtree(root)


def ran(process, timeout=10) -> str:
    out, err = process.communicate(timeout=timeout)
    assert process.returncode == 0, err
    assert out == "ENTRYPOINT 15 18\n", (out, err)
    return err


def waits(process, seconds=POLL) -> str:
    time.sleep(seconds)
    alive = process.poll() is None
    process.kill()
    out, err = process.communicate(timeout=10)
    assert alive and "ENTRYPOINT" not in out, (out, err)
    assert "secret-pw" not in err
    return err


def said(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("harbor-setupwrapper shim")
            and "loaded" not in line and "waiting until" not in line]


# each PG_VERSION the entrypoint tests with `test -s` (at the top: 9.6, refused; pg15; pg18):
# absent, empty, or a version. The shim waits exactly where init-data sees an upgrade pending
@pytest.mark.parametrize("flat,old,new", list(itertools.product([None, "", "x"], repeat=3)))
def test_the_shim_waits_exactly_where_init_data_sees_an_upgrade(world, flat, old, new):
    from wrapper import db_snapshot

    for where, content in (("", flat), ("pg15", old), ("pg18", new)):
        if content is not None:
            folder = world.data / where
            if where and not folder.exists():
                world.cluster(where, "15")
            (folder / "PG_VERSION").write_text(content)
    pending = db_snapshot.upgrade_pending(str(world.data), 15, 18)
    assert pending == (not flat and bool(old) and not new)
    process = world.start()
    if pending:
        assert "waiting for init-data's snapshot of pg15" in waits(process)
    else:
        assert said(ran(process, timeout=5)) == []  # no wait, nothing said


def test_the_default_command_is_the_entrypoint_with_15_18_and_is_checked(world):
    world.cluster()
    assert "upgrade pending" in waits(world.start(command=[]))


def test_another_command_is_not_held(world):
    world.cluster()
    out, err = world.start(command=["sh", "-c", "echo other"]).communicate(timeout=10)
    assert out == "other\n"


def test_a_complete_snapshot_of_this_cluster_lets_it_start(world):
    world.cluster()
    assert world.init_data() == f"snapshot {world.data}/snapshot-pg15 taken"
    err = ran(world.start())
    assert said(err) == [f"harbor-setupwrapper shim (postgresql): PostgreSQL 15 -> 18 upgrade: "
                         f"snapshot {world.data}/snapshot-pg15 of this cluster is complete; "
                         "starting"]


def test_it_waits_while_init_data_copies_and_starts_once_the_snapshot_is_complete(world):
    """Half made: the copy in snapshot-pg15.partial, then in snapshot-pg15 without
    SNAPSHOT.json (written last): it waits; the record alone (without the snapshot) neither."""
    from wrapper import db_snapshot

    cluster = world.cluster()
    world.init_data()
    snapshot = world.data / "snapshot-pg15"
    marker = (snapshot / "SNAPSHOT.json").read_bytes()
    (snapshot / "SNAPSHOT.json").unlink()
    assert db_snapshot.read_decision(str(world.data), 15)["decision"] == "snapshot"
    err = waits(world.start())
    assert "SNAPSHOT.json of this cluster is missing" in err
    snapshot.rename(world.data / "snapshot-pg15.partial")
    os.unlink(world.data / "snapshot-pg15.decision")
    process = world.start()
    time.sleep(1.5)
    assert process.poll() is None
    (world.data / "snapshot-pg15.partial").rename(snapshot)
    (snapshot / "SNAPSHOT.json").write_bytes(marker)
    err = ran(process)
    assert len([line for line in said(err) if "waiting for init-data" in line]) == 1
    assert "snapshot of pg15 is complete after" in err and cluster.is_dir()


@pytest.mark.parametrize("value", OFF_VALUES)
def test_a_declined_snapshot_for_this_cluster_lets_it_start_when_told_so_too(world, value):
    world.cluster()
    assert "no snapshot" in world.init_data(HARBOR_DATABASE_UPGRADE_SNAPSHOT=value)
    err = ran(world.start(HARBOR_DATABASE_UPGRADE_SNAPSHOT=value))
    assert "upgrade without a snapshot" in err


@pytest.mark.parametrize("value", NOT_OFF_VALUES)
def test_a_declined_snapshot_does_not_pass_a_service_told_otherwise(world, value):
    """The record of a run with the snapshot off does not let a later start with it on
    through (Swarm: the new init-data may run after the restarted postgresql task)."""
    world.cluster()
    world.init_data(HARBOR_DATABASE_UPGRADE_SNAPSHOT="false")
    err = waits(world.start(HARBOR_DATABASE_UPGRADE_SNAPSHOT=value))
    assert "init-data declined the snapshot" in err and "waiting until init-data runs" in err


def test_a_refusal_keeps_it_waiting_and_says_why_once(world):
    world.cluster()
    refusal = world.init_data(free_bytes=1)
    assert "are free" in str(refusal)
    err = waits(world.start(), seconds=POLL + 1)
    lines = said(err)
    assert len(lines) == 1, lines
    assert "init-data refused the snapshot before the PostgreSQL 15 -> 18 upgrade" in lines[0]
    assert " ".join(str(refusal).split()) in lines[0]
    assert "no room: free some on the database volume" in lines[0]
    assert "Or set HARBOR_DATABASE_UPGRADE_SNAPSHOT=false" in lines[0]
    assert "docker service update --force <stack>_init-data" in lines[0]


def test_a_refusal_then_room_then_init_data_again_lets_it_start(world):
    world.cluster()
    world.init_data(free_bytes=1)
    process = world.start()
    time.sleep(1.5)
    assert process.poll() is None
    world.init_data()
    err = ran(process)
    assert [line for line in said(err) if "refused" in line] != []


@pytest.mark.parametrize("stale", ["declined-record", "refused-record", "snapshot"])
def test_a_decision_about_another_cluster_does_not_let_it_through(world, stale):
    """Another cluster in pg15 since init-data decided (a restore, another volume's content):
    same PG_VERSION, other system identifier."""
    world.cluster()
    if stale == "declined-record":
        world.init_data(HARBOR_DATABASE_UPGRADE_SNAPSHOT="false")
    elif stale == "refused-record":
        world.init_data(free_bytes=1)
    else:
        world.init_data()
        os.unlink(world.data / "snapshot-pg15.decision")
    shutil.rmtree(world.data / "pg15")
    world.cluster()
    err = waits(world.start(HARBOR_DATABASE_UPGRADE_SNAPSHOT="false"))
    if stale == "snapshot":
        assert "waiting for init-data's snapshot of pg15" in err
    else:
        assert "decision about another cluster" in err


def test_a_cluster_whose_identity_cannot_be_read_is_held(world):
    cluster = world.cluster()
    (cluster / "global" / "pg_control").chmod(0)  # not the database user's to read
    world.init_data(HARBOR_DATABASE_UPGRADE_SNAPSHOT="false")
    err = waits(world.start(HARBOR_DATABASE_UPGRADE_SNAPSHOT="false"))
    assert "cannot read the system identifier" in err and "uid 999" in err
