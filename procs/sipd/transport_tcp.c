/* transport_tcp - see transport_tcp.h */
#include "transport_tcp.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "sipmsg.h"
#include "transport_tls.h"

#define TCP_READ_CHUNK 16384
#define TCP_BACKLOG 511

struct tcp_server {
    uv_loop_t *loop;
    uv_tcp_t listeners[TCP_MAX_LISTENERS];
    bool listener_tls[TCP_MAX_LISTENERS]; /* a TLS listener (RFC 3261 26.2.1) */
    int nlisteners;
    struct tls_ctx *tls_server, *tls_client; /* tcp_set_tls; owned */
    int handles_open;
    bool listening, closing;
    struct tcp_limits limits;
    tcp_message_cb on_message;
    void *arg;
    struct shm_proc *slot;
    struct tcp_conn *conns; /* open connections */
    size_t nconns;
    uint64_t next_id; /* the last connection id given */
};

struct tcp_conn {
    uv_tcp_t handle;
    uv_timer_t idle;
    struct tcp_server *srv; /* NULL once closing: the server may be gone before us */
    struct tcp_conn *prev, *next;
    int refs; /* 1 while open, plus sipdest holders */
    int handles_open;
    bool closing;
    union sipaddr peer;
    socklen_t peer_len;
    union sipaddr local; /* getsockname */
    uint64_t id;         /* unique in this sipd instance, never 0 */
    bool connecting;     /* ours, outbound: not up yet; what is sent waits in pending */
    char *pending;
    size_t pending_len;
    char *buf;
    size_t len, cap;
    struct tls_session *tls; /* NULL: plain TCP */
    char *raw;               /* TLS: the bytes read from the network */
};

struct tcp_write {
    uv_write_t req;
    char data[];
};

static void conn_close(struct tcp_conn *c);

/* ---------------------------------------------------------------- connections */

void tcp_conn_ref(struct tcp_conn *c) {
    c->refs++;
}

void tcp_conn_unref(struct tcp_conn *c) {
    if (--c->refs > 0)
        return;
    free(c->buf);
    free(c->pending);
    free(c->raw);
    tls_session_free(c->tls);
    free(c);
}

static void conn_handle_closed(uv_handle_t *h) {
    struct tcp_conn *c = h->data;
    if (--c->handles_open == 0)
        tcp_conn_unref(c); /* the connection's own reference */
}

static void conn_close(struct tcp_conn *c) {
    if (c->closing)
        return;
    c->closing = true;
    struct tcp_server *s = c->srv;
    if (s) {
        if (c->prev)
            c->prev->next = c->next;
        else
            s->conns = c->next;
        if (c->next)
            c->next->prev = c->prev;
        s->nconns--;
        shm_gauge(s->slot, SHM_C_sip_tcp_connections, s->nconns);
        c->srv = NULL;
    }
    uv_timer_stop(&c->idle);
    uv_close((uv_handle_t *)&c->handle, conn_handle_closed);
    uv_close((uv_handle_t *)&c->idle, conn_handle_closed);
}

static void shutdown_done(uv_shutdown_t *req, int status) {
    struct tcp_conn *c = req->data;
    (void)status;
    free(req);
    conn_close(c);
    tcp_conn_unref(c);
}

/* Closes once what is queued has been written (a 400 before the close). */
static void conn_close_after_writes(struct tcp_conn *c) {
    if (c->closing)
        return;
    uv_read_stop((uv_stream_t *)&c->handle);
    uv_shutdown_t *req = malloc(sizeof *req);
    if (req) {
        req->data = c;
        tcp_conn_ref(c);
        if (uv_shutdown(req, (uv_stream_t *)&c->handle, shutdown_done) == 0)
            return;
        tcp_conn_unref(c);
        free(req);
    }
    conn_close(c);
}

static void write_done(uv_write_t *req, int status) {
    (void)status;
    free(req);
}

