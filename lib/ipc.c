/* ipc - see ipc.h */
#include "ipc.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "clock.h"

#define IPC_READ_BURST 64

struct ipc_out {
    struct ipc_out *next;
    size_t len;
    uint8_t data[];
};

/* Requests waiting for their answer, in deadline order (the timer fires at the head's),
 * and found by id in an index: ids are consecutive, so slot id & mask is free unless the
 * ids waiting span more than the index holds (it then doubles). O(1) per request, per
 * answer in any order, and per timeout, however many wait (a peer that drops answers
 * or a burst of timeouts never makes an answer scan the list). */
#define IPC_INDEX_MIN 256
struct ipc_pending {
    struct ipc_pending *next, *prev;
    uint64_t id;
    int64_t deadline_us;
    ipc_reply_cb cb;
    void *arg;
};

struct ipc_chan {
    uv_poll_t poll;
    uv_timer_t timer;
    int fd;
    int events;
    int closing;
    int handles_open;
    struct ipc_handlers h;
    void *arg;
    size_t max_msg;
    uint8_t *rbuf;
    struct ipc_out *out_head, *out_tail;
    size_t out_bytes;
    struct ipc_pending *pending, *pending_tail;
    struct ipc_pending **index; /* by id & index_mask; NULL until the first request */
    uint64_t index_mask;
    int64_t timer_due_us; /* when the timer fires, 0 when it is stopped */
    uint64_t next_id;
    uint64_t tx, rx, malformed;
    struct shm_proc *slot;
};

static void chan_poll_cb(uv_poll_t *p, int status, int events);

static void chan_handle_closed(uv_handle_t *handle) {
    ipc_chan_t *ch = handle->data;
    if (--ch->handles_open > 0)
        return;
    close(ch->fd);
    free(ch->rbuf);
    free(ch->index);
    free(ch);
}

static void pending_unlink(ipc_chan_t *ch, struct ipc_pending *p) {
    ch->index[p->id & ch->index_mask] = NULL;
    if (p->prev)
        p->prev->next = p->next;
    else
        ch->pending = p->next;
    if (p->next)
        p->next->prev = p->prev;
    else
        ch->pending_tail = p->prev;
}

/* Puts p in the index, doubling it until p's slot is free. false when out of memory. */
static bool index_put(ipc_chan_t *ch, struct ipc_pending *p) {
    while (!ch->index || ch->index[p->id & ch->index_mask]) {
        uint64_t size = ch->index ? (ch->index_mask + 1) * 2 : IPC_INDEX_MIN;
        struct ipc_pending **index = calloc(size, sizeof *index);
        if (!index)
            return false;
        for (struct ipc_pending *q = ch->pending; q; q = q->next)
            index[q->id & (size - 1)] = q; /* distinct mod the old size, so mod this one */
        free(ch->index);
        ch->index = index;
        ch->index_mask = size - 1;
    }
    ch->index[p->id & ch->index_mask] = p;
    return true;
}

/* Links p in deadline order: from the tail back, so O(1) when timeouts are alike. */
static void pending_link(ipc_chan_t *ch, struct ipc_pending *p) {
    struct ipc_pending *at = ch->pending_tail;
    while (at && at->deadline_us > p->deadline_us)
        at = at->prev;
    p->prev = at;
    p->next = at ? at->next : ch->pending;
    if (p->next)
        p->next->prev = p;
    else
        ch->pending_tail = p;
    if (at)
        at->next = p;
    else
        ch->pending = p;
}

static void chan_fail_pending(ipc_chan_t *ch) {
    while (ch->pending) {
        struct ipc_pending *p = ch->pending;
        pending_unlink(ch, p);
        p->cb(ch, NULL, p->arg);
        free(p);
    }
}

void ipc_chan_close(ipc_chan_t *ch) {
    if (!ch || ch->closing)
        return;
    ch->closing = 1;
    chan_fail_pending(ch);
    while (ch->out_head) {
        struct ipc_out *o = ch->out_head;
        ch->out_head = o->next;
        free(o);
    }
    uv_poll_stop(&ch->poll);
    uv_timer_stop(&ch->timer);
    uv_close((uv_handle_t *)&ch->poll, chan_handle_closed);
    uv_close((uv_handle_t *)&ch->timer, chan_handle_closed);
}

