/* dialplan and router: the prototype's dialplan.json loads unchanged, routes match in
 * priority order, every error names its JSON path, variables expand; a user/NAME target
 * becomes the registrar's canonical AOR. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "procs/routerd/dialplan.h"
#include "procs/routerd/router.h"

static char err[512];

static bool gateway_known(void *arg, const char *name) {
    (void)arg;
    return strcmp(name, "carrier") == 0;
}

static dialplan_t *parse(const char *json) {
    err[0] = '\0';
    return dialplan_parse(json, strlen(json), gateway_known, NULL, err, sizeof err);
}

/* The error of a dialplan that must not load. */
static const char *error_of(const char *json) {
    dialplan_t *dp = parse(json);
    assert_null(dp);
    return err;
}

#define ROUTE(extra, actions)                                                                      \
    "{\"routes\": [{\"id\": \"r1\", \"pattern\": \"1*\"" extra ", \"actions\": " actions "}]}"

static void test_the_prototype_dialplan_loads_unchanged_and_routes_its_calls(void **state) {
    (void)state;
    dialplan_t *dp = dialplan_load("conf/dialplan.json", gateway_known, NULL, err, sizeof err);
    if (!dp)
        fail_msg("%s", err);
    assert_string_equal(dp->version, "1.0");
    assert_int_equal(dp->nroutes, 3);
    assert_string_equal(dialplan_match(dp, "500")->id, "route_ivr");
    const struct dp_route *r = dialplan_match(dp, "1001");
    assert_string_equal(r->id, "route_internal");
    assert_int_equal(r->actions[0].type, DP_DIAL);
    assert_string_equal(r->actions[0].target, "user/${destination}");
    assert_int_equal(r->actions[0].timeout, 30);
    r = dialplan_match(dp, "2000");
    assert_string_equal(r->id, "route_default");
    assert_int_equal(r->actions[0].type, DP_PLAY_AUDIO);
    assert_string_equal(r->actions[0].file, "audio/demo-congrats.wav");
    dialplan_free(dp);
}

static void test_lower_priority_first_then_file_order_and_disabled_skipped(void **state) {
    (void)state;
    dialplan_t *dp = parse("{\"routes\": ["
                           "{\"id\": \"late\", \"pattern\": \"*\", \"priority\": 900,"
                           " \"actions\": [{\"type\": \"hangup\"}]},"
                           "{\"id\": \"off\", \"pattern\": \"12*\", \"priority\": 1,"
                           " \"enabled\": false, \"actions\": [{\"type\": \"hangup\"}]},"
                           "{\"id\": \"a\", \"pattern\": \"1?3\", \"actions\": [{\"type\": \"hangup\"}]},"
                           "{\"id\": \"b\", \"pattern\": \"*3\", \"actions\": [{\"type\": \"hangup\"}]},"
                           "{\"id\": \"sfx\", \"pattern\": \"*500\", \"priority\": 5,"
                           " \"actions\": [{\"type\": \"hangup\", \"params\": {\"reason\": \"busy\"}}]}"
                           "]}");
    if (!dp)
        fail_msg("%s", err);
    assert_string_equal(dialplan_match(dp, "123")->id, "a"); /* default 100, before b */
    assert_string_equal(dialplan_match(dp, "9993")->id, "b");
    assert_string_equal(dialplan_match(dp, "7500")->id, "sfx");
    assert_string_equal(dialplan_match(dp, "1299")->id, "late"); /* "off" is disabled */
    assert_int_equal(dialplan_hangup_status(dialplan_match(dp, "7500")->actions[0].reason), 486);
    dialplan_free(dp);
    dp = parse("{\"routes\": [{\"id\": \"x\", \"pattern\": \"500\", \"actions\": [{\"type\": "
               "\"hangup\"}]}]}");
    assert_null(dialplan_match(dp, "501")); /* no route: the caller gets 404 */
    dialplan_free(dp);
}

static void test_errors_name_the_json_path(void **state) {
    (void)state;
    assert_string_equal(error_of("{\"routes\": [{\"pattern\": \"1\", \"actions\": []}]}"),
                        "routes[0].id: missing (a string is required)");
    assert_string_equal(error_of(ROUTE("", "[]")),
                        "routes[0].actions: must be an array of at least one action");
    assert_string_equal(
        error_of(ROUTE("", "[{\"type\": \"hangup\"}, {\"type\": \"dial\", \"params\": "
                           "{\"target\": \"user/x\", \"timeout\": \"30\"}}]")),
        "routes[0].actions[1].params.timeout: must be an integer of seconds, 1..3600");
    assert_string_equal(error_of(ROUTE("", "[{\"type\": \"transfer\"}]")),
                        "routes[0].actions[0].type: 'transfer' is not play_audio, dial or hangup");
    assert_string_equal(
        error_of(ROUTE("", "[{\"type\": \"dial\", \"params\": {\"target\": \"gateway/nope\"}}]")),
        "routes[0].actions[0].params.target: gateway 'nope' is not in dialplan_gateways");
    assert_string_equal(
        error_of(ROUTE("", "[{\"type\": \"dial\", \"params\": {\"target\": \"1001\"}}]")),
        "routes[0].actions[0].params.target: '1001' is not user/NAME, sip:URI or gateway/NAME");
    assert_string_equal(
        error_of(ROUTE("", "[{\"type\": \"play_audio\", \"params\": {\"file\": \"../../etc/passwd\"}}]")),
        "routes[0].actions[0].params.file: must be a path inside audio_path (no '/' start, no '..')");
    assert_string_equal(error_of(ROUTE(", \"priority\": \"high\"", "[{\"type\": \"hangup\"}]")),
                        "routes[0].priority: must be an integer");
    assert_string_equal(
        error_of("{\"routes\": [{\"id\": \"a\", \"pattern\": \"1\", \"actions\": [{\"type\": "
                 "\"hangup\"}]}, {\"id\": \"a\", \"pattern\": \"2\", \"actions\": [{\"type\": "
                 "\"hangup\"}]}]}"),
        "routes[1].id: 'a' is also the id of routes[0]");
    assert_string_equal(error_of("{\"version\": 1, \"routes\": []}"), "$.version: must be a string");
    assert_string_equal(error_of("[]"), "$: must be an object with \"routes\"");
    const char *e = error_of("{\"routes\": [\n  {\"id\": }\n]}");
    assert_non_null(strstr(e, "line 2 column"));
    dialplan_t *dp = parse(ROUTE(", \"x-ui-color\": \"red\"",
                                 "[{\"type\": \"dial\", \"params\": {\"target\": \"gateway/carrier\"}}]"));
    assert_non_null(dp); /* unknown keys are ignored, known gateways accepted */
    dialplan_free(dp);
}

