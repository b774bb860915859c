/* natping - see natping.h */
#include "natping.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core_local.h"
#include "hash.h"
#include "log.h"
#include "transport_tcp.h"

#define NATPING_BUCKETS 65536 /* a REGISTER scans its AOR's bucket: a few entries each */
#define NATPING_MAX 200000    /* bindings one sipd pings: beyond, new ones are not pinged */
#define NATPING_TAG "xka"     /* after z9hG4bKsb<instance>: a ping of ours */

struct natping_entry {
    struct natping_entry *next; /* in its bucket */
    char *aor, *uri, *call_id;
    char *instance;  /* RFC 5626 outbound: +sip.instance ("" none) */
    uint32_t reg_id; /* ... and reg-id: with the URI, which binding this is */
    uint32_t cseq;
    uint64_t id; /* in the branch of its pings */
    enum sipdest_transport transport;
    union sipaddr addr; /* where its REGISTER came from */
    socklen_t addr_len;
    union sipaddr local;   /* the address it registered to */
    uint64_t conn_id;      /* tcp: its flow */
    int64_t expires_at_ms; /* wall clock, as routerd says */
    unsigned missed;       /* pings in a row without an answer */
    uint32_t pings;        /* sent: each has its own Call-ID and CSeq */
    bool outstanding;      /* the last ping has no answer yet */
};

struct natping {
    struct core *c;
    natping_gone_fn gone;
    uv_timer_t timer;
    uint64_t interval_ms;
    unsigned misses;
    uint64_t next_id;
    size_t count;
    struct natping_entry *bucket[NATPING_BUCKETS];
};

static int64_t wall_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static struct natping_entry **bucket_of(natping_t *np, const char *aor) {
    return &np->bucket[sb_hash32_str(aor) % NATPING_BUCKETS];
}

static void entry_free(struct natping_entry *e) {
    free(e->aor);
    free(e->uri);
    free(e->call_id);
    free(e->instance);
    free(e);
}

/* Unlinks *at (and frees it); at then names the next one. */
static void entry_drop(natping_t *np, struct natping_entry **at) {
    struct natping_entry *e = *at;
    *at = e->next;
    entry_free(e);
    np->count--;
}

static void forget_all(natping_t *np) {
    for (size_t i = 0; i < NATPING_BUCKETS; i++)
        while (np->bucket[i])
            entry_drop(np, &np->bucket[i]);
}

/* ---------------------------------------------------------------- pings */

static bool send_ping(natping_t *np, struct natping_entry *e) {
    struct core *c = np->c;
    int i = core_local_udp_pick(c, e->addr.sa.sa_family, &e->local);
    if (i < 0)
        return false;
    struct sipdest d = {.transport = SIPDEST_UDP,
                        .udp = c->udp[i],
                        .addr = e->addr,
                        .addr_len = e->addr_len,
                        .local = e->local};
    struct sipconv_local me;
    core_local_name(c, &d, SIPDEST_UDP, &me);
    const char *lb = strchr(me.host, ':') ? "[" : "", *rb = *lb ? "]" : "";
    uint32_t seq = ++e->pings;
    int n = snprintf(c->out, c->out_cap,
                     "OPTIONS %s SIP/2.0\r\n"
                     "Via: SIP/2.0/UDP %s%s%s:%d;branch=" CORE_BRANCH_PREFIX "%d" NATPING_TAG
                     "%x.%llx.%u;rport\r\n"
                     "Max-Forwards: 70\r\n"
                     "From: <sip:keepalive@%s%s%s>;tag=ka%llx\r\n"
                     "To: <%s>\r\n"
                     "Call-ID: ka%d.%llx.%u@%s%s%s\r\n"
                     "CSeq: %u OPTIONS\r\n"
                     "Content-Length: 0\r\n\r\n",
                     e->uri, lb, me.host, rb, me.port, c->cfg.instance,
                     (unsigned)(sb_hash32_str(e->aor) % NATPING_BUCKETS), (unsigned long long)e->id,
                     seq, lb, me.host, rb, (unsigned long long)(c->tag_salt ^ e->id), e->uri,
                     c->cfg.instance, (unsigned long long)e->id, seq, lb, me.host, rb, seq);
    if (n < 0 || (size_t)n >= c->out_cap)
        return false;
    shm_count(c->slot, SHM_C_sip_tx_requests, 1);
    return sipdest_send(&d, c->out, (size_t)n) == 0;
}

