/* core - see core.h */
#include "core.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <sys/socket.h>

#include "hash.h"
#include "log.h"
#include "rand.h"
#include "proto/dialog.pb-c.h"
#include "proto/sip.pb-c.h"
#include "sipconv.h"
#include "sipmsg.h"
#include "transaction.h"
#include "transport_udp.h"

#define CORE_RETRY_AFTER_NO_ROUTER 5
#define CORE_RETRY_AFTER_NO_CALLS "60"
#define CORE_MAX_UDP 16
/* How long dialogd may take to answer a request before sipd does (RFC 3261 16.6 Timer C
 * for an INVITE; a non-INVITE's client gives up at 64*T1, so 32*T1 for those). */
#define CORE_INVITE_GUARD_MS (181 * 1000)
#define CORE_BRANCH_PREFIX "z9hG4bKsb"

struct core {
    uv_loop_t *loop;
    uv_timer_t drain_timer; /* reports drained from the loop, not from a transaction */
    struct core_config cfg;
    char warn_agent[64]; /* Warning's warn-agent: the server name as a token */
    struct shm_proc *slot;
    struct core_peers peers;
    uint64_t router_counter, branch_counter;
    struct udp_sock *udp[CORE_MAX_UDP];
    struct sipconv_local udp_local[CORE_MAX_UDP];
    int udp_family[CORE_MAX_UDP];
    int nudp;
    bool forwarded; /* the message at hand came from another sipd instance */
    struct shm_seg *seg; /* the transaction index, NULL: none */
    struct shm_stats *stats; /* messages by method and code, NULL: not counted */
    struct tcp_server *tcp;
    int tcp_port;
    uint64_t index_hash; /* the entry the request at hand claimed, for its transaction */
    sipmsg_t *msg2; /* parses our own requests again (CANCEL, ACK) */
    struct sipconv_store store;
    char *conv; /* scratch of sipconv_to_proto */
    size_t conv_cap;
    uint64_t tag_salt;
    txn_table_t *txns;
    sipmsg_t *msg;
    /* buffers sized from max_message, allocated once */
    char *key, *key2, *echo, *out, *extra;
    size_t key_cap, echo_cap, out_cap, extra_cap;
    bool draining;
    void (*drained)(void *arg);
    void *drained_arg;
};

/* ---------------------------------------------------------------- helpers */

/* RFC 3261 19.3: a To tag of our own, the same for every copy of one request. */
static void make_to_tag(const struct core *c, const sipmsg_t *m, char *out, size_t outlen) {
    uint64_t h = SB_FNV64_BASIS ^ c->tag_salt;
    h = sb_hash64_from(h, m->call_id.ptr, m->call_id.len);
    h = sb_hash64_from(h, m->from_tag.ptr, m->from_tag.len);
    h = sb_hash64_from(h, m->via.branch.ptr, m->via.branch.len);
    h = sb_hash64_from(h, m->method.ptr, m->method.len);
    h ^= m->cseq;
    snprintf(out, outlen, "%016llx", (unsigned long long)sb_mix64(h));
}

/* RFC 3261 18.2.2 / RFC 3581 4: UDP answers go to the source address, at the source port
 * with rport, else at the sent-by port; TCP answers go back on the connection. */
static void reply_dest(const sipmsg_t *m, const struct sipdest *src, struct sipdest *dst) {
    *dst = *src;
    if (src->transport == SIPDEST_UDP && !m->via.rport)
        sipdest_addr_set_port(&dst->addr, m->via.port ? m->via.port : 5060);
}

static int echo_for(struct core *c, const sipmsg_t *m, const struct sipdest *src,
                    size_t *to_tag_at) {
    char ip[64];
    int port = 0;
    if (sipdest_addr_text(&src->addr, ip, sizeof ip, &port) < 0)
        ip[0] = '\0';
    return sipmsg_echo_build(m, ip[0] ? ip : NULL, port, c->echo, c->echo_cap, to_tag_at);
}

/* "Warning: 399 agent "text"" (RFC 3261 20.43), for answers that name a problem. */
static size_t warning_line(const struct core *c, const char *text, char *out, size_t cap) {
    int n = snprintf(out, cap, "Warning: 399 %s \"%s\"\r\n", c->warn_agent, text);
    return n > 0 && (size_t)n < cap ? (size_t)n : 0;
}

static void count_response(struct core *c) {
    shm_count(c->slot, SHM_C_sip_tx_responses, 1);
}

/* An answer outside any transaction: to a request too malformed to have one. */
static void reply_stateless(struct core *c, const sipmsg_t *m, const struct sipdest *src,
                            int status, const char *reason) {
    size_t to_tag_at;
    int echo_len = echo_for(c, m, src, &to_tag_at);
    if (echo_len < 0)
        return;
    char tag[24], warning[160];
    make_to_tag(c, m, tag, sizeof tag);
    struct sipmsg_response r = {
        .status = status,
        .reason = reason,
        .echo = c->echo,
        .echo_len = (size_t)echo_len,
        .to_tag_at = to_tag_at,
        .to_tag = tag,
        .server = c->cfg.server,
        .headers = warning,
        .headers_len = warning_line(c, reason, warning, sizeof warning),
    };
    int n = sipmsg_response_build(&r, c->out, c->out_cap);
    if (n < 0)
        return;
    struct sipdest dst;
    reply_dest(m, src, &dst);
    count_response(c);
    shm_sip_count(c->stats, SHM_TX, c->out, (size_t)n);
    sipdest_send(&dst, c->out, (size_t)n);
}

/* A response in transaction t; headers are extra lines (each ending in CRLF). */
static void reply_body(struct core *c, struct txn *t, int status, const char *reason,
                       const char *headers, size_t headers_len, const char *body,
                       size_t body_len) {
    if (!t->echo || t->state >= TXN_COMPLETED)
        return;
    struct sipmsg_response r = {
        .status = status,
        .reason = reason,
        .echo = t->echo,
        .echo_len = t->echo_len,
        .to_tag_at = t->to_tag_at,
        .to_tag = (status > 100 && t->to_tag[0]) ? t->to_tag : NULL,
        .server = c->cfg.server,
        .headers = headers,
        .headers_len = headers_len,
        .body = body,
        .body_len = body_len,
    };
    int n = sipmsg_response_build(&r, c->out, c->out_cap);
    if (n < 0) {
        log_ratelimited(LOG_WARN, "a %d response does not fit in %zu bytes; answering 500", status,
                        c->out_cap);
        r.status = status = 500;
        r.reason = "Response too large";
        r.headers_len = 0;
        r.body_len = 0;
        n = sipmsg_response_build(&r, c->out, c->out_cap);
        if (n < 0)
            return;
    }
    if (txn_respond(c->txns, t, status, c->out, (size_t)n) == -ENOMEM)
        log_ratelimited(LOG_ERROR, "out of memory keeping a response");
}

