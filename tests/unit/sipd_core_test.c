/* core: sipd's request handling end to end on one libuv loop — a real UDP socket
 * (transport_udp), the core, the transaction layer, and a fake routerd on an IPC
 * socketpair — driven by a client socket that reads what comes back on the wire. */
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "advertise.h"
#include "ipc.h"
#include "procs/sipd/core.h"
#include "procs/sipd/sipmsg.h"
#include "procs/sipd/transport_tcp.h"
#include "procs/sipd/transport_udp.h"

static uv_loop_t loop;
static struct shm_proc slot;
static struct core *core;
static struct udp_sock *server;
static int client = -1, client_port, server_port;
static ipc_chan_t *to_router, *router_side;
static bool router_connected;

/* The fake routerd: what it got, and how it answers. */
static struct {
    int requests;
    char aor[128], call_id[128], user_agent[64], transport[8], addr[64], contact[128];
    char local_addr[64];
    uint32_t cseq, port, instance, local_port;
    uint64_t conn_id;
    bool nated;
    int32_t expires, contact_expires, contact_q;
    size_t n_contacts;
    bool wildcard;
    enum { ANSWER_200, ANSWER_423, ANSWER_ERROR, ANSWER_NONE, ANSWER_LATER } answer;
    uint64_t pending_id;
} router;

static char resp[8192];

/* ---------------------------------------------------------------- plumbing */

static ipc_chan_t *pick_router(void *arg, uint64_t key) {
    (void)arg;
    (void)key;
    return router_connected ? to_router : NULL;
}

static void router_reply(uint64_t request_id, int kind) {
    Sb__Envelope req = SB__ENVELOPE__INIT, out = SB__ENVELOPE__INIT;
    Sb__RegisterReply rr = SB__REGISTER_REPLY__INIT;
    Sb__Binding b1 = SB__BINDING__INIT, b2 = SB__BINDING__INIT, *bs[2] = {&b1, &b2};
    Sb__Error error = SB__ERROR__INIT;
    req.request_id = request_id;
    if (kind == ANSWER_ERROR) {
        error.code = -EIO;
        error.message = "redis down";
        out.body_case = SB__ENVELOPE__BODY_ERROR;
        out.error = &error;
    } else {
        out.body_case = SB__ENVELOPE__BODY_REGISTER_REPLY;
        out.register_reply = &rr;
        if (kind == ANSWER_423) {
            rr.status = 423;
            rr.reason = "Interval Too Brief";
            rr.min_expires = 60;
        } else {
            rr.status = 200;
            rr.reason = "OK";
            b1.uri = "sip:alice@10.0.0.1:5060";
            b1.expires = 3600;
            b1.q = 500;
            b2.uri = "sip:alice@10.0.0.2";
            b2.expires = 120;
            b2.q = -1;
            rr.n_bindings = 2;
            rr.bindings = bs;
        }
    }
    assert_int_equal(ipc_reply(router_side, &req, &out), 0);
}

static void copy(char *dst, size_t cap, const char *src) {
    snprintf(dst, cap, "%s", src ? src : "");
}

static void router_on_envelope(ipc_chan_t *ch, Sb__Envelope *env, void *arg) {
    (void)ch;
    (void)arg;
    assert_int_equal(env->body_case, SB__ENVELOPE__BODY_REGISTER_REQUEST);
    const Sb__RegisterRequest *rq = env->register_request;
    router.requests++;
    copy(router.aor, sizeof router.aor, rq->aor);
    copy(router.call_id, sizeof router.call_id, rq->call_id);
    copy(router.user_agent, sizeof router.user_agent, rq->user_agent);
    router.cseq = rq->cseq;
    router.expires = rq->expires;
    router.wildcard = rq->wildcard;
    router.n_contacts = rq->n_contacts;
    if (rq->n_contacts) {
        copy(router.contact, sizeof router.contact, rq->contacts[0]->uri);
        router.contact_expires = rq->contacts[0]->expires;
        router.contact_q = rq->contacts[0]->q;
    }
    if (rq->source) {
        copy(router.transport, sizeof router.transport, rq->source->transport);
        copy(router.addr, sizeof router.addr, rq->source->addr);
        router.port = rq->source->port;
        router.instance = rq->source->sipd_instance;
        copy(router.local_addr, sizeof router.local_addr, rq->source->local_addr);
        router.local_port = rq->source->local_port;
        router.conn_id = rq->source->conn_id;
        router.nated = rq->source->nated;
    }
    if (router.answer == ANSWER_LATER)
        router.pending_id = env->request_id;
    else if (router.answer != ANSWER_NONE)
        router_reply(env->request_id, (int)router.answer);
}

static const struct ipc_handlers router_handlers = {router_on_envelope, NULL, NULL};
static const struct ipc_handlers sipd_handlers = {NULL, NULL, NULL};

static int setup(void **state) {
    (void)state;
    memset(&router, 0, sizeof router);
    memset(&slot, 0, sizeof slot);
    router_connected = true;
    uv_loop_init(&loop);
    struct core_config cc = {.t1_ms = 10,
                             .t2_ms = 40,
                             .t4_ms = 50,
                             .register_timeout_ms = 100,
                             .max_message = 4096,
                             .instance = 3};
    snprintf(cc.server, sizeof cc.server, "Switchboard test");
    struct core_peers peers = {.router = pick_router};
    core = core_new(&loop, &cc, &slot, &peers);
    assert_non_null(core);

    struct sockaddr_in a = {.sin_family = AF_INET};
    socklen_t len = sizeof a;
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    int sfd = socket(AF_INET, SOCK_DGRAM, 0);
    assert_int_equal(bind(sfd, (struct sockaddr *)&a, sizeof a), 0);
    getsockname(sfd, (struct sockaddr *)&a, &len);
    server_port = ntohs(a.sin_port);
    server = udp_open(&loop, sfd, 4096, core_on_message, core, &slot);
    assert_non_null(server);

    client = socket(AF_INET, SOCK_DGRAM, 0);
    a.sin_port = 0;
    assert_int_equal(bind(client, (struct sockaddr *)&a, sizeof a), 0);
    len = sizeof a;
    getsockname(client, (struct sockaddr *)&a, &len);
    client_port = ntohs(a.sin_port);

    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv), 0);
    to_router = ipc_chan_open(&loop, sv[0], &sipd_handlers, NULL, 65536);
    router_side = ipc_chan_open(&loop, sv[1], &router_handlers, NULL, 65536);
    return 0;
}

