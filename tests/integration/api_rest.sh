#!/usr/bin/env bash
# apid's REST API, metrics and event stream against a running cluster with real SIPp
# registrations: every endpoint's success and error cases (JSON fields and values), the
# bearer token off and on (and never logged), malformed JSON, over-long bodies, unknown
# ids, metrics moving by exactly the REGISTERs sent, published registration events and
# a worker respawn reaching an SSE client, a client too slow to read dropped without
# holding apid up.
. "$(dirname "$0")/lib.sh"
new_confdir api_rest
TOKEN=s3cr3t-$RANDOM-token
set_param api_events_keepalive 1s
sb start >/dev/null || { not_ok "start"; finish; }
wait_sip_ready
A=http://127.0.0.1:$API_PORT
rcli() { redis-cli -s "$CONF/run/private/redis.sock" "$@"; }
# req METHOD PATH [curl args]: prints the body, then the status on a last line of its own.
req() { local m=$1 p=$2; shift 2; acurl -s --max-time 5 -X "$m" -w '\n%{http_code}' "$@" "$A$p"; }
body() { sed '$d' <<<"$1"; }
code() { tail -n 1 <<<"$1"; }
reg() { # reg USER CSEQ CONTACT EXPIRES: one REGISTER by SIPp
  sipp_run "reg-$1-$2" register.xml -cid_str "cid-$1" -key user "$1" -key seq "$2" \
    -key contacts "<$3>" -key expires_header "Expires: $4"
}
metric() { # metric NAME LABELS: the value of one sample of /metrics
  acurl -s --max-time 5 "$@" "$A/metrics" | awk -v n="$1" -v l="$2" '$1 == n l { print $2 }'
}
sum_metric() { # sum_metric NAME: the sum over every sample of NAME
  acurl -s --max-time 5 "$A/metrics" | awk -v n="$1" 'index($1, n "{") == 1 { s += $2 } END { print s + 0 }'
}

# ---- without a token ----
r=$(req GET /api/v1/stats)
check_eq "stats: 200" 200 "$(code "$r")"
check_eq "stats: the prototype's fields, zero sessions and dialogs" "0 0 0" \
  "$(body "$r" | jq -r '"\(.total_sessions) \(.active_sessions) \(.active_dialogs)"')"
check "stats: uptime_seconds is a number >= 0" \
  test "$(body "$r" | jq '.uptime_seconds | type == "number" and . >= 0')" = true
check_eq "stats: total_registrations 0 before any REGISTER" 0 "$(body "$r" | jq .total_registrations)"

before_regs=$(sum_metric switchboard_registers_total)
before_sip=$(sum_metric switchboard_sip_rx_requests_total)
# An SSE client from the start: it must see everything below.
curl -H "Authorization: Bearer $(api_token)" -sN --max-time 40 "$A/api/v1/events" >"$SB_OUT/events.txt" 2>/dev/null &
SSE_PID=$!
EXTRA_PIDS="$SSE_PID"
wait_until 5 'grep -q "switchboard events" "$SB_OUT/events.txt"'
check "events: the stream opens with a retry and a comment" grep -q '^retry: 2000' "$SB_OUT/events.txt"

reg alice 1 sip:alice@127.0.0.1:5071 600
check_eq "SIPp REGISTER alice: 200" 200 "$(sipp_responses | tail -n 1 | awk '{ print $2 }')"
reg bob 1 sip:bob@127.0.0.1:5072 300
reg bob 2 sip:bob@127.0.0.1:5072 300
check_eq "SIPp REGISTER bob (and refresh): 200" 200 "$(sipp_responses | tail -n 1 | awk '{ print $2 }')"
check_eq "metrics: registers moved by exactly the 3 REGISTERs sent" $((before_regs + 3)) \
  "$(sum_metric switchboard_registers_total)"
check_eq "metrics: SIP requests received moved by exactly 3" $((before_sip + 3)) \
  "$(sum_metric switchboard_sip_rx_requests_total)"
check "metrics: registrations_active reaches 2 (counted in Redis)" \
  wait_until 5 '[ "$(metric switchboard_registrations_active "")" = 2 ]'

