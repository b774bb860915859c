/* transaction - see transaction.h */
#include "transaction.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "hash.h"
#include "log.h"

#define TXN_MAGIC_COOKIE "z9hG4bK"
#define TXN_NO_TIMER UINT32_MAX

struct txn_table {
    uv_loop_t *loop;
    uv_timer_t timer;
    struct txn_timers timers;
    struct txn_hooks hooks;
    void *arg;
    struct shm_proc *slot;
    struct txn **by_key, **by_merge, **by_id; /* hash buckets, mask + 1 of each */
    uint64_t id_base, id_seq;
    uint32_t mask;
    size_t count, busy;
    struct txn **heap; /* min-heap on timer_ms */
    size_t heap_len, heap_cap;
    bool closing;
};

/* ---------------------------------------------------------------- keys */

static void put_lower(struct sipmsg_out *o, struct sipmsg_str s) {
    for (size_t i = 0; i < s.len; i++) {
        char c = (char)tolower((unsigned char)s.ptr[i]);
        sipmsg_out_put(o, &c, 1);
    }
}

static void put_sent_by(struct sipmsg_out *o, const sipmsg_t *m) {
    put_lower(o, m->via.host);
    sipmsg_out_put(o, ":", 1);
    sipmsg_out_putu(o, (unsigned)(m->via.port ? m->via.port : 5060));
}

int txn_key(const sipmsg_t *m, enum sipmsg_method method, char *out, size_t cap) {
    struct sipmsg_out o = {out, cap, 0, false};
    if (method == SIPMSG_M_UNKNOWN)
        method = m->method_id;
    if (method == SIPMSG_M_ACK)
        method = SIPMSG_M_INVITE;
    const char *name = method != SIPMSG_M_UNKNOWN ? sipmsg_method_name(method) : NULL;
    const struct sipmsg_str b = m->via.branch;
    if (b.len >= 7 && memcmp(b.ptr, TXN_MAGIC_COOKIE, 7) == 0) {
        /* RFC 3261 17.2.3: branch, sent-by, method. Call-ID and CSeq number too, equal in
         * every copy of a request, its ACK and its CANCEL: a client that reuses a branch
         * for another request (RFC 4475's messages do) starts a new transaction. */
        sipmsg_out_put(&o, "3 ", 2);
        sipmsg_out_put(&o, b.ptr, b.len);
        sipmsg_out_put(&o, " ", 1);
        put_sent_by(&o, m);
        sipmsg_out_put(&o, " ", 1);
        sipmsg_out_put(&o, m->call_id.ptr, m->call_id.len);
        sipmsg_out_put(&o, " ", 1);
        sipmsg_out_putu(&o, m->cseq);
    } else {
        /* RFC 2543 matching: Request-URI, From tag, Call-ID, CSeq number, top Via */
        sipmsg_out_put(&o, "2 ", 2);
        sipmsg_out_put(&o, m->uri.ptr, m->uri.len);
        sipmsg_out_put(&o, " ", 1);
        sipmsg_out_put(&o, m->from_tag.ptr, m->from_tag.len);
        sipmsg_out_put(&o, " ", 1);
        sipmsg_out_put(&o, m->call_id.ptr, m->call_id.len);
        sipmsg_out_put(&o, " ", 1);
        sipmsg_out_putu(&o, m->cseq);
        sipmsg_out_put(&o, " ", 1);
        put_sent_by(&o, m);
        sipmsg_out_put(&o, " ", 1);
        sipmsg_out_put(&o, b.ptr, b.len);
    }
    sipmsg_out_put(&o, " ", 1);
    if (name)
        sipmsg_out_puts(&o, name);
    else
        sipmsg_out_put(&o, m->method.ptr, m->method.len);
    return o.full ? -ENOSPC : (int)o.len;
}

int txn_client_key(const char *branch, size_t branch_len, const char *method, size_t method_len,
                   char *out, size_t cap) {
    struct sipmsg_out o = {out, cap, 0, false};
    sipmsg_out_put(&o, "C ", 2);
    sipmsg_out_put(&o, branch, branch_len);
    sipmsg_out_put(&o, " ", 1);
    /* RFC 3261 17.1.3: the CANCEL of an INVITE has its branch; an ACK has no answer */
    sipmsg_out_put(&o, method, method_len);
    return o.full ? -ENOSPC : (int)o.len;
}

