/*
 * ipc_probe - drives the IPC layer from outside, for the integration tests. Prints TAP
 * lines ("ok - ...", "not ok - ...") and exits non-zero on any failure.
 *   ipc_probe roundtrip       two processes over a socketpair, both on lib/ipc: every
 *                             Envelope body type (found from the descriptor, so a type
 *                             added later is covered too), filled with non-default values,
 *                             goes there and back and must come back byte-identical
 *   ipc_probe worker PATH     against a running worker's socket: Hello and Ping answered,
 *                             malformed packets dropped without killing the channel, a
 *                             request it does not handle answered with an Error
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ipc.h"

static int failures;

#define TAP(cond, ...)                      \
    do {                                    \
        if (cond) {                         \
            printf("ok - ");                \
        } else {                            \
            printf("not ok - ");            \
            failures++;                     \
        }                                   \
        printf(__VA_ARGS__);                \
        printf("\n");                       \
        fflush(stdout);                     \
    } while (0)

/* ---- a generic filler: every scalar, string, bytes and sub-message field set ---- */

static void fill_message(ProtobufCMessage *m, int depth);

static void fill_field(ProtobufCMessage *m, const ProtobufCFieldDescriptor *f, int depth) {
    void *at = (char *)m + f->offset;
    if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF)
        return;
    if (f->label == PROTOBUF_C_LABEL_REPEATED) {
        /* Two elements of repeated messages (one filled, one empty) and strings. */
        size_t *count = (size_t *)((char *)m + f->quantifier_offset);
        if (f->type == PROTOBUF_C_TYPE_MESSAGE && depth < 3) {
            const ProtobufCMessageDescriptor *d = f->descriptor;
            ProtobufCMessage **arr = calloc(2, sizeof *arr);
            for (int i = 0; i < 2; i++) {
                arr[i] = calloc(1, d->sizeof_message);
                protobuf_c_message_init(d, arr[i]);
            }
            fill_message(arr[0], depth + 1);
            *(ProtobufCMessage ***)at = arr;
            *count = 2;
        } else if (f->type == PROTOBUF_C_TYPE_STRING) {
            char **arr = calloc(2, sizeof *arr);
            arr[0] = strdup(f->name);
            arr[1] = strdup("");
            *(char ***)at = arr;
            *count = 2;
        }
        return;
    }
    switch (f->type) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
        *(int32_t *)at = -1000 - (int32_t)f->id;
        break;
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
        *(uint32_t *)at = 4000000000u - f->id;
        break;
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
        *(int64_t *)at = -5000000000LL - f->id;
        break;
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        *(uint64_t *)at = 9000000000000000000ULL + f->id;
        break;
    case PROTOBUF_C_TYPE_FLOAT:
        *(float *)at = 1.5f;
        break;
    case PROTOBUF_C_TYPE_DOUBLE:
        *(double *)at = 2.25;
        break;
    case PROTOBUF_C_TYPE_BOOL:
        *(protobuf_c_boolean *)at = 1;
        break;
    case PROTOBUF_C_TYPE_ENUM: {
        const ProtobufCEnumDescriptor *e = f->descriptor;
        *(int *)at = e->n_values > 1 ? e->values[e->n_values - 1].value : 0;
        break;
    }
    case PROTOBUF_C_TYPE_STRING: {
        char buf[64];
        snprintf(buf, sizeof buf, "%s-\xc3\xa9-%u", f->name, f->id);
        *(char **)at = strdup(buf);
        break;
    }
    case PROTOBUF_C_TYPE_BYTES: {
        ProtobufCBinaryData *b = at;
        b->len = 5;
        b->data = malloc(5);
        memcpy(b->data, "\0\1\2\377x", 5);
        break;
    }
    case PROTOBUF_C_TYPE_MESSAGE:
        if (depth < 3) {
            const ProtobufCMessageDescriptor *d = f->descriptor;
            ProtobufCMessage *sub = calloc(1, d->sizeof_message);
            protobuf_c_message_init(d, sub);
            fill_message(sub, depth + 1);
            *(ProtobufCMessage **)at = sub;
        }
        break;
    }
}

static void fill_message(ProtobufCMessage *m, int depth) {
    for (unsigned i = 0; i < m->descriptor->n_fields; i++)
        fill_field(m, &m->descriptor->fields[i], depth);
}

/* An Envelope whose body is the oneof member f, every field of it filled. */
static Sb__Envelope *make_envelope(const ProtobufCFieldDescriptor *f) {
    Sb__Envelope *env = calloc(1, sizeof *env);
    sb__envelope__init(env);
    const ProtobufCMessageDescriptor *d = f->descriptor;
    ProtobufCMessage *body = calloc(1, d->sizeof_message);
    protobuf_c_message_init(d, body);
    fill_message(body, 1);
    *(ProtobufCMessage **)((char *)env + f->offset) = body;
    *(uint32_t *)((char *)env + f->quantifier_offset) = f->id;
    return env;
}

