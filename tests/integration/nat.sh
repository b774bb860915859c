#!/usr/bin/env bash
# Phones behind NAT, in network namespaces this test makes and removes: the cluster runs
# in "node" (SIP on 0.0.0.0:5060, media on 172.31.1.1); a router masquerades (nftables,
# fully random source ports) the phone namespace at 192.168.77.10; a public phone sits on
# the node's other link:
#
#   phone 192.168.77.10 -- router (172.31.1.2) -- 172.31.1.1 node 172.31.2.1 -- 172.31.2.10 pub
#
# In the phone namespace run a SIPp phone (port 5072, user 1001) and baresip, a real
# softphone (port 5060, user 1003: auto-answer, a 440 Hz sine as its microphone, no sound
# device); pub is user 1002 (SIPp). The router drops whatever does not come from the very
# address and port a phone sent to, and no port a phone announces (SIP Contact, SDP) is
# open from outside: a request reaches a phone only through the pinhole its REGISTER
# opened (the node must send it to the source address, not to the Contact), RTP only
# once mediad latches to the router's address although the SDP says 192.168.77.10.
# Asserted: the binding's stored source (the router's address and the port its
# connection tracking gave) and NAT flag; calls each way with RTP counted both ways
# (rtp_peer, mediad's per-side stats, baresip's own count, nftables counters in the phone
# namespace); our BYE reaching the NATed phone as callee and as caller, and its own BYE
# answered. A second baresip registers over TCP and is called over its own connection.
. "$(dirname "$0")/lib.sh"
. "$top/tests/tools/netns.sh"
netns_require

PHONE=192.168.77.10 PUB_IP=172.31.2.10
ns_add node; ns_add rt; ns_add ph; ns_add pub
ns_link node n1 172.31.1.1/24 rt wan 172.31.1.2/24
ns_link node n2 172.31.2.1/24 pub eth0 $PUB_IP/24
ns_link rt lan 192.168.77.1/24 ph eth0 $PHONE/24
ip -n "$(ns rt)" route add default via 172.31.1.1
ip -n "$(ns ph)" route add default via 192.168.77.1
ip -n "$(ns pub)" route add default via 172.31.2.1
ns_masquerade rt wan 192.168.77.0/24 || { not_ok "the router masquerades"; finish; }
ns_count_from ph 172.31.1.1

node_confdir nat node
set_param media_address 172.31.1.1
# no OPTIONS keepalives: a SIPp phone answers only the messages of its scenario (the
# router keeps the phones' mappings 180 s, longer than the test)
set_param nat_keepalive_interval 0
set_param log_level debug
sb start >/dev/null || { not_ok "the cluster starts in the node's namespace"; finish; }
wait_sip_ready

S=ph:$PHONE:5072 P=pub:$PUB_IP:5074
NATED='(.nated == true or .nated == 1)' # a record's NAT flag (stored as 1 or 0)
# binding USER CONTACT_PREFIX: the stored record (JSON) of USER's contact starting so,
# whatever the AOR's domain (multihome.sh asserts the canonical one)
binding() {
  local k
  for k in $(redis --scan --pattern "sb:reg:{sip:$1@*}"); do
    redis hgetall "$k" | awk -v c="$2" 'k { print; exit } index($0, c) == 1 { k = 1 }'
  done | head -n 1
}
# session_of CALL_ID: the mediad session of a call, from GET /api/v1/sessions
session_of() { api /api/v1/sessions | jq -c --arg c "$1" '.sessions[] | select(.call_id == $c)'; }

# ---- registration through the NAT ----
check "the SIPp phone registers 1001 at 172.31.1.1 through the router" reg reg-s $S 1001 172.31.1.1
check_eq "its 200 came back through the pinhole" 200 "$(sipp_status reg-s)"
mapped=$(ns_nat_port rt $PHONE 5072 172.31.1.1 5060)
diag "the router maps $PHONE:5072 -> 172.31.1.2:${mapped:-?}"
check "the 200's Via says where the REGISTER came from: received=172.31.1.2;rport=$mapped" \
  grep -q "received=172.31.1.2;rport=$mapped\b" <<<"$(hdr reg-s 1 Via)"
