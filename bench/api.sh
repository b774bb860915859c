#!/usr/bin/env bash
# apid under load: wrk against GET /api/v1/stats, /metrics, /api/v1/registrations (after
# 1,000 bindings) and /api/v1/health, then REGISTER latency (SIPp, fixed rate) alone and
# while wrk hammers /metrics, then calls (SIPp, fixed rate, the anchors' uac/uas with SDP
# anchored by mediad, 100 ms each) with their INVITE->200 latency alone and while wrk
# hammers /api/v1/stats, /metrics and /api/v1/dialogs, with wrk's own rate under calls:
# what admin traffic costs the SIP path. Loopback only; every run bounded in count and time.
#   bench/api.sh [SECONDS] [REGISTER_RATE] [CALL_RATE]     default 4 s, 1000/s, 200/s
set -u
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
top=$(cd "$here/.." && pwd)
SECS=${1:-4}
RATE=${2:-1000}
CRATE=${3:-200}
ANCHORS=${BENCH_ANCHORS:-$(cd "$top/.." && pwd)/shared/bench-anchors}
UAS_PID=""
WORK=$(mktemp -d /tmp/sb-bench-api.XXXXXX)
SB="$top/build/bin/switchboard"
cleanup() {
  [ -n "$UAS_PID" ] && kill "$UAS_PID" 2>/dev/null
  [ -d "$WORK/sb" ] && "$SB" -c "$WORK/sb" stop >/dev/null 2>&1
  rm -rf "$WORK"
}
trap cleanup EXIT
. "$top/tests/confdir.sh" # free_port, make_confdir
command -v wrk >/dev/null || { echo "wrk is not installed (apt-get install wrk)"; exit 1; }
chmod 755 "$WORK"
make_confdir "$WORK/sb" "$top/build/bin"
# one SIPp source sends the whole load: the per-source rate limits (sip_pike_*) are off
printf 'sip_pike_requests = 0\nsip_pike_calls = 0\n' >>"$WORK/sb/main.cf"
echo "api_insecure = yes" >>"$WORK/sb/main.cf" # loopback: the bench reads the API without a token
sed -i 's/^log_level = .*/log_level = warn/' "$WORK/sb/main.cf"
"$SB" -c "$WORK/sb" start >/dev/null || { echo "switchboard did not start"; exit 1; }
sleep 1
A=http://127.0.0.1:$API_PORT
KV=""
kv() { KV="$KV$1=$2"$'\n'; }

