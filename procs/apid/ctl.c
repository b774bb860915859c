/* ctl - see ctl.h */
#include "ctl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_records.h"
#include "api_views.h"
#include "clock.h"
#include "dlgstore.h"
#include "log.h"

#define CTL_JOB_DEADLINE_MS 3000 /* a request's answer, whatever its steps: 503 after it */

enum ctl_kind {
    CTL_DIALOGS,
    CTL_DIALOG_GET,
    CTL_HANGUP,
    CTL_SESSIONS,
    CTL_RELOAD,
    CTL_DRAIN_ON,
    CTL_DRAIN_OFF,
    CTL_MIGRATE, /* a drain round: no HTTP call */
};

/* One route's work, or one drain round. */
struct ctl_job {
    ctl_t *ctl;        /* NULL once ctl_free ran: callbacks only free */
    http_call_t *call; /* NULL once answered or when the client left */
    enum ctl_kind kind;
    int refs; /* callbacks still to come (Redis, IPC) */
    int64_t deadline_ms;
    int instance;        /* drain: the mediad */
    bool aggressive;     /* drain start */
    unsigned generation; /* drain: the drain this round belongs to */
    json_t *record;      /* dialog get, hangup */
    json_t *list;        /* sessions: entries */
    int asked, answered; /* peers asked; of those, answered well */
    json_t *failures;    /* peers that did not answer: names */
    /* dialplan reload */
    int reload_status; /* the worst status a routerd gave */
    char *reload_error;
    uint32_t routes;
    char *version;
    /* a drain round's sums */
    uint32_t total, migrated, failed, waiting;
    uint32_t in_progress; /* migrate: moves dialogd had not finished, calls not yet up */
    struct ctl_job *prev, *next;
};

/* What a request to one peer instance answers for. */
struct ctl_ask {
    struct ctl_job *job;
    int instance;
};

/* apid's side of one mediad instance's drain. */
struct ctl_drain {
    unsigned generation;   /* bumped by every start and cancel: stale rounds are ignored */
    int64_t next_round_ms; /* monotonic; 0: none due */
    int64_t deadline_ms;   /* monotonic: no round after it */
    bool round_running;
};

struct ctl {
    worker_t *w;
    events_t *events;
    struct ctl_job *jobs;
    struct api_drain drains[API_MAX_MEDIAD];
    struct ctl_drain dstate[API_MAX_MEDIAD];
};

static int64_t ctl_now_ms(void) {
    return clock_mono_us() / 1000;
}

/* ---- jobs ---- */

static void ctl_job_closed(void *arg) {
    struct ctl_job *j = arg; /* the client went away; the work finishes for nothing */
    j->call = NULL;
}

static struct ctl_job *ctl_job_new(ctl_t *c, enum ctl_kind kind, http_call_t *call) {
    struct ctl_job *j = calloc(1, sizeof *j);
    if (!j)
        return NULL;
    j->ctl = c;
    j->call = call;
    j->kind = kind;
    j->deadline_ms = ctl_now_ms() + CTL_JOB_DEADLINE_MS;
    j->next = c->jobs;
    if (c->jobs)
        c->jobs->prev = j;
    c->jobs = j;
    return j;
}

static void ctl_job_free(struct ctl_job *j) {
    if (j->ctl) {
        if (j->prev)
            j->prev->next = j->next;
        else
            j->ctl->jobs = j->next;
        if (j->next)
            j->next->prev = j->prev;
    }
    json_decref(j->record);
    json_decref(j->list);
    json_decref(j->failures);
    free(j->reload_error);
    free(j->version);
    free(j);
}

/* Answers the job's call (if still there) with status and doc (taken; NULL: out of
 * memory, a 500). */
static void ctl_answer(struct ctl_job *j, int status, json_t *doc) {
    if (!j->call) {
        json_decref(doc);
        return;
    }
    http_call_t *call = j->call;
    j->call = NULL;
    struct http_response resp = {.status = status, .content_type = "application/json"};
    resp.body = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
    json_decref(doc);
    if (!resp.body) {
        resp.status = 500;
        resp.body = api_error_body(500);
    }
    resp.body_len = resp.body ? strlen(resp.body) : 0;
    http_call_answer(call, &resp);
}

static void ctl_answer_error(struct ctl_job *j, int status, const char *text) {
    if (!j->call)
        return;
    http_call_t *call = j->call;
    j->call = NULL;
    struct http_response resp = {.status = status, .content_type = "application/json"};
    resp.body = api_error_text(status, text);
    resp.body_len = resp.body ? strlen(resp.body) : 0;
    http_call_answer(call, &resp);
}

