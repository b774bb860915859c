/*
 * NAME
 *   dialguard - what a dialed number may become in a dial target (routerd).
 * DESCRIPTION
 *   A number dialed to a gateway/NAME must match dialplan_gateway_numbers (a POSIX
 *   extended regular expression, main.cf; default ^[+0-9*#]{1,32}$): anything else ends
 *   the call with 484 and nothing goes to the trunk. Text put into the user part of a URI
 *   we build (the dialed number of a gateway dial, every ${...} of a sip: target) is
 *   escaped (RFC 3261 25.1 user part): every byte but letters, digits, -_.!~*'()+ and a
 *   well-formed %XX escape (the Request-URI user comes as written) becomes %XX, so no
 *   ';', '?', ':', '@' or '>' of a caller's can add a parameter, a header, a host or a port.
 *   Never parses SIP: sipd's URI parser reads what we build (docs/security.md).
 * OWNERSHIP
 *   A dialguard_t holds its compiled expression and a copy of its text; dialguard_free.
 * LOOP
 *   routerd's loop (and master's preflight, for dialguard_pattern_check).
 * ERRORS
 *   dialguard_set: -EINVAL with regerror's words in err (the old expression is kept).
 *   dialguard_uri_user: -ENOSPC.
 */
#ifndef SB_ROUTERD_DIALGUARD_H
#define SB_ROUTERD_DIALGUARD_H

#include <stdbool.h>
#include <stddef.h>

typedef struct dialguard dialguard_t;

dialguard_t *dialguard_new(void);
void dialguard_free(dialguard_t *g);
/* Compiles pattern unless it is the one held; 0, or -EINVAL (err says why; old kept). */
int dialguard_set(dialguard_t *g, const char *pattern, char *err, size_t errlen);
/* Whether number may go to a gateway (false while no expression compiled). */
bool dialguard_number_ok(const dialguard_t *g, const char *number);
/* 0 when pattern compiles, else -EINVAL with the reason in err. */
int dialguard_pattern_check(const char *pattern, char *err, size_t errlen);
/* in escaped for a URI user part into out (NUL-terminated): its length, or -ENOSPC. */
int dialguard_uri_user(const char *in, char *out, size_t cap);

#endif
