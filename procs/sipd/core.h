/*
 * NAME
 *   core - what sipd does with a SIP request (RFC 3261 8.2 UAS core, registrar relay).
 * DESCRIPTION
 *   core_on_message takes every message a transport received: a response is matched to
 *   its client transaction (handed first to the sipd instance named in its Via branch
 *   when that is another one) and passed to dialogd; a request that cannot be answered is
 *   dropped and counted; a malformed one gets a stateless 400 (505 for another SIP
 *   version) whose reason phrase and Warning (399) name the problem. A well-formed
 *   request is matched to its server transaction (a retransmission is absorbed, an ACK
 *   confirms the INVITE transaction it belongs to or is dropped silently) or gets a new
 *   one, in which it is answered: 501/405 with Allow, 416, 483, 420 with Unsupported,
 *   415/406 with Accept, 482 for a merged request, OPTIONS 200 (Allow, Accept,
 *   Supported), CANCEL 200/481, INVITE (100 at once), BYE and the ACK of a 2xx go to
 *   dialogd (proto/dialog.proto) when one is connected (else INVITE 503, BYE 481), and
 *   dialogd's SipRespond answers them; dialogd's SipSendRequest becomes a client
 *   transaction (Via branch z9hG4bKsb<instance>x<random>) whose responses go back to it,
 *   REGISTER relayed to routerd (RegisterRequest, proto/sip.proto) and answered from
 *   its RegisterReply (200 with the bindings, 423, 503, ...), or 503 when no routerd
 *   answers in register_timeout. Responses go where RFC 3261 18.2.2 and RFC 3581 say,
 *   from the address the request was sent to (core_local). A CANCEL or ACK whose sent-by
 *   was rewritten since its INVITE still matches it from the INVITE's source
 *   (core_dialog_invite_of_flow). Every SipPeer handed on names our end, the TCP
 *   connection and whether the peer is behind NAT (sipnat.h).
 *   To tags are a keyed hash of the request, so a stateless answer to a retransmission
 *   carries the same tag. Draining: new requests are dropped (the client's
 *   retransmission finds another instance), transactions in progress finish.
 * OWNERSHIP
 *   The core owns its transaction table, its parser and its buffers; core_free releases
 *   them (memory goes in a close callback). Messages passed in are borrowed for the call.
 * LOOP
 *   sipd's loop; routerd's replies arrive as IPC callbacks on it.
 * SEE ALSO
 *   core_int.h: the layers below (core_reply, core_local, core_register, core_dialog).
 * ERRORS
 *   core_new: NULL when out of memory or when the system has no random bytes for the
 *   tag and branch salt (fail closed: sipd does not start). Everything else is answered
 *   on the wire and counted in the shm slot (sip_rx_*, sip_tx_responses, sip_txn_*,
 *   sip_retransmissions).
 */
#ifndef SB_SIPD_CORE_H
#define SB_SIPD_CORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "advertise.h"
#include "contact_rule.h"
#include "domains.h"
#include "ipc.h"
#include "netacl.h"
#include "shm.h"
#include "proto/envelope.pb-c.h"
#include "sipdest.h"
#include "srclimit.h"
#include "transport_tcp.h"

struct core_config {
    uint64_t t1_ms, t2_ms, t4_ms;
    uint32_t register_timeout_ms;
    uint64_t nat_keepalive_ms;      /* natping.h: 0 none */
    unsigned nat_keepalive_misses;
    size_t max_message;
    char server[128]; /* Server header */
    int instance;     /* sipd instance, sent to routerd with each REGISTER */
    struct advertise advertise; /* sip_advertise: our names in Via and Contact */
    struct contact_allow contact_allow; /* register_contact_allow (contact_rule.h) */
    const domains_t *domains;   /* the served domain (worker's, borrowed): AOR hosts */
    struct srclimit_config limits; /* sip_pike_*: request rates per source (srclimit.h) */
    size_t max_transactions;       /* sip_max_transactions: 0 no cap */
    bool auth;                  /* sip_auth: digest authentication (core_auth.h) */
    struct netacl trusted;      /* sip_trusted_peers: never challenged */
};

/* How the core reaches other processes; each returns a borrowed channel or NULL when
 * none is connected. */
struct core_peers {
    ipc_chan_t *(*router)(void *arg, uint64_t key);   /* a routerd for key */
    ipc_chan_t *(*dialog)(void *arg, uint64_t key);   /* the dialogd of a Call-ID hash */
    ipc_chan_t *(*sipd)(void *arg, int instance);     /* another sipd instance */
    ipc_chan_t *(*dialog_instance)(void *arg, int instance); /* dialogd instance N */
    void *arg;
};

struct core *core_new(uv_loop_t *loop, const struct core_config *cfg, struct shm_proc *slot,
                      const struct core_peers *peers);
/* The shm segment whose transaction index the sipd instances share (shm_txn_*): a new
 * request whose transaction another live instance owns is handed to it (SipForward). */
void core_set_index(struct core *c, struct shm_seg *seg);
/* The TCP side: requests to sip:...;transport=tcp targets go on an open connection to
 * them or on a new one; port is our TCP listening port (Via, Contact). */
void core_set_tcp(struct core *c, struct tcp_server *s, int port, int tls_port);
/* A UDP socket of ours: requests to dialogd's targets leave from one of its family. */
void core_add_udp(struct core *c, struct udp_sock *u);
/* An envelope for the core (SipRespond, SipSendRequest, SipCancel, SipTxnEvent from
 * dialogd; SipForward from another sipd): true when it was one of those. */
bool core_on_envelope(struct core *c, ipc_chan_t *ch, Sb__Envelope *env);
/* A peer channel goes away: transactions waiting on it are answered or let go. */
void core_peer_closed(struct core *c, ipc_chan_t *ch);
/* New parameters (reload); false when the new message size cannot be had (old kept). */
bool core_set_config(struct core *c, const struct core_config *cfg);
/* A message from a transport (udp_message_cb / tcp_message_cb; arg is the core). */
void core_on_message(void *core, const struct sipdest *src, const char *buf, size_t len);
/* Takes no new requests; calls drained(arg) (from the loop, never from inside this call)
 * once no transaction owes a response or waits for an ACK. */
void core_drain(struct core *c, void (*drained)(void *arg), void *arg);
/* Transactions alive (drain, tests). */
size_t core_transactions(const struct core *c);
/* Ends every transaction (routerd answers still pending are then ignored) and frees. */
void core_free(struct core *c);

#endif
