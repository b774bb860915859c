/* worker - see worker.h */
#include "worker.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "log.h"
#include "mastercf.h"
#include "privs.h"
#include "redisacl.h"
#include "sandbox.h"

#define WORKER_MAX_FDS 24
#define WORKER_HELLO_TIMEOUT_MS 2000

struct worker_peer {
    struct worker_peer *next;
    worker_t *w;
    ipc_chan_t *ch;
    int slot;         /* the peer's shm slot, -1 until its Hello */
    int32_t pid;
    bool outbound;    /* we connected to it (to its service socket) */
    bool hello_done;
    enum sb_role role; /* from its Hello */
    int instance;
    char service[32];
    char name[48];    /* "service.instance" once known */
};

struct worker_private {
    uv_loop_t loop;
    uv_timer_t heartbeat;
    uv_timer_t drain_timer;
    uv_signal_t sigterm;
    ipc_listener_t *listener;
    struct worker_peer *peers;
    struct {
        char name[24];
        int fd;
    } fds[WORKER_MAX_FDS];
    int nfds;
    bool peer_role[SB_ROLE_COUNT];
    bool need_role[SB_ROLE_COUNT]; /* roles.h "needs": one of each before ready */
    bool inited;                   /* ops->init has returned: readiness is reported */
    bool ever_ready;               /* reported READY once: a lost dependency is DEGRADED */
    Sb__WorkerState reported;      /* the last state sent to master */
    char reported_why[64];
    const char *user;
    bool chroot;
    bool stopping;
    bool redis_was_up;
    int exit_status;
    size_t max_msg;
};

static void worker_stop(worker_t *w, int status);
static void worker_begin_drain(worker_t *w, uint32_t drain_ms);
static void peers_reconcile(worker_t *w);
static void ready_update(worker_t *w);
static void role_list(const char *list, bool set[SB_ROLE_COUNT]);

static void usage(const char *prog) {
    fprintf(stderr,
            "usage: %s -c CONFDIR -s SERVICE -i INSTANCE -S SLOT -F name=fd,... [-u USER] [-r]\n"
            "Workers are started by master; see docs/configuration.md.\n",
            prog);
    exit(2);
}

static int parse_int(const char *s, int lo, int hi, int *out) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi)
        return -EINVAL;
    *out = (int)v;
    return 0;
}

/* -F shm=3,master=4,listen=5 */
static void parse_fds(struct worker_private *p, const char *spec) {
    char buf[512];
    if (snprintf(buf, sizeof buf, "%s", spec) >= (int)sizeof buf)
        log_fatal("-F: descriptor list too long");
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok;
         tok = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(tok, '=');
        int fd;
        if (!eq || eq == tok || (size_t)(eq - tok) >= sizeof p->fds[0].name ||
            parse_int(eq + 1, 0, 1 << 20, &fd) < 0 || p->nfds == WORKER_MAX_FDS)
            log_fatal("-F: bad descriptor entry '%s'", tok);
        memcpy(p->fds[p->nfds].name, tok, (size_t)(eq - tok));
        p->fds[p->nfds].name[eq - tok] = '\0';
        p->fds[p->nfds].fd = fd;
        p->nfds++;
    }
}

int worker_take_fd(worker_t *w, const char *name) {
    struct worker_private *p = w->priv;
    for (int i = 0; i < p->nfds; i++)
        if (p->fds[i].fd >= 0 && strcmp(p->fds[i].name, name) == 0) {
            int fd = p->fds[i].fd;
            p->fds[i].fd = -1;
            return fd;
        }
    return -1;
}

int worker_peer_count(const worker_t *w) {
    int n = 0;
    for (struct worker_peer *pe = w->priv->peers; pe; pe = pe->next)
        n += pe->hello_done;
    return n;
}

static void peers_gauge(worker_t *w) {
    shm_gauge(w->slot, SHM_C_ipc_peers, (uint64_t)worker_peer_count(w));
}

