/*
 * NAME
 *   end - how a call ends: a final error to the caller, BYE to both legs, a BYE from one
 *   leg relayed to the other, CANCEL of the forks still ringing.
 * DESCRIPTION
 *   end_fail answers A's INVITE with an error and frees the call (or hangs up both legs
 *   when A was answered already, by a prompt). end_hang_up cancels the forks still
 *   ringing, sends BYE to every leg that is up (and to a transfer's held leg) and frees
 *   the call when the last BYE is answered (end_bye_answered). end_bye serves a BYE from
 *   one leg: 200 to it, BYE to the other. The forks' CANCEL (RFC 3261 9.1): a fork that
 *   has answered nothing yet cannot be cancelled and is given up (its first provisional
 *   response brings the CANCEL, its late 2xx is hung up).
 * OWNERSHIP
 *   May free the call: callers do not touch it after end_fail, end_hang_up or end_bye
 *   unless the state says it still lives (not ENDING with nothing pending).
 * LOOP
 *   dialogd's loop.
 * ERRORS
 *   None returned: what cannot be sent is logged by sipout and the call ends anyway.
 */
#ifndef SB_DIALOGD_END_H
#define SB_DIALOGD_END_H

#include "call.h"

/* CANCEL fork k's INVITE once it answered something; false when it has not yet. */
bool end_cancel_fork(b2b_t *b, struct call *c, unsigned k);
/* Cancels every fork still open (the winner aside); true when a final response is still
 * owed by some. */
bool end_cancel_forks(b2b_t *b, struct call *c);
/* The held leg of a transfer (BYE, if bye) is let go. */
void end_held_forget(b2b_t *b, struct call *c, bool bye);
/* A's INVITE gets status (reason may be NULL) and the call goes; a call A answered
 * already is hung up instead. */
void end_fail(b2b_t *b, struct call *c, unsigned status, const char *reason);
/* BYE both legs (CANCEL the ringing ones); the call goes when they answer. */
void end_hang_up(b2b_t *b, struct call *c, const char *why);
/* A BYE from leg n (transaction txn on ch): 200, BYE to the other leg; 481 when leg n is
 * not up. */
void end_bye(b2b_t *b, struct call *c, int n, ipc_chan_t *ch, uint64_t txn);
/* A final answer to one of the BYEs: the call goes after the last. */
void end_bye_answered(b2b_t *b, struct call *c, unsigned status);

#endif
