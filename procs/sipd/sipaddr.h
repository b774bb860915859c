/*
 * NAME
 *   sipaddr - a socket address of a SIP peer or of ours: text, parsing, comparison (sipd).
 * DESCRIPTION
 *   union sipaddr holds an IPv4 or IPv6 address and port. Numeric only: sipd never
 *   resolves names here. IPv4-mapped IPv6 addresses compare equal to their IPv4 form.
 *   Pure functions: no I/O, no state.
 * OWNERSHIP
 *   The caller's buffers.
 * LOOP
 *   Any.
 * ERRORS
 *   Negative errno where said.
 */
#ifndef SB_SIPD_SIPADDR_H
#define SB_SIPD_SIPADDR_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

union sipaddr {
    struct sockaddr sa;
    struct sockaddr_in sin;
    struct sockaddr_in6 sin6;
};

/* Numeric text of an address and its port; 0, or -EAFNOSUPPORT. */
int sipaddr_text(const union sipaddr *a, char *ip, size_t iplen, int *port);
/* Sets the port of an address. */
void sipaddr_set_port(union sipaddr *a, int port);
/* Parses a numeric IPv4 or IPv6 address (brackets allowed) with port into a; 0, or
 * -EINVAL. */
int sipaddr_parse(const char *ip, int port, union sipaddr *a, socklen_t *len);
/* Same address and port (IPv4-mapped IPv6 equals its IPv4 form). */
bool sipaddr_equal(const union sipaddr *a, const union sipaddr *b);
/* Same address, ports ignored (IPv4-mapped IPv6 equals its IPv4 form). */
bool sipaddr_same_host(const union sipaddr *a, const union sipaddr *b);
/* The IPv4 address of an IPv4-mapped IPv6 one, else a copy. */
void sipaddr_unmap(const union sipaddr *in, union sipaddr *out);
/* The wildcard address (0.0.0.0, ::). */
bool sipaddr_is_any(const union sipaddr *a);

/* What kind of address a is (an IPv4-mapped IPv6 one as its IPv4 address): the ones a
 * registration's Contact may not name unless allowed (docs/security.md). */
enum sipaddr_scope {
    SIPADDR_GLOBAL = 0,  /* anything else (private ranges included) */
    SIPADDR_UNSPECIFIED, /* 0.0.0.0/8, :: */
    SIPADDR_LOOPBACK,    /* 127.0.0.0/8, ::1 */
    SIPADDR_LINK_LOCAL,  /* 169.254.0.0/16, fe80::/10 */
    SIPADDR_MULTICAST,   /* 224.0.0.0/4 and 240.0.0.0/4 (broadcast too), ff00::/8 */
};
enum sipaddr_scope sipaddr_scope(const union sipaddr *a);
/* "loopback", "link-local", ... for a 403's reason. */
const char *sipaddr_scope_name(enum sipaddr_scope s);

#endif