r=$(req GET /api/v1/registrations)
check_eq "registrations: 200" 200 "$(code "$r")"
b=$(body "$r")
check_eq "registrations: both AORs, sorted" "sip:alice@example.com sip:bob@example.com" \
  "$(jq -r '[.registrations[].aor] | join(" ")' <<<"$b")"
check_eq "registrations: alice's contact, user agent, expires" \
  "sip:alice@127.0.0.1:5071 sipp-register true" \
  "$(jq -r '.registrations[0] | "\(.contact) \(.user_agent) \(.expires > 590 and .expires <= 600)"' <<<"$b")"
check "registrations: registered_at and expires_at are ISO 8601, 600 s apart" \
  test "$(jq '.registrations[0] | ((.expires_at | fromdateiso8601) - (.registered_at | fromdateiso8601))' <<<"$b")" = 600
check_eq "registrations: not truncated" false "$(jq .truncated <<<"$b")"
r=$(req GET /api/v1/stats)
check_eq "stats: total_registrations 2, registers 3" "2 3" \
  "$(body "$r" | jq -r '"\(.total_registrations) \(.registers)"')"

# Requests that come during a walk share it: 20 at once while Redis is held still.
scans() { rcli info commandstats | sed -n 's/^cmdstat_scan:calls=\([0-9]*\),.*/\1/p'; }
scan0=$(scans)
redis_pid=$(status_field redis 0 3)
kill -STOP "$redis_pid"
many=()
for i in $(seq 1 20); do
  curl -H "Authorization: Bearer $(api_token)" -s --max-time 5 "$A/api/v1/registrations" >"$SB_OUT/list-$i.json" &
  many+=($!)
done
sleep 0.5
kill -CONT "$redis_pid"
wait "${many[@]}" 2>/dev/null
many=()
check_eq "20 concurrent listings: every answer has both AORs" 20 \
  "$(cat "$SB_OUT"/list-*.json | jq -c '[.registrations[].aor]' | grep -cx '\["sip:alice@example.com","sip:bob@example.com"\]')"
check "20 concurrent listings share one walk (SCANs: $(( $(scans) - scan0 )); count walks may add 2)" \
  test $(( $(scans) - scan0 )) -le 3

# ---- DELETE /api/v1/registrations/{aor} ----
r=$(req DELETE /api/v1/registrations/sip:nobody@example.com)
check_eq "unregister an unknown AOR: 404 NOT_FOUND" "404 NOT_FOUND" "$(code "$r") $(body "$r" | jq -r .code)"
r=$(req DELETE /api/v1/registrations/sip:bob@example.com -d '{"contact":')
check_eq "unregister with malformed JSON: 400 BAD_REQUEST" "400 BAD_REQUEST" "$(code "$r") $(body "$r" | jq -r .code)"
r=$(req DELETE /api/v1/registrations/sip:bob@example.com -d '{"contact":5}')
check_eq "unregister with a contact that is not a string: 400" 400 "$(code "$r")"
r=$(req DELETE /api/v1/registrations/sip:bob@example.com -d '{"contact":"sip:other@1.1.1.1"}')
check_eq "unregister an unknown contact of a known AOR: 404" 404 "$(code "$r")"
r=$(head -c 70000 /dev/zero | tr '\0' x | req DELETE /api/v1/registrations/sip:bob@example.com --data-binary @-)
check_eq "a body over 64 KiB: 413 PAYLOAD_TOO_LARGE" "413 PAYLOAD_TOO_LARGE" "$(code "$r") $(body "$r" | jq -r .code)"
r=$(head -c 70000 /dev/zero | tr '\0' x | req DELETE /api/v1/registrations/sip:bob@example.com \
  -H 'Transfer-Encoding: chunked' --data-binary @-)
check_eq "a chunked body over 64 KiB: 413" 413 "$(code "$r")"
r=$(req GET /api/v1/registrations/sip:bob@example.com)
check_eq "GET on a registration: 405 with Allow: DELETE" "405 METHOD_NOT_ALLOWED" "$(code "$r") $(body "$r" | jq -r .code)"
check "405 names DELETE in Allow" grep -qx 'Allow: DELETE' <<<"$(acurl -si "$A/api/v1/registrations/x" | tr -d '\r')"
r=$(req DELETE /api/v1/registrations/sip:bob@example.com -d '{"contact":"sip:bob@127.0.0.1:5072"}')
check_eq "unregister bob's one contact: 200, 1 removed" "200 1" "$(code "$r") $(body "$r" | jq .removed)"
check_eq "redis: bob's hash and expiry set are gone" "0 0" \
  "$(rcli exists 'sb:reg:{sip:bob@example.com}') $(rcli exists 'sb:regexp:{sip:bob@example.com}')"
