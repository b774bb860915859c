/* media_sdp - see media_sdp.h */
#include "media_sdp.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <osipparser2/osip_port.h>
#include <osipparser2/sdp_message.h>

static void set_why(char *why, size_t whylen, const char *fmt, ...) {
    if (!why || !whylen)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, whylen, fmt, ap);
    va_end(ap);
}

const char *media_dir_name(enum media_dir dir) {
    static const char *const names[] = {"sendrecv", "sendonly", "recvonly", "inactive"};
    return (unsigned)dir < 4 ? names[dir] : "sendrecv";
}

/* ---- base64 (RFC 4648 4) ---- */

static const char b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int media_b64_encode(const uint8_t *in, size_t n, char *out, size_t outlen) {
    size_t need = (n + 2) / 3 * 4 + 1, o = 0;
    if (outlen < need)
        return -1;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16;
        if (i + 1 < n)
            v |= (uint32_t)in[i + 1] << 8;
        if (i + 2 < n)
            v |= in[i + 2];
        out[o++] = b64_alphabet[(v >> 18) & 63];
        out[o++] = b64_alphabet[(v >> 12) & 63];
        out[o++] = i + 1 < n ? b64_alphabet[(v >> 6) & 63] : '=';
        out[o++] = i + 2 < n ? b64_alphabet[v & 63] : '=';
    }
    out[o] = '\0';
    return (int)o;
}

static int b64_value(char c) {
    const char *p = c ? strchr(b64_alphabet, c) : NULL;
    return p ? (int)(p - b64_alphabet) : -1;
}

int media_b64_decode(const char *in, size_t n, uint8_t *out, size_t outlen) {
    uint32_t acc = 0;
    int bits = 0;
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (in[i] == '=')
            break;
        int v = b64_value(in[i]);
        if (v < 0)
            return -1;
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (o >= outlen)
                return -1;
            out[o++] = (uint8_t)(acc >> bits);
        }
    }
    return (int)o;
}

/* ---- parse ---- */

static bool parse_port(const char *s, int *port) {
    if (!s || !*s)
        return false;
    long v = 0;
    for (const char *p = s; *p; p++) {
        if (!isdigit((unsigned char)*p) || v > 65535)
            return false;
        v = v * 10 + (*p - '0');
    }
    if (v > 65535)
        return false;
    *port = (int)v;
    return true;
}

/* "IN IP4 a.b.c.d" or "IN IP6 x:y::z": the address (port 0); an error for anything
 * else (multicast cannot be relayed). */
static int parse_conn(const sdp_connection_t *c, media_sa_t *addr) {
    if (!c || !c->c_nettype || !c->c_addrtype || !c->c_addr)
        return -EBADMSG;
    if (strcmp(c->c_nettype, "IN") != 0)
        return -EPROTONOSUPPORT;
    int family = strcmp(c->c_addrtype, "IP4") == 0   ? AF_INET
                 : strcmp(c->c_addrtype, "IP6") == 0 ? AF_INET6
                                                     : 0;
    if (!family)
        return -EPROTONOSUPPORT;
    media_sa_t a;
    if (!media_sa_parse(c->c_addr, &a) || a.sa.sa_family != family)
        return -EBADMSG;
    if ((family == AF_INET && (ntohl(a.v4.sin_addr.s_addr) >> 28) == 14) || /* 224/4 */
        (family == AF_INET6 && IN6_IS_ADDR_MULTICAST(&a.v6.sin6_addr)))
        return -EPROTONOSUPPORT;
    *addr = a;
    return 0;
}

static bool dir_of(const char *field, enum media_dir *dir) {
    static const char *const names[] = {"sendrecv", "sendonly", "recvonly", "inactive"};
    for (int i = 0; i < 4; i++)
        if (field && strcmp(field, names[i]) == 0) {
            *dir = (enum media_dir)i;
            return true;
        }
    return false;
}

static bool supported_proto(const char *proto, bool *srtp) {
    static const char *const plain[] = {"RTP/AVP", "RTP/AVPF"};
    static const char *const secure[] = {"RTP/SAVP", "RTP/SAVPF"};
    for (int i = 0; i < 2; i++) {
        if (strcmp(proto, plain[i]) == 0) {
            *srtp = false;
            return true;
        }
        if (strcmp(proto, secure[i]) == 0) {
            *srtp = true;
            return true;
        }
    }
    return false;
}

