#!/usr/bin/env bash
# mediad is a closed relay (docs/security.md), each rule replayed as an attacker would
# with media_probe (IPC + UDP phones on loopback): bytes that are not RTP/RTCP from a
# latched source are dropped and counted; nothing (relay or prompt) goes to a side
# before it was heard from, unless its SDP names its own signaling source; SRTP latches
# only on a packet that authenticates (and follows an authenticated one to a new port);
# a loopback target named by a party signaling from elsewhere is neither sent to nor
# latched from, unless media_allow_targets lists it; a bad list fails switchboard check.
. "$(dirname "$0")/lib.sh"
MP=$SB_TOOLS/media_probe

new_confdir media_closed
set_param audio_path "$CONF/audio"
mkdir -p "$CONF/audio"
cp "$top/conf/audio/demo-congrats.wav" "$CONF/audio/"
chmod -R a+rX "$CONF/audio"
sb start >/dev/null || { not_ok "start"; finish; }
M0=$CONF/run/private/mediad.0
check "mediad is ready" wait_until 10 '[ "$(status_count mediad)" = 1 ]'

for sc in notrtp targets srtplatch; do "$MP" "$M0" "$sc"; done
"$MP" "$M0" unheard demo-congrats.wav

counter() { api /api/v1/processes | jq "[.processes[] | select(.role==\"mediad\") | .counters.$1] | add"; }
check "media_rx_not_rtp counts what was not RTP/RTCP" \
  wait_until 3 '[ "$(counter media_rx_not_rtp)" -ge 6 ]'
check "and /metrics exports it" wait_until 3 \
  'api /metrics | grep -q "media_rx_not_rtp.* [6-9]"'

set_param media_allow_targets "127.0.0.0/8, 192.0.2.0/24"
sb reload >/dev/null
"$MP" "$M0" targets allowed

set_param media_allow_targets "127.0.0.0/33"
out=$(sb check 2>&1)
check "switchboard check refuses media_allow_targets 127.0.0.0/33, naming it" \
  grep -q "media_allow_targets.*127.0.0.0/33" <<<"$out"
finish
