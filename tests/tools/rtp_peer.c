/* rtp_peer - one end of a call's media in the tests: sends RTP to a target and counts
 * what comes back.
 *   rtp_peer -t IP:PORT [-n COUNT] [-w MS] [-b IP]
 * IP:PORT may be IPv6 ([::1]:PORT or ::1:PORT). Binds an ephemeral UDP port on 127.0.0.1
 * (::1 for an IPv6 target; or on IP: a phone's address in a network namespace of the NAT
 * tests), sends one packet (for the relay to latch
 * onto this address), waits 300 ms, then COUNT PCMU packets of 160 bytes every 20 ms (seq
 * from 1000, payload byte k of packet seq = (seq + k) & 0xff, marker on the first), while
 * receiving for MS milliseconds in all. Prints, one per line:
 *   sent N / received M (RTP packets) / intact K (payload as that pattern says, for
 *   packets of another rtp_peer) / pt P (the last payload type seen) / from IP:PORT
 * Exit 0 unless the command line or the socket fails. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define RTP_PAYLOAD 160

static int64_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void packet(uint8_t *p, uint16_t seq, bool marker) {
    p[0] = 0x80;
    p[1] = (uint8_t)((marker ? 0x80 : 0) | 0); /* PT 0: PCMU */
    p[2] = (uint8_t)(seq >> 8);
    p[3] = (uint8_t)seq;
    uint32_t ts = (uint32_t)seq * 160u;
    memcpy(p + 4, (uint8_t[]){(uint8_t)(ts >> 24), (uint8_t)(ts >> 16), (uint8_t)(ts >> 8),
                              (uint8_t)ts},
           4);
    memcpy(p + 8, "\x12\x34\x56\x78", 4);
    for (int k = 0; k < RTP_PAYLOAD; k++)
        p[12 + k] = (uint8_t)(seq + k);
}

int main(int argc, char **argv) {
    const char *target = NULL, *bind_ip = NULL;
    int count = 50, wait_ms = 2500, opt;
    while ((opt = getopt(argc, argv, "t:n:w:b:")) != -1) {
        if (opt == 't')
            target = optarg;
        else if (opt == 'n')
            count = atoi(optarg);
        else if (opt == 'w')
            wait_ms = atoi(optarg);
        else if (opt == 'b')
            bind_ip = optarg;
        else
            return 2;
    }
    char host[64];
    const char *colon = target ? strrchr(target, ':') : NULL;
    size_t hl = colon ? (size_t)(colon - target) : 0;
    if (hl >= 2 && target[0] == '[' && target[hl - 1] == ']') {
        target++;
        hl -= 2;
    }
    if (!colon || hl >= sizeof host || count < 0 || count > 10000) {
        fprintf(stderr, "usage: rtp_peer -t IP:PORT [-n COUNT] [-w MS] [-b IP]\n");
        return 2;
    }
    memcpy(host, target, hl);
    host[hl] = '\0';
    union {
        struct sockaddr sa;
        struct sockaddr_in v4;
        struct sockaddr_in6 v6;
    } to, me;
    memset(&to, 0, sizeof to);
    memset(&me, 0, sizeof me);
    uint16_t port = htons((uint16_t)atoi(colon + 1));
    if (inet_pton(AF_INET, host, &to.v4.sin_addr) == 1) {
        to.v4.sin_family = AF_INET, to.v4.sin_port = port;
    } else if (inet_pton(AF_INET6, host, &to.v6.sin6_addr) == 1) {
        to.v6.sin6_family = AF_INET6, to.v6.sin6_port = port;
    } else {
        fprintf(stderr, "rtp_peer: numeric IPv4 or IPv6 target only\n");
        return 2;
    }
    int family = to.sa.sa_family;
    socklen_t len = family == AF_INET6 ? sizeof to.v6 : sizeof to.v4;
    if (!bind_ip)
        bind_ip = family == AF_INET6 ? "::1" : "127.0.0.1";
    me.sa.sa_family = (sa_family_t)family;
    if (inet_pton(family, bind_ip, family == AF_INET6 ? (void *)&me.v6.sin6_addr
                                                      : (void *)&me.v4.sin_addr) != 1) {
        fprintf(stderr, "rtp_peer: a numeric bind address of the target's family only\n");
        return 2;
    }
    int fd = socket(family, SOCK_DGRAM, 0);
    if (fd < 0 || bind(fd, &me.sa, len) < 0) {
        perror("rtp_peer: socket");
        return 1;
    }
    uint8_t out[12 + RTP_PAYLOAD], in[2048];
    int sent = 0, received = 0, intact = 0, last_pt = -1;
    char from[64] = "-";
    int64_t start = now_ms(), next = start + 300;
    uint16_t seq = 1000;
    packet(out, 999, false); /* the latch packet: not counted */
    sendto(fd, out, sizeof out, 0, &to.sa, len);
    while (now_ms() < start + wait_ms) {
        int64_t t = now_ms();
        if (sent < count && t >= next) {
            packet(out, seq++, sent == 0);
            if (sendto(fd, out, sizeof out, 0, &to.sa, len) == sizeof out)
                sent++;
            next += 20;
            continue;
        }
        int64_t until = sent < count ? next : start + wait_ms;
        struct pollfd pfd = {fd, POLLIN, 0};
        if (poll(&pfd, 1, (int)(until > t ? until - t : 0)) <= 0)
            continue;
        struct sockaddr_storage src;
        socklen_t slen = sizeof src;
        ssize_t n = recvfrom(fd, in, sizeof in, 0, (struct sockaddr *)&src, &slen);
        if (n < 12 || (in[0] >> 6) != 2)
            continue;
        uint16_t rseq = (uint16_t)(in[2] << 8 | in[3]);
        if (rseq == 999)
            continue; /* the other peer's latch packet */
        received++;
        last_pt = in[1] & 0x7f;
        bool ok = n == 12 + RTP_PAYLOAD;
        for (int k = 0; ok && k < RTP_PAYLOAD; k++)
            ok = in[12 + k] == (uint8_t)(rseq + k);
        intact += ok;
        char ip[INET6_ADDRSTRLEN] = "?";
        const struct sockaddr_in *s4 = (const struct sockaddr_in *)&src;
        const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)&src;
        if (src.ss_family == AF_INET6) {
            inet_ntop(AF_INET6, &s6->sin6_addr, ip, sizeof ip);
            snprintf(from, sizeof from, "[%s]:%d", ip, ntohs(s6->sin6_port));
        } else {
            inet_ntop(AF_INET, &s4->sin_addr, ip, sizeof ip);
            snprintf(from, sizeof from, "%s:%d", ip, ntohs(s4->sin_port));
        }
    }
    printf("sent %d\nreceived %d\nintact %d\npt %d\nfrom %s\n", sent, received, intact, last_pt,
           from);
    close(fd);
    return 0;
}
