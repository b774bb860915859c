/*
 * NAME
 *   events - apid's event stream: Server-Sent Events to every client of
 *   GET /api/v1/events, fed by the Redis channel sb:events and by a watch of the process
 *   table.
 * DESCRIPTION
 *   A second Redis connection SUBSCRIBEs sb:events (a subscribed connection runs no other
 *   command) and relays each message that is an event (api_sse_from_message); events_tick
 *   compares the process table with what it saw last (api_proc_changes: process.died,
 *   process.respawned) and sends a keep-alive comment when one is due; apid's own events
 *   (a drain's progress) come through events_publish. Each event is
 *   encoded once and queued on every client; a client whose queue is full (http.h) is
 *   dropped and counted (http_sse_dropped), so no client can hold apid up. Event ids
 *   count from 1 per process.
 * OWNERSHIP
 *   events_t owns its Redis connection and its client records; the clients' HTTP calls
 *   belong to the HTTP server, which tells us when one goes (on_close). events_close
 *   detaches the clients (their records are freed by on_close, also after it).
 * LOOP
 *   apid's loop.
 * ERRORS
 *   events_open: NULL and the reason in err (a Redis address it cannot parse, out of
 *   memory). A lost subscription is logged rate-limited and renewed when the link is back;
 *   messages that are not events are ignored with a rate-limited warning.
 * SEE ALSO
 *   api_sse.h, http.h (streams), docs/api.md
 */
#ifndef SB_EVENTS_H
#define SB_EVENTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "http.h"
#include "redis.h"
#include "shm.h"

typedef struct events events_t;

/* Subscribes to the channel at redis_address (rds_open's form; NULL: no subscription),
 * authenticating with auth (NULL: none).
 * shm is the process table watched; slot the worker's own, for the counters.
 * on_subscribed(arg) (may be NULL) is called when events_subscribed changes. */
events_t *events_open(uv_loop_t *loop, const char *redis_address,
                      const struct rds_auth *auth, const struct shm_seg *shm, struct shm_proc *slot, void (*on_subscribed)(void *arg), void *arg,
                      char *err, size_t errlen);
/* Whether Redis has confirmed the subscription (an event published now reaches us). */
bool events_subscribed(const events_t *ev);
void events_close(events_t *ev);
/* Fills resp for GET /api/v1/events: a stream that receives every event from now on; or
 * a 429 when the client's address (peer, borrowed) has max_per_peer streams open already. */
void events_attach(events_t *ev, http_call_t *call, const char *peer, size_t max_per_peer,
                   struct http_response *resp);
/* Sends an event of apid's own (drain.*) to every client: type and its JSON data text
 * (one line), both borrowed. */
void events_publish(events_t *ev, const char *type, const char *data);
/* The process-table watch, and a keep-alive comment when keepalive_ms have passed. */
void events_tick(events_t *ev, int64_t now_mono_ms, int64_t keepalive_ms);

#endif