static int teardown(void **state) {
    (void)state;
    udp_close(server);
    core_free(core);
    ipc_chan_close(to_router);
    ipc_chan_close(router_side);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&loop), 0);
    close(client);
    return 0;
}

/* Sends a request; "%d" in it (up to three) is the client's port. */
static void send_req(const char *fmt) {
    char buf[4096];
    int n = snprintf(buf, sizeof buf, fmt, client_port, client_port, client_port);
    struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons((uint16_t)server_port)};
    inet_pton(AF_INET, "127.0.0.1", &to.sin_addr);
    assert_int_equal(sendto(client, buf, (size_t)n, 0, (struct sockaddr *)&to, sizeof to), n);
}

/* Runs the loop until a datagram reaches the client (into resp) or ms pass; its length. */
static size_t recv_resp(int ms) {
    for (int waited = 0; waited <= ms; waited++) {
        uv_run(&loop, UV_RUN_NOWAIT);
        struct pollfd p = {client, POLLIN, 0};
        if (poll(&p, 1, 1) == 1) {
            ssize_t n = recv(client, resp, sizeof resp - 1, 0);
            assert_true(n > 0);
            resp[n] = '\0';
            return (size_t)n;
        }
    }
    resp[0] = '\0';
    return 0;
}

static void run_ms(int ms) {
    for (int i = 0; i < ms; i++) {
        uv_run(&loop, UV_RUN_NOWAIT);
        usleep(1000);
    }
}

static bool starts(const char *text) {
    return strncmp(resp, text, strlen(text)) == 0;
}

static bool has(const char *line) {
    return strstr(resp, line) != NULL;
}

#define HEAD(method, branch, extra)                                                                \
    method " sip:switchboard@127.0.0.1 SIP/2.0\r\n"                                                \
           "Via: SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bK-" branch "\r\n"                           \
           "Max-Forwards: 70\r\nFrom: <sip:alice@example.com>;tag=fa\r\n" extra

#define REQ(method, branch, cseq, to_extra)                                                        \
    HEAD(method, branch,                                                                           \
         "To: <sip:alice@example.com>" to_extra "\r\nCall-ID: core-" branch "\r\nCSeq: " cseq      \
         " " method "\r\nContent-Length: 0\r\n\r\n")

#define REGISTER(branch)                                                                           \
    HEAD("REGISTER", branch,                                                                       \
         "To: <sip:alice@Example.COM>\r\nCall-ID: reg-" branch "\r\nCSeq: 7 REGISTER\r\n"          \
         "Contact: <sip:alice@127.0.0.1:%d>;expires=300;q=0.7\r\nExpires: 600\r\n"                 \
         "User-Agent: unit/1\r\nContent-Length: 0\r\n\r\n")

/* ---------------------------------------------------------------- tests */

static void test_options_is_answered_with_capabilities(void **state) {
    (void)state;
    send_req(REQ("OPTIONS", "o1", "1", ""));
    assert_true(recv_resp(500) > 0);
    assert_true(starts("SIP/2.0 200 OK\r\n"));
    assert_true(has("\r\nVia: SIP/2.0/UDP 127.0.0.1:"));
    assert_true(has(";branch=z9hG4bK-o1\r\n")); /* sent-by is the source: no received */
    assert_true(has("\r\nTo: <sip:alice@example.com>;tag="));
    assert_true(has("\r\nCall-ID: core-o1\r\nCSeq: 1 OPTIONS\r\n"));
    assert_true(has("\r\nServer: Switchboard test\r\n"));
    assert_true(has("\r\nAllow: INVITE, ACK, CANCEL, BYE, OPTIONS, REGISTER, UPDATE, REFER\r\n"));
    assert_true(has("\r\nAccept: application/sdp\r\n"));
    assert_true(has("\r\nSupported:"));
    assert_true(has("\r\nContent-Length: 0\r\n\r\n"));
    assert_int_equal(slot.counters[SHM_C_sip_rx_requests], 1);
    assert_int_equal(slot.counters[SHM_C_sip_tx_responses], 1);
    assert_int_equal(slot.counters[SHM_C_sip_txn_new], 1);
    assert_int_equal(slot.counters[SHM_C_sip_txn_active], 1);
    /* the retransmission is absorbed and answered alike, with the same tag */
    char first[8192];
    snprintf(first, sizeof first, "%s", resp);
    send_req(REQ("OPTIONS", "o1", "1", ""));
    assert_true(recv_resp(500) > 0);
    assert_string_equal(resp, first);
    assert_int_equal(slot.counters[SHM_C_sip_retransmissions], 1);
    assert_int_equal(slot.counters[SHM_C_sip_txn_new], 1);
    run_ms(64 * 10 + 50); /* Timer J */
    assert_int_equal(core_transactions(core), 0);
    assert_int_equal(slot.counters[SHM_C_sip_txn_active], 0);
}

static void test_rport_sends_back_to_the_source_port(void **state) {
    (void)state;
    send_req("OPTIONS sip:x@127.0.0.1 SIP/2.0\r\n"
             "Via: SIP/2.0/UDP 192.0.2.1:1;rport;branch=z9hG4bK-rp\r\n"
             "From: <sip:a@b>;tag=1\r\nTo: <sip:x@127.0.0.1>\r\nCall-ID: rp\r\n"
             "CSeq: 1 OPTIONS\r\n\r\n");
    assert_true(recv_resp(500) > 0);
    char want[128];
    snprintf(want, sizeof want,
             "Via: SIP/2.0/UDP 192.0.2.1:1;branch=z9hG4bK-rp;received=127.0.0.1;rport=%d\r\n",
             client_port);
    assert_true(has(want));
}

