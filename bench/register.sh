#!/usr/bin/env bash
# REGISTER throughput and latency: Switchboard (2 sipd, routerd, bindings in Redis)
# beside Kamailio's in-memory registrar (the anchor), in the same run, loopback only.
#   bench/register.sh [RATES] [SECONDS]     default "4000 8000 12000 16000 20000 24000 28000" 4
# For each system: a SIPp rate ladder (achieved/s, failed), the ceiling = the highest rate
# offered with < 0.1% failed and the most REGISTERs/s achieved at such a step (the figure
# that counts), latency p50/p99 at 80% of that achieved rate (SIPp response-time trace,
# in whole milliseconds),
# and CPU per 1,000 REGISTERs in each process (from /proc/PID/task/*/schedstat).
# BENCH_TLS=1: Switchboard's ladder is also run over TLS and over TCP, each on one
# connection (SIPp -t t1, so one sipd serves it), at BENCH_STREAM_RATES; Debian's SIPp
# has no TLS, so for TLS SIPp talks TCP to stunnel in client mode, which holds the TLS
# connection to sip_listen_tls (a self-signed certificate made here); stunnel's cost is
# in the TLS throughput.
set -u
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
top=$(cd "$here/.." && pwd)
ANCHORS=${BENCH_ANCHORS:-$(cd "$top/.." && pwd)/shared/bench-anchors}
RATES=${1:-"4000 8000 12000 16000 20000 24000 28000"}
# BENCH_NAT=1: phones behind NAT (a private Contact that is not the source), and the
# anchor is Kamailio with nathelper (bench/kamailio-nat.cfg) instead of the plain one.
NAT=${BENCH_NAT:-0}
# BENCH_AUTH=1: every REGISTER is challenged and answered with MD5 digest credentials
# (SIPp 3.6 knows no SHA-256) by AUTH_USERS users taken in turn; Switchboard with
# sip_auth = yes (sip_auth_algorithms = MD5), the anchor Kamailio with auth_db
# (bench/kamailio-auth.cfg). An achieved "REGISTER/s" is then a registration (two
# REGISTERs and their answers) per second.
AUTH=${BENCH_AUTH:-0}
AUTH_USERS=${AUTH_USERS:-1000}
SCEN=register_rtt
KCFG=$ANCHORS/kamailio.cfg
INF=()
if [ "$NAT" = 1 ]; then SCEN=register_nat_rtt; KCFG=$here/kamailio-nat.cfg; fi
if [ "$AUTH" = 1 ]; then SCEN=register_auth_rtt; KCFG=$here/kamailio-auth.cfg; fi
SECS=${2:-4}
TLS=${BENCH_TLS:-0}
SIPP_T=u1 # SIPp transport of the ladder and latency runs
ST_PID=""
WORK=$(mktemp -d /tmp/sb-bench-reg.XXXXXX)
SB="$top/build/bin/switchboard"
K_PID=""
cleanup() {
  [ -n "$K_PID" ] && kill "$K_PID" 2>/dev/null
  [ -n "$ST_PID" ] && kill "$ST_PID" 2>/dev/null
  [ -d "$WORK/sb" ] && "$SB" -c "$WORK/sb" stop >/dev/null 2>&1
  rm -rf "$WORK"
}
trap cleanup EXIT
if [ "$AUTH" = 1 ]; then
  { echo SEQUENTIAL; for i in $(seq 1 "$AUTH_USERS"); do echo "b$i;[authentication username=b$i password=secret]"; done; } >"$WORK/users.inf"
  INF=(-inf "$WORK/users.inf")
