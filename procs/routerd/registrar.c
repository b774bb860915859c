/* registrar - see registrar.h */
#include "registrar.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "location.h"
#include "log.h"

/* One request between its arrival and Redis's answer. */
struct reg_call {
    struct reg_call *prev, *next; /* the deadline-ordered list, while unanswered */
    registrar_t *reg;
    ipc_chan_t *ch; /* the channel it came on, while unanswered; NULL once it closed */
    uint64_t request_id;
    bool is_register;
    registrar_located_cb located; /* a lookup of registrar_lookup: its answer goes here */
    void *located_arg;
    bool answered;
    bool in_redis; /* Redis has yet to call back */
    bool linked;
    int64_t deadline_us; /* monotonic: answer 503 then */
    uint32_t cseq;
    char *aor;
    char *call_id;
};

struct registrar {
    worker_t *w;
    loc_t *loc;
    uv_timer_t timer; /* the first deadline; also the deferred drained check */
    bool timer_open;
    struct reg_call *head, *tail;
    unsigned in_redis;         /* calls Redis has not called back for */
    unsigned stalled;          /* of those, already answered 503 */
    int64_t redis_answered_us; /* monotonic: Redis's last callback */
    bool draining;
    bool stopping;
};

static uint32_t cfg_u32(const cfg_t *cfg, enum cfg_param p) {
    long v = cfg_int(cfg, p);
    return v < 0 ? 0 : v > (long)UINT32_MAX ? UINT32_MAX : (uint32_t)v;
}

void registrar_limits(const cfg_t *cfg, struct binding_limits *lim) {
    lim->default_expires = cfg_u32(cfg, CFG_register_default_expires);
    lim->min_expires = cfg_u32(cfg, CFG_register_min_expires);
    lim->max_expires = cfg_u32(cfg, CFG_register_max_expires);
}

/* ---- replies ---- */

/* Protobuf bindings pointing into a loc_result's bindings (which must outlive them). */
struct pb_bindings {
    Sb__Binding *items;
    Sb__Binding **ptrs;
    Sb__SipPeer *peers;
    char *(*paths)[BINDING_MAX_PATH]; /* each binding's Path values (into its record) */
    size_t n;
};

static int pb_bindings_fill(struct pb_bindings *pb, const struct loc_result *res, int64_t now_ms) {
    memset(pb, 0, sizeof *pb);
    if (res->n == 0)
        return 0;
    pb->items = calloc(res->n, sizeof *pb->items);
    pb->ptrs = calloc(res->n, sizeof *pb->ptrs);
    pb->peers = calloc(res->n, sizeof *pb->peers);
    pb->paths = calloc(res->n, sizeof *pb->paths);
    if (!pb->items || !pb->ptrs || !pb->peers || !pb->paths)
        return -ENOMEM;
    for (size_t i = 0; i < res->n; i++) {
        const struct binding *b = res->bindings[i];
        uint32_t left = binding_seconds_left(b, now_ms);
        if (left == 0)
            continue; /* lapsed while Redis answered */
        Sb__Binding *o = &pb->items[pb->n];
        Sb__SipPeer *peer = &pb->peers[pb->n];
        sb__binding__init(o);
        sb__sip_peer__init(peer);
        peer->transport = b->transport;
        peer->addr = b->addr;
        peer->port = b->port;
        peer->sipd_instance = b->sipd_instance;
        peer->local_addr = b->local_addr;
        peer->local_port = b->local_port;
        peer->conn_id = b->conn_id;
        bool path = b->path && b->path[0];
        /* RFC 3327: behind a Path the next hop is its first URI, not the REGISTER's source */
        peer->nated = b->nated && !path;
        peer->outbound = b->reg_id != 0 && !path; /* RFC 5626 5.3: its flow only */
        peer->instance = b->instance;
        peer->n_path = binding_path_split(b->path, peer->path = pb->paths[pb->n], BINDING_MAX_PATH);
        o->instance = b->instance;
        o->reg_id = b->reg_id;
        o->uri = b->uri;
        o->expires = left;
        o->q = b->q;
        o->call_id = b->call_id;
        o->cseq = b->cseq;
        o->user_agent = b->user_agent;
        o->source = peer;
        o->registered_at_ms = b->registered_at_ms;
        o->expires_at_ms = b->expires_at_ms;
        pb->ptrs[pb->n++] = o;
    }
    return 0;
}