/* "1 AES_CM_128_HMAC_SHA1_80 inline:KEY[|lifetime][|MKI:len]" (RFC 4568 9.1). */
static bool parse_crypto(const char *value, struct media_sdp_crypto *c) {
    if (!value)
        return false;
    char suite[40];
    int tag, consumed = 0;
    if (sscanf(value, "%d %39s %n", &tag, suite, &consumed) != 2 || tag < 0 || tag > 999999999)
        return false;
    enum media_crypto_suite s;
    if (strcmp(suite, "AES_CM_128_HMAC_SHA1_80") == 0)
        s = MEDIA_CRYPTO_AES_CM_128_HMAC_SHA1_80;
    else if (strcmp(suite, "AES_CM_128_HMAC_SHA1_32") == 0)
        s = MEDIA_CRYPTO_AES_CM_128_HMAC_SHA1_32;
    else
        return false;
    const char *k = value + consumed;
    if (strncmp(k, "inline:", 7) != 0)
        return false;
    k += 7;
    size_t klen = strcspn(k, "| \t;");
    uint8_t key[MEDIA_SRTP_KEY_LEN + 3];
    if (media_b64_decode(k, klen, key, sizeof key) != MEDIA_SRTP_KEY_LEN)
        return false;
    c->suite = s;
    c->tag = tag;
    memcpy(c->key, key, MEDIA_SRTP_KEY_LEN);
    return true;
}

/* a=rtpmap:PT NAME/RATE[/CH] */
static void rtpmap_of(const char *value, int *pt, char *name, size_t namelen, int *rate) {
    *pt = -1;
    if (!value)
        return;
    char enc[16];
    int p, r = 8000;
    if (sscanf(value, "%d %15[^/]/%d", &p, enc, &r) < 2 || p < 0 || p > 127)
        return;
    *pt = p;
    if (namelen > 0) {
        size_t n = strnlen(enc, namelen - 1);
        memcpy(name, enc, n);
        name[n] = '\0';
    }
    *rate = r > 0 && r <= 192000 ? r : 8000;
}

/* A NUL-terminated copy for libosip2, which must only ever see clean lines: RFC 4566 5
 * text has no control characters but line ends (libosip2 5.3 reads past the end of some
 * malformed input, found by tests/fuzz/media_sdp_fuzz.c), every CR is followed by LF, and
 * the last line is terminated. Zero padding after it keeps any short over-read inside. */
#define SDP_PAD 16
static char *sdp_copy_checked(const char *text, size_t len, char *why, size_t whylen) {
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)text[i];
        if ((c < 0x20 && c != '\r' && c != '\n' && c != '\t') || c == 0x7f ||
            (c == '\r' && (i + 1 >= len || text[i + 1] != '\n'))) {
            set_why(why, whylen, "control character 0x%02x at byte %zu", c, i);
            return NULL;
        }
    }
    char *buf = calloc(1, len + 2 + SDP_PAD);
    if (!buf)
        return NULL;
    memcpy(buf, text, len);
    if (len == 0 || text[len - 1] != '\n')
        memcpy(buf + len, "\r\n", 2);
    return buf;
}

