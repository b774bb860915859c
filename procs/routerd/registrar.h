/*
 * NAME
 *   registrar - routerd's registrar and location service (RFC 3261 10.3).
 * DESCRIPTION
 *   Serves RegisterRequest and LocationRequest envelopes (proto/sip.proto) from peers:
 *   decides what it can at once (binding.h: 400, 423), applies the rest in Redis
 *   (location.h) and answers on the channel the request came on, exactly once per
 *   request: 200 with every current binding, 500 "Out of order" for a stale CSeq, 503
 *   with retry_after when Redis is down, does not answer within 7/8 of register_timeout
 *   (sipd waits register_timeout for us), is stuck (it owes answers to requests that
 *   timed out and has answered nothing for a quarter of register_timeout: it is then not
 *   asked more until it answers), or REGISTRAR_MAX_IN_REDIS requests already wait for
 *   it. Redis that is only behind keeps getting requests: each one's deadline bounds the
 *   wait. A LocationRequest gets 200 with the live bindings best first, 404 when there
 *   are none, 503 as above. Parameters are read from main.cf at each request, so a
 *   reload applies to the next one. registrar_lookup does a LocationRequest's lookup for
 *   another module of routerd (the router) and gives it the answer. It never blocks and
 *   never keeps a channel pointer past the channel's close (registrar_peer_closed, from
 *   worker_ops).
 * OWNERSHIP
 *   registrar_t belongs to the worker's role_ctx; envelopes are borrowed for the call.
 *   registrar_stop answers what is in flight and frees the registrar once Redis has
 *   called back for everything it was sent.
 * LOOP
 *   routerd's loop (worker.h ops).
 * ERRORS
 *   Nothing is returned: every fault is an answer (503/500) and a rate-limited warning.
 * SEE ALSO
 *   binding.h, location.h, docs/registrar.md
 */
#ifndef SB_ROUTERD_REGISTRAR_H
#define SB_ROUTERD_REGISTRAR_H

#include <stdbool.h>
#include <stdint.h>

#include "binding.h"
#include "worker.h"

/* Retry-After of a 503, seconds. */
#define REGISTRAR_RETRY_AFTER_S 5
/* Most requests waiting for Redis at once; more get 503 at once (a memory bound: each
 * request's deadline bounds the queue long before this at any rate Redis can serve). */
#define REGISTRAR_MAX_IN_REDIS 65536

typedef struct registrar registrar_t;

registrar_t *registrar_new(worker_t *w);
/* env's body is register_request / location_request; env->request_id must be set. */
void registrar_register(registrar_t *reg, ipc_chan_t *ch, const Sb__Envelope *env);
void registrar_locate(registrar_t *reg, ipc_chan_t *ch, const Sb__Envelope *env);
/* The answer to a registrar_lookup: lr is what a LocationRequest would have got (200 with
 * the live bindings best first, 404, 503); ch is the channel given to registrar_lookup,
 * or NULL when it closed meanwhile. Both are borrowed for the call. */
typedef void (*registrar_located_cb)(ipc_chan_t *ch, const Sb__LocationReply *lr, void *arg);
/* Looks aor up for a request that came on ch exactly as a LocationRequest (same Redis
 * read, statuses, faults and deadline, which max_wait_ms > 0 may shorten) and hands the
 * answer to located instead of sending it: exactly once, perhaps before this returns.
 * call_id (NULL: none) is the call the lookup is for; its log lines carry it. */
void registrar_lookup(registrar_t *reg, ipc_chan_t *ch, const char *aor, const char *call_id,
                      long max_wait_ms, registrar_located_cb located, void *arg);
/* The Redis link went up or down. */
void registrar_redis_state(registrar_t *reg, bool up);
/* Calls worker_drained once nothing is in flight. */
void registrar_drain(registrar_t *reg);
/* Answers what is in flight (503) and frees reg when Redis has called back. */
void registrar_stop(registrar_t *reg);
/* The channel ch is going away: requests that came on it are answered into the void. */
void registrar_peer_closed(registrar_t *reg, ipc_chan_t *ch);

/* Whether a new request gets 503 at once rather than go to Redis: the reason, or NULL.
 * stalled: requests already answered 503 that Redis still owes; in_redis: requests
 * waiting for Redis; silent_us: time since Redis last answered; timeout_ms:
 * register_timeout. Pure (tested alone). */
const char *registrar_shed(unsigned stalled, unsigned in_redis, int64_t silent_us,
                           long timeout_ms);

/* The register_* limits of main.cf (values past UINT32_MAX are cut). */
void registrar_limits(const cfg_t *cfg, struct binding_limits *lim);

#endif
