/*
 * NAME
 *   sipuri - SIP and SIPS URIs (RFC 3261 19.1) and the address-of-record form of one.
 * DESCRIPTION
 *   sipuri_parse reads a sip: or sips: URI through libosip2's URI parser into scheme,
 *   user (as written), host (lower case, an IPv6 reference without brackets), port and
 *   the transport, maddr and lr parameters, and refuses what osip lets through but a
 *   URI may not hold (an empty user before '@', a host with other characters than a
 *   hostname's or an IPv6 address's, a port that is not 1-65535). sipuri_aor writes the
 *   one canonical AOR (RFC 3261 10.3, 19.1.4) through domains_aor (lib/domains.h):
 *   "sip:USER@HOST", the user unescaped (only what may not stand as itself stays %XX,
 *   upper-case hex), HOST the served domain's name when the host is one of its names or
 *   addresses, else the host in lower case; the port, password and every parameter and
 *   header dropped, sips: written as sip: (keys are user@domain, as Kamailio's registrar
 *   keys them). Every AOR sipd hands on is one.
 * OWNERSHIP
 *   A struct sipuri holds copies; user points into the text given to sipuri_parse.
 * LOOP
 *   Pure code, on sipd's loop (and in unit tests). Never does I/O, never logs.
 * ERRORS
 *   -EINVAL malformed, -EPROTONOSUPPORT another scheme (tel:, http:...), -ENAMETOOLONG
 *   longer than SIPURI_MAX_TEXT or a host longer than its field, -ENOSPC (no room).
 */
#ifndef SB_SIPD_SIPURI_H
#define SB_SIPD_SIPURI_H

#include <stdbool.h>
#include <stddef.h>

#include "domains.h"

#define SIPURI_MAX_TEXT 1024 /* longest URI read */
#define SIPURI_MAX_HOST 256

struct sipuri {
    bool sips;                   /* the sips scheme */
    const char *user;            /* as written (escaped), into the parsed text */
    size_t user_len;             /* 0: no user part */
    char host[SIPURI_MAX_HOST];  /* lower case; IPv6 without brackets */
    bool ipv6;                   /* host is an IPv6 reference */
    int port;                    /* 0: absent */
    char transport[16];          /* transport parameter, lower case, "" absent */
    char maddr[SIPURI_MAX_HOST]; /* maddr parameter, lower case, "" absent */
    bool lr;                     /* lr parameter present */
};

/* Parses len bytes of text (a URI without <>); 0 with u filled, else a negative errno. */
int sipuri_parse(const char *text, size_t len, struct sipuri *u);

/* The canonical AOR of u into out (NUL-terminated), its host mapped through the served
 * domain d (borrowed; NULL: the default, "localhost" without aliases): the length, or
 * -ENOSPC. Without a user part it is "sip:HOST". */
int sipuri_aor(const domains_t *d, const struct sipuri *u, char *out, size_t cap);

/* sipuri_parse then sipuri_aor. */
int sipuri_aor_of(const domains_t *d, const char *text, size_t len, char *out, size_t cap);

#endif
