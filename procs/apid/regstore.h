/*
 * NAME
 *   regstore - apid's reads and writes of the location service in Redis.
 * DESCRIPTION
 *   Lists the registrations (SCAN over sb:reg:* then one HGETALL per AOR, pipelined; at
 *   most API_MAX_AORS AORs), removes an AOR or one binding (one Lua script: both keys
 *   atomically, and a registration.removed event published on sb:events per binding),
 *   and counts the live bindings in the background (SCAN over sb:regexp:* and ZCOUNT,
 *   every second, or less often when a walk is slow: Redis spends at most 1/20 of its
 *   time on it). Listing requests that come while a walk is under way share it. A request
 *   Redis has not answered within 2 s gets a 503; the late reply then only frees. The key
 *   layout is routerd's (docs/registrar.md); regstore never writes what routerd reads
 *   except by deleting.
 * OWNERSHIP
 *   regstore_t borrows the Redis link (the worker's; it outlives the store until
 *   worker stop, and closing it gives every pending reply NULL). regstore_free detaches
 *   the work in flight, which frees itself when its replies come.
 * LOOP
 *   apid's loop: the Redis link's and the HTTP server's.
 * ERRORS
 *   Answered to the HTTP call: 503 (Redis down, failed or silent), 404 (nothing to
 *   remove), 500 (out of memory). Unexpected replies are logged rate-limited.
 * SEE ALSO
 *   api_records.h, http.h, redis.h, docs/api.md
 */
#ifndef SB_REGSTORE_H
#define SB_REGSTORE_H

#include <stdint.h>

#include "http.h"
#include "redis.h"

typedef struct regstore regstore_t;

/* NULL when out of memory. */
regstore_t *regstore_new(rds_t *redis);
void regstore_free(regstore_t *rs);

/* Fills resp for GET /api/v1/registrations: deferred (the answer follows from Redis), or
 * at once with a 503/500. call is the request's (http.h). */
void regstore_list(regstore_t *rs, http_call_t *call, struct http_response *resp);
/* Fills resp for DELETE of aor (taken: freed here) or of its contact (borrowed; NULL:
 * every binding); node_id goes into the events published. */
void regstore_unregister(regstore_t *rs, char *aor, const char *contact, const char *node_id,
                         http_call_t *call, struct http_response *resp);
/* Every tick of apid's timer: 503s for requests Redis left unanswered, the count walk. */
void regstore_tick(regstore_t *rs, int64_t now_mono_ms);
/* Live bindings at the last count, or -1 when not known (no count yet, Redis down). */
int64_t regstore_count(const regstore_t *rs);

#endif
