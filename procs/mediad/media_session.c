/* media_session - see media_session.h */
#include "media_session.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include <sndfile.h>
#include <srtp2/srtp.h>

#include "clock.h"
#include "log.h"
#include "media_codec.h"
#include "media_rtp.h"
#include "media_sdp.h"

#define MEDIA_BUCKETS 4096
#define MEDIA_BATCH 32
#define MEDIA_PKT_MAX 2048
#define MEDIA_PKT_ROOM (MEDIA_PKT_MAX + SRTP_MAX_TRAILER_LEN + 16)
#define MEDIA_BATCHES_PER_WAKEUP 8
#define MEDIA_SWEEP_MS 250
#define MEDIA_PLAY_PTIME_MS 20
#define MEDIA_PLAY_SAMPLES 160
#define MEDIA_PLAY_MAX_SAMPLES (8000u * 600u) /* ten minutes at 8 kHz */
#define MEDIA_PLAY_MAX_RAW (32u << 20)        /* samples read from the file, all channels */
#define MEDIA_PLAY_CATCHUP 5                  /* packets sent at once after a stall */
#define MEDIA_BIND_TRIES 16
#define MEDIA_SOCK_RCVBUF (1 << 20)

struct media_session;
struct media_side;

struct media_sock {
    uv_poll_t poll;
    int fd;
    int port;
    bool rtcp;
    bool open;
    struct media_leg *leg;
};

struct media_dir_stats {
    uint64_t packets, bytes;
};

/* One side, one m-line. */
struct media_leg {
    struct media_side *side;
    int line;
    struct media_sock rtp, rtcp;
    bool has_remote;
    uint32_t signaled_ip; /* network order */
    int signaled_port, signaled_rtcp;
    struct sockaddr_in remote_rtp, remote_rtcp;
    bool latched_rtp, latched_rtcp;
    enum media_dir dir; /* from this side's latest SDP */
    int dtmf_pt;
    int clock_rate;
    int first_pt, pcmu_pt, pcma_pt;
    struct media_rtp_stats rx;
    struct media_dtmf_state dtmf;
    struct media_dir_stats in, out;
    uint64_t dropped, rtcp_in, srtp_failed;
    bool srtp;                         /* this side speaks SRTP */
    struct media_sdp_crypto local_key; /* ours, sent to this side */
    struct media_sdp_crypto remote_key;
    srtp_t srtp_in, srtp_out;
};

struct media_play {
    uv_timer_t timer;
    bool active;
    int16_t *samples;
    size_t n, pos;
    bool loop;
    int pt; /* 0 PCMU, 8 PCMA (or their dynamic numbers) */
    bool alaw;
    uint32_t ssrc, ts;
    uint16_t seq;
    int64_t start_us;
    uint64_t sent;
    uint32_t progress_ms;
    uint64_t next_progress_pkt;
};

struct media_side {
    struct media_session *s;
    int idx; /* 0 A, 1 B */
    struct media_leg *leg;     /* one per m-line (n_lines; side 0's block holds both) */
    struct media_side *bridge; /* where its packets go; NULL: nowhere */
    struct media_play play;    /* playback towards this side */
    bool playing;
};

struct media_session {
    media_ctx_t *ctx;
    uint64_t id;
    char call_id[128];
    uint64_t lost_counted; /* RFC 3550 losses already added to media_lost */
    char owner_tag[128];
    ipc_chan_t *owner;
    int n_lines;
    char codec[16];
    struct media_side side[2];
    int64_t created_ms;
    int64_t last_rx_us;
    bool answered, confirmed, timeout_sent;
    bool closing;
    int open_handles;
    struct media_session *hnext;       /* hash chain */
    struct media_session *prev, *next; /* all sessions */
};

struct media_ctx {
    worker_t *w;
    uv_loop_t *loop;
    char addr[INET_ADDRSTRLEN];
    uint32_t addr_n;
    int port_lo, port_hi;
    long timeout_ms;
    bool latch_any;
    uint64_t next_id;
    unsigned n_sessions;
    struct media_session *buckets[MEDIA_BUCKETS];
    struct media_session *all;
    uv_timer_t sweep;
    unsigned sweeps;
    bool stopping;
    bool drain_pending;
    bool sweep_closed; /* stopping: the ctx is freed when this and ... */
    unsigned closing;  /* ... the sessions still closing reach zero */
    /* per-packet buffers: one batch at a time on this single-threaded loop */
    struct mmsghdr in_msgs[MEDIA_BATCH];
    struct iovec in_iov[MEDIA_BATCH];
    struct sockaddr_in in_from[MEDIA_BATCH];
    struct mmsghdr out_msgs[MEDIA_BATCH];
    struct iovec out_iov[MEDIA_BATCH];
    uint8_t bufs[MEDIA_BATCH][MEDIA_PKT_ROOM];
    uint8_t play_buf[MEDIA_PKT_ROOM];
    /* counters flushed to shm at each sweep */
    uint64_t c_rx, c_tx, c_dropped, c_srtp_failed, c_rx_bytes, c_tx_bytes, c_lost;
};

