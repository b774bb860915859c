/* api_test - apid's routes on a process table built in memory. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "cfgtext.h"
#include "procs/apid/api.h"
#include "procs/apid/api_metrics.h"
#include "procs/apid/api_records.h"
#include "procs/apid/api_sse.h"
#include "procs/apid/api_views.h"
#include "jsonw.h"
#include "shm.h"

#define NOW_WALL_US (1795504236LL * 1000000 + 500000) /* 2026-11-24T07:10:36.5Z */
#define MASTER_START_US (1795500000LL * 1000000)      /* 2026-11-24T06:00:00Z */
#define WORKER_START_US (1795503600LL * 1000000)      /* 2026-11-24T07:00:00Z */
#define NOW_MONO_US 1000000000LL

struct fixture {
    struct shm_seg *seg;
    struct api_env env;
};

static int setup(void **state) {
    struct fixture *f = calloc(1, sizeof *f);
    assert_non_null(f);
    /* The segment is 64-byte aligned like master's mapping. */
    f->seg = aligned_alloc(64, sizeof *f->seg);
    assert_non_null(f->seg);
    memset(f->seg, 0, sizeof *f->seg);
    f->seg->hdr.magic = SHM_MAGIC;
    f->seg->hdr.version = SHM_VERSION;
    f->seg->hdr.master_pid = 4242;
    f->seg->hdr.master_started_us = MASTER_START_US;
    f->env = (struct api_env){
        .shm = f->seg,
        .node_id = "node-a",
        .redis_up = true,
        .now_wall_us = NOW_WALL_US,
        .now_mono_us = NOW_MONO_US,
    };
    *state = f;
    return 0;
}

static int teardown(void **state) {
    struct fixture *f = *state;
    free(f->seg);
    free(f);
    return 0;
}

static struct shm_proc *slot(struct fixture *f, int i, const char *service, const char *role,
                             uint32_t instance, enum shm_state st, int32_t pid, uint32_t flags) {
    struct shm_proc *p = &f->seg->procs[i];
    p->state = st;
    snprintf(p->service, sizeof p->service, "%s", service);
    snprintf(p->role, sizeof p->role, "%s", role);
    p->instance = instance;
    p->flags = flags;
    p->pid = pid;
    p->started_us = WORKER_START_US;
    if (!(flags & SHM_F_EXEC))
        p->heartbeat_mono_us = NOW_MONO_US - 250000;
    return p;
}

/* The usual table: sipd, routerd, apid ready and a redis-server exec service. */
static void cluster(struct fixture *f) {
    slot(f, 0, "sipd", "sipd", 0, SHM_READY, 101, 0);
    slot(f, 1, "routerd", "routerd", 0, SHM_READY, 102, 0);
    slot(f, 2, "apid", "apid", 0, SHM_READY, 103, SHM_F_PUBLIC);
    slot(f, 3, "redis", "redis-server", 0, SHM_READY, 104, SHM_F_EXEC);
}

/* Routes a request and parses the JSON body it returns. */
static json_t *call(struct fixture *f, const char *method, const char *url, uint64_t body_len,
                    int *status, const char **allow) {
    char *body = (char *)0x1;
    const char *allow_tmp = (const char *)0x1;
    *status = api_route(&f->env, method, url, body_len, &body, allow ? allow : &allow_tmp);
    assert_non_null(body);
    json_error_t err;
    json_t *doc = json_loads(body, 0, &err);
    if (!doc)
        fail_msg("body is not JSON (%s): %s", err.text, body);
    free(body);
    return doc;
}

static const char *str(const json_t *obj, const char *key) {
    const json_t *v = json_object_get(obj, key);
    if (!json_is_string(v))
        fail_msg("\"%s\" is not a string", key);
    return json_string_value(v);
}

static long long num(const json_t *obj, const char *key) {
    const json_t *v = json_object_get(obj, key);
    if (!json_is_integer(v))
        fail_msg("\"%s\" is not an integer", key);
    return json_integer_value(v);
}

static void assert_null_field(const json_t *obj, const char *key) {
    const json_t *v = json_object_get(obj, key);
    assert_non_null(v); /* present, and null */
    assert_true(json_is_null(v));
}

static void assert_error(const json_t *doc, const char *code) {
    assert_string_equal(str(doc, "code"), code);
    assert_true(strlen(str(doc, "error")) > 0);
    assert_int_equal(json_object_size(doc), 2);
}

/* What a call needs besides cluster(): a dialogd and a mediad, ready. */
static void callable(struct fixture *f) {
    cluster(f);
    slot(f, 10, "dialogd", "dialogd", 0, SHM_READY, 110, 0);
    slot(f, 11, "mediad", "mediad", 0, SHM_READY, 111, 0);
}

/* Whether the health document's reasons hold one containing text. */
static bool has_reason(const json_t *doc, const char *text) {
    const json_t *list = json_object_get(doc, "reasons");
    size_t i;
    const json_t *r;
    json_array_foreach(list, i, r) {
        if (strstr(json_string_value(r), text))
            return true;
    }
    return false;
}

static long long role_count(const json_t *doc, const char *role, const char *key) {
    return num(json_object_get(json_object_get(doc, "roles"), role), key);
}

static void test_health_ok_when_all_ready_and_redis_up(void **state) {
    struct fixture *f = *state;
    callable(f);
    int status;
    json_t *doc = call(f, "GET", "/api/v1/health", 0, &status, NULL);
    assert_int_equal(status, 200);
    assert_string_equal(str(doc, "status"), "ok");
    assert_string_equal(str(doc, "timestamp"), "2026-11-24T07:10:36Z");
    assert_string_equal(str(doc, "node_id"), "node-a");
    assert_int_equal(num(doc, "processes_total"), 6);
    assert_int_equal(num(doc, "processes_ready"), 6);
    assert_string_equal(str(doc, "redis"), "up");
    assert_int_equal(json_array_size(json_object_get(doc, "reasons")), 0);
    assert_int_equal(role_count(doc, "sipd", "ready"), 1);
    assert_int_equal(role_count(doc, "mediad", "in_service"), 1);
    json_decref(doc);
}

static void test_health_unavailable_without_a_ready_dialogd(void **state) {
    struct fixture *f = *state;
    callable(f);
    struct shm_proc *d = &f->seg->procs[10];
    d->state = SHM_STARTING;
    snprintf(d->reason, sizeof d->reason, "routerd");
    int status;
    json_t *doc = call(f, "GET", "/api/v1/health", 0, &status, NULL);
    assert_int_equal(status, 503);
    assert_string_equal(str(doc, "status"), "unavailable");
    assert_int_equal(num(doc, "processes_total"), 6);
    assert_int_equal(num(doc, "processes_ready"), 5);
    assert_int_equal(role_count(doc, "dialogd", "starting"), 1);
    assert_true(has_reason(doc, "dialogd[0] starting: waiting for routerd"));
    assert_true(has_reason(doc, "no dialogd is ready"));
    json_decref(doc);
}

static void test_health_ok_while_one_of_two_sipd_restarts(void **state) {
    struct fixture *f = *state;
    callable(f);
    slot(f, 12, "sipd", "sipd", 1, SHM_STARTING, 112, 0);
    int status;
    json_t *doc = call(f, "GET", "/api/v1/health", 0, &status, NULL);
    assert_int_equal(status, 200);
    assert_string_equal(str(doc, "status"), "ok");
    assert_int_equal(role_count(doc, "sipd", "ready"), 1);
    assert_int_equal(role_count(doc, "sipd", "starting"), 1);
    assert_true(has_reason(doc, "sipd[1] starting"));
    json_decref(doc);
}

static void test_health_unavailable_when_routerd_has_no_dialplan(void **state) {
    struct fixture *f = *state;
    callable(f);
    struct shm_proc *r = &f->seg->procs[1];
    r->state = SHM_STARTING;
    snprintf(r->reason, sizeof r->reason, "dialplan (none loaded)");
    int status;
    json_t *doc = call(f, "GET", "/api/v1/health", 0, &status, NULL);
    assert_int_equal(status, 503);
    assert_true(has_reason(doc, "routerd[0] starting: waiting for dialplan"));
    assert_true(has_reason(doc, "no routerd is ready"));
    json_decref(doc);
}

static void test_health_degraded_worker_is_counted_and_named(void **state) {
    struct fixture *f = *state;
    callable(f);
    struct shm_proc *r = &f->seg->procs[1];
    r->state = SHM_DEGRADED;
    snprintf(r->reason, sizeof r->reason, "redis");
    int status;
    json_t *doc = call(f, "GET", "/api/v1/health", 0, &status, NULL);
    assert_int_equal(status, 503);
    assert_int_equal(role_count(doc, "routerd", "degraded"), 1);
    assert_true(has_reason(doc, "routerd[0] degraded: waiting for redis"));
    json_decref(doc);
}

static void test_health_throttled_mediad_with_another_in_service_is_ok(void **state) {
    struct fixture *f = *state;
    callable(f);
    slot(f, 4, "mediad", "mediad", 1, SHM_THROTTLED, 0, 0);
    int status;
    json_t *doc = call(f, "GET", "/api/v1/health", 0, &status, NULL);
    assert_int_equal(status, 200);
    assert_int_equal(role_count(doc, "mediad", "down"), 1);
    assert_true(has_reason(doc, "mediad[1] throttled"));
    json_decref(doc);
    f->seg->procs[11].state = SHM_THROTTLED; /* the other one too: no media */
    doc = call(f, "GET", "/api/v1/health", 0, &status, NULL);
    assert_int_equal(status, 503);
    assert_true(has_reason(doc, "no mediad is ready and in service"));
    json_decref(doc);
}

static void test_health_unavailable_when_the_only_mediad_is_drained(void **state) {
    struct fixture *f = *state;
    callable(f);
    f->seg->stats[11].media_drained = 1;
    int status;
    json_t *doc = call(f, "GET", "/api/v1/health", 0, &status, NULL);
    assert_int_equal(status, 503);
    assert_int_equal(role_count(doc, "mediad", "ready"), 1);
    assert_int_equal(role_count(doc, "mediad", "in_service"), 0);
    assert_true(has_reason(doc, "mediad[0] is drained"));
    json_decref(doc);
}

static void test_health_ignores_exec_slot_not_ready(void **state) {
    struct fixture *f = *state;
    callable(f);
    f->seg->procs[3].state = SHM_STARTING; /* redis-server, an exec service */
    int status;
    json_t *doc = call(f, "GET", "/api/v1/health", 0, &status, NULL);
    assert_int_equal(status, 200);
    assert_string_equal(str(doc, "status"), "ok");
    assert_int_equal(num(doc, "processes_total"), 6);
    assert_int_equal(num(doc, "processes_ready"), 5);
    json_decref(doc);
}

