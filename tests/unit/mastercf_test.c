/* mastercf_test - master.cf: columns, defaults, quoting, expansion, errors with file:line. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "cfgtext.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cfg.h"
#include "mastercf.h"
#include "roles.h"

#define FILE_ "/etc/sb/master.cf"
#define MAIN_CF "base = /srv\ngreeting = hello  world\nrun_directory = /run/sb\n"

static char err[1024];

static int setup(void **state) {
    cfg_t *cfg = cfg_parse(MAIN_CF, strlen(MAIN_CF), "/etc/sb/main.cf", "/etc/sb", err, sizeof err);
    if (!cfg)
        return -1;
    *state = cfg;
    return 0;
}

static int teardown(void **state) {
    cfg_free(*state);
    return 0;
}

static mcf_t *parse(void **state, const char *text) {
    err[0] = '\0';
    return mcf_parse(text, strlen(text), FILE_, *state, err, sizeof err);
}

static void assert_rejected(void **state, const char *text, const char *expect) {
    mcf_t *mcf = parse(state, text);
    assert_null(mcf);
    assert_string_equal(err, expect);
}

static void test_minimal_inet_service_uses_defaults(void **state) {
    mcf_t *mcf = parse(state, "sipd inet - - - - - sipd\n");
    assert_non_null(mcf);
    assert_int_equal(mcf->count, 1);
    const struct mcf_service *s = &mcf->services[0];
    assert_string_equal(s->name, "sipd");
    assert_int_equal(s->type, MCF_INET);
    assert_true(s->private_sock); /* its IPC socket is private by default */
    assert_true(s->unpriv);
    assert_false(s->chroot);
    assert_int_equal(s->wakeup, 0);
    assert_int_equal(s->maxproc, 1);
    assert_int_equal(s->role, SB_ROLE_sipd);
    assert_int_equal(s->line, 1);
    assert_int_equal(s->argc, 1);
    assert_string_equal(s->argv[0], "sipd");
    assert_null(s->argv[1]);
    mcf_free(mcf);
}

static void test_unix_service_defaults_to_private(void **state) {
    mcf_t *mcf = parse(state, "router unix - - - - - routerd\n");
    assert_non_null(mcf);
    const struct mcf_service *s = &mcf->services[0];
    assert_int_equal(s->type, MCF_UNIX);
    assert_true(s->private_sock);
    assert_true(s->unpriv);
    assert_int_equal(s->role, SB_ROLE_routerd);
    mcf_free(mcf);
}

static void test_every_column_is_parsed(void **state) {
    mcf_t *mcf = parse(state, "media-2 unix n n y 30 4 mediad --x\n"
                              "api inet n y n 3600 64 apid\n");
    assert_non_null(mcf);
    assert_int_equal(mcf->count, 2);
    const struct mcf_service *s = &mcf->services[0];
    assert_string_equal(s->name, "media-2");
    assert_false(s->private_sock);
    assert_false(s->unpriv);
    assert_true(s->chroot);
    assert_int_equal(s->wakeup, 30);
    assert_int_equal(s->maxproc, 4);
    assert_int_equal(s->role, SB_ROLE_mediad);
    assert_int_equal(s->argc, 2);
    assert_string_equal(s->argv[1], "--x");
    s = &mcf->services[1];
    assert_int_equal(s->line, 2);
    assert_int_equal(s->type, MCF_INET);
    assert_false(s->private_sock);
    assert_true(s->unpriv);
    assert_int_equal(s->wakeup, 3600);
    assert_int_equal(s->maxproc, 64);
    assert_int_equal(s->role, SB_ROLE_apid);
    mcf_free(mcf);
}

