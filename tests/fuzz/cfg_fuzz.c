/*
 * NAME
 *   cfg_fuzz - libFuzzer target for the main.cf parser (lib/cfg.h).
 * DESCRIPTION
 *   Each input is a whole main.cf. A parse that fails must say so in err, naming the
 *   file ("fuzz/main.cf..."). A parse that succeeds must keep every promise of cfg.h:
 *   each known parameter has a value of its type within the documented range, warnings
 *   name the file, lookups and cfg_expand work on what the parser accepted, and the
 *   source is kept byte for byte. A broken promise aborts, so libFuzzer keeps the input.
 * OWNERSHIP
 *   Everything allocated for one input is freed before the next (LeakSanitizer checks).
 * LOOP
 *   None: pure code, called by libFuzzer. No file-level state.
 * SEE ALSO
 *   tests/fuzz/run.sh, lib/cfg.h, lib/cfg_params.h
 */
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cfg.h"
#include "domains.h"
#include "log.h"

#define FUZZ_FILE "fuzz/main.cf"
#define FUZZ_CONFDIR "/tmp/confdir"
#define FUZZ_TIME_MAX_MS 2147483647L /* cfg.c: a time fits an int32 of milliseconds */

/* A broken contract: say which, then abort so libFuzzer saves the input. */
static void fuzz_fail(const char *what, const char *detail) {
    fprintf(stderr, "cfg_fuzz: %s: %s\n", what, detail ? detail : "(null)");
    abort();
}

static void check_addrs(const cfg_t *cfg, enum cfg_param p) {
    const struct cfg_addr *a = NULL;
    size_t n = cfg_addrs(cfg, p, &a);
    if (n > CFG_MAX_ADDRS || (n < 1 && !cfg_addrs_may_be_empty(p)) || (n && !a))
        fuzz_fail("address list count out of 1..CFG_MAX_ADDRS", cfg_param_info(p)->name);
    for (size_t i = 0; i < n; i++) {
        if (!memchr(a[i].text, '\0', sizeof a[i].text))
            fuzz_fail("address text not terminated", cfg_param_info(p)->name);
        int fam = a[i].ss.ss_family;
        if (!((fam == AF_INET && a[i].len == sizeof(struct sockaddr_in)) ||
              (fam == AF_INET6 && a[i].len == sizeof(struct sockaddr_in6))))
            fuzz_fail("address family and length disagree", a[i].text);
        if ((fam == AF_INET6) != (a[i].text[0] == '['))
            fuzz_fail("address family does not match its text", a[i].text);
    }
}

/* Every accessor of every known parameter, checked against the ranges cfg.h documents. */
static void check_params(const cfg_t *cfg) {
    for (int i = 0; i < CFG_PARAM_COUNT; i++) {
        enum cfg_param p = (enum cfg_param)i;
        const struct cfg_param_info *info = cfg_param_info(p);
        const char *s = cfg_str(cfg, p);
        if (!info || !info->name || !s)
            fuzz_fail("parameter without a name or value", info ? info->name : NULL);
        const char *by_name = cfg_lookup(cfg, info->name);
        if (!by_name || strcmp(by_name, s) != 0)
            fuzz_fail("cfg_lookup disagrees with cfg_str", info->name);
        switch (info->type) {
        case CFG_T_STR:
            break;
        case CFG_T_INT:
            if (cfg_int(cfg, p) < 0)
                fuzz_fail("negative integer", info->name);
            if (p == CFG_ipc_max_message && (cfg_int(cfg, p) < 64 || cfg_int(cfg, p) > 1048576))
                fuzz_fail("ipc_max_message out of 64..1048576", s);
            break;
        case CFG_T_BOOL:
            (void)cfg_bool(cfg, p);
            break;
        case CFG_T_TIME: {
            long ms = cfg_time_ms(cfg, p);
            if (ms <= 0 || ms > FUZZ_TIME_MAX_MS)
                fuzz_fail("time out of 1..INT32_MAX ms", s);
            break;
        }
        case CFG_T_LEVEL: {
            int level = cfg_level(cfg, p);
            if (level < LOG_DEBUG || level > LOG_ERROR)
                fuzz_fail("log level out of range", s);
            break;
        }
        case CFG_T_ADDR_LIST:
            check_addrs(cfg, p);
            break;
        case CFG_T_PORT_RANGE: {
            int lo = -1, hi = -1;
            cfg_port_range(cfg, p, &lo, &hi);
            if (lo < 1024 || lo >= hi || hi > 65535 || lo % 2 != 0)
                fuzz_fail("port range breaks 1024 <= LO < HI <= 65535, LO even", s);
            break;
        }
        case CFG_T_HOST_LIST: {
            char why[256];
            if (domains_check(s, why, sizeof why) != 0)
                fuzz_fail("host list accepted that domains_check refuses", s);
            break;
        }
        default:
            fuzz_fail("parameter of an unknown type", info->name);
        }
    }
    if (strcmp(cfg_str(cfg, CFG_config_directory), FUZZ_CONFDIR) != 0)
        fuzz_fail("config_directory is not the confdir given", cfg_str(cfg, CFG_config_directory));
}

