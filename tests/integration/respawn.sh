#!/usr/bin/env bash
# kill -9 of one sipd: a new one is ready within 1 s, restart count 1, nothing else moved.
. "$(dirname "$0")/lib.sh"
new_confdir respawn
sb start >/dev/null || { not_ok "start"; finish; }

before=$(sb status | awk 'NR > 2 { print $1 "." $2, $3 }' | sort)
victim=$(status_field sipd 1 3)
kill -9 "$victim"
t0=$(date +%s%N)
back() {
  local p s
  p=$(status_field sipd 1 3); s=$(status_field sipd 1 4)
  [ -n "$p" ] && [ "$p" != "$victim" ] && [ "$p" != - ] && [ "$s" = ready ]
}
wait_until 5 back
ms=$((($(date +%s%N) - t0) / 1000000))
check "a new sipd[1] is ready within 1 s (took $ms ms)" [ "$ms" -lt 1000 ]
check_eq "its restart count is 1" 1 "$(status_field sipd 1 6)"
after=$(sb status | awk 'NR > 2 { print $1 "." $2, $3 }' | sort)
check_eq "every other process kept its pid" \
  "$(grep -v '^sipd.1 ' <<<"$before")" "$(grep -v '^sipd.1 ' <<<"$after")"
check_eq "no other restart counted" 0 \
  "$(sb status | awk 'NR > 2 && !($1 == "sipd" && $2 == 1) { n += $6 } END { print n + 0 }')"
check "master logged the death" grep -q "sipd\[1\] pid $victim killed by signal 9" "$LOG"
api_restarts=$(api /api/v1/processes | jq '.processes[] | select(.service=="sipd" and .instance==1) | .restarts')
check_eq "the API reports the restart too" 1 "$api_restarts"
sb stop >/dev/null
finish
