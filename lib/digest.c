/* digest - see digest.h */
#include "digest.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "rand.h"

int digest_alg_parse(const char *name, enum digest_alg *alg) {
    if (!name || !*name || strcasecmp(name, "MD5") == 0) {
        *alg = DIGEST_MD5;
        return 0;
    }
    if (strcasecmp(name, "SHA-256") == 0) {
        *alg = DIGEST_SHA256;
        return 0;
    }
    return -EINVAL;
}

int digest_algs_parse(const char *list, enum digest_alg algs[DIGEST_MAX_ALGS]) {
    int n = 0;
    const char *p = list ? list : "";
    for (;;) {
        p += strspn(p, " \t,");
        size_t len = strcspn(p, " \t,");
        if (!len)
            break;
        char name[16];
        enum digest_alg alg;
        if (len >= sizeof name)
            return -EINVAL;
        memcpy(name, p, len);
        name[len] = '\0';
        if (digest_alg_parse(name, &alg) < 0 || n == DIGEST_MAX_ALGS)
            return -EINVAL;
        for (int i = 0; i < n; i++)
            if (algs[i] == alg)
                return -EINVAL;
        algs[n++] = alg;
        p += len;
    }
    return n ? n : -EINVAL;
}

const char *digest_alg_name(enum digest_alg alg) {
    return alg == DIGEST_SHA256 ? "SHA-256" : "MD5";
}

static void to_hex(const unsigned char *in, size_t n, char *out) {
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hex[in[i] >> 4];
        out[2 * i + 1] = hex[in[i] & 15];
    }
    out[2 * n] = '\0';
}

/* H of the parts joined by ':' (n parts), hex into out. */
static int hash_joined(enum digest_alg alg, const char *const *parts, size_t n, char *out,
                       size_t cap) {
    const EVP_MD *md = alg == DIGEST_SHA256 ? EVP_sha256() : EVP_md5();
    size_t need = (size_t)EVP_MD_get_size(md) * 2 + 1;
    if (cap < need)
        return -ENOSPC;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (!ctx)
        return -EIO;
    int ok = EVP_DigestInit_ex(ctx, md, NULL);
    for (size_t i = 0; ok && i < n; i++) {
        if (i)
            ok = EVP_DigestUpdate(ctx, ":", 1);
        if (ok)
            ok = EVP_DigestUpdate(ctx, parts[i], strlen(parts[i]));
    }
    unsigned char h[EVP_MAX_MD_SIZE];
    unsigned hl = 0;
    if (ok)
        ok = EVP_DigestFinal_ex(ctx, h, &hl);
    EVP_MD_CTX_free(ctx);
    if (!ok)
        return -EIO;
    to_hex(h, hl, out);
    return 0;
}

int digest_ha1(enum digest_alg alg, const char *user, const char *realm, const char *password,
               char *out, size_t cap) {
    const char *parts[] = {user, realm, password};
    return hash_joined(alg, parts, 3, out, cap);
}

int digest_response(enum digest_alg alg, const char *ha1, const char *nonce, const char *nc,
                    const char *cnonce, const char *qop, const char *method, const char *uri,
                    char *out, size_t cap) {
    char ha2[DIGEST_HEX_MAX];
    const char *a2[] = {method, uri};
    int rc = hash_joined(alg, a2, 2, ha2, sizeof ha2);
    if (rc < 0)
        return rc;
    const char *parts[] = {ha1, nonce, nc, cnonce, qop, ha2};
    return hash_joined(alg, parts, 6, out, cap);
}

#define NONCE_STAMP 24 /* time and salt, hex */

/* The 32 hex digits of MAC of "TTTTTTTTSSSSSSSSSSSSSSSS:source" into mac (33 bytes). */
static int nonce_mac(const uint8_t *secret, size_t secret_len, const char *stamp,
                     const char *source, char mac[33]) {
    char msg[NONCE_STAMP + 1 + 64];
    int n = snprintf(msg, sizeof msg, "%.24s:%s", stamp, source);
    if (n < 0 || (size_t)n >= sizeof msg)
        return -EINVAL;
    unsigned char h[EVP_MAX_MD_SIZE];
    unsigned hl = 0;
    if (!HMAC(EVP_sha256(), secret, (int)secret_len, (const unsigned char *)msg, (size_t)n, h,
              &hl) ||
        hl < 16)
        return -EIO;
    to_hex(h, 16, mac);
    return 0;
}

int digest_nonce_make(const uint8_t *secret, size_t secret_len, uint32_t now_s, const char *source,
                      char *out, size_t cap) {
    if (cap <= DIGEST_NONCE_LEN)
        return -ENOSPC;
    char stamp[NONCE_STAMP + 1], mac[33];
    snprintf(stamp, sizeof stamp, "%08x", (unsigned)now_s);
    int rc = sb_random_hex(stamp + 8, sizeof stamp - 8, 8);
    if (rc < 0)
        return rc;
    rc = nonce_mac(secret, secret_len, stamp, source, mac);
    if (rc < 0)
        return rc;
    memcpy(out, stamp, NONCE_STAMP);
    memcpy(out + NONCE_STAMP, mac, 33);
    return 0;
}

enum digest_nonce_state digest_nonce_check(const uint8_t *secret, size_t secret_len,
                                           const char *nonce, const char *source, uint32_t now_s,
                                           uint32_t ttl_s, uint32_t *made_s) {
    if (!nonce || strlen(nonce) != DIGEST_NONCE_LEN)
        return DIGEST_NONCE_BAD;
    uint32_t made = 0;
    for (int i = 0; i < NONCE_STAMP; i++) {
        char ch = nonce[i];
        int v = ch >= '0' && ch <= '9' ? ch - '0' : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10 : -1;
        if (v < 0)
            return DIGEST_NONCE_BAD;
        if (i < 8)
            made = made << 4 | (uint32_t)v;
    }
    char mac[33];
    if (nonce_mac(secret, secret_len, nonce, source, mac) < 0 ||
        CRYPTO_memcmp(mac, nonce + NONCE_STAMP, 32) != 0)
        return DIGEST_NONCE_BAD;
    if (made_s)
        *made_s = made;
    /* a nonce from the future (another node's clock ahead) is fine within ttl */
    int64_t age = (int64_t)now_s - (int64_t)made;
    if (age > (int64_t)ttl_s || age < -(int64_t)ttl_s)
        return DIGEST_NONCE_STALE;
    return DIGEST_NONCE_OK;
}

bool digest_equal(const char *a, const char *b) {
    size_t la = strlen(a), lb = strlen(b);
    if (la != lb)
        return false;
    return CRYPTO_memcmp(a, b, la) == 0;
}
