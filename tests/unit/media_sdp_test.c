/* media_sdp: what mediad reads from a party's SDP and how it rewrites it (RFC 3264, 3605,
 * 4568), and that hostile SDP is refused with the right error. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>

#include <cmocka.h>

#include "procs/mediad/media_sdp.h"

static char why[256];

static const char offer[] = "v=0\r\n"
                            "o=alice 2890844526 2890844526 IN IP4 10.0.0.1\r\n"
                            "s=-\r\n"
                            "c=IN IP4 10.0.0.1\r\n"
                            "t=0 0\r\n"
                            "m=audio 49170 RTP/AVP 0 8 97 101\r\n"
                            "a=rtpmap:0 PCMU/8000\r\n"
                            "a=rtpmap:8 PCMA/8000\r\n"
                            "a=rtpmap:97 opus/48000/2\r\n"
                            "a=fmtp:97 useinbandfec=1\r\n"
                            "a=rtpmap:101 telephone-event/8000\r\n"
                            "a=fmtp:101 0-15\r\n"
                            "a=rtcp:49999\r\n"
                            "a=sendonly\r\n"
                            "m=video 51372 RTP/AVP 31\r\n"
                            "c=IN IP4 10.0.0.2\r\n"
                            "a=rtpmap:31 H261/90000\r\n"
                            "m=audio 0 RTP/AVP 9\r\n";

/* Whether a (an SDP's address) is the IP s. */
static bool ip_is(const media_sa_t *a, const char *s) {
    media_sa_t b;
    return media_sa_parse(s, &b) && media_sa_ip_eq(a, &b) && media_sa_port(a) == 0;
}

static void test_parse_reads_every_line(void **state) {
    (void)state;
    struct media_sdp sdp;
    assert_int_equal(media_sdp_parse(offer, strlen(offer), &sdp, why, sizeof why), 0);
    assert_int_equal(sdp.n_lines, 3);
    const struct media_sdp_line *a = &sdp.line[0], *v = &sdp.line[1], *r = &sdp.line[2];
    assert_string_equal(a->media, "audio");
    assert_int_equal(a->port, 49170);
    assert_int_equal(a->rtcp_port, 49999); /* RFC 3605 */
    assert_true(ip_is(&a->addr, "10.0.0.1"));
    assert_int_equal(a->dir, MEDIA_DIR_SENDONLY);
    assert_int_equal(a->first_pt, 0);
    assert_string_equal(a->codec, "PCMU");
    assert_int_equal(a->pcmu_pt, 0);
    assert_int_equal(a->pcma_pt, 8);
    assert_int_equal(a->dtmf_pt, 101);
    assert_false(a->srtp);
    assert_int_equal(v->port, 51372);
    assert_int_equal(v->rtcp_port, 51373);
    assert_true(ip_is(&v->addr, "10.0.0.2")); /* the media c= wins over the session one */
    assert_string_equal(v->codec, "H261");
    assert_int_equal(v->clock_rate, 90000);
    assert_int_equal(v->dir, MEDIA_DIR_SENDRECV);
    assert_int_equal(r->port, 0); /* rejected */
}

