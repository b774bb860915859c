/* media_codec and media_rtp: G.711 against known code points, the resampler's length and
 * level, RTP header checks, RFC 3550 loss and jitter, RFC 4733 events reported once. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "procs/mediad/media_codec.h"
#include "procs/mediad/media_rtp.h"
#include "procs/mediad/media_target.h"

#include <arpa/inet.h>

static void test_ulaw_known_values(void **state) {
    (void)state;
    /* G.711 Table 2a: 0 -> 0xFF, the extremes saturate to 0x80 / 0x00 */
    assert_int_equal(media_ulaw_encode(0), 0xff);
    assert_int_equal(media_ulaw_encode(32767), 0x80);
    assert_int_equal(media_ulaw_encode(-32768), 0x00);
    assert_int_equal(media_ulaw_decode(0xff), 0);
    assert_int_equal(media_ulaw_decode(0x80), 32124);
    assert_int_equal(media_ulaw_decode(0x00), -32124);
    /* every code decodes and re-encodes to itself (except the two zeros) */
    for (int c = 0; c < 256; c++) {
        if (c == 0x7f)
            continue; /* -0 encodes as +0 */
        assert_int_equal(media_ulaw_encode(media_ulaw_decode((uint8_t)c)), c);
    }
}

static void test_alaw_known_values(void **state) {
    (void)state;
    assert_int_equal(media_alaw_encode(0), 0xd5);
    assert_int_equal(media_alaw_decode(0xd5), 8);
    assert_int_equal(media_alaw_encode(32767), 0xaa);
    assert_int_equal(media_alaw_encode(-32768), 0x2a);
    assert_int_equal(media_alaw_decode(0xaa), 32256);
    assert_int_equal(media_alaw_decode(0x2a), -32256);
    for (int c = 0; c < 256; c++)
        assert_int_equal(media_alaw_encode(media_alaw_decode((uint8_t)c)), c);
}

static void test_g711_error_is_within_a_step(void **state) {
    (void)state;
    for (int v = -32000; v <= 32000; v += 7) {
        int u = media_ulaw_decode(media_ulaw_encode((int16_t)v));
        int a = media_alaw_decode(media_alaw_encode((int16_t)v));
        int tol = abs(v) / 16 + 16;
        if (abs(u - v) > tol || abs(a - v) > tol)
            fail_msg("%d -> ulaw %d alaw %d", v, u, a);
    }
}

static void test_resample_length_and_level(void **state) {
    (void)state;
    int16_t *in = malloc(48000 * 2 * sizeof *in);
    for (int i = 0; i < 48000; i++) {
        int16_t v = (int16_t)(10000 * sin(2 * M_PI * 400 * i / 48000.0));
        in[2 * i] = v;
        in[2 * i + 1] = v;
    }
    size_t n;
    int16_t *out = media_resample_to_8k(in, 48000, 2, 48000, &n);
    assert_non_null(out);
    assert_int_equal(n, 8000);
    double e = 0;
    for (size_t i = 0; i < n; i++)
        e += (double)out[i] * out[i];
    double rms = sqrt(e / (double)n);
    assert_true(rms > 6500 && rms < 7200); /* 10000 / sqrt 2 = 7071, a little low-pass loss */
    free(out);
    /* 8 kHz mono passes through untouched */
    int16_t same[5] = {1, -2, 300, -400, 5};
    out = media_resample_to_8k(same, 5, 1, 8000, &n);
    assert_int_equal(n, 5);
    assert_memory_equal(out, same, sizeof same);
    free(out);
    /* an upsampled 4 kHz file doubles in length */
    out = media_resample_to_8k(same, 5, 1, 4000, &n);
    assert_int_equal(n, 10);
    assert_int_equal(out[0], 1);
    assert_int_equal(out[2], -2);
    free(out);
    assert_null(media_resample_to_8k(same, 5, 0, 8000, &n));
    assert_null(media_resample_to_8k(same, 5, 1, 10, &n));
    free(in);
}

