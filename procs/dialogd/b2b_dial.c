/* b2b_dial - see b2b.h */
#include "b2b.h"

/* Asks routerd (request env) and calls cb with the call still alive, or fails it. */
void b2b_ask_routerd(b2bua_t *b, struct call *c, Sb__Envelope *env, ipc_reply_cb cb,
                     uint32_t timeout_ms) {
    ipc_chan_t *router = worker_peer_pick(b->w, SB_ROLE_routerd, c->id);
    struct routerd_wait *rw = malloc(sizeof *rw);
    if (!router || !rw) {
        free(rw);
        c->last_failure = 503;
        b2b_run_next(b, c);
        return;
    }
    rw->b = b;
    rw->call = c->id;
    c->state = CALL_ROUTING;
    if (ipc_request(router, env, cb, rw, timeout_ms) < 0) {
        free(rw);
        c->last_failure = 503;
        b2b_run_next(b, c);
    }
}

/* The call a routerd answer is for, or NULL when it ended meanwhile. */
struct call *b2b_waited_call(void *arg) {
    struct routerd_wait *rw = arg;
    b2bua_t *b = rw->b;
    struct call *c = b2b_find_id(b, rw->call);
    free(rw);
    return c && c->state == CALL_ROUTING ? c : NULL;
}

/* ---------------------------------------------------------------- forks */

/* RFC 3261 9.1: CANCEL a fork's INVITE once it has answered something; false when it has
 * not yet (its first provisional response then brings the CANCEL). */
static bool cancel_fork(b2bua_t *b, struct call *c, unsigned k) {
    struct b_fork *f = &c->forks[k];
    if (f->cancel_sent)
        return true;
    if (!f->txn)
        return false;
    Sb__SipCancel sc = SB__SIP_CANCEL__INIT;
    sc.txn_id = f->txn;
    Sb__Envelope env = SB__ENVELOPE__INIT;
    env.body_case = SB__ENVELOPE__BODY_SIP_CANCEL;
    env.sip_cancel = &sc;
    ipc_chan_t *ch = b2b_sipd_for(b, f->txn);
    f->cancel_sent = ch && ipc_send(ch, &env) == 0;
    return f->cancel_sent;
}

/* Whether fork k is no longer wanted: the caller gave up, the dial timed out, the call
 * ends, or another fork answered. */
static bool fork_unwanted(const struct call *c, unsigned k) {
    return c->a_cancelled || c->dial_timed_out || c->state == CALL_ENDING ||
           (c->winner >= 0 && (int)k != c->winner);
}

/* Cancels every fork still open; those that have answered nothing yet are given up now
 * (a later provisional response of theirs is cancelled, a later 2xx hung up). True when a
 * final response is still owed by some. */
bool b2b_cancel_open_forks(b2bua_t *b, struct call *c) {
    bool waiting = false;
    for (unsigned k = 0; k < c->nforks; k++) {
        if (c->forks[k].done || (int)k == c->winner)
            continue;
        if (cancel_fork(b, c, k))
            waiting = true;
        else
            c->forks[k].done = true;
    }
    return waiting;
}

static bool all_forks_done(const struct call *c) {
    for (unsigned k = 0; k < c->nforks; k++)
        if (!c->forks[k].done)
            return false;
    return true;
}

static bool send_fork_invite(b2bua_t *b, struct call *c, unsigned k) {
    struct b_fork *f = &c->forks[k];
    Sb__SipMessage msg = SB__SIP_MESSAGE__INIT;
    msg.method = "INVITE";
    msg.request_uri = f->target;
    msg.from_display = c->b_local_display;
    msg.from_uri = c->b_local_uri;
    msg.from_tag = f->from_tag;
    msg.to_uri = c->b_to_uri;
    msg.to_tag = "";
    msg.call_id = f->call_id;
    msg.cseq = 1;
    if (c->media_session) { /* mediad's offer: B sends its media to us */
        msg.content_type = B2B_SDP;
        msg.body.data = c->b_offer;
        msg.body.len = c->b_offer_len;
    } else if (c->body_len) {
        msg.content_type = c->content_type;
        msg.body.data = c->body;
        msg.body.len = c->body_len;
    }
    struct b2b_hdrs hs = {.n = 0};
    b2b_se_offer_headers(&hs); /* the callee may ask for a session timer */
    msg.headers = hs.p;
    msg.n_headers = hs.n;
    return b2b_send_request_fork(b, c, KIND_B_INVITE, k, &msg);
}

