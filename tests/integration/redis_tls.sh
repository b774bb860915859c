#!/usr/bin/env bash
# An external Redis that only speaks TLS (its plain port off), reached through stunnel as a
# supervised master.cf exec service that verifies the server's certificate: the roles
# authenticate as their ACL users over it, and a stunnel that does not trust the server's
# certificate gets nobody through.
. "$(dirname "$0")/lib.sh"
command -v stunnel >/dev/null || { echo "ok - redis over TLS # SKIP no stunnel (make deps)"; exit 0; }
redis_up_all() {
  [ "$(api /api/v1/processes |
    jq '[.processes[] | select(.role=="routerd" or .role=="dialogd" or .role=="apid") | .counters.redis_up] | (length == 3 and min == 1)')" = true ]
}
new_confdir redis-tls
T=$CONF/tls
mkdir -p "$T"
# a CA, the server's certificate for 127.0.0.1 signed by it, and another CA
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=test-ca -keyout "$T/ca.key" \
  -out "$T/ca.pem" >/dev/null 2>&1
openssl req -newkey rsa:2048 -nodes -subj /CN=redis -keyout "$T/redis.key" -out "$T/redis.csr" \
  >/dev/null 2>&1
printf 'subjectAltName=IP:127.0.0.1\n' >"$T/ext"
openssl x509 -req -in "$T/redis.csr" -CA "$T/ca.pem" -CAkey "$T/ca.key" -CAcreateserial -days 2 \
  -extfile "$T/ext" -out "$T/redis.pem" >/dev/null 2>&1
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=other-ca -keyout "$T/other.key" \
  -out "$T/other.pem" >/dev/null 2>&1
chmod -R a+rX "$T"

tport=$(free_port)
lport=$(free_port)
sb redis-acl >"$SB_OUT/tls.acl" || not_ok "switchboard redis-acl"
echo "user default on >$SB_REDIS_ADMIN ~* &* +@all" >>"$SB_OUT/tls.acl"
redis-server --port 0 --tls-port "$tport" --bind 127.0.0.1 --tls-cert-file "$T/redis.pem" \
  --tls-key-file "$T/redis.key" --tls-ca-cert-file "$T/ca.pem" --tls-auth-clients no \
  --save "" --appendonly no --loglevel warning --aclfile "$SB_OUT/tls.acl" \
  >"$SB_OUT/redis-tls.log" 2>&1 &
EXTRA_PIDS=$!
rtls() { redis-cli --tls --cacert "$T/ca.pem" -h 127.0.0.1 -p "$tport" "$@" 2>/dev/null; }
wait_until 5 '[ "$(rtls ping)" = PONG ]' || diag "the TLS redis did not come up"

# stunnel: accepts plain on lport, connects with TLS to the Redis, verifies it (CAfile, IP)
cat >"$CONF/stunnel.conf" <<EOF
foreground = yes
pid =
[redis]
client = yes
accept = 127.0.0.1:$lport
connect = 127.0.0.1:$tport
CAfile = $T/ca.pem
verifyChain = yes
checkIP = 127.0.0.1
EOF
chmod a+r "$CONF/stunnel.conf"
sed -i '/^redis /,/^[^ ]/{/^redis /d;/^[ \t]/d}' "$CONF/master.cf"
echo "stunnel    exec  -       -       n       -       1       stunnel $CONF/stunnel.conf" \
  >>"$CONF/master.cf"
set_param redis_address "127.0.0.1:$lport"
sb start >/dev/null || not_ok "start with a TLS redis behind stunnel"
check "the Redis users reach the TLS-only Redis through stunnel" wait_until 10 redis_up_all
check "each as its own ACL user" bash -c "[ \"\$(redis-cli --tls --cacert '$T/ca.pem' -h 127.0.0.1 -p $tport client list 2>/dev/null | grep -oE 'user=sb-[a-z]+' | sort -u | xargs)\" = 'user=sb-apid user=sb-dialogd user=sb-routerd' ]"
check_eq "health is ok" "200 ok" "$(api_code /api/v1/health) $(api /api/v1/health | jq -r .status)"
sb stop >/dev/null

# the same with a stunnel that trusts another CA: the TLS handshake fails, nobody is up
sed -i "s|^CAfile = .*|CAfile = $T/other.pem|" "$CONF/stunnel.conf"
sb start >/dev/null 2>&1
sleep 2
check_eq "a stunnel that does not trust the server's certificate gets no role through" \
  "false" "$(api /api/v1/processes | jq '[.processes[] | select(.role=="routerd") | .counters.redis_up] | min == 1')"
check "and health says Redis is down" [ "$(api /api/v1/health | jq -r .redis)" = down ]
sb stop >/dev/null 2>&1
finish
