#!/usr/bin/env bash
# Started as root, workers run as service_user (checked in /proc), with no way back to
# root, and a chroot y service runs chrooted in run_directory.
. "$(dirname "$0")/lib.sh"
if [ "$(id -u)" != 0 ]; then
  echo "ok - privilege drop # SKIP not root"
  exit 0
fi
new_confdir privdrop
awk '$1 == "mediad" && NF >= 8 { $5 = "y" } { print }' "$CONF/master.cf" >"$CONF/m.new" &&
  mv "$CONF/m.new" "$CONF/master.cf"
sb start >/dev/null || { not_ok "start"; finish; }
uid=$(id -u switchboard); gid=$(id -g switchboard)
m=$(master_pid)
check_eq "master runs as root" 0 "$(awk '/^Uid:/ { print $2 }' /proc/"$m"/status)"
for pid in $(pgrep -P "$m"); do
  svc=$(sb status | awk -v p="$pid" '$3 == p { print $1 "[" $2 "]" }')
  check_eq "$svc: real, effective, saved and fs uid are switchboard's" "$uid $uid $uid $uid" \
    "$(awk '/^Uid:/ { print $2, $3, $4, $5 }' /proc/"$pid"/status)"
  check_eq "$svc: gids are switchboard's" "$gid $gid $gid $gid" \
    "$(awk '/^Gid:/ { print $2, $3, $4, $5 }' /proc/"$pid"/status)"
  check_eq "$svc: no supplementary groups but its own" "$gid" \
    "$(awk '/^Groups:/ { $1 = ""; print }' /proc/"$pid"/status | xargs)"
  [ "$svc" = "redis[0]" ] && continue
  check_eq "$svc: no_new_privs is set" 1 "$(awk '/^NoNewPrivs:/ { print $2 }' /proc/"$pid"/status)"
done
mediad=$(status_field mediad 0 3)
check_eq "mediad (chroot y) is chrooted in run_directory" "$CONF/run" "$(readlink /proc/"$mediad"/root)"
check_eq "mediad is ready in its chroot" ready "$(status_field mediad 0 4)"
mediad_peers() { api /api/v1/processes | jq '.processes[] | select(.service=="mediad") | .counters.ipc_peers'; }
check "dialogd reached mediad in its chroot" wait_until 5 '[ "$(mediad_peers)" -ge 1 ]'
routerd=$(status_field routerd 0 3)
check_eq "routerd (chroot n) is not chrooted" / "$(readlink /proc/"$routerd"/root)"
check_eq "private/ belongs to switchboard, mode 700" "switchboard 700" \
  "$(stat -c '%U %a' "$CONF/run/private")"
check_eq "IPC sockets belong to switchboard" switchboard "$(stat -c %U "$CONF/run/private/routerd.0")"
sb stop >/dev/null
finish
