/* sipconv - see sipconv.h */
#include "sipconv.h"
#include "sipuri.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* NUL-terminated copy of s in scratch; NULL when it is full. */
static char *copy(struct sipmsg_out *o, const char *p, size_t n) {
    size_t at = o->len;
    sipmsg_out_put(o, p, n);
    sipmsg_out_put(o, "", 1);
    return o->full ? NULL : o->p + at;
}

static char *copy_str(struct sipmsg_out *o, struct sipmsg_str s) {
    return copy(o, s.ptr, s.len);
}

/* The header fields sipd owns: never passed to dialogd as such, never taken from it. */
static bool owned(enum sipmsg_hdr id) {
    switch (id) {
    case SIPMSG_H_VIA:
    case SIPMSG_H_FROM:
    case SIPMSG_H_TO:
    case SIPMSG_H_CALL_ID:
    case SIPMSG_H_CSEQ:
    case SIPMSG_H_CONTENT_LENGTH:
    case SIPMSG_H_CONTENT_TYPE:
    case SIPMSG_H_CONTACT:
    case SIPMSG_H_RECORD_ROUTE:
    case SIPMSG_H_ROUTE:
    case SIPMSG_H_MAX_FORWARDS:
        return true;
    default:
        return false;
    }
}

static bool name_addr_split(const sipmsg_t *m, enum sipmsg_hdr id, struct sipmsg_out *o,
                            char **display, char **uri, char **tag) {
    struct sipmsg_str v = sipmsg_header_value(m, id), d, u;
    if (!sipmsg_name_addr(v, &d, &u))
        d = u = (struct sipmsg_str){v.ptr, 0};
    bool found;
    struct sipmsg_str t = sipmsg_param(v, "tag", &found);
    *display = copy_str(o, d);
    *uri = copy_str(o, u);
    *tag = copy_str(o, t);
    return *display && *uri && *tag;
}

static Sb__SipMethod method_enum(enum sipmsg_method id) {
    switch (id) {
    case SIPMSG_M_INVITE:
        return SB__SIP_METHOD__SIP_METHOD_INVITE;
    case SIPMSG_M_ACK:
        return SB__SIP_METHOD__SIP_METHOD_ACK;
    case SIPMSG_M_BYE:
        return SB__SIP_METHOD__SIP_METHOD_BYE;
    case SIPMSG_M_CANCEL:
        return SB__SIP_METHOD__SIP_METHOD_CANCEL;
    case SIPMSG_M_REGISTER:
        return SB__SIP_METHOD__SIP_METHOD_REGISTER;
    case SIPMSG_M_OPTIONS:
        return SB__SIP_METHOD__SIP_METHOD_OPTIONS;
    case SIPMSG_M_UPDATE:
        return SB__SIP_METHOD__SIP_METHOD_UPDATE;
    case SIPMSG_M_REFER:
        return SB__SIP_METHOD__SIP_METHOD_REFER;
    case SIPMSG_M_NOTIFY:
        return SB__SIP_METHOD__SIP_METHOD_NOTIFY;
    case SIPMSG_M_INFO:
        return SB__SIP_METHOD__SIP_METHOD_INFO;
    case SIPMSG_M_PRACK:
        return SB__SIP_METHOD__SIP_METHOD_PRACK;
    case SIPMSG_M_SUBSCRIBE:
        return SB__SIP_METHOD__SIP_METHOD_SUBSCRIBE;
    case SIPMSG_M_MESSAGE:
        return SB__SIP_METHOD__SIP_METHOD_MESSAGE;
    default:
        return SB__SIP_METHOD__SIP_METHOD_OTHER;
    }
}

/* The user part (as written) of a sip/sips URI, "" for others. */
static char *uri_user(struct sipmsg_out *o, const char *uri) {
    struct sipuri u;
    if (!uri || sipuri_parse(uri, strlen(uri), &u) < 0)
        return copy(o, "", 0);
    return copy(o, u.user ? u.user : "", u.user_len);
}

