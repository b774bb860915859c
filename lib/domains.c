/* domains - see domains.h */
#include "domains.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct domains {
    char name[DOMAINS_MAX_HOST]; /* as an AOR host */
    char **names;                /* lower case */
    size_t nnames;
    struct in_addr *v4;
    size_t nv4;
    struct in6_addr *v6;
    size_t nv6;
    bool loopback; /* 127.0.0.0/8 and ::1 (sip_auto_aliases) */
};

enum host_kind { HOST_BAD, HOST_NAME, HOST_V4, HOST_V6 };

static const char list_sep[] = " \t,";

static bool host_char(unsigned char c) {
    return isalnum(c) || c == '-' || c == '.' || c == '_';
}

/* RFC 3261 25.1: unreserved and user-unreserved, the characters a user part may hold as
 * themselves. */
static bool user_char(unsigned char c) {
    return isalnum(c) || (c && strchr("-_.!~*'()&=+$,;?/", c));
}

static int hex_value(char c) {
    if (c >= '0' && c <= '9')
        return c - '0';
    c = (char)tolower((unsigned char)c);
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* What host (len bytes, no port) is: a name, an IPv4 address or an IPv6 address (with or
 * without brackets; an IPv4-mapped one counts as its IPv4 address). */
static enum host_kind host_kind(const char *host, size_t len, struct in_addr *a4,
                                struct in6_addr *a6) {
    char buf[DOMAINS_MAX_HOST];
    bool bracketed = len >= 2 && host[0] == '[' && host[len - 1] == ']';
    if (bracketed) {
        host++;
        len -= 2;
    }
    if (len == 0 || len >= sizeof buf || memchr(host, '\0', len))
        return HOST_BAD;
    memcpy(buf, host, len);
    buf[len] = '\0';
    if (bracketed || strchr(buf, ':')) {
        if (inet_pton(AF_INET6, buf, a6) != 1)
            return HOST_BAD;
        if (IN6_IS_ADDR_V4MAPPED(a6)) {
            memcpy(&a4->s_addr, &a6->s6_addr[12], 4);
            return HOST_V4;
        }
        return HOST_V6;
    }
    if (inet_pton(AF_INET, buf, a4) == 1)
        return HOST_V4;
    for (size_t i = 0; i < len; i++)
        if (!host_char((unsigned char)buf[i]))
            return HOST_BAD;
    return HOST_NAME;
}

/* One entry of a sip_domains list: its kind, or HOST_BAD with why. */
static enum host_kind entry_kind(const char *e, size_t len, struct in_addr *a4, struct in6_addr *a6,
                                 char *why, size_t whylen) {
    enum host_kind k = host_kind(e, len, a4, a6);
    bool numeric = k == HOST_NAME;
    for (size_t i = 0; i < len && numeric; i++)
        numeric = isdigit((unsigned char)e[i]) || e[i] == '.';
    if (numeric) /* 10.1.1 or 300.1.1.1: a mistyped address, never a name of ours */
        k = HOST_BAD;
    if (k == HOST_BAD)
        snprintf(why, whylen, "'%.*s' is neither a host name nor a numeric address%s",
                 (int)(len > 80 ? 80 : len), e,
                 memchr(e, ':', len) ? " (and a domain has no port)" : "");
    return k;
}

int domains_check(const char *list, char *why, size_t whylen) {
    const char *p = list ? list : "";
    for (p += strspn(p, list_sep); *p; p += strspn(p, list_sep)) {
        size_t len = strcspn(p, list_sep);
        struct in_addr a4;
        struct in6_addr a6;
        if (entry_kind(p, len, &a4, &a6, why, whylen) == HOST_BAD)
            return -1;
        p += len;
    }
    return 0;
}

static bool push(void **arr, size_t *n, size_t size, const void *item) {
    void *grown = realloc(*arr, (*n + 1) * size);
    if (!grown)
        return false;
    memcpy((char *)grown + *n * size, item, size);
    *arr = grown;
    (*n)++;
    return true;
}

static bool add_name(domains_t *d, const char *s, size_t len) {
    char *copy = malloc(len + 1);
    if (!copy)
        return false;
    for (size_t i = 0; i < len; i++)
        copy[i] = (char)tolower((unsigned char)s[i]);
    copy[len] = '\0';
    if (!push((void **)&d->names, &d->nnames, sizeof copy, &copy)) {
        free(copy);
        return false;
    }
    return true;
}

/* The local addresses of every interface. */
static int add_local(domains_t *d, char *why, size_t whylen) {
    struct ifaddrs *ifa = NULL;
    if (getifaddrs(&ifa) < 0) {
        snprintf(why, whylen, "getifaddrs: %s", strerror(errno));
        return -1;
    }
    bool ok = true;
    for (struct ifaddrs *i = ifa; i && ok; i = i->ifa_next) {
        if (!i->ifa_addr)
            continue;
        if (i->ifa_addr->sa_family == AF_INET)
            ok = push((void **)&d->v4, &d->nv4, sizeof *d->v4,
                      &((struct sockaddr_in *)(void *)i->ifa_addr)->sin_addr);
        else if (i->ifa_addr->sa_family == AF_INET6)
            ok = push((void **)&d->v6, &d->nv6, sizeof *d->v6,
                      &((struct sockaddr_in6 *)(void *)i->ifa_addr)->sin6_addr);
    }
    freeifaddrs(ifa);
    if (!ok)
        snprintf(why, whylen, "out of memory");
    return ok ? 0 : -1;
}

/* The domain's name from the first entry, as an AOR host. */
static void set_name(domains_t *d, const char *e, size_t len) {
    bool brackets = memchr(e, ':', len) && e[0] != '['; /* IPv6, IPv4-mapped included */
    size_t n = 0;
    if (brackets)
        d->name[n++] = '[';
    for (size_t i = 0; i < len; i++) /* fits: host_kind took it (< DOMAINS_MAX_HOST) */
        d->name[n++] = (char)tolower((unsigned char)e[i]);
    if (brackets)
        d->name[n++] = ']';
    d->name[n] = '\0';
}

domains_t *domains_new(const char *list, bool auto_aliases, char *why, size_t whylen) {
    domains_t *d = calloc(1, sizeof *d);
    if (!d) {
        snprintf(why, whylen, "out of memory");
        return NULL;
    }
    d->loopback = auto_aliases;
    const char *p = list ? list : "";
    bool ok = true;
    for (p += strspn(p, list_sep); *p && ok; p += strspn(p, list_sep)) {
        size_t len = strcspn(p, list_sep);
        struct in_addr a4;
        struct in6_addr a6;
        enum host_kind k = entry_kind(p, len, &a4, &a6, why, whylen);
        if (k == HOST_BAD) {
            domains_free(d);
            return NULL;
        }
        if (!d->name[0])
            set_name(d, p, len);
        ok = k == HOST_NAME ? add_name(d, p, len)
             : k == HOST_V4 ? push((void **)&d->v4, &d->nv4, sizeof a4, &a4)
                            : push((void **)&d->v6, &d->nv6, sizeof a6, &a6);
        if (!ok)
            snprintf(why, whylen, "out of memory");
        p += len;
    }
    if (ok && !d->name[0])
        snprintf(d->name, sizeof d->name, "%s", DOMAINS_DEFAULT_NAME);
    /* localhost is the default domain's name, and the loopback addresses' */
    if (ok && (auto_aliases || strcmp(d->name, DOMAINS_DEFAULT_NAME) == 0)) {
        ok = add_name(d, DOMAINS_DEFAULT_NAME, strlen(DOMAINS_DEFAULT_NAME));
        if (!ok)
            snprintf(why, whylen, "out of memory");
    }
    if (ok && auto_aliases)
        ok = add_local(d, why, whylen) == 0;
    if (!ok) {
        domains_free(d);
        return NULL;
    }
    return d;
}

void domains_free(domains_t *d) {
    if (!d)
        return;
    for (size_t i = 0; i < d->nnames; i++)
        free(d->names[i]);
    free(d->names);
    free(d->v4);
    free(d->v6);
    free(d);
}

const char *domains_name(const domains_t *d) {
    return d ? d->name : DOMAINS_DEFAULT_NAME;
}

size_t domains_addr_count(const domains_t *d) {
    return d ? d->nv4 + d->nv6 : 0;
}

static bool ours_kind(const domains_t *d, enum host_kind k, const char *host, size_t len,
                      const struct in_addr *a4, const struct in6_addr *a6) {
    switch (k) {
    case HOST_BAD:
        return false;
    case HOST_NAME:
        if (!d)
            return len == strlen(DOMAINS_DEFAULT_NAME) &&
                   strncasecmp(host, DOMAINS_DEFAULT_NAME, len) == 0;
        for (size_t i = 0; i < d->nnames; i++)
            if (strlen(d->names[i]) == len && strncasecmp(d->names[i], host, len) == 0)
                return true;
        return false;
    case HOST_V4:
        if (!d)
            return false;
        if (d->loopback && (ntohl(a4->s_addr) >> 24) == 127)
            return true;
        for (size_t i = 0; i < d->nv4; i++)
            if (d->v4[i].s_addr == a4->s_addr)
                return true;
        return false;
    case HOST_V6:
        if (!d)
            return false;
        if (d->loopback && IN6_IS_ADDR_LOOPBACK(a6))
            return true;
        for (size_t i = 0; i < d->nv6; i++)
            if (memcmp(&d->v6[i], a6, sizeof *a6) == 0)
                return true;
        return false;
    }
    return false;
}

bool domains_ours(const domains_t *d, const char *host, size_t len) {
    struct in_addr a4;
    struct in6_addr a6;
    return ours_kind(d, host_kind(host, len, &a4, &a6), host, len, &a4, &a6);
}

/* The host part of hostport (len bytes): without ;parameters, ?headers and :port. False
 * when the port is not digits. */
static bool host_part(const char *s, size_t len, size_t *hlen) {
    size_t end = 0;
    while (end < len && s[end] != ';' && s[end] != '?')
        end++;
    size_t h = end;
    if (end && s[0] == '[') {
        const char *close = memchr(s, ']', end);
        if (!close)
            return false;
        h = (size_t)(close - s) + 1;
    } else {
        const char *colon = memchr(s, ':', end);
        if (colon && !memchr(colon + 1, ':', end - (size_t)(colon + 1 - s)))
            h = (size_t)(colon - s); /* host:port; a bare IPv6 address stays whole */
    }
    if (h < end) {
        if (s[h] != ':' || h + 1 == end || end - h - 1 > 5)
            return false;
        for (size_t i = h + 1; i < end; i++)
            if (!isdigit((unsigned char)s[i]))
                return false;
    }
    *hlen = h;
    return true;
}

int domains_host(const domains_t *d, const char *host, size_t host_len, char *out, size_t cap) {
    size_t hlen = 0;
    if (host_len && !host_part(host, host_len, &hlen))
        return -EINVAL;
    const char *canon = domains_name(d);
    size_t clen = strlen(canon);
    bool brackets = false;
    if (hlen) {
        struct in_addr a4;
        struct in6_addr a6;
        enum host_kind k = host_kind(host, hlen, &a4, &a6);
        if (k == HOST_BAD)
            return -EINVAL;
        if (!ours_kind(d, k, host, hlen, &a4, &a6)) {
            canon = host;
            clen = hlen;
            brackets = memchr(host, ':', hlen) && host[0] != '['; /* IPv6 */
        }
    }
    if (clen + 2 * brackets >= cap)
        return -ENOSPC;
    size_t n = 0;
    if (brackets)
        out[n++] = '[';
    for (size_t i = 0; i < clen; i++)
        out[n++] = (char)tolower((unsigned char)canon[i]);
    if (brackets)
        out[n++] = ']';
    out[n] = '\0';
    return (int)n;
}

int domains_aor(const domains_t *d, const char *user, size_t user_len, const char *host,
                size_t host_len, char *out, size_t cap) {
    static const char hex[] = "0123456789ABCDEF";
    char canon[DOMAINS_MAX_HOST + 2];
    int clen = domains_host(d, host, host_len, canon, sizeof canon);
    if (clen < 0)
        return clen; /* -EINVAL: host_kind takes no host longer than canon */
    size_t n = 0;
#define AOR_PUT(c)                                                                                 \
    do {                                                                                           \
        if (n + 1 >= cap)                                                                          \
            return -ENOSPC;                                                                        \
        out[n++] = (char)(c);                                                                      \
    } while (0)
    for (const char *s = "sip:"; *s; s++)
        AOR_PUT(*s);
    for (size_t i = 0; i < user_len; i++) {
        unsigned char c = (unsigned char)user[i];
        if (c == '%' && i + 2 < user_len && hex_value(user[i + 1]) >= 0 &&
            hex_value(user[i + 2]) >= 0) {
            c = (unsigned char)(hex_value(user[i + 1]) * 16 + hex_value(user[i + 2]));
            i += 2;
        }
        if (user_char(c)) {
            AOR_PUT(c);
        } else {
            AOR_PUT('%');
            AOR_PUT(hex[c >> 4]);
            AOR_PUT(hex[c & 15]);
        }
    }
    if (user_len)
        AOR_PUT('@');
    for (int i = 0; i < clen; i++)
        AOR_PUT(canon[i]);
#undef AOR_PUT
    if (cap == 0)
        return -ENOSPC;
    out[n] = '\0';
    return (int)n;
}

int domains_aor_text(const domains_t *d, const char *text, size_t len, char *out, size_t cap) {
    size_t skip;
    if (len >= 4 && strncasecmp(text, "sip:", 4) == 0)
        skip = 4;
    else if (len >= 5 && strncasecmp(text, "sips:", 5) == 0)
        skip = 5;
    else
        return -EINVAL;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)text[i];
        if (c <= ' ' || c == 0x7f || c == '<' || c == '>' || c == '"')
            return -EINVAL;
    }
    const char *rest = text + skip, *end = text + len;
    const char *at = memchr(rest, '@', (size_t)(end - rest));
    const char *user = rest, *host = rest;
    size_t user_len = 0;
    if (at) {
        const char *pw = memchr(rest, ':', (size_t)(at - rest));
        user_len = (size_t)((pw ? pw : at) - rest);
        if (user_len == 0)
            return -EINVAL;
        host = at + 1;
    }
    if (host == end || *host == ';' || *host == '?' || *host == ':')
        return -EINVAL; /* an AOR names its host */
    return domains_aor(d, user, user_len, host, (size_t)(end - host), out, cap);
}
