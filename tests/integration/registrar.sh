#!/usr/bin/env bash
# routerd's registrar and location service (RFC 3261 10.3) against the real cluster and
# its embedded Redis, driven over routerd's IPC socket by reg_probe (as sipd would):
# bindings and their expiries, refresh, q order, removal, stale CSeq, 423, wildcard,
# the Redis layout, expiry by Redis alone, two routerd instances and a restart sharing
# the bindings, a stopped Redis (503 within register_timeout, then back to 200), a
# requester that goes away before Redis answers, a new Redis; the registers counters; a
# RouteReply whose first action dials a user carries that user's location.
. "$(dirname "$0")/lib.sh"
RP=$SB_TOOLS/reg_probe

new_confdir registrar
set_param log_level debug
set_param register_min_expires 2
set_param register_max_expires 7200
set_param register_timeout 1s
set_maxproc routerd 2
sb start >/dev/null || { not_ok "start"; finish; }
P0=$CONF/run/private/routerd.0
P1=$CONF/run/private/routerd.1
R() { redis-cli -s "$CONF/run/private/redis.sock" "$@"; }
reg() { "$RP" "$P0" register "$@"; }
look() { "$RP" "${2:-$P0}" lookup "$1"; }
# Fields of reg_probe's output.
status() { awk '$1 == "status" { print $2 }' <<<"$1"; }
line() { awk -v k="$2" '$1 == k { sub(/^[^ ]* /, ""); print }' <<<"$1"; }
count() { grep -c '^binding ' <<<"$1"; }
order() { grep '^binding ' <<<"$1" | sed 's/^binding uri=\([^ ]*\) .*/\1/' | tr '\n' ' ' | sed 's/ $//'; }
# bfield OUTPUT URI KEY: KEY's value on URI's binding line (user_agent: the rest of it).
bfield() {
  awk -v u="binding uri=$2 " -v k=" $3=" 'index($0, u) == 1 {
    i = index($0, k); if (!i) next
    v = substr($0, i + length(k)); if (k != " user_agent=") sub(/ .*/, "", v); print v; exit }' <<<"$1"
}
routerd_redis_up() {
  [ "$(api /api/v1/processes | jq '[.processes[] | select(.role=="routerd") | .counters.redis_up] | (length == 2 and min == 1)')" = true ]
}
check "both routerd instances are linked to redis" wait_until 10 routerd_redis_up

A=sip:alice@example.com
K="sb:reg:{$A}"
C1=sip:alice@127.0.0.1:5061
C2='sip:alice@127.0.0.1:5062;transport=tcp'
C3=sip:alice@10.1.1.3:5060

# ---- register, and what Redis holds ----
out=$(reg $A call-a 1 --expires 600 --ua 'Phone A/1.0' --source tcp:127.0.0.1:5061#1 \
  "$C1;q=0.5" "$C2;expires=300")
check_eq "REGISTER with two contacts: 200" 200 "$(status "$out")"
check_eq "the 200 lists both bindings" 2 "$(count "$out")"
check_eq "a contact without expires gets the Expires header's 600 s" 600 "$(bfield "$out" "$C1" expires)"
check_eq "a contact's own expires=300 wins over the header" 300 "$(bfield "$out" "$C2" expires)"
check_eq "q=0.5 is recorded as 500" 500 "$(bfield "$out" "$C1" q)"
check_eq "an absent q is -1" -1 "$(bfield "$out" "$C2" q)"
check_eq "Call-ID and CSeq are recorded" "call-a 1" "$(bfield "$out" "$C1" call_id) $(bfield "$out" "$C1" cseq)"
check_eq "the source is recorded" "tcp:127.0.0.1:5061#1" "$(bfield "$out" "$C1" source)"
check_eq "the user agent is recorded" "Phone A/1.0" "$(bfield "$out" "$C1" user_agent)"
reg_at=$(bfield "$out" "$C1" registered_at_ms)
check_eq "expires_at_ms is registered_at_ms + 600 s" $((reg_at + 600000)) "$(bfield "$out" "$C1" expires_at_ms)"
now_ms=$(($(date +%s%3N)))
check "registered_at_ms is the wall clock ($reg_at vs $now_ms)" \
  test $((now_ms - reg_at)) -ge 0 -a $((now_ms - reg_at)) -lt 5000
