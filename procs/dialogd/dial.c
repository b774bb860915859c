/* dial - see dial.h */
#include "dial.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "anchor.h"
#include "call_events.h"
#include "callcap.h"
#include "end.h"
#include "log.h"
#include "proto/route.pb-c.h"
#include "record.h"
#include "setimer.h"
#include "sipout.h"

static void run_next(b2b_t *b, struct call *c);

/* The dialplan's dials: a failure moves on to the next action. */
static void dialplan_failed(b2b_t *b, struct call *c, unsigned status) {
    c->last_failure = status;
    run_next(b, c);
}

static const struct dial_ops dialplan_ops = {
    .state = CS_CALLING,
    .failed = dialplan_failed,
    .answered = NULL,
};

/* A's INVITE answered; a 2xx carries A's session timer (RFC 4028 9), which runs from it. */
static void answer_a(b2b_t *b, struct call *c, unsigned status, const char *reason,
                     const char *content_type, const uint8_t *body, size_t len) {
    struct sipout_hdrs hs = {.n = 0};
    bool ok = status / 100 == 2;
    bool timer = ok && setimer_answer_headers(c, LEG_A, &hs);
    if (sipout_respond_a(b, c, status, reason, content_type, body, len, timer ? &hs : NULL) && ok)
        setimer_start(b, c, LEG_A);
}

static bool is_sdp(const char *content_type) {
    return content_type && strncasecmp(content_type, CALL_SDP, strlen(CALL_SDP)) == 0;
}

static bool dialing(const struct call *c) {
    return c->state == CS_CALLING || c->state == CS_EARLY || c->state == CS_TRANSFERRING;
}

/* ---------------------------------------------------------------- forks */

/* Whether fork k is no longer wanted: the caller gave up, the dial timed out, the call
 * ends, or another fork answered. */
static bool fork_unwanted(const struct call *c, unsigned k) {
    return c->cancelled || c->dial_timed_out || c->state == CS_ENDING ||
           (c->winner >= 0 && (int)k != c->winner);
}

static bool all_forks_done(const struct call *c) {
    for (unsigned k = 0; k < c->nforks; k++)
        if (!c->forks[k].done)
            return false;
    return true;
}

/* Fork k's own dialog, as a UAC leg (for its INVITE, or the ACK and BYE of a loser). */
static struct dlg fork_dlg(const struct call *c, unsigned k) {
    const struct call_fork *f = &c->forks[k];
    const struct dlg *bl = &c->leg[LEG_B];
    struct dlg d = {
        .role = DLG_UAC,
        .call_id = f->call_id,
        .local_tag = f->from_tag,
        .local_uri = bl->local_uri,
        .local_display = bl->local_display,
        .remote_uri = bl->remote_uri,
        .remote_target = f->target,
        .hop = f->hop,
    };
    /* RFC 3327 6: a binding registered through a Path is reached through it (borrowed) */
    for (size_t i = 0; i < f->hop.n_path && i < DLG_MAX_ROUTES; i++)
        d.route_set[d.nroutes++] = f->hop.path[i];
    return d;
}

static bool send_fork_invite(b2b_t *b, struct call *c, unsigned k) {
    struct dlg d = fork_dlg(c, k);
    Sb__SipMessage msg = SB__SIP_MESSAGE__INIT;
    dlg_request_fill(&d, &msg, "INVITE", 1);
    const struct dlg *a = &c->leg[LEG_A];
    if (c->media_session) { /* mediad's offer: B sends its media to us */
        msg.content_type = CALL_SDP;
        msg.body.data = c->leg[LEG_B].ours.data;
        msg.body.len = c->leg[LEG_B].ours.len;
    } else if (a->sdp.len) {
        msg.content_type = c->content_type;
        msg.body.data = a->sdp.data;
        msg.body.len = a->sdp.len;
    }
    struct sipout_hdrs hs = {.n = 0};
    setimer_offer_headers(&hs); /* the callee may ask for a session timer */
    msg.headers = hs.p;
    msg.n_headers = hs.n;
    /* RFC 3261 16.6 step 3, for a B2BUA: the B leg has one hop less than A's INVITE, so a
     * call that comes back to us (a contact naming us) runs out of hops */
    msg.max_forwards = c->a_max_forwards ? (int)c->a_max_forwards - 1 : 70;
    msg.max_forwards_set = true;
    return sipout_send(b, c, NULL, k, LEG_B, KIND_INVITE, &msg);
}

/* A fork that answered 2xx after another one won: ACK and BYE on its own dialog
 * (RFC 3261 13.2.2.4 and 15). */
