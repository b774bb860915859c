/* b2bua - see b2bua.h: the dispatch on top of dialogd's layers.
 *
 * Every envelope is turned into an event of a call (struct b2b_ev) and the (state x event)
 * table picks the handler; a pair that is not in the table gets the event's default
 * (491 for a request that cannot be taken now, 481 for one on a dialog that is over,
 * nothing for a late answer). New INVITEs make calls (dial.h) and BYEs for calls this
 * process does not hold are restored from Redis (restore.h). An in-dialog request (BYE,
 * REFER, re-INVITE, UPDATE, INFO, ACK) is a leg's only when its Call-ID and both tags match
 * it (RFC 3261 12.2.2, dlg_matches), restored or not; else 481 (an ACK: ignored). */
#include "b2bua.h"

#include <stdlib.h>
#include <string.h>

#include "anchor.h"
#include "call.h"
#include "call_events.h"
#include "callcap.h"
#include "control.h"
#include "dial.h"
#include "end.h"
#include "log.h"
#include "mid.h"
#include "record.h"
#include "restore.h"
#include "setimer.h"
#include "sipout.h"

struct b2bua {
    worker_t *w;
    b2b_t *b2b;
};

/* ---------------------------------------------------------------- the table */

/* One event of a call: its leg, and the request (with its sipd channel) or response. */
struct b2b_ev {
    enum b2b_event_type {
        EV_CANCEL,          /* A's CANCEL of its INVITE */
        EV_ACK,             /* A's ACK of our 2xx */
        EV_BYE,             /* a BYE from leg */
        EV_REINVITE,        /* a re-INVITE or UPDATE from leg, our tag checked */
        EV_REFER,           /* a REFER from leg */
        EV_INVITE_1XX,      /* a provisional answer to a dial's INVITE (fork) */
        EV_INVITE_2XX,      /* ... a 2xx */
        EV_INVITE_FAILURE,  /* ... a final error */
        EV_REINVITE_ANSWER, /* leg's answer to a relayed re-INVITE or UPDATE */
        EV_MOVE_ANSWER,     /* leg's answer to a move's re-INVITE */
        EV_REFRESH_ANSWER,  /* leg's answer to our refresh UPDATE */
        EV_BYE_ANSWER,      /* leg's answer to our BYE */
        EV_ACK_TIMEOUT,     /* sipd: no ACK for our 2xx to A */
        EV_COUNT
    } type;
    int leg;
    unsigned fork;
    ipc_chan_t *ch;
    const Sb__SipRequestIn *req;
    const Sb__SipResponseIn *resp;
};

typedef void (*b2b_handler)(b2b_t *b, struct call *c, const struct b2b_ev *ev);

