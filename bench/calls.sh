#!/usr/bin/env bash
# Call throughput and setup latency: SIPp caller -> Switchboard (sipd, dialogd, routerd,
# mediad anchoring the SDP) -> SIPp callee, beside Kamailio + RTPEngine (the anchor:
# stateful proxy, media anchored in RTPEngine userspace) in the same run, loopback only.
#   bench/calls.sh [RATES] [SECONDS] [HELD]   default "100 200 400 600 800 1000 1200 1600" 4 1000
# For each system: a rate ladder of calls (INVITE with SDP, 180, 200, ACK, 100 ms, BYE:
# the anchors' uac.xml/uas.xml), the ceiling = the highest rate with < 0.1% failed calls,
# INVITE->200 latency p50/p99 at half that rate (SIPp rtd trace, whole ms), and the memory
# of HELD concurrent calls (RSS of all processes, minus idle) per call.
# BENCH_NAT=1: the anchor's Kamailio runs nathelper (bench/kamailio-nat.cfg).
set -u
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
top=$(cd "$here/.." && pwd)
ANCHORS=${BENCH_ANCHORS:-$(cd "$top/.." && pwd)/shared/bench-anchors}
RATES=${1:-"100 200 400 600 800 1000 1200 1600"}
SECS=${2:-4}
KCFG=$ANCHORS/kamailio.cfg
[ "${BENCH_NAT:-0}" = 1 ] && KCFG=$here/kamailio-nat.cfg
HELD=${3:-1000}
WORK=$(mktemp -d /tmp/sb-bench-calls.XXXXXX)
SB="$top/build/bin/switchboard"
K_PID="" R_PID="" UAS_PID=""
cleanup() {
  [ -n "$UAS_PID" ] && kill "$UAS_PID" 2>/dev/null
  [ -n "$K_PID" ] && kill "$K_PID" 2>/dev/null
  [ -n "$R_PID" ] && kill "$R_PID" 2>/dev/null
  [ -d "$WORK/sb" ] && "$SB" -c "$WORK/sb" stop >/dev/null 2>&1
  rm -rf "$WORK"
}
trap cleanup EXIT
. "$top/tests/confdir.sh" # free_port, make_confdir
kv() { echo "$1=$2"; }
csv_field() { awk -F';' -v f="$2" 'NR==1{for(i=1;i<=NF;i++) if($i==f) c=i; next} {v=$c} END{print v+0}' "$1"; }
rss_kb() { local t=0 p; for p in "$@"; do t=$((t + $(awk '/^VmRSS/ { print $2 }' /proc/"$p"/status 2>/dev/null || echo 0))); done; echo "$t"; }

# callee TARGET: registers user 1000 with a SIPp callee as its contact and starts that
# callee (the anchors' uas.xml) for the whole ladder.
callee() {
  local target=$1
  UPORT=$(free_port)
  (cd "$WORK" && timeout 20 sipp "$target" -sf "$ANCHORS/register-contact.xml" -set user 1000 \
    -set cport "$UPORT" -m 1 -p "$(free_port)" -i 127.0.0.1 -nostdin -timeout 10 \
    -timeout_error >/dev/null 2>&1) || { echo "callee registration failed at $target"; return 1; }
  (cd "$WORK" && exec timeout 900 sipp -sf "$ANCHORS/uas.xml" -p "$UPORT" -i 127.0.0.1 \
    -buff_size 4194304 -nostdin >/dev/null 2>&1) &
  UAS_PID=$!
  sleep 0.3
}

# calls TARGET RATE COUNT HOLD_MS [sipp args]: one SIPp caller run; sets OK BAD SECS_TAKEN.
calls() {
  local target=$1 r=$2 n=$3 hold=$4; shift 4
  rm -f "$WORK"/uac_*.csv
  local t0 t1
  t0=$(date +%s.%N)
  (cd "$WORK" && timeout $((n / r * 4 + 60)) sipp "$target" -sf "$ANCHORS/uac.xml" -s 1000 \
    -d "$hold" -m "$n" -r "$r" -l $((n + 10)) -p "$(free_port)" -i 127.0.0.1 -buff_size 4194304 \
    -timeout $((n / r * 3 + 40)) -nostdin -trace_stat -fd 1 "$@" >/dev/null 2>&1)
  t1=$(date +%s.%N)
  local csv; csv=$(ls "$WORK"/uac_*_.csv 2>/dev/null | head -n 1)
  OK=$(csv_field "$csv" "SuccessfulCall(C)")
  BAD=$(csv_field "$csv" "FailedCall(C)")
  SECS_TAKEN=$(echo "$t1 - $t0" | bc -l)
}

