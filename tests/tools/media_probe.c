/*
 * media_probe - drives a running mediad over its IPC socket, as dialogd will, and plays
 * both phones with UDP sockets on loopback, for tests/integration/media.sh. Each scenario
 * prints TAP lines ("ok - ...", "not ok - ...") asserting what arrived on the wire and in
 * the replies and events; it exits 1 if any failed, 2 on usage errors.
 *   media_probe PATH relay      A<->B RTP and RTCP: payload untouched, right addresses,
 *                               per-side stats (packets, bytes, lost, jitter)
 *   media_probe PATH latch      latching to A's real source port; a foreign IP is refused
 *   media_probe PATH natlatch   A behind NAT (its SDP names a private address): latched
 *                               from its signaling source (nat_ip), and only from it
 *   media_probe PATH announce   media_address empty: the SDPs name the create's local_ip
 *                               (127.0.0.9), where the ports answer (a wildcard bind)
 *   media_probe PATH hold       re-offer with a=sendonly from A: only A->B flows
 *   media_probe PATH dtmf       RFC 4733 digit from A: relayed and one DTMF event
 *   media_probe PATH timeout    confirmed call, no RTP: a TIMEOUT event (media_timeout)
 *   media_probe PATH bridge     two calls' A sides bridged, listed, unbridged
 *   media_probe PATH early      early media before the call is confirmed; no timeout
 *                               until it is
 *   media_probe PATH pool PAIRS creates until POOL_EXHAUSTED: PAIRS/2 sessions fit
 *   media_probe PATH badsdp     bad SDP, unrelayable SDP, unknown session: error codes
 *   media_probe PATH fdlimit    creates until mediad runs out of descriptors: INTERNAL, said so
 *   media_probe PATH play FILE REF_WAV [pcma]  plays FILE to A: packets, seq/ts/marker,
 *                               pacing, and the decoded PCMU (PCMA when A prefers it)
 *                               against REF_WAV (8 kHz mono; "-N": N samples, level only)
 *   media_probe PATH playerr    a missing file: a PLAY_ERROR event
 *   media_probe PATH srtp|srtp32  A speaks SRTP (libsrtp2 here; AES_CM_128_HMAC_SHA1_80 or
 *                               _32), B plain RTP: both ways
 *                               decrypted/encrypted right; a tampered and a replayed
 *                               packet are dropped and counted
 *   media_probe PATH hold-open N  creates N sessions and waits for EOF on the channel
 *                               (the instance was killed or drained): prints "created N",
 *                               "session_lost_events N" and "lost N"
 *   media_probe PATH create     one create and destroy: prints "status N"
 *   media_probe mkwav FILE RATE CHANNELS MS HZ  writes a 16-bit sine WAV (libsndfile)
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <sndfile.h>
#include <srtp2/srtp.h>

#include "clock.h"
#include "ipc.h"

static int failures;
static int ipc_fd = -1;
static uint64_t next_req = 1000;

#define TAP(cond, ...)                                                                             \
    do {                                                                                           \
        if (cond) {                                                                                \
            printf("ok - ");                                                                       \
        } else {                                                                                   \
            printf("not ok - ");                                                                   \
            failures++;                                                                            \
        }                                                                                          \
        printf(__VA_ARGS__);                                                                       \
        printf("\n");                                                                              \
    } while (0)

static void die(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    printf("not ok - ");
    vprintf(fmt, ap);
    printf("\n");
    va_end(ap);
    exit(1);
}

/* ---- events kept while waiting for replies ---- */

#define MAX_EVENTS 64
struct ev {
    int type;
    uint64_t session;
    char digit[8];
    uint32_t duration_ms, position_ms;
    uint64_t packets;
    char reason[128];
};
static struct ev events[MAX_EVENTS];
static int n_events;
static bool ipc_eof;

static void keep_event(const Sb__MediaEvent *e) {
    if (n_events >= MAX_EVENTS)
        return;
    struct ev *x = &events[n_events++];
    x->type = e->type;
    x->session = e->session_id;
    snprintf(x->digit, sizeof x->digit, "%s", e->digit ? e->digit : "");
    x->duration_ms = e->duration_ms;
    x->position_ms = e->position_ms;
    x->packets = e->packets;
    snprintf(x->reason, sizeof x->reason, "%s", e->reason ? e->reason : "");
}

/* Reads one IPC packet if there is one within ms; returns the envelope (caller frees). */
static Sb__Envelope *ipc_read(int ms) {
    static uint8_t buf[1 << 20];
    struct pollfd p = {ipc_fd, POLLIN, 0};
    if (poll(&p, 1, ms) <= 0)
        return NULL;
    ssize_t n = recv(ipc_fd, buf, sizeof buf, 0);
    if (n <= 0) {
        ipc_eof = true;
        return NULL;
    }
    Sb__Envelope *env = sb__envelope__unpack(NULL, (size_t)n, buf);
    if (env && env->body_case == SB__ENVELOPE__BODY_MEDIA_EVENT) {
        keep_event(env->media_event);
        sb__envelope__free_unpacked(env, NULL);
        return NULL;
    }
    return env;
}

/* Sends env as a request and waits for its answer (MediaReply); NULL on timeout. */
static Sb__Envelope *request(Sb__Envelope *env) {
    env->request_id = ++next_req;
    size_t len = sb__envelope__get_packed_size(env);
    uint8_t *pkt = malloc(len);
    sb__envelope__pack(env, pkt);
    ssize_t sent = send(ipc_fd, pkt, len, MSG_NOSIGNAL);
    free(pkt);
    if (sent != (ssize_t)len) { /* mediad is gone: the caller sees no answer */
        ipc_eof = true;
        return NULL;
    }
    int64_t end = clock_mono_us() + 5000000;
    while (clock_mono_us() < end && !ipc_eof) {
        Sb__Envelope *r = ipc_read(100);
        if (r && r->reply_to == env->request_id)
            return r;
        if (r)
            sb__envelope__free_unpacked(r, NULL);
    }
    return NULL;
}

/* Waits up to ms for an event of type for session; returns it or NULL. */
static struct ev *wait_event(int type, uint64_t session, int ms) {
    int64_t end = clock_mono_us() + (int64_t)ms * 1000;
    for (;;) {
        for (int i = 0; i < n_events; i++)
            if (events[i].type == type && events[i].session == session)
                return &events[i];
        if (clock_mono_us() >= end || ipc_eof)
            return NULL;
        Sb__Envelope *r = ipc_read(20);
        if (r)
            sb__envelope__free_unpacked(r, NULL);
    }
}

static int count_events(int type, uint64_t session) {
    int n = 0;
    for (int i = 0; i < n_events; i++)
        n += events[i].type == type && events[i].session == session;
    return n;
}

/* ---- requests ---- */

struct created {
    int status;
    uint64_t id;
    char sdp[4096], sdp_local[4096];
    char reason[256];
};

static void copy_bytes(char *dst, size_t cap, ProtobufCBinaryData b) {
    size_t n = b.len < cap - 1 ? b.len : cap - 1;
    if (n)
        memcpy(dst, b.data, n);
    dst[n] = '\0';
}

static const char *g_nat_ip = "";   /* MediaCreateRequest.nat_ip of the next creates */
static const char *g_local_ip = ""; /* ... and local_ip */
/* signal_ip of the next creates and updates: the phones signal from loopback, so mediad
 * may send to the loopback address their SDP names before it heard from them */
static const char *g_signal_ip = "127.0.0.1";
static const char *g_other_local_ip = ""; /* other_local_ip of the next creates */

static struct created create(const char *sdp, int srtp_b) {
    Sb__Envelope env = SB__ENVELOPE__INIT;
    Sb__MediaCreateRequest rq = SB__MEDIA_CREATE_REQUEST__INIT;
    rq.call_id = "probe-call";
    rq.owner_tag = "probe";
    rq.sdp.data = (uint8_t *)sdp;
    rq.sdp.len = strlen(sdp);
    rq.srtp_b = srtp_b;
    rq.nat_ip = (char *)g_nat_ip;
    rq.local_ip = (char *)g_local_ip;
    rq.signal_ip = (char *)g_signal_ip;
    rq.other_local_ip = (char *)g_other_local_ip;
    env.body_case = SB__ENVELOPE__BODY_MEDIA_CREATE;
    env.media_create = &rq;
    Sb__Envelope *r = request(&env);
    struct created c;
    memset(&c, 0, sizeof c);
    c.status = -1;
    if (r && r->body_case == SB__ENVELOPE__BODY_MEDIA_REPLY) {
        c.status = (int)r->media_reply->status;
        c.id = r->media_reply->session_id;
        copy_bytes(c.sdp, sizeof c.sdp, r->media_reply->sdp);
        copy_bytes(c.sdp_local, sizeof c.sdp_local, r->media_reply->sdp_local);
        snprintf(c.reason, sizeof c.reason, "%s", r->media_reply->reason);
    }
    if (r)
        sb__envelope__free_unpacked(r, NULL);
    return c;
}

static struct created update(uint64_t id, int from_side, int type, const char *sdp,
                             bool confirmed) {
    Sb__Envelope env = SB__ENVELOPE__INIT;
    Sb__MediaUpdateRequest rq = SB__MEDIA_UPDATE_REQUEST__INIT;
    rq.session_id = id;
    rq.from_side = from_side;
    rq.type = type;
    rq.sdp.data = (uint8_t *)sdp;
    rq.sdp.len = strlen(sdp);
    rq.confirmed = confirmed;
    rq.signal_ip = (char *)g_signal_ip;
    env.body_case = SB__ENVELOPE__BODY_MEDIA_UPDATE;
    env.media_update = &rq;
    Sb__Envelope *r = request(&env);
    struct created c;
    memset(&c, 0, sizeof c);
    c.status = -1;
    if (r && r->body_case == SB__ENVELOPE__BODY_MEDIA_REPLY) {
        c.status = (int)r->media_reply->status;
        c.id = r->media_reply->session_id;
        copy_bytes(c.sdp, sizeof c.sdp, r->media_reply->sdp);
        snprintf(c.reason, sizeof c.reason, "%s", r->media_reply->reason);
    }
    if (r)
        sb__envelope__free_unpacked(r, NULL);
    return c;
}

/* A simple request on a session (destroy, stop_play, unbridge); returns the status. */
static int simple(int body, uint64_t id) {
    Sb__Envelope env = SB__ENVELOPE__INIT;
    Sb__MediaDestroyRequest d = SB__MEDIA_DESTROY_REQUEST__INIT;
    Sb__MediaStopPlayRequest sp = SB__MEDIA_STOP_PLAY_REQUEST__INIT;
    env.body_case = body;
    if (body == SB__ENVELOPE__BODY_MEDIA_DESTROY) {
        d.session_id = id;
        env.media_destroy = &d;
    } else {
        sp.session_id = id;
        env.media_stop_play = &sp;
    }
    Sb__Envelope *r = request(&env);
    int st = r && r->body_case == SB__ENVELOPE__BODY_MEDIA_REPLY ? (int)r->media_reply->status : -1;
    if (r)
        sb__envelope__free_unpacked(r, NULL);
    return st;
}

