#!/usr/bin/env bash
# Limits (docs/security.md, "Limits"): the embedded Redis runs with maxmemory and
# noeviction, and a REGISTER Redis refuses gets 503; an AOR holds at most
# register_max_contacts bindings; a source holds at most sip_tcp_max_per_source TCP
# connections; a flood of requests from one source address is cut off (its requests are
# dropped and counted, it gets no more answers) while another source address calls
# through; past sip_max_transactions a new request gets 503 with Retry-After.
. "$(dirname "$0")/lib.sh"

new_confdir limits
set_maxproc sipd 1 # one instance: the TCP cap and the transaction cap are per instance
set_param sip_pike_requests 200
set_param sip_pike_window 1s
set_param sip_pike_block_time 30s
set_param sip_tcp_max_per_source 2
set_param register_max_contacts 2
set_param calls_max_per_source 1
sb start >/dev/null || { not_ok "start"; finish; }
wait_sip_ready
rcli() { redis-cli -s "$CONF/run/private/redis.sock" "$@"; }

# ---- the embedded Redis: maxmemory, refusing writes rather than evicting ----
check_eq "the embedded Redis runs with maxmemory 256mb" 268435456 "$(rcli config get maxmemory | tail -n 1)"
check_eq "... and the noeviction policy" noeviction "$(rcli config get maxmemory-policy | tail -n 1)"
rcli config set maxmemory 1 >/dev/null
sipp_run reg-oom register.xml -cid_str "reg-oom-%u" -key user oom -key seq 1 \
  -key contacts "<sip:oom@127.0.0.1:5999>" -key expires_header "Expires: 600"
check_eq "a REGISTER that Redis refuses (over maxmemory) gets 503" "SIP/2.0 503 Service Unavailable" \
  "$(sipp_responses | grep -v '^SIP/2.0 100' | tail -n 1)"
check_eq "... and binds nothing" 0 "$(rcli exists 'sb:reg:{sip:oom@example.com}')"
rcli config set maxmemory 256mb >/dev/null

# ---- bindings per AOR ----
reg_cap() { # NAME CSEQ CONTACTS: one REGISTER of AOR capped; prints its final status
  sipp_run "$1" register.xml -cid_str "reg-capped" -key user capped -key seq "$2" \
    -key contacts "$3" -key expires_header "Expires: 600"
  sipp_responses | grep -v '^SIP/2.0 100' | tail -n 1
}
check_eq "two bindings fit under register_max_contacts = 2" "SIP/2.0 200 OK" \
  "$(reg_cap cap-1 1 '<sip:c1@127.0.0.1:5001>, <sip:c2@127.0.0.1:5002>')"
check_eq "a third one gets 503 Too Many Registered Contacts" \
  "SIP/2.0 503 Too Many Registered Contacts" "$(reg_cap cap-2 2 '<sip:c3@127.0.0.1:5003>')"
check_eq "... and Redis still holds two" 2 "$(rcli hlen 'sb:reg:{sip:capped@example.com}')"
check_eq "a refresh of a held binding still passes" "SIP/2.0 200 OK" \
  "$(reg_cap cap-3 3 '<sip:c1@127.0.0.1:5001>')"

# ---- TCP connections per source ----
tcp_out=$(timeout 10 python3 - "$SIP_PORT" <<'EOF'
import socket, sys, time
port = int(sys.argv[1])
conns = [socket.create_connection(("127.0.0.1", port), timeout=3) for _ in range(3)]
time.sleep(0.3)
for i, s in enumerate(conns):
    req = ("OPTIONS sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1:5999;branch=z9hG4bKtcp%d\r\n"
           "From: <sip:t@example.com>;tag=t%d\r\nTo: <sip:127.0.0.1>\r\nCall-ID: tcpcap-%d\r\n"
           "CSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n") % (i, i, i)
    try:
        s.sendall(req.encode())
        data = s.recv(4096)
        print("answered" if data.startswith(b"SIP/2.0 200") else "closed")
    except OSError:
        print("closed")
EOF
)
check_eq "two TCP connections from one source are served, the third is closed at accept" \
  "answered answered closed" "$(echo $tcp_out)"
check_eq "the closed connection is counted (sip_tcp_refused)" 1 "$(counter sipd sip_tcp_refused)"

# ---- a flood from 127.0.0.1 is cut off; 127.0.0.2 still calls ----
PB=$(free_port)
timeout 20 sipp -sf "$top/tests/sipp/register.xml" -i 127.0.0.3 -p "$(free_port)" -m 1 \
  -timeout 10s -timeout_error -nostdin -cid_str "reg-flood-callee-%u" -key user 1001 \
  -key seq 1 -key contacts "<sip:1001@127.0.0.3:$PB>" -key expires_header "Expires: 600" \
  "127.0.0.1:$SIP_PORT" >"$SB_OUT/reg-callee.out" 2>&1
check "the callee (127.0.0.3) registers" [ $? = 0 ]
t0=$SECONDS
timeout 15 sipp -sf "$top/tests/sipp/options.xml" -i 127.0.0.1 -p "$(free_port)" -m 6000 \
  -r 3000 -l 6000 -nr -recv_timeout 500ms -timeout 4s -nostdin -buff_size 4194304 -trace_stat -stf "$SB_OUT/flood.csv" \
  "127.0.0.1:$SIP_PORT" >"$SB_OUT/flood.out" 2>&1