/* Makes resp wait for job j. */
static void ctl_defer(struct ctl_job *j, struct http_response *resp) {
    resp->defer = true;
    resp->on_close = ctl_job_closed;
    resp->close_arg = j;
}

static void ctl_finish(struct ctl_job *j);
static void ctl_on_hangup(ipc_chan_t *ch, Sb__Envelope *reply, void *arg);

/* One callback of j came; the last one finishes the job and frees it. */
static void ctl_job_unref(struct ctl_job *j) {
    if (--j->refs > 0)
        return;
    if (j->ctl)
        ctl_finish(j);
    ctl_answer_error(j, 503, "no answer"); /* a step that ended without answering */
    ctl_job_free(j);
}

static void ctl_error_now(struct http_response *resp, int status, const char *text) {
    resp->status = status;
    resp->body = api_error_text(status, text);
}

/* A request of j to one instance is sent with the generated ipc_request_NAME (lib/ipc.h):
 *     struct ctl_ask *a = ctl_ask_new(j, ch, instance);
 *     if (!ctl_ask_sent(j, a, a ? ipc_request_NAME(ch, &rq, cb, a, timeout_ms) : -1)) ...
 * The callback gets a; it runs exactly once when ctl_ask_sent said true. */

/* The callback argument of one request of j to ch: NULL when ch is NULL or memory is short. */
static struct ctl_ask *ctl_ask_new(struct ctl_job *j, ipc_chan_t *ch, int instance) {
    struct ctl_ask *a = ch ? malloc(sizeof *a) : NULL;
    if (!a)
        return NULL;
    a->job = j;
    a->instance = instance;
    return a;
}

/* What ipc_request_NAME returned (rc) for a: true when sent (j waits for the callback), false
 * when a is NULL or the request could not be sent (a is freed). */
static bool ctl_ask_sent(struct ctl_job *j, struct ctl_ask *a, int rc) {
    if (!a)
        return false;
    if (rc < 0) {
        free(a);
        return false;
    }
    j->refs++;
    j->asked++;
    return true;
}

static void ctl_failure(struct ctl_job *j, const char *role, int instance);

/* The instances of role in the process table that apid has a channel to, in table order
 * without repeats (a reload may show an old and a new process of one instance). */
static int ctl_peers(ctl_t *c, enum sb_role role, int *out, int max) {
    const char *name = sb_role_info(role)->name;
    bool seen[SHM_MAX_PROCS] = {false};
    int n = 0;
    for (int i = 0; i < SHM_MAX_PROCS && n < max; i++) {
        struct shm_proc p;
        shm_proc_read(&c->w->shm->procs[i], &p);
        if (p.state == SHM_EMPTY || strncmp(p.role, name, sizeof p.role) != 0 ||
            p.instance >= SHM_MAX_PROCS || seen[p.instance])
            continue;
        seen[p.instance] = true;
        if (worker_peer_role_instance(c->w, role, (int)p.instance))
            out[n++] = (int)p.instance;
    }
    return n;
}

static void ctl_failure(struct ctl_job *j, const char *role, int instance) {
    char name[48];
    snprintf(name, sizeof name, "%s-%d", role, instance);
    if (!j->failures)
        j->failures = json_array();
    json_array_append_new(j->failures, json_string(name));
}

/* ---- dialogs ---- */

static void ctl_on_dialogs(void *arg, int status, json_t *records, bool truncated) {
    struct ctl_job *j = arg;
    if (j->ctl && j->call) {
        if (status != 200) {
            ctl_answer_error(j, status, status == 500 ? NULL : "Redis is unavailable");
        } else {
            api_dialogs_sort(records);
            int64_t now_ms = clock_wall_us() / 1000;
            json_t *list = json_array();
            int rc = list ? 0 : -1;
            for (size_t i = 0; rc == 0 && i < json_array_size(records); i++)
                rc = api_dialog_legs_append(list, json_array_get(records, i), now_ms) < 0 ? -1 : 0;
            json_t *doc = json_object();
            if (doc && rc == 0 && json_object_set_new(doc, "dialogs", list) == 0) {
                list = NULL;
                if (json_object_set_new(doc, "truncated", json_boolean(truncated)) < 0)
                    rc = -1;
            } else {
                rc = -1;
            }
            json_decref(list);
            if (rc) {
                json_decref(doc);
                doc = NULL;
            }
            ctl_answer(j, 200, doc);
        }
    }
    json_decref(records);
    ctl_job_unref(j);
}

