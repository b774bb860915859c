#!/usr/bin/env bash
# start brings every service up with its maxproc; status, the REST API and ps agree;
# a second start is refused; stop leaves no process, socket, pid file or shm segment.
. "$(dirname "$0")/lib.sh"
new_confdir lifecycle

out=$(sb start 2>&1); rc=$?
check_eq "start succeeds ($out)" 0 "$rc"
m=$(master_pid)
check "master runs" kill -0 "$m"

for svc in $(awk '!/^#/ && NF >= 8 && !/^[ \t]/ { print $1 }' "$CONF/master.cf"); do
  want=$(awk -v s="$svc" '$1 == s { print $7 }' "$CONF/master.cf")
  check_eq "status shows $want ready $svc" "$want" "$(status_count "$svc")"
done

status_pids=$(sb status | awk 'NR > 2 { print $3 }' | sort -n | tr '\n' ' ')
ps_pids=$(pgrep -P "$m" | sort -n | tr '\n' ' ')
check_eq "status lists exactly master's children (ps)" "$ps_pids" "$status_pids"
api_pids=$(api /api/v1/processes | jq -r '.processes[].pid' | sort -n | tr '\n' ' ')
check_eq "/api/v1/processes lists the same pids" "$ps_pids" "$api_pids"
check_eq "/api/v1/processes names master's pid" "$m" "$(api /api/v1/processes | jq -r .master.pid)"
for pid in $ps_pids; do
  svc=$(sb status | awk -v p="$pid" '$3 == p { print $1 }')
  comm=$(cat /proc/"$pid"/comm)
  case $svc in
    redis) check_eq "pid $pid runs redis-server" redis-server "$comm" ;;
    *) check_eq "pid $pid runs the $svc program" "$svc" "$comm" ;;
  esac
done

health_ok() { [ "$(api /api/v1/health | jq -r .status)" = ok ]; }
check "health turns ok once the Redis links are up" wait_until 5 health_ok

out=$(sb start 2>&1); rc=$?
check "a second start is refused ($out)" [ "$rc" = 1 ] && grep -q "already runs" <<<"$out"
check_eq "the running master is untouched" "$m" "$(master_pid)"
out=$("$SB_BIN/master" -c "$CONF" -f 2>&1); rc=$?
check "a second master in the foreground is refused too ($out)" \
  [ "$rc" = 1 ] && grep -q "already runs" <<<"$out"

shm=$(grep -o '/dev/shm/switchboard-[0-9a-f]*' /proc/"$m"/maps | head -n 1)
check "master maps its shm segment ($shm)" [ -e "$shm" ]
check "private/ holds the IPC sockets" [ -S "$CONF/run/private/routerd.0" ]
check_eq "each sipd instance has its own UDP socket on the SIP port (SO_REUSEPORT)" \
  "$(status_count sipd)" "$(ss -Hlun "sport = :$SIP_PORT" | wc -l)"
check_eq "one TCP listener on the SIP port, shared" 1 "$(ss -Hltn "sport = :$SIP_PORT" | wc -l)"

out=$(sb stop 2>&1); rc=$?
check_eq "stop succeeds ($out)" 0 "$rc"
left=""
for pid in $m $ps_pids; do kill -0 "$pid" 2>/dev/null && left="$left $pid"; done
check_eq "no process is left" "" "$left"
check_eq "no socket is left" "" "$(find "$CONF/run" -type s)"
check "no pid file is left" [ ! -e "$CONF/run/master.pid" ]
check "no shm segment is left" [ ! -e "$shm" ]
out=$(sb status 2>&1); rc=$?
check "status says not running (exit 3)" [ "$rc" = 3 ] && grep -q "not running" <<<"$out"

out=$(sb start 2>&1); rc=$?
check_eq "it starts again after a stop" 0 "$rc"

