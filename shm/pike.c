/* pike - see pike.h */
#include "pike.h"

#include <netinet/in.h>
#include <string.h>
#include <time.h>

#include "hash.h"

#define WIN_MASK 0xffffffULL

uint64_t shm_pike_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

uint64_t shm_pike_key(const struct sockaddr *sa) {
    if (!sa)
        return 0;
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)(const void *)sa;
        return (1ULL << 62) | ntohl(in->sin_addr.s_addr);
    }
    if (sa->sa_family != AF_INET6)
        return 0;
    const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)(const void *)sa;
    const uint8_t *b = in6->sin6_addr.s6_addr;
    static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (memcmp(b, mapped, sizeof mapped) == 0)
        return (1ULL << 62) | (uint64_t)b[12] << 24 | (uint64_t)b[13] << 16 | (uint64_t)b[14] << 8 |
               b[15];
    uint64_t prefix = 0;
    for (int i = 0; i < 8; i++)
        prefix = prefix << 8 | b[i];
    /* a bijection of the prefix, top bit set: apart from every IPv4 key */
    return sb_mix64(prefix) | (1ULL << 63);
}

static uint32_t win_of(uint64_t now_ms, const struct shm_pike_limits *lim) {
    return (uint32_t)((now_ms / (lim->window_ms ? lim->window_ms : 1000)) & WIN_MASK);
}

/* The sliding estimate of a packed counter word at now_ms (0 for old windows). */
static uint32_t estimate(uint64_t v, uint64_t now_ms, const struct shm_pike_limits *lim) {
    uint32_t w = win_of(now_ms, lim), vw = (uint32_t)(v >> 40);
    uint64_t prev = (v >> 20) & SHM_PIKE_COUNT_MAX, cur = v & SHM_PIKE_COUNT_MAX;
    uint32_t win = lim->window_ms ? lim->window_ms : 1000;
    uint64_t left = win - now_ms % win; /* the part of the previous window still counted */
    if (vw == w)
        return (uint32_t)(cur + prev * left / win);
    if (vw == ((w - 1) & WIN_MASK))
        return (uint32_t)(cur * left / win);
    return 0;
}

/* Counts one in a packed counter word; returns the estimate with it. */
static uint32_t bump(uint64_t *word, uint64_t now_ms, const struct shm_pike_limits *lim) {
    uint32_t w = win_of(now_ms, lim);
    uint64_t v = __atomic_load_n(word, __ATOMIC_RELAXED), nv;
    do {
        uint32_t vw = (uint32_t)(v >> 40);
        uint64_t cur = v & SHM_PIKE_COUNT_MAX;
        if (vw == w)
            nv = cur < SHM_PIKE_COUNT_MAX ? v + 1 : v;
        else if (vw == ((w - 1) & WIN_MASK))
            nv = (uint64_t)w << 40 | cur << 20 | 1;
        else
            nv = (uint64_t)w << 40 | 1;
    } while (!__atomic_compare_exchange_n(word, &v, nv, true, __ATOMIC_RELAXED, __ATOMIC_RELAXED));
    return estimate(nv, now_ms, lim);
}

static bool stale(const struct shm_pike_entry *e, uint64_t now_ms,
                  const struct shm_pike_limits *lim) {
    uint32_t w = win_of(now_ms, lim);
    uint32_t now_s = (uint32_t)(now_ms / 1000);
    uint64_t r = __atomic_load_n(&e->requests, __ATOMIC_RELAXED);
    uint64_t c = __atomic_load_n(&e->calls, __ATOMIC_RELAXED);
    uint32_t until = __atomic_load_n(&e->blocked_until, __ATOMIC_RELAXED);
    uint32_t rw = (uint32_t)(r >> 40), cw = (uint32_t)(c >> 40);
    bool recent = rw == w || rw == ((w - 1) & WIN_MASK) || cw == w || cw == ((w - 1) & WIN_MASK);
    return !recent && (int32_t)(until - now_s) <= 0;
}

