/* call - see call.h */
#include "call.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hash.h"
#include "rand.h"

static const char *const state_records[] = {
#define CALL_STATE_RECORD(name, record) record,
    CALL_STATES(CALL_STATE_RECORD)
#undef CALL_STATE_RECORD
};

static const char *const state_names[] = {
#define CALL_STATE_NAME(name, record) #name,
    CALL_STATES(CALL_STATE_NAME)
#undef CALL_STATE_NAME
};

const char *call_state_record(enum call_state s) {
    return (unsigned)s < CS_COUNT ? state_records[s] : "?";
}

const char *call_state_name(enum call_state s) {
    return (unsigned)s < CS_COUNT ? state_names[s] : "?";
}

bool call_established(const struct call *c) {
    return c->state >= CS_ANSWERED && c->state <= CS_MOVING;
}

uint32_t call_next_cseq(struct call *c, int n) {
    return ++c->leg[n].local_cseq;
}

int call_random_hex(char *out, size_t cap) {
    return sb_random_hex(out, cap, 8);
}

int64_t call_wall_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

b2b_t *b2b_new(uv_loop_t *loop, const struct b2b_io *io, struct shm_proc *slot,
               struct shm_stats *stats, int instance) {
    b2b_t *b = calloc(1, sizeof *b);
    if (!b)
        return NULL;
    b->loop = loop;
    b->io = *io;
    b->slot = slot;
    b->stats = stats;
    b->instance = instance;
    return b;
}

void b2b_release(b2b_t *b) {
    if (b->closing && b->redis_pending == 0 && b->requests_pending == 0)
        free(b);
}

void call_teardown_add(b2b_t *b, call_teardown_fn fn) {
    if (b->nteardown < CALL_MAX_TEARDOWNS)
        b->teardown[b->nteardown++] = fn;
}

/* ---------------------------------------------------------------- the table */

static uint32_t bucket(const char *call_id) {
    return sb_hash32_str(call_id) % CALL_BUCKETS;
}

struct call *call_find(b2b_t *b, uint64_t id) {
    for (struct call *c = b->by_id[id % CALL_BUCKETS]; c; c = c->next_id)
        if (c->id == id)
            return c;
    return NULL;
}

struct call *call_find_cid(b2b_t *b, const char *call_id, int *leg) {
    if (!call_id)
        return NULL;
    uint32_t h = bucket(call_id);
    for (int n = 0; n < 2; n++)
        for (struct call *c = b->by_cid[n][h]; c; c = c->next_cid[n])
            if (c->leg[n].call_id && strcmp(c->leg[n].call_id, call_id) == 0) {
                *leg = n;
                return c;
            }
    return NULL;
}

struct call *call_find_held(b2b_t *b, const char *call_id) {
    for (size_t i = 0; call_id && i < CALL_BUCKETS; i++)
        for (struct call *c = b->by_id[i]; c; c = c->next_id)
            if (c->held.call_id && strcmp(c->held.call_id, call_id) == 0)
                return c;
    return NULL;
}

void call_link(b2b_t *b, struct call *c, int n) {
    if (!c->leg[n].call_id || !*c->leg[n].call_id)
        return;
    uint32_t h = bucket(c->leg[n].call_id);
    c->next_cid[n] = b->by_cid[n][h];
    b->by_cid[n][h] = c;
}

void call_unlink(b2b_t *b, struct call *c, int n) {
    if (!c->leg[n].call_id)
        return;
    for (struct call **pp = &b->by_cid[n][bucket(c->leg[n].call_id)]; *pp; pp = &(*pp)->next_cid[n])
        if (*pp == c) {
            *pp = c->next_cid[n];
            c->next_cid[n] = NULL;
            return;
        }
}

void call_each(b2b_t *b, void (*fn)(b2b_t *b, struct call *c, void *arg), void *arg) {
    for (size_t i = 0; i < CALL_BUCKETS; i++)
        for (struct call *c = b->by_id[i], *next; c; c = next) {
            next = c->next_id;
            fn(b, c, arg);
        }
}

/* ---------------------------------------------------------------- lifetime */

static void call_closed(uv_handle_t *h) {
    free(h->data);
}

