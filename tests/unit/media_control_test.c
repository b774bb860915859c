/* media_control: SRTP master keys and RTP stream values fail closed. When no random bytes can
 * be had, the create or update that needs a key is refused (INTERNAL) and leaves nothing
 * behind, and a play is refused with PLAY_ERROR; with random bytes the same requests work.
 * The requests go through media_control_handle on a real loop, with a socketpair as the
 * owner's channel and a pool in memory; ctx->random is the seam. */
#include <arpa/inet.h>
#include <errno.h>
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

#include "procs/mediad/media_control.h"
#include "rand.h"

#define PORT_LO 47100
#define PORT_HI 47199

static const char savp_offer[] = "v=0\r\n"
                                 "o=alice 1 1 IN IP4 127.0.0.1\r\n"
                                 "s=-\r\n"
                                 "c=IN IP4 127.0.0.1\r\n"
                                 "t=0 0\r\n"
                                 "m=audio 49170 RTP/SAVP 0\r\n"
                                 "a=rtpmap:0 PCMU/8000\r\n"
                                 "a=crypto:1 AES_CM_128_HMAC_SHA1_80 "
                                 "inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz\r\n";

static const char avp_offer[] = "v=0\r\n"
                                "o=alice 1 1 IN IP4 127.0.0.1\r\n"
                                "s=-\r\n"
                                "c=IN IP4 127.0.0.1\r\n"
                                "t=0 0\r\n"
                                "m=audio 49170 RTP/AVP 0\r\n"
                                "a=rtpmap:0 PCMU/8000\r\n";

static const char savp_answer[] = "v=0\r\n"
                                  "o=bob 2 2 IN IP4 127.0.0.1\r\n"
                                  "s=-\r\n"
                                  "c=IN IP4 127.0.0.1\r\n"
                                  "t=0 0\r\n"
                                  "m=audio 49180 RTP/SAVP 0\r\n"
                                  "a=rtpmap:0 PCMU/8000\r\n"
                                  "a=crypto:1 AES_CM_128_HMAC_SHA1_80 "
                                  "inline:d0RmdmcmVCspeEc3QGZiNWpVLFJhQX1cfHAwJSoj\r\n";

struct fixture {
    uv_loop_t loop;
    cfg_t *cfg;
    struct shm_seg *seg;
    worker_t w;
    media_ctx_t *ctx;
    ipc_chan_t *ch;
    int peer; /* the owner's end: replies and events are read here */
    uint32_t next_request;
};

static int calls_to_random;

static int no_random(void *buf, size_t n) {
    (void)buf;
    (void)n;
    calls_to_random++;
    return -ENOSYS;
}

static void on_envelope(ipc_chan_t *ch, Sb__Envelope *env, void *arg) {
    (void)ch;
    (void)env;
    (void)arg;
}

static const struct ipc_handlers handlers = {.on_envelope = on_envelope};

static int setup(void **state) {
    struct fixture *f = calloc(1, sizeof *f);
    assert_non_null(f);
    assert_int_equal(uv_loop_init(&f->loop), 0);
    static const char text[] = "media_address = 127.0.0.1\n"
                               "rtp_port_range = 47100-47199\n";
    char err[256];
    f->cfg = cfg_parse(text, sizeof text - 1, "main.cf", "/etc/sb", err, sizeof err);
    assert_non_null(f->cfg);
    f->seg = calloc(1, sizeof *f->seg);
    assert_non_null(f->seg);
    f->w.loop = &f->loop;
    f->w.cfg = f->cfg;
    f->w.shm = f->seg;
    f->w.slot = &f->seg->procs[0];
    f->w.instance = 3;
    f->ctx = media_control_new(&f->w);
    assert_non_null(f->ctx);
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
    f->ch = ipc_chan_open(&f->loop, sv[0], &handlers, NULL, 65536);
    assert_non_null(f->ch);
    f->peer = sv[1];
    calls_to_random = 0;
    *state = f;
    return 0;
}

static int teardown(void **state) {
    struct fixture *f = *state;
    media_control_stop(f->ctx);
    ipc_chan_close(f->ch);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&f->loop), 0);
    close(f->peer);
    cfg_free(f->cfg);
    free(f->seg);
    free(f);
    return 0;
}