/* Whether e's binding is gone (and why), after one more tick. */
static const char *tick_one(natping_t *np, struct natping_entry *e, char *why, size_t cap) {
    if (sipdest_is_stream(e->transport)) {
        const struct tcp_conn *conn = np->c->tcp ? tcp_find_id(np->c->tcp, e->conn_id) : NULL;
        return conn ? NULL : "its connection closed";
    }
    if (e->outstanding && ++e->missed >= np->misses) {
        snprintf(why, cap, "no answer to %u keepalives", e->missed);
        return why;
    }
    e->outstanding = send_ping(np, e);
    if (!e->outstanding)
        e->missed++;
    return NULL;
}

static void on_tick(uv_timer_t *t) {
    natping_t *np = t->data;
    int64_t now = wall_ms();
    char why[64];
    for (size_t i = 0; i < NATPING_BUCKETS; i++) {
        struct natping_entry **at = &np->bucket[i];
        while (*at) {
            struct natping_entry *e = *at;
            const char *gone = e->expires_at_ms <= now ? NULL : tick_one(np, e, why, sizeof why);
            if (gone) {
                log_call(LOG_INFO, e->call_id, "binding %s of %s removed: %s", e->uri, e->aor,
                         gone);
                char ip[64] = "";
                int port = 0;
                if (sipaddr_text(&e->addr, ip, sizeof ip, &port) < 0)
                    ip[0] = '\0'; /* then the removal is unconditional */
                struct natping_gone g = {e->aor,    e->uri, e->call_id,     e->cseq, e->instance,
                                         e->reg_id, ip,     (uint32_t)port, gone};
                np->gone(np->c, &g);
            }
            if (gone || e->expires_at_ms <= now)
                entry_drop(np, at);
            else
                at = &e->next;
        }
    }
}

/* ---------------------------------------------------------------- the API */

natping_t *natping_new(struct core *c, uint64_t interval_ms, unsigned misses,
                       natping_gone_fn gone) {
    natping_t *np = calloc(1, sizeof *np);
    if (!np)
        return NULL;
    np->c = c;
    np->gone = gone;
    uv_timer_init(c->loop, &np->timer);
    np->timer.data = np;
    natping_configure(np, interval_ms, misses);
    return np;
}

void natping_configure(natping_t *np, uint64_t interval_ms, unsigned misses) {
    np->misses = misses ? misses : 1;
    if (interval_ms == np->interval_ms)
        return;
    np->interval_ms = interval_ms;
    uv_timer_stop(&np->timer);
    if (!interval_ms)
        forget_all(np);
    else
        uv_timer_start(&np->timer, on_tick, interval_ms, interval_ms);
}

/* The binding's entry for e's (aor, uri), or NULL; *at_out its link. */
static struct natping_entry **find(natping_t *np, const char *aor, const char *uri,
                                   uint32_t reg_id) {
    struct natping_entry **at = bucket_of(np, aor);
    for (; *at; at = &(*at)->next)
        if (strcmp((*at)->aor, aor) == 0 && strcmp((*at)->uri, uri) == 0 && (*at)->reg_id == reg_id)
            return at;
    return NULL;
}

static bool kept(const natping_t *np, const Sb__Binding *b) {
    const Sb__SipPeer *s = b ? b->source : NULL;
    /* behind NAT, or an RFC 5626 flow over TCP (gone with its connection) */
    bool watched =
        s && (s->nated || (s->outbound && s->transport &&
                           (strcmp(s->transport, "tcp") == 0 || strcmp(s->transport, "tls") == 0)));
    return watched && b->uri && s->sipd_instance == (uint32_t)np->c->cfg.instance && s->addr &&
           s->transport && b->call_id;
}

/* Fills e from b (its flow and expiry); false when its addresses do not parse. */
static bool entry_fill(struct natping_entry *e, const Sb__Binding *b) {
    const Sb__SipPeer *s = b->source;
    e->transport = strcmp(s->transport, "tcp") == 0   ? SIPDEST_TCP
                   : strcmp(s->transport, "tls") == 0 ? SIPDEST_TLS
                                                      : SIPDEST_UDP;
    memset(&e->local, 0, sizeof e->local);
    if (sipaddr_parse(s->addr, (int)s->port, &e->addr, &e->addr_len) < 0)
        return false;
    socklen_t ll;
    if (s->local_addr && *s->local_addr &&
        sipaddr_parse(s->local_addr, (int)s->local_port, &e->local, &ll) < 0)
        memset(&e->local, 0, sizeof e->local);
    e->conn_id = s->conn_id;
    e->cseq = b->cseq;
    e->expires_at_ms = b->expires_at_ms ? b->expires_at_ms : wall_ms() + (int64_t)b->expires * 1000;
    return true;
}

