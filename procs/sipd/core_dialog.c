/* core_dialog - see core_dialog.h */
#include "core_dialog.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "core_local.h"
#include "transport_udp.h"
#include "core_reply.h"
#include "hash.h"
#include "log.h"
#include "natping.h"
#include "proto/dialog.pb-c.h"

static uint64_t call_id_key(struct sipmsg_str call_id) {
    return sb_mix64(sb_hash64(call_id.ptr, call_id.len));
}

/* The dialogd of a Call-ID: the instance named in the Call-IDs dialogd makes for its
 * B-legs (sbd<instance>.<random>), else one chosen by a hash of the Call-ID. */
ipc_chan_t *core_dialog_for(struct core *c, struct sipmsg_str call_id) {
    if (call_id.len > 4 && memcmp(call_id.ptr, "sbd", 3) == 0 && c->peers.dialog_instance) {
        int n = 0;
        size_t i = 3;
        for (; i < call_id.len && i < 7 && call_id.ptr[i] >= '0' && call_id.ptr[i] <= '9'; i++)
            n = n * 10 + (call_id.ptr[i] - '0');
        ipc_chan_t *ch = i > 3 && i < call_id.len && call_id.ptr[i] == '.'
                             ? c->peers.dialog_instance(c->peers.arg, n)
                             : NULL;
        if (ch)
            return ch;
    }
    return c->peers.dialog ? c->peers.dialog(c->peers.arg, call_id_key(call_id)) : NULL;
}

static bool to_proto(struct core *c, const sipmsg_t *m, Sb__SipMessage *msg) {
    struct sipmsg_out o = {c->conv, c->conv_cap, 0, false};
    if (sipconv_to_proto(m, c->cfg.domains, msg, &c->store, &o))
        return true;
    char call_id[LOG_CALL_ID_MAX + 1];
    log_call_ratelimited(LOG_WARN, core_call_id(m, call_id),
                         "a SIP message too large to pass to dialogd");
    return false;
}

/* SipRequestIn to dialogd on ch; false when it could not be sent. */
static bool dialog_request(struct core *c, ipc_chan_t *ch, const sipmsg_t *m,
                           const struct sipdest *src, uint64_t txn_id, const char *auth_user) {
    Sb__SipMessage msg;
    Sb__SipPeer peer;
    struct core_peer_text txt;
    if (!to_proto(c, m, &msg))
        return false;
    core_local_peer(c, src, m, &peer, &txt);
    Sb__SipRequestIn in = SB__SIP_REQUEST_IN__INIT;
    in.txn_id = txn_id;
    in.source = &peer;
    in.msg = &msg;
    in.source_trusted = netacl_match(&c->cfg.trusted, &src->addr.sa);
    in.auth_user = (char *)(auth_user ? auth_user : "");
    int rc = ipc_send_sip_request_in(ch, &in);
    if (rc < 0)
        log_call_ratelimited(LOG_WARN, msg.call_id, "cannot pass a request to dialogd: %s",
                             strerror(-rc));
    return rc == 0;
}

static void dialog_response(struct core *c, ipc_chan_t *ch, const sipmsg_t *m,
                            const struct sipdest *src, uint64_t client_id, uint64_t txn_id) {
    Sb__SipMessage msg;
    Sb__SipPeer peer;
    struct core_peer_text txt;
    if (!ch || !to_proto(c, m, &msg))
        return;
    core_local_peer(c, src, m, &peer, &txt);
    Sb__SipResponseIn in = SB__SIP_RESPONSE_IN__INIT;
    in.client_id = client_id;
    in.txn_id = txn_id;
    in.msg = &msg;
    in.source = &peer;
    int rc = ipc_send_sip_response_in(ch, &in);
    if (rc < 0)
        log_call_ratelimited(LOG_WARN, msg.call_id, "cannot pass a response to dialogd: %s",
                             strerror(-rc));
}