static void test_health_unavailable_when_redis_down(void **state) {
    struct fixture *f = *state;
    callable(f);
    f->env.redis_up = false;
    int status;
    json_t *doc = call(f, "GET", "/api/v1/health", 0, &status, NULL);
    assert_int_equal(status, 503);
    assert_string_equal(str(doc, "status"), "unavailable");
    assert_string_equal(str(doc, "redis"), "down");
    assert_int_equal(num(doc, "processes_ready"), 6);
    assert_true(has_reason(doc, "Redis is unreachable"));
    json_decref(doc);
}

static void test_health_of_empty_table(void **state) {
    struct fixture *f = *state;
    int status;
    json_t *doc = call(f, "GET", "/api/v1/health", 0, &status, NULL);
    assert_int_equal(status, 503);
    assert_int_equal(num(doc, "processes_total"), 0);
    assert_int_equal(num(doc, "processes_ready"), 0);
    assert_true(has_reason(doc, "no sipd is ready"));
    json_decref(doc);
}

static void test_processes_lists_exactly_the_used_slots(void **state) {
    struct fixture *f = *state;
    struct shm_proc *sipd = slot(f, 0, "sipd", "sipd", 0, SHM_READY, 101, 0);
    sipd->restarts = 3;
    sipd->counters[SHM_C_ipc_rx] = 7;
    sipd->counters[SHM_C_heartbeats] = 60;
    struct shm_proc *sipd1 = slot(f, 2, "sipd", "sipd", 1, SHM_STARTING, 102, 0);
    sipd1->heartbeat_mono_us = 0; /* not beaten yet */
    slot(f, 5, "redis", "redis-server", 0, SHM_READY, 103, SHM_F_EXEC);
    struct shm_proc *apid = slot(f, 9, "api", "apid", 0, SHM_DRAINING, 104, 0);
    apid->counters[SHM_C_http_requests] = 42;

    int status;
    json_t *doc = call(f, "GET", "/api/v1/processes", 0, &status, NULL);
    assert_int_equal(status, 200);
    assert_string_equal(str(doc, "node_id"), "node-a");
    json_t *master = json_object_get(doc, "master");
    assert_int_equal(num(master, "pid"), 4242);
    assert_string_equal(str(master, "started_at"), "2026-11-24T06:00:00Z");

    json_t *list = json_object_get(doc, "processes");
    assert_true(json_is_array(list));
    assert_int_equal(json_array_size(list), 4);

    json_t *p = json_array_get(list, 0);
    assert_string_equal(str(p, "service"), "sipd");
    assert_string_equal(str(p, "role"), "sipd");
    assert_int_equal(num(p, "instance"), 0);
    assert_int_equal(num(p, "pid"), 101);
    assert_string_equal(str(p, "state"), "ready");
    assert_string_equal(str(p, "started_at"), "2026-11-24T07:00:00Z");
    assert_int_equal(num(p, "uptime_seconds"), 636);
    assert_int_equal(num(p, "restarts"), 3);
    assert_int_equal(num(p, "heartbeat_age_ms"), 250);
    json_t *counters = json_object_get(p, "counters");
    assert_int_equal(json_object_size(counters), SHM_COUNTER_COUNT);
    assert_int_equal(num(counters, "ipc_rx"), 7);
    assert_int_equal(num(counters, "heartbeats"), 60);
    assert_int_equal(num(counters, "http_requests"), 0);

    p = json_array_get(list, 1);
    assert_int_equal(num(p, "instance"), 1);
    assert_int_equal(num(p, "pid"), 102);
    assert_string_equal(str(p, "state"), "starting");
    assert_int_equal(num(p, "restarts"), 0);
    assert_null_field(p, "heartbeat_age_ms");

    p = json_array_get(list, 2);
    assert_string_equal(str(p, "service"), "redis");
    assert_string_equal(str(p, "role"), "redis-server");
    assert_int_equal(num(p, "pid"), 103);
    assert_null_field(p, "heartbeat_age_ms"); /* exec services never beat */

    p = json_array_get(list, 3);
    assert_string_equal(str(p, "service"), "api");
    assert_string_equal(str(p, "state"), "draining");
    assert_int_equal(num(json_object_get(p, "counters"), "http_requests"), 42);
    json_decref(doc);
}

static void test_processes_slot_without_process_has_no_uptime(void **state) {
    struct fixture *f = *state;
    struct shm_proc *m = slot(f, 0, "mediad", "mediad", 0, SHM_THROTTLED, 0, 0);
    m->restarts = 5;
    m->started_us = 0;
    int status;
    json_t *doc = call(f, "GET", "/api/v1/processes", 0, &status, NULL);
    assert_int_equal(status, 200);
    json_t *p = json_array_get(json_object_get(doc, "processes"), 0);
    assert_non_null(p);
    assert_string_equal(str(p, "state"), "throttled");
    assert_int_equal(num(p, "pid"), 0);
    assert_int_equal(num(p, "restarts"), 5);
    assert_null_field(p, "started_at");
    assert_null_field(p, "uptime_seconds");
    assert_null_field(p, "heartbeat_age_ms");
    json_decref(doc);
}

static void test_processes_of_empty_table_is_empty_list(void **state) {
    struct fixture *f = *state;
    int status;
    json_t *doc = call(f, "GET", "/api/v1/processes", 0, &status, NULL);
    assert_int_equal(status, 200);
    assert_int_equal(json_array_size(json_object_get(doc, "processes")), 0);
    json_decref(doc);
}

static void test_unknown_path_is_404(void **state) {
    struct fixture *f = *state;
    static const char *const urls[] = {
        "/api/",           "/api/v1",        "/api/v1/nope",          "/api/v1/health/",
        "/api/v1/healthz", "/api/V1/HEALTH", "/api/v1/registrationsx"};
    for (size_t i = 0; i < sizeof urls / sizeof urls[0]; i++) {
        int status;
        const char *allow = "x";
        json_t *doc = call(f, "GET", urls[i], 0, &status, &allow);
        assert_int_equal(status, 404);
        assert_null(allow);
        assert_error(doc, "NOT_FOUND");
        assert_string_equal(str(doc, "error"), "no such endpoint");
        json_decref(doc);
    }
}

static void test_other_method_on_known_path_is_405_with_allow(void **state) {
    struct fixture *f = *state;
    static const char *const methods[] = {"POST", "PUT", "DELETE", "PATCH", "get"};
    for (size_t i = 0; i < sizeof methods / sizeof methods[0]; i++) {
        int status;
        const char *allow = NULL;
        json_t *doc = call(f, methods[i], "/api/v1/processes", 0, &status, &allow);
        assert_int_equal(status, 405);
        assert_string_equal(allow, "GET, HEAD");
        assert_error(doc, "METHOD_NOT_ALLOWED");
        assert_string_equal(str(doc, "error"), "method not allowed");
        json_decref(doc);
    }
}

static void test_head_is_answered_like_get(void **state) {
    struct fixture *f = *state;
    callable(f);
    int status;
    const char *allow = "x";
    json_t *doc = call(f, "HEAD", "/api/v1/health", 0, &status, &allow);
    assert_int_equal(status, 200);
    assert_null(allow);
    assert_string_equal(str(doc, "status"), "ok");
    json_decref(doc);
}

static void test_query_string_is_ignored(void **state) {
    struct fixture *f = *state;
    callable(f);
    int status;
    json_t *doc = call(f, "GET", "/api/v1/health?x=1", 0, &status, NULL);
    assert_int_equal(status, 200);
    assert_string_equal(str(doc, "status"), "ok");
    json_decref(doc);
    doc = call(f, "GET", "/api/v1/processes?", 0, &status, NULL);
    assert_int_equal(status, 200);
    assert_int_equal(json_array_size(json_object_get(doc, "processes")), 6);
    json_decref(doc);
    doc = call(f, "GET", "/api/v1/nope?/api/v1/health", 0, &status, NULL);
    assert_int_equal(status, 404);
    json_decref(doc);
}

static void test_body_on_get_route_is_413(void **state) {
    struct fixture *f = *state;
    cluster(f);
    static const uint64_t lens[] = {1, 100, API_MAX_BODY, API_MAX_BODY + 1, API_BODY_UNKNOWN};
    for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
        int status;
        json_t *doc = call(f, "GET", "/api/v1/health", lens[i], &status, NULL);
        assert_int_equal(status, 413);
        assert_error(doc, "PAYLOAD_TOO_LARGE");
        json_decref(doc);
    }
}

static void test_body_over_cap_is_413_on_any_path(void **state) {
    struct fixture *f = *state;
    int status;
    json_t *doc = call(f, "POST", "/nowhere", API_MAX_BODY + 1, &status, NULL);
    assert_int_equal(status, 413);
    assert_error(doc, "PAYLOAD_TOO_LARGE");
    json_decref(doc);
    /* Under the cap, the route decides first. */
    doc = call(f, "POST", "/api/nowhere", 10, &status, NULL);
    assert_int_equal(status, 404);
    json_decref(doc);
    doc = call(f, "POST", "/api/v1/health", 10, &status, NULL);
    assert_int_equal(status, 405);
    json_decref(doc);
}

static void test_error_body_of_unknown_status_is_internal(void **state) {
    (void)state;
    char *body = api_error_body(500);
    assert_non_null(body);
    json_t *doc = json_loads(body, 0, NULL);
    assert_non_null(doc);
    assert_error(doc, "INTERNAL");
    json_decref(doc);
    free(body);
    body = api_error_body(418);
    doc = json_loads(body, 0, NULL);
    assert_error(doc, "INTERNAL");
    json_decref(doc);
    free(body);
}

static void test_iso8601_formats_utc_seconds(void **state) {
    (void)state;
    char out[32];
    assert_int_equal(api_iso8601(NOW_WALL_US, out, sizeof out), 0);
    assert_string_equal(out, "2026-11-24T07:10:36Z");
    assert_int_equal(api_iso8601(0, out, sizeof out), 0);
    assert_string_equal(out, "1970-01-01T00:00:00Z");
    assert_int_equal(api_iso8601(-1, out, sizeof out), -EINVAL);
    assert_int_equal(api_iso8601(INT64_MAX, out, sizeof out), -EINVAL);
    assert_int_equal(api_iso8601(NOW_WALL_US, out, 10), -ENOSPC);
}

