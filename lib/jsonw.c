/* jsonw - see jsonw.h */
#include "jsonw.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define JSONW_FIRST_CAP 256

void jsonw_init(jsonw_t *w) {
    memset(w, 0, sizeof *w);
}

void jsonw_fini(jsonw_t *w) {
    free(w->buf);
    jsonw_init(w);
}

/* Room for n more bytes and a NUL; false (writer failed) when memory is short. */
static bool jsonw_reserve(jsonw_t *w, size_t n) {
    if (w->failed)
        return false;
    if (n < w->cap - w->len)
        return true;
    if (n > SIZE_MAX / 2 - w->len) {
        w->failed = true;
        return false;
    }
    size_t cap = w->cap ? w->cap : JSONW_FIRST_CAP;
    while (cap - w->len <= n)
        cap *= 2;
    char *grown = realloc(w->buf, cap);
    if (!grown) {
        w->failed = true;
        return false;
    }
    w->buf = grown;
    w->cap = cap;
    return true;
}

static void jsonw_put(jsonw_t *w, const char *s, size_t n) {
    if (!jsonw_reserve(w, n))
        return;
    memcpy(w->buf + w->len, s, n);
    w->len += n;
}

/* Before a value, a key or an open: the ',' after the previous one. */
static void jsonw_sep(jsonw_t *w) {
    if (w->comma)
        jsonw_put(w, ",", 1);
    w->comma = false;
}

/* The length of the well-formed UTF-8 sequence at s (RFC 3629 section 4), or 0 when it is
 * ill-formed; *bad is then the length of its maximal ill-formed subpart (at least 1). */
static size_t jsonw_utf8_len(const unsigned char *s, size_t n, size_t *bad) {
    unsigned char c = s[0];
    size_t need;
    unsigned char lo = 0x80, hi = 0xbf; /* the range of the second byte */
    if (c >= 0xc2 && c <= 0xdf) {
        need = 2;
    } else if (c >= 0xe0 && c <= 0xef) {
        need = 3;
        if (c == 0xe0)
            lo = 0xa0; /* no overlong forms */
        else if (c == 0xed)
            hi = 0x9f; /* no surrogates */
    } else if (c >= 0xf0 && c <= 0xf4) {
        need = 4;
        if (c == 0xf0)
            lo = 0x90;
        else if (c == 0xf4)
            hi = 0x8f; /* nothing past U+10FFFF */
    } else {
        *bad = 1; /* a continuation byte, C0, C1, F5..FF */
        return 0;
    }
    size_t i = 1;
    for (; i < need && i < n; i++) {
        unsigned char b = s[i];
        if (i == 1 ? (b < lo || b > hi) : (b < 0x80 || b > 0xbf))
            break;
    }
    if (i == need)
        return need;
    *bad = i;
    return 0;
}

static void jsonw_quoted(jsonw_t *w, const char *s, size_t len) {
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = (const unsigned char *)s;
    jsonw_put(w, "\"", 1);
    size_t i = 0;
    while (i < len && !w->failed) {
        size_t run = i; /* plain ASCII passes in one copy */
        while (run < len && p[run] >= 0x20 && p[run] < 0x80 && p[run] != '"' && p[run] != '\\')
            run++;
        if (run > i) {
            jsonw_put(w, s + i, run - i);
            i = run;
            continue;
        }
        unsigned char c = p[i];
        if (c == '"' || c == '\\') {
            char esc[2] = {'\\', (char)c};
            jsonw_put(w, esc, 2);
            i++;
        } else if (c < 0x20) {
            char esc[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 0xf]};
            jsonw_put(w, esc, 6);
            i++;
        } else {
            size_t bad = 0, n = jsonw_utf8_len(p + i, len - i, &bad);
            if (n) {
                jsonw_put(w, s + i, n);
                i += n;
            } else {
                jsonw_put(w, "\xef\xbf\xbd", 3); /* U+FFFD REPLACEMENT CHARACTER */
                i += bad;
            }
        }
    }
    jsonw_put(w, "\"", 1);
}

static void jsonw_open(jsonw_t *w, char c) {
    jsonw_sep(w);
    if (w->depth >= JSONW_MAX_DEPTH) {
        w->failed = true;
        return;
    }
    jsonw_put(w, &c, 1);
    w->depth++;
}

static void jsonw_close(jsonw_t *w, char c) {
    if (w->depth == 0) {
        w->failed = true;
        return;
    }
    jsonw_put(w, &c, 1);
    w->depth--;
    w->comma = true;
}

void jsonw_object_open(jsonw_t *w) {
    jsonw_open(w, '{');
}

void jsonw_object_close(jsonw_t *w) {
    jsonw_close(w, '}');
}

void jsonw_array_open(jsonw_t *w) {
    jsonw_open(w, '[');
}

void jsonw_array_close(jsonw_t *w) {
    jsonw_close(w, ']');
}

void jsonw_key(jsonw_t *w, const char *key) {
    jsonw_sep(w);
    jsonw_quoted(w, key ? key : "", key ? strlen(key) : 0);
    jsonw_put(w, ":", 1);
}

void jsonw_raw(jsonw_t *w, const char *text, size_t len) {
    jsonw_sep(w);
    jsonw_put(w, text, len);
    w->comma = true;
}

void jsonw_stringn(jsonw_t *w, const char *s, size_t len) {
    jsonw_sep(w);
    jsonw_quoted(w, s, len);
    w->comma = true;
}

void jsonw_string(jsonw_t *w, const char *s) {
    jsonw_stringn(w, s ? s : "", s ? strlen(s) : 0);
}

void jsonw_int(jsonw_t *w, int64_t v) {
    char text[24];
    int n = snprintf(text, sizeof text, "%" PRId64, v);
    jsonw_raw(w, text, (size_t)n);
}

void jsonw_uint(jsonw_t *w, uint64_t v) {
    char text[24];
    int n = snprintf(text, sizeof text, "%" PRIu64, v);
    jsonw_raw(w, text, (size_t)n);
}

void jsonw_bool(jsonw_t *w, bool v) {
    jsonw_raw(w, v ? "true" : "false", v ? 4 : 5);
}

void jsonw_null(jsonw_t *w) {
    jsonw_raw(w, "null", 4);
}

void jsonw_kv_string(jsonw_t *w, const char *key, const char *s) {
    jsonw_key(w, key);
    jsonw_string(w, s);
}

void jsonw_kv_int(jsonw_t *w, const char *key, int64_t v) {
    jsonw_key(w, key);
    jsonw_int(w, v);
}

bool jsonw_failed(const jsonw_t *w) {
    return w->failed;
}

char *jsonw_finish(jsonw_t *w, size_t *len) {
    if (w->failed || w->depth != 0 || !jsonw_reserve(w, 0)) {
        jsonw_fini(w);
        return NULL;
    }
    char *out = w->buf;
    out[w->len] = '\0';
    if (len)
        *len = w->len;
    jsonw_init(w);
    return out;
}