/* A fork that answered 2xx after another one won: ACK and BYE on its own dialog
 * (RFC 3261 13.2.2.4 and 15). */
static void hang_up_fork(b2bua_t *b, struct call *c, unsigned k, const Sb__SipMessage *m) {
    struct b_fork *f = &c->forks[k];
    Sb__SipMessage msg = SB__SIP_MESSAGE__INIT;
    msg.request_uri = m->contact && *m->contact ? m->contact : f->target;
    msg.from_display = c->b_local_display;
    msg.from_uri = c->b_local_uri;
    msg.from_tag = f->from_tag;
    msg.to_uri = c->b_to_uri;
    msg.to_tag = m->to_tag;
    msg.call_id = f->call_id;
    msg.method = "ACK";
    msg.cseq = 1;
    b2b_send_request_fork(b, c, KIND_B_INVITE, k, &msg);
    msg.method = "BYE";
    msg.cseq = 2;
    b2b_send_request_fork(b, c, KIND_FORK_BYE, k, &msg);
    f->done = true;
    log_info("call %s: a second contact answered; hung up", c->a_call_id);
}

void b2b_hang_up_stray(b2bua_t *b, const Sb__SipMessage *m) {
    if (!m->contact || !*m->contact || !m->call_id || !m->to_tag || !*m->to_tag)
        return;
    ipc_chan_t *ch = worker_peer_pick(b->w, SB_ROLE_sipd, b2b_hash_str(m->call_id));
    if (!ch)
        return;
    char *routes[B2B_MAX_ROUTES];
    size_t n = 0;
    for (size_t i = 0; i < m->n_record_route && n < B2B_MAX_ROUTES; i++)
        routes[n++] = m->record_route[m->n_record_route - 1 - i];
    Sb__SipMessage msg = SB__SIP_MESSAGE__INIT;
    msg.request_uri = m->contact;
    msg.from_display = m->from_display;
    msg.from_uri = m->from_uri;
    msg.from_tag = m->from_tag;
    msg.to_uri = m->to_uri;
    msg.to_tag = m->to_tag;
    msg.call_id = m->call_id;
    msg.route = routes;
    msg.n_route = n;
    msg.contact_user = (char *)B2B_CONTACT_USER;
    Sb__SipSendRequest sr = SB__SIP_SEND_REQUEST__INIT;
    sr.client_id = KIND_FORK_BYE; /* no call: its answers are dropped */
    sr.msg = &msg;
    Sb__Envelope env = SB__ENVELOPE__INIT;
    env.body_case = SB__ENVELOPE__BODY_SIP_SEND_REQUEST;
    env.sip_send_request = &sr;
    msg.method = "ACK";
    msg.cseq = m->cseq;
    ipc_send(ch, &env);
    msg.method = "BYE";
    msg.cseq = m->cseq + 1;
    ipc_send(ch, &env);
    log_info("call leg %s answered after it was given up: acknowledged and hung up", m->call_id);
}

static void dial_timeout(uv_timer_t *t) {
    struct call *c = t->data;
    b2bua_t *b = c->b2bua;
    if (c->state != CALL_CALLING)
        return;
    log_info("call %s: no answer from %u contact(s) in time", c->a_call_id, c->nforks);
    c->dial_timed_out = true;
    if (b2b_cancel_open_forks(b, c))
        return; /* their 487s move the call on */
    /* nothing heard from any: abandon this attempt (its late answers are ignored) */
    c->last_failure = 480;
    b2b_run_next(b, c);
}

/* B-leg INVITEs to the contacts uris, rung in parallel (a new dialog each); the first
 * 2xx wins and the others are cancelled. */
