/*
 * NAME
 *   media_session - mediad's session model: the context, sessions, their two sides and the
 *   legs (one per m-line) of each, the port pairs the legs hold, lookup, bridges, lifetime.
 * DESCRIPTION
 *   A session anchors one call: side A (the offerer) and side B, each with, per live m-line,
 *   an RTP and an RTCP socket on a port pair (media_port.h). A side is bridged to the side
 *   its packets go to: its own session's other side, or another session's side A. The
 *   layers above keep their per-leg state in these structs, so the packet path reads it
 *   without an indirection: media_relay (polling, packet path, SRTP, stats) and media_play
 *   (prompts) beside each other, media_control (requests, sweep, events) on top. This
 *   module never calls them: what must run when a session closes or is freed they register
 *   with media_ctx_add_hooks, and events leave through the sink control sets.
 * OWNERSHIP
 *   The ctx owns its sessions. A closed session leaves the index at once and is freed when
 *   its handles have closed; the ctx is freed by media_ctx_release once none is closing.
 * LOOP
 *   mediad's loop only.
 * ERRORS
 *   Negative errno: -ENOMEM, -ENOSPC no free port pair, -EMFILE/-ENFILE no descriptor.
 */
#ifndef SB_MEDIA_SESSION_H
#define SB_MEDIA_SESSION_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include <srtp2/srtp.h>

#include "media_rtp.h"
#include "media_sdp.h"
#include "media_target.h"
#include "worker.h"

#define MEDIA_BUCKETS 4096
#define MEDIA_BATCH 32
#define MEDIA_PKT_MAX 2048
#define MEDIA_PKT_ROOM (MEDIA_PKT_MAX + SRTP_MAX_TRAILER_LEN + 16)
#define MEDIA_HOOKS_MAX 4

typedef struct media_ctx media_ctx_t;
struct media_session;
struct media_side;
struct media_leg;

