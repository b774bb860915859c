/*
 * NAME
 *   stun - the STUN Binding responder of RFC 5626 4.4.2 keepalives on the SIP UDP port.
 * DESCRIPTION
 *   A phone that keeps its flow with STUN sends Binding requests (RFC 5389 6) to the port
 *   it sends SIP to. stun_is_stun tells such a datagram from SIP by its first byte (0..3
 *   is STUN, RFC 7983 7; a SIP message starts with a token character or CRLF), so sipd
 *   never hands it to the SIP parser. stun_binding_answer checks the request (a Binding
 *   request, the magic cookie, a length that is a multiple of 4 and matches the
 *   datagram, attributes that fit it) and writes the Binding success response: the
 *   request's transaction ID and one XOR-MAPPED-ADDRESS with the request's source (RFC
 *   5389 15.2). Anything else is not answered (the caller drops it). No authentication,
 *   no FINGERPRINT: RFC 5626 4.4.2 keepalives carry neither.
 *   Pure code: no I/O, no allocation.
 * OWNERSHIP
 *   The caller's buffers; out has room for STUN_ANSWER_MAX bytes.
 * LOOP
 *   Any (sipd's UDP read callback).
 * ERRORS
 *   stun_binding_answer: the length of the answer, or 0 when the datagram is to be
 *   dropped.
 * SEE ALSO
 *   transport_udp.h, docs/nat.md
 */
#ifndef SB_SIPD_STUN_H
#define SB_SIPD_STUN_H

#include <stdbool.h>
#include <stddef.h>

#include "sipaddr.h"

#define STUN_HEADER 20
#define STUN_MAGIC_COOKIE 0x2112A442u
#define STUN_ANSWER_MAX (STUN_HEADER + 4 + 20) /* header + XOR-MAPPED-ADDRESS (IPv6) */

/* Whether a datagram is STUN rather than SIP (its first byte is 0..3, RFC 7983). */
bool stun_is_stun(const unsigned char *buf, size_t len);

/* The Binding success response to the request buf from src into out; 0: drop it. */
size_t stun_binding_answer(const unsigned char *buf, size_t len, const union sipaddr *src,
                           unsigned char out[STUN_ANSWER_MAX]);

#endif