static void test_node_id_is_escaped_json(void **state) {
    struct fixture *f = *state;
    f->env.node_id = "a\"b\\c";
    int status;
    json_t *doc = call(f, "GET", "/api/v1/health", 0, &status, NULL);
    assert_string_equal(str(doc, "node_id"), "a\"b\\c");
    json_decref(doc);
}

/* A request with credentials and a body through api_handle. */
static int handle(struct fixture *f, const char *method, const char *url, const char *body,
                  const char *authorization, const char *access_token, struct api_answer *ans) {
    struct api_request req = {
        .method = method,
        .url = url,
        .body_len = body ? strlen(body) : 0,
        .body = body,
        .authorization = authorization,
        .access_token = access_token,
    };
    return api_handle(&f->env, &req, ans);
}

static json_t *answer_json(struct api_answer *ans) {
    assert_non_null(ans->body);
    json_error_t err;
    json_t *doc = json_loads(ans->body, 0, &err);
    if (!doc)
        fail_msg("body is not JSON (%s): %s", err.text, ans->body);
    return doc;
}

static void test_error_bodies_name_their_code(void **state) {
    (void)state;
    static const struct {
        int status;
        const char *code;
    } cases[] = {{400, "BAD_REQUEST"},        {401, "UNAUTHORIZED"},      {404, "NOT_FOUND"},
                 {405, "METHOD_NOT_ALLOWED"}, {413, "PAYLOAD_TOO_LARGE"}, {500, "INTERNAL"},
                 {503, "UNAVAILABLE"}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *body = api_error_body(cases[i].status);
        json_t *doc = json_loads(body, 0, NULL);
        assert_non_null(doc);
        assert_error(doc, cases[i].code);
        json_decref(doc);
        free(body);
    }
    char *body = api_error_text(400, "line \"1\"\n");
    json_t *doc = json_loads(body, 0, NULL);
    assert_string_equal(str(doc, "error"), "line \"1\"\n");
    assert_string_equal(str(doc, "code"), "BAD_REQUEST");
    json_decref(doc);
    free(body);
}

static void test_token_check_accepts_only_the_exact_token(void **state) {
    (void)state;
    assert_true(api_token_ok(NULL, NULL, NULL));
    assert_true(api_token_ok("", "Bearer whatever", NULL));
    assert_true(api_token_ok("abc123", "Bearer abc123", NULL));
    assert_true(api_token_ok("abc123", "bearer abc123", NULL));
    assert_true(api_token_ok("abc123", "BEARER   abc123", NULL));
    assert_true(api_token_ok("abc123", NULL, "abc123"));
    assert_false(api_token_ok("abc123", NULL, NULL));
    assert_false(api_token_ok("abc123", "Bearer abc12", NULL));
    assert_false(api_token_ok("abc123", "Bearer abc1234", NULL));
    assert_false(api_token_ok("abc123", "Bearer abc124", NULL));
    assert_false(api_token_ok("abc123", "Bearer ", NULL));
    assert_false(api_token_ok("abc123", "Basic abc123", NULL));
    assert_false(api_token_ok("abc123", "abc123", NULL));
    assert_false(api_token_ok("abc123", NULL, ""));
    assert_false(api_token_ok("abc123", "Bearer wrong", "abc123")); /* the header wins */
}

static void test_token_required_everywhere_but_health_and_files(void **state) {
    struct fixture *f = *state;
    callable(f);
    f->env.token = "tok";
    static const char *const guarded[] = {"/api/v1/processes", "/api/v1/stats",
                                          "/api/v1/config",    "/api/v1/registrations",
                                          "/api/v1/events",    "/metrics"};
    struct api_answer ans;
    for (size_t i = 0; i < sizeof guarded / sizeof guarded[0]; i++) {
        assert_int_equal(handle(f, "GET", guarded[i], NULL, NULL, NULL, &ans), 401);
        assert_string_equal(ans.www_authenticate, "Bearer realm=\"switchboard\"");
        assert_int_equal(ans.op, API_OP_NONE);
        json_t *doc = answer_json(&ans);
        assert_error(doc, "UNAUTHORIZED");
        json_decref(doc);
        api_answer_fini(&ans);
        assert_int_not_equal(handle(f, "GET", guarded[i], NULL, "Bearer tok", NULL, &ans), 401);
        api_answer_fini(&ans);
    }
    assert_int_equal(handle(f, "DELETE", "/api/v1/registrations/sip:a@b", NULL, NULL, NULL, &ans),
                     401);
    api_answer_fini(&ans);
    assert_int_equal(handle(f, "GET", "/api/v1/health", NULL, NULL, NULL, &ans), 200);
    api_answer_fini(&ans);
    assert_int_equal(handle(f, "GET", "/", NULL, NULL, NULL, &ans), 200);
    assert_int_equal(ans.op, API_OP_FILE);
    api_answer_fini(&ans);
    /* The token comes before the routes: an unknown path is 401 without it, 404 with it. */
    assert_int_equal(handle(f, "GET", "/api/v1/nope", NULL, NULL, NULL, &ans), 401);
    api_answer_fini(&ans);
    assert_int_equal(handle(f, "GET", "/api/v1/nope", NULL, "Bearer tok", NULL, &ans), 404);
    api_answer_fini(&ans);
}

static void test_async_routes_name_their_operation(void **state) {
    struct fixture *f = *state;
    struct api_answer ans;
    assert_int_equal(handle(f, "GET", "/api/v1/registrations?x", NULL, NULL, NULL, &ans), 200);
    assert_int_equal(ans.op, API_OP_REG_LIST);
    assert_null(ans.body);
    api_answer_fini(&ans);
    assert_int_equal(handle(f, "GET", "/api/v1/events", NULL, NULL, NULL, &ans), 200);
    assert_int_equal(ans.op, API_OP_EVENTS);
    api_answer_fini(&ans);
    assert_int_equal(handle(f, "GET", "/app.js", NULL, NULL, NULL, &ans), 200);
    assert_int_equal(ans.op, API_OP_FILE);
    api_answer_fini(&ans);
    assert_int_equal(handle(f, "POST", "/app.js", NULL, NULL, NULL, &ans), 405);
    api_answer_fini(&ans);
    f->env.redis_up = false;
    assert_int_equal(handle(f, "GET", "/api/v1/registrations", NULL, NULL, NULL, &ans), 503);
    json_t *doc = answer_json(&ans);
    assert_error(doc, "UNAVAILABLE");
    json_decref(doc);
    api_answer_fini(&ans);
}

static void test_unregister_parses_aor_and_optional_contact(void **state) {
    struct fixture *f = *state;
    struct api_answer ans;
    assert_int_equal(
        handle(f, "DELETE", "/api/v1/registrations/sip:alice@example.com", NULL, NULL, NULL, &ans),
        200);
    assert_int_equal(ans.op, API_OP_REG_DELETE);
    assert_string_equal(ans.aor, "sip:alice@example.com");
    assert_null(ans.contact);
    api_answer_fini(&ans);
    assert_int_equal(handle(f, "DELETE", "/api/v1/registrations/sip:a@b",
                            "{\"contact\":\"sip:a@1.2.3.4\"}", NULL, NULL, &ans),
                     200);
    assert_string_equal(ans.contact, "sip:a@1.2.3.4");
    api_answer_fini(&ans);
    assert_int_equal(handle(f, "DELETE", "/api/v1/registrations/sip:a@b", "{}", NULL, NULL, &ans),
                     200);
    assert_null(ans.contact);
    api_answer_fini(&ans);
    static const char *const bad_bodies[] = {"{",
                                             "[]",
                                             "{\"contact\":1}",
                                             "{\"contact\":\"\"}",
                                             "{\"contact\":\"a\",\"x\":1}",
                                             "null",
                                             "\"s\"",
                                             "{\"contact\":\"a\",\"contact\":\"b\"}"};
    for (size_t i = 0; i < sizeof bad_bodies / sizeof bad_bodies[0]; i++) {
        assert_int_equal(
            handle(f, "DELETE", "/api/v1/registrations/sip:a@b", bad_bodies[i], NULL, NULL, &ans),
            400);
        assert_int_equal(ans.op, API_OP_NONE);
        json_t *doc = answer_json(&ans);
        assert_error(doc, "BAD_REQUEST");
        json_decref(doc);
        api_answer_fini(&ans);
    }
    static const char *const bad_aors[] = {"/api/v1/registrations/", "/api/v1/registrations/a b",
                                           "/api/v1/registrations/a\tb"};
    for (size_t i = 0; i < sizeof bad_aors / sizeof bad_aors[0]; i++) {
        assert_int_equal(handle(f, "DELETE", bad_aors[i], NULL, NULL, NULL, &ans), 400);
        api_answer_fini(&ans);
    }
    char long_url[API_MAX_AOR + 64];
    int n = snprintf(long_url, sizeof long_url, "/api/v1/registrations/");
    memset(long_url + n, 'a', API_MAX_AOR + 1);
    long_url[n + API_MAX_AOR + 1] = '\0';
    assert_int_equal(handle(f, "DELETE", long_url, NULL, NULL, NULL, &ans), 400);
    api_answer_fini(&ans);
    assert_int_equal(handle(f, "GET", "/api/v1/registrations/sip:a@b", NULL, NULL, NULL, &ans),
                     405);
    assert_string_equal(ans.allow, "DELETE");
    api_answer_fini(&ans);
    /* A body too long to have been read. */
    struct api_request req = {
        .method = "DELETE", .url = "/api/v1/registrations/sip:a@b", .body_len = API_BODY_UNKNOWN};
    assert_int_equal(api_handle(&f->env, &req, &ans), 413);
    api_answer_fini(&ans);
}

static void test_unregister_takes_the_canonical_aor(void **state) {
    struct fixture *f = *state;
    struct api_answer ans;
    char why[128];
    domains_t *d = domains_new("pbx.example.com", true, why, sizeof why);
    assert_non_null(d);
    f->env.domains = d;
    static const char *const ours[] = {"sip:1002@127.0.0.1", "sip:1002@127.0.0.2:5060",
                                       "sips:1002@PBX.example.com;transport=tls", "sip:1002@[::1]"};
    for (size_t i = 0; i < sizeof ours / sizeof ours[0]; i++) {
        char url[128];
        snprintf(url, sizeof url, "/api/v1/registrations/%s", ours[i]);
        assert_int_equal(handle(f, "DELETE", url, NULL, NULL, NULL, &ans), 200);
        assert_string_equal(ans.aor, "sip:1002@pbx.example.com");
        api_answer_fini(&ans);
    }
    assert_int_equal(handle(f, "DELETE", "/api/v1/registrations/sip:1002@Example.ORG:5060", NULL,
                            NULL, NULL, &ans),
                     200);
    assert_string_equal(ans.aor, "sip:1002@example.org");
    api_answer_fini(&ans);
    static const char *const not_aors[] = {
        "/api/v1/registrations/1002", "/api/v1/registrations/tel:+15551234",
        "/api/v1/registrations/sip:1002@", "/api/v1/registrations/sip:@example.com"};
    for (size_t i = 0; i < sizeof not_aors / sizeof not_aors[0]; i++) {
        assert_int_equal(handle(f, "DELETE", not_aors[i], NULL, NULL, NULL, &ans), 400);
        assert_int_equal(ans.op, API_OP_NONE);
        api_answer_fini(&ans);
    }
    f->env.domains = NULL;
    domains_free(d);
}

