/* domains: the served SIP domain (sip_domains, sip_auto_aliases) and the canonical AOR
 * (RFC 3261 10.3) every registration key and lookup uses. */
#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "domains.h"

static char why[256];

static domains_t *served(const char *list, bool auto_aliases) {
    domains_t *d = domains_new(list, auto_aliases, why, sizeof why);
    if (!d)
        fail_msg("domains_new(%s): %s", list, why);
    return d;
}

static bool ours(const domains_t *d, const char *host) {
    return domains_ours(d, host, strlen(host));
}

static const char *aor(const domains_t *d, const char *text) {
    static char out[256];
    int rc = domains_aor_text(d, text, strlen(text), out, sizeof out);
    if (rc < 0)
        snprintf(out, sizeof out, "ERR %d", rc);
    return out;
}

static void test_first_entry_names_the_domain(void **state) {
    (void)state;
    domains_t *d = served("PBX.Example.com sip.example.com 192.0.2.10", false);
    assert_string_equal(domains_name(d), "pbx.example.com");
    assert_true(ours(d, "pbx.example.com"));
    assert_true(ours(d, "SIP.EXAMPLE.COM"));
    assert_true(ours(d, "192.0.2.10"));
    assert_false(ours(d, "example.com"));
    assert_false(ours(d, "pbx.example.com.evil"));
    domains_free(d);
}

static void test_empty_list_is_localhost(void **state) {
    (void)state;
    domains_t *d = served("", false);
    assert_string_equal(domains_name(d), "localhost");
    assert_true(ours(d, "LocalHost"));
    assert_false(ours(d, "127.0.0.1")); /* without auto aliases, no address is ours */
    assert_string_equal(aor(d, "sip:1002@127.0.0.1"), "sip:1002@127.0.0.1");
    domains_free(d);
    assert_string_equal(domains_name(NULL), DOMAINS_DEFAULT_NAME);
    assert_true(domains_ours(NULL, "localhost", 9));
    assert_false(domains_ours(NULL, "127.0.0.1", 9));
}

static void test_localhost_is_ours_only_with_auto_aliases_or_by_default(void **state) {
    (void)state;
    domains_t *d = served("pbx.example.com", false);
    assert_false(ours(d, "localhost"));
    domains_free(d);
    d = served("pbx.example.com", true); /* the loopback addresses' name */
    assert_true(ours(d, "localhost"));
    assert_string_equal(aor(d, "sip:1002@localhost"), "sip:1002@pbx.example.com");
    domains_free(d);
}

static void test_addresses_compare_as_numbers(void **state) {
    (void)state;
    domains_t *d = served("pbx.example.com 2001:DB8::10 [2001:db8::20] 192.0.2.10", false);
    assert_true(ours(d, "2001:db8:0:0::10"));
    assert_true(ours(d, "[2001:0db8::10]"));
    assert_true(ours(d, "2001:db8::20"));
    assert_true(ours(d, "::ffff:192.0.2.10")); /* IPv4-mapped */
    assert_false(ours(d, "2001:db8::11"));
    assert_false(ours(d, "192.0.2.11"));
    assert_false(ours(d, "[2001:db8::10"));
    domains_free(d);
}

static void test_an_address_may_name_the_domain(void **state) {
    (void)state;
    domains_t *d = served("2001:DB8::10 pbx.example.com", false);
    assert_string_equal(domains_name(d), "[2001:db8::10]");
    assert_string_equal(aor(d, "sip:1002@pbx.example.com"), "sip:1002@[2001:db8::10]");
    domains_free(d);
    d = served("[2001:db8::10]", false);
    assert_string_equal(domains_name(d), "[2001:db8::10]");
    domains_free(d);
    d = served("192.0.2.10", false);
    assert_string_equal(domains_name(d), "192.0.2.10");
    domains_free(d);
}

