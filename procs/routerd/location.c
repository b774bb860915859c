/* location - see location.h */
#include "location.h"

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/async.h>
#include <hiredis/hiredis.h>

#include "clock.h"
#include "log.h"

/* EVAL(SHA) body|sha numkeys key now deadline call_id cseq wildcard n aor node_id */
#define LOC_FIXED_ARGS 13
/* Room for a number written as text (an int64 and its NUL). */
#define LOC_NUM_ROOM 24

struct loc {
    rds_t *redis;
    char sha[41];     /* the script's SHA1 once SCRIPT LOAD answered, else "" */
    bool loading;     /* a SCRIPT LOAD is in flight */
    unsigned pending; /* commands sent that have not called back */
    bool closing;
    int64_t clock_offset_ms; /* Redis's wall clock minus ours, measured at link up */
};

struct loc_call {
    loc_t *l;
    loc_cb cb;
    void *arg;
    int64_t now_ms;
    bool retried; /* sent again with EVAL after NOSCRIPT */
    int argc;
    const char **argv; /* [0] and [1] are set at each send; [2..] point into text */
    size_t *argvlen;
    char *text; /* one block for argv, argvlen and the arguments' text */
};

loc_t *loc_new(rds_t *redis) {
    loc_t *l = calloc(1, sizeof *l);
    if (l)
        l->redis = redis;
    return l;
}

static void loc_maybe_free(loc_t *l) {
    if (l->closing && l->pending == 0)
        free(l);
}

void loc_free(loc_t *l) {
    if (!l)
        return;
    l->closing = true;
    loc_maybe_free(l);
}

static void load_cb(redisAsyncContext *ac, void *r, void *priv) {
    loc_t *l = priv;
    redisReply *reply = r;
    (void)ac;
    l->loading = false;
    l->pending--;
    if (reply && reply->type == REDIS_REPLY_STRING && reply->len == 40) {
        memcpy(l->sha, reply->str, 40);
        l->sha[40] = '\0';
    } else if (reply) {
        log_ratelimited(LOG_WARN, "redis SCRIPT LOAD of the registrar script failed: %s",
                        reply->type == REDIS_REPLY_ERROR ? reply->str : "unexpected reply");
    }
    loc_maybe_free(l);
}

static void loc_load(loc_t *l) {
    redisAsyncContext *ac = rds_context(l->redis);
    if (l->loading || l->closing || !ac)
        return;
    if (redisAsyncCommand(ac, load_cb, l, "SCRIPT LOAD %s", loc_register_lua) == REDIS_OK) {
        l->loading = true;
        l->pending++;
    }
}

/* TIME at link up: the script judges deadlines by the server's clock, so they are sent
 * in it (a skewed external Redis must not make every request late). */
static void time_cb(redisAsyncContext *ac, void *r, void *priv) {
    loc_t *l = priv;
    redisReply *reply = r;
    (void)ac;
    l->pending--;
    if (reply && reply->type == REDIS_REPLY_ARRAY && reply->elements == 2 &&
        reply->element[0]->type == REDIS_REPLY_STRING &&
        reply->element[1]->type == REDIS_REPLY_STRING) {
        int64_t redis_ms = strtoll(reply->element[0]->str, NULL, 10) * 1000 +
                           strtoll(reply->element[1]->str, NULL, 10) / 1000;
        l->clock_offset_ms = redis_ms - clock_wall_us() / 1000;
        if (l->clock_offset_ms > 1000 || l->clock_offset_ms < -1000)
            log_warn("redis's clock is %" PRId64 " ms %s ours: binding expiries will be off by as "
                     "much",
                     l->clock_offset_ms > 0 ? l->clock_offset_ms : -l->clock_offset_ms,
                     l->clock_offset_ms > 0 ? "ahead of" : "behind");
    }
    loc_maybe_free(l);
}

void loc_link_up(loc_t *l) {
    l->sha[0] = '\0'; /* a new server may not have it: EVAL until it is loaded again */
    loc_load(l);
    redisAsyncContext *ac = rds_context(l->redis);
    if (ac && !l->closing && redisAsyncCommand(ac, time_cb, l, "TIME") == REDIS_OK)
        l->pending++;
}

