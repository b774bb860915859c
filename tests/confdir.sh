# Sourced by the integration tests (tests/integration/lib.sh) and the benches: free
# loopback ports, and a private CONFDIR made from conf/ on them.

# A port free for TCP and UDP on loopback.
free_port() {
  local p
  while :; do
    # SB_PORT_LO..SB_PORT_HI: the test runner gives its concurrent passes disjoint ranges,
    # both below the kernel's ephemeral ports (32768 up), which a connection may take at
    # any time; a port any socket holds is skipped
    p=$((${SB_PORT_LO:-20000} + RANDOM % (${SB_PORT_HI:-32699} - ${SB_PORT_LO:-20000} + 1)))
    [ -z "$(ss -Hantu "sport = :$p" 2>/dev/null)" ] && { echo "$p"; return; }
  done
}

# make_confdir DIR BIN_DIR: conf/ copied into DIR (traversable by the service user) with
# SIP and REST on free loopback ports, drain_timeout 2s, and the daemons of BIN_DIR.
# Sets SIP_PORT and API_PORT, and exports REDISCLI_AUTH (the embedded Redis's admin).
make_confdir() {
  local dir=$1 bin=$2 src
  src=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/conf
  mkdir -p "$dir"
  chmod 755 "$dir"
  cp "$src/master.cf" "$src/dialplan.json" "$dir/"
  mkdir -p "$dir/audio"
  cp "$src"/audio/*.wav "$dir/audio/"
  chmod -R a+rX "$dir/audio"
  SIP_PORT=$(free_port)
  API_PORT=$(free_port)
  sed -e "s/^sip_listen_udp = .*/sip_listen_udp = 127.0.0.1:$SIP_PORT/" \
      -e "s/^sip_listen_tcp = .*/sip_listen_tcp = 127.0.0.1:$SIP_PORT/" \
      -e "s/^api_listen = .*/api_listen = 127.0.0.1:$API_PORT/" \
      -e "s/^drain_timeout = .*/drain_timeout = 2s/" \
      -e "s/^sip_auth = .*/sip_auth = no/" \
      "$src/main.cf" >"$dir/main.cf"
  echo "daemon_directory = $bin" >>"$dir/main.cf"
  # digest authentication off: the tests that need it (auth.sh) set sip_auth = yes
  grep -q '^sip_auth = ' "$dir/main.cf" || echo "sip_auth = no" >>"$dir/main.cf"
  # the Redis admin password master would generate, made here so that redis-cli can use
  # it (REDISCLI_AUTH); one per shell, so every CONFDIR of a test shares it
  : "${SB_REDIS_ADMIN:=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')}"
  mkdir -p -m 700 "$dir/secrets"
  (umask 077 && echo "$SB_REDIS_ADMIN" >"$dir/secrets/redis-admin")
  export REDISCLI_AUTH=$SB_REDIS_ADMIN
}