/* ---- roundtrip ---- */

struct rt {
    uv_loop_t *loop;
    ipc_chan_t *ch;
    unsigned next; /* index into the envelope's fields */
    Sb__Envelope *sent;
    uint8_t sent_bytes[65536];
    size_t sent_len;
};

static void echo_on_envelope(ipc_chan_t *ch, Sb__Envelope *env, void *arg) {
    (void)arg;
    Sb__Envelope copy = *env; /* same body, answered as a reply */
    copy.request_id = 0;
    ipc_reply(ch, env, &copy);
}

static void echo_on_close(ipc_chan_t *ch, int err, void *arg) {
    (void)ch;
    (void)err;
    (void)arg;
}

static const struct ipc_handlers echo_handlers = {echo_on_envelope, NULL, echo_on_close};

static void rt_send_next(struct rt *rt);

static void rt_reply(ipc_chan_t *ch, Sb__Envelope *reply, void *arg) {
    struct rt *rt = arg;
    (void)ch;
    const char *name = ipc_body_name(rt->sent);
    if (!reply) {
        TAP(0, "roundtrip %s: no answer", name);
    } else {
        static uint8_t got[65536];
        reply->reply_to = 0;
        rt->sent->request_id = 0;
        size_t n = sb__envelope__get_packed_size(reply);
        rt->sent_len = sb__envelope__pack(rt->sent, rt->sent_bytes);
        bool same = false;
        if (n == rt->sent_len && n <= sizeof got) {
            sb__envelope__pack(reply, got);
            same = memcmp(got, rt->sent_bytes, n) == 0;
        }
        TAP(same && reply->body_case == rt->sent->body_case,
            "roundtrip %s: %zu bytes back identical", name, n);
    }
    sb__envelope__free_unpacked(rt->sent, NULL);
    rt->sent = NULL;
    rt_send_next(rt);
}

static void rt_send_next(struct rt *rt) {
    const ProtobufCMessageDescriptor *d = &sb__envelope__descriptor;
    while (rt->next < d->n_fields && !(d->fields[rt->next].flags & PROTOBUF_C_FIELD_FLAG_ONEOF))
        rt->next++;
    if (rt->next >= d->n_fields) {
        ipc_chan_close(rt->ch);
        return;
    }
    rt->sent = make_envelope(&d->fields[rt->next++]);
    int rc = ipc_request(rt->ch, rt->sent, rt_reply, rt, 2000);
    if (rc < 0) {
        TAP(0, "roundtrip %s: send failed: %s", ipc_body_name(rt->sent), strerror(-rc));
        sb__envelope__free_unpacked(rt->sent, NULL);
        rt->sent = NULL;
        rt_send_next(rt);
    }
}

static int roundtrip(void) {
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv) < 0)
        return perror("socketpair"), 1;
    pid_t pid = fork();
    if (pid == 0) {
        close(sv[0]);
        uv_loop_t loop;
        uv_loop_init(&loop);
        ipc_chan_open(&loop, sv[1], &echo_handlers, NULL, 65536);
        uv_run(&loop, UV_RUN_DEFAULT); /* ends when the parent closes its end */
        uv_loop_close(&loop);
        _exit(0);
    }
    close(sv[1]);
    static struct rt rt;
    uv_loop_t loop;
    uv_loop_init(&loop);
    rt.loop = &loop;
    rt.ch = ipc_chan_open(&loop, sv[0], &echo_handlers, NULL, 65536);
    rt_send_next(&rt);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    int status;
    waitpid(pid, &status, 0);
    TAP(WIFEXITED(status) && WEXITSTATUS(status) == 0, "echo process exited cleanly");
    return failures ? 1 : 0;
}

/* ---- against a worker: plain blocking socket calls, nothing of ours in between ---- */

static Sb__Envelope *call(int fd, const void *pkt, size_t len, int timeout_ms) {
    struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    if (send(fd, pkt, len, 0) != (ssize_t)len)
        return NULL;
    uint8_t buf[65536];
    ssize_t n = recv(fd, buf, sizeof buf, 0);
    return n > 0 ? sb__envelope__unpack(NULL, (size_t)n, buf) : NULL;
}

static Sb__Envelope *call_env(int fd, Sb__Envelope *env) {
    uint8_t buf[65536];
    size_t len = sb__envelope__pack(env, buf);
    return call(fd, buf, len, 2000);
}

static Sb__Envelope *ping(int fd, uint64_t id, const char *payload) {
    Sb__Envelope env = SB__ENVELOPE__INIT;
    Sb__Ping p = SB__PING__INIT;
    p.sent_us = 42;
    p.payload.data = (uint8_t *)payload;
    p.payload.len = strlen(payload);
    env.request_id = id;
    env.body_case = SB__ENVELOPE__BODY_PING;
    env.ping = &p;
    return call_env(fd, &env);
}

