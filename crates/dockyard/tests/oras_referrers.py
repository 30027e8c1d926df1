"""Pushes an artifact whose subject is an image with oras (the Python
client), then discovers it through the referrers API. Used by ecr_clients.rs.

Usage: oras_referrers.py HOST REPO SUBJECT_DIGEST SUBJECT_SIZE PASSWORD WORKDIR
Prints the referrers index filtered by the artifact's type as JSON.
"""
import json
import os
import sys

import oras.oci
import oras.provider

host, repo, digest, size, password, work = sys.argv[1:]
reg = oras.provider.Registry(insecure=True, auth_backend="basic")
reg.auth.set_basic_auth("AWS", password)
sbom = os.path.join(work, "sbom.json")
with open(sbom, "w") as f:
    json.dump({"spdxVersion": "SPDX-2.3", "name": "busybox"}, f)
config = os.path.join(work, "config.json")
with open(config, "w") as f:
    f.write("{}")
subject = oras.oci.Subject(
    "application/vnd.oci.image.manifest.v1+json", digest, int(size)
)
os.chdir(work)
res = reg.push(
    target=f"{host}/{repo}:sbom",
    files=["sbom.json"],
    manifest_config="config.json:application/vnd.example.sbom",
    subject=subject,
)
if res.status_code != 201:
    sys.exit(f"push failed: {res.status_code} {res.text}")
subject_header = res.headers.get("OCI-Subject")
if subject_header != digest:
    sys.exit(f"no OCI-Subject header on the push: {dict(res.headers)}")
url = f"http://{host}/v2/{repo}/referrers/{digest}?artifactType=application/vnd.example.sbom"
r = reg.do_request(url, "GET")
if r.status_code != 200:
    sys.exit(f"referrers: {r.status_code} {r.text}")
print(r.text)
