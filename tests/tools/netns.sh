# Miniature networks for the integration tests that need more than loopback (nat.sh,
# multihome.sh): network namespaces joined by veth pairs, routers that masquerade with
# nftables, and the Switchboard cluster run inside one of them. Sourced after
# tests/integration/lib.sh. Every namespace is named after the test's PID (parallel runs
# do not collide) and removed at exit with the processes running in it; interfaces are
# created inside their namespaces, never in the host's.

NS_LIST=""
NS_PREFIX="sb$$"

# netns_require: prints "ok # SKIP REASON" and exits when not root or when network
# namespaces cannot be made here.
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
  local t
  for t in nft sipp; do
    command -v "$t" >/dev/null || { echo "ok # SKIP $t is not installed (make deps)"; exit 0; }
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
# port never shows outside), as a home router under port pressure does.
ns_masquerade() {
  in_ns "$1" sysctl -qw net.ipv4.ip_forward=1 || return 1
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
api() { in_ns "$NODE_NS" curl -s --max-time 5 "http://127.0.0.1:$API_PORT$1"; }
api_code() { in_ns "$NODE_NS" curl -s -o /dev/null -w '%{http_code}' --max-time 5 "http://127.0.0.1:$API_PORT$1"; }
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
