#!/usr/bin/env bash
# The attacks of docs/security.md's guard sections, replayed as they were seen on the wire,
# each refused: a dialed number that steers a gateway call to another host (484, the
# gateway's Request-URI user escaped), a BYE or REFER that knows only the Call-ID (481, also
# once the call is restored from Redis), a display name that names a domain (480), a
# call to a contact that points back at us (Max-Forwards carried minus one, our own INVITE
# refused 482), a forged 200 OK whose Contact names a victim (dropped: nothing sent to it),
# INVITE retransmissions to a silent contact (within Timer B), and registrations whose
# Contact names us, loopback, link-local or multicast (403 saying which), or asks for TCP
# at an internal or another host's address (reached on the registration's own flow, never
# by a new connection).
. "$(dirname "$0")/lib.sh"
PEER=$top/tests/tools/sip_peer.py
# the interpreter itself, without site (a version manager's shim costs a fork and an exec)
PY=$(python3 -c 'import sys; print(sys.executable)')
sip_peer() { "$PY" -S "$PEER" "$@"; }

new_confdir guard
GW=$(free_port)    # the carrier of gateway/carrier
ROGUE=$(free_port) # where an attacker wants our calls to go
cat >"$CONF/dialplan.json" <<JSON
{"version": "1", "routes": [
  {"id": "users", "pattern": "1???", "priority": 10, "actions": [
    {"type": "dial", "params": {"target": "user/\${destination}", "timeout": 2}}]},
  {"id": "byname", "pattern": "8*", "priority": 15, "actions": [
    {"type": "dial", "params": {"target": "user/\${caller_name}", "timeout": 2}}]},
  {"id": "uri", "pattern": "7*", "priority": 20, "actions": [
    {"type": "dial", "params": {"target": "sip:\${destination}@127.0.0.1:$GW", "timeout": 3}}]},
  {"id": "out", "pattern": "*", "priority": 100, "actions": [
    {"type": "dial", "params": {"target": "gateway/carrier", "timeout": 3}}]}
]}
JSON
set_param dialplan_gateways "carrier=sip:127.0.0.1:$GW"
set_param sip_t1 50ms # Timer B (64*T1) 3.2 s: the retransmissions to a silent peer end soon
set_param log_level debug
sb start >/dev/null || { not_ok "start"; finish; }
wait_sip_ready

# peer NAME PORT SECONDS [--answer|--busy] [--tcp]: a logging SIP peer in the background
# ($SB_OUT/NAME.log: "SRC_PORT LEN START-LINE" per message); peer_stop NAME ends it.
declare -A PEER_PID
peer() {
  local name=$1 port=$2 secs=$3; shift 3
  rm -f "$SB_OUT/$name.log" "$SB_OUT/$name.log.stop" "$SB_OUT/$name.log.msgs"
  sip_peer listen "$port" "$secs" "$SB_OUT/$name.log" "$@" &
  PEER_PID[$name]=$!
  EXTRA_PIDS="${EXTRA_PIDS:-} $!"
  wait_until 5 '[ -s "$SB_OUT/$name.log" ]'
}
peer_stop() { touch "$SB_OUT/$1.log.stop"; wait "${PEER_PID[$1]}" 2>/dev/null; }
# seen NAME PATTERN: how many messages peer NAME received whose start line matches
seen() { grep -v '^#' "$SB_OUT/$1.log" 2>/dev/null | awk '{ $1 = $2 = ""; print }' | grep -c -- "$2"; }
# bytes NAME: the bytes peer NAME received
bytes() { grep -v '^#' "$SB_OUT/$1.log" 2>/dev/null | awk '{ n += $2 } END { print n + 0 }'; }

