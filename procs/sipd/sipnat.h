/*
 * NAME
 *   sipnat - is the sender of a SIP message behind NAT? (sipd)
 * DESCRIPTION
 *   The tests of Kamailio's nathelper nat_uac_test, on what sipd received: for a request,
 *   the top Via's sent-by host is not the source address, or its port (5060 when absent)
 *   is not the source port (tests 2 and 16); for a request or a response, the first
 *   Contact's host is a private address (RFC 1918, RFC 6598 100.64.0.0/10, RFC 4193
 *   fc00::/7) that is not the source address (test 1), or it has ;transport=tcp and its
 *   host is not the source address (so we never open a TCP connection to a host that did
 *   not send us the message: it is reached on its flow). A sent-by that is a host name is
 *   not the source address. IPv4-mapped IPv6 sources compare as IPv4. Never does I/O.
 * OWNERSHIP
 *   Reads m and src; keeps nothing.
 * LOOP
 *   Pure code, on sipd's loop.
 * ERRORS
 *   None: what cannot be read is no evidence of NAT (Contact) or is (Via).
 */
#ifndef SB_SIPD_SIPNAT_H
#define SB_SIPD_SIPNAT_H

#include <stdbool.h>

#include "sipdest.h"
#include "sipmsg.h"

/* Whether m, received from src, comes from behind NAT (the tests above). */
bool sipnat_detect(const sipmsg_t *m, const union sipaddr *src);
/* A private address: 10/8, 172.16/12, 192.168/16, 100.64/10, fc00::/7. */
bool sipnat_private(const union sipaddr *a);

#endif
