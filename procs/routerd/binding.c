/* binding - see binding.h */
#include "binding.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

int binding_contact_expires(int32_t contact_expires, int32_t header_expires,
                            const struct binding_limits *lim, uint32_t *expires) {
    uint32_t asked;
    if (contact_expires >= 0) {
        asked = (uint32_t)contact_expires;
    } else if (header_expires >= 0) {
        asked = (uint32_t)header_expires;
    } else {
        /* Our own choice, not the UA's: never a 423, always within the limits. */
        asked = lim->default_expires;
        if (asked < lim->min_expires)
            asked = lim->min_expires;
        if (asked < 1)
            asked = 1;
    }
    if (asked == 0) {
        *expires = 0;
        return 0;
    }
    if (asked < lim->min_expires) { /* RFC 3261 10.3 step 7: 423 Interval Too Brief */
        *expires = asked;
        return 423;
    }
    *expires = asked > lim->max_expires ? lim->max_expires : asked;
    return 0;
}

static void plan_refuse(struct binding_plan *plan, uint32_t status, const char *reason) {
    free(plan->changes);
    plan->changes = NULL;
    plan->n = 0;
    plan->wildcard = false;
    plan->status = status;
    plan->reason = reason;
}

int binding_plan_make(const Sb__RegisterRequest *req, const struct binding_limits *lim,
                      struct binding_plan *plan) {
    memset(plan, 0, sizeof *plan);
    if (!req->aor || !req->aor[0]) {
        plan_refuse(plan, 400, "Missing AOR");
        return 0;
    }
    if (!req->call_id || !req->call_id[0]) {
        plan_refuse(plan, 400, "Missing Call-ID");
        return 0;
    }
    if (req->wildcard) {
        /* RFC 3261 10.3 step 6: "*" only with Expires: 0 and no other Contact. */
        if (req->n_contacts != 0 || req->expires != 0)
            plan_refuse(plan, 400, "Invalid wildcard Contact");
        else
            plan->wildcard = true;
        return 0;
    }
    if (req->n_contacts > BINDING_MAX_CONTACTS) {
        plan_refuse(plan, 400, "Too many Contacts");
        return 0;
    }
    if (req->n_contacts == 0)
        return 0; /* a query: the current bindings */
    plan->changes = calloc(req->n_contacts, sizeof *plan->changes);
    if (!plan->changes)
        return -ENOMEM;
    for (size_t i = 0; i < req->n_contacts; i++) {
        const Sb__ContactSpec *c = req->contacts[i];
        if (!c->uri || !c->uri[0]) {
            plan_refuse(plan, 400, "Empty Contact URI");
            return 0;
        }
        if (c->q < -1 || c->q > 1000) {
            plan_refuse(plan, 400, "Bad q-value");
            return 0;
        }
        uint32_t expires;
        if (binding_contact_expires(c->expires, req->expires, lim, &expires) == 423) {
            plan_refuse(plan, 423, "Interval Too Brief");
            plan->min_expires = lim->min_expires;
            return 0;
        }
        plan->changes[i].uri = c->uri;
        plan->changes[i].expires = expires;
        plan->changes[i].q = c->q;
        /* RFC 5626 6: sipd keeps a reg-id only with an instance and outbound asked for */
        bool ob = c->reg_id && c->instance && c->instance[0];
        plan->changes[i].instance = ob ? c->instance : "";
        plan->changes[i].reg_id = ob ? c->reg_id : 0;
    }
    plan->n = req->n_contacts;
    return 0;
}

void binding_plan_clear(struct binding_plan *plan) {
    free(plan->changes);
    memset(plan, 0, sizeof *plan);
}

size_t binding_field_max(const struct binding_change *ch) {
    return (ch->reg_id ? strlen(ch->instance) + 20 : strlen(ch->uri)) + 1;
}

size_t binding_field_into(const struct binding_change *ch, char *dst) {
    if (!ch->reg_id) {
        size_t n = strlen(ch->uri);
        memcpy(dst, ch->uri, n + 1);
        return n;
    }
    return (size_t)sprintf(dst, "%s;reg-id=%u", ch->instance, ch->reg_id);
}