/* A response sipd made for dialogd's request (timeout, no route): nothing on the wire. */
void core_dialog_local_response(struct core *c, ipc_chan_t *ch, uint64_t client_id, uint64_t txn_id,
                                int status, const char *reason, const char *method,
                                const char *call_id, uint32_t cseq) {
    if (!ch)
        return;
    Sb__SipMessage msg = SB__SIP_MESSAGE__INIT;
    msg.status = (uint32_t)status;
    msg.reason = (char *)reason;
    msg.method = (char *)method;
    msg.call_id = (char *)call_id;
    msg.cseq = cseq;
    msg.max_forwards = -1;
    Sb__SipResponseIn in = SB__SIP_RESPONSE_IN__INIT;
    in.client_id = client_id;
    in.txn_id = txn_id;
    in.msg = &msg;
    in.local = true;
    (void)c;
    ipc_send_sip_response_in(ch, &in);
}

void core_dialog_respond(struct core *c, const Sb__SipRespond *rs) {
    struct txn *t = txn_find_id(c->txns, rs->txn_id);
    const Sb__SipMessage *msg = rs->msg;
    if (!t || t->client || !msg || msg->status < 100 || msg->status > 699) {
        log_debug("dialogd answered transaction %llx, which is gone or the answer is bad",
                  (unsigned long long)rs->txn_id);
        return;
    }
    if (t->state >= TXN_COMPLETED)
        return;
    if (msg->to_tag && *msg->to_tag && t->to_tag[0]) {
        /* dialogd names the dialog: its tag replaces our hash tag (RFC 3261 12.1.1) */
        if (strlen(msg->to_tag) < sizeof t->to_tag && !strpbrk(msg->to_tag, " \t\r\n;,<>\"")) {
            if (t->status > 100 && strcmp(t->to_tag, msg->to_tag) != 0)
                log_call_ratelimited(LOG_WARN, t->call_id,
                                     "dialogd changed the To tag of a transaction");
            else
                snprintf(t->to_tag, sizeof t->to_tag, "%s", msg->to_tag);
        }
    }
    struct sipconv_local local;
    core_local_name(c, &t->dest, t->dest.transport, &local);
    struct sipmsg_out o = {c->extra, c->extra_cap, 0, false};
    const char *why = NULL;
    if (!sipconv_response_lines(msg, &local, &o, &why)) {
        log_call_ratelimited(LOG_WARN, t->call_id,
                             "dialogd's %u answer unusable (%s): answering 500", msg->status,
                             why ? why : "too large");
        core_reply(c, t, 500, "Server Internal Error", NULL, 0);
        return;
    }
    core_reply_body(c, t, (int)msg->status, msg->reason && *msg->reason ? msg->reason : NULL, o.p,
                    o.len, (const char *)msg->body.data, msg->body.len);
}

static void send_cancel(struct core *c, struct txn *invite) {
    invite->cancel_pending = false;
    if (!invite->request ||
        sipmsg_parse(c->msg2, invite->request, invite->request_len, false) != SIPMSG_OK)
        return;
    int n = sipconv_derive(c->msg2, SIPMSG_M_CANCEL, NULL, c->out, c->out_cap);
    int kl = n > 0 ? txn_client_key(c->msg2->via.branch.ptr, c->msg2->via.branch.len, "CANCEL", 6,
                                    c->key2, c->key_cap)
                   : -1;
    if (kl < 0 || txn_find(c->txns, c->key2, (size_t)kl))
        return; /* cancelled already */
    struct txn *t =
        txn_client_new(c->txns, false, c->key2, (size_t)kl, &invite->dest, c->out, (size_t)n);
    if (t) {
        t->user = c;
        txn_set_call_id(t, invite->call_id, strlen(invite->call_id));
    }
}

void core_dialog_cancel(struct core *c, const Sb__SipCancel *sc) {
    struct txn *t = txn_find_id(c->txns, sc->txn_id);
    if (!t || !t->client || !t->invite)
        return;
    if (t->state == TXN_TRYING) /* RFC 3261 9.1: not before a provisional response */
        t->cancel_pending = true;
    else if (t->state == TXN_PROCEEDING)
        send_cancel(c, t);
}

/* The connection a request to hop goes on (RFC 3261 18.1.1): dialogd's flow when it is
 * still open, else (not behind NAT) an open connection to the address or a new one from
 * hop->local. NULL with *why. */
