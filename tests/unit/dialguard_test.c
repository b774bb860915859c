/* dialguard: a dialed number must match dialplan_gateway_numbers to go to a gateway, and
 * text put into a URI's user part is escaped so that it cannot add a parameter, header,
 * host or port (what reaches sipd's URI parser is read as the dialog's own). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "procs/routerd/dialguard.h"
#include "procs/routerd/dialplan.h"

#define DEFAULT_PATTERN "^[+0-9*#]{1,32}$"

static void test_default_pattern_takes_numbers_only(void **state) {
    (void)state;
    dialguard_t *g = dialguard_new();
    char err[200];
    assert_false(dialguard_number_ok(g, "1234")); /* nothing compiled: nothing goes */
    assert_int_equal(dialguard_set(g, DEFAULT_PATTERN, err, sizeof err), 0);
    assert_true(dialguard_number_ok(g, "1234"));
    assert_true(dialguard_number_ok(g, "+4930123456"));
    assert_true(dialguard_number_ok(g, "*67#"));
    assert_false(dialguard_number_ok(g, "127.0.0.1:33082;x"));
    assert_false(dialguard_number_ok(g, "127.0.0.1%3A33082%3Bx"));
    assert_false(dialguard_number_ok(g, "12@evil"));
    assert_false(dialguard_number_ok(g, ""));
    assert_false(dialguard_number_ok(g, "123456789012345678901234567890123")); /* 33 */
    assert_false(dialguard_number_ok(g, NULL));
    dialguard_free(g);
}

static void test_bad_pattern_is_refused_and_the_old_one_kept(void **state) {
    (void)state;
    dialguard_t *g = dialguard_new();
    char err[200];
    assert_int_equal(dialguard_set(g, "^[0-9]+$", err, sizeof err), 0);
    assert_int_equal(dialguard_set(g, "^[0-9", err, sizeof err), -EINVAL);
    assert_non_null(strstr(err, "'^[0-9'"));
    assert_true(dialguard_number_ok(g, "42"));
    assert_int_equal(dialguard_pattern_check("(", err, sizeof err), -EINVAL);
    assert_int_equal(dialguard_pattern_check(DEFAULT_PATTERN, err, sizeof err), 0);
    dialguard_free(g);
}

static void test_uri_user_escapes_what_could_add_to_the_uri(void **state) {
    (void)state;
    char out[128];
    assert_int_equal(dialguard_uri_user("+49301234", out, sizeof out), 9);
    assert_string_equal(out, "+49301234");
    dialguard_uri_user("127.0.0.1:33082;x", out, sizeof out);
    assert_string_equal(out, "127.0.0.1%3A33082%3Bx");
    dialguard_uri_user("a@b?c=d>e f", out, sizeof out);
    assert_string_equal(out, "a%40b%3Fc%3Dd%3Ee%20f");
    dialguard_uri_user("*67#", out, sizeof out);
    assert_string_equal(out, "*67%23");
    /* the Request-URI user comes escaped: a well-formed escape stays, a stray % does not */
    dialguard_uri_user("a%3Bb%zz%4", out, sizeof out);
    assert_string_equal(out, "a%3Bb%25zz%254");
    assert_int_equal(dialguard_uri_user("12345", out, 5), -ENOSPC);
    assert_int_equal(dialguard_uri_user(";;", out, 6), -ENOSPC);
}

static void test_sip_target_variables_are_escaped(void **state) {
    (void)state;
    struct dp_vars v = {"7x;maddr=10.0.0.1", "alice", "Alice", "cid"};
    char out[256];
    int n = dialplan_expand_with("sip:${destination}@gw.example.com:5060", &v, dialguard_uri_user,
                                 out, sizeof out);
    assert_int_equal(n, (int)strlen(out));
    assert_string_equal(out, "sip:7x%3Bmaddr%3D10.0.0.1@gw.example.com:5060");
    assert_int_equal(dialplan_expand("sip:${destination}@gw", &v, out, sizeof out),
                     (int)strlen("sip:7x;maddr=10.0.0.1@gw"));
    assert_int_equal(dialplan_expand_with("sip:${destination}@gw", &v, dialguard_uri_user, out, 20),
                     -ENOSPC);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_default_pattern_takes_numbers_only),
        cmocka_unit_test(test_bad_pattern_is_refused_and_the_old_one_kept),
        cmocka_unit_test(test_uri_user_escapes_what_could_add_to_the_uri),
        cmocka_unit_test(test_sip_target_variables_are_escaped),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
