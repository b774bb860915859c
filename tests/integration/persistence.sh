#!/usr/bin/env bash
# The embedded Redis keeps its data in run_directory/private (a snapshot): a phone
# registered before `switchboard stop` and `start` is still bound after them, and a call
# to it reaches it without a new REGISTER.
. "$(dirname "$0")/lib.sh"
rcli() { redis-cli -s "$CONF/run/private/redis.sock" "$@"; }

new_confdir persistence
sb start >/dev/null || { not_ok "start"; finish; }
wait_sip_ready

PB=$(free_port)
check "1001 registers" register 1001 "$PB"
check_eq "its binding is in Redis" "sip:1001@127.0.0.1:$PB" \
  "$(rcli hkeys 'sb:reg:{sip:1001@example.com}')"

out=$(sb stop 2>&1); rc=$?
check_eq "stop succeeds ($out)" 0 "$rc"
check "the snapshot stays in run_directory/private" test -s "$CONF/run/private/redis.rdb"

out=$(sb start 2>&1); rc=$?
check_eq "start succeeds again ($out)" 0 "$rc"
wait_sip_ready
check_eq "the binding is still in Redis after the restart" "sip:1001@127.0.0.1:$PB" \
  "$(rcli hkeys 'sb:reg:{sip:1001@example.com}')"
check_eq "the registrar still lists it" "sip:1001@127.0.0.1:$PB" \
  "$(api /api/v1/registrations | jq -r '.registrations[] | select(.aor == "sip:1001@example.com") | .contact')"

callee bob uas_answer.xml "$PB"
sleep 0.2
check "a call to 1001 completes without a new REGISTER" \
  sipp_run call-after-restart uac_call.xml -s 1001 -d 300 -cid_str "persist-%u"
check "the callee answered it and saw the whole call" wait_pid "$CALLEE_PID"
check_eq "the callee received INVITE, ACK, BYE" "INVITE ACK BYE" "$(msgs bob received)"
check_eq "the caller received 100, 180, 200, then 200 for its BYE" "100 180 200 200" \
  "$(msgs call-after-restart received)"

sb stop >/dev/null
# the reset of docs/operations.md: stop, delete the file, start: nothing is bound
rm -f "$CONF/run/private/redis.rdb"
sb start >/dev/null || not_ok "start after the reset"
check "Redis answers after the reset" \
  wait_until 5 '[ "$(rcli ping 2>/dev/null)" = PONG ]'
check_eq "after the reset no binding is left" 0 "$(rcli exists 'sb:reg:{sip:1001@example.com}')"
sb stop >/dev/null
finish
