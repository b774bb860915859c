/* media_session - see media_session.h */
#include "media_session.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "log.h"
#include "media_port.h"
#include "rand.h"
#include "resources.h"

media_ctx_t *media_ctx_new(worker_t *w) {
    struct res_media_if ifs[RES_MEDIA_IF_MAX];
    size_t n_ifs;
    char why[160];
    if (res_media_interfaces(cfg_str(w->cfg, CFG_media_address), ifs, RES_MEDIA_IF_MAX, &n_ifs,
                             why, sizeof why) < 0) {
        log_error("main.cf: media_address %s", why);
        return NULL;
    }
    struct media_targets t;
    if (media_targets_config(&t, cfg_str(w->cfg, CFG_media_allow_targets), why, sizeof why) < 0) {
        log_error("main.cf: media_allow_targets %s", why);
        return NULL;
    }
    media_ctx_t *ctx = calloc(1, sizeof *ctx);
    if (!ctx)
        return NULL;
    ctx->w = w;
    ctx->audio_dirfd = -1;
    ctx->loop = w->loop;
    memcpy(ctx->ifs, ifs, sizeof ifs);
    ctx->n_ifs = n_ifs;
    ctx->random = sb_random;
    media_ctx_config(ctx);
    return ctx;
}

/* Side's interface, for signaling that arrived on local_ip ("" unknown) and an SDP of
 * family (0 unknown): see media_session_new. */
static void side_iface(media_ctx_t *ctx, struct media_side *side, const char *local_ip,
                       int family) {
    media_sa_t lip;
    bool have = media_sa_parse(local_ip, &lip);
    if (ctx->n_ifs == 0) {
        if (!have)
            media_sa_parse(family == AF_INET6 ? "::1" : "127.0.0.1", &lip);
        side->bind = side->announce_sa = lip;
        media_sa_ip_text(&lip, side->announce, sizeof side->announce);
        return;
    }
    const struct res_media_if *f = NULL;
    for (size_t i = 0; have && !f && i < ctx->n_ifs; i++) {
        media_sa_t l;
        if (media_sa_parse(ctx->ifs[i].local, &l) && media_sa_ip_eq(&l, &lip))
            f = &ctx->ifs[i];
    }
    int want = have ? lip.sa.sa_family : family;
    for (size_t i = 0; want && !f && i < ctx->n_ifs; i++)
        if (ctx->ifs[i].family == want)
            f = &ctx->ifs[i];
    if (!f)
        f = &ctx->ifs[0];
    if (!media_sa_parse(f->local, &side->bind)) { /* every address of its family */
        memset(&side->bind, 0, sizeof side->bind);
        side->bind.sa.sa_family = (sa_family_t)f->family;
    }
    snprintf(side->announce, sizeof side->announce, "%s", f->announce);
    media_sa_parse(f->announce, &side->announce_sa);
}

void media_ctx_config(media_ctx_t *ctx) {
    const cfg_t *cfg = ctx->w->cfg;
    cfg_port_range(cfg, CFG_rtp_port_range, &ctx->port_lo, &ctx->port_hi);
    ctx->timeout_ms = cfg_time_ms(cfg, CFG_media_timeout);
    ctx->latch_any = cfg_bool(cfg, CFG_media_latch_any);
    char why[160];
    if (media_targets_config(&ctx->targets, cfg_str(cfg, CFG_media_allow_targets), why,
                             sizeof why) < 0)
        log_error("main.cf: media_allow_targets %s: the previous value is kept", why);
}

int media_ctx_add_hooks(media_ctx_t *ctx, const struct media_hooks *hooks) {
    if (ctx->n_hooks >= MEDIA_HOOKS_MAX)
        return -ENOSPC;
    ctx->hooks[ctx->n_hooks++] = hooks;
    return 0;
}

void media_ctx_release(media_ctx_t *ctx) {
    ctx->released = true;
    if (ctx->closing == 0)
        free(ctx);
}

struct media_session *media_session_find(media_ctx_t *ctx, uint64_t id) {
    for (struct media_session *s = ctx->buckets[id % MEDIA_BUCKETS]; s; s = s->hnext)
        if (s->id == id && !s->closing)
            return s;
    return NULL;
}

