/*
 * NAME
 *   cfg_params - the table of every main.cf parameter (an X-macro).
 * DESCRIPTION
 *   One line per parameter: name, type, default, description. The table generates the
 *   parameter enum (CFG_<name>), the parser's validation, `switchboard check` and
 *   docs/configuration.md (tests/unit/cfg_test.c checks the doc lists every row).
 *   Defaults may use $name expansion; they are expanded like values from the file.
 *   Adding a parameter is adding one line here and its row in the doc.
 * SEE ALSO
 *   cfg.h
 */
#ifndef SB_CFG_PARAMS_H
#define SB_CFG_PARAMS_H

/* X(name, type, default, description) */
#define CFG_PARAMS(X)                                                                      \
    X(config_directory, CFG_T_STR, "",                                                     \
      "Directory holding main.cf, master.cf and dialplan.json; set by -c, not by main.cf") \
    X(run_directory, CFG_T_STR, "$config_directory/run",                                   \
      "Runtime directory: pid file, log, private/ and public/ IPC sockets")                \
    X(daemon_directory, CFG_T_STR, "",                                                     \
      "Where master finds worker programs; empty means the directory of master itself")    \
    X(service_user, CFG_T_STR, "switchboard",                                              \
      "Unprivileged user for workers whose unpriv column is y (when master runs as root)") \
    X(node_id, CFG_T_STR, "node1", "Name of this node in an HA pair and in Redis keys")    \
    X(log_level, CFG_T_LEVEL, "info", "Lowest level logged: debug, info, warn, error")     \
    X(log_file, CFG_T_STR, "$run_directory/switchboard.log",                               \
      "Log file when master runs in the background (foreground logs to stderr)")           \
    X(sip_listen_udp, CFG_T_ADDR_LIST, "0.0.0.0:5060",                                     \
      "SIP UDP listen addresses (host:port, [v6]:port), space or comma separated")         \
    X(sip_listen_tcp, CFG_T_ADDR_LIST, "0.0.0.0:5060", "SIP TCP listen addresses")         \
    X(api_listen, CFG_T_ADDR_LIST, "127.0.0.1:8080", "REST API and dashboard listen address") \
    X(rtp_port_range, CFG_T_PORT_RANGE, "10000-20000",                                     \
      "RTP/RTCP port range shared by all mediad instances (even RTP, odd RTCP)")           \
    X(redis_address, CFG_T_STR, "unix:$run_directory/private/redis.sock",                  \
      "Redis server: unix:/path or host:port")                                             \
    X(redis_acl, CFG_T_BOOL, "yes",                                                        \
      "Each role authenticates to Redis as its own ACL user (sb-ROLE), limited to its keys") \
    X(secret_directory, CFG_T_STR, "$config_directory/secrets",                            \
      "Root-only directory of generated secrets: the Redis passwords (redis-ROLE)")        \
    X(worker_seccomp, CFG_T_BOOL, "yes",                                                   \
      "sipd and apid run under a seccomp allow-list of system calls after start-up")       \
    X(audio_path, CFG_T_STR, "$config_directory/audio", "Directory of audio files for play_audio") \
    X(dialplan_path, CFG_T_STR, "$config_directory/dialplan.json", "The dialplan file")    \
    X(dialplan_gateways, CFG_T_STR, "",                                                    \
      "Trunks for dial targets gateway/NAME: NAME=sip:host[:port] ..., space separated")  \
    X(start_timeout, CFG_T_TIME, "15s",                                                    \
      "How long switchboard start waits for every process to be ready to serve")          \
    X(drain_timeout, CFG_T_TIME, "5s",                                                     \
      "How long a stopping or retired worker may drain before it is killed")               \
    X(heartbeat_interval, CFG_T_TIME, "1s",                                                \
      "How often each worker stamps its heartbeat and counters in shm")                    \
    X(worker_hang_timeout, CFG_T_TIME, "15s",                                              \
      "A ready worker whose heartbeat is older than this is killed and respawned")         \
    X(service_throttle_time, CFG_T_TIME, "60s",                                            \
      "Longest wait before respawning a service that keeps dying at start")                \
    X(ipc_max_message, CFG_T_INT, "65536", "Largest IPC envelope in bytes (64..1048576)")   \
    X(sip_t1, CFG_T_TIME, "500ms", "RFC 3261 T1: round-trip estimate, base of timers A-J")   \
    X(sip_t2, CFG_T_TIME, "4s", "RFC 3261 T2: longest retransmit interval (non-INVITE, 2xx)") \
    X(sip_t4, CFG_T_TIME, "5s", "RFC 3261 T4: longest time a message stays in the network")   \
    X(sip_max_message, CFG_T_INT, "65535",                                                 \
      "Largest SIP message accepted, in bytes (UDP datagram or TCP message)")              \
    X(sip_tcp_idle_timeout, CFG_T_TIME, "120s", "A TCP connection idle this long is closed") \
    X(sip_tcp_max_connections, CFG_T_INT, "4096", "Most TCP connections per sipd instance")  \
    X(sip_domains, CFG_T_HOST_LIST, "",                                                          \
      "Names and addresses that are this node's SIP domain, space separated; the first names it") \
    X(sip_auto_aliases, CFG_T_BOOL, "yes",                                                 \
      "Every local address of the node is one of its SIP domain's names (Kamailio auto_aliases)") \
    X(sip_advertise, CFG_T_STR, "",                                                        \
      "Addresses put in Via and Contact instead of the local one: [LOCAL!]PUBLIC[:port] ...") \
    X(nat_keepalive_interval, CFG_T_TIME, "30s",                                           \
      "How often a binding registered from behind NAT over UDP gets an OPTIONS; 0: never") \
    X(nat_keepalive_misses, CFG_T_INT, "3",                                                \
      "Keepalives in a row without an answer after which such a binding is removed (1..100)") \
    X(sip_server_name, CFG_T_STR, "Switchboard", "Server header of our responses")        \
    X(register_default_expires, CFG_T_INT, "3600",                                         \
      "Expiry of a binding whose REGISTER gives none, seconds")                            \
    X(register_min_expires, CFG_T_INT, "60",                                               \
      "Shortest expiry accepted; below it the answer is 423 with Min-Expires")             \
    X(register_max_expires, CFG_T_INT, "7200", "Longest expiry granted; longer is cut")    \
    X(register_timeout, CFG_T_TIME, "2s",                                                  \
      "How long sipd waits for routerd (and routerd for Redis) before answering 503") \
    /* SIP digest authentication, trusted peers and bans (docs/security.md) */              \
    X(sip_auth, CFG_T_BOOL, "yes",                                                         \
      "Challenge REGISTER (401) and out-of-dialog INVITE (407) with digest authentication") \
    X(sip_auth_algorithms, CFG_T_STR, "SHA-256 MD5",                                       \
      "Digest algorithms offered in each challenge, in order: SHA-256, MD5")              \
    X(sip_auth_nonce_ttl, CFG_T_TIME, "300s",                                              \
      "How long a nonce is good; a correct answer with an older one gets stale=true")     \
    X(sip_trusted_peers, CFG_T_STR, "",                                                    \
      "Addresses and CIDR ranges whose requests skip authentication (gateways, trunks)")  \
    X(sip_auth_ban_failures, CFG_T_INT, "10",                                              \
      "Failed authentications from one address within sip_auth_ban_window that ban it; 0: never") \
    X(sip_auth_ban_window, CFG_T_TIME, "60s", "Window in which failed authentications are counted") \
    X(sip_auth_ban_time, CFG_T_TIME, "600s", "How long a banned address stays banned")      \
    X(media_address, CFG_T_STR, "",                                                        \
      "Media interfaces [NAME/]LOCAL[!PUBLIC] (IPv4/IPv6); empty: each call's signaling address")          \
    X(media_timeout, CFG_T_TIME, "60s",                                                    \
      "No RTP from either side of a confirmed call for this long: a timeout event")       \
    X(media_latch_any, CFG_T_BOOL, "no",                                                   \
      "Latch RTP from any source address, not only the IP that signaling announced") \
    /* closed media relay: media targets mediad refuses unless listed */                \
    X(media_allow_targets, CFG_T_STR, "",                                                  \
      "CIDRs mediad may send media to though loopback, link-local, multicast or its own") \
    X(session_min_se, CFG_T_INT, "90",                                                     \
      "Shortest session timer interval (RFC 4028 Min-SE) a caller may ask, seconds; below: 422") \
    X(api_token, CFG_T_STR, "",                                                            \
      "Bearer token the API, events and metrics require (not health); empty: api_token_file's") \
    X(api_events_keepalive, CFG_T_TIME, "15s",                                             \
      "How often an idle event stream (GET /api/v1/events) gets a keep-alive comment")   \
    X(api_peers, CFG_T_STR, "",                                                            \
      "Base URLs of the other nodes' apid (http://host:port), space separated: GET /api/v1/nodes") \
    /* Limits: flood and resource caps (docs/security.md, "Limits") */                      \
    X(sip_pike_window, CFG_T_TIME, "1s",                                                   \
      "Sampling window of the per-source request rates (100ms..60s)")                      \
    X(sip_pike_requests, CFG_T_INT, "2000",                                                \
      "New requests per sip_pike_window from one source before it is blocked; 0: no limit") \
    X(sip_pike_calls, CFG_T_INT, "500",                                                    \
      "New INVITEs per sip_pike_window from one source before it is blocked; 0: no limit") \
    X(sip_pike_block_time, CFG_T_TIME, "60s",                                              \
      "How long a source over a rate stays blocked after its rate falls back (1s..1h)")    \
    X(sip_pike_exempt, CFG_T_STR, "",                                                      \
      "Sources never rate limited: addresses and ADDR/BITS ranges, space separated")       \
    X(sip_max_transactions, CFG_T_INT, "500000",                                           \
      "Most server transactions per sipd instance; past it new requests get 503; 0: no limit") \
    X(sip_tcp_max_per_source, CFG_T_INT, "256",                                            \
      "Most TCP connections one source address may hold to one sipd instance; 0: no limit") \
    X(calls_max_per_source, CFG_T_INT, "0",                                                \
      "Most calls in progress whose INVITE came from one source address, per dialogd; 0: no cap") \
    X(calls_max_per_user, CFG_T_INT, "0",                                                  \
      "Most calls in progress from one caller (From URI), per dialogd; 0: no cap")        \
    X(register_max_contacts, CFG_T_INT, "10",                                              \
      "Most bindings per AOR; a REGISTER that would add past it gets 503; 0: no limit")   \
    X(redis_maxmemory, CFG_T_STR, "256mb",                                                 \
      "maxmemory of the embedded Redis (master.cf passes it; policy noeviction)")          \
    /* admin API security: token file, insecure loopback mode, Host allowlist, streams */  \
    X(api_token_file, CFG_T_STR, "$config_directory/api.token",                            \
      "File of the API token (mode 0600), made by master at first start; api_token overrides") \
    X(api_insecure, CFG_T_BOOL, "no",                                                      \
      "Serve the API without a token; allowed only when every api_listen address is loopback") \
    X(api_allowed_hosts, CFG_T_HOST_LIST, "",                                              \
      "More names the API answers to in the Host header (besides the node's own addresses)") \
    X(api_tls_cert, CFG_T_STR, "",                                                         \
      "PEM certificate chain apid serves HTTPS with (read as root at start); empty: HTTP")  \
    X(api_tls_key, CFG_T_STR, "", "PEM private key of api_tls_cert (read as root at start)")  \
    X(api_connections_per_client, CFG_T_INT, "64",                                         \
      "Most connections to apid one client address may hold at once (0: no limit)")       \
    X(api_events_per_client, CFG_T_INT, "32",                                              \
      "Most event streams (GET /api/v1/events) open at once from one client address; past it 429") \
    /* guard: dialed numbers for gateways, where registrations may point */                  \
    X(dialplan_gateway_numbers, CFG_T_STR, "^[+0-9*#]{1,32}$$",                            \
      "POSIX extended regex a dialed number must match to go to a gateway/NAME; else 484") \
    X(register_contact_allow, CFG_T_STR, "",                                               \
      "Addresses or CIDR ranges a Contact may name though they are ours, loopback or link-local") \
    /* SIP over TLS: listener, certificate and key, CA store for our client connections */ \
    X(sip_listen_tls, CFG_T_ADDR_LIST, "", "SIP TLS listen addresses; empty: no TLS listener") \
    X(sip_tls_cert, CFG_T_STR, "", "PEM certificate chain sipd serves TLS with")          \
    X(sip_tls_key, CFG_T_STR, "", "PEM private key of sip_tls_cert")                      \
    X(sip_tls_ca, CFG_T_STR, "", "PEM CA file our TLS connections verify peers with; empty: system store")

#endif
