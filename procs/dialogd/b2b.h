/*
 * NAME
 *   b2b - dialogd's internals shared by its files: the call record, the b2bua table and
 *   the functions one part of the B2BUA calls in another.
 * DESCRIPTION
 *   b2bua.c   the call table, the record in Redis, sending requests and responses,
 *             in-dialog requests (ACK, BYE, CANCEL), responses, lifetime;
 *   b2b_dial.c  the dialplan's actions: routing, dial with parallel forks, the A leg's
 *             INVITE and the answers to the B leg's INVITEs;
 *   b2b_media.c mediad: create, update, play, destroy, its events;
 *   b2b_midcall.c re-INVITE and UPDATE relayed between the legs, REFER (transfer);
 *   b2b_restore.c a call brought back from its Redis record (a BYE after a restart);
 *   b2b_control.c apid's requests (hang up, move calls off a mediad) and call events.
 *   Not a public interface: b2bua.h is dialogd's.
 * OWNERSHIP, LOOP, ERRORS
 *   As b2bua.h: everything runs on dialogd's loop; a call owns its strings.
 */
#ifndef SB_DIALOGD_B2B_H
#define SB_DIALOGD_B2B_H

#include "b2bua.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include <hiredis/async.h>
#include <hiredis/hiredis.h>

#include "log.h"
#include "proto/dialog.pb-c.h"
#include "proto/media.pb-c.h"
#include "proto/route.pb-c.h"
#include "proto/sip.pb-c.h"

#define B2B_BUCKETS 4096
#define B2B_MAX_ROUTES 16
#define B2B_LOCATION_TIMEOUT_MS 2000
#define B2B_ROUTE_TIMEOUT_MS 2000
#define B2B_MEDIA_TIMEOUT_MS 2000
#define B2B_SDP "application/sdp"
#define B2B_MAX_ACTIONS 64
#define B2B_MAX_FORKS 8                /* contacts of one AOR rung in parallel */
#define DIALPLAN_TRANSFER_TIMEOUT_S 30 /* how long a REFER's target may ring */
#define B2B_CONTACT_USER "sb"
#define B2B_KEY_TTL_S 86400 /* a dialog record outlives no call by more than a day */

/* Extra header fields of a message we send (their strings borrowed or in buf). */
#define B2B_MAX_HDRS 4
struct b2b_hdrs {
    Sb__SipHeader h[B2B_MAX_HDRS];
    Sb__SipHeader *p[B2B_MAX_HDRS];
    size_t n;
    char buf[160];
};

/* A session timer on one leg (RFC 4028): who refreshes, and when. */
struct b2b_se {
    unsigned secs;     /* the session interval; 0: no timer on this leg */
    bool we_refresh;   /* we send the refreshes (UPDATE), else the leg must */
    bool leg_supports; /* the leg said Supported: timer (then Require: timer in answers) */
    bool pending;      /* our refresh awaits its answer */
    uint64_t due_ms;   /* loop time of our next refresh, or of the leg's deadline */
    uint32_t cseq;
};

/* What a client request of a call is: client_id = call id << 16 | attempt << 8 |
 * fork << 4 | kind (attempt: which dial of the call, so that answers to an abandoned one
 * are told apart; fork: which of the contacts rung in parallel). */
enum b2b_kind {
    KIND_B_INVITE = 1,
    KIND_B_BYE = 2,
    KIND_A_BYE = 3,
    KIND_B_REINVITE = 4, /* a re-INVITE relayed to B (from A) */
    KIND_A_REINVITE = 5, /* a re-INVITE relayed to A (from B) */
    KIND_FORK_BYE = 6,   /* the BYE of a fork that answered after another one */
    KIND_B_MOVE = 7,     /* a re-INVITE to B moving its media to another mediad */
    KIND_A_MOVE = 8,     /* ... and to A */
    KIND_A_REFRESH = 9,  /* our UPDATE refreshing A's session timer */
    KIND_B_REFRESH = 10, /* ... B's */
};

