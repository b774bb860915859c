/* dialguard - see dialguard.h */
#include "dialguard.h"

#include <ctype.h>
#include <errno.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct dialguard {
    regex_t re;
    char *pattern; /* NULL: nothing compiled */
};

dialguard_t *dialguard_new(void) {
    return calloc(1, sizeof(dialguard_t));
}

void dialguard_free(dialguard_t *g) {
    if (!g)
        return;
    if (g->pattern)
        regfree(&g->re);
    free(g->pattern);
    free(g);
}

static int compile(regex_t *re, const char *pattern, char *err, size_t errlen) {
    int rc = regcomp(re, pattern, REG_EXTENDED | REG_NOSUB);
    if (rc == 0)
        return 0;
    char why[200];
    regerror(rc, re, why, sizeof why);
    snprintf(err, errlen, "'%s': %s", pattern, why);
    return -EINVAL;
}

int dialguard_set(dialguard_t *g, const char *pattern, char *err, size_t errlen) {
    if (g->pattern && strcmp(g->pattern, pattern) == 0)
        return 0;
    regex_t re;
    char *copy = strdup(pattern);
    if (!copy) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    if (compile(&re, pattern, err, errlen) < 0) {
        free(copy);
        return -EINVAL;
    }
    if (g->pattern)
        regfree(&g->re);
    free(g->pattern);
    g->re = re;
    g->pattern = copy;
    return 0;
}

bool dialguard_number_ok(const dialguard_t *g, const char *number) {
    return g && g->pattern && number && regexec(&g->re, number, 0, NULL, 0) == 0;
}

int dialguard_pattern_check(const char *pattern, char *err, size_t errlen) {
    regex_t re;
    if (compile(&re, pattern, err, errlen) < 0)
        return -EINVAL;
    regfree(&re);
    return 0;
}

/* RFC 3261 25.1: unreserved characters, and '+' of a telephone number, stand as
 * themselves; everything else is escaped. */
static bool plain(unsigned char c) {
    return isalnum(c) || strchr("-_.!~*'()+", c) != NULL;
}

int dialguard_uri_user(const char *in, char *out, size_t cap) {
    static const char hex[] = "0123456789ABCDEF";
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *)in; *p; p++) {
        bool escape = *p == '%' && isxdigit(p[1]) && isxdigit(p[2]);
        size_t need = escape ? 3 : plain(*p) && *p ? 1 : 3;
        if (n + need >= cap)
            return -ENOSPC;
        if (escape) {
            memcpy(out + n, p, 3);
            p += 2;
        } else if (need == 1) {
            out[n] = (char)*p;
        } else {
            out[n] = '%';
            out[n + 1] = hex[*p >> 4];
            out[n + 2] = hex[*p & 15];
        }
        n += need;
    }
    if (cap == 0)
        return -ENOSPC;
    out[n] = '\0';
    return (int)n;
}
