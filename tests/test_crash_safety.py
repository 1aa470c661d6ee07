"""Safe under concurrency and crashes: racing wrappers agree on one key set, and a run killed
at any moment leaves the previous complete tree or the new one."""

import os
import random
import signal
import subprocess
import sys
import time

from support import REPO, clean_env
from test_generate import check_consistent, env_file, generate

BASE = {"HARBOR_HOSTNAME": "harbor.example.test"}


def start(out, **variables):
    return subprocess.Popen([sys.executable, "-m", "wrapper", "generate", "--out", str(out)],
                            cwd=REPO, env=clean_env({**BASE, **variables}),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def test_sixteen_wrappers_started_at_once_agree_on_one_key_set(tmp_path):
    out = tmp_path / "shared"
    procs = [start(out) for _ in range(16)]
    codes = [p.wait(timeout=300) for p in procs]
    assert codes == [0] * 16, [p.stderr.read() for p in procs]
    check_consistent(out)
    store = {p.relative_to(out / ".store"): p.read_bytes()
             for p in (out / ".store").rglob("*") if p.is_file()}
    assert not [p for p in store if ".tmp-" in str(p)]
    # every run published the same content: one generation only
    generations = [g for g in os.listdir(out / ".generations") if not g.startswith("tmp-")]
    assert len(generations) == 1, generations
    # a later run reads the same keys
    assert generate(out).returncode == 0
    assert {p.relative_to(out / ".store"): p.read_bytes()
            for p in (out / ".store").rglob("*") if p.is_file()} == store


def _tree_state(out):
    """(complete?, secretkey) of what a consumer sees now."""
    if not os.path.lexists(out / "current"):
        return False, None
    assert (out / "ready").is_file(), "current points at an incomplete generation"
    return True, (out / "secret/keys/secretkey").read_bytes()


def test_killed_at_random_moments_then_rerun_always_ends_complete(tmp_path, token_key):
    rng = random.Random(2015)
    out = tmp_path / "crashy"
    hostnames = [f"h{i}.example.test" for i in range(4)]
    secretkey = None
    for round_ in range(24):
        # the first rounds also kill the RSA-4096 key generation of a first run
        variables = {"HARBOR_HOSTNAME": rng.choice(hostnames),
                     "HARBOR_INTERNAL_TLS_ENABLED": rng.choice(["true", "false"])}
        proc = start(out, **variables)
        time.sleep(rng.uniform(0.0, 0.6 if round_ > 3 else 1.5))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        complete, seen = _tree_state(out)
        if complete:
            secretkey = secretkey or seen
            assert seen == secretkey
            check_consistent(out)
        result = generate(out, **variables)
        assert result.returncode == 0, result.stderr
        check_consistent(out)
        secretkey = secretkey or (out / "secret/keys/secretkey").read_bytes()
        assert (out / "secret/keys/secretkey").read_bytes() == secretkey
        assert env_file(out / "config/core/env")["EXT_ENDPOINT"] == (
            f"https://{variables['HARBOR_HOSTNAME']}")
