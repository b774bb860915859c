/* netacl: sip_trusted_peers, addresses and CIDR ranges. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "netacl.h"

static bool in(const struct netacl *acl, const char *ip) {
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
    if (inet_pton(AF_INET, ip, &s4->sin_addr) == 1)
        s4->sin_family = AF_INET;
    else if (inet_pton(AF_INET6, ip, &s6->sin6_addr) == 1)
        s6->sin6_family = AF_INET6;
    else
        fail_msg("bad test address %s", ip);
    return netacl_match(acl, (struct sockaddr *)&ss);
}

static void test_addresses_and_ranges_match(void **state) {
    (void)state;
    struct netacl acl;
    char why[128];
    assert_int_equal(
        netacl_parse("192.0.2.10, 198.51.100.0/24 2001:db8::/32", &acl, why, sizeof why), 0);
    assert_int_equal(acl.n, 3);
    assert_true(in(&acl, "192.0.2.10"));
    assert_false(in(&acl, "192.0.2.11"));
    assert_true(in(&acl, "198.51.100.200"));
    assert_false(in(&acl, "198.51.101.1"));
    assert_true(in(&acl, "2001:db8:1::5"));
    assert_false(in(&acl, "2001:db9::1"));
    assert_true(in(&acl, "::ffff:192.0.2.10")); /* a v4-mapped source is its v4 address */
}

static void test_empty_list_matches_nothing(void **state) {
    (void)state;
    struct netacl acl;
    char why[128];
    assert_int_equal(netacl_parse("", &acl, why, sizeof why), 0);
    assert_false(in(&acl, "127.0.0.1"));
    assert_int_equal(netacl_parse("0.0.0.0/0", &acl, why, sizeof why), 0);
    assert_true(in(&acl, "203.0.113.9"));
    assert_false(in(&acl, "::1"));
}

static void test_bad_entries_are_named(void **state) {
    (void)state;
    struct netacl acl;
    char why[128];
    assert_int_equal(netacl_parse("192.0.2.1 gateway.example.com", &acl, why, sizeof why), -EINVAL);
    assert_non_null(strstr(why, "gateway.example.com"));
    assert_int_equal(netacl_parse("192.0.2.0/33", &acl, why, sizeof why), -EINVAL);
    assert_non_null(strstr(why, "192.0.2.0/33"));
    assert_int_equal(netacl_parse("192.0.2.1/24", &acl, why, sizeof why), -EINVAL);
    assert_non_null(strstr(why, "host bits"));
    assert_int_equal(netacl_parse("10.0.0.0/", &acl, why, sizeof why), -EINVAL);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_addresses_and_ranges_match),
        cmocka_unit_test(test_empty_list_matches_nothing),
        cmocka_unit_test(test_bad_entries_are_named),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