static void hang_up_fork(b2b_t *b, struct call *c, unsigned k, const Sb__SipMessage *m) {
    struct dlg d = fork_dlg(c, k);
    d.remote_tag = m->to_tag;
    if (m->contact && *m->contact)
        d.remote_target = m->contact;
    Sb__SipMessage msg = SB__SIP_MESSAGE__INIT;
    dlg_request_fill(&d, &msg, "ACK", 1);
    sipout_send(b, c, NULL, k, LEG_B, KIND_INVITE, &msg);
    dlg_request_fill(&d, &msg, "BYE", 2);
    sipout_send(b, c, NULL, k, LEG_B, KIND_STRAY, &msg);
    c->forks[k].done = true;
    log_call(LOG_INFO, c->leg[LEG_A].call_id, "a second contact answered; hung up");
}

/* The dial is over without an answer: its ops hear it. */
static void dial_failed(b2b_t *b, struct call *c, unsigned status) {
    const struct dial_ops *ops = c->dial;
    uv_timer_stop(&c->dial_timer);
    c->dial = NULL;
    ops->failed(b, c, status);
}

static void dial_timeout(uv_timer_t *t) {
    struct call *c = t->data;
    b2b_t *b = c->b2b;
    if (!dialing(c) || !c->dial)
        return;
    log_call(LOG_INFO, c->leg[LEG_A].call_id, "no answer from %u contact(s) in time", c->nforks);
    c->dial_timed_out = true;
    if (end_cancel_forks(b, c))
        return; /* their 487s move the call on */
    /* nothing heard from any: abandon this attempt (its late answers are ignored) */
    dial_failed(b, c, 480);
}

static void forks_clear(struct call *c) {
    for (unsigned i = 0; i < c->nforks; i++) {
        free(c->forks[i].call_id);
        free(c->forks[i].from_tag);
        free(c->forks[i].target);
        dlg_peer_free(&c->forks[i].hop);
    }
    memset(c->forks, 0, sizeof c->forks);
    c->nforks = 0;
    c->winner = -1;
    c->fork_failure = 0;
}

/* RFC 5626 5.3: the first fork before k (from k + 1: after k) whose binding is a flow of
 * the same instance as k's; -1 none (or k is no outbound binding). */
static int instance_fork(const struct call *c, unsigned k, unsigned from, unsigned to) {
    const char *inst = c->forks[k].hop.instance;
    if (!inst || !*inst)
        return -1;
    for (unsigned j = from; j < to; j++)
        if (j != k && c->forks[j].hop.instance && strcmp(c->forks[j].hop.instance, inst) == 0)
            return (int)j;
    return -1;
}

static int same_instance(const struct call *c, unsigned k) {
    return instance_fork(c, k, 0, k);
}

/* Fork k's flow failed (430): ring the next flow of its instance; false when none is
 * left or it cannot be sent. */
static bool fork_next_flow(b2b_t *b, struct call *c, unsigned k) {
    for (int j; (j = instance_fork(c, k, k + 1, c->nforks)) >= 0;) {
        struct call_fork *f = &c->forks[j];
        if (!f->standby) {
            k = (unsigned)j; /* already rung: look past it */
            continue;
        }
        f->standby = false;
        f->done = false;
        log_call(LOG_INFO, c->leg[LEG_A].call_id, "flow failed; trying the next flow of %s",
                 f->hop.instance);
        if (send_fork_invite(b, c, (unsigned)j))
            return true;
        f->done = true;
        k = (unsigned)j;
    }
    return false;
}

void dial_start(b2b_t *b, struct call *c, const char *const *uris,
                const Sb__SipPeer *const *hops, unsigned n, unsigned timeout,
                const struct dial_ops *ops) {
    struct dlg *bl = &c->leg[LEG_B];
    call_unlink(b, c, LEG_B);
    char *keep[] = {bl->local_uri, bl->local_display, bl->remote_uri};
    bl->local_uri = bl->local_display = bl->remote_uri = NULL;
    struct dlg_blob ours = bl->ours, sdp = bl->sdp;
    bl->ours = bl->sdp = (struct dlg_blob){NULL, 0};
    dlg_clear(bl); /* a new B dialog: From and To as they were, the SDPs kept */
    bl->role = DLG_UAC;
    bl->local_uri = keep[0];
    bl->local_display = keep[1];
    bl->remote_uri = keep[2];
    bl->ours = ours;
    bl->sdp = sdp;
    bl->local_cseq = 1;
    forks_clear(c);
    c->dial_timed_out = false;
    c->dial = ops;
    c->attempt++;
    c->state = ops->state;
    unsigned sent = 0;
    for (unsigned i = 0; i < n && i < CALL_MAX_FORKS; i++) {
        char tag[24], cid[24], call_id[64];
        struct call_fork *f = &c->forks[c->nforks++];
        if (call_random_hex(tag, sizeof tag) < 0 || call_random_hex(cid, sizeof cid) < 0) {
            f->done = true;
            continue;
        }
        snprintf(call_id, sizeof call_id, "sbd%d.%s", b->instance, cid);
        f->call_id = strdup(call_id);
        f->from_tag = strdup(tag);
        f->target = strdup(uris[i]);
        bool hop = !hops || !hops[i] || dlg_peer_copy(&f->hop, hops[i]);
        if (hop && f->call_id && f->from_tag && f->target && same_instance(c, c->nforks - 1) >= 0) {
            f->standby = f->done = true; /* its instance rings on one flow at a time */
            continue;
        }
        if (!f->call_id || !f->from_tag || !f->target || !hop ||
            !send_fork_invite(b, c, c->nforks - 1)) {
            f->done = true;
            continue;
        }
        sent++;
    }
    if (!sent) {
        dial_failed(b, c, 503);
        return;
    }
    record_save(b, c);
    uv_timer_start(&c->dial_timer, dial_timeout, (uint64_t)timeout * 1000, 0);
}

