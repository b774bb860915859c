/* stun - see stun.h */
#include "stun.h"

#include <arpa/inet.h>
#include <string.h>

#define STUN_BINDING_REQUEST 0x0001
#define STUN_BINDING_SUCCESS 0x0101
#define STUN_XOR_MAPPED_ADDRESS 0x0020

static unsigned get16(const unsigned char *p) {
    return (unsigned)p[0] << 8 | p[1];
}

static void put16(unsigned char *p, unsigned v) {
    p[0] = (unsigned char)(v >> 8);
    p[1] = (unsigned char)v;
}

bool stun_is_stun(const unsigned char *buf, size_t len) {
    /* RFC 7983 7: a first byte of 0..3 is STUN (a SIP message starts with a token
     * character or CRLF, never a byte below 0x0a) */
    return len > 0 && buf[0] <= 3;
}

size_t stun_binding_answer(const unsigned char *buf, size_t len, const union sipaddr *src,
                           unsigned char out[STUN_ANSWER_MAX]) {
    if (len < STUN_HEADER || get16(buf) != STUN_BINDING_REQUEST)
        return 0;
    size_t body = get16(buf + 2);
    if (body % 4 || STUN_HEADER + body != len)
        return 0;
    if (((unsigned long)buf[4] << 24 | (unsigned long)buf[5] << 16 | (unsigned long)buf[6] << 8 |
         buf[7]) != STUN_MAGIC_COOKIE)
        return 0;
    /* RFC 5389 15: each attribute's length fits what is left (padded to 4) */
    for (size_t at = STUN_HEADER; at < len;) {
        if (len - at < 4)
            return 0;
        size_t alen = get16(buf + at + 2);
        size_t padded = (alen + 3) & ~(size_t)3;
        if (padded > len - at - 4)
            return 0;
        at += 4 + padded;
    }
    const unsigned char *xor_key = buf + 4; /* cookie, then the transaction ID */
    unsigned char *a = out + STUN_HEADER;
    size_t alen;
    if (src->sa.sa_family == AF_INET) {
        alen = 8;
        a[4] = 0;
        a[5] = 0x01;
        put16(a + 6, ntohs(src->sin.sin_port) ^ (STUN_MAGIC_COOKIE >> 16));
        const unsigned char *ip = (const unsigned char *)&src->sin.sin_addr;
        for (int i = 0; i < 4; i++)
            a[8 + i] = ip[i] ^ xor_key[i];
    } else if (src->sa.sa_family == AF_INET6) {
        alen = 20;
        a[4] = 0;
        a[5] = 0x02;
        put16(a + 6, ntohs(src->sin6.sin6_port) ^ (STUN_MAGIC_COOKIE >> 16));
        const unsigned char *ip = (const unsigned char *)&src->sin6.sin6_addr;
        for (int i = 0; i < 16; i++)
            a[8 + i] = ip[i] ^ xor_key[i];
    } else {
        return 0;
    }
    put16(a, STUN_XOR_MAPPED_ADDRESS);
    put16(a + 2, alen);
    put16(out, STUN_BINDING_SUCCESS);
    put16(out + 2, 4 + alen);
    memcpy(out + 4, buf + 4, 16); /* cookie and transaction ID */
    return STUN_HEADER + 4 + alen;
}
