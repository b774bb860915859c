/*
 * mediad - the media plane: RTP/RTCP relay with a port pool shared in shm, SDP rewrite,
 * playback, DTMF events, SRTP (media_control.h, docs/media.md).
 * The worker skeleton (lib/worker.h) runs the lifecycle; this file is the ops table:
 * the Media* requests of proto/media.proto go to media_control, everything else is the
 * skeleton's (Ping, Hello, an Error for the rest).
 */
#include "log.h"
#include "media_control.h"
#include "worker.h"

static int mediad_init_privileged(worker_t *w) {
    (void)w;
    if (media_control_init_privileged() < 0) {
        log_error("libsrtp2 failed to initialise");
        return -1;
    }
    return 0;
}

static int mediad_init(worker_t *w) {
    w->role_ctx = media_control_new(w);
    return w->role_ctx ? 0 : -1;
}

static bool mediad_on_envelope(worker_t *w, ipc_chan_t *ch, Sb__Envelope *env) {
    if (!w->role_ctx)
        return false;
    return media_control_handle(w->role_ctx, ch, env);
}

static void mediad_reload(worker_t *w, const cfg_t *old) {
    (void)old;
    if (w->role_ctx)
        media_control_reload(w->role_ctx);
}

static void mediad_drain(worker_t *w) {
    if (w->role_ctx)
        media_control_drain(w->role_ctx);
    else
        worker_drained(w);
}

static void mediad_stop(worker_t *w) {
    if (w->role_ctx)
        media_control_stop(w->role_ctx); /* frees itself once its handles have closed */
    w->role_ctx = NULL;
}

static void mediad_peer_closed(worker_t *w, ipc_chan_t *ch) {
    if (w->role_ctx)
        media_control_peer_closed(w->role_ctx, ch);
}

static const struct worker_ops mediad_ops = {
    .role = SB_ROLE_mediad,
    .init_privileged = mediad_init_privileged,
    .init = mediad_init,
    .on_envelope = mediad_on_envelope,
    .reload = mediad_reload,
    .drain = mediad_drain,
    .stop = mediad_stop,
    .peer_closed = mediad_peer_closed,
};

int main(int argc, char **argv) {
    return worker_main(argc, argv, &mediad_ops);
}
