"""The wrapper writes only inside DIR, through no symlink it did not make, with explicit modes
whatever the umask, leaves DIR's own mode alone, writes nothing on refused input, and leaves
no temporary folder behind."""

from __future__ import annotations

import errno
import io
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from support import REPO, clean_env, snapshot
from test_generate import check_consistent, env_file, generate
from wrapper import fs, tree
from wrapper.generate import Steps
from wrapper.generate import generate as generate_in_process
from wrapper.settings import load
from wrapper.store import Store


def everything(*folders: Path) -> dict:
    return {str(f): snapshot(f) for f in folders}


def test_empty_setup_dir_is_refused_and_nothing_is_written(tmp_path):
    result = subprocess.run([sys.executable, "-m", "wrapper", "generate"], cwd=tmp_path,
                            env={**clean_env({"HARBOR_HOSTNAME": "h.example.test",
                                              "HARBOR_SETUP_DIR": ""}),
                                 "PYTHONPATH": str(REPO)},
                            capture_output=True, text=True)
    assert result.returncode == 2
    assert "HARBOR_SETUP_DIR" in result.stderr and "Traceback" not in result.stderr
    assert os.listdir(tmp_path) == []


def _plant(out: Path, elsewhere: Path, what: str) -> None:
    out.mkdir(exist_ok=True)
    if what == ".generations":
        (elsewhere / "victim" / "sub").mkdir(parents=True)
        (out / ".generations").symlink_to(elsewhere / "victim")
    elif what == ".store":
        (elsewhere / "victim").mkdir()
        (out / ".store").symlink_to(elsewhere / "victim")
    elif what == ".lock":
        (out / ".lock").symlink_to(elsewhere / "created-through-the-lock")
    elif what == ".store/https":
        (out / ".store").mkdir(exist_ok=True)
        (elsewhere / "victim").mkdir()
        (out / ".store" / "https").symlink_to(elsewhere / "victim")
    elif what == "current":
        fake = elsewhere / "victim" / "secret" / "keys"
        fake.mkdir(parents=True)
        (fake / "secretkey").write_bytes(b"planted-16-bytes")
        (out / "current").symlink_to(elsewhere / "victim")
    elif what == "config":
        (out / "config").mkdir()
        (out / "config" / "mine.txt").write_text("the user's own file\n")
    elif what == "ready":
        (out / "ready").symlink_to("/etc/hostname")


@pytest.mark.parametrize("what", [".generations", ".store", ".lock", ".store/https",
                                  "current", "config", "ready"])
def test_something_planted_where_the_wrapper_writes_is_refused_untouched(what, tmp_path,
                                                                        token_key):
    out, elsewhere = tmp_path / "out", tmp_path / "elsewhere"
    elsewhere.mkdir()
    _plant(out, elsewhere, what)
    out.chmod(0o750)
    before = everything(out, elsewhere)
    result = generate(out)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert f"{out / what}" in result.stderr and "nothing was written" in result.stderr
    assert everything(out, elsewhere) == before


def test_a_secret_refused_against_the_store_writes_nothing(out):
    assert generate(out, HARBOR_DATABASE_PASSWORD="given-Passw0rd").returncode == 0
    out.chmod(0o700)
    before = everything(out)
    # the database password item does not exist yet (it was given); a refused secret key
    # must not create it, nor anything else
    result = generate(out, HARBOR_SECRET_KEY="x" * 16)
    assert result.returncode == 2 and "HARBOR_SECRET_KEY" in result.stderr
    assert everything(out) == before


@pytest.mark.parametrize("mode", [0o700, 0o750, 0o1777])
def test_dir_keeps_its_own_mode(tmp_path, token_key, mode):
    out = tmp_path / "out"
    (out / ".store" / "token").mkdir(parents=True)
    (out / ".store" / "token" / "private_key.pem").write_bytes(token_key)
    out.chmod(mode)
    assert generate(out).returncode == 0
    assert out.stat().st_mode & 0o7777 == mode
    assert generate(out, HARBOR_HTTP_PORT="x").returncode == 2
    assert out.stat().st_mode & 0o7777 == mode


def _modes(out: Path) -> dict:
    """(mode, uid, gid) of everything the wrapper made, by path (generation name left out)."""
    result = {}
    for path, (_, st_mode, uid, gid, _) in snapshot(out).items():
        parts = path.split("/")
        if parts[0] == tree.GENERATIONS and len(parts) > 1:
            parts[1] = "<generation>"
        if ".tmp-" in path:
            continue
        result["/".join(parts)] = (oct(st_mode), uid, gid)
    return result


def _generate_with_umask(out: Path, umask: int) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "wrapper", "generate", "--out", str(out)],
                          cwd=REPO, env=clean_env({"HARBOR_HOSTNAME": "harbor.example.test"}),
                          capture_output=True, text=True, preexec_fn=lambda: os.umask(umask))


def test_modes_do_not_depend_on_the_umask(tmp_path, token_key):
    made = {}
    for umask in (0o022, 0o000, 0o027, 0o077):
        out = tmp_path / f"umask-{umask:03o}"
        (out / ".store" / "token").mkdir(parents=True)
        (out / ".store" / "token" / "private_key.pem").write_bytes(token_key)
        os.chmod(out / ".store" / "token" / "private_key.pem", 0o600)
        result = _generate_with_umask(out, umask)
        assert result.returncode == 0, result.stderr
        made[umask] = _modes(out)
        world_writable = [p for p, (m, _, _) in made[umask].items()
                          if int(m, 8) & 0o002 and not p.endswith(tuple(tree.LINKED))
                          and p != tree.CURRENT]
        assert world_writable == [], umask
    for umask in (0o000, 0o027, 0o077):
        assert made[umask] == made[0o022], f"umask {umask:03o}"
    generation = {p: m for p, m in made[0o077].items() if p.startswith(".generations/<")}
    assert all(int(m, 8) & 0o755 == 0o755 for p, (m, _, _) in generation.items()
               if int(m, 8) & 0o040000), "every folder of a generation is 0755"
    if os.geteuid() == 0:
        core_env = made[0o077][".generations/<generation>/config/core/env"]
        assert core_env == (oct(0o100640), 10000, 10000)
        assert made[0o077][".generations/<generation>/config/db/env"] == (oct(0o100640), 999, 999)


