#!/usr/bin/env bash
# Call benchmarks, Strowger (edge + media, anchored media) against Kamailio (a plain
# stateful proxy, no media) in the same run, with the ../shared/bench harness (SIPp).
#
#   bench/calls.sh [setup|concurrent|all]        (default all)
#
# setup      call setup rate: INVITE -> 407 -> INVITE -> 180 -> 200 -> ACK -> hold
#            U(0,1) s -> BYE, at each of RATES calls/s for DUR s, through Strowger and
#            then Kamailio (shared run-calls.sh: one summary line per run).
# concurrent N calls held open through Strowger (N in CONC), then G.711 RTP both ways
#            (one 172-byte packet per 20 ms per direction per call, shared rtpgen.c)
#            for RTP_DUR s: loss and one-way delay through the relay (added jitter is
#            read as p99 - p50 of that delay), server CPU, and memory and goroutines
#            per live call (RSS, and goroutines and live heap after a GC from
#            /debug/pprof via --pprof, before and during the calls).
#
# Env: RATES="200 500 1000" DUR=10 CONC="500 1000" RTP_DUR=20 USERS=2000 (CONC above 1,000 needs USERS >= 2 CONC)
#      RTP_PORTS=20000-29999 (4 ports per call: the range bounds N to 2,500), KAMAILIO=1,
#      FSYNC=always (Strowger --fsync; CDRs are written durably at every hangup),
#      PROFILE=1 (a CPU profile of Strowger during each setup-rate run and each RTP
#      run, with its top functions), RTPENGINE=1 (concurrent mode: after Strowger,
#      the same N calls through rtpengine in userspace with the shared
#      rtp/run-rtp.sh, unpinned like Strowger, for a ratio from the same run).
# Ports (loopback only; PORT_BASE=35000 moves them all): SIP 35060, HTTP 38000, pprof
# 38001, Kamailio 35064, SIPp UAS 35062 / UAC 35063, RTP generator 35066 (caller side) /
# 35067 (callee side).
# Every process this script starts is stopped by its PID at exit; every run is bounded.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
SHARED=${SHARED_BENCH:-$ROOT/../shared/bench}
[ -x "$SHARED/run-calls.sh" ] || { echo "shared bench harness not found at $SHARED" >&2; exit 2; }
. "$SHARED/lib.sh"
MODE=${1:-all}
RATES=${RATES:-200 500 1000}; DUR=${DUR:-10}
CONC=${CONC:-500 1000}; RTP_DUR=${RTP_DUR:-20}
USERS=${USERS:-2000}; RTP_PORTS=${RTP_PORTS:-20000-29999}
B=${PORT_BASE:-35000} # every port below moves with it
SIP=127.0.0.1:$((B + 60)); HTTP=127.0.0.1:$((B + 3000)); PPROF=127.0.0.1:$((B + 3001)); KAM_PORT=$((B + 64))
export UAS_PORT=$((B + 62)) UAC_PORT=$((B + 63))
GEN_A=$((B + 66)); GEN_B=$((B + 67))
for n in $CONC; do [ $((n * 2)) -le "$USERS" ] || die "CONC $n needs USERS >= $((n * 2)) (one callee per call)"; done

WORK=$(mktemp -d /tmp/strowger-calls.XXXXXX)
export BENCH_DATA=$WORK/data BENCH_RESULTS=$WORK/results
mkdir -p "$BENCH_RESULTS"
SPID=""; KPID=""; BG=()
cleanup() {
  for p in "${BG[@]}" $KPID $SPID; do kill "$p" 2>/dev/null || true; done
  for p in "${BG[@]}" $KPID $SPID; do
    for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$p" 2>/dev/null || true
  done
  echo "results kept in $WORK/results"
}
trap cleanup EXIT

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(date -Is)"
go build -o "$WORK/strowger" ./cmd/strowger
gcc -O2 -Wall -o "$WORK/rtpgen" "$SHARED/rtp/rtpgen.c" -lpthread
"$SHARED/gen-users.sh" "$USERS" sip.test >/dev/null
KEY=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')

"$WORK/strowger" serve --data "$WORK/d" --http "$HTTP" --sip "$SIP" --pprof "$PPROF" \
  --rtp-ip 127.0.0.1 --rtp-ports "$RTP_PORTS" --master-api-key "$KEY" --sip-allow 127.0.0.0/8 \
  --log-level error --fsync "${FSYNC:-always}" --node-name bench >"$WORK/strowger.log" 2>&1 &
SPID=$!
for _ in $(seq 200); do curl -s -o /dev/null "http://$HTTP/v2/x" && break; sleep 0.1; done
kill -0 "$SPID" 2>/dev/null || { tail -20 "$WORK/strowger.log"; die "strowger did not start"; }
T=$(date +%s)
ACCT=$(python3 "$ROOT/bench/provision-users.py" "$HTTP" "$KEY" "$BENCH_DATA/users.csv")
echo "provisioned $USERS devices and $((USERS / 2)) callflows through the API in $(( $(date +%s) - T )) s (account $ACCT)"