void b2b_dial(b2bua_t *b, struct call *c, const char *const *uris, unsigned n, unsigned timeout) {
    b2b_b_dialog_clear(b, c);
    c->b_txn = 0;
    c->b_cancel_sent = c->dial_timed_out = false;
    for (unsigned i = 0; i < c->nforks; i++) {
        free(c->forks[i].call_id);
        free(c->forks[i].from_tag);
        free(c->forks[i].target);
    }
    memset(c->forks, 0, sizeof c->forks);
    c->nforks = 0;
    c->winner = -1;
    c->fork_failure = 0;
    c->b_cseq = 1;
    c->attempt++;
    c->state = CALL_CALLING;
    unsigned sent = 0;
    for (unsigned i = 0; i < n && i < B2B_MAX_FORKS; i++) {
        char tag[24], cid[48], call_id[96];
        b2b_random_hex(b, tag, sizeof tag);
        b2b_random_hex(b, cid, sizeof cid);
        snprintf(call_id, sizeof call_id, "sbd%d.%s", b->w->instance, cid);
        struct b_fork *f = &c->forks[c->nforks++];
        f->call_id = strdup(call_id);
        f->from_tag = strdup(tag);
        f->target = strdup(uris[i]);
        if (!f->call_id || !f->from_tag || !f->target || !send_fork_invite(b, c, c->nforks - 1)) {
            f->done = true;
            continue;
        }
        sent++;
    }
    if (!sent) {
        c->last_failure = 503;
        b2b_run_next(b, c);
        return;
    }
    b2b_save(b, c);
    uv_timer_start(&c->dial_timer, dial_timeout, (uint64_t)timeout * 1000, 0);
}

static void location_answered(ipc_chan_t *ch, Sb__Envelope *env, void *arg) {
    (void)ch;
    b2bua_t *b = ((struct routerd_wait *)arg)->b;
    struct call *c = b2b_waited_call(arg);
    if (!c)
        return;
    const Sb__LocationReply *lr =
        env && env->body_case == SB__ENVELOPE__BODY_LOCATION_REPLY ? env->location_reply : NULL;
    const struct b2b_action *a = &c->actions[c->next_action - 1];
    const char *uris[B2B_MAX_FORKS];
    unsigned n = b2b_located(lr, uris);
    if (!lr || lr->status == 503) {
        c->last_failure = 503;
    } else if (n == 0) {
        c->last_failure = 404;
    } else {
        b2b_dial(b, c, uris, n, a->timeout); /* every live contact rings */
        return;
    }
    b2b_run_next(b, c);
}

/* The call's next action, or its end when none is left. */

void b2b_run_next(b2bua_t *b, struct call *c) {
    uv_timer_stop(&c->dial_timer);
    if (c->transferring) { /* a REFER's target failed: the call stays with B */
        b2b_transfer_failed(b, c, c->last_failure);
        return;
    }
    if (c->a_cancelled) {
        b2b_fail_call(b, c, c->cancel_status ? c->cancel_status : 487, NULL);
        return;
    }
    if (c->next_action >= c->nactions) {
        /* RFC 3261 16.7-like: the caller hears why the last action failed */
        b2b_fail_call(b, c, c->last_failure ? c->last_failure : 480, NULL);
        return;
    }
    const struct b2b_action *a = &c->actions[c->next_action++];
    switch (a->type) {
    case ACT_HANGUP:
        b2b_fail_call(b, c, a->status ? a->status : 480, NULL);
        return;
    case ACT_PLAY:
        if (!c->media_session) { /* no SDP offer from the caller: nothing to play to */
            c->last_failure = 488;
            b2b_run_next(b, c);
            return;
        }
        if (!c->a_answered) { /* an IVR route answers here, with our side-A ports */
            b2b_respond_a(b, c, 200, NULL, B2B_SDP, c->a_local_sdp, c->a_local_sdp_len);
            c->state = CALL_ANSWERED;
            c->answered_ms = b2b_wall_ms();
            shm_count(b->w->slot, SHM_C_calls_answered, 1);
            b2b_save(b, c);
            b2b_event(b, c, "call.answered");
        }
        if (!b2b_media_play(b, c, a->file)) {
            c->last_failure = 503;
            b2b_run_next(b, c);
        }
        return;
    case ACT_DIAL:
        if (a->uri) {
            const char *uris[1] = {a->uri};
            b2b_dial(b, c, uris, 1, a->timeout);
            return;
        }
        Sb__LocationRequest lq = SB__LOCATION_REQUEST__INIT;
        lq.aor = a->aor;
        Sb__Envelope env = SB__ENVELOPE__INIT;
        env.body_case = SB__ENVELOPE__BODY_LOCATION_REQUEST;
        env.location_request = &lq;
        b2b_ask_routerd(b, c, &env, location_answered, B2B_LOCATION_TIMEOUT_MS);
        return;
    }
}

