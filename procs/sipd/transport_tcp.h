/*
 * NAME
 *   transport_tcp - SIP over TCP: listeners, connections, stream framing (sipd).
 * DESCRIPTION
 *   Accepts on the listening sockets master passed (shared by every sipd instance: the
 *   one that accepts a connection serves it), up to max_connections per instance and
 *   max_per_source from one source address per instance (more are accepted and closed
 *   at once, counted sip_tcp_refused). A connection's bytes are framed into messages by
 *   Content-Length (RFC 3261 18.3, sipmsg_frame); CRLF keep-alives between messages are
 *   skipped and a double CRLF is answered with one (RFC 5626 4.4.1). A message without a
 *   valid Content-Length is handed over as its header section only (so the core can
 *   answer 400) and the connection is closed once that answer is written; a message
 *   over max_message closes the connection (counted sip_rx_dropped). A connection idle
 *   for idle_ms is closed. Responses go back on the same connection. Requests of ours go
 *   on an open connection to their destination or on a new one (tcp_connect), served the
 *   same way once up, bound first to a given local address when one is asked for. Every
 *   connection has an id unique in the instance (tcp_conn_id, never 0) and knows its
 *   local address (getsockname). Listeners passed as TLS ones (the last ntls of tcp_open)
 *   run every accepted connection through a TLS server session (transport_tls.h) with
 *   the certificate of tcp_set_tls: the framing, flows and ids are the same, a message
 *   names transport SIPDEST_TLS, and bytes that are not TLS (or a failed handshake)
 *   close the connection. tcp_connect with a host dials TLS, verifying the peer with the
 *   client context. Never parses SIP beyond the framing.
 * OWNERSHIP
 *   The server owns the listening fds and its connections. A connection lives while it
 *   is open or referenced (tcp_conn_ref, taken by transactions through sipdest_hold);
 *   after it closed, tcp_send on it fails with -EPIPE. The message passed to on_message
 *   is valid during the call only.
 * LOOP
 *   The loop given to tcp_open.
 * ERRORS
 *   tcp_open: NULL when out of memory or a descriptor is not a TCP listener (logged).
 *   tcp_send: 0, -EPIPE (closed), -ENOMEM. Faults are logged rate-limited.
 */
#ifndef SB_SIPD_TRANSPORT_TCP_H
#define SB_SIPD_TRANSPORT_TCP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "shm.h"
#include "sipdest.h"

#define TCP_MAX_LISTENERS 8

struct tcp_limits {
    size_t max_message;
    uint64_t idle_ms;
    size_t max_connections;
    size_t max_per_source; /* accepted connections from one address; 0: no cap */
};

/* A message arrived: src (borrowed) names the connection and the peer. */
typedef void (*tcp_message_cb)(void *arg, const struct sipdest *src, const char *buf, size_t len);

struct tls_ctx;

/* fds: nfds listening sockets, the last ntls of them TLS listeners. */
struct tcp_server *tcp_open(uv_loop_t *loop, const int *fds, int nfds, int ntls,
                            const struct tcp_limits *limits, tcp_message_cb on_message, void *arg,
                            struct shm_proc *slot);
void tcp_set_limits(struct tcp_server *s, const struct tcp_limits *limits);
/* The TLS contexts for new connections (taken; NULL: none; the old ones are freed, the
 * connections made with them keep working): server for the TLS listeners, client for
 * tcp_connect with a host. */
void tcp_set_tls(struct tcp_server *s, struct tls_ctx *server, struct tls_ctx *client);
/* Closes the listeners; open connections keep being served (drain). */
void tcp_stop_accepting(struct tcp_server *s);
/* Closes listeners and connections; memory goes in the close callbacks. */
void tcp_close(struct tcp_server *s);
size_t tcp_connection_count(const struct tcp_server *s);

int tcp_send(struct tcp_conn *c, const char *buf, size_t len);
/* The open connection (TLS or not, as tls says) whose peer is peer (to send a request on
 * it), or NULL. Borrowed. */
struct tcp_conn *tcp_find(struct tcp_server *s, const union sipaddr *peer, bool tls);
bool tcp_conn_is_tls(const struct tcp_conn *c);
/* The open connection of id, or NULL. Borrowed. */
struct tcp_conn *tcp_find_id(struct tcp_server *s, uint64_t id);
/* A connection's id (0 for NULL) and its local address (family 0 when unknown). */
uint64_t tcp_conn_id(const struct tcp_conn *c);
const union sipaddr *tcp_conn_local(const struct tcp_conn *c);
const union sipaddr *tcp_conn_peer(const struct tcp_conn *c);
/* A new connection of ours to peer (RFC 3261 18.1.1), from an ephemeral port of from's
 * address when from is given (NULL, family 0 or a wildcard: the kernel chooses); what is
 * sent before it is up waits for it; a failed connect closes it (its transactions time
 * out). With tls_host, a TLS connection whose certificate must verify for tls_host (a
 * failed verification closes it). NULL when out of memory, at max_connections, when from
 * cannot be bound or when TLS is asked without a client context. Borrowed like an
 * accepted one: hold a reference to keep it. */
struct tcp_conn *tcp_connect(struct tcp_server *s, const union sipaddr *peer, socklen_t peer_len,
                             const union sipaddr *from, const char *tls_host);
void tcp_conn_ref(struct tcp_conn *c);
void tcp_conn_unref(struct tcp_conn *c);

#endif
