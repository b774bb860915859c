/*
 * NAME
 *   location - the bindings of every AOR in Redis (the location service's store).
 * DESCRIPTION
 *   Layout (docs/registrar.md): one key per AOR, the hash "sb:reg:{AOR}" mapping each
 *   contact URI to its JSON record (binding.h), which holds its expires_at_ms. The key
 *   expires (PEXPIREAT) with its last binding, so an AOR whose bindings all lapse
 *   vanishes by itself; nothing ever scans the keyspace. Keys and the events channel
 *   come from keys.h.
 *   loc_register applies one REGISTER atomically with one Lua script (loc_register.lua):
 *   it drops lapsed bindings, refuses a request that arrives after its deadline by the
 *   server's clock (so a request already answered 503 never changes anything), checks
 *   the Call-ID/CSeq of every binding it would touch (RFC 3261 10.3 steps 6-7; one stale
 *   one refuses the whole request), applies, re-arms the key expiry, publishes one event
 *   per binding added, refreshed or removed on SB_EVENTS_CHANNEL and returns every
 *   binding left. The script is sent with EVALSHA once SCRIPT LOAD has answered (sent
 *   whenever the link comes up), else with EVAL, and again with EVAL on NOSCRIPT. The
 *   deadline is translated into Redis's clock (TIME, also asked at link up).
 *   loc_lookup reads the hash (HGETALL) and keeps the bindings not lapsed.
 *   It never answers anyone: results go to the caller's callback.
 * OWNERSHIP
 *   loc_t is the caller's; loc_free is deferred until every command sent has called
 *   back (hiredis calls back with no reply when the link drops or is freed). Arguments
 *   are copied; the result given to a callback is freed when the callback returns.
 * LOOP
 *   The worker's loop (hiredis on libuv).
 * ERRORS
 *   loc_register/loc_lookup: -EAGAIN when the link is down, -ENOMEM, -EIO when hiredis
 *   refuses the command. Afterwards every fault arrives as LOC_FAILED with a reason.
 * SEE ALSO
 *   binding.h, redis.h, registrar.h
 */
#ifndef SB_ROUTERD_LOCATION_H
#define SB_ROUTERD_LOCATION_H

#include <stddef.h>
#include <stdint.h>

#include "binding.h"
#include "keys.h"
#include "redis.h"

typedef struct loc loc_t;

enum loc_status {
    LOC_OK,     /* bindings hold what is there now */
    LOC_STALE,  /* a binding with this Call-ID has a CSeq >= the request's: nothing done */
    LOC_LATE,   /* Redis ran the script after its deadline: nothing done */
    LOC_FAILED, /* no answer (link lost) or a Redis error */
    LOC_TOO_MANY, /* the request would add bindings past max_bindings: nothing done */
};

struct loc_result {
    enum loc_status status;
    struct binding **bindings; /* LOC_OK: unexpired, in location order (binding_sort) */
    size_t n;
    const char *detail; /* LOC_STALE: the contact URI; LOC_FAILED: why */
};

/* res and everything in it are freed when the callback returns. */
typedef void (*loc_cb)(const struct loc_result *res, void *arg);

/* What every binding written by one REGISTER shares. */
struct loc_register_args {
    const char *aor;
    const char *node_id; /* main.cf node_id, named in the events */
    const char *call_id;
    uint32_t cseq;
    const char *user_agent;
    const Sb__SipPeer *source; /* may be NULL */
    const char *path;          /* RFC 3327 Path values joined by '\n'; NULL or "" none */
    bool flow_gone;            /* removals only of bindings still on source's flow */
    int64_t now_ms;            /* wall clock: registered_at_ms and expiries count from it */
    int64_t deadline_ms;       /* our wall clock after which the script must change nothing
                                * (sent in Redis's clock, measured with TIME at link up) */
    uint32_t max_bindings;     /* register_max_contacts: the AOR's cap, 0 none */
};

loc_t *loc_new(rds_t *redis);
void loc_free(loc_t *l);
/* The link is (back) up: (re)load the script so requests can use EVALSHA. */
void loc_link_up(loc_t *l);
/* Applies plan for the AOR; cb is called exactly once unless this returns < 0. */
int loc_register(loc_t *l, const struct loc_register_args *a, const struct binding_plan *plan,
                 loc_cb cb, void *arg);
/* The bindings of aor alive at now_ms; cb is called exactly once unless this returns < 0. */
int loc_lookup(loc_t *l, const char *aor, int64_t now_ms, loc_cb cb, void *arg);

/* The script's text: procs/routerd/loc_register.lua, compiled in (lib/embed_gen.sh). */
extern const char loc_register_lua[];

#endif
