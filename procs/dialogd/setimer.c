/* setimer - see setimer.h */
#include "setimer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "end.h"
#include "log.h"

#define TIMER_SWEEP_MS 250

struct timer_sweep {
    uv_timer_t handle;
    bool on;
    unsigned calls; /* calls with a timer running */
};

static struct timer_sweep *sweep_of(b2b_t *b) {
    return b->feature[FEATURE_TIMER];
}

/* The call leaves the sweep. */
static void forget(b2b_t *b, struct call *c) {
    struct timer_sweep *s = sweep_of(b);
    if (!c->timer_counted || !s)
        return;
    c->timer_counted = false;
    if (s->calls)
        s->calls--;
    if (s->calls == 0 && s->on) {
        uv_timer_stop(&s->handle);
        s->on = false;
    }
}

static void sweep(uv_timer_t *t);

void setimer_init(b2b_t *b) {
    struct timer_sweep *s = calloc(1, sizeof *s);
    if (!s)
        return; /* no session timers run: calls go on without */
    uv_timer_init(b->loop, &s->handle);
    s->handle.data = b;
    b->feature[FEATURE_TIMER] = s;
    call_teardown_add(b, forget);
}

static void sweep_closed(uv_handle_t *h) {
    free(h->data);
}

void setimer_fini(b2b_t *b) {
    struct timer_sweep *s = sweep_of(b);
    if (!s)
        return;
    s->handle.data = s;
    uv_close((uv_handle_t *)&s->handle, sweep_closed);
    b->feature[FEATURE_TIMER] = NULL;
}

static long min_se(b2b_t *b) {
    const cfg_t *cfg = b->io.cfg ? b->io.cfg(b->io.arg) : NULL;
    long v = cfg ? cfg_int(cfg, CFG_session_min_se) : 90;
    return v < 1 ? 1 : v;
}

bool setimer_request(b2b_t *b, ipc_chan_t *ch, const Sb__SipRequestIn *in, struct dlg_timer *t) {
    const Sb__SipSessionTimer *st = in->msg->session_timer;
    memset(t, 0, sizeof *t);
    if (!st || !st->expires)
        return true; /* no timer asked */
    long min = min_se(b);
    if (st->expires < (unsigned long)min) { /* RFC 4028 8.1 */
        struct sipout_hdrs hs = {.n = 0};
        snprintf(hs.buf, sizeof hs.buf, "%ld", min);
        sipout_hdr_add(&hs, "Min-SE", hs.buf);
        sipout_respond(b, ch, in->txn_id, 422, NULL, 0, &hs);
        return false;
    }
    t->secs = st->expires;
    t->leg_supports = st->supported;
    /* RFC 4028 9: the caller's choice stands; none: the caller if it can, else us */
    t->we_refresh = st->refresher == SB__SIP_REFRESHER__SIP_REFRESHER_UAS ||
                    (st->refresher == SB__SIP_REFRESHER__SIP_REFRESHER_NONE && !t->leg_supports);
    return true;
}

bool setimer_answer_headers(const struct call *c, int n, struct sipout_hdrs *hs) {
    const struct dlg_timer *t = &c->leg[n].timer;
    if (!t->secs)
        return false;
    /* in our answer to the leg's request, the leg is the UAC of the transaction */
    snprintf(hs->buf, sizeof hs->buf, "%u;refresher=%s", t->secs, t->we_refresh ? "uas" : "uac");
    sipout_hdr_add(hs, "Session-Expires", hs->buf);
    if (t->leg_supports)
        sipout_hdr_add(hs, "Require", "timer");
    return true;
}

void setimer_offer_headers(struct sipout_hdrs *hs) {
    sipout_hdr_add(hs, "Supported", "timer");
}

static uint64_t next_due(b2b_t *b, const struct dlg_timer *t) {
    uint64_t ms = (uint64_t)t->secs * 1000;
    if (t->we_refresh) /* RFC 4028 10: refresh at half the interval */
        return uv_now(b->loop) + ms / 2;
    /* the leg's refresh must come before the interval less min(32 s, a third) */
    uint64_t margin = ms / 3 < 32000 ? ms / 3 : 32000;
    return uv_now(b->loop) + ms - margin;
}

