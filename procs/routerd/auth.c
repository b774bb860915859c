/* auth - see auth.h */
#include "auth.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <hiredis/async.h>
#include <hiredis/hiredis.h>

#include "clock.h"
#include "digest.h"
#include "domains.h"
#include "keys.h"
#include "log.h"
#include "rand.h"
#include "redis.h"
#include "proto/envelope_send.h"

extern const char auth_nc_lua[];
extern const char auth_fail_lua[];

#define AUTH_SECRET_MAX 128

struct auth_req;

struct auth {
    worker_t *w;
    uint8_t secret[AUTH_SECRET_MAX];
    size_t secret_len; /* 0: not read yet */
    bool loading, stopping;
    unsigned pending; /* Redis callbacks owed */
    struct auth_req *reqs;
};

/* One AuthRequest in flight; its text copied (the envelope is borrowed). */
struct auth_req {
    auth_t *a;
    ipc_chan_t *ch; /* NULL once the channel closed */
    uint64_t request_id;
    struct auth_req *prev, *next;
    bool proxy, has_creds, stale;
    enum digest_alg alg;
    char source[64], user[256], method[32], call_id[LOG_CALL_ID_MAX + 1];
    char uri[1024], cred_user[256], nonce[DIGEST_NONCE_LEN + 1], response[DIGEST_HEX_MAX];
    char nc[9], cnonce[256], qop[8];
};

/* Copies s into dst (cap bytes): false when it does not fit. */
static bool copy(char *dst, size_t cap, const char *s) {
    size_t n = s ? strlen(s) : 0;
    if (n >= cap)
        return false;
    memcpy(dst, s ? s : "", n);
    dst[n] = '\0';
    return true;
}

static void req_free(struct auth_req *r) {
    auth_t *a = r->a;
    if (r->prev)
        r->prev->next = r->next;
    else
        a->reqs = r->next;
    if (r->next)
        r->next->prev = r->prev;
    free(r);
}

static void maybe_free(auth_t *a) {
    if (a->stopping && a->pending == 0 && !a->reqs && !a->loading)
        free(a);
}

/* Sends the answer (when the channel is still there) and ends r. */
static void reply(struct auth_req *r, Sb__AuthReply *ar) {
    if (r->ch && !r->a->stopping) {
        Sb__Envelope req = SB__ENVELOPE__INIT;
        req.request_id = r->request_id;
        ipc_reply_auth_reply(r->ch, &req, ar);
    }
    req_free(r);
}

static void answer(struct auth_req *r, unsigned status, const char *user) {
    Sb__AuthReply ar = SB__AUTH_REPLY__INIT;
    ar.status = status;
    ar.user = (char *)(user ? user : "");
    reply(r, &ar);
}

static void challenge(struct auth_req *r, bool stale) {
    auth_t *a = r->a;
    enum digest_alg algs[DIGEST_MAX_ALGS];
    int n = digest_algs_parse(cfg_str(a->w->cfg, CFG_sip_auth_algorithms), algs);
    char nonce[DIGEST_NONCE_LEN + 1];
    if (n < 0 || digest_nonce_make(a->secret, a->secret_len, (uint32_t)time(NULL), r->source, nonce,
                                   sizeof nonce) < 0) {
        log_ratelimited(LOG_WARN, "cannot make a nonce (no random bytes?): 500");
        answer(r, 500, NULL);
        return;
    }
    char *names[DIGEST_MAX_ALGS];
    for (int i = 0; i < n; i++)
        names[i] = (char *)digest_alg_name(algs[i]);
    Sb__AuthReply ar = SB__AUTH_REPLY__INIT;
    ar.status = r->proxy ? 407 : 401;
    ar.realm = (char *)domains_name(a->w->domains);
    ar.nonce = nonce;
    ar.stale = stale;
    ar.n_algorithms = (size_t)n;
    ar.algorithms = names;
    reply(r, &ar);
}

