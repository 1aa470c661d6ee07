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
