/* mastercf - see mastercf.h */
#include "mastercf.h"
#include "cfgtext.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MCF_WAKEUP_MAX 3600
#define MCF_NAME_CHARS "abcdefghijklmnopqrstuvwxyz0123456789_-"

/* The columns before the command. */
enum {
    MCF_COL_SERVICE,
    MCF_COL_TYPE,
    MCF_COL_PRIVATE,
    MCF_COL_UNPRIV,
    MCF_COL_CHROOT,
    MCF_COL_WAKEUP,
    MCF_COL_MAXPROC,
    MCF_COLS
};

static const char *const col_names[MCF_COLS] = {"service", "type",   "private", "unpriv",
                                                "chroot",  "wakeup", "maxproc"};

/* ---- one entry ---- */

static void service_clear(struct mcf_service *s) {
    if (s->argv)
        for (int i = 0; i < s->argc; i++)
            free(s->argv[i]);
    free(s->argv);
    s->argv = NULL;
    s->argc = 0;
}

/* y, n or - (def) into *out. */
static int parse_yn(const char *v, bool def, bool *out) {
    if (strcmp(v, "-") == 0)
        *out = def;
    else if (strcmp(v, "y") == 0)
        *out = true;
    else if (strcmp(v, "n") == 0)
        *out = false;
    else
        return -1;
    return 0;
}

/* A decimal number 0..max or - (def) into *out. */
static int parse_count(const char *v, int def, int max, int *out) {
    if (strcmp(v, "-") == 0) {
        *out = def;
        return 0;
    }
    if (*v == '\0' || strspn(v, "0123456789") != strlen(v) || strlen(v) > 9)
        return -1;
    long n = strtol(v, NULL, 10);
    if (n > max)
        return -1;
    *out = (int)n;
    return 0;
}

/* The next whitespace-separated word at *p, NUL-terminated in place; NULL at the end. */
static char *next_word(char **p) {
    char *s = *p;
    while (cfgtext_is_blank(*s))
        s++;
    if (*s == '\0')
        return NULL;
    char *w = s;
    while (*s && !cfgtext_is_blank(*s))
        s++;
    if (*s)
        *s++ = '\0';
    *p = s;
    return w;
}

/* Command and arguments: "quoted" parts keep blanks, "" is an empty argument, and every
 * word gets $name expansion (after unquoting, so an expanded value stays one word). */
static int parse_args(struct mcf_service *s, const char *p, const cfg_t *cfg, char *what,
                      size_t whatlen) {
    struct cfgtext_buf w = {0};
    size_t cap = 0;
    int rc = -1;
    for (;;) {
        while (cfgtext_is_blank(*p))
            p++;
        if (*p == '\0')
            break;
        w.len = 0;
        if (cfgtext_buf_add(&w, "", 0) < 0)
            goto oom;
        while (*p && !cfgtext_is_blank(*p)) {
            size_t n;
            if (*p == '"') {
                const char *q = strchr(p + 1, '"');
                if (!q) {
                    snprintf(what, whatlen, "unterminated quote");
                    goto out;
                }
                n = (size_t)(q - p - 1);
                if (cfgtext_buf_add(&w, p + 1, n) < 0)
                    goto oom;
                p = q + 1;
            } else {
                n = strcspn(p, " \t\"");
                if (cfgtext_buf_add(&w, p, n) < 0)
                    goto oom;
                p += n;
            }
        }
        if ((size_t)s->argc + 2 > cap) {
            size_t ncap = cap ? cap * 2 : 8;
            char **argv = realloc(s->argv, ncap * sizeof *argv);
            if (!argv)
                goto oom;
            s->argv = argv;
            cap = ncap;
        }
        char eerr[256];
        char *arg = cfg_expand(cfg, w.p, eerr, sizeof eerr);
        if (!arg) {
            snprintf(what, whatlen, "%s", eerr);
            goto out;
        }
        s->argv[s->argc++] = arg;
        s->argv[s->argc] = NULL;
    }
    rc = 0;
    goto out;
oom:
    snprintf(what, whatlen, "out of memory");
out:
    free(w.p);
    return rc;
}