int media_sdp_parse(const char *text, size_t len, struct media_sdp *out, char *why, size_t whylen) {
    memset(out, 0, sizeof *out);
    if (!text || len == 0 || len > MEDIA_SDP_MAX_TEXT) {
        set_why(why, whylen, "empty or oversized SDP (%zu bytes)", len);
        return -EBADMSG;
    }
    char *buf = sdp_copy_checked(text, len, why, whylen);
    if (!buf)
        return -EBADMSG;
    sdp_message_t *sdp = NULL;
    int rc = 0;
    if (sdp_message_init(&sdp) != 0) {
        free(buf);
        return -ENOMEM;
    }
    if (sdp_message_parse(sdp, buf) != 0) {
        set_why(why, whylen, "unparseable SDP");
        rc = -EBADMSG;
        goto done;
    }
    int n = osip_list_size(&sdp->m_medias);
    if (n <= 0) {
        set_why(why, whylen, "no m= line");
        rc = -EBADMSG;
        goto done;
    }
    if (n > MEDIA_SDP_MAX_LINES) {
        set_why(why, whylen, "%d m= lines (at most %d)", n, MEDIA_SDP_MAX_LINES);
        rc = -EBADMSG;
        goto done;
    }
    media_sa_t session_addr;
    memset(&session_addr, 0, sizeof session_addr);
    int session_conn = sdp->c_connection ? parse_conn(sdp->c_connection, &session_addr) : 1;
    enum media_dir session_dir = MEDIA_DIR_SENDRECV;
    for (int i = 0; i < osip_list_size(&sdp->a_attributes); i++) {
        sdp_attribute_t *a = osip_list_get(&sdp->a_attributes, i);
        if (a)
            dir_of(a->a_att_field, &session_dir);
    }
    out->n_lines = n;
    for (int m = 0; m < n; m++) {
        sdp_media_t *med = osip_list_get(&sdp->m_medias, m);
        struct media_sdp_line *l = &out->line[m];
        l->first_pt = l->pcmu_pt = l->pcma_pt = l->dtmf_pt = -1;
        l->clock_rate = 8000;
        l->dir = session_dir;
        if (!med || !med->m_media || !med->m_proto || !parse_port(med->m_port, &l->port)) {
            set_why(why, whylen, "m-line %d: bad media, port or transport", m);
            rc = -EBADMSG;
            goto done;
        }
        snprintf(l->media, sizeof l->media, "%s", med->m_media);
        snprintf(l->proto, sizeof l->proto, "%s", med->m_proto);
        if (l->port == 0)
            continue; /* rejected: passed through as it is */
        if (!supported_proto(med->m_proto, &l->srtp)) {
            set_why(why, whylen, "m-line %d: transport %s cannot be relayed", m, med->m_proto);
            rc = -EPROTONOSUPPORT;
            goto done;
        }
        if (med->m_number_of_port && strcmp(med->m_number_of_port, "1") != 0) {
            set_why(why, whylen, "m-line %d: port count %s cannot be relayed", m,
                    med->m_number_of_port);
            rc = -EPROTONOSUPPORT;
            goto done;
        }
        int crc = 1;
        sdp_connection_t *c = osip_list_get(&med->c_connections, 0);
        if (c)
            crc = parse_conn(c, &l->addr);
        else if (session_conn <= 0) {
            crc = session_conn;
            l->addr = session_addr;
        }
        if (crc != 0) {
            set_why(why, whylen, "m-line %d: %s connection address", m,
                    crc == -EPROTONOSUPPORT ? "unrelayable (not unicast IPv4 or IPv6)" : "no or bad");
            rc = crc == -EPROTONOSUPPORT ? -EPROTONOSUPPORT : -EBADMSG;
            goto done;
        }
        bool held = media_sa_unspecified(&l->addr);
        if (held && l->dir == MEDIA_DIR_SENDRECV)
            l->dir = MEDIA_DIR_SENDONLY; /* RFC 3264 8.4: c=0.0.0.0 is (old-style) hold */
        else if (held && l->dir == MEDIA_DIR_RECVONLY)
            l->dir = MEDIA_DIR_INACTIVE;
        l->rtcp_port = l->port + 1 <= 65535 ? l->port + 1 : 0;
        const char *pt0 = osip_list_get(&med->m_payloads, 0);
        if (pt0 && parse_port(pt0, &l->first_pt) && l->first_pt <= 127) {
            if (l->first_pt == 0)
                snprintf(l->codec, sizeof l->codec, "PCMU");
            else if (l->first_pt == 8)
                snprintf(l->codec, sizeof l->codec, "PCMA");
            else if (l->first_pt == 9)
                snprintf(l->codec, sizeof l->codec, "G722");
        } else {
            l->first_pt = -1;
        }
        for (int p = 0; p < osip_list_size(&med->m_payloads); p++) {
            const char *pt = osip_list_get(&med->m_payloads, p);
            if (pt && strcmp(pt, "0") == 0)
                l->pcmu_pt = 0;
            else if (pt && strcmp(pt, "8") == 0)
                l->pcma_pt = 8;
        }
        for (int i = 0; i < osip_list_size(&med->a_attributes); i++) {
            sdp_attribute_t *a = osip_list_get(&med->a_attributes, i);
            if (!a || !a->a_att_field)
                continue;
            if (dir_of(a->a_att_field, &l->dir)) {
                if (held && l->dir == MEDIA_DIR_SENDRECV)
                    l->dir = MEDIA_DIR_SENDONLY;
                continue;
            }
            if (strcmp(a->a_att_field, "rtcp") == 0 && a->a_att_value) {
                int rp;
                char portbuf[8];
                if (sscanf(a->a_att_value, "%7[0-9]", portbuf) == 1 && parse_port(portbuf, &rp))
                    l->rtcp_port = rp;
            } else if (strcmp(a->a_att_field, "rtpmap") == 0) {
                int pt, rate = 8000;
                char name[16] = "";
                rtpmap_of(a->a_att_value, &pt, name, sizeof name, &rate);
                if (pt < 0)
                    continue;
                if (pt == l->first_pt) {
                    snprintf(l->codec, sizeof l->codec, "%s", name);
                    l->clock_rate = rate;
                }
                if (strcasecmp(name, "telephone-event") == 0 && l->dtmf_pt < 0)
                    l->dtmf_pt = pt;
                else if (strcasecmp(name, "PCMU") == 0 && l->pcmu_pt < 0 && rate == 8000)
                    l->pcmu_pt = pt;
                else if (strcasecmp(name, "PCMA") == 0 && l->pcma_pt < 0 && rate == 8000)
                    l->pcma_pt = pt;
            } else if (strcmp(a->a_att_field, "crypto") == 0 &&
                       l->crypto.suite == MEDIA_CRYPTO_NONE) {
                parse_crypto(a->a_att_value, &l->crypto);
            }
        }
        if (l->srtp && l->crypto.suite == MEDIA_CRYPTO_NONE) {
            set_why(why, whylen, "m-line %d: %s without a supported a=crypto", m, l->proto);
            rc = -EPROTONOSUPPORT;
            goto done;
        }
    }
done:
    sdp_message_free(sdp);
    free(buf);
    if (rc != 0)
        out->n_lines = 0;
    return rc;
}

