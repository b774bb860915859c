/*
 * NAME
 *   worker - the skeleton every worker process runs (sipd, routerd, dialogd, mediad, apid).
 * DESCRIPTION
 *   worker_main does the whole lifecycle, so a process's main.c is its ops table:
 *   options (-c CONFDIR -s SERVICE -i INSTANCE -S SLOT -F name=fd,... [-u USER] [-r DIR]),
 *   logging, the shm map (refused unless its layout version matches), main.cf, the
 *   role's privileged init, chdir to run_directory, privilege drop (chroot, user),
 *   the libuv loop, the status channel to master (Hello, then Status STARTING naming what
 *   it waits for, READY once everything it needs to serve is up: its Redis link, one
 *   instance of each role it needs (roles.h) and the role's own conditions (ops->ready);
 *   DEGRADED while one of them is down after that, READY again when it is back), a heartbeat in shm every heartbeat_interval, connections to the
 *   ready instances of its peer roles (roles.h; re-checked at every heartbeat, so peers
 *   that restart or are added by a reload are picked up), a Redis link for roles that use
 *   Redis, and the answers every worker gives (Ping -> Pong, Hello -> Hello, an Error for
 *   what no one handles), the served SIP domain (domains.h, w->domains: sip_domains and the
 *   local addresses, read at start and at every reload). Master's Control messages drive
 *   reload (new main.cf text), drain (take nothing new; exit once ops->drain reports done
 *   or the window ends), stop and wakeup. A worker exits when master's channel closes: it
 *   never outlives master.
 * OWNERSHIP
 *   worker_t belongs to worker_main; ops callbacks borrow it. Descriptors named with -F
 *   belong to the worker; worker_take_fd hands one to the role.
 * LOOP
 *   The worker's single libuv loop (w->loop).
 * ERRORS
 *   Start-up problems are fatal (log_fatal, exit 1): master counts an early death and
 *   throttles. Runtime faults are logged rate-limited and counted in shm.
 */
#ifndef SB_WORKER_H
#define SB_WORKER_H

#include <stdbool.h>
#include <uv.h>

#include "cfg.h"
#include "domains.h"
#include "ipc.h"
#include "redis.h"
#include "roles.h"
#include "shm.h"

typedef struct worker worker_t;

struct worker_ops {
    enum sb_role role;
    /* Before the privilege drop, no loop yet: open what needs root. Optional. */
    int (*init_privileged)(worker_t *w);
    /* On the loop, after the drop; readiness is evaluated once it returns 0. Optional. */
    int (*init)(worker_t *w);
    /* The role's own conditions of readiness (a dialplan loaded, a subscription
     * confirmed): false with what is missing in why. Asked whenever readiness is
     * evaluated; the role calls worker_ready_changed when its answer changes. Optional. */
    bool (*ready)(worker_t *w, char *why, size_t cap);
    /* An envelope from a peer or master that the skeleton does not handle itself.
     * Return true when handled; false makes the skeleton answer an Error. Optional. */
    bool (*on_envelope)(worker_t *w, ipc_chan_t *ch, Sb__Envelope *env);
    /* main.cf was re-read; w->cfg is the new one (the old one is freed after). Optional. */
    void (*reload)(worker_t *w, const cfg_t *old);
    /* Take no new work; call worker_drained(w) when nothing is in flight. Optional:
     * without it the worker counts as drained at once. */
    void (*drain)(worker_t *w);
    /* Release the role's handles and memory; the loop then runs until all are closed. */
    void (*stop)(worker_t *w);
    /* The Redis link went up or down (roles with uses_redis). Optional. */
    void (*redis_state)(worker_t *w, bool up);
    /* A peer channel is about to be freed (peer gone, dropped, or the worker stopping):
     * forget it, never send on it again. Roles that answer requests later (after Redis,
     * after another peer) keep the channel until then and let go here. Optional. */
    void (*peer_closed)(worker_t *w, ipc_chan_t *ch);
};

struct worker {
    uv_loop_t *loop;
    const struct worker_ops *ops;
    cfg_t *cfg;
    const char *confdir;
    char service[32];
    int instance;
    int slot_index;
    struct shm_seg *shm;
    struct shm_proc *slot;   /* this worker's slot: write heartbeat and counters only */
    ipc_chan_t *master;
    rds_t *redis;            /* NULL for roles that do not use Redis */
    domains_t *domains;      /* the served SIP domain of main.cf (sip_domains, local
                              * addresses): rebuilt at reload before ops->reload, the old
                              * one freed after it; never NULL once init runs */
    bool draining;
    void *role_ctx;          /* the role's own state */
    const Sb__Control *control; /* during ops->reload: master's RELOAD (borrowed), else NULL */
    struct worker_private *priv;
};

/* Runs the worker; returns the process exit status. */
int worker_main(int argc, char **argv, const struct worker_ops *ops);
/* The descriptor master passed under name (-F name=fd), or -1. The role owns it after. */
int worker_take_fd(worker_t *w, const char *name);
/* Something ops->ready depends on changed: readiness is evaluated and reported. */
void worker_ready_changed(worker_t *w);
/* The role has nothing in flight any more: the worker exits. */
void worker_drained(worker_t *w);
/* Number of peer channels up (outgoing and incoming). */
int worker_peer_count(const worker_t *w);
/* A channel to a ready instance of role (one we connected to), chosen by key modulo
 * the number of them in instance order (so a key keeps its instance while the set is
 * stable); NULL when none is connected. The channel is borrowed: do not close it. */
ipc_chan_t *worker_peer_pick(worker_t *w, enum sb_role role, uint64_t key);
/* The channel to instance of service, or NULL when not connected. Borrowed. */
ipc_chan_t *worker_peer_instance(worker_t *w, const char *service, int instance);
/* The channel to instance of a role, whatever its service is named. Borrowed. */
ipc_chan_t *worker_peer_role_instance(worker_t *w, enum sb_role role, int instance);

#endif