static void test_auto_aliases_take_loopback_and_local_addresses(void **state) {
    (void)state;
    domains_t *d = served("pbx.example.com", true);
    assert_true(ours(d, "127.0.0.1"));
    assert_true(ours(d, "127.0.0.2"));
    assert_true(ours(d, "127.255.255.254"));
    assert_true(ours(d, "::1"));
    assert_true(ours(d, "[::1]"));
    assert_false(ours(d, "128.0.0.1"));
    assert_false(ours(d, "192.0.2.99"));
    /* every address of every interface */
    struct ifaddrs *ifa = NULL;
    assert_int_equal(getifaddrs(&ifa), 0);
    for (struct ifaddrs *i = ifa; i; i = i->ifa_next) {
        char text[INET6_ADDRSTRLEN];
        if (!i->ifa_addr ||
            (i->ifa_addr->sa_family != AF_INET && i->ifa_addr->sa_family != AF_INET6))
            continue;
        const void *a =
            i->ifa_addr->sa_family == AF_INET
                ? (const void *)&((struct sockaddr_in *)(void *)i->ifa_addr)->sin_addr
                : (const void *)&((struct sockaddr_in6 *)(void *)i->ifa_addr)->sin6_addr;
        assert_non_null(inet_ntop(i->ifa_addr->sa_family, a, text, sizeof text));
        if (!ours(d, text))
            fail_msg("the local address %s of %s is not ours", text, i->ifa_name);
    }
    freeifaddrs(ifa);
    assert_true(domains_addr_count(d) >= 1);
    domains_free(d);
}

static void test_without_auto_aliases_no_local_address_is_ours(void **state) {
    (void)state;
    domains_t *d = served("pbx.example.com", false);
    assert_false(ours(d, "127.0.0.1"));
    assert_false(ours(d, "127.0.0.2"));
    assert_false(ours(d, "::1"));
    assert_int_equal(domains_addr_count(d), 0);
    domains_free(d);
}

static void test_aor_of_ours_is_the_domain(void **state) {
    (void)state;
    domains_t *d = served("pbx.example.com", true);
    assert_string_equal(aor(d, "sip:1002@127.0.0.1"), "sip:1002@pbx.example.com");
    assert_string_equal(aor(d, "sip:1002@127.0.0.2:5070"), "sip:1002@pbx.example.com");
    assert_string_equal(aor(d, "sips:1002@[::1]:5061;transport=tls"), "sip:1002@pbx.example.com");
    assert_string_equal(aor(d, "SIP:1002@PBX.example.COM:5060"), "sip:1002@pbx.example.com");
    assert_string_equal(aor(d, "sip:127.0.0.1"), "sip:pbx.example.com");
    domains_free(d);
}

static void test_aor_of_a_foreign_host_keeps_it(void **state) {
    (void)state;
    domains_t *d = served("pbx.example.com", true);
    assert_string_equal(aor(d, "sip:1002@Example.ORG:5060;user=phone"), "sip:1002@example.org");
    assert_string_equal(aor(d, "sip:1002@192.0.2.99"), "sip:1002@192.0.2.99");
    assert_string_equal(aor(d, "sip:1002@[2001:DB8::99]:5060"), "sip:1002@[2001:db8::99]");
    domains_free(d);
}

static void test_aor_user_is_as_written_escapes_normalised(void **state) {
    (void)state;
    assert_string_equal(aor(NULL, "sip:Alice@example.com"), "sip:Alice@example.com");
    assert_string_equal(aor(NULL, "sip:%41lice:secret@example.com"), "sip:Alice@example.com");
    assert_string_equal(aor(NULL, "sip:a%2fb%20c@h?subject=x"), "sip:a/b%20c@h");
    char out[64];
    /* from fields: user and a host sipd parsed (IPv6 without brackets) */
    assert_int_equal(domains_aor(NULL, "1002", 4, "2001:db8::1", 11, out, sizeof out),
                     (int)strlen("sip:1002@[2001:db8::1]"));
    assert_string_equal(out, "sip:1002@[2001:db8::1]");
    /* an empty host is our domain */
    assert_true(domains_aor(NULL, "1002", 4, "", 0, out, sizeof out) > 0);
    assert_string_equal(out, "sip:1002@localhost");
}

static void test_aor_is_idempotent(void **state) {
    (void)state;
    domains_t *d = served("pbx.example.com", true);
    static const char *const in[] = {"sip:1002@127.0.0.1", "sip:a%20b@example.org",
                                     "sip:x@[2001:db8::1]", "sip:pbx.example.com"};
    for (size_t i = 0; i < sizeof in / sizeof *in; i++) {
        char once[256];
        snprintf(once, sizeof once, "%s", aor(d, in[i]));
        assert_string_equal(aor(d, once), once);
    }
    domains_free(d);
}

