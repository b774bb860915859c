/*
 * routerd - registrar and location service (RFC 3261 10.3), bindings in Redis
 * (registrar.h); dialplan matching and target resolution arrive with their issue.
 * The worker skeleton (lib/worker.h) runs the lifecycle; this file is the ops table:
 * RegisterRequest and LocationRequest go to the registrar, everything else is the
 * skeleton's (Ping, Hello, an Error for the rest).
 */
#include "registrar.h"
#include "worker.h"

static int routerd_init(worker_t *w) {
    w->role_ctx = registrar_new(w);
    return w->role_ctx ? 0 : -1;
}

static bool routerd_on_envelope(worker_t *w, ipc_chan_t *ch, Sb__Envelope *env) {
    if (!w->role_ctx)
        return false; /* stopping: the skeleton answers an Error */
    switch (env->body_case) {
    case SB__ENVELOPE__BODY_REGISTER_REQUEST:
        registrar_register(w->role_ctx, ch, env);
        return true;
    case SB__ENVELOPE__BODY_LOCATION_REQUEST:
        registrar_locate(w->role_ctx, ch, env);
        return true;
    default:
        return false;
    }
}

static void routerd_redis_state(worker_t *w, bool up) {
    if (w->role_ctx)
        registrar_redis_state(w->role_ctx, up);
}

static void routerd_drain(worker_t *w) {
    registrar_drain(w->role_ctx);
}

static void routerd_stop(worker_t *w) {
    if (w->role_ctx)
        registrar_stop(w->role_ctx); /* frees itself once Redis has called back */
    w->role_ctx = NULL;
}

static void routerd_peer_closed(worker_t *w, ipc_chan_t *ch) {
    if (w->role_ctx)
        registrar_peer_closed(w->role_ctx, ch);
}

static const struct worker_ops routerd_ops = {
    .role = SB_ROLE_routerd,
    .init = routerd_init,
    .on_envelope = routerd_on_envelope,
    .drain = routerd_drain,
    .stop = routerd_stop,
    .redis_state = routerd_redis_state,
    .peer_closed = routerd_peer_closed,
};

int main(int argc, char **argv) {
    return worker_main(argc, argv, &routerd_ops);
}
