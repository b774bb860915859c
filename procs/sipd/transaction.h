/*
 * NAME
 *   transaction - SIP transactions, server and client: table, state machines and timers.
 * DESCRIPTION
 *   Server (RFC 3261 17.2, RFC 6026): a non-INVITE transaction goes Trying -> Proceeding
 *   -> Completed and ends after Timer J (64*T1 on UDP, at once on TCP); an INVITE
 *   transaction goes Proceeding -> Completed, retransmits a non-2xx final response on
 *   Timer G (T1, doubling up to T2, UDP only) until the ACK moves it to Confirmed, gives
 *   up at Timer H (64*T1) and ends after Timer I (T4 on UDP, at once on TCP). A 2xx moves
 *   it to Accepted: the 2xx is retransmitted like a non-2xx (the UAS core's duty of RFC
 *   3261 13.3.1.4, done here for dialogd) until the ACK of the dialog (found by
 *   txn_find_merged with the INVITE's merge key) stops it; at Timer L (64*T1) it ends,
 *   reporting ack_timeout when no ACK came. Request retransmissions are absorbed and
 *   answered with the last response. A server transaction handed to a TU (dialogd) may
 *   carry a guard (txn_guard): no final response by then and hooks.expired is called.
 *   Client (RFC 3261 17.1, RFC 6026): the request is sent at once and on UDP again on
 *   Timer A (INVITE, doubling) or E (non-INVITE, doubling up to T2, T2 once Proceeding);
 *   no final response by Timer B/F (64*T1) -> hooks.expired. txn_client_response says
 *   whether a response goes to the TU: every provisional and final response the first
 *   time, 2xx retransmissions to an INVITE (Accepted, Timer M) always, other
 *   retransmissions never (an INVITE's non-2xx again sends its ACK again, Timer D).
 *   Lookup by key (txn_key: RFC 3261 17.2.3 for servers; "C branch method" for clients)
 *   in a hash table, by merge key (RFC 3261 8.2.2.2, and the ACK of a 2xx), and by id.
 *   Every transaction ends by its timers or at txn_table_close: none is left. All timers
 *   share one libuv timer over a min-heap. Never parses, never builds SIP.
 * OWNERSHIP
 *   The table owns its transactions; a caller that keeps a transaction pointer across
 *   loop turns (waiting for routerd) holds a reference (txn_ref/txn_unref). A
 *   transaction's memory is freed at its end or at the last unref, whichever is later;
 *   once it is TXN_TERMINATED only its fields may be read. The table keeps copies of the
 *   keys, the echo, every response and a client's request and ACK; it holds the dest.
 * LOOP
 *   sipd's loop; hooks are called on it (send from inside txn_respond and timers).
 * ERRORS
 *   txn_new returns NULL when out of memory; txn_respond -EALREADY after a final
 *   response, -ENOMEM. Counts sip_txn_new, sip_txn_active, sip_retransmissions,
 *   sip_tx_responses, sip_tx_requests and sip_client_timeouts in the table's slot.
 */
#ifndef SB_SIPD_TRANSACTION_H
#define SB_SIPD_TRANSACTION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "log.h"
#include "shm.h"
#include "sipdest.h"
#include "sipmsg.h"

typedef struct txn_table txn_table_t;

/* Client INVITE: Trying is RFC 3261's Calling. Accepted is RFC 6026's. */
enum txn_state {
    TXN_TRYING,
    TXN_PROCEEDING,
    TXN_COMPLETED,
    TXN_CONFIRMED,
    TXN_ACCEPTED,
    TXN_TERMINATED
};

