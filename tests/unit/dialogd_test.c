/* dialogd: the (state x event) table of b2bua.c driven through the public envelope path.
 * One libuv loop; fake sipd, routerd and mediad on SOCK_SEQPACKET socketpairs record
 * every envelope dialogd sends them, and routerd and mediad answer as each test asks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "cfg.h"
#include "ipc.h"
#include "procs/dialogd/b2bua.h"
#include "procs/dialogd/call.h"
#include "procs/dialogd/sipout.h"

#define MAX_SEEN 128

/* One fake peer: dialogd's end, the test's end, and what dialogd sent it (packed). */
struct peer {
    ipc_chan_t *ours, *theirs;
    struct {
        uint8_t *data;
        size_t len;
    } seen[MAX_SEEN];
    size_t nseen;
};

enum route_mode { ROUTE_URI, ROUTE_AOR, ROUTE_HANGUP_486, ROUTE_HOLD };
enum media_mode { MEDIA_OK, MEDIA_HOLD };

static uv_loop_t loop;
static struct shm_proc slot;
static cfg_t *cfg;
static b2b_t *b2b;
static struct peer sipd, routerd, mediad, mediad2, apid;
static enum route_mode route_mode;
static enum media_mode media_mode;
static unsigned n_bindings;
static bool nat_mode; /* the caller and bob's first binding are behind NAT */
/* bob's bindings are two RFC 5626 flows (TCP) of one instance; path_mode: the first was
 * registered through a Path */
static bool outbound_mode, path_mode;
static uint64_t held_request; /* a RouteRequest's id left unanswered (ROUTE_HOLD) */
static uint64_t next_txn;

/* ---------------------------------------------------------------- the fakes */

static void record(struct peer *p, const Sb__Envelope *env) {
    assert_true(p->nseen < MAX_SEEN);
    size_t len = sb__envelope__get_packed_size(env);
    uint8_t *data = malloc(len ? len : 1);
    assert_non_null(data);
    sb__envelope__pack(env, data);
    p->seen[p->nseen].data = data;
    p->seen[p->nseen].len = len;
    p->nseen++;
}

static void sipd_on_envelope(ipc_chan_t *ch, Sb__Envelope *env, void *arg) {
    (void)ch;
    (void)arg;
    record(&sipd, env);
}

static void routerd_on_envelope(ipc_chan_t *ch, Sb__Envelope *env, void *arg) {
    (void)arg;
    record(&routerd, env);
    Sb__Envelope out = SB__ENVELOPE__INIT;
    if (env->body_case == SB__ENVELOPE__BODY_ROUTE_REQUEST) {
        if (route_mode == ROUTE_HOLD) {
            held_request = env->request_id;
            return;
        }
        Sb__RouteReply rr = SB__ROUTE_REPLY__INIT;
        Sb__RouteAction a = SB__ROUTE_ACTION__INIT, *as[1] = {&a};
        rr.status = 200;
        rr.route_id = "r1";
        rr.n_actions = 1;
        rr.actions = as;
        if (route_mode == ROUTE_HANGUP_486) {
            a.type = SB__ROUTE_ACTION_TYPE__ROUTE_ACTION_HANGUP;
            a.status = 486;
        } else {
            a.type = SB__ROUTE_ACTION_TYPE__ROUTE_ACTION_DIAL;
            a.timeout = 30;
            if (route_mode == ROUTE_AOR)
                a.aor = "sip:bob@example.com";
            else
                a.uri = "sip:bob@10.0.0.2";
        }
        out.body_case = SB__ENVELOPE__BODY_ROUTE_REPLY;
        out.route_reply = &rr;
        assert_int_equal(ipc_reply(ch, env, &out), 0);
    } else if (env->body_case == SB__ENVELOPE__BODY_LOCATION_REQUEST) {
        Sb__LocationReply lr = SB__LOCATION_REPLY__INIT;
        Sb__Binding b1 = SB__BINDING__INIT, b2 = SB__BINDING__INIT, *bs[2] = {&b1, &b2};
        b1.uri = "sip:bob@10.0.0.2";
        Sb__SipPeer src = SB__SIP_PEER__INIT;
        if (nat_mode) {
            src.transport = "udp";
            src.addr = "203.0.113.9";
            src.port = 41000;
            src.local_addr = "192.0.2.2";
            src.local_port = 5060;
            src.nated = true;
            b1.source = &src;
        }
        b2.uri = "sip:bob@10.0.0.3";
        Sb__SipPeer f1 = SB__SIP_PEER__INIT, f2 = SB__SIP_PEER__INIT;
        char *path[1] = {"<sip:edge.example.com;lr>"};
        if (outbound_mode) {
            Sb__SipPeer *f[2] = {&f1, &f2};
            for (int i = 0; i < 2; i++) {
                f[i]->transport = "tcp";
                f[i]->addr = "198.51.100.7";
                f[i]->port = 41001 + (uint32_t)i;
                f[i]->conn_id = 11 + (uint64_t)i;
                f[i]->outbound = true;
                f[i]->instance = "<urn:uuid:1>";
            }
            b1.source = &f1;
            b2.source = &f2;
        }
        if (path_mode) {
            f1.transport = "udp";
            f1.addr = "192.0.2.50";
            f1.port = 5060;
            f1.n_path = 1;
            f1.path = path;
            b1.source = &f1;
        }
        lr.status = 200;
        lr.n_bindings = n_bindings;
        lr.bindings = bs;
        out.body_case = SB__ENVELOPE__BODY_LOCATION_REPLY;
        out.location_reply = &lr;
        assert_int_equal(ipc_reply(ch, env, &out), 0);
    }
}

/* mediad's rewrite of an SDP: "m(" + the SDP + ")", so a test sees which one it was. */
static void mediad_on_envelope(ipc_chan_t *ch, Sb__Envelope *env, void *arg) {
    struct peer *self = arg;
    record(self, env);
    if (!env->request_id || media_mode == MEDIA_HOLD)
        return;
    Sb__MediaReply rep = SB__MEDIA_REPLY__INIT;
    char sdp[512], local[] = "local-a";
    ProtobufCBinaryData in = {0, NULL};
    if (env->body_case == SB__ENVELOPE__BODY_MEDIA_CREATE)
        in = env->media_create->sdp;
    else if (env->body_case == SB__ENVELOPE__BODY_MEDIA_UPDATE)
        in = env->media_update->sdp;
    int n = snprintf(sdp, sizeof sdp, "m(%.*s)", (int)in.len, (const char *)in.data);
    rep.status = SB__MEDIA_STATUS__MEDIA_STATUS_OK;
    rep.session_id = self == &mediad2 ? 88 : 77;
    rep.instance = self == &mediad2 ? 1 : 0;
    rep.sdp.data = (uint8_t *)sdp;
    rep.sdp.len = (size_t)n;
    rep.sdp_local.data = (uint8_t *)local;
    rep.sdp_local.len = strlen(local);
    Sb__Envelope out = SB__ENVELOPE__INIT;
    out.body_case = SB__ENVELOPE__BODY_MEDIA_REPLY;
    out.media_reply = &rep;
    assert_int_equal(ipc_reply(ch, env, &out), 0);
}

static const struct ipc_handlers dialogd_handlers = {NULL, NULL, NULL};
static const struct ipc_handlers sipd_handlers = {sipd_on_envelope, NULL, NULL};
static const struct ipc_handlers routerd_handlers = {routerd_on_envelope, NULL, NULL};
static const struct ipc_handlers mediad_handlers = {mediad_on_envelope, NULL, NULL};

static void apid_on_envelope(ipc_chan_t *ch, Sb__Envelope *env, void *arg) {
    (void)ch;
    (void)arg;
    record(&apid, env);
}

static const struct ipc_handlers apid_handlers = {apid_on_envelope, NULL, NULL};

static void peer_open(struct peer *p, const struct ipc_handlers *h) {
    int sv[2];
    memset(p, 0, sizeof *p);
    assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv), 0);
    p->ours = ipc_chan_open(&loop, sv[0], &dialogd_handlers, NULL, 65536);
    p->theirs = ipc_chan_open(&loop, sv[1], h, p, 65536);
    assert_non_null(p->ours);
    assert_non_null(p->theirs);
}

static void peer_close(struct peer *p) {
    if (p->ours)
        ipc_chan_close(p->ours);
    ipc_chan_close(p->theirs);
    for (size_t i = 0; i < p->nseen; i++)
        free(p->seen[i].data);
}

static struct peer *peer_of(enum sb_role role) {
    switch (role) {
    case SB_ROLE_sipd:
        return &sipd;
    case SB_ROLE_routerd:
        return &routerd;
    case SB_ROLE_mediad:
        return &mediad;
    default:
        return NULL;
    }
}

static ipc_chan_t *io_pick(void *arg, enum sb_role role, uint64_t key) {
    (void)arg;
    (void)key;
    struct peer *p = peer_of(role);
    return p ? p->ours : NULL;
}

static ipc_chan_t *io_instance(void *arg, enum sb_role role, int n) {
    (void)arg;
    if (role == SB_ROLE_mediad && n == 1)
        return mediad2.ours;
    struct peer *p = peer_of(role);
    return p && n == 0 ? p->ours : NULL;
}

static int io_media_pick(void *arg, int except) {
    (void)arg;
    return except == 0 ? 1 : 0; /* a move goes from mediad 0 to mediad 1 */
}

static redisAsyncContext *io_redis(void *arg) {
    (void)arg;
    return NULL;
}

static const cfg_t *io_cfg(void *arg) {
    (void)arg;
    return cfg;
}

static bool io_draining(void *arg) {
    (void)arg;
    return false;
}

static void pump(void) {
    for (int i = 0; i < 20; i++)
        uv_run(&loop, UV_RUN_NOWAIT);
}

static int setup(void **state) {
    (void)state;
    memset(&slot, 0, sizeof slot);
    route_mode = ROUTE_URI;
    media_mode = MEDIA_OK;
    n_bindings = 1;
    nat_mode = false;
    outbound_mode = path_mode = false;
    held_request = 0;
    next_txn = 100;
    assert_int_equal(uv_loop_init(&loop), 0);
    static const char text[] = "session_min_se = 2\n";
    char err[256];
    cfg = cfg_parse(text, strlen(text), "main.cf", "/tmp", err, sizeof err);
    assert_non_null(cfg);
    peer_open(&sipd, &sipd_handlers);
    peer_open(&routerd, &routerd_handlers);
    peer_open(&mediad, &mediad_handlers);
    peer_open(&mediad2, &mediad_handlers);
    peer_open(&apid, &apid_handlers);
    struct b2b_io io = {.pick = io_pick,
                        .instance = io_instance,
                        .media_pick = io_media_pick,
                        .redis = io_redis,
                        .cfg = io_cfg,
                        .draining = io_draining};
    b2b = b2bua_start(&loop, &io, &slot, NULL, 0);
    assert_non_null(b2b);
    return 0;
}