void ctl_dialogs(ctl_t *c, http_call_t *call, struct http_response *resp) {
    struct ctl_job *j = ctl_job_new(c, CTL_DIALOGS, call);
    if (!j) {
        ctl_error_now(resp, 500, NULL);
        return;
    }
    if (dlgstore_list(c->w->redis, ctl_on_dialogs, j) < 0) {
        j->call = NULL;
        ctl_job_free(j);
        ctl_error_now(resp, 503, "Redis is unavailable");
        return;
    }
    j->refs = 1;
    ctl_defer(j, resp);
}

/* ---- one dialog: its record, then its media stats ---- */

static const char *ctl_rec(const json_t *rec, const char *key) {
    const char *v = json_string_value(json_object_get(rec, key));
    return v ? v : "";
}

static void ctl_answer_detail(struct ctl_job *j, json_t *stats) {
    json_t *doc = api_dialog_detail(j->record, clock_wall_us() / 1000, stats);
    ctl_answer(j, doc ? 200 : 500, doc);
}

static void ctl_on_stats(ipc_chan_t *ch, Sb__Envelope *reply, void *arg) {
    struct ctl_ask *a = arg;
    struct ctl_job *j = a->job;
    (void)ch;
    if (j->ctl && j->call) {
        json_t *stats = NULL;
        const Sb__MediaReply *r =
            reply && reply->body_case == SB__ENVELOPE__BODY_MEDIA_REPLY ? reply->media_reply : NULL;
        if (r && r->status == SB__MEDIA_STATUS__MEDIA_STATUS_OK && r->n_sessions > 0)
            stats = api_session_json(r->sessions[0], (unsigned)a->instance);
        ctl_answer_detail(j, stats); /* without stats when mediad could not say */
    }
    free(a);
    ctl_job_unref(j);
}

static void ctl_on_record(void *arg, int status, json_t *record) {
    struct ctl_job *j = arg;
    j->record = record;
    if (!j->ctl || !j->call) {
        ctl_job_unref(j);
        return;
    }
    if (status != 200) {
        ctl_answer_error(j, status,
                         status == 404   ? "no such dialog"
                         : status == 503 ? "Redis is unavailable"
                                         : NULL);
        ctl_job_unref(j);
        return;
    }
    ctl_t *c = j->ctl;
    if (j->kind == CTL_DIALOG_GET) {
        uint64_t session = strtoull(ctl_rec(record, "media_session"), NULL, 10);
        const char *m = ctl_rec(record, "mediad");
        int mediad = *m ? atoi(m) : -1;
        ipc_chan_t *ch =
            session && mediad >= 0 ? worker_peer_role_instance(c->w, SB_ROLE_mediad, mediad) : NULL;
        Sb__MediaStatsRequest rq = SB__MEDIA_STATS_REQUEST__INIT;
        rq.session_id = session;
        struct ctl_ask *a = ctl_ask_new(j, ch, mediad);
        if (!ctl_ask_sent(
                j, a, a ? ipc_request_media_stats(ch, &rq, ctl_on_stats, a, CTL_TIMEOUT_MS) : -1))
            ctl_answer_detail(j, NULL);
        ctl_job_unref(j);
        return;
    }
    /* CTL_HANGUP: only the node whose dialogd holds the call can end it. */
    const char *call_id = ctl_rec(record, "a_call_id");
    const char *node = ctl_rec(record, "node");
    const char *ours = cfg_str(c->w->cfg, CFG_node_id);
    if (strcmp(node, ours) != 0) {
        char text[160];
        snprintf(text, sizeof text, "the call is held by node %.64s: ask that node's apid", node);
        log_call(LOG_INFO, call_id, "hang-up over the API refused: %s", text);
        ctl_answer_error(j, 409, text);
        ctl_job_unref(j);
        return;
    }
    const char *d = ctl_rec(record, "dialogd");
    int dialogd = *d ? atoi(d) : -1;
    ipc_chan_t *ch =
        dialogd >= 0 ? worker_peer_role_instance(c->w, SB_ROLE_dialogd, dialogd) : NULL;
    Sb__DialogHangupRequest rq = SB__DIALOG_HANGUP_REQUEST__INIT;
    rq.call_id = (char *)call_id;
    struct ctl_ask *a = ctl_ask_new(j, ch, dialogd);
    if (!ctl_ask_sent(
            j, a, a ? ipc_request_dialog_hangup(ch, &rq, ctl_on_hangup, a, CTL_TIMEOUT_MS) : -1)) {
        char text[96];
        snprintf(text, sizeof text, "dialogd %d is not connected", dialogd);
        log_call_ratelimited(LOG_WARN, call_id, "hang-up over the API failed: %s", text);
        ctl_answer_error(j, 503, text);
    } else {
        log_call(LOG_INFO, call_id, "hang-up over the API: asked dialogd %d", dialogd);
    }
    ctl_job_unref(j);
}

