/*
 * NAME
 *   api - apid's REST routes: a request line in, an HTTP status and a JSON body out.
 * DESCRIPTION
 *   api_route maps (method, url, declared body length) to a status and a JSON body,
 *   reading only what struct api_env gives it: the shm process table, the node id, the
 *   Redis link state and the clocks. It never does I/O, never blocks and keeps no state,
 *   so tests call it on a fake segment built in memory. Routes (GET and HEAD):
 *     /api/v1/health     200 {"status":"ok",...}, 503 {"status":"degraded",...} when a
 *                        used slot that is not an exec service is not ready, or Redis
 *                        is down
 *     /api/v1/processes  200 with every used slot, in slot order
 *   The query string is not part of the route. Errors are {"error":TEXT,"code":CODE}:
 *   404 NOT_FOUND, 405 METHOD_NOT_ALLOWED (with an Allow value), 413 PAYLOAD_TOO_LARGE
 *   (these routes take no body; no route takes more than API_MAX_BODY bytes), 500
 *   INTERNAL (out of memory).
 * OWNERSHIP
 *   api_env and its strings are borrowed for the call. The body returned is malloc'd and
 *   belongs to the caller (free()); the Allow value is a static string.
 * LOOP
 *   apid's loop (any caller: pure code). Slots are read only through shm_proc_read.
 * ERRORS
 *   None to the caller beyond the status: out of memory is a 500 whose body may be NULL.
 * SEE ALSO
 *   http.h, shm.h, worker.h
 */
#ifndef SB_API_H
#define SB_API_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "shm.h"

/* Largest request body any route accepts; the GET routes accept none. */
#define API_MAX_BODY (64 * 1024)
/* body_len of a request whose body length is not known in advance (chunked). */
#define API_BODY_UNKNOWN UINT64_MAX

struct api_env {
    const struct shm_seg *shm;  /* the process table (master's header and slots) */
    const char *node_id;        /* main.cf node_id */
    bool redis_up;              /* apid's own Redis link */
    int64_t now_wall_us;        /* clock_wall_us() of the request: timestamps, uptimes */
    int64_t now_mono_us;        /* clock_mono_us() of the request: heartbeat ages */
};

/* Answers one request: returns the HTTP status and sets *body_out to a malloc'd JSON text
 * (caller frees; NULL only when out of memory) and *allow_out to the methods a 405 names
 * (static; NULL for other statuses). url may carry a query string; body_len is the
 * declared body length (0 for none, API_BODY_UNKNOWN when chunked). */
int api_route(const struct api_env *env, const char *method, const char *url, uint64_t body_len,
              char **body_out, const char **allow_out);

/* The standard error body for status (404, 405, 413, 500; others are "INTERNAL"), malloc'd
 * for the caller to free; NULL when out of memory. */
char *api_error_body(int status);

/* Writes the UTC ISO 8601 form of a wall-clock time, "2026-11-24T07:10:36Z", into out.
 * -EINVAL for times before 1970 or out of range, -ENOSPC when out is too small. */
int api_iso8601(int64_t wall_us, char *out, size_t outlen);

#endif