static void test_invite_gets_100_then_503_until_acked(void **state) {
    (void)state;
    send_req(REQ("INVITE", "i1", "1", ""));
    assert_true(recv_resp(500) > 0);
    assert_true(starts("SIP/2.0 100 Trying\r\n"));
    assert_true(has("\r\nTo: <sip:alice@example.com>\r\n")); /* no tag on a 100 */
    assert_true(recv_resp(500) > 0);
    assert_true(starts("SIP/2.0 503 Call handling not available\r\n"));
    assert_true(has("\r\nRetry-After: 60\r\n"));
    assert_true(recv_resp(500) > 0); /* Timer G */
    assert_true(starts("SIP/2.0 503 "));
    send_req(REQ("INVITE", "i1", "1", "")); /* a retransmission: the 503 again */
    assert_true(recv_resp(500) > 0);
    assert_true(starts("SIP/2.0 503 "));
    send_req(REQ("ACK", "i1", "1", ";tag=x"));
    run_ms(20);
    while (recv_resp(0)) /* what was on its way */
        ;
    assert_int_equal(recv_resp(100), 0); /* Confirmed: no more */
    run_ms(60);                          /* Timer I */
    assert_int_equal(core_transactions(core), 0);
}

static void test_register_is_relayed_once_and_answered_with_bindings(void **state) {
    (void)state;
    router.answer = ANSWER_LATER;
    send_req(REGISTER("r1"));
    run_ms(10);
    assert_int_equal(router.requests, 1);
    send_req(REGISTER("r1")); /* while routerd decides: absorbed, not relayed again */
    assert_int_equal(recv_resp(20), 0);
    assert_int_equal(router.requests, 1);
    assert_string_equal(router.aor, "sip:alice@example.com");
    assert_string_equal(router.call_id, "reg-r1");
    assert_int_equal(router.cseq, 7);
    assert_int_equal(router.expires, 600);
    assert_false(router.wildcard);
    assert_int_equal(router.n_contacts, 1);
    char want[128];
    snprintf(want, sizeof want, "sip:alice@127.0.0.1:%d", client_port);
    assert_string_equal(router.contact, want);
    assert_int_equal(router.contact_expires, 300);
    assert_int_equal(router.contact_q, 700);
    assert_string_equal(router.user_agent, "unit/1");
    assert_string_equal(router.transport, "udp");
    assert_string_equal(router.addr, "127.0.0.1");
    assert_int_equal(router.port, client_port);
    assert_int_equal(router.instance, 3);
    assert_string_equal(router.local_addr, "127.0.0.1"); /* our end of it */
    assert_int_equal(router.local_port, server_port);
    assert_false(router.nated); /* sent-by is the source, the Contact is not private */
    router_reply(router.pending_id, ANSWER_200);
    assert_true(recv_resp(500) > 0);
    assert_true(starts("SIP/2.0 200 OK\r\n"));
    assert_true(has("\r\nContact: <sip:alice@10.0.0.1:5060>;expires=3600;q=0.5\r\n"
                    "Contact: <sip:alice@10.0.0.2>;expires=120\r\nDate: "));
    assert_true(has(" GMT\r\n"));
    assert_true(has("\r\nTo: <sip:alice@Example.COM>;tag="));
}

static void test_register_without_routerd_is_503_retry_after_5(void **state) {
    (void)state;
    router_connected = false;
    send_req(REGISTER("r2"));
    assert_true(recv_resp(500) > 0);
    assert_true(starts("SIP/2.0 503 "));
    assert_true(has("\r\nRetry-After: 5\r\n"));
    assert_int_equal(router.requests, 0);
}

static void test_register_timeout_and_error_are_503(void **state) {
    (void)state;
    router.answer = ANSWER_NONE;
    send_req(REGISTER("r3"));
    assert_true(recv_resp(1000) > 0); /* register_timeout is 100 ms */
    assert_true(starts("SIP/2.0 503 "));
    assert_true(has("\r\nRetry-After: 5\r\n"));
    router.answer = ANSWER_ERROR;
    send_req(REGISTER("r4"));
    assert_true(recv_resp(500) > 0);
    assert_true(starts("SIP/2.0 503 "));
    router.answer = ANSWER_423;
    send_req(REGISTER("r5"));
    assert_true(recv_resp(500) > 0);
    assert_true(starts("SIP/2.0 423 Interval Too Brief\r\n"));
    assert_true(has("\r\nMin-Expires: 60\r\n"));
}

static void test_bye_and_cancel_without_match_are_481(void **state) {
    (void)state;
    send_req(REQ("BYE", "b1", "2", ";tag=x"));
    assert_true(recv_resp(500) > 0);
    assert_true(starts("SIP/2.0 481 "));
    send_req(REQ("CANCEL", "c1", "1", ""));
    assert_true(recv_resp(500) > 0);
    assert_true(starts("SIP/2.0 481 "));
    /* a CANCEL of a known INVITE: 200 (the INVITE has its final answer already) */
    send_req(REQ("INVITE", "c2", "1", ""));
    recv_resp(500);
    recv_resp(500);
    send_req(REQ("CANCEL", "c2", "1", ""));
    for (int i = 0; i < 5 && recv_resp(500) && strncmp(resp, "SIP/2.0 503", 11) == 0; i++)
        ;
    assert_true(starts("SIP/2.0 200 OK\r\n"));
    assert_true(has("\r\nCSeq: 1 CANCEL\r\n"));
}

static void test_merged_request_is_482(void **state) {
    (void)state;
    send_req(REQ("OPTIONS", "m1", "9", ""));
    assert_true(recv_resp(500) > 0);
    assert_true(starts("SIP/2.0 200 "));
    /* same From tag, Call-ID and CSeq by another path (another branch) */
    send_req("OPTIONS sip:switchboard@127.0.0.1 SIP/2.0\r\n"
             "Via: SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bK-m2\r\n"
             "From: <sip:alice@example.com>;tag=fa\r\nTo: <sip:alice@example.com>\r\n"
             "Call-ID: core-m1\r\nCSeq: 9 OPTIONS\r\nContent-Length: 0\r\n\r\n");
    assert_true(recv_resp(500) > 0);
    assert_true(starts("SIP/2.0 482 Loop Detected\r\n"));
}

