/*
 * NAME
 *   http - HTTP/1.1 server (libmicrohttpd) on listening sockets master opened, run
 *   from the worker's libuv loop: plain answers, deferred answers and event streams.
 * DESCRIPTION
 *   One MHD daemon per listening socket, in MHD's external epoll mode (no thread of its
 *   own): a uv_poll watches the daemon's epoll descriptor and runs MHD_run when it is
 *   readable; after every run a uv_timer is re-armed from MHD_get_timeout, or stopped
 *   when MHD needs none, so an idle server costs no CPU. A request body is read whole
 *   (at most HTTP_MAX_BODY bytes; a declared longer one is refused unread, a chunked one
 *   that grows past it is discarded) before the handler runs once per request. The
 *   handler answers at once, or defers (the connection is suspended until
 *   http_call_answer), or opens a stream (text/event-stream, chunked: bytes pushed with
 *   http_stream_push are queued per client, at most HTTP_STREAM_QUEUE bytes; a client
 *   that lets its queue fill is dropped, so a slow reader never blocks the loop).
 *   With TLS (http_config), MHD runs GnuTLS on every socket; the rest is the same.
 *   Connections are limited (HTTP_MAX_CONNECTIONS per socket, max_per_client per client
 *   address) and time out when idle
 *   (a stream or a deferred call does not: it ends with the client or the server).
 * OWNERSHIP
 *   http_start takes the listening descriptors (closed by http_quiesce or http_stop,
 *   also on failure). http_server_t is freed by http_stop once its libuv handles have
 *   closed. The handler's response body is malloc'd by the handler and freed here. An
 *   http_call_t of a deferred or streamed request stays valid until its on_close callback
 *   runs (client gone, stream ended, server stopped) or, for a deferred one, until
 *   http_call_answer returns; never use it after.
 * LOOP
 *   The loop given to http_start (apid's worker loop). The handler, on_close and the
 *   quiesce callback run on it, never inside another http_* call.
 * ERRORS
 *   http_start: NULL with the reason in err. Runtime faults (a client gone, out of
 *   memory for a response) close that connection; MHD's own messages are logged
 *   rate-limited. http_stream_push: -ENOBUFS when the client's queue is full (the
 *   stream is then closed), -EPIPE when the stream is ending.
 * SEE ALSO
 *   api.h, worker.h, microhttpd.h
 */
#ifndef SB_HTTP_H
#define SB_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#define HTTP_MAX_CONNECTIONS 256
#define HTTP_IDLE_TIMEOUT_S 30
/* Largest request body read; a longer one reaches the handler as body_len > this. */
#define HTTP_MAX_BODY (64 * 1024)
/* Bytes queued per stream client before it counts as too slow and is dropped. */
#define HTTP_STREAM_QUEUE (256 * 1024)
/* body_len of a request whose body length is unknown (chunked transfer coding). */
#define HTTP_BODY_UNKNOWN UINT64_MAX

typedef struct http_server http_server_t;
typedef struct http_call http_call_t;

struct http_request {
    const char *method;        /* as sent: "GET" */
    const char *url;           /* the path, percent-decoded by MHD, without the query string */
    uint64_t body_len;         /* declared body length: 0 none, HTTP_BODY_UNKNOWN if chunked
                                * and over HTTP_MAX_BODY, else the bytes read */
    const char *body;          /* the body read, NUL-terminated; NULL when none or too long */
    const char *authorization; /* the Authorization header, or NULL */
    const char *access_token;  /* the access_token query argument (RFC 6750 2.3), or NULL */
    const char *mode;          /* the mode query argument, or NULL */
    const char *host;          /* the Host header, or NULL */
    const char *origin;        /* the Origin header, or NULL */
    const char *peer;          /* the client's address, numeric ("127.0.0.1", "::1"); "" if
                                * unknown */
    http_call_t *call;         /* for deferring or streaming */
};

struct http_response {
    int status;
    char *body; /* malloc'd by the handler, freed by the server; may be NULL */
    size_t body_len;
    const char *content_type;     /* static; NULL for none */
    const char *allow;            /* static; the Allow header of a 405, or NULL */
    const char *www_authenticate; /* static; the WWW-Authenticate header of a 401, or NULL */
    /* name, value pairs ending with NULL, or NULL (borrowed: they must stay valid after
     * the handler returns, until the server's next call of the handler; the server copies
     * them at once): added to this answer and, for a deferred call or a stream, to the one
     * that follows (CORS) */
    const char *const *headers;
    /* an HTML page's Content-Security-Policy (borrowed until the answer is queued); NULL:
     * "default-src 'self'; frame-ancestors 'none'" */
    const char *csp;
    /* Instead of an answer now: */
    bool defer;                  /* answer later with http_call_answer */
    bool stream;                 /* 200 text/event-stream fed by http_stream_push */
    void (*on_close)(void *arg); /* deferred or streamed call freed (see OWNERSHIP) */
    void *close_arg;
};

/* Fills resp (zeroed on entry) for req. Borrowed strings are valid only for the call. */
typedef void (*http_handler_fn)(void *arg, const struct http_request *req,
                                struct http_response *resp);

/* How the server is started (fixed until http_stop). */
struct http_config {
    /* TLS on every socket (libmicrohttpd's GnuTLS support): the PEM text of the private
     * key and of the certificate chain (NUL-terminated, borrowed until http_stop); both
     * NULL: plain HTTP */
    const char *tls_key;
    const char *tls_cert;
    /* most connections one client address may hold on a socket (0: no limit); past it a
     * new connection is closed at once */
    unsigned max_per_client;
};

/* Starts one daemon per descriptor of fds (1..nfds listening TCP sockets, taken over) as
 * conf says. NULL and the reason in err on failure; every descriptor is closed then. */
http_server_t *http_start(uv_loop_t *loop, const int *fds, size_t nfds, http_handler_fn handler,
                          void *arg, const struct http_config *conf, char *err, size_t errlen);
/* Stops accepting (closes the listening descriptors), ends every stream and answers what
 * is in flight with "Connection: close"; calls done(arg) once, from the loop, when no
 * request is in flight. Idle keep-alive connections stay open until http_stop. */
void http_quiesce(http_server_t *s, void (*done)(void *arg), void *arg);
/* Closes every connection and handle (on_close runs for deferred calls and streams); s is
 * freed when the loop has closed the handles. Never calls the handler or the quiesce
 * callback again. */
void http_stop(http_server_t *s);
/* Requests being answered now (including deferred calls and open streams). */
size_t http_in_flight(const http_server_t *s);

/* Answers a deferred call with resp (its body is taken, freed here even on failure; the
 * defer/stream/on_close fields are ignored). c is gone when this returns. */
void http_call_answer(http_call_t *c, struct http_response *resp);
/* Queues len bytes on a stream. 0, or -ENOBUFS (queue full: the client is dropped) or
 * -EPIPE (the stream is ending). */
int http_stream_push(http_call_t *c, const char *data, size_t len);
/* Ends a stream after what is queued; on_close follows when the client is gone. */
void http_stream_end(http_call_t *c);

#endif
