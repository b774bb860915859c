/* shm: layout checks, names, the slot sequence lock, counters, the transaction index. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "shm.h"

static char name[64];

static int setup(void **state) {
    (void)state;
    snprintf(name, sizeof name, "/switchboard-unittest-%ld", (long)getpid());
    return 0;
}

static int teardown(void **state) {
    (void)state;
    shm_unlink_name(name);
    return 0;
}

static void test_created_segment_attaches_and_shares_writes(void **state) {
    (void)state;
    struct shm_seg *seg, *other;
    int fd;
    assert_int_equal(shm_create(name, &seg, &fd), 0);
    assert_int_equal(seg->hdr.version, SHM_VERSION);
    assert_int_equal(shm_attach(fd, true, &other), 0);
    shm_count(&seg->procs[3], SHM_C_ipc_rx, 5);
    shm_count(&other->procs[3], SHM_C_ipc_rx, 2);
    struct shm_proc copy;
    shm_proc_read(&seg->procs[3], &copy);
    assert_int_equal(copy.counters[SHM_C_ipc_rx], 7);
    shm_detach(other);
    shm_detach(seg);
    close(fd);
}

static void test_segment_of_another_version_is_refused(void **state) {
    (void)state;
    struct shm_seg *seg, *other = NULL;
    int fd;
    assert_int_equal(shm_create(name, &seg, &fd), 0);
    seg->hdr.version = SHM_VERSION + 1;
    assert_int_equal(shm_attach(fd, true, &other), -EPROTO);
    assert_null(other);
    seg->hdr.version = SHM_VERSION;
    seg->hdr.proc_size += 64;
    assert_int_equal(shm_attach(fd, false, &other), -EPROTO);
    seg->hdr.proc_size -= 64;
    seg->hdr.magic = 0;
    assert_int_equal(shm_attach(fd, false, &other), -EPROTO);
    shm_detach(seg);
    close(fd);
}

static void test_check_refuses_short_segment(void **state) {
    (void)state;
    struct shm_header h = {SHM_MAGIC, SHM_VERSION, sizeof(struct shm_header),
                           sizeof(struct shm_proc), SHM_MAX_PROCS, 0, 0, 0, "", ""};
    assert_int_equal(shm_check(&h, sizeof(struct shm_seg)), 0);
    assert_int_equal(shm_check(&h, sizeof(struct shm_seg) - 1), -EPROTO);
    assert_int_equal(shm_check(&h, 3), -EPROTO);
}

static void test_name_depends_on_confdir_only(void **state) {
    (void)state;
    char a[64], b[64], c[64];
    assert_int_equal(shm_name("/etc/switchboard", a, sizeof a), 0);
    assert_int_equal(shm_name("/etc/switchboard", b, sizeof b), 0);
    assert_int_equal(shm_name("/etc/switchboard2", c, sizeof c), 0);
    assert_string_equal(a, b);
    assert_string_not_equal(a, c);
    assert_int_equal(strncmp(a, "/switchboard-", 13), 0);
    assert_int_equal(shm_name("/x", a, 8), -ENAMETOOLONG);
}

static void test_read_copies_master_fields_and_terminates_strings(void **state) {
    (void)state;
    struct shm_proc p, copy;
    memset(&p, 'x', sizeof p);
    p.seq = 0;
    shm_proc_write_begin(&p);
    assert_true(p.seq & 1);
    p.pid = 1234;
    p.state = SHM_READY;
    shm_proc_write_end(&p);
    assert_false(p.seq & 1);
    shm_proc_read(&p, &copy);
    assert_int_equal(copy.pid, 1234);
    assert_int_equal(strlen(copy.service), sizeof copy.service - 1);
    assert_string_equal(shm_state_name(SHM_READY), "ready");
    assert_string_equal(shm_state_name((enum shm_state)99), "unknown");
    assert_string_equal(shm_counter_name(SHM_C_ipc_malformed), "ipc_malformed");
}

static void test_txn_index_claim_owner_release_and_expiry(void **state) {
    (void)state;
    struct shm_seg *seg, *other;
    int fd;
    unsigned owner = 99;
    assert_int_equal(shm_create(name, &seg, &fd), 0);
    assert_int_equal(shm_attach(fd, true, &other), 0); /* another sipd's mapping */
    uint64_t h = 0x123456789abcdef1ULL;
    uint32_t now = 1000;
    assert_int_equal(shm_txn_claim(seg, h, 1, now, 60, &owner), 0); /* instance 1 owns it */
    assert_int_equal(shm_txn_claim(seg, h, 1, now, 60, &owner), 0); /* its own copy again */
    assert_int_equal(shm_txn_claim(other, h, 2, now + 5, 60, &owner), 1);
    assert_int_equal(owner, 1); /* instance 2 hands it to 1 */
    owner = 99;
    assert_int_equal(shm_txn_owner(other, h, now + 5, &owner), 1);
    assert_int_equal(owner, 1);
    assert_int_equal(shm_txn_owner(other, h ^ (1ULL << 40), now, &owner), 0); /* another key */
    /* a second key on the same slot probes past the first */
    uint64_t h2 = h + (1ULL << 50);
    assert_int_equal(shm_txn_claim(other, h2, 2, now, 60, &owner), 0);
    assert_int_equal(shm_txn_owner(seg, h2, now, &owner), 1);
    assert_int_equal(owner, 2);
    shm_txn_release(seg, h, 2); /* not 2's entry: nothing happens */
    assert_int_equal(shm_txn_owner(seg, h, now, &owner), 1);
    shm_txn_release(seg, h, 1);
    assert_int_equal(shm_txn_owner(seg, h, now, &owner), 0);
    assert_int_equal(shm_txn_owner(seg, h2, now, &owner), 1); /* found past the released one */
    /* an owner that died: its entry expires and the key can be claimed anew */
    assert_int_equal(shm_txn_owner(seg, h2, now + 61, &owner), 0);
    assert_int_equal(shm_txn_claim(seg, h2, 3, now + 61, 60, &owner), 0);
    assert_int_equal(shm_txn_owner(other, h2, now + 62, &owner), 1);
    assert_int_equal(owner, 3);
    /* a full neighbourhood: the claim gives up (the caller goes on without the index) */
    for (unsigned i = 0; i < SHM_TXN_PROBES; i++)
        assert_int_equal(shm_txn_claim(seg, 0x1000 + i + ((uint64_t)(i + 1) << 40), 4, now, 60,
                                       &owner), 0);
    assert_int_equal(shm_txn_claim(seg, 0x1000 + (77ULL << 40), 4, now, 60, &owner), -ENOSPC);
    shm_detach(other);
    shm_detach(seg);
    close(fd);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_created_segment_attaches_and_shares_writes, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_segment_of_another_version_is_refused, setup,
                                        teardown),
        cmocka_unit_test(test_check_refuses_short_segment),
        cmocka_unit_test_setup_teardown(test_txn_index_claim_owner_release_and_expiry, setup,
                                        teardown),
        cmocka_unit_test(test_name_depends_on_confdir_only),
        cmocka_unit_test(test_read_copies_master_fields_and_terminates_strings),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
