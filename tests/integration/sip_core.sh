#!/usr/bin/env bash
# The SIP core over the wire, with SIPp as the peer: OPTIONS (over IPv4 and IPv6, UDP
# and TCP), unknown and unsupported methods, the registrar's REGISTER flows (several contacts, refresh, remove one,
# wildcard, 423, stale CSeq), UDP and TCP, over-long and truncated messages, and
# retransmissions absorbed by one transaction.
. "$(dirname "$0")/lib.sh"
new_confdir sip_core
set_param sip_max_message 4096
set_param register_min_expires 60
set_param sip_listen_udp "127.0.0.1:$SIP_PORT [::1]:$SIP_PORT"
set_param sip_listen_tcp "127.0.0.1:$SIP_PORT [::1]:$SIP_PORT"
sb start >/dev/null || { not_ok "start"; finish; }
wait_sip_ready
rcli() { redis-cli -s "$CONF/run/private/redis.sock" "$@"; }
reg() { # reg NAME USER CALL-ID CSEQ CONTACTS EXPIRES_HEADER [sipp args]
  local name=$1 user=$2 cid=$3 seq=$4 contacts=$5 eh=$6; shift 6
  sipp_run "$name" register.xml -cid_str "$cid" -key user "$user" -key seq "$seq" \
    -key contacts "$contacts" -key expires_header "$eh" "$@"
}
status_of_last() { sipp_responses | grep -v '^SIP/2.0 1' | tail -n 1 | awk '{ print $2 }'; }

# -- OPTIONS, unknown and unsupported methods
sipp_run options options.xml
check_eq "OPTIONS over UDP: 200" 200 "$(status_of_last)"
resp=$(sipp_last_response)
check "200 to OPTIONS has Allow with INVITE and REGISTER" grep -qE '^Allow:.*INVITE.*REGISTER|^Allow:.*REGISTER.*INVITE' <<<"$resp"
check "200 to OPTIONS has Accept: application/sdp" grep -qi '^Accept: *application/sdp' <<<"$resp"
check "200 to OPTIONS has Supported" grep -qi '^Supported:' <<<"$resp"
check "the response carries our To-tag, received and rport" \
  bash -c "grep -q '^To:.*;tag=' <<<\"\$1\" && grep -qE '^Via:.*rport=[0-9]+' <<<\"\$1\" && grep -q '^Via:.*received=127.0.0.1' <<<\"\$1\"" _ "$resp"
sipp_run options-tcp options.xml -t t1
check_eq "OPTIONS over TCP: 200" 200 "$(status_of_last)"
# IPv6: the same listeners on [::1] (RFC 3261 18.2.1: received and rport in the Via)
opt6=$SB_OUT/options6.sip
printf 'OPTIONS sip:[::1] SIP/2.0\r\nVia: SIP/2.0/UDP [::1]:5999;branch=z9hG4bKv6opt;rport\r\nMax-Forwards: 70\r\nFrom: <sip:x@example.com>;tag=v6\r\nTo: <sip:[::1]>\r\nCall-ID: v6@test\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n' >"$opt6"
out=$("$SB_TOOLS/sip_send" -w 300 ::1 "$SIP_PORT" "$opt6")
check "OPTIONS over UDP/IPv6: 200" grep -q '^<<< SIP/2.0 200' <<<"$out"
check "its Via gets received=::1 and rport" grep -qE '^Via: SIP/2.0/UDP \[::1\]:5999;branch=z9hG4bKv6opt;rport=[0-9]+;received=::1|^Via: .*received=::1.*rport=[0-9]+|^Via: .*rport=[0-9]+.*received=::1' <<<"$out"
sed 's|SIP/2.0/UDP|SIP/2.0/TCP|; s|v6opt|v6opttcp|; s|v6@test|v6tcp@test|' "$opt6" >"$opt6.tcp"
out=$("$SB_TOOLS/sip_send" -t -w 300 ::1 "$SIP_PORT" "$opt6.tcp")
check "OPTIONS over TCP/IPv6: 200" grep -q '^<<< SIP/2.0 200' <<<"$out"
sipp_run foobar foobar.xml
check_eq "unknown method FOOBAR: 501" 501 "$(status_of_last)"
check "501 lists Allow" grep -q '^Allow:' <<<"$(sipp_last_response)"
sipp_run subscribe subscribe.xml
check_eq "known but unsupported SUBSCRIBE: 405" 405 "$(status_of_last)"
check "405 lists Allow" grep -q '^Allow:' <<<"$(sipp_last_response)"