diag "flood: SIPp ran $((SECONDS - t0)) s"
answered=$(awk -F';' 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == "SuccessfulCall(C)") c = i; next }
  { v = $c } END { print v + 0 }' "$SB_OUT/flood.csv")
dropped=$(counter sipd sip_pike_dropped)
diag "flood: $answered OPTIONS answered, $dropped requests dropped"
check "the flood was cut off: at most 600 of its requests answered ($answered)" \
  [ "$answered" -gt 0 -a "$answered" -le 600 ]
check "the rest were dropped and counted (sip_pike_dropped $dropped >= 5000)" [ "${dropped:-0}" -ge 5000 ]
check_eq "one source blocked, once (sip_pike_blocks)" 1 "$(counter sipd sip_pike_blocks)"
metrics_drops() { api /metrics | grep -q '^switchboard_sip_pike_dropped_total{.*} [1-9]'; }
check "/metrics shows the drops" metrics_drops
sipp_run blocked options.xml -timeout 1s
check "the flooding source gets no answer any more" [ -z "$(sipp_responses)" ]

callee_out=$SB_OUT/flood-callee
timeout 30 sipp -sf "$top/tests/sipp/uas_answer.xml" -i 127.0.0.3 -p "$PB" -m 1 -timeout 20s \
  -timeout_error -nostdin -trace_msg -message_file "$callee_out.msg" \
  "127.0.0.1:$SIP_PORT" >"$callee_out.out" 2>&1 &
EXTRA_PIDS=$!
sleep 0.2
rm -f "$SB_OUT/other-call.msg"
timeout 30 sipp -sf "$top/tests/sipp/uac_call.xml" -i 127.0.0.2 -p "$(free_port)" -m 1 -s 1001 \
  -d 200 -timeout 15s -timeout_error -nostdin -trace_msg -message_file "$SB_OUT/other-call.msg" \
  "127.0.0.1:$SIP_PORT" >"$SB_OUT/other-call.out" 2>&1
check "a call from 127.0.0.2 completes while 127.0.0.1 is blocked" [ $? = 0 ]
check_eq "... 100, 180, 200, then 200 for its BYE" "100 180 200 200" "$(msgs other-call received)"
check "the callee saw the whole call" wait_pid "$EXTRA_PIDS"

# ---- calls in progress per source ----
PH=$(free_port)
timeout 20 sipp -sf "$top/tests/sipp/register.xml" -i 127.0.0.3 -p "$(free_port)" -m 1 \
  -timeout 10s -timeout_error -nostdin -cid_str "reg-cap-callee-%u" -key user 1002 \
  -key seq 1 -key contacts "<sip:1002@127.0.0.3:$PH>" -key expires_header "Expires: 600" \
  "127.0.0.1:$SIP_PORT" >"$SB_OUT/reg-cap-callee.out" 2>&1
timeout 30 sipp -sf "$top/tests/sipp/uas_answer.xml" -i 127.0.0.3 -p "$PH" -m 1 -timeout 20s \
  -timeout_error -nostdin "127.0.0.1:$SIP_PORT" >"$SB_OUT/cap-callee.out" 2>&1 &
EXTRA_PIDS=$!
sleep 0.2
rm -f "$SB_OUT/held.msg"
timeout 30 sipp -sf "$top/tests/sipp/uac_call.xml" -i 127.0.0.5 -p "$(free_port)" -m 1 -s 1002 \
  -d 1500 -timeout 15s -timeout_error -nostdin -trace_msg -message_file "$SB_OUT/held.msg" \
  "127.0.0.1:$SIP_PORT" >"$SB_OUT/held.out" 2>&1 &
held_pid=$!
wait_until 5 '[ "$(msgs held received)" = "100 180 200" ]' || diag "the first call was not answered"
rm -f "$SB_OUT/second.msg"
timeout 20 sipp -sf "$top/tests/sipp/uac_fail.xml" -i 127.0.0.5 -p "$(free_port)" -m 1 -s 1002 \
  -timeout 10s -nostdin -trace_msg -message_file "$SB_OUT/second.msg" \
  "127.0.0.1:$SIP_PORT" >"$SB_OUT/second.out" 2>&1
check_eq "a second call from the same source while one is up gets 403 (calls_max_per_source 1)" \
  "403" "$(msgs second received | awk '{ print $NF }')"
check "the first call goes on to its end" wait_pid "$held_pid"
check_eq "... and completed (100, 180, 200, 200 for its BYE)" "100 180 200 200" "$(msgs held received)"

# ---- transactions per sipd ----
set_param sip_max_transactions 1
r0=$(counter sipd reloads)
sb reload >/dev/null
wait_until 5 '[ "$(counter sipd reloads)" -gt "$r0" ]' || diag "sipd did not reload"
rm -f "$SB_OUT/txcap.msg"
timeout 20 sipp -sf "$top/tests/sipp/options.xml" -i 127.0.0.4 -p "$(free_port)" -m 1 \
  -timeout 5s -nostdin -trace_msg -message_file "$SB_OUT/txcap.msg" \
  "127.0.0.1:$SIP_PORT" >"$SB_OUT/txcap.out" 2>&1
SIPP_MSG=$SB_OUT/txcap.msg
check_eq "past sip_max_transactions a new request gets 503" "SIP/2.0 503 Too many transactions" \
  "$(sipp_responses | tail -n 1)"
check_eq "... with Retry-After" 5 "$(hdr txcap 1 Retry-After)"
check "... counted (sip_txn_refused)" [ "$(counter sipd sip_txn_refused)" -ge 1 ]

sb stop >/dev/null
finish
