/* log: line format, levels, Call-ID, truncation, fatal paths catchable in tests. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "log.h"

static char captured[8192];

/* Runs fn with stderr redirected to a pipe; the lines land in captured. */
static void capture(void (*fn)(void)) {
    int p[2], saved = dup(STDERR_FILENO);
    assert_int_equal(pipe(p), 0);
    dup2(p[1], STDERR_FILENO);
    close(p[1]);
    fn();
    dup2(saved, STDERR_FILENO);
    close(saved);
    ssize_t n = read(p[0], captured, sizeof captured - 1);
    close(p[0]);
    captured[n > 0 ? n : 0] = '\0';
}

static void emit_info(void) {
    log_init("sipd", 3);
    log_set_level(LOG_INFO);
    log_debug("hidden %d", 1);
    log_info("hello %s", "world");
}

static void test_line_has_time_level_process_instance_pid(void **state) {
    (void)state;
    capture(emit_info);
    char want[64];
    snprintf(want, sizeof want, " info sipd[3] %ld: hello world\n", (long)getpid());
    assert_non_null(strstr(captured, want));
    assert_null(strstr(captured, "hidden"));
    assert_int_equal(captured[4], '-');
    assert_int_equal(captured[10], 'T');
    assert_int_equal(captured[23], 'Z');
    assert_int_equal(strchr(captured, '\n') - captured + 1, (long)strlen(captured));
}

static void emit_call(void) {
    log_init("dialogd", -1);
    log_set_level(LOG_INFO);
    log_call(LOG_WARN, "abc@host", "ringing %d", 180);
    log_warn("idle");
    log_call(LOG_INFO, NULL, "no call");
    log_call(LOG_INFO, "", "empty call");
    log_call(LOG_DEBUG, "abc@host", "hidden");
}

static void test_log_call_ends_the_line_with_its_call_id(void **state) {
    (void)state;
    capture(emit_call);
    assert_non_null(strstr(captured, " warn dialogd "));
    assert_non_null(strstr(captured, ": ringing 180 call-id=abc@host\n"));
    assert_non_null(strstr(captured, ": idle\n"));
    assert_non_null(strstr(captured, ": no call\n"));
    assert_non_null(strstr(captured, ": empty call\n"));
    assert_null(strstr(captured, "hidden"));
    /* one line each: the Call-ID is not kept for the lines after it */
    assert_non_null(strstr(captured, "call-id=abc@host\n"));
    assert_null(strstr(strstr(captured, "call-id=abc@host\n") + 1, "call-id="));
}

static void emit_call_hostile(void) {
    char big[3 * LOG_LINE_MAX], long_id[LOG_CALL_ID_MAX + 50];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    memset(long_id, 'c', sizeof long_id - 1);
    long_id[sizeof long_id - 1] = '\0';
    log_init("sipd", 1);
    log_call(LOG_ERROR, "id-1", "%s", big);
    log_call(LOG_ERROR, "a b\nc\x7f=d", "spaced");
    log_call(LOG_ERROR, long_id, "long");
    log_call_ratelimited(LOG_ERROR, "rl-1", "limited");
}

static void test_log_call_keeps_its_call_id_one_token_on_one_line(void **state) {
    (void)state;
    capture(emit_call_hostile);
    /* a message cut at LOG_LINE_MAX still ends with its whole call-id */
    char *first_nl = strchr(captured, '\n');
    assert_non_null(first_nl);
    assert_memory_equal(first_nl - 16, "... call-id=id-1", 16);
    /* a peer's blanks and control characters cannot add a field or a line */
    assert_non_null(strstr(captured, ": spaced call-id=a?b?c?=d\n"));
    /* cut at LOG_CALL_ID_MAX bytes */
    char want[LOG_CALL_ID_MAX + 32];
    int n = snprintf(want, sizeof want, ": long call-id=");
    memset(want + n, 'c', LOG_CALL_ID_MAX);
    strcpy(want + n + LOG_CALL_ID_MAX, "\n");
    assert_non_null(strstr(captured, want));
    assert_non_null(strstr(captured, ": limited call-id=rl-1\n"));
    int lines = 0;
    for (const char *p = captured; *p; p++)
        lines += *p == '\n';
    assert_int_equal(lines, 4);
}

static void emit_hostile(void) {
    char big[3 * LOG_LINE_MAX];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    log_init("apid", 0);
    log_error("%s", big);
    log_error("line\nbreak\r\x1b[31m");
}

static void test_long_and_control_characters_stay_one_line(void **state) {
    (void)state;
    capture(emit_hostile);
    char *first_nl = strchr(captured, '\n');
    assert_non_null(first_nl);
    assert_true(first_nl - captured < LOG_LINE_MAX + 200);
    assert_memory_equal(first_nl - 3, "...", 3);
    assert_non_null(strstr(first_nl + 1, ": line?break??[31m\n"));
}

static jmp_buf fatal_jump;
static int fatal_status;

static void catch_exit(int status) {
    fatal_status = status;
    longjmp(fatal_jump, 1);
}

static void emit_fatal(void) {
    log_set_exit_hook(catch_exit);
    if (setjmp(fatal_jump) == 0)
        log_fatal("main.cf:%d: bad", 7);
    log_set_exit_hook(NULL);
}

static void test_fatal_logs_and_exits_1_through_the_hook(void **state) {
    (void)state;
    fatal_status = -1;
    capture(emit_fatal);
    assert_int_equal(fatal_status, 1);
    assert_non_null(strstr(captured, " fatal apid[0] "));
    assert_non_null(strstr(captured, "main.cf:7: bad"));
}

static void test_levels_parse_and_name(void **state) {
    (void)state;
    assert_int_equal(log_level_parse("debug"), LOG_DEBUG);
    assert_int_equal(log_level_parse("error"), LOG_ERROR);
    assert_int_equal(log_level_parse("verbose"), -1);
    assert_string_equal(log_level_name(LOG_WARN), "warn");
    log_set_level(99); /* ignored */
    assert_int_equal(log_get_level(), LOG_INFO);
}

static void test_ratelimit_passes_once_a_second(void **state) {
    (void)state;
    long long last = 0;
    assert_int_equal(log_ratelimit_pass(&last), 1);
    assert_int_equal(log_ratelimit_pass(&last), 0);
    last -= 1001;
    assert_int_equal(log_ratelimit_pass(&last), 1);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_line_has_time_level_process_instance_pid),
        cmocka_unit_test(test_log_call_ends_the_line_with_its_call_id),
        cmocka_unit_test(test_log_call_keeps_its_call_id_one_token_on_one_line),
        cmocka_unit_test(test_long_and_control_characters_stay_one_line),
        cmocka_unit_test(test_fatal_logs_and_exits_1_through_the_hook),
        cmocka_unit_test(test_levels_parse_and_name),
        cmocka_unit_test(test_ratelimit_passes_once_a_second),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