int txn_merge_key(const sipmsg_t *m, enum sipmsg_method method, char *out, size_t cap) {
    struct sipmsg_out o = {out, cap, 0, false};
    sipmsg_out_put(&o, m->from_tag.ptr, m->from_tag.len);
    sipmsg_out_put(&o, " ", 1);
    sipmsg_out_put(&o, m->call_id.ptr, m->call_id.len);
    sipmsg_out_put(&o, " ", 1);
    sipmsg_out_putu(&o, m->cseq);
    sipmsg_out_put(&o, " ", 1);
    if (method != SIPMSG_M_UNKNOWN)
        sipmsg_out_puts(&o, sipmsg_method_name(method));
    else
        sipmsg_out_put(&o, m->method.ptr, m->method.len);
    return o.full ? -ENOSPC : (int)o.len;
}

/* ---------------------------------------------------------------- heap */

static bool heap_less(const struct txn *a, const struct txn *b) {
    return a->timer_ms < b->timer_ms;
}

static void heap_set(txn_table_t *tb, size_t i, struct txn *t) {
    tb->heap[i] = t;
    t->heap_index = (uint32_t)i;
}

static void heap_up(txn_table_t *tb, size_t i) {
    struct txn *t = tb->heap[i];
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!heap_less(t, tb->heap[parent]))
            break;
        heap_set(tb, i, tb->heap[parent]);
        i = parent;
    }
    heap_set(tb, i, t);
}

static void heap_down(txn_table_t *tb, size_t i) {
    struct txn *t = tb->heap[i];
    for (;;) {
        size_t child = 2 * i + 1;
        if (child >= tb->heap_len)
            break;
        if (child + 1 < tb->heap_len && heap_less(tb->heap[child + 1], tb->heap[child]))
            child++;
        if (!heap_less(tb->heap[child], t))
            break;
        heap_set(tb, i, tb->heap[child]);
        i = child;
    }
    heap_set(tb, i, t);
}

static void heap_remove(txn_table_t *tb, struct txn *t) {
    if (t->heap_index == TXN_NO_TIMER)
        return;
    size_t i = t->heap_index;
    struct txn *last = tb->heap[--tb->heap_len];
    t->heap_index = TXN_NO_TIMER;
    if (last == t)
        return;
    heap_set(tb, i, last);
    heap_up(tb, i);
    heap_down(tb, last->heap_index);
}

static void table_timer_cb(uv_timer_t *h);

static void arm(txn_table_t *tb) {
    if (tb->closing)
        return;
    if (tb->heap_len == 0) {
        uv_timer_stop(&tb->timer);
        return;
    }
    uint64_t now = uv_now(tb->loop), at = tb->heap[0]->timer_ms;
    uv_timer_start(&tb->timer, table_timer_cb, at > now ? at - now : 0, 0);
}

/* Arms t's timer at at (ms, loop time); false when out of memory. */
static bool schedule(txn_table_t *tb, struct txn *t, uint64_t at) {
    bool was_first = tb->heap_len && tb->heap[0] == t;
    heap_remove(tb, t);
    if (tb->heap_len == tb->heap_cap) {
        size_t cap = tb->heap_cap ? 2 * tb->heap_cap : 256;
        struct txn **heap = realloc(tb->heap, cap * sizeof *heap);
        if (!heap)
            return false;
        tb->heap = heap;
        tb->heap_cap = cap;
    }
    t->timer_ms = at;
    tb->heap[tb->heap_len] = t;
    t->heap_index = (uint32_t)tb->heap_len++;
    heap_up(tb, t->heap_index);
    if (was_first || tb->heap[0] == t)
        arm(tb);
    return true;
}

/* ---------------------------------------------------------------- table */

static bool is_busy(const struct txn *t) {
    return t->state == TXN_TRYING || t->state == TXN_PROCEEDING ||
           (t->invite && !t->client && t->state == TXN_COMPLETED) ||
           (!t->client && t->state == TXN_ACCEPTED && !t->acked);
}

