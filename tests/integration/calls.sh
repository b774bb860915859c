#!/usr/bin/env bash
# Calls through the B2BUA: SIPp callees register as users, a SIPp caller calls them
# through sipd -> dialogd -> routerd (the prototype's dialplan.json, unchanged, then
# others loaded by switchboard reload) -> mediad (media anchored, RTP checked both ways
# with rtp_peer, an IVR prompt played) -> sipd client transactions.
# Asserted on both legs: the B-leg is a new dialog (its own Call-ID, tags, CSeq, our
# Contact), the callee's answer and body reach the caller, hang-up from either side
# reaches the other, CANCEL, errors relayed, 404 for an unregistered user and for no
# route, dial timeout and failover to the next action, hangup actions, a bad dialplan
# refused while the running one stays; sipd, dialogd and routerd counters.
. "$(dirname "$0")/lib.sh"

new_confdir calls
set_param log_level debug
set_param sip_t1 100ms # 64*T1 = 6.4 s: Timer B, F and L (the missing-ACK case) in test time
# two sipd on one port: a callee's answers reach the instance the kernel picks for its
# address, while dialogd sends each call's B-leg from one instance or the other, so some
# answers must be handed to their owner (SipForward)
set_maxproc sipd 2
sb start >/dev/null || { not_ok "start"; finish; }
wait_sip_ready


# ---- a basic call, the caller hangs up ----
PB=$(free_port)
check "1001 registers" register 1001 "$PB"
callee bob-answer uas_answer.xml "$PB"
sleep 0.2
rx0=$(counter routerd ipc_rx)
check "the caller's call completes (INVITE, 200, ACK, BYE, 200)" \
  sipp_run call-1 uac_call.xml -s 1001 -d 300 -cid_str "call-1-%u"
# the route's answer carries the callee's contacts: one request to routerd per call
check_eq "routerd got one request for the call (its route and location together)" 1 \
  "$(($(counter routerd ipc_rx) - rx0))"
check "the callee saw the whole call and ended without error" wait_pid "$CALLEE_PID"
check_eq "the caller received 100, 180, 200, then 200 for its BYE" "100 180 200 200" "$(msgs call-1 received)"
check_eq "the callee received INVITE, ACK, BYE" "INVITE ACK BYE" "$(msgs bob-answer received)"
b_cid=$(hdr bob-answer 1 Call-ID)
check "the B-leg has its own Call-ID (sbd...), not the caller's" \
  bash -c "[[ '$b_cid' == sbd* && '$b_cid' != call-1-* ]]"
check "the B-leg's From tag is not the caller's" \
  bash -c "! grep -q 'uac' <<<'$(hdr bob-answer 1 From)'"
check_eq "the B-leg INVITE goes to the registered contact" "INVITE sip:1001@127.0.0.1:$PB SIP/2.0" \
  "$(tr -d '\r' <"$SB_OUT/bob-answer.msg" | grep -m1 '^INVITE ')"
check "the B-leg carries our Contact" bash -c "grep -q '^<sip:sb@127.0.0.1:$SIP_PORT>' <<<'$(hdr bob-answer 1 Contact)'"
check "the caller's SDP reaches the callee" grep -q '^o=alice' "$SB_OUT/bob-answer.msg"
check "the callee's SDP reaches the caller" grep -q '^o=bob' "$SB_OUT/call-1.msg"
check_eq "the caller's 200 carries the callee's CSeq-independent To tag of ours" 1 \
  "$(hdr call-1 3 To | grep -c 'tag=')"
check_eq "the BYE reached the callee as CSeq 2 of the B dialog" "2 BYE" "$(hdr bob-answer 3 CSeq)"