/* Sends a command for r (argv style); false when Redis is not there (then answered 503). */
static bool send_argv(struct auth_req *r, redisCallbackFn *cb, int argc, const char **argv) {
    auth_t *a = r->a;
    redisAsyncContext *ac = rds_context(a->w->redis);
    if (!ac || redisAsyncCommandArgv(ac, cb, r, argc, argv, NULL) != REDIS_OK) {
        log_ratelimited(LOG_WARN, "authentication answered 503: Redis is not reachable");
        answer(r, 503, NULL);
        return false;
    }
    a->pending++;
    return true;
}

/* A Redis callback for r: false when r is over (stopping: freed here). */
static bool callback_start(struct auth_req *r, redisReply *reply_) {
    auth_t *a = r->a;
    a->pending--;
    if (a->stopping) {
        req_free(r);
        maybe_free(a);
        return false;
    }
    if (!reply_ || reply_->type == REDIS_REPLY_ERROR) {
        log_ratelimited(LOG_WARN, "authentication answered 503: Redis: %s",
                        reply_ ? reply_->str : "link lost");
        answer(r, 503, NULL);
        return false;
    }
    return true;
}

/* A failure being counted in Redis: its source, for the log line of a ban. */
struct auth_fail {
    auth_t *a;
    char source[64];
};

static void fail_cb(redisAsyncContext *ac, void *rep, void *priv) {
    (void)ac;
    struct auth_fail *f = priv;
    auth_t *a = f->a;
    redisReply *reply_ = rep;
    a->pending--;
    if (!a->stopping && reply_ && reply_->type == REDIS_REPLY_INTEGER && reply_->integer == 1)
        log_warn("banned %s for %ld s: %ld failed authentications", f->source,
                 cfg_time_ms(a->w->cfg, CFG_sip_auth_ban_time) / 1000,
                 cfg_int(a->w->cfg, CFG_sip_auth_ban_failures));
    free(f);
    maybe_free(a);
}

/* A failed authentication from r's source: counted (auth_fail.lua), maybe a ban. */
static void count_failure(struct auth_req *r) {
    auth_t *a = r->a;
    const cfg_t *cfg = a->w->cfg;
    long failures = cfg_int(cfg, CFG_sip_auth_ban_failures);
    log_call(LOG_INFO, r->call_id, "failed authentication from %s", r->source);
    redisAsyncContext *ac = rds_context(a->w->redis);
    if (failures <= 0 || !ac)
        return;
    char kfail[128], kban[128], window[24], nfail[24], bantime[24], now[24];
    if (sb_key(kfail, sizeof kfail, SB_KEY_AUTHFAIL, r->source) < 0 ||
        sb_key(kban, sizeof kban, SB_KEY_BAN, r->source) < 0)
        return;
    snprintf(window, sizeof window, "%ld", cfg_time_ms(cfg, CFG_sip_auth_ban_window));
    snprintf(nfail, sizeof nfail, "%ld", failures);
    snprintf(bantime, sizeof bantime, "%ld", cfg_time_ms(cfg, CFG_sip_auth_ban_time));
    snprintf(now, sizeof now, "%" PRId64, clock_wall_us() / 1000);
    struct auth_fail *f = malloc(sizeof *f);
    if (!f)
        return;
    f->a = a;
    snprintf(f->source, sizeof f->source, "%s", r->source);
    const char *argv[] = {"EVAL", auth_fail_lua, "2", kfail, kban, window, nfail, bantime, now};
    if (redisAsyncCommandArgv(ac, fail_cb, f, 9, argv, NULL) == REDIS_OK)
        a->pending++;
    else
        free(f);
}

static void nc_cb(redisAsyncContext *ac, void *rep, void *priv) {
    (void)ac;
    struct auth_req *r = priv;
    redisReply *reply_ = rep;
    if (!callback_start(r, reply_))
        return;
    if (reply_->type != REDIS_REPLY_INTEGER || reply_->integer != 1) {
        log_call(LOG_INFO, r->call_id, "replayed nonce-count %s from %s", r->nc, r->source);
        challenge(r, false);
        return;
    }
    if (strcmp(r->cred_user, r->user) != 0) {
        /* RFC 3261 22.3: authenticated, but for another identity */
        log_call(LOG_INFO, r->call_id, "%s authenticated as %s but speaks for %s: 403", r->source,
                 r->cred_user, r->user);
        answer(r, 403, NULL);
        return;
    }
    answer(r, 200, r->cred_user);
}

