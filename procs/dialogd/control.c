/* control - see control.h */
#include "control.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "anchor.h"
#include "dial.h"
#include "end.h"
#include "log.h"
#include "record.h"
#include "sipout.h"

#define MIG_REPLY_MS 3000 /* a DialogMigrateRequest is answered within this */
#define MIG_MAX_ERRORS 20

/* ---------------------------------------------------------------- replies */

static void reply(ipc_chan_t *ch, uint64_t request_id, const Sb__DialogReply *r) {
    Sb__Envelope req = SB__ENVELOPE__INIT;
    req.request_id = request_id;
    int rc = ch ? ipc_reply_dialog_reply(ch, &req, r) : -ENOTCONN;
    if (rc < 0)
        log_ratelimited(LOG_WARN, "cannot answer apid: %s", strerror(-rc));
}

static void reply_status(ipc_chan_t *ch, const Sb__Envelope *req, unsigned status,
                         const char *reason) {
    Sb__DialogReply r = SB__DIALOG_REPLY__INIT;
    r.status = status;
    r.reason = (char *)reason;
    reply(ch, req->request_id, &r);
}

/* ---------------------------------------------------------------- hang up */

void control_on_hangup(b2b_t *b, ipc_chan_t *ch, const Sb__Envelope *env) {
    const Sb__DialogHangupRequest *rq = env->dialog_hangup;
    int leg;
    struct call *c = call_find_cid(b, rq->call_id, &leg);
    if (!c) {
        reply_status(ch, env, 404, "no such call here");
        return;
    }
    if (c->state == CS_ENDING) {
        reply_status(ch, env, 200, "ending already");
        return;
    }
    log_call(LOG_INFO, c->leg[LEG_A].call_id, "hang-up asked by apid");
    reply_status(ch, env, 200, "hanging up");
    if (c->leg[LEG_A].final_sent) { /* answered (by B or a prompt): BYE both */
        c->end_cause = "api_hangup";
        shm_count(b->slot, SHM_C_calls_ended, 1);
        end_hang_up(b, c, "hung up by apid");
        return;
    }
    /* before the answer: like the caller's CANCEL, but A hears status (default 480) */
    dial_cancel(b, c, rq->status >= 300 && rq->status < 700 ? rq->status : 480);
}

/* ---------------------------------------------------------------- moving media */

enum move_step { MV_CREATE, MV_PREWIRE, MV_B_INVITE, MV_B_ANSWER, MV_A_INVITE, MV_A_ANSWER };

struct call_move {
    enum move_step step;
    int instance;     /* the new mediad */
    uint64_t session; /* the new session, 0 until created */
    struct dlg_blob b_offer, a_local, a_sdp;
    uint32_t cseq; /* our re-INVITE's CSeq (its ACK's) */
    bool b_moved;  /* B accepted the new address */
};

struct migration {
    ipc_chan_t *ch; /* apid, while a reply is owed */
    uint64_t request_id;
    bool waiting;
    bool aggressive;
    int instance; /* the mediad being drained */
    uint32_t total, waiting_playback;
    uint32_t migrated, failed; /* since the last reply */
    char *errors[MIG_MAX_ERRORS];
    size_t n_errors;
    unsigned running; /* moves under way */
    uv_timer_t timer;
};

static struct migration *mig_of(b2b_t *b) {
    return b->feature[FEATURE_CONTROL];
}

static void move_free(struct call_move *mv) {
    if (!mv)
        return;
    dlg_blob_free(&mv->b_offer);
    dlg_blob_free(&mv->a_local);
    dlg_blob_free(&mv->a_sdp);
    free(mv);
}

static void destroy_session(b2b_t *b, int instance, uint64_t session) {
    ipc_chan_t *ch = b->io.instance(b->io.arg, SB_ROLE_mediad, instance);
    if (!ch || !session)
        return;
    Sb__MediaDestroyRequest rq = SB__MEDIA_DESTROY_REQUEST__INIT;
    rq.session_id = session;
    ipc_send_media_destroy(ch, &rq);
}

static void mig_reply(b2b_t *b);

/* A call that could not move: counted, and its line in the answer's errors. */
static void mig_failed(struct migration *m, struct call *c, const char *why) {
    if (!why)
        why = "?";
    m->failed++;
    char line[320];
    snprintf(line, sizeof line, "%s: %s", c->leg[LEG_A].call_id, why);
    if (m->n_errors < MIG_MAX_ERRORS)
        m->errors[m->n_errors++] = strdup(line);
    log_call(LOG_INFO, c->leg[LEG_A].call_id, "media not moved: %s", why);
}

