/*
 * apid - the REST admin worker: HTTP on the sockets master opened for api_listen
 * ("http0", "http1", ...). api.c decides every answer; the I/O it names is done by
 * regstore.c (registrations in Redis), ctl.c (dialogs in Redis via dlgstore.c, and the
 * requests to dialogd, mediad and routerd), events.c (the Server-Sent Events stream) and
 * here (the dashboard files compiled in from procs/apid/www/, www.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "authstore.h"
#include "api_views.h"
#include "cfg.h"
#include "clock.h"
#include "ctl.h"
#include "events.h"
#include "http.h"
#include "log.h"
#include "regstore.h"
#include "worker.h"
#include "www.h"

_Static_assert(HTTP_BODY_UNKNOWN == API_BODY_UNKNOWN, "body length passed through unchanged");
_Static_assert(HTTP_MAX_BODY == API_MAX_BODY, "one body cap");

#define APID_TICK_MS 200 /* process-table watch, Redis timeouts, the registration count */

struct apid {
    worker_t *w;
    http_server_t *http;
    events_t *events;
    regstore_t *regs;
    authstore_t *auth; /* subscribers and bans */
    ctl_t *ctl;
    char csp[2048]; /* the dashboard's policy, made per page from api_peers */
    uv_timer_t tick;
    bool tick_open;
};

static void apid_on_tick(uv_timer_t *t) {
    struct apid *a = t->data;
    int64_t now_ms = clock_mono_us() / 1000;
    regstore_tick(a->regs, now_ms);
    ctl_tick(a->ctl, now_ms);
    events_tick(a->events, now_ms, cfg_time_ms(a->w->cfg, CFG_api_events_keepalive));
}

/* ---- requests ---- */

static void apid_file(const struct http_request *req, struct http_response *resp) {
    const char *path = req->url;
    if (strcmp(path, "/") == 0)
        path = "/index.html";
    const struct www_file *f = www_find(path);
    if (!f) {
        resp->status = 404;
        resp->body = api_error_body(404);
        resp->body_len = resp->body ? strlen(resp->body) : 0;
        resp->content_type = "application/json";
        return;
    }
    resp->body = malloc(f->len ? f->len : 1);
    if (!resp->body) {
        resp->status = 500;
        return;
    }
    memcpy(resp->body, f->data, f->len);
    resp->body_len = f->len;
    resp->content_type = f->content_type;
    resp->status = 200;
}

static void apid_handle(void *arg, const struct http_request *req, struct http_response *resp) {
    struct apid *a = arg;
    worker_t *w = a->w;
    struct api_env env = {
        .shm = w->shm,
        .node_id = cfg_str(w->cfg, CFG_node_id), /* read per request: follows reloads */
        .cfg = w->cfg,
        .domains = w->domains, /* follows reloads too */
        .token = cfg_str(w->cfg, CFG_api_token),
        .redis_up = w->redis && rds_is_up(w->redis),
        .registrations = regstore_count(a->regs),
        .now_wall_us = clock_wall_us(),
        .now_mono_us = clock_mono_us(),
        .drains = ctl_drains(a->ctl),
    };
    struct api_request areq = {
        .method = req->method,
        .url = req->url,
        .body_len = req->body_len,
        .body = req->body,
        .authorization = req->authorization,
        .access_token = req->access_token,
        .mode = req->mode,
    };
    struct api_answer ans;
    api_handle(&env, &areq, &ans);
    shm_count(w->slot, SHM_C_http_requests, 1);
    if (ans.status == 401)
        shm_count(w->slot, SHM_C_api_auth_failures, 1); /* the token itself is never logged */
    resp->status = ans.status;
    resp->content_type = ans.content_type;
    resp->allow = ans.allow;
    resp->www_authenticate = ans.www_authenticate;
    resp->headers = ans.headers;
    switch (ans.op) {
    case API_OP_NONE:
        resp->body = ans.body;
        ans.body = NULL;
        if (resp->status == 500)
            log_ratelimited(LOG_ERROR, "http: out of memory building an answer");
        break;
    case API_OP_REG_LIST:
        regstore_list(a->regs, req->call, resp);
        break;
    case API_OP_REG_DELETE:
        regstore_unregister(a->regs, ans.aor, ans.contact, cfg_str(w->cfg, CFG_node_id), req->call,
                            resp);
        ans.aor = NULL; /* taken */
        break;
    case API_OP_EVENTS:
        events_attach(a->events, req->call, resp);
        break;
    case API_OP_FILE:
        apid_file(req, resp);
        if (api_csp(cfg_str(w->cfg, CFG_api_peers), a->csp, sizeof a->csp))
            resp->csp = a->csp;
        break;
    case API_OP_DLG_LIST:
        ctl_dialogs(a->ctl, req->call, resp);
        break;
    case API_OP_DLG_GET:
        ctl_dialog_get(a->ctl, ans.call_id, req->call, resp);
        break;
    case API_OP_DLG_HANGUP:
        ctl_dialog_hangup(a->ctl, ans.call_id, req->call, resp);
        break;
    case API_OP_SESSIONS:
        ctl_sessions(a->ctl, req->call, resp);
        break;
    case API_OP_DRAIN_START:
        ctl_drain_start(a->ctl, ans.instance, ans.aggressive, req->call, resp);
        break;
    case API_OP_DRAIN_CANCEL:
        ctl_drain_cancel(a->ctl, ans.instance, req->call, resp);
        break;
    case API_OP_DIALPLAN_RELOAD:
        ctl_dialplan_reload(a->ctl, req->call, resp);
        break;
    case API_OP_AUTH:
        authstore_run(a->auth, ans.auth_op, req->call, resp);
        break;
    }
    if (ans.op != API_OP_FILE) {
        if (!resp->content_type && resp->status != 204)
            resp->content_type = "application/json";
        resp->body_len = resp->body ? strlen(resp->body) : 0;
    }
    api_answer_fini(&ans);
}

