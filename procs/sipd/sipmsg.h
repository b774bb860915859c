/*
 * NAME
 *   sipmsg - SIP message parsing, request checks and response building (sipd).
 * DESCRIPTION
 *   sipmsg_parse reads one message: the start line and the header lines itself (folding,
 *   compact names, duplicates, Content-Length framing per RFC 3261 18.3 and 7.5), the
 *   syntax of the structured header fields (Via, From, To, Call-ID, CSeq, Contact,
 *   Content-Type, Route, Record-Route, RFC 3261 20 and 25.1: it alone judges whether a
 *   message is well-formed; the Request-URI through sipuri.h), and what sipd
 *   needs as slices: top Via (lenient, so that a request with a broken Via parameter can
 *   still be answered), tags, Call-ID, CSeq, Max-Forwards, Expires. It decides whether a
 *   broken request can be answered at all (a usable top Via and a CSeq) and with what.
 *   sipmsg_check applies the UAS rules of RFC 3261 8.2 to a well-formed request (501,
 *   405, 416, 483, 420, 415, 406, and 400 for an unreadable Session-Expires or Min-SE,
 *   RFC 4028); sipmsg_register_read reads a REGISTER's AOR and
 *   contacts (RFC 3261 10.3). The builders write, by hand, the header fields a response
 *   echoes (RFC 3261 8.2.6.2: Via with received/rport per 18.2.1 and RFC 3581, From,
 *   To, Call-ID, CSeq) and whole responses. Never does I/O, never logs, keeps no state
 *   between calls.
 * OWNERSHIP
 *   A sipmsg_t (sipmsg_new) owns an arena sized for max_message; a parse borrows the
 *   message bytes, and the slices it returns point into them or into the arena, valid
 *   until the next sipmsg_parse on the same sipmsg_t.
 * LOOP
 *   Pure code, on sipd's loop. sipmsg_library_init once per process (libosip2 parser_init, for
 *   sipuri's URI parser).
 * ERRORS
 *   sipmsg_parse returns SIPMSG_OK, SIPMSG_RESPONSE (a well-formed response: the fields
 *   above read, method_id from its CSeq),
 *   SIPMSG_REJECT (answer m->error_status with m->error_reason) or SIPMSG_DROP (nothing
 *   to answer to). Builders return the length written or -ENOSPC, never a cut message.
 * SEE ALSO
 *   RFC 3261 7, 8.2, 10.3, 18; RFC 3581; RFC 4475 (tests/unit/sipmsg_test.c).
 */
#ifndef SB_SIPD_SIPMSG_H
#define SB_SIPD_SIPMSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "domains.h"

#define SIPMSG_MAX_HEADERS 160 /* header lines per message; more is a 400 */
#define SIPMSG_MAX_CONTACTS 32 /* contacts of one REGISTER; more is a 400 */
#define SIPMSG_MAX_PATH 8      /* Path values of one REGISTER (RFC 3327); more is a 400 */
#define SIPMSG_ALLOW "INVITE, ACK, CANCEL, BYE, OPTIONS, REGISTER, UPDATE, REFER"
#define SIPMSG_ACCEPT "application/sdp"
/* option tags we support (Require of anything else: 420); outbound: RFC 5626, path:
 * RFC 3327 */
#define SIPMSG_SUPPORTED "timer, outbound, path"

/* A slice of text: the message buffer or the arena. Not NUL-terminated in general. */
struct sipmsg_str {
    const char *ptr;
    size_t len;
};

/* clang-format off */
/* X(name) — methods sipd knows; the first six, UPDATE and REFER are the ones it serves
 * (Allow). */
#define SIPMSG_METHODS(X)                                                                   \
    X(INVITE) X(ACK) X(CANCEL) X(BYE) X(OPTIONS) X(REGISTER) X(SUBSCRIBE) X(NOTIFY)         \
    X(MESSAGE) X(INFO) X(PUBLISH) X(REFER) X(UPDATE) X(PRACK)

