#!/usr/bin/env bash
# apid's call and media control against a running cluster with real SIPp calls: dialogs
# (two legs, states, the tags SIPp saw), one dialog with its media stats moving under
# RTP, sessions, rtpmanagers, a drain that moves a call to the other mediad (two
# instances) and its cancel, dialplan reload (good and broken files), hang-up by REST
# (both SIPp see the BYE), call and drain events on the stream, the SIP and call setup
# metrics moving by exactly what was sent, nodes (api_peers) and CORS, the token on.
. "$(dirname "$0")/lib.sh"
new_confdir api_calls
set_param sip_t1 100ms
set_param api_peers "http://127.0.0.2:8080 http://node-b.example:8080/"
set_maxproc mediad 2
sb start >/dev/null || { not_ok "start"; finish; }
wait_sip_ready
A=http://127.0.0.1:$API_PORT
rcli() { redis-cli -s "$CONF/run/private/redis.sock" "$@"; }
req() { local m=$1 p=$2; shift 2; acurl -s --max-time 5 -X "$m" -w '\n%{http_code}' "$@" "$A$p"; }
body() { sed '$d' <<<"$1"; }
code() { tail -n 1 <<<"$1"; }
acode() { local p=$1; shift; acurl -s -o /dev/null -w '%{http_code}' --max-time 5 "$@" "$A$p"; }
metric() { acurl -s --max-time 5 "$A/metrics" | awk -v s="$1" '$1 == s { print $2 }'; }
apid_peers() { api /api/v1/processes | jq '[.processes[] | select(.role=="apid") | .counters.ipc_peers] | max'; }
# apid talks to dialogd, routerd and both mediad
check "apid is connected to dialogd, routerd and both mediad" wait_until 10 '[ "$(apid_peers)" -ge 4 ]'

bg_callee() { # NAME SCENARIO PORT: a SIPp callee in the background, killed at the end
  rm -f "$SB_OUT/$1.msg"
  timeout 60 sipp -sf "$top/tests/sipp/$2" -i 127.0.0.1 -p "$3" -m 1 -timeout 45s \
    -timeout_error -nostdin -trace_msg -message_file "$SB_OUT/$1.msg" -trace_err \
    -error_file "$SB_OUT/$1.err" "127.0.0.1:$SIP_PORT" >"$SB_OUT/$1.out" 2>&1 &
  CALLEE_PID=$!
  EXTRA_PIDS="$EXTRA_PIDS $!"
}
bg_caller() { # NAME SCENARIO CALL-ID: a SIPp caller of 1001 in the background
  rm -f "$SB_OUT/$1.msg"
  timeout 60 sipp -sf "$top/tests/sipp/$2" -i 127.0.0.1 -p "$(free_port)" -m 1 -s 1001 \
    -timeout 45s -timeout_error -nostdin -trace_msg -message_file "$SB_OUT/$1.msg" \
    -cid_str "$3" "127.0.0.1:$SIP_PORT" >"$SB_OUT/$1.out" 2>&1 &
  CALLER_PID=$!
  EXTRA_PIDS="$EXTRA_PIDS $!"
}
tag_of() { sed -n 's/.*;tag=\([^;>]*\).*/\1/p' <<<"$1"; }
got_bye() { grep -q '^BYE ' <(tr -d '\r' <"$SB_OUT/$1.msg"); }

curl -H "Authorization: Bearer $(api_token)" -sN --max-time 55 "$A/api/v1/events" >"$SB_OUT/events.txt" 2>/dev/null &
SSE_PID=$!
EXTRA_PIDS="${EXTRA_PIDS:-} $SSE_PID"
wait_until 5 'grep -q "switchboard events" "$SB_OUT/events.txt"'

