"""Every crash point: a run stopped just before each one of its file-system changes, then rerun,
ends with a complete, consistent tree; and in between, a consumer sees the previous tree or
the new one, never a mix.

Every change the wrapper makes goes through wrapper.fs, which counts them. For each scenario
(a first run, a run with changed input, a run whose cleanup removes an old generation, a first
run on a file system without hard links) a forked child runs generate in-process and calls
os._exit() (which, like SIGKILL, unwinds nothing and flushes nothing) before its N-th change,
for every N until a run completes. Then the parent checks what a consumer sees, reruns with
the input of the killed run and with each earlier input, and checks the tree each time.

HARBOR_CRASH_POINTS=all covers every point of every scenario (a few minutes on 2 cores); the
default covers every point of the phases where the crash windows were (publishing, linking,
cleanup, the store's item creation) and every 4th point elsewhere. The test prints the count.
"""

from __future__ import annotations

import errno
import io
import json
import os
import shutil
import stat
import sys

import pytest

from test_generate import check_consistent
from wrapper import fs, tree
from wrapper.files import File
from wrapper.generate import Steps, TokenKeyInAdvance, generate, unchanged
from wrapper.settings import load

FULL = os.environ.get("HARBOR_CRASH_POINTS", "") == "all"
BASE = {"HARBOR_HOSTNAME": "a.example.test"}
INPUT_A = BASE
INPUT_B = {"HARBOR_HOSTNAME": "b.example.test", "HARBOR_INTERNAL_TLS_ENABLED": "true"}
# the same host name as A: after a run of C, a rerun with A's input makes A's generation
# again, byte for byte, under its old name (the name a half-deleted folder would still have)
INPUT_A2 = {**INPUT_A, "HARBOR_INTERNAL_TLS_ENABLED": "true"}
INPUT_C = {**INPUT_A, "HARBOR_LOG_LEVEL": "debug"}


def run(out: str, variables: dict) -> None:
    """What `harbor-setupwrapper generate --out out` does, in-process."""
    steps = Steps(io.StringIO())
    if unchanged(out, variables, False, steps):
        return
    generate(out, load(variables), steps=steps, variables=variables,
             token_key=TokenKeyInAdvance(out))


