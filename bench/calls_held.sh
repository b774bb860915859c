#!/usr/bin/env bash
# Concurrent calls held, and memory per active call, at HELD calls (default 10,000) with a
# HOLD_S call length (default 30 s), media anchored: Switchboard (2 sipd, dialogd, routerd,
# mediad, Redis) beside Kamailio + RTPEngine (the anchors' configs), loopback only.
#   bench/calls_held.sh [HELD] [HOLD_S] [RUNS] [RATE]   default 10000 30 3 HELD*1.2/HOLD_S
# One run per system: SIPp (the anchors' uac.xml against a registered uas.xml callee) offers
# RATE calls/s of HOLD_S seconds, at most HELD at once (-l), TOTAL = 1.5 x HELD calls. Once
# HELD are up SIPp starts a call each time one ends (HELD / HOLD_S calls/s, 333/s at the
# defaults), so HELD calls stay up for about HOLD_S / 2 s before the load drains. When
# SIPp and the system's own count (mediad's media_sessions gauge; RTPEngine's sockets / 4)
# both reach 99% of HELD, the script takes 3 samples, 2 s apart, of the RSS and PSS of the
# system's processes: memory per call = (median sample - idle) / calls up. A call that
# fails, or has not ended by the end of the run, is counted as failed. Both systems get
# the port range 16000-63999 (4 ports per call: 12,000 calls) and every other port below
# it. A process holds 4 sockets per call: the script raises the fd limit (soft to hard;
# the hard one too with CAP_SYS_RESOURCE) and runs as many mediad instances (maxproc)
# and RTPEngine daemons (Kamailio's rtpengine_sock set, a slice of the range each) as HELD
# + 10% needs. Run it as root in a private network namespace, so nothing else holds ports:
#   unshare -n sh -c 'ip link set lo up && bench/calls_held.sh'
# Environment: BENCH_INSTANCES (force the instance count), BENCH_SKIP_KAMAILIO=1,
# BENCH_SKIP_SB=1, BENCH_KEEP=1 (keep the work directory and its logs), BENCH_ANCHORS.
set -u
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
top=$(cd "$here/.." && pwd)
ANCHORS=${BENCH_ANCHORS:-$(cd "$top/.." && pwd)/shared/bench-anchors}
HELD=${1:-10000}
HOLD_S=${2:-30}
RUNS=${3:-3}
RATE=${4:-$(((HELD * 12 + HOLD_S * 10 - 1) / (HOLD_S * 10)))}
TOTAL=$((HELD * 3 / 2))
PORT_LO=16000 PORT_HI=63999
WORK=$(mktemp -d /tmp/sb-bench-held.XXXXXX)
chmod 755 "$WORK"
SB="$top/build/bin/switchboard"
K_PID="" R_PIDS="" UAS_PID="" UAC_PID="" SB_UP="" EXTRA_CMD=""
cleanup() {
  [ -n "$UAC_PID" ] && kill "$UAC_PID" 2>/dev/null
  [ -n "$UAS_PID" ] && kill "$UAS_PID" 2>/dev/null
  [ -n "$K_PID" ] && kill "$K_PID" 2>/dev/null
  # shellcheck disable=SC2086
  [ -n "$R_PIDS" ] && kill $R_PIDS 2>/dev/null
  [ -n "$SB_UP" ] && "$SB" -c "$WORK/sb" stop >/dev/null 2>&1
  [ -z "${BENCH_KEEP:-}" ] && rm -rf "$WORK"
}
trap cleanup EXIT
. "$top/tests/confdir.sh" # free_port, make_confdir
# Every SIP, REST and control port (make_confdir's, SIPp's, RTPEngine's ng/cli/http) is
# taken below the media range: RTPEngine's UDP sockets can share a port (one instance's
# media socket was seen bound on another's ng port, which lost its commands to it; Kamailio
# then timed out on that daemon and every call failed).
free_port() {
  local p
  while :; do
    p=$((10000 + RANDOM % (PORT_LO - 10000)))
    [ -z "$(ss -Hlntu "sport = :$p" 2>/dev/null)" ] && { echo "$p"; return; }
  done
}
kv() { echo "$1=$2"; }
csv_field() { awk -F';' -v f="$2" 'NR==1{for(i=1;i<=NF;i++) if($i==f) c=i; next} {v=$c} END{print v+0}' "$1"; }
rss_kb() { local t=0 p; for p in "$@"; do t=$((t + $(awk '/^VmRSS/ { print $2 }' /proc/"$p"/status 2>/dev/null || echo 0))); done; echo "$t"; }
pss_kb() { local t=0 p; for p in "$@"; do t=$((t + $(awk '/^Pss:/ { print $2 }' /proc/"$p"/smaps_rollup 2>/dev/null || echo 0))); done; echo "$t"; }
nfd() { ls /proc/"$1"/fd 2>/dev/null | wc -l; }
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
rcvbuf_errors() { awk '/^Udp:/ { if (!h) { for (i = 1; i <= NF; i++) if ($i == "RcvbufErrors") c = i; h = 1 } else print $c }' /proc/net/snmp; }

