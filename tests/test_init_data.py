"""init-data: data folders owned as the images need them, idempotent, no walk when right."""

from __future__ import annotations

import errno
import os

import pytest

from wrapper import cli
from wrapper.data_dirs import (CHMOD, CHOWN_BELOW, CHOWN_TOP, CREATE, DATA_DIRS, DataDir, Disk,
                               Report, State, init_data, plan)

# upstream's prepare at v2.15.2 (make/photon/prepare/utils/{registry,jobservice,db,redis,
# trivy_adapter}.py and misc.prepare_dir: mode 0755 unless given)
UPSTREAM = {
    "registry": (10000, 10000, 0o755),
    "job_logs": (10000, 10000, 0o755),
    "database": (999, 999, 0o700),
    "redis": (999, 999, 0o755),
    "trivy-adapter/trivy": (10000, 10000, 0o755),
    "trivy-adapter/reports": (10000, 10000, 0o755),
}


def test_the_folders_are_upstreams():
    assert {d.name: (d.uid, d.gid, d.mode) for d in DATA_DIRS} == UPSTREAM


REGISTRY = DATA_DIRS[0]


@pytest.mark.parametrize("state,steps", [
    (None, (CREATE, CHMOD, CHOWN_TOP)),
    (State(10000, 10000, 0o755), ()),
    (State(0, 0, 0o755), (CHOWN_BELOW, CHOWN_TOP)),
    (State(10000, 0, 0o755), (CHOWN_BELOW, CHOWN_TOP)),
    (State(10000, 10000, 0o777), (CHMOD,)),
    (State(0, 0, 0o700), (CHOWN_BELOW, CHMOD, CHOWN_TOP)),
])
def test_plan(state, steps):
    assert plan(REGISTRY, state) == steps


class FakeDisk(Disk):
    """An in-memory tree: path -> [uid, gid, mode]; counts every call, can refuse chown."""

    def __init__(self, tree: dict[str, tuple[int, int, int]], refuse_chown: bool = False):
        self.tree = {path: list(v) for path, v in tree.items()}
        self.refuse_chown = refuse_chown
        self.calls: list[tuple] = []

    def state(self, path):
        self.calls.append(("state", path))
        if path not in self.tree:
            return None
        return State(*self.tree[path])

    def mkdir(self, path):
        self.calls.append(("mkdir", path))
        self.tree[path] = [0, 0, 0o755]

    def chmod(self, path, mode):
        self.calls.append(("chmod", path))
        self.tree[path][2] = mode

    def chown(self, path, uid, gid):
        self.calls.append(("chown", path))
        if self.refuse_chown:
            raise PermissionError(errno.EPERM, os.strerror(errno.EPERM), path)
        self.tree[path][:2] = [uid, gid]

    def hand_over(self, path, uid, gid, say):
        self.calls.append(("hand_over", path))
        report = Report()
        for entry in sorted(p for p in self.tree if p.startswith(path + "/")):
            self.chown(entry, uid, gid)
            report.handed += 1
        return report


def a_big_registry(top_owner: tuple[int, int]) -> dict:
    tree = {"/data/registry": (*top_owner, 0o755)}
    for i in range(1000):
        tree[f"/data/registry/docker/registry/v2/blobs/{i}"] = (0, 0, 0o644)
    return tree


def test_top_right_nothing_below_is_touched():
    disk = FakeDisk(a_big_registry((10000, 10000)))
    assert init_data("/data", dirs=[REGISTRY], disk=disk, say=lambda _: None) == []
    assert disk.calls == [("state", "/data/registry")]


def test_top_wrong_everything_is_handed_over_the_top_last():
    disk = FakeDisk(a_big_registry((0, 0)))
    lines = []
    assert init_data("/data", dirs=[REGISTRY], disk=disk, say=lines.append) == []
    chowns = [path for call, path in disk.calls if call == "chown"]
    assert len(chowns) == 1001 and chowns[-1] == "/data/registry"
    assert all(v[:2] == [10000, 10000] for v in disk.tree.values())
    assert "1000 entries below" in lines[0]
    # and again: one stat, nothing else
    disk.calls.clear()
    assert init_data("/data", dirs=[REGISTRY], disk=disk, say=lambda _: None) == []
    assert disk.calls == [("state", "/data/registry")]


def test_missing_folders_are_created_with_owner_and_mode():
    disk = FakeDisk({})
    assert init_data("/data", disk=disk, say=lambda _: None) == []
    assert {p[len("/data/"):]: tuple(v) for p, v in disk.tree.items()} == UPSTREAM
    assert not any(call == "hand_over" for call, _ in disk.calls), "a new folder has nothing below"


def test_chown_refused_names_the_folder_the_owner_and_the_nfs_export():
    disk = FakeDisk({"/data/database": (0, 0, 0o755), "/data/registry": (0, 0, 0o755)},
                    refuse_chown=True)
    problems = init_data("/data", dirs=DATA_DIRS[:3], disk=disk, say=lambda _: None)
    database = next(p for p in problems if p.startswith("/data/database"))
    assert "999:999 mode 0700" in database and "Operation not permitted" in database
    assert "no_root_squash" in database
    assert "owned by 999:999 with mode 0700" in database
    registry = next(p for p in problems if p.startswith("/data/registry"))
    assert "10000:10000 mode 0755" in registry
    # every folder was tried, not only the first
    assert len(problems) == 3  # job_logs is missing: created, then refused too


def test_real_disk_mode_owner_and_idempotence(tmp_path):
    """On the real filesystem, with the current user as owner (no root needed)."""
    me = DataDir("registry", os.getuid(), os.getgid(), 0o750, "test")
    (tmp_path / "registry" / "a").mkdir(parents=True)
    (tmp_path / "registry").chmod(0o777)
    lines = []
    assert init_data(str(tmp_path), dirs=[me], say=lines.append) == []
    assert (tmp_path / "registry").stat().st_mode & 0o777 == 0o750
    assert "chmod" in lines[0]
    assert init_data(str(tmp_path), dirs=[me], say=lines.append) == []
    assert lines[1].endswith("already right")
    nested = DataDir("trivy-adapter/trivy", os.getuid(), os.getgid(), 0o700, "test")
    assert init_data(str(tmp_path), dirs=[nested], say=lambda _: None) == []
    assert (tmp_path / "trivy-adapter" / "trivy").stat().st_mode & 0o777 == 0o700


def test_real_disk_a_file_in_the_way_is_a_problem(tmp_path):
    (tmp_path / "registry").write_text("")
    (problem,) = init_data(str(tmp_path), dirs=[REGISTRY], say=lambda _: None)
    assert problem.startswith(f"{tmp_path}/registry:") and "not a folder" in problem


def test_cli_without_the_root_folder(tmp_path, capsys):
    assert cli.main(["init-data", "--root", str(tmp_path / "nope")]) == 1
    assert "mount the data volumes" in capsys.readouterr().err


@pytest.mark.skipif(os.geteuid() != 0, reason="chown to 10000 and 999 needs root")
def test_cli_as_root(tmp_path, capsys):
    (tmp_path / "registry" / "docker").mkdir(parents=True)
    assert cli.main(["init-data", "--root", str(tmp_path)]) == 0
    for name, (uid, gid, mode) in UPSTREAM.items():
        st = (tmp_path / name).stat()
        assert (st.st_uid, st.st_gid, st.st_mode & 0o777) == (uid, gid, mode), name
    assert (tmp_path / "registry" / "docker").stat().st_uid == 10000
    assert "1 entries below" in capsys.readouterr().err