struct call *call_new(b2b_t *b) {
    struct call *c = calloc(1, sizeof *c);
    char tag[24];
    if (!c || call_random_hex(tag, sizeof tag) < 0 || !dlg_set(&c->leg[LEG_A].local_tag, tag)) {
        if (c)
            free(c->leg[LEG_A].local_tag);
        free(c);
        return NULL;
    }
    c->b2b = b;
    c->leg[LEG_A].role = DLG_UAS;
    c->leg[LEG_B].role = DLG_UAC;
    c->leg[LEG_B].local_cseq = 1;
    c->winner = -1;
    c->media_instance = -1;
    c->media_avoid = -1;
    c->created_ms = call_wall_ms();
    uv_timer_init(b->loop, &c->dial_timer);
    c->dial_timer.data = c;
    c->id = ++b->next_id & ((1ULL << 47) - 1);
    c->next_id = b->by_id[c->id % CALL_BUCKETS];
    b->by_id[c->id % CALL_BUCKETS] = c;
    b->ncalls++;
    shm_gauge(b->slot, SHM_C_calls_active, b->ncalls);
    return c;
}

void call_free(b2b_t *b, struct call *c) {
    for (size_t i = 0; i < b->nteardown; i++)
        b->teardown[i](b, c);
    uv_timer_stop(&c->dial_timer);
    for (struct call **pp = &b->by_id[c->id % CALL_BUCKETS]; *pp; pp = &(*pp)->next_id)
        if (*pp == c) {
            *pp = c->next_id;
            break;
        }
    call_unlink(b, c, LEG_A);
    call_unlink(b, c, LEG_B);
    dlg_clear(&c->leg[LEG_A]);
    dlg_clear(&c->leg[LEG_B]);
    dlg_clear(&c->held);
    free(c->destination);
    free(c->caller_id);
    free(c->content_type);
    for (size_t i = 0; i < c->nactions; i++) {
        free(c->actions[i].aor);
        free(c->actions[i].uri);
        free(c->actions[i].file);
        for (unsigned k = 0; k < c->actions[i].ncontacts; k++)
        {
            free(c->actions[i].contacts[k]);
            dlg_peer_free(&c->actions[i].hops[k]);
        }
    }
    free(c->actions);
    for (unsigned i = 0; i < c->nforks; i++) {
        free(c->forks[i].call_id);
        free(c->forks[i].from_tag);
        free(c->forks[i].target);
        dlg_peer_free(&c->forks[i].hop);
    }
    dlg_blob_free(&c->b_ack_sdp);
    dlg_blob_free(&c->a_local);
    uv_close((uv_handle_t *)&c->dial_timer, call_closed);
    b->ncalls--;
    shm_gauge(b->slot, SHM_C_calls_active, b->ncalls);
}

/* ---------------------------------------------------------------- requests */

struct call_wait {
    b2b_t *b;
    uint64_t call;
    call_reply_fn fn;
    void *arg;
    void (*on_orphan)(ipc_chan_t *ch, Sb__Envelope *env, uint64_t call_id);
};

static void call_answered(ipc_chan_t *ch, Sb__Envelope *env, void *arg) {
    struct call_wait w = *(struct call_wait *)arg;
    free(arg);
    w.b->requests_pending--;
    if (w.b->closing) { /* the calls are gone: the b2b goes after the last answer */
        free(w.arg);
        b2b_release(w.b);
        return;
    }
    struct call *c = call_find(w.b, w.call);
    if (c)
        w.fn(w.b, c, ch, env, w.arg);
    else if (w.on_orphan)
        w.on_orphan(ch, env, w.call);
    free(w.arg);
}

bool call_request(b2b_t *b, struct call *c, ipc_chan_t *ch, Sb__Envelope *env, uint32_t timeout_ms,
                  call_reply_fn fn, void *arg,
                  void (*on_orphan)(ipc_chan_t *ch, Sb__Envelope *env, uint64_t call_id)) {
    struct call_wait *w = ch ? malloc(sizeof *w) : NULL;
    if (!w) {
        free(arg);
        return false;
    }
    *w = (struct call_wait){b, c->id, fn, arg, on_orphan};
    if (ipc_request(ch, env, call_answered, w, timeout_ms) < 0) {
        free(w);
        free(arg);
        return false;
    }
    b->requests_pending++;
    return true;
}
