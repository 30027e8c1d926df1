#!/usr/bin/env python3
"""Container start-to-exit latency and per-container memory: Dockyard
against runc and podman, interleaved in one run on the same busybox image.

See bench/README.md for what each number means. Needs root.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import resource
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.dont_write_bytecode = True  # keep bench/ free of __pycache__
sys.path.insert(0, str(Path(__file__).resolve().parent))
import oci  # noqa: E402

IMAGE = "docker.io/library/bbbench:latest"
REPO = Path(__file__).resolve().parent.parent
DEFAULT_TARGET = "/var/tmp/dockyard-target"
# Podman's early init lowers its own RLIMIT_NPROC to 32768 (its conmon and
# runc inherit that), so without CAP_SYS_RESOURCE the container cannot get
# more than this.
PODMAN_NPROC_CAP = 32768


class BenchError(Exception):
    pass


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def run(argv: list[str], check: bool = True, timeout: float = 300,
        **kw) -> subprocess.CompletedProcess:
    """Runs a setup or cleanup command (never a timed one), capturing its
    output for error messages."""
    p = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True,
                       text=True, timeout=timeout, **kw)
    if check and p.returncode != 0:
        raise BenchError(f"{' '.join(argv)} exited {p.returncode}: "
                         f"{(p.stderr or p.stdout).strip()}")
    return p


def time_once(argv: list[str]) -> float:
    """One start-to-exit, in milliseconds. A failure is an error, not a
    sample; the command is run again with its output captured to say why."""
    t0 = time.perf_counter()
    p = subprocess.run(argv, stdin=subprocess.DEVNULL,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ms = (time.perf_counter() - t0) * 1000
    if p.returncode != 0:
        again = run(argv, check=False)
        raise BenchError(f"{' '.join(argv)} exited {p.returncode} "
                         f"(rerun: {again.returncode}: "
                         f"{(again.stderr or again.stdout).strip()})")
    return ms


# --- runners ---------------------------------------------------------------


class Runner:
    """A named way to start one container that runs `true` and exits."""

    def __init__(self, name: str, argv: list[str]):
        self.name = name
        self.argv = argv

    def command(self) -> list[str]:
        return self.argv


class RuncRunner(Runner):
    """`runc run` needs a fresh container id each time; without --keep it
    deletes the container when it exits."""

    def __init__(self, bundle: Path, prefix: str):
        super().__init__("runc", [])
        self.bundle = bundle
        self.prefix = prefix
        self.n = 0

    def command(self) -> list[str]:
        self.n += 1
        return ["runc", "run", "--bundle", str(self.bundle),
                f"{self.prefix}{self.n}"]


def summarize(samples: list[float]) -> dict:
    s = sorted(samples)
    p90 = (statistics.quantiles(s, n=10, method="inclusive")[8]
           if len(s) > 1 else s[0])
    return {"n": len(s), "median": statistics.median(s), "p90": p90,
            "min": s[0], "mean": statistics.fmean(s)}


def measure(runners: list[Runner], n: int, title: str) -> dict:
    """Warms each runner up once, then runs every runner once per round,
    `n` rounds, so that drift in machine load hits every runner alike. The
    order within a round is shuffled (seeded, so runs are repeatable):
    podman leaves work behind after it exits (its cleanup process, conmon),
    and in a fixed order that would always land on the runner after it."""
    log(f"== {title}: warm-up")
    for r in runners:
        time_once(r.command())
    samples: dict[str, list[float]] = {r.name: [] for r in runners}
    rng = random.Random(20261206)
    for i in range(n):
        order = list(runners)
        rng.shuffle(order)
        for r in order:
            samples[r.name].append(time_once(r.command()))
        print(f"\r   round {i + 1}/{n}", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    return {"title": title, "samples": samples,
            "stats": {k: summarize(v) for k, v in samples.items()}}


def print_table(result: dict, base: str = "dockyard") -> None:
    stats = result["stats"]
    print(f"\n{result['title']}")
    print(f"{'runner':<10} {'N':>4} {'median ms':>10} {'p90 ms':>8} "
          f"{'min ms':>8} {'median/' + base:>16}")
    for name, s in stats.items():
        ratio = (f"{s['median'] / stats[base]['median']:.2f}x"
                 if base in stats else "-")
        print(f"{name:<10} {s['n']:>4} {s['median']:>10.1f} {s['p90']:>8.1f} "
              f"{s['min']:>8.1f} {ratio:>16}")
    if base in stats:
        parts = [f"{name}/{base} = {s['median'] / stats[base]['median']:.2f}x"
                 for name, s in stats.items() if name != base]
        if parts:
            print("ratios of medians: " + ", ".join(parts))


# --- dockyard ----------------------------------------------------------------


def build_dockyard() -> Path:
    env = dict(os.environ)
    env.setdefault("CARGO_TARGET_DIR", DEFAULT_TARGET)
    log("== building dockyard (cargo build --release -p dockyard)")
    p = subprocess.run(["cargo", "build", "--release", "-p", "dockyard"],
                       cwd=REPO, env=env, stdin=subprocess.DEVNULL)
    if p.returncode != 0:
        raise BenchError("cargo build --release -p dockyard failed")
    return Path(env["CARGO_TARGET_DIR"]) / "release" / "dockyard"


def free_subnet() -> str:
    """A 172.31.X.0/24 that no address or route of the host overlaps."""
    used = set()
    for argv in (["ip", "-4", "-o", "addr"], ["ip", "-4", "route"]):
        text = run(argv).stdout
        used |= {int(m) for m in re.findall(r"\b172\.31\.(\d+)\.", text)}
    free = [x for x in range(256) if x not in used]
    if not free:
        raise BenchError("no free 172.31.X.0/24")
    return f"172.31.{random.choice(free)}.0/24"


class Dockyard:
    def __init__(self, binary: Path, data_dir: Path, bridge: str,
                 subnet: str):
        self.bin = str(binary)
        self.data_dir = data_dir
        self.bridge = bridge
        self.subnet = subnet
        self.glob = [self.bin, "--data-dir", str(data_dir), "--bridge", bridge,
                     "--subnet", subnet]

    def __call__(self, *args: str, **kw) -> subprocess.CompletedProcess:
        return run(self.glob + list(args), **kw)

    def shims(self) -> list[int]:
        """Pids of this bench's shims: `<binary> shim run ROOT ID` with ROOT
        inside our data directory."""
        pids = []
        for d in os.listdir("/proc"):
            if not d.isdigit():
                continue
            try:
                argv = Path(f"/proc/{d}/cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            argv = [a.decode(errors="replace") for a in argv]
            if (len(argv) >= 5 and argv[0] == self.bin
                    and argv[1:3] == ["shim", "run"]
                    and argv[3].startswith(str(self.data_dir))):
                pids.append(int(d))
        return pids

    def remove_all(self) -> None:
        ids = self("ps", "-a", "-q").stdout.split()
        for i in range(0, len(ids), 50):
            self("rm", "-f", *ids[i:i + 50], timeout=600)

    def cleanup(self) -> None:
        try:
            self.remove_all()
        except (BenchError, subprocess.TimeoutExpired) as e:
            log(f"cleanup: removing containers: {e}")
        p = run(self.glob + ["system", "reset"], check=False, timeout=600)
        if p.returncode != 0:
            log(f"cleanup: system reset failed ({p.stderr.strip()}); "
                "removing the bridge and nft table by hand")
            run(["ip", "link", "del", self.bridge], check=False)
            run(["nft", "delete", "table", "ip", f"dockyard_{self.bridge}"],
                check=False)
        for pid in self.shims():
            log(f"cleanup: killing leftover shim {pid}")
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


# --- memory ------------------------------------------------------------------


def rollup(pid: int) -> dict[str, int]:
    """Pss, Rss and Private (Private_Clean + Private_Dirty: what the
    process alone holds) of a process, in kB."""
    f = {}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[2] == "kB":
            f[parts[0].rstrip(":")] = int(parts[1])
    return {"pss": f["Pss"], "rss": f["Rss"],
            "private": f["Private_Clean"] + f["Private_Dirty"]}


def children(pid: int) -> list[int]:
    out = []
    for t in Path(f"/proc/{pid}/task").iterdir():
        try:
            out += [int(c) for c in (t / "children").read_text().split()]
        except OSError:
            pass
    return out


def measure_memory(dy: Dockyard, n: int) -> dict:
    log(f"== memory: starting {n} idle containers")
    t0 = time.perf_counter()
    for i in range(n):
        p = dy("run", "-d", "--network", "none", IMAGE, "sleep", "3600")
        if not p.stdout.strip():
            raise BenchError("dockyard run -d printed no container id")
        print(f"\r   started {i + 1}/{n}", end="", file=sys.stderr, flush=True)
    start_s = time.perf_counter() - t0
    print(file=sys.stderr)
    time.sleep(2)  # let lazily touched pages and kernel state settle
    shims = dy.shims()
    if len(shims) != n:
        raise BenchError(f"found {len(shims)} dockyard shims, expected {n}")
    shim = {"pss": 0, "rss": 0, "private": 0}
    ctr = dict(shim)
    for pid in shims:
        for k, v in rollup(pid).items():
            shim[k] += v
        for c in children(pid):
            for k, v in rollup(c).items():
                ctr[k] += v
    log(f"== memory: removing {n} containers")
    t0 = time.perf_counter()
    dy.remove_all()
    rm_s = time.perf_counter() - t0
    left = dy("ps", "-a", "-q").stdout.split()
    if left:
        raise BenchError(f"{len(left)} containers left after rm -f")
    mib = 1024 * n
    return {
        "n": n,
        "shim_mib": {k: v / mib for k, v in shim.items()},
        "container_mib": {k: v / mib for k, v in ctr.items()},
        "start_total_s": start_s, "rm_total_s": rm_s,
    }


def print_memory(m: dict) -> None:
    n = m["n"]
    print(f"\nMemory, {n} idle containers (dockyard run -d --network none "
          f"{IMAGE} sleep 3600), per container:")
    print(f"  {'':<20} {'PSS MiB':>8} {'RSS MiB':>8} {'private MiB':>12}")
    for label, d in (("dockyard shim", m["shim_mib"]),
                     ("container (sleep)", m["container_mib"])):
        print(f"  {label:<20} {d['pss']:>8.2f} {d['rss']:>8.2f} "
              f"{d['private']:>12.2f}")
    print(f"  start {n}: {m['start_total_s']:.1f} s "
          f"({m['start_total_s'] * 1000 / n:.0f} ms each, run -d); "
          f"rm -f all: {m['rm_total_s']:.1f} s")


# --- setup of the peers ------------------------------------------------------


def make_runc_bundle(bundle: Path) -> None:
    """`runc spec` defaults, except: runs `true`, no terminal, and a fresh
    network namespace (a `network` entry without a path)."""
    run(["runc", "spec", "--bundle", str(bundle)])
    cfg_path = bundle / "config.json"
    cfg = json.loads(cfg_path.read_text())
    cfg["process"]["args"] = ["true"]
    cfg["process"]["terminal"] = False
    ns = [n for n in cfg["linux"]["namespaces"] if n["type"] != "network"]
    ns.append({"type": "network"})
    cfg["linux"]["namespaces"] = ns
    cfg_path.write_text(json.dumps(cfg, indent=2))


def runc_cleanup(prefix: str) -> None:
    p = run(["runc", "list", "-q"], check=False)
    for cid in p.stdout.split():
        if cid.startswith(prefix):
            run(["runc", "delete", "-f", cid], check=False)


class Podman:
    def __init__(self, storage_driver: str | None):
        self.glob = ["podman"]
        if storage_driver:
            self.glob += ["--storage-driver", storage_driver]
        self.driver = storage_driver
        self.run_flags = ["--ulimit", "nofile=1024:1024"]
        self.loaded = False

    def __call__(self, *args: str, **kw) -> subprocess.CompletedProcess:
        return run(self.glob + list(args), **kw)

    def load(self, archive: Path) -> None:
        drivers = [self.driver] if self.driver else [None, "overlay", "vfs"]
        errors = []
        for d in drivers:
            glob = ["podman"] + (["--storage-driver", d] if d else [])
            p = run(glob + ["load", "-i", str(archive)], check=False)
            if p.returncode == 0:
                self.glob = glob
                self.loaded = True
                break
            errors.append(f"{d or 'default'}: {p.stderr.strip()}")
        else:
            raise BenchError("podman load failed with every storage driver: "
                             + "; ".join(errors))
        self.driver = self("info", "--format",
                           "{{.Store.GraphDriverName}}").stdout.strip()

    def probe(self) -> None:
        """Podman gives root containers RLIMIT_NPROC 1048576 unless told
        otherwise; without CAP_SYS_RESOURCE runc cannot raise the limit
        that high, so then ask for podman's own cap instead."""
        argv = self.run_argv(["--network", "none"])
        p = run(argv, check=False)
        if p.returncode == 0:
            return
        if "rlimit" not in p.stderr:
            raise BenchError(f"{' '.join(argv)}: {p.stderr.strip()}")
        hard = resource.getrlimit(resource.RLIMIT_NPROC)[1]
        nproc = PODMAN_NPROC_CAP if hard == resource.RLIM_INFINITY else min(
            hard, PODMAN_NPROC_CAP)
        self.run_flags += ["--ulimit", f"nproc={nproc}:{nproc}"]
        run(self.run_argv(["--network", "none"]))

    def run_argv(self, net: list[str]) -> list[str]:
        return self.glob + ["run", "--rm", *net, *self.run_flags, IMAGE,
                            "true"]

    def cleanup(self) -> None:
        p = self("ps", "-a", "-q", "--filter", f"ancestor={IMAGE}",
                 check=False)
        ids = p.stdout.split()
        if ids:
            self("rm", "-f", *ids, check=False)
        if self.loaded:
            self("rmi", "-f", IMAGE, check=False)