goroutines() { curl -s "http://$PPROF/debug/pprof/goroutine?debug=1" | awk 'NR == 1 {print $NF}'; }
rss_kib() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
heap_inuse() { curl -s "http://$PPROF/debug/pprof/heap?gc=1&debug=1" | awk '/^# HeapInuse = / {print $4}'; }
cpu_ticks_of() { awk '{print $14 + $15}' "/proc/$1/stat"; }

if [ "$MODE" = setup ] || [ "$MODE" = all ]; then
  echo "== call setup rate, $DUR s per rate, hold U(0,1) s"
  for r in $RATES; do
    prof=""
    if [ "${PROFILE:-0}" = 1 ]; then
      # CPU profile of the server over the steady part of the run.
      prof=$BENCH_RESULTS/cpu-r$r.pprof
      touch "$WORK/mark"
      ( for _ in $(seq 1200); do  # the UAC's stat file appears when calls start
          [ -n "$(find "$BENCH_RESULTS" -name stat.csv -path "*-r$r/stat.csv" -newer "$WORK/mark" 2>/dev/null)" ] && break
          sleep 0.1
        done
        sleep 1; curl -s -o "$prof" "http://$PPROF/debug/pprof/profile?seconds=$((DUR - 3))" ) &
      BG+=("$!")
    fi
    SERVER_PID=$SPID LABEL="strowger r=$r" "$SHARED/run-calls.sh" "$SIP" "$r" "$DUR" || true
    if [ -n "$prof" ] && [ -s "$prof" ]; then
      go tool pprof -top -nodecount=30 "$WORK/strowger" "$prof" 2>/dev/null | sed -n '1,40p' > "$prof.top.txt" || true
      echo "  CPU profile: $prof (top functions in $prof.top.txt)"
    fi
  done
  if [ "${KAMAILIO:-1}" = 1 ] && command -v kamailio >/dev/null; then
    sed "s/127\.0\.0\.1:5060/127.0.0.1:$KAM_PORT/" "$SHARED/kamailio.cfg" > "$WORK/kamailio.cfg"
    mkdir -p "$WORK/kam"
    kamailio -DD -E -m 1536 -M 16 -f "$WORK/kamailio.cfg" \
      -A "DBURL=\"text://$BENCH_DATA/dbtext\"" -A "CTLSOCK=\"unix:$WORK/kam/ctl\"" \
      -A "NCHILDREN=4" >"$WORK/kam/kamailio.log" 2>&1 &
    KPID=$!
    for _ in $(seq 50); do [ -S "$WORK/kam/ctl" ] && break; sleep 0.2; done
    kill -0 "$KPID" 2>/dev/null || { tail -20 "$WORK/kam/kamailio.log"; die "kamailio did not start"; }
    for r in $RATES; do
      SERVER_PID=$KPID LABEL="kamailio r=$r" "$SHARED/run-calls.sh" "127.0.0.1:$KAM_PORT" "$r" "$DUR" || true
    done
    kill "$KPID"; wait "$KPID" 2>/dev/null || true; KPID=""
  fi
fi

