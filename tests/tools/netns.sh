# Miniature networks for the integration tests that need more than loopback (nat.sh,
# multihome.sh): network namespaces joined by veth pairs, routers that masquerade with
# nftables, and the Switchboard cluster run inside one of them. Sourced after
# tests/integration/lib.sh. Every namespace is named after the test's PID (parallel runs
# do not collide) and removed at exit with the processes running in it; interfaces are
# created inside their namespaces, never in the host's.

NS_LIST=""
NS_PREFIX="sb$$"

# netns_require: prints "ok # SKIP REASON" and exits when not root or when network
# namespaces cannot be made here; fails without nft or SIPp (make deps installs them);
# else sets the trap that removes the namespaces at exit.
netns_require() {
  local probe="${NS_PREFIX}probe"
  if [ "$(id -u)" != 0 ]; then
    echo "ok # SKIP network namespaces need root"
    exit 0
  fi
  if ! ip netns add "$probe" 2>/dev/null; then
    echo "ok # SKIP ip netns add failed: no network namespaces here"
    exit 0
  fi
  if ! ip netns exec "$probe" ip link set lo up 2>/dev/null; then
    ip netns del "$probe" 2>/dev/null
    echo "ok # SKIP ip netns exec failed"
    exit 0
  fi
  ip netns del "$probe"
  trap netns_cleanup EXIT
  trap 'exit 143' TERM INT
  local t
  for t in nft sipp; do
    command -v "$t" >/dev/null || { not_ok "$t is installed (make deps)"; finish; }
  done
}

# ns_add NAME: a namespace "$NS_PREFIX-NAME" with lo up; prints nothing, sets nothing
# (use ns NAME for its full name).
ns() { echo "$NS_PREFIX-$1"; }
ns_add() {
  ip netns add "$(ns "$1")" || return 1
  NS_LIST="$NS_LIST $(ns "$1")"
  ip -n "$(ns "$1")" link set lo up
}
# in_ns NAME CMD...: runs CMD in namespace NAME.
in_ns() { local n; n=$(ns "$1"); shift; ip netns exec "$n" "$@"; }

# ns_link NS1 IF1 ADDR1/LEN NS2 IF2 ADDR2/LEN: a veth pair between two namespaces.
ns_link() {
  ip -n "$(ns "$1")" link add "$2" type veth peer name "$5" netns "$(ns "$4")" || return 1
  ip -n "$(ns "$1")" addr add "$3" dev "$2"
  ip -n "$(ns "$4")" addr add "$6" dev "$5"
  ip -n "$(ns "$1")" link set "$2" up
  ip -n "$(ns "$4")" link set "$5" up
}

# ns_masquerade NAME OUT_IF INSIDE_NET: NAME forwards, and masquerades what leaves on OUT_IF
# from INSIDE_NET with fully random source ports (a NAT that keeps no port: the phone's
# port never shows outside), as a home router under port pressure does. A mapping lives
# 180 s without traffic (the kernel's 30 s would close a phone's pinhole between its
# REGISTER and a call later in the test).
ns_masquerade() {
  in_ns "$1" sysctl -qw net.ipv4.ip_forward=1 || return 1
  in_ns "$1" sysctl -qw net.netfilter.nf_conntrack_udp_timeout=180 2>/dev/null
  in_ns "$1" nft -f - <<EOF
table ip sbnat {
  chain post {
    type nat hook postrouting priority srcnat; policy accept;
    ip saddr $3 oifname "$2" masquerade fully-random
  }
}
EOF
}

# ns_count_from NAME IP: counts the UDP packets NAME receives from IP whose source port is
# not 5060 (media), in an nftables counter read by ns_counted NAME.
ns_count_from() {
  in_ns "$1" nft -f - <<EOF
table inet sbcount {
  counter media_in {}
  chain input {
    type filter hook input priority 0; policy accept;
    ip saddr $2 udp sport != 5060 counter name media_in
  }
}
EOF
}
ns_counted() {
  in_ns "$1" nft -j list counter inet sbcount media_in 2>/dev/null |
    jq '[.nftables[] | select(.counter) | .counter.packets] | add // 0'
}

