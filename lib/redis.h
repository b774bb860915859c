/*
 * NAME
 *   redis - one asynchronous Redis connection that keeps itself up.
 * DESCRIPTION
 *   Wraps a hiredis async context on the worker's libuv loop. The address is
 *   "unix:/path" or "host:port". After a connect it sends PING and counts the link up
 *   only when PONG comes back; on any failure or disconnect it retries with a backoff
 *   (100 ms doubling to 2 s). Nothing ever blocks on Redis: while the link is down,
 *   rds_context returns NULL and callers answer "unavailable" themselves. While it is
 *   up, the commands given during a loop turn are written together at the end of that
 *   turn (a uv_check), not on the next turn, and the socket's poll changes only when
 *   what it waits for changes (the stock adapter re-armed it after every command).
 * OWNERSHIP
 *   rds_t owns its hiredis context; rds_close frees it (pending replies get NULL).
 * LOOP
 *   The loop given to rds_open.
 * AUTH
 *   With a user in auth, every connection sends AUTH user password before its PING (Redis
 *   6 ACLs, redisacl.h); a refused AUTH keeps the link down and says why.
 * ERRORS
 *   rds_open: NULL with the reason in err for an address it cannot parse. Runtime faults
 *   are counted in the slot (redis_errors, redis_up) and reported by on_state.
 */
#ifndef SB_REDIS_H
#define SB_REDIS_H

#include <stdbool.h>
#include <stddef.h>
#include <uv.h>

#include "shm.h"

typedef struct rds rds_t;
struct redisAsyncContext;

/* Redis ACL credentials; an empty user: no AUTH. */
struct rds_auth {
    char user[64];
    char password[128];
};

/* up: link state changed; why: the error text when it went down (NULL when up). */
typedef void (*rds_state_cb)(rds_t *r, bool up, const char *why, void *arg);

/* auth may be NULL (no AUTH); it is copied. */
rds_t *rds_open(uv_loop_t *loop, const char *address, const struct rds_auth *auth,
                struct shm_proc *slot, rds_state_cb cb, void *arg, char *err, size_t errlen);
void rds_close(rds_t *r);
bool rds_is_up(const rds_t *r);
/* The address forms rds_open takes: unix:/path (host = the path, port 0) or host:port.
 * 0, or -EINVAL with the reason in err. */
int rds_parse_address(const char *address, char *host, size_t hostcap, int *port, char *err,
                      size_t errlen);
/* The live context for issuing commands, or NULL while down. */
struct redisAsyncContext *rds_context(rds_t *r);
const char *rds_address(const rds_t *r);
/* The credentials the link authenticates with (for a second link to the same server). */
const struct rds_auth *rds_auth_of(const rds_t *r);

#endif