# -- REGISTER
reg reg1 alice a1@test 1 "<sip:alice@127.0.0.1:5999>" "Expires: 300"
check_eq "REGISTER alice: 200" 200 "$(status_of_last)"
resp=$(sipp_last_response)
check "200 lists alice's contact with its expiry" grep -qE '^Contact: *<sip:alice@127.0.0.1:5999>;expires=(300|29[0-9])' <<<"$resp"
check "200 has a Date header" grep -q '^Date:' <<<"$resp"
check "Redis holds alice's binding" bash -c "redis-cli -s '$CONF/run/private/redis.sock' --scan --pattern '*alice@example.com*' | grep -q ."

reg reg2 alice a1@test 2 "<sip:alice@127.0.0.1:5999>" "Expires: 600"
check_eq "refresh (same Call-ID, higher CSeq): 200" 200 "$(status_of_last)"
check "the refresh set the new expiry" grep -qE '^Contact: *<sip:alice@127.0.0.1:5999>;expires=(600|59[0-9])' <<<"$(sipp_last_response)"
check_eq "still one contact" 1 "$(sipp_last_response | grep -c '^Contact:')"

reg reg3 bob b1@test 1 "<sip:bob@127.0.0.1:6001>;q=0.5, <sip:bob@127.0.0.1:6002>;q=1.0" "Expires: 300"
check_eq "REGISTER bob with two contacts: 200" 200 "$(status_of_last)"
check_eq "200 lists both" 2 "$(sipp_last_response | grep -c '^Contact: *<sip:bob@127.0.0.1:600[12]>')"
check "q-values are kept" grep -q 'q=0.5' <<<"$(sipp_last_response)"
check_eq "the 200 lists the higher q first" "6002 6001" \
  "$(sipp_last_response | grep '^Contact:' | grep -o '600[12]' | xargs)"

reg reg4 bob b1@test 2 "<sip:bob@127.0.0.1:6001>;expires=0" "Expires: 300"
check_eq "remove one contact: 200" 200 "$(status_of_last)"
resp=$(sipp_last_response)
check "only the other contact remains" bash -c \
  "grep -q '^Contact: *<sip:bob@127.0.0.1:6002>' <<<\"\$1\" && ! grep -q 'bob@127.0.0.1:6001' <<<\"\$1\"" _ "$resp"

reg reg5 bob b2@test 1 "*" "Expires: 0"
check_eq "wildcard remove (Contact: *, Expires: 0): 200" 200 "$(status_of_last)"
check_eq "no contact listed" 0 "$(sipp_last_response | grep -c '^Contact:')"
check_eq "bob is gone from Redis" "" "$(rcli --scan --pattern '*bob@example.com*')"

reg reg6 carol c1@test 1 "<sip:carol@127.0.0.1:6003>" "Expires: 10"
check_eq "expiry below register_min_expires: 423" 423 "$(status_of_last)"
check "423 carries Min-Expires: 60" grep -q '^Min-Expires: *60' <<<"$(sipp_last_response)"

reg reg7 carol c2@test 5 "<sip:carol@127.0.0.1:6003>" "Expires: 300"
# RFC 3261 10.3 step 7: an existing binding with the same Call-ID and a CSeq not lower
# fails the whole request, new contacts of that request included.
reg reg8 carol c2@test 4 "<sip:carol@127.0.0.1:6003>, <sip:carol@127.0.0.1:6004>" "Expires: 300"
check_eq "an older CSeq of the same Call-ID for a bound contact: 500" 500 "$(status_of_last)"
reg reg9 carol c2@test 6 "<sip:carol@127.0.0.1:6003>" "Expires: 300"
check "the stale request changed nothing (6004 never bound)" bash -c "! grep -q 6004 <<<\"\$1\"" _ "$(sipp_last_response)"

reg reg-tcp dave d1@test 1 "<sip:dave@127.0.0.1:6005;transport=tcp>" "Expires: 300" -t t1
check_eq "REGISTER over TCP: 200" 200 "$(status_of_last)"

# -- over-long and truncated messages (sip_max_message = 4096 here)
big=$SB_OUT/big.sip
{ printf 'OPTIONS sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bKbig;rport\r\n'
  printf 'Max-Forwards: 70\r\nFrom: <sip:x@example.com>;tag=1\r\nTo: <sip:127.0.0.1>\r\n'
  printf 'Call-ID: big@test\r\nCSeq: 1 OPTIONS\r\nX-Filler: %s\r\nContent-Length: 0\r\n\r\n' \
    "$(head -c 6000 /dev/zero | tr '\0' x)"; } >"$big"
