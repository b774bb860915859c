/* stun: the RFC 5626 4.4.2 keepalive responder (RFC 5389 Binding). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <arpa/inet.h>
#include <cmocka.h>

#include "procs/sipd/stun.h"

static const unsigned char request[20] = {0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xa4, 0x42, 1,  2,
                                          3,    4,    5,    6,    7,    8,    9,    10,   11, 12};

static union sipaddr v4(const char *ip, unsigned port) {
    union sipaddr a;
    memset(&a, 0, sizeof a);
    a.sin.sin_family = AF_INET;
    a.sin.sin_port = htons((uint16_t)port);
    inet_pton(AF_INET, ip, &a.sin.sin_addr);
    return a;
}

static void test_binding_answer_has_xor_mapped_address(void **state) {
    (void)state;
    union sipaddr src = v4("192.0.2.1", 32853);
    unsigned char out[STUN_ANSWER_MAX];
    assert_true(stun_is_stun(request, sizeof request));
    size_t n = stun_binding_answer(request, sizeof request, &src, out);
    assert_int_equal(n, 32);
    static const unsigned char want[32] = {
        0x01, 0x01, 0x00, 0x0c, 0x21, 0x12, 0xa4, 0x42, 1,    2,    3,    4,    5,    6, 7,
        8,    9,    10,   11,   12,   0x00, 0x20, 0x00, 0x08, 0x00, 0x01, 0xa1, 0x47, /* 32853 ^
                                                                                         0x2112 */
        0xe1, 0x12, 0xa6, 0x43, /* 192.0.2.1 ^ 0x2112a442 (RFC 5769 2.2) */
    };
    assert_memory_equal(out, want, 32);
}

static void test_binding_answer_ipv6_xors_with_transaction_id(void **state) {
    (void)state;
    union sipaddr src;
    memset(&src, 0, sizeof src);
    src.sin6.sin6_family = AF_INET6;
    src.sin6.sin6_port = htons(5060);
    inet_pton(AF_INET6, "2001:db8::1", &src.sin6.sin6_addr);
    unsigned char out[STUN_ANSWER_MAX];
    assert_int_equal(stun_binding_answer(request, sizeof request, &src, out), 44);
    assert_int_equal(out[25], 0x02);
    unsigned char ip[16];
    for (int i = 0; i < 16; i++)
        ip[i] = out[28 + i] ^ request[4 + i];
    assert_memory_equal(ip, &src.sin6.sin6_addr, 16);
}

static void test_anything_but_a_good_binding_request_is_dropped(void **state) {
    (void)state;
    union sipaddr src = v4("127.0.0.1", 5060);
    unsigned char out[STUN_ANSWER_MAX], bad[24];
    memcpy(bad, request, 20);
    bad[4] = 0; /* no magic cookie (RFC 3489) */
    assert_int_equal(stun_binding_answer(bad, 20, &src, out), 0);
    memcpy(bad, request, 20);
    bad[1] = 0x11; /* a Binding indication */
    assert_int_equal(stun_binding_answer(bad, 20, &src, out), 0);
    memcpy(bad, request, 20);
    bad[3] = 4; /* says 4 bytes of attributes, has none */
    assert_int_equal(stun_binding_answer(bad, 20, &src, out), 0);
    bad[3] = 4; /* an attribute longer than the message */
    bad[20] = 0x80, bad[21] = 0x28, bad[22] = 0, bad[23] = 8;
    assert_int_equal(stun_binding_answer(bad, 24, &src, out), 0);
    assert_int_equal(stun_binding_answer(request, 19, &src, out), 0);
    bad[3] = 3; /* not a multiple of 4 */
    assert_int_equal(stun_binding_answer(bad, 23, &src, out), 0);
    assert_false(stun_is_stun((const unsigned char *)"OPTIONS", 7));
    /* a method token may start with '!' (RFC 4475 3.1.1.4 "intmeth"): SIP, not STUN */
    assert_false(stun_is_stun((const unsigned char *)"!interesting-Method", 19));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_binding_answer_has_xor_mapped_address),
        cmocka_unit_test(test_binding_answer_ipv6_xors_with_transaction_id),
        cmocka_unit_test(test_anything_but_a_good_binding_request_is_dropped),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