static void route_answered(ipc_chan_t *ch, Sb__Envelope *env, void *arg) {
    (void)ch;
    b2bua_t *b = ((struct routerd_wait *)arg)->b;
    struct call *c = b2b_waited_call(arg);
    if (!c)
        return;
    const Sb__RouteReply *rr =
        env && env->body_case == SB__ENVELOPE__BODY_ROUTE_REPLY ? env->route_reply : NULL;
    if (!rr || rr->status == 503) {
        b2b_fail_call(b, c, 503, "Routing unavailable");
        return;
    }
    if (rr->status != 200 || rr->n_actions == 0) {
        b2b_fail_call(b, c, 404, "No route");
        return;
    }
    log_debug("call %s to %s: route %s", c->a_call_id, c->destination,
              rr->route_id ? rr->route_id : "?");
    for (size_t i = 0; i < rr->n_actions && i < B2B_MAX_ACTIONS; i++) {
        const Sb__RouteAction *ra = rr->actions[i];
        struct b2b_action *a = &c->actions[c->nactions++];
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
    }
    /* an SDP offer: anchor the media before anything rings (RFC 3264) */
    if (c->body_len && strncasecmp(c->content_type, B2B_SDP, strlen(B2B_SDP)) == 0) {
        b2b_media_create(b, c);
    } else {
        c->late_offer = c->body_len == 0; /* the callee's 2xx will offer (RFC 3261 13.2.1) */
        b2b_run_next(b, c);
    }
}

/* User part of a sip: URI (for RouteRequest), into out. */
void b2b_uri_user(const char *uri, char *out, size_t cap) {
    out[0] = '\0';
    const char *colon = uri ? strchr(uri, ':') : NULL;
    const char *at = colon ? strchr(colon, '@') : NULL;
    if (colon && at)
        snprintf(out, cap, "%.*s", (int)(at - colon - 1), colon + 1);
}

/* Host part of a sip: URI (without port or parameters), lowercased, into out: the
 * domain of the AOR a user/NAME target looks up (as Kamailio's lookup, ports aside). */
void b2b_uri_host(const char *uri, char *out, size_t cap) {
    out[0] = '\0';
    const char *at = uri ? strchr(uri, '@') : NULL;
    const char *h = at ? at + 1 : uri && strchr(uri, ':') ? strchr(uri, ':') + 1 : NULL;
    if (!h)
        return;
    size_t n = *h == '[' ? strcspn(h, "]") + (h[strcspn(h, "]")] == ']') : strcspn(h, ":;?>");
    snprintf(out, cap, "%.*s", (int)n, h);
    for (char *p = out; *p; p++)
        *p = (char)(*p >= 'A' && *p <= 'Z' ? *p + 32 : *p);
}