# Descriptors: mediad and RTPEngine hold 4 sockets per call. Raise the soft limit to the
# hard one (and the hard one too where we may: CAP_SYS_RESOURCE). A process holds at most
# (limit - 64) / 4 calls, so the script runs as many mediad instances (master.cf maxproc)
# and as many RTPEngine daemons (Kamailio's rtpengine_sock set, one slice of the port range
# each) as HELD + 10% needs: 3 of each with this machine's hard limit of 20,000.
need=$((HELD * 4 + 4096))
[ "$(ulimit -Hn)" != unlimited ] && [ "$(ulimit -Hn)" -lt "$need" ] && ulimit -Hn "$need" 2>/dev/null
ulimit -Sn "$(ulimit -Hn)" 2>/dev/null
FD_LIMIT=$(ulimit -Sn); [ "$FD_LIMIT" = unlimited ] && FD_LIMIT=1048576
PER_INST=$(((FD_LIMIT - 64) / 4))
NINST=${BENCH_INSTANCES:-$(((HELD * 11 / 10 + PER_INST - 1) / PER_INST))}
echo "fd limit: soft $(ulimit -Sn), hard $(ulimit -Hn): $PER_INST calls per process, $NINST mediad / RTPEngine instances; ports $PORT_LO-$PORT_HI"

# callee TARGET: registers user 1000 with a SIPp callee (uas.xml) as its contact and
# starts that callee.
callee() {
  local target=$1
  UPORT=$(free_port)
  (cd "$WORK" && timeout 20 sipp "$target" -sf "$ANCHORS/register-contact.xml" -set user 1000 \
    -set cport "$UPORT" -m 1 -p "$(free_port)" -i 127.0.0.1 -nostdin -timeout 10 \
    -timeout_error >/dev/null 2>&1) || { echo "callee registration failed at $target"; return 1; }
  (cd "$WORK" && exec timeout 600 sipp -sf "$ANCHORS/uas.xml" -p "$UPORT" -i 127.0.0.1 \
    -buff_size 8388608 -nostdin >/dev/null 2>&1) &
  UAS_PID=$!
  sleep 0.3
}
stop_callee() { kill "$UAS_PID" 2>/dev/null; wait "$UAS_PID" 2>/dev/null; UAS_PID=""; }

