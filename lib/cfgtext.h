/*
 * NAME
 *   cfgtext - the text layer both config files share (main.cf and master.cf).
 * DESCRIPTION
 *   Reading a file with a size limit, rejecting bytes no config line may hold, and
 *   splitting text into logical lines Postfix-style: '#' comment lines and blank lines
 *   are skipped; a line that starts with a blank continues the previous one and is
 *   joined with one space. Also the growable buffer and error formatting the parsers use.
 *   Limits: CFGTEXT_FILE_MAX bytes a file, CFGTEXT_LINE_MAX bytes a physical line.
 * OWNERSHIP
 *   cfgtext_read_file returns a malloc'd buffer (caller frees). A reader's cur buffer
 *   belongs to the reader; free(r.cur.p) when done.
 * LOOP
 *   Pure code; cfgtext_read_file does blocking file I/O (start-up and reload only).
 * ERRORS
 *   -1 or NULL with "FILE: what" or "FILE:LINE: what" in err.
 * SEE ALSO
 *   cfg.h, mastercf.h
 */
#ifndef SB_CFGTEXT_H
#define SB_CFGTEXT_H

#include <stdbool.h>
#include <stddef.h>

#define CFGTEXT_FILE_MAX (1024 * 1024) /* bytes of a config file */
#define CFGTEXT_LINE_MAX 4096          /* bytes of one physical line, without '\n' */

/* A growable, NUL-terminated text buffer; zero-initialise, free(b.p) when done. */
struct cfgtext_buf {
    char *p;
    size_t len, cap;
};
/* Appends n bytes of s; -1 when out of memory. */
int cfgtext_buf_add(struct cfgtext_buf *b, const char *s, size_t n);

/* snprintf into err (a NULL err or 0 errlen is allowed). */
void cfgtext_seterr(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static inline bool cfgtext_is_blank(char c) {
    return c == ' ' || c == '\t';
}

/* Rejects an oversized text, an overlong line, NUL, CR and control bytes (tab excepted). */
int cfgtext_check(const char *text, size_t len, const char *file, char *err, size_t errlen);

/* Reads a whole regular file of at most max bytes into a malloc'd buffer, NUL-terminated
 * after its *lenp bytes. */
char *cfgtext_read_file(const char *path, size_t max, size_t *lenp, char *err, size_t errlen);

/* Logical lines of text; zero-initialise, then set text and len. */
struct cfgtext_reader {
    const char *text;
    size_t len, pos;
    int lineno; /* of the last physical line consumed */
    struct cfgtext_buf cur;
};
/* 1: a logical line in r->cur.p starting at *line; 0: end; -1: error (*what at *line). */
int cfgtext_next(struct cfgtext_reader *r, int *line, const char **what);

#endif
