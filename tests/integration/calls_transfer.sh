#!/usr/bin/env bash
# The caller transfers (RFC 3515 blind transfer from the A leg): the caller REFERs the
# callee to 1006; 1006's contact is called in the caller's place (To: the Refer-To URI,
# From: the callee's URI, the caller saw), the caller gets 202, NOTIFY 100 Trying and 200
# OK, then our BYE; the callee stays in the call without a message, its media now relayed
# to 1006 through the same mediad session (RTP both ways); 1006 hangs up and the callee
# gets the BYE. A REFER to a user with no contact fails: NOTIFY 404, the call goes on.
. "$(dirname "$0")/lib.sh"

new_confdir calls_transfer
set_param log_level debug
set_param sip_t1 100ms
sb start >/dev/null || { not_ok "start"; finish; }
wait_sip_ready

PB=$(free_port) PC=$(free_port)
check "1001 registers" register 1001 "$PB"
check "1006 registers" register 1006 "$PC"
callee xa-b uas_answer.xml "$PB"
B_PID=$CALLEE_PID
callee xa-c uas_answer_bye.xml "$PC" -d 2500
C_PID=$CALLEE_PID
sleep 0.2
check "the caller's REFER is served: 202, two NOTIFYs, then our BYE" \
  sipp_run xa-a uac_refer.xml -s 1001 -key refer_to 1006 -cid_str "xa-a-%u"
check_eq "the caller received 100 180 200 202 NOTIFY NOTIFY BYE" "100 180 200 202 NOTIFY NOTIFY BYE" \
  "$(msgs xa-a received)"
check_eq "the NOTIFYs carry sipfrags: 100 Trying, then 200 OK" "SIP/2.0 100 Trying|SIP/2.0 200 OK" \
  "$(nth_body xa-a 5)|$(nth_body xa-a 6)"
check_eq "the NOTIFYs are in the caller's dialog (our tag, its tag)" "$(hdr xa-a 3 To)" "$(hdr xa-a 5 From)"
check "the transfer target is called with To: the Refer-To URI" \
  grep -q '^<sip:1006@example.com>' <<<"$(hdr xa-c 1 To)"
check "and From: the callee's URI, as the caller saw it" \
  grep -q '^<sip:1001@example.com>' <<<"$(hdr xa-c 1 From)"
c_media=$(media_of xa-c) b_media=$(media_of xa-b)
check "the target is offered mediad's side of the caller, the callee keeps its own ($c_media, $b_media)" \
  bash -c "[ '$c_media' != ':' ] && [ '$b_media' != ':' ] && [ '$c_media' != '$b_media' ]"
"$SB_TOOLS/rtp_peer" -t "$c_media" -n 30 -w 1500 >"$SB_OUT/rtp-c.out" &
RTP_C=$!
"$SB_TOOLS/rtp_peer" -t "$b_media" -n 30 -w 1500 >"$SB_OUT/rtp-b.out"
wait "$RTP_C"
check_eq "RTP target -> callee through mediad: 30 packets, intact" "30 30" \
  "$(rtp_field rtp-b.out received) $(rtp_field rtp-b.out intact)"
check_eq "RTP callee -> target: 30 packets, intact" "30 30" \
  "$(rtp_field rtp-c.out received) $(rtp_field rtp-c.out intact)"
check "the target hangs up" wait_pid "$C_PID"
check "the callee gets its BYE" wait_pid "$B_PID"
check_eq "the callee received INVITE ACK BYE (nothing of the transfer)" "INVITE ACK BYE" \
  "$(msgs xa-b received)"
check "the call's records in Redis are gone with it" wait_until 5 \
  '[ -z "$(redis-cli -s "$CONF/run/private/redis.sock" --scan --pattern "sb:dlg*")" ]'

# ---- a transfer to a user with no contact: NOTIFY 404, the call goes on, caller hangs up ----
callee xf-b uas_answer.xml "$PB"
B_PID=$CALLEE_PID
sleep 0.2
check "a REFER to nobody: 202, NOTIFY 100, NOTIFY 404, the call stays" \
  sipp_run xf-a uac_refer_fail.xml -s 1001 -key refer_to 1099 -cid_str "xf-a-%u"
check_eq "the NOTIFYs say 100 Trying, then 404" "SIP/2.0 100 Trying|SIP/2.0 404 Not Found" \
  "$(nth_body xf-a 5)|$(nth_body xf-a 6)"
check "the callee gets the caller's BYE after the failed transfer" wait_pid "$B_PID"
check_eq "the callee received INVITE ACK BYE" "INVITE ACK BYE" "$(msgs xf-b received)"
check "no call is left in dialogd" wait_until 5 '[ "$(counter dialogd calls_active)" = 0 ]'
finish
