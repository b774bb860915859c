/*
 * NAME
 *   rand - the one source of random bytes: the kernel's (getrandom), failing closed.
 * DESCRIPTION
 *   Tags, Call-IDs, branch salts and SRTP master keys all come from here. There is no
 *   fallback generator: when the kernel cannot give random bytes the caller gets an
 *   error and refuses the work (a SIP 500, a media create refused), never a guessable
 *   value. getrandom blocks only until the kernel's pool is first initialised at boot.
 * OWNERSHIP
 *   Writes into the caller's buffer; keeps nothing.
 * LOOP
 *   Any; no state, thread-safe.
 * ERRORS
 *   Negative errno from getrandom (-ENOSYS, -EFAULT, ...); never logs.
 */
#ifndef SB_RAND_H
#define SB_RAND_H

#include <stddef.h>
#include <stdint.h>

/* Fills buf with n random bytes: 0, or negative errno (then buf holds nothing usable). */
int sb_random(void *buf, size_t n);
/* 2 * nbytes lower-case hex digits of random bytes and a NUL into out (cap > 2 * nbytes):
 * 0, -ENOSPC when out is too small, or sb_random's error. nbytes at most 32. */
int sb_random_hex(char *out, size_t cap, size_t nbytes);
/* One random 64-bit value into *v: 0 or negative errno. */
int sb_random_u64(uint64_t *v);

#endif