static int teardown(void **state) {
    (void)state;
    /* the channels that may owe dialogd an answer close while the b2b lives: their pending
     * requests fail into live calls (the other order is test_stop_then_close_..., below) */
    peer_close(&routerd);
    peer_close(&mediad);
    peer_close(&mediad2);
    b2bua_stop(b2b);
    peer_close(&apid);
    peer_close(&sipd);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&loop), 0);
    cfg_free(cfg);
    return 0;
}

/* ---------------------------------------------------------------- what dialogd sent */

/* The i-th envelope sipd got (unpacked; free with sb__envelope__free_unpacked). */
static Sb__Envelope *seen(struct peer *p, size_t i) {
    Sb__Envelope *e = sb__envelope__unpack(NULL, p->seen[i].len, p->seen[i].data);
    assert_non_null(e);
    return e;
}

static void env_free(Sb__Envelope *e) {
    if (e)
        sb__envelope__free_unpacked(e, NULL);
}

/* The envelopes of kind sipd got from index from on, counted. */
static size_t count_kind(struct peer *p, size_t from, Sb__Envelope__BodyCase kind) {
    size_t n = 0;
    for (size_t i = from; i < p->nseen; i++) {
        Sb__Envelope *e = seen(p, i);
        n += e->body_case == kind;
        env_free(e);
    }
    return n;
}

/* The last SipSendRequest with method (NULL any) sent from index from on; NULL none. */
static Sb__Envelope *last_request(size_t from, const char *method) {
    for (size_t i = sipd.nseen; i-- > from;) {
        Sb__Envelope *e = seen(&sipd, i);
        if (e->body_case == SB__ENVELOPE__BODY_SIP_SEND_REQUEST &&
            (!method || strcmp(e->sip_send_request->msg->method, method) == 0))
            return e;
        env_free(e);
    }
    return NULL;
}

/* The requests with method sent from index from on. */
static size_t count_requests(size_t from, const char *method) {
    size_t n = 0;
    for (size_t i = from; i < sipd.nseen; i++) {
        Sb__Envelope *e = seen(&sipd, i);
        n += e->body_case == SB__ENVELOPE__BODY_SIP_SEND_REQUEST &&
             strcmp(e->sip_send_request->msg->method, method) == 0;
        env_free(e);
    }
    return n;
}

/* The status of the last SipRespond to txn from index from on; 0 none. */
static unsigned last_status(size_t from, uint64_t txn) {
    for (size_t i = sipd.nseen; i-- > from;) {
        Sb__Envelope *e = seen(&sipd, i);
        if (e->body_case == SB__ENVELOPE__BODY_SIP_RESPOND && e->sip_respond->txn_id == txn) {
            unsigned s = e->sip_respond->msg->status;
            env_free(e);
            return s;
        }
        env_free(e);
    }
    return 0;
}

/* The body of the last SipRespond to txn, as a string in out. */
static const char *last_response_body(uint64_t txn, char *out, size_t cap) {
    out[0] = '\0';
    for (size_t i = sipd.nseen; i-- > 0;) {
        Sb__Envelope *e = seen(&sipd, i);
        if (e->body_case == SB__ENVELOPE__BODY_SIP_RESPOND && e->sip_respond->txn_id == txn) {
            snprintf(out, cap, "%.*s", (int)e->sip_respond->msg->body.len,
                     (const char *)e->sip_respond->msg->body.data);
            env_free(e);
            return out;
        }
        env_free(e);
    }
    return out;
}

/* ---------------------------------------------------------------- what sipd hands on */

struct req {
    const char *method;
    Sb__SipMethod id;
    const char *call_id, *from_tag, *to_tag, *body, *refer_to;
    const char *ctype; /* the body's type, an SDP when NULL */
    unsigned se_secs; /* Session-Expires as sipd parsed it, 0: none */
    Sb__SipRefresher se_refresher;
    uint32_t cseq;
    uint64_t txn; /* the server transaction (a CANCEL names its INVITE's), 0: a new one */
    bool mf_given; /* Max-Forwards: mf; else absent (-1, as sipd says) */
    int mf;
};

/* A request from sipd; its server transaction's id. */
static uint64_t request_in(const struct req *r) {
    Sb__SipRequestIn in = SB__SIP_REQUEST_IN__INIT;
    Sb__SipMessage m = SB__SIP_MESSAGE__INIT;
    in.txn_id = r->txn ? r->txn : ++next_txn;
    in.msg = &m;
    Sb__SipPeer src = SB__SIP_PEER__INIT;
    src.transport = "udp";
    src.addr = "203.0.113.7";
    src.port = 40000;
    src.local_addr = "192.0.2.1";
    src.local_port = 5060;
    src.nated = nat_mode;
    in.source = &src;
    m.method = (char *)r->method;
    m.method_id = r->id;
    m.request_uri = "sip:bob@example.com";
    m.call_id = (char *)r->call_id;
    m.cseq = r->cseq ? r->cseq : 1;
    m.max_forwards = r->mf_given ? r->mf : -1;
    m.from_uri = "sip:alice@example.com";
    m.from_tag = (char *)(r->from_tag ? r->from_tag : "fa");
    m.to_uri = "sip:bob@example.com";
    m.to_tag = (char *)r->to_tag;
    m.contact = "sip:alice@10.0.0.1";
    m.ruri_user = "bob";
    m.ruri_host = "example.com";
    m.from_user = "alice";
    m.refer_to = (char *)r->refer_to;
    if (r->refer_to)
        m.refer_to_aor = (char *)r->refer_to;
    if (r->body) {
        m.content_type = (char *)(r->ctype ? r->ctype : CALL_SDP);
        m.body.data = (uint8_t *)r->body;
        m.body.len = strlen(r->body);
    }
    Sb__SipSessionTimer st = SB__SIP_SESSION_TIMER__INIT;
    if (r->se_secs) {
        st.expires = r->se_secs;
        st.refresher = r->se_refresher;
        st.supported = true;
        m.session_timer = &st;
    }
    Sb__Envelope env = SB__ENVELOPE__INIT;
    env.body_case = SB__ENVELOPE__BODY_SIP_REQUEST_IN;
    env.sip_request_in = &in;
    assert_true(b2bua_dispatch(b2b, sipd.ours, &env));
    pump();
    return in.txn_id;
}

/* A response from sipd to the SipSendRequest sr (status, To tag, body). */
static void response_in(const Sb__SipSendRequest *sr, unsigned status, const char *to_tag,
                        const char *body) {
    Sb__SipResponseIn in = SB__SIP_RESPONSE_IN__INIT;
    Sb__SipMessage m = SB__SIP_MESSAGE__INIT;
    in.client_id = sr->client_id;
    in.txn_id = 5000 + (sr->client_id & 0xff);
    in.msg = &m;
    m.status = status;
    m.reason = status == 200 ? "OK" : "Something";
    m.method = sr->msg->method;
    m.method_id = sr->msg->method_id;
    m.call_id = sr->msg->call_id;
    m.cseq = sr->msg->cseq;
    m.from_uri = sr->msg->from_uri;
    m.from_tag = sr->msg->from_tag;
    m.to_uri = sr->msg->to_uri;
    m.to_tag = (char *)to_tag;
    m.contact = "sip:bob@10.0.0.2";
    if (body) {
        m.content_type = CALL_SDP;
        m.body.data = (uint8_t *)body;
        m.body.len = strlen(body);
    }
    Sb__Envelope env = SB__ENVELOPE__INIT;
    env.body_case = SB__ENVELOPE__BODY_SIP_RESPONSE_IN;
    env.sip_response_in = &in;
    assert_true(b2bua_dispatch(b2b, sipd.ours, &env));
    pump();
}

/* Answers the last request with method sent from index from on. */
static void answer_last(size_t from, const char *method, unsigned status, const char *to_tag,
                        const char *body) {
    Sb__Envelope *e = last_request(from, method);
    assert_non_null(e);
    response_in(e->sip_send_request, status, to_tag, body);
    env_free(e);
}

static void ack_timeout(uint64_t txn) {
    Sb__SipTxnEvent te = SB__SIP_TXN_EVENT__INIT;
    te.txn_id = txn;
    te.kind = SB__SIP_TXN_EVENT_KIND__SIP_TXN_EVENT_ACK_TIMEOUT;
    Sb__Envelope env = SB__ENVELOPE__INIT;
    env.body_case = SB__ENVELOPE__BODY_SIP_TXN_EVENT;
    env.sip_txn_event = &te;
    assert_true(b2bua_dispatch(b2b, sipd.ours, &env));
    pump();
}

static struct call *call_of(const char *call_id) {
    int leg;
    return call_find_cid(b2b, call_id, &leg);
}

static const char *state_of(const char *call_id) {
    struct call *c = call_of(call_id);
    return c ? call_state_name(c->state) : "gone";
}

#define INVITE(cid, sdp)                                                                           \
    request_in(&(struct req){"INVITE", SB__SIP_METHOD__SIP_METHOD_INVITE, cid, .body = sdp})
#define CANCEL(cid, invite_txn)                                                                    \
    request_in(&(struct req){"CANCEL", SB__SIP_METHOD__SIP_METHOD_CANCEL, cid, .txn = invite_txn})
/* A's To tag of call cid as an ACK of our 2xx carries it (NULL: no such call). */
static const char *ack_tag(const char *cid) {
    struct call *c = call_of(cid);
    return c ? c->leg[LEG_A].local_tag : NULL;
}
#define ACK(cid, sdp)                                                                              \
    request_in(&(struct req){"ACK", SB__SIP_METHOD__SIP_METHOD_ACK, cid, .body = sdp,              \
                             .to_tag = ack_tag(cid)})

/* A's To tag of call cid (what our 2xx gave A). */
static const char *a_tag(const char *cid) {
    struct call *c = call_of(cid);
    assert_non_null(c);
    return c->leg[LEG_A].local_tag;
}

/* A call from A (no SDP unless sdp) rung at bob: CALLING, the B INVITE out. */
static uint64_t call_to_calling(const char *cid, const char *sdp) {
    uint64_t txn = INVITE(cid, sdp);
    assert_string_equal(state_of(cid), "CALLING");
    return txn;
}

