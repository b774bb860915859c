/* b2b_media - see b2b.h */
#include "b2b.h"

/* ---------------------------------------------------------------- media (mediad) */

struct media_wait {
    b2bua_t *b;
    uint64_t call;
    enum media_step step;
    unsigned status; /* MW_EARLY: the provisional status to relay */
};

static void late_fail(b2bua_t *b, struct call *c, unsigned status);
static bool retry_create(b2bua_t *b, struct call *c, const Sb__MediaReply *rep,
                         enum media_step step);
static bool create_request(b2bua_t *b, struct call *c, ProtobufCBinaryData offer,
                           enum media_step step);
static bool media_request(b2bua_t *b, struct call *c, Sb__Envelope *env, enum media_step step,
                          unsigned status);

static uint8_t *dup_bytes(const uint8_t *p, size_t n, size_t *out_len) {
    uint8_t *d = malloc(n ? n : 1);
    if (d && n)
        memcpy(d, p, n);
    *out_len = d ? n : 0;
    return d;
}

void b2b_media_abandon(ipc_chan_t *ch, uint64_t call) {
    char tag[24];
    snprintf(tag, sizeof tag, "%llu", (unsigned long long)call);
    Sb__MediaDestroyRequest rq = SB__MEDIA_DESTROY_REQUEST__INIT;
    rq.owner_tag = tag;
    Sb__Envelope env = SB__ENVELOPE__INIT;
    env.body_case = SB__ENVELOPE__BODY_MEDIA_DESTROY;
    env.media_destroy = &rq;
    if (ch)
        ipc_send(ch, &env);
}

static void media_answered(ipc_chan_t *ch, Sb__Envelope *env, void *arg) {
    struct media_wait mw = *(struct media_wait *)arg;
    free(arg);
    b2bua_t *b = mw.b;
    const Sb__MediaReply *rep =
        env && env->body_case == SB__ENVELOPE__BODY_MEDIA_REPLY ? env->media_reply : NULL;
    bool ok = rep && rep->status == SB__MEDIA_STATUS__MEDIA_STATUS_OK;
    if (mw.step == MW_DESTROY)
        return;
    if (!env && (mw.step == MW_CREATE || mw.step == MW_LATE_OFFER))
        b2b_media_abandon(ch, mw.call); /* the session it may still make must not linger */
    struct call *c = b2b_find_id(b, mw.call);
    if (!c)
        return; /* ended meanwhile (a session it created is destroyed with it) */
    switch (mw.step) {
    case MW_CREATE:
        if (!ok && retry_create(b, c, rep, MW_CREATE))
            return;
        if (!ok) {
            bool refused = rep && (rep->status == SB__MEDIA_STATUS__MEDIA_STATUS_BAD_SDP ||
                                   rep->status == SB__MEDIA_STATUS__MEDIA_STATUS_UNRELAYABLE);
            log_ratelimited(LOG_WARN, "call %s: mediad: %s", c->a_call_id,
                            rep && rep->reason ? rep->reason : "no answer");
            /* RFC 3261 21.4.26: an offer we cannot take is 488; no media resources 503 */
            b2b_fail_call(b, c, refused ? 488 : 503, refused ? NULL : "Media unavailable");
            return;
        }
        c->media_session = rep->session_id;
        c->media_instance = (int)rep->instance;
        c->b_offer = dup_bytes(rep->sdp.data, rep->sdp.len, &c->b_offer_len);
        c->a_local_sdp = dup_bytes(rep->sdp_local.data, rep->sdp_local.len, &c->a_local_sdp_len);
        if (!c->b_offer || !c->a_local_sdp) {
            b2b_fail_call(b, c, 500, "Out of memory");
            return;
        }
        b2b_run_next(b, c);
        return;
    case MW_EARLY: /* B's 18x SDP, rewritten for A: early media through mediad */
        if (c->state == CALL_CALLING && !c->a_cancelled)
            b2b_respond_a(b, c, mw.status, NULL, ok ? B2B_SDP : NULL, ok ? rep->sdp.data : NULL,
                          ok ? rep->sdp.len : 0);
        return;
    case MW_ANSWER: /* B's 2xx SDP, rewritten for A */
        if (c->state != CALL_ANSWERED && c->state != CALL_CONFIRMED)
            return;
        if (!ok) {
            b2b_hang_up_both(b, c, "mediad refused the callee's answer");
            if (!c->a_answered)
                b2b_fail_call(b, c, 488, NULL);
            return;
        }
        free(c->a_answer_sdp);
        c->a_answer_sdp = dup_bytes(rep->sdp.data, rep->sdp.len, &c->a_answer_sdp_len);
        b2b_respond_a(b, c, 200, NULL, B2B_SDP, rep->sdp.data, rep->sdp.len);
        return;
    case MW_PLAY:
        if (!ok) {
            c->playing = false;
            c->last_failure = 503;
            b2b_run_next(b, c);
        }
        return;      /* then PLAY_COMPLETED moves the call on */
    case MW_REOFFER: /* the re-INVITE's offer, rewritten for the other leg */
        if (!ok) {
            log_ratelimited(LOG_WARN, "call %s: mediad refused a re-INVITE's offer: %s",
                            c->a_call_id, rep && rep->reason ? rep->reason : "no answer");
            b2b_reinvite_answer_ready(b, c, 488, NULL, 0);
            return;
        }
        b2b_reinvite_offer_ready(b, c, rep->sdp.data, rep->sdp.len);
        return;
    case MW_REANSWER: /* the other leg's answer, rewritten for the re-INVITE's sender */
        if (!ok)
            log_ratelimited(LOG_WARN, "call %s: mediad refused a re-INVITE's answer: %s",
                            c->a_call_id, rep && rep->reason ? rep->reason : "no answer");
        b2b_reinvite_answer_ready(b, c, ok ? 200 : 488, ok ? rep->sdp.data : NULL,
                                  ok ? rep->sdp.len : 0);
        return;
    case MW_LATE_OFFER: /* the callee's offer rewritten: A's 200 carries it */
        if (!ok && c->state == CALL_ANSWERED && retry_create(b, c, rep, MW_LATE_OFFER))
            return;
        if (!ok || c->state != CALL_ANSWERED) {
            late_fail(b, c,
                      rep && rep->status == SB__MEDIA_STATUS__MEDIA_STATUS_BAD_SDP ? 488 : 503);
            return;
        }
        c->media_session = rep->session_id;
        c->media_instance = (int)rep->instance;
        free(c->a_answer_sdp);
        c->a_answer_sdp = dup_bytes(rep->sdp.data, rep->sdp.len, &c->a_answer_sdp_len);
        b2b_respond_a(b, c, 200, NULL, B2B_SDP, rep->sdp.data, rep->sdp.len);
        return;
    case MW_LATE_ANSWER: /* the caller's answer rewritten: it goes in B's ACK */
        if (!c->b_ack_pending)
            return;
        c->b_ack_pending = false;
        if (!ok) {
            b2b_send_b(b, c, "ACK", 1, KIND_B_INVITE);
            c->end_cause = "failed";
            b2b_hang_up_both(b, c, "mediad refused the caller's answer to a late offer");
            return;
        }
        free(c->b_ack_sdp);
        c->b_ack_sdp = dup_bytes(rep->sdp.data, rep->sdp.len, &c->b_ack_sdp_len);
        b2b_send_b_body(b, c, "ACK", 1, KIND_B_INVITE, rep->sdp.data, rep->sdp.len);
        return;
    case MW_DESTROY:
        return;
    }
}