/* Handlers: the table's cells, each a thin adapter onto a layer below. */
static void h_cancel(b2b_t *b, struct call *c, const struct b2b_ev *ev) {
    if (c->leg[LEG_A].txn == ev->req->txn_id && !c->leg[LEG_A].final_sent)
        dial_cancel(b, c, 0);
}
static void h_ack(b2b_t *b, struct call *c, const struct b2b_ev *ev) {
    dial_a_acked(b, c, ev->req);
}
static void h_bye(b2b_t *b, struct call *c, const struct b2b_ev *ev) {
    end_bye(b, c, ev->leg, ev->ch, ev->req->txn_id);
}
static void h_reinvite(b2b_t *b, struct call *c, const struct b2b_ev *ev) {
    mid_reinvite(b, c, ev->leg, ev->ch, ev->req);
}
static void h_refer(b2b_t *b, struct call *c, const struct b2b_ev *ev) {
    mid_refer(b, c, ev->leg, ev->ch, ev->req);
}
static void h_491(b2b_t *b, struct call *c, const struct b2b_ev *ev) {
    (void)c;
    sipout_respond(b, ev->ch, ev->req->txn_id, 491, NULL, 0, NULL); /* RFC 3261 14.2 */
}
static void h_481(b2b_t *b, struct call *c, const struct b2b_ev *ev) {
    (void)c;
    sipout_respond(b, ev->ch, ev->req->txn_id, 481, NULL, 0, NULL);
}
static void h_dial_1xx(b2b_t *b, struct call *c, const struct b2b_ev *ev) {
    dial_b_provisional(b, c, ev->resp, ev->fork);
}
static void h_late_1xx(b2b_t *b, struct call *c, const struct b2b_ev *ev) {
    dial_b_provisional_late(b, c, ev->resp, ev->fork);
}
static void h_dial_2xx(b2b_t *b, struct call *c, const struct b2b_ev *ev) {
    dial_b_answered(b, c, ev->resp, ev->fork);
}
static void h_late_2xx(b2b_t *b, struct call *c, const struct b2b_ev *ev) {
    dial_b_answered_again(b, c, ev->resp, ev->fork);
}
static void h_dial_failure(b2b_t *b, struct call *c, const struct b2b_ev *ev) {
    dial_b_failed(b, c, ev->resp, ev->fork);
}
static void h_late_failure(b2b_t *b, struct call *c, const struct b2b_ev *ev) {
    dial_b_failed_late(b, c, ev->resp, ev->fork);
}
static void h_reinvite_answer(b2b_t *b, struct call *c, const struct b2b_ev *ev) {
    mid_reinvite_answered(b, c, ev->resp);
}
static void h_move_answer(b2b_t *b, struct call *c, const struct b2b_ev *ev) {
    control_move_answered(b, c, ev->resp, ev->leg);
}
static void h_refresh_answer(b2b_t *b, struct call *c, const struct b2b_ev *ev) {
    setimer_refreshed(b, c, ev->leg, ev->resp->msg->status);
}
static void h_bye_answer(b2b_t *b, struct call *c, const struct b2b_ev *ev) {
    end_bye_answered(b, c, ev->resp->msg->status);
}
static void h_none(b2b_t *b, struct call *c, const struct b2b_ev *ev) {
    (void)b;
    (void)c;
    (void)ev;
}
static void h_ack_timeout(b2b_t *b, struct call *c, const struct b2b_ev *ev) {
    (void)ev;
    if (!c->leg[LEG_A].final_sent || c->leg[LEG_A].acked)
        return;
    /* RFC 3261 13.3.1.4: no ACK for our 2xx: end the session */
    c->end_cause = "no_ack";
    end_hang_up(b, c, "no ACK from the caller");
}

/* What an event gets in a state the table does not name. */
static const b2b_handler defaults[EV_COUNT] = {
    [EV_ACK] = h_ack,
    [EV_BYE] = h_bye,
    [EV_REINVITE] = h_491,
    [EV_REFER] = h_491,
    [EV_INVITE_1XX] = h_late_1xx,
    [EV_INVITE_2XX] = h_late_2xx,
    [EV_INVITE_FAILURE] = h_late_failure,
    [EV_REFRESH_ANSWER] = h_refresh_answer,
    [EV_ACK_TIMEOUT] = h_ack_timeout,
};

/* The cells that differ from the defaults. */
#define DIALING_ROW                                                                                \
    [EV_INVITE_1XX] = h_dial_1xx, [EV_INVITE_2XX] = h_dial_2xx, [EV_INVITE_FAILURE] = h_dial_failure
static const b2b_handler table[CS_COUNT][EV_COUNT] = {
    [CS_ROUTING] = {[EV_CANCEL] = h_cancel},
    [CS_CALLING] = {[EV_CANCEL] = h_cancel, DIALING_ROW},
    [CS_EARLY] = {[EV_CANCEL] = h_cancel, DIALING_ROW},
    [CS_CONFIRMED] = {[EV_REINVITE] = h_reinvite, [EV_REFER] = h_refer},
    [CS_REINVITING] = {[EV_REINVITE_ANSWER] = h_reinvite_answer},
    [CS_TRANSFERRING] = {DIALING_ROW},
    [CS_MOVING] = {[EV_MOVE_ANSWER] = h_move_answer},
    [CS_ENDING] = {[EV_BYE] = h_481,
                   [EV_BYE_ANSWER] = h_bye_answer,
                   [EV_REINVITE_ANSWER] = h_reinvite_answer,
                   [EV_REFRESH_ANSWER] = h_none,
                   [EV_ACK_TIMEOUT] = h_none},
};

