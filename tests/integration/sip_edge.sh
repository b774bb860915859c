#!/usr/bin/env bash
# sipd at the edge of real networks: a UDP socket bound to 0.0.0.0 answers from the
# address that was asked (IP_PKTINFO); a REGISTER from behind NAT (its Via names a
# private address) is stored with nated=1 and the node's local address; a CANCEL whose
# sent-by was rewritten after the INVITE (a phone that learned its public address from
# rport) cancels the call when it comes from the INVITE's source, and gets 481 from any
# other source; a bad sip_advertise keeps sipd from starting.
. "$(dirname "$0")/lib.sh"

new_confdir sip_edge
set_param log_level debug
sed -i "s/^sip_listen_udp = .*/sip_listen_udp = 0.0.0.0:$SIP_PORT/" "$CONF/main.cf"
sb start >/dev/null || { not_ok "start"; finish; }
wait_sip_ready
SS=$SB_TOOLS/sip_send
R() { redis-cli -s "$CONF/run/private/redis.sock" "$@"; }
# sipfile NAME: stdin (LF lines) as a SIP message with CRLF line ends in $SB_OUT/NAME.sip
sipfile() { sed 's/$/\r/' >"$SB_OUT/$1.sip"; }

# ---- answered from the address that was asked ----
P1=$(free_port)
# opt N: an OPTIONS from 127.0.0.1:P1 (branch and Call-ID of its own)
opt() {
  sipfile "edge-opt$1" <<EOF
OPTIONS sip:edge@127.0.0.2:$SIP_PORT SIP/2.0
Via: SIP/2.0/UDP 127.0.0.1:$P1;branch=z9hG4bK-edge-opt$1;rport
From: <sip:probe@127.0.0.1>;tag=eo$1
To: <sip:edge@127.0.0.2>
Call-ID: edge-opt-$1
CSeq: 1 OPTIONS
Max-Forwards: 70
Content-Length: 0

EOF
}
opt 1
opt 2
out=$("$SS" -s -l "$P1" -w 500 127.0.0.2 "$SIP_PORT" "$SB_OUT/edge-opt1.sip")
check_eq "OPTIONS to 127.0.0.2 on a 0.0.0.0 socket: 200" "<<< SIP/2.0 200 OK" \
  "$(grep -m1 '^<<< SIP' <<<"$out" | sed 's/ \[call-id.*//')"
check_eq "... and it comes from 127.0.0.2" "<<< from 127.0.0.2:$SIP_PORT" \
  "$(grep -m1 '^<<< from' <<<"$out")"
out=$("$SS" -s -l "$P1" -w 500 127.0.0.1 "$SIP_PORT" "$SB_OUT/edge-opt2.sip")
check_eq "the same to 127.0.0.1 comes from 127.0.0.1" "<<< from 127.0.0.1:$SIP_PORT" \
  "$(grep -m1 '^<<< from' <<<"$out")"

# ---- a REGISTER from behind NAT: the binding knows ----
# reg NAME USER VIA-HOSTPORT CONTACT-HOSTPORT: a REGISTER from 127.0.0.1:P1 to 127.0.0.2
reg() {
  sipfile "$1" <<EOF
REGISTER sip:127.0.0.2:$SIP_PORT SIP/2.0
Via: SIP/2.0/UDP $3;branch=z9hG4bK-$1;rport
From: <sip:$2@example.com>;tag=$1
To: <sip:$2@example.com>
Call-ID: $1
CSeq: 1 REGISTER
Contact: <sip:$2@$4>
Expires: 600
Max-Forwards: 70
Content-Length: 0

EOF
  "$SS" -s -l "$P1" -w 1000 127.0.0.2 "$SIP_PORT" "$SB_OUT/$1.sip"
}
record() { R hvals "$(R --scan --pattern "sb:reg:*$1@*" | head -1)"; }
out=$(reg edge-reg-nat natphone 192.168.1.5:5060 192.168.1.5:5060)
check "a REGISTER whose Via names 192.168.1.5 gets 200" grep -q '^<<< SIP/2.0 200' <<<"$out"
rec=$(record natphone)
diag "$rec"
check_eq "its binding: nated" 1 "$(jq .nated <<<"$rec")"
check_eq "... from 127.0.0.1:$P1" "127.0.0.1:$P1" "$(jq -r '"\(.addr):\(.port)"' <<<"$rec")"
check_eq "... sent to 127.0.0.2:$SIP_PORT" "127.0.0.2:$SIP_PORT" \
  "$(jq -r '"\(.local_addr):\(.local_port)"' <<<"$rec")"
