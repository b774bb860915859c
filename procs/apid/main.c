/*
 * apid - the REST admin worker: HTTP on the sockets master opened for api_listen
 * ("http0", "http1", ...). api.c decides every answer; this file does the I/O it names:
 * Redis reads and writes for the registrations, the event stream (Server-Sent Events fed
 * by a SUBSCRIBE to sb:events and by a watch of the process table), the dashboard files
 * compiled in from procs/apid/www/ (www.h).
 */
#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "cfg.h"
#include "clock.h"
#include "http.h"
#include "log.h"
#include "redis.h"
#include "worker.h"
#include "www.h"

_Static_assert(HTTP_BODY_UNKNOWN == API_BODY_UNKNOWN, "body length passed through unchanged");
_Static_assert(HTTP_MAX_BODY == API_MAX_BODY, "one body cap");

#define APID_EVENTS_CHANNEL "sb:events"
#define APID_TICK_MS 200   /* process-table watch */
#define APID_COUNT_MS 1000 /* registrations counted in Redis for stats and metrics... */
#define APID_COUNT_DUTY 20 /* ...but Redis spends at most 1/20 of its time on it */
#define APID_COUNT_MAX_MS 60000
#define APID_SCAN_BATCH "1000"
#define APID_REDIS_TIMEOUT_MS 2000 /* a request Redis has not answered by then gets a 503 */

/* Removes one AOR, or one binding of it, in one atomic step, and publishes what went
 * (routerd's Lua script publishes the same events for REGISTERs). Returns the count. */
static const char apid_unregister_lua[] =
    "local uris\n"
    "if ARGV[1] == '' then uris = redis.call('HKEYS', KEYS[1])\n"
    "elseif redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then uris = {ARGV[1]}\n"
    "else uris = {} end\n"
    "if #uris == 0 then return 0 end\n"
    "if ARGV[1] == '' then redis.call('DEL', KEYS[1], KEYS[2])\n"
    "else redis.call('HDEL', KEYS[1], ARGV[1]); redis.call('ZREM', KEYS[2], ARGV[1]) end\n"
    "for _, u in ipairs(uris) do\n"
    "  redis.call('PUBLISH', 'sb:events', cjson.encode({type='registration.removed',\n"
    "    aor=ARGV[2], contact=u, expires=0, node_id=ARGV[3], ts_ms=tonumber(ARGV[4])}))\n"
    "end\n"
    "return #uris\n";

struct apid_client {
    struct apid *a;
    http_call_t *call;
    struct apid_client *prev, *next;
};

enum apid_scan_mode { APID_SCAN_LIST, APID_SCAN_COUNT };

/* One walk over the registration keys: SCAN, then one read per AOR, pipelined. */
struct apid_read {
    struct apid_scan *scan;
    size_t index;
};

/* A request waiting for a LIST walk; several requests share one walk. */
struct apid_waiter {
    struct apid_scan *scan;
    http_call_t *call;
    struct apid_waiter *prev, *next;
};

struct apid_scan {
    struct apid *a;              /* NULL once apid stopped: finish quietly */
    struct apid_waiter *waiters; /* LIST: the requests to answer (clients still there) */
    enum apid_scan_mode mode;
    char **keys;
    size_t nkeys, cap;
    bool truncated;
    bool failed;
    size_t outstanding;      /* replies still to come */
    json_t *list;            /* LIST: entries */
    struct apid_read *reads; /* one per key: which key a reply answers */
    int64_t count;           /* COUNT: bindings */
    int64_t now_ms;
    int64_t started_mono_ms;
    struct apid_scan *prev, *next;
};

/* DELETE of a registration: the Redis reply answers the call. */
struct apid_unreg {
    struct apid *a;
    http_call_t *call;
    char *aor;
    int64_t started_mono_ms;
    struct apid_unreg *prev, *next;
};

struct apid {
    worker_t *w;
    http_server_t *http;
    rds_t *sub; /* the SUBSCRIBE connection (a second one: pub/sub mode) */
    uv_timer_t tick;
    bool tick_open;
    struct api_proc_seen seen[SHM_MAX_PROCS];
    bool primed;
    uint64_t event_id;
    int64_t last_keepalive_ms;
    int64_t last_count_ms;
    int64_t count_interval_ms; /* APID_COUNT_MS, longer when a count walk is slow */
    int64_t registrations;     /* last count, -1 unknown */
    bool counting;
    struct apid_client *clients;
    size_t nclients;
    struct apid_scan *scans;
    struct apid_scan *listing; /* the LIST walk new requests join, NULL when none */
    struct apid_unreg *unregs;
};

