/*
 * NAME
 *   sipout - what dialogd says to sipd: requests in a leg's dialog, responses to a
 *   transaction, CANCEL.
 * DESCRIPTION
 *   dialogd never writes SIP: it fills a SipMessage and sipd builds the bytes, adds its
 *   Via and Contact (sb@its address) and runs the transaction. A request carries a
 *   client_id that brings its answers back to the call, the leg and the kind of request
 *   (sipout_client_id); a response goes to the sipd instance that owns the transaction
 *   (the instance is the transaction id's top bits) or to the channel given.
 * OWNERSHIP
 *   Messages and header sets are the caller's; nothing is kept.
 * LOOP
 *   dialogd's loop.
 * ERRORS
 *   Senders return false when no sipd is connected or the channel refused; the caller
 *   decides what that costs the call.
 */
#ifndef SB_DIALOGD_SIPOUT_H
#define SB_DIALOGD_SIPOUT_H

#include "call.h"

/* Extra header fields of a message we send (their strings borrowed or in buf). */
#define SIPOUT_MAX_HDRS 4
struct sipout_hdrs {
    Sb__SipHeader h[SIPOUT_MAX_HDRS];
    Sb__SipHeader *p[SIPOUT_MAX_HDRS];
    size_t n;
    char buf[160];
    const char *content_type; /* of a request's body: an SDP when NULL */
    int max_forwards;         /* a request's Max-Forwards when max_forwards_set, else 70 */
    bool max_forwards_set;
};

/* What a client_id says: the call, the dial attempt, the fork, the leg and the kind. */
struct sipout_id {
    uint64_t call;
    unsigned attempt, fork;
    int leg;
    enum call_kind kind;
};

void sipout_hdr_add(struct sipout_hdrs *hs, const char *name, const char *value);
uint64_t sipout_client_id(const struct call *c, unsigned fork, int leg, enum call_kind kind);
struct sipout_id sipout_parse_id(uint64_t client_id);
/* The sipd that owns transaction txn, or NULL. */
ipc_chan_t *sipout_sipd_for(b2b_t *b, uint64_t txn);

/* msg as a request of call c (kind, fork, leg) on via, or on the sipd c and fork hash to. */
bool sipout_send(b2b_t *b, struct call *c, ipc_chan_t *via, unsigned fork, int leg,
                 enum call_kind kind, Sb__SipMessage *msg);
/* A request in d's dialog (a leg of c, or its held leg) with a body when len > 0 (of
 * hs->content_type, an SDP when none). */
bool sipout_request_dlg(b2b_t *b, struct call *c, const struct dlg *d, ipc_chan_t *via, int leg,
                        const char *method, uint32_t cseq, enum call_kind kind, const uint8_t *body,
                        size_t len, const struct sipout_hdrs *hs);
/* A request in leg n's dialog, on the sipd of the winning fork. */
bool sipout_request(b2b_t *b, struct call *c, int n, const char *method, uint32_t cseq,
                    enum call_kind kind, const uint8_t *body, size_t len,
                    const struct sipout_hdrs *hs);
/* A response to transaction txn on ch (NULL: its owner): an SDP body when len > 0. */
void sipout_respond(b2b_t *b, ipc_chan_t *ch, uint64_t txn, unsigned status, const uint8_t *body,
                    size_t len, const struct sipout_hdrs *hs);
/* A's INVITE answered (reason, content type and body as given; hs may be NULL); nothing
 * once A has its final response. True when sent. */
bool sipout_respond_a(b2b_t *b, struct call *c, unsigned status, const char *reason,
                      const char *content_type, const uint8_t *body, size_t len,
                      const struct sipout_hdrs *hs);
/* CANCEL of client transaction txn (RFC 3261 9.1): false when it cannot go. */
bool sipout_cancel(b2b_t *b, uint64_t txn);
/* A 2xx to one of our INVITEs that no call wants (its dial abandoned, its call over): ACK
 * and BYE on the dialog it made (RFC 3261 13.2.2.4 and 15). */
void sipout_hang_up_stray(b2b_t *b, const Sb__SipMessage *m);

#endif
