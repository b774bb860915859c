/* netacl: the address lists of main.cf (sip_trusted_peers, sip_pike_exempt,
 * register_contact_allow, media_allow_targets), addresses and CIDR ranges. */
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

static void test_bytes_match_ipv4_and_ipv6(void **state) {
    (void)state;
    struct netacl l;
    char err[128];
    assert_int_equal(netacl_parse(" 10.0.0.0/8,192.0.2.7  fd00::/8 ::1", &l, err, sizeof err), 0);
    assert_int_equal(l.n, 4);
    uint8_t a4[4] = {10, 200, 1, 1}, b4[4] = {11, 0, 0, 1}, c4[4] = {192, 0, 2, 7},
            d4[4] = {192, 0, 2, 8};
    assert_true(netacl_match_bytes(&l, AF_INET, a4));
    assert_false(netacl_match_bytes(&l, AF_INET, b4));
    assert_true(netacl_match_bytes(&l, AF_INET, c4));
    assert_false(netacl_match_bytes(&l, AF_INET, d4));
    uint8_t a6[16] = {0xfd, 1}, b6[16] = {0xfe, 0x80}, lo6[16] = {[15] = 1};
    assert_true(netacl_match_bytes(&l, AF_INET6, a6));
    assert_false(netacl_match_bytes(&l, AF_INET6, b6));
    assert_true(netacl_match_bytes(&l, AF_INET6, lo6));
    assert_int_equal(netacl_parse("0.0.0.0/0", &l, err, sizeof err), 0);
    assert_true(netacl_match_bytes(&l, AF_INET, b4));
    assert_false(netacl_match_bytes(&l, AF_INET6, a6));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_addresses_and_ranges_match),
        cmocka_unit_test(test_empty_list_matches_nothing),
        cmocka_unit_test(test_bad_entries_are_named),
        cmocka_unit_test(test_bytes_match_ipv4_and_ipv6),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
