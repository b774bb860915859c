/* sipaddr - see sipaddr.h */
#include "sipaddr.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

int sipaddr_text(const union sipaddr *a, char *ip, size_t iplen, int *port) {
    if (a->sa.sa_family == AF_INET) {
        if (!inet_ntop(AF_INET, &a->sin.sin_addr, ip, (socklen_t)iplen))
            return -ENOSPC;
        *port = ntohs(a->sin.sin_port);
        return 0;
    }
    if (a->sa.sa_family == AF_INET6) {
        if (!inet_ntop(AF_INET6, &a->sin6.sin6_addr, ip, (socklen_t)iplen))
            return -ENOSPC;
        *port = ntohs(a->sin6.sin6_port);
        return 0;
    }
    return -EAFNOSUPPORT;
}

void sipaddr_set_port(union sipaddr *a, int port) {
    if (a->sa.sa_family == AF_INET)
        a->sin.sin_port = htons((uint16_t)port);
    else if (a->sa.sa_family == AF_INET6)
        a->sin6.sin6_port = htons((uint16_t)port);
}

int sipaddr_parse(const char *ip, int port, union sipaddr *a, socklen_t *len) {
    char buf[INET6_ADDRSTRLEN + 2];
    size_t n = ip ? strlen(ip) : 0;
    if (n >= 2 && ip[0] == '[' && ip[n - 1] == ']') {
        ip++;
        n -= 2;
    }
    if (n == 0 || n >= sizeof buf || port < 0 || port > 65535)
        return -EINVAL;
    memcpy(buf, ip, n);
    buf[n] = '\0';
    memset(a, 0, sizeof *a);
    if (inet_pton(AF_INET, buf, &a->sin.sin_addr) == 1) {
        a->sin.sin_family = AF_INET;
        a->sin.sin_port = htons((uint16_t)port);
        if (len)
            *len = sizeof a->sin;
        return 0;
    }
    if (inet_pton(AF_INET6, buf, &a->sin6.sin6_addr) == 1) {
        a->sin6.sin6_family = AF_INET6;
        a->sin6.sin6_port = htons((uint16_t)port);
        if (len)
            *len = sizeof a->sin6;
        return 0;
    }
    return -EINVAL;
}

void sipaddr_unmap(const union sipaddr *in, union sipaddr *out) {
    if (in->sa.sa_family == AF_INET6 && IN6_IS_ADDR_V4MAPPED(&in->sin6.sin6_addr)) {
        union sipaddr v4;
        memset(&v4, 0, sizeof v4);
        v4.sin.sin_family = AF_INET;
        v4.sin.sin_port = in->sin6.sin6_port;
        memcpy(&v4.sin.sin_addr, &in->sin6.sin6_addr.s6_addr[12], 4);
        *out = v4;
        return;
    }
    if (out != in)
        *out = *in;
}

bool sipaddr_same_host(const union sipaddr *a, const union sipaddr *b) {
    union sipaddr x, y;
    sipaddr_unmap(a, &x);
    sipaddr_unmap(b, &y);
    if (x.sa.sa_family != y.sa.sa_family)
        return false;
    if (x.sa.sa_family == AF_INET)
        return x.sin.sin_addr.s_addr == y.sin.sin_addr.s_addr;
    return x.sa.sa_family == AF_INET6 &&
           memcmp(&x.sin6.sin6_addr, &y.sin6.sin6_addr, sizeof x.sin6.sin6_addr) == 0;
}

bool sipaddr_equal(const union sipaddr *a, const union sipaddr *b) {
    union sipaddr x, y;
    sipaddr_unmap(a, &x);
    sipaddr_unmap(b, &y);
    if (!sipaddr_same_host(&x, &y))
        return false;
    return x.sa.sa_family == AF_INET ? x.sin.sin_port == y.sin.sin_port
                                     : x.sin6.sin6_port == y.sin6.sin6_port;
}

bool sipaddr_is_any(const union sipaddr *a) {
    if (a->sa.sa_family == AF_INET)
        return a->sin.sin_addr.s_addr == htonl(INADDR_ANY);
    return a->sa.sa_family == AF_INET6 && IN6_IS_ADDR_UNSPECIFIED(&a->sin6.sin6_addr);
}

enum sipaddr_scope sipaddr_scope(const union sipaddr *a) {
    union sipaddr x;
    sipaddr_unmap(a, &x);
    if (x.sa.sa_family == AF_INET) {
        uint32_t v = ntohl(x.sin.sin_addr.s_addr);
        if ((v >> 24) == 0)
            return SIPADDR_UNSPECIFIED;
        if ((v >> 24) == 127)
            return SIPADDR_LOOPBACK;
        if ((v >> 16) == 0xa9fe)
            return SIPADDR_LINK_LOCAL;
        if ((v >> 28) >= 0xe)
            return SIPADDR_MULTICAST;
        return SIPADDR_GLOBAL;
    }
    if (x.sa.sa_family != AF_INET6)
        return SIPADDR_UNSPECIFIED;
    const struct in6_addr *v6 = &x.sin6.sin6_addr;
    if (IN6_IS_ADDR_UNSPECIFIED(v6))
        return SIPADDR_UNSPECIFIED;
    if (IN6_IS_ADDR_LOOPBACK(v6))
        return SIPADDR_LOOPBACK;
    if (IN6_IS_ADDR_LINKLOCAL(v6))
        return SIPADDR_LINK_LOCAL;
    if (IN6_IS_ADDR_MULTICAST(v6))
        return SIPADDR_MULTICAST;
    return SIPADDR_GLOBAL;
}

const char *sipaddr_scope_name(enum sipaddr_scope s) {
    switch (s) {
    case SIPADDR_UNSPECIFIED:
        return "unspecified";
    case SIPADDR_LOOPBACK:
        return "loopback";
    case SIPADDR_LINK_LOCAL:
        return "link-local";
    case SIPADDR_MULTICAST:
        return "multicast";
    case SIPADDR_GLOBAL:
        break;
    }
    return "global";
}