enum sipmsg_method {
    SIPMSG_M_UNKNOWN = 0,
#define SIPMSG_METHOD_ENUM(name) SIPMSG_M_##name,
    SIPMSG_METHODS(SIPMSG_METHOD_ENUM)
#undef SIPMSG_METHOD_ENUM
    SIPMSG_M_COUNT
};

#define SIPMSG_F_SINGLE 1u /* at most one per message (RFC 3261 7.3.1) */
#define SIPMSG_F_SYNTAX 2u /* its syntax checked whole (RFC 3261 20, 25.1) */

/* X(id, name, compact form or 0, flags) — the header fields sipd looks at. */
#define SIPMSG_HEADERS(X)                                                                   \
    X(VIA, "Via", 'v', SIPMSG_F_SYNTAX)                                                       \
    X(FROM, "From", 'f', SIPMSG_F_SYNTAX | SIPMSG_F_SINGLE)                                   \
    X(TO, "To", 't', SIPMSG_F_SYNTAX | SIPMSG_F_SINGLE)                                       \
    X(CALL_ID, "Call-ID", 'i', SIPMSG_F_SYNTAX | SIPMSG_F_SINGLE)                             \
    X(CSEQ, "CSeq", 0, SIPMSG_F_SYNTAX | SIPMSG_F_SINGLE)                                     \
    X(CONTENT_LENGTH, "Content-Length", 'l', SIPMSG_F_SINGLE)                               \
    X(CONTENT_TYPE, "Content-Type", 'c', SIPMSG_F_SYNTAX | SIPMSG_F_SINGLE)                   \
    X(CONTENT_ENCODING, "Content-Encoding", 'e', 0)                                         \
    X(CONTACT, "Contact", 'm', SIPMSG_F_SYNTAX)                                               \
    X(MAX_FORWARDS, "Max-Forwards", 0, SIPMSG_F_SINGLE)                                     \
    X(EXPIRES, "Expires", 0, SIPMSG_F_SINGLE)                                               \
    X(REQUIRE, "Require", 0, 0)                                                             \
    X(SUPPORTED, "Supported", 'k', 0)                                                       \
    X(ACCEPT, "Accept", 0, 0)                                                               \
    X(USER_AGENT, "User-Agent", 0, 0)                                                       \
    X(ROUTE, "Route", 0, SIPMSG_F_SYNTAX)                                                     \
    X(RECORD_ROUTE, "Record-Route", 0, SIPMSG_F_SYNTAX)                                       \
    X(SESSION_EXPIRES, "Session-Expires", 'x', 0)                                           \
    X(MIN_SE, "Min-SE", 0, 0)                                                               \
    X(REFER_TO, "Refer-To", 'r', 0)                                                         \
    X(PATH, "Path", 0, 0)

enum sipmsg_hdr {
#define SIPMSG_HDR_ENUM(id, name, compact, flags) SIPMSG_H_##id,
    SIPMSG_HEADERS(SIPMSG_HDR_ENUM)
#undef SIPMSG_HDR_ENUM
    SIPMSG_H_OTHER,
    SIPMSG_H_COUNT
};
/* clang-format on */

struct sipmsg_header {
    enum sipmsg_hdr id;
    struct sipmsg_str name;  /* as written */
    struct sipmsg_str value; /* unfolded, trimmed, NUL-terminated (in the arena) */
};

/* The top Via's first via-parm, read leniently: enough to route a response. */
struct sipmsg_via {
    struct sipmsg_str transport;    /* as written: "UDP", "TCP", ... */
    struct sipmsg_str host;         /* sent-by host; an IPv6 reference without brackets */
    int port;                       /* sent-by port, 0 when absent */
    struct sipmsg_str branch;       /* empty when absent */
    bool rport;                     /* RFC 3581 rport present */
    size_t elem_end;                /* offset in the value where this via-parm ends */
    size_t drop_at[2], drop_len[2]; /* rport/received params left out when echoing */
};

/* Where sipmsg_via_next is: the header index and the offset in its value. */
struct sipmsg_via_iter {
    unsigned header;
    size_t pos;
};

