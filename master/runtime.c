/* runtime - see runtime.h */
#include "runtime.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "shm.h"

static int mkdir_owned(const char *path, mode_t mode, bool root, uid_t uid, gid_t gid,
                       char *err, size_t errlen) {
    if (mkdir(path, mode) < 0 && errno != EEXIST) {
        snprintf(err, errlen, "cannot create %s: %s", path, strerror(errno));
        return -errno;
    }
    if ((root && chown(path, uid, gid) < 0) || chmod(path, mode) < 0) {
        snprintf(err, errlen, "cannot set owner and mode of %s: %s", path, strerror(errno));
        return -errno;
    }
    return 0;
}

int rt_prepare(const cfg_t *cfg, bool root, uid_t uid, gid_t gid, char *err, size_t errlen) {
    const char *run = cfg_str(cfg, CFG_run_directory);
    char path[PATH_MAX];
    /* mkdir -p, owned by whoever runs master. */
    if (snprintf(path, sizeof path, "%s", run) >= (int)sizeof path) {
        snprintf(err, errlen, "run_directory too long");
        return -ENAMETOOLONG;
    }
    for (char *p = path + 1; *p; p++)
        if (*p == '/') {
            *p = '\0';
            mkdir(path, 0755);
            *p = '/';
        }
    int rc = mkdir_owned(run, 0755, false, 0, 0, err, errlen);
    if (rc < 0)
        return rc;
    snprintf(path, sizeof path, "%s/private", run);
    if ((rc = mkdir_owned(path, 0700, root, uid, gid, err, errlen)) < 0)
        return rc;
    snprintf(path, sizeof path, "%s/public", run);
    return mkdir_owned(path, 0755, root, uid, gid, err, errlen);
}

static void pid_path(const cfg_t *cfg, char *out, size_t outlen) {
    snprintf(out, outlen, "%s/master.pid", cfg_str(cfg, CFG_run_directory));
}

int rt_lock(const cfg_t *cfg) {
    char path[PATH_MAX];
    pid_path(cfg, path, sizeof path);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0)
        return -errno;
    if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
        int e = errno == EWOULDBLOCK ? -EWOULDBLOCK : -errno;
        close(fd);
        return e;
    }
    return fd;
}

int rt_write_pid(int fd, pid_t pid) {
    char buf[32];
    int n = snprintf(buf, sizeof buf, "%ld\n", (long)pid);
    if (ftruncate(fd, 0) < 0 || pwrite(fd, buf, (size_t)n, 0) != n)
        return -errno;
    return 0;
}

pid_t rt_running_pid(const cfg_t *cfg) {
    char path[PATH_MAX], buf[32];
    pid_path(cfg, path, sizeof path);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? 0 : -errno;
    if (flock(fd, LOCK_SH | LOCK_NB) == 0) { /* nobody holds it: no master */
        close(fd);
        return 0;
    }
    ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
    close(fd);
    if (n <= 0)
        return -EAGAIN; /* locked, pid not written yet */
    buf[n] = '\0';
    long pid = strtol(buf, NULL, 10);
    return pid > 0 ? (pid_t)pid : -EAGAIN;
}

int rt_shm_name(const cfg_t *cfg, char *out, size_t outlen) {
    return shm_name(cfg_str(cfg, CFG_config_directory), out, outlen);
}

void rt_cleanup(const cfg_t *cfg) {
    char path[PATH_MAX];
    const char *run = cfg_str(cfg, CFG_run_directory);
    snprintf(path, sizeof path, "%s/private", run);
    rmdir(path);
    snprintf(path, sizeof path, "%s/public", run);
    rmdir(path);
    pid_path(cfg, path, sizeof path);
    unlink(path);
}
