/* media_relay - see media_relay.h */
#include "media_relay.h"

#include <errno.h>
#include <string.h>

#include "clock.h"
#include "shm.h"

#define MEDIA_BATCHES_PER_WAKEUP 8

/* ---- keys and SRTP contexts ---- */

/* A fresh master key for suite, drawn from ctx->random; -ENODATA when there is none. */
static int key_new(media_ctx_t *ctx, struct media_sdp_crypto *c, enum media_crypto_suite suite,
                   int tag) {
    if (ctx->random(c->key, sizeof c->key) != 0) {
        explicit_bzero(c->key, sizeof c->key);
        return -ENODATA;
    }
    c->suite = suite;
    c->tag = tag;
    return 0;
}

static void srtp_free_leg(struct media_leg *l) {
    if (l->srtp_in)
        srtp_dealloc(l->srtp_in);
    if (l->srtp_out)
        srtp_dealloc(l->srtp_out);
    l->srtp_in = l->srtp_out = NULL;
}

static int srtp_make(srtp_t *ctx, const struct media_sdp_crypto *c, bool inbound) {
    srtp_policy_t p;
    memset(&p, 0, sizeof p);
    if (c->suite == MEDIA_CRYPTO_AES_CM_128_HMAC_SHA1_32)
        srtp_crypto_policy_set_aes_cm_128_hmac_sha1_32(&p.rtp);
    else
        srtp_crypto_policy_set_aes_cm_128_hmac_sha1_80(&p.rtp);
    /* RFC 4568 6.2.1: SRTCP always uses the 80-bit tag */
    srtp_crypto_policy_set_aes_cm_128_hmac_sha1_80(&p.rtcp);
    p.ssrc.type = inbound ? ssrc_any_inbound : ssrc_any_outbound;
    p.key = (unsigned char *)c->key;
    p.window_size = 128;
    p.allow_repeat_tx = 1;
    p.next = NULL;
    return srtp_create(ctx, &p) == srtp_err_status_ok ? 0 : -EINVAL;
}

/* (Re)builds a leg's contexts from its keys; plain legs get none. */
static int srtp_setup_leg(struct media_leg *l) {
    srtp_free_leg(l);
    if (!l->srtp)
        return 0;
    if (l->remote_key.suite != MEDIA_CRYPTO_NONE && srtp_make(&l->srtp_in, &l->remote_key, true))
        return -EINVAL;
    if (l->local_key.suite != MEDIA_CRYPTO_NONE && srtp_make(&l->srtp_out, &l->local_key, false))
        return -EINVAL;
    return 0;
}

/* ---- teardown ---- */

void media_relay_count_lost(struct media_session *s) {
    uint64_t lost = 0;
    for (int i = 0; i < 2; i++)
        for (int m = 0; m < s->n_lines; m++)
            lost += media_rtp_stats_lost(&s->side[i].leg[m].rx);
    if (lost > s->lost_counted) {
        s->ctx->c_lost += lost - s->lost_counted;
        s->lost_counted = lost;
    }
}

static void relay_freeing(struct media_session *s) {
    for (int i = 0; i < 2; i++)
        for (int m = 0; m < s->n_lines; m++)
            srtp_free_leg(&s->side[i].leg[m]);
}

static const struct media_hooks relay_hooks = {
    .closing = media_relay_count_lost,
    .freeing = relay_freeing,
};

/* ---- the packet path ---- */

static inline void drop(media_ctx_t *ctx, struct media_leg *l) {
    l->dropped++;
    ctx->c_dropped++;
}

/* Whether leg l may be heard from this source IP: the IP its SDP announced (when it is
 * an allowed target), its NAT's, its signaling source's, or any with media_latch_any. */
static bool source_expected(const media_ctx_t *ctx, const struct media_leg *l,
                            const media_sa_t *from) {
    if (!l->has_remote)
        return false;
    return ctx->latch_any || (l->target_ok && media_sa_ip_eq(from, &l->signaled)) ||
           media_sa_ip_eq(from, &l->side->nat_ip) || media_sa_ip_eq(from, &l->side->signal_ip);
}

/* RFC 3264 latching of an accepted packet's source (after SRTP authenticated it): the
 * first one is learnt; another port later is refused on a plain leg (anyone on the IP
 * could send it), and learnt on an SRTP leg (only the key's holder could: the phone's
 * NAT gave it a new port). */
