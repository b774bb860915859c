/*
 * NAME
 *   call - a call of the B2BUA (two legs, a state, the parts features keep) and the
 *   table of calls, with dialogd's context: how it reaches sipd, routerd, mediad and Redis.
 * DESCRIPTION
 *   A call is one allocation: leg[LEG_A] (the caller's dialog, we are its UAS), leg[LEG_B]
 *   (the callee's, we are its UAC), a leg set aside while a transfer rings its target
 *   (held), the forks of a dial, the dialplan's actions, the media session and the call's
 *   state: one value of enum call_state, the rows of dispatch's (state x event) table.
 *   The table finds a call by id and by the Call-ID of any of its legs. A request to
 *   another process (call_request) carries the function that handles its answer; the
 *   answer reaches it only while the call lives. Features that keep something of their
 *   own in a call register a teardown (call_teardown_add) that call_free runs first: this
 *   layer never calls up into them.
 *   How dialogd reaches the others is a table of functions (struct b2b_io), the worker's
 *   in dialogd and fakes in the unit tests.
 * OWNERSHIP
 *   The b2b owns its calls; call_free releases everything a call holds (its memory goes
 *   in the dial timer's close callback). Channels are borrowed from the worker.
 * LOOP
 *   dialogd's loop.
 * ERRORS
 *   call_new returns NULL when out of memory or when no random tag can be had;
 *   call_request returns false when the peer is not connected or the queue refused.
 */
#ifndef SB_DIALOGD_CALL_H
#define SB_DIALOGD_CALL_H

#include <hiredis/async.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "cfg.h"
#include "dlg.h"
#include "ipc.h"
#include "roles.h"
#include "shm.h"

#define CALL_BUCKETS 4096
#define CALL_MAX_ACTIONS 64
#define CALL_MAX_FORKS 8 /* contacts of one AOR rung in parallel */
#define CALL_MAX_TEARDOWNS 8
#define CALL_CONTACT_USER "sb"
#define CALL_SDP "application/sdp"

/* The states of a call: the rows of the dispatch table (b2bua.c). */
#define CALL_STATES(X)                                                                             \
    X(ROUTING, "routing")        /* routerd (route, location) or mediad (the offer) asked */       \
    X(CALLING, "calling")        /* B-leg INVITEs out, nothing heard but 100 or 18x */             \
    X(EARLY, "calling")          /* ... and an 18x brought early media */                          \
    X(ANSWERED, "answered")      /* our 2xx to A, waiting for A's ACK */                           \
    X(LATE_ACK, "answered")      /* a late offer: our ACK to B waits for the answer in A's */      \
    X(CONFIRMED, "confirmed")    /* both dialogs up */                                             \
    X(REINVITING, "confirmed")   /* a re-INVITE or UPDATE relayed between the legs */              \
    X(TRANSFERRING, "confirmed") /* a REFER's target rings; the referrer's leg is held */          \
    X(MOVING, "confirmed")       /* its media moves to another mediad */                           \
    X(ENDING, "ending")          /* BYE sent; waiting for the answers */

enum call_state {
#define CALL_STATE_ENUM(name, record) CS_##name,
    CALL_STATES(CALL_STATE_ENUM)
#undef CALL_STATE_ENUM
        CS_COUNT
};

/* What a client request of a call is: client_id = call id << 16 | attempt << 8 |
 * fork << 4 | kind (attempt: which dial of the call, so that answers to an abandoned one
 * are told apart; fork: which of the contacts rung in parallel). */
enum call_kind {
    KIND_INVITE = 1,   /* a dial's INVITE to the callee (and its ACK) */
    KIND_BYE = 2,      /* a BYE of the call's own (answer counted by pending_byes) */
    KIND_REINVITE = 4, /* a re-INVITE or UPDATE relayed to the other leg */
    KIND_STRAY = 6,    /* a request whose answers nobody waits for */
    KIND_MOVE = 7,     /* a re-INVITE moving a leg's media to another mediad */
    KIND_REFRESH = 9,  /* our UPDATE refreshing a leg's session timer */
};

/* One action of the call's route (routerd's RouteReply, copied). */
struct call_action {
    enum { ACT_DIAL, ACT_HANGUP, ACT_PLAY } type;
    char *aor, *uri; /* dial: look up aor, or call uri */
    char *file;      /* play_audio */
    unsigned timeout, status;
    /* a dial of aor whose location came with the route: its contacts (none: the
     * location's status says why) */
    bool located;
    unsigned location_status;
    char *contacts[CALL_MAX_FORKS];
    Sb__SipPeer hops[CALL_MAX_FORKS]; /* ... and how each registered (dlg_peer_copy) */
    unsigned ncontacts;
};

