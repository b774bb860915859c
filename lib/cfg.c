/* cfg - see cfg.h */
#include "cfg.h"
#include "hash.h"
#include "cfgtext.h"
#include "domains.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"

#define CFG_VALUE_MAX (1024 * 1024)         /* bytes of one expanded value */
#define CFG_EXPAND_TOTAL (16 * 1024 * 1024) /* bytes of all expanded values together */
#define CFG_EXPAND_DEPTH 100                /* $a -> $b -> ... nesting, as in Postfix */
#define CFG_TIME_MAX_MS 2147483647L         /* fits an int32 of milliseconds: 24 days */
#define CFG_NAME_CHARS "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_"

static const struct cfg_param_info param_table[CFG_PARAM_COUNT] = {
#define CFG_PARAM_ROW(name, type, def, doc) {#name, type, def, doc},
    CFG_PARAMS(CFG_PARAM_ROW)
#undef CFG_PARAM_ROW
};

/* Integer parameters with a narrower range than 0..LONG_MAX. */
static const struct {
    enum cfg_param param;
    long min, max;
} int_ranges[] = {
    {CFG_ipc_max_message, 64, 1048576},
    {CFG_sip_max_message, 1024, 1048576},
    {CFG_sip_tcp_max_connections, 1, 1000000},
    {CFG_nat_keepalive_misses, 1, 100},
    {CFG_register_default_expires, 1, 31536000},
    {CFG_register_min_expires, 1, 31536000},
    {CFG_register_max_expires, 1, 31536000},
    /* Limits */
    {CFG_sip_pike_requests, 0, 1000000},
    {CFG_sip_pike_calls, 0, 1000000},
    {CFG_sip_max_transactions, 0, 100000000},
    {CFG_sip_tcp_max_per_source, 0, 1000000},
    {CFG_register_max_contacts, 0, 100000},
    {CFG_calls_max_per_source, 0, 10000000},
    {CFG_calls_max_per_user, 0, 10000000},
};

enum { EXP_TODO, EXP_BUSY, EXP_DONE };

/* One parameter: every known one (index = enum cfg_param) then user-defined ones. */
struct cfg_entry {
    char *name;
    char *raw;   /* as set in the file, or the default */
    char *value; /* raw with $names expanded, once state is EXP_DONE */
    int line;    /* line that set it; 0 = the default */
    int state;
};

/* The typed form of a known parameter's value. */
struct cfg_val {
    long num; /* INT, BOOL (0/1), TIME (ms), LEVEL */
    int lo, hi;
    size_t naddr;
    struct cfg_addr addr[CFG_MAX_ADDRS];
};

struct cfg {
    char *source;
    size_t source_len;
    char *file;
    struct cfg_entry *ent;
    size_t nent, capent;
    size_t *hash; /* open addressing: entry index + 1, 0 = empty */
    size_t hashcap;
    char **warn;
    size_t nwarn, capwarn;
    struct cfg_val val[CFG_PARAM_COUNT];
};

/* ---- entries ---- */

static size_t name_hash(const char *name, size_t len) {
    return (size_t)sb_hash64(name, len);
}

static long find_entry(const cfg_t *cfg, const char *name, size_t len) {
    if (!cfg || cfg->hashcap == 0)
        return -1;
    for (size_t i = name_hash(name, len) & (cfg->hashcap - 1);; i = (i + 1) & (cfg->hashcap - 1)) {
        size_t slot = cfg->hash[i];
        if (slot == 0)
            return -1;
        const struct cfg_entry *e = &cfg->ent[slot - 1];
        if (strncmp(e->name, name, len) == 0 && e->name[len] == '\0')
            return (long)(slot - 1);
    }
}

static void hash_put(size_t *hash, size_t cap, const char *name, size_t idx) {
    size_t i = name_hash(name, strlen(name)) & (cap - 1);
    while (hash[i])
        i = (i + 1) & (cap - 1);
    hash[i] = idx + 1;
}

