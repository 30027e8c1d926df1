"""The aws CLI and boto3 drive ECS on a running `dockyard server`.

Usage: ecs_clients.py IMAGE   (credentials and endpoint in the environment)
Exits non-zero with a message on the first thing that is not as ECS does it.
"""
import gzip
import json
import os
import pty
import select
import subprocess
import sys
import tempfile
import time

import boto3
import botocore
import botocore.session
from botocore.config import Config

IMAGE = sys.argv[1]


def aws(*args, ok=True):
    p = subprocess.run(["aws", *args, "--output", "json"], capture_output=True, text=True)
    if ok and p.returncode != 0:
        sys.exit(f"aws {' '.join(args)} failed: {p.stderr}")
    if not ok:
        return p
    return json.loads(p.stdout) if p.stdout.strip() else {}


def check(cond, what):
    if not cond:
        sys.exit(f"not as expected: {what}")


aws("ecs", "create-cluster", "--cluster-name", "cli")
containers = [{
    "name": "app", "image": IMAGE, "essential": True,
    "command": ["sh", "-c", "echo from-the-cli; sleep 600"],
    "stopTimeout": 1,
    "logConfiguration": {"logDriver": "awslogs", "options": {
        "awslogs-group": "/ecs/cli", "awslogs-stream-prefix": "cli",
        "awslogs-create-group": "true", "awslogs-region": "us-east-1"}},
}]
td = aws("ecs", "register-task-definition", "--family", "cli", "--network-mode", "awsvpc",
         "--requires-compatibilities", "FARGATE", "--cpu", "256", "--memory", "512",
         "--container-definitions", json.dumps(containers))
check(td["taskDefinition"]["revision"] == 1, "revision 1")
run = aws("ecs", "run-task", "--cluster", "cli", "--task-definition", "cli", "--count", "2",
          "--launch-type", "FARGATE", "--network-configuration",
          "awsvpcConfiguration={subnets=[subnet-1],assignPublicIp=DISABLED}")
arns = [t["taskArn"] for t in run["tasks"]]
check(len(arns) == 2 and not run["failures"], f"two tasks: {run}")
aws("ecs", "wait", "tasks-running", "--cluster", "cli", "--tasks", *arns)
tasks = aws("ecs", "describe-tasks", "--cluster", "cli", "--tasks", *arns)["tasks"]
check(all(t["lastStatus"] == "RUNNING" for t in tasks), "both RUNNING")
listed = aws("ecs", "list-tasks", "--cluster", "cli")["taskArns"]
check(sorted(listed) == sorted(arns), f"list-tasks: {listed}")

# boto3 on the same cluster.
ecs = boto3.client("ecs")
c = ecs.describe_clusters(clusters=["cli"], include=["STATISTICS"])["clusters"][0]
check(c["runningTasksCount"] == 2, f"runningTasksCount: {c}")
stats = {s["name"]: s["value"] for s in c["statistics"]}
check(stats["runningFargateTasksCount"] == "2", f"statistics: {stats}")
for op, kwargs, code in [
    ("describe_task_definition", {"taskDefinition": "nope"}, "ClientException"),
    ("run_task", {"cluster": "nope", "taskDefinition": "cli"}, "ClusterNotFoundException"),
    ("run_task", {"cluster": "cli", "taskDefinition": "cli", "launchType": "FARGATE"},
     "InvalidParameterException"),
    ("stop_task", {"cluster": "cli", "task": "0" * 32}, "InvalidParameterException"),
]:
    try:
        getattr(ecs, op)(**kwargs)
        sys.exit(f"{op} {kwargs} should have failed")
    except botocore.exceptions.ClientError as e:
        check(e.response["Error"]["Code"] == code, f"{op}: {e.response['Error']} != {code}")
# Mis-signed and unsigned requests.
bad = boto3.client("ecs", aws_access_key_id=os.environ["AWS_ACCESS_KEY_ID"],
                   aws_secret_access_key="wrong" * 8)
try:
    bad.list_clusters()
    sys.exit("a mis-signed request was accepted")
except botocore.exceptions.ClientError as e:
    check(e.response["Error"]["Code"] == "InvalidSignatureException", str(e.response["Error"]))
unsigned = boto3.client("ecs", config=Config(signature_version=botocore.UNSIGNED))
try:
    unsigned.list_clusters()
    sys.exit("an unsigned request was accepted")
except botocore.exceptions.ClientError as e:
    check(e.response["Error"]["Code"] in ("MissingAuthenticationTokenException",
                                          "UnrecognizedClientException",
                                          "IncompleteSignatureException"), str(e.response["Error"]))

# CloudWatch (boto3 and the CLI speak RPC v2 CBOR to it): the agents' usage
# reports become AWS/ECS utilisation for the cluster; custom metrics go in
# and come out with their statistics.
cw = boto3.client("cloudwatch")
cluster_dims = [{"Name": "ClusterName", "Value": "cli"}]
deadline = time.monotonic() + 60
while True:
    now = time.time()
    points = {}
    for name in ("CPUUtilization", "MemoryUtilization"):
        points[name] = cw.get_metric_statistics(
            Namespace="AWS/ECS", MetricName=name, Dimensions=cluster_dims,
            StartTime=now - 600, EndTime=now + 60, Period=60,
            Statistics=["Average", "Maximum", "SampleCount"])["Datapoints"]
    if all(points.values()):
        break
    check(time.monotonic() < deadline, f"no AWS/ECS utilisation for cluster cli: {points}")
    time.sleep(1)
