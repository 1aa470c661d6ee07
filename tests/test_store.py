"""Store.get_or_create under concurrency (issue 20): the first complete item wins, always;
an empty item an older version left is repaired only while it is still empty."""

from __future__ import annotations

import os

import pytest

from wrapper import fs
from wrapper.store import Store


@pytest.fixture(params=["link", "rename_noreplace"])
def store(request, tmp_path, monkeypatch) -> Store:
    """Both ways of taking a name: hard links, and (file systems without them) renameat2."""
    if request.param == "rename_noreplace":
        def no_hard_links(source, target):
            raise PermissionError(1, "Operation not permitted")
        monkeypatch.setattr(fs, "link", no_hard_links)
    (tmp_path / "store").mkdir(mode=0o700)
    return Store(str(tmp_path / "store"))


def test_an_item_made_by_another_wrapper_meanwhile_is_kept(store):
    """Another wrapper links its item while this one is making its own: this one gets the
    other's, and the other's is not replaced."""
    def make() -> bytes:
        assert store.get_or_create("secret", lambda: b"first") == (b"first", True)
        return b"second"

    assert store.get_or_create("secret", make) == (b"first", False)
    assert store.read("secret") == b"first"
    assert not [n for n in os.listdir(store.root) if ".tmp-" in n]


def test_an_empty_item_is_repaired_once_and_every_wrapper_gets_the_repair(store):
    with open(store.path("secret"), "wb"):
        pass  # what an older version's killed run could leave
    calls = []

    def make() -> bytes:
        calls.append(1)
        if len(calls) == 1:  # a second wrapper repairs it while the first makes its value
            assert store.get_or_create("secret", lambda: b"repair-2") == (b"repair-2", True)
        return b"repair-1"

    assert store.get_or_create("secret", make) == (b"repair-2", False)
    assert store.read("secret") == b"repair-2"
    assert store.get_or_create("secret", lambda: b"later") == (b"repair-2", False)


def test_a_late_wrapper_that_saw_the_item_empty_does_not_replace_the_repair(store):
    with open(store.path("secret"), "wb"):
        pass
    assert store.get_or_create("secret", lambda: b"repaired") == (b"repaired", True)
    # one that read the item while empty, decides now: the decision is taken already
    assert store._repair_empty("secret", lambda: b"late") == (b"repaired", False)
    assert store.read("secret") == b"repaired"