/* One move over: counted, and apid answered if it waits for the last one. */
static void move_over(b2b_t *b, struct call *c, bool ok, const char *why) {
    struct migration *m = mig_of(b);
    move_free(c->move);
    c->move = NULL;
    if (c->state == CS_MOVING)
        c->state = CS_CONFIRMED;
    if (!m)
        return;
    if (m->running)
        m->running--;
    if (ok)
        m->migrated++;
    else
        mig_failed(m, c, why);
    if (m->waiting && m->running == 0)
        mig_reply(b);
}

/* The move failed: the new session goes; the call stays on the old one, unless B moved
 * already (it cannot be brought back cleanly) or the drain is aggressive: then it ends. */
static void move_failed(b2b_t *b, struct call *c, const char *why) {
    struct call_move *mv = c->move;
    struct migration *m = mig_of(b);
    bool end = mv->b_moved || (m && m->aggressive);
    destroy_session(b, mv->instance, mv->session);
    move_over(b, c, false, why);
    if (end && c->state != CS_ENDING) {
        c->end_cause = "media_move_failed";
        end_hang_up(b, c, "its media could not move to another mediad");
    }
}

static void move_media_answered(b2b_t *b, struct call *c, ipc_chan_t *ch, Sb__Envelope *env,
                                void *arg);

/* The create of a move that timed out: the session it may make must not linger. */
static void move_orphan(ipc_chan_t *ch, Sb__Envelope *env, uint64_t call) {
    if (!env)
        anchor_abandon(ch, call);
}

static bool move_media_request(b2b_t *b, struct call *c, Sb__Envelope *env) {
    uint64_t *session = malloc(sizeof *session);
    if (!session)
        return false;
    *session = c->move->session;
    return call_request(b, c, b->io.instance(b->io.arg, SB_ROLE_mediad, c->move->instance), env,
                        ANCHOR_TIMEOUT_MS, move_media_answered, session,
                        c->move->session ? NULL : move_orphan);
}

/* An SDP of one side to the new session (the answer of a re-INVITE, or B's latest). */
static bool move_update(b2b_t *b, struct call *c, int from, ProtobufCBinaryData sdp) {
    Sb__MediaUpdateRequest rq = SB__MEDIA_UPDATE_REQUEST__INIT;
    rq.session_id = c->move->session;
    rq.from_side = from == LEG_A ? SB__MEDIA_SIDE__MEDIA_SIDE_A : SB__MEDIA_SIDE__MEDIA_SIDE_B;
    rq.type = SB__MEDIA_SDP_TYPE__MEDIA_SDP_ANSWER;
    rq.sdp = sdp;
    rq.confirmed = true;
    anchor_update_peer(c, from, &rq);
    Sb__Envelope env = ipc_envelope_media_update(&rq);
    return move_media_request(b, c, &env);
}

/* Both legs on the new session: the old one goes, the call's record says where it is. */
static void move_done(b2b_t *b, struct call *c) {
    struct call_move *mv = c->move;
    log_call(LOG_INFO, c->leg[LEG_A].call_id, "media moved from mediad %d to %d", c->media_instance,
             mv->instance);
    anchor_destroy(b, c); /* the old session, on the old instance */
    c->media_session = mv->session;
    c->media_instance = mv->instance;
    c->media_swapped = false; /* the new session was made with the A leg as its side A */
    dlg_blob_free(&c->leg[LEG_B].ours);
    dlg_blob_free(&c->a_local);
    dlg_blob_free(&c->leg[LEG_A].ours);
    c->leg[LEG_B].ours = mv->b_offer;
    c->a_local = mv->a_local;
    c->leg[LEG_A].ours = mv->a_sdp;
    mv->b_offer = mv->a_local = mv->a_sdp = (struct dlg_blob){NULL, 0};
    c->state = CS_CONFIRMED;
    record_save(b, c);
    move_over(b, c, true, NULL);
}

static void move_invite(b2b_t *b, struct call *c, int leg) {
    struct call_move *mv = c->move;
    const struct dlg_blob *sdp = leg == LEG_A ? &mv->a_sdp : &mv->b_offer;
    mv->step = leg == LEG_A ? MV_A_INVITE : MV_B_INVITE;
    mv->cseq = call_next_cseq(c, leg);
    bool sent = sipout_request(b, c, leg, "INVITE", mv->cseq, KIND_MOVE, sdp->data, sdp->len, NULL);
    record_save(b, c);
    if (!sent)
        move_failed(b, c, "no sipd to send the re-INVITE");
}