static void test_aor_refuses_what_is_no_aor(void **state) {
    (void)state;
    static const char *const bad[] = {
        "",
        "1002@example.com",
        "tel:+15551234",
        "sip:",
        "sip:@example.com",
        "sip:1002@",
        "sip:1002@:5060",
        "sip:1002@ex ample.com",
        "sip:<1002@h>",
        "sip:1002@h:50x0",
        "sip:1002@h:123456",
        "sip:1002@[::1",
        "sip:1002@a/b",
    };
    char out[64];
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        if (domains_aor_text(NULL, bad[i], strlen(bad[i]), out, sizeof out) != -EINVAL)
            fail_msg("'%s' taken as an AOR: %s", bad[i], out);
    assert_int_equal(domains_aor_text(NULL, "sip:a@b\0c", 9, out, sizeof out), -EINVAL);
}

static void test_canonical_host(void **state) {
    (void)state;
    domains_t *d = served("pbx.example.com", true);
    char out[64];
    assert_int_equal(domains_host(d, "127.0.0.9:5060", 14, out, sizeof out), 15);
    assert_string_equal(out, "pbx.example.com");
    assert_int_equal(domains_host(d, "", 0, out, sizeof out), 15);
    assert_string_equal(out, "pbx.example.com");
    assert_true(domains_host(d, "2001:DB8::9", 11, out, sizeof out) > 0);
    assert_string_equal(out, "[2001:db8::9]");
    assert_true(domains_host(d, "Example.ORG;lr", 14, out, sizeof out) > 0);
    assert_string_equal(out, "example.org");
    /* sipd lets a hostname-like host through; it is no address, so not ours */
    assert_true(domains_host(d, "300.1.1.1", 9, out, sizeof out) > 0);
    assert_string_equal(out, "300.1.1.1");
    assert_int_equal(domains_host(d, "example.org", 11, out, 11), -ENOSPC);
    assert_int_equal(domains_host(d, "exa mple.org", 12, out, sizeof out), -EINVAL);
    domains_free(d);
}

static void test_aor_that_does_not_fit(void **state) {
    (void)state;
    char out[21];
    assert_int_equal(domains_aor_text(NULL, "sip:1001@example.com", 20, out, sizeof out), 20);
    assert_int_equal(domains_aor_text(NULL, "sip:1001@example.com", 20, out, sizeof out - 1),
                     -ENOSPC);
    assert_int_equal(domains_aor_text(NULL, "sip:1001@example.com", 20, out, 0), -ENOSPC);
}

static void test_bad_entries_are_refused_with_their_text(void **state) {
    (void)state;
    static const char *const bad[] = {"pbx.example.com:5060", "bad!name",     "10.1.1", "300.1.1.1",
                                      "[2001:db8::1",         "2001:db8::zz", "[]"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        char list[64];
        snprintf(list, sizeof list, "ok.example.com %s", bad[i]);
        assert_int_equal(domains_check(list, why, sizeof why), -1);
        if (!strstr(why, bad[i]))
            fail_msg("the reason '%s' does not name '%s'", why, bad[i]);
        assert_null(domains_new(list, true, why, sizeof why));
    }
    assert_int_equal(domains_check("a.example.com, 192.0.2.1\t::1 [::2]", why, sizeof why), 0);
    assert_int_equal(domains_check("", why, sizeof why), 0);
    assert_int_equal(domains_check(NULL, why, sizeof why), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_first_entry_names_the_domain),
        cmocka_unit_test(test_empty_list_is_localhost),
        cmocka_unit_test(test_localhost_is_ours_only_with_auto_aliases_or_by_default),
        cmocka_unit_test(test_addresses_compare_as_numbers),
        cmocka_unit_test(test_an_address_may_name_the_domain),
        cmocka_unit_test(test_auto_aliases_take_loopback_and_local_addresses),
        cmocka_unit_test(test_without_auto_aliases_no_local_address_is_ours),
        cmocka_unit_test(test_aor_of_ours_is_the_domain),
        cmocka_unit_test(test_aor_of_a_foreign_host_keeps_it),
        cmocka_unit_test(test_aor_user_is_as_written_escapes_normalised),
        cmocka_unit_test(test_aor_is_idempotent),
        cmocka_unit_test(test_aor_refuses_what_is_no_aor),
        cmocka_unit_test(test_canonical_host),
        cmocka_unit_test(test_aor_that_does_not_fit),
        cmocka_unit_test(test_bad_entries_are_refused_with_their_text),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
