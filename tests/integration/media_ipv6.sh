#!/usr/bin/env bash
# mediad's addresses: IPv6 media (c=IN IP6, ports on ::1, an IPv6 phone calling an IPv4
# one), and media_address as a list of [NAME/]LOCAL[!PUBLIC] interfaces chosen by the
# address a call's signaling came to, else by family; media_probe drives mediad over IPC
# with UDP phones on 127.0.0.1 and ::1, and a SIPp call over [::1] (sipd listening on
# IPv6 too) gets IPv6 SDP from mediad and carries rtp_peer's RTP both ways.
. "$(dirname "$0")/lib.sh"
MP=$SB_TOOLS/media_probe

new_confdir media_ipv6
set_param sip_listen_udp "127.0.0.1:$SIP_PORT, [::1]:$SIP_PORT"
sb start >/dev/null || { not_ok "start"; finish; }
wait_sip_ready
M0=$CONF/run/private/mediad.0
"$MP" "$M0" ipv6

# ---- a call over ::1 with SIPp: IPv6 SIP, IPv6 media through mediad ----
sipp6() { # NAME SCENARIO PORT [SIPP ARGS...]: one SIPp run on ::1 against our [::1] port
  local name=$1 scen=$2 port=$3; shift 3
  rm -f "$SB_OUT/$name.msg"
  timeout 30 sipp -sf "$top/tests/sipp/$scen" -i ::1 -p "$port" -m 1 -timeout 15s \
    -timeout_error -nostdin -trace_msg -message_file "$SB_OUT/$name.msg" "$@" \
    "[::1]:$SIP_PORT" >"$SB_OUT/$name.out" 2>&1
}
media6_of() { # NAME [sent]: [ip]:port of the audio line of the last SDP SIPp received (or sent)
  tr -d '\r' <"$SB_OUT/$1.msg" | awk -v d="message ${2:-received}" '
    /message (received|sent)/ { mine = index($0, d) > 0; next }
    mine && /^c=IN IP6/ { ip = $3 } mine && /^m=audio/ { port = $2 } END { print "[" ip "]:" port }'
}
PB=$(free_port)
check "1001 registers from [::1]:$PB" sipp6 reg6 register.xml "$(free_port)" -cid_str "reg6-%u" \
  -key user 1001 -key seq 1 -key contacts "<sip:1001@[::1]:$PB>" -key expires_header "Expires: 600"
sipp6 bob6 uas_answer_v6.xml "$PB" &
CALLEE=$!
EXTRA_PIDS=$CALLEE
sleep 0.2
sipp6 call6 uac_call_v6.xml "$(free_port)" -s 1001 -d 2500 -cid_str "call6-%u" &
CALLER=$!
check "the IPv6 call is answered" wait_until 5 'grep -q "^SIP/2.0 200" "$SB_OUT/call6.msg" 2>/dev/null'
a_media=$(media6_of call6) b_media=$(media6_of bob6)
check "the callee is offered mediad's IPv6 address ($b_media), not the caller's ($(media6_of call6 sent))" \
  bash -c "[[ '$b_media' =~ ^\[::1\]:[0-9]+$ && '$b_media' != '$(media6_of call6 sent)' ]]"
check "the caller's answer is mediad's IPv6 address ($a_media), not the callee's" \
  bash -c "[[ '$a_media' =~ ^\[::1\]:[0-9]+$ && '$a_media' != '$(media6_of bob6 sent)' ]]"
"$SB_TOOLS/rtp_peer" -t "$a_media" -n 20 -w 1200 >"$SB_OUT/rtp6-a.out" &
RTP_A=$!
"$SB_TOOLS/rtp_peer" -t "$b_media" -n 20 -w 1200 >"$SB_OUT/rtp6-b.out"
wait "$RTP_A"
check_eq "RTP over IPv6 both ways through mediad: 20 and 20 intact" "20 20" \
  "$(awk '$1 == "intact" { print $2 }' "$SB_OUT/rtp6-a.out") $(awk '$1 == "intact" { print $2 }' "$SB_OUT/rtp6-b.out")"
check "the caller's call completes" wait_pid "$CALLER"
check "the callee saw the whole call" wait_pid "$CALLEE"

# ---- an IPv4 phone calls the IPv6 one: each side gets SDP of its own family ----
sipp6 bob6b uas_answer_v6.xml "$PB" &
CALLEE=$!
EXTRA_PIDS=$CALLEE
sleep 0.2
rm -f "$SB_OUT/call4.msg"
timeout 30 sipp -sf "$top/tests/sipp/uac_call.xml" -i 127.0.0.1 -p "$(free_port)" -m 1 -d 2500 \
  -timeout 15s -timeout_error -nostdin -trace_msg -message_file "$SB_OUT/call4.msg" -s 1001 \
  -cid_str "call4-%u" "127.0.0.1:$SIP_PORT" >"$SB_OUT/call4.out" 2>&1 &
CALLER=$!
check "the IPv4 caller's call to the IPv6 phone is answered" \
  wait_until 5 'grep -q "^SIP/2.0 200" "$SB_OUT/call4.msg" 2>/dev/null'
a_media=$(media_of call4) b_media=$(media6_of bob6b)
check "the IPv6 callee is offered IN IP6 ($b_media), the IPv4 caller answered IN IP4 ($a_media)" \
  bash -c "[[ '$b_media' =~ ^\[::1\]:[0-9]+$ && '$a_media' =~ ^127\.0\.0\.1:[0-9]+$ ]]"
"$SB_TOOLS/rtp_peer" -t "$a_media" -n 20 -w 1200 >"$SB_OUT/rtp46-a.out" &
RTP_A=$!
"$SB_TOOLS/rtp_peer" -t "$b_media" -n 20 -w 1200 >"$SB_OUT/rtp46-b.out"
wait "$RTP_A"
check_eq "RTP between the IPv4 and the IPv6 phone both ways: 20 and 20 intact" "20 20" \
  "$(awk '$1 == "intact" { print $2 }' "$SB_OUT/rtp46-a.out") $(awk '$1 == "intact" { print $2 }' "$SB_OUT/rtp46-b.out")"
check "the caller's call completes" wait_pid "$CALLER"
check "the callee saw the whole call" wait_pid "$CALLEE"
sb stop >/dev/null

set_param media_address "v4/127.0.0.1 v6/::1, pub/127.0.0.5!192.0.2.55"
sb start >/dev/null || { not_ok "start with three interfaces"; finish; }
check "mediad is ready with three interfaces" wait_until 10 '[ "$(status_count mediad)" = 1 ]'
"$MP" "$M0" ifaces

set_param media_address "v4/127.0.0.1!::1"
out=$(sb check 2>&1)
check "switchboard check refuses an interface whose LOCAL and PUBLIC differ in family" \
  grep -q "media_address.*v4/127.0.0.1!::1" <<<"$out"
finish