/* RFC 4028 4, 5: what a message says of the session timer. */
struct sipmsg_session_timer {
    uint32_t expires; /* Session-Expires delta-seconds (1-86400), 0 absent */
    char refresher;   /* its refresher parameter: 'c' uac, 's' uas, 0 none */
    uint32_t min_se;  /* Min-SE delta-seconds, 0 absent */
    bool supported;   /* Supported names "timer" */
    bool required;    /* Require names "timer" */
    bool bad;         /* a Session-Expires or Min-SE that cannot be read (then 0) */
};

enum sipmsg_result { SIPMSG_OK, SIPMSG_RESPONSE, SIPMSG_REJECT, SIPMSG_DROP };

typedef struct sipmsg {
    const char *buf; /* the message as received */
    size_t len;      /* bytes of it that are this message (body cut per 18.3) */
    size_t head_len; /* start line + header fields + blank line */
    struct sipmsg_str body;
    bool request;
    struct sipmsg_str method, uri, version; /* request line */
    enum sipmsg_method method_id;
    bool uri_scheme_supported; /* sip, sips or tel */
    int status;                /* status line of a response */
    struct sipmsg_str reason;  /* its reason phrase */
    struct sipmsg_header headers[SIPMSG_MAX_HEADERS];
    unsigned nheaders;
    int16_t first[SIPMSG_H_COUNT]; /* index of the first header of each id, -1 none */
    uint16_t count[SIPMSG_H_COUNT];
    bool via_ok; /* the top Via could be read */
    struct sipmsg_via via;
    struct sipmsg_str call_id, from_tag, to_tag, cseq_method;
    bool has_to_tag;
    uint32_t cseq;
    int max_forwards;    /* -1 absent */
    long long expires;   /* Expires header, -1 absent */
    long content_length; /* -1 absent */
    struct sipmsg_session_timer timer;
    int error_status; /* with SIPMSG_REJECT: 400 or 505 */
    char error_reason[80];
    /* private */
    char *arena;
    size_t arena_cap, arena_used, max_message;
} sipmsg_t;

/* Why a rejection; headers are extra header lines (each ends in CRLF) for the answer. */
struct sipmsg_verdict {
    int status;
    char reason[80];
    char headers[512];
    size_t headers_len;
};

struct sipmsg_contact {
    struct sipmsg_str uri;      /* addr-spec as sent, without <> */
    long long expires;          /* expires parameter, -1 absent */
    int q;                      /* q x 1000, -1 absent */
    struct sipmsg_str instance; /* RFC 5626 +sip.instance, quotes removed; empty absent */
    uint32_t reg_id;            /* RFC 5626 reg-id (1..2^31-1); 0 absent or ignored */
};

struct sipmsg_register {
    bool wildcard; /* Contact: * */
    size_t ncontacts;
    struct sipmsg_contact contacts[SIPMSG_MAX_CONTACTS];
    /* RFC 5626 6: the registrar applies outbound (some contact has an instance and a
     * reg-id, Supported or Require names outbound, we are the first hop or the first
     * Path URI has ;ob); then the 200 carries Require: outbound */
    bool outbound;
    bool path_supported; /* Supported names path: the 200 echoes Path (RFC 3327 5.3) */
    size_t npath;        /* RFC 3327: the Path values, in order (one URI each) */
    struct sipmsg_str path[SIPMSG_MAX_PATH];
};

/* Text built into a fixed buffer; full is set (and nothing more is written) on overflow. */
struct sipmsg_out {
    char *p;
    size_t cap, len;
    bool full;
};

/* One-time libosip2 set-up for sipuri (parser tables, its stderr tracing off). */
void sipmsg_library_init(void);

/* A parser for messages of up to max_message bytes; NULL when out of memory. */
sipmsg_t *sipmsg_new(size_t max_message);
void sipmsg_free(sipmsg_t *m);

/* Parses len bytes of buf as one message. stream: buf is exactly one framed message of a
 * stream transport, which must carry Content-Length (RFC 3261 18.3); otherwise buf is a
 * datagram whose body is cut to Content-Length. buf must outlive the use of m. */
