/*
 * switchboard - the operator's command, like postfix(1).
 *   switchboard [-c CONFDIR] start|stop|reload|status|check
 *   switchboard [-c CONFDIR] user add USER [PASSWORD|-] [--domain D] | user del USER | user list
 * CONFDIR defaults to $SWITCHBOARD_CONFIG_DIR, then /etc/switchboard.
 *   check   validates main.cf and master.cf, and what the workers will load from them
 *           (preflight.h: the dialplan, audio files, addresses, readable by
 *           service_user); prints FILE:LINE: problem, exits 1 if bad
 *   start   refuses when a master runs for CONFDIR; starts one in the background and
 *           waits until every process is ready to serve (its dependencies up: Redis,
 *           the peers it needs, a dialplan) (exit 0), or after start_timeout names each
 *           process that is not and what it waits for (exit 1)
 *   stop    graceful stop; waits until master is gone
 *   reload  validates, then SIGHUP; waits until master applied it
 *   status  one line per process: service, instance, pid, state (starting, ready,
 *           degraded, draining, stopping, throttled), uptime, restarts, and what a
 *           starting or degraded process waits for (exit 3 when not running)
 *   api-token  prints the admin API's bearer token: main.cf api_token when set, else the
 *           one of api_token_file (made now when missing; only its owner, root, can read it)
 *   redis-acl  prints the Redis ACL users of the roles (redisacl.h), for an external Redis
 *   user    the SIP subscribers of digest authentication, in Redis (users.h)
 */
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "apitoken.h"
#include "clock.h"
#include "config.h"
#include "preflight.h"
#include "privs.h"
#include "roles.h"
#include "redisacl.h"
#include "runtime.h"
#include "shm.h"
#include "users.h"

#define POLL_US 5000

static void usage(void) {
    fprintf(stderr, "usage: switchboard [-c CONFDIR] start|stop|reload|status|check|api-token|"
                    "redis-acl\n"
                    "       switchboard [-c CONFDIR] user add|del|list ...\n");
    exit(2);
}

static void sleep_us(long us) {
    struct timespec ts = {us / 1000000, (us % 1000000) * 1000};
    nanosleep(&ts, NULL);
}

static int load(const char *confdir, cfg_t **cfg, mcf_t **mcf) {
    char err[1024];
    if (config_load(confdir, cfg, mcf, err, sizeof err) < 0) {
        fprintf(stderr, "switchboard: %s\n", err);
        return -1;
    }
    for (size_t i = 0; i < cfg_warning_count(*cfg); i++)
        fprintf(stderr, "switchboard: warning: %s\n", cfg_warning(*cfg, i));
    if (geteuid() == 0) {
        uid_t uid;
        gid_t gid;
        if (priv_lookup(cfg_str(*cfg, CFG_service_user), &uid, &gid) < 0) {
            fprintf(stderr, "switchboard: %s/main.cf: service_user '%s' does not exist\n",
                    confdir, cfg_str(*cfg, CFG_service_user));
            cfg_free(*cfg);
            mcf_free(*mcf);
            return -1;
        }
    }
    return 0;
}

static void print_problem(void *arg, const char *problem) {
    (void)arg;
    fprintf(stderr, "switchboard: %s\n", problem);
}

/* Counts processes in use and ready (exec services count as ready while running). */
static void count_ready(const struct shm_seg *seg, int *used, int *ready) {
    *used = *ready = 0;
    for (int i = 0; i < SHM_MAX_PROCS; i++) {
        struct shm_proc p;
        shm_proc_read(&seg->procs[i], &p);
        if (p.state == SHM_EMPTY)
            continue;
        (*used)++;
        if (p.state == SHM_READY && p.pid > 0)
            (*ready)++;
    }
}

/* What a starting or degraded process waits for, as status and start print it. */
static const char *why_text(const struct shm_proc *p, char *out, size_t cap) {
    if (strcmp(p->reason, "redis") == 0)
        snprintf(out, cap, "redis (its Redis link is down)");
    else if (sb_role_by_name(p->reason) != SB_ROLE_NONE)
        snprintf(out, cap, "%s (no link with a ready instance yet)", p->reason);
    else
        snprintf(out, cap, "%s", p->reason);
    return out;
}