static void pb_bindings_clear(struct pb_bindings *pb) {
    free(pb->items);
    free(pb->ptrs);
    free(pb->peers);
    free(pb->paths);
}

/* The ipc_reply_NAME helper of a reply body (lib/ipc.h), under one type. */
typedef int (*reply_fn)(ipc_chan_t *ch, const Sb__Envelope *req, const void *msg);

static int reply_register(ipc_chan_t *ch, const Sb__Envelope *req, const void *msg) {
    return ipc_reply_register_reply(ch, req, msg);
}

static int reply_location(ipc_chan_t *ch, const Sb__Envelope *req, const void *msg) {
    return ipc_reply_location_reply(ch, req, msg);
}

/* Sends msg with send as the answer to request id; when the bindings do not fit in one
 * envelope, keeps the best half until they do (they are in location order). */
static void send_reply(ipc_chan_t *ch, uint64_t id, reply_fn send, const void *msg,
                       const char *what, size_t *n_bindings) {
    Sb__Envelope req = SB__ENVELOPE__INIT;
    req.request_id = id;
    int rc = send(ch, &req, msg);
    size_t all = *n_bindings;
    while (rc == -EMSGSIZE && *n_bindings > 0) {
        *n_bindings /= 2;
        rc = send(ch, &req, msg);
    }
    if (*n_bindings < all)
        log_ratelimited(LOG_WARN, "reply cut to %zu of %zu bindings to fit ipc_max_message",
                        *n_bindings, all);
    if (rc < 0)
        log_ratelimited(LOG_WARN, "cannot send a %s: %s", what, strerror(-rc));
}

static const char *status_reason(uint32_t status) {
    switch (status) {
    case 200:
        return "OK";
    case 400:
        return "Bad Request";
    case 404:
        return "Not Found";
    case 423:
        return "Interval Too Brief";
    case 500:
        return "Server Internal Error";
    default:
        return "Service Unavailable";
    }
}

/* One answer: status (reason NULL: the usual phrase), 423's Min-Expires, and for 200 the
 * bindings of res. ch NULL: the channel closed, nothing is sent. A lookup's answer goes
 * to located (with ch, even NULL) instead of being sent. */
static void answer(ipc_chan_t *ch, uint64_t id, bool is_register, uint32_t status,
                   const char *reason, uint32_t min_expires, const struct loc_result *res,
                   registrar_located_cb located, void *located_arg) {
    struct pb_bindings pb = {0};
    if (status == 200 && res && pb_bindings_fill(&pb, res, clock_wall_us() / 1000) < 0) {
        status = 500;
        reason = "Out of memory";
        pb_bindings_clear(&pb);
        memset(&pb, 0, sizeof pb);
    }
    if (!is_register && status == 200 && pb.n == 0)
        status = 404; /* no live binding */
    if (is_register && ch) {
        Sb__RegisterReply rr = SB__REGISTER_REPLY__INIT;
        rr.status = status;
        rr.reason = (char *)(reason ? reason : status_reason(status));
        rr.min_expires = status == 423 ? min_expires : 0;
        rr.retry_after = status == 503 ? REGISTRAR_RETRY_AFTER_S : 0;
        rr.n_bindings = pb.n;
        rr.bindings = pb.ptrs;
        send_reply(ch, id, reply_register, &rr, "register_reply", &rr.n_bindings);
    } else if (!is_register) {
        Sb__LocationReply lr = SB__LOCATION_REPLY__INIT;
        lr.status = status;
        lr.n_bindings = pb.n;
        lr.bindings = pb.ptrs;
        if (located)
            located(ch, &lr, located_arg);
        else if (ch)
            send_reply(ch, id, reply_location, &lr, "location_reply", &lr.n_bindings);
    }
    pb_bindings_clear(&pb);
}