r=$(req DELETE /api/v1/registrations/sip:alice@example.com)
check_eq "unregister alice (every contact): 200, aor echoed" "200 sip:alice@example.com 1" \
  "$(code "$r") $(body "$r" | jq -r '"\(.aor) \(.removed)"')"
check_eq "redis: alice's keys are gone" "0 0" \
  "$(rcli exists 'sb:reg:{sip:alice@example.com}') $(rcli exists 'sb:regexp:{sip:alice@example.com}')"
check_eq "registrations: empty after both" 0 "$(api /api/v1/registrations | jq '.registrations | length')"

# ---- config, processes, errors ----
r=$(req GET /api/v1/config)
check_eq "config: 200, node_id and api_listen as in main.cf" "200 node1 127.0.0.1:$API_PORT" \
  "$(code "$r") $(body "$r" | jq -r '"\(.parameters.node_id) \(.parameters.api_listen)"')"
check_eq "config: every parameter of the table (api_token empty)" "true \"\"" \
  "$(body "$r" | jq -c '(.parameters | has("register_timeout")) , .parameters.api_token' | tr '\n' ' ' | sed 's/ $//')"
check_eq "config: the file is CONFDIR/main.cf" "$CONF/main.cf" "$(body "$r" | jq -r .file)"
r=$(req GET /api/v1/processes)
check_eq "processes: 7 with their restarts" "200 7" "$(code "$r") $(body "$r" | jq '[.processes[].restarts] | length')"
r=$(req POST /api/v1/stats)
check_eq "POST stats: 405" "405 METHOD_NOT_ALLOWED" "$(code "$r") $(body "$r" | jq -r .code)"
r=$(req GET /api/v1/nope)
check_eq "unknown endpoint: 404 NOT_FOUND with an error text" "404 NOT_FOUND true" \
  "$(code "$r") $(body "$r" | jq -r '"\(.code) \(.error | length > 0)"')"
r=$(req GET /metrics)
check_eq "metrics: 200 text/plain" "200" "$(code "$r")"
check "metrics: process restarts per role and instance" \
  grep -q '^switchboard_process_restarts_total{service="sipd",role="sipd",instance="1"} 0$' <<<"$r"
check "metrics: redis errors per process" \
  grep -q '^switchboard_redis_errors_total{service="routerd",role="routerd",instance="0"} ' <<<"$r"
check "metrics: TYPE lines for counters and gauges" \
  bash -c "grep -q '^# TYPE switchboard_sip_rx_requests_total counter' <<<\"\$1\" && grep -q '^# TYPE switchboard_sip_txn_active gauge' <<<\"\$1\"" _ "$r"

# ---- events ----
ev='{"type":"registration.added","aor":"sip:carol@example.com","contact":"sip:carol@1.2.3.4:5060","expires":3600,"node_id":"node1","ts_ms":1234}'
rcli publish sb:events "$ev" >/dev/null
rcli publish sb:events 'not json' >/dev/null
rcli publish sb:events '{"type":"bad type\nevent: x"}' >/dev/null
check "events: a published registration.added is relayed" \
  wait_until 5 'grep -q "^event: registration.added" "$SB_OUT/events.txt"'
check_eq "events: its data is the published JSON" "sip:carol@example.com 3600" \
  "$(grep -A1 '^event: registration.added' "$SB_OUT/events.txt" | sed -n 's/^data: //p' |
     jq -r 'select(.aor == "sip:carol@example.com") | "\(.aor) \(.expires)"')"
check_eq "events: messages that are not events are not relayed" 0 \
  "$(grep -c '^event: x\|not json' "$SB_OUT/events.txt")"
check_eq "events: unregister published registration.removed for bob's and alice's contacts" \
  "sip:alice@example.com sip:alice@127.0.0.1:5071 0,sip:bob@example.com sip:bob@127.0.0.1:5072 0" \
  "$(sed -n 's/^data: //p' "$SB_OUT/events.txt" | jq -r 'select(.type == "registration.removed")
     | "\(.aor) \(.contact) \(.expires)"' | sort | paste -sd,)"
