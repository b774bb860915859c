/*
 * NAME
 *   api_metrics - GET /metrics: the Prometheus text exposition (format 0.0.4) of the node.
 * DESCRIPTION
 *   Reads struct api_env only: apid's Redis link and registration count, every slot of the
 *   process table (up, restarts, each shm counter as a counter or a gauge, by service, role
 *   and instance), and the statistics beside the slots summed over the node (SIP requests
 *   by method and responses by code, each way; the call setup time histogram). Label
 *   values are escaped as the format wants (\\, \" and \n). No I/O, no state.
 * OWNERSHIP
 *   env is borrowed; the page returned is malloc'd, the caller's (free()).
 * LOOP
 *   apid's loop (pure code). Slots are read only through shm_proc_read.
 * ERRORS
 *   NULL when out of memory.
 */
#ifndef SB_API_METRICS_H
#define SB_API_METRICS_H

#include "api_base.h"

#define API_PROM "text/plain; version=0.0.4; charset=utf-8"

/* The metrics page of env; malloc'd, NULL when out of memory. */
char *api_metrics(const struct api_env *env);

#endif