static void reply(struct core *c, struct txn *t, int status, const char *reason,
                  const char *headers, size_t headers_len) {
    reply_body(c, t, status, reason, headers, headers_len, NULL, 0);
}

static void reply_with_warning(struct core *c, struct txn *t, int status, const char *reason,
                               const char *headers, size_t headers_len) {
    char lines[sizeof((struct sipmsg_verdict *)0)->headers + 160];
    size_t n = headers_len < sizeof lines ? headers_len : 0;
    if (n)
        memcpy(lines, headers, n);
    n += warning_line(c, reason, lines + n, sizeof lines - n);
    reply(c, t, status, reason, lines, n);
}

static struct txn *txn_start(struct core *c, const sipmsg_t *m, const struct sipdest *src,
                             const char *key, size_t key_len, const char *merge_key,
                             size_t merge_len) {
    size_t to_tag_at;
    int echo_len = echo_for(c, m, src, &to_tag_at);
    if (echo_len < 0)
        return NULL;
    char tag[24];
    make_to_tag(c, m, tag, sizeof tag);
    struct sipdest dst;
    reply_dest(m, src, &dst);
    struct txn *t =
        txn_new(c->txns, m->method_id == SIPMSG_M_INVITE, key, key_len, merge_key, merge_len, &dst,
                c->echo, (size_t)echo_len, to_tag_at, m->has_to_tag ? NULL : tag);
    if (!t) {
        log_ratelimited(LOG_ERROR, "out of memory creating a transaction");
        return NULL;
    }
    t->user = c;
    t->index_hash = c->index_hash;
    c->index_hash = 0; /* the entry is the transaction's now */
    return t;
}

/* ---------------------------------------------------------------- REGISTER */

static void put_qvalue(struct sipmsg_out *o, int q) {
    if (q >= 1000) {
        sipmsg_out_puts(o, ";q=1");
        return;
    }
    char digits[4];
    snprintf(digits, sizeof digits, "%03d", q < 0 ? 0 : q);
    size_t n = 3;
    while (n > 0 && digits[n - 1] == '0')
        n--;
    sipmsg_out_puts(o, ";q=0");
    if (n) {
        sipmsg_out_put(o, ".", 1);
        sipmsg_out_put(o, digits, n);
    }
}

static void put_date(struct sipmsg_out *o) {
    char date[64];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    /* RFC 3261 20.17: rfc1123-date, always GMT */
    strftime(date, sizeof date, "Date: %a, %d %b %Y %H:%M:%S GMT\r\n", &tm);
    sipmsg_out_puts(o, date);
}

static void register_answered(ipc_chan_t *ch, Sb__Envelope *env, void *arg) {
    struct txn *t = arg;
    (void)ch;
    if (t->state != TXN_TRYING) { /* ended meanwhile (sipd stopping) */
        txn_unref(t);
        return;
    }
    struct core *c = t->user;
    struct sipmsg_out o = {c->extra, c->extra_cap, 0, false};
    const Sb__RegisterReply *rr =
        env && env->body_case == SB__ENVELOPE__BODY_REGISTER_REPLY ? env->register_reply : NULL;
    if (!rr) {
        if (env && env->body_case == SB__ENVELOPE__BODY_ERROR && env->error)
            log_ratelimited(LOG_WARN, "routerd refused a REGISTER: %s",
                            env->error->message ? env->error->message : "?");
        else if (!env)
            log_ratelimited(LOG_WARN, "no answer from routerd to a REGISTER in %u ms",
                            c->cfg.register_timeout_ms);
        sipmsg_out_printf(&o, "Retry-After: %d\r\n", CORE_RETRY_AFTER_NO_ROUTER);
        reply(c, t, 503, "Registrar not available", o.p, o.len);
        txn_unref(t);
        return;
    }
    int status = rr->status >= 200 && rr->status <= 699 ? (int)rr->status : 500;
    const char *reason = rr->reason && rr->reason[0] ? rr->reason : NULL;
    if (status == 200) {
        for (size_t i = 0; i < rr->n_bindings; i++) {
            const Sb__Binding *b = rr->bindings[i];
            if (!b || !b->uri)
                continue;
            sipmsg_out_puts(&o, "Contact: <");
            sipmsg_out_puts(&o, b->uri);
            sipmsg_out_puts(&o, ">;expires=");
            sipmsg_out_putu(&o, b->expires);
            if (b->q >= 0)
                put_qvalue(&o, b->q);
            sipmsg_out_put(&o, "\r\n", 2);
        }
        put_date(&o);
    } else if (status == 423) {
        sipmsg_out_printf(&o, "Min-Expires: %u\r\n", rr->min_expires);
    } else if (status == 503) {
        sipmsg_out_printf(&o, "Retry-After: %u\r\n",
                          rr->retry_after ? rr->retry_after : CORE_RETRY_AFTER_NO_ROUTER);
    }
    if (o.full) {
        log_ratelimited(LOG_WARN, "REGISTER answer over %zu bytes of header fields", o.cap);
        status = 500;
        reason = "Too many bindings";
        o.len = 0;
    }
    reply(c, t, status, reason, o.p, o.len);
    txn_unref(t);
}

/* NUL-terminated copy of s in the scratch o (protobuf-c strings are C strings). */
static char *scratch_str(struct sipmsg_out *o, struct sipmsg_str s) {
    size_t at = o->len;
    sipmsg_out_put(o, s.ptr, s.len);
    sipmsg_out_put(o, "", 1);
    return o->full ? NULL : o->p + at;
}