#define APID_LINK(head, x)                                                                         \
    do {                                                                                           \
        (x)->prev = NULL;                                                                          \
        (x)->next = (head);                                                                        \
        if (head)                                                                                  \
            (head)->prev = (x);                                                                    \
        (head) = (x);                                                                              \
    } while (0)
#define APID_UNLINK(head, x)                                                                       \
    do {                                                                                           \
        if ((x)->prev)                                                                             \
            (x)->prev->next = (x)->next;                                                           \
        else                                                                                       \
            (head) = (x)->next;                                                                    \
        if ((x)->next)                                                                             \
            (x)->next->prev = (x)->prev;                                                           \
    } while (0)

static void apid_answer_json(http_call_t *call, int status, json_t *doc) {
    struct http_response resp = {.status = status, .content_type = "application/json"};
    resp.body = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
    if (!resp.body) {
        resp.status = 500;
        resp.body = api_error_body(500);
    }
    resp.body_len = resp.body ? strlen(resp.body) : 0;
    http_call_answer(call, &resp);
}

static void apid_answer_error(http_call_t *call, int status, const char *text) {
    struct http_response resp = {.status = status, .content_type = "application/json"};
    resp.body = api_error_text(status, text);
    resp.body_len = resp.body ? strlen(resp.body) : 0;
    http_call_answer(call, &resp);
}

/* ---- events ---- */

static void apid_broadcast(struct apid *a, const char *text, size_t len) {
    struct apid_client *next;
    for (struct apid_client *c = a->clients; c; c = next) {
        next = c->next;
        if (http_stream_push(c->call, text, len) == -ENOBUFS) {
            shm_count(a->w->slot, SHM_C_http_sse_dropped, 1);
            log_ratelimited(LOG_WARN, "events: a client reads too slowly: dropped");
        }
    }
}

static void apid_emit(void *arg, const char *type, const char *data) {
    struct apid *a = arg;
    size_t len;
    char *text = api_sse_format(type, data, ++a->event_id, &len);
    if (!text)
        return;
    shm_count(a->w->slot, SHM_C_api_events, 1);
    apid_broadcast(a, text, len);
    free(text);
}

static void apid_client_closed(void *arg) {
    struct apid_client *c = arg;
    struct apid *a = c->a;
    if (a) {
        APID_UNLINK(a->clients, c);
        a->nclients--;
        shm_gauge(a->w->slot, SHM_C_http_sse_clients, a->nclients);
    }
    free(c);
}

static void apid_on_message(redisAsyncContext *ac, void *reply, void *priv) {
    redisReply *r = reply;
    (void)ac;
    if (!r) /* the connection went away (or is being freed): priv may be gone */
        return;
    struct apid *a = priv;
    if (r->type != REDIS_REPLY_ARRAY)
        return;
    if (r->elements != 3 || r->element[0]->type != REDIS_REPLY_STRING ||
        strcmp(r->element[0]->str, "message") != 0 || r->element[2]->type != REDIS_REPLY_STRING)
        return; /* the subscribe confirmation */
    size_t len;
    char *text =
        api_sse_from_message(r->element[2]->str, r->element[2]->len, a->event_id + 1, &len);
    if (!text) {
        log_ratelimited(LOG_WARN, "events: a message on %s is not an event: ignored",
                        APID_EVENTS_CHANNEL);
        return;
    }
    a->event_id++;
    shm_count(a->w->slot, SHM_C_api_events, 1);
    apid_broadcast(a, text, len);
    free(text);
}

static void apid_sub_state(rds_t *r, bool up, const char *why, void *arg) {
    struct apid *a = arg;
    if (!up) {
        log_ratelimited(LOG_WARN, "events: Redis subscription lost: %s", why ? why : "?");
        return;
    }
    redisAsyncContext *ac = rds_context(r);
    if (ac &&
        redisAsyncCommand(ac, apid_on_message, a, "SUBSCRIBE %s", APID_EVENTS_CHANNEL) != REDIS_OK)
        log_ratelimited(LOG_WARN, "events: cannot subscribe to %s", APID_EVENTS_CHANNEL);
}