mem = points["MemoryUtilization"][0]
check(0 < mem["Maximum"] < 100 and mem["Unit"] == "Percent", f"memory utilisation: {mem}")
check(all(0 <= p["Average"] <= 100 for p in points["CPUUtilization"]),
      f"CPU utilisation of sleeping tasks: {points['CPUUtilization']}")
listed = cw.list_metrics(Namespace="AWS/ECS")["Metrics"]
check({m["MetricName"] for m in listed} == {"CPUUtilization", "MemoryUtilization"}, str(listed))
t0 = int(time.time()) // 60 * 60
cw.put_metric_data(Namespace="Cli/App", MetricData=[
    {"MetricName": "Requests", "Dimensions": [{"Name": "Route", "Value": "/"}],
     "Timestamp": t0, "Values": [1.0, 3.0], "Counts": [1.0, 1.0], "Unit": "Count"}])
aws("cloudwatch", "put-metric-data", "--namespace", "Cli/App", "--metric-name", "Requests",
    "--dimensions", "Route=/", "--value", "8", "--unit", "Count",
    "--timestamp", str(t0 + 10))
got = aws("cloudwatch", "get-metric-statistics", "--namespace", "Cli/App",
          "--metric-name", "Requests", "--dimensions", "Name=Route,Value=/",
          "--start-time", str(t0), "--end-time", str(t0 + 60), "--period", "60",
          "--statistics", "Sum", "Average", "SampleCount")["Datapoints"]
check(len(got) == 1 and got[0]["Sum"] == 12.0 and got[0]["SampleCount"] == 3.0
      and got[0]["Average"] == 4.0, f"get-metric-statistics: {got}")
# Debian's AWS CLI 2.9 speaks the Query protocol to CloudWatch (and ignores
# AWS_ENDPOINT_URL).
v2 = ["/usr/bin/aws", "--endpoint-url", os.environ["AWS_ENDPOINT_URL"], "--output", "json",
      "cloudwatch"]
subprocess.run([*v2, "put-metric-data", "--namespace", "Cli/App", "--metric-name", "Requests",
                "--dimensions", "Route=/", "--value", "5", "--unit", "Count",
                "--timestamp", str(t0 + 20)], check=True, capture_output=True)
p = subprocess.run([*v2, "get-metric-statistics", "--namespace", "Cli/App",
                    "--metric-name", "Requests", "--dimensions", "Name=Route,Value=/",
                    "--start-time", str(t0), "--end-time", str(t0 + 60), "--period", "60",
                    "--statistics", "Sum", "Maximum"], capture_output=True, text=True)
check(p.returncode == 0, f"aws v2 get-metric-statistics: {p.stderr}")
got = json.loads(p.stdout)["Datapoints"]
check(len(got) == 1 and got[0]["Sum"] == 17.0 and got[0]["Maximum"] == 8.0,
      f"aws v2 get-metric-statistics: {got}")
p = subprocess.run([*v2, "put-metric-data", "--namespace", "AWS/ECS", "--metric-name", "x",
                    "--value", "1"], capture_output=True, text=True)
check(p.returncode != 0 and "InvalidParameterValue" in p.stderr, f"aws v2 AWS/ namespace: {p.stderr}")
subprocess.run([*v2, "put-metric-data", "--namespace", "Cli/App", "--metric-name", "Requests",
                "--dimensions", "Route=/", "--value", "-5", "--unit", "Count",
                "--timestamp", str(t0 + 20)], check=True, capture_output=True)
data = cw.get_metric_data(StartTime=t0, EndTime=t0 + 60, MetricDataQueries=[{
    "Id": "req", "MetricStat": {"Metric": {"Namespace": "Cli/App", "MetricName": "Requests",
                                           "Dimensions": [{"Name": "Route", "Value": "/"}]},
                                "Period": 60, "Stat": "Maximum"}}])["MetricDataResults"]
check(data[0]["Values"] == [8.0] and data[0]["Timestamps"][0].timestamp() == t0
      and data[0]["StatusCode"] == "Complete", f"get_metric_data: {data}")
# botocore prefers CloudWatch's JSON protocol; the Rust SDK speaks RPC v2 CBOR. A copy of
# botocore's own model offering only CBOR makes botocore speak it too, with its own CBOR
# serializer and parser.
model_dir = os.path.join(os.path.dirname(botocore.__file__), "data", "cloudwatch", "2010-08-01")
with gzip.open(os.path.join(model_dir, "service-2.json.gz")) as f:
    model = json.load(f)