char *binding_path_join(char *const *path, size_t n) {
    size_t len = 1;
    for (size_t i = 0; i < n; i++)
        len += strlen(path[i] ? path[i] : "") + 1;
    char *out = malloc(len), *p = out;
    if (!out)
        return NULL;
    for (size_t i = 0; i < n && i < BINDING_MAX_PATH; i++) {
        const char *v = path[i] ? path[i] : "";
        size_t l = strcspn(v, "\n");
        if (l == 0)
            continue;
        if (p > out)
            *p++ = '\n';
        memcpy(p, v, l);
        p += l;
    }
    *p = '\0';
    return out;
}

size_t binding_path_split(char *path, char **out, size_t max) {
    size_t n = 0;
    while (path && *path && n < max) {
        out[n++] = path;
        char *nl = strchr(path, '\n');
        if (!nl)
            break;
        *nl = '\0';
        path = nl + 1;
    }
    return n;
}

static int q_rank(int32_t q) {
    return q < 0 ? BINDING_Q_ABSENT_RANK : q;
}

int binding_compare(const struct binding *a, const struct binding *b) {
    int qa = q_rank(a->q), qb = q_rank(b->q);
    if (qa != qb)
        return qa > qb ? -1 : 1;
    if (a->registered_at_ms != b->registered_at_ms)
        return a->registered_at_ms > b->registered_at_ms ? -1 : 1;
    return strcmp(a->uri, b->uri);
}

static int compare_ptr(const void *a, const void *b) {
    return binding_compare(*(const struct binding *const *)a, *(const struct binding *const *)b);
}

void binding_sort(struct binding **v, size_t n) {
    if (n > 1)
        qsort(v, n, sizeof *v, compare_ptr);
}

uint32_t binding_seconds_left(const struct binding *b, int64_t now_ms) {
    if (b->expires_at_ms <= now_ms)
        return 0;
    int64_t s = (b->expires_at_ms - now_ms + 999) / 1000;
    return s > UINT32_MAX ? UINT32_MAX : (uint32_t)s;
}

/* Length of the valid UTF-8 sequence at s (at most n bytes), 0 when invalid. */
static size_t utf8_seq(const unsigned char *s, size_t n) {
    unsigned c = s[0];
    size_t len;
    unsigned min, cp;
    if (c < 0x80)
        return 1;
    if ((c & 0xe0) == 0xc0) {
        len = 2, min = 0x80, cp = c & 0x1f;
    } else if ((c & 0xf0) == 0xe0) {
        len = 3, min = 0x800, cp = c & 0x0f;
    } else if ((c & 0xf8) == 0xf0) {
        len = 4, min = 0x10000, cp = c & 0x07;
    } else {
        return 0;
    }
    if (len > n)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return len;
}

void binding_clean_into(const char *s, char *dst) {
    if (!s)
        s = "";
    size_t n = strlen(s);
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = 0; i < n;) {
        size_t l = u[i] < 0x80 ? 1 : utf8_seq(u + i, n - i);
        if (l == 0) {
            dst[i++] = '?';
        } else {
            memcpy(dst + i, s + i, l);
            i += l;
        }
    }
    dst[n] = '\0';
}

char *binding_clean_text(const char *s) {
    char *copy = malloc((s ? strlen(s) : 0) + 1);
    if (copy)
        binding_clean_into(s, copy);
    return copy;
}

/* ---- the record: written and read by hand, jansson only for records we did not write ----
 * The record is flat JSON with fifteen known fields (records written before local_addr,
 * local_port, conn_id and nated read them as "" and 0). Writing it is one pass per string
 * (clean + escape, the exact bytes jansson's JSON_COMPACT | JSON_PRESERVE_ORDER gives).
 * Reading takes the fast path for what we write (known keys, scalar values, no escapes)
 * and hands anything else to jansson, so what is accepted does not change. */

/* The longest one byte can become when escaped: "\u00XX". */
#define REC_ESC_MAX 6

static char *put_raw(char *p, const char *s) {
    size_t n = strlen(s);
    memcpy(p, s, n);
    return p + n;
}

static char *put_int(char *p, int64_t v) {
    char tmp[24];
    size_t n = 0;
    uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    do {
        tmp[n++] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0)
        *p++ = '-';
    while (n)
        *p++ = tmp[--n];
    return p;
}

/* s (NULL: "") as a JSON string: invalid UTF-8 bytes become '?', '"', '\\' and control
 * characters are escaped as jansson escapes them. */
