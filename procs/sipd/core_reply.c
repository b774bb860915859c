/* core_reply - see core_reply.h */
#include "core_reply.h"

#include <stdio.h>
#include <string.h>

#include "hash.h"
#include "log.h"

/* RFC 3261 19.3: a To tag of our own, the same for every copy of one request. */
static void make_to_tag_as(const struct core *c, const sipmsg_t *m, struct sipmsg_str method,
                           char *out, size_t outlen) {
    uint64_t h = SB_FNV64_BASIS ^ c->tag_salt;
    h = sb_hash64_from(h, m->call_id.ptr, m->call_id.len);
    h = sb_hash64_from(h, m->from_tag.ptr, m->from_tag.len);
    h = sb_hash64_from(h, m->via.branch.ptr, m->via.branch.len);
    h = sb_hash64_from(h, method.ptr, method.len);
    h ^= m->cseq;
    snprintf(out, outlen, "%016llx", (unsigned long long)sb_mix64(h));
}

static void make_to_tag(const struct core *c, const sipmsg_t *m, char *out, size_t outlen) {
    make_to_tag_as(c, m, m->method, out, outlen);
}

bool core_reply_acks_stateless(const struct core *c, const sipmsg_t *m) {
    /* RFC 3261 17.1.1.3: the ACK of a non-2xx carries the INVITE's branch and our To tag */
    static const char invite[] = "INVITE";
    char tag[24];
    if (!m->has_to_tag)
        return false;
    make_to_tag_as(c, m, (struct sipmsg_str){invite, sizeof invite - 1}, tag, sizeof tag);
    return m->to_tag.len == strlen(tag) && memcmp(m->to_tag.ptr, tag, m->to_tag.len) == 0;
}

/* RFC 3261 18.2.2 / RFC 3581 4: UDP answers go to the source address, at the source port
 * with rport, else at the sent-by port; TCP answers go back on the connection. */
static void reply_dest(const sipmsg_t *m, const struct sipdest *src, struct sipdest *dst) {
    *dst = *src;
    if (src->transport == SIPDEST_UDP && !m->via.rport)
        sipaddr_set_port(&dst->addr, m->via.port ? m->via.port : 5060);
}

static int echo_for(struct core *c, const sipmsg_t *m, const struct sipdest *src,
                    size_t *to_tag_at) {
    char ip[64];
    int port = 0;
    if (sipaddr_text(&src->addr, ip, sizeof ip, &port) < 0)
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
void core_reply_stateless(struct core *c, const sipmsg_t *m, const struct sipdest *src, int status,
                          const char *reason) {
    core_reply_stateless_retry(c, m, src, status, reason, 0);
}

void core_reply_stateless_retry(struct core *c, const sipmsg_t *m, const struct sipdest *src,
                                int status, const char *reason, unsigned retry_after_s) {
    size_t to_tag_at;
    int echo_len = echo_for(c, m, src, &to_tag_at);
    if (echo_len < 0)
        return;
    char tag[24], warning[200];
    make_to_tag(c, m, tag, sizeof tag);
    size_t warning_len = warning_line(c, reason, warning, sizeof warning);
    if (retry_after_s && warning_len) {
        int k = snprintf(warning + warning_len, sizeof warning - warning_len,
                         "Retry-After: %u\r\n", retry_after_s);
        if (k > 0 && (size_t)k < sizeof warning - warning_len)
            warning_len += (size_t)k;
    }
    struct sipmsg_response r = {
        .status = status,
        .reason = reason,
        .echo = c->echo,
        .echo_len = (size_t)echo_len,
        .to_tag_at = to_tag_at,
        .to_tag = tag,
        .server = c->cfg.server,
        .headers = warning,
        .headers_len = warning_len,
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
void core_reply_body(struct core *c, struct txn *t, int status, const char *reason,
                     const char *headers, size_t headers_len, const char *body, size_t body_len) {
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
        log_call_ratelimited(LOG_WARN, t->call_id,
                             "a %d response does not fit in %zu bytes; answering 500", status,
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
        log_call_ratelimited(LOG_ERROR, t->call_id, "out of memory keeping a response");
}

void core_reply(struct core *c, struct txn *t, int status, const char *reason, const char *headers,
                size_t headers_len) {
    core_reply_body(c, t, status, reason, headers, headers_len, NULL, 0);
}

void core_reply_warning(struct core *c, struct txn *t, int status, const char *reason,
                        const char *headers, size_t headers_len) {
    char lines[sizeof((struct sipmsg_verdict *)0)->headers + 160];
    size_t n = headers_len < sizeof lines ? headers_len : 0;
    if (n)
        memcpy(lines, headers, n);
    n += warning_line(c, reason, lines + n, sizeof lines - n);
    core_reply(c, t, status, reason, lines, n);
}

struct txn *core_txn_start(struct core *c, struct core_msg *cm, const char *key, size_t key_len,
                           const char *merge_key, size_t merge_len) {
    const sipmsg_t *m = cm->m;
    const struct sipdest *src = cm->src;
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
    t->source = src->addr;
    txn_set_call_id(t, m->call_id.ptr, m->call_id.len);
    t->index_hash = cm->index_hash;
    cm->index_hash = 0; /* the entry is the transaction's now */
    return t;
}
