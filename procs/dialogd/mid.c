/* mid - see mid.h */
#include "mid.h"

#include <stdio.h>
#include <string.h>

#include "anchor.h"
#include "dial.h"
#include "end.h"
#include "log.h"
#include "record.h"
#include "setimer.h"
#include "sipout.h"

/* ---------------------------------------------------------------- re-INVITE, UPDATE */

/* The answer to the leg that sent the request (its timer re-armed on a 2xx). */
static void reinvite_answer(b2b_t *b, struct call *c, unsigned status, const uint8_t *sdp,
                            size_t len) {
    if (!c->re.txn)
        return;
    int from = c->re.from;
    struct sipout_hdrs hs = {.n = 0};
    bool timer = status / 100 == 2 && strcmp(c->re.method, "INFO") != 0 &&
                 setimer_answer_headers(c, from, &hs);
    sipout_respond(b, c->re.ch, c->re.txn, status, sdp, len, timer ? &hs : NULL);
    c->re.txn = 0;
    c->re.ch = NULL;
    if (c->state == CS_REINVITING)
        c->state = CS_CONFIRMED;
    if (timer)
        setimer_start(b, c, from);
}

/* The request's offer (rewritten, or as it came) to the other leg. */
static void reinvite_offer(b2b_t *b, struct call *c, const uint8_t *sdp, size_t len) {
    int other = call_other(c->re.from);
    c->re.cseq = call_next_cseq(c, other);
    struct sipout_hdrs hs = {.n = 0, .max_forwards = c->re.max_forwards, .max_forwards_set = true};
    bool sent = sipout_request(b, c, other, c->re.method, c->re.cseq, KIND_REINVITE, sdp, len, &hs);
    record_save(b, c);
    if (!sent)
        reinvite_answer(b, c, 503, NULL, 0);
}

static void offer_rewritten(b2b_t *b, struct call *c, const Sb__MediaReply *rep, unsigned status) {
    (void)status;
    if (c->state != CS_REINVITING)
        return;
    if (!anchor_ok(rep)) {
        log_call_ratelimited(LOG_WARN, c->leg[LEG_A].call_id,
                             "mediad refused a re-INVITE's offer: %s",
                             rep && rep->reason ? rep->reason : "no answer");
        reinvite_answer(b, c, 488, NULL, 0);
        return;
    }
    reinvite_offer(b, c, rep->sdp.data, rep->sdp.len);
}

static void answer_rewritten(b2b_t *b, struct call *c, const Sb__MediaReply *rep, unsigned status) {
    (void)status;
    bool ok = anchor_ok(rep);
    if (!ok)
        log_call_ratelimited(LOG_WARN, c->leg[LEG_A].call_id,
                             "mediad refused a re-INVITE's answer: %s",
                             rep && rep->reason ? rep->reason : "no answer");
    reinvite_answer(b, c, ok ? 200 : 488, ok ? rep->sdp.data : NULL, ok ? rep->sdp.len : 0);
}

void mid_reinvite(b2b_t *b, struct call *c, int n, ipc_chan_t *ch, const Sb__SipRequestIn *in) {
    const Sb__SipMessage *m = in->msg;
    if (m->max_forwards == 0) { /* RFC 3261 16.3 step 3: relayed, it would have no hop left */
        sipout_respond(b, ch, in->txn_id, 483, NULL, 0, NULL);
        return;
    }
    c->state = CS_REINVITING;
    c->re.max_forwards = m->max_forwards > 0 ? m->max_forwards - 1 : 70;
    c->re.txn = in->txn_id;
    c->re.from = n;
    c->re.ch = ch;
    c->re.method = m->method_id == SB__SIP_METHOD__SIP_METHOD_UPDATE ? "UPDATE"
                   : m->method_id == SB__SIP_METHOD__SIP_METHOD_INFO ? "INFO"
                                                                     : "INVITE";
    if (m->method_id == SB__SIP_METHOD__SIP_METHOD_INFO) { /* its body as it came */
        int other = call_other(n);
        struct sipout_hdrs hs = {.n = 0,
                                 .content_type = m->content_type,
                                 .max_forwards = c->re.max_forwards,
                                 .max_forwards_set = true};
        c->re.cseq = call_next_cseq(c, other);
        if (!sipout_request(b, c, other, "INFO", c->re.cseq, KIND_REINVITE, m->body.data,
                            m->body.len, &hs))
            reinvite_answer(b, c, 503, NULL, 0);
        return;
    }
    if (!c->media_session || !m->body.len) { /* nothing to rewrite: pass it on */
        reinvite_offer(b, c, m->body.data, m->body.len);
        return;
    }
    if (!anchor_update(b, c, n, SB__MEDIA_SDP_TYPE__MEDIA_SDP_OFFER, m->body, true, offer_rewritten,
                       0))
        reinvite_answer(b, c, 503, NULL, 0);
}

