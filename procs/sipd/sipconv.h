/*
 * NAME
 *   sipconv - SIP messages to and from dialogd's structured form (proto/dialog.proto).
 * DESCRIPTION
 *   sipconv_to_proto turns a parsed message (sipmsg_t) into a Sb__SipMessage: start line,
 *   From/To split into display name, URI and tag, Call-ID, CSeq, first Contact URI,
 *   Record-Route values, body, every header field sipd does not own (Via, Route,
 *   Content-Length, ...) as a name/value pair, and what it parsed so that dialogd parses
 *   nothing: the method as an enum (responses: the CSeq method), the Request-URI's user
 *   and host, the From user, a REFER's Refer-To URI and its AOR (sipuri.h: canonical, its
 *   host mapped through the served domain given, borrowed, may be NULL), the session
 *   timer fields (RFC 4028). sipconv_request_build writes a request
 *   from one, with our Via (branch given) and, for contact_user, our Contact; it refuses
 *   fields that would break the message (CR, LF or NUL in any text, an empty Call-ID or
 *   method). sipconv_derive writes the ACK of a non-2xx (RFC 3261 17.1.1.3) or the CANCEL
 *   (RFC 3261 9.1) of a request we sent. sipconv_next_hop reads where a request goes:
 *   dialogd's next_hop when it names an address (a registered phone's flow: transport,
 *   address, port, connection, NAT flag, our local address), else its first Route, else
 *   its Request-URI (numeric hosts; no DNS). Never does I/O.
 * OWNERSHIP
 *   sipconv_to_proto's result points into m, into st and into scratch: valid while all
 *   three are. Builders write into the caller's buffer.
 * LOOP
 *   Pure code, on sipd's loop.
 * ERRORS
 *   Builders return the length written, -ENOSPC (no room) or -EINVAL (*why says what
 *   is wrong). sipconv_to_proto returns false when scratch is too small.
 */
#ifndef SB_SIPD_SIPCONV_H
#define SB_SIPD_SIPCONV_H

#include <stdbool.h>
#include <stddef.h>

#include "proto/dialog.pb-c.h"
#include "sipdest.h"
#include "sipmsg.h"
#include "sipuri.h"

#define SIPCONV_MAX_RR 32 /* Record-Route values passed on; more is a 400 upstream */

/* Arrays a converted message points into (one per core, reused). */
struct sipconv_store {
    Sb__SipHeader headers[SIPMSG_MAX_HEADERS];
    Sb__SipHeader *header_ptrs[SIPMSG_MAX_HEADERS];
    char *record_route[SIPCONV_MAX_RR];
    Sb__SipSessionTimer session_timer;
};

/* Our end of a transport: how we name ourselves in Via and Contact. */
struct sipconv_local {
    char host[256]; /* numeric or the advertised name; IPv6 without brackets */
    int port;
    enum sipdest_transport transport;
};

bool sipconv_to_proto(const sipmsg_t *m, const domains_t *domains, Sb__SipMessage *out,
                      struct sipconv_store *st, struct sipmsg_out *scratch);

/* A request from msg (method, request_uri, route, from, to, call_id, cseq, contact or
 * contact_user, max_forwards, headers, content_type, body). */
int sipconv_request_build(const Sb__SipMessage *msg, const struct sipconv_local *local,
                          const char *branch, char *out, size_t cap, const char **why);

/* The header lines of a response that dialogd gave: Contact, its headers, Content-Type
 * (each ending in CRLF), appended to o. false with *why when a field is unusable. */
bool sipconv_response_lines(const Sb__SipMessage *msg, const struct sipconv_local *local,
                            struct sipmsg_out *o, const char **why);

/* From request req (one we built): its ACK (method ACK, To from response resp) or its
 * CANCEL (method CANCEL, resp NULL). */
int sipconv_derive(const sipmsg_t *req, enum sipmsg_method method, const sipmsg_t *resp, char *out,
                   size_t cap);

/* Where a request goes and how (sipconv_next_hop). */
struct sipconv_hop {
    union sipaddr addr; /* the peer */
    socklen_t addr_len;
    enum sipdest_transport transport;
    bool given;          /* from msg->next_hop, not from Route / Request-URI */
    uint64_t conn_id;    /* given, tcp: the connection to use, 0 none */
    int instance;        /* given: the sipd instance owning conn_id */
    bool nated;          /* given: never a new connection to it */
    bool outbound;       /* given: an RFC 5626 flow: that one only, else 430 */
    union sipaddr local; /* given local_addr (port local_port), family 0: none */
    char tls_host[SIPURI_MAX_HOST]; /* TLS: the name or address the peer's certificate must carry */
};

/* Where msg goes: next_hop when its addr is set (port 0: 5060, transport "" udp), else
 * its first Route, else its Request-URI. 0, or -EINVAL (*why) for an address or URI we
 * cannot reach (not sip: or sips:, not a numeric host), -EPROTONOSUPPORT for transports
 * other than UDP, TCP and TLS. A sips: URI or ;transport=tls goes over TLS (RFC 3261
 * 19.1.2, 26.2.2), port 5061 by default, verified for the URI's host. */
int sipconv_next_hop(const Sb__SipMessage *msg, struct sipconv_hop *hop, const char **why);

#endif
