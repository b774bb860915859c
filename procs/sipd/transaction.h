/*
 * NAME
 *   transaction - SIP server transactions: table, state machines and timers (sipd).
 * DESCRIPTION
 *   RFC 3261 17.2: a non-INVITE transaction goes Trying -> Proceeding -> Completed and
 *   ends after Timer J (64*T1 on UDP, at once on TCP); an INVITE transaction goes
 *   Proceeding -> Completed, retransmits a non-2xx final response on Timer G (T1,
 *   doubling up to T2, UDP only) until the ACK moves it to Confirmed, gives up at Timer
 *   H (64*T1) and ends after Timer I (T4 on UDP, at once on TCP); a 2xx ends it at once.
 *   Request retransmissions are absorbed and answered with the last response. Lookup is
 *   by the key of RFC 3261 17.2.3 (txn_key: branch + sent-by + method, plus Call-ID and
 *   CSeq number so that a reused branch is not taken for a retransmission; or the RFC
 *   2543 fields when the branch lacks the magic cookie) in a hash table, and for requests
 *   without a To tag also by From tag + Call-ID + CSeq (txn_merge_key, RFC 3261
 *   8.2.2.2). Every transaction ends by its timers or at txn_table_close: none is left.
 *   All timers share one libuv timer over a min-heap. Never parses, never builds SIP.
 * OWNERSHIP
 *   The table owns its transactions; a caller that keeps a transaction pointer across
 *   loop turns (waiting for routerd) holds a reference (txn_ref/txn_unref). A
 *   transaction's memory is freed at its end or at the last unref, whichever is later;
 *   once it is TXN_TERMINATED only its fields may be read. The table keeps copies of the
 *   keys, the echo and every response; it holds the dest (sipdest_hold).
 * LOOP
 *   sipd's loop; hooks are called on it (send from inside txn_respond and timers).
 * ERRORS
 *   txn_new returns NULL when out of memory; txn_respond -EALREADY after a final
 *   response, -ENOMEM. Counts sip_txn_new, sip_txn_active, sip_retransmissions and
 *   sip_tx_responses in the slot given to txn_table_new.
 */
#ifndef SB_SIPD_TRANSACTION_H
#define SB_SIPD_TRANSACTION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "shm.h"
#include "sipdest.h"
#include "sipmsg.h"

typedef struct txn_table txn_table_t;

enum txn_state { TXN_TRYING, TXN_PROCEEDING, TXN_COMPLETED, TXN_CONFIRMED, TXN_TERMINATED };

struct txn {
    /* read-only for callers */
    enum txn_state state;
    bool invite;
    bool reliable;       /* TCP: no retransmissions, Timers J and I are 0 */
    int status;          /* last response sent, 0 before the first */
    struct sipdest dest; /* where its responses go */
    char to_tag[24];     /* the tag of our To, "" when the request had one */
    char *echo;          /* header fields responses echo (sipmsg_echo_build), until final */
    size_t echo_len, to_tag_at;
    void *user; /* free for the table's user (sipd's core) */
    /* private to the table */
    struct txn *next_key, *next_merge;
    uint32_t key_hash, merge_hash;
    uint32_t heap_index;    /* UINT32_MAX: no timer armed */
    uint64_t timer_ms;      /* next timer (loop time) */
    uint64_t end_ms;        /* Timer H of a Completed INVITE */
    uint64_t retransmit_ms; /* Timer G interval */
    int refs;
    char *response;
    size_t response_len, response_cap;
    uint32_t key_len, merge_len;
    char keys[]; /* key, then merge key */
};

struct txn_timers {
    uint64_t t1_ms, t2_ms, t4_ms;
};

struct txn_hooks {
    /* Put a response on the wire (first sending and retransmissions). */
    void (*send)(void *arg, struct txn *t, const char *buf, size_t len);
    /* No transaction owes a response or waits for an ACK any more (drain). Optional. */
    void (*idle)(void *arg);
};

/* A table on loop; slot may be NULL. NULL when out of memory. */
txn_table_t *txn_table_new(uv_loop_t *loop, const struct txn_timers *timers,
                           const struct txn_hooks *hooks, void *arg, struct shm_proc *slot);
/* New T1/T2/T4 (reload); running timers keep their schedule. */
void txn_table_set_timers(txn_table_t *tb, const struct txn_timers *timers);
/* Ends every transaction and closes the timer; the table is freed in its close callback. */
void txn_table_close(txn_table_t *tb);
/* Transactions alive, and those that still owe a final response or wait for an ACK. */
size_t txn_count(const txn_table_t *tb);
size_t txn_busy(const txn_table_t *tb);

/* The key of RFC 3261 17.2.3 for m as a request of method (SIPMSG_M_UNKNOWN: m's own;
 * ACK maps to INVITE). Returns its length or -ENOSPC. */
int txn_key(const sipmsg_t *m, enum sipmsg_method method, char *out, size_t cap);
/* From tag, Call-ID, CSeq number and method: equal for merged requests (RFC 3261 8.2.2.2). */
int txn_merge_key(const sipmsg_t *m, char *out, size_t cap);

struct txn *txn_find(txn_table_t *tb, const char *key, size_t key_len);
struct txn *txn_find_merged(txn_table_t *tb, const char *merge_key, size_t merge_len);

/* A new server transaction (Trying) for the request of key; merge_key may be NULL (not
 * indexed for 8.2.2.2). echo/to_tag are copied (to_tag NULL: the request has one). */
struct txn *txn_new(txn_table_t *tb, bool invite, const char *key, size_t key_len,
                    const char *merge_key, size_t merge_len, const struct sipdest *dest,
                    const char *echo, size_t echo_len, size_t to_tag_at, const char *to_tag);
/* Sends response (len bytes of status) and moves t along; a final response starts the
 * end of t. t may be freed on return unless the caller holds a reference. */
int txn_respond(txn_table_t *tb, struct txn *t, int status, const char *response, size_t len);
/* The request came again: absorbed, the last response (if any) sent again. */
void txn_request_again(txn_table_t *tb, struct txn *t);
/* The ACK of a non-2xx final response (RFC 3261 17.2.1): Completed -> Confirmed. */
void txn_ack(txn_table_t *tb, struct txn *t);

void txn_ref(struct txn *t);
void txn_unref(struct txn *t);

#endif
