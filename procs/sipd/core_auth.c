/* core_auth - see core_auth.h */
#include "core_auth.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <osipparser2/headers/osip_authorization.h>
#include <osipparser2/osip_port.h>

#include "core_dialog.h"
#include "core_register.h"
#include "core_reply.h"
#include "log.h"
#include "netacl.h"
#include "sipaddr.h"
#include "sipuri.h"
#include "proto/envelope_send.h"

#define AUTH_MAX_CREDENTIALS 4
#define AUTH_BAN_PROBES 8 /* slots looked at from an address's hash */

struct core_ban {
    uint8_t ip[16];    /* IPv4 as ::ffff:a.b.c.d */
    uint64_t until_ms; /* loop time; 0: free */
};

struct core_bans {
    struct core_ban e[CORE_AUTH_BANS];
};

static void ban_key(const union sipaddr *a, uint8_t ip[16]) {
    memset(ip, 0, 16);
    if (a->sa.sa_family == AF_INET) {
        ip[10] = ip[11] = 0xff;
        memcpy(ip + 12, &a->sin.sin_addr, 4);
    } else if (a->sa.sa_family == AF_INET6) {
        memcpy(ip, &a->sin6.sin6_addr, 16);
    }
}

static size_t ban_slot(const uint8_t ip[16]) {
    uint32_t h = 2166136261u; /* FNV-1a */
    for (int i = 0; i < 16; i++)
        h = (h ^ ip[i]) * 16777619u;
    return h % CORE_AUTH_BANS;
}

bool core_auth_banned(struct core *c, const struct sipdest *src) {
    if (!c->bans)
        return false;
    uint8_t ip[16];
    ban_key(&src->addr, ip);
    uint64_t now = uv_now(c->loop);
    size_t s = ban_slot(ip);
    for (int i = 0; i < AUTH_BAN_PROBES; i++) {
        const struct core_ban *b = &c->bans->e[(s + (size_t)i) % CORE_AUTH_BANS];
        if (b->until_ms > now && memcmp(b->ip, ip, 16) == 0)
            return true;
    }
    return false;
}

/* Remembers src as banned for ms (at most CORE_AUTH_BAN_CACHE_MS): a free or expired slot
 * near its hash, else the one that ends first. */
static void ban_remember(struct core *c, const struct sipdest *src, uint32_t ms) {
    if (!c->bans && !(c->bans = calloc(1, sizeof *c->bans)))
        return;
    uint8_t ip[16];
    ban_key(&src->addr, ip);
    uint64_t now = uv_now(c->loop);
    size_t s = ban_slot(ip);
    struct core_ban *pick = NULL;
    for (int i = 0; i < AUTH_BAN_PROBES; i++) {
        struct core_ban *b = &c->bans->e[(s + (size_t)i) % CORE_AUTH_BANS];
        if (memcmp(b->ip, ip, 16) == 0 || b->until_ms <= now) {
            pick = b;
            break;
        }
        if (!pick || b->until_ms < pick->until_ms)
            pick = b;
    }
    memcpy(pick->ip, ip, 16);
    pick->until_ms = now + (ms < CORE_AUTH_BAN_CACHE_MS ? ms : CORE_AUTH_BAN_CACHE_MS);
}

void core_auth_free(struct core *c) {
    free(c->bans);
    c->bans = NULL;
}

/* A request held until routerd answers. */
struct auth_wait {
    struct core *c;
    struct txn *t;
    struct sipdest src; /* held */
    bool stream;
    size_t len;
    char buf[];
};

bool core_auth_needed(const struct core *c, const sipmsg_t *m, const struct sipdest *src) {
    if (!c->cfg.auth)
        return false;
    if (m->method_id != SIPMSG_M_REGISTER && !(m->method_id == SIPMSG_M_INVITE && !m->has_to_tag))
        return false;
    return !netacl_match(&c->cfg.trusted, &src->addr.sa);
}

/* The user and host of the URI in header id (From, To): false when unreadable. */
static bool header_user(const sipmsg_t *m, enum sipmsg_hdr id, char *user, size_t ucap, char *host,
                        size_t hcap) {
    struct sipmsg_str display, uri;
    struct sipuri u;
    if (!sipmsg_name_addr(sipmsg_header_value(m, id), &display, &uri) ||
        sipuri_parse(uri.ptr, uri.len, &u) < 0 || u.user_len >= ucap)
        return false;
    memcpy(user, u.user ? u.user : "", u.user_len);
    user[u.user_len] = '\0';
    snprintf(host, hcap, "%s", u.host);
    return true;
}

