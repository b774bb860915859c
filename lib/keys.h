/*
 * NAME
 *   keys - the Redis key layout, in one place: every process that reads or writes a key
 *   builds it here.
 * DESCRIPTION
 *   Each key keeps its identity in one hash tag ({...}) so a call's or an AOR's keys stay
 *   on one Redis Cluster slot; no command spans two tags. Layout (docs/registrar.md,
 *   docs/calls.md):
 *     sb:reg:{AOR}       hash: contact URI -> binding record (routerd)
 *     sb:regexp:{AOR}    not written: deleted with its AOR's bindings when found
 *     sb:dlg:{Call-ID}   hash: a call's record, by its A-leg Call-ID (dialogd)
 *     sb:dlgb:{Call-ID}  string: a B-leg Call-ID -> its call's A-leg Call-ID (dialogd)
 *     sb:events          the Pub/Sub channel of registration and call events
 *     sb:sub:{USER@REALM} hash: a subscriber's ha1_md5, ha1_sha256 (docs/security.md)
 *     sb:auth:{secret}   string: the nonce secret every routerd of every node shares
 *     sb:nc:{NONCE}      string: the highest nonce-count seen with a nonce (routerd)
 *     sb:authfail:{ADDR} string: failed authentications from ADDR in the ban window
 *     sb:ban:{ADDR}      string: ADDR is banned (value: when, ms) until the key expires
 * OWNERSHIP
 *   sb_key writes into the caller's buffer.
 * ERRORS
 *   sb_key returns -ENAMETOOLONG when the key does not fit (nothing usable in out).
 */
#ifndef SB_KEYS_H
#define SB_KEYS_H

#include <errno.h>
#include <stddef.h>
#include <stdio.h>

#define SB_KEY_REG "sb:reg:"
#define SB_KEY_REGEXP "sb:regexp:"
#define SB_KEY_DLG "sb:dlg:"
#define SB_KEY_DLGB "sb:dlgb:"
#define SB_EVENTS_CHANNEL "sb:events"
#define SB_KEY_SUB "sb:sub:"
#define SB_KEY_AUTH_SECRET "sb:auth:{secret}"
#define SB_KEY_NC "sb:nc:"
#define SB_KEY_AUTHFAIL "sb:authfail:"
#define SB_KEY_BAN "sb:ban:"

/* SCAN patterns over every key of a kind. */
#define SB_KEY_REG_ALL SB_KEY_REG "*"
#define SB_KEY_REGEXP_ALL SB_KEY_REGEXP "*"
#define SB_KEY_DLG_ALL SB_KEY_DLG "*"
#define SB_KEY_SUB_ALL SB_KEY_SUB "*"
#define SB_KEY_BAN_ALL SB_KEY_BAN "*"

/* prefix{id} into out: 0, or -ENAMETOOLONG. */
static inline int sb_key(char *out, size_t cap, const char *prefix, const char *id) {
    int n = snprintf(out, cap, "%s{%s}", prefix, id ? id : "");
    return n < 0 || (size_t)n >= cap ? -ENAMETOOLONG : 0;
}

#endif