static void apid_subscribed(void *arg) {
    worker_ready_changed(arg);
}

/* Ready once the event subscription is confirmed: an event published then is streamed. */
static bool apid_ready(worker_t *w, char *why, size_t cap) {
    struct apid *a = w->role_ctx;
    if (a && events_subscribed(a->events))
        return true;
    snprintf(why, cap, "events subscription (redis)");
    return false;
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
    if (!a || !w->redis || !(a->regs = regstore_new(w->redis)) ||
        !(a->auth = authstore_new(w->redis)))
        log_fatal("out of memory");
    a->w = w;
    char err[256];
    /* The subscriber uses the worker link's address (already relative to the chroot). */
    a->events = events_open(w->loop, rds_address(w->redis), w->shm, w->slot, apid_subscribed, w,
                            err, sizeof err);
    if (!a->events)
        log_fatal("redis_address: %s", err);
    if (!(a->ctl = ctl_new(w, a->events)))
        log_fatal("out of memory");
    a->http = http_start(w->loop, fds, nfds, apid_handle, a, err, sizeof err);
    if (!a->http)
        log_fatal("api_listen: %s", err);
    uv_timer_init(w->loop, &a->tick);
    a->tick.data = a;
    a->tick_open = true;
    uv_timer_start(&a->tick, apid_on_tick, 0, APID_TICK_MS);
    w->role_ctx = a;
    log_info("serving HTTP on %zu socket%s%s", nfds, nfds == 1 ? "" : "s",
             *cfg_str(w->cfg, CFG_api_token) ? " (token required)" : "");
    return 0;
}

static void apid_drained(void *arg) {
    struct apid *a = arg;
    worker_drained(a->w);
}

static void apid_drain(worker_t *w) {
    struct apid *a = w->role_ctx;
    if (a && a->http)
        http_quiesce(a->http, apid_drained, a); /* ends the event streams too */
    else
        worker_drained(w);
}

static void apid_tick_closed(uv_handle_t *h) {
    free(h->data);
}

static void apid_stop(worker_t *w) {
    struct apid *a = w->role_ctx;
    if (!a)
        return;
    /* Detach first, then stop the server: its on_close callbacks then touch only the
     * records of their own calls. w->redis is closed after this (pending replies: NULL). */
    regstore_free(a->regs);
    authstore_free(a->auth);
    ctl_free(a->ctl);
    events_close(a->events);
    if (a->http)
        http_stop(a->http); /* freed by the loop once its handles have closed */
    w->role_ctx = NULL;
    if (a->tick_open)
        uv_close((uv_handle_t *)&a->tick, apid_tick_closed); /* frees a */
    else
        free(a);
}

static const struct worker_ops apid_ops = {
    .role = SB_ROLE_apid,
    .init = apid_init,
    .ready = apid_ready,
    .drain = apid_drain,
    .stop = apid_stop,
};

int main(int argc, char **argv) {
    return worker_main(argc, argv, &apid_ops);
}