static void test_stats_has_the_prototype_fields(void **state) {
    struct fixture *f = *state;
    cluster(f);
    f->seg->procs[0].counters[SHM_C_sip_rx_requests] = 7;
    f->seg->procs[0].counters[SHM_C_sip_tx_responses] = 6;
    f->seg->procs[1].counters[SHM_C_registers] = 5;
    f->seg->procs[1].counters[SHM_C_registers_failed] = 1;
    f->seg->procs[1].restarts = 2;
    struct shm_proc *d = slot(f, 4, "dialogd", "dialogd", 0, SHM_READY, 105, 0);
    struct shm_proc *m0 = slot(f, 5, "mediad", "mediad", 0, SHM_READY, 106, 0);
    struct shm_proc *m1 = slot(f, 6, "mediad", "mediad", 1, SHM_READY, 107, 0);
    d->counters[SHM_C_calls_active] = 3;
    m0->counters[SHM_C_media_sessions] = 2;
    m1->counters[SHM_C_media_sessions] = 1;
    m0->counters[SHM_C_media_sessions_created] = 10;
    m1->counters[SHM_C_media_sessions_created] = 5;
    f->env.registrations = 42;
    int status;
    json_t *doc = call(f, "GET", "/api/v1/stats", 0, &status, NULL);
    assert_int_equal(status, 200);
    assert_int_equal(num(doc, "total_sessions"), 15);
    assert_int_equal(num(doc, "active_sessions"), 3);
    assert_int_equal(num(doc, "active_dialogs"), 3);
    assert_int_equal(num(doc, "total_registrations"), 42);
    assert_int_equal(num(doc, "uptime_seconds"), (NOW_WALL_US - MASTER_START_US) / 1000000);
    assert_int_equal(num(doc, "sip_requests"), 7);
    assert_int_equal(num(doc, "sip_responses"), 6);
    assert_int_equal(num(doc, "registers"), 5);
    assert_int_equal(num(doc, "registers_failed"), 1);
    assert_int_equal(num(doc, "process_restarts"), 2);
    assert_true(json_is_true(json_object_get(doc, "registrations_known")));
    json_decref(doc);
    f->env.registrations = -1; /* not counted yet */
    doc = call(f, "GET", "/api/v1/stats", 0, &status, NULL);
    assert_int_equal(num(doc, "total_registrations"), 0);
    assert_true(json_is_false(json_object_get(doc, "registrations_known")));
    json_decref(doc);
}

static void test_config_masks_the_token(void **state) {
    struct fixture *f = *state;
    static const char text[] = "node_id = n7\napi_token = hunter2\n";
    char err[256];
    cfg_t *cfg = cfg_parse(text, sizeof text - 1, "main.cf", "/etc/sb", err, sizeof err);
    assert_non_null(cfg);
    f->env.cfg = cfg;
    int status;
    json_t *doc = call(f, "GET", "/api/v1/config", 0, &status, NULL);
    assert_int_equal(status, 200);
    json_t *params = json_object_get(doc, "parameters");
    assert_int_equal(json_object_size(params), CFG_PARAM_COUNT);
    assert_string_equal(str(params, "node_id"), "n7");
    assert_string_equal(str(params, "api_token"), "********");
    assert_string_equal(str(params, "run_directory"), "/etc/sb/run");
    char *text_out = json_dumps(doc, 0);
    assert_null(strstr(text_out, "hunter2"));
    free(text_out);
    json_decref(doc);
    cfg_free(cfg);
    f->env.cfg = NULL;
    doc = call(f, "GET", "/api/v1/config", 0, &status, NULL);
    assert_int_equal(status, 503);
    json_decref(doc);
}