/* ---- registrations ---- */

static void apid_scan_free(struct apid_scan *s) {
    if (s->a)
        APID_UNLINK(s->a->scans, s);
    for (size_t i = 0; i < s->nkeys; i++)
        free(s->keys[i]);
    free(s->keys);
    free(s->reads);
    json_decref(s->list);
    free(s);
}

static void apid_waiter_closed(void *arg) {
    struct apid_waiter *wt = arg; /* the client went away; the walk goes on for the others */
    APID_UNLINK(wt->scan->waiters, wt);
    free(wt);
}

/* Answers every waiter of s with status and body (copied for each), or an error text. */
static void apid_scan_answer(struct apid_scan *s, int status, const char *body, const char *error) {
    if (s->a && s->a->listing == s)
        s->a->listing = NULL; /* a request from now on starts a fresh walk */
    while (s->waiters) {
        struct apid_waiter *wt = s->waiters;
        APID_UNLINK(s->waiters, wt);
        if (error) {
            apid_answer_error(wt->call, status, error);
        } else {
            struct http_response resp = {.status = status, .content_type = "application/json"};
            resp.body = body ? strdup(body) : NULL;
            if (!resp.body) {
                resp.status = 500;
                resp.body = api_error_body(500);
            }
            resp.body_len = resp.body ? strlen(resp.body) : 0;
            http_call_answer(wt->call, &resp);
        }
        free(wt);
    }
}

static void apid_scan_finish(struct apid_scan *s) {
    struct apid *a = s->a;
    if (s->mode == APID_SCAN_COUNT) {
        if (a) {
            a->counting = false;
            if (!s->failed)
                a->registrations = s->count;
            int64_t took = clock_mono_us() / 1000 - s->started_mono_ms;
            int64_t every = took * APID_COUNT_DUTY;
            a->count_interval_ms = every < APID_COUNT_MS       ? APID_COUNT_MS
                                   : every > APID_COUNT_MAX_MS ? APID_COUNT_MAX_MS
                                                               : every;
        }
    } else if (s->failed) {
        apid_scan_answer(s, 503, NULL, "Redis is unavailable");
    } else if (s->waiters) {
        api_registrations_sort(s->list);
        json_t *doc = json_object();
        char *text = NULL;
        if (doc && json_object_set(doc, "registrations", s->list) == 0 &&
            json_object_set_new(doc, "truncated", json_boolean(s->truncated)) == 0)
            text = json_dumps(doc, JSON_COMPACT);
        json_decref(doc);
        apid_scan_answer(s, 200, text, NULL); /* one encoding for every waiter */
        free(text);
    } else if (s->a && s->a->listing == s) {
        s->a->listing = NULL;
    }
    apid_scan_free(s);
}

static void apid_on_read(redisAsyncContext *ac, void *reply, void *priv);
static void apid_on_scan(redisAsyncContext *ac, void *reply, void *priv);

static redisAsyncContext *apid_redis(struct apid_scan *s) {
    return s->a && s->a->w->redis ? rds_context(s->a->w->redis) : NULL;
}

/* Pipelines one read per key: HGETALL (list) or ZCOUNT of the live bindings (count). */
static void apid_scan_reads(struct apid_scan *s) {
    redisAsyncContext *ac = apid_redis(s);
    if (!ac) {
        s->failed = true;
        apid_scan_finish(s);
        return;
    }
    if (s->nkeys > 0 && !(s->reads = calloc(s->nkeys, sizeof *s->reads))) {
        s->failed = true;
        apid_scan_finish(s);
        return;
    }
    s->outstanding = 1; /* held until every read is sent */
    for (size_t i = 0; i < s->nkeys; i++) {
        s->reads[i] = (struct apid_read){.scan = s, .index = i};
        int rc = s->mode == APID_SCAN_LIST
                     ? redisAsyncCommand(ac, apid_on_read, &s->reads[i], "HGETALL %s", s->keys[i])
                     : redisAsyncCommand(ac, apid_on_read, &s->reads[i], "ZCOUNT %s (%lld +inf",
                                         s->keys[i], (long long)s->now_ms);
        if (rc != REDIS_OK) {
            s->failed = true;
            break;
        }
        s->outstanding++;
    }
    if (--s->outstanding == 0)
        apid_scan_finish(s);
}

