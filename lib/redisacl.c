/* redisacl - see redisacl.h */
#include "redisacl.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "keys.h"
#include "rand.h"

/* What each role may do: its keys (~ read-write, %R~ read-only), its pub/sub channels
 * and its command categories. Admin commands (@dangerous: CONFIG, FLUSHALL, KEYS, DEBUG,
 * SHUTDOWN, REPLICAOF, ACL, MODULE ...) are nobody's but the default user's. */
static const struct {
    enum sb_role role;
    const char *rules;
} role_rules[] = {
    {SB_ROLE_routerd, "~" SB_KEY_REG "* ~" SB_KEY_REGEXP "* %R~" SB_KEY_SUB "* ~" SB_KEY_AUTH_SECRET
                      " ~" SB_KEY_NC "* ~" SB_KEY_AUTHFAIL "* ~" SB_KEY_BAN "* &" SB_EVENTS_CHANNEL
                      " +@read +@write +@scripting +@pubsub +@connection +time -@dangerous"},
    {SB_ROLE_dialogd, "~" SB_KEY_DLG "* ~" SB_KEY_DLGB "* &" SB_EVENTS_CHANNEL
                      " +@read +@write +@transaction +@pubsub +@connection +time -@dangerous"},
    {SB_ROLE_apid, "%R~sb:* ~" SB_KEY_REG "* ~" SB_KEY_REGEXP "* ~" SB_KEY_SUB "* ~" SB_KEY_BAN
                   "* ~" SB_KEY_AUTHFAIL "* &" SB_EVENTS_CHANNEL
                   " +@read +@write +@scripting +@pubsub +@connection +time -@dangerous"},
};

static const char *rules_of(enum sb_role role) {
    for (size_t i = 0; i < sizeof role_rules / sizeof role_rules[0]; i++)
        if (role_rules[i].role == role)
            return role_rules[i].rules;
    return NULL;
}

/* secret_directory/redis-NAME */
static int secret_path(const cfg_t *cfg, const char *name, char *out, size_t cap, char *err,
                       size_t errlen) {
    if (snprintf(out, cap, "%s/redis-%s", cfg_str(cfg, CFG_secret_directory), name) >= (int)cap) {
        snprintf(err, errlen, "secret_directory: path too long");
        return -ENAMETOOLONG;
    }
    return 0;
}

/* Reads the password of NAME into pw (one line of [0-9a-zA-Z], 16..127 characters). */
static int secret_read(const cfg_t *cfg, const char *name, char *pw, size_t cap, char *err,
                       size_t errlen) {
    char path[PATH_MAX];
    int rc = secret_path(cfg, name, path, sizeof path, err, errlen);
    if (rc < 0)
        return rc;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
        rc = -errno;
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return rc;
    }
    ssize_t n = read(fd, pw, cap - 1);
    close(fd);
    if (n < 0) {
        rc = -errno;
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return rc;
    }
    while (n > 0 && (pw[n - 1] == '\n' || pw[n - 1] == '\r'))
        n--;
    pw[n] = '\0';
    bool ok = n >= 16;
    for (ssize_t i = 0; i < n && ok; i++)
        ok = (pw[i] >= '0' && pw[i] <= '9') || (pw[i] >= 'a' && pw[i] <= 'z') ||
             (pw[i] >= 'A' && pw[i] <= 'Z');
    if (!ok) {
        snprintf(err, errlen, "%s: want one line of 16 to %zu letters and digits", path,
                 cap - 1);
        return -EINVAL;
    }
    return 0;
}

/* Creates the password file of NAME with 32 random hex digits unless it exists. */
static int secret_make(const cfg_t *cfg, const char *name, char *err, size_t errlen) {
    char path[PATH_MAX], pw[65];
    int rc = secret_path(cfg, name, path, sizeof path, err, errlen);
    if (rc < 0)
        return rc;
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0 && errno == EEXIST)
        return 0;
    if (fd < 0) {
        rc = -errno;
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return rc;
    }
    if ((rc = sb_random_hex(pw, sizeof pw, 32)) < 0) {
        close(fd);
        unlink(path);
        snprintf(err, errlen, "%s: no random bytes for a password", path);
        return rc;
    }
    size_t len = strlen(pw);
    pw[len++] = '\n';
    rc = write(fd, pw, len) == (ssize_t)len ? 0 : -EIO;
    if (close(fd) < 0 && rc == 0)
        rc = -errno;
    if (rc < 0) {
        unlink(path);
        snprintf(err, errlen, "%s: cannot write: %s", path, strerror(-rc));
    }
    return rc;
}

