/*
 * NAME
 *   jsonw - an append-only JSON writer into a growable buffer, for JSON made on hot paths.
 * DESCRIPTION
 *   Objects and arrays are opened and closed; in an object each value follows a key; the
 *   writer places commas and colons. One escaping rule (RFC 8259 section 7): '"' and '\'
 *   escaped, every control character (U+0000..U+001F) as \u00XX, and bytes that are not
 *   well-formed UTF-8 (RFC 3629) replaced by U+FFFD, one per maximal ill-formed
 *   subsequence, so the output is always valid JSON. jsonw_raw's text is not checked.
 * OWNERSHIP
 *   jsonw_t is the caller's; its buffer is freed by jsonw_fini or handed over by
 *   jsonw_finish. Strings passed in are borrowed for the call. LOOP: any (no I/O).
 * ERRORS
 *   Out of memory, or a close without its open, or more than JSONW_MAX_DEPTH levels, marks
 *   the writer failed: later calls do nothing and jsonw_finish returns NULL.
 */
#ifndef SB_JSONW_H
#define SB_JSONW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define JSONW_MAX_DEPTH 64

typedef struct jsonw {
    char *buf;
    size_t len, cap;
    unsigned depth;
    bool comma; /* a value was written at this level: the next one needs a ',' */
    bool failed;
} jsonw_t;

/* An empty writer (no allocation until the first write). */
void jsonw_init(jsonw_t *w);
/* Frees the buffer (when jsonw_finish did not take it). */
void jsonw_fini(jsonw_t *w);

void jsonw_object_open(jsonw_t *w);
void jsonw_object_close(jsonw_t *w);
void jsonw_array_open(jsonw_t *w);
void jsonw_array_close(jsonw_t *w);
/* An object member's name (escaped like a string); the value comes next. */
void jsonw_key(jsonw_t *w, const char *key);

/* A NUL-terminated string; NULL is written as "". */
void jsonw_string(jsonw_t *w, const char *s);
/* len bytes of s (NUL bytes included, as \u0000). */
void jsonw_stringn(jsonw_t *w, const char *s, size_t len);
void jsonw_int(jsonw_t *w, int64_t v);
void jsonw_uint(jsonw_t *w, uint64_t v);
void jsonw_bool(jsonw_t *w, bool v);
void jsonw_null(jsonw_t *w);
/* len bytes of JSON text the caller vouches for, as one value. */
void jsonw_raw(jsonw_t *w, const char *text, size_t len);

/* key then string, key then integer: the common member shapes. */
void jsonw_kv_string(jsonw_t *w, const char *key, const char *s);
void jsonw_kv_int(jsonw_t *w, const char *key, int64_t v);

/* True once the writer failed (out of memory, nesting). */
bool jsonw_failed(const jsonw_t *w);
/* The text written, NUL-terminated, its length in *len (when len is not NULL); the buffer
 * passes to the caller (free()) and w is empty again. NULL when the writer failed or a
 * container is still open (the buffer is freed then). */
char *jsonw_finish(jsonw_t *w, size_t *len);

#endif