# ---- errors before any call ----
r=$(req GET /api/v1/dialogs)
check_eq "dialogs: 200 and empty without calls" "200 0" "$(code "$r") $(body "$r" | jq '.dialogs | length')"
r=$(req GET /api/v1/dialogs/no-such-call@nowhere)
check_eq "dialogs/{unknown}: 404 NOT_FOUND" "404 NOT_FOUND" "$(code "$r") $(body "$r" | jq -r .code)"
r=$(req DELETE /api/v1/dialogs/no-such-call@nowhere)
check_eq "DELETE dialogs/{unknown}: 404 NOT_FOUND" "404 NOT_FOUND" "$(code "$r") $(body "$r" | jq -r .code)"
r=$(req POST /api/v1/dialogs/x)
check_eq "POST dialogs/{id}: 405" 405 "$(code "$r")"
r=$(req POST /api/v1/rtpmanagers/mediad-9/drain)
check_eq "drain of an unknown rtp manager: 404" "404 NOT_FOUND" "$(code "$r") $(body "$r" | jq -r .code)"
r=$(req POST "/api/v1/rtpmanagers/mediad-0/drain?mode=sideways")
check_eq "drain with a bad mode: 400" "400 BAD_REQUEST" "$(code "$r") $(body "$r" | jq -r .code)"
r=$(req GET /api/v1/rtpmanagers/mediad-0/drain)
check_eq "drain state of an undrained rtp manager: idle" "200 idle mediad-0" \
  "$(code "$r") $(body "$r" | jq -r '"\(.state) \(.node_id)"')"

# ---- nodes and CORS ----
r=$(req GET /api/v1/nodes)
check_eq "nodes: this node first, then the two api_peers (no trailing slash)" \
  "node1 http://127.0.0.1:$API_PORT true|null http://127.0.0.2:8080 false|null http://node-b.example:8080 false" \
  "$(body "$r" | jq -r '[.nodes[] | "\(.node_id) \(.url) \(.self)"] | join("|")')"
h=$(curl -s -D - -o /dev/null -X OPTIONS -H 'Origin: http://127.0.0.2:8080' \
  -H 'Access-Control-Request-Method: DELETE' "$A/api/v1/dialogs/x" | tr -d '\r')
check "preflight of a peer's origin: 204 with the allowed methods and headers" bash -c \
  "grep -q '^HTTP/1.1 204' <<<'$h' && grep -qi '^Access-Control-Allow-Methods: GET, POST, DELETE' <<<'$h' && grep -qi '^Access-Control-Allow-Headers: Authorization, Content-Type' <<<'$h'"
check_eq "answers to a peer's origin name it in Access-Control-Allow-Origin (never *)" \
  "http://127.0.0.2:8080" "$(acurl -s -D - -o /dev/null -H 'Origin: http://127.0.0.2:8080' "$A/api/v1/stats" |
    tr -d '\r' | sed -n 's/^Access-Control-Allow-Origin: //ip')"

# ---- rtpmanagers ----
r=$(req GET /api/v1/rtpmanagers)
check_eq "rtpmanagers: two members, both healthy and active, no sessions" \
  "2 2 0 mediad-0,mediad-1 active,active" \
  "$(body "$r" | jq -r '"\(.total_members) \(.healthy_members) \(.active_sessions) \([.members[].node_id] | sort | join(",")) \([.members[].drain_state] | join(","))"')"
check_eq "rtpmanagers: address is media_address (empty: *, every address) and the port range" \
  "*:$(sed -n "s/^rtp_port_range *= *//p" "$CONF/main.cf")" \
  "$(body "$r" | jq -r '.members[0].address')"

# ---- dialplan reload ----
r=$(req POST /api/v1/dialplan/reload)
check_eq "dialplan reload: 200, 3 routes, version 1.0" "200 3 1.0" \
  "$(code "$r") $(body "$r" | jq -r '"\(.routes) \(.version)"')"
r=$(req GET /api/v1/dialplan/reload)
check_eq "GET dialplan/reload: 405" 405 "$(code "$r")"
cp "$CONF/dialplan.json" "$SB_OUT/dialplan.good"
jq 'del(.routes[1].pattern)' "$SB_OUT/dialplan.good" >"$CONF/dialplan.json"
r=$(req POST /api/v1/dialplan/reload)
check_eq "a dialplan without routes[1].pattern: 400 BAD_REQUEST" "400 BAD_REQUEST" \
  "$(code "$r") $(body "$r" | jq -r .code)"
check "the error names the JSON path (routes[1].pattern): $(body "$r" | jq -r .error)" \
  bash -c "grep -q 'routes\[1\]' <<<'$(body "$r" | jq -r .error)'"
