/* netacl - see netacl.h */
#include "netacl.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool prefix_equal(const uint8_t *a, const uint8_t *b, unsigned bits) {
    unsigned whole = bits / 8, rest = bits % 8;
    if (memcmp(a, b, whole) != 0)
        return false;
    if (!rest)
        return true;
    uint8_t mask = (uint8_t)(0xff << (8 - rest));
    return (a[whole] & mask) == (b[whole] & mask);
}

static int parse_into(const char *list, struct netacl *acl, char *why, size_t whylen) {
    const char *p = list ? list : "";
    for (;;) {
        p += strspn(p, " \t,");
        size_t len = strcspn(p, " \t,");
        if (!len)
            return 0;
        char text[64];
        if (len >= sizeof text) {
            snprintf(why, whylen, "'%.*s...': not an address or CIDR range", 20, p);
            return -EINVAL;
        }
        memcpy(text, p, len);
        text[len] = '\0';
        p += len;
        if (acl->n == NETACL_MAX) {
            snprintf(why, whylen, "more than %d entries", NETACL_MAX);
            return -E2BIG;
        }
        struct netacl_entry *e = &acl->e[acl->n];
        char *slash = strchr(text, '/');
        if (slash)
            *slash = '\0';
        unsigned max;
        if (inet_pton(AF_INET, text, e->addr) == 1) {
            e->family = AF_INET;
            max = 32;
        } else if (inet_pton(AF_INET6, text, e->addr) == 1) {
            e->family = AF_INET6;
            max = 128;
        } else {
            if (slash)
                *slash = '/';
            snprintf(why, whylen, "'%s': not an address or CIDR range", text);
            return -EINVAL;
        }
        e->prefix = max;
        if (slash) {
            char *end;
            unsigned long v = strtoul(slash + 1, &end, 10);
            if (!slash[1] || *end || v > max) {
                *slash = '/';
                snprintf(why, whylen, "'%s': bad prefix length", text);
                return -EINVAL;
            }
            e->prefix = (unsigned)v;
            uint8_t masked[16];
            memcpy(masked, e->addr, sizeof masked);
            for (unsigned bit = e->prefix; bit < max; bit++)
                masked[bit / 8] &= (uint8_t) ~(0x80 >> (bit % 8));
            if (memcmp(masked, e->addr, max / 8) != 0) {
                *slash = '/';
                snprintf(why, whylen, "'%s': host bits set under the prefix", text);
                return -EINVAL;
            }
        }
        acl->n++;
    }
}

int netacl_parse(const char *list, struct netacl *acl, char *why, size_t whylen) {
    memset(acl, 0, sizeof *acl);
    int rc = parse_into(list, acl, why, whylen);
    if (rc < 0)
        acl->n = 0;
    return rc;
}

bool netacl_match_bytes(const struct netacl *acl, int family, const void *addr) {
    for (unsigned i = 0; i < acl->n; i++)
        if (acl->e[i].family == family && prefix_equal(acl->e[i].addr, addr, acl->e[i].prefix))
            return true;
    return false;
}

bool netacl_match(const struct netacl *acl, const struct sockaddr *sa) {
    uint8_t addr[16];
    int family;
    if (sa->sa_family == AF_INET) {
        memcpy(addr, &((const struct sockaddr_in *)sa)->sin_addr, 4);
        family = AF_INET;
    } else if (sa->sa_family == AF_INET6) {
        const struct in6_addr *a6 = &((const struct sockaddr_in6 *)sa)->sin6_addr;
        if (IN6_IS_ADDR_V4MAPPED(a6)) {
            memcpy(addr, a6->s6_addr + 12, 4);
            family = AF_INET;
        } else {
            memcpy(addr, a6->s6_addr, 16);
            family = AF_INET6;
        }
    } else {
        return false;
    }
    return netacl_match_bytes(acl, family, addr);
}
