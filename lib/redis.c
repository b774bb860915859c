/* redis - see redis.h */
#include "redis.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <hiredis/adapters/libuv.h>

#define RDS_BACKOFF_MIN_MS 100
#define RDS_BACKOFF_MAX_MS 2000
/* A connection that has not answered its PING by then is dropped and tried again: a
 * connect or a PING can hang (a server starting, a lost SYN), and nothing else would
 * ever end it. */
#define RDS_CONNECT_TIMEOUT_MS 2000

struct rds {
    uv_loop_t *loop;
    uv_timer_t retry;
    uv_check_t flush;   /* after each loop turn's callbacks: write what they asked */
    int handles_open;
    bool want_write;    /* commands wait in hiredis's buffer for the flush */
    bool flushing;      /* inside the flush: a write that would block polls for writable */
    redisAsyncContext *ac;
    char address[256];
    char host[256];
    int port;          /* 0: host is a unix socket path */
    struct rds_auth auth;
    char auth_error[128]; /* why the last AUTH was refused, "" when it was not */
    bool up;
    bool closing;
    unsigned backoff_ms;
    struct shm_proc *slot;
    rds_state_cb cb;
    void *arg;
};

static void rds_connect(rds_t *r);
static void rds_lost(rds_t *r, const char *why);

/* Event hooks in place of the stock libuv adapter's. It calls uv_poll_start for every
 * command and after every read and write even when nothing changes, and libuv turns each
 * call into two epoll_ctl calls on the next turn; and a command waits for the next turn
 * (a writable event) to be written. Here the poll is only changed when its events change,
 * and once the link is up commands are written by a uv_check at the end of the turn that
 * gave them, all in one write; only a write that would block polls for writable. */
static void rds_poll_set(redisLibuvEvents *p, int events) {
    if (events == p->events)
        return;
    p->events = events;
    if (events)
        uv_poll_start(&p->handle, events, redisLibuvPoll);
    else
        uv_poll_stop(&p->handle);
}

static void rds_ev_add_read(void *privdata) {
    redisLibuvEvents *p = privdata;
    rds_poll_set(p, p->events | UV_READABLE);
}

static void rds_ev_del_read(void *privdata) {
    redisLibuvEvents *p = privdata;
    rds_poll_set(p, p->events & ~UV_READABLE);
}

static void rds_ev_add_write(void *privdata) {
    redisLibuvEvents *p = privdata;
    rds_t *r = p->context ? p->context->data : NULL;
    if (r && r->up && !r->flushing && r->ac == p->context) {
        r->want_write = true; /* rds_flush_cb writes it this turn */
        return;
    }
    rds_poll_set(p, p->events | UV_WRITABLE);
}

static void rds_ev_del_write(void *privdata) {
    redisLibuvEvents *p = privdata;
    rds_poll_set(p, p->events & ~UV_WRITABLE);
}

static void rds_flush_cb(uv_check_t *h) {
    rds_t *r = h->data;
    if (!r->want_write || !r->ac)
        return;
    r->want_write = false;
    r->flushing = true;
    redisAsyncHandleWrite(r->ac); /* may drop the link: rds_lost clears r->ac */
    r->flushing = false;
}

static void rds_set_up(rds_t *r, bool up, const char *why) {
    if (r->up == up)
        return;
    r->up = up;
    shm_gauge(r->slot, SHM_C_redis_up, up ? 1 : 0);
    if (r->cb)
        r->cb(r, up, why, r->arg);
}

static void rds_retry_cb(uv_timer_t *t) {
    rds_t *r = t->data;
    if (r->ac) { /* the connect timeout of the attempt in progress */
        redisAsyncContext *ac = r->ac;
        ac->data = NULL; /* its callbacks, called from the free, are ours no more */
        redisAsyncFree(ac);
        rds_lost(r, "no answer to PING in time");
        return;
    }
    rds_connect(r);
}

static void rds_schedule_retry(rds_t *r) {
    if (r->closing)
        return;
    uv_timer_start(&r->retry, rds_retry_cb, r->backoff_ms, 0);
    r->backoff_ms = r->backoff_ms * 2 > RDS_BACKOFF_MAX_MS ? RDS_BACKOFF_MAX_MS : r->backoff_ms * 2;
}

/* hiredis frees the context after these callbacks return. */
static void rds_lost(rds_t *r, const char *why) {
    r->ac = NULL;
    shm_count(r->slot, SHM_C_redis_errors, 1);
    if (r->up)
        rds_set_up(r, false, why);
    else if (r->cb)
        r->cb(r, false, why, r->arg); /* still down: tell why once more (rate-limited there) */
    rds_schedule_retry(r);
}

static void rds_on_connect(const redisAsyncContext *ac, int status) {
    rds_t *r = ac->data;
    if (!r)
        return;
    if (status != REDIS_OK)
        rds_lost(r, ac->errstr[0] ? ac->errstr : "connect failed");
}

static void rds_on_disconnect(const redisAsyncContext *ac, int status) {
    rds_t *r = ac->data;
    if (!r)
        return;
    (void)status;
    rds_lost(r, r->auth_error[0] ? r->auth_error : ac->errstr[0] ? ac->errstr : "disconnected");
}

static void rds_on_auth(redisAsyncContext *ac, void *reply, void *priv) {
    rds_t *r = priv;
    redisReply *rep = reply;
    if (!ac->data || !rep)
        return;
    if (rep->type == REDIS_REPLY_ERROR)
        snprintf(r->auth_error, sizeof r->auth_error, "AUTH as %s refused: %s", r->auth.user,
                 rep->str);
    else
        r->auth_error[0] = '\0';
}

