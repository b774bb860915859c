/* router - see router.h */
#include "router.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dialplan.h"
#include "log.h"
#include "proto/route.pb-c.h"

#define ROUTER_MAX_ACTIONS 64 /* dialplan.c takes no more per route */

struct router {
    worker_t *w;
    dialplan_t *dp;
};

bool router_gateway_uri(const char *list, const char *name, char *uri, size_t cap) {
    size_t nlen = strlen(name);
    for (const char *p = list; p && *p;) {
        p += strspn(p, " \t,");
        size_t len = strcspn(p, " \t,");
        const char *eq = memchr(p, '=', len);
        if (eq && (size_t)(eq - p) == nlen && strncmp(p, name, nlen) == 0) {
            size_t ulen = len - nlen - 1;
            if (ulen == 0 || ulen >= cap)
                return false;
            memcpy(uri, eq + 1, ulen);
            uri[ulen] = '\0';
            return true;
        }
        p += len;
    }
    return false;
}

bool router_user_aor(const char *name, const char *domain, char *aor, size_t cap) {
    const char *d = domain ? domain : "";
    size_t end = strcspn(d, ";?>"); /* URI parameters and headers are not part of an AOR */
    size_t len = end;
    if (d[0] == '[') { /* an IPv6 reference: [addr], then perhaps :port */
        const char *close = memchr(d, ']', end);
        len = close ? (size_t)(close - d) + 1 : end;
    } else {
        const char *colon = memchr(d, ':', end);
        if (colon && !memchr(colon + 1, ':', end - (size_t)(colon + 1 - d)))
            len = (size_t)(colon - d); /* host:port; a bare IPv6 address stays whole */
    }
    if (len == 0) {
        d = ROUTER_DEFAULT_DOMAIN;
        len = strlen(d);
    }
    int n = snprintf(aor, cap, "sip:%s@%.*s", name, (int)len, d);
    if (n < 0 || (size_t)n >= cap)
        return false;
    /* RFC 3261 19.1.4: the host compares without case (the user part with it) */
    for (char *h = aor + n - len; *h; h++)
        *h = (char)tolower((unsigned char)*h);
    return true;
}

static bool gateway_known(void *arg, const char *name) {
    router_t *r = arg;
    char uri[256];
    return router_gateway_uri(cfg_str(r->w->cfg, CFG_dialplan_gateways), name, uri, sizeof uri);
}

static bool reload(router_t *r, char *err, size_t cap) {
    const char *path = cfg_str(r->w->cfg, CFG_dialplan_path);
    dialplan_t *dp = dialplan_load(path, gateway_known, r, err, cap);
    if (!dp) {
        shm_count(r->w->slot, SHM_C_dialplan_errors, 1);
        log_error("dialplan not loaded, %s: %s", r->dp ? "keeping the running one" : "no routes",
                  err);
        return false;
    }
    dialplan_free(r->dp);
    r->dp = dp;
    log_info("dialplan %s loaded: %zu routes", path, dp->nroutes);
    return true;
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

router_t *router_new(worker_t *w) {
    router_t *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->w = w;
    router_reload(r);
    return r;
}

void router_free(router_t *r) {
    if (!r)
        return;
    dialplan_free(r->dp);
    free(r);
}

/* One action of the reply; strings in the pool (freed by the caller). */
static bool fill_action(router_t *r, const struct dp_action *a, const struct dp_vars *vars,
                        const char *domain, Sb__RouteAction *out, char *pool, size_t cap) {
    sb__route_action__init(out);
    size_t used = 0;
    char *target = pool;
    switch (a->type) {
    case DP_PLAY_AUDIO:
        out->type = SB__ROUTE_ACTION_TYPE__ROUTE_ACTION_PLAY_AUDIO;
        out->file = a->file;
        return true;
    case DP_HANGUP:
        out->type = SB__ROUTE_ACTION_TYPE__ROUTE_ACTION_HANGUP;
        out->reason = a->reason ? a->reason : "normal";
        out->status = (uint32_t)dialplan_hangup_status(a->reason);
        return true;
    case DP_DIAL:
        break;
    }
    out->type = SB__ROUTE_ACTION_TYPE__ROUTE_ACTION_DIAL;
    out->timeout = (uint32_t)a->timeout;
    int n = dialplan_expand(a->target, vars, target, cap);
    if (n < 0)
        return false;
    used = (size_t)n + 1;
    out->target = target;
    char *res = pool + used;
    size_t left = cap - used;
    if (strncmp(target, "user/", 5) == 0) {
        if (!router_user_aor(target + 5, domain, res, left))
            return false;
        out->aor = res;
    } else if (strncmp(target, "gateway/", 8) == 0) {
        char gw[256];
        if (!router_gateway_uri(cfg_str(r->w->cfg, CFG_dialplan_gateways), target + 8, gw,
                                sizeof gw))
            return false; /* removed from main.cf since the dialplan loaded */
        const char *host = strncmp(gw, "sip:", 4) == 0 ? gw + 4 : gw;
        if (snprintf(res, left, "sip:%s@%s", vars->destination, host) >= (int)left)
            return false;
        out->uri = res;
    } else {
        out->uri = target;
    }
    return true;
}

void router_route(router_t *r, ipc_chan_t *ch, const Sb__Envelope *env) {
    const Sb__RouteRequest *rq = env->route_request;
    Sb__RouteReply rep = SB__ROUTE_REPLY__INIT;
    Sb__RouteAction actions[ROUTER_MAX_ACTIONS], *ptrs[ROUTER_MAX_ACTIONS];
    char *pool = NULL;
    const struct dp_route *route = NULL;
    if (!r->dp) {
        rep.status = 503;
    } else if (!rq || !rq->destination || !(route = dialplan_match(r->dp, rq->destination))) {
        rep.status = 404;
    } else {
        struct dp_vars vars = {rq->destination, rq->caller_id, rq->caller_name, rq->call_id};
        const char *domain = rq->domain;
        size_t n = route->nactions < ROUTER_MAX_ACTIONS ? route->nactions : ROUTER_MAX_ACTIONS;
        size_t per = 1024;
        pool = malloc(n * per + 1);
        rep.status = pool ? 200 : 503;
        for (size_t i = 0; pool && i < n; i++) {
            if (!fill_action(r, &route->actions[i], &vars, domain, &actions[i], pool + i * per,
                             per)) {
                log_ratelimited(LOG_WARN, "route %s: action %zu cannot be expanded; skipped",
                                route->id, i);
                sb__route_action__init(&actions[i]);
                actions[i].type = SB__ROUTE_ACTION_TYPE__ROUTE_ACTION_HANGUP;
                actions[i].reason = "unavailable";
                actions[i].status = 480;
            }
            ptrs[i] = &actions[i];
        }
        rep.route_id = route->id;
        rep.route_name = route->name ? route->name : "";
        rep.n_actions = pool ? n : 0;
        rep.actions = ptrs;
    }
    shm_count(r->w->slot, SHM_C_routes, 1);
    if (env->request_id)
        ipc_reply_route_reply(ch, env, &rep);
    free(pool);
}