/* ---------------------------------------------------------------- location */

struct locate_wait {
    const struct dial_ops *ops;
    unsigned timeout;
    enum call_state state; /* the state that asked: an answer in another is stale */
};

/* The contacts of a LocationReply and where each registered from (at most
 * CALL_MAX_FORKS; none unless status 200). */
static unsigned located(const Sb__LocationReply *lr, const char **uris,
                        const Sb__SipPeer **hops) {
    unsigned n = 0;
    for (size_t i = 0; lr && lr->status == 200 && i < lr->n_bindings && n < CALL_MAX_FORKS; i++)
        if (lr->bindings[i] && lr->bindings[i]->uri && *lr->bindings[i]->uri) {
            hops[n] = lr->bindings[i]->source;
            uris[n++] = lr->bindings[i]->uri;
        }
    return n;
}

/* A location's answer: every live contact rings, or the dial fails. */
static void dial_located(b2b_t *b, struct call *c, const Sb__LocationReply *lr, unsigned timeout,
                         const struct dial_ops *ops) {
    const char *uris[CALL_MAX_FORKS];
    const Sb__SipPeer *hops[CALL_MAX_FORKS];
    unsigned n = located(lr, uris, hops);
    if (n)
        dial_start(b, c, uris, hops, n, timeout, ops);
    else
        ops->failed(b, c, !lr || lr->status == 503 ? 503 : 404);
}

static void location_answered(b2b_t *b, struct call *c, ipc_chan_t *ch, Sb__Envelope *env,
                              void *arg) {
    (void)ch;
    const struct locate_wait *lw = arg;
    if (c->state != lw->state)
        return; /* the call moved on meanwhile */
    dial_located(b, c,
                 env && env->body_case == SB__ENVELOPE__BODY_LOCATION_REPLY ? env->location_reply
                                                                            : NULL,
                 lw->timeout, lw->ops);
}

void dial_locate(b2b_t *b, struct call *c, const char *aor, unsigned timeout,
                 const struct dial_ops *ops) {
    Sb__LocationRequest lq = SB__LOCATION_REQUEST__INIT;
    lq.aor = (char *)aor;
    lq.call_id = c->leg[LEG_A].call_id;
    Sb__Envelope env = ipc_envelope_location_request(&lq);
    struct locate_wait *lw = malloc(sizeof *lw);
    if (lw)
        *lw = (struct locate_wait){ops, timeout, c->state};
    if (!lw || !call_request(b, c, b->io.pick(b->io.arg, SB_ROLE_routerd, c->id), &env,
                             DIAL_LOCATION_TIMEOUT_MS, location_answered, lw, NULL))
        ops->failed(b, c, 503);
}

/* ---------------------------------------------------------------- the dialplan */

static void play_done(b2b_t *b, struct call *c, bool ok) {
    if (!ok)
        c->last_failure = 503;
    run_next(b, c);
}

/* The call's next action, or its end when none is left. */
static void run_next(b2b_t *b, struct call *c) {
    uv_timer_stop(&c->dial_timer);
    if (c->cancelled) {
        end_fail(b, c, c->cancel_status ? c->cancel_status : 487, NULL);
        return;
    }
    if (c->next_action >= c->nactions) {
        /* RFC 3261 16.7-like: the caller hears why the last action failed */
        end_fail(b, c, c->last_failure ? c->last_failure : 480, NULL);
        return;
    }
    const struct call_action *a = &c->actions[c->next_action++];
    switch (a->type) {
    case ACT_HANGUP:
        end_fail(b, c, a->status ? a->status : 480, NULL);
        return;
    case ACT_PLAY:
        if (!c->media_session) { /* no SDP offer from the caller: nothing to play to */
            dialplan_failed(b, c, 488);
            return;
        }
        if (!c->leg[LEG_A].final_sent) { /* an IVR route answers here, with our side-A ports */
            answer_a(b, c, 200, NULL, CALL_SDP, c->a_local.data, c->a_local.len);
            c->state = CS_ANSWERED;
            c->answered_ms = call_wall_ms();
            shm_count(b->slot, SHM_C_calls_answered, 1);
            record_save(b, c);
            call_events_publish(b, c, "call.answered");
        }
        c->play_done = play_done;
        if (!anchor_play(b, c, a->file))
            dialplan_failed(b, c, 503);
        return;
    case ACT_DIAL:
        if (a->uri) {
            const char *uris[1] = {a->uri};
            dial_start(b, c, uris, NULL, 1, a->timeout, &dialplan_ops);
            return;
        }
        if (a->located) { /* the route brought its location */
            if (a->ncontacts) {
                const Sb__SipPeer *hops[CALL_MAX_FORKS];
                for (unsigned k = 0; k < a->ncontacts; k++)
                    hops[k] = &a->hops[k];
                dial_start(b, c, (const char *const *)a->contacts, hops, a->ncontacts,
                           a->timeout, &dialplan_ops);
            }
            else
                dialplan_failed(b, c, a->location_status == 503 ? 503 : 404);
            return;
        }
        c->state = CS_ROUTING;
        dial_locate(b, c, a->aor, a->timeout, &dialplan_ops);
        return;
    }
}

