/* contact_rule: which addresses a REGISTER's Contact may name (us, loopback, link-local,
 * multicast refused unless it is the registering host or register_contact_allow covers
 * it), register_contact_allow's syntax, and sipaddr_scope. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "procs/sipd/contact_rule.h"

static union sipaddr addr(const char *ip) {
    union sipaddr a;
    assert_int_equal(sipaddr_parse(ip, 5060, &a, NULL), 0);
    return a;
}

static const char *refusal(const char *contact, bool us, const char *source, const char *allow) {
    struct contact_allow al;
    char err[200];
    assert_int_equal(contact_allow_parse(allow, &al, err, sizeof err), 0);
    union sipaddr c = addr(contact), s = addr(source);
    return contact_rule_refusal(&c, us, &s, &al);
}

static void test_scopes_of_addresses(void **state) {
    (void)state;
    union sipaddr a;
    a = addr("127.0.0.5");
    assert_int_equal(sipaddr_scope(&a), SIPADDR_LOOPBACK);
    a = addr("::1");
    assert_int_equal(sipaddr_scope(&a), SIPADDR_LOOPBACK);
    a = addr("::ffff:127.0.0.1");
    assert_int_equal(sipaddr_scope(&a), SIPADDR_LOOPBACK);
    a = addr("169.254.1.2");
    assert_int_equal(sipaddr_scope(&a), SIPADDR_LINK_LOCAL);
    a = addr("fe80::1");
    assert_int_equal(sipaddr_scope(&a), SIPADDR_LINK_LOCAL);
    a = addr("224.0.0.1");
    assert_int_equal(sipaddr_scope(&a), SIPADDR_MULTICAST);
    a = addr("255.255.255.255");
    assert_int_equal(sipaddr_scope(&a), SIPADDR_MULTICAST);
    a = addr("ff02::1");
    assert_int_equal(sipaddr_scope(&a), SIPADDR_MULTICAST);
    a = addr("0.0.0.0");
    assert_int_equal(sipaddr_scope(&a), SIPADDR_UNSPECIFIED);
    a = addr("10.0.0.1");
    assert_int_equal(sipaddr_scope(&a), SIPADDR_GLOBAL);
    a = addr("203.0.113.9");
    assert_int_equal(sipaddr_scope(&a), SIPADDR_GLOBAL);
}

static void test_global_contact_is_bound(void **state) {
    (void)state;
    assert_null(refusal("203.0.113.9", false, "198.51.100.1", ""));
    assert_null(refusal("10.1.2.3", false, "198.51.100.1", ""));
}

static void test_contact_naming_us_is_refused_even_from_our_host(void **state) {
    (void)state;
    assert_string_equal(refusal("127.0.0.1", true, "127.0.0.1", ""), "Contact names this server");
    assert_string_equal(refusal("192.0.2.1", true, "198.51.100.1", ""),
                        "Contact names this server");
}

static void test_loopback_is_bound_only_from_the_same_host(void **state) {
    (void)state;
    assert_null(refusal("127.0.0.1", false, "127.0.0.1", ""));
    assert_string_equal(refusal("127.0.0.1", false, "127.0.0.2", ""),
                        "Contact is a loopback address");
    assert_string_equal(refusal("127.0.0.1", false, "203.0.113.9", ""),
                        "Contact is a loopback address");
    assert_null(refusal("fe80::2", false, "fe80::2", ""));
    assert_string_equal(refusal("169.254.0.9", false, "10.0.0.1", ""),
                        "Contact is a link-local address");
}

static void test_multicast_and_unspecified_are_refused(void **state) {
    (void)state;
    assert_string_equal(refusal("224.0.0.1", false, "10.0.0.1", ""),
                        "Contact is a multicast or broadcast address");
    assert_string_equal(refusal("0.0.0.0", false, "10.0.0.1", ""),
                        "Contact is an unspecified address");
}

static void test_allow_list_covers_us_and_loopback(void **state) {
    (void)state;
    assert_null(refusal("127.0.0.1", true, "127.0.0.1", "127.0.0.1"));
    assert_null(refusal("127.0.0.9", false, "203.0.113.9", "10.0.0.0/8, 127.0.0.0/24"));
    assert_string_equal(refusal("127.0.1.9", false, "203.0.113.9", "127.0.0.0/24"),
                        "Contact is a loopback address");
    assert_null(refusal("fe80::1:2", false, "2001:db8::1", "fe80::/64"));
}

static void test_allow_list_syntax(void **state) {
    (void)state;
    struct contact_allow al;
    char err[200];
    assert_int_equal(contact_allow_parse(NULL, &al, err, sizeof err), 0);
    assert_int_equal(al.acl.n, 0);
    assert_int_equal(contact_allow_parse(" 127.0.0.1 ,::1/128 10.0.0.0/8", &al, err, sizeof err),
                     0);
    assert_int_equal(al.acl.n, 3);
    assert_int_equal(contact_allow_parse("127.0.0.1 localhost", &al, err, sizeof err), -EINVAL);
    assert_string_equal(err, "'localhost': not an address or CIDR range");
    assert_int_equal(al.acl.n, 0);
    assert_int_equal(contact_allow_parse("10.0.0.0/33", &al, err, sizeof err), -EINVAL);
    assert_int_equal(contact_allow_parse("10.0.0.0/", &al, err, sizeof err), -EINVAL);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scopes_of_addresses),
        cmocka_unit_test(test_global_contact_is_bound),
        cmocka_unit_test(test_contact_naming_us_is_refused_even_from_our_host),
        cmocka_unit_test(test_loopback_is_bound_only_from_the_same_host),
        cmocka_unit_test(test_multicast_and_unspecified_are_refused),
        cmocka_unit_test(test_allow_list_covers_us_and_loopback),
        cmocka_unit_test(test_allow_list_syntax),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
