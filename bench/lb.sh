#!/usr/bin/env bash
# Load balancer data plane benchmark: Dockyard's ALB against HAProxy and
# nginx as reverse proxies to the same two backends, with wrk; then one
# long TCP stream through Dockyard's NLB against a direct connection.
#
#   sudo bench/lb.sh                 # builds the examples (release) first
#   DURATION=8s CONNS="64 256" GIB=4 ROUNDS=3 THREADS=1 bench/lb.sh
#
# Each round runs every proxy once per connection count, in a rotating
# order; the table keeps each one's best round (interference on a shared machine only
# ever slows a run down). See bench/lb/README.md.
#
# Every proxy runs one worker (nginx worker_processes 1, haproxy nbthread 1,
# Dockyard one Tokio worker); both backends are one nginx worker serving
# `return 200 "ok"` on two ports. Needs nginx-light, haproxy and wrk
# (installed with apt when missing), and root: the TCP sink runs in a
# network namespace of its own, as a task would, and the NLB's kernel
# forwarding writes nft rules.
set -euo pipefail

DURATION=${DURATION:-8s}
CONNS=${CONNS:-"64 256"}
GIB=${GIB:-4}
ROUNDS=${ROUNDS:-3}
THREADS=${THREADS:-1}
WRK_THREADS=${WRK_THREADS:-1}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/var/tmp/dockyard-target}

for pkg in nginx-light haproxy wrk; do
    dpkg -s "$pkg" >/dev/null 2>&1 || DEBIAN_FRONTEND=noninteractive apt-get install -y "$pkg" >/dev/null
done

echo "building examples..." >&2
(cd "$ROOT" && cargo build --release -q -p dockyard-lb --example lb_bench_proxy --example lb_bench_tcp)
PROXY_BIN=$CARGO_TARGET_DIR/release/examples/lb_bench_proxy
TCP_BIN=$CARGO_TARGET_DIR/release/examples/lb_bench_tcp

WORK=$(mktemp -d /tmp/dockyard-lb-bench.XXXXXX)
PIDS=()
SUFFIX=$(head -c3 /dev/urandom | od -An -tx1 | tr -d ' \n')
NS=dylb$SUFFIX; VETH=dylb$SUFFIX; TABLE=dockyard_lbbench$SUFFIX
cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    ip netns del "$NS" 2>/dev/null || true
    ip link del "$VETH" 2>/dev/null || true
    nft delete table ip "$TABLE" 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

wait_port() { # port [host]
    for _ in $(seq 1 200); do
        if (exec 3<>"/dev/tcp/${2:-127.0.0.1}/$1") 2>/dev/null; then return 0; fi
        sleep 0.05
    done
    echo "nothing listens on ${2:-127.0.0.1}:$1" >&2
    exit 1
}

B1=$(free_port); B2=$(free_port)
P_NGINX=$(free_port); P_HAPROXY=$(free_port); P_DOCKYARD=$(free_port)
P_SINK=$(free_port); P_NLB=$(free_port); P_RELAY=$(free_port)

# The TCP sink's namespace: a veth pair on a /30 no route of the host uses.
# route_localnet on the host end lets 127.0.0.1's connections through, as
# on Dockyard's bridges.
for _ in $(seq 1 50); do
    N=$(( $(od -An -tu2 -N2 /dev/urandom) % 250 + 1 ))
    ip -4 route show table all | grep -q "10\.254\.$N\." || break
done
HOST_IP=10.254.$N.1; SINK_IP=10.254.$N.2
ip netns add "$NS"
ip link add "$VETH" type veth peer name "${VETH}p"
ip link set "${VETH}p" netns "$NS"
ip addr add "$HOST_IP/30" dev "$VETH"; ip link set "$VETH" up
ip -n "$NS" addr add "$SINK_IP/30" dev "${VETH}p"
ip -n "$NS" link set "${VETH}p" up; ip -n "$NS" link set lo up
ip -n "$NS" route add default via "$HOST_IP"
echo 1 >"/proc/sys/net/ipv4/conf/$VETH/route_localnet"

mkdir -p "$WORK/backend" "$WORK/nginx"
cat >"$WORK/backend/nginx.conf" <<EOF
worker_processes 1;
daemon off;
pid $WORK/backend/nginx.pid;
error_log $WORK/backend/error.log;
events { worker_connections 8192; }
http {
    access_log off;
    keepalive_requests 100000000;
    keepalive_timeout 120s;
    client_body_temp_path $WORK/backend;
    proxy_temp_path $WORK/backend;
    fastcgi_temp_path $WORK/backend;
    uwsgi_temp_path $WORK/backend;
    scgi_temp_path $WORK/backend;
    server { listen 127.0.0.1:$B1; location / { return 200 "ok"; } }
    server { listen 127.0.0.1:$B2; location / { return 200 "ok"; } }
}
EOF

