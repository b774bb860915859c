/*
 * NAME
 *   call_events - a call's events on the sb:events channel: call.started, call.ringing,
 *   call.answered, call.ended (docs/api.md: apid relays them to its event stream).
 * DESCRIPTION
 *   One compact JSON object per event (lib/jsonw.h: a display name that is not UTF-8
 *   arrives with U+FFFD in place of the bad bytes), published fire and forget (nothing
 *   when Redis is down). call.ended goes out as the call is freed (a teardown registered by
 *   call_events_init), unless the call leaves quietly with its process.
 * OWNERSHIP
 *   Nothing kept.
 * LOOP
 *   dialogd's loop.
 * ERRORS
 *   An event that cannot be written (out of memory) is logged and not published.
 */
#ifndef SB_DIALOGD_CALL_EVENTS_H
#define SB_DIALOGD_CALL_EVENTS_H

#include "call.h"

void call_events_init(b2b_t *b);
/* type: "call.started", "call.ringing", "call.answered" or "call.ended". */
void call_events_publish(b2b_t *b, struct call *c, const char *type);

#endif
