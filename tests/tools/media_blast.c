/*
 * media_blast - RTP load through a relay on loopback, for bench/media.sh. Every loop is
 * bounded by its SECONDS; only 127.0.0.1 is used.
 *   media_blast minrelay IN OUT SECONDS
 *       the machine's ceiling: one socket on IN, recvmmsg/sendmmsg of every packet to OUT
 *   media_blast run TARGET STREAMS PPS SECONDS [--one-way]
 *       sets up STREAMS calls through TARGET, sends PPS packets per second per direction
 *       per stream (one direction only with --one-way) for SECONDS on absolute deadlines,
 *       counts what comes out on the far side and the one-way latency (the send time is
 *       in the payload). TARGET is
 *         mediad:PATH     mediad's IPC socket (MediaCreate/MediaUpdate, then destroy)
 *         ng:PORT         RTPEngine's ng control port (offer/answer, then delete)
 *         min:IN:OUT      a minrelay on IN forwarding to OUT (one stream, one way)
 *   Output: one line "streams=N pps=R sent=S received=G loss_pct=L relayed_pps=P
 *   p50_us=A p99_us=B setup_ms=C".
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "ipc.h"

#define PKT 172
#define BATCH 64
#define HIST_US 200000

static int64_t now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

static struct sockaddr_in lo(int port) {
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return a;
}

static int udp_bind(int port) {
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0), sz = 8 << 20;
    struct sockaddr_in a = lo(port);
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof sz);
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof sz);
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) < 0) {
        perror("bind");
        exit(1);
    }
    return fd;
}

static int local_port(int fd) {
    struct sockaddr_in a;
    socklen_t l = sizeof a;
    getsockname(fd, (struct sockaddr *)&a, &l);
    return ntohs(a.sin_port);
}

/* ---- the minimal relay ---- */

static int minrelay(int in, int out, double secs) {
    int fd = udp_bind(in);
    struct sockaddr_in to = lo(out);
    static uint8_t bufs[BATCH][2048];
    struct mmsghdr m[BATCH];
    struct iovec v[BATCH];
    int64_t end = now_ns() + (int64_t)(secs * 1e9);
    long n = 0;
    while (now_ns() < end) {
        struct pollfd p = {fd, POLLIN, 0};
        if (poll(&p, 1, 100) <= 0)
            continue;
        for (int i = 0; i < BATCH; i++) {
            v[i].iov_base = bufs[i];
            v[i].iov_len = sizeof bufs[i];
            memset(&m[i].msg_hdr, 0, sizeof m[i].msg_hdr);
            m[i].msg_hdr.msg_iov = &v[i];
            m[i].msg_hdr.msg_iovlen = 1;
        }
        int r = recvmmsg(fd, m, BATCH, MSG_DONTWAIT, NULL);
        if (r <= 0)
            continue;
        for (int i = 0; i < r; i++) {
            v[i].iov_len = m[i].msg_len;
            m[i].msg_hdr.msg_name = &to;
            m[i].msg_hdr.msg_namelen = sizeof to;
        }
        sendmmsg(fd, m, (unsigned)r, 0);
        n += r;
    }
    printf("minrelay relayed=%ld\n", n);
    return 0;
}

/* ---- call setup ---- */

static char sdp_buf[512];
static const char *sdp_for(int port) {
    snprintf(sdp_buf, sizeof sdp_buf,
             "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
             "m=audio %d RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n",
             port);
    return sdp_buf;
}

static int m_port(const char *sdp, size_t len) {
    char tmp[4096];
    size_t n = len < sizeof tmp - 1 ? len : sizeof tmp - 1;
    memcpy(tmp, sdp, n);
    tmp[n] = 0;
    const char *m = strstr(tmp, "m=audio ");
    return m ? atoi(m + 8) : -1;
}

static int ipc_fd = -1;
static uint64_t req_id = 1;

static Sb__Envelope *ipc_call(Sb__Envelope *env) {
    env->request_id = ++req_id;
    size_t len = sb__envelope__get_packed_size(env);
    uint8_t *pkt = malloc(len);
    sb__envelope__pack(env, pkt);
    ssize_t s = send(ipc_fd, pkt, len, 0);
    free(pkt);
    if (s != (ssize_t)len)
        return NULL;
    static uint8_t buf[1 << 16];
    for (int tries = 0; tries < 100; tries++) {
        struct pollfd p = {ipc_fd, POLLIN, 0};
        if (poll(&p, 1, 2000) <= 0)
            return NULL;
        ssize_t n = recv(ipc_fd, buf, sizeof buf, 0);
        if (n <= 0)
            return NULL;
        Sb__Envelope *r = sb__envelope__unpack(NULL, (size_t)n, buf);
        if (r && r->reply_to == env->request_id)
            return r;
        if (r)
            sb__envelope__free_unpacked(r, NULL);
    }
    return NULL;
}

