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
#include "core_dialog.h"
#include "core_int.h"
#include "core_local.h"
#include "core_auth.h"
#include "core_register.h"
#include "core_reply.h"
#include "natping.h"
#include "srclimit.h"
#include "proto/dialog.pb-c.h"
#include "sipconv.h"
#include "sipmsg.h"
#include "transaction.h"
#include "transport_udp.h"

/* ---------------------------------------------------------------- requests */

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
static bool owned_elsewhere(struct core *c, struct core_msg *cm, const char *key, size_t key_len) {
    const sipmsg_t *m = cm->m;
    cm->index_hash = 0;
    if (!c->seg || cm->forwarded || !c->peers.sipd)
        return false;
    unsigned owner = 0, me = (unsigned)c->cfg.instance & 0xff;
    uint32_t now = shm_now_s();
    if (m->method_id == SIPMSG_M_ACK || m->method_id == SIPMSG_M_CANCEL) {
        /* they belong with their INVITE (the ACK's key is the INVITE's already) */
        int n = m->method_id == SIPMSG_M_CANCEL ? txn_key(m, SIPMSG_M_INVITE, c->key2, c->key_cap)
                                                : (int)key_len;
        const char *k = m->method_id == SIPMSG_M_CANCEL ? c->key2 : key;
        if (n <= 0 || !shm_txn_owner(c->seg, key_hash(k, (size_t)n), now, &owner) || owner == me)
            return false;
    } else {
        uint64_t h = key_hash(key, key_len);
        int rc = shm_txn_claim(c->seg, h, me, now, index_ttl_s(c, m->method_id == SIPMSG_M_INVITE),
                               &owner);
        if (rc == 0)
            cm->index_hash = h;
        if (rc != 1)
            return false;
    }
    if (!c->peers.sipd(c->peers.arg, (int)owner))
        return false; /* its owner is gone: this instance serves it */
    core_local_forward(c, (int)owner, cm->src, m->buf, m->len);
    return true;
}

/* Whether a Via of m is one we wrote (core_local_via_is_ours). */
static bool looped(const struct core *c, const sipmsg_t *m) {
    struct sipmsg_via_iter it = {0, 0};
    struct sipmsg_via via;
    while (sipmsg_via_next(m, &it, &via))
        if (core_local_via_is_ours(c, &via))
            return true;
    return false;
}