rec=$(binding 1001 "sip:1001@$PHONE:5072")
diag "binding: $rec"
check_eq "the binding's source is the router's address and mapped port" "172.31.1.2 $mapped" \
  "$(jq -r '"\(.addr) \(.port)"' <<<"${rec:-{\}}")"
check_eq "and it is marked NATed" true "$(jq "$NATED" <<<"${rec:-{\}}")"
check "the public phone registers 1002 at 172.31.1.1" reg reg-p $P 1002 172.31.1.1
check_eq "its 200 came" 200 "$(sipp_status reg-p)"
rec=$(binding 1002 "sip:1002@$PUB_IP:5074")
check_eq "its binding's source is its own address, not NATed" "$PUB_IP 5074 false" \
  "$(jq -r "\"\\(.addr) \\(.port) \\($NATED)\"" <<<"${rec:-{\}}")"

# ---- 1: pub calls the SIPp phone; pub hangs up ----
rx0=$(ns_counted ph)
check "pub calls sip:1001@172.31.1.1: the NATed phone rings and answers" \
  call call1-p pub:$PUB_IP:5081 172.31.1.1 1001 call1-s $S nat_uac.xml uas_answer.xml 5000
check_eq "the INVITE reached the phone through the pinhole, addressed to its Contact" \
  "INVITE sip:1001@$PHONE:5072 SIP/2.0" "$(tr -d '\r' <"$SB_OUT/call1-s.msg" | grep -m1 '^INVITE ')"
check "its Via and Contact name 172.31.1.1:5060, the address the phone registered at" \
  bash -c "grep -q '^SIP/2.0/UDP 172.31.1.1:5060;' <<<'$(hdr call1-s 1 Via)' &&
           grep -q '@172.31.1.1:5060' <<<'$(hdr call1-s 1 Contact)'"
check "its SDP offers mediad's 172.31.1.1" grep -q '^c=IN IP4 172.31.1.1' "$SB_OUT/call1-s.msg"
media call1-p pub:$PUB_IP call1-s ph:$PHONE
sess=$(session_of "$(hdr call1-p 1 Call-ID)")
check_eq "RTP pub -> phone: 50 packets, payload intact" "50 50" \
  "$(rtp_field call1-s.rtp received) $(rtp_field call1-s.rtp intact)"
check_eq "RTP phone -> pub: 50 packets, payload intact" "50 50" \
  "$(rtp_field call1-p.rtp received) $(rtp_field call1-p.rtp intact)"
check "the phone's namespace counted 50 packets from mediad" test "$(($(ns_counted ph) - rx0))" -ge 50
check "mediad latched the phone (side b) at the router's address though its SDP says $PHONE" \
  grep -q '^172\.31\.1\.2:' <<<"$(jq -r '.b.remote' <<<"${sess:-{\}}")"
check "mediad counted at least 50 packets received from each side" \
  at_least "$(jq "[.a.rx_packets, .b.rx_packets] | min" <<<"${sess:-{\}}")" 50
check "pub hangs up: its BYE is answered" ended "$CALLER_PID"
check "our BYE reached the NATed phone, which answered it" ended "$CALLEE_PID"
check_eq "the phone received INVITE ACK BYE" "INVITE ACK BYE" "$(msgs call1-s received)"

# ---- 2: the SIPp phone calls pub; pub hangs up: our BYE reaches the NATed caller ----
check "the NATed phone calls sip:1002@172.31.1.1 and pub answers" \
  call call2-s ph:$PHONE:5082 172.31.1.1 1002 call2-p $P nat_uac_wait_bye.xml uas_answer_bye.xml 5000
check "the phone's 200 has our Contact at 172.31.1.1:5060" \
  grep -q '@172.31.1.1:5060' <<<"$(rx_hdr call2-s 'SIP/2.0 200' Contact)"
media call2-s ph:$PHONE call2-p pub:$PUB_IP
sess=$(session_of "$(hdr call2-s 1 Call-ID)")
check_eq "RTP phone -> pub: 50 packets, payload intact" "50 50" \
  "$(rtp_field call2-p.rtp received) $(rtp_field call2-p.rtp intact)"
