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
sb stop >/dev/null
finish
