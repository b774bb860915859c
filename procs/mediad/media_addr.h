/*
 * NAME
 *   media_addr - mediad's socket addresses, IPv4 or IPv6 alike.
 * DESCRIPTION
 *   media_sa_t holds a struct sockaddr_in or sockaddr_in6 (family 0: none). An IP alone
 *   (an SDP's address, a signaling source) is one with port 0. Helpers compare IPs and
 *   IP:port pairs, read a numeric IP, write "IP:PORT" ("[IP]:PORT" for IPv6) and tell the
 *   unspecified address (0.0.0.0, ::) apart.
 * OWNERSHIP
 *   Values; nothing is allocated.
 * LOOP
 *   Pure code, any loop.
 */
#ifndef SB_MEDIA_ADDR_H
#define SB_MEDIA_ADDR_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

typedef union {
    struct sockaddr sa;
    struct sockaddr_in v4;
    struct sockaddr_in6 v6;
} media_sa_t;

static inline socklen_t media_sa_len(const media_sa_t *a) {
    return a->sa.sa_family == AF_INET6 ? sizeof a->v6 : sizeof a->v4;
}

static inline bool media_sa_set(const media_sa_t *a) {
    return a->sa.sa_family == AF_INET || a->sa.sa_family == AF_INET6;
}

/* The address bytes (4 or 16) of a set address. */
static inline const void *media_sa_bytes(const media_sa_t *a) {
    return a->sa.sa_family == AF_INET6 ? (const void *)&a->v6.sin6_addr
                                       : (const void *)&a->v4.sin_addr;
}

static inline bool media_sa_ip_eq(const media_sa_t *a, const media_sa_t *b) {
    if (!media_sa_set(a) || a->sa.sa_family != b->sa.sa_family)
        return false;
    return a->sa.sa_family == AF_INET
               ? a->v4.sin_addr.s_addr == b->v4.sin_addr.s_addr
               : memcmp(&a->v6.sin6_addr, &b->v6.sin6_addr, sizeof a->v6.sin6_addr) == 0;
}

static inline int media_sa_port(const media_sa_t *a) {
    return ntohs(a->sa.sa_family == AF_INET6 ? a->v6.sin6_port : a->v4.sin_port);
}

static inline void media_sa_set_port(media_sa_t *a, int port) {
    if (a->sa.sa_family == AF_INET6)
        a->v6.sin6_port = htons((uint16_t)port);
    else
        a->v4.sin_port = htons((uint16_t)port);
}

static inline bool media_sa_eq(const media_sa_t *a, const media_sa_t *b) {
    return media_sa_ip_eq(a, b) && media_sa_port(a) == media_sa_port(b);
}

/* 0.0.0.0 or :: (or none). */
static inline bool media_sa_unspecified(const media_sa_t *a) {
    if (a->sa.sa_family == AF_INET)
        return a->v4.sin_addr.s_addr == 0;
    if (a->sa.sa_family == AF_INET6)
        return IN6_IS_ADDR_UNSPECIFIED(&a->v6.sin6_addr);
    return true;
}

/* A numeric IPv4 or IPv6 address (port 0); false (and *out none) otherwise. */
static inline bool media_sa_parse(const char *ip, media_sa_t *out) {
    memset(out, 0, sizeof *out);
    if (!ip || !*ip)
        return false;
    if (inet_pton(AF_INET, ip, &out->v4.sin_addr) == 1) {
        out->v4.sin_family = AF_INET;
        return true;
    }
    if (inet_pton(AF_INET6, ip, &out->v6.sin6_addr) == 1) {
        out->v6.sin6_family = AF_INET6;
        return true;
    }
    memset(out, 0, sizeof *out);
    return false;
}

/* The IP alone ("" for none). */
static inline void media_sa_ip_text(const media_sa_t *a, char *out, size_t len) {
    if (!media_sa_set(a) || !inet_ntop(a->sa.sa_family, media_sa_bytes(a), out, (socklen_t)len))
        snprintf(out, len, "%s", "");
}

/* "IP:PORT" or "[IP]:PORT". */
static inline void media_sa_text(const media_sa_t *a, char *out, size_t len) {
    char ip[INET6_ADDRSTRLEN];
    media_sa_ip_text(a, ip, sizeof ip);
    snprintf(out, len, a->sa.sa_family == AF_INET6 ? "[%s]:%d" : "%s:%d", ip[0] ? ip : "0.0.0.0",
             media_sa_port(a));
}

#endif