static b2b_handler handler(enum call_state s, enum b2b_event_type event) {
    if ((unsigned)s >= CS_COUNT || (unsigned)event >= EV_COUNT)
        return NULL;
    return table[s][event] ? table[s][event] : defaults[event];
}

static void dispatch(b2b_t *b, struct call *c, const struct b2b_ev *ev) {
    b2b_handler h = handler(c->state, ev->type);
    if (h)
        h(b, c, ev);
}

/* ---------------------------------------------------------------- from sipd */

static void request_in(b2b_t *b, ipc_chan_t *ch, const Sb__SipRequestIn *in, bool restored);

/* A request whose call was restored from Redis: it is held now (no second lookup). */
static void on_request_restored(b2b_t *b, ipc_chan_t *ch, const Sb__SipRequestIn *in) {
    request_in(b, ch, in, true);
}

static void on_request(b2b_t *b, ipc_chan_t *ch, const Sb__SipRequestIn *in) {
    request_in(b, ch, in, false);
}

static void request_in(b2b_t *b, ipc_chan_t *ch, const Sb__SipRequestIn *in, bool restored) {
    const Sb__SipMessage *m = in->msg;
    if (!m || !m->call_id)
        return;
    struct b2b_ev ev = {.ch = ch, .req = in};
    int leg = LEG_A;
    struct call *c = call_find_cid(b, m->call_id, &leg);
    ev.leg = leg;
    bool in_dialog = m->to_tag && *m->to_tag;
    if (!c && !restored && m->method_id != SB__SIP_METHOD__SIP_METHOD_CANCEL &&
        m->method_id != SB__SIP_METHOD__SIP_METHOD_ACK &&
        (in_dialog || m->method_id == SB__SIP_METHOD__SIP_METHOD_BYE) &&
        !call_find_held(b, m->call_id)) {
        restore_request(b, ch, in, on_request_restored); /* its call may be in Redis */
        return;
    }
    switch (m->method_id) {
    case SB__SIP_METHOD__SIP_METHOD_INVITE:
        if (in_dialog)
            break; /* a re-INVITE */
        if (!c && restored) { /* not a request to restore a call for */
            sipout_respond(b, ch, in->txn_id, 481, NULL, 0, NULL);
            return;
        }
        if (c)     /* a second INVITE of one Call-ID */
            sipout_respond(b, ch, in->txn_id, 482, NULL, 0, NULL);
        else
            dial_on_invite(b, ch, in);
        return;
    case SB__SIP_METHOD__SIP_METHOD_CANCEL:
        if (c && leg == LEG_A) {
            ev.type = EV_CANCEL;
            dispatch(b, c, &ev);
        }
        return;
    case SB__SIP_METHOD__SIP_METHOD_ACK:
        if (c && leg == LEG_A && dlg_matches(&c->leg[leg], m->from_tag, m->to_tag)) {
            ev.type = EV_ACK;
            dispatch(b, c, &ev);
        }
        return;
    case SB__SIP_METHOD__SIP_METHOD_BYE:
        /* RFC 3261 12.2.2: the Call-ID alone names no dialog; both tags must match */
        if (c && dlg_matches(&c->leg[leg], m->from_tag, m->to_tag)) {
            ev.type = EV_BYE;
            dispatch(b, c, &ev);
        } else if (!c && (c = call_find_held(b, m->call_id)) &&
                   dlg_matches(&c->held, m->from_tag, m->to_tag)) { /* a referrer hangs up */
            mid_held_bye(b, c, ch, in->txn_id);
        } else {
            sipout_respond(b, ch, in->txn_id, 481, NULL, 0, NULL);
        }
        return;
    case SB__SIP_METHOD__SIP_METHOD_UPDATE:
    case SB__SIP_METHOD__SIP_METHOD_INFO:
        break; /* mid-call UPDATE or INFO: relayed like a re-INVITE, without ACK */
    case SB__SIP_METHOD__SIP_METHOD_REFER:
        if (!c || !dlg_matches(&c->leg[leg], m->from_tag, m->to_tag)) {
            sipout_respond(b, ch, in->txn_id, 481, NULL, 0, NULL);
            return;
        }
        ev.type = EV_REFER;
        dispatch(b, c, &ev);
        return;
    default:
        sipout_respond(b, ch, in->txn_id, 501, NULL, 0, NULL);
        return;
    }
    /* a re-INVITE, UPDATE or INFO: in a dialog of ours (RFC 3261 12.2.2) */
    if (!c || !dlg_matches(&c->leg[leg], m->from_tag, m->to_tag)) {
        sipout_respond(b, ch, in->txn_id, 481, NULL, 0, NULL);
        return;
    }
    ev.type = EV_REINVITE;
    dispatch(b, c, &ev);
}

