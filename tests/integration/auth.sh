#!/usr/bin/env bash
# Digest authentication (RFC 3261 22, RFC 7616/8760; docs/security.md): subscribers made
# with `switchboard user add` (HA1 only in Redis), REGISTER 401 and INVITE 407 with
# SHA-256 and MD5 challenges, answered by tests/tools/sip_digest.c (SHA-256 and MD5) and
# by SIPp's [authentication] (MD5: a registration and a whole call); finding 1 of the
# security review replayed (an unauthenticated Contact: * or foreign contact for someone
# else's AOR, an unauthenticated INVITE) and refused without touching Redis; a wrong
# password, an unknown user (the same answer, byte for byte), a stale nonce, a replayed
# nonce-count, another user's AOR or From (403), a domain we do not serve (403), a
# trusted peer served without a challenge, and a ban after sip_auth_ban_failures; two
# sipd and two routerd instances share nonces and bans.
. "$(dirname "$0")/lib.sh"

new_confdir auth
set_param sip_auth yes
set_param sip_auth_ban_failures 3
# two of each: a challenge and its answer may meet different sipd and routerd instances
# (the nonce secret and the bans are shared through Redis)
set_maxproc sipd 2
set_maxproc routerd 2
set_param sip_trusted_peers "127.0.0.9 192.0.2.0/24"
# 77*: busy for callers from trusted peers, rejected for subscribers ("from", dialplan.md)
jq '.routes += [
  {"id": "trunk_in", "pattern": "77*", "priority": 5, "from": "trusted",
   "actions": [{"type": "hangup", "params": {"reason": "busy"}}]},
  {"id": "subscriber_out", "pattern": "77*", "priority": 6, "from": "authenticated",
   "actions": [{"type": "hangup", "params": {"reason": "rejected"}}]}]' \
  "$CONF/dialplan.json" >"$CONF/dialplan.new" && mv "$CONF/dialplan.new" "$CONF/dialplan.json"
# bad values are refused by switchboard check, naming main.cf's line
cp "$CONF/main.cf" "$CONF/main.cf.good"
set_param sip_trusted_peers "192.0.2.1 gateway.example.com"
set_param sip_auth_algorithms "SHA-256 SHA-512"
out=$(sb check 2>&1)
check "switchboard check refuses a trusted peer that is no address, naming main.cf:LINE" \
  grep -q "main.cf:[0-9]*: sip_trusted_peers = .*'gateway.example.com': not an address" <<<"$out"
check "switchboard check refuses an unknown digest algorithm" \
  grep -q "main.cf:[0-9]*: sip_auth_algorithms = .*expected SHA-256 and/or MD5" <<<"$out"
mv "$CONF/main.cf.good" "$CONF/main.cf"
sb start >/dev/null || { not_ok "start"; finish; }
wait_sip_ready
R() { redis-cli -s "$CONF/run/private/redis.sock" "$@"; }
# every REGISTER binds this contact unless told otherwise: alice keeps one binding
D() { "$SB_TOOLS/sip_digest" "$SIP_PORT" --contact sip:phone@127.0.0.1:5999 "$@"; }
# a response with what differs between two requests (nonce, tags, ids, ports) replaced
norm() {
  tr -d '\r' | sed -E 's/nonce="[^"]*"/nonce="NONCE"/g; s/tag=[^;> ]+/tag=TAG/g;
    s/branch=[^; ]+/branch=BRANCH/g; s/^Call-ID: .*/Call-ID: CALLID/; s/CSeq: [0-9]+/CSeq: N/;
    s/rport=[0-9]+/rport=PORT/; s/(127\.0\.0\.[0-9]+):[0-9]+/\1:PORT/g; s/sip:[^@>;]*@/sip:USER@/g'
}
nth() { sed -n "${1}p" <<<"$2"; }   # nth N OUTPUT: line N of sip_digest's output
regs() { R hlen "sb:reg:{sip:$1@localhost}"; }

# ---- subscribers ----
check "switchboard user add alice (password on the command line)" sb user add alice 'secret one'
check "switchboard user add 1001 (password on standard input)" \
  bash -c "echo pw1001 | '$SB_BIN/switchboard' -c '$CONF' user add 1001 -"
check_eq "switchboard user list" "1001@localhost alice@localhost" "$(sb user list | sort | tr '\n' ' ' | sed 's/ $//')"
md5=$(printf '%s' 'alice:localhost:secret one' | md5sum | cut -d' ' -f1)
sha=$(printf '%s' 'alice:localhost:secret one' | sha256sum | cut -d' ' -f1)
check_eq "Redis holds alice's MD5 HA1" "$md5" "$(R hget 'sb:sub:{alice@localhost}' ha1_md5)"
check_eq "Redis holds alice's SHA-256 HA1" "$sha" "$(R hget 'sb:sub:{alice@localhost}' ha1_sha256)"
check "Redis never holds the password" bash -c "! redis-cli -s '$CONF/run/private/redis.sock' --no-raw hgetall 'sb:sub:{alice@localhost}' | grep -q secret"
check "user add refuses a user with '@'" bash -c "! '$SB_BIN/switchboard' -c '$CONF' user add 'a@b' x 2>/dev/null"

