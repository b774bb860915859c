/* b2b_timer - see b2b.h: session timers (RFC 4028) on each leg.
 *
 * A leg asks for a timer: the caller with Session-Expires in its INVITE, the callee with
 * Session-Expires in its 2xx (our INVITEs say Supported: timer). Each leg's timer is its
 * own: the refresher named in the negotiation either refreshes (a re-INVITE or UPDATE,
 * relayed to the other leg as usual, which re-arms the timer when we answer it 2xx) or,
 * when we are the refresher, gets an UPDATE from us every half interval. A leg that lets
 * its session expire, or refuses our refresh, ends the call (BYE both, cause
 * session_expired). One sweep timer per dialogd checks the calls that have a timer. */
#include "b2b.h"

#include <ctype.h>

#define SE_SWEEP_MS 250

/* The value of header name (or its compact form) in m, or NULL. */
static const char *header(const Sb__SipMessage *m, const char *name, const char *compact) {
    for (size_t i = 0; i < m->n_headers; i++) {
        const Sb__SipHeader *h = m->headers[i];
        if (h && h->name && h->value &&
            (strcasecmp(h->name, name) == 0 || (compact && strcasecmp(h->name, compact) == 0)))
            return h->value;
    }
    return NULL;
}

/* Whether a comma-separated option list (Supported, Require) holds tag. */
static bool has_option(const Sb__SipMessage *m, const char *name, const char *compact,
                       const char *tag) {
    size_t tl = strlen(tag);
    for (size_t i = 0; i < m->n_headers; i++) {
        const Sb__SipHeader *h = m->headers[i];
        if (!h || !h->name || !h->value ||
            !(strcasecmp(h->name, name) == 0 || (compact && strcasecmp(h->name, compact) == 0)))
            continue;
        for (const char *p = h->value; *p;) {
            p += strspn(p, " \t,");
            size_t n = strcspn(p, " \t,");
            if (n == tl && strncasecmp(p, tag, n) == 0)
                return true;
            p += n;
        }
    }
    return false;
}

/* "1800;refresher=uac": the interval (0 when malformed) and the refresher ('c' uac, 's'
 * uas, 0 none). */
static unsigned parse_se(const char *v, char *refresher) {
    *refresher = 0;
    while (*v == ' ' || *v == '\t')
        v++;
    if (!isdigit((unsigned char)*v))
        return 0;
    unsigned long secs = 0;
    for (; isdigit((unsigned char)*v); v++) {
        secs = secs * 10 + (unsigned long)(*v - '0');
        if (secs > 86400)
            return 0;
    }
    for (const char *p = strchr(v, ';'); p; p = strchr(p + 1, ';')) {
        const char *q = p + 1;
        while (*q == ' ')
            q++;
        if (strncasecmp(q, "refresher", 9) != 0)
            continue;
        q += 9;
        while (*q == ' ' || *q == '=')
            q++;
        if (strncasecmp(q, "uac", 3) == 0)
            *refresher = 'c';
        else if (strncasecmp(q, "uas", 3) == 0)
            *refresher = 's';
    }
    return (unsigned)secs;
}

static void respond_422(b2bua_t *b, ipc_chan_t *ch, uint64_t txn_id, unsigned min_se) {
    struct b2b_hdrs hs = {.n = 0};
    snprintf(hs.buf, sizeof hs.buf, "%u", min_se);
    b2b_hdr_add(&hs, "Min-SE", hs.buf);
    b2b_respond_txn_hdrs(b, ch, txn_id, 422, NULL, 0, &hs);
}

bool b2b_se_request(b2bua_t *b, ipc_chan_t *ch, const Sb__SipRequestIn *in, struct b2b_se *se) {
    const Sb__SipMessage *m = in->msg;
    memset(se, 0, sizeof *se);
    const char *v = header(m, "Session-Expires", "x");
    if (!v)
        return true; /* no timer asked */
    char refresher;
    unsigned secs = parse_se(v, &refresher);
    if (secs == 0) {
        b2b_respond_txn(b, ch, in->txn_id, 400);
        return false;
    }
    long min_se = cfg_int(b->w->cfg, CFG_session_min_se);
    if (min_se < 1)
        min_se = 1;
    if (secs < (unsigned)min_se) { /* RFC 4028 8.1 */
        respond_422(b, ch, in->txn_id, (unsigned)min_se);
        return false;
    }
    se->secs = secs;
    se->leg_supports = has_option(m, "Supported", "k", "timer");
    /* RFC 4028 9: the caller's choice stands; none: the caller if it can, else us */
    se->we_refresh = refresher == 's' || (refresher == 0 && !se->leg_supports);
    return true;
}

bool b2b_se_headers(const struct call *c, int leg, struct b2b_hdrs *hs) {
    const struct b2b_se *se = &c->se[leg];
    if (!se->secs)
        return false;
    /* in our answer to the leg's request, the leg is the UAC of the transaction */
    snprintf(hs->buf, sizeof hs->buf, "%u;refresher=%s", se->secs, se->we_refresh ? "uas" : "uac");
    b2b_hdr_add(hs, "Session-Expires", hs->buf);
    if (se->leg_supports)
        b2b_hdr_add(hs, "Require", "timer");
    return true;
}

void b2b_se_offer_headers(struct b2b_hdrs *hs) {
    b2b_hdr_add(hs, "Supported", "timer");
}

static void sweep(uv_timer_t *t);