static char *put_str(char *p, const char *s) {
    static const char hex[] = "0123456789ABCDEF";
    const unsigned char *u = (const unsigned char *)(s ? s : "");
    size_t n = strlen((const char *)u);
    *p++ = '"';
    for (size_t i = 0; i < n;) {
        unsigned c = u[i];
        if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\') {
            *p++ = (char)c;
            i++;
            continue;
        }
        size_t l = utf8_seq(u + i, n - i);
        if (l == 0) {
            *p++ = '?';
            i++;
        } else if (l > 1) {
            memcpy(p, u + i, l);
            p += l;
            i += l;
        } else {
            *p++ = '\\';
            switch (c) {
            case '"':
            case '\\':
                *p++ = (char)c;
                break;
            case '\b':
                *p++ = 'b';
                break;
            case '\f':
                *p++ = 'f';
                break;
            case '\n':
                *p++ = 'n';
                break;
            case '\r':
                *p++ = 'r';
                break;
            case '\t':
                *p++ = 't';
                break;
            default:
                p = put_raw(p, "u00");
                *p++ = hex[c >> 4];
                *p++ = hex[c & 15];
            }
            i++;
        }
    }
    *p++ = '"';
    return p;
}

static size_t str_room(const char *s) {
    return (s ? strlen(s) : 0) * REC_ESC_MAX + 2;
}

size_t binding_json_string_max(const char *s) {
    return str_room(s) + 1;
}

size_t binding_json_string_into(const char *s, char *dst) {
    char *p = put_str(dst, s);
    *p = '\0';
    return (size_t)(p - dst);
}

size_t binding_encoded_max(const struct binding *b) {
    return 280 + str_room(b->uri) + str_room(b->call_id) + str_room(b->user_agent) +
           str_room(b->transport) + str_room(b->addr) + str_room(b->local_addr) +
           str_room(b->instance) + str_room(b->path) + 9 * 24;
}

size_t binding_encode_into(const struct binding *b, char *text) {
    char *p = text;
    p = put_str(put_raw(p, "{\"uri\":"), b->uri);
    p = put_int(put_raw(p, ",\"q\":"), b->q);
    p = put_str(put_raw(p, ",\"call_id\":"), b->call_id);
    p = put_int(put_raw(p, ",\"cseq\":"), b->cseq);
    p = put_str(put_raw(p, ",\"user_agent\":"), b->user_agent);
    p = put_str(put_raw(p, ",\"transport\":"), b->transport);
    p = put_str(put_raw(p, ",\"addr\":"), b->addr);
    p = put_int(put_raw(p, ",\"port\":"), b->port);
    p = put_int(put_raw(p, ",\"sipd_instance\":"), b->sipd_instance);
    p = put_str(put_raw(p, ",\"local_addr\":"), b->local_addr);
    p = put_int(put_raw(p, ",\"local_port\":"), b->local_port);
    p = put_int(put_raw(p, ",\"conn_id\":"), (int64_t)(b->conn_id & INT64_MAX));
    p = put_int(put_raw(p, ",\"nated\":"), b->nated ? 1 : 0);
    if (b->reg_id || (b->path && b->path[0])) { /* plain bindings keep their old record */
        p = put_str(put_raw(p, ",\"instance\":"), b->instance);
        p = put_int(put_raw(p, ",\"reg_id\":"), b->reg_id);
        p = put_str(put_raw(p, ",\"path\":"), b->path);
    }
    /* expires_at_ms ends the record: loc_register.lua reads it there */
    p = put_int(put_raw(p, ",\"registered_at_ms\":"), b->registered_at_ms);
    p = put_int(put_raw(p, ",\"expires_at_ms\":"), b->expires_at_ms);
    *p++ = '}';
    *p = '\0';
    return (size_t)(p - text);
}

char *binding_encode(const struct binding *b) {
    char *text = malloc(binding_encoded_max(b));
    if (text)
        binding_encode_into(b, text);
    return text;
}

enum rec_field {
    REC_URI,
    REC_Q,
    REC_CALL_ID,
    REC_CSEQ,
    REC_USER_AGENT,
    REC_TRANSPORT,
    REC_ADDR,
    REC_PORT,
    REC_SIPD_INSTANCE,
    REC_REGISTERED_AT_MS,
    REC_EXPIRES_AT_MS,
    REC_LOCAL_ADDR, /* the fields below are absent from older records: "" and 0 */
    REC_LOCAL_PORT,
    REC_CONN_ID,
    REC_NATED,
    REC_INSTANCE, /* RFC 5626 / RFC 3327 bindings only */
    REC_REG_ID,
    REC_PATH,
    REC_NFIELDS
};

