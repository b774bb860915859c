/* sipconv_to_proto: the fields sipd parses for dialogd (method_id, Request-URI user and
 * host, From user, Refer-To and its AOR, session timer), and sipmsg_check's RFC 4028 400. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "procs/sipd/sipconv.h"
#include "procs/sipd/sipmsg.h"

static sipmsg_t *m;
static struct sipconv_store store;
static char scratch[65536];

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

static void convert_in(const domains_t *d, const char *text, Sb__SipMessage *out) {
    enum sipmsg_result r = sipmsg_parse(m, text, strlen(text), false);
    assert_true(r == SIPMSG_OK || r == SIPMSG_RESPONSE);
    struct sipmsg_out o = {scratch, sizeof scratch, 0, false};
    assert_true(sipconv_to_proto(m, d, out, &store, &o));
}

static void convert(const char *text, Sb__SipMessage *out) {
    convert_in(NULL, text, out);
}

#define HEAD(method, ruri)                                                                         \
    method " " ruri " SIP/2.0\r\n"                                                                 \
           "Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK-1\r\n"                                   \
           "From: \"A\" <sip:%31001@Example.com>;tag=a\r\n"                                        \
           "To: <sip:1002@example.com>\r\nCall-ID: c1\r\nCSeq: 1 " method "\r\n"                   \
           "Max-Forwards: 70\r\n"

static void test_invite_carries_ruri_from_user_and_session_timer(void **state) {
    (void)state;
    static const char inv[] = HEAD(
        "INVITE", "sip:1002@PBX.Example.COM:5060;transport=udp") "Session-Expires: "
                                                                 "1800;refresher=uas\r\nMin-SE: "
                                                                 "90\r\nk: 100rel, timer\r\n"
                                                                 "Content-Length: 0\r\n\r\n";
    Sb__SipMessage out;
    convert(inv, &out);
    assert_int_equal(out.method_id, SB__SIP_METHOD__SIP_METHOD_INVITE);
    assert_string_equal(out.ruri_user, "1002");
    assert_string_equal(out.ruri_host, "pbx.example.com");
    assert_string_equal(out.from_user, "%31001");
    assert_string_equal(out.refer_to, "");
    assert_non_null(out.session_timer);
    assert_int_equal(out.session_timer->expires, 1800);
    assert_int_equal(out.session_timer->refresher, SB__SIP_REFRESHER__SIP_REFRESHER_UAS);
    assert_int_equal(out.session_timer->min_se, 90);
    assert_true(out.session_timer->supported);
    assert_false(out.session_timer->required);
    struct sipmsg_verdict v;
    assert_false(sipmsg_check(m, &v));
}

static void test_refer_carries_refer_to_and_its_aor(void **state) {
    (void)state;
    static const char refer[] =
        HEAD("REFER",
             "sip:1002@10.0.0.2") "Refer-To: \"B\" "
                                  "<sip:1003@Example.COM:5060;user=phone?Replaces=x%40y>;p=1\r\n"
                                  "Content-Length: 0\r\n\r\n";
    Sb__SipMessage out;
    convert(refer, &out);
    assert_int_equal(out.method_id, SB__SIP_METHOD__SIP_METHOD_REFER);
    assert_string_equal(out.refer_to, "sip:1003@Example.COM:5060;user=phone?Replaces=x%40y");
    assert_string_equal(out.refer_to_aor, "sip:1003@example.com");
    static const char tel[] = HEAD("REFER", "sip:1002@10.0.0.2") "r: <tel:+15551234>\r\n"
                                                                 "Content-Length: 0\r\n\r\n";
    convert(tel, &out);
    assert_string_equal(out.refer_to, "tel:+15551234");
    assert_string_equal(out.refer_to_aor, "");
}

static void test_refer_to_aor_at_our_address_is_our_domain(void **state) {
    (void)state;
    static const char refer[] = HEAD("REFER", "sip:1002@10.0.0.2") "Refer-To: "
                                                                   "<sip:1003@127.0.0.1:5060>\r\n"
                                                                   "Content-Length: 0\r\n\r\n";
    char why[128];
    domains_t *d = domains_new("pbx.example.com", true, why, sizeof why);
    assert_non_null(d);
    Sb__SipMessage out;
    convert_in(d, refer, &out);
    assert_string_equal(out.refer_to, "sip:1003@127.0.0.1:5060");
    assert_string_equal(out.refer_to_aor, "sip:1003@pbx.example.com");
    /* the Request-URI host goes to routerd as written: it maps it itself */
    assert_string_equal(out.ruri_host, "10.0.0.2");
    domains_free(d);
}