static void sub_cb(redisAsyncContext *ac, void *rep, void *priv) {
    (void)ac;
    struct auth_req *r = priv;
    redisReply *reply_ = rep;
    if (!callback_start(r, reply_))
        return;
    const char *ha1 = NULL;
    size_t want = r->alg == DIGEST_SHA256 ? 64 : 32;
    if (reply_->type == REDIS_REPLY_ARRAY && reply_->elements == 2) {
        const redisReply *e = reply_->element[r->alg == DIGEST_SHA256 ? 1 : 0];
        if (e->type == REDIS_REPLY_STRING && e->len == want)
            ha1 = e->str;
    }
    char dummy[DIGEST_HEX_MAX], expected[DIGEST_HEX_MAX];
    if (!ha1) { /* an unknown user: the same work and the same answer as a wrong password */
        if (sb_random_hex(dummy, sizeof dummy, want / 2) < 0)
            memset(dummy, '0', sizeof dummy - 1), dummy[want] = '\0';
        ha1 = dummy;
    }
    if (digest_response(r->alg, ha1, r->nonce, r->nc, r->cnonce, r->qop, r->method, r->uri,
                        expected, sizeof expected) < 0 ||
        !digest_equal(expected, r->response)) {
        count_failure(r);
        challenge(r, false);
        return;
    }
    if (r->stale) { /* RFC 7616 3.3: the password is right, only the nonce is old */
        challenge(r, true);
        return;
    }
    char key[DIGEST_NONCE_LEN + 16], nc[16], ttl[24];
    sb_key(key, sizeof key, SB_KEY_NC, r->nonce);
    snprintf(nc, sizeof nc, "%lu", strtoul(r->nc, NULL, 16));
    snprintf(ttl, sizeof ttl, "%ld",
             2 * (cfg_time_ms(r->a->w->cfg, CFG_sip_auth_nonce_ttl) / 1000) + 1);
    const char *argv[] = {"EVAL", auth_nc_lua, "1", key, nc, ttl};
    send_argv(r, nc_cb, 6, argv);
}

static bool is_hex(const char *s, size_t n) {
    if (strlen(s) != n)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f') ||
              (s[i] >= 'A' && s[i] <= 'F')))
            return false;
    return true;
}

/* Past the ban check: credentials, nonce, then the subscriber's HA1. */
static void verify(struct auth_req *r) {
    auth_t *a = r->a;
    if (!r->has_creds) {
        challenge(r, false);
        return;
    }
    uint32_t ttl = (uint32_t)(cfg_time_ms(a->w->cfg, CFG_sip_auth_nonce_ttl) / 1000);
    enum digest_nonce_state ns = digest_nonce_check(a->secret, a->secret_len, r->nonce, r->source,
                                                    (uint32_t)time(NULL), ttl, NULL);
    if (ns == DIGEST_NONCE_BAD) { /* not ours, or for another source: a fresh one */
        challenge(r, false);
        return;
    }
    r->stale = ns == DIGEST_NONCE_STALE;
    char id[600], key[640];
    snprintf(id, sizeof id, "%s@%s", r->cred_user, domains_name(a->w->domains));
    if (sb_key(key, sizeof key, SB_KEY_SUB, id) < 0) {
        challenge(r, false);
        return;
    }
    const char *argv[] = {"HMGET", key, "ha1_md5", "ha1_sha256"};
    send_argv(r, sub_cb, 4, argv);
}

