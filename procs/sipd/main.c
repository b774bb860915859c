/*
 * sipd - SIP transport, parsing and transactions.
 * Reads SIP on the sockets master bound for it (sip_udpN: this instance's own
 * SO_REUSEPORT socket per sip_listen_udp address; sip_tcpN: listeners shared by every
 * instance), answers what it can itself (core.h), relays REGISTER to routerd and calls
 * to dialogd, and runs dialogd's requests as client transactions. The
 * work lives in core.c, transaction.c, sipmsg.c, transport_udp.c and transport_tcp.c;
 * this file is the worker's ops table (lib/worker.h).
 */
#include <stdio.h>
#include <sys/socket.h>
#include <string.h>
#include <unistd.h>

#include "advertise.h"
#include "core.h"
#include "log.h"
#include "sipmsg.h"
#include "transport_tcp.h"
#include "transport_udp.h"
#include "worker.h"

struct sipd {
    struct core *core;
    struct udp_sock *udp[CFG_MAX_ADDRS];
    int nudp;
    struct tcp_server *tcp;
    struct advertise advertise; /* the sip_advertise in use */
    struct srclimit_config limits; /* the sip_pike_* in use */
    struct contact_allow contact_allow; /* the register_contact_allow in use */
};

/* The per-source rates (sip_pike_*, window 100 ms..60 s, block 1 s..1 h) and the
 * transaction cap. */
static void limits_from(const cfg_t *cfg, struct core_config *cc) {
    long window = cfg_time_ms(cfg, CFG_sip_pike_window);
    long block = cfg_time_ms(cfg, CFG_sip_pike_block_time);
    cc->limits.pike.window_ms = (uint32_t)(window < 100 ? 100 : window > 60000 ? 60000 : window);
    block = (block + 999) / 1000;
    cc->limits.pike.block_s = (uint32_t)(block < 1 ? 1 : block > 3600 ? 3600 : block);
    cc->limits.pike.requests = (uint32_t)cfg_int(cfg, CFG_sip_pike_requests);
    cc->limits.pike.calls = (uint32_t)cfg_int(cfg, CFG_sip_pike_calls);
    cc->max_transactions = (size_t)cfg_int(cfg, CFG_sip_max_transactions);
}

/* The parameters sipd runs with; false when sip_advertise is bad (err says why). */
static bool config_from(const worker_t *w, struct core_config *cc, struct tcp_limits *tl, char *err,
                        size_t errlen) {
    memset(cc, 0, sizeof *cc);
    cc->t1_ms = (uint64_t)cfg_time_ms(w->cfg, CFG_sip_t1);
    cc->t2_ms = (uint64_t)cfg_time_ms(w->cfg, CFG_sip_t2);
    cc->t4_ms = (uint64_t)cfg_time_ms(w->cfg, CFG_sip_t4);
    cc->register_timeout_ms = (uint32_t)cfg_time_ms(w->cfg, CFG_register_timeout);
    cc->nat_keepalive_ms = (uint64_t)cfg_time_ms(w->cfg, CFG_nat_keepalive_interval);
    cc->nat_keepalive_misses = (unsigned)cfg_int(w->cfg, CFG_nat_keepalive_misses); /* 1..100 */
    cc->max_message = (size_t)cfg_int(w->cfg, CFG_sip_max_message);
    snprintf(cc->server, sizeof cc->server, "%s", cfg_str(w->cfg, CFG_sip_server_name));
    cc->instance = w->instance;
    cc->domains = w->domains;
    tl->max_message = cc->max_message;
    tl->idle_ms = (uint64_t)cfg_time_ms(w->cfg, CFG_sip_tcp_idle_timeout);
    tl->max_connections = (size_t)cfg_int(w->cfg, CFG_sip_tcp_max_connections);
    tl->max_per_source = (size_t)cfg_int(w->cfg, CFG_sip_tcp_max_per_source);
    limits_from(w->cfg, cc);
    char why[300];
    cc->auth = cfg_bool(w->cfg, CFG_sip_auth);
    if (netacl_parse(cfg_str(w->cfg, CFG_sip_trusted_peers), &cc->trusted, why, sizeof why) < 0) {
        snprintf(err, errlen, "%s: sip_trusted_peers: %s", cfg_file(w->cfg), why);
        return false;
    }
    if (advertise_parse(cfg_str(w->cfg, CFG_sip_advertise), &cc->advertise, why, sizeof why) < 0) {
        snprintf(err, errlen, "%s: sip_advertise: %s", cfg_file(w->cfg), why);
        return false;
    }
    if (srclimit_parse_exempt(cfg_str(w->cfg, CFG_sip_pike_exempt), &cc->limits, why,
                              sizeof why) < 0) {
        snprintf(err, errlen, "%s: sip_pike_exempt: %s", cfg_file(w->cfg), why);
        return false;
    }
    if (contact_allow_parse(cfg_str(w->cfg, CFG_register_contact_allow), &cc->contact_allow, why,
                            sizeof why) < 0) {
        snprintf(err, errlen, "%s: register_contact_allow: %s", cfg_file(w->cfg), why);
        return false;
    }
    return true;
}

static ipc_chan_t *pick_router(void *arg, uint64_t key) {
    return worker_peer_pick(arg, SB_ROLE_routerd, key);
}

static ipc_chan_t *pick_dialog(void *arg, uint64_t key) {
    return worker_peer_pick(arg, SB_ROLE_dialogd, key);
}

static ipc_chan_t *pick_dialog_instance(void *arg, int instance) {
    return worker_peer_role_instance(arg, SB_ROLE_dialogd, instance);
}

