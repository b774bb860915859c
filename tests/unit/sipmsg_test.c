/* sipmsg: parsing, RFC 3261 8.2 checks, REGISTER reading and response building, on the
 * RFC 4475 torture messages (tests/torture) and hand-written requests. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "procs/sipd/sipmsg.h"

#define TORTURE_DIR "tests/torture/"

static sipmsg_t *m;
static char file_buf[70000];

static int setup(void **state) {
    (void)state;
    m = sipmsg_new(65535);
    return m ? 0 : -1;
}

static int teardown(void **state) {
    (void)state;
    sipmsg_free(m);
    return 0;
}

static size_t load(const char *name) {
    char path[256];
    snprintf(path, sizeof path, TORTURE_DIR "%s.dat", name);
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    size_t n = fread(file_buf, 1, sizeof file_buf, f);
    fclose(f);
    return n;
}

static bool str_is(struct sipmsg_str s, const char *want) {
    return s.len == strlen(want) && memcmp(s.ptr, want, s.len) == 0;
}

/* What sipd does with each torture message before any transaction: the parse result,
 * then the status of the answer (the parse error, the 8.2 check, or the REGISTER
 * reading; 0 when the request is served). RFC 4475 and /work/shared/torture/README.md. */
static const struct {
    const char *file;
    enum sipmsg_result result;
    int status;
} torture[] = {
    {"wsinv", SIPMSG_OK, 0},
    {"intmeth", SIPMSG_OK, 501},
    {"esc01", SIPMSG_OK, 0},
    {"escnull", SIPMSG_OK, 0},
    {"esc02", SIPMSG_OK, 501},
    {"lwsdisp", SIPMSG_OK, 0},
    {"longreq", SIPMSG_OK, 0},
    {"dblreq", SIPMSG_OK, 0},
    {"semiuri", SIPMSG_OK, 0},
    {"transports", SIPMSG_OK, 0},
    {"mpart01", SIPMSG_OK, 405},
    {"unreason", SIPMSG_RESPONSE, 0},
    {"noreason", SIPMSG_RESPONSE, 0},
    {"badinv01", SIPMSG_REJECT, 400},
    {"clerr", SIPMSG_REJECT, 400},
    {"ncl", SIPMSG_REJECT, 400},
    {"scalar02", SIPMSG_REJECT, 400},
    {"scalarlg", SIPMSG_DROP, 0}, /* RFC 4475 3.1.2.4: CSeq out of range: discarded */
    {"quotbal", SIPMSG_REJECT, 400},
    {"ltgtruri", SIPMSG_REJECT, 400},
    {"lwsruri", SIPMSG_REJECT, 400},
    {"lwsstart", SIPMSG_REJECT, 400},
    {"trws", SIPMSG_REJECT, 400},
    {"escruri", SIPMSG_OK, 0},
    {"baddate", SIPMSG_OK, 0},
    {"regbadct", SIPMSG_OK, 400},
    {"badaspec", SIPMSG_REJECT, 400},
    {"baddn", SIPMSG_REJECT, 400},
    {"badvers", SIPMSG_REJECT, 505},
    {"mismatch01", SIPMSG_REJECT, 400},
    {"mismatch02", SIPMSG_REJECT, 400},
    {"bigcode", SIPMSG_DROP, 0},
    {"badbranch", SIPMSG_OK, 0},
    {"insuf", SIPMSG_REJECT, 400},
    {"unkscm", SIPMSG_OK, 416},
    {"novelsc", SIPMSG_OK, 416},
    {"unksm2", SIPMSG_OK, 400},
    {"bext01", SIPMSG_OK, 420},
    {"invut", SIPMSG_OK, 415},
    {"regaut01", SIPMSG_OK, 0},
    {"multi01", SIPMSG_REJECT, 400},
    {"mcl01", SIPMSG_REJECT, 400},
    {"bcast", SIPMSG_RESPONSE, 0},
    {"zeromf", SIPMSG_OK, 0},
    {"cparam01", SIPMSG_OK, 0},
    {"cparam02", SIPMSG_OK, 0},
    {"regescrt", SIPMSG_OK, 0},
    {"sdp01", SIPMSG_OK, 406},
    {"inv2543", SIPMSG_OK, 0},
};