static void ban_cb(redisAsyncContext *ac, void *rep, void *priv) {
    (void)ac;
    struct auth_req *r = priv;
    redisReply *reply_ = rep;
    if (!callback_start(r, reply_))
        return;
    /* PTTL: -2 no ban, -1 a ban without end (set by hand), else ms left */
    if (reply_->type == REDIS_REPLY_INTEGER && reply_->integer != -2) {
        log_call_ratelimited(LOG_INFO, r->call_id, "refused a request from banned %s", r->source);
        Sb__AuthReply ar = SB__AUTH_REPLY__INIT;
        ar.status = 403;
        ar.banned_ms = reply_->integer < 0 || reply_->integer > UINT32_MAX
                           ? UINT32_MAX
                           : (uint32_t)reply_->integer;
        reply(r, &ar);
        return;
    }
    verify(r);
}

/* Takes the first credentials for our realm that are well-formed for qop=auth with an
 * algorithm we offer; false when there are none (the request gets a challenge). */
static bool take_credentials(struct auth_req *r, const Sb__AuthRequest *rq, const char *realm,
                             const cfg_t *cfg) {
    enum digest_alg offered[DIGEST_MAX_ALGS];
    int n = digest_algs_parse(cfg_str(cfg, CFG_sip_auth_algorithms), offered);
    for (size_t i = 0; i < rq->n_credentials; i++) {
        const Sb__DigestCredentials *c = rq->credentials[i];
        enum digest_alg alg;
        if (!c || !c->realm || strcmp(c->realm, realm) != 0 ||
            digest_alg_parse(c->algorithm, &alg) < 0)
            continue;
        bool ok = false;
        for (int k = 0; k < n; k++)
            ok = ok || offered[k] == alg;
        if (!ok || !c->qop || strcmp(c->qop, "auth") != 0 || !c->nc || !is_hex(c->nc, 8) ||
            !c->cnonce || !*c->cnonce || !c->username || !*c->username || !c->uri ||
            !rq->request_uri || strcmp(c->uri, rq->request_uri) != 0 || !c->response ||
            !is_hex(c->response, alg == DIGEST_SHA256 ? 64 : 32))
            continue;
        if (!copy(r->cred_user, sizeof r->cred_user, c->username) ||
            !copy(r->nonce, sizeof r->nonce, c->nonce) ||
            !copy(r->response, sizeof r->response, c->response) ||
            !copy(r->nc, sizeof r->nc, c->nc) || !copy(r->cnonce, sizeof r->cnonce, c->cnonce) ||
            !copy(r->qop, sizeof r->qop, c->qop) || !copy(r->uri, sizeof r->uri, c->uri))
            continue;
        for (char *p = r->response; *p; p++) /* hex compares in lower case */
            if (*p >= 'A' && *p <= 'F')
                *p = (char)(*p - 'A' + 'a');
        r->alg = alg;
        return true;
    }
    return false;
}

static void secret_cb(redisAsyncContext *ac, void *rep, void *priv) {
    (void)ac;
    auth_t *a = priv;
    redisReply *reply_ = rep;
    a->pending--;
    a->loading = false;
    if (!a->stopping && reply_ && reply_->type == REDIS_REPLY_STRING && reply_->len >= 32 &&
        reply_->len <= AUTH_SECRET_MAX) {
        if (a->secret_len && (a->secret_len != reply_->len ||
                              memcmp(a->secret, reply_->str, reply_->len) != 0))
            log_warn("the nonce secret in Redis changed: nonces made before get a new challenge");
        memcpy(a->secret, reply_->str, reply_->len);
        a->secret_len = reply_->len;
        log_debug("digest nonce secret read from Redis");
    } else if (!a->stopping) {
        log_ratelimited(LOG_WARN, "cannot read the nonce secret from Redis: %s",
                        reply_ && reply_->type == REDIS_REPLY_ERROR ? reply_->str : "no answer");
    }
    maybe_free(a);
}

static void set_cb(redisAsyncContext *ac, void *rep, void *priv) {
    (void)ac;
    (void)rep;
    auth_t *a = priv;
    a->pending--;
    maybe_free(a);
}

