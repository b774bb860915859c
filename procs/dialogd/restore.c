/* restore - see restore.h */
#include "restore.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "record.h"
#include "sipout.h"

struct restore_wait {
    b2b_t *b;
    uint64_t txn;
    bool by_b_leg; /* first step: sb:dlgb:{B} names the A Call-ID */
    char call_id[256];
    restore_handler *again;
    size_t len; /* the request, packed */
    uint8_t request[];
};

static void wait_free(struct restore_wait *rw) {
    explicit_bzero(rw->request, rw->len);
    free(rw);
}

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
        wait_free(rw);
        b2b_release(b);
        return;
    }
    if (!r || r->type == REDIS_REPLY_ERROR) {
        sipout_respond(b, NULL, rw->txn, 503, NULL, 0, NULL);
        wait_free(rw);
        return;
    }
    if (rw->by_b_leg) {
        if (r->type != REDIS_REPLY_STRING || !r->str[0] || strlen(r->str) >= sizeof rw->call_id) {
            sipout_respond(b, NULL, rw->txn, 481, NULL, 0, NULL);
            wait_free(rw);
            return;
        }
        snprintf(rw->call_id, sizeof rw->call_id, "%s", r->str);
        rw->by_b_leg = false;
        if (!ask(b, rw)) {
            sipout_respond(b, NULL, rw->txn, 503, NULL, 0, NULL);
            wait_free(rw);
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
    Sb__SipRequestIn *in = c ? sb__sip_request_in__unpack(NULL, rw->len, rw->request) : NULL;
    if (!in)
        sipout_respond(b, NULL, rw->txn, c ? 500 : 481, NULL, 0, NULL);
    else /* the call is held now: the request finds it */
        rw->again(b, NULL, in);
    if (in)
        sb__sip_request_in__free_unpacked(in, NULL);
    wait_free(rw);
}

void restore_request(b2b_t *b, ipc_chan_t *ch, const Sb__SipRequestIn *in,
                     restore_handler *again) {
    const char *call_id = in->msg->call_id;
    size_t len = sb__sip_request_in__get_packed_size(in);
    struct restore_wait *rw = strlen(call_id) < sizeof rw->call_id ? calloc(1, sizeof *rw + len)
                                                                   : NULL;
    if (!rw) {
        sipout_respond(b, ch, in->txn_id, 481, NULL, 0, NULL);
        return;
    }
    rw->b = b;
    rw->txn = in->txn_id;
    rw->again = again;
    rw->len = sb__sip_request_in__pack(in, rw->request);
    snprintf(rw->call_id, sizeof rw->call_id, "%s", call_id);
    /* our B-leg Call-IDs are sbd<instance>.<random>; any other is an A-leg's */
    rw->by_b_leg = strncmp(rw->call_id, "sbd", 3) == 0;
    if (!ask(b, rw)) {
        wait_free(rw);
        sipout_respond(b, ch, in->txn_id, 503, NULL, 0, NULL);
    }
}
