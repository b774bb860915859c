/* b2bua - see b2bua.h */
#include "b2bua.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include <hiredis/async.h>
#include <hiredis/hiredis.h>

#include "log.h"
#include "proto/dialog.pb-c.h"
#include "proto/media.pb-c.h"
#include "proto/route.pb-c.h"
#include "proto/sip.pb-c.h"

#define B2B_BUCKETS 4096
#define B2B_MAX_ROUTES 16
#define B2B_LOCATION_TIMEOUT_MS 2000
#define B2B_ROUTE_TIMEOUT_MS 2000
#define B2B_MEDIA_TIMEOUT_MS 2000
#define B2B_SDP "application/sdp"
#define B2B_MAX_ACTIONS 64
#define B2B_MAX_FORKS 8 /* contacts of one AOR rung in parallel */
#define DIALPLAN_TRANSFER_TIMEOUT_S 30 /* how long a REFER's target may ring */
#define B2B_CONTACT_USER "sb"
#define B2B_KEY_TTL_S 86400 /* a dialog record outlives no call by more than a day */

/* What a client request of a call is: client_id = call id << 16 | attempt << 8 |
 * fork << 4 | kind (attempt: which dial of the call, so that answers to an abandoned one
 * are told apart; fork: which of the contacts rung in parallel). */
enum b2b_kind {
    KIND_B_INVITE = 1,
    KIND_B_BYE = 2,
    KIND_A_BYE = 3,
    KIND_B_REINVITE = 4, /* a re-INVITE relayed to B (from A) */
    KIND_A_REINVITE = 5, /* a re-INVITE relayed to A (from B) */
    KIND_FORK_BYE = 6,   /* the BYE of a fork that answered after another one */
};

/* One action of the call's route (routerd's RouteReply, copied). */
struct b2b_action {
    enum { ACT_DIAL, ACT_HANGUP, ACT_PLAY } type;
    char *aor, *uri; /* dial: look up aor, or call uri */
    char *file;      /* play_audio */
    unsigned timeout, status;
};

enum call_state {
    CALL_ROUTING,   /* waiting for routerd: the route, or a dial's location */
    CALL_CALLING,   /* B-leg INVITE sent */
    CALL_ANSWERED,  /* 2xx relayed to A, waiting for A's ACK */
    CALL_CONFIRMED, /* both dialogs up */
    CALL_ENDING,    /* BYE sent; waiting for its answer */
};

/* One contact rung by a dial: its own B dialog until one of them answers. */
struct b_fork {
    char *call_id, *from_tag, *target;
    uint64_t txn;    /* sipd's client transaction of its INVITE, once it answered anything */
    bool done;       /* a final response came, or it was abandoned */
    bool cancel_sent;
};

struct call {
    b2bua_t *b2bua;
    uint64_t id;
    struct call *next_id, *next_a, *next_b;
    enum call_state state;
    bool a_cancelled, b_cancel_sent, a_answered, dial_timed_out;
    bool saved;            /* its record is in Redis */
    bool a_acked;          /* A acknowledged our 2xx */
    bool playing;          /* a play_audio runs: its end moves the call on */
    uint64_t re_txn;       /* a re-INVITE being relayed: its server transaction, 0 none */
    bool re_from_a;        /* ... and the leg it came from */
    uint32_t re_cseq;      /* the CSeq of our re-INVITE to the other leg (for its ACK) */
    bool re_update;        /* it is an UPDATE (RFC 3311): relayed as one, no ACK */
    /* a blind transfer asked by B (REFER, RFC 3515): B's dialog until the target answers */
    bool transferring;
    char *old_b_call_id, *old_b_from_tag, *old_b_to_tag, *old_b_target;
    char *old_b_routes[B2B_MAX_ROUTES];
    size_t old_b_nroutes;
    uint32_t old_b_cseq;
    ipc_chan_t *re_ch;
    uint64_t media_session; /* mediad's session, 0: media not anchored (no SDP offer) */
    int media_instance;
    uint8_t *b_offer, *a_local_sdp, *a_answer_sdp; /* SDPs mediad wrote */
    size_t b_offer_len, a_local_sdp_len, a_answer_sdp_len;
    int64_t created_ms, answered_ms;
    int pending_byes;
    uv_timer_t dial_timer; /* a dial's timeout; the call is freed in its close callback */
    struct b2b_action actions[B2B_MAX_ACTIONS];
    size_t nactions, next_action;
    unsigned attempt;      /* dials started */
    struct b_fork forks[B2B_MAX_FORKS];
    unsigned nforks;
    int winner;            /* the fork that answered, -1 none yet */
    unsigned fork_failure; /* the most telling final status of the failed forks */
    unsigned last_failure; /* the status of the last failed action */
    char *destination;     /* the dialed user part, for gateway URIs and logs */
    /* A leg: we are its UAS */
    ipc_chan_t *a_ch;  /* the sipd that passed the INVITE */
    uint64_t a_txn;    /* its INVITE transaction */
    char *a_call_id, *a_from_display, *a_from_uri, *a_from_tag, *a_to_uri, *a_to_tag;
    char *a_target;    /* A's Contact */
    char *a_routes[B2B_MAX_ROUTES]; /* A's Record-Route, in order (RFC 3261 12.1.1) */
    size_t a_nroutes;
    uint32_t a_cseq;   /* our requests to A */
    /* B leg: we are its UAC */
    char *b_call_id, *b_from_tag, *b_to_tag, *b_target, *b_to_uri;
    char *b_routes[B2B_MAX_ROUTES]; /* B's Record-Route reversed (RFC 3261 12.1.2) */
    size_t b_nroutes;
    uint32_t b_cseq;
    uint64_t b_txn;    /* sipd's client transaction of the B INVITE (for CANCEL) */
    char *content_type;
    uint8_t *body;
    size_t body_len;
};

struct b2bua {
    worker_t *w;
    bool closing;
    int redis_pending; /* restore lookups Redis still owes an answer: freed after them */
    uint64_t next_id, salt;
    size_t ncalls;
    struct call *by_id[B2B_BUCKETS], *by_a[B2B_BUCKETS], *by_b[B2B_BUCKETS];
};

/* ---------------------------------------------------------------- table */