# ---- subscribers over REST ----
put=$(acurl -s -X PUT -d '{"password": "pw 1003"}' "http://127.0.0.1:$API_PORT/api/v1/subscribers/1003")
check_eq "PUT /api/v1/subscribers/1003 makes a subscriber" '{"user":"1003","realm":"localhost"}' "$put"
check_eq "GET /api/v1/subscribers lists every one" "1001 1003 alice" \
  "$(api /api/v1/subscribers | jq -r '[.subscribers[].user] | sort | join(" ")')"
check_eq "GET /api/v1/subscribers/1003 shows no hash" '["algorithms","realm","user"]' \
  "$(api /api/v1/subscribers/1003 | jq -c 'keys')"
check_eq "1003 made over REST registers" 200 \
  "$(nth 2 "$(D register --user 1003 --password 'pw 1003')")"
check_eq "DELETE /api/v1/subscribers/1003 removes it" true \
  "$(acurl -s -X DELETE "http://127.0.0.1:$API_PORT/api/v1/subscribers/1003" | jq .deleted)"
check_eq "... and 1003 is a stranger again (a new 401)" 401 \
  "$(nth 2 "$(D register --user 1003 --password 'pw 1003')" | cut -d' ' -f1)"

# ---- REGISTER with SHA-256, then MD5 ----
out=$(D register --password 'secret one')
check_eq "an unauthenticated REGISTER gets 401 offering SHA-256 then MD5 for our realm" \
  "401 algs=SHA-256,MD5 stale=false realm=localhost" "$(nth 1 "$out")"
check_eq "the REGISTER answered with SHA-256 credentials gets 200" 200 "$(nth 2 "$out")"
check_eq "alice is bound" 1 "$(regs alice)"
check_eq "MD5 credentials are accepted too" "200" "$(nth 2 "$(D register --alg MD5 --password 'secret one')")"

# ---- finding 1 replayed: someone else's bindings from another source ----
out=$(D register --bind 127.0.0.2 --aor alice --wildcard --no-auth)
check_eq "Contact: * for alice without credentials gets 401" 401 "$(nth 1 "$out" | cut -d' ' -f1)"
check_eq "alice's binding stays" 1 "$(regs alice)"
out=$(D register --bind 127.0.0.2 --aor alice --contact sip:alice@192.0.2.66:5060 --no-auth)
check_eq "a foreign contact for alice without credentials gets 401" 401 "$(nth 1 "$out" | cut -d' ' -f1)"
check "the foreign contact is not bound" bash -c "! redis-cli -s '$CONF/run/private/redis.sock' hkeys 'sb:reg:{sip:alice@localhost}' | grep -q 192.0.2.66"
out=$(D invite --bind 127.0.0.2 --aor alice --to alice --no-auth)
check_eq "an unauthenticated INVITE gets 407 with Proxy-Authenticate" \
  "407 algs=SHA-256,MD5 stale=false realm=localhost" "$(nth 1 "$out")"
check_eq "... and costs no dialog record" "" "$(R --scan --pattern 'sb:dlg*')"
# svwar: INVITEs to a registered and to an unknown user, without credentials
D invite --bind 127.0.0.6 --to alice --no-auth --dump | norm >"$SB_OUT/auth-inv-known.txt"
D invite --bind 127.0.0.6 --to ghost --no-auth --dump | norm >"$SB_OUT/auth-inv-unknown.txt"
check "an INVITE to a registered user and to an unknown one get the same 407 (no svwar)" \
  cmp -s "$SB_OUT/auth-inv-known.txt" "$SB_OUT/auth-inv-unknown.txt"
check_eq "... and no media session" 0 "$(counter mediad media_sessions_created)"

# ---- failures ----
out=$(D register --bind 127.0.0.3 --password wrong)
check_eq "a wrong password gets a new 401" 401 "$(nth 2 "$out" | cut -d' ' -f1)"
check_eq "... and binds nothing" 1 "$(regs alice)"
D register --bind 127.0.0.5 --password wrong --dump | norm >"$SB_OUT/auth-known.txt"
D register --bind 127.0.0.5 --user mallory --aor mallory --password wrong --dump \
  | norm >"$SB_OUT/auth-unknown.txt"
check "an unknown user's answer is a wrong password's, byte for byte (nonce, tags aside)" \
  cmp -s "$SB_OUT/auth-known.txt" "$SB_OUT/auth-unknown.txt"
out=$(D register --password 'secret one' --stale-secret "$(R get 'sb:auth:{secret}')")
check_eq "a right answer with an expired nonce gets 401 with stale=true" \
  "401 algs=SHA-256,MD5 stale=true realm=localhost" "$(nth 2 "$out")"
out=$(D register --password 'secret one' --replay)
check_eq "the same nonce-count again is refused (401) after its 200" "200 401" \
  "$(nth 2 "$out") $(nth 3 "$out" | cut -d' ' -f1)"
out=$(D register --password 'secret one' --aor 1001)
check_eq "alice registering 1001's AOR gets 403" 403 "$(nth 2 "$out")"
check_eq "... and 1001 has no binding" 0 "$(regs 1001)"
check_eq "a REGISTER for a domain we do not serve gets 403" 403 \
  "$(D register --domain example.com --no-auth | head -1)"