/* Appends an entry that owns name and raw (freed here on failure). */
static long add_entry(cfg_t *cfg, char *name, char *raw, int line) {
    if (!name || !raw)
        goto fail;
    if (cfg->nent == cfg->capent) {
        size_t cap = cfg->capent ? cfg->capent * 2 : 64;
        struct cfg_entry *ent = realloc(cfg->ent, cap * sizeof *ent);
        if (!ent)
            goto fail;
        cfg->ent = ent;
        cfg->capent = cap;
    }
    if ((cfg->nent + 1) * 2 > cfg->hashcap) {
        size_t cap = cfg->hashcap ? cfg->hashcap * 2 : 128;
        size_t *hash = calloc(cap, sizeof *hash);
        if (!hash)
            goto fail;
        for (size_t i = 0; i < cfg->nent; i++)
            hash_put(hash, cap, cfg->ent[i].name, i);
        free(cfg->hash);
        cfg->hash = hash;
        cfg->hashcap = cap;
    }
    cfg->ent[cfg->nent] = (struct cfg_entry){name, raw, NULL, line, EXP_TODO};
    hash_put(cfg->hash, cfg->hashcap, name, cfg->nent);
    return (long)cfg->nent++;
fail:
    free(name);
    free(raw);
    return -1;
}

static int add_warning(cfg_t *cfg, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int add_warning(cfg_t *cfg, const char *fmt, ...) {
    if (cfg->nwarn == cfg->capwarn) {
        size_t cap = cfg->capwarn ? cfg->capwarn * 2 : 8;
        char **w = realloc(cfg->warn, cap * sizeof *w);
        if (!w)
            return -1;
        cfg->warn = w;
        cfg->capwarn = cap;
    }
    va_list ap;
    va_start(ap, fmt);
    int n = vasprintf(&cfg->warn[cfg->nwarn], fmt, ap);
    va_end(ap);
    if (n < 0)
        return -1;
    cfg->nwarn++;
    return 0;
}

/* One "name = value" logical line. */
static int parse_line(cfg_t *cfg, char *text, int line, char *err, size_t errlen) {
    char *eq = strchr(text, '=');
    if (!eq) {
        cfgtext_seterr(err, errlen, "%s:%d: missing '=' (expected 'name = value')", cfg->file, line);
        return -1;
    }
    char *name = text, *name_end = eq;
    while (name_end > name && cfgtext_is_blank(name_end[-1]))
        name_end--;
    size_t nlen = (size_t)(name_end - name);
    if (nlen == 0) {
        cfgtext_seterr(err, errlen, "%s:%d: missing parameter name before '='", cfg->file, line);
        return -1;
    }
    *name_end = '\0';
    if (strspn(name, CFG_NAME_CHARS) != nlen) {
        cfgtext_seterr(err, errlen, "%s:%d: bad parameter name '%s' (letters, digits and '_' only)",
               cfg->file, line, name);
        return -1;
    }
    char *value = eq + 1;
    while (cfgtext_is_blank(*value))
        value++;
    if (strcmp(name, param_table[CFG_config_directory].name) == 0) {
        cfgtext_seterr(err, errlen,
               "%s:%d: config_directory cannot be set in main.cf (it is the -c "
               "directory)",
               cfg->file, line);
        return -1;
    }
    long i = find_entry(cfg, name, nlen);
    if (i < 0) {
        if (add_warning(cfg, "%s:%d: unknown parameter '%s' (kept)", cfg->file, line, name) < 0 ||
            add_entry(cfg, strdup(name), strdup(value), line) < 0)
            goto oom;
        return 0;
    }
    struct cfg_entry *e = &cfg->ent[i];
    if (e->line > 0 && add_warning(cfg,
                                   "%s:%d: parameter '%s' set again (previously at line %d); "
                                   "the last setting wins",
                                   cfg->file, line, name, e->line) < 0)
        goto oom;
    char *raw = strdup(value);
    if (!raw)
        goto oom;
    free(e->raw);
    e->raw = raw;
    e->line = line;
    return 0;
oom:
    cfgtext_seterr(err, errlen, "%s:%d: out of memory", cfg->file, line);
    return -1;
}

/* ---- expansion ---- */

struct cfg_exp {
    cfg_t *cfg;
    bool parsing; /* resolve references recursively (cfg_parse); else values are final */
    size_t stack[CFG_EXPAND_DEPTH];
    int depth;
    size_t total;
    int line; /* where the error is; 0: in a default */
    char what[512];
};

/* The error is at the innermost entry being expanded that was set in the file, at or
 * above stack index floor. */
static void exp_where(struct cfg_exp *x, int floor) {
    x->line = 0;
    for (int k = x->depth - 1; k >= floor && k >= 0; k--)
        if (x->cfg->ent[x->stack[k]].line > 0) {
            x->line = x->cfg->ent[x->stack[k]].line;
            return;
        }
}

static int exp_add(struct cfg_exp *x, struct cfgtext_buf *out, const char *s, size_t n) {
    if (n > CFG_VALUE_MAX - out->len) {
        exp_where(x, 0);
        snprintf(x->what, sizeof x->what, "expanded value longer than 1 MiB");
        return -1;
    }
    if (x->parsing) {
        if (n > CFG_EXPAND_TOTAL - x->total) {
            exp_where(x, 0);
            snprintf(x->what, sizeof x->what, "expanded values larger than 16 MiB in all");
            return -1;
        }
        x->total += n;
    }
    if (cfgtext_buf_add(out, s, n) < 0) {
        exp_where(x, 0);
        snprintf(x->what, sizeof x->what, "out of memory");
        return -1;
    }
    return 0;
}

static int expand_entry(struct cfg_exp *x, size_t i);

static const char *exp_resolve(struct cfg_exp *x, const char *name, size_t len) {
    long j = find_entry(x->cfg, name, len);
    if (j < 0) {
        exp_where(x, 0);
        snprintf(x->what, sizeof x->what, "undefined parameter $%.*s", (int)len, name);
        return NULL;
    }
    struct cfg_entry *e = &x->cfg->ent[j];
    if (!x->parsing || e->state == EXP_DONE)
        return e->value;
    if (e->state == EXP_BUSY) {
        int k = x->depth - 1;
        while (k > 0 && x->stack[k] != (size_t)j)
            k--;
        exp_where(x, k);
        size_t n = (size_t)snprintf(x->what, sizeof x->what, "expansion loop:");
        for (int m = k; m < x->depth && n < sizeof x->what; m++)
            n += (size_t)snprintf(x->what + n, sizeof x->what - n, " $%s ->",
                                  x->cfg->ent[x->stack[m]].name);
        if (n < sizeof x->what)
            snprintf(x->what + n, sizeof x->what - n, " $%s", e->name);
        return NULL;
    }
    return expand_entry(x, (size_t)j) == 0 ? e->value : NULL;
}

/* Appends text to out with $name, ${name} and $$ replaced. */
static int expand_text(struct cfg_exp *x, const char *s, struct cfgtext_buf *out) {
    for (;;) {
        const char *d = strchr(s, '$');
        if (!d)
            return exp_add(x, out, s, strlen(s));
        if (exp_add(x, out, s, (size_t)(d - s)) < 0)
            return -1;
        const char *name;
        size_t len;
        if (d[1] == '$') {
            if (exp_add(x, out, "$", 1) < 0)
                return -1;
            s = d + 2;
            continue;
        } else if (d[1] == '{') {
            name = d + 2;
            len = strspn(name, CFG_NAME_CHARS);
            if (len == 0 || name[len] != '}') {
                exp_where(x, 0);
                snprintf(x->what, sizeof x->what, "bad '${': expected ${name}");
                return -1;
            }
            s = name + len + 1;
        } else {
            name = d + 1;
            len = strspn(name, CFG_NAME_CHARS);
            if (len == 0) {
                exp_where(x, 0);
                snprintf(x->what, sizeof x->what,
                         "'$' not followed by a parameter name (write $$ for a literal $)");
                return -1;
            }
            s = name + len;
        }
        const char *v = exp_resolve(x, name, len);
        if (!v || exp_add(x, out, v, strlen(v)) < 0)
            return -1;
    }
}

static int expand_entry(struct cfg_exp *x, size_t i) {
    struct cfg_entry *e = &x->cfg->ent[i];
    if (x->depth == CFG_EXPAND_DEPTH) {
        exp_where(x, 0);
        snprintf(x->what, sizeof x->what, "expansion nested deeper than %d levels",
                 CFG_EXPAND_DEPTH);
        return -1;
    }
    e->state = EXP_BUSY;
    x->stack[x->depth++] = i;
    struct cfgtext_buf b = {0};
    if (exp_add(x, &b, "", 0) < 0 || expand_text(x, e->raw, &b) < 0) {
        free(b.p);
        return -1;
    }
    x->depth--;
    e->value = b.p;
    e->state = EXP_DONE;
    return 0;
}

/* ---- typed values ---- */

/* Decimal digits at *p into *out; -1: no digit; -2: more than max (digits consumed). */
static int parse_num(const char **p, long max, long *out) {
    const char *s = *p;
    long v = 0;
    bool over = false;
    if (*s < '0' || *s > '9')
        return -1;
    for (; *s >= '0' && *s <= '9'; s++) {
        if (!over && v > (max - (*s - '0')) / 10)
            over = true;
        if (!over)
            v = v * 10 + (*s - '0');
    }
    *p = s;
    *out = v;
    return over ? -2 : 0;
}

static int check_int(enum cfg_param p, const char *v, struct cfg_val *out, char *why, size_t n) {
    long min = 0, max = LONG_MAX, num;
    for (size_t i = 0; i < sizeof int_ranges / sizeof int_ranges[0]; i++)
        if (int_ranges[i].param == p) {
            min = int_ranges[i].min;
            max = int_ranges[i].max;
        }
    int rc = parse_num(&v, LONG_MAX, &num);
    if (rc == -1 || (rc == 0 && *v != '\0')) {
        snprintf(why, n, "not a decimal number");
        return -1;
    }
    if (rc == -2 || num < min || num > max) {
        snprintf(why, n, "out of range %ld..%ld", min, max);
        return -1;
    }
    out->num = num;
    return 0;
}

static int check_bool(const char *v, struct cfg_val *out, char *why, size_t n) {
    static const char *const yes[] = {"yes", "true", "on", "1"}, *const no[] = {"no", "false",
                                                                                "off", "0"};
    for (size_t i = 0; i < 4; i++) {
        if (strcasecmp(v, yes[i]) == 0) {
            out->num = 1;
            return 0;
        }
        if (strcasecmp(v, no[i]) == 0) {
            out->num = 0;
            return 0;
        }
    }
    snprintf(why, n, "not a boolean (yes/no, true/false, on/off, 1/0)");
    return -1;
}

/* The times for which 0 means "never" (every other one must be greater than 0). */
static bool time_may_be_zero(enum cfg_param p) {
    return p == CFG_nat_keepalive_interval;
}

static int check_time(const char *v, struct cfg_val *out, char *why, size_t n, bool zero_ok) {
    static const struct {
        const char *unit;
        long ms;
    } units[] = {{"", 1000}, {"ms", 1}, {"s", 1000}, {"m", 60000}, {"h", 3600000}};
    long num;
    int rc = parse_num(&v, LONG_MAX, &num);
    if (rc == -1) {
        snprintf(why, n, "not a time (e.g. 250ms, 5s, 2m, 1h)");
        return -1;
    }
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
        if (strcmp(v, units[i].unit) != 0)
            continue;
        if (rc == -2 || num > CFG_TIME_MAX_MS / units[i].ms) {
            snprintf(why, n, "longer than %ldms (24 days)", CFG_TIME_MAX_MS);
            return -1;
        }
        if (num == 0 && !zero_ok) {
            snprintf(why, n, "must be greater than 0");
            return -1;
        }
        out->num = num * units[i].ms;
        return 0;
    }
    snprintf(why, n, "bad time unit '%s' (use ms, s, m or h)", v);
    return -1;
}