/* The peer is gone: tell the owner once, then close. */
static void chan_lost(ipc_chan_t *ch, int err) {
    if (ch->closing)
        return;
    chan_fail_pending(ch);
    if (ch->h.on_close)
        ch->h.on_close(ch, err, ch->arg);
    ipc_chan_close(ch);
}

static void chan_set_events(ipc_chan_t *ch, int events) {
    if (ch->closing || events == ch->events)
        return;
    ch->events = events;
    uv_poll_start(&ch->poll, events, chan_poll_cb);
}

static void chan_timer_cb(uv_timer_t *t);

static void chan_timer_start(ipc_chan_t *ch, int64_t due_us) {
    int64_t wait_us = due_us - clock_mono_us();
    ch->timer_due_us = due_us;
    uv_timer_start(&ch->timer, chan_timer_cb,
                   wait_us > 0 ? (uint64_t)(wait_us + 999) / 1000 : 0, 0);
}

/* Expires what is due (the head of the deadline-ordered list), then waits for the next. */
static void chan_timer_cb(uv_timer_t *t) {
    ipc_chan_t *ch = t->data;
    int64_t now = clock_mono_us();
    ch->timer_due_us = 0;
    while (!ch->closing && ch->pending && ch->pending->deadline_us <= now) {
        struct ipc_pending *p = ch->pending;
        pending_unlink(ch, p);
        p->cb(ch, NULL, p->arg);
        free(p);
    }
    if (!ch->closing && ch->pending && !ch->timer_due_us)
        chan_timer_start(ch, ch->pending->deadline_us);
}

static void chan_malformed(ipc_chan_t *ch, size_t len, const char *why) {
    ch->malformed++;
    shm_count(ch->slot, SHM_C_ipc_malformed, 1);
    if (ch->h.on_malformed)
        ch->h.on_malformed(ch, len, why, ch->arg);
}

static void chan_dispatch(ipc_chan_t *ch, Sb__Envelope *env) {
    if (env->reply_to) {
        struct ipc_pending *p = ch->index ? ch->index[env->reply_to & ch->index_mask] : NULL;
        if (p && p->id == env->reply_to) {
            pending_unlink(ch, p);
            p->cb(ch, env, p->arg);
            free(p);
            /* the timer may fire for nothing: it then re-arms or stops */
        }
        /* else an answer nobody waits for any more (timed out): nothing to do. */
        return;
    }
    if (ch->h.on_envelope)
        ch->h.on_envelope(ch, env, ch->arg);
}

static void chan_read(ipc_chan_t *ch) {
    for (int i = 0; i < IPC_READ_BURST && !ch->closing; i++) {
        struct iovec iov = {ch->rbuf, ch->max_msg};
        struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
        ssize_t n = recvmsg(ch->fd, &msg, MSG_DONTWAIT | MSG_TRUNC);
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
                return;
            chan_lost(ch, -errno);
            return;
        }
        if (n == 0) {
            chan_lost(ch, 0);
            return;
        }
        if ((size_t)n > ch->max_msg || (msg.msg_flags & MSG_TRUNC)) {
            chan_malformed(ch, (size_t)n, "packet over ipc_max_message");
            continue;
        }
        Sb__Envelope *env = sb__envelope__unpack(NULL, (size_t)n, ch->rbuf);
        if (!env) {
            chan_malformed(ch, (size_t)n, "not a protobuf envelope");
            continue;
        }
        if (env->body_case == SB__ENVELOPE__BODY__NOT_SET) {
            sb__envelope__free_unpacked(env, NULL);
            chan_malformed(ch, (size_t)n, "envelope without a body");
            continue;
        }
        ch->rx++;
        shm_count(ch->slot, SHM_C_ipc_rx, 1);
        chan_dispatch(ch, env);
        sb__envelope__free_unpacked(env, NULL);
    }
}