/* Writes bytes as they go on the wire. */
static int raw_send(struct tcp_conn *c, const char *buf, size_t len) {
    uv_buf_t b = uv_buf_init((char *)buf, (unsigned)len);
    int n = uv_try_write((uv_stream_t *)&c->handle, &b, 1);
    if (n == (int)len)
        return 0;
    if (n < 0 && n != UV_EAGAIN) {
        log_ratelimited(LOG_INFO, "tcp write: %s", uv_strerror(n));
        conn_close(c);
        return -EPIPE;
    }
    size_t done = n > 0 ? (size_t)n : 0;
    struct tcp_write *w = malloc(sizeof *w + (len - done));
    if (!w)
        return -ENOMEM;
    memcpy(w->data, buf + done, len - done);
    b = uv_buf_init(w->data, (unsigned)(len - done));
    int rc = uv_write(&w->req, (uv_stream_t *)&c->handle, &b, 1, write_done);
    if (rc < 0) {
        free(w);
        conn_close(c);
        return -EPIPE;
    }
    return 0;
}

/* Sends what the TLS session has produced (handshake records, protected data). */
static int tls_flush(struct tcp_conn *c) {
    char out[TCP_READ_CHUNK];
    for (size_t n; !c->closing && (n = tls_session_output(c->tls, out, sizeof out)) > 0;)
        if (raw_send(c, out, n) < 0)
            return -EPIPE;
    return c->closing ? -EPIPE : 0;
}

int tcp_send(struct tcp_conn *c, const char *buf, size_t len) {
    if (!c || c->closing)
        return -EPIPE;
    if (c->connecting) { /* written once the connection is up */
        char *p = realloc(c->pending, c->pending_len + len);
        if (!p)
            return -ENOMEM;
        memcpy(p + c->pending_len, buf, len);
        c->pending = p;
        c->pending_len += len;
        return 0;
    }
    if (!c->tls)
        return raw_send(c, buf, len);
    int rc = tls_session_write(c->tls, buf, len);
    if (rc == -ENOMEM)
        return rc;
    if (rc < 0) {
        conn_close(c);
        return -EPIPE;
    }
    return tls_flush(c);
}

static void on_idle(uv_timer_t *t) {
    struct tcp_conn *c = t->data;
    log_debug("closing an idle tcp connection");
    conn_close(c);
}

/* Grows the message buffer when little room is left, up to max_message and a chunk. */
static void buf_reserve(struct tcp_conn *c) {
    size_t limit = c->srv ? c->srv->limits.max_message + TCP_READ_CHUNK : c->cap;
    if (c->cap - c->len < TCP_READ_CHUNK / 4 && c->cap < limit) {
        size_t cap = c->cap ? c->cap * 2 : TCP_READ_CHUNK;
        if (cap > limit)
            cap = limit;
        char *nb = realloc(c->buf, cap);
        if (nb) {
            c->buf = nb;
            c->cap = cap;
        }
    }
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
    struct tcp_conn *c = h->data;
    (void)suggested;
    if (c->tls) { /* ciphertext goes through the session into c->buf */
        if (!c->raw)
            c->raw = malloc(TCP_READ_CHUNK);
        *buf = uv_buf_init(c->raw, c->raw ? TCP_READ_CHUNK : 0);
        return;
    }
    buf_reserve(c);
    *buf = uv_buf_init(c->buf + c->len, (unsigned)(c->cap - c->len));
}

/* Appends the cleartext the session has to c->buf, as far as it fits: 0 when the session
 * has no more for now, 1 when c->buf is full (more may wait in the session), -1 when the
 * connection was closed (a TLS error, a failed verification, the peer's close_notify). */
static int tls_input(struct tcp_conn *c) {
    for (;;) {
        buf_reserve(c);
        ssize_t n = tls_session_read(c->tls, c->buf + c->len, c->cap - c->len);
        if (n == -ESHUTDOWN) { /* close_notify: the peer is done */
            tls_flush(c);
            conn_close(c);
            return -1;
        }
        if (n < 0) {
            char ip[64] = "?";
            int port = 0;
            sipaddr_text(&c->peer, ip, sizeof ip, &port);
            tls_flush(c); /* the alert */
            if (c->srv)
                shm_count(c->srv->slot, SHM_C_sip_rx_dropped, 1);
            log_ratelimited(LOG_INFO, "closing a tls connection with %s:%d: %s", ip, port,
                            n == -EACCES ? "its certificate failed verification"
                                         : "TLS error or not TLS");
            conn_close(c);
            return -1;
        }
        if (n == 0 || c->len == c->cap)
            return tls_flush(c) < 0 ? -1 : n == 0 ? 0 : 1;
        c->len += (size_t)n;
    }
}

