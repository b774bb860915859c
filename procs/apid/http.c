/* http - see http.h */
#include "http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

/* A chunked body past HTTP_MAX_BODY is read and thrown away up to this, then cut off. */
#define HTTP_DISCARD_MAX (1024 * 1024)

struct http_daemon {
    http_server_t *server;
    struct MHD_Daemon *mhd;
    int listen_fd;     /* MHD's copy of the socket until quiesced; -1 after */
    bool handles_open; /* poll and timer initialized, not yet closed */
    uv_poll_t poll;    /* the daemon's epoll descriptor, readable: MHD_run */
    uv_timer_t timer;  /* MHD_get_timeout: idle timeouts and pending work */
};

enum http_call_state {
    HTTP_C_READING,  /* headers seen, body (if any) being read */
    HTTP_C_DEFERRED, /* suspended until http_call_answer */
    HTTP_C_ANSWERED, /* answer ready (deferred) or queued */
    HTTP_C_STREAM,   /* event stream */
};

struct http_call {
    http_server_t *server;
    struct http_daemon *daemon;
    struct MHD_Connection *conn;
    http_call_t *prev, *next; /* the server's list of calls */
    enum http_call_state state;
    bool suspended;
    uint64_t declared_len; /* Content-Length, or HTTP_BODY_UNKNOWN */
    char *body;            /* body read so far, NUL-terminated */
    size_t body_size;
    size_t discarded;            /* bytes of a too-long chunked body thrown away */
    struct MHD_Response *answer; /* a deferred call's answer, queued at resume */
    unsigned answer_status;
    char **headers; /* a copy of the handler's extra headers, kept for a later answer */
    /* stream */
    char *queue; /* bytes not yet given to MHD: queue[qoff .. qlen) */
    size_t qlen, qoff;
    bool ending;  /* end after the queue */
    bool dropped; /* too slow: end now */
    void (*on_close)(void *arg);
    void *close_arg;
};

struct http_server {
    uv_loop_t *loop;
    http_handler_fn handler;
    void *arg;
    size_t in_flight; /* requests seen by the handler, not yet completed */
    bool quiescing;
    bool stopping;
    void (*done)(void *arg);
    void *done_arg;
    size_t open_handles; /* close callbacks still to come; s is freed at zero */
    http_call_t *calls;  /* every call not yet completed */
    size_t ndaemons;
    struct http_daemon daemons[];
};

static void http_on_timer(uv_timer_t *h);

/* MHD's messages ("Error accepting connection", ...): a misbehaving peer can cause them. */
__attribute__((format(printf, 2, 0))) static void http_log(void *cls, const char *fmt, va_list ap) {
    static long long last_ms; /* the rate limit of this call site, as log_ratelimited */
    (void)cls;
    if (!log_ratelimit_pass(&last_ms))
        return;
    char text[512];
    vsnprintf(text, sizeof text, fmt, ap);
    size_t n = strlen(text);
    while (n > 0 && (text[n - 1] == '\n' || text[n - 1] == '\r'))
        text[--n] = '\0';
    log_warn("http: %s", text);
}

/* Runs the daemon from the loop soon: after a resume, MHD needs a round to see it. */
static void http_kick(struct http_daemon *d) {
    if (d->handles_open && !d->server->stopping)
        uv_timer_start(&d->timer, http_on_timer, 0, 0);
}

/* The declared length of the request body: Content-Length, or unknown when chunked. */
static uint64_t http_body_len(struct MHD_Connection *conn) {
    if (MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_TRANSFER_ENCODING))
        return HTTP_BODY_UNKNOWN;
    const char *cl =
        MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (!cl)
        return 0;
    uint64_t n = 0;
    for (const char *p = cl; *p; p++) {
        if (*p < '0' || *p > '9' || n > (UINT64_MAX - 9) / 10)
            return HTTP_BODY_UNKNOWN; /* MHD refuses these itself; never trust that */
        n = n * 10 + (uint64_t)(*p - '0');
    }
    return n;
}

