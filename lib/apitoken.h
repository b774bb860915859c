/*
 * NAME
 *   apitoken - the admin API's bearer token file and the rule for serving without one.
 * DESCRIPTION
 *   The token is 64 lower-case hex digits (32 random bytes from sb_random) and a newline
 *   in main.cf api_token_file, mode 0600, owned by whoever runs master (root in
 *   production): master creates it at its first start (apitok_ensure) and hands apid an
 *   open descriptor of it, as it hands the listening sockets, so apid reads it whatever
 *   user it runs as (apitok_read_fd). A token read back is 16..256 characters of RFC 6750
 *   b64token ([A-Za-z0-9-._~+/], then '=' padding); anything else is refused.
 *   apitok_check is the rule for serving without a token: api_insecure = yes is accepted
 *   only when every api_listen address is a loopback address (127.0.0.0/8, ::1); and
 *   apid's TLS needs both api_tls_cert and api_tls_key.
 * OWNERSHIP
 *   Borrows its arguments; writes into the caller's buffers.
 * LOOP
 *   master at start, apid at start, switchboard; apitok_check is pure.
 * ERRORS
 *   Negative errno (-ENOENT no file, -EACCES, -EINVAL a bad token, ...) or -1 with the
 *   reason in why; never logs.
 * SEE ALSO
 *   docs/security.md, docs/api.md
 */
#ifndef SB_APITOKEN_H
#define SB_APITOKEN_H

#include <stdbool.h>
#include <stddef.h>

#include "cfg.h"

#define APITOK_MAX 256   /* longest token accepted */
#define APITOK_MIN 16    /* shortest token accepted from the file */
#define APITOK_RANDOM 32 /* random bytes of a new token (64 hex digits) */

/* Creates path with a new random token (mode 0600, never following a symbolic link)
 * unless it exists; an existing file that group or others may read is made 0600.
 * 1 created, 0 already there, negative errno. */
int apitok_ensure(const char *path);
/* Reads the token from an open descriptor of the file (from its start) into out
 * (cap > APITOK_MAX): 0, -EINVAL (empty, too short or long, a character outside
 * b64token), or a read error. */
int apitok_read_fd(int fd, char *out, size_t cap);
/* The same from a path. */
int apitok_read(const char *path, char *out, size_t cap);
/* True when s (len bytes) is a valid token (APITOK_MIN is not enforced here: main.cf
 * api_token may be shorter). */
bool apitok_valid(const char *s, size_t len);
/* True when every api_listen address is a loopback address. */
bool apitok_loopback_only(const cfg_t *cfg);
/* 0, or -1 with "FILE:LINE: ..." in why when api_insecure is set and an api_listen
 * address is not loopback, or when only one of api_tls_cert and api_tls_key is set. */
int apitok_check(const cfg_t *cfg, char *why, size_t cap);

#endif
