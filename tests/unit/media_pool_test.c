/* The media port pool in shm (shm.h): even/odd pairs inside the range, one owner per pair
 * (compare-and-swap), freeing only by the owner, reclaiming a dead owner's pairs, and the
 * least-loaded pick of a mediad instance. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "shm.h"

static struct shm_media_pool *new_pool(void) {
    struct shm_media_pool *p = calloc(1, sizeof *p);
    assert_non_null(p);
    return p;
}

static void test_pairs_are_even_inside_the_range_and_unique(void **state) {
    (void)state;
    struct shm_media_pool *p = new_pool();
    int32_t me = (int32_t)getpid();
    int seen[8], n = 0;
    /* 10000-10015: pairs 10000/1 .. 10014/15: eight of them */
    for (;;) {
        int port = shm_media_port_alloc(p, 10000, 10015, me);
        if (port < 0) {
            assert_int_equal(port, -ENOSPC);
            break;
        }
        assert_true(n < 8);
        assert_int_equal(port & 1, 0);
        assert_true(port >= 10000 && port + 1 <= 10015);
        for (int i = 0; i < n; i++)
            assert_int_not_equal(seen[i], port);
        seen[n++] = port;
    }
    assert_int_equal(n, 8);
    assert_int_equal(shm_media_free_count(p, 10000, 10015), 0);
    /* an odd upper bound leaves the last port out: 10000-10014 has seven pairs */
    assert_int_equal(shm_media_free_count(p, 10016, 10030), 7);
    free(p);
}

static void test_only_the_owner_frees_a_pair(void **state) {
    (void)state;
    struct shm_media_pool *p = new_pool();
    int port = shm_media_port_alloc(p, 20000, 20001, 111);
    assert_int_equal(port, 20000);
    assert_int_equal(shm_media_port_alloc(p, 20000, 20001, 222), -ENOSPC);
    assert_int_equal(shm_media_port_free(p, 20000, 222), -EPERM);
    assert_int_equal(shm_media_port_free(p, 20001, 111), -EINVAL); /* odd: not a pair */
    assert_int_equal(shm_media_port_free(p, 20000, 111), 0);
    assert_int_equal(shm_media_port_free(p, 20000, 111), -EPERM); /* already free */
    assert_int_equal(shm_media_port_alloc(p, 20000, 20001, 222), 20000);
    assert_int_equal(shm_media_port_alloc(p, 20000, 20001, 0), -EINVAL);
    free(p);
}

static void test_a_dead_owners_pairs_are_reclaimed(void **state) {
    (void)state;
    struct shm_media_pool *p = new_pool();
    pid_t child = fork();
    if (child == 0)
        _exit(0);
    assert_true(child > 0);
    waitpid(child, NULL, 0); /* now a pid nobody has (until reused) */
    for (int i = 0; i < 3; i++)
        assert_true(shm_media_port_alloc(p, 30000, 30099, (int32_t)child) >= 0);
    int mine = shm_media_port_alloc(p, 30000, 30099, (int32_t)getpid());
    assert_true(mine >= 0);
    assert_int_equal(shm_media_free_count(p, 30000, 30099), 46);
    assert_int_equal(shm_media_reclaim(p, 30000, 30099), 3);
    assert_int_equal(shm_media_free_count(p, 30000, 30099), 49);
    assert_int_equal(shm_media_port_free(p, mine, (int32_t)getpid()), 0); /* ours stayed */
    free(p);
}

static void test_cursor_spreads_reuse(void **state) {
    (void)state;
    struct shm_media_pool *p = new_pool();
    int a = shm_media_port_alloc(p, 40000, 40099, 5);
    shm_media_port_free(p, a, 5);
    int b = shm_media_port_alloc(p, 40000, 40099, 5);
    assert_int_not_equal(a, b); /* a pair just freed is not handed out again at once */
    free(p);
}

static void test_pick_is_the_least_loaded_ready_mediad(void **state) {
    (void)state;
    struct shm_seg *seg = calloc(1, sizeof *seg);
    assert_non_null(seg);
    assert_int_equal(shm_media_pick(seg, -1), -1);
    const struct {
        const char *role;
        int instance, state, sessions;
    } rows[] = {
        {"mediad", 0, SHM_READY, 7}, {"mediad", 1, SHM_READY, 3}, {"mediad", 2, SHM_DRAINING, 0},
        {"sipd", 3, SHM_READY, 0},   {"mediad", 4, SHM_READY, 3},
    };
    for (int i = 0; i < 5; i++) {
        struct shm_proc *s = &seg->procs[i];
        strcpy(s->role, rows[i].role);
        s->instance = (uint32_t)rows[i].instance;
        s->state = (uint32_t)rows[i].state;
        s->pid = 100 + i;
        s->counters[SHM_C_media_sessions] = (uint64_t)rows[i].sessions;
    }
    assert_int_equal(shm_media_pick(seg, -1), 1); /* 3 sessions, the lower instance of the tie */
    seg->procs[1].counters[SHM_C_media_sessions] = 9;
    assert_int_equal(shm_media_pick(seg, -1), 4);
    assert_true(shm_media_pick(seg, 4) != 4); /* the one that failed is avoided */
    free(seg);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pairs_are_even_inside_the_range_and_unique),
        cmocka_unit_test(test_only_the_owner_frees_a_pair),
        cmocka_unit_test(test_a_dead_owners_pairs_are_reclaimed),
        cmocka_unit_test(test_cursor_spreads_reuse),
        cmocka_unit_test(test_pick_is_the_least_loaded_ready_mediad),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
