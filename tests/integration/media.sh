#!/usr/bin/env bash
# mediad, the media plane, against the real cluster: media_probe drives mediad over its IPC
# socket as dialogd will and plays both phones with UDP sockets on loopback. RTP and RTCP
# both ways (payload untouched, right addresses), stats, latching and its IP restriction
# (and a side behind NAT latched from its signaling source),
# hold, RFC 4733 DTMF events, media_timeout, bridging two calls, early media, list, port
# pool exhaustion, bad and unrelayable SDP,
# playback (packets, seq/ts/marker, pacing, decoded samples), SRTP <-> RTP with a libsrtp2
# peer, two instances sharing the pool, and an instance killed with sessions: its owner
# sees the channel close and its ports are taken back.
. "$(dirname "$0")/lib.sh"
MP=$SB_TOOLS/media_probe

new_confdir media
# A narrow port range of our own (20 pairs), all free now.
range_free() { local p; for p in $(seq "$1" $(($1 + 39))); do
  [ -z "$(ss -Hlnu "sport = :$p" 2>/dev/null)" ] || return 1; done; }
for _ in $(seq 1 50); do
  LO=$(( (20000 + RANDOM % 20000) & ~1 ))
  range_free "$LO" && break
done
set_param rtp_port_range "$LO-$((LO + 39))"
set_param media_timeout 1s
set_param audio_path "$CONF/audio"
set_maxproc mediad 2
mkdir -p "$CONF/audio"
"$MP" mkwav "$CONF/audio/tone8k.wav" 8000 1 600 440 || not_ok "mkwav 8k"
"$MP" mkwav "$CONF/audio/tone16k.wav" 16000 2 400 440 || not_ok "mkwav 16k"
cp "$top/conf/audio/demo-congrats.wav" "$CONF/audio/"
chmod -R a+rX "$CONF/audio"
sb start >/dev/null || { not_ok "start"; finish; }
M0=$CONF/run/private/mediad.0
M1=$CONF/run/private/mediad.1
check "both mediad instances are ready" wait_until 10 '[ "$(status_count mediad)" = 2 ]'

for sc in relay latch natlatch announce hold dtmf timeout bridge early badsdp playerr srtp srtp32; do
  "$MP" "$M0" "$sc"
done
"$MP" "$M0" play tone8k.wav "$CONF/audio/tone8k.wav"
"$MP" "$M0" play tone8k.wav "$CONF/audio/tone8k.wav" pcma | sed 's/^\(not \)\{0,1\}ok - /&PCMA: /'
"$MP" "$M0" play tone16k.wav -3200
# the sample prompt, named as the prototype's dialplan names it
"$MP" "$M0" play audio/demo-congrats.wav -9600 | sed 's/^\(not \)\{0,1\}ok - /&demo prompt: /'
"$MP" "$M0" pool 20

counter() { api /api/v1/processes | jq "[.processes[] | select(.role==\"mediad\") | .counters.$1] | add"; }
check "shm counts the sessions created (media_sessions_created $(counter media_sessions_created))" \
  test "$(counter media_sessions_created)" -ge 20
check "and the pool exhaustion (media_pool_exhausted $(counter media_pool_exhausted))" \
  test "$(counter media_pool_exhausted)" -ge 1
check "and the refused SDP (media_bad_sdp $(counter media_bad_sdp))" test "$(counter media_bad_sdp)" -ge 3
check "and relayed packets (media_rx_packets $(counter media_rx_packets))" \
  wait_until 3 '[ "$(counter media_rx_packets)" -ge 70 ]'
check "and SRTP failures (media_srtp_failed)" test "$(counter media_srtp_failed)" -ge 2
check "and relayed bytes, at least an RTP header a packet (media_rx_bytes $(counter media_rx_bytes))" \
  test "$(counter media_rx_bytes)" -ge $((12 * $(counter media_rx_packets)))
check "and bytes sent (media_tx_bytes)" test "$(counter media_tx_bytes)" -ge $((12 * $(counter media_tx_packets)))
check "and the 5 packets the relay scenario never sent, as lost (media_lost $(counter media_lost))" \
  wait_until 3 '[ "$(counter media_lost)" -ge 5 ]'