/* Hands every complete message in the buffer to the core. */
static void conn_process(struct tcp_conn *c) {
    struct tcp_server *s = c->srv;
    size_t off = 0;
    while (!c->closing && c->srv) {
        size_t crlf = 0;
        while (off + crlf < c->len && (c->buf[off + crlf] == '\r' || c->buf[off + crlf] == '\n'))
            crlf++;
        /* RFC 5626 4.4.1: a double CRLF ping gets a CRLF pong */
        if (crlf >= 4 && memcmp(c->buf + off + crlf - 4, "\r\n\r\n", 4) == 0)
            tcp_send(c, "\r\n", 2);
        off += crlf;
        if (off == c->len)
            break;
        size_t msg_len = 0, head_len = 0;
        int r =
            sipmsg_frame(c->buf + off, c->len - off, s->limits.max_message, &msg_len, &head_len);
        if (r == 0)
            break;
        struct sipdest src = {.transport = c->tls ? SIPDEST_TLS : SIPDEST_TCP,
                              .tcp = c,
                              .addr = c->peer,
                              .addr_len = c->peer_len,
                              .local = c->local};
        if (r == -EMSGSIZE) {
            shm_count(s->slot, SHM_C_sip_rx_dropped, 1);
            log_ratelimited(LOG_INFO, "closing a tcp connection: message over sip_max_message");
            conn_close(c);
            return;
        }
        if (r == -EBADMSG) {
            /* RFC 3261 18.3: a stream message needs Content-Length: answer 400, close */
            s->on_message(s->arg, &src, c->buf + off, head_len);
            conn_close_after_writes(c);
            return;
        }
        s->on_message(s->arg, &src, c->buf + off, msg_len);
        off += msg_len;
    }
    if (off && !c->closing) {
        memmove(c->buf, c->buf + off, c->len - off);
        c->len -= off;
    }
}

static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf) {
    struct tcp_conn *c = stream->data;
    (void)buf;
    if (nread < 0) {
        if (nread != UV_EOF)
            log_debug("tcp read: %s", uv_strerror((int)nread));
        conn_close(c);
        return;
    }
    if (nread == 0 || !c->srv)
        return;
    uv_timer_start(&c->idle, on_idle, c->srv->limits.idle_ms, 0);
    int more = 0;
    if (!c->tls) {
        c->len += (size_t)nread;
    } else if (tls_session_input(c->tls, c->raw, (size_t)nread) < 0) {
        conn_close(c);
        return;
    } else if ((more = tls_input(c)) < 0) {
        return;
    }
    for (;;) {
        conn_process(c);
        if (!c->closing && c->len == c->cap && c->srv &&
            c->cap >= c->srv->limits.max_message + TCP_READ_CHUNK) {
            shm_count(c->srv->slot, SHM_C_sip_rx_dropped, 1);
            conn_close(c); /* cannot happen after sipmsg_frame's size check; be safe */
        }
        /* TLS: cleartext that did not fit waits in the session, not on the socket */
        if (more != 1 || c->closing || !c->srv || (more = tls_input(c)) < 0)
            return;
    }
}

/* A connection of s, open handles, linked in its list (counted, not yet in the gauge). */
static struct tcp_conn *conn_new(struct tcp_server *s) {
    struct tcp_conn *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->refs = 1;
    uv_tcp_init(s->loop, &c->handle);
    uv_timer_init(s->loop, &c->idle);
    c->handle.data = c->idle.data = c;
    c->handles_open = 2;
    c->srv = s;
    c->id = ++s->next_id;
    c->next = s->conns;
    if (s->conns)
        s->conns->prev = c;
    s->conns = c;
    s->nconns++;
    return c;
}

/* Open accepted connections whose peer has c's address (c included). */
static size_t from_source(const struct tcp_server *s, const struct tcp_conn *c) {
    size_t n = 0;
    for (const struct tcp_conn *o = s->conns; o; o = o->next)
        n += !o->closing && sipaddr_same_host(&o->peer, &c->peer);
    return n;
}