struct side_stats {
    uint64_t rx_packets, rx_bytes, rx_lost, rx_dropped, tx_packets, srtp_failed, rtcp;
    uint32_t jitter;
    char remote[64];
};

static int stats(uint64_t id, struct side_stats *a, struct side_stats *b) {
    Sb__Envelope env = SB__ENVELOPE__INIT;
    Sb__MediaStatsRequest rq = SB__MEDIA_STATS_REQUEST__INIT;
    rq.session_id = id;
    env.body_case = SB__ENVELOPE__BODY_MEDIA_STATS;
    env.media_stats = &rq;
    Sb__Envelope *r = request(&env);
    int st = -1;
    if (r && r->body_case == SB__ENVELOPE__BODY_MEDIA_REPLY) {
        st = (int)r->media_reply->status;
        if (st == 0 && r->media_reply->n_sessions == 1) {
            Sb__MediaSessionInfo *i = r->media_reply->sessions[0];
            Sb__MediaSideStats *src[2] = {i->a, i->b};
            struct side_stats *dst[2] = {a, b};
            for (int k = 0; k < 2; k++) {
                memset(dst[k], 0, sizeof *dst[k]);
                if (!src[k])
                    continue;
                dst[k]->rx_packets = src[k]->rx_packets;
                dst[k]->rx_bytes = src[k]->rx_bytes;
                dst[k]->rx_lost = src[k]->rx_lost;
                dst[k]->rx_dropped = src[k]->rx_dropped;
                dst[k]->tx_packets = src[k]->tx_packets;
                dst[k]->srtp_failed = src[k]->srtp_failed;
                dst[k]->rtcp = src[k]->rtcp_packets;
                dst[k]->jitter = src[k]->rx_jitter;
                snprintf(dst[k]->remote, sizeof dst[k]->remote, "%s", src[k]->remote);
            }
        }
    }
    if (r)
        sb__envelope__free_unpacked(r, NULL);
    return st;
}

/* ---- UDP phones ---- */

static int udp_open(const char *ip, int *port) {
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)*port)};
    inet_pton(AF_INET, ip, &a.sin_addr);
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) < 0)
        die("bind %s:%d: %s", ip, *port, strerror(errno));
    socklen_t l = sizeof a;
    getsockname(fd, (struct sockaddr *)&a, &l);
    *port = ntohs(a.sin_port);
    return fd;
}

/* A phone: an RTP socket on an even port and its RTCP socket on the next one. */
struct phone {
    int rtp, rtcp;
    int port;
};

static struct phone phone_open(void) {
    for (int tries = 0; tries < 100; tries++) {
        int p = 0;
        int fd = udp_open("127.0.0.1", &p);
        if (p & 1) {
            close(fd);
            continue;
        }
        int p2 = p + 1;
        int fd2 = socket(AF_INET, SOCK_DGRAM, 0);
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)p2)};
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (bind(fd2, (struct sockaddr *)&a, sizeof a) == 0)
            return (struct phone){fd, fd2, p};
        close(fd);
        close(fd2);
    }
    die("no even/odd port pair free");
    return (struct phone){-1, -1, 0};
}

static void phone_close(struct phone *p) {
    close(p->rtp);
    close(p->rtcp);
}

static void send_to(int fd, const void *pkt, size_t len, int port) {
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    sendto(fd, pkt, len, 0, (struct sockaddr *)&a, sizeof a);
}

/* Receives one datagram within ms; returns its length or -1; from gets the source port. */
static int recv_one(int fd, uint8_t *buf, size_t cap, int ms, int *from_port) {
    struct pollfd p = {fd, POLLIN, 0};
    if (poll(&p, 1, ms) <= 0)
        return -1;
    struct sockaddr_in a;
    socklen_t l = sizeof a;
    ssize_t n = recvfrom(fd, buf, cap, 0, (struct sockaddr *)&a, &l);
    if (from_port)
        *from_port = ntohs(a.sin_port);
    return (int)n;
}

/* Drains fd for ms; returns how many datagrams came. */
static int drain(int fd, int ms) {
    uint8_t buf[2048];
    int n = 0;
    while (recv_one(fd, buf, sizeof buf, ms, NULL) >= 0)
        n++;
    return n;
}

static size_t rtp_packet(uint8_t *pkt, int pt, uint16_t seq, uint32_t ts, uint32_t ssrc,
                         size_t payload, uint8_t fill) {
    pkt[0] = 0x80;
    pkt[1] = (uint8_t)pt;
    pkt[2] = (uint8_t)(seq >> 8);
    pkt[3] = (uint8_t)seq;
    for (int i = 0; i < 4; i++) {
        pkt[4 + i] = (uint8_t)(ts >> (24 - 8 * i));
        pkt[8 + i] = (uint8_t)(ssrc >> (24 - 8 * i));
    }
    for (size_t i = 0; i < payload; i++)
        pkt[12 + i] = (uint8_t)(fill + i);
    return 12 + payload;
}

/* ---- SDP ---- */

/* The payload types of the m= lines we offer, in order of preference. */
static const char *g_payloads = "0 8 101";

static void make_sdp(char *out, size_t cap, int port, const char *proto, const char *extra) {
    snprintf(out, cap,
             "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=probe\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
             "m=audio %d %s %s\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n"
             "a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\n%s",
             port, proto, g_payloads, extra ? extra : "");
}

/* The port of the first m= line, the a=rtcp port, and the c= address of an SDP. */
static int sdp_port(const char *sdp) {
    const char *m = strstr(sdp, "m=audio ");
    return m ? atoi(m + 8) : -1;
}
static int sdp_rtcp(const char *sdp) {
    const char *a = strstr(sdp, "a=rtcp:");
    return a ? atoi(a + 7) : -1;
}

/* A session from A's offer a_sdp, answered by B on its port: A's view in sdp_local. */
static struct created session_offer(const char *a_sdp, struct phone *b) {
    char sb[1024];
    struct created c = create(a_sdp, 0);
    if (c.status != 0)
        die("create: status %d (%s)", c.status, c.reason);
    make_sdp(sb, sizeof sb, b->port, "RTP/AVP", NULL);
    struct created u = update(c.id, 1, 1, sb, true);
    if (u.status != 0)
        die("update answer: status %d (%s)", u.status, u.reason);
    snprintf(c.sdp_local, sizeof c.sdp_local, "%s", u.sdp); /* what A is told */
    return c;
}

static struct created session_ab(struct phone *a, struct phone *b, const char *a_extra) {
    char sa[1024];
    make_sdp(sa, sizeof sa, a->port, "RTP/AVP", a_extra);
    return session_offer(sa, b);
}

/* ---- scenarios ---- */

static void sc_relay(void) {
    struct phone a = phone_open(), b = phone_open();
    struct created c = session_ab(&a, &b, NULL);
    int to_b = sdp_port(c.sdp), to_a = sdp_port(c.sdp_local);
    TAP(to_b > 0 && to_a > 0 && to_a != to_b && !(to_a & 1) && !(to_b & 1),
        "the rewritten offer and answer carry our even RTP ports (B-side %d, A-side %d)", to_b,
        to_a);
    TAP(sdp_rtcp(c.sdp) == to_b + 1 && sdp_rtcp(c.sdp_local) == to_a + 1,
        "a=rtcp announces the odd port next to each (%d, %d)", sdp_rtcp(c.sdp),
        sdp_rtcp(c.sdp_local));
    TAP(strstr(c.sdp, "c=IN IP4 127.0.0.1") && strstr(c.sdp, "a=rtpmap:101 telephone-event/8000") &&
            strstr(c.sdp, "a=fmtp:101 0-16") && strstr(c.sdp, "m=audio ") &&
            strstr(c.sdp, " RTP/AVP 0 8 101"),
        "codecs, rtpmap and fmtp pass through the rewrite");
    uint8_t pkt[256], got[2048];
    int ok_ab = 0, ok_ba = 0, from_ok = 0;
    /* A first: B's side is answered, so its packets go to B's signaled address */
    for (int i = 0; i < 20; i++) {
        size_t n = rtp_packet(pkt, 0, (uint16_t)(100 + i), 160u * (uint32_t)i, 0xa0a0a0a0, 160,
                              (uint8_t)i);
        send_to(a.rtp, pkt, n, to_a);
        int from = 0;
        int r = recv_one(b.rtp, got, sizeof got, 1000, &from);
        ok_ab += r == (int)n && memcmp(got, pkt, n) == 0;
        from_ok += from == to_b;
        n = rtp_packet(pkt, 8, (uint16_t)(200 + i), 160u * (uint32_t)i, 0xb0b0b0b0, 160,
                       (uint8_t)(i + 50));
        send_to(b.rtp, pkt, n, to_b);
        r = recv_one(a.rtp, got, sizeof got, 1000, &from);
        ok_ba += r == (int)n && memcmp(got, pkt, n) == 0;
        from_ok += from == to_a;
    }
    TAP(ok_ab == 20, "A->B: %d of 20 RTP packets arrived byte-identical", ok_ab);
    TAP(ok_ba == 20, "B->A: %d of 20 RTP packets arrived byte-identical", ok_ba);
    TAP(from_ok == 40, "each side hears us from the port it was told (%d of 40)", from_ok);
    /* RTCP: a receiver report each way on the odd ports */
    uint8_t rr[32] = {0x81, 201, 0, 7};
    int rtcp_ok = 0;
    send_to(a.rtcp, rr, sizeof rr, to_a + 1);
    int from = 0;
    int r = recv_one(b.rtcp, got, sizeof got, 1000, &from);
    rtcp_ok += r == (int)sizeof rr && memcmp(got, rr, sizeof rr) == 0 && from == to_b + 1;
    rr[4] = 9;
    send_to(b.rtcp, rr, sizeof rr, to_b + 1);
    r = recv_one(a.rtcp, got, sizeof got, 1000, &from);
    rtcp_ok += r == (int)sizeof rr && memcmp(got, rr, sizeof rr) == 0 && from == to_a + 1;
    TAP(rtcp_ok == 2, "RTCP relayed both ways between the odd ports (%d of 2)", rtcp_ok);
    /* a gap of 5 sequence numbers from A shows as lost */
    size_t n = rtp_packet(pkt, 0, 125, 160u * 25, 0xa0a0a0a0, 160, 1);
    send_to(a.rtp, pkt, n, to_a);
    recv_one(b.rtp, got, sizeof got, 1000, NULL);
    struct side_stats sa, sb;
    int st = stats(c.id, &sa, &sb);
    TAP(st == 0 && sa.rx_packets == 22 && sa.rx_bytes == 21 * 172 + 32 && sa.rtcp == 1,
        "stats side A: rx_packets 22 (got %llu), rx_bytes %d (got %llu), rtcp 1 (got %llu)",
        (unsigned long long)sa.rx_packets, 21 * 172 + 32, (unsigned long long)sa.rx_bytes,
        (unsigned long long)sa.rtcp);
    TAP(sa.rx_lost == 5, "stats side A: 5 lost (seq 120..124 never sent), got %llu",
        (unsigned long long)sa.rx_lost);
    TAP(sb.rx_packets == 21 && sb.rx_lost == 0 && sa.tx_packets == 21 && sb.tx_packets == 22,
        "stats side B: rx 21 lost 0 (got %llu, %llu); sent to A 21, to B 22 (got %llu, %llu)",
        (unsigned long long)sb.rx_packets, (unsigned long long)sb.rx_lost,
        (unsigned long long)sa.tx_packets, (unsigned long long)sb.tx_packets);
    TAP(sa.jitter < 8000, "stats side A: a jitter figure in timestamp units (%u)", sa.jitter);
    char want[64];
    snprintf(want, sizeof want, "127.0.0.1:%d", a.port);
    TAP(strcmp(sa.remote, want) == 0, "side A's remote is its latched address %s (got %s)", want,
        sa.remote);
    TAP(simple(SB__ENVELOPE__BODY_MEDIA_DESTROY, c.id) == 0, "destroy: OK");
    send_to(a.rtp, pkt, n, to_a);
    TAP(recv_one(b.rtp, got, sizeof got, 300, NULL) < 0, "after destroy nothing is relayed");
    TAP(simple(SB__ENVELOPE__BODY_MEDIA_DESTROY, c.id) == 1, "destroy again: UNKNOWN_SESSION");
    phone_close(&a);
    phone_close(&b);
}