static int check_level(const char *v, struct cfg_val *out, char *why, size_t n) {
    int level = log_level_parse(v);
    if (level < 0) {
        snprintf(why, n, "not a log level (debug, info, warn or error)");
        return -1;
    }
    out->num = level;
    return 0;
}

/* One "a.b.c.d:port" or "[v6]:port" of len bytes into a. */
static int check_addr(const char *s, size_t len, struct cfg_addr *a, char *why, size_t n) {
    char host[INET6_ADDRSTRLEN];
    const char *h = s, *port;
    size_t hlen;
    bool v6 = s[0] == '[';
    if (len >= sizeof a->text) {
        snprintf(why, n, "address '%.*s...' is too long", 40, s);
        return -1;
    }
    if (v6) {
        const char *close = memchr(s, ']', len);
        if (!close || close + 1 == s + len || close[1] != ':') {
            snprintf(why, n, "'%.*s' is not [v6]:port", (int)len, s);
            return -1;
        }
        h = s + 1;
        hlen = (size_t)(close - h);
        port = close + 2;
    } else {
        const char *colon = memrchr(s, ':', len);
        if (!colon) {
            snprintf(why, n, "'%.*s' has no :port", (int)len, s);
            return -1;
        }
        hlen = (size_t)(colon - s);
        if (memchr(s, ':', hlen)) {
            snprintf(why, n, "IPv6 address in '%.*s' must be written [address]:port", (int)len, s);
            return -1;
        }
        port = colon + 1;
    }
    long pnum;
    const char *p = port;
    int rc = parse_num(&p, 65535, &pnum);
    if (rc != 0 || p != s + len || pnum < 1) {
        snprintf(why, n, "bad port in '%.*s' (1..65535)", (int)len, s);
        return -1;
    }
    memset(a, 0, sizeof *a);
    if (hlen < sizeof host) {
        memcpy(host, h, hlen);
        host[hlen] = '\0';
        if (v6) {
            struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&a->ss;
            rc = inet_pton(AF_INET6, host, &sin6->sin6_addr);
            sin6->sin6_family = AF_INET6;
            sin6->sin6_port = htons((uint16_t)pnum);
            a->len = sizeof *sin6;
        } else {
            struct sockaddr_in *sin = (struct sockaddr_in *)&a->ss;
            rc = inet_pton(AF_INET, host, &sin->sin_addr);
            sin->sin_family = AF_INET;
            sin->sin_port = htons((uint16_t)pnum);
            a->len = sizeof *sin;
        }
    }
    if (hlen >= sizeof host || rc != 1) {
        snprintf(why, n, "'%.*s' is not a numeric %s address (host names are not resolved)",
                 (int)hlen, h, v6 ? "IPv6" : "IPv4");
        return -1;
    }
    memcpy(a->text, s, len);
    a->text[len] = '\0';
    return 0;
}

