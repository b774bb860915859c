/* anchor - see anchor.h */
#include "anchor.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "end.h"
#include "log.h"

/* What a request of a call waits for. */
struct anchor_wait {
    anchor_done_fn done;
    unsigned status;
    int offer_leg; /* a create: the leg whose offer it carries, else -1 */
};

bool anchor_ok(const Sb__MediaReply *rep) {
    return rep && rep->status == SB__MEDIA_STATUS__MEDIA_STATUS_OK;
}

static ipc_chan_t *mediad_of(b2b_t *b, const struct call *c) {
    return b->io.instance(b->io.arg, SB_ROLE_mediad, c->media_instance);
}

void anchor_abandon(ipc_chan_t *ch, uint64_t call) {
    char tag[ANCHOR_TAG_LEN];
    snprintf(tag, ANCHOR_TAG_LEN, "%llu", (unsigned long long)call);
    Sb__MediaDestroyRequest rq = SB__MEDIA_DESTROY_REQUEST__INIT;
    rq.owner_tag = tag;
    if (ch)
        ipc_send_media_destroy(ch, &rq);
}

static bool create_request(b2b_t *b, struct call *c, int offer_leg, anchor_done_fn done);

/* A create that a mediad could not serve goes once to another instance; false when it is
 * not worth it or none is there. */
static bool retry_create(b2b_t *b, struct call *c, const Sb__MediaReply *rep, int offer_leg,
                         anchor_done_fn done) {
    bool busy = !rep || rep->status == SB__MEDIA_STATUS__MEDIA_STATUS_POOL_EXHAUSTED ||
                rep->status == SB__MEDIA_STATUS__MEDIA_STATUS_DRAINING ||
                rep->status == SB__MEDIA_STATUS__MEDIA_STATUS_INTERNAL;
    if (!busy || c->media_avoid >= 0)
        return false;
    c->media_avoid = rep ? (int)rep->instance : c->media_instance;
    if (c->media_avoid < 0)
        return false;
    log_call(LOG_INFO, c->leg[LEG_A].call_id, "mediad %d cannot take it (%s): another instance",
             c->media_avoid, rep && rep->reason ? rep->reason : "no answer");
    return create_request(b, c, offer_leg, done);
}

static void answered(b2b_t *b, struct call *c, ipc_chan_t *ch, Sb__Envelope *env, void *arg) {
    const struct anchor_wait *mw = arg;
    const Sb__MediaReply *rep =
        env && env->body_case == SB__ENVELOPE__BODY_MEDIA_REPLY ? env->media_reply : NULL;
    if (mw->offer_leg >= 0) {
        if (!env) /* the session it may still make must not linger */
            anchor_abandon(ch, c->id);
        if (!anchor_ok(rep) && retry_create(b, c, rep, mw->offer_leg, mw->done))
            return;
        if (anchor_ok(rep)) {
            c->media_session = rep->session_id;
            c->media_instance = (int)rep->instance;
        }
    }
    mw->done(b, c, rep, mw->status);
}

static void orphan(ipc_chan_t *ch, Sb__Envelope *env, uint64_t call) {
    (void)ch;
    (void)env;
    (void)call; /* ended meanwhile: a session it created went with it (owner tag) */
}

static void create_orphan(ipc_chan_t *ch, Sb__Envelope *env, uint64_t call) {
    if (!env)
        anchor_abandon(ch, call);
}

static bool request(b2b_t *b, struct call *c, ipc_chan_t *ch, Sb__Envelope *env,
                    anchor_done_fn done, unsigned status, int offer_leg) {
    struct anchor_wait *mw = malloc(sizeof *mw);
    if (!mw)
        return false;
    *mw = (struct anchor_wait){done, status, offer_leg};
    return call_request(b, c, ch, env, ANCHOR_TIMEOUT_MS, answered, mw,
                        offer_leg >= 0 ? create_orphan : orphan);
}

/* A leg behind NAT sends its media from its signaling source, not from its SDP's
 * address: mediad latches that IP too ("" when the leg is not NATed). */
static char *nat_ip(const struct dlg *d) {
    return d->hop.base.descriptor && d->hop.nated && d->hop.addr ? d->hop.addr : "";
}

/* The leg's signaling source: its NAT's address, else its Contact's host (sipd saw no
 * NAT: the Contact is where it talks from); "" unknown. */
static char *signal_ip(const struct dlg *d) {
    const char *n = nat_ip(d);
    return *n ? (char *)n : d->remote_host ? d->remote_host : "";
}