/* A session whose A side announced a private address it cannot be reached at. */
static struct created session_private_a(struct phone *b) {
    char sa[1024], priv[1024];
    make_sdp(sa, sizeof sa, 40000, "RTP/AVP", NULL);
    char *c = strstr(sa, "c=IN IP4 127.0.0.1");
    if (!c)
        die("make_sdp: no c= line");
    snprintf(priv, sizeof priv, "%.*sc=IN IP4 192.168.77.10%s", (int)(c - sa), sa,
             c + strlen("c=IN IP4 127.0.0.1"));
    return session_offer(priv, b);
}

static void sc_natlatch(void) {
    struct phone b = phone_open();
    uint8_t pkt[256], got[2048];
    int nat_port = 0, evil_port = 0;
    int nat = udp_open("127.0.0.3", &nat_port), evil = udp_open("127.0.0.2", &evil_port);
    /* without nat_ip: the NAT's address is not the signaled one, nothing is latched */
    struct created c0 = session_private_a(&b);
    size_t n = rtp_packet(pkt, 0, 1, 0, 0x1111, 160, 3);
    send_to(nat, pkt, n, sdp_port(c0.sdp_local));
    TAP(recv_one(b.rtp, got, sizeof got, 300, NULL) < 0,
        "without nat_ip, A's packet from its NAT (127.0.0.3) is not relayed");
    simple(SB__ENVELOPE__BODY_MEDIA_DESTROY, c0.id);
    /* with nat_ip 127.0.0.3: latched from there, and only from there */
    g_nat_ip = "127.0.0.3";
    struct created c = session_private_a(&b);
    g_nat_ip = "";
    int to_a = sdp_port(c.sdp_local), to_b = sdp_port(c.sdp);
    n = rtp_packet(pkt, 0, 2, 160, 0x3333, 160, 5);
    send_to(evil, pkt, n, to_a);
    TAP(recv_one(b.rtp, got, sizeof got, 300, NULL) < 0,
        "with nat_ip, a packet from 127.0.0.2 (neither the SDP's nor the NAT's) is not relayed");
    n = rtp_packet(pkt, 0, 3, 320, 0x1111, 160, 3);
    send_to(nat, pkt, n, to_a);
    TAP(recv_one(b.rtp, got, sizeof got, 1000, NULL) == (int)n,
        "A's packet from its NAT 127.0.0.3:%d reaches B", nat_port);
    n = rtp_packet(pkt, 0, 4, 0, 0x2222, 160, 4);
    send_to(b.rtp, pkt, n, to_b);
    TAP(recv_one(nat, got, sizeof got, 1000, NULL) == (int)n,
        "B's packet goes to A's NAT, not to the private address its SDP named");
    simple(SB__ENVELOPE__BODY_MEDIA_DESTROY, c.id);
    close(nat);
    close(evil);
    phone_close(&b);
}

static void sc_announce(void) {
    struct phone a = phone_open(), b = phone_open();
    g_local_ip = "127.0.0.9";
    struct created c = session_ab(&a, &b, NULL);
    g_local_ip = "";
    TAP(strstr(c.sdp, "c=IN IP4 127.0.0.9\r\n") && strstr(c.sdp_local, "c=IN IP4 127.0.0.9\r\n"),
        "both rewritten SDPs name the address the signaling came to (127.0.0.9)");
    uint8_t pkt[256], got[2048];
    size_t n = rtp_packet(pkt, 0, 1, 0, 0x1111, 160, 3);
    struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons((uint16_t)sdp_port(c.sdp_local))};
    inet_pton(AF_INET, "127.0.0.9", &to.sin_addr);
    sendto(a.rtp, pkt, n, 0, (struct sockaddr *)&to, sizeof to);
    TAP(recv_one(b.rtp, got, sizeof got, 1000, NULL) == (int)n,
        "A's packet to 127.0.0.9 reaches B (the ports are bound there: RTP leaves from it)");
    simple(SB__ENVELOPE__BODY_MEDIA_DESTROY, c.id);
    phone_close(&a);
    phone_close(&b);
}

static void sc_latch(void) {
    struct phone a = phone_open(), b = phone_open();
    struct created c = session_ab(&a, &b, NULL);
    int to_b = sdp_port(c.sdp), to_a = sdp_port(c.sdp_local);
    /* A is behind a NAT: it sends from another port than its SDP says */
    int nat_port = 0;
    int nat = udp_open("127.0.0.1", &nat_port);
    uint8_t pkt[256], got[2048];
    size_t n = rtp_packet(pkt, 0, 1, 0, 0x1111, 160, 3);
    send_to(nat, pkt, n, to_a);
    TAP(recv_one(b.rtp, got, sizeof got, 1000, NULL) == (int)n, "A's packet from port %d reaches B",
        nat_port);
    n = rtp_packet(pkt, 0, 1, 0, 0x2222, 160, 4);
    send_to(b.rtp, pkt, n, to_b);
    TAP(recv_one(nat, got, sizeof got, 1000, NULL) == (int)n,
        "B's packet goes to A's latched port %d, not the signaled %d", nat_port, a.port);
    TAP(recv_one(a.rtp, got, sizeof got, 200, NULL) < 0, "and nothing to the signaled port");
    /* a hijacker on another IP is not latched */
    int evil_port = 0;
    int evil = udp_open("127.0.0.2", &evil_port);
    n = rtp_packet(pkt, 0, 2, 160, 0x3333, 160, 5);
    send_to(evil, pkt, n, to_a);
    TAP(recv_one(b.rtp, got, sizeof got, 300, NULL) < 0,
        "a packet from 127.0.0.2 (not the signaled IP) is not relayed");
    struct side_stats sa, sb;
    stats(c.id, &sa, &sb);
    TAP(sa.rx_dropped >= 1, "and it is counted as dropped (%llu)",
        (unsigned long long)sa.rx_dropped);
    /* the same SDP again (a re-INVITE for a codec change) keeps the latched port */
    char again[1024];
    make_sdp(again, sizeof again, a.port, "RTP/AVP", NULL);
    update(c.id, 0, 0, again, true);
    n = rtp_packet(pkt, 0, 3, 320, 0x2222, 160, 6);
    send_to(b.rtp, pkt, n, to_b);
    TAP(recv_one(nat, got, sizeof got, 1000, NULL) == (int)n,
        "a re-offer with the same address keeps the latched port");
    /* A moves: a re-offer with a new port; until A speaks from it, B is heard there */
    struct phone a2 = phone_open();
    make_sdp(again, sizeof again, a2.port, "RTP/AVP", NULL);
    struct created u = update(c.id, 0, 0, again, true);
    TAP(u.status == 0 && sdp_port(u.sdp) == to_b,
        "A's re-offer from a new port: OK, B keeps its port");
    send_to(b.rtp, pkt, n, to_b);
    TAP(recv_one(a2.rtp, got, sizeof got, 1000, NULL) == (int)n,
        "B's packets go to A's new signaled port %d", a2.port);
    TAP(recv_one(nat, got, sizeof got, 100, NULL) < 0, "not to the old latched one");
    phone_close(&a2);
    simple(SB__ENVELOPE__BODY_MEDIA_DESTROY, c.id);
    close(nat);
    close(evil);
    phone_close(&a);
    phone_close(&b);
}

static int flow(int from_fd, int to_port, int rx_fd, int count) {
    uint8_t pkt[256], got[2048];
    int ok = 0;
    for (int i = 0; i < count; i++) {
        size_t n = rtp_packet(pkt, 0, (uint16_t)(300 + i), 160u * (uint32_t)i, 0x4444, 160, 7);
        send_to(from_fd, pkt, n, to_port);
        ok += recv_one(rx_fd, got, sizeof got, 150, NULL) == (int)n;
    }
    return ok;
}

static void sc_hold(void) {
    struct phone a = phone_open(), b = phone_open();
    struct created c = session_ab(&a, &b, NULL);
    int to_b = sdp_port(c.sdp), to_a = sdp_port(c.sdp_local);
    TAP(flow(a.rtp, to_a, b.rtp, 3) == 3 && flow(b.rtp, to_b, a.rtp, 3) == 3,
        "before hold both directions flow");
    char sa[1024];
    make_sdp(sa, sizeof sa, a.port, "RTP/AVP", "a=sendonly\r\n");
    struct created u = update(c.id, 0, 0, sa, true);
    TAP(u.status == 0 && strstr(u.sdp, "a=sendonly") && sdp_port(u.sdp) == to_b,
        "A's re-offer with a=sendonly: OK, rewritten for B with the same port, direction kept");
    char sb[1024];
    make_sdp(sb, sizeof sb, b.port, "RTP/AVP", "a=recvonly\r\n");
    u = update(c.id, 1, 1, sb, true);
    TAP(u.status == 0 && strstr(u.sdp, "a=recvonly"), "B's answer a=recvonly: OK");
    int ab = flow(a.rtp, to_a, b.rtp, 3), ba = flow(b.rtp, to_b, a.rtp, 3);
    TAP(ab == 3, "on hold A->B still flows (%d of 3)", ab);
    TAP(ba == 0, "on hold B->A is stopped (%d of 3 arrived)", ba);
    make_sdp(sa, sizeof sa, a.port, "RTP/AVP", "a=sendrecv\r\n");
    update(c.id, 0, 0, sa, true);
    make_sdp(sb, sizeof sb, b.port, "RTP/AVP", NULL);
    update(c.id, 1, 1, sb, true);
    ba = flow(b.rtp, to_b, a.rtp, 3);
    TAP(ba == 3, "after resume B->A flows again (%d of 3)", ba);
    simple(SB__ENVELOPE__BODY_MEDIA_DESTROY, c.id);
    phone_close(&a);
    phone_close(&b);
}