/* Every state change goes through here, for the busy count. */
static void set_state(txn_table_t *tb, struct txn *t, enum txn_state state) {
    bool was = is_busy(t);
    t->state = state;
    bool now = is_busy(t);
    if (was && !now) {
        tb->busy--;
        if (tb->busy == 0 && tb->hooks.idle && !tb->closing)
            tb->hooks.idle(tb->arg);
    } else if (!was && now) {
        tb->busy++;
    }
}

txn_table_t *txn_table_new(uv_loop_t *loop, const struct txn_timers *timers,
                           const struct txn_hooks *hooks, void *arg, struct shm_proc *slot,
                           uint64_t id_base) {
    txn_table_t *tb = calloc(1, sizeof *tb);
    if (!tb)
        return NULL;
    tb->mask = 1023;
    tb->by_key = calloc(tb->mask + 1, sizeof *tb->by_key);
    tb->by_merge = calloc(tb->mask + 1, sizeof *tb->by_merge);
    tb->by_id = calloc(tb->mask + 1, sizeof *tb->by_id);
    if (!tb->by_key || !tb->by_merge || !tb->by_id) {
        free(tb->by_key);
        free(tb->by_merge);
        free(tb->by_id);
        free(tb);
        return NULL;
    }
    tb->id_base = id_base;
    tb->loop = loop;
    tb->timers = *timers;
    tb->hooks = *hooks;
    tb->arg = arg;
    tb->slot = slot;
    uv_timer_init(loop, &tb->timer);
    tb->timer.data = tb;
    shm_gauge(slot, SHM_C_sip_txn_active, 0);
    return tb;
}

void txn_table_set_timers(txn_table_t *tb, const struct txn_timers *timers) {
    tb->timers = *timers;
}

size_t txn_count(const txn_table_t *tb) {
    return tb->count;
}

size_t txn_busy(const txn_table_t *tb) {
    return tb->busy;
}

/* Doubles the buckets when there are more transactions than buckets. */
static void maybe_grow(txn_table_t *tb) {
    if (tb->count <= tb->mask || tb->mask >= (1u << 26))
        return;
    uint32_t mask = tb->mask * 2 + 1;
    struct txn **by_key = calloc((size_t)mask + 1, sizeof *by_key);
    struct txn **by_merge = calloc((size_t)mask + 1, sizeof *by_merge);
    struct txn **by_id = calloc((size_t)mask + 1, sizeof *by_id);
    if (!by_key || !by_merge || !by_id) { /* keep the old, longer chains */
        free(by_key);
        free(by_merge);
        free(by_id);
        return;
    }
    for (uint32_t b = 0; b <= tb->mask; b++) {
        for (struct txn *t = tb->by_key[b], *next; t; t = next) {
            next = t->next_key;
            t->next_key = by_key[t->key_hash & mask];
            by_key[t->key_hash & mask] = t;
        }
        for (struct txn *t = tb->by_merge[b], *next; t; t = next) {
            next = t->next_merge;
            t->next_merge = by_merge[t->merge_hash & mask];
            by_merge[t->merge_hash & mask] = t;
        }
        for (struct txn *t = tb->by_id[b], *next; t; t = next) {
            next = t->next_id;
            t->next_id = by_id[t->id & mask];
            by_id[t->id & mask] = t;
        }
    }
    free(tb->by_key);
    free(tb->by_merge);
    free(tb->by_id);
    tb->by_key = by_key;
    tb->by_merge = by_merge;
    tb->by_id = by_id;
    tb->mask = mask;
}

struct txn *txn_find(txn_table_t *tb, const char *key, size_t key_len) {
    uint32_t h = sb_hash32(key, key_len);
    for (struct txn *t = tb->by_key[h & tb->mask]; t; t = t->next_key)
        if (t->key_hash == h && t->key_len == key_len && memcmp(t->keys, key, key_len) == 0)
            return t;
    return NULL;
}

struct txn *txn_find_merged(txn_table_t *tb, const char *merge_key, size_t merge_len) {
    uint32_t h = sb_hash32(merge_key, merge_len);
    for (struct txn *t = tb->by_merge[h & tb->mask]; t; t = t->next_merge)
        if (t->merge_hash == h && t->merge_len == merge_len &&
            memcmp(t->keys + t->key_len, merge_key, merge_len) == 0)
            return t;
    return NULL;
}

struct txn *txn_find_id(txn_table_t *tb, uint64_t id) {
    for (struct txn *t = tb->by_id[id & tb->mask]; t; t = t->next_id)
        if (t->id == id)
            return t;
    return NULL;
}

