/* sipmsg - see sipmsg.h */
#include "sipmsg.h"
#include "sipuri.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <osipparser2/osip_parser.h>
#include <osipparser2/osip_port.h>

/* clang-format off */
static const struct {
    const char *name;
    size_t len;
    char compact;
    unsigned flags;
} header_table[SIPMSG_H_COUNT] = {
#define SIPMSG_HDR_ROW(id, name, compact, flags) {name, sizeof name - 1, compact, flags},
    SIPMSG_HEADERS(SIPMSG_HDR_ROW)
#undef SIPMSG_HDR_ROW
    {"", 0, 0, 0},
};

static const char *const method_names[SIPMSG_M_COUNT] = {
    "",
#define SIPMSG_METHOD_NAME(name) #name,
    SIPMSG_METHODS(SIPMSG_METHOD_NAME)
#undef SIPMSG_METHOD_NAME
};
/* clang-format on */

/* ---------------------------------------------------------------- small helpers */

static bool is_ws(char c) {
    return c == ' ' || c == '\t';
}

/* RFC 3261 25.1 token characters. */
static bool is_token_char(unsigned char c) {
    return isalnum(c) || (c && strchr("-.!%*_+`'~", c));
}

static bool is_token(const char *s, size_t n) {
    if (n == 0)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!is_token_char((unsigned char)s[i]))
            return false;
    return true;
}

static struct sipmsg_str str_make(const char *p, size_t n) {
    return (struct sipmsg_str){p, n};
}

static struct sipmsg_str str_trim(struct sipmsg_str s) {
    while (s.len && is_ws(s.ptr[0])) {
        s.ptr++;
        s.len--;
    }
    while (s.len && is_ws(s.ptr[s.len - 1]))
        s.len--;
    return s;
}

bool sipmsg_str_ieq(struct sipmsg_str s, const char *lit) {
    size_t n = strlen(lit);
    return s.len == n && strncasecmp(s.ptr, lit, n) == 0;
}

/* Unsigned decimal of 1..20 digits not above max; leading zeros allowed. */
static bool parse_uint(struct sipmsg_str s, unsigned long long max, unsigned long long *out) {
    if (s.len == 0 || s.len > 20)
        return false;
    unsigned long long v = 0;
    for (size_t i = 0; i < s.len; i++) {
        if (s.ptr[i] < '0' || s.ptr[i] > '9')
            return false;
        unsigned d = (unsigned)(s.ptr[i] - '0');
        if (v > (max - d) / 10)
            return false;
        v = v * 10 + d;
    }
    *out = v;
    return true;
}

/* RFC 3261 qvalue: "0" [ "." 0*3DIGIT ] / "1" [ "." 0*3("0") ] -> x1000. */
static bool parse_qvalue(struct sipmsg_str s, int *out) {
    if (s.len == 0 || s.len > 5 || (s.ptr[0] != '0' && s.ptr[0] != '1'))
        return false;
    int v = (s.ptr[0] - '0') * 1000;
    if (s.len > 1) {
        if (s.ptr[1] != '.')
            return false;
        int scale = 100;
        for (size_t i = 2; i < s.len; i++, scale /= 10) {
            if (s.ptr[i] < '0' || s.ptr[i] > '9')
                return false;
            v += (s.ptr[i] - '0') * scale;
        }
    }
    if (v > 1000)
        return false;
    *out = v;
    return true;
}

static const char *skip_ws(const char *p, const char *e) {
    while (p < e && is_ws(*p))
        p++;
    return p;
}

/* End of a quoted string that starts at p (on the opening quote): just past the closing
 * quote, or NULL when it is not closed. */
static const char *quoted_end(const char *p, const char *e) {
    for (p++; p < e; p++) {
        if (*p == '\\' && p + 1 < e)
            p++;
        else if (*p == '"')
            return p + 1;
    }
    return NULL;
}

/* ---------------------------------------------------------------- output buffers */

void sipmsg_out_put(struct sipmsg_out *o, const char *s, size_t n) {
    if (n == 0)
        return;
    if (o->full || n > o->cap - o->len) {
        o->full = true;
        return;
    }
    memcpy(o->p + o->len, s, n);
    o->len += n;
}

void sipmsg_out_puts(struct sipmsg_out *o, const char *s) {
    sipmsg_out_put(o, s, strlen(s));
}

