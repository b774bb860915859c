/*
 * NAME
 *   core_local - sipd's own addresses and its sibling instances.
 * DESCRIPTION
 *   How sipd names itself to a peer (the local address of the socket that reaches it, for
 *   Via and Contact), the SipPeer of a source, the instance a branch of ours names
 *   (z9hG4bKsb<instance>x...), and handing a datagram to the instance that owns its
 *   transaction (SipForward). Bottom layer of the core, beside core_reply.
 * OWNERSHIP
 *   core_local_peer fills peer with pointers into ip (the caller's) and constants.
 * LOOP
 *   sipd's loop.
 * ERRORS
 *   A forward that cannot be sent is counted (sip_rx_dropped) and logged.
 */
#ifndef SB_SIPD_CORE_LOCAL_H
#define SB_SIPD_CORE_LOCAL_H

#include "core_int.h"

/* The SipPeer of src, its address text in ip. */
void core_local_peer(const struct core *c, const struct sipdest *src, Sb__SipPeer *peer, char *ip,
                     size_t iplen);
/* The sipd instance named in a branch of ours, or -1. */
int core_local_branch_owner(struct sipmsg_str b);
/* Hands buf (from src) to sipd instance owner (SipForward). */
void core_local_forward(struct core *c, int owner, const struct sipdest *src, const char *buf,
                        size_t len);
/* The UDP socket of ours for an address family, or -1. */
int core_local_udp_index(const struct core *c, int family);
/* How we name ourselves to a peer at to through socket i. */
void core_local_for(const struct core *c, int i, const union sipdest_addr *to,
                    enum sipdest_transport transport, struct sipconv_local *l);
/* Our name for the transport of responses sent to d. */
void core_local_of_dest(const struct core *c, const struct sipdest *d, struct sipconv_local *l);

#endif
