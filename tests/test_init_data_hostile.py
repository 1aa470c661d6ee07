"""init-data on folders other users write: every case below has its exact outcome (what was
handed over, what was skipped and said, or the problem), and nothing outside the data folder
changes (a recursive listing with bytes, owners, modes and mtimes compared before and after).
The cases are listed, not sampled. Root is needed (chown to 10000, mknod, mount)."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import time
import tracemalloc
from pathlib import Path

import pytest

from support import listing
from wrapper.data_dirs import DATA_DIRS, Disk, init_data

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="init-data's cases need root")
REGISTRY = DATA_DIRS[0]


def owners(top: Path) -> dict[str, tuple[int, int]]:
    return {p: (v[2], v[3]) for p, v in listing(top).items()}


@pytest.fixture
def data(tmp_path) -> Path:
    """/data with a registry folder owned by root (so init-data walks it), an outside folder
    with a host user's file, and one ordinary blob."""
    (tmp_path / "outside/folder").mkdir(parents=True)
    (tmp_path / "outside/secret").write_text("a host user's file")
    os.chown(tmp_path / "outside/secret", 1234, 1234)
    (tmp_path / "data/registry/docker").mkdir(parents=True)
    (tmp_path / "data/registry/docker/blob").write_bytes(b"blob")
    return tmp_path


def run(tmp_path: Path, disk: Disk | None = None):
    lines = []
    problems = init_data(str(tmp_path / "data"), dirs=[REGISTRY], say=lines.append,
                         disk=disk)
    return problems, lines


def _mknod(kind, device):
    def make(p: Path):
        os.mknod(p / "data/registry/docker/node", kind | 0o600, device)
    return make


R = "{data}/registry"
DONE = "harbor-setupwrapper: data registry              10000:10000 0755  chown-below, chown-top"
# name -> (change to make under tmp_path, lines said, entries left with their owner)
SKIPPED = {
    "hard link to a file outside": (
        lambda p: os.link(p / "outside/secret", p / "data/registry/docker/hard"),
        [f"harbor-setupwrapper: data registry: skipped {R}/docker/hard: a file with 2 hard "
         "links (another may be outside the data folder): left as it is",
         DONE + " (2 entries below, 1 skipped)"],
        {"docker/hard": (1234, 1234)}),
    "FIFO": (
        lambda p: os.mkfifo(p / "data/registry/docker/fifo"),
        [f"harbor-setupwrapper: data registry: skipped {R}/docker/fifo: a FIFO: left as it is",
         DONE + " (2 entries below, 1 skipped)"],
        {"docker/fifo": (0, 0)}),
    "socket": (
        lambda p: os.mknod(p / "data/registry/docker/sock", stat.S_IFSOCK | 0o600),
        [f"harbor-setupwrapper: data registry: skipped {R}/docker/sock: a socket: left as it "
         "is", DONE + " (2 entries below, 1 skipped)"],
        {"docker/sock": (0, 0)}),
    "character device": (
        _mknod(stat.S_IFCHR, os.makedev(1, 3)),
        [f"harbor-setupwrapper: data registry: skipped {R}/docker/node: a device: left as it "
         "is", DONE + " (2 entries below, 1 skipped)"],
        {"docker/node": (0, 0)}),
    "block device": (
        _mknod(stat.S_IFBLK, os.makedev(7, 200)),
        [f"harbor-setupwrapper: data registry: skipped {R}/docker/node: a device: left as it "
         "is", DONE + " (2 entries below, 1 skipped)"],
        {"docker/node": (0, 0)}),
    "link to a file outside (the link is re-owned, never followed)": (
        lambda p: (p / "data/registry/docker/link").symlink_to(p / "outside/secret"),
        [DONE + " (3 entries below)"],
        {}),
    "relative link to a folder outside": (
        lambda p: (p / "data/registry/docker/up").symlink_to("../../../outside/folder"),
        [DONE + " (3 entries below)"],
        {}),
}


@pytest.mark.parametrize("case", SKIPPED)
def test_what_does_not_belong_to_the_folder_alone_is_skipped_with_a_line(case, data):
    make, said, kept = SKIPPED[case]
    make(data)
    outside = listing(data / "outside")
    problems, lines = run(data)
    assert problems == []
    assert lines == [line.format(data=data / "data") for line in said]
    assert listing(data / "outside") == outside
    left = {p: o for p, o in owners(data / "data/registry").items() if o != (10000, 10000)}
    assert left == kept