void setimer_start(b2b_t *b, struct call *c, int n) {
    struct dlg_timer *t = &c->leg[n].timer;
    struct timer_sweep *s = sweep_of(b);
    if (!t->secs || !s)
        return;
    t->due_ms = next_due(b, t);
    t->pending = false;
    if (!c->timer_counted) {
        c->timer_counted = true;
        s->calls++;
    }
    if (!s->on) {
        uv_timer_start(&s->handle, sweep, TIMER_SWEEP_MS, TIMER_SWEEP_MS);
        s->on = true;
    }
}

void setimer_from_answer(b2b_t *b, struct call *c, const Sb__SipMessage *m) {
    const Sb__SipSessionTimer *st = m->session_timer;
    if (!st || !st->expires)
        return;
    struct dlg_timer *t = &c->leg[LEG_B].timer;
    t->secs = st->expires;
    t->leg_supports = true;
    /* we are the UAC of the INVITE: refresher=uac (or none) is us */
    t->we_refresh = st->refresher != SB__SIP_REFRESHER__SIP_REFRESHER_UAS;
    setimer_start(b, c, LEG_B);
}

static void expire(b2b_t *b, struct call *c, int n, const char *why) {
    log_call(LOG_INFO, c->leg[LEG_A].call_id, "session timer of the %s: %s",
             n ? "callee" : "caller", why);
    c->leg[LEG_A].timer.secs = c->leg[LEG_B].timer.secs = 0;
    forget(b, c);
    c->end_cause = "session_expired";
    end_hang_up(b, c, "session timer expired");
}

/* Our refresh of leg n: an UPDATE without a body (RFC 4028 7.4), refresher=uac (us). */
static void refresh(b2b_t *b, struct call *c, int n) {
    struct dlg_timer *t = &c->leg[n].timer;
    if (c->state == CS_REINVITING || c->state == CS_MOVING) { /* a moment later */
        t->due_ms = uv_now(b->loop) + 1000;
        return;
    }
    struct sipout_hdrs hs = {.n = 0};
    snprintf(hs.buf, sizeof hs.buf, "%u;refresher=uac", t->secs);
    sipout_hdr_add(&hs, "Session-Expires", hs.buf);
    sipout_hdr_add(&hs, "Supported", "timer");
    t->pending = true;
    /* the answer must come within the interval, else the session expires */
    t->due_ms = uv_now(b->loop) + (uint64_t)t->secs * 1000 / 2;
    if (!sipout_request(b, c, n, "UPDATE", call_next_cseq(c, n), KIND_REFRESH, NULL, 0, &hs))
        expire(b, c, n, "no sipd to send the refresh");
}

void setimer_refreshed(b2b_t *b, struct call *c, int n, unsigned status) {
    struct dlg_timer *t = &c->leg[n].timer;
    if (!t->secs || !t->pending || status < 200)
        return;
    t->pending = false;
    if (status / 100 == 2) {
        t->due_ms = next_due(b, t);
        return;
    }
    if (status == 491) { /* glare with the leg's own request: again shortly */
        t->due_ms = uv_now(b->loop) + 1000;
        return;
    }
    char why[64];
    snprintf(why, sizeof why, "our refresh got %u", status);
    expire(b, c, n, why);
}

static void sweep_call(b2b_t *b, struct call *c, void *arg) {
    uint64_t now = *(uint64_t *)arg;
    if (!c->timer_counted || c->state == CS_ENDING)
        return;
    for (int n = 0; n < 2; n++) {
        struct dlg_timer *t = &c->leg[n].timer;
        if (!t->secs || now < t->due_ms)
            continue;
        if (!t->we_refresh) {
            expire(b, c, n, "no refresh in time");
            return;
        }
        if (t->pending) {
            expire(b, c, n, "no answer to our refresh");
            return;
        }
        refresh(b, c, n);
    }
}

static void sweep(uv_timer_t *handle) {
    b2b_t *b = handle->data;
    uint64_t now = uv_now(b->loop);
    call_each(b, sweep_call, &now);
}