static void on_request_in(struct core *c, struct core_msg *cm) {
    const sipmsg_t *m = cm->m;
    const struct sipdest *src = cm->src;
    int key_len = txn_key(m, SIPMSG_M_UNKNOWN, c->key, c->key_cap);
    if (key_len < 0)
        return;
    struct txn *t = txn_find(c->txns, c->key, (size_t)key_len);
    if (!t && owned_elsewhere(c, cm, c->key, (size_t)key_len))
        return;
    if (m->method_id == SIPMSG_M_ACK) {
        /* RFC 3261 17.2.1: the ACK of a non-2xx; any other ACK is the TU's */
        struct txn *invite = t ? NULL : core_dialog_invite_of_flow(c, m, src);
        if (invite && invite->state == TXN_COMPLETED)
            t = invite; /* its sent-by rewritten like its CANCEL's */
        if (t)
            txn_ack(c->txns, t);
        else if (!core_reply_acks_stateless(c, m))
            core_dialog_ack_in(c, m, src);
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
    /* a new request (retransmissions were absorbed above): the source's rate, then our
     * room for one more transaction */
    if (!cm->forwarded && !srclimit_admit(&c->srclimit, &src->addr,
                                          m->method_id == SIPMSG_M_INVITE))
        return;
    if (c->cfg.max_transactions && txn_count(c->txns) >= c->cfg.max_transactions &&
        m->method_id != SIPMSG_M_CANCEL) {
        shm_count(c->slot, SHM_C_sip_txn_refused, 1);
        log_ratelimited(LOG_WARN, "sip_max_transactions (%zu) reached: answering 503",
                        c->cfg.max_transactions);
        core_reply_stateless_retry(c, m, src, 503, "Too many transactions",
                                   CORE_RETRY_AFTER_OVERLOAD);
        return;
    }
    if (m->method_id == SIPMSG_M_CANCEL) {
        core_dialog_cancel_in(c, cm, c->key, (size_t)key_len);
        return;
    }
    struct sipmsg_verdict v;
    if (sipmsg_check(m, &v)) {
        t = core_txn_start(c, cm, c->key, (size_t)key_len, NULL, 0);
        if (t)
            core_reply(c, t, v.status, v.reason, v.headers, v.headers_len);
        return;
    }
    if (m->method_id == SIPMSG_M_INVITE && !m->has_to_tag && looped(c, m)) {
        /* RFC 3261 16.3 item 4 for a B2BUA: our own B-leg INVITE came back to us (a
         * contact or a route that names us); answering it would call ourselves again */
        t = core_txn_start(c, cm, c->key, (size_t)key_len, NULL, 0);
        if (t)
            core_reply(c, t, 482, "Loop Detected", NULL, 0);
        return;
    }
    int merge_len = -1;
    if (!m->has_to_tag || m->method_id == SIPMSG_M_INVITE) {
        /* RFC 3261 8.2.2.2: the same request again by another path (an INVITE's merge
         * key also finds it for the ACK of its 2xx) */
        merge_len = txn_merge_key(m, SIPMSG_M_UNKNOWN, c->key2, c->key_cap);
        if (!m->has_to_tag && merge_len > 0 &&
            txn_find_merged(c->txns, c->key2, (size_t)merge_len)) {
            t = core_txn_start(c, cm, c->key, (size_t)key_len, NULL, 0);
            if (t)
                core_reply(c, t, 482, NULL, NULL, 0);
            return;
        }
    }
    t = core_txn_start(c, cm, c->key, (size_t)key_len, merge_len > 0 ? c->key2 : NULL,
                       merge_len > 0 ? (size_t)merge_len : 0);
    if (!t)
        return;
    switch (m->method_id) {
    case SIPMSG_M_OPTIONS: {
        static const char caps[] = "Allow: " SIPMSG_ALLOW "\r\n"
                                   "Accept: " SIPMSG_ACCEPT "\r\n"
                                   "Supported: " SIPMSG_SUPPORTED "\r\n";
        core_reply(c, t, 200, NULL, caps, sizeof caps - 1);
        return;
    }
    case SIPMSG_M_REGISTER:
        if (core_auth_needed(c, m, src))
            core_auth_start(c, m, src, t); /* the registrar once authenticated */
        else
            core_register_relay(c, m, src, t);
        return;
    case SIPMSG_M_INVITE: {
        /* RFC 3261 17.2.1: 100 Trying at once, then dialogd decides */
        static const char retry[] = "Retry-After: " CORE_RETRY_AFTER_NO_CALLS "\r\n";
        core_reply(c, t, 100, NULL, NULL, 0);
        if (core_auth_needed(c, m, src)) {
            core_auth_start(c, m, src, t); /* dialogd once authenticated */
            return;
        }
        if (!core_dialog_request_in(c, m, src, t, NULL))
            core_reply(c, t, 503, "Call handling not available", retry, sizeof retry - 1);
        return;
    }
    case SIPMSG_M_BYE:    /* dialogs live in dialogd; without it there is nothing to end */
    case SIPMSG_M_UPDATE: /* RFC 3311: a new offer within a dialog */
    case SIPMSG_M_REFER:  /* RFC 3515: a transfer */
    case SIPMSG_M_INFO:   /* RFC 6086: relayed to the other leg */
        if (!core_dialog_request_in(c, m, src, t, NULL))
            core_reply(c, t, 481, NULL, NULL, 0);
        return;
    default:
        core_reply(c, t, 500, NULL, NULL, 0);
        return;
    }
}

static void on_request(struct core *c, struct core_msg *cm) {
    on_request_in(c, cm);
    if (cm->index_hash) /* claimed, but no transaction came of it (draining, no memory) */
        shm_txn_release(c->seg, cm->index_hash, (unsigned)c->cfg.instance);
}

/* One message off the wire, or (forwarded) from another instance that received it. */
static void dispatch(struct core *c, const struct sipdest *src, const char *buf, size_t len,
                     bool forwarded) {
    sipmsg_t *m = c->msg;
    struct core_msg cm = {.m = m, .src = src, .forwarded = forwarded, .index_hash = 0};
    if (!forwarded) { /* the instance that received it counted and checked it */
        shm_sip_count(c->stats, SHM_RX, buf, len);
        /* a blocked source's requests are dropped before they cost a parse */
        if ((len < 4 || memcmp(buf, "SIP/", 4) != 0) && srclimit_blocked(&c->srclimit, &src->addr))
            return;
    }
    if (core_auth_banned(c, src)) { /* before any other work, parsing included */
        shm_count(c->slot, SHM_C_sip_rx_dropped, 1);
        return;
    }
    switch (sipmsg_parse(m, buf, len, sipdest_is_stream(src->transport))) {
    case SIPMSG_RESPONSE:
        shm_count(c->slot, SHM_C_sip_rx_responses, 1);
        core_dialog_response_in(c, &cm, buf, len);
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
        if (log_get_level() <= LOG_DEBUG) {
            char call_id[LOG_CALL_ID_MAX + 1];
            log_call(LOG_DEBUG, core_call_id(m, call_id), "answering %d %s", m->error_status,
                     m->error_reason);
        }
        core_reply_stateless(c, m, src, m->error_status, m->error_reason);
        return;
    case SIPMSG_OK:
        shm_count(c->slot, SHM_C_sip_rx_requests, 1);
        on_request(c, &cm);
        return;
    }
}

void core_on_message(void *arg, const struct sipdest *src, const char *buf, size_t len) {
    dispatch(arg, src, buf, len, false);
}

/* ---------------------------------------------------------------- lifetime */

static void txn_send(void *arg, struct txn *t, const char *buf, size_t len) {
    struct core *c = arg;
    shm_sip_count(c->stats, SHM_TX, buf, len);
    int rc = sipdest_send(&t->dest, buf, len);
    if (rc < 0 && rc != -EPIPE)
        log_call_ratelimited(LOG_INFO, t->call_id, "sending a response: %s", strerror(-rc));
}

static void txn_send_request(void *arg, struct txn *t, const char *buf, size_t len) {
    struct core *c = arg;
    shm_sip_count(c->stats, SHM_TX, buf, len);
    int rc = sipdest_send(&t->dest, buf, len);
    if (rc < 0)
        log_call_ratelimited(LOG_INFO, t->call_id, "sending a request: %s", strerror(-rc));
}

static void txn_expired(void *arg, struct txn *t) {
    struct core *c = arg;
    if (!t->client) { /* dialogd did not answer in time */
        log_call_ratelimited(LOG_WARN, t->call_id, "dialogd did not answer a request in time: 408");
        core_reply(c, t, 408, "No answer from the call handler", NULL, 0);
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
    ipc_chan_t *ch =
        t->tu ? t->tu : core_dialog_for(c, (struct sipmsg_str){call_id, strlen(call_id)});
    core_dialog_local_response(c, ch, t->tu_id, t->id, 408, "Request Timeout", method, call_id,
                               cseq);
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
    c->srclimit.cfg = cfg->limits;
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
    if (c->natping)
        natping_configure(c->natping, cfg->nat_keepalive_ms, cfg->nat_keepalive_misses);
}

/* Frees the core's memory (its handles are closed or were never opened). */
static void core_release(struct core *c) {
    buffers_free(c);
    core_auth_free(c);
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
    c->txns =
        txn_table_new(loop, &timers, &hooks, c, slot, (uint64_t)(cfg->instance & 0xffffff) << 40);
    if (!c->txns) {
        core_release(c);
        return NULL;
    }
    c->natping =
        natping_new(c, cfg->nat_keepalive_ms, cfg->nat_keepalive_misses, core_register_unbind);
    if (!c->natping) {
        txn_table_close(c->txns);
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
    natping_free(c->natping);
    c->natping = NULL;
    uv_close((uv_handle_t *)&c->drain_timer, core_closed);
}

void core_set_tcp(struct core *c, struct tcp_server *s, int port, int tls_port) {
    c->tcp = s;
    c->tcp_port = port;
    c->tls_port = tls_port;
}

void core_set_index(struct core *c, struct shm_seg *seg) {
    c->seg = seg;
    c->stats = shm_stats_of(seg, c->slot);
    c->srclimit.table = seg ? &seg->pike : NULL;
    c->srclimit.slot = c->slot;
}

void core_add_udp(struct core *c, struct udp_sock *u) {
    int family = udp_bound(u)->sa.sa_family;
    if (c->nudp == CORE_MAX_UDP || (family != AF_INET && family != AF_INET6))
        return;
    c->udp_family[c->nudp] = family;
    c->udp[c->nudp++] = u;
}

/* A datagram another instance received for one of our transactions. */
static void on_forward(struct core *c, const Sb__SipForward *f) {
    const Sb__SipPeer *p = f->source;
    struct sipdest src = {.transport = SIPDEST_UDP};
    if (!p || !p->addr || p->port == 0 || p->port > 65535 || !f->data.data ||
        sipaddr_parse(p->addr, (int)p->port, &src.addr, &src.addr_len) < 0)
        return;
    /* the address the datagram was sent to: what answers it leaves from */
    if (p->local_addr && *p->local_addr && p->local_port <= 65535 &&
        sipaddr_parse(p->local_addr, (int)p->local_port, &src.local, NULL) < 0)
        memset(&src.local, 0, sizeof src.local);
    int i = core_local_udp_pick(c, src.addr.sa.sa_family, &src.local);
    if (i < 0)
        return;
    src.udp = c->udp[i];
    shm_count(c->slot, SHM_C_sip_forward_received, 1);
    dispatch(c, &src, (const char *)f->data.data, f->data.len, true); /* never handed on */
}

bool core_on_envelope(struct core *c, ipc_chan_t *ch, Sb__Envelope *env) {
    switch (env->body_case) {
    case SB__ENVELOPE__BODY_SIP_RESPOND:
        if (env->sip_respond)
            core_dialog_respond(c, env->sip_respond);
        return true;
    case SB__ENVELOPE__BODY_SIP_SEND_REQUEST:
        if (env->sip_send_request)
            core_dialog_send(c, ch, env->sip_send_request);
        return true;
    case SB__ENVELOPE__BODY_SIP_CANCEL:
        if (env->sip_cancel)
            core_dialog_cancel(c, env->sip_cancel);
        return true;
    case SB__ENVELOPE__BODY_SIP_TXN_EVENT: {
        /* dialogd saw the ACK of our 2xx arrive at another instance */
        struct txn *t =
            env->sip_txn_event ? txn_find_id(c->txns, env->sip_txn_event->txn_id) : NULL;
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
        core_reply(c, s.waiting[i], 503, "Call handler gone", retry, sizeof retry - 1);
        txn_unref(s.waiting[i]);
    }
    free(s.waiting);
}
