/* core_register - see core_register.h */
#include "core_register.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core_local.h"
#include "core_reply.h"
#include "sipuri.h"
#include "log.h"
#include "proto/sip.pb-c.h"

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

/* A REGISTER waiting for routerd: its transaction, what its 200 says beyond the
 * bindings (RFC 5626 6 Require: outbound, RFC 3327 5.3 the Path echoed) and its AOR. */
struct register_wait {
    struct txn *t;
    bool outbound;
    char *path; /* "Path: ...\r\n" lines to echo, NULL none (in this block) */
    char aor[];
};

/* ;reg-id and ;+sip.instance of an outbound binding (RFC 5626 6: the 200 lists them). */
static void put_outbound_params(struct sipmsg_out *o, const Sb__Binding *b) {
    if (!b->reg_id || !b->instance || !b->instance[0])
        return;
    sipmsg_out_printf(o, ";reg-id=%u;+sip.instance=\"%s\"", b->reg_id, b->instance);
}

static void register_answered(ipc_chan_t *ch, Sb__Envelope *env, void *arg) {
    struct register_wait *rw = arg;
    struct txn *t = rw->t;
    (void)ch;
    if (t->state != TXN_TRYING) { /* ended meanwhile (sipd stopping) */
        txn_unref(t);
        free(rw);
        return;
    }
    struct core *c = t->user;
    struct sipmsg_out o = {c->extra, c->extra_cap, 0, false};
    const Sb__RegisterReply *rr =
        env && env->body_case == SB__ENVELOPE__BODY_REGISTER_REPLY ? env->register_reply : NULL;
    if (!rr) {
        if (env && env->body_case == SB__ENVELOPE__BODY_ERROR && env->error)
            log_call_ratelimited(LOG_WARN, t->call_id, "routerd refused a REGISTER: %s",
                                 env->error->message ? env->error->message : "?");
        else if (!env)
            log_call_ratelimited(LOG_WARN, t->call_id,
                                 "no answer from routerd to a REGISTER in %u ms",
                                 c->cfg.register_timeout_ms);
        sipmsg_out_printf(&o, "Retry-After: %d\r\n", CORE_RETRY_AFTER_NO_ROUTER);
        core_reply(c, t, 503, "Registrar not available", o.p, o.len);
        txn_unref(t);
        free(rw);
        return;
    }
    int status = rr->status >= 200 && rr->status <= 699 ? (int)rr->status : 500;
    const char *reason = rr->reason && rr->reason[0] ? rr->reason : NULL;
    if (status == 200) {
        natping_sync(c->natping, rw->aor, rr->bindings, rr->n_bindings);
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
            put_outbound_params(&o, b);
            sipmsg_out_put(&o, "\r\n", 2);
        }
        if (rw->outbound) {
            sipmsg_out_puts(&o, "Require: outbound\r\n");
            if (c->cfg.nat_keepalive_ms >= 1000) /* RFC 5626 4.4.1: our keepalive interval */
                sipmsg_out_printf(&o, "Flow-Timer: %llu\r\n",
                                  (unsigned long long)(c->cfg.nat_keepalive_ms / 1000));
        }
        if (rw->path)
            sipmsg_out_puts(&o, rw->path);
        put_date(&o);
    } else if (status == 423) {
        sipmsg_out_printf(&o, "Min-Expires: %u\r\n", rr->min_expires);
    } else if (status == 503) {
        sipmsg_out_printf(&o, "Retry-After: %u\r\n",
                          rr->retry_after ? rr->retry_after : CORE_RETRY_AFTER_NO_ROUTER);
    }
    if (o.full) {
        log_call_ratelimited(LOG_WARN, t->call_id,
                             "REGISTER answer over %zu bytes of header fields", o.cap);
        status = 500;
        reason = "Too many bindings";
        o.len = 0;
    }
    core_reply(c, t, status, reason, o.p, o.len);
    txn_unref(t);
    free(rw);
}

/* Why contact k of reg may not be bound (contact_rule.h), or NULL. A removal (expires 0)
 * is never refused; a host name is not judged (sipd sends only to numeric addresses). */
static const char *contact_refused(const struct core *c, const sipmsg_t *m,
                                   const struct sipmsg_contact *k, const struct sipdest *src) {
    long long expires = k->expires >= 0 ? k->expires : m->expires;
    struct sipuri u;
    union sipaddr a;
    if (expires == 0 || sipuri_parse(k->uri.ptr, k->uri.len, &u) < 0)
        return NULL; /* a URI sipmsg_register_read took: routerd stores it as given */
    int port = u.port ? u.port : u.sips ? 5061 : 5060;
    bool us = core_local_is_us(c, u.host, port);
    if (sipaddr_parse(u.host, port, &a, NULL) < 0)
        return us ? "Contact names this server" : NULL;
    return contact_rule_refusal(&a, us, &src->addr, &c->cfg.contact_allow);
}

/* NUL-terminated copy of s in the scratch o (protobuf-c strings are C strings). */
static char *scratch_str(struct sipmsg_out *o, struct sipmsg_str s) {
    size_t at = o->len;
    sipmsg_out_put(o, s.ptr, s.len);
    sipmsg_out_put(o, "", 1);
    return o->full ? NULL : o->p + at;
}

