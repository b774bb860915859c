/* transaction: RFC 3261 17.2.3 keys, the server and client transaction state machines
 * (RFC 3261 17.1, 17.2, RFC 6026) and their timers (T1 = 10 ms) on a real libuv loop.
 * A test that counts timer firings starts with RESTART_ON_STALL(): when the process was
 * not running for a while (a loaded machine), libuv fires a late timer once where the
 * schedule had several, so run_for sees the stall and the test starts over on a fresh
 * table (at most STALL_RETRIES times; the last attempt asserts whatever happened). */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "procs/sipd/sipmsg.h"
#include "procs/sipd/transaction.h"

#define T1 10
#define T2 40
#define T4 50

struct sent {
    int count;
    int last_status;
    char last[256];
    int idle;
    int requests; /* client: requests (and ACKs) put on the wire */
    char last_request[64];
    int expired, ack_timeouts;
};

static uv_loop_t loop;
static struct sent sent;
static txn_table_t *tb;
static sipmsg_t *m;

#define STALL_RETRIES 10
#define STALL_MS 4 /* a loop turn this much later than its timers asked: the process stalled */
static jmp_buf restart;
static bool watching;    /* a RESTART_ON_STALL test runs */
static int attempts;     /* of the running test */
static uint64_t left_ms; /* uv_hrtime in ms when run_for last returned, 0: not yet */

static void on_send(void *arg, struct txn *t, const char *buf, size_t len) {
    struct sent *s = arg;
    s->count++;
    s->last_status = t->status;
    snprintf(s->last, sizeof s->last, "%.*s", (int)len, buf);
}

static void on_idle(void *arg) {
    ((struct sent *)arg)->idle++;
}

static void on_send_request(void *arg, struct txn *t, const char *buf, size_t len) {
    struct sent *s = arg;
    (void)t;
    s->requests++;
    snprintf(s->last_request, sizeof s->last_request, "%.*s", (int)len, buf);
}

static void on_expired(void *arg, struct txn *t) {
    (void)t;
    ((struct sent *)arg)->expired++;
}

static void on_ack_timeout(void *arg, struct txn *t) {
    (void)t;
    ((struct sent *)arg)->ack_timeouts++;
}

static const struct txn_hooks hooks = {on_send, on_idle, on_send_request, on_expired,
                                       on_ack_timeout, NULL};

static int setup(void **state) {
    (void)state;
    watching = false;
    attempts = 0;
    left_ms = 0;
    memset(&sent, 0, sizeof sent);
    uv_loop_init(&loop);
    struct txn_timers timers = {T1, T2, T4};
    tb = txn_table_new(&loop, &timers, &hooks, &sent, NULL, 7ULL << 40);
    m = sipmsg_new(65535);
    return tb && m ? 0 : -1;
}

static int teardown(void **state) {
    (void)state;
    txn_table_close(tb);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&loop), 0);
    sipmsg_free(m);
    return 0;
}

static void wake(uv_timer_t *t) {
    (void)t;
}

static uint64_t wall_ms(void) {
    return uv_hrtime() / 1000000;
}

/* A fresh table and counters for the same test (RESTART_ON_STALL). */
static void start_over(void) {
    txn_table_close(tb);
    uv_run(&loop, UV_RUN_DEFAULT);
    memset(&sent, 0, sizeof sent);
    struct txn_timers timers = {T1, T2, T4};
    tb = txn_table_new(&loop, &timers, &hooks, &sent, NULL, 7ULL << 40);
    assert_non_null(tb);
    left_ms = 0;
}

#define RESTART_ON_STALL()                                                                 \
    do {                                                                                   \
        if (setjmp(restart)) {                                                             \
            print_message("# the process stalled: attempt %d\n", attempts + 1);           \
            start_over();                                                                  \
        }                                                                                  \
        watching = ++attempts < STALL_RETRIES;                                             \
    } while (0)