static void apid_scan_next(struct apid_scan *s, const char *cursor) {
    redisAsyncContext *ac = apid_redis(s);
    const char *match = s->mode == APID_SCAN_LIST ? "sb:reg:*" : "sb:regexp:*";
    if (!ac || redisAsyncCommand(ac, apid_on_scan, s, "SCAN %s MATCH %s COUNT %s", cursor, match,
                                 APID_SCAN_BATCH) != REDIS_OK) {
        s->failed = true;
        apid_scan_finish(s);
    }
}

static void apid_on_scan(redisAsyncContext *ac, void *reply, void *priv) {
    struct apid_scan *s = priv;
    redisReply *r = reply;
    (void)ac;
    if (!r || !s->a || r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
        r->element[0]->type != REDIS_REPLY_STRING || r->element[1]->type != REDIS_REPLY_ARRAY) {
        if (s->a && r)
            log_ratelimited(LOG_WARN, "registrations: unexpected SCAN reply");
        s->failed = true;
        apid_scan_finish(s);
        return;
    }
    redisReply *keys = r->element[1];
    for (size_t i = 0; i < keys->elements; i++) {
        redisReply *k = keys->element[i];
        size_t aor_len;
        if (k->type != REDIS_REPLY_STRING || !api_aor_of_key(k->str, k->len, &aor_len))
            continue;
        if (s->nkeys == API_MAX_AORS) {
            s->truncated = true;
            break;
        }
        if (s->nkeys == s->cap) {
            size_t cap = s->cap ? s->cap * 2 : 64;
            char **grown = realloc(s->keys, cap * sizeof *grown);
            if (!grown) {
                s->failed = true;
                apid_scan_finish(s);
                return;
            }
            s->keys = grown;
            s->cap = cap;
        }
        if (!(s->keys[s->nkeys] = strndup(k->str, k->len))) {
            s->failed = true;
            apid_scan_finish(s);
            return;
        }
        s->nkeys++;
    }
    if (strcmp(r->element[0]->str, "0") == 0 || s->truncated)
        apid_scan_reads(s);
    else
        apid_scan_next(s, r->element[0]->str);
}

static void apid_on_read(redisAsyncContext *ac, void *reply, void *priv) {
    struct apid_read *rd = priv;
    struct apid_scan *s = rd->scan;
    redisReply *r = reply;
    (void)ac;
    if (!r || r->type == REDIS_REPLY_ERROR) {
        s->failed = true;
    } else if (s->mode == APID_SCAN_COUNT && r->type == REDIS_REPLY_INTEGER) {
        s->count += r->integer;
    } else if (s->mode == APID_SCAN_LIST && r->type == REDIS_REPLY_ARRAY && !s->failed) {
        const char *key = s->keys[rd->index];
        size_t aor_len;
        const char *aor = api_aor_of_key(key, strlen(key), &aor_len);
        for (size_t i = 0; aor && i + 1 < r->elements; i += 2) {
            redisReply *f = r->element[i], *v = r->element[i + 1];
            if (f->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING)
                continue;
            if (api_registration_append(s->list, aor, aor_len, f->str, f->len, v->str, v->len,
                                        s->now_ms) < 0)
                s->failed = true;
        }
    }
    if (--s->outstanding == 0)
        apid_scan_finish(s);
}

/* Defers resp until s answers; 0, or -1 when out of memory (resp untouched). */
static int apid_scan_wait(struct apid_scan *s, http_call_t *call, struct http_response *resp) {
    struct apid_waiter *wt = calloc(1, sizeof *wt);
    if (!wt)
        return -1;
    wt->scan = s;
    wt->call = call;
    APID_LINK(s->waiters, wt);
    resp->defer = true;
    resp->on_close = apid_waiter_closed;
    resp->close_arg = wt;
    return 0;
}

