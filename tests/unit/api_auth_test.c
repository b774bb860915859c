/* api_auth: the REST routes of subscribers and bans, as api_handle answers them (methods,
 * names, bodies, the HA1 hashes computed from a PUT's password, the token). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cfgtext.h"
#include "procs/apid/api.h"
#include "procs/apid/api_auth.h"

static int call(const char *method, const char *url, const char *body, const char *token,
                struct api_answer *ans) {
    struct api_env env = {.token = token, .redis_up = true};
    struct api_request req = {
        .method = method, .url = url, .body = body, .body_len = body ? strlen(body) : 0};
    return api_handle(&env, &req, ans);
}

static void test_put_hashes_the_password_for_the_served_realm(void **state) {
    (void)state;
    struct api_answer ans;
    assert_int_equal(
        call("PUT", "/api/v1/subscribers/alice", "{\"password\": \"secret one\"}", NULL, &ans),
        200);
    assert_int_equal(ans.op, API_OP_AUTH);
    assert_int_equal(ans.auth_op->kind, API_AUTH_SUB_PUT);
    assert_string_equal(ans.auth_op->user, "alice");
    assert_string_equal(ans.auth_op->realm, "localhost");
    /* md5("alice:localhost:secret one") */
    char want[DIGEST_HEX_MAX];
    digest_ha1(DIGEST_MD5, "alice", "localhost", "secret one", want, sizeof want);
    assert_string_equal(ans.auth_op->ha1_md5, want);
    assert_int_equal(strlen(ans.auth_op->ha1_sha256), 64);
    api_answer_fini(&ans);
    assert_int_equal(
        call("PUT", "/api/v1/subscribers/bob@pbx.example.com", "{\"password\": \"x\"}", NULL, &ans),
        200);
    assert_string_equal(ans.auth_op->realm, "pbx.example.com");
    api_answer_fini(&ans);
}

static void test_bad_bodies_and_names_are_400(void **state) {
    (void)state;
    struct api_answer ans;
    const char *bodies[] = {"",
                            "{}",
                            "[]",
                            "{\"password\": \"\"}",
                            "{\"password\": 5}",
                            "{\"password\": \"a\", \"x\": 1}",
                            "{\"password\": \"a\\u0000b\"}",
                            "not json"};
    for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
        assert_int_equal(call("PUT", "/api/v1/subscribers/alice", bodies[i], NULL, &ans), 400);
        assert_null(ans.auth_op);
        api_answer_fini(&ans);
    }
    const char *names[] = {"/api/v1/subscribers/a{b}", "/api/v1/subscribers/a b",
                           "/api/v1/subscribers/@x", "/api/v1/subscribers/a@",
                           "/api/v1/subscribers/a@b@c"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        assert_int_equal(call("GET", names[i], NULL, NULL, &ans), 400);
        api_answer_fini(&ans);
    }
    assert_int_equal(call("DELETE", "/api/v1/bans/evil.example.com", NULL, NULL, &ans), 400);
    api_answer_fini(&ans);
}

static void test_methods_and_kinds(void **state) {
    (void)state;
    struct api_answer ans;
    struct {
        const char *method, *url;
        int status;
        int kind;
    } rows[] = {
        {"GET", "/api/v1/subscribers", 200, API_AUTH_SUB_LIST},
        {"GET", "/api/v1/subscribers/alice", 200, API_AUTH_SUB_GET},
        {"DELETE", "/api/v1/subscribers/alice", 200, API_AUTH_SUB_DELETE},
        {"GET", "/api/v1/bans", 200, API_AUTH_BAN_LIST},
        {"DELETE", "/api/v1/bans/192.0.2.7", 200, API_AUTH_BAN_DELETE},
        {"DELETE", "/api/v1/bans/2001:db8::1", 200, API_AUTH_BAN_DELETE},
        {"POST", "/api/v1/subscribers", 405, -1},
        {"POST", "/api/v1/subscribers/alice", 405, -1},
        {"GET", "/api/v1/bans/192.0.2.7", 405, -1},
        {"DELETE", "/api/v1/bans", 405, -1},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        assert_int_equal(call(rows[i].method, rows[i].url, NULL, NULL, &ans), rows[i].status);
        if (rows[i].kind >= 0)
            assert_int_equal(ans.auth_op->kind, rows[i].kind);
        api_answer_fini(&ans);
    }
}

static void test_token_is_required(void **state) {
    (void)state;
    struct api_answer ans;
    assert_int_equal(call("GET", "/api/v1/subscribers", NULL, "tok", &ans), 401);
    assert_null(ans.auth_op);
    api_answer_fini(&ans);
    assert_int_equal(call("DELETE", "/api/v1/bans/192.0.2.7", NULL, "tok", &ans), 401);
    api_answer_fini(&ans);
}

/* docs/api.md and docs/openapi.yaml list these routes (as api_test does the others). */
static void test_docs_list_the_routes(void **state) {
    (void)state;
    size_t len;
    char *md = cfgtext_read_file("docs/api.md", CFGTEXT_FILE_MAX, &len, NULL, 0);
    char *oas = cfgtext_read_file("docs/openapi.yaml", CFGTEXT_FILE_MAX, &len, NULL, 0);
    assert_non_null(md);
    assert_non_null(oas);
    static const char *const routes[] = {"/api/v1/subscribers", "/api/v1/subscribers/{user}",
                                         "/api/v1/bans", "/api/v1/bans/{address}"};
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
        char key[128];
        snprintf(key, sizeof key, "\n  %s:\n", routes[i]);
        if (!strstr(oas, key))
            fail_msg("docs/openapi.yaml has no path %s", routes[i]);
        snprintf(key, sizeof key, "`%s`", routes[i]);
        if (!strstr(md, key))
            fail_msg("docs/api.md does not list %s", routes[i]);
    }
    free(md);
    free(oas);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_put_hashes_the_password_for_the_served_realm),
        cmocka_unit_test(test_bad_bodies_and_names_are_400),
        cmocka_unit_test(test_methods_and_kinds),
        cmocka_unit_test(test_token_is_required),
        cmocka_unit_test(test_docs_list_the_routes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
