/* b2b_midcall - see b2b.h */
#include "b2b.h"

/* ---------------------------------------------------------------- re-INVITE */

/* A re-INVITE from one leg (hold, resume, new codec, new address): its offer goes
 * through mediad to the other leg in a re-INVITE of our own; that leg's answer comes back
 * the same way. One at a time per call: another meanwhile gets 491 (RFC 3261 14.2). */
void b2b_on_reinvite(b2bua_t *b, ipc_chan_t *ch, const Sb__SipRequestIn *in) {
    const Sb__SipMessage *m = in->msg;
    bool update = strcmp(m->method, "UPDATE") == 0;
    bool a_leg;
    struct call *c = b2b_find_call_id(b, m->call_id, &a_leg);
    const char *our_tag = !c ? NULL : a_leg ? c->a_to_tag : c->b_from_tag;
    if (!c || !our_tag || strcmp(m->to_tag, our_tag) != 0) {
        b2b_respond_txn(b, ch, in->txn_id, 481);
        return;
    }
    if (c->state != CALL_CONFIRMED || c->re_txn || c->move) {
        b2b_respond_txn(b, ch, in->txn_id, 491);
        return;
    }
    c->re_txn = in->txn_id;
    c->re_from_a = a_leg;
    c->re_ch = ch;
    c->re_update = update;
    if (!c->media_session || !m->body.len) { /* nothing to rewrite: pass it on */
        b2b_reinvite_offer_ready(b, c, m->body.data, m->body.len);
        return;
    }
    if (!b2b_media_update(b, c, a_leg, SB__MEDIA_SDP_TYPE__MEDIA_SDP_OFFER, m->body, true,
                          MW_REOFFER, 0))
        b2b_reinvite_answer_ready(b, c, 503, NULL, 0);
}

void b2b_reinvite_offer_ready(b2bua_t *b, struct call *c, const uint8_t *sdp, size_t len) {
    const char *method = c->re_update ? "UPDATE" : "INVITE";
    bool sent =
        c->re_from_a
            ? b2b_send_b_body(b, c, method, c->re_cseq = ++c->b_cseq, KIND_B_REINVITE, sdp, len)
            : b2b_send_a_body(b, c, method, c->re_cseq = ++c->a_cseq, KIND_A_REINVITE, sdp, len);
    b2b_save(b, c);
    if (!sent)
        b2b_reinvite_answer_ready(b, c, 503, NULL, 0);
}

void b2b_reinvite_answer_ready(b2bua_t *b, struct call *c, unsigned status, const uint8_t *sdp,
                               size_t len) {
    if (!c->re_txn)
        return;
    /* a 2xx to the leg's re-INVITE or UPDATE refreshes its session timer (RFC 4028 9) */
    int leg = c->re_from_a ? 0 : 1;
    struct b2b_hdrs hs = {.n = 0};
    bool timer = status / 100 == 2 && b2b_se_headers(c, leg, &hs);
    b2b_respond_txn_hdrs(b, c->re_ch, c->re_txn, status, sdp, len, timer ? &hs : NULL);
    c->re_txn = 0;
    c->re_ch = NULL;
    if (timer)
        b2b_se_start(b, c, leg);
}

/* The other leg answered our re-INVITE. */
void b2b_reinvite_answered(b2bua_t *b, struct call *c, const Sb__SipResponseIn *in) {
    const Sb__SipMessage *m = in->msg;
    if (m->status < 200 || !c->re_txn)
        return;
    if (m->status >= 300) { /* refused (488, 491, ...): the sender hears the same */
        b2b_reinvite_answer_ready(b, c, m->status, NULL, 0);
        return;
    }
    /* RFC 3261 13.2.2.4: our ACK, with the re-INVITE's CSeq (an UPDATE has none) */
    if (!c->re_update && c->re_from_a)
        b2b_send_b_body(b, c, "ACK", c->re_cseq, KIND_B_REINVITE, NULL, 0);
    else if (!c->re_update)
        b2b_send_a_body(b, c, "ACK", c->re_cseq, KIND_A_REINVITE, NULL, 0);
    if (!c->media_session || !m->body.len) {
        b2b_reinvite_answer_ready(b, c, 200, m->body.data, m->body.len);
        return;
    }
    if (!b2b_media_update(b, c, !c->re_from_a, SB__MEDIA_SDP_TYPE__MEDIA_SDP_ANSWER, m->body, true,
                          MW_REANSWER, 0))
        b2b_reinvite_answer_ready(b, c, 503, NULL, 0);
}

