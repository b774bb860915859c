/*
 * flow_peer - a phone's RFC 5626 flows, step by step, for tests/integration/outbound.sh:
 * several TCP connections to one server that stay open across steps (SIPp cannot close
 * one of its connections on cue), CRLF and STUN keepalives.
 *   flow_peer [-w MS] HOST PORT STEP...
 * Steps, in order (N: a connection number 0-7):
 *   open:N          connects N to HOST:PORT (TCP)
 *   send:N:FILE     sends FILE on N; "[port]" in it becomes N's local port
 *   read:N          waits up to MS (default 2000) for one message on N and prints
 *                   "<<< N START-LINE" then its header lines as "N| LINE"
 *   answer:N:CODE   read:N, then answers that request with CODE (its Via, From, To with a
 *                   tag, Call-ID and CSeq), unless it is an ACK
 *   quiet:N:MS      prints "quiet N" when nothing arrives on N for MS, else read:N
 *   close:N         closes N
 *   crlf:N          sends "\r\n\r\n" on N: prints "pong N" when "\r\n" comes back in time,
 *                   else "no pong N" (RFC 5626 4.4.1)
 *   stun            sends a STUN Binding request from a new UDP socket to HOST:PORT and
 *                   prints "stun mapped ADDR:PORT" (the XOR-MAPPED-ADDRESS) and "stun
 *                   local ADDR:PORT" (the socket's own), or "stun no answer" / "stun bad"
 * Exit: 0 when every step could run (whatever came back), 1 otherwise.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define FP_CONNS 8
#define FP_BUF 65536

struct conn {
    int fd;
    char buf[FP_BUF];
    size_t len;
};

static struct conn conns[FP_CONNS];
static struct sockaddr_in server;
static int wait_ms = 2000;

static long now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000L + ts.tv_nsec / 1000000;
}

static unsigned local_port(int fd) {
    struct sockaddr_in a;
    socklen_t l = sizeof a;
    return getsockname(fd, (struct sockaddr *)&a, &l) == 0 ? ntohs(a.sin_port) : 0;
}

/* Reads more bytes into c within ms; false on timeout or close. */
static bool fill(struct conn *c, long deadline) {
    long left = deadline - now_ms();
    if (left <= 0 || c->len == FP_BUF)
        return false;
    struct pollfd p = {c->fd, POLLIN, 0};
    if (poll(&p, 1, (int)left) <= 0)
        return false;
    ssize_t n = read(c->fd, c->buf + c->len, FP_BUF - c->len);
    if (n <= 0)
        return false;
    c->len += (size_t)n;
    return true;
}

/* One framed message from c (CRLFs between messages skipped) into msg; its length or 0. */
static size_t next_message(struct conn *c, long deadline, char *msg) {
    for (;;) {
        size_t skip = 0;
        while (skip < c->len && (c->buf[skip] == '\r' || c->buf[skip] == '\n'))
            skip++;
        memmove(c->buf, c->buf + skip, c->len - skip);
        c->len -= skip;
        c->buf[c->len] = '\0';
        char *end = c->len ? strstr(c->buf, "\r\n\r\n") : NULL;
        if (end) {
            size_t head = (size_t)(end - c->buf) + 4;
            const char *cl = strcasestr(c->buf, "\r\nContent-Length:");
            size_t body = cl && cl < end ? strtoul(cl + 17, NULL, 10) : 0;
            if (c->len >= head + body) {
                memcpy(msg, c->buf, head + body);
                msg[head + body] = '\0';
                memmove(c->buf, c->buf + head + body, c->len - head - body);
                c->len -= head + body;
                return head + body;
            }
        }
        if (!fill(c, deadline))
            return 0;
    }
}

static void print_message(int n, const char *msg) {
    const char *eol = strstr(msg, "\r\n");
    printf("<<< %d %.*s\n", n, (int)(eol - msg), msg);
    for (const char *p = eol + 2; *p && strncmp(p, "\r\n", 2) != 0;) {
        const char *e = strstr(p, "\r\n");
        if (!e)
            break;
        printf("%d| %.*s\n", n, (int)(e - p), p);
        p = e + 2;
    }
}

/* The value lines of header name in msg, each as "Name: value\r\n", appended to out. */
static void copy_headers(const char *msg, const char *name, char *out, size_t cap) {
    size_t nl = strlen(name);
    for (const char *p = strstr(msg, "\r\n"); p && p[2] && strncmp(p + 2, "\r\n", 2) != 0;
         p = strstr(p + 2, "\r\n")) {
        const char *line = p + 2, *e = strstr(line, "\r\n");
        if (e && strncasecmp(line, name, nl) == 0 && line[nl] == ':') {
            size_t used = strlen(out);
            snprintf(out + used, cap - used, "%.*s\r\n", (int)(e - line), line);
            if (strcasecmp(name, "To") == 0 && !strstr(out + used, "tag=")) {
                used = strlen(out) - 2;
                snprintf(out + used, cap - used, ";tag=fp%u\r\n", (unsigned)getpid());
            }
        }
    }
}