/* One malloc'd block holding a copy of name, value pairs ending with NULL; NULL for none
 * (or out of memory: the answer then goes without them, never with a stale pointer). */
static char **http_headers_dup(const char *const *headers) {
    size_t n = 0, bytes = 0;
    while (headers && headers[n] && headers[n + 1]) {
        bytes += strlen(headers[n]) + strlen(headers[n + 1]) + 2;
        n += 2;
    }
    if (n == 0)
        return NULL;
    char **out = malloc((n + 1) * sizeof *out + bytes);
    if (!out)
        return NULL;
    char *p = (char *)(out + n + 1);
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(headers[i]) + 1;
        memcpy(p, headers[i], len);
        out[i] = p;
        p += len;
    }
    out[n] = NULL;
    return out;
}

static bool http_add_headers(struct MHD_Response *r, char *const *headers) {
    bool ok = true;
    for (size_t i = 0; headers && headers[i] && headers[i + 1]; i += 2)
        ok &= MHD_add_response_header(r, headers[i], headers[i + 1]) == MHD_YES;
    return ok;
}

/* An MHD response from the handler's answer (body taken); NULL when out of memory.
 * headers: the call's extra headers. */
static struct MHD_Response *http_make_response(http_server_t *s, struct http_response *resp,
                                               char *const *headers) {
    if (!resp->body)
        resp->body_len = 0;
    struct MHD_Response *r =
        resp->body
            ? MHD_create_response_from_buffer(resp->body_len, resp->body, MHD_RESPMEM_MUST_FREE)
            : MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
    if (!r) {
        free(resp->body); /* MHD frees the buffer only once the response exists */
        resp->body = NULL;
        log_ratelimited(LOG_ERROR, "http: out of memory for a response");
        return NULL;
    }
    resp->body = NULL;
    bool ok = true;
    if (resp->content_type)
        ok &=
            MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, resp->content_type) == MHD_YES;
    if (resp->allow)
        ok &= MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, resp->allow) == MHD_YES;
    if (resp->www_authenticate)
        ok &= MHD_add_response_header(r, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
                                      resp->www_authenticate) == MHD_YES;
    ok &= MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store") == MHD_YES;
    ok &= MHD_add_response_header(r, "X-Content-Type-Options", "nosniff") == MHD_YES;
    ok &= http_add_headers(r, headers);
    /* Pages run only our own scripts and styles and talk only to us. */
    if (resp->content_type && strncmp(resp->content_type, "text/html", 9) == 0)
        ok &= MHD_add_response_header(r, "Content-Security-Policy",
                                      resp->csp ? resp->csp
                                                : "default-src 'self'; frame-ancestors 'none'") ==
              MHD_YES;
    if (s->quiescing) /* let keep-alive clients go while we drain */
        ok &= MHD_add_response_header(r, MHD_HTTP_HEADER_CONNECTION, "close") == MHD_YES;
    if (!ok) {
        MHD_destroy_response(r);
        return NULL;
    }
    return r;
}

static enum MHD_Result http_queue(struct MHD_Connection *conn, unsigned status,
                                  struct MHD_Response *r) {
    if (!r)
        return MHD_NO;
    enum MHD_Result rc = MHD_queue_response(conn, status, r);
    MHD_destroy_response(r);
    return rc;
}

/* The stream's content reader: what is queued, or a suspension until more is pushed. */
static ssize_t http_stream_read(void *cls, uint64_t pos, char *buf, size_t max) {
    http_call_t *c = cls;
    (void)pos;
    if (c->dropped)
        return MHD_CONTENT_READER_END_WITH_ERROR;
    size_t avail = c->qlen - c->qoff;
    if (avail == 0) {
        if (c->ending || c->server->stopping)
            return MHD_CONTENT_READER_END_OF_STREAM;
        MHD_suspend_connection(c->conn); /* allowed from a content reader */
        c->suspended = true;
        return 0;
    }
    size_t n = avail < max ? avail : max;
    memcpy(buf, c->queue + c->qoff, n);
    c->qoff += n;
    if (c->qoff == c->qlen)
        c->qoff = c->qlen = 0;
    return (ssize_t)n;
}