static void rds_on_pong(redisAsyncContext *ac, void *reply, void *priv) {
    rds_t *r = priv;
    redisReply *rep = reply;
    if (!ac->data || !rep)
        return;
    if (rep->type == REDIS_REPLY_STATUS && strcmp(rep->str, "PONG") == 0) {
        uv_timer_stop(&r->retry); /* the connect timeout */
        r->backoff_ms = RDS_BACKOFF_MIN_MS;
        r->want_write = false;
        rds_set_up(r, true, NULL);
    } else {
        /* Answered, but not PONG (e.g. NOAUTH, LOADING): drop and retry later. */
        redisAsyncDisconnect(ac);
    }
}

static void rds_connect(rds_t *r) {
    redisAsyncContext *ac = r->port ? redisAsyncConnect(r->host, r->port)
                                    : redisAsyncConnectUnix(r->host);
    if (!ac) {
        rds_lost(r, "out of memory");
        return;
    }
    if (ac->err) {
        char why[128];
        snprintf(why, sizeof why, "%s", ac->errstr);
        redisAsyncFree(ac);
        rds_lost(r, why);
        return;
    }
    ac->data = r;
    if (redisLibuvAttach(ac, r->loop) != REDIS_OK) {
        redisAsyncFree(ac);
        rds_lost(r, "cannot attach to loop");
        return;
    }
    ac->ev.addRead = rds_ev_add_read;
    ac->ev.delRead = rds_ev_del_read;
    ac->ev.addWrite = rds_ev_add_write;
    ac->ev.delWrite = rds_ev_del_write;
    redisAsyncSetConnectCallback(ac, rds_on_connect);
    redisAsyncSetDisconnectCallback(ac, rds_on_disconnect);
    r->ac = ac;
    if (r->auth.user[0])
        redisAsyncCommand(ac, rds_on_auth, r, "AUTH %s %s", r->auth.user, r->auth.password);
    redisAsyncCommand(ac, rds_on_pong, r, "PING");
    uv_timer_start(&r->retry, rds_retry_cb, RDS_CONNECT_TIMEOUT_MS, 0);
}

int rds_parse_address(const char *address, char *host, size_t hostcap, int *port, char *err,
                      size_t errlen) {
    if (strncmp(address, "unix:", 5) == 0) {
        if (!address[5] || snprintf(host, hostcap, "%s", address + 5) >= (int)hostcap) {
            snprintf(err, errlen, "redis address '%s': %s", address,
                     address[5] ? "path too long" : "empty path");
            return -EINVAL;
        }
        *port = 0;
        return 0;
    }
    const char *colon = strrchr(address, ':');
    char *end = NULL;
    long p = colon ? strtol(colon + 1, &end, 10) : 0;
    size_t hlen = colon ? (size_t)(colon - address) : 0;
    if (!colon || !end || end == colon + 1 || *end || p < 1 || p > 65535 || hlen == 0 ||
        hlen >= hostcap) {
        snprintf(err, errlen, "redis address '%s': want unix:/path or host:port", address);
        return -EINVAL;
    }
    memcpy(host, address, hlen);
    host[hlen] = '\0';
    *port = (int)p;
    return 0;
}

rds_t *rds_open(uv_loop_t *loop, const char *address, const struct rds_auth *auth,
                struct shm_proc *slot, rds_state_cb cb, void *arg, char *err, size_t errlen) {
    rds_t *r = calloc(1, sizeof *r);
    if (!r) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    if (snprintf(r->address, sizeof r->address, "%s", address) >= (int)sizeof r->address) {
        snprintf(err, errlen, "redis address too long");
        free(r);
        return NULL;
    }
    if (rds_parse_address(address, r->host, sizeof r->host, &r->port, err, errlen) < 0) {
        free(r);
        return NULL;
    }
    if (auth)
        r->auth = *auth;
    r->loop = loop;
    r->slot = slot;
    r->cb = cb;
    r->arg = arg;
    r->backoff_ms = RDS_BACKOFF_MIN_MS;
    uv_timer_init(loop, &r->retry);
    r->retry.data = r;
    uv_check_init(loop, &r->flush);
    r->flush.data = r;
    uv_check_start(&r->flush, rds_flush_cb);
    r->handles_open = 2;
    shm_gauge(slot, SHM_C_redis_up, 0);
    rds_connect(r);
    return r;
}

static void rds_handle_closed(uv_handle_t *h) {
    rds_t *r = h->data;
    if (--r->handles_open == 0) {
        explicit_bzero(&r->auth, sizeof r->auth);
        free(r);
    }
}

void rds_close(rds_t *r) {
    if (!r)
        return;
    r->closing = true;
    if (r->ac) {
        redisAsyncContext *ac = r->ac;
        r->ac = NULL;
        ac->data = NULL;
        redisAsyncFree(ac);
    }
    uv_timer_stop(&r->retry);
    uv_close((uv_handle_t *)&r->retry, rds_handle_closed);
    uv_check_stop(&r->flush);
    uv_close((uv_handle_t *)&r->flush, rds_handle_closed);
}

bool rds_is_up(const rds_t *r) {
    return r && r->up;
}

struct redisAsyncContext *rds_context(rds_t *r) {
    return r && r->up ? r->ac : NULL;
}

const char *rds_address(const rds_t *r) {
    return r->address;
}

const struct rds_auth *rds_auth_of(const rds_t *r) {
    return &r->auth;
}