/* Every answer passes here once: counted (REGISTERs) and logged at debug. */
static void note_answer(registrar_t *reg, bool is_register, const char *aor, const char *call_id,
                        uint32_t cseq, uint32_t status, const char *why, bool sent) {
    if (is_register) {
        shm_count(reg->w->slot, SHM_C_registers, 1);
        if (status != 200)
            shm_count(reg->w->slot, SHM_C_registers_failed, 1);
    }
    if (log_get_level() > LOG_DEBUG)
        return;
    if (is_register)
        log_call(LOG_DEBUG, call_id, "REGISTER %s cseq %u: %u%s%s%s", aor ? aor : "", cseq, status,
                 why ? " (" : "", why ? why : "", why ? ")" : "");
    else
        log_call(LOG_DEBUG, call_id, "location %s: %u%s%s%s", aor ? aor : "", status,
                 why ? " (" : "", why ? why : "", why ? ")" : "");
    if (!sent)
        log_call(LOG_DEBUG, call_id, "the requester's channel closed: answer dropped");
}

/* ---- calls in flight ---- */

static void timer_arm(registrar_t *reg);

static void reg_maybe_free(registrar_t *reg) {
    if (!reg->stopping || reg->timer_open || reg->in_redis)
        return;
    loc_free(reg->loc);
    free(reg);
}

static void call_free(struct reg_call *c) {
    free(c->aor);
    free(c->call_id);
    free(c);
}

static void call_link(registrar_t *reg, struct reg_call *c) {
    struct reg_call *at = reg->tail; /* deadlines only grow, but a reload may shorten them */
    while (at && at->deadline_us > c->deadline_us)
        at = at->prev;
    c->prev = at;
    c->next = at ? at->next : reg->head;
    if (c->next)
        c->next->prev = c;
    else
        reg->tail = c;
    if (at)
        at->next = c;
    else
        reg->head = c;
    c->linked = true;
}

static void call_unlink(registrar_t *reg, struct reg_call *c) {
    if (!c->linked)
        return;
    if (c->prev)
        c->prev->next = c->next;
    else
        reg->head = c->next;
    if (c->next)
        c->next->prev = c->prev;
    else
        reg->tail = c->prev;
    c->prev = c->next = NULL;
    c->linked = false;
}

/* The call has had its one answer: forget its channel; free it unless Redis owes a
 * callback (then it counts as stalled until that comes). */
static void call_answered(struct reg_call *c) {
    registrar_t *reg = c->reg;
    c->answered = true;
    call_unlink(reg, c);
    c->ch = NULL;
    if (c->in_redis)
        reg->stalled++;
    else
        call_free(c);
}

/* Answers c with a status (no bindings) and finishes it. */
static void call_fail(struct reg_call *c, uint32_t status, const char *reason, const char *why) {
    ipc_chan_t *ch = c->ch;
    answer(ch, c->request_id, c->is_register, status, reason, 0, NULL, c->located, c->located_arg);
    note_answer(c->reg, c->is_register, c->aor, c->call_id, c->cseq, status, why, ch != NULL);
    call_answered(c);
}

const char *registrar_shed(unsigned stalled, unsigned in_redis, int64_t silent_us,
                           long timeout_ms) {
    /* Stuck, not just behind: it owes answers past their deadline and has said nothing
     * for a quarter of the timeout. Behind but answering, it sheds what is late by itself
     * (the script's deadline), so requests keep queueing. */
    if (stalled && silent_us >= (int64_t)timeout_ms * 1000 / 4)
        return "redis has not answered earlier requests";
    if (in_redis >= REGISTRAR_MAX_IN_REDIS)
        return "too many requests waiting for redis";
    return NULL;
}