/* ---- small helpers ---- */

static uint64_t rand64(void) {
    uint64_t v = 0;
    if (getrandom(&v, sizeof v, 0) != (ssize_t)sizeof v)
        v = (uint64_t)clock_mono_us() * 6364136223846793005ULL + 1442695040888963407ULL;
    return v;
}

static void random_key(struct media_sdp_crypto *c, enum media_crypto_suite suite, int tag) {
    c->suite = suite;
    c->tag = tag;
    if (getrandom(c->key, sizeof c->key, 0) != (ssize_t)sizeof c->key) {
        for (size_t i = 0; i < sizeof c->key; i += 8) {
            uint64_t r = rand64();
            memcpy(c->key + i, &r, sizeof c->key - i < 8 ? sizeof c->key - i : 8);
        }
    }
}

static void addr_text(const struct sockaddr_in *a, char *out, size_t len) {
    char ip[INET_ADDRSTRLEN] = "0.0.0.0";
    inet_ntop(AF_INET, &a->sin_addr, ip, sizeof ip);
    snprintf(out, len, "%s:%u", ip, ntohs(a->sin_port));
}

static struct media_session *session_find(media_ctx_t *ctx, uint64_t id) {
    for (struct media_session *s = ctx->buckets[id % MEDIA_BUCKETS]; s; s = s->hnext)
        if (s->id == id && !s->closing)
            return s;
    return NULL;
}

/* ---- events ---- */

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
    Sb__Envelope env = SB__ENVELOPE__INIT;
    env.body_case = SB__ENVELOPE__BODY_MEDIA_EVENT;
    env.media_event = &ev;
    int rc = ipc_send(s->owner, &env);
    if (rc < 0)
        log_ratelimited(LOG_WARN, "media event to owner failed: %s", strerror(-rc));
}

/* ---- SRTP ---- */

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

/* ---- the packet path ---- */

static bool dir_sends(enum media_dir d) {
    return d == MEDIA_DIR_SENDRECV || d == MEDIA_DIR_SENDONLY;
}
static bool dir_receives(enum media_dir d) {
    return d == MEDIA_DIR_SENDRECV || d == MEDIA_DIR_RECVONLY;
}

static inline void drop(media_ctx_t *ctx, struct media_leg *l) {
    l->dropped++;
    ctx->c_dropped++;
}

/* Accepts a source for leg l (RFC 3264 latching, restricted to the signaled IP). */
static bool latch(media_ctx_t *ctx, struct media_leg *l, bool rtcp,
                  const struct sockaddr_in *from) {
    if (!l->has_remote)
        return false;
    if (!ctx->latch_any && from->sin_addr.s_addr != l->signaled_ip)
        return false;
    struct sockaddr_in *remote = rtcp ? &l->remote_rtcp : &l->remote_rtp;
    bool *latched = rtcp ? &l->latched_rtcp : &l->latched_rtp;
    if (!*latched) {
        *remote = *from;
        *latched = true;
        return true;
    }
    return remote->sin_addr.s_addr == from->sin_addr.s_addr && remote->sin_port == from->sin_port;
}

/* Handles one received packet in buf (len bytes); returns the length to relay to out,
 * 0 to drop. */
