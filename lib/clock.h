/*
 * NAME
 *   clock - wall and monotonic time in microseconds.
 * DESCRIPTION
 *   clock_wall_us for timestamps people read (start times, logs); clock_mono_us for ages
 *   and timeouts (CLOCK_MONOTONIC is one clock for every process on the host, so shm
 *   heartbeats written by one process are comparable in another).
 */
#ifndef SB_CLOCK_H
#define SB_CLOCK_H

#include <stdint.h>
#include <time.h>

static inline int64_t clock_wall_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static inline int64_t clock_mono_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

#endif
