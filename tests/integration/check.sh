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
cp "$CONF/main.cf" "$CONF/main.cf.good"

# check_line FILE LINE EXIT PATTERN DESCRIPTION: append LINE to a good copy of FILE; check
# must exit EXIT and print PATTERN, where @ stands for "FILE:N" (N: the appended line).
check_line() {
  local file=$1 text=$2 want_rc=$3 pattern=$4 desc=$5 line out rc
  cp "$CONF/master.cf.good" "$CONF/master.cf"
  cp "$CONF/main.cf.good" "$CONF/main.cf"
  echo "$text" >>"$CONF/$file"
  line=$(wc -l <"$CONF/$file")
  out=$(sb check 2>&1); rc=$?
  check "$desc, at $file:$line ($out)" \
    [ "$rc" = "$want_rc" ] && grep -q "${pattern//@/$file:$line}" <<<"$out"
}
check_line master.cf "bogus      tcp   -       -       n       -       1       sipd" 1 \
  "@: bad service type 'tcp'" "a bad master.cf type is rejected"
check_line master.cf "sipd2      inet  -       -       n       -       lots    sipd" 1 \
  "@: bad maxproc value 'lots'" "a bad maxproc is rejected"
check_line master.cf "sipd2      unix  -       -       n       -       1       nosuchd" 1 \
  "@: unknown program 'nosuchd'" "an unknown program is rejected"
check_line main.cf "drain_timeout = soon" 1 "@: drain_timeout" "a bad time value is rejected"
check_line main.cf "rtp_port_range = 20000-10000" 1 "@: rtp_port_range" \
  "a reversed port range is rejected"
check_line main.cf "no_such_parameter = 1" 0 "warning: @: unknown parameter 'no_such_parameter'" \
  "an unknown parameter is only a warning"
cp "$CONF/main.cf.good" "$CONF/main.cf"
cp "$CONF/master.cf.good" "$CONF/master.cf"

echo "api_listen = 127.0.0.1:\$undefined_thing" >>"$CONF/main.cf"
out=$(sb start 2>&1); rc=$?
check "start refuses a broken main.cf, naming it ($out)" \
  [ "$rc" = 1 ] && grep -q "main.cf:[0-9]*:.*undefined_thing" <<<"$out"
check "nothing runs after a refused start" [ -z "$(master_pid)" ]
finish
