/* sipout - see sipout.h */
#include "sipout.h"

#include <string.h>

#include "hash.h"
#include "log.h"

void sipout_hdr_add(struct sipout_hdrs *hs, const char *name, const char *value) {
    if (hs->n >= SIPOUT_MAX_HDRS)
        return;
    Sb__SipHeader *h = &hs->h[hs->n];
    sb__sip_header__init(h);
    h->name = (char *)name;
    h->value = (char *)value;
    hs->p[hs->n++] = h;
}

/* client_id = call << 16 | attempt << 8 | fork << 5 | leg << 4 | kind */
uint64_t sipout_client_id(const struct call *c, unsigned fork, int leg, enum call_kind kind) {
    return (c ? c->id << 16 | (uint64_t)(c->attempt & 0xff) << 8 : 0) |
           (uint64_t)(fork & 0x7) << 5 | (uint64_t)(leg & 1) << 4 | (uint64_t)kind;
}

struct sipout_id sipout_parse_id(uint64_t id) {
    return (struct sipout_id){
        .call = id >> 16,
        .attempt = (unsigned)(id >> 8) & 0xff,
        .fork = (unsigned)(id >> 5) & 0x7,
        .leg = (int)(id >> 4) & 1,
        .kind = (enum call_kind)(id & 0xf),
    };
}

ipc_chan_t *sipout_sipd_for(b2b_t *b, uint64_t txn) {
    return b->io.instance(b->io.arg, SB_ROLE_sipd, (int)(txn >> 40));
}

bool sipout_send(b2b_t *b, struct call *c, ipc_chan_t *via, unsigned fork, int leg,
                 enum call_kind kind, Sb__SipMessage *msg) {
    const Sb__SipPeer *hop = msg->next_hop;
    ipc_chan_t *ch = via;
    if (!ch && hop && hop->conn_id && hop->transport &&
        (strcmp(hop->transport, "tcp") == 0 || strcmp(hop->transport, "tls") == 0))
        ch = b->io.instance(b->io.arg, SB_ROLE_sipd, (int)hop->sipd_instance); /* its flow */
    if (!ch)
        ch = b->io.pick(b->io.arg, SB_ROLE_sipd, c->id + fork);
    if (!ch) {
        log_call_ratelimited(LOG_WARN, c->leg[LEG_A].call_id, "no sipd connected to send a %s",
                             msg->method);
        return false;
    }
    msg->contact_user = (char *)CALL_CONTACT_USER;
    Sb__SipSendRequest sr = SB__SIP_SEND_REQUEST__INIT;
    sr.client_id = sipout_client_id(c, fork, leg, kind);
    sr.msg = msg;
    return ipc_send_sip_send_request(ch, &sr) == 0;
}

bool sipout_request_dlg(b2b_t *b, struct call *c, const struct dlg *d, ipc_chan_t *via, int leg,
                        const char *method, uint32_t cseq, enum call_kind kind, const uint8_t *body,
                        size_t len, const struct sipout_hdrs *hs) {
    Sb__SipMessage msg = SB__SIP_MESSAGE__INIT;
    dlg_request_fill(d, &msg, method, cseq);
    if (len) {
        msg.content_type = (char *)(hs && hs->content_type ? hs->content_type : CALL_SDP);
        msg.body.data = (uint8_t *)body;
        msg.body.len = len;
    }
    if (hs && hs->n) {
        msg.headers = (Sb__SipHeader **)hs->p;
        msg.n_headers = hs->n;
    }
    if (hs && hs->max_forwards_set) {
        msg.max_forwards = hs->max_forwards;
        msg.max_forwards_set = true;
    }
    return sipout_send(b, c, via, c->winner > 0 ? (unsigned)c->winner : 0, leg, kind, &msg);
}

bool sipout_request(b2b_t *b, struct call *c, int n, const char *method, uint32_t cseq,
                    enum call_kind kind, const uint8_t *body, size_t len,
                    const struct sipout_hdrs *hs) {
    return sipout_request_dlg(b, c, &c->leg[n], NULL, n, method, cseq, kind, body, len, hs);
}

