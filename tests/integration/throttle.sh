#!/usr/bin/env bash
# A service whose command fails at once is throttled: fewer than 10 forks in 10 s, it is
# reported, and master and the other services stay healthy.
. "$(dirname "$0")/lib.sh"
new_confdir throttle
cat >>"$CONF/master.cf" <<'CF'
broken     exec  -       n       n       -       1       /bin/false
badworker  unix  -       -       n       -       1       routerd --no-such-option
CF
"$SB_BIN/master" -c "$CONF" -f >>"$SB_OUT/throttle-master.log" 2>&1 &
LOG=$SB_OUT/throttle-master.log
EXTRA_PIDS=$!
wait_until 5 '[ -n "$(master_pid)" ]'
sleep 10
forks_exec=$(grep -c 'broken\[0\] pid [0-9]* exited' "$LOG")
forks_worker=$(grep -c 'badworker\[0\] pid [0-9]* exited' "$LOG")
check "the failing exec service was forked fewer than 10 times in 10 s ($forks_exec)" \
  [ "$forks_exec" -lt 10 ] && [ "$forks_exec" -ge 3 ]
check "the failing worker was forked fewer than 10 times in 10 s ($forks_worker)" \
  [ "$forks_worker" -lt 10 ] && [ "$forks_worker" -ge 3 ]
check "the throttling is reported in the log" grep -q 'broken\[0\].*throttled, next start in' "$LOG"
check_eq "status shows the service throttled" throttled "$(status_field broken 0 4)"
check "status counts its restarts" [ "$(status_field broken 0 6)" -ge 3 ]
check "master is alive" kill -0 "$(master_pid)"
for svc in sipd routerd dialogd mediad apid redis; do
  check_eq "$svc is ready and never restarted" "ready 0" \
    "$(status_field "$svc" 0 4) $(status_field "$svc" 0 6)"
done
check_eq "health stays 200 while a spare routerd is throttled: the node takes calls" "200 ok" \
  "$(api_code /api/v1/health) $(api /api/v1/health | jq -r .status)"
check "health names the failing worker among its reasons" \
  grep -q '^badworker\[0\] ' <<<"$(api /api/v1/health | jq -r '.reasons[]')"
sb stop >/dev/null
finish