# send OUT FROM_PORT SECONDS EXPECT: the messages on stdin (separated by "----") from
# 127.0.0.1:FROM_PORT to our SIP port; what came back goes to $SB_OUT/OUT.out.
send() {
  sip_peer send 127.0.0.1 "$SIP_PORT" "$3" --from "$2" --expect "$4" >"$SB_OUT/$1.out"
}
# final OUT: the status of the last final response in OUT.out
final() { grep '^<<< SIP/2.0 [2-6]' "$SB_OUT/$1.out" | tail -1 | awk '{ print $3 }'; }
not_grep() { ! grep -q -- "$1" "$2"; }
# reason OUT: the reason phrase of that response
reason() { grep '^<<< SIP/2.0 [2-6]' "$SB_OUT/$1.out" | tail -1 | cut -d' ' -f4-; }

# invite USER FROM_PORT CALL_ID [MAX_FORWARDS]: an INVITE with an SDP offer
invite() {
  cat <<EOF
INVITE sip:$1@${DOM:-example.com} SIP/2.0
Via: SIP/2.0/UDP 127.0.0.1:$2;branch=z9hG4bK-$3;rport
Max-Forwards: ${4:-70}
From: ${FROM_NAME:+$FROM_NAME }<sip:alice@example.com>;tag=a-$3
To: <sip:$1@${DOM:-example.com}>
Call-ID: $3
CSeq: 1 INVITE
Contact: <sip:alice@127.0.0.1:$2>
Content-Type: application/sdp

v=0
o=alice 1 1 IN IP4 127.0.0.1
s=-
c=IN IP4 127.0.0.1
t=0 0
m=audio 40000 RTP/AVP 0
a=rtpmap:0 PCMU/8000
EOF
}

# ---- a dialed number steers a gateway call ----
PA=$(free_port)
peer gw "$GW" 40 --busy
peer rogue "$ROGUE" 40 --busy
# as seen: the number 127.0.0.1:PORT;x (written as it was, and escaped)
invite "127.0.0.1:$ROGUE;x" "$PA" guard-steer | send steer "$PA" 3 1
check_eq "a gateway call to an address, not a number, gets 484" 484 "$(final steer)"
invite "127.0.0.1%3A$ROGUE%3Bx" "$PA" guard-steer-esc | send steer-esc "$PA" 3 1
check_eq "... written escaped, 484 too" 484 "$(final steer-esc)"
invite "5551234" "$PA" guard-gw | send gw "$PA" 3 1
check_eq "a gateway call to a number goes to the carrier (its 486 back)" 486 "$(final gw)"
check_eq "... whose Request-URI is sip:NUMBER@carrier" 1 \
  "$(seen gw "^ *INVITE sip:5551234@127.0.0.1:$GW SIP/2.0")"
invite "7x;maddr=127.0.0.1" "$PA" guard-uri | send uri "$PA" 3 1
check_eq "a sip: target's \${destination} with a ';' still goes to its host" 486 "$(final uri)"
check_eq "... escaped in the Request-URI user: no parameter of the caller's" 1 \
  "$(seen gw "^ *INVITE sip:7x%3Bmaddr%3D127.0.0.1@127.0.0.1:$GW SIP/2.0")"
check_eq "the gateway got only those two calls" 2 "$(seen gw "^ *INVITE")"
check_eq "the attacker's host received nothing" 0 "$(seen rogue .)"
check "routerd said why it answered 484" grep -q "may not go to a gateway" "$LOG"
# user/${caller_name} with a display name that names a domain: the template's '@' only
FROM_NAME='"1001@evil.example"' invite 8000 "$PA" guard-byname | send byname "$PA" 3 1
check_eq "a user/ target whose variable brings an '@' cannot be expanded: 480" 480 \
  "$(final byname)"
check "... and no location of another domain was read" \
  not_grep "location sip:1001@evil.example" "$LOG"
peer_stop rogue