/* One action of the call's route (routerd's RouteReply, copied). */
struct b2b_action {
    enum { ACT_DIAL, ACT_HANGUP, ACT_PLAY } type;
    char *aor, *uri; /* dial: look up aor, or call uri */
    char *file;      /* play_audio */
    unsigned timeout, status;
};

enum call_state {
    CALL_ROUTING,   /* waiting for routerd: the route, or a dial's location */
    CALL_CALLING,   /* B-leg INVITE sent */
    CALL_ANSWERED,  /* 2xx relayed to A, waiting for A's ACK */
    CALL_CONFIRMED, /* both dialogs up */
    CALL_ENDING,    /* BYE sent; waiting for its answer */
};

/* One contact rung by a dial: its own B dialog until one of them answers. */
struct b_fork {
    char *call_id, *from_tag, *target;
    uint64_t txn; /* sipd's client transaction of its INVITE, once it answered anything */
    bool done;    /* a final response came, or it was abandoned */
    bool cancel_sent;
};

struct call {
    b2bua_t *b2bua;
    uint64_t id;
    struct call *next_id, *next_a, *next_b;
    enum call_state state;
    bool a_cancelled, b_cancel_sent, a_answered, dial_timed_out;
    bool saved;       /* its record is in Redis */
    bool a_acked;     /* A acknowledged our 2xx */
    bool playing;     /* a play_audio runs: its end moves the call on */
    uint64_t re_txn;  /* a re-INVITE being relayed: its server transaction, 0 none */
    bool re_from_a;   /* ... and the leg it came from */
    uint32_t re_cseq; /* the CSeq of our re-INVITE to the other leg (for its ACK) */
    bool re_update;   /* it is an UPDATE (RFC 3311): relayed as one, no ACK */
    /* a blind transfer asked by B (REFER, RFC 3515): B's dialog until the target answers */
    bool transferring;
    bool transfer_from_a; /* ... asked by A: the legs were swapped for it (swap_legs) */
    char *old_b_call_id, *old_b_from_tag, *old_b_to_tag, *old_b_target;
    char *old_b_local_uri, *old_b_remote_uri;
    char *old_b_routes[B2B_MAX_ROUTES];
    size_t old_b_nroutes;
    uint32_t old_b_cseq;
    ipc_chan_t *re_ch;
    uint64_t media_session; /* mediad's session, 0: media not anchored (no SDP offer) */
    int media_instance;
    int media_avoid; /* a mediad that refused the create (-1 none): one more try */
    uint8_t *b_offer, *a_local_sdp, *a_answer_sdp; /* SDPs mediad wrote */
    size_t b_offer_len, a_local_sdp_len, a_answer_sdp_len;
    int64_t created_ms, answered_ms, ringing_ms;
    unsigned ringing_status; /* the first 18x relayed to A (call.ringing) */
    unsigned cancel_status;  /* apid hung up before the answer: A's final status */
    const char *end_cause;   /* why the call ended (call.ended), a static string */
    unsigned end_status;     /* ... and the final status A got when it never answered */
    bool quiet;              /* leaving with the process: no call.ended */
    struct b2b_move *move;   /* its media moving to another mediad (b2b_control.c) */
    struct b2b_se se[2];     /* session timers: [0] A leg, [1] B leg (b2b_timer.c) */
    bool se_counted;         /* counted in b2bua.se_calls */
    bool media_swapped;      /* mediad's side A faces the call's B leg (after a swap) */
    bool late_offer;         /* A's INVITE had no SDP: B offers in its 2xx */
    bool b_ack_pending;      /* ... and B's ACK waits for A's answer (in A's ACK) */
    uint8_t *b_ack_sdp;      /* ... the answer our ACK to B carried (for 2xx copies) */
    size_t b_ack_sdp_len;
    int pending_byes;
    uv_timer_t dial_timer; /* a dial's timeout; the call is freed in its close callback */
    struct b2b_action actions[B2B_MAX_ACTIONS];
    size_t nactions, next_action;
    unsigned attempt; /* dials started */
    struct b_fork forks[B2B_MAX_FORKS];
    unsigned nforks;
    int winner;            /* the fork that answered, -1 none yet */
    unsigned fork_failure; /* the most telling final status of the failed forks */
    unsigned last_failure; /* the status of the last failed action */
    char *destination;     /* the dialed user part, for gateway URIs and logs */
    /* A leg: we are its UAS */
    ipc_chan_t *a_ch; /* the sipd that passed the INVITE */
    uint64_t a_txn;   /* its INVITE transaction */
    char *a_call_id, *a_from_display, *a_from_uri, *a_from_tag, *a_to_uri, *a_to_tag;
    char *a_target;                 /* A's Contact */
    char *a_routes[B2B_MAX_ROUTES]; /* A's Record-Route, in order (RFC 3261 12.1.1) */
    size_t a_nroutes;
    uint32_t a_cseq; /* our requests to A */
    /* B leg: we are its UAC */
    char *b_call_id, *b_from_tag, *b_to_tag, *b_target, *b_to_uri;
    char *b_local_uri, *b_local_display; /* our From toward B (A's, until a swap) */
    char *b_routes[B2B_MAX_ROUTES];      /* B's Record-Route reversed (RFC 3261 12.1.2) */
    size_t b_nroutes;
    uint32_t b_cseq;
    uint64_t b_txn; /* sipd's client transaction of the B INVITE (for CANCEL) */
    char *content_type;
    uint8_t *body;
    size_t body_len; /* A's INVITE body, then A's latest SDP */
    uint8_t *b_sdp;  /* B's latest SDP (an answer or offer through mediad) */
    size_t b_sdp_len;
};