/* The node's address the leg's signaling arrived on ("" unknown). */
static char *local_ip(const struct dlg *d) {
    return d->hop.base.descriptor && d->hop.local_addr ? d->hop.local_addr : "";
}

/* The node's address the other leg's signaling uses, so that mediad gives that side an
 * interface of its family (an IPv4 caller, an IPv6 callee): the leg's own when it exists,
 * else, for the caller's offer, the address the route's first dialed contact registered
 * to ("" unknown). */
static char *other_local_ip(const struct call *c, int offer_leg) {
    const char *own = local_ip(&c->leg[1 - offer_leg]);
    if (*own || offer_leg != LEG_A || c->nactions == 0)
        return (char *)own;
    const struct call_action *a = &c->actions[0];
    return a->type == ACT_DIAL && a->ncontacts > 0 && a->hops[0].base.descriptor &&
                   a->hops[0].local_addr
               ? a->hops[0].local_addr
               : "";
}

/* Whether a target is reached over TLS: sips:, or ;transport=tls (RFC 3261 19.1). */
static bool uri_is_tls(const char *u) {
    return u && (strncasecmp(u, "sips:", 5) == 0 || strcasestr(u, ";transport=tls"));
}

bool anchor_b_leg_tls(const struct call *c) {
    if (c->nactions == 0 || c->actions[0].type != ACT_DIAL)
        return false;
    const struct call_action *a = &c->actions[0];
    if (!a->located)
        return uri_is_tls(a->uri);
    for (unsigned i = 0; i < a->ncontacts; i++) { /* every fork gets the same offer */
        const char *t = a->hops[i].base.descriptor ? a->hops[i].transport : NULL;
        if (!(t && strcmp(t, "tls") == 0) && !uri_is_tls(a->contacts[i]))
            return false;
    }
    return a->ncontacts > 0;
}

void anchor_create_fill(const struct call *c, int offer_leg, Sb__MediaCreateRequest *rq,
                        char tag[static ANCHOR_TAG_LEN]) {
    snprintf(tag, ANCHOR_TAG_LEN, "%llu", (unsigned long long)c->id);
    sb__media_create_request__init(rq);
    rq->call_id = c->leg[LEG_A].call_id;
    rq->sdp.data = c->leg[offer_leg].sdp.data;
    rq->sdp.len = c->leg[offer_leg].sdp.len;
    rq->owner_tag = tag;
    rq->nat_ip = nat_ip(&c->leg[offer_leg]);
    rq->local_ip = local_ip(&c->leg[offer_leg]);
    rq->signal_ip = signal_ip(&c->leg[offer_leg]);
    rq->other_local_ip = other_local_ip(c, offer_leg);
    if (offer_leg == LEG_B)
        rq->offer_side = SB__MEDIA_SIDE__MEDIA_SIDE_B;
    else if (!anchor_b_leg_tls(c))
        rq->srtp_b = 1; /* SDES keys only over TLS: side B gets plain RTP/AVP, no a=crypto */
}

static bool create_request(b2b_t *b, struct call *c, int offer_leg, anchor_done_fn done) {
    char tag[ANCHOR_TAG_LEN];
    Sb__MediaCreateRequest rq;
    anchor_create_fill(c, offer_leg, &rq, tag);
    Sb__Envelope env = ipc_envelope_media_create(&rq);
    c->media_instance = b->io.media_pick ? b->io.media_pick(b->io.arg, c->media_avoid) : -1;
    ipc_chan_t *ch = c->media_instance >= 0 ? mediad_of(b, c) : NULL;
    if (!ch && c->media_avoid < 0) /* the gauge may lag behind: any connected mediad */
        ch = b->io.pick(b->io.arg, SB_ROLE_mediad, c->id);
    return request(b, c, ch, &env, done, 0, offer_leg);
}

bool anchor_create(b2b_t *b, struct call *c, int offer_leg, anchor_done_fn done) {
    return create_request(b, c, offer_leg, done);
}

void anchor_update_peer(const struct call *c, int from, Sb__MediaUpdateRequest *rq) {
    rq->nat_ip = nat_ip(&c->leg[from]);
    rq->signal_ip = signal_ip(&c->leg[from]);
}