static const char *const rec_names[REC_NFIELDS] = {
    "uri",           "q",          "call_id",    "cseq",          "user_agent",
    "transport",     "addr",       "port",       "sipd_instance", "registered_at_ms",
    "expires_at_ms", "local_addr", "local_port", "conn_id",       "nated",
    "instance",      "reg_id",     "path"};

/* One field's value as read: a string slice, an integer, or something else. */
struct rec_value {
    enum { REC_ABSENT, REC_STRING, REC_INTEGER, REC_OTHER } type;
    const char *s;
    size_t len;
    int64_t i;
};

/* The binding of the values read (the same checks for both paths). */
static struct binding *rec_build(const struct rec_value *v) {
    static const struct rec_value absent = {.type = REC_ABSENT};
    enum { NSTR = 8 };
    const struct rec_value *str[NSTR] = {&v[REC_URI],       &v[REC_CALL_ID], &v[REC_USER_AGENT],
                                         &v[REC_TRANSPORT], &v[REC_ADDR],    &v[REC_LOCAL_ADDR],
                                         &v[REC_INSTANCE],  &v[REC_PATH]};
    for (int i = 0; i < NSTR; i++)
        if (str[i]->type != REC_STRING)
            str[i] = &absent; /* read as "" */
    int64_t lo[REC_NFIELDS] = {0}, hi[REC_NFIELDS] = {0};
    lo[REC_Q] = -1, hi[REC_Q] = 1000;
    hi[REC_CSEQ] = UINT32_MAX;
    hi[REC_REGISTERED_AT_MS] = INT64_MAX;
    hi[REC_EXPIRES_AT_MS] = INT64_MAX;
    hi[REC_PORT] = 65535;
    hi[REC_SIPD_INSTANCE] = UINT32_MAX;
    hi[REC_LOCAL_PORT] = 65535;
    hi[REC_CONN_ID] = INT64_MAX;
    hi[REC_NATED] = 1;
    hi[REC_REG_ID] = 0x7fffffff;
    int64_t num[REC_NFIELDS] = {0};
    bool ok[REC_NFIELDS] = {false};
    for (int f = 0; f < REC_NFIELDS; f++) {
        if (v[f].type == REC_INTEGER && v[f].i >= lo[f] && v[f].i <= hi[f]) {
            num[f] = v[f].i;
            ok[f] = true;
        }
    }
    if (str[0]->len == 0 || !ok[REC_Q] || !ok[REC_CSEQ] || !ok[REC_REGISTERED_AT_MS] ||
        !ok[REC_EXPIRES_AT_MS])
        return NULL;
    size_t total = sizeof(struct binding);
    for (int i = 0; i < NSTR; i++)
        total += str[i]->len + 1;
    struct binding *b = malloc(total);
    if (!b)
        return NULL;
    char *p = (char *)(b + 1);
    char **dst[NSTR] = {&b->uri,  &b->call_id,    &b->user_agent, &b->transport,
                        &b->addr, &b->local_addr, &b->instance,   &b->path};
    for (int i = 0; i < NSTR; i++) {
        if (str[i]->len)
            memcpy(p, str[i]->s, str[i]->len);
        p[str[i]->len] = '\0';
        *dst[i] = p;
        p += str[i]->len + 1;
    }
    b->q = (int32_t)num[REC_Q];
    b->cseq = (uint32_t)num[REC_CSEQ];
    b->port = (uint32_t)num[REC_PORT]; /* absent or out of range: 0 */
    b->sipd_instance = (uint32_t)num[REC_SIPD_INSTANCE];
    b->local_port = (uint32_t)num[REC_LOCAL_PORT];
    b->conn_id = (uint64_t)num[REC_CONN_ID];
    b->nated = num[REC_NATED] == 1;
    b->reg_id = b->instance[0] ? (uint32_t)num[REC_REG_ID] : 0;
    b->registered_at_ms = num[REC_REGISTERED_AT_MS];
    b->expires_at_ms = num[REC_EXPIRES_AT_MS];
    return b;
}

static size_t skip_ws(const char *t, size_t i, size_t len) {
    while (i < len && (t[i] == ' ' || t[i] == '\t' || t[i] == '\n' || t[i] == '\r'))
        i++;
    return i;
}

/* A string at t[i] == '"' without escapes or control characters, valid UTF-8: its
 * contents as a slice and the index past its closing quote; 0 when it is not one. */
