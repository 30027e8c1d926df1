#!/usr/bin/env python3
"""Registry throughput: Dockyard's registry against Debian's docker-registry
(CNCF distribution) in one run on this machine, with nginx serving a static
file as the ceiling for manifest requests.

1. push and pull of a ~1 GiB multi-layer image with skopeo (MB/s);
2. manifest HEAD and GET requests per second at 64 connections (wrk for
   GET; bench/hload.c for HEAD, which wrk cannot do, and GET again).

See bench/registry.md for what each number means. Needs root.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import resource
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.error
import urllib.request
import zlib
from pathlib import Path

sys.dont_write_bytecode = True  # keep bench/ free of __pycache__
sys.path.insert(0, str(Path(__file__).resolve().parent))
from start import BenchError, build_dockyard, log, run  # noqa: E402

BENCH = Path(__file__).resolve().parent
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
TAG = "v1"
CHUNK = 8 << 20
MB = 1e6


# --- the image -----------------------------------------------------------------


def _sha256(b: bytes) -> str:
    return "sha256:" + hashlib.sha256(b).hexdigest()


class Blob:
    """Writes a blob into an OCI layout's blobs/sha256/, hashing it on the way."""

    def __init__(self, layout: Path):
        self.dir = layout / "blobs" / "sha256"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.tmp = self.dir / f".part-{secrets.token_hex(4)}"
        self.f = open(self.tmp, "wb")
        self.h = hashlib.sha256()
        self.size = 0

    def write(self, b: bytes) -> None:
        self.f.write(b)
        self.h.update(b)
        self.size += len(b)

    def close(self) -> str:
        self.f.close()
        digest = "sha256:" + self.h.hexdigest()
        os.replace(self.tmp, self.dir / digest[7:])
        return digest


def write_layer(layout: Path, index: int, size: int) -> tuple[dict, str]:
    """One layer: a tar holding one file of `size` random (incompressible)
    bytes, gzip-framed with stored deflate blocks. A gzip layer is passed
    through by skopeo as it is (an uncompressed one would be compressed on
    the way to a docker:// destination, and the bench would time gzip);
    level 0 makes building it cheap. Returns its descriptor and diff_id."""
    info = tarfile.TarInfo(f"bench/layer-{index}.bin")
    info.size = size
    info.mode = 0o644
    info.mtime = 0
    info.uname = info.gname = "root"
    diff = hashlib.sha256()
    gz = zlib.compressobj(0, zlib.DEFLATED, 31)
    blob = Blob(layout)

    def put(b: bytes) -> None:
        diff.update(b)
        blob.write(gz.compress(b))

    put(info.tobuf(tarfile.PAX_FORMAT))
    left = size
    while left:
        n = min(CHUNK, left)
        put(os.urandom(n))
        left -= n
    put(b"\0" * ((-size) % 512 + 1024))  # padding, then the end-of-archive
    blob.write(gz.flush())
    digest = blob.close()
    desc = {"mediaType": OCI_LAYER_GZIP, "digest": digest, "size": blob.size}
    return desc, "sha256:" + diff.hexdigest()


def write_small(layout: Path, b: bytes) -> str:
    blob = Blob(layout)
    blob.write(b)
    return blob.close()


def build_image(layout: Path, total: int, layers: int) -> dict:
    """An OCI image layout at `layout` tagged `TAG`: `layers` layers of
    random data adding up to about `total` bytes. Returns what the bench
    needs to know of it."""
    layout.mkdir(parents=True)
    (layout / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
    descs, diff_ids = [], []
    for i in range(layers):
        size = total // layers + (1 if i < total % layers else 0)
        d, diff_id = write_layer(layout, i, size)
        descs.append(d)
        diff_ids.append(diff_id)
    config = json.dumps({
        "architecture": "amd64",
        "os": "linux",
        "config": {"Cmd": ["true"]},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": [{"created_by": "dockyard bench/registry.py"}] * layers,
    }, separators=(",", ":")).encode()
    manifest = json.dumps({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": write_small(layout, config),
                   "size": len(config)},
        "layers": descs,
    }, separators=(",", ":")).encode()
    digest = write_small(layout, manifest)
    (layout / "index.json").write_text(json.dumps({
        "schemaVersion": 2,
        "manifests": [{
            "mediaType": OCI_MANIFEST, "digest": digest, "size": len(manifest),
            "annotations": {"org.opencontainers.image.ref.name": TAG},
        }],
    }))
    blob_bytes = sum(d["size"] for d in descs) + len(config) + len(manifest)
    return {"digest": digest, "manifest": manifest, "bytes": blob_bytes,
            "layers": [d["size"] for d in descs]}