/* mediad: *to_b = where B sends (B-side port), *to_a = where A sends. */
static int mediad_setup(int a_port, int b_port, int *to_a, int *to_b, uint64_t *id) {
    Sb__Envelope env = SB__ENVELOPE__INIT;
    Sb__MediaCreateRequest c = SB__MEDIA_CREATE_REQUEST__INIT;
    const char *sa = sdp_for(a_port);
    c.call_id = "blast";
    c.sdp.data = (uint8_t *)sa;
    c.sdp.len = strlen(sa);
    env.body_case = SB__ENVELOPE__BODY_MEDIA_CREATE;
    env.media_create = &c;
    Sb__Envelope *r = ipc_call(&env);
    if (!r || r->media_reply->status != 0) {
        if (r)
            sb__envelope__free_unpacked(r, NULL);
        return -1;
    }
    *id = r->media_reply->session_id;
    *to_b = m_port((const char *)r->media_reply->sdp.data, r->media_reply->sdp.len);
    sb__envelope__free_unpacked(r, NULL);
    Sb__Envelope e2 = SB__ENVELOPE__INIT;
    Sb__MediaUpdateRequest u = SB__MEDIA_UPDATE_REQUEST__INIT;
    const char *sb = sdp_for(b_port);
    u.session_id = *id;
    u.from_side = SB__MEDIA_SIDE__MEDIA_SIDE_B;
    u.type = SB__MEDIA_SDP_TYPE__MEDIA_SDP_ANSWER;
    u.sdp.data = (uint8_t *)sb;
    u.sdp.len = strlen(sb);
    e2.body_case = SB__ENVELOPE__BODY_MEDIA_UPDATE;
    e2.media_update = &u;
    r = ipc_call(&e2);
    if (!r || r->media_reply->status != 0) {
        if (r)
            sb__envelope__free_unpacked(r, NULL);
        return -1;
    }
    *to_a = m_port((const char *)r->media_reply->sdp.data, r->media_reply->sdp.len);
    sb__envelope__free_unpacked(r, NULL);
    return 0;
}

static void mediad_destroy(uint64_t id) {
    Sb__Envelope env = SB__ENVELOPE__INIT;
    Sb__MediaDestroyRequest d = SB__MEDIA_DESTROY_REQUEST__INIT;
    d.session_id = id;
    env.body_case = SB__ENVELOPE__BODY_MEDIA_DESTROY;
    env.media_destroy = &d;
    Sb__Envelope *r = ipc_call(&env);
    if (r)
        sb__envelope__free_unpacked(r, NULL);
}

/* RTPEngine ng: bencode dictionaries over UDP (cookie, space, dictionary). */
static int ng_fd = -1, ng_port;
static int ng_cmd(const char *cmd, const char *call, const char *to_tag, int port) {
    char msg[2048], reply[8192];
    const char *sdp = port ? sdp_for(port) : "";
    int ml = snprintf(msg, sizeof msg, "b%d-%ld d7:command%zu:%s7:call-id%zu:%s8:from-tag1:f",
                      getpid(), (long)++req_id, strlen(cmd), cmd, strlen(call), call);
    if (to_tag)
        ml += snprintf(msg + ml, sizeof msg - (size_t)ml, "6:to-tag%zu:%s", strlen(to_tag), to_tag);
    if (port)
        ml += snprintf(msg + ml, sizeof msg - (size_t)ml, "3:sdp%zu:%s", strlen(sdp), sdp);
    ml += snprintf(msg + ml, sizeof msg - (size_t)ml, "e");
    struct sockaddr_in a = lo(ng_port);
    sendto(ng_fd, msg, (size_t)ml, 0, (struct sockaddr *)&a, sizeof a);
    struct pollfd p = {ng_fd, POLLIN, 0};
    if (poll(&p, 1, 3000) <= 0)
        return -1;
    ssize_t n = recv(ng_fd, reply, sizeof reply - 1, 0);
    if (n <= 0)
        return -1;
    reply[n] = 0;
    const char *m = strstr(reply, "m=audio ");
    return m ? atoi(m + 8) : 0;
}

/* ---- the load ---- */

struct flow {
    int fd;
    struct sockaddr_in to;
};

static uint64_t hist[HIST_US / 10 + 1]; /* 10 us buckets */
static uint64_t got;