/* ... answered by B (200 with body) and acknowledged by A: CONFIRMED. */
static uint64_t call_to_confirmed(const char *cid) {
    uint64_t txn = call_to_calling(cid, "offer-a");
    answer_last(0, "INVITE", 200, "tb", "answer-b");
    assert_string_equal(state_of(cid), "ANSWERED");
    ACK(cid, NULL);
    assert_string_equal(state_of(cid), "CONFIRMED");
    return txn;
}

/* ---------------------------------------------------------------- NAT */

static void test_nated_legs_are_reached_at_their_sources_and_latched_there(void **state) {
    (void)state;
    nat_mode = true;
    route_mode = ROUTE_AOR;
    INVITE("c40", "offer-a");
    assert_string_equal(state_of("c40"), "CALLING");
    /* mediad latches the caller's media from its signaling source */
    Sb__Envelope *mc = NULL;
    for (size_t i = 0; i < mediad.nseen && !mc; i++) {
        Sb__Envelope *e = seen(&mediad, i);
        if (e->body_case == SB__ENVELOPE__BODY_MEDIA_CREATE)
            mc = e;
        else
            env_free(e);
    }
    assert_non_null(mc);
    assert_string_equal(mc->media_create->nat_ip, "203.0.113.7");
    env_free(mc);
    /* the INVITE to bob goes where his REGISTER came from, from the address it reached */
    Sb__Envelope *e = last_request(0, "INVITE");
    assert_non_null(e);
    const Sb__SipPeer *hop = e->sip_send_request->msg->next_hop;
    assert_non_null(hop);
    assert_string_equal(hop->addr, "203.0.113.9");
    assert_int_equal(hop->port, 41000);
    assert_string_equal(hop->local_addr, "192.0.2.2");
    assert_true(hop->nated);
    env_free(e);
    answer_last(0, "INVITE", 200, "tb", "answer-b");
    ACK("c40", NULL);
    assert_string_equal(state_of("c40"), "CONFIRMED");
    /* the record keeps both hops for a restore */
    char text[DLG_HOP_TEXT_MAX];
    struct call *c = call_of("c40");
    assert_string_equal(dlg_hop_text(&c->leg[LEG_A].hop, text),
                        "udp 203.0.113.7 40000 192.0.2.1 5060 0 0 1");
    Sb__SipPeer back = {0};
    assert_true(dlg_hop_parse(&back, text));
    assert_string_equal(back.addr, "203.0.113.7");
    assert_int_equal(back.port, 40000);
    assert_true(back.nated);
    dlg_peer_free(&back);
    assert_false(dlg_hop_parse(&back, "udp 1.2.3.4 notaport - 0 0 0 0"));
    assert_null(back.base.descriptor);
    /* bob hangs up: our BYE reaches the caller through its NAT */
    char bcid[64], btag[64];
    snprintf(bcid, sizeof bcid, "%s", c->leg[LEG_B].call_id);
    snprintf(btag, sizeof btag, "%s", c->leg[LEG_B].local_tag);
    size_t mark = sipd.nseen;
    request_in(&(struct req){"BYE", SB__SIP_METHOD__SIP_METHOD_BYE, bcid, .from_tag = "tb",
                             .to_tag = btag, .cseq = 5});
    e = last_request(mark, "BYE");
    assert_non_null(e);
    hop = e->sip_send_request->msg->next_hop;
    assert_non_null(hop);
    assert_string_equal(hop->addr, "203.0.113.7");
    assert_int_equal(hop->port, 40000);
    assert_string_equal(hop->local_addr, "192.0.2.1");
    env_free(e);
    answer_last(mark, "BYE", 200, NULL, NULL);
    assert_string_equal(state_of("c40"), "gone");
}

static void test_a_leg_not_behind_nat_gets_only_its_local_address(void **state) {
    (void)state;
    call_to_confirmed("c41");
    size_t mark = sipd.nseen;
    struct call *c = call_of("c41");
    char bcid[64], btag[64];
    snprintf(bcid, sizeof bcid, "%s", c->leg[LEG_B].call_id);
    snprintf(btag, sizeof btag, "%s", c->leg[LEG_B].local_tag);
    request_in(&(struct req){"BYE", SB__SIP_METHOD__SIP_METHOD_BYE, bcid, .from_tag = "tb",
                             .to_tag = btag, .cseq = 5});
    Sb__Envelope *e = last_request(mark, "BYE");
    assert_non_null(e);
    const Sb__SipPeer *hop = e->sip_send_request->msg->next_hop;
    assert_non_null(hop);
    assert_string_equal(hop->addr, ""); /* its Contact is reachable */
    assert_string_equal(hop->local_addr, "192.0.2.1");
    assert_false(hop->nated);
    env_free(e);
}

static void test_info_in_confirmed_is_relayed_with_its_body_and_answered(void **state) {
    (void)state;
    call_to_confirmed("c42");
    size_t mark = sipd.nseen, media = mediad.nseen;
    uint64_t info = request_in(&(struct req){"INFO", SB__SIP_METHOD__SIP_METHOD_INFO, "c42",
                                             .to_tag = a_tag("c42"), .cseq = 2,
                                             .ctype = "application/dtmf-relay",
                                             .body = "Signal=5\r\nDuration=160\r\n"});
    Sb__Envelope *e = last_request(mark, "INFO");
    assert_non_null(e);
    const Sb__SipMessage *m = e->sip_send_request->msg;
    assert_string_equal(m->to_tag, "tb");
    assert_string_equal(m->content_type, "application/dtmf-relay");
    assert_int_equal(m->body.len, strlen("Signal=5\r\nDuration=160\r\n"));
    assert_memory_equal(m->body.data, "Signal=5", 8);
    response_in(e->sip_send_request, 200, "tb", NULL);
    env_free(e);
    assert_int_equal(last_status(mark, info), 200);
    assert_int_equal(count_requests(mark, "ACK"), 0);      /* no ACK for an INFO */
    assert_int_equal(mediad.nseen, media);                 /* and nothing for mediad */
    assert_string_equal(state_of("c42"), "CONFIRMED");
}

static void test_in_dialog_request_of_an_unknown_call_asks_redis(void **state) {
    (void)state;
    /* no Redis in this test: the lookup cannot be made, so 503 (not 481: it may exist) */
    uint64_t re = request_in(&(struct req){"INVITE", SB__SIP_METHOD__SIP_METHOD_INVITE, "nowhere",
                                           .to_tag = "t1", .cseq = 2, .body = "re-a"});
    assert_int_equal(last_status(0, re), 503);
    uint64_t info = request_in(&(struct req){"INFO", SB__SIP_METHOD__SIP_METHOD_INFO, "nowhere",
                                             .to_tag = "t1", .cseq = 3});
    assert_int_equal(last_status(0, info), 503);
    /* a request outside any dialog is not looked for */
    uint64_t upd = request_in(&(struct req){"UPDATE", SB__SIP_METHOD__SIP_METHOD_UPDATE,
                                            "nowhere", .cseq = 4});
    assert_int_equal(last_status(0, upd), 481);
}

/* ---------------------------------------------------------------- ROUTING, CALLING, EARLY */

static void test_invite_routes_and_rings_the_callee(void **state) {
    (void)state;
    call_to_calling("c1", NULL);
    assert_int_equal(count_kind(&routerd, 0, SB__ENVELOPE__BODY_ROUTE_REQUEST), 1);
    Sb__Envelope *e = last_request(0, "INVITE");
    assert_non_null(e);
    assert_string_equal(e->sip_send_request->msg->request_uri, "sip:bob@10.0.0.2");
    assert_int_equal(e->sip_send_request->msg->cseq, 1);
    assert_int_equal(strncmp(e->sip_send_request->msg->call_id, "sbd0.", 5), 0);
    env_free(e);
}

/* RFC 3261 16.6 step 3 for a B2BUA: the B leg has one hop less than A's INVITE (70 when
 * A's had no Max-Forwards), written as it is, 0 included. */
static void test_b_leg_invite_carries_max_forwards_minus_one(void **state) {
    (void)state;
    request_in(&(struct req){"INVITE", SB__SIP_METHOD__SIP_METHOD_INVITE, "c1mf", .mf_given = true,
                             .mf = 9});
    Sb__Envelope *e = last_request(0, "INVITE");
    assert_non_null(e);
    assert_int_equal(e->sip_send_request->msg->max_forwards, 8);
    assert_true(e->sip_send_request->msg->max_forwards_set);
    env_free(e);
    size_t mark = sipd.nseen;
    request_in(&(struct req){"INVITE", SB__SIP_METHOD__SIP_METHOD_INVITE, "c1mf1", .mf_given = true,
                             .mf = 1});
    e = last_request(mark, "INVITE");
    assert_non_null(e);
    assert_int_equal(e->sip_send_request->msg->max_forwards, 0);
    assert_true(e->sip_send_request->msg->max_forwards_set);
    env_free(e);
    mark = sipd.nseen;
    INVITE("c1mf2", NULL);
    e = last_request(mark, "INVITE");
    assert_non_null(e);
    assert_int_equal(e->sip_send_request->msg->max_forwards, 70);
    env_free(e);
}

static void test_cancel_while_routing_gets_487_after_the_route(void **state) {
    (void)state;
    route_mode = ROUTE_HOLD;
    uint64_t txn = INVITE("c2", NULL);
    assert_string_equal(state_of("c2"), "ROUTING");
    CANCEL("c2", txn);
    assert_string_equal(state_of("c2"), "ROUTING");
    assert_int_equal(last_status(0, txn), 0);
    /* the route's answer comes: nothing rings, A hears 487 */
    Sb__RouteReply rr = SB__ROUTE_REPLY__INIT;
    Sb__RouteAction a = SB__ROUTE_ACTION__INIT, *as[1] = {&a};
    a.type = SB__ROUTE_ACTION_TYPE__ROUTE_ACTION_DIAL;
    a.uri = "sip:bob@10.0.0.2";
    rr.status = 200;
    rr.n_actions = 1;
    rr.actions = as;
    Sb__Envelope req = SB__ENVELOPE__INIT, out = SB__ENVELOPE__INIT;
    req.request_id = held_request;
    out.body_case = SB__ENVELOPE__BODY_ROUTE_REPLY;
    out.route_reply = &rr;
    assert_int_equal(ipc_reply(routerd.theirs, &req, &out), 0);
    pump();
    assert_int_equal(last_status(0, txn), 487);
    assert_int_equal(count_requests(0, "INVITE"), 0);
    assert_string_equal(state_of("c2"), "gone");
}

