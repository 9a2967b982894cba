#!/usr/bin/env bash
# Digest registration throughput of Strowger's SIP edge and of the reference
# Kamailio, in the same run, with ../shared/bench's SIPp harness
# (scenarios/reg.xml: REGISTER -> 401 -> REGISTER with MD5 digest -> 200) over
# 10,000 users (userNNNNN / pwNNNNN in realm sip.test).
#
#   bench/reg.sh                       # full search on both servers
#   ONLY=strowger bench/reg.sh         # one server (strowger|kamailio)
#
# Env (optional):
#   HARNESS=../shared/bench   the SIPp harness (run-reg.sh, gen-users.sh, kamailio.cfg)
#   USERS=10000               subscribers
#   DUR=10                    seconds per trial
#   START=4000                first rate tried (registrations/s)
#   MAX_TRIALS=9              trials per server (ramp x1.3 then bisect to 5 %)
#   SIP=127.0.0.1:45060 HTTP=127.0.0.1:48000 KAM=127.0.0.1:45070 LPORT=45090
#   SIPP_CPUS=                pin SIPp (taskset -c), e.g. 1
#   KEEP=1                    keep the work folder (logs, SIPp files)
#
# A trial passes with 0 failed registrations and a creation rate >= 97 % of
# the target. For each server it prints every trial, then the highest
# passing rate with its p99 answer times, and Strowger's memory per binding
# (RSS after the runs minus RSS before, over the bindings then held).
# Processes started here are stopped by PID on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
HARNESS=$(cd "${HARNESS:-$ROOT/../shared/bench}" && pwd)
USERS=${USERS:-10000}; DUR=${DUR:-10}; START=${START:-4000}; MAX_TRIALS=${MAX_TRIALS:-9}
SIP=${SIP:-127.0.0.1:45060}; HTTP=${HTTP:-127.0.0.1:48000}; KAM=${KAM:-127.0.0.1:45070}
export LPORT=${LPORT:-45090} QUIET_MAX_WAIT=${QUIET_MAX_WAIT:-10}
for t in sipp kamailio curl python3; do
  command -v "$t" >/dev/null || { echo "missing $t: run $HARNESS/install.sh (as root)" >&2; exit 2; }
done

WORK=$(mktemp -d /tmp/strowger-regbench.XXXXXX)
export BENCH_DATA=$WORK/data BENCH_RESULTS=$WORK/results
mkdir -p "$BENCH_RESULTS"
SPID=""; KPID=""
cleanup() {
  [ -n "$KPID" ] && kill "$KPID" 2>/dev/null && wait "$KPID" 2>/dev/null
  [ -n "$SPID" ] && kill "$SPID" 2>/dev/null && wait "$SPID" 2>/dev/null
  if [ "${KEEP:-0}" = 1 ]; then echo "work folder kept: $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
"$HARNESS/gen-users.sh" "$USERS" sip.test >/dev/null

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(free -g | awk '/Mem:/ {print $2}') GiB;" \
  "$(sipp -v 2>&1 | grep -m1 -o 'SIPp v[0-9.]*'); $(kamailio -v | head -1 | awk '{print $1, $2}'); $(go version | awk '{print $3}')"

rss_kib() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }
field() { sed -n "s/.* $1=\\([^ ]*\\).*/\\1/p" <<<"$2"; }
pass() {  # line rate -> 0 when 0 failures and achieved >= 97 %
  local c f a
  c=$(field created "$1"); f=$(field fail "$1"); a=$(field achieved "$1" | tr -d '/s')
  awk -v c="${c:-0}" -v f="${f:-1}" -v a="${a:-0}" -v r="$2" 'BEGIN { exit !(c > 0 && f == 0 && a >= 0.97 * r) }'
}

# search NAME TARGET PID: ramp x1.3 from START until a trial fails, then
# bisect; sets BEST (rate) and BEST_LINE.
search() {
  local name=$1 target=$2 pid=$3 rate=$START lo=0 hi=0 n=0 line
  BEST=0; BEST_LINE=""
  while [ "$n" -lt "$MAX_TRIALS" ]; do
    n=$((n + 1))
    line=$(SERVER_PID=$pid LABEL=$name "$HARNESS/run-reg.sh" "$target" "$rate" "$DUR" | tail -1) || true
    echo "  $name trial $n: $line"
    if pass "$line" "$rate"; then
      lo=$rate; BEST=$rate; BEST_LINE=$line
    else
      hi=$rate
    fi
    if [ "$hi" -eq 0 ]; then
      rate=$(awk -v r="$rate" 'BEGIN { printf "%d", r * 1.3 + 0.5 }')
    elif [ "$lo" -eq 0 ]; then
      rate=$(awk -v r="$rate" 'BEGIN { printf "%d", r / 1.3 }')
    elif awk -v l="$lo" -v h="$hi" 'BEGIN { exit !(h > l * 1.05) }'; then
      rate=$(( (lo + hi) / 2 ))
    else
      break
    fi
  done
}