check_eq "RTP pub -> phone: 50 packets, payload intact" "50 50" \
  "$(rtp_field call2-s.rtp received) $(rtp_field call2-s.rtp intact)"
check "mediad latched the caller (side a) at the router's address" \
  grep -q '^172\.31\.1\.2:' <<<"$(jq -r '.a.remote' <<<"${sess:-{\}}")"
check "pub hangs up: its BYE is answered" ended "$CALLEE_PID"
check "our BYE reached the NATed caller, which answered it" ended "$CALLER_PID"
check "the BYE came to the caller's pinhole, addressed to its Contact" \
  grep -q "^BYE sip:alice@$PHONE:5082" "$SB_OUT/call2-s.msg"

# ---- baresip, a real softphone, behind the same router ----
# bs_start NAME USER SIP_PORT CTRL_PORT [URI_PARAMS]: a baresip in the phone namespace
# with its config in $SB_OUT/NAME (account sip:USER@172.31.1.1 URI_PARAMS, auto-answer;
# a sine for microphone, no sound device; ctrl_tcp on CTRL_PORT); its log in NAME/log.
bs_start() {
  local d=$SB_OUT/$1
  mkdir -p "$d"
  cat >"$d/config" <<EOF
poll_method epoll
sip_listen $PHONE:$3
audio_source ausine,440
ausrc_srate 48000
ausrc_channels 2
audio_player aubridge,nowhere
audio_alert aubridge,nowhere
statmode_default off
rtp_stats yes
module_path /usr/lib/baresip/modules
module g711.so
module ausine.so
module aubridge.so
module_tmp account.so
module_app menu.so
module_app ctrl_tcp.so
ctrl_tcp_listen 127.0.0.1:$4
EOF
  echo "<sip:$2@172.31.1.1${5:-}>;regint=600;answermode=auto;audio_codecs=PCMU" >"$d/accounts"
  echo "$4" >"$d/ctrl_port"
  : >"$d/log"
  in_ns ph baresip -f "$d" </dev/null >"$d/log" 2>&1 &
}
# bs NAME COMMAND [PARAMS]: one command to baresip NAME over its ctrl_tcp socket (a
# netstring of JSON); the answer, with the events that came meanwhile, in NAME/ctrl.log
bs() {
  local m d=$SB_OUT/$1
  m=$(jq -nc --arg c "$2" --arg p "${3:-}" '{command: $c, params: $p, token: $c}')
  in_ns ph bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$2" || exit 1
    printf "%d:%s," "${#1}" "$1" >&3; timeout 1 cat <&3; echo' _ "$m" "$(cat "$d/ctrl_port")" \
    >>"$d/ctrl.log" 2>&1
}
# baresip NAME's own count of the RTP packets it received in the last call that ended
bs_received() { awk '/^packets:/ { r = $3 } END { print r + 0 }' "$SB_OUT/$1/log"; }
bs_calls_ended() { grep -c 'terminated (duration' "$SB_OUT/$1/log"; }
BS=$SB_OUT/baresip

command -v baresip >/dev/null || { not_ok "baresip is installed (make deps)"; finish; }
bs_start baresip 1003 5060 4444
check "baresip registers 1003 through the router" \
  wait_until 10 'grep -q "1003@172.31.1.1: .* 200 OK" "$BS/log"'
mapped=$(ns_nat_port rt $PHONE 5060 172.31.1.1 5060)
rec=$(binding 1003 "sip:1003")
diag "baresip's binding: $rec"
check_eq "baresip's binding: the router's address and mapped port, NATed" "172.31.1.2 $mapped true" \
  "$(jq -r "\"\\(.addr) \\(.port) \\($NATED)\"" <<<"${rec:-{\}}")"

# 3: pub calls baresip, baresip answers by itself, pub hangs up
rx0=$(ns_counted ph) ended0=$(bs_calls_ended baresip)
check "pub calls sip:1003@172.31.1.1: baresip answers" \
  call call3-p pub:$PUB_IP:5083 172.31.1.1 1003 - - nat_uac.xml - 5000
