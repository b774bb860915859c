/*
 * NAME
 *   srclimit - sipd's per-source request limits (pike) and its exempt sources.
 * DESCRIPTION
 *   Applies main.cf's sip_pike_* parameters with the rate table every sipd of the node
 *   shares in shm (shm/pike.h): srclimit_blocked drops, before parsing, every request of
 *   a source that is blocked; srclimit_admit counts a new request (not a retransmission:
 *   the caller asks only for requests no transaction absorbed) and says whether it may be
 *   served. Dropped requests get no answer (an answer would feed the flood) and are
 *   counted in the slot (sip_pike_dropped); a source that goes over a limit is logged
 *   once when its block starts and counted (sip_pike_blocks). Sources of sip_pike_exempt
 *   (addresses or CIDR ranges, IPv4 and IPv6) are never counted nor blocked.
 * OWNERSHIP
 *   struct srclimit is a value the core embeds; it borrows the segment and the slot.
 * LOOP
 *   sipd's loop.
 * ERRORS
 *   srclimit_parse_exempt: -EINVAL with the bad word in err.
 */
#ifndef SB_SIPD_SRCLIMIT_H
#define SB_SIPD_SRCLIMIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "netacl.h"
#include "shm.h"
#include "sipaddr.h"

struct srclimit_config {
    struct shm_pike_limits pike;
    struct netacl exempt; /* sip_pike_exempt */
};

struct srclimit {
    struct srclimit_config cfg;
    struct shm_pike *table; /* NULL: no segment, nothing limited */
    struct shm_proc *slot;
};

/* Parses sip_pike_exempt (addresses and ADDR/BITS, space or comma separated) into cfg. */
int srclimit_parse_exempt(const char *text, struct srclimit_config *cfg, char *err, size_t errlen);
/* Whether addr is in one of cfg's exempt ranges. */
bool srclimit_is_exempt(const struct srclimit_config *cfg, const union sipaddr *addr);
/* A request from src arrived (not yet parsed): true when src is blocked (drop it). */
bool srclimit_blocked(struct srclimit *sl, const union sipaddr *src);
/* A new request from src (an INVITE when call): true when it may be served; false when
 * src is over its limits (drop it silently). */
bool srclimit_admit(struct srclimit *sl, const union sipaddr *src, bool call);

#endif