struct b2bua {
    worker_t *w;
    bool closing;
    int redis_pending; /* restore lookups Redis still owes an answer: freed after them */
    uint64_t next_id, salt;
    size_t ncalls;
    struct call *by_id[B2B_BUCKETS], *by_a[B2B_BUCKETS], *by_b[B2B_BUCKETS];
    struct b2b_migration *mig; /* apid's request to move calls off a mediad (b2b_control.c) */
    uv_timer_t *se_timer;      /* the session timers' sweep, while se_calls > 0 */
    bool se_timer_on;
    unsigned se_calls;
};

enum media_step {
    MW_CREATE,
    MW_EARLY,
    MW_ANSWER,
    MW_PLAY,
    MW_DESTROY,
    MW_REOFFER,
    MW_REANSWER,
    MW_LATE_OFFER,  /* the callee's offer in its 2xx (late offer), rewritten for A */
    MW_LATE_ANSWER, /* the caller's answer in its ACK, rewritten for B's ACK */
};

/* A request to routerd for a call: the call is looked up again when the answer comes. */
struct routerd_wait {
    b2bua_t *b;
    uint64_t call;
};

/* b2b_dial.c */
void b2b_ask_routerd(b2bua_t *b, struct call *c, Sb__Envelope *env, ipc_reply_cb cb,
                     uint32_t timeout_ms);
void b2b_b_invite_answered(b2bua_t *b, struct call *c, const Sb__SipResponseIn *in, unsigned k);
bool b2b_cancel_open_forks(b2bua_t *b, struct call *c);
/* A 2xx to one of our INVITEs that no call wants (its dial abandoned, its call over): ACK
 * and BYE on the dialog it made (RFC 3261 13.2.2.4 and 15). */
void b2b_hang_up_stray(b2bua_t *b, const Sb__SipMessage *m);
void b2b_dial(b2bua_t *b, struct call *c, const char *const *uris, unsigned n, unsigned timeout);
void b2b_on_invite(b2bua_t *b, ipc_chan_t *ch, const Sb__SipRequestIn *in);
void b2b_run_next(b2bua_t *b, struct call *c);
void b2b_uri_host(const char *uri, char *out, size_t cap);
void b2b_uri_user(const char *uri, char *out, size_t cap);
struct call *b2b_waited_call(void *arg);

/* b2b_media.c */
void b2b_media_create(b2bua_t *b, struct call *c);
void b2b_media_destroy(b2bua_t *b, struct call *c);
bool b2b_media_play(b2bua_t *b, struct call *c, const char *file);
bool b2b_media_update(b2bua_t *b, struct call *c, bool from_a, Sb__MediaSdpType type,
                      ProtobufCBinaryData sdp, bool confirmed, enum media_step step,
                      unsigned status);
