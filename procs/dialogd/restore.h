/*
 * NAME
 *   restore - a call brought back from its Redis record: a BYE for a call this dialogd
 *   does not hold (it restarted, or another instance had it).
 * DESCRIPTION
 *   The record is found by the BYE's Call-ID: an A-leg one directly (sb:dlg:{A}), a B-leg
 *   one (sbd<instance>.<random>) through sb:dlgb:{B}. Only an answered call comes back
 *   (one still ringing was lost with the dialogd that rang it); then the BYE is served as
 *   if the call had never left (end_bye). 481 when no record exists, 503 when Redis
 *   cannot be asked.
 * OWNERSHIP
 *   A lookup in flight belongs to Redis's callback; when the b2b is closing the last
 *   answer frees it (restore_pending).
 * LOOP
 *   dialogd's loop; hiredis's callbacks.
 * ERRORS
 *   Every BYE is answered: 200, 481 or 503.
 */
#ifndef SB_DIALOGD_RESTORE_H
#define SB_DIALOGD_RESTORE_H

#include "call.h"

/* A BYE (transaction txn on ch) for call_id, which no call here holds. */
void restore_bye(b2b_t *b, ipc_chan_t *ch, uint64_t txn, const char *call_id);

#endif