static void test_exec_service_runs_any_program(void **state) {
    mcf_t *mcf = parse(state, "redis exec - n - - - redis-server --port 0 "
                              "--unixsocket $run_directory/private/redis.sock\n"
                              "tool exec y - - - - /usr/bin/sipd\n");
    assert_non_null(mcf);
    const struct mcf_service *s = &mcf->services[0];
    assert_int_equal(s->type, MCF_EXEC);
    assert_int_equal(s->role, SB_ROLE_NONE);
    assert_false(s->private_sock); /* exec services have no socket */
    assert_false(s->unpriv);
    assert_int_equal(s->argc, 5);
    assert_string_equal(s->argv[0], "redis-server");
    assert_string_equal(s->argv[1], "--port");
    assert_string_equal(s->argv[2], "0");
    assert_string_equal(s->argv[3], "--unixsocket");
    assert_string_equal(s->argv[4], "/run/sb/private/redis.sock");
    assert_null(s->argv[5]);
    s = &mcf->services[1];
    assert_false(s->private_sock);
    assert_int_equal(s->role, SB_ROLE_NONE);
    assert_string_equal(s->argv[0], "/usr/bin/sipd");
    mcf_free(mcf);
}

static void test_comments_and_blank_lines_are_skipped(void **state) {
    mcf_t *mcf = parse(state, "# service type private unpriv chroot wakeup maxproc command\n"
                              "\n   \n"
                              "#sipd inet - - - - - sipd\n"
                              "router unix - - - - - routerd\n");
    assert_non_null(mcf);
    assert_int_equal(mcf->count, 1);
    assert_string_equal(mcf->services[0].name, "router");
    assert_int_equal(mcf->services[0].line, 5);
    mcf_free(mcf);
}

static void test_empty_file_has_no_services(void **state) {
    mcf_t *mcf = parse(state, "# nothing\n");
    assert_non_null(mcf);
    assert_int_equal(mcf->count, 0);
    assert_null(mcf_find(mcf, "sipd"));
    mcf_free(mcf);
}

static void test_continuation_line_belongs_to_previous_entry(void **state) {
    mcf_t *mcf = parse(state, "\nsipd inet - - - - 2 sipd\n"
                              "  -v\n"
                              "# --commented-out\n"
                              "\t--x  y\n"
                              "router unix - - - - - routerd\n");
    assert_non_null(mcf);
    assert_int_equal(mcf->count, 2);
    const struct mcf_service *s = &mcf->services[0];
    assert_int_equal(s->line, 2);
    assert_int_equal(s->maxproc, 2);
    assert_int_equal(s->argc, 4);
    assert_string_equal(s->argv[0], "sipd");
    assert_string_equal(s->argv[1], "-v");
    assert_string_equal(s->argv[2], "--x");
    assert_string_equal(s->argv[3], "y");
    assert_int_equal(mcf->services[1].line, 6);
    mcf_free(mcf);
}

static void test_continuation_may_split_columns(void **state) {
    mcf_t *mcf = parse(state, "sipd inet -\n - - -\n - sipd\n");
    assert_non_null(mcf);
    assert_int_equal(mcf->services[0].role, SB_ROLE_sipd);
    assert_int_equal(mcf->services[0].line, 1);
    mcf_free(mcf);
}

static void test_error_in_continued_entry_names_its_first_line(void **state) {
    assert_rejected(state, "sipd inet - - - - - sipd\nrouter unix - - - -\n  - nosuchd\n",
                    FILE_ ":2: unknown program 'nosuchd'");
}

static void test_continuation_without_entry_is_error(void **state) {
    assert_rejected(state, "# top\n  sipd inet - - - - - sipd\n",
                    FILE_ ":2: continuation line without a line to continue");
}

static void test_too_few_fields_is_error(void **state) {
    assert_rejected(state, "sipd inet - - - - -\n",
                    FILE_ ":1: expected at least 8 fields, found 7");
    assert_rejected(state, "\nsipd\n", FILE_ ":2: expected at least 8 fields, found 1");
}