static void test_rewrite_puts_our_address_and_ports_keeps_the_rest(void **state) {
    (void)state;
    struct media_sdp_local loc = {.addr = "192.0.2.7"};
    loc.rtp_port[0] = 30000;
    loc.rtcp_port[0] = 30001;
    loc.rtp_port[1] = 30002;
    loc.rtcp_port[1] = 30003;
    loc.rtp_port[2] = 30004; /* must not be used: the line is rejected */
    char *out;
    size_t len;
    assert_int_equal(media_sdp_rewrite(offer, strlen(offer), &loc, &out, &len, why, sizeof why), 0);
    assert_int_equal(strlen(out), len);
    assert_non_null(strstr(out, "c=IN IP4 192.0.2.7\r\n"));
    assert_null(strstr(out, "10.0.0.1\r\nt=")); /* session c= replaced */
    assert_null(strstr(out, "c=IN IP4 10.0.0.2"));
    assert_non_null(strstr(out, "m=audio 30000 RTP/AVP 0 8 97 101\r\n"));
    assert_non_null(strstr(out, "m=video 30002 RTP/AVP 31\r\n"));
    assert_non_null(strstr(out, "m=audio 0 RTP/AVP 9\r\n"));
    assert_null(strstr(out, "30004"));
    assert_non_null(strstr(out, "a=rtcp:30001\r\n"));
    assert_non_null(strstr(out, "a=rtcp:30003\r\n"));
    assert_null(strstr(out, "a=rtcp:49999"));
    assert_non_null(strstr(out, "a=fmtp:97 useinbandfec=1\r\n"));
    assert_non_null(strstr(out, "a=fmtp:101 0-15\r\n"));
    assert_non_null(strstr(out, "a=sendonly\r\n"));
    /* the origin keeps the party's user, session id and version, with our address */
    assert_non_null(strstr(out, "o=alice 2890844526 2890844526 IN IP4 192.0.2.7\r\n"));
    assert_null(strstr(out, "10.0.0.1"));
    /* the result parses again, with our ports */
    struct media_sdp again;
    assert_int_equal(media_sdp_parse(out, len, &again, why, sizeof why), 0);
    assert_int_equal(again.line[0].port, 30000);
    assert_int_equal(again.line[0].rtcp_port, 30001);
    assert_true(ip_is(&again.line[1].addr, "192.0.2.7"));
    assert_int_equal(again.line[2].port, 0);
    free(out);
}

/* IPv6: c=IN IP6 is read, and an IPv6 address of ours is written as IN IP6 (and IPv4
 * as IN IP4 whatever the party spoke). */
static void test_ipv6_read_and_written(void **state) {
    (void)state;
    static const char v6[] = "v=0\r\no=bob 1 1 IN IP6 2001:db8::2\r\ns=-\r\n"
                             "c=IN IP6 2001:db8::2\r\nt=0 0\r\nm=audio 40000 RTP/AVP 0\r\n"
                             "m=audio 40002 RTP/AVP 8\r\nc=IN IP6 ::\r\n";
    struct media_sdp sdp;
    assert_int_equal(media_sdp_parse(v6, strlen(v6), &sdp, why, sizeof why), 0);
    assert_int_equal(sdp.line[0].addr.sa.sa_family, AF_INET6);
    assert_true(ip_is(&sdp.line[0].addr, "2001:db8::2"));
    assert_int_equal(sdp.line[0].dir, MEDIA_DIR_SENDRECV);
    assert_int_equal(sdp.line[1].dir, MEDIA_DIR_SENDONLY); /* c=IN IP6 :: is hold */
    struct media_sdp_local loc = {.addr = "2001:db8::53"};
    loc.rtp_port[0] = 30000, loc.rtcp_port[0] = 30001;
    loc.rtp_port[1] = 30002, loc.rtcp_port[1] = 30003;
    char *out;
    size_t len;
    assert_int_equal(media_sdp_rewrite(v6, strlen(v6), &loc, &out, &len, why, sizeof why), 0);
    assert_non_null(strstr(out, "o=bob 1 1 IN IP6 2001:db8::53\r\n"));
    assert_non_null(strstr(out, "c=IN IP6 2001:db8::53\r\n"));
    assert_null(strstr(out, "2001:db8::2"));
    free(out);
    loc.addr = "192.0.2.7"; /* an IPv6 party, an IPv4 phone on the other side */
    assert_int_equal(media_sdp_rewrite(v6, strlen(v6), &loc, &out, &len, why, sizeof why), 0);
    assert_non_null(strstr(out, "o=bob 1 1 IN IP4 192.0.2.7\r\n"));
    assert_non_null(strstr(out, "c=IN IP4 192.0.2.7\r\n"));
    assert_null(strstr(out, "IP6"));
    free(out);
    loc.addr = "2001:db8::53"; /* and the other way */
    assert_int_equal(media_sdp_rewrite(offer, strlen(offer), &loc, &out, &len, why, sizeof why), 0);
    assert_non_null(strstr(out, "c=IN IP6 2001:db8::53\r\n"));
    assert_null(strstr(out, "IP4"));
    free(out);
}