static struct tcp_conn *send_conn(struct core *c, const struct sipconv_hop *hop, const char **why) {
    struct tcp_conn *conn = NULL;
    if (hop->given && hop->conn_id) {
        /* ids start again with a new sipd: the peer must be the flow's too */
        conn = tcp_find_id(c->tcp, hop->conn_id);
        if (conn && (!sipaddr_equal(tcp_conn_peer(conn), &hop->addr) ||
                     tcp_conn_is_tls(conn) != (hop->transport == SIPDEST_TLS)))
            conn = NULL;
    }
    if (!conn && hop->given && (hop->nated || hop->outbound)) {
        /* a phone behind NAT is reached only on the connection it opened; an RFC 5626
         * flow only over itself (5.3) */
        *why = hop->outbound ? "Flow Failed" : "connection to a NATed peer is gone";
        return NULL;
    }
    if (!conn)
        conn = tcp_find(c->tcp, &hop->addr, hop->transport == SIPDEST_TLS);
    if (!conn)
        conn = tcp_connect(c->tcp, &hop->addr, hop->addr_len, &hop->local,
                           hop->transport == SIPDEST_TLS ? hop->tls_host : NULL);
    if (!conn)
        *why = hop->transport == SIPDEST_TLS ? "No TLS connection" : "No TCP connection";
    return conn;
}

/* The dest of a request to hop, and its local end; false with *why. */
static bool send_dest(struct core *c, const struct sipconv_hop *hop, struct sipdest *dest,
                      const char **why) {
    memset(dest, 0, sizeof *dest);
    dest->addr = hop->addr;
    dest->addr_len = hop->addr_len;
    if (sipdest_is_stream(hop->transport)) {
        if (!c->tcp) {
            *why = "no TCP listener";
            return false;
        }
        if (hop->given && hop->conn_id && hop->instance != c->cfg.instance) {
            /* the flow belongs to another instance: dialogd sends there */
            *why = "connection owned by another sipd instance";
            return false;
        }
        struct tcp_conn *conn = send_conn(c, hop, why);
        if (!conn)
            return false;
        dest->transport = hop->transport;
        dest->tcp = conn;
        core_local_source(c, dest);
        return true;
    }
    int i = core_local_udp_pick(c, hop->addr.sa.sa_family, &hop->local);
    if (i < 0) {
        *why = "no socket of that family";
        return false;
    }
    dest->transport = SIPDEST_UDP;
    dest->udp = c->udp[i];
    if (hop->local.sa.sa_family && udp_is_wildcard(dest->udp)) {
        /* dialogd's local address, at this socket's port */
        const union sipaddr *b = udp_bound(dest->udp);
        dest->local = hop->local;
        sipaddr_set_port(&dest->local,
                         ntohs(b->sa.sa_family == AF_INET ? b->sin.sin_port : b->sin6.sin6_port));
    }
    core_local_source(c, dest);
    return true;
}