rtp call3-p pub:$PUB_IP "$(media_of call3-p)"
sess=$(session_of "$(hdr call3-p 1 Call-ID)")
check "pub hears baresip's sine through mediad (25 packets or more in 2.5 s)" \
  at_least "$(rtp_field call3-p.rtp received)" 25
check "mediad latched baresip (side b) at the router's address" \
  grep -q '^172\.31\.1\.2:' <<<"$(jq -r '.b.remote' <<<"${sess:-{\}}")"
check "mediad received baresip's RTP (side b rx_packets $(jq '.b.rx_packets' <<<"${sess:-{\}}"))" \
  test "$(jq '.b.rx_packets // 0' <<<"${sess:-{\}}")" -ge 25
check "pub hangs up: baresip answered our BYE" ended "$CALLER_PID"
check "baresip ended the call" wait_until 5 '[ "$(bs_calls_ended baresip)" -gt "$ended0" ]'
check "baresip counted the 50 packets pub sent (received $(bs_received baresip))" test "$(bs_received baresip)" -ge 50
check "the phone's namespace counted them from mediad" test "$(($(ns_counted ph) - rx0))" -ge 50

# 4: baresip calls pub and hangs up
ended0=$(bs_calls_ended baresip)
phone_sipp_bg pub call4-p uas_answer.xml $PUB_IP 5074 172.31.1.1:5060
CALLEE_PID=$SIPP_PID
wait_until 5 "in_ns pub ss -Hlnu 'sport = :5074' | grep -q ."
bs baresip dial sip:1002@172.31.1.1
check "baresip calls sip:1002@172.31.1.1 and pub answers" \
  wait_until 10 'grep -q "Call established: sip:1002@172.31.1.1" "$BS/log"'
rtp call4-p pub:$PUB_IP "$(media_of call4-p)"
check "pub hears baresip (25 packets or more)" at_least "$(rtp_field call4-p.rtp received)" 25
bs baresip hangup
check "baresip hangs up: pub got its BYE and answered" ended "$CALLEE_PID"
check_eq "pub received INVITE ACK BYE" "INVITE ACK BYE" "$(msgs call4-p received)"
check "baresip ended the call" wait_until 5 '[ "$(bs_calls_ended baresip)" -gt "$ended0" ]'
check "baresip counted the 50 packets pub sent (received $(bs_received baresip))" test "$(bs_received baresip)" -ge 50

# 5: baresip over TCP: registered over its own connection, called over it (the router
# lets in no new connection), pub hangs up
bs_start baresip-tcp 1004 5062 4445 ";transport=tcp"
check "baresip registers 1004 over TCP through the router" \
  wait_until 10 'grep -q "1004@172.31.1.1: .* 200 OK" "$SB_OUT/baresip-tcp/log"'
rec=$(binding 1004 "sip:1004")
diag "its binding: $rec"
check_eq "its binding: TCP from the router's address, NATed" "tcp 172.31.1.2 true" \
  "$(jq -r "\"\\(.transport) \\(.addr) \\($NATED)\"" <<<"${rec:-{\}}")"
ended0=$(bs_calls_ended baresip-tcp)
check "pub calls sip:1004@172.31.1.1: the INVITE reaches baresip over its connection, it answers" \
  call call5-p pub:$PUB_IP:5085 172.31.1.1 1004 - - nat_uac.xml - 3000
rtp call5-p pub:$PUB_IP "$(media_of call5-p)"
check "pub hears baresip (25 packets or more)" at_least "$(rtp_field call5-p.rtp received)" 25
check "pub hangs up: baresip answered our BYE" ended "$CALLER_PID"
check "baresip ended the call" wait_until 5 '[ "$(bs_calls_ended baresip-tcp)" -gt "$ended0" ]'
check "baresip counted the 50 packets pub sent (received $(bs_received baresip-tcp))" \
  test "$(bs_received baresip-tcp)" -ge 50

check "no media session is left" wait_until 5 '[ "$(counter mediad media_sessions)" = 0 ]'
bs baresip quit
bs baresip-tcp quit
finish