static void test_rtp_header_checks(void **state) {
    (void)state;
    uint8_t p[64] = {0};
    struct media_rtp_hdr h;
    media_rtp_write_header(p, true, 101, 0xbeef, 0x01020304, 0xcafebabe);
    assert_int_equal(media_rtp_header(p, 12, &h), 0);
    assert_true(h.marker);
    assert_int_equal(h.pt, 101);
    assert_int_equal(h.seq, 0xbeef);
    assert_int_equal(h.ts, 0x01020304);
    assert_int_equal(h.ssrc, 0xcafebabe);
    assert_int_equal(h.header_len, 12);
    assert_int_equal(media_rtp_header(p, 11, &h), -1);
    p[0] = 0x82; /* two CSRCs */
    assert_int_equal(media_rtp_header(p, 19, &h), -1);
    assert_int_equal(media_rtp_header(p, 20, &h), 0);
    assert_int_equal(h.header_len, 20);
    p[0] = 0x90; /* an extension of 2 words */
    p[14] = 0;
    p[15] = 2;
    assert_int_equal(media_rtp_header(p, 20, &h), -1);
    assert_int_equal(media_rtp_header(p, 24, &h), 0);
    assert_int_equal(h.header_len, 24);
    p[0] = 0x40; /* version 1 */
    assert_int_equal(media_rtp_header(p, 24, &h), -1);
    uint8_t rr[8] = {0x81, 201, 0, 1};
    assert_true(media_is_rtcp(rr, 8));
    assert_false(media_is_rtcp(p, 24));
}

static void test_loss_counts_gaps_and_wraps(void **state) {
    (void)state;
    struct media_rtp_stats s = {0};
    uint16_t seq = 65530;
    for (int i = 0; i < 20; i++, seq++) {
        if (i == 3 || i == 9 || i == 10)
            continue; /* three lost, one of them across the wrap */
        media_rtp_stats_update(&s, 7, seq, 160u * (uint32_t)i, 160 * i, true);
    }
    assert_int_equal(s.received, 17);
    assert_int_equal(media_rtp_stats_lost(&s), 3);
    /* a duplicate does not make loss negative */
    media_rtp_stats_update(&s, 7, (uint16_t)(seq - 1), 0, 0, true);
    media_rtp_stats_update(&s, 7, (uint16_t)(seq - 1), 0, 0, true);
    assert_int_equal(media_rtp_stats_lost(&s), 1);
    /* a new SSRC starts afresh */
    media_rtp_stats_update(&s, 8, 100, 0, 0, true);
    assert_int_equal(media_rtp_stats_lost(&s), 0);
    assert_int_equal(s.received, 1);
}

static void test_jitter_follows_rfc3550_a8(void **state) {
    (void)state;
    struct media_rtp_stats s = {0};
    /* perfectly paced: no jitter */
    for (int i = 0; i < 50; i++)
        media_rtp_stats_update(&s, 1, (uint16_t)i, 160u * (uint32_t)i, 1000 + 160 * i, true);
    assert_int_equal(media_rtp_stats_jitter(&s), 0);
    /* arrivals alternately 40 units early and late: D = 80 each time; J -> 80 */
    struct media_rtp_stats t = {0};
    for (int i = 0; i < 400; i++)
        media_rtp_stats_update(&t, 1, (uint16_t)i, 160u * (uint32_t)i, 160 * i + (i % 2 ? 40 : -40),
                               true);
    assert_int_equal(media_rtp_stats_jitter(&t), 80);
    /* one step by hand: J = J + (|D| - J) / 16 */
    struct media_rtp_stats u = {0};
    media_rtp_stats_update(&u, 1, 0, 0, 0, true);
    media_rtp_stats_update(&u, 1, 1, 160, 160 + 32, true);
    assert_int_equal(media_rtp_stats_jitter(&u), 2);
    /* timing false leaves it alone */
    media_rtp_stats_update(&u, 1, 2, 160, 5000, false);
    assert_int_equal(media_rtp_stats_jitter(&u), 2);
    assert_int_equal(u.received, 3);
}

static void test_dtmf_reported_once_per_event(void **state) {
    (void)state;
    struct media_dtmf_state st = {0};
    uint8_t pl[4] = {11, 0x0a, 0x01, 0x40};
    struct media_dtmf d;
    assert_int_equal(media_dtmf_parse(pl, 4, &d), 0);
    assert_int_equal(d.event, 11);
    assert_string_equal(media_dtmf_digit(d.event), "#");
    assert_false(d.end);
    assert_int_equal(d.duration, 320);
    assert_false(media_dtmf_should_report(&st, 1000, &d));
    pl[1] |= 0x80;
    media_dtmf_parse(pl, 4, &d);
    assert_true(d.end);
    assert_true(media_dtmf_should_report(&st, 1000, &d));
    assert_false(media_dtmf_should_report(&st, 1000, &d)); /* retransmitted end */
    assert_false(media_dtmf_should_report(&st, 1000, &d));
    assert_true(media_dtmf_should_report(&st, 2000, &d)); /* the next key */
    assert_int_equal(media_dtmf_parse(pl, 3, &d), -1);
    assert_string_equal(media_dtmf_digit(15), "D");
    assert_string_equal(media_dtmf_digit(16), "?");
}