bool b2b_media_update_b(b2bua_t *b, struct call *c, const Sb__SipMessage *m, bool final);
void b2b_on_media_event(b2bua_t *b, const Sb__MediaEvent *ev);
/* *dst becomes a copy of sdp (kept as it was when sdp is empty or memory is short). */
void b2b_keep_sdp(uint8_t **dst, size_t *dst_len, ProtobufCBinaryData sdp);
/* A create on ch got no answer in time: whatever session it makes later is destroyed
 * (MediaDestroyRequest by owner tag, which follows the create on the channel). */
void b2b_media_abandon(ipc_chan_t *ch, uint64_t call);
/* A late offer: the callee's SDP (in its 2xx) creates the session, A gets it rewritten. */
void b2b_media_create_late(b2bua_t *b, struct call *c, ProtobufCBinaryData offer);
/* The caller's ACK for a late offer: its answer (sdp, may be empty) goes to B's ACK. */
void b2b_late_answer(b2bua_t *b, struct call *c, ProtobufCBinaryData sdp);

/* b2b_midcall.c */
void b2b_old_b_forget(struct call *c);
void b2b_on_refer(b2bua_t *b, ipc_chan_t *ch, const Sb__SipRequestIn *in);
void b2b_on_reinvite(b2bua_t *b, ipc_chan_t *ch, const Sb__SipRequestIn *in);
void b2b_reinvite_answer_ready(b2bua_t *b, struct call *c, unsigned status, const uint8_t *sdp,
                               size_t len);
void b2b_reinvite_answered(b2bua_t *b, struct call *c, const Sb__SipResponseIn *in);
void b2b_reinvite_offer_ready(b2bua_t *b, struct call *c, const uint8_t *sdp, size_t len);
void b2b_send_old_b(b2bua_t *b, struct call *c, const char *method, const char *sipfrag,
                    bool terminated);
void b2b_transfer_done(b2bua_t *b, struct call *c);
void b2b_transfer_failed(b2bua_t *b, struct call *c, unsigned status);

/* b2b_restore.c */
void b2b_on_bye(b2bua_t *b, ipc_chan_t *ch, const Sb__SipRequestIn *in);

/* b2b_control.c */
/* Publishes a call event (call.started, call.ringing, call.answered, call.ended) on
 * sb:events for apid's event stream. */
void b2b_event(b2bua_t *b, struct call *c, const char *type);
/* DialogHangupRequest, DialogMigrateRequest: answered with a DialogReply. */
void b2b_on_hangup(b2bua_t *b, ipc_chan_t *ch, const Sb__Envelope *env);
void b2b_on_migrate(b2bua_t *b, ipc_chan_t *ch, const Sb__Envelope *env);
/* A response to a re-INVITE of a move (KIND_A_MOVE, KIND_B_MOVE). */
void b2b_move_answered(b2bua_t *b, struct call *c, const Sb__SipResponseIn *in, bool a_leg);
/* The call ends or goes: its move is abandoned (the new session destroyed). */
void b2b_move_abandon(b2bua_t *b, struct call *c);
/* The channel went away / the process leaves. */
void b2b_control_peer_closed(b2bua_t *b, ipc_chan_t *ch);
void b2b_control_free(b2bua_t *b);

/* b2b_timer.c: session timers (RFC 4028) */
/* A new call's INVITE: its session timer request (in *se), or false after answering it
 * 422 (an interval under session_min_se) or 400 (malformed). */
bool b2b_se_request(b2bua_t *b, ipc_chan_t *ch, const Sb__SipRequestIn *in, struct b2b_se *se);
/* Session-Expires (and Require: timer) for our 2xx to leg (0 A, 1 B): false when none. */
bool b2b_se_headers(const struct call *c, int leg, struct b2b_hdrs *hs);
/* Supported: timer, for our INVITEs to B. */
void b2b_se_offer_headers(struct b2b_hdrs *hs);
/* The leg's session is (re)established now: the timer runs from here. */
void b2b_se_start(b2bua_t *b, struct call *c, int leg);
/* B's 2xx to our INVITE: its Session-Expires, if any, sets B's timer. */
void b2b_se_from_answer(b2bua_t *b, struct call *c, const Sb__SipMessage *m);
/* The answer to our refresh UPDATE on leg (KIND_A_REFRESH, KIND_B_REFRESH). */
void b2b_se_refreshed(b2bua_t *b, struct call *c, int leg, unsigned status);
/* The call goes: it leaves the sweep. */
void b2b_se_forget(b2bua_t *b, struct call *c);
void b2b_se_free(b2bua_t *b);

