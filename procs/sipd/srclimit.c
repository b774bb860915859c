/* srclimit - see srclimit.h */
#include "srclimit.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

static int parse_one(const char *word, struct srclimit_cidr *c) {
    char host[64];
    const char *slash = strchr(word, '/');
    size_t n = slash ? (size_t)(slash - word) : strlen(word);
    if (n == 0 || n >= sizeof host)
        return -EINVAL;
    memcpy(host, word, n);
    host[n] = '\0';
    memset(c, 0, sizeof *c);
    if (inet_pton(AF_INET, host, c->addr) == 1) {
        c->family = AF_INET;
        c->bits = 32;
    } else if (inet_pton(AF_INET6, host, c->addr) == 1) {
        c->family = AF_INET6;
        c->bits = 128;
    } else {
        return -EINVAL;
    }
    if (slash) {
        char *end;
        unsigned long bits = strtoul(slash + 1, &end, 10);
        if (end == slash + 1 || *end || bits > c->bits)
            return -EINVAL;
        c->bits = (unsigned)bits;
    }
    return 0;
}

int srclimit_parse_exempt(const char *text, struct srclimit_config *cfg, char *err, size_t errlen) {
    cfg->nexempt = 0;
    const char *p = text ? text : "";
    while (*p) {
        while (*p == ' ' || *p == ',' || *p == '\t')
            p++;
        if (!*p)
            break;
        size_t n = strcspn(p, " ,\t");
        char word[80];
        if (n >= sizeof word || cfg->nexempt == SRCLIMIT_MAX_EXEMPT ||
            (memcpy(word, p, n), word[n] = '\0', parse_one(word, &cfg->exempt[cfg->nexempt]) < 0)) {
            snprintf(err, errlen, "%.*s: %s", (int)(n > 64 ? 64 : n), p,
                     cfg->nexempt == SRCLIMIT_MAX_EXEMPT ? "more than 32 ranges"
                                                         : "not an address or ADDR/BITS");
            return -EINVAL;
        }
        cfg->nexempt++;
        p += n;
    }
    return 0;
}

static bool prefix_equal(const uint8_t *a, const uint8_t *b, unsigned bits) {
    unsigned bytes = bits / 8, rest = bits % 8;
    if (memcmp(a, b, bytes) != 0)
        return false;
    if (!rest)
        return true;
    uint8_t mask = (uint8_t)(0xff << (8 - rest));
    return (a[bytes] & mask) == (b[bytes] & mask);
}

bool srclimit_is_exempt(const struct srclimit_config *cfg, const union sipaddr *addr) {
    if (!cfg->nexempt)
        return false;
    union sipaddr a;
    sipaddr_unmap(addr, &a);
    const uint8_t *bytes = a.sa.sa_family == AF_INET ? (const uint8_t *)&a.sin.sin_addr
                                                     : (const uint8_t *)&a.sin6.sin6_addr;
    for (size_t i = 0; i < cfg->nexempt; i++)
        if (cfg->exempt[i].family == a.sa.sa_family &&
            prefix_equal(cfg->exempt[i].addr, bytes, cfg->exempt[i].bits))
            return true;
    return false;
}

static bool enabled(const struct srclimit *sl) {
    return sl->table && (sl->cfg.pike.requests || sl->cfg.pike.calls);
}

bool srclimit_blocked(struct srclimit *sl, const union sipaddr *src) {
    if (!enabled(sl) || srclimit_is_exempt(&sl->cfg, src))
        return false;
    uint64_t key = shm_pike_key(&src->sa);
    if (!shm_pike_blocked(sl->table, key, &sl->cfg.pike, shm_pike_now_ms()))
        return false;
    shm_count(sl->slot, SHM_C_sip_pike_dropped, 1);
    return true;
}

bool srclimit_admit(struct srclimit *sl, const union sipaddr *src, bool call) {
    if (!enabled(sl) || srclimit_is_exempt(&sl->cfg, src))
        return true;
    uint64_t key = shm_pike_key(&src->sa);
    switch (shm_pike_admit(sl->table, key, call, &sl->cfg.pike, shm_pike_now_ms())) {
    case SHM_PIKE_PASS:
    case SHM_PIKE_UNTRACKED:
        return true;
    case SHM_PIKE_BLOCKS: {
        char ip[64] = "?";
        int port = 0;
        sipaddr_text(src, ip, sizeof ip, &port);
        log_ratelimited(LOG_WARN,
                        "blocking %s for %us: over sip_pike_requests (%u) or sip_pike_calls (%u) "
                        "per %ums",
                        ip, sl->cfg.pike.block_s, sl->cfg.pike.requests, sl->cfg.pike.calls,
                        sl->cfg.pike.window_ms);
        shm_count(sl->slot, SHM_C_sip_pike_blocks, 1);
        shm_count(sl->slot, SHM_C_sip_pike_dropped, 1);
        return false;
    }
    case SHM_PIKE_BLOCKED:
        shm_count(sl->slot, SHM_C_sip_pike_dropped, 1);
        return false;
    }
    return true;
}