static void call_free(struct loc_call *c) {
    free(c->text);
    free(c);
}

/* Calls back and frees the call (and the store, when it was waiting for this). */
static void call_finish(struct loc_call *c, struct loc_result *res) {
    loc_t *l = c->l;
    c->cb(res, c->arg);
    call_free(c);
    l->pending--;
    loc_maybe_free(l);
}

/* The bindings of reply's elements from index first on (URI, record pairs). */
static void parse_bindings(const redisReply *reply, size_t first, int64_t now_ms,
                           struct loc_result *res) {
    size_t pairs = (reply->elements - first) / 2;
    res->bindings = pairs ? calloc(pairs, sizeof *res->bindings) : NULL;
    if (pairs && !res->bindings) {
        res->status = LOC_FAILED;
        res->detail = "out of memory";
        return;
    }
    for (size_t i = first; i + 1 < reply->elements; i += 2) {
        const redisReply *rec = reply->element[i + 1];
        struct binding *b =
            rec->type == REDIS_REPLY_STRING ? binding_decode(rec->str, rec->len) : NULL;
        if (!b) {
            log_ratelimited(LOG_WARN, "ignored an unreadable binding record in redis");
            continue;
        }
        if (b->expires_at_ms <= now_ms) {
            free(b);
            continue;
        }
        res->bindings[res->n++] = b;
    }
    binding_sort(res->bindings, res->n);
}

static void result_clear(struct loc_result *res) {
    for (size_t i = 0; i < res->n; i++)
        free(res->bindings[i]);
    free(res->bindings);
}

static bool is_str(const redisReply *r, const char *s) {
    return (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS) &&
           r->len == strlen(s) && memcmp(r->str, s, r->len) == 0;
}

static int call_send(struct loc_call *c);

static void register_cb(redisAsyncContext *ac, void *r, void *priv) {
    struct loc_call *c = priv;
    redisReply *reply = r;
    struct loc_result res = {.status = LOC_FAILED, .detail = "redis link lost"};
    (void)ac;
    if (reply && reply->type == REDIS_REPLY_ERROR && strncmp(reply->str, "NOSCRIPT", 8) == 0 &&
        !c->retried) {
        /* Flushed or a new server: send the text itself, and load it again for later. */
        c->l->sha[0] = '\0';
        c->retried = true;
        loc_load(c->l);
        if (call_send(c) == 0)
            return;
        res.detail = "cannot resend the script";
    } else if (reply && reply->type == REDIS_REPLY_ERROR) {
        res.detail = reply->str;
    } else if (reply && reply->type == REDIS_REPLY_ARRAY && reply->elements >= 1) {
        const redisReply *tag = reply->element[0];
        if (is_str(tag, "ok")) {
            res.status = LOC_OK;
            res.detail = NULL;
            parse_bindings(reply, 1, c->now_ms, &res);
        } else if (is_str(tag, "stale") && reply->elements == 2 &&
                   reply->element[1]->type == REDIS_REPLY_STRING) {
            res.status = LOC_STALE;
            res.detail = reply->element[1]->str;
        } else if (is_str(tag, "late")) {
            res.status = LOC_LATE;
            res.detail = NULL;
        } else if (is_str(tag, "toomany")) {
            res.status = LOC_TOO_MANY;
            res.detail = NULL;
        } else {
            res.detail = "unexpected script reply";
        }
    } else if (reply) {
        res.detail = "unexpected script reply";
    }
    call_finish(c, &res);
    result_clear(&res);
}

static int call_send(struct loc_call *c) {
    redisAsyncContext *ac = rds_context(c->l->redis);
    if (!ac)
        return -EAGAIN;
    bool by_sha = c->l->sha[0] && !c->retried;
    c->argv[0] = by_sha ? "EVALSHA" : "EVAL";
    c->argvlen[0] = strlen(c->argv[0]);
    c->argv[1] = by_sha ? c->l->sha : loc_register_lua;
    c->argvlen[1] = strlen(c->argv[1]);
    if (redisAsyncCommandArgv(ac, register_cb, c, c->argc, c->argv, c->argvlen) != REDIS_OK)
        return -EIO;
    return 0;
}

