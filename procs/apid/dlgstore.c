/* dlgstore - see dlgstore.h */
#include "dlgstore.h"

#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <stdlib.h>
#include <string.h>

#include "api_base.h"
#include "keys.h"
#include "log.h"

/* How a call record's key starts, as SCAN replies carry it (keys.h). */
#define DLG_PREFIX SB_KEY_DLG "{"
#define DLG_SCAN_BATCH "1000"

/* A record from an HGETALL reply: every field whose value is a string (non-UTF-8 ones are
 * left out); an empty object when the key is gone. NULL when out of memory. */
static json_t *dlg_record(const redisReply *r) {
    json_t *rec = json_object();
    for (size_t i = 0; rec && i + 1 < r->elements; i += 2) {
        const redisReply *f = r->element[i], *v = r->element[i + 1];
        if (f->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING)
            continue;
        char *name = strndup(f->str, f->len);
        json_t *value = json_stringn(v->str, v->len);
        if (!name) {
            json_decref(value);
            json_decref(rec);
            return NULL;
        }
        if (value && json_object_set_new(rec, name, value) < 0) {
            free(name);
            json_decref(rec);
            return NULL;
        }
        free(name);
    }
    return rec;
}

static redisAsyncContext *dlg_context(rds_t *redis) {
    return redis && rds_is_up(redis) ? rds_context(redis) : NULL;
}

/* ---- the list ---- */

struct dlg_walk {
    dlgstore_list_cb cb;
    void *arg;
    rds_t *redis;
    char **keys;
    size_t nkeys, cap;
    bool truncated, failed, oom;
    size_t outstanding;
    json_t *records;
};

static void dlg_walk_finish(struct dlg_walk *w) {
    for (size_t i = 0; i < w->nkeys; i++)
        free(w->keys[i]);
    free(w->keys);
    if (w->failed || w->oom) {
        json_decref(w->records);
        w->cb(w->arg, w->oom ? 500 : 503, NULL, false);
    } else {
        w->cb(w->arg, 200, w->records, w->truncated);
    }
    free(w);
}

static void dlg_on_hgetall(redisAsyncContext *ac, void *reply, void *priv) {
    struct dlg_walk *w = priv;
    redisReply *r = reply;
    (void)ac;
    if (!r || r->type != REDIS_REPLY_ARRAY) {
        w->failed = true;
    } else if (r->elements > 0 && !w->failed) {
        json_t *rec = dlg_record(r);
        if (!rec || json_array_append_new(w->records, rec) < 0)
            w->oom = true;
    }
    if (--w->outstanding == 0)
        dlg_walk_finish(w);
}

static void dlg_walk_reads(struct dlg_walk *w) {
    redisAsyncContext *ac = rds_context(w->redis);
    w->outstanding = 1; /* held until every read is sent */
    for (size_t i = 0; ac && i < w->nkeys; i++) {
        if (redisAsyncCommand(ac, dlg_on_hgetall, w, "HGETALL %s", w->keys[i]) != REDIS_OK) {
            w->failed = true;
            break;
        }
        w->outstanding++;
    }
    if (!ac)
        w->failed = true;
    if (--w->outstanding == 0)
        dlg_walk_finish(w);
}

static void dlg_on_scan(redisAsyncContext *ac, void *reply, void *priv) {
    struct dlg_walk *w = priv;
    redisReply *r = reply;
    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
        r->element[0]->type != REDIS_REPLY_STRING || r->element[1]->type != REDIS_REPLY_ARRAY) {
        if (r)
            log_ratelimited(LOG_WARN, "dialogs: unexpected SCAN reply");
        w->failed = true;
        dlg_walk_finish(w);
        return;
    }
    const redisReply *keys = r->element[1];
    size_t pl = strlen(DLG_PREFIX);
    for (size_t i = 0; i < keys->elements; i++) {
        const redisReply *k = keys->element[i];
        if (k->type != REDIS_REPLY_STRING || k->len <= pl + 1 ||
            memcmp(k->str, DLG_PREFIX, pl) != 0 || k->str[k->len - 1] != '}')
            continue;
        if (w->nkeys == API_MAX_DIALOGS) {
            w->truncated = true;
            break;
        }
        if (w->nkeys == w->cap) {
            size_t cap = w->cap ? w->cap * 2 : 64;
            char **grown = realloc(w->keys, cap * sizeof *grown);
            if (!grown) {
                w->oom = true;
                dlg_walk_finish(w);
                return;
            }
            w->keys = grown;
            w->cap = cap;
        }
        if (!(w->keys[w->nkeys] = strndup(k->str, k->len))) {
            w->oom = true;
            dlg_walk_finish(w);
            return;
        }
        w->nkeys++;
    }
    if (strcmp(r->element[0]->str, "0") == 0 || w->truncated) {
        dlg_walk_reads(w);
        return;
    }
    if (redisAsyncCommand(ac, dlg_on_scan, w, "SCAN %s MATCH " SB_KEY_DLG_ALL " COUNT %s",
                          r->element[0]->str, DLG_SCAN_BATCH) != REDIS_OK) {
        w->failed = true;
        dlg_walk_finish(w);
    }
}

