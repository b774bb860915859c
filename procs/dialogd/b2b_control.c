/* b2b_control - see b2b.h: apid's requests (hang up a call, move calls off a mediad) and
 * the call events published on sb:events. */
#include "b2b.h"

#define MIG_REPLY_MS 3000 /* a DialogMigrateRequest is answered within this */
#define MIG_MAX_ERRORS 20

/* ---------------------------------------------------------------- events */

/* A compact JSON object written by hand: four of these per call are on the hot path, where
 * building jansson trees cost dialogd a seventh of its CPU. Strings are escaped per RFC 8259
 * (quote, backslash, control characters); other bytes pass as they are. */
struct jbuf {
    char *p;
    size_t len, cap;
    bool full;
};

static void jput(struct jbuf *j, const char *s, size_t n) {
    size_t room = j->len < j->cap ? j->cap - j->len : 0;
    if (j->full || n >= room) {
        j->full = true;
        return;
    }
    for (size_t i = 0; i < n; i++) /* short pieces: a loop, where memcpy's bounds puzzle gcc */
        j->p[j->len + i] = s[i];
    j->len += n;
}

static void jkey(struct jbuf *j, const char *key) {
    jput(j, j->len > 1 ? ",\"" : "\"", j->len > 1 ? 2 : 1);
    jput(j, key, strlen(key));
    jput(j, "\":", 2);
}

static void jstr(struct jbuf *j, const char *key, const char *v) {
    jkey(j, key);
    jput(j, "\"", 1);
    for (const unsigned char *c = (const unsigned char *)(v ? v : ""); *c; c++) {
        char esc[8];
        if (*c == '"' || *c == '\\') {
            esc[0] = '\\';
            esc[1] = (char)*c;
            jput(j, esc, 2);
        } else if (*c < 0x20) {
            snprintf(esc, sizeof esc, "\\u%04x", *c);
            jput(j, esc, 6);
        } else {
            jput(j, (const char *)c, 1);
        }
    }
    jput(j, "\"", 1);
}

static void jint(struct jbuf *j, const char *key, long long v) {
    char num[24];
    jkey(j, key);
    jput(j, num, (size_t)snprintf(num, sizeof num, "%lld", v));
}

void b2b_event(b2bua_t *b, struct call *c, const char *type) {
    redisAsyncContext *ac = b->w->redis ? rds_context(b->w->redis) : NULL;
    if (!ac)
        return;
    char buf[4096];
    struct jbuf j = {.p = buf, .len = 0, .cap = sizeof buf, .full = false};
    int64_t now = b2b_wall_ms();
    jput(&j, "{", 1);
    jstr(&j, "type", type);
    jstr(&j, "call_id", c->a_call_id);
    jstr(&j, "node_id", cfg_str(b->w->cfg, CFG_node_id));
    jint(&j, "dialogd", b->w->instance);
    jint(&j, "ts_ms", now);
    if (strcmp(type, "call.started") == 0) {
        char user[256];
        b2b_uri_user(c->a_from_uri, user, sizeof user);
        jstr(&j, "from_uri", c->a_from_uri);
        jstr(&j, "to_uri", c->a_to_uri);
        jstr(&j, "caller_id", user);
        jstr(&j, "caller_name", c->a_from_display);
        jstr(&j, "destination", c->destination);
    } else if (strcmp(type, "call.ringing") == 0) {
        jint(&j, "status", c->ringing_status);
    } else if (strcmp(type, "call.answered") == 0) {
        jstr(&j, "b_call_id", c->b_call_id);
        jint(&j, "setup_ms", c->answered_ms - c->created_ms);
        jkey(&j, "local");
        jput(&j, c->b_call_id ? "false" : "true", c->b_call_id ? 5 : 4);
    } else if (strcmp(type, "call.ended") == 0) {
        jstr(&j, "cause", c->end_cause ? c->end_cause : "ended");
        jint(&j, "status", c->end_status);
        jint(&j, "duration_ms", c->answered_ms ? now - c->answered_ms : 0);
    }
    jput(&j, "}", 1);
    if (j.full) {
        log_ratelimited(LOG_WARN, "call %s: %s event too long, not published", c->a_call_id, type);
        return;
    }
    redisAsyncCommand(ac, NULL, NULL, "PUBLISH sb:events %b", buf, j.len);
}