static int packet_in(media_ctx_t *ctx, struct media_sock *sock, uint8_t *buf, int len,
                     const struct sockaddr_in *from, struct media_leg **out_leg, int64_t now_us) {
    struct media_leg *l = sock->leg;
    struct media_session *s = l->side->s;
    ctx->c_rx++;
    if (!latch(ctx, l, sock->rtcp, from)) {
        drop(ctx, l);
        return 0;
    }
    bool rtcp = sock->rtcp || media_is_rtcp(buf, (size_t)len);
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
                send_event(s, SB__MEDIA_EVENT_TYPE__MEDIA_EVENT_DTMF, l->side->idx, &ev);
            }
        }
    }
    struct media_side *peer = l->side->bridge;
    if (!peer || l->line >= peer->s->n_lines) {
        drop(ctx, l);
        return 0;
    }
    struct media_leg *pl = &peer->leg[l->line];
    if (!pl->has_remote || !dir_sends(l->dir) || !dir_receives(pl->dir) ||
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
        /* the headers are set up once (media_ctx_new); the kernel only changes these */
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
            if ((ctx->in_msgs[i].msg_hdr.msg_flags & MSG_TRUNC) ||
                ctx->in_from[i].sin_family != AF_INET) {
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
            struct sockaddr_in *to = sock->rtcp ? &pl->remote_rtcp : &pl->remote_rtp;
            ctx->out_iov[out].iov_base = ctx->bufs[i];
            ctx->out_iov[out].iov_len = (size_t)len;
            memset(&ctx->out_msgs[out].msg_hdr, 0, sizeof ctx->out_msgs[out].msg_hdr);
            ctx->out_msgs[out].msg_hdr.msg_iov = &ctx->out_iov[out];
            ctx->out_msgs[out].msg_hdr.msg_iovlen = 1;
            ctx->out_msgs[out].msg_hdr.msg_name = to;
            ctx->out_msgs[out].msg_hdr.msg_namelen = sizeof *to;
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

/* ---- sockets and ports ---- */

static int udp_bind(media_ctx_t *ctx, int port) {
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    int tos = 0xb8; /* EF, RFC 3246 */
    setsockopt(fd, IPPROTO_IP, IP_TOS, &tos, sizeof tos);
    /* room for bursts while the loop is busy elsewhere (the default holds ~280 packets);
     * only what is queued costs memory */
    int rcvbuf = MEDIA_SOCK_RCVBUF;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = ctx->addr_n;
    if (bind(fd, (struct sockaddr *)&a, sizeof a) < 0) {
        int e = -errno;
        close(fd);
        return e;
    }
    return fd;
}

static void session_unref(struct media_session *s);

static void sock_closed(uv_handle_t *h) {
    struct media_sock *sock = h->data;
    struct media_session *s = sock->leg->side->s;
    media_ctx_t *ctx = s->ctx;
    close(sock->fd);
    if (!sock->rtcp)
        shm_media_port_free(&ctx->w->shm->media_pool, sock->port, (int32_t)getpid());
    sock->fd = -1;
    session_unref(s);
}

static void session_unref(struct media_session *s) {
    if (--s->open_handles == 0) {
        media_ctx_t *ctx = s->ctx;
        for (int i = 0; i < 2; i++)
            for (int m = 0; m < s->n_lines; m++)
                srtp_free_leg(&s->side[i].leg[m]);
        free(s->side[0].leg);
        free(s);
        if (--ctx->closing == 0 && ctx->sweep_closed)
            free(ctx);
    }
}

static void timer_closed(uv_handle_t *h) {
    struct media_side *side = h->data;
    session_unref(side->s);
}

static int sock_open(media_ctx_t *ctx, struct media_session *s, struct media_sock *sock,
                     struct media_leg *l, int fd, int port, bool rtcp) {
    sock->fd = fd;
    sock->port = port;
    sock->rtcp = rtcp;
    sock->leg = l;
    if (uv_poll_init(ctx->loop, &sock->poll, fd) != 0) {
        close(fd);
        sock->fd = -1;
        return -EIO;
    }
    sock->poll.data = sock;
    sock->open = true;
    s->open_handles++;
    uv_poll_start(&sock->poll, UV_READABLE, sock_readable);
    return 0;
}

/* Claims a port pair and binds both sockets; -ENOSPC when the pool has none. */
static int leg_open(media_ctx_t *ctx, struct media_session *s, struct media_leg *l) {
    int busy[MEDIA_BIND_TRIES], nbusy = 0, rc = -ENOSPC;
    int32_t pid = (int32_t)getpid();
    for (int t = 0; t < MEDIA_BIND_TRIES; t++) {
        int port = shm_media_port_alloc(&ctx->w->shm->media_pool, ctx->port_lo, ctx->port_hi, pid);
        if (port < 0) {
            rc = -ENOSPC;
            break;
        }
        int f1 = udp_bind(ctx, port);
        int f2 = f1 >= 0 ? udp_bind(ctx, port + 1) : f1;
        if (f1 >= 0 && f2 < 0)
            close(f1);
        if (f2 == -EMFILE || f2 == -ENFILE || f2 == -ENOBUFS || f2 == -ENOMEM) {
            /* out of descriptors or memory, not of ports: no other port will do */
            shm_media_port_free(&ctx->w->shm->media_pool, port, pid);
            rc = f2;
            break;
        }
        if (f1 < 0 || f2 < 0) { /* taken by another program: keep it claimed while we look */
            busy[nbusy++] = port;
            rc = -EADDRINUSE;
            continue;
        }
        rc = sock_open(ctx, s, &l->rtp, l, f1, port, false);
        if (rc == 0)
            rc = sock_open(ctx, s, &l->rtcp, l, f2, port + 1, true);
        else
            close(f2);
        break;
    }
    for (int i = 0; i < nbusy; i++)
        shm_media_port_free(&ctx->w->shm->media_pool, busy[i], pid);
    return rc == -EADDRINUSE ? -ENOSPC : rc;
}

/* ---- sessions ---- */

static void play_stop(struct media_side *side, bool report);

/* The RFC 3550 A.3 losses of every leg of s that media_lost has not counted yet. */
static void count_lost(struct media_session *s) {
    uint64_t lost = 0;
    for (int i = 0; i < 2; i++)
        for (int m = 0; m < s->n_lines; m++)
            lost += media_rtp_stats_lost(&s->side[i].leg[m].rx);
    if (lost > s->lost_counted) {
        s->ctx->c_lost += lost - s->lost_counted;
        s->lost_counted = lost;
    }
}

static void session_close(struct media_session *s) {
    media_ctx_t *ctx = s->ctx;
    if (s->closing)
        return;
    s->closing = true;
    count_lost(s);
    for (int i = 0; i < 2; i++)
        play_stop(&s->side[i], false);
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

/* Applies a party's parsed SDP to side idx: remote addresses, directions, DTMF, keys. */
static int side_apply(struct media_session *s, int idx, const struct media_sdp *sdp) {
    struct media_side *side = &s->side[idx];
    for (int m = 0; m < s->n_lines && m < sdp->n_lines; m++) {
        const struct media_sdp_line *ln = &sdp->line[m];
        struct media_leg *l = &side->leg[m];
        if (ln->port == 0) {
            l->has_remote = false; /* rejected: nothing flows to or from it */
            continue;
        }
        struct sockaddr_in rtp = {.sin_family = AF_INET, .sin_port = htons((uint16_t)ln->port)};
        rtp.sin_addr.s_addr = ln->addr;
        struct sockaddr_in rtcp = rtp;
        rtcp.sin_port = htons((uint16_t)ln->rtcp_port);
        if (!l->has_remote || l->signaled_ip != ln->addr || l->signaled_port != ln->port ||
            l->signaled_rtcp != ln->rtcp_port) {
            /* a new remote (first SDP, or a re-INVITE that moved): latch afresh; the same
             * SDP again (hold, codec change) keeps what was learnt behind a NAT */
            l->remote_rtp = rtp;
            l->latched_rtp = false;
            l->remote_rtcp = rtcp;
            l->latched_rtcp = false;
        }
        l->has_remote = ln->addr != 0;
        l->signaled_ip = ln->addr;
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
                random_key(&l->local_key, ln->crypto.suite, ln->crypto.tag);
            l->local_key.tag = ln->crypto.tag; /* RFC 4568 5.1.2: the answer echoes the tag */
        }
        if (key_changed && srtp_setup_leg(l) != 0)
            return -EINVAL;
    }
    return 0;
}

/* The SDP text of a party rewritten for side idx (our ports, its profile and our key). */
static int rewrite_for(struct media_session *s, int idx, const struct media_sdp *parsed,
                       const char *text, size_t len, char **out, size_t *outlen, char *why,
                       size_t whylen) {
    struct media_sdp_local loc;
    memset(&loc, 0, sizeof loc);
    loc.addr = s->ctx->addr;
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

static struct media_session *session_new(media_ctx_t *ctx, const struct media_sdp *offer,
                                         int srtp_b, int from, int *err) {
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
    s->side[0].leg = legs;
    s->side[1].leg = legs + n;
    s->created_ms = clock_wall_us() / 1000;
    s->last_rx_us = clock_mono_us();
    do
        s->id =
            ((uint64_t)(ctx->w->instance & 0xffff) << 48) | (++ctx->next_id & 0xffffffffffffULL);
    while (session_find(ctx, s->id));
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
    /* link now so a failure below can use session_close */
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
                session_close(s);
                return NULL;
            }
        }
        /* the other side's profile: like the offer's, or forced for side B (RTP <-> SRTP
         * bridging); a late offer (from B) makes side A like it */
        const struct media_sdp_line *ln = &offer->line[m];
        struct media_leg *o = &s->side[1 - from].leg[m];
        o->srtp = from == 1 ? ln->srtp : srtp_b == 2 || (srtp_b == 0 && ln->srtp);
        if (o->srtp)
            random_key(&o->local_key,
                       ln->srtp ? ln->crypto.suite : MEDIA_CRYPTO_AES_CM_128_HMAC_SHA1_80, 1);
    }
    snprintf(s->codec, sizeof s->codec, "%s", offer->line[0].codec);
    if (side_apply(s, from, offer) != 0) {
        *err = -EINVAL;
        session_close(s);
        return NULL;
    }
    shm_gauge(ctx->w->slot, SHM_C_media_sessions, ctx->n_sessions);
    shm_count(ctx->w->slot, SHM_C_media_sessions_created, 1);
    return s;
}

