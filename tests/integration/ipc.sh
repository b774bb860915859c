#!/usr/bin/env bash
# IPC: every envelope type round-trips between two processes; a running worker answers
# Hello and Ping, drops malformed packets with a log line and keeps going.
. "$(dirname "$0")/lib.sh"
"$SB_TOOLS/ipc_probe" roundtrip || not_ok "ipc_probe roundtrip exited non-zero"

new_confdir ipc
sb start >/dev/null || { not_ok "start"; finish; }
pid=$(status_field routerd 0 3)
"$SB_TOOLS/ipc_probe" worker "$CONF/run/private/routerd.0" || not_ok "ipc_probe worker failed"
check "routerd logged the malformed packets" \
  wait_until 3 'grep -q "routerd\[0\] $pid: dropped malformed IPC packet" "$LOG"'
check_eq "routerd is the same process" "$pid" "$(status_field routerd 0 3)"
check_eq "routerd counted 3 malformed packets in shm" 3 \
  "$(api /api/v1/processes | jq '.processes[] | select(.service=="routerd") | .counters.ipc_malformed')"
dialogd_peers() { api /api/v1/processes | jq '.processes[] | select(.service=="dialogd") | .counters.ipc_peers'; }
check "peers are connected (dialogd sees routerd, mediad and both sipd)" wait_until 3 '[ "$(dialogd_peers)" -ge 4 ]'
sb stop >/dev/null
finish
