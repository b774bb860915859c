/* supervisor - see supervisor.h */
#include "supervisor.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "clock.h"
#include "ipc.h"
#include "tlsfiles.h"
#include "log.h"
#include "privs.h"
#include "throttle.h"

#define SUP_MAX_LISTENERS 32
#define SUP_KILL_GRACE_MS 1000
#define SUP_TICK_MS 1000
#define SUP_MAX_FDS (4 + SUP_MAX_LISTENERS)

struct sup_svc;

struct sup_inst {
    struct sup_inst *next;
    sup_t *sup;
    struct sup_svc *svc; /* NULL once retiring */
    char name[48];       /* "sipd[1]", for logs */
    int index;
    int slot;
    bool exec;
    pid_t pid;           /* 0: not running */
    ipc_chan_t *chan;    /* status channel, workers only */
    int64_t started_mono_us;
    bool ready_seen;
    unsigned streak;
    uint32_t restarts;
    bool retiring;
    uv_timer_t timer;    /* throttled respawn, or the kill deadline of a retiring process */
};

struct sup_svc {
    struct sup_svc *next;
    const struct mcf_service *def; /* into sup->mcf */
    struct sup_inst *inst[MCF_MAXPROC_MAX];
    int listen_fd[MCF_MAXPROC_MAX];
    int count;
    int64_t last_wakeup_us;
};

/* A network listener of a role. TCP: one listening socket every instance shares (fd).
 * UDP: one SO_REUSEPORT socket per instance index (inst_fd), so the kernel steers each
 * source to one instance and a respawned instance gets the socket its peers send to. */
struct sup_lsn {
    char name[24]; /* descriptor name given to the worker: sip_udp0, http0 */
    enum sb_role role;
    int type;      /* SOCK_STREAM or SOCK_DGRAM */
    struct cfg_addr addr;
    int fd;        /* TCP */
    int inst_fd[MCF_MAXPROC_MAX]; /* UDP, -1 until instance index i needs it */
};

struct sup {
    struct sup_params p;
    cfg_t *cfg;
    mcf_t *mcf;
    struct sup_svc *svcs;
    struct sup_inst *retiring;
    struct sup_lsn lsn[SUP_MAX_LISTENERS];
    int nlsn;
    bool slot_used[SHM_MAX_PROCS];
    bool root;
    uid_t uid;
    gid_t gid;
    int stopping; /* 0 running, 1 draining workers, 2 stopping exec services, 3 done */
    uv_timer_t tick;
    int64_t start_mono_us;
    bool started; /* every service of the configuration has been created */
    bool all_ready_logged;
};

static void inst_spawn(struct sup_inst *in);
static void stop_progress(sup_t *s);

/* ---- shm slot writes (master is the only writer of these fields) ---- */

static struct shm_proc *slot_of(const struct sup_inst *in) {
    return &in->sup->p.shm->procs[in->slot];
}

static void slot_set_state_reason(struct sup_inst *in, enum shm_state st, const char *reason) {
    struct shm_proc *p = slot_of(in);
    shm_proc_write_begin(p);
    p->state = st;
    snprintf(p->reason, sizeof p->reason, "%s", reason ? reason : "");
    shm_proc_write_end(p);
}

static void slot_set_state(struct sup_inst *in, enum shm_state st) {
    slot_set_state_reason(in, st, NULL);
}

static int slot_alloc(sup_t *s) {
    for (int i = 0; i < SHM_MAX_PROCS; i++)
        if (!s->slot_used[i]) {
            s->slot_used[i] = true;
            return i;
        }
    return -1;
}

static void slot_free(sup_t *s, int slot) {
    struct shm_proc *p = &s->p.shm->procs[slot];
    shm_proc_write_begin(p);
    uint32_t seq = p->seq;
    memset(p, 0, sizeof *p);
    p->seq = seq;
    shm_proc_write_end(p);
    s->slot_used[slot] = false;
}

/* ---- instances ---- */

static void inst_timer_closed(uv_handle_t *h) {
    free(h->data);
}

static void inst_free(struct sup_inst *in) {
    sup_t *s = in->sup;
    for (struct sup_inst **pp = &s->retiring; *pp; pp = &(*pp)->next)
        if (*pp == in) {
            *pp = in->next;
            break;
        }
    if (in->chan)
        ipc_chan_close(in->chan);
    slot_free(s, in->slot);
    uv_timer_stop(&in->timer);
    uv_close((uv_handle_t *)&in->timer, inst_timer_closed);
}

