/* core_local - see core_local.h */
#include "core_local.h"

#include <ifaddrs.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <sys/socket.h>

#include "log.h"
#include "sipnat.h"
#include "transport_udp.h"

void core_local_peer(const struct core *c, const struct sipdest *src, const sipmsg_t *m,
                     Sb__SipPeer *peer, struct core_peer_text *txt) {
    int port = 0, lport = 0;
    if (sipaddr_text(&src->addr, txt->ip, sizeof txt->ip, &port) < 0)
        txt->ip[0] = '\0';
    if (sipaddr_text(&src->local, txt->local, sizeof txt->local, &lport) < 0)
        txt->local[0] = '\0';
    sb__sip_peer__init(peer);
    peer->transport = (char *)sipdest_transport_name(src->transport);
    peer->addr = txt->ip;
    peer->port = (uint32_t)port;
    peer->sipd_instance = (uint32_t)c->cfg.instance;
    peer->local_addr = txt->local;
    peer->local_port = (uint32_t)lport;
    peer->conn_id = sipdest_is_stream(src->transport) ? tcp_conn_id(src->tcp) : 0;
    peer->nated = m && sipnat_detect(m, &src->addr);
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
    struct core_peer_text txt;
    core_local_peer(c, src, NULL, &peer, &txt);
    Sb__SipForward f = SB__SIP_FORWARD__INIT;
    f.data.data = (uint8_t *)buf;
    f.data.len = len;
    f.source = &peer;
    if (ipc_send_sip_forward(ch, &f) == 0)
        shm_count(c->slot, SHM_C_sip_forwarded, 1);
    else
        shm_count(c->slot, SHM_C_sip_rx_dropped, 1);
}

static int addr_port(const union sipaddr *a) {
    return a->sa.sa_family == AF_INET    ? ntohs(a->sin.sin_port)
           : a->sa.sa_family == AF_INET6 ? ntohs(a->sin6.sin6_port)
                                         : 0;
}

int core_local_udp_pick(const struct core *c, int family, const union sipaddr *local) {
    int best = -1, best_score = -1;
    union sipaddr want;
    if (local)
        sipaddr_unmap(local, &want);
    for (int i = 0; i < c->nudp; i++) {
        if (c->udp_family[i] != family)
            continue;
        const union sipaddr *b = udp_bound(c->udp[i]);
        int score = 0;
        if (local && want.sa.sa_family) {
            bool port_ok = addr_port(&want) == 0 || addr_port(&want) == addr_port(b);
            if (sipaddr_same_host(b, &want))
                score = port_ok ? 4 : 3;
            else if (udp_is_wildcard(c->udp[i]))
                score = port_ok ? 2 : 1;
        }
        if (score > best_score) {
            best = i;
            best_score = score;
        }
    }
    return best;
}

/* The local address the routing table picks to reach to (a connected UDP socket's). */
static void route_source(const union sipaddr *to, union sipaddr *me) {
    socklen_t to_len = to->sa.sa_family == AF_INET6 ? sizeof to->sin6 : sizeof to->sin;
    socklen_t len = sizeof *me;
    int fd = socket(to->sa.sa_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, &to->sa, to_len) < 0 || getsockname(fd, &me->sa, &len) < 0)
        memset(me, 0, sizeof *me);
    if (fd >= 0)
        close(fd);
}

void core_local_source(const struct core *c, struct sipdest *d) {
    (void)c;
    if (d->local.sa.sa_family)
        return;
    if (sipdest_is_stream(d->transport)) {
        if (d->tcp)
            d->local = *tcp_conn_local(d->tcp);
        return;
    }
    if (d->transport != SIPDEST_UDP || !d->udp)
        return;
    const union sipaddr *b = udp_bound(d->udp);
    if (!udp_is_wildcard(d->udp)) {
        d->local = *b;
        return;
    }
    union sipaddr me;
    route_source(&d->addr, &me);
    if (!me.sa.sa_family)
        return;
    sipaddr_set_port(&me, addr_port(b));
    d->local = me;
}

