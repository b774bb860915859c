/* preflight - see preflight.h */
#include "preflight.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "digest.h"
#include "netacl.h"
#include "privs.h"
#include "procs/routerd/dialguard.h"
#include "procs/routerd/dialplan.h"
#include "procs/sipd/contact_rule.h"
#include "redis.h"
#include "resources.h"

#define PF_MAX_FILES 256

struct pf {
    const cfg_t *cfg;
    preflight_report_fn report;
    void *arg;
    int problems;
};

static void problem(struct pf *pf, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void problem(struct pf *pf, const char *fmt, ...) {
    char text[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    pf->problems++;
    pf->report(pf->arg, text);
}

/* "main.cf:12: name = value" or "main.cf: name = value (default)". */
static const char *where(const struct pf *pf, enum cfg_param p, char *out, size_t cap) {
    int line = cfg_line(pf->cfg, p);
    const char *name = cfg_param_info(p)->name, *value = cfg_str(pf->cfg, p);
    if (line > 0)
        snprintf(out, cap, "%s:%d: %s = %.200s", cfg_file(pf->cfg), line, name, value);
    else
        snprintf(out, cap, "%s: %s = %.200s (default)", cfg_file(pf->cfg), name, value);
    return out;
}

static bool gateway_known(void *arg, const char *name) {
    char uri[256];
    return res_gateway_uri(arg, name, uri, sizeof uri);
}

/* The files a worker opens after its drop, and how root sees them (for the message). */
struct pf_file {
    const char *what;  /* "dialplan_path", "play_audio of route X" */
    const char *name;  /* as the worker opens it */
    bool audio;        /* res_audio_open in audio_path, else res_open_at in its dir */
};

static void describe(int dirfd, const char *dir, const struct pf_file *f, char *out, size_t cap) {
    struct stat st;
    const char *name = f->audio ? f->name : strrchr(f->name, '/') ? strrchr(f->name, '/') + 1
                                                                  : f->name;
    int rc = dirfd >= 0 ? fstatat(dirfd, name, &st, 0) : -1;
    if (rc < 0 && f->audio && strncmp(name, "audio/", 6) == 0)
        rc = fstatat(dirfd, name + 6, &st, 0);
    if (rc < 0) {
        snprintf(out, cap, "in %.140s", dir);
        return;
    }
    struct passwd *pw = getpwuid(st.st_uid);
    struct group *gr = getgrgid(st.st_gid);
    char u[32], g[32];
    snprintf(u, sizeof u, "%s", pw ? pw->pw_name : "?");
    snprintf(g, sizeof g, "%s", gr ? gr->gr_name : "?");
    snprintf(out, cap, "mode %04o, owner %s:%s", (unsigned)(st.st_mode & 07777), u, g);
}

/* Root only: opens every file as a worker will (directories now, files after the drop to
 * service_user) in a child, which writes one line per file it cannot open. */
static void check_as_service_user(struct pf *pf, const struct pf_file *files, size_t n) {
    const char *user = cfg_str(pf->cfg, CFG_service_user);
    const char *audio = cfg_str(pf->cfg, CFG_audio_path);
    const char *dpath = cfg_str(pf->cfg, CFG_dialplan_path);
    int p[2];
    if (pipe(p) < 0)
        return;
    pid_t pid = fork();
    if (pid < 0) {
        close(p[0]);
        close(p[1]);
        return;
    }
    if (pid == 0) {
        close(p[0]);
        char ddir[4096], err[256], desc[160];
        int audio_fd = res_dir_open(audio);
        int dp_fd = res_split(dpath, ddir, sizeof ddir) ? res_dir_open(ddir) : -1;
        char (*descs)[160] = calloc(n ? n : 1, sizeof *descs);
        for (size_t i = 0; descs && i < n; i++)
            describe(files[i].audio ? audio_fd : dp_fd, files[i].audio ? audio : ddir, &files[i],
                     descs[i], sizeof descs[i]);
        if (priv_drop(user, NULL, err, sizeof err) < 0) {
            dprintf(p[1], "cannot become service_user '%s': %s\n", user, err);
            _exit(0);
        }
        for (size_t i = 0; i < n; i++) {
            int fd = files[i].audio ? res_audio_open(audio_fd, audio, files[i].name)
                                    : res_open_at(dp_fd, files[i].name);
            char buf[1];
            if (fd >= 0 && read(fd, buf, 0) < 0)
                fd = -errno;
            if (fd >= 0) {
                close(fd);
                continue;
            }
            snprintf(desc, sizeof desc, "%s", descs ? descs[i] : "");
            dprintf(p[1], "%s %s: not readable by service_user '%s' (%s): %s\n", files[i].what,
                    files[i].name, user, desc, strerror(-fd));
        }
        _exit(0);
    }
    close(p[1]);
    FILE *in = fdopen(p[0], "r");
    char line[1200];
    while (in && fgets(line, sizeof line, in)) {
        line[strcspn(line, "\n")] = '\0';
        problem(pf, "%s", line);
    }
    if (in)
        fclose(in);
    else
        close(p[0]);
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
}

int preflight_check(const cfg_t *cfg, preflight_report_fn report, void *arg) {
    struct pf pf = {cfg, report, arg, 0};
    char at[512], err[768], host[256];
    int port;

    if (rds_parse_address(cfg_str(cfg, CFG_redis_address), host, sizeof host, &port, err,
                          sizeof err) < 0)
        problem(&pf, "%s: %s", where(&pf, CFG_redis_address, at, sizeof at), err);
    struct res_media_if ifs[RES_MEDIA_IF_MAX];
    size_t n_ifs;
    if (res_media_interfaces(cfg_str(cfg, CFG_media_address), ifs, RES_MEDIA_IF_MAX, &n_ifs, err,
                             sizeof err) < 0)
        problem(&pf, "%s: %s", where(&pf, CFG_media_address, at, sizeof at), err);
    const char *gateways = cfg_str(cfg, CFG_dialplan_gateways);
    if (res_gateways_check(gateways, err, sizeof err) < 0)
        problem(&pf, "%s: %s", where(&pf, CFG_dialplan_gateways, at, sizeof at), err);
    /* digest authentication (docs/security.md) */
    enum digest_alg algs[DIGEST_MAX_ALGS];
    if (digest_algs_parse(cfg_str(cfg, CFG_sip_auth_algorithms), algs) < 0)
        problem(&pf, "%s: '%s': expected SHA-256 and/or MD5, each once",
                where(&pf, CFG_sip_auth_algorithms, at, sizeof at),
                cfg_str(cfg, CFG_sip_auth_algorithms));
    /* the address lists: one parser (netacl.h) */
    static const enum cfg_param lists[] = {CFG_sip_trusted_peers, CFG_sip_pike_exempt,
                                           CFG_register_contact_allow, CFG_media_allow_targets};
    struct netacl *acl = malloc(sizeof *acl);
    for (size_t i = 0; acl && i < sizeof lists / sizeof lists[0]; i++)
        if (netacl_parse(cfg_str(cfg, lists[i]), acl, err, sizeof err) < 0)
            problem(&pf, "%s: %s", where(&pf, lists[i], at, sizeof at), err);
    free(acl);
    if (dialguard_pattern_check(cfg_str(cfg, CFG_dialplan_gateway_numbers), err, sizeof err) < 0)
        problem(&pf, "%s: %s", where(&pf, CFG_dialplan_gateway_numbers, at, sizeof at), err);

    const char *audio = cfg_str(cfg, CFG_audio_path);
    int audio_fd = res_dir_open(audio);
    if (audio_fd < 0)
        problem(&pf, "%s: cannot open the directory: %s", where(&pf, CFG_audio_path, at, sizeof at),
                strerror(-audio_fd));

    /* routerd's loader, on the directory descriptor as routerd opens it */
    const char *dpath = cfg_str(cfg, CFG_dialplan_path);
    char ddir[4096];
    int dp_fd = res_split(dpath, ddir, sizeof ddir) ? res_dir_open(ddir) : -1;
    dialplan_t *dp =
        dialplan_load_at(dp_fd, dpath, gateway_known, (void *)gateways, err, sizeof err);
    if (dp_fd >= 0)
        close(dp_fd);
    if (!dp)
        problem(&pf, "%s (%s)", err, where(&pf, CFG_dialplan_path, at, sizeof at));

    struct pf_file *files = calloc(PF_MAX_FILES, sizeof *files);
    char(*whats)[96] = calloc(PF_MAX_FILES, sizeof *whats);
    size_t nfiles = 0;
    if (!files || !whats)
        problem(&pf, "out of memory checking the dialplan's files");
    else if (dp)
        files[nfiles++] = (struct pf_file){"dialplan_path", dpath, false};
    for (size_t r = 0; dp && r < dp->nroutes; r++)
        for (size_t i = 0; i < dp->routes[r].nactions; i++) {
            const struct dp_action *act = &dp->routes[r].actions[i];
            if (act->type != DP_PLAY_AUDIO)
                continue;
            if (audio_fd >= 0) {
                int fd = res_audio_open(audio_fd, audio, act->file);
                if (fd < 0) {
                    problem(&pf, "%s: route '%s': play_audio file '%s': %s in audio_path %s",
                            dpath, dp->routes[r].id, act->file, strerror(-fd), audio);
                    continue;
                }
                close(fd);
            }
            if (files && whats && nfiles < PF_MAX_FILES) {
                snprintf(whats[nfiles], sizeof whats[nfiles], "route '%.60s': play_audio",
                         dp->routes[r].id);
                files[nfiles] = (struct pf_file){whats[nfiles], act->file, true};
                nfiles++;
            }
        }
    if (audio_fd >= 0)
        close(audio_fd);
    if (geteuid() == 0 && nfiles > 0 && pf.problems == 0)
        check_as_service_user(&pf, files, nfiles);
    free(files);
    free(whats);
    dialplan_free(dp);
    return pf.problems;
}