/* Runs the loop for ms milliseconds; starts the test over after a stall. */
static void run_for(uint64_t ms) {
    bool stalled = watching && left_ms && wall_ms() > left_ms + STALL_MS;
    uv_timer_t stop;
    uv_timer_init(&loop, &stop);
    uv_update_time(&loop);
    uv_timer_start(&stop, wake, ms, 0);
    uint64_t end = uv_now(&loop) + ms;
    while (uv_now(&loop) < end) {
        int wait = uv_backend_timeout(&loop);
        uint64_t before = wall_ms();
        uv_run(&loop, UV_RUN_ONCE);
        if (watching && wait >= 0 && wall_ms() > before + (uint64_t)wait + STALL_MS)
            stalled = true;
        uv_update_time(&loop);
    }
    uv_close((uv_handle_t *)&stop, NULL);
    uv_run(&loop, UV_RUN_NOWAIT);
    left_ms = wall_ms();
    if (stalled)
        longjmp(restart, 1);
}

static void parse(const char *text) {
    assert_int_equal(sipmsg_parse(m, text, strlen(text), false), SIPMSG_OK);
}

static int key_of(const char *text, enum sipmsg_method as, char *out, size_t cap) {
    parse(text);
    int n = txn_key(m, as, out, cap);
    assert_true(n > 0);
    return n;
}

#define REQ(method, via, extra)                                                                    \
    method " sip:bob@example.com SIP/2.0\r\nVia: " via "\r\n"                                      \
           "From: <sip:alice@example.com>;tag=f1\r\nTo: <sip:bob@example.com>" extra "\r\n"        \
           "Call-ID: call-1\r\nCSeq: 5 " method "\r\nContent-Length: 0\r\n\r\n"

static const char invite[] = REQ("INVITE", "SIP/2.0/UDP Host.Example.com;branch=z9hG4bK-1", "");

static struct txn *new_txn(bool invite_txn, enum sipdest_transport transport) {
    char key[512], merge[512];
    int n = key_of(invite, SIPMSG_M_UNKNOWN, key, sizeof key);
    int nm = txn_merge_key(m, SIPMSG_M_UNKNOWN, merge, sizeof merge);
    struct sipdest dest = {.transport = transport};
    struct txn *t =
        txn_new(tb, invite_txn, key, (size_t)n, merge, (size_t)nm, &dest, "E", 1, SIZE_MAX, "tg");
    assert_non_null(t);
    return t;
}

static void test_ack_and_retransmission_match_the_invite_cancel_does_not(void **state) {
    (void)state;
    char k_inv[512], k_ack[512], k_cancel[512], k_cancelled[512], k_other[512];
    int n_inv = key_of(invite, SIPMSG_M_UNKNOWN, k_inv, sizeof k_inv);
    /* RFC 3261 17.2.3: same branch and sent-by (host compared without case), ACK -> INVITE */
    int n_ack = key_of(REQ("ACK", "SIP/2.0/UDP host.example.com:5060;branch=z9hG4bK-1", ";tag=x"),
                       SIPMSG_M_UNKNOWN, k_ack, sizeof k_ack);
    assert_int_equal(n_ack, n_inv);
    assert_memory_equal(k_ack, k_inv, (size_t)n_inv);
    const char *cancel = REQ("CANCEL", "SIP/2.0/UDP host.example.com;branch=z9hG4bK-1", "");
    int n_cancel = key_of(cancel, SIPMSG_M_UNKNOWN, k_cancel, sizeof k_cancel);
    assert_false(n_cancel == n_inv && memcmp(k_cancel, k_inv, (size_t)n_inv) == 0);
    /* the INVITE a CANCEL cancels */
    int n_cancelled = key_of(cancel, SIPMSG_M_INVITE, k_cancelled, sizeof k_cancelled);
    assert_int_equal(n_cancelled, n_inv);
    assert_memory_equal(k_cancelled, k_inv, (size_t)n_inv);
    /* another sent-by port or branch is another transaction */
    int n_other = key_of(REQ("INVITE", "SIP/2.0/UDP host.example.com:5070;branch=z9hG4bK-1", ""),
                         SIPMSG_M_UNKNOWN, k_other, sizeof k_other);
    assert_false(n_other == n_inv && memcmp(k_other, k_inv, (size_t)n_inv) == 0);
    n_other = key_of(REQ("INVITE", "SIP/2.0/UDP host.example.com;branch=z9hG4bK-2", ""),
                     SIPMSG_M_UNKNOWN, k_other, sizeof k_other);
    assert_false(n_other == n_inv && memcmp(k_other, k_inv, (size_t)n_inv) == 0);
}