static uint64_t next_due(b2bua_t *b, const struct b2b_se *se) {
    uint64_t ms = (uint64_t)se->secs * 1000;
    if (se->we_refresh) /* RFC 4028 10: refresh at half the interval */
        return uv_now(b->w->loop) + ms / 2;
    /* the leg's refresh must come before the interval less min(32 s, a third) */
    uint64_t margin = ms / 3 < 32000 ? ms / 3 : 32000;
    return uv_now(b->w->loop) + ms - margin;
}

void b2b_se_start(b2bua_t *b, struct call *c, int leg) {
    struct b2b_se *se = &c->se[leg];
    if (!se->secs)
        return;
    se->due_ms = next_due(b, se);
    se->pending = false;
    if (!c->se_counted) {
        c->se_counted = true;
        b->se_calls++;
    }
    if (!b->se_timer && (b->se_timer = malloc(sizeof *b->se_timer))) {
        uv_timer_init(b->w->loop, b->se_timer);
        b->se_timer->data = b;
    }
    if (!b->se_timer_on && b->se_timer) {
        uv_timer_start(b->se_timer, sweep, SE_SWEEP_MS, SE_SWEEP_MS);
        b->se_timer_on = true;
    }
}

void b2b_se_from_answer(b2bua_t *b, struct call *c, const Sb__SipMessage *m) {
    const char *v = header(m, "Session-Expires", "x");
    char refresher;
    unsigned secs = v ? parse_se(v, &refresher) : 0;
    if (!secs)
        return;
    struct b2b_se *se = &c->se[1];
    se->secs = secs;
    se->leg_supports = true;
    /* we are the UAC of the INVITE: refresher=uac (or none) is us */
    se->we_refresh = refresher != 's';
    b2b_se_start(b, c, 1);
}

void b2b_se_forget(b2bua_t *b, struct call *c) {
    if (!c->se_counted)
        return;
    c->se_counted = false;
    if (b->se_calls)
        b->se_calls--;
    if (b->se_calls == 0 && b->se_timer_on) {
        uv_timer_stop(b->se_timer);
        b->se_timer_on = false;
    }
}

static void expire(b2bua_t *b, struct call *c, int leg, const char *why) {
    log_info("call %s: session timer of the %s: %s", c->a_call_id, leg ? "callee" : "caller", why);
    c->se[0].secs = c->se[1].secs = 0;
    b2b_se_forget(b, c);
    c->end_cause = "session_expired";
    b2b_hang_up_both(b, c, "session timer expired");
}

/* Our refresh of leg: an UPDATE without a body (RFC 4028 7.4), refresher=uac (us). */
static void refresh(b2bua_t *b, struct call *c, int leg) {
    struct b2b_se *se = &c->se[leg];
    if (c->re_txn || c->move) { /* a re-INVITE or move is under way: a moment later */
        se->due_ms = uv_now(b->w->loop) + 1000;
        return;
    }
    struct b2b_hdrs hs = {.n = 0};
    snprintf(hs.buf, sizeof hs.buf, "%u;refresher=uac", se->secs);
    b2b_hdr_add(&hs, "Session-Expires", hs.buf);
    b2b_hdr_add(&hs, "Supported", "timer");
    uint32_t cseq = leg == 0 ? ++c->a_cseq : ++c->b_cseq;
    se->cseq = cseq;
    se->pending = true;
    /* the answer must come within the interval, else the session expires */
    se->due_ms = uv_now(b->w->loop) + (uint64_t)se->secs * 1000 / 2;
    if (!b2b_send_leg(b, c, leg == 0, "UPDATE", cseq, leg == 0 ? KIND_A_REFRESH : KIND_B_REFRESH,
                      NULL, 0, &hs))
        expire(b, c, leg, "no sipd to send the refresh");
}

void b2b_se_refreshed(b2bua_t *b, struct call *c, int leg, unsigned status) {
    struct b2b_se *se = &c->se[leg];
    if (!se->secs || !se->pending || status < 200)
        return;
    se->pending = false;
    if (status / 100 == 2) {
        se->due_ms = next_due(b, se);
        return;
    }
    if (status == 491) { /* glare with the leg's own request: again shortly */
        se->due_ms = uv_now(b->w->loop) + 1000;
        return;
    }
    char why[64];
    snprintf(why, sizeof why, "our refresh got %u", status);
    expire(b, c, leg, why);
}

static void sweep(uv_timer_t *t) {
    b2bua_t *b = t->data;
    uint64_t now = uv_now(b->w->loop);
    for (size_t i = 0; i < B2B_BUCKETS; i++)
        for (struct call *c = b->by_id[i], *next; c; c = next) {
            next = c->next_id;
            if (!c->se_counted || c->state == CALL_ENDING)
                continue;
            for (int leg = 0; leg < 2; leg++) {
                struct b2b_se *se = &c->se[leg];
                if (!se->secs || now < se->due_ms)
                    continue;
                if (!se->we_refresh) {
                    expire(b, c, leg, "no refresh in time");
                    break;
                }
                if (se->pending) {
                    expire(b, c, leg, "no answer to our refresh");
                    break;
                }
                refresh(b, c, leg);
            }
        }
}

static void se_closed(uv_handle_t *h) {
    free(h->data);
}

void b2b_se_free(b2bua_t *b) {
    if (!b->se_timer)
        return;
    b->se_timer->data = b->se_timer;
    uv_close((uv_handle_t *)b->se_timer, se_closed);
    b->se_timer = NULL;
    b->se_timer_on = false;
}