/* ---- playback ---- */

static void play_stop(struct media_side *side, bool report) {
    struct media_play *p = &side->play;
    if (!p->active)
        return;
    uv_timer_stop(&p->timer);
    free(p->samples);
    p->samples = NULL;
    p->active = false;
    side->playing = false;
    if (report) {
        Sb__MediaEvent ev = SB__MEDIA_EVENT__INIT;
        ev.packets = p->sent;
        ev.position_ms = (uint32_t)(p->pos / 8);
        send_event(side->s, SB__MEDIA_EVENT_TYPE__MEDIA_EVENT_PLAY_STOPPED, side->idx, &ev);
    }
}

/* Sends one 20 ms packet; false when the file is over (and not looping). */
static bool play_packet(struct media_side *side) {
    struct media_play *p = &side->play;
    media_ctx_t *ctx = side->s->ctx;
    if (p->pos >= p->n) {
        if (!p->loop || p->n == 0)
            return false;
        p->pos = 0;
    }
    uint8_t *pkt = ctx->play_buf;
    media_rtp_write_header(pkt, p->sent == 0, p->pt, p->seq, p->ts, p->ssrc);
    for (size_t i = 0; i < MEDIA_PLAY_SAMPLES; i++) {
        int16_t v = p->pos + i < p->n ? p->samples[p->pos + i] : 0;
        pkt[MEDIA_RTP_HEADER + i] = p->alaw ? media_alaw_encode(v) : media_ulaw_encode(v);
    }
    p->pos += MEDIA_PLAY_SAMPLES;
    p->seq++;
    p->ts += MEDIA_PLAY_SAMPLES;
    p->sent++;
    int len = MEDIA_RTP_HEADER + MEDIA_PLAY_SAMPLES;
    struct media_leg *l = &side->leg[0];
    if (l->srtp && (!l->srtp_out || srtp_protect(l->srtp_out, pkt, &len) != srtp_err_status_ok))
        return true; /* nothing to encrypt with yet: this packet is lost, time goes on */
    if (l->has_remote && l->rtp.fd >= 0 && dir_receives(l->dir)) {
        if (sendto(l->rtp.fd, pkt, (size_t)len, MSG_DONTWAIT, (struct sockaddr *)&l->remote_rtp,
                   sizeof l->remote_rtp) == len) {
            l->out.packets++;
            l->out.bytes += (uint64_t)len;
            ctx->c_tx++;
            ctx->c_tx_bytes += (uint64_t)len;
        }
    }
    return true;
}