/* ---- rewrite ---- */

static char *dup_str(const char *s) {
    return osip_strdup(s);
}

static const char *addr_type(const char *addr) {
    return strchr(addr, ':') ? "IP6" : "IP4";
}

static void set_conn_addr(sdp_connection_t *c, const char *addr) {
    osip_free(c->c_addr);
    c->c_addr = dup_str(addr);
    osip_free(c->c_addrtype);
    c->c_addrtype = dup_str(addr_type(addr));
    osip_free(c->c_addr_multicast_ttl);
    c->c_addr_multicast_ttl = NULL;
    osip_free(c->c_addr_multicast_int);
    c->c_addr_multicast_int = NULL;
}

/* Removes every attribute named field from a media's attribute list. */
static void del_attr(sdp_media_t *med, const char *field) {
    for (int i = 0; i < osip_list_size(&med->a_attributes);) {
        sdp_attribute_t *a = osip_list_get(&med->a_attributes, i);
        if (a && a->a_att_field && strcmp(a->a_att_field, field) == 0) {
            osip_list_remove(&med->a_attributes, i);
            sdp_attribute_free(a);
        } else {
            i++;
        }
    }
}

static int add_attr(sdp_media_t *med, const char *field, const char *value) {
    sdp_attribute_t *a;
    if (sdp_attribute_init(&a) != 0)
        return -ENOMEM;
    a->a_att_field = dup_str(field);
    a->a_att_value = value ? dup_str(value) : NULL;
    osip_list_add(&med->a_attributes, a, -1);
    return 0;
}

