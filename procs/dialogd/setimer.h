/*
 * NAME
 *   setimer - session timers (RFC 4028) on each leg of a call.
 * DESCRIPTION
 *   A leg asks for a timer: the caller with Session-Expires in its INVITE, the callee with
 *   Session-Expires in its 2xx (our INVITEs say Supported: timer). Each leg's timer is its
 *   own (struct dlg_timer in the leg, so it follows the leg when the legs swap): the
 *   refresher named in the negotiation either refreshes (a re-INVITE or UPDATE, relayed
 *   to the other leg as usual, which re-arms the timer when we answer it 2xx) or, when we
 *   are the refresher, gets an UPDATE from us every half interval. A leg that lets its
 *   session expire, or refuses our refresh, ends the call (BYE both, cause
 *   session_expired). One sweep timer per dialogd checks the calls that have a timer.
 * OWNERSHIP
 *   The sweep's handle is the b2b's (setimer_fini closes it); a call leaves the sweep in its
 *   teardown.
 * LOOP
 *   dialogd's loop.
 * ERRORS
 *   setimer_request answers 422 (interval under session_min_se) or 400 itself and returns
 *   false.
 */
#ifndef SB_DIALOGD_SETIMER_H
#define SB_DIALOGD_SETIMER_H

#include "call.h"
#include "sipout.h"

void setimer_init(b2b_t *b);
void setimer_fini(b2b_t *b);
/* A new call's INVITE: its session timer request (in *t), or false after answering it
 * 422 or 400. */
bool setimer_request(b2b_t *b, ipc_chan_t *ch, const Sb__SipRequestIn *in, struct dlg_timer *t);
/* Session-Expires (and Require: timer) for our 2xx to leg n: false when it has none. */
bool setimer_answer_headers(const struct call *c, int n, struct sipout_hdrs *hs);
/* Supported: timer, for our INVITEs to B. */
void setimer_offer_headers(struct sipout_hdrs *hs);
/* Leg n's session is (re)established now: its timer runs from here. */
void setimer_start(b2b_t *b, struct call *c, int n);
/* B's 2xx to our INVITE: its Session-Expires, if any, sets B's timer. */
void setimer_from_answer(b2b_t *b, struct call *c, const Sb__SipMessage *m);
/* The answer to our refresh UPDATE on leg n. */
void setimer_refreshed(b2b_t *b, struct call *c, int n, unsigned status);

#endif