/* One logical line into s; what says what is wrong. */
static int parse_entry(const mcf_t *mcf, char *text, const cfg_t *cfg, struct mcf_service *s,
                       char *what, size_t whatlen) {
    char *col[MCF_COLS];
    int n = 0;
    while (n < MCF_COLS && (col[n] = next_word(&text)) != NULL)
        n++;
    while (cfgtext_is_blank(*text))
        text++;
    if (n < MCF_COLS || *text == '\0') {
        snprintf(what, whatlen, "expected at least 8 fields, found %d", n + (*text != '\0'));
        return -1;
    }

    const char *name = col[MCF_COL_SERVICE];
    size_t nlen = strlen(name);
    if (nlen >= MCF_NAME_MAX || strspn(name, MCF_NAME_CHARS) != nlen) {
        snprintf(what, whatlen, "bad service name '%.*s' (a-z, 0-9, '_' and '-', at most %d)", 64,
                 name, MCF_NAME_MAX - 1);
        return -1;
    }
    const struct mcf_service *first = mcf_find(mcf, name);
    if (first) {
        snprintf(what, whatlen, "service '%s' defined twice, first at line %d", name, first->line);
        return -1;
    }
    memcpy(s->name, name, nlen + 1);

    const char *type = col[MCF_COL_TYPE];
    if (strcmp(type, "inet") == 0)
        s->type = MCF_INET;
    else if (strcmp(type, "unix") == 0)
        s->type = MCF_UNIX;
    else if (strcmp(type, "exec") == 0)
        s->type = MCF_EXEC;
    else {
        snprintf(what, whatlen, "bad service type '%.*s' (inet, unix or exec)", 64, type);
        return -1;
    }

    /* Every worker has an IPC socket (private/ by default); exec services have none. */
    bool *yn[] = {&s->private_sock, &s->unpriv, &s->chroot};
    const bool yn_def[] = {true, true, false};
    for (int c = MCF_COL_PRIVATE; c <= MCF_COL_CHROOT; c++)
        if (parse_yn(col[c], yn_def[c - MCF_COL_PRIVATE], yn[c - MCF_COL_PRIVATE]) < 0) {
            snprintf(what, whatlen, "bad %s value '%.*s' (y, n or -)", col_names[c], 64, col[c]);
            return -1;
        }
    if (s->type == MCF_EXEC && s->chroot) {
        snprintf(what, whatlen, "exec services cannot be chrooted");
        return -1;
    }
    if (s->type == MCF_EXEC)
        s->private_sock = false;
    if (parse_count(col[MCF_COL_WAKEUP], 0, MCF_WAKEUP_MAX, &s->wakeup) < 0) {
        snprintf(what, whatlen, "bad wakeup value '%.*s' (0..%d or -)", 64, col[MCF_COL_WAKEUP],
                 MCF_WAKEUP_MAX);
        return -1;
    }
    if (parse_count(col[MCF_COL_MAXPROC], 1, MCF_MAXPROC_MAX, &s->maxproc) < 0) {
        snprintf(what, whatlen, "bad maxproc value '%.*s' (0..%d or -)", 64, col[MCF_COL_MAXPROC],
                 MCF_MAXPROC_MAX);
        return -1;
    }

    if (parse_args(s, text, cfg, what, whatlen) < 0)
        return -1;
    const char *prog = s->argv[0];
    s->role = SB_ROLE_NONE;
    if (s->type == MCF_EXEC) {
        if (*prog == '\0') {
            snprintf(what, whatlen, "empty command");
            return -1;
        }
        return 0;
    }
    /* Workers come from daemon_directory by role name, never from a path. */
    s->role = strchr(prog, '/') ? SB_ROLE_NONE : sb_role_by_name(prog);
    if (s->role == SB_ROLE_NONE) {
        snprintf(what, whatlen, "unknown program '%.*s'", 64, prog);
        return -1;
    }
    if (s->type == MCF_INET && !sb_role_info(s->role)->listens) {
        snprintf(what, whatlen, "inet needs a program that listens; '%s' does not", prog);
        return -1;
    }
    return 0;
}

/* ---- public ---- */

