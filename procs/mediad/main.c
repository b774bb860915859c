/*
 * mediad - the media plane: RTP/RTCP relay with a port pool shared in shm, SDP rewrite,
 * playback, DTMF events, SRTP (media_control.h, docs/media.md).
 * The worker skeleton (lib/worker.h) runs the lifecycle; this file is the ops table:
 * the Media* requests of proto/media.proto go to media_control, everything else is the
 * skeleton's (Ping, Hello, an Error for the rest).
 */
#include <string.h>

#include "log.h"
#include "media_session.h"
#include "resources.h"
#include "media_control.h"
#include "worker.h"

static int audio_dir = -1; /* audio_path, opened while privileged */

static int mediad_init_privileged(worker_t *w) {
    if (media_control_init_privileged() < 0) {
        log_error("libsrtp2 failed to initialise");
        return -1;
    }
    /* The service user may not reach audio_path by its path (a 0700 ancestor): prompts
     * are opened relative to this descriptor. */
    audio_dir = res_dir_open(cfg_str(w->cfg, CFG_audio_path));
    if (audio_dir < 0)
        log_warn("audio_path %s: %s; prompts will not play", cfg_str(w->cfg, CFG_audio_path),
                 strerror(-audio_dir));
    return 0;
}

static int mediad_init(worker_t *w) {
    media_ctx_t *ctx = media_control_new(w);
    w->role_ctx = ctx;
    if (!ctx)
        return -1;
    ctx->audio_dirfd = audio_dir;
    return 0;
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