static void on_response(b2b_t *b, const Sb__SipResponseIn *in) {
    const Sb__SipMessage *m = in->msg;
    if (!m)
        return;
    struct sipout_id id = sipout_parse_id(in->client_id);
    bool ok2xx = m->status / 100 == 2;
    struct call *c = NULL;
    if (in->client_id) {
        c = call_find(b, id.call);
        if (id.kind == KIND_INVITE && (!c || id.attempt != (c->attempt & 0xff))) {
            /* an abandoned dial's late answer, or its call is over: a 2xx made a dialog */
            if (ok2xx)
                sipout_hang_up_stray(b, m);
            return;
        }
    } else if (m->call_id) { /* a 2xx copy after the transaction: ACK again */
        int leg;
        c = call_find_cid(b, m->call_id, &leg);
        if (!c && ok2xx && strncmp(m->call_id, "sbd", 3) == 0)
            sipout_hang_up_stray(b, m); /* ours, for a call that is gone */
        if (!c || leg == LEG_A || c->winner < 0)
            return;
        id = (struct sipout_id){.kind = KIND_INVITE, .leg = LEG_B, .fork = (unsigned)c->winner};
    }
    if (!c)
        return;
    struct b2b_ev ev = {.leg = id.leg, .fork = id.fork, .resp = in};
    switch (id.kind) {
    case KIND_INVITE:
        ev.type = m->status < 200 ? EV_INVITE_1XX : ok2xx ? EV_INVITE_2XX : EV_INVITE_FAILURE;
        break;
    case KIND_REINVITE:
        ev.type = EV_REINVITE_ANSWER;
        break;
    case KIND_MOVE:
        ev.type = EV_MOVE_ANSWER;
        break;
    case KIND_REFRESH:
        ev.type = EV_REFRESH_ANSWER;
        break;
    case KIND_BYE:
        ev.type = EV_BYE_ANSWER;
        break;
    default:
        return; /* nobody waits for it */
    }
    dispatch(b, c, &ev);
}

static void ack_timeout_one(b2b_t *b, struct call *c, void *arg) {
    const Sb__SipTxnEvent *te = arg;
    if (c->leg[LEG_A].txn != te->txn_id || !c->leg[LEG_A].txn)
        return;
    struct b2b_ev ev = {.type = EV_ACK_TIMEOUT, .leg = LEG_A};
    dispatch(b, c, &ev);
}

static void on_txn_event(b2b_t *b, const Sb__SipTxnEvent *te) {
    if (te->kind == SB__SIP_TXN_EVENT_KIND__SIP_TXN_EVENT_ACK_TIMEOUT)
        call_each(b, ack_timeout_one, (void *)te);
}

/* ---------------------------------------------------------------- lifetime */

bool b2bua_on_envelope(b2bua_t *bu, ipc_chan_t *ch, Sb__Envelope *env) {
    return b2bua_dispatch(bu->b2b, ch, env);
}