# --- servers -----------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http(url: str, method: str = "GET", headers: dict | None = None,
         timeout: float = 10) -> tuple[int, dict, bytes]:
    req = urllib.request.Request(url, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


def tree_cpu(pid: int) -> float:
    """CPU seconds (user + system) used so far by `pid` and its live
    descendants (nginx's workers)."""
    tick = os.sysconf("SC_CLK_TCK")
    parents: dict[int, int] = {}
    cpu: dict[int, float] = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            stat = Path(f"/proc/{d}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        parents[int(d)] = int(fields[1])
        cpu[int(d)] = (int(fields[11]) + int(fields[12])) / tick
    total, todo = 0.0, [pid]
    while todo:
        p = todo.pop()
        total += cpu.get(p, 0.0)
        todo += [c for c, pp in parents.items() if pp == p]
    return total


class Server:
    """A server process of the bench, its output in a log file."""

    name = "server"

    def __init__(self, tmp: Path):
        self.dir = tmp / self.name
        self.dir.mkdir()
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None
        self.log = self.dir / "server.log"

    def argv(self) -> list[str]:
        raise NotImplementedError

    def ready(self) -> bool:
        raise NotImplementedError

    def start(self) -> None:
        with open(self.log, "wb") as out:
            self.proc = subprocess.Popen(self.argv(), stdin=subprocess.DEVNULL,
                                         stdout=out, stderr=out)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise BenchError(f"{self.name} exited {self.proc.returncode}: "
                                 f"{self.log.read_text(errors='replace')[-2000:]}")
            try:
                if self.ready():
                    return
            except OSError:
                pass
            time.sleep(0.05)
        raise BenchError(f"{self.name} not ready on port {self.port} in 60 s")

    def cpu(self) -> float:
        return tree_cpu(self.proc.pid) if self.proc else 0.0

    def stop(self) -> None:
        if not self.proc or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            log(f"cleanup: killing {self.name} ({self.proc.pid})")
            self.proc.kill()
            self.proc.wait()


class Dockyard(Server):
    name = "dockyard"

    def __init__(self, tmp: Path, binary: Path):
        super().__init__(tmp)
        self.bin = str(binary)
        self.data = self.dir / "data"
        self.env: dict[str, str] = {}
        self.password = ""

    def argv(self) -> list[str]:
        return [self.bin, "server", "--data-dir", str(self.data),
                "--listen", f"127.0.0.1:{self.port}"]

    def ready(self) -> bool:
        return http(self.base + "/_dockyard/health", timeout=1)[0] == 200

    def login(self) -> None:
        """The administrator's key from `dockyard credentials`, then an ECR
        token for Basic auth (user AWS)."""
        out = run([self.bin, "--data-dir", str(self.data), "credentials",
                   "--listen", f"127.0.0.1:{self.port}"]).stdout
        self.env = dict(os.environ, AWS_PAGER="",
                        AWS_CONFIG_FILE=str(self.dir / "aws-config"),
                        AWS_SHARED_CREDENTIALS_FILE=str(self.dir / "aws-creds"))
        for line in out.splitlines():
            k, _, v = line.removeprefix("export ").partition("=")
            if k.startswith("AWS_"):
                self.env[k] = v
        self.password = run(["aws", "ecr", "get-login-password"],
                            env=self.env).stdout.strip()
        if not self.password:
            raise BenchError("aws ecr get-login-password printed nothing")

    def create_repository(self, name: str) -> None:
        run(["aws", "ecr", "create-repository", "--repository-name", name],
            env=self.env)

    def auth_header(self) -> str:
        return "Basic " + base64.b64encode(
            f"AWS:{self.password}".encode()).decode()


class Distribution(Server):
    """`docker-registry serve` with filesystem storage in the temporary
    directory: Debian's default settings (in-memory blob descriptor cache,
    deletes enabled) less its htpasswd auth and request logging."""

    name = "distribution"

    def argv(self) -> list[str]:
        cfg = self.dir / "config.yml"
        cfg.write_text(json.dumps({  # JSON is YAML
            "version": 0.1,
            "log": {"level": "error", "accesslog": {"disabled": True}},
            "storage": {
                "filesystem": {"rootdirectory": str(self.dir / "storage")},
                "cache": {"blobdescriptor": "inmemory"},
                "delete": {"enabled": True},
            },
            "http": {"addr": f"127.0.0.1:{self.port}",
                     "secret": secrets.token_hex(16),
                     "headers": {"X-Content-Type-Options": ["nosniff"]}},
        }))
        return ["/usr/bin/docker-registry", "serve", str(cfg)]

    def ready(self) -> bool:
        return http(self.base + "/v2/", timeout=1)[0] == 200


class Nginx(Server):
    """nginx serving the manifest's bytes as a static file: what one
    request for a small file costs when nothing but the file is looked at."""

    name = "nginx"

    def __init__(self, tmp: Path, manifest: bytes):
        super().__init__(tmp)
        www = self.dir / "www"
        www.mkdir()
        (www / "manifest").write_bytes(manifest)

    def argv(self) -> list[str]:
        d = self.dir
        temp = " ".join(f"{k}_temp_path {d}/{k};" for k in (
            "client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
        # Workers run as root: the temporary directory is 0700.
        (d / "nginx.conf").write_text(f"""
user root;
worker_processes auto;
daemon off;
pid {d}/nginx.pid;
error_log {d}/error.log;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  {temp}
  keepalive_requests 1000000;
  server {{
    listen 127.0.0.1:{self.port};
    root {d}/www;
    default_type {OCI_MANIFEST};
  }}
}}
""")
        return ["nginx", "-p", str(d), "-c", str(d / "nginx.conf"),
                "-e", str(d / "error.log")]

    def ready(self) -> bool:
        return http(self.base + "/manifest", timeout=1)[0] == 200


# --- transfers ---------------------------------------------------------------


def skopeo(argv: list[str]) -> tuple[float, float]:
    """Wall seconds and CPU seconds of one `skopeo copy`; a failure aborts
    the bench."""
    ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    run(["skopeo", "--insecure-policy", "copy", "--quiet", *argv], timeout=1800)
    wall = time.perf_counter() - t0
    ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (ru1.ru_utime + ru1.ru_stime) - (ru0.ru_utime + ru0.ru_stime)
    return wall, cpu


def push(server: Server, layout: Path, repo: str,
         creds: str | None) -> tuple[float, float]:
    auth = [f"--dest-creds={creds}"] if creds else []
    return skopeo(["--dest-tls-verify=false", *auth, f"oci:{layout}:{TAG}",
                   f"docker://127.0.0.1:{server.port}/{repo}:{TAG}"])


def pull(server: Server, dest: Path, repo: str,
         creds: str | None) -> tuple[float, float]:
    auth = [f"--src-creds={creds}"] if creds else []
    try:
        return skopeo(["--src-tls-verify=false", *auth,
                       f"docker://127.0.0.1:{server.port}/{repo}:{TAG}",
                       f"dir:{dest}"])
    finally:
        shutil.rmtree(dest, ignore_errors=True)


def measure_transfers(a, tmp: Path, dy: Dockyard,
                      dist: Distribution | None) -> tuple[dict, dict]:
    """Each run builds a new image (fresh random layers, so nothing is
    already stored and skopeo's blob cache cannot offer a mount), pushes
    it to every registry, then pulls it from every one; the order of the
    registries alternates between runs."""
    servers: list[Server] = [dy] + ([dist] if dist else [])
    samples: dict[str, dict[str, list[float]]] = {
        s.name: {f"{p}_{k}": [] for p in ("push", "pull")
                 for k in ("s", "cpu_s", "skopeo_cpu_s")} for s in servers}
    image: dict = {}
    for r in range(1, a.runs + 1):
        layout = tmp / f"image-{r}"
        log(f"== run {r}/{a.runs}: building a {a.size_mib} MiB image "
            f"({a.layers} layers of random data)")
        image = build_image(layout, a.size_mib << 20, a.layers)
        repo = f"bench/big-{r}"
        dy.create_repository(repo)
        order = servers if r % 2 else servers[::-1]
        for phase in ("push", "pull"):
            for s in order:
                creds = f"AWS:{dy.password}" if s is dy else None
                # What the last step wrote (a gigabyte) must not be written
                # back during the next one, which would slow whoever comes
                # first.
                os.sync()
                cpu0 = s.cpu()
                if phase == "push":
                    secs, client = push(s, layout, repo, creds)
                else:
                    secs, client = pull(s, tmp / f"pulled-{s.name}", repo,
                                        creds)
                got = samples[s.name]
                got[f"{phase}_cpu_s"].append(s.cpu() - cpu0)
                got[f"{phase}_skopeo_cpu_s"].append(client)
                got[f"{phase}_s"].append(secs)
                log(f"   {phase} {s.name}: {secs:.2f} s, "
                    f"{image['bytes'] / MB / secs:.0f} MB/s")
        shutil.rmtree(layout)
        image["repo"] = repo
    return samples, image


def print_transfers(samples: dict, image: dict) -> dict:
    n = image["bytes"]
    print(f"\nPush and pull with skopeo: {n / MB:.0f} MB "
          f"({len(image['layers'])} layers + config + manifest), "
          "MB/s = bytes / wall time, median of runs")
    print(f"{'registry':<13} {'push MB/s':>9} {'pull MB/s':>9} "
          f"{'push s':>7} {'pull s':>7} {'server CPU s':>13} "
          f"{'skopeo CPU s':>13}  runs, MB/s push/pull")
    med = {}
    for name, s in samples.items():
        p, q = statistics.median(s["push_s"]), statistics.median(s["pull_s"])
        med[name] = {"push_mbps": n / MB / p, "pull_mbps": n / MB / q}
        runs = ", ".join(f"{n / MB / x:.0f}/{n / MB / y:.0f}"
                         for x, y in zip(s["push_s"], s["pull_s"]))
        server = (f"{statistics.median(s['push_cpu_s']):.2f}/"
                  f"{statistics.median(s['pull_cpu_s']):.2f}")
        client = (f"{statistics.median(s['push_skopeo_cpu_s']):.2f}/"
                  f"{statistics.median(s['pull_skopeo_cpu_s']):.2f}")
        print(f"{name:<13} {n / MB / p:>9.0f} {n / MB / q:>9.0f} {p:>7.2f} "
              f"{q:>7.2f} {server:>13} {client:>13}  {runs}")
    ratios = {}
    if "distribution" in med:
        d, b = med["dockyard"], med["distribution"]
        ratios = {k: d[k] / b[k] for k in d}
        print(f"dockyard/distribution: push {ratios['push_mbps']:.2f}x, "
              f"pull {ratios['pull_mbps']:.2f}x")
    return {"median": med, "ratios": ratios}


# --- manifest requests -------------------------------------------------------


WRK_REPORT = r"""
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'JSON {"requests":%d,"duration_us":%d,"bytes":%d,"errors":{"connect":%d,' ..
    '"read":%d,"write":%d,"status":%d,"timeout":%d},"latency_us":{' ..
    '"mean":%.1f,"p50":%d,"p90":%d,"p99":%d,"max":%d}}\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read,
    e.write, e.status, e.timeout, latency.mean, latency:percentile(50),
    latency:percentile(90), latency:percentile(99), latency.max))
end
"""


def load(a, tool: str, method: str, url: str, headers: list[str],
         seconds: int, tmp: Path, hload: Path) -> dict:
    """One closed-loop load run; returns requests/s, latency (µs) and the
    error counts, the same fields for both tools."""
    if tool == "wrk":
        script = tmp / "report.lua"
        script.write_text(WRK_REPORT)
        argv = ["wrk", f"-t{a.threads}", f"-c{a.connections}",
                f"-d{seconds}s", "-s", str(script)]
        for h in headers:
            argv += ["-H", h]
        out = run(argv + [url], timeout=seconds + 60).stdout
        line = next((x for x in out.splitlines() if x.startswith("JSON ")), None)
        if not line:
            raise BenchError(f"wrk printed no report: {out}")
        r = json.loads(line[5:])
        e = r["errors"]
        return {"rps": r["requests"] / (r["duration_us"] / 1e6),
                "requests": r["requests"], "latency_us": r["latency_us"],
                # wrk counts status >= 400 only; hload's GET counts every
                # non-2xx and runs on the same URLs.
                "non2xx": e["status"],
                "socket_errors": e["connect"] + e["read"] + e["write"]
                + e["timeout"]}
    argv = [str(hload), "-m", method, "-c", str(a.connections),
            "-t", str(a.threads), "-d", str(seconds)]
    for h in headers:
        argv += ["-H", h]
    r = json.loads(run(argv + [url], timeout=seconds + 60).stdout)
    e = r["errors"]
    return {"rps": r["rps"], "requests": r["requests"],
            "latency_us": r["latency_us"], "non2xx": r["non2xx"],
            "socket_errors": e["connect"] + e["read"] + e["write"] + e["parse"]}


def check_manifest(url: str, headers: dict, manifest: bytes, digest: str,
                   name: str) -> None:
    """Before any load: the URL answers GET with the manifest's exact bytes
    and HEAD with its length, so every 2xx counted is a real answer."""
    status, h, body = http(url, headers=headers)
    if status != 200 or body != manifest:
        raise BenchError(f"{name}: GET {url} answered {status} with "
                         f"{len(body)} bytes, not the manifest")
    status, h, _ = http(url, method="HEAD", headers=headers)
    length = {k.lower(): v for k, v in h.items()}.get("content-length")
    if status != 200 or length != str(len(manifest)):
        raise BenchError(f"{name}: HEAD {url} answered {status}, "
                         f"Content-Length {length}")
    if name != "nginx":
        got = {k.lower(): v for k, v in h.items()}.get("docker-content-digest")
        if got != digest:
            raise BenchError(f"{name}: HEAD {url} says digest {got}, "
                             f"not {digest}")


TESTS = [("HEAD", "hload"), ("GET", "wrk"), ("GET", "hload")]


def measure_requests(a, tmp: Path, hload: Path, targets: list[tuple]) -> dict:
    """Every target in turn for each test: a warm-up run (not counted),
    then the timed run, with the server's CPU time around it."""
    results: dict = {}
    for method, tool in TESTS:
        test = f"{method} ({tool})"
        results[test] = {}
        for name, server, url, headers in targets:
            log(f"== {test} {name}: {a.warmup:g} s warm-up, "
                f"{a.duration:g} s timed")
            if a.warmup:
                load(a, tool, method, url, headers, a.warmup, tmp, hload)
            cpu0 = server.cpu()
            r = load(a, tool, method, url, headers, a.duration, tmp, hload)
            cpu = server.cpu() - cpu0
            r["server_cpu_us_per_req"] = (cpu * 1e6 / r["requests"]
                                          if r["requests"] else 0.0)
            results[test][name] = r
            log(f"   {r['rps']:.0f} req/s, non-2xx {r['non2xx']}, "
                f"socket errors {r['socket_errors']}")
    return results


def print_requests(a, results: dict, manifest: bytes) -> dict:
    print(f"\nManifest requests by tag: {a.connections} connections, "
          f"{a.threads} threads, {a.duration:g} s each, manifest "
          f"{len(manifest)} bytes ({OCI_MANIFEST})")
    print(f"{'test':<13} {'server':<13} {'req/s':>9} {'mean ms':>8} "
          f"{'p50 ms':>7} {'p99 ms':>7} {'max ms':>7} {'non2xx':>7} "
          f"{'sock err':>8} {'CPU us/req':>10} {'dy/this':>8}")
    ratios: dict = {}
    for test, by in results.items():
        dy = by.get("dockyard")
        for name, r in by.items():
            lat = r["latency_us"]
            ratio = f"{dy['rps'] / r['rps']:.2f}x" if dy and r["rps"] else "-"
            print(f"{test:<13} {name:<13} {r['rps']:>9.0f} "
                  f"{lat['mean'] / 1000:>8.2f} {lat['p50'] / 1000:>7.2f} "
                  f"{lat['p99'] / 1000:>7.2f} {lat['max'] / 1000:>7.1f} "
                  f"{r['non2xx']:>7} {r['socket_errors']:>8} "
                  f"{r['server_cpu_us_per_req']:>10.1f} {ratio:>8}")
        if dy:
            ratios[test] = {f"dockyard/{n}": dy["rps"] / r["rps"]
                            for n, r in by.items()
                            if n != "dockyard" and r["rps"]}
    for test, rs in ratios.items():
        if rs:
            print(f"{test}: " + ", ".join(f"{k} = {v:.2f}x"
                                          for k, v in rs.items()))
    return ratios


def print_targets(results: dict) -> None:
    """The registry issue's targets, met or not, from this run's figures."""
    lines = []
    ratios = results.get("transfers", {}).get("ratios", {})
    for k, label in (("push_mbps", "push"), ("pull_mbps", "pull")):
        if k in ratios:
            lines.append(f"{label} at least as fast as distribution: "
                         f"{'yes' if ratios[k] >= 1 else 'no'} "
                         f"({ratios[k]:.3f}x)")
    reqs = results.get("requests", {})
    for test, rs in reqs.get("ratios", {}).items():
        r = rs.get("dockyard/distribution")
        if r is not None:
            lines.append(f"{test} at least 20x distribution: "
                         f"{'yes' if r >= 20 else 'no'} ({r:.1f}x)")
    if "results" in reqs:
        errors = sum(r["non2xx"] + r["socket_errors"]
                     for by in reqs["results"].values() for r in by.values())
        lines.append(f"no request error: {'yes' if errors == 0 else 'no'} "
                     f"({errors})")
    if lines:
        print("\nTargets (registry issue):")
        for line in lines:
            print(f"  {line}")


# --- main --------------------------------------------------------------------


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--dockyard", type=Path,
                   help="dockyard binary (default: cargo build --release "
                        "-p dockyard)")
    p.add_argument("--size-mib", type=int, default=1024,
                   help="image size in MiB (default 1024)")
    p.add_argument("--layers", type=int, default=8,
                   help="layers of the image (default 8)")
    p.add_argument("--runs", type=int, default=4,
                   help="push+pull runs, each with a new image; the order "
                        "of the registries alternates (default 4)")
    p.add_argument("--connections", type=int, default=64)
    p.add_argument("--threads", type=int, default=2,
                   help="load generator threads (default 2)")
    p.add_argument("--duration", type=int, default=10,
                   help="seconds per timed load run (default 10)")
    p.add_argument("--warmup", type=int, default=2,
                   help="seconds of warm-up load before each (default 2)")
    p.add_argument("--skip", action="append", default=[],
                   choices=["distribution", "nginx", "transfers", "requests"],
                   help="leave out a peer or a part (repeatable)")
    p.add_argument("--json", type=Path, help="also write every figure here")
    a = p.parse_args()
    if min(a.size_mib, a.layers, a.runs, a.connections, a.threads) < 1 \
            or a.duration <= 0 or a.warmup < 0:
        p.error("sizes, counts and durations must be positive")
    if a.threads > a.connections:
        p.error("--threads must not exceed --connections")
    return a


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def main() -> int:
    a = parse_args()
    if os.geteuid() != 0:
        raise BenchError("needs root")
    for tool in ("skopeo", "wrk", "cc", "aws") + (
            () if "distribution" in a.skip else ("docker-registry",)) + (
            () if "nginx" in a.skip else ("nginx",)):
        if not shutil.which(tool) and not Path(f"/usr/sbin/{tool}").exists():
            raise BenchError(f"{tool} not found: run scripts/install-deps.sh")
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, signal.default_int_handler)

    tmp = Path(tempfile.mkdtemp(prefix="dockyard-regbench-", dir="/var/tmp"))
    servers: list[Server] = []
    results: dict = {}
    try:
        built = a.dockyard or build_dockyard()
        if not os.access(built, os.X_OK):
            raise BenchError(f"no dockyard binary at {built}")
        # A private copy: the shared target directory may be rebuilt while
        # the bench runs.
        binary = tmp / "dockyard-bin"
        shutil.copy2(built, binary)
        hload = tmp / "hload"
        run(["cc", "-O2", "-pthread", "-o", str(hload), str(BENCH / "hload.c")])

        dy = Dockyard(tmp, binary)
        servers.append(dy)
        dy.start()
        dy.login()
        dist = None
        if "distribution" not in a.skip:
            dist = Distribution(tmp)
            servers.append(dist)
            dist.start()
        print(f"{run([str(binary), '--version']).stdout.strip()}; "
              f"{run(['docker-registry', '--version']).stdout.strip()}; "
              f"{run(['nginx', '-v']).stderr.strip()}; "
              f"{run(['skopeo', '--version']).stdout.strip()}; "
              f"{run(['wrk', '-v'], check=False).stdout.splitlines()[0]}")
        print(f"{os.cpu_count()} CPUs, kernel {os.uname().release}, "
              f"load average {os.getloadavg()[0]:.2f} at start")

        if "transfers" not in a.skip:
            samples, image = measure_transfers(a, tmp, dy, dist)
            results["transfers"] = {"samples": samples, "image": {
                k: v for k, v in image.items() if k != "manifest"}}
            results["transfers"].update(print_transfers(samples, image))
        else:
            # The requests need a manifest to ask for; a small image will do.
            log("== building a small image for the manifest requests")
            image = build_image(tmp / "image-small", 1 << 20, a.layers)
            image["repo"] = "bench/big-1"
            dy.create_repository(image["repo"])
            for s in [dy] + ([dist] if dist else []):
                creds = f"AWS:{dy.password}" if s is dy else None
                push(s, tmp / "image-small", image["repo"], creds)

        if "requests" not in a.skip:
            path = f"/v2/{image['repo']}/manifests/{TAG}"
            accept = f"Accept: {OCI_MANIFEST}"
            auth = f"Authorization: {dy.auth_header()}"
            headers = {"Accept": OCI_MANIFEST,
                       "Authorization": dy.auth_header()}
            targets = [("dockyard", dy, dy.base + path, [accept, auth])]
            if dist:
                # The same headers: distribution, without auth, ignores the
                # credentials.
                targets.append(("distribution", dist, dist.base + path,
                                [accept, auth]))
            if "nginx" not in a.skip:
                ng = Nginx(tmp, image["manifest"])
                servers.append(ng)
                ng.start()
                targets.append(("nginx", ng, ng.base + "/manifest",
                                [accept, auth]))
            for name, _, url, _ in targets:
                check_manifest(url, headers, image["manifest"],
                               image["digest"], name)
            reqs = measure_requests(a, tmp, hload, targets)
            results["requests"] = {"results": reqs,
                                   "manifest_bytes": len(image["manifest"])}
            results["requests"]["ratios"] = print_requests(
                a, reqs, image["manifest"])
        print_targets(results)
        print(f"\nload average {os.getloadavg()[0]:.2f} at the end "
              "(other work on the host skews every server alike, but widens "
              "the spread)")
        if a.json:
            a.json.write_text(json.dumps(results, indent=2))
        return 0
    finally:
        # A second Ctrl-C must not cut the cleanup short.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        log("== cleaning up")
        for s in reversed(servers):
            s.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BenchError as e:
        print(f"bench: {e}", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        print("bench: interrupted", file=sys.stderr)
        sys.exit(130)
