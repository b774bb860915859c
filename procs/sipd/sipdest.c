/* sipdest - see sipdest.h */
#include "sipdest.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>

#include "transport_tcp.h"
#include "transport_udp.h"

void sipdest_hold(struct sipdest *d) {
    if (d->transport == SIPDEST_TCP && d->tcp)
        tcp_conn_ref(d->tcp);
}

void sipdest_release(struct sipdest *d) {
    if (d->transport == SIPDEST_TCP && d->tcp)
        tcp_conn_unref(d->tcp);
    d->transport = SIPDEST_NONE;
    d->tcp = NULL;
    d->udp = NULL;
}

int sipdest_send(const struct sipdest *d, const char *buf, size_t len) {
    switch (d->transport) {
    case SIPDEST_UDP:
        return udp_send(d->udp, &d->addr.sa, d->addr_len, buf, len);
    case SIPDEST_TCP:
        return tcp_send(d->tcp, buf, len);
    default:
        return -EINVAL;
    }
}

const char *sipdest_transport_name(enum sipdest_transport t) {
    return t == SIPDEST_UDP ? "udp" : t == SIPDEST_TCP ? "tcp" : "none";
}

int sipdest_addr_text(const union sipdest_addr *a, char *ip, size_t iplen, int *port) {
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

void sipdest_addr_set_port(union sipdest_addr *a, int port) {
    if (a->sa.sa_family == AF_INET)
        a->sin.sin_port = htons((uint16_t)port);
    else if (a->sa.sa_family == AF_INET6)
        a->sin6.sin6_port = htons((uint16_t)port);
}
