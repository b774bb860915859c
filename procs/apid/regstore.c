/* regstore - see regstore.h */
#include "regstore.h"

#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_records.h"
#include "clock.h"
#include "keys.h"
#include "log.h"

#define REGSTORE_COUNT_MS 1000 /* bindings counted for stats and metrics every second... */
#define REGSTORE_COUNT_DUTY 20 /* ...but Redis spends at most 1/20 of its time on it */
#define REGSTORE_COUNT_MAX_MS 60000
#define REGSTORE_SCAN_BATCH "1000"
#define REGSTORE_TIMEOUT_MS 2000 /* a request Redis has not answered by then gets a 503 */

#define RS_LINK(head, x)                                                                           \
    do {                                                                                           \
        (x)->prev = NULL;                                                                          \
        (x)->next = (head);                                                                        \
        if (head)                                                                                  \
            (head)->prev = (x);                                                                    \
        (head) = (x);                                                                              \
    } while (0)
#define RS_UNLINK(head, x)                                                                         \
    do {                                                                                           \
        if ((x)->prev)                                                                             \
            (x)->prev->next = (x)->next;                                                           \
        else                                                                                       \
            (head) = (x)->next;                                                                    \
        if ((x)->next)                                                                             \
            (x)->next->prev = (x)->prev;                                                           \
    } while (0)

struct regstore {
    rds_t *redis;                  /* borrowed: the worker's link */
    struct regstore_scan *scans;   /* walks under way */
    struct regstore_scan *listing; /* the LIST walk new requests join, NULL when none */
    struct regstore_unreg *unregs;
    int64_t registrations; /* last count, -1 unknown */
    bool counting;
    int64_t last_count_ms;
    int64_t count_interval_ms; /* REGSTORE_COUNT_MS, longer when a count walk is slow */
};

/* Removes one AOR, or one binding of it, atomically, and publishes what went
 * (procs/apid/regstore_unregister.lua, compiled in). Returns the count. */
extern const char regstore_unregister_lua[];

enum regstore_mode { REGSTORE_LIST, REGSTORE_COUNT };

/* Which key of a walk a pipelined reply answers. */
struct regstore_read {
    struct regstore_scan *scan;
    size_t index;
};

/* A request waiting for a LIST walk; several requests share one walk. */
struct regstore_waiter {
    struct regstore_scan *scan;
    http_call_t *call;
    struct regstore_waiter *prev, *next;
};

/* One walk over the registration keys: SCAN, then one read per AOR, pipelined. */
struct regstore_scan {
    struct regstore *rs;             /* NULL once the store is freed: finish quietly */
    struct regstore_waiter *waiters; /* LIST: the requests to answer (clients still there) */
    enum regstore_mode mode;
    char **keys;
    size_t nkeys, cap;
    bool truncated;
    bool failed;
    size_t outstanding;          /* replies still to come */
    json_t *list;                /* LIST: entries */
    struct regstore_read *reads; /* one per key: which key a reply answers */
    int64_t count;               /* COUNT: bindings */
    int64_t now_ms;
    int64_t started_mono_ms;
    struct regstore_scan *prev, *next;
};

/* DELETE of a registration: the Redis reply answers the call. */
struct regstore_unreg {
    struct regstore *rs;
    http_call_t *call;
    char *aor;
    int64_t started_mono_ms;
    struct regstore_unreg *prev, *next;
};

static void regstore_answer_json(http_call_t *call, int status, json_t *doc) {
    struct http_response resp = {.status = status, .content_type = "application/json"};
    resp.body = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
    if (!resp.body) {
        resp.status = 500;
        resp.body = api_error_body(500);
    }
    resp.body_len = resp.body ? strlen(resp.body) : 0;
    http_call_answer(call, &resp);
}

static void regstore_answer_error(http_call_t *call, int status, const char *text) {
    struct http_response resp = {.status = status, .content_type = "application/json"};
    resp.body = api_error_text(status, text);
    resp.body_len = resp.body ? strlen(resp.body) : 0;
    http_call_answer(call, &resp);
}

static void regstore_scan_free(struct regstore_scan *s) {
    if (s->rs)
        RS_UNLINK(s->rs->scans, s);
    for (size_t i = 0; i < s->nkeys; i++)
        free(s->keys[i]);
    free(s->keys);
    free(s->reads);
    json_decref(s->list);
    free(s);
}

static void regstore_waiter_closed(void *arg) {
    struct regstore_waiter *wt = arg; /* the client went away; the walk goes on for the others */
    RS_UNLINK(wt->scan->waiters, wt);
    free(wt);
}

