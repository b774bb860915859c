#!/usr/bin/env bash
# With maxproc 4: 10,000 REGISTERs from 500 source ports get exactly 10,000 final
# responses, Redis holds 500 bindings, and nothing was processed twice (shm counters).
. "$(dirname "$0")/lib.sh"
new_confdir sip_load
set_maxproc sipd 4
sb start >/dev/null || { not_ok "start"; finish; }
wait_sip_ready
users=$SB_OUT/users.csv
{ echo SEQUENTIAL; for i in $(seq 1 500); do echo "load$i;$((10000 + i))"; done; } >"$users"
t0=$SECONDS
timeout 120 sipp -sf "$top/tests/sipp/register_load.xml" -inf "$users" -i 127.0.0.1 \
  -p "$(free_port)" -t un -max_socket 500 -m 10000 -r 1000 -rp 1000 -l 2000 \
  -timeout 100s -nostdin -buff_size 4194304 -trace_stat -stf "$SB_OUT/load.csv" \
  -trace_err -error_file "$SB_OUT/load.err" "127.0.0.1:$SIP_PORT" >"$SB_OUT/load.out" 2>&1
rc=$?
diag "SIPp ran $((SECONDS - t0)) s, exit $rc"
check_eq "SIPp: all 10,000 REGISTERs answered 200 (exit 0)" 0 "$rc"
succ=$(awk -F';' 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == "SuccessfulCall(C)") c = i; next }
  { v = $c } END { print v }' "$SB_OUT/load.csv")
check_eq "SIPp counted 10,000 successful calls" 10000 "$succ"
check_eq "routerd decided exactly 10,000 REGISTERs (none twice)" 10000 "$(counter routerd registers)"
check_eq "sipd created exactly 10,000 transactions" 10000 "$(counter sipd sip_txn_new)"
per=$(api /api/v1/processes | jq -c '[.processes[] | select(.role=="sipd") | .counters.sip_txn_new]')
diag "transactions per sipd instance: $per"
check "all 4 sipd instances received traffic ($per)" \
  [ "$(jq 'map(select(. > 0)) | length' <<<"$per")" = 4 ]
rcli() { redis-cli -s "$CONF/run/private/redis.sock" "$@"; }
check_eq "Redis holds 500 registrations" 500 "$(rcli --scan --pattern 'sb:reg:*' | wc -l)"
check_eq "one binding each" 500 "$(for k in $(rcli --scan --pattern 'sb:reg:*'); do rcli hlen "$k"; done | awk '{ n += $1 } END { print n }')"
sb stop >/dev/null
finish
