/*
 * routerd - registrar and location service (RFC 3261 10.3), bindings in Redis
 * (registrar.h), and call routing by the dialplan (router.h).
 * The worker skeleton (lib/worker.h) runs the lifecycle; this file is the ops table:
 * RegisterRequest and LocationRequest go to the registrar, AuthRequest to auth (digest
 * authentication, auth.h), RouteRequest to the router
 * (which asks the registrar for the first dial's location),
 * a reload re-reads the dialplan, everything else is the
 * skeleton's (Ping, Hello, an Error for the rest).
 */
#include <stdio.h>

#include "auth.h"
#include "registrar.h"
#include "resources.h"
#include "router.h"
#include "worker.h"

struct routerd {
    registrar_t *registrar;
    router_t *router;
    auth_t *auth;
};

static int dialplan_dir = -1; /* dialplan_path's directory, opened while privileged */

/* Opens the dialplan's directory while root can: the service user may not be able to
 * reach it by its path (a 0700 ancestor), only read the file in it. */
static int routerd_init_privileged(worker_t *w) {
    char dir[4096];
    if (res_split(cfg_str(w->cfg, CFG_dialplan_path), dir, sizeof dir))
        dialplan_dir = res_dir_open(dir);
    return 0;
}

static int routerd_init(worker_t *w) {
    static struct routerd rd; /* one per process */
    rd.registrar = registrar_new(w);
    rd.router = rd.registrar ? router_new(w, rd.registrar, dialplan_dir) : NULL;
    dialplan_dir = -1; /* the router's now */
    if (!rd.router)
        return -1;
    rd.auth = auth_new(w);
    if (!rd.auth)
        return -1;
    w->role_ctx = &rd;
    return 0;
}

static bool routerd_ready(worker_t *w, char *why, size_t cap) {
    struct routerd *rd = w->role_ctx;
    if (rd && router_has_dialplan(rd->router))
        return true;
    snprintf(why, cap, "dialplan (none loaded; see the log)");
    return false;
}

static bool routerd_on_envelope(worker_t *w, ipc_chan_t *ch, Sb__Envelope *env) {
    struct routerd *rd = w->role_ctx;
    if (!rd)
        return false; /* stopping: the skeleton answers an Error */
    switch (env->body_case) {
    case SB__ENVELOPE__BODY_REGISTER_REQUEST:
        registrar_register(rd->registrar, ch, env);
        return true;
    case SB__ENVELOPE__BODY_LOCATION_REQUEST:
        registrar_locate(rd->registrar, ch, env);
        return true;
    case SB__ENVELOPE__BODY_ROUTE_REQUEST:
        router_route(rd->router, ch, env);
        return true;
    case SB__ENVELOPE__BODY_AUTH_REQUEST:
        auth_check(rd->auth, ch, env);
        return true;
    case SB__ENVELOPE__BODY_DIALPLAN_RELOAD:
        router_reload_request(rd->router, ch, env);
        return true;
    default:
        return false;
    }
}

static void routerd_redis_state(worker_t *w, bool up) {
    struct routerd *rd = w->role_ctx;
    if (rd) {
        registrar_redis_state(rd->registrar, up);
        auth_redis_state(rd->auth, up);
    }
}

static void routerd_reload(worker_t *w, const cfg_t *old) {
    struct routerd *rd = w->role_ctx;
    (void)old;
    if (rd)
        router_reload(rd->router);
}

static void routerd_drain(worker_t *w) {
    struct routerd *rd = w->role_ctx;
    if (rd)
        registrar_drain(rd->registrar);
    else
        worker_drained(w);
}

static void routerd_stop(worker_t *w) {
    struct routerd *rd = w->role_ctx;
    if (rd) {
        registrar_stop(rd->registrar); /* frees itself once Redis has called back */
        auth_stop(rd->auth);           /* likewise */
        router_free(rd->router);
    }
    w->role_ctx = NULL;
}

static void routerd_peer_closed(worker_t *w, ipc_chan_t *ch) {
    struct routerd *rd = w->role_ctx;
    if (rd) {
        registrar_peer_closed(rd->registrar, ch);
        auth_peer_closed(rd->auth, ch);
    }
}

static const struct worker_ops routerd_ops = {
    .role = SB_ROLE_routerd,
    .init_privileged = routerd_init_privileged,
    .init = routerd_init,
    .ready = routerd_ready,
    .on_envelope = routerd_on_envelope,
    .reload = routerd_reload,
    .drain = routerd_drain,
    .stop = routerd_stop,
    .redis_state = routerd_redis_state,
    .peer_closed = routerd_peer_closed,
};

int main(int argc, char **argv) {
    return worker_main(argc, argv, &routerd_ops);
}