check "and DTMF events" test "$(counter media_dtmf_events)" -ge 1
check "and media timeouts" test "$(counter media_timeouts)" -ge 1

# ---- an owner that goes away: its silent sessions do not live forever ----
gauge() { api /api/v1/processes | jq ".processes[] | select(.role==\"mediad\" and .instance==$1) | .counters.media_sessions"; }
out=$SB_OUT/orphans.out
"$MP" "$M0" hold-open 2 >"$out" 2>&1 &
OP=$!
check "mediad.0 holds 2 sessions for an owner" wait_until 5 'grep -q "^created 2" "$out"'
check_eq "its gauge says 2" 2 "$(wait_until 3 '[ "$(gauge 0)" = 2 ]'; gauge 0)"
kill "$OP"; wait "$OP" 2>/dev/null
check "the owner gone, mediad.0 ends its silent sessions after media_timeout" \
  wait_until 5 '[ "$(gauge 0)" = 0 ]'

# ---- two instances: one pool, and a dead instance's sessions ----
out=$SB_OUT/hold-open.out
"$MP" "$M1" hold-open 3 >"$out" 2>&1 &
HP=$!
EXTRA_PIDS=$HP
check "mediad.1 holds 3 sessions" wait_until 5 'grep -q "^created 3" "$out"'
check_eq "the media_sessions gauge of mediad.1 says 3" 3 "$(wait_until 3 '[ "$(gauge 1)" = 3 ]'; gauge 1)"
check_eq "mediad.0 has none" 0 "$(gauge 0)"
m1pid=$(status_field mediad 1 3)
kill -9 "$m1pid"
wait "$HP"
check_eq "the owner sees mediad.1's channel close with its 3 sessions" "lost 3" "$(tail -n 1 "$out")"
check "the 6 port pairs of the dead instance are taken back" \
  wait_until 10 '[ "$(counter media_ports_reclaimed)" -ge 6 ]'
check "mediad.1 is respawned" wait_until 10 '[ "$(status_count mediad)" = 2 ]'
"$MP" "$M1" pool 20 | sed 's/^\(not \)\{0,1\}ok - /&after the kill: /'

# ---- drain: maxproc 2 -> 1 retires mediad.1; it takes nothing new and reports its calls ----
out=$SB_OUT/drain.out
"$MP" "$M1" hold-open 2 >"$out" 2>&1 &
HP=$!
EXTRA_PIDS=$HP
check "mediad.1 holds 2 sessions" wait_until 5 'grep -q "^created 2" "$out"'
set_maxproc mediad 1
sb reload >/dev/null
check_eq "mediad.0 still creates" "status 0" "$("$MP" "$M0" create)"
wait "$HP"
check_eq "the retired mediad.1 answers a create with DRAINING" "draining_seen 1" \
  "$(grep draining_seen "$out")"
check_eq "when the drain window ends its 2 sessions are reported lost (events)" \
  "session_lost_events 2" "$(grep session_lost_events "$out")"
check "and mediad.1 is gone" wait_until 5 '[ "$(status_count mediad)" = 1 ]'

# ---- out of descriptors is not out of ports: said so, not counted as pool exhaustion ----
# the cluster again under a hard limit of 48 descriptors (master raises the soft limit to
# it): mediad has room for a few sessions only, far fewer than the port range holds
sb stop >/dev/null
(ulimit -Sn 48 && ulimit -Hn 48 && sb start >/dev/null) || not_ok "start under 48 descriptors"
check "mediad is ready under 48 descriptors" wait_until 10 '[ "$(status_count mediad)" = 1 ]'
"$MP" "$M0" fdlimit
check_eq "a descriptor shortage is not counted as pool exhaustion" 0 \
  "$(counter media_pool_exhausted)"
check "mediad logged the shortage" grep -q "no socket for a new session: Too many open files" \
  "$CONF/run/switchboard.log"
finish
