/* media_target - see media_target.h */
#include "media_target.h"

#include <errno.h>
#include <ifaddrs.h>
#include <string.h>

int media_targets_config(struct media_targets *t, const char *allow, char *why, size_t whylen) {
    struct media_targets n;
    memset(&n, 0, sizeof n);
    if (netacl_parse(allow, &n.allow, why, whylen) < 0)
        return -EINVAL;
    struct ifaddrs *ifs = NULL;
    if (getifaddrs(&ifs) == 0) {
        for (struct ifaddrs *i = ifs; i && n.n_own < MEDIA_OWN_MAX; i = i->ifa_next) {
            if (!i->ifa_addr ||
                (i->ifa_addr->sa_family != AF_INET && i->ifa_addr->sa_family != AF_INET6))
                continue;
            media_sa_t *o = &n.own[n.n_own++];
            memcpy(o, i->ifa_addr,
                   i->ifa_addr->sa_family == AF_INET6 ? sizeof o->v6 : sizeof o->v4);
            media_sa_set_port(o, 0);
            if (o->sa.sa_family == AF_INET6)
                o->v6.sin6_scope_id = 0;
        }
        freeifaddrs(ifs);
    }
    *t = n;
    return 0;
}

/* An IPv4-mapped IPv6 address as the IPv4 one; others as they are. */
static media_sa_t unmapped(const media_sa_t *a) {
    media_sa_t u = *a;
    if (a->sa.sa_family == AF_INET6 && IN6_IS_ADDR_V4MAPPED(&a->v6.sin6_addr)) {
        memset(&u, 0, sizeof u);
        u.v4.sin_family = AF_INET;
        memcpy(&u.v4.sin_addr, &a->v6.sin6_addr.s6_addr[12], 4);
    }
    return u;
}

enum media_target_kind media_target_kind(const struct media_targets *t, const media_sa_t *ip,
                                         const media_sa_t *extra) {
    media_sa_t a = unmapped(ip);
    if (media_sa_unspecified(&a))
        return MEDIA_TARGET_UNSPEC;
    if (a.sa.sa_family == AF_INET) {
        uint32_t h = ntohl(a.v4.sin_addr.s_addr);
        if ((h >> 24) == 127)
            return MEDIA_TARGET_LOOPBACK;
        if ((h >> 16) == 0xa9fe)
            return MEDIA_TARGET_LINKLOCAL;
        if ((h >> 28) == 0xe || h == 0xffffffffu)
            return MEDIA_TARGET_MULTICAST;
    } else {
        const struct in6_addr *x = &a.v6.sin6_addr;
        if (IN6_IS_ADDR_LOOPBACK(x))
            return MEDIA_TARGET_LOOPBACK;
        if (IN6_IS_ADDR_LINKLOCAL(x))
            return MEDIA_TARGET_LINKLOCAL;
        if (IN6_IS_ADDR_MULTICAST(x))
            return MEDIA_TARGET_MULTICAST;
    }
    if (extra && media_sa_ip_eq(&a, extra))
        return MEDIA_TARGET_LOOPBACK;
    for (size_t i = 0; i < t->n_own; i++)
        if (media_sa_ip_eq(&a, &t->own[i]))
            return MEDIA_TARGET_LOOPBACK;
    return MEDIA_TARGET_PUBLIC;
}

bool media_target_ok(const struct media_targets *t, const media_sa_t *ip,
                     const media_sa_t *signal_ip, const media_sa_t *extra) {
    enum media_target_kind k = media_target_kind(t, ip, extra);
    media_sa_t a = unmapped(ip);
    if (k == MEDIA_TARGET_PUBLIC ||
        (media_sa_set(&a) &&
         netacl_match_bytes(&t->allow, a.sa.sa_family, media_sa_bytes(&a))))
        return true;
    if (k == MEDIA_TARGET_UNSPEC || k == MEDIA_TARGET_MULTICAST || !signal_ip ||
        !media_sa_set(signal_ip))
        return false;
    return media_sa_ip_eq(ip, signal_ip) || media_target_kind(t, signal_ip, extra) == k;
}