int media_sdp_rewrite(const char *text, size_t len, const struct media_sdp_local *local, char **out,
                      size_t *outlen, char *why, size_t whylen) {
    *out = NULL;
    *outlen = 0;
    struct media_sdp parsed;
    int rc = media_sdp_parse(text, len, &parsed, why, whylen);
    if (rc != 0)
        return rc;
    char *buf = sdp_copy_checked(text, len, why, whylen);
    if (!buf)
        return -ENOMEM;
    sdp_message_t *sdp = NULL;
    if (sdp_message_init(&sdp) != 0) {
        free(buf);
        return -ENOMEM;
    }
    if (sdp_message_parse(sdp, buf) != 0) { /* parsed once already: cannot happen */
        rc = -EBADMSG;
        goto done;
    }
    if (sdp->c_connection)
        set_conn_addr(sdp->c_connection, local->addr);
    if (sdp->o_addr) { /* the origin names the host of the session: ours now */
        osip_free(sdp->o_addr);
        sdp->o_addr = dup_str(local->addr);
        osip_free(sdp->o_addrtype);
        sdp->o_addrtype = dup_str(addr_type(local->addr));
    }
    for (int m = 0; m < parsed.n_lines; m++) {
        sdp_media_t *med = osip_list_get(&sdp->m_medias, m);
        if (!med || parsed.line[m].port == 0)
            continue; /* RFC 3264 6: a rejected stream stays rejected */
        char port[16];
        snprintf(port, sizeof port, "%d", local->rtp_port[m]);
        osip_free(med->m_port);
        med->m_port = dup_str(port);
        sdp_connection_t *c = osip_list_get(&med->c_connections, 0);
        if (c) {
            set_conn_addr(c, local->addr);
            /* one connection per line is all we announce */
            while (osip_list_size(&med->c_connections) > 1) {
                sdp_connection_t *x = osip_list_get(&med->c_connections, 1);
                osip_list_remove(&med->c_connections, 1);
                sdp_connection_free(x);
            }
        } else if (!sdp->c_connection) {
            sdp_connection_t *nc;
            if (sdp_connection_init(&nc) != 0) {
                rc = -ENOMEM;
                goto done;
            }
            nc->c_nettype = dup_str("IN");
            nc->c_addrtype = dup_str(addr_type(local->addr));
            nc->c_addr = dup_str(local->addr);
            osip_list_add(&med->c_connections, nc, -1);
        }
        /* RFC 3605: say where our RTCP is, whatever the party said about theirs */
        del_attr(med, "rtcp");
        snprintf(port, sizeof port, "%d", local->rtcp_port[m]);
        if (add_attr(med, "rtcp", port) != 0) {
            rc = -ENOMEM;
            goto done;
        }
        /* ICE candidates name the party's addresses, not ours: not ours to pass on */
        del_attr(med, "candidate");
        del_attr(med, "crypto");
        bool avpf = strstr(parsed.line[m].proto, "AVPF") != NULL;
        osip_free(med->m_proto);
        med->m_proto = dup_str(local->srtp[m] ? (avpf ? "RTP/SAVPF" : "RTP/SAVP")
                                              : (avpf ? "RTP/AVPF" : "RTP/AVP"));
        if (local->srtp[m]) {
            const struct media_sdp_crypto *cr = &local->crypto[m];
            char b64[64], value[128];
            media_b64_encode(cr->key, MEDIA_SRTP_KEY_LEN, b64, sizeof b64);
            snprintf(value, sizeof value, "%d %s inline:%s", cr->tag > 0 ? cr->tag : 1,
                     cr->suite == MEDIA_CRYPTO_AES_CM_128_HMAC_SHA1_32 ? "AES_CM_128_HMAC_SHA1_32"
                                                                       : "AES_CM_128_HMAC_SHA1_80",
                     b64);
            rc = add_attr(med, "crypto", value);
            explicit_bzero(value, sizeof value);
            explicit_bzero(b64, sizeof b64);
            if (rc != 0)
                goto done;
        }
    }
    char *s = NULL;
    if (sdp_message_to_str(sdp, &s) != 0 || !s) {
        set_why(why, whylen, "SDP could not be written back");
        rc = -EBADMSG;
        goto done;
    }
    size_t n = strlen(s);
    *out = malloc(n + 1);
    if (!*out) {
        osip_free(s);
        rc = -ENOMEM;
        goto done;
    }
    memcpy(*out, s, n + 1);
    *outlen = n;
    explicit_bzero(s, n);
    osip_free(s);
done:
    sdp_message_free(sdp);
    explicit_bzero(buf, len);
    free(buf);
    return rc;
}