void core_local_name(const struct core *c, const struct sipdest *d,
                     enum sipdest_transport transport, struct sipconv_local *l) {
    memset(l, 0, sizeof *l);
    l->transport = transport;
    union sipaddr local;
    sipaddr_unmap(&d->local, &local);
    if (!local.sa.sa_family && d->transport == SIPDEST_UDP && d->udp)
        local = *udp_bound(d->udp);
    if (sipaddr_text(&local, l->host, sizeof l->host, &l->port) < 0) {
        snprintf(l->host, sizeof l->host, "127.0.0.1");
        l->port = 5060;
    }
    if (transport == SIPDEST_TCP && c->tcp_port)
        l->port = c->tcp_port; /* where our requests' responses may open a connection */
    if (transport == SIPDEST_TLS && c->tls_port)
        l->port = c->tls_port;
    const struct advertise_entry *e = advertise_lookup(&c->cfg.advertise, l->host);
    if (e) {
        snprintf(l->host, sizeof l->host, "%s", e->host);
        if (e->port)
            l->port = e->port;
    }
}

static int port_of(const union sipaddr *a) {
    return ntohs(a->sa.sa_family == AF_INET ? a->sin.sin_port : a->sin6.sin6_port);
}

/* A port a socket of ours is bound to, or the TCP listener's. */
static bool our_port(const struct core *c, int port) {
    if (c->tcp_port == port)
        return true;
    for (int i = 0; i < c->nudp; i++)
        if (port_of(udp_bound(c->udp[i])) == port)
            return true;
    return false;
}

/* An address of one of this host's interfaces (every 127/8 address is the loopback's). */
static bool interface_address(const union sipaddr *a) {
    union sipaddr x;
    sipaddr_unmap(a, &x);
    if (sipaddr_scope(&x) == SIPADDR_LOOPBACK)
        return true;
    struct ifaddrs *list = NULL;
    if (getifaddrs(&list) < 0)
        return false;
    bool found = false;
    for (struct ifaddrs *i = list; i && !found; i = i->ifa_next) {
        if (!i->ifa_addr ||
            (i->ifa_addr->sa_family != AF_INET && i->ifa_addr->sa_family != AF_INET6))
            continue;
        union sipaddr y;
        memset(&y, 0, sizeof y);
        memcpy(&y, i->ifa_addr, i->ifa_addr->sa_family == AF_INET ? sizeof y.sin : sizeof y.sin6);
        found = sipaddr_same_host(&x, &y);
    }
    freeifaddrs(list);
    return found;
}

bool core_local_is_us(const struct core *c, const char *host, int port) {
    if (!port)
        port = 5060;
    bool ours = our_port(c, port);
    for (size_t i = 0; i < c->cfg.advertise.n; i++) {
        const struct advertise_entry *e = &c->cfg.advertise.entries[i];
        if (strcasecmp(e->host, host) == 0 && (e->port ? e->port == port : ours))
            return true;
    }
    union sipaddr a;
    if (!ours || sipaddr_parse(host, port, &a, NULL) < 0)
        return false;
    bool wildcard = false;
    for (int i = 0; i < c->nudp; i++) {
        const union sipaddr *b = udp_bound(c->udp[i]);
        if (udp_is_wildcard(c->udp[i]))
            wildcard = true;
        else if (sipaddr_same_host(b, &a))
            return true;
    }
    return wildcard && interface_address(&a);
}

bool core_local_via_is_ours(const struct core *c, const struct sipmsg_via *via) {
    char host[256];
    if (core_local_branch_owner(via->branch) < 0 || !via->host.len || via->host.len >= sizeof host)
        return false;
    memcpy(host, via->host.ptr, via->host.len);
    host[via->host.len] = '\0';
    return core_local_is_us(c, host, via->port);
}
