/* router - see router.h */
#include "router.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dialguard.h"
#include "dialplan.h"
#include "log.h"
#include "resources.h"
#include "proto/route.pb-c.h"

#define ROUTER_MAX_ACTIONS 64 /* dialplan.c takes no more per route */
#define ROUTER_DIAL_ROOM 1024 /* a dial's expanded target and its AOR or URI */

struct router {
    worker_t *w;
    registrar_t *registrar;
    dialplan_t *dp;
    dialguard_t *guard; /* dialplan_gateway_numbers, compiled */
    int dirfd;          /* dialplan_path's directory, opened before the privilege drop */
    char dir[4096];     /* its path */
};

/* The descriptor of the directory of path: the one held when it is the same directory
 * (a 0700 ancestor is not traversable by the service user), else opened now (-1 when it
 * cannot be: the whole path is tried). */
static int dialplan_dirfd(router_t *r, const char *path) {
    char dir[sizeof r->dir];
    if (!res_split(path, dir, sizeof dir))
        return -1;
    if (r->dirfd >= 0 && strcmp(dir, r->dir) == 0)
        return r->dirfd;
    int fd = res_dir_open(dir);
    if (fd < 0)
        return -1;
    if (r->dirfd >= 0)
        close(r->dirfd);
    r->dirfd = fd;
    snprintf(r->dir, sizeof r->dir, "%s", dir);
    return fd;
}

/* The guard with main.cf's dialplan_gateway_numbers (compiled again when it changed; a
 * bad one keeps the last good one, or none: then no number goes to a gateway). */
static const dialguard_t *gateway_numbers(router_t *r) {
    char err[300];
    const char *pattern = cfg_str(r->w->cfg, CFG_dialplan_gateway_numbers);
    if (dialguard_set(r->guard, pattern, err, sizeof err) < 0)
        log_ratelimited(LOG_ERROR, "dialplan_gateway_numbers %s", err);
    return r->guard;
}

bool router_gateway_uri(const char *list, const char *name, char *uri, size_t cap) {
    return res_gateway_uri(list, name, uri, cap);
}

bool router_user_aor(const domains_t *d, const char *target, const char *domain, char *aor,
                     size_t cap) {
    /* user/NAME@DOMAIN names the domain; user/NAME takes the Request-URI's */
    const char *at = strrchr(target, '@');
    size_t name_len = at ? (size_t)(at - target) : strlen(target);
    const char *host = at ? at + 1 : domain ? domain : "";
    if (name_len == 0 || (at && !*host))
        return false;
    return domains_aor(d, target, name_len, host, strlen(host), aor, cap) > 0;
}

static bool gateway_known(void *arg, const char *name) {
    router_t *r = arg;
    char uri[256];
    return router_gateway_uri(cfg_str(r->w->cfg, CFG_dialplan_gateways), name, uri, sizeof uri);
}

static bool reload(router_t *r, char *err, size_t cap) {
    const char *path = cfg_str(r->w->cfg, CFG_dialplan_path);
    dialplan_t *dp = dialplan_load_at(dialplan_dirfd(r, path), path, gateway_known, r, err, cap);
    if (!dp) {
        shm_count(r->w->slot, SHM_C_dialplan_errors, 1);
        log_error("dialplan not loaded, %s: %s", r->dp ? "keeping the running one" : "no routes",
                  err);
        return false;
    }
    bool first = !r->dp;
    dialplan_free(r->dp);
    r->dp = dp;
    log_info("dialplan %s loaded: %zu routes", path, dp->nroutes);
    if (first)
        worker_ready_changed(r->w); /* routerd serves once it has routes */
    return true;
}

bool router_has_dialplan(const router_t *r) {
    return r && r->dp;
}

bool router_reload(router_t *r) {
    char err[600];
    return reload(r, err, sizeof err);
}

void router_reload_request(router_t *r, ipc_chan_t *ch, const Sb__Envelope *env) {
    char err[600] = "";
    Sb__DialplanReloadReply rep = SB__DIALPLAN_RELOAD_REPLY__INIT;
    rep.status = reload(r, err, sizeof err) ? 200 : 400;
    rep.error = rep.status == 200 ? "" : err;
    rep.routes = r->dp ? (uint32_t)r->dp->nroutes : 0;
    rep.version = r->dp && r->dp->version ? r->dp->version : "";
    int rc = ipc_reply_dialplan_reload_reply(ch, env, &rep);
    if (rc < 0)
        log_ratelimited(LOG_WARN, "dialplan reload reply failed: %s", strerror(-rc));
}

