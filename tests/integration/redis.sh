#!/usr/bin/env bash
# The embedded redis-server is supervised like a worker and the Redis users reconnect by
# themselves; main.cf can point at an external Redis instead.
. "$(dirname "$0")/lib.sh"
redis_up_all() { # every Redis user reports its link up
  [ "$(api /api/v1/processes |
    jq '[.processes[] | select(.role=="routerd" or .role=="dialogd" or .role=="apid") | .counters.redis_up] | (length == 3 and min == 1)')" = true ]
}

new_confdir redis
sb start >/dev/null || { not_ok "start"; finish; }
check "the embedded redis answers on run_directory/private/redis.sock" \
  wait_until 5 '[ "$(redis-cli -s "$CONF/run/private/redis.sock" ping 2>/dev/null)" = PONG ]'
check "routerd, dialogd and apid are connected to it" wait_until 5 redis_up_all
# Redis ACLs: nobody without a password, each role its own user and keys
sec=$CONF/secrets
sock=$CONF/run/private/redis.sock
noauth() { env -u REDISCLI_AUTH redis-cli -s "$sock" "$@" 2>&1; }
as_role() { local r=$1; shift; env -u REDISCLI_AUTH redis-cli -s "$sock" --user "sb-$r" \
  --pass "$(cat "$sec/redis-$r")" --no-auth-warning "$@" 2>&1; }
says() { local n=$1; shift; [[ "$("$@")" == *"$n"* ]]; } # says TEXT CMD...: CMD prints TEXT
check "a client without a password is refused" says NOAUTH noauth set "sb:reg:{x}" y
check_eq "each role has its password file, root's only" "600 600 600 600 700" \
  "$(stat -c %a "$sec/redis-routerd" "$sec/redis-dialogd" "$sec/redis-apid" "$sec/redis-admin" "$sec" | xargs)"
check "the embedded Redis's ACL file holds no password" \
  bash -c "! grep -qF \"\$(cat '$sec/redis-routerd')\" '$CONF/run/private/redis-users.acl'"
check_eq "routerd's user writes bindings" OK "$(as_role routerd set "sb:reg:{probe}" 1)"
check "routerd's user cannot read dialogs" says NOPERM as_role routerd hgetall "sb:dlg:{x}"
check "routerd's user cannot run admin commands" says NOPERM as_role routerd flushall
check "dialogd's user cannot read bindings" says NOPERM as_role dialogd get "sb:reg:{probe}"
check "apid's user reads dialogs but cannot write them" says NOPERM as_role apid set "sb:dlg:{x}" 1
redis-cli -s "$CONF/run/private/redis.sock" del sb:reg:{probe} >/dev/null
rpid=$(status_field redis 0 3)
kill -9 "$rpid"
respawned() { local p; p=$(status_field redis 0 3); [ -n "$p" ] && [ "$p" != "$rpid" ] && [ "$p" != - ] && [ "$(status_field redis 0 6)" = 1 ]; }
check "redis is respawned" wait_until 5 respawned
check "the Redis users reconnect by themselves" wait_until 5 redis_up_all
check "their reconnects are counted as redis errors" test \
  "$(api /api/v1/processes | jq '[.processes[] | select(.role=="routerd") | .counters.redis_errors] | max')" -ge 1
sb stop >/dev/null

# External Redis on a TCP port; no redis line in master.cf.
new_confdir redis-external
rport=$(free_port)
# its users: the roles' lines of `switchboard redis-acl`, and an admin
sb redis-acl >"$SB_OUT/external.acl" || not_ok "switchboard redis-acl"
echo "user default on >$SB_REDIS_ADMIN ~* &* +@all" >>"$SB_OUT/external.acl"
check_eq "switchboard redis-acl prints one user per Redis role" "sb-apid sb-dialogd sb-routerd" \
  "$(awk '{print $2}' "$SB_OUT/external.acl" | grep '^sb-' | sort | xargs)"
redis-server --port "$rport" --bind 127.0.0.1 --save "" --appendonly no --loglevel warning \
  --aclfile "$SB_OUT/external.acl" >"$SB_OUT/external-redis.log" 2>&1 &
EXTRA_PIDS=$!
wait_until 5 '[ "$(redis-cli -p "$rport" ping 2>/dev/null)" = PONG ]'
set_param redis_address "127.0.0.1:$rport"
sed -i '/^redis /,/^[^ ]/{/^redis /d;/^[ \t]/d}' "$CONF/master.cf"
check "master.cf has no redis service now" bash -c "! grep -q '^redis ' '$CONF/master.cf'"
sb start >/dev/null || not_ok "start with an external redis"
check "the Redis users connect to the external redis" wait_until 5 redis_up_all
check "the external redis sees their 3 connections" wait_until 5 \
  '[ "$(redis-cli -p "$rport" client list | wc -l)" -ge 3 ]'
check "each as its own ACL user" bash -c "[ \"\$(redis-cli -p $rport client list | grep -oE 'user=sb-[a-z]+' | sort -u | xargs)\" = 'user=sb-apid user=sb-dialogd user=sb-routerd' ]"
check_eq "health is ok" "200 ok" "$(api_code /api/v1/health) $(api /api/v1/health | jq -r .status)"
kill "$EXTRA_PIDS"; wait "$EXTRA_PIDS" 2>/dev/null
check "health turns 503 with redis down" wait_until 5 '[ "$(api_code /api/v1/health)" = 503 ]'
check_eq "and says redis is down" down "$(api /api/v1/health | jq -r .redis)"
redis-server --port "$rport" --bind 127.0.0.1 --save "" --appendonly no --loglevel warning \
  --aclfile "$SB_OUT/external.acl" >>"$SB_OUT/external-redis.log" 2>&1 &
EXTRA_PIDS=$!
check "service resumes by itself when redis returns" wait_until 10 redis_up_all
check_eq "health is ok again" 200 "$(api_code /api/v1/health)"
sb stop >/dev/null
finish