static void test_torture_messages_get_the_rfc4475_outcome(void **state) {
    (void)state;
    for (size_t i = 0; i < sizeof torture / sizeof torture[0]; i++) {
        size_t n = load(torture[i].file);
        enum sipmsg_result r = sipmsg_parse(m, file_buf, n, false);
        int status = 0;
        if (r == SIPMSG_REJECT) {
            status = m->error_status;
        } else if (r == SIPMSG_OK) {
            struct sipmsg_verdict v;
            if (sipmsg_check(m, &v)) {
                status = v.status;
            } else if (m->method_id == SIPMSG_M_REGISTER) {
                struct sipmsg_register reg;
                char aor[256];
                if (!sipmsg_register_read(m, NULL, &reg, aor, sizeof aor, &v))
                    status = v.status;
            }
        }
        if (r != torture[i].result || status != torture[i].status)
            fail_msg("%s: result %d status %d (%s), expected result %d status %d", torture[i].file,
                     r, status, m->error_reason, torture[i].result, torture[i].status);
    }
    assert_int_equal(sizeof torture / sizeof torture[0], 49);
}

static void test_reject_reasons_name_the_problem(void **state) {
    (void)state;
    static const struct {
        const char *file, *reason;
    } cases[] = {
        {"insuf", "Missing From header"},
        {"clerr", "Content-Length larger than the body"},
        {"mcl01", "Multiple Content-Length headers"},
        {"mismatch01", "CSeq method does not match the request method"},
        {"scalar02", "Bad CSeq"},
        {"badinv01", "Bad Via header"},
        {"quotbal", "Bad To header"},
        {"ltgtruri", "Malformed Request-URI"},
        {"lwsstart", "Malformed Request-Line"},
        {"ncl", "Bad Content-Length"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t n = load(cases[i].file);
        assert_int_equal(sipmsg_parse(m, file_buf, n, false), SIPMSG_REJECT);
        assert_string_equal(m->error_reason, cases[i].reason);
    }
}

/* The slicer alone judges header syntax (RFC 3261 20, 25.1): each case names its field. */
static void test_header_syntax_is_judged_by_the_slicer(void **state) {
    (void)state;
    static const struct {
        const char *line, *reason;
    } cases[] = {
        {"Via: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK-x,\r\n", "Bad Via header"},
        {"Via: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK-x;;rport\r\n", "Bad Via header"},
        {"Via: SIP/2.0 10.0.0.1;branch=z9hG4bK-x\r\n", "Bad Via header"},
        {"Contact: <sip:a@10.0.0.1\r\n", "Bad Contact header"},
        {"Contact: <sip:a@10.0.0.1>, \r\n", "Bad Contact header"},
        {"Route: <sip:p@10.0.0.9;lr>;;\r\n", "Bad Route header"},
        {"Record-Route: sip p@10.0.0.9\r\n", "Bad Record-Route header"},
        {"Content-Type: sdp\r\n", "Bad Content-Type header"},
    };
    char buf[1024];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int n = snprintf(buf, sizeof buf,
                         "OPTIONS sip:b@example.com SIP/2.0\r\n"
                         "Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK-s%zu\r\n"
                         "From: <sip:a@example.com>;tag=1\r\nTo: <sip:b@example.com>\r\n"
                         "Call-ID: syn-%zu\r\nCSeq: 1 OPTIONS\r\n%sContent-Length: 0\r\n\r\n",
                         i, i, cases[i].line);
        assert_int_equal(sipmsg_parse(m, buf, (size_t)n, false), SIPMSG_REJECT);
        assert_string_equal(m->error_reason, cases[i].reason);
    }
    static const char good[] =
        "OPTIONS sip:b@example.com SIP/2.0\r\n"
        "Via: SIP/2.0/UDP [2001:db8::1]:5060;branch=z9hG4bK-g;received=10.0.0.1;rport=5060,"
        " SIP / 2.0 / TCP  host.example.com ; branch = z9hG4bK-h\r\n"
        "From: Alice Smith <sip:a@example.com>;tag=1\r\n"
        "To: \"B, the \\\"second\\\"\" <sips:b@example.com;transport=tls>\r\n"
        "Contact: *\r\nRoute: <sip:p@10.0.0.9;lr>, <sip:q@10.0.0.8;lr>\r\n"
        "Call-ID: good@10.0.0.1\r\nCSeq: 1 OPTIONS\r\n"
        "Content-Type: application/sdp;charset=\"utf-8\"\r\nContent-Length: 0\r\n\r\n";
    assert_int_equal(sipmsg_parse(m, good, strlen(good), false), SIPMSG_OK);
}

