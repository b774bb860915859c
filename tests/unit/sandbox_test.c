/* sandbox_test - the seccomp allow-list of lib/sandbox.h: in a child process under the
 * filter, what a network worker does works and what an intruder would do fails. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "sandbox.h"

/* Runs fn in a child under the filter; its exit status (0: every expectation held). */
static int in_sandbox(int (*fn)(void)) {
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        char err[256];
        if (sandbox_apply(err, sizeof err) < 0) {
            fprintf(stderr, "%s\n", err);
            _exit(100);
        }
        _exit(fn());
    }
    int st = 0;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 200 + WTERMSIG(st);
}

static int worker_calls(void) {
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (s < 0)
        return 1;
    close(s);
    if ((s = socket(AF_INET6, SOCK_STREAM, 0)) < 0)
        return 2;
    close(s);
    int fd = open("/etc/hostname", O_RDONLY | O_CLOEXEC);
    if (fd < 0 && errno == EPERM)
        return 3;
    if (fd >= 0)
        close(fd);
    void *p = malloc(1 << 20);
    if (!p)
        return 4;
    free(p);
    return getpid() > 0 ? 0 : 5;
}

static int intruder_calls(void) {
    char *argv[] = {"/bin/true", NULL};
    execv("/bin/true", argv);
    if (errno != EPERM)
        return 1;
    pid_t pid = fork();
    if (pid == 0)
        _exit(0);
    if (pid >= 0 || (errno != EPERM && errno != ENOSYS))
        return 2;
    int fd = open("/tmp/sandbox_test_written", O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    if (fd >= 0 || errno != EPERM)
        return 3;
    if (socket(AF_PACKET, SOCK_RAW, 0) >= 0 || errno != EPERM)
        return 4;
    if (setuid(0) == 0 || errno != EPERM)
        return 5;
    if (kill(getppid(), 0) == 0 || errno != EPERM)
        return 6;
    return 0;
}

static void test_what_a_worker_does_still_works(void **state) {
    (void)state;
    assert_int_equal(in_sandbox(worker_calls), 0);
}

static void test_exec_fork_writes_raw_sockets_and_setuid_fail(void **state) {
    (void)state;
    assert_int_equal(in_sandbox(intruder_calls), 0);
}

static void test_only_the_network_roles_are_filtered(void **state) {
    (void)state;
    assert_false(sandbox_wanted(SB_ROLE_routerd));
    assert_false(sandbox_wanted(SB_ROLE_dialogd));
    assert_false(sandbox_wanted(SB_ROLE_mediad));
#if !defined(__SANITIZE_ADDRESS__)
    assert_true(sandbox_wanted(SB_ROLE_sipd));
    assert_true(sandbox_wanted(SB_ROLE_apid));
#endif
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_what_a_worker_does_still_works),
        cmocka_unit_test(test_exec_fork_writes_raw_sockets_and_setuid_fail),
        cmocka_unit_test(test_only_the_network_roles_are_filtered),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