/* ---- lifetime: every handle of a session holds it ---- */

static void session_unref(struct media_session *s) {
    if (--s->open_handles > 0)
        return;
    media_ctx_t *ctx = s->ctx;
    for (int k = 0; k < ctx->n_hooks; k++)
        if (ctx->hooks[k]->freeing)
            ctx->hooks[k]->freeing(s);
    free(s->side[0].leg);
    free(s);
    if (--ctx->closing == 0 && ctx->released)
        free(ctx);
}

static void sock_closed(uv_handle_t *h) {
    struct media_sock *sock = h->data;
    struct media_session *s = sock->leg->side->s;
    close(sock->fd);
    if (!sock->rtcp)
        media_port_pair_release(&s->ctx->w->shm->media_pool, sock->port);
    sock->fd = -1;
    session_unref(s);
}

static void timer_closed(uv_handle_t *h) {
    struct media_side *side = h->data;
    session_unref(side->s);
}

static int sock_init(media_ctx_t *ctx, struct media_session *s, struct media_sock *sock,
                     struct media_leg *l, int fd, int port, bool rtcp) {
    sock->fd = fd;
    sock->port = port;
    sock->rtcp = rtcp;
    sock->leg = l;
    if (uv_poll_init(ctx->loop, &sock->poll, fd) != 0)
        return -EIO;
    sock->poll.data = sock;
    sock->open = true;
    s->open_handles++;
    return 0;
}

/* Claims and binds a port pair for l; its sockets are closed with the session. */
static int leg_open(media_ctx_t *ctx, struct media_session *s, struct media_leg *l) {
    int fds[2];
    int port = media_port_pair_open(&ctx->w->shm->media_pool, ctx->port_lo, ctx->port_hi,
                                    &l->side->bind, fds);
    if (port < 0)
        return port;
    if (sock_init(ctx, s, &l->rtp, l, fds[0], port, false) != 0) {
        close(fds[0]);
        close(fds[1]);
        l->rtp.fd = -1;
        media_port_pair_release(&ctx->w->shm->media_pool, port);
        return -EIO;
    }
    if (sock_init(ctx, s, &l->rtcp, l, fds[1], port + 1, true) != 0) {
        close(fds[1]); /* the RTP socket's close gives the pair back */
        l->rtcp.fd = -1;
        return -EIO;
    }
    return 0;
}

void media_session_close(struct media_session *s) {
    media_ctx_t *ctx = s->ctx;
    if (s->closing)
        return;
    s->closing = true;
    for (int k = 0; k < ctx->n_hooks; k++)
        if (ctx->hooks[k]->closing)
            ctx->hooks[k]->closing(s);
    /* whoever was bridged to us relays nowhere now */
    for (struct media_session *o = ctx->all; o; o = o->next)
        for (int i = 0; i < 2; i++)
            if (o->side[i].bridge && o->side[i].bridge->s == s)
                o->side[i].bridge = NULL;
    struct media_session **pp = &ctx->buckets[s->id % MEDIA_BUCKETS];
    while (*pp && *pp != s)
        pp = &(*pp)->hnext;
    if (*pp)
        *pp = s->hnext;
    if (s->prev)
        s->prev->next = s->next;
    else
        ctx->all = s->next;
    if (s->next)
        s->next->prev = s->prev;
    ctx->n_sessions--;
    ctx->closing++;
    shm_gauge(ctx->w->slot, SHM_C_media_sessions, ctx->n_sessions);
    s->open_handles++; /* hold s until every close is queued */
    for (int i = 0; i < 2; i++) {
        uv_close((uv_handle_t *)&s->side[i].play.timer, timer_closed);
        for (int m = 0; m < s->n_lines; m++) {
            struct media_leg *l = &s->side[i].leg[m];
            if (l->rtp.open)
                uv_close((uv_handle_t *)&l->rtp.poll, sock_closed);
            if (l->rtcp.open)
                uv_close((uv_handle_t *)&l->rtcp.poll, sock_closed);
        }
    }
    session_unref(s); /* drop the hold */
    if (ctx->drain_pending && ctx->n_sessions == 0) {
        ctx->drain_pending = false;
        worker_drained(ctx->w);
    }
}

