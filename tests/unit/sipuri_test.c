/* sipuri: SIP URIs through libosip2 and the one canonical AOR (RFC 3261 10.3, 19.1.4). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "procs/sipd/sipuri.h"

static const char *aor_of(const char *text) {
    static char out[256];
    int rc = sipuri_aor_of(NULL, text, strlen(text), out, sizeof out);
    return rc < 0 ? "ERR" : out;
}

static void test_uri_fields_port_and_params(void **state) {
    (void)state;
    const char *t = "sip:1002:secret@Host.Example.COM:5070;Transport=TCP;lr;maddr=10.0.0.1";
    struct sipuri u;
    assert_int_equal(sipuri_parse(t, strlen(t), &u), 0);
    assert_false(u.sips);
    assert_int_equal(u.user_len, 4);
    assert_memory_equal(u.user, "1002", 4);
    assert_string_equal(u.host, "host.example.com");
    assert_int_equal(u.port, 5070);
    assert_string_equal(u.transport, "tcp");
    assert_string_equal(u.maddr, "10.0.0.1");
    assert_true(u.lr);
    assert_false(u.ipv6);
}

static void test_uri_without_user_or_port(void **state) {
    (void)state;
    struct sipuri u;
    assert_int_equal(sipuri_parse("sips:example.com", 16, &u), 0);
    assert_true(u.sips);
    assert_int_equal(u.user_len, 0);
    assert_int_equal(u.port, 0);
    assert_string_equal(u.transport, "");
    assert_false(u.lr);
}

static void test_uri_ipv6_host(void **state) {
    (void)state;
    const char *t = "sip:alice@[2001:DB8::1]:5080;transport=udp";
    struct sipuri u;
    assert_int_equal(sipuri_parse(t, strlen(t), &u), 0);
    assert_true(u.ipv6);
    assert_string_equal(u.host, "2001:db8::1");
    assert_int_equal(u.port, 5080);
    assert_string_equal(aor_of(t), "sip:alice@[2001:db8::1]");
}

static void test_aor_drops_port_and_params(void **state) {
    (void)state;
    assert_string_equal(aor_of("sip:1002@example.com:5060"), "sip:1002@example.com");
    assert_string_equal(aor_of("sip:1002@example.com;transport=tcp?subject=x"),
                        "sip:1002@example.com");
    assert_string_equal(aor_of("sip:1002:pw@example.com"), "sip:1002@example.com");
}

static void test_aor_lowers_host_and_scheme_sips_is_sip(void **state) {
    (void)state;
    assert_string_equal(aor_of("SIP:Bob@EXAMPLE.COM"), "sip:Bob@example.com");
    assert_string_equal(aor_of("sips:bob@Example.com:5061"), "sip:bob@example.com");
}

static void test_aor_unescapes_user(void **state) {
    (void)state;
    assert_string_equal(aor_of("sip:%31002@example.com"), "sip:1002@example.com");
    /* what may not stand as itself stays escaped, upper-case hex */
    assert_string_equal(aor_of("sip:a%2fb%20c@h"), "sip:a/b%20c@h");
    assert_string_equal(aor_of("sip:null-%00-null@h"), "sip:null-%00-null@h");
    assert_string_equal(aor_of("sip:%zz@h"), "sip:%25zz@h");
}

static void test_aor_without_user_is_the_host(void **state) {
    (void)state;
    assert_string_equal(aor_of("sip:Example.COM:5060"), "sip:example.com");
}

static void test_aor_no_room(void **state) {
    (void)state;
    char out[10];
    assert_int_equal(sipuri_aor_of(NULL, "sip:alice@example.com", 21, out, sizeof out), -ENOSPC);
}

static void test_uri_garbage_refused(void **state) {
    (void)state;
    static const char *const bad[] = {
        "",
        "sip:",
        "garbage",
        "sip:@example.com",
        "sip:u@h:",
        "sip:u@h:0",
        "sip:u@h:65536",
        "sip:u@h:5x",
        "sip:u@[::1",
        "sip:u@ho st",
        "sip:u@h>",
        "sip:u@[1.2.3]",
        "sip:u@2001::1",
        ":u@h",
    };
    struct sipuri u;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int rc = sipuri_parse(bad[i], strlen(bad[i]), &u);
        if (rc != -EINVAL)
            fail_msg("\"%s\": %d", bad[i], rc);
    }
    assert_int_equal(sipuri_parse("sip:u@h\0x", 9, &u), -EINVAL);
    assert_int_equal(sipuri_parse("tel:+15551234", 13, &u), -EPROTONOSUPPORT);
    char longer[SIPURI_MAX_TEXT + 8] = "sip:u@h;x=";
    memset(longer + 10, 'a', sizeof longer - 11);
    longer[sizeof longer - 1] = '\0';
    assert_int_equal(sipuri_parse(longer, strlen(longer), &u), -ENAMETOOLONG);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_uri_fields_port_and_params),
        cmocka_unit_test(test_uri_without_user_or_port),
        cmocka_unit_test(test_uri_ipv6_host),
        cmocka_unit_test(test_aor_drops_port_and_params),
        cmocka_unit_test(test_aor_lowers_host_and_scheme_sips_is_sip),
        cmocka_unit_test(test_aor_unescapes_user),
        cmocka_unit_test(test_aor_without_user_is_the_host),
        cmocka_unit_test(test_aor_no_room),
        cmocka_unit_test(test_uri_garbage_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
