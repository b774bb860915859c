/*
 * NAME
 *   hash - the one string hash every process uses: FNV-1a (64 and 32 bits) and a 64-bit
 *   finaliser for keys that must spread over a power of two.
 * DESCRIPTION
 *   Not a cryptographic hash: tables, shm names and instance picks only. Anything an
 *   attacker could aim at (a bucket flood) is salted by the caller (sb_hash64_from with
 *   a random seed from rand.h).
 * OWNERSHIP, LOOP, ERRORS
 *   Pure functions of their arguments; no state, never fail.
 */
#ifndef SB_HASH_H
#define SB_HASH_H

#include <stddef.h>
#include <stdint.h>

#define SB_FNV64_BASIS 14695981039346656037ULL
#define SB_FNV64_PRIME 1099511628211ULL
#define SB_FNV32_BASIS 2166136261u
#define SB_FNV32_PRIME 16777619u

/* FNV-1a 64 of n bytes at p, continuing from h (SB_FNV64_BASIS to start). */
static inline uint64_t sb_hash64_from(uint64_t h, const void *p, size_t n) {
    const unsigned char *s = p;
    for (size_t i = 0; i < n; i++) {
        h ^= s[i];
        h *= SB_FNV64_PRIME;
    }
    return h;
}

static inline uint64_t sb_hash64(const void *p, size_t n) {
    return sb_hash64_from(SB_FNV64_BASIS, p, n);
}

/* FNV-1a 32 of a NUL-terminated string (NULL hashes as ""). */
static inline uint32_t sb_hash32_str(const char *s) {
    uint32_t h = SB_FNV32_BASIS;
    for (; s && *s; s++)
        h = (h ^ (unsigned char)*s) * SB_FNV32_PRIME;
    return h;
}

/* FNV-1a 32 of n bytes at p. */
static inline uint32_t sb_hash32(const void *p, size_t n) {
    const unsigned char *s = p;
    uint32_t h = SB_FNV32_BASIS;
    for (size_t i = 0; i < n; i++)
        h = (h ^ s[i]) * SB_FNV32_PRIME;
    return h;
}

/* splitmix64's finaliser: every input bit moves every output bit. */
static inline uint64_t sb_mix64(uint64_t x) {
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

#endif