/* What the relay forwards: RTP and RTCP with a header that fits, nothing else. */
static void test_packet_kind_relays_only_rtp_and_rtcp(void **state) {
    (void)state;
    uint8_t p[64];
    memset(p, 0, sizeof p);
    media_rtp_write_header(p, false, 0, 1, 2, 3);
    assert_int_equal(media_packet_kind(p, 32, false), MEDIA_PKT_RTP);
    assert_int_equal(media_packet_kind(p, 32, true), MEDIA_PKT_OTHER); /* RTP on RTCP port */
    assert_int_equal(media_packet_kind(p, 11, false), MEDIA_PKT_OTHER);
    p[0] = 0x40; /* version 1 */
    assert_int_equal(media_packet_kind(p, 32, false), MEDIA_PKT_OTHER);
    p[0] = 0x83; /* 3 CSRCs: 24 bytes of header */
    assert_int_equal(media_packet_kind(p, 24, false), MEDIA_PKT_RTP);
    assert_int_equal(media_packet_kind(p, 23, false), MEDIA_PKT_OTHER);
    p[0] = 0x90; /* an extension of 2 words: 12 + 4 + 8 */
    p[14] = 0, p[15] = 2;
    assert_int_equal(media_packet_kind(p, 24, false), MEDIA_PKT_RTP);
    assert_int_equal(media_packet_kind(p, 23, false), MEDIA_PKT_OTHER);
    static const char http[] = "GET / HTTP/1.0\r\n\r\n";
    assert_int_equal(media_packet_kind((const uint8_t *)http, sizeof http - 1, false),
                     MEDIA_PKT_OTHER);
    /* RTCP: RFC 5761 4 types 192..223, on either port; its length must fit */
    uint8_t r[32] = {0x81, 201, 0, 7};
    assert_int_equal(media_packet_kind(r, 32, true), MEDIA_PKT_RTCP);
    assert_int_equal(media_packet_kind(r, 32, false), MEDIA_PKT_RTCP);
    assert_int_equal(media_packet_kind(r, 31, true), MEDIA_PKT_OTHER);
    r[1] = 191; /* an RTP payload type 63 with the marker: RTP, not on the RTCP port */
    assert_int_equal(media_packet_kind(r, 32, true), MEDIA_PKT_OTHER);
    r[1] = 224;
    assert_int_equal(media_packet_kind(r, 32, false), MEDIA_PKT_RTP);
}

static media_sa_t sa_of(const char *s) {
    media_sa_t a;
    assert_true(media_sa_parse(s, &a));
    return a;
}
#define IP(s) (&(media_sa_t[1]){sa_of(s)}[0])