static void play_tick(uv_timer_t *t) {
    struct media_side *side = t->data;
    struct media_play *p = &side->play;
    if (!p->active)
        return;
    int64_t now = clock_mono_us();
    int burst = 0;
    /* absolute deadlines: packet k leaves at start + k * 20 ms, whatever the timer did */
    while (p->start_us + (int64_t)p->sent * MEDIA_PLAY_PTIME_MS * 1000 <= now) {
        if (burst++ >= MEDIA_PLAY_CATCHUP) {
            /* a long stall: skip ahead rather than burst */
            uint64_t due = (uint64_t)((now - p->start_us) / (MEDIA_PLAY_PTIME_MS * 1000));
            while (p->sent < due) {
                p->sent++;
                p->seq++;
                p->ts += MEDIA_PLAY_SAMPLES;
                p->pos += MEDIA_PLAY_SAMPLES;
            }
            break;
        }
        if (!play_packet(side)) {
            Sb__MediaEvent ev = SB__MEDIA_EVENT__INIT;
            ev.packets = p->sent;
            ev.position_ms = (uint32_t)(p->n / 8);
            ev.duration_ms = (uint32_t)(p->n / 8);
            struct media_session *s = side->s;
            int idx = side->idx;
            play_stop(side, false);
            send_event(s, SB__MEDIA_EVENT_TYPE__MEDIA_EVENT_PLAY_COMPLETED, idx, &ev);
            return;
        }
        if (p->progress_ms && p->sent >= p->next_progress_pkt) {
            p->next_progress_pkt += p->progress_ms / MEDIA_PLAY_PTIME_MS;
            Sb__MediaEvent ev = SB__MEDIA_EVENT__INIT;
            ev.packets = p->sent;
            ev.position_ms = (uint32_t)(p->pos / 8);
            ev.duration_ms = (uint32_t)(p->n / 8);
            send_event(side->s, SB__MEDIA_EVENT_TYPE__MEDIA_EVENT_PLAY_PROGRESS, side->idx, &ev);
        }
    }
    int64_t next = p->start_us + (int64_t)p->sent * MEDIA_PLAY_PTIME_MS * 1000;
    int64_t wait_ms = (next - clock_mono_us() + 999) / 1000;
    uv_timer_start(&p->timer, play_tick, wait_ms > 0 ? (uint64_t)wait_ms : 0, 0);
}