static void drain_fd(int fd) {
    static uint8_t bufs[BATCH][2048];
    struct mmsghdr m[BATCH];
    struct iovec v[BATCH];
    for (;;) {
        for (int i = 0; i < BATCH; i++) {
            v[i].iov_base = bufs[i];
            v[i].iov_len = sizeof bufs[i];
            memset(&m[i].msg_hdr, 0, sizeof m[i].msg_hdr);
            m[i].msg_hdr.msg_iov = &v[i];
            m[i].msg_hdr.msg_iovlen = 1;
        }
        int r = recvmmsg(fd, m, BATCH, MSG_DONTWAIT, NULL);
        if (r <= 0)
            return;
        int64_t t = now_ns();
        for (int i = 0; i < r; i++) {
            got++;
            if (m[i].msg_len < 20)
                continue;
            int64_t sent;
            memcpy(&sent, bufs[i] + 12, sizeof sent);
            int64_t us = (t - sent) / 1000;
            if (us < 0)
                us = 0;
            hist[us >= HIST_US ? HIST_US / 10 : us / 10]++;
        }
        if (r < BATCH)
            return;
    }
}

static long pct(double p) {
    uint64_t total = 0, acc = 0;
    for (size_t i = 0; i <= HIST_US / 10; i++)
        total += hist[i];
    for (size_t i = 0; i <= HIST_US / 10; i++) {
        acc += hist[i];
        if (total && (double)acc >= p * (double)total)
            return (long)i * 10 + 5;
    }
    return -1;
}