/* A late offer that cannot be anchored: B is acknowledged and hung up, A gets status. */
static void late_fail(b2bua_t *b, struct call *c, unsigned status) {
    log_ratelimited(LOG_WARN, "call %s: mediad cannot take the callee's late offer", c->a_call_id);
    c->b_ack_pending = false;
    b2b_send_b(b, c, "ACK", 1, KIND_B_INVITE);
    b2b_respond_a(b, c, status, NULL, NULL, NULL, 0);
    c->a_answered = false; /* a final error: no BYE to A */
    c->end_cause = "failed";
    c->end_status = status;
    b2b_hang_up_both(b, c, "the callee's offer cannot be anchored");
}

/* A session from an offer: A's (step MW_CREATE) or B's (MW_LATE_OFFER). */
static bool create_request(b2bua_t *b, struct call *c, ProtobufCBinaryData offer,
                           enum media_step step) {
    char tag[24];
    snprintf(tag, sizeof tag, "%llu", (unsigned long long)c->id);
    Sb__MediaCreateRequest rq = SB__MEDIA_CREATE_REQUEST__INIT;
    rq.call_id = c->a_call_id;
    rq.sdp = offer;
    rq.owner_tag = tag;
    if (step == MW_LATE_OFFER)
        rq.offer_side = SB__MEDIA_SIDE__MEDIA_SIDE_B;
    Sb__Envelope env = SB__ENVELOPE__INIT;
    env.body_case = SB__ENVELOPE__BODY_MEDIA_CREATE;
    env.media_create = &rq;
    return media_request(b, c, &env, step, 0);
}

/* A create that a mediad could not serve (no ports or descriptors, draining, no answer)
 * goes once to another instance; false when it is not worth it or none is there. */