/* The next envelope the owner received (NULL when none is waiting). */
static Sb__Envelope *received(struct fixture *f) {
    uint8_t buf[65536];
    ssize_t n = recv(f->peer, buf, sizeof buf, MSG_DONTWAIT);
    if (n <= 0)
        return NULL;
    Sb__Envelope *env = sb__envelope__unpack(NULL, (size_t)n, buf);
    assert_non_null(env);
    return env;
}

static Sb__Envelope *request(struct fixture *f, Sb__Envelope *env) {
    env->request_id = ++f->next_request;
    assert_true(media_control_handle(f->ctx, f->ch, env));
    Sb__Envelope *reply = received(f);
    assert_non_null(reply);
    assert_int_equal(reply->reply_to, env->request_id);
    assert_int_equal(reply->body_case, SB__ENVELOPE__BODY_MEDIA_REPLY);
    return reply;
}

static Sb__Envelope *create(struct fixture *f, const char *sdp, int srtp_b) {
    Sb__MediaCreateRequest rq = SB__MEDIA_CREATE_REQUEST__INIT;
    rq.call_id = "call-1";
    rq.owner_tag = "tag-1";
    rq.sdp.data = (uint8_t *)sdp;
    rq.sdp.len = strlen(sdp);
    rq.srtp_b = srtp_b;
    Sb__Envelope env = SB__ENVELOPE__INIT;
    env.body_case = SB__ENVELOPE__BODY_MEDIA_CREATE;
    env.media_create = &rq;
    return request(f, &env);
}

static Sb__Envelope *update_from_b(struct fixture *f, uint64_t id, const char *sdp) {
    Sb__MediaUpdateRequest rq = SB__MEDIA_UPDATE_REQUEST__INIT;
    rq.session_id = id;
    rq.from_side = SB__MEDIA_SIDE__MEDIA_SIDE_B;
    rq.type = SB__MEDIA_SDP_TYPE__MEDIA_SDP_ANSWER;
    rq.sdp.data = (uint8_t *)sdp;
    rq.sdp.len = strlen(sdp);
    Sb__Envelope env = SB__ENVELOPE__INIT;
    env.body_case = SB__ENVELOPE__BODY_MEDIA_UPDATE;
    env.media_update = &rq;
    return request(f, &env);
}

static unsigned free_pairs(struct fixture *f) {
    return shm_media_free_count(&f->seg->media_pool, PORT_LO, PORT_HI);
}

static bool has_text(const ProtobufCBinaryData *b, const char *text) {
    return memmem(b->data, b->len, text, strlen(text)) != NULL;
}

static void
test_create_needing_a_key_without_random_bytes_is_refused_and_leaves_nothing(void **state) {
    struct fixture *f = *state;
    unsigned before = free_pairs(f);
    f->ctx->random = no_random;
    Sb__Envelope *r = create(f, savp_offer, 0);
    assert_int_equal(r->media_reply->status, SB__MEDIA_STATUS__MEDIA_STATUS_INTERNAL);
    assert_string_equal(r->media_reply->reason, "no random bytes for an SRTP key");
    assert_int_equal(r->media_reply->session_id, 0);
    assert_int_equal(r->media_reply->sdp.len, 0);
    sb__envelope__free_unpacked(r, NULL);
    assert_true(calls_to_random > 0);
    assert_int_equal(f->ctx->n_sessions, 0);
    assert_null(f->ctx->all);
    uv_run(&f->loop, UV_RUN_NOWAIT); /* the sockets' closes give the pairs back */
    assert_int_equal(free_pairs(f), before);
    assert_int_equal(f->ctx->closing, 0);
    assert_null(received(f)); /* no event either */
}

static void test_create_needing_a_key_with_random_bytes_sends_our_key(void **state) {
    struct fixture *f = *state;
    Sb__Envelope *r = create(f, savp_offer, 0);
    assert_int_equal(r->media_reply->status, SB__MEDIA_STATUS__MEDIA_STATUS_OK);
    assert_true(has_text(&r->media_reply->sdp, "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:"));
    assert_false(has_text(&r->media_reply->sdp, "WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz"));
    sb__envelope__free_unpacked(r, NULL);
    assert_int_equal(f->ctx->n_sessions, 1);
}