struct media_sock {
    uv_poll_t poll; /* initialised here, started by the relay */
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
    /* the relay's: where to send, what the side accepts, what it received */
    bool has_remote;
    media_sa_t signaled; /* the IP its SDP names (port 0) */
    int signaled_port, signaled_rtcp;
    media_sa_t remote_rtp, remote_rtcp;
    bool latched_rtp, latched_rtcp;
    bool target_ok; /* the signaled address may be sent to (media_target.h) */
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

/* Playback's state towards one side (media_play.h). */
struct media_play {
    uv_timer_t timer; /* initialised here, started by playback */
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
    int idx;                   /* 0 A, 1 B */
    struct media_leg *leg;     /* one per m-line (n_lines; side 0's block holds both) */
    struct media_side *bridge; /* where its packets go; NULL: nowhere */
    struct media_play play;    /* playback towards this side */
    bool playing;              /* relay towards this side is suspended */
    media_sa_t nat_ip;         /* behind NAT: its signaling source IP, latched like the
                                * SDP's (port 0; none: not NATed) */
    media_sa_t signal_ip;      /* its signaling source, NATed or not (port 0; none
                                * unknown): its SDP's address is sent to before it has
                                * been heard from only when it is this one */
    /* its media interface (media_address's, or its signaling's address) */
    media_sa_t bind;                 /* its ports' address (port 0; unspecified: every) */
    char announce[INET6_ADDRSTRLEN]; /* our address in the SDP it gets */
    media_sa_t announce_sa;
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

/* What an upper layer must run when a session closes (before its handles close) and when
 * it is freed (after they have). Either may be NULL. */
struct media_hooks {
    void (*closing)(struct media_session *s);
    void (*freeing)(struct media_session *s);
};

/* An event for the session's owner, from the layer that saw it (ev: its fields, or NULL). */
typedef void (*media_event_fn)(struct media_session *s, Sb__MediaEventType type, int side,
                               Sb__MediaEvent *ev);

struct media_ctx {
    worker_t *w;
    int audio_dirfd;       /* audio_path, opened before the privilege drop; -1: by path */
    uv_loop_t *loop;
    struct res_media_if ifs[RES_MEDIA_IF_MAX]; /* media_address; none: follow the signaling */
    size_t n_ifs;
    int port_lo, port_hi;
    long timeout_ms;
    bool latch_any;
    struct media_targets targets; /* media_allow_targets and our own addresses */
    uint64_t next_id;
    unsigned n_sessions;
    struct media_session *buckets[MEDIA_BUCKETS];
    struct media_session *all;
    const struct media_hooks *hooks[MEDIA_HOOKS_MAX];
    int n_hooks;
    media_event_fn event;
    /* random bytes for keys, SSRCs and sequence numbers: sb_random (rand.h); a test may
     * put a failing source here */
    int (*random)(void *buf, size_t n);
    uv_timer_t sweep; /* control's: timeouts, counters, ports of dead instances */
    unsigned sweeps;
    bool stopping;
    bool drain_pending; /* worker_drained when the last session closes */
    bool released;      /* the ctx is freed when this and ... */
    unsigned closing;   /* ... the sessions still closing reach zero */
    /* the relay's per-packet buffers: one batch at a time on this single-threaded loop */
    struct mmsghdr in_msgs[MEDIA_BATCH];
    struct iovec in_iov[MEDIA_BATCH];
    media_sa_t in_from[MEDIA_BATCH];
    struct mmsghdr out_msgs[MEDIA_BATCH];
    struct iovec out_iov[MEDIA_BATCH];
    uint8_t bufs[MEDIA_BATCH][MEDIA_PKT_ROOM];
    uint8_t play_buf[MEDIA_PKT_ROOM];
    /* counters the relay and playback add to, flushed to shm at each sweep */
    uint64_t c_rx, c_tx, c_dropped, c_srtp_failed, c_rx_bytes, c_tx_bytes, c_lost, c_not_rtp;
};

/* RFC 3264 6.1: whether a side with direction d sends, or accepts, media. */
static inline bool media_dir_sends(enum media_dir d) {
    return d == MEDIA_DIR_SENDRECV || d == MEDIA_DIR_SENDONLY;
}
static inline bool media_dir_receives(enum media_dir d) {
    return d == MEDIA_DIR_SENDRECV || d == MEDIA_DIR_RECVONLY;
}

/* Whether media may go to leg l's remote RTP (or RTCP) address: a side is sent nothing
 * (no relay, no prompt) before a packet from it was accepted there (latched), unless its
 * SDP names its own signaling source, an allowed target (media_target.h). */
static inline bool media_leg_sendable(const struct media_leg *l, bool rtcp) {
    if (!l->has_remote)
        return false;
    if (rtcp ? l->latched_rtcp : l->latched_rtp)
        return true;
    return l->target_ok && media_sa_ip_eq(&l->signaled, &l->side->signal_ip);
}

/* A context on w's loop with media_address, the port range, media_timeout and
 * media_latch_any and media_allow_targets read from w->cfg; NULL (logged) on a bad
 * media_address or media_allow_targets, or no memory.
 * media_address: "" (bind and announce each session's local_ip) or a list of interfaces
 * [NAME/]LOCAL[!PUBLIC] (bind LOCAL, announce PUBLIC, e.g. behind 1:1 NAT; IPv4 or IPv6).
 * media_address is read once: a reload does not change it. */
media_ctx_t *media_ctx_new(worker_t *w);
/* Reads the configuration again: it applies to sessions created from now on (a bad
 * media_allow_targets is logged and the one before kept). */
void media_ctx_config(media_ctx_t *ctx);
/* Registers hooks (a constant the caller keeps); -ENOSPC beyond MEDIA_HOOKS_MAX. */
int media_ctx_add_hooks(media_ctx_t *ctx, const struct media_hooks *hooks);
/* The owner is done with ctx: it is freed now, or when the last closing session is. */
void media_ctx_release(media_ctx_t *ctx);

/* A session for offer (its m-lines; port 0 ones get no ports), both sides' live legs bound,
 * side A and B bridged to each other, indexed. Each side gets an interface: with
 * media_address empty, bound to and announcing its signaling's local address (the
 * offering side from: local_ip, else 127.0.0.1, or ::1 for an IPv6 offer; the other:
 * other_local_ip, else the offering side's); else the interface whose LOCAL is that
 * address, else the first of the family of that address (the offering side with none: of
 * its offer's), else the first. NULL with *err on failure (nothing left). */
struct media_session *media_session_new(media_ctx_t *ctx, const struct media_sdp *offer,
                                        int from, const char *local_ip,
                                        const char *other_local_ip, int *err);
/* The open session with id, or NULL. */
struct media_session *media_session_find(media_ctx_t *ctx, uint64_t id);
/* Runs the closing hooks, unbridges whoever relays to s, unindexes it and closes its
 * handles; s is freed (after the freeing hooks) once they have closed. Idempotent. */
void media_session_close(struct media_session *s);
/* Side A of a and side A of b relay to each other; what either relayed with before is
 * left relaying nowhere. */
void media_session_bridge(struct media_session *a, struct media_session *b);
/* Side A of s relays nowhere, nor its partner to it. */
void media_session_unbridge(struct media_session *s);

/* Hands an event to the ctx's sink (none: dropped). */
static inline void media_session_event(struct media_session *s, Sb__MediaEventType type, int side,
                                       Sb__MediaEvent *ev) {
    if (s->ctx->event)
        s->ctx->event(s, type, side, ev);
}

#endif
