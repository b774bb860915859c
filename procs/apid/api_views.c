/* api_views - see api_views.h */
#include "api_views.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static json_t *api_proc_counters(const struct shm_proc *p) {
    json_t *counters = json_object();
    int rc = counters ? 0 : -1;
    for (int c = 0; rc == 0 && c < SHM_COUNTER_COUNT; c++)
        rc = api_set(counters, shm_counter_name((enum shm_counter)c), api_uint(p->counters[c]));
    if (rc < 0) {
        json_decref(counters);
        return NULL;
    }
    return counters;
}

/* One entry of /api/v1/processes from a consistent copy of a slot. */
static json_t *api_proc(const struct api_env *env, const struct shm_proc *p) {
    bool running = p->pid > 0;
    json_t *uptime = json_null();
    if (running && p->started_us > 0) {
        int64_t up = env->now_wall_us - p->started_us; /* < 0 after a clock step back */
        uptime = json_integer(up > 0 ? up / 1000000 : 0);
    }
    /* Exec services (redis-server) never beat; a slot without a process has no beat. */
    json_t *hb_age = json_null();
    if (running && !(p->flags & SHM_F_EXEC) && p->heartbeat_mono_us > 0) {
        int64_t age = env->now_mono_us - p->heartbeat_mono_us;
        hb_age = json_integer(age > 0 ? age / 1000 : 0);
    }
    json_t *o = json_object();
    int rc = o ? 0 : -1;
    rc |= api_set(o, "service", api_text(p->service));
    rc |= api_set(o, "role", api_text(p->role));
    rc |= api_set(o, "instance", json_integer(p->instance));
    rc |= api_set(o, "pid", json_integer(p->pid));
    rc |= api_set(o, "state", json_string(shm_state_name((enum shm_state)p->state)));
    rc |= api_set(o, "waiting_for", p->reason[0] ? api_text(p->reason) : json_null());
    rc |= api_set(o, "started_at", api_time(p->started_us));
    rc |= api_set(o, "uptime_seconds", uptime);
    rc |= api_set(o, "restarts", json_integer(p->restarts));
    rc |= api_set(o, "heartbeat_age_ms", hb_age);
    rc |= api_set(o, "counters", api_proc_counters(p));
    if (rc) {
        json_decref(o);
        return NULL;
    }
    return o;
}

/* The roles a call needs, in the order health names them; "needed": the node takes no
 * call without one ready instance (apid is reported, not needed: it answers this). */
static const struct {
    const char *role;
    bool needed;
} api_health_roles[] = {
    {"sipd", true}, {"routerd", true}, {"dialogd", true}, {"mediad", true}, {"apid", false},
};
#define API_HEALTH_ROLES (sizeof api_health_roles / sizeof api_health_roles[0])

