/*
 * master - the supervisor: reads CONFDIR/main.cf and master.cf, prepares the run
 * directory, the pid lock and the shm segment, then runs every service (supervisor.h).
 * SIGHUP reloads, SIGTERM/SIGINT stop gracefully (twice: kill now), SIGCHLD reaps.
 *   master -c CONFDIR [-f]      -f: stay in the foreground, log to stderr
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uv.h>

#include "apitoken.h"
#include "clock.h"
#include "config.h"
#include "log.h"
#include "preflight.h"
#include "privs.h"
#include "redisacl.h"
#include "runtime.h"
#include "shm.h"
#include "supervisor.h"

struct master {
    uv_loop_t loop;
    uv_signal_t sig_chld, sig_hup, sig_term, sig_int;
    sup_t *sup;
    char confdir[PATH_MAX];
    char shm_name[64];
    struct shm_seg *shm;
    int shm_fd;
};

static void usage(void) {
    fprintf(stderr, "usage: master -c CONFDIR [-f]\n");
    exit(2);
}

static void on_signal(uv_signal_t *h, int signum) {
    struct master *m = h->data;
    char err[1024];
    cfg_t *cfg;
    mcf_t *mcf;
    switch (signum) {
    case SIGCHLD:
        sup_reap(m->sup);
        break;
    case SIGHUP:
        log_info("reload requested");
        if (config_load(m->confdir, &cfg, &mcf, err, sizeof err) < 0) {
            log_error("reload refused, keeping the running configuration: %s", err);
            break;
        }
        for (size_t i = 0; i < cfg_warning_count(cfg); i++)
            log_warn("%s", cfg_warning(cfg, i));
        log_set_level(cfg_level(cfg, CFG_log_level));
        sup_reload(m->sup, cfg, mcf);
        break;
    default:
        log_info("%s received", signum == SIGINT ? "SIGINT" : "SIGTERM");
        sup_stop(m->sup);
    }
}

static void on_stopped(void *arg) {
    struct master *m = arg;
    uv_close((uv_handle_t *)&m->sig_hup, NULL);
    uv_close((uv_handle_t *)&m->sig_term, NULL);
    uv_close((uv_handle_t *)&m->sig_int, NULL);
    uv_close((uv_handle_t *)&m->sig_chld, NULL);
}

static void log_problem(void *arg, const char *problem) {
    (void)arg;
    log_error("%s", problem);
}

/* The directory of this program: the default daemon_directory. */
static void self_dir(char *out, size_t outlen) {
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0)
        log_fatal("cannot find my own program: %s", strerror(errno));
    exe[n] = '\0';
    snprintf(out, outlen, "%s", dirname(exe));
}

/* The soft descriptor limit up to the hard one, for master and, inherited, every worker:
 * mediad holds 4 sockets per call (docs/operations.md, "Sizing for N calls"), and service
 * managers and shells commonly start us at a soft 1024 below a far higher hard limit. The
 * hard limit stays: raising it is the operator's decision (LimitNOFILE=, limits.conf). */
static void raise_nofile(void) {
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) < 0) {
        log_warn("getrlimit(RLIMIT_NOFILE): %s", strerror(errno));
        return;
    }
    if (rl.rlim_cur == rl.rlim_max)
        return;
    rlim_t was = rl.rlim_cur;
    rl.rlim_cur = rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &rl) < 0) {
        log_warn("cannot raise the descriptor limit from %llu to %llu: %s", (unsigned long long)was,
                 (unsigned long long)rl.rlim_max, strerror(errno));
        return;
    }
    log_info("descriptor limit raised from %llu to %llu", (unsigned long long)was,
             (unsigned long long)rl.rlim_max);
}

/* Background: the parent waits on a pipe until the daemon has started its services (or
 * says why it could not), so `switchboard start` reports start-up errors. */
static int daemonize(const char *log_file, int *report_fd) {
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0)
        log_fatal("pipe: %s", strerror(errno));
    pid_t pid = fork();
    if (pid < 0)
        log_fatal("fork: %s", strerror(errno));
    if (pid > 0) {
        char buf[1024];
        close(p[1]);
        ssize_t n = read(p[0], buf, sizeof buf - 1);
        if (n > 0 && buf[0] == 'K')
            _exit(0);
        if (n > 1) {
            buf[n] = '\0';
            fprintf(stderr, "master: %s\n", buf + 1);
        } else {
            fprintf(stderr, "master: failed to start; see %s\n", log_file);
        }
        _exit(1);
    }
    close(p[0]);
    setsid();
    int fd = open("/dev/null", O_RDWR);
    if (fd >= 0) {
        dup2(fd, STDIN_FILENO);
        dup2(fd, STDOUT_FILENO);
        if (fd > 2)
            close(fd);
    }
    int lfd = open(log_file, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
    if (lfd < 0) {
        dprintf(p[1], "Ecannot open log_file %s: %s", log_file, strerror(errno));
        _exit(1);
    }
    dup2(lfd, STDERR_FILENO);
    close(lfd);
    *report_fd = p[1];
    return 0;
}