static void test_response_method_id_is_the_cseq_method(void **state) {
    (void)state;
    static const char resp[] = "SIP/2.0 200 OK\r\n"
                               "Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK-1\r\n"
                               "From: <sip:1001@example.com>;tag=a\r\n"
                               "To: <sip:1002@example.com>;tag=b\r\nCall-ID: c1\r\n"
                               "CSeq: 1 INVITE\r\nSession-Expires: 600;refresher=uac\r\n"
                               "Require: timer\r\nContent-Length: 0\r\n\r\n";
    Sb__SipMessage out;
    convert(resp, &out);
    assert_int_equal(out.method_id, SB__SIP_METHOD__SIP_METHOD_INVITE);
    assert_string_equal(out.ruri_user, "");
    assert_string_equal(out.from_user, "1001");
    assert_int_equal(out.session_timer->expires, 600);
    assert_int_equal(out.session_timer->refresher, SB__SIP_REFRESHER__SIP_REFRESHER_UAC);
    assert_true(out.session_timer->required);
}

static void test_unreadable_session_expires_or_min_se_is_400(void **state) {
    (void)state;
    static const char *const bad[] = {
        HEAD("INVITE", "sip:1002@example.com") "Session-Expires: soon\r\nContent-Length: 0\r\n\r\n",
        HEAD("INVITE", "sip:1002@example.com") "x: 86401\r\nContent-Length: 0\r\n\r\n",
        HEAD("INVITE", "sip:1002@example.com") "x: 0\r\nContent-Length: 0\r\n\r\n",
        HEAD("UPDATE", "sip:1002@example.com") "Min-SE: -5\r\nContent-Length: 0\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(sipmsg_parse(m, bad[i], strlen(bad[i]), false), SIPMSG_OK);
        struct sipmsg_verdict v;
        assert_true(sipmsg_check(m, &v));
        assert_int_equal(v.status, 400);
    }
    static const char ok[] = HEAD("INVITE", "sip:1002@example.com") "x: 86400\r\n"
                                                                    "Content-Length: 0\r\n\r\n";
    assert_int_equal(sipmsg_parse(m, ok, strlen(ok), false), SIPMSG_OK);
    struct sipmsg_verdict v;
    assert_false(sipmsg_check(m, &v));
    assert_int_equal(m->timer.expires, 86400);
}

/* ---- sipconv_next_hop: dialogd's next_hop, else Route, else Request-URI ---- */

static char hop_ip[64];
static int hop_port;

static void hop_text(const struct sipconv_hop *hop) {
    assert_int_equal(sipaddr_text(&hop->addr, hop_ip, sizeof hop_ip, &hop_port), 0);
}

/* Max-Forwards of a request dialogd sends: 70 unless max_forwards_set, then as given, 0
 * included (a B leg with one hop less than its A leg). */
static void test_request_max_forwards_is_written_as_set(void **state) {
    (void)state;
    struct sipconv_local local = {"192.0.2.1", 5060, SIPDEST_UDP};
    const char *why = NULL;
    char out[2048];
    Sb__SipMessage msg = SB__SIP_MESSAGE__INIT;
    msg.method = "INVITE";
    msg.request_uri = "sip:b@192.0.2.2";
    msg.from_uri = "sip:a@192.0.2.1";
    msg.from_tag = "f";
    msg.to_uri = "sip:b@192.0.2.2";
    msg.call_id = "mf";
    msg.cseq = 1;
    int n = sipconv_request_build(&msg, &local, "z9hG4bKsb0x1", out, sizeof out, &why);
    assert_true(n > 0);
    out[n] = '\0';
    assert_non_null(strstr(out, "\r\nMax-Forwards: 70\r\n"));
    msg.max_forwards_set = true;
    msg.max_forwards = 0;
    n = sipconv_request_build(&msg, &local, "z9hG4bKsb0x1", out, sizeof out, &why);
    out[n] = '\0';
    assert_non_null(strstr(out, "\r\nMax-Forwards: 0\r\n"));
    msg.max_forwards = 41;
    n = sipconv_request_build(&msg, &local, "z9hG4bKsb0x1", out, sizeof out, &why);
    out[n] = '\0';
    assert_non_null(strstr(out, "\r\nMax-Forwards: 41\r\n"));
    msg.max_forwards = 300; /* out of range: the default */
    n = sipconv_request_build(&msg, &local, "z9hG4bKsb0x1", out, sizeof out, &why);
    out[n] = '\0';
    assert_non_null(strstr(out, "\r\nMax-Forwards: 70\r\n"));
}

