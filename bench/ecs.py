#!/usr/bin/env python3
"""ECS: Dockyard's control plane against moto's server in one run.

1. RunTask -> RUNNING latency (image cached, FARGATE, awsvpc): the time
   from sending RunTask until DescribeTasks shows RUNNING, polled every
   5 ms, p50 and p99. moto runs no containers (its tasks are RUNNING in
   the RunTask reply), so its figure is RunTask's own round trip.
2. API requests per second for DescribeTasks (10 tasks per call) and
   ListTasks (100 per page) with 1,000 tasks in the store, wrk at 16
   connections for 10 s each. Every Dockyard request carries a SigV4
   signature the server verifies (wrk replays pre-signed requests, valid
   for 15 minutes); moto does not verify signatures.

Needs root (Dockyard runs real containers). Prints a table and ratios.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.dont_write_bytecode = True
sys.path.insert(0, str(Path(__file__).resolve().parent))
from oci import build_oci_archive, build_rootfs  # noqa: E402
from start import BenchError, build_dockyard, free_subnet, log, run  # noqa: E402

import boto3  # noqa: E402
import botocore.auth  # noqa: E402
import botocore.awsrequest  # noqa: E402
import botocore.credentials  # noqa: E402

REGION = "us-east-1"
TARGET = "AmazonEC2ContainerServiceV20141113"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, timeout: float = 30) -> None:
    import urllib.request
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            urllib.request.urlopen(url, timeout=1)
            return
        except Exception as e:  # noqa: BLE001 - anything but an answer means "not yet"
            if hasattr(e, "code"):
                return
            time.sleep(0.05)
    raise BenchError(f"{url} did not answer")


class Target:
    def __init__(self, name: str, endpoint: str, key: str, secret: str):
        self.name, self.endpoint = name, endpoint
        self.creds = botocore.credentials.Credentials(key, secret)
        self.ecs = boto3.client("ecs", region_name=REGION, endpoint_url=endpoint,
                                aws_access_key_id=key, aws_secret_access_key=secret)

    def signed(self, op: str, body: dict) -> tuple[str, dict]:
        data = json.dumps(body)
        req = botocore.awsrequest.AWSRequest(
            method="POST", url=self.endpoint + "/", data=data,
            headers={"Content-Type": "application/x-amz-json-1.1",
                     "X-Amz-Target": f"{TARGET}.{op}"})
        botocore.auth.SigV4Auth(self.creds, "ecs", REGION).add_auth(req)
        return data, dict(req.headers.items())


class DockyardServer:
    def __init__(self, binary: Path, tmp: Path):
        self.port = free_port()
        self.data = tmp / "dockyard"
        self.glob = [str(binary), "--data-dir", str(self.data), "--bridge",
                     f"dyb{os.getpid() % 100000}", "--subnet", free_subnet()]
        self.log = open(tmp / "dockyard.log", "w")
        self.proc = subprocess.Popen(
            self.glob + ["server", "--listen", f"127.0.0.1:{self.port}",
                         "--agent-poll-seconds", "600"],
            stderr=self.log, stdout=subprocess.DEVNULL)
        wait_http(f"http://127.0.0.1:{self.port}/_dockyard/health")
        env = dict(line.removeprefix("export ").split("=", 1) for line in run(
            self.glob + ["credentials", "--listen", f"127.0.0.1:{self.port}"]).stdout.splitlines())
        self.env = env
        self.target = Target("dockyard", env["AWS_ENDPOINT_URL"], env["AWS_ACCESS_KEY_ID"],
                             env["AWS_SECRET_ACCESS_KEY"])

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        run(self.glob + ["system", "reset"], check=False, timeout=600)


class MotoServer:
    def __init__(self, tmp: Path):
        self.port = free_port()
        exe = shutil.which("moto_server")
        if not exe:
            raise BenchError("moto_server not found: run scripts/install-deps.sh")
        self.proc = subprocess.Popen([exe, "-p", str(self.port)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_http(f"http://127.0.0.1:{self.port}/")
        self.target = Target("moto", f"http://127.0.0.1:{self.port}", "testing", "testing")

    def stop(self) -> None:
        self.proc.kill()
        self.proc.wait()


def push_image(dy: DockyardServer, tmp: Path) -> str:
    root = tmp / "rootfs"
    build_rootfs(root)
    archive = tmp / "busybox.tar"
    build_oci_archive(root, archive, "busybox:latest")
    ecr = boto3.client("ecr", region_name=REGION, endpoint_url=dy.target.endpoint,
                       aws_access_key_id=dy.env["AWS_ACCESS_KEY_ID"],
                       aws_secret_access_key=dy.env["AWS_SECRET_ACCESS_KEY"])
    ecr.create_repository(repositoryName="bench/busybox")
    import base64
    token = ecr.get_authorization_token()["authorizationData"][0]["authorizationToken"]
    user_pass = base64.b64decode(token).decode()
    image = f"127.0.0.1:{dy.port}/bench/busybox:latest"
    run(["skopeo", "copy", "--dest-tls-verify=false", "--dest-creds", user_pass,
         f"oci-archive:{archive}", f"docker://{image}"])
    return image


def percentile(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


def moto_instance(t: Target, cluster: str) -> None:
    """moto places EC2 tasks on container instances backed by its EC2."""
    ec2 = boto3.client("ec2", region_name=REGION, endpoint_url=t.endpoint,
                       aws_access_key_id="testing", aws_secret_access_key="testing")
    inst = ec2.run_instances(ImageId="ami-12c6146b", MinCount=1, MaxCount=1)["Instances"][0]
    doc = json.dumps({"instanceId": inst["InstanceId"]})
    t.ecs.register_container_instance(cluster=cluster, instanceIdentityDocument=doc)


def run_task_latency(t: Target, image: str, n: int, real: bool) -> list[float]:
    """`real`: a Dockyard FARGATE task; else moto, whose FARGATE support
    fails here, on an EC2 container instance."""
    ecs = t.ecs
    ecs.create_cluster(clusterName="lat")
    container = {"name": "s", "image": image, "command": ["sleep", "3600"], "stopTimeout": 1}
    if real:
        ecs.register_task_definition(
            family="lat", networkMode="awsvpc", requiresCompatibilities=["FARGATE"],
            cpu="256", memory="512", containerDefinitions=[container])
    else:
        moto_instance(t, "lat")
        ecs.register_task_definition(family="lat", containerDefinitions=[{**container, "memory": 16}])
    samples = []
    net = {"awsvpcConfiguration": {"subnets": ["subnet-1"]}}
    for i in range(n + 2):
        t0 = time.perf_counter()
        if real:
            r = ecs.run_task(cluster="lat", taskDefinition="lat", launchType="FARGATE",
                             networkConfiguration=net)
        else:
            r = ecs.run_task(cluster="lat", taskDefinition="lat", launchType="EC2")
        arn = r["tasks"][0]["taskArn"]
        status = r["tasks"][0]["lastStatus"]
        while real and status != "RUNNING":
            time.sleep(0.005)
            status = ecs.describe_tasks(cluster="lat", tasks=[arn])["tasks"][0]["lastStatus"]
            if status == "STOPPED":
                raise BenchError(f"task {arn} stopped instead of running")
        dt = time.perf_counter() - t0
        if i >= 2:  # the first runs warm caches (image check, token)
            samples.append(dt * 1000)
        ecs.stop_task(cluster="lat", task=arn)
    return samples


def fill(t: Target, moto: bool) -> list[str]:
    """1,000 tasks in cluster `bench` on one container instance."""
    ecs = t.ecs
    ecs.create_cluster(clusterName="bench")
    if moto:
        moto_instance(t, "bench")
    else:
        # An agent's registration with room for every task; it never polls
        # (the server waits 600 s before calling it disconnected).
        data = json.dumps({"kind": "instance", "cluster": "bench", "cpu": 1024 * 1024,
                           "memory": 1024 * 1024, "address": "127.0.0.1", "hostname": "bench",
                           "agent_version": "bench"})
        req = botocore.awsrequest.AWSRequest(
            method="POST", url=t.endpoint + "/_dockyard/agent/v1/register", data=data,
            headers={"Content-Type": "application/json"})
        botocore.auth.SigV4Auth(t.creds, "ecs", REGION).add_auth(req)
        import urllib.request
        urllib.request.urlopen(urllib.request.Request(
            req.url, data=data.encode(), headers=dict(req.headers.items()), method="POST"))
    ecs.register_task_definition(family="bench", containerDefinitions=[
        {"name": "c", "image": "busybox", "memory": 16, "cpu": 1}])
    arns = []
    for _ in range(100):
        r = ecs.run_task(cluster="bench", taskDefinition="bench", count=10, launchType="EC2")
        if r["failures"]:
            raise BenchError(f"{t.name}: RunTask failed: {r['failures']}")
        arns += [x["taskArn"] for x in r["tasks"]]
    return arns


LUA = """
wrk.method = "POST"
wrk.body = {body}
wrk.headers = {headers}
"""


def lua_table(h: dict) -> str:
    return "{" + ", ".join(f"[{json.dumps(k)}] = {json.dumps(v)}" for k, v in h.items()) + "}"


def wrk(t: Target, tmp: Path, op: str, body: dict, seconds: int, conns: int) -> tuple[float, float]:
    data, headers = t.signed(op, body)
    headers.pop("Content-Length", None)
    script = tmp / f"{t.name}-{op}.lua"
    script.write_text(LUA.format(body=json.dumps(data), headers=lua_table(headers)))
    # Check the request is answered with 200 before loading the server.
    import urllib.request
    with urllib.request.urlopen(urllib.request.Request(
            t.endpoint + "/", data=data.encode(), headers=headers, method="POST")) as r:
        if r.status != 200:
            raise BenchError(f"{t.name} {op}: HTTP {r.status}")
    out = run(["wrk", "-t", "2", "-c", str(conns), "-d", f"{seconds}s", "--latency",
               "-s", str(script), t.endpoint + "/"], timeout=seconds + 60).stdout
    rps = float(next(l for l in out.splitlines() if l.startswith("Requests/sec")).split()[1])
    p99 = next((l.split()[1] for l in out.splitlines() if l.strip().startswith("99%")), "?")
    errors = [l for l in out.splitlines() if "Non-2xx" in l or "Socket errors" in l]
    if errors:
        raise BenchError(f"{t.name} {op}: {errors}")
    return rps, p99


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=30, help="RunTask latency samples")
    ap.add_argument("--seconds", type=int, default=10, help="wrk duration per request type")
    ap.add_argument("--connections", type=int, default=16)
    a = ap.parse_args()
    if os.geteuid() != 0:
        raise BenchError("needs root")
    binary = build_dockyard()
    tmp = Path(tempfile.mkdtemp(prefix="dockyard-bench-ecs-"))
    dy = moto = None
    try:
        dy = DockyardServer(binary, tmp)
        moto = MotoServer(tmp)
        image = push_image(dy, tmp)
        log("== RunTask -> RUNNING")
        lat = {"dockyard": run_task_latency(dy.target, image, a.runs, True),
               "moto": run_task_latency(moto.target, "busybox", a.runs, False)}
        log("== filling 1,000 tasks")
        tasks = {"dockyard": fill(dy.target, False), "moto": fill(moto.target, True)}
        results = {}
        for t in (dy.target, moto.target):
            ten = tasks[t.name][:10]
            for op, body in [("DescribeTasks", {"cluster": "bench", "tasks": ten}),
                             ("ListTasks", {"cluster": "bench"})]:
                log(f"== {t.name} {op}")
                results[(t.name, op)] = wrk(t, tmp, op, body, a.seconds, a.connections)
        print()
        print(f"{'':34} {'dockyard':>12} {'moto':>12} {'ratio':>8}")
        for p in (50, 99):
            d, m = percentile(lat["dockyard"], p), percentile(lat["moto"], p)
            print(f"{'RunTask -> RUNNING p' + str(p) + ' (ms)':34} {d:12.1f} {m:12.1f} {m / d:8.2f}x")
        for op in ("DescribeTasks", "ListTasks"):
            d, m = results[("dockyard", op)][0], results[("moto", op)][0]
            print(f"{op + ' req/s (16 conns)':34} {d:12.0f} {m:12.0f} {d / m:8.1f}x")
            print(f"{op + ' p99 latency':34} {results[('dockyard', op)][1]:>12} "
                  f"{results[('moto', op)][1]:>12}")
        print(f"\nRunTask->RUNNING samples (ms): median {statistics.median(lat['dockyard']):.1f}, "
              f"min {min(lat['dockyard']):.1f}, max {max(lat['dockyard']):.1f}")
    finally:
        for s in (dy, moto):
            if s:
                s.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BenchError as e:
        print(f"bench: {e}", file=sys.stderr)
        sys.exit(1)