static void test_cancel_while_calling_cancels_the_fork_and_its_487_gives_a_487(void **state) {
    (void)state;
    uint64_t txn = call_to_calling("c3", NULL);
    answer_last(0, "INVITE", 180, "tb", NULL); /* B's transaction is known: CANCEL can go */
    assert_int_equal(last_status(0, txn), 180);
    size_t mark = sipd.nseen;
    CANCEL("c3", txn);
    assert_int_equal(count_kind(&sipd, mark, SB__ENVELOPE__BODY_SIP_CANCEL), 1);
    assert_string_equal(state_of("c3"), "CALLING");
    answer_last(0, "INVITE", 487, "tb", NULL);
    assert_int_equal(last_status(0, txn), 487);
    assert_string_equal(state_of("c3"), "gone");
}

static void test_cancel_before_any_answer_of_the_fork_gives_487_at_once(void **state) {
    (void)state;
    uint64_t txn = call_to_calling("c3b", NULL);
    CANCEL("c3b", txn);
    assert_int_equal(last_status(0, txn), 487);
    assert_string_equal(state_of("c3b"), "gone");
}

static void test_cancel_with_another_txn_is_ignored(void **state) {
    (void)state;
    uint64_t txn = call_to_calling("c3c", NULL);
    CANCEL("c3c", txn + 1000);
    assert_string_equal(state_of("c3c"), "CALLING");
    assert_int_equal(last_status(0, txn), 0);
}

static void test_180_is_relayed_to_a_in_calling(void **state) {
    (void)state;
    uint64_t txn = call_to_calling("c4", NULL);
    answer_last(0, "INVITE", 180, "tb", NULL);
    assert_int_equal(last_status(0, txn), 180);
    assert_string_equal(state_of("c4"), "CALLING");
}

static void test_183_with_sdp_goes_early_and_a_gets_the_rewrite(void **state) {
    (void)state;
    uint64_t txn = call_to_calling("c5", "offer-a");
    assert_int_equal(count_kind(&mediad, 0, SB__ENVELOPE__BODY_MEDIA_CREATE), 1);
    Sb__Envelope *e = last_request(0, "INVITE");
    assert_int_equal((int)e->sip_send_request->msg->body.len, (int)strlen("m(offer-a)"));
    assert_memory_equal(e->sip_send_request->msg->body.data, "m(offer-a)", 10);
    env_free(e);
    answer_last(0, "INVITE", 183, "tb", "early-b");
    assert_string_equal(state_of("c5"), "EARLY");
    assert_int_equal(last_status(0, txn), 183);
    char body[256];
    assert_string_equal(last_response_body(txn, body, sizeof body), "m(early-b)");
    /* CANCEL in EARLY: the fork is cancelled, its 487 gives A 487 */
    size_t mark = sipd.nseen;
    CANCEL("c5", txn);
    assert_int_equal(count_kind(&sipd, mark, SB__ENVELOPE__BODY_SIP_CANCEL), 1);
    answer_last(0, "INVITE", 487, "tb", NULL);
    assert_int_equal(last_status(0, txn), 487);
    assert_string_equal(state_of("c5"), "gone");
    assert_int_equal(count_kind(&mediad, 0, SB__ENVELOPE__BODY_MEDIA_DESTROY), 1);
}

static void test_2xx_answers_a_with_the_rewritten_sdp(void **state) {
    (void)state;
    uint64_t txn = call_to_calling("c6", "offer-a");
    size_t mark = sipd.nseen;
    answer_last(0, "INVITE", 200, "tb", "answer-b");
    assert_string_equal(state_of("c6"), "ANSWERED");
    assert_int_equal(last_status(0, txn), 200);
    char body[256];
    assert_string_equal(last_response_body(txn, body, sizeof body), "m(answer-b)");
    Sb__Envelope *ack = last_request(mark, "ACK");
    assert_non_null(ack);
    assert_int_equal(ack->sip_send_request->msg->cseq, 1);
    assert_string_equal(ack->sip_send_request->msg->to_tag, "tb");
    env_free(ack);
    ACK("c6", NULL);
    assert_string_equal(state_of("c6"), "CONFIRMED");
}

static void test_486_with_no_action_left_gives_a_486(void **state) {
    (void)state;
    uint64_t txn = call_to_calling("c7", NULL);
    answer_last(0, "INVITE", 486, "tb", NULL);
    assert_int_equal(last_status(0, txn), 486);
    assert_string_equal(state_of("c7"), "gone");
}

static void test_hangup_route_gives_its_status(void **state) {
    (void)state;
    route_mode = ROUTE_HANGUP_486;
    uint64_t txn = INVITE("c7b", NULL);
    assert_int_equal(last_status(0, txn), 486);
    assert_string_equal(state_of("c7b"), "gone");
}

static void test_second_fork_2xx_after_the_first_gets_ack_and_bye(void **state) {
    (void)state;
    route_mode = ROUTE_AOR;
    n_bindings = 2;
    uint64_t txn = INVITE("c8", "offer-a");
    assert_string_equal(state_of("c8"), "CALLING");
    assert_int_equal(count_requests(0, "INVITE"), 2);
    Sb__Envelope *f0 = NULL, *f1 = NULL;
    for (size_t i = 0; i < sipd.nseen; i++) {
        Sb__Envelope *e = seen(&sipd, i);
        if (e->body_case == SB__ENVELOPE__BODY_SIP_SEND_REQUEST && !f0)
            f0 = e;
        else if (e->body_case == SB__ENVELOPE__BODY_SIP_SEND_REQUEST && !f1)
            f1 = e;
        else
            env_free(e);
    }
    assert_non_null(f1);
    assert_string_equal(f1->sip_send_request->msg->request_uri, "sip:bob@10.0.0.3");
    response_in(f0->sip_send_request, 200, "t0", "answer-0");
    assert_string_equal(state_of("c8"), "ANSWERED");
    assert_int_equal(last_status(0, txn), 200);
    size_t mark = sipd.nseen;
    response_in(f1->sip_send_request, 200, "t1", "answer-1");
    Sb__Envelope *ack = last_request(mark, "ACK"), *bye = last_request(mark, "BYE");
    assert_non_null(ack);
    assert_non_null(bye);
    assert_string_equal(ack->sip_send_request->msg->call_id, f1->sip_send_request->msg->call_id);
    assert_string_equal(bye->sip_send_request->msg->call_id, f1->sip_send_request->msg->call_id);
    assert_string_equal(bye->sip_send_request->msg->to_tag, "t1");
    env_free(ack);
    env_free(bye);
    env_free(f0);
    env_free(f1);
    assert_string_equal(state_of("c8"), "ANSWERED");
}

/* ---------------------------------------------------------------- ANSWERED, LATE_ACK */

static void test_late_offer_ack_answer_goes_to_mediad_and_to_b(void **state) {
    (void)state;
    uint64_t txn = call_to_calling("c9", NULL);
    size_t mark = sipd.nseen;
    answer_last(0, "INVITE", 200, "tb", "offer-b");
    assert_string_equal(state_of("c9"), "LATE_ACK");
    assert_int_equal(count_requests(mark, "ACK"), 0); /* our ACK waits for A's answer */
    char body[256];
    assert_string_equal(last_response_body(txn, body, sizeof body), "m(offer-b)");
    ACK("c9", "answer-a");
    assert_string_equal(state_of("c9"), "CONFIRMED");
    Sb__Envelope *ack = last_request(mark, "ACK");
    assert_non_null(ack);
    assert_int_equal((int)ack->sip_send_request->msg->body.len, (int)strlen("m(answer-a)"));
    assert_memory_equal(ack->sip_send_request->msg->body.data, "m(answer-a)", 11);
    env_free(ack);
}

static void test_late_offer_ack_without_sdp_ends_the_call(void **state) {
    (void)state;
    call_to_calling("c10", NULL);
    size_t mark = sipd.nseen;
    answer_last(0, "INVITE", 200, "tb", "offer-b");
    assert_string_equal(state_of("c10"), "LATE_ACK");
    ACK("c10", NULL);
    assert_string_equal(state_of("c10"), "ENDING");
    assert_int_equal(count_requests(mark, "ACK"), 1);
    assert_int_equal(count_requests(mark, "BYE"), 2);
}

static void test_ack_timeout_in_answered_hangs_up_both(void **state) {
    (void)state;
    uint64_t txn = call_to_calling("c11", "offer-a");
    answer_last(0, "INVITE", 200, "tb", "answer-b");
    assert_string_equal(state_of("c11"), "ANSWERED");
    size_t mark = sipd.nseen;
    ack_timeout(txn);
    assert_string_equal(state_of("c11"), "ENDING");
    assert_int_equal(count_requests(mark, "BYE"), 2);
    answer_last(mark, "BYE", 200, NULL, NULL);
    Sb__Envelope *first = NULL;
    for (size_t i = mark; i < sipd.nseen && !first; i++) {
        Sb__Envelope *e = seen(&sipd, i);
        if (e->body_case == SB__ENVELOPE__BODY_SIP_SEND_REQUEST)
            first = e;
        else
            env_free(e);
    }
    response_in(first->sip_send_request, 200, NULL, NULL);
    env_free(first);
    assert_string_equal(state_of("c11"), "gone");
}

static void test_2xx_copy_in_confirmed_is_acked_again(void **state) {
    (void)state;
    call_to_confirmed("c12");
    size_t mark = sipd.nseen;
    answer_last(0, "INVITE", 200, "tb", "answer-b");
    assert_int_equal(count_requests(mark, "ACK"), 1);
    assert_string_equal(state_of("c12"), "CONFIRMED");
}

/* ---------------------------------------------------------------- CONFIRMED, ENDING */

static void test_bye_from_a_in_confirmed_ends_the_call(void **state) {
    (void)state;
    call_to_confirmed("c13");
    size_t mark = sipd.nseen;
    uint64_t bye = request_in(&(struct req){"BYE", SB__SIP_METHOD__SIP_METHOD_BYE, "c13",
                                            .to_tag = a_tag("c13"), .cseq = 2});
    assert_int_equal(last_status(mark, bye), 200);
    Sb__Envelope *e = last_request(mark, "BYE");
    assert_non_null(e);
    assert_string_equal(e->sip_send_request->msg->to_tag, "tb");
    assert_int_equal(e->sip_send_request->msg->cseq, 2);
    env_free(e);
    assert_string_equal(state_of("c13"), "ENDING");
    /* a BYE in ENDING: 481 */
    uint64_t again = request_in(&(struct req){"BYE", SB__SIP_METHOD__SIP_METHOD_BYE, "c13",
                                              .to_tag = a_tag("c13"), .cseq = 3});
    assert_int_equal(last_status(mark, again), 481);
    answer_last(mark, "BYE", 200, NULL, NULL);
    assert_string_equal(state_of("c13"), "gone");
}