/* s without the quotes of a quoted-string (in place). */
static char *unquote(char *s) {
    if (!s)
        return NULL;
    size_t n = strlen(s);
    if (n >= 2 && s[0] == '"' && s[n - 1] == '"') {
        s[n - 1] = '\0';
        return s + 1;
    }
    return s;
}

static void auth_wait_end(struct auth_wait *aw) {
    sipdest_release(&aw->src);
    txn_unref(aw->t);
    free(aw);
}

/* The challenge headers of a 401/407: one per algorithm, routerd's order. */
static void put_challenges(struct sipmsg_out *o, const Sb__AuthReply *ar, bool proxy) {
    for (size_t i = 0; i < ar->n_algorithms; i++) {
        sipmsg_out_printf(
            o, "%s: Digest realm=\"%s\", nonce=\"%s\", algorithm=%s, qop=\"auth\"%s\r\n",
            proxy ? "Proxy-Authenticate" : "WWW-Authenticate", ar->realm ? ar->realm : "",
            ar->nonce ? ar->nonce : "", ar->algorithms[i] ? ar->algorithms[i] : "MD5",
            ar->stale ? ", stale=true" : "");
    }
}

static void auth_answered(ipc_chan_t *ch, Sb__Envelope *env, void *arg) {
    (void)ch;
    struct auth_wait *aw = arg;
    struct txn *t = aw->t;
    struct core *c = aw->c;
    if (t->state != TXN_TRYING && t->state != TXN_PROCEEDING) { /* ended meanwhile */
        auth_wait_end(aw);
        return;
    }
    const Sb__AuthReply *ar =
        env && env->body_case == SB__ENVELOPE__BODY_AUTH_REPLY ? env->auth_reply : NULL;
    if (!ar) {
        log_call_ratelimited(LOG_WARN, t->call_id, "no answer from routerd to authenticate: 503");
        static const char retry[] = "Retry-After: 5\r\n";
        core_reply(c, t, 503, "Authentication not available", retry, sizeof retry - 1);
        auth_wait_end(aw);
        return;
    }
    bool proxy = t->invite;
    if (ar->status == 200) {
        sipmsg_t *m = c->msg; /* not in use: this is a callback, not a dispatch */
        if (sipmsg_parse(m, aw->buf, aw->len, aw->stream) != SIPMSG_OK) {
            core_reply(c, t, 500, NULL, NULL, 0);
        } else if (m->method_id == SIPMSG_M_REGISTER) {
            core_register_relay(c, m, &aw->src, t);
        } else if (!core_dialog_request_in(c, m, &aw->src, t, ar->user)) {
            static const char retry[] = "Retry-After: " CORE_RETRY_AFTER_NO_CALLS "\r\n";
            core_reply(c, t, 503, "Call handling not available", retry, sizeof retry - 1);
        }
        auth_wait_end(aw);
        return;
    }
    if (ar->status == 401 || ar->status == 407) {
        struct sipmsg_out o = {c->extra, c->extra_cap, 0, false};
        put_challenges(&o, ar, proxy);
        if (o.full)
            core_reply(c, t, 500, NULL, NULL, 0);
        else
            core_reply(c, t, proxy ? 407 : 401,
                       proxy ? "Proxy Authentication Required" : "Unauthorized", o.p, o.len);
    } else if (ar->status == 403 && ar->banned_ms > 0) {
        ban_remember(c, &aw->src, ar->banned_ms);
        core_reply(c, t, 403, NULL, NULL, 0);
    } else if (ar->status == 503) {
        static const char retry[] = "Retry-After: 5\r\n";
        core_reply(c, t, 503, "Authentication not available", retry, sizeof retry - 1);
    } else {
        int status = ar->status >= 400 && ar->status <= 699 ? (int)ar->status : 500;
        core_reply(c, t, status, ar->reason && *ar->reason ? ar->reason : NULL, NULL, 0);
    }
    auth_wait_end(aw);
}

