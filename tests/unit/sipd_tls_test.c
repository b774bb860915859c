/* sipd_tls_test - transport_tls: handshakes on memory BIOs, verification, garbage. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <errno.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "procs/sipd/transport_tls.h"

struct pem {
    char cert[4096], key[4096];
    size_t cert_len, key_len;
    char path[64]; /* the certificate as a file (a CA file for a client) */
};

static size_t bio_text(BIO *b, char *out, size_t cap) {
    int n = BIO_read(b, out, (int)cap - 1);
    assert_true(n > 0);
    out[n] = '\0';
    return (size_t)n;
}

/* A self-signed P-256 certificate for IP 127.0.0.1 with its key, as PEM and as a file. */
static void make_pem(struct pem *p, const char *cn) {
    EVP_PKEY *k = EVP_EC_gen("P-256");
    X509 *x = X509_new();
    assert_non_null(k);
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
    X509_gmtime_adj(X509_getm_notBefore(x), -60);
    X509_gmtime_adj(X509_getm_notAfter(x), 3600);
    X509_set_pubkey(x, k);
    X509_NAME *name = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
    X509_set_issuer_name(x, name);
    X509V3_CTX v3;
    X509V3_set_ctx_nodb(&v3);
    X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
    const char *exts[][2] = {{"basicConstraints", "critical,CA:TRUE"},
                             {"subjectAltName", "IP:127.0.0.1"}};
    for (size_t i = 0; i < 2; i++) {
        X509_EXTENSION *e = X509V3_EXT_conf(NULL, &v3, exts[i][0], exts[i][1]);
        assert_non_null(e);
        X509_add_ext(x, e, -1);
        X509_EXTENSION_free(e);
    }
    assert_true(X509_sign(x, k, EVP_sha256()) > 0);
    BIO *b = BIO_new(BIO_s_mem());
    PEM_write_bio_X509(b, x);
    p->cert_len = bio_text(b, p->cert, sizeof p->cert);
    PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL);
    p->key_len = bio_text(b, p->key, sizeof p->key);
    BIO_free(b);
    snprintf(p->path, sizeof p->path, "/tmp/sb-tls-test-XXXXXX");
    int fd = mkstemp(p->path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, p->cert, p->cert_len), (ssize_t)p->cert_len);
    close(fd);
    X509_free(x);
    EVP_PKEY_free(k);
}

/* Moves what a produced to b; returns b's read result (cleartext into out). */
static ssize_t pump(struct tls_session *a, struct tls_session *b, char *out, size_t cap) {
    char buf[16384];
    size_t n;
    while ((n = tls_session_output(a, buf, sizeof buf)) > 0)
        assert_int_equal(tls_session_input(b, buf, n), 0);
    return tls_session_read(b, out, cap);
}

static struct pem one, two;

static int setup(void **state) {
    (void)state;
    make_pem(&one, "one");
    make_pem(&two, "two");
    return 0;
}

static int teardown(void **state) {
    (void)state;
    unlink(one.path);
    unlink(two.path);
    return 0;
}

/* Runs a handshake and one message each way; the client's read result of the first
 * exchange that failed, else 0. */
static ssize_t exchange(const struct pem *server_pem, const char *ca, const char *host) {
    char err[256], out[256];
    struct tls_ctx *sc = tls_ctx_server_new(server_pem->cert, server_pem->cert_len, server_pem->key,
                                            server_pem->key_len, err, sizeof err);
    struct tls_ctx *cc = tls_ctx_client_new(ca, err, sizeof err);
    assert_non_null(sc);
    assert_non_null(cc);
    struct tls_session *s = tls_session_new(sc, NULL), *c = tls_session_new(cc, host);
    tls_ctx_free(sc); /* sessions keep what they need */
    tls_ctx_free(cc);
    const char req[] = "OPTIONS sip:x SIP/2.0\r\n\r\n";
    assert_int_equal(tls_session_write(c, req, sizeof req - 1), 0); /* waits for the handshake */
    ssize_t rc = 0, got = 0;
    for (int i = 0; i < 10 && got == 0; i++) {
        got = pump(c, s, out, sizeof out);
        if (got < 0)
            break;
        rc = pump(s, c, out, sizeof out);
        if (rc < 0)
            break;
    }
    if (rc == 0 && got > 0) {
        assert_int_equal(got, sizeof req - 1);
        assert_memory_equal(out, req, sizeof req - 1);
        assert_true(tls_session_established(s));
        assert_int_equal(tls_session_write(s, "SIP/2.0 200 OK\r\n", 16), 0);
        assert_int_equal(pump(s, c, out, sizeof out), 16);
    }
    tls_session_free(s);
    tls_session_free(c);
    return rc;
}

static void test_handshake_and_messages_both_ways(void **state) {
    (void)state;
    assert_int_equal(exchange(&one, one.path, "127.0.0.1"), 0);
}

static void test_other_ca_fails_verification(void **state) {
    (void)state;
    assert_int_equal(exchange(&one, two.path, "127.0.0.1"), -EACCES);
}

static void test_other_address_fails_verification(void **state) {
    (void)state;
    assert_int_equal(exchange(&one, one.path, "192.0.2.1"), -EACCES);
}

static void test_plain_sip_on_a_server_session_is_an_error(void **state) {
    (void)state;
    char err[256], out[256];
    struct tls_ctx *sc =
        tls_ctx_server_new(one.cert, one.cert_len, one.key, one.key_len, err, sizeof err);
    struct tls_session *s = tls_session_new(sc, NULL);
    const char plain[] = "OPTIONS sip:x SIP/2.0\r\nContent-Length: 0\r\n\r\n";
    assert_int_equal(tls_session_input(s, plain, sizeof plain - 1), 0);
    assert_int_equal(tls_session_read(s, out, sizeof out), -ECONNRESET);
    assert_int_equal(tls_session_read(s, out, sizeof out), -ECONNRESET); /* and stays so */
    tls_session_free(s);
    tls_ctx_free(sc);
}

static void test_key_of_another_certificate_is_refused(void **state) {
    (void)state;
    char err[256];
    assert_null(tls_ctx_server_new(one.cert, one.cert_len, two.key, two.key_len, err, sizeof err));
    assert_non_null(strstr(err, "does not match"));
    assert_null(tls_ctx_server_new("junk", 4, one.key, one.key_len, err, sizeof err));
    assert_non_null(strstr(err, "no usable PEM certificate"));
}

static void test_fingerprint_is_sha256_hex(void **state) {
    (void)state;
    char err[256], fp[65];
    struct tls_ctx *sc =
        tls_ctx_server_new(one.cert, one.cert_len, one.key, one.key_len, err, sizeof err);
    tls_ctx_fingerprint(sc, fp);
    assert_int_equal(strlen(fp), 64);
    assert_int_equal(strspn(fp, "0123456789ABCDEF"), 64);
    tls_ctx_free(sc);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_handshake_and_messages_both_ways),
        cmocka_unit_test(test_other_ca_fails_verification),
        cmocka_unit_test(test_other_address_fails_verification),
        cmocka_unit_test(test_plain_sip_on_a_server_session_is_an_error),
        cmocka_unit_test(test_key_of_another_certificate_is_refused),
        cmocka_unit_test(test_fingerprint_is_sha256_hex),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
