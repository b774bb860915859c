/* media_port - see media_port.h */
#include "media_port.h"

#include <errno.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#define MEDIA_SOCK_RCVBUF (1 << 20)

static int udp_bind(const media_sa_t *addr, int port) {
    int family = addr->sa.sa_family == AF_INET6 ? AF_INET6 : AF_INET;
    int fd = socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    int tos = 0xb8; /* EF, RFC 3246 */
    if (family == AF_INET6) {
        int on = 1;
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof on);
        setsockopt(fd, IPPROTO_IPV6, IPV6_TCLASS, &tos, sizeof tos);
    } else {
        setsockopt(fd, IPPROTO_IP, IP_TOS, &tos, sizeof tos);
    }
    /* room for bursts while the loop is busy elsewhere (the default holds ~280 packets);
     * only what is queued costs memory */
    int rcvbuf = MEDIA_SOCK_RCVBUF;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    media_sa_t a = *addr;
    a.sa.sa_family = (sa_family_t)family;
    media_sa_set_port(&a, port);
    if (bind(fd, &a.sa, media_sa_len(&a)) < 0) {
        int e = -errno;
        close(fd);
        return e;
    }
    return fd;
}

int media_port_pair_open(struct shm_media_pool *pool, int lo, int hi, const media_sa_t *addr,
                         int fds[2]) {
    int busy[MEDIA_PORT_TRIES], nbusy = 0, rc = -ENOSPC;
    int32_t pid = (int32_t)getpid();
    for (int t = 0; t < MEDIA_PORT_TRIES; t++) {
        int port = shm_media_port_alloc(pool, lo, hi, pid);
        if (port < 0) {
            rc = -ENOSPC;
            break;
        }
        int f1 = udp_bind(addr, port);
        int f2 = f1 >= 0 ? udp_bind(addr, port + 1) : f1;
        if (f1 >= 0 && f2 < 0)
            close(f1);
        if (f2 == -EMFILE || f2 == -ENFILE || f2 == -ENOBUFS || f2 == -ENOMEM) {
            /* out of descriptors or memory, not of ports: no other port will do */
            shm_media_port_free(pool, port, pid);
            rc = f2;
            break;
        }
        if (f1 < 0 || f2 < 0) { /* taken by another program: keep it claimed while we look */
            busy[nbusy++] = port;
            rc = -EADDRINUSE;
            continue;
        }
        fds[0] = f1;
        fds[1] = f2;
        rc = port;
        break;
    }
    for (int i = 0; i < nbusy; i++)
        shm_media_port_free(pool, busy[i], pid);
    return rc == -EADDRINUSE ? -ENOSPC : rc;
}

void media_port_pair_release(struct shm_media_pool *pool, int port) {
    shm_media_port_free(pool, port, (int32_t)getpid());
}