static struct sup_inst *inst_new(sup_t *s, struct sup_svc *svc, int index) {
    struct sup_inst *in = calloc(1, sizeof *in);
    int slot = slot_alloc(s);
    if (!in || slot < 0) {
        free(in);
        if (slot >= 0)
            s->slot_used[slot] = false;
        log_error("%s[%d]: no process slot or memory left", svc->def->name, index);
        return NULL;
    }
    in->sup = s;
    in->svc = svc;
    in->index = index;
    in->slot = slot;
    in->exec = svc->def->type == MCF_EXEC;
    snprintf(in->name, sizeof in->name, "%s[%d]", svc->def->name, index);
    uv_timer_init(s->p.loop, &in->timer);
    in->timer.data = in;
    struct shm_proc *p = slot_of(in);
    shm_proc_write_begin(p);
    snprintf(p->service, sizeof p->service, "%s", svc->def->name);
    snprintf(p->role, sizeof p->role, "%s",
             in->exec ? "exec" : sb_role_info(svc->def->role)->name);
    p->instance = (uint32_t)index;
    p->flags = (in->exec ? SHM_F_EXEC : 0) | (svc->def->private_sock ? 0 : SHM_F_PUBLIC);
    p->state = SHM_STARTING;
    shm_proc_write_end(p);
    return in;
}

static void kill_deadline_cb(uv_timer_t *t) {
    struct sup_inst *in = t->data;
    if (in->pid > 0) {
        log_warn("%s pid %d did not exit in time; killing it", in->name, (int)in->pid);
        kill(in->pid, SIGKILL);
    }
}

static void send_control(struct sup_inst *in, Sb__ControlOp op, uint32_t drain_ms) {
    if (!in->chan)
        return;
    Sb__Control c = SB__CONTROL__INIT;
    c.op = op;
    c.drain_ms = drain_ms;
    c.generation = (uint32_t)in->sup->p.shm->hdr.generation;
    if (op == SB__CONTROL_OP__CONTROL_OP_RELOAD) {
        size_t len;
        const char *text = cfg_source(in->sup->cfg, &len);
        c.main_cf.data = (uint8_t *)text;
        c.main_cf.len = len;
    }
    struct tlsfiles tf = {0};
    if (op == SB__CONTROL_OP__CONTROL_OP_RELOAD && in->svc && in->svc->def->role == SB_ROLE_sipd) {
        char err[400];
        if (tlsfiles_read(in->sup->cfg, &tf, err, sizeof err) < 0)
            log_error("%s; sipd keeps its TLS certificate", err);
        c.sip_tls_cert_pem.data = (uint8_t *)tf.cert;
        c.sip_tls_cert_pem.len = tf.cert_len;
        c.sip_tls_key_pem.data = (uint8_t *)tf.key;
        c.sip_tls_key_pem.len = tf.key_len;
    }
    int rc = ipc_send_control(in->chan, &c);
    tlsfiles_free(&tf);
    if (rc < 0)
        log_warn("%s: cannot send control: %s", in->name, strerror(-rc));
}

/* Moves an instance out of its service: it drains (workers) or gets SIGTERM (exec), and
 * is killed when the drain window is over. Not respawned. */
static void inst_retire(struct sup_inst *in) {
    sup_t *s = in->sup;
    if (in->retiring)
        return;
    in->retiring = true;
    in->svc = NULL;
    in->next = s->retiring;
    s->retiring = in;
    uv_timer_stop(&in->timer);
    if (in->pid <= 0) {
        inst_free(in);
        return;
    }
    uint32_t drain_ms = (uint32_t)cfg_time_ms(s->cfg, CFG_drain_timeout);
    if (in->chan) {
        send_control(in, SB__CONTROL_OP__CONTROL_OP_DRAIN, drain_ms);
        slot_set_state(in, SHM_DRAINING);
    } else {
        kill(in->pid, SIGTERM);
        slot_set_state(in, SHM_STOPPING);
    }
    uv_timer_start(&in->timer, kill_deadline_cb, drain_ms + SUP_KILL_GRACE_MS, 0);
}

static void respawn_cb(uv_timer_t *t) {
    inst_spawn(t->data);
}

/* The process of an instance is gone: respawn now or later, or let a retiree go. */
static void inst_exited(struct sup_inst *in, int status) {
    sup_t *s = in->sup;
    char how[64];
    if (WIFEXITED(status))
        snprintf(how, sizeof how, "exited with status %d", WEXITSTATUS(status));
    else if (WIFSIGNALED(status))
        snprintf(how, sizeof how, "killed by signal %d", WTERMSIG(status));
    else
        snprintf(how, sizeof how, "ended (wait status %d)", status);
    int64_t uptime_ms = (clock_mono_us() - in->started_mono_us) / 1000;
    pid_t pid = in->pid;
    in->pid = 0;
    if (in->chan) {
        ipc_chan_close(in->chan);
        in->chan = NULL;
    }
    if (in->retiring) {
        log_info("%s pid %d %s", in->name, (int)pid, how);
        inst_free(in);
        stop_progress(s);
        return;
    }
    in->streak = throttle_next_streak(in->streak, in->exec || in->ready_seen, uptime_ms);
    in->restarts++;
    int64_t delay = throttle_delay_ms(in->streak, cfg_time_ms(s->cfg, CFG_service_throttle_time));
    if (delay == 0) {
        log_warn("%s pid %d %s after %lld ms; respawning", in->name, (int)pid, how,
                 (long long)uptime_ms);
        inst_spawn(in);
        return;
    }
    log_warn("%s pid %d %s after %lld ms; %u failures in a row: throttled, next start in %lld ms",
             in->name, (int)pid, how, (long long)uptime_ms, in->streak, (long long)delay);
    struct shm_proc *p = slot_of(in);
    shm_proc_write_begin(p);
    p->state = SHM_THROTTLED;
    p->pid = 0;
    p->restarts = in->restarts;
    p->fail_streak = in->streak;
    p->next_start_us = clock_wall_us() + delay * 1000;
    shm_proc_write_end(p);
    uv_timer_start(&in->timer, respawn_cb, (uint64_t)delay, 0);
}