/* A new call for a request that came on ch, or NULL with why (answer 503 at once). */
static struct reg_call *call_new(registrar_t *reg, ipc_chan_t *ch, uint64_t id, bool is_register,
                                 const char *aor, const char *call_id, uint32_t cseq,
                                 long max_wait_ms, const char **why) {
    if (reg->stopping) {
        *why = "stopping";
        return NULL;
    }
    if (!rds_context(reg->w->redis)) {
        *why = "redis is down";
        return NULL;
    }
    long timeout_ms = cfg_time_ms(reg->w->cfg, CFG_register_timeout);
    *why = registrar_shed(reg->stalled, reg->in_redis, clock_mono_us() - reg->redis_answered_us,
                          timeout_ms);
    if (*why)
        return NULL;
    struct reg_call *c = calloc(1, sizeof *c);
    if (!c || !(c->aor = strdup(aor ? aor : "")) ||
        !(c->call_id = strdup(call_id ? call_id : ""))) {
        if (c)
            call_free(c);
        *why = "out of memory";
        return NULL;
    }
    c->reg = reg;
    c->request_id = id;
    c->is_register = is_register;
    c->cseq = cseq;
    /* sipd waits register_timeout for us: answer a little before, so our 503 (with its
     * retry_after) reaches it rather than its own timeout. */
    long wait_ms = timeout_ms - timeout_ms / 8;
    if (max_wait_ms > 0 && wait_ms > max_wait_ms)
        wait_ms = max_wait_ms;
    c->deadline_us = clock_mono_us() + (int64_t)wait_ms * 1000;
    c->ch = ch; /* registrar_peer_closed clears it if the requester goes first */
    return c;
}

/* The request is in Redis's hands now: wait for it (or the deadline). */
static void call_wait(struct reg_call *c) {
    registrar_t *reg = c->reg;
    c->in_redis = true;
    reg->in_redis++;
    call_link(reg, c);
    timer_arm(reg);
}

/* Redis called back for c. True when c was already answered (then it is freed here). */
static bool call_redis_done(struct reg_call *c) {
    registrar_t *reg = c->reg;
    reg->redis_answered_us = clock_mono_us();
    c->in_redis = false;
    reg->in_redis--;
    if (!c->answered)
        return false;
    reg->stalled--;
    call_free(c);
    timer_arm(reg);
    reg_maybe_free(reg);
    return true;
}

static void call_finish(struct reg_call *c, uint32_t status, const char *reason,
                        const struct loc_result *res, const char *why) {
    registrar_t *reg = c->reg;
    ipc_chan_t *ch = c->ch;
    answer(ch, c->request_id, c->is_register, status, reason, 0, res, c->located, c->located_arg);
    note_answer(reg, c->is_register, c->aor, c->call_id, c->cseq,
                !c->is_register && status == 200 && (!res || res->n == 0) ? 404 : status, why,
                ch != NULL);
    call_answered(c);
    timer_arm(reg);
}

static void register_done(const struct loc_result *res, void *arg) {
    struct reg_call *c = arg;
    if (call_redis_done(c))
        return;
    switch (res->status) {
    case LOC_OK:
        call_finish(c, 200, NULL, res, NULL);
        break;
    case LOC_STALE:
        /* RFC 3261 10.3 steps 6-7: same Call-ID, CSeq not higher: nothing changed. */
        call_finish(c, 500, "Out of order", NULL, res->detail);
        break;
    case LOC_LATE:
        call_finish(c, 503, NULL, NULL, "redis ran it after its deadline");
        break;
    case LOC_TOO_MANY:
        /* Kamailio's registrar answers max_contacts the same way */
        call_finish(c, 503, "Too Many Registered Contacts", NULL, "register_max_contacts");
        break;
    case LOC_FAILED:
        log_call_ratelimited(LOG_WARN, c->call_id, "registrar: redis failed a REGISTER: %s",
                             res->detail);
        call_finish(c, 503, NULL, NULL, res->detail);
        break;
    }
}