static void register_relay(struct core *c, const sipmsg_t *m, const struct sipdest *src,
                           struct txn *t) {
    struct sipmsg_register reg;
    struct sipmsg_verdict v;
    char aor[512];
    if (!sipmsg_register_read(m, &reg, aor, sizeof aor, &v)) {
        reply_with_warning(c, t, v.status, v.reason, v.headers, v.headers_len);
        return;
    }
    char retry[32];
    int retry_len =
        snprintf(retry, sizeof retry, "Retry-After: %d\r\n", CORE_RETRY_AFTER_NO_ROUTER);
    ipc_chan_t *ch = c->peers.router ? c->peers.router(c->peers.arg, c->router_counter++) : NULL;
    if (!ch) {
        log_ratelimited(LOG_WARN, "REGISTER answered 503: no routerd connected");
        reply(c, t, 503, "Registrar not available", retry, (size_t)retry_len);
        return;
    }
    struct sipmsg_out scratch = {c->extra, c->extra_cap, 0, false};
    Sb__ContactSpec specs[SIPMSG_MAX_CONTACTS], *spec_ptrs[SIPMSG_MAX_CONTACTS];
    for (size_t i = 0; i < reg.ncontacts; i++) {
        sb__contact_spec__init(&specs[i]);
        specs[i].uri = scratch_str(&scratch, reg.contacts[i].uri);
        specs[i].expires = reg.contacts[i].expires < 0           ? -1
                           : reg.contacts[i].expires > INT32_MAX ? INT32_MAX
                                                                 : (int32_t)reg.contacts[i].expires;
        specs[i].q = reg.contacts[i].q;
        spec_ptrs[i] = &specs[i];
    }
    char ip[64];
    int port = 0;
    if (sipdest_addr_text(&src->addr, ip, sizeof ip, &port) < 0)
        ip[0] = '\0';
    Sb__SipPeer peer = SB__SIP_PEER__INIT;
    peer.transport = (char *)sipdest_transport_name(src->transport);
    peer.addr = ip;
    peer.port = (uint32_t)port;
    peer.sipd_instance = (uint32_t)c->cfg.instance;
    Sb__RegisterRequest rq = SB__REGISTER_REQUEST__INIT;
    rq.aor = aor;
    rq.call_id = scratch_str(&scratch, m->call_id);
    rq.cseq = m->cseq;
    rq.wildcard = reg.wildcard;
    rq.n_contacts = reg.ncontacts;
    rq.contacts = spec_ptrs;
    rq.expires = m->expires < 0 ? -1 : m->expires > INT32_MAX ? INT32_MAX : (int32_t)m->expires;
    rq.user_agent = scratch_str(&scratch, sipmsg_header_value(m, SIPMSG_H_USER_AGENT));
    rq.source = &peer;
    if (scratch.full) {
        reply_with_warning(c, t, 400, "REGISTER too large", NULL, 0);
        return;
    }
    txn_ref(t);
    int rc = ipc_request_register_request(ch, &rq, register_answered, t,
                                          c->cfg.register_timeout_ms);
    if (rc < 0) {
        txn_unref(t);
        log_ratelimited(LOG_WARN, "REGISTER answered 503: cannot send to routerd: %s",
                        strerror(-rc));
        reply(c, t, 503, "Registrar not available", retry, (size_t)retry_len);
    }
    /* The transaction stays in Trying, absorbing retransmissions, until routerd answers. */
}

/* ---------------------------------------------------------------- dialogd */

static uint64_t call_id_key(struct sipmsg_str call_id) {
    return sb_mix64(sb_hash64(call_id.ptr, call_id.len));
}

/* The dialogd of a Call-ID: the instance named in the Call-IDs dialogd makes for its
 * B-legs (sbd<instance>.<random>), else one chosen by a hash of the Call-ID. */
