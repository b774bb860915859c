/*
 * NAME
 *   b2bua - dialogd's calls: an A-leg INVITE becomes a B-leg INVITE to the callee's
 *   registered contact, and the two dialogs are kept in step until one side hangs up.
 * DESCRIPTION
 *   First slice of the calls issue: the Request-URI's AOR (sip:user@host) is looked up
 *   with routerd (LocationRequest) -> 404 when not registered, 503 when routerd or Redis
 *   cannot answer; else the best contact gets an INVITE with its own Call-ID
 *   (sbd<instance>.<random>), tags and CSeq, our Contact and A's body. 18x are relayed to
 *   A as they come, B's final error goes to A with the same code, a 2xx is acknowledged
 *   to B and relayed to A (its ACK expected within 64*T1, sipd reports otherwise: then
 *   BYE both). CANCEL from A cancels B (A then gets 487). BYE from either side is
 *   answered 200 and sent to the other side. Not yet: the dialplan, mediad (bodies pass
 *   unchanged), parallel forking, re-INVITE/UPDATE/REFER, state in Redis.
 *   Never parses SIP: sipd hands structured messages (proto/dialog.proto).
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
/* An envelope from sipd (SipRequestIn, SipResponseIn, SipTxnEvent): true when handled. */
bool b2bua_on_envelope(b2bua_t *b, ipc_chan_t *ch, Sb__Envelope *env);
void b2bua_peer_closed(b2bua_t *b, ipc_chan_t *ch);
/* Calls in progress (drain). */
size_t b2bua_calls(const b2bua_t *b);
void b2bua_free(b2bua_t *b);

#endif
