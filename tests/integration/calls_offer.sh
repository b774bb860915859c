#!/usr/bin/env bash
# A late offer (RFC 3261 13.2.1, RFC 3264) through the B2BUA: the caller's INVITE has no
# SDP, the callee offers in its 200, the caller answers in its ACK. The media is anchored
# all the same: mediad takes the callee's offer (MediaCreate with offer_side B), the
# caller's 200 carries it rewritten with mediad's address, the caller's answer reaches the
# callee in our ACK, rewritten too; RTP flows both ways through mediad.
. "$(dirname "$0")/lib.sh"

new_confdir calls_offer
set_param log_level debug
set_param sip_t1 100ms
sb start >/dev/null || { not_ok "start"; finish; }
wait_sip_ready

PB=$(free_port)
check "1001 registers" register 1001 "$PB"
callee late-b uas_answer.xml "$PB"
LATE_CALLEE=$CALLEE_PID
sleep 0.2
created=$(counter mediad media_sessions_created)
rm -f "$SB_OUT/late-a.msg"
timeout 60 sipp -sf "$top/tests/sipp/uac_late.xml" -i 127.0.0.1 -p "$(free_port)" -m 1 -d 2500 \
  -timeout 30s -timeout_error -nostdin -trace_msg -message_file "$SB_OUT/late-a.msg" \
  -s 1001 -cid_str "late-a-%u" "127.0.0.1:$SIP_PORT" >"$SB_OUT/late-a.out" 2>&1 &
LATE_CALLER=$!
check "the late-offer call is answered" wait_until 5 'grep -q "^SIP/2.0 200" "$SB_OUT/late-a.msg" 2>/dev/null'
check "the callee has our ACK" wait_until 5 'grep -q "^ACK " "$SB_OUT/late-b.msg" 2>/dev/null'
check_eq "the callee's INVITE has no SDP (the offer is the callee's to make)" "0" \
  "$(hdr late-b 1 Content-Length)"
a_media=$(media_of late-a) b_media=$(media_of late-b)
b_offer=$(media_of late-b sent) a_answer=$(media_of late-a sent)
check "the caller's 200 offers mediad's address, not the callee's ($a_media vs $b_offer)" \
  bash -c "[ '$a_media' != '$b_offer' ] && [ '$a_media' != ':' ]"
check "our ACK answers the callee with mediad's address, not the caller's ($b_media vs $a_answer)" \
  bash -c "[ '$b_media' != '$a_answer' ] && [ '$b_media' != ':' ]"
check "the answer in our ACK is the caller's, rewritten" bash -c \
  "tr -d '\r' <'$SB_OUT/late-b.msg' | awk '/^ACK /{a=1} a' | grep -q '^o=alice'"
check_eq "mediad made one session for it" $((created + 1)) "$(counter mediad media_sessions_created)"
"$SB_TOOLS/rtp_peer" -t "$a_media" -n 50 >"$SB_OUT/rtp-a.out" &
RTP_A=$!
"$SB_TOOLS/rtp_peer" -t "$b_media" -n 50 >"$SB_OUT/rtp-b.out"
wait "$RTP_A"
check_eq "RTP caller -> callee: 50 packets, payload untouched" "50 50" \
  "$(rtp_field rtp-b.out received) $(rtp_field rtp-b.out intact)"
check_eq "RTP callee -> caller: 50 packets, payload untouched" "50 50" \
  "$(rtp_field rtp-a.out received) $(rtp_field rtp-a.out intact)"
check "the caller hangs up" wait_pid "$LATE_CALLER"
check "the callee got the BYE" wait_pid "$LATE_CALLEE"
check_eq "the callee received INVITE ACK BYE" "INVITE ACK BYE" "$(msgs late-b received)"
check "no call is left in dialogd" wait_until 5 '[ "$(counter dialogd calls_active)" = 0 ]'
check "mediad's session is gone with the call" wait_until 5 '[ "$(counter mediad media_sessions)" = 0 ]'
finish
