"""Builds the benchmark's busybox image with the standard library only.

The same root filesystem directory serves as the runc bundle's rootfs and,
tarred, as the single layer of an OCI image archive that both
`dockyard image load` and `podman load` read, so every runner starts the
very same files.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import shutil
import tarfile
from pathlib import Path

BUSYBOX = "/bin/busybox"

APPLETS = [
    "sh", "true", "false", "echo", "cat", "ls", "sleep", "id", "env",
    "hostname", "mount", "ps", "kill", "pwd", "grep", "head", "tail",
    "wc", "test", "printf", "touch", "mkdir", "rm", "ip", "ifconfig",
    "uname", "nproc", "free", "df", "httpd", "wget", "nc", "date",
]

DIRS = ["bin", "etc", "proc", "sys", "dev", "tmp", "root", "var", "home",
        "usr/bin"]

ENV_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def build_rootfs(root: Path) -> None:
    """Writes a busybox root filesystem into `root` (created if missing)."""
    for d in DIRS:
        (root / d).mkdir(parents=True, exist_ok=True)
    (root / "tmp").chmod(0o1777)
    shutil.copy2(BUSYBOX, root / "bin/busybox")
    for applet in APPLETS:
        link = root / "bin" / applet
        if not link.is_symlink():
            link.symlink_to("busybox")
    (root / "etc/passwd").write_text(
        "root:x:0:0:root:/root:/bin/sh\n"
        "nobody:x:65534:65534:nobody:/home:/bin/false\n")
    (root / "etc/group").write_text("root:x:0:\nnobody:x:65534:\n")


def _layer_tar(root: Path) -> bytes:
    """An uncompressed, deterministic tar of `root` (entries sorted, owned
    by root, mtime 0) so the layer digest is stable across builds."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        paths = sorted(p.relative_to(root) for p in root.rglob("*"))
        for rel in paths:
            full = root / rel
            info = tar.gettarinfo(str(full), arcname=str(rel))
            info.uid = info.gid = 0
            info.uname = info.gname = "root"
            info.mtime = 0
            if info.isfile():
                with open(full, "rb") as f:
                    tar.addfile(info, f)
            else:
                tar.addfile(info)
    return buf.getvalue()


def _sha256(b: bytes) -> str:
    return "sha256:" + hashlib.sha256(b).hexdigest()


def build_oci_archive(root: Path, out: Path, name: str) -> str:
    """Writes an OCI image layout tar at `out` holding one image made of
    `root`, named `name` (a full reference such as
    docker.io/library/bbbench:latest). Returns the manifest digest."""
    raw = _layer_tar(root)
    diff_id = _sha256(raw)
    layer = gzip.compress(raw, compresslevel=1, mtime=0)
    config = {
        "architecture": "amd64",
        "os": "linux",
        "config": {"Env": [ENV_PATH], "Cmd": ["sh"]},
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        "history": [{"created_by": "dockyard bench/oci.py"}],
    }
    config_bytes = json.dumps(config, separators=(",", ":")).encode()
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": _sha256(config_bytes),
            "size": len(config_bytes),
        },
        "layers": [{
            "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
            "digest": _sha256(layer),
            "size": len(layer),
        }],
    }
    manifest_bytes = json.dumps(manifest, separators=(",", ":")).encode()
    index = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": _sha256(manifest_bytes),
            "size": len(manifest_bytes),
            "annotations": {
                "org.opencontainers.image.ref.name": name,
                "io.containerd.image.name": name,
            },
        }],
    }
    files = [("oci-layout", b'{"imageLayoutVersion":"1.0.0"}'),
             ("index.json", json.dumps(index).encode())]
    for blob in (config_bytes, layer, manifest_bytes):
        files.append(("blobs/sha256/" + _sha256(blob)[7:], blob))

    tmp = out.with_name(out.name + ".part")
    with tarfile.open(tmp, "w", format=tarfile.PAX_FORMAT) as tar:
        for d in ("blobs", "blobs/sha256"):
            info = tarfile.TarInfo(d)
            info.type = tarfile.DIRTYPE
            info.mode = 0o755
            tar.addfile(info)
        for path, data in files:
            info = tarfile.TarInfo(path)
            info.size = len(data)
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(data))
    os.replace(tmp, out)
    return _sha256(manifest_bytes)


if __name__ == "__main__":
    import argparse

    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("out", type=Path, help="the OCI archive tar to write")
    p.add_argument("--name", default="docker.io/library/bbbench:latest")
    p.add_argument("--rootfs", type=Path,
                   help="also keep the root filesystem here")
    a = p.parse_args()
    import tempfile

    with tempfile.TemporaryDirectory(dir="/var/tmp") as t:
        rootfs = a.rootfs or Path(t) / "rootfs"
        build_rootfs(rootfs)
        print(build_oci_archive(rootfs, a.out, a.name))