static void ctl_dialog_job(ctl_t *c, enum ctl_kind kind, const char *call_id, http_call_t *call,
                           struct http_response *resp) {
    struct ctl_job *j = ctl_job_new(c, kind, call);
    if (!j) {
        ctl_error_now(resp, 500, NULL);
        return;
    }
    if (dlgstore_get(c->w->redis, call_id, ctl_on_record, j) < 0) {
        j->call = NULL;
        ctl_job_free(j);
        ctl_error_now(resp, 503, "Redis is unavailable");
        return;
    }
    j->refs = 1;
    ctl_defer(j, resp);
}

void ctl_dialog_get(ctl_t *c, const char *call_id, http_call_t *call, struct http_response *resp) {
    ctl_dialog_job(c, CTL_DIALOG_GET, call_id, call, resp);
}

void ctl_dialog_hangup(ctl_t *c, const char *call_id, http_call_t *call,
                       struct http_response *resp) {
    ctl_dialog_job(c, CTL_HANGUP, call_id, call, resp);
}

/* A reply that is an Error envelope: its message, else NULL. */
static const char *ctl_error_of(const Sb__Envelope *reply) {
    if (reply && reply->body_case == SB__ENVELOPE__BODY_ERROR)
        return reply->error->message && *reply->error->message ? reply->error->message : "error";
    return NULL;
}

static void ctl_on_hangup(ipc_chan_t *ch, Sb__Envelope *reply, void *arg) {
    struct ctl_ask *a = arg;
    struct ctl_job *j = a->job;
    (void)ch;
    const Sb__DialogReply *r =
        reply && reply->body_case == SB__ENVELOPE__BODY_DIALOG_REPLY ? reply->dialog_reply : NULL;
    if (!r || r->status != 200) {
        const char *e = ctl_error_of(reply);
        log_call_ratelimited(LOG_WARN, ctl_rec(j->record, "a_call_id"),
                             "hang-up over the API failed: dialogd %d: %u %s", a->instance,
                             r ? r->status : 0,
                             !reply ? "no answer"
                             : e    ? e
                             : r    ? (r->reason ? r->reason : "")
                                    : "unexpected answer");
    }
    if (j->ctl && j->call) {
        char text[200];
        if (!reply) {
            snprintf(text, sizeof text, "dialogd %d did not answer", a->instance);
            ctl_answer_error(j, 503, text);
        } else if (!r) {
            const char *e = ctl_error_of(reply);
            snprintf(text, sizeof text, "dialogd %d: %.160s", a->instance,
                     e ? e : "unexpected answer");
            ctl_answer_error(j, 503, text);
        } else if (r->status == 200) {
            json_t *doc = json_object();
            if (doc) {
                json_object_set_new(doc, "message", json_string("hangup sent"));
                json_object_set_new(doc, "call_id", json_string(ctl_rec(j->record, "a_call_id")));
                const char *b = ctl_rec(j->record, "b_call_id");
                json_object_set_new(doc, "b_call_id", *b ? json_string(b) : json_null());
            }
            ctl_answer(j, 200, doc);
        } else if (r->status == 404) {
            ctl_answer_error(j, 404, "no such dialog (dialogd does not hold it)");
        } else {
            snprintf(text, sizeof text, "dialogd %d: %u %.160s", a->instance, r->status,
                     r->reason ? r->reason : "");
            ctl_answer_error(j, 503, text);
        }
    }
    free(a);
    ctl_job_unref(j);
}

/* ---- sessions ---- */

static int ctl_session_cmp(const void *x, const void *y) {
    const json_t *a = *(json_t *const *)x, *b = *(json_t *const *)y;
    const char *ca = json_string_value(json_object_get(a, "created_at"));
    const char *cb = json_string_value(json_object_get(b, "created_at"));
    int c = strcmp(ca ? ca : "", cb ? cb : "");
    if (c)
        return c;
    unsigned long long ia = strtoull(ctl_rec(a, "session_id"), NULL, 10);
    unsigned long long ib = strtoull(ctl_rec(b, "session_id"), NULL, 10);
    return ia < ib ? -1 : ia > ib;
}

static void ctl_on_list(ipc_chan_t *ch, Sb__Envelope *reply, void *arg) {
    struct ctl_ask *a = arg;
    struct ctl_job *j = a->job;
    (void)ch;
    const Sb__MediaReply *r =
        reply && reply->body_case == SB__ENVELOPE__BODY_MEDIA_REPLY ? reply->media_reply : NULL;
    if (r && r->status == SB__MEDIA_STATUS__MEDIA_STATUS_OK) {
        j->answered++;
        for (size_t i = 0; i < r->n_sessions; i++)
            json_array_append_new(j->list, api_session_json(r->sessions[i], (unsigned)a->instance));
    } else {
        ctl_failure(j, "mediad", a->instance);
    }
    free(a);
    ctl_job_unref(j);
}