# ns_kill NAME: kills every process left in namespace NAME (each was started by this test
# inside it), by PID.
ns_kill() {
  local p pids
  pids=$(ip netns pids "$1" 2>/dev/null)
  [ -n "$pids" ] || return 0
  for p in $pids; do kill "$p" 2>/dev/null; done
  for _ in $(seq 1 40); do
    [ -n "$(ip netns pids "$1" 2>/dev/null)" ] || return 0
    sleep 0.05
  done
  for p in $(ip netns pids "$1" 2>/dev/null); do kill -9 "$p" 2>/dev/null; done
}

netns_cleanup() {
  [ -z "${CONF:-}" ] || cleanup
  local n
  for n in $NS_LIST; do ns_kill "$n"; done
  for n in $NS_LIST; do ip netns del "$n" 2>/dev/null; done
  NS_LIST=""
}

# ---- the cluster inside a namespace ----
# node_confdir NAME NODE_NS: new_confdir NAME for a cluster run in NODE_NS: SIP on
# 0.0.0.0:5060 (UDP and TCP), the REST API on the namespace's own 127.0.0.1:8080 (nothing
# else lives there), cleanup at exit of both the cluster and every namespace.
node_confdir() {
  new_confdir "$1"
  NODE_NS=$2
  SIP_PORT=5060
  API_PORT=8080
  set_param sip_listen_udp 0.0.0.0:5060
  set_param sip_listen_tcp 0.0.0.0:5060
  set_param api_listen 127.0.0.1:8080
  trap netns_cleanup EXIT
}
# lib.sh's helpers, run where the cluster is.
sb() { in_ns "$NODE_NS" "$SB_BIN/switchboard" -c "$CONF" "$@"; }
api() { in_ns "$NODE_NS" curl -s -H "Authorization: Bearer $(api_token)" --max-time 5 "http://127.0.0.1:$API_PORT$1"; }
api_code() { in_ns "$NODE_NS" curl -s -H "Authorization: Bearer $(api_token)" -o /dev/null -w '%{http_code}' --max-time 5 "http://127.0.0.1:$API_PORT$1"; }
redis() { in_ns "$NODE_NS" redis-cli -s "$CONF/run/private/redis.sock" "$@"; }

# ---- SIPp phones in a namespace ----
# phone_sipp NS NAME SCENARIO LOCAL_IP LOCAL_PORT TARGET [SIPP ARGS...]: one SIPp run in
# namespace NS from LOCAL_IP:LOCAL_PORT to TARGET (IP:PORT), PHONE_TIMEOUT seconds at most
# (15); its messages
# go to $SB_OUT/NAME.msg; returns SIPp's exit status. phone_sipp_bg: the same in the
# background, SIPP_PID its PID (timeout's, which passes a TERM on to SIPp).
phone_sipp() {
  phone_sipp_bg "$@"
  wait "$SIPP_PID"
}
phone_sipp_bg() {
  local nsn=$1 name=$2 scen=$3 ip=$4 port=$5 target=$6; shift 6
  rm -f "$SB_OUT/$name.msg" "$SB_OUT/$name.err"
  local t=${PHONE_TIMEOUT:-15}
  ip netns exec "$(ns "$nsn")" timeout $((t + 5)) sipp -sf "$top/tests/sipp/$scen" -i "$ip" \
    -p "$port" -m 1 -timeout "${t}s" -timeout_error -nostdin -trace_msg -message_file "$SB_OUT/$name.msg" \
    -trace_err -error_file "$SB_OUT/$name.err" "$@" "$target" >"$SB_OUT/$name.out" 2>&1 &
  SIPP_PID=$!
}

# ns_nat_port ROUTER PRIVATE_IP PRIVATE_PORT DEST_IP DEST_PORT: the source port ROUTER's
# masquerade gave the flow PRIVATE_IP:PRIVATE_PORT -> DEST_IP:DEST_PORT (UDP; from its
# connection tracking table), empty when it has no such flow.
ns_nat_port() {
  in_ns "$1" cat /proc/net/nf_conntrack 2>/dev/null | awk -v s="src=$2" -v sp="sport=$3" \
    -v d="dst=$4" -v dp="dport=$5" '
    $3 == "udp" { n = 0; for (i = 1; i <= NF; i++) if ($i ~ /^(src|dst|sport|dport)=/) f[++n] = $i
      if (f[1] == s && f[2] == d && f[3] == sp && f[4] == dp) { sub(/dport=/, "", f[8]); print f[8]; exit } }'
}

