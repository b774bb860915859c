/* contact_rule - see contact_rule.h */
#include "contact_rule.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int contact_allow_parse(const char *text, struct contact_allow *a, char *err, size_t errlen) {
    return netacl_parse(text, &a->acl, err, errlen) < 0 ? -EINVAL : 0;
}

bool contact_allow_has(const struct contact_allow *a, const union sipaddr *addr) {
    return a->acl.n && netacl_match(&a->acl, &addr->sa);
}

const char *contact_rule_refusal(const union sipaddr *contact, bool is_us,
                                 const union sipaddr *source, const struct contact_allow *allow) {
    if (allow && contact_allow_has(allow, contact))
        return NULL;
    if (is_us)
        return "Contact names this server";
    switch (sipaddr_scope(contact)) {
    case SIPADDR_GLOBAL:
        return NULL;
    case SIPADDR_LOOPBACK:
    case SIPADDR_LINK_LOCAL:
        /* the registering phone itself, on this host or on the link */
        return source && sipaddr_same_host(contact, source) ? NULL
               : sipaddr_scope(contact) == SIPADDR_LOOPBACK ? "Contact is a loopback address"
                                                            : "Contact is a link-local address";
    case SIPADDR_MULTICAST:
        return "Contact is a multicast or broadcast address";
    case SIPADDR_UNSPECIFIED:
        break;
    }
    return "Contact is an unspecified address";
}
