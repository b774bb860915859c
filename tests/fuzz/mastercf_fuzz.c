/*
 * NAME
 *   mastercf_fuzz - libFuzzer target for the master.cf parser (lib/mastercf.h).
 * DESCRIPTION
 *   Each input is a whole master.cf, parsed against one fixed, valid main.cf (which
 *   defines a few user parameters so that $name, ${name} and quoted arguments expand).
 *   A failed parse must name the file in err. A successful one must keep mastercf.h's
 *   promises for every service: a terminated name that mcf_find finds, argc matching a
 *   NULL-terminated argv, columns in their ranges, roles that fit the type, and
 *   mcf_changed(s, s) false. A broken promise aborts, so libFuzzer keeps the input.
 * OWNERSHIP
 *   The main.cf is parsed once and kept for the whole run (reachable, so not a leak);
 *   everything else is freed before the next input.
 * LOOP
 *   None: pure code, called by libFuzzer.
 * SEE ALSO
 *   tests/fuzz/run.sh, lib/mastercf.h, lib/roles.h
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cfg.h"
#include "mastercf.h"
#include "roles.h"

#define FUZZ_FILE "fuzz/master.cf"
#define FUZZ_WAKEUP_MAX 3600 /* mastercf.c MCF_WAKEUP_MAX */

static const char fuzz_main_cf[] = "node_id = fuzz1\n"
                                   "run_directory = $config_directory/run\n"
                                   "log_level = debug\n"
                                   "redis_args = --port 0 --dir private\n"
                                   "empty =\n"
                                   "quoted = \"a b\"\n"
                                   "dollar = $$HOME\n"
                                   "nested = ${redis_args} $node_id\n";

static const cfg_t *fuzz_cfg(void) {
    static cfg_t *cfg; /* parsed once: the fixture every input runs against */
    if (!cfg) {
        char err[512] = "";
        cfg = cfg_parse(fuzz_main_cf, sizeof fuzz_main_cf - 1, "fuzz/main.cf", "/tmp/confdir", err,
                        sizeof err);
        if (!cfg) {
            fprintf(stderr, "mastercf_fuzz: fixture main.cf rejected: %s\n", err);
            abort();
        }
    }
    return cfg;
}

static void fuzz_fail(const char *what, const char *detail) {
    fprintf(stderr, "mastercf_fuzz: %s: %s\n", what, detail ? detail : "(null)");
    abort();
}

static long count_lines(const uint8_t *data, size_t size) {
    long lines = 1;
    for (size_t i = 0; i < size; i++)
        lines += data[i] == '\n';
    return lines;
}

static void check_service(const mcf_t *mcf, const struct mcf_service *s) {
    size_t nlen = strnlen(s->name, MCF_NAME_MAX);
    if (nlen == 0 || nlen == MCF_NAME_MAX)
        fuzz_fail("service name empty or not terminated", "");
    if (strspn(s->name, "abcdefghijklmnopqrstuvwxyz0123456789_-") != nlen)
        fuzz_fail("service name has characters outside [a-z0-9_-]", s->name);
    if (mcf_find(mcf, s->name) != s)
        fuzz_fail("mcf_find does not find the service by its name", s->name);
    if (mcf_changed(s, s))
        fuzz_fail("mcf_changed(s, s) is true", s->name);

    if (s->argc < 1 || !s->argv)
        fuzz_fail("service without a command", s->name);
    for (int i = 0; i < s->argc; i++)
        if (!s->argv[i])
            fuzz_fail("NULL inside argv[0..argc)", s->name);
    if (s->argv[s->argc] != NULL)
        fuzz_fail("argv not NULL-terminated at argc", s->name);
    for (int i = 0; i < s->argc; i++)
        (void)strlen(s->argv[i]); /* each argument is a terminated string (ASan checks) */

    if (s->maxproc < 0 || s->maxproc > MCF_MAXPROC_MAX)
        fuzz_fail("maxproc out of 0..MCF_MAXPROC_MAX", s->name);
    if (s->wakeup < 0 || s->wakeup > FUZZ_WAKEUP_MAX)
        fuzz_fail("wakeup out of 0..3600", s->name);
    if (s->line < 1)
        fuzz_fail("service without a line number", s->name);
    const char *tname = mcf_type_name(s->type);
    if (strcmp(tname, "?") == 0)
        fuzz_fail("service of an unknown type", s->name);

    switch (s->type) {
    case MCF_EXEC:
        if (s->role != SB_ROLE_NONE || s->chroot || s->private_sock)
            fuzz_fail("exec service with a role, chroot or IPC socket", s->name);
        if (s->argv[0][0] == '\0')
            fuzz_fail("exec service with an empty command", s->name);
        break;
    case MCF_INET:
    case MCF_UNIX:
        if (s->role <= SB_ROLE_NONE || s->role >= SB_ROLE_COUNT)
            fuzz_fail("worker service without a role", s->name);
        if (strcmp(sb_role_info(s->role)->name, s->argv[0]) != 0)
            fuzz_fail("role does not match the command", s->argv[0]);
        if (s->type == MCF_INET && !sb_role_info(s->role)->listens)
            fuzz_fail("inet service whose role does not listen", s->name);
        break;
    default:
        fuzz_fail("service type out of the enum", s->name);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* err must be "FILE: ..." or "FILE:LINE: ..." with LINE a line of the text (1..lines). */
static void check_error(const char *err, const uint8_t *data, size_t size) {
    size_t flen = strlen(FUZZ_FILE);
    if (err[0] == '\0' || strncmp(err, FUZZ_FILE, flen) != 0)
        fuzz_fail("master.cf error does not name the file", err);
    if (err[flen] != ':')
        fuzz_fail("master.cf error: no ':' after the file name", err);
    if (err[flen + 1] < '0' || err[flen + 1] > '9')
        return; /* about the whole file: no line */
    char *end;
    long line = strtol(err + flen + 1, &end, 10);
    if (*end != ':' || line < 1 || line > count_lines(data, size))
        fuzz_fail("master.cf error names a line the text does not have", err);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const cfg_t *cfg = fuzz_cfg();
    char err[512];
    memset(err, 0, sizeof err);
    mcf_t *mcf = mcf_parse((const char *)data, size, FUZZ_FILE, cfg, err, sizeof err);
    if (!mcf) {
        check_error(err, data, size);
        return 0;
    }
    if (mcf->count > 0 && !mcf->services)
        fuzz_fail("services counted but not there", "");
    for (size_t i = 0; i < mcf->count; i++) {
        const struct mcf_service *s = &mcf->services[i];
        check_service(mcf, s);
        if (s->line > count_lines(data, size))
            fuzz_fail("service on a line the text does not have", s->name);
        if (i > 0 && s->line <= mcf->services[i - 1].line)
            fuzz_fail("services not in file order", s->name);
        /* Names are unique, so neighbours always differ. */
        if (i > 0 && !mcf_changed(s, &mcf->services[i - 1]))
            fuzz_fail("two services (unique names) compare unchanged", s->name);
    }
    if (mcf_find(mcf, "no such service, never valid") != NULL)
        fuzz_fail("mcf_find found an invalid name", "");
    if (mcf_changed(NULL, NULL) || (mcf->count > 0 && !mcf_changed(&mcf->services[0], NULL)))
        fuzz_fail("mcf_changed mishandles NULL", "");
    mcf_free(mcf);
    return 0;
}
