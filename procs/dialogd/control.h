/*
 * NAME
 *   control - apid's requests: hang a call up, move calls off a mediad being drained.
 * DESCRIPTION
 *   DialogHangupRequest ends a call (BYE both when answered; before the answer like the
 *   caller's CANCEL, A hearing the status asked, 480 by default). DialogMigrateRequest
 *   moves every established call of one mediad to another (MOVING): a new session there
 *   from A's and B's latest SDPs, B re-INVITEd to it, then A; the old session goes when
 *   both moved. A call that cannot move stays where it is (or, when the drain is
 *   aggressive or B moved already, ends). The answer counts the calls moved, failed,
 *   waiting for a prompt to end and still in progress; apid asks again until none is.
 * OWNERSHIP
 *   The migration (one per dialogd) and each call's move are this module's; a call's move
 *   goes with it (a teardown registered by control_init); control_fini frees the rest.
 * LOOP
 *   dialogd's loop.
 * ERRORS
 *   Every request is answered (DialogReply: 200, 404 no such call, 503 busy).
 */
#ifndef SB_DIALOGD_CONTROL_H
#define SB_DIALOGD_CONTROL_H

#include "call.h"

void control_init(b2b_t *b);
void control_fini(b2b_t *b);
void control_on_hangup(b2b_t *b, ipc_chan_t *ch, const Sb__Envelope *env);
void control_on_migrate(b2b_t *b, ipc_chan_t *ch, const Sb__Envelope *env);
/* A leg's answer to a move's re-INVITE. */
void control_move_answered(b2b_t *b, struct call *c, const Sb__SipResponseIn *in, int leg);
/* The channel to apid went away. */
void control_peer_closed(b2b_t *b, ipc_chan_t *ch);

#endif