fi
. "$top/tests/confdir.sh" # free_port, make_confdir
kv() { echo "$1=$2"; }
cpu_ns() { # total on-CPU ns of the processes given
  local t=0 p f
  for p in "$@"; do
    for f in /proc/"$p"/task/*/schedstat; do
      [ -r "$f" ] && t=$((t + $(cut -d' ' -f1 "$f")))
    done
  done
  echo "$t"
}

# ladder NAME TARGET: one line per rate; sets CEIL (highest offered rate with < 0.1% failed)
# and CEIL_ACH (the most REGISTERs/s achieved at a step with < 0.1% failed: SIPp sends
# slower than offered when the server or SIPp itself cannot keep up, so what a step
# achieved, not what it offered, is the throughput).
ladder() {
  local name=$1 target=$2 r n ok bad t0 t1 csv
  CEIL=0 CEIL_ACH=0
  for r in $RATES; do
    n=$((r * SECS))
    rm -f "$WORK"/*.csv
    t0=$(date +%s.%N)
    (cd "$WORK" && timeout $((SECS * 4 + 30)) sipp "$target" -sf "$here/sipp/$SCEN.xml" "${INF[@]}" \
      -m "$n" -r "$r" -l $((r * 2)) -p "$(free_port)" -i 127.0.0.1 -buff_size 4194304 -t "$SIPP_T" \
      -timeout $((SECS * 3 + 20)) -nostdin -trace_stat -fd 1 >/dev/null 2>&1)
    t1=$(date +%s.%N)
    csv=$(ls "$WORK"/${SCEN}_*_.csv 2>/dev/null | head -n 1)
    ok=$(awk -F';' 'NR==1{for(i=1;i<=NF;i++) if($i=="SuccessfulCall(C)") c=i; next} {v=$c} END{print v+0}' "$csv")
    bad=$(awk -F';' 'NR==1{for(i=1;i<=NF;i++) if($i=="FailedCall(C)") c=i; next} {v=$c} END{print v+0}' "$csv")
    ach=$(echo "$ok / ($t1 - $t0)" | bc -l | xargs printf '%.0f')
    printf '%-11s rate=%-6s offered=%-7s ok=%-7s failed=%-6s achieved/s=%s\n' "$name" "$r" "$n" "$ok" "$bad" "$ach"
    if [ "$ok" -gt 0 ] && [ $((bad * 1000)) -lt "$n" ] && [ "$ok" -ge $((n * 999 / 1000)) ]; then
      CEIL=$r
      [ "$ach" -gt "$CEIL_ACH" ] && CEIL_ACH=$ach
    else
      break
    fi
  done
}

# latency NAME TARGET RATE PIDS...: p50/p99 ms at RATE and CPU ms per 1,000 per process.
latency() {
  local name=$1 target=$2 r=$3; shift 3
  local n=$((r * SECS)) before after
  declare -A b
  for p in "$@"; do b[$p]=$(cpu_ns ${p#*:}); done
  rm -f "$WORK"/*.csv
  (cd "$WORK" && timeout $((SECS * 4 + 30)) sipp "$target" -sf "$here/sipp/$SCEN.xml" "${INF[@]}" \
    -m "$n" -r "$r" -l $((r * 2)) -p "$(free_port)" -i 127.0.0.1 -buff_size 4194304 -t "$SIPP_T" \
    -timeout $((SECS * 3 + 20)) -nostdin -trace_rtt -rtt_freq 1 >/dev/null 2>&1)
  local rtt; rtt=$(ls "$WORK"/${SCEN}_*_rtt.csv 2>/dev/null | head -n 1)
  # SIPp 3.6 rtt csv: Date_ms;response_time_ms;rtd_no (whole milliseconds)
  awk -F';' 'NR > 1 && $2 != "" { print $2 }' "$rtt" | sort -g >"$WORK/rtt.sorted"
  local cnt; cnt=$(wc -l <"$WORK/rtt.sorted")
  local p50 p99
  p50=$(awk -v n="$cnt" 'NR == int(n * 0.50) + 1 { print; exit }' "$WORK/rtt.sorted")
  p99=$(awk -v n="$cnt" 'NR == int(n * 0.99) + 1 { print; exit }' "$WORK/rtt.sorted")
  echo "$name at $r/s: $cnt responses, p50 ${p50:-?} ms, p99 ${p99:-?} ms"
  kv "${name}_p50_ms" "${p50:-?}"; kv "${name}_p99_ms" "${p99:-?}"
  for p in "$@"; do
    after=$(cpu_ns ${p#*:})
    local per; per=$(echo "($after - ${b[$p]}) / 1000000 / ($cnt / 1000)" | bc -l 2>/dev/null | xargs printf '%.1f' 2>/dev/null)
    echo "  ${p%%:*}: ${per:-?} CPU-ms per 1,000 REGISTERs"
    kv "${name}_cpu_ms_per_1000_${p%%:*}" "${per:-?}"
  done
}

# --- Switchboard: default master.cf (2 sipd), private CONFDIR on free ports
chmod 755 "$WORK"
make_confdir "$WORK/sb" "$top/build/bin"
# one SIPp source sends the whole load: the per-source rate limits (sip_pike_*) are off;
# every run binds u1, u2... again from a new port (one more binding per AOR per run): no
# cap on bindings per AOR (register_max_contacts), or the later runs get 503s
printf 'sip_pike_requests = 0\nsip_pike_calls = 0\nregister_max_contacts = 0\n' >>"$WORK/sb/main.cf"
sed -i 's/^log_level = .*/log_level = warn/' "$WORK/sb/main.cf"
if [ "$TLS" = 1 ]; then
  TLS_PORT=$(free_port)
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
    -subj /CN=bench -addext subjectAltName=IP:127.0.0.1 -keyout "$WORK/sb/tls.key" \
    -out "$WORK/sb/tls.pem" 2>/dev/null
  printf 'sip_listen_tls = 127.0.0.1:%s\nsip_tls_cert = %s\nsip_tls_key = %s\n' "$TLS_PORT" \
    "$WORK/sb/tls.pem" "$WORK/sb/tls.key" >>"$WORK/sb/main.cf"
fi
if [ "$AUTH" = 1 ]; then
  sed -i 's/^sip_auth = .*/sip_auth = yes/' "$WORK/sb/main.cf"
  printf 'sip_auth_algorithms = MD5\nsip_auth_ban_failures = 0\n' >>"$WORK/sb/main.cf"
fi
"$SB" -c "$WORK/sb" start || { echo "switchboard did not start"; exit 1; }
if [ "$AUTH" = 1 ]; then
  for i in $(seq 1 "$AUTH_USERS"); do "$SB" -c "$WORK/sb" user add "b$i" secret >/dev/null; done
fi
sleep 1
sb_pids() { # pids: NAME:PID of sipd, routerd and redis
  pids=()
  while read -r svc inst pid _; do
    [ "$pid" = - ] && continue
    case $svc in sipd|routerd|redis) pids+=("$svc$inst:$pid") ;; esac
  done < <("$SB" -c "$WORK/sb" status | awk 'NR > 2')
}
sb_pids
echo "== Switchboard ($(echo "${pids[@]}"))"
ladder switchboard "127.0.0.1:$SIP_PORT"
SB_CEIL=$CEIL
kv switchboard_ceiling "$SB_CEIL"
kv switchboard_ceiling_achieved "$CEIL_ACH"
SB_ACH=$CEIL_ACH
[ "$SB_ACH" -gt 0 ] && latency switchboard "127.0.0.1:$SIP_PORT" $((SB_ACH * 8 / 10)) "${pids[@]}"
if [ "$TLS" = 1 ]; then
  SIPP_T=t1 UDP_RATES=$RATES RATES=${BENCH_STREAM_RATES:-"1000 2000 4000 6000 8000 10000 12000"}
  ST_PORT=$(free_port)
  printf 'foreground = yes\npid =\n[sip]\nclient = yes\naccept = 127.0.0.1:%s\nconnect = 127.0.0.1:%s\nCAfile = %s\nverifyChain = yes\ncheckIP = 127.0.0.1\n' \
    "$ST_PORT" "$TLS_PORT" "$WORK/sb/tls.pem" >"$WORK/stunnel.conf"
  stunnel4 "$WORK/stunnel.conf" >"$WORK/stunnel.log" 2>&1 &
  ST_PID=$!
  for _ in $(seq 1 100); do [ -n "$(ss -Hlnt "sport = :$ST_PORT")" ] && break; sleep 0.05; done
  echo "== Switchboard over TLS (one connection, SIPp -> stunnel -> sip_listen_tls)"
  ladder switchboard_tls "127.0.0.1:$ST_PORT"
  kv switchboard_tls_ceiling_achieved "$CEIL_ACH"
  [ "$CEIL_ACH" -gt 0 ] && latency switchboard_tls "127.0.0.1:$ST_PORT" $((CEIL_ACH * 8 / 10)) "${pids[@]}"
  kill "$ST_PID"; ST_PID=""
  echo "== Switchboard over TCP (one connection)"
  ladder switchboard_tcp "127.0.0.1:$SIP_PORT"
  kv switchboard_tcp_ceiling_achieved "$CEIL_ACH"
  [ "$CEIL_ACH" -gt 0 ] && latency switchboard_tcp "127.0.0.1:$SIP_PORT" $((CEIL_ACH * 8 / 10)) "${pids[@]}"
  SIPP_T=u1 RATES=$UDP_RATES