/* mediad took A's offer: B will be offered mediad's rewrite, an IVR answer uses the
 * side-A SDP; then the first action. */
static void offer_anchored(b2b_t *b, struct call *c, const Sb__MediaReply *rep, unsigned status) {
    (void)status;
    if (c->state != CS_ROUTING)
        return;
    if (!anchor_ok(rep)) {
        bool refused = rep && (rep->status == SB__MEDIA_STATUS__MEDIA_STATUS_BAD_SDP ||
                               rep->status == SB__MEDIA_STATUS__MEDIA_STATUS_UNRELAYABLE);
        log_call_ratelimited(LOG_WARN, c->leg[LEG_A].call_id, "mediad: %s",
                             rep && rep->reason ? rep->reason : "no answer");
        /* RFC 3261 21.4.26: an offer we cannot take is 488; no media resources 503 */
        end_fail(b, c, refused ? 488 : 503, refused ? NULL : "Media unavailable");
        return;
    }
    dlg_blob_keep(&c->leg[LEG_B].ours, rep->sdp.data, rep->sdp.len);
    dlg_blob_keep(&c->a_local, rep->sdp_local.data, rep->sdp_local.len);
    if (!c->leg[LEG_B].ours.data || !c->a_local.data) {
        end_fail(b, c, 500, "Out of memory");
        return;
    }
    run_next(b, c);
}

/* The location routerd looked up with the route (its first dial's): the contacts kept. */
static void copy_location(struct call_action *a, const Sb__LocationReply *lr) {
    const char *uris[CALL_MAX_FORKS];
    const Sb__SipPeer *hops[CALL_MAX_FORKS];
    unsigned n = located(lr, uris, hops);
    a->located = true;
    a->location_status = lr->status;
    for (unsigned k = 0; k < n; k++) {
        if (!(a->contacts[a->ncontacts] = strdup(uris[k])))
            continue;
        if (!dlg_peer_copy(&a->hops[a->ncontacts], hops[k])) {
            free(a->contacts[a->ncontacts]);
            continue;
        }
        a->ncontacts++;
    }
}

static void copy_action(struct call_action *a, const Sb__RouteAction *ra) {
    a->type = ra->type == SB__ROUTE_ACTION_TYPE__ROUTE_ACTION_DIAL         ? ACT_DIAL
              : ra->type == SB__ROUTE_ACTION_TYPE__ROUTE_ACTION_PLAY_AUDIO ? ACT_PLAY
                                                                           : ACT_HANGUP;
    a->timeout = ra->timeout ? ra->timeout : 30;
    a->status = ra->status;
    a->aor = ra->aor && *ra->aor ? strdup(ra->aor) : NULL;
    a->uri = ra->uri && *ra->uri ? strdup(ra->uri) : NULL;
    a->file = ra->file && *ra->file ? strdup(ra->file) : NULL;
    if (a->type == ACT_PLAY && !a->file)
        a->type = ACT_HANGUP;
    if (a->type == ACT_DIAL && !a->aor && !a->uri)
        a->type = ACT_HANGUP; /* out of memory or a reply without a target */
    if (a->type == ACT_DIAL && a->aor && ra->location)
        copy_location(a, ra->location);
}

static void route_answered(b2b_t *b, struct call *c, ipc_chan_t *ch, Sb__Envelope *env, void *arg) {
    (void)ch;
    (void)arg;
    if (c->state != CS_ROUTING)
        return;
    const Sb__RouteReply *rr =
        env && env->body_case == SB__ENVELOPE__BODY_ROUTE_REPLY ? env->route_reply : NULL;
    if (!rr || rr->status == 503) {
        end_fail(b, c, 503, "Routing unavailable");
        return;
    }
    if (rr->status != 200 || rr->n_actions == 0) {
        end_fail(b, c, 404, "No route");
        return;
    }
    log_call(LOG_DEBUG, c->leg[LEG_A].call_id, "call to %s: route %s", c->destination,
             rr->route_id ? rr->route_id : "?");
    size_t n = rr->n_actions < CALL_MAX_ACTIONS ? rr->n_actions : CALL_MAX_ACTIONS;
    if (!(c->actions = calloc(n, sizeof *c->actions))) {
        end_fail(b, c, 500, "Out of memory");
        return;
    }
    for (size_t i = 0; i < n; i++)
        copy_action(&c->actions[c->nactions++], rr->actions[i]);
    /* an SDP offer: anchor the media before anything rings (RFC 3264) */
    if (c->leg[LEG_A].sdp.len && is_sdp(c->content_type)) {
        if (!anchor_create(b, c, LEG_A, offer_anchored))
            end_fail(b, c, 503, "Media unavailable");
    } else {
        c->late_offer = c->leg[LEG_A].sdp.len == 0; /* the callee's 2xx will offer */
        run_next(b, c);
    }
}

