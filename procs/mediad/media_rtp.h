/*
 * NAME
 *   media_rtp - RTP header reading (RFC 3550 5.1), receive statistics (RFC 3550 A.1 sequence
 *   tracking, A.3 lost packets, A.8 interarrival jitter) and RFC 4733 telephone-events.
 * DESCRIPTION
 *   media_rtp_header checks a packet is RTP version 2 and long enough for its CSRCs and
 *   extension, and returns the header's fields; media_packet_kind tells RTP, RTCP and
 *   anything else apart (what the relay forwards). struct media_rtp_stats is updated once
 *   per received packet with its arrival time in timestamp units; it never allocates.
 *   media_dtmf_* report one event per RFC 4733 event (its end packet is sent three times).
 * OWNERSHIP
 *   Callers own packets and stats structs; nothing is kept.
 * LOOP
 *   Pure code on mediad's loop (per packet) and in the unit tests.
 * ERRORS
 *   media_rtp_header returns -1 for a packet that is not RTP.
 */
#ifndef SB_MEDIA_RTP_H
#define SB_MEDIA_RTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MEDIA_RTP_HEADER 12

struct media_rtp_hdr {
    bool marker;
    int pt;
    uint16_t seq;
    uint32_t ts;
    uint32_t ssrc;
    size_t header_len; /* with CSRCs and extension */
};

int media_rtp_header(const uint8_t *pkt, size_t len, struct media_rtp_hdr *h);
/* RTCP (RFC 5761 4: payload types 64-95 with the marker are RTCP packet types 192-223). */
bool media_is_rtcp(const uint8_t *pkt, size_t len);
/* What a received packet is: MEDIA_PKT_RTP (version 2, its CSRCs and extension inside
 * it, not an RTCP packet type), MEDIA_PKT_RTCP (version 2, RFC 5761 4 packet type
 * 192-223, its first packet's length inside it), or MEDIA_PKT_OTHER. On an RTCP port
 * (rtcp_port) only RTCP is accepted. The header is what SRTP leaves in clear: this holds
 * for SRTP and SRTCP alike. */
enum media_pkt_kind { MEDIA_PKT_OTHER = 0, MEDIA_PKT_RTP, MEDIA_PKT_RTCP };
enum media_pkt_kind media_packet_kind(const uint8_t *pkt, size_t len, bool rtcp_port);
/* Writes a 12-byte header. */
void media_rtp_write_header(uint8_t *pkt, bool marker, int pt, uint16_t seq, uint32_t ts,
                            uint32_t ssrc);

struct media_rtp_stats {
    bool started;
    uint32_t ssrc;
    uint16_t max_seq;
    uint32_t cycles; /* count of seq wraps << 16 */
    uint32_t base_seq;
    uint64_t received;
    uint32_t probation;
    int64_t last_transit; /* arrival - ts of the previous packet, timestamp units */
    double jitter;        /* RFC 3550 A.8, timestamp units */
};

/* One packet received: seq and ts from its header, arrival in timestamp units; timing
 * false leaves jitter alone (RFC 4733 events keep one timestamp for many packets). */
void media_rtp_stats_update(struct media_rtp_stats *s, uint32_t ssrc, uint16_t seq, uint32_t ts,
                            int64_t arrival, bool timing);
/* RFC 3550 A.3: packets expected minus received, never negative. */
uint64_t media_rtp_stats_lost(const struct media_rtp_stats *s);
uint32_t media_rtp_stats_jitter(const struct media_rtp_stats *s);

/* RFC 4733 2.3 payload of a telephone-event. */
struct media_dtmf {
    int event; /* 0-9, 10 '*', 11 '#', 12-15 A-D */
    bool end;
    int volume;
    uint16_t duration; /* timestamp units */
};
int media_dtmf_parse(const uint8_t *payload, size_t len, struct media_dtmf *d);
/* The digit of an event as text ("5", "*", "A"), "?" beyond 15. */
const char *media_dtmf_digit(int event);

/* Reports each event once: true when (ts, end) is the first end packet of that event. */
struct media_dtmf_state {
    bool have_last;
    uint32_t last_ts;
};
bool media_dtmf_should_report(struct media_dtmf_state *st, uint32_t ts, const struct media_dtmf *d);

#endif