router_t *router_new(worker_t *w, registrar_t *registrar, int dirfd) {
    router_t *r = calloc(1, sizeof *r);
    if (!r) {
        if (dirfd >= 0)
            close(dirfd);
        return NULL;
    }
    r->w = w;
    r->registrar = registrar;
    r->guard = dialguard_new();
    if (!r->guard) {
        if (dirfd >= 0)
            close(dirfd);
        free(r);
        return NULL;
    }
    gateway_numbers(r);
    r->dirfd = dirfd;
    if (dirfd >= 0 && !res_split(cfg_str(w->cfg, CFG_dialplan_path), r->dir, sizeof r->dir))
        r->dir[0] = '\0';
    router_reload(r);
    return r;
}

void router_free(router_t *r) {
    if (!r)
        return;
    dialplan_free(r->dp);
    dialguard_free(r->guard);
    if (r->dirfd >= 0)
        close(r->dirfd);
    free(r);
}

/* A RouteReply and every string it points to, in one block: it may wait for the first
 * dial's location while the dialplan is reloaded and freed. */
struct route_answer {
    uint64_t request_id;
    Sb__RouteReply rep;
    Sb__RouteAction *actions;
    Sb__RouteAction **ptrs;
    char *pool;
    size_t used, cap;
};

/* The room one action's strings take in the answer's pool. */
static size_t action_room(const struct dp_action *a) {
    switch (a->type) {
    case DP_PLAY_AUDIO:
        return strlen(a->file) + 1;
    case DP_HANGUP:
        return (a->reason ? strlen(a->reason) : 0) + sizeof "normal";
    case DP_DIAL:
        break;
    }
    return ROUTER_DIAL_ROOM;
}

static char *pool_dup(struct route_answer *ans, const char *s) {
    size_t len = strlen(s) + 1;
    if (len > ans->cap - ans->used)
        log_panic("route answer pool: %zu bytes over %zu", len, ans->cap - ans->used);
    char *p = memcpy(ans->pool + ans->used, s, len);
    ans->used += len;
    return p;
}

static size_t count_at(const char *s) {
    size_t n = 0;
    for (; *s; s++)
        n += *s == '@';
    return n;
}

/* One action of the reply, its strings in the answer's pool: 0, or the status of the
 * hangup that replaces it. */
static unsigned fill_action(router_t *r, const struct dp_action *a, const struct dp_vars *vars,
                            const char *domain, Sb__RouteAction *out, struct route_answer *ans) {
    sb__route_action__init(out);
    switch (a->type) {
    case DP_PLAY_AUDIO:
        out->type = SB__ROUTE_ACTION_TYPE__ROUTE_ACTION_PLAY_AUDIO;
        out->file = pool_dup(ans, a->file);
        return 0;
    case DP_HANGUP:
        out->type = SB__ROUTE_ACTION_TYPE__ROUTE_ACTION_HANGUP;
        out->reason = pool_dup(ans, a->reason ? a->reason : "normal");
        out->status = (uint32_t)dialplan_hangup_status(a->reason);
        return 0;
    case DP_DIAL:
        break;
    }
    char *target = ans->pool + ans->used;
    size_t cap = ROUTER_DIAL_ROOM;
    ans->used += cap;
    out->type = SB__ROUTE_ACTION_TYPE__ROUTE_ACTION_DIAL;
    out->timeout = (uint32_t)a->timeout;
    /* a sip: target's variables go into a URI: escaped, they cannot add to it */
    bool uri = strncmp(a->target, "sip:", 4) == 0;
    int n = dialplan_expand_with(a->target, vars, uri ? dialguard_uri_user : NULL, target, cap);
    if (n < 0)
        return 480;
    out->target = target;
    char *res = target + n + 1;
    size_t left = cap - (size_t)n - 1;
    if (strncmp(target, "user/", 5) == 0) {
        /* the '@' of user/NAME@DOMAIN is the template's: a variable may not bring one */
        if (count_at(target) != count_at(a->target) ||
            !router_user_aor(r->w->domains, target + 5, domain, res, left))
            return 480;
        out->aor = res;
    } else if (strncmp(target, "gateway/", 8) == 0) {
        char gw[256], user[128];
        if (!router_gateway_uri(cfg_str(r->w->cfg, CFG_dialplan_gateways), target + 8, gw,
                                sizeof gw))
            return 480; /* removed from main.cf since the dialplan loaded */
        if (!dialguard_number_ok(gateway_numbers(r), vars->destination))
            return 484; /* not a number: nothing goes to the trunk (docs/security.md) */
        const char *host = strncmp(gw, "sip:", 4) == 0 ? gw + 4 : gw;
        if (dialguard_uri_user(vars->destination, user, sizeof user) < 0 ||
            snprintf(res, left, "sip:%s@%s", user, host) >= (int)left)
            return 484;
        out->uri = res;
    } else {
        out->uri = target;
    }
    return 0;
}

