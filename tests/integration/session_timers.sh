#!/usr/bin/env bash
# Session timers (RFC 4028) through the B2BUA, each leg on its own: a caller that asks
# and refreshes (its UPDATEs relayed to the callee, our answers carrying Session-Expires),
# a caller that asks and never refreshes (we end the call: BYE to both), a caller that
# asks us to refresh (refresher=uas: our UPDATE reaches it), an interval under
# session_min_se (422 with Min-SE), a callee that asks in its 200 (we refresh it), a
# Session-Expires or Min-SE that cannot be read (400 from sipd, RFC 4028).
# session_min_se is lowered to 2 s so that intervals fit in test time.
. "$(dirname "$0")/lib.sh"

new_confdir session_timers
set_param log_level debug
set_param sip_t1 100ms
set_param session_min_se 2
sb start >/dev/null || { not_ok "start"; finish; }
wait_sip_ready

PB=$(free_port)
check "1001 registers" register 1001 "$PB"

# ---- the caller asks (refresher=uac) and refreshes twice ----
callee se-b1 uas_se_updates.xml "$PB"
sleep 0.2
check "a caller refreshing its session timer keeps the call up, then hangs up" \
  sipp_run se-a1 uac_se_refresh.xml -s 1001 -key se "2;refresher=uac" -cid_str "se-a1-%u"
check "the callee saw the call through" wait_pid "$CALLEE_PID"
check_eq "the caller received 100 180 200 200 200 200" "100 180 200 200 200 200" "$(msgs se-a1 received)"
check_eq "our 200 to the INVITE names the interval and the caller as refresher" "2;refresher=uac" \
  "$(hdr se-a1 3 Session-Expires)"
check_eq "... and requires the timer extension (the caller supports it)" "timer" "$(hdr se-a1 3 Require)"
check_eq "our 200 to its refreshing UPDATE carries Session-Expires too" "2;refresher=uac" \
  "$(hdr se-a1 4 Session-Expires)"
check_eq "the refreshes reach the callee as UPDATEs of its dialog" "INVITE ACK UPDATE UPDATE BYE" \
  "$(msgs se-b1 received)"
check_eq "our INVITE to the callee says Supported: timer" "timer" "$(hdr se-b1 1 Supported)"

# ---- the caller asks and never refreshes: the session expires, both legs get BYE ----
callee se-b2 uas_answer.xml "$PB"
sleep 0.2
check "a caller that does not refresh gets our BYE" \
  sipp_run se-a2 uac_se_expire.xml -s 1001 -key se "2;refresher=uac" -cid_str "se-a2-%u"
check "the callee got the BYE too" wait_pid "$CALLEE_PID"
check_eq "the callee received INVITE ACK BYE" "INVITE ACK BYE" "$(msgs se-b2 received)"
check "dialogd logged the expiry" grep -q "session timer of the caller: no refresh in time" \
  "$CONF/run/switchboard.log"

# ---- the caller asks us to refresh (refresher=uas): our UPDATE reaches it ----
callee se-b3 uas_answer.xml "$PB"
sleep 0.2
check "a caller that asks us to refresh gets an UPDATE, answers it and hangs up" \
  sipp_run se-a3 uac_se_uas.xml -s 1001 -key se "4;refresher=uas" -cid_str "se-a3-%u"
check "the callee saw the call through" wait_pid "$CALLEE_PID"
check_eq "our 200 names us as refresher" "4;refresher=uas" "$(hdr se-a3 3 Session-Expires)"
check_eq "our refresh is an UPDATE with us (its UAC) as refresher" "4;refresher=uac" \
  "$(hdr se-a3 4 Session-Expires)"
check_eq "the callee saw no refresh (its leg has no timer)" "INVITE ACK BYE" "$(msgs se-b3 received)"

# ---- an interval under session_min_se: 422 with Min-SE ----
check "a session interval under Min-SE is refused" \
  sipp_run se-a4 uac_se_short.xml -s 1001 -key se "1" -cid_str "se-a4-%u"
check_eq "the caller received 422" "422" "$(msgs se-a4 received | awk '{ print $NF }')"
check_eq "the 422 names our Min-SE" "2" "$(hdr se-a4 "$(msgs se-a4 received | wc -w)" Min-SE)"

# ---- the callee asks in its 200 (refresher=uac: we, its UAC, refresh) ----
callee se-b5 uas_se.xml "$PB" -key se "4;refresher=uac"
sleep 0.2
check "a call whose callee asks a session timer completes" \
  sipp_run se-a5 uac_call.xml -s 1001 -d 3000 -cid_str "se-a5-%u"
check "the callee got our refresh and the BYE" wait_pid "$CALLEE_PID"
check_eq "the callee received INVITE ACK UPDATE BYE" "INVITE ACK UPDATE BYE" "$(msgs se-b5 received)"
check_eq "our refresh names us (its UAC) as refresher" "4;refresher=uac" \
  "$(hdr se-b5 3 Session-Expires)"
check_eq "the caller's leg has no timer (it did not ask)" "" "$(hdr se-a5 3 Session-Expires)"

# ---- a Session-Expires or Min-SE that cannot be read: 400 from sipd, dialogd never sees it ----
started=$(counter dialogd calls_started)
n=0
for se in "Session-Expires: soon" "Session-Expires: 86401" "Min-SE: -1"; do
  n=$((n + 1))
  printf 'INVITE sip:1001@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bKsebad%s;rport\r\nMax-Forwards: 70\r\nFrom: <sip:x@example.com>;tag=sebad\r\nTo: <sip:1001@example.com>\r\nCall-ID: se-bad-%s@test\r\nCSeq: 1 INVITE\r\n%s\r\nContent-Length: 0\r\n\r\n' \
    "$n" "$n" "$se" >"$SB_OUT/se-bad-$n.sip"
  out=$("$SB_TOOLS/sip_send" -w 300 127.0.0.1 "$SIP_PORT" "$SB_OUT/se-bad-$n.sip")
  check "an INVITE with '$se' gets 400 from sipd" grep -qE '^<<< SIP/2.0 400 Bad (Session-Expires|Min-SE)' <<<"$out"
done
check_eq "dialogd started no call for them" "$started" "$(counter dialogd calls_started)"

check_eq "no call is left in dialogd" 0 "$(api /api/v1/processes |
  jq '[.processes[] | select(.role=="dialogd") | .counters.calls_active] | add')"
finish
