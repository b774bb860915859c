#!/usr/bin/env bash
# RFC 5626 outbound and RFC 3327 Path at the registrar: two flows of one instance (reg-id
# 1 and 2, over TCP) are two bindings; a new flow of reg-id 1 replaces its binding; a call
# rings one flow of the instance (the newest) and, when that flow's connection is gone,
# the other one; CRLF and STUN keepalives are answered; a Path is echoed, stored and used
# as the Route of the call to that binding.
. "$(dirname "$0")/lib.sh"

new_confdir outbound
sb start >/dev/null || { not_ok "start"; finish; }
wait_sip_ready
FP=$SB_TOOLS/flow_peer
SS=$SB_TOOLS/sip_send
R() { redis-cli -s "$CONF/run/private/redis.sock" "$@"; }
INST='<urn:uuid:00000000-0000-1000-8000-000A95A0E128>'

reg_flow() { # FILE REG-ID CALL-ID: a REGISTER of 1201 on a flow ([port]: the flow's own)
  sed 's/$/\r/' >"$1" <<EOF2
REGISTER sip:127.0.0.1:$SIP_PORT;transport=tcp SIP/2.0
Via: SIP/2.0/TCP 127.0.0.1:[port];branch=z9hG4bK-ob-$3
From: <sip:1201@example.com>;tag=ob$2
To: <sip:1201@example.com>
Call-ID: $3
CSeq: 1 REGISTER
Supported: path, outbound
Contact: <sip:1201@127.0.0.1:[port];transport=tcp;ob>;reg-id=$2;+sip.instance="$INST"
Expires: 600
Max-Forwards: 70
Content-Length: 0

EOF2
}
invite() { # FILE USER TAG: an INVITE from a UDP caller (answers are not awaited)
  sed 's/$/\r/' >"$1" <<EOF2
INVITE sip:$2@example.com SIP/2.0
Via: SIP/2.0/UDP 127.0.0.1:$CALLER;branch=z9hG4bK-ob-inv-$3;rport
From: <sip:1000@example.com>;tag=c$3
To: <sip:$2@example.com>
Call-ID: ob-inv-$3
CSeq: 1 INVITE
Contact: <sip:1000@127.0.0.1:$CALLER>
Max-Forwards: 70
Content-Length: 0

EOF2
}
CALLER=$(free_port)
reg_flow "$SB_OUT/ob-reg1.sip" 1 ob-flow-1
reg_flow "$SB_OUT/ob-reg2.sip" 2 ob-flow-2
reg_flow "$SB_OUT/ob-reg1b.sip" 1 ob-flow-1b
invite "$SB_OUT/ob-inv1.sip" 1201 1
invite "$SB_OUT/ob-inv2.sip" 1201 2

# One run of the peer holds the flows open across the steps: connection 0 is flow 1,
# 1 is flow 2, 2 is flow 1 again (a new connection); the callers' INVITEs go in between.
coproc PEER { "$FP" -w 3000 127.0.0.1 "$SIP_PORT" \
  open:0 send:0:"$SB_OUT/ob-reg1.sip" read:0 \
  quiet:0:20 open:1 send:1:"$SB_OUT/ob-reg2.sip" read:1 quiet:1:20 \
  open:2 send:2:"$SB_OUT/ob-reg1b.sip" read:2 close:0 \
  crlf:1 stun quiet:1:300 \
  answer:2:486 quiet:1:1500 read:2 close:2 \
  answer:1:486 read:1 2>&1; }
peer=$PEER_PID
exec 3<&"${PEER[0]}"
out=""
readline() { local l; IFS= read -r -t 15 l <&3 || return 1; out+="$l"$'\n'; }
until grep -q "^stun mapped\|^stun no\|^stun bad" <<<"$out"; do readline || break; done
check "flow 1's REGISTER gets 200" grep -q "^<<< 0 SIP/2.0 200" <<<"$out"
check "the 200 says Require: outbound" grep -q "^0| Require: outbound" <<<"$out"
check "the 200 gives the keepalive interval as Flow-Timer" grep -q "^0| Flow-Timer: 30" <<<"$out"
check "the 200 lists the contact with its reg-id and instance" \
  grep -q "^0| Contact: <sip:1201@127.0.0.1:[0-9]*;transport=tcp;ob>;expires=600;reg-id=1;+sip.instance=\"$INST\"" <<<"$out"
check "flow 2's 200 lists two bindings" test "$(grep -c '^1| Contact:' <<<"$out")" = 2
check "flow 1 again from a new connection: still two bindings in its 200" \
  test "$(grep -c '^2| Contact:' <<<"$out")" = 2
check_eq "two bindings in redis, keyed by instance and reg-id" \
  "$INST;reg-id=1 $INST;reg-id=2" "$(R hkeys 'sb:reg:{sip:1201@example.com}' | sort | xargs)"
R hvals "sb:reg:{sip:1201@example.com}" >"$SB_OUT/ob-recs.txt"
port2=$(grep -m1 "^2| Via:" <<<"$out" | sed 's/.*127.0.0.1:\([0-9]*\).*/\1/')
check_eq "reg-id 1's binding is the new connection's" "sip:1201@127.0.0.1:$port2;transport=tcp;ob" \
  "$(R hget 'sb:reg:{sip:1201@example.com}' "$INST;reg-id=1" | jq -r .uri)"
check "a CRLF keepalive on a flow is answered with CRLF" grep -q "^pong 1" <<<"$out"
local_addr=$(grep "^stun local" <<<"$out" | cut -d' ' -f3)
check "a STUN Binding request is answered" grep -q "^stun mapped" <<<"$out"
check_eq "with the request's source as XOR-MAPPED-ADDRESS" "$local_addr" \
  "$(grep '^stun mapped' <<<"$out" | cut -d' ' -f3)"