rpid=$(status_field routerd 0 3)
kill -9 "$rpid"
check "events: process.died with routerd's old pid" \
  wait_until 10 'grep -q "^data: {\"type\":\"process.died\",\"service\":\"routerd\".*\"pid\":$rpid," "$SB_OUT/events.txt"'
check "events: process.respawned with restarts 1" \
  wait_until 10 'grep -q "^data: {\"type\":\"process.respawned\",\"service\":\"routerd\".*\"restarts\":1," "$SB_OUT/events.txt"'
check_eq "metrics: routerd's restart counted" 1 \
  "$(metric switchboard_process_restarts_total '{service="routerd",role="routerd",instance="0"}')"
check_eq "event ids increase by one" "" \
  "$(sed -n 's/^id: //p' "$SB_OUT/events.txt" | awk 'NR > 1 && $1 != prev + 1 { print "gap at " $1 } { prev = $1 }')"

ka0=$(grep -c '^: keep-alive$' "$SB_OUT/events.txt")
check "events: keep-alive comments every api_events_keepalive (1 s here)" \
  wait_until 4 '[ "$(grep -c "^: keep-alive$" "$SB_OUT/events.txt")" -ge $((ka0 + 2)) ]'
# Many clients: each gets every event.
many=()
for i in $(seq 1 20); do
  curl -H "Authorization: Bearer $(api_token)" -sN --max-time 20 "$A/api/v1/events" >"$SB_OUT/many-$i.txt" 2>/dev/null &
  many+=($!)
done
EXTRA_PIDS="$SSE_PID ${many[*]}"
wait_until 5 '[ "$(metric switchboard_http_sse_clients "{service=\"apid\",role=\"apid\",instance=\"0\"}")" = 21 ]'
rcli publish sb:events '{"type":"registration.refreshed","aor":"sip:dave@example.com","contact":"sip:dave@1.1.1.1","expires":60,"node_id":"node1","ts_ms":5}' >/dev/null
check "events: 20 more clients each receive the next event" \
  wait_until 5 '[ "$(grep -l "^event: registration.refreshed" "$SB_OUT"/many-*.txt | wc -l)" = 20 ]'
kill "${many[@]}" 2>/dev/null
check "events: clients that leave are forgotten (gauge back to 1)" \
  wait_until 5 '[ "$(metric switchboard_http_sse_clients "{service=\"apid\",role=\"apid\",instance=\"0\"}")" = 1 ]'
EXTRA_PIDS="$SSE_PID"

# A client that never reads: its queue fills and it is dropped; apid stays responsive.
python3 - "$API_PORT" "$(api_token)" <<'PY' &
import socket, sys, time
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
s.connect(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"GET /api/v1/events HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer "
          + sys.argv[2].encode() + b"\r\n\r\n")
time.sleep(20)
PY
SLOW_PID=$!
EXTRA_PIDS="$SSE_PID $SLOW_PID"
wait_until 5 '[ "$(metric switchboard_http_sse_clients "{service=\"apid\",role=\"apid\",instance=\"0\"}")" = 2 ]'
big=$(head -c 30000 /dev/zero | tr '\0' y)
rcli eval "for i = 1, 200 do redis.call('PUBLISH', 'sb:events', ARGV[1]) end" 0 \
  "{\"type\":\"test.big\",\"pad\":\"$big\"}" >/dev/null
check "events: the slow client is dropped" wait_until 10 \
  '[ "$(metric switchboard_http_sse_dropped_total "{service=\"apid\",role=\"apid\",instance=\"0\"}")" = 1 ]'
check_eq "events: apid still answers while it was stuck" 200 "$(api_code /api/v1/health)"
check "events: the reading client got all 200 big events" \
  wait_until 10 '[ "$(grep -c "^event: test.big" "$SB_OUT/events.txt")" = 200 ]'
kill "$SLOW_PID" 2>/dev/null

