/*
 * NAME
 *   auth - routerd's digest authentication of SIP requests (RFC 3261 22, RFC 7616, RFC
 *   8760), subscribers' HA1 in Redis, nonce-count replay checks and fail2ban-style bans.
 * DESCRIPTION
 *   Serves AuthRequest envelopes (proto/auth.proto) from sipd, exactly one AuthReply
 *   each. Order, cheapest and least revealing first: a banned source (sb:ban:{ADDR}) gets
 *   403; a request without credentials for our realm, or with a nonce that is not ours
 *   for this source, or malformed ones, gets a challenge (a new nonce, no Redis write);
 *   then the subscriber's HA1 of the credentials' algorithm (sb:sub:{USER@REALM}) is
 *   read and the response compared. An unknown user is compared against a random HA1, so
 *   the answer to it is the wrong password's: a new challenge, and a failure counted
 *   against the source (auth_fail.lua: sip_auth_ban_failures within sip_auth_ban_window
 *   ban it for sip_auth_ban_time). A correct response with an expired nonce gets a
 *   challenge with stale=true; with a nonce-count not above the last one seen for that
 *   nonce (auth_nc.lua, sb:nc:{NONCE}, kept for twice the nonce lifetime) a new
 *   challenge. A correct one for a user other than the one the request speaks for
 *   (REGISTER To, INVITE From) gets 403; otherwise 200 with the user.
 *   The nonce secret is 32 random bytes created once in Redis (SET NX sb:auth:{secret})
 *   and read back, so every routerd of every node that shares Redis makes and accepts
 *   the same nonces; until it is read every request gets 503.
 * OWNERSHIP
 *   auth_t belongs to routerd's context; envelopes are borrowed for the call. auth_stop
 *   frees it once Redis has called back for everything it was sent.
 * LOOP
 *   routerd's loop.
 * ERRORS
 *   Nothing is returned: Redis down or slow is a 503 answer and a rate-limited warning.
 *   Never logs a password, an HA1 or the secret.
 * SEE ALSO
 *   lib/digest.h, procs/sipd/core_auth.h, docs/security.md
 */
#ifndef SB_ROUTERD_AUTH_H
#define SB_ROUTERD_AUTH_H

#include <stdbool.h>

#include "worker.h"

typedef struct auth auth_t;

/* NULL when out of memory or sip_auth_algorithms is bad (logged, naming main.cf). */
auth_t *auth_new(worker_t *w);
/* env's body is auth_request; env->request_id must be set. */
void auth_check(auth_t *a, ipc_chan_t *ch, const Sb__Envelope *env);
/* The Redis link went up (the secret is read) or down. */
void auth_redis_state(auth_t *a, bool up);
/* ch is closing: answers owed on it are dropped. */
void auth_peer_closed(auth_t *a, ipc_chan_t *ch);
/* Frees a once nothing is in flight in Redis. */
void auth_stop(auth_t *a);

#endif
