/*
 * NAME
 *   dlgstore - apid's reads of dialogd's call records in Redis.
 * DESCRIPTION
 *   dlgstore_list walks the records (SCAN over sb:dlg:*, then one HGETALL per call,
 *   pipelined; at most API_MAX_DIALOGS calls, "truncated" past that); dlgstore_get reads
 *   one call by its A-leg Call-ID (sb:dlg:{A}), or by its B-leg Call-ID through
 *   sb:dlgb:{B}, which names the A-leg one (both asked at once). A record is a JSON object
 *   of the hash's string fields (the layout of docs/calls.md); a record that vanished
 *   between the SCAN and its read (the call ended) is left out. dlgstore never writes.
 * OWNERSHIP
 *   The link is borrowed for the call only. The callback takes the JSON it is given.
 *   When a function returns 0 its callback runs exactly once, later: with Redis's answer,
 *   or with 503 when a command fails or the link closes (pending replies get NULL). The
 *   caller bounds its own wait: a stalled Redis answers late, and the late answer only
 *   frees.
 * LOOP
 *   apid's loop (the Redis link's).
 * ERRORS
 *   Functions: -1 when the link is down or out of memory (no callback). Callbacks: status
 *   200, 404 (dlgstore_get: no such call), 503 (Redis failed), 500 (out of memory).
 * SEE ALSO
 *   api_records.h (api_dialog_*), ctl.h, redis.h, docs/calls.md, docs/api.md
 */
#ifndef SB_DLGSTORE_H
#define SB_DLGSTORE_H

#include <jansson.h>
#include <stdbool.h>

#include "redis.h"

/* records: an array of record objects (status 200), else NULL. */
typedef void (*dlgstore_list_cb)(void *arg, int status, json_t *records, bool truncated);
/* record: the call's record (status 200), else NULL. */
typedef void (*dlgstore_get_cb)(void *arg, int status, json_t *record);

int dlgstore_list(rds_t *redis, dlgstore_list_cb cb, void *arg);
/* call_id is copied. */
int dlgstore_get(rds_t *redis, const char *call_id, dlgstore_get_cb cb, void *arg);

#endif