bool txn_has_branch(const struct txn *t, struct sipmsg_str branch) {
    /* the key of txn_key: "3 <branch> <sent-by> ..." */
    return !t->client && t->key_len > branch.len + 2 && memcmp(t->keys, "3 ", 2) == 0 &&
           memcmp(t->keys + 2, branch.ptr, branch.len) == 0 && t->keys[2 + branch.len] == ' ';
}

void txn_foreach(txn_table_t *tb, void (*fn)(void *arg, struct txn *t), void *arg) {
    for (uint32_t b = 0; b <= tb->mask; b++)
        for (struct txn *t = tb->by_key[b]; t; t = t->next_key)
            fn(arg, t);
}

/* Allocates a transaction and links it in every index (state Trying, no timer). */
static struct txn *txn_alloc(txn_table_t *tb, bool invite, const char *key, size_t key_len,
                             const char *merge_key, size_t merge_len, const struct sipdest *dest) {
    if (!merge_key)
        merge_len = 0;
    if (key_len > UINT32_MAX || merge_len > UINT32_MAX)
        return NULL;
    struct txn *t = calloc(1, sizeof *t + key_len + merge_len);
    if (!t)
        return NULL;
    t->invite = invite;
    t->dest = *dest;
    sipdest_hold(&t->dest);
    t->reliable = sipdest_is_stream(dest->transport);
    t->heap_index = TXN_NO_TIMER;
    t->refs = 1; /* the table's */
    t->key_len = (uint32_t)key_len;
    t->merge_len = (uint32_t)merge_len;
    memcpy(t->keys, key, key_len);
    if (merge_len)
        memcpy(t->keys + key_len, merge_key, merge_len);
    t->key_hash = sb_hash32(key, key_len);
    uint32_t b = t->key_hash & tb->mask;
    t->next_key = tb->by_key[b];
    tb->by_key[b] = t;
    if (merge_len) {
        t->merge_hash = sb_hash32(merge_key, merge_len);
        b = t->merge_hash & tb->mask;
        t->next_merge = tb->by_merge[b];
        tb->by_merge[b] = t;
    }
    t->id = tb->id_base | (++tb->id_seq & ((1ULL << 40) - 1));
    t->next_id = tb->by_id[t->id & tb->mask];
    tb->by_id[t->id & tb->mask] = t;
    t->state = TXN_TRYING;
    tb->busy++;
    tb->count++;
    shm_count(tb->slot, SHM_C_sip_txn_new, 1);
    shm_gauge(tb->slot, SHM_C_sip_txn_active, tb->count);
    maybe_grow(tb);
    return t;
}

void txn_set_call_id(struct txn *t, const char *call_id, size_t len) {
    if (len > LOG_CALL_ID_MAX)
        len = LOG_CALL_ID_MAX;
    if (len)
        memcpy(t->call_id, call_id, len);
    t->call_id[len] = '\0';
}

struct txn *txn_new(txn_table_t *tb, bool invite, const char *key, size_t key_len,
                    const char *merge_key, size_t merge_len, const struct sipdest *dest,
                    const char *echo, size_t echo_len, size_t to_tag_at, const char *to_tag) {
    char *copy = malloc(echo_len ? echo_len : 1);
    if (!copy)
        return NULL;
    struct txn *t = txn_alloc(tb, invite, key, key_len, merge_key, merge_len, dest);
    if (!t) {
        free(copy);
        return NULL;
    }
    memcpy(copy, echo, echo_len);
    t->echo = copy;
    t->echo_len = echo_len;
    t->to_tag_at = to_tag_at;
    if (to_tag)
        snprintf(t->to_tag, sizeof t->to_tag, "%s", to_tag);
    return t;
}

void txn_ref(struct txn *t) {
    t->refs++;
}

void txn_unref(struct txn *t) {
    if (--t->refs > 0)
        return;
    sipdest_release(&t->dest);
    free(t->echo);
    free(t->response);
    free(t->request);
    free(t);
}

static void unlink_chain(struct txn **bucket, struct txn *t, bool merge) {
    for (struct txn **pp = bucket; *pp; pp = merge ? &(*pp)->next_merge : &(*pp)->next_key)
        if (*pp == t) {
            *pp = merge ? t->next_merge : t->next_key;
            return;
        }
}