static void sc_dtmf(void) {
    struct phone a = phone_open(), b = phone_open();
    struct created c = session_ab(&a, &b, NULL);
    int to_a = sdp_port(c.sdp_local);
    uint8_t pkt[64], got[2048];
    int relayed = 0;
    /* RFC 4733: digit 5, three updates then three end packets, one timestamp */
    for (int i = 0; i < 6; i++) {
        size_t n = rtp_packet(pkt, 101, (uint16_t)(500 + i), 8000, 0x5555, 4, 0);
        pkt[1] |= i == 0 ? 0x80 : 0;
        pkt[12] = 5;
        pkt[13] = (uint8_t)((i >= 3 ? 0x80 : 0) | 10);
        uint16_t dur = (uint16_t)(i < 3 ? 400 * (i + 1) : 1600);
        pkt[14] = (uint8_t)(dur >> 8);
        pkt[15] = (uint8_t)dur;
        send_to(a.rtp, pkt, n, to_a);
        relayed += recv_one(b.rtp, got, sizeof got, 500, NULL) == (int)n && got[12] == 5;
    }
    TAP(relayed == 6, "all 6 telephone-event packets are relayed to B untouched (%d)", relayed);
    struct ev *e = wait_event(SB__MEDIA_EVENT_TYPE__MEDIA_EVENT_DTMF, c.id, 1000);
    TAP(e && strcmp(e->digit, "5") == 0 && e->duration_ms == 200,
        "a DTMF event: digit 5, 200 ms (got %s, %u ms)", e ? e->digit : "none",
        e ? e->duration_ms : 0);
    drain(b.rtp, 50);
    TAP(count_events(SB__MEDIA_EVENT_TYPE__MEDIA_EVENT_DTMF, c.id) == 1,
        "exactly one event for the three end packets (%d)",
        count_events(SB__MEDIA_EVENT_TYPE__MEDIA_EVENT_DTMF, c.id));
    simple(SB__ENVELOPE__BODY_MEDIA_DESTROY, c.id);
    phone_close(&a);
    phone_close(&b);
}

static int bridge_req(int body, uint64_t a, uint64_t b) {
    Sb__Envelope env = SB__ENVELOPE__INIT;
    Sb__MediaBridgeRequest br = SB__MEDIA_BRIDGE_REQUEST__INIT;
    Sb__MediaUnbridgeRequest ub = SB__MEDIA_UNBRIDGE_REQUEST__INIT;
    env.body_case = body;
    if (body == SB__ENVELOPE__BODY_MEDIA_BRIDGE) {
        br.session_a = a;
        br.session_b = b;
        env.media_bridge = &br;
    } else {
        ub.session_id = a;
        env.media_unbridge = &ub;
    }
    Sb__Envelope *r = request(&env);
    int st = r && r->body_case == SB__ENVELOPE__BODY_MEDIA_REPLY ? (int)r->media_reply->status : -1;
    if (r)
        sb__envelope__free_unpacked(r, NULL);
    return st;
}

/* Two calls whose A sides are connected (a transfer, a conference of two), then apart. */
static void sc_bridge(void) {
    struct phone a1 = phone_open(), b1 = phone_open(), a2 = phone_open(), b2 = phone_open();
    struct created c1 = session_ab(&a1, &b1, NULL), c2 = session_ab(&a2, &b2, NULL);
    int to_a1 = sdp_port(c1.sdp_local), to_a2 = sdp_port(c2.sdp_local);
    TAP(bridge_req(SB__ENVELOPE__BODY_MEDIA_BRIDGE, c1.id, c2.id) == 0, "bridge(1, 2): OK");
    uint8_t pkt[256], got[2048];
    size_t n = rtp_packet(pkt, 0, 1, 0, 0x8888, 160, 9);
    send_to(a1.rtp, pkt, n, to_a1);
    int from = 0;
    int r = recv_one(a2.rtp, got, sizeof got, 1000, &from);
    TAP(r == (int)n && memcmp(got, pkt, n) == 0 && from == to_a2,
        "A1's packet reaches A2, untouched, from A2's own port %d (got %d from %d)", to_a2, r,
        from);
    TAP(recv_one(b1.rtp, got, sizeof got, 200, NULL) < 0, "and not B1 any more");
    n = rtp_packet(pkt, 0, 2, 160, 0x9999, 160, 10);
    send_to(a2.rtp, pkt, n, to_a2);
    TAP(recv_one(a1.rtp, got, sizeof got, 1000, NULL) == (int)n, "A2's packet reaches A1");
    /* list: both sessions, A sides bridged to each other */
    Sb__Envelope env = SB__ENVELOPE__INIT;
    Sb__MediaListRequest lr = SB__MEDIA_LIST_REQUEST__INIT;
    env.body_case = SB__ENVELOPE__BODY_MEDIA_LIST;
    env.media_list = &lr;
    Sb__Envelope *rep = request(&env);
    int found = 0;
    if (rep && rep->body_case == SB__ENVELOPE__BODY_MEDIA_REPLY)
        for (size_t i = 0; i < rep->media_reply->n_sessions; i++) {
            Sb__MediaSessionInfo *in = rep->media_reply->sessions[i];
            found +=
                (in->session_id == c1.id && in->bridged_to == c2.id &&
                 strcmp(in->call_id, "probe-call") == 0 && strcmp(in->state, "confirmed") == 0) ||
                (in->session_id == c2.id && in->bridged_to == c1.id);
        }
    if (rep)
        sb__envelope__free_unpacked(rep, NULL);
    TAP(found == 2, "list shows both sessions bridged to each other (%d)", found);
    TAP(bridge_req(SB__ENVELOPE__BODY_MEDIA_UNBRIDGE, c1.id, 0) == 0, "unbridge(1): OK");
    send_to(a1.rtp, pkt, n, to_a1);
    TAP(recv_one(a2.rtp, got, sizeof got, 200, NULL) < 0 &&
            recv_one(b1.rtp, got, sizeof got, 100, NULL) < 0,
        "after unbridge A1's packets go nowhere");
    send_to(a2.rtp, pkt, n, to_a2);
    TAP(recv_one(a1.rtp, got, sizeof got, 200, NULL) < 0, "nor A2's to A1");
    TAP(bridge_req(SB__ENVELOPE__BODY_MEDIA_BRIDGE, c1.id, 0xdead) == 1,
        "bridge with an unknown session: UNKNOWN_SESSION");
    simple(SB__ENVELOPE__BODY_MEDIA_DESTROY, c1.id);
    simple(SB__ENVELOPE__BODY_MEDIA_DESTROY, c2.id);
    phone_close(&a1);
    phone_close(&b1);
    phone_close(&a2);
    phone_close(&b2);
}

/* Early media (an 18x answer) flows before the call is confirmed; media_timeout waits for
 * the confirmation. */
static void sc_early(void) {
    struct phone a = phone_open(), b = phone_open();
    char sa[1024], sb[1024];
    make_sdp(sa, sizeof sa, a.port, "RTP/AVP", NULL);
    struct created c = create(sa, 0);
    make_sdp(sb, sizeof sb, b.port, "RTP/AVP", NULL);
    struct created u = update(c.id, 1, 1, sb, false); /* the 183's SDP */
    TAP(c.status == 0 && u.status == 0, "create and an early (unconfirmed) answer: OK");
    int to_b = sdp_port(c.sdp), to_a = sdp_port(u.sdp);
    TAP(flow(b.rtp, to_b, a.rtp, 3) == 3,
        "early media from B reaches A before the call is answered");
    TAP(wait_event(SB__MEDIA_EVENT_TYPE__MEDIA_EVENT_TIMEOUT, c.id, 1600) == NULL,
        "no TIMEOUT while the call is not confirmed (1.6 s of silence)");
    u = update(c.id, 1, 1, sb, true); /* the 200 */
    TAP(u.status == 0 && sdp_port(u.sdp) == to_a, "the 200's answer keeps A's port");
    TAP(wait_event(SB__MEDIA_EVENT_TYPE__MEDIA_EVENT_TIMEOUT, c.id, 3000) != NULL,
        "once confirmed, silence gives a TIMEOUT");
    simple(SB__ENVELOPE__BODY_MEDIA_DESTROY, c.id);
    phone_close(&a);
    phone_close(&b);
}

static void sc_timeout(void) {
    struct phone a = phone_open(), b = phone_open();
    struct created c = session_ab(&a, &b, NULL);
    int64_t t0 = clock_mono_us();
    struct ev *e = wait_event(SB__MEDIA_EVENT_TYPE__MEDIA_EVENT_TIMEOUT, c.id, 5000);
    long ms = (long)((clock_mono_us() - t0) / 1000);
    TAP(e != NULL, "no RTP on a confirmed call: a TIMEOUT event after %ld ms", ms);
    TAP(ms >= 800, "not before media_timeout (1 s): %ld ms", ms);
    simple(SB__ENVELOPE__BODY_MEDIA_DESTROY, c.id);
    phone_close(&a);
    phone_close(&b);
}

static void sc_pool(int pairs) {
    struct phone a = phone_open();
    char sa[1024];
    make_sdp(sa, sizeof sa, a.port, "RTP/AVP", NULL);
    uint64_t ids[512];
    int n = 0, last = 0;
    while (n < 512) {
        struct created c = create(sa, 0);
        last = c.status;
        if (c.status != 0)
            break;
        ids[n++] = c.id;
    }
    TAP(n == pairs / 2, "%d port pairs hold %d one-line sessions (two pairs each): %d created",
        pairs, pairs / 2, n);
    TAP(last == SB__MEDIA_STATUS__MEDIA_STATUS_POOL_EXHAUSTED,
        "the next create fails with POOL_EXHAUSTED (status %d)", last);
    for (int i = 0; i < n; i++)
        simple(SB__ENVELOPE__BODY_MEDIA_DESTROY, ids[i]);
    /* ports come back when the sockets have closed (next loop iteration) */
    struct created c = {.status = -1};
    for (int t = 0; t < 20 && c.status != 0; t++) {
        usleep(20000);
        c = create(sa, 0);
    }
    TAP(c.status == 0, "after destroying them a create succeeds again");
    if (c.status == 0)
        simple(SB__ENVELOPE__BODY_MEDIA_DESTROY, c.id);
    phone_close(&a);
}

/* mediad out of descriptors (the test lowered its RLIMIT_NOFILE): creates fail with
 * INTERNAL "out of file descriptors", not POOL_EXHAUSTED, and work again once sessions go. */