/* Arguments written one after the other into the call's one block. */
struct loc_args {
    struct loc_call *c;
    char *p;
};

static void arg_set(struct loc_args *w, int i, size_t len) {
    w->c->argv[i] = w->p;
    w->c->argvlen[i] = len;
    w->p += len + 1;
}

static void arg_num(struct loc_args *w, int i, int64_t v) {
    arg_set(w, i, (size_t)snprintf(w->p, LOC_NUM_ROOM, "%" PRId64, v));
}

/* s as the record stores it (invalid UTF-8 bytes as '?'). */
static void arg_text(struct loc_args *w, int i, const char *s) {
    binding_clean_into(s, w->p);
    arg_set(w, i, strlen(w->p));
}

/* s as a JSON string (quoted, escaped, cleaned). */
static void arg_json(struct loc_args *w, int i, const char *s) {
    arg_set(w, i, binding_json_string_into(s, w->p));
}

/* Room for an AOR's key: prefix, braces and NUL (sizeof counts the prefix's NUL). */
static size_t key_room(const char *aor) {
    return sizeof SB_KEY_REG + strlen(aor) + 2;
}

static void arg_key(struct loc_args *w, int i, const char *aor) {
    if (sb_key(w->p, key_room(aor), SB_KEY_REG, aor) < 0)
        log_panic("loc_register: the key of %s does not fit its room", aor);
    arg_set(w, i, strlen(w->p));
}

static size_t len0(const char *s) {
    return (s ? strlen(s) : 0) + 1;
}