/* ---------------------------------------------------------------- REFER (B transfers) */

/* A request on the dialog of the B being replaced (NOTIFY of the transfer, its BYE), on
 * the sipd channel via (NULL: the call's usual one). */
static void send_old_b_via(b2bua_t *b, struct call *c, ipc_chan_t *via, const char *method,
                           const char *sipfrag, bool terminated) {
    if (!c->old_b_call_id)
        return;
    Sb__SipMessage msg = SB__SIP_MESSAGE__INIT;
    Sb__SipHeader h[2] = {SB__SIP_HEADER__INIT, SB__SIP_HEADER__INIT};
    Sb__SipHeader *hp[2] = {&h[0], &h[1]};
    char body[96];
    msg.method = (char *)method;
    msg.request_uri = c->old_b_target;
    msg.from_uri = c->old_b_local_uri;
    msg.from_tag = c->old_b_from_tag;
    msg.to_uri = c->old_b_remote_uri;
    msg.to_tag = c->old_b_to_tag;
    msg.call_id = c->old_b_call_id;
    msg.cseq = ++c->old_b_cseq;
    msg.route = c->old_b_routes;
    msg.n_route = c->old_b_nroutes;
    if (sipfrag) { /* RFC 3515 2.4.5: the transfer's progress as a message/sipfrag */
        h[0].name = "Event";
        h[0].value = "refer";
        h[1].name = "Subscription-State";
        h[1].value = terminated ? "terminated;reason=noresource" : "active;expires=60";
        msg.headers = hp;
        msg.n_headers = 2;
        snprintf(body, sizeof body, "%s\r\n", sipfrag);
        msg.content_type = "message/sipfrag;version=2.0";
        msg.body.data = (uint8_t *)body;
        msg.body.len = strlen(body);
    }
    /* on via (after a response on that channel, it leaves after it, in order) */
    b2b_send_request_via(b, c, via, KIND_FORK_BYE, 0, &msg);
}

void b2b_send_old_b(b2bua_t *b, struct call *c, const char *method, const char *sipfrag,
                    bool terminated) {
    send_old_b_via(b, c, NULL, method, sipfrag, terminated);
}

void b2b_old_b_forget(struct call *c) {
    free(c->old_b_call_id);
    free(c->old_b_from_tag);
    free(c->old_b_to_tag);
    free(c->old_b_target);
    for (size_t i = 0; i < c->old_b_nroutes; i++)
        free(c->old_b_routes[i]);
    free(c->old_b_local_uri);
    free(c->old_b_remote_uri);
    c->old_b_call_id = c->old_b_from_tag = c->old_b_to_tag = c->old_b_target = NULL;
    c->old_b_local_uri = c->old_b_remote_uri = NULL;
    c->old_b_nroutes = 0;
    c->transferring = false;
    c->transfer_from_a = false;
}

static void swap_legs(b2bua_t *b, struct call *c);

/* The transfer target answered: B hears 200 in a NOTIFY, then our BYE. */
void b2b_transfer_done(b2bua_t *b, struct call *c) {
    log_info("call %s: transferred to %s", c->a_call_id, c->b_target);
    b2b_send_old_b(b, c, "NOTIFY", "SIP/2.0 200 OK", true);
    b2b_send_old_b(b, c, "BYE", NULL, false);
    redisAsyncContext *ac = b->w->redis ? rds_context(b->w->redis) : NULL;
    if (ac) /* the old B leg no longer leads to this call */
        redisAsyncCommand(ac, NULL, NULL, "DEL sb:dlgb:{%s}", c->old_b_call_id);
    b2b_old_b_forget(c);
    b2b_save(b, c);
}