static bool latch(struct media_leg *l, bool rtcp, const media_sa_t *from) {
    media_sa_t *remote = rtcp ? &l->remote_rtcp : &l->remote_rtp;
    bool *latched = rtcp ? &l->latched_rtcp : &l->latched_rtp;
    if (*latched && media_sa_eq(remote, from))
        return true;
    if (*latched && !l->srtp)
        return false;
    *remote = *from;
    *latched = true;
    return true;
}

/* Handles one received packet in buf (len bytes); returns the length to relay to out,
 * 0 to drop. */
static int packet_in(media_ctx_t *ctx, struct media_sock *sock, uint8_t *buf, int len,
                     const media_sa_t *from, struct media_leg **out_leg, int64_t now_us) {
    struct media_leg *l = sock->leg;
    struct media_session *s = l->side->s;
    ctx->c_rx++;
    if (!source_expected(ctx, l, from)) {
        drop(ctx, l);
        return 0;
    }
    enum media_pkt_kind kind = media_packet_kind(buf, (size_t)len, sock->rtcp);
    if (kind == MEDIA_PKT_OTHER) { /* not RTP nor RTCP: never relayed, never latched */
        l->dropped++;
        ctx->c_not_rtp++;
        return 0;
    }
    bool rtcp = kind == MEDIA_PKT_RTCP;
    if (l->srtp) {
        if (!l->srtp_in) {
            drop(ctx, l);
            return 0;
        }
        srtp_err_status_t st = rtcp ? srtp_unprotect_rtcp(l->srtp_in, buf, &len)
                                    : srtp_unprotect(l->srtp_in, buf, &len);
        if (st != srtp_err_status_ok) {
            l->srtp_failed++;
            ctx->c_srtp_failed++;
            return 0;
        }
    }
    if (!latch(l, sock->rtcp, from)) {
        drop(ctx, l);
        return 0;
    }
    l->in.packets++;
    l->in.bytes += (uint64_t)len;
    ctx->c_rx_bytes += (uint64_t)len;
    s->last_rx_us = now_us;
    if (s->timeout_sent)
        s->timeout_sent = false;
    if (rtcp) {
        l->rtcp_in++;
    } else {
        struct media_rtp_hdr h;
        if (media_rtp_header(buf, (size_t)len, &h) == 0) {
            bool dtmf = l->dtmf_pt >= 0 && h.pt == l->dtmf_pt;
            int64_t arrival = now_us * l->clock_rate / 1000000;
            media_rtp_stats_update(&l->rx, h.ssrc, h.seq, h.ts, arrival, !dtmf);
            struct media_dtmf d;
            if (dtmf && media_dtmf_parse(buf + h.header_len, (size_t)len - h.header_len, &d) == 0 &&
                media_dtmf_should_report(&l->dtmf, h.ts, &d)) {
                Sb__MediaEvent ev = SB__MEDIA_EVENT__INIT;
                ev.digit = (char *)media_dtmf_digit(d.event);
                ev.duration_ms = (uint32_t)((uint64_t)d.duration * 1000 / (unsigned)l->clock_rate);
                shm_count(ctx->w->slot, SHM_C_media_dtmf_events, 1);
                media_session_event(s, SB__MEDIA_EVENT_TYPE__MEDIA_EVENT_DTMF, l->side->idx, &ev);
            }
        }
    }
    struct media_side *peer = l->side->bridge;
    if (!peer || l->line >= peer->s->n_lines) {
        drop(ctx, l);
        return 0;
    }
    struct media_leg *pl = &peer->leg[l->line];
    if (!media_leg_sendable(pl, sock->rtcp) || !media_dir_sends(l->dir) ||
        !media_dir_receives(pl->dir) ||
        (peer->playing && !rtcp)) {
        drop(ctx, l); /* RFC 3264 6.1: hold, or the party hears a prompt */
        return 0;
    }
    if (pl->srtp) {
        if (!pl->srtp_out) {
            drop(ctx, l);
            return 0;
        }
        srtp_err_status_t st = rtcp ? srtp_protect_rtcp(pl->srtp_out, buf, &len)
                                    : srtp_protect(pl->srtp_out, buf, &len);
        if (st != srtp_err_status_ok) {
            drop(ctx, l);
            return 0;
        }
    }
    *out_leg = pl;
    return len;
}

