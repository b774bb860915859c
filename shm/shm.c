/* shm - see shm.h */
#include "shm.h"

#include "hash.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <signal.h>
#include <unistd.h>

static const char *const state_names[SHM_STATE_COUNT] = {
    "empty", "starting", "ready", "draining", "stopping", "throttled", "degraded",
};

static const char *const counter_names[SHM_COUNTER_COUNT] = {
#define SHM_COUNTER_NAME(name, doc) #name,
    SHM_COUNTERS(SHM_COUNTER_NAME)
#undef SHM_COUNTER_NAME
};
static const char *const counter_docs[SHM_COUNTER_COUNT] = {
#define SHM_COUNTER_DOC(name, doc) doc,
    SHM_COUNTERS(SHM_COUNTER_DOC)
#undef SHM_COUNTER_DOC
};

int shm_name(const char *confdir_realpath, char *out, size_t outlen) {
    uint64_t h = sb_hash64(confdir_realpath, strlen(confdir_realpath));
    int n = snprintf(out, outlen, "/switchboard-%016llx", (unsigned long long)h);
    return n < 0 || (size_t)n >= outlen ? -ENAMETOOLONG : 0;
}

int shm_check(const struct shm_header *hdr, size_t size) {
    if (size < sizeof(struct shm_header))
        return -EPROTO;
    if (hdr->magic != SHM_MAGIC || hdr->version != SHM_VERSION ||
        hdr->header_size != sizeof(struct shm_header) ||
        hdr->proc_size != sizeof(struct shm_proc) || hdr->max_procs != SHM_MAX_PROCS)
        return -EPROTO;
    if (size < sizeof(struct shm_seg))
        return -EPROTO;
    return 0;
}

