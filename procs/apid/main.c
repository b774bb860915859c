/*
 * apid - the REST admin worker: HTTP on the sockets master opened for api_listen
 * ("http0", "http1", ...). api.c decides every answer; the I/O it names is done by
 * regstore.c (registrations in Redis), ctl.c (dialogs in Redis via dlgstore.c, and the
 * requests to dialogd, mediad and routerd), events.c (the Server-Sent Events stream) and
 * here (the dashboard files compiled in from procs/apid/www/, www.h). The gate's rules
 * (api_gate.h) are made here from main.cf and the token master hands over as descriptor
 * "api_token" (apitoken.h), at start and at every reload.
 */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api.h"
#include "api_gate.h"
#include "apitoken.h"
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

#define APID_MAX_PEM (1024 * 1024) /* largest TLS key or certificate file read */
#define APID_TICK_MS 200 /* process-table watch, Redis timeouts, the registration count */

struct apid {
    worker_t *w;
    http_server_t *http;
    events_t *events;
    regstore_t *regs;
    authstore_t *auth; /* subscribers and bans */
    ctl_t *ctl;
    char csp[2048]; /* the dashboard's policy, made per page from api_peers */
    char file_token[APITOK_MAX + 1]; /* api_token_file's token, read at start; "" none */
    char token_error[160];           /* why there is none */
    domains_t *hosts;                /* what Host may name (api_gate.h) */
    char refuse[320];                /* why apid serves nothing; "" when it serves */
    struct api_gate gate;
    /* The CORS headers of the last answer: the server copies them once apid_handle has
     * returned, so they outlive its stack (freed at the next request). */
    char *cors_origin;
    const char *cors[12];
    char *tls_cert, *tls_key; /* PEM read at start (api_tls_cert, api_tls_key), or NULL */
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

/* The names a Host header may carry: api_listen's addresses (not a wildcard), this host's
 * name, api_allowed_hosts, and (auto aliases) every local address, loopback, localhost. */
static domains_t *apid_hosts(const cfg_t *cfg, char *err, size_t errlen) {
    char list[4096] = "";
    size_t len = 0;
    const struct cfg_addr *addrs;
    size_t n = cfg_addrs(cfg, CFG_api_listen, &addrs);
    for (size_t i = 0; i < n; i++) {
        char host[NI_MAXHOST];
        const struct sockaddr_storage *ss = &addrs[i].ss;
        bool any = (ss->ss_family == AF_INET &&
                    ((const struct sockaddr_in *)ss)->sin_addr.s_addr == htonl(INADDR_ANY)) ||
                   (ss->ss_family == AF_INET6 &&
                    IN6_IS_ADDR_UNSPECIFIED(&((const struct sockaddr_in6 *)ss)->sin6_addr));
        if (!any && getnameinfo((const struct sockaddr *)ss, addrs[i].len, host, sizeof host,
                                NULL, 0, NI_NUMERICHOST) == 0)
            len += (size_t)snprintf(list + len, sizeof list - len, "%s ", host);
        if (len >= sizeof list)
            break;
    }
    char name[256], why[64];
    if (len < sizeof list && gethostname(name, sizeof name) == 0 &&
        (name[sizeof name - 1] = '\0', domains_check(name, why, sizeof why) == 0))
        len += (size_t)snprintf(list + len, sizeof list - len, "%s ", name);
    if (len < sizeof list)
        len += (size_t)snprintf(list + len, sizeof list - len, "%s",
                                cfg_str(cfg, CFG_api_allowed_hosts));
    if (len >= sizeof list) {
        snprintf(err, errlen, "api_allowed_hosts: too long");
        return NULL;
    }
    return domains_new(list, true, err, errlen);
}

/* The gate from main.cf and the token: at start and at every reload. */
static void apid_gate_update(struct apid *a) {
    const cfg_t *cfg = a->w->cfg;
    char err[256];
    domains_t *hosts = apid_hosts(cfg, err, sizeof err);
    if (hosts) {
        domains_free(a->hosts);
        a->hosts = hosts;
    } else if (!a->hosts) {
        log_fatal("%s: %s", cfg_file(cfg), err);
    } else {
        log_error("%s: %s; keeping the Host allowlist in force", cfg_file(cfg), err);
    }
    const char *token = cfg_str(cfg, CFG_api_token);
    if (!*token)
        token = a->file_token;
    /* config_load refuses api_insecure unless every api_listen address is loopback */
    bool insecure = cfg_bool(cfg, CFG_api_insecure) && apitok_loopback_only(cfg);
    a->refuse[0] = '\0';
    if (!insecure && !*token)
        snprintf(a->refuse, sizeof a->refuse,
                 "no API token (%s), so apid serves nothing: set main.cf api_token, or "
                 "api_insecure = yes with api_listen on loopback",
                 a->token_error);
    bool tls = a->gate.tls; /* fixed at start: a listener does not change its protocol */
    a->gate = (struct api_gate){
        .tls = tls,
        .refuse = a->refuse[0] ? a->refuse : NULL,
        .token = insecure ? NULL : token,
        .hosts = a->hosts,
        .peers = cfg_str(cfg, CFG_api_peers),
    };
    if (a->refuse[0])
        log_error("%s", a->refuse);
    else if (insecure)
        log_warn("api_insecure = yes: the API needs no token (loopback only)");
}

/* The token file's descriptor from master (absent when master could not open it). */
static void apid_read_token(struct apid *a) {
    const char *path = cfg_str(a->w->cfg, CFG_api_token_file);
    int fd = worker_take_fd(a->w, "api_token");
    int rc = fd >= 0 ? apitok_read_fd(fd, a->file_token, sizeof a->file_token) : -ENOENT;
    if (fd >= 0)
        close(fd);
    if (rc < 0) {
        a->file_token[0] = '\0';
        snprintf(a->token_error, sizeof a->token_error, "api_token_file %.100s: %s", path,
                 rc == -EINVAL ? "not a token" : fd < 0 ? "master could not open it"
                                                        : strerror(-rc));
    }
}

static void apid_handle(void *arg, const struct http_request *req, struct http_response *resp) {
    struct apid *a = arg;
    worker_t *w = a->w;
    struct api_env env = {
        .shm = w->shm,
        .node_id = cfg_str(w->cfg, CFG_node_id), /* read per request: follows reloads */
        .cfg = w->cfg,
        .domains = w->domains, /* follows reloads too */
        .token = a->gate.token,
        .gate = &a->gate,
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
        .host = req->host,
        .origin = req->origin,
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
    if (ans.headers == ans.cors) {
        free(a->cors_origin);
        a->cors_origin = ans.cors_origin; /* taken: the pairs below point into it */
        ans.cors_origin = NULL;
        memcpy(a->cors, ans.cors, sizeof a->cors);
        resp->headers = a->cors;
    }
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
        events_attach(a->events, req->call, req->peer,
                      (size_t)cfg_int(w->cfg, CFG_api_events_per_client), resp);
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
    if (a && a->refuse[0]) {
        snprintf(why, cap, "an API token (api_token_file)");
        return false;
    }
    if (a && a->events && events_subscribed(a->events))
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
    struct apid *a = w->role_ctx; /* made by apid_init_privileged */
    w->role_ctx = NULL;            /* until every field is set */
    if (!a || !w->redis || !(a->regs = regstore_new(w->redis)) ||
        !(a->auth = authstore_new(w->redis)))
        log_fatal("out of memory");
    apid_read_token(a);
    apid_gate_update(a);
    char err[256];
    /* The subscriber uses the worker link's address (already relative to the chroot). */
    a->events = events_open(w->loop, rds_address(w->redis), rds_auth_of(w->redis), w->shm,
                            w->slot, apid_subscribed, w, err, sizeof err);
    if (!a->events)
        log_fatal("redis_address: %s", err);
    if (!(a->ctl = ctl_new(w, a->events)))
        log_fatal("out of memory");
    struct http_config conf = {
        .tls_key = a->tls_key,
        .tls_cert = a->tls_cert,
        .max_per_client = (unsigned)cfg_int(w->cfg, CFG_api_connections_per_client),
    };
    a->http = http_start(w->loop, fds, nfds, apid_handle, a, &conf, err, sizeof err);
    if (!a->http)
        log_fatal("api_listen: %s", err);
    uv_timer_init(w->loop, &a->tick);
    a->tick.data = a;
    a->tick_open = true;
    uv_timer_start(&a->tick, apid_on_tick, 0, APID_TICK_MS);
    w->role_ctx = a;
    if (!a->refuse[0])
        log_info("serving %s on %zu socket%s%s", a->tls_cert ? "HTTPS" : "HTTP", nfds,
                 nfds == 1 ? "" : "s",
                 a->gate.token ? " (token required)" : " (no token: api_insecure)");
    if (!a->tls_cert && !apitok_loopback_only(w->cfg))
        log_warn("api_listen is not only loopback and apid has no TLS (api_tls_cert, "
                 "api_tls_key): the token crosses the network in clear");
    return 0;
}

/* A PEM file of main.cf p, read whole as root (the service user need not read it). */
static char *apid_read_pem(const cfg_t *cfg, enum cfg_param p) {
    const char *path = cfg_str(cfg, p);
    FILE *f = fopen(path, "re");
    if (!f)
        log_fatal("%s: %s = %s: %s", cfg_file(cfg), cfg_param_info(p)->name, path,
                  strerror(errno));
    char *text = calloc(1, APID_MAX_PEM + 1);
    size_t n = text ? fread(text, 1, APID_MAX_PEM + 1, f) : 0;
    bool bad = ferror(f) || n == 0 || n > APID_MAX_PEM || !strstr(text, "-----BEGIN ");
    fclose(f);
    if (!text)
        log_fatal("out of memory");
    if (bad)
        log_fatal("%s: %s = %s: not a PEM file of at most %d bytes", cfg_file(cfg),
                  cfg_param_info(p)->name, path, APID_MAX_PEM);
    return text;
}

/* Before the privilege drop: the TLS key and certificate (readable by root only). */
static int apid_init_privileged(worker_t *w) {
    struct apid *a = calloc(1, sizeof *a);
    if (!a)
        log_fatal("out of memory");
    a->w = w;
    if (*cfg_str(w->cfg, CFG_api_tls_cert)) { /* config_load: both or neither */
        a->tls_cert = apid_read_pem(w->cfg, CFG_api_tls_cert);
        a->tls_key = apid_read_pem(w->cfg, CFG_api_tls_key);
        a->gate.tls = true;
    }
    w->role_ctx = a;
    return 0;
}

static void apid_reload(worker_t *w, const cfg_t *old) {
    (void)old;
    struct apid *a = w->role_ctx;
    if (!a)
        return;
    apid_gate_update(a); /* api_token, api_insecure, api_allowed_hosts, api_peers */
    worker_ready_changed(w); /* a token set (or gone) makes apid ready (or not) */
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
    domains_free(a->hosts);
    free(a->cors_origin);
    if (a->tls_key)
        explicit_bzero(a->tls_key, strlen(a->tls_key));
    free(a->tls_key);
    free(a->tls_cert);
    explicit_bzero(a->file_token, sizeof a->file_token);
    if (a->tick_open)
        uv_close((uv_handle_t *)&a->tick, apid_tick_closed); /* frees a */
    else
        free(a);
}

static const struct worker_ops apid_ops = {
    .role = SB_ROLE_apid,
    .init_privileged = apid_init_privileged,
    .init = apid_init,
    .ready = apid_ready,
    .reload = apid_reload,
    .drain = apid_drain,
    .stop = apid_stop,
};

int main(int argc, char **argv) {
    return worker_main(argc, argv, &apid_ops);
}
