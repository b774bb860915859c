/*
 * NAME
 *   sandbox - a seccomp allow-list for the workers that face the network.
 * DESCRIPTION
 *   sandbox_apply installs a seccomp filter (libseccomp) that lets the process make only
 *   the system calls a libuv network worker makes once it runs: memory, the event loop,
 *   sockets of the families it uses (IPv4, IPv6, Unix, netlink for the interface list),
 *   reads and writes on descriptors it holds, opening files read-only, time, random bytes,
 *   threads (clone with CLONE_THREAD only) and exit. Everything else (execve, fork, ptrace,
 *   mount, setuid, kill of other processes, opening a file for writing, ...) fails with
 *   EPERM; clone3 fails with ENOSYS so that the C library falls back to clone, whose flags
 *   the filter can see. The filter is inherited and cannot be lifted.
 *   Roles with a filter: sipd and apid (sandbox_wanted). A build with AddressSanitizer
 *   gets none: LeakSanitizer's exit check traces the process from a helper task.
 * LOOP
 *   Once, after the privilege drop and the worker's own initialisation.
 * ERRORS
 *   Negative errno with the reason in err.
 */
#ifndef SB_SANDBOX_H
#define SB_SANDBOX_H

#include <stdbool.h>
#include <stddef.h>

#include "roles.h"

/* Whether role runs under the filter (false in sanitizer builds). */
bool sandbox_wanted(enum sb_role role);
/* Installs the filter in the calling process (and its threads to come). */
int sandbox_apply(char *err, size_t errlen);

#endif
