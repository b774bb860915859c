/* throttle: when master respawns a dying worker. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "master/throttle.h"

static void test_first_death_of_a_stable_worker_respawns_at_once(void **state) {
    (void)state;
    unsigned streak = throttle_next_streak(7, true, THROTTLE_STABLE_MS + 1);
    assert_int_equal(streak, 1);
    assert_int_equal(throttle_delay_ms(streak, 60000), 0);
}

static void test_death_before_ready_extends_streak_even_after_long_uptime(void **state) {
    (void)state;
    assert_int_equal(throttle_next_streak(3, false, 600000), 4);
}

static void test_delay_doubles_from_base_and_caps(void **state) {
    (void)state;
    assert_int_equal(throttle_delay_ms(2, 60000), THROTTLE_BASE_MS);
    assert_int_equal(throttle_delay_ms(3, 60000), 2 * THROTTLE_BASE_MS);
    assert_int_equal(throttle_delay_ms(4, 60000), 4 * THROTTLE_BASE_MS);
    assert_int_equal(throttle_delay_ms(40, 60000), 60000);
    assert_int_equal(throttle_delay_ms(40, 100), 100);
}

/* The bound: a program failing at once is forked fewer than 10 times in 10 s. */
static void test_failing_at_once_forks_fewer_than_ten_times_in_ten_seconds(void **state) {
    (void)state;
    int64_t t = 0;
    unsigned streak = 0;
    int forks = 1; /* the first start */
    for (;;) {
        streak = throttle_next_streak(streak, false, 5);
        t += 5 + throttle_delay_ms(streak, 60000);
        if (t > 10000)
            break;
        forks++;
    }
    assert_true(forks < 10);
    assert_true(forks >= 4); /* it does keep trying */
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_first_death_of_a_stable_worker_respawns_at_once),
        cmocka_unit_test(test_death_before_ready_extends_streak_even_after_long_uptime),
        cmocka_unit_test(test_delay_doubles_from_base_and_caps),
        cmocka_unit_test(test_failing_at_once_forks_fewer_than_ten_times_in_ten_seconds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
