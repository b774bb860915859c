/*
 * sipd - SIP transport, parsing and transactions.
 * Reads SIP on the sockets master bound for it (sip_udpN: this instance's own
 * SO_REUSEPORT socket per sip_listen_udp address; sip_tcpN and sip_tlsN: listeners shared
 * by every instance), answers what it can itself (core.h), relays REGISTER to routerd and
 * calls to dialogd, and runs dialogd's requests as client transactions. The work lives in
 * core.c, transaction.c, sipmsg.c, transport_udp.c, transport_tcp.c and transport_tls.c;
 * this file is the worker's ops table (lib/worker.h) and loads the TLS certificate (read
 * as root before the privilege drop, and from master's RELOAD control at a reload).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <string.h>
#include <unistd.h>

#include "advertise.h"
#include "core.h"
#include "log.h"
#include "sipmsg.h"
#include "tlsfiles.h"
#include "transport_tcp.h"
#include "transport_tls.h"
#include "transport_udp.h"
#include "worker.h"

#include <openssl/crypto.h>

struct sipd {
    struct core *core;
    struct udp_sock *udp[CFG_MAX_ADDRS];
    int nudp;
    struct tcp_server *tcp;
    struct advertise advertise; /* the sip_advertise in use */
    struct srclimit_config limits; /* the sip_pike_* in use */
    struct contact_allow contact_allow; /* the register_contact_allow in use */
    char *tls_cert, *tls_key;      /* PEM of sip_tls_cert / sip_tls_key read as root, or NULL */
    size_t tls_cert_len, tls_key_len;
};

/* One per process, like the worker itself. */
static struct sipd *sipd_state(void) {
    static struct sipd sipd;
    return &sipd;
}

/* Reads sip_tls_cert and sip_tls_key into sipd (the old ones kept on failure). */
static int tls_read_files(struct sipd *sipd, const cfg_t *cfg, char *err, size_t errlen) {
    struct tlsfiles tf;
    if (tlsfiles_read(cfg, &tf, err, errlen) < 0)
        return -1;
    free(sipd->tls_cert);
    if (sipd->tls_key)
        OPENSSL_cleanse(sipd->tls_key, sipd->tls_key_len);
    free(sipd->tls_key);
    sipd->tls_cert = tf.cert;
    sipd->tls_cert_len = tf.cert_len;
    sipd->tls_key = tf.key;
    sipd->tls_key_len = tf.key_len;
    return 0;
}

/* The TLS contexts from the PEM in sipd and sip_tls_ca; 0, or -1 with err (server side). */
static int tls_contexts(struct sipd *sipd, const cfg_t *cfg, struct tls_ctx **server,
                        struct tls_ctx **client, char *err, size_t errlen) {
    char why[300];
    *server = *client = NULL;
    if (sipd->tls_cert) {
        *server = tls_ctx_server_new(sipd->tls_cert, sipd->tls_cert_len, sipd->tls_key,
                                     sipd->tls_key_len, why, sizeof why);
        if (!*server) {
            snprintf(err, errlen, "%s: sip_tls_cert %s, sip_tls_key %s: %s", cfg_file(cfg),
                     cfg_str(cfg, CFG_sip_tls_cert), cfg_str(cfg, CFG_sip_tls_key), why);
            return -1;
        }
        char fp[65];
        tls_ctx_fingerprint(*server, fp);
        log_info("sip tls certificate sha256 %s", fp);
    }
    *client = tls_ctx_client_new(cfg_str(cfg, CFG_sip_tls_ca), why, sizeof why);
    if (!*client)
        log_warn("%s: sip_tls_ca %s: %s: no TLS towards sips: targets", cfg_file(cfg),
                 cfg_str(cfg, CFG_sip_tls_ca), why);
    return 0;
}

/* Before the privilege drop: the certificate and key may be readable by root only. */
static int sipd_init_privileged(worker_t *w) {
    char err[400];
    if (*cfg_str(w->cfg, CFG_sip_tls_cert) &&
        tls_read_files(sipd_state(), w->cfg, err, sizeof err) < 0)
        log_fatal("%s", err);
    return 0;
}

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

/* The port a listening socket is bound to, 0 when unknown (fd -1). */
static int listen_port(int fd) {
    union sipaddr local;
    socklen_t len = sizeof local;
    int port = 0;
    char ip[64];
    if (fd >= 0 && getsockname(fd, &local.sa, &len) == 0)
        sipaddr_text(&local, ip, sizeof ip, &port);
    return port;
}

