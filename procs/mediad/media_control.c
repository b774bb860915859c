/* media_control - see media_control.h */
#include "media_control.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "log.h"
#include "media_play.h"
#include "media_relay.h"
#include "media_sdp.h"

#define MEDIA_SWEEP_MS 250

/* ---- events ---- */

/* The ctx's event sink: the session's owner hears of it, while there is one. */
static void send_event(struct media_session *s, Sb__MediaEventType type, int side,
                       Sb__MediaEvent *tmpl) {
    if (!s->owner)
        return;
    Sb__MediaEvent ev = SB__MEDIA_EVENT__INIT;
    if (tmpl)
        ev = *tmpl;
    ev.type = type;
    ev.session_id = s->id;
    ev.owner_tag = s->owner_tag;
    ev.side = side ? SB__MEDIA_SIDE__MEDIA_SIDE_B : SB__MEDIA_SIDE__MEDIA_SIDE_A;
    int rc = ipc_send_media_event(s->owner, &ev);
    if (rc < 0)
        log_ratelimited(LOG_WARN, "media event to owner failed: %s", strerror(-rc));
}

/* ---- requests ---- */

/* The SDP text of a party rewritten for side idx (our ports, its profile and our key). */
static int rewrite_for(struct media_session *s, int idx, const struct media_sdp *parsed,
                       const char *text, size_t len, char **out, size_t *outlen, char *why,
                       size_t whylen) {
    struct media_sdp_local loc;
    memset(&loc, 0, sizeof loc);
    loc.addr = s->side[idx].announce;
    for (int m = 0; m < parsed->n_lines && m < s->n_lines; m++) {
        struct media_leg *l = &s->side[idx].leg[m];
        loc.rtp_port[m] = l->rtp.port;
        loc.rtcp_port[m] = l->rtcp.port;
        loc.srtp[m] = l->srtp;
        loc.crypto[m] = l->local_key;
    }
    int rc = media_sdp_rewrite(text, len, &loc, out, outlen, why, whylen);
    explicit_bzero(&loc, sizeof loc);
    return rc;
}

static void reply_status(ipc_chan_t *ch, const Sb__Envelope *req, const Sb__MediaReply *r) {
    int rc = ipc_reply_media_reply(ch, req, r);
    if (rc < 0)
        log_ratelimited(LOG_WARN, "media reply failed: %s", strerror(-rc));
}

static void reply_error(media_ctx_t *ctx, ipc_chan_t *ch, const Sb__Envelope *req,
                        Sb__MediaStatus st, const char *reason) {
    Sb__MediaReply r = SB__MEDIA_REPLY__INIT;
    r.status = st;
    r.reason = (char *)reason;
    r.instance = (uint32_t)ctx->w->instance;
    reply_status(ch, req, &r);
}

static Sb__MediaStatus sdp_status(media_ctx_t *ctx, int rc) {
    if (rc == -EBADMSG || rc == -EPROTONOSUPPORT)
        shm_count(ctx->w->slot, SHM_C_media_bad_sdp, 1);
    return rc == -EBADMSG           ? SB__MEDIA_STATUS__MEDIA_STATUS_BAD_SDP
           : rc == -EPROTONOSUPPORT ? SB__MEDIA_STATUS__MEDIA_STATUS_UNRELAYABLE
           : rc == -ENOSPC          ? SB__MEDIA_STATUS__MEDIA_STATUS_POOL_EXHAUSTED
                                    : SB__MEDIA_STATUS__MEDIA_STATUS_INTERNAL;
}

/* A side behind NAT: its media comes from its signaling source (nat_ip), not from its
 * SDP's address; an address that does not parse is no NAT. */
static void set_nat_ip(struct media_side *side, const char *ip) {
    media_sa_parse(ip, &side->nat_ip);
}

/* A side's signaling source (media_leg_sendable); one that does not parse is unknown. */
static void set_signal_ip(struct media_side *side, const char *ip) {
    media_sa_parse(ip, &side->signal_ip);
}

