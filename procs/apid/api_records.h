/*
 * NAME
 *   api_records - Redis records and mediad sessions as the REST API shows them: a binding
 *   of the location service, a call's dialog legs, a media session.
 * DESCRIPTION
 *   Pure mappings from what regstore.c, dlgstore.c and ctl.c read (routerd's binding JSON
 *   of docs/registrar.md, dialogd's record hash of docs/calls.md, mediad's
 *   MediaSessionInfo) to the prototype's JSON shapes, and their sort orders. A record
 *   field that is absent reads as "" or 0; a record that is not one is skipped.
 * OWNERSHIP
 *   Arguments are borrowed, except stats of api_dialog_detail (taken). Entries are
 *   appended to the caller's arrays; json_t * returned are new references.
 * LOOP
 *   apid's loop (pure code).
 * ERRORS
 *   -1 or NULL when out of memory; nothing is logged.
 */
#ifndef SB_API_RECORDS_H
#define SB_API_RECORDS_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "api_base.h"
#include "proto/media.pb-c.h"

/* The AOR of a registration key "sb:reg:{AOR}" (or "sb:regexp:{AOR}"): a pointer into key
 * and its length in *len, or NULL when key is not one. */
const char *api_aor_of_key(const char *key, size_t keylen, size_t *len);
/* Appends to list (a JSON array) the entry of one binding from its Redis record (the
 * routerd JSON of docs/registrar.md) as GET /api/v1/registrations shows it: 1 appended,
 * 0 skipped (unreadable record or expired at now_ms), -1 out of memory. */
int api_registration_append(json_t *list, const char *aor, size_t aor_len, const char *contact,
                            size_t contact_len, const char *record, size_t record_len,
                            int64_t now_ms);
/* Sorts the entries of list by aor, then contact. */
void api_registrations_sort(json_t *list);

/* The prototype's dialog state of a dialogd record state (routing, calling, answered,
 * confirmed, ending): Initial, Early (calling after a provisional with a tag came:
 * ringing_ms > 0), WaitingACK, Confirmed, Terminating; "Terminated" for anything else. */
const char *api_dialog_state(const char *state, int64_t ringing_ms);
/* A dialogd record (HGETALL of sb:dlg:{A}: a JSON object of string fields, the layout of
 * docs/calls.md) as GET /api/v1/dialogs shows it: the A leg (inbound) and, once it has a
 * Call-ID, the B leg (outbound) appended to list. Returns the number appended (0: not a
 * record), -1 out of memory. */
int api_dialog_legs_append(json_t *list, const json_t *rec, int64_t now_wall_ms);
/* Sorts dialog records by created_ms, then A-leg Call-ID. */
void api_dialogs_sort(json_t *records);
/* GET /api/v1/dialogs/{call_id}: the call, both legs and its media (stats: the mediad
 * session's JSON, api_session_json, taken; NULL when mediad did not say). NULL when out
 * of memory. */
json_t *api_dialog_detail(const json_t *rec, int64_t now_wall_ms, json_t *stats);

/* One mediad session (MediaSessionInfo) as GET /api/v1/sessions shows it; instance is the
 * mediad that holds it. NULL when out of memory. */
json_t *api_session_json(const Sb__MediaSessionInfo *info, unsigned instance);

#endif