static void test_targets_refuse_loopback_linklocal_multicast_ours(void **state) {
    (void)state;
    struct media_targets t;
    memset(&t, 0, sizeof t);
    t.own[t.n_own++] = sa_of("198.51.100.7");
    t.own[t.n_own++] = sa_of("2001:db8::7");
    const media_sa_t *ext = IP("203.0.113.9");
    assert_int_equal(media_target_kind(&t, IP("127.0.0.1"), NULL), MEDIA_TARGET_LOOPBACK);
    assert_int_equal(media_target_kind(&t, IP("198.51.100.7"), NULL), MEDIA_TARGET_LOOPBACK);
    assert_int_equal(media_target_kind(&t, IP("10.1.1.1"), IP("10.1.1.1")),
                     MEDIA_TARGET_LOOPBACK);
    assert_int_equal(media_target_kind(&t, IP("169.254.3.4"), NULL), MEDIA_TARGET_LINKLOCAL);
    assert_int_equal(media_target_kind(&t, IP("239.1.2.3"), NULL), MEDIA_TARGET_MULTICAST);
    assert_int_equal(media_target_kind(&t, IP("255.255.255.255"), NULL), MEDIA_TARGET_MULTICAST);
    assert_int_equal(media_target_kind(&t, IP("0.0.0.0"), NULL), MEDIA_TARGET_UNSPEC);
    assert_int_equal(media_target_kind(&t, IP("192.168.1.20"), NULL), MEDIA_TARGET_PUBLIC);
    /* a phone signaling from elsewhere may not name them */
    assert_true(media_target_ok(&t, IP("192.168.1.20"), ext, NULL));
    assert_false(media_target_ok(&t, IP("127.0.0.1"), ext, NULL));
    assert_false(media_target_ok(&t, IP("198.51.100.7"), ext, NULL));
    assert_false(media_target_ok(&t, IP("10.1.1.1"), ext, IP("10.1.1.1")));
    assert_false(media_target_ok(&t, IP("169.254.3.4"), ext, NULL));
    assert_false(media_target_ok(&t, IP("239.1.2.3"), ext, NULL));
    assert_false(media_target_ok(&t, IP("127.0.0.1"), NULL, NULL)); /* source unknown */
    /* one on this host may name loopback and ours; one on the link a link-local one */
    assert_true(media_target_ok(&t, IP("127.0.0.1"), IP("127.0.0.1"), NULL));
    assert_true(media_target_ok(&t, IP("198.51.100.7"), IP("127.0.0.1"), NULL));
    assert_true(media_target_ok(&t, IP("169.254.3.4"), IP("169.254.9.9"), NULL));
    assert_false(media_target_ok(&t, IP("127.0.0.1"), IP("169.254.9.9"), NULL));
    assert_false(media_target_ok(&t, IP("239.1.2.3"), IP("127.0.0.1"), NULL)); /* never */
    /* IPv6 alike, and an IPv4-mapped address as its IPv4 one */
    assert_int_equal(media_target_kind(&t, IP("::1"), NULL), MEDIA_TARGET_LOOPBACK);
    assert_int_equal(media_target_kind(&t, IP("fe80::1"), NULL), MEDIA_TARGET_LINKLOCAL);
    assert_int_equal(media_target_kind(&t, IP("ff02::1"), NULL), MEDIA_TARGET_MULTICAST);
    assert_int_equal(media_target_kind(&t, IP("::"), NULL), MEDIA_TARGET_UNSPEC);
    assert_int_equal(media_target_kind(&t, IP("2001:db8::7"), NULL), MEDIA_TARGET_LOOPBACK);
    assert_int_equal(media_target_kind(&t, IP("::ffff:127.0.0.1"), NULL), MEDIA_TARGET_LOOPBACK);
    assert_int_equal(media_target_kind(&t, IP("2001:db8::8"), NULL), MEDIA_TARGET_PUBLIC);
    assert_false(media_target_ok(&t, IP("::1"), IP("2001:db8::99"), NULL));
    assert_true(media_target_ok(&t, IP("::1"), IP("::1"), NULL));
    assert_true(media_target_ok(&t, IP("::1"), IP("127.0.0.1"), NULL)); /* this host either way */
    /* media_allow_targets */
    char why[128];
    assert_int_equal(netacl_parse("127.0.0.0/8, 239.1.2.0/24", &t.allow, why, sizeof why), 0);
    assert_true(media_target_ok(&t, IP("127.0.0.1"), ext, NULL));
    assert_true(media_target_ok(&t, IP("239.1.2.3"), ext, NULL));
    assert_false(media_target_ok(&t, IP("239.1.3.3"), ext, NULL));
    assert_false(media_target_ok(&t, IP("::1"), ext, NULL));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ulaw_known_values),
        cmocka_unit_test(test_alaw_known_values),
        cmocka_unit_test(test_g711_error_is_within_a_step),
        cmocka_unit_test(test_resample_length_and_level),
        cmocka_unit_test(test_rtp_header_checks),
        cmocka_unit_test(test_packet_kind_relays_only_rtp_and_rtcp),
        cmocka_unit_test(test_targets_refuse_loopback_linklocal_multicast_ours),
        cmocka_unit_test(test_loss_counts_gaps_and_wraps),
        cmocka_unit_test(test_jitter_follows_rfc3550_a8),
        cmocka_unit_test(test_dtmf_reported_once_per_event),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
