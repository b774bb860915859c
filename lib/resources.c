/* resources - see resources.h */
#include "resources.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int res_dir_open(const char *path) {
    int fd = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
    return fd < 0 ? -errno : fd;
}

const char *res_split(const char *path, char *dir, size_t cap) {
    const char *slash = strrchr(path, '/');
    size_t len = slash ? (size_t)(slash - path) : 0;
    if (slash && len == 0)
        len = 1; /* "/file": the root */
    if (!slash)
        return snprintf(dir, cap, ".") >= (int)cap ? NULL : path;
    if (len >= cap)
        return NULL;
    memcpy(dir, path, len);
    dir[len] = '\0';
    return slash + 1;
}

int res_open_at(int dirfd, const char *path) {
    char dir[4096];
    const char *base = res_split(path, dir, sizeof dir);
    int fd = dirfd >= 0 && base && *base ? openat(dirfd, base, O_RDONLY | O_CLOEXEC)
                                         : open(path, O_RDONLY | O_CLOEXEC);
    return fd < 0 ? -errno : fd;
}

static int audio_try(int dirfd, const char *audio_dir, const char *file) {
    int fd;
    if (dirfd >= 0) {
        fd = openat(dirfd, file, O_RDONLY | O_CLOEXEC);
    } else {
        char path[4096];
        if (snprintf(path, sizeof path, "%s/%s", audio_dir, file) >= (int)sizeof path)
            return -ENAMETOOLONG;
        fd = open(path, O_RDONLY | O_CLOEXEC);
    }
    return fd < 0 ? -errno : fd;
}

int res_audio_open(int dirfd, const char *audio_dir, const char *file) {
    if (!file || !*file || file[0] == '/' || strstr(file, ".."))
        return -EINVAL;
    int fd = audio_try(dirfd, audio_dir, file);
    if (fd == -ENOENT && strncmp(file, "audio/", 6) == 0 && file[6])
        fd = audio_try(dirfd, audio_dir, file + 6); /* the prototype's own directory name */
    return fd;
}

/* An address of media_address into out (cap bytes): "" allowed when empty_ok; brackets
 * around an IPv6 one removed. Its family, 0 for "", -1 when it is no address. */
static int media_if_addr(const char *p, size_t len, bool empty_ok, char *out, size_t cap) {
    if (len >= 2 && p[0] == '[' && p[len - 1] == ']') {
        p++;
        len -= 2;
    }
    if (len == 0) {
        out[0] = '\0';
        return empty_ok ? 0 : -1;
    }
    if (len >= cap)
        return -1;
    memcpy(out, p, len);
    out[len] = '\0';
    struct in6_addr a;
    if (inet_pton(AF_INET, out, &a) == 1)
        return AF_INET;
    if (inet_pton(AF_INET6, out, &a) == 1)
        return AF_INET6;
    return -1;
}

int res_media_interfaces(const char *text, struct res_media_if *out, size_t cap, size_t *n,
                         char *err, size_t errlen) {
    *n = 0;
    for (const char *p = text; p && *p;) {
        p += strspn(p, " \t,");
        size_t len = strcspn(p, " \t,");
        if (len == 0)
            break;
        struct res_media_if f;
        memset(&f, 0, sizeof f);
        const char *slash = memchr(p, '/', len), *e = p + len;
        const char *a = slash ? slash + 1 : p;
        const char *bang = memchr(a, '!', (size_t)(e - a));
        bool ok = *n < cap;
        if (ok && slash) {
            size_t nl = (size_t)(slash - p);
            ok = nl > 0 && nl < sizeof f.name;
            for (size_t i = 0; ok && i < nl; i++)
                ok = isalnum((unsigned char)p[i]) || p[i] == '-' || p[i] == '_' || p[i] == '.';
            if (ok)
                memcpy(f.name, p, nl);
        }
        int lf = -1, pf = 0;
        if (ok) {
            lf = media_if_addr(a, (size_t)((bang ? bang : e) - a), bang != NULL, f.local,
                               sizeof f.local);
            if (bang)
                pf = media_if_addr(bang + 1, (size_t)(e - bang - 1), false, f.announce,
                                   sizeof f.announce);
            ok = lf >= 0 && pf >= 0 && (!lf || !pf || lf == pf);
        }
        if (!ok) {
            if (*n >= cap)
                snprintf(err, errlen, "more than %zu interfaces", cap);
            else
                snprintf(err, errlen,
                         "'%.*s' is not [NAME/]LOCAL[!PUBLIC] (IPv4 or IPv6 addresses of one "
                         "family)",
                         (int)(len > 100 ? 100 : len), p);
            return -EINVAL;
        }
        f.family = pf ? pf : lf;
        if (!bang)
            snprintf(f.announce, sizeof f.announce, "%s", f.local);
        out[(*n)++] = f;
        p += len;
    }
    return 0;
}

/* host[:port] of a gateway URI, after "sip:". */
static bool gateway_host_ok(const char *s, size_t len) {
    size_t hlen = len;
    if (len && s[0] == '[') {
        const char *close = memchr(s, ']', len);
        if (!close || close == s + 1)
            return false;
        hlen = (size_t)(close - s) + 1;
    } else {
        const char *colon = memchr(s, ':', len);
        if (colon)
            hlen = (size_t)(colon - s);
        for (size_t i = 0; i < hlen; i++)
            if (!isalnum((unsigned char)s[i]) && s[i] != '.' && s[i] != '-' && s[i] != '_')
                return false;
    }
    if (hlen == 0)
        return false;
    if (hlen == len)
        return true;
    if (s[hlen] != ':' || hlen + 1 == len || len - hlen - 1 > 5)
        return false;
    long port = 0;
    for (size_t i = hlen + 1; i < len; i++) {
        if (!isdigit((unsigned char)s[i]))
            return false;
        port = port * 10 + (s[i] - '0');
    }
    return port >= 1 && port <= 65535;
}

int res_gateways_check(const char *list, char *err, size_t errlen) {
    for (const char *p = list; p && *p;) {
        p += strspn(p, " \t,");
        size_t len = strcspn(p, " \t,");
        if (len == 0)
            break;
        const char *eq = memchr(p, '=', len);
        const char *uri = eq ? eq + 1 : NULL;
        size_t ulen = eq ? len - (size_t)(uri - p) : 0;
        bool name_ok = eq && eq > p;
        for (const char *c = p; name_ok && c < eq; c++)
            name_ok = isalnum((unsigned char)*c) || *c == '_' || *c == '-' || *c == '.';
        if (name_ok && ulen > 4 && strncmp(uri, "sip:", 4) == 0) {
            uri += 4;
            ulen -= 4;
        }
        if (!name_ok || !gateway_host_ok(uri, ulen)) {
            snprintf(err, errlen, "'%.*s': want NAME=sip:host[:port]", (int)(len > 200 ? 200 : len),
                     p);
            return -EINVAL;
        }
        p += len;
    }
    return 0;
}

bool res_gateway_uri(const char *list, const char *name, char *uri, size_t cap) {
    size_t nlen = strlen(name);
    for (const char *p = list; p && *p;) {
        p += strspn(p, " \t,");
        size_t len = strcspn(p, " \t,");
        const char *eq = memchr(p, '=', len);
        if (eq && (size_t)(eq - p) == nlen && strncmp(p, name, nlen) == 0) {
            size_t ulen = len - nlen - 1;
            if (ulen == 0 || ulen >= cap)
                return false;
            memcpy(uri, eq + 1, ulen);
            uri[ulen] = '\0';
            return true;
        }
        p += len;
    }
    return false;
}