# ---- Max-Forwards is carried to the B leg ----
invite "5550001" "$PA" guard-mf 5 | send mf "$PA" 3 1
invite "5550002" "$PA" guard-mf1 1 | send mf1 "$PA" 3 1
invite "5550003" "$PA" guard-mf0 0 | send mf0 "$PA" 3 1
peer_stop gw
mf_of() { awk -v u="$1" '$1 == "INVITE" && index($2, "sip:" u "@") == 1 { want = 1 }
  want && /^Max-Forwards:/ { print $2; exit }' "$SB_OUT/gw.log.msgs"; }
check_eq "an INVITE with Max-Forwards 5 reaches the gateway with 4" 4 "$(mf_of 5550001)"
check_eq "... with Max-Forwards 1, with 0" 0 "$(mf_of 5550002)"
check_eq "an INVITE with Max-Forwards 0 gets 483" 483 "$(final mf0)"

# ---- a BYE or REFER that knows only the Call-ID ----
PB=$(free_port)
check "1001 registers" register 1001 "$PB"
callee tags-b uas_answer.xml "$PB"
B=$CALLEE_PID
rm -f "$SB_OUT/tags-a.msg"
timeout 30 sipp -sf "$top/tests/sipp/uac_call.xml" -i 127.0.0.1 -p "$(free_port)" -m 1 -d 4000 \
  -timeout 20s -timeout_error -nostdin -trace_msg -message_file "$SB_OUT/tags-a.msg" \
  -s 1001 -cid_str "guard-tags-%u" "127.0.0.1:$SIP_PORT" >"$SB_OUT/tags-a.out" 2>&1 &
A=$!
check "a call is established" wait_until 5 'grep -q "^ACK " "$SB_OUT/tags-b.msg" 2>/dev/null'
PX=$(free_port)
in_dialog() { # METHOD TO_PARAMS FROM_TAG CSEQ: a third party's request in the call
  printf '%s\n' "$1 sip:1001@127.0.0.1:$SIP_PORT SIP/2.0" \
    "Via: SIP/2.0/UDP 127.0.0.1:$PX;branch=z9hG4bK-third-$4;rport" "Max-Forwards: 70" \
    "From: <sip:alice@example.com>;tag=$3" "To: <sip:1001@example.com>$2" \
    "Call-ID: guard-tags-1" "CSeq: $4 $1" "Refer-To: <sip:1002@example.com>"
}
# as seen: no To tag at all; then the caller's real From tag and a guessed To tag
in_dialog BYE "" "x" 10 | send bye-notag "$PX" 3 1
check_eq "a BYE with the Call-ID and no To tag gets 481" 481 "$(final bye-notag)"
ftag=$(tr -d '\r' <"$SB_OUT/tags-a.msg" | awk '/^From:/ { sub(/.*tag=/, ""); print; exit }')
in_dialog BYE ";tag=guessed" "$ftag" 11 | send bye-wrongtag "$PX" 3 1
check_eq "a BYE with the caller's From tag and a wrong To tag gets 481" 481 "$(final bye-wrongtag)"
in_dialog REFER "" "$ftag" 12 | send refer-notag "$PX" 3 1
check_eq "a REFER without our To tag gets 481" 481 "$(final refer-notag)"
# the same once the call is restored from Redis by a dialogd that did not hold it
rcli() { redis-cli -s "$CONF/run/private/redis.sock" "$@"; }
check "the call's record is in Redis" wait_until 5 \
  '[ "$(rcli hget "$(rcli --scan --pattern "sb:dlg:{guard-tags-*" | head -1)" state)" = confirmed ]'
dpid=$(api /api/v1/processes | jq '.processes[] | select(.role=="dialogd") | .pid')
kill -9 "$dpid"
check "master restarts dialogd" wait_until 10 \
  '[ "$(api /api/v1/processes | jq ".processes[] | select(.role==\"dialogd\" and .state==\"ready\") | .pid")" != "$dpid" ]'
wait_sip_ready
in_dialog BYE "" "$ftag" 13 | send bye-restored "$PX" 3 1
check_eq "after the restore from Redis, a BYE without our To tag still gets 481" 481 \
  "$(final bye-restored)"
check "the call goes on: the caller's own BYE ends it" wait_pid "$A"
check "and its callee got that BYE" wait_pid "$B"
check_eq "the callee received INVITE ACK BYE and nothing else" "INVITE ACK BYE" "$(msgs tags-b received)"

# ---- registrations whose Contact names us, loopback, link-local, multicast ----
# reg OUT FROM_IP FROM_PORT USER CONTACT: a REGISTER from FROM_IP:FROM_PORT (of USER@$DOM,
# example.com unless DOM is set; invite too)
reg() {
  printf '%s\n' "REGISTER sip:127.0.0.1:$SIP_PORT SIP/2.0" \
    "Via: SIP/2.0/UDP $2:$3;branch=z9hG4bK-$1;rport" "Max-Forwards: 70" \
    "From: <sip:$4@${DOM:-example.com}>;tag=r-$1" "To: <sip:$4@${DOM:-example.com}>" \
    "Call-ID: guard-$1" \
    "CSeq: 1 REGISTER" "Contact: <$5>" "Expires: 600" |
    sip_peer send 127.0.0.1 "$SIP_PORT" 3 --bind "$2" --from "$3" --expect 1 >"$SB_OUT/$1.out"
}
reg reg-us 127.0.0.1 "$(free_port)" 1090 "sip:1090@127.0.0.1:$SIP_PORT"
check_eq "a Contact at our own SIP address and port gets 403 saying so" \
  "403 Contact names this server" "$(final reg-us) $(reason reg-us)"
reg reg-lo 127.0.0.2 "$(free_port)" 1091 "sip:1091@127.0.0.1:5060"
check_eq "a loopback Contact from another address gets 403 saying so" \
  "403 Contact is a loopback address" "$(final reg-lo) $(reason reg-lo)"
reg reg-ll 127.0.0.1 "$(free_port)" 1092 "sip:1092@169.254.10.10:5060"
check_eq "a link-local Contact gets 403 saying so" "403 Contact is a link-local address" \
  "$(final reg-ll) $(reason reg-ll)"
reg reg-mc 127.0.0.1 "$(free_port)" 1093 "sip:1093@224.0.0.1:5060"
check_eq "a multicast Contact gets 403 saying so" \
  "403 Contact is a multicast or broadcast address" "$(final reg-mc) $(reason reg-mc)"
reg reg-self 127.0.0.2 "$(free_port)" 1094 "sip:1094@127.0.0.2:5060"
check_eq "a loopback Contact at the REGISTER's own address is bound" 200 "$(final reg-self)"
check_eq "no binding was written for the refused ones" "" \
  "$(redis-cli -s "$CONF/run/private/redis.sock" --scan --pattern '*109[0-3]*')"

# ---- ;transport=tcp to an internal address: the registration's own flow, no connection ----
PT=$(free_port)
reg reg-tcp 127.0.0.1 "$PT" 1095 "sip:1095@10.254.0.1:2222;transport=tcp"
check_eq "a Contact at an internal address with transport=tcp is bound" 200 "$(final reg-tcp)"
reg reg-tcp2 127.0.0.1 "$PT" 1098 "sip:1098@192.0.2.55:2222;transport=tcp"
check_eq "... and one at another host's public address" 200 "$(final reg-tcp2)"
peer flow "$PT" 20 --busy
invite 1095 "$PA" guard-tcp | send tcp "$PA" 4 1
check_eq "a call to the internal one is answered on the registration's flow (the phone's 486)" \
  486 "$(final tcp)"
invite 1098 "$PA" guard-tcp2 | send tcp2 "$PA" 4 1
check_eq "a call to the other host's one too" 486 "$(final tcp2)"
check_eq "both INVITEs came over UDP to the REGISTER's source" 2 "$(seen flow "^ *INVITE")"
check_eq "no TCP connection was opened to either address" "" \
  "$(ss -Htn dst 10.254.0.1; ss -Htn dst 192.0.2.55)"
peer_stop flow

# ---- a forged 200 OK whose Contact names a victim ----
VICTIM=$(free_port)
peer victim "$VICTIM" 30
dropped0=$(counter sipd sip_rx_dropped)
printf '%s\n' "SIP/2.0 200 OK" \
  "Via: SIP/2.0/UDP 127.0.0.1:$SIP_PORT;branch=z9hG4bKsb0x00000000deadbeef;rport" \
  "From: <sip:alice@example.com>;tag=forged-from" "To: <sip:bob@example.com>;tag=forged-to" \
  "Call-ID: sbd0.forged0000000000000000" "CSeq: 1 INVITE" \
  "Contact: <sip:victim@127.0.0.1:$VICTIM>" | send forged "$PX" 0.2 0
check "a forged 200 OK that matches no transaction of ours is dropped" \
  wait_until 5 '[ "$(counter sipd sip_rx_dropped)" -gt "$dropped0" ]'

# ---- a 200 OK from elsewhere than where our INVITE went; a silent phone ----
SILENT=$(free_port)
reg reg-silent 127.0.0.1 "$SILENT" 1096 "sip:1096@127.0.0.1:$SILENT"
check_eq "1096 registers (a phone that will not answer)" 200 "$(final reg-silent)"
peer silent "$SILENT" 30
invite 1096 "$PA" guard-silent | sip_peer send 127.0.0.1 "$SIP_PORT" 8 --from "$PA" \
  --expect 1 >"$SB_OUT/silent-a.out" &
SA=$!
check "our INVITE reaches the silent phone" wait_until 5 '[ "$(seen silent "^ *INVITE")" -ge 1 ]'
msg1() { awk -v h="$1" 'index($0, h ":") == 1 { sub(/^[^:]*: */, ""); print; exit }' \
  "$SB_OUT/silent.log.msgs"; }
dropped0=$(counter sipd sip_rx_dropped)
printf '%s\n' "SIP/2.0 200 OK" "Via: $(msg1 Via)" "From: $(msg1 From)" \
  "To: <sip:1096@example.com>;tag=offpath" "Call-ID: $(msg1 Call-ID)" "CSeq: 1 INVITE" \
  "Contact: <sip:victim@127.0.0.1:$VICTIM>" "Content-Type: application/sdp" "" "v=0" \
  "o=x 1 1 IN IP4 127.0.0.1" "s=-" "c=IN IP4 127.0.0.1" "t=0 0" "m=audio 40002 RTP/AVP 0" |
  send offpath "$ROGUE" 0.2 0
check "a 200 OK with our branch from another address is dropped" \
  wait_until 5 '[ "$(counter sipd sip_rx_dropped)" -gt "$dropped0" ]'
wait "$SA"
check_eq "the caller gets no 200 from it (the dial times out: 480)" 480 "$(final silent-a)"
# Timer B (64*T1) ends the INVITE's retransmissions: a client timeout is counted
check "the INVITE to the silent phone is given up at Timer B" \
  wait_until 10 '[ "$(counter sipd sip_client_timeouts)" -ge 1 ]'
n=$(seen silent "^ *INVITE")
check "the silent phone got 2 to 7 INVITEs (T1 doubling within 64*T1): $n" \
  test "$n" -ge 2 -a "$n" -le 7
check "... $(bytes silent) bytes in all (under 8 KB)" test "$(bytes silent)" -lt 8192
check_eq "the victim the forged Contacts named received nothing" 0 "$(seen victim .)"
peer_stop victim
peer_stop silent

# ---- a contact that points back at us: one call, refused as a loop ----
# as seen: the AOR in our served domain (localhost), so the INVITE that comes back to us
# (its Request-URI the contact, 127.0.0.1 is one of our names) finds the same binding
set_param register_contact_allow 127.0.0.1
sb reload >/dev/null
export DOM=localhost
check "with register_contact_allow = 127.0.0.1 a Contact at our address is bound" \
  wait_until 10 'reg reg-loop 127.0.0.1 "$(free_port)" 1097 "sip:1097@127.0.0.1:$SIP_PORT" &&
    [ "$(final reg-loop)" = 200 ]'
calls0=$(counter dialogd calls_started)
invite 1097 "$PA" guard-loop | send loop "$PA" 5 1
unset DOM
check_eq "a call to it is refused: 482 Loop Detected" 482 "$(final loop)"
check_eq "it is one call in dialogd (the INVITE that came back never became one)" 1 \
  "$(($(counter dialogd calls_started) - calls0))"

finish
