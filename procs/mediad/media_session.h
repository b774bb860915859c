/*
 * NAME
 *   media_session - mediad's sessions: ports, relay, latching, hold, DTMF, SRTP, stats,
 *   playback, media timeout, and the control requests of proto/media.proto.
 * DESCRIPTION
 *   A session anchors one call: side A (the offerer) and side B, each with, per m-line, an
 *   RTP and an RTCP socket on a port pair from the shm pool (shm.h). A packet received on
 *   a side is relayed, untouched unless SRTP must be removed or added, out of the same
 *   m-line's socket of the side it is bridged to (its own session's other side, or
 *   another session's side A after a bridge request), to that side's latched address:
 *   the source of its first packet, accepted only from the IP its SDP announced unless
 *   media_latch_any (RFC 3264 hold directions are honoured each way). Per side and line it
 *   keeps RFC 3550 receive statistics and reports RFC 4733 events once each. Playback
 *   reads a WAV (libsndfile), resamples it to 8 kHz mono and sends 20 ms PCMU/PCMA
 *   packets on absolute deadlines. Events go to the channel that created the session.
 *   The per-packet path allocates nothing: it reads batches with recvmmsg into the
 *   context's buffers and writes them with sendmmsg.
 * OWNERSHIP
 *   media_ctx_t belongs to the worker's role_ctx; sessions belong to the context and are
 *   freed when their handles have closed. Envelopes are borrowed for the call.
 * LOOP
 *   mediad's loop only.
 * ERRORS
 *   Requests are answered with a MediaReply status (never a crash); socket faults are
 *   counted in shm and logged rate-limited. Keys never reach the log.
 * SEE ALSO
 *   media_sdp.h, media_rtp.h, media_codec.h, proto/media.proto, docs/media.md
 */
#ifndef SB_MEDIA_SESSION_H
#define SB_MEDIA_SESSION_H

#include <stdbool.h>

#include "worker.h"

typedef struct media_ctx media_ctx_t;

/* Before the privilege drop and chroot (worker_ops.init_privileged): libsrtp2. */
int media_init_privileged(void);
/* On the loop after the drop; NULL (logged) on a bad media_address or no memory. */
media_ctx_t *media_ctx_new(worker_t *w);
/* Handles a media request envelope; false when env is not one of ours. */
bool media_handle(media_ctx_t *ctx, ipc_chan_t *ch, Sb__Envelope *env);
/* main.cf was reloaded: timeout, latching and port range apply to new sessions. */
void media_reload(media_ctx_t *ctx);
/* Take no new sessions; worker_drained once none is left. */
void media_drain(media_ctx_t *ctx);
/* ch is going away: its sessions keep running without an owner (no events). */
void media_peer_closed(media_ctx_t *ctx, ipc_chan_t *ch);
/* Ends every session (SESSION_LOST to owners), closes handles, frees ctx once closed. */
void media_stop(media_ctx_t *ctx);

#endif