/* ---- status channel ---- */

static void check_all_ready(sup_t *s) {
    if (!s->started || s->all_ready_logged || s->stopping)
        return;
    int n = 0;
    for (struct sup_svc *svc = s->svcs; svc; svc = svc->next)
        for (int i = 0; i < svc->count; i++) {
            struct sup_inst *in = svc->inst[i];
            if (!in || in->pid <= 0 || (!in->exec && !in->ready_seen))
                return;
            n++;
        }
    s->all_ready_logged = true;
    log_info("all %d processes ready in %lld ms", n,
             (long long)(clock_mono_us() - s->start_mono_us) / 1000);
}

/* A worker became ready: the others (those still starting too: they may be waiting for
 * it) connect to it now rather than at their next heartbeat, so a (re)started cluster is
 * meshed, and ready, as soon as it can be. */
static void announce_ready(struct sup_inst *ready) {
    for (struct sup_svc *svc = ready->sup->svcs; svc; svc = svc->next)
        for (int i = 0; i < svc->count; i++) {
            struct sup_inst *in = svc->inst[i];
            if (in && in != ready && in->chan)
                send_control(in, SB__CONTROL_OP__CONTROL_OP_PEERS, 0);
        }
}

static void status_on_envelope(ipc_chan_t *ch, Sb__Envelope *env, void *arg) {
    struct sup_inst *in = arg;
    (void)ch;
    switch (env->body_case) {
    case SB__ENVELOPE__BODY_HELLO:
        if (env->hello->pid != in->pid || (int)env->hello->shm_slot != in->slot)
            log_warn("%s: hello claims pid %d slot %u, expected pid %d slot %d", in->name,
                     env->hello->pid, env->hello->shm_slot, (int)in->pid, in->slot);
        return;
    case SB__ENVELOPE__BODY_STATUS:
        switch (env->status->state) {
        case SB__WORKER_STATE__WORKER_STATE_READY:
            in->ready_seen = true;
            if (!in->retiring) {
                slot_set_state(in, SHM_READY);
                announce_ready(in);
            }
            check_all_ready(in->sup);
            return;
        case SB__WORKER_STATE__WORKER_STATE_STARTING:
            if (!in->retiring && !in->ready_seen) {
                slot_set_state_reason(in, SHM_STARTING, env->status->detail);
                announce_ready(in); /* it may wait for a peer to reach it (sipd: dialogd) */
            }
            return;
        case SB__WORKER_STATE__WORKER_STATE_DEGRADED:
            if (!in->retiring) {
                log_warn("%s degraded: %s is not available", in->name,
                         env->status->detail ? env->status->detail : "?");
                slot_set_state_reason(in, SHM_DEGRADED, env->status->detail);
            }
            return;
        case SB__WORKER_STATE__WORKER_STATE_DRAINING:
            slot_set_state(in, SHM_DRAINING);
            return;
        case SB__WORKER_STATE__WORKER_STATE_STOPPING:
            slot_set_state(in, SHM_STOPPING);
            return;
        default:
            return;
        }
    default:
        log_ratelimited(LOG_WARN, "%s: unexpected %s on the status channel", in->name,
                        ipc_body_name(env));
    }
}

static void status_on_malformed(ipc_chan_t *ch, size_t len, const char *why, void *arg) {
    struct sup_inst *in = arg;
    (void)ch;
    log_ratelimited(LOG_WARN, "%s: dropped malformed status packet (%zu bytes): %s", in->name,
                    len, why);
}

static void status_on_close(ipc_chan_t *ch, int err, void *arg) {
    struct sup_inst *in = arg;
    (void)ch;
    (void)err;
    in->chan = NULL; /* SIGCHLD tells the rest */
}

static const struct ipc_handlers status_handlers = {status_on_envelope, status_on_malformed,
                                                    status_on_close};

/* ---- sockets ---- */

static const char *svc_sock_dir(const struct mcf_service *d) {
    return d->private_sock ? "private" : "public";
}

/* The IPC listening socket of instance i, created on first use and kept across respawns.
 * master runs in run_directory, so the path is relative. */
