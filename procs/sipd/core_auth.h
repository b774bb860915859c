/*
 * NAME
 *   core_auth - digest authentication of out-of-dialog requests in sipd (RFC 3261 22).
 * DESCRIPTION
 *   With sip_auth on, a REGISTER and an INVITE without a To tag from a source outside
 *   sip_trusted_peers are held in their server transaction while routerd judges them
 *   (AuthRequest, proto/auth.proto, with the Authorization or Proxy-Authorization fields
 *   parsed here): the REGISTER's To user and the INVITE's From user are the identity the
 *   credentials must prove. routerd's answer is sent as is: 401 with WWW-Authenticate
 *   (REGISTER), 407 with Proxy-Authenticate (INVITE), one header per offered algorithm
 *   in routerd's order, qop="auth", stale=true when only the nonce was old; 403; 503
 *   when routerd does not answer in register_timeout. Only an accepted request goes on,
 *   parsed again from a copy of its bytes, to the registrar (core_register) or dialogd
 *   (core_dialog): an unauthenticated one never costs a Redis write, a media port or a
 *   message to anyone but its sender. A REGISTER for a domain that is not ours gets 403
 *   before any of this. When routerd answers that a source is banned, sipd remembers it
 *   for at most CORE_AUTH_BAN_CACHE_MS (and not past the ban's end) and drops every
 *   message from it unread meanwhile: a banned flood costs one routerd question per
 *   period, not one per packet.
 *   Above core_register and core_dialog; below core.c.
 * OWNERSHIP
 *   A held request's bytes and source are copied (the TCP connection referenced) until
 *   routerd answers or the transaction ends.
 * LOOP
 *   sipd's loop.
 * ERRORS
 *   Every fault is an answer on the wire (403, 500, 503) and a rate-limited warning.
 */
#ifndef SB_SIPD_CORE_AUTH_H
#define SB_SIPD_CORE_AUTH_H

#include "core_int.h"

#define CORE_AUTH_BANS 256          /* banned sources remembered (a hash table) */
#define CORE_AUTH_BAN_CACHE_MS 2000 /* how long, at most: a lifted ban reaches sipd then */

/* Whether m (a REGISTER, or an INVITE without To tag) from src must be authenticated
 * first: sip_auth is on and src is not a trusted peer. */
bool core_auth_needed(const struct core *c, const sipmsg_t *m, const struct sipdest *src);
/* Whether routerd said src is banned less than CORE_AUTH_BAN_CACHE_MS ago (and the ban
 * lasts): its messages are then dropped unread. */
bool core_auth_banned(struct core *c, const struct sipdest *src);
/* Frees what core_auth keeps in c (the banned sources). */
void core_auth_free(struct core *c);
/* Holds m in t and asks routerd; it goes on (core_register_relay, core_dialog_request_in)
 * once routerd accepts it, or t is answered. */
void core_auth_start(struct core *c, const sipmsg_t *m, const struct sipdest *src, struct txn *t);

#endif
