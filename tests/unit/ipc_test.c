/* ipc: envelopes over a socketpair on one libuv loop. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "ipc.h"

struct side {
    int envelopes;
    int malformed;
    char last_why[64];
    int closed;
    int close_err;
    uint64_t last_body;
    uint64_t last_request_id;
    ipc_chan_t *ch;
    bool echo;
};

static void on_env(ipc_chan_t *ch, Sb__Envelope *env, void *arg) {
    struct side *s = arg;
    s->envelopes++;
    s->last_body = env->body_case;
    s->last_request_id = env->request_id;
    if (s->echo && env->body_case == SB__ENVELOPE__BODY_PING) {
        Sb__Envelope out = SB__ENVELOPE__INIT;
        Sb__Pong pong = SB__PONG__INIT;
        pong.sent_us = env->ping->sent_us;
        out.body_case = SB__ENVELOPE__BODY_PONG;
        out.pong = &pong;
        ipc_reply(ch, env, &out);
    }
}

static void on_bad(ipc_chan_t *ch, size_t len, const char *why, void *arg) {
    struct side *s = arg;
    (void)ch;
    (void)len;
    s->malformed++;
    snprintf(s->last_why, sizeof s->last_why, "%s", why);
}

static void on_close(ipc_chan_t *ch, int err, void *arg) {
    struct side *s = arg;
    (void)ch;
    s->closed++;
    s->close_err = err;
    s->ch = NULL;
}

static const struct ipc_handlers handlers = {on_env, on_bad, on_close};

struct pair {
    uv_loop_t loop;
    struct side a, b;
    int raw_b; /* b's fd when b is not a channel */
};

static void open_pair(struct pair *p, bool b_is_channel) {
    int sv[2];
    memset(p, 0, sizeof *p);
    assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv), 0);
    uv_loop_init(&p->loop);
    p->a.ch = ipc_chan_open(&p->loop, sv[0], &handlers, &p->a, 1024);
    if (b_is_channel) {
        p->b.ch = ipc_chan_open(&p->loop, sv[1], &handlers, &p->b, 1024);
        p->raw_b = -1;
    } else {
        p->raw_b = sv[1];
    }
}

static void close_pair(struct pair *p) {
    if (p->a.ch)
        ipc_chan_close(p->a.ch);
    if (p->b.ch)
        ipc_chan_close(p->b.ch);
    if (p->raw_b >= 0)
        close(p->raw_b);
    uv_run(&p->loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&p->loop), 0);
}

static void spin(struct pair *p) {
    for (int i = 0; i < 20; i++)
        uv_run(&p->loop, UV_RUN_NOWAIT);
}

static Sb__Envelope *ping_env(Sb__Envelope *env, Sb__Ping *ping) {
    sb__envelope__init(env);
    sb__ping__init(ping);
    ping->sent_us = 77;
    env->body_case = SB__ENVELOPE__BODY_PING;
    env->ping = ping;
    return env;
}

static int replies, null_replies;
static uint64_t reply_sent_us;

static void reply_cb(ipc_chan_t *ch, Sb__Envelope *reply, void *arg) {
    (void)ch;
    (void)arg;
    if (reply) {
        replies++;
        reply_sent_us = reply->pong->sent_us;
    } else {
        null_replies++;
    }
}

static void test_request_gets_its_reply_not_the_envelope_handler(void **state) {
    (void)state;
    struct pair p;
    Sb__Envelope env;
    Sb__Ping ping;
    open_pair(&p, true);
    p.b.echo = true;
    replies = null_replies = 0;
    assert_int_equal(ipc_request(p.a.ch, ping_env(&env, &ping), reply_cb, NULL, 1000), 0);
    assert_true(env.request_id != 0);
    spin(&p);
    assert_int_equal(replies, 1);
    assert_int_equal(reply_sent_us, 77);
    assert_int_equal(p.b.envelopes, 1);
    assert_int_equal(p.b.last_request_id, env.request_id);
    assert_int_equal(p.a.envelopes, 0); /* the pong went to the callback */
    close_pair(&p);
}

