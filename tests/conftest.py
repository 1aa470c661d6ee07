"""Shared fixtures: a token key made once per session, an output folder seeded with it."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def token_key() -> bytes:
    from wrapper import pki

    return pki.new_token_key()


@pytest.fixture
def out(tmp_path, token_key) -> Path:
    """An output folder whose store already holds a token key (RSA 4096 is slow to make)."""
    folder = tmp_path / "out"
    (folder / ".store" / "token").mkdir(parents=True)
    (folder / ".store" / "token" / "private_key.pem").write_bytes(token_key)
    return folder


# --- time per test file (tests/run.sh sets HARBOR_TEST_TIMES=1) ---------------------------------

_FILE_SECONDS: dict[str, float] = {}
_FILE_TESTS: dict[str, int] = {}
_STARTED: list[float] = []


def pytest_sessionstart(session):
    import time

    _STARTED.append(time.monotonic())


def pytest_runtest_logreport(report):
    """Setup, call and teardown of every test, added up per file (a session fixture's work,
    such as building the stand-in images, counts for the file whose test first needed it)."""
    path = report.nodeid.split("::", 1)[0]
    _FILE_SECONDS[path] = _FILE_SECONDS.get(path, 0.0) + report.duration
    if report.when == "call":
        _FILE_TESTS[path] = _FILE_TESTS.get(path, 0) + 1


def pytest_terminal_summary(terminalreporter):
    import os

    if not os.environ.get("HARBOR_TEST_TIMES") or not _FILE_SECONDS:
        return
    write = terminalreporter.write_line
    terminalreporter.section("time per test file")
    total = sum(_FILE_SECONDS.values())
    for path, seconds in sorted(_FILE_SECONDS.items(), key=lambda item: -item[1]):
        write(f"{seconds:8.1f} s  {_FILE_TESTS.get(path, 0):4d} tests  {path}")
    import time

    write(f"{total:8.1f} s  {sum(_FILE_TESTS.values()):4d} tests  in all; the session took "
          f"{time.monotonic() - _STARTED[0]:.1f} s (collection included)")
