/*
 * NAME
 *   runtime - the run directory: its layout, the pid lock, and the shm segment name.
 * DESCRIPTION
 *   run_directory holds master.pid (locked with flock by the running master: the lock,
 *   not the pid, says whether a master runs for this CONFDIR), the log file of a
 *   background master, private/ (IPC sockets for the service user only, mode 0700) and
 *   public/ (mode 0755). master and the switchboard command share this module.
 * OWNERSHIP
 *   rt_lock returns an fd the caller keeps open as long as it holds the lock.
 * ERRORS
 *   Negative errno; -EWOULDBLOCK from rt_lock means a master holds the lock.
 */
#ifndef SB_RUNTIME_H
#define SB_RUNTIME_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "cfg.h"

/* Creates run_directory, private/ and public/ with their owners and modes. */
int rt_prepare(const cfg_t *cfg, bool root, uid_t uid, gid_t gid, char *err, size_t errlen);
/* Opens and locks run_directory/master.pid without waiting. */
int rt_lock(const cfg_t *cfg);
/* Writes pid into the locked pid file. */
int rt_write_pid(int fd, pid_t pid);
/* pid of the master holding the lock, 0 when none does, negative errno on failure. */
pid_t rt_running_pid(const cfg_t *cfg);
/* The shm segment name of the configuration's CONFDIR. */
int rt_shm_name(const cfg_t *cfg, char *out, size_t outlen);
/* Removes the pid file and the socket directories if empty (master at exit). */
void rt_cleanup(const cfg_t *cfg);

#endif
