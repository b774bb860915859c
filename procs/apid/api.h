/*
 * NAME
 *   api - apid's REST routes: a request in, an HTTP status and a body out, or the
 *   operation (enum api_op) the caller must run (Redis, IPC, a stream, a dashboard file).
 * DESCRIPTION
 *   api_handle checks the body cap, then runs the gate (api_gate.h: Host, Origin, preflight,
 *   the bearer token, for every path before any route), then the path (routes of
 *   docs/api.md), the method and the body, then answers the node views and /metrics itself.
 *   No I/O, no state. Layers, each calling only those below: api.c; api_gate.c,
 *   api_views.c, api_records.c, api_metrics.c, api_sse.c (api_gate.c reads api_views.c's
 *   api_peer_origin); api_base.c. regstore.c,
 *   ctl.c and events.c call the middle layer, main.c this one.
 * OWNERSHIP
 *   Requests borrowed; an answer's strings malloc'd (api_answer_fini), its headers static.
 * LOOP
 *   apid's loop (pure code).
 * ERRORS
 *   Out of memory is a 500 whose body may be NULL.
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
    const char *host;          /* Host header, or NULL */
    const char *origin;        /* Origin header, or NULL */
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
    API_OP_AUTH,       /* subscribers and bans in Redis (api_auth.h): auth_op */
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
    struct api_auth_op *auth_op; /* API_OP_AUTH: malloc'd */
    char *call_id; /* API_OP_DLG_GET, API_OP_DLG_HANGUP: malloc'd */
    int instance;  /* API_OP_DRAIN_*: the mediad instance */
    bool aggressive; /* API_OP_DRAIN_START: mode=aggressive */
    const char *const *headers; /* name, value pairs ending with NULL (CORS): static, or cors */
    char *cors_origin;          /* malloc'd: the origin echoed in Access-Control-Allow-Origin */
    const char *cors[12];       /* the CORS pairs api_gate made (into cors_origin) */
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