static void test_next_hop_is_route_then_request_uri_without_next_hop(void **state) {
    (void)state;
    Sb__SipMessage msg = SB__SIP_MESSAGE__INIT;
    struct sipconv_hop hop;
    const char *why = NULL;
    msg.request_uri = "sip:bob@192.0.2.1:5070;transport=tcp";
    assert_int_equal(sipconv_next_hop(&msg, &hop, &why), 0);
    hop_text(&hop);
    assert_string_equal(hop_ip, "192.0.2.1");
    assert_int_equal(hop_port, 5070);
    assert_int_equal(hop.transport, SIPDEST_TCP);
    assert_false(hop.given);
    assert_int_equal(hop.local.sa.sa_family, 0);
    char *route[] = {"<sip:[2001:db8::2];lr>"};
    msg.route = route;
    msg.n_route = 1;
    Sb__SipPeer empty = SB__SIP_PEER__INIT; /* a next_hop without addr is none */
    msg.next_hop = &empty;
    assert_int_equal(sipconv_next_hop(&msg, &hop, &why), 0);
    hop_text(&hop);
    assert_string_equal(hop_ip, "2001:db8::2");
    assert_int_equal(hop_port, 5060);
    assert_int_equal(hop.transport, SIPDEST_UDP);
    assert_false(hop.given);
}

static void test_next_hop_wins_over_route_and_request_uri(void **state) {
    (void)state;
    Sb__SipMessage msg = SB__SIP_MESSAGE__INIT;
    char *route[] = {"<sip:192.0.2.50;lr>"};
    msg.request_uri = "sip:bob@192.168.1.5:5060";
    msg.route = route;
    msg.n_route = 1;
    Sb__SipPeer nh = SB__SIP_PEER__INIT;
    nh.transport = "tcp";
    nh.addr = "198.51.100.7";
    nh.port = 40312;
    nh.conn_id = 9;
    nh.sipd_instance = 2;
    nh.nated = true;
    nh.local_addr = "203.0.113.4";
    nh.local_port = 5060;
    msg.next_hop = &nh;
    struct sipconv_hop hop;
    const char *why = NULL;
    assert_int_equal(sipconv_next_hop(&msg, &hop, &why), 0);
    hop_text(&hop);
    assert_string_equal(hop_ip, "198.51.100.7");
    assert_int_equal(hop_port, 40312);
    assert_int_equal(hop.transport, SIPDEST_TCP);
    assert_true(hop.given);
    assert_true(hop.nated);
    assert_int_equal(hop.conn_id, 9);
    assert_int_equal(hop.instance, 2);
    char local[64];
    int local_port;
    assert_int_equal(sipaddr_text(&hop.local, local, sizeof local, &local_port), 0);
    assert_string_equal(local, "203.0.113.4");
    assert_int_equal(local_port, 5060);
    /* no port: 5060; no transport: UDP; an IPv6 address in brackets */
    nh.transport = "";
    nh.port = 0;
    nh.addr = "[2001:db8::9]";
    nh.local_addr = "";
    assert_int_equal(sipconv_next_hop(&msg, &hop, &why), 0);
    hop_text(&hop);
    assert_string_equal(hop_ip, "2001:db8::9");
    assert_int_equal(hop_port, 5060);
    assert_int_equal(hop.transport, SIPDEST_UDP);
    assert_int_equal(hop.local.sa.sa_family, 0);
}

static void test_unusable_next_hop_is_refused(void **state) {
    (void)state;
    Sb__SipMessage msg = SB__SIP_MESSAGE__INIT;
    msg.request_uri = "sip:bob@192.0.2.1";
    Sb__SipPeer nh = SB__SIP_PEER__INIT;
    msg.next_hop = &nh;
    struct sipconv_hop hop;
    const char *why = NULL;
    nh.addr = "phone.example.com"; /* no DNS */
    assert_int_equal(sipconv_next_hop(&msg, &hop, &why), -EINVAL);
    assert_string_equal(why, "next hop is not a numeric address and port");
    nh.addr = "192.0.2.9";
    nh.port = 70000;
    assert_int_equal(sipconv_next_hop(&msg, &hop, &why), -EINVAL);
    nh.port = 5060;
    nh.transport = "sctp";
    assert_int_equal(sipconv_next_hop(&msg, &hop, &why), -EPROTONOSUPPORT);
    nh.transport = "udp";
    nh.local_addr = "eth0";
    assert_int_equal(sipconv_next_hop(&msg, &hop, &why), -EINVAL);
    assert_string_equal(why, "next hop local address is not numeric");
}

