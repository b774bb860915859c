/*
 * NAME
 *   supervisor - master's table of services and their processes.
 * DESCRIPTION
 *   For every master.cf service, maxproc instances. Each instance owns a slot of the shm
 *   process table and, for workers, a status channel (a SEQPACKET socketpair) and the
 *   listening socket of its IPC address (private/SERVICE.N or public/SERVICE.N) that
 *   master creates once and keeps, so peers can connect while an instance restarts.
 *   Instances are forked and exec'd with an explicit descriptor list (-F name=fd).
 *   A dead instance is respawned; one that keeps dying at start is throttled
 *   (throttle.h). sup_reload applies a new configuration: services added or removed,
 *   changed lines restarted, maxproc grown or shrunk, the rest told to re-read main.cf.
 *   sup_stop drains every worker, then stops exec services, then calls on_stopped.
 *   Retiring instances (shrink, restart, stop) get DRAIN and are killed when
 *   drain_timeout has passed.
 * OWNERSHIP
 *   sup_t keeps cfg and mcf given to sup_start/sup_reload and frees the ones replaced.
 * LOOP
 *   master's libuv loop; SIGCHLD reaping calls sup_reap.
 * ERRORS
 *   Runtime faults (fork, socket) are logged and retried with the throttle; start-up
 *   faults (no run directory, user missing) are returned.
 */
#ifndef SB_SUPERVISOR_H
#define SB_SUPERVISOR_H

#include <stdbool.h>
#include <sys/types.h>
#include <uv.h>

#include "cfg.h"
#include "mastercf.h"
#include "shm.h"

typedef struct sup sup_t;

struct sup_params {
    uv_loop_t *loop;
    struct shm_seg *shm;
    int shm_fd;
    const char *confdir;     /* real path */
    const char *daemon_dir;  /* where worker programs are */
    pid_t master_pid;
    void (*on_stopped)(void *arg);
    void *arg;
};

/* Takes cfg and mcf; opens listeners and starts every service. */
sup_t *sup_start(const struct sup_params *params, cfg_t *cfg, mcf_t *mcf, char *err,
                 size_t errlen);
/* Applies a new configuration (takes cfg and mcf). */
void sup_reload(sup_t *s, cfg_t *cfg, mcf_t *mcf);
/* Graceful stop; a second call kills what is left. */
void sup_stop(sup_t *s);
/* Collects exited children (SIGCHLD). */
void sup_reap(sup_t *s);
/* Frees everything after on_stopped (sockets closed and unlinked). */
void sup_free(sup_t *s);
const cfg_t *sup_cfg(const sup_t *s);

#endif