static void test_crypto_is_read_and_replaced_by_ours(void **state) {
    (void)state;
    static const char srtp[] =
        "v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\n"
        "m=audio 4000 RTP/SAVP 0\r\n"
        "a=crypto:3 AES_CM_128_HMAC_SHA1_32 "
        "inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz|2^20|1:32\r\n";
    struct media_sdp sdp;
    assert_int_equal(media_sdp_parse(srtp, strlen(srtp), &sdp, why, sizeof why), 0);
    assert_true(sdp.line[0].srtp);
    assert_int_equal(sdp.line[0].crypto.suite, MEDIA_CRYPTO_AES_CM_128_HMAC_SHA1_32);
    assert_int_equal(sdp.line[0].crypto.tag, 3);
    uint8_t want[30];
    assert_int_equal(media_b64_decode("WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz", 40, want, 30),
                     30);
    assert_memory_equal(sdp.line[0].crypto.key, want, 30);
    struct media_sdp_local loc = {.addr = "127.0.0.1"};
    loc.rtp_port[0] = 5000;
    loc.rtcp_port[0] = 5001;
    loc.srtp[0] = true;
    loc.crypto[0].suite = MEDIA_CRYPTO_AES_CM_128_HMAC_SHA1_80;
    loc.crypto[0].tag = 3;
    memset(loc.crypto[0].key, 0xab, 30);
    char *out;
    size_t len;
    assert_int_equal(media_sdp_rewrite(srtp, strlen(srtp), &loc, &out, &len, why, sizeof why), 0);
    assert_null(strstr(out, "WVNfX19z")); /* their key never goes to the other side */
    assert_non_null(strstr(out, "a=crypto:3 AES_CM_128_HMAC_SHA1_80 inline:q6ur"));
    assert_non_null(strstr(out, "m=audio 5000 RTP/SAVP 0"));
    free(out);
    /* the same offer for a plain RTP party: no crypto, RTP/AVP */
    loc.srtp[0] = false;
    assert_int_equal(media_sdp_rewrite(srtp, strlen(srtp), &loc, &out, &len, why, sizeof why), 0);
    assert_null(strstr(out, "a=crypto"));
    assert_non_null(strstr(out, "m=audio 5000 RTP/AVP 0"));
    free(out);
}

static void test_hold_by_zero_address_is_sendonly(void **state) {
    (void)state;
    static const char hold[] = "v=0\r\no=- 1 2 IN IP4 0.0.0.0\r\ns=-\r\nc=IN IP4 0.0.0.0\r\n"
                               "t=0 0\r\nm=audio 4000 RTP/AVP 0\r\n";
    struct media_sdp sdp;
    assert_int_equal(media_sdp_parse(hold, strlen(hold), &sdp, why, sizeof why), 0);
    assert_int_equal(sdp.line[0].dir, MEDIA_DIR_SENDONLY); /* RFC 3264 8.4 */
    static const char inactive[] = "v=0\r\no=- 1 2 IN IP4 1.2.3.4\r\ns=-\r\nc=IN IP4 1.2.3.4\r\n"
                                   "t=0 0\r\na=inactive\r\nm=audio 4000 RTP/AVP 0\r\n";
    assert_int_equal(media_sdp_parse(inactive, strlen(inactive), &sdp, why, sizeof why), 0);
    assert_int_equal(sdp.line[0].dir, MEDIA_DIR_INACTIVE); /* session-level attribute */
}

