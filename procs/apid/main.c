/*
 * apid - the REST admin worker: HTTP on the sockets master opened for api_listen
 * ("http0", "http1", ...), answered by api.c from the shm process table.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "cfg.h"
#include "clock.h"
#include "http.h"
#include "log.h"
#include "worker.h"

_Static_assert(HTTP_BODY_UNKNOWN == API_BODY_UNKNOWN, "body length passed through unchanged");

struct apid {
    worker_t *w;
    http_server_t *http;
};

static void apid_handle(void *arg, const struct http_request *req, struct http_response *resp) {
    struct apid *a = arg;
    worker_t *w = a->w;
    struct api_env env = {
        .shm = w->shm,
        .node_id = cfg_str(w->cfg, CFG_node_id), /* read per request: follows reloads */
        .redis_up = w->redis && rds_is_up(w->redis),
        .now_wall_us = clock_wall_us(),
        .now_mono_us = clock_mono_us(),
    };
    resp->status = api_route(&env, req->method, req->url, req->body_len, &resp->body, &resp->allow);
    resp->body_len = resp->body ? strlen(resp->body) : 0;
    resp->content_type = "application/json";
    if (resp->status == 500) /* api.c answers 500 only when out of memory */
        log_ratelimited(LOG_ERROR, "http: out of memory building an answer");
    shm_count(w->slot, SHM_C_http_requests, 1);
}

static int apid_init(worker_t *w) {
    int fds[CFG_MAX_ADDRS];
    size_t nfds = 0;
    for (; nfds < CFG_MAX_ADDRS; nfds++) {
        char name[16];
        snprintf(name, sizeof name, "http%zu", nfds);
        if ((fds[nfds] = worker_take_fd(w, name)) < 0)
            break;
    }
    if (nfds == 0)
        log_fatal("no listening socket from master (descriptor http0): check api_listen");
    struct apid *a = calloc(1, sizeof *a);
    if (!a)
        log_fatal("out of memory");
    a->w = w;
    char err[256];
    a->http = http_start(w->loop, fds, nfds, apid_handle, a, err, sizeof err);
    if (!a->http)
        log_fatal("api_listen: %s", err);
    w->role_ctx = a;
    log_info("serving HTTP on %zu socket%s", nfds, nfds == 1 ? "" : "s");
    return 0;
}

static void apid_drained(void *arg) {
    struct apid *a = arg;
    worker_drained(a->w);
}

static void apid_drain(worker_t *w) {
    struct apid *a = w->role_ctx;
    if (a && a->http)
        http_quiesce(a->http, apid_drained, a);
    else
        worker_drained(w);
}

static void apid_stop(worker_t *w) {
    struct apid *a = w->role_ctx;
    if (!a)
        return;
    if (a->http)
        http_stop(a->http); /* freed by the loop once its handles have closed */
    w->role_ctx = NULL;
    free(a);
}

static const struct worker_ops apid_ops = {
    .role = SB_ROLE_apid,
    .init = apid_init,
    .drain = apid_drain,
    .stop = apid_stop,
};

int main(int argc, char **argv) {
    return worker_main(argc, argv, &apid_ops);
}
