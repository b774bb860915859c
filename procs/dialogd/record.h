/*
 * NAME
 *   record - a call's record in Redis (docs/calls.md): written at each state change, read
 *   back when a request reaches a dialogd that does not hold the call.
 * DESCRIPTION
 *   sb:dlg:{A Call-ID} is a hash of both legs' dialog state and the media session;
 *   sb:dlgb:{B Call-ID} names the A Call-ID. The fields are one table (RECORD_FIELDS in
 *   record.c): record_save writes every row and record_load reads every row, so the two
 *   cannot drift. Writes are fire and forget in one MULTI (a reader never sees half); a
 *   Redis that is down costs only the survival of a restart, counted in redis_errors.
 *   Only this module formats the call's keys.
 * OWNERSHIP
 *   record_load copies what it reads into the call (the call owns it after).
 * LOOP
 *   dialogd's loop; hiredis's async context.
 * ERRORS
 *   record_load returns false for a record that is not an established call or lacks a
 *   leg's Call-ID.
 */
#ifndef SB_DIALOGD_RECORD_H
#define SB_DIALOGD_RECORD_H

#include <hiredis/hiredis.h>

#include "call.h"

#define RECORD_TTL_S 86400 /* a dialog record outlives no call by more than a day */

void record_save(b2b_t *b, struct call *c);
/* One numeric field (cheaper than record_save: a single HSET); nothing before the first
 * save. */
void record_save_field(b2b_t *b, struct call *c, const char *field, long long value);
/* The call's keys go (its end). */
void record_forget(b2b_t *b, struct call *c);
/* The keys of the A leg's and of the B leg's Call-IDs go (the legs are about to change). */
void record_drop_keys(b2b_t *b, const char *a_call_id, const char *b_call_id);
/* The B-leg index of call_id goes (a leg that left the call). */
void record_drop_b_index(b2b_t *b, const char *b_call_id);
/* The call c from an HGETALL reply r; false when the record is unusable. */
bool record_load(struct call *c, const redisReply *r);
/* Asks Redis for the record of A Call-ID call_id (HGETALL), or for the A Call-ID a B
 * Call-ID leads to (GET); cb as hiredis's. false when Redis is down. */
bool record_ask(b2b_t *b, const char *call_id, bool by_b_leg, redisCallbackFn *cb, void *arg);

#endif
