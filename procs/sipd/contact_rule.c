/* contact_rule - see contact_rule.h */
#include "contact_rule.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int entry_parse(const char *s, size_t len, struct contact_allow_entry *e) {
    char text[64];
    if (len == 0 || len >= sizeof text)
        return -EINVAL;
    memcpy(text, s, len);
    text[len] = '\0';
    char *slash = strchr(text, '/');
    if (slash)
        *slash = '\0';
    memset(e, 0, sizeof *e);
    unsigned max;
    if (inet_pton(AF_INET, text, e->net) == 1) {
        e->family = AF_INET;
        max = 32;
    } else if (inet_pton(AF_INET6, text, e->net) == 1) {
        e->family = AF_INET6;
        max = 128;
    } else {
        return -EINVAL;
    }
    e->prefix = max;
    if (slash) {
        char *end;
        unsigned long bits = strtoul(slash + 1, &end, 10);
        if (!slash[1] || *end || bits > max)
            return -EINVAL;
        e->prefix = (unsigned)bits;
    }
    return 0;
}

int contact_allow_parse(const char *text, struct contact_allow *a, char *err, size_t errlen) {
    memset(a, 0, sizeof *a);
    for (const char *p = text; p && *p;) {
        p += strspn(p, " \t,");
        size_t len = strcspn(p, " \t,");
        if (len == 0)
            break;
        if (a->n == CONTACT_ALLOW_MAX || entry_parse(p, len, &a->entries[a->n]) < 0) {
            snprintf(err, errlen, "entry '%.*s': %s", (int)(len > 64 ? 64 : len), p,
                     a->n == CONTACT_ALLOW_MAX ? "too many entries"
                                               : "want an address or ADDRESS/BITS");
            memset(a, 0, sizeof *a);
            return -EINVAL;
        }
        a->n++;
        p += len;
    }
    return 0;
}

static bool prefix_match(const unsigned char *x, const unsigned char *net, unsigned bits) {
    unsigned whole = bits / 8, rest = bits % 8;
    if (memcmp(x, net, whole) != 0)
        return false;
    if (!rest)
        return true;
    unsigned char mask = (unsigned char)(0xff << (8 - rest));
    return (x[whole] & mask) == (net[whole] & mask);
}

bool contact_allow_has(const struct contact_allow *a, const union sipaddr *addr) {
    union sipaddr x;
    sipaddr_unmap(addr, &x);
    const unsigned char *bytes = x.sa.sa_family == AF_INET
                                     ? (const unsigned char *)&x.sin.sin_addr
                                     : (const unsigned char *)&x.sin6.sin6_addr;
    for (size_t i = 0; i < a->n; i++)
        if (a->entries[i].family == x.sa.sa_family &&
            prefix_match(bytes, a->entries[i].net, a->entries[i].prefix))
            return true;
    return false;
}

const char *contact_rule_refusal(const union sipaddr *contact, bool is_us,
                                 const union sipaddr *source, const struct contact_allow *allow) {
    if (allow && contact_allow_has(allow, contact))
        return NULL;
    if (is_us)
        return "Contact names this server";
    switch (sipaddr_scope(contact)) {
    case SIPADDR_GLOBAL:
        return NULL;
    case SIPADDR_LOOPBACK:
    case SIPADDR_LINK_LOCAL:
        /* the registering phone itself, on this host or on the link */
        return source && sipaddr_same_host(contact, source) ? NULL
               : sipaddr_scope(contact) == SIPADDR_LOOPBACK ? "Contact is a loopback address"
                                                            : "Contact is a link-local address";
    case SIPADDR_MULTICAST:
        return "Contact is a multicast or broadcast address";
    case SIPADDR_UNSPECIFIED:
        break;
    }
    return "Contact is an unspecified address";
}
