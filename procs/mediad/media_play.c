/* media_play - see media_play.h */
#include "media_play.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sndfile.h>

#include "clock.h"
#include "media_codec.h"
#include "resources.h"
#include "shm.h"

#define MEDIA_PLAY_PTIME_MS 20
#define MEDIA_PLAY_SAMPLES 160
#define MEDIA_PLAY_MAX_SAMPLES (8000u * 600u) /* ten minutes at 8 kHz */
#define MEDIA_PLAY_MAX_RAW (32u << 20)        /* samples read from the file, all channels */
#define MEDIA_PLAY_CATCHUP 5                  /* packets sent at once after a stall */

void media_play_stop(struct media_side *side, bool report) {
    struct media_play *p = &side->play;
    if (!p->active)
        return;
    uv_timer_stop(&p->timer);
    free(p->samples);
    p->samples = NULL;
    p->active = false;
    side->playing = false;
    if (report) {
        Sb__MediaEvent ev = SB__MEDIA_EVENT__INIT;
        ev.packets = p->sent;
        ev.position_ms = (uint32_t)(p->pos / 8);
        media_session_event(side->s, SB__MEDIA_EVENT_TYPE__MEDIA_EVENT_PLAY_STOPPED, side->idx,
                            &ev);
    }
}

/* Sends one 20 ms packet; false when the file is over (and not looping). */
static bool play_packet(struct media_side *side) {
    struct media_play *p = &side->play;
    media_ctx_t *ctx = side->s->ctx;
    if (p->pos >= p->n) {
        if (!p->loop || p->n == 0)
            return false;
        p->pos = 0;
    }
    uint8_t *pkt = ctx->play_buf;
    media_rtp_write_header(pkt, p->sent == 0, p->pt, p->seq, p->ts, p->ssrc);
    for (size_t i = 0; i < MEDIA_PLAY_SAMPLES; i++) {
        int16_t v = p->pos + i < p->n ? p->samples[p->pos + i] : 0;
        pkt[MEDIA_RTP_HEADER + i] = p->alaw ? media_alaw_encode(v) : media_ulaw_encode(v);
    }
    p->pos += MEDIA_PLAY_SAMPLES;
    p->seq++;
    p->ts += MEDIA_PLAY_SAMPLES;
    p->sent++;
    int len = MEDIA_RTP_HEADER + MEDIA_PLAY_SAMPLES;
    struct media_leg *l = &side->leg[0];
    if (l->srtp && (!l->srtp_out || srtp_protect(l->srtp_out, pkt, &len) != srtp_err_status_ok))
        return true; /* nothing to encrypt with yet: this packet is lost, time goes on */
    if (media_leg_sendable(l, false) && l->rtp.fd >= 0 && media_dir_receives(l->dir)) {
        if (sendto(l->rtp.fd, pkt, (size_t)len, MSG_DONTWAIT, &l->remote_rtp.sa,
                   media_sa_len(&l->remote_rtp)) == len) {
            l->out.packets++;
            l->out.bytes += (uint64_t)len;
            ctx->c_tx++;
            ctx->c_tx_bytes += (uint64_t)len;
        }
    }
    return true;
}

static void play_tick(uv_timer_t *t) {
    struct media_side *side = t->data;
    struct media_play *p = &side->play;
    if (!p->active)
        return;
    int64_t now = clock_mono_us();
    int burst = 0;
    /* absolute deadlines: packet k leaves at start + k * 20 ms, whatever the timer did */
    while (p->start_us + (int64_t)p->sent * MEDIA_PLAY_PTIME_MS * 1000 <= now) {
        if (burst++ >= MEDIA_PLAY_CATCHUP) {
            /* a long stall: skip ahead rather than burst */
            uint64_t due = (uint64_t)((now - p->start_us) / (MEDIA_PLAY_PTIME_MS * 1000));
            while (p->sent < due) {
                p->sent++;
                p->seq++;
                p->ts += MEDIA_PLAY_SAMPLES;
                p->pos += MEDIA_PLAY_SAMPLES;
            }
            break;
        }
        if (!play_packet(side)) {
            Sb__MediaEvent ev = SB__MEDIA_EVENT__INIT;
            ev.packets = p->sent;
            ev.position_ms = (uint32_t)(p->n / 8);
            ev.duration_ms = (uint32_t)(p->n / 8);
            struct media_session *s = side->s;
            int idx = side->idx;
            media_play_stop(side, false);
            media_session_event(s, SB__MEDIA_EVENT_TYPE__MEDIA_EVENT_PLAY_COMPLETED, idx, &ev);
            return;
        }
        if (p->progress_ms && p->sent >= p->next_progress_pkt) {
            p->next_progress_pkt += p->progress_ms / MEDIA_PLAY_PTIME_MS;
            Sb__MediaEvent ev = SB__MEDIA_EVENT__INIT;
            ev.packets = p->sent;
            ev.position_ms = (uint32_t)(p->pos / 8);
            ev.duration_ms = (uint32_t)(p->n / 8);
            media_session_event(side->s, SB__MEDIA_EVENT_TYPE__MEDIA_EVENT_PLAY_PROGRESS, side->idx,
                                &ev);
        }
    }
    int64_t next = p->start_us + (int64_t)p->sent * MEDIA_PLAY_PTIME_MS * 1000;
    int64_t wait_ms = (next - clock_mono_us() + 999) / 1000;
    uv_timer_start(&p->timer, play_tick, wait_ms > 0 ? (uint64_t)wait_ms : 0, 0);
}