out=$(reg edge-reg-open openphone "127.0.0.1:$P1" "127.0.0.1:$P1")
check "a REGISTER whose Via is its source gets 200" grep -q '^<<< SIP/2.0 200' <<<"$out"
check_eq "its binding: not nated" 0 "$(jq .nated <<<"$(record openphone)")"

# ---- CANCEL with a rewritten sent-by ----
PB=$(free_port) PA=$(free_port) PC=$(free_port)
check "1001 registers" register 1001 "$PB"
callee bob-ring uas_ring.xml "$PB"
sleep 0.2
# inv NAME METHOD SENT-BY: the caller's INVITE, and CANCEL/ACK of the same branch
inv() {
  sipfile "$1" <<EOF
$2 sip:1001@example.com SIP/2.0
Via: SIP/2.0/UDP $3;branch=z9hG4bK-edge-inv1;rport
From: "Alice" <sip:alice@example.com>;tag=edge-a1
To: <sip:1001@example.com>
Call-ID: edge-cancel-1
CSeq: 1 $2
Contact: <sip:alice@127.0.0.1:$PA>
Max-Forwards: 70
Content-Length: 0

EOF
}
inv edge-invite INVITE "127.0.0.1:$PA"
inv edge-cancel CANCEL 203.0.113.9:41000
inv edge-ack ACK 203.0.113.9:41000
inv edge-cancel-other CANCEL 198.51.100.7:5060
"$SS" -l "$PA" -w 3000 127.0.0.1 "$SIP_PORT" "$SB_OUT/edge-invite.sip" "$SB_OUT/edge-cancel.sip" \
  "$SB_OUT/edge-ack.sip" >"$SB_OUT/edge-caller.out" 2>&1 &
CALLER=$!
EXTRA_PIDS="$CALLER"
wait_until 5 'grep -q "^<<< SIP/2.0 180" "$SB_OUT/edge-caller.out"' || diag "no 180 for the caller"
out=$("$SS" -l "$PC" -w 500 127.0.0.1 "$SIP_PORT" "$SB_OUT/edge-cancel-other.sip")
check_eq "a CANCEL of the call from another source: 481" "481" \
  "$(grep -m1 '^<<< SIP' <<<"$out" | awk '{ print $3 }')"
wait_pid "$CALLER"
check_eq "the caller: 100 180 to its INVITE, 200 to its rewritten CANCEL, then 487" \
  "100 180 200 487" "$(grep '^<<< SIP' "$SB_OUT/edge-caller.out" | awk '{ print $3 }' | uniq |
    tr '\n' ' ' | sed 's/ $//')"
# the 487 is retransmitted (Timer G) until the ACK, whose sent-by is rewritten too
check "the ACK with the rewritten sent-by ends the 487's retransmissions" \
  grep -q '^=== .*edge-ack.sip: 0 responses' "$SB_OUT/edge-caller.out"
check "the callee got the CANCEL and answered 487" wait_pid "$CALLEE_PID"
check_eq "the callee received INVITE CANCEL ACK" "INVITE CANCEL ACK" "$(msgs bob-ring received)"

# ---- a bad sip_advertise: a reload keeps the old value, a start is refused ----
set_param sip_advertise "203.0.113.1 eth0!203.0.113.2"
sb reload >/dev/null 2>&1
check "a reload with a bad sip_advertise keeps the old value, naming the entry" wait_until 10 \
  'grep -q "sip_advertise: entry .eth0!203.0.113.2.: LOCAL is not a numeric address; keeping" "$LOG"'
opt 3
out=$("$SS" -s -l "$P1" -w 500 127.0.0.2 "$SIP_PORT" "$SB_OUT/edge-opt3.sip")
check "... and sipd still answers" grep -q '^<<< SIP/2.0 200' <<<"$out"
sb stop >/dev/null
sb start >/dev/null 2>&1
check "sipd refuses a bad sip_advertise, naming main.cf and the entry" wait_until 10 \
  'grep -q "main.cf: sip_advertise: entry .eth0!203.0.113.2.: LOCAL is not a numeric address" "$LOG"'

finish