/* Prints, for start's timeout, every process that is not ready and why. */
static void print_not_ready(const struct shm_seg *seg) {
    for (int i = 0; i < SHM_MAX_PROCS; i++) {
        struct shm_proc p;
        char why[128];
        shm_proc_read(&seg->procs[i], &p);
        if (p.state == SHM_EMPTY || (p.state == SHM_READY && p.pid > 0))
            continue;
        fprintf(stderr, "switchboard:   %s[%u] %s%s%s\n", p.service, p.instance,
                shm_state_name((enum shm_state)p.state), p.reason[0] ? ": waiting for " : "",
                p.reason[0] ? why_text(&p, why, sizeof why) : "");
    }
}

/* api-token: the token apid requires. */
static int cmd_api_token(const cfg_t *cfg) {
    const char *set = cfg_str(cfg, CFG_api_token);
    if (*set) {
        printf("%s\n", set);
        return 0;
    }
    const char *path = cfg_str(cfg, CFG_api_token_file);
    char token[APITOK_MAX + 1];
    int rc = apitok_ensure(path);
    if (rc >= 0)
        rc = apitok_read(path, token, sizeof token);
    if (rc < 0) {
        fprintf(stderr, "switchboard: api_token_file %s: %s\n", path,
                rc == -EINVAL ? "not a token (16 to 256 characters of [A-Za-z0-9-._~+/])"
                              : strerror(-rc));
        return 1;
    }
    printf("%s\n", token);
    explicit_bzero(token, sizeof token);
    return 0;
}

static int open_shm(const cfg_t *cfg, struct shm_seg **seg) {
    char name[64];
    rt_shm_name(cfg, name, sizeof name);
    return shm_open_ro(name, seg);
}

static int cmd_status(const cfg_t *cfg) {
    pid_t pid = rt_running_pid(cfg);
    struct shm_seg *seg;
    if (pid <= 0) {
        printf("switchboard: not running (%s)\n", cfg_str(cfg, CFG_config_directory));
        return 3;
    }
    int rc = open_shm(cfg, &seg);
    if (rc < 0) {
        fprintf(stderr, "switchboard: master pid %ld runs but its shm is unreadable: %s\n",
                (long)pid, strerror(-rc));
        return 1;
    }
    int64_t now = clock_wall_us();
    char why[128];
    printf("%-12s %-8s %-8s %-10s %-8s %-8s %s\n", "SERVICE", "INSTANCE", "PID", "STATE", "UPTIME",
           "RESTARTS", "WAITING FOR");
    printf("%-12s %-8s %-8ld %-10s %-8lld %-8d\n", "master", "-", (long)seg->hdr.master_pid,
           "ready", (long long)((now - seg->hdr.master_started_us) / 1000000), 0);
    for (int i = 0; i < SHM_MAX_PROCS; i++) {
        struct shm_proc p;
        shm_proc_read(&seg->procs[i], &p);
        if (p.state == SHM_EMPTY)
            continue;
        char pidtxt[16] = "-", up[24] = "-";
        if (p.pid > 0) {
            snprintf(pidtxt, sizeof pidtxt, "%d", p.pid);
            snprintf(up, sizeof up, "%lld", (long long)((now - p.started_us) / 1000000));
        }
        printf("%-12s %-8u %-8s %-10s %-8s %-8u %s\n", p.service, p.instance, pidtxt,
               shm_state_name((enum shm_state)p.state), up, p.restarts,
               p.reason[0] ? why_text(&p, why, sizeof why) : "");
    }
    shm_detach(seg);
    return 0;
}

