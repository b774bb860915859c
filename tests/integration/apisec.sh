#!/usr/bin/env bash
# The admin API closed by default (docs/security.md, Admin API): each attack on it replayed
# as it was seen. master writes a random token (mode 0600) at first start and `switchboard
# api-token` prints it; a request without it or with a wrong one is 401; a foreign page's
# preflight gets no CORS header and its DELETE is refused even with the token; a rebound
# name in Host (DNS rebinding) is 421, on the dashboard too; one address holding 64 idle
# connections cannot hold more (api_connections_per_client); 257 event streams from one
# address: past api_events_per_client the answer is 429 while another address still
# gets its stream; api_insecure (no token) is accepted only on loopback; HTTPS with
# api_tls_cert and api_tls_key; an apid without a token serves nothing.
. "$(dirname "$0")/lib.sh"
new_confdir apisec
set_param api_peers "http://127.0.0.2:8080"
sb start >/dev/null || { not_ok "start"; finish; }
wait_sip_ready
A=http://127.0.0.1:$API_PORT
TOK=$(api_token)
# nreq METHOD PATH [curl args]: no token unless given; the body, then the status.
nreq() { local m=$1 p=$2; shift 2; curl -s --max-time 5 -X "$m" -w '\n%{http_code}' "$@" "$A$p"; }
body() { sed '$d' <<<"$1"; }
code() { tail -n 1 <<<"$1"; }
# hdr HEADERS NAME: the value of a response header (case-insensitive name).
hdr() { tr -d '\r' <<<"$1" | awk -v n="$(tr 'A-Z' 'a-z' <<<"$2"):" 'tolower($1) == n { sub(/^[^:]*: */, ""); print }'; }

# ---- the token master made ----
check_eq "token file: made at first start, mode 600, owned by master's user (root)" "600 root" \
  "$(stat -c '%a %U' "$CONF/api.token" 2>/dev/null)"
check "token file: 64 hex digits" grep -qxE '[0-9a-f]{64}' "$CONF/api.token"
check_eq "switchboard api-token prints it" "$(cat "$CONF/api.token" 2>/dev/null)" "$(sb api-token 2>&1)"

# ---- no token, wrong token ----
sipp_run reg-carol register.xml -cid_str cid-carol -key user carol -key seq 1 \
  -key contacts "<sip:carol@127.0.0.1:5099>" -key expires_header "Expires: 600"
check_eq "a binding to attack is registered" 1 "$(api /api/v1/registrations | jq '.registrations | length')"
aor=$(api /api/v1/registrations | jq -r '.registrations[0].aor')
for t in "GET /api/v1/registrations" "DELETE /api/v1/registrations/$aor" "GET /api/v1/dialogs" \
  "DELETE /api/v1/dialogs/some-call" "POST /api/v1/dialplan/reload" \
  "POST /api/v1/rtpmanagers/mediad-0/drain" "GET /api/v1/config" "GET /metrics" "GET /api/v1/events"; do
  r=$(nreq $t)
  check_eq "no token: $t is 401 UNAUTHORIZED" "401 UNAUTHORIZED" "$(code "$r") $(body "$r" | jq -r .code 2>/dev/null)"
done
r=$(nreq DELETE "/api/v1/registrations/$aor" -H "Authorization: Bearer ${TOK%?}x")
check_eq "wrong token: DELETE of a binding is 401" 401 "$(code "$r")"
r=$(nreq GET /api/v1/stats -H "Authorization: Bearer $TOK$TOK")
check_eq "wrong token (the token twice): 401" 401 "$(code "$r")"
r=$(nreq GET "/api/v1/stats?access_token=nope" )
check_eq "wrong access_token: 401" 401 "$(code "$r")"
check_eq "the binding is still there" 1 "$(api /api/v1/registrations | jq '.registrations | length')"
r=$(nreq GET /api/v1/stats -H "Authorization: Bearer $TOK")
check_eq "the token: 200" 200 "$(code "$r")"
check_eq "health needs no token" 200 "$(code "$(nreq GET /api/v1/health)")"