static void test_bye_from_b_in_confirmed_ends_the_call(void **state) {
    (void)state;
    call_to_confirmed("c14");
    struct call *c = call_of("c14");
    char bcid[64], btag[64];
    snprintf(bcid, sizeof bcid, "%s", c->leg[LEG_B].call_id);
    snprintf(btag, sizeof btag, "%s", c->leg[LEG_B].local_tag);
    size_t mark = sipd.nseen;
    uint64_t bye = request_in(&(struct req){"BYE", SB__SIP_METHOD__SIP_METHOD_BYE, bcid,
                                            .from_tag = "tb", .to_tag = btag, .cseq = 5});
    assert_int_equal(last_status(mark, bye), 200);
    Sb__Envelope *e = last_request(mark, "BYE");
    assert_non_null(e);
    assert_string_equal(e->sip_send_request->msg->call_id, "c14");
    assert_string_equal(e->sip_send_request->msg->to_tag, "fa");
    env_free(e);
    assert_string_equal(state_of("c14"), "ENDING");
    answer_last(mark, "BYE", 200, NULL, NULL);
    assert_string_equal(state_of("c14"), "gone");
}

/* RFC 3261 12.2.2: a BYE or REFER that names the Call-ID but not both tags of the leg is
 * a third party's: 481, and the call goes on. */
static void test_bye_or_refer_without_both_tags_gets_481_and_the_call_goes_on(void **state) {
    (void)state;
    call_to_confirmed("c14t");
    size_t mark = sipd.nseen;
    uint64_t no_to =
        request_in(&(struct req){"BYE", SB__SIP_METHOD__SIP_METHOD_BYE, "c14t", .cseq = 2});
    assert_int_equal(last_status(mark, no_to), 481);
    uint64_t wrong_to = request_in(&(struct req){"BYE", SB__SIP_METHOD__SIP_METHOD_BYE, "c14t",
                                                 .to_tag = "guessed", .cseq = 3});
    assert_int_equal(last_status(mark, wrong_to), 481);
    uint64_t wrong_from =
        request_in(&(struct req){"BYE", SB__SIP_METHOD__SIP_METHOD_BYE, "c14t", .from_tag = "other",
                                 .to_tag = a_tag("c14t"), .cseq = 4});
    assert_int_equal(last_status(mark, wrong_from), 481);
    uint64_t refer = request_in(&(struct req){"REFER", SB__SIP_METHOD__SIP_METHOD_REFER, "c14t",
                                              .to_tag = "guessed", .cseq = 5,
                                              .refer_to = "sip:1002@example.com"});
    assert_int_equal(last_status(mark, refer), 481);
    uint64_t up = request_in(&(struct req){"UPDATE", SB__SIP_METHOD__SIP_METHOD_UPDATE, "c14t",
                                           .from_tag = "other", .to_tag = a_tag("c14t"), .cseq = 6,
                                           .body = "new-a"});
    assert_int_equal(last_status(mark, up), 481);
    assert_int_equal(count_requests(mark, "BYE"), 0);
    assert_int_equal(count_requests(mark, "UPDATE"), 0);
    assert_string_equal(state_of("c14t"), "CONFIRMED");
    uint64_t bye = request_in(&(struct req){"BYE", SB__SIP_METHOD__SIP_METHOD_BYE, "c14t",
                                            .to_tag = a_tag("c14t"), .cseq = 7});
    assert_int_equal(last_status(mark, bye), 200);
    answer_last(mark, "BYE", 200, NULL, NULL);
    assert_string_equal(state_of("c14t"), "gone");
}

static void test_reinvite_in_confirmed_is_relayed_and_acked(void **state) {
    (void)state;
    call_to_confirmed("c15");
    size_t mark = sipd.nseen;
    uint64_t re = request_in(&(struct req){"INVITE", SB__SIP_METHOD__SIP_METHOD_INVITE, "c15",
                                           .to_tag = a_tag("c15"), .cseq = 2, .body = "hold-a"});
    assert_string_equal(state_of("c15"), "REINVITING");
    Sb__Envelope *e = last_request(mark, "INVITE");
    assert_non_null(e);
    assert_string_equal(e->sip_send_request->msg->to_tag, "tb");
    assert_int_equal(e->sip_send_request->msg->cseq, 2);
    uint32_t cseq = e->sip_send_request->msg->cseq;
    env_free(e);
    /* a re-INVITE while reinviting: 491 */
    uint64_t second = request_in(&(struct req){"INVITE", SB__SIP_METHOD__SIP_METHOD_INVITE, "c15",
                                               .to_tag = a_tag("c15"), .cseq = 3});
    assert_int_equal(last_status(mark, second), 491);
    answer_last(mark, "INVITE", 200, "tb", "hold-b");
    assert_int_equal(last_status(mark, re), 200);
    Sb__Envelope *ack = last_request(mark, "ACK");
    assert_non_null(ack);
    assert_int_equal(ack->sip_send_request->msg->cseq, cseq);
    env_free(ack);
    assert_string_equal(state_of("c15"), "CONFIRMED");
}

/* A relayed re-INVITE carries its Max-Forwards minus one; with none left it is 483. */
static void test_reinvite_carries_max_forwards_and_0_gets_483(void **state) {
    (void)state;
    call_to_confirmed("c15mf");
    size_t mark = sipd.nseen;
    uint64_t zero = request_in(&(struct req){"INVITE", SB__SIP_METHOD__SIP_METHOD_INVITE, "c15mf",
                                             .to_tag = a_tag("c15mf"), .cseq = 2, .body = "hold-a",
                                             .mf_given = true, .mf = 0});
    assert_int_equal(last_status(mark, zero), 483);
    assert_int_equal(count_requests(mark, "INVITE"), 0);
    assert_string_equal(state_of("c15mf"), "CONFIRMED");
    request_in(&(struct req){"INVITE", SB__SIP_METHOD__SIP_METHOD_INVITE, "c15mf",
                             .to_tag = a_tag("c15mf"), .cseq = 3, .body = "hold-a",
                             .mf_given = true, .mf = 6});
    Sb__Envelope *e = last_request(mark, "INVITE");
    assert_non_null(e);
    assert_int_equal(e->sip_send_request->msg->max_forwards, 5);
    assert_true(e->sip_send_request->msg->max_forwards_set);
    env_free(e);
    answer_last(mark, "INVITE", 200, "tb", "hold-b");
    assert_string_equal(state_of("c15mf"), "CONFIRMED");
}

static void test_update_in_confirmed_is_relayed_without_ack(void **state) {
    (void)state;
    call_to_confirmed("c16");
    size_t mark = sipd.nseen;
    uint64_t up = request_in(&(struct req){"UPDATE", SB__SIP_METHOD__SIP_METHOD_UPDATE, "c16",
                                           .to_tag = a_tag("c16"), .cseq = 2, .body = "new-a"});
    assert_string_equal(state_of("c16"), "REINVITING");
    answer_last(mark, "UPDATE", 200, "tb", "new-b");
    assert_int_equal(last_status(mark, up), 200);
    assert_int_equal(count_requests(mark, "ACK"), 0);
    assert_string_equal(state_of("c16"), "CONFIRMED");
}

static void test_reinvite_with_a_wrong_to_tag_gets_481(void **state) {
    (void)state;
    call_to_confirmed("c17");
    size_t mark = sipd.nseen;
    uint64_t re = request_in(&(struct req){"INVITE", SB__SIP_METHOD__SIP_METHOD_INVITE, "c17",
                                           .to_tag = "not-ours", .cseq = 2});
    assert_int_equal(last_status(mark, re), 481);
    assert_string_equal(state_of("c17"), "CONFIRMED");
}

static void test_reinvite_and_refer_while_calling_get_491(void **state) {
    (void)state;
    call_to_calling("c18", NULL);
    size_t mark = sipd.nseen;
    uint64_t re = request_in(&(struct req){"INVITE", SB__SIP_METHOD__SIP_METHOD_INVITE, "c18",
                                           .to_tag = a_tag("c18"), .cseq = 2});
    assert_int_equal(last_status(mark, re), 491);
    uint64_t refer = request_in(&(struct req){"REFER", SB__SIP_METHOD__SIP_METHOD_REFER, "c18",
                                              .to_tag = a_tag("c18"), .cseq = 3,
                                              .refer_to = "sip:carol@example.com"});
    assert_int_equal(last_status(mark, refer), 491);
    assert_string_equal(state_of("c18"), "CALLING");
}

static void test_reinvite_while_answered_gets_491(void **state) {
    (void)state;
    call_to_calling("c19", "offer-a");
    answer_last(0, "INVITE", 200, "tb", "answer-b");
    size_t mark = sipd.nseen;
    uint64_t re = request_in(&(struct req){"INVITE", SB__SIP_METHOD__SIP_METHOD_INVITE, "c19",
                                           .to_tag = a_tag("c19"), .cseq = 2});
    assert_int_equal(last_status(mark, re), 491);
    assert_string_equal(state_of("c19"), "ANSWERED");
}

/* ---------------------------------------------------------------- TRANSFERRING */

/* B refers the call to carol: 202, NOTIFY 100 to B, the target rings. */
static void refer_from_b(const char *cid, size_t *mark, char *bcid, size_t cap) {
    call_to_confirmed(cid);
    struct call *c = call_of(cid);
    char btag[64];
    snprintf(bcid, cap, "%s", c->leg[LEG_B].call_id);
    snprintf(btag, sizeof btag, "%s", c->leg[LEG_B].local_tag);
    *mark = sipd.nseen;
    uint64_t refer =
        request_in(&(struct req){"REFER", SB__SIP_METHOD__SIP_METHOD_REFER, bcid, .from_tag = "tb",
                                 .to_tag = btag, .cseq = 7, .refer_to = "sip:carol@example.com"});
    assert_int_equal(last_status(*mark, refer), 202);
    assert_string_equal(state_of(cid), "TRANSFERRING");
    Sb__Envelope *n = last_request(*mark, "NOTIFY");
    assert_non_null(n);
    assert_string_equal(n->sip_send_request->msg->call_id, bcid);
    assert_memory_equal(n->sip_send_request->msg->body.data, "SIP/2.0 100 Trying", 18);
    env_free(n);
    Sb__Envelope *inv = last_request(*mark, "INVITE");
    assert_non_null(inv);
    assert_string_equal(inv->sip_send_request->msg->request_uri, "sip:bob@10.0.0.2");
    assert_string_not_equal(inv->sip_send_request->msg->call_id, bcid);
    env_free(inv);
}