static void test_malformed_request_gets_400_with_warning(void **state) {
    (void)state;
    send_req(HEAD("OPTIONS", "bad", "To: <sip:a@b>\r\nCall-ID: bad\r\nCSeq: 1 INVITE\r\n\r\n"));
    assert_true(recv_resp(500) > 0);
    assert_true(starts("SIP/2.0 400 CSeq method does not match the request method\r\n"));
    assert_true(has("\r\nWarning: 399 Switchboardtest \"CSeq method does not match the request "
                    "method\"\r\n"));
    assert_true(has("\r\nTo: <sip:a@b>;tag="));
    assert_int_equal(core_transactions(core), 0); /* stateless */
}

static void test_unknown_method_is_501_and_message_405(void **state) {
    (void)state;
    send_req(REQ("FOO", "u1", "1", ""));
    assert_true(recv_resp(500) > 0);
    assert_true(starts("SIP/2.0 501 Not Implemented\r\n"));
    assert_true(has("\r\nAllow: INVITE, ACK, CANCEL, BYE, OPTIONS, REGISTER, UPDATE, REFER\r\n"));
    send_req(REQ("MESSAGE", "u2", "1", ""));
    assert_true(recv_resp(500) > 0);
    assert_true(starts("SIP/2.0 405 Method Not Allowed\r\n"));
}

static void test_responses_and_unanswerable_are_dropped_and_counted(void **state) {
    (void)state;
    send_req(
        "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bK-x\r\n"
        "From: <sip:a@b>;tag=1\r\nTo: <sip:a@b>;tag=2\r\nCall-ID: r\r\nCSeq: 1 OPTIONS\r\n\r\n");
    send_req("OPTIONS sip:a@b SIP/2.0\r\nFrom: <sip:a@b>\r\n\r\n");
    send_req(REQ("ACK", "nomatch", "1", ";tag=x")); /* an ACK for nothing: silence */
    assert_int_equal(recv_resp(100), 0);
    assert_int_equal(slot.counters[SHM_C_sip_rx_responses], 1);
    /* the response that matches no client transaction (RFC 6026 8.9) and the OPTIONS
     * without a Via */
    assert_int_equal(slot.counters[SHM_C_sip_rx_dropped], 2);
    assert_int_equal(slot.counters[SHM_C_sip_tx_responses], 0);
}

static void test_malformed_ack_is_never_answered(void **state) {
    (void)state;
    send_req(HEAD("ACK", "a1", "To: <sip:a@b>;tag=2\r\nCall-ID: a1\r\nCSeq: 1 INVITE\r\n\r\n"));
    assert_int_equal(recv_resp(100), 0);
    assert_int_equal(slot.counters[SHM_C_sip_rx_dropped], 1);
}

static void test_datagram_over_max_message_is_dropped(void **state) {
    (void)state;
    char big[5000];
    memset(big, 'x', sizeof big);
    struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons((uint16_t)server_port)};
    inet_pton(AF_INET, "127.0.0.1", &to.sin_addr);
    sendto(client, big, sizeof big, 0, (struct sockaddr *)&to, sizeof to);
    assert_int_equal(recv_resp(50), 0);
    assert_int_equal(slot.counters[SHM_C_sip_rx_dropped], 1);
    assert_int_equal(slot.counters[SHM_C_sip_rx_requests], 0);
}

static int drained_calls;
static void on_drained(void *arg) {
    (void)arg;
    drained_calls++;
}

static void test_drain_finishes_work_and_takes_nothing_new(void **state) {
    (void)state;
    drained_calls = 0;
    send_req(REQ("INVITE", "d1", "1", ""));
    recv_resp(500);
    recv_resp(500); /* 100, 503: the transaction waits for the ACK */
    core_drain(core, on_drained, NULL);
    run_ms(5);
    assert_int_equal(drained_calls, 0);
    send_req(REQ("OPTIONS", "d2", "1", ""));   /* new: not taken */
    send_req(REQ("ACK", "d1", "1", ";tag=x")); /* in progress: taken */
    run_ms(30);
    while (recv_resp(0))
        assert_true(starts("SIP/2.0 503 "));
    assert_int_equal(drained_calls, 1);
    assert_int_equal(slot.counters[SHM_C_sip_rx_dropped], 1);
}

/* ---------------------------------------------------------------- TCP */

static struct tcp_server *tcp;
static int tcp_port;

static void tcp_listen(size_t max_connections) {
    struct sockaddr_in a = {.sin_family = AF_INET};
    socklen_t len = sizeof a;
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(fd, 16), 0);
    getsockname(fd, (struct sockaddr *)&a, &len);
    tcp_port = ntohs(a.sin_port);
    struct tcp_limits limits = {4096, 60000, max_connections, 0};
    tcp = tcp_open(&loop, &fd, 1, 0, &limits, core_on_message, core, &slot);
    assert_non_null(tcp);
}

static int test_tcp_connect(void) {
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)tcp_port)};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    return fd;
}

/* Runs the loop until what fd gave contains stop (NULL: anything), EOF, or ms pass;
 * returns what was read (-1 at EOF with nothing). */
static ssize_t tcp_read(int fd, char *buf, size_t cap, const char *stop, int ms) {
    size_t n = 0;
    for (int waited = 0; waited <= ms; waited++) {
        uv_run(&loop, UV_RUN_NOWAIT);
        struct pollfd p = {fd, POLLIN, 0};
        if (poll(&p, 1, 1) == 1) {
            ssize_t r = recv(fd, buf + n, cap - 1 - n, 0);
            if (r <= 0)
                return n ? (ssize_t)n : -1;
            n += (size_t)r;
            buf[n] = '\0';
            if (stop && strstr(buf, stop))
                return (ssize_t)n;
        }
    }
    return (ssize_t)n;
}