check_eq "redis: one hash per AOR, a field per contact" 2 "$(R hlen "$K")"
check_eq "redis: one key per AOR, nothing else in its name" "$K" "$(R --scan --pattern "*{$A}*")"
rec=$(R hget "$K" "$C1")
check_eq "redis: the record is JSON (Call-ID, CSeq, q, source)" "call-a 1 500 tcp 127.0.0.1 5061 1" \
  "$(jq -r '"\(.call_id) \(.cseq) \(.q) \(.transport) \(.addr) \(.port) \(.sipd_instance)"' <<<"$rec")"
ttl=$(R ttl "$K")
check "redis: the hash expires with its last binding (TTL $ttl)" test "$ttl" -ge 595 -a "$ttl" -le 600
check_eq "redis: the key expires at its latest binding's expires_at_ms" "$(jq .expires_at_ms <<<"$rec")" "$(R pexpiretime "$K")"
check "the script runs by EVALSHA once loaded" \
  test "$(R info commandstats | sed -n 's/^cmdstat_evalsha:calls=\([0-9]*\),.*/\1/p')" -ge 1

# ---- refresh ----
out=$(reg $A call-a 2 --expires 900 "$C1;q=0.5")
check_eq "refresh (same Call-ID, higher CSeq): 200" 200 "$(status "$out")"
check_eq "the refreshed binding has its new expiry" 900 "$(bfield "$out" "$C1" expires)"
left=$(bfield "$out" "$C2" expires)
check "the other binding is still listed, untouched ($left s left)" test "$left" -le 300 -a "$left" -ge 290
check_eq "redis: the stored CSeq is now 2" 2 "$(R hget "$K" "$C1" | jq .cseq)"
check "redis: the key now lives as long as the longest binding" test "$(R ttl "$K")" -ge 895

# ---- q order, seen from the other routerd instance ----
out=$(reg $A call-c 1 "$C3;q=1.0")
check_eq "a third device (another Call-ID, default expiry): 200" 3600 "$(bfield "$out" "$C3" expires)"
out=$(look $A "$P1")
check_eq "routerd.1 sees the same bindings: 200" 200 "$(status "$out")"
check_eq "lookup order: q descending (absent = 1.0), then newest first" "$C3 $C2 $C1" "$(order "$out")"

# ---- out of order: nothing changes, atomically ----
before=$(R hgetall "$K" | md5sum)
out=$(reg $A call-a 2 "$C1;q=0.5" sip:alice@127.0.0.1:5099)
check_eq "same Call-ID and CSeq again: 500 Out of order" "500 Out of order" "$(status "$out") $(line "$out" reason)"
check_eq "nothing changed in redis, not even the new contact" "$before" "$(R hgetall "$K" | md5sum)"
out=$(reg $A call-a 1 "$C1")
check_eq "same Call-ID, lower CSeq: 500" 500 "$(status "$out")"
out=$(reg $A call-b 1 --expires 600 "$C1;q=0.5")
check_eq "another Call-ID with a lower CSeq replaces the binding: 200" 200 "$(status "$out")"
check_eq "redis: the binding now carries the new Call-ID" "call-b 1" "$(R hget "$K" "$C1" | jq -r '"\(.call_id) \(.cseq)"')"

# ---- 423, max cut, removal, query ----
before=$(R hgetall "$K" | md5sum)
out=$(reg $A call-b 2 "$C1;expires=1")
check_eq "expires below register_min_expires: 423 with min_expires" "423 2" "$(status "$out") $(line "$out" min_expires)"
check_eq "the 423 changed nothing" "$before" "$(R hgetall "$K" | md5sum)"
out=$(reg $A call-a 3 "$C2;expires=100000")
check_eq "an expiry over register_max_expires is cut to it" 7200 "$(bfield "$out" "$C2" expires)"
out=$(reg $A call-a 4 "$C2;expires=0")
check_eq "expires=0 removes that binding: 200 lists the others" "200 $C3 $C1" "$(status "$out") $(order "$out")"
check_eq "redis: the field is gone from the hash" 0 "$(R hexists "$K" "$C2")"
out=$(reg $A call-q 1)
check_eq "a REGISTER without contacts is a query: 200 with the bindings" "200 2" "$(status "$out") $(count "$out")"

