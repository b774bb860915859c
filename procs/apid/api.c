/* api - see api.h */
#include "api.h"

#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

/* RFC 9110 9.1: a server that supports GET supports HEAD (MHD drops HEAD's body). */
#define API_ALLOW_GET "GET, HEAD"
#define API_ALLOW_DELETE "DELETE"
#define API_ALLOW_POST "POST"
#define API_ALLOW_DIALOG "GET, HEAD, DELETE"
#define API_ALLOW_DRAIN "GET, HEAD, POST, DELETE"
#define API_JSON "application/json"
#define API_PROM "text/plain; version=0.0.4; charset=utf-8"
#define API_BEARER "Bearer realm=\"switchboard\""
#define API_REG_PREFIX "/api/v1/registrations/"
#define API_DLG_PREFIX "/api/v1/dialogs/"
#define API_RTP_PREFIX "/api/v1/rtpmanagers/"
#define API_DRAIN_SUFFIX "/drain"
#define API_MAX_TIME_MS 253402300799999LL /* 9999-12-31T23:59:59.999Z */

typedef int (*api_get_fn)(const struct api_env *env, json_t **doc);

static int api_health(const struct api_env *env, json_t **doc);
static int api_processes(const struct api_env *env, json_t **doc);
static int api_stats(const struct api_env *env, json_t **doc);
static int api_config(const struct api_env *env, json_t **doc);
static int api_rtpmanagers(const struct api_env *env, json_t **doc);
static int api_nodes(const struct api_env *env, json_t **doc);

/* Every answer under /api/ may be read by a page of another origin: the dashboard of one
 * node of an HA pair reads the other nodes (with the token, when one is set). */
static const char *const api_cors_headers[] = {"Access-Control-Allow-Origin", "*", NULL};
/* The answer to a preflight (OPTIONS): what a cross-origin request may carry. */
static const char *const api_preflight_headers[] = {"Access-Control-Allow-Origin",
                                                    "*",
                                                    "Access-Control-Allow-Methods",
                                                    "GET, POST, DELETE",
                                                    "Access-Control-Allow-Headers",
                                                    "Authorization, Content-Type",
                                                    "Access-Control-Max-Age",
                                                    "600",
                                                    NULL};

/* The routes with a fixed path: adding one is one line. get NULL: op names the work. */
static const struct api_endpoint {
    const char *path;
    bool public; /* no token needed */
    api_get_fn get;
    enum api_op op;
    bool post;  /* POST only; else GET and HEAD */
    bool redis; /* the work reads Redis: 503 at once while the link is down */
} api_endpoints[] = {
    {"/api/v1/health", true, api_health, API_OP_NONE, false, false},
    {"/api/v1/processes", false, api_processes, API_OP_NONE, false, false},
    {"/api/v1/stats", false, api_stats, API_OP_NONE, false, false},
    {"/api/v1/config", false, api_config, API_OP_NONE, false, false},
    {"/api/v1/registrations", false, NULL, API_OP_REG_LIST, false, true},
    {"/api/v1/events", false, NULL, API_OP_EVENTS, false, false},
    {"/api/v1/dialogs", false, NULL, API_OP_DLG_LIST, false, true},
    {"/api/v1/sessions", false, NULL, API_OP_SESSIONS, false, false},
    {"/api/v1/rtpmanagers", false, api_rtpmanagers, API_OP_NONE, false, false},
    {"/api/v1/nodes", false, api_nodes, API_OP_NONE, false, false},
    {"/api/v1/dialplan/reload", false, NULL, API_OP_DIALPLAN_RELOAD, true, false},
    {"/metrics", false, NULL, API_OP_NONE, false, false},
};

static const struct api_error {
    int status;
    const char *error;
    const char *code;
} api_errors[] = {
    {400, "bad request", "BAD_REQUEST"},
    {401, "missing or wrong bearer token", "UNAUTHORIZED"},
    {404, "no such endpoint", "NOT_FOUND"},
    {405, "method not allowed", "METHOD_NOT_ALLOWED"},
    {409, "conflict", "CONFLICT"},
    {413, "request body not accepted", "PAYLOAD_TOO_LARGE"},
    {503, "service unavailable", "UNAVAILABLE"},
    {500, "internal error", "INTERNAL"}, /* last: the default */
};

int api_iso8601(int64_t wall_us, char *out, size_t outlen) {
    if (wall_us < 0)
        return -EINVAL;
    time_t sec = (time_t)(wall_us / 1000000);
    struct tm tm;
    if (!gmtime_r(&sec, &tm) || tm.tm_year > 9999 - 1900)
        return -EINVAL;
    return strftime(out, outlen, "%Y-%m-%dT%H:%M:%SZ", &tm) ? 0 : -ENOSPC;
}

/* Sets key to value, consuming value; -1 when value is NULL (out of memory) or not set. */
static int api_set(json_t *obj, const char *key, json_t *value) {
    return value ? json_object_set_new(obj, key, value) : -1;
}

/* Text from shm or main.cf; master and cfg check names, so "?" only marks a corrupt one. */
static json_t *api_text(const char *s) {
    json_t *j = s ? json_string(s) : NULL;
    return j ? j : json_string("?");
}

static json_t *api_time(int64_t wall_us) {
    char text[32];
    if (wall_us <= 0 || api_iso8601(wall_us, text, sizeof text) < 0)
        return json_null();
    return json_string(text);
}

static json_t *api_uint(uint64_t v) {
    return json_integer(v > (uint64_t)LLONG_MAX ? LLONG_MAX : (json_int_t)v);
}

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

static int api_health(const struct api_env *env, json_t **doc) {
    json_int_t total = 0, ready = 0;
    bool healthy = env->redis_up;
    for (int i = 0; i < SHM_MAX_PROCS; i++) {
        struct shm_proc p;
        shm_proc_read(&env->shm->procs[i], &p);
        if (p.state == SHM_EMPTY)
            continue;
        total++;
        if (p.state == SHM_READY)
            ready++;
        else if (!(p.flags & SHM_F_EXEC))
            healthy = false;
    }
    json_t *o = json_object();
    int rc = o ? 0 : -1;
    rc |= api_set(o, "status", json_string(healthy ? "ok" : "degraded"));
    rc |= api_set(o, "timestamp", api_time(env->now_wall_us));
    rc |= api_set(o, "node_id", api_text(env->node_id ? env->node_id : ""));
    rc |= api_set(o, "processes_total", json_integer(total));
    rc |= api_set(o, "processes_ready", json_integer(ready));
    rc |= api_set(o, "redis", json_string(env->redis_up ? "up" : "down"));
    if (rc) {
        json_decref(o);
        return 500;
    }
    *doc = o;
    return healthy ? 200 : 503;
}

