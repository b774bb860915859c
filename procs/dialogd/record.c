/* record - see record.h */
#include "record.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "keys.h"
#include "log.h"

/* The record's fields: X(name, kind, the call's member). Kinds: STR (a string), U32, U64,
 * I64, INT (-1 when empty), BOOL ("1"/"0"), ROUTES (a leg's route set, values joined by
 * LF: sipd refuses CR and LF in them), HOP (a leg's next hop, dlg_hop_text), STATE (call_state_record), and NODE and INSTANCE,
 * which say who wrote the record and are not read back. */
#define RECORD_FIELDS(X)                                                                           \
    X("state", STATE, c->state)                                                                    \
    X("node", NODE, c->id)                                                                         \
    X("dialogd", INSTANCE, c->id)                                                                  \
    X("created_ms", I64, c->created_ms)                                                            \
    X("answered_ms", I64, c->answered_ms)                                                          \
    X("ringing_ms", I64, c->ringing_ms)                                                            \
    X("a_call_id", STR, c->leg[LEG_A].call_id)                                                     \
    X("a_from_display", STR, c->leg[LEG_A].remote_display)                                         \
    X("a_from_uri", STR, c->leg[LEG_A].remote_uri)                                                 \
    X("a_from_tag", STR, c->leg[LEG_A].remote_tag)                                                 \
    X("a_to_uri", STR, c->leg[LEG_A].local_uri)                                                    \
    X("a_to_tag", STR, c->leg[LEG_A].local_tag)                                                    \
    X("a_target", STR, c->leg[LEG_A].remote_target)                                                \
    X("a_target_addr", STR, c->leg[LEG_A].remote_host)                                             \
    X("a_target_port", U32, c->leg[LEG_A].remote_port)                                             \
    X("a_route_set", ROUTES, c->leg[LEG_A])                                                        \
    X("a_hop", HOP, c->leg[LEG_A].hop)                                                             \
    X("a_local_cseq", U32, c->leg[LEG_A].local_cseq)                                               \
    X("a_txn", U64, c->leg[LEG_A].txn)                                                             \
    X("b_call_id", STR, c->leg[LEG_B].call_id)                                                     \
    X("b_from_tag", STR, c->leg[LEG_B].local_tag)                                                  \
    X("b_to_uri", STR, c->leg[LEG_B].remote_uri)                                                   \
    X("b_to_tag", STR, c->leg[LEG_B].remote_tag)                                                   \
    X("b_target", STR, c->leg[LEG_B].remote_target)                                                \
    X("b_target_addr", STR, c->leg[LEG_B].remote_host)                                             \
    X("b_target_port", U32, c->leg[LEG_B].remote_port)                                             \
    X("b_route_set", ROUTES, c->leg[LEG_B])                                                        \
    X("b_hop", HOP, c->leg[LEG_B].hop)                                                             \
    X("b_local_cseq", U32, c->leg[LEG_B].local_cseq)                                               \
    X("b_local_uri", STR, c->leg[LEG_B].local_uri)                                                 \
    X("media_swapped", BOOL, c->media_swapped)                                                     \
    X("media_session", U64, c->media_session)                                                      \
    X("mediad", INT, c->media_instance)

#define RECORD_COUNT_ONE(name, kind, member) +1
enum { RECORD_NFIELDS = 0 RECORD_FIELDS(RECORD_COUNT_ONE) };
#undef RECORD_COUNT_ONE

#define RECORD_VALUE_MAX 2048

static redisAsyncContext *redis_of(b2b_t *b) {
    return b->io.redis ? b->io.redis(b->io.arg) : NULL;
}

/* ---------------------------------------------------------------- writing */

static const char *put_routes(const struct dlg *d, char *out) {
    size_t len = 0;
    out[0] = '\0';
    for (size_t i = 0; i < d->nroutes; i++) {
        int w = snprintf(out + len, RECORD_VALUE_MAX - len, "%s%s", i ? "\n" : "", d->route_set[i]);
        if (w < 0 || (size_t)w >= RECORD_VALUE_MAX - len)
            break;
        len += (size_t)w;
    }
    return out;
}