static void test_garbage_and_bodyless_packets_are_dropped_and_reported(void **state) {
    (void)state;
    struct pair p;
    open_pair(&p, false);
    static const uint8_t junk[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    assert_int_equal(send(p.raw_b, junk, sizeof junk, 0), (ssize_t)sizeof junk);
    spin(&p);
    assert_int_equal(p.a.malformed, 1);
    assert_string_equal(p.a.last_why, "not a protobuf envelope");
    Sb__Envelope empty = SB__ENVELOPE__INIT;
    uint8_t buf[64];
    empty.request_id = 4; /* a zero-length packet would read as EOF */
    size_t n = sb__envelope__pack(&empty, buf);
    assert_true(n > 0);
    send(p.raw_b, buf, n, 0);
    spin(&p);
    assert_int_equal(p.a.malformed, 2);
    assert_string_equal(p.a.last_why, "envelope without a body");
    assert_int_equal(p.a.envelopes, 0);
    assert_int_equal(p.a.closed, 0);
    uint64_t tx, rx, bad;
    ipc_chan_stats(p.a.ch, &tx, &rx, &bad);
    assert_int_equal(bad, 2);
    assert_int_equal(rx, 0);
    close_pair(&p);
}

static void test_packet_over_max_is_dropped_not_truncated(void **state) {
    (void)state;
    struct pair p;
    open_pair(&p, false);
    uint8_t big[4096];
    memset(big, 0, sizeof big);
    send(p.raw_b, big, sizeof big, 0);
    spin(&p);
    assert_int_equal(p.a.malformed, 1);
    assert_string_equal(p.a.last_why, "packet over ipc_max_message");
    close_pair(&p);
}

static void test_send_over_max_is_refused(void **state) {
    (void)state;
    struct pair p;
    open_pair(&p, true);
    Sb__Envelope env;
    Sb__Ping ping;
    uint8_t payload[2000] = {0};
    ping_env(&env, &ping);
    ping.payload.data = payload;
    ping.payload.len = sizeof payload;
    assert_int_equal(ipc_send(p.a.ch, &env), -EMSGSIZE);
    close_pair(&p);
}

static void test_request_without_answer_times_out_with_null(void **state) {
    (void)state;
    struct pair p;
    Sb__Envelope env;
    Sb__Ping ping;
    open_pair(&p, true); /* b does not echo */
    replies = null_replies = 0;
    assert_int_equal(ipc_request(p.a.ch, ping_env(&env, &ping), reply_cb, NULL, 30), 0);
    uv_run(&p.loop, UV_RUN_ONCE); /* b receives */
    for (int i = 0; i < 100 && !null_replies; i++)
        uv_run(&p.loop, UV_RUN_ONCE);
    assert_int_equal(null_replies, 1);
    assert_int_equal(replies, 0);
    close_pair(&p);
}

static int order[4], norder;

static void order_cb(ipc_chan_t *ch, Sb__Envelope *reply, void *arg) {
    (void)ch;
    order[norder++] = reply ? 100 + (int)(intptr_t)arg : (int)(intptr_t)arg;
}

/* Requests of different timeouts expire in deadline order, whatever order they were sent
 * in; an answer in between goes to its own request only. */
static void test_timeouts_fire_in_deadline_order(void **state) {
    (void)state;
    struct pair p;
    Sb__Envelope env[3];
    Sb__Ping ping[3];
    open_pair(&p, false);
    norder = 0;
    assert_int_equal(ipc_request(p.a.ch, ping_env(&env[0], &ping[0]), order_cb, (void *)1, 150), 0);
    assert_int_equal(ipc_request(p.a.ch, ping_env(&env[1], &ping[1]), order_cb, (void *)2, 20), 0);
    assert_int_equal(ipc_request(p.a.ch, ping_env(&env[2], &ping[2]), order_cb, (void *)3, 80), 0);
    /* Answer the third from the raw side. */
    Sb__Envelope reply = SB__ENVELOPE__INIT;
    Sb__Pong pong = SB__PONG__INIT;
    reply.body_case = SB__ENVELOPE__BODY_PONG;
    reply.pong = &pong;
    reply.reply_to = env[2].request_id;
    uint8_t buf[64];
    size_t n = sb__envelope__pack(&reply, buf);
    assert_int_equal(send(p.raw_b, buf, n, 0), (ssize_t)n);
    for (int i = 0; i < 200 && norder < 3; i++)
        uv_run(&p.loop, UV_RUN_ONCE);
    assert_int_equal(norder, 3);
    assert_int_equal(order[0], 103); /* the answer, at once */
    assert_int_equal(order[1], 2);   /* 20 ms */
    assert_int_equal(order[2], 1);   /* 150 ms */
    close_pair(&p);
}

#define MANY 300

static int many_got[MANY], many_wrong, many_null;

static void many_cb(ipc_chan_t *ch, Sb__Envelope *reply, void *arg) {
    (void)ch;
    int i = (int)(intptr_t)arg;
    if (!reply)
        many_null++;
    else if (reply->pong->sent_us != (uint64_t)i)
        many_wrong++;
    else
        many_got[i]++;
}

/* Answers in any order reach their own request, while older requests stay unanswered
 * (more than the id index starts with: it grows), and those time out after. */
static void test_answers_in_any_order_reach_their_request(void **state) {
    (void)state;
    struct pair p;
    open_pair(&p, false);
    memset(many_got, 0, sizeof many_got);
    many_wrong = many_null = 0;
    uint64_t ids[MANY];
    for (int i = 0; i < MANY; i++) {
        Sb__Envelope env;
        Sb__Ping ping;
        assert_int_equal(ipc_request(p.a.ch, ping_env(&env, &ping), many_cb, (void *)(intptr_t)i,
                                     i < 10 ? 50 : 5000),
                         0);
        ids[i] = env.request_id;
        if (i % 50 == 49)
            spin(&p); /* let queued sends go out */
    }
    spin(&p);
    /* Answer all but the first 10, newest first. */
    for (int i = MANY - 1; i >= 10; i--) {
        Sb__Envelope reply = SB__ENVELOPE__INIT;
        Sb__Pong pong = SB__PONG__INIT;
        pong.sent_us = (uint64_t)i;
        reply.body_case = SB__ENVELOPE__BODY_PONG;
        reply.pong = &pong;
        reply.reply_to = ids[i];
        uint8_t buf[64];
        size_t n = sb__envelope__pack(&reply, buf);
        assert_int_equal(send(p.raw_b, buf, n, 0), (ssize_t)n);
        if (i % 50 == 0)
            spin(&p);
    }
    for (int i = 0; i < 200 && many_null < 10; i++)
        uv_run(&p.loop, UV_RUN_ONCE);
    assert_int_equal(many_wrong, 0);
    assert_int_equal(many_null, 10);
    for (int i = 10; i < MANY; i++)
        assert_int_equal(many_got[i], 1);
    close_pair(&p);
}

static void test_peer_close_reports_eof_and_fails_pending(void **state) {
    (void)state;
    struct pair p;
    Sb__Envelope env;
    Sb__Ping ping;
    open_pair(&p, false);
    replies = null_replies = 0;
    assert_int_equal(ipc_request(p.a.ch, ping_env(&env, &ping), reply_cb, NULL, 5000), 0);
    close(p.raw_b);
    p.raw_b = -1;
    spin(&p);
    assert_int_equal(p.a.closed, 1);
    /* EOF, or a reset since b left our ping unread: either way the peer is gone. */
    assert_true(p.a.close_err == 0 || p.a.close_err == -ECONNRESET);
    assert_int_equal(null_replies, 1);
    close_pair(&p);
}

static void test_sends_queue_when_socket_is_full_and_all_arrive(void **state) {
    (void)state;
    struct pair p;
    Sb__Envelope env;
    Sb__Ping ping;
    uint8_t payload[900] = {0};
    open_pair(&p, true);
    ping_env(&env, &ping);
    ping.payload.data = payload;
    ping.payload.len = sizeof payload;
    int sent = 0;
    for (; sent < 2000; sent++)
        assert_int_equal(ipc_send(p.a.ch, &env), 0);
    for (int i = 0; i < 2000 && p.b.envelopes < sent; i++)
        uv_run(&p.loop, UV_RUN_NOWAIT);
    assert_int_equal(p.b.envelopes, sent);
    close_pair(&p);
}

static void test_body_names(void **state) {
    (void)state;
    Sb__Envelope env;
    Sb__Ping ping;
    ping_env(&env, &ping);
    assert_string_equal(ipc_body_name(&env), "ping");
    env.body_case = SB__ENVELOPE__BODY__NOT_SET;
    assert_string_equal(ipc_body_name(&env), "none");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_request_gets_its_reply_not_the_envelope_handler),
        cmocka_unit_test(test_garbage_and_bodyless_packets_are_dropped_and_reported),
        cmocka_unit_test(test_packet_over_max_is_dropped_not_truncated),
        cmocka_unit_test(test_send_over_max_is_refused),
        cmocka_unit_test(test_request_without_answer_times_out_with_null),
        cmocka_unit_test(test_timeouts_fire_in_deadline_order),
        cmocka_unit_test(test_answers_in_any_order_reach_their_request),
        cmocka_unit_test(test_peer_close_reports_eof_and_fails_pending),
        cmocka_unit_test(test_sends_queue_when_socket_is_full_and_all_arrive),
        cmocka_unit_test(test_body_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
