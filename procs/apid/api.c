/* api - see api.h */
#include "api.h"

#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* RFC 9110 9.1: a server that supports GET supports HEAD (MHD drops HEAD's body). */
#define API_ALLOW_GET "GET, HEAD"

typedef int (*api_get_fn)(const struct api_env *env, json_t **doc);

static int api_health(const struct api_env *env, json_t **doc);
static int api_processes(const struct api_env *env, json_t **doc);

/* The routes: adding a GET endpoint is one line. */
static const struct api_endpoint {
    const char *path;
    api_get_fn get;
} api_endpoints[] = {
    {"/api/v1/health", api_health},
    {"/api/v1/processes", api_processes},
};

static const struct api_error {
    int status;
    const char *error;
    const char *code;
} api_errors[] = {
    {404, "no such endpoint", "NOT_FOUND"},
    {405, "method not allowed", "METHOD_NOT_ALLOWED"},
    {413, "request body not accepted", "PAYLOAD_TOO_LARGE"},
    {500, "internal error", "INTERNAL"},
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

char *api_error_body(int status) {
    const struct api_error *e = &api_errors[sizeof api_errors / sizeof api_errors[0] - 1];
    for (size_t i = 0; i < sizeof api_errors / sizeof api_errors[0]; i++)
        if (api_errors[i].status == status)
            e = &api_errors[i];
    json_t *o = json_object();
    char *text = NULL;
    if (o && api_set(o, "error", json_string(e->error)) == 0 &&
        api_set(o, "code", json_string(e->code)) == 0)
        text = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return text;
}

static int api_fail(int status, char **body_out) {
    *body_out = api_error_body(status);
    return status;
}

int api_route(const struct api_env *env, const char *method, const char *url, uint64_t body_len,
              char **body_out, const char **allow_out) {
    *body_out = NULL;
    *allow_out = NULL;
    /* The overall cap comes first: no route ever reads more than this. */
    if (body_len > API_MAX_BODY)
        return api_fail(413, body_out);
    if (!method || !url)
        return api_fail(404, body_out);
    size_t path_len = strcspn(url, "?");
    const struct api_endpoint *ep = NULL;
    for (size_t i = 0; i < sizeof api_endpoints / sizeof api_endpoints[0]; i++)
        if (strlen(api_endpoints[i].path) == path_len &&
            memcmp(api_endpoints[i].path, url, path_len) == 0)
            ep = &api_endpoints[i];
    if (!ep)
        return api_fail(404, body_out);
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
        *allow_out = API_ALLOW_GET;
        return api_fail(405, body_out);
    }
    if (body_len > 0)
        return api_fail(413, body_out);
    json_t *doc = NULL;
    int status = ep->get(env, &doc);
    if (!doc)
        return api_fail(500, body_out);
    *body_out = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    if (!*body_out)
        return api_fail(500, body_out);
    return status;
}