static void apid_scan_start(struct apid *a, enum apid_scan_mode mode, http_call_t *call,
                            struct http_response *resp) {
    /* Requests that come while a walk is under way share it: a page polled by many
     * browsers costs Redis one walk at a time, not one per request. */
    if (mode == APID_SCAN_LIST && a->listing) {
        if (apid_scan_wait(a->listing, call, resp) < 0) {
            resp->status = 500;
            resp->body = api_error_body(500);
        }
        return;
    }
    struct apid_scan *s = calloc(1, sizeof *s);
    if (s && mode == APID_SCAN_LIST && !(s->list = json_array())) {
        free(s);
        s = NULL;
    }
    if (!s) {
        if (resp) {
            resp->status = 500;
            resp->body = api_error_body(500);
        }
        return;
    }
    s->a = a;
    s->mode = mode;
    s->now_ms = clock_wall_us() / 1000;
    s->started_mono_ms = clock_mono_us() / 1000;
    redisAsyncContext *ac = a->w->redis ? rds_context(a->w->redis) : NULL;
    const char *match = mode == APID_SCAN_LIST ? "sb:reg:*" : "sb:regexp:*";
    if (!ac || redisAsyncCommand(ac, apid_on_scan, s, "SCAN 0 MATCH %s COUNT %s", match,
                                 APID_SCAN_BATCH) != REDIS_OK) {
        json_decref(s->list);
        free(s);
        if (resp) {
            resp->status = 503;
            resp->body = api_error_text(503, "Redis is unavailable");
        }
        return;
    }
    APID_LINK(a->scans, s);
    if (resp) {
        a->listing = s;
        if (apid_scan_wait(s, call, resp) < 0) {
            resp->status = 500; /* the walk goes on without waiters and ends by itself */
            resp->body = api_error_body(500);
        }
    } else {
        a->counting = true;
    }
}

static void apid_unreg_free(struct apid_unreg *u) {
    if (u->a)
        APID_UNLINK(u->a->unregs, u);
    free(u->aor);
    free(u);
}

static void apid_unreg_call_closed(void *arg) {
    struct apid_unreg *u = arg;
    u->call = NULL;
}

static void apid_on_unregister(redisAsyncContext *ac, void *reply, void *priv) {
    struct apid_unreg *u = priv;
    redisReply *r = reply;
    (void)ac;
    if (u->call) {
        http_call_t *call = u->call;
        u->call = NULL;
        if (!r || r->type != REDIS_REPLY_INTEGER) {
            if (r && r->type == REDIS_REPLY_ERROR)
                log_ratelimited(LOG_WARN, "unregister: Redis: %s", r->str);
            apid_answer_error(call, 503, "Redis is unavailable");
        } else if (r->integer == 0) {
            apid_answer_error(call, 404, "no such registration");
        } else {
            json_t *doc = json_object();
            if (doc) {
                json_object_set_new(doc, "aor", json_string(u->aor));
                json_object_set_new(doc, "removed", json_integer(r->integer));
            }
            apid_answer_json(call, 200, doc);
            json_decref(doc);
        }
    }
    apid_unreg_free(u);
}

static void apid_unregister(struct apid *a, struct api_answer *ans, http_call_t *call,
                            struct http_response *resp) {
    redisAsyncContext *ac = a->w->redis ? rds_context(a->w->redis) : NULL;
    struct apid_unreg *u = ac ? calloc(1, sizeof *u) : NULL;
    if (!u) {
        resp->status = 503;
        resp->body = api_error_text(503, "Redis is unavailable");
        return;
    }
    u->a = a;
    u->started_mono_ms = clock_mono_us() / 1000;
    u->aor = ans->aor;
    ans->aor = NULL;
    char key[API_MAX_AOR + 16], zkey[API_MAX_AOR + 16], ts[24];
    snprintf(key, sizeof key, "sb:reg:{%s}", u->aor);
    snprintf(zkey, sizeof zkey, "sb:regexp:{%s}", u->aor);
    snprintf(ts, sizeof ts, "%lld", (long long)(clock_wall_us() / 1000));
    const char *contact = ans->contact ? ans->contact : "";
    const char *node = cfg_str(a->w->cfg, CFG_node_id);
    if (redisAsyncCommand(ac, apid_on_unregister, u, "EVAL %s 2 %s %s %s %s %s %s",
                          apid_unregister_lua, key, zkey, contact, u->aor, node, ts) != REDIS_OK) {
        free(u->aor);
        free(u);
        resp->status = 503;
        resp->body = api_error_text(503, "Redis is unavailable");
        return;
    }
    APID_LINK(a->unregs, u);
    u->call = call;
    resp->defer = true;
    resp->on_close = apid_unreg_call_closed;
    resp->close_arg = u;
}

/* ---- the timer: process watch, keep-alives, the registration count ---- */