static void test_reused_branch_with_another_call_id_is_another_transaction(void **state) {
    (void)state;
    /* RFC 4475's escnull and regescrt share branch and sent-by; they are not copies */
    char a[512], b[512];
    static const char fmt[] = "REGISTER sip:example.com SIP/2.0\r\n"
                              "Via: SIP/2.0/UDP host5.example.com;branch=z9hG4bKkdjuw\r\n"
                              "From: <sip:u@example.com>;tag=1\r\nTo: <sip:u@example.com>\r\n"
                              "Call-ID: %s\r\nCSeq: %s REGISTER\r\n\r\n";
    char req[512];
    snprintf(req, sizeof req, fmt, "one", "1");
    int na = key_of(req, SIPMSG_M_UNKNOWN, a, sizeof a);
    snprintf(req, sizeof req, fmt, "two", "1");
    int nb = key_of(req, SIPMSG_M_UNKNOWN, b, sizeof b);
    assert_false(na == nb && memcmp(a, b, (size_t)na) == 0);
    snprintf(req, sizeof req, fmt, "one", "2");
    nb = key_of(req, SIPMSG_M_UNKNOWN, b, sizeof b);
    assert_false(na == nb && memcmp(a, b, (size_t)na) == 0);
}

static void test_rfc2543_requests_match_by_their_fields(void **state) {
    (void)state;
    char k_inv[512], k_ack[512], k_again[512];
    int n_inv = key_of(REQ("INVITE", "SIP/2.0/UDP ua.example.com", ""), SIPMSG_M_UNKNOWN, k_inv,
                       sizeof k_inv);
    int n_ack = key_of(REQ("ACK", "SIP/2.0/UDP ua.example.com", ";tag=ours"), SIPMSG_M_UNKNOWN,
                       k_ack, sizeof k_ack);
    assert_int_equal(n_ack, n_inv);
    assert_memory_equal(k_ack, k_inv, (size_t)n_inv);
    int n_again = key_of(REQ("INVITE", "SIP/2.0/UDP other.example.com", ""), SIPMSG_M_UNKNOWN,
                         k_again, sizeof k_again);
    assert_false(n_again == n_inv && memcmp(k_again, k_inv, (size_t)n_inv) == 0);
}

static void test_merged_requests_share_the_merge_key(void **state) {
    (void)state;
    char a[512], b[512], key[512];
    parse(REQ("INVITE", "SIP/2.0/UDP p1.example.com;branch=z9hG4bK-a", ""));
    int na = txn_merge_key(m, SIPMSG_M_UNKNOWN, a, sizeof a);
    int nk = txn_key(m, SIPMSG_M_UNKNOWN, key, sizeof key);
    struct sipdest dest = {.transport = SIPDEST_UDP};
    struct txn *t =
        txn_new(tb, true, key, (size_t)nk, a, (size_t)na, &dest, "E", 1, SIZE_MAX, NULL);
    assert_non_null(t);
    parse(REQ("INVITE", "SIP/2.0/UDP p2.example.com;branch=z9hG4bK-b", ""));
    int nb = txn_merge_key(m, SIPMSG_M_UNKNOWN, b, sizeof b);
    assert_int_equal(na, nb);
    assert_ptr_equal(txn_find_merged(tb, b, (size_t)nb), t);
    nk = txn_key(m, SIPMSG_M_UNKNOWN, key, sizeof key);
    assert_null(txn_find(tb, key, (size_t)nk));
}

static void test_invite_error_is_retransmitted_on_timer_g_until_timer_h(void **state) {
    (void)state;
    RESTART_ON_STALL();
    struct txn *t = new_txn(true, SIPDEST_UDP);
    assert_int_equal(txn_respond(tb, t, 100, "100", 3), 0);
    assert_int_equal(t->state, TXN_PROCEEDING);
    assert_int_equal(txn_respond(tb, t, 503, "503", 3), 0);
    assert_int_equal(t->state, TXN_COMPLETED);
    assert_int_equal(sent.count, 2);
    assert_int_equal(txn_busy(tb), 1);
    /* G fires at 10, 30, 70, then every T2 = 40 ms: 110, ..., 630; H ends it at 640 ms. */
    run_for(64 * T1 + 100);
    int retransmissions = sent.count - 2;
    if (retransmissions < 14 || retransmissions > 17)
        fail_msg("%d retransmissions before Timer H, expected 17 (14 on a slow host)",
                 retransmissions);
    assert_string_equal(sent.last, "503");
    assert_int_equal(txn_count(tb), 0);
    assert_int_equal(txn_busy(tb), 0);
    assert_int_equal(sent.idle, 1);
}