/* The transfer failed: B hears why, and the call goes on with B as before. */
void b2b_transfer_failed(b2bua_t *b, struct call *c, unsigned status) {
    char frag[64];
    snprintf(frag, sizeof frag, "SIP/2.0 %u %s", status ? status : 480,
             status == 404   ? "Not Found"
             : status == 486 ? "Busy Here"
                             : "Failed");
    log_info("call %s: transfer failed (%u)", c->a_call_id, status);
    b2b_send_old_b(b, c, "NOTIFY", frag, true);
    b2b_b_dialog_clear(b, c);
    free(c->b_local_uri);
    free(c->b_to_uri);
    c->b_local_uri = c->old_b_local_uri;
    c->b_to_uri = c->old_b_remote_uri;
    c->old_b_local_uri = c->old_b_remote_uri = NULL;
    c->b_call_id = c->old_b_call_id;
    c->b_from_tag = c->old_b_from_tag;
    c->b_to_tag = c->old_b_to_tag;
    c->b_target = c->old_b_target;
    memcpy(c->b_routes, c->old_b_routes, sizeof c->b_routes);
    c->b_nroutes = c->old_b_nroutes;
    c->b_cseq = c->old_b_cseq;
    c->old_b_call_id = c->old_b_from_tag = c->old_b_to_tag = c->old_b_target = NULL;
    c->old_b_nroutes = 0;
    c->transferring = false;
    c->winner = -1;
    b2b_link_b(b, c);
    c->state = CALL_CONFIRMED;
    if (c->transfer_from_a) { /* the caller is back in its own place */
        c->transfer_from_a = false;
        swap_legs(b, c);
    }
    b2b_save(b, c);
}

#define SWAP(T, x, y)                                                                              \
    do {                                                                                           \
        T swap_tmp_ = (x);                                                                         \
        (x) = (y);                                                                                 \
        (y) = swap_tmp_;                                                                           \
    } while (0)

/* The caller transfers (REFER from A): the legs change places so that the transfer from
 * B serves it. The callee's dialog becomes the A leg (we are its UAC: a_to_* is then our
 * side of it, a_from_* the callee's), the caller's the B leg (we are its UAS: b_local_* is
 * our side, b_to_* the caller's), mediad's sides are crossed (media_swapped). Swapping
 * again puts them back. The record moves to the new A Call-ID. */
static void swap_legs(b2bua_t *b, struct call *c) {
    redisAsyncContext *ac = b->w->redis ? rds_context(b->w->redis) : NULL;
    if (ac)
        redisAsyncCommand(ac, NULL, NULL, "DEL sb:dlg:{%s} sb:dlgb:{%s}", c->a_call_id,
                          c->b_call_id ? c->b_call_id : "");
    b2b_unlink_from(&b->by_a[b2b_hash_str(c->a_call_id)], c, offsetof(struct call, next_a));
    if (c->b_call_id)
        b2b_unlink_from(&b->by_b[b2b_hash_str(c->b_call_id)], c, offsetof(struct call, next_b));
    SWAP(char *, c->a_call_id, c->b_call_id);
    SWAP(char *, c->a_to_uri, c->b_local_uri);
    SWAP(char *, c->a_to_tag, c->b_from_tag);
    SWAP(char *, c->a_from_uri, c->b_to_uri);
    SWAP(char *, c->a_from_tag, c->b_to_tag);
    SWAP(char *, c->a_target, c->b_target);
    for (size_t i = 0; i < B2B_MAX_ROUTES; i++)
        SWAP(char *, c->a_routes[i], c->b_routes[i]);
    SWAP(size_t, c->a_nroutes, c->b_nroutes);
    SWAP(uint32_t, c->a_cseq, c->b_cseq);
    SWAP(uint8_t *, c->body, c->b_sdp);
    SWAP(size_t, c->body_len, c->b_sdp_len);
    SWAP(uint8_t *, c->a_answer_sdp, c->b_offer);
    SWAP(size_t, c->a_answer_sdp_len, c->b_offer_len);
    SWAP(struct b2b_se, c->se[0], c->se[1]);
    /* display names do not survive the change of roles */
    free(c->a_from_display);
    free(c->b_local_display);
    c->a_from_display = strdup("");
    c->b_local_display = strdup("");
    c->media_swapped = !c->media_swapped;
    c->a_txn = 0; /* the A leg's INVITE transaction is long over */
    c->a_ch = NULL;
    c->a_acked = c->a_answered = true;
    b2b_link_a(b, c);
    b2b_link_b(b, c);
    c->saved = false;
}

static void refer_located(ipc_chan_t *ch, Sb__Envelope *env, void *arg) {
    (void)ch;
    b2bua_t *b = ((struct routerd_wait *)arg)->b;
    struct call *c = b2b_waited_call(arg);
    if (!c)
        return;
    const Sb__LocationReply *lr =
        env && env->body_case == SB__ENVELOPE__BODY_LOCATION_REPLY ? env->location_reply : NULL;
    const char *uris[B2B_MAX_FORKS];
    unsigned n = b2b_located(lr, uris);
    if (!n) {
        b2b_transfer_failed(b, c, !lr || lr->status == 503 ? 503 : 404);
        return;
    }
    b2b_dial(b, c, uris, n, DIALPLAN_TRANSFER_TIMEOUT_S);
}

