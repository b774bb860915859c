/* api_gate_test - the checks every apid request passes before a route: Host, Origin,
 * preflight, token, refusal. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "apitoken.h"
#include "domains.h"
#include "procs/apid/api.h"
#include "procs/apid/api_gate.h"
#include "shm.h"

#define PEERS "http://10.0.0.2:8080 https://node-b.example:8443/base"

struct fixture {
    struct shm_seg *seg;
    domains_t *hosts;
    struct api_gate gate;
    struct api_env env;
};

static int setup(void **state) {
    struct fixture *f = calloc(1, sizeof *f);
    assert_non_null(f);
    f->seg = aligned_alloc(64, sizeof *f->seg);
    assert_non_null(f->seg);
    memset(f->seg, 0, sizeof *f->seg);
    f->seg->hdr.magic = SHM_MAGIC;
    f->seg->hdr.version = SHM_VERSION;
    char why[128];
    f->hosts = domains_new("127.0.0.1 pbx.example.com", true, why, sizeof why);
    assert_non_null(f->hosts);
    f->gate = (struct api_gate){.token = "tok-0123456789abcdef", .hosts = f->hosts, .peers = PEERS};
    f->env = (struct api_env){
        .shm = f->seg, .node_id = "n", .redis_up = true, .gate = &f->gate, .token = f->gate.token};
    *state = f;
    return 0;
}

static int teardown(void **state) {
    struct fixture *f = *state;
    domains_free(f->hosts);
    free(f->seg);
    free(f);
    return 0;
}

static int req(struct fixture *f, const char *method, const char *url, const char *host,
               const char *origin, const char *authorization, struct api_answer *ans) {
    struct api_request r = {.method = method,
                            .url = url,
                            .host = host,
                            .origin = origin,
                            .authorization = authorization};
    return api_handle(&f->env, &r, ans);
}

/* The value of header name in an answer's extra headers, or NULL. */
static const char *header(const struct api_answer *ans, const char *name) {
    for (size_t i = 0; ans->headers && ans->headers[i] && ans->headers[i + 1]; i += 2)
        if (strcmp(ans->headers[i], name) == 0)
            return ans->headers[i + 1];
    return NULL;
}

static void assert_code(struct api_answer *ans, const char *code) {
    assert_non_null(ans->body);
    json_t *doc = json_loads(ans->body, 0, NULL);
    assert_non_null(doc);
    assert_string_equal(json_string_value(json_object_get(doc, "code")), code);
    json_decref(doc);
}

static void test_no_token_is_401_and_a_wrong_one_too(void **state) {
    struct fixture *f = *state;
    struct api_answer ans;
    assert_int_equal(req(f, "DELETE", "/api/v1/dialogs/x", "127.0.0.1:8080", NULL, NULL, &ans),
                     401);
    assert_code(&ans, "UNAUTHORIZED");
    api_answer_fini(&ans);
    assert_int_equal(
        req(f, "POST", "/api/v1/dialplan/reload", "127.0.0.1:8080", NULL, "Bearer tok", &ans), 401);
    api_answer_fini(&ans);
    /* a path no route knows needs the token first: routes added later are covered */
    assert_int_equal(req(f, "GET", "/api/v1/subscribers", "127.0.0.1", NULL, NULL, &ans), 401);
    api_answer_fini(&ans);
    /* health needs no token */
    struct api_request r = {.method = "GET", .url = "/api/v1/health", .host = "127.0.0.1"};
    assert_int_equal(api_gate_check(&f->gate, &r, true, true, &ans), 0);
}