void core_dialog_send(struct core *c, ipc_chan_t *ch, const Sb__SipSendRequest *sr) {
    const Sb__SipMessage *msg = sr->msg;
    if (!msg || !msg->method) {
        core_dialog_local_response(c, ch, sr->client_id, 0, 400, "Bad request from dialogd", "", "",
                                   0);
        return;
    }
    const char *why = "?";
    struct sipconv_hop hop;
    struct sipdest dest;
    if (sipconv_next_hop(msg, &hop, &why) < 0 || !send_dest(c, &hop, &dest, &why)) {
        log_call_ratelimited(LOG_INFO, msg->call_id, "cannot send a %s: %s", msg->method, why);
        /* RFC 5626 5.3: the flow of an outbound binding is gone: 430, the caller may try
         * another flow of the same instance */
        int status = hop.given && hop.outbound ? 430 : 503;
        core_dialog_local_response(c, ch, sr->client_id, 0, status, why, msg->method,
                                   msg->call_id ? msg->call_id : "", msg->cseq);
        return;
    }
    struct sipconv_local local;
    core_local_name(c, &dest, hop.transport, &local);
    char branch[64];
    uint64_t rnd = sb_mix64(c->tag_salt ^ ++c->branch_counter);
    snprintf(branch, sizeof branch, CORE_BRANCH_PREFIX "%dx%016llx", c->cfg.instance,
             (unsigned long long)rnd);
    int n = sipconv_request_build(msg, &local, branch, c->out, c->out_cap, &why);
    if (n < 0) {
        log_call_ratelimited(LOG_WARN, msg->call_id, "dialogd's %s unusable: %s", msg->method,
                             n == -ENOSPC ? "too large" : why);
        core_dialog_local_response(c, ch, sr->client_id, 0, 500, "Request unusable", msg->method,
                                   msg->call_id ? msg->call_id : "", msg->cseq);
        return;
    }
    if (strcmp(msg->method, "ACK") == 0) { /* the ACK of a 2xx: no transaction */
        shm_count(c->slot, SHM_C_sip_tx_requests, 1);
        shm_sip_count(c->stats, SHM_TX, c->out, (size_t)n);
        sipdest_send(&dest, c->out, (size_t)n);
        return;
    }
    int kl = txn_client_key(branch, strlen(branch), msg->method, strlen(msg->method), c->key,
                            c->key_cap);
    struct txn *t = kl > 0 ? txn_client_new(c->txns, strcmp(msg->method, "INVITE") == 0, c->key,
                                            (size_t)kl, &dest, c->out, (size_t)n)
                           : NULL;
    if (!t) {
        core_dialog_local_response(c, ch, sr->client_id, 0, 500, "Out of memory", msg->method,
                                   msg->call_id ? msg->call_id : "", msg->cseq);
        return;
    }
    t->user = c;
    if (msg->call_id)
        txn_set_call_id(t, msg->call_id, strlen(msg->call_id));
    t->tu = ch;
    t->tu_id = sr->client_id;
}

bool core_dialog_response_from_peer(const struct txn *t, const struct sipdest *src) {
    if (t->dest.transport != src->transport)
        return false;
    /* RFC 3261 18.1.2: a TCP response may come on another connection from the peer */
    if (src->transport == SIPDEST_TCP)
        return sipaddr_same_host(&t->dest.addr, &src->addr);
    return sipaddr_equal(&t->dest.addr, &src->addr);
}

/* A response: to its client transaction, then (the first time) to dialogd. */
void core_dialog_response_in(struct core *c, const struct core_msg *cm, const char *buf,
                             size_t len) {
    const sipmsg_t *m = cm->m;
    const struct sipdest *src = cm->src;
    int owner = core_local_branch_owner(m->via.branch);
    if (owner >= 0 && owner != c->cfg.instance && !cm->forwarded) {
        core_local_forward(c, owner, src, buf, len);
        return;
    }
    if (natping_response(c->natping, m->via.branch))
        return; /* the answer to a keepalive */
    int kl = txn_client_key(m->via.branch.ptr, m->via.branch.len, m->cseq_method.ptr,
                            m->cseq_method.len, c->key, c->key_cap);
    struct txn *t = kl > 0 ? txn_find(c->txns, c->key, (size_t)kl) : NULL;
    if (!t || !t->client || !core_dialog_response_from_peer(t, src)) {
        /* RFC 6026 8.9 (18.1.2): a response that matches no client transaction of ours,
         * or (UDP) comes from elsewhere than where the request went, is dropped: a forged
         * 2xx must not make us send an ACK or a BYE to the address its Contact names */
        shm_count(c->slot, SHM_C_sip_rx_dropped, 1);
        if (log_get_level() <= LOG_DEBUG) {
            char call_id[LOG_CALL_ID_MAX + 1];
            log_call(LOG_DEBUG, core_call_id(m, call_id), "dropped a %d response: %s", m->status,
                     t && t->client ? "not from the request's destination"
                                    : "no transaction of ours");
        }
        return;
    }
    if (!txn_client_response(c->txns, t, m->status))
        return;
    if (t->invite && m->status >= 300 && t->request &&
        sipmsg_parse(c->msg2, t->request, t->request_len, false) == SIPMSG_OK) {
        /* RFC 3261 17.1.1.3: the transaction acknowledges a non-2xx itself */
        int n = sipconv_derive(c->msg2, SIPMSG_M_ACK, m, c->out, c->out_cap);
        if (n > 0)
            txn_client_ack(c->txns, t, c->out, (size_t)n);
    }
    if (t->cancel_pending && m->status < 200)
        send_cancel(c, t);
    if (m->status == 100 || !t->tu_id)
        return; /* 100 is hop by hop; a CANCEL's answer concerns no one */
    ipc_chan_t *ch = t->tu ? t->tu : core_dialog_for(c, m->call_id);
    dialog_response(c, ch, m, src, t->tu_id, t->id);
}

