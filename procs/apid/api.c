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
#define API_JSON "application/json"
#define API_PROM "text/plain; version=0.0.4; charset=utf-8"
#define API_BEARER "Bearer realm=\"switchboard\""
#define API_REG_PREFIX "/api/v1/registrations/"
#define API_MAX_TIME_MS 253402300799999LL /* 9999-12-31T23:59:59.999Z */

typedef int (*api_get_fn)(const struct api_env *env, json_t **doc);

static int api_health(const struct api_env *env, json_t **doc);
static int api_processes(const struct api_env *env, json_t **doc);
static int api_stats(const struct api_env *env, json_t **doc);
static int api_config(const struct api_env *env, json_t **doc);

/* The routes with a fixed path: adding one is one line. get NULL: op names the work. */
static const struct api_endpoint {
    const char *path;
    bool public; /* no token needed */
    api_get_fn get;
    enum api_op op;
} api_endpoints[] = {
    {"/api/v1/health", true, api_health, API_OP_NONE},
    {"/api/v1/processes", false, api_processes, API_OP_NONE},
    {"/api/v1/stats", false, api_stats, API_OP_NONE},
    {"/api/v1/config", false, api_config, API_OP_NONE},
    {"/api/v1/registrations", false, NULL, API_OP_REG_LIST},
    {"/api/v1/events", false, NULL, API_OP_EVENTS},
    {"/metrics", false, NULL, API_OP_NONE},
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
    for (int i = 0; i < SHM_MAX_PROCS; i++) {
        struct shm_proc p;
        shm_proc_read(&env->shm->procs[i], &p);
        if (p.state == SHM_EMPTY)
            continue;
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
    /* The prototype's fields. Sessions and dialogs are counted by mediad and dialogd in
     * shm once they exist; until then there are none, and 0 is the truth. */
    rc |= api_set(o, "total_sessions", json_integer(0));
    rc |= api_set(o, "active_sessions", json_integer(0));
    rc |= api_set(o, "total_registrations",
                  json_integer(env->registrations > 0 ? env->registrations : 0));
    rc |= api_set(o, "active_dialogs", json_integer(0));
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

char *api_metrics(const struct api_env *env) {
    struct shm_proc *procs = malloc(SHM_MAX_PROCS * sizeof *procs); /* ~120 KiB */
    if (!procs)
        return NULL;
    int n = 0;
    for (int i = 0; i < SHM_MAX_PROCS; i++) {
        shm_proc_read(&env->shm->procs[i], &procs[n]);
        procs[n].service[sizeof procs[n].service - 1] = '\0';
        procs[n].role[sizeof procs[n].role - 1] = '\0';
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

void api_registrations_sort(json_t *list) {
    size_t n = json_array_size(list);
    if (n < 2)
        return;
    json_t **items = malloc(n * sizeof *items);
    if (!items)
        return; /* unsorted is still right */
    for (size_t i = 0; i < n; i++)
        items[i] = json_incref(json_array_get(list, i));
    qsort(items, n, sizeof *items, api_reg_cmp);
    json_array_clear(list);
    for (size_t i = 0; i < n; i++)
        json_array_append_new(list, items[i]);
    free(items);
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
    const struct api_endpoint *ep = NULL;
    for (size_t i = 0; i < sizeof api_endpoints / sizeof api_endpoints[0]; i++)
        if (strlen(api_endpoints[i].path) == path_len &&
            memcmp(api_endpoints[i].path, url, path_len) == 0)
            ep = &api_endpoints[i];
    size_t rp = strlen(API_REG_PREFIX);
    bool reg_item = !ep && path_len >= rp && memcmp(url, API_REG_PREFIX, rp) == 0;
    if (!ep && !reg_item)
        return api_answer_error(ans, 404, NULL);
    if (!(ep && ep->public) && !api_token_ok(env->token, req->authorization, req->access_token)) {
        ans->www_authenticate = API_BEARER;
        return api_answer_error(ans, 401, NULL);
    }
    if (reg_item)
        return api_reg_delete(req, url + rp, path_len - rp, ans);
    if (!api_is_get(req->method)) {
        ans->allow = API_ALLOW_GET;
        return api_answer_error(ans, 405, NULL);
    }
    if (req->body_len > 0)
        return api_answer_error(ans, 413, NULL);
    if (ep->op != API_OP_NONE) {
        if (!env->redis_up && ep->op == API_OP_REG_LIST)
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
    ans->body = ans->aor = ans->contact = NULL;
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