def _mount(args, where: Path):
    result = subprocess.run(["mount", *args, str(where)], capture_output=True, text=True)
    if result.returncode != 0:
        pytest.skip(f"cannot mount here ({result.stderr.strip()}): outside our reach")


@pytest.mark.parametrize("kind", ["tmpfs (another device)", "bind mount (the same device)"])
def test_a_mount_below_is_never_crossed(kind, data):
    inner = data / "data/registry/docker/mnt"
    inner.mkdir()
    if kind.startswith("tmpfs"):
        _mount(["-t", "tmpfs", "none"], inner)
    else:
        _mount(["--bind", str(data / "outside")], inner)
    try:
        (inner / "inside-the-mount").write_text("x")
        os.chown(inner / "inside-the-mount", 1234, 1234)
        outside = listing(data / "outside")
        problems, lines = run(data)
        assert problems == []
        assert lines == [
            f"harbor-setupwrapper: data registry: skipped {inner}: another mount: init-data "
            "never crosses one", DONE + " (2 entries below, 1 skipped)"]
        assert listing(data / "outside") == outside
        st = (inner / "inside-the-mount").stat()
        assert (st.st_uid, st.st_gid) == (1234, 1234)
    finally:
        subprocess.run(["umount", str(inner)], check=True)


class SwapAfterCheck(Disk):
    """Swaps the top folder for a link (or another folder) right after state() saw it."""

    def __init__(self, root, swap):
        super().__init__(root)
        self.swap = swap

    def state(self, path):
        seen = super().state(path)
        self.swap()
        return seen


class SwapWhileWalking(Disk):
    """Swaps the entry `name` right after the walk stat'ed it and before it is opened."""

    def __init__(self, root, name, swap):
        super().__init__(root)
        self.name, self.swap = name, swap

    def _open_below(self, parent, name, st, path):
        if name == self.name:
            self.swap()
        return Disk._open_below(parent, name, st, path)

    def _chown_entry(self, parent, name, st, uid, gid):
        if name == self.name:
            self.swap()
        return Disk._chown_entry(parent, name, st, uid, gid)


def _once(action):
    done = []

    def swap():
        if not done:
            done.append(action())
    return swap


def _to_link(folder: Path, target: Path):
    def action():
        shutil.rmtree(folder)
        folder.symlink_to(target)
        return True
    return action


def _to_folder(folder: Path):
    def action():
        os.rename(folder, folder.with_name("moved-away"))
        folder.mkdir()
        return True
    return action


def _to_hard_link(file: Path, target: Path):
    def action():
        file.unlink()
        os.link(target, file)
        return True
    return action


REFUSED = {
    "top folder is a link": (
        lambda p: (shutil.rmtree(p / "data/registry"),
                   (p / "data/registry").symlink_to(p / "outside")),
        None,
        "{data}/registry: cannot give it to 10000:10000 mode 0755 (registry and registryctl "
        "runs as uid 10000): is a symbolic link: init-data never follows one (mount the folder "
        "itself). On NFS, export it with no_root_squash, or create the folder on the server "
        "owned by 10000:10000 with mode 0755."),
    "top folder swapped for a link after the check": (
        None,
        lambda p: SwapAfterCheck(str(p / "data"), _once(_to_link(p / "data/registry",
                                                                   p / "outside"))),
        "{data}/registry: was replaced by a link or a file after it was checked: nothing below "
        "it was changed. Its top folder keeps its owner, so the next init-data redoes it; run "
        "it again once nothing else changes the folder."),
    "top folder swapped for another folder after the check": (
        None,
        lambda p: SwapAfterCheck(str(p / "data"), _once(_to_folder(p / "data/registry"))),
        "{data}/registry: was replaced by another folder after it was checked: nothing below "
        "it was changed. Its top folder keeps its owner, so the next init-data redoes it; run "
        "it again once nothing else changes the folder."),
    "folder below swapped for a link while walking": (
        lambda p: (p / "data/registry/docker/sub").mkdir(),
        lambda p: SwapWhileWalking(str(p / "data"), "sub", _once(_to_link(
            p / "data/registry/docker/sub", p / "outside"))),
        "{data}/registry: {data}/registry/docker/sub was replaced by a link or a file while "
        "it was handed over: stopped there. Its top folder keeps its owner, so the next "
        "init-data redoes it; run it again once nothing else changes the folder."),
    "folder below swapped for another folder while walking": (
        lambda p: (p / "data/registry/docker/sub").mkdir(),
        lambda p: SwapWhileWalking(str(p / "data"), "sub", _once(_to_folder(
            p / "data/registry/docker/sub"))),
        "{data}/registry: {data}/registry/docker/sub was replaced by another folder while it "
        "was handed over: stopped there. Its top folder keeps its owner, so the next "
        "init-data redoes it; run it again once nothing else changes the folder."),
    "file swapped for a hard link to a file outside while walking": (
        None,
        lambda p: SwapWhileWalking(str(p / "data"), "blob", _once(_to_hard_link(
            p / "data/registry/docker/blob", p / "outside/secret"))),
        "{data}/registry: blob changed while it was handed over: stopped there. Its top "
        "folder keeps its owner, so the next init-data redoes it; run it again once nothing "
        "else changes the folder."),
}