static void move_media_answered(b2b_t *b, struct call *c, ipc_chan_t *ch, Sb__Envelope *env,
                                void *arg) {
    uint64_t session = *(uint64_t *)arg;
    if (!env && session == 0) /* the create of a move timed out */
        anchor_abandon(ch, c->id);
    if (!c->move || c->move->session != session)
        return; /* its move is over */
    struct call_move *mv = c->move;
    const Sb__MediaReply *rep =
        env && env->body_case == SB__ENVELOPE__BODY_MEDIA_REPLY ? env->media_reply : NULL;
    if (!anchor_ok(rep)) {
        if (mv->step == MV_CREATE)
            mv->session = rep ? rep->session_id : 0;
        move_failed(b, c,
                    rep && rep->reason && *rep->reason ? rep->reason : "mediad did not answer");
        return;
    }
    switch (mv->step) {
    case MV_CREATE: /* the new session has A's SDP: B's goes in next */
        mv->session = rep->session_id;
        dlg_blob_keep(&mv->b_offer, rep->sdp.data, rep->sdp.len);
        dlg_blob_keep(&mv->a_local, rep->sdp_local.data, rep->sdp_local.len);
        mv->step = MV_PREWIRE;
        if (!mv->b_offer.data || !mv->a_local.data ||
            !move_update(b, c, LEG_B,
                         (ProtobufCBinaryData){c->leg[LEG_B].sdp.len, c->leg[LEG_B].sdp.data}))
            move_failed(b, c, "mediad unreachable");
        return;
    case MV_PREWIRE:  /* both remotes known: B is offered the new address */
    case MV_B_ANSWER: /* B's answer applied: A is offered the new address */
        dlg_blob_free(&mv->a_sdp);
        dlg_blob_keep(&mv->a_sdp, rep->sdp.data, rep->sdp.len);
        if (!mv->a_sdp.data) {
            move_failed(b, c, "out of memory");
            return;
        }
        move_invite(b, c, mv->step == MV_B_ANSWER ? LEG_A : LEG_B);
        return;
    case MV_A_ANSWER:
        move_done(b, c);
        return;
    case MV_B_INVITE:
    case MV_A_INVITE:
        return;
    }
}

void control_move_answered(b2b_t *b, struct call *c, const Sb__SipResponseIn *in, int leg) {
    const Sb__SipMessage *m = in->msg;
    struct call_move *mv = c->move;
    if (!mv || m->status < 200 || mv->step != (leg == LEG_A ? MV_A_INVITE : MV_B_INVITE))
        return;
    if (m->status >= 300) {
        char why[64];
        snprintf(why, sizeof why, "%s answered %u", leg == LEG_A ? "the caller" : "the callee",
                 m->status);
        move_failed(b, c, why);
        return;
    }
    sipout_request(b, c, leg, "ACK", mv->cseq, KIND_MOVE, NULL, 0, NULL);
    if (leg == LEG_B)
        mv->b_moved = true;
    if (!m->body.len) { /* no new SDP: what the leg had stays in force */
        if (leg == LEG_A)
            move_done(b, c);
        else
            move_invite(b, c, LEG_A);
        return;
    }
    dlg_blob_keep(&c->leg[leg].sdp, m->body.data, m->body.len);
    mv->step = leg == LEG_A ? MV_A_ANSWER : MV_B_ANSWER;
    if (!move_update(b, c, leg, m->body))
        move_failed(b, c, "mediad unreachable");
}

/* Starts moving c off its mediad; false (with why) when it cannot start. */
static bool move_start(b2b_t *b, struct call *c, const char **why) {
    int to = b->io.media_pick ? b->io.media_pick(b->io.arg, c->media_instance) : -1;
    if (!c->leg[LEG_A].sdp.len || !c->leg[LEG_B].sdp.len) {
        *why = "the SDPs of the call are not known here (restored from Redis)";
        return false;
    }
    if (to < 0 || to == c->media_instance || !b->io.instance(b->io.arg, SB_ROLE_mediad, to)) {
        *why = "no other mediad takes sessions";
        return false;
    }
    struct call_move *mv = calloc(1, sizeof *mv);
    if (!mv) {
        *why = "out of memory";
        return false;
    }
    mv->instance = to;
    mv->step = MV_CREATE;
    c->move = mv;
    c->state = CS_MOVING;
    char tag[ANCHOR_TAG_LEN];
    Sb__MediaCreateRequest rq;
    anchor_create_fill(c, LEG_A, &rq, tag); /* the new session: A's SDP as an offer */
    Sb__Envelope env = ipc_envelope_media_create(&rq);
    if (!move_media_request(b, c, &env)) {
        move_free(mv);
        c->move = NULL;
        c->state = CS_CONFIRMED;
        *why = "mediad unreachable";
        return false;
    }
    return true;
}

