/* throttle - see throttle.h */
#include "throttle.h"

unsigned throttle_next_streak(unsigned streak, bool ready_seen, int64_t uptime_ms) {
    if (ready_seen && uptime_ms >= THROTTLE_STABLE_MS)
        return 1;
    return streak + 1;
}

int64_t throttle_delay_ms(unsigned streak, int64_t max_ms) {
    if (streak <= 1)
        return 0;
    int64_t d = THROTTLE_BASE_MS;
    for (unsigned i = 2; i < streak && d < max_ms; i++)
        d *= 2;
    return d < max_ms ? d : max_ms;
}
