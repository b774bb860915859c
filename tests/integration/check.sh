#!/usr/bin/env bash
# switchboard check: accepts the shipped conf/, names file and line of what is broken;
# start refuses a broken configuration and leaves nothing running.
. "$(dirname "$0")/lib.sh"
new_confdir check
# said RC WANT_RC PATTERN TEXT: the exit status is WANT_RC and TEXT matches PATTERN
said() { [ "$1" = "$2" ] && grep -q -- "$3" <<<"$4"; }

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
    said "$rc" "$want_rc" "${pattern//@/$file:$line}" "$out"
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
check_line main.cf "no_such_parameter = 1" 0 "warning: .*@: unknown parameter 'no_such_parameter'" \
  "an unknown parameter is only a warning"
cp "$CONF/main.cf.good" "$CONF/main.cf"
cp "$CONF/master.cf.good" "$CONF/master.cf"

# What the workers load is checked too, with routerd's and mediad's own code: each bad value
# names main.cf and its line, a dialplan problem the file and its line or JSON path.
check_line main.cf "redis_address = localhost" 1 "@: redis_address = localhost: .*want unix:/path or host:port" \
  "a redis_address without a port is rejected"
check_line main.cf "redis_address = unix:" 1 "@: redis_address = unix:: .*empty path" \
  "an empty redis socket path is rejected"
check_line main.cf "media_address = 300.1.2.3" 1 "@: media_address = 300.1.2.3: .*not \[NAME/\]LOCAL\[!PUBLIC\]" \
  "a media_address that is not an IP address is rejected"
check_line main.cf "dialplan_gateways = carrier=sip:gw.example.com:5060 broken" 1 \
  "@: dialplan_gateways = .*'broken': want NAME=sip:host\[:port\]" "a gateway without a URI is rejected"
check_line main.cf "dialplan_gateways = carrier=sip:gw.example.com:99999" 1 \
  "@: dialplan_gateways = .*want NAME=sip:host" "a gateway with a bad port is rejected"
check_line main.cf 'dialplan_gateway_numbers = ^[0-9' 1 \
  "@: dialplan_gateway_numbers = .*'^\\[0-9': " "a dialplan_gateway_numbers that is no regular expression is rejected"
check_line main.cf 'register_contact_allow = 127.0.0.1 localhost' 1 \
  "@: register_contact_allow = .*'localhost': not an address or CIDR range" \
  "a register_contact_allow entry that is no address or range is rejected"
check_line main.cf "audio_path = $CONF/no-such-audio" 1 \
  "@: audio_path = $CONF/no-such-audio: cannot open the directory: No such file or directory" \
  "an audio_path that does not exist is rejected"
cp "$CONF/main.cf.good" "$CONF/main.cf"
cp "$CONF/dialplan.json" "$CONF/dialplan.json.good"
# check_dialplan JSON PATTERN DESCRIPTION: the dialplan is JSON; check exits 1 naming PATTERN
check_dialplan() {
  printf '%s\n' "$1" >"$CONF/dialplan.json"
  local out rc; out=$(sb check 2>&1); rc=$?
  check "$3 ($out)" said "$rc" 1 "$2" "$out"
  cp "$CONF/dialplan.json.good" "$CONF/dialplan.json"
}
check_dialplan '{"routes": [' "$CONF/dialplan.json: .*line 2" \
  "a dialplan that is not JSON is rejected with its line"
check_dialplan '{"routes": [{"id": "a", "pattern": "1*", "actions": [{"type": "dial", "params": {"target": "user/x", "timeout": "soon"}}]}]}' \
  "$CONF/dialplan.json: routes\[0\].actions\[0\].params.timeout" \
  "a dialplan with a bad value is rejected with its JSON path"
check_dialplan '{"routes": [{"id": "a", "pattern": "1*", "actions": [{"type": "dial", "params": {"target": "gateway/nowhere"}}]}]}' \
  "$CONF/dialplan.json: routes\[0\].actions\[0\].params.target" \
  "a dial to a gateway not in dialplan_gateways is rejected"
check_dialplan '{"routes": [{"id": "ivr", "pattern": "5", "actions": [{"type": "play_audio", "params": {"file": "missing.wav"}}]}]}' \
  "route 'ivr': play_audio file 'missing.wav': No such file or directory in audio_path" \
  "a play_audio file missing from audio_path is rejected"
out=$(sb check 2>&1); rc=$?
check_eq "the good dialplan passes again ($out)" 0 "$rc"
if [ "$(id -u)" = 0 ] && id switchboard >/dev/null 2>&1; then
  chmod 600 "$CONF/dialplan.json"
  out=$(sb check 2>&1); rc=$?
  check "a dialplan the service user cannot read is rejected, naming path, mode and owner ($out)" \
    said "$rc" 1 "dialplan_path $CONF/dialplan.json: not readable by service_user 'switchboard' (mode 0600, owner root:root)" "$out"
  out=$(sb start 2>&1); rc=$?
  check "start refuses it too ($out)" said "$rc" 1 "not readable by service_user" "$out"
  check "nothing runs after that refused start" [ -z "$(master_pid)" ]
  chmod 644 "$CONF/dialplan.json"
  chmod 600 "$CONF/audio/demo-congrats.wav"
  out=$(sb check 2>&1); rc=$?
  check "a prompt the service user cannot read is rejected, naming it ($out)" \
    said "$rc" 1 "route 'route_ivr': play_audio audio/demo-congrats.wav: not readable by service_user 'switchboard' (mode 0600" "$out"
  chmod 644 "$CONF/audio/demo-congrats.wav"
fi
printf '{"routes": [\n' >"$CONF/dialplan.json"
out=$(sb start 2>&1); rc=$?
check "start refuses a dialplan that does not load, naming it ($out)" \
  said "$rc" 1 "$CONF/dialplan.json" "$out"
check "nothing runs after a refused start" [ -z "$(master_pid)" ]
cp "$CONF/dialplan.json.good" "$CONF/dialplan.json"

echo "api_listen = 127.0.0.1:\$undefined_thing" >>"$CONF/main.cf"
out=$(sb start 2>&1); rc=$?
check "start refuses a broken main.cf, naming it ($out)" \
  said "$rc" 1 "main.cf:[0-9]*:.*undefined_thing" "$out"
check "nothing runs after a refused start" [ -z "$(master_pid)" ]
finish
