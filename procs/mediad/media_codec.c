/* media_codec - see media_codec.h */
#include "media_codec.h"

#include <stdlib.h>

/* ITU-T G.711 mu-law: bias 0x84, clip at 32635, 8 segments of 16 steps. */
uint8_t media_ulaw_encode(int16_t pcm) {
    int v = pcm, sign = 0;
    if (v < 0) {
        v = -v;
        sign = 0x80;
    }
    if (v > 32635)
        v = 32635;
    v += 0x84;
    int seg = 7;
    for (int mask = 0x4000; !(v & mask) && seg > 0; mask >>= 1)
        seg--;
    int mant = (v >> (seg + 3)) & 0x0f;
    return (uint8_t) ~(sign | (seg << 4) | mant);
}

int16_t media_ulaw_decode(uint8_t u) {
    u = (uint8_t)~u;
    int seg = (u >> 4) & 7, mant = u & 0x0f;
    int v = ((mant << 3) + 0x84) << seg;
    v -= 0x84;
    return (int16_t)((u & 0x80) ? -v : v);
}

/* ITU-T G.711 A-law: 13-bit magnitude, even bits inverted (0x55). */
uint8_t media_alaw_encode(int16_t pcm) {
    int v = pcm >> 3, sign = 0x80; /* sign bit set for positive values */
    if (v < 0) {
        v = -v - 1;
        sign = 0;
    }
    if (v > 0xfff)
        v = 0xfff;
    int out;
    if (v < 32) {
        out = v >> 1;
    } else {
        int seg = 1;
        for (int t = v >> 5; t > 1; t >>= 1)
            seg++;
        out = (seg << 4) | ((v >> seg) & 0x0f);
    }
    return (uint8_t)((sign | out) ^ 0x55);
}

int16_t media_alaw_decode(uint8_t a) {
    a ^= 0x55;
    int seg = (a >> 4) & 7, mant = a & 0x0f, v;
    if (seg == 0)
        v = (mant << 4) + 8;
    else
        v = ((mant << 4) + 0x108) << (seg - 1);
    return (int16_t)((a & 0x80) ? v : -v);
}

int16_t *media_resample_to_8k(const int16_t *in, size_t frames, int channels, int rate,
                              size_t *out_frames) {
    *out_frames = 0;
    if (!in || channels < 1 || channels > 16 || rate < 1000 || rate > 384000)
        return NULL;
    if (frames == 0)
        return calloc(1, sizeof(int16_t));
    float *mono = malloc(frames * sizeof *mono);
    if (!mono)
        return NULL;
    for (size_t i = 0; i < frames; i++) {
        int sum = 0;
        for (int c = 0; c < channels; c++)
            sum += in[i * (size_t)channels + (size_t)c];
        mono[i] = (float)sum / (float)channels;
    }
    /* Decimating: a moving average over rate/8000 samples keeps most aliasing out. */
    int taps = rate > 8000 ? rate / 8000 : 1;
    if (taps > 1) {
        float *lp = malloc(frames * sizeof *lp);
        if (!lp) {
            free(mono);
            return NULL;
        }
        double acc = 0;
        for (size_t i = 0; i < frames; i++) {
            acc += mono[i];
            if (i >= (size_t)taps)
                acc -= mono[i - (size_t)taps];
            size_t n = i + 1 < (size_t)taps ? i + 1 : (size_t)taps;
            lp[i] = (float)(acc / (double)n);
        }
        free(mono);
        mono = lp;
    }
    size_t n = (size_t)((uint64_t)frames * 8000 / (uint64_t)rate);
    int16_t *out = malloc((n ? n : 1) * sizeof *out);
    if (!out) {
        free(mono);
        return NULL;
    }
    for (size_t j = 0; j < n; j++) {
        double pos = (double)j * rate / 8000.0;
        size_t i0 = (size_t)pos;
        double frac = pos - (double)i0;
        float a = mono[i0], b = i0 + 1 < frames ? mono[i0 + 1] : a;
        double v = a + (b - a) * frac;
        out[j] = (int16_t)(v > 32767 ? 32767 : v < -32768 ? -32768 : v);
    }
    free(mono);
    *out_frames = n;
    return out;
}
