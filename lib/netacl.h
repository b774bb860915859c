/*
 * NAME
 *   netacl - a list of numeric addresses and CIDR ranges, and whether an address is in it
 *   (main.cf sip_trusted_peers, sip_pike_exempt, register_contact_allow,
 *   media_allow_targets: every address list of main.cf is read by this one parser).
 * DESCRIPTION
 *   netacl_parse reads "192.0.2.10 198.51.100.0/24 2001:db8::/32" (space, tab or comma
 *   separated; an address alone is a /32 or /128); netacl_match answers for a socket
 *   address, an IPv4-mapped IPv6 address counting as its IPv4 one. Host bits set under
 *   the prefix are an error, so a typo cannot widen a range unnoticed.
 * OWNERSHIP
 *   struct netacl is a value (fixed size), the caller's.
 * LOOP
 *   Pure code; never logs.
 * ERRORS
 *   netacl_parse: -EINVAL with the bad entry named in why, -E2BIG past NETACL_MAX entries;
 *   the list is then empty.
 */
#ifndef SB_NETACL_H
#define SB_NETACL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define NETACL_MAX 64

struct netacl_entry {
    int family; /* AF_INET or AF_INET6 */
    uint8_t addr[16];
    unsigned prefix;
};

struct netacl {
    unsigned n;
    struct netacl_entry e[NETACL_MAX];
};

int netacl_parse(const char *list, struct netacl *acl, char *why, size_t whylen);
/* Whether sa (AF_INET or AF_INET6) is in acl. */
bool netacl_match(const struct netacl *acl, const struct sockaddr *sa);
/* Whether addr (4 bytes of AF_INET or 16 of AF_INET6, network order) is in acl. */
bool netacl_match_bytes(const struct netacl *acl, int family, const void *addr);

#endif