# ---- CORS: a foreign page ----
h=$(curl -s -D - -o /dev/null --max-time 5 -X OPTIONS -H 'Origin: http://evil.example' \
  -H 'Access-Control-Request-Method: DELETE' -H 'Access-Control-Request-Headers: authorization' \
  "$A/api/v1/registrations/$aor")
check_eq "foreign preflight: no Access-Control-Allow-* header at all" "" \
  "$(tr -d '\r' <<<"$h" | grep -i '^Access-Control-Allow')"
check_eq "foreign preflight: 403" 403 "$(awk 'NR == 1 { print $2 }' <<<"$h")"
r=$(nreq DELETE "/api/v1/registrations/$aor" -H 'Origin: http://evil.example' -H "Authorization: Bearer $TOK")
check_eq "DELETE from a foreign Origin, even with the token: 403 FORBIDDEN" "403 FORBIDDEN" \
  "$(code "$r") $(body "$r" | jq -r .code)"
check_eq "the binding survived it" 1 "$(api /api/v1/registrations | jq '.registrations | length')"
h=$(curl -s -D - -o /dev/null --max-time 5 -H 'Origin: http://evil.example' -H "Authorization: Bearer $TOK" "$A/api/v1/stats")
check_eq "GET from a foreign Origin: no Access-Control-Allow-Origin" "" "$(hdr "$h" Access-Control-Allow-Origin)"
h=$(curl -s -D - -o /dev/null --max-time 5 -X OPTIONS -H 'Origin: http://127.0.0.2:8080' \
  -H 'Access-Control-Request-Method: DELETE' "$A/api/v1/registrations/$aor")
check_eq "a peer's preflight (api_peers): its own origin, never *" "http://127.0.0.2:8080" \
  "$(hdr "$h" Access-Control-Allow-Origin)"
h=$(curl -s -D - -o /dev/null --max-time 5 -H "Authorization: Bearer $TOK" "$A/api/v1/stats")
check_eq "no answer carries Access-Control-Allow-Origin: * (same origin, no Origin)" "" \
  "$(hdr "$h" Access-Control-Allow-Origin)"
r=$(nreq GET /api/v1/stats -H "Origin: http://127.0.0.1:$API_PORT" -H "Authorization: Bearer $TOK")
check_eq "our own page's Origin: 200" 200 "$(code "$r")"

# ---- DNS rebinding: a name of the attacker's pointed at 127.0.0.1 ----
r=$(nreq DELETE "/api/v1/registrations/$aor" -H 'Host: evil.example:8080' -H "Authorization: Bearer $TOK")
check_eq "Host: evil.example: 421 MISDIRECTED, even with the token" "421 MISDIRECTED" \
  "$(code "$r") $(body "$r" | jq -r .code)"
check_eq "Host: evil.example: the dashboard page is refused too" 421 \
  "$(code "$(nreq GET / -H 'Host: evil.example')")"
check_eq "the binding survived it" 1 "$(api /api/v1/registrations | jq '.registrations | length')"
check_eq "Host: localhost and 127.0.0.1 are ours" "200 200" \
  "$(code "$(nreq GET /api/v1/stats -H "Host: localhost:$API_PORT" -H "Authorization: Bearer $TOK")") $(code "$(nreq GET /api/v1/stats -H "Host: 127.0.0.1:$API_PORT" -H "Authorization: Bearer $TOK")")"
set_param api_allowed_hosts pbx.example.net
sb reload >/dev/null
check "api_allowed_hosts: a name added by reload is accepted" wait_until 5 \
  '[ "$(code "$(nreq GET /api/v1/stats -H "Host: pbx.example.net" -H "Authorization: Bearer $TOK")")" = 200 ]'

