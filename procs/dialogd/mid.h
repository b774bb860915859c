/*
 * NAME
 *   mid - mid-call requests: a re-INVITE or UPDATE relayed between the legs, and REFER
 *   (a blind transfer, RFC 3515) from either leg.
 * DESCRIPTION
 *   A re-INVITE or UPDATE (hold, resume, new codec, new address) from one leg has its
 *   offer rewritten by mediad and sent to the other leg in a request of our own; that
 *   leg's answer comes back the same way (REINVITING: another meanwhile gets 491, RFC 3261
 *   14.2). A 2xx to a leg's request re-arms its session timer (RFC 4028 9).
 *   REFER: 202 and NOTIFY 100 to the referrer, whose leg is held (TRANSFERRING) while the
 *   Refer-To target's contacts ring (To: the Refer-To URI, From: what the referrer saw as
 *   ours); the referrer hears the outcome in a NOTIFY and, when the target answered, our
 *   BYE; when it fails, the held leg comes back. A REFER from the caller swaps the legs
 *   first (mid_swap_legs: mediad's sides are crossed, the record moves to the new A
 *   Call-ID), so one transfer path serves both sides.
 * OWNERSHIP
 *   The call owns the held leg; it is freed when the transfer ends or the call does.
 * LOOP
 *   dialogd's loop.
 * ERRORS
 *   400 for a REFER without a usable Refer-To, 491 when the call is not in a state to take
 *   it (dispatch), 503 when mediad or sipd cannot be reached.
 */
#ifndef SB_DIALOGD_MID_H
#define SB_DIALOGD_MID_H

#include "call.h"

#define MID_TRANSFER_TIMEOUT_S 30 /* how long a REFER's target may ring */

/* A re-INVITE or UPDATE from leg n (CONFIRMED). */
void mid_reinvite(b2b_t *b, struct call *c, int n, ipc_chan_t *ch, const Sb__SipRequestIn *in);
/* The other leg's answer to the relayed request. */
void mid_reinvite_answered(b2b_t *b, struct call *c, const Sb__SipResponseIn *in);
/* A REFER from leg n (CONFIRMED). */
void mid_refer(b2b_t *b, struct call *c, int n, ipc_chan_t *ch, const Sb__SipRequestIn *in);
/* A BYE on the held leg of a transfer: 200, and the leg is let go. */
void mid_held_bye(b2b_t *b, struct call *c, ipc_chan_t *ch, uint64_t txn);
/* The legs change places: the callee's dialog becomes the A leg. */
void mid_swap_legs(b2b_t *b, struct call *c);

#endif