int shm_create(const char *name, struct shm_seg **seg, int *fd) {
    int f = shm_open(name, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (f < 0)
        return -errno;
    /* Owner-only write; others may read the table (switchboard status as any user). */
    if (fchmod(f, 0644) < 0 || ftruncate(f, sizeof(struct shm_seg)) < 0) {
        int e = -errno;
        close(f);
        shm_unlink(name);
        return e;
    }
    void *m = mmap(NULL, sizeof(struct shm_seg), PROT_READ | PROT_WRITE, MAP_SHARED, f, 0);
    if (m == MAP_FAILED) {
        int e = -errno;
        close(f);
        shm_unlink(name);
        return e;
    }
    struct shm_seg *s = m;
    /* a new object reads as zeros: only what is not zero is written (the index stays
     * untouched, so it costs memory only where it is used) */
    s->hdr.magic = SHM_MAGIC;
    s->hdr.version = SHM_VERSION;
    s->hdr.header_size = sizeof(struct shm_header);
    s->hdr.proc_size = sizeof(struct shm_proc);
    s->hdr.max_procs = SHM_MAX_PROCS;
    *seg = s;
    *fd = f;
    return 0;
}

int shm_attach(int fd, bool writable, struct shm_seg **seg) {
    struct stat st;
    if (fstat(fd, &st) < 0)
        return -errno;
    if (st.st_size < (off_t)sizeof(struct shm_header))
        return -EPROTO;
    void *m = mmap(NULL, (size_t)st.st_size, writable ? PROT_READ | PROT_WRITE : PROT_READ,
                   MAP_SHARED, fd, 0);
    if (m == MAP_FAILED)
        return -errno;
    int rc = shm_check(m, (size_t)st.st_size);
    if (rc < 0) {
        munmap(m, (size_t)st.st_size);
        return rc;
    }
    *seg = m;
    return 0;
}

int shm_open_ro(const char *name, struct shm_seg **seg) {
    int fd = shm_open(name, O_RDONLY | O_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    int rc = shm_attach(fd, false, seg);
    close(fd);
    return rc;
}

void shm_detach(struct shm_seg *seg) {
    if (seg)
        munmap(seg, sizeof *seg);
}

int shm_unlink_name(const char *name) {
    return shm_unlink(name) < 0 ? -errno : 0;
}

void shm_proc_write_begin(struct shm_proc *p) {
    __atomic_add_fetch(&p->seq, 1, __ATOMIC_ACQ_REL);
    __atomic_thread_fence(__ATOMIC_RELEASE);
}

void shm_proc_write_end(struct shm_proc *p) {
    __atomic_thread_fence(__ATOMIC_RELEASE);
    __atomic_add_fetch(&p->seq, 1, __ATOMIC_ACQ_REL);
}

void shm_proc_read(const struct shm_proc *p, struct shm_proc *copy) {
    for (int tries = 0;; tries++) {
        uint32_t s1 = __atomic_load_n(&p->seq, __ATOMIC_ACQUIRE);
        if ((s1 & 1) && tries < 1000)
            continue;
        /* Retried when master was writing (seq odd) or wrote meanwhile (seq moved). */
        memcpy(copy, (const void *)p, offsetof(struct shm_proc, heartbeat_mono_us));
        __atomic_thread_fence(__ATOMIC_ACQUIRE);
        uint32_t s2 = __atomic_load_n(&p->seq, __ATOMIC_ACQUIRE);
        if ((s1 == s2 && !(s1 & 1)) || tries >= 1000)
            break;
    }
    copy->service[sizeof copy->service - 1] = '\0';
    copy->role[sizeof copy->role - 1] = '\0';
    copy->reason[sizeof copy->reason - 1] = '\0';
    copy->heartbeat_mono_us = __atomic_load_n(&p->heartbeat_mono_us, __ATOMIC_RELAXED);
    for (int i = 0; i < SHM_MAX_COUNTERS; i++)
        copy->counters[i] = __atomic_load_n(&p->counters[i], __ATOMIC_RELAXED);
}

const char *shm_state_name(enum shm_state state) {
    return (unsigned)state < SHM_STATE_COUNT ? state_names[state] : "unknown";
}

const char *shm_counter_name(enum shm_counter c) {
    return (unsigned)c < SHM_COUNTER_COUNT ? counter_names[c] : "unknown";
}

const char *shm_counter_doc(enum shm_counter c) {
    return (unsigned)c < SHM_COUNTER_COUNT ? counter_docs[c] : "unknown";
}

/* ---------------------------------------------------------------- transaction index */

#define TXN_TOMB 1ULL /* a released entry: free, but probing goes on past it */

static uint64_t txn_tag(uint64_t hash) {
    return ((hash >> 24) | 1ULL) << 24; /* 40 bits, never 0 */
}

static bool txn_live(uint64_t v, uint32_t now_s) {
    return v > TXN_TOMB && (int16_t)(uint16_t)((uint16_t)v - (uint16_t)now_s) > 0;
}

uint32_t shm_now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (uint32_t)ts.tv_sec;
}

int shm_txn_owner(const struct shm_seg *seg, uint64_t hash, uint32_t now_s, unsigned *owner) {
    uint64_t tag = txn_tag(hash);
    for (unsigned i = 0; i < SHM_TXN_PROBES; i++) {
        uint64_t v = __atomic_load_n(&seg->txn_index[(hash + i) & (SHM_TXN_SLOTS - 1)],
                                     __ATOMIC_ACQUIRE);
        if (v == 0)
            return 0;
        if ((v & ~0xffffffULL) == tag && txn_live(v, now_s)) {
            *owner = (unsigned)(v >> 16) & 0xff;
            return 1;
        }
    }
    return 0;
}

int shm_txn_claim(struct shm_seg *seg, uint64_t hash, unsigned instance, uint32_t now_s,
                  uint32_t ttl_s, unsigned *owner) {
    uint64_t tag = txn_tag(hash);
    uint64_t mine = tag | ((uint64_t)(instance & 0xff) << 16) | (uint16_t)(now_s + ttl_s);
    for (int attempt = 0; attempt < 4; attempt++) {
        uint64_t *free_slot = NULL, seen = 0;
        for (unsigned i = 0; i < SHM_TXN_PROBES; i++) {
            uint64_t *slot = &seg->txn_index[(hash + i) & (SHM_TXN_SLOTS - 1)];
            uint64_t v = __atomic_load_n(slot, __ATOMIC_ACQUIRE);
            if ((v & ~0xffffffULL) == tag && txn_live(v, now_s)) {
                *owner = (unsigned)(v >> 16) & 0xff;
                return *owner == (instance & 0xff) ? 0 : 1;
            }
            if (!free_slot && !txn_live(v, now_s)) {
                free_slot = slot;
                seen = v;
            }
            if (v == 0)
                break; /* nothing of this hash lies past an empty slot */
        }
        if (!free_slot)
            return -ENOSPC;
        if (__atomic_compare_exchange_n(free_slot, &seen, mine, false, __ATOMIC_ACQ_REL,
                                        __ATOMIC_ACQUIRE))
            return 0;
        /* another instance took that slot meanwhile: look again (it may be this hash) */
    }
    return -ENOSPC;
}

void shm_txn_release(struct shm_seg *seg, uint64_t hash, unsigned instance) {
    uint64_t tag = txn_tag(hash);
    for (unsigned i = 0; i < SHM_TXN_PROBES; i++) {
        uint64_t *slot = &seg->txn_index[(hash + i) & (SHM_TXN_SLOTS - 1)];
        uint64_t v = __atomic_load_n(slot, __ATOMIC_ACQUIRE);
        if (v == 0)
            return;
        if ((v & ~0xffffffULL) == tag && ((v >> 16) & 0xff) == (instance & 0xff)) {
            __atomic_compare_exchange_n(slot, &v, TXN_TOMB, false, __ATOMIC_ACQ_REL,
                                        __ATOMIC_ACQUIRE);
            return;
        }
    }
}

/* ---- media port pool ---- */

static bool pair_in_range(int idx, int lo, int hi) {
    return idx * 2 >= lo && idx * 2 + 1 <= hi;
}

int shm_media_port_alloc(struct shm_media_pool *pool, int lo, int hi, int32_t pid) {
    if (lo < 0 || hi > 65535 || lo > hi || pid <= 0)
        return -EINVAL;
    int first = (lo + 1) / 2, last = (hi - 1) / 2; /* pairs wholly inside [lo, hi] */
    if (first > last)
        return -ENOSPC;
    uint32_t n = (uint32_t)(last - first + 1);
    uint32_t start = __atomic_fetch_add(&pool->cursor, 1, __ATOMIC_RELAXED) % n;
    for (uint32_t k = 0; k < n; k++) {
        int idx = first + (int)((start + k) % n);
        int32_t expect = 0;
        if (__atomic_load_n(&pool->owner[idx], __ATOMIC_RELAXED) == 0 &&
            __atomic_compare_exchange_n(&pool->owner[idx], &expect, pid, false, __ATOMIC_ACQ_REL,
                                        __ATOMIC_RELAXED)) {
            /* the next search starts after this pair */
            __atomic_store_n(&pool->cursor, start + k + 1, __ATOMIC_RELAXED);
            return idx * 2;
        }
    }
    return -ENOSPC;
}

int shm_media_port_free(struct shm_media_pool *pool, int rtp_port, int32_t pid) {
    if (rtp_port < 0 || rtp_port > 65535 || (rtp_port & 1))
        return -EINVAL;
    int32_t expect = pid;
    return __atomic_compare_exchange_n(&pool->owner[rtp_port / 2], &expect, 0, false,
                                       __ATOMIC_ACQ_REL, __ATOMIC_RELAXED)
               ? 0
               : -EPERM;
}

static bool pid_alive(int32_t pid) {
    return kill(pid, 0) == 0 || errno == EPERM;
}

int shm_media_reclaim(struct shm_media_pool *pool, int lo, int hi) {
    int freed = 0;
    int32_t dead = 0; /* the last dead pid seen: a dead instance owns many pairs */
    for (int idx = (lo + 1) / 2; idx <= (hi - 1) / 2 && idx < SHM_MEDIA_PAIRS; idx++) {
        int32_t owner = __atomic_load_n(&pool->owner[idx], __ATOMIC_RELAXED);
        if (owner <= 0 || !pair_in_range(idx, lo, hi))
            continue;
        if (owner != dead && pid_alive(owner))
            continue;
        dead = owner;
        if (__atomic_compare_exchange_n(&pool->owner[idx], &owner, 0, false, __ATOMIC_ACQ_REL,
                                        __ATOMIC_RELAXED))
            freed++;
    }
    return freed;
}

unsigned shm_media_free_count(const struct shm_media_pool *pool, int lo, int hi) {
    unsigned n = 0;
    for (int idx = (lo + 1) / 2; idx <= (hi - 1) / 2 && idx < SHM_MEDIA_PAIRS; idx++)
        n += __atomic_load_n(&pool->owner[idx], __ATOMIC_RELAXED) == 0;
    return n;
}

int shm_media_pick(const struct shm_seg *seg, int except) {
    /* called for every call: only the fields it needs, read one by one (a torn view of a
     * slot master is rewriting picks a wrong instance at worst; mediad then refuses and
     * dialogd tries another), not a copy of each of the 256 slots */
    int best = -1;
    uint64_t best_load = UINT64_MAX;
    for (int i = 0; i < SHM_MAX_PROCS; i++) {
        const struct shm_proc *p = &seg->procs[i];
        if (__atomic_load_n(&p->state, __ATOMIC_ACQUIRE) != SHM_READY ||
            __atomic_load_n(&p->pid, __ATOMIC_RELAXED) <= 0 ||
            strncmp(p->role, "mediad", sizeof p->role) != 0)
            continue;
        int inst = (int)__atomic_load_n(&p->instance, __ATOMIC_RELAXED);
        if (inst == except || __atomic_load_n(&seg->stats[i].media_drained, __ATOMIC_RELAXED))
            continue;
        uint64_t load = __atomic_load_n(&p->counters[SHM_C_media_sessions], __ATOMIC_RELAXED);
        if (load < best_load || (load == best_load && inst < best)) {
            best = inst;
            best_load = load;
        }
    }
    return best;
}

static const char *const sip_method_names[] = {
#define SHM_SIP_METHOD_NAME(name) #name,
    SHM_SIP_METHODS(SHM_SIP_METHOD_NAME)
#undef SHM_SIP_METHOD_NAME
};

const char *shm_sip_method_name(enum shm_sip_method m) {
    return (unsigned)m < SHM_SIP_METHOD_COUNT ? sip_method_names[m] : "other";
}

void shm_sip_count(struct shm_stats *st, enum shm_dir dir, const char *buf, size_t len) {
    if (!st || len < 12)
        return;
    if (memcmp(buf, "SIP/2.0 ", 8) == 0) {
        unsigned code = 0;
        for (size_t i = 8; i < 11; i++) {
            if (buf[i] < '0' || buf[i] > '9')
                return;
            code = code * 10 + (unsigned)(buf[i] - '0');
        }
        if (code >= SHM_SIP_CODE_MIN && code <= SHM_SIP_CODE_MAX)
            __atomic_fetch_add(&st->sip_responses[dir][code - SHM_SIP_CODE_MIN], 1,
                               __ATOMIC_RELAXED);
        return;
    }
    size_t n = 0;
    while (n < len && n < 16 && buf[n] != ' ')
        n++;
    enum shm_sip_method m = SHM_SIP_other;
    for (unsigned i = 0; i + 1 < SHM_SIP_METHOD_COUNT; i++)
        if (strlen(sip_method_names[i]) == n && memcmp(sip_method_names[i], buf, n) == 0) {
            m = (enum shm_sip_method)i;
            break;
        }
    __atomic_fetch_add(&st->sip_requests[dir][m], 1, __ATOMIC_RELAXED);
}

void shm_setup_observe(struct shm_stats *st, uint64_t ms) {
    static const uint64_t bounds[SHM_SETUP_BUCKETS] = SHM_SETUP_BOUNDS_MS;
    if (!st)
        return;
    unsigned b = 0;
    while (b < SHM_SETUP_BUCKETS && ms > bounds[b])
        b++;
    __atomic_fetch_add(&st->setup_buckets[b], 1, __ATOMIC_RELAXED);
    __atomic_fetch_add(&st->setup_sum_ms, ms, __ATOMIC_RELAXED);
    __atomic_fetch_add(&st->setup_count, 1, __ATOMIC_RELAXED);
}
