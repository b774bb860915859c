/*
 * NAME
 *   sipmsg_fuzz - libFuzzer target for sipd's parsers (procs/sipd/sipmsg.h, sipuri.h,
 *   sipconv.h).
 * DESCRIPTION
 *   Each input is one SIP message off the wire, parsed as a datagram and as a framed
 *   stream message. sipmsg.h's promises are then checked: a result is one of the four;
 *   SIPMSG_REJECT carries a 400 or 505 and a reason; a well-formed request goes through
 *   sipmsg_check, sipmsg_register_read (REGISTER), the echo and response builders and
 *   sipconv_to_proto (whose Sb__SipMessage must pack), a response through
 *   sipconv_to_proto; the message length never exceeds the input. The input is also read
 *   as one URI (sipuri_parse, sipuri_aor): an AOR, when there is one, starts "sip:" and
 *   parses again to itself.
 * OWNERSHIP
 *   The parser is made on the first input and kept for the whole run (reachable, so not
 *   a leak; libFuzzer gives no teardown hook).
 * LOOP
 *   None: pure code.
 * SEE ALSO
 *   tests/fuzz/run.sh, procs/sipd/sipmsg.h, procs/sipd/sipuri.h
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "procs/sipd/sipconv.h"
#include "procs/sipd/sipmsg.h"
#include "procs/sipd/sipuri.h"

#define MAX_MESSAGE 65535

static void fail(const char *what) {
    fprintf(stderr, "sipmsg_fuzz: %s\n", what);
    abort();
}

static void check_converted(const sipmsg_t *m) {
    static struct sipconv_store store;
    static char scratch[2 * MAX_MESSAGE + 4096];
    struct sipmsg_out o = {scratch, sizeof scratch, 0, false};
    Sb__SipMessage out;
    if (!sipconv_to_proto(m, NULL, &out, &store, &o))
        return;
    size_t n = sb__sip_message__get_packed_size(&out);
    uint8_t *buf = malloc(n ? n : 1);
    if (!buf)
        return;
    if (sb__sip_message__pack(&out, buf) != n)
        fail("a converted message packs to another size");
    free(buf);
}

static void check_request(sipmsg_t *m) {
    struct sipmsg_verdict v;
    if (sipmsg_check(m, &v) && (v.status < 400 || v.status > 699))
        fail("sipmsg_check gave a status outside 4xx-6xx");
    if (m->method_id == SIPMSG_M_REGISTER) {
        struct sipmsg_register r;
        char aor[512];
        if (sipmsg_register_read(m, NULL, &r, aor, sizeof aor, &v) && strncmp(aor, "sip:", 4) != 0)
            fail("a REGISTER's AOR is not sip:");
    }
    static char echo[MAX_MESSAGE + 2048], out[2 * MAX_MESSAGE + 4096];
    size_t to_tag_at;
    int n = sipmsg_echo_build(m, "192.0.2.1", 5060, echo, sizeof echo, &to_tag_at);
    if (n >= 0) {
        struct sipmsg_response r = {.status = 400,
                                    .reason = "Bad Request",
                                    .echo = echo,
                                    .echo_len = (size_t)n,
                                    .to_tag_at = to_tag_at,
                                    .to_tag = "abc"};
        (void)sipmsg_response_build(&r, out, sizeof out);
    }
    check_converted(m);
}

static void check_uri(const uint8_t *data, size_t size) {
    struct sipuri u;
    char aor[SIPURI_MAX_TEXT + 8], again[SIPURI_MAX_TEXT + 8];
    if (sipuri_parse((const char *)data, size, &u) < 0)
        return;
    int n = sipuri_aor(NULL, &u, aor, sizeof aor);
    if (n < 0)
        return;
    if (strncmp(aor, "sip:", 4) != 0)
        fail("an AOR that is not sip:");
    if (sipuri_aor_of(NULL, aor, (size_t)n, again, sizeof again) >= 0 && strcmp(aor, again) != 0)
        fail("an AOR is not its own AOR");
    if (domains_aor_text(NULL, aor, (size_t)n, again, sizeof again) < 0 || strcmp(aor, again) != 0)
        fail("domains_aor_text does not keep a canonical AOR");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static sipmsg_t *m;
    if (!m) {
        sipmsg_library_init();
        m = sipmsg_new(MAX_MESSAGE);
        if (!m)
            return 0;
    }
    check_uri(data, size);
    for (int stream = 0; stream < 2; stream++) {
        enum sipmsg_result r = sipmsg_parse(m, (const char *)data, size, stream);
        if (m->len > size)
            fail("the message is longer than its input");
        switch (r) {
        case SIPMSG_OK:
            check_request(m);
            break;
        case SIPMSG_RESPONSE:
            check_converted(m);
            break;
        case SIPMSG_REJECT:
            if ((m->error_status != 400 && m->error_status != 505) || !m->error_reason[0])
                fail("a rejection without a 400/505 and a reason");
            break;
        case SIPMSG_DROP:
            break;
        default:
            fail("an unknown parse result");
        }
    }
    return 0;
}