static int api_processes(const struct api_env *env, json_t **doc) {
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

static int api_stats(const struct api_env *env, json_t **doc) {
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

static int api_config(const struct api_env *env, json_t **doc) {
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

static int api_rtpmanagers(const struct api_env *env, json_t **doc) {
    char address[96] = "";
    if (env->cfg) {
        int lo, hi;
        cfg_port_range(env->cfg, CFG_rtp_port_range, &lo, &hi);
        snprintf(address, sizeof address, "%s:%d-%d", cfg_str(env->cfg, CFG_media_address), lo, hi);
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

size_t api_csp(const char *peers, char *out, size_t cap) {
    size_t len = 0;
    int n = snprintf(out, cap, "default-src 'self'; connect-src 'self'");
    if (n < 0 || (size_t)n >= cap)
        return 0;
    len = (size_t)n;
    for (const char *p = peers ? peers : ""; *p;) {
        p += strspn(p, " ,\t");
        size_t w = strcspn(p, " ,\t");
        if (w == 0)
            break;
        /* the origin: scheme://host[:port], only http(s) and only plain characters */
        const char *sep = memmem(p, w, "://", 3);
        size_t olen = 0;
        bool ok = sep && ((sep - p == 4 && strncmp(p, "http", 4) == 0) ||
                          (sep - p == 5 && strncmp(p, "https", 5) == 0));
        if (ok) {
            olen = (size_t)(sep - p) + 3;
            while (olen < w && p[olen] != '/')
                olen++;
            for (size_t i = 0; i < olen && ok; i++)
                ok = isalnum((unsigned char)p[i]) || strchr(":/.-[]", p[i]);
            ok = ok && olen > (size_t)(sep - p) + 3;
        }
        if (ok && len + 1 + olen < cap) {
            out[len++] = ' ';
            memcpy(out + len, p, olen);
            len += olen;
        }
        p += w;
    }
    n = snprintf(out + len, cap - len, "; frame-ancestors 'none'");
    if (n < 0 || (size_t)n >= cap - len)
        return 0;
    return len + (size_t)n;
}

static int api_nodes(const struct api_env *env, json_t **doc) {
    json_t *nodes = json_array();
    json_t *self = json_object();
    int rc = nodes && self ? 0 : -1;
    rc |= api_set(self, "node_id", api_text(env->node_id ? env->node_id : ""));
    rc |= api_set(self, "url", api_self_url(env));
    rc |= api_set(self, "self", json_true());
    rc |= self ? json_array_append_new(nodes, self) : -1;
    const char *peers = env->cfg ? cfg_str(env->cfg, CFG_api_peers) : NULL;
    for (const char *p = peers ? peers : ""; rc == 0 && *p;) {
        size_t skip = strspn(p, " ,\t");
        p += skip;
        size_t n = strcspn(p, " ,\t");
        if (n == 0)
            break;
        size_t len = n;
        while (len > 0 && p[len - 1] == '/') /* a base URL: no trailing slash */
            len--;
        json_t *peer = json_object();
        rc |= peer ? 0 : -1;
        rc |= api_set(peer, "node_id", json_null());
        rc |= api_set(peer, "url", json_stringn(p, len));
        rc |= api_set(peer, "self", json_false());
        rc |= peer ? json_array_append_new(nodes, peer) : -1;
        p += n;
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

char *api_error_text(int status, const char *text) {
    const struct api_error *e = &api_errors[sizeof api_errors / sizeof api_errors[0] - 1];
    for (size_t i = 0; i < sizeof api_errors / sizeof api_errors[0]; i++)
        if (api_errors[i].status == status)
            e = &api_errors[i];
    json_t *o = json_object();
    char *out = NULL;
    if (o && api_set(o, "error", json_string(text ? text : e->error)) == 0 &&
        api_set(o, "code", json_string(e->code)) == 0)
        out = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return out;
}

char *api_error_body(int status) {
    return api_error_text(status, NULL);
}

bool api_token_ok(const char *token, const char *authorization, const char *access_token) {
    if (!token || !*token)
        return true;
    const char *given = access_token;
    if (authorization && strncasecmp(authorization, "Bearer ", 7) == 0) {
        given = authorization + 7;
        while (*given == ' ')
            given++;
    }
    if (!given)
        return false;
    /* Constant time in the candidate: every byte of the token is compared, whatever
     * the candidate's length or where it first differs. */
    size_t n = strlen(token), m = strlen(given);
    volatile unsigned char diff = (unsigned char)(n != m);
    for (size_t i = 0; i < n; i++)
        diff |= (unsigned char)token[i] ^ (unsigned char)(i < m ? given[i] : 0);
    return diff == 0;
}

/* ---- metrics ---- */

struct api_buf {
    char *p;
    size_t len, cap;
    bool oom;
};

__attribute__((format(printf, 2, 3))) static void api_printf(struct api_buf *b, const char *fmt,
                                                             ...) {
    if (b->oom)
        return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(b->p ? b->p + b->len : NULL, b->p ? b->cap - b->len : 0, fmt, ap);
        va_end(ap);
        if (n < 0) {
            b->oom = true;
            return;
        }
        if (b->p && b->len + (size_t)n < b->cap) {
            b->len += (size_t)n;
            return;
        }
        size_t cap = b->cap ? b->cap * 2 : 8192;
        while (cap <= b->len + (size_t)n)
            cap *= 2;
        char *grown = realloc(b->p, cap);
        if (!grown) {
            b->oom = true;
            return;
        }
        b->p = grown;
        b->cap = cap;
    }
}

/* A label value as the exposition format wants it (\\, \" and \n escaped). */
static void api_label(char *out, size_t outlen, const char *v) {
    size_t o = 0;
    for (const char *p = v; *p && o + 3 < outlen; p++) {
        if (*p == '\\' || *p == '"') {
            out[o++] = '\\';
            out[o++] = *p;
        } else if (*p == '\n') {
            out[o++] = '\\';
            out[o++] = 'n';
        } else {
            out[o++] = *p;
        }
    }
    out[o] = '\0';
}

static void api_labels(char *out, size_t outlen, const struct shm_proc *p) {
    char service[80], role[40];
    api_label(service, sizeof service, p->service);
    api_label(role, sizeof role, p->role);
    snprintf(out, outlen, "service=\"%s\",role=\"%s\",instance=\"%u\"", service, role, p->instance);
}

/* The statistics beside the slots (shm_stats), summed over the node's processes: SIP
 * requests by method and responses by code, each way (sipd), and the call setup time
 * histogram (dialogd). Exec services have none. */
static void api_metrics_stats(struct api_buf *b, const struct api_env *env,
                              const struct shm_proc *procs, const int *slots, int n) {
    uint64_t req[2][SHM_SIP_METHOD_COUNT] = {{0}};
    uint64_t *resp = calloc(2 * SHM_SIP_CODES, sizeof *resp);
    uint64_t buckets[SHM_SETUP_BUCKETS + 1] = {0}, sum_ms = 0, count = 0;
    if (!resp) {
        b->oom = true;
        return;
    }
    for (int k = 0; k < n; k++) {
        if (procs[k].flags & SHM_F_EXEC)
            continue;
        const struct shm_stats *st = &env->shm->stats[slots[k]];
        for (int d = 0; d < 2; d++) {
            for (int m = 0; m < SHM_SIP_METHOD_COUNT; m++)
                req[d][m] += __atomic_load_n(&st->sip_requests[d][m], __ATOMIC_RELAXED);
            for (int c = 0; c < SHM_SIP_CODES; c++)
                resp[d * SHM_SIP_CODES + c] +=
                    __atomic_load_n(&st->sip_responses[d][c], __ATOMIC_RELAXED);
        }
        for (int i = 0; i <= SHM_SETUP_BUCKETS; i++)
            buckets[i] += __atomic_load_n(&st->setup_buckets[i], __ATOMIC_RELAXED);
        sum_ms += __atomic_load_n(&st->setup_sum_ms, __ATOMIC_RELAXED);
        count += __atomic_load_n(&st->setup_count, __ATOMIC_RELAXED);
    }
    static const char *const dirs[2] = {"rx", "tx"};
    api_printf(b, "# HELP switchboard_sip_requests_total SIP requests by method, received (rx) "
                  "and sent (tx), retransmissions too (sipd).\n"
                  "# TYPE switchboard_sip_requests_total counter\n");
    for (int d = 0; d < 2; d++)
        for (int m = 0; m < SHM_SIP_METHOD_COUNT; m++)
            api_printf(b, "switchboard_sip_requests_total{method=\"%s\",direction=\"%s\"} %llu\n",
                       shm_sip_method_name((enum shm_sip_method)m), dirs[d],
                       (unsigned long long)req[d][m]);
    api_printf(b, "# HELP switchboard_sip_responses_total SIP responses by code, received (rx) "
                  "and sent (tx), retransmissions too (sipd); codes never seen are left out.\n"
                  "# TYPE switchboard_sip_responses_total counter\n");
    for (int d = 0; d < 2; d++)
        for (int c = 0; c < SHM_SIP_CODES; c++)
            if (resp[d * SHM_SIP_CODES + c])
                api_printf(
                    b, "switchboard_sip_responses_total{code=\"%d\",direction=\"%s\"} %llu\n",
                    c + SHM_SIP_CODE_MIN, dirs[d], (unsigned long long)resp[d * SHM_SIP_CODES + c]);
    free(resp);
    static const uint64_t bounds[SHM_SETUP_BUCKETS] = SHM_SETUP_BOUNDS_MS;
    api_printf(b, "# HELP switchboard_call_setup_seconds Call setup time: the caller's INVITE "
                  "to the 2xx we send it (dialogd).\n"
                  "# TYPE switchboard_call_setup_seconds histogram\n");
    uint64_t cumulative = 0;
    for (int i = 0; i < SHM_SETUP_BUCKETS; i++) {
        cumulative += buckets[i];
        api_printf(b, "switchboard_call_setup_seconds_bucket{le=\"%g\"} %llu\n",
                   (double)bounds[i] / 1000.0, (unsigned long long)cumulative);
    }
    cumulative += buckets[SHM_SETUP_BUCKETS];
    api_printf(b, "switchboard_call_setup_seconds_bucket{le=\"+Inf\"} %llu\n",
               (unsigned long long)cumulative);
    api_printf(b, "switchboard_call_setup_seconds_sum %llu.%03llu\n",
               (unsigned long long)(sum_ms / 1000), (unsigned long long)(sum_ms % 1000));
    /* _count is the +Inf bucket (Prometheus requires it); setup_count is what dialogd
     * counted, the same unless a scrape fell between its two increments. */
    (void)count;
    api_printf(b, "switchboard_call_setup_seconds_count %llu\n", (unsigned long long)cumulative);
}

char *api_metrics(const struct api_env *env) {
    struct shm_proc *procs = malloc(SHM_MAX_PROCS * sizeof *procs); /* ~120 KiB */
    if (!procs)
        return NULL;
    int n = 0;
    int slots[SHM_MAX_PROCS]; /* procs[k] is slot slots[k]: its shm_stats */
    for (int i = 0; i < SHM_MAX_PROCS; i++) {
        shm_proc_read(&env->shm->procs[i], &procs[n]);
        procs[n].service[sizeof procs[n].service - 1] = '\0';
        procs[n].role[sizeof procs[n].role - 1] = '\0';
        slots[n] = i;
        if (procs[n].state != SHM_EMPTY)
            n++;
    }
    struct api_buf b = {0};
    char labels[200];
    api_printf(&b, "# HELP switchboard_up 1: apid answers.\n# TYPE switchboard_up gauge\n"
                   "switchboard_up 1\n");
    int64_t up = env->shm->hdr.master_started_us > 0
                     ? (env->now_wall_us - env->shm->hdr.master_started_us) / 1000000
                     : 0;
    api_printf(&b,
               "# HELP switchboard_uptime_seconds Seconds since master started.\n"
               "# TYPE switchboard_uptime_seconds gauge\nswitchboard_uptime_seconds %lld\n",
               (long long)(up > 0 ? up : 0));
    api_printf(&b,
               "# HELP switchboard_redis_up 1 while apid's Redis link is up.\n"
               "# TYPE switchboard_redis_up gauge\nswitchboard_redis_up %d\n",
               env->redis_up ? 1 : 0);
    if (env->registrations >= 0)
        api_printf(&b,
                   "# HELP switchboard_registrations_active Bindings in the location "
                   "service (counted in Redis).\n"
                   "# TYPE switchboard_registrations_active gauge\n"
                   "switchboard_registrations_active %lld\n",
                   (long long)env->registrations);
    api_printf(&b, "# HELP switchboard_process_up 1 while the slot's process is ready.\n"
                   "# TYPE switchboard_process_up gauge\n");
    for (int i = 0; i < n; i++) {
        api_labels(labels, sizeof labels, &procs[i]);
        api_printf(&b, "switchboard_process_up{%s} %d\n", labels,
                   procs[i].pid > 0 && procs[i].state == SHM_READY);
    }
    api_printf(&b, "# HELP switchboard_process_restarts_total Processes started in the slot "
                   "after the first.\n# TYPE switchboard_process_restarts_total counter\n");
    for (int i = 0; i < n; i++) {
        api_labels(labels, sizeof labels, &procs[i]);
        api_printf(&b, "switchboard_process_restarts_total{%s} %u\n", labels, procs[i].restarts);
    }
    /* Every shm counter of every worker (exec services have none). */
    for (int c = 0; c < SHM_COUNTER_COUNT; c++) {
        const char *name = shm_counter_name((enum shm_counter)c);
        const char *doc = shm_counter_doc((enum shm_counter)c);
        bool gauge = strncmp(doc, "gauge: ", 7) == 0;
        if (gauge)
            doc += 7;
        api_printf(&b, "# HELP switchboard_%s%s %s\n# TYPE switchboard_%s%s %s\n", name,
                   gauge ? "" : "_total", doc, name, gauge ? "" : "_total",
                   gauge ? "gauge" : "counter");
        for (int i = 0; i < n; i++) {
            if (procs[i].flags & SHM_F_EXEC)
                continue;
            api_labels(labels, sizeof labels, &procs[i]);
            api_printf(&b, "switchboard_%s%s{%s} %llu\n", name, gauge ? "" : "_total", labels,
                       (unsigned long long)procs[i].counters[c]);
        }
    }
    api_metrics_stats(&b, env, procs, slots, n);
    free(procs);
    if (b.oom) {
        free(b.p);
        return NULL;
    }
    return b.p;
}

/* ---- registrations ---- */

const char *api_aor_of_key(const char *key, size_t keylen, size_t *len) {
    static const char *const prefixes[] = {"sb:reg:{", "sb:regexp:{"};
    for (size_t i = 0; i < 2; i++) {
        size_t pl = strlen(prefixes[i]);
        if (keylen > pl + 1 && memcmp(key, prefixes[i], pl) == 0 && key[keylen - 1] == '}') {
            *len = keylen - pl - 1;
            return key + pl;
        }
    }
    return NULL;
}

int api_registration_append(json_t *list, const char *aor, size_t aor_len, const char *contact,
                            size_t contact_len, const char *record, size_t record_len,
                            int64_t now_ms) {
    json_t *rec = json_loadb(record, record_len, 0, NULL);
    if (!json_is_object(rec)) {
        json_decref(rec);
        return 0;
    }
    json_t *reg_at = json_object_get(rec, "registered_at_ms");
    json_t *exp_at = json_object_get(rec, "expires_at_ms");
    json_t *ua = json_object_get(rec, "user_agent");
    /* Times outside 1970..9999 are not times (and would overflow in microseconds). */
    if (!json_is_integer(reg_at) || !json_is_integer(exp_at) || json_integer_value(reg_at) < 0 ||
        json_integer_value(reg_at) > API_MAX_TIME_MS ||
        json_integer_value(exp_at) > API_MAX_TIME_MS || json_integer_value(exp_at) <= now_ms) {
        json_decref(rec);
        return 0;
    }
    int64_t exp_ms = json_integer_value(exp_at);
    int64_t reg_ms = json_integer_value(reg_at);
    /* routerd stores valid UTF-8; a key or field that is not is skipped, not fatal. */
    json_t *j_aor = json_stringn(aor, aor_len);
    json_t *j_contact = json_stringn(contact, contact_len);
    if (!j_aor || !j_contact) {
        json_decref(j_aor);
        json_decref(j_contact);
        json_decref(rec);
        return 0;
    }
    json_t *o = json_object();
    int rc = o ? 0 : -1;
    rc |= api_set(o, "aor", j_aor);
    rc |= api_set(o, "contact", j_contact);
    rc |= api_set(o, "expires", json_integer((exp_ms - now_ms + 999) / 1000));
    rc |= api_set(o, "registered_at", api_time(reg_ms * 1000));
    rc |= api_set(o, "expires_at", api_time(exp_ms * 1000));
    rc |= api_set(o, "user_agent", json_string(json_is_string(ua) ? json_string_value(ua) : ""));
    json_decref(rec);
    if (rc == 0)
        rc = json_array_append_new(list, o);
    else
        json_decref(o);
    return rc == 0 ? 1 : -1;
}

static int api_reg_cmp(const void *a, const void *b) {
    json_t *x = *(json_t *const *)a, *y = *(json_t *const *)b;
    int c = strcmp(json_string_value(json_object_get(x, "aor")),
                   json_string_value(json_object_get(y, "aor")));
    return c ? c
             : strcmp(json_string_value(json_object_get(x, "contact")),
                      json_string_value(json_object_get(y, "contact")));
}

void api_json_sort(json_t *list, int (*cmp)(const void *, const void *)) {
    size_t n = json_array_size(list);
    if (n < 2)
        return;
    json_t **items = malloc(n * sizeof *items);
    if (!items)
        return; /* unsorted is still right */
    for (size_t i = 0; i < n; i++)
        items[i] = json_incref(json_array_get(list, i));
    qsort(items, n, sizeof *items, cmp);
    json_array_clear(list);
    for (size_t i = 0; i < n; i++)
        json_array_append_new(list, items[i]);
    free(items);
}

void api_registrations_sort(json_t *list) {
    api_json_sort(list, api_reg_cmp);
}

/* ---- dialogs, sessions, drains ---- */

const char *api_dialog_state(const char *state, int64_t ringing_ms) {
    if (!state)
        return "Terminated";
    if (strcmp(state, "routing") == 0)
        return "Initial";
    if (strcmp(state, "calling") == 0)
        return ringing_ms > 0 ? "Early" : "Initial";
    if (strcmp(state, "answered") == 0)
        return "WaitingACK";
    if (strcmp(state, "confirmed") == 0)
        return "Confirmed";
    if (strcmp(state, "ending") == 0)
        return "Terminating";
    return "Terminated";
}

int api_uri_hostport(const char *uri, char *host, size_t hostlen, int *port) {
    if (!uri)
        return -1;
    const char *p = uri;
    while (*p == ' ' || *p == '<')
        p++;
    int def;
    if (strncasecmp(p, "sips:", 5) == 0) {
        p += 5;
        def = 5061;
    } else if (strncasecmp(p, "sip:", 4) == 0) {
        p += 4;
        def = 5060;
    } else {
        return -1;
    }
    /* userinfo ends at the last '@' before the parameters or headers */
    size_t span = strcspn(p, ";?>");
    for (size_t i = span; i > 0; i--)
        if (p[i - 1] == '@') {
            p += i;
            break;
        }
    span = strcspn(p, ";?> ");
    const char *end = p + span, *colon;
    size_t hl;
    if (*p == '[') { /* RFC 3261 25.1: an IPv6 reference */
        const char *close = memchr(p, ']', span);
        if (!close)
            return -1;
        hl = (size_t)(close - p - 1);
        colon = close + 1 < end && close[1] == ':' ? close + 1 : NULL;
        p++;
    } else {
        colon = memchr(p, ':', span);
        hl = colon ? (size_t)(colon - p) : span;
    }
    if (hl == 0 || hl >= hostlen)
        return -1;
    memmove(host, p, hl);
    host[hl] = '\0';
    long v = def;
    if (colon) {
        char *stop;
        v = strtol(colon + 1, &stop, 10);
        if (stop != end || v <= 0 || v > 65535)
            return -1;
    }
    *port = (int)v;
    return 0;
}

/* A field of a dialog record; "" when absent. */
static const char *api_rec_str(const json_t *rec, const char *key) {
    const char *v = json_string_value(json_object_get(rec, key));
    return v ? v : "";
}

/* A numeric field of a dialog record; 0 when absent or not a number. */
static int64_t api_rec_int(const json_t *rec, const char *key) {
    const char *v = api_rec_str(rec, key);
    char *end;
    long long n = strtoll(v, &end, 10);
    return *v && *end == '\0' ? (int64_t)n : 0;
}

static json_t *api_time_ms(int64_t ms) {
    return ms > 0 && ms <= API_MAX_TIME_MS ? api_time(ms * 1000) : json_null();
}

/* "" or "0" (no session) is null; ids are strings: 64 bits do not fit a JS number. */
static json_t *api_id_or_null(const char *id) {
    return *id && strcmp(id, "0") != 0 ? json_string(id) : json_null();
}

static json_t *api_str_or_null(const char *s) {
    return *s ? json_string(s) : json_null();
}

/* One leg of a record: a (the caller's, inbound) or b (the callee's, outbound). */
static json_t *api_dialog_leg(const json_t *rec, bool a, int64_t now_ms) {
    const char *target = api_rec_str(rec, a ? "a_target" : "b_target");
    char host[128] = "";
    int port = 0;
    if (api_uri_hostport(target, host, sizeof host, &port) < 0) {
        host[0] = '\0';
        port = 0;
    }
    int64_t created = api_rec_int(rec, "created_ms");
    int64_t dur = created > 0 && now_ms > created ? (now_ms - created) / 1000 : 0;
    json_t *o = json_object();
    int rc = o ? 0 : -1;
    rc |= api_set(o, "call_id", json_string(api_rec_str(rec, a ? "a_call_id" : "b_call_id")));
    /* Our tag is the To tag we gave A and the From tag we gave B. */
    rc |= api_set(o, "local_tag", json_string(api_rec_str(rec, a ? "a_to_tag" : "b_from_tag")));
    rc |= api_set(o, "remote_tag", json_string(api_rec_str(rec, a ? "a_from_tag" : "b_to_tag")));
    rc |= api_set(o, "state",
                  json_string(api_dialog_state(json_string_value(json_object_get(rec, "state")),
                                               api_rec_int(rec, "ringing_ms"))));
    rc |= api_set(o, "direction", json_string(a ? "inbound" : "outbound"));
    rc |= api_set(o, "from_uri", json_string(api_rec_str(rec, "a_from_uri")));
    rc |= api_set(o, "to_uri", json_string(api_rec_str(rec, a ? "a_to_uri" : "b_to_uri")));
    rc |= api_set(o, "remote_addr", json_string(host));
    rc |= api_set(o, "remote_port", json_integer(port));
    rc |= api_set(o, "session_id", api_id_or_null(api_rec_str(rec, "media_session")));
    rc |= api_set(o, "created_at", api_time_ms(created));
    rc |= api_set(o, "duration_seconds", json_integer(dur));
    /* Ours besides the prototype's. */
    rc |= api_set(o, "leg", json_string(a ? "a" : "b"));
    rc |= api_set(o, "peer_call_id",
                  api_str_or_null(api_rec_str(rec, a ? "b_call_id" : "a_call_id")));
    rc |= api_set(o, "node_id", json_string(api_rec_str(rec, "node")));
    rc |= api_set(o, "answered_at", api_time_ms(api_rec_int(rec, "answered_ms")));
    rc |= api_set(o, "remote_target", json_string(target));
    if (rc) {
        json_decref(o);
        return NULL;
    }
    return o;
}

int api_dialog_legs_append(json_t *list, const json_t *rec, int64_t now_wall_ms) {
    if (!json_is_object(rec) || !*api_rec_str(rec, "a_call_id"))
        return 0;
    json_t *a = api_dialog_leg(rec, true, now_wall_ms);
    if (!a || json_array_append_new(list, a) < 0)
        return -1;
    if (!*api_rec_str(rec, "b_call_id"))
        return 1;
    json_t *b = api_dialog_leg(rec, false, now_wall_ms);
    if (!b || json_array_append_new(list, b) < 0)
        return -1;
    return 2;
}

static int api_dlg_cmp(const void *x, const void *y) {
    const json_t *a = *(json_t *const *)x, *b = *(json_t *const *)y;
    int64_t ca = api_rec_int(a, "created_ms"), cb = api_rec_int(b, "created_ms");
    if (ca != cb)
        return ca < cb ? -1 : 1;
    return strcmp(api_rec_str(a, "a_call_id"), api_rec_str(b, "a_call_id"));
}

void api_dialogs_sort(json_t *records) {
    api_json_sort(records, api_dlg_cmp);
}

json_t *api_dialog_detail(const json_t *rec, int64_t now_wall_ms, json_t *stats) {
    json_t *legs = json_array();
    int rc = legs ? 0 : -1;
    if (rc == 0 && api_dialog_legs_append(legs, rec, now_wall_ms) < 0)
        rc = -1;
    int64_t created = api_rec_int(rec, "created_ms");
    const char *mediad = api_rec_str(rec, "mediad");
    int64_t mediad_n = api_rec_int(rec, "mediad");
    json_t *media = json_object();
    rc |= media ? 0 : -1;
    rc |= api_set(media, "session_id", api_id_or_null(api_rec_str(rec, "media_session")));
    rc |= api_set(media, "mediad", *mediad && mediad_n >= 0 ? json_integer(mediad_n) : json_null());
    rc |= api_set(media, "stats", stats ? stats : json_null());
    json_t *o = json_object();
    rc |= o ? 0 : -1;
    rc |= api_set(o, "call_id", json_string(api_rec_str(rec, "a_call_id")));
    rc |= api_set(o, "b_call_id", api_str_or_null(api_rec_str(rec, "b_call_id")));
    rc |= api_set(o, "state",
                  json_string(api_dialog_state(json_string_value(json_object_get(rec, "state")),
                                               api_rec_int(rec, "ringing_ms"))));
    rc |= api_set(o, "call_state", json_string(api_rec_str(rec, "state")));
    rc |= api_set(o, "node_id", json_string(api_rec_str(rec, "node")));
    rc |= api_set(o, "dialogd", json_integer(api_rec_int(rec, "dialogd")));
    rc |= api_set(o, "from_display", json_string(api_rec_str(rec, "a_from_display")));
    rc |= api_set(o, "from_uri", json_string(api_rec_str(rec, "a_from_uri")));
    rc |= api_set(o, "to_uri", json_string(api_rec_str(rec, "a_to_uri")));
    rc |= api_set(o, "created_at", api_time_ms(created));
    rc |= api_set(o, "ringing_at", api_time_ms(api_rec_int(rec, "ringing_ms")));
    rc |= api_set(o, "answered_at", api_time_ms(api_rec_int(rec, "answered_ms")));
    rc |= api_set(
        o, "duration_seconds",
        json_integer(created > 0 && now_wall_ms > created ? (now_wall_ms - created) / 1000 : 0));
    rc |= api_set(o, "legs", legs);
    rc |= api_set(o, "media", media);
    if (rc) {
        json_decref(o);
        return NULL;
    }
    return o;
}

/* "ip:port" split; addr "" and port 0 when text is not one. */
static void api_split_addr(const char *text, char *addr, size_t addrlen, int *port) {
    addr[0] = '\0';
    *port = 0;
    const char *colon = text ? strrchr(text, ':') : NULL;
    if (!colon || (size_t)(colon - text) >= addrlen)
        return;
    memcpy(addr, text, (size_t)(colon - text));
    addr[colon - text] = '\0';
    *port = atoi(colon + 1);
}

static json_t *api_side_json(const Sb__MediaSideStats *s) {
    json_t *o = json_object();
    int rc = o ? 0 : -1;
    rc |= api_set(o, "rx_packets", api_uint(s ? s->rx_packets : 0));
    rc |= api_set(o, "rx_bytes", api_uint(s ? s->rx_bytes : 0));
    rc |= api_set(o, "rx_lost", api_uint(s ? s->rx_lost : 0));
    rc |= api_set(o, "rx_jitter", api_uint(s ? s->rx_jitter : 0));
    rc |= api_set(o, "rx_dropped", api_uint(s ? s->rx_dropped : 0));
    rc |= api_set(o, "tx_packets", api_uint(s ? s->tx_packets : 0));
    rc |= api_set(o, "tx_bytes", api_uint(s ? s->tx_bytes : 0));
    rc |= api_set(o, "rtcp_packets", api_uint(s ? s->rtcp_packets : 0));
    rc |= api_set(o, "srtp_failed", api_uint(s ? s->srtp_failed : 0));
    rc |= api_set(o, "remote", json_string(s && s->remote ? s->remote : ""));
    rc |= api_set(o, "local", json_string(s && s->local ? s->local : ""));
    if (rc) {
        json_decref(o);
        return NULL;
    }
    return o;
}

json_t *api_session_json(const Sb__MediaSessionInfo *info, unsigned instance) {
    char id[24], bridged[24], node[32], local[64], remote[64];
    int lport, rport;
    snprintf(id, sizeof id, "%llu", (unsigned long long)info->session_id);
    snprintf(bridged, sizeof bridged, "%llu", (unsigned long long)info->bridged_to);
    snprintf(node, sizeof node, "mediad-%u", instance);
    /* The prototype's one address pair: side A's (the caller's), as the relay sees it. */
    api_split_addr(info->a ? info->a->local : NULL, local, sizeof local, &lport);
    api_split_addr(info->a ? info->a->remote : NULL, remote, sizeof remote, &rport);
    json_t *o = json_object();
    int rc = o ? 0 : -1;
    rc |= api_set(o, "session_id", json_string(id));
    rc |= api_set(o, "call_id", json_string(info->call_id ? info->call_id : ""));
    rc |= api_set(o, "local_addr", json_string(local));
    rc |= api_set(o, "local_port", json_integer(lport));
    rc |= api_set(o, "remote_addr", json_string(remote));
    rc |= api_set(o, "remote_port", json_integer(rport));
    rc |= api_set(o, "codec", json_string(info->codec ? info->codec : ""));
    rc |= api_set(o, "state", json_string(info->state ? info->state : ""));
    rc |= api_set(o, "rtp_manager", json_string(node));
    rc |= api_set(o, "created_at", api_time_ms(info->created_at_ms));
    rc |= api_set(o, "mediad", json_integer(instance));
    rc |= api_set(o, "media_lines", json_integer(info->media_lines));
    rc |= api_set(o, "bridged_to", info->bridged_to ? json_string(bridged) : json_null());
    rc |= api_set(o, "playing", json_boolean(info->playing));
    rc |= api_set(o, "a", api_side_json(info->a));
    rc |= api_set(o, "b", api_side_json(info->b));
    if (rc) {
        json_decref(o);
        return NULL;
    }
    return o;
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

/* ---- events ---- */

static bool api_event_type_ok(const char *t) {
    size_t n = strlen(t);
    if (n == 0 || n > 64)
        return false;
    for (const char *p = t; *p; p++)
        if (!(islower((unsigned char)*p) || isdigit((unsigned char)*p) || *p == '.' || *p == '_' ||
              *p == '-'))
            return false;
    return true;
}

char *api_sse_format(const char *type, const char *data, uint64_t id, size_t *len) {
    int n =
        snprintf(NULL, 0, "id: %llu\nevent: %s\ndata: %s\n\n", (unsigned long long)id, type, data);
    char *out = n > 0 ? malloc((size_t)n + 1) : NULL;
    if (!out)
        return NULL;
    snprintf(out, (size_t)n + 1, "id: %llu\nevent: %s\ndata: %s\n\n", (unsigned long long)id, type,
             data);
    *len = (size_t)n;
    return out;
}

char *api_sse_from_message(const char *msg, size_t msg_len, uint64_t id, size_t *len) {
    json_t *doc = json_loadb(msg, msg_len, JSON_REJECT_DUPLICATES, NULL);
    const char *type = json_string_value(json_object_get(doc, "type"));
    char *out = NULL;
    if (json_is_object(doc) && type && api_event_type_ok(type)) {
        /* Re-encoded compact: one line whatever newlines the publisher put in. */
        char *data = json_dumps(doc, JSON_COMPACT);
        if (data)
            out = api_sse_format(type, data, id, len);
        free(data);
    }
    json_decref(doc);
    return out;
}

static void api_proc_event(const struct shm_proc *p, int32_t pid, const char *type,
                           const char *node_id, int64_t now_wall_us,
                           void (*emit)(void *arg, const char *type, const char *data), void *arg) {
    json_t *o = json_object();
    int rc = o ? 0 : -1;
    rc |= api_set(o, "type", json_string(type));
    rc |= api_set(o, "service", api_text(p->service));
    rc |= api_set(o, "role", api_text(p->role));
    rc |= api_set(o, "instance", json_integer(p->instance));
    rc |= api_set(o, "pid", json_integer(pid));
    rc |= api_set(o, "restarts", json_integer(p->restarts));
    rc |= api_set(o, "state", json_string(shm_state_name((enum shm_state)p->state)));
    rc |= api_set(o, "node_id", api_text(node_id));
    rc |= api_set(o, "ts_ms", json_integer(now_wall_us / 1000));
    char *text = rc == 0 ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    if (text)
        emit(arg, type, text);
    free(text);
}

int api_proc_changes(struct api_proc_seen seen[SHM_MAX_PROCS], const struct shm_seg *shm,
                     bool prime, int64_t now_wall_us,
                     void (*emit)(void *arg, const char *type, const char *data), void *arg) {
    char node_id[sizeof shm->hdr.node_id + 1]; /* master's copy of main.cf node_id */
    memcpy(node_id, shm->hdr.node_id, sizeof shm->hdr.node_id);
    node_id[sizeof shm->hdr.node_id] = '\0';
    int events = 0;
    for (int i = 0; i < SHM_MAX_PROCS; i++) {
        struct shm_proc p;
        shm_proc_read(&shm->procs[i], &p);
        p.service[sizeof p.service - 1] = '\0';
        p.role[sizeof p.role - 1] = '\0';
        struct api_proc_seen *s = &seen[i];
        bool used = p.state != SHM_EMPTY;
        if (!prime && used && s->used) {
            /* A pid that goes away or changes: the old process died. */
            if (s->pid > 0 && p.pid != s->pid) {
                api_proc_event(&p, s->pid, "process.died", node_id, now_wall_us, emit, arg);
                events++;
            }
            /* A new process with a higher restart count: master respawned the slot. */
            if (p.pid > 0 && p.pid != s->pid && p.restarts > s->restarts) {
                api_proc_event(&p, p.pid, "process.respawned", node_id, now_wall_us, emit, arg);
                events++;
            }
        }
        s->used = used;
        s->pid = used ? p.pid : 0;
        s->restarts = used ? p.restarts : 0;
    }
    return events;
}

/* ---- routing ---- */

static int api_answer_error(struct api_answer *ans, int status, const char *text) {
    ans->status = status;
    ans->body = api_error_text(status, text);
    ans->content_type = API_JSON;
    return status;
}

static bool api_is_get(const char *method) {
    return strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
}

/* DELETE /api/v1/registrations/{aor} [{"contact": URI}] */
static int api_reg_delete(const struct api_request *req, const char *aor, size_t aor_len,
                          struct api_answer *ans) {
    if (strcmp(req->method, "DELETE") != 0) {
        ans->allow = API_ALLOW_DELETE;
        return api_answer_error(ans, 405, NULL);
    }
    if (aor_len == 0 || aor_len > API_MAX_AOR)
        return api_answer_error(ans, 400, "the AOR is empty or too long");
    for (size_t i = 0; i < aor_len; i++)
        if ((unsigned char)aor[i] < 0x21 || aor[i] == 0x7f)
            return api_answer_error(ans, 400, "the AOR has a space or a control character");
    char *contact = NULL;
    if (req->body_len > 0) {
        if (!req->body)
            return api_answer_error(ans, 413, NULL);
        json_error_t jerr;
        json_t *doc = json_loadb(req->body, (size_t)req->body_len, JSON_REJECT_DUPLICATES, &jerr);
        if (!doc)
            return api_answer_error(ans, 400, "malformed JSON body");
        json_t *c = json_object_get(doc, "contact");
        bool ok = json_is_object(doc) && json_object_size(doc) == (c ? 1u : 0u) &&
                  (!c || (json_is_string(c) && json_string_length(c) > 0 &&
                          json_string_length(c) <= API_MAX_AOR));
        if (ok && c && !(contact = strdup(json_string_value(c)))) {
            json_decref(doc);
            return api_answer_error(ans, 500, NULL);
        }
        json_decref(doc);
        if (!ok)
            return api_answer_error(ans, 400, "the body must be {} or {\"contact\": \"URI\"}");
    }
    ans->aor = strndup(aor, aor_len);
    if (!ans->aor) {
        free(contact);
        return api_answer_error(ans, 500, NULL);
    }
    ans->contact = contact;
    ans->op = API_OP_REG_DELETE;
    ans->status = 200;
    return 200;
}

/* GET, DELETE /api/v1/dialogs/{call_id} */
static int api_dialog_item(const struct api_request *req, const char *id, size_t id_len,
                           struct api_answer *ans) {
    bool get = api_is_get(req->method), del = strcmp(req->method, "DELETE") == 0;
    if (!get && !del) {
        ans->allow = API_ALLOW_DIALOG;
        return api_answer_error(ans, 405, NULL);
    }
    if (req->body_len > 0)
        return api_answer_error(ans, 413, NULL);
    if (id_len == 0 || id_len > API_MAX_CALL_ID)
        return api_answer_error(ans, 400, "the Call-ID is empty or too long");
    for (size_t i = 0; i < id_len; i++)
        if ((unsigned char)id[i] < 0x21 || (unsigned char)id[i] > 0x7e)
            return api_answer_error(ans, 400, "the Call-ID has a space or a control character");
    if (!(ans->call_id = strndup(id, id_len)))
        return api_answer_error(ans, 500, NULL);
    ans->op = get ? API_OP_DLG_GET : API_OP_DLG_HANGUP;
    ans->status = 200;
    return 200;
}

/* The slot of mediad instance in the table, or -1. */
static int api_mediad_slot(const struct api_env *env, int instance) {
    for (int i = 0; i < SHM_MAX_PROCS; i++) {
        struct shm_proc p;
        shm_proc_read(&env->shm->procs[i], &p);
        if (p.state != SHM_EMPTY && api_role_is(&p, "mediad") && (int)p.instance == instance)
            return i;
    }
    return -1;
}

/* POST, GET, DELETE /api/v1/rtpmanagers/{node_id}/drain[?mode=graceful|aggressive] */
static int api_drain_item(const struct api_env *env, const struct api_request *req,
                          const char *rest, size_t rest_len, struct api_answer *ans) {
    size_t id_len = strcspn(rest, "/");
    if (id_len > rest_len)
        id_len = rest_len;
    size_t sl = strlen(API_DRAIN_SUFFIX);
    if (rest_len - id_len != sl || memcmp(rest + id_len, API_DRAIN_SUFFIX, sl) != 0)
        return api_answer_error(ans, 404, NULL);
    bool get = api_is_get(req->method), post = strcmp(req->method, "POST") == 0,
         del = strcmp(req->method, "DELETE") == 0;
    if (!get && !post && !del) {
        ans->allow = API_ALLOW_DRAIN;
        return api_answer_error(ans, 405, NULL);
    }
    if (req->body_len > 0)
        return api_answer_error(ans, 413, NULL);
    int instance = api_mediad_of_node(rest, id_len);
    if (instance < 0 || api_mediad_slot(env, instance) < 0)
        return api_answer_error(ans, 404, "no such rtp manager (node_id is mediad-N)");
    ans->instance = instance;
    if (get) {
        json_t *doc =
            api_drain_json(env->drains ? &env->drains[instance] : NULL, instance, env->now_wall_us);
        ans->body = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
        json_decref(doc);
        if (!ans->body)
            return api_answer_error(ans, 500, NULL);
        ans->content_type = API_JSON;
        ans->status = 200;
        return 200;
    }
    if (post) {
        const char *mode = req->mode && *req->mode ? req->mode : "graceful";
        if (strcmp(mode, "aggressive") == 0)
            ans->aggressive = true;
        else if (strcmp(mode, "graceful") != 0)
            return api_answer_error(ans, 400, "mode is graceful or aggressive");
        if (env->drains && env->drains[instance].state == API_DRAIN_DRAINING)
            return api_answer_error(ans, 409, "a drain of this rtp manager is under way");
    }
    ans->op = post ? API_OP_DRAIN_START : API_OP_DRAIN_CANCEL;
    ans->status = 200;
    return 200;
}

static bool api_has_prefix(const char *url, size_t path_len, const char *prefix) {
    size_t n = strlen(prefix);
    return path_len >= n && memcmp(url, prefix, n) == 0;
}

int api_handle(const struct api_env *env, const struct api_request *req, struct api_answer *ans) {
    memset(ans, 0, sizeof *ans);
    /* The overall cap comes first: no route ever reads more than this. */
    if (req->body_len > API_MAX_BODY)
        return api_answer_error(ans, 413, NULL);
    if (!req->method || !req->url)
        return api_answer_error(ans, 404, NULL);
    const char *url = req->url;
    size_t path_len = strcspn(url, "?");
    bool api = path_len >= 5 && memcmp(url, "/api/", 5) == 0;
    bool metrics = path_len == 8 && memcmp(url, "/metrics", 8) == 0;
    if (!api && !metrics) {
        if (!api_is_get(req->method)) {
            ans->allow = API_ALLOW_GET;
            return api_answer_error(ans, 405, NULL);
        }
        if (req->body_len > 0)
            return api_answer_error(ans, 413, NULL);
        ans->op = API_OP_FILE; /* the dashboard: public code, no data */
        ans->status = 200;
        return 200;
    }
    if (api)
        ans->headers = api_cors_headers;
    const struct api_endpoint *ep = NULL;
    for (size_t i = 0; i < sizeof api_endpoints / sizeof api_endpoints[0]; i++)
        if (strlen(api_endpoints[i].path) == path_len &&
            memcmp(api_endpoints[i].path, url, path_len) == 0)
            ep = &api_endpoints[i];
    size_t rp = strlen(API_REG_PREFIX), dp = strlen(API_DLG_PREFIX), mp = strlen(API_RTP_PREFIX);
    bool reg_item = !ep && api_has_prefix(url, path_len, API_REG_PREFIX);
    bool dlg_item = !ep && api_has_prefix(url, path_len, API_DLG_PREFIX);
    bool drain_item = !ep && api_has_prefix(url, path_len, API_RTP_PREFIX);
    if (!ep && !reg_item && !dlg_item && !drain_item)
        return api_answer_error(ans, 404, NULL);
    /* A CORS preflight carries no credentials: it learns only what the API accepts. */
    if (api && strcmp(req->method, "OPTIONS") == 0) {
        ans->headers = api_preflight_headers;
        ans->status = 204;
        return 204;
    }
    if (!(ep && ep->public) && !api_token_ok(env->token, req->authorization, req->access_token)) {
        ans->www_authenticate = API_BEARER;
        return api_answer_error(ans, 401, NULL);
    }
    if (reg_item)
        return api_reg_delete(req, url + rp, path_len - rp, ans);
    if (dlg_item) {
        int status = api_dialog_item(req, url + dp, path_len - dp, ans);
        if (status == 200 && !env->redis_up) {
            free(ans->call_id);
            ans->call_id = NULL;
            ans->op = API_OP_NONE;
            return api_answer_error(ans, 503, "Redis is unavailable");
        }
        return status;
    }
    if (drain_item)
        return api_drain_item(env, req, url + mp, path_len - mp, ans);
    if (ep->post ? strcmp(req->method, "POST") != 0 : !api_is_get(req->method)) {
        ans->allow = ep->post ? API_ALLOW_POST : API_ALLOW_GET;
        return api_answer_error(ans, 405, NULL);
    }
    if (req->body_len > 0)
        return api_answer_error(ans, 413, NULL);
    if (ep->op != API_OP_NONE) {
        if (!env->redis_up && ep->redis)
            return api_answer_error(ans, 503, "Redis is unavailable");
        ans->op = ep->op;
        ans->status = 200;
        return 200;
    }
    if (!ep->get) { /* /metrics */
        ans->body = api_metrics(env);
        if (!ans->body)
            return api_answer_error(ans, 500, NULL);
        ans->content_type = API_PROM;
        ans->status = 200;
        return 200;
    }
    json_t *doc = NULL;
    int status = ep->get(env, &doc);
    if (!doc)
        return api_answer_error(ans, status == 503 ? 503 : 500, NULL);
    ans->body = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    if (!ans->body)
        return api_answer_error(ans, 500, NULL);
    ans->content_type = API_JSON;
    ans->status = status;
    return status;
}

void api_answer_fini(struct api_answer *ans) {
    free(ans->body);
    free(ans->aor);
    free(ans->contact);
    free(ans->call_id);
    ans->body = ans->aor = ans->contact = ans->call_id = NULL;
}

int api_route(const struct api_env *env, const char *method, const char *url, uint64_t body_len,
              char **body_out, const char **allow_out) {
    struct api_request req = {.method = method, .url = url, .body_len = body_len};
    struct api_answer ans;
    int status = api_handle(env, &req, &ans);
    *allow_out = ans.allow;
    *body_out = ans.body;
    ans.body = NULL;
    api_answer_fini(&ans);
    return status;
}
