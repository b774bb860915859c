#!/usr/bin/env bash
# apid: /api/v1/health and /api/v1/processes from shm, JSON errors for the rest.
. "$(dirname "$0")/lib.sh"
new_confdir apid
sb start >/dev/null || { not_ok "start"; finish; }
wait_until 5 '[ "$(api_code /api/v1/health)" = 200 ]'
h=$(api /api/v1/health)
check_eq "health: status ok" ok "$(jq -r .status <<<"$h")"
check "health: an ISO 8601 timestamp ($h)" \
  grep -qE '"timestamp":"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}' <<<"$h"
check_eq "health: node_id from main.cf" node1 "$(jq -r .node_id <<<"$h")"
check_eq "health: 7 processes, 7 ready" "7 7" "$(jq -r '"\(.processes_total) \(.processes_ready)"' <<<"$h")"
p=$(api /api/v1/processes)
check_eq "processes: one entry per process" 7 "$(jq '.processes | length' <<<"$p")"
check_eq "processes: sipd instances 0 and 1" "0 1" \
  "$(jq -r '[.processes[] | select(.service=="sipd") | .instance] | join(" ")' <<<"$p")"
check_eq "processes: states, restarts and counters present" true \
  "$(jq '[.processes[] | (.state=="ready") and (.restarts==0) and (.counters|has("ipc_rx"))] | all' <<<"$p")"
before=$(jq '.processes[] | select(.service=="apid") | .counters.http_requests' <<<"$p")
api /api/v1/health >/dev/null
after=$(api /api/v1/processes | jq '.processes[] | select(.service=="apid") | .counters.http_requests')
check_eq "apid counts its requests in shm" $((before + 2)) "$after"
check_eq "unknown path: 404 NOT_FOUND" "404 NOT_FOUND" \
  "$(api_code /api/v1/nope) $(api /api/v1/nope | jq -r .code)"
code=$(curl -s -o /dev/null -w '%{http_code}' -X DELETE "http://127.0.0.1:$API_PORT/api/v1/health")
check_eq "wrong method: 405" 405 "$code"
code=$(head -c 200000 /dev/zero | curl -s -o /dev/null -w '%{http_code}' -X POST \
  --data-binary @- --max-time 5 "http://127.0.0.1:$API_PORT/api/v1/health")
check "a body on a GET route is refused, not crashed on ($code)" \
  bash -c "[ '$code' = 405 ] || [ '$code' = 413 ]"
check_eq "apid is still the same process" "$(status_field apid 0 3)" \
  "$(api /api/v1/processes | jq '.processes[] | select(.service=="apid") | .pid')"
check_eq "apid listens on loopback only by default config" "127.0.0.1:$API_PORT" \
  "$(ss -Hltn "sport = :$API_PORT" | awk '{ print $4 }')"
check_eq "health: every role counted ready" "2 1 1 1 1" \
  "$(jq -r '[.roles.sipd.ready, .roles.routerd.ready, .roles.dialogd.ready, .roles.mediad.in_service, .roles.apid.ready] | join(" ")' <<<"$h")"
check_eq "health: no reasons when all is well" 0 "$(jq '.reasons | length' <<<"$h")"
m=$(api /metrics)
check "metrics: the node is ready" grep -qx 'switchboard_node_ready 1' <<<"$m"
check "metrics: routerd's state is ready" \
  grep -q '^switchboard_process_state{service="routerd",role="routerd",instance="0",state="ready"} 1$' <<<"$m"
sb stop >/dev/null

# ---- readiness follows the dependencies: a Redis this test starts and stops ----
rsock=$CONF/ext-redis.sock
start_redis() {
  redis-server --port 0 --unixsocket "$rsock" --unixsocketperm 777 --save '' --appendonly no \
    --daemonize no --loglevel warning --logfile "" >>"$SB_OUT/ext-redis.log" 2>&1 &
  REDIS_PID=$!
  EXTRA_PIDS="${EXTRA_PIDS:-} $REDIS_PID"
}
# master.cf without its redis line (and the line's continuations), main.cf pointing at ours
awk '/^redis[ \t]/ { skip = 1; next } skip && /^[ \t]/ { next } { skip = 0; print }' \
  "$CONF/master.cf" >"$CONF/m.new" && mv "$CONF/m.new" "$CONF/master.cf"
