/*
 * NAME
 *   media_codec - G.711 (ITU-T G.711 mu-law and A-law) and a linear-interpolation
 *   resampler to 8 kHz mono, for mediad's playback.
 * DESCRIPTION
 *   Encoders and decoders are table-free bit arithmetic (the standard segment method), so
 *   a sample round-trips within G.711's quantisation step. media_resample_to_8k mixes
 *   channels down by averaging and resamples by linear interpolation after a short
 *   moving-average low-pass when decimating (enough for prompts; not a studio filter).
 * OWNERSHIP
 *   Callers own every buffer. media_resample_to_8k returns a malloc'd array.
 * LOOP
 *   Pure code; any loop.
 * ERRORS
 *   media_resample_to_8k returns NULL on bad arguments or out of memory.
 */
#ifndef SB_MEDIA_CODEC_H
#define SB_MEDIA_CODEC_H

#include <stddef.h>
#include <stdint.h>

uint8_t media_ulaw_encode(int16_t pcm);
int16_t media_ulaw_decode(uint8_t ulaw);
uint8_t media_alaw_encode(int16_t pcm);
int16_t media_alaw_decode(uint8_t alaw);

/* in: frames * channels interleaved samples at rate Hz. Returns *out_frames samples of
 * 8 kHz mono (malloc'd, caller frees). */
int16_t *media_resample_to_8k(const int16_t *in, size_t frames, int channels, int rate,
                              size_t *out_frames);

#endif
