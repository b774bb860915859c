/*
 * NAME
 *   cfg - main.cf: parse, expand, validate and look up parameters.
 * DESCRIPTION
 *   main.cf is Postfix-style: "name = value" lines, '#' comment lines, blank lines, and
 *   continuation lines (a line that starts with whitespace continues the previous one;
 *   the pieces are joined with one space). Values may refer to other parameters as
 *   $name or ${name}; expansion is recursive, happens once at parse time, and a loop
 *   or an undefined name is an error. Every known parameter, its type and its default
 *   come from CFG_PARAMS (cfg_params.h); names not in the table are kept (usable in
 *   expansion) and reported as warnings. A value that does not fit its type is an error.
 * OWNERSHIP
 *   A cfg_t owns every string it returns; they live until cfg_free. The parser copies
 *   its input text, which cfg_source returns (master sends it to workers on reload).
 * LOOP
 *   Pure code: any process, any time; no I/O except cfg_load reading the file.
 * ERRORS
 *   cfg_parse/cfg_load return NULL and write "FILE:LINE: what is wrong" into err.
 *   Lookups cannot fail: the parser has already checked every value against its type.
 * SEE ALSO
 *   cfg_params.h, mastercf.h, docs/configuration.md
 */
#ifndef SB_CFG_H
#define SB_CFG_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include "cfg_params.h"

typedef enum {
    CFG_T_STR,        /* any text */
    CFG_T_INT,        /* decimal integer >= 0 */
    CFG_T_BOOL,       /* yes/no, true/false, on/off, 1/0 */
    CFG_T_TIME,       /* number with unit ms, s, m, h (no unit: seconds) */
    CFG_T_LEVEL,      /* debug, info, warn, error */
    CFG_T_ADDR_LIST,  /* numeric host:port or [v6]:port, space/comma separated, >= 1 */
    CFG_T_PORT_RANGE, /* LO-HI, 1024 <= LO < HI <= 65535, LO even */
    CFG_T_HOST_LIST,  /* host names and numeric addresses, no port, space/comma separated */
} cfg_type_t;

enum cfg_param {
#define CFG_PARAM_ENUM(name, type, def, doc) CFG_##name,
    CFG_PARAMS(CFG_PARAM_ENUM)
#undef CFG_PARAM_ENUM
    CFG_PARAM_COUNT
};

struct cfg_param_info {
    const char *name;
    cfg_type_t type;
    const char *def;
    const char *doc;
};

#define CFG_MAX_ADDRS 8

struct cfg_addr {
    struct sockaddr_storage ss;
    socklen_t len;
    char text[64]; /* as written, e.g. "[::1]:5060" */
};

typedef struct cfg cfg_t;

/* The row of the parameter table for p. */
const struct cfg_param_info *cfg_param_info(enum cfg_param p);

/* Parses main.cf text (len bytes, need not be NUL-terminated); file names it in errors;
 * confdir becomes config_directory. NULL + err on the first error. */
cfg_t *cfg_parse(const char *text, size_t len, const char *file, const char *confdir,
                 char *err, size_t errlen);
/* Reads and parses CONFDIR/main.cf. A missing file is an error. */
cfg_t *cfg_load(const char *confdir, char *err, size_t errlen);
void cfg_free(cfg_t *cfg);

/* The text cfg was parsed from, and the file name it was given. */
const char *cfg_source(const cfg_t *cfg, size_t *len);
const char *cfg_file(const cfg_t *cfg);
/* The line of main.cf that sets p; 0 when p has its default. */
int cfg_line(const cfg_t *cfg, enum cfg_param p);

/* Warnings found while parsing ("FILE:LINE: unknown parameter 'x'"), in file order. */
size_t cfg_warning_count(const cfg_t *cfg);
const char *cfg_warning(const cfg_t *cfg, size_t i);

/* Expanded value of any parameter; for CFG_T_STR params this is the value itself. */
const char *cfg_str(const cfg_t *cfg, enum cfg_param p);
long cfg_int(const cfg_t *cfg, enum cfg_param p);        /* CFG_T_INT */
bool cfg_bool(const cfg_t *cfg, enum cfg_param p);       /* CFG_T_BOOL */
long cfg_time_ms(const cfg_t *cfg, enum cfg_param p);    /* CFG_T_TIME, in ms */
int cfg_level(const cfg_t *cfg, enum cfg_param p);       /* CFG_T_LEVEL: a LOG_* of log.h */
/* CFG_T_ADDR_LIST: the parsed addresses and their count (1..CFG_MAX_ADDRS; 0 for a list
 * that may be empty). */
size_t cfg_addrs(const cfg_t *cfg, enum cfg_param p, const struct cfg_addr **addrs);
/* Two string parameters that go together (a certificate and its key): 0 when both or
 * neither are set, else -1 with err naming main.cf, the line of the one set and what
 * needs both. */
int cfg_check_pair(const cfg_t *cfg, enum cfg_param a, enum cfg_param b, const char *what,
                   char *err, size_t errlen);
/* Whether an address list may be empty (a listener that is off unless configured). */
bool cfg_addrs_may_be_empty(enum cfg_param p);
void cfg_port_range(const cfg_t *cfg, enum cfg_param p, int *lo, int *hi); /* CFG_T_PORT_RANGE */

/* Value of a parameter by name (known or user-defined), expanded; NULL if undefined. */
const char *cfg_lookup(const cfg_t *cfg, const char *name);
/* Expands $name / ${name} in text against cfg. Returns a malloc'd string (caller frees)
 * or NULL with "undefined parameter $x" (or "out of memory") in err. */
char *cfg_expand(const cfg_t *cfg, const char *text, char *err, size_t errlen);

#endif
