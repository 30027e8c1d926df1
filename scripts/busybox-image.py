#!/usr/bin/env python3
"""Builds a small busybox OCI image archive from Debian's busybox-static.

Images cannot be pulled from Docker Hub here, so the demo makes its own:
one layer with /bin/busybox, applet links and minimal /etc files, and an
image config with PATH and Cmd ["sh"]. Writes an OCI layout tar.
"""
import argparse, gzip, hashlib, io, json, os, shutil, tarfile, tempfile

APPLETS = ["sh", "true", "false", "echo", "cat", "ls", "sleep", "id", "env", "hostname",
           "ps", "kill", "ip", "wget", "httpd", "nc", "grep", "head", "date", "uname", "mkdir"]


def build(out, name):
    with tempfile.TemporaryDirectory() as root:
        for d in ["bin", "etc", "tmp", "root", "proc", "sys", "dev"]:
            os.makedirs(os.path.join(root, d))
        os.chmod(os.path.join(root, "tmp"), 0o1777)
        shutil.copy("/bin/busybox", os.path.join(root, "bin/busybox"))
        for a in APPLETS:
            os.symlink("busybox", os.path.join(root, "bin", a))
        with open(os.path.join(root, "etc/passwd"), "w") as f:
            f.write("root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n")
        with open(os.path.join(root, "etc/group"), "w") as f:
            f.write("root:x:0:\nnobody:x:65534:\n")
        raw = io.BytesIO()
        with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as t:
            for entry in sorted(os.listdir(root)):
                t.add(os.path.join(root, entry), arcname=entry)
    raw = raw.getvalue()
    layer = gzip.compress(raw, mtime=0)
    blobs = {}

    def put(b):
        d = "sha256:" + hashlib.sha256(b).hexdigest()
        blobs[d] = b
        return d

    config = json.dumps({
        "architecture": "amd64", "os": "linux",
        "config": {"Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"], "Cmd": ["sh"]},
        "rootfs": {"type": "layers", "diff_ids": ["sha256:" + hashlib.sha256(raw).hexdigest()]},
    }).encode()
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": put(config), "size": len(config)},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": put(layer), "size": len(layer)}],
    }).encode()
    md = put(manifest)
    index = json.dumps({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": md, "size": len(manifest),
                       "annotations": {"org.opencontainers.image.ref.name": name, "io.containerd.image.name": name}}],
    }).encode()
    with tarfile.open(out, "w") as t:
        def add(path, data):
            ti = tarfile.TarInfo(path)
            ti.size = len(data)
            t.addfile(ti, io.BytesIO(data))
        add("oci-layout", b'{"imageLayoutVersion":"1.0.0"}')
        add("index.json", index)
        for d, b in blobs.items():
            add("blobs/sha256/" + d.split(":")[1], b)
    print(out)


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--out", required=True)
    p.add_argument("--name", default="docker.io/library/busybox:latest")
    a = p.parse_args()
    build(a.out, a.name)