void dial_on_invite(b2b_t *b, ipc_chan_t *ch, const Sb__SipRequestIn *in) {
    const Sb__SipMessage *m = in->msg;
    if (b->io.draining && b->io.draining(b->io.arg)) {
        sipout_respond(b, ch, in->txn_id, 503, NULL, 0, NULL);
        return;
    }
    struct dlg_timer timer;
    if (!setimer_request(b, ch, in, &timer)) /* answered 422 or 400 */
        return;
    struct call *c = call_new(b);
    if (!c) {
        sipout_respond(b, ch, in->txn_id, 500, NULL, 0, NULL);
        return;
    }
    struct dlg *a = &c->leg[LEG_A], *bl = &c->leg[LEG_B];
    a->ch = ch;
    a->txn = in->txn_id;
    a->remote_port = m->contact_port;
    a->timer = timer;
    /* sipd answered 483 to an INVITE with Max-Forwards 0 */
    c->a_max_forwards =
        m->max_forwards > 0 && m->max_forwards <= 255 ? (unsigned)m->max_forwards : 0;
    bool ok = dlg_set(&a->call_id, m->call_id) && dlg_set(&a->remote_display, m->from_display) &&
              dlg_set(&a->remote_uri, m->from_uri) && dlg_set(&a->remote_tag, m->from_tag) &&
              dlg_set(&a->local_uri, m->to_uri) &&
              dlg_set(&a->remote_target, m->contact && *m->contact ? m->contact : m->from_uri) &&
              dlg_set(&a->remote_host, m->contact_host) &&
              dlg_set_routes(a, m->record_route, m->n_record_route) &&
              dlg_set(&bl->local_display, m->from_display) &&
              dlg_set(&bl->local_uri, m->from_uri) && dlg_set(&bl->remote_uri, m->to_uri) &&
              dlg_set(&c->content_type, m->content_type) &&
              dlg_set(&c->destination, m->ruri_user) && dlg_set(&c->caller_id, m->from_user);
    ok = ok && dlg_peer_copy(&a->hop, in->source);
    dlg_blob_keep(&a->sdp, m->body.data, m->body.len);
    call_link(b, c, LEG_A);
    shm_count(b->slot, SHM_C_calls_started, 1);
    if (a->call_id && c->destination)
        call_events_publish(b, c, "call.started");
    if (!ok || (m->body.len && !a->sdp.data)) {
        end_fail(b, c, 500, "Out of memory");
        return;
    }
    if (!*c->destination) { /* nothing to dial */
        end_fail(b, c, 404, "No route");
        return;
    }
    const char *cap = NULL;
    if (!callcap_admit(b, c, in->source ? in->source->addr : NULL, m->from_uri, &cap)) {
        log_call_ratelimited(LOG_INFO, a->call_id, "call refused: %s reached", cap);
        end_fail(b, c, 403, "Too many calls");
        return;
    }
    Sb__RouteRequest rq = SB__ROUTE_REQUEST__INIT;
    rq.call_id = a->call_id;
    rq.destination = c->destination;
    rq.caller_id = c->caller_id;
    rq.caller_name = a->remote_display;
    rq.domain = m->ruri_host;
    rq.source_trusted = in->source_trusted; /* the dialplan's "from" */
    rq.auth_user = in->auth_user;
    Sb__Envelope env = ipc_envelope_route_request(&rq);
    if (!call_request(b, c, b->io.pick(b->io.arg, SB_ROLE_routerd, c->id), &env,
                      DIAL_ROUTE_TIMEOUT_MS, route_answered, NULL, NULL))
        end_fail(b, c, 503, NULL);
}

void dial_cancel(b2b_t *b, struct call *c, unsigned status) {
    c->cancel_status = status;
    c->cancelled = true;
    /* the forks' 487s end the call (A then gets its status); if none has answered
     * anything yet there is nothing to wait for */
    if ((c->state == CS_CALLING || c->state == CS_EARLY) && !end_cancel_forks(b, c))
        end_fail(b, c, status ? status : 487, NULL);
    /* routing or anchoring: run_next sees the call cancelled */
}

/* ---------------------------------------------------------------- the B leg's answers */