cp "$SB_OUT/dialplan.good" "$CONF/dialplan.json"

# ---- a live call: dialogs, one dialog, sessions, metrics ----
inv_rx0=$(metric 'switchboard_sip_requests_total{method="INVITE",direction="rx"}')
inv_tx0=$(metric 'switchboard_sip_requests_total{method="INVITE",direction="tx"}')
setup0=$(metric switchboard_call_setup_seconds_count)
PB=$(free_port)
check "1001 registers" sipp_run reg-1001 register.xml -cid_str "reg-1001-%u" -key user 1001 \
  -key seq 1 -key contacts "<sip:1001@127.0.0.1:$PB>" -key expires_header "Expires: 600"
bg_callee bob-1 uas_answer.xml "$PB"
B1=$CALLEE_PID
sleep 0.2
bg_caller alice-1 uac_call_wait_bye.xml "apicall-%u"
A1=$CALLER_PID
check "the call is answered (after the broken reload: the running dialplan stayed)" \
  wait_until 8 'grep -q "^SIP/2.0 200" "$SB_OUT/alice-1.msg" 2>/dev/null'
CID=apicall-1
dlg() { api /api/v1/dialogs; }
check "dialogs: both legs Confirmed" \
  wait_until 5 '[ "$(dlg | jq -r "[.dialogs[].state] | join(\",\")")" = "Confirmed,Confirmed" ]'
d=$(dlg)
b_cid=$(hdr bob-1 1 Call-ID)
check_eq "dialogs: the A leg is inbound with the caller's Call-ID, the B leg outbound with the callee's" \
  "$CID inbound $b_cid|$b_cid outbound $CID" \
  "$(jq -r '[.dialogs[] | "\(.call_id) \(.direction) \(.peer_call_id)"] | join("|")' <<<"$d")"
a_from=$(tag_of "$(tr -d '\r' <"$SB_OUT/alice-1.msg" | grep -m1 '^From:')")
a_to=$(tag_of "$(hdr alice-1 "$(grep -c 'message received' "$SB_OUT/alice-1.msg")" To)")
b_from=$(tag_of "$(hdr bob-1 1 From)")
b_to=$(tag_of "$(tr -d '\r' <"$SB_OUT/bob-1.msg" | grep -m1 '^To:.*tag=')")
check_eq "A leg tags: local = the To tag we gave the caller, remote = the caller's From tag" \
  "$a_to $a_from" "$(jq -r '.dialogs[0] | "\(.local_tag) \(.remote_tag)"' <<<"$d")"
check_eq "B leg tags: local = our From tag to the callee, remote = the callee's To tag" \
  "$b_from $b_to" "$(jq -r '.dialogs[1] | "\(.local_tag) \(.remote_tag)"' <<<"$d")"
check_eq "B leg remote is the callee's contact" "127.0.0.1 $PB" \
  "$(jq -r '.dialogs[1] | "\(.remote_addr) \(.remote_port)"' <<<"$d")"
check_eq "legs: node_id, one session id, created_at ISO 8601, answered_at set" "node1 true true true" \
  "$(jq -r '"\(.dialogs[0].node_id) \(.dialogs[0].session_id == .dialogs[1].session_id and .dialogs[0].session_id != null) \(.dialogs[0].created_at | test("^[0-9-]+T[0-9:]+Z$")) \(.dialogs[0].answered_at != null)"' <<<"$d")"
r=$(req GET "/api/v1/dialogs/$CID")
one=$(body "$r")
check_eq "dialogs/{A Call-ID}: 200, both legs, Confirmed" "200 2 Confirmed" \
  "$(code "$r") $(jq -r '"\(.legs | length) \(.state)"' <<<"$one")"
check_eq "dialogs/{B Call-ID} names the same call" "$CID" "$(api "/api/v1/dialogs/$b_cid" | jq -r .call_id)"
mediad=$(jq -r .media.mediad <<<"$one")
check_eq "the call's media: its session, on a mediad, stats from it" "true true" \
  "$(jq -r '"\(.media.session_id == .legs[0].session_id) \(.media.stats.session_id == .media.session_id)"' <<<"$one")"