void b2b_on_invite(b2bua_t *b, ipc_chan_t *ch, const Sb__SipRequestIn *in) {
    const Sb__SipMessage *m = in->msg;
    if (m->to_tag && *m->to_tag) {
        b2b_on_reinvite(b, ch, in);
        return;
    }
    bool a_leg;
    if (b2b_find_call_id(b, m->call_id, &a_leg)) { /* a second INVITE of one Call-ID */
        b2b_respond_txn(b, ch, in->txn_id, 482);
        return;
    }
    if (b->w->draining) {
        b2b_respond_txn(b, ch, in->txn_id, 503);
        return;
    }
    struct b2b_se se;
    if (!b2b_se_request(b, ch, in, &se)) /* answered 422 or 400 */
        return;
    struct call *c = calloc(1, sizeof *c);
    if (!c) {
        b2b_respond_txn(b, ch, in->txn_id, 500);
        return;
    }
    char tag[24], user[256], host[256], caller[256];
    b2b_random_hex(b, tag, sizeof tag);
    b2b_uri_user(m->request_uri, user, sizeof user);
    b2b_uri_host(m->request_uri, host, sizeof host);
    b2b_uri_user(m->from_uri, caller, sizeof caller);
    c->b2bua = b;
    c->winner = -1;
    c->media_instance = -1;
    c->media_avoid = -1;
    c->se[0] = se;
    c->created_ms = b2b_wall_ms();
    uv_timer_init(b->w->loop, &c->dial_timer);
    c->dial_timer.data = c;
    c->id = ++b->next_id & ((1ULL << 47) - 1);
    c->a_ch = ch;
    c->a_txn = in->txn_id;
    c->a_call_id = b2b_dup_or_empty(m->call_id);
    c->a_from_display = b2b_dup_or_empty(m->from_display);
    c->a_from_uri = b2b_dup_or_empty(m->from_uri);
    c->b_local_display = b2b_dup_or_empty(m->from_display);
    c->b_local_uri = b2b_dup_or_empty(m->from_uri);
    c->a_from_tag = b2b_dup_or_empty(m->from_tag);
    c->a_to_uri = b2b_dup_or_empty(m->to_uri);
    c->b_to_uri = b2b_dup_or_empty(m->to_uri);
    c->a_to_tag = strdup(tag);
    c->destination = strdup(user);
    c->a_target = b2b_dup_or_empty(m->contact && *m->contact ? m->contact : m->from_uri);
    c->content_type = b2b_dup_or_empty(m->content_type);
    for (size_t i = 0; i < m->n_record_route && i < B2B_MAX_ROUTES; i++)
        c->a_routes[c->a_nroutes++] = b2b_dup_or_empty(m->record_route[i]);
    if (m->body.len && (c->body = malloc(m->body.len))) {
        memcpy(c->body, m->body.data, m->body.len);
        c->body_len = m->body.len;
    }
    c->next_id = b->by_id[c->id % B2B_BUCKETS];
    b->by_id[c->id % B2B_BUCKETS] = c;
    b2b_link_a(b, c);
    b->ncalls++;
    shm_count(b->w->slot, SHM_C_calls_started, 1);
    shm_gauge(b->w->slot, SHM_C_calls_active, b->ncalls);
    if (c->a_call_id && c->destination)
        b2b_event(b, c, "call.started");
    if (!c->a_call_id || !c->a_to_tag || !c->a_target || !c->b_to_uri || !c->destination ||
        !c->b_local_uri || !c->b_local_display || (m->body.len && !c->body)) {
        b2b_fail_call(b, c, 500, "Out of memory");
        return;
    }
    if (!user[0]) { /* nothing to dial */
        b2b_fail_call(b, c, 404, "No route");
        return;
    }
    Sb__RouteRequest rq = SB__ROUTE_REQUEST__INIT;
    rq.call_id = c->a_call_id;
    rq.destination = user;
    rq.caller_id = caller;
    rq.caller_name = c->a_from_display;
    rq.domain = host;
    Sb__Envelope env = SB__ENVELOPE__INIT;
    env.body_case = SB__ENVELOPE__BODY_ROUTE_REQUEST;
    env.route_request = &rq;
    c->last_failure = 0;
    b2b_ask_routerd(b, c, &env, route_answered, B2B_ROUTE_TIMEOUT_MS);
}

/* ---------------------------------------------------------------- responses */