static void test_plain_create_needs_no_random_bytes(void **state) {
    struct fixture *f = *state;
    f->ctx->random = no_random;
    Sb__Envelope *r = create(f, avp_offer, 0);
    assert_int_equal(r->media_reply->status, SB__MEDIA_STATUS__MEDIA_STATUS_OK);
    sb__envelope__free_unpacked(r, NULL);
    assert_int_equal(calls_to_random, 0);
    assert_int_equal(f->ctx->n_sessions, 1);
}

static void
test_update_needing_a_key_without_random_bytes_is_refused_and_changes_nothing(void **state) {
    struct fixture *f = *state;
    Sb__Envelope *r = create(f, avp_offer, 0);
    assert_int_equal(r->media_reply->status, SB__MEDIA_STATUS__MEDIA_STATUS_OK);
    uint64_t id = r->media_reply->session_id;
    sb__envelope__free_unpacked(r, NULL);
    struct media_session *s = f->ctx->all;
    assert_non_null(s);
    f->ctx->random = no_random;
    r = update_from_b(f, id, savp_answer);
    assert_int_equal(r->media_reply->status, SB__MEDIA_STATUS__MEDIA_STATUS_INTERNAL);
    assert_string_equal(r->media_reply->reason, "no random bytes for an SRTP key");
    sb__envelope__free_unpacked(r, NULL);
    /* side B is as it was: no remote, no SRTP, no key */
    const struct media_leg *b = &s->side[1].leg[0];
    assert_false(b->has_remote);
    assert_false(b->srtp);
    assert_int_equal(b->local_key.suite, MEDIA_CRYPTO_NONE);
    assert_null(b->srtp_in);
    assert_false(s->answered);
    assert_int_equal(f->ctx->n_sessions, 1);
    /* random bytes back: the same answer goes through, with our key for side B */
    f->ctx->random = sb_random;
    r = update_from_b(f, id, savp_answer);
    assert_int_equal(r->media_reply->status, SB__MEDIA_STATUS__MEDIA_STATUS_OK);
    sb__envelope__free_unpacked(r, NULL);
    assert_true(b->srtp);
    assert_int_equal(b->local_key.suite, MEDIA_CRYPTO_AES_CM_128_HMAC_SHA1_80);
    assert_non_null(b->srtp_out);
}

static void test_play_without_random_bytes_reports_play_error(void **state) {
    struct fixture *f = *state;
    Sb__Envelope *r = create(f, avp_offer, 0);
    uint64_t id = r->media_reply->session_id;
    sb__envelope__free_unpacked(r, NULL);
    f->ctx->random = no_random;
    Sb__MediaPlayRequest rq = SB__MEDIA_PLAY_REQUEST__INIT;
    rq.session_id = id;
    rq.file = "welcome.wav";
    Sb__Envelope env = SB__ENVELOPE__INIT;
    env.body_case = SB__ENVELOPE__BODY_MEDIA_PLAY;
    env.media_play = &rq;
    r = request(f, &env);
    assert_int_equal(r->media_reply->status, SB__MEDIA_STATUS__MEDIA_STATUS_OK);
    sb__envelope__free_unpacked(r, NULL);
    Sb__Envelope *ev = received(f);
    assert_non_null(ev);
    assert_int_equal(ev->body_case, SB__ENVELOPE__BODY_MEDIA_EVENT);
    assert_int_equal(ev->media_event->type, SB__MEDIA_EVENT_TYPE__MEDIA_EVENT_PLAY_ERROR);
    assert_int_equal(ev->media_event->session_id, id);
    assert_string_equal(ev->media_event->owner_tag, "tag-1");
    assert_string_equal(ev->media_event->reason, "no random bytes for an RTP stream");
    sb__envelope__free_unpacked(ev, NULL);
    assert_false(f->ctx->all->side[0].playing);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(
            test_create_needing_a_key_without_random_bytes_is_refused_and_leaves_nothing, setup,
            teardown),
        cmocka_unit_test_setup_teardown(test_create_needing_a_key_with_random_bytes_sends_our_key,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_plain_create_needs_no_random_bytes, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_update_needing_a_key_without_random_bytes_is_refused_and_changes_nothing, setup,
            teardown),
        cmocka_unit_test_setup_teardown(test_play_without_random_bytes_reports_play_error, setup,
                                        teardown),
    };
    if (media_control_init_privileged() != 0) /* libsrtp2, once per process */
        return 1;
    return cmocka_run_group_tests(tests, NULL, NULL);
}