fi
"$SB" -c "$WORK/sb" stop >/dev/null

# --- Kamailio: the anchor's config (usrloc in memory), -m 1024 -n 4 as its README says
if command -v kamailio >/dev/null && [ -r "$KCFG" ]; then
  KDIR=$WORK/kamailio; mkdir -p "$KDIR"; kport=$(free_port)
  sed -e "s/^listen=udp:127.0.0.1:5070/listen=udp:127.0.0.1:$kport/" \
      -e "s|unix:/tmp/kamailio-anchor-ctl|unix:$KDIR/ctl|" \
      -e "s|text:///tmp/kamailio-auth-db|text://$KDIR/db|" "$KCFG" >"$KDIR/kamailio.cfg"
  if [ "$AUTH" = 1 ]; then # the subscriber table of bench/kamailio-auth.cfg
    mkdir -p "$KDIR/db"
    printf 'table_name(str) table_version(int)\nsubscriber:7\nlocation:9\n' >"$KDIR/db/version"
    { echo 'id(int,auto) username(str) domain(str) password(str) ha1(str,null) ha1b(str,null)'
      for i in $(seq 1 "$AUTH_USERS"); do echo "$i:b$i:127.0.0.1:secret::"; done; } >"$KDIR/db/subscriber"
  fi
  kamailio -f "$KDIR/kamailio.cfg" -P "$KDIR/pid" -m 1024 -M 32 -n 4 -E >"$KDIR/log" 2>&1
  for _ in $(seq 1 100); do [ -s "$KDIR/pid" ] && break; sleep 0.05; done
  K_PID=$(cat "$KDIR/pid" 2>/dev/null)
  sleep 1
  kp=("kamailio:$K_PID")
  for c in $(pgrep -P "$K_PID"); do kp+=("kamailio:$c"); done
  echo "== Kamailio (pid $K_PID, udp 127.0.0.1:$kport)"
  ladder kamailio "127.0.0.1:$kport"
  K_CEIL=$CEIL
  kv kamailio_ceiling "$K_CEIL"
  kv kamailio_ceiling_achieved "$CEIL_ACH"
  K_ACH=$CEIL_ACH
  [ "$K_ACH" -gt 0 ] && latency kamailio "127.0.0.1:$kport" $((K_ACH * 8 / 10)) "kamailio:$(echo "${kp[@]#kamailio:}" | tr ' ' ' ')"
  kill "$K_PID"; K_PID=""
  [ "$K_CEIL" -gt 0 ] && kv ceiling_ratio_sb_over_kamailio "$(echo "$SB_CEIL / $K_CEIL" | bc -l | xargs printf '%.2f')"
  [ "$K_ACH" -gt 0 ] && kv achieved_ratio_sb_over_kamailio "$(echo "$SB_ACH / $K_ACH" | bc -l | xargs printf '%.2f')"
else
  echo "kamailio not installed: no anchor figures"
fi