dropped=$(counter sipd sip_rx_dropped)
out=$("$SB_TOOLS/sip_send" -w 300 127.0.0.1 "$SIP_PORT" "$big")
check "an over-long UDP message gets no answer" grep -q ': 0 responses' <<<"$out"
check_eq "and is counted as dropped" $((dropped + 1)) "$(counter sipd sip_rx_dropped)"
out=$("$SB_TOOLS/sip_send" -t -w 500 127.0.0.1 "$SIP_PORT" "$big")
check "an over-long TCP message is refused (513 or closed), never 200" bash -c \
  "! grep -q '^<<< SIP/2.0 200' <<<\"\$1\"" _ "$out"
trunc=$SB_OUT/trunc.sip
printf 'OPTIONS sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bKtrunc;rport\r\nMax-Forwards: 70\r\nFrom: <sip:x@example.com>;tag=1\r\nTo: <sip:127.0.0.1>\r\nCall-ID: trunc@test\r\nCSeq: 1 OPTIONS\r\nContent-Type: text/plain\r\nContent-Length: 500\r\n\r\nshort body' >"$trunc"
out=$("$SB_TOOLS/sip_send" -w 300 127.0.0.1 "$SIP_PORT" "$trunc")
check "a body shorter than Content-Length gets 400 ($(grep '^<<<' <<<"$out" | head -1))" \
  grep -q '^<<< SIP/2.0 400' <<<"$out"

# -- retransmissions: one transaction, the same response every time
txn=$(counter sipd sip_txn_new); rtx=$(counter sipd sip_retransmissions)
inv=$SB_OUT/inv-retrans.sip
printf 'INVITE sip:1999@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bKinvretrans1;rport\r\nMax-Forwards: 70\r\nFrom: <sip:alice@example.com>;tag=inv1\r\nTo: <sip:bob@example.com>\r\nCall-ID: inv-retrans@test\r\nCSeq: 1 INVITE\r\nContact: <sip:alice@127.0.0.1:5999>\r\nContent-Length: 0\r\n\r\n' >"$inv"
out=$("$SB_TOOLS/sip_send" -w 150 127.0.0.1 "$SIP_PORT" "$inv" "$inv" "$inv")
finals=$(grep '^<<< ' <<<"$out" | grep -v ' 1[0-9][0-9] ' | awk '{ print $3 }' | sort -u | xargs)
# dialogd answers it (the dialplan dials user/1999, not registered: 404); a copy before
# that gets the 100 again
check_eq "an INVITE sent 3 times: one final status, dialogd's 404" "404" "$finals"
check "100 Trying came at once" grep -q '^<<< SIP/2.0 100' <<<"$out"
check "each copy is answered ($(grep -c '^<<< ' <<<"$out") answers)" \
  [ "$(grep -c '^<<< SIP/2.0 [14]0[04]' <<<"$out")" -ge 4 ]
check_eq "with one To-tag" 1 "$(grep -a '^To:' <<<"$out" | grep 'tag=' | sort -u | wc -l)"
check_eq "as one transaction" $((txn + 1)) "$(counter sipd sip_txn_new)"
check "its copies counted as retransmissions" [ "$(counter sipd sip_retransmissions)" -ge $((rtx + 2)) ]
totag=$(grep -a -m1 '^To:' <<<"$out" | sed 's/.*;tag=//' | tr -d '\r')
ack=$SB_OUT/inv-ack.sip
printf 'ACK sip:bob@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bKinvretrans1;rport\r\nMax-Forwards: 70\r\nFrom: <sip:alice@example.com>;tag=inv1\r\nTo: <sip:bob@example.com>;tag=%s\r\nCall-ID: inv-retrans@test\r\nCSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n' "$totag" >"$ack"
out=$("$SB_TOOLS/sip_send" -w 1200 127.0.0.1 "$SIP_PORT" "$ack")
check "the ACK stops the 503's retransmissions (Timer G)" grep -q ': 0 responses' <<<"$out"

