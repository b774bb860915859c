/*
 * NAME
 *   api_sse - Server-Sent Events framing (the WHATWG HTML "event stream" format) and the
 *   events apid makes from the process table.
 * DESCRIPTION
 *   An event is "id: ID\nevent: TYPE\ndata: JSON\n\n" with the JSON on one line. A message
 *   published on sb:events becomes an event only when it is a JSON object (valid UTF-8,
 *   no duplicate keys) whose "type" is a name of [a-z0-9._-] (1..64); anything else is
 *   dropped. The process-table watch compares slots with what it saw last and writes
 *   process.died and process.respawned events with jsonw (lib/jsonw.h).
 * OWNERSHIP
 *   Arguments are borrowed; every char * returned is malloc'd, the caller's (free()).
 * LOOP
 *   apid's loop (pure code; events.c does the I/O).
 * ERRORS
 *   NULL when a message is not an event or memory is short; nothing is logged.
 */
#ifndef SB_API_SSE_H
#define SB_API_SSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "shm.h"

/* One event from a type and its JSON data text (one line); length in *len. */
char *api_sse_format(const char *type, const char *data, uint64_t id, size_t *len);
/* One event from a message published on sb:events (re-encoded compact: one line whatever
 * newlines the publisher put in); length in *len. */
char *api_sse_from_message(const char *msg, size_t msg_len, uint64_t id, size_t *len);

/* What apid last saw of a slot, for api_proc_changes. */
struct api_proc_seen {
    int32_t pid;
    uint32_t restarts;
    bool used;
};
/* Compares the process table with seen (updated here) and calls emit for each change:
 * "process.died" (a process gone or replaced: its old pid) and "process.respawned" (a
 * new process in a slot seen before: pid, restarts), with the node_id of the segment's
 * header. data is the event's JSON text. The first call (prime true) only records.
 * Returns the number of events emitted. */
int api_proc_changes(struct api_proc_seen seen[SHM_MAX_PROCS], const struct shm_seg *shm,
                     bool prime, int64_t now_wall_us,
                     void (*emit)(void *arg, const char *type, const char *data), void *arg);

#endif