static void locate_done(const struct loc_result *res, void *arg) {
    struct reg_call *c = arg;
    if (call_redis_done(c))
        return;
    if (res->status == LOC_OK) {
        call_finish(c, 200, NULL, res, NULL);
    } else {
        log_call_ratelimited(LOG_WARN, c->call_id, "registrar: redis failed a location lookup: %s",
                             res->detail);
        call_finish(c, 503, NULL, NULL, res->detail);
    }
}

static void timer_cb(uv_timer_t *t) {
    registrar_t *reg = t->data;
    int64_t now = clock_mono_us();
    while (reg->head && reg->head->deadline_us <= now) {
        log_call_ratelimited(LOG_WARN, reg->head->call_id,
                             "registrar: redis did not answer within register_timeout");
        call_fail(reg->head, 503, NULL, "redis timeout");
    }
    timer_arm(reg);
    if (reg->draining && !reg->head && !reg->stopping)
        worker_drained(reg->w); /* last: it stops the worker */
}

static void timer_arm(registrar_t *reg) {
    if (!reg->timer_open || reg->stopping)
        return;
    if (reg->head) {
        int64_t wait_us = reg->head->deadline_us - clock_mono_us();
        uv_timer_start(&reg->timer, timer_cb, wait_us > 0 ? (uint64_t)(wait_us + 999) / 1000 : 0,
                       0);
    } else if (reg->draining && !reg->stopping) {
        uv_timer_start(&reg->timer, timer_cb, 0, 0); /* drained: say so outside callbacks */
    } else {
        uv_timer_stop(&reg->timer);
    }
}

/* ---- requests ---- */

void registrar_register(registrar_t *reg, ipc_chan_t *ch, const Sb__Envelope *env) {
    const Sb__RegisterRequest *rq = env->register_request;
    if (!env->request_id) {
        log_ratelimited(LOG_WARN, "registrar: a register request without request id: dropped");
        return;
    }
    struct binding_limits lim;
    struct binding_plan plan;
    registrar_limits(reg->w->cfg, &lim);
    if (binding_plan_make(rq, &lim, &plan) < 0) {
        answer(ch, env->request_id, true, 500, "Out of memory", 0, NULL, NULL, NULL);
        note_answer(reg, true, rq->aor, rq->call_id, rq->cseq, 500, "out of memory", true);
        return;
    }
    if (plan.status) {
        answer(ch, env->request_id, true, plan.status, plan.reason, plan.min_expires, NULL, NULL,
               NULL);
        note_answer(reg, true, rq->aor, rq->call_id, rq->cseq, plan.status, plan.reason, true);
        binding_plan_clear(&plan);
        return;
    }
    const char *why = NULL;
    char *path = binding_path_join(rq->path, rq->n_path);
    struct reg_call *c =
        path ? call_new(reg, ch, env->request_id, true, rq->aor, rq->call_id, rq->cseq, 0, &why)
             : NULL;
    if (!path)
        why = "out of memory";
    if (c) {
        int64_t now_ms = clock_wall_us() / 1000;
        int64_t timeout_ms = cfg_time_ms(reg->w->cfg, CFG_register_timeout);
        struct loc_register_args a = {
            .aor = rq->aor,
            .node_id = cfg_str(reg->w->cfg, CFG_node_id),
            .call_id = rq->call_id,
            .cseq = rq->cseq,
            .user_agent = rq->user_agent,
            .source = rq->source,
            .path = path,
            .flow_gone = rq->flow_gone,
            .now_ms = now_ms,
            /* Past 3/4 of the timeout Redis changes nothing: its answer could come after
             * our 503, and a 503 must mean "nothing happened". */
            .deadline_ms = now_ms + timeout_ms - timeout_ms / 4,
            .max_bindings = (uint32_t)cfg_int(reg->w->cfg, CFG_register_max_contacts),
        };
        int rc = loc_register(reg->loc, &a, &plan, register_done, c);
        if (rc == 0) {
            call_wait(c);
        } else {
            why = rc == -EAGAIN ? "redis is down" : strerror(-rc);
            c->ch = NULL;
            call_free(c);
            c = NULL;
        }
    }
    if (!c) {
        answer(ch, env->request_id, true, 503, NULL, 0, NULL, NULL, NULL);
        note_answer(reg, true, rq->aor, rq->call_id, rq->cseq, 503, why, true);
    }
    free(path);
    binding_plan_clear(&plan);
}

