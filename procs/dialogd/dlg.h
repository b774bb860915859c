/*
 * NAME
 *   dlg - one leg of a call: a SIP dialog's state as RFC 3261 section 12 names it.
 * DESCRIPTION
 *   A call holds two of these (leg[LEG_A], leg[LEG_B]) and, while a transfer is under way,
 *   a third set aside. Each keeps its Call-ID, local and remote tag, URI and display name,
 *   the remote target, the route set in the order requests use it (RFC 3261 12.1.1 for a
 *   UAS, reversed Record-Route for a UAC, 12.1.2), our next CSeq, our role, the server or
 *   client transaction of its INVITE, the latest SDP each way and its session timer
 *   (RFC 4028). Every request we send in a leg takes From, To, Call-ID, Request-URI and
 *   Route from here whatever the role, so swapping the legs of a call (a transfer by the
 *   caller) is swapping two structs.
 * OWNERSHIP
 *   A dlg owns its strings and SDPs (malloc'd); dlg_clear frees them. dlg_request_fill
 *   points the message's fields into the dlg: valid while it is unchanged.
 * LOOP
 *   Pure data: dialogd's loop.
 * ERRORS
 *   dlg_set returns false when out of memory (what was set is still freed by dlg_clear).
 */
#ifndef SB_DIALOGD_DLG_H
#define SB_DIALOGD_DLG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ipc.h"
#include "proto/dialog.pb-c.h"

#define DLG_MAX_ROUTES 16

enum { LEG_A = 0, LEG_B = 1 };

/* Which side of the dialog's INVITE we were. */
enum dlg_role {
    DLG_UAS, /* the leg called us (the caller's leg) */
    DLG_UAC, /* we called the leg (the callee's leg) */
};

/* A session timer on one leg (RFC 4028): who refreshes, and when. */
struct dlg_timer {
    unsigned secs;     /* the session interval; 0: no timer on this leg */
    bool we_refresh;   /* we send the refreshes (UPDATE), else the leg must */
    bool leg_supports; /* the leg said Supported: timer (then Require: timer in answers) */
    bool pending;      /* our refresh awaits its answer */
    uint64_t due_ms;   /* loop time of our next refresh, or of the leg's deadline */
};

/* A byte string we keep (an SDP). */
struct dlg_blob {
    uint8_t *data;
    size_t len;
};

struct dlg {
    enum dlg_role role;
    char *call_id;
    char *local_tag, *remote_tag;
    char *local_uri, *remote_uri;
    char *local_display, *remote_display;
    char *remote_target; /* the leg's Contact */
    char *remote_host;   /* ... its host and port as sipd read them ("" unknown) */
    unsigned remote_port;
    char *route_set[DLG_MAX_ROUTES]; /* in the order our requests carry them */
    size_t nroutes;
    uint32_t local_cseq;  /* the CSeq of our last request in this dialog */
    uint64_t txn;         /* its INVITE's transaction in sipd (UAS: server; UAC: client) */
    ipc_chan_t *ch;       /* UAS: the sipd that passed its INVITE (NULL: by txn) */
    bool final_sent;      /* UAS: its INVITE has its final response */
    bool acked;           /* UAS: it acknowledged our 2xx */
    struct dlg_blob sdp;  /* the leg's latest SDP (an offer or an answer) */
    struct dlg_blob ours; /* the latest SDP we sent it (mediad's rewrite) */
    struct dlg_timer timer;
    /* the next hop of the leg's requests (SipMessage.next_hop) as sipd saw the leg: our
     * local address it talks to, and its source when it is behind NAT (addr is "" when
     * not: its Contact is reachable); hop.base.descriptor NULL when unknown */
    Sb__SipPeer hop;
};

/* *dst = a copy of src (NULL: ""); false when out of memory. The old value is freed. */
bool dlg_set(char **dst, const char *src);
/* The route set from a received Record-Route list: as it is for a UAS, reversed for a
 * UAC; false when out of memory. */
bool dlg_set_routes(struct dlg *d, char *const *record_route, size_t n);
/* *dst = a copy of the bytes (kept as it was when empty, when they are already *dst, or
 * when memory is short). */
void dlg_blob_keep(struct dlg_blob *dst, const uint8_t *data, size_t len);
void dlg_blob_free(struct dlg_blob *b);
/* *dst = what requests to a peer seen as src need (local address, flow, NAT source):
 * strings copied, addr and port only when src->nated or src->outbound (an RFC 5626
 * flow); src NULL clears it. False when
 * out of memory (dst is then cleared). */
bool dlg_peer_copy(Sb__SipPeer *dst, const Sb__SipPeer *src);
void dlg_peer_free(Sb__SipPeer *p);
/* A hop as one record value ("" when none) and back (false: malformed, hop cleared). */
#define DLG_HOP_TEXT_MAX 192
const char *dlg_hop_text(const Sb__SipPeer *hop, char out[DLG_HOP_TEXT_MAX]);
bool dlg_hop_parse(Sb__SipPeer *hop, const char *text);
/* Whether a request with these From and To tags belongs to d (RFC 3261 12.2.2): its To
 * tag is our local tag and its From tag the leg's remote tag, both present. A request
 * that names the Call-ID but not both tags is not the leg's (481, never acted on). */
bool dlg_matches(const struct dlg *d, const char *from_tag, const char *to_tag);
/* Frees what d holds and zeroes it. */
void dlg_clear(struct dlg *d);
/* Fills a request in d's dialog: method, CSeq, Request-URI (the remote target), From
 * (local), To (remote), Call-ID, Route, and the next hop when known. */
void dlg_request_fill(const struct dlg *d, Sb__SipMessage *msg, const char *method, uint32_t cseq);

#endif
