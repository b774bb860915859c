/*
 * NAME
 *   anchor - a call's media anchored in mediad: a session created from an offer, updated
 *   with each SDP, a prompt played, the session destroyed; mediad's events.
 * DESCRIPTION
 *   Every request carries the function that continues the call with mediad's answer
 *   (anchor_done_fn), so the answer comes back to the code that asked. A create goes to
 *   the least loaded mediad; one that cannot serve it (no ports or descriptors, draining,
 *   no answer) is tried once more on another instance before the continuation hears the
 *   failure, and a create that timed out has whatever session it makes later destroyed
 *   (MediaDestroyRequest by owner tag). mediad's sides are the call's legs, crossed after
 *   the caller transferred (media_swapped). Each leg's latest SDP is kept in the leg
 *   (a move to another mediad starts from them). The session goes with the call (a
 *   teardown registered by anchor_init). A media timeout or a lost session ends an
 *   established call; a prompt's end runs the call's play_done.
 * OWNERSHIP
 *   The reply passed to a continuation is mediad's envelope: valid during the call.
 * LOOP
 *   dialogd's loop.
 * ERRORS
 *   Requests return false when no mediad is connected or the channel refused (the
 *   continuation is then not called).
 */
#ifndef SB_DIALOGD_ANCHOR_H
#define SB_DIALOGD_ANCHOR_H

#include "call.h"
#include "proto/media.pb-c.h"

#define ANCHOR_TIMEOUT_MS 2000

/* mediad's answer (NULL: none in time) to a request of call c; status: what the caller
 * gave with the request (an 18x to relay). */
typedef void (*anchor_done_fn)(b2b_t *b, struct call *c, const Sb__MediaReply *rep,
                               unsigned status);

void anchor_init(b2b_t *b);
/* Whether rep is an OK answer. */
bool anchor_ok(const Sb__MediaReply *rep);
#define ANCHOR_TAG_LEN 24 /* a call's owner tag: its id in decimal */

/* Whether the callee side of c is reached over TLS: the first dial's target is sips: or
 * ;transport=tls, or every contact it rings registered over TLS. */
bool anchor_b_leg_tls(const struct call *c);
/* rq: a MediaCreateRequest of c with leg offer_leg's SDP as the offer, owned by the call's
 * tag (written into tag, which rq points to). With A's offer and a callee side not over
 * TLS (anchor_b_leg_tls), srtp_b forces RTP/AVP: SDES keys (a=crypto) never go out on a
 * leg in clear. */
void anchor_create_fill(const struct call *c, int offer_leg, Sb__MediaCreateRequest *rq,
                        char tag[static ANCHOR_TAG_LEN]);
/* rq's nat_ip and signal_ip: where leg from's media comes from (strings of c). */
void anchor_update_peer(const struct call *c, int from, Sb__MediaUpdateRequest *rq);
/* A session from leg offer_leg's offer (its leg's sdp). */
bool anchor_create(b2b_t *b, struct call *c, int offer_leg, anchor_done_fn done);
/* An SDP of leg from (kept as its latest) to mediad; done gets it rewritten for the
 * other leg. */
bool anchor_update(b2b_t *b, struct call *c, int from, Sb__MediaSdpType type,
                   ProtobufCBinaryData sdp, bool confirmed, anchor_done_fn done, unsigned status);
/* A prompt to the caller; c->play_done runs when it ends (or fails). */
bool anchor_play(b2b_t *b, struct call *c, const char *file);
/* The session goes (fire and forget). */
void anchor_destroy(b2b_t *b, struct call *c);
/* A create on ch got no answer in time: whatever session it makes for call is destroyed. */
void anchor_abandon(ipc_chan_t *ch, uint64_t call);
void anchor_on_event(b2b_t *b, const Sb__MediaEvent *ev);

#endif