static void hello_fill(worker_t *w, Sb__Hello *hello) {
    sb__hello__init(hello);
    hello->service = w->service;
    hello->role = (char *)sb_role_info(w->ops->role)->name;
    hello->instance = (uint32_t)w->instance;
    hello->pid = (int32_t)getpid();
    hello->shm_slot = (uint32_t)w->slot_index;
    hello->generation = (uint32_t)w->shm->hdr.generation;
}

static void reply_error(ipc_chan_t *ch, const Sb__Envelope *req, int code, const char *text) {
    Sb__Error e = SB__ERROR__INIT;
    e.code = code;
    e.message = (char *)text;
    ipc_reply_error(ch, req, &e);
}

/* Master's channel: apply a new main.cf (master validated it already). */
static void worker_reload(worker_t *w, const Sb__Control *c) {
    char err[512];
    char file[4096];
    snprintf(file, sizeof file, "%s/main.cf", w->confdir);
    cfg_t *cfg = cfg_parse((const char *)c->main_cf.data, c->main_cf.len, file, w->confdir, err,
                           sizeof err);
    if (!cfg) {
        log_error("reload refused, keeping the running configuration: %s", err);
        return;
    }
    cfg_t *old = w->cfg;
    w->cfg = cfg;
    log_set_level(cfg_level(cfg, CFG_log_level));
    domains_t *old_domains = w->domains;
    domains_t *d = domains_new(cfg_str(cfg, CFG_sip_domains), cfg_bool(cfg, CFG_sip_auto_aliases),
                               err, sizeof err);
    if (d)
        w->domains = d;
    else
        log_error("%s: sip_domains: %s; keeping the served domain %s", file, err,
                  domains_name(old_domains));
    if (w->redis && strcmp(cfg_str(old, CFG_redis_address), cfg_str(cfg, CFG_redis_address)))
        log_warn("redis_address changed: takes effect when %s restarts", w->service);
    w->control = c;
    if (w->ops->reload)
        w->ops->reload(w, old);
    w->control = NULL;
    if (w->domains != old_domains)
        domains_free(old_domains);
    cfg_free(old);
    shm_count(w->slot, SHM_C_reloads, 1);
    log_info("main.cf reloaded");
}

/* A peer said who it is (its Hello, or the answer to ours). */
static void peer_identify(struct worker_peer *pe, const Sb__Hello *h) {
    pe->hello_done = true;
    pe->role = h->role ? sb_role_by_name(h->role) : SB_ROLE_NONE;
    pe->instance = (int)h->instance;
    snprintf(pe->service, sizeof pe->service, "%s", h->service ? h->service : "");
    snprintf(pe->name, sizeof pe->name, "%.31s.%u", pe->service, h->instance);
    peers_gauge(pe->w);
    ready_update(pe->w);
}

ipc_chan_t *worker_peer_pick(worker_t *w, enum sb_role role, uint64_t key) {
    int n = 0;
    for (struct worker_peer *pe = w->priv->peers; pe; pe = pe->next)
        n += pe->outbound && pe->hello_done && pe->role == role;
    if (n == 0)
        return NULL;
    /* Outbound peers only: one channel per peer instance, ordered by instance. */
    int want = (int)(key % (uint64_t)n), best_rank = -1;
    ipc_chan_t *best = NULL;
    for (struct worker_peer *pe = w->priv->peers; pe; pe = pe->next) {
        if (!(pe->outbound && pe->hello_done && pe->role == role))
            continue;
        int rank = 0;
        for (struct worker_peer *o = w->priv->peers; o; o = o->next)
            rank += o->outbound && o->hello_done && o->role == role && o->instance < pe->instance;
        if (rank == want)
            return pe->ch;
        if (rank > best_rank) {
            best_rank = rank;
            best = pe->ch;
        }
    }
    return best;
}

