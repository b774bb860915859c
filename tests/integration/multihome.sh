#!/usr/bin/env bash
# A node on two networks, in network namespaces this test makes and removes: the cluster
# runs in "node" (172.31.1.1 and 172.31.2.1, SIP on 0.0.0.0:5060, media on 172.31.1.1);
# each link leads to a router that masquerades (nftables, fully random source ports) a
# phone at 192.168.77.10 (both phones have that address, each behind its own router):
#
#   phone A 192.168.77.10 -- router A (172.31.1.2) -- 172.31.1.1 \
#                                                                  node
#   phone B 192.168.77.10 -- router B (172.31.2.2) -- 172.31.2.1 /
#
# Router B reaches 172.31.1.1 through the 172.31.2.1 link. A phone behind a masquerading
# router only gets what comes from the very address and port it sent to (its router's
# connection tracking drops the rest), so every answer or request a phone receives proves
# the node sent it from the address that phone used; the Via and Contact it sees must
# name that address too.
# (a) both phones register at 172.31.1.1: phone B's packets come in on the other link,
#     and its 200 must still come from 172.31.1.1.
# (b) each phone at its own link's address: B registers as sip:1002@172.31.2.1, A calls
#     sip:1002@172.31.1.1 and B rings (one domain for every local address); RTP both ways
#     through mediad; the caller hangs up. Then B calls A at 172.31.2.1: RTP both ways, the
#     callee hangs up (our BYE reaches the NATed caller); a third call B hangs up.
#     Before that, phone B registered through 172.31.1.1 is called: the INVITE must come
#     from 172.31.1.1, where it registered, though it reaches B over the other link.
. "$(dirname "$0")/lib.sh"
. "$top/tests/tools/netns.sh"
netns_require

PHONE=192.168.77.10
A_PORT=5072 B_PORT=5072

ns_add node; ns_add ra; ns_add rb; ns_add pa; ns_add pb
ns_link node n1 172.31.1.1/24 ra wan 172.31.1.2/24
ns_link node n2 172.31.2.1/24 rb wan 172.31.2.2/24
ns_link ra lan 192.168.77.1/24 pa eth0 $PHONE/24
ns_link rb lan 192.168.77.1/24 pb eth0 $PHONE/24
ip -n "$(ns ra)" route add default via 172.31.1.1
ip -n "$(ns rb)" route add default via 172.31.2.1
ip -n "$(ns pa)" route add default via 192.168.77.1
ip -n "$(ns pb)" route add default via 192.168.77.1
ns_masquerade ra wan 192.168.77.0/24 || { not_ok "router A masquerades"; finish; }
ns_masquerade rb wan 192.168.77.0/24 || { not_ok "router B masquerades"; finish; }
ns_count_from pa 172.31.1.1
ns_count_from pb 172.31.1.1

node_confdir multihome node
set_param media_address 172.31.1.1
set_param log_level debug
sb start >/dev/null || { not_ok "the cluster starts in the node's namespace"; finish; }
wait_sip_ready

# reg NS NAME USER DOMAIN PORT [CSEQ]: a REGISTER of sip:USER@DOMAIN to DOMAIN:5060 from
# the phone's PORT (the port it is called on later: its router keeps the mapping).
reg() {
  PHONE_TIMEOUT=5 phone_sipp "$1" "$2" register_to.xml $PHONE "$5" "$4:5060" -cid_str "$2-%u" \
    -key user "$3" -key to_uri "sip:$3@$4" -key seq "${6:-1}" \
    -key contacts "<sip:$3@$PHONE:$5>" -key expires_header "Expires: 600"
}
status_of() { msgs "$1" received | awk '{ print $NF }'; }
# the header NAME of the first message of type START (e.g. "SIP/2.0 200", "BYE ") FILE received
rx_hdr() {
  tr -d '\r' <"$SB_OUT/$1.msg" | awk -v s="$2" -v h="$3" '
    /message received/ { r = 1; g = 0; next } /message sent/ { r = 0; g = 0; next }
    r && index($0, s) == 1 { g = 1 } g && tolower($0) ~ "^" tolower(h) ":" { sub(/^[^:]*: */, ""); print; exit }'
}