cat >"$WORK/nginx/nginx.conf" <<EOF
worker_processes 1;
daemon off;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/error.log;
events { worker_connections 8192; }
http {
    access_log off;
    keepalive_requests 100000000;
    keepalive_timeout 120s;
    client_body_temp_path $WORK/nginx;
    proxy_temp_path $WORK/nginx;
    fastcgi_temp_path $WORK/nginx;
    uwsgi_temp_path $WORK/nginx;
    scgi_temp_path $WORK/nginx;
    upstream backends {
        server 127.0.0.1:$B1;
        server 127.0.0.1:$B2;
        keepalive 256;
        keepalive_requests 100000000;
    }
    server {
        listen 127.0.0.1:$P_NGINX;
        location / {
            proxy_pass http://backends;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host \$host;
            proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
            proxy_buffering off;
        }
    }
}
EOF

cat >"$WORK/haproxy.cfg" <<EOF
global
    nbthread 1
    maxconn 4096
defaults
    mode http
    timeout connect 5s
    timeout client 120s
    timeout server 120s
    option http-keep-alive
    option forwardfor
    http-reuse always
frontend fe
    bind 127.0.0.1:$P_HAPROXY
    default_backend be
backend be
    balance roundrobin
    server b1 127.0.0.1:$B1
    server b2 127.0.0.1:$B2
EOF

nginx -p "$WORK/backend" -c "$WORK/backend/nginx.conf" & PIDS+=($!)
wait_port "$B1"; wait_port "$B2"
nginx -p "$WORK/nginx" -c "$WORK/nginx/nginx.conf" & PIDS+=($!)
haproxy -f "$WORK/haproxy.cfg" -db >"$WORK/haproxy.log" 2>&1 & PIDS+=($!)
ip netns exec "$NS" "$TCP_BIN" sink --listen "$SINK_IP:$P_SINK" >/dev/null & PIDS+=($!)
wait_port "$P_SINK" "$SINK_IP"
"$PROXY_BIN" --threads "$THREADS" \
    --listen "127.0.0.1:$P_DOCKYARD" --backend "127.0.0.1:$B1" --backend "127.0.0.1:$B2" \
    --nlb-listen "127.0.0.1:$P_NLB" --nlb-backend "$SINK_IP:$P_SINK" \
    --nlb-kernel-table "$TABLE" >"$WORK/dockyard.log" 2>&1 & PIDS+=($!)
# The same NLB listener without kernel forwarding: the splice relay.
"$PROXY_BIN" --threads "$THREADS" \
    --nlb-listen "127.0.0.1:$P_RELAY" --nlb-backend "$SINK_IP:$P_SINK" >"$WORK/relay.log" 2>&1 & PIDS+=($!)
for p in "$P_NGINX" "$P_HAPROXY" "$P_DOCKYARD" "$P_NLB" "$P_RELAY"; do wait_port "$p"; done
for log in dockyard relay; do
    for _ in $(seq 1 200); do grep -q '^ready' "$WORK/$log.log" && break; sleep 0.05; done
    grep -q '^ready' "$WORK/$log.log" || { cat "$WORK/$log.log" >&2; exit 1; }
done
# (grep without -q: an early exit would fail the pipeline with SIGPIPE.)
for _ in $(seq 1 200); do nft list table ip "$TABLE" 2>/dev/null | grep dnat >/dev/null && break; sleep 0.05; done
nft list table ip "$TABLE" | grep dnat >/dev/null || { echo "the NLB listener is not forwarded by the kernel" >&2; nft list table ip "$TABLE" >&2; exit 1; }

for p in "$B1" "$P_NGINX" "$P_HAPROXY" "$P_DOCKYARD"; do
    body=$(curl -fsS "http://127.0.0.1:$p/" 2>/dev/null || python3 -c "import urllib.request;print(urllib.request.urlopen('http://127.0.0.1:$p/').read().decode())")
    [ "$body" = ok ] || { echo "port $p answered '$body'" >&2; exit 1; }
done

# wrk's latency figures are printed in us, ms or s; report ms.
to_ms() {
    awk -v v="$1" 'BEGIN {
        if (v ~ /us$/) { sub(/us$/, "", v); printf "%.3f", v / 1000 }
        else if (v ~ /ms$/) { sub(/ms$/, "", v); printf "%.3f", v }
        else if (v ~ /s$/) { sub(/s$/, "", v); printf "%.3f", v * 1000 }
        else { printf "%s", v } }'
}