/* The entry of key, taken (a free or stale one) when create; NULL when none. */
static struct shm_pike_entry *lookup(struct shm_pike *p, uint64_t key, bool create, uint64_t now_ms,
                                     const struct shm_pike_limits *lim) {
    if (!key)
        return NULL;
    uint64_t h = sb_mix64(key);
    struct shm_pike_entry *reuse = NULL;
    uint64_t reuse_key = 0;
    for (unsigned i = 0; i < SHM_PIKE_PROBES; i++) {
        struct shm_pike_entry *e = &p->entry[(h + i) & (SHM_PIKE_SLOTS - 1)];
        uint64_t k = __atomic_load_n(&e->key, __ATOMIC_ACQUIRE);
        if (k == key)
            return e;
        if (k == 0) {
            if (!create)
                return NULL;
            uint64_t zero = 0;
            if (__atomic_compare_exchange_n(&e->key, &zero, key, false, __ATOMIC_ACQ_REL,
                                            __ATOMIC_ACQUIRE))
                return e; /* a new entry reads as zeros: nothing counted, not blocked */
            if (zero == key)
                return e; /* another process took it for the same source */
            continue;
        }
        if (create && !reuse && stale(e, now_ms, lim)) {
            reuse = e;
            reuse_key = k;
        }
    }
    if (!reuse)
        return NULL;
    if (!__atomic_compare_exchange_n(&reuse->key, &reuse_key, key, false, __ATOMIC_ACQ_REL,
                                     __ATOMIC_ACQUIRE))
        return reuse_key == key ? reuse : NULL;
    __atomic_store_n(&reuse->requests, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&reuse->calls, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&reuse->blocked_until, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&reuse->dropped, 0, __ATOMIC_RELAXED);
    return reuse;
}

static bool over(uint32_t estimate, uint32_t limit) {
    return limit && estimate > limit;
}

/* Blocks e until now + block_s; true when it was not blocked before. */
static bool block(struct shm_pike_entry *e, uint64_t now_ms, const struct shm_pike_limits *lim) {
    uint32_t now_s = (uint32_t)(now_ms / 1000), until = now_s + (lim->block_s ? lim->block_s : 1);
    uint32_t v = __atomic_load_n(&e->blocked_until, __ATOMIC_RELAXED);
    bool was = (int32_t)(v - now_s) > 0;
    while ((int32_t)(until - v) > 0 &&
           !__atomic_compare_exchange_n(&e->blocked_until, &v, until, true, __ATOMIC_RELAXED,
                                        __ATOMIC_RELAXED))
        was = (int32_t)(v - now_s) > 0;
    return !was;
}

static void count_drop(struct shm_pike_entry *e) {
    uint32_t d = __atomic_load_n(&e->dropped, __ATOMIC_RELAXED);
    if (d != UINT32_MAX)
        __atomic_fetch_add(&e->dropped, 1, __ATOMIC_RELAXED);
}

bool shm_pike_blocked(struct shm_pike *p, uint64_t key, const struct shm_pike_limits *lim,
                      uint64_t now_ms) {
    struct shm_pike_entry *e = lookup(p, key, false, now_ms, lim);
    if (!e)
        return false;
    uint32_t now_s = (uint32_t)(now_ms / 1000);
    if ((int32_t)(__atomic_load_n(&e->blocked_until, __ATOMIC_RELAXED) - now_s) <= 0)
        return false;
    if (over(bump(&e->requests, now_ms, lim), lim->requests) ||
        over(estimate(__atomic_load_n(&e->calls, __ATOMIC_RELAXED), now_ms, lim), lim->calls))
        block(e, now_ms, lim);
    count_drop(e);
    return true;
}

enum shm_pike_verdict shm_pike_admit(struct shm_pike *p, uint64_t key, bool call,
                                     const struct shm_pike_limits *lim, uint64_t now_ms) {
    if (!lim->requests && !lim->calls)
        return SHM_PIKE_PASS;
    struct shm_pike_entry *e = lookup(p, key, true, now_ms, lim);
    if (!e)
        return SHM_PIKE_UNTRACKED;
    uint32_t now_s = (uint32_t)(now_ms / 1000);
    bool blocked = (int32_t)(__atomic_load_n(&e->blocked_until, __ATOMIC_RELAXED) - now_s) > 0;
    bool hot = over(bump(&e->requests, now_ms, lim), lim->requests);
    if (call)
        hot |= over(bump(&e->calls, now_ms, lim), lim->calls);
    if (hot && block(e, now_ms, lim) && !blocked) {
        count_drop(e);
        return SHM_PIKE_BLOCKS;
    }
    if (blocked || hot) {
        count_drop(e);
        return SHM_PIKE_BLOCKED;
    }
    return SHM_PIKE_PASS;
}

const struct shm_pike_entry *shm_pike_find(const struct shm_pike *p, uint64_t key) {
    if (!key)
        return NULL;
    uint64_t h = sb_mix64(key);
    for (unsigned i = 0; i < SHM_PIKE_PROBES; i++) {
        const struct shm_pike_entry *e = &p->entry[(h + i) & (SHM_PIKE_SLOTS - 1)];
        uint64_t k = __atomic_load_n(&e->key, __ATOMIC_ACQUIRE);
        if (k == key)
            return e;
        if (k == 0)
            return NULL;
    }
    return NULL;
}