int cfg_check_pair(const cfg_t *cfg, enum cfg_param a, enum cfg_param b, const char *what,
                   char *err, size_t errlen) {
    bool has_a = *cfg_str(cfg, a), has_b = *cfg_str(cfg, b);
    if (has_a == has_b)
        return 0;
    enum cfg_param set = has_a ? a : b, unset = has_a ? b : a;
    snprintf(err, errlen, "%s:%d: %s without %s: %s needs both", cfg_file(cfg),
             cfg_line(cfg, set), cfg_param_info(set)->name, cfg_param_info(unset)->name, what);
    return -1;
}

bool cfg_addrs_may_be_empty(enum cfg_param p) {
    return p == CFG_sip_listen_tls;
}

static int check_addr_list(const char *v, struct cfg_val *out, char *why, size_t n, bool empty_ok) {
    static const char sep[] = " \t,";
    out->naddr = 0;
    for (v += strspn(v, sep); *v; v += strspn(v, sep)) {
        size_t len = strcspn(v, sep);
        if (out->naddr == CFG_MAX_ADDRS) {
            snprintf(why, n, "more than %d addresses", CFG_MAX_ADDRS);
            return -1;
        }
        if (check_addr(v, len, &out->addr[out->naddr], why, n) < 0)
            return -1;
        out->naddr++;
        v += len;
    }
    if (out->naddr == 0 && !empty_ok) {
        snprintf(why, n, "no address (expected host:port or [v6]:port)");
        return -1;
    }
    return 0;
}