enum sipmsg_result sipmsg_parse(sipmsg_t *m, const char *buf, size_t len, bool stream);

/* Frames the first message of a stream (bytes after leading CRLFs, which the caller
 * skips): 0 when more bytes are needed, else *msg_len and *head_len; -EMSGSIZE when it
 * is larger than max, -EBADMSG when its Content-Length is missing or bad (*head_len is
 * then the header section, which can still be answered). */
int sipmsg_frame(const char *buf, size_t len, size_t max, size_t *msg_len, size_t *head_len);

/* First value of header id, or an empty slice. */
struct sipmsg_str sipmsg_header_value(const sipmsg_t *m, enum sipmsg_hdr id);
/* Canonical name of a header id ("Call-ID"). */
const char *sipmsg_header_name(enum sipmsg_hdr id);
const char *sipmsg_method_name(enum sipmsg_method method);
enum sipmsg_method sipmsg_method_lookup(const char *name, size_t len);
/* The standard reason phrase of status ("Bad Request"), "Unknown" for others. */
const char *sipmsg_reason_phrase(int status);

/* RFC 3261 8.2 checks of a well-formed request, then RFC 4028's (a Session-Expires or
 * Min-SE that cannot be read: 400); true with v filled when it is rejected. */
bool sipmsg_check(const sipmsg_t *m, struct sipmsg_verdict *v);

/* Every via-parm of every Via in order, top first (it zeroed to start): true with *via
 * filled (its slices into m), false after the last. */
bool sipmsg_via_next(const sipmsg_t *m, struct sipmsg_via_iter *it, struct sipmsg_via *via);
/* A REGISTER's AOR (the To URI's canonical form, sipuri_aor: sip:user@host, the host
 * mapped through the served domain, borrowed, may be NULL) into aor, wildcard and
 * contacts (RFC 3261 10.3); false with v filled (400) when malformed. The contacts point
 * into m. */
bool sipmsg_register_read(const sipmsg_t *m, const domains_t *domains, struct sipmsg_register *r,
                          char *aor, size_t aorcap, struct sipmsg_verdict *v);

/* A name-addr or addr-spec value (From, To, Contact): its display name (quotes removed)
 * and URI, slices of v; false when malformed. */
bool sipmsg_name_addr(struct sipmsg_str v, struct sipmsg_str *display, struct sipmsg_str *uri);
/* The value of header parameter name of v (after its URI), empty when absent. */
struct sipmsg_str sipmsg_param(struct sipmsg_str v, const char *name, bool *found);

/* The header fields a response to m echoes: every Via in order, the top one with
 * received=<received> (when its sent-by host is not that address, or rport is present)
 * and rport=<rport> (when present), then From, To, Call-ID, CSeq. *to_tag_at is where a
 * To tag goes (SIZE_MAX when To is absent or already tagged). Returns the length. */
int sipmsg_echo_build(const sipmsg_t *m, const char *received, int rport, char *out, size_t cap,
                      size_t *to_tag_at);

struct sipmsg_response {
    int status;
    const char *reason;
    const char *echo; /* from sipmsg_echo_build */
    size_t echo_len, to_tag_at;
    const char *to_tag;  /* added at to_tag_at; NULL: none */
    const char *server;  /* Server header value; NULL: none */
    const char *headers; /* extra header lines, each ending in CRLF */
    size_t headers_len;
    const char *body; /* its Content-Type goes in headers */
    size_t body_len;
};

/* Writes a whole response (status line, echo, Server, extras, Content-Length, body). */
int sipmsg_response_build(const struct sipmsg_response *r, char *out, size_t cap);

void sipmsg_out_put(struct sipmsg_out *o, const char *s, size_t n);
void sipmsg_out_puts(struct sipmsg_out *o, const char *s);
void sipmsg_out_putu(struct sipmsg_out *o, unsigned long long v);
void sipmsg_out_printf(struct sipmsg_out *o, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Case-insensitive equality of a slice and a C string. */
bool sipmsg_str_ieq(struct sipmsg_str s, const char *lit);

#endif