static ipc_chan_t *dialog_for(struct core *c, struct sipmsg_str call_id) {
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

static void peer_fill(const struct core *c, const struct sipdest *src, Sb__SipPeer *peer, char *ip,
                      size_t iplen) {
    int port = 0;
    if (sipdest_addr_text(&src->addr, ip, iplen, &port) < 0)
        ip[0] = '\0';
    sb__sip_peer__init(peer);
    peer->transport = (char *)sipdest_transport_name(src->transport);
    peer->addr = ip;
    peer->port = (uint32_t)port;
    peer->sipd_instance = (uint32_t)c->cfg.instance;
}

static bool to_proto(struct core *c, const sipmsg_t *m, Sb__SipMessage *msg) {
    struct sipmsg_out o = {c->conv, c->conv_cap, 0, false};
    if (sipconv_to_proto(m, msg, &c->store, &o))
        return true;
    log_ratelimited(LOG_WARN, "a SIP message too large to pass to dialogd");
    return false;
}

/* SipRequestIn to dialogd on ch; false when it could not be sent. */
static bool dialog_request(struct core *c, ipc_chan_t *ch, const sipmsg_t *m,
                           const struct sipdest *src, uint64_t txn_id) {
    Sb__SipMessage msg;
    Sb__SipPeer peer;
    char ip[64];
    if (!to_proto(c, m, &msg))
        return false;
    peer_fill(c, src, &peer, ip, sizeof ip);
    Sb__SipRequestIn in = SB__SIP_REQUEST_IN__INIT;
    in.txn_id = txn_id;
    in.source = &peer;
    in.msg = &msg;
    int rc = ipc_send_sip_request_in(ch, &in);
    if (rc < 0)
        log_ratelimited(LOG_WARN, "cannot pass a request to dialogd: %s", strerror(-rc));
    return rc == 0;
}

static void dialog_response(struct core *c, ipc_chan_t *ch, const sipmsg_t *m,
                            const struct sipdest *src, uint64_t client_id, uint64_t txn_id) {
    Sb__SipMessage msg;
    Sb__SipPeer peer;
    char ip[64];
    if (!ch || !to_proto(c, m, &msg))
        return;
    peer_fill(c, src, &peer, ip, sizeof ip);
    Sb__SipResponseIn in = SB__SIP_RESPONSE_IN__INIT;
    in.client_id = client_id;
    in.txn_id = txn_id;
    in.msg = &msg;
    in.source = &peer;
    int rc = ipc_send_sip_response_in(ch, &in);
    if (rc < 0)
        log_ratelimited(LOG_WARN, "cannot pass a response to dialogd: %s", strerror(-rc));
}

/* A response sipd made for dialogd's request (timeout, no route): nothing on the wire. */
static void dialog_local_response(struct core *c, ipc_chan_t *ch, uint64_t client_id,
                                  uint64_t txn_id, int status, const char *reason,
                                  const char *method, const char *call_id, uint32_t cseq) {
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

/* The sipd instance named in a branch of ours (z9hG4bKsb<instance>x...), or -1. */
static int branch_owner(struct sipmsg_str b) {
    size_t n = sizeof CORE_BRANCH_PREFIX - 1, i = n;
    int v = 0;
    if (b.len <= n || memcmp(b.ptr, CORE_BRANCH_PREFIX, n) != 0)
        return -1;
    for (; i < b.len && i < n + 4 && b.ptr[i] >= '0' && b.ptr[i] <= '9'; i++)
        v = v * 10 + (b.ptr[i] - '0');
    return i > n && i < b.len && b.ptr[i] == 'x' ? v : -1;
}

/* Hands a datagram to the sipd instance that owns its transaction (SipForward). */
static void forward_to(struct core *c, int owner, const struct sipdest *src, const char *buf,
                       size_t len) {
    ipc_chan_t *ch = c->peers.sipd ? c->peers.sipd(c->peers.arg, owner) : NULL;
    if (!ch) {
        shm_count(c->slot, SHM_C_sip_rx_dropped, 1);
        log_ratelimited(LOG_WARN, "a response for sipd instance %d, which is not connected",
                        owner);
        return;
    }
    Sb__SipPeer peer;
    char ip[64];
    peer_fill(c, src, &peer, ip, sizeof ip);
    Sb__SipForward f = SB__SIP_FORWARD__INIT;
    f.data.data = (uint8_t *)buf;
    f.data.len = len;
    f.source = &peer;
    if (ipc_send_sip_forward(ch, &f) == 0)
        shm_count(c->slot, SHM_C_sip_forwarded, 1);
    else
        shm_count(c->slot, SHM_C_sip_rx_dropped, 1);
}

/* The UDP socket of ours for an address family, or -1. */
static int udp_index(const struct core *c, int family) {
    for (int i = 0; i < c->nudp; i++)
        if (c->udp_family[i] == family)
            return i;
    return -1;
}

/* How we name ourselves to a peer at addr through socket i (a wildcard bind asks the
 * routing table which local address reaches addr). */
static void local_for(const struct core *c, int i, const union sipdest_addr *to,
                      enum sipdest_transport transport, struct sipconv_local *l) {
    *l = c->udp_local[i];
    l->transport = transport;
    if (strcmp(l->host, "0.0.0.0") != 0 && strcmp(l->host, "::") != 0)
        return;
    int fd = socket(to->sa.sa_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    union sipdest_addr me;
    socklen_t len = sizeof me;
    socklen_t to_len = to->sa.sa_family == AF_INET6 ? sizeof to->sin6 : sizeof to->sin;
    int port;
    if (fd >= 0 && connect(fd, &to->sa, to_len) == 0 && getsockname(fd, &me.sa, &len) == 0)
        sipdest_addr_text(&me, l->host, sizeof l->host, &port);
    if (fd >= 0)
        close(fd);
}

/* Our name for the transport of t's responses. */
static void local_of_dest(const struct core *c, const struct sipdest *d, struct sipconv_local *l) {
    int i = -1;
    for (int k = 0; k < c->nudp; k++)
        if (c->udp[k] == d->udp)
            i = k;
    if (i < 0)
        i = udp_index(c, d->addr.sa.sa_family);
    if (i < 0) {
        memset(l, 0, sizeof *l);
        snprintf(l->host, sizeof l->host, "127.0.0.1");
        l->port = 5060;
        l->transport = d->transport;
        return;
    }
    local_for(c, i, &d->addr, d->transport, l);
}

static void on_sip_respond(struct core *c, const Sb__SipRespond *rs) {
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
                log_ratelimited(LOG_WARN, "dialogd changed the To tag of a transaction");
            else
                snprintf(t->to_tag, sizeof t->to_tag, "%s", msg->to_tag);
        }
    }
    struct sipconv_local local;
    local_of_dest(c, &t->dest, &local);
    struct sipmsg_out o = {c->extra, c->extra_cap, 0, false};
    const char *why = NULL;
    if (!sipconv_response_lines(msg, &local, &o, &why)) {
        log_ratelimited(LOG_WARN, "dialogd's %u answer unusable (%s): answering 500", msg->status,
                        why ? why : "too large");
        reply(c, t, 500, "Server Internal Error", NULL, 0);
        return;
    }
    reply_body(c, t, (int)msg->status, msg->reason && *msg->reason ? msg->reason : NULL, o.p,
               o.len, (const char *)msg->body.data, msg->body.len);
}

static void send_cancel(struct core *c, struct txn *invite) {
    invite->cancel_pending = false;
    if (!invite->request || sipmsg_parse(c->msg2, invite->request, invite->request_len, false) !=
                                SIPMSG_OK)
        return;
    int n = sipconv_derive(c->msg2, SIPMSG_M_CANCEL, NULL, c->out, c->out_cap);
    int kl = n > 0 ? txn_client_key(c->msg2->via.branch.ptr, c->msg2->via.branch.len, "CANCEL", 6,
                                    c->key2, c->key_cap)
                   : -1;
    if (kl < 0 || txn_find(c->txns, c->key2, (size_t)kl))
        return; /* cancelled already */
    struct txn *t =
        txn_client_new(c->txns, false, c->key2, (size_t)kl, &invite->dest, c->out, (size_t)n);
    if (t)
        t->user = c;
}

static void on_sip_cancel(struct core *c, const Sb__SipCancel *sc) {
    struct txn *t = txn_find_id(c->txns, sc->txn_id);
    if (!t || !t->client || !t->invite)
        return;
    if (t->state == TXN_TRYING) /* RFC 3261 9.1: not before a provisional response */
        t->cancel_pending = true;
    else if (t->state == TXN_PROCEEDING)
        send_cancel(c, t);
}

static void on_sip_send(struct core *c, ipc_chan_t *ch, const Sb__SipSendRequest *sr) {
    const Sb__SipMessage *msg = sr->msg;
    if (!msg || !msg->method) {
        dialog_local_response(c, ch, sr->client_id, 0, 400, "Bad request from dialogd", "", "", 0);
        return;
    }
    const char *why = "?";
    union sipdest_addr addr;
    socklen_t addr_len;
    enum sipdest_transport transport;
    int i = -1;
    if (sipconv_next_hop(msg, &addr, &addr_len, &transport, &why) < 0 ||
        (transport == SIPDEST_TCP && !c->tcp && (why = "no TCP listener")) ||
        ((i = udp_index(c, addr.sa.sa_family)) < 0 && (why = "no socket of that family"))) {
        log_ratelimited(LOG_INFO, "cannot send a %s: %s", msg->method, why);
        dialog_local_response(c, ch, sr->client_id, 0, 503, why, msg->method,
                              msg->call_id ? msg->call_id : "", msg->cseq);
        return;
    }
    struct sipconv_local local;
    local_for(c, i, &addr, transport, &local);
    if (transport == SIPDEST_TCP && c->tcp_port)
        local.port = c->tcp_port;
    char branch[64];
    uint64_t rnd = sb_mix64(c->tag_salt ^ ++c->branch_counter);
    snprintf(branch, sizeof branch, CORE_BRANCH_PREFIX "%dx%016llx", c->cfg.instance,
             (unsigned long long)rnd);
    int n = sipconv_request_build(msg, &local, branch, c->out, c->out_cap, &why);
    if (n < 0) {
        log_ratelimited(LOG_WARN, "dialogd's %s unusable: %s", msg->method,
                        n == -ENOSPC ? "too large" : why);
        dialog_local_response(c, ch, sr->client_id, 0, 500, "Request unusable", msg->method,
                              msg->call_id ? msg->call_id : "", msg->cseq);
        return;
    }
    struct sipdest dest = {.transport = SIPDEST_UDP, .udp = c->udp[i], .addr = addr,
                           .addr_len = addr_len};
    if (transport == SIPDEST_TCP) { /* RFC 3261 18.1.1: an open connection, or a new one */
        struct tcp_conn *conn = tcp_find(c->tcp, &addr);
        if (!conn)
            conn = tcp_connect(c->tcp, &addr, addr_len);
        if (!conn) {
            dialog_local_response(c, ch, sr->client_id, 0, 503, "No TCP connection",
                                  msg->method, msg->call_id ? msg->call_id : "", msg->cseq);
            return;
        }
        dest.transport = SIPDEST_TCP;
        dest.udp = NULL;
        dest.tcp = conn;
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
        dialog_local_response(c, ch, sr->client_id, 0, 500, "Out of memory", msg->method,
                              msg->call_id ? msg->call_id : "", msg->cseq);
        return;
    }
    t->user = c;
    t->tu = ch;
    t->tu_id = sr->client_id;
}

/* A response: to its client transaction, then (the first time) to dialogd. */
static void on_response(struct core *c, const sipmsg_t *m, const struct sipdest *src,
                        const char *buf, size_t len) {
    int owner = branch_owner(m->via.branch);
    if (owner >= 0 && owner != c->cfg.instance && !c->forwarded) {
        forward_to(c, owner, src, buf, len);
        return;
    }
    int kl = txn_client_key(m->via.branch.ptr, m->via.branch.len, m->cseq_method.ptr,
                            m->cseq_method.len, c->key, c->key_cap);
    struct txn *t = kl > 0 ? txn_find(c->txns, c->key, (size_t)kl) : NULL;
    if (!t || !t->client) {
        /* RFC 6026: a 2xx to an INVITE after its transaction: dialogd acknowledges it */
        if (owner >= 0 && m->method_id == SIPMSG_M_INVITE && m->status >= 200 && m->status < 300)
            dialog_response(c, dialog_for(c, m->call_id), m, src, 0, 0);
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
    ipc_chan_t *ch = t->tu ? t->tu : dialog_for(c, m->call_id);
    dialog_response(c, ch, m, src, t->tu_id, t->id);
}

/* ---------------------------------------------------------------- requests */

/* RFC 3261 9.2: CANCEL matches the INVITE transaction it cancels. */
static void on_cancel(struct core *c, const sipmsg_t *m, const struct sipdest *src, const char *key,
                      size_t key_len) {
    int ilen = txn_key(m, SIPMSG_M_INVITE, c->key2, c->key_cap);
    struct txn *invite = ilen > 0 ? txn_find(c->txns, c->key2, (size_t)ilen) : NULL;
    struct txn *t = txn_start(c, m, src, key, key_len, NULL, 0);
    if (!t)
        return;
    if (!invite) {
        reply(c, t, 481, NULL, NULL, 0);
        return;
    }
    reply(c, t, 200, NULL, NULL, 0);
    if (invite->state != TXN_PROCEEDING && invite->state != TXN_TRYING)
        return;
    /* dialogd cancels its B-leg, then answers 487 itself; without it, 487 now */
    if (!invite->tu || !dialog_request(c, invite->tu, m, src, invite->id))
        reply(c, invite, 487, NULL, NULL, 0);
}

/* An ACK that is no transaction's own: the ACK of a 2xx (RFC 3261 13.2.2.4). */
static void on_ack(struct core *c, const sipmsg_t *m, const struct sipdest *src) {
    int ml = txn_merge_key(m, SIPMSG_M_INVITE, c->key2, c->key_cap);
    struct txn *invite = ml > 0 ? txn_find_merged(c->txns, c->key2, (size_t)ml) : NULL;
    uint64_t id = 0;
    ipc_chan_t *ch = NULL;
    if (invite && !invite->client && invite->state == TXN_ACCEPTED) {
        if (!invite->acked) {
            txn_ack(c->txns, invite);
            id = invite->id;
        }
        ch = invite->tu;
    }
    if (!ch)
        ch = dialog_for(c, m->call_id);
    if (ch)
        dialog_request(c, ch, m, src, id);
}

/* A request for dialogd: in the transaction t, answered when dialogd says. */
static bool to_dialog(struct core *c, const sipmsg_t *m, const struct sipdest *src, struct txn *t) {
    ipc_chan_t *ch = dialog_for(c, m->call_id);
    if (!ch || !dialog_request(c, ch, m, src, t->id))
        return false;
    t->tu = ch;
    txn_guard(c->txns, t, t->invite ? CORE_INVITE_GUARD_MS : 32 * c->cfg.t1_ms);
    return true;
}

static uint64_t key_hash(const char *key, size_t len) {
    return sb_mix64(sb_hash64(key, len)) | 1; /* never 0 */
}

/* How long an index entry may outlive a crashed owner: longer than any transaction. */
static uint32_t index_ttl_s(const struct core *c, bool invite) {
    uint64_t ms = invite ? CORE_INVITE_GUARD_MS + 64 * c->cfg.t1_ms : 96 * c->cfg.t1_ms;
    uint64_t s = ms / 1000 + 10;
    return s > 30000 ? 30000 : (uint32_t)s;
}

/* A request this instance has no transaction for: true when another live sipd instance
 * owns it (the kernel spread sources anew after a maxproc change) and it was handed
 * over. Otherwise a new request claims its key (*hash, for the transaction to release). */
static bool owned_elsewhere(struct core *c, const sipmsg_t *m, const struct sipdest *src,
                            const char *key, size_t key_len, uint64_t *hash) {
    *hash = 0;
    if (!c->seg || c->forwarded || !c->peers.sipd)
        return false;
    unsigned owner = 0, me = (unsigned)c->cfg.instance & 0xff;
    uint32_t now = shm_now_s();
    if (m->method_id == SIPMSG_M_ACK || m->method_id == SIPMSG_M_CANCEL) {
        /* they belong with their INVITE (the ACK's key is the INVITE's already) */
        int n = m->method_id == SIPMSG_M_CANCEL
                    ? txn_key(m, SIPMSG_M_INVITE, c->key2, c->key_cap)
                    : (int)key_len;
        const char *k = m->method_id == SIPMSG_M_CANCEL ? c->key2 : key;
        if (n <= 0 || !shm_txn_owner(c->seg, key_hash(k, (size_t)n), now, &owner) || owner == me)
            return false;
    } else {
        uint64_t h = key_hash(key, key_len);
        int rc = shm_txn_claim(c->seg, h, me, now,
                               index_ttl_s(c, m->method_id == SIPMSG_M_INVITE), &owner);
        if (rc == 0)
            *hash = h;
        if (rc != 1)
            return false;
    }
    if (!c->peers.sipd(c->peers.arg, (int)owner))
        return false; /* its owner is gone: this instance serves it */
    forward_to(c, (int)owner, src, m->buf, m->len);
    return true;
}

static void on_request_in(struct core *c, const sipmsg_t *m, const struct sipdest *src) {
    int key_len = txn_key(m, SIPMSG_M_UNKNOWN, c->key, c->key_cap);
    if (key_len < 0)
        return;
    struct txn *t = txn_find(c->txns, c->key, (size_t)key_len);
    if (!t && owned_elsewhere(c, m, src, c->key, (size_t)key_len, &c->index_hash))
        return;
    if (m->method_id == SIPMSG_M_ACK) {
        /* RFC 3261 17.2.1: the ACK of a non-2xx; any other ACK is the TU's */
        if (t)
            txn_ack(c->txns, t);
        else
            on_ack(c, m, src);
        return;
    }
    if (t) {
        txn_request_again(c->txns, t);
        return;
    }
    if (c->draining) {
        shm_count(c->slot, SHM_C_sip_rx_dropped, 1);
        return;
    }
    if (m->method_id == SIPMSG_M_CANCEL) {
        on_cancel(c, m, src, c->key, (size_t)key_len);
        return;
    }
    struct sipmsg_verdict v;
    if (sipmsg_check(m, &v)) {
        t = txn_start(c, m, src, c->key, (size_t)key_len, NULL, 0);
        if (t)
            reply(c, t, v.status, v.reason, v.headers, v.headers_len);
        return;
    }
    int merge_len = -1;
    if (!m->has_to_tag || m->method_id == SIPMSG_M_INVITE) {
        /* RFC 3261 8.2.2.2: the same request again by another path (an INVITE's merge
         * key also finds it for the ACK of its 2xx) */
        merge_len = txn_merge_key(m, SIPMSG_M_UNKNOWN, c->key2, c->key_cap);
        if (!m->has_to_tag && merge_len > 0 &&
            txn_find_merged(c->txns, c->key2, (size_t)merge_len)) {
            t = txn_start(c, m, src, c->key, (size_t)key_len, NULL, 0);
            if (t)
                reply(c, t, 482, NULL, NULL, 0);
            return;
        }
    }
    t = txn_start(c, m, src, c->key, (size_t)key_len, merge_len > 0 ? c->key2 : NULL,
                  merge_len > 0 ? (size_t)merge_len : 0);
    if (!t)
        return;
    switch (m->method_id) {
    case SIPMSG_M_OPTIONS: {
        static const char caps[] = "Allow: " SIPMSG_ALLOW "\r\n"
                                   "Accept: " SIPMSG_ACCEPT "\r\n"
                                   "Supported: " SIPMSG_SUPPORTED "\r\n";
        reply(c, t, 200, NULL, caps, sizeof caps - 1);
        return;
    }
    case SIPMSG_M_REGISTER:
        register_relay(c, m, src, t);
        return;
    case SIPMSG_M_INVITE: {
        /* RFC 3261 17.2.1: 100 Trying at once, then dialogd decides */
        static const char retry[] = "Retry-After: " CORE_RETRY_AFTER_NO_CALLS "\r\n";
        reply(c, t, 100, NULL, NULL, 0);
        if (!to_dialog(c, m, src, t))
            reply(c, t, 503, "Call handling not available", retry, sizeof retry - 1);
        return;
    }
    case SIPMSG_M_BYE:    /* dialogs live in dialogd; without it there is nothing to end */
    case SIPMSG_M_UPDATE: /* RFC 3311: a new offer within a dialog */
    case SIPMSG_M_REFER:  /* RFC 3515: a transfer */
        if (!to_dialog(c, m, src, t))
            reply(c, t, 481, NULL, NULL, 0);
        return;
    default:
        reply(c, t, 500, NULL, NULL, 0);
        return;
    }
}

static void on_request(struct core *c, const sipmsg_t *m, const struct sipdest *src) {
    c->index_hash = 0;
    on_request_in(c, m, src);
    if (c->index_hash) { /* claimed, but no transaction came of it (draining, no memory) */
        shm_txn_release(c->seg, c->index_hash, (unsigned)c->cfg.instance);
        c->index_hash = 0;
    }
}

void core_on_message(void *arg, const struct sipdest *src, const char *buf, size_t len) {
    struct core *c = arg;
    sipmsg_t *m = c->msg;
    if (!c->forwarded) /* the instance that received it counted it */
        shm_sip_count(c->stats, SHM_RX, buf, len);
    switch (sipmsg_parse(m, buf, len, src->transport == SIPDEST_TCP)) {
    case SIPMSG_RESPONSE:
        shm_count(c->slot, SHM_C_sip_rx_responses, 1);
        on_response(c, m, src, buf, len);
        return;
    case SIPMSG_DROP:
        shm_count(c->slot, SHM_C_sip_rx_dropped, 1);
        log_debug("dropped a %zu-byte message that cannot be answered", len);
        return;
    case SIPMSG_REJECT:
        shm_count(c->slot, SHM_C_sip_rx_requests, 1);
        if (c->draining || sipmsg_str_ieq(m->method, "ACK")) {
            /* RFC 3261 17.1.1.3: an ACK is never answered, broken or not */
            shm_count(c->slot, SHM_C_sip_rx_dropped, 1);
            return;
        }
        log_debug("answering %d %s", m->error_status, m->error_reason);
        reply_stateless(c, m, src, m->error_status, m->error_reason);
        return;
    case SIPMSG_OK:
        shm_count(c->slot, SHM_C_sip_rx_requests, 1);
        on_request(c, m, src);
        return;
    }
}

/* ---------------------------------------------------------------- lifetime */

static void txn_send(void *arg, struct txn *t, const char *buf, size_t len) {
    struct core *c = arg;
    shm_sip_count(c->stats, SHM_TX, buf, len);
    int rc = sipdest_send(&t->dest, buf, len);
    if (rc < 0 && rc != -EPIPE)
        log_ratelimited(LOG_INFO, "sending a response: %s", strerror(-rc));
}

static void txn_send_request(void *arg, struct txn *t, const char *buf, size_t len) {
    struct core *c = arg;
    shm_sip_count(c->stats, SHM_TX, buf, len);
    int rc = sipdest_send(&t->dest, buf, len);
    if (rc < 0)
        log_ratelimited(LOG_INFO, "sending a request: %s", strerror(-rc));
}

static void txn_expired(void *arg, struct txn *t) {
    struct core *c = arg;
    if (!t->client) { /* dialogd did not answer in time */
        log_ratelimited(LOG_WARN, "dialogd did not answer a request in time: 408");
        reply(c, t, 408, "No answer from the call handler", NULL, 0);
        return;
    }
    if (!t->tu_id)
        return;
    /* RFC 3261 17.1.1.2 / 17.1.2.2: Timer B / F, a 408 for the TU */
    const char *method = "", *call_id = "";
    uint32_t cseq = 0;
    char mbuf[32], cbuf[256];
    if (t->request && sipmsg_parse(c->msg2, t->request, t->request_len, false) == SIPMSG_OK) {
        snprintf(mbuf, sizeof mbuf, "%.*s", (int)c->msg2->method.len, c->msg2->method.ptr);
        snprintf(cbuf, sizeof cbuf, "%.*s", (int)c->msg2->call_id.len, c->msg2->call_id.ptr);
        method = mbuf;
        call_id = cbuf;
        cseq = c->msg2->cseq;
    }
    ipc_chan_t *ch = t->tu ? t->tu : dialog_for(c, (struct sipmsg_str){call_id, strlen(call_id)});
    dialog_local_response(c, ch, t->tu_id, t->id, 408, "Request Timeout", method, call_id, cseq);
}

static void txn_ended(void *arg, struct txn *t) {
    struct core *c = arg;
    if (t->index_hash && c->seg)
        shm_txn_release(c->seg, t->index_hash, (unsigned)c->cfg.instance);
}

static void txn_ack_timeout(void *arg, struct txn *t) {
    struct core *c = arg;
    ipc_chan_t *ch = t->tu;
    if (!ch)
        return;
    Sb__SipTxnEvent ev = SB__SIP_TXN_EVENT__INIT;
    ev.txn_id = t->id;
    ev.kind = SB__SIP_TXN_EVENT_KIND__SIP_TXN_EVENT_ACK_TIMEOUT;
    (void)c;
    ipc_send_sip_txn_event(ch, &ev);
}

static void drain_timer_cb(uv_timer_t *h) {
    struct core *c = h->data;
    if (c->draining && txn_busy(c->txns) == 0 && c->drained) {
        void (*drained)(void *) = c->drained;
        c->drained = NULL;
        drained(c->drained_arg);
    }
}

static void txn_idle(void *arg) {
    struct core *c = arg;
    if (c->draining)
        uv_timer_start(&c->drain_timer, drain_timer_cb, 0, 0);
}

/* The per-message buffers (sized from sip_max_message). */
static void buffers_free(struct core *c) {
    sipmsg_free(c->msg);
    sipmsg_free(c->msg2);
    free(c->conv);
    free(c->key);
    free(c->key2);
    free(c->echo);
    free(c->out);
    free(c->extra);
}

static bool buffers_alloc(struct core *c, size_t max_message) {
    sipmsg_t *msg = sipmsg_new(max_message), *msg2 = sipmsg_new(max_message);
    size_t key_cap = max_message + 256, echo_cap = max_message + 2048;
    size_t out_cap = 2 * max_message + 4096, extra_cap = max_message + 1024;
    size_t conv_cap = 2 * max_message + 4096;
    char *key = malloc(key_cap), *key2 = malloc(key_cap), *echo = malloc(echo_cap);
    char *out = malloc(out_cap), *extra = malloc(extra_cap), *conv = malloc(conv_cap);
    if (!msg || !msg2 || !key || !key2 || !echo || !out || !extra || !conv) {
        sipmsg_free(msg);
        sipmsg_free(msg2);
        free(conv);
        free(key);
        free(key2);
        free(echo);
        free(out);
        free(extra);
        return false;
    }
    buffers_free(c);
    c->msg = msg;
    c->msg2 = msg2;
    c->conv = conv;
    c->conv_cap = conv_cap;
    c->key = key;
    c->key2 = key2;
    c->echo = echo;
    c->out = out;
    c->extra = extra;
    c->key_cap = key_cap;
    c->echo_cap = echo_cap;
    c->out_cap = out_cap;
    c->extra_cap = extra_cap;
    return true;
}

static void apply_config(struct core *c, const struct core_config *cfg) {
    c->cfg = *cfg;
    /* warn-agent = hostport / pseudonym (a token) */
    size_t n = 0;
    for (const char *p = cfg->server; *p && n + 1 < sizeof c->warn_agent; p++)
        if (isalnum((unsigned char)*p) || strchr("-.!%*_+`'~", *p))
            c->warn_agent[n++] = *p;
    if (n == 0)
        n = (size_t)snprintf(c->warn_agent, sizeof c->warn_agent, "sipd");
    c->warn_agent[n] = '\0';
    struct txn_timers timers = {cfg->t1_ms, cfg->t2_ms, cfg->t4_ms};
    if (c->txns)
        txn_table_set_timers(c->txns, &timers);
}

/* Frees the core's memory (its handles are closed or were never opened). */
static void core_release(struct core *c) {
    buffers_free(c);
    free(c);
}

struct core *core_new(uv_loop_t *loop, const struct core_config *cfg, struct shm_proc *slot,
                      const struct core_peers *peers) {
    struct core *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    if (!buffers_alloc(c, cfg->max_message)) {
        free(c);
        return NULL;
    }
    c->loop = loop;
    c->slot = slot;
    if (peers)
        c->peers = *peers;
    apply_config(c, cfg);
    /* tags and branches must not be guessable: no random bytes, no sipd (fail closed) */
    if (sb_random_u64(&c->tag_salt) < 0) {
        core_release(c);
        return NULL;
    }
    struct txn_timers timers = {cfg->t1_ms, cfg->t2_ms, cfg->t4_ms};
    struct txn_hooks hooks = {.send = txn_send,
                              .idle = txn_idle,
                              .send_request = txn_send_request,
                              .expired = txn_expired,
                              .ack_timeout = txn_ack_timeout,
                              .ended = txn_ended};
    c->txns = txn_table_new(loop, &timers, &hooks, c, slot, (uint64_t)(cfg->instance & 0xffffff)
                                                                << 40);
    if (!c->txns) {
        core_release(c);
        return NULL;
    }
    uv_timer_init(loop, &c->drain_timer);
    c->drain_timer.data = c;
    return c;
}

bool core_set_config(struct core *c, const struct core_config *cfg) {
    bool ok = true;
    struct core_config next = *cfg;
    if (cfg->max_message != c->cfg.max_message && !buffers_alloc(c, cfg->max_message)) {
        next.max_message = c->cfg.max_message;
        ok = false;
    }
    apply_config(c, &next);
    return ok;
}

void core_drain(struct core *c, void (*drained)(void *arg), void *arg) {
    c->draining = true;
    c->drained = drained;
    c->drained_arg = arg;
    uv_timer_start(&c->drain_timer, drain_timer_cb, 0, 0);
}

size_t core_transactions(const struct core *c) {
    return txn_count(c->txns);
}

static void core_closed(uv_handle_t *h) {
    core_release(h->data);
}

void core_free(struct core *c) {
    if (!c)
        return;
    txn_table_close(c->txns);
    c->txns = NULL;
    uv_close((uv_handle_t *)&c->drain_timer, core_closed);
}

void core_set_tcp(struct core *c, struct tcp_server *s, int port) {
    c->tcp = s;
    c->tcp_port = port;
}

void core_set_index(struct core *c, struct shm_seg *seg) {
    c->seg = seg;
    c->stats = shm_stats_of(seg, c->slot);
}

void core_add_udp(struct core *c, struct udp_sock *u, const union sipdest_addr *local) {
    if (c->nudp == CORE_MAX_UDP)
        return;
    struct sipconv_local *l = &c->udp_local[c->nudp];
    memset(l, 0, sizeof *l);
    if (sipdest_addr_text(local, l->host, sizeof l->host, &l->port) < 0)
        return;
    l->transport = SIPDEST_UDP;
    c->udp_family[c->nudp] = local->sa.sa_family;
    c->udp[c->nudp++] = u;
}

/* A datagram another instance received for one of our transactions. */
static void on_forward(struct core *c, const Sb__SipForward *f) {
    const Sb__SipPeer *p = f->source;
    struct sipdest src = {.transport = SIPDEST_UDP};
    if (!p || !p->addr || p->port == 0 || p->port > 65535 || !f->data.data)
        return;
    if (inet_pton(AF_INET, p->addr, &src.addr.sin.sin_addr) == 1) {
        src.addr.sin.sin_family = AF_INET;
        src.addr.sin.sin_port = htons((uint16_t)p->port);
        src.addr_len = sizeof src.addr.sin;
    } else if (inet_pton(AF_INET6, p->addr, &src.addr.sin6.sin6_addr) == 1) {
        src.addr.sin6.sin6_family = AF_INET6;
        src.addr.sin6.sin6_port = htons((uint16_t)p->port);
        src.addr_len = sizeof src.addr.sin6;
    } else {
        return;
    }
    int i = udp_index(c, src.addr.sa.sa_family);
    if (i < 0)
        return;
    src.udp = c->udp[i];
    shm_count(c->slot, SHM_C_sip_forward_received, 1);
    c->forwarded = true; /* never handed on again */
    core_on_message(c, &src, (const char *)f->data.data, f->data.len);
    c->forwarded = false;
}

bool core_on_envelope(struct core *c, ipc_chan_t *ch, Sb__Envelope *env) {
    switch (env->body_case) {
    case SB__ENVELOPE__BODY_SIP_RESPOND:
        if (env->sip_respond)
            on_sip_respond(c, env->sip_respond);
        return true;
    case SB__ENVELOPE__BODY_SIP_SEND_REQUEST:
        if (env->sip_send_request)
            on_sip_send(c, ch, env->sip_send_request);
        return true;
    case SB__ENVELOPE__BODY_SIP_CANCEL:
        if (env->sip_cancel)
            on_sip_cancel(c, env->sip_cancel);
        return true;
    case SB__ENVELOPE__BODY_SIP_TXN_EVENT: {
        /* dialogd saw the ACK of our 2xx arrive at another instance */
        struct txn *t = env->sip_txn_event ? txn_find_id(c->txns, env->sip_txn_event->txn_id)
                                           : NULL;
        if (t && env->sip_txn_event->kind == SB__SIP_TXN_EVENT_KIND__SIP_TXN_EVENT_ACKED &&
            t->state == TXN_ACCEPTED)
            txn_ack(c->txns, t);
        return true;
    }
    case SB__ENVELOPE__BODY_SIP_FORWARD:
        if (env->sip_forward)
            on_forward(c, env->sip_forward);
        return true;
    default:
        return false;
    }
}

struct closed_scan {
    ipc_chan_t *ch;
    struct txn **waiting;
    size_t n, cap;
};

static void closed_visit(void *arg, struct txn *t) {
    struct closed_scan *s = arg;
    if (t->tu != s->ch)
        return;
    t->tu = NULL;
    if (t->client || (t->state != TXN_TRYING && t->state != TXN_PROCEEDING))
        return;
    if (s->n == s->cap) {
        size_t cap = s->cap ? 2 * s->cap : 64;
        struct txn **w = realloc(s->waiting, cap * sizeof *w);
        if (!w)
            return;
        s->waiting = w;
        s->cap = cap;
    }
    txn_ref(t);
    s->waiting[s->n++] = t;
}

void core_peer_closed(struct core *c, ipc_chan_t *ch) {
    struct closed_scan s = {.ch = ch};
    txn_foreach(c->txns, closed_visit, &s);
    /* answered after the walk: an answer may end a transaction */
    static const char retry[] = "Retry-After: 5\r\n";
    for (size_t i = 0; i < s.n; i++) {
        reply(c, s.waiting[i], 503, "Call handler gone", retry, sizeof retry - 1);
        txn_unref(s.waiting[i]);
    }
    free(s.waiting);
}