/* Requests Redis leaves unanswered (stalled, not disconnected) get their 503 here; the
 * late reply then finds no call and only frees its state. */
static void apid_expire_calls(struct apid *a, int64_t now_ms) {
    for (struct apid_scan *s = a->scans; s; s = s->next)
        if (s->mode == APID_SCAN_LIST && now_ms - s->started_mono_ms >= APID_REDIS_TIMEOUT_MS)
            apid_scan_answer(s, 503, NULL, "Redis did not answer in time");
    for (struct apid_unreg *u = a->unregs; u; u = u->next) {
        if (u->call && now_ms - u->started_mono_ms >= APID_REDIS_TIMEOUT_MS) {
            http_call_t *call = u->call;
            u->call = NULL;
            apid_answer_error(call, 503, "Redis did not answer in time");
        }
    }
}

static void apid_on_tick(uv_timer_t *t) {
    struct apid *a = t->data;
    int64_t now_us = clock_wall_us();
    int64_t now_ms = clock_mono_us() / 1000;
    apid_expire_calls(a, now_ms);
    api_proc_changes(a->seen, a->w->shm, !a->primed, now_us, apid_emit, a);
    a->primed = true;
    /* A comment line, so clients and proxies see life, and a vanished client is noticed
     * (a suspended stream learns of it only when it writes). */
    if (now_ms - a->last_keepalive_ms >= cfg_time_ms(a->w->cfg, CFG_api_events_keepalive)) {
        a->last_keepalive_ms = now_ms;
        static const char ka[] = ": keep-alive\n\n";
        apid_broadcast(a, ka, sizeof ka - 1);
    }
    if (!a->counting && now_ms - a->last_count_ms >= a->count_interval_ms) {
        a->last_count_ms = now_ms;
        if (a->w->redis && rds_is_up(a->w->redis))
            apid_scan_start(a, APID_SCAN_COUNT, NULL, NULL);
        else
            a->registrations = -1;
    }
}

/* ---- requests ---- */

static void apid_file(const struct http_request *req, struct http_response *resp) {
    const char *path = req->url;
    if (strcmp(path, "/") == 0)
        path = "/index.html";
    const struct www_file *f = www_find(path);
    if (!f) {
        resp->status = 404;
        resp->body = api_error_body(404);
        resp->body_len = resp->body ? strlen(resp->body) : 0;
        resp->content_type = "application/json";
        return;
    }
    resp->body = malloc(f->len ? f->len : 1);
    if (!resp->body) {
        resp->status = 500;
        return;
    }
    memcpy(resp->body, f->data, f->len);
    resp->body_len = f->len;
    resp->content_type = f->content_type;
    resp->status = 200;
}

static void apid_events_open(struct apid *a, http_call_t *call, struct http_response *resp) {
    struct apid_client *c = calloc(1, sizeof *c);
    if (!c) {
        resp->status = 500;
        resp->body = api_error_body(500);
        return;
    }
    c->a = a;
    c->call = call;
    APID_LINK(a->clients, c);
    a->nclients++;
    shm_gauge(a->w->slot, SHM_C_http_sse_clients, a->nclients);
    resp->stream = true;
    resp->on_close = apid_client_closed;
    resp->close_arg = c;
    /* First bytes: the reconnect delay, and a comment so the client sees the stream. */
    resp->body = strdup("retry: 2000\n: switchboard events\n\n");
}