/* Reads a WAV (any rate, any channel count) as 8 kHz mono; NULL + why on failure. */
static int16_t *load_audio(media_ctx_t *ctx, const char *file, size_t *n, char *why, size_t wl) {
    if (!file || !*file || file[0] == '/' || strstr(file, "..")) {
        snprintf(why, wl, "file name refused");
        return NULL;
    }
    char path[1024];
    int pl = snprintf(path, sizeof path, "%s/%s", cfg_str(ctx->w->cfg, CFG_audio_path), file);
    if (pl < 0 || (size_t)pl >= sizeof path) {
        snprintf(why, wl, "path too long");
        return NULL;
    }
    SF_INFO info;
    memset(&info, 0, sizeof info);
    SNDFILE *sf = sf_open(path, SFM_READ, &info);
    if (!sf && strncmp(file, "audio/", 6) == 0 && file[6]) {
        /* the prototype's dialplan names files as "audio/x.wav" from its own directory */
        snprintf(path, sizeof path, "%s/%s", cfg_str(ctx->w->cfg, CFG_audio_path), file + 6);
        memset(&info, 0, sizeof info);
        sf = sf_open(path, SFM_READ, &info);
    }
    if (!sf) {
        snprintf(why, wl, "cannot open %s: %s", file, sf_strerror(NULL));
        return NULL;
    }
    if (info.channels < 1 || info.channels > 16 || info.samplerate < 1000 ||
        info.samplerate > 384000 || info.frames < 0 ||
        (uint64_t)info.frames * 8000 / (uint64_t)info.samplerate > MEDIA_PLAY_MAX_SAMPLES ||
        (uint64_t)info.frames * (uint64_t)info.channels > MEDIA_PLAY_MAX_RAW) {
        sf_close(sf);
        snprintf(why, wl, "%s: unsupported format or too long", file);
        return NULL;
    }
    size_t total = (size_t)info.frames * (size_t)info.channels;
    int16_t *raw = malloc((total ? total : 1) * sizeof *raw);
    if (!raw) {
        sf_close(sf);
        snprintf(why, wl, "out of memory");
        return NULL;
    }
    sf_count_t got = sf_readf_short(sf, raw, info.frames);
    sf_close(sf);
    if (got < 0)
        got = 0;
    int16_t *out = media_resample_to_8k(raw, (size_t)got, info.channels, info.samplerate, n);
    free(raw);
    if (!out)
        snprintf(why, wl, "resampling failed");
    return out;
}

static void play_start(struct media_session *s, int idx, const Sb__MediaPlayRequest *rq) {
    struct media_side *side = &s->side[idx];
    struct media_play *p = &side->play;
    play_stop(side, true);
    char why[256] = "";
    size_t n = 0;
    int16_t *samples = load_audio(s->ctx, rq->file, &n, why, sizeof why);
    Sb__MediaEvent ev = SB__MEDIA_EVENT__INIT;
    if (!samples) {
        ev.reason = why;
        send_event(s, SB__MEDIA_EVENT_TYPE__MEDIA_EVENT_PLAY_ERROR, idx, &ev);
        return;
    }
    struct media_leg *l = &side->leg[0];
    /* the negotiated codec: the side's first codec if it is G.711, else PCMU, else PCMA */
    if (l->first_pt >= 0 && l->first_pt == l->pcma_pt) {
        p->pt = l->pcma_pt;
        p->alaw = true;
    } else if (l->pcmu_pt >= 0 || l->pcma_pt < 0) {
        p->pt = l->pcmu_pt >= 0 ? l->pcmu_pt : 0;
        p->alaw = false;
    } else {
        p->pt = l->pcma_pt;
        p->alaw = true;
    }
    p->samples = samples;
    p->n = n;
    p->pos = 0;
    p->loop = rq->loop;
    p->ssrc = (uint32_t)rand64();
    p->seq = (uint16_t)rand64();
    p->ts = (uint32_t)rand64();
    p->sent = 0;
    p->progress_ms = rq->progress_ms >= MEDIA_PLAY_PTIME_MS ? rq->progress_ms : 0;
    p->next_progress_pkt = p->progress_ms / MEDIA_PLAY_PTIME_MS;
    p->start_us = clock_mono_us();
    p->active = true;
    side->playing = true;
    shm_count(s->ctx->w->slot, SHM_C_media_playbacks, 1);
    ev.duration_ms = (uint32_t)(n / 8);
    send_event(s, SB__MEDIA_EVENT_TYPE__MEDIA_EVENT_PLAY_STARTED, idx, &ev);
    play_tick(&p->timer);
}

/* ---- requests ---- */