void core_register_relay(struct core *c, const sipmsg_t *m, const struct sipdest *src,
                         struct txn *t) {
    struct sipmsg_register reg;
    struct sipmsg_verdict v;
    char aor[512];
    if (!sipmsg_register_read(m, c->cfg.domains, &reg, aor, sizeof aor, &v)) {
        core_reply_warning(c, t, v.status, v.reason, v.headers, v.headers_len);
        return;
    }
    for (size_t i = 0; i < reg.ncontacts; i++) {
        const char *why = contact_refused(c, m, &reg.contacts[i], src);
        if (why) {
            log_call_ratelimited(LOG_INFO, t->call_id, "REGISTER of %s refused: %s", aor, why);
            core_reply(c, t, 403, why, NULL, 0);
            return;
        }
    }
    char retry[32];
    int retry_len =
        snprintf(retry, sizeof retry, "Retry-After: %d\r\n", CORE_RETRY_AFTER_NO_ROUTER);
    ipc_chan_t *ch = c->peers.router ? c->peers.router(c->peers.arg, c->router_counter++) : NULL;
    if (!ch) {
        log_call_ratelimited(LOG_WARN, t->call_id, "REGISTER answered 503: no routerd connected");
        core_reply(c, t, 503, "Registrar not available", retry, (size_t)retry_len);
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
        specs[i].reg_id = reg.contacts[i].reg_id;
        if (reg.contacts[i].instance.len)
            specs[i].instance = scratch_str(&scratch, reg.contacts[i].instance);
        spec_ptrs[i] = &specs[i];
    }
    char *paths[SIPMSG_MAX_PATH];
    size_t path_echo = 0; /* bytes of "Path: V\r\n" lines */
    for (size_t i = 0; i < reg.npath; i++) {
        paths[i] = scratch_str(&scratch, reg.path[i]);
        path_echo += reg.path[i].len + 8;
    }
    Sb__SipPeer peer;
    struct core_peer_text txt;
    core_local_peer(c, src, m, &peer, &txt);
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
    rq.n_path = reg.npath;
    rq.path = paths;
    if (scratch.full) {
        core_reply_warning(c, t, 400, "REGISTER too large", NULL, 0);
        return;
    }
    size_t al = strlen(aor);
    bool echo = reg.path_supported && reg.npath;
    struct register_wait *rw = malloc(sizeof *rw + al + 1 + (echo ? path_echo + 1 : 0));
    if (!rw) {
        core_reply(c, t, 500, NULL, NULL, 0);
        return;
    }
    rw->t = t;
    rw->outbound = reg.outbound;
    memcpy(rw->aor, aor, al + 1);
    rw->path = NULL;
    if (echo) { /* RFC 3327 5.3: the 200 carries the Path as stored */
        struct sipmsg_out po = {rw->aor + al + 1, path_echo + 1, 0, false};
        for (size_t i = 0; i < reg.npath; i++)
            sipmsg_out_printf(&po, "Path: %s\r\n", paths[i]);
        po.p[po.full ? 0 : po.len] = '\0';
        rw->path = po.p;
    }
    txn_ref(t);
    int rc =
        ipc_request_register_request(ch, &rq, register_answered, rw, c->cfg.register_timeout_ms);
    if (rc < 0) {
        txn_unref(t);
        free(rw);
        log_call_ratelimited(LOG_WARN, t->call_id,
                             "REGISTER answered 503: cannot send to routerd: %s", strerror(-rc));
        core_reply(c, t, 503, "Registrar not available", retry, (size_t)retry_len);
    }
    /* The transaction stays in Trying, absorbing retransmissions, until routerd answers. */
}

static void unbind_answered(ipc_chan_t *ch, Sb__Envelope *env, void *arg) {
    (void)ch;
    (void)arg;
    const Sb__RegisterReply *rr =
        env && env->body_case == SB__ENVELOPE__BODY_REGISTER_REPLY ? env->register_reply : NULL;
    if (!rr || rr->status != 200)
        log_ratelimited(LOG_WARN, "a binding that stopped answering keepalives stays: %s",
                        rr ? "routerd refused its removal" : "no answer from routerd");
}

void core_register_unbind(struct core *c, const struct natping_gone *g) {
    ipc_chan_t *ch = c->peers.router ? c->peers.router(c->peers.arg, c->router_counter++) : NULL;
    if (!ch)
        return;
    Sb__ContactSpec spec = SB__CONTACT_SPEC__INIT, *specs[1] = {&spec};
    spec.uri = (char *)g->uri;
    spec.expires = 0;
    spec.q = -1;
    spec.instance = (char *)(g->instance ? g->instance : ""); /* an outbound binding's key */
    spec.reg_id = g->reg_id;
    Sb__SipPeer peer = SB__SIP_PEER__INIT;
    peer.transport = "udp";
    peer.addr = (char *)(g->addr ? g->addr : "");
    peer.port = g->port;
    peer.sipd_instance = (uint32_t)c->cfg.instance;
    Sb__RegisterRequest rq = SB__REGISTER_REQUEST__INIT;
    rq.aor = (char *)g->aor;
    rq.call_id = (char *)g->call_id;
    rq.cseq = g->cseq + 1;
    rq.n_contacts = 1;
    rq.contacts = specs;
    rq.expires = -1;
    rq.user_agent = "";
    rq.source = &peer;
    rq.flow_gone = g->addr && *g->addr; /* only while it is still on this flow */
    ipc_request_register_request(ch, &rq, unbind_answered, NULL, c->cfg.register_timeout_ms);
}