if [ "$MODE" = concurrent ] || [ "$MODE" = all ]; then
  echo "== concurrent calls with G.711 RTP both ways, $RTP_DUR s of RTP each"
  # Callees register from the UAS port (run-calls.sh did it in setup mode).
  ( cd "$WORK" && timeout -k 5 120 sipp "$SIP" -sf "$SHARED/scenarios/reg.xml" -inf "$BENCH_DATA/callees-reg.csv" \
      -auth_uri sip.test -i 127.0.0.1 -p "$UAS_PORT" -r 500 -m $((USERS / 2)) -recv_timeout 5000 \
      -nostdin >/dev/null 2>&1 ) || die "callee registration failed"
  for n in $CONC; do
    OUT=$BENCH_RESULTS/concurrent-$n; mkdir -p "$OUT"
    G0=$(goroutines); R0=$(rss_kib "$SPID"); H0=$(heap_inuse)
    setup_s=$(( n / 100 + 1 ))
    hold_ms=$(( (setup_s + 3 + RTP_DUR + 5) * 1000 ))
    limit=$(( setup_s + 3 + RTP_DUR + 60 ))
    ( cd "$OUT" && exec timeout -k 5 "$limit" sipp -sf "$ROOT/bench/sipp/calls-uas.xml" -i 127.0.0.1 -p "$UAS_PORT" \
        -set b_port "$GEN_B" -m "$n" -recv_timeout $(( hold_ms + 20000 )) -nostdin -trace_logs \
        -buff_size 4194304 >uas.out 2>&1 ) &
    UAS=$!; BG+=("$UAS")
    sleep 0.5
    ( cd "$OUT" && exec timeout -k 5 "$limit" sipp "$SIP" -sf "$ROOT/bench/sipp/calls-uac.xml" \
        -inf "$BENCH_DATA/calls.csv" -auth_uri sip.test -set a_port "$GEN_A" -i 127.0.0.1 -p "$UAC_PORT" \
        -r 100 -m "$n" -l "$n" -d "$hold_ms" -recv_timeout 20000 -nostdin -trace_logs -trace_err \
        -buff_size 4194304 >uac.out 2>&1 ) &
    UAC=$!; BG+=("$UAC")
    # Wait (bounded) until every call is up on both sides.
    up=0
    for _ in $(seq $(( (setup_s + 20) * 10 ))); do
      a=$(cat "$OUT"/calls-uac_*_logs.log 2>/dev/null | grep -c '^A ' || true)
      b=$(cat "$OUT"/calls-uas_*_logs.log 2>/dev/null | grep -c '^B ' || true)
      if [ "$a" -ge "$n" ] && [ "$b" -ge "$n" ]; then up=1; break; fi
      kill -0 "$UAC" 2>/dev/null || break
      sleep 0.1
    done
    if [ "$up" != 1 ]; then
      echo "CONCURRENT n=$n: only ${a:-0} caller / ${b:-0} callee legs came up (see $OUT)"
      wait "$UAC" "$UAS" 2>/dev/null || true
      continue
    fi
    sleep 1 # let the heartbeats and checkpoints of the last calls settle before sampling
    G1=$(goroutines); R1=$(rss_kib "$SPID"); H1=$(heap_inuse)
    # Pair each caller leg with its callee leg by the callee's name.
    awk '$1 == "A" {a[$2] = $3} $1 == "B" {b[$2] = $3}
         END {i = 0; for (k in a) if (k in b) print i++, a[k], b[k]}' \
      "$OUT"/calls-uac_*_logs.log "$OUT"/calls-uas_*_logs.log > "$OUT/calls.txt"
    C0=$(cpu_ticks_of "$SPID"); T0=$(date +%s%N)
    if [ "${PROFILE:-0}" = 1 ]; then
      ( sleep 4; curl -s -o "$OUT/cpu.pprof" "http://$PPROF/debug/pprof/profile?seconds=$((RTP_DUR - 2))" ) &
      BG+=("$!")
    fi
    "$WORK/rtpgen" "$OUT/calls.txt" "$RTP_DUR" 1 "$GEN_A" "$GEN_B" 3 >"$OUT/rtpgen.out" 2>&1 &
    GPID=$!; BG+=("$GPID")
    GC1=0; while kill -0 "$GPID" 2>/dev/null; do GC1=$(cpu_ticks_of "$GPID" 2>/dev/null || echo "$GC1"); sleep 0.5; done
    wait "$GPID" || true
    if [ -s "$OUT/cpu.pprof" ]; then
      go tool pprof -top -nodecount=30 "$WORK/strowger" "$OUT/cpu.pprof" 2>/dev/null | sed -n '1,40p' > "$OUT/cpu.top.txt" || true
      echo "  CPU profile: $OUT/cpu.pprof (top functions in $OUT/cpu.top.txt)"
    fi
    C1=$(cpu_ticks_of "$SPID"); T1=$(date +%s%N)
    cpu=$(awk -v c="$((C1 - C0))" -v t="$((T1 - T0))" -v hz="$(getconf CLK_TCK)" 'BEGIN {printf "%.0f", c / hz / (t / 1e9) * 100}')
    gen_cpu=$(awk -v c="${GC1:-0}" -v t="$((T1 - T0))" -v hz="$(getconf CLK_TCK)" 'BEGIN {printf "%.0f", c / hz / (t / 1e9) * 100}')
    per=$(awk -v n="$n" -v g0="$G0" -v g1="$G1" -v r0="$R0" -v r1="$R1" -v h0="$H0" -v h1="$H1" \
      'BEGIN {printf "goroutines_per_call=%.1f rss_per_call_kib=%.1f heap_per_call_kib=%.1f", (g1-g0)/n, (r1-r0)/n, (h1-h0)/n/1024}')
    LINE="CONCURRENT n=$n $(tail -1 "$OUT/rtpgen.out") srv_cpu=${cpu}% rtpgen_cpu=${gen_cpu}% $per goroutines=$G0->$G1 rss_kib=$R0->$R1"
    echo "$LINE"
    echo "$(date -Is) $LINE" >> "$BENCH_RESULTS/summary.log"
    wait "$UAC" 2>/dev/null || echo "  (UAC: some calls failed, see $OUT/uac.out)"
    wait "$UAS" 2>/dev/null || true
  done
fi
if { [ "$MODE" = concurrent ] || [ "$MODE" = all ]; } && [ "${RTPENGINE:-0}" = 1 ]; then
  command -v rtpengine >/dev/null || die "RTPENGINE=1 needs rtpengine (apt-get install rtpengine-daemon)"
  # Strowger is stopped first: the machine is the same, the relay is the only server.
  kill "$SPID"; wait "$SPID" 2>/dev/null || true; SPID=""
  echo "== the same calls through rtpengine (userspace, --table=-1), unpinned"
  mkdir -p "$SHARED/results" # run-rtp.sh appends its summary there
  for n in $CONC; do
    OUT=$BENCH_RESULTS/rtpengine-$n LABEL="rtpengine n=$n" "$SHARED/rtp/run-rtp.sh" "$n" "$RTP_DUR" 0-1 0-1 2>&1 | tail -1 \
      | tee -a "$BENCH_RESULTS/summary.log" || true
  done
fi