# ---- INVITE ----
out=$(D invite --password 'secret one' --to 1001)
check_eq "an INVITE with SHA-256 credentials gets past 407 (404: 1001 is not registered)" \
  "407 404" "$(nth 1 "$out" | cut -d' ' -f1) $(nth 2 "$out")"
out=$(D invite --password 'secret one' --aor 1001 --to alice)
check_eq "alice's credentials on an INVITE From 1001 get 403" 403 "$(nth 2 "$out")"

# ---- trusted peers, and the dialplan's "from" ----
out=$(D register --bind 127.0.0.9 --aor 1002 --contact sip:trunk@127.0.0.9:5999 --no-auth)
check_eq "a trusted peer's REGISTER is served without a challenge" 200 "$out"
check_eq "a trusted peer's INVITE to 771 takes the \"from\": \"trusted\" route (486)" 486 \
  "$(D invite --bind 127.0.0.9 --aor trunk --to 771 --no-auth)"
out=$(D invite --password 'secret one' --to 771)
check_eq "alice's INVITE to 771 takes the \"from\": \"authenticated\" route (603)" "407 603" \
  "$(nth 1 "$out" | cut -d' ' -f1) $(nth 2 "$out")"

# ---- bans ----
for i in 1 2 3; do D register --bind 127.0.0.4 --password wrong >/dev/null; done
check_eq "three failures from 127.0.0.4 ban it in Redis" 1 "$(R exists 'sb:ban:{127.0.0.4}')"
BP=$(free_port) # one source port: the same sipd instance (SO_REUSEPORT) sees both
check_eq "the banned source's right password gets 403" 403 \
  "$(D register --bind 127.0.0.4 --lport "$BP" --password 'secret one' --no-auth)"
check_eq "sipd then drops the banned source's requests unread (no answer)" timeout \
  "$(D register --bind 127.0.0.4 --lport "$BP" --no-auth --timeout-ms 300)"
check_eq "another source is not banned" 200 "$(nth 2 "$(D register --password 'secret one')")"
check_eq "GET /api/v1/bans lists the ban" '["127.0.0.4"]' "$(api /api/v1/bans | jq -c '[.bans[].address]')"
check_eq "DELETE /api/v1/bans/127.0.0.4 lifts it" true \
  "$(acurl -s -X DELETE "http://127.0.0.1:$API_PORT/api/v1/bans/127.0.0.4" | jq .deleted)"
check_eq "... and it is gone from Redis" 0 "$(R exists 'sb:ban:{127.0.0.4}')"
# sipd forgets what it knew of the ban within CORE_AUTH_BAN_CACHE_MS (2 s)
lifted() { [ "$(nth 2 "$(D register --bind 127.0.0.4 --contact sip:phone@127.0.0.4:5999 --password 'secret one' --timeout-ms 200)")" = 200 ]; }
check "a lifted ban serves the source again" wait_until 5 lifted

# ---- SIPp (MD5 only: it answers the first challenge header, so MD5 alone is offered) ----
set_param sip_auth_algorithms MD5
sb reload >/dev/null
PB=$(free_port)
check "SIPp registers 1001 with MD5 ([authentication])" sipp_run auth-reg register_auth.xml \
  -p "$PB" -s 1001 -au 1001 -ap pw1001 -auth_uri localhost
check_eq "SIPp got 401 then 200" "401 200" "$(sipp_responses | awk '{ print $2 }' | tr '\n' ' ' | sed 's/ $//')"
check "SIPp registers alice over TCP too" sipp_run auth-reg-tcp register_auth.xml -t t1 \
  -s alice -au alice -ap 'secret one' -auth_uri localhost
check_eq "SIPp over TCP got 401 then 200" "401 200" "$(sipp_responses | awk '{ print $2 }' | tr '\n' ' ' | sed 's/ $//')"
callee auth-callee uas_answer.xml "$PB"
check "SIPp's authenticated call to 1001 completes" sipp_run auth-call uac_call_auth.xml \
  -s 1001 -d 200 -au alice -ap 'secret one' -auth_uri 1001@localhost
check_eq "the caller got 407, then the call" "100 407 100 180 200 200" "$(msgs auth-call received)"
check "the callee saw the whole call" wait_pid "$CALLEE_PID"
check "the callee never sees the caller's credentials" bash -c "! grep -qi authorization '$SB_OUT/auth-callee.msg'"

# ---- a Redis that lost the nonce secret gets the shared one back ----
secret=$(R get 'sb:auth:{secret}')
R del 'sb:auth:{secret}' >/dev/null
R client kill type normal >/dev/null # every routerd reconnects and offers its secret again
secret_back() { [ "$(R get 'sb:auth:{secret}')" = "$secret" ]; }
check "after Redis lost it, routerd puts the same nonce secret back" wait_until 5 secret_back
wait_sip_ready
check_eq "and a REGISTER authenticates as before" 200 "$(nth 2 "$(D register --alg MD5 --password 'secret one')")"

finish
