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

#include "procs/apid/api.h"
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

static void test_health_ok_when_all_ready_and_redis_up(void **state) {
    struct fixture *f = *state;
    cluster(f);
    int status;
    json_t *doc = call(f, "GET", "/api/v1/health", 0, &status, NULL);
    assert_int_equal(status, 200);
    assert_string_equal(str(doc, "status"), "ok");
    assert_string_equal(str(doc, "timestamp"), "2026-11-24T07:10:36Z");
    assert_string_equal(str(doc, "node_id"), "node-a");
    assert_int_equal(num(doc, "processes_total"), 4);
    assert_int_equal(num(doc, "processes_ready"), 4);
    assert_string_equal(str(doc, "redis"), "up");
    json_decref(doc);
}

static void test_health_degraded_when_a_worker_is_starting(void **state) {
    struct fixture *f = *state;
    cluster(f);
    slot(f, 7, "dialogd", "dialogd", 0, SHM_STARTING, 105, 0);
    int status;
    json_t *doc = call(f, "GET", "/api/v1/health", 0, &status, NULL);
    assert_int_equal(status, 503);
    assert_string_equal(str(doc, "status"), "degraded");
    assert_int_equal(num(doc, "processes_total"), 5);
    assert_int_equal(num(doc, "processes_ready"), 4);
    assert_string_equal(str(doc, "redis"), "up");
    json_decref(doc);
}

static void test_health_degraded_when_a_worker_is_throttled(void **state) {
    struct fixture *f = *state;
    cluster(f);
    slot(f, 4, "mediad", "mediad", 1, SHM_THROTTLED, 0, 0);
    int status;
    json_t *doc = call(f, "GET", "/api/v1/health", 0, &status, NULL);
    assert_int_equal(status, 503);
    assert_string_equal(str(doc, "status"), "degraded");
    json_decref(doc);
}

static void test_health_ignores_exec_slot_not_ready(void **state) {
    struct fixture *f = *state;
    cluster(f);
    f->seg->procs[3].state = SHM_STARTING; /* redis-server, an exec service */
    int status;
    json_t *doc = call(f, "GET", "/api/v1/health", 0, &status, NULL);
    assert_int_equal(status, 200);
    assert_string_equal(str(doc, "status"), "ok");
    assert_int_equal(num(doc, "processes_total"), 4);
    assert_int_equal(num(doc, "processes_ready"), 3);
    json_decref(doc);
}

static void test_health_degraded_when_redis_down(void **state) {
    struct fixture *f = *state;
    cluster(f);
    f->env.redis_up = false;
    int status;
    json_t *doc = call(f, "GET", "/api/v1/health", 0, &status, NULL);
    assert_int_equal(status, 503);
    assert_string_equal(str(doc, "status"), "degraded");
    assert_string_equal(str(doc, "redis"), "down");
    assert_int_equal(num(doc, "processes_ready"), 4);
    json_decref(doc);
}

static void test_health_of_empty_table(void **state) {
    struct fixture *f = *state;
    int status;
    json_t *doc = call(f, "GET", "/api/v1/health", 0, &status, NULL);
    assert_int_equal(status, 200);
    assert_int_equal(num(doc, "processes_total"), 0);
    assert_int_equal(num(doc, "processes_ready"), 0);
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
    static const char *const urls[] = {"/api/", "/api/v1", "/api/v1/nope", "/api/v1/health/",
                                       "/api/v1/healthz", "/api/V1/HEALTH",
                                       "/api/v1/registrationsx"};
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
    static const char *const methods[] = {"POST", "PUT", "DELETE", "PATCH", "OPTIONS", "get"};
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
    cluster(f);
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
    cluster(f);
    int status;
    json_t *doc = call(f, "GET", "/api/v1/health?x=1", 0, &status, NULL);
    assert_int_equal(status, 200);
    assert_string_equal(str(doc, "status"), "ok");
    json_decref(doc);
    doc = call(f, "GET", "/api/v1/processes?", 0, &status, NULL);
    assert_int_equal(status, 200);
    assert_int_equal(json_array_size(json_object_get(doc, "processes")), 4);
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

int main(void) {
    const struct CMUnitTest tests[] = {
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
        T(test_health_ok_when_all_ready_and_redis_up),
        T(test_health_degraded_when_a_worker_is_starting),
        T(test_health_degraded_when_a_worker_is_throttled),
        T(test_health_ignores_exec_slot_not_ready),
        T(test_health_degraded_when_redis_down),
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
#undef T
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