static void test_tcp_frames_pipelined_messages_by_content_length(void **state) {
    (void)state;
    tcp_listen(8);
    int fd = test_tcp_connect();
    static const char two[] =
        "\r\n\r\nOPTIONS sip:s@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TCP "
        "127.0.0.1:9;branch=z9hG4bK-t1\r\n"
        "From: <sip:a@b>;tag=1\r\nTo: <sip:s@127.0.0.1>\r\nCall-ID: t1\r\nCSeq: 1 OPTIONS\r\n"
        "Content-Length: 0\r\n\r\n"
        "OPTIONS sip:s@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1:9;branch=z9hG4bK-t2\r\n"
        "From: <sip:a@b>;tag=1\r\nTo: <sip:s@127.0.0.1>\r\nCall-ID: t2\r\nCSeq: 1 OPTIONS\r\n"
        "Content-Type: application/sdp\r\nContent-Length: 4\r\n\r\nv=0\n";
    /* in two pieces, cut inside the second message's headers */
    assert_int_equal(send(fd, two, 150, 0), 150);
    run_ms(5);
    assert_int_equal(send(fd, two + 150, sizeof two - 1 - 150, 0), (ssize_t)(sizeof two - 1 - 150));
    char buf[8192];
    assert_true(tcp_read(fd, buf, sizeof buf, "Call-ID: t2", 500) > 0);
    assert_memory_equal(buf, "\r\n", 2); /* the pong of the double-CRLF ping */
    assert_non_null(strstr(buf, "SIP/2.0 200 OK\r\n"));
    assert_non_null(strstr(buf, "Call-ID: t1\r\n"));
    assert_int_equal(slot.counters[SHM_C_sip_tcp_connections], 1);
    assert_int_equal(slot.counters[SHM_C_sip_rx_requests], 2);
    close(fd);
    run_ms(5);
    assert_int_equal(slot.counters[SHM_C_sip_tcp_connections], 0);
    assert_int_equal(core_transactions(core), 0); /* Timer J is 0 on TCP */
    tcp_close(tcp);
}

static void test_tcp_message_without_content_length_gets_400_and_close(void **state) {
    (void)state;
    tcp_listen(8);
    int fd = test_tcp_connect();
    static const char req[] =
        "OPTIONS sip:s@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1:9;branch=z9hG4bK-t3\r\n"
        "From: <sip:a@b>;tag=1\r\nTo: <sip:s@127.0.0.1>\r\nCall-ID: t3\r\nCSeq: 1 OPTIONS\r\n\r\n";
    send(fd, req, sizeof req - 1, 0);
    char buf[4096];
    assert_true(tcp_read(fd, buf, sizeof buf, NULL, 300) > 0);
    assert_memory_equal(buf, "SIP/2.0 400 Missing Content-Length\r\n", 36);
    assert_int_equal(tcp_read(fd, buf, sizeof buf, NULL, 300), -1); /* closed */
    close(fd);
    tcp_close(tcp);
}

static void test_tcp_connections_beyond_the_limit_are_refused(void **state) {
    (void)state;
    tcp_listen(1);
    int first = test_tcp_connect();
    run_ms(5);
    int second = test_tcp_connect();
    char buf[64];
    assert_int_equal(tcp_read(second, buf, sizeof buf, NULL, 200), -1); /* closed at once */
    assert_int_equal(tcp_read(first, buf, sizeof buf, NULL, 50), 0);    /* still open */
    assert_int_equal(tcp_connection_count(tcp), 1);
    close(first);
    close(second);
    tcp_close(tcp);
}

/* ---------------------------------------------------------------- edge */

static void test_register_from_behind_nat_is_marked_nated(void **state) {
    (void)state;
    router.answer = ANSWER_200;
    send_req("REGISTER sip:127.0.0.1 SIP/2.0\r\n"
             "Via: SIP/2.0/UDP 192.168.1.5:5060;rport;branch=z9hG4bK-nat1\r\n"
             "From: <sip:bob@example.com>;tag=n1\r\nTo: <sip:bob@example.com>\r\n"
             "Call-ID: nat1\r\nCSeq: 1 REGISTER\r\nContact: <sip:bob@192.168.1.5:5060>\r\n"
             "Content-Length: 0\r\n\r\n");
    assert_true(recv_resp(500) > 0);
    assert_int_equal(router.requests, 1);
    assert_true(router.nated);
    assert_string_equal(router.addr, "127.0.0.1");
    assert_int_equal(router.port, client_port);
    assert_string_equal(router.local_addr, "127.0.0.1");
}

/* dialogd's side: what sipd answers for its requests */
static struct {
    int responses;
    uint32_t status;
    char reason[128];
} dialog;

static void dialog_on_envelope(ipc_chan_t *ch, Sb__Envelope *env, void *arg) {
    (void)ch;
    (void)arg;
    if (env->body_case != SB__ENVELOPE__BODY_SIP_RESPONSE_IN || !env->sip_response_in->msg)
        return;
    dialog.responses++;
    dialog.status = env->sip_response_in->msg->status;
    copy(dialog.reason, sizeof dialog.reason, env->sip_response_in->msg->reason);
}

static const struct ipc_handlers dialog_handlers = {dialog_on_envelope, NULL, NULL};

/* Hands core a SipSendRequest of an OPTIONS to ruri, with next_hop nh (NULL: none), as
 * dialogd on ch would. */
static void send_request(ipc_chan_t *ch, const char *ruri, Sb__SipPeer *nh) {
    Sb__SipMessage msg = SB__SIP_MESSAGE__INIT;
    msg.method = "OPTIONS";
    msg.request_uri = (char *)ruri;
    msg.from_uri = "sip:sb@example.com";
    msg.from_tag = "ft";
    msg.to_uri = (char *)ruri;
    msg.call_id = "nh-1";
    msg.cseq = 1;
    msg.contact_user = "sb";
    msg.next_hop = nh;
    Sb__SipSendRequest sr = SB__SIP_SEND_REQUEST__INIT;
    sr.client_id = 77;
    sr.msg = &msg;
    Sb__Envelope env = SB__ENVELOPE__INIT;
    env.body_case = SB__ENVELOPE__BODY_SIP_SEND_REQUEST;
    env.sip_send_request = &sr;
    assert_true(core_on_envelope(core, ch, &env));
}

