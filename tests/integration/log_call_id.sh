#!/usr/bin/env bash
# Every log line about a call or a registration ends with " call-id=" and its Call-ID, in
# every process (docs/operations.md, "Logs"): a registration (routerd), a call (routerd's
# lookup, mediad's session, dialogd's hang-up), a hang-up asked over the REST API (apid,
# dialogd) and a request sipd refuses.
. "$(dirname "$0")/lib.sh"

new_confdir log_call_id
set_param log_level debug
sb start >/dev/null || { not_ok "start"; finish; }
wait_sip_ready

# logged PROCESS TEXT CALL-ID: a line of PROCESS holds TEXT and ends with call-id=CALL-ID
logged() {
  grep -E " $1(\[[0-9]+\])? [0-9]+: " "$LOG" | grep -F -- "$2" | awk -v t=" call-id=$3" \
    'substr($0, length($0) - length(t) + 1) == t { found = 1 } END { exit !found }'
}

# ---- a registration ----
PB=$(free_port)
check "1001 registers" register 1001 "$PB"
reg_cid=$(hdr reg-1001 1 Call-ID)
check "the REGISTER's Call-ID is known ($reg_cid)" test -n "$reg_cid"
check "routerd's line about the REGISTER carries its Call-ID" \
  wait_until 3 'logged routerd "REGISTER sip:1001@example.com cseq 1: 200" "$reg_cid"'

# ---- a call: routerd's lookup, mediad's session, dialogd's hang-up ----
callee bob uas_answer.xml "$PB"
sleep 0.2
check "a call to 1001 completes" sipp_run call-log uac_call.xml -s 1001 -d 200 -cid_str "logcall-%u"
check "the callee saw the whole call" wait_pid "$CALLEE_PID"
cid=$(hdr call-log 1 Call-ID)
check "the call's Call-ID is known ($cid)" test -n "$cid"
check "routerd's lookup for the call carries the call's Call-ID" \
  wait_until 3 'logged routerd "location sip:1001@example.com: 200" "$cid"'
check "mediad's line about the call's session carries its Call-ID" \
  wait_until 3 'logged mediad "media session" "$cid"'
check "dialogd's line about the hang-up carries the call's Call-ID" \
  wait_until 3 'logged dialogd "caller hung up" "$cid"'
check "no line names the call in its text the old way (call ID: ...)" \
  bash -c "! grep -qF 'call $cid:' '$LOG'"

# ---- a hang-up asked over the REST API: apid and dialogd ----
callee bob-api uas_answer.xml "$PB"
B2=$CALLEE_PID
sleep 0.2
rm -f "$SB_OUT/alice-api.msg"
timeout 60 sipp -sf "$top/tests/sipp/uac_call_wait_bye.xml" -i 127.0.0.1 -p "$(free_port)" -m 1 \
  -s 1001 -timeout 30s -timeout_error -nostdin -trace_msg -message_file "$SB_OUT/alice-api.msg" \
  -cid_str "logapi-%u" "127.0.0.1:$SIP_PORT" >"$SB_OUT/alice-api.out" 2>&1 &
A2=$!
EXTRA_PIDS="${EXTRA_PIDS:-} $A2 $B2"
check "the call is answered" wait_until 8 'grep -q "^SIP/2.0 200" "$SB_OUT/alice-api.msg" 2>/dev/null'
cid2=$(hdr alice-api 1 Call-ID)
check "dialogd holds it" wait_until 5 '[ "$(api "/api/v1/dialogs/$cid2" | jq -r .call_id)" = "$cid2" ]'
check_eq "DELETE dialogs/{id}: hangup sent" "hangup sent" \
  "$(acurl -s --max-time 5 -X DELETE "http://127.0.0.1:$API_PORT/api/v1/dialogs/$cid2" | jq -r .message)"
check "the caller got the BYE" wait_pid "$A2"
check "apid's line about the hang-up carries the call's Call-ID" \
  wait_until 3 'logged apid "hang-up over the API: asked dialogd" "$cid2"'
check "dialogd's line about it carries the call's Call-ID" \
  wait_until 3 'logged dialogd "hang-up asked by apid" "$cid2"'

# ---- a request sipd refuses (body shorter than its Content-Length: 400) ----
bad=$SB_OUT/short-body.sip
printf 'OPTIONS sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bKlogcid;rport\r\nMax-Forwards: 70\r\nFrom: <sip:x@example.com>;tag=1\r\nTo: <sip:127.0.0.1>\r\nCall-ID: short-body@log.test\r\nCSeq: 1 OPTIONS\r\nContent-Type: text/plain\r\nContent-Length: 500\r\n\r\nshort body' >"$bad"
out=$("$SB_TOOLS/sip_send" -w 300 127.0.0.1 "$SIP_PORT" "$bad")
check "sipd answers it 400" grep -q '^<<< SIP/2.0 400' <<<"$out"
check "sipd's line about it carries its Call-ID" \
  wait_until 3 'logged sipd "answering 400" short-body@log.test'

check "no line has an empty call-id field" bash -c "! grep -qE 'call-id=( |$)' '$LOG'"
sb stop >/dev/null
finish
