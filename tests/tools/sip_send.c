/*
 * sip_send - sends raw SIP bytes, prints what comes back. For tests that need bytes SIPp
 * cannot produce (the RFC 4475 torture messages, truncated or oversized messages).
 *   sip_send [-t] [-s] [-w MS] [-l PORT,PORT...] HOST PORT FILE...
 * Each FILE ("-" for stdin) goes as one UDP datagram (or, with -t, on its own TCP
 * connection); then every response that arrives within MS milliseconds (default 300) is
 * printed as "<<< " + its start line, followed by the full text, then "=== FILE: N
 * responses". With several files the socket is the same (UDP), so the peer sees one
 * source address. -l binds UDP sockets on 127.0.0.1 at those ports, sends from the
 * first and listens on all: a UAS answers a Via without rport at the source IP and the
 * Via's sent-by port (RFC 3261 18.2.2), which is how the torture messages are answered.
 * -s prints, before each response, "<<< from ADDR:PORT": where it came from (use it with
 * -l, whose sockets are not connected and so hear any source).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static long now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000L + ts.tv_nsec / 1000000;
}

static char *slurp(const char *path, size_t *len) {
    FILE *f = strcmp(path, "-") ? fopen(path, "rb") : stdin;
    if (!f)
        return NULL;
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    for (size_t r; buf && (r = fread(buf + n, 1, cap - n, f)) > 0;) {
        n += r;
        if (n == cap) {
            char *bigger = realloc(buf, cap *= 2);
            if (!bigger)
                free(buf);
            buf = bigger;
        }
    }
    if (f != stdin)
        fclose(f);
    *len = n;
    return buf;
}

/* The Call-ID of the len-byte message at msg ("-" if none), for matching responses.
 * Length-bound: a message may carry NUL bytes (RFC 4475 intmeth echoes one). */
static const char *call_id_of(const char *msg, size_t len) {
    static char id[256];
    const char *end = msg + len;
    for (const char *l = memmem(msg, len, "\r\n", 2); l && end - l >= 4;
         l = memmem(l + 2, (size_t)(end - l - 2), "\r\n", 2)) {
        const char *h = l + 2;
        if (h[0] == '\r' && h[1] == '\n')
            break; /* end of the headers */
        size_t left = (size_t)(end - h);
        size_t skip = left > 8 && strncasecmp(h, "Call-ID:", 8) == 0 ? 8
                      : left > 2 && strncasecmp(h, "i:", 2) == 0     ? 2
                                                                     : 0;
        if (!skip)
            continue;
        h += skip;
        while (h < end && (*h == ' ' || *h == '\t'))
            h++;
        const char *eol = memmem(h, (size_t)(end - h), "\r\n", 2);
        size_t n = eol ? (size_t)(eol - h) : (size_t)(end - h);
        snprintf(id, sizeof id, "%.*s", (int)(n < sizeof id ? n : sizeof id - 1), h);
        return id;
    }
    return "-";
}

#define MAX_LISTEN 8
static int listen_fds[MAX_LISTEN], nlisten, show_source;

/* Prints every response that arrives on fd (or the -l sockets) within wait_ms. */
static int drain(int fd, int wait_ms) {
    static char buf[1 << 20];
    int count = 0;
    long deadline = now_ms() + wait_ms;
    for (;;) {
        long left = deadline - now_ms();
        if (left <= 0)
            break;
        struct pollfd p[MAX_LISTEN + 1];
        int np = 0;
        p[np++] = (struct pollfd){fd, POLLIN, 0};
        for (int i = 0; i < nlisten; i++)
            if (listen_fds[i] != fd)
                p[np++] = (struct pollfd){listen_fds[i], POLLIN, 0};
        if (poll(p, (nfds_t)np, (int)left) <= 0)
            break;
        int from = -1;
        for (int i = 0; i < np && from < 0; i++)
            if (p[i].revents & (POLLIN | POLLHUP | POLLERR))
                from = p[i].fd;
        struct sockaddr_storage src;
        socklen_t src_len = sizeof src;
        ssize_t n = recvfrom(from, buf, sizeof buf - 1, 0, (struct sockaddr *)&src, &src_len);
        if (n > 0 && show_source && src_len > 0) {
            char ip[INET6_ADDRSTRLEN] = "?";
            int port = 0;
            if (src.ss_family == AF_INET) {
                const struct sockaddr_in *s4 = (const struct sockaddr_in *)&src;
                inet_ntop(AF_INET, &s4->sin_addr, ip, sizeof ip);
                port = ntohs(s4->sin_port);
            } else if (src.ss_family == AF_INET6) {
                const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)&src;
                inet_ntop(AF_INET6, &s6->sin6_addr, ip, sizeof ip);
                port = ntohs(s6->sin6_port);
            }
            printf("<<< from %s:%d\n", ip, port);
        }
        if (n <= 0) {
            if (from == fd)
                break;
            continue;
        }
        buf[n] = '\0';
        /* A TCP read may hold several responses; the start line of each is what tests
         * grep, so mark every "SIP/2.0 " at a line start (length-bound, NULs allowed). */
        const char *end = buf + n;
        for (const char *line = buf; line && line < end;) {
            const char *eol = memmem(line, (size_t)(end - line), "\r\n", 2);
            if (end - line > 8 && strncmp(line, "SIP/2.0 ", 8) == 0) {
                count++;
                printf("<<< %.*s [call-id: %s]\n", (int)((eol ? eol : end) - line), line,
                       call_id_of(line, (size_t)(end - line)));
            }
            line = eol ? eol + 2 : NULL;
        }
        fwrite(buf, 1, (size_t)n, stdout);
        printf("\n");
        fflush(stdout); /* a test may watch the output while we run */
    }
    return count;
}