# ---- hostile HTTP: nothing crashes apid, every connection is answered or closed ----
python3 - "$API_PORT" "$(api_token)" >"$SB_OUT/hostile.txt" 2>&1 <<'PY'
import os, random, socket, sys
port = int(sys.argv[1])
auth = b"Authorization: Bearer " + sys.argv[2].encode() + b"\r\nHost: 127.0.0.1"
def send(raw, close_early=False):
    s = socket.create_connection(("127.0.0.1", port), timeout=2)
    try:
        s.sendall(raw)
        if close_early:
            return b""
        s.shutdown(socket.SHUT_WR)  # no more bytes: an incomplete request ends here
        data = b""
        try:
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
        except socket.timeout:
            pass
        return data
    except OSError as e:
        return b"reset"
    finally:
        s.close()
cases = [
    b"GET /api/v1/stats HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\nConnection: close\r\n\r\n",
    b"DELETE /api/v1/registrations/x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nZZZ\r\nxx\r\n0\r\n\r\n",
    b"GET /" + b"a" * 20000 + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    b"GET /api/v1/stats HTTP/1.1\r\nHost: x\r\nX: " + b"b" * 40000 + b"\r\n\r\n",
    b"GET /api/v1/\x00stats HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET /api/v1/registrations/%00%ff%0a HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    b"DELETE /api/v1/registrations/%00 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    b"BREW /api/v1/stats HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    b"GET /api/v1/stats HTTP/1.1\r\nHost: x\r\n\r\nGET /api/v1/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    b"DELETE /api/v1/registrations/sip:a@b HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n{\"contact\"",
]
cases = [c.replace(b"Host: x", auth) for c in cases]  # past the Host and token checks
for c in cases:
    r = send(c)
    print("answered" if r.startswith(b"HTTP/1.1 ") else "closed", r[:12])
# Garbage, sent and left: apid must only survive it.
rnd = random.Random(7)
garbage = [b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + os.urandom(200), os.urandom(3000)]
for i in range(40):
    garbage.append(bytes(rnd.randrange(256) for _ in range(rnd.randrange(1, 400))))
for g in garbage:
    send(g, close_early=True)
# Clients that go away at once: a deferred answer, a stream.
for i in range(5):
    send(b"GET /api/v1/registrations HTTP/1.1\r\n" + auth + b"\r\n\r\n", close_early=True)
    send(b"GET /api/v1/events HTTP/1.1\r\n" + auth + b"\r\n\r\n", close_early=True)
print("done")
PY
check "hostile HTTP: the script ran to the end" grep -qx done "$SB_OUT/hostile.txt"
check_eq "hostile HTTP: apid answers health afterwards" 200 "$(api_code /api/v1/health)"
# (the 40 KB header is refused with 431 while the client may still be sending: it can
# see a reset instead, so that one is not counted)
check "hostile HTTP: the other 9 malformed requests got an HTTP status" \
  test "$(grep -c '^answered' "$SB_OUT/hostile.txt")" -ge 9
redis_pid=$(status_field redis 0 3)
kill -STOP "$redis_pid"
python3 - "$API_PORT" "$(api_token)" <<'PY'
import socket, sys
for i in range(10):  # deferred while Redis is held still, gone before the answer
    s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
    s.sendall(b"GET /api/v1/registrations HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer "
              + sys.argv[2].encode() + b"\r\n\r\n")
    s.close()
PY
sleep 0.3
kill -CONT "$redis_pid"
check_eq "clients gone while deferred: apid still answers" 200 "$(code "$(req GET /api/v1/registrations)")"