bool b2bua_dispatch(b2b_t *b, ipc_chan_t *ch, Sb__Envelope *env) {
    switch (env->body_case) {
    case SB__ENVELOPE__BODY_SIP_REQUEST_IN:
        if (env->sip_request_in)
            on_request(b, ch, env->sip_request_in);
        return true;
    case SB__ENVELOPE__BODY_SIP_RESPONSE_IN:
        if (env->sip_response_in)
            on_response(b, env->sip_response_in);
        return true;
    case SB__ENVELOPE__BODY_SIP_TXN_EVENT:
        if (env->sip_txn_event)
            on_txn_event(b, env->sip_txn_event);
        return true;
    case SB__ENVELOPE__BODY_DIALOG_HANGUP:
        if (env->dialog_hangup)
            control_on_hangup(b, ch, env);
        return true;
    case SB__ENVELOPE__BODY_DIALOG_MIGRATE:
        if (env->dialog_migrate)
            control_on_migrate(b, ch, env);
        return true;
    case SB__ENVELOPE__BODY_MEDIA_EVENT:
        if (env->media_event)
            anchor_on_event(b, env->media_event);
        return true;
    default:
        return false;
    }
}

static void forget_channel(b2b_t *b, struct call *c, void *arg) {
    (void)b;
    if (c->leg[LEG_A].ch == arg)
        c->leg[LEG_A].ch = NULL;
    if (c->re.ch == arg)
        c->re.ch = NULL;
}

void b2bua_forget_channel(b2b_t *b, ipc_chan_t *ch) {
    control_peer_closed(b, ch);
    call_each(b, forget_channel, ch);
}

void b2bua_peer_closed(b2bua_t *bu, ipc_chan_t *ch) {
    b2bua_forget_channel(bu->b2b, ch);
}

/* ---------------------------------------------------------------- the worker's io */

static ipc_chan_t *io_pick(void *arg, enum sb_role role, uint64_t key) {
    return worker_peer_pick(arg, role, key);
}

static ipc_chan_t *io_instance(void *arg, enum sb_role role, int n) {
    return worker_peer_role_instance(arg, role, n);
}

static int io_media_pick(void *arg, int except) {
    worker_t *w = arg;
    return w->shm ? shm_media_pick(w->shm, except) : -1;
}

static redisAsyncContext *io_redis(void *arg) {
    worker_t *w = arg;
    return w->redis ? rds_context(w->redis) : NULL;
}

static const cfg_t *io_cfg(void *arg) {
    return ((worker_t *)arg)->cfg;
}

static bool io_draining(void *arg) {
    return ((worker_t *)arg)->draining;
}

b2b_t *b2bua_start(uv_loop_t *loop, const struct b2b_io *io, struct shm_proc *slot,
                   struct shm_stats *stats, int instance) {
    b2b_t *b = b2b_new(loop, io, slot, stats, instance);
    if (!b)
        return NULL;
    /* teardowns run in this order as a call is freed */
    control_init(b);
    setimer_init(b);
    call_events_init(b);
    call_teardown_add(b, record_forget);
    anchor_init(b);
    callcap_init(b);
    return b;
}

b2bua_t *b2bua_new(worker_t *w) {
    b2bua_t *bu = calloc(1, sizeof *bu);
    if (!bu)
        return NULL;
    struct b2b_io io = {
        .arg = w,
        .pick = io_pick,
        .instance = io_instance,
        .media_pick = io_media_pick,
        .redis = io_redis,
        .cfg = io_cfg,
        .draining = io_draining,
    };
    bu->w = w;
    bu->b2b = b2bua_start(w->loop, &io, w->slot, w->shm ? shm_stats_of(w->shm, w->slot) : NULL,
                          w->instance);
    if (!bu->b2b) {
        free(bu);
        return NULL;
    }
    return bu;
}

static void leave_quietly(b2b_t *b, struct call *c, void *arg) {
    (void)arg;
    /* the call stays in Redis and its media in mediad: a new dialogd picks it up at its
     * next request (a drained or retired instance must not end its calls' media) */
    c->saved = false;
    c->media_session = 0;
    c->quiet = true;
    call_free(b, c);
}

void b2bua_stop(b2b_t *b) {
    call_each(b, leave_quietly, NULL);
    control_fini(b);
    setimer_fini(b);
    callcap_fini(b);
    b->closing = true;
    b2b_release(b);
}

void b2bua_free(b2bua_t *bu) {
    if (!bu)
        return;
    b2bua_stop(bu->b2b);
    free(bu);
}
