/* pike: per-source request rates in shm (keys, sliding windows, blocks, reuse). */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "pike.h"

static struct shm_pike *table;
static const struct shm_pike_limits lim = {
    .window_ms = 1000, .requests = 10, .calls = 3, .block_s = 5};

static int setup(void **state) {
    (void)state;
    table = calloc(1, sizeof *table);
    return table ? 0 : -1;
}

static int teardown(void **state) {
    (void)state;
    free(table);
    return 0;
}

static uint64_t key4(const char *ip) {
    struct sockaddr_in a = {.sin_family = AF_INET};
    inet_pton(AF_INET, ip, &a.sin_addr);
    return shm_pike_key((struct sockaddr *)&a);
}

static uint64_t key6(const char *ip) {
    struct sockaddr_in6 a = {.sin6_family = AF_INET6};
    inet_pton(AF_INET6, ip, &a.sin6_addr);
    return shm_pike_key((struct sockaddr *)&a);
}

static void test_keys_ipv4_mapped_equal_ipv6_by_prefix(void **state) {
    (void)state;
    assert_int_equal(key4("192.0.2.7"), key6("::ffff:192.0.2.7"));
    assert_int_not_equal(key4("192.0.2.7"), key4("192.0.2.8"));
    assert_int_equal(key6("2001:db8:1:2::1"), key6("2001:db8:1:2:ffff::9"));
    assert_int_not_equal(key6("2001:db8:1:2::1"), key6("2001:db8:1:3::1"));
    assert_int_not_equal(key6("2001:db8::1"), 0);
    struct sockaddr other = {.sa_family = AF_UNIX};
    assert_int_equal(shm_pike_key(&other), 0);
}

static void test_under_the_limit_passes_over_it_blocks_once(void **state) {
    (void)state;
    uint64_t k = key4("198.51.100.1"), now = 100000;
    for (int i = 0; i < 10; i++)
        assert_int_equal(shm_pike_admit(table, k, false, &lim, now + (uint64_t)i), SHM_PIKE_PASS);
    assert_false(shm_pike_blocked(table, k, &lim, now + 20));
    assert_int_equal(shm_pike_admit(table, k, false, &lim, now + 20), SHM_PIKE_BLOCKS);
    assert_int_equal(shm_pike_admit(table, k, false, &lim, now + 21), SHM_PIKE_BLOCKED);
    assert_true(shm_pike_blocked(table, k, &lim, now + 22));
    assert_int_equal(shm_pike_find(table, k)->dropped, 3);
    /* another source is not touched */
    assert_int_equal(shm_pike_admit(table, key4("198.51.100.2"), false, &lim, now + 23),
                     SHM_PIKE_PASS);
}

static void test_block_lasts_while_flooding_and_ends_after_quiet(void **state) {
    (void)state;
    uint64_t k = key4("198.51.100.3"), now = 200000;
    for (int i = 0; i < 11; i++)
        shm_pike_admit(table, k, false, &lim, now);
    assert_true(shm_pike_blocked(table, k, &lim, now + 1));
    /* flooding on for 10 s: still blocked at the end (the block is extended) */
    uint64_t t = now;
    for (; t < now + 10000; t += 50)
        assert_true(shm_pike_blocked(table, k, &lim, t));
    /* quiet: blocked until block_s after the last time the rate was over */
    assert_true(shm_pike_blocked(table, k, &lim, t + 2000));
    assert_false(shm_pike_blocked(table, k, &lim, t + 7000));
    assert_int_equal(shm_pike_admit(table, k, false, &lim, t + 7000), SHM_PIKE_PASS);
}

static void test_calls_have_their_own_limit(void **state) {
    (void)state;
    uint64_t k = key4("198.51.100.4"), now = 300000;
    for (int i = 0; i < 3; i++)
        assert_int_equal(shm_pike_admit(table, k, true, &lim, now), SHM_PIKE_PASS);
    assert_int_equal(shm_pike_admit(table, k, true, &lim, now), SHM_PIKE_BLOCKS);
}

static void test_sliding_window_counts_the_previous_one(void **state) {
    (void)state;
    uint64_t k = key4("198.51.100.5");
    /* 8 at the end of one window, 4 at the start of the next: 12 in 100 ms is over (the
     * estimate at 401040 is 4 + 8 * 960 / 1000 = 11) */
    for (int i = 0; i < 8; i++)
        assert_int_equal(shm_pike_admit(table, k, false, &lim, 400950), SHM_PIKE_PASS);
    assert_int_equal(shm_pike_admit(table, k, false, &lim, 401010), SHM_PIKE_PASS);
    assert_int_equal(shm_pike_admit(table, k, false, &lim, 401020), SHM_PIKE_PASS);
    assert_int_equal(shm_pike_admit(table, k, false, &lim, 401030), SHM_PIKE_PASS);
    assert_int_equal(shm_pike_admit(table, k, false, &lim, 401040), SHM_PIKE_BLOCKS);
    /* a steady 9 per window passes */
    uint64_t k2 = key4("198.51.100.6");
    for (uint64_t t = 500000; t < 510000; t += 112)
        assert_int_equal(shm_pike_admit(table, k2, false, &lim, t), SHM_PIKE_PASS);
}

static void test_no_limits_pass_without_an_entry(void **state) {
    (void)state;
    struct shm_pike_limits off = lim;
    off.requests = off.calls = 0;
    uint64_t k = key4("198.51.100.7");
    for (int i = 0; i < 100; i++)
        assert_int_equal(shm_pike_admit(table, k, true, &off, 600000), SHM_PIKE_PASS);
    assert_null(shm_pike_find(table, k));
}

static void test_full_probe_run_reuses_idle_entries_or_passes_untracked(void **state) {
    (void)state;
    struct shm_pike *t = calloc(1, sizeof *t);
    assert_non_null(t);
    /* fill every entry with live sources: new ones are not tracked and pass */
    uint64_t now = 700000;
    for (unsigned i = 0; i < SHM_PIKE_SLOTS; i++) {
        t->entry[i].key = (1ULL << 62) | (0x0a000000u + i);
        t->entry[i].requests = (uint64_t)(now / 1000) << 40 | 1;
    }
    uint64_t k = key4("203.0.113.9");
    assert_int_equal(shm_pike_admit(t, k, false, &lim, now), SHM_PIKE_UNTRACKED);
    /* two windows later they are idle: the source takes one over */
    assert_int_equal(shm_pike_admit(t, k, false, &lim, now + 2000), SHM_PIKE_PASS);
    assert_non_null(shm_pike_find(t, k));
    free(t);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_keys_ipv4_mapped_equal_ipv6_by_prefix),
        cmocka_unit_test(test_under_the_limit_passes_over_it_blocks_once),
        cmocka_unit_test(test_block_lasts_while_flooding_and_ends_after_quiet),
        cmocka_unit_test(test_calls_have_their_own_limit),
        cmocka_unit_test(test_sliding_window_counts_the_previous_one),
        cmocka_unit_test(test_no_limits_pass_without_an_entry),
        cmocka_unit_test(test_full_probe_run_reuses_idle_entries_or_passes_untracked),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