static int run(const char *target, int streams, int pps, double secs, bool one_way) {
    int *a = calloc((size_t)streams, sizeof *a), *b = calloc((size_t)streams, sizeof *b);
    int *to_a = calloc((size_t)streams, sizeof *to_a),
        *to_b = calloc((size_t)streams, sizeof *to_b);
    uint64_t *ids = calloc((size_t)streams, sizeof *ids);
    int64_t t0 = now_ns();
    bool is_mediad = strncmp(target, "mediad:", 7) == 0, is_ng = strncmp(target, "ng:", 3) == 0;
    if (is_mediad) {
        ipc_fd = ipc_connect_path(target + 7);
        if (ipc_fd < 0) {
            fprintf(stderr, "connect %s failed\n", target + 7);
            return 1;
        }
        fcntl(ipc_fd, F_SETFL, fcntl(ipc_fd, F_GETFL) & ~O_NONBLOCK);
    } else if (is_ng) {
        ng_fd = socket(AF_INET, SOCK_DGRAM, 0);
        ng_port = atoi(target + 3);
    }
    for (int i = 0; i < streams; i++) {
        if (is_mediad || is_ng) {
            a[i] = udp_bind(0);
            b[i] = udp_bind(0);
        }
        if (is_mediad) {
            if (mediad_setup(local_port(a[i]), local_port(b[i]), &to_a[i], &to_b[i], &ids[i]) < 0) {
                fprintf(stderr, "mediad setup failed at stream %d\n", i);
                return 1;
            }
        } else if (is_ng) {
            char call[64];
            snprintf(call, sizeof call, "blast-%d-%d", getpid(), i);
            to_b[i] = ng_cmd("offer", call, NULL, local_port(a[i]));
            to_a[i] = ng_cmd("answer", call, "t", local_port(b[i]));
            if (to_a[i] <= 0 || to_b[i] <= 0) {
                fprintf(stderr, "ng setup failed at stream %d\n", i);
                return 1;
            }
        } else { /* min:IN:OUT */
            const char *c = strchr(target + 4, ':');
            a[i] = udp_bind(0);
            b[i] = udp_bind(c ? atoi(c + 1) : 0);
            to_a[i] = atoi(target + 4);
            one_way = true;
        }
    }
    double setup_ms = (double)(now_ns() - t0) / 1e6;
    int ep = epoll_create1(0);
    for (int i = 0; i < streams; i++) {
        struct epoll_event e = {.events = EPOLLIN, .data.fd = a[i]};
        epoll_ctl(ep, EPOLL_CTL_ADD, a[i], &e);
        struct epoll_event f = {.events = EPOLLIN, .data.fd = b[i]};
        epoll_ctl(ep, EPOLL_CTL_ADD, b[i], &f);
    }
    int nflows = one_way ? streams : 2 * streams;
    struct flow *fl = calloc((size_t)nflows, sizeof *fl);
    /* Each direction is sent from one socket with sendmmsg (a relay accepts a phone's
     * packets from any port of its IP and answers where they came from), so the blaster
     * is not the wall; the per-stream sockets receive what the relay sends to the SDP
     * addresses before it has latched. */
    int send_a = streams > 1 ? udp_bind(0) : a[0], send_b = streams > 1 ? udp_bind(0) : b[0];
    if (streams > 1) {
        struct epoll_event e = {.events = EPOLLIN, .data.fd = send_a};
        epoll_ctl(ep, EPOLL_CTL_ADD, send_a, &e);
        struct epoll_event f = {.events = EPOLLIN, .data.fd = send_b};
        epoll_ctl(ep, EPOLL_CTL_ADD, send_b, &f);
    }
    for (int i = 0; i < streams; i++) {
        fl[i] = (struct flow){send_a, lo(to_a[i])};
        if (!one_way)
            fl[streams + i] = (struct flow){send_b, lo(to_b[i])};
    }
    static const uint8_t pkt[PKT] = {0x80, 0};
    uint64_t sent = 0;
    double rate = (double)pps * nflows; /* packets per second in all */
    int64_t start = now_ns(), end = start + (int64_t)(secs * 1e9);
    int cursor = 0;
    uint16_t seq = 0;
    (void)pkt;
    while (now_ns() < end) {
        uint64_t due = (uint64_t)((double)(now_ns() - start) / 1e9 * rate);
        int burst = 0;
        while (sent < due && burst < 4 * BATCH) { /* batches of one sending socket */
            static uint8_t bp[BATCH][PKT];
            struct mmsghdr mm[BATCH];
            struct iovec iv[BATCH];
            unsigned k = 0;
            int64_t t = now_ns();
            int fd = fl[cursor].fd;
            while (sent + k < due && k < BATCH && fl[cursor].fd == fd) {
                memcpy(bp[k], pkt, PKT);
                seq++;
                bp[k][2] = (uint8_t)(seq >> 8);
                bp[k][3] = (uint8_t)seq;
                memcpy(bp[k] + 12, &t, sizeof t);
                iv[k].iov_base = bp[k];
                iv[k].iov_len = PKT;
                memset(&mm[k].msg_hdr, 0, sizeof mm[k].msg_hdr);
                mm[k].msg_hdr.msg_iov = &iv[k];
                mm[k].msg_hdr.msg_iovlen = 1;
                mm[k].msg_hdr.msg_name = &fl[cursor].to;
                mm[k].msg_hdr.msg_namelen = sizeof fl[cursor].to;
                k++;
                cursor = (cursor + 1) % nflows;
            }
            sendmmsg(fd, mm, k, MSG_DONTWAIT);
            sent += k; /* what the socket refused is loss too */
            burst += (int)k;
        }
        struct epoll_event ev[256];
        int r = epoll_wait(ep, ev, 256, 0);
        for (int k = 0; k < r; k++)
            drain_fd(ev[k].data.fd);
        if (r == 0 && sent >= due)
            usleep(200);
    }
    int64_t tail = now_ns() + 300000000;
    while (now_ns() < tail) {
        struct epoll_event ev[256];
        int r = epoll_wait(ep, ev, 256, 20);
        for (int k = 0; k < r; k++)
            drain_fd(ev[k].data.fd);
    }
    double offered = (double)sent / secs / rate * 100.0;
    printf("offered_pct=%.1f streams=%d pps=%d sent=%llu received=%llu loss_pct=%.3f "
           "relayed_pps=%.0f p50_us=%ld "
           "p99_us=%ld setup_ms=%.0f\n",
           offered, streams, pps, (unsigned long long)sent, (unsigned long long)got,
           sent ? 100.0 * (double)(sent > got ? sent - got : 0) / (double)sent : 0.0,
           (double)got / secs, pct(0.5), pct(0.99), setup_ms);
    fflush(stdout);
    if (getenv("BLAST_HOLD_MS")) /* keep the sessions up while the caller reads memory */
        usleep((useconds_t)atoi(getenv("BLAST_HOLD_MS")) * 1000);
    for (int i = 0; i < streams; i++) {
        if (is_mediad)
            mediad_destroy(ids[i]);
        else if (is_ng) {
            char call[64];
            snprintf(call, sizeof call, "blast-%d-%d", getpid(), i);
            ng_cmd("delete", call, NULL, 0);
        }
        close(a[i]);
        close(b[i]);
    }
    return 0;
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc >= 5 && strcmp(argv[1], "minrelay") == 0)
        return minrelay(atoi(argv[2]), atoi(argv[3]), atof(argv[4]));
    if (argc >= 6 && strcmp(argv[1], "run") == 0)
        return run(argv[2], atoi(argv[3]), atoi(argv[4]), atof(argv[5]),
                   argc >= 7 && strcmp(argv[6], "--one-way") == 0);
    fprintf(stderr, "usage: see the comment at the top of media_blast.c\n");
    return 2;
}