static int check_port_range(const char *v, struct cfg_val *out, char *why, size_t n) {
    long lo, hi;
    const char *p = v;
    int rlo = parse_num(&p, 99999, &lo);
    int rhi = (rlo != -1 && *p == '-') ? (p++, parse_num(&p, 99999, &hi)) : -1;
    if (rlo == -1 || rhi == -1 || *p != '\0') {
        snprintf(why, n, "not LO-HI (e.g. 10000-20000)");
        return -1;
    }
    if (rlo == 0 && lo < 1024) {
        snprintf(why, n, "LO must be at least 1024");
        return -1;
    }
    if (rhi == -2 || hi > 65535) {
        snprintf(why, n, "HI must be at most 65535");
        return -1;
    }
    if (rlo == -2 || lo >= hi) {
        snprintf(why, n, "LO must be less than HI");
        return -1;
    }
    if (lo % 2 != 0) {
        snprintf(why, n, "LO must be even (RTP uses even ports)");
        return -1;
    }
    out->lo = (int)lo;
    out->hi = (int)hi;
    return 0;
}

static int check_value(cfg_t *cfg, enum cfg_param p, char *err, size_t errlen) {
    const struct cfg_entry *e = &cfg->ent[p];
    struct cfg_val *out = &cfg->val[p];
    char why[256];
    int rc = 0;
    switch (param_table[p].type) {
    case CFG_T_STR:
        break;
    case CFG_T_INT:
        rc = check_int(p, e->value, out, why, sizeof why);
        break;
    case CFG_T_BOOL:
        rc = check_bool(e->value, out, why, sizeof why);
        break;
    case CFG_T_TIME:
        rc = check_time(e->value, out, why, sizeof why, time_may_be_zero(p));
        break;
    case CFG_T_LEVEL:
        rc = check_level(e->value, out, why, sizeof why);
        break;
    case CFG_T_ADDR_LIST:
        rc = check_addr_list(e->value, out, why, sizeof why, cfg_addrs_may_be_empty(p));
        break;
    case CFG_T_PORT_RANGE:
        rc = check_port_range(e->value, out, why, sizeof why);
        break;
    case CFG_T_HOST_LIST:
        rc = domains_check(e->value, why, sizeof why);
        break;
    }
    if (rc == 0)
        return 0;
    /* Long values are shown cut, and marked so. */
    int show = strlen(e->value) > 80 ? 77 : 80;
    const char *more = strlen(e->value) > 80 ? "..." : "";
    if (e->line > 0)
        cfgtext_seterr(err, errlen, "%s:%d: %s = %.*s%s: %s", cfg->file, e->line, e->name, show, e->value,
               more, why);
    else
        cfgtext_seterr(err, errlen, "%s: %s = %.*s%s (default): %s", cfg->file, e->name, show, e->value,
               more, why);
    return -1;
}