static uint32_t hash_str(const char *s) {
    uint32_t h = 2166136261u;
    for (; s && *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h % B2B_BUCKETS;
}

static struct call *find_id(b2bua_t *b, uint64_t id) {
    for (struct call *c = b->by_id[id % B2B_BUCKETS]; c; c = c->next_id)
        if (c->id == id)
            return c;
    return NULL;
}

/* The call a Call-ID belongs to, and whether it names its A leg. */
static struct call *find_call_id(b2bua_t *b, const char *call_id, bool *a_leg) {
    uint32_t h = hash_str(call_id);
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

static void unlink_from(struct call **head, struct call *c, size_t off) {
    for (struct call **pp = head; *pp; pp = (struct call **)((char *)*pp + off))
        if (*pp == c) {
            *pp = *(struct call **)((char *)c + off);
            return;
        }
}

static void call_closed(uv_handle_t *h) {
    free(h->data);
}

static void forget(b2bua_t *b, struct call *c);

static void media_destroy(b2bua_t *b, struct call *c);

static void call_free(b2bua_t *b, struct call *c) {
    forget(b, c);
    media_destroy(b, c);
    free(c->b_offer);
    free(c->a_local_sdp);
    free(c->a_answer_sdp);
    uv_timer_stop(&c->dial_timer);
    unlink_from(&b->by_id[c->id % B2B_BUCKETS], c, offsetof(struct call, next_id));
    unlink_from(&b->by_a[hash_str(c->a_call_id)], c, offsetof(struct call, next_a));
    if (c->b_call_id)
        unlink_from(&b->by_b[hash_str(c->b_call_id)], c, offsetof(struct call, next_b));
    char *strs[] = {c->a_call_id, c->a_from_display, c->a_from_uri, c->a_from_tag,
                    c->a_to_uri,  c->a_to_tag,       c->a_target,   c->b_call_id,
                    c->b_from_tag, c->b_to_tag,      c->b_target,   c->b_to_uri,
                    c->content_type, c->destination};
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
    free(c->old_b_call_id);
    free(c->old_b_from_tag);
    free(c->old_b_to_tag);
    free(c->old_b_target);
    for (size_t i = 0; i < c->old_b_nroutes; i++)
        free(c->old_b_routes[i]);
    free(c->body);
    for (unsigned i = 0; i < c->nforks; i++) {
        free(c->forks[i].call_id);
        free(c->forks[i].from_tag);
        free(c->forks[i].target);
    }
    uv_close((uv_handle_t *)&c->dial_timer, call_closed);
    b->ncalls--;
    shm_gauge(b->w->slot, SHM_C_calls_active, b->ncalls);
}

static char *dup_or_empty(const char *s) {
    return strdup(s ? s : "");
}

static void random_hex(b2bua_t *b, char *out, size_t len) {
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

static int64_t wall_ms(void) {
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
static void save(b2bua_t *b, struct call *c) {
    redisAsyncContext *ac = b->w->redis ? rds_context(b->w->redis) : NULL;
    if (!ac) {
        shm_count(b->w->slot, SHM_C_redis_errors, 1);
        log_ratelimited(LOG_WARN, "call %s: Redis down, dialog state not saved", c->a_call_id);
        return;
    }
    char key[512], bkey[512], a_routes[2048], b_routes[2048], nums[6][32];
    snprintf(key, sizeof key, "sb:dlg:{%s}", c->a_call_id);
    join_routes(c->a_routes, c->a_nroutes, a_routes, sizeof a_routes);
    join_routes(c->b_routes, c->b_nroutes, b_routes, sizeof b_routes);
    snprintf(nums[0], sizeof nums[0], "%llu", (unsigned long long)c->a_txn);
    snprintf(nums[1], sizeof nums[1], "%u", c->a_cseq);
    snprintf(nums[2], sizeof nums[2], "%u", c->b_cseq);
    snprintf(nums[3], sizeof nums[3], "%lld", (long long)c->created_ms);
    snprintf(nums[4], sizeof nums[4], "%lld", (long long)c->answered_ms);
    snprintf(nums[5], sizeof nums[5], "%d", b->w->instance);
    char media[2][32];
    snprintf(media[0], sizeof media[0], "%llu", (unsigned long long)c->media_session);
    snprintf(media[1], sizeof media[1], "%d", c->media_instance);
    const char *fields[][2] = {
        {"state", state_name(c->state)},
        {"node", cfg_str(b->w->cfg, CFG_node_id)},
        {"dialogd", nums[5]},
        {"created_ms", nums[3]},
        {"answered_ms", nums[4]},
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

/* ---------------------------------------------------------------- sending */

static ipc_chan_t *sipd_for(b2bua_t *b, uint64_t txn_id) {
    return worker_peer_role_instance(b->w, SB_ROLE_sipd, (int)(txn_id >> 40));
}

static void respond_a(b2bua_t *b, struct call *c, unsigned status, const char *reason,
                      const char *content_type, const uint8_t *body, size_t body_len) {
    ipc_chan_t *ch = c->a_ch ? c->a_ch : sipd_for(b, c->a_txn);
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
}

/* A response with an SDP body in an existing dialog (its To tag is in the request). */
static void respond_txn_body(b2bua_t *b, ipc_chan_t *ch, uint64_t txn_id, unsigned status,
                             const uint8_t *body, size_t len) {
    if (!ch)
        ch = sipd_for(b, txn_id);
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
    Sb__SipRespond rs = SB__SIP_RESPOND__INIT;
    rs.txn_id = txn_id;
    rs.msg = &msg;
    Sb__Envelope env = SB__ENVELOPE__INIT;
    env.body_case = SB__ENVELOPE__BODY_SIP_RESPOND;
    env.sip_respond = &rs;
    ipc_send(ch, &env);
}

/* A SipRespond without a body (BYE, CANCEL'd, strays). */
static void respond_txn(b2bua_t *b, ipc_chan_t *ch, uint64_t txn_id, unsigned status) {
    respond_txn_body(b, ch, txn_id, status, NULL, 0);
}

/* msg as a SipSendRequest on via (NULL: the sipd the call and fork hash to). */
static bool send_request_via(b2bua_t *b, struct call *c, ipc_chan_t *via, enum b2b_kind kind,
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

static bool send_request_fork(b2bua_t *b, struct call *c, enum b2b_kind kind, unsigned fork,
                              Sb__SipMessage *msg) {
    return send_request_via(b, c, NULL, kind, fork, msg);
}

static bool send_request(b2bua_t *b, struct call *c, enum b2b_kind kind, Sb__SipMessage *msg) {
    return send_request_fork(b, c, kind, c->winner > 0 ? (unsigned)c->winner : 0, msg);
}

/* A request in B's dialog with the body given (re-INVITE, its ACK). */
static bool send_b_body(b2bua_t *b, struct call *c, const char *method, uint32_t cseq,
                        enum b2b_kind kind, const uint8_t *body, size_t len) {
    Sb__SipMessage msg = SB__SIP_MESSAGE__INIT;
    msg.method = (char *)method;
    msg.request_uri = c->b_target;
    msg.from_display = c->a_from_display;
    msg.from_uri = c->a_from_uri;
    msg.from_tag = c->b_from_tag;
    msg.to_uri = c->b_to_uri;
    msg.to_tag = c->b_to_tag ? c->b_to_tag : "";
    msg.call_id = c->b_call_id;
    msg.cseq = cseq;
    msg.route = c->b_routes;
    msg.n_route = c->b_nroutes;
    if (len) {
        msg.content_type = B2B_SDP;
        msg.body.data = (uint8_t *)body;
        msg.body.len = len;
    }
    return send_request(b, c, kind, &msg);
}

/* A request in A's dialog (we are its UAS: From is A's To with our tag), CSeq given. */
static bool send_a_body(b2bua_t *b, struct call *c, const char *method, uint32_t cseq,
                        enum b2b_kind kind, const uint8_t *body, size_t len) {
    Sb__SipMessage msg = SB__SIP_MESSAGE__INIT;
    msg.method = (char *)method;
    msg.request_uri = c->a_target;
    msg.from_uri = c->a_to_uri;
    msg.from_tag = c->a_to_tag;
    msg.to_display = c->a_from_display;
    msg.to_uri = c->a_from_uri;
    msg.to_tag = c->a_from_tag;
    msg.call_id = c->a_call_id;
    msg.cseq = cseq;
    msg.route = c->a_routes;
    msg.n_route = c->a_nroutes;
    if (len) {
        msg.content_type = B2B_SDP;
        msg.body.data = (uint8_t *)body;
        msg.body.len = len;
    }
    return send_request(b, c, kind, &msg);
}

/* A request in the B dialog (we are its UAC): ACK, BYE, without a body. */
static bool send_b(b2bua_t *b, struct call *c, const char *method, uint32_t cseq,
                   enum b2b_kind kind) {
    return send_b_body(b, c, method, cseq, kind, NULL, 0);
}

/* A request in the A dialog without a body, with our next CSeq (BYE). */
static bool send_a(b2bua_t *b, struct call *c, const char *method, enum b2b_kind kind) {
    return send_a_body(b, c, method, ++c->a_cseq, kind, NULL, 0);
}

static bool cancel_open_forks(b2bua_t *b, struct call *c);
static void send_old_b(b2bua_t *b, struct call *c, const char *method, const char *sipfrag,
                       bool terminated);
static void old_b_forget(struct call *c);

/* Ends both legs of an established call with BYE; the call goes once both answer. */
static void hang_up_both(b2bua_t *b, struct call *c, const char *why) {
    log_info("call %s: hanging up (%s)", c->a_call_id, why);
    uv_timer_stop(&c->dial_timer);
    if (c->state == CALL_CALLING) /* B still rings */
        cancel_open_forks(b, c);
    bool b_up = c->b_to_tag && c->state != CALL_CALLING;
    if (c->transferring) { /* the B being replaced is still up */
        send_old_b(b, c, "BYE", NULL, false);
        old_b_forget(c);
    }
    c->state = CALL_ENDING;
    c->pending_byes = 0;
    if (b_up)
        c->pending_byes += send_b(b, c, "BYE", ++c->b_cseq, KIND_B_BYE);
    if (c->a_answered)
        c->pending_byes += send_a(b, c, "BYE", KIND_A_BYE);
    save(b, c);
    if (c->pending_byes == 0)
        call_free(b, c);
}

/* ---------------------------------------------------------------- the A leg's INVITE */

static void fail_call(b2bua_t *b, struct call *c, unsigned status, const char *reason) {
    if (c->a_answered) { /* answered here (play_audio): the end is a BYE */
        hang_up_both(b, c, reason ? reason : "the route is over");
        return;
    }
    respond_a(b, c, status, reason, NULL, NULL, 0);
    shm_count(b->w->slot, SHM_C_calls_failed, 1);
    call_free(b, c);
}

/* ---------------------------------------------------------------- media (mediad) */

enum media_step { MW_CREATE, MW_EARLY, MW_ANSWER, MW_PLAY, MW_DESTROY, MW_REOFFER, MW_REANSWER };

struct media_wait {
    b2bua_t *b;
    uint64_t call;
    enum media_step step;
    unsigned status; /* MW_EARLY: the provisional status to relay */
};

static void run_next(b2bua_t *b, struct call *c);
static void on_reinvite(b2bua_t *b, ipc_chan_t *ch, const Sb__SipRequestIn *in);
static void reinvite_offer_ready(b2bua_t *b, struct call *c, const uint8_t *sdp, size_t len);
static void reinvite_answer_ready(b2bua_t *b, struct call *c, unsigned status, const uint8_t *sdp,
                                  size_t len);

static uint8_t *dup_bytes(const uint8_t *p, size_t n, size_t *out_len) {
    uint8_t *d = malloc(n ? n : 1);
    if (d && n)
        memcpy(d, p, n);
    *out_len = d ? n : 0;
    return d;
}

static void media_answered(ipc_chan_t *ch, Sb__Envelope *env, void *arg) {
    (void)ch;
    struct media_wait mw = *(struct media_wait *)arg;
    free(arg);
    b2bua_t *b = mw.b;
    const Sb__MediaReply *rep =
        env && env->body_case == SB__ENVELOPE__BODY_MEDIA_REPLY ? env->media_reply : NULL;
    bool ok = rep && rep->status == SB__MEDIA_STATUS__MEDIA_STATUS_OK;
    if (mw.step == MW_DESTROY)
        return;
    struct call *c = find_id(b, mw.call);
    if (!c)
        return; /* ended meanwhile (a session it created is destroyed with it) */
    switch (mw.step) {
    case MW_CREATE:
        if (!ok) {
            bool refused = rep && (rep->status == SB__MEDIA_STATUS__MEDIA_STATUS_BAD_SDP ||
                                   rep->status == SB__MEDIA_STATUS__MEDIA_STATUS_UNRELAYABLE);
            log_ratelimited(LOG_WARN, "call %s: mediad: %s", c->a_call_id,
                            rep && rep->reason ? rep->reason : "no answer");
            /* RFC 3261 21.4.26: an offer we cannot take is 488; no media resources 503 */
            fail_call(b, c, refused ? 488 : 503, refused ? NULL : "Media unavailable");
            return;
        }
        c->media_session = rep->session_id;
        c->media_instance = (int)rep->instance;
        c->b_offer = dup_bytes(rep->sdp.data, rep->sdp.len, &c->b_offer_len);
        c->a_local_sdp = dup_bytes(rep->sdp_local.data, rep->sdp_local.len, &c->a_local_sdp_len);
        if (!c->b_offer || !c->a_local_sdp) {
            fail_call(b, c, 500, "Out of memory");
            return;
        }
        run_next(b, c);
        return;
    case MW_EARLY: /* B's 18x SDP, rewritten for A: early media through mediad */
        if (c->state == CALL_CALLING && !c->a_cancelled)
            respond_a(b, c, mw.status, NULL, ok ? B2B_SDP : NULL, ok ? rep->sdp.data : NULL,
                      ok ? rep->sdp.len : 0);
        return;
    case MW_ANSWER: /* B's 2xx SDP, rewritten for A */
        if (c->state != CALL_ANSWERED && c->state != CALL_CONFIRMED)
            return;
        if (!ok) {
            hang_up_both(b, c, "mediad refused the callee's answer");
            if (!c->a_answered)
                fail_call(b, c, 488, NULL);
            return;
        }
        free(c->a_answer_sdp);
        c->a_answer_sdp = dup_bytes(rep->sdp.data, rep->sdp.len, &c->a_answer_sdp_len);
        respond_a(b, c, 200, NULL, B2B_SDP, rep->sdp.data, rep->sdp.len);
        return;
    case MW_PLAY:
        if (!ok) {
            c->playing = false;
            c->last_failure = 503;
            run_next(b, c);
        }
        return; /* then PLAY_COMPLETED moves the call on */
    case MW_REOFFER: /* the re-INVITE's offer, rewritten for the other leg */
        if (!ok) {
            log_ratelimited(LOG_WARN, "call %s: mediad refused a re-INVITE's offer: %s",
                            c->a_call_id, rep && rep->reason ? rep->reason : "no answer");
            reinvite_answer_ready(b, c, 488, NULL, 0);
            return;
        }
        reinvite_offer_ready(b, c, rep->sdp.data, rep->sdp.len);
        return;
    case MW_REANSWER: /* the other leg's answer, rewritten for the re-INVITE's sender */
        if (!ok)
            log_ratelimited(LOG_WARN, "call %s: mediad refused a re-INVITE's answer: %s",
                            c->a_call_id, rep && rep->reason ? rep->reason : "no answer");
        reinvite_answer_ready(b, c, ok ? 200 : 488, ok ? rep->sdp.data : NULL,
                              ok ? rep->sdp.len : 0);
        return;
    case MW_DESTROY:
        return;
    }
}

static ipc_chan_t *mediad_of(b2bua_t *b, const struct call *c) {
    return worker_peer_role_instance(b->w, SB_ROLE_mediad, c->media_instance);
}

/* Sends env to the call's mediad (or, for a create, the least loaded one). */
static bool media_request(b2bua_t *b, struct call *c, Sb__Envelope *env, enum media_step step,
                          unsigned status) {
    ipc_chan_t *ch = NULL;
    if (step == MW_CREATE) {
        c->media_instance = b->w->shm ? shm_media_pick(b->w->shm) : -1;
        ch = c->media_instance >= 0 ? mediad_of(b, c) : NULL;
        if (!ch) /* the gauge may lag behind: any connected mediad */
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

static void media_create(b2bua_t *b, struct call *c) {
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
    if (!media_request(b, c, &env, MW_CREATE, 0))
        fail_call(b, c, 503, "Media unavailable");
}

/* An SDP from one side (an offer or an answer) to mediad; the reply of step brings it
 * rewritten for the other side. */
static bool media_update(b2bua_t *b, struct call *c, bool from_a, Sb__MediaSdpType type,
                         ProtobufCBinaryData sdp, bool confirmed, enum media_step step,
                         unsigned status) {
    Sb__MediaUpdateRequest rq = SB__MEDIA_UPDATE_REQUEST__INIT;
    rq.session_id = c->media_session;
    rq.from_side = from_a ? SB__MEDIA_SIDE__MEDIA_SIDE_A : SB__MEDIA_SIDE__MEDIA_SIDE_B;
    rq.type = type;
    rq.sdp = sdp;
    rq.confirmed = confirmed;
    Sb__Envelope env = SB__ENVELOPE__INIT;
    env.body_case = SB__ENVELOPE__BODY_MEDIA_UPDATE;
    env.media_update = &rq;
    return media_request(b, c, &env, step, status);
}

/* B's SDP (an answer) to mediad: the rewritten SDP goes to A when it comes back. */
static bool media_update_b(b2bua_t *b, struct call *c, const Sb__SipMessage *m, bool final) {
    return media_update(b, c, false, SB__MEDIA_SDP_TYPE__MEDIA_SDP_ANSWER, m->body, final,
                        final ? MW_ANSWER : MW_EARLY, m->status);
}

static bool media_play(b2bua_t *b, struct call *c, const char *file) {
    Sb__MediaPlayRequest rq = SB__MEDIA_PLAY_REQUEST__INIT;
    rq.session_id = c->media_session;
    rq.to_side = SB__MEDIA_SIDE__MEDIA_SIDE_A;
    rq.file = (char *)file;
    Sb__Envelope env = SB__ENVELOPE__INIT;
    env.body_case = SB__ENVELOPE__BODY_MEDIA_PLAY;
    env.media_play = &rq;
    c->playing = media_request(b, c, &env, MW_PLAY, 0);
    return c->playing;
}

static void media_destroy(b2bua_t *b, struct call *c) {
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

static void on_media_event(b2bua_t *b, const Sb__MediaEvent *ev) {
    uint64_t id = ev->owner_tag ? strtoull(ev->owner_tag, NULL, 10) : 0;
    struct call *c = find_id(b, id);
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
            run_next(b, c);
        return;
    case SB__MEDIA_EVENT_TYPE__MEDIA_EVENT_TIMEOUT:
    case SB__MEDIA_EVENT_TYPE__MEDIA_EVENT_SESSION_LOST:
        if (c->state == CALL_CONFIRMED || c->state == CALL_ANSWERED) {
            if (ev->type == SB__MEDIA_EVENT_TYPE__MEDIA_EVENT_SESSION_LOST)
                c->media_session = 0;
            hang_up_both(b, c, ev->type == SB__MEDIA_EVENT_TYPE__MEDIA_EVENT_TIMEOUT
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

struct routerd_wait {
    b2bua_t *b;
    uint64_t call;
};

static void run_next(b2bua_t *b, struct call *c);

/* Asks routerd (request env) and calls cb with the call still alive, or fails it. */
static void ask_routerd(b2bua_t *b, struct call *c, Sb__Envelope *env, ipc_reply_cb cb,
                        uint32_t timeout_ms) {
    ipc_chan_t *router = worker_peer_pick(b->w, SB_ROLE_routerd, c->id);
    struct routerd_wait *rw = malloc(sizeof *rw);
    if (!router || !rw) {
        free(rw);
        c->last_failure = 503;
        run_next(b, c);
        return;
    }
    rw->b = b;
    rw->call = c->id;
    c->state = CALL_ROUTING;
    if (ipc_request(router, env, cb, rw, timeout_ms) < 0) {
        free(rw);
        c->last_failure = 503;
        run_next(b, c);
    }
}

/* The call a routerd answer is for, or NULL when it ended meanwhile. */
static struct call *waited_call(void *arg) {
    struct routerd_wait *rw = arg;
    b2bua_t *b = rw->b;
    struct call *c = find_id(b, rw->call);
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
    ipc_chan_t *ch = sipd_for(b, f->txn);
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
static bool cancel_open_forks(b2bua_t *b, struct call *c) {
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
    msg.from_display = c->a_from_display;
    msg.from_uri = c->a_from_uri;
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
    return send_request_fork(b, c, KIND_B_INVITE, k, &msg);
}

/* A fork that answered 2xx after another one won: ACK and BYE on its own dialog
 * (RFC 3261 13.2.2.4 and 15). */
static void hang_up_fork(b2bua_t *b, struct call *c, unsigned k, const Sb__SipMessage *m) {
    struct b_fork *f = &c->forks[k];
    Sb__SipMessage msg = SB__SIP_MESSAGE__INIT;
    msg.request_uri = m->contact && *m->contact ? m->contact : f->target;
    msg.from_display = c->a_from_display;
    msg.from_uri = c->a_from_uri;
    msg.from_tag = f->from_tag;
    msg.to_uri = c->b_to_uri;
    msg.to_tag = m->to_tag;
    msg.call_id = f->call_id;
    msg.method = "ACK";
    msg.cseq = 1;
    send_request_fork(b, c, KIND_B_INVITE, k, &msg);
    msg.method = "BYE";
    msg.cseq = 2;
    send_request_fork(b, c, KIND_FORK_BYE, k, &msg);
    f->done = true;
    log_info("call %s: a second contact answered; hung up", c->a_call_id);
}

static void dial_timeout(uv_timer_t *t) {
    struct call *c = t->data;
    b2bua_t *b = c->b2bua;
    if (c->state != CALL_CALLING)
        return;
    log_info("call %s: no answer from %u contact(s) in time", c->a_call_id, c->nforks);
    c->dial_timed_out = true;
    if (cancel_open_forks(b, c))
        return; /* their 487s move the call on */
    /* nothing heard from any: abandon this attempt (its late answers are ignored) */
    c->last_failure = 480;
    run_next(b, c);
}

/* B-leg INVITEs to the contacts uris, rung in parallel (a new dialog each); the first
 * 2xx wins and the others are cancelled. */
static void dial(b2bua_t *b, struct call *c, const char *const *uris, unsigned n,
                 unsigned timeout) {
    if (c->b_call_id)
        unlink_from(&b->by_b[hash_str(c->b_call_id)], c, offsetof(struct call, next_b));
    free(c->b_target);
    free(c->b_from_tag);
    free(c->b_call_id);
    free(c->b_to_tag);
    for (size_t i = 0; i < c->b_nroutes; i++)
        free(c->b_routes[i]);
    c->b_nroutes = 0;
    c->b_to_tag = c->b_target = c->b_from_tag = c->b_call_id = NULL;
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
        random_hex(b, tag, sizeof tag);
        random_hex(b, cid, sizeof cid);
        snprintf(call_id, sizeof call_id, "sbd%d.%s", b->w->instance, cid);
        struct b_fork *f = &c->forks[c->nforks++];
        f->call_id = strdup(call_id);
        f->from_tag = strdup(tag);
        f->target = strdup(uris[i]);
        if (!f->call_id || !f->from_tag || !f->target ||
            !send_fork_invite(b, c, c->nforks - 1)) {
            f->done = true;
            continue;
        }
        sent++;
    }
    if (!sent) {
        c->last_failure = 503;
        run_next(b, c);
        return;
    }
    save(b, c);
    uv_timer_start(&c->dial_timer, dial_timeout, (uint64_t)timeout * 1000, 0);
}

static void location_answered(ipc_chan_t *ch, Sb__Envelope *env, void *arg) {
    (void)ch;
    b2bua_t *b = ((struct routerd_wait *)arg)->b;
    struct call *c = waited_call(arg);
    if (!c)
        return;
    const Sb__LocationReply *lr =
        env && env->body_case == SB__ENVELOPE__BODY_LOCATION_REPLY ? env->location_reply : NULL;
    const struct b2b_action *a = &c->actions[c->next_action - 1];
    const char *uris[B2B_MAX_FORKS];
    unsigned n = 0;
    for (size_t i = 0; lr && lr->status == 200 && i < lr->n_bindings && n < B2B_MAX_FORKS; i++)
        if (lr->bindings[i] && lr->bindings[i]->uri && *lr->bindings[i]->uri)
            uris[n++] = lr->bindings[i]->uri;
    if (!lr || lr->status == 503) {
        c->last_failure = 503;
    } else if (n == 0) {
        c->last_failure = 404;
    } else {
        dial(b, c, uris, n, a->timeout); /* every live contact rings */
        return;
    }
    run_next(b, c);
}

/* The call's next action, or its end when none is left. */
static void transfer_failed(b2bua_t *b, struct call *c, unsigned status);

static void run_next(b2bua_t *b, struct call *c) {
    uv_timer_stop(&c->dial_timer);
    if (c->transferring) { /* a REFER's target failed: the call stays with B */
        transfer_failed(b, c, c->last_failure);
        return;
    }
    if (c->a_cancelled) {
        fail_call(b, c, 487, NULL);
        return;
    }
    if (c->next_action >= c->nactions) {
        /* RFC 3261 16.7-like: the caller hears why the last action failed */
        fail_call(b, c, c->last_failure ? c->last_failure : 480, NULL);
        return;
    }
    const struct b2b_action *a = &c->actions[c->next_action++];
    switch (a->type) {
    case ACT_HANGUP:
        fail_call(b, c, a->status ? a->status : 480, NULL);
        return;
    case ACT_PLAY:
        if (!c->media_session) { /* no SDP offer from the caller: nothing to play to */
            c->last_failure = 488;
            run_next(b, c);
            return;
        }
        if (!c->a_answered) { /* an IVR route answers here, with our side-A ports */
            respond_a(b, c, 200, NULL, B2B_SDP, c->a_local_sdp, c->a_local_sdp_len);
            c->state = CALL_ANSWERED;
            c->answered_ms = wall_ms();
            shm_count(b->w->slot, SHM_C_calls_answered, 1);
            save(b, c);
        }
        if (!media_play(b, c, a->file)) {
            c->last_failure = 503;
            run_next(b, c);
        }
        return;
    case ACT_DIAL:
        if (a->uri) {
            const char *uris[1] = {a->uri};
            dial(b, c, uris, 1, a->timeout);
            return;
        }
        Sb__LocationRequest lq = SB__LOCATION_REQUEST__INIT;
        lq.aor = a->aor;
        Sb__Envelope env = SB__ENVELOPE__INIT;
        env.body_case = SB__ENVELOPE__BODY_LOCATION_REQUEST;
        env.location_request = &lq;
        ask_routerd(b, c, &env, location_answered, B2B_LOCATION_TIMEOUT_MS);
        return;
    }
}

static void route_answered(ipc_chan_t *ch, Sb__Envelope *env, void *arg) {
    (void)ch;
    b2bua_t *b = ((struct routerd_wait *)arg)->b;
    struct call *c = waited_call(arg);
    if (!c)
        return;
    const Sb__RouteReply *rr =
        env && env->body_case == SB__ENVELOPE__BODY_ROUTE_REPLY ? env->route_reply : NULL;
    if (!rr || rr->status == 503) {
        fail_call(b, c, 503, "Routing unavailable");
        return;
    }
    if (rr->status != 200 || rr->n_actions == 0) {
        fail_call(b, c, 404, "No route");
        return;
    }
    log_info("call %s to %s: route %s", c->a_call_id, c->destination,
             rr->route_id ? rr->route_id : "?");
    for (size_t i = 0; i < rr->n_actions && i < B2B_MAX_ACTIONS; i++) {
        const Sb__RouteAction *ra = rr->actions[i];
        struct b2b_action *a = &c->actions[c->nactions++];
        const char *type = ra->type ? ra->type : "";
        a->type = strcmp(type, "dial") == 0 ? ACT_DIAL
                  : strcmp(type, "play_audio") == 0 ? ACT_PLAY
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
    if (c->body_len && strncasecmp(c->content_type, B2B_SDP, strlen(B2B_SDP)) == 0)
        media_create(b, c);
    else
        run_next(b, c);
}

/* User part of a sip: URI (for RouteRequest), into out. */
static void uri_user(const char *uri, char *out, size_t cap) {
    out[0] = '\0';
    const char *colon = uri ? strchr(uri, ':') : NULL;
    const char *at = colon ? strchr(colon, '@') : NULL;
    if (colon && at)
        snprintf(out, cap, "%.*s", (int)(at - colon - 1), colon + 1);
}

/* Host part of a sip: URI (without port or parameters), lowercased, into out: the
 * domain of the AOR a user/NAME target looks up (as Kamailio's lookup, ports aside). */
static void uri_host(const char *uri, char *out, size_t cap) {
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

static void on_invite(b2bua_t *b, ipc_chan_t *ch, const Sb__SipRequestIn *in) {
    const Sb__SipMessage *m = in->msg;
    if (m->to_tag && *m->to_tag) {
        on_reinvite(b, ch, in);
        return;
    }
    bool a_leg;
    if (find_call_id(b, m->call_id, &a_leg)) { /* a second INVITE of one Call-ID */
        respond_txn(b, ch, in->txn_id, 482);
        return;
    }
    if (b->w->draining) {
        respond_txn(b, ch, in->txn_id, 503);
        return;
    }
    struct call *c = calloc(1, sizeof *c);
    if (!c) {
        respond_txn(b, ch, in->txn_id, 500);
        return;
    }
    char tag[24], user[256], host[256], caller[256];
    random_hex(b, tag, sizeof tag);
    uri_user(m->request_uri, user, sizeof user);
    uri_host(m->request_uri, host, sizeof host);
    uri_user(m->from_uri, caller, sizeof caller);
    c->b2bua = b;
    c->winner = -1;
    c->media_instance = -1;
    c->created_ms = wall_ms();
    uv_timer_init(b->w->loop, &c->dial_timer);
    c->dial_timer.data = c;
    c->id = ++b->next_id & ((1ULL << 47) - 1);
    c->a_ch = ch;
    c->a_txn = in->txn_id;
    c->a_call_id = dup_or_empty(m->call_id);
    c->a_from_display = dup_or_empty(m->from_display);
    c->a_from_uri = dup_or_empty(m->from_uri);
    c->a_from_tag = dup_or_empty(m->from_tag);
    c->a_to_uri = dup_or_empty(m->to_uri);
    c->b_to_uri = dup_or_empty(m->to_uri);
    c->a_to_tag = strdup(tag);
    c->destination = strdup(user);
    c->a_target = dup_or_empty(m->contact && *m->contact ? m->contact : m->from_uri);
    c->content_type = dup_or_empty(m->content_type);
    for (size_t i = 0; i < m->n_record_route && i < B2B_MAX_ROUTES; i++)
        c->a_routes[c->a_nroutes++] = dup_or_empty(m->record_route[i]);
    if (m->body.len && (c->body = malloc(m->body.len))) {
        memcpy(c->body, m->body.data, m->body.len);
        c->body_len = m->body.len;
    }
    c->next_id = b->by_id[c->id % B2B_BUCKETS];
    b->by_id[c->id % B2B_BUCKETS] = c;
    uint32_t h = hash_str(c->a_call_id);
    c->next_a = b->by_a[h];
    b->by_a[h] = c;
    b->ncalls++;
    shm_count(b->w->slot, SHM_C_calls_started, 1);
    shm_gauge(b->w->slot, SHM_C_calls_active, b->ncalls);
    if (!c->a_call_id || !c->a_to_tag || !c->a_target || !c->b_to_uri || !c->destination ||
        (m->body.len && !c->body)) {
        fail_call(b, c, 500, "Out of memory");
        return;
    }
    if (!user[0]) { /* nothing to dial */
        fail_call(b, c, 404, "No route");
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
    ask_routerd(b, c, &env, route_answered, B2B_ROUTE_TIMEOUT_MS);
}

/* ---------------------------------------------------------------- re-INVITE */

/* A re-INVITE from one leg (hold, resume, new codec, new address): its offer goes
 * through mediad to the other leg in a re-INVITE of our own; that leg's answer comes back
 * the same way. One at a time per call: another meanwhile gets 491 (RFC 3261 14.2). */
static void on_reinvite(b2bua_t *b, ipc_chan_t *ch, const Sb__SipRequestIn *in) {
    const Sb__SipMessage *m = in->msg;
    bool update = strcmp(m->method, "UPDATE") == 0;
    bool a_leg;
    struct call *c = find_call_id(b, m->call_id, &a_leg);
    const char *our_tag = !c ? NULL : a_leg ? c->a_to_tag : c->b_from_tag;
    if (!c || !our_tag || strcmp(m->to_tag, our_tag) != 0) {
        respond_txn(b, ch, in->txn_id, 481);
        return;
    }
    if (c->state != CALL_CONFIRMED || c->re_txn) {
        respond_txn(b, ch, in->txn_id, 491);
        return;
    }
    c->re_txn = in->txn_id;
    c->re_from_a = a_leg;
    c->re_ch = ch;
    c->re_update = update;
    if (!c->media_session || !m->body.len) { /* nothing to rewrite: pass it on */
        reinvite_offer_ready(b, c, m->body.data, m->body.len);
        return;
    }
    if (!media_update(b, c, a_leg, SB__MEDIA_SDP_TYPE__MEDIA_SDP_OFFER, m->body, true,
                      MW_REOFFER, 0))
        reinvite_answer_ready(b, c, 503, NULL, 0);
}

static void reinvite_offer_ready(b2bua_t *b, struct call *c, const uint8_t *sdp, size_t len) {
    const char *method = c->re_update ? "UPDATE" : "INVITE";
    bool sent = c->re_from_a
                    ? send_b_body(b, c, method, c->re_cseq = ++c->b_cseq, KIND_B_REINVITE, sdp,
                                  len)
                    : send_a_body(b, c, method, c->re_cseq = ++c->a_cseq, KIND_A_REINVITE, sdp,
                                  len);
    save(b, c);
    if (!sent)
        reinvite_answer_ready(b, c, 503, NULL, 0);
}

static void reinvite_answer_ready(b2bua_t *b, struct call *c, unsigned status, const uint8_t *sdp,
                                  size_t len) {
    if (!c->re_txn)
        return;
    respond_txn_body(b, c->re_ch, c->re_txn, status, sdp, len);
    c->re_txn = 0;
    c->re_ch = NULL;
}

/* The other leg answered our re-INVITE. */
static void reinvite_answered(b2bua_t *b, struct call *c, const Sb__SipResponseIn *in) {
    const Sb__SipMessage *m = in->msg;
    if (m->status < 200 || !c->re_txn)
        return;
    if (m->status >= 300) { /* refused (488, 491, ...): the sender hears the same */
        reinvite_answer_ready(b, c, m->status, NULL, 0);
        return;
    }
    /* RFC 3261 13.2.2.4: our ACK, with the re-INVITE's CSeq (an UPDATE has none) */
    if (!c->re_update && c->re_from_a)
        send_b_body(b, c, "ACK", c->re_cseq, KIND_B_REINVITE, NULL, 0);
    else if (!c->re_update)
        send_a_body(b, c, "ACK", c->re_cseq, KIND_A_REINVITE, NULL, 0);
    if (!c->media_session || !m->body.len) {
        reinvite_answer_ready(b, c, 200, m->body.data, m->body.len);
        return;
    }
    if (!media_update(b, c, !c->re_from_a, SB__MEDIA_SDP_TYPE__MEDIA_SDP_ANSWER, m->body, true,
                      MW_REANSWER, 0))
        reinvite_answer_ready(b, c, 503, NULL, 0);
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
    msg.from_display = c->a_from_display;
    msg.from_uri = c->a_from_uri;
    msg.from_tag = c->old_b_from_tag;
    msg.to_uri = c->b_to_uri;
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
    send_request_via(b, c, via, KIND_FORK_BYE, 0, &msg);
}

static void send_old_b(b2bua_t *b, struct call *c, const char *method, const char *sipfrag,
                       bool terminated) {
    send_old_b_via(b, c, NULL, method, sipfrag, terminated);
}

static void old_b_forget(struct call *c) {
    free(c->old_b_call_id);
    free(c->old_b_from_tag);
    free(c->old_b_to_tag);
    free(c->old_b_target);
    for (size_t i = 0; i < c->old_b_nroutes; i++)
        free(c->old_b_routes[i]);
    c->old_b_call_id = c->old_b_from_tag = c->old_b_to_tag = c->old_b_target = NULL;
    c->old_b_nroutes = 0;
    c->transferring = false;
}

/* The transfer target answered: B hears 200 in a NOTIFY, then our BYE. */
static void transfer_done(b2bua_t *b, struct call *c) {
    log_info("call %s: transferred to %s", c->a_call_id, c->b_target);
    send_old_b(b, c, "NOTIFY", "SIP/2.0 200 OK", true);
    send_old_b(b, c, "BYE", NULL, false);
    redisAsyncContext *ac = b->w->redis ? rds_context(b->w->redis) : NULL;
    if (ac) /* the old B leg no longer leads to this call */
        redisAsyncCommand(ac, NULL, NULL, "DEL sb:dlgb:{%s}", c->old_b_call_id);
    old_b_forget(c);
    save(b, c);
}

/* The transfer failed: B hears why, and the call goes on with B as before. */
static void transfer_failed(b2bua_t *b, struct call *c, unsigned status) {
    char frag[64];
    snprintf(frag, sizeof frag, "SIP/2.0 %u %s", status ? status : 480,
             status == 404 ? "Not Found" : status == 486 ? "Busy Here" : "Failed");
    log_info("call %s: transfer failed (%u)", c->a_call_id, status);
    send_old_b(b, c, "NOTIFY", frag, true);
    if (c->b_call_id)
        unlink_from(&b->by_b[hash_str(c->b_call_id)], c, offsetof(struct call, next_b));
    free(c->b_call_id);
    free(c->b_from_tag);
    free(c->b_to_tag);
    free(c->b_target);
    for (size_t i = 0; i < c->b_nroutes; i++)
        free(c->b_routes[i]);
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
    if (c->b_call_id) {
        uint32_t h = hash_str(c->b_call_id);
        c->next_b = b->by_b[h];
        b->by_b[h] = c;
    }
    c->state = CALL_CONFIRMED;
}

static void refer_located(ipc_chan_t *ch, Sb__Envelope *env, void *arg) {
    (void)ch;
    b2bua_t *b = ((struct routerd_wait *)arg)->b;
    struct call *c = waited_call(arg);
    if (!c)
        return;
    const Sb__LocationReply *lr =
        env && env->body_case == SB__ENVELOPE__BODY_LOCATION_REPLY ? env->location_reply : NULL;
    const char *uris[B2B_MAX_FORKS];
    unsigned n = 0;
    for (size_t i = 0; lr && lr->status == 200 && i < lr->n_bindings && n < B2B_MAX_FORKS; i++)
        if (lr->bindings[i] && lr->bindings[i]->uri && *lr->bindings[i]->uri)
            uris[n++] = lr->bindings[i]->uri;
    if (!n) {
        transfer_failed(b, c, !lr || lr->status == 503 ? 503 : 404);
        return;
    }
    dial(b, c, uris, n, DIALPLAN_TRANSFER_TIMEOUT_S);
}

/* REFER from B (RFC 3515, blind transfer): 202, NOTIFY 100, and B's place in the call
 * goes to the Refer-To target (its registered contacts, rung in parallel); B is told the
 * outcome and, when the target answered, gets our BYE. */
static void on_refer(b2bua_t *b, ipc_chan_t *ch, const Sb__SipRequestIn *in) {
    const Sb__SipMessage *m = in->msg;
    bool a_leg;
    struct call *c = find_call_id(b, m->call_id, &a_leg);
    if (!c || !m->to_tag || !*m->to_tag) {
        respond_txn(b, ch, in->txn_id, 481);
        return;
    }
    if (a_leg) { /* the caller transferring: not yet (the A leg is our UAS side) */
        respond_txn(b, ch, in->txn_id, 501);
        return;
    }
    if (c->state != CALL_CONFIRMED || c->transferring || c->re_txn) {
        respond_txn(b, ch, in->txn_id, 491);
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
        respond_txn(b, ch, in->txn_id, 400);
        return;
    }
    snprintf(target, sizeof target, "%.*s", (int)tl, lt ? lt + 1 : refer_to);
    uri_user(target, user, sizeof user);
    uri_host(target, host, sizeof host);
    if (strncasecmp(target, "sip:", 4) != 0 || !user[0] || !host[0]) {
        respond_txn(b, ch, in->txn_id, 400);
        return;
    }
    respond_txn(b, ch, in->txn_id, 202);
    /* B's dialog stays aside until the target answers */
    unlink_from(&b->by_b[hash_str(c->b_call_id)], c, offsetof(struct call, next_b));
    c->old_b_call_id = c->b_call_id;
    c->old_b_from_tag = c->b_from_tag;
    c->old_b_to_tag = c->b_to_tag;
    c->old_b_target = c->b_target;
    memcpy(c->old_b_routes, c->b_routes, sizeof c->b_routes);
    c->old_b_nroutes = c->b_nroutes;
    c->old_b_cseq = c->b_cseq;
    c->b_call_id = c->b_from_tag = c->b_to_tag = c->b_target = NULL;
    c->b_nroutes = 0;
    c->transferring = true;
    send_old_b_via(b, c, ch ? ch : sipd_for(b, in->txn_id), "NOTIFY", "SIP/2.0 100 Trying",
                   false);
    snprintf(aor, sizeof aor, "sip:%s@%s", user, host);
    Sb__LocationRequest lq = SB__LOCATION_REQUEST__INIT;
    lq.aor = aor;
    Sb__Envelope env = SB__ENVELOPE__INIT;
    env.body_case = SB__ENVELOPE__BODY_LOCATION_REQUEST;
    env.location_request = &lq;
    ask_routerd(b, c, &env, refer_located, B2B_LOCATION_TIMEOUT_MS);
}

/* ---------------------------------------------------------------- in-dialog requests */

static void on_cancel(b2bua_t *b, const Sb__SipRequestIn *in) {
    bool a_leg;
    struct call *c = find_call_id(b, in->msg->call_id, &a_leg);
    if (!c || !a_leg || c->a_txn != in->txn_id || c->a_answered)
        return;
    c->a_cancelled = true;
    /* the forks' 487s end the call (A then gets 487); if none has answered anything yet
     * there is nothing to wait for */
    if (c->state == CALL_CALLING && !cancel_open_forks(b, c))
        fail_call(b, c, 487, NULL);
    /* while routing or before the offer is anchored, run_next sees a_cancelled */
}

/* A BYE from one leg of c: 200 to it, BYE to the other; the call goes when that is
 * answered. */
static void bye_call(b2bua_t *b, struct call *c, bool a_leg, ipc_chan_t *ch, uint64_t txn_id) {
    bool b_up = c->b_to_tag && (c->state == CALL_CONFIRMED || c->state == CALL_ANSWERED);
    if (c->state == CALL_ENDING || (a_leg ? !c->a_answered : !b_up)) {
        respond_txn(b, ch, txn_id, 481);
        return;
    }
    respond_txn(b, ch, txn_id, 200);
    log_info("call %s: %s hung up", c->a_call_id, a_leg ? "caller" : "callee");
    shm_count(b->w->slot, SHM_C_calls_ended, 1);
    if (a_leg && !b_up) { /* an IVR call, or one still dialing its callee */
        c->a_answered = false; /* no BYE back to A */
        hang_up_both(b, c, "caller hung up");
        return;
    }
    c->state = CALL_ENDING;
    c->pending_byes = a_leg ? send_b(b, c, "BYE", ++c->b_cseq, KIND_B_BYE)
                            : send_a(b, c, "BYE", KIND_A_BYE);
    save(b, c);
    if (c->pending_byes == 0)
        call_free(b, c);
}

/* ---------------------------------------------------------------- restore from Redis */

/* A BYE for a call this dialogd does not hold (it restarted, or another instance had
 * it): the record in Redis brings the call back, then the BYE is served. */
struct restore_wait {
    b2bua_t *b;
    uint64_t txn_id;
    bool by_b_leg; /* first step: sb:dlgb:{B} names the A Call-ID */
    bool b_leg_bye; /* the BYE came from the B leg */
    char call_id[256];
};

static char *field_dup(const redisReply *r, const char *name) {
    for (size_t i = 0; i + 1 < r->elements; i += 2)
        if (r->element[i]->type == REDIS_REPLY_STRING && strcmp(r->element[i]->str, name) == 0 &&
            r->element[i + 1]->type == REDIS_REPLY_STRING)
            return strdup(r->element[i + 1]->str);
    return strdup("");
}

static size_t split_routes(const char *joined, char **out) {
    size_t n = 0;
    for (const char *p = joined; p && *p && n < B2B_MAX_ROUTES;) {
        size_t len = strcspn(p, "\n");
        out[n] = strndup(p, len);
        if (out[n])
            n++;
        p += len + (p[len] == '\n');
    }
    return n;
}

/* A call rebuilt from its record; NULL when out of memory or the record is unusable. */
static struct call *call_from_record(b2bua_t *b, const redisReply *r) {
    struct call *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->b2bua = b;
    c->winner = -1;
    uv_timer_init(b->w->loop, &c->dial_timer);
    c->dial_timer.data = c;
    char *state = field_dup(r, "state"), *num;
    /* only an answered call is worth bringing back; one still ringing was lost with the
     * dialogd that rang it (sipd answers its caller 408) */
    bool usable = state && (strcmp(state, "answered") == 0 || strcmp(state, "confirmed") == 0);
    c->state = state && strcmp(state, "answered") == 0 ? CALL_ANSWERED : CALL_CONFIRMED;
    free(state);
    if (!usable) {
        uv_close((uv_handle_t *)&c->dial_timer, call_closed);
        return NULL;
    }
    c->a_call_id = field_dup(r, "a_call_id");
    c->a_from_display = field_dup(r, "a_from_display");
    c->a_from_uri = field_dup(r, "a_from_uri");
    c->a_from_tag = field_dup(r, "a_from_tag");
    c->a_to_uri = field_dup(r, "a_to_uri");
    c->a_to_tag = field_dup(r, "a_to_tag");
    c->a_target = field_dup(r, "a_target");
    c->b_call_id = field_dup(r, "b_call_id");
    c->b_from_tag = field_dup(r, "b_from_tag");
    c->b_to_uri = field_dup(r, "b_to_uri");
    c->b_to_tag = field_dup(r, "b_to_tag");
    c->b_target = field_dup(r, "b_target");
    c->content_type = strdup("");
    c->destination = strdup("");
    char *routes = field_dup(r, "a_route_set");
    c->a_nroutes = split_routes(routes, c->a_routes);
    free(routes);
    routes = field_dup(r, "b_route_set");
    c->b_nroutes = split_routes(routes, c->b_routes);
    free(routes);
    num = field_dup(r, "a_local_cseq");
    c->a_cseq = num ? (uint32_t)strtoul(num, NULL, 10) : 0;
    free(num);
    num = field_dup(r, "b_local_cseq");
    c->b_cseq = num ? (uint32_t)strtoul(num, NULL, 10) : 1;
    free(num);
    num = field_dup(r, "a_txn");
    c->a_txn = num ? strtoull(num, NULL, 10) : 0;
    free(num);
    num = field_dup(r, "media_session");
    c->media_session = num ? strtoull(num, NULL, 10) : 0;
    free(num);
    num = field_dup(r, "mediad");
    c->media_instance = num && *num ? atoi(num) : -1;
    free(num);
    c->a_acked = true;
    c->a_answered = true;
    c->saved = true;
    c->id = ++b->next_id & ((1ULL << 47) - 1);
    c->next_id = b->by_id[c->id % B2B_BUCKETS];
    b->by_id[c->id % B2B_BUCKETS] = c;
    uint32_t h = hash_str(c->a_call_id);
    c->next_a = b->by_a[h];
    b->by_a[h] = c;
    b->ncalls++;
    if (c->b_call_id) {
        h = hash_str(c->b_call_id);
        c->next_b = b->by_b[h];
        b->by_b[h] = c;
    }
    shm_gauge(b->w->slot, SHM_C_calls_active, b->ncalls);
    if (!c->a_call_id || !*c->a_call_id || !c->b_call_id || !*c->b_call_id || !c->a_target ||
        !c->b_target || !c->a_to_tag || !c->b_to_uri || !c->destination || !c->content_type) {
        call_free(b, c);
        return NULL;
    }
    return c;
}

static void restore_cb(redisAsyncContext *ac, void *reply, void *priv);

static bool restore_ask(b2bua_t *b, struct restore_wait *rw) {
    redisAsyncContext *ac = b->w->redis ? rds_context(b->w->redis) : NULL;
    if (!ac)
        return false;
    int rc = rw->by_b_leg
                 ? redisAsyncCommand(ac, restore_cb, rw, "GET sb:dlgb:{%s}", rw->call_id)
                 : redisAsyncCommand(ac, restore_cb, rw, "HGETALL sb:dlg:{%s}", rw->call_id);
    if (rc != REDIS_OK)
        return false;
    b->redis_pending++;
    return true;
}

static void restore_cb(redisAsyncContext *ac, void *reply, void *priv) {
    (void)ac;
    struct restore_wait *rw = priv;
    b2bua_t *b = rw->b;
    redisReply *r = reply;
    b->redis_pending--;
    if (b->closing) {
        free(rw);
        if (b->redis_pending == 0)
            free(b);
        return;
    }
    if (!r || r->type == REDIS_REPLY_ERROR) {
        respond_txn(b, NULL, rw->txn_id, 503);
        free(rw);
        return;
    }
    if (rw->by_b_leg) {
        if (r->type != REDIS_REPLY_STRING || !r->str[0] || strlen(r->str) >= sizeof rw->call_id) {
            respond_txn(b, NULL, rw->txn_id, 481);
            free(rw);
            return;
        }
        snprintf(rw->call_id, sizeof rw->call_id, "%s", r->str);
        rw->by_b_leg = false;
        if (!restore_ask(b, rw)) {
            respond_txn(b, NULL, rw->txn_id, 503);
            free(rw);
        }
        return;
    }
    bool a_leg;
    struct call *c = find_call_id(b, rw->call_id, &a_leg); /* restored meanwhile */
    if (!c && r->type == REDIS_REPLY_ARRAY && r->elements >= 2) {
        c = call_from_record(b, r);
        if (c)
            log_info("call %s restored from Redis", c->a_call_id);
    }
    if (!c) {
        respond_txn(b, NULL, rw->txn_id, 481);
        free(rw);
        return;
    }
    /* rw->call_id is the A Call-ID now; the BYE came on the leg it named first */
    bye_call(b, c, !rw->b_leg_bye, NULL, rw->txn_id);
    free(rw);
}

static void on_bye(b2bua_t *b, ipc_chan_t *ch, const Sb__SipRequestIn *in) {
    bool a_leg;
    struct call *c = find_call_id(b, in->msg->call_id, &a_leg);
    if (c) {
        bye_call(b, c, a_leg, ch, in->txn_id);
        return;
    }
    for (size_t i = 0; i < B2B_BUCKETS; i++) /* a B that transferred its call hangs up */
        for (struct call *t = b->by_id[i]; t; t = t->next_id)
            if (t->old_b_call_id && strcmp(t->old_b_call_id, in->msg->call_id) == 0) {
                respond_txn(b, ch, in->txn_id, 200);
                old_b_forget(t);
                return;
            }
    struct restore_wait *rw = calloc(1, sizeof *rw);
    if (!rw || strlen(in->msg->call_id) >= sizeof rw->call_id) {
        free(rw);
        respond_txn(b, ch, in->txn_id, 481);
        return;
    }
    rw->b = b;
    rw->txn_id = in->txn_id;
    snprintf(rw->call_id, sizeof rw->call_id, "%s", in->msg->call_id);
    /* our B-leg Call-IDs are sbd<instance>.<random>; any other is an A-leg's */
    rw->by_b_leg = rw->b_leg_bye = strncmp(rw->call_id, "sbd", 3) == 0;
    if (!restore_ask(b, rw)) {
        free(rw);
        respond_txn(b, ch, in->txn_id, 503);
    }
}

static void on_ack(b2bua_t *b, const Sb__SipRequestIn *in) {
    bool a_leg;
    struct call *c = find_call_id(b, in->msg->call_id, &a_leg);
    if (!c || !a_leg || !c->a_answered || c->a_acked)
        return;
    c->a_acked = true;
    if (c->state == CALL_ANSWERED) {
        c->state = CALL_CONFIRMED;
        save(b, c);
    }
    if (in->txn_id == 0) { /* another sipd instance got it: tell the owner to stop */
        Sb__SipTxnEvent ev = SB__SIP_TXN_EVENT__INIT;
        ev.txn_id = c->a_txn;
        ev.kind = SB__SIP_TXN_EVENT_KIND__SIP_TXN_EVENT_ACKED;
        Sb__Envelope env = SB__ENVELOPE__INIT;
        env.body_case = SB__ENVELOPE__BODY_SIP_TXN_EVENT;
        env.sip_txn_event = &ev;
        ipc_chan_t *ch = sipd_for(b, c->a_txn);
        if (ch)
            ipc_send(ch, &env);
    }
}

static void on_request(b2bua_t *b, ipc_chan_t *ch, const Sb__SipRequestIn *in) {
    const Sb__SipMessage *m = in->msg;
    if (!m || !m->method || !m->call_id)
        return;
    if (strcmp(m->method, "INVITE") == 0)
        on_invite(b, ch, in);
    else if (strcmp(m->method, "CANCEL") == 0)
        on_cancel(b, in);
    else if (strcmp(m->method, "BYE") == 0)
        on_bye(b, ch, in);
    else if (strcmp(m->method, "ACK") == 0)
        on_ack(b, in);
    else if (strcmp(m->method, "UPDATE") == 0)
        on_reinvite(b, ch, in); /* mid-call UPDATE: relayed like a re-INVITE, without ACK */
    else if (strcmp(m->method, "REFER") == 0)
        on_refer(b, ch, in);
    else
        respond_txn(b, ch, in->txn_id, 501);
}

/* ---------------------------------------------------------------- responses */

static void b_invite_answered(b2bua_t *b, struct call *c, const Sb__SipResponseIn *in,
                              unsigned k) {
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
        /* 180, 183 relayed as they come; an SDP in them is early media through mediad */
        if (c->media_session && m->body.len) {
            if (!media_update_b(b, c, m, false))
                respond_a(b, c, status, m->reason, NULL, NULL, 0);
        } else {
            respond_a(b, c, status, m->reason, NULL, NULL, 0);
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
            fail_call(b, c, 487, NULL);
            return;
        }
        /* a failed dial: the dialplan goes on with its next action (failover, "busy"
         * messages); the caller hears this status if none is left */
        c->last_failure = c->dial_timed_out ? 480 : c->fork_failure;
        run_next(b, c);
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
        c->b_to_tag = dup_or_empty(m->to_tag);
        c->b_target = dup_or_empty(m->contact && *m->contact ? m->contact : f->target);
        c->b_txn = f->txn;
        for (size_t i = 0; i < m->n_record_route && i < B2B_MAX_ROUTES; i++)
            c->b_routes[c->b_nroutes++] = dup_or_empty(m->record_route[m->n_record_route - 1 - i]);
        if (!c->b_call_id || !c->b_from_tag) {
            hang_up_fork(b, c, k, m);
            c->winner = -1;
            return;
        }
        uint32_t h = hash_str(c->b_call_id);
        c->next_b = b->by_b[h];
        b->by_b[h] = c;
        cancel_open_forks(b, c);
    }
    send_b(b, c, "ACK", 1, KIND_B_INVITE);
    if (c->state != CALL_CALLING)
        return;
    uv_timer_stop(&c->dial_timer);
    if (c->a_cancelled) { /* A gave up as B answered: end B, A gets 487 */
        respond_a(b, c, 487, NULL, NULL, NULL, 0);
        c->state = CALL_ENDING;
        c->pending_byes = send_b(b, c, "BYE", ++c->b_cseq, KIND_B_BYE);
        if (!c->pending_byes)
            call_free(b, c);
        return;
    }
    bool answered_here = c->a_answered; /* A was answered by an IVR action before */
    c->state = answered_here && c->a_acked ? CALL_CONFIRMED : CALL_ANSWERED;
    if (!answered_here) {
        c->answered_ms = wall_ms();
        shm_count(b->w->slot, SHM_C_calls_answered, 1);
    }
    save(b, c);
    if (!c->media_session) { /* no media anchored: bodies pass as they are */
        respond_a(b, c, status, m->reason, m->content_type, m->body.data, m->body.len);
        return;
    }
    if (m->body.len) {
        /* mediad learns B's answer; A gets it rewritten (unless A has its answer) */
        if (!media_update_b(b, c, m, true))
            hang_up_both(b, c, "mediad unreachable");
    } else if (!answered_here) { /* the answer came in a 183 already */
        respond_a(b, c, 200, m->reason, B2B_SDP, c->a_answer_sdp, c->a_answer_sdp_len);
    }
    if (c->transferring && c->state != CALL_ENDING)
        transfer_done(b, c);
}

static void on_response(b2bua_t *b, const Sb__SipResponseIn *in) {
    if (!in->msg)
        return;
    struct call *c = NULL;
    enum b2b_kind kind = (enum b2b_kind)(in->client_id & 0xf);
    unsigned fork = (unsigned)(in->client_id >> 4) & 0xf;
    unsigned attempt = (unsigned)(in->client_id >> 8) & 0xff;
    if (in->client_id) {
        c = find_id(b, in->client_id >> 16);
        if (c && kind == KIND_B_INVITE && attempt != (c->attempt & 0xff))
            return; /* an abandoned dial's late answer */
    } else if (in->msg->call_id) { /* a 2xx copy after the transaction: ACK again */
        bool a_leg;
        c = find_call_id(b, in->msg->call_id, &a_leg);
        kind = KIND_B_INVITE;
        if (!c || a_leg || c->winner < 0)
            return;
        fork = (unsigned)c->winner;
    }
    if (!c)
        return;
    if (kind == KIND_B_INVITE) {
        b_invite_answered(b, c, in, fork);
        return;
    }
    if (kind == KIND_FORK_BYE)
        return;
    if (kind == KIND_B_REINVITE || kind == KIND_A_REINVITE) {
        reinvite_answered(b, c, in);
        return;
    }
    if (in->msg->status < 200 || c->state != CALL_ENDING)
        return;
    if (--c->pending_byes <= 0)
        call_free(b, c);
}

static void on_txn_event(b2bua_t *b, const Sb__SipTxnEvent *ev) {
    if (ev->kind != SB__SIP_TXN_EVENT_KIND__SIP_TXN_EVENT_ACK_TIMEOUT)
        return;
    for (size_t i = 0; i < B2B_BUCKETS; i++)
        for (struct call *c = b->by_id[i]; c; c = c->next_id)
            if (c->a_txn == ev->txn_id && c->a_answered && !c->a_acked &&
                c->state != CALL_ENDING) {
                /* RFC 3261 13.3.1.4: no ACK for our 2xx: end the session */
                hang_up_both(b, c, "no ACK from the caller");
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
    case SB__ENVELOPE__BODY_MEDIA_EVENT:
        if (env->media_event)
            on_media_event(b, env->media_event);
        return true;
    default:
        return false;
    }
}

void b2bua_peer_closed(b2bua_t *b, ipc_chan_t *ch) {
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
            call_free(b, b->by_id[i]);
        }
    b->closing = true;
    if (b->redis_pending == 0)
        free(b);
}
