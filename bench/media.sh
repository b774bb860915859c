#!/usr/bin/env bash
# RTP relay figures: the machine's ceiling (a minimal one-socket recvmmsg/sendmmsg relay),
# mediad (one instance, one core) and RTPEngine userspace (Debian's rtpengine-daemon, the
# anchor) side by side in one run, loopback only, with tests/tools/media_blast as the
# load (172-byte packets, send time in the payload).
#   bench/media.sh [RATES] [STREAMS] [SECONDS]
#     RATES    one-stream rate ladder, packets/s  (default "50000 100000 150000 200000 250000 300000")
#     STREAMS  50-pps two-way streams ladder      (default "500 1000 1500 2000 2400")
#     SECONDS  per step                           (default 3)
# Figures: max packets/s at < 0.1% loss (one stream, one way), max concurrent 50-pps
# streams at < 0.1% loss, latency p50/p99 at half that many streams (each the median of
# BENCH_REPEATS runs, default 3), packets per CPU-second of the relay, and memory per
# session (RSS growth with 1,000 sessions). Exits 0 even when a goal is missed.
set -u
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
top=$(cd "$here/.." && pwd)
RATES=${1:-"50000 100000 150000 200000 250000 300000"}
STREAMS=${2:-"500 1000 1500 2000 2400"}
SECS=${3:-3}
REPEATS=${BENCH_REPEATS:-3}
BLAST=${SB_TOOLS:-$top/build/tests}/media_blast
SB_BIN=${SB_BIN:-$top/build/bin}
SB="$SB_BIN/switchboard"
WORK=$(mktemp -d /tmp/sb-bench-media.XXXXXX)
RE_PID="" MIN_PID=""
cleanup() {
  [ -n "$RE_PID" ] && kill "$RE_PID" 2>/dev/null
  [ -n "$MIN_PID" ] && kill "$MIN_PID" 2>/dev/null
  [ -d "$WORK/sb" ] && "$SB" -c "$WORK/sb" stop >/dev/null 2>&1
  rm -rf "$WORK"
}
trap cleanup EXIT
. "$top/tests/confdir.sh" # free_port, make_confdir
field() { sed -n "s/.*$1=\([0-9.]*\).*/\1/p" <<<"$2"; }
cpu_ns() { local t=0 f; for f in /proc/"$1"/task/*/schedstat; do
  [ -r "$f" ] && t=$((t + $(cut -d' ' -f1 "$f"))); done; echo "$t"; }
rss_kb() { awk '/^VmRSS/ { print $2 }' "/proc/$1/status" 2>/dev/null; }
median() { tr ' ' '\n' | grep -v '^$' | sort -n | awk '{ v[NR] = $1 } END { print (NR ? v[int((NR + 1) / 2)] : 0) }'; }
# step_ok OUTPUT: < 0.1% loss, and the blaster really offered the load (>= 99%).
step_ok() { awk -v l="$(field loss_pct "$1")" -v o="$(field offered_pct "$1")" \
  'BEGIN { exit !(l < 0.1 && o >= 99) }'; }

# rate_ladder NAME TARGET PID: one stream one way; sets MAXPPS (highest rate under 0.1%
# loss, its relayed packets/s) and PPCPU (packets per CPU-second of PID at that rate).
rate_ladder() {
  local name=$1 target=$2 pid=$3 r out c0 c1
  MAXPPS=0 PPCPU=0
  for r in $RATES; do
    [ "$name" = minimal ] && { "$BLAST" minrelay "$MIN_IN" "$MIN_OUT" $((SECS + 2)) >/dev/null &
      MIN_PID=$! pid=$!; sleep 0.2; }
    c0=$(cpu_ns "$pid")
    out=$(timeout $((SECS + 20)) "$BLAST" run "$target" 1 "$r" "$SECS" --one-way)
    c1=$(cpu_ns "$pid")
    [ "$name" = minimal ] && { wait "$MIN_PID" 2>/dev/null; MIN_PID=""; }
    printf '%-8s one stream  rate=%-7s %s\n' "$name" "$r" "$out"
    step_ok "$out" || break
    MAXPPS=$(field relayed_pps "$out")
    PPCPU=$(awk -v p="$(field received "$out")" -v c=$((c1 - c0)) 'BEGIN { printf "%.0f", c ? p / (c / 1e9) : 0 }')
  done
}

# stream_ladder NAME TARGET PID: 50-pps streams both ways; sets MAXSTREAMS.
stream_ladder() {
  local name=$1 target=$2 pid=$3 n out
  local c0 c1
  MAXSTREAMS=0 SPPCPU=0
  for n in $STREAMS; do
    c0=$(cpu_ns "$pid")
    out=$(timeout $((SECS + 60)) "$BLAST" run "$target" "$n" 50 "$SECS")
    c1=$(cpu_ns "$pid")
    printf '%-8s streams=%-5s %s\n' "$name" "$n" "$out"
    step_ok "$out" || break
    MAXSTREAMS=$n
    # CPU includes call setup and teardown (as in the anchors' figure)
    SPPCPU=$(awk -v p="$(field received "$out")" -v c=$((c1 - c0)) 'BEGIN { printf "%.0f", c ? p / (c / 1e9) : 0 }')
  done
}

# latency NAME TARGET N: median p50/p99 over REPEATS runs of N streams; sets P50 P99.
latency() {
  local name=$1 target=$2 n=$3 i out p50s="" p99s=""
  for i in $(seq 1 "$REPEATS"); do
    out=$(timeout $((SECS + 60)) "$BLAST" run "$target" "$n" 50 "$SECS")
    printf '%-8s half load streams=%s run %s: %s\n' "$name" "$n" "$i" "$out"
    p50s="$p50s $(field p50_us "$out")"
    p99s="$p99s $(field p99_us "$out")"
  done
  P50=$(echo "$p50s" | median)
  P99=$(echo "$p99s" | median)
}

# mem_per_session TARGET PID: RSS growth (KB) per session with 1,000 sessions up.
mem_per_session() {
  local target=$1 pid=$2 before after
  before=$(rss_kb "$pid")
  BLAST_HOLD_MS=1500 "$BLAST" run "$target" 1000 1 1 >/dev/null &
  local bp=$!
  sleep 2.2
  after=$(rss_kb "$pid")
  wait "$bp"
  MEM=$(awk -v a="$after" -v b="$before" 'BEGIN { printf "%.1f", (a - b) / 1000 }')
}

declare -A R
# ---- the ceiling: a minimal relay ----
MIN_IN=$(free_port) MIN_OUT=$(free_port)
rate_ladder minimal "min:$MIN_IN:$MIN_OUT" 0
R[min_maxpps]=$MAXPPS R[min_ppcpu]=$PPCPU

# ---- mediad ----
make_confdir "$WORK/sb" "$SB_BIN"
sed -i 's/^rtp_port_range = .*/rtp_port_range = 20000-29999/' "$WORK/sb/main.cf"
echo "media_timeout = 600s" >>"$WORK/sb/main.cf"
"$SB" -c "$WORK/sb" start >/dev/null || { echo "switchboard did not start"; exit 1; }
M_PID=$("$SB" -c "$WORK/sb" status | awk '$1 == "mediad" { print $3 }')
MT="mediad:$WORK/sb/run/private/mediad.0"
mem_per_session "$MT" "$M_PID" # first: freed memory stays in the heap afterwards
R[mediad_kb_per_session]=$MEM
rate_ladder mediad "$MT" "$M_PID"
R[mediad_maxpps]=$MAXPPS R[mediad_ppcpu]=$PPCPU
stream_ladder mediad "$MT" "$M_PID"
R[mediad_streams]=$MAXSTREAMS R[mediad_streams_ppcpu]=$SPPCPU
[ "$MAXSTREAMS" -gt 0 ] && latency mediad "$MT" $((MAXSTREAMS / 2)) &&
  R[mediad_p50_us]=$P50 R[mediad_p99_us]=$P99
"$SB" -c "$WORK/sb" stop >/dev/null 2>&1

# ---- RTPEngine userspace ----
if command -v rtpengine >/dev/null; then
  NG=$(free_port)
  rtpengine --foreground --table=-1 --interface=127.0.0.1 --listen-ng="127.0.0.1:$NG" \
    --port-min=40000 --port-max=49999 --num-threads=2 --delete-delay=0 --log-level=3 --endpoint-learning=immediate \
    --log-stderr >"$WORK/rtpengine.log" 2>&1 &
  RE_PID=$!
  sleep 1
  mem_per_session "ng:$NG" "$RE_PID"
  R[rtpengine_kb_per_session]=$MEM
  rate_ladder rtpengine "ng:$NG" "$RE_PID"
  R[rtpengine_maxpps]=$MAXPPS R[rtpengine_ppcpu]=$PPCPU
  stream_ladder rtpengine "ng:$NG" "$RE_PID"
  R[rtpengine_streams]=$MAXSTREAMS R[rtpengine_streams_ppcpu]=$SPPCPU
  [ "$MAXSTREAMS" -gt 0 ] && latency rtpengine "ng:$NG" $((MAXSTREAMS / 2)) &&
    R[rtpengine_p50_us]=$P50 R[rtpengine_p99_us]=$P99
  kill "$RE_PID"
  RE_PID=""
else
  echo "rtpengine not installed (apt-get install rtpengine-daemon): anchor skipped"
fi

echo
printf '%-10s %10s %13s %9s %13s %8s %8s %11s\n' relay max_pps pkts/cpu_s streams pkts/cpu_s p50_us p99_us kb/session
for s in min mediad rtpengine; do
  printf '%-10s %10s %13s %9s %13s %8s %8s %11s\n' "$s" "${R[${s}_maxpps]:--}" "${R[${s}_ppcpu]:--}" \
    "${R[${s}_streams]:--}" "${R[${s}_streams_ppcpu]:--}" "${R[${s}_p50_us]:--}" "${R[${s}_p99_us]:--}" \
    "${R[${s}_kb_per_session]:--}"
done
echo "(max_pps: one stream one way at < 0.1% loss; streams: 50-pps two-way streams at < 0.1% loss,"
echo " with the relay's packets per CPU-second there; p50/p99: one-way latency at half that many"
echo " streams, median of $REPEATS runs; kb/session: RSS growth with 1,000 sessions)"
echo "# BEGIN media"
for k in $(printf '%s\n' "${!R[@]}" | sort); do echo "$k=${R[$k]}"; done
echo "# END media"
exit 0