/* ---------------------------------------------------------------- replies */

static void reply(ipc_chan_t *ch, uint64_t request_id, Sb__DialogReply *r) {
    Sb__Envelope req = SB__ENVELOPE__INIT;
    req.request_id = request_id;
    Sb__Envelope env = SB__ENVELOPE__INIT;
    env.body_case = SB__ENVELOPE__BODY_DIALOG_REPLY;
    env.dialog_reply = r;
    int rc = ch ? ipc_reply(ch, &req, &env) : -ENOTCONN;
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

void b2b_on_hangup(b2bua_t *b, ipc_chan_t *ch, const Sb__Envelope *env) {
    const Sb__DialogHangupRequest *rq = env->dialog_hangup;
    bool a_leg;
    struct call *c = rq->call_id ? b2b_find_call_id(b, rq->call_id, &a_leg) : NULL;
    if (!c) {
        reply_status(ch, env, 404, "no such call here");
        return;
    }
    if (c->state == CALL_ENDING) {
        reply_status(ch, env, 200, "ending already");
        return;
    }
    log_info("call %s: hang-up asked by apid", c->a_call_id);
    reply_status(ch, env, 200, "hanging up");
    if (c->a_answered) { /* answered (by B or a prompt): BYE both */
        c->end_cause = "api_hangup";
        shm_count(b->w->slot, SHM_C_calls_ended, 1);
        b2b_hang_up_both(b, c, "hung up by apid");
        return;
    }
    /* before the answer: like the caller's CANCEL, but A hears status (default 480) */
    unsigned st = rq->status >= 300 && rq->status < 700 ? rq->status : 480;
    c->cancel_status = st;
    c->a_cancelled = true;
    if (c->state == CALL_CALLING && !b2b_cancel_open_forks(b, c))
        b2b_fail_call(b, c, st, NULL);
    /* routing or anchoring: run_next sees a_cancelled */
}

/* ---------------------------------------------------------------- moving media */

/* One call's move to another mediad: a new session there (A's and B's latest SDPs), B
 * re-INVITEd to it, then A; the old session is destroyed when both moved. */
enum move_step { MV_CREATE, MV_PREWIRE, MV_B_INVITE, MV_B_ANSWER, MV_A_INVITE, MV_A_ANSWER };

struct b2b_move {
    enum move_step step;
    int instance;     /* the new mediad */
    uint64_t session; /* the new session, 0 until created */
    uint8_t *b_offer, *a_local, *a_sdp;
    size_t b_offer_len, a_local_len, a_sdp_len;
    uint32_t cseq; /* our re-INVITE's CSeq (its ACK's) */
    bool b_moved;  /* B accepted the new address */
};

struct b2b_migration {
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

struct move_wait {
    b2bua_t *b;
    uint64_t call;
    uint64_t session; /* the session the request is about (a stale answer is ignored) */
};

static uint8_t *copy_bytes(const uint8_t *p, size_t n, size_t *out_len) {
    uint8_t *d = malloc(n ? n : 1);
    if (d && n)
        memcpy(d, p, n);
    *out_len = d ? n : 0;
    return d;
}

static void move_free(struct b2b_move *mv) {
    if (!mv)
        return;
    free(mv->b_offer);
    free(mv->a_local);
    free(mv->a_sdp);
    free(mv);
}

static void destroy_session(b2bua_t *b, int instance, uint64_t session) {
    ipc_chan_t *ch = worker_peer_role_instance(b->w, SB_ROLE_mediad, instance);
    if (!ch || !session)
        return;
    Sb__MediaDestroyRequest rq = SB__MEDIA_DESTROY_REQUEST__INIT;
    rq.session_id = session;
    Sb__Envelope env = SB__ENVELOPE__INIT;
    env.body_case = SB__ENVELOPE__BODY_MEDIA_DESTROY;
    env.media_destroy = &rq;
    ipc_send(ch, &env);
}

static void mig_reply(b2bua_t *b);

/* A call that could not move: counted, and its line in the answer's errors. */
static void mig_failed(struct b2b_migration *m, struct call *c, const char *why) {
    if (!why)
        why = "?";
    m->failed++;
    char line[320];
    snprintf(line, sizeof line, "%s: %s", c->a_call_id, why);
    if (m->n_errors < MIG_MAX_ERRORS)
        m->errors[m->n_errors++] = strdup(line);
    log_info("call %s: media not moved: %s", c->a_call_id, why);
}

/* One move over: counted, and apid answered if it waits for the last one. */
static void move_over(b2bua_t *b, struct call *c, bool ok, const char *why) {
    struct b2b_migration *m = b->mig;
    move_free(c->move);
    c->move = NULL;
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
static void move_failed(b2bua_t *b, struct call *c, const char *why) {
    struct b2b_move *mv = c->move;
    bool end = mv->b_moved || (b->mig && b->mig->aggressive);
    destroy_session(b, mv->instance, mv->session);
    move_over(b, c, false, why);
    if (end && c->state != CALL_ENDING) {
        c->end_cause = "media_move_failed";
        b2b_hang_up_both(b, c, "its media could not move to another mediad");
    }
}

static void move_media_answered(ipc_chan_t *ch, Sb__Envelope *env, void *arg);

static bool move_media_request(b2bua_t *b, struct call *c, Sb__Envelope *env) {
    ipc_chan_t *ch = worker_peer_role_instance(b->w, SB_ROLE_mediad, c->move->instance);
    struct move_wait *w = malloc(sizeof *w);
    if (!ch || !w) {
        free(w);
        return false;
    }
    *w = (struct move_wait){b, c->id, c->move->session};
    if (ipc_request(ch, env, move_media_answered, w, B2B_MEDIA_TIMEOUT_MS) < 0) {
        free(w);
        return false;
    }
    return true;
}

/* An SDP of one side to the new session (the answer of a re-INVITE, or B's latest). */
static bool move_update(b2bua_t *b, struct call *c, bool from_a, ProtobufCBinaryData sdp) {
    Sb__MediaUpdateRequest rq = SB__MEDIA_UPDATE_REQUEST__INIT;
    rq.session_id = c->move->session;
    rq.from_side = from_a ? SB__MEDIA_SIDE__MEDIA_SIDE_A : SB__MEDIA_SIDE__MEDIA_SIDE_B;
    rq.type = SB__MEDIA_SDP_TYPE__MEDIA_SDP_ANSWER;
    rq.sdp = sdp;
    rq.confirmed = true;
    Sb__Envelope env = SB__ENVELOPE__INIT;
    env.body_case = SB__ENVELOPE__BODY_MEDIA_UPDATE;
    env.media_update = &rq;
    return move_media_request(b, c, &env);
}

/* Both legs on the new session: the old one goes, the call's record says where it is. */
static void move_done(b2bua_t *b, struct call *c) {
    struct b2b_move *mv = c->move;
    int old_instance = c->media_instance;
    log_info("call %s: media moved from mediad %d to %d", c->a_call_id, old_instance, mv->instance);
    b2b_media_destroy(b, c); /* the old session, on the old instance */
    c->media_session = mv->session;
    c->media_instance = mv->instance;
    c->media_swapped = false; /* the new session was made with the A leg as its side A */
    free(c->b_offer);
    free(c->a_local_sdp);
    free(c->a_answer_sdp);
    c->b_offer = mv->b_offer;
    c->b_offer_len = mv->b_offer_len;
    c->a_local_sdp = mv->a_local;
    c->a_local_sdp_len = mv->a_local_len;
    c->a_answer_sdp = mv->a_sdp;
    c->a_answer_sdp_len = mv->a_sdp_len;
    mv->b_offer = mv->a_local = mv->a_sdp = NULL;
    b2b_save(b, c);
    move_over(b, c, true, NULL);
}

static void move_invite(b2bua_t *b, struct call *c, bool to_a) {
    struct b2b_move *mv = c->move;
    bool sent;
    if (to_a) {
        mv->step = MV_A_INVITE;
        sent = b2b_send_a_body(b, c, "INVITE", mv->cseq = ++c->a_cseq, KIND_A_MOVE, mv->a_sdp,
                               mv->a_sdp_len);
    } else {
        mv->step = MV_B_INVITE;
        sent = b2b_send_b_body(b, c, "INVITE", mv->cseq = ++c->b_cseq, KIND_B_MOVE, mv->b_offer,
                               mv->b_offer_len);
    }
    b2b_save(b, c);
    if (!sent)
        move_failed(b, c, "no sipd to send the re-INVITE");
}

static void move_media_answered(ipc_chan_t *ch, Sb__Envelope *env, void *arg) {
    struct move_wait w = *(struct move_wait *)arg;
    free(arg);
    if (!env && w.session == 0) /* the create of a move timed out */
        b2b_media_abandon(ch, w.call);
    struct call *c = b2b_find_id(w.b, w.call);
    if (!c || !c->move || c->move->session != w.session)
        return; /* the call or its move is over */
    b2bua_t *b = w.b;
    struct b2b_move *mv = c->move;
    const Sb__MediaReply *rep =
        env && env->body_case == SB__ENVELOPE__BODY_MEDIA_REPLY ? env->media_reply : NULL;
    if (!rep || rep->status != SB__MEDIA_STATUS__MEDIA_STATUS_OK) {
        if (mv->step == MV_CREATE)
            mv->session = rep ? rep->session_id : 0;
        move_failed(b, c,
                    rep && rep->reason && *rep->reason ? rep->reason : "mediad did not answer");
        return;
    }
    switch (mv->step) {
    case MV_CREATE: /* the new session has A's SDP: B's goes in next */
        mv->session = rep->session_id;
        mv->b_offer = copy_bytes(rep->sdp.data, rep->sdp.len, &mv->b_offer_len);
        mv->a_local = copy_bytes(rep->sdp_local.data, rep->sdp_local.len, &mv->a_local_len);
        mv->step = MV_PREWIRE;
        if (!mv->b_offer || !mv->a_local ||
            !move_update(b, c, false, (ProtobufCBinaryData){c->b_sdp_len, c->b_sdp}))
            move_failed(b, c, "mediad unreachable");
        return;
    case MV_PREWIRE:  /* both remotes known: B is offered the new address */
    case MV_B_ANSWER: /* B's answer applied: A is offered the new address */
        free(mv->a_sdp);
        mv->a_sdp = copy_bytes(rep->sdp.data, rep->sdp.len, &mv->a_sdp_len);
        if (!mv->a_sdp) {
            move_failed(b, c, "out of memory");
            return;
        }
        move_invite(b, c, mv->step == MV_B_ANSWER);
        return;
    case MV_A_ANSWER:
        move_done(b, c);
        return;
    case MV_B_INVITE:
    case MV_A_INVITE:
        return;
    }
}

void b2b_move_answered(b2bua_t *b, struct call *c, const Sb__SipResponseIn *in, bool a_leg) {
    const Sb__SipMessage *m = in->msg;
    struct b2b_move *mv = c->move;
    if (!mv || m->status < 200 || mv->step != (a_leg ? MV_A_INVITE : MV_B_INVITE))
        return;
    if (m->status >= 300) {
        char why[64];
        snprintf(why, sizeof why, "%s answered %u", a_leg ? "the caller" : "the callee", m->status);
        move_failed(b, c, why);
        return;
    }
    if (a_leg)
        b2b_send_a_body(b, c, "ACK", mv->cseq, KIND_A_MOVE, NULL, 0);
    else
        b2b_send_b_body(b, c, "ACK", mv->cseq, KIND_B_MOVE, NULL, 0);
    if (!a_leg)
        mv->b_moved = true;
    if (!m->body.len) { /* no new SDP: what the leg had stays in force */
        if (a_leg)
            move_done(b, c);
        else
            move_invite(b, c, true);
        return;
    }
    if (a_leg)
        b2b_keep_sdp(&c->body, &c->body_len, m->body);
    else
        b2b_keep_sdp(&c->b_sdp, &c->b_sdp_len, m->body);
    mv->step = a_leg ? MV_A_ANSWER : MV_B_ANSWER;
    if (!move_update(b, c, a_leg, m->body))
        move_failed(b, c, "mediad unreachable");
}

/* Starts moving c off its mediad; false (with why) when it cannot start. */
static bool move_start(b2bua_t *b, struct call *c, const char **why) {
    int to = b->w->shm ? shm_media_pick(b->w->shm, c->media_instance) : -1;
    if (!c->body_len || !c->b_sdp_len) {
        *why = "the SDPs of the call are not known here (restored from Redis)";
        return false;
    }
    if (to < 0 || to == c->media_instance || !worker_peer_role_instance(b->w, SB_ROLE_mediad, to)) {
        *why = "no other mediad takes sessions";
        return false;
    }
    struct b2b_move *mv = calloc(1, sizeof *mv);
    if (!mv) {
        *why = "out of memory";
        return false;
    }
    mv->instance = to;
    mv->step = MV_CREATE;
    c->move = mv;
    char tag[24];
    snprintf(tag, sizeof tag, "%llu", (unsigned long long)c->id);
    Sb__MediaCreateRequest rq = SB__MEDIA_CREATE_REQUEST__INIT;
    rq.call_id = c->a_call_id;
    rq.sdp.data = c->body;
    rq.sdp.len = c->body_len;
    rq.owner_tag = tag;
    Sb__Envelope env = SB__ENVELOPE__INIT;
    env.body_case = SB__ENVELOPE__BODY_MEDIA_CREATE;
    env.media_create = &rq;
    if (!move_media_request(b, c, &env)) {
        move_free(mv);
        c->move = NULL;
        *why = "mediad unreachable";
        return false;
    }
    return true;
}

static void mig_reply(b2bua_t *b) {
    struct b2b_migration *m = b->mig;
    uv_timer_stop(&m->timer);
    Sb__DialogReply r = SB__DIALOG_REPLY__INIT;
    r.status = 200;
    r.total = m->total;
    r.migrated = m->migrated;
    r.failed = m->failed;
    r.waiting_playback = m->waiting_playback;
    r.in_progress = m->running;
    for (size_t i = 0; i < B2B_BUCKETS; i++) /* calls on it not yet established */
        for (struct call *c = b->by_id[i]; c; c = c->next_id)
            if (c->media_session && c->media_instance == m->instance && !c->move &&
                c->state != CALL_CONFIRMED && c->state != CALL_ENDING)
                r.in_progress++;
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
    b2bua_t *b = t->data;
    if (b->mig && b->mig->waiting)
        mig_reply(b);
}

void b2b_on_migrate(b2bua_t *b, ipc_chan_t *ch, const Sb__Envelope *env) {
    const Sb__DialogMigrateRequest *rq = env->dialog_migrate;
    if (!b->mig) {
        b->mig = calloc(1, sizeof *b->mig);
        if (!b->mig) {
            reply_status(ch, env, 503, "out of memory");
            return;
        }
        uv_timer_init(b->w->loop, &b->mig->timer);
        b->mig->timer.data = b;
    }
    struct b2b_migration *m = b->mig;
    if (m->waiting) {
        reply_status(ch, env, 503, "a move is being answered; ask again");
        return;
    }
    m->instance = (int)rq->mediad;
    m->aggressive = rq->aggressive;
    m->total = m->waiting_playback = 0;
    for (size_t i = 0; i < B2B_BUCKETS; i++)
        for (struct call *c = b->by_id[i]; c; c = c->next_id) {
            if (!c->media_session || c->media_instance != m->instance || c->state == CALL_ENDING)
                continue;
            m->total++;
            if (c->move || c->state != CALL_CONFIRMED)
                continue; /* moving already, or not yet established: in_progress */
            if (c->playing) {
                m->waiting_playback++;
                continue;
            }
            if (c->re_txn || c->transferring)
                continue; /* busy: counted in progress, moved next time */
            const char *why = NULL;
            if (move_start(b, c, &why)) {
                m->running++;
            } else {
                mig_failed(m, c, why);
                if (m->aggressive) {
                    c->end_cause = "media_move_failed";
                    b2b_hang_up_both(b, c, "its media could not move to another mediad");
                }
            }
        }
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

void b2b_move_abandon(b2bua_t *b, struct call *c) {
    if (!c->move)
        return;
    destroy_session(b, c->move->instance, c->move->session);
    move_over(b, c, false, "the call ended while its media moved");
}

void b2b_control_peer_closed(b2bua_t *b, ipc_chan_t *ch) {
    if (b->mig && b->mig->ch == ch) {
        b->mig->ch = NULL;
        b->mig->waiting = false;
        uv_timer_stop(&b->mig->timer);
    }
}

static void mig_closed(uv_handle_t *h) {
    free(h->data);
}

void b2b_control_free(b2bua_t *b) {
    struct b2b_migration *m = b->mig;
    if (!m)
        return;
    for (size_t i = 0; i < m->n_errors; i++)
        free(m->errors[i]);
    m->timer.data = m;
    uv_close((uv_handle_t *)&m->timer, mig_closed);
    b->mig = NULL;
}