static void test_ack_confirms_and_timer_i_ends_the_invite(void **state) {
    (void)state;
    RESTART_ON_STALL();
    char key[512];
    struct txn *t = new_txn(true, SIPDEST_UDP);
    txn_respond(tb, t, 486, "486", 3);
    run_for(35); /* two retransmissions: 10 and 30 ms */
    assert_int_equal(sent.count, 3);
    int n = key_of(REQ("ACK", "SIP/2.0/UDP host.example.com;branch=z9hG4bK-1", ";tag=tg"),
                   SIPMSG_M_UNKNOWN, key, sizeof key);
    assert_ptr_equal(txn_find(tb, key, (size_t)n), t);
    txn_ack(tb, t);
    assert_int_equal(t->state, TXN_CONFIRMED);
    assert_int_equal(txn_busy(tb), 0);
    txn_ack(tb, t); /* a retransmitted ACK is absorbed */
    run_for(T4 / 2);
    assert_int_equal(sent.count, 3); /* no more retransmissions */
    assert_int_equal(txn_count(tb), 1);
    run_for(T4);
    assert_int_equal(txn_count(tb), 0); /* Timer I */
}

static void test_non_invite_absorbs_retransmissions_until_timer_j(void **state) {
    (void)state;
    RESTART_ON_STALL();
    struct txn *t = new_txn(false, SIPDEST_UDP);
    txn_request_again(tb, t); /* Trying: absorbed without an answer */
    assert_int_equal(sent.count, 0);
    txn_respond(tb, t, 200, "200", 3);
    assert_int_equal(t->state, TXN_COMPLETED);
    assert_int_equal(txn_busy(tb), 0);
    assert_int_equal(txn_respond(tb, t, 500, "500", 3), -EALREADY);
    txn_request_again(tb, t); /* Completed: the final response again */
    assert_int_equal(sent.count, 2);
    assert_string_equal(sent.last, "200");
    run_for(64 * T1 - 100);
    assert_int_equal(sent.count, 2); /* nothing by itself */
    assert_int_equal(txn_count(tb), 1);
    run_for(150);
    assert_int_equal(txn_count(tb), 0); /* Timer J */
}

static void test_reliable_transport_ends_without_timers(void **state) {
    (void)state;
    RESTART_ON_STALL();
    struct txn *t = new_txn(false, SIPDEST_TCP);
    txn_respond(tb, t, 200, "200", 3);
    assert_int_equal(txn_count(tb), 0); /* Timer J = 0 */
    t = new_txn(true, SIPDEST_TCP);
    txn_respond(tb, t, 503, "503", 3);
    run_for(50);
    assert_int_equal(sent.count, 2); /* no Timer G on TCP */
    txn_ack(tb, t);
    assert_int_equal(txn_count(tb), 0); /* Timer I = 0 */
}

static void test_invite_2xx_is_retransmitted_until_its_ack(void **state) {
    (void)state;
    RESTART_ON_STALL();
    char key[512];
    struct txn *t = new_txn(true, SIPDEST_UDP);
    assert_int_equal(t->id >> 40, 7); /* the owner instance is in the id */
    assert_ptr_equal(txn_find_id(tb, t->id), t);
    txn_respond(tb, t, 200, "200", 3);
    assert_int_equal(t->state, TXN_ACCEPTED);
    assert_int_equal(txn_busy(tb), 1);
    run_for(35); /* RFC 3261 13.3.1.4: at 10 and 30 ms */
    assert_int_equal(sent.count, 3);
    txn_request_again(tb, t); /* RFC 6026: the INVITE again is absorbed in Accepted */
    assert_int_equal(sent.count, 3);
    /* the ACK of a 2xx has its own branch: found by the INVITE's merge key */
    parse(REQ("ACK", "SIP/2.0/UDP host.example.com;branch=z9hG4bK-other", ";tag=tg"));
    int n = txn_merge_key(m, SIPMSG_M_INVITE, key, sizeof key);
    assert_ptr_equal(txn_find_merged(tb, key, (size_t)n), t);
    txn_ack(tb, t);
    assert_true(t->acked);
    assert_int_equal(txn_busy(tb), 0);
    run_for(100);
    assert_int_equal(sent.count, 3);
    assert_int_equal(txn_count(tb), 1); /* absorbs INVITE copies until Timer L */
    run_for(64 * T1);
    assert_int_equal(txn_count(tb), 0);
    assert_int_equal(sent.ack_timeouts, 0);
}