static bool retry_create(b2bua_t *b, struct call *c, const Sb__MediaReply *rep,
                         enum media_step step) {
    bool busy = !rep || rep->status == SB__MEDIA_STATUS__MEDIA_STATUS_POOL_EXHAUSTED ||
                rep->status == SB__MEDIA_STATUS__MEDIA_STATUS_DRAINING ||
                rep->status == SB__MEDIA_STATUS__MEDIA_STATUS_INTERNAL;
    if (!busy || c->media_avoid >= 0)
        return false;
    c->media_avoid = rep ? (int)rep->instance : c->media_instance;
    if (c->media_avoid < 0)
        return false;
    log_info("call %s: mediad %d cannot take it (%s): another instance", c->a_call_id,
             c->media_avoid, rep && rep->reason ? rep->reason : "no answer");
    ProtobufCBinaryData offer = step == MW_LATE_OFFER
                                    ? (ProtobufCBinaryData){c->b_sdp_len, c->b_sdp}
                                    : (ProtobufCBinaryData){c->body_len, c->body};
    return create_request(b, c, offer, step);
}

void b2b_media_create_late(b2bua_t *b, struct call *c, ProtobufCBinaryData offer) {
    b2b_keep_sdp(&c->b_sdp, &c->b_sdp_len, offer); /* B's latest, for a move */
    if (!create_request(b, c, offer, MW_LATE_OFFER))
        late_fail(b, c, 503);
}

void b2b_late_answer(b2bua_t *b, struct call *c, ProtobufCBinaryData sdp) {
    if (!sdp.len) { /* RFC 3264: the ACK had to answer the offer of our 2xx */
        c->b_ack_pending = false;
        b2b_send_b(b, c, "ACK", 1, KIND_B_INVITE);
        c->end_cause = "failed";
        b2b_hang_up_both(b, c, "the caller's ACK has no answer to the late offer");
        return;
    }
    if (!b2b_media_update(b, c, true, SB__MEDIA_SDP_TYPE__MEDIA_SDP_ANSWER, sdp, true,
                          MW_LATE_ANSWER, 0)) {
        c->b_ack_pending = false;
        b2b_send_b(b, c, "ACK", 1, KIND_B_INVITE);
        b2b_hang_up_both(b, c, "mediad unreachable");
    }
}

static ipc_chan_t *mediad_of(b2bua_t *b, const struct call *c) {
    return worker_peer_role_instance(b->w, SB_ROLE_mediad, c->media_instance);
}

/* Sends env to the call's mediad (or, for a create, the least loaded one). */
static bool media_request(b2bua_t *b, struct call *c, Sb__Envelope *env, enum media_step step,
                          unsigned status) {
    ipc_chan_t *ch = NULL;
    if (step == MW_CREATE || step == MW_LATE_OFFER) {
        c->media_instance = b->w->shm ? shm_media_pick(b->w->shm, c->media_avoid) : -1;
        ch = c->media_instance >= 0 ? mediad_of(b, c) : NULL;
        if (!ch && c->media_avoid < 0) /* the gauge may lag behind: any connected mediad */
            ch = worker_peer_pick(b->w, SB_ROLE_mediad, c->id);
    } else {
        ch = mediad_of(b, c);
    }
    struct media_wait *mw = malloc(sizeof *mw);
    if (!ch || !mw) {
        free(mw);
        return false;
    }
    *mw = (struct media_wait){b, c->id, step, status};
    if (ipc_request(ch, env, media_answered, mw, B2B_MEDIA_TIMEOUT_MS) < 0) {
        free(mw);
        return false;
    }
    return true;
}

void b2b_media_create(b2bua_t *b, struct call *c) {
    if (!create_request(b, c, (ProtobufCBinaryData){c->body_len, c->body}, MW_CREATE))
        b2b_fail_call(b, c, 503, "Media unavailable");
}

void b2b_keep_sdp(uint8_t **dst, size_t *dst_len, ProtobufCBinaryData sdp) {
    if (sdp.data == *dst) /* it is the one kept already (and must outlive this call) */
        return;
    uint8_t *copy = sdp.len ? malloc(sdp.len) : NULL;
    if (!copy)
        return;
    memcpy(copy, sdp.data, sdp.len);
    free(*dst);
    *dst = copy;
    *dst_len = sdp.len;
}

/* An SDP from one side (an offer or an answer) to mediad; the reply of step brings it
 * rewritten for the other side. */
