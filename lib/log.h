/*
 * NAME
 *   log - one line per event on stderr.
 * DESCRIPTION
 *   Line format: "2026-11-24T07:10:36.123Z LEVEL PROCESS[INSTANCE] PID: message" and,
 *   for a line about a call or a registration (log_call), " call-id=ID", so grepping the
 *   log for "call-id=ID" follows one call or phone through every process. Each line is
 *   written with a single write(2) (O_APPEND log file or a terminal), so lines from
 *   several processes never interleave. Messages longer than LOG_LINE_MAX are cut and
 *   marked "..."; the call-id field is kept whole (up to LOG_CALL_ID_MAX bytes), and
 *   bytes of a peer's Call-ID that could break the field (blanks, control characters)
 *   show as '?'.
 *   log_fatal is for start-up and config errors: it logs and exits 1. log_panic is for
 *   bugs: it logs and aborts. Tests can replace the exit with log_set_exit_hook, so a
 *   test can prove that a path is fatal. log_ratelimited logs at most once per second
 *   per call site (runtime faults caused by peers or input).
 * OWNERSHIP
 *   Strings passed in are copied; nothing is kept but the process name.
 * LOOP
 *   Any process; not thread-safe except for the write itself (workers are one thread).
 */
#ifndef SB_LOG_H
#define SB_LOG_H

#include <stdarg.h>

enum { LOG_DEBUG = 0, LOG_INFO = 1, LOG_WARN = 2, LOG_ERROR = 3 };

#define LOG_LINE_MAX 1024
#define LOG_CALL_ID_MAX 128

/* Sets the process name and instance shown in every line (instance < 0: none). */
void log_init(const char *process, int instance);
void log_set_level(int level);
int log_get_level(void);
/* Parses "debug|info|warn|error"; -1 if none of them. */
int log_level_parse(const char *text);
const char *log_level_name(int level);
/* Replaces exit(1)/abort() in log_fatal/log_panic (tests); the hook must not return. */
void log_set_exit_hook(void (*hook)(int status));

void log_msg(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void log_vmsg(int level, const char *fmt, va_list ap);
/* A line about the call or registration of call_id: " call-id=CALL_ID" ends it (cut at
 * LOG_CALL_ID_MAX bytes; NULL or "" adds nothing). The message need not repeat it. */
void log_call(int level, const char *call_id, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN, __VA_ARGS__)
#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)
void log_fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
void log_panic(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

/* Logs at level unless this call site logged less than a second ago. */
#define log_ratelimited(level, ...)                                  \
    do {                                                             \
        static long long log_rl_last_ms_;                            \
        if (log_ratelimit_pass(&log_rl_last_ms_))                    \
            log_msg(level, __VA_ARGS__);                             \
    } while (0)
/* log_call at level unless this call site logged less than a second ago. */
#define log_call_ratelimited(level, call_id, ...)                    \
    do {                                                             \
        static long long log_rl_last_ms_;                            \
        if (log_ratelimit_pass(&log_rl_last_ms_))                    \
            log_call(level, call_id, __VA_ARGS__);                   \
    } while (0)
int log_ratelimit_pass(long long *last_ms);

#endif