static void test_folded_compact_and_spaced_headers_are_read(void **state) {
    (void)state;
    size_t n = load("wsinv");
    assert_int_equal(sipmsg_parse(m, file_buf, n, false), SIPMSG_OK);
    assert_int_equal(m->method_id, SIPMSG_M_INVITE);
    assert_int_equal(m->cseq, 9);
    assert_true(str_is(m->cseq_method, "INVITE"));
    assert_int_equal(m->max_forwards, 68);
    assert_true(str_is(m->call_id, "wsinv.ndaksdj@192.0.2.1"));
    assert_true(str_is(m->from_tag, "98asjd8"));
    assert_true(m->has_to_tag);
    assert_true(str_is(m->to_tag, "1918181833n"));
    assert_int_equal(m->count[SIPMSG_H_VIA], 2); /* "Via  :" and "v:" */
    assert_true(str_is(m->via.transport, "UDP"));
    assert_true(str_is(m->via.host, "192.0.2.2"));
    assert_int_equal(m->via.port, 0);
    assert_true(str_is(m->via.branch, "390skdjuw"));
    assert_int_equal(m->content_length, 150);
    assert_int_equal(m->body.len, 150);
    assert_memory_equal(m->body.ptr, "v=0\r\n", 5);
}

/* sipmsg_via_next: every via-parm of every Via, top first (loop detection reads them). */
static void test_every_via_parm_is_read_in_order(void **state) {
    (void)state;
    static const char msg[] =
        "INVITE sip:a@b SIP/2.0\r\n"
        "Via: SIP/2.0/UDP 192.0.2.9:5080;branch=z9hG4bK-top , SIP/2.0/TCP "
        "[2001:db8::1];branch=z9hG4bK-2\r\n"
        "Max-Forwards: 70\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:a@b>\r\nCall-ID: v\r\n"
        "v: SIP/2.0/UDP 127.0.0.1:5060;rport;branch=z9hG4bKsb0x1\r\n"
        "CSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n";
    assert_int_equal(sipmsg_parse(m, msg, sizeof msg - 1, false), SIPMSG_OK);
    struct sipmsg_via_iter it = {0, 0};
    struct sipmsg_via via;
    assert_true(sipmsg_via_next(m, &it, &via));
    assert_true(str_is(via.host, "192.0.2.9"));
    assert_int_equal(via.port, 5080);
    assert_true(str_is(via.branch, "z9hG4bK-top"));
    assert_true(sipmsg_via_next(m, &it, &via));
    assert_true(str_is(via.transport, "TCP"));
    assert_true(str_is(via.host, "2001:db8::1"));
    assert_true(str_is(via.branch, "z9hG4bK-2"));
    assert_true(sipmsg_via_next(m, &it, &via));
    assert_true(str_is(via.host, "127.0.0.1"));
    assert_int_equal(via.port, 5060);
    assert_true(str_is(via.branch, "z9hG4bKsb0x1"));
    assert_false(sipmsg_via_next(m, &it, &via));
}

static void test_datagram_body_is_cut_to_content_length(void **state) {
    (void)state;
    size_t n = load("dblreq"); /* a REGISTER with Content-Length 0, then an INVITE */
    assert_int_equal(sipmsg_parse(m, file_buf, n, false), SIPMSG_OK);
    assert_int_equal(m->method_id, SIPMSG_M_REGISTER);
    assert_int_equal(m->body.len, 0);
    assert_int_equal(m->len, m->head_len);
    assert_true(m->len < n);
}

static void test_nul_in_quoted_string_is_accepted(void **state) {
    (void)state;
    size_t n = load("intmeth"); /* To: "BEL:\<BEL> NUL:\<NUL> DEL:\<DEL>" */
    assert_int_equal(sipmsg_parse(m, file_buf, n, false), SIPMSG_OK);
    assert_int_equal(m->method_id, SIPMSG_M_UNKNOWN);
    assert_true(str_is(m->method, "!interesting-Method0123456789_*+`.%indeed'~"));
}

static const char options_rport[] =
    "OPTIONS sip:switchboard.example.com SIP/2.0\r\n"
    "Via: SIP/2.0/UDP 10.0.0.7:5070;rport;branch=z9hG4bK-one, SIP/2.0/UDP proxy.example.com\r\n"
    "v: SIP/2.0/UDP ua.example.com;branch=z9hG4bK-two\r\n"
    "Max-Forwards: 70\r\n"
    "From: Alice <sip:alice@example.com>;tag=a1\r\n"
    "To: <sip:bob@example.com>\r\n"
    "i: opt-1@example.com\r\n"
    "CSeq: 7 OPTIONS\r\n"
    "l: 0\r\n"
    "\r\n";

static void test_echo_copies_vias_in_order_with_received_and_rport(void **state) {
    (void)state;
    char echo[2048];
    size_t to_tag_at;
    assert_int_equal(sipmsg_parse(m, options_rport, strlen(options_rport), false), SIPMSG_OK);
    assert_true(m->via.rport);
    int n = sipmsg_echo_build(m, "192.0.2.9", 40000, echo, sizeof echo, &to_tag_at);
    assert_true(n > 0);
    echo[n] = '\0';
    assert_string_equal(echo,
                        "Via: SIP/2.0/UDP 10.0.0.7:5070;branch=z9hG4bK-one;received=192.0.2.9;"
                        "rport=40000, SIP/2.0/UDP proxy.example.com\r\n"
                        "Via: SIP/2.0/UDP ua.example.com;branch=z9hG4bK-two\r\n"
                        "From: Alice <sip:alice@example.com>;tag=a1\r\n"
                        "To: <sip:bob@example.com>\r\n"
                        "Call-ID: opt-1@example.com\r\n"
                        "CSeq: 7 OPTIONS\r\n");
    assert_int_equal(to_tag_at, strstr(echo, "<sip:bob@example.com>") - echo + 21);
}