static int svc_listen_fd(sup_t *s, struct sup_svc *svc, int i) {
    if (svc->listen_fd[i] >= 0)
        return svc->listen_fd[i];
    char path[80];
    snprintf(path, sizeof path, "%s/%s.%d", svc_sock_dir(svc->def), svc->def->name, i);
    int fd = ipc_listen_path(path, svc->def->private_sock ? 0660 : 0666);
    if (fd < 0) {
        log_error("cannot listen on %s: %s", path, strerror(-fd));
        return -1;
    }
    if (s->root && chown(path, s->uid, s->gid) < 0)
        log_warn("chown %s: %s", path, strerror(errno));
    svc->listen_fd[i] = fd;
    return fd;
}

static void svc_close_listen_fd(struct sup_svc *svc, int i) {
    if (svc->listen_fd[i] < 0)
        return;
    char path[80];
    snprintf(path, sizeof path, "%s/%s.%d", svc_sock_dir(svc->def), svc->def->name, i);
    close(svc->listen_fd[i]);
    unlink(path);
    svc->listen_fd[i] = -1;
}

#define SUP_UDP_RCVBUF (4 << 20)

/* A bound socket for a; -1 with the reason in err. */
static int lsn_socket(enum sb_role role, const struct cfg_addr *a, int type, char *err,
                      size_t errlen) {
    int fd = socket(a->ss.ss_family, type | SOCK_CLOEXEC, 0);
    int one = 1, rcvbuf = SUP_UDP_RCVBUF;
    if (fd < 0)
        goto fail;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (type == SOCK_DGRAM) {
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
        /* Bursts of SIP over UDP: a deep queue (FORCE passes rmem_max when root). */
        if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof rcvbuf) < 0)
            setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    }
    if (a->ss.ss_family == AF_INET6)
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
    if (bind(fd, (const struct sockaddr *)&a->ss, a->len) < 0)
        goto fail;
    if (type == SOCK_STREAM && listen(fd, 1024) < 0)
        goto fail;
    return fd;
fail:
    snprintf(err, errlen, "%s: cannot listen on %s %s: %s", sb_role_info(role)->name,
             type == SOCK_STREAM ? "tcp" : "udp", a->text, strerror(errno));
    if (fd >= 0)
        close(fd);
    return -1;
}

static int lsn_open_one(sup_t *s, enum sb_role role, const char *name, const struct cfg_addr *a,
                        int type, char *err, size_t errlen) {
    for (int i = 0; i < s->nlsn; i++)
        if (strcmp(s->lsn[i].name, name) == 0 && s->lsn[i].role == role)
            return 0;
    if (s->nlsn == SUP_MAX_LISTENERS) {
        snprintf(err, errlen, "too many listening sockets");
        return -1;
    }
    struct sup_lsn *l = &s->lsn[s->nlsn];
    /* UDP: instance 0's socket now, so a port in use fails the start. */
    int fd = lsn_socket(role, a, type, err, errlen);
    if (fd < 0)
        return -1;
    snprintf(l->name, sizeof l->name, "%s", name);
    l->role = role;
    l->type = type;
    l->addr = *a;
    l->fd = type == SOCK_STREAM ? fd : -1;
    for (int i = 0; i < MCF_MAXPROC_MAX; i++)
        l->inst_fd[i] = -1;
    if (type == SOCK_DGRAM)
        l->inst_fd[0] = fd;
    s->nlsn++;
    log_info("%s listening on %s %s", sb_role_info(role)->name,
             type == SOCK_STREAM ? "tcp" : "udp", a->text);
    return 0;
}

/* The descriptor of l for instance index i (UDP sockets are opened on first use). */
static int lsn_fd_for(struct sup_lsn *l, int i) {
    char err[256];
    if (l->type == SOCK_STREAM)
        return l->fd;
    if (l->inst_fd[i] < 0 && (l->inst_fd[i] = lsn_socket(l->role, &l->addr, l->type, err,
                                                          sizeof err)) < 0)
        log_error("%s", err);
    return l->inst_fd[i];
}

/* Instance index i of role is gone for good (shrink, removal): its UDP sockets close, and
 * the kernel spreads their sources over the remaining instances. */
static void lsn_release_instance(sup_t *s, enum sb_role role, int i) {
    for (int k = 0; k < s->nlsn; k++)
        if (s->lsn[k].role == role && s->lsn[k].inst_fd[i] >= 0) {
            close(s->lsn[k].inst_fd[i]);
            s->lsn[k].inst_fd[i] = -1;
        }
}

static void lsn_close_all(sup_t *s) {
    for (int k = 0; k < s->nlsn; k++) {
        if (s->lsn[k].fd >= 0)
            close(s->lsn[k].fd);
        for (int i = 0; i < MCF_MAXPROC_MAX; i++)
            if (s->lsn[k].inst_fd[i] >= 0)
                close(s->lsn[k].inst_fd[i]);
    }
    s->nlsn = 0;
}

static int lsn_open_param(sup_t *s, enum sb_role role, enum cfg_param p, const char *prefix,
                          int type, char *err, size_t errlen) {
    const struct cfg_addr *addrs;
    size_t n = cfg_addrs(s->cfg, p, &addrs);
    for (size_t i = 0; i < n; i++) {
        char name[24];
        snprintf(name, sizeof name, "%s%zu", prefix, i);
        if (lsn_open_one(s, role, name, &addrs[i], type, err, errlen) < 0)
            return -1;
    }
    return 0;
}