void ctl_sessions(ctl_t *c, http_call_t *call, struct http_response *resp) {
    int inst[SHM_MAX_PROCS];
    int n = ctl_peers(c, SB_ROLE_mediad, inst, SHM_MAX_PROCS);
    if (n == 0) {
        ctl_error_now(resp, 503, "no mediad is connected");
        return;
    }
    struct ctl_job *j = ctl_job_new(c, CTL_SESSIONS, call);
    if (!j || !(j->list = json_array())) {
        if (j) {
            j->call = NULL;
            ctl_job_free(j);
        }
        ctl_error_now(resp, 500, NULL);
        return;
    }
    j->refs = 1; /* held until every request is sent */
    Sb__MediaListRequest rq = SB__MEDIA_LIST_REQUEST__INIT;
    for (int i = 0; i < n; i++) {
        ipc_chan_t *ch = worker_peer_role_instance(c->w, SB_ROLE_mediad, inst[i]);
        struct ctl_ask *a = ctl_ask_new(j, ch, inst[i]);
        if (!ctl_ask_sent(j, a,
                          a ? ipc_request_media_list(ch, &rq, ctl_on_list, a, CTL_TIMEOUT_MS) : -1))
            ctl_failure(j, "mediad", inst[i]);
    }
    ctl_defer(j, resp);
    ctl_job_unref(j);
}

static void ctl_finish_sessions(struct ctl_job *j) {
    if (j->answered == 0) {
        ctl_answer_error(j, 503, "no mediad answered");
        return;
    }
    api_json_sort(j->list, ctl_session_cmp);
    json_t *doc = json_object();
    if (doc) {
        json_object_set(doc, "sessions", j->list);
        json_object_set_new(doc, "unavailable",
                            j->failures ? json_incref(j->failures) : json_array());
    }
    ctl_answer(j, 200, doc);
}

/* ---- dialplan reload ---- */

static void ctl_on_reload(ipc_chan_t *ch, Sb__Envelope *reply, void *arg) {
    struct ctl_ask *a = arg;
    struct ctl_job *j = a->job;
    (void)ch;
    const Sb__DialplanReloadReply *r =
        reply && reply->body_case == SB__ENVELOPE__BODY_DIALPLAN_RELOAD_REPLY
            ? reply->dialplan_reload_reply
            : NULL;
    if (!r) {
        ctl_failure(j, "routerd", a->instance);
        const char *e = ctl_error_of(reply);
        if (e && !j->reload_error)
            j->reload_error = strdup(e);
    } else if (r->status == 200) {
        j->answered++;
        j->routes = r->routes;
        free(j->version);
        j->version = strdup(r->version ? r->version : "");
    } else {
        /* A refusal (400) outranks an unreadable file (500): both name the cause. */
        if (r->status == 400 || j->reload_status == 0) {
            j->reload_status = r->status == 400 ? 400 : 500;
            free(j->reload_error);
            j->reload_error = strdup(r->error ? r->error : "");
        }
    }
    free(a);
    ctl_job_unref(j);
}

void ctl_dialplan_reload(ctl_t *c, http_call_t *call, struct http_response *resp) {
    int inst[SHM_MAX_PROCS];
    int n = ctl_peers(c, SB_ROLE_routerd, inst, SHM_MAX_PROCS);
    if (n == 0) {
        ctl_error_now(resp, 503, "no routerd is connected");
        return;
    }
    struct ctl_job *j = ctl_job_new(c, CTL_RELOAD, call);
    if (!j) {
        ctl_error_now(resp, 500, NULL);
        return;
    }
    j->deadline_ms += CTL_RELOAD_TIMEOUT_MS;
    j->refs = 1;
    Sb__DialplanReloadRequest rq = SB__DIALPLAN_RELOAD_REQUEST__INIT;
    for (int i = 0; i < n; i++) {
        ipc_chan_t *ch = worker_peer_role_instance(c->w, SB_ROLE_routerd, inst[i]);
        struct ctl_ask *a = ctl_ask_new(j, ch, inst[i]);
        if (!ctl_ask_sent(
                j, a,
                a ? ipc_request_dialplan_reload(ch, &rq, ctl_on_reload, a, CTL_RELOAD_TIMEOUT_MS)
                  : -1))
            ctl_failure(j, "routerd", inst[i]);
    }
    ctl_defer(j, resp);
    ctl_job_unref(j);
}