# ---- with a token ----
set_param api_token "$TOKEN"
sb reload >/dev/null
# from here requests carry no token unless they say so
req() { local m=$1 p=$2; shift 2; curl -s --max-time 5 -X "$m" -w '\n%{http_code}' "$@" "$A$p"; }
ncode() { curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$A$1"; }
wait_until 5 '[ "$(ncode /api/v1/stats)" = 401 ]'
r=$(req GET /api/v1/stats)
check_eq "token on: no token is 401 UNAUTHORIZED" "401 UNAUTHORIZED" "$(code "$r") $(body "$r" | jq -r .code)"
check "401 carries WWW-Authenticate: Bearer" \
  bash -c "curl -si '$A/api/v1/stats' | tr -d '\r' | grep -q '^WWW-Authenticate: Bearer'"
r=$(req GET /api/v1/stats -H "Authorization: Bearer wrong-$TOKEN")
check_eq "token on: a wrong token is 401" 401 "$(code "$r")"
r=$(req GET /api/v1/stats -H "Authorization: Bearer ${TOKEN%?}")
check_eq "token on: a prefix of the token is 401" 401 "$(code "$r")"
r=$(req GET /api/v1/stats -H "Authorization: Bearer $TOKEN")
check_eq "token on: the right token is 200 with the stats" "200 0" "$(code "$r") $(body "$r" | jq .active_dialogs)"
r=$(req GET /api/v1/stats -H "Authorization: bearer $TOKEN")
check_eq "token on: the scheme is case-insensitive" 200 "$(code "$r")"
r=$(req GET "/api/v1/stats?access_token=$TOKEN")
check_eq "token on: access_token query argument (for EventSource)" 200 "$(code "$r")"
for p in /api/v1/processes /api/v1/registrations /api/v1/config /api/v1/events /metrics; do
  check_eq "token on: $p without a token is 401" 401 "$(ncode "$p")"
done
r=$(req DELETE /api/v1/registrations/sip:x@example.com)
check_eq "token on: DELETE without a token is 401" 401 "$(code "$r")"
check_eq "token on: health needs none" 200 "$(ncode /api/v1/health)"
check_eq "token on: the dashboard page needs none" 200 "$(ncode /)"
hdrs=$(curl -sI "$A/" | tr -d '\r')
check "the dashboard page is served with a same-origin Content-Security-Policy (no api_peers)" \
  grep -qx "Content-Security-Policy: default-src 'self'; connect-src 'self'; frame-ancestors 'none'" <<<"$hdrs"
check_eq "the dashboard's script is JavaScript, nosniff" "text/javascript; charset=utf-8 nosniff" \
  "$(curl -sI "$A/app.js" | tr -d '\r' | awk -F': ' '/^Content-Type/ { t = $2 } /^X-Content-Type-Options/ { n = $2 } END { print t, n }')"
check_eq "an unknown dashboard file: 404 NOT_FOUND" "404 NOT_FOUND" "$(code "$(req GET /nope.js)") $(curl -s "$A/nope.js" | jq -r .code)"
r=$(req GET /api/v1/config -H "Authorization: Bearer $TOKEN")
check_eq "config: the token is masked" '********' "$(body "$r" | jq -r .parameters.api_token)"
check "config: the token appears nowhere in the answer" bash -c "! grep -q '$TOKEN' <<<\"\$1\"" _ "$r"
check_eq "metrics: auth failures counted" true \
  "$(test "$(metric switchboard_api_auth_failures_total '{service="apid",role="apid",instance="0"}' \
     -H "Authorization: Bearer $TOKEN")" -ge 9 && echo true)"
check "the token is never logged" bash -c "! grep -rq '$TOKEN' '$CONF/run' 2>/dev/null"

# ---- Redis stalled: 503 after 2 s, never a hang ----
redis_pid=$(status_field redis 0 3)
kill -STOP "$redis_pid"
t0=$(date +%s%3N)
r=$(req GET /api/v1/registrations -H "Authorization: Bearer $TOKEN")
t1=$(date +%s%3N)
check_eq "Redis stalled: registrations 503 UNAVAILABLE" "503 UNAVAILABLE" "$(code "$r") $(body "$r" | jq -r .code)"
check "Redis stalled: answered within 2-3 s ($((t1 - t0)) ms)" test $((t1 - t0)) -ge 1900 -a $((t1 - t0)) -le 3000
r=$(req DELETE /api/v1/registrations/sip:x@example.com -H "Authorization: Bearer $TOKEN")
check_eq "Redis stalled: unregister 503" 503 "$(code "$r")"
kill -CONT "$redis_pid"
r=$(req GET /api/v1/registrations -H "Authorization: Bearer $TOKEN")
check_eq "Redis back: registrations 200" 200 "$(code "$r")"
check_eq "apid survived everything" "$(status_field apid 0 3)" \
  "$(api /api/v1/health | jq -r .status >/dev/null; status_field apid 0 3)"
check_eq "apid was never restarted" 0 "$(status_field apid 0 6)"
kill "$SSE_PID" 2>/dev/null
sb stop >/dev/null
finish
