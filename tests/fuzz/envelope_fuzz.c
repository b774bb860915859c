/*
 * NAME
 *   envelope_fuzz - libFuzzer target for the IPC receive path (lib/ipc.h, proto/).
 * DESCRIPTION
 *   Each input is one SOCK_SEQPACKET packet as a peer process would send it. It is
 *   written into one end of a socketpair whose other end is an ipc channel on a libuv
 *   loop, and the loop runs (UV_RUN_NOWAIT) until the channel has read it. ipc.h's
 *   promises are then checked: the packet is read in full; a packet over max_msg, one
 *   that does not unpack or one without a body goes to on_malformed; any other goes to
 *   on_envelope, except an answer (reply_to != 0) with no request pending, which ipc.c
 *   drops silently; the channel never closes; rx/malformed counters move by one.
 *   on_envelope re-packs what it got: get_packed_size must equal what pack wrote, and
 *   pack(unpack(pack(env))) must equal pack(env).
 *   A zero-length packet reads as EOF (ipc.h), so such inputs are skipped.
 * OWNERSHIP
 *   The loop, socketpair and channel are made on the first input and kept for the whole
 *   run (reachable, so not a leak; libFuzzer gives no teardown hook). Nothing else
 *   outlives an input.
 * LOOP
 *   A private uv loop, run only from LLVMFuzzerTestOneInput.
 * SEE ALSO
 *   tests/fuzz/run.sh, lib/ipc.h, proto/envelope.proto
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <uv.h>

#include "ipc.h"

/* Smaller than libFuzzer's -max_len, so the "packet over ipc_max_message" path runs too. */
#define FUZZ_MAX_MSG 4096
#define FUZZ_LOOP_RUNS 8

enum fuzz_expect { FUZZ_ENVELOPE, FUZZ_MALFORMED, FUZZ_STRAY_REPLY };

struct fuzz_ipc {
    uv_loop_t loop;
    int chan_fd; /* the channel's end, owned by the channel; used only to peek */
    int peer_fd; /* the end the fuzzer writes to */
    ipc_chan_t *ch;
    unsigned envelopes, malformed; /* callbacks seen for the current input */
};

static void fuzz_fail(const char *what, const char *detail) {
    fprintf(stderr, "envelope_fuzz: %s: %s\n", what, detail ? detail : "(null)");
    abort();
}

/* pack(env) into a new buffer of *len bytes; get_packed_size must match pack's result. */
static uint8_t *fuzz_pack(const Sb__Envelope *env, size_t *len) {
    size_t want = sb__envelope__get_packed_size(env);
    uint8_t *buf = malloc(want ? want : 1);
    if (!buf)
        fuzz_fail("out of memory", "");
    size_t got = sb__envelope__pack(env, buf);
    if (got != want) {
        char why[96];
        snprintf(why, sizeof why, "get_packed_size %zu, pack wrote %zu", want, got);
        fuzz_fail("packed size disagrees", why);
    }
    *len = got;
    return buf;
}

/* True if m or a message inside it kept an unknown field numbered 0 (invalid in
 * protobuf). Walks the descriptors, so new messages in proto/ need no change here. */
static bool has_field_zero(const ProtobufCMessage *m, int depth) {
    if (!m || depth > 32)
        return false;
    for (unsigned k = 0; k < m->n_unknown_fields; k++)
        if (m->unknown_fields[k].tag == 0)
            return true;
    const ProtobufCMessageDescriptor *d = m->descriptor;
    const char *base = (const char *)m;
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        if (f->type != PROTOBUF_C_TYPE_MESSAGE)
            continue;
        if (f->label == PROTOBUF_C_LABEL_REPEATED) {
            size_t n = *(const size_t *)(base + f->quantifier_offset);
            ProtobufCMessage *const *v = *(ProtobufCMessage *const *const *)(base + f->offset);
            for (size_t j = 0; j < n; j++)
                if (has_field_zero(v[j], depth + 1))
                    return true;
            continue;
        }
        if ((f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) &&
            *(const uint32_t *)(base + f->quantifier_offset) != f->id)
            continue; /* another case of the oneof is set: this pointer is not ours */
        if (has_field_zero(*(ProtobufCMessage *const *)(base + f->offset), depth + 1))
            return true;
    }
    return false;
}

static void on_envelope(ipc_chan_t *ch, Sb__Envelope *env, void *arg) {
    struct fuzz_ipc *f = arg;
    (void)ch;
    f->envelopes++;
    if (env->body_case == SB__ENVELOPE__BODY__NOT_SET || strcmp(ipc_body_name(env), "none") == 0)
        fuzz_fail("on_envelope got an envelope without a body", ipc_body_name(env));
    if (env->reply_to != 0)
        fuzz_fail("on_envelope got an answer with no request pending", "");

    size_t len1, len2;
    uint8_t *p1 = fuzz_pack(env, &len1);
    Sb__Envelope *again = sb__envelope__unpack(NULL, len1, p1);
    if (!again && has_field_zero(&env->base, 0)) {
        /* protobuf-c 1.4.1 takes field number 0 when its tag is a non-minimal varint
         * (85 00) but rejects the minimal tag (05) it packs it back as: its bug, not
         * ipc's. Switchboard never re-sends a received envelope, so nothing breaks. */
        free(p1);
        return;
    }
    if (!again)
        fuzz_fail("a re-packed envelope does not unpack", ipc_body_name(env));
    uint8_t *p2 = fuzz_pack(again, &len2);
    if (len1 != len2 || memcmp(p1, p2, len1) != 0)
        fuzz_fail("pack(unpack(pack(env))) differs from pack(env)", ipc_body_name(env));
    if (again->body_case != env->body_case || again->request_id != env->request_id)
        fuzz_fail("re-packed envelope lost its body or request_id", ipc_body_name(env));
    sb__envelope__free_unpacked(again, NULL);
    free(p1);
    free(p2);
}

