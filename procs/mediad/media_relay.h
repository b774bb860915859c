/*
 * NAME
 *   media_relay - what moves over a session's sockets: the per-packet path with latching,
 *   RFC 3264 directions, SRTP (libsrtp2) and RFC 3550 / RFC 4733 receive statistics.
 * DESCRIPTION
 *   A packet received on a leg is relayed, untouched unless SRTP must be removed or added,
 *   out of the same m-line's socket of the side its side is bridged to, to that side's
 *   latched address. Only RTP and RTCP are relayed (media_packet_kind); a source is
 *   accepted from the IP its SDP announced (an allowed target, media_target.h), its
 *   signaling source or its NAT's (any with media_latch_any), and latched once the packet
 *   passed SRTP authentication (an SRTP side follows an authenticated packet to a new
 *   port; a plain one does not). Nothing goes to a side before it was latched unless its
 *   SDP names its signaling source (media_leg_sendable). The path reads batches with
 *   recvmmsg into the ctx's buffers, writes them with sendmmsg, and allocates nothing,
 *   IPv4 and IPv6 alike. SDP applied to a side sets where it is sent to, what it accepts
 *   and its SRTP keys; our keys (and nothing else secret) come from ctx->random and fail
 *   closed. Counts losses for media_lost.
 * OWNERSHIP
 *   Per-leg state lives in the session structs (media_session.h); the SRTP contexts are
 *   freed by the freeing hook media_relay_init registers. Parsed SDP is borrowed.
 * LOOP
 *   mediad's loop only; it never calls media_play or media_control.
 * ERRORS
 *   -ENODATA no random bytes for a key (nothing changed), -EINVAL libsrtp2 refused a key.
 *   Packet faults are counted (dropped, srtp_failed), never logged per packet.
 */
#ifndef SB_MEDIA_RELAY_H
#define SB_MEDIA_RELAY_H

#include "media_session.h"

/* Before the privilege drop and chroot: libsrtp2 (0, or -EIO). */
int media_relay_init_privileged(void);
/* Sets up ctx's packet buffers and registers the relay's teardown (losses, SRTP). */
int media_relay_init(media_ctx_t *ctx);
/* A new session's offer from side from (0 A, 1 B): the other side's profile (srtp_b: 0 as
 * the offer, 1 RTP/AVP, 2 RTP/SAVP for side B; a late offer from B makes A like it) and our
 * keys, then the offer applied to side from. On error the caller closes s. */
int media_relay_offer(struct media_session *s, const struct media_sdp *offer, int srtp_b, int from);
/* Applies a party's parsed SDP to side idx: remote addresses (latching afresh when they
 * moved), directions, payload types, keys. Keys are drawn first: -ENODATA changes nothing. */
int media_relay_apply(struct media_session *s, int idx, const struct media_sdp *sdp);
/* Starts reading every open socket of s. */
void media_relay_start(struct media_session *s);
/* Adds the RFC 3550 A.3 losses of s not yet counted to ctx->c_lost. */
void media_relay_count_lost(struct media_session *s);

#endif