mcf_t *mcf_parse(const char *text, size_t len, const char *file, const cfg_t *cfg, char *err,
                 size_t errlen) {
    file = file ? file : "master.cf";
    mcf_t *mcf = calloc(1, sizeof *mcf);
    char *copy = malloc(len + 1);
    struct cfgtext_reader r = {0};
    size_t cap = 0;
    if (!mcf || !copy) {
        cfgtext_seterr(err, errlen, "%s: out of memory", file);
        goto fail;
    }
    if (len)
        memcpy(copy, text, len);
    copy[len] = '\0';
    if (cfgtext_check(copy, len, file, err, errlen) < 0)
        goto fail;
    r.text = copy;
    r.len = len;
    int line = 0, rc;
    const char *what = "";
    while ((rc = cfgtext_next(&r, &line, &what)) == 1) {
        if (mcf->count == cap) {
            size_t ncap = cap ? cap * 2 : 16;
            struct mcf_service *sv = realloc(mcf->services, ncap * sizeof *sv);
            if (!sv) {
                cfgtext_seterr(err, errlen, "%s:%d: out of memory", file, line);
                goto fail;
            }
            mcf->services = sv;
            cap = ncap;
        }
        struct mcf_service *s = &mcf->services[mcf->count];
        memset(s, 0, sizeof *s);
        s->line = line;
        char why[512];
        if (parse_entry(mcf, r.cur.p, cfg, s, why, sizeof why) < 0) {
            cfgtext_seterr(err, errlen, "%s:%d: %s", file, line, why);
            service_clear(s);
            goto fail;
        }
        mcf->count++;
    }
    if (rc < 0) {
        cfgtext_seterr(err, errlen, "%s:%d: %s", file, line, what);
        goto fail;
    }
    free(r.cur.p);
    free(copy);
    return mcf;
fail:
    free(r.cur.p);
    free(copy);
    mcf_free(mcf);
    return NULL;
}

mcf_t *mcf_load(const cfg_t *cfg, char *err, size_t errlen) {
    if (!cfg) {
        cfgtext_seterr(err, errlen, "master.cf: no main.cf to read it with");
        return NULL;
    }
    const char *confdir = cfg_str(cfg, CFG_config_directory);
    char path[PATH_MAX];
    int n = snprintf(path, sizeof path, "%s/master.cf", confdir);
    if (n < 0 || (size_t)n >= sizeof path) {
        cfgtext_seterr(err, errlen, "%s/master.cf: path too long", confdir);
        return NULL;
    }
    size_t len;
    char *text = cfgtext_read_file(path, CFGTEXT_FILE_MAX, &len, err, errlen);
    if (!text)
        return NULL;
    mcf_t *mcf = mcf_parse(text, len, path, cfg, err, errlen);
    free(text);
    return mcf;
}

void mcf_free(mcf_t *mcf) {
    if (!mcf)
        return;
    for (size_t i = 0; i < mcf->count; i++)
        service_clear(&mcf->services[i]);
    free(mcf->services);
    free(mcf);
}

const struct mcf_service *mcf_find(const mcf_t *mcf, const char *name) {
    if (!mcf || !name)
        return NULL;
    for (size_t i = 0; i < mcf->count; i++)
        if (strcmp(mcf->services[i].name, name) == 0)
            return &mcf->services[i];
    return NULL;
}

bool mcf_changed(const struct mcf_service *a, const struct mcf_service *b) {
    if (!a || !b)
        return a != b;
    if (strcmp(a->name, b->name) != 0 || a->type != b->type || a->private_sock != b->private_sock ||
        a->unpriv != b->unpriv || a->chroot != b->chroot || a->wakeup != b->wakeup ||
        a->role != b->role || a->argc != b->argc)
        return true;
    for (int i = 0; i < a->argc; i++)
        if (strcmp(a->argv[i], b->argv[i]) != 0)
            return true;
    return false;
}

const char *mcf_type_name(enum mcf_type type) {
    switch (type) {
    case MCF_INET:
        return "inet";
    case MCF_UNIX:
        return "unix";
    case MCF_EXEC:
        return "exec";
    }
    return "?";
}
