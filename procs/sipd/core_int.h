/*
 * NAME
 *   core_int - the state sipd's core layers share (struct core) and the message at hand.
 * DESCRIPTION
 *   struct core is the process's context: configuration, peers, sockets, the transaction
 *   table and the buffers sized from sip_max_message. It holds nothing about one message:
 *   that travels as a struct core_msg, made by core.c for each message and passed down
 *   explicitly. Layers, bottom first: core_reply and core_local (answers; our addresses
 *   and the other instances), natping (keepalives of NATed bindings), core_register and
 *   core_dialog (relays to routerd and dialogd), core.c (dispatch, lifetime). A layer
 *   includes only the headers below it.
 * OWNERSHIP
 *   core.c allocates and frees struct core; the layers borrow it for a call.
 * LOOP
 *   sipd's loop.
 * ERRORS
 *   None here.
 */
#ifndef SB_SIPD_CORE_INT_H
#define SB_SIPD_CORE_INT_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <uv.h>

#include "core.h"
#include "sipconv.h"
#include "sipmsg.h"
#include "transaction.h"

#define CORE_RETRY_AFTER_NO_ROUTER 5
#define CORE_RETRY_AFTER_NO_CALLS "60"
/* Retry-After of the 503 sent past sip_max_transactions */
#define CORE_RETRY_AFTER_OVERLOAD 5
#define CORE_MAX_UDP 16
/* How long dialogd may take to answer a request before sipd does (RFC 3261 16.6 Timer C
 * for an INVITE; a non-INVITE's client gives up at 64*T1, so 32*T1 for those). */
#define CORE_INVITE_GUARD_MS (181 * 1000)
#define CORE_BRANCH_PREFIX "z9hG4bKsb"

/* m's Call-ID as a C string for log_call, in buf (cut at LOG_CALL_ID_MAX bytes). */
static inline const char *core_call_id(const sipmsg_t *m, char buf[LOG_CALL_ID_MAX + 1]) {
    size_t n = m->call_id.len < LOG_CALL_ID_MAX ? m->call_id.len : LOG_CALL_ID_MAX;
    if (n)
        memcpy(buf, m->call_id.ptr, n);
    buf[n] = '\0';
    return buf;
}

struct natping;
struct core_bans;

struct core {
    uv_loop_t *loop;
    uv_timer_t drain_timer; /* reports drained from the loop, not from a transaction */
    struct core_config cfg;
    char warn_agent[64]; /* Warning's warn-agent: the server name as a token */
    struct shm_proc *slot;
    struct core_peers peers;
    uint64_t router_counter, branch_counter;
    struct udp_sock *udp[CORE_MAX_UDP];
    int udp_family[CORE_MAX_UDP];
    int nudp;
    struct shm_seg *seg;     /* the transaction index, NULL: none */
    struct shm_stats *stats; /* messages by method and code, NULL: not counted */
    struct tcp_server *tcp;
    int tcp_port;
    int tls_port; /* our first TLS listener's port, 0: none */
    sipmsg_t *msg2; /* parses our own requests again (CANCEL, ACK) */
    struct sipconv_store store;
    char *conv; /* scratch of sipconv_to_proto */
    size_t conv_cap;
    uint64_t tag_salt;
    txn_table_t *txns;
    sipmsg_t *msg;
    /* buffers sized from max_message, allocated once */
    char *key, *key2, *echo, *out, *extra;
    size_t key_cap, echo_cap, out_cap, extra_cap;
    struct natping *natping; /* keepalives of NATed bindings (natping.h) */
    struct srclimit srclimit; /* request rates per source, shared through shm */
    struct core_bans *bans;  /* sources routerd said are banned (core_auth.h), NULL none */
    bool draining;
    void (*drained)(void *arg);
    void *drained_arg;
};

/* The message at hand: made per message by core.c, passed down, never kept. */
struct core_msg {
    const sipmsg_t *m;         /* parsed, into the message's buffer */
    const struct sipdest *src; /* where it came from */
    bool forwarded;            /* handed over by the sipd instance that received it */
    uint64_t index_hash;       /* the transaction index entry it claimed, 0 none; its
                                * transaction takes it over (core_txn_start) */
};

#endif