ipc_chan_t *worker_peer_instance(worker_t *w, const char *service, int instance) {
    for (struct worker_peer *pe = w->priv->peers; pe; pe = pe->next)
        if (pe->outbound && pe->hello_done && pe->instance == instance &&
            strcmp(pe->service, service) == 0)
            return pe->ch;
    return NULL;
}

ipc_chan_t *worker_peer_role_instance(worker_t *w, enum sb_role role, int instance) {
    for (struct worker_peer *pe = w->priv->peers; pe; pe = pe->next)
        if (pe->outbound && pe->hello_done && pe->instance == instance && pe->role == role)
            return pe->ch;
    return NULL;
}

/* What every worker answers, from master or a peer; from_master gates Control. */
static void worker_dispatch(worker_t *w, ipc_chan_t *ch, Sb__Envelope *env, bool from_master,
                            struct worker_peer *pe) {
    switch (env->body_case) {
    case SB__ENVELOPE__BODY_CONTROL:
        if (!from_master) {
            reply_error(ch, env, -EPERM, "control is for master only");
            return;
        }
        switch (env->control->op) {
        case SB__CONTROL_OP__CONTROL_OP_RELOAD:
            worker_reload(w, env->control);
            return;
        case SB__CONTROL_OP__CONTROL_OP_DRAIN:
            worker_begin_drain(w, env->control->drain_ms);
            return;
        case SB__CONTROL_OP__CONTROL_OP_STOP:
            worker_stop(w, 0);
            return;
        case SB__CONTROL_OP__CONTROL_OP_PEERS:
            if (!w->draining)
                peers_reconcile(w);
            return;
        case SB__CONTROL_OP__CONTROL_OP_WAKEUP:
            log_debug("wakeup from master");
            shm_count(w->slot, SHM_C_wakeups, 1);
            return;
        default:
            reply_error(ch, env, -ENOTSUP, "unknown control op");
            return;
        }
    case SB__ENVELOPE__BODY_PING: {
        Sb__Pong pong = SB__PONG__INIT;
        pong.sent_us = env->ping->sent_us;
        pong.payload = env->ping->payload;
        ipc_reply_pong(ch, env, &pong);
        return;
    }
    case SB__ENVELOPE__BODY_HELLO:
        if (pe) {
            peer_identify(pe, env->hello);
            pe->slot = (int)env->hello->shm_slot;
            pe->pid = env->hello->pid;
        }
        if (env->request_id) {
            Sb__Hello hello;
            hello_fill(w, &hello);
            ipc_reply_hello(ch, env, &hello);
        }
        return;
    default:
        break;
    }
    if (w->ops->on_envelope && w->ops->on_envelope(w, ch, env))
        return;
    if (env->request_id) {
        char text[64];
        snprintf(text, sizeof text, "%s does not handle %s", w->service, ipc_body_name(env));
        reply_error(ch, env, -ENOTSUP, text);
    } else {
        log_ratelimited(LOG_WARN, "ignored unexpected %s envelope", ipc_body_name(env));
    }
}

static void master_on_envelope(ipc_chan_t *ch, Sb__Envelope *env, void *arg) {
    worker_dispatch(arg, ch, env, true, NULL);
}

static void master_on_malformed(ipc_chan_t *ch, size_t len, const char *why, void *arg) {
    (void)ch;
    (void)arg;
    log_ratelimited(LOG_WARN, "dropped malformed IPC packet from master (%zu bytes): %s", len,
                    why);
}

static void master_on_close(ipc_chan_t *ch, int err, void *arg) {
    worker_t *w = arg;
    (void)ch;
    w->master = NULL;
    if (!w->priv->stopping)
        log_info("master is gone (%s); exiting", err ? strerror(-err) : "closed");
    worker_stop(w, 0);
}

static const struct ipc_handlers master_handlers = {
    master_on_envelope, master_on_malformed, master_on_close};

static void peer_on_envelope(ipc_chan_t *ch, Sb__Envelope *env, void *arg) {
    struct worker_peer *pe = arg;
    worker_dispatch(pe->w, ch, env, false, pe);
}

