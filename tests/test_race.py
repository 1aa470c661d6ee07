"""Racing wrappers without a working lock (issue 20): 32 at once on a fresh folder, with
fcntl.lockf made a no-op or raising ENOLCK (NFSv3 without a lock manager, FUSE, SMB), with
the same input and with four host names. Every round: one key set in every generation, the
published tree consistent, and a further run changes no byte."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from support import REPO, clean_env, snapshot

from wrapper import consistency, pki

RACERS = 32
HOSTS = [f"h{i}.example.test" for i in range(4)]

# The wrapper as `harbor-setupwrapper generate` runs it, with the lock taken away and a
# 1024-bit token key (RSA-4096 for 32 racers would take the round's whole time budget; the
# race on the item is the same)
RACER = r"""
import errno, fcntl, os, sys
if sys.argv[1] == "noop":
    fcntl.lockf = lambda *args, **kwargs: None
else:
    def refuse(*args, **kwargs):
        raise OSError(errno.ENOLCK, os.strerror(errno.ENOLCK))
    fcntl.lockf = refuse
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
import wrapper.pki
def small_token_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=1024).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption())
wrapper.pki.new_token_key = small_token_key
from wrapper import cli
sys.exit(cli.main(["generate", "--out", sys.argv[2]]))
"""


def variables(host: str) -> dict[str, str]:
    return {"HARBOR_HOSTNAME": host, "HARBOR_INTERNAL_TLS_ENABLED": "true"}


def race(out: Path, fault: str, hosts: list[str]) -> list[subprocess.Popen]:
    procs = [subprocess.Popen([sys.executable, "-c", RACER, fault, str(out)], cwd=REPO,
                              env=clean_env(variables(hosts[i % len(hosts)])),
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
             for i in range(RACERS)]
    for p in procs:
        p.wait(timeout=600)
    return procs


def store_items(out: Path) -> dict[str, bytes]:
    return {str(p.relative_to(out / ".store")): p.read_bytes()
            for p in (out / ".store").rglob("*") if p.is_file()}


def check_generation(folder: Path, store: dict[str, bytes]) -> None:
    """A published generation agrees with itself and uses the store's one key set."""
    def read(path: str) -> bytes | None:
        try:
            return (folder / path).read_bytes()
        except FileNotFoundError:
            return None

    assert consistency.problems(read) == [], folder.name
    core = consistency.env(read("config/core/env"))
    assert read("secret/keys/secretkey") == store["secretkey"]
    assert read("secret/core/private_key.pem") == store["token/private_key.pem"]
    assert core["CORE_SECRET"].encode() == store["core_secret"]
    assert core["JOBSERVICE_SECRET"].encode() == store["jobservice_secret"]
    assert core["CSRF_KEY"].encode() == store["csrf_key"]
    assert core["REGISTRY_CREDENTIAL_PASSWORD"].encode() == store["registry_password"]
    assert core["POSTGRESQL_PASSWORD"].encode() == store["database_password"]
    assert f"secret: {store['registry_http_secret'].decode()}" in read(
        "config/registry/config.yml").decode()
    for crt, key, ca in (("secret/cert/server.crt", "https/server.key", "https/ca.pem"),
                         ("secret/tls/core.crt", "internal/core.key", "internal/ca.pem")):
        assert read(crt.replace(".crt", ".key")) == store[key]
        ca_cert = pki.load_certs(store[ca][store[ca].index(b"-----BEGIN CERTIFICATE"):])[0]
        pki.load_certs(read(crt))[0].verify_directly_issued_by(ca_cert)


@pytest.mark.parametrize("fault, inputs", [("noop", ["same", "four", "same"]),
                                           ("enolck", ["four", "same", "four"])])