# A call to 1201: the newest flow (connection 2) rings, flow 2 does not
"$SS" -l "$CALLER" -w 1500 127.0.0.1 "$SIP_PORT" "$SB_OUT/ob-inv1.sip" >"$SB_OUT/ob-inv1.out" &
caller=$!
# (the third of "quiet 1" or an INVITE on 1: the peer's wait on flow 2 during the call)
until [ "$(grep -c '^quiet 1\|^<<< 1 INVITE' <<<"$out")" -ge 3 ]; do readline || break; done
check "the call rings the newest flow of the instance" grep -q "^<<< 2 INVITE sip:1201@127.0.0.1" <<<"$out"
check "and only that one (one flow per instance, RFC 5626 5.3)" \
  test "$(grep -c '^<<< 1 INVITE' <<<"$out")" = 0
wait $caller
# Its connection closed: the next call fails over to flow 2 (reg-id 2)
"$SS" -l "$CALLER" -w 1500 127.0.0.1 "$SIP_PORT" "$SB_OUT/ob-inv2.sip" >"$SB_OUT/ob-inv2.out" &
caller=$!
while readline; do :; done
wait $peer 2>/dev/null
check "with flow 1 gone, the call arrives over flow 2" grep -q "^<<< 1 INVITE sip:1201@127.0.0.1" <<<"$out"
wait $caller
check "the caller hears flow 2's answer" grep -q "^<<< SIP/2.0 486" "$SB_OUT/ob-inv2.out"
printf '%s' "$out" >"$SB_OUT/ob-peer.out"

# Path: a REGISTER through an edge proxy on port PX; the call goes to PX with Route
PX=$(free_port)
PP=$(free_port)
sed 's/$/\r/' >"$SB_OUT/ob-path.sip" <<EOF2
REGISTER sip:127.0.0.1:$SIP_PORT SIP/2.0
Via: SIP/2.0/UDP 127.0.0.1:$PP;branch=z9hG4bK-ob-path;rport
Via: SIP/2.0/UDP 10.1.2.3:5060;branch=z9hG4bK-ob-phone
From: <sip:1202@example.com>;tag=op
To: <sip:1202@example.com>
Call-ID: ob-path-1
CSeq: 1 REGISTER
Supported: path
Path: <sip:127.0.0.1:$PX;lr>
Contact: <sip:1202@10.1.2.3:5060>
Expires: 600
Max-Forwards: 69
Content-Length: 0

EOF2
out=$("$SS" -l "$PP" -w 1000 127.0.0.1 "$SIP_PORT" "$SB_OUT/ob-path.sip")
check "a REGISTER with Path gets 200" grep -q '^<<< SIP/2.0 200' <<<"$out"
check "the 200 echoes the Path (Supported: path)" grep -q "^Path: <sip:127.0.0.1:$PX;lr>" <<<"$out"
check_eq "the binding stores the Path" "<sip:127.0.0.1:$PX;lr>" \
  "$(R hvals 'sb:reg:{sip:1202@example.com}' | jq -r .path)"
rm -f "$SB_OUT/ob-edge.msg"
timeout 20 sipp -sf "$top/tests/sipp/uas_busy.xml" -i 127.0.0.1 -p "$PX" -m 1 -nostdin \
  -timeout 10s -trace_msg -message_file "$SB_OUT/ob-edge.msg" >"$SB_OUT/ob-edge.out" 2>&1 &
edge=$!
invite "$SB_OUT/ob-inv3.sip" 1202 3
sleep 0.3 # sipp binds its port
"$SS" -l "$CALLER" -w 2000 127.0.0.1 "$SIP_PORT" "$SB_OUT/ob-inv3.sip" >"$SB_OUT/ob-inv3.out"
wait $edge
check "the call to the Path binding reaches the edge proxy" \
  grep -q "^INVITE sip:1202@10.1.2.3:5060 SIP/2.0" "$SB_OUT/ob-edge.msg"
check "with the Path as its Route" grep -q "^Route: <sip:127.0.0.1:$PX;lr>" "$SB_OUT/ob-edge.msg"

# A flow that went away (sipd's keepalives) removes its binding only while the binding
# is still on that flow: one that re-registered over another flow stays
RP=$SB_TOOLS/reg_probe
P0=$CONF/run/private/routerd.0
C="sip:1203@127.0.0.1:7001;transport=tcp;reg-id=1;instance=$INST"
"$RP" "$P0" register sip:1203@example.com fg-1 1 --source tcp:127.0.0.1:7001#0 "$C" >/dev/null
"$RP" "$P0" register sip:1203@example.com fg-1 2 --source tcp:127.0.0.1:7002#0 "$C" >/dev/null
"$RP" "$P0" register sip:1203@example.com fg-1 3 --source tcp:127.0.0.1:7001#0 --flow-gone \
  "$C;expires=0" >/dev/null
check_eq "the old flow's end leaves the binding of the new flow" 7002 \
  "$(R hget 'sb:reg:{sip:1203@example.com}' "$INST;reg-id=1" | jq .port)"
"$RP" "$P0" register sip:1203@example.com fg-1 4 --source tcp:127.0.0.1:7002#0 --flow-gone \
  "$C;expires=0" >/dev/null
check_eq "the new flow's end removes it" 0 "$(R hlen 'sb:reg:{sip:1203@example.com}')"

# Outbound flows over TCP are watched like NATed ones: the closed connections' bindings go
set_param nat_keepalive_interval 1s
sb reload >/dev/null
check "the bindings of closed flows are removed at the next keepalive tick" \
  wait_until 10 '[ "$(R hlen "sb:reg:{sip:1201@example.com}")" = 0 ]'

sb stop >/dev/null
finish