/* One contact rung by a dial: its own B dialog until one of them answers. */
struct call_fork {
    char *call_id, *from_tag, *target;
    Sb__SipPeer hop; /* the next hop of its requests (dlg.h), unset when unknown */
    uint64_t txn; /* sipd's client transaction of its INVITE, once it answered anything */
    bool done;    /* a final response came, or it was abandoned */
    bool cancel_sent;
    /* RFC 5626 5.3: another flow of an earlier fork's instance, held back (done) until
     * that fork's flow fails (430) */
    bool standby;
};

typedef struct b2b b2b_t;
struct call;

/* What a dial does with its outcome (dial.h): the dialplan's next action, or a transfer's
 * end. */
struct dial_ops {
    enum call_state state; /* the call's state while the dial rings */
    void (*failed)(b2b_t *b, struct call *c, unsigned status);
    void (*answered)(b2b_t *b, struct call *c);
};

struct call {
    b2b_t *b2b;
    uint64_t id;
    struct call *next_id, *next_cid[2]; /* table chains: by id, by each leg's Call-ID */
    enum call_state state;
    struct dlg leg[2];
    struct dlg held;        /* TRANSFERRING: the referrer's leg until the target answers */
    bool held_is_a;         /* ... the caller referred: the legs are swapped back if it fails */
    bool saved;             /* its record is in Redis */
    bool quiet;             /* leaving with the process: no call.ended */
    bool cancelled;         /* the caller (or apid) gave up before the answer */
    bool dial_timed_out;    /* the current dial's timer fired */
    bool late_offer;        /* A's INVITE had no SDP: B offers in its 2xx */
    unsigned cancel_status; /* apid hung up before the answer: A's final status */
    /* the dialplan */
    struct call_action *actions; /* the route's, malloc'd (nactions of them) */
    size_t nactions, next_action;
    unsigned last_failure; /* the status of the last failed action */
    char *destination;     /* the dialed user part */
    char *caller_id;       /* the From user part */
    char *content_type;    /* A's INVITE body type */
    unsigned a_max_forwards; /* A's INVITE's Max-Forwards (1..255), 0: absent or unknown */
    /* a dial (dial.h) */
    const struct dial_ops *dial;
    unsigned attempt; /* dials started */
    struct call_fork forks[CALL_MAX_FORKS];
    unsigned nforks;
    int winner;                /* the fork that answered, -1 none yet */
    unsigned fork_failure;     /* the most telling final status of the failed forks */
    uv_timer_t dial_timer;     /* a dial's timeout; the call is freed in its close callback */
    struct dlg_blob b_ack_sdp; /* a late offer's answer our ACK to B carried (2xx copies) */
    /* media (anchor.h) */
    uint64_t media_session; /* mediad's session, 0: media not anchored (no SDP offer) */
    int media_instance;
    int media_avoid;         /* a mediad that refused the create (-1 none): one more try */
    bool media_swapped;      /* mediad's side A faces the call's B leg (after a swap) */
    bool playing;            /* a play_audio runs: its end moves the call on */
    struct dlg_blob a_local; /* mediad's side-A SDP at the create (an IVR answer) */
    void (*play_done)(b2b_t *b, struct call *c, bool ok);
    /* a re-INVITE relayed (REINVITING) */
    struct {
        uint64_t txn;   /* its server transaction */
        ipc_chan_t *ch; /* ... on this sipd */
        int from;       /* the leg it came from */
        uint32_t cseq;  /* our request's CSeq to the other leg (for its ACK) */
        const char *method; /* INVITE; UPDATE (RFC 3311) or INFO (RFC 6086): no ACK */
        int max_forwards;   /* what the relayed request carries (its own minus one) */
    } re;
    struct call_move *move; /* MOVING (control.h) */
    /* the record and the event stream */
    int64_t created_ms, answered_ms, ringing_ms;
    unsigned ringing_status; /* the first 18x relayed to A (call.ringing) */
    const char *end_cause;   /* why the call ended (call.ended), a static string */
    unsigned end_status;     /* ... and the final status A got when it never answered */
    int pending_byes;
    bool timer_counted; /* counted in the session timers' sweep (setimer.h) */
    uint64_t cap_keys[2]; /* its counts in callcap.h (source, caller), 0: not counted */
};