static void test_host_must_be_ours(void **state) {
    struct fixture *f = *state;
    struct api_answer ans;
    static const char *const bad[] = {
        "evil.example", "evil.example:8080", "127.0.0.1:80:1",      "[::1",
        "127.0.0.1:",   "127.0.0.1:8o",      "pbx.example.com.evil"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(
            req(f, "GET", "/api/v1/processes", bad[i], NULL, "Bearer tok-0123456789abcdef", &ans),
            421);
        assert_code(&ans, "MISDIRECTED");
        api_answer_fini(&ans);
        /* the dashboard's files too: a rebound name gets nothing of ours */
        assert_int_equal(req(f, "GET", "/", bad[i], NULL, NULL, &ans), 421);
        api_answer_fini(&ans);
    }
    static const char *const good[] = {"127.0.0.1:8080", "localhost:8080", "LOCALHOST.",
                                       "[::1]:8080",     "127.0.0.2",      "PBX.example.com:8080"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        assert_int_equal(
            req(f, "GET", "/api/v1/processes", good[i], NULL, "Bearer tok-0123456789abcdef", &ans),
            200);
        api_answer_fini(&ans);
    }
    /* HTTP/1.0 without Host: a browser always sends one */
    assert_int_equal(
        req(f, "GET", "/api/v1/processes", NULL, NULL, "Bearer tok-0123456789abcdef", &ans), 200);
    api_answer_fini(&ans);
}

static void test_foreign_origin_is_refused_even_with_the_token(void **state) {
    struct fixture *f = *state;
    struct api_answer ans;
    const char *auth = "Bearer tok-0123456789abcdef";
    assert_int_equal(
        req(f, "DELETE", "/api/v1/dialogs/x", "127.0.0.1:8080", "http://evil.example", auth, &ans),
        403);
    assert_code(&ans, "FORBIDDEN");
    assert_null(header(&ans, "Access-Control-Allow-Origin"));
    api_answer_fini(&ans);
    /* the preflight of a foreign page learns nothing it may use */
    assert_int_equal(
        req(f, "OPTIONS", "/api/v1/dialogs/x", "127.0.0.1:8080", "http://evil.example", NULL, &ans),
        403);
    assert_null(header(&ans, "Access-Control-Allow-Methods"));
    assert_null(header(&ans, "Access-Control-Allow-Origin"));
    api_answer_fini(&ans);
    /* "null" (a sandboxed page, a file:) is foreign */
    assert_int_equal(req(f, "GET", "/api/v1/processes", "127.0.0.1:8080", "null", auth, &ans), 403);
    api_answer_fini(&ans);
    /* our own page: same origin, no CORS header needed */
    assert_int_equal(req(f, "DELETE", "/api/v1/dialogs/x", "127.0.0.1:8080",
                         "http://127.0.0.1:8080", NULL, &ans),
                     401);
    api_answer_fini(&ans);
    assert_int_equal(
        req(f, "GET", "/api/v1/processes", "127.0.0.1:8080", "http://127.0.0.1:8080", auth, &ans),
        200);
    assert_null(ans.headers);
    api_answer_fini(&ans);
}

static void test_peer_origin_gets_its_own_name_never_a_wildcard(void **state) {
    struct fixture *f = *state;
    struct api_answer ans;
    assert_int_equal(req(f, "OPTIONS", "/api/v1/dialogs/x", "127.0.0.1:8080",
                         "http://10.0.0.2:8080", NULL, &ans),
                     204);
    assert_string_equal(header(&ans, "Access-Control-Allow-Origin"), "http://10.0.0.2:8080");
    assert_string_equal(header(&ans, "Access-Control-Allow-Methods"), "GET, POST, DELETE");
    assert_string_equal(header(&ans, "Vary"), "Origin");
    api_answer_fini(&ans);
    assert_int_equal(req(f, "GET", "/api/v1/processes", "127.0.0.1:8080",
                         "https://node-b.example:8443", "Bearer tok-0123456789abcdef", &ans),
                     200);
    assert_string_equal(header(&ans, "Access-Control-Allow-Origin"), "https://node-b.example:8443");
    api_answer_fini(&ans);
    /* the peer still needs the token; its 401 is readable by it */
    assert_int_equal(
        req(f, "GET", "/api/v1/processes", "127.0.0.1:8080", "http://10.0.0.2:8080", NULL, &ans),
        401);
    assert_string_equal(header(&ans, "Access-Control-Allow-Origin"), "http://10.0.0.2:8080");
    api_answer_fini(&ans);
    /* a prefix of a peer's origin is another origin */
    assert_false(api_gate_peer_origin(PEERS, "http://10.0.0.2:80"));
    assert_false(api_gate_peer_origin(PEERS, "http://10.0.0.2:8080.evil"));
    assert_true(api_gate_peer_origin(PEERS, "HTTP://10.0.0.2:8080"));
}

