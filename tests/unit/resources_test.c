/* resources: the values and files of main.cf a worker loads, as switchboard check reads them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "redis.h"
#include "resources.h"

static void test_gateways_accept_names_with_sip_uris_and_ports(void **state) {
    (void)state;
    char err[256] = "";
    assert_int_equal(res_gateways_check("", err, sizeof err), 0);
    assert_int_equal(res_gateways_check("carrier=sip:gw.example.com", err, sizeof err), 0);
    assert_int_equal(res_gateways_check("a=sip:10.0.0.1:5060, b=gw2.example.net:5080", err,
                                        sizeof err),
                     0);
    assert_int_equal(res_gateways_check("v6=sip:[2001:db8::1]:5060", err, sizeof err), 0);
}

static void test_gateways_refuse_an_entry_without_name_uri_or_good_port(void **state) {
    (void)state;
    static const char *const bad[] = {
        "broken",           "=sip:gw.example.com", "gw=",        "gw=sip:",
        "gw=sip:host:0",    "gw=sip:host:99999",   "gw=sip:h:5x", "gw=sip:h o",
        "g w=sip:host",     "gw=sip:[::1",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char err[256] = "";
        if (res_gateways_check(bad[i], err, sizeof err) != -EINVAL)
            fail_msg("'%s' was accepted", bad[i]);
        assert_non_null(strstr(err, "want NAME=sip:host[:port]"));
    }
    char err[256];
    assert_int_equal(res_gateways_check("ok=sip:gw.example.com nope", err, sizeof err), -EINVAL);
    assert_non_null(strstr(err, "'nope'"));
}

static void test_gateway_uri_finds_the_named_entry(void **state) {
    (void)state;
    char uri[64];
    assert_true(res_gateway_uri("a=sip:one b=sip:two:5080", "b", uri, sizeof uri));
    assert_string_equal(uri, "sip:two:5080");
    assert_false(res_gateway_uri("a=sip:one", "ab", uri, sizeof uri));
}

static void test_media_address_forms(void **state) {
    (void)state;
    char err[160];
    struct res_media_if f[RES_MEDIA_IF_MAX];
    size_t n = 9;
    assert_int_equal(res_media_interfaces("", f, RES_MEDIA_IF_MAX, &n, err, sizeof err), 0);
    assert_int_equal(n, 0); /* each call's signaling address */
    assert_int_equal(res_media_interfaces("192.0.2.7", f, RES_MEDIA_IF_MAX, &n, err, sizeof err),
                     0);
    assert_int_equal(n, 1);
    assert_string_equal(f[0].local, "192.0.2.7");
    assert_string_equal(f[0].announce, "192.0.2.7");
    assert_string_equal(f[0].name, "");
    assert_int_equal(f[0].family, AF_INET);
    assert_int_equal(res_media_interfaces("10.0.0.5!203.0.113.5", f, RES_MEDIA_IF_MAX, &n, err,
                                          sizeof err),
                     0);
    assert_string_equal(f[0].local, "10.0.0.5");
    assert_string_equal(f[0].announce, "203.0.113.5");
    assert_int_equal(res_media_interfaces("!203.0.113.5", f, RES_MEDIA_IF_MAX, &n, err, sizeof err),
                     0);
    assert_string_equal(f[0].local, "");
    assert_string_equal(f[0].announce, "203.0.113.5");
    /* several interfaces, named, IPv6 */
    assert_int_equal(res_media_interfaces("priv/10.0.0.5, pub/192.0.2.1!203.0.113.5 v6/[2001:db8::5] "
                                          "::1 !2001:db8::9",
                                          f, RES_MEDIA_IF_MAX, &n, err, sizeof err),
                     0);
    assert_int_equal(n, 5);
    assert_string_equal(f[0].name, "priv");
    assert_string_equal(f[1].name, "pub");
    assert_string_equal(f[1].local, "192.0.2.1");
    assert_string_equal(f[1].announce, "203.0.113.5");
    assert_string_equal(f[2].name, "v6");
    assert_string_equal(f[2].local, "2001:db8::5");
    assert_int_equal(f[2].family, AF_INET6);
    assert_string_equal(f[3].local, "::1");
    assert_int_equal(f[3].family, AF_INET6);
    assert_string_equal(f[4].local, "");
    assert_string_equal(f[4].announce, "2001:db8::9");
    assert_int_equal(f[4].family, AF_INET6);
    const char *bad[] = {"300.1.2.3", "pbx.example.com", "10.0.0.5!", "10.0.0.5!x",
                         "1.2.3.4!5.6.7.8!9.9.9.9", "10.0.0.5!2001:db8::1", "/10.0.0.5",
                         "a b/10.0.0.5", "x!y/10.0.0.5", "[10.0.0.5"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(res_media_interfaces(bad[i], f, RES_MEDIA_IF_MAX, &n, err, sizeof err),
                         -EINVAL);
        assert_non_null(strstr(err, "LOCAL[!PUBLIC]"));
    }
    assert_int_equal(res_media_interfaces("10.0.0.1 10.0.0.2", f, 1, &n, err, sizeof err), -EINVAL);
}