static void test_next_hop_wins_over_the_request_uri(void **state) {
    (void)state;
    core_add_udp(core, server);
    Sb__SipPeer nh = SB__SIP_PEER__INIT;
    nh.transport = "udp";
    nh.addr = "127.0.0.1";
    nh.port = (uint32_t)client_port;
    send_request(NULL, "sip:bob@192.0.2.99:5070", &nh); /* a private Contact, unreachable */
    assert_true(recv_resp(500) > 0);
    assert_true(starts("OPTIONS sip:bob@192.0.2.99:5070 SIP/2.0\r\n"));
    char via[128], contact[128];
    snprintf(via, sizeof via, "\r\nVia: SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bKsb3x", server_port);
    snprintf(contact, sizeof contact, "\r\nContact: <sip:sb@127.0.0.1:%d>\r\n", server_port);
    assert_true(has(via));
    assert_true(has(contact));
}

/* The 200 of our OPTIONS to the client, sent by fd (the client, or another socket). */
static void answer_from(int fd) {
    char branch[64] = "", buf[1024];
    const char *b = strstr(resp, ";branch=");
    assert_non_null(b);
    sscanf(b + 8, "%63[^;\r]", branch);
    int n = snprintf(buf, sizeof buf,
                     "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.1:%d;branch=%s;rport\r\n"
                     "From: <sip:sb@example.com>;tag=ft\r\nTo: <sip:bob@127.0.0.1>;tag=b\r\n"
                     "Call-ID: nh-1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n",
                     server_port, branch);
    struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons((uint16_t)server_port)};
    inet_pton(AF_INET, "127.0.0.1", &to.sin_addr);
    assert_int_equal(sendto(fd, buf, (size_t)n, 0, (struct sockaddr *)&to, sizeof to), n);
}

/* RFC 6026 8.9, and no reflection: a response with our branch from another address than
 * the one the request went to is dropped; the peer's own reaches dialogd. */
static void test_response_from_elsewhere_than_the_request_went_is_dropped(void **state) {
    (void)state;
    core_add_udp(core, server);
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv), 0);
    ipc_chan_t *to_dialog = ipc_chan_open(&loop, sv[0], &sipd_handlers, NULL, 65536);
    ipc_chan_t *dialog_side = ipc_chan_open(&loop, sv[1], &dialog_handlers, NULL, 65536);
    memset(&dialog, 0, sizeof dialog);
    Sb__SipPeer nh = SB__SIP_PEER__INIT;
    nh.transport = "udp";
    nh.addr = "127.0.0.1";
    nh.port = (uint32_t)client_port;
    send_request(to_dialog, "sip:bob@127.0.0.1", &nh);
    assert_true(recv_resp(500) > 0);
    assert_true(starts("OPTIONS sip:bob@127.0.0.1 SIP/2.0\r\n"));
    int other = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    assert_int_equal(bind(other, (struct sockaddr *)&a, sizeof a), 0);
    answer_from(other);
    run_ms(30);
    int off_path = dialog.responses;
    uint64_t dropped = slot.counters[SHM_C_sip_rx_dropped];
    answer_from(client);
    run_ms(30);
    close(other);
    ipc_chan_close(to_dialog); /* before any assertion: a failed one must not hang teardown */
    ipc_chan_close(dialog_side);
    assert_int_equal(off_path, 0);
    assert_int_equal(dropped, 1);
    assert_int_equal(dialog.responses, 1);
    assert_int_equal(dialog.status, 200);
}

/* RFC 3261 16.3 item 4 for a B2BUA: an INVITE that carries a Via of ours (our branch, our
 * address and port as sent-by), on top or below a proxy's, is our own come back: 482. */
static void test_invite_with_our_own_via_is_a_loop(void **state) {
    (void)state;
    core_add_udp(core, server);
    char buf[1024];
    static const char *const vias[] = {
        "Via: SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bKsb3x00000000000000a1;rport\r\n",
        "Via: SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bK-proxy;rport\r\n"
        "Via: SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bKsb0x00000000000000a2\r\n"};
    for (int i = 0; i < 2; i++) {
        char via[300];
        snprintf(via, sizeof via, vias[i], i ? client_port : server_port, server_port);
        int n = snprintf(buf, sizeof buf,
                         "INVITE sip:bob@127.0.0.1 SIP/2.0\r\n%sMax-Forwards: 69\r\n"
                         "From: <sip:alice@example.com>;tag=l%d\r\nTo: <sip:bob@example.com>\r\n"
                         "Call-ID: loop-%d\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n",
                         via, i, i);
        struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons((uint16_t)server_port)};
        inet_pton(AF_INET, "127.0.0.1", &to.sin_addr);
        assert_int_equal(sendto(client, buf, (size_t)n, 0, (struct sockaddr *)&to, sizeof to), n);
        assert_true(recv_resp(500) > 0);
        assert_true(starts("SIP/2.0 482 Loop Detected\r\n"));
    }
    /* our branch's form at a port we do not listen on is someone else's: no loop (no
     * dialogd here: 100, then 503) */
    int n = snprintf(buf, sizeof buf,
                     "INVITE sip:bob@127.0.0.1 SIP/2.0\r\n"
                     "Via: SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bKsb0x00000000000000a3;rport\r\n"
                     "Max-Forwards: 69\r\nFrom: <sip:alice@example.com>;tag=l3\r\n"
                     "To: <sip:bob@example.com>\r\nCall-ID: loop-3\r\nCSeq: 1 INVITE\r\n"
                     "Content-Length: 0\r\n\r\n",
                     client_port);
    struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons((uint16_t)server_port)};
    inet_pton(AF_INET, "127.0.0.1", &to.sin_addr);
    assert_int_equal(sendto(client, buf, (size_t)n, 0, (struct sockaddr *)&to, sizeof to), n);
    assert_true(recv_resp(500) > 0);
    assert_true(starts("SIP/2.0 100 Trying\r\n"));
}

