/*
 * NAME
 *   media_target - which addresses named in SDP mediad may send media to (the closed
 *   relay's target rule).
 * DESCRIPTION
 *   A target is refused when it is unspecified, loopback (127/8, ::1), link-local
 *   (169.254/16, fe80::/10), multicast (224/4, ff00::/8), broadcast, or one of the
 *   node's own addresses (its
 *   interfaces' and its media addresses): sending there would make mediad reflect media
 *   into the host, its link or itself. Two exceptions: the target is inside one of
 *   media_allow_targets' CIDRs, or the side's signaling source is itself of the same kind
 *   (a phone on this host may name loopback or our addresses, one on the link a
 *   link-local one) or is the target. A refused target is never sent to; the side is
 *   heard, and answered, only from the address it latches from (media_relay.h).
 * OWNERSHIP
 *   A struct media_targets is a value; nothing is allocated.
 * LOOP
 *   mediad's loop (at configuration and per SDP), and the unit tests.
 * ERRORS
 *   media_targets_config: -EINVAL with the reason when media_allow_targets does not parse.
 */
#ifndef SB_MEDIA_TARGET_H
#define SB_MEDIA_TARGET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "media_addr.h"
#include "netacl.h"
#include "resources.h"

#define MEDIA_OWN_MAX 64

enum media_target_kind {
    MEDIA_TARGET_PUBLIC = 0, /* any other address: allowed */
    MEDIA_TARGET_UNSPEC,
    MEDIA_TARGET_LOOPBACK, /* loopback, or one of ours: this host */
    MEDIA_TARGET_LINKLOCAL,
    MEDIA_TARGET_MULTICAST, /* multicast and broadcast */
};

struct media_targets {
    struct netacl allow; /* media_allow_targets */
    media_sa_t own[MEDIA_OWN_MAX]; /* port 0 */
    size_t n_own;
};

/* t from media_allow_targets and the node's interface addresses (getifaddrs). */
int media_targets_config(struct media_targets *t, const char *allow, char *why, size_t whylen);
/* The kind of ip (port ignored; IPv4-mapped IPv6 as its IPv4); extra: one more address of
 * ours (NULL or none: not any). */
enum media_target_kind media_target_kind(const struct media_targets *t, const media_sa_t *ip,
                                         const media_sa_t *extra);
/* Whether mediad may send to ip for a side whose signaling source is signal_ip (none:
 * unknown); extra as above. */
bool media_target_ok(const struct media_targets *t, const media_sa_t *ip,
                     const media_sa_t *signal_ip, const media_sa_t *extra);

#endif