/* The value of one sample line "NAME{LABELS} VALUE" of a metrics page, or -1. */
static long long sample(const char *page, const char *series) {
    size_t n = strlen(series);
    for (const char *p = page; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
        if (strncmp(p, series, n) == 0 && p[n] == ' ')
            return atoll(p + n + 1);
    return -1;
}

static void test_metrics_are_prometheus_text_per_process(void **state) {
    struct fixture *f = *state;
    cluster(f);
    f->seg->procs[0].counters[SHM_C_sip_rx_requests] = 12;
    f->seg->procs[0].counters[SHM_C_sip_txn_active] = 3;
    f->seg->procs[1].counters[SHM_C_registers] = 9;
    f->seg->procs[1].counters[SHM_C_redis_errors] = 4;
    f->seg->procs[1].restarts = 2;
    f->env.registrations = 5;
    struct api_answer ans;
    assert_int_equal(handle(f, "GET", "/metrics", NULL, NULL, NULL, &ans), 200);
    assert_string_equal(ans.content_type, "text/plain; version=0.0.4; charset=utf-8");
    const char *m = ans.body;
    assert_int_equal(
        sample(m,
               "switchboard_sip_rx_requests_total{service=\"sipd\",role=\"sipd\",instance=\"0\"}"),
        12);
    assert_int_equal(
        sample(m, "switchboard_sip_txn_active{service=\"sipd\",role=\"sipd\",instance=\"0\"}"), 3);
    assert_int_equal(sample(m, "switchboard_registers_total{service=\"routerd\",role=\"routerd\","
                               "instance=\"0\"}"),
                     9);
    assert_int_equal(sample(m, "switchboard_redis_errors_total{service=\"routerd\",role="
                               "\"routerd\",instance=\"0\"}"),
                     4);
    assert_int_equal(sample(m, "switchboard_process_restarts_total{service=\"routerd\",role="
                               "\"routerd\",instance=\"0\"}"),
                     2);
    assert_int_equal(sample(m, "switchboard_process_up{service=\"redis\",role=\"redis-server\","
                               "instance=\"0\"}"),
                     1);
    assert_int_equal(sample(m, "switchboard_registrations_active"), 5);
    assert_int_equal(sample(m, "switchboard_redis_up"), 1);
    assert_non_null(strstr(m, "# TYPE switchboard_sip_rx_requests_total counter\n"));
    assert_non_null(strstr(m, "# TYPE switchboard_sip_txn_active gauge\n"));
    assert_non_null(strstr(m, "# HELP switchboard_sip_txn_active server transactions alive\n"));
    /* Exec services have no counters. */
    assert_null(strstr(m, "switchboard_ipc_rx_total{service=\"redis\""));
    /* Every line is a comment or "name[{labels}] value". */
    for (const char *p = m; *p;) {
        const char *end = strchr(p, '\n');
        assert_non_null(end);
        if (*p != '#') {
            const char *sp = memchr(p, ' ', (size_t)(end - p));
            assert_non_null(sp);
            assert_true(strncmp(p, "switchboard_", 12) == 0);
        }
        p = end + 1;
    }
    api_answer_fini(&ans);
    f->env.registrations = -1; /* unknown: no sample rather than a wrong one */
    assert_int_equal(handle(f, "GET", "/metrics", NULL, NULL, NULL, &ans), 200);
    assert_int_equal(sample(ans.body, "switchboard_registrations_active"), -1);
    api_answer_fini(&ans);
}

static void test_metrics_escape_label_values(void **state) {
    struct fixture *f = *state;
    slot(f, 0, "we\"ird\\", "sipd", 0, SHM_READY, 9, 0);
    struct api_answer ans;
    handle(f, "GET", "/metrics", NULL, NULL, NULL, &ans);
    assert_non_null(strstr(ans.body, "{service=\"we\\\"ird\\\\\",role=\"sipd\",instance=\"0\"}"));
    api_answer_fini(&ans);
}

static void test_aor_of_key(void **state) {
    (void)state;
    size_t len;
    const char *k = "sb:reg:{sip:alice@example.com}";
    const char *aor = api_aor_of_key(k, strlen(k), &len);
    assert_non_null(aor);
    assert_int_equal(len, strlen("sip:alice@example.com"));
    assert_memory_equal(aor, "sip:alice@example.com", len);
    k = "sb:regexp:{x}";
    aor = api_aor_of_key(k, strlen(k), &len);
    assert_non_null(aor);
    assert_int_equal(len, 1);
    assert_null(api_aor_of_key("sb:reg:{}", 9, &len));
    assert_null(api_aor_of_key("sb:reg:{x", 9, &len));
    assert_null(api_aor_of_key("sb:other:{x}", 12, &len));
    assert_null(api_aor_of_key("sb:reg:", 7, &len));
}

static void test_registration_entry_from_record(void **state) {
    (void)state;
    json_t *list = json_array();
    const int64_t now = 1795507102698LL + 10000;
    static const char rec[] = "{\"uri\":\"sip:alice@127.0.0.1:5061\",\"q\":500,\"call_id\":\"c\","
                              "\"cseq\":2,\"user_agent\":\"Phone A/1.0\",\"registered_at_ms\":"
                              "1795507102698,\"expires_at_ms\":1795507702698}";
    assert_int_equal(api_registration_append(list, "sip:alice@example.com", 21,
                                             "sip:alice@127.0.0.1:5061", 24, rec, sizeof rec - 1,
                                             now),
                     1);
    json_t *e = json_array_get(list, 0);
    assert_string_equal(str(e, "aor"), "sip:alice@example.com");
    assert_string_equal(str(e, "contact"), "sip:alice@127.0.0.1:5061");
    assert_int_equal(num(e, "expires"), 590);
    assert_string_equal(str(e, "registered_at"), "2026-11-24T07:58:22Z");
    assert_string_equal(str(e, "expires_at"), "2026-11-24T08:08:22Z");
    assert_string_equal(str(e, "user_agent"), "Phone A/1.0");
    assert_int_equal(json_object_size(e), 6);
    /* Expired, unreadable or incomplete records are skipped. */
    assert_int_equal(
        api_registration_append(list, "a", 1, "c", 1, rec, sizeof rec - 1, 1795507702698LL), 0);
    static const char *const bad[] = {"", "{", "[]", "{\"registered_at_ms\":1}",
                                      "{\"registered_at_ms\":\"1\",\"expires_at_ms\":9e99}"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(api_registration_append(list, "a", 1, "c", 1, bad[i], strlen(bad[i]), 0),
                         0);
    /* Times no clock shows (found by api_fuzz: they overflowed in microseconds). */
    static const char *const times[] = {
        "{\"registered_at_ms\":17955048360060100,\"expires_at_ms\":17955048360060100}",
        "{\"registered_at_ms\":-5,\"expires_at_ms\":1795507702698}",
        "{\"registered_at_ms\":1,\"expires_at_ms\":9223372036854775807}"};
    for (size_t i = 0; i < sizeof times / sizeof times[0]; i++)
        assert_int_equal(
            api_registration_append(list, "a", 1, "c", 1, times[i], strlen(times[i]), now), 0);
    /* Not UTF-8: skipped, the rest of the list stands. */
    assert_int_equal(api_registration_append(list, "a\xff", 2, "c", 1, rec, sizeof rec - 1, now),
                     0);
    assert_int_equal(api_registration_append(list, "a", 1, "c\xc3", 2, rec, sizeof rec - 1, now),
                     0);
    assert_int_equal(json_array_size(list), 1);
    json_decref(list);
}

static void test_registrations_sort_by_aor_then_contact(void **state) {
    (void)state;
    json_t *list = json_array();
    static const char *const pairs[][2] = {
        {"sip:b@x", "sip:b@2"}, {"sip:a@x", "sip:a@9"}, {"sip:b@x", "sip:b@1"}};
    for (size_t i = 0; i < 3; i++)
        json_array_append_new(list,
                              json_pack("{s:s,s:s}", "aor", pairs[i][0], "contact", pairs[i][1]));
    api_registrations_sort(list);
    assert_string_equal(str(json_array_get(list, 0), "contact"), "sip:a@9");
    assert_string_equal(str(json_array_get(list, 1), "contact"), "sip:b@1");
    assert_string_equal(str(json_array_get(list, 2), "contact"), "sip:b@2");
    json_decref(list);
}

static void test_sse_relays_only_well_formed_events(void **state) {
    (void)state;
    size_t len;
    static const char msg[] = "{\"type\":\"registration.added\",\n \"aor\":\"sip:a@b\"}";
    char *ev = api_sse_from_message(msg, sizeof msg - 1, 7, &len);
    assert_non_null(ev);
    assert_string_equal(ev, "id: 7\nevent: registration.added\n"
                            "data: {\"type\":\"registration.added\",\"aor\":\"sip:a@b\"}\n\n");
    assert_int_equal(len, strlen(ev));
    free(ev);
    static const char *const bad[] = {
        "",
        "not json",
        "[]",
        "{}",
        "{\"type\":1}",
        "{\"type\":\"\"}",
        "{\"type\":\"a\\nevent: x\"}",
        "{\"type\":\"UPPER\"}",
        "{\"type\":\"a b\"}",
        "{\"type\":\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"}",
        "{\"type\":\"x\",\"type\":\"y\"}"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_null(api_sse_from_message(bad[i], strlen(bad[i]), 1, &len));
}

struct emitted {
    int n;
    char type[8][32];
    char data[8][512];
};

static void collect(void *arg, const char *type, const char *data) {
    struct emitted *e = arg;
    assert_true(e->n < 8);
    snprintf(e->type[e->n], sizeof e->type[0], "%s", type);
    snprintf(e->data[e->n], sizeof e->data[0], "%s", data);
    e->n++;
}

static void test_process_changes_become_died_and_respawned(void **state) {
    struct fixture *f = *state;
    cluster(f);
    static struct api_proc_seen seen[SHM_MAX_PROCS];
    memset(seen, 0, sizeof seen);
    snprintf(f->seg->hdr.node_id, sizeof f->seg->hdr.node_id, "node-a");
    struct emitted e = {0};
    assert_int_equal(api_proc_changes(seen, f->seg, true, NOW_WALL_US, collect, &e), 0);
    assert_int_equal(api_proc_changes(seen, f->seg, false, NOW_WALL_US, collect, &e), 0);
    /* routerd dies: no process in the slot yet. */
    f->seg->procs[1].pid = 0;
    assert_int_equal(api_proc_changes(seen, f->seg, false, NOW_WALL_US, collect, &e), 1);
    assert_string_equal(e.type[0], "process.died");
    json_t *d = json_loads(e.data[0], 0, NULL);
    assert_string_equal(str(d, "service"), "routerd");
    assert_int_equal(num(d, "pid"), 102);
    assert_int_equal(num(d, "ts_ms"), NOW_WALL_US / 1000);
    assert_string_equal(str(d, "node_id"), "node-a");
    json_decref(d);
    /* master respawns it. */
    f->seg->procs[1].pid = 202;
    f->seg->procs[1].restarts = 1;
    assert_int_equal(api_proc_changes(seen, f->seg, false, NOW_WALL_US, collect, &e), 1);
    assert_string_equal(e.type[1], "process.respawned");
    d = json_loads(e.data[1], 0, NULL);
    assert_int_equal(num(d, "pid"), 202);
    assert_int_equal(num(d, "restarts"), 1);
    json_decref(d);
    /* Died and respawned between two looks: both events. */
    f->seg->procs[0].pid = 301;
    f->seg->procs[0].restarts = 1;
    assert_int_equal(api_proc_changes(seen, f->seg, false, NOW_WALL_US, collect, &e), 2);
    assert_string_equal(e.type[2], "process.died");
    assert_string_equal(e.type[3], "process.respawned");
    /* A slot that appears (reload) or goes away is no death. */
    slot(f, 9, "sipd", "sipd", 2, SHM_READY, 400, 0);
    memset(&f->seg->procs[3], 0, sizeof f->seg->procs[3]);
    assert_int_equal(api_proc_changes(seen, f->seg, false, NOW_WALL_US, collect, &e), 0);
}

/* The docs follow the code: every route is in docs/api.md and docs/openapi.yaml, every
 * shm counter in docs/api.md's counter table. */
static void test_options_is_a_preflight_without_token(void **state) {
    struct fixture *f = *state;
    cluster(f);
    f->env.token = "tok";
    struct api_answer ans;
    static const char *const urls[] = {"/api/v1/dialogs/abc", "/api/v1/processes",
                                       "/api/v1/rtpmanagers/mediad-0/drain", "/api/v1/nope"};
    /* Without an Origin (no browser): 204 and no CORS header; the origins are api_gate's. */
    for (size_t i = 0; i < sizeof urls / sizeof urls[0]; i++) {
        assert_int_equal(handle(f, "OPTIONS", urls[i], NULL, NULL, NULL, &ans), 204);
        assert_null(ans.body);
        assert_null(ans.headers);
        api_answer_fini(&ans);
    }
    /* No answer ever says Access-Control-Allow-Origin: * */
    assert_int_equal(handle(f, "GET", "/api/v1/stats", NULL, NULL, NULL, &ans), 401);
    assert_null(ans.headers);
    api_answer_fini(&ans);
    assert_int_equal(handle(f, "GET", "/metrics", NULL, "Bearer tok", NULL, &ans), 200);
    assert_null(ans.headers);
    api_answer_fini(&ans);
}

static void test_dialog_state_maps_to_prototype_states(void **state) {
    (void)state;
    assert_string_equal(api_dialog_state("routing", 0), "Initial");
    assert_string_equal(api_dialog_state("calling", 0), "Initial");
    assert_string_equal(api_dialog_state("calling", 1795504236000LL), "Early");
    assert_string_equal(api_dialog_state("answered", 5), "WaitingACK");
    assert_string_equal(api_dialog_state("confirmed", 0), "Confirmed");
    assert_string_equal(api_dialog_state("ending", 0), "Terminating");
    assert_string_equal(api_dialog_state("?", 0), "Terminated");
    assert_string_equal(api_dialog_state(NULL, 0), "Terminated");
}

/* A dialogd record as HGETALL gives it (docs/calls.md). */
static json_t *record(const char *state, bool b_leg) {
    json_t *r = json_pack(
        "{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}",
        "state", state, "node", "node-a", "dialogd", "0", "created_ms", "1795504226500",
        "answered_ms", "1795504228000", "ringing_ms", "1795504227000", "a_call_id",
        "a84b4c76e66710@pc33", "a_from_display", "Alice", "a_from_uri", "sip:alice@example.com",
        "a_from_tag", "1928301774", "a_to_uri", "sip:1001@example.com", "a_to_tag", "sbtagA",
        "a_target", "sip:alice@127.0.0.1:5070", "media_session", "281474976710657", "mediad",
        "1", "b_call_id", b_leg ? "sbd0.42" : "");
    assert_non_null(r);
    json_object_set_new(r, "b_from_tag", json_string(b_leg ? "sbtagB" : ""));
    json_object_set_new(r, "b_to_uri", json_string("sip:1001@127.0.0.1:5072"));
    json_object_set_new(r, "b_to_tag", json_string(b_leg ? "314159" : ""));
    json_object_set_new(r, "b_target", json_string(b_leg ? "sip:bob@127.0.0.1:5072" : ""));
    json_object_set_new(r, "a_target_addr", json_string("127.0.0.1"));
    json_object_set_new(r, "a_target_port", json_string("5070"));
    json_object_set_new(r, "b_target_addr", json_string(b_leg ? "127.0.0.1" : ""));
    json_object_set_new(r, "b_target_port", json_string(b_leg ? "5072" : "0"));
    return r;
}

static void test_dialog_record_becomes_two_legs(void **state) {
    (void)state;
    json_t *rec = record("confirmed", true);
    json_t *list = json_array();
    assert_int_equal(api_dialog_legs_append(list, rec, 1795504236500LL), 2);
    json_t *a = json_array_get(list, 0), *b = json_array_get(list, 1);
    assert_string_equal(str(a, "call_id"), "a84b4c76e66710@pc33");
    assert_string_equal(str(a, "local_tag"), "sbtagA");
    assert_string_equal(str(a, "remote_tag"), "1928301774");
    assert_string_equal(str(a, "state"), "Confirmed");
    assert_string_equal(str(a, "direction"), "inbound");
    assert_string_equal(str(a, "from_uri"), "sip:alice@example.com");
    assert_string_equal(str(a, "to_uri"), "sip:1001@example.com");
    assert_string_equal(str(a, "remote_addr"), "127.0.0.1");
    assert_int_equal(num(a, "remote_port"), 5070);
    assert_string_equal(str(a, "session_id"), "281474976710657"); /* a string: 64 bits */
    assert_string_equal(str(a, "created_at"), "2026-11-24T07:10:26Z");
    assert_int_equal(num(a, "duration_seconds"), 10);
    assert_string_equal(str(a, "peer_call_id"), "sbd0.42");
    assert_string_equal(str(a, "node_id"), "node-a");
    assert_string_equal(str(a, "answered_at"), "2026-11-24T07:10:28Z");
    assert_string_equal(str(a, "leg"), "a");
    assert_string_equal(str(b, "call_id"), "sbd0.42");
    assert_string_equal(str(b, "local_tag"), "sbtagB");
    assert_string_equal(str(b, "remote_tag"), "314159");
    assert_string_equal(str(b, "direction"), "outbound");
    assert_string_equal(str(b, "to_uri"), "sip:1001@127.0.0.1:5072");
    assert_string_equal(str(b, "remote_addr"), "127.0.0.1");
    assert_int_equal(num(b, "remote_port"), 5072);
    assert_string_equal(str(b, "peer_call_id"), "a84b4c76e66710@pc33");
    assert_string_equal(str(b, "leg"), "b");
    json_decref(list);
    json_decref(rec);
}

static void test_dialog_record_without_b_leg_is_one_entry(void **state) {
    (void)state;
    json_t *rec = record("calling", false);
    json_object_set_new(rec, "ringing_ms", json_string("0"));
    json_object_set_new(rec, "answered_ms", json_string("0"));
    json_object_set_new(rec, "media_session", json_string("0"));
    json_t *list = json_array();
    assert_int_equal(api_dialog_legs_append(list, rec, 1795504236500LL), 1);
    json_t *a = json_array_get(list, 0);
    assert_string_equal(str(a, "state"), "Initial");
    assert_null_field(a, "peer_call_id");
    assert_null_field(a, "answered_at");
    assert_null_field(a, "session_id");
    /* ringing_ms missing (an older dialogd) counts as 0 */
    json_object_del(rec, "ringing_ms");
    json_array_clear(list);
    assert_int_equal(api_dialog_legs_append(list, rec, 1795504236500LL), 1);
    assert_string_equal(str(json_array_get(list, 0), "state"), "Initial");
    /* not a record: nothing */
    json_t *empty = json_object();
    assert_int_equal(api_dialog_legs_append(list, empty, 0), 0);
    assert_int_equal(json_array_size(list), 1);
    json_decref(empty);
    json_decref(list);
    json_decref(rec);
}

static void test_dialogs_sort_by_creation_then_call_id(void **state) {
    (void)state;
    json_t *list = json_array();
    json_array_append_new(list, json_pack("{s:s, s:s}", "created_ms", "30", "a_call_id", "x"));
    json_array_append_new(list, json_pack("{s:s, s:s}", "created_ms", "10", "a_call_id", "z"));
    json_array_append_new(list, json_pack("{s:s, s:s}", "created_ms", "30", "a_call_id", "b"));
    api_dialogs_sort(list);
    assert_string_equal(str(json_array_get(list, 0), "a_call_id"), "z");
    assert_string_equal(str(json_array_get(list, 1), "a_call_id"), "b");
    assert_string_equal(str(json_array_get(list, 2), "a_call_id"), "x");
    json_decref(list);
}

static Sb__MediaSideStats side(uint64_t rx, const char *local, const char *remote) {
    Sb__MediaSideStats s = SB__MEDIA_SIDE_STATS__INIT;
    s.rx_packets = rx;
    s.rx_bytes = rx * 172;
    s.rx_lost = 2;
    s.rx_jitter = 40;
    s.tx_packets = rx + 1;
    s.tx_bytes = (rx + 1) * 172;
    s.local = (char *)local;
    s.remote = (char *)remote;
    return s;
}

static void test_session_json_from_media_info(void **state) {
    (void)state;
    Sb__MediaSideStats a = side(50, "127.0.0.1:10002", "127.0.0.1:6000");
    Sb__MediaSideStats b = side(48, "127.0.0.1:10004", "");
    Sb__MediaSessionInfo info = SB__MEDIA_SESSION_INFO__INIT;
    info.session_id = 281474976710657ULL;
    info.call_id = "c1@h";
    info.state = "confirmed";
    info.codec = "PCMU";
    info.created_at_ms = 1795504226500LL;
    info.media_lines = 1;
    info.a = &a;
    info.b = &b;
    json_t *o = api_session_json(&info, 1);
    assert_non_null(o);
    assert_string_equal(str(o, "session_id"), "281474976710657");
    assert_string_equal(str(o, "call_id"), "c1@h");
    assert_string_equal(str(o, "local_addr"), "127.0.0.1");
    assert_int_equal(num(o, "local_port"), 10002);
    assert_string_equal(str(o, "remote_addr"), "127.0.0.1");
    assert_int_equal(num(o, "remote_port"), 6000);
    assert_string_equal(str(o, "codec"), "PCMU");
    assert_string_equal(str(o, "state"), "confirmed");
    assert_string_equal(str(o, "rtp_manager"), "mediad-1");
    assert_string_equal(str(o, "created_at"), "2026-11-24T07:10:26Z");
    assert_null_field(o, "bridged_to");
    json_t *ja = json_object_get(o, "a"), *jb = json_object_get(o, "b");
    assert_int_equal(num(ja, "rx_packets"), 50);
    assert_int_equal(num(ja, "rx_bytes"), 50 * 172);
    assert_int_equal(num(ja, "rx_lost"), 2);
    assert_int_equal(num(ja, "rx_jitter"), 40);
    assert_int_equal(num(ja, "tx_packets"), 51);
    assert_int_equal(num(jb, "rx_packets"), 48);
    assert_string_equal(str(jb, "local"), "127.0.0.1:10004");
    json_decref(o);
    /* a side not yet latched: no remote address */
    info.a = &b;
    o = api_session_json(&info, 0);
    assert_string_equal(str(o, "remote_addr"), "");
    assert_int_equal(num(o, "remote_port"), 0);
    json_decref(o);
}

static void test_dialog_detail_has_legs_and_media(void **state) {
    (void)state;
    json_t *rec = record("answered", true);
    Sb__MediaSideStats a = side(7, "127.0.0.1:10002", "127.0.0.1:6000");
    Sb__MediaSessionInfo info = SB__MEDIA_SESSION_INFO__INIT;
    info.session_id = 281474976710657ULL;
    info.a = &a;
    json_t *d = api_dialog_detail(rec, 1795504236500LL, api_session_json(&info, 1));
    assert_non_null(d);
    assert_string_equal(str(d, "call_id"), "a84b4c76e66710@pc33");
    assert_string_equal(str(d, "b_call_id"), "sbd0.42");
    assert_string_equal(str(d, "state"), "WaitingACK");
    assert_string_equal(str(d, "call_state"), "answered");
    assert_int_equal(num(d, "dialogd"), 0);
    assert_int_equal(json_array_size(json_object_get(d, "legs")), 2);
    json_t *m = json_object_get(d, "media");
    assert_string_equal(str(m, "session_id"), "281474976710657");
    assert_int_equal(num(m, "mediad"), 1);
    assert_int_equal(num(json_object_get(json_object_get(m, "stats"), "a"), "rx_packets"), 7);
    json_decref(d);
    /* mediad did not answer: stats null, the rest stays */
    d = api_dialog_detail(rec, 1795504236500LL, NULL);
    assert_null_field(json_object_get(d, "media"), "stats");
    json_decref(d);
    json_decref(rec);
}

static void test_dialog_routes_name_their_operation(void **state) {
    struct fixture *f = *state;
    struct api_answer ans;
    assert_int_equal(handle(f, "GET", "/api/v1/dialogs", NULL, NULL, NULL, &ans), 200);
    assert_int_equal(ans.op, API_OP_DLG_LIST);
    api_answer_fini(&ans);
    assert_int_equal(handle(f, "GET", "/api/v1/dialogs/abc@h?x=1", NULL, NULL, NULL, &ans), 200);
    assert_int_equal(ans.op, API_OP_DLG_GET);
    assert_string_equal(ans.call_id, "abc@h");
    api_answer_fini(&ans);
    assert_int_equal(handle(f, "DELETE", "/api/v1/dialogs/abc@h", NULL, NULL, NULL, &ans), 200);
    assert_int_equal(ans.op, API_OP_DLG_HANGUP);
    assert_string_equal(ans.call_id, "abc@h");
    api_answer_fini(&ans);
    assert_int_equal(handle(f, "POST", "/api/v1/dialogs/abc", NULL, NULL, NULL, &ans), 405);
    assert_string_equal(ans.allow, "GET, HEAD, DELETE");
    api_answer_fini(&ans);
    assert_int_equal(handle(f, "DELETE", "/api/v1/dialogs/", NULL, NULL, NULL, &ans), 400);
    api_answer_fini(&ans);
    assert_int_equal(handle(f, "DELETE", "/api/v1/dialogs/a b", NULL, NULL, NULL, &ans), 400);
    api_answer_fini(&ans);
    assert_int_equal(handle(f, "DELETE", "/api/v1/dialogs/abc", "{}", NULL, NULL, &ans), 413);
    api_answer_fini(&ans);
    assert_int_equal(handle(f, "GET", "/api/v1/sessions", NULL, NULL, NULL, &ans), 200);
    assert_int_equal(ans.op, API_OP_SESSIONS);
    api_answer_fini(&ans);
    assert_int_equal(handle(f, "POST", "/api/v1/dialplan/reload", NULL, NULL, NULL, &ans), 200);
    assert_int_equal(ans.op, API_OP_DIALPLAN_RELOAD);
    api_answer_fini(&ans);
    assert_int_equal(handle(f, "GET", "/api/v1/dialplan/reload", NULL, NULL, NULL, &ans), 405);
    assert_string_equal(ans.allow, "POST");
    api_answer_fini(&ans);
    f->env.redis_up = false; /* dialogs live in Redis; sessions do not */
    assert_int_equal(handle(f, "GET", "/api/v1/dialogs/abc", NULL, NULL, NULL, &ans), 503);
    assert_null(ans.call_id);
    api_answer_fini(&ans);
    assert_int_equal(handle(f, "GET", "/api/v1/dialogs", NULL, NULL, NULL, &ans), 503);
    api_answer_fini(&ans);
    assert_int_equal(handle(f, "GET", "/api/v1/sessions", NULL, NULL, NULL, &ans), 200);
    api_answer_fini(&ans);
}

static void test_drain_routes_check_node_and_mode(void **state) {
    struct fixture *f = *state;
    cluster(f);
    slot(f, 4, "mediad", "mediad", 0, SHM_READY, 110, 0);
    slot(f, 5, "mediad", "mediad", 1, SHM_READY, 111, 0);
    struct api_drain drains[API_MAX_MEDIAD] = {{0}};
    f->env.drains = drains;
    struct api_answer ans;
    const char *u = "/api/v1/rtpmanagers/mediad-1/drain";
    assert_int_equal(handle(f, "POST", u, NULL, NULL, NULL, &ans), 200);
    assert_int_equal(ans.op, API_OP_DRAIN_START);
    assert_int_equal(ans.instance, 1);
    assert_false(ans.aggressive);
    api_answer_fini(&ans);
    struct api_request req = {.method = "POST", .url = u, .mode = "aggressive"};
    assert_int_equal(api_handle(&f->env, &req, &ans), 200);
    assert_true(ans.aggressive);
    api_answer_fini(&ans);
    req.mode = "Aggressive";
    assert_int_equal(api_handle(&f->env, &req, &ans), 400);
    api_answer_fini(&ans);
    assert_int_equal(handle(f, "DELETE", u, NULL, NULL, NULL, &ans), 200);
    assert_int_equal(ans.op, API_OP_DRAIN_CANCEL);
    api_answer_fini(&ans);
    static const char *const unknown[] = {
        "/api/v1/rtpmanagers/mediad-2/drain", "/api/v1/rtpmanagers/mediad-01/drain",
        "/api/v1/rtpmanagers/node1/drain", "/api/v1/rtpmanagers/mediad-1",
        "/api/v1/rtpmanagers/mediad-1/drainx", "/api/v1/rtpmanagers/mediad-/drain"};
    for (size_t i = 0; i < sizeof unknown / sizeof unknown[0]; i++) {
        assert_int_equal(handle(f, "POST", unknown[i], NULL, NULL, NULL, &ans), 404);
        json_t *doc = answer_json(&ans);
        assert_error(doc, "NOT_FOUND");
        json_decref(doc);
        api_answer_fini(&ans);
    }
    assert_int_equal(handle(f, "PUT", u, NULL, NULL, NULL, &ans), 405);
    assert_string_equal(ans.allow, "GET, HEAD, POST, DELETE");
    api_answer_fini(&ans);
    /* GET answers from the table; a second POST while draining is a conflict. */
    drains[1] = (struct api_drain){.state = API_DRAIN_DRAINING,
                                   .total_sessions = 3,
                                   .migrated = 1,
                                   .started_us = NOW_WALL_US - 4000000};
    assert_int_equal(handle(f, "GET", u, NULL, NULL, NULL, &ans), 200);
    json_t *doc = answer_json(&ans);
    assert_string_equal(str(doc, "state"), "draining");
    assert_string_equal(str(doc, "mode"), "graceful");
    assert_int_equal(num(doc, "elapsed_seconds"), 4);
    json_decref(doc);
    api_answer_fini(&ans);
    assert_int_equal(handle(f, "POST", u, NULL, NULL, NULL, &ans), 409);
    doc = answer_json(&ans);
    assert_error(doc, "CONFLICT");
    json_decref(doc);
    api_answer_fini(&ans);
}

static void test_drain_json_reports_progress(void **state) {
    (void)state;
    json_t *o = api_drain_json(NULL, 3, NOW_WALL_US);
    assert_string_equal(str(o, "node_id"), "mediad-3");
    assert_string_equal(str(o, "state"), "idle");
    assert_null_field(o, "mode");
    assert_null_field(o, "started_at");
    assert_int_equal(num(o, "elapsed_seconds"), 0);
    assert_int_equal(json_array_size(json_object_get(o, "errors")), 0);
    json_decref(o);
    struct api_drain d = {.state = API_DRAIN_COMPLETED,
                          .aggressive = true,
                          .total_sessions = 5,
                          .migrated = 3,
                          .failed = 2,
                          .waiting_playback = 0,
                          .rounds = 2,
                          .nerrors = 2,
                          .started_us = MASTER_START_US,
                          .ended_us = MASTER_START_US + 7500000};
    snprintf(d.errors[0], sizeof d.errors[0], "dialogd 0: c1@h: B refused the re-INVITE (488)");
    snprintf(d.errors[1], sizeof d.errors[1], "dialogd 0: c2@h: no answer");
    o = api_drain_json(&d, 0, NOW_WALL_US);
    assert_string_equal(str(o, "state"), "completed");
    assert_string_equal(str(o, "mode"), "aggressive");
    assert_int_equal(num(o, "total_sessions"), 5);
    assert_int_equal(num(o, "migrated_count"), 3);
    assert_int_equal(num(o, "failed_count"), 2);
    assert_int_equal(num(o, "waiting_playback"), 0);
    assert_int_equal(num(o, "elapsed_seconds"), 7); /* to the end, not to now */
    assert_string_equal(str(o, "started_at"), "2026-11-24T06:00:00Z");
    json_t *errs = json_object_get(o, "errors");
    assert_int_equal(json_array_size(errs), 2);
    assert_string_equal(json_string_value(json_array_get(errs, 1)), "dialogd 0: c2@h: no answer");
    json_decref(o);
    d.state = API_DRAIN_CANCELLED;
    o = api_drain_json(&d, 0, NOW_WALL_US);
    assert_string_equal(str(o, "state"), "cancelled");
    json_decref(o);
}

static void test_rtpmanagers_from_the_table(void **state) {
    struct fixture *f = *state;
    cluster(f);
    struct shm_proc *m0 = slot(f, 4, "mediad", "mediad", 0, SHM_READY, 110, 0);
    struct shm_proc *m1 = slot(f, 5, "mediad", "mediad", 1, SHM_READY, 111, 0);
    slot(f, 6, "mediad", "mediad", 2, SHM_THROTTLED, 0, 0);
    m0->counters[SHM_C_media_sessions] = 4;
    m1->counters[SHM_C_media_sessions] = 1;
    f->seg->stats[5].media_drained = 1;
    struct api_drain drains[API_MAX_MEDIAD] = {{0}};
    f->env.drains = drains;
    static const char text[] = "media_address = 10.1.2.3\nrtp_port_range = 20000-20999\n";
    char err[256];
    cfg_t *cfg = cfg_parse(text, sizeof text - 1, "main.cf", "/etc/sb", err, sizeof err);
    assert_non_null(cfg);
    f->env.cfg = cfg;
    int status;
    json_t *doc = call(f, "GET", "/api/v1/rtpmanagers", 0, &status, NULL);
    assert_int_equal(status, 200);
    assert_int_equal(num(doc, "total_members"), 3);
    assert_int_equal(num(doc, "healthy_members"), 2);
    assert_int_equal(num(doc, "active_sessions"), 5);
    json_t *members = json_object_get(doc, "members");
    json_t *a = json_array_get(members, 0), *b = json_array_get(members, 1),
           *c = json_array_get(members, 2);
    assert_string_equal(str(a, "node_id"), "mediad-0");
    assert_string_equal(str(a, "address"), "10.1.2.3:20000-20999");
    assert_true(json_is_true(json_object_get(a, "healthy")));
    assert_string_equal(str(a, "drain_state"), "active");
    assert_int_equal(num(a, "session_count"), 4);
    assert_string_equal(str(b, "drain_state"), "disabled"); /* drained by an operator */
    assert_true(json_is_false(json_object_get(c, "healthy")));
    json_decref(doc);
    drains[1].state = API_DRAIN_DRAINING; /* while apid moves its calls */
    doc = call(f, "GET", "/api/v1/rtpmanagers", 0, &status, NULL);
    assert_string_equal(str(json_array_get(json_object_get(doc, "members"), 1), "drain_state"),
                        "draining");
    json_decref(doc);
    cfg_free(cfg);
    f->env.cfg = NULL;
}

static void test_nodes_lists_self_then_api_peers(void **state) {
    struct fixture *f = *state;
    static const char text[] = "api_listen = 127.0.0.1:8081\n"
                               "api_peers = http://10.0.0.2:8080/ ,http://b.example:8080\n";
    char err[256];
    cfg_t *cfg = cfg_parse(text, sizeof text - 1, "main.cf", "/etc/sb", err, sizeof err);
    assert_non_null(cfg);
    f->env.cfg = cfg;
    int status;
    json_t *doc = call(f, "GET", "/api/v1/nodes", 0, &status, NULL);
    assert_int_equal(status, 200);
    json_t *nodes = json_object_get(doc, "nodes");
    assert_int_equal(json_array_size(nodes), 3);
    json_t *self = json_array_get(nodes, 0);
    assert_string_equal(str(self, "node_id"), "node-a");
    assert_string_equal(str(self, "url"), "http://127.0.0.1:8081");
    assert_true(json_is_true(json_object_get(self, "self")));
    assert_string_equal(str(json_array_get(nodes, 1), "url"), "http://10.0.0.2:8080");
    assert_string_equal(str(json_array_get(nodes, 2), "url"), "http://b.example:8080");
    assert_true(json_is_false(json_object_get(json_array_get(nodes, 2), "self")));
    assert_null_field(json_array_get(nodes, 1), "node_id");
    json_decref(doc);
    cfg_free(cfg);
    static const char wild[] = "api_listen = 0.0.0.0:8080\n";
    cfg = cfg_parse(wild, sizeof wild - 1, "main.cf", "/etc/sb", err, sizeof err);
    f->env.cfg = cfg;
    doc = call(f, "GET", "/api/v1/nodes", 0, &status, NULL);
    nodes = json_object_get(doc, "nodes");
    assert_int_equal(json_array_size(nodes), 1);
    assert_null_field(json_array_get(nodes, 0), "url"); /* no one URL names a wildcard */
    json_decref(doc);
    cfg_free(cfg);
    f->env.cfg = NULL;
}

static void test_metrics_sip_by_method_and_code_and_setup_histogram(void **state) {
    struct fixture *f = *state;
    cluster(f);
    slot(f, 4, "sipd", "sipd", 1, SHM_READY, 120, 0);
    slot(f, 5, "dialogd", "dialogd", 0, SHM_READY, 121, 0);
    f->seg->stats[0].sip_requests[SHM_RX][SHM_SIP_INVITE] = 3;
    f->seg->stats[4].sip_requests[SHM_RX][SHM_SIP_INVITE] = 2;
    f->seg->stats[4].sip_requests[SHM_TX][SHM_SIP_BYE] = 1;
    f->seg->stats[0].sip_responses[SHM_TX][200 - SHM_SIP_CODE_MIN] = 4;
    f->seg->stats[4].sip_responses[SHM_RX][486 - SHM_SIP_CODE_MIN] = 1;
    /* an exec slot's stats are never counted */
    f->seg->stats[3].sip_requests[SHM_RX][SHM_SIP_INVITE] = 100;
    shm_setup_observe(&f->seg->stats[5], 3);     /* <= 5 ms */
    shm_setup_observe(&f->seg->stats[5], 80);    /* <= 100 ms */
    shm_setup_observe(&f->seg->stats[5], 90000); /* over the last bound */
    struct api_answer ans;
    assert_int_equal(handle(f, "GET", "/metrics", NULL, NULL, NULL, &ans), 200);
    const char *m = ans.body;
    assert_int_equal(sample(m, "switchboard_sip_requests_total{method=\"INVITE\",direction=\"rx\"}"),
                     5);
    assert_int_equal(sample(m, "switchboard_sip_requests_total{method=\"INVITE\",direction=\"tx\"}"),
                     0);
    assert_int_equal(sample(m, "switchboard_sip_requests_total{method=\"BYE\",direction=\"tx\"}"), 1);
    assert_int_equal(sample(m, "switchboard_sip_requests_total{method=\"other\",direction=\"rx\"}"),
                     0);
    assert_int_equal(sample(m, "switchboard_sip_responses_total{code=\"200\",direction=\"tx\"}"), 4);
    assert_int_equal(sample(m, "switchboard_sip_responses_total{code=\"486\",direction=\"rx\"}"), 1);
    /* codes never seen are left out */
    assert_int_equal(sample(m, "switchboard_sip_responses_total{code=\"404\",direction=\"tx\"}"),
                     -1);
    assert_int_equal(sample(m, "switchboard_call_setup_seconds_bucket{le=\"0.005\"}"), 1);
    assert_int_equal(sample(m, "switchboard_call_setup_seconds_bucket{le=\"0.05\"}"), 1);
    assert_int_equal(sample(m, "switchboard_call_setup_seconds_bucket{le=\"0.1\"}"), 2);
    assert_int_equal(sample(m, "switchboard_call_setup_seconds_bucket{le=\"60\"}"), 2);
    assert_int_equal(sample(m, "switchboard_call_setup_seconds_bucket{le=\"+Inf\"}"), 3);
    assert_int_equal(sample(m, "switchboard_call_setup_seconds_count"), 3);
    assert_non_null(strstr(m, "\nswitchboard_call_setup_seconds_sum 90.083\n"));
    assert_non_null(strstr(m, "# TYPE switchboard_call_setup_seconds histogram\n"));
    assert_non_null(strstr(m, "# TYPE switchboard_sip_requests_total counter\n"));
    api_answer_fini(&ans);
}

static void test_docs_list_every_route_and_counter(void **state) {
    (void)state;
    size_t len;
    char *md = cfgtext_read_file("docs/api.md", CFGTEXT_FILE_MAX, &len, NULL, 0);
    char *oas = cfgtext_read_file("docs/openapi.yaml", CFGTEXT_FILE_MAX, &len, NULL, 0);
    assert_non_null(md);
    assert_non_null(oas);
    static const char *const routes[] = {"/api/v1/health",
                                         "/api/v1/stats",
                                         "/api/v1/processes",
                                         "/api/v1/registrations",
                                         "/api/v1/registrations/{aor}",
                                         "/api/v1/config",
                                         "/api/v1/events",
                                         "/api/v1/dialogs",
                                         "/api/v1/dialogs/{call_id}",
                                         "/api/v1/sessions",
                                         "/api/v1/rtpmanagers",
                                         "/api/v1/rtpmanagers/{node_id}/drain",
                                         "/api/v1/dialplan/reload",
                                         "/api/v1/nodes",
                                         "/metrics"};
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
        char key[128];
        snprintf(key, sizeof key, "\n  %s:\n", routes[i]);
        if (!strstr(oas, key))
            fail_msg("docs/openapi.yaml has no path %s", routes[i]);
        snprintf(key, sizeof key, "`%s`", routes[i]);
        if (!strstr(md, key))
            fail_msg("docs/api.md does not list %s", routes[i]);
    }
    for (int c = 0; c < SHM_COUNTER_COUNT; c++) {
        char key[96];
        snprintf(key, sizeof key, "`%s`", shm_counter_name((enum shm_counter)c));
        if (!strstr(md, key))
            fail_msg("docs/api.md has no row for counter %s",
                     shm_counter_name((enum shm_counter)c));
    }
    free(md);
    free(oas);
}

static void test_csp_lets_the_dashboard_reach_its_peers_only(void **state) {
    (void)state;
    char csp[512];
    assert_true(api_csp("http://10.0.0.2:8080/ https://b.example/x, ftp://f.example "
                        "http://ev'il;x http://",
                        csp, sizeof csp) > 0);
    assert_string_equal(csp, "default-src 'self'; connect-src 'self' http://10.0.0.2:8080 "
                             "https://b.example; frame-ancestors 'none'");
    assert_true(api_csp("", csp, sizeof csp) > 0);
    assert_string_equal(csp, "default-src 'self'; connect-src 'self'; frame-ancestors 'none'");
    assert_int_equal(api_csp("http://a.example", csp, 20), 0);
}

static void test_peer_origin_takes_http_scheme_host_and_port_only(void **state) {
    (void)state;
    static const struct {
        const char *url;
        size_t origin; /* its length, 0: not a peer URL */
    } table[] = {
        {"http://10.0.0.2:8080", 20},
        {"http://10.0.0.2:8080/", 20},
        {"https://b.example/x/y", 17},
        {"http://[2001:db8::1]:8080/api", 25},
        {"http://", 0},
        {"http:///path", 0},
        {"ftp://f.example", 0},
        {"HTTP://a.example", 0},
        {"httpx://a.example", 0},
        {"http://ev'il", 0},
        {"http://a b", 0},
        {"sip:bob@example.com:5060", 0},
        {"a.example:8080", 0},
        {"", 0},
    };
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
        assert_int_equal(api_peer_origin(table[i].url, strlen(table[i].url)), table[i].origin);
    /* only the given length is read */
    assert_int_equal(api_peer_origin("http://a.example:80 junk", 19), 19);
}

/* A call event whose display name was not UTF-8: a writer that replaces the bad bytes
 * (lib/jsonw.h) makes an event apid relays, U+FFFD in place; raw bad bytes are dropped. */
static void test_sse_relays_an_event_with_a_repaired_display_name(void **state) {
    (void)state;
    jsonw_t w;
    jsonw_init(&w);
    jsonw_object_open(&w);
    jsonw_kv_string(&w, "type", "call.started");
    jsonw_kv_string(&w, "from_display", "Jos\xe9");
    jsonw_object_close(&w);
    size_t msg_len, len;
    char *msg = jsonw_finish(&w, &msg_len);
    assert_non_null(msg);
    char *ev = api_sse_from_message(msg, msg_len, 3, &len);
    assert_non_null(ev);
    assert_string_equal(ev, "id: 3\nevent: call.started\ndata: {\"type\":\"call.started\","
                            "\"from_display\":\"Jos\xef\xbf\xbd\"}\n\n");
    free(ev);
    free(msg);
    static const char raw[] = "{\"type\":\"call.started\",\"from_display\":\"Jos\xe9\"}";
    assert_null(api_sse_from_message(raw, sizeof raw - 1, 4, &len));
}

int main(void) {
    const struct CMUnitTest tests[] = {
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
        T(test_health_ok_when_all_ready_and_redis_up),
        T(test_csp_lets_the_dashboard_reach_its_peers_only),
        T(test_peer_origin_takes_http_scheme_host_and_port_only),
        T(test_sse_relays_an_event_with_a_repaired_display_name),
        T(test_health_unavailable_without_a_ready_dialogd),
        T(test_health_ok_while_one_of_two_sipd_restarts),
        T(test_health_unavailable_when_routerd_has_no_dialplan),
        T(test_health_degraded_worker_is_counted_and_named),
        T(test_health_throttled_mediad_with_another_in_service_is_ok),
        T(test_health_unavailable_when_the_only_mediad_is_drained),
        T(test_health_ignores_exec_slot_not_ready),
        T(test_health_unavailable_when_redis_down),
        T(test_health_of_empty_table),
        T(test_processes_lists_exactly_the_used_slots),
        T(test_processes_slot_without_process_has_no_uptime),
        T(test_processes_of_empty_table_is_empty_list),
        T(test_unknown_path_is_404),
        T(test_other_method_on_known_path_is_405_with_allow),
        T(test_head_is_answered_like_get),
        T(test_query_string_is_ignored),
        T(test_body_on_get_route_is_413),
        T(test_body_over_cap_is_413_on_any_path),
        T(test_error_body_of_unknown_status_is_internal),
        T(test_iso8601_formats_utc_seconds),
        T(test_node_id_is_escaped_json),
        T(test_error_bodies_name_their_code),
        T(test_token_check_accepts_only_the_exact_token),
        T(test_token_required_everywhere_but_health_and_files),
        T(test_async_routes_name_their_operation),
        T(test_unregister_parses_aor_and_optional_contact),
        T(test_unregister_takes_the_canonical_aor),
        T(test_stats_has_the_prototype_fields),
        T(test_config_masks_the_token),
        T(test_metrics_are_prometheus_text_per_process),
        T(test_metrics_escape_label_values),
        T(test_aor_of_key),
        T(test_registration_entry_from_record),
        T(test_registrations_sort_by_aor_then_contact),
        T(test_sse_relays_only_well_formed_events),
        T(test_process_changes_become_died_and_respawned),
        T(test_options_is_a_preflight_without_token),
        T(test_dialog_state_maps_to_prototype_states),
        T(test_dialog_record_becomes_two_legs),
        T(test_dialog_record_without_b_leg_is_one_entry),
        T(test_dialogs_sort_by_creation_then_call_id),
        T(test_session_json_from_media_info),
        T(test_dialog_detail_has_legs_and_media),
        T(test_dialog_routes_name_their_operation),
        T(test_drain_routes_check_node_and_mode),
        T(test_drain_json_reports_progress),
        T(test_rtpmanagers_from_the_table),
        T(test_nodes_lists_self_then_api_peers),
        T(test_metrics_sip_by_method_and_code_and_setup_histogram),
        T(test_docs_list_every_route_and_counter),
#undef T
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