/* Network listeners of the roles that run as inet services. */
static int lsn_open_all(sup_t *s, char *err, size_t errlen) {
    for (size_t i = 0; i < s->mcf->count; i++) {
        const struct mcf_service *d = &s->mcf->services[i];
        if (d->type != MCF_INET || d->maxproc == 0)
            continue;
        int rc = 0;
        if (d->role == SB_ROLE_sipd)
            rc =
                lsn_open_param(s, d->role, CFG_sip_listen_udp, "sip_udp", SOCK_DGRAM, err,
                               errlen) ||
                lsn_open_param(s, d->role, CFG_sip_listen_tcp, "sip_tcp", SOCK_STREAM, err,
                               errlen) ||
                lsn_open_param(s, d->role, CFG_sip_listen_tls, "sip_tls", SOCK_STREAM, err, errlen);
        else if (d->role == SB_ROLE_apid)
            rc = lsn_open_param(s, d->role, CFG_api_listen, "http", SOCK_STREAM, err, errlen);
        if (rc)
            return -1;
    }
    return 0;
}

/* ---- spawning ---- */

/* In the child: descriptors to 3.., nothing else open, exec. Never returns. */
static void child_exec(sup_t *s, struct sup_inst *in, int *fds, int nfds, char **argv) {
    sigset_t all;
    for (int sig = 1; sig < NSIG; sig++)
        signal(sig, SIG_DFL);
    sigemptyset(&all);
    sigprocmask(SIG_SETMASK, &all, NULL);
    setpgid(0, 0); /* ^C at master's terminal is master's to handle */
    if (in->exec)
        dup2(STDERR_FILENO, STDOUT_FILENO); /* a foreign program's output goes to the log */
    int devnull = open("/dev/null", O_RDONLY);
    if (devnull >= 0) {
        dup2(devnull, STDIN_FILENO);
        if (devnull > 2)
            close(devnull);
    }
    int tmp[SUP_MAX_FDS];
    for (int i = 0; i < nfds; i++) {
        tmp[i] = fcntl(fds[i], F_DUPFD_CLOEXEC, 3 + nfds);
        if (tmp[i] < 0)
            _exit(126);
    }
    for (int i = 0; i < nfds; i++)
        if (dup2(tmp[i], 3 + i) < 0)
            _exit(126);
    close_range(3 + (unsigned)nfds, ~0U, 0);
    if (in->exec) {
        char err[256];
        const struct mcf_service *d = in->svc->def;
        if (priv_drop(d->unpriv && s->root ? cfg_str(s->cfg, CFG_service_user) : NULL, NULL, err,
                      sizeof err) < 0) {
            log_error("%s: %s", in->name, err);
            _exit(126);
        }
        /* A foreign program does not watch master's channel: if master dies (kill -9),
         * the kernel stops it. Set after the uid change, which clears it. */
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        if (getppid() != s->p.master_pid)
            _exit(126); /* master died before the line above */
        execvp(argv[0], argv);
    } else {
        execv(argv[0], argv);
    }
    log_error("%s: cannot run %s: %s", in->name, argv[0], strerror(errno));
    _exit(127);
}