int dlgstore_list(rds_t *redis, dlgstore_list_cb cb, void *arg) {
    redisAsyncContext *ac = dlg_context(redis);
    struct dlg_walk *w = ac ? calloc(1, sizeof *w) : NULL;
    if (w && !(w->records = json_array())) {
        free(w);
        w = NULL;
    }
    if (!w)
        return -1;
    w->cb = cb;
    w->arg = arg;
    w->redis = redis;
    if (redisAsyncCommand(ac, dlg_on_scan, w, "SCAN 0 MATCH " SB_KEY_DLG_ALL " COUNT %s",
                          DLG_SCAN_BATCH) != REDIS_OK) {
        json_decref(w->records);
        free(w);
        return -1;
    }
    return 0;
}

/* ---- one call ---- */

struct dlg_get {
    dlgstore_get_cb cb;
    void *arg;
    rds_t *redis;
    int outstanding;
    bool failed, oom;
    json_t *record;  /* by the id as given (an A-leg Call-ID) */
    char *a_call_id; /* sb:dlgb's answer (the id was a B-leg Call-ID) */
};

static void dlg_get_done(struct dlg_get *g, int status) {
    json_t *rec = status == 200 ? g->record : NULL;
    if (status != 200)
        json_decref(g->record);
    free(g->a_call_id);
    g->cb(g->arg, status, rec);
    free(g);
}

static void dlg_on_a_record(redisAsyncContext *ac, void *reply, void *priv) {
    struct dlg_get *g = priv;
    redisReply *r = reply;
    (void)ac;
    if (!r || r->type != REDIS_REPLY_ARRAY) {
        dlg_get_done(g, 503);
        return;
    }
    json_decref(g->record);
    g->record = r->elements ? dlg_record(r) : NULL;
    dlg_get_done(g, r->elements == 0 ? 404 : g->record ? 200 : 500);
}

/* Both first answers are in: the record, or the A-leg Call-ID to read next. */
static void dlg_get_step(struct dlg_get *g) {
    if (g->failed || g->oom) {
        dlg_get_done(g, g->oom ? 500 : 503);
        return;
    }
    if (g->record && json_object_size(g->record) > 0) {
        dlg_get_done(g, 200);
        return;
    }
    redisAsyncContext *ac = g->a_call_id ? rds_context(g->redis) : NULL;
    if (!g->a_call_id) {
        dlg_get_done(g, 404);
        return;
    }
    if (!ac || redisAsyncCommand(ac, dlg_on_a_record, g, "HGETALL " SB_KEY_DLG "{%s}",
                                 g->a_call_id) != REDIS_OK)
        dlg_get_done(g, 503);
}

static void dlg_on_record(redisAsyncContext *ac, void *reply, void *priv) {
    struct dlg_get *g = priv;
    redisReply *r = reply;
    (void)ac;
    if (!r || r->type != REDIS_REPLY_ARRAY)
        g->failed = true;
    else if (!(g->record = dlg_record(r)))
        g->oom = true;
    if (--g->outstanding == 0)
        dlg_get_step(g);
}

static void dlg_on_b_index(redisAsyncContext *ac, void *reply, void *priv) {
    struct dlg_get *g = priv;
    redisReply *r = reply;
    (void)ac;
    if (!r || (r->type != REDIS_REPLY_STRING && r->type != REDIS_REPLY_NIL))
        g->failed = true;
    else if (r->type == REDIS_REPLY_STRING && r->len > 0 &&
             !(g->a_call_id = strndup(r->str, r->len)))
        g->oom = true;
    if (--g->outstanding == 0)
        dlg_get_step(g);
}

int dlgstore_get(rds_t *redis, const char *call_id, dlgstore_get_cb cb, void *arg) {
    redisAsyncContext *ac = dlg_context(redis);
    struct dlg_get *g = ac ? calloc(1, sizeof *g) : NULL;
    if (!g)
        return -1;
    g->cb = cb;
    g->arg = arg;
    g->redis = redis;
    /* Both at once: one round trip whichever leg the id names. */
    if (redisAsyncCommand(ac, dlg_on_record, g, "HGETALL " SB_KEY_DLG "{%s}", call_id) !=
        REDIS_OK) {
        free(g);
        return -1;
    }
    g->outstanding = 1;
    if (redisAsyncCommand(ac, dlg_on_b_index, g, "GET " SB_KEY_DLGB "{%s}", call_id) != REDIS_OK)
        g->failed = true; /* the HGETALL's answer finishes it */
    else
        g->outstanding++;
    return 0;
}