/* The calls on the mediad being drained that are not yet established count in progress. */
static void count_unsettled(b2b_t *b, struct call *c, void *arg) {
    (void)b;
    Sb__DialogReply *r = arg;
    const struct migration *m = mig_of(c->b2b);
    if (c->media_session && c->media_instance == m->instance && !c->move &&
        c->state != CS_CONFIRMED && c->state != CS_ENDING)
        r->in_progress++;
}

static void mig_reply(b2b_t *b) {
    struct migration *m = mig_of(b);
    uv_timer_stop(&m->timer);
    Sb__DialogReply r = SB__DIALOG_REPLY__INIT;
    r.status = 200;
    r.total = m->total;
    r.migrated = m->migrated;
    r.failed = m->failed;
    r.waiting_playback = m->waiting_playback;
    r.in_progress = m->running;
    call_each(b, count_unsettled, &r);
    r.errors = m->errors;
    r.n_errors = m->n_errors;
    reply(m->ch, m->request_id, &r);
    for (size_t i = 0; i < m->n_errors; i++)
        free(m->errors[i]);
    m->n_errors = 0;
    m->migrated = m->failed = 0;
    m->waiting = false;
    m->ch = NULL;
}

static void mig_timeout(uv_timer_t *t) {
    b2b_t *b = t->data;
    struct migration *m = mig_of(b);
    if (m && m->waiting)
        mig_reply(b);
}

/* One call of the migration: moved when it can be. */
static void migrate_call(b2b_t *b, struct call *c, void *arg) {
    (void)arg;
    struct migration *m = mig_of(b);
    if (!c->media_session || c->media_instance != m->instance || c->state == CS_ENDING)
        return;
    m->total++;
    if (c->state != CS_CONFIRMED)
        return; /* moving, relaying, transferring or not yet established: in progress */
    if (c->playing) {
        m->waiting_playback++;
        return;
    }
    const char *why = NULL;
    if (move_start(b, c, &why)) {
        m->running++;
        return;
    }
    mig_failed(m, c, why);
    if (m->aggressive) {
        c->end_cause = "media_move_failed";
        end_hang_up(b, c, "its media could not move to another mediad");
    }
}

void control_on_migrate(b2b_t *b, ipc_chan_t *ch, const Sb__Envelope *env) {
    const Sb__DialogMigrateRequest *rq = env->dialog_migrate;
    struct migration *m = mig_of(b);
    if (!m) {
        reply_status(ch, env, 503, "out of memory");
        return;
    }
    if (m->waiting) {
        reply_status(ch, env, 503, "a move is being answered; ask again");
        return;
    }
    m->instance = (int)rq->mediad;
    m->aggressive = rq->aggressive;
    m->total = m->waiting_playback = 0;
    call_each(b, migrate_call, NULL);
    log_info("moving %u call(s) off mediad %d (%s)", m->running, m->instance,
             m->aggressive ? "aggressive" : "graceful");
    m->ch = ch;
    m->request_id = env->request_id;
    m->waiting = true;
    if (m->running == 0)
        mig_reply(b);
    else
        uv_timer_start(&m->timer, mig_timeout, MIG_REPLY_MS, 0);
}

/* The call ends or goes: its move is abandoned (the new session destroyed). */
static void move_abandon(b2b_t *b, struct call *c) {
    if (!c->move)
        return;
    destroy_session(b, c->move->instance, c->move->session);
    move_over(b, c, false, "the call ended while its media moved");
}

void control_peer_closed(b2b_t *b, ipc_chan_t *ch) {
    struct migration *m = mig_of(b);
    if (m && m->ch == ch) {
        m->ch = NULL;
        m->waiting = false;
        uv_timer_stop(&m->timer);
    }
}

void control_init(b2b_t *b) {
    struct migration *m = calloc(1, sizeof *m);
    if (m) {
        uv_timer_init(b->loop, &m->timer);
        m->timer.data = b;
        b->feature[FEATURE_CONTROL] = m;
    }
    call_teardown_add(b, move_abandon);
}

static void mig_closed(uv_handle_t *h) {
    free(h->data);
}

void control_fini(b2b_t *b) {
    struct migration *m = mig_of(b);
    if (!m)
        return;
    for (size_t i = 0; i < m->n_errors; i++)
        free(m->errors[i]);
    m->timer.data = m;
    uv_close((uv_handle_t *)&m->timer, mig_closed);
    b->feature[FEATURE_CONTROL] = NULL;
}
