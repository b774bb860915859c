/* b2b_restore - see b2b.h */
#include "b2b.h"

/* ---------------------------------------------------------------- restore from Redis */

/* A BYE for a call this dialogd does not hold (it restarted, or another instance had
 * it): the record in Redis brings the call back, then the BYE is served. */
struct restore_wait {
    b2bua_t *b;
    uint64_t txn_id;
    bool by_b_leg;  /* first step: sb:dlgb:{B} names the A Call-ID */
    bool b_leg_bye; /* the BYE came from the B leg */
    char call_id[256];
};

static char *field_dup(const redisReply *r, const char *name) {
    for (size_t i = 0; i + 1 < r->elements; i += 2)
        if (r->element[i]->type == REDIS_REPLY_STRING && strcmp(r->element[i]->str, name) == 0 &&
            r->element[i + 1]->type == REDIS_REPLY_STRING)
            return strdup(r->element[i + 1]->str);
    return strdup("");
}

static size_t split_routes(const char *joined, char **out) {
    size_t n = 0;
    for (const char *p = joined; p && *p && n < B2B_MAX_ROUTES;) {
        size_t len = strcspn(p, "\n");
        out[n] = strndup(p, len);
        if (out[n])
            n++;
        p += len + (p[len] == '\n');
    }
    return n;
}

/* A call rebuilt from its record; NULL when out of memory or the record is unusable. */
static struct call *call_from_record(b2bua_t *b, const redisReply *r) {
    struct call *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->b2bua = b;
    c->winner = -1;
    uv_timer_init(b->w->loop, &c->dial_timer);
    c->dial_timer.data = c;
    char *state = field_dup(r, "state"), *num;
    /* only an answered call is worth bringing back; one still ringing was lost with the
     * dialogd that rang it (sipd answers its caller 408) */
    bool usable = state && (strcmp(state, "answered") == 0 || strcmp(state, "confirmed") == 0);
    c->state = state && strcmp(state, "answered") == 0 ? CALL_ANSWERED : CALL_CONFIRMED;
    free(state);
    if (!usable) {
        uv_close((uv_handle_t *)&c->dial_timer, b2b_call_closed);
        return NULL;
    }
    c->a_call_id = field_dup(r, "a_call_id");
    c->a_from_display = field_dup(r, "a_from_display");
    c->a_from_uri = field_dup(r, "a_from_uri");
    c->a_from_tag = field_dup(r, "a_from_tag");
    c->a_to_uri = field_dup(r, "a_to_uri");
    c->a_to_tag = field_dup(r, "a_to_tag");
    c->a_target = field_dup(r, "a_target");
    c->b_call_id = field_dup(r, "b_call_id");
    c->b_from_tag = field_dup(r, "b_from_tag");
    c->b_to_uri = field_dup(r, "b_to_uri");
    c->b_local_uri = field_dup(r, "b_local_uri");
    if (c->b_local_uri && !*c->b_local_uri) { /* a record of an older dialogd */
        free(c->b_local_uri);
        c->b_local_uri = b2b_dup_or_empty(c->a_from_uri);
    }
    c->b_local_display = strdup("");
    char *swapped = field_dup(r, "media_swapped");
    c->media_swapped = swapped && strcmp(swapped, "1") == 0;
    free(swapped);
    c->b_to_tag = field_dup(r, "b_to_tag");
    c->b_target = field_dup(r, "b_target");
    c->content_type = strdup("");
    c->destination = strdup("");
    char *routes = field_dup(r, "a_route_set");
    c->a_nroutes = split_routes(routes, c->a_routes);
    free(routes);
    routes = field_dup(r, "b_route_set");
    c->b_nroutes = split_routes(routes, c->b_routes);
    free(routes);
    num = field_dup(r, "a_local_cseq");
    c->a_cseq = num ? (uint32_t)strtoul(num, NULL, 10) : 0;
    free(num);
    num = field_dup(r, "b_local_cseq");
    c->b_cseq = num ? (uint32_t)strtoul(num, NULL, 10) : 1;
    free(num);
    num = field_dup(r, "a_txn");
    c->a_txn = num ? strtoull(num, NULL, 10) : 0;
    free(num);
    num = field_dup(r, "media_session");
    c->media_session = num ? strtoull(num, NULL, 10) : 0;
    free(num);
    num = field_dup(r, "mediad");
    c->media_instance = num && *num ? atoi(num) : -1;
    free(num);
    c->a_acked = true;
    c->a_answered = true;
    c->saved = true;
    c->id = ++b->next_id & ((1ULL << 47) - 1);
    c->next_id = b->by_id[c->id % B2B_BUCKETS];
    b->by_id[c->id % B2B_BUCKETS] = c;
    uint32_t h = b2b_hash_str(c->a_call_id);
    c->next_a = b->by_a[h];
    b->by_a[h] = c;
    b->ncalls++;
    if (c->b_call_id) {
        h = b2b_hash_str(c->b_call_id);
        c->next_b = b->by_b[h];
        b->by_b[h] = c;
    }
    shm_gauge(b->w->slot, SHM_C_calls_active, b->ncalls);
    if (!c->a_call_id || !*c->a_call_id || !c->b_call_id || !*c->b_call_id || !c->a_target ||
        !c->b_target || !c->a_to_tag || !c->b_to_uri || !c->destination || !c->content_type ||
        !c->b_local_uri || !c->b_local_display) {
        b2b_call_free(b, c);
        return NULL;
    }
    return c;
}