static void reply_status(ipc_chan_t *ch, const Sb__Envelope *req, Sb__MediaReply *r) {
    Sb__Envelope env = SB__ENVELOPE__INIT;
    env.body_case = SB__ENVELOPE__BODY_MEDIA_REPLY;
    env.media_reply = r;
    int rc = ipc_reply(ch, req, &env);
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
    struct media_session *s = session_new(ctx, &offer, rq->srtp_b, from, &rc);
    if (!s) {
        if (rc == -ENOSPC) {
            shm_count(ctx->w->slot, SHM_C_media_pool_exhausted, 1);
            log_ratelimited(LOG_WARN, "media port pool %d-%d exhausted", ctx->port_lo,
                            ctx->port_hi);
        } else if (rc == -EMFILE || rc == -ENFILE) { /* RLIMIT_NOFILE: docs/operations.md */
            log_ratelimited(LOG_WARN, "no socket for a new session: %s (%u sessions)",
                            strerror(-rc), ctx->n_sessions);
        }
        reply_error(ctx, ch, env, sdp_status(ctx, rc),
                    rc == -ENOSPC                    ? "no free port pair"
                    : rc == -EMFILE || rc == -ENFILE ? "out of file descriptors"
                                                     : "session setup failed");
        return;
    }
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
        session_close(s);
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
    log_debug("media session %llx created for call %s (%d lines)", (unsigned long long)s->id,
              s->call_id, s->n_lines);
    explicit_bzero(for_a, la);
    explicit_bzero(for_b, lb);
    free(for_a);
    free(for_b);
}