static void http_resume(http_call_t *c) {
    if (!c->suspended)
        return;
    c->suspended = false;
    MHD_resume_connection(c->conn);
    http_kick(c->daemon);
}

/* The client's address as text, without the port; "" when MHD does not know it. */
static const char *http_peer(struct MHD_Connection *conn, char *out, size_t cap) {
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    out[0] = '\0';
    const struct sockaddr *sa = ci ? ci->client_addr : NULL;
    if (sa && sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, out, (socklen_t)cap);
    else if (sa && sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, out, (socklen_t)cap);
    return out;
}

static enum MHD_Result http_dispatch(http_call_t *c, const char *method, const char *url) {
    http_server_t *s = c->server;
    char peer[INET6_ADDRSTRLEN];
    struct MHD_Connection *conn = c->conn;
    uint64_t body_len = c->declared_len;
    if (c->discarded > 0)
        body_len = HTTP_BODY_UNKNOWN;
    else if (c->body)
        body_len = c->body_size;
    struct http_request req = {
        .method = method,
        .url = url,
        .body_len = body_len,
        .body = c->discarded > 0 ? NULL : c->body,
        .authorization =
            MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION),
        .access_token = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "access_token"),
        .mode = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "mode"),
        .host = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_HOST),
        .origin = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Origin"),
        .peer = http_peer(conn, peer, sizeof peer),
        .call = c,
    };
    struct http_response resp = {0};
    s->handler(s->arg, &req, &resp);
    free(c->body); /* the handler copied what it keeps */
    c->body = NULL;
    free(c->headers);
    c->headers = http_headers_dup(resp.headers);
    if (resp.defer && !resp.stream) {
        free(resp.body);
        c->state = HTTP_C_DEFERRED;
        c->on_close = resp.on_close;
        c->close_arg = resp.close_arg;
        MHD_suspend_connection(conn);
        c->suspended = true;
        return MHD_YES;
    }
    if (resp.stream) {
        c->queue = resp.body; /* the first bytes of the stream */
        c->qlen = resp.body ? resp.body_len : 0;
        struct MHD_Response *r =
            MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, http_stream_read, c, NULL);
        if (!r)
            return MHD_NO;
        if (MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "text/event-stream") !=
                MHD_YES ||
            MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store") != MHD_YES ||
            !http_add_headers(r, c->headers)) {
            MHD_destroy_response(r);
            return MHD_NO;
        }
        c->state = HTTP_C_STREAM;
        c->on_close = resp.on_close;
        c->close_arg = resp.close_arg;
        return http_queue(conn, 200, r);
    }
    c->state = HTTP_C_ANSWERED;
    return http_queue(conn, (unsigned)resp.status, http_make_response(s, &resp, c->headers));
}

/* MHD calls this first with the headers only, then with body pieces, then once with
 * nothing; after a resume, once more with nothing. */
