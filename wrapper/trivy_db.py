"""Trivy without the internet: bring the vulnerability DB into the trivy volume (init-data).

With HARBOR_TRIVY_SKIP_UPDATE=true the adapter never downloads its DB, and trivy refuses to
scan until one is in its cache folder (<cache>/db/trivy.db and metadata.json; the Java index
in <cache>/java-db). init-data copies one from IMPORT (a read-only mount, see
compose/docker-compose.trivy-offline.yml) into the volume at data/trivy-adapter/trivy, owned by
the adapter's user. IMPORT holds either

- the cache layout: db/trivy.db + db/metadata.json (and java-db/...), e.g. a copy of another
  trivy's ~/.cache/trivy, or of `trivy image --download-db-only --cache-dir DIR`; or
- an OCI image layout (index.json, blobs/sha256/...) of the DB artifacts, e.g.
  `oras copy ghcr.io/aquasecurity/trivy-db:2 --to-oci-layout DIR`: the layers with trivy's
  media types are unpacked into db/ and java-db/.

A DB already in the volume with the same metadata.json and size is left alone.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tarfile

from .context import HARBOR_UID

IMPORT = "/trivy-db-import"
CACHE = "trivy-adapter/trivy"  # under the init-data root, the adapter's .cache/trivy
PARTS = {"db": ("trivy.db", "metadata.json"), "java-db": ("trivy-java.db", "metadata.json")}
MEDIA_TYPES = {"application/vnd.aquasec.trivy.db.layer.v1.tar+gzip": "db",
               "application/vnd.aquasec.trivy.javadb.layer.v1.tar+gzip": "java-db"}
LIMIT = 8 << 30  # a DB layer larger than this is refused, not unpacked


class BadImport(Exception):
    pass


def _cache_layout(source: str) -> dict[str, dict[str, str]]:
    """part -> {file name: path} for each complete part of a cache-layout folder."""
    found = {}
    for part, names in PARTS.items():
        paths = {n: os.path.join(source, part, n) for n in names}
        present = [n for n, p in paths.items() if os.path.isfile(p)]
        if len(present) == len(names):
            found[part] = paths
        elif present:
            raise BadImport(f"{source}/{part} has {', '.join(present)} but not all of "
                            f"{', '.join(names)}")
    return found


def _blob(source: str, digest: str) -> str:
    algorithm, _, value = digest.partition(":")
    if algorithm != "sha256" or len(value) != 64 or not all(c in "0123456789abcdef"
                                                           for c in value):
        raise BadImport(f"{source}: unsupported digest {digest!r}")
    return os.path.join(source, "blobs", "sha256", value)


def _oci_layers(source: str) -> dict[str, str]:
    """part -> blob path of the DB layers of an OCI image layout."""
    try:
        with open(os.path.join(source, "index.json"), encoding="utf-8") as fh:
            index = json.load(fh)
        layers = {}
        for entry in index.get("manifests", []):
            with open(_blob(source, entry["digest"]), encoding="utf-8") as fh:
                manifest = json.load(fh)
            for layer in manifest.get("layers", []):
                part = MEDIA_TYPES.get(layer.get("mediaType"))
                if part:
                    layers[part] = _blob(source, layer["digest"])
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise BadImport(f"{source}: not a readable OCI image layout ({exc})") from None
    if not layers:
        raise BadImport(f"{source}: the OCI layout has no layer of type "
                        f"{' or '.join(MEDIA_TYPES)}")
    return layers


def _unpack(blob: str, part: str, into: str) -> None:
    """The files of a DB layer (flat tar.gz) into `into`; nothing but those regular files."""
    if os.path.getsize(blob) > LIMIT:
        raise BadImport(f"{blob}: larger than {LIMIT >> 30} GiB")
    with tarfile.open(blob, "r:gz") as tar:
        wanted = set(PARTS[part])
        for member in tar.getmembers():
            name = member.name.removeprefix("./")
            if name not in wanted:
                continue
            if not member.isfile():
                raise BadImport(f"{blob}: {name} is not a regular file")
            with tar.extractfile(member) as src, open(os.path.join(into, name), "wb") as dst:
                shutil.copyfileobj(src, dst, 1 << 20)
            wanted.discard(name)
        if wanted:
            raise BadImport(f"{blob}: the layer has no {', '.join(sorted(wanted))}")


def _same(paths: dict[str, str], target: str) -> bool:
    for name, path in paths.items():
        there = os.path.join(target, name)
        if not os.path.isfile(there) or os.path.getsize(there) != os.path.getsize(path):
            return False
    meta = "metadata.json"
    with open(paths[meta], "rb") as a, open(os.path.join(target, meta), "rb") as b:
        return hashlib.sha256(a.read()).digest() == hashlib.sha256(b.read()).digest()


def _install(staged: str, target: str, uid: int) -> None:
    """staged (a full part, same file system) replaces target, owned by uid."""
    for name in os.listdir(staged):
        os.chmod(os.path.join(staged, name), 0o644)
        os.chown(os.path.join(staged, name), uid, uid)
    os.chmod(staged, 0o755)
    os.chown(staged, uid, uid)
    old = target + ".old"
    shutil.rmtree(old, ignore_errors=True)
    if os.path.exists(target):
        os.rename(target, old)
    os.rename(staged, target)
    shutil.rmtree(old, ignore_errors=True)


def bring_in(root: str, source: str = IMPORT, uid: int = HARBOR_UID,
             say=lambda line: None) -> list[str]:
    """Copies the DB from source into root/CACHE; returns the problems (empty: done or
    nothing to do). Without a source folder, nothing happens."""
    if not os.path.isdir(source) or not os.listdir(source):
        return []
    cache = os.path.join(root, CACHE)
    try:
        if os.path.exists(os.path.join(source, "index.json")):
            parts = {part: {"blob": blob} for part, blob in _oci_layers(source).items()}
        else:
            parts = _cache_layout(source)
            if not parts:
                raise BadImport(f"{source} holds neither db/trivy.db + db/metadata.json nor "
                                "an OCI image layout (index.json)")
        for part, paths in parts.items():
            target = os.path.join(cache, part)
            staged = os.path.join(cache, f".{part}.import")
            shutil.rmtree(staged, ignore_errors=True)
            if "blob" not in paths and os.path.isdir(target) and _same(paths, target):
                say(f"harbor-setupwrapper: trivy {part:<8} already in the volume, unchanged")
                continue
            os.makedirs(staged)
            if "blob" in paths:
                _unpack(paths["blob"], part, staged)
            else:
                for name, path in paths.items():
                    shutil.copyfile(path, os.path.join(staged, name))
            if "blob" in paths and os.path.isdir(target) and _same(
                    {n: os.path.join(staged, n) for n in PARTS[part]}, target):
                shutil.rmtree(staged)
                say(f"harbor-setupwrapper: trivy {part:<8} already in the volume, unchanged")
                continue
            _install(staged, target, uid)
            say(f"harbor-setupwrapper: trivy {part:<8} brought in from {source} "
                f"({uid}:{uid})")
    except BadImport as exc:
        return [f"trivy DB: {exc}; accepted: a folder with db/trivy.db and db/metadata.json "
                "(trivy's cache layout) or an OCI image layout of the DB (README, Trivy "
                "without the internet)"]
    except (OSError, tarfile.TarError) as exc:
        return [f"trivy DB: cannot bring it in from {source}: {exc}"]
    return []
