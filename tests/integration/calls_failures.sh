#!/usr/bin/env bash
# Failures are answers, not hangs: with Redis unresponsive (CLIENT PAUSE) a new call to a
# registered user gets 503 (the location cannot be read) while an established call goes on
# and its BYE still ends both legs; with mediad unresponsive (SIGSTOP) a new call with SDP
# gets 503 (no media) when no instance answers, and goes to the other instance when one
# does not; nothing is left behind; both recover when they are back. A
# callee that answers after its dial was given up gets ACK and BYE (its dialog exists).
. "$(dirname "$0")/lib.sh"

new_confdir calls_failures
# the prototype's route for 1*, and 7*: a dial of one second, then "unavailable"
cat >"$CONF/dialplan.json" <<'JSON'
{"version": "1", "routes": [
  {"id": "internal", "pattern": "1*", "actions": [
    {"type": "dial", "params": {"target": "user/${destination}", "timeout": 30}}]},
  {"id": "short", "pattern": "7*", "actions": [
    {"type": "dial", "params": {"target": "user/${destination}", "timeout": 1}},
    {"type": "hangup", "params": {"reason": "unavailable"}}]}
]}
JSON
set_param log_level debug
set_param sip_t1 100ms
set_param register_timeout 1s
set_maxproc mediad 2
sb start >/dev/null || { not_ok "start"; finish; }
wait_sip_ready
rcli() { redis-cli -s "$CONF/run/private/redis.sock" "$@"; }

PB=$(free_port)
check "1001 registers" register 1001 "$PB"

# ---- Redis stuck: new calls 503, the established call continues ----
callee fr-b1 uas_answer.xml "$PB"
B1=$CALLEE_PID
rm -f "$SB_OUT/fr-a1.msg"
timeout 60 sipp -sf "$top/tests/sipp/uac_call.xml" -i 127.0.0.1 -p "$(free_port)" -m 1 -d 1200 \
  -timeout 30s -timeout_error -nostdin -trace_msg -message_file "$SB_OUT/fr-a1.msg" \
  -s 1001 -cid_str "fr-a1-%u" "127.0.0.1:$SIP_PORT" >"$SB_OUT/fr-a1.out" 2>&1 &
A1=$!
check "a call is established" wait_until 5 'grep -q "^ACK " "$SB_OUT/fr-b1.msg" 2>/dev/null'
check_eq "Redis is paused for 3 s" OK "$(rcli client pause 3000 ALL)"
sipp_run fr-a2 uac_fail.xml -s 1001 -cid_str "fr-a2-%u"
check_eq "a new call while Redis is stuck gets 503" "503" "$(msgs fr-a2 received | awk '{ print $NF }')"
check "the established call ends normally meanwhile (the caller's BYE answered)" wait_pid "$A1"
check "and its callee got the BYE" wait_pid "$B1"
check_eq "the callee received INVITE ACK BYE" "INVITE ACK BYE" "$(msgs fr-b1 received)"
check_eq "Redis answers again (a PING waits out the pause)" PONG "$(rcli ping)"
callee fr-b3 uas_answer.xml "$PB"
sleep 0.2
check "calls go through again once Redis answers" \
  sipp_run fr-a3 uac_call.xml -s 1001 -d 200 -cid_str "fr-a3-%u"
wait_pid "$CALLEE_PID"

# ---- one mediad stuck: the create goes to the other; both stuck: 503 ----
mpid() { api /api/v1/processes | jq ".processes[] | select(.role==\"mediad\" and .instance==$1) | .pid"; }
m0=$(mpid 0) m1=$(mpid 1)
kill -STOP "$m0" # the least loaded, lowest instance: the one picked first
callee fr-b7 uas_answer.xml "$PB"
sleep 0.2
check "with mediad.0 stuck a call is anchored by mediad.1" \
  sipp_run fr-a7 uac_call.xml -s 1001 -d 200 -cid_str "fr-a7-%u"
wait_pid "$CALLEE_PID"
check "dialogd said why it went to another instance" grep -q \
  "mediad 0 cannot take it (no answer): another instance call-id=fr-a7-1" "$CONF/run/switchboard.log"
kill -STOP "$m1"
sipp_run fr-a4 uac_fail.xml -s 1001 -cid_str "fr-a4-%u"
kill -CONT "$m0" "$m1"
check_eq "a call while no mediad answers gets 503" "503" "$(msgs fr-a4 received | awk '{ print $NF }')"
check "dialogd holds no call after it" wait_until 5 '[ "$(counter dialogd calls_active)" = 0 ]'
check "the sessions the stuck mediad made after dialogd gave up on them are destroyed" \
  wait_until 5 'grep -q "session(s) of an abandoned create" "$CONF/run/switchboard.log"'
check "no media session is left" wait_until 5 '[ "$(counter mediad media_sessions)" = 0 ]'
callee fr-b5 uas_answer.xml "$PB"
sleep 0.2
check "calls go through again once mediad answers" \
  sipp_run fr-a5 uac_call.xml -s 1001 -d 200 -cid_str "fr-a5-%u"
wait_pid "$CALLEE_PID"

# ---- a callee that answers after its dial was given up: ACK and BYE, nothing left ----
P7=$(free_port)
check "7001 registers" register 7001 "$P7"
callee fr-late uas_answer_late.xml "$P7"
sipp_run fr-a6 uac_fail.xml -s 7001 -cid_str "fr-a6-%u"
check_eq "the caller hears 480 when the one-second dial is over" "480" \
  "$(msgs fr-a6 received | awk '{ print $NF }')"
check "the callee's late 200 is acknowledged and hung up" wait_pid "$CALLEE_PID"
check_eq "the callee received INVITE ACK BYE" "INVITE ACK BYE" \
  "$(msgs fr-late received | awk '{ for (i = 1; i <= NF; i++) if ($i != "INVITE" || !seen++) printf "%s%s", (n++ ? " " : ""), $i }')"
check "dialogd holds no call" wait_until 5 '[ "$(counter dialogd calls_active)" = 0 ]'
finish