/* RFC 3261 26.2.2: sips: and ;transport=tls go over TLS, port 5061 by default, verified
 * for the URI's host; sips: is never sent over another transport */
static void test_next_hop_over_tls(void **state) {
    (void)state;
    Sb__SipMessage msg = SB__SIP_MESSAGE__INIT;
    struct sipconv_hop hop;
    const char *why = NULL;
    msg.request_uri = "sips:7001@192.0.2.1";
    assert_int_equal(sipconv_next_hop(&msg, &hop, &why), 0);
    hop_text(&hop);
    assert_int_equal(hop.transport, SIPDEST_TLS);
    assert_int_equal(hop_port, 5061);
    assert_string_equal(hop.tls_host, "192.0.2.1");
    msg.request_uri = "sip:7001@[2001:db8::7]:5070;transport=tls";
    assert_int_equal(sipconv_next_hop(&msg, &hop, &why), 0);
    hop_text(&hop);
    assert_int_equal(hop.transport, SIPDEST_TLS);
    assert_int_equal(hop_port, 5070);
    assert_string_equal(hop.tls_host, "2001:db8::7");
    msg.request_uri = "sips:7001@192.0.2.1;transport=udp";
    assert_int_equal(sipconv_next_hop(&msg, &hop, &why), -EPROTONOSUPPORT);
    /* a flow registered over TLS */
    Sb__SipPeer nh = SB__SIP_PEER__INIT;
    nh.transport = "tls";
    nh.addr = "198.51.100.7";
    nh.port = 40312;
    nh.conn_id = 4;
    msg.next_hop = &nh;
    assert_int_equal(sipconv_next_hop(&msg, &hop, &why), 0);
    assert_int_equal(hop.transport, SIPDEST_TLS);
    assert_int_equal(hop.conn_id, 4);
    assert_string_equal(hop.tls_host, "198.51.100.7");
}

/* What we send on a TLS flow says so: Via SIP/2.0/TLS, Contact ;transport=tls */
static void test_request_over_tls_names_tls(void **state) {
    (void)state;
    Sb__SipMessage msg = SB__SIP_MESSAGE__INIT;
    msg.method = "BYE";
    msg.request_uri = "sip:alice@198.51.100.7:40312;transport=tls";
    msg.from_uri = "sip:bob@example.com";
    msg.from_tag = "a";
    msg.to_uri = "sip:alice@example.com";
    msg.to_tag = "b";
    msg.call_id = "cid";
    msg.cseq = 2;
    msg.contact_user = "sb";
    struct sipconv_local l = {.transport = SIPDEST_TLS, .host = "203.0.113.4", .port = 5061};
    char out[2048];
    const char *why = NULL;
    int n = sipconv_request_build(&msg, &l, "z9hG4bKx", out, sizeof out - 1, &why);
    assert_true(n > 0);
    out[n] = '\0';
    assert_non_null(strstr(out, "\r\nVia: SIP/2.0/TLS 203.0.113.4:5061;branch=z9hG4bKx"));
    assert_non_null(strstr(out, "\r\nContact: <sip:sb@203.0.113.4:5061;transport=tls>\r\n"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_next_hop_is_route_then_request_uri_without_next_hop),
        cmocka_unit_test(test_next_hop_wins_over_route_and_request_uri),
        cmocka_unit_test(test_unusable_next_hop_is_refused),
        cmocka_unit_test(test_next_hop_over_tls),
        cmocka_unit_test(test_request_over_tls_names_tls),
        cmocka_unit_test(test_invite_carries_ruri_from_user_and_session_timer),
        cmocka_unit_test(test_refer_carries_refer_to_and_its_aor),
        cmocka_unit_test(test_refer_to_aor_at_our_address_is_our_domain),
        cmocka_unit_test(test_response_method_id_is_the_cseq_method),
        cmocka_unit_test(test_unreadable_session_expires_or_min_se_is_400),
        cmocka_unit_test(test_request_max_forwards_is_written_as_set),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
