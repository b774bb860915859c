/*
 * NAME
 *   media_sdp - SDP offer/answer (RFC 4566, RFC 3264) as mediad reads and rewrites it.
 * DESCRIPTION
 *   media_sdp_parse reads what mediad needs from a party's SDP (libosip2's sdp_message):
 *   per m-line the media, port (0: rejected), transport, remote IPv4 or IPv6 address (c=
 *   or session c=), RTCP port (RFC 3605 a=rtcp, else port + 1), direction (RFC 3264 6.1,
 *   c=0.0.0.0 (or ::) counts as sendonly: RFC 3264 8.4), the first payload type and its codec,
 *   PCMU/PCMA/telephone-event payload types, and an SDES key (RFC 4568 a=crypto,
 *   AES_CM_128_HMAC_SHA1_80 or _32). media_sdp_rewrite writes the same SDP for the other
 *   party: our address (IN IP4 or IN IP6 by its form) in every c= and o=, our ports in every m= that is not rejected, a=rtcp
 *   with our RTCP port, the RTP/AVP or RTP/SAVP profile asked for with our own a=crypto
 *   line (theirs removed); codecs, fmtp, direction and everything else pass through.
 *   It never keeps a pointer into its input and never logs (keys never leave it).
 * OWNERSHIP
 *   Callers own the input text and struct media_sdp; media_sdp_rewrite returns a malloc'd
 *   NUL-terminated string the caller frees.
 * LOOP
 *   Pure code: any loop, any process (the fuzzer and unit tests call it directly).
 * ERRORS
 *   -EBADMSG: not SDP, no m= line, a line without an IPv4 or IPv6 connection address, too
 *   many lines; -EPROTONOSUPPORT: a live m= line we cannot relay (not RTP/AVP, AVPF, SAVP,
 *   SAVPF, or a multicast address); -ENOMEM. why gets one line of explanation.
 * SEE ALSO
 *   media_session.h, docs/media.md
 */
#ifndef SB_MEDIA_SDP_H
#define SB_MEDIA_SDP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "media_addr.h"

#define MEDIA_SDP_MAX_LINES 8
#define MEDIA_SDP_MAX_TEXT 16384
#define MEDIA_SRTP_KEY_LEN 30 /* 128-bit master key + 112-bit salt */

enum media_dir {
    MEDIA_DIR_SENDRECV = 0,
    MEDIA_DIR_SENDONLY,
    MEDIA_DIR_RECVONLY,
    MEDIA_DIR_INACTIVE,
};

enum media_crypto_suite {
    MEDIA_CRYPTO_NONE = 0,
    MEDIA_CRYPTO_AES_CM_128_HMAC_SHA1_80,
    MEDIA_CRYPTO_AES_CM_128_HMAC_SHA1_32,
};

struct media_sdp_crypto {
    enum media_crypto_suite suite;
    int tag;
    uint8_t key[MEDIA_SRTP_KEY_LEN];
};

struct media_sdp_line {
    char media[16]; /* audio, video, ... */
    int port;       /* 0: rejected (RFC 3264 6) */
    char proto[16]; /* RTP/AVP, RTP/SAVP, ... */
    bool srtp;      /* a SAVP profile */
    media_sa_t addr; /* remote IPv4 or IPv6 address, port 0 (unspecified: on hold) */
    int rtcp_port;
    enum media_dir dir;
    int first_pt;                   /* -1 when none */
    char codec[16];                 /* encoding name of first_pt ("PCMU", "opus"), "" unknown */
    int clock_rate;                 /* of first_pt, 8000 when unknown */
    int pcmu_pt, pcma_pt;           /* -1 when not offered */
    int dtmf_pt;                    /* telephone-event, -1 when not offered */
    struct media_sdp_crypto crypto; /* the first crypto line we support */
};

struct media_sdp {
    int n_lines;
    struct media_sdp_line line[MEDIA_SDP_MAX_LINES];
};

/* Parses len bytes of SDP into out. 0, or a negative errno and why (see ERRORS). */
int media_sdp_parse(const char *text, size_t len, struct media_sdp *out, char *why, size_t whylen);

/* What to write into the SDP for the party that receives it. */
struct media_sdp_local {
    const char *addr;                  /* our IPv4 or IPv6 address, numeric (IN IP4 / IP6) */
    int rtp_port[MEDIA_SDP_MAX_LINES]; /* per m-line; ignored for rejected lines */
    int rtcp_port[MEDIA_SDP_MAX_LINES];
    bool srtp[MEDIA_SDP_MAX_LINES]; /* present RTP/SAVP(F) with crypto[] */
    struct media_sdp_crypto crypto[MEDIA_SDP_MAX_LINES];
};

/* Rewrites text (which media_sdp_parse accepted) for the other party; *out is malloc'd. */
int media_sdp_rewrite(const char *text, size_t len, const struct media_sdp_local *local, char **out,
                      size_t *outlen, char *why, size_t whylen);

/* RFC 4648 base64 helpers for SDES keys: encode returns the length written (out holds
 * 4*ceil(n/3)+1); decode returns the byte count or -1 on bad input or overflow. */
int media_b64_encode(const uint8_t *in, size_t n, char *out, size_t outlen);
int media_b64_decode(const char *in, size_t n, uint8_t *out, size_t outlen);

const char *media_dir_name(enum media_dir dir);

#endif
