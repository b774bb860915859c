#!/usr/bin/env bash
# Served SIP domains (sip_domains, sip_auto_aliases; docs/registrar.md): one canonical AOR
# per user of this node whatever name or local address a phone used. SIPp phones register
# and get called through the real cluster; asserted: the Redis key of each registration,
# the callee that receives the INVITE, 404 where the AOR is another, the dialplan's
# user/NAME@DOMAIN, a DID from a trunk whose Request-URI host is our address, apid's
# DELETE of an AOR written with our address, and the served set rebuilt at reload.
. "$(dirname "$0")/lib.sh"

new_confdir domains
set_param log_level debug
cat >"$CONF/dialplan.json" <<'EOF'
{
  "version": "domains-test",
  "routes": [
    {"id": "did", "name": "DID 5551234 to 1002", "pattern": "5551234", "priority": 10,
     "enabled": true,
     "actions": [{"type": "dial", "params": {"target": "user/1002", "timeout": 10}}]},
    {"id": "pbx", "name": "8xxx: 1004 in pbx.example.com", "pattern": "8*", "priority": 20,
     "enabled": true,
     "actions": [{"type": "dial", "params": {"target": "user/1004@pbx.example.com", "timeout": 10}}]},
    {"id": "users", "name": "Users", "pattern": "1*", "priority": 50, "enabled": true,
     "actions": [{"type": "dial", "params": {"target": "user/${destination}", "timeout": 10}}]}
  ]
}
EOF
sb start >/dev/null || { not_ok "start"; finish; }
wait_sip_ready
R() { redis-cli -s "$CONF/run/private/redis.sock" "$@"; }
A=http://127.0.0.1:$API_PORT