static void on_connection(uv_stream_t *listener, int status) {
    struct tcp_server *s = listener->data;
    if (status < 0) {
        log_ratelimited(LOG_WARN, "tcp accept: %s", uv_strerror(status));
        return;
    }
    struct tcp_conn *c = conn_new(s);
    if (!c) {
        log_ratelimited(LOG_ERROR, "tcp accept: out of memory");
        return;
    }
    int rc = uv_accept(listener, (uv_stream_t *)&c->handle);
    int len = sizeof c->peer;
    if (rc == 0)
        rc = uv_tcp_getpeername(&c->handle, &c->peer.sa, &len);
    if (rc < 0 || s->nconns > s->limits.max_connections || !s->listening) {
        if (rc == 0)
            log_ratelimited(LOG_WARN, "tcp connection refused: sip_tcp_max_connections (%zu)",
                            s->limits.max_connections);
        conn_close(c);
        return;
    }
    if (s->limits.max_per_source && from_source(s, c) > s->limits.max_per_source) {
        char ip[64] = "?";
        int port = 0;
        sipaddr_text(&c->peer, ip, sizeof ip, &port);
        log_ratelimited(LOG_WARN, "tcp connection from %s refused: sip_tcp_max_per_source (%zu)",
                        ip, s->limits.max_per_source);
        shm_count(s->slot, SHM_C_sip_tcp_refused, 1);
        conn_close(c);
        return;
    }
    c->peer_len = (socklen_t)len;
    len = sizeof c->local;
    if (uv_tcp_getsockname(&c->handle, &c->local.sa, &len) < 0)
        memset(&c->local, 0, sizeof c->local);
    if (s->listener_tls[(uv_tcp_t *)listener - s->listeners]) {
        c->tls = s->tls_server ? tls_session_new(s->tls_server, NULL) : NULL;
        if (!c->tls) {
            log_ratelimited(LOG_WARN, "tls connection refused: %s",
                            s->tls_server ? "out of memory" : "no certificate");
            conn_close(c);
            return;
        }
    }
    shm_gauge(s->slot, SHM_C_sip_tcp_connections, s->nconns);
    uv_tcp_nodelay(&c->handle, 1);
    uv_timer_start(&c->idle, on_idle, s->limits.idle_ms, 0);
    uv_read_start((uv_stream_t *)&c->handle, on_alloc, on_read);
}

static bool same_peer(const union sipaddr *a, const union sipaddr *b) {
    if (a->sa.sa_family != b->sa.sa_family)
        return false;
    if (a->sa.sa_family == AF_INET)
        return a->sin.sin_port == b->sin.sin_port &&
               a->sin.sin_addr.s_addr == b->sin.sin_addr.s_addr;
    return a->sa.sa_family == AF_INET6 && a->sin6.sin6_port == b->sin6.sin6_port &&
           memcmp(&a->sin6.sin6_addr, &b->sin6.sin6_addr, sizeof a->sin6.sin6_addr) == 0;
}

struct tcp_conn *tcp_find(struct tcp_server *s, const union sipaddr *peer, bool tls) {
    for (struct tcp_conn *c = s ? s->conns : NULL; c; c = c->next)
        if (!c->closing && (c->tls != NULL) == tls && same_peer(&c->peer, peer))
            return c;
    return NULL;
}

static void on_connected(uv_connect_t *req, int status) {
    struct tcp_conn *c = req->data;
    free(req);
    c->connecting = false;
    if (!c->closing && status < 0) {
        log_ratelimited(LOG_INFO, "tcp connect: %s", uv_strerror(status));
        conn_close(c); /* the transaction's Timer B/F reports it */
    } else if (!c->closing && c->srv) {
        uv_tcp_nodelay(&c->handle, 1);
        uv_timer_start(&c->idle, on_idle, c->srv->limits.idle_ms, 0);
        uv_read_start((uv_stream_t *)&c->handle, on_alloc, on_read);
        if (c->pending_len)
            tcp_send(c, c->pending, c->pending_len);
    }
    free(c->pending);
    c->pending = NULL;
    c->pending_len = 0;
    tcp_conn_unref(c); /* the connect's reference */
}

struct tcp_conn *tcp_find_id(struct tcp_server *s, uint64_t id) {
    for (struct tcp_conn *c = s && id ? s->conns : NULL; c; c = c->next)
        if (!c->closing && c->id == id)
            return c;
    return NULL;
}

bool tcp_conn_is_tls(const struct tcp_conn *c) {
    return c && c->tls;
}

uint64_t tcp_conn_id(const struct tcp_conn *c) {
    return c ? c->id : 0;
}

const union sipaddr *tcp_conn_local(const struct tcp_conn *c) {
    return &c->local;
}

const union sipaddr *tcp_conn_peer(const struct tcp_conn *c) {
    return &c->peer;
}