summary() {  # name
  echo "$1: max rate with 0 failures = $BEST reg/s; p50/p99/max ms challenge=$(field 'chal_ms(p50\/p99\/max)' "$BEST_LINE")" \
    "register=$(field 'reg_ms(p50\/p99\/max)' "$BEST_LINE") $(grep -o 'srv_cpu=[^ ]*' <<<"$BEST_LINE")"
}

S_BEST=0; K_BEST=0
if [ -z "${ONLY:-}" ] || [ "$ONLY" = strowger ]; then
  echo "== strowger edge on $SIP (roles nats,api,edge)"
  go build -o "$WORK/strowger" ./cmd/strowger
  KEY=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
  "$WORK/strowger" serve --data "$WORK/sdata" --http "$HTTP" --sip "$SIP" --roles nats,api,edge \
    --master-api-key "$KEY" --log-level error --sip-allow 127.0.0.1/32 >"$WORK/strowger.log" 2>&1 &
  SPID=$!
  for _ in $(seq 100); do curl -s -o /dev/null "http://$HTTP/v2/x" && break; sleep 0.1; done
  t0=$(date +%s)
  ACCT=$(go run ./bench/regusers -api "http://$HTTP" -key "$KEY" -n "$USERS" -realm sip.test)
  echo "provisioned $USERS devices in account $ACCT in $(( $(date +%s) - t0 )) s"
  RSS0=$(rss_kib "$SPID")
  search strowger "$SIP" "$SPID"
  S_BEST=$BEST; S_LINE=$BEST_LINE
  TOKEN=$(curl -s -X PUT "http://$HTTP/v2/api_auth" -d "{\"data\":{\"api_key\":\"$KEY\"}}" |
    python3 -c 'import json,sys;print(json.load(sys.stdin)["auth_token"])')
  NB=$(curl -s -H "X-Auth-Token: $TOKEN" "http://$HTTP/v2/accounts/$ACCT/registrations/count" |
    python3 -c 'import json,sys;print(json.load(sys.stdin)["data"]["count"])')
  RSS1=$(rss_kib "$SPID")
  kill "$SPID"; wait "$SPID" 2>/dev/null || true; SPID=""
fi
if [ -z "${ONLY:-}" ] || [ "$ONLY" = kamailio ]; then
  echo "== kamailio on $KAM (4 children, ../shared/bench/kamailio.cfg)"
  sed "s/^listen=udp:127.0.0.1:5060/listen=udp:$KAM/" "$HARNESS/kamailio.cfg" >"$WORK/kamailio.cfg"
  mkdir -p "$WORK/kam"
  kamailio -DD -E -m 1536 -M 16 -f "$WORK/kamailio.cfg" -A "DBURL=\"text://$BENCH_DATA/dbtext\"" \
    -A "CTLSOCK=\"unix:$WORK/kam/ctl\"" -A "NCHILDREN=4" >"$WORK/kamailio.log" 2>&1 &
  KPID=$!
  for _ in $(seq 50); do [ -S "$WORK/kam/ctl" ] && break; sleep 0.2; done
  kill -0 "$KPID" || { tail "$WORK/kamailio.log" >&2; exit 1; }
  search kamailio "$KAM" "$KPID"
  K_BEST=$BEST; K_LINE=$BEST_LINE
fi

echo "== result ($(date -Is), $DUR s trials, $USERS users)"
if [ "$S_BEST" -gt 0 ] || [ -n "${S_LINE:-}" ]; then
  BEST_LINE=${S_LINE:-}; BEST=$S_BEST; summary strowger
  echo "strowger memory: RSS $((RSS0 / 1024)) -> $((RSS1 / 1024)) MiB with $NB bindings:" \
    "$(awk -v a="$RSS0" -v b="$RSS1" -v n="$NB" 'BEGIN { if (n > 0) printf "%.2f KiB", (b - a) / n; else print "NA" }') per binding"
fi
if [ "$K_BEST" -gt 0 ] || [ -n "${K_LINE:-}" ]; then
  BEST_LINE=${K_LINE:-}; BEST=$K_BEST; summary kamailio
fi
if [ "$S_BEST" -gt 0 ] && [ "$K_BEST" -gt 0 ]; then
  awk -v s="$S_BEST" -v k="$K_BEST" 'BEGIN { printf "ratio strowger/kamailio = %.2f\n", s / k }'
fi
