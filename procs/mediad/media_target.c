/* media_target - see media_target.h */
#include "media_target.h"

#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <string.h>

int media_targets_config(struct media_targets *t, const char *allow, char *why, size_t whylen) {
    struct media_targets n;
    memset(&n, 0, sizeof n);
    if (res_cidr_list(allow, n.allow, RES_CIDR_MAX, &n.n_allow, why, whylen) < 0)
        return -EINVAL;
    struct ifaddrs *ifs = NULL;
    if (getifaddrs(&ifs) == 0) {
        for (struct ifaddrs *i = ifs; i && n.n_own < MEDIA_OWN_MAX; i = i->ifa_next)
            if (i->ifa_addr && i->ifa_addr->sa_family == AF_INET)
                n.own[n.n_own++] = ((struct sockaddr_in *)i->ifa_addr)->sin_addr.s_addr;
        freeifaddrs(ifs);
    }
    *t = n;
    return 0;
}

enum media_target_kind media_target_kind(const struct media_targets *t, uint32_t ip,
                                         uint32_t extra) {
    uint32_t h = ntohl(ip);
    if (h == 0)
        return MEDIA_TARGET_UNSPEC;
    if ((h >> 24) == 127)
        return MEDIA_TARGET_LOOPBACK;
    if ((h >> 16) == 0xa9fe)
        return MEDIA_TARGET_LINKLOCAL;
    if ((h >> 28) == 0xe || h == 0xffffffffu)
        return MEDIA_TARGET_MULTICAST;
    if (extra && ip == extra)
        return MEDIA_TARGET_LOOPBACK;
    for (size_t i = 0; i < t->n_own; i++)
        if (t->own[i] == ip)
            return MEDIA_TARGET_LOOPBACK;
    return MEDIA_TARGET_PUBLIC;
}

bool media_target_ok(const struct media_targets *t, uint32_t ip, uint32_t signal_ip,
                     uint32_t extra) {
    enum media_target_kind k = media_target_kind(t, ip, extra);
    if (k == MEDIA_TARGET_PUBLIC || res_cidr_match(t->allow, t->n_allow, AF_INET, &ip))
        return true;
    if (k == MEDIA_TARGET_UNSPEC || k == MEDIA_TARGET_MULTICAST || !signal_ip)
        return false;
    return ip == signal_ip || media_target_kind(t, signal_ip, extra) == k;
}