static void check_warnings(const cfg_t *cfg) {
    size_t n = cfg_warning_count(cfg);
    for (size_t i = 0; i < n; i++) {
        const char *w = cfg_warning(cfg, i);
        if (!w || strncmp(w, FUZZ_FILE, strlen(FUZZ_FILE)) != 0)
            fuzz_fail("warning does not name the file", w);
    }
    if (cfg_warning(cfg, n) != NULL)
        fuzz_fail("cfg_warning past the end is not NULL", cfg_warning(cfg, n));
}

/* cfg_expand of text, which is NUL-terminated; text without '$' must come back as is. */
static void check_expand(const cfg_t *cfg, const char *text) {
    char err[512];
    err[0] = '\0';
    char *out = cfg_expand(cfg, text, err, sizeof err);
    if (!out) {
        if (err[0] == '\0')
            fuzz_fail("cfg_expand failed without a reason", text);
        if (!strchr(text, '$'))
            fuzz_fail("cfg_expand failed on text without '$'", err);
        return;
    }
    if (!strchr(text, '$') && strcmp(out, text) != 0)
        fuzz_fail("cfg_expand changed text without '$'", out);
    free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* err must be "FILE: ..." or "FILE:LINE: ..." with LINE a line of the text (1..lines). */
static void check_error(const char *err, const uint8_t *data, size_t size) {
    size_t flen = strlen(FUZZ_FILE);
    if (err[0] == '\0' || strncmp(err, FUZZ_FILE, flen) != 0)
        fuzz_fail("config error does not name the file", err);
    if (err[flen] != ':')
        fuzz_fail("config error: no ':' after the file name", err);
    if (err[flen + 1] < '0' || err[flen + 1] > '9')
        return; /* about the whole file or a default: no line */
    char *end;
    long line = strtol(err + flen + 1, &end, 10);
    long lines = 1;
    for (size_t i = 0; i < size; i++)
        lines += data[i] == '\n';
    if (*end != ':' || line < 1 || line > lines)
        fuzz_fail("config error names a line the text does not have", err);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *text = (const char *)data;
    char err[512];
    memset(err, 0, sizeof err);
    cfg_t *cfg = cfg_parse(text, size, FUZZ_FILE, FUZZ_CONFDIR, err, sizeof err);
    if (!cfg) {
        check_error(err, data, size);
        return 0;
    }

    size_t srclen = 0;
    const char *src = cfg_source(cfg, &srclen);
    if (!src || srclen != size || (size && memcmp(src, data, size) != 0) || src[size] != '\0')
        fuzz_fail("cfg_source is not the text parsed", "");
    if (strcmp(cfg_file(cfg), FUZZ_FILE) != 0)
        fuzz_fail("cfg_file is not the file given", cfg_file(cfg));

    check_params(cfg);
    check_warnings(cfg);

    /* Lookups: fixed names, then the name the first line sets (user-defined or not). */
    static const char *const names[] = {
        "run_directory", "log_file", "no_such_parameter", "", "$run_directory", "config_directory"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        (void)cfg_lookup(cfg, names[i]);
    size_t nlen = 0;
    while (nlen < size && nlen < 128 && text[nlen] != '=' && text[nlen] != ' ' &&
           text[nlen] != '\n' && text[nlen] != '\t')
        nlen++;
    char *name = malloc(nlen + 1);
    if (name) {
        memcpy(name, text, nlen);
        name[nlen] = '\0';
        (void)cfg_lookup(cfg, name);
        free(name);
    }

    /* cfg_expand on a slice of the input: the second half (NUL-terminated copy). */
    size_t off = size / 2;
    char *slice = malloc(size - off + 1);
    if (slice) {
        memcpy(slice, text + off, size - off);
        slice[size - off] = '\0';
        check_expand(cfg, slice);
        free(slice);
    }
    check_expand(cfg, "$config_directory/${run_directory}/$$x");

    cfg_free(cfg);
    return 0;
}