static void test_refer_in_confirmed_target_200_notifies_and_hangs_up_the_referrer(void **state) {
    (void)state;
    size_t mark;
    char bcid[64];
    refer_from_b("c20", &mark, bcid, sizeof bcid);
    /* while the target rings, a re-INVITE or another REFER from A: 491 */
    size_t mark2 = sipd.nseen;
    uint64_t re = request_in(&(struct req){"INVITE", SB__SIP_METHOD__SIP_METHOD_INVITE, "c20",
                                           .to_tag = a_tag("c20"), .cseq = 2});
    assert_int_equal(last_status(mark2, re), 491);
    uint64_t refer = request_in(&(struct req){"REFER", SB__SIP_METHOD__SIP_METHOD_REFER, "c20",
                                              .to_tag = a_tag("c20"), .cseq = 3,
                                              .refer_to = "sip:dave@example.com"});
    assert_int_equal(last_status(mark2, refer), 491);
    answer_last(mark, "INVITE", 200, "tc", "answer-c");
    assert_string_equal(state_of("c20"), "CONFIRMED");
    Sb__Envelope *n = last_request(mark, "NOTIFY");
    assert_non_null(n);
    assert_memory_equal(n->sip_send_request->msg->body.data, "SIP/2.0 200 OK", 14);
    env_free(n);
    Sb__Envelope *bye = last_request(mark, "BYE");
    assert_non_null(bye);
    assert_string_equal(bye->sip_send_request->msg->call_id, bcid);
    env_free(bye);
    struct call *c = call_of("c20");
    assert_string_equal(c->leg[LEG_B].remote_tag, "tc");
}

static void test_refer_target_486_notifies_and_the_call_goes_on(void **state) {
    (void)state;
    size_t mark;
    char bcid[64];
    refer_from_b("c21", &mark, bcid, sizeof bcid);
    answer_last(mark, "INVITE", 486, "tc", NULL);
    assert_string_equal(state_of("c21"), "CONFIRMED");
    Sb__Envelope *n = last_request(mark, "NOTIFY");
    assert_non_null(n);
    assert_memory_equal(n->sip_send_request->msg->body.data, "SIP/2.0 486 Busy Here", 21);
    env_free(n);
    assert_int_equal(count_requests(mark, "BYE"), 0);
    int leg = -1;
    assert_ptr_equal(call_find_cid(b2b, bcid, &leg), call_of("c21"));
    assert_int_equal(leg, LEG_B);
}

static void test_reinvite_and_bye_in_ending(void **state) {
    (void)state;
    call_to_confirmed("c22");
    size_t mark = sipd.nseen;
    request_in(&(struct req){"BYE", SB__SIP_METHOD__SIP_METHOD_BYE, "c22", .to_tag = a_tag("c22"),
                             .cseq = 2});
    assert_string_equal(state_of("c22"), "ENDING");
    struct call *c = call_of("c22");
    char bcid[64], btag[64];
    snprintf(bcid, sizeof bcid, "%s", c->leg[LEG_B].call_id);
    snprintf(btag, sizeof btag, "%s", c->leg[LEG_B].local_tag);
    uint64_t re = request_in(&(struct req){"INVITE", SB__SIP_METHOD__SIP_METHOD_INVITE, bcid,
                                           .from_tag = "tb", .to_tag = btag, .cseq = 9});
    assert_int_equal(last_status(mark, re), 491);
    uint64_t bye = request_in(&(struct req){"BYE", SB__SIP_METHOD__SIP_METHOD_BYE, bcid,
                                            .from_tag = "tb", .to_tag = btag, .cseq = 10});
    assert_int_equal(last_status(mark, bye), 481);
    /* a late ACK timeout changes nothing */
    ack_timeout(c->leg[LEG_A].txn);
    assert_string_equal(state_of("c22"), "ENDING");
}

/* ---------------------------------------------------------------- session timers */

/* Runs the loop (blocking on its timers) until pred or ms pass. */
static bool run_until(bool (*pred)(size_t), size_t arg, int ms) {
    uint64_t end = uv_hrtime() + (uint64_t)ms * 1000000;
    while (!pred(arg) && uv_hrtime() < end) {
        uv_run(&loop, UV_RUN_NOWAIT);
        usleep(5000);
    }
    return pred(arg);
}

static bool update_sent(size_t from) {
    return count_requests(from, "UPDATE") > 0;
}

/* A's INVITE asks a 2 s session timer with us as the refresher: the 200 carries it. */
static void call_with_timer(const char *cid) {
    uint64_t txn = request_in(&(struct req){"INVITE", SB__SIP_METHOD__SIP_METHOD_INVITE, cid,
                                            .body = "offer-a", .se_secs = 2,
                                            .se_refresher = SB__SIP_REFRESHER__SIP_REFRESHER_UAS});
    assert_string_equal(state_of(cid), "CALLING");
    answer_last(0, "INVITE", 200, "tb", "answer-b");
    assert_int_equal(last_status(0, txn), 200);
    ACK(cid, NULL);
    assert_string_equal(state_of(cid), "CONFIRMED");
}

static void test_session_timer_refresh_update_and_its_200(void **state) {
    (void)state;
    call_with_timer("c23");
    size_t mark = sipd.nseen;
    assert_true(run_until(update_sent, mark, 3000));
    Sb__Envelope *up = last_request(mark, "UPDATE");
    assert_string_equal(up->sip_send_request->msg->call_id, "c23");
    assert_int_equal(up->sip_send_request->msg->body.len, 0);
    bool se = false;
    for (size_t i = 0; i < up->sip_send_request->msg->n_headers; i++)
        se |= strcmp(up->sip_send_request->msg->headers[i]->name, "Session-Expires") == 0 &&
              strcmp(up->sip_send_request->msg->headers[i]->value, "2;refresher=uac") == 0;
    assert_true(se);
    response_in(up->sip_send_request, 200, "fa", NULL);
    env_free(up);
    assert_string_equal(state_of("c23"), "CONFIRMED");
    assert_false(call_of("c23")->leg[LEG_A].timer.pending);
}

static void test_session_timer_refresh_refused_ends_the_call(void **state) {
    (void)state;
    call_with_timer("c24");
    size_t mark = sipd.nseen;
    assert_true(run_until(update_sent, mark, 3000));
    size_t mark2 = sipd.nseen;
    answer_last(mark, "UPDATE", 481, "fa", NULL);
    assert_string_equal(state_of("c24"), "ENDING");
    assert_int_equal(count_requests(mark2, "BYE"), 2);
}

static void test_session_expires_below_min_se_gets_422(void **state) {
    (void)state;
    uint64_t txn =
        request_in(&(struct req){"INVITE", SB__SIP_METHOD__SIP_METHOD_INVITE, "c25", .se_secs = 1});
    assert_int_equal(last_status(0, txn), 422);
    assert_string_equal(state_of("c25"), "gone");
}

/* ---------------------------------------------------------------- MOVING */

static void migrate_from(unsigned instance) {
    Sb__DialogMigrateRequest rq = SB__DIALOG_MIGRATE_REQUEST__INIT;
    rq.mediad = instance;
    Sb__Envelope env = SB__ENVELOPE__INIT;
    env.request_id = 4242;
    env.body_case = SB__ENVELOPE__BODY_DIALOG_MIGRATE;
    env.dialog_migrate = &rq;
    assert_true(b2bua_dispatch(b2b, apid.ours, &env));
    pump();
}

static void test_migrate_moves_a_call_reinviting_b_then_a(void **state) {
    (void)state;
    call_to_confirmed("c26");
    assert_int_equal(call_of("c26")->media_instance, 0);
    size_t mark = sipd.nseen;
    migrate_from(0);
    assert_string_equal(state_of("c26"), "MOVING");
    assert_int_equal(count_kind(&mediad2, 0, SB__ENVELOPE__BODY_MEDIA_CREATE), 1);
    Sb__Envelope *rb = last_request(mark, "INVITE");
    assert_non_null(rb);
    assert_string_equal(rb->sip_send_request->msg->to_tag, "tb"); /* B first */
    /* a re-INVITE from A while moving: 491 */
    uint64_t re = request_in(&(struct req){"INVITE", SB__SIP_METHOD__SIP_METHOD_INVITE, "c26",
                                           .to_tag = a_tag("c26"), .cseq = 2});
    assert_int_equal(last_status(mark, re), 491);
    size_t mark_b = sipd.nseen;
    response_in(rb->sip_send_request, 200, "tb", "moved-b");
    env_free(rb);
    assert_int_equal(count_requests(mark_b, "ACK"), 1);
    Sb__Envelope *ra = last_request(mark_b, "INVITE");
    assert_non_null(ra);
    assert_string_equal(ra->sip_send_request->msg->call_id, "c26"); /* then A */
    assert_string_equal(state_of("c26"), "MOVING");
    size_t mark_a = sipd.nseen;
    response_in(ra->sip_send_request, 200, "fa", "moved-a");
    env_free(ra);
    assert_int_equal(count_requests(mark_a, "ACK"), 1);
    assert_string_equal(state_of("c26"), "CONFIRMED");
    assert_int_equal(call_of("c26")->media_instance, 1);
    assert_int_equal(call_of("c26")->media_session, 88);
    assert_int_equal(count_kind(&mediad, 0, SB__ENVELOPE__BODY_MEDIA_DESTROY), 1);
}

static void test_reinvite_refused_by_the_other_leg_is_refused_alike(void **state) {
    (void)state;
    call_to_confirmed("c28");
    size_t mark = sipd.nseen;
    uint64_t re = request_in(&(struct req){"INVITE", SB__SIP_METHOD__SIP_METHOD_INVITE, "c28",
                                           .to_tag = a_tag("c28"), .cseq = 2, .body = "hold-a"});
    assert_string_equal(state_of("c28"), "REINVITING");
    size_t mark_b = sipd.nseen;
    answer_last(mark, "INVITE", 488, "tb", NULL);
    assert_int_equal(last_status(mark, re), 488);
    assert_string_equal(state_of("c28"), "CONFIRMED");
    /* RFC 3261 17.1.1.3: sipd acknowledges a non-2xx itself; we send no ACK */
    assert_int_equal(count_requests(mark_b, "ACK"), 0);
}