# ---- wildcard ----
out=$(reg $A call-c 5 --wildcard --expires 30)
check_eq "Contact: * without Expires: 0 is 400" 400 "$(status "$out")"
out=$(reg $A call-c 5 --wildcard --expires 0 "$C1")
check_eq "Contact: * with another contact is 400" 400 "$(status "$out")"
before=$(R hgetall "$K" | md5sum)
out=$(reg $A call-c 1 --wildcard --expires 0)
check_eq "Contact: * with a binding's Call-ID and a CSeq not higher: 500" 500 "$(status "$out")"
check_eq "and nothing was removed" "$before" "$(R hgetall "$K" | md5sum)"
out=$(reg $A call-c 2 --wildcard --expires 0)
check_eq "Contact: *, Expires: 0: 200 with no binding left" "200 0" "$(status "$out") $(count "$out")"
check_eq "redis: the key is gone" 0 "$(R exists "$K")"
check_eq "lookup: 404" 404 "$(status "$(look $A)")"

# ---- registration events on sb:events (for the admin API's SSE stream) ----
EV=sip:ev@example.com
EVLOG=$CONF/events.txt
timeout 20 redis-cli -s "$CONF/run/private/redis.sock" subscribe sb:events >"$EVLOG" 2>&1 &
EVPID=$!
EXTRA_PIDS="${EXTRA_PIDS:-} $EVPID"
# its own confirmation, not PUBSUB NUMSUB: apid subscribes to sb:events too
check "a subscriber listens on sb:events" wait_until 5 'grep -qx subscribe "$EVLOG"'
reg $EV call-ev 1 --expires 600 sip:ev@127.0.0.1:5090 sip:ev@127.0.0.1:5091 >/dev/null
reg $EV call-ev 2 --expires 900 sip:ev@127.0.0.1:5090 >/dev/null
reg $EV call-ev 3 "sip:ev@127.0.0.1:5091;expires=0" >/dev/null
reg $EV call-ev 4 "sip:ev@127.0.0.1:5092;expires=0" >/dev/null # nothing to remove: no event
reg $EV call-ev 5 --expires 1 sip:ev@127.0.0.1:5093 >/dev/null   # 423: no event
reg $EV call-ev 5 --wildcard --expires 0 >/dev/null
# redis-cli prints each message as three lines: "message", the channel, the payload.
events() { awk 'p == 2 { print; p = 0; next } p == 1 { p = 2; next } $0 == "message" { p = 1 }' "$EVLOG"; }
check "the subscriber got 5 events" wait_until 5 '[ "$(events | wc -l)" -ge 5 ]'
kill "$EVPID" 2>/dev/null
check_eq "one event per binding changed, in order (type contact expires)" \
  "registration.added sip:ev@127.0.0.1:5090 600|registration.added sip:ev@127.0.0.1:5091 600|registration.refreshed sip:ev@127.0.0.1:5090 900|registration.removed sip:ev@127.0.0.1:5091 0|registration.removed sip:ev@127.0.0.1:5090 0" \
  "$(events | jq -r '"\(.type) \(.contact) \(.expires)"' | paste -sd'|')"
check_eq "every event names the AOR and this node" "$EV node1" \
  "$(events | jq -r '"\(.aor) \(.node_id)"' | sort -u | paste -sd'|')"
ts=$(events | head -n 1 | jq .ts_ms)
now_ms=$(($(date +%s%3N)))
check "ts_ms is the wall clock of the change ($ts vs $now_ms)" \
  test $((now_ms - ts)) -ge 0 -a $((now_ms - ts)) -lt 10000
check_eq "an event has exactly the documented fields" "aor,contact,expires,node_id,ts_ms,type" \
  "$(events | head -n 1 | jq -r 'keys | join(",")')"

# ---- shm counters (sums over both instances) ----
counter() { api /api/v1/processes | jq "[.processes[] | select(.role==\"routerd\") | .counters.$1] | add"; }
regs=$(counter registers); failed=$(counter registers_failed)
reg sip:cnt@example.com call-k 1 sip:cnt@127.0.0.1:5000 >/dev/null
reg sip:cnt@example.com call-k 2 "sip:cnt@127.0.0.1:5000;expires=1" >/dev/null
"$RP" "$P1" register sip:cnt@example.com call-k 3 --wildcard >/dev/null
look sip:cnt@example.com >/dev/null
check_eq "routerd counts every REGISTER it decides (registers)" $((regs + 3)) "$(counter registers)"
check_eq "and those answered with an error (registers_failed: the 423 and the 400)" \
  $((failed + 2)) "$(counter registers_failed)"