static void sc_fdlimit(void) {
    struct phone a = phone_open();
    char sa[1024];
    make_sdp(sa, sizeof sa, a.port, "RTP/AVP", NULL);
    uint64_t ids[64];
    int n = 0;
    struct created c = {.status = 0};
    while (n < 64) {
        c = create(sa, 0);
        if (c.status != 0)
            break;
        ids[n++] = c.id;
    }
    TAP(n >= 1 && n < 64, "sessions until the descriptors run out: %d", n);
    TAP(c.status == SB__MEDIA_STATUS__MEDIA_STATUS_INTERNAL &&
            strcmp(c.reason, "out of file descriptors") == 0,
        "the next create says so (status %d, %s), not POOL_EXHAUSTED", c.status, c.reason);
    for (int i = 0; i < n; i++)
        simple(SB__ENVELOPE__BODY_MEDIA_DESTROY, ids[i]);
    c.status = -1;
    for (int t = 0; t < 20 && c.status != 0; t++) {
        usleep(20000);
        c = create(sa, 0);
    }
    TAP(c.status == 0, "after destroying them a create succeeds again");
    if (c.status == 0)
        simple(SB__ENVELOPE__BODY_MEDIA_DESTROY, c.id);
    phone_close(&a);
}

static void sc_badsdp(void) {
    struct created c = create("this is not SDP", 0);
    TAP(c.status == SB__MEDIA_STATUS__MEDIA_STATUS_BAD_SDP, "garbage: BAD_SDP (%d, %s)", c.status,
        c.reason);
    c = create("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n", 0);
    TAP(c.status == SB__MEDIA_STATUS__MEDIA_STATUS_BAD_SDP, "no c= line: BAD_SDP (%d, %s)",
        c.status, c.reason);
    c = create("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
               "m=image 4000 udptl t38\r\n",
               0);
    TAP(c.status == SB__MEDIA_STATUS__MEDIA_STATUS_UNRELAYABLE,
        "m=image udptl: UNRELAYABLE (%d, %s)", c.status, c.reason);
    c = create("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
               "m=audio 4000 RTP/AVP 0\r\nm=video 0 RTP/AVP 96\r\n",
               0);
    TAP(c.status == 0 && strstr(c.sdp, "m=video 0 RTP/AVP 96"),
        "a rejected m=video (port 0) stays rejected beside a relayed audio line");
    if (c.status == 0)
        simple(SB__ENVELOPE__BODY_MEDIA_DESTROY, c.id);
    struct created u = update(0xdeadbeef, 1, 1, "v=0\r\n", false);
    TAP(u.status == SB__MEDIA_STATUS__MEDIA_STATUS_UNKNOWN_SESSION,
        "update of an unknown session: "
        "UNKNOWN_SESSION (%d)",
        u.status);
    struct side_stats a, b;
    TAP(stats(0xdeadbeef, &a, &b) == SB__MEDIA_STATUS__MEDIA_STATUS_UNKNOWN_SESSION,
        "stats of an unknown session: UNKNOWN_SESSION");
}

static int16_t ulaw_dec(uint8_t u) {
    u = (uint8_t)~u;
    int seg = (u >> 4) & 7, mant = u & 0x0f;
    int v = (((mant << 3) + 0x84) << seg) - 0x84;
    return (int16_t)((u & 0x80) ? -v : v);
}

static int16_t alaw_dec(uint8_t a) {
    a ^= 0x55;
    int seg = (a >> 4) & 7, mant = a & 0x0f;
    int v = seg == 0 ? (mant << 4) + 8 : ((mant << 4) + 0x108) << (seg - 1);
    return (int16_t)((a & 0x80) ? v : -v);
}

static void sc_play(const char *file, const char *ref, bool pcma) {
    int want_pt = pcma ? 8 : 0;
    if (pcma)
        g_payloads = "8 0 101"; /* A prefers PCMA: the prompt must come as PCMA */
    struct phone a = phone_open(), b = phone_open();
    struct created c = session_ab(&a, &b, NULL);
    /* the reference: 8 kHz mono, what the decoded stream must match */
    SF_INFO info = {0};
    int16_t *want = NULL;
    sf_count_t frames = 0;
    bool compare = ref[0] != '-';
    if (compare) {
        SNDFILE *sf = sf_open(ref, SFM_READ, &info);
        if (!sf || info.samplerate != 8000 || info.channels != 1)
            die("reference %s must be an 8 kHz mono WAV", ref);
        want = calloc((size_t)info.frames + 1, sizeof *want);
        frames = sf_readf_short(sf, want, info.frames);
        sf_close(sf);
    } else {
        frames = atol(ref + 1); /* "-N": N samples expected at 8 kHz, no comparison */
    }
    Sb__Envelope env = SB__ENVELOPE__INIT;
    Sb__MediaPlayRequest rq = SB__MEDIA_PLAY_REQUEST__INIT;
    rq.session_id = c.id;
    rq.to_side = SB__MEDIA_SIDE__MEDIA_SIDE_A;
    rq.file = (char *)file;
    rq.progress_ms = 200;
    env.body_case = SB__ENVELOPE__BODY_MEDIA_PLAY;
    env.media_play = &rq;
    int64_t t0 = clock_mono_us();
    Sb__Envelope *r = request(&env);
    TAP(r && r->media_reply->status == 0, "play: OK");
    if (r)
        sb__envelope__free_unpacked(r, NULL);
    size_t expect_pkts = (size_t)(frames / 160 + (frames % 160 ? 1 : 0));
    int16_t *got = calloc(expect_pkts * 160 + 160, sizeof *got);
    uint8_t buf[2048];
    size_t pkts = 0, bad_seq = 0, bad_ts = 0, bad_pt = 0, markers = 0;
    uint16_t seq0 = 0;
    uint32_t ts0 = 0;
    int64_t last_us = t0;
    int n;
    while (pkts < expect_pkts + 5 && (n = recv_one(a.rtp, buf, sizeof buf, 400, NULL)) > 0) {
        last_us = clock_mono_us();
        uint16_t seq = (uint16_t)(buf[2] << 8 | buf[3]);
        uint32_t ts =
            (uint32_t)buf[4] << 24 | (uint32_t)buf[5] << 16 | (uint32_t)buf[6] << 8 | buf[7];
        if (pkts == 0) {
            seq0 = seq;
            ts0 = ts;
        }
        bad_seq += seq != (uint16_t)(seq0 + pkts);
        bad_ts += ts != ts0 + 160u * (uint32_t)pkts;
        bad_pt += (buf[1] & 0x7f) != want_pt || n != 172;
        markers += (buf[1] & 0x80) != 0 && pkts == 0 ? 1 : (buf[1] & 0x80) ? 100 : 0;
        for (int i = 0; i < 160 && n == 172 && pkts < expect_pkts + 1; i++)
            got[pkts * 160 + (size_t)i] = pcma ? alaw_dec(buf[12 + i]) : ulaw_dec(buf[12 + i]);
        pkts++;
    }
    TAP(pkts == expect_pkts, "%lld samples give %zu packets of 20 ms (got %zu)", (long long)frames,
        expect_pkts, pkts);
    TAP(bad_pt == 0, "every packet is %s (PT %d) with 160 bytes of payload (%zu bad)",
        pcma ? "PCMA" : "PCMU", want_pt, bad_pt);
    TAP(bad_seq == 0 && bad_ts == 0,
        "sequence numbers +1 and timestamps +160 each packet (%zu, %zu off)", bad_seq, bad_ts);
    TAP(markers == 1, "the marker bit is on the first packet only");
    double ms = (double)(last_us - t0) / 1000.0, nominal = (double)(expect_pkts - 1) * 20.0;
    TAP(ms > nominal - 60 && ms < nominal + 150,
        "paced at 20 ms: last packet after %.0f ms "
        "(nominal %.0f)",
        ms, nominal);
    if (compare) {
        size_t close_ = 0;
        for (sf_count_t i = 0; i < frames; i++) {
            int d = abs(got[i] - want[i]), tol = abs(want[i]) / 16 + 80;
            close_ += d <= tol;
        }
        TAP(frames > 0 && close_ >= (size_t)frames * 98 / 100,
            "decoded %s matches the reference within G.711 quantisation: %zu of %lld samples",
            pcma ? "PCMA" : "PCMU", close_, (long long)frames);
    } else {
        double energy = 0;
        for (size_t i = 0; i < pkts * 160 && i < expect_pkts * 160; i++)
            energy += (double)got[i] * got[i];
        double rms = pkts ? sqrt(energy / (double)(pkts * 160)) : 0;
        TAP(rms > 5000 && rms < 11000,
            "the resampled tone keeps its level (RMS %.0f, sine of "
            "12000 peak is 8485)",
            rms);
    }
    struct ev *e = wait_event(SB__MEDIA_EVENT_TYPE__MEDIA_EVENT_PLAY_COMPLETED, c.id, 1000);
    TAP(e && e->packets == expect_pkts, "PLAY_COMPLETED with %zu packets (got %llu)", expect_pkts,
        e ? (unsigned long long)e->packets : 0ULL);
    struct ev *s = wait_event(SB__MEDIA_EVENT_TYPE__MEDIA_EVENT_PLAY_STARTED, c.id, 10);
    TAP(s && s->duration_ms == (uint32_t)(frames / 8),
        "PLAY_STARTED says the duration %lld ms (%u)", (long long)(frames / 8),
        s ? s->duration_ms : 0);
    TAP(count_events(SB__MEDIA_EVENT_TYPE__MEDIA_EVENT_PLAY_PROGRESS, c.id) >= 2,
        "PLAY_PROGRESS events every 200 ms (%d)",
        count_events(SB__MEDIA_EVENT_TYPE__MEDIA_EVENT_PLAY_PROGRESS, c.id));
    /* loop + stop */
    rq.loop = true;
    rq.progress_ms = 0;
    r = request(&env);
    if (r)
        sb__envelope__free_unpacked(r, NULL);
    int looped = 0;
    while (looped < (int)expect_pkts + 10 && recv_one(a.rtp, buf, sizeof buf, 400, NULL) > 0)
        looped++;
    TAP(looped == (int)expect_pkts + 10, "with loop it plays past the end (%d packets)", looped);
    TAP(simple(SB__ENVELOPE__BODY_MEDIA_STOP_PLAY, c.id) == 0, "stop_play: OK");
    TAP(wait_event(SB__MEDIA_EVENT_TYPE__MEDIA_EVENT_PLAY_STOPPED, c.id, 1000) != NULL,
        "a PLAY_STOPPED event");
    drain(a.rtp, 60);
    TAP(recv_one(a.rtp, buf, sizeof buf, 200, NULL) < 0, "and no packet after it");
    free(want);
    free(got);
    simple(SB__ENVELOPE__BODY_MEDIA_DESTROY, c.id);
    phone_close(&a);
    phone_close(&b);
}

static void sc_playerr(void) {
    struct phone a = phone_open(), b = phone_open();
    struct created c = session_ab(&a, &b, NULL);
    const char *files[] = {"no-such-file.wav", "../main.cf"};
    for (int i = 0; i < 2; i++) {
        n_events = 0;
        Sb__Envelope env = SB__ENVELOPE__INIT;
        Sb__MediaPlayRequest rq = SB__MEDIA_PLAY_REQUEST__INIT;
        rq.session_id = c.id;
        rq.file = (char *)files[i];
        env.body_case = SB__ENVELOPE__BODY_MEDIA_PLAY;
        env.media_play = &rq;
        Sb__Envelope *r = request(&env);
        if (r)
            sb__envelope__free_unpacked(r, NULL);
        struct ev *e = wait_event(SB__MEDIA_EVENT_TYPE__MEDIA_EVENT_PLAY_ERROR, c.id, 1000);
        TAP(e != NULL, "play %s: a PLAY_ERROR event (%s)", files[i], e ? e->reason : "none");
    }
    uint8_t buf[2048];
    TAP(recv_one(a.rtp, buf, sizeof buf, 200, NULL) < 0, "and nothing is sent");
    simple(SB__ENVELOPE__BODY_MEDIA_DESTROY, c.id);
    phone_close(&a);
    phone_close(&b);
}