struct cfg_order {
    int line;
    size_t idx;
};

static int order_cmp(const void *a, const void *b) {
    const struct cfg_order *x = a, *y = b;
    if (x->line != y->line)
        return x->line < y->line ? -1 : 1;
    return x->idx < y->idx ? -1 : x->idx > y->idx;
}

/* Entry indices in the order errors are reported: lines of the file, then defaults. */
static size_t *report_order(const cfg_t *cfg) {
    size_t n = cfg->nent;
    struct cfg_order *o = malloc((n ? n : 1) * sizeof *o);
    size_t *order = malloc((n ? n : 1) * sizeof *order);
    if (!o || !order) {
        free(o);
        free(order);
        return NULL;
    }
    for (size_t i = 0; i < n; i++)
        o[i] = (struct cfg_order){cfg->ent[i].line ? cfg->ent[i].line : INT_MAX, i};
    qsort(o, n, sizeof *o, order_cmp);
    for (size_t i = 0; i < n; i++)
        order[i] = o[i].idx;
    free(o);
    return order;
}

/* ---- public ---- */

const struct cfg_param_info *cfg_param_info(enum cfg_param p) {
    if ((unsigned)p >= CFG_PARAM_COUNT)
        log_panic("cfg_param_info: no parameter %d", (int)p);
    return &param_table[p];
}

