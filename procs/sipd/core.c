/* core - see core.h */
#include "core.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "proto/sip.pb-c.h"
#include "sipmsg.h"
#include "transaction.h"

#define CORE_RETRY_AFTER_NO_ROUTER 5
#define CORE_RETRY_AFTER_NO_CALLS "60"

struct core {
    uv_loop_t *loop;
    uv_timer_t drain_timer; /* reports drained from the loop, not from a transaction */
    struct core_config cfg;
    char warn_agent[64]; /* Warning's warn-agent: the server name as a token */
    struct shm_proc *slot;
    core_router_pick_fn router_pick;
    void *router_arg;
    uint64_t router_counter;
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

static uint64_t hash64(uint64_t h, const char *s, size_t n) {
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211ULL; /* FNV-1a 64 */
    }
    return h;
}

static uint64_t mix64(uint64_t x) { /* splitmix64 finaliser */
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

/* RFC 3261 19.3: a To tag of our own, the same for every copy of one request. */
static void make_to_tag(const struct core *c, const sipmsg_t *m, char *out, size_t outlen) {
    uint64_t h = 14695981039346656037ULL ^ c->tag_salt;
    h = hash64(h, m->call_id.ptr, m->call_id.len);
    h = hash64(h, m->from_tag.ptr, m->from_tag.len);
    h = hash64(h, m->via.branch.ptr, m->via.branch.len);
    h = hash64(h, m->method.ptr, m->method.len);
    h ^= m->cseq;
    snprintf(out, outlen, "%016llx", (unsigned long long)mix64(h));
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
    sipdest_send(&dst, c->out, (size_t)n);
}

/* A response in transaction t; headers are extra lines (each ending in CRLF). */
static void reply(struct core *c, struct txn *t, int status, const char *reason,
                  const char *headers, size_t headers_len) {
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
    };
    int n = sipmsg_response_build(&r, c->out, c->out_cap);
    if (n < 0) {
        log_ratelimited(LOG_WARN, "a %d response does not fit in %zu bytes; answering 500", status,
                        c->out_cap);
        r.status = status = 500;
        r.reason = "Response too large";
        r.headers_len = 0;
        n = sipmsg_response_build(&r, c->out, c->out_cap);
        if (n < 0)
            return;
    }
    if (txn_respond(c->txns, t, status, c->out, (size_t)n) == -ENOMEM)
        log_ratelimited(LOG_ERROR, "out of memory keeping a response");
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
    ipc_chan_t *ch = c->router_pick ? c->router_pick(c->router_arg, c->router_counter++) : NULL;
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
    Sb__Envelope env = SB__ENVELOPE__INIT;
    env.body_case = SB__ENVELOPE__BODY_REGISTER_REQUEST;
    env.register_request = &rq;
    txn_ref(t);
    int rc = ipc_request(ch, &env, register_answered, t, c->cfg.register_timeout_ms);
    if (rc < 0) {
        txn_unref(t);
        log_ratelimited(LOG_WARN, "REGISTER answered 503: cannot send to routerd: %s",
                        strerror(-rc));
        reply(c, t, 503, "Registrar not available", retry, (size_t)retry_len);
    }
    /* The transaction stays in Trying, absorbing retransmissions, until routerd answers. */
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
    if (invite->state == TXN_PROCEEDING) /* not answered yet: 487 (RFC 3261 9.2) */
        reply(c, invite, 487, NULL, NULL, 0);
}

static void on_request(struct core *c, const sipmsg_t *m, const struct sipdest *src) {
    int key_len = txn_key(m, SIPMSG_M_UNKNOWN, c->key, c->key_cap);
    if (key_len < 0)
        return;
    struct txn *t = txn_find(c->txns, c->key, (size_t)key_len);
    if (m->method_id == SIPMSG_M_ACK) {
        /* RFC 3261 17.2.1: the ACK of a non-2xx; any other ACK matches nothing here */
        if (t)
            txn_ack(c->txns, t);
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
    if (!m->has_to_tag) {
        /* RFC 3261 8.2.2.2: the same request again by another path */
        merge_len = txn_merge_key(m, c->key2, c->key_cap);
        if (merge_len > 0 && txn_find_merged(c->txns, c->key2, (size_t)merge_len)) {
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
        /* RFC 3261 17.2.1: 100 Trying at once; calls wait for dialogd (a later issue) */
        static const char retry[] = "Retry-After: " CORE_RETRY_AFTER_NO_CALLS "\r\n";
        reply(c, t, 100, NULL, NULL, 0);
        reply(c, t, 503, "Call handling not available yet", retry, sizeof retry - 1);
        return;
    }
    case SIPMSG_M_BYE: /* no dialogs yet: nothing to end */
        reply(c, t, 481, NULL, NULL, 0);
        return;
    default:
        reply(c, t, 500, NULL, NULL, 0);
        return;
    }
}

void core_on_message(void *arg, const struct sipdest *src, const char *buf, size_t len) {
    struct core *c = arg;
    sipmsg_t *m = c->msg;
    switch (sipmsg_parse(m, buf, len, src->transport == SIPDEST_TCP)) {
    case SIPMSG_RESPONSE:
        /* no client transactions yet: nothing can match */
        shm_count(c->slot, SHM_C_sip_rx_responses, 1);
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
    (void)arg;
    int rc = sipdest_send(&t->dest, buf, len);
    if (rc < 0 && rc != -EPIPE)
        log_ratelimited(LOG_INFO, "sending a response: %s", strerror(-rc));
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
    free(c->key);
    free(c->key2);
    free(c->echo);
    free(c->out);
    free(c->extra);
}

static bool buffers_alloc(struct core *c, size_t max_message) {
    sipmsg_t *msg = sipmsg_new(max_message);
    size_t key_cap = max_message + 256, echo_cap = max_message + 2048;
    size_t out_cap = 2 * max_message + 4096, extra_cap = max_message + 1024;
    char *key = malloc(key_cap), *key2 = malloc(key_cap), *echo = malloc(echo_cap);
    char *out = malloc(out_cap), *extra = malloc(extra_cap);
    if (!msg || !key || !key2 || !echo || !out || !extra) {
        sipmsg_free(msg);
        free(key);
        free(key2);
        free(echo);
        free(out);
        free(extra);
        return false;
    }
    buffers_free(c);
    c->msg = msg;
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
                      core_router_pick_fn router_pick, void *router_arg) {
    struct core *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    if (!buffers_alloc(c, cfg->max_message)) {
        free(c);
        return NULL;
    }
    c->loop = loop;
    c->slot = slot;
    c->router_pick = router_pick;
    c->router_arg = router_arg;
    apply_config(c, cfg);
    if (getrandom(&c->tag_salt, sizeof c->tag_salt, GRND_NONBLOCK) != sizeof c->tag_salt)
        c->tag_salt = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32) ^ (uintptr_t)c;
    struct txn_timers timers = {cfg->t1_ms, cfg->t2_ms, cfg->t4_ms};
    struct txn_hooks hooks = {.send = txn_send, .idle = txn_idle};
    c->txns = txn_table_new(loop, &timers, &hooks, c, slot);
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
