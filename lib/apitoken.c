/* apitoken - see apitoken.h */
#include "apitoken.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "rand.h"

bool apitok_valid(const char *s, size_t len) {
    if (len == 0 || len > APITOK_MAX)
        return false;
    size_t i = 0;
    for (; i < len && s[i] != '='; i++) {
        unsigned char ch = (unsigned char)s[i];
        bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                  (ch >= '0' && ch <= '9') || strchr("-._~+/", ch);
        if (!ok || ch == '\0')
            return false;
    }
    if (i == 0)
        return false;
    for (; i < len; i++) /* RFC 6750 2.1: b64token = 1*( ALPHA / DIGIT / ... ) *"=" */
        if (s[i] != '=')
            return false;
    return true;
}

int apitok_ensure(const char *path) {
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd >= 0) {
        struct stat st;
        int rc = fstat(fd, &st) < 0 ? -errno : 0;
        if (rc == 0 && !S_ISREG(st.st_mode))
            rc = -EINVAL;
        if (rc == 0 && (st.st_mode & 077) && fchmod(fd, 0600) < 0)
            rc = -errno;
        close(fd);
        return rc;
    }
    if (errno != ENOENT)
        return -errno;
    char token[2 * APITOK_RANDOM + 2];
    int rc = sb_random_hex(token, sizeof token, APITOK_RANDOM);
    if (rc < 0)
        return rc; /* no guessable fallback: no token, and apid refuses to serve */
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0)
        return errno == EEXIST ? 0 : -errno;
    size_t len = strlen(token);
    token[len++] = '\n';
    ssize_t w = write(fd, token, len);
    rc = w == (ssize_t)len ? 0 : w < 0 ? -errno : -EIO;
    if (rc == 0 && fsync(fd) < 0)
        rc = -errno;
    close(fd);
    explicit_bzero(token, sizeof token);
    if (rc < 0) {
        unlink(path);
        return rc;
    }
    return 1;
}

int apitok_read_fd(int fd, char *out, size_t cap) {
    char buf[APITOK_MAX + 4];
    size_t len = 0;
    if (cap <= APITOK_MAX)
        return -ENOSPC;
    for (;;) {
        ssize_t n = pread(fd, buf + len, sizeof buf - len, (off_t)len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -errno;
        if (n == 0)
            break;
        len += (size_t)n;
        if (len == sizeof buf)
            break;
    }
    while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r' || buf[len - 1] == ' '))
        len--;
    int rc = 0;
    if (len < APITOK_MIN || !apitok_valid(buf, len))
        rc = -EINVAL;
    else {
        memcpy(out, buf, len);
        out[len] = '\0';
    }
    explicit_bzero(buf, sizeof buf);
    return rc;
}

int apitok_read(const char *path, char *out, size_t cap) {
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    int rc = apitok_read_fd(fd, out, cap);
    close(fd);
    return rc;
}

bool apitok_loopback_only(const cfg_t *cfg) {
    const struct cfg_addr *addrs;
    size_t n = cfg_addrs(cfg, CFG_api_listen, &addrs);
    for (size_t i = 0; i < n; i++) {
        const struct sockaddr_storage *ss = &addrs[i].ss;
        if (ss->ss_family == AF_INET) {
            const struct sockaddr_in *a = (const struct sockaddr_in *)ss;
            if ((ntohl(a->sin_addr.s_addr) >> 24) != 127)
                return false;
        } else if (ss->ss_family == AF_INET6) {
            const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)ss;
            if (!IN6_IS_ADDR_LOOPBACK(&a->sin6_addr))
                return false;
        } else {
            return false;
        }
    }
    return n > 0;
}

int apitok_check(const cfg_t *cfg, char *why, size_t cap) {
    if (cfg_check_pair(cfg, CFG_api_tls_cert, CFG_api_tls_key, "HTTPS", why, cap) < 0)
        return -1;
    if (!cfg_bool(cfg, CFG_api_insecure) || apitok_loopback_only(cfg))
        return 0;
    snprintf(why, cap,
             "%s:%d: api_insecure = yes serves the admin API without a token, which is allowed "
             "only when every api_listen address is loopback (api_listen = %.200s)",
             cfg_file(cfg), cfg_line(cfg, CFG_api_insecure), cfg_str(cfg, CFG_api_listen));
    return -1;
}
