/* sipdest - see sipdest.h */
#include "sipdest.h"

#include <errno.h>

#include "transport_tcp.h"
#include "transport_udp.h"

void sipdest_hold(struct sipdest *d) {
    if (sipdest_is_stream(d->transport) && d->tcp)
        tcp_conn_ref(d->tcp);
}

void sipdest_release(struct sipdest *d) {
    if (sipdest_is_stream(d->transport) && d->tcp)
        tcp_conn_unref(d->tcp);
    d->transport = SIPDEST_NONE;
    d->tcp = NULL;
    d->udp = NULL;
}

int sipdest_send(const struct sipdest *d, const char *buf, size_t len) {
    switch (d->transport) {
    case SIPDEST_UDP:
        return udp_send(d->udp, &d->addr.sa, d->addr_len, &d->local, buf, len);
    case SIPDEST_TCP:
    case SIPDEST_TLS:
        return tcp_send(d->tcp, buf, len);
    default:
        return -EINVAL;
    }
}

const char *sipdest_transport_name(enum sipdest_transport t) {
    return t == SIPDEST_UDP ? "udp" : t == SIPDEST_TCP ? "tcp" : t == SIPDEST_TLS ? "tls" : "none";
}
