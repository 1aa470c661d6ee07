"""init-data brings the trivy DB in for an offline adapter: trivy's cache layout or an OCI
image layout, owned by the adapter's user, left alone when unchanged, bad input named."""

import gzip
import hashlib
import io
import json
import os
import tarfile
from pathlib import Path

import pytest

from wrapper import trivy_db

UID = os.getuid()  # the tests run as one user; init-data's chown to 10000 is an e2e matter
META = json.dumps({"Version": 2, "NextUpdate": "2026-12-05T00:00:00Z",
                   "UpdatedAt": "2026-12-04T00:00:00Z"}).encode()


def cache_layout(folder: Path, db: bytes = b"bolt db bytes", java: bool = False) -> Path:
    (folder / "db").mkdir(parents=True)
    (folder / "db" / "trivy.db").write_bytes(db)
    (folder / "db" / "metadata.json").write_bytes(META)
    if java:
        (folder / "java-db").mkdir()
        (folder / "java-db" / "trivy-java.db").write_bytes(b"java index")
        (folder / "java-db" / "metadata.json").write_bytes(META)
    return folder


def blob(folder: Path, data: bytes) -> str:
    digest = hashlib.sha256(data).hexdigest()
    (folder / "blobs" / "sha256").mkdir(parents=True, exist_ok=True)
    (folder / "blobs" / "sha256" / digest).write_bytes(data)
    return "sha256:" + digest


def layer(files: dict[str, bytes]) -> bytes:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return gzip.compress(raw.getvalue())


def oci_layout(folder: Path, files: dict[str, bytes], media: str) -> Path:
    folder.mkdir(parents=True)
    layer_digest = blob(folder, layer(files))
    manifest = json.dumps({"schemaVersion": 2, "layers": [
        {"mediaType": media, "digest": layer_digest}]}).encode()
    (folder / "index.json").write_text(json.dumps(
        {"schemaVersion": 2, "manifests": [{"digest": blob(folder, manifest)}]}))
    (folder / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    return folder


def installed(root: Path, part: str = "db") -> dict[str, bytes]:
    folder = root / trivy_db.CACHE / part
    return {p.name: p.read_bytes() for p in folder.iterdir()}


def test_no_source_changes_nothing(tmp_path):
    assert trivy_db.bring_in(str(tmp_path / "root"), str(tmp_path / "absent"), UID) == []
    assert not (tmp_path / "root").exists()


def test_cache_layout_is_copied_and_an_unchanged_one_left_alone(tmp_path):
    source = cache_layout(tmp_path / "src", java=True)
    root = tmp_path / "root"
    said = []
    assert trivy_db.bring_in(str(root), str(source), UID, said.append) == []
    assert installed(root) == {"trivy.db": b"bolt db bytes", "metadata.json": META}
    assert installed(root, "java-db") == {"trivy-java.db": b"java index", "metadata.json": META}
    db = root / trivy_db.CACHE / "db"
    assert oct(db.stat().st_mode & 0o777) == "0o755"
    assert oct((db / "trivy.db").stat().st_mode & 0o777) == "0o644"
    inode = (db / "trivy.db").stat().st_ino
    said.clear()
    assert trivy_db.bring_in(str(root), str(source), UID, said.append) == []
    assert (db / "trivy.db").stat().st_ino == inode and "unchanged" in said[0]
    (source / "db" / "trivy.db").write_bytes(b"a newer, larger bolt db")
    assert trivy_db.bring_in(str(root), str(source), UID) == []
    assert installed(root)["trivy.db"] == b"a newer, larger bolt db"
    assert sorted(os.listdir(root / trivy_db.CACHE)) == ["db", "java-db"]  # no leftovers


def test_oci_layout_layers_are_unpacked(tmp_path):
    source = oci_layout(tmp_path / "oci", {"trivy.db": b"from oci", "metadata.json": META},
                        "application/vnd.aquasec.trivy.db.layer.v1.tar+gzip")
    root = tmp_path / "root"
    assert trivy_db.bring_in(str(root), str(source), UID) == []
    assert installed(root) == {"trivy.db": b"from oci", "metadata.json": META}


@pytest.mark.parametrize("make,why", [
    (lambda d: (d / "notes.txt").write_text("x"), "holds neither db/trivy.db"),
    (lambda d: (d / "db").mkdir() or (d / "db" / "trivy.db").write_bytes(b"x"),
     "has trivy.db but not all of"),
    (lambda d: (d / "index.json").write_text("{"), "not a readable OCI image layout"),
    (lambda d: oci_layout(d / "o", {"trivy.db": b"x", "metadata.json": META},
                          "application/vnd.oci.image.layer.v1.tar+gzip"), "has no layer"),
    (lambda d: oci_layout(d / "o", {"trivy.db": b"x"},
                          "application/vnd.aquasec.trivy.db.layer.v1.tar+gzip"),
     "the layer has no metadata.json"),
])
def test_bad_sources_are_named_and_nothing_is_installed(tmp_path, make, why):
    source = tmp_path / "src"
    source.mkdir()
    make(source)
    if (source / "o").exists():
        source = source / "o"
    root = tmp_path / "root"
    (problem,) = trivy_db.bring_in(str(root), str(source), UID)
    assert why in problem and "accepted:" in problem
    assert not (root / trivy_db.CACHE / "db").exists()


def test_a_link_in_a_layer_is_refused(tmp_path):
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        info = tarfile.TarInfo("trivy.db")
        info.type, info.linkname = tarfile.SYMTYPE, "/etc/shadow"
        tar.addfile(info)
    source = tmp_path / "oci"
    source.mkdir()
    digest = blob(source, gzip.compress(raw.getvalue()))
    manifest = json.dumps({"layers": [{"mediaType": "application/vnd.aquasec.trivy.db.layer.v1.tar+gzip",
                                       "digest": digest}]}).encode()
    (source / "index.json").write_text(json.dumps({"manifests": [{"digest": blob(source, manifest)}]}))
    (problem,) = trivy_db.bring_in(str(tmp_path / "root"), str(source), UID)
    assert "not a regular file" in problem
