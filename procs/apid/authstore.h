/*
 * NAME
 *   authstore - apid's reads and writes of digest authentication's data in Redis:
 *   subscribers (sb:sub:{USER@REALM}) and bans (sb:ban:{ADDR}, sb:authfail:{ADDR}).
 * DESCRIPTION
 *   Runs one api_auth_op (api_auth.h) and answers its deferred HTTP call from the Redis
 *   reply: lists walk the keys with SCAN inside one Lua script (at most
 *   AUTHSTORE_MAX_LIST entries, "truncated": true past that), a subscriber is written
 *   with HSET (its two HA1 hashes, never a password) and read without them, a ban is
 *   lifted by deleting its key and its failure count. The key layout is routerd's
 *   (lib/keys.h, procs/routerd/auth.h).
 * OWNERSHIP
 *   Borrows the worker's Redis link; a request whose client went away is answered into
 *   the void (its on_close marks it). authstore_free detaches requests in flight.
 * LOOP
 *   apid's loop.
 * ERRORS
 *   503 (Redis down or failed), 404 (no such subscriber or ban), 500 (out of memory).
 */
#ifndef SB_AUTHSTORE_H
#define SB_AUTHSTORE_H

#include "api_auth.h"
#include "http.h"
#include "redis.h"

#define AUTHSTORE_MAX_LIST 10000

typedef struct authstore authstore_t;

authstore_t *authstore_new(rds_t *redis);
void authstore_free(authstore_t *as);
/* Defers resp and answers call once Redis has; op is borrowed for the call. */
void authstore_run(authstore_t *as, const struct api_auth_op *op, http_call_t *call,
                   struct http_response *resp);

#endif
