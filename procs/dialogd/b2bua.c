/* b2bua - see b2bua.h and b2b.h */
#include "b2b.h"

/* ---------------------------------------------------------------- table */

uint32_t b2b_hash_str(const char *s) {
    uint32_t h = 2166136261u;
    for (; s && *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h % B2B_BUCKETS;
}

struct call *b2b_find_id(b2bua_t *b, uint64_t id) {
    for (struct call *c = b->by_id[id % B2B_BUCKETS]; c; c = c->next_id)
        if (c->id == id)
            return c;
    return NULL;
}

/* The call a Call-ID belongs to, and whether it names its A leg. */
struct call *b2b_find_call_id(b2bua_t *b, const char *call_id, bool *a_leg) {
    uint32_t h = b2b_hash_str(call_id);
    for (struct call *c = b->by_a[h]; c; c = c->next_a)
        if (strcmp(c->a_call_id, call_id) == 0) {
            *a_leg = true;
            return c;
        }
    for (struct call *c = b->by_b[h]; c; c = c->next_b)
        if (c->b_call_id && strcmp(c->b_call_id, call_id) == 0) {
            *a_leg = false;
            return c;
        }
    return NULL;
}

void b2b_link_a(b2bua_t *b, struct call *c) {
    uint32_t h = b2b_hash_str(c->a_call_id);
    c->next_a = b->by_a[h];
    b->by_a[h] = c;
}

void b2b_link_b(b2bua_t *b, struct call *c) {
    if (!c->b_call_id)
        return;
    uint32_t h = b2b_hash_str(c->b_call_id);
    c->next_b = b->by_b[h];
    b->by_b[h] = c;
}

void b2b_b_dialog_clear(b2bua_t *b, struct call *c) {
    if (c->b_call_id)
        b2b_unlink_from(&b->by_b[b2b_hash_str(c->b_call_id)], c, offsetof(struct call, next_b));
    free(c->b_call_id);
    free(c->b_from_tag);
    free(c->b_to_tag);
    free(c->b_target);
    for (size_t i = 0; i < c->b_nroutes; i++)
        free(c->b_routes[i]);
    c->b_nroutes = 0;
    c->b_call_id = c->b_from_tag = c->b_to_tag = c->b_target = NULL;
}

unsigned b2b_located(const Sb__LocationReply *lr, const char **uris) {
    unsigned n = 0;
    for (size_t i = 0; lr && lr->status == 200 && i < lr->n_bindings && n < B2B_MAX_FORKS; i++)
        if (lr->bindings[i] && lr->bindings[i]->uri && *lr->bindings[i]->uri)
            uris[n++] = lr->bindings[i]->uri;
    return n;
}

void b2b_unlink_from(struct call **head, struct call *c, size_t off) {
    for (struct call **pp = head; *pp; pp = (struct call **)((char *)*pp + off))
        if (*pp == c) {
            *pp = *(struct call **)((char *)c + off);
            return;
        }
}

void b2b_call_closed(uv_handle_t *h) {
    free(h->data);
}

static void forget(b2bua_t *b, struct call *c);

void b2b_call_free(b2bua_t *b, struct call *c) {
    b2b_move_abandon(b, c);
    b2b_se_forget(b, c);
    if (!c->quiet)
        b2b_event(b, c, "call.ended");
    forget(b, c);
    b2b_media_destroy(b, c);
    free(c->b_offer);
    free(c->a_local_sdp);
    free(c->a_answer_sdp);
    uv_timer_stop(&c->dial_timer);
    b2b_unlink_from(&b->by_id[c->id % B2B_BUCKETS], c, offsetof(struct call, next_id));
    b2b_unlink_from(&b->by_a[b2b_hash_str(c->a_call_id)], c, offsetof(struct call, next_a));
    if (c->b_call_id)
        b2b_unlink_from(&b->by_b[b2b_hash_str(c->b_call_id)], c, offsetof(struct call, next_b));
    char *strs[] = {c->a_call_id, c->a_from_display, c->a_from_uri,   c->a_from_tag, c->a_to_uri,
                    c->a_to_tag,  c->a_target,       c->b_call_id,    c->b_from_tag, c->b_to_tag,
                    c->b_target,  c->b_to_uri,       c->content_type, c->destination};
    for (size_t i = 0; i < sizeof strs / sizeof strs[0]; i++)
        free(strs[i]);
    for (size_t i = 0; i < c->nactions; i++) {
        free(c->actions[i].aor);
        free(c->actions[i].uri);
        free(c->actions[i].file);
    }
    for (size_t i = 0; i < c->a_nroutes; i++)
        free(c->a_routes[i]);
    for (size_t i = 0; i < c->b_nroutes; i++)
        free(c->b_routes[i]);
    free(c->b_local_uri);
    free(c->b_local_display);
    free(c->old_b_local_uri);
    free(c->old_b_remote_uri);
    free(c->old_b_call_id);
    free(c->old_b_from_tag);
    free(c->old_b_to_tag);
    free(c->old_b_target);
    for (size_t i = 0; i < c->old_b_nroutes; i++)
        free(c->old_b_routes[i]);
    free(c->body);
    free(c->b_sdp);
    free(c->b_ack_sdp);
    for (unsigned i = 0; i < c->nforks; i++) {
        free(c->forks[i].call_id);
        free(c->forks[i].from_tag);
        free(c->forks[i].target);
    }
    uv_close((uv_handle_t *)&c->dial_timer, b2b_call_closed);
    b->ncalls--;
    shm_gauge(b->w->slot, SHM_C_calls_active, b->ncalls);
}

char *b2b_dup_or_empty(const char *s) {
    return strdup(s ? s : "");
}

void b2b_random_hex(b2bua_t *b, char *out, size_t len) {
    uint64_t r;
    if (getrandom(&r, sizeof r, GRND_NONBLOCK) != sizeof r)
        r = b->salt ^ (b->next_id * 0x9e3779b97f4a7c15ULL);
    snprintf(out, len, "%016llx", (unsigned long long)r);
}

/* ---------------------------------------------------------------- state in Redis */

static const char *state_name(enum call_state s) {
    static const char *const names[] = {"routing", "calling", "answered", "confirmed", "ending"};
    return (unsigned)s < sizeof names / sizeof names[0] ? names[s] : "?";
}

int64_t b2b_wall_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Route values joined by LF (sipd refuses CR and LF in them, so LF cannot occur). */
static size_t join_routes(char *const *routes, size_t n, char *out, size_t cap) {
    size_t len = 0;
    out[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        int w = snprintf(out + len, cap - len, "%s%s", i ? "\n" : "", routes[i]);
        if (w < 0 || (size_t)w >= cap - len)
            break;
        len += (size_t)w;
    }
    return len;
}

/* The dialog's record at each state change (docs/calls.md has the layout): HSET of both
 * legs in sb:dlg:{A Call-ID}, and sb:dlgb:{B Call-ID} naming the A Call-ID, in one
 * MULTI so a reader never sees half of it. Fire and forget: a Redis that is down costs
 * only the survival of a dialogd restart, counted in redis_errors. */
void b2b_save(b2bua_t *b, struct call *c) {
    redisAsyncContext *ac = b->w->redis ? rds_context(b->w->redis) : NULL;
    if (!ac) {
        shm_count(b->w->slot, SHM_C_redis_errors, 1);
        log_ratelimited(LOG_WARN, "call %s: Redis down, dialog state not saved", c->a_call_id);
        return;
    }
    char key[512], bkey[512], a_routes[2048], b_routes[2048], nums[7][32];
    snprintf(key, sizeof key, "sb:dlg:{%s}", c->a_call_id);
    join_routes(c->a_routes, c->a_nroutes, a_routes, sizeof a_routes);
    join_routes(c->b_routes, c->b_nroutes, b_routes, sizeof b_routes);
    snprintf(nums[0], sizeof nums[0], "%llu", (unsigned long long)c->a_txn);
    snprintf(nums[1], sizeof nums[1], "%u", c->a_cseq);
    snprintf(nums[2], sizeof nums[2], "%u", c->b_cseq);
    snprintf(nums[3], sizeof nums[3], "%lld", (long long)c->created_ms);
    snprintf(nums[4], sizeof nums[4], "%lld", (long long)c->answered_ms);
    snprintf(nums[5], sizeof nums[5], "%d", b->w->instance);
    snprintf(nums[6], sizeof nums[6], "%lld", (long long)c->ringing_ms);
    char media[2][32];
    snprintf(media[0], sizeof media[0], "%llu", (unsigned long long)c->media_session);
    snprintf(media[1], sizeof media[1], "%d", c->media_instance);
    const char *fields[][2] = {
        {"state", state_name(c->state)},
        {"node", cfg_str(b->w->cfg, CFG_node_id)},
        {"dialogd", nums[5]},
        {"created_ms", nums[3]},
        {"answered_ms", nums[4]},
        {"ringing_ms", nums[6]},
        {"a_call_id", c->a_call_id},
        {"a_from_display", c->a_from_display},
        {"a_from_uri", c->a_from_uri},
        {"a_from_tag", c->a_from_tag},
        {"a_to_uri", c->a_to_uri},
        {"a_to_tag", c->a_to_tag},
        {"a_target", c->a_target},
        {"a_route_set", a_routes},
        {"a_local_cseq", nums[1]},
        {"a_txn", nums[0]},
        {"b_call_id", c->b_call_id ? c->b_call_id : ""},
        {"b_from_tag", c->b_from_tag ? c->b_from_tag : ""},
        {"b_to_uri", c->b_to_uri},
        {"b_to_tag", c->b_to_tag ? c->b_to_tag : ""},
        {"b_target", c->b_target ? c->b_target : ""},
        {"b_route_set", b_routes},
        {"b_local_cseq", nums[2]},
        {"b_local_uri", c->b_local_uri},
        {"media_swapped", c->media_swapped ? "1" : "0"},
        {"media_session", media[0]},
        {"mediad", media[1]},
    };
    enum { NF = sizeof fields / sizeof fields[0] };
    const char *argv[2 + 2 * NF];
    size_t argvlen[2 + 2 * NF];
    argv[0] = "HSET";
    argv[1] = key;
    for (size_t i = 0; i < NF; i++) {
        argv[2 + 2 * i] = fields[i][0];
        argv[3 + 2 * i] = fields[i][1] ? fields[i][1] : "";
    }
    for (size_t i = 0; i < 2 + 2 * NF; i++)
        argvlen[i] = strlen(argv[i]);
    redisAsyncCommand(ac, NULL, NULL, "MULTI");
    redisAsyncCommandArgv(ac, NULL, NULL, 2 + 2 * NF, argv, argvlen);
    redisAsyncCommand(ac, NULL, NULL, "EXPIRE %s %d", key, B2B_KEY_TTL_S);
    if (c->b_call_id) {
        snprintf(bkey, sizeof bkey, "sb:dlgb:{%s}", c->b_call_id);
        redisAsyncCommand(ac, NULL, NULL, "SET %s %s EX %d", bkey, c->a_call_id, B2B_KEY_TTL_S);
    }
    redisAsyncCommand(ac, NULL, NULL, "EXEC");
    c->saved = true;
}

static void forget(b2bua_t *b, struct call *c) {
    redisAsyncContext *ac = b->w->redis ? rds_context(b->w->redis) : NULL;
    if (!c->saved || !ac)
        return;
    char key[512], bkey[512];
    snprintf(key, sizeof key, "sb:dlg:{%s}", c->a_call_id);
    snprintf(bkey, sizeof bkey, "sb:dlgb:{%s}", c->b_call_id ? c->b_call_id : "");
    redisAsyncCommand(ac, NULL, NULL, "DEL %s %s", key, bkey);
}

void b2b_save_field(b2bua_t *b, struct call *c, const char *field, long long value) {
    redisAsyncContext *ac = b->w->redis ? rds_context(b->w->redis) : NULL;
    if (!ac || !c->saved)
        return; /* the next full save writes it */
    redisAsyncCommand(ac, NULL, NULL, "HSET sb:dlg:{%s} %s %lld", c->a_call_id, field, value);
}

/* ---------------------------------------------------------------- sending */

ipc_chan_t *b2b_sipd_for(b2bua_t *b, uint64_t txn_id) {
    return worker_peer_role_instance(b->w, SB_ROLE_sipd, (int)(txn_id >> 40));
}

void b2b_respond_a(b2bua_t *b, struct call *c, unsigned status, const char *reason,
                   const char *content_type, const uint8_t *body, size_t body_len) {
    ipc_chan_t *ch = c->a_ch ? c->a_ch : b2b_sipd_for(b, c->a_txn);
    if (!ch || c->a_answered)
        return;
    Sb__SipMessage msg = SB__SIP_MESSAGE__INIT;
    msg.status = status;
    msg.reason = (char *)(reason ? reason : "");
    msg.to_tag = c->a_to_tag;
    msg.contact_user = (char *)B2B_CONTACT_USER;
    msg.content_type = (char *)(content_type ? content_type : "");
    msg.body.data = (uint8_t *)body;
    msg.body.len = body_len;
    msg.max_forwards = -1;
    struct b2b_hdrs hs = {.n = 0};
    if (status / 100 == 2 && b2b_se_headers(c, 0, &hs)) { /* RFC 4028 9 */
        msg.headers = hs.p;
        msg.n_headers = hs.n;
    }
    Sb__SipRespond rs = SB__SIP_RESPOND__INIT;
    rs.txn_id = c->a_txn;
    rs.msg = &msg;
    Sb__Envelope env = SB__ENVELOPE__INIT;
    env.body_case = SB__ENVELOPE__BODY_SIP_RESPOND;
    env.sip_respond = &rs;
    if (ipc_send(ch, &env) < 0)
        log_ratelimited(LOG_WARN, "cannot answer a call: sipd unreachable");
    if (status >= 200)
        c->a_answered = true;
    if (status / 100 == 2)
        b2b_se_start(b, c, 0);
}

/* A response with an SDP body in an existing dialog (its To tag is in the request). */
void b2b_respond_txn_body(b2bua_t *b, ipc_chan_t *ch, uint64_t txn_id, unsigned status,
                          const uint8_t *body, size_t len) {
    b2b_respond_txn_hdrs(b, ch, txn_id, status, body, len, NULL);
}

/* The same with extra header fields (hs may be NULL). */
void b2b_respond_txn_hdrs(b2bua_t *b, ipc_chan_t *ch, uint64_t txn_id, unsigned status,
                          const uint8_t *body, size_t len, const struct b2b_hdrs *hs) {
    if (!ch)
        ch = b2b_sipd_for(b, txn_id);
    if (!ch)
        return;
    Sb__SipMessage msg = SB__SIP_MESSAGE__INIT;
    msg.status = status;
    msg.max_forwards = -1;
    msg.contact_user = (char *)B2B_CONTACT_USER;
    if (len) {
        msg.content_type = B2B_SDP;
        msg.body.data = (uint8_t *)body;
        msg.body.len = len;
    }
    if (hs && hs->n) {
        msg.headers = (Sb__SipHeader **)hs->p;
        msg.n_headers = hs->n;
    }
    Sb__SipRespond rs = SB__SIP_RESPOND__INIT;
    rs.txn_id = txn_id;
    rs.msg = &msg;
    Sb__Envelope env = SB__ENVELOPE__INIT;
    env.body_case = SB__ENVELOPE__BODY_SIP_RESPOND;
    env.sip_respond = &rs;
    ipc_send(ch, &env);
}

/* A SipRespond without a body (BYE, CANCEL'd, strays). */
void b2b_respond_txn(b2bua_t *b, ipc_chan_t *ch, uint64_t txn_id, unsigned status) {
    b2b_respond_txn_body(b, ch, txn_id, status, NULL, 0);
}

/* msg as a SipSendRequest on via (NULL: the sipd the call and fork hash to). */
bool b2b_send_request_via(b2bua_t *b, struct call *c, ipc_chan_t *via, enum b2b_kind kind,
                          unsigned fork, Sb__SipMessage *msg) {
    ipc_chan_t *ch = via ? via : worker_peer_pick(b->w, SB_ROLE_sipd, c->id + fork);
    if (!ch) {
        log_ratelimited(LOG_WARN, "no sipd connected to send a %s", msg->method);
        return false;
    }
    msg->contact_user = (char *)B2B_CONTACT_USER;
    Sb__SipSendRequest sr = SB__SIP_SEND_REQUEST__INIT;
    sr.client_id = (c->id << 16) | ((uint64_t)(c->attempt & 0xff) << 8) |
                   ((uint64_t)(fork & 0xf) << 4) | (uint64_t)kind;
    sr.msg = msg;
    Sb__Envelope env = SB__ENVELOPE__INIT;
    env.body_case = SB__ENVELOPE__BODY_SIP_SEND_REQUEST;
    env.sip_send_request = &sr;
    return ipc_send(ch, &env) == 0;
}

bool b2b_send_request_fork(b2bua_t *b, struct call *c, enum b2b_kind kind, unsigned fork,
                           Sb__SipMessage *msg) {
    return b2b_send_request_via(b, c, NULL, kind, fork, msg);
}

static bool send_request(b2bua_t *b, struct call *c, enum b2b_kind kind, Sb__SipMessage *msg) {
    return b2b_send_request_fork(b, c, kind, c->winner > 0 ? (unsigned)c->winner : 0, msg);
}

void b2b_hdr_add(struct b2b_hdrs *hs, const char *name, const char *value) {
    if (hs->n >= B2B_MAX_HDRS)
        return;
    Sb__SipHeader *h = &hs->h[hs->n];
    sb__sip_header__init(h);
    h->name = (char *)name;
    h->value = (char *)value;
    hs->p[hs->n++] = h;
}

/* A request in one leg's dialog: A's (we are its UAS: From is A's To with our tag) or
 * B's (we are its UAC), CSeq, body and extra header fields given. */
bool b2b_send_leg(b2bua_t *b, struct call *c, bool a_leg, const char *method, uint32_t cseq,
                  enum b2b_kind kind, const uint8_t *body, size_t len, const struct b2b_hdrs *hs) {
    Sb__SipMessage msg = SB__SIP_MESSAGE__INIT;
    msg.method = (char *)method;
    msg.cseq = cseq;
    if (a_leg) {
        msg.request_uri = c->a_target;
        msg.from_uri = c->a_to_uri;
        msg.from_tag = c->a_to_tag;
        msg.to_display = c->a_from_display;
        msg.to_uri = c->a_from_uri;
        msg.to_tag = c->a_from_tag;
        msg.call_id = c->a_call_id;
        msg.route = c->a_routes;
        msg.n_route = c->a_nroutes;
    } else {
        msg.request_uri = c->b_target;
        msg.from_display = c->b_local_display;
        msg.from_uri = c->b_local_uri;
        msg.from_tag = c->b_from_tag;
        msg.to_uri = c->b_to_uri;
        msg.to_tag = c->b_to_tag ? c->b_to_tag : "";
        msg.call_id = c->b_call_id;
        msg.route = c->b_routes;
        msg.n_route = c->b_nroutes;
    }
    if (len) {
        msg.content_type = B2B_SDP;
        msg.body.data = (uint8_t *)body;
        msg.body.len = len;
    }
    if (hs && hs->n) {
        msg.headers = (Sb__SipHeader **)hs->p;
        msg.n_headers = hs->n;
    }
    return send_request(b, c, kind, &msg);
}

/* A request in B's dialog with the body given (re-INVITE, its ACK). */
bool b2b_send_b_body(b2bua_t *b, struct call *c, const char *method, uint32_t cseq,
                     enum b2b_kind kind, const uint8_t *body, size_t len) {
    return b2b_send_leg(b, c, false, method, cseq, kind, body, len, NULL);
}

/* A request in A's dialog, CSeq given. */
bool b2b_send_a_body(b2bua_t *b, struct call *c, const char *method, uint32_t cseq,
                     enum b2b_kind kind, const uint8_t *body, size_t len) {
    return b2b_send_leg(b, c, true, method, cseq, kind, body, len, NULL);
}

/* A request in the B dialog (we are its UAC): ACK, BYE, without a body. */
bool b2b_send_b(b2bua_t *b, struct call *c, const char *method, uint32_t cseq, enum b2b_kind kind) {
    return b2b_send_b_body(b, c, method, cseq, kind, NULL, 0);
}

/* A request in the A dialog without a body, with our next CSeq (BYE). */
static bool send_a(b2bua_t *b, struct call *c, const char *method, enum b2b_kind kind) {
    return b2b_send_a_body(b, c, method, ++c->a_cseq, kind, NULL, 0);
}

/* Ends both legs of an established call with BYE; the call goes once both answer. */
void b2b_hang_up_both(b2bua_t *b, struct call *c, const char *why) {
    log_info("call %s: hanging up (%s)", c->a_call_id, why);
    uv_timer_stop(&c->dial_timer);
    if (c->state == CALL_CALLING) /* B still rings */
        b2b_cancel_open_forks(b, c);
    bool b_up = c->b_to_tag && c->state != CALL_CALLING;
    if (c->transferring) { /* the B being replaced is still up */
        b2b_send_old_b(b, c, "BYE", NULL, false);
        b2b_old_b_forget(c);
    }
    c->state = CALL_ENDING;
    c->pending_byes = 0;
    if (b_up)
        c->pending_byes += b2b_send_b(b, c, "BYE", ++c->b_cseq, KIND_B_BYE);
    if (c->a_answered)
        c->pending_byes += send_a(b, c, "BYE", KIND_A_BYE);
    b2b_save(b, c);
    if (c->pending_byes == 0)
        b2b_call_free(b, c);
}

/* ---------------------------------------------------------------- the A leg's INVITE */

void b2b_fail_call(b2bua_t *b, struct call *c, unsigned status, const char *reason) {
    if (c->a_answered) { /* answered here (play_audio): the end is a BYE */
        if (!c->end_cause)
            c->end_cause = "route_over";
        b2b_hang_up_both(b, c, reason ? reason : "the route is over");
        return;
    }
    if (!c->end_cause)
        c->end_cause = c->a_cancelled ? "cancelled" : "failed";
    c->end_status = status;
    b2b_respond_a(b, c, status, reason, NULL, NULL, 0);
    shm_count(b->w->slot, SHM_C_calls_failed, 1);
    b2b_call_free(b, c);
}

/* ---------------------------------------------------------------- in-dialog requests */

static void on_cancel(b2bua_t *b, const Sb__SipRequestIn *in) {
    bool a_leg;
    struct call *c = b2b_find_call_id(b, in->msg->call_id, &a_leg);
    if (!c || !a_leg || c->a_txn != in->txn_id || c->a_answered)
        return;
    c->a_cancelled = true;
    /* the forks' 487s end the call (A then gets 487); if none has answered anything yet
     * there is nothing to wait for */
    if (c->state == CALL_CALLING && !b2b_cancel_open_forks(b, c))
        b2b_fail_call(b, c, 487, NULL);
    /* while routing or before the offer is anchored, run_next sees a_cancelled */
}

/* A BYE from one leg of c: 200 to it, BYE to the other; the call goes when that is
 * answered. */
void b2b_bye_call(b2bua_t *b, struct call *c, bool a_leg, ipc_chan_t *ch, uint64_t txn_id) {
    bool b_up = c->b_to_tag && (c->state == CALL_CONFIRMED || c->state == CALL_ANSWERED);
    if (c->state == CALL_ENDING || (a_leg ? !c->a_answered : !b_up)) {
        b2b_respond_txn(b, ch, txn_id, 481);
        return;
    }
    b2b_respond_txn(b, ch, txn_id, 200);
    log_info("call %s: %s hung up", c->a_call_id, a_leg ? "caller" : "callee");
    shm_count(b->w->slot, SHM_C_calls_ended, 1);
    c->end_cause = a_leg ? "caller_hangup" : "callee_hangup";
    if (a_leg && !b_up) {      /* an IVR call, or one still dialing its callee */
        c->a_answered = false; /* no BYE back to A */
        b2b_hang_up_both(b, c, "caller hung up");
        return;
    }
    c->state = CALL_ENDING;
    c->pending_byes =
        a_leg ? b2b_send_b(b, c, "BYE", ++c->b_cseq, KIND_B_BYE) : send_a(b, c, "BYE", KIND_A_BYE);
    b2b_save(b, c);
    if (c->pending_byes == 0)
        b2b_call_free(b, c);
}

static void on_ack(b2bua_t *b, const Sb__SipRequestIn *in) {
    bool a_leg;
    struct call *c = b2b_find_call_id(b, in->msg->call_id, &a_leg);
    if (!c || !a_leg || !c->a_answered || c->a_acked)
        return;
    c->a_acked = true;
    if (c->state == CALL_ANSWERED) {
        c->state = CALL_CONFIRMED;
        b2b_save(b, c);
    }
    if (c->b_ack_pending) /* a late offer: this ACK's answer goes in ours to B */
        b2b_late_answer(b, c, in->msg->body);
    if (in->txn_id == 0) { /* another sipd instance got it: tell the owner to stop */
        Sb__SipTxnEvent ev = SB__SIP_TXN_EVENT__INIT;
        ev.txn_id = c->a_txn;
        ev.kind = SB__SIP_TXN_EVENT_KIND__SIP_TXN_EVENT_ACKED;
        Sb__Envelope env = SB__ENVELOPE__INIT;
        env.body_case = SB__ENVELOPE__BODY_SIP_TXN_EVENT;
        env.sip_txn_event = &ev;
        ipc_chan_t *ch = b2b_sipd_for(b, c->a_txn);
        if (ch)
            ipc_send(ch, &env);
    }
}

static void on_request(b2bua_t *b, ipc_chan_t *ch, const Sb__SipRequestIn *in) {
    const Sb__SipMessage *m = in->msg;
    if (!m || !m->method || !m->call_id)
        return;
    if (strcmp(m->method, "INVITE") == 0)
        b2b_on_invite(b, ch, in);
    else if (strcmp(m->method, "CANCEL") == 0)
        on_cancel(b, in);
    else if (strcmp(m->method, "BYE") == 0)
        b2b_on_bye(b, ch, in);
    else if (strcmp(m->method, "ACK") == 0)
        on_ack(b, in);
    else if (strcmp(m->method, "UPDATE") == 0)
        b2b_on_reinvite(b, ch, in); /* mid-call UPDATE: relayed like a re-INVITE, without ACK */
    else if (strcmp(m->method, "REFER") == 0)
        b2b_on_refer(b, ch, in);
    else
        b2b_respond_txn(b, ch, in->txn_id, 501);
}

static void on_response(b2bua_t *b, const Sb__SipResponseIn *in) {
    if (!in->msg)
        return;
    struct call *c = NULL;
    enum b2b_kind kind = (enum b2b_kind)(in->client_id & 0xf);
    unsigned fork = (unsigned)(in->client_id >> 4) & 0xf;
    unsigned attempt = (unsigned)(in->client_id >> 8) & 0xff;
    bool ok2xx = in->msg->status / 100 == 2;
    if (in->client_id) {
        c = b2b_find_id(b, in->client_id >> 16);
        if (kind == KIND_B_INVITE && (!c || attempt != (c->attempt & 0xff))) {
            /* an abandoned dial's late answer, or its call is over: a 2xx made a dialog */
            if (ok2xx)
                b2b_hang_up_stray(b, in->msg);
            return;
        }
    } else if (in->msg->call_id) { /* a 2xx copy after the transaction: ACK again */
        bool a_leg;
        c = b2b_find_call_id(b, in->msg->call_id, &a_leg);
        kind = KIND_B_INVITE;
        if (!c && ok2xx && strncmp(in->msg->call_id, "sbd", 3) == 0)
            b2b_hang_up_stray(b, in->msg); /* ours, for a call that is gone */
        if (!c || a_leg || c->winner < 0)
            return;
        fork = (unsigned)c->winner;
    }
    if (!c)
        return;
    if (kind == KIND_B_INVITE) {
        b2b_b_invite_answered(b, c, in, fork);
        return;
    }
    if (kind == KIND_FORK_BYE)
        return;
    if (kind == KIND_A_REFRESH || kind == KIND_B_REFRESH) {
        b2b_se_refreshed(b, c, kind == KIND_A_REFRESH ? 0 : 1, in->msg->status);
        return;
    }
    if (kind == KIND_B_MOVE || kind == KIND_A_MOVE) {
        b2b_move_answered(b, c, in, kind == KIND_A_MOVE);
        return;
    }
    if (kind == KIND_B_REINVITE || kind == KIND_A_REINVITE) {
        b2b_reinvite_answered(b, c, in);
        return;
    }
    if (in->msg->status < 200 || c->state != CALL_ENDING)
        return;
    if (--c->pending_byes <= 0)
        b2b_call_free(b, c);
}

static void on_txn_event(b2bua_t *b, const Sb__SipTxnEvent *ev) {
    if (ev->kind != SB__SIP_TXN_EVENT_KIND__SIP_TXN_EVENT_ACK_TIMEOUT)
        return;
    for (size_t i = 0; i < B2B_BUCKETS; i++)
        for (struct call *c = b->by_id[i]; c; c = c->next_id)
            if (c->a_txn == ev->txn_id && c->a_answered && !c->a_acked && c->state != CALL_ENDING) {
                /* RFC 3261 13.3.1.4: no ACK for our 2xx: end the session */
                c->end_cause = "no_ack";
                b2b_hang_up_both(b, c, "no ACK from the caller");
                return;
            }
}

/* ---------------------------------------------------------------- lifetime */

bool b2bua_on_envelope(b2bua_t *b, ipc_chan_t *ch, Sb__Envelope *env) {
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
            b2b_on_hangup(b, ch, env);
        return true;
    case SB__ENVELOPE__BODY_DIALOG_MIGRATE:
        if (env->dialog_migrate)
            b2b_on_migrate(b, ch, env);
        return true;
    case SB__ENVELOPE__BODY_MEDIA_EVENT:
        if (env->media_event)
            b2b_on_media_event(b, env->media_event);
        return true;
    default:
        return false;
    }
}