int main(int argc, char **argv) {
    int tcp = 0, wait_ms = 300, opt;
    char *ports = NULL;
    while ((opt = getopt(argc, argv, "tsw:l:")) != -1) {
        if (opt == 't')
            tcp = 1;
        else if (opt == 's')
            show_source = 1;
        else if (opt == 'w')
            wait_ms = atoi(optarg);
        else if (opt == 'l')
            ports = optarg;
        else
            return 2;
    }
    for (char *save = NULL, *tok = ports ? strtok_r(ports, ",", &save) : NULL;
         tok && nlisten < MAX_LISTEN; tok = strtok_r(NULL, ",", &save)) {
        struct sockaddr_in me = {.sin_family = AF_INET, .sin_port = htons(atoi(tok))};
        me.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        int fd = socket(AF_INET, SOCK_DGRAM, 0);
        if (bind(fd, (struct sockaddr *)&me, sizeof me) < 0) {
            fprintf(stderr, "sip_send: bind 127.0.0.1:%s: %s\n", tok, strerror(errno));
            return 3;
        }
        listen_fds[nlisten++] = fd;
    }
    if (argc - optind < 3) {
        fprintf(stderr, "usage: sip_send [-t] [-s] [-w MS] [-l PORT,...] HOST PORT FILE...\n");
        return 2;
    }
    union {
        struct sockaddr sa;
        struct sockaddr_in sin;
        struct sockaddr_in6 sin6;
    } to = {0};
    socklen_t to_len;
    int family;
    if (inet_pton(AF_INET, argv[optind], &to.sin.sin_addr) == 1) {
        family = to.sin.sin_family = AF_INET;
        to.sin.sin_port = htons(atoi(argv[optind + 1]));
        to_len = sizeof to.sin;
    } else if (inet_pton(AF_INET6, argv[optind], &to.sin6.sin6_addr) == 1) {
        family = to.sin6.sin6_family = AF_INET6;
        to.sin6.sin6_port = htons(atoi(argv[optind + 1]));
        to_len = sizeof to.sin6;
    } else {
        fprintf(stderr, "sip_send: numeric IPv4 or IPv6 host only\n");
        return 2;
    }
    int udp = nlisten ? listen_fds[0] : -1;
    for (int i = optind + 2; i < argc; i++) {
        size_t len;
        char *msg = slurp(argv[i], &len);
        if (!msg) {
            fprintf(stderr, "sip_send: %s: %s\n", argv[i], strerror(errno));
            return 1;
        }
        int fd = udp;
        if (tcp || fd < 0) {
            fd = socket(family, tcp ? SOCK_STREAM : SOCK_DGRAM, 0);
            if (connect(fd, &to.sa, to_len) < 0) {
                fprintf(stderr, "sip_send: connect: %s\n", strerror(errno));
                return 1;
            }
            if (!tcp)
                udp = fd;
        }
        ssize_t sent =
            fd == udp && nlisten ? sendto(fd, msg, len, 0, &to.sa, to_len) : send(fd, msg, len, 0);
        if (sent != (ssize_t)len)
            fprintf(stderr, "sip_send: %s: sent %zd of %zu bytes: %s\n", argv[i], sent, len,
                    strerror(errno));
        int n = drain(fd, wait_ms);
        printf("=== %s: %d responses\n", argv[i], n);
        if (tcp)
            close(fd);
        free(msg);
    }
    return 0;
}
