/* cfgtext - see cfgtext.h */
#include "cfgtext.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int cfgtext_buf_add(struct cfgtext_buf *b, const char *s, size_t n) {
    if (n > SIZE_MAX / 2 - b->len)
        return -1;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p)
            return -1;
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
    return 0;
}

void cfgtext_seterr(char *err, size_t errlen, const char *fmt, ...) {
    if (!err || errlen == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* ---- text: size, bytes, lines ---- */

/* Rejects what no line-based parser should see: an oversized file, an overlong line, NUL
 * and control bytes (tab and newline excepted). */
int cfgtext_check(const char *text, size_t len, const char *file, char *err, size_t errlen) {
    if (len > CFGTEXT_FILE_MAX) {
        cfgtext_seterr(err, errlen, "%s: file is larger than 1 MiB (%zu bytes)", file, len);
        return -1;
    }
    int line = 1;
    size_t col = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)text[i];
        if (c == '\n') {
            line++;
            col = 0;
            continue;
        }
        if (++col > CFGTEXT_LINE_MAX) {
            cfgtext_seterr(err, errlen, "%s:%d: line longer than %d bytes", file, line, CFGTEXT_LINE_MAX);
            return -1;
        }
        if (c == '\0') {
            cfgtext_seterr(err, errlen, "%s:%d: NUL byte in text", file, line);
            return -1;
        }
        if (c == '\r') {
            cfgtext_seterr(err, errlen, "%s:%d: carriage return (DOS line ending?)", file, line);
            return -1;
        }
        if ((c < 0x20 && c != '\t') || c == 0x7f) {
            cfgtext_seterr(err, errlen, "%s:%d: control character 0x%02x", file, line, c);
            return -1;
        }
    }
    return 0;
}

/* 1: a logical line in r->cur.p starting at *line; 0: end; -1: error (what, *line). */
int cfgtext_next(struct cfgtext_reader *r, int *line, const char **what) {
    bool have = false;
    r->cur.len = 0;
    while (r->pos < r->len) {
        size_t start = r->pos;
        const char *nl = memchr(r->text + start, '\n', r->len - start);
        size_t end = nl ? (size_t)(nl - r->text) : r->len;
        size_t b = start;
        while (b < end && cfgtext_is_blank(r->text[b]))
            b++;
        if (b == end || r->text[b] == '#') {
            r->pos = nl ? end + 1 : end;
            r->lineno++;
            continue;
        }
        size_t e = end;
        while (e > b && cfgtext_is_blank(r->text[e - 1]))
            e--;
        if (b > start) { /* continuation */
            if (!have) {
                *line = r->lineno + 1;
                *what = "continuation line without a line to continue";
                return -1;
            }
            if (cfgtext_buf_add(&r->cur, " ", 1) < 0 || cfgtext_buf_add(&r->cur, r->text + b, e - b) < 0) {
                *line = r->lineno + 1;
                *what = "out of memory";
                return -1;
            }
        } else {
            if (have)
                return 1; /* this line starts the next entry: leave it unread */
            *line = r->lineno + 1;
            if (cfgtext_buf_add(&r->cur, r->text + b, e - b) < 0) {
                *what = "out of memory";
                return -1;
            }
            have = true;
        }
        r->pos = nl ? end + 1 : end;
        r->lineno++;
    }
    return have ? 1 : 0;
}

/* Reads a whole regular file of at most max bytes; NULL + "FILE: what" on error. */
char *cfgtext_read_file(const char *path, size_t max, size_t *lenp, char *err, size_t errlen) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        cfgtext_seterr(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    struct stat st;
    char *buf = NULL;
    size_t len = 0, cap;
    if (fstat(fd, &st) < 0) {
        cfgtext_seterr(err, errlen, "%s: cannot stat: %s", path, strerror(errno));
        goto fail;
    }
    if (!S_ISREG(st.st_mode)) {
        cfgtext_seterr(err, errlen, "%s: not a regular file", path);
        goto fail;
    }
    /* One byte more than allowed, so that a file that grew past max is noticed. */
    cap = st.st_size >= 0 && (size_t)st.st_size < max ? (size_t)st.st_size + 1 : max + 1;
    if (!(buf = malloc(cap))) {
        cfgtext_seterr(err, errlen, "%s: out of memory", path);
        goto fail;
    }
    for (;;) {
        if (len == cap) {
            if (cap > max)
                break;
            size_t ncap = cap * 2 > max + 1 ? max + 1 : cap * 2;
            char *nbuf = realloc(buf, ncap);
            if (!nbuf) {
                cfgtext_seterr(err, errlen, "%s: out of memory", path);
                goto fail;
            }
            buf = nbuf;
            cap = ncap;
        }
        ssize_t n = read(fd, buf + len, cap - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            cfgtext_seterr(err, errlen, "%s: cannot read: %s", path, strerror(errno));
            goto fail;
        }
        if (n == 0)
            break;
        len += (size_t)n;
    }
    if (len > max) {
        cfgtext_seterr(err, errlen, "%s: file is larger than 1 MiB", path);
        goto fail;
    }
    close(fd);
    buf[len] = '\0'; /* len <= max < cap: there is always room */
    *lenp = len;
    return buf;
fail:
    free(buf);
    close(fd);
    return NULL;
}