static enum MHD_Result http_access(void *cls, struct MHD_Connection *conn, const char *url,
                                   const char *method, const char *version, const char *upload_data,
                                   size_t *upload_data_size, void **con_cls) {
    struct http_daemon *d = cls;
    http_server_t *s = d->server;
    http_call_t *c = *con_cls;
    (void)version;
    if (!c) {
        if (!(c = calloc(1, sizeof *c)))
            return MHD_NO;
        c->server = s;
        c->daemon = d;
        c->conn = conn;
        c->state = HTTP_C_READING;
        c->next = s->calls;
        if (s->calls)
            s->calls->prev = c;
        s->calls = c;
        *con_cls = c;
        s->in_flight++;
        c->declared_len = http_body_len(conn);
        /* A declared body over the cap is refused unread: MHD closes the connection after
         * the answer. A short one is read first. Without a body, answer at the next call:
         * an answer from the first call makes MHD 0.9.75 close the connection. */
        if (c->declared_len != HTTP_BODY_UNKNOWN && c->declared_len > HTTP_MAX_BODY)
            return http_dispatch(c, method, url);
        return MHD_YES;
    }
    if (*upload_data_size != 0) {
        size_t n = *upload_data_size;
        *upload_data_size = 0;
        if (c->state != HTTP_C_READING)
            return MHD_YES; /* the rest of a body refused already */
        if (c->discarded > 0 || c->body_size + n > HTTP_MAX_BODY) {
            c->discarded += n;
            free(c->body);
            c->body = NULL;
            c->body_size = 0;
            return c->discarded > HTTP_DISCARD_MAX ? MHD_NO : MHD_YES;
        }
        char *grown = realloc(c->body, c->body_size + n + 1);
        if (!grown)
            return MHD_NO;
        memcpy(grown + c->body_size, upload_data, n);
        c->body = grown;
        c->body_size += n;
        c->body[c->body_size] = '\0';
        return MHD_YES;
    }
    switch (c->state) {
    case HTTP_C_READING:
        return http_dispatch(c, method, url);
    case HTTP_C_DEFERRED:
        return MHD_NO; /* resumed without an answer: the server is stopping */
    case HTTP_C_ANSWERED:
        if (c->answer) {
            struct MHD_Response *r = c->answer;
            c->answer = NULL;
            return http_queue(conn, c->answer_status, r);
        }
        return MHD_YES;
    case HTTP_C_STREAM:
        return MHD_YES;
    }
    return MHD_NO;
}

static void http_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                           enum MHD_RequestTerminationCode toe) {
    struct http_daemon *d = cls;
    http_server_t *s = d->server;
    http_call_t *c = *con_cls;
    (void)conn;
    (void)toe;
    if (!c)
        return;
    *con_cls = NULL;
    if (c->prev)
        c->prev->next = c->next;
    else
        s->calls = c->next;
    if (c->next)
        c->next->prev = c->prev;
    s->in_flight--;
    if (c->on_close)
        c->on_close(c->close_arg);
    if (c->answer)
        MHD_destroy_response(c->answer);
    free(c->body);
    free(c->queue);
    free(c->headers);
    free(c);
}

void http_call_answer(http_call_t *c, struct http_response *resp) {
    http_server_t *s = c->server;
    c->on_close = NULL; /* the caller lets go of c now */
    if (c->state != HTTP_C_DEFERRED) {
        free(resp->body);
        resp->body = NULL;
        return;
    }
    c->answer = http_make_response(s, resp, c->headers);
    c->answer_status = (unsigned)resp->status;
    c->state = HTTP_C_ANSWERED;
    http_resume(c); /* without an answer (out of memory) MHD closes the connection */
    if (!c->answer)
        c->state = HTTP_C_DEFERRED;
}

int http_stream_push(http_call_t *c, const char *data, size_t len) {
    if (c->state != HTTP_C_STREAM || c->ending || c->dropped || c->server->stopping)
        return -EPIPE;
    if (c->qlen - c->qoff + len > HTTP_STREAM_QUEUE) {
        c->dropped = true; /* too slow a reader: never let it hold the loop or memory */
        http_resume(c);
        return -ENOBUFS;
    }
    if (c->qoff > 0) { /* keep the queue at the front: one buffer, never more than the cap */
        memmove(c->queue, c->queue + c->qoff, c->qlen - c->qoff);
        c->qlen -= c->qoff;
        c->qoff = 0;
    }
    char *grown = realloc(c->queue, c->qlen + len);
    if (!grown) {
        c->dropped = true;
        http_resume(c);
        return -ENOBUFS;
    }
    c->queue = grown;
    memcpy(c->queue + c->qlen, data, len);
    c->qlen += len;
    http_resume(c);
    return 0;
}

void http_stream_end(http_call_t *c) {
    if (c->state != HTTP_C_STREAM)
        return;
    c->ending = true;
    http_resume(c);
}