static void test_missing_file_names_the_path(void **state) {
    (void)state;
    assert_null(dialplan_load("/nonexistent/dialplan.json", NULL, NULL, err, sizeof err));
    assert_string_equal(err, "/nonexistent/dialplan.json: No such file or directory");
}

static void test_variables_expand(void **state) {
    (void)state;
    char out[128];
    struct dp_vars v = {"1001", "alice", "Alice A", "abc@h"};
    assert_int_equal(dialplan_expand("user/${destination}", &v, out, sizeof out), 9);
    assert_string_equal(out, "user/1001");
    dialplan_expand("${caller_name} <${caller_id}> ${call_id} ${nope} $", &v, out, sizeof out);
    assert_string_equal(out, "Alice A <alice> abc@h ${nope} $");
    assert_int_equal(dialplan_expand("user/${destination}", &v, out, 9), -ENOSPC);
}

/* The AOR of user/NAME (as sipd's registrar keys it, RFC 3261 10.3) from a domain. */
static const char *user_aor(const char *name, const char *domain) {
    static char aor[64];
    assert_true(router_user_aor(name, domain, aor, sizeof aor));
    return aor;
}

static void test_user_aor_is_the_registrars_canonical_form(void **state) {
    (void)state;
    assert_string_equal(user_aor("1001", "example.com"), "sip:1001@example.com");
    assert_string_equal(user_aor("1001", "Example.COM"), "sip:1001@example.com");
    assert_string_equal(user_aor("1001", "example.com:5060"), "sip:1001@example.com");
    assert_string_equal(user_aor("1001", "EXAMPLE.com:5080;transport=tcp"),
                        "sip:1001@example.com");
    assert_string_equal(user_aor("1001", "example.com;user=phone"), "sip:1001@example.com");
    assert_string_equal(user_aor("1001", "example.com?subject=x"), "sip:1001@example.com");
    assert_string_equal(user_aor("1001", "10.0.0.1:5062"), "sip:1001@10.0.0.1");
    assert_string_equal(user_aor("1001", "[2001:DB8::1]:5060"), "sip:1001@[2001:db8::1]");
    assert_string_equal(user_aor("1001", "[2001:db8::1]"), "sip:1001@[2001:db8::1]");
    assert_string_equal(user_aor("1001", "2001:DB8::1"), "sip:1001@2001:db8::1");
}

static void test_user_aor_keeps_the_user_part_as_given(void **state) {
    (void)state;
    /* RFC 3261 19.1.4: the user part compares with case */
    assert_string_equal(user_aor("Alice", "Example.com"), "sip:Alice@example.com");
}

static void test_user_aor_without_a_domain_is_localhost(void **state) {
    (void)state;
    assert_string_equal(user_aor("1001", NULL), "sip:1001@" ROUTER_DEFAULT_DOMAIN);
    assert_string_equal(user_aor("1001", ""), "sip:1001@localhost");
    assert_string_equal(user_aor("1001", ":5060"), "sip:1001@localhost");
}

static void test_user_aor_that_does_not_fit_is_refused(void **state) {
    (void)state;
    char aor[21];
    assert_true(router_user_aor("1001", "example.com", aor, sizeof aor));
    assert_false(router_user_aor("1001", "example.com", aor, sizeof aor - 1));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_the_prototype_dialplan_loads_unchanged_and_routes_its_calls),
        cmocka_unit_test(test_lower_priority_first_then_file_order_and_disabled_skipped),
        cmocka_unit_test(test_errors_name_the_json_path),
        cmocka_unit_test(test_missing_file_names_the_path),
        cmocka_unit_test(test_variables_expand),
        cmocka_unit_test(test_user_aor_is_the_registrars_canonical_form),
        cmocka_unit_test(test_user_aor_keeps_the_user_part_as_given),
        cmocka_unit_test(test_user_aor_without_a_domain_is_localhost),
        cmocka_unit_test(test_user_aor_that_does_not_fit_is_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