static void test_bad_service_name_is_error(void **state) {
    assert_rejected(state, "Sipd inet - - - - - sipd\n",
                    FILE_ ":1: bad service name 'Sipd' (a-z, 0-9, '_' and '-', at most 31)");
    assert_rejected(state, "a.b unix - - - - - routerd\n",
                    FILE_ ":1: bad service name 'a.b' (a-z, 0-9, '_' and '-', at most 31)");
    assert_rejected(state, "abcdefghijabcdefghijabcdefghij12 unix - - - - - routerd\n",
                    FILE_ ":1: bad service name 'abcdefghijabcdefghijabcdefghij12' (a-z, 0-9, "
                          "'_' and '-', at most 31)");
    mcf_t *mcf = parse(state, "abcdefghijabcdefghijabcdefghij1 unix - - - - - routerd\n");
    assert_non_null(mcf);
    assert_string_equal(mcf->services[0].name, "abcdefghijabcdefghijabcdefghij1");
    mcf_free(mcf);
}

static void test_duplicate_service_names_first_line(void **state) {
    assert_rejected(state,
                    "sipd inet - - - - - sipd\n"
                    "router unix - - - - - routerd\n"
                    "sipd unix - - - - - sipd\n",
                    FILE_ ":3: service 'sipd' defined twice, first at line 1");
}

static void test_unknown_type_is_error(void **state) {
    assert_rejected(state, "sipd fifo - - - - - sipd\n",
                    FILE_ ":1: bad service type 'fifo' (inet, unix or exec)");
}

static void test_yes_no_columns_take_y_n_or_dash(void **state) {
    assert_rejected(state, "r unix yes - - - - routerd\n",
                    FILE_ ":1: bad private value 'yes' (y, n or -)");
    assert_rejected(state, "r unix - Y - - - routerd\n",
                    FILE_ ":1: bad unpriv value 'Y' (y, n or -)");
    assert_rejected(state, "r unix - - 0 - - routerd\n",
                    FILE_ ":1: bad chroot value '0' (y, n or -)");
}

static void test_exec_chroot_is_error(void **state) {
    assert_rejected(state, "redis exec - - y - - redis-server\n",
                    FILE_ ":1: exec services cannot be chrooted");
}

static void test_inet_requires_listening_role(void **state) {
    assert_rejected(state, "media inet n - - - - mediad\n",
                    FILE_ ":1: inet needs a program that listens; 'mediad' does not");
    assert_rejected(state, "router inet - - - - - routerd\n",
                    FILE_ ":1: inet needs a program that listens; 'routerd' does not");
    /* a listening program may still run as unix */
    mcf_t *mcf = parse(state, "api unix - - - - - apid\n");
    assert_non_null(mcf);
    assert_int_equal(mcf->services[0].role, SB_ROLE_apid);
    mcf_free(mcf);
}

/* inet workers have an IPC socket too (dialogd talks to sipd): private by default. */
static void test_inet_is_private_by_default(void **state) {
    mcf_t *m = parse(state, "sipd inet - - - - - sipd\nweb inet n - - - - apid\n");
    assert_non_null(m);
    assert_true(mcf_find(m, "sipd")->private_sock);
    assert_false(mcf_find(m, "web")->private_sock);
    mcf_free(m);
}

static void test_unknown_program_is_error(void **state) {
    assert_rejected(state, "x unix - - - - - nosuchd\n", FILE_ ":1: unknown program 'nosuchd'");
    assert_rejected(state, "redis unix - - - - - redis-server\n",
                    FILE_ ":1: unknown program 'redis-server'");
    /* workers come from daemon_directory, never from a path */
    assert_rejected(state, "sipd inet - - - - - /usr/lib/sb/sipd\n",
                    FILE_ ":1: unknown program '/usr/lib/sb/sipd'");
    assert_rejected(state, "sipd inet - - - - - ./sipd\n", FILE_ ":1: unknown program './sipd'");
    assert_rejected(state, "sipd inet - - - - - \"\"\n", FILE_ ":1: unknown program ''");
}

static void test_exec_empty_command_is_error(void **state) {
    assert_rejected(state, "x exec - - - - - \"\" a\n", FILE_ ":1: empty command");
}