# held NAME TARGET SESSIONS_CMD PIDS...: one run. SESSIONS_CMD prints the system's own
# count of media sessions. Sets PER_RSS PER_PSS UP FAILED.
held() {
  local name=$1 target=$2 sessions_cmd=$3; shift 3
  local idle_rss idle_pss rcv0 t0 p idle_each=() busy_each=()
  idle_rss=$(rss_kb "$@"); idle_pss=$(pss_kb "$@"); rcv0=$(rcvbuf_errors)
  for p in "$@"; do idle_each+=("$(rss_kb "$p")"); done
  local extra0=""; [ -n "$EXTRA_CMD" ] && extra0=$($EXTRA_CMD)
  rm -f "$WORK"/uac_*.csv
  t0=$SECONDS
  local bound=$((HOLD_S * 2 + TOTAL / RATE + 40))
  (cd "$WORK" && exec timeout $((bound + 20)) sipp "$target" -sf "$ANCHORS/uac.xml" -s 1000 \
    -d $((HOLD_S * 1000)) -m "$TOTAL" -r "$RATE" -l "$HELD" -p "$(free_port)" -i 127.0.0.1 \
    -buff_size 8388608 -timeout "$bound" -nostdin -trace_stat -fd 1 >/dev/null 2>&1) &
  UAC_PID=$!
  # The plateau: SIPp has HELD calls up (CurrentCall counts calls being set up or torn
  # down too, so wait for the system's own session gauge as well).
  local csv="" cur=0 sess=0 rss=() pss=() ups=() s
  while [ $((SECONDS - t0)) -lt $((TOTAL / RATE + HOLD_S)) ]; do
    sleep 1
    [ -z "$csv" ] && csv=$(ls "$WORK"/uac_*_.csv 2>/dev/null | head -n 1)
    [ -n "$csv" ] && cur=$(csv_field "$csv" CurrentCall)
    sess=$($sessions_cmd)
    [ "$cur" -ge $((HELD * 99 / 100)) ] && [ "$sess" -ge $((HELD * 99 / 100)) ] && break
  done
  local reached=$((SECONDS - t0))
  sleep 2
  for s in 1 2 3; do
    rss+=("$(rss_kb "$@")"); pss+=("$(pss_kb "$@")"); ups+=("$($sessions_cmd)")
    [ "$s" -lt 3 ] && sleep 2
  done
  for p in "$@"; do busy_each+=("$(rss_kb "$p")"); done
  local extra1=""; [ -n "$EXTRA_CMD" ] && extra1=$($EXTRA_CMD)
  wait "$UAC_PID"
  UAC_PID=""
  local took=$((SECONDS - t0))
  [ -z "$csv" ] && csv=$(ls "$WORK"/uac_*_.csv 2>/dev/null | head -n 1)
  local ok bad retrans
  ok=$(csv_field "$csv" "SuccessfulCall(C)")
  bad=$(csv_field "$csv" "FailedCall(C)")
  retrans=$(csv_field "$csv" "Retransmissions(C)")
  FAILED=$((TOTAL - ok))
  UP=$(median "${ups[@]}")
  local busy_rss busy_pss
  busy_rss=$(median "${rss[@]}"); busy_pss=$(median "${pss[@]}")
  sleep 3 # BYEs answered, timers run
  local after_rss; after_rss=$(rss_kb "$@")
  PER_RSS=0 PER_PSS=0
  if [ "${UP:-0}" -gt 0 ]; then
    PER_RSS=$(echo "($busy_rss - $idle_rss) / $UP" | bc -l | xargs printf '%.2f')
    PER_PSS=$(echo "($busy_pss - $idle_pss) / $UP" | bc -l | xargs printf '%.2f')
  fi
  printf '%-20s %s calls up at t=%ss (sessions at the samples: %s); RSS %s -> %s kB (%s after), PSS %s -> %s kB\n' \
    "$name" "$UP" "$reached" "${ups[*]}" "$idle_rss" "$busy_rss" "$after_rss" "$idle_pss" "$busy_pss"
  printf '%-20s per call: RSS %s kB, PSS %s kB; %s calls in %ss: %s ok, %s failed (%s unfinished), %s retransmissions, UDP RcvbufErrors +%s\n' \
    "$name" "$PER_RSS" "$PER_PSS" "$TOTAL" "$took" "$ok" "$bad" "$((TOTAL - ok - bad))" "$retrans" \
    "$(($(rcvbuf_errors) - rcv0))"
  local i=0 line="RSS growth by process (kB, last sample):"
  for p in "$@"; do
    line+=" $(tr -d '\0' </proc/"$p"/comm 2>/dev/null || echo "$p")+$((busy_each[i] - idle_each[i]))"
    i=$((i + 1))
  done
  printf '%-20s %s\n' "$name" "$line"
  [ -n "$EXTRA_CMD" ] && printf '%-20s %s: %s -> %s\n' "$name" "$EXTRA_CMD" "$extra0" "$extra1"
}