static size_t fast_string(const char *t, size_t i, size_t len, const char **s, size_t *n) {
    const unsigned char *u = (const unsigned char *)t;
    size_t j = i + 1;
    while (j < len && u[j] != '"') {
        if (u[j] == '\\' || u[j] < 0x20)
            return 0;
        if (u[j] < 0x80) {
            j++;
            continue;
        }
        size_t l = utf8_seq(u + j, len - j);
        if (l == 0)
            return 0;
        j += l;
    }
    if (j >= len)
        return 0;
    *s = t + i + 1;
    *n = j - i - 1;
    return j + 1;
}

/* An integer at t[i] as JSON writes it (no fraction, exponent or leading zero, at most 18
 * digits): its value and the index past it; 0 when it is not one. */
static size_t fast_integer(const char *t, size_t i, size_t len, int64_t *out) {
    bool neg = t[i] == '-';
    size_t j = i + neg, first = j;
    int64_t v = 0;
    while (j < len && t[j] >= '0' && t[j] <= '9') {
        if (j - first < 18)
            v = v * 10 + (t[j] - '0');
        j++;
    }
    size_t digits = j - first;
    if (digits == 0 || digits > 18 || (digits > 1 && t[first] == '0'))
        return 0;
    if (j < len && (t[j] == '.' || t[j] == 'e' || t[j] == 'E'))
        return 0;
    *out = neg ? -v : v;
    return j;
}

/* The fast path: 1 with v filled, 0 when jansson must decide. */
static int fast_decode(const char *t, size_t len, struct rec_value *v) {
    size_t i = skip_ws(t, 0, len);
    if (i >= len || t[i] != '{')
        return 0;
    i = skip_ws(t, i + 1, len);
    if (i < len && t[i] == '}')
        return 0; /* empty: not ours, jansson says so the same way */
    for (;;) {
        const char *key;
        size_t klen;
        if (i >= len || t[i] != '"' || !(i = fast_string(t, i, len, &key, &klen)))
            return 0;
        int f = 0;
        while (f < REC_NFIELDS &&
               !(strlen(rec_names[f]) == klen && memcmp(rec_names[f], key, klen) == 0))
            f++;
        if (f == REC_NFIELDS || v[f].type != REC_ABSENT)
            return 0; /* a key we do not write, or a duplicate */
        i = skip_ws(t, i, len);
        if (i >= len || t[i] != ':')
            return 0;
        i = skip_ws(t, i + 1, len);
        if (i >= len)
            return 0;
        if (t[i] == '"') {
            v[f].type = REC_STRING;
            i = fast_string(t, i, len, &v[f].s, &v[f].len);
        } else if (t[i] == '-' || (t[i] >= '0' && t[i] <= '9')) {
            v[f].type = REC_INTEGER;
            i = fast_integer(t, i, len, &v[f].i);
        } else {
            return 0; /* true/false/null, objects and arrays: rare, jansson's */
        }
        if (!i)
            return 0;
        i = skip_ws(t, i, len);
        if (i < len && t[i] == ',') {
            i = skip_ws(t, i + 1, len);
            continue;
        }
        if (i < len && t[i] == '}')
            break;
        return 0;
    }
    return skip_ws(t, i + 1, len) == len;
}

/* The slow path: whatever JSON jansson accepts, read as the fast path reads. */
static struct binding *slow_decode(const char *text, size_t len) {
    json_t *o = json_loadb(text, len, JSON_REJECT_DUPLICATES, NULL);
    if (!json_is_object(o)) {
        json_decref(o);
        return NULL;
    }
    struct rec_value v[REC_NFIELDS] = {0};
    for (int f = 0; f < REC_NFIELDS; f++) {
        json_t *j = json_object_get(o, rec_names[f]);
        if (json_is_string(j)) {
            v[f].type = REC_STRING;
            v[f].s = json_string_value(j);
            v[f].len = strlen(v[f].s); /* a string with a NUL reads up to it, as before */
        } else if (json_is_integer(j)) {
            v[f].type = REC_INTEGER;
            v[f].i = json_integer_value(j);
        } else if (j) {
            v[f].type = REC_OTHER;
        }
    }
    struct binding *b = rec_build(v);
    json_decref(o);
    return b;
}

struct binding *binding_decode(const char *text, size_t len) {
    struct rec_value v[REC_NFIELDS] = {0};
    if (fast_decode(text, len, v))
        return rec_build(v);
    return slow_decode(text, len);
}