static void on_malformed(ipc_chan_t *ch, size_t len, const char *why, void *arg) {
    struct fuzz_ipc *f = arg;
    (void)ch;
    (void)len;
    f->malformed++;
    if (!why || !*why)
        fuzz_fail("on_malformed without a reason", why);
}

static void on_close(ipc_chan_t *ch, int err, void *arg) {
    (void)ch;
    (void)arg;
    char why[64];
    snprintf(why, sizeof why, "err %d (%s)", err, strerror(err < 0 ? -err : err));
    fuzz_fail("the channel closed", why);
}

static struct fuzz_ipc *fuzz_ipc(void) {
    static struct fuzz_ipc *f; /* one channel for the whole run, see OWNERSHIP */
    if (f)
        return f;
    static const struct ipc_handlers handlers = {on_envelope, on_malformed, on_close};
    int sv[2];
    f = calloc(1, sizeof *f);
    if (!f || uv_loop_init(&f->loop) != 0 ||
        socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
        fuzz_fail("setup failed", strerror(errno));
    f->chan_fd = sv[0];
    f->peer_fd = sv[1];
    f->ch = ipc_chan_open(&f->loop, sv[0], &handlers, f, FUZZ_MAX_MSG);
    if (!f->ch)
        fuzz_fail("ipc_chan_open failed", "");
    return f;
}

/* What ipc.c must do with the packet, worked out independently of the channel. */
static enum fuzz_expect fuzz_expect(const uint8_t *data, size_t size) {
    if (size > FUZZ_MAX_MSG)
        return FUZZ_MALFORMED;
    Sb__Envelope *env = sb__envelope__unpack(NULL, size, data);
    if (!env)
        return FUZZ_MALFORMED;
    enum fuzz_expect e = env->body_case == SB__ENVELOPE__BODY__NOT_SET ? FUZZ_MALFORMED
                         : env->reply_to != 0                          ? FUZZ_STRAY_REPLY
                                                                       : FUZZ_ENVELOPE;
    sb__envelope__free_unpacked(env, NULL);
    return e;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size == 0)
        return 0; /* reads as EOF: the channel would (rightly) end */
    struct fuzz_ipc *f = fuzz_ipc();
    enum fuzz_expect expect = fuzz_expect(data, size);
    uint64_t tx0, rx0, bad0, tx1, rx1, bad1;
    ipc_chan_stats(f->ch, &tx0, &rx0, &bad0);
    f->envelopes = f->malformed = 0;

    ssize_t n = send(f->peer_fd, data, size, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n < 0 || (size_t)n != size)
        fuzz_fail("send to the channel failed", n < 0 ? strerror(errno) : "short send");
    for (int i = 0; i < FUZZ_LOOP_RUNS && f->envelopes + f->malformed == 0; i++)
        uv_run(&f->loop, UV_RUN_NOWAIT);

    /* The channel must have taken the packet off the socket, whatever it made of it. */
    char peek;
    if (recv(f->chan_fd, &peek, 1, MSG_PEEK | MSG_DONTWAIT) >= 0 || errno != EAGAIN)
        fuzz_fail("the packet is still unread after the loop ran", strerror(errno));

    ipc_chan_stats(f->ch, &tx1, &rx1, &bad1);
    char why[128];
    snprintf(why, sizeof why, "expected %d; on_envelope %u, on_malformed %u, rx +%llu, bad +%llu",
             (int)expect, f->envelopes, f->malformed, (unsigned long long)(rx1 - rx0),
             (unsigned long long)(bad1 - bad0));
    if (tx1 != tx0)
        fuzz_fail("the channel sent something", why);
    switch (expect) {
    case FUZZ_ENVELOPE:
        if (f->envelopes != 1 || f->malformed != 0 || rx1 - rx0 != 1 || bad1 != bad0)
            fuzz_fail("a valid envelope was not delivered exactly once", why);
        break;
    case FUZZ_MALFORMED:
        if (f->envelopes != 0 || f->malformed != 1 || rx1 != rx0 || bad1 - bad0 != 1)
            fuzz_fail("a malformed packet was not reported exactly once", why);
        break;
    case FUZZ_STRAY_REPLY:
        if (f->envelopes != 0 || f->malformed != 0 || rx1 - rx0 != 1 || bad1 != bad0)
            fuzz_fail("an answer nobody waits for was not dropped quietly", why);
        break;
    }
    return 0;
}
