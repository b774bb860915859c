/*
 * NAME
 *   core_local - sipd's own addresses and its sibling instances.
 * DESCRIPTION
 *   Where what we send leaves from and how sipd names itself there: the local address of
 *   a dest (the one the peer sent to; for a new destination the bound address of the
 *   socket, or on a wildcard socket the one the routing table picks), written in Via and
 *   Contact as sip_advertise says (lib/advertise.h). The SipPeer of a source (its local
 *   end, TCP connection id and NAT flag, sipnat.h), the instance a branch of ours names
 *   (z9hG4bKsb<instance>x...), and handing a datagram to the instance that owns its
 *   transaction (SipForward). Bottom layer of the core, beside core_reply.
 * OWNERSHIP
 *   core_local_peer fills peer with pointers into txt (the caller's) and constants.
 * LOOP
 *   sipd's loop.
 * ERRORS
 *   A forward that cannot be sent is counted (sip_rx_dropped) and logged.
 */
#ifndef SB_SIPD_CORE_LOCAL_H
#define SB_SIPD_CORE_LOCAL_H

#include "core_int.h"

/* Text a SipPeer points into. */
struct core_peer_text {
    char ip[64], local[64];
};

/* The SipPeer of src (nated from m's headers when m is given: sipnat_detect). */
void core_local_peer(const struct core *c, const struct sipdest *src, const sipmsg_t *m,
                     Sb__SipPeer *peer, struct core_peer_text *txt);
/* The sipd instance named in a branch of ours, or -1. */
int core_local_branch_owner(struct sipmsg_str b);
/* Hands buf (from src) to sipd instance owner (SipForward). */
void core_local_forward(struct core *c, int owner, const struct sipdest *src, const char *buf,
                        size_t len);
/* The UDP socket to send from local (family 0: any) to a peer of family: one bound to
 * local, else a wildcard one of local's port, else any of the family; -1 when none. */
int core_local_udp_pick(const struct core *c, int family, const union sipaddr *local);
/* Sets d->local when it is unknown: the socket's bound address, the routing table's
 * choice on a wildcard socket, the connection's own for TCP. */
void core_local_source(const struct core *c, struct sipdest *d);
/* How we name ourselves (Via sent-by, Contact) on d for transport: d->local, or what
 * sip_advertise gives for it; TCP names our listening port. */
void core_local_name(const struct core *c, const struct sipdest *d,
                     enum sipdest_transport transport, struct sipconv_local *l);
/* Whether host:port (host NUL-terminated, IPv6 without brackets; port 0: 5060) names
 * us: a name or address sip_advertise gives out at that port, or an address of ours at a
 * port we listen on (a wildcard socket's: any address of this host's interfaces, the
 * loopback range included). Reads the interfaces (getifaddrs) only when the port is one
 * of ours and a socket is a wildcard one. */
bool core_local_is_us(const struct core *c, const char *host, int port);
/* Whether via (a via-parm of a request) is one we wrote: a branch of ours
 * (z9hG4bKsb<instance>x...) and a sent-by that names us (RFC 3261 16.3 item 4: the request
 * has come back to us). */
bool core_local_via_is_ours(const struct core *c, const struct sipmsg_via *via);

#endif
