/*
 * dialogd - B2BUA call state. The worker skeleton (lib/worker.h) runs
 * the lifecycle; this file is the ops table: sipd's SipRequestIn, SipResponseIn and
 * SipTxnEvent go to the b2bua (b2bua.h), everything else is the skeleton's.
 */
#include "b2bua.h"
#include "worker.h"

static int dialogd_init(worker_t *w) {
    w->role_ctx = b2bua_new(w);
    return w->role_ctx ? 0 : -1;
}

static bool dialogd_on_envelope(worker_t *w, ipc_chan_t *ch, Sb__Envelope *env) {
    return w->role_ctx && b2bua_on_envelope(w->role_ctx, ch, env);
}

static void dialogd_peer_closed(worker_t *w, ipc_chan_t *ch) {
    if (w->role_ctx)
        b2bua_peer_closed(w->role_ctx, ch);
}

static void dialogd_stop(worker_t *w) {
    b2bua_free(w->role_ctx);
    w->role_ctx = NULL;
}

static const struct worker_ops dialogd_ops = {
    .role = SB_ROLE_dialogd,
    .init = dialogd_init,
    .on_envelope = dialogd_on_envelope,
    .peer_closed = dialogd_peer_closed,
    .stop = dialogd_stop,
};

int main(int argc, char **argv) {
    return worker_main(argc, argv, &dialogd_ops);
}