static struct call_fork *fork_of(struct call *c, const Sb__SipResponseIn *in, unsigned k) {
    if (k >= c->nforks)
        return NULL;
    if (in->txn_id)
        c->forks[k].txn = in->txn_id;
    return &c->forks[k];
}

/* An 18x's SDP, rewritten for A: early media through mediad. */
static void early_rewritten(b2b_t *b, struct call *c, const Sb__MediaReply *rep, unsigned status) {
    bool ok = anchor_ok(rep);
    if (ok) /* a 2xx without SDP answers A with this one again */
        dlg_blob_keep(&c->leg[LEG_A].ours, rep->sdp.data, rep->sdp.len);
    if ((c->state == CS_CALLING || c->state == CS_EARLY) && !c->cancelled)
        answer_a(b, c, status, NULL, ok ? CALL_SDP : NULL, ok ? rep->sdp.data : NULL,
                 ok ? rep->sdp.len : 0);
}

void dial_b_provisional(b2b_t *b, struct call *c, const Sb__SipResponseIn *in, unsigned k) {
    const Sb__SipMessage *m = in->msg;
    if (!fork_of(c, in, k))
        return;
    if (fork_unwanted(c, k)) { /* its CANCEL could not go before: it goes now */
        end_cancel_fork(b, c, k);
        return;
    }
    if (m->status == 100 || c->leg[LEG_A].final_sent)
        return;
    if (!c->ringing_ms) { /* the first ring: in the record and the event stream */
        c->ringing_ms = call_wall_ms();
        c->ringing_status = m->status;
        record_save_field(b, c, "ringing_ms", c->ringing_ms);
        call_events_publish(b, c, "call.ringing");
    }
    /* 180, 183 relayed as they come; an SDP in them is early media through mediad */
    if (c->media_session && m->body.len) {
        c->state = CS_EARLY;
        if (anchor_update(b, c, LEG_B, SB__MEDIA_SDP_TYPE__MEDIA_SDP_ANSWER, m->body, false,
                          early_rewritten, m->status))
            return;
    }
    answer_a(b, c, m->status, m->reason, NULL, NULL, 0);
}

void dial_b_provisional_late(b2b_t *b, struct call *c, const Sb__SipResponseIn *in, unsigned k) {
    if (fork_of(c, in, k) && fork_unwanted(c, k))
        end_cancel_fork(b, c, k);
}

void dial_b_failed(b2b_t *b, struct call *c, const Sb__SipResponseIn *in, unsigned k) {
    unsigned status = in->msg->status;
    struct call_fork *f = fork_of(c, in, k);
    if (!f || (f->done && !f->cancel_sent))
        return; /* a copy, or a fork given up */
    f->done = true;
    if (c->winner >= 0 || !c->dial)
        return; /* a loser's 487, or a fork of a dial that is over */
    if (status == 430) {
        /* RFC 5626 5.3: the flow is gone; another flow of the instance may work. A 430
         * means nothing to the caller: without one it hears 480. */
        if (!fork_unwanted(c, k) && fork_next_flow(b, c, k))
            return;
        status = 480;
    }
    /* RFC 3261 16.7-like: a 6xx beats a busy, a busy beats the rest */
    if (!c->fork_failure || status >= 600 || (status == 486 && c->fork_failure < 600))
        c->fork_failure = status;
    if (!all_forks_done(c))
        return;
    uv_timer_stop(&c->dial_timer);
    if (c->cancelled) {
        end_fail(b, c, c->cancel_status ? c->cancel_status : 487, NULL);
        return;
    }
    /* a failed dial: the dialplan goes on with its next action (failover, "busy"
     * messages); the caller hears this status if none is left */
    dial_failed(b, c, c->dial_timed_out ? 480 : c->fork_failure);
}

void dial_b_failed_late(b2b_t *b, struct call *c, const Sb__SipResponseIn *in, unsigned k) {
    (void)b;
    struct call_fork *f = fork_of(c, in, k);
    if (f)
        f->done = true;
}

/* The callee's answer, rewritten for A. */
static void answer_rewritten(b2b_t *b, struct call *c, const Sb__MediaReply *rep, unsigned status) {
    (void)status;
    if (!call_established(c))
        return;
    if (!anchor_ok(rep)) {
        if (c->leg[LEG_A].final_sent) {
            end_hang_up(b, c, "mediad refused the callee's answer");
            return;
        }
        /* A never answered: B's dialog ends, A hears 488 */
        sipout_request(b, c, LEG_B, "BYE", call_next_cseq(c, LEG_B), KIND_BYE, NULL, 0, NULL);
        end_fail(b, c, 488, NULL);
        return;
    }
    dlg_blob_keep(&c->leg[LEG_A].ours, rep->sdp.data, rep->sdp.len);
    answer_a(b, c, 200, NULL, CALL_SDP, rep->sdp.data, rep->sdp.len);
}

