/*
 * NAME
 *   roles - the table of worker programs (an X-macro).
 * DESCRIPTION
 *   One line per program master knows how to run as a worker: its name (the master.cf
 *   command and the binary in daemon_directory), whether it takes network listeners
 *   (only such roles may have type inet), whether it talks to Redis, and the roles it
 *   keeps IPC connections to, and those of them it needs before it reports ready (a
 *   sipd that cannot reach dialogd or routerd would answer every call 503). Generates enum sb_role and the lookup helpers.
 *   Programs not in this table (redis-server) can only run as type exec.
 * SEE ALSO
 *   mastercf.h, worker.h, docs/configuration.md
 */
#ifndef SB_ROLES_H
#define SB_ROLES_H

#include <stdbool.h>

/* X(name, listens, uses_redis, peers: space separated roles it connects to, needs: the
 * peers of which it must reach one before it is ready to serve, when the configuration
 * has that role at all) */
#define SB_ROLES(X)                                                    \
    X(sipd, true, false, "dialogd routerd sipd", "dialogd routerd")    \
    X(routerd, false, true, "", "")                                    \
    X(dialogd, false, true, "routerd mediad sipd", "routerd mediad")   \
    X(mediad, false, false, "", "")                                    \
    X(apid, true, true, "dialogd mediad routerd", "")

enum sb_role {
    SB_ROLE_NONE = -1,
#define SB_ROLE_ENUM(name, listens, redis, peers, needs) SB_ROLE_##name,
    SB_ROLES(SB_ROLE_ENUM)
#undef SB_ROLE_ENUM
    SB_ROLE_COUNT
};

struct sb_role_info {
    const char *name;
    bool listens;
    bool uses_redis;
    const char *peers;
    const char *needs;
};

/* The row of a role; role must be valid. */
const struct sb_role_info *sb_role_info(enum sb_role role);
/* The role named name (a program name, no directory), or SB_ROLE_NONE. */
enum sb_role sb_role_by_name(const char *name);

#endif