static void test_another_name_of_ours_on_our_port_is_our_origin(void **state) {
    struct fixture *f = *state;
    struct api_answer ans;
    const char *auth = "Bearer tok-0123456789abcdef";
    assert_int_equal(
        req(f, "GET", "/api/v1/processes", "localhost:8080", "http://127.0.0.1:8080", auth, &ans),
        200);
    assert_string_equal(header(&ans, "Access-Control-Allow-Origin"), "http://127.0.0.1:8080");
    api_answer_fini(&ans);
    /* another port of ours is another server; a name not ours is the attacker's */
    assert_int_equal(
        req(f, "GET", "/api/v1/processes", "localhost:8080", "http://127.0.0.1:8081", auth, &ans),
        403);
    api_answer_fini(&ans);
    assert_int_equal(req(f, "GET", "/api/v1/processes", "localhost:8080",
                         "http://evil.example:8080", auth, &ans),
                     403);
    api_answer_fini(&ans);
    assert_int_equal(
        req(f, "GET", "/api/v1/processes", "localhost:8080", "http://127.0.0.1:8080/x", auth, &ans),
        403);
    api_answer_fini(&ans);
}

static void test_insecure_mode_lets_peers_read_only(void **state) {
    struct fixture *f = *state;
    f->gate.token = NULL;
    f->env.token = NULL;
    struct api_answer ans;
    assert_int_equal(req(f, "GET", "/api/v1/processes", "127.0.0.1", NULL, NULL, &ans), 200);
    api_answer_fini(&ans);
    assert_int_equal(
        req(f, "GET", "/api/v1/processes", "127.0.0.1", "http://10.0.0.2:8080", NULL, &ans), 200);
    api_answer_fini(&ans);
    assert_int_equal(
        req(f, "DELETE", "/api/v1/dialogs/x", "127.0.0.1", "http://10.0.0.2:8080", NULL, &ans),
        403);
    api_answer_fini(&ans);
    assert_int_equal(
        req(f, "OPTIONS", "/api/v1/dialogs/x", "127.0.0.1", "http://10.0.0.2:8080", NULL, &ans),
        204);
    assert_string_equal(header(&ans, "Access-Control-Allow-Methods"), "GET");
    api_answer_fini(&ans);
    /* DNS rebinding still meets the Host check */
    assert_int_equal(req(f, "DELETE", "/api/v1/dialogs/x", "evil.example", NULL, NULL, &ans), 421);
    api_answer_fini(&ans);
}

static void test_refusing_gate_answers_503_everywhere(void **state) {
    struct fixture *f = *state;
    f->gate.refuse = "no API token";
    struct api_answer ans;
    static const char *const urls[] = {"/", "/api/v1/health", "/api/v1/processes", "/metrics"};
    for (size_t i = 0; i < sizeof urls / sizeof urls[0]; i++) {
        assert_int_equal(req(f, "GET", urls[i], "127.0.0.1", NULL, "Bearer x", &ans), 503);
        assert_code(&ans, "UNAVAILABLE");
        api_answer_fini(&ans);
    }
}

static void test_token_text_is_b64token(void **state) {
    (void)state;
    assert_true(apitok_valid("abcDEF012-._~+/==", 17));
    assert_false(apitok_valid("abc def", 7));
    assert_false(apitok_valid("abc=d", 5));
    assert_false(apitok_valid("=", 1));
    assert_false(apitok_valid("", 0));
    assert_false(apitok_valid("tok\r\nX-Evil: 1", 15));
}

int main(void) {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_no_token_is_401_and_a_wrong_one_too),
        T(test_host_must_be_ours),
        T(test_foreign_origin_is_refused_even_with_the_token),
        T(test_peer_origin_gets_its_own_name_never_a_wildcard),
        T(test_another_name_of_ours_on_our_port_is_our_origin),
        T(test_insecure_mode_lets_peers_read_only),
        T(test_refusing_gate_answers_503_everywhere),
        cmocka_unit_test(test_token_text_is_b64token),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
