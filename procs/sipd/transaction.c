/* transaction - see transaction.h */
#include "transaction.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

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
    struct txn **by_key, **by_merge; /* hash buckets, mask + 1 of each */
    uint32_t mask;
    size_t count, busy;
    struct txn **heap; /* min-heap on timer_ms */
    size_t heap_len, heap_cap;
    bool closing;
};

/* ---------------------------------------------------------------- keys */

static uint32_t hash_bytes(const char *s, size_t n) {
    uint32_t h = 2166136261u; /* FNV-1a */
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 16777619u;
    }
    return h;
}

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

int txn_merge_key(const sipmsg_t *m, char *out, size_t cap) {
    struct sipmsg_out o = {out, cap, 0, false};
    sipmsg_out_put(&o, m->from_tag.ptr, m->from_tag.len);
    sipmsg_out_put(&o, " ", 1);
    sipmsg_out_put(&o, m->call_id.ptr, m->call_id.len);
    sipmsg_out_put(&o, " ", 1);
    sipmsg_out_putu(&o, m->cseq);
    sipmsg_out_put(&o, " ", 1);
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
           (t->invite && t->state == TXN_COMPLETED);
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
                           const struct txn_hooks *hooks, void *arg, struct shm_proc *slot) {
    txn_table_t *tb = calloc(1, sizeof *tb);
    if (!tb)
        return NULL;
    tb->mask = 1023;
    tb->by_key = calloc(tb->mask + 1, sizeof *tb->by_key);
    tb->by_merge = calloc(tb->mask + 1, sizeof *tb->by_merge);
    if (!tb->by_key || !tb->by_merge) {
        free(tb->by_key);
        free(tb->by_merge);
        free(tb);
        return NULL;
    }
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
    if (!by_key || !by_merge) { /* keep the old, longer chains */
        free(by_key);
        free(by_merge);
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
    }
    free(tb->by_key);
    free(tb->by_merge);
    tb->by_key = by_key;
    tb->by_merge = by_merge;
    tb->mask = mask;
}

struct txn *txn_find(txn_table_t *tb, const char *key, size_t key_len) {
    uint32_t h = hash_bytes(key, key_len);
    for (struct txn *t = tb->by_key[h & tb->mask]; t; t = t->next_key)
        if (t->key_hash == h && t->key_len == key_len && memcmp(t->keys, key, key_len) == 0)
            return t;
    return NULL;
}

struct txn *txn_find_merged(txn_table_t *tb, const char *merge_key, size_t merge_len) {
    uint32_t h = hash_bytes(merge_key, merge_len);
    for (struct txn *t = tb->by_merge[h & tb->mask]; t; t = t->next_merge)
        if (t->merge_hash == h && t->merge_len == merge_len &&
            memcmp(t->keys + t->key_len, merge_key, merge_len) == 0)
            return t;
    return NULL;
}

struct txn *txn_new(txn_table_t *tb, bool invite, const char *key, size_t key_len,
                    const char *merge_key, size_t merge_len, const struct sipdest *dest,
                    const char *echo, size_t echo_len, size_t to_tag_at, const char *to_tag) {
    if (!merge_key)
        merge_len = 0;
    if (key_len > UINT32_MAX || merge_len > UINT32_MAX)
        return NULL;
    struct txn *t = calloc(1, sizeof *t + key_len + merge_len);
    if (!t)
        return NULL;
    t->echo = malloc(echo_len ? echo_len : 1);
    if (!t->echo) {
        free(t);
        return NULL;
    }
    memcpy(t->echo, echo, echo_len);
    t->echo_len = echo_len;
    t->to_tag_at = to_tag_at;
    if (to_tag)
        snprintf(t->to_tag, sizeof t->to_tag, "%s", to_tag);
    t->invite = invite;
    t->dest = *dest;
    sipdest_hold(&t->dest);
    t->reliable = dest->transport == SIPDEST_TCP;
    t->heap_index = TXN_NO_TIMER;
    t->refs = 1; /* the table's */
    t->key_len = (uint32_t)key_len;
    t->merge_len = (uint32_t)merge_len;
    memcpy(t->keys, key, key_len);
    if (merge_len)
        memcpy(t->keys + key_len, merge_key, merge_len);
    t->key_hash = hash_bytes(key, key_len);
    uint32_t b = t->key_hash & tb->mask;
    t->next_key = tb->by_key[b];
    tb->by_key[b] = t;
    if (merge_len) {
        t->merge_hash = hash_bytes(merge_key, merge_len);
        b = t->merge_hash & tb->mask;
        t->next_merge = tb->by_merge[b];
        tb->by_merge[b] = t;
    }
    t->state = TXN_TRYING;
    tb->busy++;
    tb->count++;
    shm_count(tb->slot, SHM_C_sip_txn_new, 1);
    shm_gauge(tb->slot, SHM_C_sip_txn_active, tb->count);
    maybe_grow(tb);
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
    heap_remove(tb, t);
    unlink_chain(&tb->by_key[t->key_hash & tb->mask], t, false);
    if (t->merge_len)
        unlink_chain(&tb->by_merge[t->merge_hash & tb->mask], t, true);
    tb->count--;
    shm_gauge(tb->slot, SHM_C_sip_txn_active, tb->count);
    set_state(tb, t, TXN_TERMINATED);
    txn_unref(t);
}

