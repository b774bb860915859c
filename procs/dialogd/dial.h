/*
 * NAME
 *   dial - a new call's route and its dials: routerd's dialplan (RouteRequest) and its
 *   actions run in order, each dial ringing the callee's contacts in parallel.
 * DESCRIPTION
 *   An A-leg INVITE becomes a call (dial_on_invite): routerd's route gives its actions;
 *   an SDP offer is anchored in mediad before anything rings (RFC 3264). dial: user/NAME
 *   rings every registered contact (the route may carry the first dial's contacts; later
 *   ones are looked up), sip: and gateway/ URIs directly; each contact is a fork with its
 *   own B dialog (Call-ID sbd<instance>.<random>), the first 2xx wins, the others are
 *   cancelled, a late 2xx is acknowledged and hung up. play_audio answers A here and plays
 *   a prompt; hangup answers A with its status; a failed dial goes on with the next
 *   action, and the caller hears the last failure when none is left. 18x are relayed (an
 *   SDP in one is early media through mediad); A is answered when B answers (a late
 *   offer: B's offer goes to A in our 2xx and A's answer, in its ACK, to B in ours).
 *   A dial reports its outcome to its dial_ops (the dialplan's, or a transfer's: mid.h).
 *   The dispatch table calls the dial_b_* handlers with the B leg's answers by state.
 * OWNERSHIP
 *   The call owns what a route and a dial leave in it.
 * LOOP
 *   dialogd's loop; routerd's and mediad's answers come as continuations.
 * ERRORS
 *   Each failure is an answer to A (404, 480, 488, 500, 503) and the call's end.
 */
#ifndef SB_DIALOGD_DIAL_H
#define SB_DIALOGD_DIAL_H

#include "call.h"

#define DIAL_ROUTE_TIMEOUT_MS 2000
#define DIAL_LOCATION_TIMEOUT_MS 2000

/* A new INVITE (no To tag, no call of its Call-ID). */
void dial_on_invite(b2b_t *b, ipc_chan_t *ch, const Sb__SipRequestIn *in);
/* The B-leg INVITEs to uris (at most CALL_MAX_FORKS; hops[i], when hops is not NULL,
 * says where uris[i] registered from: dlg.h), timeout seconds; ops hears how it
 * ends; the call is in ops->state while they ring. */
void dial_start(b2b_t *b, struct call *c, const char *const *uris,
                const Sb__SipPeer *const *hops, unsigned n, unsigned timeout,
                const struct dial_ops *ops);
/* A lookup of aor in routerd, then dial_start (ops->failed with 404 or 503 when it finds
 * nothing). */
void dial_locate(b2b_t *b, struct call *c, const char *aor, unsigned timeout,
                 const struct dial_ops *ops);
/* The caller (or apid, with status) gives up before the answer. */
void dial_cancel(b2b_t *b, struct call *c, unsigned status);

/* The B leg's answers to a dial's INVITE (fork k), by the call's state. */
void dial_b_provisional(b2b_t *b, struct call *c, const Sb__SipResponseIn *in, unsigned k);
void dial_b_provisional_late(b2b_t *b, struct call *c, const Sb__SipResponseIn *in, unsigned k);
void dial_b_answered(b2b_t *b, struct call *c, const Sb__SipResponseIn *in, unsigned k);
void dial_b_answered_again(b2b_t *b, struct call *c, const Sb__SipResponseIn *in, unsigned k);
void dial_b_failed(b2b_t *b, struct call *c, const Sb__SipResponseIn *in, unsigned k);
void dial_b_failed_late(b2b_t *b, struct call *c, const Sb__SipResponseIn *in, unsigned k);
/* A's ACK to our 2xx (LATE_ACK: it carries the answer to B's offer). */
void dial_a_acked(b2b_t *b, struct call *c, const Sb__SipRequestIn *in);

#endif