static void terminate(txn_table_t *tb, struct txn *t) {
    if (t->state == TXN_TERMINATED)
        return;
    if (tb->hooks.ended)
        tb->hooks.ended(tb->arg, t);
    heap_remove(tb, t);
    unlink_chain(&tb->by_key[t->key_hash & tb->mask], t, false);
    if (t->merge_len)
        unlink_chain(&tb->by_merge[t->merge_hash & tb->mask], t, true);
    for (struct txn **pp = &tb->by_id[t->id & tb->mask]; *pp; pp = &(*pp)->next_id)
        if (*pp == t) {
            *pp = t->next_id;
            break;
        }
    tb->count--;
    shm_gauge(tb->slot, SHM_C_sip_txn_active, tb->count);
    set_state(tb, t, TXN_TERMINATED);
    txn_unref(t);
}

static void send_response(txn_table_t *tb, struct txn *t) {
    shm_count(tb->slot, SHM_C_sip_tx_responses, 1);
    tb->hooks.send(tb->arg, t, t->response, t->response_len);
}

static void send_request(txn_table_t *tb, struct txn *t) {
    shm_count(tb->slot, SHM_C_sip_tx_requests, 1);
    if (tb->hooks.send_request)
        tb->hooks.send_request(tb->arg, t, t->request, t->request_len);
}

/* The next retransmission interval: doubled, up to T2 unless uncapped (Timer A). */
static void backoff(txn_table_t *tb, struct txn *t, bool capped) {
    t->retransmit_ms *= 2;
    if (capped && t->retransmit_ms > tb->timers.t2_ms)
        t->retransmit_ms = tb->timers.t2_ms;
}

/* Retransmit at the next interval (unreliable transports) or give up at end_ms. */
static void schedule_retransmit_or_end(txn_table_t *tb, struct txn *t, uint64_t now,
                                       bool retransmit) {
    uint64_t at = t->end_ms;
    if (retransmit && !t->reliable && now + t->retransmit_ms < at)
        at = now + t->retransmit_ms;
    if (!schedule(tb, t, at))
        terminate(tb, t);
}

static void expire(txn_table_t *tb, struct txn *t) {
    txn_ref(t); /* the hook may end it */
    if (tb->hooks.expired)
        tb->hooks.expired(tb->arg, t);
    /* a server transaction the hook answered goes on; anything else ends */
    if (t->client || t->state == TXN_TRYING || t->state == TXN_PROCEEDING)
        terminate(tb, t);
    txn_unref(t);
}

static void fire_client(txn_table_t *tb, struct txn *t, uint64_t now) {
    if (t->state == TXN_TRYING || t->state == TXN_PROCEEDING) {
        if (now >= t->end_ms) { /* Timer B / F, or the Proceeding guard */
            shm_count(tb->slot, SHM_C_sip_client_timeouts, 1);
            expire(tb, t);
            return;
        }
        /* RFC 3261 17.1.1.2 Timer A (Calling only), 17.1.2.2 Timer E */
        bool again = !t->invite || t->state == TXN_TRYING;
        if (again) {
            send_request(tb, t);
            if (!t->invite && t->state == TXN_PROCEEDING)
                t->retransmit_ms = tb->timers.t2_ms;
            else
                backoff(tb, t, !t->invite);
        }
        schedule_retransmit_or_end(tb, t, now, again);
        return;
    }
    terminate(tb, t); /* Timer D, K or M */
}

static void fire(txn_table_t *tb, struct txn *t, uint64_t now) {
    if (t->client) {
        fire_client(tb, t, now);
        return;
    }
    if (t->state == TXN_TRYING || t->state == TXN_PROCEEDING) {
        expire(tb, t); /* the TU's guard */
        return;
    }
    bool waiting_ack =
        (t->invite && t->state == TXN_COMPLETED) || (t->state == TXN_ACCEPTED && !t->acked);
    if (waiting_ack && now < t->end_ms) {
        /* RFC 3261 17.2.1 Timer G; 13.3.1.4 for a 2xx */
        send_response(tb, t);
        backoff(tb, t, true);
        schedule_retransmit_or_end(tb, t, now, true);
        return;
    }
    if (t->invite && t->state == TXN_COMPLETED)
        log_call_ratelimited(LOG_INFO, t->call_id, "no ACK for a %d to an INVITE before Timer H",
                             t->status);
    txn_ref(t);
    if (t->state == TXN_ACCEPTED && !t->acked && tb->hooks.ack_timeout)
        tb->hooks.ack_timeout(tb->arg, t);
    /* Timer H, I, J or L */
    terminate(tb, t);
    txn_unref(t);
}