# call CALLER_NAME CALLER_NS CALLER_PORT DOMAIN SERVICE CALLEE_NAME CALLEE_NS CALLEE_PORT
#      CALLER_SCENARIO CALLEE_SCENARIO PAUSE_MS: the callee's SIPp in the background, then
# the caller's calling sip:SERVICE@DOMAIN; CALLER_PID, CALLEE_PID. Ok once the caller
# has its 200 and the callee the INVITE; else both are stopped (PIDs "none"). Each caller
# uses a port of its own, so no answer retransmitted for an earlier call reaches it.
call() {
  phone_sipp_bg "$7" "$6" "${10}" $PHONE "$8" "$4:5060" -d "${11}"
  CALLEE_PID=$SIPP_PID
  sleep 0.3
  phone_sipp_bg "$2" "$1" "$9" $PHONE "$3" "$4:5060" -s "$5" -d "${11}"
  CALLER_PID=$SIPP_PID
  wait_until 10 "grep -q '^SIP/2.0 200' '$SB_OUT/$1.msg' 2>/dev/null &&
    grep -q '^INVITE ' '$SB_OUT/$6.msg' 2>/dev/null" && return 0
  kill "$CALLER_PID" "$CALLEE_PID" 2>/dev/null
  wait "$CALLER_PID" "$CALLEE_PID" 2>/dev/null
  CALLER_PID=none CALLEE_PID=none
  return 1
}
# ended PID: the SIPp of a call that went through ended without error
ended() { [ "$1" != none ] && wait_pid "$1"; }
# media NAME_A NS_A NAME_B NS_B: rtp_peer in each phone's namespace, 50 packets each way
# to the address its SDP names (mediad's); results in $SB_OUT/NAME.rtp
media() {
  local am bm p
  am=$(media_of "$1") bm=$(media_of "$3")
  in_ns "$2" "$SB_TOOLS/rtp_peer" -b $PHONE -t "$am" -n 50 -w 2500 >"$SB_OUT/$1.rtp" 2>&1 &
  p=$!
  in_ns "$4" "$SB_TOOLS/rtp_peer" -b $PHONE -t "$bm" -n 50 -w 2500 >"$SB_OUT/$3.rtp" 2>&1
  wait $p
}

# ---- (a) both phones at 172.31.1.1 ----
check "phone A registers 1001 at 172.31.1.1" reg pa reg-a 1001 172.31.1.1 $A_PORT
check_eq "phone A got 200" 200 "$(status_of reg-a)"
check "phone A's 200 says router A sent it (received=172.31.1.2)" \
  grep -q 'received=172.31.1.2' <<<"$(hdr reg-a 1 Via)"
check "phone B, behind router B, registers 1002 at 172.31.1.1 and gets its answer from there" \
  reg pb reg-b1 1002 172.31.1.1 $B_PORT
check_eq "phone B got 200" 200 "$(status_of reg-b1)"
check "phone B's 200 says router B sent it (received=172.31.2.2)" \
  grep -q 'received=172.31.2.2' <<<"$(hdr reg-b1 1 Via)"
# phone B registered through 172.31.1.1 is called from 172.31.1.1, whichever link it uses
if call call0-a pa 5081 172.31.1.1 1002 call0-b pb $B_PORT nat_uac.xml uas_answer.xml 300; then
  ok "phone B, registered through 172.31.1.1, rings for sip:1002@172.31.1.1"
else
  not_ok "phone B, registered through 172.31.1.1, rings for sip:1002@172.31.1.1"
fi
check "the INVITE's top Via names 172.31.1.1:5060, where phone B registered" \
  grep -q '^SIP/2.0/UDP 172.31.1.1:5060;' <<<"$(hdr call0-b 1 Via)"
check "and its Contact" grep -q '@172.31.1.1:5060' <<<"$(hdr call0-b 1 Contact)"
check "phone A hangs up; phone B got the BYE" ended "$CALLEE_PID"
check "phone A's BYE was answered" ended "$CALLER_PID"

# ---- (b) phone B at its own link's address ----
check "phone B registers sip:1002@172.31.2.1 at 172.31.2.1" reg pb reg-b2 1002 172.31.2.1 $B_PORT 2
check_eq "phone B got 200" 200 "$(status_of reg-b2)"
check_eq "through 172.31.1.1 or 172.31.2.1, one AOR and one binding (sip:1002@localhost)" 1 \
  "$(redis hlen 'sb:reg:{sip:1002@localhost}')"

# 1: A calls sip:1002@172.31.1.1, B answers, A hangs up
rx0=$(counter mediad media_rx_packets) ina0=$(ns_counted pa) inb0=$(ns_counted pb)
if call call1-a pa 5082 172.31.1.1 1002 call1-b pb $B_PORT nat_uac.xml uas_answer.xml 5000; then
  ok "phone B rings and answers a call from A to sip:1002@172.31.1.1"
else
  not_ok "phone B rings and answers a call from A to sip:1002@172.31.1.1"
fi
check_eq "the INVITE reaching phone B names its registration's contact" \
  "INVITE sip:1002@$PHONE:$B_PORT SIP/2.0" \
  "$(tr -d '\r' <"$SB_OUT/call1-b.msg" | grep -m1 '^INVITE ')"