static bool step_answer(int n, const char *msg, const char *code) {
    if (strncmp(msg, "ACK ", 4) == 0)
        return true;
    static char out[FP_BUF];
    snprintf(out, sizeof out, "SIP/2.0 %s Answer\r\n", code);
    const char *names[] = {"Via", "From", "To", "Call-ID", "CSeq"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        copy_headers(msg, names[i], out, sizeof out);
    size_t used = strlen(out);
    snprintf(out + used, sizeof out - used, "Content-Length: 0\r\n\r\n");
    return write(conns[n].fd, out, strlen(out)) == (ssize_t)strlen(out);
}

static bool step_send(int n, const char *file) {
    FILE *f = fopen(file, "rb");
    if (!f)
        return false;
    static char text[FP_BUF], out[FP_BUF + 64];
    size_t len = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[len] = '\0';
    char port[16];
    snprintf(port, sizeof port, "%u", local_port(conns[n].fd));
    size_t o = 0;
    for (const char *p = text; *p && o + 16 < sizeof out;) {
        if (strncmp(p, "[port]", 6) == 0) {
            o += (size_t)snprintf(out + o, sizeof out - o, "%s", port);
            p += 6;
        } else {
            out[o++] = *p++;
        }
    }
    return write(conns[n].fd, out, o) == (ssize_t)o;
}

static bool step_stun(void) {
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in me = {.sin_family = AF_INET};
    inet_pton(AF_INET, "127.0.0.1", &me.sin_addr);
    if (fd < 0 || bind(fd, (struct sockaddr *)&me, sizeof me) < 0)
        return false;
    unsigned char rq[20] = {0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xa4, 0x42};
    for (int i = 8; i < 20; i++)
        rq[i] = (unsigned char)(rand() & 0xff);
    if (sendto(fd, rq, sizeof rq, 0, (struct sockaddr *)&server, sizeof server) != sizeof rq) {
        close(fd);
        return false;
    }
    struct pollfd p = {fd, POLLIN, 0};
    unsigned char r[512];
    ssize_t n = poll(&p, 1, wait_ms) > 0 ? recv(fd, r, sizeof r, 0) : -1;
    printf("stun local 127.0.0.1:%u\n", local_port(fd));
    close(fd);
    if (n < 0) {
        printf("stun no answer\n");
        return true;
    }
    /* a Binding success response with our transaction ID, then XOR-MAPPED-ADDRESS */
    if (n < 32 || r[0] != 0x01 || r[1] != 0x01 || memcmp(r + 4, rq + 4, 16) != 0 || r[20] != 0x00 ||
        r[21] != 0x20 || r[25] != 0x01) {
        printf("stun bad\n");
        return true;
    }
    unsigned port = ((unsigned)r[26] << 8 | r[27]) ^ 0x2112;
    unsigned char ip[4];
    for (int i = 0; i < 4; i++)
        ip[i] = r[28 + i] ^ rq[4 + i];
    printf("stun mapped %u.%u.%u.%u:%u\n", ip[0], ip[1], ip[2], ip[3], port);
    return true;
}

static bool run_step(const char *step) {
    static char msg[FP_BUF + 1];
    char verb[16] = "", arg[1024] = "";
    int n = 0;
    if (strcmp(step, "stun") == 0)
        return step_stun();
    if (sscanf(step, "%15[a-z]:%d:%1023s", verb, &n, arg) < 2 || n < 0 || n >= FP_CONNS)
        return false;
    struct conn *c = &conns[n];
    if (strcmp(verb, "open") == 0) {
        c->fd = socket(AF_INET, SOCK_STREAM, 0);
        c->len = 0;
        return c->fd >= 0 && connect(c->fd, (struct sockaddr *)&server, sizeof server) == 0;
    }
    if (c->fd < 0)
        return false;
    if (strcmp(verb, "send") == 0)
        return step_send(n, arg);
    if (strcmp(verb, "close") == 0) {
        close(c->fd);
        c->fd = -1;
        return true;
    }
    if (strcmp(verb, "crlf") == 0) {
        if (write(c->fd, "\r\n\r\n", 4) != 4)
            return false;
        long deadline = now_ms() + wait_ms;
        while (c->len < 2 && fill(c, deadline))
            ;
        bool pong = c->len >= 2 && memcmp(c->buf, "\r\n", 2) == 0;
        printf(pong ? "pong %d\n" : "no pong %d\n", n);
        if (pong) {
            memmove(c->buf, c->buf + 2, c->len - 2);
            c->len -= 2;
        }
        return true;
    }
    if (strcmp(verb, "read") == 0 || strcmp(verb, "answer") == 0 || strcmp(verb, "quiet") == 0) {
        long ms = strcmp(verb, "quiet") == 0 ? atol(arg) : wait_ms;
        if (!next_message(c, now_ms() + ms, msg)) {
            printf(strcmp(verb, "quiet") == 0 ? "quiet %d\n" : "nothing on %d\n", n);
            return true;
        }
        print_message(n, msg);
        return strcmp(verb, "answer") != 0 || step_answer(n, msg, arg);
    }
    return false;
}

int main(int argc, char **argv) {
    int i = 1;
    if (i + 1 < argc && strcmp(argv[i], "-w") == 0) {
        wait_ms = atoi(argv[i + 1]);
        i += 2;
    }
    if (argc - i < 3) {
        fprintf(stderr, "usage: flow_peer [-w MS] HOST PORT STEP...\n");
        return 2;
    }
    server.sin_family = AF_INET;
    server.sin_port = htons((uint16_t)atoi(argv[i + 1]));
    if (inet_pton(AF_INET, argv[i], &server.sin_addr) != 1)
        return 2;
    srand((unsigned)getpid() ^ (unsigned)now_ms());
    for (int k = 0; k < FP_CONNS; k++)
        conns[k].fd = -1;
    int rc = 0;
    for (i += 2; i < argc; i++) {
        fflush(stdout);
        if (!run_step(argv[i])) {
            printf("step failed: %s\n", argv[i]);
            rc = 1;
        }
    }
    fflush(stdout);
    return rc;
}
