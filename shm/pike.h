/*
 * NAME
 *   pike - request rates per source address, shared by every sipd of a node (shm).
 * DESCRIPTION
 *   A fixed table in the shm segment (struct shm_pike, part of struct shm_seg): one
 *   32-byte entry per source (an IPv4 address, or the /64 prefix of an IPv6 one), found
 *   by hash with linear probing of at most SHM_PIKE_PROBES entries. Each entry counts
 *   the new requests and the new INVITEs of its source in a sampling window (the
 *   current and the previous window, packed in one 64-bit word each, so one
 *   compare-and-swap counts a request and turns the window). The rate is the sliding
 *   estimate prev * (part of the window still to come) + cur. A source whose estimate
 *   goes over a limit is blocked for block_s seconds; while blocked, its requests still
 *   count and a rate still over the limit extends the block, so a flood stays blocked
 *   until block_s after it slows down (Kamailio's pike module works this way).
 *   Lock-free: every field is one atomic word written with CAS or atomic add by any
 *   sipd. Counting is approximate where two processes race (a count may land on an
 *   entry just taken over by another source); never more than that. An entry whose
 *   windows are both past and that is not blocked is free to be taken by another source.
 *   When no entry is free within the probe limit the source is not tracked (passes).
 * OWNERSHIP
 *   The table lives in the segment; callers pass the mapped struct shm_pike.
 * LOOP
 *   Any process; never blocks, never allocates, never logs.
 * ERRORS
 *   None: a source that cannot be tracked passes (SHM_PIKE_UNTRACKED).
 */
#ifndef SB_SHM_PIKE_H
#define SB_SHM_PIKE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#define SHM_PIKE_SLOTS (1u << 16) /* 2 MiB, touched only where used */
#define SHM_PIKE_PROBES 16
#define SHM_PIKE_COUNT_MAX 0xfffffu /* a window's count saturates here */

struct shm_pike_entry {
    uint64_t key;           /* shm_pike_key of the source, 0: never used */
    uint64_t requests;      /* window id:24 | previous count:20 | current count:20 */
    uint64_t calls;         /* the same for INVITEs */
    uint32_t blocked_until; /* monotonic seconds; the source is blocked before it */
    uint32_t dropped;       /* requests dropped while blocked (saturating) */
};

struct shm_pike {
    struct shm_pike_entry entry[SHM_PIKE_SLOTS];
} __attribute__((aligned(64)));

struct shm_pike_limits {
    uint32_t window_ms; /* sampling window, > 0 */
    uint32_t requests;  /* new requests per window per source; 0: no limit */
    uint32_t calls;     /* new INVITEs per window per source; 0: no limit */
    uint32_t block_s;   /* how long a source over a limit is blocked */
};

enum shm_pike_verdict {
    SHM_PIKE_PASS,      /* under the limits */
    SHM_PIKE_UNTRACKED, /* no room in the table for this source: passes */
    SHM_PIKE_BLOCKS,    /* this request took the source over a limit: blocked from now */
    SHM_PIKE_BLOCKED,   /* the source was already blocked: drop */
};

/* The key of a source address (AF_INET, AF_INET6; an IPv4-mapped IPv6 address is its IPv4
 * one; IPv6 by its /64 prefix), 0 for any other family. */
uint64_t shm_pike_key(const struct sockaddr *sa);
/* Whether the source of key is blocked now; if so its request is counted (and the block
 * extended when its rate is still over a limit) and counted as dropped. Cheap: meant for
 * every request before it is parsed. */
bool shm_pike_blocked(struct shm_pike *p, uint64_t key, const struct shm_pike_limits *lim,
                      uint64_t now_ms);
/* Counts a new request (an INVITE when call) of the source of key and says what to do. */
enum shm_pike_verdict shm_pike_admit(struct shm_pike *p, uint64_t key, bool call,
                                     const struct shm_pike_limits *lim, uint64_t now_ms);
/* The entry of key, or NULL when the source is not tracked (read-only look, for status). */
const struct shm_pike_entry *shm_pike_find(const struct shm_pike *p, uint64_t key);
/* Monotonic milliseconds, the same clock in every process of the host. */
uint64_t shm_pike_now_ms(void);

#endif