static void peer_on_malformed(ipc_chan_t *ch, size_t len, const char *why, void *arg) {
    struct worker_peer *pe = arg;
    (void)ch;
    log_ratelimited(LOG_WARN, "dropped malformed IPC packet from %s (%zu bytes): %s",
                    pe->name[0] ? pe->name : "an unidentified peer", len, why);
}

/* The channel of pe goes away: the role hears it first (worker_ops.peer_closed). */
static void peer_unlink(struct worker_peer *pe) {
    worker_t *w = pe->w;
    if (w->ops->peer_closed)
        w->ops->peer_closed(w, pe->ch);
    for (struct worker_peer **pp = &w->priv->peers; *pp; pp = &(*pp)->next)
        if (*pp == pe) {
            *pp = pe->next;
            break;
        }
    free(pe);
    peers_gauge(w);
    ready_update(w);
}

static void peer_on_close(ipc_chan_t *ch, int err, void *arg) {
    struct worker_peer *pe = arg;
    (void)ch;
    (void)err;
    log_debug("peer %s closed", pe->name[0] ? pe->name : "(unidentified)");
    peer_unlink(pe);
}

static const struct ipc_handlers peer_handlers = {peer_on_envelope, peer_on_malformed,
                                                  peer_on_close};

static struct worker_peer *peer_new(worker_t *w, int fd, bool outbound) {
    struct worker_peer *pe = calloc(1, sizeof *pe);
    if (!pe) {
        close(fd);
        return NULL;
    }
    pe->w = w;
    pe->slot = -1;
    pe->outbound = outbound;
    pe->ch = ipc_chan_open(w->loop, fd, &peer_handlers, pe, w->priv->max_msg);
    if (!pe->ch) {
        free(pe);
        return NULL;
    }
    ipc_chan_set_slot(pe->ch, w->slot);
    pe->next = w->priv->peers;
    w->priv->peers = pe;
    return pe;
}

/* Closes a peer's channel ourselves (on_close is not called for that). */
static void peer_drop(struct worker_peer *pe) {
    ipc_chan_close(pe->ch);
    peer_unlink(pe);
}

static void on_accept(ipc_listener_t *l, int fd, void *arg) {
    worker_t *w = arg;
    (void)l;
    if (w->draining) {
        close(fd);
        return;
    }
    peer_new(w, fd, false);
}

static void hello_answered(ipc_chan_t *ch, Sb__Envelope *reply, void *arg) {
    struct worker_peer *pe = arg;
    (void)ch;
    if (reply && reply->body_case == SB__ENVELOPE__BODY_HELLO) {
        peer_identify(pe, reply->hello);
        log_debug("connected to peer %s", pe->name);
    } else if (reply == NULL && !pe->w->priv->stopping) {
        /* No answer in time: drop; the next heartbeat tries again. Deferred so the
         * channel is not freed under its own timer callback. */
        pe->pid = -1;
    }
}