/* SET NX our secret (a random one before we have any), then read the one that won: ours
 * or another routerd's. Done at every connection to Redis, so a Redis that lost its data
 * gets back the secret the running instances share rather than a new one from the next
 * routerd that starts. */
static void secret_load(auth_t *a) {
    redisAsyncContext *ac = rds_context(a->w->redis);
    char fresh[65];
    if (a->loading || a->stopping || !ac)
        return;
    const char *offer = fresh;
    size_t offer_len = 64;
    if (a->secret_len) {
        offer = (const char *)a->secret;
        offer_len = a->secret_len;
    } else if (sb_random_hex(fresh, sizeof fresh, 32) < 0) {
        return;
    }
    if (redisAsyncCommand(ac, set_cb, a, "SET %s %b NX", SB_KEY_AUTH_SECRET, offer, offer_len) !=
        REDIS_OK)
        return;
    a->pending++;
    if (redisAsyncCommand(ac, secret_cb, a, "GET %s", SB_KEY_AUTH_SECRET) != REDIS_OK)
        return;
    a->pending++;
    a->loading = true;
}

auth_t *auth_new(worker_t *w) {
    enum digest_alg algs[DIGEST_MAX_ALGS];
    if (digest_algs_parse(cfg_str(w->cfg, CFG_sip_auth_algorithms), algs) < 0) {
        log_error("%s/main.cf: sip_auth_algorithms: '%s': expected SHA-256 and/or MD5", w->confdir,
                  cfg_str(w->cfg, CFG_sip_auth_algorithms));
        return NULL;
    }
    auth_t *a = calloc(1, sizeof *a);
    if (!a)
        return NULL;
    a->w = w;
    secret_load(a);
    return a;
}

void auth_check(auth_t *a, ipc_chan_t *ch, const Sb__Envelope *env) {
    const Sb__AuthRequest *rq = env->auth_request;
    if (!env->request_id || !rq)
        return;
    struct auth_req *r = calloc(1, sizeof *r);
    if (!r) {
        Sb__AuthReply ar = SB__AUTH_REPLY__INIT;
        ar.status = 500;
        ipc_reply_auth_reply(ch, env, &ar);
        return;
    }
    r->a = a;
    r->ch = ch;
    r->request_id = env->request_id;
    r->next = a->reqs;
    if (a->reqs)
        a->reqs->prev = r;
    a->reqs = r;
    r->proxy = rq->proxy;
    if (rq->call_id)
        snprintf(r->call_id, sizeof r->call_id, "%s", rq->call_id);
    if (!copy(r->source, sizeof r->source, rq->source_addr) || !*r->source ||
        !copy(r->user, sizeof r->user, rq->user) ||
        !copy(r->method, sizeof r->method, rq->method)) {
        answer(r, 400, NULL);
        return;
    }
    if (!a->secret_len) {
        secret_load(a);
        log_ratelimited(LOG_WARN, "authentication answered 503: no nonce secret from Redis yet");
        answer(r, 503, NULL);
        return;
    }
    r->has_creds = take_credentials(r, rq, domains_name(a->w->domains), a->w->cfg);
    if (cfg_int(a->w->cfg, CFG_sip_auth_ban_failures) > 0) {
        char key[128];
        if (sb_key(key, sizeof key, SB_KEY_BAN, r->source) < 0) {
            answer(r, 400, NULL);
            return;
        }
        const char *argv[] = {"PTTL", key};
        send_argv(r, ban_cb, 2, argv);
        return;
    }
    verify(r);
}

void auth_redis_state(auth_t *a, bool up) {
    if (up)
        secret_load(a);
}

void auth_peer_closed(auth_t *a, ipc_chan_t *ch) {
    for (struct auth_req *r = a->reqs; r; r = r->next)
        if (r->ch == ch)
            r->ch = NULL;
}

void auth_stop(auth_t *a) {
    if (!a)
        return;
    a->stopping = true;
    /* requests waiting for Redis are freed by their callbacks */
    maybe_free(a);
}