static void apid_handle(void *arg, const struct http_request *req, struct http_response *resp) {
    struct apid *a = arg;
    worker_t *w = a->w;
    struct api_env env = {
        .shm = w->shm,
        .node_id = cfg_str(w->cfg, CFG_node_id), /* read per request: follows reloads */
        .cfg = w->cfg,
        .token = cfg_str(w->cfg, CFG_api_token),
        .redis_up = w->redis && rds_is_up(w->redis),
        .registrations = a->registrations,
        .now_wall_us = clock_wall_us(),
        .now_mono_us = clock_mono_us(),
    };
    struct api_request areq = {
        .method = req->method,
        .url = req->url,
        .body_len = req->body_len,
        .body = req->body,
        .authorization = req->authorization,
        .access_token = req->access_token,
    };
    struct api_answer ans;
    api_handle(&env, &areq, &ans);
    shm_count(w->slot, SHM_C_http_requests, 1);
    if (ans.status == 401)
        shm_count(w->slot, SHM_C_api_auth_failures, 1); /* the token itself is never logged */
    resp->status = ans.status;
    resp->content_type = ans.content_type;
    resp->allow = ans.allow;
    resp->www_authenticate = ans.www_authenticate;
    switch (ans.op) {
    case API_OP_NONE:
        resp->body = ans.body;
        ans.body = NULL;
        if (resp->status == 500)
            log_ratelimited(LOG_ERROR, "http: out of memory building an answer");
        break;
    case API_OP_REG_LIST:
        apid_scan_start(a, APID_SCAN_LIST, req->call, resp);
        break;
    case API_OP_REG_DELETE:
        apid_unregister(a, &ans, req->call, resp);
        break;
    case API_OP_EVENTS:
        apid_events_open(a, req->call, resp);
        break;
    case API_OP_FILE:
        apid_file(req, resp);
        break;
    }
    if (ans.op != API_OP_FILE) {
        if (!resp->content_type)
            resp->content_type = "application/json";
        resp->body_len = resp->body ? strlen(resp->body) : 0;
    }
    api_answer_fini(&ans);
}

static int apid_init(worker_t *w) {
    int fds[CFG_MAX_ADDRS];
    size_t nfds = 0;
    for (; nfds < CFG_MAX_ADDRS; nfds++) {
        char name[16];
        snprintf(name, sizeof name, "http%zu", nfds);
        if ((fds[nfds] = worker_take_fd(w, name)) < 0)
            break;
    }
    if (nfds == 0)
        log_fatal("no listening socket from master (descriptor http0): check api_listen");
    struct apid *a = calloc(1, sizeof *a);
    if (!a)
        log_fatal("out of memory");
    a->w = w;
    a->registrations = -1;
    a->count_interval_ms = APID_COUNT_MS;
    char err[256];
    a->http = http_start(w->loop, fds, nfds, apid_handle, a, err, sizeof err);
    if (!a->http)
        log_fatal("api_listen: %s", err);
    /* The subscriber needs a connection of its own: one in pub/sub mode runs no other
     * command. Same address as the worker's link (already made relative to the chroot). */
    if (w->redis) {
        a->sub = rds_open(w->loop, rds_address(w->redis), NULL, apid_sub_state, a, err, sizeof err);
        if (!a->sub)
            log_fatal("redis_address: %s", err);
    }
    uv_timer_init(w->loop, &a->tick);
    a->tick.data = a;
    a->tick_open = true;
    uv_timer_start(&a->tick, apid_on_tick, 0, APID_TICK_MS);
    w->role_ctx = a;
    log_info("serving HTTP on %zu socket%s%s", nfds, nfds == 1 ? "" : "s",
             *cfg_str(w->cfg, CFG_api_token) ? " (token required)" : "");
    return 0;
}

static void apid_drained(void *arg) {
    struct apid *a = arg;
    worker_drained(a->w);
}

static void apid_drain(worker_t *w) {
    struct apid *a = w->role_ctx;
    if (a && a->http)
        http_quiesce(a->http, apid_drained, a); /* ends the event streams too */
    else
        worker_drained(w);
}

static void apid_tick_closed(uv_handle_t *h) {
    free(h->data);
}

static void apid_stop(worker_t *w) {
    struct apid *a = w->role_ctx;
    if (!a)
        return;
    /* Redis work in flight finishes without us (w->redis is closed after this). */
    for (struct apid_scan *s = a->scans; s; s = s->next)
        s->a = NULL;
    a->listing = NULL;
    for (struct apid_unreg *u = a->unregs; u; u = u->next)
        u->a = NULL;
    for (struct apid_client *c = a->clients; c; c = c->next)
        c->a = NULL;
    if (a->http)
        http_stop(a->http); /* on_close runs now for streams and deferred calls */
    if (a->sub)
        rds_close(a->sub); /* pending SUBSCRIBE callbacks get NULL and touch nothing */
    w->role_ctx = NULL;
    if (a->tick_open)
        uv_close((uv_handle_t *)&a->tick, apid_tick_closed); /* frees a */
    else
        free(a);
}

static const struct worker_ops apid_ops = {
    .role = SB_ROLE_apid,
    .init = apid_init,
    .drain = apid_drain,
    .stop = apid_stop,
};

int main(int argc, char **argv) {
    return worker_main(argc, argv, &apid_ops);
}
