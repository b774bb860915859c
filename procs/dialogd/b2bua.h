/*
 * NAME
 *   b2bua - dialogd's calls: an A-leg INVITE becomes a B-leg INVITE to the callee's
 *   registered contact, and the two dialogs are kept in step until one side hangs up.
 * DESCRIPTION
 *   An A-leg INVITE is routed by routerd's dialplan (RouteRequest) and its actions run in
 *   order: dial (user/NAME: every registered contact rung in parallel, first 2xx wins,
 *   the others CANCELled; sip: and gateway/ URIs directly), play_audio (answered here,
 *   the prompt played by mediad), hangup (a final status); a failed dial goes on with the
 *   next action. The B leg has its own Call-ID (sbd<instance>.<random>), tags, CSeq and
 *   Contact; an SDP offer is anchored in mediad (least-loaded instance) before anything
 *   rings. 18x are relayed as they come (early media through mediad), A is answered when
 *   B answers. CANCEL, BYE from either side, no ACK (64*T1), mediad's media timeout end
 *   both legs. Mid-call re-INVITE and UPDATE are relayed through mediad (491 on glare);
 *   REFER from B transfers the call. The dialog is written to Redis at each state change
 *   (docs/calls.md) and a BYE for a call this process does not hold brings it back from
 *   there. apid's requests hang a call up or move calls off a drained mediad; call
 *   events are published on sb:events. Never parses SIP: sipd hands structured messages
 *   (proto/dialog.proto). The parts are described in b2b.h.
 * OWNERSHIP
 *   The b2bua owns its calls; each call's strings are copies freed with the call.
 *   Channels are borrowed from the worker and forgotten in b2bua_peer_closed.
 * LOOP
 *   dialogd's loop; routerd's and sipd's answers arrive as IPC events on it.
 * ERRORS
 *   Every failure is an answer on the wire (404, 408, 480, 500, 503) and a log line at
 *   most once per second per cause; none leaves a call behind.
 */
#ifndef SB_DIALOGD_B2BUA_H
#define SB_DIALOGD_B2BUA_H

#include <stdbool.h>
#include <stddef.h>

#include "worker.h"

typedef struct b2bua b2bua_t;

/* A b2bua for worker w; NULL when out of memory. */
b2bua_t *b2bua_new(worker_t *w);
/* An envelope from sipd (SipRequestIn, SipResponseIn, SipTxnEvent), mediad (MediaEvent)
 * or apid (DialogHangupRequest, DialogMigrateRequest): true when handled. */
bool b2bua_on_envelope(b2bua_t *b, ipc_chan_t *ch, Sb__Envelope *env);
void b2bua_peer_closed(b2bua_t *b, ipc_chan_t *ch);
/* Calls in progress (drain). */
size_t b2bua_calls(const b2bua_t *b);
void b2bua_free(b2bua_t *b);

#endif
