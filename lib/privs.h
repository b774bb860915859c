/*
 * NAME
 *   privs - drop root: chroot, then user and groups, for good.
 * DESCRIPTION
 *   priv_drop does, in this order: chroot(dir) + chdir("/") when a directory is given,
 *   setgroups to the user's primary group only, setresgid, setresuid, a check that root
 *   cannot be regained, and PR_SET_NO_NEW_PRIVS. When the process is not root it changes
 *   nothing but PR_SET_NO_NEW_PRIVS (an unprivileged master runs everything as itself).
 * LOOP
 *   Start-up only, before the loop runs.
 * ERRORS
 *   Negative errno with the step that failed in err; the caller exits (log_fatal).
 */
#ifndef SB_PRIVS_H
#define SB_PRIVS_H

#include <stddef.h>
#include <sys/types.h>

/* uid/gid of user; -ENOENT if there is no such user. */
int priv_lookup(const char *user, uid_t *uid, gid_t *gid);
/* user NULL: keep the user; chroot_dir NULL: no chroot. */
int priv_drop(const char *user, const char *chroot_dir, char *err, size_t errlen);

#endif