# ---- 256 idle connections from one address locked everyone out ----
python3 - "$API_PORT" >"$SB_OUT/conns.txt" 2>&1 <<'PY'
import socket, sys
port = int(sys.argv[1])
def ask(src):
    s = socket.socket()
    s.settimeout(3)
    s.bind((src, 0))
    try:
        s.connect(("127.0.0.1", port))
        s.sendall(b"GET /api/v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        data = s.recv(64)
        return data.split(b" ")[1].decode() if data.startswith(b"HTTP/1.1 ") else "closed"
    except OSError:
        return "closed"
    finally:
        s.close()
idle = []
for i in range(64):
    c = socket.socket()
    c.bind(("127.0.0.1", 0))
    c.connect(("127.0.0.1", port))
    idle.append(c)
print("65th", ask("127.0.0.1"))
print("other", ask("127.0.0.2"))
for c in idle:
    c.close()
PY
check_eq "64 idle connections from 127.0.0.1: its 65th is closed unanswered (api_connections_per_client)" \
  "65th closed" "$(grep '^65th' "$SB_OUT/conns.txt")"
check_eq "meanwhile another address (127.0.0.2) is answered" "other 200" "$(grep '^other' "$SB_OUT/conns.txt")"
check "once they close, 127.0.0.1 is answered again" wait_until 5 '[ "$(code "$(nreq GET /api/v1/health)")" = 200 ]'

# ---- 257 event streams from one address ----
python3 - "$API_PORT" "$TOK" >"$SB_OUT/streams.txt" 2>&1 <<'PY'
import socket, sys
port, tok = int(sys.argv[1]), sys.argv[2].encode()
req = b"GET /api/v1/events HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer " + tok + b"\r\n\r\n"
def status(src):
    s = socket.socket()
    s.settimeout(3)
    s.bind((src, 0))
    try:
        s.connect(("127.0.0.1", port))
        s.sendall(req)
        line = b""
        while not line.endswith(b"\r\n"):
            c = s.recv(1)
            if not c:
                break
            line += c
        code = line.split(b" ")[1].decode() if line.count(b" ") >= 1 else "none"
        if code == "429" and not bodies:
            rest = b""
            while b"}" not in rest:
                c = s.recv(4096)
                if not c:
                    break
                rest += c
            bodies.append(rest.split(b"\r\n\r\n", 1)[-1].decode(errors="replace"))
    except OSError:
        code = "none"
    return s, code
held, counts, bodies = [], {}, []
for i in range(257):
    s, code = status("127.0.0.1")
    counts[code] = counts.get(code, 0) + 1
    if code == "200":
        held.append(s)
    else:
        s.close()
other, code = status("127.0.0.2")
print("one", " ".join("%s=%d" % kv for kv in sorted(counts.items())))
print("last", code)
print("body", bodies[0] if bodies else "")
other.close()
for s in held:
    s.close()
PY
check_eq "257 streams from 127.0.0.1: 32 (api_events_per_client) get 200, the rest 429" \
  "one 200=32 429=225" "$(grep '^one' "$SB_OUT/streams.txt")"
check_eq "meanwhile another address (127.0.0.2) still gets its stream" "last 200" \
  "$(grep '^last' "$SB_OUT/streams.txt")"
check_eq "the 429 is JSON: TOO_MANY_REQUESTS" TOO_MANY_REQUESTS \
  "$(sed -n 's/^body //p' "$SB_OUT/streams.txt" | jq -r .code 2>/dev/null)"
check_eq "apid was never restarted" 0 "$(status_field apid 0 6)"

# ---- api_insecure: only on loopback ----
set_param api_insecure yes
sb reload >/dev/null
check "api_insecure on loopback: no token needed" wait_until 5 \
  '[ "$(code "$(nreq GET /api/v1/stats)")" = 200 ]'
check_eq "api_insecure: a peer's page may read but not change (403)" 403 \
  "$(code "$(nreq DELETE "/api/v1/registrations/$aor" -H 'Origin: http://127.0.0.2:8080')")"
check_eq "api_insecure: DNS rebinding is still 421" 421 \
  "$(code "$(nreq GET /api/v1/stats -H 'Host: evil.example')")"
cp "$CONF/main.cf" "$CONF/main.cf.loopback"
set_param api_listen "0.0.0.0:$API_PORT"
out=$(sb check 2>&1)
check "api_insecure with api_listen 0.0.0.0: switchboard check refuses it, naming the line" \
  grep -q "main.cf:[0-9]*: api_insecure = yes" <<<"$out"
sb reload >/dev/null 2>&1
check_eq "and a reload keeps the running configuration (still 127.0.0.1 only)" "127.0.0.1:$API_PORT" \
  "$(ss -Hltn "sport = :$API_PORT" | awk '{ print $4 }' | sort -u | tr '\n' ' ' | sed 's/ $//')"
mv "$CONF/main.cf.loopback" "$CONF/main.cf"
set_param api_insecure no
sb reload >/dev/null
check "api_insecure off again: 401" wait_until 5 '[ "$(code "$(nreq GET /api/v1/stats)")" = 401 ]'

# ---- HTTPS (api_tls_cert, api_tls_key; read by apid at start) ----
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 \
  -subj /CN=localhost -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
  -keyout "$CONF/api.key" -out "$CONF/api.crt" 2>/dev/null
chmod 600 "$CONF/api.key"
set_param api_tls_cert "$CONF/api.crt"
out=$(sb check 2>&1)
check "api_tls_cert without api_tls_key: switchboard check refuses it" grep -q "api_tls_cert without api_tls_key" <<<"$out"
set_param api_tls_key "$CONF/api.key"
sb reload >/dev/null
kill -9 "$(status_field apid 0 3)"
S=https://127.0.0.1:$API_PORT
scode() { curl -s -o /dev/null -w '%{http_code}' --max-time 5 --cacert "$CONF/api.crt" "$@"; }
check "HTTPS: the new apid answers health over TLS (the certificate verifies)" wait_until 10 \
  '[ "$(scode "$S/api/v1/health")" = 200 ]'
check_eq "HTTPS: no token 401, the token 200" "401 200" \
  "$(scode "$S/api/v1/stats") $(scode -H "Authorization: Bearer $TOK" "$S/api/v1/stats")"
check_eq "HTTPS: our own page's origin is https://" "200 403" \
  "$(scode -H "Origin: https://127.0.0.1:$API_PORT" -H "Authorization: Bearer $TOK" "$S/api/v1/stats") $(scode -H "Origin: http://127.0.0.1:$API_PORT" -H "Authorization: Bearer $TOK" "$S/api/v1/stats")"
check "HTTPS: plain HTTP gets no answer" bash -c "! curl -s --max-time 3 -o /dev/null -w '%{http_code}' '$A/api/v1/health' | grep -q 200"
sed -i '/^api_tls_/d' "$CONF/main.cf"
sb reload >/dev/null
kill -9 "$(status_field apid 0 3)"
check "plain HTTP again once apid restarts without TLS" wait_until 10 '[ "$(code "$(nreq GET /api/v1/stats)")" = 401 ]'

# ---- no token at all: apid serves nothing ----
mv "$CONF/api.token" "$CONF/api.token.kept"
kill -9 "$(status_field apid 0 3)"
check "no token file: the new apid answers 503 to everything, health too" wait_until 10 \
  '[ "$(code "$(nreq GET /api/v1/health)")" = 503 ]'
check_eq "no token file: the token-less requests still get nothing" "503 UNAVAILABLE" \
  "$(r=$(nreq GET /api/v1/registrations); echo "$(code "$r") $(body "$r" | jq -r .code)")"
check "no token file: status says apid waits for a token" \
  bash -c "'$SB_BIN/switchboard' -c '$CONF' status | grep '^apid' | grep -q 'API token'"
check "no token file: the log says why" grep -q "no API token" "$LOG"
set_param api_token reload-set-token-0123456789
sb reload >/dev/null
check "api_token set by a reload: apid serves again and turns ready" wait_until 10 \
  '[ "$(code "$(nreq GET /api/v1/stats -H "Authorization: Bearer reload-set-token-0123456789")")" = 200 ] && [ "$(status_field apid 0 4)" = ready ]'
check "the token is never logged" bash -c "! grep -q '$TOK' '$LOG'"
mv "$CONF/api.token.kept" "$CONF/api.token"
sb stop >/dev/null
finish
