#!/usr/bin/env bash
# switchboard check: accepts the shipped conf/, names file and line of what is broken;
# start refuses a broken configuration and leaves nothing running.
. "$(dirname "$0")/lib.sh"
new_confdir check

out=$("$SB_BIN/switchboard" -c "$top/conf" check 2>&1); rc=$?
check_eq "check accepts the shipped conf/" "0:" "$rc:$out"

out=$(sb check 2>&1); rc=$?
check_eq "check accepts a copy on other ports" "0" "$rc"

cp "$CONF/master.cf" "$CONF/master.cf.good"
echo "bogus      tcp   -       -       n       -       1       sipd" >>"$CONF/master.cf"
line=$(wc -l <"$CONF/master.cf")
out=$(sb check 2>&1); rc=$?
check_eq "check rejects a bad master.cf type" 1 "$rc"
check "the error names master.cf:$line ($out)" grep -q "master.cf:$line:" <<<"$out"

cp "$CONF/master.cf.good" "$CONF/master.cf"
echo "sipd2      inet  -       -       n       -       lots    sipd" >>"$CONF/master.cf"
line=$(wc -l <"$CONF/master.cf")
out=$(sb check 2>&1); rc=$?
check "a bad maxproc is rejected at master.cf:$line ($out)" \
  [ "$rc" = 1 ] && grep -q "master.cf:$line:" <<<"$out"

cp "$CONF/master.cf.good" "$CONF/master.cf"
echo "sipd2      unix  -       -       n       -       1       nosuchd" >>"$CONF/master.cf"
line=$(wc -l <"$CONF/master.cf")
out=$(sb check 2>&1); rc=$?
check "an unknown program is rejected at master.cf:$line ($out)" \
  [ "$rc" = 1 ] && grep -q "master.cf:$line:.*nosuchd" <<<"$out"
cp "$CONF/master.cf.good" "$CONF/master.cf"

cp "$CONF/main.cf" "$CONF/main.cf.good"
echo "drain_timeout = soon" >>"$CONF/main.cf"
line=$(wc -l <"$CONF/main.cf")
out=$(sb check 2>&1); rc=$?
check "a bad time value is rejected at main.cf:$line ($out)" \
  [ "$rc" = 1 ] && grep -q "main.cf:$line:.*drain_timeout" <<<"$out"

cp "$CONF/main.cf.good" "$CONF/main.cf"
echo "rtp_port_range = 20000-10000" >>"$CONF/main.cf"
line=$(wc -l <"$CONF/main.cf")
out=$(sb check 2>&1); rc=$?
check "a reversed port range is rejected at main.cf:$line ($out)" \
  [ "$rc" = 1 ] && grep -q "main.cf:$line:" <<<"$out"

cp "$CONF/main.cf.good" "$CONF/main.cf"
echo "no_such_parameter = 1" >>"$CONF/main.cf"
line=$(wc -l <"$CONF/main.cf")
out=$(sb check 2>&1); rc=$?
check "an unknown parameter is a warning naming main.cf:$line, not an error ($out)" \
  [ "$rc" = 0 ] && grep -q "warning: .*main.cf:$line:.*no_such_parameter" <<<"$out"

cp "$CONF/main.cf.good" "$CONF/main.cf"
echo "api_listen = 127.0.0.1:\$undefined_thing" >>"$CONF/main.cf"
out=$(sb start 2>&1); rc=$?
check "start refuses a broken main.cf, naming it ($out)" \
  [ "$rc" = 1 ] && grep -q "main.cf:[0-9]*:.*undefined_thing" <<<"$out"
check "nothing runs after a refused start" [ -z "$(master_pid)" ]
finish