struct media_session *media_session_new(media_ctx_t *ctx, const struct media_sdp *offer,
                                        int from, const char *local_ip,
                                        const char *other_local_ip, int *err) {
    /* the legs of the m-lines there are, not of the most there may be: a one-line call
     * costs two legs, not sixteen (most of a session's memory) */
    int n = offer->n_lines > 0 ? offer->n_lines : 1;
    struct media_session *s = calloc(1, sizeof *s);
    struct media_leg *legs = calloc(2 * (size_t)n, sizeof *legs);
    if (!s || !legs) {
        free(s);
        free(legs);
        *err = -ENOMEM;
        return NULL;
    }
    s->ctx = ctx;
    s->n_lines = offer->n_lines;
    /* following the signaling, ports are bound to the address announced, so that what a
     * phone's NAT let out comes back from the address it was sent to */
    int family = 0;
    for (int m = 0; !family && m < offer->n_lines; m++)
        if (offer->line[m].port != 0)
            family = offer->line[m].addr.sa.sa_family;
    side_iface(ctx, &s->side[from], local_ip, family);
    if (other_local_ip && *other_local_ip)
        side_iface(ctx, &s->side[1 - from], other_local_ip, 0);
    else
        side_iface(ctx, &s->side[1 - from], local_ip, family);
    s->side[0].leg = legs;
    s->side[1].leg = legs + n;
    s->created_ms = clock_wall_us() / 1000;
    s->last_rx_us = clock_mono_us();
    do
        s->id =
            ((uint64_t)(ctx->w->instance & 0xffff) << 48) | (++ctx->next_id & 0xffffffffffffULL);
    while (media_session_find(ctx, s->id));
    for (int i = 0; i < 2; i++) {
        struct media_side *side = &s->side[i];
        side->s = s;
        side->idx = i;
        side->bridge = &s->side[1 - i];
        uv_timer_init(ctx->loop, &side->play.timer);
        side->play.timer.data = side;
        s->open_handles++;
        for (int m = 0; m < n; m++) {
            struct media_leg *l = &side->leg[m];
            l->side = side;
            l->line = m;
            l->dtmf_pt = l->first_pt = l->pcmu_pt = l->pcma_pt = -1;
            l->clock_rate = 8000;
            l->rtp.fd = l->rtcp.fd = -1;
        }
    }
    /* link now so a failure below can use media_session_close */
    s->hnext = ctx->buckets[s->id % MEDIA_BUCKETS];
    ctx->buckets[s->id % MEDIA_BUCKETS] = s;
    s->next = ctx->all;
    if (ctx->all)
        ctx->all->prev = s;
    ctx->all = s;
    ctx->n_sessions++;
    for (int m = 0; m < offer->n_lines; m++) {
        if (offer->line[m].port == 0)
            continue;
        for (int i = 0; i < 2; i++) {
            int rc = leg_open(ctx, s, &s->side[i].leg[m]);
            if (rc < 0) {
                *err = rc;
                media_session_close(s);
                return NULL;
            }
        }
    }
    snprintf(s->codec, sizeof s->codec, "%s", offer->line[0].codec);
    shm_gauge(ctx->w->slot, SHM_C_media_sessions, ctx->n_sessions);
    return s;
}

void media_session_bridge(struct media_session *a, struct media_session *b) {
    for (int k = 0; k < 2; k++) {
        struct media_side *x = k ? &b->side[0] : &a->side[0];
        if (x->bridge && x->bridge->bridge == x)
            x->bridge->bridge = NULL;
    }
    a->side[0].bridge = &b->side[0];
    b->side[0].bridge = &a->side[0];
}

void media_session_unbridge(struct media_session *s) {
    struct media_side *x = &s->side[0];
    if (x->bridge && x->bridge->bridge == x)
        x->bridge->bridge = NULL;
    x->bridge = NULL;
}