static int cmd_start(const char *confdir, const cfg_t *cfg, const mcf_t *mcf) {
    pid_t running = rt_running_pid(cfg);
    if (running != 0) {
        fprintf(stderr, "switchboard: a master already runs for %s (pid %ld)\n", confdir,
                (long)running);
        return 1;
    }
    char master[PATH_MAX], exe[PATH_MAX];
    const char *dd = cfg_str(cfg, CFG_daemon_directory);
    if (dd[0]) {
        snprintf(master, sizeof master, "%s/master", dd);
    } else {
        ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
        if (n <= 0) {
            perror("switchboard: /proc/self/exe");
            return 1;
        }
        exe[n] = '\0';
        snprintf(master, sizeof master, "%s/master", dirname(exe));
    }
    int64_t t0 = clock_mono_us();
    pid_t pid = fork();
    if (pid == 0) {
        execl(master, master, "-c", confdir, (char *)NULL);
        fprintf(stderr, "switchboard: cannot run %s: %s\n", master, strerror(errno));
        _exit(127);
    }
    int status;
    if (pid < 0 || waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) ||
        WEXITSTATUS(status) != 0)
        return 1; /* master said why on stderr */
    int want = config_process_count(mcf), used = 0, ready = 0;
    struct shm_seg *seg = NULL;
    long timeout_ms = cfg_time_ms(cfg, CFG_start_timeout);
    for (int64_t deadline = t0 + timeout_ms * 1000LL; clock_mono_us() < deadline;
         sleep_us(POLL_US)) {
        if (!seg && open_shm(cfg, &seg) < 0)
            continue;
        count_ready(seg, &used, &ready);
        if (used == want && ready == want) {
            printf("switchboard: started %d processes in %lld ms\n", want,
                   (long long)(clock_mono_us() - t0) / 1000);
            shm_detach(seg);
            return 0;
        }
    }
    fprintf(stderr,
            "switchboard: started, but only %d of %d processes are ready after %ld ms "
            "(start_timeout); see %s\n",
            ready, want, timeout_ms, cfg_str(cfg, CFG_log_file));
    if (seg) {
        print_not_ready(seg);
        shm_detach(seg);
    }
    return 1;
}

static int cmd_stop(const char *confdir, const cfg_t *cfg) {
    pid_t pid = rt_running_pid(cfg);
    if (pid <= 0) {
        fprintf(stderr, "switchboard: not running (%s)\n", confdir);
        return 1;
    }
    if (kill(pid, SIGTERM) < 0) {
        fprintf(stderr, "switchboard: kill %ld: %s\n", (long)pid, strerror(errno));
        return 1;
    }
    int64_t wait_us = (cfg_time_ms(cfg, CFG_drain_timeout) + 10000) * 1000;
    for (int64_t deadline = clock_mono_us() + wait_us; clock_mono_us() < deadline;
         sleep_us(POLL_US))
        if (rt_running_pid(cfg) == 0 && kill(pid, 0) < 0 && errno == ESRCH) {
            printf("switchboard: stopped\n");
            return 0;
        }
    fprintf(stderr, "switchboard: master pid %ld is still running\n", (long)pid);
    return 1;
}

static int cmd_reload(const char *confdir, const cfg_t *cfg) {
    pid_t pid = rt_running_pid(cfg);
    struct shm_seg *seg;
    if (pid <= 0) {
        fprintf(stderr, "switchboard: not running (%s)\n", confdir);
        return 1;
    }
    if (open_shm(cfg, &seg) < 0) {
        fprintf(stderr, "switchboard: cannot read master's shm\n");
        return 1;
    }
    uint64_t gen = __atomic_load_n(&seg->hdr.generation, __ATOMIC_ACQUIRE);
    if (kill(pid, SIGHUP) < 0) {
        fprintf(stderr, "switchboard: kill %ld: %s\n", (long)pid, strerror(errno));
        shm_detach(seg);
        return 1;
    }
    for (int64_t deadline = clock_mono_us() + 5000000; clock_mono_us() < deadline;
         sleep_us(POLL_US))
        if (__atomic_load_n(&seg->hdr.generation, __ATOMIC_ACQUIRE) != gen) {
            printf("switchboard: reloaded\n");
            shm_detach(seg);
            return 0;
        }
    shm_detach(seg);
    fprintf(stderr, "switchboard: master did not apply the reload; see its log\n");
    return 1;
}

