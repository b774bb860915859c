/* sipnat - see sipnat.h */
#include "sipnat.h"

#include <arpa/inet.h>
#include <string.h>

#include "sipuri.h"

bool sipnat_private(const union sipaddr *in) {
    union sipaddr a;
    sipaddr_unmap(in, &a);
    if (a.sa.sa_family == AF_INET) {
        uint32_t v = ntohl(a.sin.sin_addr.s_addr);
        return (v >> 24) == 10 || (v >> 20) == ((172u << 4) | 1) ||
               (v >> 16) == ((192u << 8) | 168) || (v >> 22) == ((100u << 2) | 1);
    }
    return a.sa.sa_family == AF_INET6 && (a.sin6.sin6_addr.s6_addr[0] & 0xfe) == 0xfc;
}

/* RFC 3261 18.2.1 / nat_uac_test 2 and 16: sent-by is where the packet came from. */
static bool via_differs(const sipmsg_t *m, const union sipaddr *src) {
    char host[SIPURI_MAX_HOST];
    union sipaddr sent_by;
    if (!m->via_ok || m->via.host.len == 0 || m->via.host.len >= sizeof host)
        return true;
    memcpy(host, m->via.host.ptr, m->via.host.len);
    host[m->via.host.len] = '\0';
    if (sipaddr_parse(host, m->via.port ? m->via.port : 5060, &sent_by, NULL) < 0)
        return true; /* a host name is not the source address */
    return !sipaddr_equal(&sent_by, src);
}

/* nat_uac_test 1: the first Contact names a private address the packet did not come from;
 * or it asks for TCP (;transport=tcp) at another host than the one that sent it: a
 * connection of ours to it would go where nobody has proved to be (reached on the flow). */
static bool contact_private(const sipmsg_t *m, const union sipaddr *src) {
    struct sipmsg_str display, uri;
    struct sipuri u;
    union sipaddr host;
    if (!sipmsg_name_addr(sipmsg_header_value(m, SIPMSG_H_CONTACT), &display, &uri) ||
        sipuri_parse(uri.ptr, uri.len, &u) < 0 || sipaddr_parse(u.host, 0, &host, NULL) < 0)
        return false;
    return !sipaddr_same_host(&host, src) &&
           (sipnat_private(&host) || strcmp(u.transport, "tcp") == 0);
}

bool sipnat_detect(const sipmsg_t *m, const union sipaddr *src) {
    if (m->request && via_differs(m, src))
        return true;
    return contact_private(m, src);
}