# ---- a route's first dial to user/NAME carries its location (conf/dialplan.json: 1* ->
# user/${destination}; 500 -> play_audio) ----
route() { "$RP" "${3:-$P0}" route "$1" "$2"; }
# afield OUTPUT I KEY: KEY's value on action I's line.
afield() { awk -v a="action $2 " -v k="$3" 'index($0, a) == 1 {
  for (i = 1; i <= NF; i++) if (index($i, k "=") == 1) { print substr($i, length(k) + 2); exit } }' <<<"$1"; }
U=sip:1001@example.com
out=$(reg $U call-u 1 --expires 600 "sip:1001@127.0.0.1:5071;q=0.4" sip:1001@127.0.0.1:5072)
check_eq "1001 registers two contacts" 200 "$(status "$out")"
out=$(route 1001 EXAMPLE.com:5060)
check_eq "route to 1001: 200 with one action" "200 route_internal 1" \
  "$(status "$out") $(line "$out" route_id) $(line "$out" actions)"
check_eq "the dial's AOR is the registrar's form (host lower case, no port)" "$U" \
  "$(afield "$out" 0 aor)"
check_eq "the dial carries its location: 200 with both bindings, best first" \
  "200 2 sip:1001@127.0.0.1:5072 sip:1001@127.0.0.1:5071" \
  "$(afield "$out" 0 location) $(afield "$out" 0 count) $(order "$out")"
check_eq "the location is the one a LocationRequest gets" "$(grep '^binding ' <<<"$(look $U)" | sed 's/ expires=[0-9]*//')" \
  "$(grep '^binding ' <<<"$out" | sed 's/ expires=[0-9]*//')"
out=$(route 1999 example.com "$P1")
check_eq "a user without a binding: the route's location is 404 (routerd.1)" "200 404 0" \
  "$(status "$out") $(afield "$out" 0 location) $(afield "$out" 0 count)"
out=$(route 500 example.com)
check_eq "a route that does not start with a dial has no location" "play_audio none" \
  "$(afield "$out" 0 type) $(afield "$out" 0 location)"

# ---- NOSCRIPT ----
R script flush >/dev/null
out=$(reg sip:nos@example.com call-n 1 sip:nos@127.0.0.1:5000)
check_eq "after SCRIPT FLUSH a REGISTER still works (EVAL on NOSCRIPT)" 200 "$(status "$out")"
out=$(reg sip:nos@example.com call-n 2 sip:nos@127.0.0.1:5000)
check_eq "and the next one too" 200 "$(status "$out")"

# ---- routerd restart: the bindings live in Redis ----
B=sip:bob@example.com
out=$(reg $B call-b 1 --expires 600 sip:bob@127.0.0.1:5080)
check_eq "bob registers through routerd.0" 200 "$(status "$out")"
rpid=$(status_field routerd 0 3)
kill -9 "$rpid"
restarted() { local p; p=$(status_field routerd 0 3); [ -n "$p" ] && [ "$p" != "$rpid" ] &&
  [ "$(status_field routerd 0 4)" = ready ]; }
check "routerd.0 is respawned after kill -9" wait_until 10 restarted
check "the new routerd.0 finds bob's binding" \
  wait_until 5 '[ "$(order "$(look $B)")" = sip:bob@127.0.0.1:5080 ]'

# ---- expiry by Redis alone ----
E=sip:eve@example.com
out=$(reg $E call-e 1 "sip:eve@127.0.0.1:5070;expires=2" "sip:eve@127.0.0.1:5071;expires=600")
check_eq "eve registers a 2 s and a 600 s binding" "2 600" \
  "$(bfield "$out" sip:eve@127.0.0.1:5070 expires) $(bfield "$out" sip:eve@127.0.0.1:5071 expires)"
check "the 2 s binding leaves the lookup by itself" \
  wait_until 5 '[ "$(order "$(look $E)")" = sip:eve@127.0.0.1:5071 ]'
reg $E call-q 1 >/dev/null
check_eq "the next REGISTER of the AOR drops it from redis too" 1 "$(R hlen "sb:reg:{$E}")"
F=sip:fay@example.com
out=$(reg $F call-f 1 "sip:fay@127.0.0.1:5072;expires=2")
check_eq "fay registers for 2 s" 2 "$(bfield "$out" sip:fay@127.0.0.1:5072 expires)"
check "redis: fay's key carries a TTL of at most 2 s" test "$(R pttl "sb:reg:{$F}")" -le 2000 -a "$(R pttl "sb:reg:{$F}")" -gt 0
check "after it lapses, lookup says 404" wait_until 5 '[ "$(status "$(look $F)")" = 404 ]'
check "and redis has dropped the key by itself (no sweep)" \
  wait_until 3 '[ "$(R exists "sb:reg:{$F}")" = 0 ]'

