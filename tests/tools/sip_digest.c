/*
 * sip_digest - a small SIP UAC over UDP that answers digest challenges (RFC 7616 with
 * qop=auth, MD5 or SHA-256: SIPp 3.6 knows only MD5), for tests/integration/auth.sh.
 *   sip_digest SERVER_PORT register|invite [options]
 *     --bind ADDR        local address (default 127.0.0.1): a source of its own
 *     --lport PORT       local port (default: any; the same one reaches the same sipd)
 *     --user U           the credentials' username (alice)      --password P
 *     --alg A            SHA-256 (default) or MD5: the challenge answered
 *     --aor U            To user (REGISTER) / From user (INVITE); default --user
 *     --domain D         host of the Request-URI, From and To (localhost)
 *     --to U             INVITE: the callee (nobody)
 *     --contact URI      REGISTER: the contact (default sip:AOR@BIND:PORT)
 *     --wildcard         REGISTER: Contact: * with Expires: 0
 *     --no-auth          never answer a challenge
 *     --replay           after the authenticated request, send it again with the same nc
 *     --stale-secret S   answer with a nonce made 1000 s ago with the nonce secret S
 *     --dump             print the last response whole after the status lines
 *     --timeout-ms MS    how long to wait for each response (3000)
 * Prints one line per final response: "STATUS" or, for a challenge, "STATUS algs=A,B
 * stale=true|false realm=R". An INVITE's non-2xx final is ACKed (RFC 3261 17.1.1.3).
 * Exit status 0, or 1 when a response did not come in time (prints "timeout").
 */
#include <arpa/inet.h>
#include <getopt.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "digest.h"
#include "rand.h"

#define MAX_CH 4

struct challenge {
    char realm[256], nonce[256], algorithm[32], stale[8];
};

static struct {
    const char *bind, *user, *password, *alg, *aor, *domain, *to, *contact, *stale_secret;
    bool wildcard, no_auth, replay, dump, invite;
    int port, timeout_ms, lport;
} o = {"127.0.0.1", "alice", "",    "SHA-256", NULL,  "localhost", "nobody", NULL, NULL,
       false,       false,   false, false,     false, 0,           3000,     0};

static int fd, lport, cseq;
static char call_id[64], from_tag[32], ruri[512], last[65536];

/* The value of parameter name in a challenge header value, quotes removed. */
static void param(const char *v, const char *name, char *out, size_t cap) {
    out[0] = '\0';
    size_t n = strlen(name);
    for (const char *p = v; (p = strcasestr(p, name)); p += n) {
        if ((p != v && p[-1] != ' ' && p[-1] != ',') || p[n] != '=')
            continue;
        p += n + 1;
        size_t len = *p == '"' ? strcspn(++p, "\"") : strcspn(p, ", \r\n");
        snprintf(out, cap, "%.*s", (int)(len < cap ? len : cap - 1), p);
        return;
    }
}

/* The challenges of the response in last (WWW- or Proxy-Authenticate). */
static int challenges(struct challenge *ch) {
    const char *want = o.invite ? "\r\nProxy-Authenticate:" : "\r\nWWW-Authenticate:";
    int n = 0;
    for (const char *p = last; n < MAX_CH && (p = strcasestr(p, want)); p += strlen(want)) {
        char value[1024];
        const char *v = p + strlen(want);
        size_t len = strcspn(v, "\r");
        snprintf(value, sizeof value, "%.*s", (int)len, v);
        param(value, "realm", ch[n].realm, sizeof ch[n].realm);
        param(value, "nonce", ch[n].nonce, sizeof ch[n].nonce);
        param(value, "algorithm", ch[n].algorithm, sizeof ch[n].algorithm);
        param(value, "stale", ch[n].stale, sizeof ch[n].stale);
        if (!ch[n].algorithm[0])
            snprintf(ch[n].algorithm, sizeof ch[n].algorithm, "MD5");
        if (!ch[n].stale[0])
            snprintf(ch[n].stale, sizeof ch[n].stale, "false");
        n++;
    }
    return n;
}

static void header(const char *name, char *out, size_t cap) {
    char key[64];
    snprintf(key, sizeof key, "\r\n%s:", name);
    const char *p = strcasestr(last, key);
    out[0] = '\0';
    if (!p)
        return;
    p += strlen(key);
    while (*p == ' ')
        p++;
    snprintf(out, cap, "%.*s", (int)strcspn(p, "\r"), p);
}

