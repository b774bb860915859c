/*
 * NAME
 *   api_base - what every layer of apid's pure code shares: the request environment
 *   (struct api_env), the drain record, the limits, JSON value helpers, the error body.
 * DESCRIPTION
 *   The bottom layer of api_*.c: it calls nothing of apid. The helpers build jansson
 *   values for the REST documents (times as ISO 8601 UTC, counters clamped to a JSON
 *   integer) and the one error shape {"error":TEXT,"code":CODE}.
 * OWNERSHIP
 *   api_set takes value (a new reference) whatever it returns. Every json_t * a helper
 *   returns is a new reference; every char * is malloc'd (the caller's).
 * LOOP
 *   apid's loop (pure code).
 * ERRORS
 *   Out of memory: NULL, or -1 from api_set; nothing is logged.
 */
#ifndef SB_API_BASE_H
#define SB_API_BASE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "cfg.h"
#include "domains.h"
#include "shm.h"

#define API_JSON "application/json"
/* Latest time a record may carry: 9999-12-31T23:59:59.999Z (later ones overflow in us). */
#define API_MAX_TIME_MS 253402300799999LL

/* Largest request body any route accepts. */
#define API_MAX_BODY (64 * 1024)
/* body_len of a request whose body length is not known (chunked, over the cap). */
#define API_BODY_UNKNOWN UINT64_MAX
/* Longest AOR accepted in a path. */
#define API_MAX_AOR 1024
/* Most AORs GET /api/v1/registrations reads; past it the answer says "truncated". */
#define API_MAX_AORS 10000
/* Most dialog records GET /api/v1/dialogs reads; past it the answer says "truncated". */
#define API_MAX_DIALOGS 10000
/* Longest Call-ID accepted in a path. */
#define API_MAX_CALL_ID 512
/* mediad instances apid can drain (instance numbers 0 .. API_MAX_MEDIAD - 1). */
#define API_MAX_MEDIAD 64
#define API_DRAIN_MAX_ERRORS 20

enum api_drain_state {
    API_DRAIN_IDLE,      /* never drained by this apid */
    API_DRAIN_DRAINING,  /* mediad refuses new sessions; dialogd moves the calls */
    API_DRAIN_COMPLETED, /* every call moved or given up; mediad stays off until DELETE */
    API_DRAIN_CANCELLED, /* DELETE: mediad takes new sessions again */
};

/* An operator drain of one mediad instance, as apid runs it (ctl.c). */
struct api_drain {
    enum api_drain_state state;
    bool aggressive;
    uint32_t total_sessions;   /* the instance's sessions when the drain began */
    uint32_t migrated;         /* calls moved to another mediad, every round */
    uint32_t failed;           /* calls that could not move (kept, or hung up if aggressive) */
    uint32_t waiting_playback; /* calls playing a prompt at the last round: asked again */
    uint32_t rounds;           /* DialogMigrate rounds done */
    size_t nerrors;
    char errors[API_DRAIN_MAX_ERRORS][160];
    int64_t started_us, ended_us; /* wall clock; 0 when not yet */
};

struct api_gate;

struct api_env {
    const struct shm_seg *shm;      /* the process table (master's header and slots) */
    const char *node_id;            /* main.cf node_id */
    const cfg_t *cfg;               /* main.cf, for /api/v1/config; NULL: 503 there */
    const char *token;              /* the bearer token; NULL or "": none needed (when gate
                                     * is NULL: unit tests) */
    const struct api_gate *gate;    /* Host, Origin and token rules (api_gate.h); NULL: only
                                     * token above */
    bool redis_up;                  /* apid's own Redis link */
    int64_t registrations;          /* active bindings counted in Redis, -1 when not known */
    int64_t now_wall_us;            /* clock_wall_us() of the request: timestamps, uptimes */
    int64_t now_mono_us;            /* clock_mono_us() of the request: heartbeat ages */
    const struct api_drain *drains; /* API_MAX_MEDIAD, by mediad instance; NULL: none */
    const domains_t *domains;       /* the served SIP domain: AORs given are made canonical
                                     * (domains_aor_text); NULL: the default one */
};

/* Writes the UTC ISO 8601 form of a wall-clock time, "2026-11-24T07:10:36Z", into out.
 * -EINVAL for times before 1970 or out of range, -ENOSPC when out is too small. */
int api_iso8601(int64_t wall_us, char *out, size_t outlen);
/* Sets key of obj to value, consuming value; -1 when value is NULL (out of memory) or not
 * set. */
int api_set(json_t *obj, const char *key, json_t *value);
/* A string from shm or main.cf; "?" for NULL (names are checked: only a corrupt one). */
json_t *api_text(const char *s);
/* The ISO 8601 string of a wall-clock time in us, null when <= 0 or out of range. */
json_t *api_time(int64_t wall_us);
/* The same of a time in ms, null when <= 0 or past API_MAX_TIME_MS. */
json_t *api_time_ms(int64_t ms);
/* An unsigned counter as a JSON integer (clamped to its largest). */
json_t *api_uint(uint64_t v);
/* Sorts a JSON array in place with a qsort comparator of json_t ** (left as it is when
 * memory is short: unsorted is still right). */
void api_json_sort(json_t *list, int (*cmp)(const void *, const void *));

/* The standard error body for status (400, 401, 403, 404, 405, 409, 413, 421, 429, 503;
 * others are "INTERNAL"); text replaces the standard message when not NULL. malloc'd; NULL when out
 * of memory. */
char *api_error_body(int status);
char *api_error_text(int status, const char *text);

#endif
