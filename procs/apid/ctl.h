/*
 * NAME
 *   ctl - apid's call and media control: the REST routes that read dialog records from
 *   Redis and ask dialogd, mediad and routerd over IPC, and the operator drain of a mediad.
 * DESCRIPTION
 *   Each route defers its HTTP answer and runs as a job: Redis reads (dlgstore.h), then
 *   IPC requests with a timeout each (ipc_request), and answers from api_records.h's mappings.
 *     dialogs        every record, two legs each (api_dialog_legs_append)
 *     dialog get     the record (A- or B-leg Call-ID), then MediaStatsRequest to its mediad
 *     dialog hangup  the record, then DialogHangupRequest to the dialogd instance it names
 *                    (only for calls of this node: another node's call is 409)
 *     sessions       MediaListRequest to every connected mediad, merged
 *     dialplan       DialplanReloadRequest to every connected routerd
 *     drain start    MediaDrainRequest{on} to the mediad (202 once it said yes), then
 *                    rounds of DialogMigrateRequest to every dialogd, summed; a round is
 *                    asked again every second while calls wait for a prompt to end or
 *                    moves are still under way (in_progress), at most CTL_DRAIN_MAX_MS;
 *                    then the drain is completed (the mediad stays off until drain
 *                    cancel). Events drain.started, drain.progress,
 *                    drain.completed, drain.cancelled go to the event stream.
 *     drain cancel   MediaDrainRequest{off}
 *   A job's HTTP answer comes when its last reply does, or with a 503 at its deadline (a
 *   stalled Redis or peer never holds a request); a missing peer is a 503 at once.
 * OWNERSHIP
 *   ctl_t borrows the worker (its Redis link, peers and shm) and the event stream. Jobs
 *   live until their last callback (IPC and Redis callbacks always come: reply, timeout
 *   or close); ctl_free detaches them, so late callbacks only free.
 * LOOP
 *   apid's loop.
 * ERRORS
 *   Answered to the HTTP call: 503 (peer or Redis missing, failed, silent), 404 (unknown
 *   call), 409 (another node's call), 400 (dialplan refused, with its JSON path), 500 (out
 *   of memory). Unexpected replies are logged rate-limited.
 * SEE ALSO
 *   api_records.h, api_views.h, dlgstore.h, events.h, proto/dialog.proto,
 *   proto/media.proto, proto/route.proto
 */
#ifndef SB_CTL_H
#define SB_CTL_H

#include <stdbool.h>
#include <stdint.h>

#include "api_base.h"
#include "events.h"
#include "http.h"
#include "worker.h"

#define CTL_TIMEOUT_MS 2000           /* one IPC request (list, stats, hangup, drain flag) */
#define CTL_RELOAD_TIMEOUT_MS 5000    /* routerd reads and checks the dialplan file */
#define CTL_MIGRATE_TIMEOUT_MS 60000  /* dialogd re-INVITEs both legs of every call */
#define CTL_DRAIN_MAX_MS (10 * 60000) /* rounds for calls playing a prompt stop after this */

typedef struct ctl ctl_t;

/* NULL when out of memory. */
ctl_t *ctl_new(worker_t *w, events_t *events);
void ctl_free(ctl_t *c);
/* Every tick of apid's timer: deadlines, the next drain rounds. */
void ctl_tick(ctl_t *c, int64_t now_mono_ms);
/* The drain table (API_MAX_MEDIAD entries, by mediad instance) for api_env. */
const struct api_drain *ctl_drains(const ctl_t *c);

/* Each fills resp for its route: deferred, or at once with an error. call_id is copied. */
void ctl_dialogs(ctl_t *c, http_call_t *call, struct http_response *resp);
void ctl_dialog_get(ctl_t *c, const char *call_id, http_call_t *call, struct http_response *resp);
void ctl_dialog_hangup(ctl_t *c, const char *call_id, http_call_t *call,
                       struct http_response *resp);
void ctl_sessions(ctl_t *c, http_call_t *call, struct http_response *resp);
void ctl_dialplan_reload(ctl_t *c, http_call_t *call, struct http_response *resp);
void ctl_drain_start(ctl_t *c, int instance, bool aggressive, http_call_t *call,
                     struct http_response *resp);
void ctl_drain_cancel(ctl_t *c, int instance, http_call_t *call, struct http_response *resp);

#endif
