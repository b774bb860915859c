/*
 * NAME
 *   media_control - mediad's control plane: the requests of proto/media.proto (create,
 *   update, bridge, unbridge, play, stop play, destroy, list, stats, drain), the sweep
 *   (media timeouts, owners gone, counters to shm, ports of dead instances) and the
 *   MediaEvents sent to each session's owner.
 * DESCRIPTION
 *   The top layer: it builds on media_session (the model), media_relay (packets, SRTP) and
 *   media_play (prompts), and is what main.c uses. Every request gets one MediaReply; a
 *   create that cannot be completed (no port, no random bytes for an SRTP key, a rewrite
 *   that fails) leaves no session and no port behind. Events go to the channel that
 *   created the session, while it lives.
 * OWNERSHIP
 *   The ctx belongs to the worker's role_ctx until media_control_stop, which frees it once
 *   its handles have closed. Envelopes are borrowed for the call.
 * LOOP
 *   mediad's loop only.
 * ERRORS
 *   Requests are answered with a MediaReply status (never a crash); runtime faults are
 *   counted in shm and logged rate-limited. Keys never reach the log.
 * SEE ALSO
 *   media_session.h, media_relay.h, media_play.h, media_sdp.h, docs/media.md
 */
#ifndef SB_MEDIA_CONTROL_H
#define SB_MEDIA_CONTROL_H

#include <stdbool.h>

#include "media_session.h"
#include "worker.h"

/* Before the privilege drop and chroot (worker_ops.init_privileged): libsrtp2. */
int media_control_init_privileged(void);
/* On the loop after the drop; NULL (logged) on a bad media_address or no memory. */
media_ctx_t *media_control_new(worker_t *w);
/* Handles a media request envelope; false when env is not one of ours. */
bool media_control_handle(media_ctx_t *ctx, ipc_chan_t *ch, Sb__Envelope *env);
/* main.cf was reloaded: timeout, latching and port range apply to new sessions. */
void media_control_reload(media_ctx_t *ctx);
/* Take no new sessions; worker_drained once none is left. */
void media_control_drain(media_ctx_t *ctx);
/* ch is going away: its sessions keep running without an owner (no events). */
void media_control_peer_closed(media_ctx_t *ctx, ipc_chan_t *ch);
/* Ends every session (SESSION_LOST to owners), closes handles, frees ctx once closed. */
void media_control_stop(media_ctx_t *ctx);

#endif
