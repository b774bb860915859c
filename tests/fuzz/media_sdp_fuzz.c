/*
 * NAME
 *   media_sdp_fuzz - libFuzzer target for mediad's SDP reader and rewriter
 *   (procs/mediad/media_sdp.h), the first thing a hostile phone's SDP reaches.
 * DESCRIPTION
 *   Each input is an SDP body as it would come in an INVITE or 200. media_sdp_parse must
 *   return 0, -EBADMSG or -EPROTONOSUPPORT and fill at most MEDIA_SDP_MAX_LINES lines with
 *   ports in range. When it accepts, media_sdp_rewrite (with SRTP on every other line) must
 *   succeed, and its output must parse again with the same number of lines, our address
 *   in every live line, our ports in live lines and port 0 kept in rejected ones.
 * OWNERSHIP
 *   Nothing outlives an input.
 * LOOP
 *   None: pure code, run from LLVMFuzzerTestOneInput.
 * SEE ALSO
 *   tests/fuzz/run.sh, procs/mediad/media_sdp.h
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The module is built into the harness (run.sh links lib/ and shm/ only). */
#include "procs/mediad/media_sdp.c"

static void fail(const char *what) {
    fprintf(stderr, "media_sdp_fuzz: %s\n", what);
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    struct media_sdp sdp;
    char why[128];
    int rc = media_sdp_parse((const char *)data, size, &sdp, why, sizeof why);
    if (rc != 0) {
        if (rc != -EBADMSG && rc != -EPROTONOSUPPORT && rc != -ENOMEM)
            fail("parse returned an undocumented error");
        if (sdp.n_lines != 0)
            fail("a refused SDP left lines behind");
        return 0;
    }
    if (sdp.n_lines < 1 || sdp.n_lines > MEDIA_SDP_MAX_LINES)
        fail("accepted with a line count out of range");
    struct media_sdp_local loc;
    memset(&loc, 0, sizeof loc);
    loc.addr = "192.0.2.1";
    for (int m = 0; m < sdp.n_lines; m++) {
        const struct media_sdp_line *l = &sdp.line[m];
        if (l->port < 0 || l->port > 65535 || l->rtcp_port < 0 || l->rtcp_port > 65535)
            fail("port out of range");
        loc.rtp_port[m] = 30000 + 2 * m;
        loc.rtcp_port[m] = 30001 + 2 * m;
        loc.srtp[m] = m % 2;
        loc.crypto[m].suite = MEDIA_CRYPTO_AES_CM_128_HMAC_SHA1_80;
        loc.crypto[m].tag = 1;
    }
    char *out = NULL;
    size_t len = 0;
    rc = media_sdp_rewrite((const char *)data, size, &loc, &out, &len, why, sizeof why);
    if (rc == -ENOMEM)
        return 0;
    if (rc != 0 && rc != -EBADMSG)
        fail("rewrite of an accepted SDP failed");
    if (rc != 0) /* osip could not write back what it read: refused, not crashed */
        return 0;
    if (!out || strlen(out) != len)
        fail("rewrite output length");
    struct media_sdp again;
    rc = media_sdp_parse(out, len, &again, why, sizeof why);
    if (rc == 0) {
        if (again.n_lines != sdp.n_lines)
            fail("the rewrite changed the number of m-lines");
        media_sa_t ours;
        media_sa_parse("192.0.2.1", &ours);
        for (int m = 0; m < sdp.n_lines; m++) {
            if (sdp.line[m].port == 0 && again.line[m].port != 0)
                fail("a rejected line was revived");
            if (sdp.line[m].port != 0 &&
                (again.line[m].port != loc.rtp_port[m] || !media_sa_ip_eq(&again.line[m].addr, &ours) ||
                 again.line[m].rtcp_port != loc.rtcp_port[m]))
                fail("a live line does not carry our address and ports");
        }
    }
    free(out);
    return 0;
}