static void ctl_finish_reload(struct ctl_job *j) {
    if (j->reload_status) {
        ctl_answer_error(j, j->reload_status, j->reload_error);
        return;
    }
    if (j->failures || j->answered == 0) {
        char text[200];
        snprintf(text, sizeof text, "a routerd did not reload the dialplan: %.160s",
                 j->reload_error ? j->reload_error : "no answer");
        ctl_answer_error(j, 503, text);
        return;
    }
    json_t *doc = json_object();
    if (doc) {
        json_object_set_new(doc, "message", json_string("dialplan reloaded"));
        json_object_set_new(doc, "routes", json_integer(j->routes));
        json_object_set_new(doc, "version", json_string(j->version ? j->version : ""));
        json_object_set_new(doc, "routerd", json_integer(j->answered));
    }
    ctl_answer(j, 200, doc);
}

/* ---- drains ---- */

static void ctl_drain_event(ctl_t *c, const char *type, int instance) {
    json_t *doc = api_drain_json(&c->drains[instance], instance, clock_wall_us());
    if (!doc)
        return;
    json_object_set_new(doc, "type", json_string(type));
    json_object_set_new(doc, "node", json_string(cfg_str(c->w->cfg, CFG_node_id)));
    json_object_set_new(doc, "ts_ms", json_integer(clock_wall_us() / 1000));
    char *text = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    if (text)
        events_publish(c->events, type, text);
    free(text);
}

static void ctl_drain_error(struct api_drain *d, const char *text) {
    if (d->nerrors >= API_DRAIN_MAX_ERRORS)
        return;
    /* Cut to the table's width: one line per call is enough to find it in the log. */
    size_t n = strnlen(text, sizeof d->errors[0] - 1);
    memcpy(d->errors[d->nerrors], text, n);
    d->errors[d->nerrors++][n] = '\0';
}

static void ctl_drain_complete(ctl_t *c, int instance) {
    c->drains[instance].state = API_DRAIN_COMPLETED;
    c->drains[instance].ended_us = clock_wall_us();
    c->dstate[instance].next_round_ms = 0;
    log_info("drain of mediad %d completed: %u migrated, %u failed", instance,
             c->drains[instance].migrated, c->drains[instance].failed);
    ctl_drain_event(c, "drain.completed", instance);
}

static void ctl_on_migrate(ipc_chan_t *ch, Sb__Envelope *reply, void *arg) {
    struct ctl_ask *a = arg;
    struct ctl_job *j = a->job;
    (void)ch;
    const Sb__DialogReply *r =
        reply && reply->body_case == SB__ENVELOPE__BODY_DIALOG_REPLY ? reply->dialog_reply : NULL;
    if (j->ctl && j->generation == j->ctl->dstate[j->instance].generation) {
        struct api_drain *d = &j->ctl->drains[j->instance];
        char text[200];
        if (r && r->status == 200) {
            j->answered++;
            j->total += r->total;
            j->migrated += r->migrated;
            j->failed += r->failed;
            j->waiting += r->waiting_playback;
            j->in_progress += r->in_progress;
            for (size_t i = 0; i < r->n_errors; i++) {
                snprintf(text, sizeof text, "dialogd %d: %.180s", a->instance, r->errors[i]);
                ctl_drain_error(d, text);
            }
        } else {
            const char *e = ctl_error_of(reply);
            snprintf(text, sizeof text, "dialogd %d: %.180s", a->instance,
                     !reply ? "no answer"
                     : e    ? e
                     : r    ? (r->reason && *r->reason ? r->reason : "refused")
                            : "unexpected answer");
            ctl_drain_error(d, text);
        }
    }
    free(a);
    ctl_job_unref(j);
}

static void ctl_drain_round(ctl_t *c, int instance) {
    struct ctl_drain *ds = &c->dstate[instance];
    struct api_drain *d = &c->drains[instance];
    ds->next_round_ms = 0;
    int inst[SHM_MAX_PROCS];
    int n = ctl_peers(c, SB_ROLE_dialogd, inst, SHM_MAX_PROCS);
    struct ctl_job *j = n > 0 ? ctl_job_new(c, CTL_MIGRATE, NULL) : NULL;
    if (!j) {
        ctl_drain_error(d, n > 0 ? "out of memory" : "no dialogd is connected");
        ctl_drain_complete(c, instance);
        return;
    }
    j->instance = instance;
    j->generation = ds->generation;
    j->aggressive = d->aggressive;
    j->deadline_ms = INT64_MAX; /* no HTTP call: the IPC timeouts bound it */
    j->refs = 1;
    ds->round_running = true;
    for (int i = 0; i < n; i++) {
        Sb__DialogMigrateRequest rq = SB__DIALOG_MIGRATE_REQUEST__INIT;
        rq.mediad = (uint32_t)instance;
        rq.aggressive = d->aggressive;
        ipc_chan_t *ch = worker_peer_role_instance(c->w, SB_ROLE_dialogd, inst[i]);
        struct ctl_ask *a = ctl_ask_new(j, ch, inst[i]);
        if (!ctl_ask_sent(
                j, a,
                a ? ipc_request_dialog_migrate(ch, &rq, ctl_on_migrate, a, CTL_MIGRATE_TIMEOUT_MS)
                  : -1)) {
            char text[64];
            snprintf(text, sizeof text, "dialogd %d: not connected", inst[i]);
            ctl_drain_error(d, text);
        }
    }
    ctl_job_unref(j);
}