void sipmsg_out_putu(struct sipmsg_out *o, unsigned long long v) {
    char tmp[24];
    size_t n = 0;
    do {
        tmp[sizeof tmp - 1 - n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    sipmsg_out_put(o, tmp + sizeof tmp - n, n);
}

void sipmsg_out_printf(struct sipmsg_out *o, const char *fmt, ...) {
    if (o->full)
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(o->p + o->len, o->cap - o->len, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= o->cap - o->len)
        o->full = true;
    else
        o->len += (size_t)n;
}

static void out_str(struct sipmsg_out *o, struct sipmsg_str s) {
    sipmsg_out_put(o, s.ptr, s.len);
}

/* ---------------------------------------------------------------- tables */

const char *sipmsg_header_name(enum sipmsg_hdr id) {
    return (unsigned)id < SIPMSG_H_COUNT ? header_table[id].name : "";
}

const char *sipmsg_method_name(enum sipmsg_method method) {
    return (unsigned)method < SIPMSG_M_COUNT ? method_names[method] : "";
}

enum sipmsg_method sipmsg_method_lookup(const char *name, size_t len) {
    /* RFC 3261 7.1: methods are case-sensitive. */
    for (int i = 1; i < SIPMSG_M_COUNT; i++)
        if (strlen(method_names[i]) == len && memcmp(method_names[i], name, len) == 0)
            return (enum sipmsg_method)i;
    return SIPMSG_M_UNKNOWN;
}

static enum sipmsg_hdr header_lookup(const char *name, size_t len) {
    if (len == 1) {
        char c = (char)tolower((unsigned char)name[0]);
        for (int i = 0; i < SIPMSG_H_OTHER; i++)
            if (header_table[i].compact == c)
                return (enum sipmsg_hdr)i;
        return SIPMSG_H_OTHER;
    }
    for (int i = 0; i < SIPMSG_H_OTHER; i++)
        if (header_table[i].len == len && strncasecmp(header_table[i].name, name, len) == 0)
            return (enum sipmsg_hdr)i;
    return SIPMSG_H_OTHER;
}

/* RFC 3261 21: the reason phrases we send. */
static const struct {
    int status;
    const char *phrase;
} reason_phrases[] = {
    {100, "Trying"},
    {180, "Ringing"},
    {200, "OK"},
    {400, "Bad Request"},
    {401, "Unauthorized"},
    {403, "Forbidden"},
    {404, "Not Found"},
    {405, "Method Not Allowed"},
    {406, "Not Acceptable"},
    {408, "Request Timeout"},
    {415, "Unsupported Media Type"},
    {416, "Unsupported URI Scheme"},
    {420, "Bad Extension"},
    {423, "Interval Too Brief"},
    {430, "Flow Failed"},
    {439, "First Hop Lacks Outbound Support"},
    {480, "Temporarily Unavailable"},
    {481, "Call/Transaction Does Not Exist"},
    {482, "Loop Detected"},
    {483, "Too Many Hops"},
    {487, "Request Terminated"},
    {500, "Server Internal Error"},
    {501, "Not Implemented"},
    {503, "Service Unavailable"},
    {505, "Version Not Supported"},
    {513, "Message Too Large"},
};

const char *sipmsg_reason_phrase(int status) {
    for (size_t i = 0; i < sizeof reason_phrases / sizeof reason_phrases[0]; i++)
        if (reason_phrases[i].status == status)
            return reason_phrases[i].phrase;
    return "Unknown";
}

/* ---------------------------------------------------------------- library, lifetime */

void sipmsg_library_init(void) {
    parser_init();
    for (int level = 0; level < END_TRACE_LEVEL; level++)
        osip_trace_disable_level((osip_trace_level_t)level);
}

sipmsg_t *sipmsg_new(size_t max_message) {
    sipmsg_t *m = calloc(1, sizeof *m);
    if (!m)
        return NULL;
    /* Unfolded values (at most the header section plus a NUL each), with room to spare. */
    m->arena_cap = 2 * max_message + 2 * SIPMSG_MAX_HEADERS + 64;
    m->arena = malloc(m->arena_cap);
    if (!m->arena) {
        free(m);
        return NULL;
    }
    m->max_message = max_message;
    return m;
}

void sipmsg_free(sipmsg_t *m) {
    if (!m)
        return;
    free(m->arena);
    free(m);
}

/* ---------------------------------------------------------------- header section */

/* Offset just past the blank line that ends the header section, 0 when there is none. */
static size_t find_head_end(const char *buf, size_t len) {
    const char *p = buf, *e = buf + len;
    while ((p = memchr(p, '\n', (size_t)(e - p))) != NULL) {
        if (p + 1 < e && p[1] == '\n')
            return (size_t)(p + 2 - buf);
        if (p + 2 < e && p[1] == '\r' && p[2] == '\n')
            return (size_t)(p + 3 - buf);
        p++;
    }
    return 0;
}

/* The end of the line at p (its CR or LF) and where the next line starts. */
static const char *line_end(const char *p, const char *e, const char **next) {
    const char *nl = memchr(p, '\n', (size_t)(e - p));
    if (!nl) {
        *next = e;
        return e;
    }
    *next = nl + 1;
    return (nl > p && nl[-1] == '\r') ? nl - 1 : nl;
}

/* One header field, continuation lines included: [p, *eol) and the next field's start. */
static const char *field_end(const char *p, const char *e, const char **next) {
    const char *eol = line_end(p, e, next);
    while (*next < e && is_ws(**next))
        eol = line_end(*next, e, next);
    return eol;
}

/* Content-Length from a header section: 1 found (*cl), 0 absent, -1 malformed or repeated. */
static int scan_content_length(const char *buf, size_t head_len, long *cl) {
    const char *e = buf + head_len, *next, *p;
    int found = 0;
    line_end(buf, e, &p); /* the start line */
    for (; p < e && *p != '\r' && *p != '\n'; p = next) {
        const char *eol = field_end(p, e, &next);
        const char *colon = memchr(p, ':', (size_t)(eol - p));
        if (!colon)
            continue;
        struct sipmsg_str name = str_trim(str_make(p, (size_t)(colon - p)));
        if (!(sipmsg_str_ieq(name, "Content-Length") || sipmsg_str_ieq(name, "l")))
            continue;
        unsigned long long v;
        if (found || !parse_uint(str_trim(str_make(colon + 1, (size_t)(eol - colon - 1))),
                                 0x7fffffffULL, &v))
            return -1;
        *cl = (long)v;
        found = 1;
    }
    return found;
}

int sipmsg_frame(const char *buf, size_t len, size_t max, size_t *msg_len, size_t *head_len) {
    size_t head = find_head_end(buf, len);
    if (head == 0)
        return len > max ? -EMSGSIZE : 0;
    *head_len = head;
    long cl;
    if (scan_content_length(buf, head, &cl) != 1)
        return -EBADMSG;
    if (head + (size_t)cl > max)
        return -EMSGSIZE;
    if (len < head + (size_t)cl)
        return 0;
    *msg_len = head + (size_t)cl;
    return 1;
}

/* ---------------------------------------------------------------- parse */

static void set_error(sipmsg_t *m, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void set_error(sipmsg_t *m, int status, const char *fmt, ...) {
    if (m->error_status)
        return; /* the first problem found is the one named */
    m->error_status = status;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(m->error_reason, sizeof m->error_reason, fmt, ap);
    va_end(ap);
}

/* Copies [s, e) into the arena, folds (CRLF + WS) made one SP, trimmed, NUL-terminated. */
static struct sipmsg_str unfold(sipmsg_t *m, const char *s, const char *e) {
    char *out = m->arena + m->arena_used;
    size_t n = 0;
    const char *p = skip_ws(s, e);
    while (p < e) {
        if (*p == '\r' || *p == '\n') {
            while (p < e && (*p == '\r' || *p == '\n' || is_ws(*p)))
                p++;
            while (n && is_ws(out[n - 1]))
                n--;
            if (n)
                out[n++] = ' ';
            continue;
        }
        out[n++] = *p++;
    }
    while (n && is_ws(out[n - 1]))
        n--;
    out[n] = '\0';
    m->arena_used += n + 1;
    return str_make(out, n);
}

/* Parameters of a header value after its URI part (RFC 3261 20: without <>, every ';'
 * starts a header parameter): the offset where they start. */
static size_t header_params_start(struct sipmsg_str v) {
    const char *p = v.ptr, *e = v.ptr + v.len;
    while (p < e) {
        if (*p == '"') {
            p = quoted_end(p, e);
            if (!p)
                return v.len;
        } else if (*p == '<') {
            const char *gt = memchr(p, '>', (size_t)(e - p));
            return gt ? (size_t)(gt + 1 - v.ptr) : v.len;
        } else {
            p++;
        }
    }
    /* no <>: the addr-spec ends at the first ';' */
    const char *semi = memchr(v.ptr, ';', v.len);
    return semi ? (size_t)(semi - v.ptr) : v.len;
}

/* Iterates ";name[=value]" parameters from *pos; false at the end (or at a ','). */
static bool next_param(struct sipmsg_str v, size_t *pos, struct sipmsg_str *name,
                       struct sipmsg_str *value, size_t *start) {
    const char *p = v.ptr + *pos, *e = v.ptr + v.len;
    p = skip_ws(p, e);
    if (p >= e || *p != ';')
        return false;
    *start = (size_t)(p - v.ptr);
    p = skip_ws(p + 1, e);
    const char *n = p;
    while (p < e && is_token_char((unsigned char)*p))
        p++;
    *name = str_make(n, (size_t)(p - n));
    *value = str_make(p, 0);
    p = skip_ws(p, e);
    if (p < e && *p == '=') {
        p = skip_ws(p + 1, e);
        const char *vs = p;
        if (p < e && *p == '"') {
            const char *q = quoted_end(p, e);
            p = q ? q : e;
        } else {
            while (p < e && !is_ws(*p) && *p != ';' && *p != ',')
                p++;
        }
        *value = str_make(vs, (size_t)(p - vs));
    }
    /* skip whatever is left up to the next parameter (lenient: check_syntax judges it) */
    while (p < e && *p != ';' && *p != ',')
        p++;
    *pos = (size_t)(p - v.ptr);
    return true;
}

static struct sipmsg_str header_param(struct sipmsg_str v, const char *want, bool *found) {
    size_t pos = header_params_start(v), start;
    struct sipmsg_str name, value;
    *found = false;
    while (next_param(v, &pos, &name, &value, &start))
        if (sipmsg_str_ieq(name, want)) {
            *found = true;
            return value;
        }
    return str_make(v.ptr + v.len, 0);
}

/* RFC 3261 20.42 sent-protocol SP sent-by *( SEMI via-params ), read leniently. */
static bool via_read(struct sipmsg_str v, struct sipmsg_via *via) {
    const char *s = v.ptr, *e = s + v.len, *p = s, *q;
    memset(via, 0, sizeof *via);
    q = p;
    while (p < e && is_token_char((unsigned char)*p))
        p++;
    if (!sipmsg_str_ieq(str_make(q, (size_t)(p - q)), "SIP"))
        return false;
    for (int part = 0; part < 2; part++) {
        p = skip_ws(p, e);
        if (p >= e || *p != '/')
            return false;
        p = skip_ws(p + 1, e);
        q = p;
        while (p < e && is_token_char((unsigned char)*p))
            p++;
        if (p == q)
            return false;
    }
    via->transport = str_make(q, (size_t)(p - q));
    if (p >= e || !is_ws(*p))
        return false;
    p = skip_ws(p, e);
    if (p < e && *p == '[') {
        q = p + 1;
        p = memchr(q, ']', (size_t)(e - q));
        if (!p || p == q)
            return false;
        via->host = str_make(q, (size_t)(p - q));
        p++;
    } else {
        q = p;
        while (p < e && (isalnum((unsigned char)*p) || *p == '-' || *p == '.' || *p == '_'))
            p++;
        if (p == q)
            return false;
        via->host = str_make(q, (size_t)(p - q));
    }
    p = skip_ws(p, e);
    if (p < e && *p == ':') {
        p = skip_ws(p + 1, e);
        q = p;
        while (p < e && *p >= '0' && *p <= '9')
            p++;
        unsigned long long port;
        if (!parse_uint(str_make(q, (size_t)(p - q)), 65535, &port) || port == 0)
            return false;
        via->port = (int)port;
    }
    size_t pos = (size_t)(p - s), start;
    struct sipmsg_str name, value;
    int drops = 0;
    while (next_param(v, &pos, &name, &value, &start)) {
        if (sipmsg_str_ieq(name, "branch")) {
            via->branch = value;
        } else if (sipmsg_str_ieq(name, "rport") || sipmsg_str_ieq(name, "received")) {
            via->rport |= sipmsg_str_ieq(name, "rport");
            if (drops < 2) {
                via->drop_at[drops] = start;
                via->drop_len[drops] = pos - start;
                drops++;
            }
        }
    }
    while (pos > 0 && is_ws(s[pos - 1]))
        pos--;
    via->elem_end = pos;
    return true;
}

static bool uri_scheme(struct sipmsg_str uri, struct sipmsg_str *scheme) {
    size_t i = 0;
    if (uri.len == 0 || !isalpha((unsigned char)uri.ptr[0]))
        return false;
    while (i < uri.len && (isalnum((unsigned char)uri.ptr[i]) || uri.ptr[i] == '+' ||
                           uri.ptr[i] == '-' || uri.ptr[i] == '.'))
        i++;
    if (i == uri.len || uri.ptr[i] != ':')
        return false;
    *scheme = str_make(uri.ptr, i);
    return true;
}

static bool scheme_is_sip(struct sipmsg_str scheme) {
    return sipmsg_str_ieq(scheme, "sip") || sipmsg_str_ieq(scheme, "sips");
}

/* Request-URI: a scheme we serve is parsed (sipuri.h); another scheme is for sipmsg_check. */
static void check_request_uri(sipmsg_t *m) {
    struct sipmsg_str scheme;
    if (!uri_scheme(m->uri, &scheme)) {
        set_error(m, 400, "Malformed Request-URI");
        return;
    }
    m->uri_scheme_supported = scheme_is_sip(scheme) || sipmsg_str_ieq(scheme, "tel");
    if (!scheme_is_sip(scheme))
        return;
    struct sipuri u;
    if (sipuri_parse(m->uri.ptr, m->uri.len, &u) < 0)
        set_error(m, 400, "Malformed Request-URI");
}

/* ---------------------------------------------------------------- header syntax
 * RFC 3261 20 and 25.1, judged here and nowhere else: each structured header field the
 * UAS core reads (SIPMSG_F_SYNTAX) is checked whole, so the first bad one is named. */

/* gen-value = token / host / quoted-string: what may follow '=' in a parameter. */
static bool is_gen_value_char(unsigned char c) {
    return is_token_char(c) || c == ':' || c == '[' || c == ']';
}

/* *( SEMI generic-param ) from p to e, LWS allowed around ';' and '='. */
static bool params_ok(const char *p, const char *e) {
    p = skip_ws(p, e);
    while (p < e) {
        if (*p != ';')
            return false;
        p = skip_ws(p + 1, e);
        const char *n = p;
        while (p < e && is_token_char((unsigned char)*p))
            p++;
        if (p == n)
            return false; /* an empty parameter (";;") */
        p = skip_ws(p, e);
        if (p < e && *p == '=') {
            p = skip_ws(p + 1, e);
            if (p < e && *p == '"') {
                p = quoted_end(p, e);
                if (!p)
                    return false;
            } else {
                const char *v = p;
                while (p < e && is_gen_value_char((unsigned char)*p))
                    p++;
                if (p == v)
                    return false;
            }
            p = skip_ws(p, e);
        }
    }
    return true;
}

/* A URI as written in a header field: scheme ":" and no LWS, quote or angle bracket. */
static bool header_uri_ok(const char *p, const char *e) {
    const char *colon = memchr(p, ':', (size_t)(e - p));
    if (!colon || colon == p)
        return false;
    for (const char *q = p; q < e; q++)
        if ((unsigned char)*q <= ' ' || *q == '"' || *q == '<' || *q == '>')
            return false;
    for (const char *q = p; q < colon; q++)
        if (!isalnum((unsigned char)*q) && !strchr("+-.", *q))
            return false;
    return colon + 1 < e;
}

/* ( name-addr / addr-spec ) *( SEMI param ) (From, To, Contact, Route, Record-Route). */
static bool name_addr_ok(const char *p, const char *e) {
    p = skip_ws(p, e);
    const char *lt = NULL;
    if (p < e && *p == '"') {
        p = quoted_end(p, e);
        if (!p)
            return false;
        p = skip_ws(p, e);
        if (p >= e || *p != '<')
            return false;
        lt = p;
    } else {
        /* display-name = *(token LWS): up to '<', else an addr-spec */
        const char *q = p;
        while (q < e && (is_token_char((unsigned char)*q) || is_ws(*q)))
            q++;
        if (q < e && *q == '<')
            lt = q;
    }
    if (lt) {
        const char *gt = memchr(lt, '>', (size_t)(e - lt));
        if (!gt || !header_uri_ok(lt + 1, gt))
            return false;
        return params_ok(gt + 1, e);
    }
    /* RFC 3261 20: an addr-spec's parameters are the header's ('?' there is for the
     * reader of the URI: a REGISTER's Contact, sipmsg_register_read) */
    const char *semi = memchr(p, ';', (size_t)(e - p)), *end = semi ? semi : e;
    while (end > p && is_ws(end[-1]))
        end--;
    return header_uri_ok(p, end) && params_ok(semi ? semi : e, e);
}

bool sipmsg_via_next(const sipmsg_t *m, struct sipmsg_via_iter *it, struct sipmsg_via *via) {
    for (; it->header < m->nheaders; it->header++, it->pos = 0) {
        const struct sipmsg_header *h = &m->headers[it->header];
        if (h->id != SIPMSG_H_VIA)
            continue;
        const char *e = h->value.ptr + h->value.len, *p = h->value.ptr + it->pos;
        while (p < e && (is_ws(*p) || *p == ','))
            p++;
        if (p >= e)
            continue;
        struct sipmsg_str rest = str_make(p, (size_t)(e - p));
        if (!via_read(rest, via))
            return false; /* sipmsg_parse checked every via-parm: not reached */
        it->pos = (size_t)(p - h->value.ptr) + via->elem_end;
        return true;
    }
    return false;
}

/* via-parm = sent-protocol LWS sent-by *( SEMI via-params ) (RFC 3261 20.42). */
static bool via_parm_ok(const char *p, const char *e) {
    for (int part = 0; part < 3; part++) {
        p = skip_ws(p, e);
        if (part) {
            if (p >= e || *p != '/')
                return false;
            p = skip_ws(p + 1, e);
        }
        const char *t = p;
        while (p < e && is_token_char((unsigned char)*p))
            p++;
        if (p == t)
            return false;
    }
    const char *lws = p;
    p = skip_ws(p, e);
    if (p == lws)
        return false;
    const char *h = p;
    while (p < e && (isalnum((unsigned char)*p) || strchr("-._:[]", *p)))
        p++;
    if (p == h)
        return false;
    return params_ok(p, e);
}

/* Each comma-separated element of v (commas inside quotes or <> excepted); false when one
 * is empty or refused by ok. */
static bool list_ok(struct sipmsg_str v, bool (*ok)(const char *, const char *)) {
    const char *p = v.ptr, *e = v.ptr + v.len;
    for (;;) {
        const char *b = p;
        while (p < e && *p != ',') {
            if (*p == '"') {
                p = quoted_end(p, e);
                if (!p)
                    return false;
            } else if (*p == '<') {
                const char *q = memchr(p, '>', (size_t)(e - p));
                if (!q)
                    return false;
                p = q + 1;
            } else {
                p++;
            }
        }
        struct sipmsg_str elem = str_trim(str_make(b, (size_t)(p - b)));
        if (elem.len == 0 || !ok(elem.ptr, elem.ptr + elem.len))
            return false;
        if (p >= e)
            return true;
        p++;
    }
}

static bool contact_ok(const char *p, const char *e) {
    return (e - p == 1 && *p == '*') || name_addr_ok(p, e);
}

/* m-type "/" m-subtype *( SEMI m-parameter ) (RFC 3261 20.15). */
static bool media_type_ok(const char *p, const char *e) {
    const char *t = p;
    while (p < e && is_token_char((unsigned char)*p))
        p++;
    if (p == t)
        return false;
    p = skip_ws(p, e);
    if (p >= e || *p != '/')
        return false;
    p = t = skip_ws(p + 1, e);
    while (p < e && is_token_char((unsigned char)*p))
        p++;
    return p > t && params_ok(p, e);
}

/* callid = word [ "@" word ]: no LWS. */
static bool call_id_ok(const char *p, const char *e) {
    for (const char *q = p; q < e; q++)
        if ((unsigned char)*q <= ' ' || (unsigned char)*q >= 0x7f)
            return false;
    return p < e;
}

static bool header_syntax_ok(const struct sipmsg_header *h) {
    const char *p = h->value.ptr, *e = p + h->value.len;
    if (h->value.len == 0)
        return false;
    switch (h->id) {
    case SIPMSG_H_VIA:
        return list_ok(h->value, via_parm_ok);
    case SIPMSG_H_FROM:
    case SIPMSG_H_TO:
        return name_addr_ok(p, e);
    case SIPMSG_H_CONTACT:
        return list_ok(h->value, contact_ok);
    case SIPMSG_H_ROUTE:
    case SIPMSG_H_RECORD_ROUTE:
        return list_ok(h->value, name_addr_ok);
    case SIPMSG_H_CALL_ID:
        return call_id_ok(p, e);
    case SIPMSG_H_CONTENT_TYPE:
        return media_type_ok(p, e);
    default:
        return true; /* CSeq: read_cseq */
    }
}

static void check_syntax(sipmsg_t *m) {
    for (unsigned i = 0; i < m->nheaders && !m->error_status; i++) {
        const struct sipmsg_header *h = &m->headers[i];
        if ((header_table[h->id].flags & SIPMSG_F_SYNTAX) && !header_syntax_ok(h))
            set_error(m, 400, "Bad %s header", header_table[h->id].name);
    }
}

static void read_cseq(sipmsg_t *m) {
    struct sipmsg_str v = sipmsg_header_value(m, SIPMSG_H_CSEQ);
    const char *p = v.ptr, *e = v.ptr + v.len, *q = p;
    while (p < e && *p >= '0' && *p <= '9')
        p++;
    struct sipmsg_str num = str_make(q, (size_t)(p - q));
    p = skip_ws(p, e);
    m->cseq_method = str_make(p, (size_t)(e - p));
    unsigned long long n;
    /* RFC 3261 8.1.1.5: the sequence number is below 2**31; LWS before the method */
    if (p == q + num.len || !parse_uint(num, 0x7fffffffULL, &n) ||
        !is_token(m->cseq_method.ptr, m->cseq_method.len)) {
        set_error(m, 400, "Bad CSeq");
        return;
    }
    m->cseq = (uint32_t)n;
    if (m->request && (m->cseq_method.len != m->method.len ||
                       memcmp(m->cseq_method.ptr, m->method.ptr, m->method.len) != 0))
        set_error(m, 400, "CSeq method does not match the request method");
}

static void read_numbers(sipmsg_t *m) {
    unsigned long long n;
    if (m->count[SIPMSG_H_MAX_FORWARDS]) {
        if (!parse_uint(sipmsg_header_value(m, SIPMSG_H_MAX_FORWARDS), 255, &n))
            set_error(m, 400, "Bad Max-Forwards");
        else
            m->max_forwards = (int)n;
    }
    if (m->count[SIPMSG_H_EXPIRES]) {
        if (!parse_uint(sipmsg_header_value(m, SIPMSG_H_EXPIRES), 0xffffffffULL, &n))
            set_error(m, 400, "Bad Expires");
        else
            m->expires = (long long)n;
    }
}

static void reset(sipmsg_t *m, const char *buf, size_t len) {
    m->buf = buf;
    m->len = len;
    m->head_len = 0;
    m->body = str_make(buf, 0);
    m->request = false;
    m->method = m->uri = m->version = m->reason = str_make(buf, 0);
    m->method_id = SIPMSG_M_UNKNOWN;
    m->uri_scheme_supported = false;
    m->status = 0;
    m->nheaders = 0;
    for (int i = 0; i < SIPMSG_H_COUNT; i++) {
        m->first[i] = -1;
        m->count[i] = 0;
    }
    m->via_ok = false;
    memset(&m->via, 0, sizeof m->via);
    m->call_id = m->from_tag = m->to_tag = m->cseq_method = str_make(buf, 0);
    m->has_to_tag = false;
    m->cseq = 0;
    m->max_forwards = -1;
    m->expires = -1;
    m->content_length = -1;
    memset(&m->timer, 0, sizeof m->timer);
    m->error_status = 0;
    m->error_reason[0] = '\0';
    m->arena_used = 0;
}

/* Request-Line = Method SP Request-URI SP SIP-Version CRLF (RFC 3261 7.1), strictly. */
static void read_request_line(sipmsg_t *m, const char *s, const char *e) {
    const char *sp1 = memchr(s, ' ', (size_t)(e - s));
    const char *sp2 = sp1 ? memchr(sp1 + 1, ' ', (size_t)(e - sp1 - 1)) : NULL;
    if (!sp1 || !sp2 || memchr(sp2 + 1, ' ', (size_t)(e - sp2 - 1)) || sp2 == sp1 + 1 || sp1 == s ||
        sp2 + 1 == e || !is_token(s, (size_t)(sp1 - s))) {
        set_error(m, 400, "Malformed Request-Line");
        m->method = str_make(s, sp1 ? (size_t)(sp1 - s) : 0);
        return;
    }
    m->method = str_make(s, (size_t)(sp1 - s));
    m->uri = str_make(sp1 + 1, (size_t)(sp2 - sp1 - 1));
    m->version = str_make(sp2 + 1, (size_t)(e - sp2 - 1));
    m->method_id = sipmsg_method_lookup(m->method.ptr, m->method.len);
    if (!sipmsg_str_ieq(m->version, "SIP/2.0")) {
        if (m->version.len > 4 && strncasecmp(m->version.ptr, "SIP/", 4) == 0)
            set_error(m, 505, "Version Not Supported");
        else
            set_error(m, 400, "Malformed Request-Line");
    }
}

static void read_session_timer(sipmsg_t *m);

/* A response whose top Via and CSeq were read: the rest a client transaction and its
 * TU need, checked as strictly as a request's. Anything wrong drops it (RFC 3261 18.1.2:
 * a malformed response is discarded). */
static enum sipmsg_result parse_response_rest(sipmsg_t *m) {
    static const enum sipmsg_hdr required[] = {SIPMSG_H_FROM, SIPMSG_H_TO, SIPMSG_H_CALL_ID};
    for (size_t i = 0; i < sizeof required / sizeof required[0]; i++)
        if (!m->count[required[i]])
            return SIPMSG_DROP;
    for (int id = 0; id < SIPMSG_H_OTHER; id++)
        if ((header_table[id].flags & SIPMSG_F_SINGLE) && m->count[id] > 1)
            return SIPMSG_DROP;
    read_cseq(m);
    if (!m->error_status)
        check_syntax(m);
    if (m->error_status)
        return SIPMSG_DROP;
    bool found;
    m->call_id = sipmsg_header_value(m, SIPMSG_H_CALL_ID);
    m->from_tag = header_param(sipmsg_header_value(m, SIPMSG_H_FROM), "tag", &found);
    m->to_tag = header_param(sipmsg_header_value(m, SIPMSG_H_TO), "tag", &m->has_to_tag);
    m->method_id = sipmsg_method_lookup(m->cseq_method.ptr, m->cseq_method.len);
    read_session_timer(m);
    return SIPMSG_RESPONSE;
}

enum sipmsg_result sipmsg_parse(sipmsg_t *m, const char *buf, size_t len, bool stream) {
    /* RFC 3261 7.5: CRLFs before the start line are ignored */
    while (len && (*buf == '\r' || *buf == '\n')) {
        buf++;
        len--;
    }
    reset(m, buf, len);
    if (len == 0 || len > m->max_message)
        return SIPMSG_DROP;
    const char *e = buf + len, *next;
    const char *sol_end = line_end(buf, e, &next);
    if (sol_end == e)
        return SIPMSG_DROP; /* a start line and nothing else */
    if (len >= 4 && strncasecmp(buf, "SIP/", 4) == 0) {
        /* Status-Line = SIP-Version SP Status-Code SP Reason-Phrase (RFC 3261 7.2) */
        const char *sp = memchr(buf, ' ', (size_t)(sol_end - buf));
        unsigned long long code;
        if (!sp || sol_end - sp < 4 || (sol_end - sp > 4 && sp[4] != ' ') ||
            !parse_uint(str_make(sp + 1, 3), 699, &code) || code < 100 ||
            !sipmsg_str_ieq(str_make(buf, (size_t)(sp - buf)), "SIP/2.0"))
            return SIPMSG_DROP;
        m->status = (int)code;
        m->reason =
            sol_end - sp > 5 ? str_make(sp + 5, (size_t)(sol_end - sp - 5)) : str_make(sp, 0);
    } else {
        m->request = true;
        read_request_line(m, buf, sol_end);
    }

    size_t head_end = find_head_end(buf, len);
    /* A datagram without the blank line: the headers run to its end (no body). */
    const char *he = head_end ? buf + head_end : e;
    const char *p = next;
    while (p < he && *p != '\r' && *p != '\n') {
        const char *eol = field_end(p, he, &next);
        const char *colon = memchr(p, ':', (size_t)(eol - p));
        struct sipmsg_str name =
            colon ? str_trim(str_make(p, (size_t)(colon - p))) : str_make(p, 0);
        if (!colon || !is_token(name.ptr, name.len) || is_ws(*p)) {
            set_error(m, 400, "Malformed header line");
            p = next;
            continue;
        }
        if (m->nheaders == SIPMSG_MAX_HEADERS) {
            set_error(m, 400, "Too many header fields");
            break;
        }
        struct sipmsg_header *h = &m->headers[m->nheaders];
        h->id = header_lookup(name.ptr, name.len);
        h->name = name;
        h->value = unfold(m, colon + 1, eol);
        if (m->first[h->id] < 0)
            m->first[h->id] = (int16_t)m->nheaders;
        m->count[h->id]++;
        m->nheaders++;
        p = next;
    }
    m->head_len = head_end ? head_end : len;

    /* RFC 3261 18.3: Content-Length frames the body; on a datagram a longer body is cut,
     * a shorter one is an error; a stream needs the header. */
    size_t avail = len - m->head_len;
    if (m->count[SIPMSG_H_CONTENT_LENGTH] > 1) {
        set_error(m, 400, "Multiple Content-Length headers");
    } else if (m->count[SIPMSG_H_CONTENT_LENGTH] == 1) {
        unsigned long long cl;
        if (!parse_uint(sipmsg_header_value(m, SIPMSG_H_CONTENT_LENGTH), 0x7fffffffULL, &cl)) {
            set_error(m, 400, "Bad Content-Length");
        } else if (cl > avail) {
            set_error(m, 400, "Content-Length larger than the body");
        } else {
            m->content_length = (long)cl;
            avail = (size_t)cl;
        }
    } else if (stream) {
        set_error(m, 400, "Missing Content-Length");
    }
    if (!m->error_status || m->content_length >= 0)
        m->body = str_make(buf + m->head_len, avail);
    m->len = m->head_len + m->body.len;

    /* Can it be answered at all? A response goes to the top Via and is matched by
     * its branch and CSeq: without them nothing can be sent. */
    if (m->count[SIPMSG_H_VIA])
        m->via_ok = via_read(sipmsg_header_value(m, SIPMSG_H_VIA), &m->via);
    if (!m->via_ok || !m->count[SIPMSG_H_CSEQ] || !sipmsg_header_value(m, SIPMSG_H_CSEQ).len)
        return SIPMSG_DROP;
    if (!m->request)
        return parse_response_rest(m);

    static const enum sipmsg_hdr required[] = {SIPMSG_H_FROM, SIPMSG_H_TO, SIPMSG_H_CALL_ID};
    for (size_t i = 0; i < sizeof required / sizeof required[0]; i++)
        if (!m->count[required[i]])
            set_error(m, 400, "Missing %s header", header_table[required[i]].name);
    for (int id = 0; id < SIPMSG_H_OTHER; id++)
        if ((header_table[id].flags & SIPMSG_F_SINGLE) && m->count[id] > 1)
            set_error(m, 400, "Multiple %s headers", header_table[id].name);
    read_cseq(m);
    read_numbers(m);
    read_session_timer(m);
    if (!m->error_status)
        check_request_uri(m);
    if (!m->error_status)
        check_syntax(m);

    bool found;
    m->call_id = sipmsg_header_value(m, SIPMSG_H_CALL_ID);
    m->from_tag = header_param(sipmsg_header_value(m, SIPMSG_H_FROM), "tag", &found);
    m->to_tag = header_param(sipmsg_header_value(m, SIPMSG_H_TO), "tag", &m->has_to_tag);
    return m->error_status ? SIPMSG_REJECT : SIPMSG_OK;
}

struct sipmsg_str sipmsg_header_value(const sipmsg_t *m, enum sipmsg_hdr id) {
    if ((unsigned)id >= SIPMSG_H_COUNT || m->first[id] < 0)
        return str_make(m->buf, 0);
    return m->headers[m->first[id]].value;
}

/* ---------------------------------------------------------------- checks */

static void verdict(struct sipmsg_verdict *v, int status, const char *reason) {
    v->status = status;
    snprintf(v->reason, sizeof v->reason, "%s", reason ? reason : sipmsg_reason_phrase(status));
    v->headers_len = 0;
}

static void verdict_header(struct sipmsg_verdict *v, const char *line) {
    size_t n = strlen(line);
    if (n <= sizeof v->headers - v->headers_len) {
        memcpy(v->headers + v->headers_len, line, n);
        v->headers_len += n;
    }
}

/* Iterates comma-separated elements of every header of id (quotes respected). */
struct list_iter {
    const sipmsg_t *m;
    enum sipmsg_hdr id;
    unsigned header;
    size_t pos;
};

static bool list_next(struct list_iter *it, struct sipmsg_str *elem) {
    for (; it->header < it->m->nheaders; it->header++, it->pos = 0) {
        const struct sipmsg_header *h = &it->m->headers[it->header];
        if (h->id != it->id)
            continue;
        const char *s = h->value.ptr, *e = s + h->value.len, *p = s + it->pos;
        while (p < e) {
            const char *b = p;
            while (p < e && *p != ',') {
                if (*p == '"') {
                    const char *q = quoted_end(p, e);
                    p = q ? q : e;
                } else if (*p == '<') {
                    const char *q = memchr(p, '>', (size_t)(e - p));
                    p = q ? q + 1 : e;
                } else {
                    p++;
                }
            }
            *elem = str_trim(str_make(b, (size_t)(p - b)));
            it->pos = (size_t)(p - s) + (p < e);
            if (p >= e) {
                it->header++;
                it->pos = 0;
            }
            return true;
        }
    }
    return false;
}

/* Whether option list id (Supported, Require) names tag. */
static bool list_has(const sipmsg_t *m, enum sipmsg_hdr id, const char *tag) {
    struct list_iter it = {m, id, 0, 0};
    struct sipmsg_str elem;
    while (list_next(&it, &elem))
        if (sipmsg_str_ieq(elem, tag))
            return true;
    return false;
}

/* RFC 4028 4, 5: Session-Expires = delta-seconds *(SEMI se-params), Min-SE likewise. */
static void read_session_timer(sipmsg_t *m) {
    struct sipmsg_session_timer *st = &m->timer;
    unsigned long long n;
    bool found;
    if (m->count[SIPMSG_H_SESSION_EXPIRES]) {
        struct sipmsg_str v = sipmsg_header_value(m, SIPMSG_H_SESSION_EXPIRES);
        const char *semi = memchr(v.ptr, ';', v.len);
        struct sipmsg_str delta = str_trim(str_make(v.ptr, semi ? (size_t)(semi - v.ptr) : v.len));
        if (parse_uint(delta, 86400, &n) && n > 0)
            st->expires = (uint32_t)n;
        else
            st->bad = true;
        struct sipmsg_str r = header_param(v, "refresher", &found);
        st->refresher = sipmsg_str_ieq(r, "uac") ? 'c' : sipmsg_str_ieq(r, "uas") ? 's' : 0;
    }
    if (m->count[SIPMSG_H_MIN_SE]) {
        struct sipmsg_str v = sipmsg_header_value(m, SIPMSG_H_MIN_SE);
        const char *semi = memchr(v.ptr, ';', v.len);
        struct sipmsg_str delta = str_trim(str_make(v.ptr, semi ? (size_t)(semi - v.ptr) : v.len));
        if (parse_uint(delta, 0xffffffffULL, &n))
            st->min_se = (uint32_t)n;
        else
            st->bad = true;
    }
    st->supported = list_has(m, SIPMSG_H_SUPPORTED, "timer");
    st->required = list_has(m, SIPMSG_H_REQUIRE, "timer");
}

/* type/subtype of a media-range or Content-Type (parameters dropped). */
static struct sipmsg_str media_type(struct sipmsg_str s) {
    const char *semi = memchr(s.ptr, ';', s.len);
    if (semi)
        s.len = (size_t)(semi - s.ptr);
    return str_trim(s); /* LWS around the '/' is not accepted: rare, then 415/406 */
}

static bool option_supported(struct sipmsg_str tag) {
    const char *p = SIPMSG_SUPPORTED;
    while (*p) {
        size_t n = strcspn(p, ", ");
        if (n == tag.len && strncasecmp(p, tag.ptr, n) == 0)
            return true;
        p += n;
        p += strspn(p, ", ");
    }
    return false;
}

bool sipmsg_check(const sipmsg_t *m, struct sipmsg_verdict *v) {
    /* RFC 3261 8.2.1: methods */
    if (m->method_id == SIPMSG_M_UNKNOWN ||
        (m->method_id > SIPMSG_M_REGISTER && m->method_id != SIPMSG_M_UPDATE &&
         m->method_id != SIPMSG_M_REFER)) {
        verdict(v, m->method_id == SIPMSG_M_UNKNOWN ? 501 : 405, NULL);
        verdict_header(v, "Allow: " SIPMSG_ALLOW "\r\n");
        return true;
    }
    /* RFC 3261 8.2.2.1: Request-URI scheme */
    if (!m->uri_scheme_supported) {
        verdict(v, 416, NULL);
        return true;
    }
    /* RFC 3261 16.3 step 3 / 8.2.2: a request we would pass on (a new call, to be bridged
     * to another leg) with no hops left; requests addressed to us are served. */
    if (m->max_forwards == 0 && m->method_id == SIPMSG_M_INVITE && !m->has_to_tag) {
        verdict(v, 483, NULL);
        return true;
    }
    /* RFC 3261 8.2.2.3: Require (not for ACK and CANCEL) */
    if (m->method_id != SIPMSG_M_ACK && m->method_id != SIPMSG_M_CANCEL) {
        struct list_iter it = {m, SIPMSG_H_REQUIRE, 0, 0};
        struct sipmsg_str tag;
        char line[sizeof v->headers];
        struct sipmsg_out o = {line, sizeof line - 3, 0, false};
        int unsupported = 0;
        while (list_next(&it, &tag)) {
            if (tag.len == 0 || option_supported(tag))
                continue;
            size_t mark = o.len;
            sipmsg_out_puts(&o, unsupported ? ", " : "Unsupported: ");
            out_str(&o, tag);
            if (o.full) { /* list what fits; the status says the rest */
                o.len = mark;
                o.full = false;
                break;
            }
            unsupported++;
        }
        if (unsupported) {
            verdict(v, 420, NULL);
            memcpy(line + o.len, "\r\n", 3);
            verdict_header(v, line);
            return true;
        }
    }
    /* RFC 3261 8.2.3: content we cannot read */
    if (m->body.len > 0 && m->method_id != SIPMSG_M_ACK && m->method_id != SIPMSG_M_CANCEL) {
        struct sipmsg_str ct = media_type(sipmsg_header_value(m, SIPMSG_H_CONTENT_TYPE));
        struct sipmsg_str enc = sipmsg_header_value(m, SIPMSG_H_CONTENT_ENCODING);
        if (!sipmsg_str_ieq(ct, SIPMSG_ACCEPT)) {
            verdict(v, 415, NULL);
            verdict_header(v, "Accept: " SIPMSG_ACCEPT "\r\n");
            return true;
        }
        if (enc.len && !sipmsg_str_ieq(enc, "identity")) {
            verdict(v, 415, NULL);
            verdict_header(v, "Accept-Encoding: identity\r\n");
            return true;
        }
    }
    /* RFC 3261 21.4.7: the answer to an INVITE carries SDP; Accept must allow it */
    if (m->method_id == SIPMSG_M_INVITE && m->count[SIPMSG_H_ACCEPT]) {
        struct list_iter it = {m, SIPMSG_H_ACCEPT, 0, 0};
        struct sipmsg_str range;
        bool ok = false;
        while (!ok && list_next(&it, &range)) {
            range = media_type(range);
            ok = sipmsg_str_ieq(range, "application/sdp") ||
                 sipmsg_str_ieq(range, "application/*") || sipmsg_str_ieq(range, "*/*");
        }
        if (!ok) {
            verdict(v, 406, NULL);
            verdict_header(v, "Accept: " SIPMSG_ACCEPT "\r\n");
            return true;
        }
    }
    /* RFC 4028 4, 5: timer values that cannot be read */
    if (m->timer.bad && m->method_id != SIPMSG_M_ACK && m->method_id != SIPMSG_M_CANCEL) {
        verdict(v, 400,
                m->count[SIPMSG_H_SESSION_EXPIRES] && !m->timer.expires ? "Bad Session-Expires"
                                                                        : "Bad Min-SE");
        return true;
    }
    return false;
}

/* ---------------------------------------------------------------- REGISTER */

/* The addr-spec of a name-addr / addr-spec value: inside <>, or up to the first ';'. */
static bool addr_spec(struct sipmsg_str v, struct sipmsg_str *uri, size_t *params_at) {
    const char *p = v.ptr, *e = v.ptr + v.len;
    while (p < e) {
        if (*p == '"') {
            p = quoted_end(p, e);
            if (!p)
                return false;
        } else if (*p == '<') {
            const char *gt = memchr(p, '>', (size_t)(e - p));
            if (!gt)
                return false;
            *uri = str_trim(str_make(p + 1, (size_t)(gt - p - 1)));
            *params_at = (size_t)(gt + 1 - v.ptr);
            return uri->len > 0;
        } else {
            p++;
        }
    }
    const char *semi = memchr(v.ptr, ';', v.len);
    *params_at = semi ? (size_t)(semi - v.ptr) : v.len;
    *uri = str_trim(str_make(v.ptr, *params_at));
    /* RFC 3261 20: an addr-spec with ',', '?' or ';' must be inside <> */
    return uri->len > 0 && !memchr(uri->ptr, '?', uri->len) && !memchr(uri->ptr, ' ', uri->len);
}

/* RFC 3261 10.3: the AOR a REGISTER binds is the To URI's canonical form (sipuri.h). */
static bool canonical_aor(const domains_t *d, struct sipmsg_str uri, char *aor, size_t aorcap) {
    return sipuri_aor_of(d, uri.ptr, uri.len, aor, aorcap) > 0;
}

bool sipmsg_name_addr(struct sipmsg_str v, struct sipmsg_str *display, struct sipmsg_str *uri) {
    size_t params_at;
    if (!addr_spec(v, uri, &params_at))
        return false;
    *display = str_make(v.ptr, 0);
    const char *lt = memchr(v.ptr, '<', v.len);
    if (lt && lt < uri->ptr) {
        struct sipmsg_str d = str_trim(str_make(v.ptr, (size_t)(lt - v.ptr)));
        if (d.len >= 2 && d.ptr[0] == '"' && d.ptr[d.len - 1] == '"')
            d = str_make(d.ptr + 1, d.len - 2);
        *display = d;
    }
    return true;
}

struct sipmsg_str sipmsg_param(struct sipmsg_str v, const char *name, bool *found) {
    return header_param(v, name, found);
}

static bool reject400(struct sipmsg_verdict *v, const char *reason) {
    verdict(v, 400, reason);
    return false;
}

/* RFC 3327 5.3: a REGISTER's Path values, in order; false with v filled (400) when there
 * are too many or one is not a name-addr. */
static bool register_read_path(const sipmsg_t *m, struct sipmsg_register *r,
                               struct sipmsg_verdict *v) {
    struct list_iter it = {m, SIPMSG_H_PATH, 0, 0};
    struct sipmsg_str elem, uri;
    size_t params_at;
    r->path_supported = list_has(m, SIPMSG_H_SUPPORTED, "path");
    while (list_next(&it, &elem)) {
        if (elem.len == 0)
            continue;
        if (r->npath == SIPMSG_MAX_PATH)
            return reject400(v, "Too many Path values");
        if (!addr_spec(elem, &uri, &params_at) || elem.ptr[0] != '<')
            return reject400(v, "Malformed Path");
        r->path[r->npath++] = elem;
    }
    return true;
}

/* Whether the URI of name-addr elem has the URI parameter name (";ob", RFC 5626 5.1). */
static bool uri_has_param(struct sipmsg_str elem, const char *name) {
    struct sipmsg_str uri;
    size_t params_at;
    if (!addr_spec(elem, &uri, &params_at))
        return false;
    size_t n = strlen(name);
    for (size_t i = 0; i + 1 + n <= uri.len; i++) {
        if (uri.ptr[i] != ';' || strncasecmp(uri.ptr + i + 1, name, n) != 0)
            continue;
        char after = i + 1 + n < uri.len ? uri.ptr[i + 1 + n] : ';';
        if (after == ';' || after == '=' || after == '>')
            return true;
    }
    return false;
}

/* RFC 5626 6: whether the registrar applies outbound to this REGISTER. Contacts keep
 * their reg-id only when it does (a reg-id without +sip.instance is ignored); more than
 * one Contact with a reg-id is a 400; a REGISTER that asks for outbound through a first
 * hop that did not mark its Path with ;ob is a 439. */
static bool register_read_outbound(const sipmsg_t *m, struct sipmsg_register *r,
                                   struct sipmsg_verdict *v) {
    bool asked =
        list_has(m, SIPMSG_H_SUPPORTED, "outbound") || list_has(m, SIPMSG_H_REQUIRE, "outbound");
    size_t with_reg_id = 0;
    for (size_t i = 0; i < r->ncontacts; i++) {
        struct sipmsg_contact *c = &r->contacts[i];
        if (c->instance.len >= 2 && c->instance.ptr[0] == '"' &&
            c->instance.ptr[c->instance.len - 1] == '"')
            c->instance = str_make(c->instance.ptr + 1, c->instance.len - 2);
        if (c->reg_id && !c->instance.len)
            c->reg_id = 0; /* RFC 5626 6: "it simply ignores the reg-id parameter" */
        if (c->reg_id)
            with_reg_id++;
    }
    r->outbound = false;
    if (with_reg_id > 1 && asked)
        return reject400(v, "More than one Contact with reg-id");
    if (with_reg_id && asked) {
        size_t vias = 0;
        struct list_iter it = {m, SIPMSG_H_VIA, 0, 0};
        struct sipmsg_str elem;
        while (list_next(&it, &elem))
            vias++;
        bool first_hop = vias <= 1 || (r->npath && uri_has_param(r->path[0], "ob"));
        if (!first_hop) {
            verdict(v, 439, "First Hop Lacks Outbound Support");
            return false;
        }
        r->outbound = true;
    }
    if (!r->outbound)
        for (size_t i = 0; i < r->ncontacts; i++) {
            r->contacts[i].reg_id = 0;
            r->contacts[i].instance.len = 0;
        }
    return true;
}

bool sipmsg_register_read(const sipmsg_t *m, const domains_t *domains, struct sipmsg_register *r,
                          char *aor, size_t aorcap, struct sipmsg_verdict *v) {
    struct sipmsg_str uri;
    size_t params_at;
    r->wildcard = false;
    r->ncontacts = 0;
    r->outbound = false;
    r->path_supported = false;
    r->npath = 0;
    if (!addr_spec(sipmsg_header_value(m, SIPMSG_H_TO), &uri, &params_at) ||
        !canonical_aor(domains, uri, aor, aorcap))
        return reject400(v, "To URI is not a SIP address-of-record");

    struct list_iter it = {m, SIPMSG_H_CONTACT, 0, 0};
    struct sipmsg_str elem;
    size_t elements = 0;
    while (list_next(&it, &elem)) {
        elements++;
        if (elem.len == 1 && elem.ptr[0] == '*') {
            r->wildcard = true;
            continue;
        }
        if (r->ncontacts == SIPMSG_MAX_CONTACTS)
            return reject400(v, "Too many contacts");
        struct sipmsg_contact *c = &r->contacts[r->ncontacts];
        struct sipmsg_str scheme;
        if (!addr_spec(elem, &c->uri, &params_at))
            return reject400(v, "Malformed Contact");
        if (!uri_scheme(c->uri, &scheme) || !scheme_is_sip(scheme))
            return reject400(v, "Contact URI is not a SIP URI");
        c->expires = -1;
        c->q = -1;
        c->instance = str_make(elem.ptr, 0);
        c->reg_id = 0;
        size_t pos = params_at, start;
        struct sipmsg_str name, value;
        while (next_param(elem, &pos, &name, &value, &start)) {
            unsigned long long n;
            if (sipmsg_str_ieq(name, "expires")) {
                if (!parse_uint(value, 0xffffffffULL, &n))
                    return reject400(v, "Bad Contact expires");
                c->expires = (long long)n;
            } else if (sipmsg_str_ieq(name, "q")) {
                if (!parse_qvalue(value, &c->q))
                    return reject400(v, "Bad Contact q");
            } else if (sipmsg_str_ieq(name, "reg-id")) {
                /* RFC 5626 13: reg-id = 1*DIGIT, 1 to 2^31-1 */
                if (!parse_uint(value, 0x7fffffffULL, &n) || n == 0)
                    return reject400(v, "Bad Contact reg-id");
                c->reg_id = (uint32_t)n;
            } else if (sipmsg_str_ieq(name, "+sip.instance")) {
                c->instance = value;
            }
        }
        r->ncontacts++;
    }
    /* RFC 3261 10.3 step 6: "*" stands alone, with Expires: 0 */
    if (r->wildcard && (elements > 1 || m->expires != 0))
        return reject400(v, "Contact * needs Expires: 0 and no other contact");
    return register_read_path(m, r, v) && register_read_outbound(m, r, v);
}

/* ---------------------------------------------------------------- building */

int sipmsg_echo_build(const sipmsg_t *m, const char *received, int rport, char *out, size_t cap,
                      size_t *to_tag_at) {
    struct sipmsg_out o = {out, cap, 0, false};
    bool top = true;
    *to_tag_at = SIZE_MAX;
    for (unsigned i = 0; i < m->nheaders; i++) {
        const struct sipmsg_header *h = &m->headers[i];
        if (h->id != SIPMSG_H_VIA)
            continue;
        sipmsg_out_puts(&o, "Via: ");
        if (top && m->via_ok) {
            /* RFC 3261 18.2.1 and RFC 3581 4: received and rport of the top Via */
            const struct sipmsg_via *via = &m->via;
            size_t pos = 0;
            int order[2] = {0, 1};
            if (via->drop_len[1] && via->drop_at[1] < via->drop_at[0]) {
                order[0] = 1;
                order[1] = 0;
            }
            for (int k = 0; k < 2; k++) {
                int d = order[k];
                if (!via->drop_len[d])
                    continue;
                sipmsg_out_put(&o, h->value.ptr + pos, via->drop_at[d] - pos);
                pos = via->drop_at[d] + via->drop_len[d];
            }
            sipmsg_out_put(&o, h->value.ptr + pos, via->elem_end - pos);
            if (received && (via->rport || via->host.len != strlen(received) ||
                             strncasecmp(via->host.ptr, received, via->host.len) != 0)) {
                sipmsg_out_puts(&o, ";received=");
                sipmsg_out_puts(&o, received);
            }
            if (via->rport) {
                sipmsg_out_puts(&o, ";rport=");
                sipmsg_out_putu(&o, (unsigned)rport);
            }
            sipmsg_out_put(&o, h->value.ptr + via->elem_end, h->value.len - via->elem_end);
        } else {
            out_str(&o, h->value);
        }
        top = false;
        sipmsg_out_put(&o, "\r\n", 2);
    }
    static const enum sipmsg_hdr echoed[] = {SIPMSG_H_FROM, SIPMSG_H_TO, SIPMSG_H_CALL_ID,
                                             SIPMSG_H_CSEQ};
    for (size_t k = 0; k < sizeof echoed / sizeof echoed[0]; k++) {
        enum sipmsg_hdr id = echoed[k];
        if (m->first[id] < 0)
            continue;
        sipmsg_out_puts(&o, header_table[id].name);
        sipmsg_out_put(&o, ": ", 2);
        out_str(&o, sipmsg_header_value(m, id));
        if (id == SIPMSG_H_TO && !m->has_to_tag)
            *to_tag_at = o.len;
        sipmsg_out_put(&o, "\r\n", 2);
    }
    return o.full ? -ENOSPC : (int)o.len;
}

int sipmsg_response_build(const struct sipmsg_response *r, char *out, size_t cap) {
    struct sipmsg_out o = {out, cap, 0, false};
    sipmsg_out_puts(&o, "SIP/2.0 ");
    sipmsg_out_putu(&o, (unsigned)r->status);
    sipmsg_out_put(&o, " ", 1);
    sipmsg_out_puts(&o, r->reason ? r->reason : sipmsg_reason_phrase(r->status));
    sipmsg_out_put(&o, "\r\n", 2);
    if (r->to_tag && r->to_tag_at <= r->echo_len) {
        sipmsg_out_put(&o, r->echo, r->to_tag_at);
        sipmsg_out_puts(&o, ";tag=");
        sipmsg_out_puts(&o, r->to_tag);
        sipmsg_out_put(&o, r->echo + r->to_tag_at, r->echo_len - r->to_tag_at);
    } else {
        sipmsg_out_put(&o, r->echo, r->echo_len);
    }
    if (r->server) {
        sipmsg_out_puts(&o, "Server: ");
        sipmsg_out_puts(&o, r->server);
        sipmsg_out_put(&o, "\r\n", 2);
    }
    if (r->headers_len)
        sipmsg_out_put(&o, r->headers, r->headers_len);
    sipmsg_out_puts(&o, "Content-Length: ");
    sipmsg_out_putu(&o, r->body_len);
    sipmsg_out_put(&o, "\r\n\r\n", 4);
    if (r->body_len)
        sipmsg_out_put(&o, r->body, r->body_len);
    return o.full ? -ENOSPC : (int)o.len;
}
