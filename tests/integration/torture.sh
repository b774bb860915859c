#!/usr/bin/env bash
# exclusive unless root: sip_send answers from the fixed ports of the messages (5060, 5050,
# 5070); as root the script runs in a network namespace of its own, where nothing else holds them
# RFC 4475: every torture message gets an outcome its README allows (torture.expect), no
# 2xx for an invalid request, and sipd survives them all (the runner also runs this with
# the ASan build and fails on any sanitizer report).
# The torture messages are answered at the fixed ports of their Via (5060, 5050, 5070): any
# other socket on one of them (a cluster on the default 0.0.0.0:5060, a softphone) made
# sip_send fail at once and every message look unanswered. As root, the whole test runs in
# a private network namespace (its own loopback, gone with its last process).
if [ -z "${SB_TORTURE_NETNS:-}" ] && [ "$(id -u)" = 0 ] && command -v unshare >/dev/null &&
  unshare --net true 2>/dev/null; then
  SB_TORTURE_NETNS=1 exec unshare --net bash -c 'ip link set lo up && exec bash "$0"' "$0"
fi
. "$(dirname "$0")/lib.sh"
tdir=$top/tests/torture # a copy of the project's RFC 4475 set, bit-exact
new_confdir torture
set_maxproc sipd 1
# a plain registrar and UAS: every INVITE dials its user (RFC 4475 expects an unknown user
# to get 404/480), none is answered by an IVR route
cat >"$CONF/dialplan.json" <<'JSON'
{"version": "torture", "routes": [
  {"id": "users", "pattern": "*", "actions": [{"type": "dial", "params": {"target": "user/${destination}"}}]}
]}
JSON
sb start >/dev/null || { not_ok "start"; finish; }
wait_sip_ready
sipd=$(status_field sipd 0 3)
while read -r name outcomes; do
  case $name in ''|\#*) continue ;; esac
  f=$tdir/$name.dat
  cid=$(grep -a -m1 -i -E '^(call-id|i)[ \t]*:' "$f" | sed -E 's/^[^:]*:[ \t]*//' | tr -d '\r')
  out=$("$SB_TOOLS/sip_send" -w 400 -l 5060,5050,5070 127.0.0.1 "$SIP_PORT" "$f" 2>&1)
  rc=$?
  if [ "$rc" != 0 ]; then # not an outcome of sipd's: say why, never count it as a drop
    not_ok "torture $name: sip_send failed (exit $rc): $(grep '^sip_send:' <<<"$out" | head -n 1)"
    continue
  fi
  if [ -n "$cid" ]; then
    codes=$(grep '^<<< ' <<<"$out" | grep -F "[call-id: $cid]" | awk '{ print $3 }')
  else # no Call-ID to match: only answers without one (not retransmissions of others')
    codes=$(grep '^<<< ' <<<"$out" | grep -F '[call-id: -]' | awk '{ print $3 }')
  fi
  final=$(grep -v '^1' <<<"$codes" | tail -n 1)
  nfinal=$(grep -vc '^1' <<<"$codes")
  [ -z "$codes" ] && final=drop
  verdict=no
  for o in $outcomes; do
    case $o in
      drop) [ "$final" = drop ] && verdict=yes ;;
      final) [ "$final" != drop ] && [ -n "$final" ] && verdict=yes ;;
      proc) [ "$final" != drop ] && [ -n "$final" ] && [ "$final" != 400 ] &&
              [ "${final:0:1}" != 2 ] && verdict=yes ;;
      *) [ "$final" = "$o" ] && verdict=yes ;;
    esac
  done
  [ "$nfinal" -le 1 ] || verdict="no (several final responses: $(echo $codes))"
  if [ "$verdict" = yes ]; then ok "torture $name: $final (allowed: $outcomes)"
  else not_ok "torture $name: got ${final:-none} ${verdict#no}, allowed: $outcomes"; fi
done <"$(dirname "$0")/torture.expect"
check_eq "sipd survived every message (same pid)" "$sipd" "$(status_field sipd 0 3)"
check_eq "sipd was never restarted" 0 "$(status_field sipd 0 6)"
sb stop >/dev/null
check "sipd exited cleanly at stop" grep -q "sipd\[0\] pid $sipd exited with status 0" "$LOG"
finish