void core_auth_start(struct core *c, const sipmsg_t *m, const struct sipdest *src, struct txn *t) {
    bool proxy = m->method_id == SIPMSG_M_INVITE;
    char user[256], host[SIPURI_MAX_HOST];
    if (!header_user(m, proxy ? SIPMSG_H_FROM : SIPMSG_H_TO, user, sizeof user, host,
                     sizeof host)) {
        core_reply_warning(c, t, 400, proxy ? "Bad From URI" : "Bad To URI", NULL, 0);
        return;
    }
    bool ours = domains_ours(c->cfg.domains, host, strlen(host));
    if (!proxy && !ours) { /* a REGISTER for a domain we do not serve */
        core_reply(c, t, 403, "Domain not served", NULL, 0);
        return;
    }
    ipc_chan_t *ch = c->peers.router ? c->peers.router(c->peers.arg, c->router_counter++) : NULL;
    if (!ch) {
        static const char retry[] = "Retry-After: 5\r\n";
        log_call_ratelimited(LOG_WARN, t->call_id, "authentication answered 503: no routerd");
        core_reply(c, t, 503, "Authentication not available", retry, sizeof retry - 1);
        return;
    }
    /* the credentials for the challenge this method gets */
    osip_authorization_t *parsed[AUTH_MAX_CREDENTIALS];
    Sb__DigestCredentials creds[AUTH_MAX_CREDENTIALS], *cred_ptrs[AUTH_MAX_CREDENTIALS];
    size_t n = 0;
    const char *want = proxy ? "Proxy-Authorization" : "Authorization";
    for (unsigned i = 0; i < m->nheaders && n < AUTH_MAX_CREDENTIALS; i++) {
        const struct sipmsg_header *h = &m->headers[i];
        if (h->id != SIPMSG_H_OTHER || !sipmsg_str_ieq(h->name, want))
            continue;
        osip_authorization_t *a = NULL;
        if (osip_authorization_init(&a) != 0)
            break;
        if (osip_authorization_parse(a, h->value.ptr) != 0 || !a->auth_type ||
            strcasecmp(a->auth_type, "Digest") != 0) {
            osip_authorization_free(a);
            continue;
        }
        parsed[n] = a;
        Sb__DigestCredentials *d = &creds[n];
        sb__digest_credentials__init(d);
        d->username = unquote(a->username);
        d->realm = unquote(a->realm);
        d->nonce = unquote(a->nonce);
        d->uri = unquote(a->uri);
        d->response = unquote(a->response);
        d->algorithm = unquote(a->algorithm);
        d->cnonce = unquote(a->cnonce);
        d->qop = unquote(a->message_qop);
        d->nc = unquote(a->nonce_count);
        char **fields[] = {&d->username,  &d->realm,  &d->nonce, &d->uri, &d->response,
                           &d->algorithm, &d->cnonce, &d->qop,   &d->nc};
        for (size_t k = 0; k < sizeof fields / sizeof fields[0]; k++)
            if (!*fields[k])
                *fields[k] = "";
        cred_ptrs[n] = d;
        n++;
    }
    char ip[64], method[32], ruri[SIPURI_MAX_TEXT + 1], call_id[LOG_CALL_ID_MAX + 1];
    int port = 0;
    if (sipaddr_text(&src->addr, ip, sizeof ip, &port) < 0)
        ip[0] = '\0';
    snprintf(method, sizeof method, "%.*s", (int)m->method.len, m->method.ptr);
    size_t ul = m->uri.len < SIPURI_MAX_TEXT ? m->uri.len : SIPURI_MAX_TEXT;
    memcpy(ruri, m->uri.ptr, ul);
    ruri[ul] = '\0';
    Sb__AuthRequest rq = SB__AUTH_REQUEST__INIT;
    rq.method = method;
    rq.request_uri = ruri;
    rq.source_addr = ip;
    rq.user = ours ? user : ""; /* a From of another domain is nobody we can authenticate */
    rq.proxy = proxy;
    rq.n_credentials = n;
    rq.credentials = cred_ptrs;
    rq.call_id = (char *)core_call_id(m, call_id);
    struct auth_wait *aw = malloc(sizeof *aw + m->len);
    int rc = -ENOMEM;
    if (aw) {
        aw->c = c;
        aw->t = t;
        aw->src = *src;
        sipdest_hold(&aw->src);
        aw->stream = src->transport == SIPDEST_TCP;
        aw->len = m->len;
        memcpy(aw->buf, m->buf, m->len);
        txn_ref(t);
        rc = ipc_request_auth_request(ch, &rq, auth_answered, aw, c->cfg.register_timeout_ms);
        if (rc < 0)
            auth_wait_end(aw);
    }
    for (size_t i = 0; i < n; i++)
        osip_authorization_free(parsed[i]);
    if (rc < 0) {
        static const char retry[] = "Retry-After: 5\r\n";
        log_call_ratelimited(LOG_WARN, t->call_id, "authentication answered 503: %s",
                             strerror(-rc));
        core_reply(c, t, 503, "Authentication not available", retry, sizeof retry - 1);
    }
}