/* The 200 of route for rq, every string copied; NULL when out of memory. */
static struct route_answer *answer_new(router_t *r, const struct dp_route *route,
                                       const Sb__RouteRequest *rq, uint64_t request_id) {
    size_t n = route->nactions < ROUTER_MAX_ACTIONS ? route->nactions : ROUTER_MAX_ACTIONS;
    size_t cap = strlen(route->id) + 1 + (route->name ? strlen(route->name) : 0) + 1;
    for (size_t i = 0; i < n; i++)
        cap += action_room(&route->actions[i]);
    struct route_answer *ans =
        malloc(sizeof *ans + n * (sizeof *ans->actions + sizeof *ans->ptrs) + cap);
    if (!ans)
        return NULL;
    sb__route_reply__init(&ans->rep);
    ans->request_id = request_id;
    ans->actions = (Sb__RouteAction *)(void *)(ans + 1);
    ans->ptrs = (Sb__RouteAction **)(void *)(ans->actions + n);
    ans->pool = (char *)(ans->ptrs + n);
    ans->used = 0;
    ans->cap = cap;
    ans->rep.status = 200;
    ans->rep.route_id = pool_dup(ans, route->id);
    ans->rep.route_name = pool_dup(ans, route->name ? route->name : "");
    struct dp_vars vars = {rq->destination, rq->caller_id, rq->caller_name, rq->call_id};
    for (size_t i = 0; i < n; i++) {
        unsigned status =
            fill_action(r, &route->actions[i], &vars, rq->domain, &ans->actions[i], ans);
        if (status) {
            log_call_ratelimited(LOG_WARN, rq->call_id,
                                 status == 484
                                     ? "route %s: action %zu: the dialed number may not go to a "
                                       "gateway (dialplan_gateway_numbers); answered 484"
                                     : "route %s: action %zu cannot be expanded; skipped",
                                 route->id, i);
            sb__route_action__init(&ans->actions[i]);
            ans->actions[i].type = SB__ROUTE_ACTION_TYPE__ROUTE_ACTION_HANGUP;
            ans->actions[i].reason = status == 484 ? "address_incomplete" : "unavailable";
            ans->actions[i].status = status;
        }
        ans->ptrs[i] = &ans->actions[i];
    }
    ans->rep.n_actions = n;
    ans->rep.actions = ans->ptrs;
    return ans;
}

/* Sends rep as the answer to request id; when it does not fit in one envelope, keeps the
 * best half of the location's bindings (n_bindings, may be NULL) until it does. */
static void send_route_reply(ipc_chan_t *ch, uint64_t id, const Sb__RouteReply *rep,
                             size_t *n_bindings) {
    Sb__Envelope req = SB__ENVELOPE__INIT;
    req.request_id = id;
    int rc = ipc_reply_route_reply(ch, &req, rep);
    while (rc == -EMSGSIZE && n_bindings && *n_bindings > 0) {
        *n_bindings /= 2;
        rc = ipc_reply_route_reply(ch, &req, rep);
    }
    if (rc < 0)
        log_ratelimited(LOG_WARN, "cannot send a route_reply: %s", strerror(-rc));
}

/* The first dial's location came (or its 503): the reply goes with it, unless its
 * requester has gone. */
static void first_dial_located(ipc_chan_t *ch, const Sb__LocationReply *lr, void *arg) {
    struct route_answer *ans = arg;
    Sb__LocationReply location = *lr; /* a copy whose bindings may be cut to fit */
    ans->actions[0].location = &location;
    if (ch)
        send_route_reply(ch, ans->request_id, &ans->rep, &location.n_bindings);
    free(ans);
}

void router_route(router_t *r, ipc_chan_t *ch, const Sb__Envelope *env) {
    const Sb__RouteRequest *rq = env->route_request;
    const struct dp_route *route = NULL;
    shm_count(r->w->slot, SHM_C_routes, 1);
    if (!env->request_id)
        return; /* nothing to answer to */
    Sb__RouteReply rep = SB__ROUTE_REPLY__INIT;
    if (!r->dp) {
        rep.status = 503;
    } else if (!rq || !rq->destination ||
               !(route = dialplan_match(r->dp, rq->destination,
                                        rq->source_trusted                ? DP_FROM_TRUSTED
                                        : rq->auth_user && *rq->auth_user ? DP_FROM_AUTHENTICATED
                                                                          : DP_FROM_ANY))) {
        rep.status = 404;
    } else {
        struct route_answer *ans = answer_new(r, route, rq, env->request_id);
        if (!ans) {
            rep.status = 503;
        } else if (ans->rep.n_actions > 0 &&
                   ans->actions[0].type == SB__ROUTE_ACTION_TYPE__ROUTE_ACTION_DIAL &&
                   ans->actions[0].aor[0]) {
            /* the first dial's location rides with the route: one round trip less */
            registrar_lookup(r->registrar, ch, ans->actions[0].aor, rq->call_id,
                             ROUTER_LOCATION_MAX_WAIT_MS, first_dial_located, ans);
            return;
        } else {
            send_route_reply(ch, env->request_id, &ans->rep, NULL);
            free(ans);
            return;
        }
    }
    send_route_reply(ch, env->request_id, &rep, NULL);
}
