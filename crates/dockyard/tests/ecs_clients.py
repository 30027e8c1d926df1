"""The aws CLI and boto3 drive ECS on a running `dockyard server`.

Usage: ecs_clients.py IMAGE   (credentials and endpoint in the environment)
Exits non-zero with a message on the first thing that is not as ECS does it.
"""
import json
import os
import pty
import select
import subprocess
import sys
import time

import boto3
import botocore
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