/* How dialogd reaches the others; each channel is borrowed (NULL: none connected). */
struct b2b_io {
    void *arg;
    /* an instance of role for key (the same key, the same instance while the set holds) */
    ipc_chan_t *(*pick)(void *arg, enum sb_role role, uint64_t key);
    /* instance n of role */
    ipc_chan_t *(*instance)(void *arg, enum sb_role role, int n);
    /* the least loaded mediad taking sessions, not except (-1 none) */
    int (*media_pick)(void *arg, int except);
    /* the Redis link when up, else NULL */
    redisAsyncContext *(*redis)(void *arg);
    const cfg_t *(*cfg)(void *arg);
    bool (*draining)(void *arg);
};

typedef void (*call_teardown_fn)(b2b_t *b, struct call *c);

struct b2b {
    uv_loop_t *loop;
    struct b2b_io io;
    struct shm_proc *slot;   /* counters (may be a private struct in tests) */
    struct shm_stats *stats; /* the call setup histogram, or NULL */
    int instance;            /* this dialogd's instance */
    bool closing;
    int redis_pending;    /* lookups Redis still owes an answer */
    int requests_pending; /* requests whose answer (or failure) is still to come */
    uint64_t next_id;
    size_t ncalls;
    struct call *by_id[CALL_BUCKETS];
    struct call *by_cid[2][CALL_BUCKETS]; /* by leg[n]'s Call-ID */
    call_teardown_fn teardown[CALL_MAX_TEARDOWNS];
    size_t nteardown;
    void *feature[4]; /* features' own state (control's migration, timer's sweep) */
};

enum { FEATURE_TIMER, FEATURE_CONTROL, FEATURE_CALLCAP };

/* The b2b context on loop with io; NULL when out of memory. */
b2b_t *b2b_new(uv_loop_t *loop, const struct b2b_io *io, struct shm_proc *slot,
               struct shm_stats *stats, int instance);
/* Frees b once it is closing and nothing (Redis, a request) still owes it an answer. */
void b2b_release(b2b_t *b);
/* fn runs for every call as it is freed, before the base frees anything. */
void call_teardown_add(b2b_t *b, call_teardown_fn fn);

/* A new call in the table (state ROUTING, legs empty, a random To tag for A); NULL when
 * out of memory or without random bytes. */
struct call *call_new(b2b_t *b);
/* Teardowns, then everything the call holds; its memory goes once the loop closed its
 * timer. The call must not be used after. */
void call_free(b2b_t *b, struct call *c);
struct call *call_find(b2b_t *b, uint64_t id);
/* The call a Call-ID belongs to and which leg it names (LEG_A, LEG_B); NULL none. The
 * held leg of a transfer is not found here (call_find_held). */
struct call *call_find_cid(b2b_t *b, const char *call_id, int *leg);
/* The call whose held leg has call_id. */
struct call *call_find_held(b2b_t *b, const char *call_id);
/* Leg n enters (leaves) the table under its Call-ID; nothing without one. */
void call_link(b2b_t *b, struct call *c, int n);
void call_unlink(b2b_t *b, struct call *c, int n);
/* Every call, in table order: fn may free the call it is given. */
void call_each(b2b_t *b, void (*fn)(b2b_t *b, struct call *c, void *arg), void *arg);

/* The answer to a call's request; env NULL on timeout or a closed channel. Runs only if
 * the call still lives (arg is the request's own). */
typedef void (*call_reply_fn)(b2b_t *b, struct call *c, ipc_chan_t *ch, Sb__Envelope *env,
                              void *arg);
/* env to ch for call c; fn gets the answer; arg (malloc'd or NULL) is freed after fn, or
 * when the call is gone. on_orphan (may be NULL) runs when the answer finds no call. */
bool call_request(b2b_t *b, struct call *c, ipc_chan_t *ch, Sb__Envelope *env, uint32_t timeout_ms,
                  call_reply_fn fn, void *arg,
                  void (*on_orphan)(ipc_chan_t *ch, Sb__Envelope *env, uint64_t call_id));

/* 16 hex digits of randomness into out (cap >= 17): 0, or negative errno. */
int call_random_hex(char *out, size_t cap);
int64_t call_wall_ms(void);
/* The record's name of a state ("calling", "confirmed", ...). */
const char *call_state_record(enum call_state s);
/* The state's own name ("EARLY", "REINVITING", ...), for logs and tests. */
const char *call_state_name(enum call_state s);
/* Whether A's dialog is up and answered by B: a BYE goes to both (the states after the
 * callee's 2xx). */
bool call_established(const struct call *c);
/* Leg n's next CSeq. */
uint32_t call_next_cseq(struct call *c, int n);

static inline int call_other(int leg) {
    return leg ^ 1;
}

#endif