#define PUT_STATE(v, buf) call_state_record(v)
#define PUT_NODE(v, buf) (node ? node : "")
#define PUT_INSTANCE(v, buf) (snprintf(buf, 32, "%d", b->instance), buf)
#define PUT_I64(v, buf) (snprintf(buf, 32, "%lld", (long long)(v)), buf)
#define PUT_U32(v, buf) (snprintf(buf, 32, "%u", (unsigned)(v)), buf)
#define PUT_U64(v, buf) (snprintf(buf, 32, "%llu", (unsigned long long)(v)), buf)
#define PUT_INT(v, buf) (snprintf(buf, 32, "%d", (int)(v)), buf)
#define PUT_BOOL(v, buf) ((v) ? "1" : "0")
#define PUT_STR(v, buf) ((v) ? (v) : "")
#define PUT_ROUTES(v, buf) put_routes(&(v), buf)
#define PUT_HOP(v, buf) dlg_hop_text(&(v), buf)

void record_save(b2b_t *b, struct call *c) {
    redisAsyncContext *ac = redis_of(b);
    if (!ac) {
        shm_count(b->slot, SHM_C_redis_errors, 1);
        log_call_ratelimited(LOG_WARN, c->leg[LEG_A].call_id, "Redis down, dialog state not saved");
        return;
    }
    const cfg_t *cfg = b->io.cfg ? b->io.cfg(b->io.arg) : NULL;
    const char *node = cfg ? cfg_str(cfg, CFG_node_id) : "";
    char key[512], bkey[512];
    if (sb_key(key, sizeof key, SB_KEY_DLG, c->leg[LEG_A].call_id) < 0)
        return;
    static char bufs[RECORD_NFIELDS][RECORD_VALUE_MAX]; /* dialogd is one thread */
    const char *argv[2 + 2 * RECORD_NFIELDS];
    size_t argvlen[2 + 2 * RECORD_NFIELDS];
    size_t n = 0;
    argv[n++] = "HSET";
    argv[n++] = key;
#define RECORD_PUT(name, kind, member)                                                             \
    argv[n] = name;                                                                                \
    argv[n + 1] = PUT_##kind(member, bufs[(n - 2) / 2]);                                           \
    n += 2;
    RECORD_FIELDS(RECORD_PUT)
#undef RECORD_PUT
    for (size_t i = 0; i < n; i++)
        argvlen[i] = strlen(argv[i]);
    redisAsyncCommand(ac, NULL, NULL, "MULTI");
    redisAsyncCommandArgv(ac, NULL, NULL, (int)n, argv, argvlen);
    redisAsyncCommand(ac, NULL, NULL, "EXPIRE %s %d", key, RECORD_TTL_S);
    if (c->leg[LEG_B].call_id && *c->leg[LEG_B].call_id &&
        sb_key(bkey, sizeof bkey, SB_KEY_DLGB, c->leg[LEG_B].call_id) == 0)
        redisAsyncCommand(ac, NULL, NULL, "SET %s %s EX %d", bkey, c->leg[LEG_A].call_id,
                          RECORD_TTL_S);
    redisAsyncCommand(ac, NULL, NULL, "EXEC");
    c->saved = true;
}

void record_save_field(b2b_t *b, struct call *c, const char *field, long long value) {
    redisAsyncContext *ac = redis_of(b);
    char key[512];
    if (!ac || !c->saved || sb_key(key, sizeof key, SB_KEY_DLG, c->leg[LEG_A].call_id) < 0)
        return; /* the next full save writes it */
    redisAsyncCommand(ac, NULL, NULL, "HSET %s %s %lld", key, field, value);
}

void record_drop_keys(b2b_t *b, const char *a_call_id, const char *b_call_id) {
    redisAsyncContext *ac = redis_of(b);
    char key[512], bkey[512];
    if (!ac || sb_key(key, sizeof key, SB_KEY_DLG, a_call_id) < 0 ||
        sb_key(bkey, sizeof bkey, SB_KEY_DLGB, b_call_id) < 0)
        return;
    redisAsyncCommand(ac, NULL, NULL, "DEL %s %s", key, bkey);
}