static void test_wakeup_range(void **state) {
    assert_rejected(state, "r unix - - - 3601 - routerd\n",
                    FILE_ ":1: bad wakeup value '3601' (0..3600 or -)");
    assert_rejected(state, "r unix - - - -1 - routerd\n",
                    FILE_ ":1: bad wakeup value '-1' (0..3600 or -)");
    assert_rejected(state, "r unix - - - 60s - routerd\n",
                    FILE_ ":1: bad wakeup value '60s' (0..3600 or -)");
    assert_rejected(state, "r unix - - - 99999999999999999999 - routerd\n",
                    FILE_ ":1: bad wakeup value '99999999999999999999' (0..3600 or -)");
    mcf_t *mcf = parse(state, "r unix - - - 0 - routerd\n");
    assert_non_null(mcf);
    assert_int_equal(mcf->services[0].wakeup, 0);
    mcf_free(mcf);
}

static void test_maxproc_range(void **state) {
    assert_rejected(state, "r unix - - - - 65 routerd\n",
                    FILE_ ":1: bad maxproc value '65' (0..64 or -)");
    assert_rejected(state, "r unix - - - - x routerd\n",
                    FILE_ ":1: bad maxproc value 'x' (0..64 or -)");
    mcf_t *mcf = parse(state, "r unix - - - - 0 routerd\n");
    assert_non_null(mcf);
    assert_int_equal(mcf->services[0].maxproc, 0); /* disabled */
    mcf_free(mcf);
}

static void test_quoted_argument_keeps_spaces(void **state) {
    mcf_t *mcf = parse(state, "x exec - n - - - sh -c \"echo a  b\" z\n");
    assert_non_null(mcf);
    const struct mcf_service *s = &mcf->services[0];
    assert_int_equal(s->argc, 4);
    assert_string_equal(s->argv[0], "sh");
    assert_string_equal(s->argv[1], "-c");
    assert_string_equal(s->argv[2], "echo a  b");
    assert_string_equal(s->argv[3], "z");
    mcf_free(mcf);
}

static void test_quoted_empty_argument(void **state) {
    mcf_t *mcf = parse(state, "x exec - n - - - prog \"\" b \"\"\n");
    assert_non_null(mcf);
    const struct mcf_service *s = &mcf->services[0];
    assert_int_equal(s->argc, 4);
    assert_string_equal(s->argv[1], "");
    assert_string_equal(s->argv[2], "b");
    assert_string_equal(s->argv[3], "");
    assert_null(s->argv[4]);
    mcf_free(mcf);
}

static void test_quotes_inside_a_word_are_removed(void **state) {
    mcf_t *mcf = parse(state, "x exec - n - - - prog --name=\"a b\"c \"x\"\"y\"\n");
    assert_non_null(mcf);
    const struct mcf_service *s = &mcf->services[0];
    assert_int_equal(s->argc, 3);
    assert_string_equal(s->argv[1], "--name=a bc");
    assert_string_equal(s->argv[2], "xy");
    mcf_free(mcf);
}

static void test_quoted_command(void **state) {
    mcf_t *mcf = parse(state, "x exec - n - - - \"/opt/my tools/run\" a\n");
    assert_non_null(mcf);
    assert_string_equal(mcf->services[0].argv[0], "/opt/my tools/run");
    mcf_free(mcf);
}

static void test_unterminated_quote_is_error(void **state) {
    assert_rejected(state, "x exec - n - - - prog \"a b\n", FILE_ ":1: unterminated quote");
    assert_rejected(state, "x exec - n - - - prog a\"\nr unix - - - - - routerd \"\n",
                    FILE_ ":1: unterminated quote");
}

static void test_quote_may_span_continuation_lines(void **state) {
    /* the entry is joined first (one space per line break), then split into words */
    mcf_t *mcf = parse(state, "x exec - n - - - prog \"a\n    b\"\n");
    assert_non_null(mcf);
    assert_int_equal(mcf->services[0].argc, 2);
    assert_string_equal(mcf->services[0].argv[1], "a b");
    mcf_free(mcf);
}

