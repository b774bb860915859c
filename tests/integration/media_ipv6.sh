#!/usr/bin/env bash
# mediad's addresses: IPv6 media (c=IN IP6, ports on ::1, an IPv6 phone calling an IPv4
# one), and media_address as a list of [NAME/]LOCAL[!PUBLIC] interfaces chosen by the
# address a call's signaling came to, else by family; media_probe drives mediad over IPC
# with UDP phones on 127.0.0.1 and ::1.
. "$(dirname "$0")/lib.sh"
MP=$SB_TOOLS/media_probe

new_confdir media_ipv6
sb start >/dev/null || { not_ok "start"; finish; }
M0=$CONF/run/private/mediad.0
check "mediad is ready" wait_until 10 '[ "$(status_count mediad)" = 1 ]'
"$MP" "$M0" ipv6
sb stop >/dev/null

set_param media_address "v4/127.0.0.1 v6/::1, pub/127.0.0.5!192.0.2.55"
sb start >/dev/null || { not_ok "start with three interfaces"; finish; }
check "mediad is ready with three interfaces" wait_until 10 '[ "$(status_count mediad)" = 1 ]'
"$MP" "$M0" ifaces

set_param media_address "v4/127.0.0.1!::1"
out=$(sb check 2>&1)
check "switchboard check refuses an interface whose LOCAL and PUBLIC differ in family" \
  grep -q "media_address.*v4/127.0.0.1!::1" <<<"$out"
finish