static void chan_flush(ipc_chan_t *ch) {
    while (ch->out_head && !ch->closing) {
        struct ipc_out *o = ch->out_head;
        ssize_t n = send(ch->fd, o->data, o->len, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
                break;
            chan_lost(ch, -errno);
            return;
        }
        ch->out_head = o->next;
        if (!ch->out_head)
            ch->out_tail = NULL;
        ch->out_bytes -= o->len;
        free(o);
    }
    chan_set_events(ch, UV_READABLE | (ch->out_head ? UV_WRITABLE : 0) | UV_DISCONNECT);
}

static void chan_poll_cb(uv_poll_t *p, int status, int events) {
    ipc_chan_t *ch = p->data;
    if (status < 0) {
        /* libuv reports POLLERR/POLLHUP as an error and stops polling: take what is still
         * queued (the peer's last packets, then EOF) before giving up on the socket. */
        for (int i = 0; i < 1024 && !ch->closing; i++)
            chan_read(ch);
        chan_lost(ch, status);
        return;
    }
    if (events & UV_WRITABLE)
        chan_flush(ch);
    if (!ch->closing && (events & (UV_READABLE | UV_DISCONNECT)))
        chan_read(ch);
}

ipc_chan_t *ipc_chan_open(uv_loop_t *loop, int fd, const struct ipc_handlers *handlers,
                          void *arg, size_t max_msg) {
    ipc_chan_t *ch = calloc(1, sizeof *ch);
    uint8_t *buf = malloc(max_msg + 1);
    if (!ch || !buf) {
        free(ch);
        free(buf);
        close(fd);
        return NULL;
    }
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    ch->fd = fd;
    ch->h = *handlers;
    ch->arg = arg;
    ch->max_msg = max_msg;
    ch->rbuf = buf;
    ch->next_id = 1;
    uv_poll_init(loop, &ch->poll, fd);
    uv_timer_init(loop, &ch->timer);
    ch->poll.data = ch;
    ch->timer.data = ch;
    ch->handles_open = 2;
    chan_set_events(ch, UV_READABLE | UV_DISCONNECT);
    return ch;
}

void *ipc_chan_arg(const ipc_chan_t *ch) {
    return ch->arg;
}

void ipc_chan_set_arg(ipc_chan_t *ch, void *arg) {
    ch->arg = arg;
}

void ipc_chan_set_slot(ipc_chan_t *ch, struct shm_proc *slot) {
    ch->slot = slot;
}

void ipc_chan_stats(const ipc_chan_t *ch, uint64_t *tx, uint64_t *rx, uint64_t *malformed) {
    *tx = ch->tx;
    *rx = ch->rx;
    *malformed = ch->malformed;
}

int ipc_send(ipc_chan_t *ch, const Sb__Envelope *env) {
    if (ch->closing)
        return -EPIPE;
    size_t len = sb__envelope__get_packed_size(env);
    if (len > ch->max_msg)
        return -EMSGSIZE;
    if (!ch->out_head) {
        /* Fast path: straight to the socket, no copy kept. */
        uint8_t stackbuf[4096];
        uint8_t *buf = len <= sizeof stackbuf ? stackbuf : malloc(len);
        if (!buf)
            return -ENOMEM;
        sb__envelope__pack(env, buf);
        ssize_t n = send(ch->fd, buf, len, MSG_DONTWAIT | MSG_NOSIGNAL);
        int e = errno;
        if (buf != stackbuf)
            free(buf);
        if (n >= 0) {
            ch->tx++;
            shm_count(ch->slot, SHM_C_ipc_tx, 1);
            return 0;
        }
        if (e != EAGAIN && e != EWOULDBLOCK && e != EINTR)
            return -e; /* the read side reports the loss */
    }
    if (ch->out_bytes + len > IPC_QUEUE_MAX)
        return -ENOBUFS;
    struct ipc_out *o = malloc(sizeof *o + len);
    if (!o)
        return -ENOMEM;
    o->next = NULL;
    o->len = len;
    sb__envelope__pack(env, o->data);
    if (ch->out_tail)
        ch->out_tail->next = o;
    else
        ch->out_head = o;
    ch->out_tail = o;
    ch->out_bytes += len;
    ch->tx++;
    shm_count(ch->slot, SHM_C_ipc_tx, 1);
    chan_set_events(ch, UV_READABLE | UV_WRITABLE | UV_DISCONNECT);
    return 0;
}

