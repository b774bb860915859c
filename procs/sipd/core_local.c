/* core_local - see core_local.h */
#include "core_local.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>

#include "log.h"

void core_local_peer(const struct core *c, const struct sipdest *src, Sb__SipPeer *peer, char *ip,
                     size_t iplen) {
    int port = 0;
    if (sipdest_addr_text(&src->addr, ip, iplen, &port) < 0)
        ip[0] = '\0';
    sb__sip_peer__init(peer);
    peer->transport = (char *)sipdest_transport_name(src->transport);
    peer->addr = ip;
    peer->port = (uint32_t)port;
    peer->sipd_instance = (uint32_t)c->cfg.instance;
}

/* The sipd instance named in a branch of ours (z9hG4bKsb<instance>x...), or -1. */
int core_local_branch_owner(struct sipmsg_str b) {
    size_t n = sizeof CORE_BRANCH_PREFIX - 1, i = n;
    int v = 0;
    if (b.len <= n || memcmp(b.ptr, CORE_BRANCH_PREFIX, n) != 0)
        return -1;
    for (; i < b.len && i < n + 4 && b.ptr[i] >= '0' && b.ptr[i] <= '9'; i++)
        v = v * 10 + (b.ptr[i] - '0');
    return i > n && i < b.len && b.ptr[i] == 'x' ? v : -1;
}

/* Hands a datagram to the sipd instance that owns its transaction (SipForward). */
void core_local_forward(struct core *c, int owner, const struct sipdest *src, const char *buf,
                        size_t len) {
    ipc_chan_t *ch = c->peers.sipd ? c->peers.sipd(c->peers.arg, owner) : NULL;
    if (!ch) {
        shm_count(c->slot, SHM_C_sip_rx_dropped, 1);
        log_ratelimited(LOG_WARN, "a response for sipd instance %d, which is not connected", owner);
        return;
    }
    Sb__SipPeer peer;
    char ip[64];
    core_local_peer(c, src, &peer, ip, sizeof ip);
    Sb__SipForward f = SB__SIP_FORWARD__INIT;
    f.data.data = (uint8_t *)buf;
    f.data.len = len;
    f.source = &peer;
    if (ipc_send_sip_forward(ch, &f) == 0)
        shm_count(c->slot, SHM_C_sip_forwarded, 1);
    else
        shm_count(c->slot, SHM_C_sip_rx_dropped, 1);
}

/* The UDP socket of ours for an address family, or -1. */
int core_local_udp_index(const struct core *c, int family) {
    for (int i = 0; i < c->nudp; i++)
        if (c->udp_family[i] == family)
            return i;
    return -1;
}

/* How we name ourselves to a peer at addr through socket i (a wildcard bind asks the
 * routing table which local address reaches addr). */
void core_local_for(const struct core *c, int i, const union sipdest_addr *to,
                    enum sipdest_transport transport, struct sipconv_local *l) {
    *l = c->udp_local[i];
    l->transport = transport;
    if (strcmp(l->host, "0.0.0.0") != 0 && strcmp(l->host, "::") != 0)
        return;
    int fd = socket(to->sa.sa_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    union sipdest_addr me;
    socklen_t len = sizeof me;
    socklen_t to_len = to->sa.sa_family == AF_INET6 ? sizeof to->sin6 : sizeof to->sin;
    int port;
    if (fd >= 0 && connect(fd, &to->sa, to_len) == 0 && getsockname(fd, &me.sa, &len) == 0)
        sipdest_addr_text(&me, l->host, sizeof l->host, &port);
    if (fd >= 0)
        close(fd);
}

/* Our name for the transport of t's responses. */
void core_local_of_dest(const struct core *c, const struct sipdest *d, struct sipconv_local *l) {
    int i = -1;
    for (int k = 0; k < c->nudp; k++)
        if (c->udp[k] == d->udp)
            i = k;
    if (i < 0)
        i = core_local_udp_index(c, d->addr.sa.sa_family);
    if (i < 0) {
        memset(l, 0, sizeof *l);
        snprintf(l->host, sizeof l->host, "127.0.0.1");
        l->port = 5060;
        l->transport = d->transport;
        return;
    }
    core_local_for(c, i, &d->addr, d->transport, l);
}
