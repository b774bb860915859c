/*
 * NAME
 *   mastercf - master.cf: the table of services master runs.
 * DESCRIPTION
 *   One service per line with Postfix's columns: service, type, private, unpriv, chroot,
 *   wakeup, maxproc, command + args. '#' comment lines and blank lines are skipped; a
 *   line that starts with whitespace continues the previous one. '-' in a column means
 *   its default. Columns:
 *     service  name, [a-z0-9_-]{1,31}, unique; names the private/ socket
 *     type     inet (a worker that also gets network listeners: sipd, apid),
 *              unix (a worker reached only over IPC), exec (a foreign program such as
 *              redis-server, supervised but not spoken to)
 *     private  y: the worker's IPC socket is in private/ (service user only), n: in
 *              public/ (any local user). Default y; exec services have none
 *     unpriv   y: run as service_user when master runs as root. Default y
 *     chroot   y: chroot to run_directory. Default n; not allowed for exec
 *     wakeup   seconds between wakeup messages from master, 0 = never. Default 0
 *     maxproc  number of instances, 0 disables the service. Default 1; at most 64
 *     command  a role from roles.h (inet/unix) or any program (exec, found in PATH),
 *              then its arguments. Arguments may be "quoted" (quotes removed, spaces
 *              kept, "" is an empty argument) and may use $name from main.cf.
 * OWNERSHIP
 *   mcf_t owns its services and their strings until mcf_free.
 * LOOP
 *   Pure code, any process.
 * ERRORS
 *   mcf_parse/mcf_load return NULL and write "FILE:LINE: what is wrong" into err.
 * SEE ALSO
 *   cfg.h, roles.h, docs/configuration.md
 */
#ifndef SB_MASTERCF_H
#define SB_MASTERCF_H

#include <stdbool.h>
#include <stddef.h>

#include "cfg.h"
#include "roles.h"

#define MCF_NAME_MAX 32
#define MCF_MAXPROC_MAX 64

enum mcf_type { MCF_INET, MCF_UNIX, MCF_EXEC };

struct mcf_service {
    char name[MCF_NAME_MAX];
    enum mcf_type type;
    bool private_sock;
    bool unpriv;
    bool chroot;
    int wakeup;       /* seconds, 0 = none */
    int maxproc;
    enum sb_role role; /* SB_ROLE_NONE for exec */
    int line;          /* first line of the entry */
    int argc;
    char **argv;       /* argv[0] is the command as written; $names expanded; NULL-ended */
};

typedef struct mcf {
    struct mcf_service *services;
    size_t count;
} mcf_t;

/* Parses master.cf text; file names it in errors; cfg resolves $names. */
mcf_t *mcf_parse(const char *text, size_t len, const char *file, const cfg_t *cfg, char *err,
                 size_t errlen);
/* Reads and parses CONFDIR/master.cf (confdir from cfg's config_directory). */
mcf_t *mcf_load(const cfg_t *cfg, char *err, size_t errlen);
void mcf_free(mcf_t *mcf);

/* The service named name, or NULL. */
const struct mcf_service *mcf_find(const mcf_t *mcf, const char *name);
/* True when a and b differ in anything but maxproc (master restarts such a service). */
bool mcf_changed(const struct mcf_service *a, const struct mcf_service *b);
/* "inet", "unix" or "exec". */
const char *mcf_type_name(enum mcf_type type);

#endif
