/* media_rtp - see media_rtp.h */
#include "media_rtp.h"

#include <string.h>

static uint16_t rd16(const uint8_t *p) {
    return (uint16_t)(p[0] << 8 | p[1]);
}
static uint32_t rd32(const uint8_t *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

int media_rtp_header(const uint8_t *pkt, size_t len, struct media_rtp_hdr *h) {
    if (len < MEDIA_RTP_HEADER || (pkt[0] >> 6) != 2)
        return -1;
    size_t hl = MEDIA_RTP_HEADER + 4u * (pkt[0] & 0x0f);
    if (len < hl)
        return -1;
    if (pkt[0] & 0x10) { /* RFC 3550 5.3.1 header extension */
        if (len < hl + 4)
            return -1;
        hl += 4 + 4u * rd16(pkt + hl + 2);
        if (len < hl)
            return -1;
    }
    h->marker = pkt[1] & 0x80;
    h->pt = pkt[1] & 0x7f;
    h->seq = rd16(pkt + 2);
    h->ts = rd32(pkt + 4);
    h->ssrc = rd32(pkt + 8);
    h->header_len = hl;
    return 0;
}

bool media_is_rtcp(const uint8_t *pkt, size_t len) {
    return len >= 8 && (pkt[0] >> 6) == 2 && pkt[1] >= 192 && pkt[1] <= 223;
}

enum media_pkt_kind media_packet_kind(const uint8_t *pkt, size_t len, bool rtcp_port) {
    if (media_is_rtcp(pkt, len))
        return 4u * ((size_t)rd16(pkt + 2) + 1) <= len ? MEDIA_PKT_RTCP : MEDIA_PKT_OTHER;
    struct media_rtp_hdr h;
    if (rtcp_port || media_rtp_header(pkt, len, &h) != 0)
        return MEDIA_PKT_OTHER;
    return MEDIA_PKT_RTP;
}

void media_rtp_write_header(uint8_t *pkt, bool marker, int pt, uint16_t seq, uint32_t ts,
                            uint32_t ssrc) {
    pkt[0] = 0x80;
    pkt[1] = (uint8_t)((marker ? 0x80 : 0) | (pt & 0x7f));
    pkt[2] = (uint8_t)(seq >> 8);
    pkt[3] = (uint8_t)seq;
    pkt[4] = (uint8_t)(ts >> 24);
    pkt[5] = (uint8_t)(ts >> 16);
    pkt[6] = (uint8_t)(ts >> 8);
    pkt[7] = (uint8_t)ts;
    pkt[8] = (uint8_t)(ssrc >> 24);
    pkt[9] = (uint8_t)(ssrc >> 16);
    pkt[10] = (uint8_t)(ssrc >> 8);
    pkt[11] = (uint8_t)ssrc;
}

#define RTP_MAX_DROPOUT 3000
#define RTP_MAX_MISORDER 100

static void stats_restart(struct media_rtp_stats *s, uint32_t ssrc, uint16_t seq) {
    memset(s, 0, sizeof *s);
    s->started = true;
    s->ssrc = ssrc;
    s->base_seq = seq;
    s->max_seq = seq;
}

/* RFC 3550 A.1 (without probation: a relay counts from the first packet) and A.8. */
void media_rtp_stats_update(struct media_rtp_stats *s, uint32_t ssrc, uint16_t seq, uint32_t ts,
                            int64_t arrival, bool timing) {
    if (!s->started || ssrc != s->ssrc) {
        stats_restart(s, ssrc, seq);
        s->received = 1;
        s->last_transit = arrival - (int64_t)ts;
        return;
    }
    uint16_t udelta = (uint16_t)(seq - s->max_seq);
    if (udelta < RTP_MAX_DROPOUT) {
        if (seq < s->max_seq)
            s->cycles += 1u << 16;
        s->max_seq = seq;
    } else if (udelta <= 65535 - RTP_MAX_MISORDER) {
        /* a very large jump: the source restarted; count afresh from here */
        uint64_t kept = s->received;
        double jitter = s->jitter;
        stats_restart(s, ssrc, seq);
        s->received = kept;
        s->base_seq = (uint32_t)seq - (uint32_t)kept; /* keep lost at what it was */
        s->jitter = jitter;
    }
    s->received++;
    if (!timing)
        return;
    int64_t transit = arrival - (int64_t)ts;
    int64_t d = transit - s->last_transit;
    s->last_transit = transit;
    if (d < 0)
        d = -d;
    s->jitter += ((double)d - s->jitter) / 16.0;
}

uint64_t media_rtp_stats_lost(const struct media_rtp_stats *s) {
    if (!s->started)
        return 0;
    int64_t expected = (int64_t)(s->cycles + s->max_seq) - (int64_t)s->base_seq + 1;
    int64_t lost = expected - (int64_t)s->received;
    return lost > 0 ? (uint64_t)lost : 0;
}

uint32_t media_rtp_stats_jitter(const struct media_rtp_stats *s) {
    return (uint32_t)(s->jitter + 0.5);
}

int media_dtmf_parse(const uint8_t *payload, size_t len, struct media_dtmf *d) {
    if (len < 4)
        return -1;
    d->event = payload[0];
    d->end = payload[1] & 0x80;
    d->volume = payload[1] & 0x3f;
    d->duration = rd16(payload + 2);
    return d->event <= 255 ? 0 : -1;
}

const char *media_dtmf_digit(int event) {
    static const char *const digits[16] = {"0", "1", "2", "3", "4", "5", "6", "7",
                                           "8", "9", "*", "#", "A", "B", "C", "D"};
    return event >= 0 && event < 16 ? digits[event] : "?";
}

bool media_dtmf_should_report(struct media_dtmf_state *st, uint32_t ts,
                              const struct media_dtmf *d) {
    if (!d->end)
        return false;
    if (st->have_last && st->last_ts == ts)
        return false; /* RFC 4733 2.5.1.4: the end packet is retransmitted */
    st->have_last = true;
    st->last_ts = ts;
    return true;
}