cfg_t *cfg_parse(const char *text, size_t len, const char *file, const char *confdir, char *err,
                 size_t errlen) {
    file = file ? file : "main.cf";
    confdir = confdir ? confdir : "";
    cfg_t *cfg = calloc(1, sizeof *cfg);
    struct cfgtext_reader r = {text, len, 0, 0, {0}};
    size_t *order = NULL;
    if (!cfg || !(cfg->file = strdup(file)) || !(cfg->source = malloc(len + 1))) {
        cfgtext_seterr(err, errlen, "%s: out of memory", file);
        goto fail;
    }
    if (len)
        memcpy(cfg->source, text, len);
    cfg->source[len] = '\0';
    cfg->source_len = len;
    if (cfgtext_check(cfg->source, len, file, err, errlen) < 0)
        goto fail;
    for (int p = 0; p < CFG_PARAM_COUNT; p++) {
        const char *def = p == CFG_config_directory ? confdir : param_table[p].def;
        if (add_entry(cfg, strdup(param_table[p].name), strdup(def), 0) < 0) {
            cfgtext_seterr(err, errlen, "%s: out of memory", file);
            goto fail;
        }
    }
    /* config_directory is taken as given: a '$' in a directory name is not a reference. */
    if (!(cfg->ent[CFG_config_directory].value = strdup(confdir))) {
        cfgtext_seterr(err, errlen, "%s: out of memory", file);
        goto fail;
    }
    cfg->ent[CFG_config_directory].state = EXP_DONE;

    r.text = cfg->source;
    int line = 0, rc;
    const char *what = "";
    while ((rc = cfgtext_next(&r, &line, &what)) == 1)
        if (parse_line(cfg, r.cur.p, line, err, errlen) < 0)
            goto fail;
    if (rc < 0) {
        cfgtext_seterr(err, errlen, "%s:%d: %s", file, line, what);
        goto fail;
    }

    if (!(order = report_order(cfg))) {
        cfgtext_seterr(err, errlen, "%s: out of memory", file);
        goto fail;
    }
    struct cfg_exp *x = calloc(1, sizeof *x);
    if (!x) {
        cfgtext_seterr(err, errlen, "%s: out of memory", file);
        goto fail;
    }
    x->cfg = cfg;
    x->parsing = true;
    for (size_t k = 0; k < cfg->nent; k++) {
        if (cfg->ent[order[k]].state == EXP_DONE)
            continue;
        x->depth = 0;
        if (expand_entry(x, order[k]) < 0) {
            if (x->line > 0)
                cfgtext_seterr(err, errlen, "%s:%d: %s", file, x->line, x->what);
            else
                cfgtext_seterr(err, errlen, "%s: %s (default)", file, x->what);
            free(x);
            goto fail;
        }
    }
    free(x);
    for (size_t k = 0; k < cfg->nent; k++)
        if (order[k] < CFG_PARAM_COUNT &&
            check_value(cfg, (enum cfg_param)order[k], err, errlen) < 0)
            goto fail;
    free(order);
    free(r.cur.p);
    return cfg;
fail:
    free(order);
    free(r.cur.p);
    cfg_free(cfg);
    return NULL;
}

cfg_t *cfg_load(const char *confdir, char *err, size_t errlen) {
    char path[PATH_MAX];
    int n = snprintf(path, sizeof path, "%s/main.cf", confdir ? confdir : "");
    if (n < 0 || (size_t)n >= sizeof path) {
        cfgtext_seterr(err, errlen, "%s/main.cf: path too long", confdir ? confdir : "");
        return NULL;
    }
    size_t len;
    char *text = cfgtext_read_file(path, CFGTEXT_FILE_MAX, &len, err, errlen);
    if (!text)
        return NULL;
    cfg_t *cfg = cfg_parse(text, len, path, confdir, err, errlen);
    free(text);
    return cfg;
}