bool b2b_media_update(b2bua_t *b, struct call *c, bool from_a, Sb__MediaSdpType type,
                      ProtobufCBinaryData sdp, bool confirmed, enum media_step step,
                      unsigned status) {
    /* each side's latest SDP, kept for a move to another mediad (b2b_control.c) */
    if (from_a)
        b2b_keep_sdp(&c->body, &c->body_len, sdp);
    else
        b2b_keep_sdp(&c->b_sdp, &c->b_sdp_len, sdp);
    Sb__MediaUpdateRequest rq = SB__MEDIA_UPDATE_REQUEST__INIT;
    rq.session_id = c->media_session;
    /* mediad's sides are the call's legs, crossed after the caller transferred */
    rq.from_side =
        from_a != c->media_swapped ? SB__MEDIA_SIDE__MEDIA_SIDE_A : SB__MEDIA_SIDE__MEDIA_SIDE_B;
    rq.type = type;
    rq.sdp = sdp;
    rq.confirmed = confirmed;
    Sb__Envelope env = SB__ENVELOPE__INIT;
    env.body_case = SB__ENVELOPE__BODY_MEDIA_UPDATE;
    env.media_update = &rq;
    return media_request(b, c, &env, step, status);
}

/* B's SDP (an answer) to mediad: the rewritten SDP goes to A when it comes back. */
bool b2b_media_update_b(b2bua_t *b, struct call *c, const Sb__SipMessage *m, bool final) {
    return b2b_media_update(b, c, false, SB__MEDIA_SDP_TYPE__MEDIA_SDP_ANSWER, m->body, final,
                            final ? MW_ANSWER : MW_EARLY, m->status);
}

bool b2b_media_play(b2bua_t *b, struct call *c, const char *file) {
    Sb__MediaPlayRequest rq = SB__MEDIA_PLAY_REQUEST__INIT;
    rq.session_id = c->media_session;
    rq.to_side = c->media_swapped ? SB__MEDIA_SIDE__MEDIA_SIDE_B : SB__MEDIA_SIDE__MEDIA_SIDE_A;
    rq.file = (char *)file;
    Sb__Envelope env = SB__ENVELOPE__INIT;
    env.body_case = SB__ENVELOPE__BODY_MEDIA_PLAY;
    env.media_play = &rq;
    c->playing = media_request(b, c, &env, MW_PLAY, 0);
    return c->playing;
}

void b2b_media_destroy(b2bua_t *b, struct call *c) {
    if (!c->media_session)
        return;
    Sb__MediaDestroyRequest rq = SB__MEDIA_DESTROY_REQUEST__INIT;
    rq.session_id = c->media_session;
    Sb__Envelope env = SB__ENVELOPE__INIT;
    env.body_case = SB__ENVELOPE__BODY_MEDIA_DESTROY;
    env.media_destroy = &rq;
    if (!media_request(b, c, &env, MW_DESTROY, 0))
        log_ratelimited(LOG_WARN, "call %s: cannot destroy media session %llu (mediad %d gone)",
                        c->a_call_id, (unsigned long long)c->media_session, c->media_instance);
    c->media_session = 0;
}

void b2b_on_media_event(b2bua_t *b, const Sb__MediaEvent *ev) {
    uint64_t id = ev->owner_tag ? strtoull(ev->owner_tag, NULL, 10) : 0;
    struct call *c = b2b_find_id(b, id);
    if (!c || c->media_session != ev->session_id)
        return;
    switch (ev->type) {
    case SB__MEDIA_EVENT_TYPE__MEDIA_EVENT_PLAY_COMPLETED:
    case SB__MEDIA_EVENT_TYPE__MEDIA_EVENT_PLAY_ERROR:
    case SB__MEDIA_EVENT_TYPE__MEDIA_EVENT_PLAY_STOPPED:
        if (!c->playing)
            return;
        c->playing = false;
        if (ev->type == SB__MEDIA_EVENT_TYPE__MEDIA_EVENT_PLAY_ERROR) {
            log_ratelimited(LOG_WARN, "call %s: play_audio failed: %s", c->a_call_id,
                            ev->reason ? ev->reason : "?");
            c->last_failure = 503;
        }
        if (c->state != CALL_ENDING)
            b2b_run_next(b, c);
        return;
    case SB__MEDIA_EVENT_TYPE__MEDIA_EVENT_TIMEOUT:
    case SB__MEDIA_EVENT_TYPE__MEDIA_EVENT_SESSION_LOST:
        if (c->state == CALL_CONFIRMED || c->state == CALL_ANSWERED) {
            if (ev->type == SB__MEDIA_EVENT_TYPE__MEDIA_EVENT_SESSION_LOST)
                c->media_session = 0;
            c->end_cause = ev->type == SB__MEDIA_EVENT_TYPE__MEDIA_EVENT_TIMEOUT ? "media_timeout"
                                                                                 : "media_lost";
            b2b_hang_up_both(b, c,
                             ev->type == SB__MEDIA_EVENT_TYPE__MEDIA_EVENT_TIMEOUT
                                 ? "no media"
                                 : "media session lost");
        }
        return;
    case SB__MEDIA_EVENT_TYPE__MEDIA_EVENT_DTMF:
        log_info("call %s: DTMF %s (%u ms)", c->a_call_id, ev->digit ? ev->digit : "?",
                 ev->duration_ms);
        return;
    default:
        return;
    }
}