def crashed_run(out: str, variables: dict, point: int | None, no_hard_links: bool) -> int:
    """Run in a forked child stopped before change `point` (None: never); returns the number
    of changes the child made when it completed, or 0 when it was stopped."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        code = 1
        try:
            os.close(read)
            if no_hard_links:
                def link(source, target):
                    fs._point()
                    raise OSError(errno.EPERM, "no hard links here", target)
                fs.link = link
            fs.calls, fs.crash_at = 0, point
            run(out, variables)
            os.write(write, str(fs.calls).encode())
            code = 0
        except BaseException as err:  # noqa: BLE001 - reported through the exit status
            os.write(2, f"child failed: {err!r}\n".encode())
        finally:
            os._exit(code)
    os.close(write)
    with os.fdopen(read, "rb") as pipe:
        made = pipe.read()
    _, status = os.waitpid(pid, 0)
    code = os.waitstatus_to_exitcode(status)
    assert code in (0, 137), f"the run failed (exit {code}) with crash point {point}"
    return int(made) if code == 0 else 0


def generation_files(out: str) -> list[File]:
    """The current generation as File objects, read from disk (the marker left out)."""
    root = os.path.join(out, tree.GENERATIONS, tree.current_generation(out))
    files = []
    for folder, _, names in os.walk(root):
        for name in names:
            path = os.path.join(folder, name)
            relative = os.path.relpath(path, root)
            if relative == tree.MARKER:
                continue
            info = os.lstat(path)
            assert stat.S_ISREG(info.st_mode), relative
            with open(path, "rb") as handle:
                files.append(File(relative, handle.read(), stat.S_IMODE(info.st_mode),
                                  info.st_uid, info.st_gid))
    return files


def check_complete(out: str, expected: set, secretkey: bytes | None,
                   database_password: bytes | None) -> None:
    """What a consumer sees is one whole generation, agreeing with the store."""
    from pathlib import Path

    name = tree.current_generation(out)
    assert name, "current is missing or not ours"
    assert tree.links_ok(out), "config, secret, entrypoints or ready is not linked"
    marker = tree.read_marker(out)
    assert marker and marker["generation"] == name
    files = generation_files(out)
    assert {(f.path, f.mode) for f in files} == expected
    if os.geteuid() == 0:  # the name is the hash of every byte, mode and owner written
        assert tree.content_hash(files) == name[:20], "a file of the generation is damaged"
    check_consistent(Path(out))
    store = os.path.join(out, tree.STORE)
    if secretkey is not None:
        assert open(os.path.join(store, "secretkey"), "rb").read() == secretkey
    if database_password is not None:
        assert open(os.path.join(store, "database_password"), "rb").read() == database_password
        db_env = open(os.path.join(out, "config/db/env"), "rb").read()
        assert b"POSTGRES_PASSWORD=" + database_password + b"\n" in db_env
    assert not [e for e in os.listdir(store) if e.endswith("secretkey") and
                os.path.getsize(os.path.join(store, e)) == 0]


@pytest.fixture(scope="module")
def fast_token_key():
    """RSA-4096 takes a second to make and 80 ms to load with its checks: the runs get a key
    made once (still stored the normal way), the checks load each key once; fsync guards
    against power cuts, not kills, and is skipped."""
    import functools

    from wrapper import pki

    key = pki.new_token_key()
    saved = pki.new_token_key, pki.load_key, fs.fsync
    pki.new_token_key = lambda: key
    pki.load_key = functools.lru_cache(maxsize=64)(saved[1])
    fs.fsync = lambda fd: None
    yield key
    pki.new_token_key, pki.load_key, fs.fsync = saved


SCENARIOS = {
    # name: (inputs run before, the input of the killed run, no hard links)
    "first run": ([], INPUT_A, False),
    "changed run": ([INPUT_A], INPUT_B, False),
    "run whose cleanup removes an old generation": ([INPUT_A, INPUT_A2], INPUT_C, False),
    "first run without hard links": ([], INPUT_A, True),
}


def _copy_with_owner(source: str, target: str) -> None:
    shutil.copy2(source, target, follow_symlinks=False)
    info = os.lstat(source)
    os.chown(target, info.st_uid, info.st_gid, follow_symlinks=False)


def _selected(point: int, total: int, hot: set[int]) -> bool:
    return FULL or point in hot or point % 4 == 0 or point == total


def _hot_points(base: str, scratch: str, variables: dict, total: int, no_hard_links: bool):
    """The points where a crash window was: from the first change under .store or after
    the generation is renamed into place (publish, links, cleanup) to the end."""
    # the store's items are made before any generation folder: find where writing the new
    # generation begins by replaying the run up to each point is too slow; instead record
    # the call count at the phase boundaries with a recording child
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            os.close(read)
            marks = []
            if no_hard_links:
                def nolink(source, target):
                    fs._point()
                    raise OSError(errno.EPERM, "no hard links here", target)
                fs.link = nolink
            original_mkdir, original_rename = fs.mkdir, fs.rename

            def mkdir(path, mode):
                if os.path.basename(path).startswith("tmp-"):
                    marks.append(("generation", fs.calls + 1))
                original_mkdir(path, mode)

            def rename(source, target):
                if os.path.basename(source).startswith("tmp-"):
                    marks.append(("published", fs.calls + 1))
                original_rename(source, target)
            fs.mkdir, fs.rename = mkdir, rename
            fs.calls, fs.crash_at = 0, None
            run(scratch, variables)
            os.write(write, json.dumps(marks).encode())
            code = 0
        finally:
            os._exit(code)
    os.close(write)
    with os.fdopen(read, "rb") as pipe:
        marks = dict(json.loads(pipe.read() or b"[]"))
    os.waitpid(pid, 0)
    shutil.rmtree(scratch, ignore_errors=True)
    generation = marks.get("generation", 1)
    published = marks.get("published", 1)
    return set(range(1, generation + 1)) | set(range(published - 2, total + 1))


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_a_run_killed_before_any_change_then_rerun_ends_complete(scenario, tmp_path,
                                                                  fast_token_key, capsys):
    before, killed, no_hard_links = SCENARIOS[scenario]
    inputs = [*before, killed]
    # the file set each input makes, from an uninterrupted sequence
    expected = {}
    reference = str(tmp_path / "reference")
    for variables in inputs:
        run(reference, variables)
        expected[json.dumps(variables, sort_keys=True)] = {
            (f.path, f.mode) for f in generation_files(reference)}
    # the runs before are made where the killed run runs (DIR's path is part of the
    # settings, hence of each generation's name), then kept aside to start each point from
    out, base = str(tmp_path / "out"), str(tmp_path / "base")
    for variables in before:
        run(out, variables)
    if before:
        shutil.copytree(out, base, symlinks=True, copy_function=_copy_with_owner)
    secretkey = dbpass = None
    if before:
        store = os.path.join(base, tree.STORE)
        secretkey = open(os.path.join(store, "secretkey"), "rb").read()
        dbpass = open(os.path.join(store, "database_password"), "rb").read()

    def fresh(where: str) -> str:
        if os.path.lexists(where):
            shutil.rmtree(where)
        if before:
            shutil.copytree(base, where, symlinks=True, copy_function=_copy_with_owner)
        return where

    total = crashed_run(fresh(out), killed, None, no_hard_links)
    assert total > 20
    hot = _hot_points(base, fresh(out), killed, total, no_hard_links)
    covered = 0
    for point in range(1, total + 1):
        if not _selected(point, total, hot):
            continue
        fresh(out)
        assert crashed_run(out, killed, point, no_hard_links) == 0, f"point {point} not reached"
        covered += 1
        where = f"{scenario}, killed before change {point} of {total}"
        # what a consumer sees now: the previous tree or none (first run), or the new one
        if os.path.exists(os.path.join(out, tree.MARKER)):
            seen = {(f.path, f.mode) for f in generation_files(out)}
            assert seen in [expected[json.dumps(v, sort_keys=True)] for v in inputs], where
            try:
                check_complete(out, seen, secretkey, dbpass)
            except AssertionError as err:
                raise AssertionError(f"{where}: {err}") from err
        # rerun with the killed run's input, then with each earlier one
        secretkey_now = secretkey
        for variables in [killed, *before]:
            run(out, variables)
            try:
                check_complete(out, expected[json.dumps(variables, sort_keys=True)],
                               secretkey_now, dbpass)
            except AssertionError as err:
                raise AssertionError(f"{where}, rerun with {variables}: {err}") from err
            secretkey_now = secretkey_now or open(
                os.path.join(out, tree.STORE, "secretkey"), "rb").read()
            assert unchanged(out, variables, False, Steps(io.StringIO())), where
    with capsys.disabled():
        print(f"\n[crash points] {scenario}: {covered} of {total} points covered"
              f"{' (all)' if covered == total else ' (HARBOR_CRASH_POINTS=all for every one)'}",
              file=sys.stderr)