/* The ACL users of the roles, to load into an external Redis (docs/security.md). */
static int cmd_redis_acl(const char *confdir) {
    char err[1024];
    cfg_t *cfg = cfg_load(confdir, err, sizeof err);
    if (!cfg) {
        fprintf(stderr, "switchboard: %s\n", err);
        return 1;
    }
    int rc = 0;
    if (!cfg_bool(cfg, CFG_redis_acl))
        fprintf(stderr, "switchboard: redis_acl = no: the workers do not authenticate\n");
    else if (redisacl_prepare_secrets(cfg, err, sizeof err) < 0 ||
             redisacl_write(cfg, stdout, false, err, sizeof err) < 0) {
        fprintf(stderr, "switchboard: %s\n", err);
        rc = 1;
    }
    cfg_free(cfg);
    return rc;
}

int main(int argc, char **argv) {
    const char *confdir = getenv("SWITCHBOARD_CONFIG_DIR");
    char real[PATH_MAX];
    int opt;
    if (!confdir)
        confdir = "/etc/switchboard";
    while ((opt = getopt(argc, argv, "+c:")) != -1) {
        if (opt == 'c')
            confdir = optarg;
        else
            usage();
    }
    if (optind >= argc || (optind + 1 != argc && strcmp(argv[optind], "user") != 0))
        usage();
    const char *cmd = argv[optind];
    if (!realpath(confdir, real)) {
        fprintf(stderr, "switchboard: config directory %s: %s\n", confdir, strerror(errno));
        return 1;
    }
    cfg_t *cfg;
    mcf_t *mcf;
    if (strcmp(cmd, "start") && strcmp(cmd, "stop") && strcmp(cmd, "reload") &&
        strcmp(cmd, "status") && strcmp(cmd, "check") && strcmp(cmd, "api-token") &&
        strcmp(cmd, "redis-acl") && strcmp(cmd, "user"))
        usage();
    int rc = 0;
    if (strcmp(cmd, "redis-acl") == 0)
        return cmd_redis_acl(real);
    if (strcmp(cmd, "api-token") == 0 || strcmp(cmd, "user") == 0) {
        char err[1024];
        if (!(cfg = cfg_load(real, err, sizeof err))) {
            fprintf(stderr, "switchboard: %s\n", err);
            return 1;
        }
        /* user: only main.cf (redis_address, sip_domains, secret_directory) */
        rc = strcmp(cmd, "user") == 0 ? users_main(cfg, argc - optind - 1, argv + optind + 1)
                                      : cmd_api_token(cfg);
        cfg_free(cfg);
        return rc;
    }
    if (strcmp(cmd, "status") == 0 || strcmp(cmd, "stop") == 0) {
        /* Only run_directory is needed: a broken master.cf must not stop these. */
        char err[1024];
        if (!(cfg = cfg_load(real, err, sizeof err))) {
            fprintf(stderr, "switchboard: %s\n", err);
            return 1;
        }
        rc = strcmp(cmd, "status") == 0 ? cmd_status(cfg) : cmd_stop(real, cfg);
        cfg_free(cfg);
        return rc;
    }
    if (load(real, &cfg, &mcf) < 0)
        return 1;
    /* check and start: what the workers will load, loaded now (reload keeps routerd's
     * running dialplan when the new one is refused, so it does not need it) */
    if ((strcmp(cmd, "check") == 0 || strcmp(cmd, "start") == 0) &&
        preflight_check(cfg, print_problem, NULL) > 0)
        rc = 1;
    else if (strcmp(cmd, "start") == 0)
        rc = cmd_start(real, cfg, mcf);
    else if (strcmp(cmd, "reload") == 0)
        rc = cmd_reload(real, cfg);
    cfg_free(cfg);
    mcf_free(mcf);
    return rc;
}
