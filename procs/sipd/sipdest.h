/*
 * NAME
 *   sipdest - where a SIP message came from and where its responses go (sipd).
 * DESCRIPTION
 *   A sipdest names a transport (a UDP socket of ours, or a TCP or TLS connection) and a peer
 *   address. Transports fill one for every message they receive; the core turns it into
 *   the destination of the responses (RFC 3261 18.2.2, RFC 3581) and transactions keep
 *   a copy. It also names our own end: the local address the peer sent to (UDP: from
 *   IP_PKTINFO / IPV6_PKTINFO, so a socket bound to a wildcard answers from the address
 *   that was asked; TCP: the connection's) and everything sent to the dest leaves from
 *   it. sipdest_send hands bytes to the right transport. Never parses SIP.
 * OWNERSHIP
 *   A sipdest that names a TCP connection holds a reference on it once sipdest_hold
 *   is called on it; sipdest_release drops it. The one a transport passes with a
 *   received message is borrowed: hold a copy to keep it.
 * LOOP
 *   sipd's loop.
 * ERRORS
 *   sipdest_send: 0 or negative errno from the transport (-EPIPE: the connection is gone).
 */
#ifndef SB_SIPD_SIPDEST_H
#define SB_SIPD_SIPDEST_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include "sipaddr.h"

struct udp_sock;
struct tcp_conn;

enum sipdest_transport { SIPDEST_NONE = 0, SIPDEST_UDP, SIPDEST_TCP, SIPDEST_TLS };

struct sipdest {
    enum sipdest_transport transport;
    struct udp_sock *udp; /* SIPDEST_UDP: the socket the request came in on */
    struct tcp_conn *tcp; /* SIPDEST_TCP, SIPDEST_TLS: the connection */
    union sipaddr addr;   /* the peer: source of a request, or where to answer */
    socklen_t addr_len;
    /* our end: the address the peer sent to, or the one to send from (family 0: let the
     * kernel choose). An IPv6 link-local one carries its interface in sin6_scope_id. */
    union sipaddr local;
};

/* Takes a reference on the connection of a TCP dest (nothing for UDP). */
void sipdest_hold(struct sipdest *d);
/* Drops what sipdest_hold took; d becomes SIPDEST_NONE. */
void sipdest_release(struct sipdest *d);
/* Sends len bytes to d (UDP: one datagram; TCP: on the connection). */
int sipdest_send(const struct sipdest *d, const char *buf, size_t len);
/* "udp" / "tcp" / "tls" */
const char *sipdest_transport_name(enum sipdest_transport t);
/* TCP or TLS: a stream on a tcp_conn (reliable, framed by Content-Length). */
static inline bool sipdest_is_stream(enum sipdest_transport t) {
    return t == SIPDEST_TCP || t == SIPDEST_TLS;
}
#endif
