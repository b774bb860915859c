# Helpers for integration tests: a private CONFDIR on free loopback ports, the real
# binaries ($SB_BIN), assertions printing TAP lines, and cleanup of what we started (by
# PID, from our own pid file) even when a test fails.
set -u
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
SB_BIN=${SB_BIN:-$top/build/bin}
SB_TOOLS=${SB_TOOLS:-$top/build/tests}
SB_OUT=${SB_OUT:-$top/tests/out/manual}
mkdir -p "$SB_OUT"
chmod 755 "$SB_OUT"
T_FAILS=0

ok() { echo "ok - $*"; }
not_ok() { echo "not ok - $*"; T_FAILS=$((T_FAILS + 1)); }
# check DESCRIPTION COMMAND...: ok when the command succeeds.
check() { local d=$1; shift; if "$@"; then ok "$d"; else not_ok "$d"; fi; }
# check_eq DESCRIPTION EXPECTED ACTUAL
check_eq() {
  if [ "$2" = "$3" ]; then ok "$1"; else not_ok "$1 (expected '$2', got '$3')"; fi
}
diag() { echo "# $*"; }

. "$top/tests/confdir.sh"

# new_confdir NAME: a CONFDIR under $SB_OUT made from conf/ on free ports (confdir.sh); sets
# CONF, SIP_PORT, API_PORT, LOG, and cleans up the cluster at exit.
new_confdir() {
  CONF=$SB_OUT/$1
  rm -rf "$CONF"
  make_confdir "$CONF" "$SB_BIN"
  LOG=$CONF/run/switchboard.log
  trap cleanup EXIT
}

# set_param NAME VALUE: replace or add a main.cf parameter.
set_param() {
  if grep -q "^$1 =" "$CONF/main.cf"; then
    sed -i "s|^$1 = .*|$1 = $2|" "$CONF/main.cf"
  else
    echo "$1 = $2" >>"$CONF/main.cf"
  fi
}

# set_maxproc SERVICE N
set_maxproc() {
  awk -v s="$1" -v n="$2" '$1 == s && NF >= 8 { $7 = n } { print }' "$CONF/master.cf" \
    >"$CONF/master.cf.new" && mv "$CONF/master.cf.new" "$CONF/master.cf"
}

sb() { "$SB_BIN/switchboard" -c "$CONF" "$@"; }
master_pid() { cat "$CONF/run/master.pid" 2>/dev/null; }

# status_field SERVICE INSTANCE COLUMN(3 pid, 4 state, 5 uptime, 6 restarts)
status_field() { sb status | awk -v s="$1" -v i="$2" -v c="$3" '$1 == s && $2 == i { print $c }'; }
status_count() { sb status | awk -v s="$1" '$1 == s && $4 == "ready"' | wc -l; }

# wait_until SECONDS 'SHELL CODE': evaluates the code every 50 ms until it succeeds
# (single-quote it, so $(...) in it runs at every try, not once).
wait_until() {
  local limit=$1 i=0; shift
  while [ $i -lt $((limit * 20)) ]; do
    eval "$*" && return 0
    sleep 0.05
    i=$((i + 1))
  done
  return 1
}

all_ready() { [ "$(sb status 2>/dev/null | awk 'NR > 2 && $4 != "ready"' | wc -l)" = 0 ] &&
  [ "$(sb status 2>/dev/null | awk 'NR > 2' | wc -l)" -gt 0 ]; }

# api_token: the bearer token apid requires: main.cf api_token when set, else the one master
# wrote at its first start into api_token_file (mode 0600: the tests run as root).
api_token() {
  local t; t=$(sed -n 's/^api_token = //p' "$CONF/main.cf" | tail -n 1)
  if [ -n "$t" ]; then echo "$t"; else cat "$CONF/api.token" 2>/dev/null; fi
}
# acurl CURL-ARGS...: curl sending the bearer token.
acurl() { curl -H "Authorization: Bearer $(api_token)" "$@"; }
api() { acurl -s --max-time 5 "http://127.0.0.1:$API_PORT$1"; }
api_code() { acurl -s -o /dev/null -w '%{http_code}' --max-time 5 "http://127.0.0.1:$API_PORT$1"; }

# Every process of the cluster started from CONF (master and its children).
cluster_pids() {
  local m; m=$(master_pid)
  [ -n "$m" ] || return 0
  echo "$m"
  pgrep -P "$m"
}

cleanup() {
  local m; m=$(master_pid)
  if [ -n "${m:-}" ] && kill -0 "$m" 2>/dev/null; then
    local kids; kids=$(pgrep -P "$m")
    kill "$m" 2>/dev/null
    for _ in $(seq 1 100); do kill -0 "$m" 2>/dev/null || break; sleep 0.05; done
    kill -9 "$m" $kids 2>/dev/null
  fi
  for p in ${EXTRA_PIDS:-}; do kill "$p" 2>/dev/null; done
  return 0
}

finish() {
  [ "$T_FAILS" -eq 0 ] || diag "log: ${LOG:-none}"
  [ "$T_FAILS" -eq 0 ]
  exit $?
}