static void restore_cb(redisAsyncContext *ac, void *reply, void *priv);

static bool restore_ask(b2bua_t *b, struct restore_wait *rw) {
    redisAsyncContext *ac = b->w->redis ? rds_context(b->w->redis) : NULL;
    if (!ac)
        return false;
    int rc = rw->by_b_leg
                 ? redisAsyncCommand(ac, restore_cb, rw, "GET sb:dlgb:{%s}", rw->call_id)
                 : redisAsyncCommand(ac, restore_cb, rw, "HGETALL sb:dlg:{%s}", rw->call_id);
    if (rc != REDIS_OK)
        return false;
    b->redis_pending++;
    return true;
}

static void restore_cb(redisAsyncContext *ac, void *reply, void *priv) {
    (void)ac;
    struct restore_wait *rw = priv;
    b2bua_t *b = rw->b;
    redisReply *r = reply;
    b->redis_pending--;
    if (b->closing) {
        free(rw);
        if (b->redis_pending == 0)
            free(b);
        return;
    }
    if (!r || r->type == REDIS_REPLY_ERROR) {
        b2b_respond_txn(b, NULL, rw->txn_id, 503);
        free(rw);
        return;
    }
    if (rw->by_b_leg) {
        if (r->type != REDIS_REPLY_STRING || !r->str[0] || strlen(r->str) >= sizeof rw->call_id) {
            b2b_respond_txn(b, NULL, rw->txn_id, 481);
            free(rw);
            return;
        }
        snprintf(rw->call_id, sizeof rw->call_id, "%s", r->str);
        rw->by_b_leg = false;
        if (!restore_ask(b, rw)) {
            b2b_respond_txn(b, NULL, rw->txn_id, 503);
            free(rw);
        }
        return;
    }
    bool a_leg;
    struct call *c = b2b_find_call_id(b, rw->call_id, &a_leg); /* restored meanwhile */
    if (!c && r->type == REDIS_REPLY_ARRAY && r->elements >= 2) {
        c = call_from_record(b, r);
        if (c)
            log_info("call %s restored from Redis", c->a_call_id);
    }
    if (!c) {
        b2b_respond_txn(b, NULL, rw->txn_id, 481);
        free(rw);
        return;
    }
    /* rw->call_id is the A Call-ID now; the BYE came on the leg it named first */
    b2b_bye_call(b, c, !rw->b_leg_bye, NULL, rw->txn_id);
    free(rw);
}

void b2b_on_bye(b2bua_t *b, ipc_chan_t *ch, const Sb__SipRequestIn *in) {
    bool a_leg;
    struct call *c = b2b_find_call_id(b, in->msg->call_id, &a_leg);
    if (c) {
        b2b_bye_call(b, c, a_leg, ch, in->txn_id);
        return;
    }
    for (size_t i = 0; i < B2B_BUCKETS; i++) /* a B that transferred its call hangs up */
        for (struct call *t = b->by_id[i]; t; t = t->next_id)
            if (t->old_b_call_id && strcmp(t->old_b_call_id, in->msg->call_id) == 0) {
                b2b_respond_txn(b, ch, in->txn_id, 200);
                b2b_old_b_forget(t);
                return;
            }
    struct restore_wait *rw = calloc(1, sizeof *rw);
    if (!rw || strlen(in->msg->call_id) >= sizeof rw->call_id) {
        free(rw);
        b2b_respond_txn(b, ch, in->txn_id, 481);
        return;
    }
    rw->b = b;
    rw->txn_id = in->txn_id;
    snprintf(rw->call_id, sizeof rw->call_id, "%s", in->msg->call_id);
    /* our B-leg Call-IDs are sbd<instance>.<random>; any other is an A-leg's */
    rw->by_b_leg = rw->b_leg_bye = strncmp(rw->call_id, "sbd", 3) == 0;
    if (!restore_ask(b, rw)) {
        free(rw);
        b2b_respond_txn(b, ch, in->txn_id, 503);
    }
}
