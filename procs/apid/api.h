/*
 * NAME
 *   api - apid's REST routes and their pure parts: a request in, an HTTP status and a
 *   body out, or the name of the work the caller must do (Redis, a stream, a file).
 * DESCRIPTION
 *   api_handle maps (method, url, body, credentials) to an answer, reading only what
 *   struct api_env gives it: the shm process table, main.cf, the Redis link state, the
 *   cached count of registrations and the clocks. It never does I/O, never blocks and
 *   keeps no state, so tests call it on a fake segment built in memory. Routes:
 *     GET  /api/v1/health               no token needed; 503 when degraded
 *     GET  /api/v1/processes, stats, config     answered here
 *     GET  /metrics                     Prometheus text format 0.0.4, answered here
 *     GET  /api/v1/registrations        API_OP_REG_LIST (the caller reads Redis)
 *     DELETE /api/v1/registrations/{aor} API_OP_REG_DELETE (optional JSON body
 *                                       {"contact": URI}: only that binding)
 *     GET  /api/v1/events               API_OP_EVENTS (the caller opens a stream)
 *     GET  /api/v1/dialogs              API_OP_DLG_LIST (Redis)
 *     GET, DELETE /api/v1/dialogs/{call_id}  API_OP_DLG_GET, API_OP_DLG_HANGUP (Redis,
 *                                       then mediad or dialogd over IPC)
 *     GET  /api/v1/sessions             API_OP_SESSIONS (every mediad over IPC)
 *     GET  /api/v1/rtpmanagers          answered here (shm and the drain table)
 *     POST, GET, DELETE /api/v1/rtpmanagers/{node_id}/drain  API_OP_DRAIN_START,
 *                                       answered here, API_OP_DRAIN_CANCEL
 *     POST /api/v1/dialplan/reload      API_OP_DIALPLAN_RELOAD (every routerd over IPC)
 *     GET  /api/v1/nodes                answered here (main.cf api_peers)
 *     OPTIONS /api/v1/...               204, the CORS preflight (no token)
 *     GET  any path outside /api/ and /metrics: API_OP_FILE (the dashboard; no token)
 *   HEAD is answered like GET. The query string is not part of the route. Every answer
 *   under /api/v1 allows any origin (CORS: the dashboard of one node reads the others).
 *   Errors are {"error":TEXT,"code":CODE}: 400 BAD_REQUEST, 401 UNAUTHORIZED (with
 *   WWW-Authenticate), 404 NOT_FOUND, 405 METHOD_NOT_ALLOWED (with Allow), 409 CONFLICT,
 *   413 PAYLOAD_TOO_LARGE, 500 INTERNAL, 503 UNAVAILABLE.
 *   Layers of apid's pure code, each calling only those below it: api.c (routes, token,
 *   dispatch) on top; api_views.c (node views), api_records.c (records as JSON),
 *   api_metrics.c (Prometheus) and api_sse.c (event framing) beside each other; api_base.c
 *   (env, JSON helpers, error body) at the bottom. regstore.c, ctl.c and events.c call
 *   the middle layer; main.c calls this one.
 * OWNERSHIP
 *   api_env, api_request and their strings are borrowed for the call. Every char * an
 *   answer holds is malloc'd and belongs to the caller (api_answer_fini); the Allow,
 *   WWW-Authenticate and content-type values are static strings.
 * LOOP
 *   apid's loop (any caller: pure code). Slots are read only through shm_proc_read.
 * ERRORS
 *   None to the caller beyond the status: out of memory is a 500 whose body may be NULL.
 * SEE ALSO
 *   api_base.h, api_views.h, api_records.h, api_metrics.h, api_sse.h, http.h,
 *   docs/api.md, docs/openapi.yaml
 */
#ifndef SB_API_H
#define SB_API_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "api_base.h"

struct api_request {
    const char *method;
    const char *url;           /* path, percent-decoded; a query string is ignored */
    uint64_t body_len;         /* 0 none, API_BODY_UNKNOWN when not known or too long */
    const char *body;          /* NUL-terminated body of body_len bytes, or NULL */
    const char *authorization; /* Authorization header, or NULL */
    const char *access_token;  /* access_token query argument, or NULL */
    const char *mode;          /* mode query argument (drain), or NULL */
};

enum api_op {
    API_OP_NONE,       /* answered: status and body */
    API_OP_REG_LIST,   /* list the registrations (Redis) */
    API_OP_REG_DELETE, /* remove aor (and only contact when set) */
    API_OP_EVENTS,     /* open an event stream */
    API_OP_FILE,       /* serve the dashboard file at url */
    API_OP_DLG_LIST,   /* list the dialogs (Redis) */
    API_OP_DLG_GET,    /* one dialog (Redis) and its media stats (mediad): call_id */
    API_OP_DLG_HANGUP, /* hang up call_id (Redis, then its dialogd) */
    API_OP_SESSIONS,   /* every mediad's sessions */
    API_OP_DRAIN_START,  /* drain mediad instance, aggressive or not */
    API_OP_DRAIN_CANCEL, /* end the drain of mediad instance */
    API_OP_DIALPLAN_RELOAD, /* every routerd reads dialplan.json again */
};

struct api_answer {
    int status;
    char *body;                   /* malloc'd; NULL when out of memory or op != NONE */
    const char *content_type;     /* static */
    const char *allow;            /* static, for 405 */
    const char *www_authenticate; /* static, for 401 */
    enum api_op op;
    char *aor;     /* API_OP_REG_DELETE: malloc'd */
    char *contact; /* API_OP_REG_DELETE: malloc'd, or NULL for every binding */
    char *call_id; /* API_OP_DLG_GET, API_OP_DLG_HANGUP: malloc'd */
    int instance;  /* API_OP_DRAIN_*: the mediad instance */
    bool aggressive; /* API_OP_DRAIN_START: mode=aggressive */
    const char *const *headers; /* static name, value pairs ending with NULL: CORS */
};

/* Answers one request into ans (zeroed here); see DESCRIPTION. Returns ans->status. */
int api_handle(const struct api_env *env, const struct api_request *req, struct api_answer *ans);
/* Frees what an answer holds (not ans itself). */
void api_answer_fini(struct api_answer *ans);

/* api_handle without credentials, body or operations (the synchronous routes, tests):
 * status, a malloc'd body (NULL only when out of memory) and the Allow value of a 405. */
int api_route(const struct api_env *env, const char *method, const char *url, uint64_t body_len,
              char **body_out, const char **allow_out);

/* True when token is empty or NULL, or when authorization is "Bearer TOKEN" (scheme in any
 * case) or access_token is TOKEN. The comparison takes the same time wherever the
 * candidate differs (it depends only on the token's length). */
bool api_token_ok(const char *token, const char *authorization, const char *access_token);

#endif