declare -A RPS P50 P99
run_wrk() { # name port conns
    local out
    out=$(wrk -t"$WRK_THREADS" -c"$3" -d"$DURATION" --latency "http://127.0.0.1:$2/")
    if grep -q 'Non-2xx' <<<"$out" || grep -q 'Socket errors' <<<"$out"; then
        echo "warning: $1 at $3 connections reported errors:" >&2
        grep -E 'Non-2xx|Socket errors' <<<"$out" >&2
    fi
    local rps p50 p99
    rps=$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")
    p50=$(to_ms "$(awk '$1 == "50%" {print $2}' <<<"$out")")
    p99=$(to_ms "$(awk '$1 == "99%" {print $2}' <<<"$out")")
    local key="$1/$3"
    # Over several rounds keep the best throughput and its latencies.
    if [ -z "${RPS[$key]:-}" ] || awk -v a="$rps" -v b="${RPS[$key]}" 'BEGIN {exit !(a > b)}'; then
        RPS[$key]=$rps; P50[$key]=$p50; P99[$key]=$p99
    fi
    echo "  $1 c=$3: $rps req/s p50 ${p50}ms p99 ${p99}ms" >&2
}

PROXIES="haproxy nginx dockyard"
port_of() { case $1 in direct) echo "$B1";; nginx) echo "$P_NGINX";; haproxy) echo "$P_HAPROXY";; dockyard) echo "$P_DOCKYARD";; esac; }

echo "wrk: $DURATION per run, $ROUNDS round(s), wrk threads $WRK_THREADS, dockyard threads $THREADS" >&2
# The order rotates each round so that no proxy always runs right after
# the same neighbour.
ORDER=(direct $PROXIES)
for round in $(seq 1 "$ROUNDS"); do
    for c in $CONNS; do
        for i in "${!ORDER[@]}"; do
            name=${ORDER[$(( (i + round - 1) % ${#ORDER[@]} ))]}
            run_wrk "$name" "$(port_of "$name")" "$c"
        done
    done
done

echo
echo "HTTP through a reverse proxy to two backends (keep-alive, wrk)"
printf '%-6s %-9s %10s %9s %9s %12s %12s\n' conns proxy 'req/s' 'p50 ms' 'p99 ms' 'rps/haproxy' 'p99/haproxy'
for c in $CONNS; do
    for name in direct $PROXIES; do
        k="$name/$c"; h="haproxy/$c"
        printf '%-6s %-9s %10.0f %9s %9s %12s %12s\n' "$c" "$name" "${RPS[$k]}" "${P50[$k]}" "${P99[$k]}" \
            "$(awk -v a="${RPS[$k]}" -v b="${RPS[$h]}" 'BEGIN {printf "%.2f", a / b}')" \
            "$(awk -v a="${P99[$k]}" -v b="${P99[$h]}" 'BEGIN {printf "%.2f", a / b}')"
    done
done

echo
echo "One TCP stream of $GIB GiB to a sink in its own namespace (median of 3, alternating)"
direct=(); nlb=(); relay=()
for _ in 1 2 3; do
    direct+=("$("$TCP_BIN" send --to "$SINK_IP:$P_SINK" --gib "$GIB" | awk '{print $1}')")
    nlb+=("$("$TCP_BIN" send --to "127.0.0.1:$P_NLB" --gib "$GIB" | awk '{print $1}')")
    relay+=("$("$TCP_BIN" send --to "127.0.0.1:$P_RELAY" --gib "$GIB" | awk '{print $1}')")
done
median() { printf '%s\n' "$@" | sort -n | sed -n 2p; }
d=$(median "${direct[@]}"); n=$(median "${nlb[@]}"); r=$(median "${relay[@]}")
printf '%-12s %10s MiB/s   (runs: %s)\n' direct "$d" "${direct[*]}"
printf '%-12s %10s MiB/s   (runs: %s)\n' nlb "$n" "${nlb[*]}"
printf '%-12s %10s MiB/s   (runs: %s)\n' 'nlb (relay)' "$r" "${relay[*]}"
printf 'nlb/direct   %10s\n' "$(awk -v a="$n" -v b="$d" 'BEGIN {printf "%.2f", a / b}')"
printf 'relay/direct %10s\n' "$(awk -v a="$r" -v b="$d" 'BEGIN {printf "%.2f", a / b}')"
