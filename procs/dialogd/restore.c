/* restore - see restore.h */
#include "restore.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "end.h"
#include "log.h"
#include "record.h"
#include "sipout.h"

struct restore_wait {
    b2b_t *b;
    uint64_t txn;
    bool by_b_leg;  /* first step: sb:dlgb:{B} names the A Call-ID */
    bool b_leg_bye; /* the BYE came from the B leg */
    char call_id[256];
};

static void restored(redisAsyncContext *ac, void *reply, void *priv);

static bool ask(b2b_t *b, struct restore_wait *rw) {
    if (!record_ask(b, rw->call_id, rw->by_b_leg, restored, rw))
        return false;
    b->redis_pending++;
    return true;
}

/* A call from its record, in the table; NULL when out of memory or unusable. */
static struct call *from_record(b2b_t *b, const redisReply *r) {
    struct call *c = call_new(b);
    if (!c)
        return NULL;
    c->quiet = true;          /* an unusable record is no call: no call.ended for it */
    if (!record_load(c, r)) { /* nothing of it is ours to end: no media, no keys */
        c->saved = false;
        c->media_session = 0;
        call_free(b, c);
        return NULL;
    }
    c->quiet = false;
    call_link(b, c, LEG_A);
    call_link(b, c, LEG_B);
    return c;
}

static void restored(redisAsyncContext *ac, void *reply, void *priv) {
    (void)ac;
    struct restore_wait *rw = priv;
    b2b_t *b = rw->b;
    redisReply *r = reply;
    b->redis_pending--;
    if (b->closing) {
        free(rw);
        b2b_release(b);
        return;
    }
    if (!r || r->type == REDIS_REPLY_ERROR) {
        sipout_respond(b, NULL, rw->txn, 503, NULL, 0, NULL);
        free(rw);
        return;
    }
    if (rw->by_b_leg) {
        if (r->type != REDIS_REPLY_STRING || !r->str[0] || strlen(r->str) >= sizeof rw->call_id) {
            sipout_respond(b, NULL, rw->txn, 481, NULL, 0, NULL);
            free(rw);
            return;
        }
        snprintf(rw->call_id, sizeof rw->call_id, "%s", r->str);
        rw->by_b_leg = false;
        if (!ask(b, rw)) {
            sipout_respond(b, NULL, rw->txn, 503, NULL, 0, NULL);
            free(rw);
        }
        return;
    }
    int leg;
    struct call *c = call_find_cid(b, rw->call_id, &leg); /* restored meanwhile */
    if (!c && r->type == REDIS_REPLY_ARRAY && r->elements >= 2) {
        c = from_record(b, r);
        if (c)
            log_call(LOG_INFO, c->leg[LEG_A].call_id, "call restored from Redis");
    }
    if (!c) {
        sipout_respond(b, NULL, rw->txn, 481, NULL, 0, NULL);
        free(rw);
        return;
    }
    /* rw->call_id is the A Call-ID now; the BYE came on the leg it named first */
    end_bye(b, c, rw->b_leg_bye ? LEG_B : LEG_A, NULL, rw->txn);
    free(rw);
}

void restore_bye(b2b_t *b, ipc_chan_t *ch, uint64_t txn, const char *call_id) {
    struct restore_wait *rw = calloc(1, sizeof *rw);
    if (!rw || strlen(call_id) >= sizeof rw->call_id) {
        free(rw);
        sipout_respond(b, ch, txn, 481, NULL, 0, NULL);
        return;
    }
    rw->b = b;
    rw->txn = txn;
    snprintf(rw->call_id, sizeof rw->call_id, "%s", call_id);
    /* our B-leg Call-IDs are sbd<instance>.<random>; any other is an A-leg's */
    rw->by_b_leg = rw->b_leg_bye = strncmp(rw->call_id, "sbd", 3) == 0;
    if (!ask(b, rw)) {
        free(rw);
        sipout_respond(b, ch, txn, 503, NULL, 0, NULL);
    }
}