# --- Switchboard: default master.cf (2 sipd), the wide port range
sb_pids() { "$SB" -c "$WORK/sb" status | awk 'NR > 2 && $3 != "-" && $1 != "apid" { print $3 }'; }
sb_mediad() { "$SB" -c "$WORK/sb" status | awk '$1 == "mediad" && $3 != "-" { print $3 }'; }
nfds() { local t=0 p; for p in "$@"; do t=$((t + $(nfd "$p"))); done; echo "$t"; }
# mediad's gauge media_sessions (apid's /api/v1/stats still says 0 for active_sessions).
sb_sessions() {
  local n; n=$(curl -s --max-time 2 "http://127.0.0.1:$API_PORT/api/v1/processes" |
    jq '[.processes[].counters.media_sessions // 0] | add' 2>/dev/null)
  echo "${n:-0}"
}
sb_extra() {
  local n m; n=$(curl -s --max-time 2 "http://127.0.0.1:$API_PORT/api/v1/processes" |
    jq '[.processes[].counters.calls_active // 0] | add' 2>/dev/null)
  echo "dialogd calls_active=${n:-?} mediad fds=$(nfds $(sb_mediad))"
}
sb_run() {
  rm -rf "$WORK/sb"
  make_confdir "$WORK/sb" "$top/build/bin"
  echo "api_insecure = yes" >>"$WORK/sb/main.cf" # loopback: the bench reads the API without a token
  awk -v n="$NINST" '$1 == "mediad" && NF >= 8 { $7 = n } { print }' "$WORK/sb/master.cf" >"$WORK/sb/master.cf.new" &&
    mv "$WORK/sb/master.cf.new" "$WORK/sb/master.cf"
  sed -i -e 's/^log_level = .*/log_level = warn/' \
    -e "s/^rtp_port_range = .*/rtp_port_range = $PORT_LO-$PORT_HI/" "$WORK/sb/main.cf"
  grep -q '^rtp_port_range' "$WORK/sb/main.cf" || echo "rtp_port_range = $PORT_LO-$PORT_HI" >>"$WORK/sb/main.cf"
  # one SIPp source sends the whole load: the per-source rate limits (sip_pike_*) are off
  printf 'sip_pike_requests = 0\nsip_pike_calls = 0\n' >>"$WORK/sb/main.cf"
  "$SB" -c "$WORK/sb" start || { echo "switchboard did not start"; return 1; }
  SB_UP=1
  sleep 1
  local mp; for mp in $(sb_mediad); do
    echo "mediad $mp: fd limit $(awk '/^Max open files/ { print $4 }' /proc/"$mp"/limits)"
  done
  callee "127.0.0.1:$SIP_PORT" || return 1
  # shellcheck disable=SC2046
  EXTRA_CMD=sb_extra
  held switchboard "127.0.0.1:$SIP_PORT" sb_sessions $(sb_pids)
  EXTRA_CMD=""
  stop_callee
  "$SB" -c "$WORK/sb" stop >/dev/null
  SB_UP=""
}