model["metadata"]["protocols"] = ["smithy-rpc-v2-cbor"]
model["metadata"]["protocol"] = "smithy-rpc-v2-cbor"
data_dir = tempfile.mkdtemp()
os.makedirs(os.path.join(data_dir, "cloudwatch", "2010-08-01"))
with open(os.path.join(data_dir, "cloudwatch", "2010-08-01", "service-2.json"), "w") as f:
    json.dump(model, f)
cbor_session = botocore.session.get_session()
cbor_session.get_component("data_loader").search_paths.insert(0, data_dir)
cw_cbor = boto3.Session(botocore_session=cbor_session).client("cloudwatch")
r = cw_cbor.get_metric_data(StartTime=t0, EndTime=t0 + 60, MetricDataQueries=[{
    "Id": "req", "MetricStat": {"Metric": {"Namespace": "Cli/App", "MetricName": "Requests",
                                           "Dimensions": [{"Name": "Route", "Value": "/"}]},
                                "Period": 60, "Stat": "Sum"}}])
check(r["ResponseMetadata"]["HTTPHeaders"]["content-type"] == "application/cbor",
      f"not CBOR: {r['ResponseMetadata']}")
check(r["MetricDataResults"][0]["Values"] == [12.0]
      and r["MetricDataResults"][0]["Timestamps"][0].timestamp() == t0, f"CBOR: {r}")
check(cw_cbor.list_metrics(Namespace="Cli/App")["Metrics"][0]["MetricName"] == "Requests",
      "CBOR list_metrics")
for client, kwargs, code in [
    (cw, {"Namespace": "AWS/ECS", "MetricData": [{"MetricName": "x", "Value": 1.0}]},
     "InvalidParameterValue"),
    (cw_cbor, {"Namespace": "AWS/ECS", "MetricData": [{"MetricName": "x", "Value": 1.0}]},
     "InvalidParameterValue"),
    (cw_cbor, {"Namespace": "Cli/App", "MetricData": [{"MetricName": "x"}]},
     "MissingParameter"),
    (cw, {"Namespace": "Cli/App", "MetricData": [{"MetricName": "x", "Value": 1.0,
          "StatisticValues": {"SampleCount": 1, "Sum": 1, "Minimum": 1, "Maximum": 1}}]},
     "InvalidParameterCombination"),
]:
    try:
        client.put_metric_data(**kwargs)
        sys.exit(f"put_metric_data {kwargs} should have failed")
    except botocore.exceptions.ClientError as e:
        check(e.response["Error"]["Code"] == code, f"{e.response['Error']} != {code}")

ecs.stop_task(cluster="cli", task=arns[0], reason="cli test")
aws("ecs", "stop-task", "--cluster", "cli", "--task", arns[1])
ecs.get_waiter("tasks_stopped").wait(cluster="cli", tasks=arns,
                                     WaiterConfig={"Delay": 1, "MaxAttempts": 60})
tasks = ecs.describe_tasks(cluster="cli", tasks=arns)["tasks"]
check(all(t["lastStatus"] == "STOPPED" and t["stopCode"] == "UserInitiated" for t in tasks),
      f"stopped: {[(t['lastStatus'], t.get('stopCode')) for t in tasks]}")
check(tasks[0]["stoppedReason"] == "cli test", tasks[0]["stoppedReason"])

events = aws("logs", "filter-log-events", "--log-group-name", "/ecs/cli")["events"]
check(sum("from-the-cli" in e["message"] for e in events) == 2, f"log events: {events}")

# `aws logs tail --follow` (AWS CLI v2, Debian's /usr/bin/aws: v1 has no `tail`) shows what
# is there, then what arrives. It runs on a pty, so it writes each line as it comes rather
# than in pipe-sized blocks; every wait is bounded and the follower is killed in any case.
# CLI 2.9 ignores AWS_ENDPOINT_URL, hence --endpoint-url.
logs = boto3.client("logs")
logs.create_log_stream(logGroupName="/ecs/cli", logStreamName="follow")
master, slave = pty.openpty()
tail = subprocess.Popen(["/usr/bin/aws", "logs", "tail", "/ecs/cli", "--follow", "--since", "1h",
                         "--format", "short", "--endpoint-url", os.environ["AWS_ENDPOINT_URL"]],
                        stdin=subprocess.DEVNULL, stdout=slave, stderr=slave)
os.close(slave)
seen, sent = b"", False
try:
    deadline = time.monotonic() + 60
    while b"arrived-later" not in seen:
        check(time.monotonic() < deadline, f"aws logs tail --follow showed: {seen!r}")
        if select.select([master], [], [], 1)[0]:
            try:
                chunk = os.read(master, 4096)
            except OSError:
                chunk = b""
            check(chunk, f"aws logs tail --follow ended: {seen!r}")
            seen += chunk
        if not sent and seen.count(b"from-the-cli") == 2:
            logs.put_log_events(logGroupName="/ecs/cli", logStreamName="follow", logEvents=[
                {"timestamp": int(time.time() * 1000), "message": "arrived-later"}])
            sent = True
    check(sent, f"the follower showed the new event before it was sent: {seen!r}")
finally:
    tail.kill()
    tail.wait()
    os.close(master)
print("ok")
