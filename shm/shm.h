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
 *   The transaction index (shm_txn_*) maps a hash of a SIP server transaction's key to
 *   the sipd instance that owns it, so a request retransmission that the kernel hands to
 *   another instance (after a maxproc change) reaches its owner: one 64-bit word per
 *   entry (40 bits of hash, 8 of instance, 16 of expiry in monotonic seconds), claimed
 *   and released with compare-and-swap by any sipd, linear probing of at most
 *   SHM_TXN_PROBES slots; an entry past its expiry (its owner died) is free again.
 *   After the process table: the media port pool shared by every mediad instance, one
 *   owner word per RTP/RTCP port pair (index port / 2) holding the pid of the process that
 *   owns the pair (0: free), taken and given back with compare-and-swap; a pair whose
 *   owner died is taken back by any live mediad (shm_media_reclaim).
 *   Beside each slot, its statistics too wide for the counters (struct shm_stats, written
 *   by the slot's worker with atomics, read by anyone): SIP requests by method and
 *   responses by code, each received and sent (sipd: wire bytes, retransmissions too),
 *   the call setup time histogram (dialogd: A's INVITE to the 2xx we send A), and a
 *   mediad's operator drain flag (shm_media_pick skips a drained instance).
 *   Last, the request rates per source of every sipd (pike.h).
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

#include "pike.h"

#define SHM_MAGIC 0x5342534dU /* "SBSM" */
#define SHM_VERSION 11U
#define SHM_MAX_PROCS 256
#define SHM_MAX_COUNTERS 64

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
    X(sip_tx_requests, "SIP requests sent in client transactions (retransmissions and ACKs too)") \
    X(sip_client_timeouts, "client transactions ended by Timer B/F without a final response") \
    X(sip_forwarded, "datagrams handed to the sipd instance owning their transaction") \
    X(sip_forward_received, "datagrams received from another sipd instance") \
    X(calls_started, "calls (A-leg INVITEs) taken by dialogd")              \
    X(calls_answered, "calls answered by the callee")                      \
    X(calls_failed, "calls that ended before an answer (404, 486, 487, ...)") \
    X(calls_ended, "answered calls hung up by a BYE")                      \
    X(calls_active, "gauge: calls dialogd holds")                          \
    X(routes, "RouteRequests answered (routerd)")                          \
    X(dialplan_errors, "dialplan files refused at load or reload (routerd)") \
    X(media_sessions, "gauge: media sessions alive (mediad)") \
    X(media_sessions_created, "media sessions created (mediad)") \
    X(media_pool_exhausted, "media creates refused: no free port pair (mediad)") \
    X(media_bad_sdp, "media requests refused: bad or unrelayable SDP (mediad)") \
    X(media_rx_packets, "RTP and RTCP packets received (mediad)") \
    X(media_tx_packets, "RTP and RTCP packets sent, relayed or played (mediad)") \
    X(media_rx_bytes, "RTP and RTCP bytes received (mediad)") \
    X(media_tx_bytes, "RTP and RTCP bytes sent, relayed or played (mediad)") \
    X(media_lost, "RTP packets lost before they reached us, RFC 3550 A.3 (mediad)") \
    X(media_rx_dropped, "packets dropped: wrong source, direction, no peer (mediad)") \
    X(media_rx_not_rtp, "packets dropped as neither RTP nor RTCP (mediad)") \
    X(media_srtp_failed, "SRTP packets dropped: replay, forgery, bad length (mediad)") \
    X(media_dtmf_events, "RFC 4733 DTMF events seen (mediad)") \
    X(media_timeouts, "media_timeout events sent (mediad)") \
    X(media_playbacks, "playbacks started (mediad)") \
    X(media_ports_reclaimed, "port pairs taken back from dead mediad processes (mediad)") \
    X(http_sse_clients, "gauge: event stream clients connected (apid)") \
    X(http_sse_dropped, "event stream clients dropped for reading too slowly (apid)") \
    X(api_auth_failures, "requests refused for a missing or wrong token (apid)") \
    X(api_events, "events sent to the event stream (apid)") \
    X(sip_pike_dropped, "requests dropped from a source over its rate limit (sipd)") \
    X(sip_pike_blocks, "sources blocked for their request or call rate (sipd)") \
    X(sip_txn_refused, "requests answered 503: sip_max_transactions reached (sipd)") \
    X(sip_tcp_refused, "TCP connections closed at accept: sip_tcp_max_per_source (sipd)")

enum shm_counter {
#define SHM_COUNTER_ENUM(name, doc) SHM_C_##name,
    SHM_COUNTERS(SHM_COUNTER_ENUM)
#undef SHM_COUNTER_ENUM
    SHM_COUNTER_COUNT
};
_Static_assert(SHM_COUNTER_COUNT <= SHM_MAX_COUNTERS, "too many shm counters");

/* SIP methods counted by name; the others as "other". */
#define SHM_SIP_METHODS(X)                                                                 \
    X(INVITE) X(ACK) X(BYE) X(CANCEL) X(OPTIONS) X(REGISTER) X(UPDATE) X(REFER) X(NOTIFY)   \
    X(PRACK) X(INFO) X(MESSAGE) X(SUBSCRIBE) X(PUBLISH) X(other)

enum shm_sip_method {
#define SHM_SIP_METHOD_ENUM(name) SHM_SIP_##name,
    SHM_SIP_METHODS(SHM_SIP_METHOD_ENUM)
#undef SHM_SIP_METHOD_ENUM
    SHM_SIP_METHOD_COUNT
};

enum shm_dir { SHM_RX = 0, SHM_TX = 1 };

#define SHM_SIP_CODE_MIN 100
#define SHM_SIP_CODE_MAX 699
#define SHM_SIP_CODES (SHM_SIP_CODE_MAX - SHM_SIP_CODE_MIN + 1)

/* Upper bounds (ms) of the call setup histogram's buckets; one more bucket is +Inf. */
#define SHM_SETUP_BOUNDS_MS {5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000}
#define SHM_SETUP_BUCKETS 13

struct shm_stats {
    uint64_t sip_requests[2][SHM_SIP_METHOD_COUNT]; /* [enum shm_dir][method] */
    uint64_t sip_responses[2][SHM_SIP_CODES];       /* [enum shm_dir][code - 100] */
    uint64_t setup_buckets[SHM_SETUP_BUCKETS + 1];  /* not cumulative; last: over the bounds */
    uint64_t setup_sum_ms;
    uint64_t setup_count;
    uint32_t media_drained;  /* mediad: 1 while an operator drain keeps new sessions off */
    uint32_t pad;
} __attribute__((aligned(64)));

enum shm_state {
    SHM_EMPTY = 0,     /* slot unused */
    SHM_STARTING,      /* forked, not yet ready */
    SHM_READY,
    SHM_DRAINING,
    SHM_STOPPING,
    SHM_THROTTLED,     /* died at start too often; master waits before the next fork */
    SHM_DEGRADED,      /* was ready; a dependency it needs to serve is down (reason says) */
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
    char reason[64];         /* starting, degraded: the dependency it waits for */
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

#define SHM_TXN_SLOTS (1u << 20) /* 8 MiB, touched only where used */
#define SHM_TXN_PROBES 16
/* Port pairs (even RTP port, RTCP port + 1) of the whole port space, by port / 2. */
#define SHM_MEDIA_PAIRS 32768

struct shm_media_pool {
    uint32_t cursor;         /* next pair index to try: spreads reuse of freed pairs */
    uint32_t pad[15];
    int32_t owner[SHM_MEDIA_PAIRS]; /* pid of the owner, 0 free; CAS only */
} __attribute__((aligned(64)));

struct shm_seg {
    struct shm_header hdr;
    struct shm_proc procs[SHM_MAX_PROCS];
    struct shm_stats stats[SHM_MAX_PROCS];
    struct shm_media_pool media_pool;
    uint64_t txn_index[SHM_TXN_SLOTS];
    struct shm_pike pike; /* request rates per source (pike.h) */
};

/* The sipd instance that owns the transaction of hash (a 64-bit hash of its key), or
 * this one: 0 when instance now owns it (claimed for ttl_s seconds), 1 with *owner when
 * another live instance does, -ENOSPC when no slot is free within the probe limit (the
 * caller goes on without the index). now_s: monotonic seconds (shm_now_s). */
int shm_txn_claim(struct shm_seg *seg, uint64_t hash, unsigned instance, uint32_t now_s,
                  uint32_t ttl_s, unsigned *owner);
/* The owner of hash, if a live entry names one: 1 and *owner, else 0. */
int shm_txn_owner(const struct shm_seg *seg, uint64_t hash, uint32_t now_s, unsigned *owner);
/* Frees instance's entry for hash (the transaction ended). */
void shm_txn_release(struct shm_seg *seg, uint64_t hash, unsigned instance);
/* Monotonic seconds, the same clock in every process of the host. */
uint32_t shm_now_s(void);

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

/* Takes a free pair in [lo, hi] (lo even) for pid: returns its RTP port, or -ENOSPC.
 * Lock-free (CAS per slot); any process may call it. */
int shm_media_port_alloc(struct shm_media_pool *pool, int lo, int hi, int32_t pid);
/* Gives back the pair of rtp_port if pid owns it; 0, or -EPERM when it is not pid's. */
int shm_media_port_free(struct shm_media_pool *pool, int rtp_port, int32_t pid);
/* Frees every pair in [lo, hi] whose owner process no longer exists; returns how many. */
int shm_media_reclaim(struct shm_media_pool *pool, int lo, int hi);
/* Free pairs in [lo, hi]. */
unsigned shm_media_free_count(const struct shm_media_pool *pool, int lo, int hi);
/* The instance number of the ready mediad with the fewest sessions (media_sessions
 * gauge), ties to the lowest instance; -1 when none is ready. Draining ones, those an
 * operator drained (shm_stats.media_drained) and instance except (-1: none) are skipped. */
int shm_media_pick(const struct shm_seg *seg, int except);

/* The statistics beside slot p (a slot of seg). */
static inline struct shm_stats *shm_stats_of(struct shm_seg *seg, const struct shm_proc *p) {
    return seg && p ? &seg->stats[p - seg->procs] : NULL;
}
/* Counts a SIP message from its wire bytes (the start line): a request by its method, a
 * response by its code; anything else is ignored. st may be NULL. */
void shm_sip_count(struct shm_stats *st, enum shm_dir dir, const char *buf, size_t len);
/* Counts one call setup time in the histogram. */
void shm_setup_observe(struct shm_stats *st, uint64_t ms);
/* The name of a counted method ("other" for the rest). */
const char *shm_sip_method_name(enum shm_sip_method m);

const char *shm_state_name(enum shm_state state);
const char *shm_counter_name(enum shm_counter c);
/* The counter's description; "gauge: ..." for gauges. */
const char *shm_counter_doc(enum shm_counter c);

#endif