static void http_check_done(http_server_t *s) {
    if (!s->quiescing || s->stopping || s->in_flight > 0 || !s->done)
        return;
    void (*done)(void *) = s->done;
    s->done = NULL;
    done(s->done_arg); /* may call http_stop: touch nothing after */
}

/* One round of MHD work, then the timer MHD asks for; without one, none. */
static void http_run(struct http_daemon *d) {
    http_server_t *s = d->server;
    if (s->stopping || !d->mhd)
        return;
    if (MHD_run(d->mhd) != MHD_YES)
        log_ratelimited(LOG_WARN, "http: MHD_run failed on descriptor %d", d->listen_fd);
    MHD_UNSIGNED_LONG_LONG ms;
    if (MHD_get_timeout(d->mhd, &ms) == MHD_YES)
        uv_timer_start(&d->timer, http_on_timer, ms, 0);
    else
        uv_timer_stop(&d->timer);
    http_check_done(s);
}

static void http_on_poll(uv_poll_t *h, int status, int events) {
    (void)events;
    if (status < 0)
        log_ratelimited(LOG_WARN, "http: poll: %s", uv_strerror(status));
    http_run(h->data);
}

static void http_on_timer(uv_timer_t *h) {
    http_run(h->data);
}

static void http_on_close(uv_handle_t *h) {
    struct http_daemon *d = h->data;
    http_server_t *s = d->server;
    if (--s->open_handles == 0)
        free(s);
}

http_server_t *http_start(uv_loop_t *loop, const int *fds, size_t nfds, http_handler_fn handler,
                          void *arg, const struct http_config *conf, char *err, size_t errlen) {
    bool tls = conf->tls_key && conf->tls_cert;
    http_server_t *s = NULL;
    if (nfds > 0)
        s = calloc(1, sizeof *s + nfds * sizeof s->daemons[0]);
    if (!s) {
        snprintf(err, errlen, nfds ? "out of memory" : "no listening socket");
        for (size_t i = 0; i < nfds; i++)
            close(fds[i]);
        return NULL;
    }
    s->loop = loop;
    s->handler = handler;
    s->arg = arg;
    s->ndaemons = nfds;
    for (size_t i = 0; i < nfds; i++) {
        s->daemons[i].server = s;
        s->daemons[i].listen_fd = -1;
    }
    size_t next = 0; /* fds[next..] are still ours to close */
    for (size_t i = 0; i < nfds; i++) {
        struct http_daemon *d = &s->daemons[i];
        /* MHD closes the socket it is given on some start failures and not on others, so
         * it gets a duplicate: ours is closed exactly once, here, whatever happens. */
        d->listen_fd = fcntl(fds[i], F_DUPFD_CLOEXEC, 3);
        int dup_errno = errno;
        close(fds[i]);
        next = i + 1;
        if (d->listen_fd < 0) {
            snprintf(err, errlen, "cannot take listening descriptor %d: %s", fds[i],
                     strerror(dup_errno));
            goto fail;
        }
        /* External epoll mode: no thread of MHD's own, our loop drives it. The logger
         * comes first so that MHD logs nothing to stderr itself. */
        /* TLS (GnuTLS inside MHD): the key and certificate in PEM, or nothing. */
        struct MHD_OptionItem tls_opts[] = {
            {tls ? MHD_OPTION_HTTPS_MEM_KEY : MHD_OPTION_END, 0, (void *)conf->tls_key},
            {MHD_OPTION_HTTPS_MEM_CERT, 0, (void *)conf->tls_cert},
            {MHD_OPTION_END, 0, NULL},
        };
        d->mhd = MHD_start_daemon(MHD_USE_EPOLL | MHD_USE_ERROR_LOG | MHD_ALLOW_SUSPEND_RESUME |
                                      (tls ? MHD_USE_TLS : 0),
                                  0, NULL, NULL, http_access, d, MHD_OPTION_EXTERNAL_LOGGER, http_log,
                                  s, MHD_OPTION_LISTEN_SOCKET, (MHD_socket)d->listen_fd,
                                  MHD_OPTION_CONNECTION_LIMIT, (unsigned int)HTTP_MAX_CONNECTIONS,
                                  MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)HTTP_IDLE_TIMEOUT_S,
                                  MHD_OPTION_PER_IP_CONNECTION_LIMIT, conf->max_per_client,
                                  MHD_OPTION_NOTIFY_COMPLETED, http_completed, d,
                                  MHD_OPTION_ARRAY, tls_opts, MHD_OPTION_END);
        if (!d->mhd) {
            /* The duplicate may be closed already or not; the process exits after this. */
            snprintf(err, errlen, "cannot start the HTTP server on descriptor %d", fds[i]);
            d->listen_fd = -1;
            goto fail;
        }
        const union MHD_DaemonInfo *info = MHD_get_daemon_info(d->mhd, MHD_DAEMON_INFO_EPOLL_FD);
        int rc = info ? uv_poll_init(loop, &d->poll, info->epoll_fd) : UV_EINVAL;
        if (rc < 0) {
            snprintf(err, errlen, "cannot poll the HTTP server of descriptor %d: %s", fds[i],
                     uv_strerror(rc));
            goto fail;
        }
        uv_timer_init(loop, &d->timer);
        d->poll.data = d;
        d->timer.data = d;
        d->handles_open = true;
        s->open_handles += 2;
        rc = uv_poll_start(&d->poll, UV_READABLE, http_on_poll);
        if (rc < 0) {
            snprintf(err, errlen, "cannot poll the HTTP server of descriptor %d: %s", fds[i],
                     uv_strerror(rc));
            goto fail;
        }
    }
    return s;