/* The parsed fields of out (RFC 4028 and the URIs), from m; false when o is full. */
static bool parsed_fields(const sipmsg_t *m, const domains_t *domains, Sb__SipMessage *out,
                          struct sipconv_store *st, struct sipmsg_out *o) {
    out->method_id = method_enum(m->method_id);
    out->ruri_user = out->ruri_host = out->refer_to = out->refer_to_aor = "";
    struct sipuri u;
    if (m->request && sipuri_parse(m->uri.ptr, m->uri.len, &u) == 0) {
        out->ruri_user = copy(o, u.user ? u.user : "", u.user_len);
        out->ruri_host = copy(o, u.host, strlen(u.host));
    }
    out->from_user = uri_user(o, out->from_uri);
    out->contact_host = "";
    if (*out->contact && sipuri_parse(out->contact, strlen(out->contact), &u) == 0) {
        out->contact_host = copy(o, u.host, strlen(u.host));
        out->contact_port = (uint32_t)(u.port ? u.port : u.sips ? 5061 : 5060);
    }
    if (m->request && m->method_id == SIPMSG_M_REFER) {
        struct sipmsg_str d, uri;
        if (sipmsg_name_addr(sipmsg_header_value(m, SIPMSG_H_REFER_TO), &d, &uri)) {
            char aor[SIPURI_MAX_TEXT];
            out->refer_to = copy_str(o, uri);
            if (sipuri_parse(uri.ptr, uri.len, &u) == 0 && u.user_len &&
                sipuri_aor(domains, &u, aor, sizeof aor) > 0)
                out->refer_to_aor = copy(o, aor, strlen(aor));
        }
    }
    Sb__SipSessionTimer *t = &st->session_timer;
    sb__sip_session_timer__init(t);
    t->expires = m->timer.expires;
    t->refresher = m->timer.refresher == 'c'   ? SB__SIP_REFRESHER__SIP_REFRESHER_UAC
                   : m->timer.refresher == 's' ? SB__SIP_REFRESHER__SIP_REFRESHER_UAS
                                               : SB__SIP_REFRESHER__SIP_REFRESHER_NONE;
    t->min_se = m->timer.min_se;
    t->supported = m->timer.supported;
    t->required = m->timer.required;
    out->session_timer = t;
    return out->ruri_user && out->ruri_host && out->from_user && out->refer_to &&
           out->refer_to_aor && out->contact_host;
}

bool sipconv_to_proto(const sipmsg_t *m, const domains_t *domains, Sb__SipMessage *out,
                      struct sipconv_store *st, struct sipmsg_out *o) {
    sb__sip_message__init(out);
    if (m->request) {
        out->method = copy_str(o, m->method);
        out->request_uri = copy_str(o, m->uri);
    } else {
        out->method = copy_str(o, m->cseq_method);
        out->status = (uint32_t)m->status;
        out->reason = copy_str(o, m->reason);
        out->request_uri = "";
    }
    if (!name_addr_split(m, SIPMSG_H_FROM, o, &out->from_display, &out->from_uri, &out->from_tag) ||
        !name_addr_split(m, SIPMSG_H_TO, o, &out->to_display, &out->to_uri, &out->to_tag))
        return false;
    out->call_id = copy_str(o, m->call_id);
    out->cseq = m->cseq;
    struct sipmsg_str d, u;
    out->contact =
        sipmsg_name_addr(sipmsg_header_value(m, SIPMSG_H_CONTACT), &d, &u) ? copy_str(o, u) : "";
    out->max_forwards = m->max_forwards;
    out->content_type = copy_str(o, sipmsg_header_value(m, SIPMSG_H_CONTENT_TYPE));
    out->body.data = (uint8_t *)m->body.ptr;
    out->body.len = m->body.len;
    size_t nh = 0, nrr = 0;
    for (unsigned i = 0; i < m->nheaders; i++) {
        const struct sipmsg_header *h = &m->headers[i];
        if (h->id == SIPMSG_H_RECORD_ROUTE && nrr < SIPCONV_MAX_RR) {
            st->record_route[nrr++] = copy_str(o, h->value);
        } else if (!owned(h->id)) {
            Sb__SipHeader *sh = &st->headers[nh];
            sb__sip_header__init(sh);
            sh->name = copy_str(o, h->name);
            sh->value = copy_str(o, h->value);
            st->header_ptrs[nh++] = sh;
        }
    }
    out->n_record_route = nrr;
    out->record_route = st->record_route;
    out->n_headers = nh;
    out->headers = st->header_ptrs;
    return parsed_fields(m, domains, out, st, o) && !o->full && out->method && out->call_id &&
           out->contact && out->content_type;
}

/* ---------------------------------------------------------------- building */

/* Text that can go in a header field as it is: no CR, LF or NUL (s is a C string). */
static bool safe(const char *s) {
    return !s || !s[strcspn(s, "\r\n")];
}

static bool is_token(const char *s) {
    if (!s || !*s)
        return false;
    for (; *s; s++)
        if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') ||
              strchr("-.!%*_+`'~", *s)))
            return false;
    return true;
}

static const char *str_or(const char *s) {
    return s ? s : "";
}