void b2b_b_invite_answered(b2bua_t *b, struct call *c, const Sb__SipResponseIn *in, unsigned k) {
    const Sb__SipMessage *m = in->msg;
    unsigned status = m->status;
    if (k >= c->nforks)
        return;
    struct b_fork *f = &c->forks[k];
    if (in->txn_id)
        f->txn = in->txn_id;
    if (status < 200) {
        if (fork_unwanted(c, k)) { /* its CANCEL could not go before: it goes now */
            cancel_fork(b, c, k);
            return;
        }
        if (status == 100 || c->a_answered)
            return;
        if (!c->ringing_ms) { /* the first ring: in the record and the event stream */
            c->ringing_ms = b2b_wall_ms();
            c->ringing_status = status;
            b2b_save_field(b, c, "ringing_ms", c->ringing_ms);
            b2b_event(b, c, "call.ringing");
        }
        /* 180, 183 relayed as they come; an SDP in them is early media through mediad */
        if (c->media_session && m->body.len) {
            if (!b2b_media_update_b(b, c, m, false))
                b2b_respond_a(b, c, status, m->reason, NULL, NULL, 0);
        } else {
            b2b_respond_a(b, c, status, m->reason, NULL, NULL, 0);
        }
        return;
    }
    if (status >= 300) {
        if (f->done && !f->cancel_sent)
            return; /* a copy, or a fork given up */
        f->done = true;
        if (c->state != CALL_CALLING || c->winner >= 0)
            return; /* a loser's 487 */
        /* RFC 3261 16.7-like: a 6xx beats a busy, a busy beats the rest */
        if (!c->fork_failure || status >= 600 || (status == 486 && c->fork_failure < 600))
            c->fork_failure = status;
        if (!all_forks_done(c))
            return;
        uv_timer_stop(&c->dial_timer);
        if (c->a_cancelled) {
            b2b_fail_call(b, c, c->cancel_status ? c->cancel_status : 487, NULL);
            return;
        }
        /* a failed dial: the dialplan goes on with its next action (failover, "busy"
         * messages); the caller hears this status if none is left */
        c->last_failure = c->dial_timed_out ? 480 : c->fork_failure;
        b2b_run_next(b, c);
        return;
    }
    /* a 2xx */
    if (c->winner >= 0 && (int)k != c->winner) {
        hang_up_fork(b, c, k, m);
        return;
    }
    if (c->winner < 0) {
        if (c->state != CALL_CALLING) { /* answered as the call was going */
            hang_up_fork(b, c, k, m);
            return;
        }
        /* the first answer wins: its dialog is the call's B leg; the others are cancelled */
        c->winner = (int)k;
        f->done = true;
        c->b_call_id = strdup(f->call_id);
        c->b_from_tag = strdup(f->from_tag);
        c->b_to_tag = b2b_dup_or_empty(m->to_tag);
        c->b_target = b2b_dup_or_empty(m->contact && *m->contact ? m->contact : f->target);
        c->b_txn = f->txn;
        for (size_t i = 0; i < m->n_record_route && i < B2B_MAX_ROUTES; i++)
            c->b_routes[c->b_nroutes++] =
                b2b_dup_or_empty(m->record_route[m->n_record_route - 1 - i]);
        if (!c->b_call_id || !c->b_from_tag) {
            hang_up_fork(b, c, k, m);
            c->winner = -1;
            return;
        }
        b2b_link_b(b, c);
        b2b_cancel_open_forks(b, c);
        b2b_se_from_answer(b, c, m); /* the callee's session timer, if it asks */
    }
    /* a late offer (the caller's INVITE had none): the callee offers in its 2xx and our
     * ACK carries the answer, which comes in the caller's ACK (b2b_late_answer) */
    bool late = c->late_offer && !c->media_session && m->body.len && m->content_type &&
                strncasecmp(m->content_type, B2B_SDP, strlen(B2B_SDP)) == 0;
    if (c->b_ack_sdp) /* a copy of the 2xx after our late ACK: the same ACK again */
        b2b_send_b_body(b, c, "ACK", 1, KIND_B_INVITE, c->b_ack_sdp, c->b_ack_sdp_len);
    else if (!late && !c->b_ack_pending)
        b2b_send_b(b, c, "ACK", 1, KIND_B_INVITE);
    if (c->state != CALL_CALLING)
        return;
    uv_timer_stop(&c->dial_timer);
    if (c->a_cancelled && late) /* no answer to give: a bare ACK before the BYE */
        b2b_send_b(b, c, "ACK", 1, KIND_B_INVITE);
    if (c->a_cancelled) { /* A gave up as B answered: end B, A gets 487 */
        c->end_status = c->cancel_status ? c->cancel_status : 487;
        c->end_cause = "cancelled";
        b2b_respond_a(b, c, c->end_status, NULL, NULL, NULL, 0);
        c->state = CALL_ENDING;
        c->pending_byes = b2b_send_b(b, c, "BYE", ++c->b_cseq, KIND_B_BYE);
        if (!c->pending_byes)
            b2b_call_free(b, c);
        return;
    }
    bool answered_here = c->a_answered; /* A was answered by an IVR action before */
    c->state = answered_here && c->a_acked ? CALL_CONFIRMED : CALL_ANSWERED;
    if (!answered_here) {
        c->answered_ms = b2b_wall_ms();
        shm_count(b->w->slot, SHM_C_calls_answered, 1);
        shm_setup_observe(shm_stats_of(b->w->shm, b->w->slot),
                          (uint64_t)(c->answered_ms - c->created_ms));
    }
    b2b_save(b, c);
    if (!answered_here)
        b2b_event(b, c, "call.answered");
    if (late && !answered_here) { /* mediad takes the callee's offer; A gets it rewritten */
        c->b_ack_pending = true;
        b2b_media_create_late(b, c, m->body);
        return;
    }
    if (!c->media_session) { /* no media anchored: bodies pass as they are */
        b2b_respond_a(b, c, status, m->reason, m->content_type, m->body.data, m->body.len);
        return;
    }
    if (m->body.len) {
        /* mediad learns B's answer; A gets it rewritten (unless A has its answer) */
        if (!b2b_media_update_b(b, c, m, true))
            b2b_hang_up_both(b, c, "mediad unreachable");
    } else if (!answered_here) { /* the answer came in a 183 already */
        b2b_respond_a(b, c, 200, m->reason, B2B_SDP, c->a_answer_sdp, c->a_answer_sdp_len);
    }
    if (c->transferring && c->state != CALL_ENDING)
        b2b_transfer_done(b, c);
}
