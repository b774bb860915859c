/* advertise - see advertise.h */
#include "advertise.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

/* A numeric address (brackets allowed) in family/bytes; false when it is not one. */
static bool numeric(const char *s, size_t n, int *family, unsigned char *bytes) {
    char buf[INET6_ADDRSTRLEN + 1];
    if (n >= 2 && s[0] == '[' && s[n - 1] == ']') {
        s++;
        n -= 2;
    }
    if (n == 0 || n >= sizeof buf)
        return false;
    memcpy(buf, s, n);
    buf[n] = '\0';
    struct in6_addr a6;
    if (inet_pton(AF_INET, buf, bytes) == 1) {
        *family = AF_INET;
        return true;
    }
    if (inet_pton(AF_INET6, buf, &a6) == 1) {
        if (IN6_IS_ADDR_V4MAPPED(&a6)) {
            *family = AF_INET;
            memcpy(bytes, &a6.s6_addr[12], 4);
        } else {
            *family = AF_INET6;
            memcpy(bytes, &a6, 16);
        }
        return true;
    }
    return false;
}

/* RFC 3261 25.1 hostname: labels of letters, digits and '-' (not at either end), dots. */
static bool hostname(const char *s, size_t n) {
    if (n == 0 || n > 253 || s[n - 1] == '.' || s[0] == '.')
        return false;
    size_t label = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '.') {
            if (label == 0 || s[i - 1] == '-')
                return false;
            label = 0;
        } else if (isalnum(c) || c == '-') {
            if (label == 0 && c == '-')
                return false;
            if (++label > 63)
                return false;
        } else {
            return false;
        }
    }
    return s[n - 1] != '-';
}

static int fail(struct advertise *a, char *err, size_t errlen, const char *entry, size_t n,
                const char *why) {
    snprintf(err, errlen, "entry '%.*s': %s", (int)(n > 200 ? 200 : n), entry, why);
    a->n = 0;
    return -EINVAL;
}

/* PUBLIC[:port] of one entry into e; NULL, or why it is wrong. */
static const char *parse_public(const char *s, size_t n, struct advertise_entry *e) {
    const char *host = s, *port = NULL;
    size_t hlen = n;
    int family;
    unsigned char bytes[16];
    if (n && s[0] == '[') {
        const char *close = memchr(s, ']', n);
        if (!close)
            return "unclosed '['";
        hlen = (size_t)(close - s) + 1;
        if (hlen < n) {
            if (s[hlen] != ':')
                return "junk after ']'";
            port = s + hlen + 1;
        }
        if (!numeric(host, hlen, &family, bytes) || family != AF_INET6)
            return "not an IPv6 address in brackets";
        host++;
        hlen -= 2;
    } else {
        const char *colon = memchr(s, ':', n);
        if (colon && memchr(colon + 1, ':', n - (size_t)(colon - s) - 1)) {
            /* a bare IPv6 address: no port possible */
            if (!numeric(s, n, &family, bytes) || family != AF_INET6)
                return "not an address (IPv6 with a port needs brackets)";
        } else if (colon) {
            hlen = (size_t)(colon - s);
            port = colon + 1;
        }
        if (!(numeric(host, hlen, &family, bytes) || hostname(host, hlen)))
            return "PUBLIC is neither an address nor a host name";
    }
    if (hlen == 0 || hlen >= sizeof e->host)
        return "PUBLIC is empty or too long";
    memcpy(e->host, host, hlen);
    e->host[hlen] = '\0';
    e->port = 0;
    if (port) {
        size_t plen = n - (size_t)(port - s);
        long v = 0;
        if (plen == 0 || plen > 5)
            return "bad port";
        for (size_t i = 0; i < plen; i++) {
            if (!isdigit((unsigned char)port[i]))
                return "bad port";
            v = v * 10 + (port[i] - '0');
        }
        if (v < 1 || v > 65535)
            return "port out of range 1-65535";
        e->port = (int)v;
    }
    return NULL;
}

int advertise_parse(const char *text, struct advertise *a, char *err, size_t errlen) {
    memset(a, 0, sizeof *a);
    if (errlen)
        err[0] = '\0';
    const char *p = text ? text : "";
    for (;;) {
        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        if (!*p)
            return 0;
        size_t n = strcspn(p, " \t,");
        const char *entry = p;
        p += n;
        if (a->n == ADVERTISE_MAX)
            return fail(a, err, errlen, entry, n, "too many entries");
        struct advertise_entry *e = &a->entries[a->n];
        memset(e, 0, sizeof *e);
        const char *bang = memchr(entry, '!', n);
        const char *pub = entry;
        size_t plen = n;
        e->any = bang == NULL;
        if (bang) {
            if (!numeric(entry, (size_t)(bang - entry), &e->family, e->local))
                return fail(a, err, errlen, entry, n, "LOCAL is not a numeric address");
            pub = bang + 1;
            plen = n - (size_t)(pub - entry);
            if (memchr(pub, '!', plen))
                return fail(a, err, errlen, entry, n, "more than one '!'");
        }
        const char *why = parse_public(pub, plen, e);
        if (why)
            return fail(a, err, errlen, entry, n, why);
        for (size_t i = 0; i < a->n; i++) {
            const struct advertise_entry *o = &a->entries[i];
            if (o->any && e->any)
                return fail(a, err, errlen, entry, n, "a second entry for every address");
            if (!o->any && !e->any && o->family == e->family &&
                memcmp(o->local, e->local, e->family == AF_INET ? 4 : 16) == 0)
                return fail(a, err, errlen, entry, n, "a second entry for this LOCAL");
        }
        a->n++;
    }
}

const struct advertise_entry *advertise_lookup(const struct advertise *a, const char *local_ip) {
    int family;
    unsigned char bytes[16];
    const struct advertise_entry *any = NULL;
    if (!a || a->n == 0)
        return NULL;
    bool have = local_ip && numeric(local_ip, strlen(local_ip), &family, bytes);
    for (size_t i = 0; i < a->n; i++) {
        const struct advertise_entry *e = &a->entries[i];
        if (e->any)
            any = e;
        else if (have && e->family == family &&
                 memcmp(e->local, bytes, family == AF_INET ? 4 : 16) == 0)
            return e;
    }
    return any;
}
