/*
 * sipd - SIP transport and transactions (issue: SIP signaling core).
 * So far it runs the worker lifecycle only (lib/worker.h) and holds the SIP sockets master
 * bound for it (sip_udpN, sip_tcpN), so the ports are reserved for the cluster; it does
 * not read them yet. It keeps IPC connections to dialogd and routerd.
 */
#include <stdio.h>
#include <unistd.h>

#include "worker.h"

#define SIPD_MAX_SOCKETS 16

struct sipd {
    int fds[SIPD_MAX_SOCKETS];
    int nfds;
};

static int sipd_init(worker_t *w) {
    static struct sipd sipd;
    char name[24];
    for (int i = 0; i < CFG_MAX_ADDRS; i++) {
        static const char *const kinds[] = {"sip_udp", "sip_tcp"};
        for (int k = 0; k < 2 && sipd.nfds < SIPD_MAX_SOCKETS; k++) {
            snprintf(name, sizeof name, "%s%d", kinds[k], i);
            int fd = worker_take_fd(w, name);
            if (fd >= 0)
                sipd.fds[sipd.nfds++] = fd;
        }
    }
    w->role_ctx = &sipd;
    return 0;
}

static void sipd_stop(worker_t *w) {
    struct sipd *sipd = w->role_ctx;
    for (int i = 0; i < sipd->nfds; i++)
        close(sipd->fds[i]);
    sipd->nfds = 0;
}

static const struct worker_ops sipd_ops = {
    .role = SB_ROLE_sipd,
    .init = sipd_init,
    .stop = sipd_stop,
};

int main(int argc, char **argv) {
    return worker_main(argc, argv, &sipd_ops);
}
