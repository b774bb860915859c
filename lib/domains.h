/*
 * NAME
 *   domains - the SIP domain this node serves, and the one canonical AOR (RFC 3261 10.3).
 * DESCRIPTION
 *   A node serves one SIP domain under several names, as Kamailio's aliases and
 *   auto_aliases: the entries of main.cf sip_domains (host names, lower-cased; IPv4 and
 *   IPv6 addresses, compared as numbers, IPv6 with or without brackets) and, with
 *   sip_auto_aliases, every local address (getifaddrs() at domains_new, so at start and
 *   at each reload) plus all of 127.0.0.0/8, ::1 and the name localhost. The first entry
 *   of sip_domains names the domain; without entries it is "localhost" (then a name of
 *   the domain too).
 *   domains_ours answers whether a host is one of those names; domains_host gives an
 *   AOR's canonical host: the domain's name when the host is ours, else the host as
 *   written in lower case (an IPv6 reference in brackets). domains_aor writes the one
 *   canonical AOR every registration key and every lookup uses: "sip:USER@HOST" (sips: is
 *   sip:), the user as written (escapes normalised: only what may not stand as itself
 *   stays %XX, upper-case hex, RFC 3261 19.1.4), HOST the canonical host; every port,
 *   password, parameter and header dropped (keys are user@domain, as Kamailio's registrar
 *   keys them). domains_aor_text does the same from an AOR string. A host on the wire may
 *   be any hostname-like text (sipd's URI rules); a sip_domains entry must be a valid
 *   name or address (10.1.1 is refused there).
 *   It never parses a whole SIP URI (sipd does, sipuri.h): it reads AOR strings and host
 *   fields that processes pass to each other or that an operator typed.
 * OWNERSHIP
 *   domains_t is its creator's (a worker rebuilds it at reload: lib/worker.h w->domains).
 *   Functions borrow their text arguments; a NULL domains_t is the default domain
 *   ("localhost", no aliases).
 * LOOP
 *   Pure code except domains_new (getifaddrs); never logs.
 * ERRORS
 *   domains_new, domains_check: NULL or -1 with the reason in why. The AOR functions:
 *   -EINVAL (not an AOR or host), -ENOSPC (out too small).
 * SEE ALSO
 *   docs/registrar.md, procs/sipd/sipuri.h
 */
#ifndef SB_DOMAINS_H
#define SB_DOMAINS_H

#include <stdbool.h>
#include <stddef.h>

#define DOMAINS_DEFAULT_NAME "localhost"
#define DOMAINS_MAX_HOST 256 /* longest host name, IPv6 reference in brackets included */

typedef struct domains domains_t;

/* The served set of a sip_domains value (space, tab or comma separated names and numeric
 * addresses) and sip_auto_aliases. NULL with why when an entry is neither a host name nor
 * an address, or when getifaddrs() fails or memory is short. */
domains_t *domains_new(const char *list, bool auto_aliases, char *why, size_t whylen);
void domains_free(domains_t *d);
/* 0 when list is a valid sip_domains value, else -1 with the reason (names the entry). */
int domains_check(const char *list, char *why, size_t whylen);

/* The domain's name as an AOR host ("pbx.example.com", "192.0.2.1", "[2001:db8::1]"). */
const char *domains_name(const domains_t *d);
/* True when host (len bytes: a name, an IPv4 address, an IPv6 address with or without
 * brackets; no port) is one of the domain's names. */
bool domains_ours(const domains_t *d, const char *host, size_t len);
/* Number of served addresses (tests, the log line at start). */
size_t domains_addr_count(const domains_t *d);

/* The canonical host of an AOR whose host part is host (host_len bytes: a host, perhaps
 * with :port, ;parameters and ?headers, which are dropped; empty: the domain) into out,
 * NUL-terminated: the domain's name when the host is ours, else the host as written in
 * lower case (IPv6 in brackets). Its length or a negative errno. */
int domains_host(const domains_t *d, const char *host, size_t host_len, char *out, size_t cap);
/* The canonical AOR of user (user_len bytes as written, may be 0: "sip:HOST") at host
 * (host_len bytes: a host, perhaps with :port, ;parameters and ?headers, which are
 * dropped; empty: the domain) into out, NUL-terminated: its length or a negative errno. */
int domains_aor(const domains_t *d, const char *user, size_t user_len, const char *host,
                size_t host_len, char *out, size_t cap);
/* The same from an AOR string: sip: or sips:, [user[:password]@]host[:port][;params]
 * [?headers]. */
int domains_aor_text(const domains_t *d, const char *text, size_t len, char *out, size_t cap);

#endif
