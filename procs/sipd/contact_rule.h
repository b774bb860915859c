/*
 * NAME
 *   contact_rule - which addresses a registration's Contact may name (sipd).
 * DESCRIPTION
 *   A binding's Contact is where we later send INVITEs from our own address, so it may
 *   not name this server (our SIP addresses and ports: a call to it comes back to us),
 *   loopback, link-local, multicast or unspecified addresses, unless it is the host the
 *   REGISTER came from (a phone on the same host, or on the link) or an entry of
 *   register_contact_allow (main.cf: addresses or CIDR ranges) covers it. Host names are
 *   not judged here (sipd sends only to numeric addresses). contact_allow_parse reads the
 *   list; contact_rule_refusal decides. Never does I/O.
 * OWNERSHIP
 *   struct contact_allow is a plain value the caller owns.
 * LOOP
 *   Pure code: sipd's loop, at start and reload; unit tests.
 * ERRORS
 *   contact_allow_parse: 0, or -EINVAL with the bad entry named in err (the list is then
 *   empty).
 * SEE ALSO
 *   docs/security.md (Contacts), core_register.h
 */
#ifndef SB_SIPD_CONTACT_RULE_H
#define SB_SIPD_CONTACT_RULE_H

#include <stdbool.h>
#include <stddef.h>

#include "netacl.h"
#include "sipaddr.h"

/* register_contact_allow */
struct contact_allow {
    struct netacl acl;
};

/* Parses "ADDR[/BITS] ..." (space or comma separated; NULL or "": none) into a. */
int contact_allow_parse(const char *text, struct contact_allow *a, char *err, size_t errlen);
/* Whether an entry of a covers addr (an IPv4-mapped IPv6 address as its IPv4 one). */
bool contact_allow_has(const struct contact_allow *a, const union sipaddr *addr);

/* Why a Contact at contact may not be bound (the reason phrase of a 403), or NULL when it
 * may: is_us says whether it names this server (core_local_is_us), source is where the
 * REGISTER came from. */
const char *contact_rule_refusal(const union sipaddr *contact, bool is_us,
                                 const union sipaddr *source, const struct contact_allow *allow);

#endif