# --- Kamailio + RTPEngine: the anchors' configs; NINST RTPEngine daemons, each on its own
# slice of the same port range, in Kamailio's rtpengine_sock set
k_sessions() { echo $((($(nfds $R_PIDS) - R_FD0) / 4)); }
k_extra() {
  echo "kamailio shm real_used=$(kamcmd -s "unix:$KDIR/ctl" core.shmmem 2>/dev/null |
    awk '/real_used/ { print $2 }') rtpengine RSS=$(rss_kb $R_PIDS) kB"
}
k_run() {
  KDIR=$WORK/kamailio; rm -rf "$KDIR"; mkdir -p "$KDIR"
  local kport i socks="" lo hi slice ngport
  kport=$(free_port)
  slice=$((((PORT_HI + 1 - PORT_LO) / NINST) & ~1))
  R_PIDS=""
  for i in $(seq 0 $((NINST - 1))); do
    ngport=$(free_port); lo=$((PORT_LO + i * slice)); hi=$((lo + slice - 1))
    rtpengine --table=-1 --interface=127.0.0.1 --listen-ng=127.0.0.1:$ngport \
      --listen-cli=127.0.0.1:$(free_port) --listen-http=127.0.0.1:$(free_port) --port-min=$lo \
      --port-max=$hi --pidfile="$KDIR/rtp$i.pid" --num-threads=2 --delete-delay=0 \
      --log-level=${BENCH_RTP_LOG:-3} --log-stderr >"$KDIR/rtp$i.log" 2>&1
    for _ in $(seq 1 100); do [ -s "$KDIR/rtp$i.pid" ] && break; sleep 0.05; done
    R_PIDS="$R_PIDS $(cat "$KDIR/rtp$i.pid" 2>/dev/null)"
    socks="$socks udp:127.0.0.1:$ngport"
  done
  R_PIDS=${R_PIDS# }
  socks=${socks# }
  sed -e "s/^listen=udp:127.0.0.1:5070/listen=udp:127.0.0.1:$kport/" \
      -e "s|\"udp:127.0.0.1:2223\"|\"$socks\"|" \
      -e "s|unix:/tmp/kamailio-anchor-ctl|unix:$KDIR/ctl|" "$ANCHORS/kamailio.cfg" >"$KDIR/kamailio.cfg"
  kamailio -f "$KDIR/kamailio.cfg" -P "$KDIR/pid" -m 1024 -M 32 -n 4 -E -A WITH_RTPENGINE \
    >"$KDIR/log" 2>&1
  for _ in $(seq 1 100); do [ -s "$KDIR/pid" ] && break; sleep 0.05; done
  K_PID=$(cat "$KDIR/pid" 2>/dev/null)
  sleep 1
  local rp; for rp in $R_PIDS; do
    echo "rtpengine $rp: fd limit $(awk '/^Max open files/ { print $4 }' /proc/"$rp"/limits)"
  done
  callee "127.0.0.1:$kport" || return 1
  R_FD0=$(nfds $R_PIDS)
  local kpids; kpids="$K_PID $(pgrep -P "$K_PID" | tr '\n' ' ')"
  # Kamailio's shm is preallocated (-m 1024): its RSS grows only as pages are first
  # touched; the bytes in use come from core.shmmem.
  EXTRA_CMD=k_extra
  # shellcheck disable=SC2086
  held kamailio_rtpengine "127.0.0.1:$kport" k_sessions $kpids $R_PIDS
  EXTRA_CMD=""
  stop_callee
  # shellcheck disable=SC2086
  kill "$K_PID" $R_PIDS 2>/dev/null
  for _ in $(seq 1 100); do
    local alive=""; for rp in $K_PID $R_PIDS; do kill -0 "$rp" 2>/dev/null && alive=1; done
    [ -z "$alive" ] && break; sleep 0.05
  done
  K_PID="" R_PIDS=""
}

echo "== $HELD calls held, $HOLD_S s each, SIPp at $RATE/s capped at $HELD (-l), $TOTAL calls a run, $RUNS runs"
SB_R=() SB_P=() SB_F=() SB_U=() K_R=() K_P=() K_F=() K_U=()
have_k=""
command -v kamailio >/dev/null && command -v rtpengine >/dev/null && [ -z "${BENCH_SKIP_KAMAILIO:-}" ] && have_k=1
for run in $(seq 1 "$RUNS"); do
  echo "-- run $run"
  if [ -z "${BENCH_SKIP_SB:-}" ]; then
    sb_run || exit 1
    SB_R+=("$PER_RSS") SB_P+=("$PER_PSS") SB_F+=("$FAILED") SB_U+=("$UP")
  fi
  if [ -n "$have_k" ]; then
    k_run || exit 1
    K_R+=("$PER_RSS") K_P+=("$PER_PSS") K_F+=("$FAILED") K_U+=("$UP")
  fi
done
echo "# BEGIN calls_held"
kv held_target "$HELD"; kv hold_s "$HOLD_S"; kv runs "$RUNS"
kv switchboard_kb_per_call_rss "$(median "${SB_R[@]}")"
kv switchboard_kb_per_call_pss "$(median "${SB_P[@]}")"
kv switchboard_sessions_up "$(median "${SB_U[@]}")"
kv switchboard_failed "$(median "${SB_F[@]}") (runs: ${SB_F[*]})"
if [ -n "$have_k" ]; then
  kv anchor_kb_per_call_rss "$(median "${K_R[@]}")"
  kv anchor_kb_per_call_pss "$(median "${K_P[@]}")"
  kv anchor_sessions_up "$(median "${K_U[@]}")"
  kv anchor_failed "$(median "${K_F[@]}") (runs: ${K_F[*]})"
  if [ -z "${BENCH_SKIP_SB:-}" ] && [ "$(median "${K_R[@]}")" != 0 ]; then
    kv rss_ratio_sb_over_anchor "$(echo "$(median "${SB_R[@]}") / $(median "${K_R[@]}")" | bc -l | xargs printf '%.2f')"
    kv pss_ratio_sb_over_anchor "$(echo "$(median "${SB_P[@]}") / $(median "${K_P[@]}")" | bc -l | xargs printf '%.2f')"
  fi
fi
echo "# END calls_held"
exit 0
