/*
 * NAME
 *   transport_udp - SIP over UDP on one socket (sipd).
 * DESCRIPTION
 *   Reads datagrams in batches (recvmmsg, up to UDP_BATCH per wake-up) into buffers
 *   allocated once, and hands each to on_message with its source. A datagram larger
 *   than max_message is dropped and counted (sip_rx_dropped). Sends are queued and
 *   leave in batches (sendmmsg) at the end of each loop turn, so one wake-up that
 *   answers many requests costs one system call each way; a full queue is flushed first.
 *   A socket bound to a wildcard address (0.0.0.0, [::]) reads each datagram's local
 *   address (IP_PKTINFO, IPV6_RECVPKTINFO) into the sipdest it passes, and a datagram
 *   sent with a local address leaves from it (IP_PKTINFO / IPV6_PKTINFO on sendmsg; the
 *   kernel chooses when that address is gone). Never parses SIP. A STUN datagram (an
 *   RFC 5626 4.4.2 keepalive) never reaches on_message: a Binding request is answered
 *   here (stun.h), anything else STUN is dropped and counted (sip_rx_dropped).
 * OWNERSHIP
 *   The socket owns its fd from udp_open on (closes it). The datagram passed to
 *   on_message is valid during the call only. udp_send copies what it queues.
 * LOOP
 *   The loop given to udp_open.
 * ERRORS
 *   udp_open: NULL when out of memory (fd then closed). udp_send: 0, or -EMSGSIZE for a
 *   message over the datagram limit. Send errors of the system are logged rate-limited:
 *   UDP is unreliable and transactions retransmit.
 */
#ifndef SB_SIPD_TRANSPORT_UDP_H
#define SB_SIPD_TRANSPORT_UDP_H

#include <stddef.h>
#include <sys/socket.h>
#include <uv.h>

#include "shm.h"
#include "sipdest.h"

#define UDP_BATCH 32
#define UDP_DATAGRAM_MAX 65507

/* A datagram arrived: src (borrowed) names this socket and the sender. */
typedef void (*udp_message_cb)(void *arg, const struct sipdest *src, const char *buf, size_t len);

struct udp_sock *udp_open(uv_loop_t *loop, int fd, size_t max_message, udp_message_cb on_message,
                          void *arg, struct shm_proc *slot);
/* Flushes what is queued and closes; memory is freed in the close callback. */
void udp_close(struct udp_sock *u);
/* Queues a datagram to addr, to leave from local (NULL or family 0: the kernel chooses;
 * ignored on a socket bound to one address). */
int udp_send(struct udp_sock *u, const struct sockaddr *addr, socklen_t addr_len,
             const union sipaddr *local, const char *buf, size_t len);
/* The address and port the socket is bound to, and whether that is a wildcard. */
const union sipaddr *udp_bound(const struct udp_sock *u);
bool udp_is_wildcard(const struct udp_sock *u);
/* Sends what is queued now. */
void udp_flush(struct udp_sock *u);
/* A new receive limit (reload); false when the buffers cannot grow (old limit kept). */
bool udp_set_max_message(struct udp_sock *u, size_t max_message);

#endif
