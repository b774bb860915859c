/*
 * NAME
 *   callcap - concurrent calls per source address and per caller (dialogd).
 * DESCRIPTION
 *   Counts the calls this dialogd holds by the address their A-leg INVITE came from and
 *   by their caller (the From URI), and refuses a new call past main.cf's
 *   calls_max_per_source or calls_max_per_user (0: no cap). A call counted is
 *   uncounted at its end (a teardown). Counts are this instance's: calls are spread
 *   over dialogd instances by Call-ID, so with maxproc N a source may hold up to N
 *   times the cap on the node. A call brought back from Redis (restore.h) is not counted.
 *   Keys are hashed with a random seed, so a caller cannot aim at another's count.
 * OWNERSHIP
 *   Its table is a feature of the b2b (b->feature[FEATURE_CALLCAP]), freed by
 *   callcap_fini.
 * LOOP
 *   dialogd's loop.
 * ERRORS
 *   Out of memory: the call is not counted and passes.
 */
#ifndef SB_DIALOGD_CALLCAP_H
#define SB_DIALOGD_CALLCAP_H

#include <stdbool.h>

#include "call.h"

void callcap_init(b2b_t *b);
void callcap_fini(b2b_t *b);
/* A new call c from source_addr (may be NULL) by caller from_uri: true when it is under
 * the caps (and counted), false when one is reached (*which names it). */
bool callcap_admit(b2b_t *b, struct call *c, const char *source_addr, const char *from_uri,
                   const char **which);

#endif
