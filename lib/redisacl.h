/*
 * NAME
 *   redisacl - one Redis ACL user per worker role, with the commands and keys it needs.
 * DESCRIPTION
 *   With redis_acl = yes every role that talks to Redis authenticates as "sb-ROLE" with
 *   the password in secret_directory/redis-ROLE, and Redis lets that user run only the
 *   command categories and touch only the key prefixes of its row (redisacl.c). The
 *   default (admin) user's password is secret_directory/redis-admin: the operator's
 *   redis-cli (REDISCLI_AUTH) and nothing else uses it.
 *   master, as root before any worker starts, creates the directory (0700) and any
 *   missing password (0600, random) and writes the embedded Redis's ACL file,
 *   run_directory/private/redis-users.acl, which holds only SHA-256 hashes of the
 *   passwords. A worker reads its own password before it drops privileges. For an
 *   external Redis, `switchboard redis-acl` prints the same user lines to load there.
 *   With redis_acl = no nobody authenticates and the ACL file lets the default user do
 *   everything without a password.
 * ERRORS
 *   Negative errno with the path and the reason in err.
 * SEE ALSO
 *   redis.h, docs/security.md
 */
#ifndef SB_REDISACL_H
#define SB_REDISACL_H

#include <stddef.h>
#include <stdio.h>
#include <sys/types.h>

#include "cfg.h"
#include "redis.h"
#include "roles.h"

/* The name of the ACL file inside run_directory/private (master.cf's --aclfile). */
#define REDISACL_FILE "redis-users.acl"

/* Fills auth with role's user and password (empty user when redis_acl = no). */
int redisacl_credentials(const cfg_t *cfg, enum sb_role role, struct rds_auth *auth,
                         char *err, size_t errlen);
/* The default (admin) user's password (redis_acl = yes): for the operator's commands. */
int redisacl_admin_password(const cfg_t *cfg, char *pw, size_t cap, char *err, size_t errlen);
/* Creates secret_directory (0700) and any missing password (0600), when redis_acl = yes. */
int redisacl_prepare_secrets(const cfg_t *cfg, char *err, size_t errlen);
/* master: redisacl_prepare_secrets, then writes the ACL file of the
 * embedded Redis into run_directory/private, owned by uid:gid when root. */
int redisacl_prepare(const cfg_t *cfg, bool root, uid_t uid, gid_t gid, char *err,
                     size_t errlen);
/* Writes one ACL file line per role ("user sb-ROLE on #HASH ..."), and the default
 * user's when with_admin; the passwords must exist (redisacl_prepare made them). */
int redisacl_write(const cfg_t *cfg, FILE *out, bool with_admin, char *err, size_t errlen);

#endif