static void handle_create(media_ctx_t *ctx, ipc_chan_t *ch, const Sb__Envelope *env) {
    const Sb__MediaCreateRequest *rq = env->media_create;
    char why[256] = "";
    struct shm_stats *st = shm_stats_of(ctx->w->shm, ctx->w->slot);
    if (ctx->w->draining || ctx->stopping ||
        (st && __atomic_load_n(&st->media_drained, __ATOMIC_RELAXED))) {
        reply_error(ctx, ch, env, SB__MEDIA_STATUS__MEDIA_STATUS_DRAINING, "draining");
        return;
    }
    if (rq->srtp_b < 0 || rq->srtp_b > 2) {
        reply_error(ctx, ch, env, SB__MEDIA_STATUS__MEDIA_STATUS_BAD_REQUEST, "srtp_b is 0..2");
        return;
    }
    struct media_sdp offer;
    int rc = media_sdp_parse((const char *)rq->sdp.data, rq->sdp.len, &offer, why, sizeof why);
    if (rc != 0) {
        reply_error(ctx, ch, env, sdp_status(ctx, rc), why);
        return;
    }
    int from = rq->offer_side == SB__MEDIA_SIDE__MEDIA_SIDE_B ? 1 : 0;
    struct media_session *s = media_session_new(ctx, &offer, from, rq->local_ip, rq->other_local_ip, &rc);
    if (s) {
        set_nat_ip(&s->side[from], rq->nat_ip);
        set_signal_ip(&s->side[from], rq->signal_ip);
    }
    if (s && (rc = media_relay_offer(s, &offer, rq->srtp_b, from)) != 0) {
        media_session_close(s);
        s = NULL;
    }
    if (!s) {
        if (rc == -ENOSPC) {
            shm_count(ctx->w->slot, SHM_C_media_pool_exhausted, 1);
            log_call_ratelimited(LOG_WARN, rq->call_id, "media port pool %d-%d exhausted",
                                 ctx->port_lo, ctx->port_hi);
        } else if (rc == -EMFILE || rc == -ENFILE) { /* RLIMIT_NOFILE: docs/operations.md */
            log_call_ratelimited(LOG_WARN, rq->call_id,
                                 "no socket for a new session: %s (%u sessions)", strerror(-rc),
                                 ctx->n_sessions);
        } else if (rc == -ENODATA) {
            log_call_ratelimited(LOG_ERROR, rq->call_id,
                                 "no random bytes for an SRTP key: create refused");
        }
        reply_error(ctx, ch, env, sdp_status(ctx, rc),
                    rc == -ENOSPC                    ? "no free port pair"
                    : rc == -EMFILE || rc == -ENFILE ? "out of file descriptors"
                    : rc == -ENODATA                 ? "no random bytes for an SRTP key"
                                                     : "session setup failed");
        return;
    }
    shm_count(ctx->w->slot, SHM_C_media_sessions_created, 1);
    media_relay_start(s);
    snprintf(s->call_id, sizeof s->call_id, "%s", rq->call_id ? rq->call_id : "");
    snprintf(s->owner_tag, sizeof s->owner_tag, "%s", rq->owner_tag ? rq->owner_tag : "");
    s->owner = ch;
    char *for_b = NULL, *for_a = NULL;
    size_t lb = 0, la = 0;
    /* for_b: the offer rewritten for the other side; for_a: the offering side's own view */
    rc = rewrite_for(s, 1 - from, &offer, (const char *)rq->sdp.data, rq->sdp.len, &for_b, &lb, why,
                     sizeof why);
    if (rc == 0)
        rc = rewrite_for(s, from, &offer, (const char *)rq->sdp.data, rq->sdp.len, &for_a, &la, why,
                         sizeof why);
    if (rc != 0) {
        free(for_b);
        media_session_close(s);
        reply_error(ctx, ch, env, sdp_status(ctx, rc), why);
        return;
    }
    Sb__MediaReply r = SB__MEDIA_REPLY__INIT;
    r.status = SB__MEDIA_STATUS__MEDIA_STATUS_OK;
    r.session_id = s->id;
    r.sdp.data = (uint8_t *)for_b;
    r.sdp.len = lb;
    r.sdp_local.data = (uint8_t *)for_a;
    r.sdp_local.len = la;
    r.instance = (uint32_t)ctx->w->instance;
    r.free_ports = shm_media_free_count(&ctx->w->shm->media_pool, ctx->port_lo, ctx->port_hi);
    reply_status(ch, env, &r);
    log_call(LOG_DEBUG, s->call_id, "media session %llx created (%d lines)",
             (unsigned long long)s->id, s->n_lines);
    explicit_bzero(for_a, la);
    explicit_bzero(for_b, lb);
    free(for_a);
    free(for_b);
}