void mid_reinvite_answered(b2b_t *b, struct call *c, const Sb__SipResponseIn *in) {
    const Sb__SipMessage *m = in->msg;
    if (m->status < 200 || !c->re.txn)
        return;
    if (m->status >= 300 || strcmp(c->re.method, "INFO") == 0) {
        /* refused (488, 491, ...): the sender hears the same; an INFO's answer as is */
        reinvite_answer(b, c, m->status, NULL, 0);
        return;
    }
    int other = call_other(c->re.from);
    /* RFC 3261 13.2.2.4: our ACK, with the re-INVITE's CSeq (an UPDATE has none) */
    if (strcmp(c->re.method, "INVITE") == 0)
        sipout_request(b, c, other, "ACK", c->re.cseq, KIND_REINVITE, NULL, 0, NULL);
    if (!c->media_session || !m->body.len) {
        reinvite_answer(b, c, 200, m->body.data, m->body.len);
        return;
    }
    if (!anchor_update(b, c, other, SB__MEDIA_SDP_TYPE__MEDIA_SDP_ANSWER, m->body, true,
                       answer_rewritten, 0))
        reinvite_answer(b, c, 503, NULL, 0);
}

/* ---------------------------------------------------------------- the legs swap */

static void clear_displays(struct dlg *d) {
    free(d->local_display);
    free(d->remote_display);
    d->local_display = d->remote_display = NULL;
}

void mid_swap_legs(b2b_t *b, struct call *c) {
    record_drop_keys(b, c->leg[LEG_A].call_id, c->leg[LEG_B].call_id);
    call_unlink(b, c, LEG_A);
    call_unlink(b, c, LEG_B);
    struct dlg t = c->leg[LEG_A];
    c->leg[LEG_A] = c->leg[LEG_B];
    c->leg[LEG_B] = t;
    /* display names do not survive the change of roles */
    clear_displays(&c->leg[LEG_A]);
    clear_displays(&c->leg[LEG_B]);
    c->media_swapped = !c->media_swapped;
    struct dlg *a = &c->leg[LEG_A];
    a->txn = 0; /* the A leg's INVITE transaction is long over */
    a->ch = NULL;
    a->final_sent = a->acked = true;
    call_link(b, c, LEG_A);
    call_link(b, c, LEG_B);
    c->saved = false;
}

/* ---------------------------------------------------------------- REFER */

/* A request on the held leg (NOTIFY of the transfer's progress, RFC 3515 2.4.5), on the
 * sipd channel via (after a response on it, it leaves after it, in order). */
static void notify_held(b2b_t *b, struct call *c, ipc_chan_t *via, const char *sipfrag,
                        bool terminated) {
    if (!c->held.call_id)
        return;
    Sb__SipMessage msg = SB__SIP_MESSAGE__INIT;
    Sb__SipHeader h[2] = {SB__SIP_HEADER__INIT, SB__SIP_HEADER__INIT};
    Sb__SipHeader *hp[2] = {&h[0], &h[1]};
    char body[96];
    dlg_request_fill(&c->held, &msg, "NOTIFY", ++c->held.local_cseq);
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
    sipout_send(b, c, via, 0, LEG_B, KIND_STRAY, &msg);
}

/* The target answered: the referrer hears 200 in a NOTIFY, then our BYE. */
static void transfer_done(b2b_t *b, struct call *c) {
    log_call(LOG_INFO, c->leg[LEG_A].call_id, "transferred to %s", c->leg[LEG_B].remote_target);
    if (c->held.call_id) {
        notify_held(b, c, NULL, "SIP/2.0 200 OK", true);
        record_drop_b_index(b, c->held.call_id); /* it no longer leads to this call */
    }
    end_held_forget(b, c, true);
    record_save(b, c);
}