static void test_late_provisional_after_the_answer_is_not_relayed(void **state) {
    (void)state;
    uint64_t txn = call_to_calling("c29", "offer-a");
    answer_last(0, "INVITE", 200, "tb", "answer-b");
    size_t mark = sipd.nseen;
    answer_last(0, "INVITE", 180, "tb", NULL);
    assert_int_equal(last_status(mark, txn), 0);
    assert_string_equal(state_of("c29"), "ANSWERED");
}

static void test_2xx_retransmission_without_client_id_is_acked_again(void **state) {
    (void)state;
    call_to_confirmed("c30");
    struct call *c = call_of("c30");
    Sb__SipSendRequest sr = SB__SIP_SEND_REQUEST__INIT;
    Sb__SipMessage m = SB__SIP_MESSAGE__INIT;
    sr.client_id = 0; /* after its transaction: sipd knows no client of it */
    sr.msg = &m;
    m.method = "INVITE";
    m.method_id = SB__SIP_METHOD__SIP_METHOD_INVITE;
    m.call_id = c->leg[LEG_B].call_id;
    m.cseq = 1;
    size_t mark = sipd.nseen;
    response_in(&sr, 200, "tb", "answer-b");
    Sb__Envelope *ack = last_request(mark, "ACK");
    assert_non_null(ack);
    assert_string_equal(ack->sip_send_request->msg->call_id, call_of("c30")->leg[LEG_B].call_id);
    assert_int_equal(ack->sip_send_request->msg->cseq, 1);
    env_free(ack);
    assert_string_equal(state_of("c30"), "CONFIRMED");
}

static void test_bye_from_a_before_its_answer_gets_481(void **state) {
    (void)state;
    uint64_t txn = call_to_calling("c31", NULL);
    uint64_t bye = request_in(&(struct req){"BYE", SB__SIP_METHOD__SIP_METHOD_BYE, "c31",
                                            .to_tag = a_tag("c31"), .cseq = 2});
    assert_int_equal(last_status(0, bye), 481);
    assert_int_equal(last_status(0, txn), 0);
    assert_string_equal(state_of("c31"), "CALLING");
}

static void test_move_refused_by_b_keeps_the_call_on_its_mediad(void **state) {
    (void)state;
    call_to_confirmed("c32");
    size_t mark = sipd.nseen;
    migrate_from(0);
    assert_string_equal(state_of("c32"), "MOVING");
    answer_last(mark, "INVITE", 488, "tb", NULL);
    assert_string_equal(state_of("c32"), "CONFIRMED");
    assert_int_equal(call_of("c32")->media_instance, 0);
    assert_int_equal(call_of("c32")->media_session, 77);
    /* the new session on mediad 1 goes; nothing is said to A */
    assert_int_equal(count_kind(&mediad2, 0, SB__ENVELOPE__BODY_MEDIA_DESTROY), 1);
    assert_int_equal(count_requests(mark, "INVITE"), 1);
}

static void test_move_refused_by_a_after_b_moved_ends_the_call(void **state) {
    (void)state;
    call_to_confirmed("c33");
    size_t mark = sipd.nseen;
    migrate_from(0);
    size_t mark_a = sipd.nseen;
    answer_last(mark, "INVITE", 200, "tb", "moved-b");
    answer_last(mark_a, "INVITE", 488, "fa", NULL);
    assert_string_equal(state_of("c33"), "ENDING");
    assert_int_equal(count_requests(mark_a, "BYE"), 2);
}

/* B's 2xx without SDP after early media: A's 200 carries the SDP its 183 had (the answer
 * B gave in its 183 stands). */
static void test_2xx_without_sdp_after_early_media_answers_a_with_the_early_sdp(void **state) {
    (void)state;
    uint64_t txn = call_to_calling("c34", "offer-a");
    answer_last(0, "INVITE", 183, "tb", "early-b");
    assert_string_equal(state_of("c34"), "EARLY");
    answer_last(0, "INVITE", 200, "tb", NULL);
    assert_string_equal(state_of("c34"), "ANSWERED");
    assert_int_equal(last_status(0, txn), 200);
    char body[256];
    assert_string_equal(last_response_body(txn, body, sizeof body), "m(early-b)");
}

static void test_refer_from_a_target_486_puts_a_back_in_its_place(void **state) {
    (void)state;
    call_to_confirmed("c35");
    char bcid[64];
    snprintf(bcid, sizeof bcid, "%s", call_of("c35")->leg[LEG_B].call_id);
    size_t mark = sipd.nseen;
    uint64_t refer = request_in(&(struct req){"REFER", SB__SIP_METHOD__SIP_METHOD_REFER, "c35",
                                              .to_tag = a_tag("c35"), .cseq = 2,
                                              .refer_to = "sip:carol@example.com"});
    assert_int_equal(last_status(mark, refer), 202);
    /* the legs changed places: B's dialog is the call's A leg, A's is held aside */
    assert_string_equal(state_of(bcid), "TRANSFERRING");
    assert_non_null(call_find_held(b2b, "c35"));
    Sb__Envelope *n = last_request(mark, "NOTIFY");
    assert_non_null(n);
    assert_string_equal(n->sip_send_request->msg->call_id, "c35");
    env_free(n);
    answer_last(mark, "INVITE", 486, "tc", NULL);
    assert_string_equal(state_of("c35"), "CONFIRMED");
    int leg = -1;
    assert_non_null(call_find_cid(b2b, "c35", &leg));
    assert_int_equal(leg, LEG_A);
    n = last_request(mark, "NOTIFY");
    assert_memory_equal(n->sip_send_request->msg->body.data, "SIP/2.0 486 Busy Here", 21);
    env_free(n);
}

static void test_reinvite_answer_after_the_other_leg_hung_up_is_acked_and_answered(void **state) {
    (void)state;
    call_to_confirmed("c36");
    struct call *c = call_of("c36");
    char bcid[64], btag[64];
    snprintf(bcid, sizeof bcid, "%s", c->leg[LEG_B].call_id);
    snprintf(btag, sizeof btag, "%s", c->leg[LEG_B].local_tag);
    size_t mark = sipd.nseen;
    uint64_t re = request_in(&(struct req){"INVITE", SB__SIP_METHOD__SIP_METHOD_INVITE, "c36",
                                           .to_tag = a_tag("c36"), .cseq = 2, .body = "hold-a"});
    Sb__Envelope *rb = last_request(mark, "INVITE");
    assert_non_null(rb);
    uint32_t cseq = rb->sip_send_request->msg->cseq;
    /* B hangs up while its re-INVITE is out: the BYE is taken (the default) */
    uint64_t bye = request_in(&(struct req){"BYE", SB__SIP_METHOD__SIP_METHOD_BYE, bcid,
                                            .from_tag = "tb", .to_tag = btag, .cseq = 9});
    assert_int_equal(last_status(mark, bye), 200);
    assert_string_equal(state_of("c36"), "ENDING");
    size_t mark2 = sipd.nseen;
    response_in(rb->sip_send_request, 200, "tb", "hold-b");
    env_free(rb);
    Sb__Envelope *ack = last_request(mark2, "ACK");
    assert_non_null(ack);
    assert_int_equal(ack->sip_send_request->msg->cseq, cseq);
    env_free(ack);
    assert_int_equal(last_status(mark2, re), 200);
    assert_string_equal(state_of("c36"), "ENDING");
}

static void test_session_timer_refresh_491_tries_again(void **state) {
    (void)state;
    call_with_timer("c37");
    size_t mark = sipd.nseen;
    assert_true(run_until(update_sent, mark, 3000));
    size_t mark2 = sipd.nseen;
    answer_last(mark, "UPDATE", 491, "fa", NULL);
    assert_string_equal(state_of("c37"), "CONFIRMED");
    assert_int_equal(count_requests(mark2, "BYE"), 0);
    assert_true(run_until(update_sent, mark2, 3000)); /* again, a moment later */
    assert_string_equal(state_of("c37"), "CONFIRMED");
}

/* ---------------------------------------------------------------- every (state, event) */

/* Drives a new call cid to state s; its A server transaction into *txn. */
static void drive_to(enum call_state s, const char *cid, uint64_t *txn) {
    size_t mark;
    char bcid[64];
    route_mode = s == CS_ROUTING ? ROUTE_HOLD : ROUTE_URI;
    switch (s) {
    case CS_ROUTING:
        *txn = INVITE(cid, "offer-a");
        break;
    case CS_CALLING:
        *txn = call_to_calling(cid, "offer-a");
        break;
    case CS_EARLY:
        *txn = call_to_calling(cid, "offer-a");
        answer_last(0, "INVITE", 183, "tb", "early-b");
        break;
    case CS_ANSWERED:
        *txn = call_to_calling(cid, "offer-a");
        answer_last(0, "INVITE", 200, "tb", "answer-b");
        break;
    case CS_LATE_ACK:
        *txn = call_to_calling(cid, NULL);
        answer_last(0, "INVITE", 200, "tb", "offer-b");
        break;
    case CS_CONFIRMED:
        *txn = call_to_confirmed(cid);
        break;
    case CS_REINVITING:
        *txn = call_to_confirmed(cid);
        request_in(&(struct req){"INVITE", SB__SIP_METHOD__SIP_METHOD_INVITE, cid,
                                 .to_tag = a_tag(cid), .cseq = 2, .body = "hold-a"});
        break;
    case CS_TRANSFERRING:
        refer_from_b(cid, &mark, bcid, sizeof bcid);
        *txn = call_of(cid)->leg[LEG_A].txn;
        break;
    case CS_MOVING:
        *txn = call_to_confirmed(cid);
        migrate_from(0);
        break;
    case CS_ENDING:
        *txn = call_to_confirmed(cid);
        request_in(&(struct req){"BYE", SB__SIP_METHOD__SIP_METHOD_BYE, cid, .to_tag = a_tag(cid),
                                 .cseq = 2});
        break;
    case CS_COUNT:
        fail();
    }
    assert_string_equal(state_of(cid), call_state_name(s));
}

/* A response of kind to a request of call cid on leg n (what sipd hands on). */
static void response_of_kind(const char *cid, int n, enum call_kind kind, unsigned status) {
    struct call *c = call_of(cid);
    Sb__SipSendRequest sr = SB__SIP_SEND_REQUEST__INIT;
    Sb__SipMessage m = SB__SIP_MESSAGE__INIT;
    sr.client_id = sipout_client_id(c, 0, n, kind);
    sr.msg = &m;
    m.method = kind == KIND_BYE ? "BYE" : kind == KIND_REFRESH ? "UPDATE" : "INVITE";
    m.call_id = c->leg[n].call_id ? c->leg[n].call_id : (char *)cid;
    m.cseq = 2;
    response_in(&sr, status, n == LEG_B ? "tb" : "fa", status == 200 ? "sdp-x" : NULL);
}

