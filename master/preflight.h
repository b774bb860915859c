/*
 * NAME
 *   preflight - what the workers will load from main.cf, checked before they start.
 * DESCRIPTION
 *   switchboard check and start, and master at its start, run it after main.cf and
 *   master.cf parsed: redis_address (the form rds_open takes), media_address (mediad's
 *   IPv4 address), dialplan_gateways (NAME=sip:host[:port]), audio_path (a directory),
 *   the dialplan (routerd's own loader, dialplan_load_at: a syntax error names line and
 *   column, a bad value its JSON path), and every play_audio file of the dialplan
 *   (mediad's lookup, res_audio_open). Started as root, the files are then opened again
 *   the way a worker does: directories while root, files after the drop to service_user,
 *   so a file the service user cannot read is named with its mode and owner (Postfix's
 *   `postfix check`). Each problem names the file and line of main.cf, or the dialplan's
 *   path; report is called once per problem.
 * LOOP
 *   Start-up only (forks a child for the check as service_user; blocks on it).
 * ERRORS
 *   The number of problems found; 0: all a worker loads will load.
 */
#ifndef SB_PREFLIGHT_H
#define SB_PREFLIGHT_H

#include "cfg.h"

typedef void (*preflight_report_fn)(void *arg, const char *problem);

int preflight_check(const cfg_t *cfg, preflight_report_fn report, void *arg);

#endif
