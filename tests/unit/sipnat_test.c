/* sipnat: nat_uac_test 1, 2 and 16 on what sipd received (Via sent-by against the source,
 * a private Contact that is not the source), and which addresses are private. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "procs/sipd/sipdest.h"
#include "procs/sipd/sipmsg.h"
#include "procs/sipd/sipnat.h"

static sipmsg_t *m;
static char text[2048];

static int setup(void **state) {
    (void)state;
    sipmsg_library_init();
    m = sipmsg_new(65535);
    return m ? 0 : -1;
}

static int teardown(void **state) {
    (void)state;
    sipmsg_free(m);
    return 0;
}

/* A REGISTER with sent-by via and Contact host contact, received from src_ip:src_port. */
static bool nated(const char *via, const char *contact, const char *src_ip, int src_port) {
    snprintf(text, sizeof text,
             "REGISTER sip:example.com SIP/2.0\r\nVia: SIP/2.0/UDP %s;branch=z9hG4bK-n;rport\r\n"
             "From: <sip:a@example.com>;tag=1\r\nTo: <sip:a@example.com>\r\nCall-ID: n\r\n"
             "CSeq: 1 REGISTER\r\nContact: <sip:a@%s>\r\nContent-Length: 0\r\n\r\n",
             via, contact);
    assert_int_equal(sipmsg_parse(m, text, strlen(text), false), SIPMSG_OK);
    union sipaddr src;
    assert_int_equal(sipaddr_parse(src_ip, src_port, &src, NULL), 0);
    return sipnat_detect(m, &src);
}

static void test_via_is_the_source_not_nated(void **state) {
    (void)state;
    assert_false(nated("198.51.100.7:5062", "198.51.100.7:5062", "198.51.100.7", 5062));
    assert_false(nated("198.51.100.7", "198.51.100.7", "198.51.100.7", 5060)); /* port 5060 */
    assert_false(nated("[2001:db8::7]:5060", "[2001:db8::7]", "2001:db8::7", 5060));
    /* an IPv4 source seen on a dual-stack socket */
    assert_false(nated("198.51.100.7:5062", "198.51.100.7", "::ffff:198.51.100.7", 5062));
    /* a public Contact that is not the source is no evidence */
    assert_false(nated("198.51.100.7:5062", "203.0.113.9", "198.51.100.7", 5062));
    /* a private Contact that is the source is no NAT either */
    assert_false(nated("10.1.2.3:5060", "10.1.2.3", "10.1.2.3", 5060));
}

static void test_via_host_or_port_not_the_source_is_nated(void **state) {
    (void)state;
    assert_true(nated("192.168.1.5:5060", "198.51.100.7:40000", "198.51.100.7", 40000)); /* 2 */
    assert_true(nated("198.51.100.7:5060", "198.51.100.7", "198.51.100.7", 40000));      /* 16 */
    assert_true(nated("198.51.100.7", "198.51.100.7", "198.51.100.7", 40000));           /* 16 */
    assert_true(nated("phone.example.com:5060", "198.51.100.7", "198.51.100.7", 5060));
}

static void test_private_contact_not_the_source_is_nated(void **state) {
    (void)state;
    /* test 1 alone: a phone that put its public address in Via but not in Contact */
    static const char *const private[] = {"10.0.0.1",    "172.16.0.1",    "172.31.255.1",
                                          "192.168.0.1", "100.64.0.1",    "100.127.255.1",
                                          "[fc00::1]",   "[fd12:3456::1]"};
    for (size_t i = 0; i < sizeof private / sizeof private[0]; i++)
        assert_true(nated("198.51.100.7:5060", private[i], "198.51.100.7", 5060));
    static const char *const public[] = {"172.32.0.1", "100.128.0.1",   "192.169.0.1",
                                         "11.0.0.1",   "[2001:db8::1]", "[fe80::1]"};
    for (size_t i = 0; i < sizeof public / sizeof public[0]; i++)
        assert_false(nated("198.51.100.7:5060", public[i], "198.51.100.7", 5060));
}

/* A Contact that asks for TCP at a host that did not send the REGISTER is reached on the
 * registration's flow: we never open a connection to a host that has not talked to us. */
static void test_tcp_contact_at_another_host_is_nated(void **state) {
    (void)state;
    assert_true(nated("198.51.100.7:5062", "203.0.113.9:22;transport=tcp", "198.51.100.7", 5062));
    assert_true(nated("198.51.100.7:5062", "10.0.0.5:22;transport=TCP", "198.51.100.7", 5062));
    assert_false(
        nated("198.51.100.7:5062", "198.51.100.7:5070;transport=tcp", "198.51.100.7", 5062));
    assert_false(
        nated("198.51.100.7:5062", "203.0.113.9:5060;transport=udp", "198.51.100.7", 5062));
}

static void test_response_only_the_contact_counts(void **state) {
    (void)state;
    union sipaddr src;
    sipaddr_parse("198.51.100.7", 5070, &src, NULL);
    static const char ok[] =
        "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKsb0x1\r\n"
        "From: <sip:a@b>;tag=1\r\nTo: <sip:c@d>;tag=2\r\nCall-ID: r\r\n"
        "CSeq: 1 INVITE\r\nContact: <sip:c@198.51.100.7:5070>\r\n"
        "Content-Length: 0\r\n\r\n";
    assert_int_equal(sipmsg_parse(m, ok, sizeof ok - 1, false), SIPMSG_RESPONSE);
    assert_false(sipnat_detect(m, &src)); /* the Via is ours, not the peer's */
    static const char natted[] =
        "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKsb0x1\r\n"
        "From: <sip:a@b>;tag=1\r\nTo: <sip:c@d>;tag=2\r\nCall-ID: r\r\n"
        "CSeq: 1 INVITE\r\nContact: <sip:c@192.168.0.20:5060>\r\n"
        "Content-Length: 0\r\n\r\n";
    assert_int_equal(sipmsg_parse(m, natted, sizeof natted - 1, false), SIPMSG_RESPONSE);
    assert_true(sipnat_detect(m, &src));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_via_is_the_source_not_nated, setup, teardown),
        cmocka_unit_test_setup_teardown(test_via_host_or_port_not_the_source_is_nated, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_private_contact_not_the_source_is_nated, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_response_only_the_contact_counts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tcp_contact_at_another_host_is_nated, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