a_media=$(media_of alice-1) b_media=$(media_of bob-1)
"$SB_TOOLS/rtp_peer" -t "$a_media" -n 50 >"$SB_OUT/rtp-a.out" &
RTP_A=$!
"$SB_TOOLS/rtp_peer" -t "$b_media" -n 50 >"$SB_OUT/rtp-b.out"
wait "$RTP_A"
st=$(api "/api/v1/dialogs/$CID" | jq -c .media.stats)
check_eq "media stats moved: both sides received and were sent >= 50 packets" "true true" \
  "$(jq -r '"\(.a.rx_packets >= 50 and .b.rx_packets >= 50) \(.a.tx_packets >= 50 and .b.tx_packets >= 50)"' <<<"$st")"
r=$(req GET /api/v1/sessions)
check_eq "sessions: the call's session, on the mediad the record names" "200 $CID mediad-$mediad PCMU" \
  "$(code "$r") $(body "$r" | jq -r '.sessions[] | "\(.call_id) \(.rtp_manager) \(.codec)"')"
check_eq "sessions: per-side packet counters" true \
  "$(body "$r" | jq '.sessions[0].a.rx_packets >= 50 and .sessions[0].b.rx_packets >= 50')"
check_eq "rtpmanagers: mediad-$mediad holds the one session" 1 \
  "$(api /api/v1/rtpmanagers | jq ".members[] | select(.node_id == \"mediad-$mediad\") | .session_count")"
check_eq "stats: one active dialog and session" "1 1" \
  "$(api /api/v1/stats | jq -r '"\(.active_dialogs) \(.active_sessions)"')"
check_eq "metrics: INVITEs received moved by exactly the one sent" $((inv_rx0 + 1)) \
  "$(metric 'switchboard_sip_requests_total{method="INVITE",direction="rx"}')"
check_eq "metrics: INVITEs sent moved by exactly the B-leg one" $((inv_tx0 + 1)) \
  "$(metric 'switchboard_sip_requests_total{method="INVITE",direction="tx"}')"
check "metrics: a 200 sent is counted" \
  test "$(metric 'switchboard_sip_responses_total{code="200",direction="tx"}')" -ge 2
check_eq "metrics: call setup histogram counted the call" $((setup0 + 1)) \
  "$(metric switchboard_call_setup_seconds_count)"

# ---- hang up by REST ----
r=$(req DELETE "/api/v1/dialogs/$CID")
check_eq "DELETE dialogs/{id}: 200 hangup sent" "200 hangup sent $CID" \
  "$(code "$r") $(body "$r" | jq -r '"\(.message) \(.call_id)"')"
check "the caller got the BYE and ended well" wait_pid "$A1"
check "the callee got the BYE and ended well" wait_pid "$B1"
check "both SIPp saw a BYE" bash -c "$(declare -f got_bye); SB_OUT='$SB_OUT'; got_bye alice-1 && got_bye bob-1"
check "the call disappears from dialogs" wait_until 5 '[ "$(dlg | jq ".dialogs | length")" = 0 ]'
check_eq "dialogs/{id} of the ended call: 404" 404 "$(acode "/api/v1/dialogs/$CID")"

# ---- a drain moves a call to the other mediad ----
bg_callee bob-2 api_uas_moved.xml "$PB"
B2=$CALLEE_PID
sleep 0.2
bg_caller alice-2 api_uac_moved.xml "apidrain-%u"
A2=$CALLER_PID
CID2=apidrain-1
check "the second call is confirmed" \
  wait_until 8 '[ "$(api /api/v1/dialogs/$CID2 | jq -r .state)" = Confirmed ]'
m_old=$(rcli hget "sb:dlg:{$CID2}" mediad)
r=$(req POST "/api/v1/rtpmanagers/mediad-$m_old/drain?mode=graceful")
check_eq "drain: 202 with node_id, mode and its one session" "202 mediad-$m_old graceful 1" \
  "$(code "$r") $(body "$r" | jq -r '"\(.node_id) \(.mode) \(.total_sessions)"')"
drain() { api "/api/v1/rtpmanagers/mediad-$m_old/drain"; }
check "the drain completes" wait_until 15 '[ "$(drain | jq -r .state)" = completed ]'
check_eq "drain: migrated 1, failed 0, no errors" "1 0 0" \
  "$(drain | jq -r '"\(.migrated_count) \(.failed_count) \(.errors | length)"')"