/* Connects to every ready instance of a peer role not connected yet (or restarted). */
static void peers_reconcile(worker_t *w) {
    struct worker_private *p = w->priv;
    for (struct worker_peer *pe = p->peers, *next; pe; pe = next) {
        next = pe->next;
        if (pe->outbound && pe->pid == -1)
            peer_drop(pe);
    }
    for (int i = 0; i < SHM_MAX_PROCS; i++) {
        struct shm_proc s;
        shm_proc_read(&w->shm->procs[i], &s);
        if (i == w->slot_index || s.pid <= 0 || (s.flags & SHM_F_EXEC))
            continue;
        enum sb_role role = sb_role_by_name(s.role);
        if (role == SB_ROLE_NONE || !p->peer_role[role])
            continue;
        /* A degraded peer still serves what does not need its lost dependency. A peer we
         * only send through (dialogd's sipd) is reached while it starts too: it may be
         * waiting for us to reach it (deps_up). */
        bool usable = s.state == SHM_READY || s.state == SHM_DEGRADED ||
                      (s.state == SHM_STARTING && !p->need_role[role]);
        if (!usable)
            continue;
        struct worker_peer *found = NULL;
        for (struct worker_peer *pe = p->peers; pe; pe = pe->next)
            if (pe->outbound && pe->slot == i)
                found = pe;
        if (found && found->pid == s.pid)
            continue;
        if (found)
            peer_drop(found);
        char path[80];
        snprintf(path, sizeof path, "%s/%.31s.%u", (s.flags & SHM_F_PUBLIC) ? "public" : "private",
                 s.service, s.instance);
        int fd = ipc_connect_path(path);
        if (fd < 0) {
            log_ratelimited(LOG_WARN, "cannot connect to %s: %s", path, strerror(-fd));
            continue;
        }
        struct worker_peer *pe = peer_new(w, fd, true);
        if (!pe)
            continue;
        pe->slot = i;
        pe->pid = s.pid;
        Sb__Hello hello;
        hello_fill(w, &hello);
        if (ipc_request_hello(pe->ch, &hello, hello_answered, pe, WORKER_HELLO_TIMEOUT_MS) < 0)
            peer_drop(pe);
    }
}

static void heartbeat_cb(uv_timer_t *t) {
    worker_t *w = t->data;
    __atomic_store_n(&w->slot->heartbeat_mono_us, clock_mono_us(), __ATOMIC_RELAXED);
    shm_count(w->slot, SHM_C_heartbeats, 1);
    if (!w->draining)
        peers_reconcile(w);
    ready_update(w); /* a reload may have added or removed a role it needs */
}

static void send_status(worker_t *w, Sb__WorkerState state, const char *detail) {
    if (!w->master)
        return;
    Sb__Status st = SB__STATUS__INIT;
    st.state = state;
    st.detail = (char *)detail;
    ipc_send_status(w->master, &st);
}

/* Whether the configuration runs role at all (a slot of that role in the table). */
static bool role_configured(const worker_t *w, enum sb_role role) {
    const char *name = sb_role_info(role)->name;
    for (int i = 0; i < SHM_MAX_PROCS; i++) {
        struct shm_proc s;
        shm_proc_read(&w->shm->procs[i], &s);
        if (s.state != SHM_EMPTY && !(s.flags & SHM_F_EXEC) && strcmp(s.role, name) == 0)
            return true;
    }
    return false;
}

static bool role_reached(const worker_t *w, enum sb_role role, bool outbound) {
    for (struct worker_peer *pe = w->priv->peers; pe; pe = pe->next)
        if (pe->outbound == outbound && pe->hello_done && pe->role == role)
            return true;
    return false;
}

/* Whether role keeps connections to ours (roles.h peers): then it must have reached us
 * too, since it sends through its own channel (dialogd's requests to sipd). */
static bool role_calls_us(enum sb_role role, enum sb_role ours) {
    bool set[SB_ROLE_COUNT] = {false};
    role_list(sb_role_info(role)->peers, set);
    return set[ours];
}

/* Whether everything the worker needs to serve is up; why names the first that is not. */
static bool deps_up(worker_t *w, char *why, size_t cap) {
    if (w->redis && !rds_is_up(w->redis)) {
        snprintf(why, cap, "redis");
        return false;
    }
    for (int r = 0; r < SB_ROLE_COUNT; r++) {
        enum sb_role role = (enum sb_role)r;
        if (!w->priv->need_role[r] || !role_configured(w, role))
            continue;
        if (!role_reached(w, role, true) ||
            (role_calls_us(role, w->ops->role) && !role_reached(w, role, false))) {
            snprintf(why, cap, "%s", sb_role_info(role)->name);
            return false;
        }
    }
    return !w->ops->ready || w->ops->ready(w, why, cap);
}

/* Tells master when readiness changes: STARTING (with what it waits for) until every
 * dependency is up the first time, then READY, or DEGRADED while one is down. */