/* Answers every waiter of s with status and body (copied for each), or an error text. */
static void regstore_scan_answer(struct regstore_scan *s, int status, const char *body,
                                 const char *error) {
    if (s->rs && s->rs->listing == s)
        s->rs->listing = NULL; /* a request from now on starts a fresh walk */
    while (s->waiters) {
        struct regstore_waiter *wt = s->waiters;
        RS_UNLINK(s->waiters, wt);
        if (error) {
            regstore_answer_error(wt->call, status, error);
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

static void regstore_scan_finish(struct regstore_scan *s) {
    struct regstore *rs = s->rs;
    if (s->mode == REGSTORE_COUNT) {
        if (rs) {
            rs->counting = false;
            if (!s->failed)
                rs->registrations = s->count;
            int64_t took = clock_mono_us() / 1000 - s->started_mono_ms;
            int64_t every = took * REGSTORE_COUNT_DUTY;
            rs->count_interval_ms = every < REGSTORE_COUNT_MS       ? REGSTORE_COUNT_MS
                                    : every > REGSTORE_COUNT_MAX_MS ? REGSTORE_COUNT_MAX_MS
                                                                    : every;
        }
    } else if (s->failed) {
        regstore_scan_answer(s, 503, NULL, "Redis is unavailable");
    } else if (s->waiters) {
        api_registrations_sort(s->list);
        json_t *doc = json_object();
        char *text = NULL;
        if (doc && json_object_set(doc, "registrations", s->list) == 0 &&
            json_object_set_new(doc, "truncated", json_boolean(s->truncated)) == 0)
            text = json_dumps(doc, JSON_COMPACT);
        json_decref(doc);
        regstore_scan_answer(s, 200, text, NULL); /* one encoding for every waiter */
        free(text);
    } else if (s->rs && s->rs->listing == s) {
        s->rs->listing = NULL;
    }
    regstore_scan_free(s);
}

static void regstore_on_read(redisAsyncContext *ac, void *reply, void *priv);
static void regstore_on_scan(redisAsyncContext *ac, void *reply, void *priv);

/* Whether a binding record (routerd's JSON, docs/registrar.md) expires after now_ms. */
static bool regstore_record_live(const char *v, size_t len, int64_t now_ms) {
    static const char field[] = "\"expires_at_ms\":";
    const char *p = memmem(v, len, field, sizeof field - 1);
    if (!p)
        return false;
    p += sizeof field - 1;
    long long at = 0;
    for (; p < v + len && *p >= '0' && *p <= '9' && at < 1000000000000000LL; p++)
        at = at * 10 + (*p - '0');
    return at > now_ms;
}

static redisAsyncContext *regstore_redis(struct regstore_scan *s) {
    return s->rs && s->rs->redis ? rds_context(s->rs->redis) : NULL;
}

/* Pipelines one read per key: HGETALL (list) or HVALS (count: the records whose
 * expires_at_ms is still ahead). */
static void regstore_scan_reads(struct regstore_scan *s) {
    redisAsyncContext *ac = regstore_redis(s);
    if (!ac) {
        s->failed = true;
        regstore_scan_finish(s);
        return;
    }
    if (s->nkeys > 0 && !(s->reads = calloc(s->nkeys, sizeof *s->reads))) {
        s->failed = true;
        regstore_scan_finish(s);
        return;
    }
    s->outstanding = 1; /* held until every read is sent */
    for (size_t i = 0; i < s->nkeys; i++) {
        s->reads[i] = (struct regstore_read){.scan = s, .index = i};
        int rc =
            s->mode == REGSTORE_LIST
                ? redisAsyncCommand(ac, regstore_on_read, &s->reads[i], "HGETALL %s", s->keys[i])
                : redisAsyncCommand(ac, regstore_on_read, &s->reads[i], "HVALS %s", s->keys[i]);
        if (rc != REDIS_OK) {
            s->failed = true;
            break;
        }
        s->outstanding++;
    }
    if (--s->outstanding == 0)
        regstore_scan_finish(s);
}

static void regstore_scan_next(struct regstore_scan *s, const char *cursor) {
    redisAsyncContext *ac = regstore_redis(s);
    const char *match = SB_KEY_REG_ALL;
    if (!ac || redisAsyncCommand(ac, regstore_on_scan, s, "SCAN %s MATCH %s COUNT %s", cursor,
                                 match, REGSTORE_SCAN_BATCH) != REDIS_OK) {
        s->failed = true;
        regstore_scan_finish(s);
    }
}

static void regstore_on_scan(redisAsyncContext *ac, void *reply, void *priv) {
    struct regstore_scan *s = priv;
    redisReply *r = reply;
    (void)ac;
    if (!r || !s->rs || r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
        r->element[0]->type != REDIS_REPLY_STRING || r->element[1]->type != REDIS_REPLY_ARRAY) {
        if (s->rs && r)
            log_ratelimited(LOG_WARN, "registrations: unexpected SCAN reply");
        s->failed = true;
        regstore_scan_finish(s);
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
                regstore_scan_finish(s);
                return;
            }
            s->keys = grown;
            s->cap = cap;
        }
        if (!(s->keys[s->nkeys] = strndup(k->str, k->len))) {
            s->failed = true;
            regstore_scan_finish(s);
            return;
        }
        s->nkeys++;
    }
    if (strcmp(r->element[0]->str, "0") == 0 || s->truncated)
        regstore_scan_reads(s);
    else
        regstore_scan_next(s, r->element[0]->str);
}

static void regstore_on_read(redisAsyncContext *ac, void *reply, void *priv) {
    struct regstore_read *rd = priv;
    struct regstore_scan *s = rd->scan;
    redisReply *r = reply;
    (void)ac;
    if (!r || r->type == REDIS_REPLY_ERROR) {
        s->failed = true;
    } else if (s->mode == REGSTORE_COUNT && r->type == REDIS_REPLY_ARRAY) {
        for (size_t i = 0; i < r->elements; i++)
            if (r->element[i]->type == REDIS_REPLY_STRING &&
                regstore_record_live(r->element[i]->str, r->element[i]->len, s->now_ms))
                s->count++;
    } else if (s->mode == REGSTORE_LIST && r->type == REDIS_REPLY_ARRAY && !s->failed) {
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
        regstore_scan_finish(s);
}

/* Defers resp until s answers; 0, or -1 when out of memory (resp untouched). */
static int regstore_scan_wait(struct regstore_scan *s, http_call_t *call,
                              struct http_response *resp) {
    struct regstore_waiter *wt = calloc(1, sizeof *wt);
    if (!wt)
        return -1;
    wt->scan = s;
    wt->call = call;
    RS_LINK(s->waiters, wt);
    resp->defer = true;
    resp->on_close = regstore_waiter_closed;
    resp->close_arg = wt;
    return 0;
}

static void regstore_walk(struct regstore *rs, enum regstore_mode mode, http_call_t *call,
                          struct http_response *resp) {
    /* Requests that come while a walk is under way share it: a page polled by many
     * browsers costs Redis one walk at a time, not one per request. */
    if (mode == REGSTORE_LIST && rs->listing) {
        if (regstore_scan_wait(rs->listing, call, resp) < 0) {
            resp->status = 500;
            resp->body = api_error_body(500);
        }
        return;
    }
    struct regstore_scan *s = calloc(1, sizeof *s);
    if (s && mode == REGSTORE_LIST && !(s->list = json_array())) {
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
    s->rs = rs;
    s->mode = mode;
    s->now_ms = clock_wall_us() / 1000;
    s->started_mono_ms = clock_mono_us() / 1000;
    redisAsyncContext *ac = rs->redis ? rds_context(rs->redis) : NULL;
    const char *match = SB_KEY_REG_ALL;
    if (!ac || redisAsyncCommand(ac, regstore_on_scan, s, "SCAN 0 MATCH %s COUNT %s", match,
                                 REGSTORE_SCAN_BATCH) != REDIS_OK) {
        json_decref(s->list);
        free(s);
        if (resp) {
            resp->status = 503;
            resp->body = api_error_text(503, "Redis is unavailable");
        }
        return;
    }
    RS_LINK(rs->scans, s);
    if (resp) {
        rs->listing = s;
        if (regstore_scan_wait(s, call, resp) < 0) {
            resp->status = 500; /* the walk goes on without waiters and ends by itself */
            resp->body = api_error_body(500);
        }
    } else {
        rs->counting = true;
    }
}

static void regstore_unreg_free(struct regstore_unreg *u) {
    if (u->rs)
        RS_UNLINK(u->rs->unregs, u);
    free(u->aor);
    free(u);
}

static void regstore_unreg_call_closed(void *arg) {
    struct regstore_unreg *u = arg;
    u->call = NULL;
}

static void regstore_on_unregister(redisAsyncContext *ac, void *reply, void *priv) {
    struct regstore_unreg *u = priv;
    redisReply *r = reply;
    (void)ac;
    if (u->call) {
        http_call_t *call = u->call;
        u->call = NULL;
        if (!r || r->type != REDIS_REPLY_INTEGER) {
            if (r && r->type == REDIS_REPLY_ERROR)
                log_ratelimited(LOG_WARN, "unregister: Redis: %s", r->str);
            regstore_answer_error(call, 503, "Redis is unavailable");
        } else if (r->integer == 0) {
            regstore_answer_error(call, 404, "no such registration");
        } else {
            json_t *doc = json_object();
            if (doc) {
                json_object_set_new(doc, "aor", json_string(u->aor));
                json_object_set_new(doc, "removed", json_integer(r->integer));
            }
            regstore_answer_json(call, 200, doc);
            json_decref(doc);
        }
    }
    regstore_unreg_free(u);
}

void regstore_unregister(regstore_t *rs, char *aor, const char *contact, const char *node,
                         http_call_t *call, struct http_response *resp) {
    redisAsyncContext *ac = rs->redis ? rds_context(rs->redis) : NULL;
    struct regstore_unreg *u = ac ? calloc(1, sizeof *u) : NULL;
    if (!u) {
        free(aor);
        resp->status = 503;
        resp->body = api_error_text(503, "Redis is unavailable");
        return;
    }
    u->rs = rs;
    u->started_mono_ms = clock_mono_us() / 1000;
    u->aor = aor;
    char key[API_MAX_AOR + 16], zkey[API_MAX_AOR + 16], ts[24];
    snprintf(ts, sizeof ts, "%lld", (long long)(clock_wall_us() / 1000));
    if (!contact)
        contact = "";
    if (sb_key(key, sizeof key, SB_KEY_REG, u->aor) < 0 ||
        sb_key(zkey, sizeof zkey, SB_KEY_REGEXP, u->aor) < 0 ||
        redisAsyncCommand(ac, regstore_on_unregister, u, "EVAL %s 2 %s %s %s %s %s %s %s",
                          regstore_unregister_lua, key, zkey, contact, u->aor, node, ts,
                          SB_EVENTS_CHANNEL) != REDIS_OK) {
        free(u->aor);
        free(u);
        resp->status = 503;
        resp->body = api_error_text(503, "Redis is unavailable");
        return;
    }
    RS_LINK(rs->unregs, u);
    u->call = call;
    resp->defer = true;
    resp->on_close = regstore_unreg_call_closed;
    resp->close_arg = u;
}

/* Requests Redis leaves unanswered (stalled, not disconnected) get their 503 here; the
 * late reply then finds no call and only frees its state. */
static void regstore_expire(struct regstore *rs, int64_t now_ms) {
    for (struct regstore_scan *s = rs->scans; s; s = s->next)
        if (s->mode == REGSTORE_LIST && now_ms - s->started_mono_ms >= REGSTORE_TIMEOUT_MS)
            regstore_scan_answer(s, 503, NULL, "Redis did not answer in time");
    for (struct regstore_unreg *u = rs->unregs; u; u = u->next) {
        if (u->call && now_ms - u->started_mono_ms >= REGSTORE_TIMEOUT_MS) {
            http_call_t *call = u->call;
            u->call = NULL;
            regstore_answer_error(call, 503, "Redis did not answer in time");
        }
    }
}

regstore_t *regstore_new(rds_t *redis) {
    regstore_t *rs = calloc(1, sizeof *rs);
    if (!rs)
        return NULL;
    rs->redis = redis;
    rs->registrations = -1;
    rs->count_interval_ms = REGSTORE_COUNT_MS;
    return rs;
}

void regstore_free(regstore_t *rs) {
    if (!rs)
        return;
    /* Work in flight finishes without the store: its replies (or the NULL replies of a
     * closing link) free it. Waiting calls are answered by the HTTP server's stop. */
    for (struct regstore_scan *s = rs->scans; s; s = s->next)
        s->rs = NULL;
    for (struct regstore_unreg *u = rs->unregs; u; u = u->next)
        u->rs = NULL;
    free(rs);
}

void regstore_list(regstore_t *rs, http_call_t *call, struct http_response *resp) {
    regstore_walk(rs, REGSTORE_LIST, call, resp);
}

void regstore_tick(regstore_t *rs, int64_t now_mono_ms) {
    regstore_expire(rs, now_mono_ms);
    if (!rs->counting && now_mono_ms - rs->last_count_ms >= rs->count_interval_ms) {
        rs->last_count_ms = now_mono_ms;
        if (rds_is_up(rs->redis))
            regstore_walk(rs, REGSTORE_COUNT, NULL, NULL);
        else
            rs->registrations = -1;
    }
}

int64_t regstore_count(const regstore_t *rs) {
    return rs->registrations;
}