fail:
    for (size_t i = next; i < nfds; i++)
        close(fds[i]);
    http_stop(s); /* stops the daemons started; s is freed once its handles have closed */
    return NULL;
}

void http_quiesce(http_server_t *s, void (*done)(void *arg), void *arg) {
    if (s->stopping || s->quiescing)
        return;
    s->quiescing = true;
    s->done = done;
    s->done_arg = arg;
    for (http_call_t *c = s->calls; c; c = c->next)
        http_stream_end(c); /* a stream never ends by itself */
    for (size_t i = 0; i < s->ndaemons; i++) {
        struct http_daemon *d = &s->daemons[i];
        if (!d->mhd)
            continue;
        /* MHD hands the listening socket back; master keeps its own copy open. */
        MHD_socket fd = MHD_quiesce_daemon(d->mhd);
        if (fd != MHD_INVALID_SOCKET)
            close(fd);
        d->listen_fd = -1;
    }
    /* The done check runs from the loop, never inside this call. */
    if (s->ndaemons > 0 && s->daemons[0].handles_open)
        uv_timer_start(&s->daemons[0].timer, http_on_timer, 0, 0);
}

void http_stop(http_server_t *s) {
    if (s->stopping)
        return;
    s->stopping = true;
    s->done = NULL;
    /* MHD_stop_daemon must not find a suspended connection: resume them all; the access
     * handler is not called again, the connections are closed (on_close runs). */
    for (http_call_t *c = s->calls; c; c = c->next) {
        if (c->suspended) {
            c->suspended = false;
            MHD_resume_connection(c->conn);
        }
    }
    for (size_t i = 0; i < s->ndaemons; i++) {
        struct http_daemon *d = &s->daemons[i];
        /* The poll goes first: libuv must forget the epoll descriptor before MHD closes it. */
        if (d->handles_open) {
            uv_close((uv_handle_t *)&d->poll, http_on_close);
            uv_close((uv_handle_t *)&d->timer, http_on_close);
            d->handles_open = false;
        }
        if (d->mhd) {
            MHD_stop_daemon(d->mhd); /* closes connections (completed callbacks run) */
            d->mhd = NULL;
        }
    }
    if (s->open_handles == 0)
        free(s);
}

size_t http_in_flight(const http_server_t *s) {
    return s->in_flight;
}