/* Sends the request (with auth, a whole header value, or NULL); the final status. */
static int send_request(const char *auth) {
    char branch[40], msg[8192], from[600], to[600], contact[600];
    unsigned long long r = 0;
    sb_random(&r, sizeof r);
    snprintf(branch, sizeof branch, "z9hG4bK%llx", r);
    cseq++;
    const char *aor = o.aor ? o.aor : o.user;
    const char *method = o.invite ? "INVITE" : "REGISTER";
    snprintf(from, sizeof from, "<sip:%s@%s>;tag=%s", aor, o.domain, from_tag);
    snprintf(to, sizeof to, "<sip:%s@%s>", o.invite ? o.to : aor, o.domain);
    if (o.wildcard)
        snprintf(contact, sizeof contact, "*");
    else if (o.contact)
        snprintf(contact, sizeof contact, "<%s>", o.contact);
    else
        snprintf(contact, sizeof contact, "<sip:%s@%s:%d>", aor, o.bind, lport);
    int n = snprintf(msg, sizeof msg,
                     "%s %s SIP/2.0\r\nVia: SIP/2.0/UDP %s:%d;branch=%s;rport\r\n"
                     "Max-Forwards: 70\r\nFrom: %s\r\nTo: %s\r\nCall-ID: %s\r\nCSeq: %d %s\r\n"
                     "Contact: %s\r\n",
                     method, ruri, o.bind, lport, branch, from, to, call_id, cseq, method, contact);
    if (!o.invite)
        n += snprintf(msg + n, sizeof msg - (size_t)n, "Expires: %d\r\n", o.wildcard ? 0 : 600);
    if (auth)
        n += snprintf(msg + n, sizeof msg - (size_t)n, "%s: %s\r\n",
                      o.invite ? "Proxy-Authorization" : "Authorization", auth);
    n += snprintf(msg + n, sizeof msg - (size_t)n, "Content-Length: 0\r\n\r\n");
    struct sockaddr_in to_addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)o.port)};
    inet_pton(AF_INET, "127.0.0.1", &to_addr.sin_addr);
    sendto(fd, msg, (size_t)n, 0, (struct sockaddr *)&to_addr, sizeof to_addr);
    for (;;) {
        ssize_t got = recv(fd, last, sizeof last - 1, 0);
        if (got <= 0) {
            printf("timeout\n");
            exit(1);
        }
        last[got] = '\0';
        int status = 0;
        if (sscanf(last, "SIP/2.0 %d", &status) != 1 || status < 200)
            continue;
        if (o.invite) { /* ACK the non-2xx final in its transaction */
            char to_hdr[600], ack[4096];
            header("To", to_hdr, sizeof to_hdr);
            int an = snprintf(ack, sizeof ack,
                              "ACK %s SIP/2.0\r\nVia: SIP/2.0/UDP %s:%d;branch=%s;rport\r\n"
                              "Max-Forwards: 70\r\nFrom: %s\r\nTo: %s\r\nCall-ID: %s\r\n"
                              "CSeq: %d ACK\r\nContent-Length: 0\r\n\r\n",
                              ruri, o.bind, lport, branch, from, to_hdr, call_id, cseq);
            sendto(fd, ack, (size_t)an, 0, (struct sockaddr *)&to_addr, sizeof to_addr);
        }
        return status;
    }
}

static void report(int status) {
    struct challenge ch[MAX_CH];
    int n = challenges(ch);
    if (!n) {
        printf("%d\n", status);
        return;
    }
    printf("%d algs=", status);
    for (int i = 0; i < n; i++)
        printf("%s%s", i ? "," : "", ch[i].algorithm);
    printf(" stale=%s realm=%s\n", ch[0].stale, ch[0].realm);
}