/* Appends a reason (printf-style) to list; -1 when out of memory. */
static int api_reason(json_t *list, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int api_reason(json_t *list, const char *fmt, ...) {
    char text[200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    return json_array_append_new(list, json_string(text));
}

int api_view_health(const struct api_env *env, json_t **doc) {
    json_int_t total = 0, ready = 0;
    struct {
        json_int_t ready, starting, degraded, down, in_service;
    } count[API_HEALTH_ROLES] = {{0}};
    json_t *reasons = json_array();
    int rc = reasons ? 0 : -1;
    for (int i = 0; i < SHM_MAX_PROCS; i++) {
        struct shm_proc p;
        shm_proc_read(&env->shm->procs[i], &p);
        if (p.state == SHM_EMPTY)
            continue;
        total++;
        bool up = p.state == SHM_READY && p.pid > 0;
        ready += up;
        if (p.flags & SHM_F_EXEC)
            continue; /* redis-server: Redis counts through apid's link */
        size_t r = 0;
        while (r < API_HEALTH_ROLES && strcmp(api_health_roles[r].role, p.role) != 0)
            r++;
        if (r == API_HEALTH_ROLES)
            continue;
        bool drained = env->shm->stats[i].media_drained != 0;
        if (up) {
            count[r].ready++;
            count[r].in_service += !drained;
            if (drained)
                rc |= api_reason(reasons, "%s[%u] is drained (takes no new calls)", p.service,
                                 p.instance);
            continue;
        }
        if (p.state == SHM_STARTING)
            count[r].starting++;
        else if (p.state == SHM_DEGRADED)
            count[r].degraded++;
        else
            count[r].down++;
        if (p.reason[0])
            rc |= api_reason(reasons, "%s[%u] %s: waiting for %s", p.service, p.instance,
                             shm_state_name((enum shm_state)p.state), p.reason);
        else
            rc |= api_reason(reasons, "%s[%u] %s", p.service, p.instance,
                             shm_state_name((enum shm_state)p.state));
    }
    bool healthy = env->redis_up;
    if (!env->redis_up)
        rc |= api_reason(reasons, "Redis is unreachable");
    json_t *roles = json_object();
    if (!roles)
        rc = -1;
    for (size_t r = 0; rc == 0 && r < API_HEALTH_ROLES; r++) {
        bool mediad = strcmp(api_health_roles[r].role, "mediad") == 0;
        json_int_t serving = mediad ? count[r].in_service : count[r].ready;
        if (api_health_roles[r].needed && serving == 0) {
            healthy = false;
            rc |= api_reason(reasons, "no %s is %s", api_health_roles[r].role,
                             mediad ? "ready and in service" : "ready");
        }
        json_t *c = json_object();
        rc |= c ? 0 : -1;
        rc |= api_set(c, "ready", json_integer(count[r].ready));
        rc |= api_set(c, "starting", json_integer(count[r].starting));
        rc |= api_set(c, "degraded", json_integer(count[r].degraded));
        rc |= api_set(c, "down", json_integer(count[r].down));
        if (mediad)
            rc |= api_set(c, "in_service", json_integer(count[r].in_service));
        rc |= api_set(roles, api_health_roles[r].role, c);
    }
    json_t *o = json_object();
    rc |= o ? 0 : -1;
    rc |= api_set(o, "status", json_string(healthy ? "ok" : "unavailable"));
    rc |= api_set(o, "timestamp", api_time(env->now_wall_us));
    rc |= api_set(o, "node_id", api_text(env->node_id ? env->node_id : ""));
    rc |= api_set(o, "processes_total", json_integer(total));
    rc |= api_set(o, "processes_ready", json_integer(ready));
    rc |= api_set(o, "redis", json_string(env->redis_up ? "up" : "down"));
    rc |= api_set(o, "roles", roles);
    rc |= api_set(o, "reasons", reasons);
    if (rc) {
        json_decref(o);
        return 500;
    }
    *doc = o;
    return healthy ? 200 : 503;
}

int api_view_processes(const struct api_env *env, json_t **doc) {
    json_t *master = json_object();
    int rc = master ? 0 : -1;
    rc |= api_set(master, "pid", json_integer(env->shm->hdr.master_pid));
    rc |= api_set(master, "started_at", api_time(env->shm->hdr.master_started_us));
    json_t *list = json_array();
    if (!list)
        rc = -1;
    for (int i = 0; rc == 0 && i < SHM_MAX_PROCS; i++) {
        struct shm_proc p;
        shm_proc_read(&env->shm->procs[i], &p);
        if (p.state == SHM_EMPTY)
            continue;
        json_t *entry = api_proc(env, &p);
        rc = entry ? json_array_append_new(list, entry) : -1;
    }
    json_t *o = json_object();
    if (!o)
        rc = -1;
    rc |= api_set(o, "node_id", api_text(env->node_id ? env->node_id : ""));
    rc |= api_set(o, "master", master);
    rc |= api_set(o, "processes", list);
    if (rc) {
        json_decref(o);
        return 500;
    }
    *doc = o;
    return 200;
}

/* Main.cf parameters whose values are never shown. */
static bool api_param_secret(const char *name) {
    return strstr(name, "token") || strstr(name, "password") || strstr(name, "secret");
}

int api_view_stats(const struct api_env *env, json_t **doc) {
    uint64_t sip_req = 0, sip_resp = 0, regs = 0, regs_failed = 0, restarts = 0;
    uint64_t sessions = 0, sessions_created = 0, dialogs = 0;
    for (int i = 0; i < SHM_MAX_PROCS; i++) {
        struct shm_proc p;
        shm_proc_read(&env->shm->procs[i], &p);
        if (p.state == SHM_EMPTY)
            continue;
        sessions += p.counters[SHM_C_media_sessions];
        sessions_created += p.counters[SHM_C_media_sessions_created];
        dialogs += p.counters[SHM_C_calls_active];
        sip_req += p.counters[SHM_C_sip_rx_requests];
        sip_resp += p.counters[SHM_C_sip_tx_responses];
        regs += p.counters[SHM_C_registers];
        regs_failed += p.counters[SHM_C_registers_failed];
        restarts += p.restarts;
    }
    int64_t up = env->shm->hdr.master_started_us > 0
                     ? (env->now_wall_us - env->shm->hdr.master_started_us) / 1000000
                     : 0;
    json_t *o = json_object();
    int rc = o ? 0 : -1;
    /* The prototype's fields: sessions are mediad's (created since its start, alive now),
     * dialogs the calls dialogd holds, all from the shm counters. */
    rc |= api_set(o, "total_sessions", api_uint(sessions_created));
    rc |= api_set(o, "active_sessions", api_uint(sessions));
    rc |= api_set(o, "total_registrations",
                  json_integer(env->registrations > 0 ? env->registrations : 0));
    rc |= api_set(o, "active_dialogs", api_uint(dialogs));
    rc |= api_set(o, "uptime_seconds", json_integer(up > 0 ? up : 0));
    /* Ours. */
    rc |= api_set(o, "node_id", api_text(env->node_id ? env->node_id : ""));
    rc |= api_set(o, "registrations_known", json_boolean(env->registrations >= 0));
    rc |= api_set(o, "sip_requests", api_uint(sip_req));
    rc |= api_set(o, "sip_responses", api_uint(sip_resp));
    rc |= api_set(o, "registers", api_uint(regs));
    rc |= api_set(o, "registers_failed", api_uint(regs_failed));
    rc |= api_set(o, "process_restarts", api_uint(restarts));
    rc |= api_set(o, "redis", json_string(env->redis_up ? "up" : "down"));
    if (rc) {
        json_decref(o);
        return 500;
    }
    *doc = o;
    return 200;
}

int api_view_config(const struct api_env *env, json_t **doc) {
    if (!env->cfg)
        return 503;
    json_t *params = json_object();
    int rc = params ? 0 : -1;
    for (int i = 0; rc == 0 && i < CFG_PARAM_COUNT; i++) {
        const struct cfg_param_info *info = cfg_param_info((enum cfg_param)i);
        const char *v = cfg_str(env->cfg, (enum cfg_param)i);
        if (api_param_secret(info->name) && v && *v)
            v = "********";
        rc = api_set(params, info->name, api_text(v ? v : ""));
    }
    json_t *o = json_object();
    if (!o)
        rc = -1;
    const char *file = cfg_file(env->cfg);
    rc |= api_set(o, "file", api_text(file ? file : ""));
    rc |= api_set(o, "parameters", params);
    if (rc) {
        json_decref(o);
        return 500;
    }
    *doc = o;
    return 200;
}

static bool api_role_is(const struct shm_proc *p, const char *role) {
    return strncmp(p->role, role, sizeof p->role) == 0;
}

/* drain_state of a mediad: a drain under way (ours, or master's at a reload), an operator
 * drain done (still refusing new sessions), or taking sessions. */
static const char *api_drain_state_of(const struct api_env *env, int slot,
                                      const struct shm_proc *p) {
    const struct api_drain *d =
        env->drains && p->instance < API_MAX_MEDIAD ? &env->drains[p->instance] : NULL;
    if ((d && d->state == API_DRAIN_DRAINING) || p->state == SHM_DRAINING)
        return "draining";
    if (__atomic_load_n(&env->shm->stats[slot].media_drained, __ATOMIC_RELAXED))
        return "disabled";
    return "active";
}

int api_view_rtpmanagers(const struct api_env *env, json_t **doc) {
    char address[96] = "";
    if (env->cfg) {
        int lo, hi;
        cfg_port_range(env->cfg, CFG_rtp_port_range, &lo, &hi);
        const char *ma = cfg_str(env->cfg, CFG_media_address);
        snprintf(address, sizeof address, "%s:%d-%d", *ma ? ma : "*", lo, hi); /* "*": any */
    }
    json_t *members = json_array();
    int rc = members ? 0 : -1;
    json_int_t total = 0, healthy = 0;
    uint64_t sessions = 0;
    for (int i = 0; rc == 0 && i < SHM_MAX_PROCS; i++) {
        struct shm_proc p;
        shm_proc_read(&env->shm->procs[i], &p);
        if (p.state == SHM_EMPTY || !api_role_is(&p, "mediad"))
            continue;
        char node[32];
        snprintf(node, sizeof node, "mediad-%u", p.instance);
        bool up = p.pid > 0 && p.state == SHM_READY;
        total++;
        healthy += up;
        sessions += p.counters[SHM_C_media_sessions];
        json_t *m = json_object();
        rc |= m ? 0 : -1;
        rc |= api_set(m, "node_id", json_string(node));
        rc |= api_set(m, "address", json_string(address));
        rc |= api_set(m, "healthy", json_boolean(up));
        rc |= api_set(m, "drain_state", json_string(api_drain_state_of(env, i, &p)));
        rc |= api_set(m, "session_count", api_uint(p.counters[SHM_C_media_sessions]));
        rc |= api_set(m, "instance", json_integer(p.instance));
        rc |= api_set(m, "pid", json_integer(p.pid));
        rc |= m ? json_array_append_new(members, m) : -1;
    }
    json_t *o = json_object();
    rc |= o ? 0 : -1;
    rc |= api_set(o, "total_members", json_integer(total));
    rc |= api_set(o, "healthy_members", json_integer(healthy));
    rc |= api_set(o, "active_sessions", api_uint(sessions));
    rc |= api_set(o, "members", members);
    if (rc) {
        json_decref(o);
        return 500;
    }
    *doc = o;
    return 200;
}

/* This node's base URL from api_listen, or NULL when it listens on a wildcard address
 * (no one URL names it) or there is no config. */
static json_t *api_self_url(const struct api_env *env) {
    const struct cfg_addr *addrs;
    if (!env->cfg || cfg_addrs(env->cfg, CFG_api_listen, &addrs) == 0)
        return json_null();
    const char *t = addrs[0].text;
    if (strncmp(t, "0.0.0.0:", 8) == 0 || strncmp(t, "[::]:", 5) == 0)
        return json_null();
    char url[96];
    snprintf(url, sizeof url, "http://%s", t);
    return json_string(url);
}

/* The next URL of an api_peers list (space, comma or tab separated) at *p: its length,
 * *p moved past it; 0 at the end. */
static size_t api_peer_next(const char **p, const char **url) {
    *p += strspn(*p, " ,\t");
    size_t n = strcspn(*p, " ,\t");
    *url = *p;
    *p += n;
    return n;
}

size_t api_peer_origin(const char *url, size_t len) {
    const char *sep = memmem(url, len, "://", 3);
    if (!sep || !((sep - url == 4 && strncmp(url, "http", 4) == 0) ||
                  (sep - url == 5 && strncmp(url, "https", 5) == 0)))
        return 0;
    size_t host = (size_t)(sep - url) + 3, end = host;
    while (end < len && url[end] != '/')
        end++;
    if (end == host)
        return 0;
    for (size_t i = host; i < end; i++)
        if (!isalnum((unsigned char)url[i]) && !strchr(":.-[]", url[i]))
            return 0;
    return end;
}

size_t api_csp(const char *peers, char *out, size_t cap) {
    size_t len = 0;
    int n = snprintf(out, cap, "default-src 'self'; connect-src 'self'");
    if (n < 0 || (size_t)n >= cap)
        return 0;
    len = (size_t)n;
    const char *p = peers ? peers : "", *url;
    for (size_t w; (w = api_peer_next(&p, &url)) > 0;) {
        size_t olen = api_peer_origin(url, w);
        if (olen && len + 1 + olen < cap) {
            out[len++] = ' ';
            memcpy(out + len, url, olen);
            len += olen;
        }
    }
    n = snprintf(out + len, cap - len, "; frame-ancestors 'none'");
    if (n < 0 || (size_t)n >= cap - len)
        return 0;
    return len + (size_t)n;
}

int api_view_nodes(const struct api_env *env, json_t **doc) {
    json_t *nodes = json_array();
    json_t *self = json_object();
    int rc = nodes && self ? 0 : -1;
    rc |= api_set(self, "node_id", api_text(env->node_id ? env->node_id : ""));
    rc |= api_set(self, "url", api_self_url(env));
    rc |= api_set(self, "self", json_true());
    rc |= self ? json_array_append_new(nodes, self) : -1;
    const char *peers = env->cfg ? cfg_str(env->cfg, CFG_api_peers) : NULL;
    const char *p = peers ? peers : "", *url;
    for (size_t n; rc == 0 && (n = api_peer_next(&p, &url)) > 0;) {
        size_t len = n;
        while (len > 0 && url[len - 1] == '/') /* a base URL: no trailing slash */
            len--;
        json_t *peer = json_object();
        rc |= peer ? 0 : -1;
        rc |= api_set(peer, "node_id", json_null());
        rc |= api_set(peer, "url", json_stringn(url, len));
        rc |= api_set(peer, "self", json_false());
        rc |= peer ? json_array_append_new(nodes, peer) : -1;
    }
    json_t *o = json_object();
    rc |= o ? 0 : -1;
    rc |= api_set(o, "nodes", nodes);
    if (rc) {
        json_decref(o);
        return 500;
    }
    *doc = o;
    return 200;
}

/* The slot of mediad instance in the table, or -1. */
int api_mediad_slot(const struct api_env *env, int instance) {
    for (int i = 0; i < SHM_MAX_PROCS; i++) {
        struct shm_proc p;
        shm_proc_read(&env->shm->procs[i], &p);
        if (p.state != SHM_EMPTY && api_role_is(&p, "mediad") && (int)p.instance == instance)
            return i;
    }
    return -1;
}

int api_mediad_of_node(const char *node_id, size_t len) {
    static const char prefix[] = "mediad-";
    size_t pl = sizeof prefix - 1;
    if (len <= pl || len > pl + 3 || memcmp(node_id, prefix, pl) != 0)
        return -1;
    int n = 0;
    for (size_t i = pl; i < len; i++) {
        if (node_id[i] < '0' || node_id[i] > '9')
            return -1;
        n = n * 10 + (node_id[i] - '0');
    }
    if (len > pl + 1 && node_id[pl] == '0') /* one name per instance: no leading zeros */
        return -1;
    return n < API_MAX_MEDIAD ? n : -1;
}

static const char *api_drain_state_name(enum api_drain_state s) {
    switch (s) {
    case API_DRAIN_DRAINING:
        return "draining";
    case API_DRAIN_COMPLETED:
        return "completed";
    case API_DRAIN_CANCELLED:
        return "cancelled";
    default:
        return "idle";
    }
}

json_t *api_drain_json(const struct api_drain *d, int instance, int64_t now_wall_us) {
    static const struct api_drain idle = {.state = API_DRAIN_IDLE};
    if (!d)
        d = &idle;
    char node[32];
    snprintf(node, sizeof node, "mediad-%d", instance);
    int64_t end = d->ended_us > 0 ? d->ended_us : now_wall_us;
    int64_t elapsed =
        d->started_us > 0 && end > d->started_us ? (end - d->started_us) / 1000000 : 0;
    json_t *errors = json_array();
    int rc = errors ? 0 : -1;
    for (size_t i = 0; rc == 0 && i < d->nerrors && i < API_DRAIN_MAX_ERRORS; i++)
        rc = json_array_append_new(errors, api_text(d->errors[i]));
    json_t *o = json_object();
    rc |= o ? 0 : -1;
    rc |= api_set(o, "node_id", json_string(node));
    rc |= api_set(o, "state", json_string(api_drain_state_name(d->state)));
    rc |= api_set(o, "mode",
                  d->state == API_DRAIN_IDLE
                      ? json_null()
                      : json_string(d->aggressive ? "aggressive" : "graceful"));
    rc |= api_set(o, "total_sessions", json_integer(d->total_sessions));
    rc |= api_set(o, "waiting_playback", json_integer(d->waiting_playback));
    rc |= api_set(o, "migrated_count", json_integer(d->migrated));
    rc |= api_set(o, "failed_count", json_integer(d->failed));
    rc |= api_set(o, "errors", errors);
    rc |= api_set(o, "started_at", api_time(d->started_us));
    rc |= api_set(o, "elapsed_seconds", json_integer(elapsed));
    rc |= api_set(o, "rounds", json_integer(d->rounds));
    if (rc) {
        json_decref(o);
        return NULL;
    }
    return o;
}
