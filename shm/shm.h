/*
 * NAME
 *   shm - the shared-memory segment: process table and per-process counters.
 * DESCRIPTION
 *   master creates one POSIX shm segment per CONFDIR (name from shm_name) and passes its
 *   descriptor to every worker; switchboard status and apid read it without IPC. The
 *   layout is fixed-size records behind a versioned header (never pointers: workers are
 *   exec'd). A process that finds another magic, version or record size refuses it.
 *   Writers: in a slot, master alone writes the fields above `heartbeat_mono_us`, inside
 *   a sequence lock (seq odd while writing; readers use shm_proc_read for a consistent
 *   copy); the worker of the slot alone writes heartbeat and counters, with atomics.
 *   Adding a counter is one line in SHM_COUNTERS and a bump of SHM_VERSION.
 * OWNERSHIP
 *   The mapping belongs to the caller of shm_create/shm_attach until shm_detach.
 * LOOP
 *   Any process; never blocks.
 * ERRORS
 *   Negative errno: -EPROTO for a segment of another layout, others from the system.
 */
#ifndef SB_SHM_H
#define SB_SHM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SHM_MAGIC 0x5342534dU /* "SBSM" */
#define SHM_VERSION 3U
#define SHM_MAX_PROCS 256
#define SHM_MAX_COUNTERS 48

/* X(name, description); gauges say so. */
#define SHM_COUNTERS(X)                                          \
    X(ipc_rx, "IPC envelopes received")                          \
    X(ipc_tx, "IPC envelopes sent")                              \
    X(ipc_malformed, "IPC packets dropped as malformed")         \
    X(ipc_peers, "gauge: peer IPC connections up")               \
    X(heartbeats, "heartbeat ticks")                             \
    X(wakeups, "wakeup ticks received from master")              \
    X(reloads, "main.cf reloads applied")                        \
    X(redis_up, "gauge: 1 while the Redis connection is up")     \
    X(redis_errors, "Redis connection failures and errors")      \
    X(http_requests, "HTTP requests answered")                   \
    X(sip_rx_requests, "SIP requests received (retransmissions too)") \
    X(sip_rx_responses, "SIP responses received")                \
    X(sip_tx_responses, "SIP responses sent (retransmissions too)") \
    X(sip_rx_dropped, "SIP messages dropped: unparseable, unanswerable, too big") \
    X(sip_retransmissions, "request retransmissions absorbed by a transaction") \
    X(sip_txn_new, "server transactions created")                \
    X(sip_txn_active, "gauge: server transactions alive")        \
    X(sip_tcp_connections, "gauge: SIP TCP connections open")    \
    X(registers, "REGISTER requests decided (routerd)")          \
    X(registers_failed, "REGISTER requests answered with an error (routerd)") \
    X(http_sse_clients, "gauge: event stream clients connected (apid)") \
    X(http_sse_dropped, "event stream clients dropped for reading too slowly (apid)") \
    X(api_auth_failures, "requests refused for a missing or wrong token (apid)") \
    X(api_events, "events sent to the event stream (apid)")

enum shm_counter {
#define SHM_COUNTER_ENUM(name, doc) SHM_C_##name,
    SHM_COUNTERS(SHM_COUNTER_ENUM)
#undef SHM_COUNTER_ENUM
    SHM_COUNTER_COUNT
};
_Static_assert(SHM_COUNTER_COUNT <= SHM_MAX_COUNTERS, "too many shm counters");

enum shm_state {
    SHM_EMPTY = 0,     /* slot unused */
    SHM_STARTING,      /* forked, not yet ready */
    SHM_READY,
    SHM_DRAINING,
    SHM_STOPPING,
    SHM_THROTTLED,     /* died at start too often; master waits before the next fork */
    SHM_STATE_COUNT
};

#define SHM_F_PUBLIC 1u /* its IPC socket is in public/, not private/ */
#define SHM_F_EXEC 2u   /* a foreign program (type exec): no IPC socket, no heartbeat */

struct shm_proc {
    /* master writes these, under seq */
    uint32_t seq;
    uint32_t state;          /* enum shm_state */
    char service[32];
    char role[16];
    uint32_t instance;
    uint32_t flags;          /* SHM_F_* */
    int32_t pid;             /* 0 when no process runs in the slot */
    int64_t started_us;      /* wall clock, start of the current process */
    uint32_t restarts;       /* processes started in this slot after the first */
    uint32_t fail_streak;    /* consecutive deaths before ready */
    int64_t next_start_us;   /* wall clock of the next fork when throttled */
    /* the worker of the slot writes these, atomically */
    int64_t heartbeat_mono_us;
    uint64_t counters[SHM_MAX_COUNTERS];
} __attribute__((aligned(64)));

struct shm_header {
    uint32_t magic;
    uint32_t version;
    uint32_t header_size;
    uint32_t proc_size;
    uint32_t max_procs;
    int32_t master_pid;
    int64_t master_started_us;
    uint64_t generation;     /* bumped by master at every applied reload */
    char node_id[32];
    char config_directory[256];
} __attribute__((aligned(64)));

struct shm_seg {
    struct shm_header hdr;
    struct shm_proc procs[SHM_MAX_PROCS];
};

/* Writes the segment name of a CONFDIR (its real path) into out: "/switchboard-HEX". */
int shm_name(const char *confdir_realpath, char *out, size_t outlen);
/* master: creates (replacing a stale one) and maps the segment read-write; *fd is kept
 * open for the workers. */
int shm_create(const char *name, struct shm_seg **seg, int *fd);
/* Maps the segment open on fd, read-write or read-only, after checking its layout. */
int shm_attach(int fd, bool writable, struct shm_seg **seg);
/* Opens the named segment read-only (switchboard status). */
int shm_open_ro(const char *name, struct shm_seg **seg);
/* 0 when hdr is a header of this layout and size bytes hold the whole segment. */
int shm_check(const struct shm_header *hdr, size_t size);
void shm_detach(struct shm_seg *seg);
int shm_unlink_name(const char *name);

/* master: bracket every write of a slot's master fields. */
void shm_proc_write_begin(struct shm_proc *p);
void shm_proc_write_end(struct shm_proc *p);
/* A consistent copy of a slot (master fields under the lock, counters atomically). */
void shm_proc_read(const struct shm_proc *p, struct shm_proc *copy);

static inline void shm_count(struct shm_proc *p, enum shm_counter c, uint64_t n) {
    if (p)
        __atomic_fetch_add(&p->counters[c], n, __ATOMIC_RELAXED);
}
static inline void shm_gauge(struct shm_proc *p, enum shm_counter c, uint64_t v) {
    if (p)
        __atomic_store_n(&p->counters[c], v, __ATOMIC_RELAXED);
}

const char *shm_state_name(enum shm_state state);
const char *shm_counter_name(enum shm_counter c);
/* The counter's description; "gauge: ..." for gauges. */
const char *shm_counter_doc(enum shm_counter c);

#endif
