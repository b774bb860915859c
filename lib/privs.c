/* privs - see privs.h */
#include "privs.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

int priv_lookup(const char *user, uid_t *uid, gid_t *gid) {
    struct passwd pw, *res = NULL;
    char buf[4096];
    int rc = getpwnam_r(user, &pw, buf, sizeof buf, &res);
    if (rc != 0)
        return -rc;
    if (!res)
        return -ENOENT;
    *uid = pw.pw_uid;
    *gid = pw.pw_gid;
    return 0;
}

#define PRIV_FAIL(step)                                                       \
    do {                                                                      \
        int e_ = errno;                                                       \
        snprintf(err, errlen, "%s: %s", step, strerror(e_));                  \
        return -e_;                                                           \
    } while (0)

int priv_drop(const char *user, const char *chroot_dir, char *err, size_t errlen) {
    if (geteuid() == 0) {
        uid_t uid = 0;
        gid_t gid = 0;
        if (user) {
            int rc = priv_lookup(user, &uid, &gid);
            if (rc < 0) {
                snprintf(err, errlen, "unknown user '%s'", user);
                return rc;
            }
        }
        if (chroot_dir) {
            if (chroot(chroot_dir) < 0)
                PRIV_FAIL("chroot");
            if (chdir("/") < 0)
                PRIV_FAIL("chdir /");
        }
        if (user) {
            if (setgroups(1, &gid) < 0)
                PRIV_FAIL("setgroups");
            if (setresgid(gid, gid, gid) < 0)
                PRIV_FAIL("setresgid");
            if (setresuid(uid, uid, uid) < 0)
                PRIV_FAIL("setresuid");
            if (uid != 0 && (setuid(0) == 0 || seteuid(0) == 0)) {
                snprintf(err, errlen, "root could be regained after setresuid");
                return -EPERM;
            }
        }
    }
#if defined(__SANITIZE_ADDRESS__)
    /* Sanitizer builds only: LeakSanitizer must be able to inspect the process after the
     * uid change, which clears the dumpable flag. Production builds keep it cleared. */
    prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);
#endif
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
        PRIV_FAIL("PR_SET_NO_NEW_PRIVS");
    return 0;
}
