/*
 * NAME
 *   media_play - prompts: a WAV played towards one side of a session.
 * DESCRIPTION
 *   Reads a WAV of audio_path (libsndfile; any rate and channel count), resamples it to
 *   8 kHz mono and sends 20 ms PCMU or PCMA packets (the side's negotiated G.711) on absolute
 *   deadlines, SRTP-protected when the side speaks SRTP. While a side hears a prompt the
 *   relay suspends RTP towards it (side->playing). Reports PLAY_STARTED, PLAY_PROGRESS,
 *   PLAY_COMPLETED, PLAY_STOPPED and PLAY_ERROR through the session's event sink. SSRC,
 *   sequence and timestamp start from ctx->random: without random bytes the play is
 *   refused (PLAY_ERROR).
 * OWNERSHIP
 *   The samples belong to the side's struct media_play until the play stops; a closing
 *   session stops its plays through the hook media_play_init registers.
 * LOOP
 *   mediad's loop only; it never calls media_relay or media_control.
 * ERRORS
 *   Every failure is a PLAY_ERROR event with a reason; nothing is logged per packet.
 */
#ifndef SB_MEDIA_PLAY_H
#define SB_MEDIA_PLAY_H

#include <stdbool.h>
#include <stdint.h>

#include "media_session.h"

/* Registers playback's teardown with ctx (0, or -ENOSPC). */
int media_play_init(media_ctx_t *ctx);
/* Plays file (relative to audio_path) towards side idx of s, replacing what played there;
 * loop: from the start again at the end; progress_ms: PLAY_PROGRESS every so often (0 none). */
void media_play_start(struct media_session *s, int idx, const char *file, bool loop,
                      uint32_t progress_ms);
/* Stops the play towards side (PLAY_STOPPED when report); nothing playing: nothing. */
void media_play_stop(struct media_side *side, bool report);

#endif
