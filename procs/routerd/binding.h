/*
 * NAME
 *   binding - the registrar's rules (RFC 3261 10.3) and the stored binding record.
 * DESCRIPTION
 *   Pure decisions, no I/O: which expiry each Contact of a REGISTER gets (its expires
 *   parameter, else the Expires header, else register_default_expires; cut to
 *   register_max_expires; 0 < expiry < register_min_expires is a 423), whether the
 *   request is well formed (Contact: * only alone and with Expires: 0), the order in
 *   which bindings are given out (q descending, an absent q counting as 1.0, then the
 *   most recent registration first), and the JSON record a binding is stored as in Redis.
 *   It never decides Call-ID/CSeq ordering: that needs the stored bindings and happens
 *   atomically in Redis (location.h).
 * OWNERSHIP
 *   binding_plan_make fills a plan whose changes array is malloc'd (binding_plan_clear
 *   frees it) and whose URIs are borrowed from the request. binding_encode returns a
 *   malloc'd string (binding_encode_into writes into the caller's buffer);
 *   binding_decode one malloc'd block holding the struct and its strings (free() it).
 * LOOP
 *   Any caller; pure code (routerd's loop in practice).
 * ERRORS
 *   Malformed or refused requests are not errors: the plan carries the SIP status to
 *   answer. -ENOMEM / NULL when memory runs out; binding_decode NULL on a record that is
 *   not ours.
 * SEE ALSO
 *   location.h, registrar.h, docs/registrar.md
 */
#ifndef SB_ROUTERD_BINDING_H
#define SB_ROUTERD_BINDING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/sip.pb-c.h"

/* Most Contacts accepted in one REGISTER; more is a 400 (bounds the script and reply). */
#define BINDING_MAX_CONTACTS 32
/* q x 1000 of a Contact without a q parameter, for ordering (RFC 3261 20.10: 0..1). */
#define BINDING_Q_ABSENT_RANK 1000

struct binding_limits {
    uint32_t default_expires; /* register_default_expires */
    uint32_t min_expires;     /* register_min_expires */
    uint32_t max_expires;     /* register_max_expires */
};

/* One Contact of a REGISTER as it will be applied: expires 0 removes the binding. */
struct binding_change {
    const char *uri; /* borrowed from the request */
    uint32_t expires;
    int32_t q;            /* x 1000, -1 when absent */
    const char *instance; /* RFC 5626 +sip.instance, "" none (borrowed) */
    uint32_t reg_id;      /* RFC 5626 reg-id, 0 none: then the binding is keyed by URI */
};

struct binding_plan {
    uint32_t status;      /* 0: apply it; else answer this status now (400, 423) */
    const char *reason;   /* with status: the reason phrase (static) */
    uint32_t min_expires; /* with 423 */
    bool wildcard;        /* Contact: * with Expires: 0: remove every binding */
    size_t n;             /* contacts to apply; 0 and !wildcard: a query */
    struct binding_change *changes;
};

/* A stored binding (what Redis holds for one contact URI of an AOR). */
struct binding {
    char *uri;
    int32_t q; /* x 1000, -1 when none was given */
    char *call_id;
    uint32_t cseq;
    char *user_agent;
    char *transport; /* the SipPeer the REGISTER came from */
    char *addr;
    uint32_t port;
    uint32_t sipd_instance;
    char *local_addr; /* ... the node's address it was sent to, "" unknown */
    uint32_t local_port;
    uint64_t conn_id;         /* ... its TCP connection in sipd_instance, 0 none */
    bool nated;               /* ... the phone is behind NAT */
    char *instance;           /* RFC 5626 +sip.instance, "" for a plain binding */
    uint32_t reg_id;          /* RFC 5626 reg-id, 0 for a plain binding */
    char *path;               /* RFC 3327 Path values joined by '\n', "" none */
    int64_t registered_at_ms; /* wall clock of the REGISTER that last set it */
    int64_t expires_at_ms;
};

/* RFC 3261 10.3 step 7: the expiry one Contact asks for. contact_expires and
 * header_expires are -1 when absent. Returns 0 with *expires set (0: remove, else cut
 * to max), or 423 when 0 < asked < min (then *expires is the asked value). */
int binding_contact_expires(int32_t contact_expires, int32_t header_expires,
                            const struct binding_limits *lim, uint32_t *expires);

/* Validates a REGISTER and computes every Contact's expiry (steps 6 and 7 minus what
 * needs the stored bindings). 0, or -ENOMEM (plan then holds nothing to free). */
int binding_plan_make(const Sb__RegisterRequest *req, const struct binding_limits *lim,
                      struct binding_plan *plan);
void binding_plan_clear(struct binding_plan *plan);

/* The field a change is stored under in its AOR's hash: the contact URI, or for an
 * outbound binding (RFC 5626 6) its key "INSTANCE;reg-id=N", so a REGISTER of the same
 * instance and reg-id replaces the binding whatever its URI. dst has room for
 * binding_field_max(ch) bytes; returns the length (a NUL follows). */
size_t binding_field_max(const struct binding_change *ch);
size_t binding_field_into(const struct binding_change *ch, char *dst);

/* RFC 3327: most Path values a binding keeps (sipd accepts no more). */
#define BINDING_MAX_PATH 8
/* The n Path values of a REGISTER as the record stores them (joined by '\n'; a value
 * holding '\n' is cut there): malloc'd, "" for none; NULL when out of memory. */
char *binding_path_join(char *const *path, size_t n);
/* Splits a record's path in place into at most max values in out; returns how many. */
size_t binding_path_split(char *path, char **out, size_t max);

/* Location order: negative when a comes before b (higher q, then newer, then URI). */
int binding_compare(const struct binding *a, const struct binding *b);
void binding_sort(struct binding **v, size_t n);

/* Whole seconds left at now_ms, rounded up (0 once expired). */
uint32_t binding_seconds_left(const struct binding *b, int64_t now_ms);

/* The record stored in Redis: compact JSON, strings made valid UTF-8 (each invalid byte
 * becomes '?'). NULL when out of memory. */
char *binding_encode(const struct binding *b);
/* The same into text, which has room for binding_encoded_max(b) bytes; returns the length
 * (without the NUL it adds). */
size_t binding_encoded_max(const struct binding *b);
size_t binding_encode_into(const struct binding *b, char *text);
/* Parses a record of binding_encode; NULL when it is not one (or out of memory). */
struct binding *binding_decode(const char *text, size_t len);
/* s (NULL: "") as the record writes a string: quoted, escaped, cleaned as below, with a
 * NUL after it; dst has room for binding_json_string_max(s) bytes. Returns the length. */
size_t binding_json_string_max(const char *s);
size_t binding_json_string_into(const char *s, char *dst);
/* A malloc'd copy of s (NULL: "") as the record stores it: each byte that is not valid
 * UTF-8 becomes '?'. NULL when out of memory. */
char *binding_clean_text(const char *s);
/* The same into dst, which has room for strlen(s) + 1 bytes. */
void binding_clean_into(const char *s, char *dst);

#endif