static int sipd_init(worker_t *w) {
    struct sipd *sp = sipd_state();
    struct core_config cc;
    struct tcp_limits tl;
    char name[24];
    int tcp_fds[TCP_MAX_LISTENERS], tls_fds[TCP_MAX_LISTENERS], ntcp = 0, ntls = 0;

    char err[400];
    sipmsg_library_init();
    if (!config_from(w, &cc, &tl, err, sizeof err))
        log_fatal("%s", err);
    struct core_peers peers = {pick_router, pick_dialog, pick_sipd, pick_dialog_instance, w};
    sp->core = core_new(w->loop, &cc, w->slot, &peers);
    if (!sp->core)
        log_fatal("sipd cannot start: out of memory, or no random bytes (getrandom) for its "
                  "tags and branches");
    core_set_index(sp->core, w->shm);
    sp->advertise = cc.advertise;
    sp->limits = cc.limits;
    sp->contact_allow = cc.contact_allow;
    w->role_ctx = sp;
    for (int i = 0; i < CFG_MAX_ADDRS; i++) {
        snprintf(name, sizeof name, "sip_udp%d", i);
        int fd = worker_take_fd(w, name);
        if (fd >= 0) {
            sp->udp[sp->nudp] =
                udp_open(w->loop, fd, cc.max_message, core_on_message, sp->core, w->slot);
            if (!sp->udp[sp->nudp])
                return -1;
            core_add_udp(sp->core, sp->udp[sp->nudp]);
            sp->nudp++;
        }
        snprintf(name, sizeof name, "sip_tcp%d", i);
        fd = worker_take_fd(w, name);
        if (fd >= 0 && ntcp < TCP_MAX_LISTENERS)
            tcp_fds[ntcp++] = fd;
        snprintf(name, sizeof name, "sip_tls%d", i);
        fd = worker_take_fd(w, name);
        if (fd >= 0 && ntls < TCP_MAX_LISTENERS)
            tls_fds[ntls++] = fd;
    }
    if (ntcp + ntls > TCP_MAX_LISTENERS)
        log_fatal("more than %d TCP and TLS listeners", TCP_MAX_LISTENERS);
    if (ntls && !sp->tls_cert)
        log_fatal("%s: sip_listen_tls needs sip_tls_cert and sip_tls_key", cfg_file(w->cfg));
    if (ntcp + ntls) {
        int port = listen_port(ntcp ? tcp_fds[0] : -1),
            tls_port = listen_port(ntls ? tls_fds[0] : -1);
        for (int i = 0; i < ntls; i++)
            tcp_fds[ntcp + i] = tls_fds[i];
        sp->tcp =
            tcp_open(w->loop, tcp_fds, ntcp + ntls, ntls, &tl, core_on_message, sp->core, w->slot);
        if (!sp->tcp)
            return -1;
        struct tls_ctx *server, *client;
        if (tls_contexts(sp, w->cfg, &server, &client, err, sizeof err) < 0)
            log_fatal("%s", err);
        tcp_set_tls(sp->tcp, server, client);
        core_set_tcp(sp->core, sp->tcp, port, tls_port);
    }
    log_info("serving SIP on %d udp, %d tcp and %d tls sockets", sp->nudp, ntcp, ntls);
    return 0;
}

/* Takes copies of the PEM master read for this reload (it runs as root); false when it
 * sent none. */
static bool tls_take_control(struct sipd *sipd, const Sb__Control *c) {
    if (!c || !c->sip_tls_cert_pem.len || !c->sip_tls_key_pem.len)
        return false;
    char *cert = malloc(c->sip_tls_cert_pem.len + 1), *key = malloc(c->sip_tls_key_pem.len + 1);
    if (!cert || !key) {
        free(cert);
        free(key);
        return false;
    }
    memcpy(cert, c->sip_tls_cert_pem.data, c->sip_tls_cert_pem.len);
    cert[c->sip_tls_cert_pem.len] = '\0';
    memcpy(key, c->sip_tls_key_pem.data, c->sip_tls_key_pem.len);
    key[c->sip_tls_key_pem.len] = '\0';
    free(sipd->tls_cert);
    if (sipd->tls_key)
        OPENSSL_cleanse(sipd->tls_key, sipd->tls_key_len);
    free(sipd->tls_key);
    sipd->tls_cert = cert;
    sipd->tls_cert_len = c->sip_tls_cert_pem.len;
    sipd->tls_key = key;
    sipd->tls_key_len = c->sip_tls_key_pem.len;
    return true;
}

/* A new certificate, key or CA file for new connections: the PEM master read (root)
 * and sent with the reload, else the files read again; the old ones stay on failure. */
static void sipd_reload_tls(struct sipd *sipd, const worker_t *w) {
    char err[400];
    if (!sipd->tcp)
        return;
    if (*cfg_str(w->cfg, CFG_sip_tls_cert) && !tls_take_control(sipd, w->control) &&
        tls_read_files(sipd, w->cfg, err, sizeof err) < 0) {
        log_error("%s; keeping the TLS certificate in use", err);
        return;
    }
    struct tls_ctx *server, *client;
    if (tls_contexts(sipd, w->cfg, &server, &client, err, sizeof err) < 0) {
        log_error("%s; keeping the TLS certificate in use", err);
        return;
    }
    tcp_set_tls(sipd->tcp, server, client);
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
    sipd_reload_tls(sipd, w);
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
    core_set_tcp(sipd->core, NULL, 0, 0);
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
    .init_privileged = sipd_init_privileged,
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