static void answer(const struct challenge *ch, unsigned nc, char *out, size_t cap) {
    enum digest_alg alg;
    digest_alg_parse(o.alg, &alg);
    char nonce[256], cnonce[17], ncs[9], ha1[DIGEST_HEX_MAX], resp[DIGEST_HEX_MAX];
    snprintf(nonce, sizeof nonce, "%s", ch->nonce);
    if (o.stale_secret)
        digest_nonce_make((const uint8_t *)o.stale_secret, strlen(o.stale_secret),
                          (uint32_t)time(NULL) - 1000, o.bind, nonce, sizeof nonce);
    sb_random_hex(cnonce, sizeof cnonce, 8);
    snprintf(ncs, sizeof ncs, "%08x", nc);
    digest_ha1(alg, o.user, ch->realm, o.password, ha1, sizeof ha1);
    digest_response(alg, ha1, nonce, ncs, cnonce, "auth", o.invite ? "INVITE" : "REGISTER", ruri,
                    resp, sizeof resp);
    snprintf(out, cap,
             "Digest username=\"%s\", realm=\"%s\", nonce=\"%s\", uri=\"%s\", response=\"%s\", "
             "algorithm=%s, cnonce=\"%s\", qop=auth, nc=%s",
             o.user, ch->realm, nonce, ruri, resp, o.alg, cnonce, ncs);
}

int main(int argc, char **argv) {
    static const struct option opts[] = {{"bind", 1, 0, 'b'},         {"user", 1, 0, 'u'},
                                         {"password", 1, 0, 'p'},     {"alg", 1, 0, 'a'},
                                         {"aor", 1, 0, 'A'},          {"domain", 1, 0, 'd'},
                                         {"to", 1, 0, 't'},           {"contact", 1, 0, 'c'},
                                         {"stale-secret", 1, 0, 's'}, {"wildcard", 0, 0, 'w'},
                                         {"no-auth", 0, 0, 'n'},      {"replay", 0, 0, 'r'},
                                         {"dump", 0, 0, 'D'},         {"timeout-ms", 1, 0, 'T'},
                                         {"lport", 1, 0, 'L'},        {0, 0, 0, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'b':
            o.bind = optarg;
            break;
        case 'u':
            o.user = optarg;
            break;
        case 'p':
            o.password = optarg;
            break;
        case 'a':
            o.alg = optarg;
            break;
        case 'A':
            o.aor = optarg;
            break;
        case 'd':
            o.domain = optarg;
            break;
        case 't':
            o.to = optarg;
            break;
        case 'c':
            o.contact = optarg;
            break;
        case 's':
            o.stale_secret = optarg;
            break;
        case 'w':
            o.wildcard = true;
            break;
        case 'n':
            o.no_auth = true;
            break;
        case 'r':
            o.replay = true;
            break;
        case 'D':
            o.dump = true;
            break;
        case 'T':
            o.timeout_ms = atoi(optarg);
            break;
        case 'L':
            o.lport = atoi(optarg);
            break;
        default:
            return 2;
        }
    }
    if (argc - optind != 2) {
        fprintf(stderr, "usage: sip_digest SERVER_PORT register|invite [options]\n");
        return 2;
    }
    o.port = atoi(argv[optind]);
    o.invite = strcmp(argv[optind + 1], "invite") == 0;
    fd = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in local = {.sin_family = AF_INET, .sin_port = htons((uint16_t)o.lport)};
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    inet_pton(AF_INET, o.bind, &local.sin_addr);
    socklen_t ll = sizeof local;
    struct timeval tv = {o.timeout_ms / 1000, (o.timeout_ms % 1000) * 1000};
    if (fd < 0 || bind(fd, (struct sockaddr *)&local, sizeof local) < 0 ||
        getsockname(fd, (struct sockaddr *)&local, &ll) < 0 ||
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) < 0) {
        perror("sip_digest: socket");
        return 2;
    }
    lport = ntohs(local.sin_port);
    char rnd[17];
    sb_random_hex(rnd, sizeof rnd, 8);
    snprintf(call_id, sizeof call_id, "%s@%s", rnd, o.bind);
    sb_random_hex(from_tag, sizeof from_tag, 4);
    if (o.invite)
        snprintf(ruri, sizeof ruri, "sip:%s@%s", o.to, o.domain);
    else
        snprintf(ruri, sizeof ruri, "sip:%s", o.domain);
    int status = send_request(NULL);
    report(status);
    if ((status == 401 || status == 407) && !o.no_auth) {
        struct challenge ch[MAX_CH];
        int n = challenges(ch), k = 0;
        while (k < n && strcasecmp(ch[k].algorithm, o.alg) != 0)
            k++;
        if (k == n) {
            printf("no-challenge-for-%s\n", o.alg);
            return 1;
        }
        char auth[2048];
        answer(&ch[k], 1, auth, sizeof auth);
        report(send_request(auth));
        if (o.replay)
            report(send_request(auth));
    }
    if (o.dump)
        fputs(last, stdout);
    return 0;
}