static void b64(const uint8_t *in, size_t n, char *out) {
    static const char t[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (i + 1 < n ? (uint32_t)in[i + 1] << 8 : 0) |
                     (i + 2 < n ? in[i + 2] : 0);
        out[o++] = t[v >> 18 & 63];
        out[o++] = t[v >> 12 & 63];
        out[o++] = i + 1 < n ? t[v >> 6 & 63] : '=';
        out[o++] = i + 2 < n ? t[v & 63] : '=';
    }
    out[o] = 0;
}

static int unb64(const char *in, uint8_t *out, size_t cap) {
    static const char t[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    uint32_t acc = 0;
    int bits = 0;
    size_t o = 0;
    for (; *in && *in != '=' && *in != '|' && *in != '\r' && *in != '\n'; in++) {
        const char *p = strchr(t, *in);
        if (!p)
            return -1;
        acc = acc << 6 | (uint32_t)(p - t);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (o < cap)
                out[o++] = (uint8_t)(acc >> bits);
        }
    }
    return (int)o;
}

static bool g_srtp32;

static srtp_t srtp_ctx(const uint8_t *key, bool inbound) {
    srtp_policy_t p;
    memset(&p, 0, sizeof p);
    if (g_srtp32)
        srtp_crypto_policy_set_aes_cm_128_hmac_sha1_32(&p.rtp);
    else
        srtp_crypto_policy_set_aes_cm_128_hmac_sha1_80(&p.rtp);
    srtp_crypto_policy_set_aes_cm_128_hmac_sha1_80(&p.rtcp);
    p.ssrc.type = inbound ? ssrc_any_inbound : ssrc_any_outbound;
    p.key = (unsigned char *)key;
    p.window_size = 128;
    srtp_t s = NULL;
    if (srtp_create(&s, &p) != srtp_err_status_ok)
        die("srtp_create");
    return s;
}

static void sc_srtp(void) {
    srtp_init();
    struct phone a = phone_open(), b = phone_open();
    uint8_t key_a[30];
    for (int i = 0; i < 30; i++)
        key_a[i] = (uint8_t)(i * 7 + 3);
    char kb64[64], extra[160], sa[1024], sb[1024];
    b64(key_a, 30, kb64);
    const char *suite = g_srtp32 ? "AES_CM_128_HMAC_SHA1_32" : "AES_CM_128_HMAC_SHA1_80";
    snprintf(extra, sizeof extra, "a=crypto:1 %s inline:%s\r\n", suite, kb64);
    make_sdp(sa, sizeof sa, a.port, "RTP/SAVP", extra);
    struct created c = create(sa, 1); /* B: force plain RTP */
    TAP(c.status == 0, "create with an SRTP offer and plain RTP for B: OK (%s)", c.reason);
    TAP(strstr(c.sdp, " RTP/AVP ") && !strstr(c.sdp, "a=crypto"),
        "the offer to B is RTP/AVP without a=crypto");
    char want_crypto[64];
    snprintf(want_crypto, sizeof want_crypto, "a=crypto:1 %s inline:", suite);
    TAP(strstr(c.sdp_local, " RTP/SAVP ") && strstr(c.sdp_local, want_crypto) &&
            !strstr(c.sdp_local, kb64),
        "the SDP for A is RTP/SAVP with our own %s key (tag 1), not A's", suite);
    make_sdp(sb, sizeof sb, b.port, "RTP/AVP", NULL);
    struct created u = update(c.id, 1, 1, sb, true);
    TAP(u.status == 0 && strstr(u.sdp, " RTP/SAVP ") && strstr(u.sdp, "a=crypto:1 "),
        "B's plain answer is rewritten for A as RTP/SAVP with a=crypto");
    const char *k = strstr(u.sdp, "inline:");
    uint8_t key_m[30];
    TAP(k && unb64(k + 7, key_m, sizeof key_m) == 30, "mediad's key for A is 30 bytes");
    int to_b = sdp_port(c.sdp), to_a = sdp_port(u.sdp);
    srtp_t a_out = srtp_ctx(key_a, false), a_in = srtp_ctx(key_m, true);
    uint8_t pkt[256], plain[256], got[2048];
    int ab = 0, ba = 0;
    for (int i = 0; i < 5; i++) {
        size_t n =
            rtp_packet(plain, 0, (uint16_t)(10 + i), 160u * (uint32_t)i, 0x6666, 160, (uint8_t)i);
        memcpy(pkt, plain, n);
        int len = (int)n;
        srtp_protect(a_out, pkt, &len);
        send_to(a.rtp, pkt, (size_t)len, to_a);
        int r = recv_one(b.rtp, got, sizeof got, 1000, NULL);
        ab += r == (int)n && memcmp(got, plain, n) == 0;
        n = rtp_packet(plain, 0, (uint16_t)(70 + i), 160u * (uint32_t)i, 0x7777, 160,
                       (uint8_t)(i + 9));
        send_to(b.rtp, plain, n, to_b);
        r = recv_one(a.rtp, got, sizeof got, 1000, NULL);
        len = r;
        ba += r == (int)n + (g_srtp32 ? 4 : 10) &&
              srtp_unprotect(a_in, got, &len) == srtp_err_status_ok && len == (int)n &&
              memcmp(got, plain, n) == 0;
    }
    TAP(ab == 5, "A's SRTP reaches B as the original plain RTP (%d of 5)", ab);
    TAP(ba == 5, "B's RTP reaches A as SRTP that A's key for mediad decrypts (%d of 5)", ba);
    /* a tampered packet and a replayed one */
    size_t n = rtp_packet(plain, 0, 20, 1600, 0x6666, 160, 1);
    memcpy(pkt, plain, n);
    int len = (int)n;
    srtp_protect(a_out, pkt, &len);
    uint8_t replay[256];
    memcpy(replay, pkt, (size_t)len);
    pkt[40] ^= 0x01;
    send_to(a.rtp, pkt, (size_t)len, to_a);
    TAP(recv_one(b.rtp, got, sizeof got, 300, NULL) < 0, "a tampered SRTP packet is dropped");
    pkt[40] ^= 0x01;
    send_to(a.rtp, pkt, (size_t)len, to_a);
    TAP(recv_one(b.rtp, got, sizeof got, 1000, NULL) == (int)n, "the genuine one passes");
    send_to(a.rtp, replay, (size_t)len, to_a);
    TAP(recv_one(b.rtp, got, sizeof got, 300, NULL) < 0, "its replay is dropped");
    struct side_stats s_a, s_b;
    stats(c.id, &s_a, &s_b);
    TAP(s_a.srtp_failed == 2, "stats: 2 SRTP failures counted on side A (%llu)",
        (unsigned long long)s_a.srtp_failed);
    srtp_dealloc(a_out);
    srtp_dealloc(a_in);
    simple(SB__ENVELOPE__BODY_MEDIA_DESTROY, c.id);
    phone_close(&a);
    phone_close(&b);
}

static void sc_hold_open(int count) {
    struct phone a = phone_open();
    char sa[1024];
    make_sdp(sa, sizeof sa, a.port, "RTP/AVP", NULL);
    int n = 0;
    for (int i = 0; i < count; i++)
        n += create(sa, 0).status == 0;
    printf("created %d\n", n);
    fflush(stdout);
    int64_t end = clock_mono_us() + 20000000, next_try = clock_mono_us() + 300000;
    int draining_seen = 0;
    while (!ipc_eof && clock_mono_us() < end) {
        Sb__Envelope *r = ipc_read(100);
        if (r)
            sb__envelope__free_unpacked(r, NULL);
        if (clock_mono_us() >= next_try && !draining_seen) {
            /* keep asking on this channel: a draining instance answers DRAINING */
            next_try = clock_mono_us() + 300000;
            struct created c = create(sa, 0);
            if (c.status == 0)
                simple(SB__ENVELOPE__BODY_MEDIA_DESTROY, c.id);
            draining_seen = c.status == SB__MEDIA_STATUS__MEDIA_STATUS_DRAINING;
        }
    }
    printf("draining_seen %d\n", draining_seen);
    int lost_events = 0;
    for (int i = 0; i < n_events; i++)
        lost_events += events[i].type == SB__MEDIA_EVENT_TYPE__MEDIA_EVENT_SESSION_LOST;
    printf("session_lost_events %d\n", lost_events);
    printf("lost %d\n", ipc_eof ? n : 0);
}

static void sc_create(void) {
    struct phone a = phone_open();
    char sa[1024];
    make_sdp(sa, sizeof sa, a.port, "RTP/AVP", NULL);
    struct created c = create(sa, 0);
    printf("status %d\n", c.status);
    if (c.status == 0)
        simple(SB__ENVELOPE__BODY_MEDIA_DESTROY, c.id);
    phone_close(&a);
}

static int mkwav(const char *file, int rate, int ch, int ms, int hz) {
    SF_INFO info = {.samplerate = rate, .channels = ch, .format = SF_FORMAT_WAV | SF_FORMAT_PCM_16};
    SNDFILE *sf = sf_open(file, SFM_WRITE, &info);
    if (!sf)
        return 1;
    long frames = (long)rate * ms / 1000;
    for (long i = 0; i < frames; i++) {
        short s[8];
        double v = 12000.0 * sin(2 * M_PI * hz * (double)i / rate);
        for (int c = 0; c < ch && c < 8; c++)
            s[c] = (short)v;
        sf_writef_short(sf, s, 1);
    }
    sf_close(sf);
    return 0;
}

/* ---- the closed relay: what an attacker sends is not relayed ---- */

/* A session whose side A signals from sig_a ("" unknown) with its SDP on a's port at
 * c_a; side B answers from loopback. */
static struct created session_sig(struct phone *a, struct phone *b, const char *sig_a) {
    char sa[1024];
    make_sdp(sa, sizeof sa, a->port, "RTP/AVP", NULL);
    g_signal_ip = sig_a;
    struct created c = create(sa, 0);
    g_signal_ip = "127.0.0.1";
    if (c.status != 0)
        die("create: status %d (%s)", c.status, c.reason);
    char sb[1024];
    make_sdp(sb, sizeof sb, b->port, "RTP/AVP", NULL);
    struct created u = update(c.id, 1, 1, sb, true);
    if (u.status != 0)
        die("update: status %d (%s)", u.status, u.reason);
    snprintf(c.sdp_local, sizeof c.sdp_local, "%s", u.sdp);
    return c;
}

