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
 *   413 PAYLOAD_TOO_LARGE, 500 INTERNAL, 503 UNAVAILABLE. Besides, the pure helpers of
 *   the asynchronous routes: a Redis record to a registration entry or to dialog legs, a
 *   mediad session to its JSON, a drain's state to its JSON, a published message or a
 *   process-table change to a Server-Sent Event.
 * OWNERSHIP
 *   api_env, api_request and their strings are borrowed for the call. Every char * an
 *   answer or a helper returns is malloc'd and belongs to the caller (free()); the Allow,
 *   WWW-Authenticate and content-type values are static strings.
 * LOOP
 *   apid's loop (any caller: pure code). Slots are read only through shm_proc_read.
 * ERRORS
 *   None to the caller beyond the status: out of memory is a 500 whose body may be NULL.
 * SEE ALSO
 *   http.h, shm.h, worker.h, docs/api.md, docs/openapi.yaml
 */
#ifndef SB_API_H
#define SB_API_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "cfg.h"
#include "proto/media.pb-c.h"
#include "shm.h"

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

struct api_env {
    const struct shm_seg *shm; /* the process table (master's header and slots) */
    const char *node_id;       /* main.cf node_id */
    const cfg_t *cfg;          /* main.cf, for /api/v1/config; NULL: 503 there */
    const char *token;         /* main.cf api_token; NULL or "": no token needed */
    bool redis_up;             /* apid's own Redis link */
    int64_t registrations;     /* active bindings counted in Redis, -1 when not known */
    int64_t now_wall_us;       /* clock_wall_us() of the request: timestamps, uptimes */
    int64_t now_mono_us;       /* clock_mono_us() of the request: heartbeat ages */
    const struct api_drain *drains; /* API_MAX_MEDIAD, by mediad instance; NULL: none */
};

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

/* The standard error body for status (400, 401, 404, 405, 413, 500, 503; others are
 * "INTERNAL"); text replaces the standard message when not NULL. malloc'd; NULL when out
 * of memory. */
char *api_error_body(int status);
char *api_error_text(int status, const char *text);

/* True when token is empty or NULL, or when authorization is "Bearer TOKEN" (scheme in any
 * case) or access_token is TOKEN. The comparison takes the same time wherever the
 * candidate differs (it depends only on the token's length). */
bool api_token_ok(const char *token, const char *authorization, const char *access_token);

/* Writes the UTC ISO 8601 form of a wall-clock time, "2026-11-24T07:10:36Z", into out.
 * -EINVAL for times before 1970 or out of range, -ENOSPC when out is too small. */
int api_iso8601(int64_t wall_us, char *out, size_t outlen);

/* The metrics page (Prometheus text 0.0.4) of env; malloc'd, NULL when out of memory. */
char *api_metrics(const struct api_env *env);

/* The AOR of a registration key "sb:reg:{AOR}" (or "sb:regexp:{AOR}"): a pointer into key
 * and its length in *len, or NULL when key is not one. */
const char *api_aor_of_key(const char *key, size_t keylen, size_t *len);
/* Appends to list (a JSON array) the entry of one binding from its Redis record (the
 * routerd JSON of docs/registrar.md) as GET /api/v1/registrations shows it: 1 appended,
 * 0 skipped (unreadable record or expired at now_ms), -1 out of memory. */
int api_registration_append(json_t *list, const char *aor, size_t aor_len, const char *contact,
                            size_t contact_len, const char *record, size_t record_len,
                            int64_t now_ms);
/* Sorts the entries of list by aor, then contact. */
void api_registrations_sort(json_t *list);
/* Sorts a JSON array in place with a qsort comparator of json_t ** (left as it is when
 * memory is short: unsorted is still right). */
void api_json_sort(json_t *list, int (*cmp)(const void *, const void *));

/* One Server-Sent Event ("id: ID\nevent: TYPE\ndata: JSON\n\n") from a message published
 * on sb:events: a JSON object whose "type" is a name of [a-z0-9._-] (1..64). malloc'd,
 * length in *len; NULL when the message is not one (or out of memory). */
char *api_sse_from_message(const char *msg, size_t msg_len, uint64_t id, size_t *len);

/* What apid last saw of a slot, for api_proc_changes. */
struct api_proc_seen {
    int32_t pid;
    uint32_t restarts;
    bool used;
};
/* Compares the process table with seen (updated here) and calls emit for each change:
 * "process.died" (a process gone or replaced: its old pid) and "process.respawned" (a
 * new process in a slot seen before: pid, restarts), with the node_id of the segment's
 * header. data is the event's JSON text.
 * The first call (prime true) only records. Returns the number of events emitted. */
int api_proc_changes(struct api_proc_seen seen[SHM_MAX_PROCS], const struct shm_seg *shm,
                     bool prime, int64_t now_wall_us,
                     void (*emit)(void *arg, const char *type, const char *data), void *arg);
/* One Server-Sent Event from a type and its JSON data text; malloc'd, length in *len. */
char *api_sse_format(const char *type, const char *data, uint64_t id, size_t *len);

/* ---- dialogs, sessions, drains (the asynchronous routes' pure parts) ---- */

/* The prototype's dialog state of a dialogd record state (routing, calling, answered,
 * confirmed, ending): Initial, Early (calling after a provisional with a tag came:
 * ringing_ms > 0), WaitingACK, Confirmed, Terminating; "Terminated" for anything else. */
const char *api_dialog_state(const char *state, int64_t ringing_ms);
/* The host and port of a SIP URI ("sip:bob@127.0.0.1:5072;transport=tcp", <>-enclosed
 * too): 0, host copied into host, *port (5060 for sip, 5061 for sips when absent); -1 when
 * it is not a sip/sips URI or host does not fit. */
int api_uri_hostport(const char *uri, char *host, size_t hostlen, int *port);
/* A dialogd record (HGETALL of sb:dlg:{A}: a JSON object of string fields, the layout of
 * docs/calls.md) as GET /api/v1/dialogs shows it: the A leg (inbound) and, once it has a
 * Call-ID, the B leg (outbound) appended to list. Returns the number appended (0: not a
 * record), -1 out of memory. */
int api_dialog_legs_append(json_t *list, const json_t *rec, int64_t now_wall_ms);
/* Sorts dialog entries by created_at, then call_id (A before B of one call: stable). */
void api_dialogs_sort(json_t *list);
/* GET /api/v1/dialogs/{call_id}: the call, both legs and its media (stats: the mediad
 * session's JSON, api_session_json, taken; NULL when mediad did not say). NULL when out
 * of memory. */
json_t *api_dialog_detail(const json_t *rec, int64_t now_wall_ms, json_t *stats);
/* One mediad session (MediaSessionInfo) as GET /api/v1/sessions shows it; instance is the
 * mediad that holds it. NULL when out of memory. */
json_t *api_session_json(const Sb__MediaSessionInfo *info, unsigned instance);
/* The mediad instance a drain node_id names ("mediad-3"): the number, or -1. */
int api_mediad_of_node(const char *node_id, size_t len);
/* GET /api/v1/rtpmanagers/{node_id}/drain of a drain; NULL when out of memory. */
json_t *api_drain_json(const struct api_drain *d, int instance, int64_t now_wall_us);

/* The dashboard's Content-Security-Policy: our own scripts only, fetches to us and to the
 * origins of api_peers (space or comma separated base URLs; anything but a plain
 * http(s)://host[:port] is left out). Its length, 0 when cap is too small. */
size_t api_csp(const char *peers, char *out, size_t cap);

#endif