# ---- phones and calls (a phone is NS:IP:PORT) ----
p_ns() { echo "${1%%:*}"; }
p_ip() { local r=${1#*:}; echo "${r%%:*}"; }
p_port() { echo "${1##*:}"; }

# sipp_status NAME: the status codes of the responses SIPp received, space separated
sipp_status() { msgs "$1" received; }
# rx_hdr NAME START HEADER: header HEADER of the first message SIPp NAME received whose
# start line begins with START ("SIP/2.0 200", "BYE ")
rx_hdr() {
  tr -d '\r' <"$SB_OUT/$1.msg" | awk -v s="$2" -v h="$3" '
    /message received/ { r = 1; g = 0; next } /message sent/ { r = 0; g = 0; next }
    r && index($0, s) == 1 { g = 1 }
    g && tolower($0) ~ "^" tolower(h) ":" { sub(/^[^:]*: */, ""); print; exit }'
}

# reg NAME PHONE USER DOMAIN [CSEQ]: PHONE registers sip:USER@DOMAIN (its contact
# USER@IP:PORT) at DOMAIN:5060, from the port it is called on later.
reg() {
  local ip port
  ip=$(p_ip "$2") port=$(p_port "$2")
  PHONE_TIMEOUT=5 phone_sipp "$(p_ns "$2")" "$1" register_to.xml "$ip" "$port" "$4:5060" \
    -cid_str "$1-%u" -key user "$3" -key to_uri "sip:$3@$4" -key seq "${5:-1}" \
    -key contacts "<sip:$3@$ip:$port>" -key expires_header "Expires: 600"
}

# call CALLER_NAME CALLER_PHONE DOMAIN SERVICE CALLEE_NAME CALLEE_PHONE CALLER_SCENARIO
#      CALLEE_SCENARIO PAUSE_MS: the callee's SIPp in the background (none when
#      CALLEE_PHONE is "-": a softphone answers), then the caller's calling
#      sip:SERVICE@DOMAIN at DOMAIN:5060; CALLER_PID, CALLEE_PID. Succeeds once the caller
#      has its 200 (and the callee the INVITE); else both are stopped (PIDs "none").
call() {
  CALLEE_PID=none
  if [ "$6" != - ]; then
    phone_sipp_bg "$(p_ns "$6")" "$5" "$8" "$(p_ip "$6")" "$(p_port "$6")" "$3:5060" -d "$9"
    CALLEE_PID=$SIPP_PID
    wait_until 5 "ip netns exec $(ns "$(p_ns "$6")") ss -Hlnu 'sport = :$(p_port "$6")' | grep -q ."
  fi
  phone_sipp_bg "$(p_ns "$2")" "$1" "$7" "$(p_ip "$2")" "$(p_port "$2")" "$3:5060" -s "$4" -d "$9"
  CALLER_PID=$SIPP_PID
  if wait_until 10 "grep -q '^SIP/2.0 200' '$SB_OUT/$1.msg' 2>/dev/null" &&
    { [ "$6" = - ] || grep -q '^INVITE ' "$SB_OUT/$5.msg" 2>/dev/null; }; then
    return 0
  fi
  kill "$CALLER_PID" ${CALLEE_PID/none/} 2>/dev/null
  wait "$CALLER_PID" ${CALLEE_PID/none/} 2>/dev/null
  CALLER_PID=none CALLEE_PID=none
  return 1
}
# ended PID: the SIPp of a call that went through ended without error
ended() { [ "$1" != none ] && wait_pid "$1"; }

# rtp NAME PHONE TARGET: rtp_peer in PHONE's namespace from its IP, 50 packets to TARGET
# (IP:PORT) and what comes back in 2.5 s, its report in $SB_OUT/NAME.rtp
rtp() {
  in_ns "$(p_ns "$2")" "$SB_TOOLS/rtp_peer" -b "$(p_ip "$2")" -t "$3" -n 50 -w 2500 \
    >"$SB_OUT/$1.rtp" 2>&1
}
# media NAME_A PHONE_A NAME_B PHONE_B: both phones of a call at once, each to the address
# the SDP it received names (mediad's)
media() {
  local am bm p
  am=$(media_of "$1") bm=$(media_of "$3")
  rtp "$1" "$2" "$am" &
  p=$!
  rtp "$3" "$4" "$bm"
  wait $p
}
# at_least VALUE MIN: VALUE (empty: 0) is a number >= MIN
at_least() { [ "${1:-0}" -ge "$2" ] 2>/dev/null; }