/* Event ev of b2bua's table for call cid, through the envelope its peer would send; the
 * server transaction of a request, else 0. */
static uint64_t fire(int ev, const char *cid, uint64_t txn) {
    struct call *c = call_of(cid);
    if (!c)
        return 0;
    const char *tag = a_tag(cid);
    switch (ev) {
    case 0: /* EV_CANCEL */
        CANCEL(cid, txn);
        break;
    case 1: /* EV_ACK */
        ACK(cid, "answer-a");
        break;
    case 2: /* EV_BYE */
        return request_in(
            &(struct req){"BYE", SB__SIP_METHOD__SIP_METHOD_BYE, cid, .to_tag = tag, .cseq = 20});
    case 3: /* EV_REINVITE */
        return request_in(&(struct req){"INVITE", SB__SIP_METHOD__SIP_METHOD_INVITE, cid,
                                        .to_tag = tag, .cseq = 21, .body = "re-a"});
    case 4: /* EV_REFER */
        return request_in(&(struct req){"REFER", SB__SIP_METHOD__SIP_METHOD_REFER, cid,
                                        .to_tag = tag, .cseq = 22,
                                        .refer_to = "sip:carol@example.com"});
    case 5: /* EV_INVITE_1XX */
    case 6: /* EV_INVITE_2XX */
    case 7: /* EV_INVITE_FAILURE */
        if (count_requests(0, "INVITE"))
            answer_last(0, "INVITE",
                        ev == 5   ? 180
                        : ev == 6 ? 200
                                  : 486,
                        "tb", ev == 6 ? "answer-b" : NULL);
        break;
    case 8: /* EV_REINVITE_ANSWER */
        response_of_kind(cid, LEG_B, KIND_REINVITE, 200);
        break;
    case 9: /* EV_MOVE_ANSWER */
        response_of_kind(cid, LEG_B, KIND_MOVE, 200);
        break;
    case 10: /* EV_REFRESH_ANSWER */
        response_of_kind(cid, LEG_A, KIND_REFRESH, 200);
        break;
    case 11: /* EV_BYE_ANSWER */
        response_of_kind(cid, LEG_B, KIND_BYE, 200);
        break;
    case 12: /* EV_ACK_TIMEOUT */
        ack_timeout(txn);
        break;
    }
    return 0;
}

#define N_EVENTS 13

/* Every event in every state, each on a fresh call: the table or its defaults answer each
 * pair, and the call is left in a state of the table or freed. */
static void test_every_state_takes_every_event(void **state) {
    (void)state;
    for (int s = 0; s < CS_COUNT; s++) {
        for (int ev = 0; ev < N_EVENTS; ev++) {
            /* a fresh b2b per pair: each starts with the fakes' records empty */
            teardown(NULL);
            setup(NULL);
            char cid[32];
            uint64_t txn = 0;
            snprintf(cid, sizeof cid, "m%d.%d", s, ev);
            drive_to((enum call_state)s, cid, &txn);
            size_t mark = sipd.nseen;
            uint64_t req = fire(ev, cid, txn);
            /* RFC 3261 14.2: a re-INVITE or REFER only in CONFIRMED, else 491; a BYE of an
             * ending call, or of one A has no final answer for yet, 481, else 200 */
            if (ev == 3 || ev == 4)
                assert_int_equal(last_status(mark, req),
                                 s == CS_CONFIRMED ? (ev == 4 ? 202 : 0) : 491);
            if (ev == 2)
                assert_int_equal(last_status(mark, req),
                                 s == CS_ENDING || s <= CS_EARLY ? 481 : 200);
            struct call *c = call_of(cid);
            if (c)
                assert_true((unsigned)c->state < CS_COUNT);
        }
    }
}

/* The worker's order at stop (lib/worker.c: ops->stop, then every peer channel closed)
 * with a RouteRequest unanswered: closing routerd's channel fails the request after
 * b2bua_stop, and the b2b lives until that last answer (seen under ASan). */
static void test_stop_then_close_with_a_route_pending_touches_no_freed_memory(void **state) {
    (void)state;
    route_mode = ROUTE_HOLD;
    INVITE("c27", NULL);
    assert_string_equal(state_of("c27"), "ROUTING");
    b2bua_stop(b2b);
    ipc_chan_close(routerd.ours); /* ASan: heap-use-after-free in call_find */
    routerd.ours = NULL;
    b2b = b2bua_start(&loop,
                      &(struct b2b_io){.pick = io_pick, .instance = io_instance, .cfg = io_cfg},
                      &slot, NULL, 0);
}

/* ---------------------------------------------------------------- RFC 5626, RFC 3327 */

static void test_outbound_flows_of_one_instance_ring_one_at_a_time(void **state) {
    (void)state;
    route_mode = ROUTE_AOR;
    outbound_mode = true;
    n_bindings = 2;
    uint64_t txn = INVITE("ob1", "offer-a");
    assert_int_equal(count_requests(0, "INVITE"), 1); /* one flow per instance */
    Sb__Envelope *f0 = last_request(0, "INVITE");
    assert_non_null(f0);
    const Sb__SipPeer *hop = f0->sip_send_request->msg->next_hop;
    assert_non_null(hop);
    assert_true(hop->outbound);
    assert_int_equal(hop->conn_id, 11);
    assert_string_equal(hop->addr, "198.51.100.7"); /* its flow, whatever the Contact says */
    /* RFC 5626 5.3: its flow is gone: the next flow of the instance */
    size_t mark = sipd.nseen;
    response_in(f0->sip_send_request, 430, NULL, NULL);
    assert_int_equal(last_status(0, txn), 0); /* the caller hears nothing yet */
    Sb__Envelope *f1 = last_request(mark, "INVITE");
    assert_non_null(f1);
    assert_string_equal(f1->sip_send_request->msg->request_uri, "sip:bob@10.0.0.3");
    assert_int_equal(f1->sip_send_request->msg->next_hop->conn_id, 12);
    /* that one is gone too: no flow left, the caller hears 480 (a 430 is not its own) */
    response_in(f1->sip_send_request, 430, NULL, NULL);
    assert_int_equal(last_status(0, txn), 480);
    env_free(f0);
    env_free(f1);
}

static void test_path_binding_is_called_through_its_path(void **state) {
    (void)state;
    route_mode = ROUTE_AOR;
    path_mode = true;
    n_bindings = 1;
    INVITE("ob2", "offer-a");
    Sb__Envelope *f0 = last_request(0, "INVITE");
    assert_non_null(f0);
    const Sb__SipMessage *m = f0->sip_send_request->msg;
    assert_int_equal(m->n_route, 1);
    assert_string_equal(m->route[0], "<sip:edge.example.com;lr>");
    /* not behind NAT, not a flow: sipd goes to the first Route */
    assert_true(!m->next_hop || !m->next_hop->addr || !*m->next_hop->addr);
    env_free(f0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
        T(test_nated_legs_are_reached_at_their_sources_and_latched_there),
        T(test_a_leg_not_behind_nat_gets_only_its_local_address),
        T(test_info_in_confirmed_is_relayed_with_its_body_and_answered),
        T(test_in_dialog_request_of_an_unknown_call_asks_redis),
        T(test_invite_routes_and_rings_the_callee),
        T(test_cancel_while_routing_gets_487_after_the_route),
        T(test_cancel_while_calling_cancels_the_fork_and_its_487_gives_a_487),
        T(test_cancel_before_any_answer_of_the_fork_gives_487_at_once),
        T(test_cancel_with_another_txn_is_ignored),
        T(test_180_is_relayed_to_a_in_calling),
        T(test_183_with_sdp_goes_early_and_a_gets_the_rewrite),
        T(test_2xx_answers_a_with_the_rewritten_sdp),
        T(test_486_with_no_action_left_gives_a_486),
        T(test_hangup_route_gives_its_status),
        T(test_second_fork_2xx_after_the_first_gets_ack_and_bye),
        T(test_outbound_flows_of_one_instance_ring_one_at_a_time),
        T(test_path_binding_is_called_through_its_path),
        T(test_late_offer_ack_answer_goes_to_mediad_and_to_b),
        T(test_late_offer_ack_without_sdp_ends_the_call),
        T(test_ack_timeout_in_answered_hangs_up_both),
        T(test_2xx_copy_in_confirmed_is_acked_again),
        T(test_bye_from_a_in_confirmed_ends_the_call),
        T(test_bye_from_b_in_confirmed_ends_the_call),
        T(test_bye_or_refer_without_both_tags_gets_481_and_the_call_goes_on),
        T(test_reinvite_carries_max_forwards_and_0_gets_483),
        T(test_b_leg_invite_carries_max_forwards_minus_one),
        T(test_reinvite_in_confirmed_is_relayed_and_acked),
        T(test_update_in_confirmed_is_relayed_without_ack),
        T(test_reinvite_with_a_wrong_to_tag_gets_481),
        T(test_reinvite_and_refer_while_calling_get_491),
        T(test_reinvite_while_answered_gets_491),
        T(test_refer_in_confirmed_target_200_notifies_and_hangs_up_the_referrer),
        T(test_refer_target_486_notifies_and_the_call_goes_on),
        T(test_reinvite_and_bye_in_ending),
        T(test_session_timer_refresh_update_and_its_200),
        T(test_session_timer_refresh_refused_ends_the_call),
        T(test_session_expires_below_min_se_gets_422),
        T(test_migrate_moves_a_call_reinviting_b_then_a),
        T(test_reinvite_refused_by_the_other_leg_is_refused_alike),
        T(test_late_provisional_after_the_answer_is_not_relayed),
        T(test_2xx_retransmission_without_client_id_is_acked_again),
        T(test_bye_from_a_before_its_answer_gets_481),
        T(test_move_refused_by_b_keeps_the_call_on_its_mediad),
        T(test_move_refused_by_a_after_b_moved_ends_the_call),
        T(test_2xx_without_sdp_after_early_media_answers_a_with_the_early_sdp),
        T(test_refer_from_a_target_486_puts_a_back_in_its_place),
        T(test_reinvite_answer_after_the_other_leg_hung_up_is_acked_and_answered),
        T(test_session_timer_refresh_491_tries_again),
        T(test_every_state_takes_every_event),
        T(test_stop_then_close_with_a_route_pending_touches_no_freed_memory),
#undef T
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
