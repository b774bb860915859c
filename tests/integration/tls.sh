#!/usr/bin/env bash
# SIP over TLS: sipd's TLS listener (sip_listen_tls) with a self-signed certificate made
# here. Debian's SIPp has no TLS, so a phone is SIPp over TCP behind stunnel in client
# mode, which verifies our certificate (and its address) against a CA file. Asserted: a
# REGISTER over TLS gets 200 and its binding's transport is tls; a call from the TLS phone
# to a UDP phone completes and the callee's BYE reaches the TLS phone over its connection,
# with Via TLS and ;transport=tls on what we sent it; bytes that are not TLS on the TLS
# port are dropped and sipd lives on; a client verifying against another certificate
# refuses us; switchboard reload serves a new certificate (the fingerprint openssl s_client
# sees changes); a certificate without its key is refused by switchboard check.
. "$(dirname "$0")/lib.sh"

new_confdir tls
set_param log_level debug
TLS_PORT=$(free_port)
ST_PORT=$(free_port)
GW_PORT=$(free_port)
PG=$(free_port)
# cert NAME: a self-signed EC certificate for 127.0.0.1 (key NAME.key, cert NAME.pem)
cert() {
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
    -subj "/CN=switchboard-test-$1" -addext "subjectAltName=IP:127.0.0.1" \
    -keyout "$CONF/$1.key" -out "$CONF/$1.pem" 2>/dev/null
}
cert one && cert two && cert gw && chmod 600 "$CONF"/*.key
set_param sip_listen_tls "127.0.0.1:$TLS_PORT"
set_param sip_tls_cert "$CONF/served.pem"
set_param sip_tls_key "$CONF/served.key"
set_param sip_tls_ca "$CONF/gw.pem"
set_param sip_t1 100ms # Timer B (a gateway that fails verification) is 6.4 s
cat >"$CONF/dialplan.json" <<EOF
{"version": "1.0", "routes": [
 {"id": "gw", "pattern": "7*", "priority": 10, "enabled": true,
  "actions": [{"type": "dial", "params": {"target": "sips:\${destination}@127.0.0.1:$GW_PORT"}}]},
 {"id": "users", "pattern": "1*", "priority": 50, "enabled": true,
  "actions": [{"type": "dial", "params": {"target": "user/\${destination}", "timeout": 30}}]}]}
EOF
cp "$CONF/one.pem" "$CONF/served.pem" && cp "$CONF/one.key" "$CONF/served.key"
R() { redis-cli -s "$CONF/run/private/redis.sock" "$@"; }
sb start >/dev/null || { not_ok "start"; finish; }
wait_sip_ready

# fingerprint CAFILE: the SHA-256 fingerprint of the certificate our TLS port serves, as
# a client trusting CAFILE sees it (empty when the handshake fails)
fingerprint() {
  timeout 5 openssl s_client -connect "127.0.0.1:$TLS_PORT" -CAfile "$1" -verify_return_error \
    -verify_ip 127.0.0.1 </dev/null 2>/dev/null | openssl x509 -noout -fingerprint -sha256 2>/dev/null |
    sed 's/.*=//; s/://g'
}
want() { openssl x509 -in "$CONF/$1.pem" -noout -fingerprint -sha256 | sed 's/.*=//; s/://g'; }
check_eq "openssl s_client verifies the served certificate" "$(want one)" "$(fingerprint "$CONF/one.pem")"
check_eq "a client trusting another certificate refuses the handshake" "" "$(fingerprint "$CONF/two.pem")"

# ---- a phone over TLS: stunnel (client mode, verifying us) in front of SIPp on TCP ----
cat >"$CONF/stunnel.conf" <<EOF
foreground = yes
pid =
[sip]
client = yes
accept = 127.0.0.1:$ST_PORT
connect = 127.0.0.1:$TLS_PORT
CAfile = $CONF/one.pem
verifyChain = yes
checkIP = 127.0.0.1
EOF
stunnel4 "$CONF/stunnel.conf" >"$SB_OUT/tls-stunnel.log" 2>&1 &
ST_PID=$!
EXTRA_PIDS=$ST_PID
wait_until 5 '[ -n "$(ss -Hlnt "sport = :$ST_PORT")" ]' || diag "stunnel does not listen"

PB=$(free_port)
check "1002 registers (UDP)" register 1002 "$PB"
callee tls-callee uas_answer_bye.xml "$PB" -d 300
PA=$(free_port)
rm -f "$SB_OUT/tls-phone.msg"
timeout 30 sipp -sf "$top/tests/sipp/tls_phone.xml" -t t1 -i 127.0.0.1 -p "$PA" -m 1 \
  -timeout 15s -timeout_error -nostdin -trace_msg -message_file "$SB_OUT/tls-phone.msg" \
  -trace_err -error_file "$SB_OUT/tls-phone.err" -key user 1001 -s 1002 \
  "127.0.0.1:$ST_PORT" >"$SB_OUT/tls-phone.out" 2>&1
check_eq "the TLS phone registered, called, and got the callee's BYE" 0 $?
check "the UDP callee saw the whole call" wait_pid "$CALLEE_PID"
check_eq "the TLS phone received 200 (REGISTER), 100, 180, 200, then BYE" \
  "200 100 180 200 BYE" "$(msgs tls-phone received)"
rec=$(R hgetall "sb:reg:{sip:1001@example.com}" | sed -n 2p)
check_eq "the binding's source is the TLS connection" "tls 127.0.0.1" \
  "$(jq -r '"\(.transport) \(.addr)"' <<<"$rec")"
bye=$(tr -d '\r' <"$SB_OUT/tls-phone.msg" | awk '/message received/ { k++ } k == 5')
check "the BYE came with our Via over TLS, at the TLS port" \
  grep -q "^Via: SIP/2.0/TLS 127.0.0.1:$TLS_PORT;branch=z9hG4bKsb" <<<"$bye"
check "its Contact says ;transport=tls" grep -q "^Contact: <sip:.*;transport=tls>" <<<"$bye"

# ---- our TLS to a gateway: sips: target, certificate verified against sip_tls_ca ----
# the gateway: SIPp on TCP behind stunnel in server mode with the certificate gw
cat >"$CONF/stunnel-gw.conf" <<EOF
foreground = yes
pid =
[gw]
accept = 127.0.0.1:$GW_PORT
connect = 127.0.0.1:$PG
cert = $CONF/gw.pem
key = $CONF/gw.key
EOF
stunnel4 "$CONF/stunnel-gw.conf" >"$SB_OUT/tls-stunnel-gw.log" 2>&1 &
EXTRA_PIDS="$EXTRA_PIDS $!"
wait_until 5 '[ -n "$(ss -Hlnt "sport = :$GW_PORT")" ]' || diag "stunnel (gateway) does not listen"
rm -f "$SB_OUT/tls-gw.msg"
timeout 30 sipp -sf "$top/tests/sipp/tls_gateway.xml" -t t1 -i 127.0.0.1 -p "$PG" -m 1 \
  -timeout 15s -timeout_error -nostdin -trace_msg -message_file "$SB_OUT/tls-gw.msg" \
  -trace_err -error_file "$SB_OUT/tls-gw.err" -key contact "<sips:gw@127.0.0.1:$GW_PORT>" \
  "127.0.0.1:$SIP_PORT" >"$SB_OUT/tls-gw.out" 2>&1 &
GW_SIPP=$!
check "a call to sips:7001@127.0.0.1:$GW_PORT completes" \
  sipp_run tls-call-gw uac_call.xml -s 7001 -d 200 -cid_str "tls-call-gw-%u"
check "the gateway saw INVITE, ACK and BYE over TLS" wait_pid "$GW_SIPP"
check_eq "the gateway received INVITE ACK BYE" "INVITE ACK BYE" "$(msgs tls-gw received)"
check "our INVITE to it has a ;transport=tls Contact" \
  grep -q "^Contact: <sip:.*;transport=tls>" <<<"$(tr -d '\r' <"$SB_OUT/tls-gw.msg")"
# a gateway whose certificate sip_tls_ca does not vouch for: nothing reaches it
set_param sip_tls_ca "$CONF/two.pem"
sb reload >/dev/null
wait_until 5 '[ "$(grep -c "sip tls certificate" "$LOG")" -ge 4 ]'
check "a call to a gateway that fails verification fails" \
  sipp_run tls-call-bad uac_fail.xml -s 7001 -cid_str "tls-call-bad-%u"
check_eq "the caller got 100 then 408" "100 408" "$(sipp_responses | awk '{ print $2 }' | tr '\n' ' ' | sed 's/ $//')"
check "sipd logged the failed verification" grep -q "certificate failed verification" "$LOG"

# ---- not TLS on the TLS port: dropped, sipd lives on ----
pid0=$(status_field sipd 0 3)
# raw: stdin to the TLS port, what comes back until sipd closes (at most 3 s) on stdout
raw() { timeout 3 bash -c "exec 3<>/dev/tcp/127.0.0.1/$TLS_PORT && cat >&3 && cat <&3"; }
printf 'OPTIONS sip:x@127.0.0.1 SIP/2.0\r\nContent-Length: 0\r\n\r\n' | raw >"$SB_OUT/tls-plain.out" 2>&1
head -c 3000 /dev/urandom | raw >/dev/null 2>&1
check_eq "plain SIP on the TLS port gets no SIP answer" "" "$(grep -a 'SIP/2.0' "$SB_OUT/tls-plain.out")"
check_eq "sipd is the same process after garbage and plain TCP" "$pid0" "$(status_field sipd 0 3)"
check_eq "and still serves TLS" "$(want one)" "$(fingerprint "$CONF/one.pem")"

# ---- a message over several TLS records (40 KB) is framed whole ----
{ printf 'OPTIONS sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TLS 127.0.0.1:9;branch=z9hG4bKbig\r\n'
  printf 'From: <sip:a@example.com>;tag=1\r\nTo: <sip:127.0.0.1>\r\nCall-ID: big@tls\r\n'
  printf 'CSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Type: text/plain\r\n'
  printf 'Content-Length: 40000\r\n\r\n'; head -c 40000 /dev/zero | tr '\0' a; } >"$CONF/big.sip"
# s_client ends at the end of its input: give the answer half a second to come back
{ cat "$CONF/big.sip"; sleep 0.5; } | timeout 3 openssl s_client -connect "127.0.0.1:$TLS_PORT" \
  -CAfile "$CONF/one.pem" -quiet >"$SB_OUT/tls-big.out" 2>/dev/null
check "a 40 KB OPTIONS over TLS is answered (415 for its text/plain body: read whole)" \
  grep -aq "^SIP/2.0 415" "$SB_OUT/tls-big.out"

# ---- reload serves a new certificate to new connections ----
cp "$CONF/two.pem" "$CONF/served.pem" && cp "$CONF/two.key" "$CONF/served.key"
sb reload >/dev/null
check "after reload the new certificate is served" \
  wait_until 5 '[ "$(fingerprint "$CONF/two.pem")" = "$(want two)" ]'
check_eq "sipd was not restarted" "$pid0" "$(status_field sipd 0 3)"

# ---- a certificate without its key is a config error naming the line ----
set_param sip_tls_key ""
out=$(sb check 2>&1)
check "switchboard check refuses sip_tls_cert without sip_tls_key" test $? -ne 0
check "naming main.cf and the line ($out)" grep -q "main.cf:[0-9]*: sip_tls_cert without sip_tls_key" <<<"$out"
finish