/* b2bua.c */
void b2b_hdr_add(struct b2b_hdrs *hs, const char *name, const char *value);
bool b2b_send_leg(b2bua_t *b, struct call *c, bool a_leg, const char *method, uint32_t cseq,
                  enum b2b_kind kind, const uint8_t *body, size_t len, const struct b2b_hdrs *hs);
void b2b_respond_txn_hdrs(b2bua_t *b, ipc_chan_t *ch, uint64_t txn_id, unsigned status,
                          const uint8_t *body, size_t len, const struct b2b_hdrs *hs);
void b2b_bye_call(b2bua_t *b, struct call *c, bool a_leg, ipc_chan_t *ch, uint64_t txn_id);
void b2b_call_closed(uv_handle_t *h);
void b2b_call_free(b2bua_t *b, struct call *c);
char *b2b_dup_or_empty(const char *s);
void b2b_fail_call(b2bua_t *b, struct call *c, unsigned status, const char *reason);
struct call *b2b_find_call_id(b2bua_t *b, const char *call_id, bool *a_leg);
struct call *b2b_find_id(b2bua_t *b, uint64_t id);
void b2b_hang_up_both(b2bua_t *b, struct call *c, const char *why);
uint32_t b2b_hash_str(const char *s);
void b2b_random_hex(b2bua_t *b, char *out, size_t len);
void b2b_respond_a(b2bua_t *b, struct call *c, unsigned status, const char *reason,
                   const char *content_type, const uint8_t *body, size_t body_len);
void b2b_respond_txn(b2bua_t *b, ipc_chan_t *ch, uint64_t txn_id, unsigned status);
void b2b_respond_txn_body(b2bua_t *b, ipc_chan_t *ch, uint64_t txn_id, unsigned status,
                          const uint8_t *body, size_t len);
void b2b_save(b2bua_t *b, struct call *c);
/* One numeric field of the call's record (cheaper than b2b_save: a single HSET). */
void b2b_save_field(b2bua_t *b, struct call *c, const char *field, long long value);
bool b2b_send_a_body(b2bua_t *b, struct call *c, const char *method, uint32_t cseq,
                     enum b2b_kind kind, const uint8_t *body, size_t len);
bool b2b_send_b(b2bua_t *b, struct call *c, const char *method, uint32_t cseq, enum b2b_kind kind);
bool b2b_send_b_body(b2bua_t *b, struct call *c, const char *method, uint32_t cseq,
                     enum b2b_kind kind, const uint8_t *body, size_t len);
bool b2b_send_request_fork(b2bua_t *b, struct call *c, enum b2b_kind kind, unsigned fork,
                           Sb__SipMessage *msg);
bool b2b_send_request_via(b2bua_t *b, struct call *c, ipc_chan_t *via, enum b2b_kind kind,
                          unsigned fork, Sb__SipMessage *msg);
ipc_chan_t *b2b_sipd_for(b2bua_t *b, uint64_t txn_id);
void b2b_unlink_from(struct call **head, struct call *c, size_t off);
/* c into the table by its A (B) Call-ID; b2b_link_b does nothing without a B Call-ID. */
void b2b_link_a(b2bua_t *b, struct call *c);
void b2b_link_b(b2bua_t *b, struct call *c);
/* The B dialog's identity (Call-ID, tags, target, route set) freed and unlinked. */
void b2b_b_dialog_clear(b2bua_t *b, struct call *c);
/* The contacts of a LocationReply (at most B2B_MAX_FORKS; none unless status 200). */
unsigned b2b_located(const Sb__LocationReply *lr, const char **uris);
int64_t b2b_wall_ms(void);

#endif
