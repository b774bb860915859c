/*
 * NAME
 *   natping - keeps the NAT pinholes of phones registered through this sipd open, and
 *   notices the ones that left (nathelper-style keepalives).
 * DESCRIPTION
 *   After each 200 to a REGISTER, natping_sync learns the AOR's bindings from routerd's
 *   reply and keeps those that came through this instance from behind NAT (SipPeer.nated)
 *   and the RFC 5626 outbound flows over TCP (SipPeer.outbound).
 *   Every interval, a UDP binding gets an OPTIONS from the address it registered to
 *   (branch z9hG4bKsb<instance>xka..., so an answer that reaches another instance is
 *   handed back); any response counts as alive (natping_response). A binding that
 *   misses `misses` pings in a row, or whose TCP connection closed (its flow is gone,
 *   RFC 5626), is reported to gone() (which removes it from the registrar) and forgotten.
 *   Bindings past their expiry are forgotten without a word. Lives beside core_dialog,
 *   above core_local (how we name ourselves) and below core.c, which owns it.
 * OWNERSHIP
 *   natping owns its entries and their strings; the core it was made with outlives it.
 * LOOP
 *   sipd's loop: its timer and the core's callbacks.
 * ERRORS
 *   Out of memory, or 200,000 bindings pinged already: a binding is not pinged (logged,
 *   rate-limited). A ping that cannot be
 *   sent counts as a miss.
 */
#ifndef SB_SIPD_NATPING_H
#define SB_SIPD_NATPING_H

#include <stdbool.h>
#include <stdint.h>

#include "core_int.h"
#include "proto/sip.pb-c.h"

typedef struct natping natping_t;

/* What a binding that went away was registered with (borrowed during the call). */
struct natping_gone {
    const char *aor, *uri, *call_id;
    uint32_t cseq;
    const char *instance; /* RFC 5626: the binding's +sip.instance and reg-id ("", 0 none) */
    uint32_t reg_id;
    const char *addr; /* its flow: the source its REGISTER came from (numeric) */
    uint32_t port;
    const char *why; /* "no answer to N pings" or "connection closed" */
};
typedef void (*natping_gone_fn)(struct core *c, const struct natping_gone *g);

/* A pinger for core c; interval_ms 0 makes one that keeps nothing. NULL: out of memory. */
natping_t *natping_new(struct core *c, uint64_t interval_ms, unsigned misses, natping_gone_fn gone);
/* New interval and misses (a reload); 0 forgets every binding and stops. */
void natping_configure(natping_t *np, uint64_t interval_ms, unsigned misses);
/* The AOR's bindings after a REGISTER's 200 (every current one): those of this instance
 * from behind NAT are kept (their ping state kept when known), the AOR's others dropped. */
void natping_sync(natping_t *np, const char *aor, Sb__Binding *const *bindings, size_t n);
/* A response whose top Via branch is b: true when it answered one of our pings. */
bool natping_response(natping_t *np, struct sipmsg_str b);
/* How many bindings are kept. */
size_t natping_count(const natping_t *np);
/* Stops the timer and frees everything (on the loop's next turn). */
void natping_free(natping_t *np);

#endif