bool anchor_update(b2b_t *b, struct call *c, int from, Sb__MediaSdpType type,
                   ProtobufCBinaryData sdp, bool confirmed, anchor_done_fn done, unsigned status) {
    dlg_blob_keep(&c->leg[from].sdp, sdp.data, sdp.len);
    Sb__MediaUpdateRequest rq = SB__MEDIA_UPDATE_REQUEST__INIT;
    rq.session_id = c->media_session;
    rq.from_side = (from == LEG_A) != c->media_swapped ? SB__MEDIA_SIDE__MEDIA_SIDE_A
                                                       : SB__MEDIA_SIDE__MEDIA_SIDE_B;
    rq.type = type;
    rq.sdp = sdp;
    rq.confirmed = confirmed;
    anchor_update_peer(c, from, &rq);
    Sb__Envelope env = ipc_envelope_media_update(&rq);
    return request(b, c, mediad_of(b, c), &env, done, status, -1);
}

static void play_answered(b2b_t *b, struct call *c, const Sb__MediaReply *rep, unsigned status) {
    (void)status;
    if (anchor_ok(rep) || !c->playing)
        return; /* then PLAY_COMPLETED moves the call on */
    c->playing = false;
    if (c->play_done)
        c->play_done(b, c, false);
}

bool anchor_play(b2b_t *b, struct call *c, const char *file) {
    Sb__MediaPlayRequest rq = SB__MEDIA_PLAY_REQUEST__INIT;
    rq.session_id = c->media_session;
    rq.to_side = c->media_swapped ? SB__MEDIA_SIDE__MEDIA_SIDE_B : SB__MEDIA_SIDE__MEDIA_SIDE_A;
    rq.file = (char *)file;
    Sb__Envelope env = ipc_envelope_media_play(&rq);
    c->playing = request(b, c, mediad_of(b, c), &env, play_answered, 0, -1);
    return c->playing;
}

void anchor_destroy(b2b_t *b, struct call *c) {
    if (!c->media_session)
        return;
    Sb__MediaDestroyRequest rq = SB__MEDIA_DESTROY_REQUEST__INIT;
    rq.session_id = c->media_session;
    ipc_chan_t *ch = mediad_of(b, c);
    if (!ch || ipc_send_media_destroy(ch, &rq) < 0)
        log_call_ratelimited(LOG_WARN, c->leg[LEG_A].call_id,
                             "cannot destroy media session %llu (mediad %d gone)",
                             (unsigned long long)c->media_session, c->media_instance);
    c->media_session = 0;
}

void anchor_init(b2b_t *b) {
    call_teardown_add(b, anchor_destroy);
}

void anchor_on_event(b2b_t *b, const Sb__MediaEvent *ev) {
    uint64_t id = ev->owner_tag ? strtoull(ev->owner_tag, NULL, 10) : 0;
    struct call *c = call_find(b, id);
    if (!c || c->media_session != ev->session_id)
        return;
    switch (ev->type) {
    case SB__MEDIA_EVENT_TYPE__MEDIA_EVENT_PLAY_COMPLETED:
    case SB__MEDIA_EVENT_TYPE__MEDIA_EVENT_PLAY_ERROR:
    case SB__MEDIA_EVENT_TYPE__MEDIA_EVENT_PLAY_STOPPED: {
        if (!c->playing)
            return;
        c->playing = false;
        bool ok = ev->type != SB__MEDIA_EVENT_TYPE__MEDIA_EVENT_PLAY_ERROR;
        if (!ok)
            log_call_ratelimited(LOG_WARN, c->leg[LEG_A].call_id, "play_audio failed: %s",
                                 ev->reason ? ev->reason : "?");
        if (c->state != CS_ENDING && c->play_done)
            c->play_done(b, c, ok);
        return;
    }
    case SB__MEDIA_EVENT_TYPE__MEDIA_EVENT_TIMEOUT:
    case SB__MEDIA_EVENT_TYPE__MEDIA_EVENT_SESSION_LOST: {
        if (!call_established(c) || c->state == CS_TRANSFERRING)
            return;
        bool lost = ev->type == SB__MEDIA_EVENT_TYPE__MEDIA_EVENT_SESSION_LOST;
        if (lost)
            c->media_session = 0;
        c->end_cause = lost ? "media_lost" : "media_timeout";
        end_hang_up(b, c, lost ? "media session lost" : "no media");
        return;
    }
    case SB__MEDIA_EVENT_TYPE__MEDIA_EVENT_DTMF:
        log_call(LOG_INFO, c->leg[LEG_A].call_id, "DTMF %s (%u ms)", ev->digit ? ev->digit : "?",
                 ev->duration_ms);
        return;
    default:
        return;
    }
}