static void test_invite_2xx_without_ack_reports_ack_timeout(void **state) {
    (void)state;
    RESTART_ON_STALL();
    struct txn *t = new_txn(true, SIPDEST_UDP);
    txn_respond(tb, t, 200, "200", 3);
    run_for(64 * T1 + 60);
    assert_int_equal(sent.ack_timeouts, 1);
    assert_int_equal(txn_count(tb), 0);
    assert_true(sent.count >= 14);
}

static void test_guard_expires_an_unanswered_server_transaction(void **state) {
    (void)state;
    RESTART_ON_STALL();
    struct txn *t = new_txn(false, SIPDEST_UDP);
    txn_guard(tb, t, 30);
    run_for(20);
    assert_int_equal(sent.expired, 0);
    run_for(30);
    assert_int_equal(sent.expired, 1); /* the hook did not answer: it ends */
    assert_int_equal(txn_count(tb), 0);
}

static struct txn *client(bool invite_txn, const char *branch) {
    char key[128];
    int n = txn_client_key(branch, strlen(branch), invite_txn ? "INVITE" : "BYE",
                           invite_txn ? 6 : 3, key, sizeof key);
    struct sipdest dest = {.transport = SIPDEST_UDP};
    struct txn *t = txn_client_new(tb, invite_txn, key, (size_t)n, &dest, "REQ", 3);
    assert_non_null(t);
    assert_ptr_equal(txn_find(tb, key, (size_t)n), t);
    return t;
}

static void test_client_non_invite_retransmits_on_e_and_gives_up_on_f(void **state) {
    (void)state;
    RESTART_ON_STALL();
    struct txn *t = client(false, "z9hG4bKsb7x1");
    assert_int_equal(sent.requests, 1); /* at once */
    assert_int_equal(txn_busy(tb), 1);
    /* E at 10, 30, 70, then every T2 = 40 ms up to F at 640 ms: 3 + 14 */
    run_for(64 * T1 + 60);
    if (sent.requests < 14 || sent.requests > 18)
        fail_msg("%d requests before Timer F, expected 18", sent.requests);
    assert_int_equal(sent.expired, 1);
    assert_int_equal(txn_count(tb), 0);
    (void)t;
}

static void test_client_non_invite_final_is_passed_once_then_timer_k(void **state) {
    (void)state;
    RESTART_ON_STALL();
    struct txn *t = client(false, "z9hG4bKsb7x2");
    assert_true(txn_client_response(tb, t, 180));
    /* RFC 3261 17.1.2.2: E still fires at 10 ms, and from then on every T2 */
    run_for(15);
    assert_int_equal(sent.requests, 2);
    run_for(30);
    assert_int_equal(sent.requests, 2);
    run_for(20);
    assert_int_equal(sent.requests, 3);
    assert_true(txn_client_response(tb, t, 200));
    assert_int_equal(t->state, TXN_COMPLETED);
    assert_false(txn_client_response(tb, t, 200)); /* a copy: absorbed */
    run_for(T4 + 20);
    assert_int_equal(txn_count(tb), 0); /* Timer K */
    assert_int_equal(sent.expired, 0);
}

static void test_client_invite_stops_timer_a_on_provisional_and_acks_errors(void **state) {
    (void)state;
    RESTART_ON_STALL();
    struct txn *t = client(true, "z9hG4bKsb7x3");
    run_for(35); /* A at 10 and 30 ms */
    assert_int_equal(sent.requests, 3);
    assert_true(txn_client_response(tb, t, 180));
    run_for(100);
    assert_int_equal(sent.requests, 3);
    assert_true(txn_client_response(tb, t, 486));
    txn_client_ack(tb, t, "ACK", 3);
    assert_int_equal(sent.requests, 4);
    assert_string_equal(sent.last_request, "ACK");
    /* RFC 3261 17.1.1.2: the 486 again is absorbed and acknowledged again */
    assert_false(txn_client_response(tb, t, 486));
    assert_int_equal(sent.requests, 5);
    assert_string_equal(sent.last_request, "ACK");
    assert_int_equal(txn_busy(tb), 0);
}