# master killed outright: no process outlives it, and the next start cleans up after it.
m=$(master_pid)
kids=$(pgrep -P "$m" | tr '\n' ' ')
kill -9 "$m"
orphans() { local p; for p in $kids; do kill -0 "$p" 2>/dev/null && return 1; done; return 0; }
check "every child (workers and redis-server) exits when master is killed" wait_until 5 orphans
out=$(sb start 2>&1); rc=$?
check_eq "start after a killed master succeeds (stale pid file, sockets, shm replaced)" 0 "$rc"
check "health is ok again" wait_until 5 health_ok
sb stop >/dev/null

# Ready means ready to serve: a REGISTER and an INVITE sent the instant start returns are
# routed (sipd reaches routerd and dialogd, routerd has Redis and its dialplan), never
# answered 503. A few starts, since a race shows only sometimes.
raw_sip() { # METHOD USER CALL-ID [CONTACT-PORT [VIA-PORT]]: a request with rport, so the
  # answer comes to our socket; a REGISTER binds the user to 127.0.0.1:CONTACT-PORT and names
  # the port it is sent from (VIA-PORT), as a phone not behind NAT does
  local extra=""
  [ "$1" = REGISTER ] && extra=$'Contact: <sip:'"$2"'@127.0.0.1:'"${4:-5999}"$'>\r\nExpires: 60\r\n'
  local ruri="sip:$2@example.com"
  [ "$1" = REGISTER ] && ruri=sip:example.com
  printf '%s %s SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:%s;branch=z9hG4bK-%s;rport\r\nMax-Forwards: 70\r\nFrom: <sip:%s@example.com>;tag=t%s\r\nTo: <sip:%s@example.com>\r\nCall-ID: %s\r\nCSeq: 1 %s\r\n%sContent-Length: 0\r\n\r\n' \
    "$1" "$ruri" "${5:-5999}" "$3" "$2" "$3" "$2" "$3" "$1" "$extra"
}
final_code() { grep '^<<< ' | awk '$3 !~ /^1/ { c = $3 } END { print c }'; }
not_503() { [ -n "$1" ] && [ "$1" != 503 ]; }
for round in 1 2 3; do
  user=1$round$round
  busy_port=$(free_port)
  callee "busy-$round" uas_busy.xml "$busy_port"
  out=$(sb start 2>&1) || { not_ok "start, round $round ($out)"; break; }
  # the instant start returns: a REGISTER and an INVITE at once, then, once the binding is
  # stored, an INVITE to it (dialogd sends its B leg through a sipd: the callee says 486)
  reg_port=$(free_port)
  raw_sip REGISTER "$user" "rdy-reg-$round-$RANDOM" "$busy_port" "$reg_port" |
    "$SB_TOOLS/sip_send" -l "$reg_port" -w 1000 127.0.0.1 "$SIP_PORT" - >"$SB_OUT/ready-reg.out" 2>&1 &
  reg_pid=$!
  raw_sip INVITE "1$round" "rdy-inv-$round-$RANDOM" |
    "$SB_TOOLS/sip_send" -w 1000 127.0.0.1 "$SIP_PORT" - >"$SB_OUT/ready-inv.out" 2>&1
  wait "$reg_pid"
  raw_sip INVITE "$user" "rdy-call-$round-$RANDOM" |
    "$SB_TOOLS/sip_send" -w 3000 127.0.0.1 "$SIP_PORT" - >"$SB_OUT/ready-call.out" 2>&1
  reg=$(final_code <"$SB_OUT/ready-reg.out")
  inv=$(final_code <"$SB_OUT/ready-inv.out")
  call=$(final_code <"$SB_OUT/ready-call.out")
  check "round $round: a REGISTER sent as start returns is answered, not 503 (got '$reg')" \
    not_503 "$reg"
  check "round $round: an INVITE sent as start returns is routed, not 503 (got '$inv')" \
    not_503 "$inv"
  check_eq "round $round: an INVITE to the user just registered reaches its phone (busy)" \
    486 "$call"
  kill "$CALLEE_PID" 2>/dev/null
  check_eq "round $round: status says every process is ready" "" \
    "$(sb status | awk 'NR > 2 && $4 != "ready"')"
  sb stop >/dev/null
done
finish