static void test_received_only_when_sent_by_is_not_the_source(void **state) {
    (void)state;
    static const char req[] = "OPTIONS sip:a@b SIP/2.0\r\n"
                              "Via: SIP/2.0/UDP 192.0.2.9:5060;branch=z9hG4bK-x\r\n"
                              "From: <sip:c@d>;tag=1\r\nTo: <sip:a@b>\r\nCall-ID: x\r\n"
                              "CSeq: 1 OPTIONS\r\n\r\n";
    char echo[1024];
    size_t at;
    assert_int_equal(sipmsg_parse(m, req, strlen(req), false), SIPMSG_OK);
    int n = sipmsg_echo_build(m, "192.0.2.9", 5060, echo, sizeof echo, &at);
    echo[n] = '\0';
    assert_non_null(strstr(echo, "Via: SIP/2.0/UDP 192.0.2.9:5060;branch=z9hG4bK-x\r\n"));
    n = sipmsg_echo_build(m, "198.51.100.1", 5060, echo, sizeof echo, &at);
    echo[n] = '\0';
    assert_non_null(
        strstr(echo, "Via: SIP/2.0/UDP 192.0.2.9:5060;branch=z9hG4bK-x;received=198.51.100.1\r\n"));
}

static void test_response_has_to_tag_server_and_content_length(void **state) {
    (void)state;
    char echo[2048], out[4096];
    size_t to_tag_at;
    assert_int_equal(sipmsg_parse(m, options_rport, strlen(options_rport), false), SIPMSG_OK);
    int echo_len = sipmsg_echo_build(m, "192.0.2.9", 40000, echo, sizeof echo, &to_tag_at);
    static const char extra[] = "Allow: INVITE\r\n";
    struct sipmsg_response r = {.status = 200,
                                .echo = echo,
                                .echo_len = (size_t)echo_len,
                                .to_tag_at = to_tag_at,
                                .to_tag = "t0",
                                .server = "Switchboard",
                                .headers = extra,
                                .headers_len = sizeof extra - 1,
                                .body = "hello",
                                .body_len = 5};
    int n = sipmsg_response_build(&r, out, sizeof out);
    assert_true(n > 0);
    out[n] = '\0';
    assert_memory_equal(out, "SIP/2.0 200 OK\r\n", 16);
    assert_non_null(strstr(out, "\r\nTo: <sip:bob@example.com>;tag=t0\r\n"));
    assert_non_null(strstr(out, "\r\nServer: Switchboard\r\nAllow: INVITE\r\n"
                                "Content-Length: 5\r\n\r\nhello"));
    /* and the builder refuses to cut */
    assert_int_equal(sipmsg_response_build(&r, out, 100), -ENOSPC);
    /* the answer parses as a response */
    assert_int_equal(sipmsg_parse(m, out, (size_t)n, false), SIPMSG_RESPONSE);
    assert_int_equal(m->status, 200);
}

static void test_to_that_has_a_tag_gets_none_added(void **state) {
    (void)state;
    char echo[4096];
    size_t to_tag_at;
    size_t n = load("wsinv");
    assert_int_equal(sipmsg_parse(m, file_buf, n, false), SIPMSG_OK);
    assert_true(sipmsg_echo_build(m, "127.0.0.1", 5060, echo, sizeof echo, &to_tag_at) > 0);
    assert_int_equal(to_tag_at, SIZE_MAX);
}

static void test_broken_request_without_usable_via_is_dropped(void **state) {
    (void)state;
    static const char no_via[] = "OPTIONS sip:a@b SIP/2.0\r\nFrom: <sip:c@d>;tag=1\r\n"
                                 "To: <sip:a@b>\r\nCall-ID: x\r\nCSeq: 1 OPTIONS\r\n\r\n";
    static const char bad_via[] = "OPTIONS sip:a@b SIP/2.0\r\nVia: HTTP/1.1 nowhere\r\n"
                                  "From: <sip:c@d>;tag=1\r\nTo: <sip:a@b>\r\nCall-ID: x\r\n"
                                  "CSeq: 1 OPTIONS\r\n\r\n";
    static const char no_cseq[] =
        "OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\n"
        "From: <sip:c@d>;tag=1\r\nTo: <sip:a@b>\r\nCall-ID: x\r\n\r\n";
    assert_int_equal(sipmsg_parse(m, no_via, strlen(no_via), false), SIPMSG_DROP);
    assert_int_equal(sipmsg_parse(m, bad_via, strlen(bad_via), false), SIPMSG_DROP);
    assert_int_equal(sipmsg_parse(m, no_cseq, strlen(no_cseq), false), SIPMSG_DROP);
    assert_int_equal(sipmsg_parse(m, "garbage", 7, false), SIPMSG_DROP);
    assert_int_equal(sipmsg_parse(m, "\r\n\r\n", 4, false), SIPMSG_DROP);
}