static void ready_update(worker_t *w) {
    struct worker_private *p = w->priv;
    if (!p || !p->inited || w->draining || p->stopping)
        return; /* (no priv: a role's module driven by a unit test) */
    char why[64] = "";
    bool up = deps_up(w, why, sizeof why);
    Sb__WorkerState st = up             ? SB__WORKER_STATE__WORKER_STATE_READY
                         : p->ever_ready ? SB__WORKER_STATE__WORKER_STATE_DEGRADED
                                         : SB__WORKER_STATE__WORKER_STATE_STARTING;
    if (st == p->reported && strcmp(why, p->reported_why) == 0)
        return;
    p->reported = st;
    snprintf(p->reported_why, sizeof p->reported_why, "%s", why);
    if (up)
        log_info(p->ever_ready ? "ready again" : "ready");
    else if (p->ever_ready)
        log_warn("degraded: %s is not available", why);
    else
        log_info("starting: waiting for %s", why);
    p->ever_ready |= up;
    send_status(w, st, why);
}

void worker_ready_changed(worker_t *w) {
    ready_update(w);
}

static void drain_timeout_cb(uv_timer_t *t) {
    worker_t *w = t->data;
    log_warn("drain window over with work in flight; stopping");
    worker_stop(w, 0);
}

static void worker_begin_drain(worker_t *w, uint32_t drain_ms) {
    if (w->draining || w->priv->stopping)
        return;
    w->draining = true;
    log_info("draining (window %u ms)", drain_ms);
    send_status(w, SB__WORKER_STATE__WORKER_STATE_DRAINING, NULL);
    ipc_listener_close(w->priv->listener);
    w->priv->listener = NULL;
    uv_timer_start(&w->priv->drain_timer, drain_timeout_cb, drain_ms ? drain_ms : 1, 0);
    if (w->ops->drain)
        w->ops->drain(w);
    else
        worker_drained(w);
}

void worker_drained(worker_t *w) {
    worker_stop(w, 0);
}

static void close_stray(uv_handle_t *h, void *arg) {
    (void)arg;
    if (!uv_is_closing(h)) {
        log_debug("closing a handle the role left open (type %s)", uv_handle_type_name(h->type));
        uv_close(h, NULL);
    }
}

static void worker_stop(worker_t *w, int status) {
    struct worker_private *p = w->priv;
    if (p->stopping)
        return;
    p->stopping = true;
    p->exit_status = status;
    send_status(w, SB__WORKER_STATE__WORKER_STATE_STOPPING, NULL);
    if (w->ops->stop)
        w->ops->stop(w);
    while (p->peers) {
        struct worker_peer *pe = p->peers;
        ipc_chan_close(pe->ch);
        peer_unlink(pe);
    }
    ipc_listener_close(p->listener);
    p->listener = NULL;
    if (w->master) {
        ipc_chan_close(w->master);
        w->master = NULL;
    }
    rds_close(w->redis);
    w->redis = NULL;
    uv_close((uv_handle_t *)&p->heartbeat, NULL);
    uv_close((uv_handle_t *)&p->drain_timer, NULL);
    uv_close((uv_handle_t *)&p->sigterm, NULL);
    uv_walk(w->loop, close_stray, NULL);
}

static void sigterm_cb(uv_signal_t *s, int signum) {
    worker_t *w = s->data;
    (void)signum;
    worker_begin_drain(w, (uint32_t)cfg_time_ms(w->cfg, CFG_drain_timeout));
}

static void redis_state_cb(rds_t *r, bool up, const char *why, void *arg) {
    worker_t *w = arg;
    (void)r;
    if (up)
        log_info("redis %s is up", rds_address(r));
    else if (w->priv->redis_was_up)
        log_ratelimited(LOG_WARN, "redis %s is down: %s", rds_address(r), why ? why : "?");
    else /* at start-up the embedded redis may simply not be listening yet */
        log_ratelimited(LOG_DEBUG, "waiting for redis %s: %s", rds_address(r), why ? why : "?");
    w->priv->redis_was_up |= up;
    if (w->ops->redis_state)
        w->ops->redis_state(w, up);
    ready_update(w);
}