/* REFER (RFC 3515, blind transfer) from B, or from A after the legs swapped places: 202,
 * NOTIFY 100, and the referrer's place in the call goes to the Refer-To target (its
 * registered contacts, rung in parallel, To: the Refer-To URI, From: what the referrer saw
 * as ours); the referrer is told the outcome and, when the target answered, gets our BYE. */
void b2b_on_refer(b2bua_t *b, ipc_chan_t *ch, const Sb__SipRequestIn *in) {
    const Sb__SipMessage *m = in->msg;
    bool a_leg;
    struct call *c = b2b_find_call_id(b, m->call_id, &a_leg);
    if (!c || !m->to_tag || !*m->to_tag) {
        b2b_respond_txn(b, ch, in->txn_id, 481);
        return;
    }
    if (c->state != CALL_CONFIRMED || c->transferring || c->re_txn || c->move) {
        b2b_respond_txn(b, ch, in->txn_id, 491);
        return;
    }
    const char *refer_to = NULL;
    for (size_t i = 0; i < m->n_headers; i++)
        if (m->headers[i]->name && m->headers[i]->value &&
            (strcasecmp(m->headers[i]->name, "Refer-To") == 0 ||
             strcasecmp(m->headers[i]->name, "r") == 0))
            refer_to = m->headers[i]->value;
    char target[512], user[256], host[256], aor[600];
    const char *lt = refer_to ? strchr(refer_to, '<') : NULL;
    size_t tl = lt ? strcspn(lt + 1, ">") : refer_to ? strcspn(refer_to, ";") : 0;
    if (!refer_to || tl == 0 || tl >= sizeof target) {
        b2b_respond_txn(b, ch, in->txn_id, 400);
        return;
    }
    snprintf(target, sizeof target, "%.*s", (int)tl, lt ? lt + 1 : refer_to);
    b2b_uri_user(target, user, sizeof user);
    b2b_uri_host(target, host, sizeof host);
    if (strncasecmp(target, "sip:", 4) != 0 || !user[0] || !host[0]) {
        b2b_respond_txn(b, ch, in->txn_id, 400);
        return;
    }
    char *to_uri = strdup(target);
    if (!to_uri) {
        b2b_respond_txn(b, ch, in->txn_id, 500);
        return;
    }
    b2b_respond_txn(b, ch, in->txn_id, 202);
    if (a_leg) { /* the caller transfers: the legs change places, then as from B */
        swap_legs(b, c);
        c->transfer_from_a = true;
    }
    /* B's dialog stays aside until the target answers */
    b2b_unlink_from(&b->by_b[b2b_hash_str(c->b_call_id)], c, offsetof(struct call, next_b));
    c->old_b_call_id = c->b_call_id;
    c->old_b_from_tag = c->b_from_tag;
    c->old_b_to_tag = c->b_to_tag;
    c->old_b_target = c->b_target;
    memcpy(c->old_b_routes, c->b_routes, sizeof c->b_routes);
    c->old_b_nroutes = c->b_nroutes;
    c->old_b_cseq = c->b_cseq;
    c->old_b_local_uri = c->b_local_uri;
    c->old_b_remote_uri = c->b_to_uri;
    c->b_local_uri = b2b_dup_or_empty(c->old_b_local_uri); /* the target sees the same From */
    c->b_to_uri = to_uri;
    c->b_call_id = c->b_from_tag = c->b_to_tag = c->b_target = NULL;
    c->b_nroutes = 0;
    c->transferring = true;
    send_old_b_via(b, c, ch ? ch : b2b_sipd_for(b, in->txn_id), "NOTIFY", "SIP/2.0 100 Trying",
                   false);
    snprintf(aor, sizeof aor, "sip:%s@%s", user, host);
    Sb__LocationRequest lq = SB__LOCATION_REQUEST__INIT;
    lq.aor = aor;
    Sb__Envelope env = SB__ENVELOPE__INIT;
    env.body_case = SB__ENVELOPE__BODY_LOCATION_REQUEST;
    env.location_request = &lq;
    b2b_ask_routerd(b, c, &env, refer_located, B2B_LOCATION_TIMEOUT_MS);
}
