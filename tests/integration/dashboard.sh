#!/usr/bin/env bash
# The dashboard in headless Chromium (Debian's chromium, driven by playwright-core from
# npm, installed into tests/browser/node_modules by `make check`): a SIPp registration
# appears in the registrations view without a reload, an unregister and a worker respawn
# arrive over the event stream; SIPp calls appear in the calls view and go when they end,
# the Hang up button ends a live call (both SIPp ends get the BYE), the media view shows
# sessions and drains a mediad; the nodes of api_peers are shown, a dead one as down;
# the page asks for the token in its login form (the token file's; then main.cf api_token,
# a wrong one refused) and works with it.
# Screenshots go to $SB_OUT. A missing browser or
# playwright-core fails this test; it never skips.
. "$(dirname "$0")/lib.sh"
if [ ! -x /usr/bin/chromium ]; then
  not_ok "chromium is installed (/usr/bin/chromium; make deps installs it)"; finish
fi
if [ ! -f "$top/tests/browser/node_modules/playwright-core/package.json" ]; then
  not_ok "playwright-core is installed (cd tests/browser && npm ci; make check does it)"; finish
fi
new_confdir dashboard
sb start >/dev/null || { not_ok "start"; finish; }
wait_sip_ready
export SB_API=http://127.0.0.1:$API_PORT SB_SHOTS=$SB_OUT
export SB_TOKEN=$(api_token) # the token master made: the pages log in with it
export SB_REGISTER="timeout 30 sipp -sf '$top/tests/sipp/register.xml' -i 127.0.0.1 -p $(free_port) -m 1 \
  -timeout 15s -timeout_error -nostdin -cid_str dash-alice -key user alice -key seq 1 \
  -key contacts '<sip:alice@127.0.0.1:5081>' -key expires_header 'Expires: 600' \
  127.0.0.1:$SIP_PORT >'$SB_OUT/sipp.out' 2>&1"
export SB_UNREGISTER="curl -s -o /dev/null -H 'Authorization: Bearer $SB_TOKEN' -X DELETE '$SB_API/api/v1/registrations/sip:alice@example.com'"
export SB_KILL="kill -9 $(status_field routerd 0 3)"
(cd "$top/tests/browser" && timeout 120 node dashboard.js)
rc=$?
[ "$rc" = 0 ] || not_ok "dashboard.js exited $rc"
check "a screenshot of the registrations view is saved" test -s "$SB_OUT/dashboard-registrations.png"

# Calls and media: SIPp calls (started by the script, its children) seen, hung up from the
# page and checked at both SIPp ends; a mediad drained and undrained.
wait_sip_ready # routerd was killed above: its respawn is connected again
export SB_SIP=127.0.0.1:$SIP_PORT SB_SIPP_DIR=$top/tests/sipp SB_RTP_PEER=$SB_TOOLS/rtp_peer
export SB_SIPP_PORTS="$(free_port) $(free_port) $(free_port)"
(cd "$top/tests/browser" && timeout 90 node dashboard_calls.js)
rc=$?
[ "$rc" = 0 ] || not_ok "dashboard_calls.js exited $rc"
check "screenshots of the calls and media views are saved" \
  test -s "$SB_OUT/dashboard-calls.png" -a -s "$SB_OUT/dashboard-media.png"

# Several nodes: api_peers lists this apid under another origin (read cross-origin, as a
# real peer is) and a port where nothing listens.
export SB_PEER=http://localhost:$API_PORT SB_DEAD=http://127.0.0.1:$(free_port)
set_param api_peers "$SB_PEER $SB_DEAD"
sb reload >/dev/null
wait_until 5 '[ "$(api /api/v1/nodes | jq ".nodes | length" 2>/dev/null)" = 3 ]' ||
  not_ok "api_peers is not in force after reload"
(cd "$top/tests/browser" && timeout 60 node dashboard_nodes.js)
rc=$?
[ "$rc" = 0 ] || not_ok "dashboard_nodes.js exited $rc"

# With a token: the page asks once, then reads and streams with it.
export SB_TOKEN=dash-$RANDOM-token
set_param api_token "$SB_TOKEN"
sb reload >/dev/null
wait_until 5 '[ "$(curl -s -o /dev/null -w "%{http_code}" -H "Authorization: Bearer $(cat "$CONF/api.token")" "$SB_API/api/v1/stats")" = 401 ]' ||
  not_ok "the token is not in force after reload"
# the number of subscribers that got it must be at least 1 (apid), or the publish fails
export SB_PUBLISH="n=\$(redis-cli -s '$CONF/run/private/redis.sock' publish sb:events \
  '{\"type\":\"registration.added\",\"aor\":\"sip:erin@example.com\",\"contact\":\"sip:erin@1.1.1.1\",\"expires\":60,\"node_id\":\"node1\",\"ts_ms\":1}') && [ \"\$n\" -ge 1 ]"
(cd "$top/tests/browser" && timeout 120 node dashboard_token.js)
rc=$?
[ "$rc" = 0 ] || not_ok "dashboard_token.js exited $rc"
sb stop >/dev/null
finish