regs=$(counter routerd registers); txn=$(counter sipd sip_txn_new)
rr=$SB_OUT/reg-retrans.sip
printf 'REGISTER sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bKregretrans1;rport\r\nMax-Forwards: 70\r\nFrom: <sip:erin@example.com>;tag=77\r\nTo: <sip:erin@example.com>\r\nCall-ID: rr@test\r\nCSeq: 1 REGISTER\r\nContact: <sip:erin@127.0.0.1:6010>\r\nExpires: 300\r\nContent-Length: 0\r\n\r\n' >"$rr"
out=$("$SB_TOOLS/sip_send" -w 300 127.0.0.1 "$SIP_PORT" "$rr" "$rr" "$rr")
check_eq "a REGISTER sent 3 times gets 3 answers" "200 200 200" \
  "$(grep '^<<< ' <<<"$out" | grep -v ' 1[0-9][0-9] ' | awk '{ print $3 }' | xargs)"
check_eq "the same answer each time (one To-tag)" 1 "$(grep -a '^To:' <<<"$out" | sort -u | wc -l)"
check_eq "routerd decided it once" $((regs + 1)) "$(counter routerd registers)"
check_eq "one transaction" $((txn + 1)) "$(counter sipd sip_txn_new)"

# -- a maxproc change spreads sources anew over the sipd sockets: requests retransmitted
#    from the same ports after it reach other instances, and the shm transaction index
#    hands each to the instance that owns its transaction (one transaction, answered)
n_sipd=$(api /api/v1/processes | jq '[.processes[] | select(.role=="sipd")] | length')
check_eq "two sipd instances share the port" 2 "$n_sipd"
ports=() answers=0
for i in $(seq 1 16); do
  ports+=("$(free_port)")
  printf 'OPTIONS sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:%s;branch=z9hG4bKidx%s;rport\r\nMax-Forwards: 70\r\nFrom: <sip:x@example.com>;tag=idx\r\nTo: <sip:127.0.0.1>\r\nCall-ID: idx%s@test\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n' \
    "${ports[i - 1]}" "$i" "$i" >"$SB_OUT/idx$i.sip"
  out=$("$SB_TOOLS/sip_send" -l "${ports[i - 1]}" -w 150 127.0.0.1 "$SIP_PORT" "$SB_OUT/idx$i.sip")
  grep -q '^<<< SIP/2.0 200' <<<"$out" && answers=$((answers + 1))
done
check_eq "16 OPTIONS from 16 ports: 16 answers" 16 "$answers"
txn=$(counter sipd sip_txn_new); fwd=$(counter sipd sip_forwarded)
set_maxproc sipd 3
sb reload >/dev/null
check "a third sipd joins the port" wait_until 10 \
  '[ "$(api /api/v1/processes | jq "[.processes[] | select(.role==\"sipd\" and .state==\"ready\")] | length")" = 3 ]'
wait_sip_ready
answers=0
for i in $(seq 1 16); do
  out=$("$SB_TOOLS/sip_send" -l "${ports[i - 1]}" -w 200 127.0.0.1 "$SIP_PORT" "$SB_OUT/idx$i.sip")
  grep -q '^<<< SIP/2.0 200' <<<"$out" && answers=$((answers + 1))
done
check_eq "their retransmissions after the change: 16 answers" 16 "$answers"
check_eq "and no new transaction" "$txn" "$(counter sipd sip_txn_new)"
check "copies that reached another instance were handed to the owner ($(counter sipd sip_forwarded))" \
  [ "$(counter sipd sip_forwarded)" -gt "$fwd" ]

# -- Redis stalls: REGISTER gets 503 with Retry-After within the transaction; it recovers
rpid=$(status_field redis 0 3)
kill -STOP "$rpid"
t0=$(date +%s%N)
reg reg-stall frank f1@test 1 "<sip:frank@127.0.0.1:6020>" "Expires: 300"
ms=$((($(date +%s%N) - t0) / 1000000))
kill -CONT "$rpid"
check_eq "with Redis stopped, REGISTER gets 503" 503 "$(status_of_last)"
check "with a Retry-After, in ${ms} ms (register_timeout 2 s)" \
  grep -q '^Retry-After: *[0-9]' <<<"$(sipp_last_response)"
reg_ok() { reg reg-back frank f2@test 1 "<sip:frank@127.0.0.1:6020>" "Expires: 300"; [ "$(status_of_last)" = 200 ]; }
check "service resumes by itself once Redis answers again" wait_until 10 reg_ok

check_eq "no sipd restarted" 0 "$(sb status | awk '$1 == "sipd" { n += $6 } END { print n + 0 }')"
sb stop >/dev/null
finish
