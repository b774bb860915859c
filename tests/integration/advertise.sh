#!/usr/bin/env bash
# A node behind 1:1 NAT: with sip_advertise and media_address = LOCAL!PUBLIC, every Via
# and Contact it sends names the public SIP address and every SDP the public media
# address, while it binds and answers on its local ones.
. "$(dirname "$0")/lib.sh"

new_confdir advertise
set_param sip_advertise "203.0.113.10"
set_param media_address "127.0.0.1!203.0.113.20"
sb start >/dev/null || { not_ok "start"; finish; }
wait_sip_ready

PB=$(free_port)
check "1001 registers" register 1001 "$PB"
callee adv-b uas_answer.xml "$PB"
sleep 0.2
check "a call through the node is answered and hung up" \
  sipp_run adv-a uac_call.xml -s 1001 -cid_str "adv-%u"
wait_pid "$CALLEE_PID"
check "the callee's INVITE has our Via at the public address" \
  bash -c "grep -q '^Via: SIP/2.0/UDP 203.0.113.10:$SIP_PORT;' '$SB_OUT/adv-b.msg'"
check "and our Contact at the public address" \
  grep -q "^Contact: <sip:sb@203.0.113.10:$SIP_PORT>" "$SB_OUT/adv-b.msg"
check "and an SDP with the public media address (c= and o=)" bash -c \
  "grep -q '^c=IN IP4 203.0.113.20' '$SB_OUT/adv-b.msg' && grep -q '^o=.* IN IP4 203.0.113.20' '$SB_OUT/adv-b.msg'"
check "the caller's 200 has our Contact and SDP at the public addresses" bash -c \
  "grep -q '^Contact: <sip:sb@203.0.113.10:$SIP_PORT>' '$SB_OUT/adv-a.msg' && grep -q '^c=IN IP4 203.0.113.20' '$SB_OUT/adv-a.msg'"
# what the phones received from us, without what they sent
received() { tr -d '\r' <"$SB_OUT/$1.msg" | awk '/message received/ { r = 1; next } /message sent/ { r = 0 } r'; }
check "nothing we sent names 127.0.0.1 in a Via, Contact, origin or connection" bash -c \
  "! { $(declare -f received); SB_OUT='$SB_OUT'; received adv-a; received adv-b; } |
     grep -E '^(Via: SIP/2.0/UDP 127\.0\.0\.1:$SIP_PORT|Contact: <sip:sb@127|o=.* 127\.0\.0\.1|c=IN IP4 127\.0\.0\.1)'"

sb stop >/dev/null
finish