int redisacl_credentials(const cfg_t *cfg, enum sb_role role, struct rds_auth *auth,
                         char *err, size_t errlen) {
    memset(auth, 0, sizeof *auth);
    if (!cfg_bool(cfg, CFG_redis_acl) || !rules_of(role))
        return 0;
    const char *name = sb_role_info(role)->name;
    snprintf(auth->user, sizeof auth->user, "sb-%s", name);
    return secret_read(cfg, name, auth->password, sizeof auth->password, err, errlen);
}

int redisacl_admin_password(const cfg_t *cfg, char *pw, size_t cap, char *err, size_t errlen) {
    return secret_read(cfg, "admin", pw, cap, err, errlen);
}

/* "#" and the SHA-256 of pw in hex: how an ACL file names a password without holding it */
static void hash_of(const char *pw, char out[66]) {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    static const char hex[] = "0123456789abcdef";
    EVP_Digest(pw, strlen(pw), md, &mdlen, EVP_sha256(), NULL);
    out[0] = '#';
    for (unsigned int i = 0; i < mdlen && i < 32; i++) {
        out[1 + 2 * i] = hex[md[i] >> 4];
        out[2 + 2 * i] = hex[md[i] & 15];
    }
    out[65] = '\0';
}

int redisacl_write(const cfg_t *cfg, FILE *out, bool with_admin, char *err, size_t errlen) {
    char pw[128], hash[66];
    int rc;
    if (!cfg_bool(cfg, CFG_redis_acl)) {
        if (with_admin)
            fprintf(out, "user default on nopass ~* &* +@all\n");
        return 0;
    }
    if (with_admin) {
        if ((rc = secret_read(cfg, "admin", pw, sizeof pw, err, errlen)) < 0)
            return rc;
        hash_of(pw, hash);
        fprintf(out, "user default on %s ~* &* +@all\n", hash);
    }
    for (size_t i = 0; i < sizeof role_rules / sizeof role_rules[0]; i++) {
        const char *name = sb_role_info(role_rules[i].role)->name;
        if ((rc = secret_read(cfg, name, pw, sizeof pw, err, errlen)) < 0)
            return rc;
        hash_of(pw, hash);
        fprintf(out, "user sb-%s on %s resetkeys resetchannels -@all %s\n", name, hash,
                role_rules[i].rules);
    }
    return 0;
}

int redisacl_prepare_secrets(const cfg_t *cfg, char *err, size_t errlen) {
    const char *dir = cfg_str(cfg, CFG_secret_directory);
    int rc;
    if (!cfg_bool(cfg, CFG_redis_acl))
        return 0;
    if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
        rc = -errno;
        snprintf(err, errlen, "secret_directory %s: %s", dir, strerror(errno));
        return rc;
    }
    struct stat st;
    if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode) || (st.st_mode & 077) ||
        st.st_uid != geteuid()) {
        snprintf(err, errlen, "secret_directory %s: must be a directory of uid %ld, mode 0700",
                 dir, (long)geteuid());
        return -EPERM;
    }
    if ((rc = secret_make(cfg, "admin", err, errlen)) < 0)
        return rc;
    for (size_t i = 0; i < sizeof role_rules / sizeof role_rules[0]; i++)
        if ((rc = secret_make(cfg, sb_role_info(role_rules[i].role)->name, err, errlen)) < 0)
            return rc;
    return 0;
}

int redisacl_prepare(const cfg_t *cfg, bool root, uid_t uid, gid_t gid, char *err,
                     size_t errlen) {
    int rc = redisacl_prepare_secrets(cfg, err, errlen);
    if (rc < 0)
        return rc;
    char path[PATH_MAX], tmp[PATH_MAX];
    if (snprintf(path, sizeof path, "%s/private/%s", cfg_str(cfg, CFG_run_directory),
                 REDISACL_FILE) >= (int)sizeof path ||
        snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp) {
        snprintf(err, errlen, "run_directory: path too long");
        return -ENAMETOOLONG;
    }
    unlink(tmp);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    FILE *f = fd < 0 ? NULL : fdopen(fd, "w");
    if (!f) {
        rc = -errno;
        snprintf(err, errlen, "%s: %s", tmp, strerror(errno));
        if (fd >= 0)
            close(fd);
        return rc;
    }
    rc = redisacl_write(cfg, f, true, err, errlen);
    if (rc == 0 && root && fchown(fileno(f), uid, gid) < 0) {
        rc = -errno;
        snprintf(err, errlen, "%s: chown: %s", tmp, strerror(errno));
    }
    if (fclose(f) != 0 && rc == 0) {
        rc = -errno;
        snprintf(err, errlen, "%s: %s", tmp, strerror(errno));
    }
    if (rc == 0 && rename(tmp, path) < 0) {
        rc = -errno;
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
    }
    if (rc < 0)
        unlink(tmp);
    return rc;
}