/* A late offer that cannot be anchored: B is acknowledged and hung up, A gets status. */
static void late_fail(b2b_t *b, struct call *c, unsigned status) {
    log_call_ratelimited(LOG_WARN, c->leg[LEG_A].call_id,
                         "mediad cannot take the callee's late offer");
    sipout_request(b, c, LEG_B, "ACK", 1, KIND_INVITE, NULL, 0, NULL);
    answer_a(b, c, status, NULL, NULL, NULL, 0);
    c->leg[LEG_A].final_sent = false; /* a final error: no BYE to A */
    c->end_cause = "failed";
    c->end_status = status;
    end_hang_up(b, c, "the callee's offer cannot be anchored");
}

/* The callee's late offer, rewritten: A's 200 carries it. */
static void late_offer_rewritten(b2b_t *b, struct call *c, const Sb__MediaReply *rep,
                                 unsigned status) {
    (void)status;
    if (c->state != CS_LATE_ACK)
        return;
    if (!anchor_ok(rep)) {
        late_fail(b, c, rep && rep->status == SB__MEDIA_STATUS__MEDIA_STATUS_BAD_SDP ? 488 : 503);
        return;
    }
    dlg_blob_keep(&c->leg[LEG_A].ours, rep->sdp.data, rep->sdp.len);
    answer_a(b, c, 200, NULL, CALL_SDP, rep->sdp.data, rep->sdp.len);
}

/* The first 2xx of the dial: fork k's dialog becomes the call's B leg. */
static bool take_winner(b2b_t *b, struct call *c, unsigned k, const Sb__SipResponseIn *in) {
    const Sb__SipMessage *m = in->msg;
    struct call_fork *f = &c->forks[k];
    struct dlg *bl = &c->leg[LEG_B];
    c->winner = (int)k;
    f->done = true;
    bl->txn = f->txn;
    bl->remote_port = m->contact_port;
    if (!dlg_set(&bl->call_id, f->call_id) || !dlg_set(&bl->local_tag, f->from_tag) ||
        !dlg_set(&bl->remote_tag, m->to_tag) ||
        !dlg_set(&bl->remote_target, m->contact && *m->contact ? m->contact : f->target) ||
        !dlg_set(&bl->remote_host, m->contact_host) ||
        !dlg_set_routes(bl, m->record_route, m->n_record_route) ||
        /* a callee behind NAT answered from its public address: its requests go there */
        !dlg_peer_copy(&bl->hop, in->source && in->source->nated ? in->source
                                 : f->hop.base.descriptor ? &f->hop
                                                          : in->source)) {
        hang_up_fork(b, c, k, m);
        c->winner = -1;
        return false;
    }
    call_link(b, c, LEG_B);
    end_cancel_forks(b, c);
    setimer_from_answer(b, c, m); /* the callee's session timer, if it asks */
    return true;
}

/* Our ACK to B's 2xx (a copy of it gets the same ACK). */
static void ack_b(b2b_t *b, struct call *c) {
    if (c->b_ack_sdp.len)
        sipout_request(b, c, LEG_B, "ACK", 1, KIND_INVITE, c->b_ack_sdp.data, c->b_ack_sdp.len,
                       NULL);
    else if (c->state != CS_LATE_ACK)
        sipout_request(b, c, LEG_B, "ACK", 1, KIND_INVITE, NULL, 0, NULL);
}