# reg_to USER TO_URI PORT: USER's phone on PORT registers with To: <TO_URI>; its 200
reg_to() {
  sipp_run "reg-$1" register_to.xml -cid_str "reg-$1-%u" -key user "$1" -key to_uri "$2" \
    -key seq 1 -key contacts "<sip:$1@127.0.0.1:$3>" -key expires_header "Expires: 600"
  msgs "reg-$1" received | awk '{ print $NF }'
}
# rings NAME USER HOST PORT: a call to sip:USER@HOST reaches the callee on PORT (it gets
# the INVITE, answers, gets the BYE) and the caller's call completes
rings() {
  local name=$1 user=$2 host=$3 port=$4
  callee "callee-$name" uas_answer.xml "$port"
  sleep 0.2
  sipp_run "call-$name" uac_call_host.xml -s "$user" -key ruri_host "$host" -d 200 \
    -cid_str "call-$name-%u" || return 1
  wait_pid "$CALLEE_PID" || return 1
  [ "$(msgs "callee-$name" received)" = "INVITE ACK BYE" ] &&
    [ "$(msgs "call-$name" received)" = "100 180 200 200" ]
}
# fails NAME USER HOST: a call to sip:USER@HOST gets this final status
fails() {
  sipp_run "call-$1" uac_fail_host.xml -s "$2" -key ruri_host "$3" -cid_str "call-$1-%u"
  msgs "call-$1" received | awk '{ print $NF }'
}
reloaded() { # ROLE N: every instance of ROLE has applied main.cf N times
  [ "$(api /api/v1/processes | jq "[.processes[] | select(.role==\"$1\") | .counters.reloads] | min")" -ge "$2" ]
}
reload_main_cf() { # N: the Nth reload of main.cf reaches sipd, routerd and apid
  sb reload >/dev/null &&
    wait_until 10 "reloaded sipd $1 && reloaded routerd $1 && reloaded apid $1"
}

# ---- default: no sip_domains (the domain is localhost), auto aliases on ----
P2=$(free_port)
check_eq "1002 registers with To: <sip:1002@127.0.0.1>" 200 "$(reg_to 1002 sip:1002@127.0.0.1 "$P2")"
check_eq "redis: its AOR is the domain's, sip:1002@localhost" \
  "sb:reg:{sip:1002@localhost}" "$(R --scan --pattern 'sb:reg:{sip:1002@*')"
check "a call to sip:1002@127.0.0.2 (another loopback address) rings 1002" rings lo2 1002 127.0.0.2 "$P2"
check "a call to sip:1002@localhost rings 1002" rings name 1002 localhost "$P2"
LOCAL_IP=$(hostname -I 2>/dev/null | awk '{ print $1 }')
if [ -n "$LOCAL_IP" ]; then
  [[ $LOCAL_IP == *:* ]] && LOCAL_HOST="[$LOCAL_IP]" || LOCAL_HOST=$LOCAL_IP
  check "a call to sip:1002@$LOCAL_HOST (an interface's address) rings 1002" \
    rings ifaddr 1002 "$LOCAL_HOST" "$P2"
else
  diag "no address but loopback: the interface case is skipped"
fi
check "a DID from a trunk, sip:5551234@127.0.0.1, reaches 1002 (user/1002)" \
  rings did 5551234 127.0.0.1 "$P2"
P3=$(free_port)
check_eq "1003 registers at a foreign domain, To: <sip:1003@Example.ORG:5060>" 200 \
  "$(reg_to 1003 sip:1003@Example.ORG:5060 "$P3")"
check_eq "redis: a foreign domain keeps its own AOR" 1 "$(R exists 'sb:reg:{sip:1003@example.org}')"
check "a call to sip:1003@example.org rings 1003" rings foreign 1003 example.org "$P3"
check_eq "a call to sip:1003@127.0.0.1 is not 1003 at example.org: 404" 404 "$(fails foreign-ours 1003 127.0.0.1)"
r=$(acurl -s --max-time 5 -X DELETE "$A/api/v1/registrations/sip:1002@127.0.0.2:5060")
check_eq "apid: DELETE of sip:1002@127.0.0.2:5060 removes sip:1002@localhost" \
  "sip:1002@localhost 1" "$(jq -r '"\(.aor) \(.removed)"' <<<"$r")"
check_eq "redis: its key is gone" 0 "$(R exists 'sb:reg:{sip:1002@localhost}')"
r=$(acurl -s --max-time 5 -w ' %{http_code}' -X DELETE "$A/api/v1/registrations/1002")
check_eq "apid: an AOR that is not sip:user@host is 400" "BAD_REQUEST 400" "$(jq -r .code <<<"${r% *}") ${r##* }"

# ---- sip_domains = pbx.example.com, by reload ----
set_param sip_domains "pbx.example.com sip.example.com"
reload_main_cf 1 || not_ok "the workers applied sip_domains"
P4=$(free_port)
check_eq "1004 registers with To: <sip:1004@pbx.example.com>" 200 "$(reg_to 1004 sip:1004@pbx.example.com "$P4")"
check_eq "redis: sb:reg:{sip:1004@pbx.example.com}" \
  "sb:reg:{sip:1004@pbx.example.com}" "$(R --scan --pattern 'sb:reg:{sip:1004@*')"
check "a call to sip:1004@127.0.0.1 reaches it" rings pbx-lo 1004 127.0.0.1 "$P4"
check "a call to sip:1004@SIP.example.com (another name of the domain) reaches it" \
  rings pbx-alias 1004 SIP.example.com "$P4"
check "user/1004@pbx.example.com: a call to sip:8000@example.org reaches 1004" \
  rings pbx-dial 8000 example.org "$P4"
P5=$(free_port)
check_eq "1005 registers with the registrar's port in its To: <sip:1005@127.0.0.3:$SIP_PORT>" 200 \
  "$(reg_to 1005 "sip:1005@127.0.0.3:$SIP_PORT" "$P5")"
check_eq "redis: its AOR is sip:1005@pbx.example.com" 1 "$(R exists 'sb:reg:{sip:1005@pbx.example.com}')"
check "a call to sip:1005@pbx.example.com reaches it" rings pbx-port 1005 pbx.example.com "$P5"
check "a call to sip:1004@localhost (the loopback addresses' name) reaches it" \
  rings pbx-localhost 1004 localhost "$P4"
check "a foreign domain keeps its AOR: sip:1003@example.org rings 1003" \
  rings foreign-2 1003 example.org "$P3"

# ---- a bad sip_domains: refused, with file and line ----
set_param sip_domains "pbx.example.com:5060"
out=$(sb check 2>&1)
check "switchboard check names the line of a sip_domains with a port" \
  grep -q "main.cf:[0-9]*: sip_domains = pbx.example.com:5060: .*no port" <<<"$out"

# ---- sip_auto_aliases = no: 127.0.0.2 is not ours ----
set_param sip_domains pbx.example.com
set_param sip_auto_aliases no
reload_main_cf 2 || not_ok "the workers applied sip_auto_aliases = no"
P6=$(free_port)
check_eq "1006 registers with To: <sip:1006@127.0.0.2>" 200 "$(reg_to 1006 sip:1006@127.0.0.2 "$P6")"
check_eq "redis: 127.0.0.2 is not ours, the AOR keeps it" \
  "sb:reg:{sip:1006@127.0.0.2}" "$(R --scan --pattern 'sb:reg:{sip:1006@*')"
check_eq "a call to sip:1006@pbx.example.com does not find it: 404" 404 "$(fails noauto-pbx 1006 pbx.example.com)"
check "a call to sip:1006@127.0.0.2 does" rings noauto 1006 127.0.0.2 "$P6"
check_eq "a call to sip:1004@127.0.0.1 is no longer 1004 of pbx.example.com: 404" 404 \
  "$(fails noauto-lo 1004 127.0.0.1)"
check "1004 is still reached at sip:1004@pbx.example.com" rings noauto-name 1004 pbx.example.com "$P4"

finish