/* A unix: address under run_directory becomes relative: the worker runs in run_directory
 * (and may be chrooted there). */
static void redis_address_local(const worker_t *w, char *out, size_t outlen) {
    const char *addr = cfg_str(w->cfg, CFG_redis_address);
    const char *run = cfg_str(w->cfg, CFG_run_directory);
    size_t rl = strlen(run);
    if (strncmp(addr, "unix:", 5) == 0 && strncmp(addr + 5, run, rl) == 0 && addr[5 + rl] == '/')
        snprintf(out, outlen, "unix:%s", addr + 5 + rl + 1);
    else
        snprintf(out, outlen, "%s", addr);
}

/* Marks in set the roles named in list (space separated). */
static void role_list(const char *list, bool set[SB_ROLE_COUNT]) {
    for (const char *s = list; *s;) {
        char name[16];
        size_t n = strcspn(s, " ");
        if (n && n < sizeof name) {
            memcpy(name, s, n);
            name[n] = '\0';
            enum sb_role r = sb_role_by_name(name);
            if (r != SB_ROLE_NONE)
                set[r] = true;
        }
        s += n;
        s += strspn(s, " ");
    }
}

int worker_main(int argc, char **argv, const struct worker_ops *ops) {
    static struct worker_private priv; /* one worker per process */
    worker_t wk = {0}, *w = &wk;
    char err[512];
    const char *service = NULL;
    int opt;

    w->ops = ops;
    w->priv = &priv;
    w->instance = 0;
    w->slot_index = -1;
    for (int i = 0; i < WORKER_MAX_FDS; i++)
        priv.fds[i].fd = -1;
    while ((opt = getopt(argc, argv, "c:s:i:S:F:u:r")) != -1) {
        switch (opt) {
        case 'c':
            w->confdir = optarg;
            break;
        case 's':
            service = optarg;
            break;
        case 'i':
            if (parse_int(optarg, 0, MCF_MAXPROC_MAX - 1, &w->instance) < 0)
                usage(argv[0]);
            break;
        case 'S':
            if (parse_int(optarg, 0, SHM_MAX_PROCS - 1, &w->slot_index) < 0)
                usage(argv[0]);
            break;
        case 'F':
            parse_fds(&priv, optarg);
            break;
        case 'u':
            priv.user = optarg;
            break;
        case 'r':
            priv.chroot = true;
            break;
        default:
            usage(argv[0]);
        }
    }
    if (!w->confdir || !service || w->slot_index < 0 || optind != argc)
        usage(argv[0]);
    snprintf(w->service, sizeof w->service, "%s", service);
    log_init(w->service, w->instance);

    int shm_fd = worker_take_fd(w, "shm");
    if (shm_fd < 0)
        log_fatal("no shm descriptor (-F shm=N)");
    int rc = shm_attach(shm_fd, true, &w->shm);
    close(shm_fd);
    if (rc == -EPROTO)
        log_fatal("shm segment has another layout (this worker speaks version %u); "
                  "refusing to start",
                  SHM_VERSION);
    if (rc < 0)
        log_fatal("cannot map shm segment: %s", strerror(-rc));
    w->slot = &w->shm->procs[w->slot_index];

    w->cfg = cfg_load(w->confdir, err, sizeof err);
    if (!w->cfg)
        log_fatal("%s", err);
    log_set_level(cfg_level(w->cfg, CFG_log_level));
    /* before the privilege drop and a chroot: getifaddrs needs neither, but fails early */
    w->domains = domains_new(cfg_str(w->cfg, CFG_sip_domains),
                             cfg_bool(w->cfg, CFG_sip_auto_aliases), err, sizeof err);
    if (!w->domains)
        log_fatal("%s: sip_domains: %s", cfg_file(w->cfg), err);
    log_debug("SIP domain %s, %zu addresses", domains_name(w->domains),
              domains_addr_count(w->domains));
    priv.max_msg = (size_t)cfg_int(w->cfg, CFG_ipc_max_message);
    role_list(sb_role_info(ops->role)->peers, priv.peer_role);
    role_list(sb_role_info(ops->role)->needs, priv.need_role);

    if (ops->init_privileged && ops->init_privileged(w) < 0)
        log_fatal("privileged initialisation failed");
    /* the role's Redis password is root's: read it before the drop */
    struct rds_auth redis_auth;
    if (sb_role_info(ops->role)->uses_redis &&
        redisacl_credentials(w->cfg, ops->role, &redis_auth, err, sizeof err) < 0)
        log_fatal("redis_acl: %s", err);
    const char *run = cfg_str(w->cfg, CFG_run_directory);
    if (chdir(run) < 0)
        log_fatal("chdir %s: %s", run, strerror(errno));
    if (priv_drop(priv.user, priv.chroot ? run : NULL, err, sizeof err) < 0)
        log_fatal("dropping privileges: %s", err);

    signal(SIGPIPE, SIG_IGN);
    signal(SIGINT, SIG_IGN); /* ^C in the foreground is master's to handle */
    signal(SIGHUP, SIG_IGN);
    uv_loop_init(&priv.loop);
    w->loop = &priv.loop;
    uv_timer_init(w->loop, &priv.heartbeat);
    uv_timer_init(w->loop, &priv.drain_timer);
    uv_signal_init(w->loop, &priv.sigterm);
    priv.heartbeat.data = priv.drain_timer.data = priv.sigterm.data = w;
    uv_signal_start(&priv.sigterm, sigterm_cb, SIGTERM);

    int master_fd = worker_take_fd(w, "master");
    if (master_fd < 0)
        log_fatal("no master descriptor (-F master=N)");
    w->master = ipc_chan_open(w->loop, master_fd, &master_handlers, w, priv.max_msg);
    if (!w->master)
        log_fatal("out of memory");
    ipc_chan_set_slot(w->master, w->slot);
    Sb__Hello hello;
    hello_fill(w, &hello);
    ipc_send_hello(w->master, &hello);

    int listen_fd = worker_take_fd(w, "listen");
    if (listen_fd >= 0)
        priv.listener = ipc_listener_open(w->loop, listen_fd, on_accept, w);

    if (sb_role_info(ops->role)->uses_redis) {
        char addr[300];
        redis_address_local(w, addr, sizeof addr);
        w->redis = rds_open(w->loop, addr, &redis_auth, w->slot, redis_state_cb, w, err,
                            sizeof err);
        explicit_bzero(&redis_auth, sizeof redis_auth);
        if (!w->redis)
            log_fatal("%s", err);
    }
    if (ops->init && ops->init(w) < 0)
        log_fatal("initialisation failed");
    if (cfg_bool(w->cfg, CFG_worker_seccomp) && sandbox_wanted(ops->role)) {
        if (sandbox_apply(err, sizeof err) < 0)
            log_fatal("worker_seccomp: %s", err);
        log_debug("system calls limited (seccomp)");
    }
    for (int i = 0; i < priv.nfds; i++)
        if (priv.fds[i].fd >= 0)
            log_warn("descriptor %s=%d passed but not used", priv.fds[i].name, priv.fds[i].fd);

    heartbeat_cb(&priv.heartbeat);
    uint64_t hb_ms = (uint64_t)cfg_time_ms(w->cfg, CFG_heartbeat_interval);
    uv_timer_start(&priv.heartbeat, heartbeat_cb, hb_ms, hb_ms);
    priv.inited = true;
    priv.reported = SB__WORKER_STATE__WORKER_STATE_UNKNOWN;
    ready_update(w);

    uv_run(w->loop, UV_RUN_DEFAULT);
    uv_loop_close(w->loop);
    domains_free(w->domains);
    cfg_free(w->cfg);
    shm_detach(w->shm);
    return priv.exit_status;
}