static void ctl_finish_migrate(struct ctl_job *j) {
    ctl_t *c = j->ctl;
    struct ctl_drain *ds = &c->dstate[j->instance];
    struct api_drain *d = &c->drains[j->instance];
    if (j->generation != ds->generation || d->state != API_DRAIN_DRAINING)
        return; /* cancelled meanwhile */
    ds->round_running = false;
    d->rounds++;
    d->migrated += j->migrated;
    d->failed += j->failed;
    d->waiting_playback = j->waiting;
    if (d->rounds == 1 && j->total > d->total_sessions)
        d->total_sessions = j->total;
    ctl_drain_event(c, "drain.progress", j->instance);
    if ((j->waiting > 0 || j->in_progress > 0) && ctl_now_ms() < ds->deadline_ms)
        ds->next_round_ms = ctl_now_ms() + 1000; /* prompts end, moves finish: ask again */
    else
        ctl_drain_complete(c, j->instance);
}

/* The slot of mediad instance in the table, or -1. */
static int ctl_mediad_slot(ctl_t *c, int instance) {
    for (int i = 0; i < SHM_MAX_PROCS; i++) {
        struct shm_proc p;
        shm_proc_read(&c->w->shm->procs[i], &p);
        if (p.state != SHM_EMPTY && strncmp(p.role, "mediad", sizeof p.role) == 0 &&
            (int)p.instance == instance)
            return i;
    }
    return -1;
}

static void ctl_on_drain_flag(ipc_chan_t *ch, Sb__Envelope *reply, void *arg) {
    struct ctl_ask *a = arg;
    struct ctl_job *j = a->job;
    (void)ch;
    const Sb__MediaReply *r =
        reply && reply->body_case == SB__ENVELOPE__BODY_MEDIA_REPLY ? reply->media_reply : NULL;
    ctl_t *c = j->ctl;
    char node[32];
    snprintf(node, sizeof node, "mediad-%d", j->instance);
    if (c && (!r || r->status != SB__MEDIA_STATUS__MEDIA_STATUS_OK)) {
        char text[200];
        const char *e = ctl_error_of(reply);
        snprintf(text, sizeof text, "%s did not %s: %.140s", node,
                 j->kind == CTL_DRAIN_ON ? "start draining" : "stop draining",
                 !reply           ? "no answer"
                 : e              ? e
                 : r && r->reason ? r->reason
                                  : "refused");
        ctl_answer_error(j, 503, text);
    } else if (c && j->kind == CTL_DRAIN_ON) {
        struct api_drain *d = &c->drains[j->instance];
        struct ctl_drain *ds = &c->dstate[j->instance];
        int slot = ctl_mediad_slot(c, j->instance);
        struct shm_proc p = {0};
        if (slot >= 0)
            shm_proc_read(&c->w->shm->procs[slot], &p);
        memset(d, 0, sizeof *d);
        d->state = API_DRAIN_DRAINING;
        d->aggressive = j->aggressive;
        d->started_us = clock_wall_us();
        d->total_sessions = (uint32_t)p.counters[SHM_C_media_sessions];
        ds->generation++;
        ds->deadline_ms = ctl_now_ms() + CTL_DRAIN_MAX_MS;
        ds->round_running = false;
        log_info("drain of %s started (%s), %u sessions", node,
                 j->aggressive ? "aggressive" : "graceful", d->total_sessions);
        json_t *doc = json_object();
        if (doc) {
            json_object_set_new(doc, "message", json_string("drain started"));
            json_object_set_new(doc, "node_id", json_string(node));
            json_object_set_new(doc, "mode",
                                json_string(j->aggressive ? "aggressive" : "graceful"));
            json_object_set_new(doc, "total_sessions", json_integer(d->total_sessions));
        }
        ctl_answer(j, 202, doc);
        ctl_drain_event(c, "drain.started", j->instance);
        ctl_drain_round(c, j->instance);
    } else if (c) {
        struct api_drain *d = &c->drains[j->instance];
        struct ctl_drain *ds = &c->dstate[j->instance];
        ds->generation++; /* rounds under way are ignored from now on */
        ds->next_round_ms = 0;
        ds->round_running = false;
        d->state = API_DRAIN_CANCELLED;
        d->waiting_playback = 0;
        d->ended_us = clock_wall_us();
        log_info("drain of %s cancelled: it takes new sessions again", node);
        json_t *doc = json_object();
        if (doc) {
            json_object_set_new(doc, "message", json_string("drain cancelled"));
            json_object_set_new(doc, "node_id", json_string(node));
            json_object_set_new(doc, "state", json_string("cancelled"));
        }
        ctl_answer(j, 200, doc);
        ctl_drain_event(c, "drain.cancelled", j->instance);
    }
    free(a);
    ctl_job_unref(j);
}

