#!/usr/bin/env bash
# A flood from one source while another source calls (docs/security.md, "Limits"):
#   bench/flood.sh [FLOOD_RATE] [FLOOD_SECONDS] [CALL_RATE]   default 20000 5 100
# One SIPp sends INVITEs from 127.0.0.1 at FLOOD_RATE/s for FLOOD_SECONDS (once each, no
# retransmissions, never acknowledged, to a number nobody registered: the default
# dialplan's catch-all prompt needs an SDP offer, so the answer is 488), while another
# SIPp on 127.0.0.2 makes calls at CALL_RATE/s (INVITE with SDP, 180, 200, ACK, 100 ms,
# BYE; media anchored) to a SIPp callee on 127.0.0.3, from 1 s before the flood to 1 s
# after it.
# Reported: the other source's calls and failed-call ratio, how much of the flood was
# answered and dropped (sip_pike_dropped, sip_pike_blocks), once with the default
# limits and once with them off (sip_pike_requests = sip_pike_calls = 0).
# Loopback only, every SIPp bounded in count and time; kills only what it started.
set -u
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
top=$(cd "$here/.." && pwd)
ANCHORS=${BENCH_ANCHORS:-$(cd "$top/.." && pwd)/shared/bench-anchors}
FLOOD_RATE=${1:-20000}
FLOOD_SECS=${2:-5}
CALL_RATE=${3:-100}
WORK=$(mktemp -d /tmp/sb-bench-flood.XXXXXX)
chmod 755 "$WORK"
SB="$top/build/bin/switchboard"
UAS_PID="" CALLER_PID=""
cleanup() {
  [ -n "$CALLER_PID" ] && kill "$CALLER_PID" 2>/dev/null
  [ -n "$UAS_PID" ] && kill "$UAS_PID" 2>/dev/null
  [ -d "$WORK/sb" ] && "$SB" -c "$WORK/sb" stop >/dev/null 2>&1
  rm -rf "$WORK"
}
trap cleanup EXIT
. "$top/tests/confdir.sh" # free_port, make_confdir
kv() { echo "$1=$2"; }
csv_field() { awk -F';' -v f="$2" 'NR==1{for(i=1;i<=NF;i++) if($i==f) c=i; next} {v=$c} END{print v+0}' "$1"; }
counter() { # ROLE NAME: a counter summed over the role's processes
  curl -s "http://127.0.0.1:$API_PORT/api/v1/processes" |
    jq "[.processes[] | select(.role==\"$1\") | .counters.$2] | add // 0"
}

# run NAME LIMITS(on|off): one cluster, one flood, the other source's calls.
run() {
  local name=$1 limits=$2
  rm -rf "$WORK/sb" "$WORK"/*.csv
  make_confdir "$WORK/sb" "$top/build/bin"
  sed -i -e 's/^log_level = .*/log_level = warn/' \
    -e 's/^rtp_port_range = .*/rtp_port_range = 20000-60000/' "$WORK/sb/main.cf"
  [ "$limits" = off ] && printf 'sip_pike_requests = 0\nsip_pike_calls = 0\n' >>"$WORK/sb/main.cf"
  "$SB" -c "$WORK/sb" start >/dev/null || { echo "switchboard did not start"; return 1; }
  sleep 1
  local target=127.0.0.1:$SIP_PORT uport; uport=$(free_port)
  (cd "$WORK" && timeout 20 sipp "$target" -sf "$ANCHORS/register-contact.xml" -set user 1000 \
    -set cport "$uport" -m 1 -p "$(free_port)" -i 127.0.0.3 -nostdin -timeout 10 \
    -timeout_error >/dev/null 2>&1) || { echo "callee registration failed"; return 1; }
  (cd "$WORK" && exec timeout 120 sipp -sf "$ANCHORS/uas.xml" -p "$uport" -i 127.0.0.3 \
    -buff_size 4194304 -nostdin >/dev/null 2>&1) &
  UAS_PID=$!
  sleep 0.3
  local n=$((CALL_RATE * (FLOOD_SECS + 2)))
  (cd "$WORK" && exec timeout $((FLOOD_SECS + 60)) sipp "$target" -sf "$ANCHORS/uac.xml" -s 1000 \
    -d 100 -m "$n" -r "$CALL_RATE" -l $((n + 10)) -p "$(free_port)" -i 127.0.0.2 \
    -buff_size 4194304 -timeout $((FLOOD_SECS + 40)) -nostdin -trace_stat -stf "$WORK/calls.csv" \
    >/dev/null 2>&1) &
  CALLER_PID=$!
  sleep 1
  local fn=$((FLOOD_RATE * FLOOD_SECS)) t0 t1
  t0=$(date +%s.%N)
  (cd "$WORK" && timeout $((FLOOD_SECS + 20)) sipp "$target" -sf "$here/sipp/flood_invite.xml" \
    -m "$fn" -r "$FLOOD_RATE" -l "$fn" -nr -recv_timeout 500ms -default_behaviors -all \
    -timeout $((FLOOD_SECS + 2)) -p "$(free_port)" -i 127.0.0.1 -buff_size 8388608 -nostdin \
    -trace_stat -stf "$WORK/flood.csv" >/dev/null 2>&1)
  t1=$(date +%s.%N)
  wait "$CALLER_PID"
  CALLER_PID=""
  kill "$UAS_PID" 2>/dev/null
  wait "$UAS_PID" 2>/dev/null
  UAS_PID=""
  local sent answered ok bad total ratio secs
  sent=$(csv_field "$WORK/flood.csv" "TotalCallCreated")
  answered=$(csv_field "$WORK/flood.csv" "SuccessfulCall(C)")
  ok=$(csv_field "$WORK/calls.csv" "SuccessfulCall(C)")
  bad=$(csv_field "$WORK/calls.csv" "FailedCall(C)")
  total=$((ok + bad))
  secs=$(echo "$t1 - $t0" | bc -l)
  ratio=$(echo "scale=4; 100 * ($n - $ok) / $n" | bc -l)
  printf '%-14s flood: %s INVITEs sent in %.1f s (%.0f/s), %s answered; sipd dropped %s, blocks %s\n' \
    "$name" "$sent" "$secs" "$(echo "$sent / $secs" | bc -l)" "$answered" \
    "$(counter sipd sip_pike_dropped)" "$(counter sipd sip_pike_blocks)"
  printf '%-14s other source: %s calls offered, %s completed, %s failed, %s%% not completed\n' \
    "$name" "$n" "$ok" "$bad" "$ratio"
  kv "${name}_flood_sent" "$sent"
  kv "${name}_flood_rate" "$(printf '%.0f' "$(echo "$sent / $secs" | bc -l)")"
  kv "${name}_flood_answered" "$answered"
  kv "${name}_dropped" "$(counter sipd sip_pike_dropped)"
  kv "${name}_calls_offered" "$n"
  kv "${name}_calls_ok" "$ok"
  kv "${name}_calls_failed" "$bad"
  kv "${name}_calls_not_completed_pct" "$ratio"
  "$SB" -c "$WORK/sb" stop >/dev/null 2>&1
}

echo "flood: $FLOOD_RATE INVITE/s for $FLOOD_SECS s from 127.0.0.1; calls at $CALL_RATE/s from 127.0.0.2"
out=$(run limits on; run no_limits off)
echo "$out" | grep -v '='
echo "# BEGIN flood"
echo "$out" | grep '='
echo "# END flood"
