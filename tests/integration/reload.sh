#!/usr/bin/env bash
# reload: maxproc 2 -> 4 -> 1 for sipd keeps every other pid; a changed line restarts only
# its service; main.cf changes reach the workers; a broken file is refused, old kept.
. "$(dirname "$0")/lib.sh"
new_confdir reload
sb start >/dev/null || { not_ok "start"; finish; }
pids() { sb status | awk 'NR > 2 { print $1 "." $2, $3 }' | sort; }
before=$(pids)

set_maxproc sipd 4
out=$(sb reload 2>&1); rc=$?
check_eq "reload succeeds ($out)" 0 "$rc"
wait_until 5 '[ "$(status_count sipd)" = 4 ]'
check_eq "4 sipd instances are ready" 4 "$(status_count sipd)"
after=$(pids)
check_eq "sipd 0 and 1 and every other service kept their pids" "$before" \
  "$(grep -v -E '^sipd\.(2|3) ' <<<"$after")"
check_eq "no restart was counted" 0 "$(sb status | awk 'NR > 2 { n += $6 } END { print n + 0 }')"
check "the new instances have their IPC sockets" [ -S "$CONF/run/private/sipd.3" ]
check_eq "and their own UDP sockets on the SIP port" 4 "$(ss -Hlun "sport = :$SIP_PORT" | wc -l)"

gone2=$(status_field sipd 2 3); gone3=$(status_field sipd 3 3)
set_maxproc sipd 1
sb reload >/dev/null
wait_until 5 '[ "$(sb status | awk "\$1 == \"sipd\"" | wc -l)" = 1 ]'
check_eq "sipd shrinks to 1 instance" 1 "$(sb status | awk '$1 == "sipd"' | wc -l)"
check "the retired instances exited" wait_until 5 '! kill -0 $gone2 2>/dev/null && ! kill -0 $gone3 2>/dev/null'
check_eq "sipd 0 kept its pid" "$(grep '^sipd.0 ' <<<"$before")" "$(pids | grep '^sipd.0 ')"
check "the retired instances' sockets are gone" [ ! -e "$CONF/run/private/sipd.3" ]
check_eq "their UDP sockets are closed" 1 "$(ss -Hlun "sport = :$SIP_PORT" | wc -l)"

router_before=$(status_field routerd 0 3)
others_before=$(pids | grep -v '^routerd')
awk '$1 == "routerd" && NF >= 8 { $6 = 1 } { print }' "$CONF/master.cf" >"$CONF/m.new" &&
  mv "$CONF/m.new" "$CONF/master.cf"
sb reload >/dev/null
router_moved() { [ "$(status_field routerd 0 4)" = ready ] && [ "$(status_field routerd 0 3)" != "$router_before" ]; }
wait_until 5 router_moved
router_after=$(status_field routerd 0 3)
check "a changed routerd line restarts routerd ($router_before -> $router_after)" \
  [ -n "$router_after" ] && [ "$router_after" != "$router_before" ]
check_eq "the other services kept their pids" "$others_before" "$(pids | grep -v '^routerd')"
wakeups() { api /api/v1/processes | jq '.processes[] | select(.service=="routerd") | .counters.wakeups'; }
woken() { [ "$(wakeups)" -ge 2 ]; }
check "routerd's new wakeup column (1 s) delivers wakeups" wait_until 5 woken

set_param log_level debug
sb reload >/dev/null
reloads=$(api /api/v1/processes | jq -r '[.processes[] | select(.role != "exec") | .counters.reloads] | min')
check "every worker applied the new main.cf (min reloads counter $reloads)" [ "$reloads" -ge 1 ]
check "workers log at the new level" wait_until 5 'grep -q " debug routerd" "$LOG"'

stable=$(pids)
echo "sipd   inet - - n - nonsense sipd" >>"$CONF/master.cf"
out=$(sb reload 2>&1); rc=$?
check "a broken master.cf is refused by reload, naming the line ($out)" \
  [ "$rc" = 1 ] && grep -q 'master.cf:[0-9]*:' <<<"$out"
kill -HUP "$(master_pid)"
check "master refuses it too and says so" wait_until 5 'grep -q "reload refused" "$LOG"'
check_eq "nothing changed" "$stable" "$(pids)"
sb stop >/dev/null
finish
