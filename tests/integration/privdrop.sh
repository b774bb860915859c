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
# sipd and apid under their seccomp allow-list (not in the sanitizer build: sandbox.h)
case $SB_BIN in
  */asan/*) echo "ok - seccomp filter # SKIP sanitizer build" ;;
  *)
    for svc in sipd apid; do
      check_eq "$svc runs under a seccomp filter" 2 \
        "$(awk '/^Seccomp:/ { print $2 }' /proc/"$(status_field $svc 0 3)"/status)"
    done
    check_eq "dialogd has none" 0 \
      "$(awk '/^Seccomp:/ { print $2 }' /proc/"$(status_field dialogd 0 3)"/status)" ;;
esac
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

# ---- a clone in a root-only directory (Debian's /root is 0700) ----
# The workers, as switchboard, cannot traverse it: they open the dialplan's and audio's
# directories before their drop and read the files relative to them; the run directory
# is their working directory.
root_only=$(mktemp -d) # 0700, root's
CONF=$root_only/conf
make_confdir "$CONF" "$SB_BIN"
LOG=$CONF/run/switchboard.log
check_eq "the clone's parent is root's, mode 700" "root 700" "$(stat -c '%U %a' "$root_only")"
out=$(sb check 2>&1); rc=$?
check_eq "check accepts the clone ($out)" 0 "$rc"
out=$(sb start 2>&1); rc=$?
check_eq "start succeeds in it ($out)" 0 "$rc"
check_eq "routerd runs as switchboard there" "$uid" \
  "$(awk '/^Uid:/ { print $3 }' /proc/"$(status_field routerd 0 3)"/status)"
rm -f "$SB_OUT/root-only-ivr.msg"
timeout 60 sipp -sf "$top/tests/sipp/uac_call_wait_bye.xml" -i 127.0.0.1 -p "$(free_port)" -m 1 \
  -timeout 30s -timeout_error -nostdin -trace_msg -message_file "$SB_OUT/root-only-ivr.msg" \
  -s 500 -cid_str "root-only-%u" "127.0.0.1:$SIP_PORT" >"$SB_OUT/root-only-ivr.out" 2>&1 &
caller=$!
check "a call to the IVR (routerd's dialplan, mediad's prompt) is answered 200" \
  wait_until 10 'grep -q "^SIP/2.0 200" "$SB_OUT/root-only-ivr.msg" 2>/dev/null'
"$SB_TOOLS/rtp_peer" -t "$(media_of root-only-ivr)" -n 0 -w 2500 >"$SB_OUT/rtp-root-only.out"
got=$(rtp_field rtp-root-only.out received)
check "the prompt under the root-only directory is played ($got packets)" \
  bash -c "[ '${got:-0}' -ge 45 ]"
check "the caller gets the BYE at its end" wait_pid "$caller"
check_eq "the caller received 100 200 BYE" "100 200 BYE" "$(msgs root-only-ivr received)"
sb stop >/dev/null
rm -rf "$root_only"
finish