static void handle_update(media_ctx_t *ctx, ipc_chan_t *ch, const Sb__Envelope *env) {
    const Sb__MediaUpdateRequest *rq = env->media_update;
    struct media_session *s = media_session_find(ctx, rq->session_id);
    char why[256] = "";
    if (!s) {
        reply_error(ctx, ch, env, SB__MEDIA_STATUS__MEDIA_STATUS_UNKNOWN_SESSION,
                    "no such session");
        return;
    }
    int from = rq->from_side == SB__MEDIA_SIDE__MEDIA_SIDE_B ? 1 : 0;
    struct media_sdp sdp;
    int rc = media_sdp_parse((const char *)rq->sdp.data, rq->sdp.len, &sdp, why, sizeof why);
    if (rc == 0 && sdp.n_lines != s->n_lines) {
        /* RFC 3264 8: m-lines are never removed; new ones would need new ports */
        snprintf(why, sizeof why, "%d m-lines where the session has %d", sdp.n_lines, s->n_lines);
        rc = -EPROTONOSUPPORT;
    }
    for (int m = 0; rc == 0 && m < sdp.n_lines; m++)
        if (sdp.line[m].port != 0 && !s->side[from].leg[m].rtp.open) {
            snprintf(why, sizeof why, "m-line %d was rejected and cannot be revived", m);
            rc = -EPROTONOSUPPORT;
        }
    if (rc != 0) {
        reply_error(ctx, ch, env, sdp_status(ctx, rc), why);
        return;
    }
    set_nat_ip(&s->side[from], rq->nat_ip);
    set_signal_ip(&s->side[from], rq->signal_ip);
    rc = media_relay_apply(s, from, &sdp);
    if (rc == -ENODATA) {
        log_call_ratelimited(LOG_ERROR, s->call_id,
                             "no random bytes for an SRTP key: update refused");
        reply_error(ctx, ch, env, SB__MEDIA_STATUS__MEDIA_STATUS_INTERNAL,
                    "no random bytes for an SRTP key");
        return;
    }
    if (rc != 0) {
        reply_error(ctx, ch, env, SB__MEDIA_STATUS__MEDIA_STATUS_INTERNAL, "SRTP setup failed");
        return;
    }
    if (rq->type == SB__MEDIA_SDP_TYPE__MEDIA_SDP_ANSWER)
        s->answered = true;
    if (rq->confirmed && !s->confirmed) {
        s->confirmed = true;
        s->last_rx_us = clock_mono_us();
    }
    int to = 1 - from;
    char *out = NULL;
    size_t len = 0;
    rc = rewrite_for(s, to, &sdp, (const char *)rq->sdp.data, rq->sdp.len, &out, &len, why,
                     sizeof why);
    if (rc != 0) {
        reply_error(ctx, ch, env, sdp_status(ctx, rc), why);
        return;
    }
    Sb__MediaReply r = SB__MEDIA_REPLY__INIT;
    r.status = SB__MEDIA_STATUS__MEDIA_STATUS_OK;
    r.session_id = s->id;
    r.sdp.data = (uint8_t *)out;
    r.sdp.len = len;
    r.instance = (uint32_t)ctx->w->instance;
    reply_status(ch, env, &r);
    explicit_bzero(out, len);
    free(out);
}

static void fill_side_stats(const struct media_side *side, int n_lines, Sb__MediaSideStats *st,
                            char *remote, char *local, size_t len) {
    uint32_t jitter = 0;
    for (int m = 0; m < n_lines; m++) {
        const struct media_leg *l = &side->leg[m];
        st->rx_packets += l->in.packets;
        st->rx_bytes += l->in.bytes;
        st->rx_lost += media_rtp_stats_lost(&l->rx);
        uint32_t j = media_rtp_stats_jitter(&l->rx);
        jitter = j > jitter ? j : jitter;
        st->rx_dropped += l->dropped;
        st->tx_packets += l->out.packets;
        st->tx_bytes += l->out.bytes;
        st->srtp_failed += l->srtp_failed;
        st->rtcp_packets += l->rtcp_in;
    }
    st->rx_jitter = jitter;
    const struct media_leg *l0 = &side->leg[0];
    if (l0->has_remote)
        media_sa_text(&l0->remote_rtp, remote, len);
    else
        snprintf(remote, len, "-");
    media_sa_t me = side->announce_sa;
    media_sa_set_port(&me, l0->rtp.port);
    media_sa_text(&me, local, len);
    st->remote = remote;
    st->local = local;
}

struct info_buf {
    Sb__MediaSessionInfo info;
    Sb__MediaSideStats a, b;
    char ra[64], la[64], rb[64], lb[64];
};