static void table_timer_cb(uv_timer_t *h) {
    txn_table_t *tb = h->data;
    uint64_t now = uv_now(tb->loop);
    while (tb->heap_len && tb->heap[0]->timer_ms <= now && !tb->closing) {
        struct txn *t = tb->heap[0];
        heap_remove(tb, t);
        fire(tb, t, now);
    }
    arm(tb);
}

void txn_guard(txn_table_t *tb, struct txn *t, uint64_t ms) {
    if (t->state == TXN_TRYING || t->state == TXN_PROCEEDING)
        if (!schedule(tb, t, uv_now(tb->loop) + ms))
            log_ratelimited(LOG_ERROR, "out of memory arming a transaction guard");
}

int txn_respond(txn_table_t *tb, struct txn *t, int status, const char *response, size_t len) {
    if (t->client || t->state >= TXN_COMPLETED)
        return -EALREADY;
    if (len > t->response_cap) {
        char *buf = realloc(t->response, len);
        if (!buf)
            return -ENOMEM;
        t->response = buf;
        t->response_cap = len;
    }
    memcpy(t->response, response, len);
    t->response_len = len;
    t->status = status;
    send_response(tb, t);
    if (status < 200) {
        set_state(tb, t, TXN_PROCEEDING);
        return 0;
    }
    free(t->echo); /* no response is built after the final one */
    t->echo = NULL;
    t->echo_len = 0;
    heap_remove(tb, t); /* a guard */
    uint64_t now = uv_now(tb->loop);
    if (t->invite) {
        /* RFC 3261 17.2.1: Completed (non-2xx), RFC 6026: Accepted (2xx); Timer G on
         * UDP, Timer H / L */
        set_state(tb, t, status >= 300 ? TXN_COMPLETED : TXN_ACCEPTED);
        t->retransmit_ms = tb->timers.t1_ms;
        t->end_ms = now + 64 * tb->timers.t1_ms;
        schedule_retransmit_or_end(tb, t, now, true);
    } else {
        /* RFC 3261 17.2.2: Completed, Timer J (0 on a reliable transport) */
        set_state(tb, t, TXN_COMPLETED);
        if (t->reliable || !schedule(tb, t, now + 64 * tb->timers.t1_ms))
            terminate(tb, t);
    }
    return 0;
}

void txn_request_again(txn_table_t *tb, struct txn *t) {
    shm_count(tb->slot, SHM_C_sip_retransmissions, 1);
    /* RFC 3261 17.2.1/17.2.2: Trying absorbs; Proceeding and Completed answer again;
     * RFC 6026 7.1: Accepted absorbs (the 2xx goes out on its own timer) */
    if (t->response_len && (t->state == TXN_PROCEEDING || t->state == TXN_COMPLETED))
        send_response(tb, t);
}

void txn_ack(txn_table_t *tb, struct txn *t) {
    if (t->client || !t->invite)
        return;
    if (t->state == TXN_ACCEPTED) {
        /* the 2xx is acknowledged: no more retransmissions, absorb until Timer L */
        bool was = is_busy(t);
        t->acked = true;
        if (was && tb->busy-- == 1 && tb->hooks.idle && !tb->closing)
            tb->hooks.idle(tb->arg);
        if (t->reliable || !schedule(tb, t, t->end_ms))
            terminate(tb, t);
        return;
    }
    if (t->state != TXN_COMPLETED)
        return; /* a retransmitted ACK in Confirmed: absorbed */
    /* RFC 3261 17.2.1: Confirmed, Timer I (0 on a reliable transport) */
    set_state(tb, t, TXN_CONFIRMED);
    heap_remove(tb, t);
    if (t->reliable || !schedule(tb, t, uv_now(tb->loop) + tb->timers.t4_ms))
        terminate(tb, t);
}

