/* transport_udp - see transport_udp.h */
#include "transport_udp.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "stun.h"

#define UDP_OUT_MAX 64            /* datagrams queued before a flush */
#define UDP_OUT_BYTES (4 * 65536) /* bytes queued before a flush */
#define UDP_ROUNDS 8              /* recvmmsg calls per wake-up, for fairness */
/* room for one IP_PKTINFO or IPV6_PKTINFO control message (a dual-stack socket may get
 * either) */
#define UDP_CTL_SPACE                                                                              \
    (CMSG_SPACE(sizeof(struct in6_pktinfo)) + CMSG_SPACE(sizeof(struct in_pktinfo)))

struct udp_sock {
    uv_poll_t poll;
    uv_prepare_t prepare; /* flush before the loop sleeps */
    uv_check_t check;     /* flush after the loop's I/O */
    int fd;
    int handles_open;
    bool closing;
    udp_message_cb on_message;
    void *arg;
    struct shm_proc *slot;
    union sipaddr bound; /* getsockname: the address and port the socket is bound to */
    bool wildcard;       /* bound to 0.0.0.0 or [::]: each datagram names its local end */
    size_t max_message, slot_size;
    char *rx; /* UDP_BATCH buffers of slot_size */
    struct mmsghdr rx_msgs[UDP_BATCH];
    struct iovec rx_iov[UDP_BATCH];
    union sipaddr rx_addr[UDP_BATCH];
    char rx_ctl[UDP_BATCH][UDP_CTL_SPACE] __attribute__((aligned(8)));
    struct mmsghdr tx_msgs[UDP_OUT_MAX];
    struct iovec tx_iov[UDP_OUT_MAX];
    union sipaddr tx_addr[UDP_OUT_MAX];
    char tx_ctl[UDP_OUT_MAX][UDP_CTL_SPACE] __attribute__((aligned(8)));
    unsigned tx_count;
    size_t tx_used;
    char tx[UDP_OUT_BYTES];
};

static bool rx_alloc(struct udp_sock *u, size_t max_message) {
    size_t slot = (max_message < UDP_DATAGRAM_MAX ? max_message : UDP_DATAGRAM_MAX) + 1;
    char *rx = malloc(UDP_BATCH * slot);
    if (!rx)
        return false;
    free(u->rx);
    u->rx = rx;
    u->slot_size = slot;
    u->max_message = max_message;
    for (int i = 0; i < UDP_BATCH; i++) {
        u->rx_iov[i].iov_base = u->rx + (size_t)i * slot;
        u->rx_iov[i].iov_len = slot;
        memset(&u->rx_msgs[i], 0, sizeof u->rx_msgs[i]);
        u->rx_msgs[i].msg_hdr.msg_iov = &u->rx_iov[i];
        u->rx_msgs[i].msg_hdr.msg_iovlen = 1;
        u->rx_msgs[i].msg_hdr.msg_name = &u->rx_addr[i];
    }
    return true;
}

/* The local end of a received datagram: the address it was sent to (IP_PKTINFO's
 * ipi_spec_dst, IPV6_PKTINFO's ipi6_addr) at our port; the bound address without one. */
static void rx_local(const struct udp_sock *u, struct msghdr *h, union sipaddr *local) {
    *local = u->bound;
    if (!u->wildcard)
        return;
    for (struct cmsghdr *cm = CMSG_FIRSTHDR(h); cm; cm = CMSG_NXTHDR(h, cm)) {
        if (cm->cmsg_level == IPPROTO_IP && cm->cmsg_type == IP_PKTINFO) {
            struct in_pktinfo pi;
            memcpy(&pi, CMSG_DATA(cm), sizeof pi);
            memset(local, 0, sizeof *local);
            local->sin.sin_family = AF_INET;
            local->sin.sin_addr = pi.ipi_spec_dst;
            local->sin.sin_port =
                u->bound.sa.sa_family == AF_INET ? u->bound.sin.sin_port : u->bound.sin6.sin6_port;
            return;
        }
        if (cm->cmsg_level == IPPROTO_IPV6 && cm->cmsg_type == IPV6_PKTINFO) {
            struct in6_pktinfo pi;
            memcpy(&pi, CMSG_DATA(cm), sizeof pi);
            memset(local, 0, sizeof *local);
            local->sin6.sin6_family = AF_INET6;
            local->sin6.sin6_addr = pi.ipi6_addr;
            local->sin6.sin6_port = u->bound.sin6.sin6_port;
            if (IN6_IS_ADDR_LINKLOCAL(&pi.ipi6_addr))
                local->sin6.sin6_scope_id = (uint32_t)pi.ipi6_ifindex;
            sipaddr_unmap(local, local);
            return;
        }
    }
}