# --- main --------------------------------------------------------------------


def unmount_under(root: Path) -> None:
    """Lazily unmounts anything left mounted below `root` (deepest first) so
    that removing the directory cannot reach through a mount."""
    mounts = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        mp = line.split()[4].replace("\\040", " ")
        if mp == str(root) or mp.startswith(str(root) + "/"):
            mounts.append(mp)
    for mp in sorted(mounts, key=len, reverse=True):
        run(["umount", "-l", mp], check=False)


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--dockyard", type=Path,
                   help="dockyard binary (default: cargo build --release "
                        "-p dockyard, CARGO_TARGET_DIR=" + DEFAULT_TARGET + ")")
    p.add_argument("--runs", type=int, default=30,
                   help="timed runs per runner and table (default 30)")
    p.add_argument("--idle", type=int, default=200,
                   help="idle containers for the memory figure (default 200)")
    p.add_argument("--skip", action="append", default=[],
                   choices=["runc", "podman", "bridge", "memory"],
                   help="leave out a runner or a part (repeatable)")
    p.add_argument("--podman-storage-driver",
                   help="pass --storage-driver to podman (default: podman's "
                        "own, falling back to overlay then vfs)")
    p.add_argument("--json", type=Path, help="also write raw samples here")
    a = p.parse_args()
    if a.runs < 1 or a.idle < 1:
        p.error("--runs and --idle must be at least 1")
    return a


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def main() -> int:
    a = parse_args()
    if os.geteuid() != 0:
        raise BenchError("needs root")
    # SIGTERM takes the same way out as Ctrl-C, through the finally below.
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, signal.default_int_handler)

    token = secrets.token_hex(3)
    tmp = Path(tempfile.mkdtemp(prefix="dockyard-bench-", dir="/var/tmp"))
    dy: Dockyard | None = None
    podman: Podman | None = None
    runc_prefix = f"bb{token}-"
    results: dict = {"image": IMAGE}
    try:
        built = a.dockyard or build_dockyard()
        if not os.access(built, os.X_OK):
            raise BenchError(f"no dockyard binary at {built}")
        # A private copy: the shared target directory may be rebuilt while
        # the bench runs, and the copy's path tells our shims apart.
        binary = tmp / "dockyard"
        shutil.copy2(built, binary)
        dy = Dockyard(binary, tmp / "data", f"dyb{token}", free_subnet())

        log("== building the busybox image")
        rootfs = tmp / "bundle" / "rootfs"
        oci.build_rootfs(rootfs)
        archive = tmp / "bbbench.tar"
        oci.build_oci_archive(rootfs, archive, IMAGE)
        out = dy("image", "load", str(archive)).stdout
        if "Loaded image" not in out:
            raise BenchError(f"dockyard image load printed {out!r}")

        runners: list[Runner] = [Runner("dockyard", dy.glob + [
            "run", "--rm", "--network", "none", IMAGE, "true"])]
        if "runc" not in a.skip:
            make_runc_bundle(tmp / "bundle")
            runners.append(RuncRunner(tmp / "bundle", runc_prefix))
        if "podman" not in a.skip:
            podman = Podman(a.podman_storage_driver)
            podman.load(archive)
            podman.probe()
            runners.append(Runner("podman", podman.run_argv(
                ["--network", "none"])))

        print(f"{run([str(binary), '--version']).stdout.strip()} "
              f"(data dir {dy.data_dir}, bridge {dy.bridge} {dy.subnet}); "
              f"{run(['runc', '--version']).stdout.splitlines()[0]}; "
              f"{run(['podman', '--version']).stdout.strip()}")
        if podman:
            print(f"podman storage driver: {podman.driver}; podman run flags: "
                  f"{' '.join(podman.run_flags)}")
        print(f"{os.cpu_count()} CPUs, kernel {os.uname().release}, "
              f"load average {os.getloadavg()[0]:.2f} at start")

        tables = [measure(runners, a.runs,
                          "Start-to-exit, no network (`true`)")]
        print_table(tables[-1])
        if "bridge" not in a.skip:
            bridge = [Runner("dockyard", dy.glob + [
                "run", "--rm", IMAGE, "true"])]
            if podman:
                bridge.append(Runner("podman", podman.run_argv([])))
            tables.append(measure(bridge, a.runs,
                                  "Start-to-exit, bridge network (`true`)"))
            print_table(tables[-1])
        results["tables"] = tables
        if "memory" not in a.skip:
            results["memory"] = measure_memory(dy, a.idle)
            print_memory(results["memory"])
        print(f"\nload average {os.getloadavg()[0]:.2f} at the end "
              "(other work on the host skews every runner alike, but widens "
              "the spread)")
        if a.json:
            a.json.write_text(json.dumps(results, indent=2))
        return 0
    finally:
        # A second Ctrl-C must not cut the cleanup short.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        log("== cleaning up")
        if dy:
            dy.cleanup()
        runc_cleanup(runc_prefix)
        if podman:
            podman.cleanup()
        unmount_under(tmp)
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
