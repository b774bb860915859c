/* anchor_test - which callee side gets SRTP (SDES keys only over TLS). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "procs/dialogd/anchor.h"
#include "procs/dialogd/call.h"

/* A call whose first action dials uri (located: the contacts and transports given). */
static void call_dialing(struct call *c, struct call_action *a, const char *uri,
                         const char *const *contacts, const char *const *transports, unsigned n) {
    memset(c, 0, sizeof *c);
    memset(a, 0, sizeof *a);
    a->type = ACT_DIAL;
    a->uri = (char *)uri;
    a->located = n > 0;
    for (unsigned i = 0; i < n; i++) {
        a->contacts[i] = (char *)contacts[i];
        sb__sip_peer__init(&a->hops[i]);
        a->hops[i].transport = (char *)transports[i];
    }
    a->ncontacts = n;
    c->actions = a;
    c->nactions = 1;
}

static int32_t srtp_b_of(const struct call *c) {
    Sb__MediaCreateRequest rq;
    char tag[ANCHOR_TAG_LEN];
    anchor_create_fill(c, LEG_A, &rq, tag);
    return rq.srtp_b;
}

static void test_srtp_b_plain_for_udp_and_tcp_targets(void **state) {
    (void)state;
    struct call c;
    struct call_action a;
    call_dialing(&c, &a, "sip:7001@192.0.2.1:5060", NULL, NULL, 0);
    assert_false(anchor_b_leg_tls(&c));
    assert_int_equal(srtp_b_of(&c), 1);
    call_dialing(&c, &a, "sip:7001@192.0.2.1;transport=tcp", NULL, NULL, 0);
    assert_int_equal(srtp_b_of(&c), 1);
}

static void test_srtp_b_follows_a_for_tls_targets(void **state) {
    (void)state;
    struct call c;
    struct call_action a;
    call_dialing(&c, &a, "sips:7001@192.0.2.1", NULL, NULL, 0);
    assert_true(anchor_b_leg_tls(&c));
    assert_int_equal(srtp_b_of(&c), 0);
    call_dialing(&c, &a, "sip:7001@192.0.2.1:5061;transport=TLS", NULL, NULL, 0);
    assert_int_equal(srtp_b_of(&c), 0);
}

static void test_srtp_b_needs_every_contact_over_tls(void **state) {
    (void)state;
    struct call c;
    struct call_action a;
    const char *contacts[] = {"sip:1001@10.0.0.5:5060", "sip:1001@10.0.0.6:5060;transport=tls"};
    const char *tls[] = {"tls", "tls"}, *mixed[] = {"udp", "tls"};
    call_dialing(&c, &a, NULL, contacts, tls, 2);
    assert_int_equal(srtp_b_of(&c), 0);
    call_dialing(&c, &a, NULL, contacts, mixed, 2);
    assert_false(anchor_b_leg_tls(&c)); /* the first rings over UDP: one offer for both */
    assert_int_equal(srtp_b_of(&c), 1);
}

static void test_srtp_b_plain_without_a_dial(void **state) {
    (void)state;
    struct call c;
    memset(&c, 0, sizeof c);
    assert_int_equal(srtp_b_of(&c), 1);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_srtp_b_plain_for_udp_and_tcp_targets),
        cmocka_unit_test(test_srtp_b_follows_a_for_tls_targets),
        cmocka_unit_test(test_srtp_b_needs_every_contact_over_tls),
        cmocka_unit_test(test_srtp_b_plain_without_a_dial),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