set_param redis_address "unix:$rsock"
set_param start_timeout 1s
out=$(sb start 2>&1); rc=$?
check "start without Redis: gives up after start_timeout, naming what is not ready ($out)" \
  bash -c '[ "$1" = 1 ] && grep -q "routerd\[0\] starting: waiting for redis" <<<"$2"' _ "$rc" "$out"
check "and master keeps running, to finish when Redis comes" kill -0 "$(master_pid)"
set_param start_timeout 15s
state_of() { echo "$(status_field "$1" 0 4) $(status_field "$1" 0 7)"; }
check "before Redis: routerd is starting, waiting for redis" \
  wait_until 5 '[ "$(state_of routerd)" = "starting redis" ]'
h=$(api /api/v1/health)
check_eq "before Redis: health 503 unavailable" "503 unavailable" \
  "$(api_code /api/v1/health) $(jq -r .status <<<"$h")"
check "before Redis: the reasons name routerd waiting for redis ($h)" \
  grep -q 'routerd\[0\] starting: waiting for redis' <<<"$(jq -r '.reasons[]' <<<"$h")"
check "before Redis: sipd is starting too (no ready routerd to reach)" \
  wait_until 5 '[ "$(status_field sipd 0 4)" = starting ]'
start_redis
check "with Redis: every process turns ready" wait_until 10 all_ready
check_eq "with Redis: health 200" 200 "$(api_code /api/v1/health)"
kill "$REDIS_PID"; wait "$REDIS_PID" 2>/dev/null
check "Redis gone: routerd is degraded, waiting for redis" \
  wait_until 10 '[ "$(state_of routerd)" = "degraded redis" ]'
check "Redis gone: dialogd is degraded too" \
  wait_until 10 '[ "$(state_of dialogd)" = "degraded redis" ]'
h=$(api /api/v1/health)
check_eq "Redis gone: health 503 unavailable, redis down" "503 unavailable down" \
  "$(api_code /api/v1/health) $(jq -r '"\(.status) \(.redis)"' <<<"$h")"
check_eq "Redis gone: health counts routerd degraded" 1 "$(jq .roles.routerd.degraded <<<"$h")"
check "Redis gone: the reasons name it ($h)" \
  grep -q 'routerd\[0\] degraded: waiting for redis' <<<"$(jq -r '.reasons[]' <<<"$h")"
m=$(api /metrics)
check "Redis gone: metrics say routerd is degraded" \
  grep -q '^switchboard_process_state{service="routerd",role="routerd",instance="0",state="degraded"} 1$' <<<"$m"
check "Redis gone: metrics say the node is not ready" grep -qx 'switchboard_node_ready 0' <<<"$m"
check_eq "Redis gone: /api/v1/processes says what routerd waits for" "degraded redis" \
  "$(api /api/v1/processes | jq -r '.processes[] | select(.service=="routerd") | "\(.state) \(.waiting_for)"')"
start_redis
check "Redis back: every process is ready again" wait_until 10 all_ready
check_eq "Redis back: health 200 ok" "200 ok" \
  "$(api_code /api/v1/health) $(api /api/v1/health | jq -r .status)"
check_eq "Redis back: nothing was restarted" "0 0" "$(status_field routerd 0 6) $(status_field dialogd 0 6)"
sb stop >/dev/null

# ---- a node without a dialplan takes no call: 503, and routerd says why ----
# (start refuses a dialplan that does not load: it breaks under a running node, and the
# routerd that starts next has none)
cp "$top/conf/dialplan.json" "$CONF/dialplan.json"
start_redis
sb start >/dev/null || not_ok "start for the dialplan test"
echo '{"routes": [' >"$CONF/dialplan.json"
kill -9 "$(status_field routerd 0 3)"
check "no dialplan: the new routerd is starting, waiting for its dialplan" \
  wait_until 10 '[ "$(status_field routerd 0 4) $(status_field routerd 0 7)" = "starting dialplan" ]'
h=$(api /api/v1/health)
check_eq "no dialplan: health 503" 503 "$(api_code /api/v1/health)"
check "no dialplan: the reasons say routerd has none ($h)" \
  grep -q 'routerd\[0\] starting: waiting for dialplan' <<<"$(jq -r '.reasons[]' <<<"$h")"
cp "$top/conf/dialplan.json" "$CONF/dialplan.json"
sb reload >/dev/null
check "dialplan loaded by a reload: every process turns ready" wait_until 10 all_ready
check_eq "dialplan loaded: health 200" 200 "$(api_code /api/v1/health)"
sb stop >/dev/null
kill "$REDIS_PID" 2>/dev/null
finish