int ipc_request(ipc_chan_t *ch, Sb__Envelope *env, ipc_reply_cb cb, void *cb_arg,
                uint32_t timeout_ms) {
    if (ch->closing)
        return -EPIPE;
    struct ipc_pending *p = malloc(sizeof *p);
    if (!p)
        return -ENOMEM;
    p->id = ch->next_id;
    p->cb = cb;
    p->arg = cb_arg;
    if (!index_put(ch, p)) { /* its slot, before anything is sent */
        free(p);
        return -ENOMEM;
    }
    env->request_id = ch->next_id++;
    int rc = ipc_send(ch, env);
    if (rc < 0) {
        ch->index[p->id & ch->index_mask] = NULL;
        free(p);
        return rc;
    }
    p->deadline_us = clock_mono_us() + (int64_t)timeout_ms * 1000;
    pending_link(ch, p);
    if (!ch->timer_due_us || p->deadline_us < ch->timer_due_us)
        chan_timer_start(ch, p->deadline_us);
    return 0;
}

int ipc_reply(ipc_chan_t *ch, const Sb__Envelope *req, Sb__Envelope *reply) {
    reply->reply_to = req->request_id;
    return ipc_send(ch, reply);
}

static int ipc_fill_addr(const char *path, struct sockaddr_un *sun) {
    memset(sun, 0, sizeof *sun);
    sun->sun_family = AF_UNIX;
    size_t len = strlen(path);
    if (len >= sizeof sun->sun_path)
        return -ENAMETOOLONG;
    memcpy(sun->sun_path, path, len + 1);
    return 0;
}

int ipc_listen_path(const char *path, mode_t mode) {
    struct sockaddr_un sun;
    int rc = ipc_fill_addr(path, &sun);
    if (rc < 0)
        return rc;
    int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    unlink(path);
    if (bind(fd, (struct sockaddr *)&sun, sizeof sun) < 0 || chmod(path, mode) < 0 ||
        listen(fd, 128) < 0) {
        int e = -errno;
        close(fd);
        unlink(path);
        return e;
    }
    return fd;
}

int ipc_connect_path(const char *path) {
    struct sockaddr_un sun;
    int rc = ipc_fill_addr(path, &sun);
    if (rc < 0)
        return rc;
    int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    if (connect(fd, (struct sockaddr *)&sun, sizeof sun) < 0) {
        int e = -errno;
        close(fd);
        return e;
    }
    return fd;
}

struct ipc_listener {
    uv_poll_t poll;
    int fd;
    void (*on_accept)(ipc_listener_t *l, int fd, void *arg);
    void *arg;
};

static void listener_closed(uv_handle_t *h) {
    ipc_listener_t *l = h->data;
    close(l->fd);
    free(l);
}

static void listener_cb(uv_poll_t *p, int status, int events) {
    ipc_listener_t *l = p->data;
    (void)events;
    if (status < 0)
        return;
    for (int i = 0; i < 32; i++) {
        int fd = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
            return; /* EAGAIN, or a transient error the next wake-up retries */
        l->on_accept(l, fd, l->arg);
    }
}

ipc_listener_t *ipc_listener_open(uv_loop_t *loop, int fd,
                                  void (*on_accept)(ipc_listener_t *l, int fd, void *arg),
                                  void *arg) {
    ipc_listener_t *l = calloc(1, sizeof *l);
    if (!l)
        return NULL;
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    l->fd = fd;
    l->on_accept = on_accept;
    l->arg = arg;
    uv_poll_init(loop, &l->poll, fd);
    l->poll.data = l;
    uv_poll_start(&l->poll, UV_READABLE, listener_cb);
    return l;
}

void ipc_listener_close(ipc_listener_t *l) {
    if (!l)
        return;
    uv_poll_stop(&l->poll);
    uv_close((uv_handle_t *)&l->poll, listener_closed);
}

const char *ipc_body_name(const Sb__Envelope *env) {
    const ProtobufCFieldDescriptor *f =
        protobuf_c_message_descriptor_get_field(&sb__envelope__descriptor, env->body_case);
    return f && env->body_case != SB__ENVELOPE__BODY__NOT_SET ? f->name : "none";
}