/* A lookup of aor for request id on ch (for the call of call_id, NULL none): answered
 * with a LocationReply, or handed to located when it is set. */
static void locate(registrar_t *reg, ipc_chan_t *ch, uint64_t id, const char *aor,
                   const char *call_id, long max_wait_ms, registrar_located_cb located,
                   void *located_arg) {
    /* Noted before the answer: located may free aor and call_id. */
    if (!aor || !aor[0]) {
        note_answer(reg, false, aor, call_id, 0, 404, "no AOR", ch != NULL);
        answer(ch, id, false, 404, NULL, 0, NULL, located, located_arg);
        return;
    }
    const char *why = NULL;
    struct reg_call *c = call_new(reg, ch, id, false, aor, call_id, 0, max_wait_ms, &why);
    if (c) {
        c->located = located;
        c->located_arg = located_arg;
        int rc = loc_lookup(reg->loc, aor, clock_wall_us() / 1000, locate_done, c);
        if (rc == 0) {
            call_wait(c);
            return;
        }
        why = rc == -EAGAIN ? "redis is down" : strerror(-rc);
        c->ch = NULL;
        call_free(c);
    }
    note_answer(reg, false, aor, call_id, 0, 503, why, ch != NULL);
    answer(ch, id, false, 503, NULL, 0, NULL, located, located_arg);
}

void registrar_locate(registrar_t *reg, ipc_chan_t *ch, const Sb__Envelope *env) {
    if (!env->request_id) {
        log_ratelimited(LOG_WARN, "registrar: a location request without request id: dropped");
        return;
    }
    locate(reg, ch, env->request_id, env->location_request->aor, env->location_request->call_id, 0,
           NULL, NULL);
}

void registrar_lookup(registrar_t *reg, ipc_chan_t *ch, const char *aor, const char *call_id,
                      long max_wait_ms, registrar_located_cb located, void *arg) {
    locate(reg, ch, 0, aor, call_id, max_wait_ms, located, arg);
}

/* ---- lifecycle ---- */

registrar_t *registrar_new(worker_t *w) {
    registrar_t *reg = calloc(1, sizeof *reg);
    if (!reg)
        return NULL;
    reg->w = w;
    reg->loc = loc_new(w->redis);
    if (!reg->loc) {
        free(reg);
        return NULL;
    }
    uv_timer_init(w->loop, &reg->timer);
    reg->timer.data = reg;
    reg->timer_open = true;
    if (rds_is_up(w->redis))
        loc_link_up(reg->loc);
    return reg;
}

void registrar_redis_state(registrar_t *reg, bool up) {
    if (up && !reg->stopping)
        loc_link_up(reg->loc);
}

void registrar_drain(registrar_t *reg) {
    reg->draining = true;
    timer_arm(reg);
}

static void timer_closed(uv_handle_t *h) {
    registrar_t *reg = h->data;
    reg->timer_open = false;
    reg_maybe_free(reg);
}

void registrar_stop(registrar_t *reg) {
    if (reg->stopping)
        return;
    reg->stopping = true;
    while (reg->head)
        call_fail(reg->head, 503, NULL, "shutting down");
    uv_timer_stop(&reg->timer);
    uv_close((uv_handle_t *)&reg->timer, timer_closed);
}

void registrar_peer_closed(registrar_t *reg, ipc_chan_t *ch) {
    for (struct reg_call *c = reg->head; c; c = c->next)
        if (c->ch == ch)
            c->ch = NULL; /* answered later into the void: counted, not sent */
}
