"""The entrypoint shims under a real POSIX sh (dash, Debian's /bin/sh, as in Harbor's images
that have no bash): bad wait values fail at once, env lines are loaded literally, a damaged line
is refused instead of being exported as NAME=NAME."""

import os
import shutil
import subprocess

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