static void fill_info(const struct media_session *s, struct info_buf *ib) {
    sb__media_session_info__init(&ib->info);
    sb__media_side_stats__init(&ib->a);
    sb__media_side_stats__init(&ib->b);
    ib->info.session_id = s->id;
    ib->info.call_id = (char *)s->call_id;
    ib->info.owner_tag = (char *)s->owner_tag;
    ib->info.media_lines = (uint32_t)s->n_lines;
    ib->info.state = s->confirmed ? "confirmed" : s->answered ? "answered" : "offered";
    ib->info.codec = (char *)s->codec;
    ib->info.created_at_ms = s->created_ms;
    ib->info.bridged_to = s->side[0].bridge ? s->side[0].bridge->s->id : 0;
    ib->info.playing = s->side[0].playing || s->side[1].playing;
    fill_side_stats(&s->side[0], s->n_lines, &ib->a, ib->ra, ib->la, sizeof ib->ra);
    fill_side_stats(&s->side[1], s->n_lines, &ib->b, ib->rb, ib->lb, sizeof ib->rb);
    ib->info.a = &ib->a;
    ib->info.b = &ib->b;
}

static void handle_list(media_ctx_t *ctx, ipc_chan_t *ch, const Sb__Envelope *env, uint64_t only) {
    size_t cap = only ? 1 : ctx->n_sessions;
    struct info_buf *ibs = calloc(cap ? cap : 1, sizeof *ibs);
    Sb__MediaSessionInfo **ptrs = calloc(cap ? cap : 1, sizeof *ptrs);
    if (!ibs || !ptrs) {
        free(ibs);
        free(ptrs);
        reply_error(ctx, ch, env, SB__MEDIA_STATUS__MEDIA_STATUS_INTERNAL, "out of memory");
        return;
    }
    Sb__MediaReply r = SB__MEDIA_REPLY__INIT;
    r.status = SB__MEDIA_STATUS__MEDIA_STATUS_OK;
    r.instance = (uint32_t)ctx->w->instance;
    r.free_ports = shm_media_free_count(&ctx->w->shm->media_pool, ctx->port_lo, ctx->port_hi);
    size_t limit = (size_t)cfg_int(ctx->w->cfg, CFG_ipc_max_message) - 512, used = 64;
    if (only) {
        struct media_session *s = media_session_find(ctx, only);
        if (!s) {
            free(ibs);
            free(ptrs);
            reply_error(ctx, ch, env, SB__MEDIA_STATUS__MEDIA_STATUS_UNKNOWN_SESSION,
                        "no such session");
            return;
        }
        fill_info(s, &ibs[0]);
        ptrs[r.n_sessions++] = &ibs[0].info;
        r.session_id = s->id;
    } else {
        for (struct media_session *s = ctx->all; s && r.n_sessions < cap; s = s->next) {
            fill_info(s, &ibs[r.n_sessions]);
            size_t sz = sb__media_session_info__get_packed_size(&ibs[r.n_sessions].info) + 8;
            if (used + sz > limit) {
                r.reason = "truncated: the list exceeds ipc_max_message";
                break;
            }
            used += sz;
            ptrs[r.n_sessions] = &ibs[r.n_sessions].info;
            r.n_sessions++;
        }
    }
    r.sessions = ptrs;
    reply_status(ch, env, &r);
    free(ibs);
    free(ptrs);
}