static bool is_pong(const Sb__Envelope *r, uint64_t id, const char *payload) {
    return r && r->body_case == SB__ENVELOPE__BODY_PONG && r->reply_to == id &&
           r->pong->sent_us == 42 && r->pong->payload.len == strlen(payload) &&
           memcmp(r->pong->payload.data, payload, r->pong->payload.len) == 0;
}

static int worker(const char *path) {
    int fd = ipc_connect_path(path);
    TAP(fd >= 0, "connect to %s", path);
    if (fd < 0)
        return 1;
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);

    Sb__Envelope env = SB__ENVELOPE__INIT;
    Sb__Hello h = SB__HELLO__INIT;
    h.service = "ipc_probe";
    h.role = "test";
    h.pid = getpid();
    h.shm_slot = 9999;
    env.request_id = 1;
    env.body_case = SB__ENVELOPE__BODY_HELLO;
    env.hello = &h;
    Sb__Envelope *r = call_env(fd, &env);
    TAP(r && r->body_case == SB__ENVELOPE__BODY_HELLO && r->reply_to == 1 && r->hello->pid > 0,
        "hello answered with the worker's hello (service %s, pid %d)",
        r && r->body_case == SB__ENVELOPE__BODY_HELLO ? r->hello->service : "?",
        r && r->body_case == SB__ENVELOPE__BODY_HELLO ? r->hello->pid : 0);
    if (r)
        sb__envelope__free_unpacked(r, NULL);

    r = ping(fd, 2, "first");
    TAP(is_pong(r, 2, "first"), "ping answered with pong carrying the payload");
    if (r)
        sb__envelope__free_unpacked(r, NULL);

    /* Malformed: random bytes, a truncated envelope, an envelope without a body. None is
     * answered; the next ping still is. */
    static const uint8_t junk[] = {0xff, 0xff, 0xff, 0xff, 0x0f, 0x12, 0x99, 0x01};
    send(fd, junk, sizeof junk, 0);
    uint8_t buf[256];
    Sb__Envelope half = SB__ENVELOPE__INIT;
    Sb__Ping hp = SB__PING__INIT;
    hp.payload.data = (uint8_t *)"0123456789";
    hp.payload.len = 10;
    half.request_id = 3;
    half.body_case = SB__ENVELOPE__BODY_PING;
    half.ping = &hp;
    size_t hl = sb__envelope__pack(&half, buf);
    send(fd, buf, hl - 4, 0);
    Sb__Envelope empty = SB__ENVELOPE__INIT;
    empty.request_id = 4;
    size_t el = sb__envelope__pack(&empty, buf);
    send(fd, buf, el, 0);
    r = ping(fd, 5, "after junk");
    TAP(is_pong(r, 5, "after junk"),
        "malformed packets dropped without an answer; the channel still works");
    if (r)
        sb__envelope__free_unpacked(r, NULL);

    Sb__Envelope st = SB__ENVELOPE__INIT;
    Sb__Status s = SB__STATUS__INIT;
    st.request_id = 6;
    st.body_case = SB__ENVELOPE__BODY_STATUS;
    st.status = &s;
    r = call_env(fd, &st);
    TAP(r && r->body_case == SB__ENVELOPE__BODY_ERROR && r->reply_to == 6 &&
            r->error->code == -ENOTSUP,
        "a request the worker does not handle gets an Error (%s)",
        r && r->body_case == SB__ENVELOPE__BODY_ERROR ? r->error->message : "none");
    if (r)
        sb__envelope__free_unpacked(r, NULL);

    Sb__Envelope ctl = SB__ENVELOPE__INIT;
    Sb__Control c = SB__CONTROL__INIT;
    c.op = SB__CONTROL_OP__CONTROL_OP_STOP;
    ctl.request_id = 7;
    ctl.body_case = SB__ENVELOPE__BODY_CONTROL;
    ctl.control = &c;
    r = call_env(fd, &ctl);
    TAP(r && r->body_case == SB__ENVELOPE__BODY_ERROR && r->error->code == -EPERM,
        "a Control from a peer (not master) is refused with EPERM");
    if (r)
        sb__envelope__free_unpacked(r, NULL);
    r = ping(fd, 8, "still here");
    TAP(is_pong(r, 8, "still here"), "the worker did not stop on a peer's Control");
    if (r)
        sb__envelope__free_unpacked(r, NULL);
    close(fd);
    return failures ? 1 : 0;
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc == 2 && strcmp(argv[1], "roundtrip") == 0)
        return roundtrip();
    if (argc == 3 && strcmp(argv[1], "worker") == 0)
        return worker(argv[2]);
    fprintf(stderr, "usage: ipc_probe roundtrip | worker PATH\n");
    return 2;
}
