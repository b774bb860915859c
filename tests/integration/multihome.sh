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
#     and its 200 must still come from 172.31.1.1. A calls B: the INVITE must come from
#     172.31.1.1, where B registered, though it reaches B over the other link.
# (b) each phone at its own link's address: B registers as sip:1002@172.31.2.1, A calls
#     sip:1002@172.31.1.1 and B rings (one domain for every local address); RTP both ways
#     through mediad; the caller hangs up. Then B calls A at 172.31.2.1: RTP both ways, the
#     callee hangs up (our BYE reaches the NATed caller); a third call B hangs up.
. "$(dirname "$0")/lib.sh"
. "$top/tests/tools/netns.sh"
netns_require

PHONE=192.168.77.10

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
# no OPTIONS keepalives: a SIPp phone answers only the messages of its scenario (the
# router keeps the phones' mappings 180 s, longer than the test)
set_param nat_keepalive_interval 0
set_param log_level debug
sb start >/dev/null || { not_ok "the cluster starts in the node's namespace"; finish; }
wait_sip_ready

A=pa:$PHONE:5072 B=pb:$PHONE:5072 # each phone's SIP port; as callers, a port per call
via_is() { grep -q "^SIP/2.0/UDP $1:5060;" <<<"$2"; }

# ---- (a) both phones at 172.31.1.1 ----
check "phone A registers 1001 at 172.31.1.1" reg reg-a $A 1001 172.31.1.1
check_eq "phone A got 200" 200 "$(sipp_status reg-a)"
check "phone A's 200 says router A sent it (received=172.31.1.2)" \
  grep -q 'received=172.31.1.2' <<<"$(hdr reg-a 1 Via)"
check "phone B, behind router B, registers 1002 at 172.31.1.1 and gets its answer from there" \
  reg reg-b1 $B 1002 172.31.1.1
check_eq "phone B got 200" 200 "$(sipp_status reg-b1)"
check "phone B's 200 says router B sent it (received=172.31.2.2)" \
  grep -q 'received=172.31.2.2' <<<"$(hdr reg-b1 1 Via)"
# phone B registered through 172.31.1.1 is called from 172.31.1.1, whichever link it uses
check "phone B, registered through 172.31.1.1, rings for sip:1002@172.31.1.1 and answers" \
  call call0-a pa:$PHONE:5081 172.31.1.1 1002 call0-b $B nat_uac.xml uas_answer.xml 300
check "the INVITE's top Via names 172.31.1.1:5060, where phone B registered" \
  via_is 172.31.1.1 "$(hdr call0-b 1 Via)"
check "and its Contact" grep -q '@172.31.1.1:5060' <<<"$(hdr call0-b 1 Contact)"
check "phone A hangs up; phone B got the BYE" ended "$CALLEE_PID"
check "phone A's BYE was answered" ended "$CALLER_PID"

# ---- (b) phone B at its own link's address ----
check "phone B registers sip:1002@172.31.2.1 at 172.31.2.1" reg reg-b2 $B 1002 172.31.2.1 2
check_eq "phone B got 200" 200 "$(sipp_status reg-b2)"
check_eq "through 172.31.1.1 or 172.31.2.1, one AOR and one binding (sip:1002@localhost)" 1 \
  "$(redis hlen 'sb:reg:{sip:1002@localhost}')"

# 1: A calls sip:1002@172.31.1.1, B answers, A hangs up
rx0=$(counter mediad media_rx_packets) ina0=$(ns_counted pa) inb0=$(ns_counted pb)
check "phone B rings and answers a call from A to sip:1002@172.31.1.1" \
  call call1-a pa:$PHONE:5082 172.31.1.1 1002 call1-b $B nat_uac.xml uas_answer.xml 5000
check_eq "the INVITE reaching phone B names its registration's contact" \
  "INVITE sip:1002@$PHONE:5072 SIP/2.0" "$(tr -d '\r' <"$SB_OUT/call1-b.msg" | grep -m1 '^INVITE ')"
check "its top Via names 172.31.2.1:5060, the address phone B uses" \
  via_is 172.31.2.1 "$(hdr call1-b 1 Via)"
check "its Contact names 172.31.2.1:5060" grep -q '@172.31.2.1:5060' <<<"$(hdr call1-b 1 Contact)"
check "phone A's 200 has a Contact at 172.31.1.1:5060, the address phone A uses" \
  grep -q '@172.31.1.1:5060' <<<"$(rx_hdr call1-a 'SIP/2.0 200' Contact)"
media call1-a pa:$PHONE call1-b pb:$PHONE
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
check "the BYE names 172.31.2.1 in its Via" via_is 172.31.2.1 "$(rx_hdr call1-b 'BYE ' Via)"

# 2: B calls sip:1001@172.31.2.1, A answers and hangs up: our BYE reaches the NATed caller
rx0=$(counter mediad media_rx_packets)
check "phone A rings and answers a call from B to sip:1001@172.31.2.1" \
  call call2-b pb:$PHONE:5083 172.31.2.1 1001 call2-a $A nat_uac_wait_bye.xml uas_answer_bye.xml 5000
check "the INVITE reaching phone A names 172.31.1.1:5060 in its top Via" \
  via_is 172.31.1.1 "$(hdr call2-a 1 Via)"
check "and in its Contact" grep -q '@172.31.1.1:5060' <<<"$(hdr call2-a 1 Contact)"
check "phone B's 200 has a Contact at 172.31.2.1:5060" \
  grep -q '@172.31.2.1:5060' <<<"$(rx_hdr call2-b 'SIP/2.0 200' Contact)"
media call2-b pb:$PHONE call2-a pa:$PHONE
check_eq "RTP B -> A: 50 packets, payload intact" "50 50" \
  "$(rtp_field call2-a.rtp received) $(rtp_field call2-a.rtp intact)"
check_eq "RTP A -> B: 50 packets, payload intact" "50 50" \
  "$(rtp_field call2-b.rtp received) $(rtp_field call2-b.rtp intact)"
check "mediad relayed them" test "$(($(counter mediad media_rx_packets) - rx0))" -ge 100
check "phone A hangs up: its BYE is answered 200" ended "$CALLEE_PID"
check "phone B, the caller, got our BYE through router B and answered it" ended "$CALLER_PID"
check_eq "phone B received 200 then BYE" "200 BYE" "$(msgs call2-b received | grep -o '200 BYE$')"
check "that BYE names 172.31.2.1 in its Via" via_is 172.31.2.1 "$(rx_hdr call2-b 'BYE ' Via)"

# 3: B calls A again and hangs up: our BYE reaches phone A
check "phone B calls A again" \
  call call3-b pb:$PHONE:5084 172.31.2.1 1001 call3-a $A nat_uac.xml uas_answer.xml 300
check "phone B hangs up: its BYE is answered" ended "$CALLER_PID"
check "phone A got our BYE through router A" ended "$CALLEE_PID"
check_eq "phone A received INVITE ACK BYE" "INVITE ACK BYE" "$(msgs call3-a received)"
check "that BYE names 172.31.1.1 in its Via" via_is 172.31.1.1 "$(rx_hdr call3-a 'BYE ' Via)"
check "no media session is left" wait_until 5 '[ "$(counter mediad media_sessions)" = 0 ]'
finish