static void inst_spawn(struct sup_inst *in) {
    sup_t *s = in->sup;
    const struct mcf_service *d = in->svc->def;
    int fds[SUP_MAX_FDS], nfds = 0;
    char fdspec[512] = "", path[PATH_MAX], idx[16], slot[16];
    char *wargv[48];
    char **argv;
    int sv[2] = {-1, -1};
    int token_fd = -1;
    size_t off = 0;

    if (!in->exec) {
        int lfd = svc_listen_fd(s, in->svc, in->index);
        if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0 || lfd < 0) {
            log_error("%s: cannot set up its sockets: %s", in->name, strerror(errno));
            goto failed;
        }
#define ADD_FD(nm, f)                                                                      \
    do {                                                                                   \
        off += (size_t)snprintf(fdspec + off, sizeof fdspec - off, "%s%s=%d", nfds ? "," : "", \
                                nm, 3 + nfds);                                             \
        fds[nfds++] = (f);                                                                 \
    } while (0)
        ADD_FD("shm", s->p.shm_fd);
        ADD_FD("master", sv[1]);
        ADD_FD("listen", lfd);
        /* apid's bearer token: the file is root's; the descriptor lets apid read it. */
        if (d->role == SB_ROLE_apid &&
            (token_fd = open(cfg_str(s->cfg, CFG_api_token_file),
                             O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) >= 0)
            ADD_FD("api_token", token_fd);
        if (d->type == MCF_INET)
            for (int i = 0; i < s->nlsn && nfds < SUP_MAX_FDS && off < sizeof fdspec - 40; i++) {
                int fd = s->lsn[i].role == d->role ? lsn_fd_for(&s->lsn[i], in->index) : -1;
                if (fd >= 0)
                    ADD_FD(s->lsn[i].name, fd);
            }
#undef ADD_FD
        snprintf(path, sizeof path, "%s/%s", s->p.daemon_dir, sb_role_info(d->role)->name);
        snprintf(idx, sizeof idx, "%d", in->index);
        snprintf(slot, sizeof slot, "%d", in->slot);
        int a = 0;
        wargv[a++] = path;
        wargv[a++] = "-c";
        wargv[a++] = (char *)s->p.confdir;
        wargv[a++] = "-s";
        wargv[a++] = (char *)d->name;
        wargv[a++] = "-i";
        wargv[a++] = idx;
        wargv[a++] = "-S";
        wargv[a++] = slot;
        wargv[a++] = "-F";
        wargv[a++] = fdspec;
        if (d->unpriv && s->root) {
            wargv[a++] = "-u";
            wargv[a++] = (char *)cfg_str(s->cfg, CFG_service_user);
        }
        if (d->chroot && s->root)
            wargv[a++] = "-r";
        /* master.cf arguments follow ours; workers take none yet, so any is refused at
         * start (and throttled) rather than silently ignored. */
        for (int i = 1; i < d->argc && a < (int)(sizeof wargv / sizeof wargv[0]) - 1; i++)
            wargv[a++] = d->argv[i];
        wargv[a] = NULL;
        argv = wargv;
    } else {
        argv = d->argv;
    }

    sigset_t all, old;
    sigfillset(&all);
    sigprocmask(SIG_BLOCK, &all, &old);
    pid_t pid = fork();
    if (pid == 0)
        child_exec(s, in, fds, nfds, argv);
    sigprocmask(SIG_SETMASK, &old, NULL);
    if (token_fd >= 0)
        close(token_fd);
    if (pid < 0) {
        log_error("%s: fork: %s", in->name, strerror(errno));
        goto failed;
    }
    if (sv[1] >= 0)
        close(sv[1]);
    in->pid = pid;
    in->started_mono_us = clock_mono_us();
    in->ready_seen = false;
    if (sv[0] >= 0) {
        in->chan = ipc_chan_open(s->p.loop, sv[0], &status_handlers, in,
                                 (size_t)cfg_int(s->cfg, CFG_ipc_max_message));
        sv[0] = -1;
    }
    struct shm_proc *p = slot_of(in);
    shm_proc_write_begin(p);
    p->pid = pid;
    p->state = in->exec ? SHM_READY : SHM_STARTING;
    p->reason[0] = '\0';
    p->started_us = clock_wall_us();
    p->restarts = in->restarts;
    p->fail_streak = in->streak;
    p->next_start_us = 0;
    p->heartbeat_mono_us = 0;
    shm_proc_write_end(p);
    log_debug("%s started, pid %d", in->name, (int)pid);
    if (in->exec)
        check_all_ready(s);
    return;

failed:
    if (sv[0] >= 0)
        close(sv[0]);
    if (sv[1] >= 0)
        close(sv[1]);
    /* Count it as a death at start so a persistent fault is throttled, not looped. */
    in->started_mono_us = clock_mono_us();
    in->pid = 0;
    in->streak = throttle_next_streak(in->streak, false, 0);
    int64_t delay = throttle_delay_ms(in->streak, cfg_time_ms(s->cfg, CFG_service_throttle_time));
    if (delay == 0)
        delay = THROTTLE_BASE_MS; /* a local fault: never retry in a tight loop */
    slot_set_state(in, SHM_THROTTLED);
    uv_timer_start(&in->timer, respawn_cb, (uint64_t)delay, 0);
}

/* ---- services ---- */

static struct sup_svc *svc_new(sup_t *s, const struct mcf_service *def) {
    struct sup_svc *svc = calloc(1, sizeof *svc);
    if (!svc)
        log_panic("out of memory");
    svc->def = def;
    for (int i = 0; i < MCF_MAXPROC_MAX; i++)
        svc->listen_fd[i] = -1;
    struct sup_svc **pp = &s->svcs;
    while (*pp)
        pp = &(*pp)->next;
    *pp = svc;
    return svc;
}

/* Grows or shrinks svc to n instances; new ones are spawned at once unless spawn is false
 * (the first start makes every slot first, so that no worker starts before the slots of
 * the roles it needs exist: it would find none configured and call itself ready). */
static void svc_resize(sup_t *s, struct sup_svc *svc, int n, bool spawn) {
    for (int i = svc->count; i < n; i++) {
        svc->inst[i] = inst_new(s, svc, i);
        if (svc->inst[i] && spawn)
            inst_spawn(svc->inst[i]);
    }
    for (int i = n; i < svc->count; i++) {
        if (svc->inst[i])
            inst_retire(svc->inst[i]);
        svc->inst[i] = NULL;
        svc_close_listen_fd(svc, i);
        if (svc->def->type == MCF_INET)
            lsn_release_instance(s, svc->def->role, i);
    }
    svc->count = n;
}