void b2bua_peer_closed(b2bua_t *b, ipc_chan_t *ch) {
    b2b_control_peer_closed(b, ch);
    for (size_t i = 0; i < B2B_BUCKETS; i++)
        for (struct call *c = b->by_id[i]; c; c = c->next_id) {
            if (c->a_ch == ch)
                c->a_ch = NULL;
            if (c->re_ch == ch)
                c->re_ch = NULL;
        }
}

b2bua_t *b2bua_new(worker_t *w) {
    b2bua_t *b = calloc(1, sizeof *b);
    if (!b)
        return NULL;
    b->w = w;
    b->salt = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 20);
    return b;
}

size_t b2bua_calls(const b2bua_t *b) {
    return b->ncalls;
}

void b2bua_free(b2bua_t *b) {
    if (!b)
        return;
    /* the calls stay in Redis and their media in mediad: a new dialogd picks them up at
     * their next request (a drained or retired instance must not end its calls' media) */
    for (size_t i = 0; i < B2B_BUCKETS; i++)
        while (b->by_id[i]) {
            b->by_id[i]->saved = false;
            b->by_id[i]->media_session = 0;
            b->by_id[i]->quiet = true;
            b2b_call_free(b, b->by_id[i]);
        }
    b2b_control_free(b);
    b2b_se_free(b);
    b->closing = true;
    if (b->redis_pending == 0)
        free(b);
}