# rtt LABEL: REGISTERs at RATE for SECS; p50/p99 of the response time (whole ms).
rtt() {
  rm -f "$WORK"/*.csv
  (cd "$WORK" && timeout $((SECS * 4 + 30)) sipp "127.0.0.1:$SIP_PORT" \
    -sf "$here/sipp/register_rtt.xml" -m $((RATE * SECS)) -r "$RATE" -l $((RATE * 2)) \
    -p "$(free_port)" -i 127.0.0.1 -buff_size 4194304 -timeout $((SECS * 3 + 20)) -nostdin \
    -trace_rtt -rtt_freq 1 >/dev/null 2>&1)
  local f; f=$(ls "$WORK"/register_rtt_*_rtt.csv 2>/dev/null | head -n 1)
  awk -F';' 'NR > 1 && $2 != "" { print $2 }' "$f" | sort -g >"$WORK/rtt.sorted"
  local n p50 p99 mean
  n=$(wc -l <"$WORK/rtt.sorted")
  p50=$(awk -v n="$n" 'NR == int(n * 0.50) + 1 { print; exit }' "$WORK/rtt.sorted")
  p99=$(awk -v n="$n" 'NR == int(n * 0.99) + 1 { print; exit }' "$WORK/rtt.sorted")
  mean=$(awk '{ s += $1 } END { if (NR) printf "%.2f", s / NR }' "$WORK/rtt.sorted")
  echo "REGISTER at $RATE/s $1: $n responses, mean $mean ms, p50 ${p50:-?} ms, p99 ${p99:-?} ms"
  kv "register_${2}_mean_ms" "${mean:-?}"
  kv "register_${2}_p99_ms" "${p99:-?}"
}

bench() { # bench PATH KEY
  local line
  line=$(wrk -t1 -c8 -d"${SECS}s" --latency "$A$1" 2>&1 |
    awk -v p="$1" '/Requests\/sec/ { r = $2 } /^ +50%/ { m = $2 } /^ +99%/ { q = $2 }
                   /Non-2xx/ { e = $NF } END { printf "wrk %-24s %8s req/s  p50 %s  p99 %s%s\n", p, r, m, q, e ? "  NON-2xx " e : "" }')
  echo "$line"
  kv "wrk_${2}_rps" "$(awk '{ print $3 }' <<<"$line")"
}

bench /api/v1/health health
bench /api/v1/stats stats
bench /metrics metrics
rtt "alone (each REGISTER a fresh user: bindings for the list below)" alone
sleep 1.5 # the registration count is refreshed every second
b=$(curl -s "$A/api/v1/stats" | jq .total_registrations)
echo "bindings now: $b"
kv bindings "$b"
bench /api/v1/registrations registrations
wrk -t1 -c8 -d$((SECS + 4))s "$A/metrics" >/dev/null 2>&1 &
WRK=$!
sleep 1
rtt "while wrk hammers /metrics" under_wrk
wait "$WRK"
rtt "alone again" alone_again
# ---- calls: setup latency alone and while wrk reads the API ----
# call_rtt LABEL KEY: CRATE calls/s for SECS; INVITE->200 p50/p99 (whole ms).
call_rtt() {
  local n=$((CRATE * SECS))
  rm -f "$WORK"/uac_*.csv
  (cd "$WORK" && timeout $((SECS * 4 + 60)) sipp "127.0.0.1:$SIP_PORT" -sf "$ANCHORS/uac.xml" \
    -s 1000 -d 100 -m "$n" -r "$CRATE" -l $((n + 10)) -p "$(free_port)" -i 127.0.0.1 \
    -buff_size 4194304 -timeout $((SECS * 3 + 40)) -nostdin -trace_rtt -rtt_freq 1 \
    -trace_stat -fd 1 >/dev/null 2>&1)
  local f; f=$(ls "$WORK"/uac_*_rtt.csv 2>/dev/null | head -n 1)
  awk -F';' 'NR > 1 && $2 != "" { print $2 }' "$f" | sort -g >"$WORK/rtt.sorted"
  local cnt p50 p99
  cnt=$(wc -l <"$WORK/rtt.sorted")
  p50=$(awk -v n="$cnt" 'NR == int(n * 0.50) + 1 { print; exit }' "$WORK/rtt.sorted")
  p99=$(awk -v n="$cnt" 'NR == int(n * 0.99) + 1 { print; exit }' "$WORK/rtt.sorted")
  echo "calls at $CRATE/s $1: $cnt set up of $n, INVITE->200 p50 ${p50:-?} ms, p99 ${p99:-?} ms"
  kv "${2}_setup_p50_ms" "${p50:-?}"
  kv "${2}_setup_p99_ms" "${p99:-?}"
}
# wrk_during PATH KEY: wrk on PATH for the length of one call_rtt run, its rate recorded.
wrk_during() {
  wrk -t1 -c8 -d$((SECS + 2))s --latency "$A$1" >"$WORK/wrk.out" 2>&1 &
  local wrk=$!
  sleep 0.5
  call_rtt "while wrk hammers $1" "calls_under_$2"
  wait "$wrk"
  local rps; rps=$(awk '/Requests\/sec/ { print $2 }' "$WORK/wrk.out")
  echo "  wrk $1 during calls: $rps req/s"
  kv "wrk_${2}_during_calls_rps" "$rps"
}
if [ -f "$ANCHORS/uac.xml" ]; then
  UPORT=$(free_port)
  (cd "$WORK" && timeout 20 sipp "127.0.0.1:$SIP_PORT" -sf "$ANCHORS/register-contact.xml" \
    -set user 1000 -set cport "$UPORT" -m 1 -p "$(free_port)" -i 127.0.0.1 -nostdin \
    -timeout 10 -timeout_error >/dev/null 2>&1) || echo "callee registration failed"
  (cd "$WORK" && exec timeout 300 sipp -sf "$ANCHORS/uas.xml" -p "$UPORT" -i 127.0.0.1 \
    -buff_size 4194304 -nostdin >/dev/null 2>&1) &
  UAS_PID=$!
  sleep 0.3
  call_rtt alone calls_alone
  wrk_during /api/v1/stats stats
  wrk_during /metrics metrics
  wrk_during /api/v1/dialogs dialogs
  call_rtt "alone again" calls_alone_again
else
  echo "no $ANCHORS/uac.xml: no call figures"
fi

echo "# BEGIN api"
printf '%s' "$KV"
echo "# END api"