void record_drop_b_index(b2b_t *b, const char *b_call_id) {
    redisAsyncContext *ac = redis_of(b);
    char bkey[512];
    if (ac && sb_key(bkey, sizeof bkey, SB_KEY_DLGB, b_call_id) == 0)
        redisAsyncCommand(ac, NULL, NULL, "DEL %s", bkey);
}

void record_forget(b2b_t *b, struct call *c) {
    if (c->saved)
        record_drop_keys(b, c->leg[LEG_A].call_id, c->leg[LEG_B].call_id);
}

bool record_ask(b2b_t *b, const char *call_id, bool by_b_leg, redisCallbackFn *cb, void *arg) {
    redisAsyncContext *ac = redis_of(b);
    char key[512];
    if (!ac || sb_key(key, sizeof key, by_b_leg ? SB_KEY_DLGB : SB_KEY_DLG, call_id) < 0)
        return false;
    int rc = by_b_leg ? redisAsyncCommand(ac, cb, arg, "GET %s", key)
                      : redisAsyncCommand(ac, cb, arg, "HGETALL %s", key);
    return rc == REDIS_OK;
}

/* ---------------------------------------------------------------- reading */

static const char *field(const redisReply *r, const char *name) {
    for (size_t i = 0; i + 1 < r->elements; i += 2)
        if (r->element[i]->type == REDIS_REPLY_STRING && strcmp(r->element[i]->str, name) == 0 &&
            r->element[i + 1]->type == REDIS_REPLY_STRING)
            return r->element[i + 1]->str;
    return "";
}

static bool get_routes(struct dlg *d, const char *joined) {
    char *values[DLG_MAX_ROUTES] = {NULL};
    size_t n = 0;
    bool ok = true;
    for (const char *p = joined; *p && n < DLG_MAX_ROUTES;) {
        size_t len = strcspn(p, "\n");
        if (!(values[n] = strndup(p, len)))
            ok = false;
        else
            n++;
        p += len + (p[len] == '\n');
    }
    /* stored in the order of use already: the role's reversal is not applied again */
    for (size_t i = 0; i < d->nroutes; i++)
        free(d->route_set[i]);
    memcpy(d->route_set, values, n * sizeof values[0]);
    d->nroutes = n;
    return ok;
}

static bool get_state(enum call_state *s, const char *v) {
    if (strcmp(v, "answered") == 0)
        *s = CS_ANSWERED;
    else if (strcmp(v, "confirmed") == 0)
        *s = CS_CONFIRMED;
    else
        return false; /* only an answered call is worth bringing back */
    return true;
}

#define GET_STATE(m, v) ok &= get_state(&(m), v)
#define GET_NODE(m, v) (void)(m)
#define GET_INSTANCE(m, v) (void)(m)
#define GET_I64(m, v) (m) = strtoll(v, NULL, 10)
#define GET_U32(m, v) (m) = (uint32_t)strtoul(v, NULL, 10)
#define GET_U64(m, v) (m) = strtoull(v, NULL, 10)
#define GET_INT(m, v) (m) = *(v) ? atoi(v) : -1
#define GET_BOOL(m, v) (m) = strcmp(v, "1") == 0
#define GET_STR(m, v) ok &= dlg_set(&(m), v)
#define GET_ROUTES(m, v) ok &= get_routes(&(m), v)
#define GET_HOP(m, v) ok &= dlg_hop_parse(&(m), v)

bool record_load(struct call *c, const redisReply *r) {
    bool ok = r && r->type == REDIS_REPLY_ARRAY && r->elements >= 2;
    if (!ok)
        return false;
#define RECORD_GET(name, kind, member) GET_##kind(member, field(r, name));
    RECORD_FIELDS(RECORD_GET)
#undef RECORD_GET
    struct dlg *a = &c->leg[LEG_A], *bl = &c->leg[LEG_B];
    if (ok && !*bl->local_uri) /* a record without our From towards B: A's */
        ok = dlg_set(&bl->local_uri, a->remote_uri);
    a->final_sent = a->acked = true;
    c->saved = true;
    return ok && *a->call_id && *bl->call_id;
}