struct txn {
    /* read-only for callers */
    enum txn_state state;
    bool invite;
    bool client;
    bool reliable;        /* TCP: no retransmissions, Timers J and I are 0 */
    int status;           /* last response sent, 0 before the first */
    struct sipdest dest;  /* where its responses go */
    union sipaddr source; /* free for the table's user: where a request came from */
    char to_tag[24];      /* the tag of our To, "" when the request had one */
    char *echo;           /* header fields responses echo (sipmsg_echo_build), until final */
    size_t echo_len, to_tag_at;
    bool acked;          /* Accepted: the ACK of our 2xx came (server) */
    bool cancel_pending; /* client INVITE: CANCEL once a provisional response comes */
    uint64_t id;         /* unique in the table: id base | sequence */
    void *user;          /* free for the table's user (sipd's core) */
    void *tu;            /* free for the table's user: the TU (dialogd channel) it reports to */
    uint64_t tu_id;      /* the TU's id of a client transaction */
    uint64_t index_hash; /* free for the table's user: its shm index entry, 0 none */
    char *request;       /* client: the request (then, once Completed, its ACK) */
    char call_id[LOG_CALL_ID_MAX + 1]; /* its request's Call-ID for the log (txn_set_call_id) */
    size_t request_len;
    /* private to the table */
    struct txn *next_key, *next_merge, *next_id;
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
    /* Client: put the request (or its ACK) on the wire. */
    void (*send_request)(void *arg, struct txn *t, const char *buf, size_t len);
    /* A server transaction's guard passed without a final response (the hook may answer
     * with txn_respond), or a client's Timer B/F (or its Proceeding guard) fired. The
     * transaction ends after the hook unless answered. Optional. */
    void (*expired)(void *arg, struct txn *t);
    /* A server INVITE's 2xx was not acknowledged within 64*T1 (Timer L). Optional. */
    void (*ack_timeout)(void *arg, struct txn *t);
    /* t ends (any way); its fields may still be read. Optional. */
    void (*ended)(void *arg, struct txn *t);
};

/* A table on loop; slot may be NULL. Ids are id_base | a 40-bit sequence. NULL when out
 * of memory. */
txn_table_t *txn_table_new(uv_loop_t *loop, const struct txn_timers *timers,
                           const struct txn_hooks *hooks, void *arg, struct shm_proc *slot,
                           uint64_t id_base);
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
/* From tag, Call-ID, CSeq number and method: equal for merged requests (RFC 3261 8.2.2.2).
 * method SIPMSG_M_UNKNOWN: m's own; an ACK's with SIPMSG_M_INVITE finds the INVITE. */
int txn_merge_key(const sipmsg_t *m, enum sipmsg_method method, char *out, size_t cap);
/* "C branch method": the key of a client transaction (RFC 3261 17.1.3). */
int txn_client_key(const char *branch, size_t branch_len, const char *method, size_t method_len,
                   char *out, size_t cap);

struct txn *txn_find(txn_table_t *tb, const char *key, size_t key_len);
struct txn *txn_find_merged(txn_table_t *tb, const char *merge_key, size_t merge_len);
struct txn *txn_find_id(txn_table_t *tb, uint64_t id);
/* Whether t is a server transaction of an RFC 3261 branch (z9hG4bK...) equal to branch. */
bool txn_has_branch(const struct txn *t, struct sipmsg_str branch);
/* Calls fn for every live transaction (fn may end none of them). */
void txn_foreach(txn_table_t *tb, void (*fn)(void *arg, struct txn *t), void *arg);

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
/* The ACK of a non-2xx final response (RFC 3261 17.2.1): Completed -> Confirmed; of a
 * 2xx (RFC 6026): Accepted stops retransmitting. */
void txn_ack(txn_table_t *tb, struct txn *t);

/* A server transaction must have its final response within ms (see hooks.expired). */
void txn_guard(txn_table_t *tb, struct txn *t, uint64_t ms);

/* A new client transaction for request (copied): sends it and starts its timers. NULL
 * when out of memory. */
struct txn *txn_client_new(txn_table_t *tb, bool invite, const char *key, size_t key_len,
                           const struct sipdest *dest, const char *request, size_t len);
/* A response of status matched client transaction t: true when it goes to the TU. */
bool txn_client_response(txn_table_t *tb, struct txn *t, int status);
/* Completed client INVITE: the ACK of its non-2xx (copied), sent now and for every
 * retransmission of that response. */
void txn_client_ack(txn_table_t *tb, struct txn *t, const char *ack, size_t len);

/* Keeps len bytes of call_id (cut at LOG_CALL_ID_MAX) as t's Call-ID in log lines. */
void txn_set_call_id(struct txn *t, const char *call_id, size_t len);

void txn_ref(struct txn *t);
void txn_unref(struct txn *t);

#endif