bool media_control_handle(media_ctx_t *ctx, ipc_chan_t *ch, Sb__Envelope *env) {
    struct media_session *s = NULL;
    uint64_t id = 0;
    switch (env->body_case) {
    case SB__ENVELOPE__BODY_MEDIA_CREATE:
        handle_create(ctx, ch, env);
        return true;
    case SB__ENVELOPE__BODY_MEDIA_UPDATE:
        handle_update(ctx, ch, env);
        return true;
    case SB__ENVELOPE__BODY_MEDIA_LIST:
        handle_list(ctx, ch, env, 0);
        return true;
    case SB__ENVELOPE__BODY_MEDIA_DRAIN: { /* an operator drain: sessions stay, none new */
        struct shm_stats *st = shm_stats_of(ctx->w->shm, ctx->w->slot);
        if (st)
            __atomic_store_n(&st->media_drained, env->media_drain->on ? 1u : 0u, __ATOMIC_RELAXED);
        log_info("operator drain %s", env->media_drain->on ? "on: no new sessions" : "off");
        Sb__MediaReply r = SB__MEDIA_REPLY__INIT;
        r.instance = (uint32_t)ctx->w->instance;
        reply_status(ch, env, &r);
        return true;
    }
    case SB__ENVELOPE__BODY_MEDIA_STATS:
        if (!env->media_stats->session_id) {
            reply_error(ctx, ch, env, SB__MEDIA_STATUS__MEDIA_STATUS_UNKNOWN_SESSION,
                        "no such session");
            return true;
        }
        handle_list(ctx, ch, env, env->media_stats->session_id);
        return true;
    case SB__ENVELOPE__BODY_MEDIA_BRIDGE: {
        struct media_session *a = media_session_find(ctx, env->media_bridge->session_a);
        struct media_session *b = media_session_find(ctx, env->media_bridge->session_b);
        if (!a || !b || a == b) {
            reply_error(ctx, ch, env, SB__MEDIA_STATUS__MEDIA_STATUS_UNKNOWN_SESSION,
                        a == b && a ? "a session cannot be bridged to itself" : "no such session");
            return true;
        }
        media_session_bridge(a, b);
        id = a->id;
        break;
    }
    case SB__ENVELOPE__BODY_MEDIA_UNBRIDGE:
        s = media_session_find(ctx, env->media_unbridge->session_id);
        if (s) {
            media_session_unbridge(s);
            id = s->id;
        }
        break;
    case SB__ENVELOPE__BODY_MEDIA_PLAY:
        s = media_session_find(ctx, env->media_play->session_id);
        if (s) {
            id = s->id;
            Sb__MediaReply r = SB__MEDIA_REPLY__INIT;
            r.session_id = id;
            r.instance = (uint32_t)ctx->w->instance;
            reply_status(ch, env, &r); /* first the answer, then the events */
            const Sb__MediaPlayRequest *rq = env->media_play;
            media_play_start(s, rq->to_side == SB__MEDIA_SIDE__MEDIA_SIDE_B ? 1 : 0, rq->file,
                             rq->loop, rq->progress_ms);
            return true;
        }
        break;
    case SB__ENVELOPE__BODY_MEDIA_STOP_PLAY:
        s = media_session_find(ctx, env->media_stop_play->session_id);
        if (s) {
            media_play_stop(&s->side[0], true);
            media_play_stop(&s->side[1], true);
            id = s->id;
        }
        break;
    case SB__ENVELOPE__BODY_MEDIA_DESTROY: {
        const Sb__MediaDestroyRequest *rq = env->media_destroy;
        if (!rq->session_id && rq->owner_tag && *rq->owner_tag) { /* an abandoned create */
            unsigned n = 0;
            for (struct media_session *o = ctx->all, *next; o; o = next) {
                next = o->next;
                if (o->owner == ch && strcmp(o->owner_tag, rq->owner_tag) == 0) {
                    media_session_close(o);
                    n++;
                }
            }
            if (n)
                log_info("%u session(s) of an abandoned create (owner tag %s) destroyed", n,
                         rq->owner_tag);
            Sb__MediaReply r = SB__MEDIA_REPLY__INIT;
            r.instance = (uint32_t)ctx->w->instance;
            reply_status(ch, env, &r);
            return true;
        }
        s = media_session_find(ctx, rq->session_id);
        if (s) {
            id = s->id;
            media_session_close(s);
        }
        break;
    }
    default:
        return false;
    }
    if (!id) {
        reply_error(ctx, ch, env, SB__MEDIA_STATUS__MEDIA_STATUS_UNKNOWN_SESSION,
                    "no such session");
        return true;
    }
    Sb__MediaReply r = SB__MEDIA_REPLY__INIT;
    r.session_id = id;
    r.instance = (uint32_t)ctx->w->instance;
    reply_status(ch, env, &r);
    return true;
}

/* ---- the sweep: timeouts, counters, reclaiming a dead instance's ports ---- */

