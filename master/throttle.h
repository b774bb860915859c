/*
 * NAME
 *   throttle - how long master waits before respawning a worker that keeps dying.
 * DESCRIPTION
 *   A process that dies before it was ready, or within THROTTLE_STABLE_MS of its start,
 *   extends its slot's failure streak; one that ran longer starts a new streak. The first
 *   death of a streak is respawned at once (a crash of a long-running worker costs no
 *   wait); then the wait doubles from THROTTLE_BASE_MS up to the service_throttle_time
 *   limit, so a program that fails at once is forked a handful of times, not in a loop.
 * LOOP
 *   master's loop; pure functions.
 */
#ifndef SB_THROTTLE_H
#define SB_THROTTLE_H

#include <stdbool.h>
#include <stdint.h>

#define THROTTLE_BASE_MS 250
#define THROTTLE_STABLE_MS 10000

/* The new failure streak after a death: ready_seen whether it reported ready (exec
 * programs count as ready), uptime_ms how long it ran. */
unsigned throttle_next_streak(unsigned streak, bool ready_seen, int64_t uptime_ms);
/* Wait before the next fork for a failure streak, capped at max_ms. */
int64_t throttle_delay_ms(unsigned streak, int64_t max_ms);

#endif