static void test_dollar_expansion_in_arguments(void **state) {
    mcf_t *mcf = parse(state, "x exec - n - - - $base/bin/tool ${base}x \"$greeting\" "
                              "$greeting $$HOME \"$$\"\n");
    assert_non_null(mcf);
    const struct mcf_service *s = &mcf->services[0];
    assert_int_equal(s->argc, 6);
    assert_string_equal(s->argv[0], "/srv/bin/tool");
    assert_string_equal(s->argv[1], "/srvx");
    /* an expanded value stays one argument, quoted or not */
    assert_string_equal(s->argv[2], "hello  world");
    assert_string_equal(s->argv[3], "hello  world");
    assert_string_equal(s->argv[4], "$HOME");
    assert_string_equal(s->argv[5], "$");
    mcf_free(mcf);
}

static void test_undefined_parameter_in_argument_names_line(void **state) {
    assert_rejected(state,
                    "sipd inet - - - - - sipd\n"
                    "x exec - n - - - prog\n"
                    "  --dir=$nope\n",
                    FILE_ ":2: undefined parameter $nope");
    assert_rejected(state, "x exec - n - - - prog $\n",
                    FILE_ ":1: '$' not followed by a parameter name (write $$ for a literal $)");
}

static void test_without_main_cf_names_are_undefined(void **state) {
    (void)state;
    const char text[] = "x exec - n - - - prog a$$\n";
    mcf_t *mcf = mcf_parse(text, strlen(text), FILE_, NULL, err, sizeof err);
    assert_non_null(mcf);
    assert_string_equal(mcf->services[0].argv[1], "a$");
    mcf_free(mcf);
    const char bad[] = "x exec - n - - - prog $base\n";
    assert_null(mcf_parse(bad, strlen(bad), FILE_, NULL, err, sizeof err));
    assert_string_equal(err, FILE_ ":1: undefined parameter $base");
}

static void test_find_service(void **state) {
    mcf_t *mcf = parse(state, "sipd inet - - - - - sipd\nrouter unix - - - - - routerd\n");
    assert_non_null(mcf);
    assert_ptr_equal(mcf_find(mcf, "router"), &mcf->services[1]);
    assert_ptr_equal(mcf_find(mcf, "sipd"), &mcf->services[0]);
    assert_null(mcf_find(mcf, "route"));
    assert_null(mcf_find(mcf, "routerd"));
    mcf_free(mcf);
}

/* Parses two one-service files and asks whether master would restart the service. */
static bool changed(void **state, const char *a, const char *b) {
    mcf_t *ma = parse(state, a);
    assert_non_null(ma);
    mcf_t *mb = parse(state, b);
    assert_non_null(mb);
    bool c = mcf_changed(&ma->services[0], &mb->services[0]);
    assert_int_equal(c, mcf_changed(&mb->services[0], &ma->services[0]));
    mcf_free(ma);
    mcf_free(mb);
    return c;
}

static void test_maxproc_only_change_is_not_changed(void **state) {
    assert_false(changed(state, "m unix - - - - 2 mediad -v\n", "m unix - - - - 8 mediad -v\n"));
}

static void test_line_and_spelling_change_is_not_changed(void **state) {
    /* moved, continued, defaults spelled out: the same service */
    assert_false(changed(state, "m unix - - - - - mediad -v\n",
                         "\n# moved\nm unix y y n 0 1 mediad\n  -v\n"));
}

static void test_any_other_change_is_changed(void **state) {
    const char *base = "m unix - - - - - mediad -v\n";
    assert_true(changed(state, base, "n unix - - - - - mediad -v\n"));
    assert_true(changed(state, base, "m unix n - - - - mediad -v\n"));
    assert_true(changed(state, base, "m unix - n - - - mediad -v\n"));
    assert_true(changed(state, base, "m unix - - y - - mediad -v\n"));
    assert_true(changed(state, base, "m unix - - - 10 - mediad -v\n"));
    assert_true(changed(state, base, "m unix - - - - - routerd -v\n"));
    assert_true(changed(state, base, "m unix - - - - - mediad -vv\n"));
    assert_true(changed(state, base, "m unix - - - - - mediad\n"));
    assert_true(changed(state, base, "m unix - - - - - mediad -v \"\"\n"));
    assert_true(changed(state, "a inet n - - - - apid\n", "a unix n - - - - apid\n"));
    assert_true(changed(state, "a unix n - - - - apid\n", "a exec n - - - - apid\n"));
}