static void test_advertised_address_goes_in_via_and_contact(void **state) {
    (void)state;
    core_add_udp(core, server);
    struct core_config cc = {.t1_ms = 10,
                             .t2_ms = 40,
                             .t4_ms = 50,
                             .register_timeout_ms = 100,
                             .max_message = 4096,
                             .instance = 3};
    char err[256];
    assert_int_equal(advertise_parse("127.0.0.1!sip.example.net:5099 198.51.100.1", &cc.advertise,
                                     err, sizeof err),
                     0);
    assert_true(core_set_config(core, &cc));
    Sb__SipPeer nh = SB__SIP_PEER__INIT;
    nh.addr = "127.0.0.1";
    nh.port = (uint32_t)client_port;
    send_request(NULL, "sip:bob@127.0.0.1", &nh);
    assert_true(recv_resp(500) > 0);
    assert_true(has("\r\nVia: SIP/2.0/UDP sip.example.net:5099;branch="));
    assert_true(has("\r\nContact: <sip:sb@sip.example.net:5099>\r\n"));
}

static void test_next_hop_tcp_flow_gone_behind_nat_is_503(void **state) {
    (void)state;
    tcp_listen(8);
    core_set_tcp(core, tcp, tcp_port, 0);
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv), 0);
    ipc_chan_t *to_dialog = ipc_chan_open(&loop, sv[0], &sipd_handlers, NULL, 65536);
    ipc_chan_t *dialog_side = ipc_chan_open(&loop, sv[1], &dialog_handlers, NULL, 65536);
    memset(&dialog, 0, sizeof dialog);
    /* a listener that must not be called: the phone behind NAT cannot be connected to */
    struct sockaddr_in a = {.sin_family = AF_INET};
    socklen_t len = sizeof a;
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    int lfd = socket(AF_INET, SOCK_STREAM, 0);
    assert_int_equal(bind(lfd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(lfd, 4), 0);
    getsockname(lfd, (struct sockaddr *)&a, &len);
    Sb__SipPeer nh = SB__SIP_PEER__INIT;
    nh.transport = "tcp";
    nh.addr = "127.0.0.1";
    nh.port = ntohs(a.sin_port);
    nh.sipd_instance = 3;
    nh.conn_id = 12345; /* no such connection */
    nh.nated = true;
    send_request(to_dialog, "sip:bob@192.168.1.5;transport=tcp", &nh);
    run_ms(20);
    assert_int_equal(dialog.responses, 1);
    assert_int_equal(dialog.status, 503);
    assert_string_equal(dialog.reason, "connection to a NATed peer is gone");
    assert_int_equal(tcp_connection_count(tcp), 0);
    /* the flow of another instance is that instance's to use */
    nh.sipd_instance = 4;
    send_request(to_dialog, "sip:bob@192.168.1.5;transport=tcp", &nh);
    run_ms(20);
    assert_int_equal(dialog.responses, 2);
    assert_int_equal(dialog.status, 503);
    assert_string_equal(dialog.reason, "connection owned by another sipd instance");
    /* not behind NAT: a new connection to the flow's address */
    nh.sipd_instance = 3;
    nh.nated = false;
    send_request(to_dialog, "sip:bob@192.168.1.5;transport=tcp", &nh);
    run_ms(20);
    assert_int_equal(tcp_connection_count(tcp), 1);
    int cfd = accept(lfd, NULL, NULL);
    assert_true(cfd >= 0);
    char buf[4096];
    assert_true(tcp_read(cfd, buf, sizeof buf, "\r\n\r\n", 500) > 0);
    assert_memory_equal(buf, "OPTIONS sip:bob@192.168.1.5;transport=tcp SIP/2.0\r\n", 51);
    char via[96];
    snprintf(via, sizeof via, "\r\nVia: SIP/2.0/TCP 127.0.0.1:%d;branch=", tcp_port);
    assert_non_null(strstr(buf, via));
    close(cfd);
    close(lfd);
    core_set_tcp(core, NULL, 0, 0);
    tcp_close(tcp);
    ipc_chan_close(to_dialog);
    ipc_chan_close(dialog_side);
}

static void test_wildcard_socket_answers_from_the_address_asked(void **state) {
    (void)state;
    struct sockaddr_in a = {.sin_family = AF_INET};
    socklen_t len = sizeof a;
    int sfd = socket(AF_INET, SOCK_DGRAM, 0);
    assert_int_equal(bind(sfd, (struct sockaddr *)&a, sizeof a), 0); /* 0.0.0.0 */
    getsockname(sfd, (struct sockaddr *)&a, &len);
    struct udp_sock *any = udp_open(&loop, sfd, 4096, core_on_message, core, &slot);
    assert_non_null(any);
    assert_true(udp_is_wildcard(any));
    static const char opt[] = "OPTIONS sip:x@127.0.0.2 SIP/2.0\r\n"
                              "Via: SIP/2.0/UDP 127.0.0.1:9;rport;branch=z9hG4bK-wild\r\n"
                              "From: <sip:a@b>;tag=1\r\nTo: <sip:x@127.0.0.2>\r\n"
                              "Call-ID: wild\r\nCSeq: 1 OPTIONS\r\n\r\n";
    struct sockaddr_in to = a;
    inet_pton(AF_INET, "127.0.0.2", &to.sin_addr);
    assert_int_equal(sendto(client, opt, sizeof opt - 1, 0, (struct sockaddr *)&to, sizeof to),
                     (ssize_t)(sizeof opt - 1));
    struct sockaddr_in from = {0};
    socklen_t from_len = sizeof from;
    ssize_t n = -1;
    for (int waited = 0; waited <= 500 && n < 0; waited++) {
        uv_run(&loop, UV_RUN_NOWAIT);
        struct pollfd p = {client, POLLIN, 0};
        if (poll(&p, 1, 1) == 1)
            n = recvfrom(client, resp, sizeof resp - 1, 0, (struct sockaddr *)&from, &from_len);
    }
    assert_true(n > 0);
    resp[n] = '\0';
    assert_true(starts("SIP/2.0 200 OK\r\n"));
    char ip[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &from.sin_addr, ip, sizeof ip);
    assert_string_equal(ip, "127.0.0.2");
    assert_int_equal(from.sin_port, a.sin_port);
    udp_close(any);
}

