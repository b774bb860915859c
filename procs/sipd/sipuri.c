/* sipuri - see sipuri.h */
#include "sipuri.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <string.h>
#include <strings.h>

#include <osipparser2/osip_parser.h>

static bool host_char(unsigned char c) {
    return isalnum(c) || c == '-' || c == '.' || c == '_';
}

/* Lower-case copy of s into out; false when it does not fit. */
static bool copy_lower(char *out, size_t cap, const char *s) {
    size_t n = strlen(s);
    if (n >= cap)
        return false;
    for (size_t i = 0; i <= n; i++)
        out[i] = (char)tolower((unsigned char)s[i]);
    return true;
}

/* bracketed: the URI writes the host as an IPv6 reference, which it must then be. */
static int check_host(struct sipuri *u, const char *host, bool bracketed) {
    if (!host || !*host)
        return -EINVAL;
    if (!copy_lower(u->host, sizeof u->host, host))
        return -ENAMETOOLONG;
    if (strchr(u->host, ':')) {
        struct in6_addr a6;
        if (!bracketed || inet_pton(AF_INET6, u->host, &a6) != 1)
            return -EINVAL;
        u->ipv6 = true;
        return 0;
    }
    if (bracketed)
        return -EINVAL;
    for (const char *p = u->host; *p; p++)
        if (!host_char((unsigned char)*p))
            return -EINVAL;
    return 0;
}

static int check_port(struct sipuri *u, const char *port) {
    if (!port)
        return 0;
    long v = 0;
    if (!*port || strlen(port) > 5)
        return -EINVAL;
    for (const char *p = port; *p; p++) {
        if (*p < '0' || *p > '9')
            return -EINVAL;
        v = v * 10 + (*p - '0');
    }
    if (v < 1 || v > 65535)
        return -EINVAL;
    u->port = (int)v;
    return 0;
}

static int read_params(struct sipuri *u, osip_uri_t *o) {
    for (int i = 0; i < osip_list_size(&o->url_params); i++) {
        osip_uri_param_t *p = osip_list_get(&o->url_params, i);
        if (!p || !p->gname)
            continue;
        if (strcasecmp(p->gname, "lr") == 0) {
            u->lr = true;
        } else if (strcasecmp(p->gname, "transport") == 0) {
            if (!p->gvalue || !copy_lower(u->transport, sizeof u->transport, p->gvalue))
                return -EINVAL;
        } else if (strcasecmp(p->gname, "maddr") == 0) {
            if (!p->gvalue || !copy_lower(u->maddr, sizeof u->maddr, p->gvalue))
                return -EINVAL;
        }
    }
    return 0;
}

int sipuri_parse(const char *text, size_t len, struct sipuri *u) {
    memset(u, 0, sizeof *u);
    char buf[SIPURI_MAX_TEXT + 1];
    if (len > SIPURI_MAX_TEXT)
        return -ENAMETOOLONG;
    if (len == 0 || memchr(text, '\0', len))
        return -EINVAL;
    memcpy(buf, text, len);
    buf[len] = '\0';
    const char *colon = memchr(buf, ':', len);
    if (!colon)
        return -EINVAL;
    size_t slen = (size_t)(colon - buf);
    if (slen == 4 && strncasecmp(buf, "sips", 4) == 0)
        u->sips = true;
    else if (!(slen == 3 && strncasecmp(buf, "sip", 3) == 0))
        return slen ? -EPROTONOSUPPORT : -EINVAL;
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)buf[i] <= ' ' || buf[i] == '<' || buf[i] == '>' || buf[i] == '"')
            return -EINVAL;

    osip_uri_t *o = NULL;
    if (osip_uri_init(&o) != 0)
        return -ENOMEM;
    int rc = osip_uri_parse(o, buf) == 0 ? 0 : -EINVAL;
    /* the user part as written: from the scheme's colon to '@', without a password */
    const char *user = colon + 1, *at = strchr(user, '@');
    if (rc == 0 && at) {
        const char *pw = memchr(user, ':', (size_t)(at - user));
        const char *end = pw ? pw : at;
        if (end == user || !o->username)
            rc = -EINVAL;
        u->user = text + (user - buf);
        u->user_len = (size_t)(end - user);
    } else if (rc == 0 && o->username) {
        rc = -EINVAL;
    }
    if (rc == 0)
        rc = check_host(u, o->host, *(at ? at + 1 : user) == '[');
    if (rc == 0)
        rc = check_port(u, o->port);
    if (rc == 0)
        rc = read_params(u, o);
    osip_uri_free(o);
    if (rc < 0) {
        bool sips = u->sips;
        memset(u, 0, sizeof *u);
        u->sips = sips;
    }
    return rc;
}

int sipuri_aor(const domains_t *d, const struct sipuri *u, char *out, size_t cap) {
    return domains_aor(d, u->user, u->user_len, u->host, strlen(u->host), out, cap);
}

int sipuri_aor_of(const domains_t *d, const char *text, size_t len, char *out, size_t cap) {
    struct sipuri u;
    int rc = sipuri_parse(text, len, &u);
    return rc < 0 ? rc : sipuri_aor(d, &u, out, cap);
}
