/*
 * NAME
 *   config - load main.cf and master.cf together and check them against each other.
 * DESCRIPTION
 *   What master (at start and reload) and `switchboard check|start|reload` run: parse
 *   CONFDIR/main.cf, then CONFDIR/master.cf (expanding $names with main.cf), then the
 *   checks that need both: the total of maxproc fits the shm process table, at most one
 *   exec service per name, ... Warnings of both files are kept for the caller to print.
 * OWNERSHIP
 *   On success the caller owns *cfg and *mcf (cfg_free, mcf_free).
 * LOOP
 *   Start-up and reload; reads two files.
 * ERRORS
 *   -1 with "FILE:LINE: what" in err; nothing is returned then.
 */
#ifndef SB_CONFIG_H
#define SB_CONFIG_H

#include <stddef.h>

#include "cfg.h"
#include "mastercf.h"

int config_load(const char *confdir, cfg_t **cfg, mcf_t **mcf, char *err, size_t errlen);
/* Number of processes the configuration runs (the sum of maxproc). */
int config_process_count(const mcf_t *mcf);

#endif