static void test_register_over_tcp_names_its_connection(void **state) {
    (void)state;
    router.answer = ANSWER_200;
    tcp_listen(8);
    int fd = test_tcp_connect();
    struct sockaddr_in me;
    socklen_t len = sizeof me;
    getsockname(fd, (struct sockaddr *)&me, &len);
    char req[512];
    int n = snprintf(
        req, sizeof req,
        "REGISTER sip:127.0.0.1 SIP/2.0\r\n"
        "Via: SIP/2.0/TCP 127.0.0.1:%d;branch=z9hG4bK-tr1\r\n"
        "From: <sip:t@example.com>;tag=t\r\nTo: <sip:t@example.com>\r\n"
        "Call-ID: tr1\r\nCSeq: 1 REGISTER\r\nContact: <sip:t@127.0.0.1:%d;transport=tcp>\r\n"
        "Content-Length: 0\r\n\r\n",
        ntohs(me.sin_port), ntohs(me.sin_port));
    assert_int_equal(send(fd, req, (size_t)n, 0), n);
    char buf[4096];
    assert_true(tcp_read(fd, buf, sizeof buf, "\r\n\r\n", 500) > 0);
    assert_int_equal(router.requests, 1);
    assert_string_equal(router.transport, "tcp");
    assert_true(router.conn_id > 0);
    assert_string_equal(router.local_addr, "127.0.0.1");
    assert_int_equal(router.local_port, tcp_port);
    assert_false(router.nated); /* its sent-by is its source */
    close(fd);
    tcp_close(tcp);
}

static void test_wildcard_ipv6_socket_answers_from_the_address_asked(void **state) {
    (void)state;
    struct sockaddr_in6 a = {.sin6_family = AF_INET6};
    socklen_t len = sizeof a;
    int on = 1, sfd = socket(AF_INET6, SOCK_DGRAM, 0);
    setsockopt(sfd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof on);
    if (bind(sfd, (struct sockaddr *)&a, sizeof a) < 0) { /* no IPv6 here */
        close(sfd);
        skip();
    }
    getsockname(sfd, (struct sockaddr *)&a, &len);
    struct udp_sock *any = udp_open(&loop, sfd, 4096, core_on_message, core, &slot);
    assert_non_null(any);
    assert_true(udp_is_wildcard(any));
    int c6 = socket(AF_INET6, SOCK_DGRAM, 0);
    struct sockaddr_in6 me = {.sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT};
    assert_int_equal(bind(c6, (struct sockaddr *)&me, sizeof me), 0);
    static const char opt[] = "OPTIONS sip:x@[::1] SIP/2.0\r\n"
                              "Via: SIP/2.0/UDP [::1]:9;rport;branch=z9hG4bK-wild6\r\n"
                              "From: <sip:a@b>;tag=1\r\nTo: <sip:x@[::1]>\r\n"
                              "Call-ID: wild6\r\nCSeq: 1 OPTIONS\r\n\r\n";
    struct sockaddr_in6 to = a;
    to.sin6_addr = in6addr_loopback;
    assert_int_equal(sendto(c6, opt, sizeof opt - 1, 0, (struct sockaddr *)&to, sizeof to),
                     (ssize_t)(sizeof opt - 1));
    struct sockaddr_in6 from = {0};
    socklen_t from_len = sizeof from;
    ssize_t n = -1;
    for (int waited = 0; waited <= 500 && n < 0; waited++) {
        uv_run(&loop, UV_RUN_NOWAIT);
        struct pollfd p = {c6, POLLIN, 0};
        if (poll(&p, 1, 1) == 1)
            n = recvfrom(c6, resp, sizeof resp - 1, 0, (struct sockaddr *)&from, &from_len);
    }
    assert_true(n > 0);
    resp[n] = '\0';
    assert_true(starts("SIP/2.0 200 OK\r\n"));
    assert_true(IN6_IS_ADDR_LOOPBACK(&from.sin6_addr));
    assert_int_equal(from.sin6_port, a.sin6_port);
    close(c6);
    udp_close(any);
}

int main(void) {
    sipmsg_library_init();
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_options_is_answered_with_capabilities),
        T(test_rport_sends_back_to_the_source_port),
        T(test_invite_gets_100_then_503_until_acked),
        T(test_register_is_relayed_once_and_answered_with_bindings),
        T(test_register_without_routerd_is_503_retry_after_5),
        T(test_register_timeout_and_error_are_503),
        T(test_bye_and_cancel_without_match_are_481),
        T(test_merged_request_is_482),
        T(test_malformed_request_gets_400_with_warning),
        T(test_unknown_method_is_501_and_message_405),
        T(test_responses_and_unanswerable_are_dropped_and_counted),
        T(test_malformed_ack_is_never_answered),
        T(test_datagram_over_max_message_is_dropped),
        T(test_drain_finishes_work_and_takes_nothing_new),
        T(test_tcp_frames_pipelined_messages_by_content_length),
        T(test_tcp_message_without_content_length_gets_400_and_close),
        T(test_tcp_connections_beyond_the_limit_are_refused),
        T(test_register_from_behind_nat_is_marked_nated),
        T(test_next_hop_wins_over_the_request_uri),
        T(test_advertised_address_goes_in_via_and_contact),
        T(test_response_from_elsewhere_than_the_request_went_is_dropped),
        T(test_invite_with_our_own_via_is_a_loop),
        T(test_next_hop_tcp_flow_gone_behind_nat_is_503),
        T(test_wildcard_socket_answers_from_the_address_asked),
        T(test_wildcard_ipv6_socket_answers_from_the_address_asked),
        T(test_register_over_tcp_names_its_connection),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