/* ---------------------------------------------------------------- client */

/* RFC 3261 16.6 Timer C: an INVITE left ringing longer than this gives up (408). */
#define TXN_PROCEEDING_GUARD_MS (181 * 1000)

struct txn *txn_client_new(txn_table_t *tb, bool invite, const char *key, size_t key_len,
                           const struct sipdest *dest, const char *request, size_t len) {
    char *copy = malloc(len ? len : 1);
    if (!copy)
        return NULL;
    struct txn *t = txn_alloc(tb, invite, key, key_len, NULL, 0, dest);
    if (!t) {
        free(copy);
        return NULL;
    }
    memcpy(copy, request, len);
    t->client = true;
    t->request = copy;
    t->request_len = len;
    uint64_t now = uv_now(tb->loop);
    t->retransmit_ms = tb->timers.t1_ms;
    t->end_ms = now + 64 * tb->timers.t1_ms; /* Timer B / F */
    send_request(tb, t);
    schedule_retransmit_or_end(tb, t, now, true);
    return t;
}

bool txn_client_response(txn_table_t *tb, struct txn *t, int status) {
    if (!t->client || t->state == TXN_TERMINATED)
        return false;
    uint64_t now = uv_now(tb->loop);
    if (t->state == TXN_TRYING || t->state == TXN_PROCEEDING) {
        t->status = status;
        if (status < 200) {
            if (t->state == TXN_TRYING) {
                set_state(tb, t, TXN_PROCEEDING);
                if (t->invite) { /* Timer A stops; only the guard remains */
                    t->end_ms = now + TXN_PROCEEDING_GUARD_MS;
                    schedule_retransmit_or_end(tb, t, now, false);
                } else { /* RFC 3261 17.1.2.2: Timer E at T2 from now on */
                    t->retransmit_ms = tb->timers.t2_ms;
                }
            }
            return true;
        }
        heap_remove(tb, t);
        if (t->invite && status < 300) {
            /* RFC 6026: Accepted, 2xx retransmissions go to the TU until Timer M */
            set_state(tb, t, TXN_ACCEPTED);
            if (!schedule(tb, t, now + 64 * tb->timers.t1_ms))
                terminate(tb, t);
            return true;
        }
        /* RFC 3261 17.1.1.2: Completed, Timer D (>= 32 s on UDP); 17.1.2.2 Timer K (T4) */
        set_state(tb, t, TXN_COMPLETED);
        uint64_t wait = t->reliable ? 0
                        : t->invite
                            ? (64 * tb->timers.t1_ms > 32000 ? 64 * tb->timers.t1_ms : 32000)
                            : tb->timers.t4_ms;
        if (!schedule(tb, t, now + wait))
            terminate(tb, t);
        return true;
    }
    if (t->state == TXN_ACCEPTED)
        return status >= 200 && status < 300; /* the TU acknowledges each 2xx */
    if (t->state == TXN_COMPLETED && t->invite && status >= 300 && t->acked)
        send_request(tb, t); /* RFC 3261 17.1.1.2: the response again, the ACK again */
    shm_count(tb->slot, SHM_C_sip_retransmissions, 1);
    return false;
}

void txn_client_ack(txn_table_t *tb, struct txn *t, const char *ack, size_t len) {
    if (!t->client || !t->invite || t->state != TXN_COMPLETED || t->acked)
        return;
    char *copy = malloc(len ? len : 1);
    if (!copy) {
        log_ratelimited(LOG_ERROR, "out of memory keeping an ACK");
        return;
    }
    memcpy(copy, ack, len);
    free(t->request);
    t->request = copy;
    t->request_len = len;
    t->acked = true; /* request now holds the ACK */
    send_request(tb, t);
}

static void table_closed(uv_handle_t *h) {
    txn_table_t *tb = h->data;
    free(tb->by_key);
    free(tb->by_merge);
    free(tb->by_id);
    free(tb->heap);
    free(tb);
}

void txn_table_close(txn_table_t *tb) {
    if (!tb)
        return;
    tb->closing = true;
    for (uint32_t b = 0; b <= tb->mask; b++)
        while (tb->by_key[b])
            terminate(tb, tb->by_key[b]);
    uv_timer_stop(&tb->timer);
    uv_close((uv_handle_t *)&tb->timer, table_closed);
}