static void respond(b2b_t *b, ipc_chan_t *ch, uint64_t txn, Sb__SipMessage *msg,
                    const struct sipout_hdrs *hs) {
    if (!ch)
        ch = sipout_sipd_for(b, txn);
    if (!ch) {
        log_ratelimited(LOG_WARN, "cannot answer a request: sipd unreachable");
        return;
    }
    msg->max_forwards = -1;
    msg->contact_user = (char *)CALL_CONTACT_USER;
    if (hs && hs->n) {
        msg->headers = (Sb__SipHeader **)hs->p;
        msg->n_headers = hs->n;
    }
    Sb__SipRespond rs = SB__SIP_RESPOND__INIT;
    rs.txn_id = txn;
    rs.msg = msg;
    ipc_send_sip_respond(ch, &rs);
}

void sipout_respond(b2b_t *b, ipc_chan_t *ch, uint64_t txn, unsigned status, const uint8_t *body,
                    size_t len, const struct sipout_hdrs *hs) {
    Sb__SipMessage msg = SB__SIP_MESSAGE__INIT;
    msg.status = status;
    if (len) {
        msg.content_type = CALL_SDP;
        msg.body.data = (uint8_t *)body;
        msg.body.len = len;
    }
    respond(b, ch, txn, &msg, hs);
}

bool sipout_respond_a(b2b_t *b, struct call *c, unsigned status, const char *reason,
                      const char *content_type, const uint8_t *body, size_t len,
                      const struct sipout_hdrs *hs) {
    struct dlg *a = &c->leg[LEG_A];
    if (a->final_sent)
        return false;
    Sb__SipMessage msg = SB__SIP_MESSAGE__INIT;
    msg.status = status;
    msg.reason = (char *)(reason ? reason : "");
    msg.to_tag = a->local_tag;
    msg.content_type = (char *)(content_type ? content_type : "");
    msg.body.data = (uint8_t *)body;
    msg.body.len = len;
    respond(b, a->ch, a->txn, &msg, hs);
    if (status >= 200)
        a->final_sent = true;
    return true;
}

bool sipout_cancel(b2b_t *b, uint64_t txn) {
    Sb__SipCancel sc = SB__SIP_CANCEL__INIT;
    sc.txn_id = txn;
    ipc_chan_t *ch = sipout_sipd_for(b, txn);
    return ch && ipc_send_sip_cancel(ch, &sc) == 0;
}

void sipout_hang_up_stray(b2b_t *b, const Sb__SipMessage *m) {
    if (!m->contact || !*m->contact || !m->call_id || !m->to_tag || !*m->to_tag)
        return;
    ipc_chan_t *ch = b->io.pick(b->io.arg, SB_ROLE_sipd, sb_hash32_str(m->call_id) % CALL_BUCKETS);
    if (!ch)
        return;
    struct dlg d = {.role = DLG_UAC};
    for (size_t i = 0; i < m->n_record_route && d.nroutes < DLG_MAX_ROUTES; i++)
        d.route_set[d.nroutes++] = m->record_route[m->n_record_route - 1 - i];
    Sb__SipMessage msg = SB__SIP_MESSAGE__INIT;
    d.remote_target = m->contact;
    d.local_display = m->from_display;
    d.local_uri = m->from_uri;
    d.local_tag = m->from_tag;
    d.remote_uri = m->to_uri;
    d.remote_tag = m->to_tag;
    d.call_id = m->call_id;
    msg.contact_user = (char *)CALL_CONTACT_USER;
    Sb__SipSendRequest sr = SB__SIP_SEND_REQUEST__INIT;
    sr.client_id = KIND_STRAY; /* no call: its answers are dropped */
    sr.msg = &msg;
    dlg_request_fill(&d, &msg, "ACK", m->cseq);
    ipc_send_sip_send_request(ch, &sr);
    dlg_request_fill(&d, &msg, "BYE", m->cseq + 1);
    ipc_send_sip_send_request(ch, &sr);
    log_call(LOG_INFO, m->call_id,
             "call leg answered after it was given up: acknowledged and hung up");
}