struct txn *core_dialog_invite_of_flow(struct core *c, const sipmsg_t *m,
                                       const struct sipdest *src) {
    int ml = txn_merge_key(m, SIPMSG_M_INVITE, c->key2, c->key_cap);
    struct txn *t = ml > 0 ? txn_find_merged(c->txns, c->key2, (size_t)ml) : NULL;
    if (!t || t->client || !t->invite || !txn_has_branch(t, m->via.branch) ||
        t->dest.transport != src->transport || !sipaddr_equal(&t->source, &src->addr))
        return NULL;
    return t;
}

/* RFC 3261 9.2: CANCEL matches the INVITE transaction it cancels. */
void core_dialog_cancel_in(struct core *c, struct core_msg *cm, const char *key, size_t key_len) {
    const sipmsg_t *m = cm->m;
    const struct sipdest *src = cm->src;
    int ilen = txn_key(m, SIPMSG_M_INVITE, c->key2, c->key_cap);
    struct txn *invite = ilen > 0 ? txn_find(c->txns, c->key2, (size_t)ilen) : NULL;
    if (!invite) /* a phone behind NAT that rewrote its sent-by since the INVITE */
        invite = core_dialog_invite_of_flow(c, m, src);
    struct txn *t = core_txn_start(c, cm, key, key_len, NULL, 0);
    if (!t)
        return;
    if (!invite) {
        core_reply(c, t, 481, NULL, NULL, 0);
        return;
    }
    core_reply(c, t, 200, NULL, NULL, 0);
    if (invite->state != TXN_PROCEEDING && invite->state != TXN_TRYING)
        return;
    /* dialogd cancels its B-leg, then answers 487 itself; without it, 487 now */
    if (!invite->tu || !dialog_request(c, invite->tu, m, src, invite->id, NULL))
        core_reply(c, invite, 487, NULL, NULL, 0);
}

/* An ACK that is no transaction's own: the ACK of a 2xx (RFC 3261 13.2.2.4). */
void core_dialog_ack_in(struct core *c, const sipmsg_t *m, const struct sipdest *src) {
    int ml = txn_merge_key(m, SIPMSG_M_INVITE, c->key2, c->key_cap);
    struct txn *invite = ml > 0 ? txn_find_merged(c->txns, c->key2, (size_t)ml) : NULL;
    uint64_t id = 0;
    ipc_chan_t *ch = NULL;
    if (invite && !invite->client && invite->state == TXN_ACCEPTED) {
        ch = invite->tu;
        if (!invite->acked) {
            id = invite->id;
            txn_ack(c->txns, invite); /* on TCP and TLS it ends (frees) the transaction */
        }
    }
    if (!ch)
        ch = core_dialog_for(c, m->call_id);
    if (ch)
        dialog_request(c, ch, m, src, id, NULL);
}

/* A request for dialogd: in the transaction t, answered when dialogd says. */
bool core_dialog_request_in(struct core *c, const sipmsg_t *m, const struct sipdest *src,
                            struct txn *t, const char *auth_user) {
    ipc_chan_t *ch = core_dialog_for(c, m->call_id);
    if (!ch || !dialog_request(c, ch, m, src, t->id, auth_user))
        return false;
    t->tu = ch;
    txn_guard(c->txns, t, t->invite ? CORE_INVITE_GUARD_MS : 32 * c->cfg.t1_ms);
    return true;
}