static void ctl_drain_flag(ctl_t *c, enum ctl_kind kind, int instance, bool aggressive,
                           http_call_t *call, struct http_response *resp) {
    if (instance < 0 || instance >= API_MAX_MEDIAD) {
        ctl_error_now(resp, 404, "no such rtp manager");
        return;
    }
    if (kind == CTL_DRAIN_ON && c->drains[instance].state == API_DRAIN_DRAINING) {
        ctl_error_now(resp, 409, "a drain of this rtp manager is under way");
        return;
    }
    ipc_chan_t *ch = worker_peer_role_instance(c->w, SB_ROLE_mediad, instance);
    if (!ch) {
        char text[64];
        snprintf(text, sizeof text, "mediad-%d is not connected", instance);
        ctl_error_now(resp, 503, text);
        return;
    }
    struct ctl_job *j = ctl_job_new(c, kind, call);
    if (!j) {
        ctl_error_now(resp, 500, NULL);
        return;
    }
    j->instance = instance;
    j->aggressive = aggressive;
    Sb__MediaDrainRequest rq = SB__MEDIA_DRAIN_REQUEST__INIT;
    rq.on = kind == CTL_DRAIN_ON;
    struct ctl_ask *a = ctl_ask_new(j, ch, instance);
    if (!ctl_ask_sent(j, a,
                      a ? ipc_request_media_drain(ch, &rq, ctl_on_drain_flag, a, CTL_TIMEOUT_MS)
                        : -1)) {
        j->call = NULL;
        ctl_job_free(j);
        ctl_error_now(resp, 503, "cannot send to mediad");
        return;
    }
    ctl_defer(j, resp);
}

void ctl_drain_start(ctl_t *c, int instance, bool aggressive, http_call_t *call,
                     struct http_response *resp) {
    ctl_drain_flag(c, CTL_DRAIN_ON, instance, aggressive, call, resp);
}

void ctl_drain_cancel(ctl_t *c, int instance, http_call_t *call, struct http_response *resp) {
    ctl_drain_flag(c, CTL_DRAIN_OFF, instance, false, call, resp);
}

/* ---- the rest ---- */

/* The job's last callback came with the ctl still there: the aggregate answers. */
static void ctl_finish(struct ctl_job *j) {
    switch (j->kind) {
    case CTL_SESSIONS:
        ctl_finish_sessions(j);
        break;
    case CTL_RELOAD:
        ctl_finish_reload(j);
        break;
    case CTL_MIGRATE:
        ctl_finish_migrate(j);
        break;
    default:
        break; /* answered by their callbacks */
    }
}

ctl_t *ctl_new(worker_t *w, events_t *events) {
    ctl_t *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->w = w;
    c->events = events;
    return c;
}

void ctl_free(ctl_t *c) {
    if (!c)
        return;
    /* Jobs in flight finish without us: their callbacks (replies, or the NULL of a
     * closing channel or Redis link) only free them; waiting calls are answered by the
     * HTTP server's stop. */
    for (struct ctl_job *j = c->jobs; j; j = j->next)
        j->ctl = NULL;
    free(c);
}

void ctl_tick(ctl_t *c, int64_t now_mono_ms) {
    for (struct ctl_job *j = c->jobs; j; j = j->next)
        if (j->call && now_mono_ms >= j->deadline_ms)
            ctl_answer_error(j, 503, "no answer in time");
    for (int i = 0; i < API_MAX_MEDIAD; i++)
        if (c->drains[i].state == API_DRAIN_DRAINING && c->dstate[i].next_round_ms &&
            now_mono_ms >= c->dstate[i].next_round_ms)
            ctl_drain_round(c, i);
}

const struct api_drain *ctl_drains(const ctl_t *c) {
    return c->drains;
}
