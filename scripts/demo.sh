#!/usr/bin/env bash
# The main job: build Dockyard, make a small busybox image, run containers
# from it the way a Docker user would, then run it as an ECS task the way
# an AWS user would: push it to the server's registry and `aws ecs run-task`.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/dockyard-target}"
cargo build --release --locked -p dockyard
dy="$CARGO_TARGET_DIR/release/dockyard"

work=$(mktemp -d)
server_pid=
cleanup() {
  if [ -n "$server_pid" ]; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
    "${srv[@]}" system reset >/dev/null 2>&1 || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT
python3 bench/oci.py "$work/busybox.tar" --name docker.io/library/busybox:latest >/dev/null

set -x
"$dy" image load "$work/busybox.tar"
"$dy" images
"$dy" run --rm busybox sh -c 'echo "hello from $(hostname), pid $$, as $(id -un)"; ip -4 addr show eth0 | grep inet'
"$dy" rm -f dockyard-demo-web >/dev/null 2>&1 || true
"$dy" run -d --name dockyard-demo-web -p 8080:80 --memory 64m busybox \
  sh -c 'echo "<h1>served by a Dockyard container</h1>" > /tmp/index.html; exec httpd -f -p 80 -h /tmp'
sleep 0.3
"$dy" ps
python3 -c 'import urllib.request; print(urllib.request.urlopen("http://127.0.0.1:8080/").read().decode())'
"$dy" stop -t 1 dockyard-demo-web
"$dy" rm dockyard-demo-web

set +x

# --- the same image as an ECS task -------------------------------------------
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
# The server's tasks get a bridge and subnet of their own.
subnet=$(python3 -c '
import random, re, subprocess
used = set(re.findall(r"172\.31\.(\d+)\.", subprocess.run(["ip", "-4", "route", "show", "table", "all"], capture_output=True, text=True).stdout))
print("172.31.%d.0/24" % random.choice([x for x in range(256) if str(x) not in used]))')
srv=("$dy" --data-dir "$work/server" --bridge dydemo0 --subnet "$subnet")
"${srv[@]}" server --listen "127.0.0.1:$port" 2>"$work/server.log" &
server_pid=$!
for _ in $(seq 100); do curl -sf "127.0.0.1:$port/_dockyard/health" >/dev/null && break; sleep 0.1; done
eval "$("${srv[@]}" credentials --listen "127.0.0.1:$port")"
export HOME="$work"   # the aws CLI's own files stay in the scratch directory
set -x
aws ecr create-repository --repository-name demo/busybox --query repository.repositoryUri --output text
skopeo copy --quiet --dest-tls-verify=false --dest-creds "AWS:$(aws ecr get-login-password)" \
  "oci-archive:$work/busybox.tar" "docker://127.0.0.1:$port/demo/busybox:latest"
aws ecs create-cluster --cluster-name demo --query cluster.clusterArn --output text
aws ecs register-task-definition --family hello --network-mode awsvpc \
  --requires-compatibilities FARGATE --cpu 256 --memory 512 \
  --container-definitions "[{\"name\":\"hello\",\"image\":\"127.0.0.1:$port/demo/busybox:latest\",
    \"command\":[\"sh\",\"-c\",\"echo hello from an ECS task; sleep 30\"],\"stopTimeout\":2,
    \"logConfiguration\":{\"logDriver\":\"awslogs\",\"options\":{\"awslogs-group\":\"/demo\",
    \"awslogs-stream-prefix\":\"demo\",\"awslogs-create-group\":\"true\",\"awslogs-region\":\"us-east-1\"}}}]" \
  --query taskDefinition.taskDefinitionArn --output text
task=$(aws ecs run-task --cluster demo --task-definition hello --launch-type FARGATE \
  --network-configuration 'awsvpcConfiguration={subnets=[subnet-demo]}' --query 'tasks[0].taskArn' --output text)
aws ecs wait tasks-running --cluster demo --tasks "$task"
aws ecs describe-tasks --cluster demo --tasks "$task" \
  --query 'tasks[0].{status:lastStatus,ip:containers[0].networkInterfaces[0].privateIpv4Address,started:startedAt}'
aws ecs stop-task --cluster demo --task "$task" --query task.desiredStatus --output text
aws ecs wait tasks-stopped --cluster demo --tasks "$task"
aws logs filter-log-events --log-group-name /demo --query 'events[].message' --output text