static void sweep_tick(uv_timer_t *t) {
    media_ctx_t *ctx = t->data;
    int64_t now = clock_mono_us();
    for (struct media_session *s = ctx->all, *next; s; s = next) {
        next = s->next;
        media_relay_count_lost(s);
        if (!s->owner && now - s->last_rx_us >= (int64_t)ctx->timeout_ms * 1000) {
            /* its owner is gone and so is its media: nobody will ever destroy it */
            log_call(LOG_INFO, s->call_id,
                     "media session %llx: owner gone, no media for %ld ms: destroyed",
                     (unsigned long long)s->id, ctx->timeout_ms);
            media_session_close(s);
            continue;
        }
        if (!s->confirmed || s->timeout_sent)
            continue;
        if (now - s->last_rx_us >= (int64_t)ctx->timeout_ms * 1000) {
            s->timeout_sent = true; /* once per silence; packets re-arm it */
            shm_count(ctx->w->slot, SHM_C_media_timeouts, 1);
            send_event(s, SB__MEDIA_EVENT_TYPE__MEDIA_EVENT_TIMEOUT, 0, NULL);
        }
    }
    struct shm_proc *slot = ctx->w->slot;
    shm_count(slot, SHM_C_media_rx_packets, ctx->c_rx);
    shm_count(slot, SHM_C_media_tx_packets, ctx->c_tx);
    shm_count(slot, SHM_C_media_srtp_failed, ctx->c_srtp_failed);
    shm_count(slot, SHM_C_media_rx_dropped, ctx->c_dropped);
    shm_count(slot, SHM_C_media_rx_not_rtp, ctx->c_not_rtp);
    shm_count(slot, SHM_C_media_rx_bytes, ctx->c_rx_bytes);
    shm_count(slot, SHM_C_media_tx_bytes, ctx->c_tx_bytes);
    shm_count(slot, SHM_C_media_lost, ctx->c_lost);
    ctx->c_rx = ctx->c_tx = ctx->c_srtp_failed = ctx->c_dropped = 0;
    ctx->c_rx_bytes = ctx->c_tx_bytes = ctx->c_lost = ctx->c_not_rtp = 0;
    if (++ctx->sweeps % (4000 / MEDIA_SWEEP_MS) == 0) {
        int n = shm_media_reclaim(&ctx->w->shm->media_pool, ctx->port_lo, ctx->port_hi);
        if (n > 0) {
            shm_count(slot, SHM_C_media_ports_reclaimed, (uint64_t)n);
            log_info("took back %d port pairs of dead mediad processes", n);
        }
    }
}

/* ---- lifecycle ---- */

int media_control_init_privileged(void) {
    return media_relay_init_privileged();
}

media_ctx_t *media_control_new(worker_t *w) {
    media_ctx_t *ctx = media_ctx_new(w);
    if (!ctx)
        return NULL;
    ctx->event = send_event;
    if (media_relay_init(ctx) != 0 || media_play_init(ctx) != 0)
        log_panic("mediad: more teardown hooks than MEDIA_HOOKS_MAX");
    int n = shm_media_reclaim(&w->shm->media_pool, ctx->port_lo, ctx->port_hi);
    if (n > 0) {
        shm_count(w->slot, SHM_C_media_ports_reclaimed, (uint64_t)n);
        log_info("took back %d port pairs of dead mediad processes", n);
    }
    shm_gauge(w->slot, SHM_C_media_sessions, 0);
    uv_timer_init(w->loop, &ctx->sweep);
    ctx->sweep.data = ctx;
    uv_timer_start(&ctx->sweep, sweep_tick, MEDIA_SWEEP_MS, MEDIA_SWEEP_MS);
    log_info("media relay on %s, ports %d-%d, media_timeout %ld ms%s",
             ctx->n_ifs ? cfg_str(w->cfg, CFG_media_address) : "the address of each call's signaling",
             ctx->port_lo,
             ctx->port_hi, ctx->timeout_ms, ctx->latch_any ? ", latching from any source" : "");
    return ctx;
}

void media_control_reload(media_ctx_t *ctx) {
    media_ctx_config(ctx);
}

void media_control_drain(media_ctx_t *ctx) {
    if (ctx->n_sessions == 0)
        worker_drained(ctx->w);
    else
        ctx->drain_pending = true;
}

void media_control_peer_closed(media_ctx_t *ctx, ipc_chan_t *ch) {
    for (struct media_session *s = ctx->all; s; s = s->next)
        if (s->owner == ch)
            s->owner = NULL;
}

static void sweep_closed(uv_handle_t *h) {
    media_ctx_release(h->data);
}

void media_control_stop(media_ctx_t *ctx) {
    ctx->stopping = true;
    ctx->drain_pending = false;
    while (ctx->all) {
        struct media_session *s = ctx->all;
        send_event(s, SB__MEDIA_EVENT_TYPE__MEDIA_EVENT_SESSION_LOST, 0, NULL);
        media_session_close(s);
    }
    uv_close((uv_handle_t *)&ctx->sweep, sweep_closed);
}