static void test_checks_answer_with_allow_unsupported_and_accept(void **state) {
    (void)state;
    struct sipmsg_verdict v;
    size_t n = load("bext01");
    assert_int_equal(sipmsg_parse(m, file_buf, n, false), SIPMSG_OK);
    assert_true(sipmsg_check(m, &v));
    assert_int_equal(v.status, 420);
    assert_string_equal(v.reason, "Bad Extension");
    v.headers[v.headers_len] = '\0';
    assert_string_equal(v.headers,
                        "Unsupported: nothingSupportsThis, nothingSupportsThisEither\r\n");

    n = load("mpart01");
    assert_int_equal(sipmsg_parse(m, file_buf, n, false), SIPMSG_OK);
    assert_true(sipmsg_check(m, &v));
    assert_int_equal(v.status, 405);
    v.headers[v.headers_len] = '\0';
    assert_string_equal(v.headers, "Allow: INVITE, ACK, CANCEL, BYE, OPTIONS, REGISTER, UPDATE, REFER\r\n");

    n = load("invut");
    assert_int_equal(sipmsg_parse(m, file_buf, n, false), SIPMSG_OK);
    assert_true(sipmsg_check(m, &v));
    assert_int_equal(v.status, 415);
    v.headers[v.headers_len] = '\0';
    assert_string_equal(v.headers, "Accept: application/sdp\r\n");
}

static void test_max_forwards_zero_is_483_only_for_a_call_to_pass_on(void **state) {
    (void)state;
    static const char invite[] = "INVITE sip:bob@example.com SIP/2.0\r\n"
                                 "Via: SIP/2.0/UDP h;branch=z9hG4bK1\r\nMax-Forwards: 0\r\n"
                                 "From: <sip:c@d>;tag=1\r\nTo: <sip:bob@example.com>\r\n"
                                 "Call-ID: mf0\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n";
    struct sipmsg_verdict v;
    assert_int_equal(sipmsg_parse(m, invite, strlen(invite), false), SIPMSG_OK);
    assert_true(sipmsg_check(m, &v));
    assert_int_equal(v.status, 483);
    size_t n = load("zeromf"); /* OPTIONS with Max-Forwards: 0: answered by us */
    assert_int_equal(sipmsg_parse(m, file_buf, n, false), SIPMSG_OK);
    assert_false(sipmsg_check(m, &v));
}

static void test_register_reads_aor_contacts_and_expires(void **state) {
    (void)state;
    static const char reg[] =
        "REGISTER sip:Example.COM SIP/2.0\r\n"
        "Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK-r1\r\n"
        "From: <sip:alice@Example.COM>;tag=9\r\n"
        "To: \"Alice\" <sip:alice:secret@Example.COM:5080;transport=udp>\r\n"
        "Call-ID: reg-1\r\nCSeq: 12 REGISTER\r\n"
        "Contact: <sip:alice@10.0.0.1:5060;ob>;expires=600;q=0.5, sip:alice@10.0.0.2\r\n"
        "m: <sip:alice@10.0.0.3>;+sip.instance=\"<urn:uuid:1>\"\r\n"
        "Expires: 1800\r\nUser-Agent: phone/1.0\r\nContent-Length: 0\r\n\r\n";
    struct sipmsg_register r;
    struct sipmsg_verdict v;
    char aor[128];
    assert_int_equal(sipmsg_parse(m, reg, strlen(reg), false), SIPMSG_OK);
    assert_true(sipmsg_register_read(m, NULL, &r, aor, sizeof aor, &v));
    /* RFC 3261 10.3: the AOR is user@host, without the port (sipuri.h) */
    assert_string_equal(aor, "sip:alice@example.com");
    assert_false(r.wildcard);
    assert_int_equal(r.ncontacts, 3);
    assert_true(str_is(r.contacts[0].uri, "sip:alice@10.0.0.1:5060;ob"));
    assert_int_equal(r.contacts[0].expires, 600);
    assert_int_equal(r.contacts[0].q, 500);
    assert_true(str_is(r.contacts[1].uri, "sip:alice@10.0.0.2"));
    assert_int_equal(r.contacts[1].expires, -1);
    assert_int_equal(r.contacts[1].q, -1);
    assert_true(str_is(r.contacts[2].uri, "sip:alice@10.0.0.3"));
    assert_int_equal(m->expires, 1800);
    assert_true(str_is(sipmsg_header_value(m, SIPMSG_H_USER_AGENT), "phone/1.0"));
}