static void test_client_invite_2xx_copies_reach_the_tu(void **state) {
    (void)state;
    RESTART_ON_STALL();
    struct txn *t = client(true, "z9hG4bKsb7x4");
    assert_true(txn_client_response(tb, t, 200));
    assert_int_equal(t->state, TXN_ACCEPTED);
    assert_true(txn_client_response(tb, t, 200)); /* RFC 6026: each 2xx to the TU */
    assert_false(txn_client_response(tb, t, 180));
    run_for(64 * T1 + 30);
    assert_int_equal(txn_count(tb), 0); /* Timer M */
    assert_int_equal(sent.requests, 1);
}

static void test_client_invite_without_answer_times_out_on_b(void **state) {
    (void)state;
    RESTART_ON_STALL();
    client(true, "z9hG4bKsb7x5");
    run_for(64 * T1 + 30);
    /* A doubles without a cap: 10, 30, 70, 150, 310, 630 ms */
    assert_int_equal(sent.requests, 7);
    assert_int_equal(sent.expired, 1);
    assert_int_equal(txn_count(tb), 0);
}

static void test_reference_outlives_the_table(void **state) {
    (void)state;
    struct txn *t = new_txn(false, SIPDEST_UDP);
    txn_ref(t); /* as a REGISTER waiting for routerd */
    txn_table_close(tb);
    assert_int_equal(t->state, TXN_TERMINATED);
    txn_unref(t); /* frees it (ASan watches) */
    uv_run(&loop, UV_RUN_DEFAULT);
    struct txn_timers timers = {T1, T2, T4};
    tb = txn_table_new(&loop, &timers, &hooks, &sent, NULL, 0); /* for teardown */
}

static void test_many_transactions_are_found_and_all_end(void **state) {
    (void)state;
    RESTART_ON_STALL();
    char req[512], key[512];
    struct sipdest dest = {.transport = SIPDEST_UDP};
    for (int i = 0; i < 5000; i++) {
        snprintf(req, sizeof req, REQ("OPTIONS", "SIP/2.0/UDP h;branch=z9hG4bK-%d", ""), i);
        int n = key_of(req, SIPMSG_M_UNKNOWN, key, sizeof key);
        struct txn *t = txn_new(tb, false, key, (size_t)n, NULL, 0, &dest, "E", 1, SIZE_MAX, NULL);
        assert_non_null(t);
        txn_respond(tb, t, 200, "200", 3);
    }
    assert_int_equal(txn_count(tb), 5000);
    for (int i = 0; i < 5000; i += 97) {
        snprintf(req, sizeof req, REQ("OPTIONS", "SIP/2.0/UDP h;branch=z9hG4bK-%d", ""), i);
        int n = key_of(req, SIPMSG_M_UNKNOWN, key, sizeof key);
        assert_non_null(txn_find(tb, key, (size_t)n));
    }
    run_for(64 * T1 + 50);
    assert_int_equal(txn_count(tb), 0);
}

int main(void) {
    sipmsg_library_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(
            test_ack_and_retransmission_match_the_invite_cancel_does_not, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_reused_branch_with_another_call_id_is_another_transaction, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rfc2543_requests_match_by_their_fields, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_merged_requests_share_the_merge_key, setup, teardown),
        cmocka_unit_test_setup_teardown(test_invite_error_is_retransmitted_on_timer_g_until_timer_h,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_ack_confirms_and_timer_i_ends_the_invite, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_non_invite_absorbs_retransmissions_until_timer_j,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_reliable_transport_ends_without_timers, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_invite_2xx_is_retransmitted_until_its_ack, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_invite_2xx_without_ack_reports_ack_timeout, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_guard_expires_an_unanswered_server_transaction, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_client_non_invite_retransmits_on_e_and_gives_up_on_f,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_client_non_invite_final_is_passed_once_then_timer_k,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_client_invite_stops_timer_a_on_provisional_and_acks_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_client_invite_2xx_copies_reach_the_tu, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_client_invite_without_answer_times_out_on_b, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_reference_outlives_the_table, setup, teardown),
        cmocka_unit_test_setup_teardown(test_many_transactions_are_found_and_all_end, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
