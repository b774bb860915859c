/* events - see events.h */
#include "events.h"

#include <errno.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_base.h"
#include "api_sse.h"
#include "clock.h"
#include "keys.h"
#include "log.h"
#include "redis.h"

struct events_client {
    events_t *ev; /* NULL once events_close ran */
    http_call_t *call;
    char peer[48]; /* the client's address: streams are counted per address */
    struct events_client *prev, *next;
};

struct events {
    rds_t *sub; /* the SUBSCRIBE connection */
    const struct shm_seg *shm;
    struct shm_proc *slot;
    struct api_proc_seen seen[SHM_MAX_PROCS];
    bool primed;
    uint64_t event_id;
    int64_t last_keepalive_ms;
    struct events_client *clients;
    size_t nclients;
    bool subscribed; /* Redis confirmed the SUBSCRIBE: published events reach us */
    void (*on_subscribed)(void *arg);
    void *arg;
};

static void events_set_subscribed(events_t *ev, bool subscribed) {
    if (ev->subscribed == subscribed)
        return;
    ev->subscribed = subscribed;
    if (ev->on_subscribed)
        ev->on_subscribed(ev->arg);
}

static void events_broadcast(events_t *ev, const char *text, size_t len) {
    struct events_client *next;
    for (struct events_client *c = ev->clients; c; c = next) {
        next = c->next;
        if (http_stream_push(c->call, text, len) == -ENOBUFS) {
            shm_count(ev->slot, SHM_C_http_sse_dropped, 1);
            log_ratelimited(LOG_WARN, "events: a client reads too slowly: dropped");
        }
    }
}

static void events_emit(void *arg, const char *type, const char *data) {
    events_t *ev = arg;
    size_t len;
    char *text = api_sse_format(type, data, ev->event_id + 1, &len);
    if (!text)
        return;
    ev->event_id++;
    shm_count(ev->slot, SHM_C_api_events, 1);
    events_broadcast(ev, text, len);
    free(text);
}

static void events_client_closed(void *arg) {
    struct events_client *c = arg;
    events_t *ev = c->ev;
    if (ev) {
        if (c->prev)
            c->prev->next = c->next;
        else
            ev->clients = c->next;
        if (c->next)
            c->next->prev = c->prev;
        ev->nclients--;
        shm_gauge(ev->slot, SHM_C_http_sse_clients, ev->nclients);
    }
    free(c);
}

static void events_on_message(redisAsyncContext *ac, void *reply, void *priv) {
    redisReply *r = reply;
    (void)ac;
    if (!r) /* the connection went away (or is being freed): priv may be gone */
        return;
    events_t *ev = priv;
    if (r->type == REDIS_REPLY_ARRAY && r->elements == 3 &&
        r->element[0]->type == REDIS_REPLY_STRING && strcmp(r->element[0]->str, "subscribe") == 0) {
        events_set_subscribed(ev, true); /* from now on a PUBLISH reaches us */
        return;
    }
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 3 ||
        r->element[0]->type != REDIS_REPLY_STRING || strcmp(r->element[0]->str, "message") != 0 ||
        r->element[2]->type != REDIS_REPLY_STRING)
        return;
    if (ev->nclients == 0) /* nobody listens: not even parsed (calls publish four a call) */
        return;
    size_t len;
    char *text =
        api_sse_from_message(r->element[2]->str, r->element[2]->len, ev->event_id + 1, &len);
    if (!text) {
        log_ratelimited(LOG_WARN, "events: a message on %s is not an event: ignored",
                        SB_EVENTS_CHANNEL);
        return;
    }
    ev->event_id++;
    shm_count(ev->slot, SHM_C_api_events, 1);
    events_broadcast(ev, text, len);
    free(text);
}

static void events_sub_state(rds_t *r, bool up, const char *why, void *arg) {
    if (!up) {
        events_set_subscribed(arg, false);
        log_ratelimited(LOG_WARN, "events: Redis subscription lost: %s", why ? why : "?");
        return;
    }
    redisAsyncContext *ac = rds_context(r);
    if (ac && redisAsyncCommand(ac, events_on_message, arg, "SUBSCRIBE %s", SB_EVENTS_CHANNEL) !=
                  REDIS_OK)
        log_ratelimited(LOG_WARN, "events: cannot subscribe to %s", SB_EVENTS_CHANNEL);
}

events_t *events_open(uv_loop_t *loop, const char *redis_address,
                      const struct rds_auth *auth, const struct shm_seg *shm, struct shm_proc *slot, void (*on_subscribed)(void *arg), void *arg,
                      char *err, size_t errlen) {
    events_t *ev = calloc(1, sizeof *ev);
    if (!ev) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    ev->on_subscribed = on_subscribed;
    ev->arg = arg;
    ev->shm = shm;
    ev->slot = slot;
    /* No slot for the subscriber: the worker's link owns redis_up and redis_errors. */
    if (redis_address &&
        !(ev->sub = rds_open(loop, redis_address, auth, NULL, events_sub_state, ev, err, errlen))) {
        free(ev);
        return NULL;
    }
    return ev;
}

bool events_subscribed(const events_t *ev) {
    return ev && ev->subscribed;
}

void events_close(events_t *ev) {
    if (!ev)
        return;
    ev->on_subscribed = NULL;
    for (struct events_client *c = ev->clients; c; c = c->next)
        c->ev = NULL;
    rds_close(ev->sub); /* pending SUBSCRIBE callbacks get NULL and touch nothing */
    free(ev);
}

void events_attach(events_t *ev, http_call_t *call, const char *peer, size_t max_per_peer,
                   struct http_response *resp) {
    size_t same = 0;
    for (struct events_client *o = ev->clients; o; o = o->next)
        same += strcmp(o->peer, peer) == 0;
    if (same >= max_per_peer) { /* one address cannot take every connection of apid */
        resp->status = 429;
        resp->body = api_error_body(429);
        log_ratelimited(LOG_WARN, "events: %s has %zu streams open (api_events_per_client): "
                        "refused another",
                        peer, same);
        return;
    }
    struct events_client *c = calloc(1, sizeof *c);
    if (!c) {
        resp->status = 500;
        resp->body = api_error_body(500);
        return;
    }
    c->ev = ev;
    c->call = call;
    snprintf(c->peer, sizeof c->peer, "%s", peer);
    c->next = ev->clients;
    if (ev->clients)
        ev->clients->prev = c;
    ev->clients = c;
    ev->nclients++;
    shm_gauge(ev->slot, SHM_C_http_sse_clients, ev->nclients);
    resp->status = 200;
    resp->stream = true;
    resp->on_close = events_client_closed;
    resp->close_arg = c;
    /* First bytes: the reconnect delay, and a comment so the client sees the stream. */
    resp->body = strdup("retry: 2000\n: switchboard events\n\n");
}

void events_publish(events_t *ev, const char *type, const char *data) {
    if (ev)
        events_emit(ev, type, data);
}

void events_tick(events_t *ev, int64_t now_mono_ms, int64_t keepalive_ms) {
    api_proc_changes(ev->seen, ev->shm, !ev->primed, clock_wall_us(), events_emit, ev);
    ev->primed = true;
    /* A comment line, so clients and proxies see life, and a vanished client is noticed
     * (a suspended stream learns of it only when it writes). */
    if (now_mono_ms - ev->last_keepalive_ms >= keepalive_ms) {
        ev->last_keepalive_ms = now_mono_ms;
        static const char ka[] = ": keep-alive\n\n";
        events_broadcast(ev, ka, sizeof ka - 1);
    }
}