/* Retires every instance and closes every IPC socket of svc (removed or changed). */
static void svc_clear(struct sup_svc *svc) {
    for (int i = 0; i < svc->count; i++) {
        if (svc->inst[i])
            inst_retire(svc->inst[i]);
        svc->inst[i] = NULL;
    }
    for (int i = 0; i < MCF_MAXPROC_MAX; i++)
        svc_close_listen_fd(svc, i);
    svc->count = 0;
}

static void tick_cb(uv_timer_t *t) {
    sup_t *s = t->data;
    int64_t now = clock_mono_us();
    int64_t hang_us = cfg_time_ms(s->cfg, CFG_worker_hang_timeout) * 1000;
    for (struct sup_svc *svc = s->svcs; svc; svc = svc->next) {
        bool wake = svc->def->wakeup > 0 &&
                    now - svc->last_wakeup_us >= (int64_t)svc->def->wakeup * 1000000;
        if (wake)
            svc->last_wakeup_us = now;
        for (int i = 0; i < svc->count; i++) {
            struct sup_inst *in = svc->inst[i];
            if (!in || in->exec || in->pid <= 0 || !in->ready_seen)
                continue;
            if (wake)
                send_control(in, SB__CONTROL_OP__CONTROL_OP_WAKEUP, 0);
            int64_t hb = __atomic_load_n(&slot_of(in)->heartbeat_mono_us, __ATOMIC_RELAXED);
            if (hb && now - hb > hang_us) {
                log_error("%s pid %d: no heartbeat for %lld ms; killing it", in->name,
                          (int)in->pid, (long long)(now - hb) / 1000);
                kill(in->pid, SIGKILL);
            }
        }
    }
}

sup_t *sup_start(const struct sup_params *params, cfg_t *cfg, mcf_t *mcf, char *err,
                 size_t errlen) {
    sup_t *s = calloc(1, sizeof *s);
    if (!s) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    s->p = *params;
    s->cfg = cfg;
    s->mcf = mcf;
    s->start_mono_us = clock_mono_us();
    s->root = geteuid() == 0;
    if (s->root) {
        const char *user = cfg_str(cfg, CFG_service_user);
        if (priv_lookup(user, &s->uid, &s->gid) < 0) {
            snprintf(err, errlen, "%s/main.cf: service_user '%s' does not exist", s->p.confdir,
                     user);
            free(s);
            return NULL;
        }
    }
    if (lsn_open_all(s, err, errlen) < 0) {
        lsn_close_all(s);
        free(s);
        return NULL;
    }
    uv_timer_init(s->p.loop, &s->tick);
    s->tick.data = s;
    uv_timer_start(&s->tick, tick_cb, SUP_TICK_MS, SUP_TICK_MS);
    for (size_t i = 0; i < mcf->count; i++)
        svc_resize(s, svc_new(s, &mcf->services[i]), mcf->services[i].maxproc, false);
    for (struct sup_svc *svc = s->svcs; svc; svc = svc->next)
        for (int i = 0; i < svc->count; i++)
            if (svc->inst[i])
                inst_spawn(svc->inst[i]);
    s->started = true;
    check_all_ready(s);
    return s;
}

const cfg_t *sup_cfg(const sup_t *s) {
    return s->cfg;
}