static void test_type_names(void **state) {
    (void)state;
    assert_string_equal(mcf_type_name(MCF_INET), "inet");
    assert_string_equal(mcf_type_name(MCF_UNIX), "unix");
    assert_string_equal(mcf_type_name(MCF_EXEC), "exec");
}

static void test_long_line_is_error(void **state) {
    size_t n = 5000;
    char *text = malloc(n + 1);
    assert_non_null(text);
    int k = snprintf(text, n + 1, "sipd inet - - - - - sipd\nx exec - n - - - prog ");
    memset(text + k, 'a', n - (size_t)k);
    text[n] = '\0';
    assert_rejected(state, text, FILE_ ":2: line longer than 4096 bytes");
    free(text);
}

static void test_nul_and_control_bytes_are_errors(void **state) {
    const char text[] = "sipd inet - - - - - sipd\n\nx exec - n - - - prog \0\n";
    assert_null(mcf_parse(text, sizeof text - 1, FILE_, *state, err, sizeof err));
    assert_string_equal(err, FILE_ ":3: NUL byte in text");
    assert_rejected(state, "x exec - n - - - prog \x01\n", FILE_ ":1: control character 0x01");
    assert_rejected(state, "sipd inet - - - - - sipd\r\n",
                    FILE_ ":1: carriage return (DOS line ending?)");
}

static void test_text_over_1mib_is_error(void **state) {
    size_t n = 1024 * 1024 + 1;
    char *text = malloc(n);
    assert_non_null(text);
    memset(text, '\n', n);
    assert_null(mcf_parse(text, n, FILE_, *state, err, sizeof err));
    assert_string_equal(err, FILE_ ": file is larger than 1 MiB (1048577 bytes)");
    mcf_t *mcf = mcf_parse(text, n - 1, FILE_, *state, err, sizeof err);
    assert_non_null(mcf);
    assert_int_equal(mcf->count, 0);
    mcf_free(mcf);
    free(text);
}

static void test_load_reads_confdir_master_cf(void **state) {
    (void)state;
    char dir[64], path[128], expect[256];
    snprintf(dir, sizeof dir, "/tmp/mastercf_test.XXXXXX");
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/master.cf", dir);
    cfg_t *cfg = cfg_parse("", 0, "main.cf", dir, err, sizeof err);
    assert_non_null(cfg);

    assert_null(mcf_load(cfg, err, sizeof err));
    snprintf(expect, sizeof expect, "%s: cannot open: No such file or directory", path);
    assert_string_equal(err, expect);

    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("sipd inet - - - - - sipd\nsipd unix - - - - - sipd\n", f);
    fclose(f);
    assert_null(mcf_load(cfg, err, sizeof err));
    snprintf(expect, sizeof expect, "%s:2: service 'sipd' defined twice, first at line 1", path);
    assert_string_equal(err, expect);

    f = fopen(path, "w");
    assert_non_null(f);
    fputs("sipd inet - - - - - sipd --conf $config_directory\n", f);
    fclose(f);
    mcf_t *mcf = mcf_load(cfg, err, sizeof err);
    assert_non_null(mcf);
    assert_string_equal(mcf->services[0].argv[2], dir);
    mcf_free(mcf);
    cfg_free(cfg);
    unlink(path);
    rmdir(dir);
}

static char *read_all(const char *path) {
    size_t len;
    return cfgtext_read_file(path, CFGTEXT_FILE_MAX, &len, NULL, 0);
}