# ladder NAME TARGET: one line per rate; sets CEIL.
ladder() {
  local name=$1 target=$2 r n
  CEIL=0
  for r in $RATES; do
    n=$((r * SECS))
    calls "$target" "$r" "$n" 100
    printf '%-22s rate=%-5s offered=%-6s ok=%-6s failed=%-5s achieved/s=%.0f\n' "$name" "$r" "$n" \
      "$OK" "$BAD" "$(echo "$OK / $SECS_TAKEN" | bc -l)"
    if [ "$OK" -ge $((n * 999 / 1000)) ] && [ $((BAD * 1000)) -lt "$n" ]; then CEIL=$r; else break; fi
  done
}

# latency NAME TARGET RATE: INVITE -> 200 p50/p99 at RATE.
latency() {
  local name=$1 target=$2 r=$3 n=$(($3 * SECS))
  calls "$target" "$r" "$n" 100 -trace_rtt -rtt_freq 1
  local rtt; rtt=$(ls "$WORK"/uac_*_rtt.csv 2>/dev/null | head -n 1)
  awk -F';' 'NR > 1 && $2 != "" { print $2 }' "$rtt" | sort -g >"$WORK/rtt.sorted"
  local cnt p50 p99
  cnt=$(wc -l <"$WORK/rtt.sorted")
  p50=$(awk -v n="$cnt" 'NR == int(n * 0.50) + 1 { print; exit }' "$WORK/rtt.sorted")
  p99=$(awk -v n="$cnt" 'NR == int(n * 0.99) + 1 { print; exit }' "$WORK/rtt.sorted")
  echo "$name at $r/s: $cnt calls set up, INVITE->200 p50 ${p50:-?} ms, p99 ${p99:-?} ms"
  kv "${name}_setup_p50_ms" "${p50:-?}"; kv "${name}_setup_p99_ms" "${p99:-?}"
}

# held NAME TARGET PIDS...: RSS per call with HELD calls up at once.
held() {
  local name=$1 target=$2; shift 2
  local idle; idle=$(rss_kb "$@")
  local r=$((HELD / 4 > 0 ? HELD / 4 : 1))
  rm -f "$WORK"/uac_*.csv
  (cd "$WORK" && timeout 300 sipp "$target" -sf "$ANCHORS/uac.xml" -s 1000 -d 20000 -m "$HELD" \
    -r "$r" -l $((HELD + 10)) -p "$(free_port)" -i 127.0.0.1 -buff_size 4194304 -timeout 120 \
    -nostdin >/dev/null 2>&1) &
  local caller=$!
  sleep $((HELD / r + 6)) # all set up, none ended yet
  local busy; busy=$(rss_kb "$@")
  wait "$caller"
  local per; per=$(echo "($busy - $idle) * 1024 / $HELD" | bc)
  echo "$name: $HELD calls held: RSS $idle -> $busy KiB, $per bytes per call"
  kv "${name}_bytes_per_call" "$per"
}

# crossings TARGET N: IPC envelopes sent between Switchboard's processes per call (apid's
# process table, every role but apid, over N calls at 50/s; idle traffic is measured over
# the same time and taken off).
ipc_tx_total() {
  curl -s "http://127.0.0.1:$API_PORT/api/v1/processes" |
    jq '[.processes[] | select(.role != "apid") | .counters.ipc_tx] | add'
}
crossings() {
  local target=$1 n=$2 t0 t1 i0 i1 c0 c1 secs
  i0=$(ipc_tx_total); sleep $((n / 50 + 2)); i1=$(ipc_tx_total)
  c0=$(ipc_tx_total); t0=$SECONDS
  calls "$target" 50 "$n" 100
  secs=$((SECONDS - t0)); [ "$secs" -lt $((n / 50 + 2)) ] && sleep $((n / 50 + 2 - secs))
  c1=$(ipc_tx_total)
  local per; per=$(echo "scale=1; (($c1 - $c0) - ($i1 - $i0)) / $OK" | bc)
  echo "switchboard: $OK calls: $per IPC envelopes between processes per call"
  kv switchboard_ipc_per_call "$per"
}