struct tcp_conn *tcp_connect(struct tcp_server *s, const union sipaddr *peer, socklen_t peer_len,
                             const union sipaddr *from, const char *tls_host) {
    if (!s || s->closing || s->nconns >= s->limits.max_connections)
        return NULL;
    if (tls_host && !s->tls_client) {
        log_ratelimited(LOG_WARN, "no tls client context (sip_tls_ca): cannot dial over TLS");
        return NULL;
    }
    uv_connect_t *req = malloc(sizeof *req);
    struct tcp_conn *c = req ? conn_new(s) : NULL;
    if (!c) {
        free(req);
        return NULL;
    }
    shm_gauge(s->slot, SHM_C_sip_tcp_connections, s->nconns);
    if (tls_host && !(c->tls = tls_session_new(s->tls_client, tls_host))) {
        free(req);
        conn_close(c);
        return NULL;
    }
    c->peer = *peer;
    c->peer_len = peer_len;
    c->connecting = true;
    req->data = c;
    tcp_conn_ref(c);
    int rc = 0;
    if (from && from->sa.sa_family == peer->sa.sa_family && !sipaddr_is_any(from)) {
        union sipaddr me = *from; /* an ephemeral port of that address */
        sipaddr_set_port(&me, 0);
        rc = uv_tcp_bind(&c->handle, &me.sa, 0);
    }
    if (rc == 0)
        rc = uv_tcp_connect(req, &c->handle, &peer->sa, on_connected);
    if (rc < 0) {
        log_ratelimited(LOG_INFO, "tcp connect: %s", uv_strerror(rc));
        free(req);
        c->connecting = false;
        tcp_conn_unref(c);
        conn_close(c);
        return NULL;
    }
    int len = sizeof c->local;
    if (uv_tcp_getsockname(&c->handle, &c->local.sa, &len) < 0)
        memset(&c->local, 0, sizeof c->local);
    return c;
}

/* ---------------------------------------------------------------- server */

static void listener_closed(uv_handle_t *h) {
    struct tcp_server *s = h->data;
    if (--s->handles_open == 0 && s->closing)
        free(s);
}

struct tcp_server *tcp_open(uv_loop_t *loop, const int *fds, int nfds, int ntls,
                            const struct tcp_limits *limits, tcp_message_cb on_message, void *arg,
                            struct shm_proc *slot) {
    struct tcp_server *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->loop = loop;
    s->limits = *limits;
    s->on_message = on_message;
    s->arg = arg;
    s->slot = slot;
    s->listening = true;
    for (int i = 0; i < nfds && i < TCP_MAX_LISTENERS; i++) {
        uv_tcp_t *l = &s->listeners[s->nlisteners];
        s->listener_tls[s->nlisteners] = i >= nfds - ntls;
        uv_tcp_init(loop, l);
        l->data = s;
        s->nlisteners++;
        s->handles_open++;
        int rc = uv_tcp_open(l, fds[i]);
        if (rc == 0)
            rc = uv_listen((uv_stream_t *)l, TCP_BACKLOG, on_connection);
        if (rc < 0) {
            log_error("sip tcp listener (fd %d): %s", fds[i], uv_strerror(rc));
            tcp_close(s);
            return NULL;
        }
    }
    shm_gauge(slot, SHM_C_sip_tcp_connections, 0);
    return s;
}

void tcp_set_tls(struct tcp_server *s, struct tls_ctx *server, struct tls_ctx *client) {
    tls_ctx_free(s->tls_server);
    tls_ctx_free(s->tls_client);
    s->tls_server = server;
    s->tls_client = client;
}

void tcp_set_limits(struct tcp_server *s, const struct tcp_limits *limits) {
    s->limits = *limits;
}

void tcp_stop_accepting(struct tcp_server *s) {
    if (!s || !s->listening)
        return;
    s->listening = false;
    for (int i = 0; i < s->nlisteners; i++)
        uv_close((uv_handle_t *)&s->listeners[i], listener_closed);
}

size_t tcp_connection_count(const struct tcp_server *s) {
    return s ? s->nconns : 0;
}

void tcp_close(struct tcp_server *s) {
    if (!s || s->closing)
        return;
    tcp_stop_accepting(s);
    while (s->conns)
        conn_close(s->conns);
    tcp_set_tls(s, NULL, NULL);
    s->closing = true;
    if (s->handles_open == 0)
        free(s);
}