static void test_redis_address_forms(void **state) {
    (void)state;
    char host[64], err[128];
    int port = -1;
    assert_int_equal(rds_parse_address("unix:/run/r.sock", host, sizeof host, &port, err,
                                       sizeof err),
                     0);
    assert_string_equal(host, "/run/r.sock");
    assert_int_equal(port, 0);
    assert_int_equal(rds_parse_address("10.0.0.2:6380", host, sizeof host, &port, err, sizeof err),
                     0);
    assert_string_equal(host, "10.0.0.2");
    assert_int_equal(port, 6380);
    static const char *const bad[] = {"localhost", "unix:", "h:0", "h:", ":6379", "h:65536"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (rds_parse_address(bad[i], host, sizeof host, &port, err, sizeof err) != -EINVAL)
            fail_msg("'%s' was accepted", bad[i]);
}

static void test_split_gives_directory_and_name(void **state) {
    (void)state;
    char dir[64];
    assert_string_equal(res_split("/etc/sb/dialplan.json", dir, sizeof dir), "dialplan.json");
    assert_string_equal(dir, "/etc/sb");
    assert_string_equal(res_split("/dp.json", dir, sizeof dir), "dp.json");
    assert_string_equal(dir, "/");
    assert_string_equal(res_split("dp.json", dir, sizeof dir), "dp.json");
    assert_string_equal(dir, ".");
    assert_null(res_split("/a/very/long/directory/name/x", dir, 8));
}

/* A directory that the opener reaches by descriptor, with a prompt in it. */
static void test_audio_open_by_descriptor_with_the_prototypes_prefix(void **state) {
    (void)state;
    char tmpl[] = "/tmp/resources_test.XXXXXX";
    assert_non_null(mkdtemp(tmpl));
    char path[128];
    snprintf(path, sizeof path, "%s/hello.wav", tmpl);
    int f = open(path, O_CREAT | O_WRONLY, 0644);
    assert_true(f >= 0);
    close(f);
    int dirfd = res_dir_open(tmpl);
    assert_true(dirfd >= 0);
    int fd = res_audio_open(dirfd, tmpl, "hello.wav");
    assert_true(fd >= 0);
    close(fd);
    fd = res_audio_open(dirfd, tmpl, "audio/hello.wav"); /* looked up as hello.wav too */
    assert_true(fd >= 0);
    close(fd);
    assert_int_equal(res_audio_open(dirfd, tmpl, "missing.wav"), -ENOENT);
    assert_int_equal(res_audio_open(dirfd, tmpl, "../etc/passwd"), -EINVAL);
    assert_int_equal(res_audio_open(dirfd, tmpl, "/etc/passwd"), -EINVAL);
    fd = res_audio_open(-1, tmpl, "hello.wav"); /* by path */
    assert_true(fd >= 0);
    close(fd);
    fd = res_open_at(dirfd, path);
    assert_true(fd >= 0);
    close(fd);
    close(dirfd);
    unlink(path);
    rmdir(tmpl);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gateways_accept_names_with_sip_uris_and_ports),
        cmocka_unit_test(test_gateways_refuse_an_entry_without_name_uri_or_good_port),
        cmocka_unit_test(test_gateway_uri_finds_the_named_entry),
        cmocka_unit_test(test_media_address_forms),
        cmocka_unit_test(test_redis_address_forms),
        cmocka_unit_test(test_split_gives_directory_and_name),
        cmocka_unit_test(test_audio_open_by_descriptor_with_the_prototypes_prefix),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