void sup_reload(sup_t *s, cfg_t *cfg, mcf_t *mcf) {
    cfg_t *old_cfg = s->cfg;
    mcf_t *old_mcf = s->mcf;
    char err[512];
    if (s->stopping) {
        cfg_free(cfg);
        mcf_free(mcf);
        return;
    }
    static const enum cfg_param restart_only[] = {
        CFG_run_directory,  CFG_service_user, CFG_sip_listen_udp, CFG_sip_listen_tcp,
        CFG_sip_listen_tls, CFG_api_listen,   CFG_log_file,       CFG_daemon_directory};
    for (size_t i = 0; i < sizeof restart_only / sizeof restart_only[0]; i++)
        if (strcmp(cfg_str(old_cfg, restart_only[i]), cfg_str(cfg, restart_only[i])))
            log_warn("%s changed: takes effect at the next start of master",
                     cfg_param_info(restart_only[i])->name);
    s->cfg = cfg;
    s->mcf = mcf;
    /* Removed services. */
    for (struct sup_svc **pp = &s->svcs; *pp;) {
        struct sup_svc *svc = *pp;
        if (!mcf_find(mcf, svc->def->name)) {
            log_info("service %s removed", svc->def->name);
            if (svc->def->type == MCF_INET)
                for (int i = 0; i < svc->count; i++)
                    lsn_release_instance(s, svc->def->role, i);
            svc_clear(svc);
            *pp = svc->next;
            free(svc);
        } else {
            pp = &svc->next;
        }
    }
    /* Tell the survivors first, so only they get the new main.cf over IPC. */
    for (struct sup_svc *svc = s->svcs; svc; svc = svc->next) {
        const struct mcf_service *nd = mcf_find(mcf, svc->def->name);
        if (mcf_changed(svc->def, nd))
            continue;
        for (int i = 0; i < svc->count; i++)
            if (svc->inst[i] && svc->inst[i]->pid > 0)
                send_control(svc->inst[i], SB__CONTROL_OP__CONTROL_OP_RELOAD, 0);
    }
    if (lsn_open_all(s, err, sizeof err) < 0)
        log_error("reload: %s", err);
    for (size_t i = 0; i < mcf->count; i++) {
        const struct mcf_service *nd = &mcf->services[i];
        struct sup_svc *svc = s->svcs;
        while (svc && strcmp(svc->def->name, nd->name))
            svc = svc->next;
        if (!svc) {
            log_info("service %s added (%d processes)", nd->name, nd->maxproc);
            svc_resize(s, svc_new(s, nd), nd->maxproc, true);
        } else if (mcf_changed(svc->def, nd)) {
            log_info("service %s changed at %s/master.cf:%d: restarting it", nd->name,
                     s->p.confdir, nd->line);
            svc_clear(svc);
            svc->def = nd;
            svc_resize(s, svc, nd->maxproc, true);
        } else {
            if (svc->count != nd->maxproc)
                log_info("service %s: maxproc %d -> %d", nd->name, svc->count, nd->maxproc);
            svc->def = nd;
            svc_resize(s, svc, nd->maxproc, true);
        }
    }
    /* Order services as in the new master.cf (stop order, status order). */
    struct sup_svc *ordered = NULL, **tail = &ordered;
    for (size_t i = 0; i < mcf->count; i++)
        for (struct sup_svc **pp = &s->svcs; *pp; pp = &(*pp)->next)
            if (strcmp((*pp)->def->name, mcf->services[i].name) == 0) {
                struct sup_svc *svc = *pp;
                *pp = svc->next;
                svc->next = NULL;
                *tail = svc;
                tail = &svc->next;
                break;
            }
    s->svcs = ordered;
    __atomic_add_fetch(&s->p.shm->hdr.generation, 1, __ATOMIC_RELEASE);
    s->all_ready_logged = false;
    s->start_mono_us = clock_mono_us();
    check_all_ready(s);
    cfg_free(old_cfg);
    mcf_free(old_mcf);
    log_info("reloaded %s/main.cf and %s/master.cf", s->p.confdir, s->p.confdir);
}

static bool any_running(const sup_t *s, bool exec) {
    for (struct sup_inst *in = s->retiring; in; in = in->next)
        if (in->exec == exec)
            return true;
    for (struct sup_svc *svc = s->svcs; svc; svc = svc->next)
        for (int i = 0; i < svc->count; i++)
            if (svc->inst[i] && svc->inst[i]->exec == exec)
                return true;
    return false;
}

static void retire_kind(sup_t *s, bool exec) {
    for (struct sup_svc *svc = s->svcs; svc; svc = svc->next)
        if ((svc->def->type == MCF_EXEC) == exec)
            svc_clear(svc);
}

static void stop_progress(sup_t *s) {
    if (s->stopping == 1 && !any_running(s, false)) {
        s->stopping = 2;
        retire_kind(s, true);
    }
    if (s->stopping == 2 && !any_running(s, true) && !any_running(s, false)) {
        s->stopping = 3;
        uv_timer_stop(&s->tick);
        uv_close((uv_handle_t *)&s->tick, NULL);
        if (s->p.on_stopped)
            s->p.on_stopped(s->p.arg);
    }
}

void sup_stop(sup_t *s) {
    if (s->stopping) {
        if (s->stopping < 3) {
            log_warn("stop requested again: killing every process now");
            for (struct sup_inst *in = s->retiring; in; in = in->next)
                if (in->pid > 0)
                    kill(in->pid, SIGKILL);
        }
        return;
    }
    s->stopping = 1;
    log_info("stopping: draining workers (window %lld ms)",
             (long long)cfg_time_ms(s->cfg, CFG_drain_timeout));
    retire_kind(s, false);
    stop_progress(s);
}

static struct sup_inst *find_pid(sup_t *s, pid_t pid) {
    for (struct sup_inst *in = s->retiring; in; in = in->next)
        if (in->pid == pid)
            return in;
    for (struct sup_svc *svc = s->svcs; svc; svc = svc->next)
        for (int i = 0; i < svc->count; i++)
            if (svc->inst[i] && svc->inst[i]->pid == pid)
                return svc->inst[i];
    return NULL;
}

void sup_reap(sup_t *s) {
    int status;
    pid_t pid;
    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        struct sup_inst *in = find_pid(s, pid);
        if (in)
            inst_exited(in, status);
    }
}

void sup_free(sup_t *s) {
    if (!s)
        return;
    while (s->svcs) {
        struct sup_svc *svc = s->svcs;
        s->svcs = svc->next;
        for (int i = 0; i < MCF_MAXPROC_MAX; i++)
            svc_close_listen_fd(svc, i);
        free(svc);
    }
    lsn_close_all(s);
    cfg_free(s->cfg);
    mcf_free(s->mcf);
    free(s);
}
