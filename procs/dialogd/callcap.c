/* callcap - see callcap.h */
#include "callcap.h"

#include <stdlib.h>
#include <string.h>

#include "cfg.h"
#include "hash.h"
#include "rand.h"

#define CALLCAP_BUCKETS 1024

struct cap_count {
    uint64_t key;
    unsigned n;
    struct cap_count *next;
};

struct callcap {
    uint64_t seed;
    struct cap_count *bucket[CALLCAP_BUCKETS];
};

static struct callcap *cap_of(b2b_t *b) {
    return b->feature[FEATURE_CALLCAP];
}

static uint64_t key_of(const struct callcap *cc, char kind, const char *text) {
    uint64_t h = sb_hash64_from(SB_FNV64_BASIS ^ cc->seed, &kind, 1);
    return sb_mix64(sb_hash64_from(h, text, strlen(text))) | 1; /* never 0 */
}

static struct cap_count **slot_of(struct callcap *cc, uint64_t key) {
    struct cap_count **pp = &cc->bucket[key % CALLCAP_BUCKETS];
    while (*pp && (*pp)->key != key)
        pp = &(*pp)->next;
    return pp;
}

static unsigned count_of(struct callcap *cc, uint64_t key) {
    struct cap_count *e = *slot_of(cc, key);
    return e ? e->n : 0;
}

static bool add(struct callcap *cc, uint64_t key) {
    struct cap_count **pp = slot_of(cc, key);
    if (!*pp) {
        if (!(*pp = calloc(1, sizeof **pp)))
            return false;
        (*pp)->key = key;
    }
    (*pp)->n++;
    return true;
}

static void drop(struct callcap *cc, uint64_t key) {
    struct cap_count **pp = slot_of(cc, key), *e = *pp;
    if (!e)
        return;
    if (--e->n == 0) {
        *pp = e->next;
        free(e);
    }
}

static void release(b2b_t *b, struct call *c) {
    struct callcap *cc = cap_of(b);
    for (int i = 0; i < 2; i++) {
        if (cc && c->cap_keys[i])
            drop(cc, c->cap_keys[i]);
        c->cap_keys[i] = 0;
    }
}

void callcap_init(b2b_t *b) {
    struct callcap *cc = calloc(1, sizeof *cc);
    if (!cc)
        return; /* nothing is counted: calls pass */
    if (sb_random_u64(&cc->seed) < 0)
        cc->seed = (uint64_t)(uintptr_t)cc;
    b->feature[FEATURE_CALLCAP] = cc;
    call_teardown_add(b, release);
}

void callcap_fini(b2b_t *b) {
    struct callcap *cc = cap_of(b);
    if (!cc)
        return;
    for (size_t i = 0; i < CALLCAP_BUCKETS; i++)
        while (cc->bucket[i]) {
            struct cap_count *e = cc->bucket[i];
            cc->bucket[i] = e->next;
            free(e);
        }
    free(cc);
    b->feature[FEATURE_CALLCAP] = NULL;
}

bool callcap_admit(b2b_t *b, struct call *c, const char *source_addr, const char *from_uri,
                   const char **which) {
    struct callcap *cc = cap_of(b);
    const cfg_t *cfg = b->io.cfg ? b->io.cfg(b->io.arg) : NULL;
    if (!cc || !cfg)
        return true;
    long caps[2] = {cfg_int(cfg, CFG_calls_max_per_source), cfg_int(cfg, CFG_calls_max_per_user)};
    const char *texts[2] = {source_addr, from_uri};
    static const char *const names[2] = {"calls_max_per_source", "calls_max_per_user"};
    uint64_t keys[2] = {0, 0};
    for (int i = 0; i < 2; i++) {
        if (caps[i] <= 0 || !texts[i] || !*texts[i])
            continue;
        keys[i] = key_of(cc, (char)('s' + i), texts[i]);
        if (count_of(cc, keys[i]) >= (unsigned long)caps[i]) {
            *which = names[i];
            return false;
        }
    }
    for (int i = 0; i < 2; i++)
        if (keys[i] && add(cc, keys[i]))
            c->cap_keys[i] = keys[i];
    return true;
}
