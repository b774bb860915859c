/*
 * NAME
 *   http - HTTP/1.1 server (libmicrohttpd) on listening sockets master opened, run
 *   from the worker's libuv loop.
 * DESCRIPTION
 *   One MHD daemon per listening socket, in MHD's external epoll mode (no thread of its
 *   own): a uv_poll watches the daemon's epoll descriptor and runs MHD_run when it is
 *   readable; after every run a uv_timer is re-armed from MHD_get_timeout, or stopped
 *   when MHD needs none, so an idle server costs no CPU. Each request is answered from
 *   its headers, in one call of the handler: request bodies are never read (the handler
 *   learns their declared length and refuses them; MHD then closes the connection).
 *   Connections are limited (HTTP_MAX_CONNECTIONS per socket) and time out when idle.
 * OWNERSHIP
 *   http_start takes the listening descriptors (closed by http_quiesce or http_stop,
 *   also on failure). http_server_t is freed by http_stop once its libuv handles have
 *   closed. The handler's response body is malloc'd by the handler and freed here.
 * LOOP
 *   The loop given to http_start (apid's worker loop). The handler and the quiesce
 *   callback run on it, never inside another http_* call.
 * ERRORS
 *   http_start: NULL with the reason in err. Runtime faults (a client gone, out of
 *   memory for a response) close that connection; MHD's own messages are logged
 *   rate-limited.
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
/* body_len of a request whose body length is unknown (chunked transfer coding). */
#define HTTP_BODY_UNKNOWN UINT64_MAX

typedef struct http_server http_server_t;

struct http_request {
    const char *method;   /* as sent: "GET" */
    const char *url;      /* the path, percent-decoded by MHD, without the query string */
    uint64_t body_len;    /* declared body length: 0 none, HTTP_BODY_UNKNOWN if chunked */
};

struct http_response {
    int status;
    char *body;                /* malloc'd by the handler, freed by the server; may be NULL */
    size_t body_len;
    const char *content_type;  /* static; NULL for none */
    const char *allow;         /* static; the Allow header of a 405, or NULL */
};

/* Fills resp (zeroed on entry) for req. Borrowed strings are valid only for the call. */
typedef void (*http_handler_fn)(void *arg, const struct http_request *req,
                                struct http_response *resp);

/* Starts one daemon per descriptor of fds (1..nfds listening TCP sockets, taken over).
 * NULL and the reason in err on failure; every descriptor is closed then. */
http_server_t *http_start(uv_loop_t *loop, const int *fds, size_t nfds, http_handler_fn handler,
                          void *arg, char *err, size_t errlen);
/* Stops accepting (closes the listening descriptors) and answers what is in flight with
 * "Connection: close"; calls done(arg) once, from the loop, when no request is in
 * flight. Idle keep-alive connections stay open until http_stop. */
void http_quiesce(http_server_t *s, void (*done)(void *arg), void *arg);
/* Closes every connection and handle; s is freed when the loop has closed the handles.
 * Never calls the handler or the quiesce callback again. */
void http_stop(http_server_t *s);
/* Requests being answered now (response queued, not yet completed). */
size_t http_in_flight(const http_server_t *s);

#endif