static void test_register_torture_contacts_are_kept_as_sent(void **state) {
    (void)state;
    static const struct {
        const char *file, *uri;
    } cases[] = {
        {"cparam01", "sip:+19725552222@gw1.example.net"}, /* ;unknownparam is a header param */
        {"cparam02", "sip:+19725552222@gw1.example.net;unknownparam"},
        {"regescrt", "sip:user@example.com?Route=%3Csip:sip.example.com%3E"},
        {"escnull", "sip:%00@host5.example.com"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct sipmsg_register r;
        struct sipmsg_verdict v;
        char aor[128];
        size_t n = load(cases[i].file);
        assert_int_equal(sipmsg_parse(m, file_buf, n, false), SIPMSG_OK);
        assert_true(sipmsg_register_read(m, NULL, &r, aor, sizeof aor, &v));
        assert_true(r.ncontacts >= 1);
        if (!str_is(r.contacts[0].uri, cases[i].uri))
            fail_msg("%s: contact %.*s", cases[i].file, (int)r.contacts[0].uri.len,
                     r.contacts[0].uri.ptr);
    }
    size_t n = load("escnull");
    struct sipmsg_register r;
    struct sipmsg_verdict v;
    char aor[128];
    assert_int_equal(sipmsg_parse(m, file_buf, n, false), SIPMSG_OK);
    assert_true(sipmsg_register_read(m, NULL, &r, aor, sizeof aor, &v));
    assert_string_equal(aor, "sip:null-%00-null@example.com");
}

static void test_register_wildcard_needs_expires_zero_and_nothing_else(void **state) {
    (void)state;
    static const char fmt[] = "REGISTER sip:example.com SIP/2.0\r\n"
                              "Via: SIP/2.0/UDP h;branch=z9hG4bK-w\r\n"
                              "From: <sip:a@example.com>;tag=1\r\nTo: <sip:a@example.com>\r\n"
                              "Call-ID: w\r\nCSeq: 2 REGISTER\r\n%s\r\n";
    char req[512];
    struct sipmsg_register r;
    struct sipmsg_verdict v;
    char aor[64];
    snprintf(req, sizeof req, fmt, "Contact: *\r\nExpires: 0\r\n");
    assert_int_equal(sipmsg_parse(m, req, strlen(req), false), SIPMSG_OK);
    assert_true(sipmsg_register_read(m, NULL, &r, aor, sizeof aor, &v));
    assert_true(r.wildcard);
    assert_int_equal(r.ncontacts, 0);
    snprintf(req, sizeof req, fmt, "Contact: *\r\n");
    assert_int_equal(sipmsg_parse(m, req, strlen(req), false), SIPMSG_OK);
    assert_false(sipmsg_register_read(m, NULL, &r, aor, sizeof aor, &v));
    assert_int_equal(v.status, 400);
    snprintf(req, sizeof req, fmt, "Contact: *, <sip:a@h>\r\nExpires: 0\r\n");
    assert_int_equal(sipmsg_parse(m, req, strlen(req), false), SIPMSG_OK);
    assert_false(sipmsg_register_read(m, NULL, &r, aor, sizeof aor, &v));
    snprintf(req, sizeof req, fmt, "Contact: <sip:a@h>;expires=4294967296\r\n");
    assert_int_equal(sipmsg_parse(m, req, strlen(req), false), SIPMSG_OK);
    assert_false(sipmsg_register_read(m, NULL, &r, aor, sizeof aor, &v));
    assert_string_equal(v.reason, "Bad Contact expires");
}

static void test_stream_framing_by_content_length(void **state) {
    (void)state;
    static const char two[] = "OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/TCP h;branch=z9hG4bK1\r\n"
                              "Content-Length: 3\r\n\r\nabcOPTIONS sip:...";
    size_t msg_len, head_len;
    assert_int_equal(sipmsg_frame(two, 20, 65535, &msg_len, &head_len), 0); /* need more */
    assert_int_equal(sipmsg_frame(two, strlen(two), 65535, &msg_len, &head_len), 1);
    assert_int_equal(msg_len, strstr(two, "abc") + 3 - two);
    assert_int_equal(head_len, msg_len - 3);
    assert_int_equal(sipmsg_frame(two, strlen(two) - 20, 65535, &msg_len, &head_len), 0);
    assert_int_equal(sipmsg_frame(two, strlen(two), 60, &msg_len, &head_len), -EMSGSIZE);
    static const char no_cl[] = "OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/TCP h\r\n\r\n";
    assert_int_equal(sipmsg_frame(no_cl, strlen(no_cl), 65535, &msg_len, &head_len), -EBADMSG);
    assert_int_equal(head_len, strlen(no_cl));
    static const char big[] = "OPTIONS sip:a@b SIP/2.0\r\nl: 99999999\r\n\r\n";
    assert_int_equal(sipmsg_frame(big, strlen(big), 65535, &msg_len, &head_len), -EMSGSIZE);
}

static void test_stream_message_without_content_length_is_400(void **state) {
    (void)state;
    static const char req[] = "OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/TCP h;branch=z9hG4bK1\r\n"
                              "From: <sip:c@d>;tag=1\r\nTo: <sip:a@b>\r\nCall-ID: x\r\n"
                              "CSeq: 1 OPTIONS\r\n\r\n";
    assert_int_equal(sipmsg_parse(m, req, strlen(req), true), SIPMSG_REJECT);
    assert_int_equal(m->error_status, 400);
    assert_string_equal(m->error_reason, "Missing Content-Length");
    assert_int_equal(sipmsg_parse(m, req, strlen(req), false), SIPMSG_OK);
}

static void test_every_cut_of_a_message_is_handled(void **state) {
    (void)state;
    /* No prefix of a valid request may crash the parser or be taken as that request. */
    size_t n = load("wsinv");
    for (size_t len = 0; len < n; len++) {
        enum sipmsg_result r = sipmsg_parse(m, file_buf, len, false);
        assert_true(r == SIPMSG_OK || r == SIPMSG_REJECT || r == SIPMSG_DROP);
        if (r == SIPMSG_OK)
            assert_true(m->len <= len);
    }
}

/* A REGISTER with the given extra header lines and Contact (RFC 5626 cases). */
static bool ob_register(const char *via2, const char *extra, const char *contact,
                        struct sipmsg_register *r, struct sipmsg_verdict *v) {
    static char reg[2048];
    snprintf(reg, sizeof reg,
             "REGISTER sip:example.com SIP/2.0\r\n"
             "Via: SIP/2.0/TCP 10.0.0.1:5060;branch=z9hG4bK-ob1\r\n%s"
             "From: <sip:bob@example.com>;tag=9\r\nTo: <sip:bob@example.com>\r\n"
             "Call-ID: ob-1\r\nCSeq: 1 REGISTER\r\n%sContact: %s\r\n"
             "Content-Length: 0\r\n\r\n",
             via2, extra, contact);
    char aor[128];
    assert_int_equal(sipmsg_parse(m, reg, strlen(reg), false), SIPMSG_OK);
    return sipmsg_register_read(m, NULL, r, aor, sizeof aor, v);
}

static void test_register_outbound_keeps_instance_and_reg_id(void **state) {
    (void)state;
    struct sipmsg_register r;
    struct sipmsg_verdict v;
    assert_true(ob_register("", "Supported: path, outbound\r\n",
                            "<sip:line1@10.0.0.1;transport=tcp>;reg-id=2;"
                            "+sip.instance=\"<urn:uuid:00000000-0000-1000-8000-000A95A0E128>\"",
                            &r, &v));
    assert_true(r.outbound);
    assert_true(r.path_supported);
    assert_int_equal(r.contacts[0].reg_id, 2);
    assert_true(str_is(r.contacts[0].instance, "<urn:uuid:00000000-0000-1000-8000-000A95A0E128>"));
    /* Require: outbound asks for it too */
    assert_true(ob_register("", "Require: outbound\r\n",
                            "<sip:b@10.0.0.1>;+sip.instance=\"<urn:uuid:1>\";reg-id=1", &r, &v));
    assert_true(r.outbound);
    assert_int_equal(r.contacts[0].reg_id, 1);
}

static void test_register_reg_id_ignored_without_outbound_or_instance(void **state) {
    (void)state;
    struct sipmsg_register r;
    struct sipmsg_verdict v;
    /* RFC 5626 6: no outbound option tag: reg-id is ignored */
    assert_true(
        ob_register("", "", "<sip:b@10.0.0.1>;reg-id=1;+sip.instance=\"<urn:uuid:1>\"", &r, &v));
    assert_false(r.outbound);
    assert_int_equal(r.contacts[0].reg_id, 0);
    assert_int_equal(r.contacts[0].instance.len, 0);
    /* a reg-id without +sip.instance: "it simply ignores the reg-id parameter" */
    assert_true(ob_register("", "Supported: outbound\r\n", "<sip:b@10.0.0.1>;reg-id=1", &r, &v));
    assert_false(r.outbound);
    assert_int_equal(r.contacts[0].reg_id, 0);
}

static void test_register_outbound_refusals(void **state) {
    (void)state;
    struct sipmsg_register r;
    struct sipmsg_verdict v;
    assert_false(ob_register("", "Supported: outbound\r\n",
                             "<sip:b@10.0.0.1>;reg-id=1;+sip.instance=\"<urn:uuid:1>\", "
                             "<sip:b@10.0.0.2>;reg-id=2;+sip.instance=\"<urn:uuid:1>\"",
                             &r, &v));
    assert_int_equal(v.status, 400);
    assert_false(ob_register("", "Supported: outbound\r\n",
                             "<sip:b@10.0.0.1>;reg-id=0;+sip.instance=\"<urn:uuid:1>\"", &r, &v));
    assert_int_equal(v.status, 400);
    /* through a proxy that did not mark its Path with ;ob: 439 */
    assert_false(ob_register("Via: SIP/2.0/UDP 10.9.9.9;branch=z9hG4bK-e\r\n",
                             "Supported: outbound\r\nPath: <sip:edge.example.com;lr>\r\n",
                             "<sip:b@10.0.0.1>;reg-id=1;+sip.instance=\"<urn:uuid:1>\"", &r, &v));
    assert_int_equal(v.status, 439);
    /* ... and accepted when it did */
    assert_true(ob_register("Via: SIP/2.0/UDP 10.9.9.9;branch=z9hG4bK-e\r\n",
                            "Supported: outbound\r\nPath: <sip:edge.example.com;lr;ob>\r\n",
                            "<sip:b@10.0.0.1>;reg-id=1;+sip.instance=\"<urn:uuid:1>\"", &r, &v));
    assert_true(r.outbound);
}

static void test_register_reads_path_in_order(void **state) {
    (void)state;
    struct sipmsg_register r;
    struct sipmsg_verdict v;
    assert_true(ob_register("Via: SIP/2.0/UDP 10.9.9.9;branch=z9hG4bK-e\r\n",
                            "Path: <sip:p1.example.com;lr>, <sip:p2.example.com;lr>\r\n"
                            "Path: <sip:p3.example.com;lr>\r\n",
                            "<sip:b@10.0.0.1>", &r, &v));
    assert_int_equal(r.npath, 3);
    assert_true(str_is(r.path[0], "<sip:p1.example.com;lr>"));
    assert_true(str_is(r.path[2], "<sip:p3.example.com;lr>"));
    assert_false(r.path_supported);
    assert_false(ob_register("", "Path: sip:bare.example.com\r\n", "<sip:b@10.0.0.1>", &r, &v));
    assert_int_equal(v.status, 400);
}

int main(void) {
    sipmsg_library_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_torture_messages_get_the_rfc4475_outcome),
        cmocka_unit_test(test_reject_reasons_name_the_problem),
        cmocka_unit_test(test_folded_compact_and_spaced_headers_are_read),
        cmocka_unit_test(test_datagram_body_is_cut_to_content_length),
        cmocka_unit_test(test_every_via_parm_is_read_in_order),
        cmocka_unit_test(test_nul_in_quoted_string_is_accepted),
        cmocka_unit_test(test_echo_copies_vias_in_order_with_received_and_rport),
        cmocka_unit_test(test_received_only_when_sent_by_is_not_the_source),
        cmocka_unit_test(test_response_has_to_tag_server_and_content_length),
        cmocka_unit_test(test_to_that_has_a_tag_gets_none_added),
        cmocka_unit_test(test_broken_request_without_usable_via_is_dropped),
        cmocka_unit_test(test_checks_answer_with_allow_unsupported_and_accept),
        cmocka_unit_test(test_max_forwards_zero_is_483_only_for_a_call_to_pass_on),
        cmocka_unit_test(test_header_syntax_is_judged_by_the_slicer),
        cmocka_unit_test(test_register_reads_aor_contacts_and_expires),
        cmocka_unit_test(test_register_torture_contacts_are_kept_as_sent),
        cmocka_unit_test(test_register_wildcard_needs_expires_zero_and_nothing_else),
        cmocka_unit_test(test_stream_framing_by_content_length),
        cmocka_unit_test(test_stream_message_without_content_length_is_400),
        cmocka_unit_test(test_every_cut_of_a_message_is_handled),
        cmocka_unit_test(test_register_outbound_keeps_instance_and_reg_id),
        cmocka_unit_test(test_register_reg_id_ignored_without_outbound_or_instance),
        cmocka_unit_test(test_register_outbound_refusals),
        cmocka_unit_test(test_register_reads_path_in_order),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
