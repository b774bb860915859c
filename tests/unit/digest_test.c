/* digest: HA1, the qop=auth response (RFC 7616 3.9.1's vectors) and stateless nonces. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "digest.h"

static const uint8_t secret[] = "0123456789abcdef0123456789abcdef";

#define RFC7616_NONCE "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v"
#define RFC7616_CNONCE "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ"

static void test_rfc7616_md5_vector(void **state) {
    (void)state;
    char ha1[DIGEST_HEX_MAX], resp[DIGEST_HEX_MAX];
    assert_int_equal(digest_ha1(DIGEST_MD5, "Mufasa", "http-auth@example.org", "Circle of Life",
                                ha1, sizeof ha1),
                     0);
    assert_string_equal(ha1, "3d78807defe7de2157e2b0b6573a855f");
    assert_int_equal(digest_response(DIGEST_MD5, ha1, RFC7616_NONCE, "00000001", RFC7616_CNONCE,
                                     "auth", "GET", "/dir/index.html", resp, sizeof resp),
                     0);
    assert_string_equal(resp, "8ca523f5e9506fed4657c9700eebdbec");
}

static void test_rfc7616_sha256_vector(void **state) {
    (void)state;
    char ha1[DIGEST_HEX_MAX], resp[DIGEST_HEX_MAX];
    assert_int_equal(digest_ha1(DIGEST_SHA256, "Mufasa", "http-auth@example.org", "Circle of Life",
                                ha1, sizeof ha1),
                     0);
    assert_string_equal(ha1, "7987c64c30e25f1b74be53f966b49b90f2808aa92faf9a00262392d7b4794232");
    assert_int_equal(digest_response(DIGEST_SHA256, ha1, RFC7616_NONCE, "00000001", RFC7616_CNONCE,
                                     "auth", "GET", "/dir/index.html", resp, sizeof resp),
                     0);
    assert_string_equal(resp, "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1");
}

static void test_short_buffer_is_enospc(void **state) {
    (void)state;
    char small[33];
    assert_int_equal(digest_ha1(DIGEST_SHA256, "u", "r", "p", small, sizeof small), -ENOSPC);
    assert_int_equal(digest_ha1(DIGEST_MD5, "u", "r", "p", small, sizeof small), 0);
}

static void test_algorithm_names(void **state) {
    (void)state;
    enum digest_alg a;
    assert_int_equal(digest_alg_parse(NULL, &a), 0);
    assert_int_equal(a, DIGEST_MD5);
    assert_int_equal(digest_alg_parse("sha-256", &a), 0);
    assert_int_equal(a, DIGEST_SHA256);
    assert_int_equal(digest_alg_parse("MD5-sess", &a), -EINVAL);
    assert_int_equal(digest_alg_parse("SHA-512-256", &a), -EINVAL);
    assert_string_equal(digest_alg_name(DIGEST_SHA256), "SHA-256");
}

static void test_nonce_checks_secret_source_and_age(void **state) {
    (void)state;
    char n[DIGEST_NONCE_LEN + 1];
    uint32_t made = 0;
    assert_int_equal(digest_nonce_make(secret, 32, 1000, "192.0.2.1", n, sizeof n), 0);
    assert_int_equal(strlen(n), DIGEST_NONCE_LEN);
    assert_memory_equal(n, "000003e8", 8);
    assert_int_equal(digest_nonce_check(secret, 32, n, "192.0.2.1", 1100, 300, &made),
                     DIGEST_NONCE_OK);
    assert_int_equal(made, 1000);
    /* expired: ours, but stale (RFC 7616 3.3) */
    assert_int_equal(digest_nonce_check(secret, 32, n, "192.0.2.1", 1301, 300, NULL),
                     DIGEST_NONCE_STALE);
    /* another source, another secret, a changed time or MAC: not ours */
    assert_int_equal(digest_nonce_check(secret, 32, n, "192.0.2.2", 1100, 300, NULL),
                     DIGEST_NONCE_BAD);
    assert_int_equal(digest_nonce_check((const uint8_t *)"x", 1, n, "192.0.2.1", 1100, 300, NULL),
                     DIGEST_NONCE_BAD);
    char forged[DIGEST_NONCE_LEN + 1];
    memcpy(forged, n, sizeof forged);
    forged[7] = forged[7] == '9' ? '8' : '9'; /* a later time, same MAC */
    assert_int_equal(digest_nonce_check(secret, 32, forged, "192.0.2.1", 1100, 300, NULL),
                     DIGEST_NONCE_BAD);
    memcpy(forged, n, sizeof forged);
    forged[39] = forged[39] == '0' ? '1' : '0';
    assert_int_equal(digest_nonce_check(secret, 32, forged, "192.0.2.1", 1100, 300, NULL),
                     DIGEST_NONCE_BAD);
    assert_int_equal(digest_nonce_check(secret, 32, "", "192.0.2.1", 1100, 300, NULL),
                     DIGEST_NONCE_BAD);
    memcpy(forged, n, sizeof forged);
    forged[0] = 'z';
    assert_int_equal(digest_nonce_check(secret, 32, forged, "192.0.2.1", 1100, 300, NULL),
                     DIGEST_NONCE_BAD);
    memcpy(forged, n, sizeof forged);
    forged[12] = forged[12] == '0' ? '1' : '0'; /* another salt */
    assert_int_equal(digest_nonce_check(secret, 32, forged, "192.0.2.1", 1100, 300, NULL),
                     DIGEST_NONCE_BAD);
    /* two nonces of one second for one source differ */
    char n2[DIGEST_NONCE_LEN + 1];
    assert_int_equal(digest_nonce_make(secret, 32, 1000, "192.0.2.1", n2, sizeof n2), 0);
    assert_string_not_equal(n, n2);
}

static void test_algorithm_lists(void **state) {
    (void)state;
    enum digest_alg a[DIGEST_MAX_ALGS];
    assert_int_equal(digest_algs_parse("SHA-256 MD5", a), 2);
    assert_int_equal(a[0], DIGEST_SHA256);
    assert_int_equal(a[1], DIGEST_MD5);
    assert_int_equal(digest_algs_parse(" md5, ", a), 1);
    assert_int_equal(a[0], DIGEST_MD5);
    assert_int_equal(digest_algs_parse("", a), -EINVAL);
    assert_int_equal(digest_algs_parse("MD5 MD5", a), -EINVAL);
    assert_int_equal(digest_algs_parse("SHA-256 SHA1", a), -EINVAL);
}

static void test_equal_compares_whole_strings(void **state) {
    (void)state;
    assert_true(digest_equal("abc", "abc"));
    assert_false(digest_equal("abc", "abd"));
    assert_false(digest_equal("abc", "abcd"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rfc7616_md5_vector),
        cmocka_unit_test(test_rfc7616_sha256_vector),
        cmocka_unit_test(test_short_buffer_is_enospc),
        cmocka_unit_test(test_algorithm_names),
        cmocka_unit_test(test_nonce_checks_secret_source_and_age),
        cmocka_unit_test(test_algorithm_lists),
        cmocka_unit_test(test_equal_compares_whole_strings),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