def test_lost_store_brings_back_the_secretkey_and_the_database_password(out, token_key):
    assert generate(out).returncode == 0
    secretkey = (out / "secret/keys/secretkey").read_bytes()
    password = env_file(out / "config/db/env")["POSTGRES_PASSWORD"]
    core_password = env_file(out / "config/core/env")["POSTGRESQL_PASSWORD"]
    assert core_password == password
    for path in sorted((out / ".store").rglob("*"), reverse=True):
        path.rmdir() if path.is_dir() else path.unlink()
    (out / ".store" / "token").mkdir()
    (out / ".store" / "token" / "private_key.pem").write_bytes(token_key)
    assert generate(out, HARBOR_LOG_LEVEL="debug").returncode == 0
    check_consistent(out)
    assert (out / "secret/keys/secretkey").read_bytes() == secretkey
    assert env_file(out / "config/db/env")["POSTGRES_PASSWORD"] == password
    assert env_file(out / "config/core/env")["POSTGRESQL_PASSWORD"] == password
    assert (out / ".store" / "database_password").read_bytes().decode() == password


def test_a_run_out_of_space_removes_its_own_temporary_generation(out, monkeypatch):
    variables = {"HARBOR_HOSTNAME": "harbor.example.test"}
    generate_in_process(str(out), load(variables), steps=Steps(io.StringIO()),
                        variables=variables)
    real_create, calls = fs.create, []

    def full_disk(path, data, mode, owner=None):
        calls.append(path)
        if len(calls) > 5:
            raise OSError(errno.ENOSPC, "No space left on device", path)
        real_create(path, data, mode, owner)

    monkeypatch.setattr(fs, "create", full_disk)
    changed = {**variables, "HARBOR_LOG_LEVEL": "debug"}
    with pytest.raises(OSError):
        generate_in_process(str(out), load(changed), steps=Steps(io.StringIO()),
                            variables=changed)
    assert [e for e in os.listdir(out / ".generations") if not e[0].isalnum() or
            e.startswith(("tmp-", "del-"))] == []
    assert not [p for p in (out / ".store").rglob("*") if ".tmp-" in p.name]
    check_consistent(out)


def test_temporaries_left_by_killed_runs_are_removed_even_future_dated(out):
    assert generate(out).returncode == 0
    generations = out / ".generations"
    future, old, trash = (generations / "tmp-1-future", generations / "tmp-2-old",
                          generations / "del-3-trash")
    for folder in (future, old, trash):
        (folder / "config").mkdir(parents=True)
        (folder / "config" / "x").write_text("x")
    os.utime(future, (time.time() + 365 * 86400,) * 2)
    os.utime(old, (time.time() - 3600,) * 2)
    (out / "current.tmp-abcd1234").symlink_to("nowhere")
    os.utime(out / "current.tmp-abcd1234", (time.time() - 3600,) * 2, follow_symlinks=False)
    store_temps = [out / ".store" / "csrf_key.tmp-1-future",
                   out / ".store" / "token" / "x.tmp-2-old"]
    for path in store_temps:
        path.write_bytes(b"left by a killed run")
    os.utime(store_temps[0], (time.time() + 365 * 86400,) * 2)
    os.utime(store_temps[1], (time.time() - 3600,) * 2)
    assert generate(out, HARBOR_LOG_LEVEL="debug").returncode == 0
    left = os.listdir(generations)
    assert not [e for e in left if e.startswith(("tmp-", "del-"))], left
    assert not (out / "current.tmp-abcd1234").is_symlink()
    assert not [p for p in store_temps if p.exists()]


def test_an_empty_store_item_is_made_anew(tmp_path):
    store = Store(str(tmp_path / ".store"))
    os.makedirs(store.root)
    Path(store.path("secretkey")).write_bytes(b"")
    value, created = store.get_or_create("secretkey", lambda: b"k" * 16)
    assert (value, created) == (b"k" * 16, True)


def test_without_hard_links_an_item_is_renamed_into_place_unless_it_exists(tmp_path,
                                                                          monkeypatch):
    def no_link(source, target):
        raise OSError(errno.EPERM, "no hard links", target)

    monkeypatch.setattr(fs, "link", no_link)
    store = Store(str(tmp_path / ".store"))
    assert store.get_or_create("a", lambda: b"first") == (b"first", True)
    assert store.get_or_create("a", lambda: b"second") == (b"first", False)
    Path(store.path("b")).write_bytes(b"other wrapper's")
    assert fs.rename_noreplace(store._temp("b", b"mine"), store.path("b")) is False
    assert Path(store.path("b")).read_bytes() == b"other wrapper's"


def test_a_block_switched_on_by_its_presence_alone_is_not_taken_as_unchanged(out):
    """internal_tls.enabled defaults to true: the block's presence is the only change."""
    assert generate(out).returncode == 0
    assert not (out / "secret/tls").exists()
    result = generate(out, HARBOR_INTERNAL_TLS_ENABLED="true")
    assert result.returncode == 0 and "up to date" not in result.stderr
    assert (out / "secret/tls/harbor_internal_ca.crt").is_file()
