/*
 * NAME
 *   core_register - the REGISTER relay to routerd (RFC 3261 10.3).
 * DESCRIPTION
 *   core_register_relay reads a REGISTER (its AOR in canonical form, sipuri.h, and its
 *   contacts), refuses with 403 (its reason phrase says why) a Contact that may not be
 *   bound (contact_rule.h: this server, loopback, link-local, multicast unless allowed),
 *   asks a routerd (RegisterRequest, proto/sip.proto) and answers from its
 *   RegisterReply: 200 with one Contact per binding and Date, 423 with Min-Expires, 503
 *   with Retry-After; 503 when no routerd is connected or none answers within
 *   register_timeout. A 200 tells natping (keepalives) the AOR's bindings;
 *   core_register_unbind removes one that natping found gone. Above core_reply and
 *   natping; below core.c.
 * OWNERSHIP
 *   The transaction is referenced until routerd answers (or the request times out).
 * LOOP
 *   sipd's loop; routerd's replies arrive as IPC callbacks on it.
 * ERRORS
 *   A malformed REGISTER gets 400 with a Warning; routerd's faults a 503.
 */
#ifndef SB_SIPD_CORE_REGISTER_H
#define SB_SIPD_CORE_REGISTER_H

#include "core_int.h"
#include "natping.h"

/* Relays the REGISTER m (from src) in its transaction t. */
void core_register_relay(struct core *c, const sipmsg_t *m, const struct sipdest *src,
                         struct txn *t);

/* Removes a binding that stopped answering keepalives (natping_gone_fn): a REGISTER of
 * its Call-ID, the next CSeq and expires 0, to routerd. */
void core_register_unbind(struct core *c, const struct natping_gone *g);

#endif