static void put_host(struct sipmsg_out *o, const struct sipconv_local *l) {
    bool v6 = strchr(l->host, ':') != NULL;
    if (v6)
        sipmsg_out_put(o, "[", 1);
    sipmsg_out_puts(o, l->host);
    if (v6)
        sipmsg_out_put(o, "]", 1);
    sipmsg_out_put(o, ":", 1);
    sipmsg_out_putu(o, (unsigned)l->port);
}

static void put_name_addr(struct sipmsg_out *o, const char *hdr, const char *display,
                          const char *uri, const char *tag) {
    sipmsg_out_puts(o, hdr);
    sipmsg_out_puts(o, ": ");
    if (display && *display) {
        sipmsg_out_put(o, "\"", 1);
        for (const char *p = display; *p; p++) {
            if (*p == '"' || *p == '\\')
                sipmsg_out_put(o, "\\", 1);
            sipmsg_out_put(o, p, 1);
        }
        sipmsg_out_puts(o, "\" ");
    }
    sipmsg_out_put(o, "<", 1);
    sipmsg_out_puts(o, str_or(uri));
    sipmsg_out_put(o, ">", 1);
    if (tag && *tag) {
        sipmsg_out_puts(o, ";tag=");
        sipmsg_out_puts(o, tag);
    }
    sipmsg_out_put(o, "\r\n", 2);
}

static void put_contact(struct sipmsg_out *o, const Sb__SipMessage *msg,
                        const struct sipconv_local *l) {
    if (msg->contact_user && *msg->contact_user) {
        sipmsg_out_puts(o, "Contact: <sip:");
        sipmsg_out_puts(o, msg->contact_user);
        sipmsg_out_put(o, "@", 1);
        put_host(o, l);
        if (l->transport == SIPDEST_TCP)
            sipmsg_out_puts(o, ";transport=tcp");
        else if (l->transport == SIPDEST_TLS)
            sipmsg_out_puts(o, ";transport=tls");
        sipmsg_out_puts(o, ">\r\n");
    } else if (msg->contact && *msg->contact) {
        sipmsg_out_puts(o, "Contact: <");
        sipmsg_out_puts(o, msg->contact);
        sipmsg_out_puts(o, ">\r\n");
    }
}

/* Checks every text field dialogd gave; the first bad one's name in *why. */
static bool fields_safe(const Sb__SipMessage *msg, const char **why) {
    const char *texts[] = {msg->method,      msg->request_uri, msg->reason,     msg->from_display,
                           msg->from_uri,    msg->from_tag,    msg->to_display, msg->to_uri,
                           msg->to_tag,      msg->call_id,     msg->contact,    msg->content_type,
                           msg->contact_user};
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++)
        if (!safe(texts[i])) {
            *why = "a field holds CR or LF";
            return false;
        }
    if (msg->contact_user && *msg->contact_user && !is_token(msg->contact_user)) {
        *why = "contact_user is not a token";
        return false;
    }
    for (size_t i = 0; i < msg->n_route; i++)
        if (!safe(msg->route[i])) {
            *why = "a Route holds CR or LF";
            return false;
        }
    for (size_t i = 0; i < msg->n_headers; i++) {
        const Sb__SipHeader *h = msg->headers[i];
        if (!h || !is_token(h->name) || !safe(h->value)) {
            *why = "a header field is malformed";
            return false;
        }
    }
    return true;
}

/* Extra header fields dialogd may not set: sipd writes these itself. */
static bool header_reserved(const char *name) {
    static const char *const names[] = {"Via",
                                        "v",
                                        "Content-Length",
                                        "l",
                                        "CSeq",
                                        "Call-ID",
                                        "i",
                                        "From",
                                        "f",
                                        "To",
                                        "t",
                                        "Max-Forwards",
                                        "Content-Type",
                                        "c",
                                        "Contact",
                                        "m",
                                        "Route"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcasecmp(name, names[i]) == 0)
            return true;
    return false;
}

static void put_headers_and_body(struct sipmsg_out *o, const Sb__SipMessage *msg, bool framing) {
    for (size_t i = 0; i < msg->n_headers; i++) {
        const Sb__SipHeader *h = msg->headers[i];
        if (header_reserved(h->name))
            continue;
        sipmsg_out_puts(o, h->name);
        sipmsg_out_puts(o, ": ");
        sipmsg_out_puts(o, str_or(h->value));
        sipmsg_out_put(o, "\r\n", 2);
    }
    if (msg->body.len && msg->content_type && *msg->content_type) {
        sipmsg_out_puts(o, "Content-Type: ");
        sipmsg_out_puts(o, msg->content_type);
        sipmsg_out_put(o, "\r\n", 2);
    }
    if (!framing)
        return;
    sipmsg_out_puts(o, "Content-Length: ");
    sipmsg_out_putu(o, msg->body.len);
    sipmsg_out_put(o, "\r\n\r\n", 4);
    if (msg->body.len)
        sipmsg_out_put(o, (const char *)msg->body.data, msg->body.len);
}