def test_racing_wrappers_without_a_lock_agree_on_one_key_set(tmp_path, capsys, fault, inputs):
    for round_, kind in enumerate(inputs):
        hosts = HOSTS if kind == "four" else HOSTS[:1]
        out = tmp_path / f"round{round_}"
        started = time.perf_counter()
        procs = race(out, fault, hosts)
        took = time.perf_counter() - started
        errors = [p.stderr.read() for p in procs]
        failed = {i: (p.returncode, errors[i]) for i, p in enumerate(procs) if p.returncode}
        assert not failed, "\n".join(f"racer {i} exited {code}:\n{err}"
                                      for i, (code, err) in failed.items())
        lock_warnings = sum(e.count("cannot lock") for e in errors)
        if fault == "enolck":  # said once by every racer that reached the lock, no more
            assert 1 <= lock_warnings <= RACERS and all(e.count("cannot lock") <= 1
                                                        for e in errors)
            assert any("going on without the lock, safely" in e for e in errors)
        else:
            assert lock_warnings == 0
        store = store_items(out)
        assert not [name for name, data in store.items() if ".tmp-" in name or not data]
        generations = sorted(g for g in (out / ".generations").iterdir()
                             if (g / "ready").is_file())
        assert generations
        for generation in generations:
            check_generation(generation, store)
        host = consistency.env((out / "config/core/env").read_bytes())["EXT_ENDPOINT"]
        before = snapshot(out)
        again = subprocess.run([sys.executable, "-m", "wrapper", "generate", "--out", str(out)],
                               cwd=REPO, env=clean_env(variables(host.split("//")[1])),
                               capture_output=True, text=True)
        assert again.returncode == 0 and "up to date" in again.stderr, again.stderr
        assert snapshot(out) == before
        with capsys.disabled():
            print(f"\n[race] lock {fault}, {len(hosts)} host name(s), round {round_ + 1}: "
                  f"{RACERS} wrappers in {took:.1f} s, {len(generations)} generation(s) "
                  "consistent, one key set, rerun a byte no-op")


def test_a_tree_published_inconsistent_by_an_older_version_is_repaired(out):
    """What the older version's race left: a registry htpasswd (store and published tree)
    made from a password the store did not keep, and a marker that says `unchanged`."""
    import bcrypt

    from test_generate import check_consistent, generate

    assert generate(out).returncode == 0
    wrong = b"harbor_registry_user:" + bcrypt.hashpw(b"lost" * 8, bcrypt.gensalt(5)) + b"\n"
    (out / ".store/registry_htpasswd").write_bytes(wrong)
    generation = Path(os.path.realpath(out / "current"))
    (generation / "config/registry/passwd").write_bytes(wrong)
    marker = json.loads((generation / "ready").read_text())
    del marker["checked"]  # published before the consistency check existed
    (generation / "ready").write_text(json.dumps(marker))
    assert consistency.problems(lambda p: (out / p).read_bytes() if (out / p).exists()
                                else None)

    result = generate(out)
    assert result.returncode == 0 and "up to date" not in result.stderr, result.stderr
    check_consistent(out)
    assert consistency.problems(lambda p: (out / p).read_bytes() if (out / p).exists()
                                else None) == []
    assert (out / ".store/registry_htpasswd").read_bytes() != wrong
    assert "up to date" in generate(out).stderr


def test_a_racing_runs_clean_leaves_the_link_another_run_is_placing(out, monkeypatch):
    """Without a lock, one run's clean() ran between another's symlink() of current.tmp-*
    and its replace() onto `current`, removed the fresh temporary link, and the other run
    ended in "cannot write: No such file or directory" (exit 1). Forced here: the other
    run's clean() runs just before each replace() of a link temporary."""
    import io

    from test_generate import BASE, check_consistent, generate
    from wrapper import fs, tree
    from wrapper.generate import Steps
    from wrapper.generate import generate as generate_in_process
    from wrapper.settings import load

    assert generate(out).returncode == 0
    raced = []
    real_replace = fs.replace

    def replace_after_a_racing_clean(source, target):
        if ".tmp-" in os.path.basename(source) and os.path.islink(source):
            tree.clean(str(out), keep=tree.current_generation(str(out)))
            raced.append(os.path.basename(target))
        real_replace(source, target)

    monkeypatch.setattr(fs, "replace", replace_after_a_racing_clean)
    changed = {**BASE, "HARBOR_LOG_LEVEL": "debug"}
    generate_in_process(str(out), load(changed), steps=Steps(io.StringIO()),
                        variables=changed)
    assert "current" in raced
    check_consistent(out)