pids_of_sb() { "$SB" -c "$WORK/sb" status | awk 'NR > 2 && $3 != "-" { print $3 }'; }

# --- Switchboard: default master.cf (2 sipd), port range wide enough for HELD calls
chmod 755 "$WORK"
make_confdir "$WORK/sb" "$top/build/bin"
# one SIPp source sends the whole load: the per-source rate limits (sip_pike_*) are off
printf 'sip_pike_requests = 0\nsip_pike_calls = 0\n' >>"$WORK/sb/main.cf"
echo "api_insecure = yes" >>"$WORK/sb/main.cf" # loopback: the bench reads the API without a token
sed -i -e 's/^log_level = .*/log_level = warn/' "$WORK/sb/main.cf"
sed -i "s/^rtp_port_range = .*/rtp_port_range = 20000-60000/" "$WORK/sb/main.cf"
ulimit -n 65536 2>/dev/null
"$SB" -c "$WORK/sb" start || { echo "switchboard did not start"; exit 1; }
sleep 1
SBT="127.0.0.1:$SIP_PORT"
callee "$SBT" || exit 1
echo "== Switchboard (sipd x2, dialogd, routerd, mediad, redis)"
crossings "$SBT" 200
ladder switchboard "$SBT"
SB_CEIL=$CEIL
kv switchboard_ceiling_cps "$SB_CEIL"
[ "$SB_CEIL" -gt 0 ] && latency switchboard "$SBT" $((SB_CEIL / 2))
held switchboard "$SBT" $(pids_of_sb)
kill "$UAS_PID"; wait "$UAS_PID" 2>/dev/null; UAS_PID=""
"$SB" -c "$WORK/sb" stop >/dev/null

# --- Kamailio + RTPEngine: the anchors' configs
if command -v kamailio >/dev/null && command -v rtpengine >/dev/null; then
  KDIR=$WORK/kamailio; mkdir -p "$KDIR"; kport=$(free_port); ngport=$(free_port)
  rtpengine --table=-1 --interface=127.0.0.1 --listen-ng=127.0.0.1:$ngport --port-min=30000 \
    --port-max=60000 --pidfile="$KDIR/rtp.pid" --num-threads=2 --delete-delay=0 \
    --log-level=3 >"$KDIR/rtp.log" 2>&1
  for _ in $(seq 1 100); do [ -s "$KDIR/rtp.pid" ] && break; sleep 0.05; done
  R_PID=$(cat "$KDIR/rtp.pid" 2>/dev/null)
  sed -e "s/^listen=udp:127.0.0.1:5070/listen=udp:127.0.0.1:$kport/" \
      -e "s|udp:127.0.0.1:2223|udp:127.0.0.1:$ngport|" \
      -e "s|unix:/tmp/kamailio-anchor-ctl|unix:$KDIR/ctl|" "$KCFG" >"$KDIR/kamailio.cfg"
  kamailio -f "$KDIR/kamailio.cfg" -P "$KDIR/pid" -m 1024 -M 32 -n 4 -E -A WITH_RTPENGINE \
    >"$KDIR/log" 2>&1
  for _ in $(seq 1 100); do [ -s "$KDIR/pid" ] && break; sleep 0.05; done
  K_PID=$(cat "$KDIR/pid" 2>/dev/null)
  sleep 1
  KT="127.0.0.1:$kport"
  if callee "$KT"; then
    echo "== Kamailio + RTPEngine (kamailio $K_PID, rtpengine $R_PID)"
    ladder kamailio_rtpengine "$KT"
    K_CEIL=$CEIL
    kv kamailio_rtpengine_ceiling_cps "$K_CEIL"
    [ "$K_CEIL" -gt 0 ] && latency kamailio_rtpengine "$KT" $((K_CEIL / 2))
    held kamailio_rtpengine "$KT" "$K_PID" $(pgrep -P "$K_PID") "$R_PID"
    [ "$K_CEIL" -gt 0 ] &&
      kv cps_ratio_sb_over_anchor "$(echo "$SB_CEIL / $K_CEIL" | bc -l | xargs printf '%.2f')"
  fi
else
  echo "kamailio or rtpengine not installed: no anchor figures"
fi
exit 0