int sipconv_request_build(const Sb__SipMessage *msg, const struct sipconv_local *local,
                          const char *branch, char *out, size_t cap, const char **why) {
    if (!fields_safe(msg, why))
        return -EINVAL;
    if (!is_token(msg->method) || !msg->request_uri || !*msg->request_uri ||
        strchr(msg->request_uri, ' ') || !msg->call_id || !*msg->call_id ||
        strchr(msg->call_id, ' ') || msg->cseq > 0x7fffffffU) {
        *why = "method, Request-URI, Call-ID or CSeq unusable";
        return -EINVAL;
    }
    struct sipmsg_out o = {out, cap, 0, false};
    sipmsg_out_printf(&o, "%s %s SIP/2.0\r\n", msg->method, msg->request_uri);
    sipmsg_out_puts(&o, local->transport == SIPDEST_TCP   ? "Via: SIP/2.0/TCP "
                        : local->transport == SIPDEST_TLS ? "Via: SIP/2.0/TLS "
                                                          : "Via: SIP/2.0/UDP ");
    put_host(&o, local);
    sipmsg_out_printf(&o, ";branch=%s;rport\r\n", branch);
    bool mf = msg->max_forwards_set ? msg->max_forwards >= 0 && msg->max_forwards <= 255
                                    : msg->max_forwards > 0 && msg->max_forwards <= 255;
    sipmsg_out_printf(&o, "Max-Forwards: %d\r\n", mf ? msg->max_forwards : 70);
    for (size_t i = 0; i < msg->n_route; i++)
        sipmsg_out_printf(&o, "Route: %s\r\n", msg->route[i]);
    put_name_addr(&o, "From", msg->from_display, msg->from_uri, msg->from_tag);
    put_name_addr(&o, "To", msg->to_display, msg->to_uri, msg->to_tag);
    sipmsg_out_printf(&o, "Call-ID: %s\r\n", msg->call_id);
    sipmsg_out_printf(&o, "CSeq: %u %s\r\n", msg->cseq, msg->method);
    put_contact(&o, msg, local);
    put_headers_and_body(&o, msg, true);
    return o.full ? -ENOSPC : (int)o.len;
}

bool sipconv_response_lines(const Sb__SipMessage *msg, const struct sipconv_local *local,
                            struct sipmsg_out *o, const char **why) {
    if (!fields_safe(msg, why))
        return false;
    put_contact(o, msg, local);
    put_headers_and_body(o, msg, false);
    return !o->full;
}

int sipconv_derive(const sipmsg_t *req, enum sipmsg_method method, const sipmsg_t *resp, char *out,
                   size_t cap) {
    struct sipmsg_out o = {out, cap, 0, false};
    const char *name = sipmsg_method_name(method);
    sipmsg_out_printf(&o, "%s %.*s SIP/2.0\r\n", name, (int)req->uri.len, req->uri.ptr);
    /* RFC 3261 9.1 / 17.1.1.3: the top Via of the request (ours: the only one) */
    struct sipmsg_str via = sipmsg_header_value(req, SIPMSG_H_VIA);
    sipmsg_out_printf(&o, "Via: %.*s\r\nMax-Forwards: 70\r\n", (int)via.len, via.ptr);
    for (unsigned i = 0; i < req->nheaders; i++)
        if (req->headers[i].id == SIPMSG_H_ROUTE)
            sipmsg_out_printf(&o, "Route: %.*s\r\n", (int)req->headers[i].value.len,
                              req->headers[i].value.ptr);
    struct sipmsg_str from = sipmsg_header_value(req, SIPMSG_H_FROM);
    struct sipmsg_str to = sipmsg_header_value(resp ? resp : req, SIPMSG_H_TO);
    sipmsg_out_printf(&o, "From: %.*s\r\nTo: %.*s\r\nCall-ID: %.*s\r\nCSeq: %u %s\r\n",
                      (int)from.len, from.ptr, (int)to.len, to.ptr, (int)req->call_id.len,
                      req->call_id.ptr, req->cseq, name);
    sipmsg_out_puts(&o, "Content-Length: 0\r\n\r\n");
    return o.full ? -ENOSPC : (int)o.len;
}