# ---- Redis stops answering ----
pid0=$(status_field routerd 0 3)
pid1=$(status_field routerd 1 3)
redis_pid=$(status_field redis 0 3)
kill -STOP "$redis_pid"
"$RP" "$P0" register sip:gone@example.com call-g 1 --close-after-ms 300 sip:gone@127.0.0.1:5090 \
  >"$SB_OUT/gone.out" &
gone_pid=$!
"$RP" "$P0" register sip:gone@example.com call-g 2 --no-wait sip:gone@127.0.0.1:5091 >/dev/null
"$RP" "$P0" route 1001 example.com --close-after-ms 300 >"$SB_OUT/gone-route.out" &
gone_route_pid=$!
t0=$(date +%s%3N)
out=$(reg sip:dave@example.com call-d 1 sip:dave@127.0.0.1:5081)
t1=$(date +%s%3N)
check_eq "redis stopped: 503 with retry_after" "503 5" "$(status "$out") $(line "$out" retry_after)"
check "answered within register_timeout, at 7/8 of it ($((t1 - t0)) ms)" \
  test $((t1 - t0)) -ge 800 -a $((t1 - t0)) -lt 1000
t0=$(date +%s%3N)
out=$(reg sip:dave@example.com call-d 2 sip:dave@127.0.0.1:5081)
t1=$(date +%s%3N)
check_eq "while redis owes answers, 503 at once" 503 "$(status "$out")"
check "without waiting for redis ($((t1 - t0)) ms)" test $((t1 - t0)) -lt 700
check_eq "a lookup gets 503 too" 503 "$(status "$(look sip:dave@example.com)")"
out=$(route 1001 example.com)
check_eq "a route to a user is still answered, its location 503" "200 503" \
  "$(status "$out") $(afield "$out" 0 location)"
wait "$gone_pid" "$gone_route_pid"
check_eq "a requester that leaves before redis answers" sent "$(cat "$SB_OUT/gone.out")"
check_eq "and one that leaves while its route waits for the location" sent \
  "$(cat "$SB_OUT/gone-route.out")"
check "routerd saw the requester's channel close and dropped its answer" \
  wait_until 3 'grep -q "routerd\[0\] $pid0: the requester.s channel closed: answer dropped" "$LOG"'
route_dropped() {
  grep -A1 "routerd\[0\] $pid0: location sip:1001@example.com: 503 (redis timeout)" "$LOG" |
    grep -q "the requester.s channel closed: answer dropped"
}
check "and dropped the route's answer when its location timed out" wait_until 3 route_dropped
kill -CONT "$redis_pid"
check "redis answers again: REGISTER is 200 again" \
  wait_until 5 '[ "$(status "$(reg sip:dave@example.com call-d 3 sip:dave@127.0.0.1:5081)")" = 200 ]'
check_eq "a REGISTER answered 503 changed nothing (the script refused it late)" "404 0" \
  "$(status "$(look sip:gone@example.com)") $(R exists "sb:reg:{sip:gone@example.com}")"
check_eq "dave's binding is the one of CSeq 3" 3 "$(R hget "sb:reg:{sip:dave@example.com}" sip:dave@127.0.0.1:5081 | jq .cseq)"
check_eq "neither routerd crashed" "$pid0 $pid1" "$(status_field routerd 0 3) $(status_field routerd 1 3)"
check "routerd logged the redis timeout as a warning" \
  grep -q "routerd\[0\] $pid0: registrar: redis did not answer within register_timeout" "$LOG"

# ---- a new Redis (kill -9; the embedded one keeps nothing): routerd carries on ----
kill -9 "$redis_pid"
check "redis is respawned and both routerd instances are linked again" wait_until 10 \
  '[ "$(status_field redis 0 3)" != "$redis_pid" ] && routerd_redis_up'
check "REGISTER works against the new redis" \
  wait_until 5 '[ "$(status "$(reg sip:new@example.com call-n 1 sip:new@127.0.0.1:5000)")" = 200 ]'
check_eq "and on routerd.1 too" 200 \
  "$(status "$("$RP" "$P1" register sip:new@example.com call-n 2 sip:new@127.0.0.1:5000)")"
check_eq "routerd did not restart" "$pid0 $pid1" "$(status_field routerd 0 3) $(status_field routerd 1 3)"

sb stop >/dev/null || not_ok "stop"
finish
