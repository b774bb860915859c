/*
 * NAME
 *   restore - a call brought back from its Redis record: an in-dialog request (BYE,
 *   re-INVITE, UPDATE, INFO, REFER) for a call this dialogd does not hold (it restarted,
 *   or another instance had it).
 * DESCRIPTION
 *   The record is found by the request's Call-ID: an A-leg one directly (sb:dlg:{A}), a
 *   B-leg one (sbd<instance>.<random>) through sb:dlgb:{B}. Only an answered call comes
 *   back (one still ringing was lost with the dialogd that rang it); then the request is
 *   handed to the caller's handler again, as if the call had never left. 481 when no
 *   record exists, 503 when Redis cannot be asked.
 * OWNERSHIP
 *   The request is copied (packed) while the lookup runs; a lookup in flight belongs to
 *   Redis's callback; when the b2b is closing the last answer frees it (restore_pending).
 * LOOP
 *   dialogd's loop; hiredis's callbacks.
 * ERRORS
 *   Every request is answered: by the handler once the call is back, else 481 or 503.
 */
#ifndef SB_DIALOGD_RESTORE_H
#define SB_DIALOGD_RESTORE_H

#include "call.h"

/* What handles the request once its call is back (ch NULL: answer by transaction). */
typedef void restore_handler(b2b_t *b, ipc_chan_t *ch, const Sb__SipRequestIn *in);

/* An in-dialog request (on ch) whose Call-ID no call here holds: again(b, NULL, copy)
 * once its call is restored; 481 or 503 when it cannot be. */
void restore_request(b2b_t *b, ipc_chan_t *ch, const Sb__SipRequestIn *in,
                     restore_handler *again);

#endif