/* ---------------------------------------------------------------- next hop */

/* dialogd's next_hop: a flow it learned from a registration. */
static int given_hop(const Sb__SipPeer *nh, struct sipconv_hop *hop, const char **why) {
    hop->given = true;
    hop->nated = nh->nated;
    hop->outbound = nh->outbound;
    hop->conn_id = nh->conn_id;
    hop->instance = (int)nh->sipd_instance;
    const char *t = nh->transport ? nh->transport : "";
    if (strcasecmp(t, "tcp") == 0) {
        hop->transport = SIPDEST_TCP;
    } else if (strcasecmp(t, "tls") == 0) {
        hop->transport = SIPDEST_TLS;
    } else if (!*t || strcasecmp(t, "udp") == 0) {
        hop->transport = SIPDEST_UDP;
    } else {
        *why = "next hop transport not supported";
        return -EPROTONOSUPPORT;
    }
    if (nh->port > 65535 || nh->local_port > 65535 ||
        sipaddr_parse(nh->addr, nh->port ? (int)nh->port : 5060, &hop->addr, &hop->addr_len) < 0) {
        *why = "next hop is not a numeric address and port";
        return -EINVAL;
    }
    if (nh->local_addr && *nh->local_addr &&
        sipaddr_parse(nh->local_addr, (int)nh->local_port, &hop->local, NULL) < 0) {
        *why = "next hop local address is not numeric";
        return -EINVAL;
    }
    if (hop->transport == SIPDEST_TLS)
        snprintf(hop->tls_host, sizeof hop->tls_host, "%s", nh->addr);
    return 0;
}

int sipconv_next_hop(const Sb__SipMessage *msg, struct sipconv_hop *hop, const char **why) {
    memset(hop, 0, sizeof *hop);
    hop->instance = -1;
    if (msg->next_hop && msg->next_hop->addr && *msg->next_hop->addr)
        return given_hop(msg->next_hop, hop, why);
    union sipaddr *addr = &hop->addr;
    const char *target = msg->n_route ? msg->route[0] : msg->request_uri;
    if (!target || !*target) {
        *why = "no Request-URI";
        return -EINVAL;
    }
    const char *p = target, *e = target + strlen(target);
    const char *lt = strchr(p, '<');
    if (lt) {
        const char *gt = strchr(lt, '>');
        if (!gt) {
            *why = "malformed Route";
            return -EINVAL;
        }
        p = lt + 1;
        e = gt;
    }
    while (p < e && *p == ' ')
        p++;
    while (e > p && e[-1] == ' ')
        e--;
    struct sipuri u;
    int rc = sipuri_parse(p, (size_t)(e - p), &u);
    if (rc < 0) {
        *why = rc == -EPROTONOSUPPORT ? "not a sip: or sips: URI" : "malformed URI";
        return -EINVAL;
    }
    hop->transport = SIPDEST_UDP;
    if (u.sips || strcmp(u.transport, "tls") == 0) {
        /* RFC 3261 26.2.2: sips: is TLS on every hop; never downgraded to another one */
        if (u.transport[0] && strcmp(u.transport, "tls") != 0 && strcmp(u.transport, "tcp")) {
            *why = "sips: URI with a transport other than TLS";
            return -EPROTONOSUPPORT;
        }
        hop->transport = SIPDEST_TLS;
        snprintf(hop->tls_host, sizeof hop->tls_host, "%s", u.host);
    } else if (strcmp(u.transport, "tcp") == 0) {
        hop->transport = SIPDEST_TCP;
    } else if (u.transport[0] && strcmp(u.transport, "udp") != 0) {
        *why = "transport not supported";
        return -EPROTONOSUPPORT;
    }
    int port = u.port ? u.port : hop->transport == SIPDEST_TLS ? 5061 : 5060;
    memset(addr, 0, sizeof *addr);
    if (!u.ipv6 && inet_pton(AF_INET, u.host, &addr->sin.sin_addr) == 1) {
        addr->sin.sin_family = AF_INET;
        addr->sin.sin_port = htons((uint16_t)port);
        hop->addr_len = sizeof addr->sin;
        return 0;
    }
    if (u.ipv6 && inet_pton(AF_INET6, u.host, &addr->sin6.sin6_addr) == 1) {
        addr->sin6.sin6_family = AF_INET6;
        addr->sin6.sin6_port = htons((uint16_t)port);
        hop->addr_len = sizeof addr->sin6;
        return 0;
    }
    *why = "host is not a numeric address (no DNS yet)";
    return -EINVAL;
}
