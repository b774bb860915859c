/* rand - see rand.h */
#include "rand.h"

#include <errno.h>
#include <sys/random.h>

int sb_random(void *buf, size_t n) {
    unsigned char *p = buf;
    while (n > 0) {
        ssize_t got = getrandom(p, n, 0);
        if (got < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        p += got;
        n -= (size_t)got;
    }
    return 0;
}

int sb_random_u64(uint64_t *v) {
    return sb_random(v, sizeof *v);
}

int sb_random_hex(char *out, size_t cap, size_t nbytes) {
    static const char digits[] = "0123456789abcdef";
    unsigned char raw[32];
    if (nbytes > sizeof raw || cap < 2 * nbytes + 1)
        return -ENOSPC;
    int rc = sb_random(raw, nbytes);
    if (rc < 0)
        return rc;
    for (size_t i = 0; i < nbytes; i++) {
        out[2 * i] = digits[raw[i] >> 4];
        out[2 * i + 1] = digits[raw[i] & 15];
    }
    out[2 * nbytes] = '\0';
    return 0;
}