static void test_bad_and_unrelayable_sdp_are_refused(void **state) {
    (void)state;
    struct media_sdp sdp;
    const struct {
        const char *text;
        int rc;
    } cases[] = {
        {"", -EBADMSG},
        {"hello", -EBADMSG},
        {"v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\nt=0 0\r\n", -EBADMSG}, /* no m= */
        {"v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n", -EBADMSG},
        {"v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\nc=IN IP4 1.2.3.4\r\nt=0 0\r\n"
         "m=audio 99999 RTP/AVP 0\r\n",
         -EBADMSG},
        {"v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\nc=IN IP4 999.2.3.4\r\nt=0 0\r\n"
         "m=audio 4000 RTP/AVP 0\r\n",
         -EBADMSG},
        {"v=0\r\no=- 1 1 IN IP6 ::1\r\ns=-\r\nc=IN IP6 ff02::1\r\nt=0 0\r\n"
         "m=audio 4000 RTP/AVP 0\r\n",
         -EPROTONOSUPPORT},
        {"v=0\r\no=- 1 1 IN IP6 ::1\r\ns=-\r\nc=IN IP6 10.0.0.1\r\nt=0 0\r\n"
         "m=audio 4000 RTP/AVP 0\r\n",
         -EBADMSG},
        {"v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\nc=IN IP4 ::1\r\nt=0 0\r\n"
         "m=audio 4000 RTP/AVP 0\r\n",
         -EBADMSG},
        {"v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\nc=IN IP4 224.2.1.1/127\r\nt=0 0\r\n"
         "m=audio 4000 RTP/AVP 0\r\n",
         -EPROTONOSUPPORT},
        {"v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\nc=IN IP4 1.2.3.4\r\nt=0 0\r\n"
         "m=image 4000 udptl t38\r\n",
         -EPROTONOSUPPORT},
        {"v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\nc=IN IP4 1.2.3.4\r\nt=0 0\r\n"
         "m=audio 4000 RTP/SAVP 0\r\n",
         -EPROTONOSUPPORT}, /* SAVP without a key */
        {"v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\nc=IN IP4 1.2.3.4\r\nt=0 0\r\n"
         "m=audio 4000/2 RTP/AVP 0\r\n",
         -EPROTONOSUPPORT},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int rc = media_sdp_parse(cases[i].text, strlen(cases[i].text), &sdp, why, sizeof why);
        if (rc != cases[i].rc)
            fail_msg("case %zu: rc %d, want %d (%s)", i, rc, cases[i].rc, why);
        assert_int_equal(sdp.n_lines, 0);
    }
    /* a rejected unrelayable line is fine: it is passed through as it is */
    static const char ok[] = "v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\nc=IN IP4 1.2.3.4\r\n"
                             "t=0 0\r\nm=audio 4000 RTP/AVP 0\r\nm=image 0 udptl t38\r\n";
    assert_int_equal(media_sdp_parse(ok, strlen(ok), &sdp, why, sizeof why), 0);
    assert_int_equal(sdp.n_lines, 2);
    /* a NUL inside, or more text than we accept */
    assert_int_equal(media_sdp_parse("v=0\0x", 5, &sdp, why, sizeof why), -EBADMSG);
    char *big = malloc(MEDIA_SDP_MAX_TEXT + 2);
    memset(big, 'a', MEDIA_SDP_MAX_TEXT + 1);
    big[MEDIA_SDP_MAX_TEXT + 1] = 0;
    assert_int_equal(media_sdp_parse(big, MEDIA_SDP_MAX_TEXT + 1, &sdp, why, sizeof why), -EBADMSG);
    free(big);
}

static void test_too_many_lines_refused(void **state) {
    (void)state;
    char text[4096] = "v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\nc=IN IP4 1.2.3.4\r\nt=0 0\r\n";
    for (int i = 0; i <= MEDIA_SDP_MAX_LINES; i++)
        snprintf(text + strlen(text), sizeof text - strlen(text), "m=audio %d RTP/AVP 0\r\n",
                 4000 + 2 * i);
    struct media_sdp sdp;
    assert_int_equal(media_sdp_parse(text, strlen(text), &sdp, why, sizeof why), -EBADMSG);
}

static void test_base64_round_trip(void **state) {
    (void)state;
    uint8_t in[30], back[31];
    for (int i = 0; i < 30; i++)
        in[i] = (uint8_t)(i * 37 + 11);
    char b64[64];
    assert_int_equal(media_b64_encode(in, 30, b64, sizeof b64), 40);
    assert_int_equal(media_b64_decode(b64, strlen(b64), back, sizeof back), 30);
    assert_memory_equal(in, back, 30);
    assert_int_equal(media_b64_encode(in, 30, b64, 40), -1); /* no room for the NUL */
    assert_int_equal(media_b64_decode("ab$d", 4, back, sizeof back), -1);
    assert_int_equal(media_b64_decode(b64, strlen(b64), back, 10), -1); /* overflow */
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_reads_every_line),
        cmocka_unit_test(test_rewrite_puts_our_address_and_ports_keeps_the_rest),
        cmocka_unit_test(test_crypto_is_read_and_replaced_by_ours),
        cmocka_unit_test(test_hold_by_zero_address_is_sendonly),
        cmocka_unit_test(test_bad_and_unrelayable_sdp_are_refused),
        cmocka_unit_test(test_ipv6_read_and_written),
        cmocka_unit_test(test_too_many_lines_refused),
        cmocka_unit_test(test_base64_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