@pytest.mark.parametrize("case", REFUSED)
def test_a_swap_or_a_link_at_the_top_is_caught_and_nothing_outside_changes(case, data):
    make, disk, problem = REFUSED[case]
    if make:
        make(data)
    outside = listing(data / "outside")
    problems, lines = run(data, disk(data) if disk else None)
    assert problems == [problem.format(data=data / "data")]
    assert listing(data / "outside") == outside
    registry = data / "data/registry"
    if not registry.is_symlink():
        assert (registry.stat().st_uid, registry.stat().st_gid) == (0, 0), "top re-owned"


def test_skipped_lines_are_bounded_and_counted(data):
    for i in range(25):
        os.mkfifo(data / f"data/registry/docker/fifo{i:02}")
    problems, lines = run(data)
    assert problems == []
    assert len(lines) == 20 + 2
    assert lines[-2] == "harbor-setupwrapper: data registry: skipped 5 more entries of these kinds"
    assert lines[-1] == DONE + " (2 entries below, 25 skipped)"


def _tree(top: Path, files: int, per_folder: int = 1000) -> None:
    for i in range(files):
        folder = top / f"d{i // per_folder:04}"
        if i % per_folder == 0:
            folder.mkdir(parents=True)
        (folder / f"f{i:06}").touch()


def _peak_of_hand_over(top: Path) -> tuple[int, float, int]:
    disk = Disk(str(top.parent))
    disk.state(str(top))
    tracemalloc.start()
    started = time.perf_counter()
    report = disk.hand_over(str(top), 10000, 10000, lambda line: None)
    seconds = time.perf_counter() - started
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak, seconds, report.handed


def test_memory_does_not_grow_with_the_number_of_files(tmp_path):
    """Bounded memory, shown by comparison: ten times the files, about the same peak
    (bench/bench.py --init-data runs the 200,000-file case and prints its figures)."""
    _tree(tmp_path / "small/registry", 1000)
    _tree(tmp_path / "large/registry", 10000)
    small = _peak_of_hand_over(tmp_path / "small/registry")
    large = _peak_of_hand_over(tmp_path / "large/registry")
    print(f"\nhand-over: 1,000 files {small[1]:.2f} s peak {small[0] / 1024:.0f} KiB; "
          f"20,000 files {large[1]:.2f} s peak {large[0] / 1024:.0f} KiB")
    assert (small[2], large[2]) == (1001, 10010)
    assert large[0] < small[0] * 2 + 64 * 1024, (small, large)


def test_progress_is_said_every_few_seconds(tmp_path, monkeypatch):
    from wrapper import data_dirs

    monkeypatch.setattr(data_dirs, "PROGRESS_SECONDS", 0.0)
    _tree(tmp_path / "registry", 3)
    lines = []
    disk = Disk(str(tmp_path))
    disk.state(str(tmp_path / "registry"))
    disk.hand_over(str(tmp_path / "registry"), 10000, 10000, lines.append)
    assert lines[-1] == f"harbor-setupwrapper: data {tmp_path}/registry: 4 entries handed over so far"
