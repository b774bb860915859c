/* advertise: the sip_advertise value, its entries, which one a local address gets, and
 * errors that name the bad entry. */
#include <setjmp.h>
#include <stdarg.h>
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "advertise.h"

static struct advertise a;
static char err[256];

static void test_empty_value_advertises_nothing(void **state) {
    (void)state;
    assert_int_equal(advertise_parse("", &a, err, sizeof err), 0);
    assert_int_equal(a.n, 0);
    assert_null(advertise_lookup(&a, "10.0.0.5"));
    assert_int_equal(advertise_parse(NULL, &a, err, sizeof err), 0);
    assert_int_equal(advertise_parse("  \t ", &a, err, sizeof err), 0);
    assert_int_equal(a.n, 0);
}

static void test_local_entry_wins_over_the_one_for_every_address(void **state) {
    (void)state;
    assert_int_equal(advertise_parse("203.0.113.1 10.0.0.5!203.0.113.10 "
                                     "[fd00::5]!sip.example.net:5070 10.0.1.5![2001:db8::1]:5080",
                                     &a, err, sizeof err),
                     0);
    assert_int_equal(a.n, 4);
    const struct advertise_entry *e = advertise_lookup(&a, "10.0.0.5");
    assert_non_null(e);
    assert_string_equal(e->host, "203.0.113.10");
    assert_int_equal(e->port, 0); /* the local port is kept */
    e = advertise_lookup(&a, "fd00::5");
    assert_string_equal(e->host, "sip.example.net");
    assert_int_equal(e->port, 5070);
    e = advertise_lookup(&a, "[fd00:0::5]"); /* any spelling of the address */
    assert_string_equal(e->host, "sip.example.net");
    e = advertise_lookup(&a, "10.0.1.5");
    assert_string_equal(e->host, "2001:db8::1"); /* without brackets, like a local address */
    assert_int_equal(e->port, 5080);
    e = advertise_lookup(&a, "::ffff:10.0.0.5"); /* an IPv4-mapped address is its IPv4 one */
    assert_string_equal(e->host, "203.0.113.10");
    e = advertise_lookup(&a, "192.0.2.7");
    assert_true(e->any);
    assert_string_equal(e->host, "203.0.113.1");
}

static void test_bare_ipv6_public_without_port(void **state) {
    (void)state;
    assert_int_equal(advertise_parse("2001:db8::10", &a, err, sizeof err), 0);
    assert_string_equal(advertise_lookup(&a, "127.0.0.1")->host, "2001:db8::10");
    assert_int_equal(advertise_lookup(&a, "127.0.0.1")->port, 0);
}

static void test_only_local_entries_leave_other_addresses_alone(void **state) {
    (void)state;
    assert_int_equal(advertise_parse("10.0.0.5!203.0.113.10:5062", &a, err, sizeof err), 0);
    assert_null(advertise_lookup(&a, "10.0.0.6"));
    assert_null(advertise_lookup(&a, "not an address"));
}

static void bad(const char *value, const char *message) {
    assert_int_equal(advertise_parse(value, &a, err, sizeof err), -EINVAL);
    assert_int_equal(a.n, 0);
    assert_string_equal(err, message);
}

static void test_bad_entries_are_named(void **state) {
    (void)state;
    bad("203.0.113.1 host.example!1.2.3.4",
        "entry 'host.example!1.2.3.4': LOCAL is not a numeric address");
    bad("1.2.3.4:0", "entry '1.2.3.4:0': port out of range 1-65535");
    bad("1.2.3.4:65536", "entry '1.2.3.4:65536': port out of range 1-65535");
    bad("1.2.3.4:50x", "entry '1.2.3.4:50x': bad port");
    bad("1.2.3.4:", "entry '1.2.3.4:': bad port");
    bad("[1.2.3.4]:5060", "entry '[1.2.3.4]:5060': not an IPv6 address in brackets");
    bad("[2001:db8::1", "entry '[2001:db8::1': unclosed '['");
    bad("[2001:db8::1]5060", "entry '[2001:db8::1]5060': junk after ']'");
    bad("2001:db8::1:5060:x", "entry '2001:db8::1:5060:x': not an address (IPv6 with a port "
                              "needs brackets)");
    bad("bad_host.example", "entry 'bad_host.example': PUBLIC is neither an address nor a host "
                            "name");
    bad("-x.example", "entry '-x.example': PUBLIC is neither an address nor a host name");
    bad("1.1.1.1!2.2.2.2!3.3.3.3", "entry '1.1.1.1!2.2.2.2!3.3.3.3': more than one '!'");
    bad("10.0.0.5!", "entry '10.0.0.5!': PUBLIC is neither an address nor a host name");
    bad("1.2.3.4 5.6.7.8", "entry '5.6.7.8': a second entry for every address");
    bad("10.0.0.5!1.2.3.4 10.0.0.5!5.6.7.8",
        "entry '10.0.0.5!5.6.7.8': a second entry for this LOCAL");
}

static void test_too_many_entries(void **state) {
    (void)state;
    char value[4096] = "";
    for (int i = 0; i <= ADVERTISE_MAX; i++) {
        char e[64];
        snprintf(e, sizeof e, "10.0.0.%d!203.0.113.%d ", i + 1, i + 1);
        strcat(value, e);
    }
    assert_int_equal(advertise_parse(value, &a, err, sizeof err), -EINVAL);
    assert_string_equal(err, "entry '10.0.0.33!203.0.113.33': too many entries");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty_value_advertises_nothing),
        cmocka_unit_test(test_local_entry_wins_over_the_one_for_every_address),
        cmocka_unit_test(test_bare_ipv6_public_without_port),
        cmocka_unit_test(test_only_local_entries_leave_other_addresses_alone),
        cmocka_unit_test(test_bad_entries_are_named),
        cmocka_unit_test(test_too_many_entries),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