/* The doc's master.cf column table has a row for every column. */
static void test_docs_list_every_column(void **state) {
    (void)state;
    static const char *const cols[] = {"service", "type",   "private", "unpriv",
                                       "chroot",  "wakeup", "maxproc", "command"};
    char *doc = read_all("docs/configuration.md");
    assert_non_null(doc);
    for (size_t i = 0; i < sizeof cols / sizeof cols[0]; i++) {
        char row[64];
        snprintf(row, sizeof row, "\n| `%s` |", cols[i]);
        if (!strstr(doc, row))
            fail_msg("docs/configuration.md has no row for master.cf column %s", cols[i]);
    }
    static const char *const types[] = {"`inet`", "`unix`", "`exec`"};
    for (size_t i = 0; i < 3; i++)
        if (!strstr(doc, types[i]))
            fail_msg("docs/configuration.md does not mention type %s", types[i]);
    free(doc);
}

static void test_conf_master_cf_parses_cleanly(void **state) {
    (void)state;
    if (access("conf/master.cf", F_OK) != 0)
        skip();
    cfg_t *cfg = access("conf/main.cf", F_OK) == 0
                     ? cfg_load("conf", err, sizeof err)
                     : cfg_parse("", 0, "main.cf", "conf", err, sizeof err);
    if (!cfg)
        fail_msg("%s", err);
    mcf_t *mcf = mcf_load(cfg, err, sizeof err);
    if (!mcf)
        fail_msg("%s", err);
    assert_true(mcf->count > 0);
    mcf_free(mcf);
    cfg_free(cfg);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_minimal_inet_service_uses_defaults),
        cmocka_unit_test(test_unix_service_defaults_to_private),
        cmocka_unit_test(test_every_column_is_parsed),
        cmocka_unit_test(test_exec_service_runs_any_program),
        cmocka_unit_test(test_comments_and_blank_lines_are_skipped),
        cmocka_unit_test(test_empty_file_has_no_services),
        cmocka_unit_test(test_continuation_line_belongs_to_previous_entry),
        cmocka_unit_test(test_continuation_may_split_columns),
        cmocka_unit_test(test_error_in_continued_entry_names_its_first_line),
        cmocka_unit_test(test_continuation_without_entry_is_error),
        cmocka_unit_test(test_too_few_fields_is_error),
        cmocka_unit_test(test_bad_service_name_is_error),
        cmocka_unit_test(test_duplicate_service_names_first_line),
        cmocka_unit_test(test_unknown_type_is_error),
        cmocka_unit_test(test_yes_no_columns_take_y_n_or_dash),
        cmocka_unit_test(test_exec_chroot_is_error),
        cmocka_unit_test(test_inet_requires_listening_role),
        cmocka_unit_test(test_inet_is_private_by_default),
        cmocka_unit_test(test_unknown_program_is_error),
        cmocka_unit_test(test_exec_empty_command_is_error),
        cmocka_unit_test(test_wakeup_range),
        cmocka_unit_test(test_maxproc_range),
        cmocka_unit_test(test_quoted_argument_keeps_spaces),
        cmocka_unit_test(test_quoted_empty_argument),
        cmocka_unit_test(test_quotes_inside_a_word_are_removed),
        cmocka_unit_test(test_quoted_command),
        cmocka_unit_test(test_unterminated_quote_is_error),
        cmocka_unit_test(test_quote_may_span_continuation_lines),
        cmocka_unit_test(test_dollar_expansion_in_arguments),
        cmocka_unit_test(test_undefined_parameter_in_argument_names_line),
        cmocka_unit_test(test_without_main_cf_names_are_undefined),
        cmocka_unit_test(test_find_service),
        cmocka_unit_test(test_maxproc_only_change_is_not_changed),
        cmocka_unit_test(test_line_and_spelling_change_is_not_changed),
        cmocka_unit_test(test_any_other_change_is_changed),
        cmocka_unit_test(test_type_names),
        cmocka_unit_test(test_long_line_is_error),
        cmocka_unit_test(test_nul_and_control_bytes_are_errors),
        cmocka_unit_test(test_text_over_1mib_is_error),
        cmocka_unit_test(test_load_reads_confdir_master_cf),
        cmocka_unit_test(test_docs_list_every_column),
        cmocka_unit_test(test_conf_master_cf_parses_cleanly),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
