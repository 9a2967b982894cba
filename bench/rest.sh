#!/usr/bin/env bash
# REST throughput and latency on loopback with wrk: GET /devices/{id} and
# durable PUT /devices, 32 concurrent connections, bounded duration.
# Usage: [FSYNC=always|100ms] bench/rest.sh [seconds]   (default 15 s per case)
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-15}
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk; }
data=$(mktemp -d)
port=${PORT:-18765}
key=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
go build -o "$data/strowger" ./cmd/strowger
"$data/strowger" serve --data "$data/d" --http 127.0.0.1:$port --roles nats,api --master-api-key "$key" --log-level error --fsync "${FSYNC:-always}" &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$data"' EXIT
for i in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$port/v2/x" && break; sleep 0.1; done
auth=$(curl -s -X PUT "http://127.0.0.1:$port/v2/api_auth" -d "{\"data\":{\"api_key\":\"$key\"}}")
token=$(echo "$auth" | python3 -c 'import json,sys;print(json.load(sys.stdin)["auth_token"])')
acct=$(echo "$auth" | python3 -c 'import json,sys;print(json.load(sys.stdin)["data"]["account_id"])')
dev=$(curl -s -X PUT -H "X-Auth-Token: $token" "http://127.0.0.1:$port/v2/accounts/$acct/devices" \
  -d '{"data":{"name":"bench","sip":{"username":"bench0","password":"secret123"}}}' |
  python3 -c 'import json,sys;print(json.load(sys.stdin)["data"]["id"])')
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
echo "== GET /devices/{id}, 32 connections, ${secs}s"
wrk -t2 -c32 -d"${secs}s" -s bench/rest-get.lua "http://127.0.0.1:$port" -- "$token" "/v2/accounts/$acct/devices/$dev" | grep -E 'Requests/sec|p50_ms'
echo "== durable PUT /devices, 32 connections, ${secs}s"
wrk -t2 -c32 -d"${secs}s" -s bench/rest-put.lua "http://127.0.0.1:$port" -- "$token" "$acct" | grep -E 'Requests/sec|p50_ms'
echo "server RSS: $(ps -o rss= -p $pid) KiB"
