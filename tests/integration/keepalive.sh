#!/usr/bin/env bash
# NAT keepalives: a binding registered from behind NAT over UDP gets an OPTIONS every
# nat_keepalive_interval from the address it registered to, keeps its pinhole while it
# answers, and is removed from the registrar after nat_keepalive_misses unanswered ones;
# a binding not behind NAT gets none. One over TCP is removed when its connection closes.
. "$(dirname "$0")/lib.sh"

new_confdir keepalive
set_param nat_keepalive_interval 1s
set_param nat_keepalive_misses 3
sb start >/dev/null || { not_ok "start"; finish; }
wait_sip_ready
SS=$SB_TOOLS/sip_send
R() { redis-cli -s "$CONF/run/private/redis.sock" "$@"; }
record() { R hvals "sb:reg:{sip:$1@example.com}" | head -1; }

# A phone behind NAT: its Via names 192.168.1.5, its REGISTER comes from 127.0.0.1:PN
PN=$(free_port)
sed 's/$/\r/' >"$SB_OUT/ka-reg.sip" <<EOF2
REGISTER sip:127.0.0.1:$SIP_PORT SIP/2.0
Via: SIP/2.0/UDP 192.168.1.5:5060;branch=z9hG4bK-ka-reg;rport
From: <sip:1009@example.com>;tag=ka1
To: <sip:1009@example.com>
Call-ID: ka-reg-1
CSeq: 1 REGISTER
Contact: <sip:1009@192.168.1.5:5060>
Expires: 600
Max-Forwards: 70
Content-Length: 0

EOF2
out=$("$SS" -l "$PN" -w 1000 127.0.0.1 "$SIP_PORT" "$SB_OUT/ka-reg.sip")
check "the NATed phone's REGISTER gets 200" grep -q '^<<< SIP/2.0 200' <<<"$out"
check_eq "its binding is marked behind NAT" 1 "$(record 1009 | jq .nated)"
# the phone answers the next three keepalives at its NAT's address
rm -f "$SB_OUT/ka-phone.msg"
timeout 30 sipp -sf "$top/tests/sipp/uas_options.xml" -i 127.0.0.1 -p "$PN" -m 3 -nostdin \
  -timeout 20s -timeout_error -trace_msg -message_file "$SB_OUT/ka-phone.msg" \
  >"$SB_OUT/ka-phone.out" 2>&1
check "the phone received three keepalives and answered them" test $? = 0
check "a keepalive is an OPTIONS to its Contact, at its source address" \
  grep -q "^OPTIONS sip:1009@192.168.1.5:5060 SIP/2.0" "$SB_OUT/ka-phone.msg"
check "from the address it registered to (Via 127.0.0.1:$SIP_PORT)" \
  grep -q "^Via: SIP/2.0/UDP 127.0.0.1:$SIP_PORT;branch=z9hG4bKsb" "$SB_OUT/ka-phone.msg"
check_eq "the binding is still there while it answers" 1 "$(record 1009 | jq .nated)"

# A phone not behind NAT (lib.sh's register: its Via is its source) on a port nobody hears
PO=$(free_port)
check "a phone not behind NAT registers" register 1010 "$PO"
check_eq "its binding is not marked behind NAT" 0 "$(record 1010 | jq .nated)"

# the NATed phone has gone: after three unanswered keepalives its binding goes
check "the silent NATed phone's binding is removed" wait_until 15 '[ -z "$(record 1009)" ]'
check "sipd logged why" grep -q "binding sip:1009@192.168.1.5:5060 of sip:1009@example.com removed: no answer to 3 keepalives" "$CONF/run/switchboard.log"
check "the phone not behind NAT was never pinged: its binding stays" test -n "$(record 1010)"
r=$(api /api/v1/registrations/sip:1009@example.com)
check_eq "the API no longer lists the NATed phone" 0 "$(jq '.bindings | length' <<<"$r" 2>/dev/null || echo gone)"

# A phone behind NAT over TCP: reached only over its connection; when the connection
# closes, its flow is gone and so is its binding
sed 's/$/\r/' >"$SB_OUT/ka-tcp.sip" <<EOF2
REGISTER sip:127.0.0.1:$SIP_PORT;transport=tcp SIP/2.0
Via: SIP/2.0/TCP 192.168.1.6:5060;branch=z9hG4bK-ka-tcp;rport
From: <sip:1011@example.com>;tag=ka2
To: <sip:1011@example.com>
Call-ID: ka-tcp-1
CSeq: 1 REGISTER
Contact: <sip:1011@192.168.1.6:5060;transport=tcp>
Expires: 600
Max-Forwards: 70
Content-Length: 0

EOF2
out=$("$SS" -t -w 1500 127.0.0.1 "$SIP_PORT" "$SB_OUT/ka-tcp.sip")
check "the NATed TCP phone's REGISTER gets 200" grep -q '^<<< SIP/2.0 200' <<<"$out"
check "its connection closed: its binding is removed" wait_until 10 '[ -z "$(record 1011)" ]'
check "sipd logged why" grep -q "binding sip:1011@192.168.1.6:5060;transport=tcp of sip:1011@example.com removed: its connection closed" "$CONF/run/switchboard.log"

sb stop >/dev/null
finish
