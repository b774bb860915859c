#!/usr/bin/env bash
# Several dialogd (maxproc 2) behind several sipd (maxproc 2): calls are partitioned by
# Call-ID (the A leg's by its hash, the B leg's by the instance named in our sbd<N>.
# Call-IDs) and every message of a call reaches its owner: 20 calls where the caller hangs
# up and 20 where the callee does (its BYE comes on the B leg) all complete, both dialogd
# instances took some, and their counts add up.
. "$(dirname "$0")/lib.sh"

new_confdir calls_partition
set_param sip_t1 100ms
set_maxproc sipd 2
set_maxproc dialogd 2
sb start >/dev/null || { not_ok "start"; finish; }
wait_sip_ready
check_eq "two dialogd are ready" 2 "$(status_count dialogd)"

per_instance() { # NAME: the counter of each dialogd instance, in instance order
  api /api/v1/processes | jq -r '[.processes[] | select(.role=="dialogd")] | sort_by(.instance) |
    map(.counters.'"$1"' | tostring) | join(" ")'
}
callers() { # NAME CALLER CALLEE N: the SIPp caller of a batch
  timeout 60 sipp -sf "$top/tests/sipp/$2" -i 127.0.0.1 -p "$(free_port)" -m "$4" -r 10 -l 20 \
    -d 300 -s "$1" -timeout 40s -timeout_error -nostdin -trace_err -error_file "$SB_OUT/$1-a.err" \
    "127.0.0.1:$SIP_PORT" >"$SB_OUT/$1-a.out" 2>&1
}
# batch NAME CALLER CALLEE N: N calls, 10 per second, one SIPp callee taking them all
batch() {
  local port; port=$(free_port)
  check "$1: the callee registers" register "$1" "$port"
  timeout 60 sipp -sf "$top/tests/sipp/$3" -i 127.0.0.1 -p "$port" -m "$4" -d 300 -timeout 30s \
    -timeout_error -nostdin -trace_err -error_file "$SB_OUT/$1-b.err" \
    "127.0.0.1:$SIP_PORT" >"$SB_OUT/$1-b.out" 2>&1 &
  local callee=$!
  sleep 0.2
  check "$1: $4 calls complete at the caller" callers "$@"
  check "$1: and at the callee" wait_pid "$callee"
}
batch 1001 uac_call.xml uas_answer.xml 20
batch 1002 uac_call_wait_bye.xml uas_answer_bye.xml 20
started=$(per_instance calls_started)
check "both dialogd took calls ($started)" bash -c "for n in $started; do [ \"\$n\" -ge 1 ] || exit 1; done"
check_eq "40 calls in all" 40 "$(echo "$started" | tr ' ' '\n' | awk '{ s += $1 } END { print s }')"
check_eq "all answered" 40 "$(counter dialogd calls_answered)"
check_eq "all ended by a BYE" 40 "$(counter dialogd calls_ended)"
check "none is left" wait_until 5 '[ "$(counter dialogd calls_active)" = 0 ]'
finish