/* Reads a WAV (any rate, any channel count) as 8 kHz mono; NULL + why on failure. */
static int16_t *load_audio(media_ctx_t *ctx, const char *file, size_t *n, char *why, size_t wl) {
    if (!file || !*file || file[0] == '/' || strstr(file, "..")) {
        snprintf(why, wl, "file name refused");
        return NULL;
    }
    /* relative to audio_path's descriptor: its ancestors may be closed to the service user */
    int fd = res_audio_open(ctx->audio_dirfd, cfg_str(ctx->w->cfg, CFG_audio_path), file);
    if (fd < 0) {
        snprintf(why, wl, "cannot open %s: %s", file, strerror(-fd));
        return NULL;
    }
    SF_INFO info;
    memset(&info, 0, sizeof info);
    SNDFILE *sf = sf_open_fd(fd, SFM_READ, &info, 1);
    if (!sf) {
        close(fd);
        snprintf(why, wl, "cannot read %s: %s", file, sf_strerror(NULL));
        return NULL;
    }
    if (info.channels < 1 || info.channels > 16 || info.samplerate < 1000 ||
        info.samplerate > 384000 || info.frames < 0 ||
        (uint64_t)info.frames * 8000 / (uint64_t)info.samplerate > MEDIA_PLAY_MAX_SAMPLES ||
        (uint64_t)info.frames * (uint64_t)info.channels > MEDIA_PLAY_MAX_RAW) {
        sf_close(sf);
        snprintf(why, wl, "%s: unsupported format or too long", file);
        return NULL;
    }
    size_t total = (size_t)info.frames * (size_t)info.channels;
    int16_t *raw = malloc((total ? total : 1) * sizeof *raw);
    if (!raw) {
        sf_close(sf);
        snprintf(why, wl, "out of memory");
        return NULL;
    }
    sf_count_t got = sf_readf_short(sf, raw, info.frames);
    sf_close(sf);
    if (got < 0)
        got = 0;
    int16_t *out = media_resample_to_8k(raw, (size_t)got, info.channels, info.samplerate, n);
    free(raw);
    if (!out)
        snprintf(why, wl, "resampling failed");
    return out;
}

/* The first SSRC, sequence number and timestamp of a play (RFC 3550 5.1: random). */
struct play_start_values {
    uint32_t ssrc, ts;
    uint16_t seq;
};

void media_play_start(struct media_session *s, int idx, const char *file, bool loop,
                      uint32_t progress_ms) {
    struct media_side *side = &s->side[idx];
    struct media_play *p = &side->play;
    media_play_stop(side, true);
    char why[256] = "";
    Sb__MediaEvent ev = SB__MEDIA_EVENT__INIT;
    struct play_start_values v;
    if (s->ctx->random(&v, sizeof v) != 0) {
        ev.reason = "no random bytes for an RTP stream";
        media_session_event(s, SB__MEDIA_EVENT_TYPE__MEDIA_EVENT_PLAY_ERROR, idx, &ev);
        return;
    }
    size_t n = 0;
    int16_t *samples = load_audio(s->ctx, file, &n, why, sizeof why);
    if (!samples) {
        ev.reason = why;
        media_session_event(s, SB__MEDIA_EVENT_TYPE__MEDIA_EVENT_PLAY_ERROR, idx, &ev);
        return;
    }
    struct media_leg *l = &side->leg[0];
    /* the negotiated codec: the side's first codec if it is G.711, else PCMU, else PCMA */
    if (l->first_pt >= 0 && l->first_pt == l->pcma_pt) {
        p->pt = l->pcma_pt;
        p->alaw = true;
    } else if (l->pcmu_pt >= 0 || l->pcma_pt < 0) {
        p->pt = l->pcmu_pt >= 0 ? l->pcmu_pt : 0;
        p->alaw = false;
    } else {
        p->pt = l->pcma_pt;
        p->alaw = true;
    }
    p->samples = samples;
    p->n = n;
    p->pos = 0;
    p->loop = loop;
    p->ssrc = v.ssrc;
    p->seq = v.seq;
    p->ts = v.ts;
    p->sent = 0;
    p->progress_ms = progress_ms >= MEDIA_PLAY_PTIME_MS ? progress_ms : 0;
    p->next_progress_pkt = p->progress_ms / MEDIA_PLAY_PTIME_MS;
    p->start_us = clock_mono_us();
    p->active = true;
    side->playing = true;
    shm_count(s->ctx->w->slot, SHM_C_media_playbacks, 1);
    ev.duration_ms = (uint32_t)(n / 8);
    media_session_event(s, SB__MEDIA_EVENT_TYPE__MEDIA_EVENT_PLAY_STARTED, idx, &ev);
    play_tick(&p->timer);
}

static void play_closing(struct media_session *s) {
    for (int i = 0; i < 2; i++)
        media_play_stop(&s->side[i], false);
}

static const struct media_hooks play_hooks = {.closing = play_closing};

int media_play_init(media_ctx_t *ctx) {
    return media_ctx_add_hooks(ctx, &play_hooks);
}