static int play_to_a(uint64_t id, const char *file) {
    Sb__Envelope env = SB__ENVELOPE__INIT;
    Sb__MediaPlayRequest rq = SB__MEDIA_PLAY_REQUEST__INIT;
    rq.session_id = id;
    rq.to_side = SB__MEDIA_SIDE__MEDIA_SIDE_A;
    rq.file = (char *)file;
    env.body_case = SB__ENVELOPE__BODY_MEDIA_PLAY;
    env.media_play = &rq;
    Sb__Envelope *r = request(&env);
    int st = r && r->body_case == SB__ENVELOPE__BODY_MEDIA_REPLY ? (int)r->media_reply->status : -1;
    if (r)
        sb__envelope__free_unpacked(r, NULL);
    return st;
}

/* Sends pkt from fd to port and says whether rx got it within ms. */
static bool passes(int fd, const void *pkt, size_t len, int port, int rx, int ms) {
    uint8_t got[2048];
    send_to(fd, pkt, len, port);
    return recv_one(rx, got, sizeof got, ms, NULL) == (int)len;
}

static void sc_notrtp(void) {
    struct phone a = phone_open(), b = phone_open();
    struct created c = session_ab(&a, &b, NULL);
    int to_a = sdp_port(c.sdp_local);
    uint8_t pkt[256];
    size_t n = rtp_packet(pkt, 0, 1, 0, 0x1111, 160, 3);
    TAP(passes(a.rtp, pkt, n, to_a, b.rtp, 1000), "A's RTP reaches B (A is latched)");
    static const char http[] = "GET / HTTP/1.0\r\nHost: victim\r\n\r\n";
    TAP(!passes(a.rtp, http, sizeof http - 1, to_a, b.rtp, 200),
        "from A's latched address, an HTTP request (not RTP) is not relayed");
    uint8_t bad[64];
    memset(bad, 0x55, sizeof bad);
    bad[0] = 0x40; /* version 1 */
    TAP(!passes(a.rtp, bad, 40, to_a, b.rtp, 200), "nor a packet of RTP version 1");
    rtp_packet(bad, 0, 2, 160, 0x1111, 8, 1);
    bad[0] = 0x8f; /* 15 CSRCs: 72 bytes of header in a 20-byte packet */
    TAP(!passes(a.rtp, bad, 20, to_a, b.rtp, 200), "nor RTP whose CSRC count overruns it");
    rtp_packet(bad, 0, 3, 320, 0x1111, 20, 1);
    bad[0] = 0x90; /* an extension of 0x4000 words */
    bad[12] = 0xbe, bad[13] = 0xde, bad[14] = 0x40, bad[15] = 0x00;
    TAP(!passes(a.rtp, bad, 32, to_a, b.rtp, 200), "nor RTP whose extension overruns it");
    uint8_t rr[32] = {0x81, 201, 0, 7};
    TAP(passes(a.rtcp, rr, sizeof rr, to_a + 1, b.rtcp, 1000), "A's RTCP receiver report passes");
    rr[3] = 60; /* a length of 244 bytes in 32 */
    TAP(!passes(a.rtcp, rr, sizeof rr, to_a + 1, b.rtcp, 200),
        "an RTCP packet whose length overruns it does not");
    n = rtp_packet(pkt, 0, 4, 480, 0x1111, 20, 3);
    TAP(!passes(a.rtcp, pkt, n, to_a + 1, b.rtcp, 200), "nor RTP on the RTCP port");
    struct side_stats sa, sb;
    stats(c.id, &sa, &sb);
    TAP(sa.rx_dropped >= 6, "side A counts the 6 dropped (%llu)", (unsigned long long)sa.rx_dropped);
    simple(SB__ENVELOPE__BODY_MEDIA_DESTROY, c.id);
    phone_close(&a);
    phone_close(&b);
}

static void sc_unheard(const char *prompt) {
    struct phone a = phone_open(), b = phone_open();
    /* A signals from 127.0.0.2: the address its SDP names (127.0.0.1) is a mere claim */
    struct created c = session_sig(&a, &b, "127.0.0.2");
    int to_b = sdp_port(c.sdp), to_a = sdp_port(c.sdp_local);
    uint8_t pkt[256];
    size_t n = rtp_packet(pkt, 0, 1, 0, 0x2222, 160, 4);
    TAP(!passes(b.rtp, pkt, n, to_b, a.rtp, 300),
        "B's RTP is not sent to the address A's SDP names before A was heard from");
    TAP(play_to_a(c.id, prompt) == 0, "play to A: OK");
    TAP(drain(a.rtp, 300) == 0, "and no prompt packet goes to A, unheard");
    simple(SB__ENVELOPE__BODY_MEDIA_STOP_PLAY, c.id);
    n = rtp_packet(pkt, 0, 1, 0, 0x1111, 160, 3);
    TAP(passes(a.rtp, pkt, n, to_a, b.rtp, 1000), "A speaks: its RTP reaches B (B's SDP names B's "
                                                  "signaling source)");
    n = rtp_packet(pkt, 0, 2, 160, 0x2222, 160, 4);
    TAP(passes(b.rtp, pkt, n, to_b, a.rtp, 1000), "then B's RTP reaches A");
    TAP(play_to_a(c.id, prompt) == 0 && drain(a.rtp, 300) >= 5, "and a prompt to A is heard");
    simple(SB__ENVELOPE__BODY_MEDIA_DESTROY, c.id);
    phone_close(&a);
    phone_close(&b);
}

/* allowed: media_allow_targets holds 127.0.0.0/8 */
static void sc_targets(bool allowed) {
    struct phone a = phone_open(), b = phone_open();
    /* A signals from elsewhere (192.0.2.1) and names a loopback address in its SDP */
    struct created c = session_sig(&a, &b, "192.0.2.1");
    int to_b = sdp_port(c.sdp), to_a = sdp_port(c.sdp_local);
    uint8_t pkt[256];
    size_t n = rtp_packet(pkt, 0, 1, 0, 0x2222, 160, 4);
    TAP(!passes(b.rtp, pkt, n, to_b, a.rtp, 300),
        "a remote party's SDP naming 127.0.0.1: B's RTP is not sent there (first)");
    n = rtp_packet(pkt, 0, 1, 0, 0x1111, 160, 3);
    if (allowed) {
        TAP(passes(a.rtp, pkt, n, to_a, b.rtp, 1000),
            "media_allow_targets 127.0.0.0/8: a packet from 127.0.0.1 is latched as A's");
        n = rtp_packet(pkt, 0, 2, 160, 0x2222, 160, 4);
        TAP(passes(b.rtp, pkt, n, to_b, a.rtp, 1000), "and B's next RTP reaches it");
    } else {
        TAP(!passes(a.rtp, pkt, n, to_a, b.rtp, 300),
            "nor is a packet from 127.0.0.1 latched as A's and relayed to B");
        n = rtp_packet(pkt, 0, 2, 160, 0x2222, 160, 4);
        TAP(!passes(b.rtp, pkt, n, to_b, a.rtp, 300), "and B's next RTP still goes nowhere");
    }
    simple(SB__ENVELOPE__BODY_MEDIA_DESTROY, c.id);
    phone_close(&a);
    phone_close(&b);
}

static void sc_srtplatch(void) {
    srtp_init();
    struct phone a = phone_open(), b = phone_open();
    uint8_t key_a[30];
    for (int i = 0; i < 30; i++)
        key_a[i] = (uint8_t)(i * 5 + 1);
    char kb64[64], extra[160], sa[1024], sb[1024];
    b64(key_a, 30, kb64);
    snprintf(extra, sizeof extra, "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:%s\r\n", kb64);
    make_sdp(sa, sizeof sa, a.port, "RTP/SAVP", extra);
    struct created c = create(sa, 1);
    make_sdp(sb, sizeof sb, b.port, "RTP/AVP", NULL);
    struct created u = update(c.id, 1, 1, sb, true);
    TAP(c.status == 0 && u.status == 0, "an SRTP A, a plain B: OK");
    int to_b = sdp_port(c.sdp), to_a = sdp_port(u.sdp);
    srtp_t a_out = srtp_ctx(key_a, false);
    /* a forger on A's IP, another port, sends first: a well-formed header, a bad tag */
    int forger_port = 0;
    int forger = udp_open("127.0.0.1", &forger_port);
    uint8_t pkt[256], got[2048];
    size_t n = rtp_packet(pkt, 0, 9, 0, 0x6666, 170, 7);
    TAP(!passes(forger, pkt, n, to_a, b.rtp, 300), "a forged SRTP packet from port %d is dropped",
        forger_port);
    n = rtp_packet(pkt, 0, 10, 160, 0x6666, 160, 1);
    int len = (int)n;
    srtp_protect(a_out, pkt, &len);
    send_to(a.rtp, pkt, (size_t)len, to_a);
    TAP(recv_one(b.rtp, got, sizeof got, 1000, NULL) == (int)n,
        "A's genuine packet after it reaches B (the forger was not latched)");
    n = rtp_packet(pkt, 0, 20, 160, 0x7777, 160, 2);
    send_to(b.rtp, pkt, n, to_b);
    TAP(recv_one(a.rtp, got, sizeof got, 1000, NULL) > 0, "B's RTP reaches A's port, as SRTP");
    TAP(recv_one(forger, got, sizeof got, 100, NULL) < 0, "and nothing goes to the forger");
    /* A's NAT gives it a new port: an authenticated packet from there moves the latch */
    struct phone a2 = phone_open();
    n = rtp_packet(pkt, 0, 11, 320, 0x6666, 160, 1);
    len = (int)n;
    srtp_protect(a_out, pkt, &len);
    send_to(a2.rtp, pkt, (size_t)len, to_a);
    TAP(recv_one(b.rtp, got, sizeof got, 1000, NULL) == (int)n,
        "A's authenticated packet from a new port reaches B");
    n = rtp_packet(pkt, 0, 21, 320, 0x7777, 160, 2);
    send_to(b.rtp, pkt, n, to_b);
    TAP(recv_one(a2.rtp, got, sizeof got, 1000, NULL) > 0, "and B's RTP follows A to it");
    n = rtp_packet(pkt, 0, 12, 480, 0x6666, 170, 7);
    TAP(!passes(forger, pkt, n, to_a, b.rtp, 200), "a forged packet again changes nothing");
    n = rtp_packet(pkt, 0, 22, 480, 0x7777, 160, 2);
    send_to(b.rtp, pkt, n, to_b);
    TAP(recv_one(a2.rtp, got, sizeof got, 1000, NULL) > 0 &&
            recv_one(forger, got, sizeof got, 100, NULL) < 0,
        "B's RTP still goes to A, not to the forger");
    srtp_dealloc(a_out);
    simple(SB__ENVELOPE__BODY_MEDIA_DESTROY, c.id);
    close(forger);
    phone_close(&a2);
    phone_close(&a);
    phone_close(&b);
}

/* ---- IPv6 media and media interfaces ---- */

