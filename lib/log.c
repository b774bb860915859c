/* log - see log.h */
#include "log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static struct {
    char process[32];
    int instance;
    int level;
    void (*exit_hook)(int status);
} log_ctx = {"switchboard", -1, LOG_INFO, NULL};

static const char *const level_names[] = {"debug", "info", "warn", "error"};

void log_init(const char *process, int instance) {
    snprintf(log_ctx.process, sizeof log_ctx.process, "%s", process);
    log_ctx.instance = instance;
}

void log_set_level(int level) {
    if (level >= LOG_DEBUG && level <= LOG_ERROR)
        log_ctx.level = level;
}

int log_get_level(void) {
    return log_ctx.level;
}

int log_level_parse(const char *text) {
    for (int i = 0; i < 4; i++)
        if (strcmp(text, level_names[i]) == 0)
            return i;
    return -1;
}

const char *log_level_name(int level) {
    return level >= LOG_DEBUG && level <= LOG_ERROR ? level_names[level] : "?";
}

void log_set_exit_hook(void (*hook)(int status)) {
    log_ctx.exit_hook = hook;
}

/* Formats one line into buf and writes it with one write(2); call_id may be NULL. */
static void log_emit(const char *level, const char *call_id, const char *fmt, va_list ap) {
    char line[LOG_LINE_MAX + 400]; /* header < 128, call-id < 140 */
    struct timespec ts;
    struct tm tm;
    size_t n;
    int saved = errno;

    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    n = strftime(line, sizeof line, "%Y-%m-%dT%H:%M:%S", &tm);
    if (log_ctx.instance >= 0)
        n += (size_t)snprintf(line + n, sizeof line - n, ".%03ldZ %s %s[%d] %ld: ",
                              ts.tv_nsec / 1000000, level, log_ctx.process, log_ctx.instance,
                              (long)getpid());
    else
        n += (size_t)snprintf(line + n, sizeof line - n, ".%03ldZ %s %s %ld: ",
                              ts.tv_nsec / 1000000, level, log_ctx.process, (long)getpid());
    size_t room = LOG_LINE_MAX;
    int m = vsnprintf(line + n, room, fmt, ap);
    if (m < 0)
        m = 0;
    if ((size_t)m >= room) {
        n += room - 1;
        memcpy(line + n - 3, "...", 3);
    } else {
        n += (size_t)m;
    }
    /* No control characters from peers reach the log as line breaks. */
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)line[i] < 0x20 && line[i] != '\t')
            line[i] = '?';
    if (call_id && call_id[0]) {
        memcpy(line + n, " call-id=", 9);
        n += 9;
        /* one token, so that "call-id=ID" is one word to grep for */
        for (size_t i = 0; i < LOG_CALL_ID_MAX && call_id[i]; i++) {
            unsigned char ch = (unsigned char)call_id[i];
            line[n++] = ch <= 0x20 || ch == 0x7f ? '?' : (char)ch;
        }
    }
    line[n++] = '\n';
    ssize_t w = write(STDERR_FILENO, line, n);
    (void)w;
    errno = saved;
}

void log_vmsg(int level, const char *fmt, va_list ap) {
    if (level < log_ctx.level)
        return;
    log_emit(log_level_name(level), NULL, fmt, ap);
}

void log_call(int level, const char *call_id, const char *fmt, ...) {
    if (level < log_ctx.level)
        return;
    va_list ap;
    va_start(ap, fmt);
    log_emit(log_level_name(level), call_id, fmt, ap);
    va_end(ap);
}

void log_msg(int level, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    log_vmsg(level, fmt, ap);
    va_end(ap);
}

void log_fatal(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    log_emit("fatal", NULL, fmt, ap);
    va_end(ap);
    if (log_ctx.exit_hook)
        log_ctx.exit_hook(1);
    exit(1);
}

void log_panic(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    log_emit("panic", NULL, fmt, ap);
    va_end(ap);
    if (log_ctx.exit_hook)
        log_ctx.exit_hook(134);
    abort();
}

int log_ratelimit_pass(long long *last_ms) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    long long now = (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    if (*last_ms && now - *last_ms < 1000)
        return 0;
    *last_ms = now;
    return 1;
}