# ---- RFC 3261 10.3: the registrar keys by user@host, so a phone whose To URI carries the
#      registrar's port or an upper-case host is reached by a call to its user ----
for aor in 1007:sip:1007@example.com:5060 1008:sip:1008@EXAMPLE.COM; do
  u=${aor%%:*} to=${aor#*:} PU=$(free_port)
  check "$u registers with To: <$to>" sipp_run "reg-$u" register_to.xml -cid_str "reg-$u-%u" \
    -key user "$u" -key to_uri "$to" -key seq 1 -key contacts "<sip:$u@127.0.0.1:$PU>" \
    -key expires_header "Expires: 600"
  check_eq "its REGISTER got 200" 200 "$(msgs "reg-$u" received | awk '{ print $NF }')"
  callee "answer-$u" uas_answer.xml "$PU"
  sleep 0.2
  check "a call to $u through the sample dialplan completes" \
    sipp_run "call-$u" uac_call.xml -s "$u" -d 300 -cid_str "call-$u-%u"
  check_eq "the caller received 100, 180, 200, then 200 for its BYE" "100 180 200 200" \
    "$(msgs "call-$u" received)"
  check "$u answered and got the BYE" wait_pid "$CALLEE_PID"
done

# ---- the callee hangs up ----
callee bob-bye uas_answer_bye.xml "$PB" -d 300
sleep 0.2
check "a call the callee ends completes at the caller (BYE received, 200 sent)" \
  sipp_run call-2 uac_call_wait_bye.xml -s 1001 -cid_str "call-2-%u"
check "the callee's BYE was answered 200" wait_pid "$CALLEE_PID"
check_eq "the caller received 100 180 200 BYE" "100 180 200 BYE" "$(msgs call-2 received)"
check "the BYE to the caller goes to its Contact" grep -q "^BYE sip:alice@127.0.0.1" "$SB_OUT/call-2.msg"

# ---- media anchored by mediad: RTP both ways through it ----
media_sessions() { counter mediad media_sessions; }
callee bob-media uas_answer.xml "$PB"
MEDIA_CALLEE=$CALLEE_PID
sleep 0.2
rm -f "$SB_OUT/call-m.msg"
timeout 60 sipp -sf "$top/tests/sipp/uac_call.xml" -i 127.0.0.1 -p "$(free_port)" -m 1 -d 3000 \
  -timeout 30s -timeout_error -nostdin -trace_msg -message_file "$SB_OUT/call-m.msg" \
  -s 1001 -cid_str "call-m-%u" "127.0.0.1:$SIP_PORT" >"$SB_OUT/call-m.out" 2>&1 &
MEDIA_CALLER=$!
check "the call with media is answered" wait_until 5 'grep -q "^SIP/2.0 200" "$SB_OUT/call-m.msg" 2>/dev/null'
a_media=$(media_of call-m) b_media=$(media_of bob-media)
a_offer=$(media_of call-m sent) b_answer=$(media_of bob-media sent)
check "the callee is offered mediad's address, not the caller's ($b_media vs $a_offer)" \
  [ "$b_media" != "$a_offer" ]
check "the caller's answer points at mediad, not at the callee ($a_media vs $b_answer)" \
  [ "$a_media" != "$b_answer" ]
check_eq "mediad holds one session" 1 "$(media_sessions)"
"$SB_TOOLS/rtp_peer" -t "$a_media" -n 50 >"$SB_OUT/rtp-a.out" &
RTP_A=$!
"$SB_TOOLS/rtp_peer" -t "$b_media" -n 50 >"$SB_OUT/rtp-b.out"
wait "$RTP_A"
check_eq "RTP caller -> callee: 50 packets, payload untouched" "50 50" \
  "$(rtp_field rtp-b.out received) $(rtp_field rtp-b.out intact)"
check_eq "RTP callee -> caller: 50 packets, payload untouched" "50 50" \
  "$(rtp_field rtp-a.out received) $(rtp_field rtp-a.out intact)"
check_eq "they come from mediad's ports, the ones each side was given" "$a_media $b_media" \
  "$(rtp_field rtp-a.out from) $(rtp_field rtp-b.out from)"
check "the caller hangs up" wait_pid "$MEDIA_CALLER"
check "the callee got the BYE" wait_pid "$MEDIA_CALLEE"
check "mediad's session is gone with the call" wait_until 5 '[ "$(media_sessions)" = 0 ]'

# ---- hold and resume by re-INVITE from the caller, relayed through mediad ----
# msg_has NAME N PATTERN: the N-th message SIPp received matches PATTERN (a line of it)
msg_has() {
  tr -d '\r' <"$SB_OUT/$1.msg" | awk -v n="$2" '/message received/ { k++; rx = 1; next }
    /message sent/ { rx = 0; next } rx && k == n' | grep -q -- "$3"
}
callee bob-hold uas_hold.xml "$PB"
HOLD_CALLEE=$CALLEE_PID
sleep 0.2
check "the caller holds, resumes and hangs up" \
  sipp_run call-hold uac_hold.xml -s 1001 -cid_str "call-hold-%u"
check "the callee took both re-INVITEs" wait_pid "$HOLD_CALLEE"
check_eq "the callee received INVITE ACK INVITE ACK INVITE ACK BYE" \
  "INVITE ACK INVITE ACK INVITE ACK BYE" "$(msgs bob-hold received)"
check "the hold re-INVITE reaches the callee with a=sendonly, CSeq 2 of its dialog" \
  bash -c "$(declare -f msg_has); SB_OUT='$SB_OUT'; msg_has bob-hold 3 '^a=sendonly' && msg_has bob-hold 3 '^CSeq: 2 INVITE'"
check "the resume re-INVITE with a=sendrecv, CSeq 3" \
  bash -c "$(declare -f msg_has); SB_OUT='$SB_OUT'; msg_has bob-hold 5 '^a=sendrecv' && msg_has bob-hold 5 '^CSeq: 3 INVITE'"
check "the caller's answers: a=recvonly to the hold, then a=sendrecv" bash -c \
  "tr -d '\r' <'$SB_OUT/call-hold.msg' | grep -E '^a=(recvonly|sendrecv)$' | tr '\n' ' ' | grep -q 'a=recvonly a=sendrecv'"
check "mediad's session is gone after it" wait_until 5 '[ "$(media_sessions)" = 0 ]'
callee bob-holds uas_hold_b.xml "$PB"
HOLD_CALLEE=$CALLEE_PID
sleep 0.2
check "the callee holds and resumes the caller" \
  sipp_run call-held uac_held.xml -s 1001 -d 200 -cid_str "call-held-%u"
check "the callee's re-INVITEs were answered" wait_pid "$HOLD_CALLEE"
check_eq "the caller received 100 180 200 INVITE ACK INVITE ACK 200" \
  "100 180 200 INVITE ACK INVITE ACK 200" \
  "$(msgs call-held received)"
check "the hold reaches the caller with a=sendonly, in its dialog (CSeq 1, 2 of ours)" \
  bash -c "$(declare -f msg_has); SB_OUT='$SB_OUT'; msg_has call-held 4 '^a=sendonly' && msg_has call-held 4 '^CSeq: 1 INVITE' && msg_has call-held 6 '^a=sendrecv' && msg_has call-held 6 '^CSeq: 2 INVITE'"
check "the callee's answers: a=recvonly, then a=sendrecv" bash -c \
  "tr -d '\r' <'$SB_OUT/bob-holds.msg' | grep -E '^a=(recvonly|sendrecv)$' | tr '\n' ' ' | grep -q 'a=recvonly a=sendrecv'"

# ---- UPDATE (RFC 3311) mid-call: relayed through mediad like a re-INVITE, no ACK ----
callee bob-update uas_update.xml "$PB"
UPD_CALLEE=$CALLEE_PID
sleep 0.2
check "the caller holds by UPDATE and hangs up" \
  sipp_run call-update uac_update.xml -s 1001 -cid_str "call-update-%u"
check "the callee took the UPDATE" wait_pid "$UPD_CALLEE"
check_eq "the callee received INVITE ACK UPDATE BYE" "INVITE ACK UPDATE BYE" "$(msgs bob-update received)"
check "the UPDATE reaches it with a=sendonly, its answer the caller with a=recvonly" bash -c \
  "$(declare -f msg_has); SB_OUT='$SB_OUT'; msg_has bob-update 3 '^a=sendonly' && tr -d '\r' <'$SB_OUT/call-update.msg' | grep -q '^a=recvonly'"

# ---- blind transfer: the callee REFERs the caller to 1006; 1006 takes its place ----
PR=$(free_port)
check "1006 registers" register 1006 "$PR"
callee c-1006 uas_answer.xml "$PR"
XFER_TARGET=$CALLEE_PID
callee b-refer uas_refer.xml "$PB" -key refer_to 1006
XFER_FROM=$CALLEE_PID
sleep 0.2
check "the caller's call goes on with 1006 after the transfer, and hangs up" \
  sipp_run call-xfer uac_call.xml -s 1001 -d 2500 -cid_str "call-xfer-%u"
check "the transferring callee got 202, two NOTIFYs and a BYE" wait_pid "$XFER_FROM"
check_eq "it received INVITE ACK 202 NOTIFY NOTIFY BYE" "INVITE ACK 202 NOTIFY NOTIFY BYE" \
  "$(msgs b-refer received)"
check_eq "the NOTIFYs carry sipfrags: 100 Trying, then 200 OK" "SIP/2.0 100 Trying|SIP/2.0 200 OK" \
  "$(nth_body b-refer 4)|$(nth_body b-refer 5)"
check "the transfer target took the call and the caller's BYE" wait_pid "$XFER_TARGET"
check_eq "1006 received INVITE ACK BYE" "INVITE ACK BYE" "$(msgs c-1006 received)"

# ---- an IVR route (500: play_audio) answers here and plays the prompt ----
rm -f "$SB_OUT/call-ivr.msg"
timeout 60 sipp -sf "$top/tests/sipp/uac_call_wait_bye.xml" -i 127.0.0.1 -p "$(free_port)" -m 1 \
  -timeout 30s -timeout_error -nostdin -trace_msg -message_file "$SB_OUT/call-ivr.msg" \
  -s 500 -cid_str "call-ivr-%u" "127.0.0.1:$SIP_PORT" >"$SB_OUT/call-ivr.out" 2>&1 &
IVR_CALLER=$!
check "the IVR route answers the caller itself" wait_until 5 'grep -q "^SIP/2.0 200" "$SB_OUT/call-ivr.msg" 2>/dev/null'
"$SB_TOOLS/rtp_peer" -t "$(media_of call-ivr)" -n 0 -w 2500 >"$SB_OUT/rtp-ivr.out"
got=$(rtp_field rtp-ivr.out received)
check "the 1.2 s prompt reaches the caller as PCMU packets ($got of 60)" \
  bash -c "[ '$got' -ge 45 ] && [ '$got' -le 60 ] && [ '$(rtp_field rtp-ivr.out pt)' = 0 ]"
check "when it is over, the caller gets a BYE and answers it" wait_pid "$IVR_CALLER"
check_eq "the caller received 100 200 BYE" "100 200 BYE" "$(msgs call-ivr received)"

# ---- early media: 183 with SDP, then 180, then 200 ----
callee bob-early uas_early.xml "$PB"
EARLY_CALLEE=$CALLEE_PID
sleep 0.2
check "a call with early media completes" sipp_run call-early uac_call.xml -s 1001 -d 200 -cid_str "call-early-%u"
check "the callee saw it through" wait_pid "$EARLY_CALLEE"
check_eq "the caller received 100 183 180 200 200" "100 183 180 200 200" "$(msgs call-early received)"
# audio_port NAME N: the m=audio port of the N-th message SIPp received
audio_port() {
  tr -d '\r' <"$SB_OUT/$1.msg" | awk -v n="$2" '/message received/ { k++; rx = 1; next }
    /message sent/ { rx = 0; next } rx && k == n && /^m=audio/ { print $2 }'
}
p183=$(audio_port call-early 2) p200=$(audio_port call-early 4)
check "the 183's SDP is mediad's (port $p183, as in the 200: $p200), not the callee's" \
  bash -c "[ -n '$p183' ] && [ '$p183' = '$p200' ] && [ '$p183' != '$(media_of bob-early sent | cut -d: -f2)' ]"

# ---- parallel ringing: both contacts of 1004 ring, the first to answer wins, the other
#      is cancelled ----
PF1=$(free_port) PF2=$(free_port)
check "1004 registers two contacts" sipp_run reg-1004 register.xml -cid_str "reg-1004-%u" \
  -key user 1004 -key seq 1 -key contacts "<sip:1004@127.0.0.1:$PF1>, <sip:1004@127.0.0.1:$PF2>" \
  -key expires_header "Expires: 600"
callee ring-1004 uas_ring.xml "$PF1"
FORK_RING=$CALLEE_PID
callee answer-1004 uas_answer.xml "$PF2"
FORK_ANSWER=$CALLEE_PID
sleep 0.2
check "the call to 1004 is answered" sipp_run call-fork uac_call.xml -s 1004 -d 300 -cid_str "call-fork-%u"
check "the contact that answered got ACK and BYE" wait_pid "$FORK_ANSWER"
check "the other one rang and was cancelled" wait_pid "$FORK_RING"
check_eq "it received INVITE CANCEL ACK" "INVITE CANCEL ACK" "$(msgs ring-1004 received)"
check "each contact had a dialog of its own" \
  [ "$(hdr ring-1004 1 Call-ID)" != "$(hdr answer-1004 1 Call-ID)" ]

# ---- the caller never acknowledges the 200: after 64*T1 both legs get a BYE ----
callee bob-noack uas_answer.xml "$PB"
NOACK_CALLEE=$CALLEE_PID
sleep 0.2
check "a caller without ACK gets its 200 again, then a BYE it answers" \
  sipp_run call-noack uac_noack.xml -s 1001 -cid_str "call-noack-%u"
check "the callee got its ACK, then a BYE" wait_pid "$NOACK_CALLEE"
check_eq "the callee received INVITE ACK BYE" "INVITE ACK BYE" "$(msgs bob-noack received)"
n200=$(msgs call-noack received | tr ' ' '\n' | grep -c '^200$')
check "the 200 was retransmitted until Timer L ($n200 copies)" [ "$n200" -ge 4 ]
check "dialogd logged why, with the call's Call-ID" grep -q "hanging up (no ACK from the caller) call-id=call-noack-1$" "$LOG"

# ---- a callee on TCP: its contact says transport=tcp, sipd opens the connection ----
PT=$(free_port)
check "1005 registers a TCP contact" sipp_run reg-1005 register.xml -cid_str "reg-1005-%u" \
  -key user 1005 -key seq 1 -key contacts "<sip:1005@127.0.0.1:$PT;transport=tcp>" \
  -key expires_header "Expires: 600"
rm -f "$SB_OUT/tcp-1005.msg"
timeout 40 sipp -sf "$top/tests/sipp/uas_answer_tcp.xml" -t t1 -i 127.0.0.1 -p "$PT" -m 1 \
  -timeout 20s -timeout_error -nostdin -trace_msg -message_file "$SB_OUT/tcp-1005.msg" \
  -trace_err -error_file "$SB_OUT/tcp-1005.err" "127.0.0.1:$SIP_PORT" >"$SB_OUT/tcp-1005.out" 2>&1 &
TCP_CALLEE=$!
sleep 0.3
check "a call to the TCP callee completes" sipp_run call-tcp uac_call.xml -s 1005 -d 300 -cid_str "call-tcp-%u"
check "the TCP callee took the call" wait_pid "$TCP_CALLEE"
check_eq "it received INVITE ACK BYE" "INVITE ACK BYE" "$(msgs tcp-1005 received)"
check "over TCP (our Via says TCP, SIPp read them from a TCP connection)" bash -c \
  "grep -q '^Via: SIP/2.0/TCP 127.0.0.1:$SIP_PORT;branch=z9hG4bKsb' '$SB_OUT/tcp-1005.msg' && grep -qi 'TCP message received' '$SB_OUT/tcp-1005.msg'"

# ---- the callee is busy ----
callee bob-busy uas_busy.xml "$PB"
sleep 0.2
sipp_run call-3 uac_fail.xml -s 1001 -cid_str "call-3-%u"
check "the callee's 486 was acknowledged by us" wait_pid "$CALLEE_PID"
check_eq "the caller gets 180 then the callee's 486" "100 180 486" "$(msgs call-3 received)"

# ---- the caller cancels ----
callee bob-ring uas_ring.xml "$PB"
sleep 0.2
check "the caller's CANCEL: 200, then 487" sipp_run call-4 uac_cancel.xml -s 1001 -cid_str "call-4-%u"
check "the callee got the CANCEL, answered 487 and got its ACK" wait_pid "$CALLEE_PID"
check_eq "the callee received INVITE CANCEL ACK" "INVITE CANCEL ACK" "$(msgs bob-ring received)"

# ---- calls to users that are not registered: 404 ----
sipp_run call-5 uac_fail.xml -s 1999 -cid_str "call-5-%u"
check_eq "a call to an unregistered user gets 404" "100 404" "$(msgs call-5 received)"
sipp_run call-6 uac_fail.xml -s 1998 -cid_str "call-6-%u"
check_eq "another unregistered user: 404" "100 404" "$(msgs call-6 received)"

# ---- another dialplan by switchboard reload: dial timeout, failover, hangup, no route ----
cat >"$CONF/dialplan.json" <<'JSON'
{"version": "2", "routes": [
  {"id": "fail_over", "pattern": "1*", "priority": 10, "actions": [
    {"type": "dial", "params": {"target": "user/${destination}", "timeout": 2}},
    {"type": "dial", "params": {"target": "user/1002"}}]},
  {"id": "reject", "pattern": "9*", "actions": [{"type": "hangup", "params": {"reason": "rejected"}}]},
  {"id": "off", "pattern": "*", "enabled": false, "actions": [{"type": "hangup"}]}
]}
JSON
sb reload >/dev/null
check "routerd loaded the new dialplan" wait_until 5 \
  'grep -q "dialplan .*dialplan.json loaded: 3 routes" "$CONF/run/switchboard.log"'
PC=$(free_port)
check "1002 registers" register 1002 "$PC"
callee ring-1001 uas_ring.xml "$PB"
RING_PID=$CALLEE_PID
callee answer-1002 uas_answer.xml "$PC"
sleep 0.2
t0=$(date +%s%N)
check "1001 rings out (2 s), the call fails over to 1002, which answers" \
  sipp_run call-7 uac_call.xml -s 1001 -d 300 -cid_str "call-7-%u"
t1=$(date +%s%N)
check "1001 got INVITE, CANCEL (after its dial timeout), ACK of its 487" wait_pid "$RING_PID"
check_eq "1001 received INVITE CANCEL ACK" "INVITE CANCEL ACK" "$(msgs ring-1001 received)"
check "1002 answered and got the BYE" wait_pid "$CALLEE_PID"
check "the caller waited for the dial timeout (>= 2 s)" [ $(((t1 - t0) / 1000000)) -ge 2000 ]
sipp_run call-8 uac_fail.xml -s 900 -cid_str "call-8-%u"
check_eq "a hangup rejected action answers 603" "100 603" "$(msgs call-8 received)"
sipp_run call-9 uac_fail.xml -s 555 -cid_str "call-9-%u"
check_eq "no route (the catch-all is disabled): 404" "100 404" "$(msgs call-9 received)"
echo '{"routes": [{"id": "x", "pattern": "1*", "actions": [{"type": "dial", "params": {"target": "user/x", "timeout": 0}}]}]}' \
  >"$CONF/dialplan.json"
sb reload >/dev/null
check "a bad dialplan is refused with its JSON path" wait_until 5 \
  'grep -q "routes\[0\].actions\[0\].params.timeout: must be an integer" "$CONF/run/switchboard.log"'
sipp_run call-10 uac_fail.xml -s 900 -cid_str "call-10-%u"
check_eq "and the running dialplan stays (900 still rejected)" "100 603" "$(msgs call-10 received)"

check_eq "dialogd counted 22 calls started" 22 "$(counter dialogd calls_started)"
check_eq "15 answered (the IVR one by us)" 15 "$(counter dialogd calls_answered)"
check_eq "7 failed (486, 487, 404, 404, 603, 404, 603)" 7 "$(counter dialogd calls_failed)"

# ---- dialogd killed mid-call: the call lives on in Redis, a later BYE ends both legs ----
PD=$(free_port)
check "1003 registers" register 1003 "$PD"
callee answer-1003 uas_answer.xml "$PD"
sleep 0.2
rm -f "$SB_OUT/call-11.msg"
timeout 60 sipp -sf "$top/tests/sipp/uac_call.xml" -i 127.0.0.1 -p "$(free_port)" -m 1 -d 4000 \
  -timeout 30s -timeout_error -nostdin -trace_msg -message_file "$SB_OUT/call-11.msg" \
  -s 1003 -cid_str "call-11-%u" "127.0.0.1:$SIP_PORT" >"$SB_OUT/call-11.out" 2>&1 &
CALLER_PID=$!
rcli() { redis-cli -s "$CONF/run/private/redis.sock" "$@"; }
dlg_key() { rcli --scan --pattern 'sb:dlg:{call-11-*' | head -1; }
check "the answered call has its dialog record in Redis" wait_until 5 \
  '[ "$(rcli hget "$(dlg_key)" state)" = confirmed ]'
key=$(dlg_key)
b_cid=$(rcli hget "$key" b_call_id)
check "the record holds both legs (B Call-ID sbd..., both tags, targets)" bash -c \
  "[[ '$b_cid' == sbd* ]] && [ -n '$(rcli hget "$key" a_to_tag)' ] && [ -n '$(rcli hget "$key" b_to_tag)' ] && [ '$(rcli hget "$key" b_target)' = 'sip:bob@127.0.0.1:$PD' ]"
check_eq "and the B Call-ID leads back to it" "$(rcli hget "$key" a_call_id)" "$(rcli get "sb:dlgb:{$b_cid}")"
dpid=$(api /api/v1/processes | jq '.processes[] | select(.role=="dialogd") | .pid')
kill -9 "$dpid"
check "master restarts dialogd" wait_until 10 \
  '[ "$(api /api/v1/processes | jq ".processes[] | select(.role==\"dialogd\" and .state==\"ready\") | .pid")" != "$dpid" ]'
wait_sip_ready
check "the caller's BYE after the restart is answered 200" wait_pid "$CALLER_PID"
check "and reaches the callee (restored from Redis)" wait_pid "$CALLEE_PID"
check_eq "the callee received INVITE ACK BYE" "INVITE ACK BYE" "$(msgs answer-1003 received)"
check "the record is gone with the call" wait_until 5 '[ -z "$(rcli --scan --pattern "sb:dlg*{call-11-*")" ] && [ "$(rcli exists "sb:dlgb:{$b_cid}")" = 0 ]'

# ---- counters ----
check_eq "routerd answered 23 RouteRequests" 23 "$(counter routerd routes)"
fwd=$(counter sipd sip_forwarded)
check "answers that reached the other sipd were handed to their owner ($fwd)" [ "$fwd" -ge 1 ]
check_eq "every handed datagram arrived" "$fwd" "$(counter sipd sip_forward_received)"
check_eq "and refused one dialplan" 1 "$(counter routerd dialplan_errors)"
check "no call is left in dialogd" wait_until 5 '[ "$(counter dialogd calls_active)" = 0 ]'
check "sipd sent requests in client transactions" bash -c "[ $(counter sipd sip_tx_requests) -ge 8 ]"

# ---- dialogd killed mid-call: the caller's re-INVITEs after it restore the call ----
PH=$(free_port)
check "1006 registers" register 1006 "$PH"
callee hold-1006 uas_hold.xml "$PH"
HOLD_CALLEE=$CALLEE_PID
sleep 0.2
rm -f "$SB_OUT/call-12.msg"
timeout 60 sipp -sf "$top/tests/sipp/uac_hold_slow.xml" -i 127.0.0.1 -p "$(free_port)" -m 1 \
  -d 4000 -timeout 30s -timeout_error -nostdin -trace_msg -message_file "$SB_OUT/call-12.msg" \
  -s 1006 -cid_str "call-12-%u" "127.0.0.1:$SIP_PORT" >"$SB_OUT/call-12.out" 2>&1 &
CALLER_PID=$!
check "the held call's record is in Redis" wait_until 5 \
  '[ "$(rcli hget "$(rcli --scan --pattern "sb:dlg:{call-12-*" | head -1)" state)" = confirmed ]'
dpid=$(api /api/v1/processes | jq '.processes[] | select(.role=="dialogd") | .pid')
kill -9 "$dpid"
check "master restarts dialogd again" wait_until 10 \
  '[ "$(api /api/v1/processes | jq ".processes[] | select(.role==\"dialogd\" and .state==\"ready\") | .pid")" != "$dpid" ]'
wait_sip_ready
check "the caller's hold and resume re-INVITEs after the restart are answered, then its BYE" \
  wait_pid "$CALLER_PID"
check "the callee took both re-INVITEs and the BYE (restored from Redis)" wait_pid "$HOLD_CALLEE"
check_eq "the callee received INVITE ACK INVITE ACK INVITE ACK BYE" \
  "INVITE ACK INVITE ACK INVITE ACK BYE" "$(msgs hold-1006 received)"

sb stop >/dev/null
finish