int loc_register(loc_t *l, const struct loc_register_args *a, const struct binding_plan *plan,
                 loc_cb cb, void *arg) {
    if (!rds_context(l->redis))
        return -EAGAIN;
    struct binding b = {
        .call_id = (char *)(a->call_id ? a->call_id : ""),
        .cseq = a->cseq,
        .user_agent = (char *)(a->user_agent ? a->user_agent : ""),
        .transport = (char *)(a->source && a->source->transport ? a->source->transport : ""),
        .addr = (char *)(a->source && a->source->addr ? a->source->addr : ""),
        .port = a->source ? a->source->port : 0,
        .sipd_instance = a->source ? a->source->sipd_instance : 0,
        .local_addr = (char *)(a->source && a->source->local_addr ? a->source->local_addr : ""),
        .local_port = a->source ? a->source->local_port : 0,
        .conn_id = a->source ? a->source->conn_id : 0,
        .nated = a->source ? a->source->nated : false,
        .path = (char *)(a->path ? a->path : ""),
        .registered_at_ms = a->now_ms,
    };
    int argc = LOC_FIXED_ARGS + 3 * (int)plan->n;
    size_t room = (size_t)argc * (sizeof(char *) + sizeof(size_t)) + 2 + key_room(a->aor) +
                  6 * LOC_NUM_ROOM + len0(a->call_id) + binding_json_string_max(a->aor) +
                  binding_json_string_max(a->node_id);
    for (size_t i = 0; i < plan->n; i++) {
        b.uri = (char *)plan->changes[i].uri;
        b.instance = (char *)plan->changes[i].instance;
        room +=
            2 * binding_field_max(&plan->changes[i]) + len0(b.uri) + LOC_NUM_ROOM +
            (plan->changes[i].expires ? binding_encoded_max(&b)
                                      : binding_json_string_max(b.addr) + 3 * LOC_NUM_ROOM + 32);
    }
    struct loc_call *c = calloc(1, sizeof *c);
    char *text = malloc(room);
    if (!c || !text) {
        free(c);
        free(text);
        return -ENOMEM;
    }
    c->l = l;
    c->cb = cb;
    c->arg = arg;
    c->now_ms = a->now_ms;
    c->argc = argc;
    c->text = text;
    c->argv = (const char **)(void *)text;
    c->argvlen = (size_t *)(void *)(text + (size_t)argc * sizeof(char *));
    struct loc_args w = {c, text + (size_t)argc * (sizeof(char *) + sizeof(size_t))};
    memcpy(w.p, "1", 2);
    arg_set(&w, 2, 1);
    arg_key(&w, 3, a->aor);
    arg_num(&w, 4, a->now_ms);
    arg_num(&w, 5, a->deadline_ms + l->clock_offset_ms);
    arg_text(&w, 6, a->call_id);
    b.call_id = (char *)c->argv[6]; /* the record holds the Call-ID the script compares */
    arg_num(&w, 7, a->cseq);
    arg_num(&w, 8, plan->wildcard ? 1 : 0);
    arg_num(&w, 9, (int64_t)plan->n);
    arg_json(&w, 10, a->aor);
    arg_json(&w, 11, a->node_id);
    arg_num(&w, 12, a->max_bindings);
    for (size_t i = 0; i < plan->n; i++) {
        const struct binding_change *ch = &plan->changes[i];
        int at = LOC_FIXED_ARGS + 3 * (int)i;
        b.uri = (char *)ch->uri;
        b.q = ch->q;
        b.instance = (char *)(ch->instance ? ch->instance : "");
        b.reg_id = ch->reg_id;
        b.expires_at_ms = ch->expires ? a->now_ms + (int64_t)ch->expires * 1000 : 0;
        /* The field is the URI as the record stores it, so the two always agree; an
         * outbound binding's is its key (binding_field_into), cleaned the same way. */
        char *field = w.p + binding_field_max(ch) + 1; /* scratch past the argument */
        binding_field_into(ch, field);
        arg_text(&w, at, field);
        arg_num(&w, at + 1, b.expires_at_ms);
        if (ch->expires) {
            arg_set(&w, at + 2, binding_encode_into(&b, w.p));
        } else if (a->flow_gone) {
            /* a removal's record argument: what the stored record must hold to go (its
             * source, as binding_encode writes it) */
            char *p = w.p + sprintf(w.p, "\"addr\":");
            p += binding_json_string_into(b.addr, p);
            p += sprintf(p, ",\"port\":%u,\"sipd_instance\":%u,", b.port, b.sipd_instance);
            arg_set(&w, at + 2, (size_t)(p - w.p));
        } else {
            w.p[0] = '\0';
            arg_set(&w, at + 2, 0);
        }
    }
    if ((size_t)(w.p - text) > room)
        log_panic("loc_register wrote %zu bytes into %zu", (size_t)(w.p - text), room);
    int rc = call_send(c);
    if (rc < 0) {
        call_free(c);
        return rc;
    }
    l->pending++;
    return 0;
}

static void lookup_cb(redisAsyncContext *ac, void *r, void *priv) {
    struct loc_call *c = priv;
    redisReply *reply = r;
    struct loc_result res = {.status = LOC_FAILED, .detail = "redis link lost"};
    (void)ac;
    if (reply && reply->type == REDIS_REPLY_ARRAY) {
        res.status = LOC_OK;
        res.detail = NULL;
        parse_bindings(reply, 0, c->now_ms, &res);
    } else if (reply) {
        res.detail = reply->type == REDIS_REPLY_ERROR ? reply->str : "unexpected reply";
    }
    call_finish(c, &res);
    result_clear(&res);
}

int loc_lookup(loc_t *l, const char *aor, int64_t now_ms, loc_cb cb, void *arg) {
    redisAsyncContext *ac = rds_context(l->redis);
    if (!ac)
        return -EAGAIN;
    struct loc_call *c = calloc(1, sizeof *c);
    size_t room = key_room(aor);
    char *key = malloc(room);
    if (!c || !key) {
        free(c);
        free(key);
        return -ENOMEM;
    }
    if (sb_key(key, room, SB_KEY_REG, aor) < 0)
        log_panic("loc_lookup: the key of %s does not fit its room", aor);
    c->l = l;
    c->cb = cb;
    c->arg = arg;
    c->now_ms = now_ms;
    int rc = redisAsyncCommand(ac, lookup_cb, c, "HGETALL %b", key, strlen(key));
    free(key);
    if (rc != REDIS_OK) {
        call_free(c);
        return -EIO;
    }
    l->pending++;
    return 0;
}