static void handle_update(media_ctx_t *ctx, ipc_chan_t *ch, const Sb__Envelope *env) {
    const Sb__MediaUpdateRequest *rq = env->media_update;
    struct media_session *s = session_find(ctx, rq->session_id);
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
    if (side_apply(s, from, &sdp) != 0) {
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
        addr_text(&l0->remote_rtp, remote, len);
    else
        snprintf(remote, len, "-");
    struct sockaddr_in me = {.sin_family = AF_INET, .sin_port = htons((uint16_t)l0->rtp.port)};
    me.sin_addr.s_addr = side->s->ctx->addr_n;
    addr_text(&me, local, len);
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
        struct media_session *s = session_find(ctx, only);
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

bool media_handle(media_ctx_t *ctx, ipc_chan_t *ch, Sb__Envelope *env) {
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
        struct media_session *a = session_find(ctx, env->media_bridge->session_a);
        struct media_session *b = session_find(ctx, env->media_bridge->session_b);
        if (!a || !b || a == b) {
            reply_error(ctx, ch, env, SB__MEDIA_STATUS__MEDIA_STATUS_UNKNOWN_SESSION,
                        a == b && a ? "a session cannot be bridged to itself" : "no such session");
            return true;
        }
        /* whatever either A side relayed with before is left on its own */
        for (int k = 0; k < 2; k++) {
            struct media_side *x = k ? &b->side[0] : &a->side[0];
            if (x->bridge && x->bridge->bridge == x)
                x->bridge->bridge = NULL;
        }
        a->side[0].bridge = &b->side[0];
        b->side[0].bridge = &a->side[0];
        id = a->id;
        break;
    }
    case SB__ENVELOPE__BODY_MEDIA_UNBRIDGE:
        s = session_find(ctx, env->media_unbridge->session_id);
        if (s) {
            struct media_side *x = &s->side[0];
            if (x->bridge && x->bridge->bridge == x)
                x->bridge->bridge = NULL;
            x->bridge = NULL;
            id = s->id;
        }
        break;
    case SB__ENVELOPE__BODY_MEDIA_PLAY:
        s = session_find(ctx, env->media_play->session_id);
        if (s) {
            id = s->id;
            Sb__MediaReply r = SB__MEDIA_REPLY__INIT;
            r.session_id = id;
            r.instance = (uint32_t)ctx->w->instance;
            reply_status(ch, env, &r); /* first the answer, then the events */
            play_start(s, env->media_play->to_side == SB__MEDIA_SIDE__MEDIA_SIDE_B ? 1 : 0,
                       env->media_play);
            return true;
        }
        break;
    case SB__ENVELOPE__BODY_MEDIA_STOP_PLAY:
        s = session_find(ctx, env->media_stop_play->session_id);
        if (s) {
            play_stop(&s->side[0], true);
            play_stop(&s->side[1], true);
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
                    session_close(o);
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
        s = session_find(ctx, rq->session_id);
        if (s) {
            id = s->id;
            session_close(s);
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
        count_lost(s);
        if (!s->owner && now - s->last_rx_us >= (int64_t)ctx->timeout_ms * 1000) {
            /* its owner is gone and so is its media: nobody will ever destroy it */
            log_info("media session %llx: owner gone, no media for %ld ms: destroyed",
                     (unsigned long long)s->id, ctx->timeout_ms);
            session_close(s);
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
    shm_count(slot, SHM_C_media_rx_bytes, ctx->c_rx_bytes);
    shm_count(slot, SHM_C_media_tx_bytes, ctx->c_tx_bytes);
    shm_count(slot, SHM_C_media_lost, ctx->c_lost);
    ctx->c_rx = ctx->c_tx = ctx->c_srtp_failed = ctx->c_dropped = 0;
    ctx->c_rx_bytes = ctx->c_tx_bytes = ctx->c_lost = 0;
    if (++ctx->sweeps % (4000 / MEDIA_SWEEP_MS) == 0) {
        int n = shm_media_reclaim(&ctx->w->shm->media_pool, ctx->port_lo, ctx->port_hi);
        if (n > 0) {
            shm_count(slot, SHM_C_media_ports_reclaimed, (uint64_t)n);
            log_info("took back %d port pairs of dead mediad processes", n);
        }
    }
}

/* ---- lifecycle ---- */

static void ctx_config(media_ctx_t *ctx) {
    const cfg_t *cfg = ctx->w->cfg;
    cfg_port_range(cfg, CFG_rtp_port_range, &ctx->port_lo, &ctx->port_hi);
    ctx->timeout_ms = cfg_time_ms(cfg, CFG_media_timeout);
    ctx->latch_any = cfg_bool(cfg, CFG_media_latch_any);
}

int media_init_privileged(void) {
    /* libsrtp2's self-tests may need files (its crypto backend's configuration) that a
     * chroot no longer shows: before the drop, once per process */
    return srtp_init() == srtp_err_status_ok ? 0 : -EIO;
}

media_ctx_t *media_ctx_new(worker_t *w) {
    const char *addr = cfg_str(w->cfg, CFG_media_address);
    struct in_addr a;
    if (inet_pton(AF_INET, addr, &a) != 1) {
        log_error("media_address '%s' is not an IPv4 address", addr);
        return NULL;
    }
    media_ctx_t *ctx = calloc(1, sizeof *ctx);
    if (!ctx)
        return NULL;
    ctx->w = w;
    ctx->loop = w->loop;
    snprintf(ctx->addr, sizeof ctx->addr, "%s", addr);
    ctx->addr_n = a.s_addr;
    ctx_config(ctx);
    for (int i = 0; i < MEDIA_BATCH; i++) {
        ctx->in_iov[i].iov_base = ctx->bufs[i];
        ctx->in_iov[i].iov_len = MEDIA_PKT_MAX;
        ctx->in_msgs[i].msg_hdr.msg_iov = &ctx->in_iov[i];
        ctx->in_msgs[i].msg_hdr.msg_iovlen = 1;
        ctx->in_msgs[i].msg_hdr.msg_name = &ctx->in_from[i];
    }
    int n = shm_media_reclaim(&w->shm->media_pool, ctx->port_lo, ctx->port_hi);
    if (n > 0) {
        shm_count(w->slot, SHM_C_media_ports_reclaimed, (uint64_t)n);
        log_info("took back %d port pairs of dead mediad processes", n);
    }
    shm_gauge(w->slot, SHM_C_media_sessions, 0);
    uv_timer_init(w->loop, &ctx->sweep);
    ctx->sweep.data = ctx;
    uv_timer_start(&ctx->sweep, sweep_tick, MEDIA_SWEEP_MS, MEDIA_SWEEP_MS);
    log_info("media relay on %s, ports %d-%d, media_timeout %ld ms%s", ctx->addr, ctx->port_lo,
             ctx->port_hi, ctx->timeout_ms, ctx->latch_any ? ", latching from any source" : "");
    return ctx;
}

void media_reload(media_ctx_t *ctx) {
    ctx_config(ctx);
}

void media_drain(media_ctx_t *ctx) {
    if (ctx->n_sessions == 0)
        worker_drained(ctx->w);
    else
        ctx->drain_pending = true;
}

void media_peer_closed(media_ctx_t *ctx, ipc_chan_t *ch) {
    for (struct media_session *s = ctx->all; s; s = s->next)
        if (s->owner == ch)
            s->owner = NULL;
}

static void ctx_closed(uv_handle_t *h) {
    media_ctx_t *ctx = h->data;
    ctx->sweep_closed = true;
    if (ctx->closing == 0)
        free(ctx);
}

void media_stop(media_ctx_t *ctx) {
    ctx->stopping = true;
    ctx->drain_pending = false;
    while (ctx->all) {
        struct media_session *s = ctx->all;
        send_event(s, SB__MEDIA_EVENT_TYPE__MEDIA_EVENT_SESSION_LOST, 0, NULL);
        session_close(s);
    }
    uv_close((uv_handle_t *)&ctx->sweep, ctx_closed);
}