/* A phone on ::1: RTP on an even port, RTCP on the next. */
static struct phone phone6_open(void) {
    for (int tries = 0; tries < 100; tries++) {
        int fds[2];
        struct sockaddr_in6 a = {.sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT};
        fds[0] = socket(AF_INET6, SOCK_DGRAM, 0);
        socklen_t l = sizeof a;
        if (fds[0] < 0 || bind(fds[0], (struct sockaddr *)&a, sizeof a) < 0)
            die("bind [::1]: %s", strerror(errno));
        getsockname(fds[0], (struct sockaddr *)&a, &l);
        int p = ntohs(a.sin6_port);
        a.sin6_port = htons((uint16_t)(p + 1));
        fds[1] = socket(AF_INET6, SOCK_DGRAM, 0);
        if (!(p & 1) && bind(fds[1], (struct sockaddr *)&a, sizeof a) == 0)
            return (struct phone){fds[0], fds[1], p};
        close(fds[0]);
        close(fds[1]);
    }
    die("no even/odd port pair free on ::1");
    return (struct phone){-1, -1, 0};
}

/* Sends to ip:port (IPv4 or IPv6, numeric). */
static void send_ip(int fd, const void *pkt, size_t len, const char *ip, int port) {
    struct sockaddr_in6 a6 = {.sin6_family = AF_INET6, .sin6_port = htons((uint16_t)port)};
    struct sockaddr_in a4 = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    if (inet_pton(AF_INET6, ip, &a6.sin6_addr) == 1)
        sendto(fd, pkt, len, 0, (struct sockaddr *)&a6, sizeof a6);
    else if (inet_pton(AF_INET, ip, &a4.sin_addr) == 1)
        sendto(fd, pkt, len, 0, (struct sockaddr *)&a4, sizeof a4);
}

/* An SDP on port whose o= and c= name ip (IN IP6 when it has a ':'). */
static void make_sdp_at(char *out, size_t cap, const char *ip, int port) {
    const char *t = strchr(ip, ':') ? "IP6" : "IP4";
    snprintf(out, cap,
             "v=0\r\no=- 1 1 IN %s %s\r\ns=probe\r\nc=IN %s %s\r\nt=0 0\r\n"
             "m=audio %d RTP/AVP 0 8 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n"
             "a=rtpmap:101 telephone-event/8000\r\n",
             t, ip, t, ip, port);
}

/* A session: A at a_ip (its signaling came to local_ip), B at b_ip (to other); both
 * signal from their SDP's address. Returns B's view in c.sdp, A's in c.sdp_local. */
static struct created session_at(struct phone *a, const char *a_ip, const char *local_ip,
                                 struct phone *b, const char *b_ip, const char *other) {
    char sa[1024], sb[1024];
    make_sdp_at(sa, sizeof sa, a_ip, a->port);
    g_local_ip = local_ip, g_other_local_ip = other, g_signal_ip = a_ip;
    struct created c = create(sa, 0);
    g_local_ip = g_other_local_ip = "";
    if (c.status != 0)
        die("create: status %d (%s)", c.status, c.reason);
    make_sdp_at(sb, sizeof sb, b_ip, b->port);
    g_signal_ip = b_ip;
    struct created u = update(c.id, 1, 1, sb, true);
    g_signal_ip = "127.0.0.1";
    if (u.status != 0)
        die("update: status %d (%s)", u.status, u.reason);
    snprintf(c.sdp_local, sizeof c.sdp_local, "%s", u.sdp);
    return c;
}

/* RTP both ways: A sends to our a_to, B to our b_to; true when both arrive. */
static bool both_ways(struct phone *a, const char *a_to, int a_port, struct phone *b,
                      const char *b_to, int b_port) {
    uint8_t pkt[256], got[2048];
    size_t n = rtp_packet(pkt, 0, 1, 0, 0x1111, 160, 3);
    send_ip(a->rtp, pkt, n, a_to, a_port);
    bool ab = recv_one(b->rtp, got, sizeof got, 1000, NULL) == (int)n;
    n = rtp_packet(pkt, 0, 1, 0, 0x2222, 160, 4);
    send_ip(b->rtp, pkt, n, b_to, b_port);
    bool ba = recv_one(a->rtp, got, sizeof got, 1000, NULL) == (int)n;
    return ab && ba;
}

static void sc_ipv6(void) {
    struct phone a = phone6_open(), b = phone6_open(), b4 = phone_open();
    struct created c = session_at(&a, "::1", "::1", &b, "::1", "");
    TAP(strstr(c.sdp, "c=IN IP6 ::1\r\n") && strstr(c.sdp, "o=- 1 1 IN IP6 ::1\r\n") &&
            strstr(c.sdp_local, "c=IN IP6 ::1\r\n"),
        "an IPv6 call: both rewritten SDPs say IN IP6 ::1");
    TAP(both_ways(&a, "::1", sdp_port(c.sdp_local), &b, "::1", sdp_port(c.sdp)),
        "RTP flows both ways over ::1");
    struct side_stats sa, sb;
    char want[64];
    snprintf(want, sizeof want, "[::1]:%d", a.port);
    TAP(stats(c.id, &sa, &sb) == 0 && strcmp(sa.remote, want) == 0,
        "stats name A's latched address %s (got %s)", want, sa.remote);
    simple(SB__ENVELOPE__BODY_MEDIA_DESTROY, c.id);
    /* an IPv6 phone calls an IPv4 one: B's signaling uses our IPv4 address */
    c = session_at(&a, "::1", "::1", &b4, "127.0.0.1", "127.0.0.1");
    TAP(strstr(c.sdp, "c=IN IP4 127.0.0.1\r\n") && !strstr(c.sdp, "IP6"),
        "IPv6 A, IPv4 B: the offer to B says IN IP4 127.0.0.1");
    TAP(strstr(c.sdp_local, "c=IN IP6 ::1\r\n") && !strstr(c.sdp_local, "IP4"),
        "and the answer to A says IN IP6 ::1");
    TAP(both_ways(&a, "::1", sdp_port(c.sdp_local), &b4, "127.0.0.1", sdp_port(c.sdp)),
        "RTP flows both ways between the IPv6 and the IPv4 phone");
    simple(SB__ENVELOPE__BODY_MEDIA_DESTROY, c.id);
    phone_close(&a);
    phone_close(&b);
    phone_close(&b4);
}

/* With media_address = "v4/127.0.0.1 v6/::1 pub/127.0.0.5!192.0.2.55". */
static void sc_ifaces(void) {
    struct phone a = phone_open(), b = phone_open(), a6 = phone6_open();
    struct created c = session_at(&a, "127.0.0.1", "127.0.0.5", &b, "127.0.0.1", "");
    TAP(strstr(c.sdp, "c=IN IP4 192.0.2.55\r\n") && strstr(c.sdp_local, "c=IN IP4 192.0.2.55\r\n"),
        "signaling on 127.0.0.5: interface pub, its PUBLIC 192.0.2.55 announced");
    TAP(both_ways(&a, "127.0.0.5", sdp_port(c.sdp_local), &b, "127.0.0.5", sdp_port(c.sdp)),
        "and its ports are bound on its LOCAL 127.0.0.5");
    simple(SB__ENVELOPE__BODY_MEDIA_DESTROY, c.id);
    c = session_at(&a, "127.0.0.1", "", &b, "127.0.0.1", "");
    TAP(strstr(c.sdp, "c=IN IP4 127.0.0.1\r\n") != NULL,
        "no local address, an IPv4 offer: the first interface (v4, 127.0.0.1)");
    simple(SB__ENVELOPE__BODY_MEDIA_DESTROY, c.id);
    c = session_at(&a6, "::1", "", &b, "127.0.0.1", "127.0.0.9");
    TAP(strstr(c.sdp_local, "c=IN IP6 ::1\r\n") && strstr(c.sdp, "c=IN IP4 127.0.0.1\r\n"),
        "an IPv6 offer: the first IPv6 interface for A; B's 127.0.0.9 (none): the first IPv4");
    TAP(both_ways(&a6, "::1", sdp_port(c.sdp_local), &b, "127.0.0.1", sdp_port(c.sdp)),
        "RTP flows both ways");
    simple(SB__ENVELOPE__BODY_MEDIA_DESTROY, c.id);
    phone_close(&a);
    phone_close(&b);
    phone_close(&a6);
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc >= 7 && strcmp(argv[1], "mkwav") == 0)
        return mkwav(argv[2], atoi(argv[3]), atoi(argv[4]), atoi(argv[5]), atoi(argv[6]));
    if (argc < 3) {
        fprintf(stderr, "usage: media_probe PATH SCENARIO [ARGS] | media_probe mkwav ...\n");
        return 2;
    }
    ipc_fd = ipc_connect_path(argv[1]);
    if (ipc_fd < 0)
        die("connect %s: %s", argv[1], strerror(-ipc_fd));
    fcntl(ipc_fd, F_SETFL, fcntl(ipc_fd, F_GETFL) & ~O_NONBLOCK);
    const char *sc = argv[2];
    if (strcmp(sc, "relay") == 0)
        sc_relay();
    else if (strcmp(sc, "announce") == 0)
        sc_announce();
    else if (strcmp(sc, "natlatch") == 0)
        sc_natlatch();
    else if (strcmp(sc, "latch") == 0)
        sc_latch();
    else if (strcmp(sc, "hold") == 0)
        sc_hold();
    else if (strcmp(sc, "dtmf") == 0)
        sc_dtmf();
    else if (strcmp(sc, "timeout") == 0)
        sc_timeout();
    else if (strcmp(sc, "bridge") == 0)
        sc_bridge();
    else if (strcmp(sc, "early") == 0)
        sc_early();
    else if (strcmp(sc, "pool") == 0 && argc >= 4)
        sc_pool(atoi(argv[3]));
    else if (strcmp(sc, "badsdp") == 0)
        sc_badsdp();
    else if (strcmp(sc, "fdlimit") == 0)
        sc_fdlimit();
    else if (strcmp(sc, "play") == 0 && argc >= 5)
        sc_play(argv[3], argv[4], argc >= 6 && strcmp(argv[5], "pcma") == 0);
    else if (strcmp(sc, "playerr") == 0)
        sc_playerr();
    else if (strcmp(sc, "srtp") == 0)
        sc_srtp();
    else if (strcmp(sc, "srtp32") == 0) {
        g_srtp32 = true;
        sc_srtp();
    } else if (strcmp(sc, "create") == 0)
        sc_create();
    else if (strcmp(sc, "ipv6") == 0)
        sc_ipv6();
    else if (strcmp(sc, "ifaces") == 0)
        sc_ifaces();
    else if (strcmp(sc, "notrtp") == 0)
        sc_notrtp();
    else if (strcmp(sc, "unheard") == 0 && argc >= 4)
        sc_unheard(argv[3]);
    else if (strcmp(sc, "targets") == 0)
        sc_targets(argc >= 4 && strcmp(argv[3], "allowed") == 0);
    else if (strcmp(sc, "srtplatch") == 0)
        sc_srtplatch();
    else if (strcmp(sc, "hold-open") == 0 && argc >= 4)
        sc_hold_open(atoi(argv[3]));
    else {
        fprintf(stderr, "media_probe: unknown scenario %s\n", sc);
        return 2;
    }
    close(ipc_fd);
    return failures ? 1 : 0;
}