static void on_readable(uv_poll_t *p, int status, int events) {
    struct udp_sock *u = p->data;
    (void)events;
    if (status < 0) {
        log_ratelimited(LOG_WARN, "udp socket: %s", uv_strerror(status));
        return;
    }
    for (int round = 0; round < UDP_ROUNDS && !u->closing; round++) {
        for (int i = 0; i < UDP_BATCH; i++) {
            u->rx_msgs[i].msg_hdr.msg_namelen = sizeof u->rx_addr[i];
            u->rx_msgs[i].msg_hdr.msg_control = u->wildcard ? u->rx_ctl[i] : NULL;
            u->rx_msgs[i].msg_hdr.msg_controllen = u->wildcard ? sizeof u->rx_ctl[i] : 0;
        }
        int n = recvmmsg(u->fd, u->rx_msgs, UDP_BATCH, MSG_DONTWAIT, NULL);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                log_ratelimited(LOG_WARN, "udp recvmmsg: %s", strerror(errno));
            return;
        }
        for (int i = 0; i < n && !u->closing; i++) {
            size_t len = u->rx_msgs[i].msg_len;
            if ((u->rx_msgs[i].msg_hdr.msg_flags & MSG_TRUNC) || len > u->max_message) {
                shm_count(u->slot, SHM_C_sip_rx_dropped, 1);
                log_ratelimited(LOG_INFO, "dropped a datagram over sip_max_message (%zu bytes)",
                                u->max_message);
                continue;
            }
            struct sipdest src = {.transport = SIPDEST_UDP, .udp = u};
            src.addr = u->rx_addr[i];
            src.addr_len = u->rx_msgs[i].msg_hdr.msg_namelen;
            rx_local(u, &u->rx_msgs[i].msg_hdr, &src.local);
            const unsigned char *data = u->rx_iov[i].iov_base;
            if (stun_is_stun(data, len)) { /* RFC 5626 4.4.2 keepalive, never SIP */
                unsigned char answer[STUN_ANSWER_MAX];
                size_t n = stun_binding_answer(data, len, &src.addr, answer);
                if (n)
                    udp_send(u, &src.addr.sa, src.addr_len, &src.local, (const char *)answer, n);
                else
                    shm_count(u->slot, SHM_C_sip_rx_dropped, 1);
                continue;
            }
            u->on_message(u->arg, &src, u->rx_iov[i].iov_base, len);
        }
        if (n < UDP_BATCH)
            return;
    }
}

void udp_flush(struct udp_sock *u) {
    unsigned i = 0;
    while (i < u->tx_count) {
        int r = sendmmsg(u->fd, u->tx_msgs + i, u->tx_count - i, MSG_DONTWAIT);
        if (r > 0) {
            i += (unsigned)r;
            continue;
        }
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0 && (errno == EADDRNOTAVAIL || errno == EINVAL) &&
            u->tx_msgs[i].msg_hdr.msg_controllen) {
            /* the local address went away: let the kernel choose one */
            u->tx_msgs[i].msg_hdr.msg_control = NULL;
            u->tx_msgs[i].msg_hdr.msg_controllen = 0;
            continue;
        }
        if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            log_ratelimited(LOG_WARN, "udp send buffer full: %u responses dropped",
                            u->tx_count - i);
            break;
        }
        log_ratelimited(LOG_INFO, "udp send: %s", r < 0 ? strerror(errno) : "nothing sent");
        i++; /* that datagram cannot go; the others may */
    }
    u->tx_count = 0;
    u->tx_used = 0;
}

static void on_prepare(uv_prepare_t *h) {
    struct udp_sock *u = h->data;
    if (u->tx_count)
        udp_flush(u);
}

static void on_check(uv_check_t *h) {
    struct udp_sock *u = h->data;
    if (u->tx_count)
        udp_flush(u);
}

/* The control message that makes a datagram leave from local (wildcard sockets only);
 * its length, 0 for none. */
static size_t tx_control(const struct udp_sock *u, const union sipaddr *local, char *ctl) {
    if (!u->wildcard || !local)
        return 0;
    union sipaddr l;
    sipaddr_unmap(local, &l);
    if (sipaddr_is_any(&l))
        return 0;
    struct msghdr h = {.msg_control = ctl, .msg_controllen = UDP_CTL_SPACE};
    struct cmsghdr *cm = CMSG_FIRSTHDR(&h);
    memset(ctl, 0, UDP_CTL_SPACE);
    if (l.sa.sa_family == AF_INET) {
        struct in_pktinfo pi = {0};
        pi.ipi_spec_dst = l.sin.sin_addr;
        cm->cmsg_level = IPPROTO_IP;
        cm->cmsg_type = IP_PKTINFO;
        cm->cmsg_len = CMSG_LEN(sizeof pi);
        memcpy(CMSG_DATA(cm), &pi, sizeof pi);
        return CMSG_SPACE(sizeof pi);
    }
    if (l.sa.sa_family == AF_INET6 && u->bound.sa.sa_family == AF_INET6) {
        struct in6_pktinfo pi = {0};
        pi.ipi6_addr = l.sin6.sin6_addr;
        pi.ipi6_ifindex = l.sin6.sin6_scope_id;
        cm->cmsg_level = IPPROTO_IPV6;
        cm->cmsg_type = IPV6_PKTINFO;
        cm->cmsg_len = CMSG_LEN(sizeof pi);
        memcpy(CMSG_DATA(cm), &pi, sizeof pi);
        return CMSG_SPACE(sizeof pi);
    }
    return 0;
}