void cfg_free(cfg_t *cfg) {
    if (!cfg)
        return;
    for (size_t i = 0; i < cfg->nent; i++) {
        free(cfg->ent[i].name);
        free(cfg->ent[i].raw);
        free(cfg->ent[i].value);
    }
    for (size_t i = 0; i < cfg->nwarn; i++)
        free(cfg->warn[i]);
    free(cfg->ent);
    free(cfg->hash);
    free(cfg->warn);
    free(cfg->source);
    free(cfg->file);
    free(cfg);
}

const char *cfg_source(const cfg_t *cfg, size_t *len) {
    if (len)
        *len = cfg->source_len;
    return cfg->source;
}

int cfg_line(const cfg_t *cfg, enum cfg_param p) {
    const char *name = cfg_param_info(p)->name;
    long i = find_entry(cfg, name, strlen(name));
    return i < 0 ? 0 : cfg->ent[i].line;
}

const char *cfg_file(const cfg_t *cfg) {
    return cfg->file;
}

size_t cfg_warning_count(const cfg_t *cfg) {
    return cfg->nwarn;
}

const char *cfg_warning(const cfg_t *cfg, size_t i) {
    return i < cfg->nwarn ? cfg->warn[i] : NULL;
}

/* The typed value of p; asking for the wrong type is a bug in the caller. */
static const struct cfg_val *typed(const cfg_t *cfg, enum cfg_param p, cfg_type_t type,
                                   const char *fn) {
    if ((unsigned)p >= CFG_PARAM_COUNT || param_table[p].type != type)
        log_panic("%s: parameter %d is not of the type asked for", fn, (int)p);
    return &cfg->val[p];
}

const char *cfg_str(const cfg_t *cfg, enum cfg_param p) {
    if ((unsigned)p >= CFG_PARAM_COUNT)
        log_panic("cfg_str: no parameter %d", (int)p);
    return cfg->ent[p].value;
}

long cfg_int(const cfg_t *cfg, enum cfg_param p) {
    return typed(cfg, p, CFG_T_INT, __func__)->num;
}

bool cfg_bool(const cfg_t *cfg, enum cfg_param p) {
    return typed(cfg, p, CFG_T_BOOL, __func__)->num != 0;
}

long cfg_time_ms(const cfg_t *cfg, enum cfg_param p) {
    return typed(cfg, p, CFG_T_TIME, __func__)->num;
}

int cfg_level(const cfg_t *cfg, enum cfg_param p) {
    return (int)typed(cfg, p, CFG_T_LEVEL, __func__)->num;
}

size_t cfg_addrs(const cfg_t *cfg, enum cfg_param p, const struct cfg_addr **addrs) {
    const struct cfg_val *v = typed(cfg, p, CFG_T_ADDR_LIST, __func__);
    if (addrs)
        *addrs = v->addr;
    return v->naddr;
}

void cfg_port_range(const cfg_t *cfg, enum cfg_param p, int *lo, int *hi) {
    const struct cfg_val *v = typed(cfg, p, CFG_T_PORT_RANGE, __func__);
    if (lo)
        *lo = v->lo;
    if (hi)
        *hi = v->hi;
}

const char *cfg_lookup(const cfg_t *cfg, const char *name) {
    long i = name ? find_entry(cfg, name, strlen(name)) : -1;
    return i < 0 ? NULL : cfg->ent[i].value;
}

char *cfg_expand(const cfg_t *cfg, const char *text, char *err, size_t errlen) {
    struct cfg_exp *x = calloc(1, sizeof *x);
    if (!x) {
        cfgtext_seterr(err, errlen, "out of memory");
        return NULL;
    }
    /* Not parsing: values are final and only read, never expanded again. */
    x->cfg = (cfg_t *)cfg;
    struct cfgtext_buf b = {0};
    if (exp_add(x, &b, "", 0) < 0 || expand_text(x, text ? text : "", &b) < 0) {
        cfgtext_seterr(err, errlen, "%s", x->what);
        free(b.p);
        b.p = NULL;
    }
    free(x);
    return b.p;
}