void natping_sync(natping_t *np, const char *aor, Sb__Binding *const *bindings, size_t n) {
    if (!np->interval_ms || !aor)
        return;
    /* the AOR's entries that the reply no longer lists (or not as ours) go */
    struct natping_entry **at = bucket_of(np, aor);
    while (*at) {
        struct natping_entry *e = *at;
        bool listed = false;
        for (size_t i = 0; i < n && !listed && strcmp(e->aor, aor) == 0; i++)
            listed = kept(np, bindings[i]) && strcmp(bindings[i]->uri, e->uri) == 0 &&
                     bindings[i]->reg_id == e->reg_id;
        if (strcmp(e->aor, aor) == 0 && !listed)
            entry_drop(np, at);
        else
            at = &e->next;
    }
    for (size_t i = 0; i < n; i++) {
        const Sb__Binding *b = bindings[i];
        if (!kept(np, b))
            continue;
        struct natping_entry **found = find(np, aor, b->uri, b->reg_id), *e = found ? *found : NULL;
        if (e && strcmp(e->call_id, b->call_id) != 0) {
            char *cid = strdup(b->call_id);
            if (!cid)
                continue;
            free(e->call_id);
            e->call_id = cid;
        }
        if (!e && np->count >= NATPING_MAX) {
            log_call_ratelimited(LOG_WARN, b->call_id,
                                 "keepalives: %d bindings pinged already, %s is not", NATPING_MAX,
                                 aor);
            continue;
        }
        if (!e) {
            e = calloc(1, sizeof *e);
            if (!e || !(e->aor = strdup(aor)) || !(e->uri = strdup(b->uri)) ||
                !(e->call_id = strdup(b->call_id)) ||
                !(e->instance = strdup(b->instance ? b->instance : ""))) {
                if (e)
                    entry_free(e);
                log_ratelimited(LOG_WARN, "keepalives: out of memory, %s not pinged", aor);
                continue;
            }
            e->id = ++np->next_id;
            e->reg_id = b->reg_id;
            struct natping_entry **head = bucket_of(np, aor);
            e->next = *head;
            *head = e;
            np->count++;
        }
        if (!entry_fill(e, b))
            e->expires_at_ms = 0; /* dropped at the next tick */
    }
}

bool natping_response(natping_t *np, struct sipmsg_str b) {
    size_t n = sizeof CORE_BRANCH_PREFIX - 1;
    if (b.len <= n || memcmp(b.ptr, CORE_BRANCH_PREFIX, n) != 0)
        return false;
    const char *p = b.ptr + n, *end = b.ptr + b.len;
    while (p < end && *p >= '0' && *p <= '9')
        p++;
    size_t tl = sizeof NATPING_TAG - 1;
    if ((size_t)(end - p) <= tl || memcmp(p, NATPING_TAG, tl) != 0)
        return false;
    /* <bucket>.<id>.<seq>, hex, hex, decimal */
    uint64_t v[2] = {0, 0};
    p += tl;
    for (int k = 0; k < 2; k++, p++) {
        const char *start = p;
        for (; p < end && *p != '.'; p++) {
            int d = *p >= '0' && *p <= '9' ? *p - '0' : *p >= 'a' && *p <= 'f' ? *p - 'a' + 10 : -1;
            if (d < 0 || p - start >= 16)
                return true; /* ours, malformed: nothing to credit */
            v[k] = v[k] << 4 | (uint64_t)d;
        }
        if (p == end || p == start)
            return true;
    }
    if (v[0] >= NATPING_BUCKETS)
        return true;
    for (struct natping_entry *e = np->bucket[v[0]]; e; e = e->next)
        if (e->id == v[1]) {
            e->outstanding = false;
            e->missed = 0;
            break;
        }
    return true;
}

size_t natping_count(const natping_t *np) {
    return np ? np->count : 0;
}

static void natping_closed(uv_handle_t *h) {
    free(h->data);
}

void natping_free(natping_t *np) {
    if (!np)
        return;
    forget_all(np);
    uv_timer_stop(&np->timer);
    uv_close((uv_handle_t *)&np->timer, natping_closed);
}
