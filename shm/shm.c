/* shm - see shm.h */
#include "shm.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *const state_names[SHM_STATE_COUNT] = {
    "empty", "starting", "ready", "draining", "stopping", "throttled",
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
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (const unsigned char *s = (const unsigned char *)confdir_realpath; *s; s++) {
        h ^= *s;
        h *= 1099511628211ULL;
    }
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
    memset(s, 0, sizeof *s);
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