void dial_b_answered(b2b_t *b, struct call *c, const Sb__SipResponseIn *in, unsigned k) {
    const Sb__SipMessage *m = in->msg;
    if (!fork_of(c, in, k))
        return;
    if (!c->dial || c->winner >= 0) { /* a copy, a loser, or a fork of a dial that is over */
        dial_b_answered_again(b, c, in, k);
        return;
    }
    if (!take_winner(b, c, k, in))
        return;
    /* a late offer (the caller's INVITE had none): the callee offers in its 2xx and our
     * ACK carries the answer, which comes in the caller's ACK */
    bool late = c->late_offer && !c->media_session && m->body.len && is_sdp(m->content_type);
    uv_timer_stop(&c->dial_timer);
    if (c->cancelled) { /* A gave up as B answered: end B, A gets 487 */
        c->dial = NULL;
        sipout_request(b, c, LEG_B, "ACK", 1, KIND_INVITE, NULL, 0, NULL);
        c->end_status = c->cancel_status ? c->cancel_status : 487;
        c->end_cause = "cancelled";
        answer_a(b, c, c->end_status, NULL, NULL, NULL, 0);
        c->state = CS_ENDING;
        c->pending_byes =
            sipout_request(b, c, LEG_B, "BYE", call_next_cseq(c, LEG_B), KIND_BYE, NULL, 0, NULL);
        if (!c->pending_byes)
            call_free(b, c);
        return;
    }
    struct dlg *a = &c->leg[LEG_A];
    bool answered_here = a->final_sent; /* A was answered by a prompt before */
    const struct dial_ops *ops = c->dial;
    c->dial = NULL;
    c->state = late && !answered_here      ? CS_LATE_ACK
               : answered_here && a->acked ? CS_CONFIRMED
                                           : CS_ANSWERED;
    ack_b(b, c);
    if (!answered_here) {
        c->answered_ms = call_wall_ms();
        shm_count(b->slot, SHM_C_calls_answered, 1);
        if (b->stats)
            shm_setup_observe(b->stats, (uint64_t)(c->answered_ms - c->created_ms));
    }
    record_save(b, c);
    if (!answered_here)
        call_events_publish(b, c, "call.answered");
    if (c->state == CS_LATE_ACK) { /* mediad takes the callee's offer; A gets it rewritten */
        dlg_blob_keep(&c->leg[LEG_B].sdp, m->body.data, m->body.len);
        if (!anchor_create(b, c, LEG_B, late_offer_rewritten))
            late_fail(b, c, 503);
        return;
    }
    if (!c->media_session) { /* no media anchored: bodies pass as they are */
        answer_a(b, c, m->status, m->reason, m->content_type, m->body.data, m->body.len);
    } else if (m->body.len) {
        /* mediad learns B's answer; A gets it rewritten (unless A has its answer) */
        if (!anchor_update(b, c, LEG_B, SB__MEDIA_SDP_TYPE__MEDIA_SDP_ANSWER, m->body, true,
                           answer_rewritten, m->status)) {
            end_hang_up(b, c, "mediad unreachable");
            return;
        }
    } else if (!answered_here) { /* the answer came in a 183 already */
        answer_a(b, c, 200, m->reason, CALL_SDP, a->ours.data, a->ours.len);
    }
    if (ops && ops->answered)
        ops->answered(b, c);
}

void dial_b_answered_again(b2b_t *b, struct call *c, const Sb__SipResponseIn *in, unsigned k) {
    if (!fork_of(c, in, k))
        return;
    if (c->winner >= 0 && (int)k == c->winner)
        ack_b(b, c); /* a copy of the winner's 2xx: the same ACK again */
    else
        hang_up_fork(b, c, k, in->msg); /* answered as the call was going */
}

/* ---------------------------------------------------------------- A's ACK */

static void txn_acked(b2b_t *b, struct call *c, const Sb__SipRequestIn *in) {
    if (in->txn_id) /* another sipd instance got it: tell the owner to stop */
        return;
    Sb__SipTxnEvent ev = SB__SIP_TXN_EVENT__INIT;
    ev.txn_id = c->leg[LEG_A].txn;
    ev.kind = SB__SIP_TXN_EVENT_KIND__SIP_TXN_EVENT_ACKED;
    ipc_chan_t *ch = sipout_sipd_for(b, c->leg[LEG_A].txn);
    if (ch)
        ipc_send_sip_txn_event(ch, &ev);
}

/* The caller's answer to a late offer, rewritten: it goes in our ACK to B. */
static void late_answer_rewritten(b2b_t *b, struct call *c, const Sb__MediaReply *rep,
                                  unsigned status) {
    (void)status;
    if (c->state != CS_LATE_ACK)
        return;
    c->state = CS_CONFIRMED;
    if (!anchor_ok(rep)) {
        sipout_request(b, c, LEG_B, "ACK", 1, KIND_INVITE, NULL, 0, NULL);
        c->end_cause = "failed";
        end_hang_up(b, c, "mediad refused the caller's answer to a late offer");
        return;
    }
    dlg_blob_keep(&c->b_ack_sdp, rep->sdp.data, rep->sdp.len);
    ack_b(b, c);
    record_save(b, c);
}

void dial_a_acked(b2b_t *b, struct call *c, const Sb__SipRequestIn *in) {
    struct dlg *a = &c->leg[LEG_A];
    if (!a->final_sent || a->acked)
        return;
    a->acked = true;
    if (c->state == CS_ANSWERED) {
        c->state = CS_CONFIRMED;
        record_save(b, c);
    } else if (c->state == CS_LATE_ACK) {
        ProtobufCBinaryData sdp = in->msg->body;
        if (!sdp.len) { /* RFC 3264: the ACK had to answer the offer of our 2xx */
            c->state = CS_CONFIRMED;
            sipout_request(b, c, LEG_B, "ACK", 1, KIND_INVITE, NULL, 0, NULL);
            c->end_cause = "failed";
            end_hang_up(b, c, "the caller's ACK has no answer to the late offer");
            return;
        }
        if (!anchor_update(b, c, LEG_A, SB__MEDIA_SDP_TYPE__MEDIA_SDP_ANSWER, sdp, true,
                           late_answer_rewritten, 0)) {
            c->state = CS_CONFIRMED;
            sipout_request(b, c, LEG_B, "ACK", 1, KIND_INVITE, NULL, 0, NULL);
            end_hang_up(b, c, "mediad unreachable");
            return;
        }
    }
    txn_acked(b, c, in);
}