static ipc_chan_t *pick_sipd(void *arg, int instance) {
    return worker_peer_role_instance(arg, SB_ROLE_sipd, instance);
}

static int sipd_init(worker_t *w) {
    static struct sipd sipd; /* one per process, like the worker itself */
    struct core_config cc;
    struct tcp_limits tl;
    char name[24];
    int tcp_fds[TCP_MAX_LISTENERS], ntcp = 0;

    char err[400];
    sipmsg_library_init();
    if (!config_from(w, &cc, &tl, err, sizeof err))
        log_fatal("%s", err);
    struct core_peers peers = {pick_router, pick_dialog, pick_sipd, pick_dialog_instance, w};
    sipd.core = core_new(w->loop, &cc, w->slot, &peers);
    if (!sipd.core)
        log_fatal("sipd cannot start: out of memory, or no random bytes (getrandom) for its "
                  "tags and branches");
    core_set_index(sipd.core, w->shm);
    sipd.advertise = cc.advertise;
    sipd.limits = cc.limits;
    sipd.contact_allow = cc.contact_allow;
    w->role_ctx = &sipd;
    for (int i = 0; i < CFG_MAX_ADDRS; i++) {
        snprintf(name, sizeof name, "sip_udp%d", i);
        int fd = worker_take_fd(w, name);
        if (fd >= 0) {
            sipd.udp[sipd.nudp] =
                udp_open(w->loop, fd, cc.max_message, core_on_message, sipd.core, w->slot);
            if (!sipd.udp[sipd.nudp])
                return -1;
            core_add_udp(sipd.core, sipd.udp[sipd.nudp]);
            sipd.nudp++;
        }
        snprintf(name, sizeof name, "sip_tcp%d", i);
        fd = worker_take_fd(w, name);
        if (fd >= 0 && ntcp < TCP_MAX_LISTENERS)
            tcp_fds[ntcp++] = fd;
    }
    if (ntcp) {
        union sipaddr local;
        socklen_t len = sizeof local;
        int port = 0;
        char ip[64];
        if (getsockname(tcp_fds[0], &local.sa, &len) == 0)
            sipaddr_text(&local, ip, sizeof ip, &port);
        sipd.tcp = tcp_open(w->loop, tcp_fds, ntcp, &tl, core_on_message, sipd.core, w->slot);
        if (!sipd.tcp)
            return -1;
        core_set_tcp(sipd.core, sipd.tcp, port);
    }
    log_info("serving SIP on %d udp and %d tcp sockets", sipd.nudp, ntcp);
    return 0;
}

static void sipd_reload(worker_t *w, const cfg_t *old) {
    struct sipd *sipd = w->role_ctx;
    struct core_config cc;
    struct tcp_limits tl;
    char err[400];
    if (!config_from(w, &cc, &tl, err, sizeof err)) {
        log_error("%s; keeping the old addresses and exempt sources", err);
        cc.advertise = sipd->advertise;
        cc.limits = sipd->limits;
        cc.contact_allow = sipd->contact_allow;
    }
    sipd->advertise = cc.advertise;
    sipd->limits = cc.limits;
    sipd->contact_allow = cc.contact_allow;
    bool ok = core_set_config(sipd->core, &cc);
    for (int i = 0; i < sipd->nudp; i++)
        ok &= udp_set_max_message(sipd->udp[i], cc.max_message);
    if (!ok) {
        log_error("out of memory for sip_max_message %zu; keeping the old size", cc.max_message);
        tl.max_message = cc.max_message = (size_t)cfg_int(old, CFG_sip_max_message);
        core_set_config(sipd->core, &cc);
        for (int i = 0; i < sipd->nudp; i++)
            udp_set_max_message(sipd->udp[i], cc.max_message);
    }
    if (sipd->tcp)
        tcp_set_limits(sipd->tcp, &tl);
}

static void sipd_drained(void *arg) {
    worker_drained(arg);
}

static void sipd_drain(worker_t *w) {
    struct sipd *sipd = w->role_ctx;
    tcp_stop_accepting(sipd->tcp);
    log_info("draining: %zu transactions alive", core_transactions(sipd->core));
    core_drain(sipd->core, sipd_drained, w);
}

static void sipd_stop(worker_t *w) {
    struct sipd *sipd = w->role_ctx;
    if (!sipd)
        return;
    for (int i = 0; i < sipd->nudp; i++)
        udp_close(sipd->udp[i]);
    sipd->nudp = 0;
    core_set_tcp(sipd->core, NULL, 0);
    tcp_close(sipd->tcp);
    sipd->tcp = NULL;
    core_free(sipd->core);
    sipd->core = NULL;
    w->role_ctx = NULL;
}

static bool sipd_on_envelope(worker_t *w, ipc_chan_t *ch, Sb__Envelope *env) {
    struct sipd *sipd = w->role_ctx;
    return sipd && sipd->core && core_on_envelope(sipd->core, ch, env);
}

static void sipd_peer_closed(worker_t *w, ipc_chan_t *ch) {
    struct sipd *sipd = w->role_ctx;
    if (sipd && sipd->core)
        core_peer_closed(sipd->core, ch);
}

static const struct worker_ops sipd_ops = {
    .role = SB_ROLE_sipd,
    .init = sipd_init,
    .on_envelope = sipd_on_envelope,
    .peer_closed = sipd_peer_closed,
    .reload = sipd_reload,
    .drain = sipd_drain,
    .stop = sipd_stop,
};

int main(int argc, char **argv) {
    return worker_main(argc, argv, &sipd_ops);
}