int main(int argc, char **argv) {
    static struct master m;
    const char *confdir = NULL;
    bool foreground = false;
    int opt, report_fd = -1;
    char err[1024], daemon_dir[PATH_MAX];
    cfg_t *cfg;
    mcf_t *mcf;

    log_init("master", -1);
    while ((opt = getopt(argc, argv, "c:f")) != -1) {
        if (opt == 'c')
            confdir = optarg;
        else if (opt == 'f')
            foreground = true;
        else
            usage();
    }
    if (!confdir || optind != argc)
        usage();
    if (!realpath(confdir, m.confdir))
        log_fatal("config directory %s: %s", confdir, strerror(errno));
    if (config_load(m.confdir, &cfg, &mcf, err, sizeof err) < 0)
        log_fatal("%s", err);
    for (size_t i = 0; i < cfg_warning_count(cfg); i++)
        log_warn("%s", cfg_warning(cfg, i));
    log_set_level(cfg_level(cfg, CFG_log_level));
    if (preflight_check(cfg, log_problem, NULL) > 0)
        log_fatal("refusing to start: the workers could not load their configuration");

    bool root = geteuid() == 0;
    uid_t uid = 0;
    gid_t gid = 0;
    if (root && priv_lookup(cfg_str(cfg, CFG_service_user), &uid, &gid) < 0)
        log_fatal("%s/main.cf: service_user '%s' does not exist (make deps creates "
                  "'switchboard')",
                  m.confdir, cfg_str(cfg, CFG_service_user));
    if (rt_prepare(cfg, root, uid, gid, err, sizeof err) < 0)
        log_fatal("%s", err);
    int lock_fd = rt_lock(cfg);
    if (lock_fd == -EWOULDBLOCK)
        log_fatal("a master already runs for %s (pid %ld)", m.confdir,
                  (long)rt_running_pid(cfg));
    if (lock_fd < 0)
        log_fatal("cannot lock %s/master.pid: %s", cfg_str(cfg, CFG_run_directory),
                  strerror(-lock_fd));
    if (redisacl_prepare(cfg, root, uid, gid, err, sizeof err) < 0)
        log_fatal("%s", err);
    if (!foreground)
        daemonize(cfg_str(cfg, CFG_log_file), &report_fd);
    raise_nofile();
    rt_write_pid(lock_fd, getpid());
    if (chdir(cfg_str(cfg, CFG_run_directory)) < 0)
        log_fatal("chdir %s: %s", cfg_str(cfg, CFG_run_directory), strerror(errno));

    if (rt_shm_name(cfg, m.shm_name, sizeof m.shm_name) < 0)
        log_fatal("shm name too long");
    int rc = shm_create(m.shm_name, &m.shm, &m.shm_fd);
    if (rc < 0)
        log_fatal("cannot create shm segment %s: %s", m.shm_name, strerror(-rc));
    m.shm->hdr.master_pid = getpid();
    m.shm->hdr.master_started_us = clock_wall_us();
    snprintf(m.shm->hdr.node_id, sizeof m.shm->hdr.node_id, "%s", cfg_str(cfg, CFG_node_id));
    snprintf(m.shm->hdr.config_directory, sizeof m.shm->hdr.config_directory, "%.255s", m.confdir);

    const char *dd = cfg_str(cfg, CFG_daemon_directory);
    if (dd[0])
        snprintf(daemon_dir, sizeof daemon_dir, "%s", dd);
    else
        self_dir(daemon_dir, sizeof daemon_dir);

    signal(SIGPIPE, SIG_IGN);
    uv_loop_init(&m.loop);
    uv_signal_t *sigs[] = {&m.sig_chld, &m.sig_hup, &m.sig_term, &m.sig_int};
    int signums[] = {SIGCHLD, SIGHUP, SIGTERM, SIGINT};
    for (int i = 0; i < 4; i++) {
        uv_signal_init(&m.loop, sigs[i]);
        sigs[i]->data = &m;
        uv_signal_start(sigs[i], on_signal, signums[i]);
    }

    /* The admin API's token: made once, kept across restarts (apitoken.h). */
    const char *token_file = cfg_str(cfg, CFG_api_token_file);
    rc = apitok_ensure(token_file);
    if (rc == 1)
        log_info("made a new API token in %s (switchboard api-token prints it)", token_file);
    else if (rc < 0)
        log_error("api_token_file %s: %s: apid serves only with main.cf api_token, or with "
                  "api_insecure = yes on loopback",
                  token_file, strerror(-rc));

    struct sup_params params = {&m.loop,    m.shm,      m.shm_fd, m.confdir,
                                daemon_dir, getpid(), on_stopped, &m};
    m.sup = sup_start(&params, cfg, mcf, err, sizeof err);
    if (!m.sup) {
        if (report_fd >= 0)
            dprintf(report_fd, "E%s", err);
        shm_detach(m.shm);
        shm_unlink_name(m.shm_name);
        rt_cleanup(cfg);
        log_fatal("%s", err);
    }
    log_info("started for %s (pid %ld)", m.confdir, (long)getpid());
    if (report_fd >= 0) {
        ssize_t w = write(report_fd, "K", 1);
        (void)w;
        close(report_fd);
    }

    uv_run(&m.loop, UV_RUN_DEFAULT);

    /* Stopped: every process is gone. Remove what we made; the lock goes last. */
    rt_cleanup(sup_cfg(m.sup));
    sup_free(m.sup);
    shm_detach(m.shm);
    close(m.shm_fd);
    shm_unlink_name(m.shm_name);
    uv_loop_close(&m.loop);
    log_info("stopped");
    close(lock_fd);
    return 0;
}