int udp_send(struct udp_sock *u, const struct sockaddr *addr, socklen_t addr_len,
             const union sipaddr *local, const char *buf, size_t len) {
    if (len > UDP_DATAGRAM_MAX || addr_len > sizeof u->tx_addr[0])
        return -EMSGSIZE;
    if (u->closing)
        return -EPIPE;
    if (u->tx_count == UDP_OUT_MAX || len > UDP_OUT_BYTES - u->tx_used)
        udp_flush(u);
    unsigned i = u->tx_count++;
    memcpy(u->tx + u->tx_used, buf, len);
    memcpy(&u->tx_addr[i], addr, addr_len);
    u->tx_iov[i].iov_base = u->tx + u->tx_used;
    u->tx_iov[i].iov_len = len;
    memset(&u->tx_msgs[i], 0, sizeof u->tx_msgs[i]);
    u->tx_msgs[i].msg_hdr.msg_name = &u->tx_addr[i];
    u->tx_msgs[i].msg_hdr.msg_namelen = addr_len;
    u->tx_msgs[i].msg_hdr.msg_iov = &u->tx_iov[i];
    u->tx_msgs[i].msg_hdr.msg_iovlen = 1;
    size_t ctl = tx_control(u, local, u->tx_ctl[i]);
    if (ctl) {
        u->tx_msgs[i].msg_hdr.msg_control = u->tx_ctl[i];
        u->tx_msgs[i].msg_hdr.msg_controllen = ctl;
    }
    u->tx_used += len;
    return 0;
}

struct udp_sock *udp_open(uv_loop_t *loop, int fd, size_t max_message, udp_message_cb on_message,
                          void *arg, struct shm_proc *slot) {
    struct udp_sock *u = calloc(1, sizeof *u);
    if (!u || !rx_alloc(u, max_message)) {
        free(u);
        close(fd);
        return NULL;
    }
    u->fd = fd;
    socklen_t blen = sizeof u->bound;
    if (getsockname(fd, &u->bound.sa, &blen) == 0 && sipaddr_is_any(&u->bound)) {
        /* RFC 3261 18.2.2 asks for the answer from the address the request went to */
        int on = 1;
        u->wildcard = true;
        if (u->bound.sa.sa_family == AF_INET6)
            setsockopt(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, &on, sizeof on);
        setsockopt(fd, IPPROTO_IP, IP_PKTINFO, &on, sizeof on); /* IPv4 (mapped) datagrams */
    }
    u->on_message = on_message;
    u->arg = arg;
    u->slot = slot;
    uv_poll_init(loop, &u->poll, fd); /* the fd is a socket: cannot fail but for EBADF */
    uv_prepare_init(loop, &u->prepare);
    uv_check_init(loop, &u->check);
    u->poll.data = u->prepare.data = u->check.data = u;
    u->handles_open = 3;
    uv_poll_start(&u->poll, UV_READABLE, on_readable);
    uv_prepare_start(&u->prepare, on_prepare);
    uv_check_start(&u->check, on_check);
    return u;
}

const union sipaddr *udp_bound(const struct udp_sock *u) {
    return &u->bound;
}

bool udp_is_wildcard(const struct udp_sock *u) {
    return u->wildcard;
}

bool udp_set_max_message(struct udp_sock *u, size_t max_message) {
    return max_message == u->max_message || rx_alloc(u, max_message);
}

static void udp_closed(uv_handle_t *h) {
    struct udp_sock *u = h->data;
    if (--u->handles_open > 0)
        return;
    close(u->fd);
    free(u->rx);
    free(u);
}

void udp_close(struct udp_sock *u) {
    if (!u || u->closing)
        return;
    udp_flush(u);
    u->closing = true;
    uv_close((uv_handle_t *)&u->poll, udp_closed);
    uv_close((uv_handle_t *)&u->prepare, udp_closed);
    uv_close((uv_handle_t *)&u->check, udp_closed);
}