static void send_response(txn_table_t *tb, struct txn *t) {
    shm_count(tb->slot, SHM_C_sip_tx_responses, 1);
    tb->hooks.send(tb->arg, t, t->response, t->response_len);
}

/* Armed on a Completed INVITE: Timer G (retransmit) or Timer H (give up), the earlier. */
static void schedule_g_or_h(txn_table_t *tb, struct txn *t, uint64_t now) {
    uint64_t at = t->end_ms;
    if (!t->reliable && now + t->retransmit_ms < at)
        at = now + t->retransmit_ms;
    if (!schedule(tb, t, at))
        terminate(tb, t);
}

static void fire(txn_table_t *tb, struct txn *t, uint64_t now) {
    if (t->invite && t->state == TXN_COMPLETED && now < t->end_ms) {
        /* RFC 3261 17.2.1: Timer G */
        send_response(tb, t);
        t->retransmit_ms *= 2;
        if (t->retransmit_ms > tb->timers.t2_ms)
            t->retransmit_ms = tb->timers.t2_ms;
        schedule_g_or_h(tb, t, now);
        return;
    }
    if (t->invite && t->state == TXN_COMPLETED)
        log_ratelimited(LOG_INFO, "no ACK for a %d to an INVITE before Timer H", t->status);
    /* Timer H, I or J */
    terminate(tb, t);
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

int txn_respond(txn_table_t *tb, struct txn *t, int status, const char *response, size_t len) {
    if (t->state >= TXN_COMPLETED)
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
    uint64_t now = uv_now(tb->loop);
    if (t->invite && status >= 300) {
        /* RFC 3261 17.2.1: Completed, Timer G on UDP, Timer H */
        set_state(tb, t, TXN_COMPLETED);
        t->retransmit_ms = tb->timers.t1_ms;
        t->end_ms = now + 64 * tb->timers.t1_ms;
        schedule_g_or_h(tb, t, now);
    } else if (t->invite) {
        /* RFC 3261 17.2.1: a 2xx ends the INVITE server transaction */
        terminate(tb, t);
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
    /* RFC 3261 17.2.1/17.2.2: Trying absorbs; Proceeding and Completed answer again */
    if (t->response_len && (t->state == TXN_PROCEEDING || t->state == TXN_COMPLETED))
        send_response(tb, t);
}

void txn_ack(txn_table_t *tb, struct txn *t) {
    if (!t->invite || t->state != TXN_COMPLETED)
        return; /* a retransmitted ACK in Confirmed: absorbed */
    /* RFC 3261 17.2.1: Confirmed, Timer I (0 on a reliable transport) */
    set_state(tb, t, TXN_CONFIRMED);
    heap_remove(tb, t);
    if (t->reliable || !schedule(tb, t, uv_now(tb->loop) + tb->timers.t4_ms))
        terminate(tb, t);
}

static void table_closed(uv_handle_t *h) {
    txn_table_t *tb = h->data;
    free(tb->by_key);
    free(tb->by_merge);
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