check "its top Via names 172.31.2.1:5060, the address phone B uses" \
  grep -q '^SIP/2.0/UDP 172.31.2.1:5060;' <<<"$(hdr call1-b 1 Via)"
check "its Contact names 172.31.2.1:5060" grep -q '@172.31.2.1:5060' <<<"$(hdr call1-b 1 Contact)"
check "phone A's 200 has a Contact at 172.31.1.1:5060, the address phone A uses" \
  grep -q '@172.31.1.1:5060' <<<"$(rx_hdr call1-a 'SIP/2.0 200' Contact)"
media call1-a pa call1-b pb
check_eq "RTP A -> B: 50 packets, payload intact" "50 50" \
  "$(rtp_field call1-b.rtp received) $(rtp_field call1-b.rtp intact)"
check_eq "RTP B -> A: 50 packets, payload intact" "50 50" \
  "$(rtp_field call1-a.rtp received) $(rtp_field call1-a.rtp intact)"
check "mediad relayed them (media_rx_packets grew by 100 or more)" \
  test "$(($(counter mediad media_rx_packets) - rx0))" -ge 100
check "phone A's namespace counted 50 packets of media from 172.31.1.1" \
  test "$(($(ns_counted pa) - ina0))" -ge 50
check "phone B's namespace counted 50 packets of media from 172.31.1.1" \
  test "$(($(ns_counted pb) - inb0))" -ge 50
check "phone A hangs up: its BYE is answered" ended "$CALLER_PID"
check "phone B got the BYE and ended the call without error" ended "$CALLEE_PID"
check_eq "phone B received INVITE ACK BYE" "INVITE ACK BYE" "$(msgs call1-b received)"
check "the BYE names 172.31.2.1 in its Via" grep -q '^SIP/2.0/UDP 172.31.2.1:5060;' \
  <<<"$(rx_hdr call1-b 'BYE ' Via)"

# 2: B calls sip:1001@172.31.2.1, A answers and hangs up: our BYE reaches the NATed caller
rx0=$(counter mediad media_rx_packets)
if call call2-b pb 5083 172.31.2.1 1001 call2-a pa $A_PORT nat_uac_wait_bye.xml uas_answer_bye.xml 5000; then
  ok "phone A rings and answers a call from B to sip:1001@172.31.2.1"
else
  not_ok "phone A rings and answers a call from B to sip:1001@172.31.2.1"
fi
check "the INVITE reaching phone A names 172.31.1.1:5060 in its top Via" \
  grep -q '^SIP/2.0/UDP 172.31.1.1:5060;' <<<"$(hdr call2-a 1 Via)"
check "and in its Contact" grep -q '@172.31.1.1:5060' <<<"$(hdr call2-a 1 Contact)"
check "phone B's 200 has a Contact at 172.31.2.1:5060" \
  grep -q '@172.31.2.1:5060' <<<"$(rx_hdr call2-b 'SIP/2.0 200' Contact)"
media call2-b pb call2-a pa
check_eq "RTP B -> A: 50 packets, payload intact" "50 50" \
  "$(rtp_field call2-a.rtp received) $(rtp_field call2-a.rtp intact)"
check_eq "RTP A -> B: 50 packets, payload intact" "50 50" \
  "$(rtp_field call2-b.rtp received) $(rtp_field call2-b.rtp intact)"
check "mediad relayed them" test "$(($(counter mediad media_rx_packets) - rx0))" -ge 100
check "phone A hangs up: its BYE is answered 200" ended "$CALLEE_PID"
check "phone B, the caller, got our BYE through router B and answered it" ended "$CALLER_PID"
check_eq "phone B received 200 then BYE" "200 BYE" "$(msgs call2-b received | grep -o '200 BYE$')"
check "that BYE names 172.31.2.1 in its Via" grep -q '^SIP/2.0/UDP 172.31.2.1:5060;' \
  <<<"$(rx_hdr call2-b 'BYE ' Via)"

# 3: B calls A again and hangs up: our BYE reaches phone A
if call call3-b pb 5084 172.31.2.1 1001 call3-a pa $A_PORT nat_uac.xml uas_answer.xml 300; then
  ok "phone B calls A again"
else
  not_ok "phone B calls A again"
fi
check "phone B hangs up: its BYE is answered" ended "$CALLER_PID"
check "phone A got our BYE through router A" ended "$CALLEE_PID"
check_eq "phone A received INVITE ACK BYE" "INVITE ACK BYE" "$(msgs call3-a received)"
check "that BYE names 172.31.1.1 in its Via" grep -q '^SIP/2.0/UDP 172.31.1.1:5060;' \
  <<<"$(rx_hdr call3-a 'BYE ' Via)"
check "no media session is left" wait_until 5 '[ "$(counter mediad media_sessions)" = 0 ]'
finish