static void sock_readable(uv_poll_t *h, int status, int events) {
    struct media_sock *sock = h->data;
    struct media_leg *l = sock->leg;
    media_ctx_t *ctx = l->side->s->ctx;
    if (status < 0 || !(events & UV_READABLE))
        return;
    for (int round = 0; round < MEDIA_BATCHES_PER_WAKEUP; round++) {
        /* the headers are set up once (media_relay_init); the kernel only changes these */
        for (int i = 0; i < MEDIA_BATCH; i++) {
            ctx->in_msgs[i].msg_hdr.msg_namelen = sizeof ctx->in_from[i];
            ctx->in_msgs[i].msg_hdr.msg_flags = 0;
        }
        int n = recvmmsg(sock->fd, ctx->in_msgs, MEDIA_BATCH, MSG_DONTWAIT, NULL);
        if (n <= 0)
            return;
        int64_t now_us = clock_mono_us();
        int out = 0;
        struct media_leg *dest = NULL;
        for (int i = 0; i < n; i++) {
            int len = (int)ctx->in_msgs[i].msg_len;
            if ((ctx->in_msgs[i].msg_hdr.msg_flags & MSG_TRUNC) || !media_sa_set(&ctx->in_from[i])) {
                drop(ctx, l);
                ctx->c_rx++;
                continue;
            }
            struct media_leg *pl = NULL;
            len = packet_in(ctx, sock, ctx->bufs[i], len, &ctx->in_from[i], &pl, now_us);
            if (len <= 0 || !pl)
                continue;
            if (l->side->s->closing)
                break; /* an event handler cannot destroy it (events are sent, not run) */
            dest = pl;
            media_sa_t *to = sock->rtcp ? &pl->remote_rtcp : &pl->remote_rtp;
            ctx->out_iov[out].iov_base = ctx->bufs[i];
            ctx->out_iov[out].iov_len = (size_t)len;
            memset(&ctx->out_msgs[out].msg_hdr, 0, sizeof ctx->out_msgs[out].msg_hdr);
            ctx->out_msgs[out].msg_hdr.msg_iov = &ctx->out_iov[out];
            ctx->out_msgs[out].msg_hdr.msg_iovlen = 1;
            ctx->out_msgs[out].msg_hdr.msg_name = to;
            ctx->out_msgs[out].msg_hdr.msg_namelen = media_sa_len(to);
            pl->out.packets++;
            pl->out.bytes += (uint64_t)len;
            ctx->c_tx_bytes += (uint64_t)len;
            out++;
        }
        if (out > 0) {
            /* every packet of a batch leaves by the same socket of the same peer leg */
            int fd = sock->rtcp ? dest->rtcp.fd : dest->rtp.fd;
            int sent = sendmmsg(fd, ctx->out_msgs, (unsigned)out, MSG_DONTWAIT);
            if (sent < 0)
                sent = 0;
            ctx->c_tx += (uint64_t)sent;
            if (sent < out) {
                ctx->c_dropped += (uint64_t)(out - sent);
                dest->out.packets -= (uint64_t)(out - sent);
            }
        }
        if (n < MEDIA_BATCH)
            return;
    }
}

/* ---- setup ---- */

int media_relay_init_privileged(void) {
    /* libsrtp2's self-tests may need files (its crypto backend's configuration) that a
     * chroot no longer shows: before the drop, once per process */
    return srtp_init() == srtp_err_status_ok ? 0 : -EIO;
}

int media_relay_init(media_ctx_t *ctx) {
    for (int i = 0; i < MEDIA_BATCH; i++) {
        ctx->in_iov[i].iov_base = ctx->bufs[i];
        ctx->in_iov[i].iov_len = MEDIA_PKT_MAX;
        ctx->in_msgs[i].msg_hdr.msg_iov = &ctx->in_iov[i];
        ctx->in_msgs[i].msg_hdr.msg_iovlen = 1;
        ctx->in_msgs[i].msg_hdr.msg_name = &ctx->in_from[i];
    }
    return media_ctx_add_hooks(ctx, &relay_hooks);
}

