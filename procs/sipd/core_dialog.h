/*
 * NAME
 *   core_dialog - the dialog relay between sipd and dialogd (proto/dialog.proto).
 * DESCRIPTION
 *   Requests for the B2BUA (INVITE, BYE, UPDATE, REFER, the ACK of a 2xx, CANCEL) go to
 *   the dialogd of their Call-ID as SipRequestIn; responses to dialogd's requests go back
 *   as SipResponseIn once their client transaction has them (a non-2xx acknowledged by
 *   the transaction, RFC 3261 17.1.1.3); dialogd's SipRespond answers a server
 *   transaction, its SipSendRequest becomes a client transaction (or an ACK sent as is),
 *   its SipCancel a CANCEL once a provisional response came (RFC 3261 9.1).
 *   Above core_reply and core_local; below core.c.
 * OWNERSHIP
 *   Envelopes are built on the stack and the core's buffers, sent before returning.
 * LOOP
 *   sipd's loop.
 * ERRORS
 *   What dialogd cannot be told is answered (503, 481, 487) or logged; an unusable
 *   request from dialogd gets a local SipResponseIn (400, 500, 503).
 */
#ifndef SB_SIPD_CORE_DIALOG_H
#define SB_SIPD_CORE_DIALOG_H

#include "core_int.h"

/* The dialogd of a Call-ID (the instance named in dialogd's own B-leg Call-IDs, else a
 * hash of it); NULL when none is connected. */
ipc_chan_t *core_dialog_for(struct core *c, struct sipmsg_str call_id);
/* A response sipd made for dialogd's request client_id (timeout, no route). */
void core_dialog_local_response(struct core *c, ipc_chan_t *ch, uint64_t client_id, uint64_t txn_id,
                                int status, const char *reason, const char *method,
                                const char *call_id, uint32_t cseq);
void core_dialog_respond(struct core *c, const Sb__SipRespond *rs);
void core_dialog_cancel(struct core *c, const Sb__SipCancel *sc);
void core_dialog_send(struct core *c, ipc_chan_t *ch, const Sb__SipSendRequest *sr);
/* Whether a response from src may be t's: the same transport, and on UDP the address
 * the request was sent to (a TCP one: from that host). */
bool core_dialog_response_from_peer(const struct txn *t, const struct sipdest *src);
/* A response off the wire (buf, len as received): to its owner instance, then its client
 * transaction and dialogd; dropped when it matches no client transaction of ours or comes
 * from elsewhere (core_dialog_response_from_peer). */
void core_dialog_response_in(struct core *c, const struct core_msg *cm, const char *buf,
                             size_t len);
/* The INVITE server transaction a CANCEL or ACK m belongs to whose top Via's sent-by
 * differs from the INVITE's (a phone behind NAT that learned its public address from
 * rport since): the same branch, Call-ID, From tag and CSeq number, from the same source
 * address and port on the same transport. NULL when there is none: a CANCEL from
 * elsewhere cancels nothing. */
struct txn *core_dialog_invite_of_flow(struct core *c, const sipmsg_t *m,
                                       const struct sipdest *src);
/* A CANCEL (RFC 3261 9.2), in a transaction of its own (key); its INVITE is found by
 * RFC 3261 17.2.3 or by core_dialog_invite_of_flow. */
void core_dialog_cancel_in(struct core *c, struct core_msg *cm, const char *key, size_t key_len);
/* The ACK of a 2xx (RFC 3261 13.2.2.4). */
void core_dialog_ack_in(struct core *c, const sipmsg_t *m, const struct sipdest *src);
/* A request for dialogd in transaction t; false when no dialogd took it. auth_user: the
 * subscriber digest authentication proved (core_auth), NULL none; whether src is a
 * trusted peer is said too (SipRequestIn source_trusted). */
bool core_dialog_request_in(struct core *c, const sipmsg_t *m, const struct sipdest *src,
                            struct txn *t, const char *auth_user);

#endif
