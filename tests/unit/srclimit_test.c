/* srclimit: sip_pike_exempt parsing and matching (sipd). */
#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "procs/sipd/srclimit.h"

static union sipaddr addr(const char *ip) {
    union sipaddr a;
    memset(&a, 0, sizeof a);
    assert_int_equal(sipaddr_parse(ip, 5060, &a, NULL), 0);
    return a;
}

static void test_exempt_ranges_match_ipv4_ipv6_and_mapped(void **state) {
    (void)state;
    struct srclimit_config cfg;
    char err[128];
    memset(&cfg, 0, sizeof cfg);
    assert_int_equal(
        srclimit_parse_exempt("10.1.0.0/16, 192.0.2.7 2001:db8::/32", &cfg, err, sizeof err), 0);
    assert_int_equal(cfg.exempt.n, 3);
    union sipaddr a = addr("10.1.200.3"), b = addr("10.2.0.1"), c = addr("192.0.2.7"),
                  d = addr("192.0.2.8"), e = addr("2001:db8:5::1"), f = addr("2001:db9::1"),
                  g = addr("::ffff:10.1.0.9");
    assert_true(srclimit_is_exempt(&cfg, &a));
    assert_false(srclimit_is_exempt(&cfg, &b));
    assert_true(srclimit_is_exempt(&cfg, &c));
    assert_false(srclimit_is_exempt(&cfg, &d));
    assert_true(srclimit_is_exempt(&cfg, &e));
    assert_false(srclimit_is_exempt(&cfg, &f));
    assert_true(srclimit_is_exempt(&cfg, &g));
}

static void test_odd_prefix_lengths_and_empty_list(void **state) {
    (void)state;
    struct srclimit_config cfg;
    char err[128];
    memset(&cfg, 0, sizeof cfg);
    assert_int_equal(srclimit_parse_exempt("198.51.100.128/25", &cfg, err, sizeof err), 0);
    union sipaddr in = addr("198.51.100.200"), out = addr("198.51.100.127");
    assert_true(srclimit_is_exempt(&cfg, &in));
    assert_false(srclimit_is_exempt(&cfg, &out));
    assert_int_equal(srclimit_parse_exempt("  ", &cfg, err, sizeof err), 0);
    assert_int_equal(cfg.exempt.n, 0);
    assert_false(srclimit_is_exempt(&cfg, &in));
}

static void test_bad_entries_are_refused_naming_them(void **state) {
    (void)state;
    struct srclimit_config cfg;
    char err[128];
    static const char *const bad[] = {"10.0.0.0/33", "::/129", "example.com", "10.0.0.1/",
                                      "10.0.0.1/8x", "/8",     "1.2.3.4/-1"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        memset(&cfg, 0, sizeof cfg);
        err[0] = '\0';
        assert_int_equal(srclimit_parse_exempt(bad[i], &cfg, err, sizeof err), -EINVAL);
        assert_non_null(strstr(err, bad[i]));
    }
    char many[65 * 12] = "";
    for (int i = 0; i < 65; i++) /* NETACL_MAX is 64 */
        strcat(many, "10.0.0.1 ");
    assert_int_equal(srclimit_parse_exempt(many, &cfg, err, sizeof err), -EINVAL);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exempt_ranges_match_ipv4_ipv6_and_mapped),
        cmocka_unit_test(test_odd_prefix_lengths_and_empty_list),
        cmocka_unit_test(test_bad_entries_are_refused_naming_them),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