# wait_sip_ready: every sipd is connected to every routerd and dialogd and to the other
# sipd, and every Redis user has its link up: a request sent now is served.
sip_ready() {
  local p; p=$(api /api/v1/processes) || return 1
  [ "$(jq '
    ([.processes[] | select(.role=="sipd")] | length) as $s |
    ([.processes[] | select(.role=="routerd" or .role=="dialogd")] | length) as $peers |
    ([.processes[] | select(.role=="sipd") | .counters.ipc_peers] | min) >= ($peers + $s - 1)
    and ([.processes[] | select(.role=="routerd" or .role=="dialogd" or .role=="apid")
          | .counters.redis_up] | min) == 1' <<<"$p")" = true ]
}
wait_sip_ready() { wait_until 10 sip_ready || diag "cluster not SIP-ready after 10 s"; }

# sipp_run NAME SCENARIO [SIPP ARGS...]: one SIPp run against our SIP port; the messages
# it sent and received go to $SB_OUT/NAME.msg (SIPP_MSG), its exit status is returned.
sipp_run() {
  local name=$1 scen=$2; shift 2
  SIPP_MSG=$SB_OUT/$name.msg
  rm -f "$SIPP_MSG"
  timeout 60 sipp -sf "$top/tests/sipp/$scen" -i 127.0.0.1 -p "$(free_port)" -m 1 \
    -timeout 15s -timeout_error -nostdin -trace_msg -message_file "$SIPP_MSG" \
    -trace_err -error_file "$SB_OUT/$name.err" "$@" "127.0.0.1:$SIP_PORT" >"$SB_OUT/$name.out" 2>&1
}
# The start lines of the responses SIPp received ("SIP/2.0 200 OK"), in order.
sipp_responses() {
  tr -d '\r' <"$SIPP_MSG" | awk '/message received/ { want = 1; next } want && NF { print; want = 0 }'
}
# The last message SIPp received, whole.
sipp_last_response() {
  tr -d '\r' <"$SIPP_MSG" |
    awk '/^-+ [0-9]/ { next } /message received/ { buf = ""; keep = 1; next }
         /message sent/ { keep = 0 } keep { buf = buf $0 "\n" } END { printf "%s", buf }'
}

# ---- SIPp calls (calls.sh, session_timers.sh, api tests) ----
# callee NAME SCENARIO PORT [ARGS]: a SIPp callee in the background on PORT.
callee() {
  local name=$1 scen=$2 port=$3; shift 3
  rm -f "$SB_OUT/$name.msg"
  timeout 40 sipp -sf "$top/tests/sipp/$scen" -i 127.0.0.1 -p "$port" -m 1 -timeout 20s \
    -timeout_error -nostdin -trace_msg -message_file "$SB_OUT/$name.msg" -trace_err \
    -error_file "$SB_OUT/$name.err" "$@" "127.0.0.1:$SIP_PORT" >"$SB_OUT/$name.out" 2>&1 &
  CALLEE_PID=$!
}
register() { # USER PORT: binds sip:USER@example.com to the callee on PORT
  sipp_run "reg-$1" register.xml -cid_str "reg-$1-%u" -key user "$1" -key seq 1 \
    -key contacts "<sip:$1@127.0.0.1:$2>" -key expires_header "Expires: 600"
}
# msgs FILE DIR: the start lines of the messages SIPp sent or received, in order.
msgs() {
  tr -d '\r' <"$SB_OUT/$1.msg" | awk -v d="message $2" 'index($0, d) { want = 1; next }
    want && NF { print; want = 0 }' | awk '{ print ($1 ~ /^SIP/) ? $2 : $1 }' | tr '\n' ' ' | sed 's/ $//'
}
# hdr FILE N NAME: header NAME of the N-th message SIPp received.
hdr() {
  tr -d '\r' <"$SB_OUT/$1.msg" | awk -v n="$2" -v h="$3" '
    /message received/ { k++; inmsg = (k == n); next } /message sent/ { inmsg = 0 }
    inmsg && tolower($0) ~ "^" tolower(h) ":" { sub(/^[^:]*: */, ""); print; exit }'
}
wait_pid() { local i; for i in $(seq 1 200); do kill -0 "$1" 2>/dev/null || { wait "$1"; return; }; sleep 0.1; done; return 1; }
counter() { # ROLE NAME: the sum of a counter over the role's processes
  api /api/v1/processes | jq "[.processes[] | select(.role==\"$1\") | .counters.$2] | add"
}
media_of() { # NAME [sent]: ip:port of the audio line of the last SDP SIPp received (or sent)
  tr -d '\r' <"$SB_OUT/$1.msg" | awk -v d="message ${2:-received}" '
    /message (received|sent)/ { mine = index($0, d) > 0; next }
    mine && /^c=IN IP4/ { ip = $3 } mine && /^m=audio/ { port = $2 } END { print ip ":" port }'
}
rtp_field() { awk -v k="$2" '$1 == k { print $2 }' "$SB_OUT/$1"; }
# nth_body NAME N: the body of the N-th message SIPp received (after the blank line)
nth_body() {
  tr -d '\r' <"$SB_OUT/$1.msg" | awk -v n="$2" '
    /message received/ { k++; rx = 1; hdr = 1; seen = 0; next } /message sent/ { rx = 0; next }
    /^-----/ { rx = 0; next } rx && k == n && !hdr && NF { print }
    rx && k == n && NF { seen = 1 } rx && k == n && seen && $0 == "" { hdr = 0 }'
}
