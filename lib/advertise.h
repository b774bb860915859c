/*
 * NAME
 *   advertise - the sip_advertise table: which address we name ourselves by in Via and
 *   Contact for the local address a message leaves from.
 * DESCRIPTION
 *   The value is space-separated entries, each "PUBLIC[:port]" (for every local address)
 *   or "LOCAL!PUBLIC[:port]" (for that one). LOCAL is a numeric IPv4 or IPv6 address
 *   (brackets allowed, no port); PUBLIC a numeric IPv4 address, a bracketed IPv6 one
 *   (brackets may be left out when no port follows) or a host name; port 1-65535 (absent:
 *   the local port is kept). advertise_lookup gives the entry of a local address: its own
 *   LOCAL! entry first, else the one for every address, else none (name the local
 *   address itself). Never does I/O, never logs.
 * OWNERSHIP
 *   struct advertise is a plain value (no pointers); the caller owns it.
 * LOOP
 *   Pure code: sipd at start and reload, switchboard check.
 * ERRORS
 *   advertise_parse: 0, or -EINVAL with a message naming the entry ("entry 'x': ...") in
 *   err; the table is then empty.
 */
#ifndef SB_LIB_ADVERTISE_H
#define SB_LIB_ADVERTISE_H

#include <stdbool.h>
#include <stddef.h>

#define ADVERTISE_MAX 32
#define ADVERTISE_HOST_MAX 254 /* a host name of 253 characters and its NUL */

struct advertise_entry {
    bool any;                      /* for every local address (no LOCAL!) */
    int family;                    /* LOCAL's: AF_INET or AF_INET6 */
    unsigned char local[16];       /* LOCAL, network order (4 bytes for IPv4) */
    char host[ADVERTISE_HOST_MAX]; /* PUBLIC: IPv6 without brackets */
    int port;                      /* 0: keep the local port */
};

struct advertise {
    size_t n;
    struct advertise_entry entries[ADVERTISE_MAX];
};

/* Parses text (NULL or "": no entries) into a; 0 or -EINVAL (err names the entry). */
int advertise_parse(const char *text, struct advertise *a, char *err, size_t errlen);
/* The entry for local address local_ip (numeric text, IPv6 with or without brackets; an
 * IPv4-mapped IPv6 address is its IPv4 one), or NULL: advertise the address itself. */
const struct advertise_entry *advertise_lookup(const struct advertise *a, const char *local_ip);

#endif
