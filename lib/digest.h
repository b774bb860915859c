/*
 * NAME
 *   digest - HTTP Digest arithmetic for SIP (RFC 3261 22.4, RFC 7616, RFC 8760):
 *   HA1, the qop=auth response, and stateless nonces.
 * DESCRIPTION
 *   digest_ha1 and digest_response compute lower-case hex hashes with MD5 or SHA-256.
 *   A nonce is "TTTTTTTT" (the time it was made, seconds, 8 hex digits), 16 hex digits of
 *   random salt (two clients behind one address never share a nonce, so their nonce-counts
 *   do not collide), then the first 16 bytes of HMAC-SHA256(secret, "TTTTTTTTSSSS...:"
 *   source address) in hex (56 chars): any process holding the secret can check it
 *   without state; digest_nonce_check says
 *   whether one is ours and for this source (DIGEST_NONCE_OK), ours but older than ttl
 *   (DIGEST_NONCE_STALE, RFC 7616 3.3 stale=true) or anything else (DIGEST_NONCE_BAD).
 *   Comparisons of secrets and hashes take constant time.
 * OWNERSHIP
 *   Writes into the caller's buffers; keeps nothing.
 * LOOP
 *   Pure code (OpenSSL's libcrypto), any thread; never logs.
 * ERRORS
 *   -EINVAL for an unknown algorithm, -ENOSPC when out is too small, -EIO when libcrypto
 *   fails.
 * SEE ALSO
 *   procs/routerd/auth.h, docs/security.md
 */
#ifndef SB_DIGEST_H
#define SB_DIGEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum digest_alg { DIGEST_MD5, DIGEST_SHA256 };

#define DIGEST_HEX_MAX 65   /* 64 hex digits of SHA-256 and a NUL */
#define DIGEST_NONCE_LEN 56 /* 8 hex digits of time, 16 of salt, 32 of MAC */
#define DIGEST_MAX_ALGS 2

enum digest_nonce_state { DIGEST_NONCE_OK, DIGEST_NONCE_STALE, DIGEST_NONCE_BAD };

/* The algorithm named by an algorithm parameter ("MD5", "SHA-256", any case; absent or ""
 * is MD5, RFC 7616 3.3): 0, or -EINVAL (the -sess variants and others). */
int digest_alg_parse(const char *name, enum digest_alg *alg);
/* The algorithms of a sip_auth_algorithms value (names separated by spaces or commas, each
 * at most once) into algs: their count (1..DIGEST_MAX_ALGS), or -EINVAL. */
int digest_algs_parse(const char *list, enum digest_alg algs[DIGEST_MAX_ALGS]);
/* "MD5" or "SHA-256". */
const char *digest_alg_name(enum digest_alg alg);

/* H(user ":" realm ":" password) in hex into out (cap >= DIGEST_HEX_MAX). */
int digest_ha1(enum digest_alg alg, const char *user, const char *realm, const char *password,
               char *out, size_t cap);
/* RFC 7616 3.4.1 with qop=auth: H(ha1:nonce:nc:cnonce:qop:H(method:uri)), hex into out. */
int digest_response(enum digest_alg alg, const char *ha1, const char *nonce, const char *nc,
                    const char *cnonce, const char *qop, const char *method, const char *uri,
                    char *out, size_t cap);

/* A nonce made at now_s for source (the client's numeric address) into out (cap >
 * DIGEST_NONCE_LEN, NUL-terminated). */
int digest_nonce_make(const uint8_t *secret, size_t secret_len, uint32_t now_s, const char *source,
                      char *out, size_t cap);
/* Whether nonce was made with secret for source, and within ttl_s of now_s; *made_s
 * (may be NULL) gets its time when it is ours. */
enum digest_nonce_state digest_nonce_check(const uint8_t *secret, size_t secret_len,
                                           const char *nonce, const char *source, uint32_t now_s,
                                           uint32_t ttl_s, uint32_t *made_s);

/* Constant-time equality of two NUL-terminated strings (the length may leak). */
bool digest_equal(const char *a, const char *b);

#endif
