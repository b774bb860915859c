/* http - see http.h */
#include "http.h"

#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

struct http_daemon {
    http_server_t *server;
    struct MHD_Daemon *mhd;
    int listen_fd;        /* MHD's copy of the socket until quiesced; -1 after */
    bool handles_open;    /* poll and timer initialized, not yet closed */
    uv_poll_t poll;       /* the daemon's epoll descriptor, readable: MHD_run */
    uv_timer_t timer;     /* MHD_get_timeout: idle timeouts and pending work */
};

struct http_server {
    uv_loop_t *loop;
    http_handler_fn handler;
    void *arg;
    size_t in_flight;     /* requests seen by the handler, not yet completed */
    bool quiescing;
    bool stopping;
    void (*done)(void *arg);
    void *done_arg;
    size_t open_handles;  /* close callbacks still to come; s is freed at zero */
    size_t ndaemons;
    struct http_daemon daemons[];
};

static void http_on_timer(uv_timer_t *h);

/* MHD's messages ("Error accepting connection", ...): a misbehaving peer can cause them. */
__attribute__((format(printf, 2, 0))) static void http_log(void *cls, const char *fmt,
                                                          va_list ap) {
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

static enum MHD_Result http_answer(http_server_t *s, struct MHD_Connection *conn,
                                   const char *method, const char *url, uint64_t body_len) {
    struct http_request req = {.method = method, .url = url, .body_len = body_len};
    struct http_response resp = {0};
    s->handler(s->arg, &req, &resp);
    if (!resp.body)
        resp.body_len = 0;
    struct MHD_Response *r =
        resp.body ? MHD_create_response_from_buffer(resp.body_len, resp.body, MHD_RESPMEM_MUST_FREE)
                  : MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
    if (!r) {
        free(resp.body); /* MHD frees the buffer only once the response exists */
        log_ratelimited(LOG_ERROR, "http: out of memory for a response");
        return MHD_NO;
    }
    bool ok = true;
    if (resp.content_type)
        ok &= MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, resp.content_type) ==
              MHD_YES;
    if (resp.allow)
        ok &= MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, resp.allow) == MHD_YES;
    ok &= MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store") == MHD_YES;
    if (s->quiescing) /* let keep-alive clients go while we drain */
        ok &= MHD_add_response_header(r, MHD_HTTP_HEADER_CONNECTION, "close") == MHD_YES;
    enum MHD_Result rc = ok ? MHD_queue_response(conn, (unsigned)resp.status, r) : MHD_NO;
    MHD_destroy_response(r);
    return rc;
}

/* MHD calls this first with the headers only, then (no body) once more with nothing. */
static enum MHD_Result http_access(void *cls, struct MHD_Connection *conn, const char *url,
                                   const char *method, const char *version,
                                   const char *upload_data, size_t *upload_data_size,
                                   void **con_cls) {
    http_server_t *s = cls;
    (void)version;
    (void)upload_data;
    if (*con_cls == NULL) {
        *con_cls = s; /* marks the request as counted in in_flight */
        s->in_flight++;
        uint64_t body_len = http_body_len(conn);
        /* Without a body, answer at the next call: an answer from the first call makes
         * MHD 0.9.75 close the connection. With one, answer now: MHD then never reads the
         * body (no route takes one) and closes the connection after the answer. */
        if (body_len == 0)
            return MHD_YES;
        return http_answer(s, conn, method, url, body_len);
    }
    if (*upload_data_size != 0) {
        /* Body bytes arrive only for a request not answered at its first call: none. */
        *upload_data_size = 0;
        return MHD_NO;
    }
    return http_answer(s, conn, method, url, 0);
}

static void http_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                           enum MHD_RequestTerminationCode toe) {
    http_server_t *s = cls;
    (void)conn;
    (void)toe;
    if (*con_cls == s) {
        *con_cls = NULL;
        s->in_flight--;
    }
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
    if (s->stopping)
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
                          void *arg, char *err, size_t errlen) {
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
        d->mhd = MHD_start_daemon(MHD_USE_EPOLL | MHD_USE_ERROR_LOG, 0, NULL, NULL, http_access, s,
                                  MHD_OPTION_EXTERNAL_LOGGER, http_log, s,
                                  MHD_OPTION_LISTEN_SOCKET, (MHD_socket)d->listen_fd,
                                  MHD_OPTION_CONNECTION_LIMIT, (unsigned int)HTTP_MAX_CONNECTIONS,
                                  MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)HTTP_IDLE_TIMEOUT_S,
                                  MHD_OPTION_NOTIFY_COMPLETED, http_completed, s, MHD_OPTION_END);
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