m_new=$(rcli hget "sb:dlg:{$CID2}" mediad)
check "the call's mediad changed in Redis ($m_old -> $m_new)" test "$m_new" != "$m_old"
check_eq "rtpmanagers: the drained one is disabled with no session" "disabled 0" \
  "$(api /api/v1/rtpmanagers | jq -r ".members[] | select(.node_id == \"mediad-$m_old\") | \"\(.drain_state) \(.session_count)\"")"
a_media=$(media_of alice-2) b_media=$(media_of bob-2)
"$SB_TOOLS/rtp_peer" -t "$a_media" -n 30 >"$SB_OUT/rtp-a2.out" &
RTP_A=$!
"$SB_TOOLS/rtp_peer" -t "$b_media" -n 30 >"$SB_OUT/rtp-b2.out"
wait "$RTP_A"
check_eq "RTP flows both ways through the new mediad" "30 30" \
  "$(awk '$1 == "received" { print $2 }' "$SB_OUT/rtp-a2.out") $(awk '$1 == "received" { print $2 }' "$SB_OUT/rtp-b2.out")"
r=$(req DELETE "/api/v1/rtpmanagers/mediad-$m_old/drain")
check_eq "DELETE drain: 200 cancelled" "200 cancelled" "$(code "$r") $(body "$r" | jq -r .state)"
check_eq "the rtp manager is active again" active \
  "$(api /api/v1/rtpmanagers | jq -r ".members[] | select(.node_id == \"mediad-$m_old\") | .drain_state")"
check_eq "DELETE dialogs/{B Call-ID} hangs up the moved call" 200 \
  "$(acode "/api/v1/dialogs/$(hdr bob-2 1 Call-ID)" -X DELETE)"
acurl -s -o /dev/null -X DELETE "$A/api/v1/dialogs/$CID2"
check "the moved call ends at the caller" wait_pid "$A2"
check "the moved call ends at the callee" wait_pid "$B2"

# ---- events ----
ev() { grep "^data: " "$SB_OUT/events.txt" | sed 's/^data: //' | jq -c "select(.type == \"$1\")"; }
check_eq "events: call.started of the first call, with from/to" "$CID true" \
  "$(ev call.started | jq -r "select(.call_id == \"$CID\") | \"\(.call_id) \(.to_uri != null)\"" | head -1)"
check_eq "events: call.answered of it, with the B-leg Call-ID" "$b_cid" \
  "$(ev call.answered | jq -r "select(.call_id == \"$CID\") | .b_call_id" | head -1)"
check "events: call.ended of it, with a cause" \
  test -n "$(ev call.ended | jq -r "select(.call_id == \"$CID\") | .cause" | head -1)"
check_eq "events: drain.started, drain.progress, drain.completed, drain.cancelled" \
  "drain.started drain.progress drain.completed drain.cancelled" \
  "$(grep '^event: drain\.' "$SB_OUT/events.txt" | awk '{ print $2 }' | awk '!seen[$0]++' | tr '\n' ' ' | sed 's/ $//')"

# ---- the token ----
set_param api_token s3cr3t
sb reload >/dev/null
ncode() { local p=$1; shift; curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$@" "$A$p"; }
check "token on: dialogs without it is 401" wait_until 5 '[ "$(ncode /api/v1/dialogs)" = 401 ]'
check_eq "token on: sessions, rtpmanagers, nodes, reload refused without it" "401 401 401 401" \
  "$(ncode /api/v1/sessions) $(ncode /api/v1/rtpmanagers) $(ncode /api/v1/nodes) $(ncode /api/v1/dialplan/reload -X POST)"
check_eq "token on: dialogs with it is 200" 200 "$(ncode /api/v1/dialogs -H 'Authorization: Bearer s3cr3t')"
check_eq "token on: the token file's no longer opens the API" 401 \
  "$(ncode /api/v1/dialogs -H "Authorization: Bearer $(cat "$CONF/api.token")")"
check_eq "token on: a preflight needs none" 204 "$(ncode /api/v1/dialogs -X OPTIONS)"

kill "$SSE_PID" 2>/dev/null
finish