int media_relay_apply(struct media_session *s, int idx, const struct media_sdp *sdp) {
    struct media_side *side = &s->side[idx];
    struct media_sdp_crypto fresh[MEDIA_SDP_MAX_LINES];
    int rc = 0;
    memset(fresh, 0, sizeof fresh);
    /* our keys first, so that no random bytes leaves the side as it was */
    for (int m = 0; m < s->n_lines && m < sdp->n_lines && m < MEDIA_SDP_MAX_LINES; m++) {
        const struct media_sdp_line *ln = &sdp->line[m];
        if (ln->port != 0 && ln->srtp && side->leg[m].local_key.suite == MEDIA_CRYPTO_NONE &&
            (rc = key_new(s->ctx, &fresh[m], ln->crypto.suite, ln->crypto.tag)) != 0)
            break;
    }
    for (int m = 0; rc == 0 && m < s->n_lines && m < sdp->n_lines; m++) {
        const struct media_sdp_line *ln = &sdp->line[m];
        struct media_leg *l = &side->leg[m];
        if (ln->port == 0) {
            l->has_remote = false; /* rejected: nothing flows to or from it */
            continue;
        }
        media_sa_t rtp = ln->addr, rtcp = ln->addr;
        media_sa_set_port(&rtp, ln->port);
        media_sa_set_port(&rtcp, ln->rtcp_port);
        if (!l->has_remote || !media_sa_ip_eq(&l->signaled, &ln->addr) ||
            l->signaled_port != ln->port ||
            l->signaled_rtcp != ln->rtcp_port) {
            /* a new remote (first SDP, or a re-INVITE that moved): latch afresh; the same
             * SDP again (hold, codec change) keeps what was learnt behind a NAT */
            l->remote_rtp = rtp;
            l->latched_rtp = false;
            l->remote_rtcp = rtcp;
            l->latched_rtcp = false;
        }
        l->has_remote = !media_sa_unspecified(&ln->addr);
        l->signaled = ln->addr;
        /* a target of another family than the side's sockets cannot be sent to */
        l->target_ok = ln->addr.sa.sa_family == side->bind.sa.sa_family &&
                       media_target_ok(&s->ctx->targets, &ln->addr, &side->signal_ip,
                                       media_sa_unspecified(&side->bind) ? &side->announce_sa
                                                                         : &side->bind);
        l->signaled_port = ln->port;
        l->signaled_rtcp = ln->rtcp_port;
        l->dir = ln->dir;
        l->dtmf_pt = ln->dtmf_pt;
        l->first_pt = ln->first_pt;
        l->pcmu_pt = ln->pcmu_pt;
        l->pcma_pt = ln->pcma_pt;
        l->clock_rate = ln->clock_rate > 0 ? ln->clock_rate : 8000;
        bool key_changed = ln->srtp != l->srtp ||
                           (ln->srtp && memcmp(&ln->crypto, &l->remote_key, sizeof ln->crypto));
        l->srtp = ln->srtp;
        if (ln->srtp) {
            l->remote_key = ln->crypto;
            if (l->local_key.suite == MEDIA_CRYPTO_NONE)
                l->local_key = fresh[m];
            l->local_key.tag = ln->crypto.tag; /* RFC 4568 5.1.2: the answer echoes the tag */
        }
        if (key_changed && srtp_setup_leg(l) != 0)
            rc = -EINVAL;
    }
    explicit_bzero(fresh, sizeof fresh);
    return rc;
}

int media_relay_offer(struct media_session *s, const struct media_sdp *offer, int srtp_b,
                      int from) {
    for (int m = 0; m < offer->n_lines; m++) {
        const struct media_sdp_line *ln = &offer->line[m];
        if (ln->port == 0)
            continue;
        /* the other side's profile: like the offer's, or forced for side B (RTP <-> SRTP
         * bridging); a late offer (from B) makes side A like it */
        struct media_leg *o = &s->side[1 - from].leg[m];
        o->srtp = from == 1 ? ln->srtp : srtp_b == 2 || (srtp_b == 0 && ln->srtp);
        if (o->srtp) {
            int rc = key_new(s->ctx, &o->local_key,
                             ln->srtp ? ln->crypto.suite : MEDIA_CRYPTO_AES_CM_128_HMAC_SHA1_80, 1);
            if (rc != 0)
                return rc;
        }
    }
    return media_relay_apply(s, from, offer);
}

void media_relay_start(struct media_session *s) {
    for (int i = 0; i < 2; i++)
        for (int m = 0; m < s->n_lines; m++) {
            struct media_leg *l = &s->side[i].leg[m];
            if (l->rtp.open)
                uv_poll_start(&l->rtp.poll, UV_READABLE, sock_readable);
            if (l->rtcp.open)
                uv_poll_start(&l->rtcp.poll, UV_READABLE, sock_readable);
        }
}