/* The transfer failed: the referrer hears why, and the call goes on with it as before. */
static void transfer_failed(b2b_t *b, struct call *c, unsigned status) {
    char frag[64];
    snprintf(frag, sizeof frag, "SIP/2.0 %u %s", status ? status : 480,
             status == 404   ? "Not Found"
             : status == 486 ? "Busy Here"
                             : "Failed");
    log_call(LOG_INFO, c->leg[LEG_A].call_id, "transfer failed (%u)", status);
    if (!c->held.call_id) { /* the referrer hung up meanwhile: nobody is left to talk to */
        c->state = CS_CONFIRMED;
        c->end_cause = "transfer_failed";
        end_hang_up(b, c, "the transfer failed and the referrer is gone");
        return;
    }
    notify_held(b, c, NULL, frag, true);
    struct dlg *bl = &c->leg[LEG_B];
    call_unlink(b, c, LEG_B);
    struct dlg_blob ours = bl->ours, sdp = bl->sdp;
    struct dlg_timer timer = bl->timer;
    bl->ours = bl->sdp = (struct dlg_blob){NULL, 0};
    dlg_clear(bl);
    *bl = c->held;
    memset(&c->held, 0, sizeof c->held);
    bl->ours = ours;
    bl->sdp = sdp;
    bl->timer = timer;
    c->winner = -1;
    call_link(b, c, LEG_B);
    c->state = CS_CONFIRMED;
    if (c->held_is_a) { /* the caller is back in its own place */
        c->held_is_a = false;
        mid_swap_legs(b, c);
    }
    record_save(b, c);
}

static const struct dial_ops transfer_ops = {
    .state = CS_TRANSFERRING,
    .failed = transfer_failed,
    .answered = transfer_done,
};

void mid_refer(b2b_t *b, struct call *c, int n, ipc_chan_t *ch, const Sb__SipRequestIn *in) {
    const Sb__SipMessage *m = in->msg;
    if (!m->refer_to_aor || !*m->refer_to_aor || !m->refer_to || !*m->refer_to) {
        sipout_respond(b, ch, in->txn_id, 400, NULL, 0, NULL);
        return;
    }
    char *to_uri = strdup(m->refer_to), *local_uri = NULL;
    if (!to_uri) {
        sipout_respond(b, ch, in->txn_id, 500, NULL, 0, NULL);
        return;
    }
    sipout_respond(b, ch, in->txn_id, 202, NULL, 0, NULL);
    if (n == LEG_A) /* the caller transfers: the legs change places, then as from B */
        mid_swap_legs(b, c);
    c->held_is_a = n == LEG_A;
    /* the referrer's dialog stays aside until the target answers; the new B leg keeps the
     * SDPs (the target is offered mediad's side B) and sees the same From */
    struct dlg *bl = &c->leg[LEG_B];
    call_unlink(b, c, LEG_B);
    c->held = *bl;
    memset(bl, 0, sizeof *bl);
    bl->role = DLG_UAC;
    bl->ours = c->held.ours;
    bl->sdp = c->held.sdp;
    bl->timer = c->held.timer;
    c->held.ours = c->held.sdp = (struct dlg_blob){NULL, 0};
    if (!dlg_set(&local_uri, c->held.local_uri)) {
        free(to_uri);
        end_hang_up(b, c, "out of memory");
        return;
    }
    bl->local_uri = local_uri;
    bl->remote_uri = to_uri;
    c->state = CS_TRANSFERRING;
    c->dial = NULL;
    notify_held(b, c, ch ? ch : sipout_sipd_for(b, in->txn_id), "SIP/2.0 100 Trying", false);
    dial_locate(b, c, m->refer_to_aor, MID_TRANSFER_TIMEOUT_S, &transfer_ops);
}

void mid_held_bye(b2b_t *b, struct call *c, ipc_chan_t *ch, uint64_t txn) {
    sipout_respond(b, ch, txn, 200, NULL, 0, NULL);
    end_held_forget(b, c, false);
}
