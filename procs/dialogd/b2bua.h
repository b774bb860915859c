/*
 * NAME
 *   b2bua - dialogd's calls: an A-leg INVITE becomes a B-leg INVITE to the callee's
 *   registered contact, and the two dialogs are kept in step until one side hangs up.
 * DESCRIPTION
 *   The top of dialogd's layers. Each envelope from sipd (SipRequestIn, SipResponseIn,
 *   SipTxnEvent), mediad (MediaEvent) or apid (DialogHangupRequest,
 *   DialogMigrateRequest) becomes an event of a call, and one (state x event) table picks
 *   its handler in the layers below (docs/calls.md describes the flows):
 *     call.h     a call: two legs (dlg.h), its state, the table of calls, requests that
 *                carry their continuation; record.h its record in Redis; sipout.h what
 *                is said to sipd; end.h how a call ends;
 *     setimer.h  session timers; anchor.h mediad; call_events.h the call events;
 *     dial.h     routing and dials; mid.h re-INVITE, UPDATE, REFER; control.h apid's
 *                requests; restore.h a call brought back from Redis.
 *   Never parses SIP: sipd hands structured messages with the fields dialogd needs
 *   (proto/dialog.proto).
 * OWNERSHIP
 *   The b2bua owns its calls; channels are borrowed from the worker and forgotten in
 *   b2bua_peer_closed.
 * LOOP
 *   dialogd's loop; routerd's, mediad's and sipd's answers arrive as IPC events on it.
 * ERRORS
 *   Every failure is an answer on the wire (404, 408, 480, 481, 488, 491, 500, 503) and a
 *   log line at most once per second per cause; none leaves a call behind.
 */
#ifndef SB_DIALOGD_B2BUA_H
#define SB_DIALOGD_B2BUA_H

#include <stdbool.h>
#include <stddef.h>

#include "call.h"
#include "worker.h"

typedef struct b2bua b2bua_t;

/* A b2bua for worker w; NULL when out of memory. */
b2bua_t *b2bua_new(worker_t *w);
/* An envelope from sipd, mediad or apid: true when handled. */
bool b2bua_on_envelope(b2bua_t *bu, ipc_chan_t *ch, Sb__Envelope *env);
void b2bua_peer_closed(b2bua_t *bu, ipc_chan_t *ch);
/* The calls leave quietly (their records and media stay for another dialogd). */
void b2bua_free(b2bua_t *bu);

/* The same over any io (the unit tests' fakes): the b2b with its features started, and
 * its end. */
b2b_t *b2bua_start(uv_loop_t *loop, const struct b2b_io *io, struct shm_proc *slot,
                   struct shm_stats *stats, int instance);
void b2bua_stop(b2b_t *b);
/* An envelope for b (as b2bua_on_envelope). */
bool b2bua_dispatch(b2b_t *b, ipc_chan_t *ch, Sb__Envelope *env);
void b2bua_forget_channel(b2b_t *b, ipc_chan_t *ch);

#endif
