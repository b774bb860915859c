/* dialplan: a route's "from" (any, trusted, authenticated) decides which callers it
 * serves; a route that does not serve the caller is skipped, a bad value names its path. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "procs/routerd/dialplan.h"

static char err[512];

static bool no_gateway(void *arg, const char *name) {
    (void)arg;
    (void)name;
    return false;
}

static const char plan[] =
    "{\"routes\": ["
    " {\"id\": \"from_trunk\", \"pattern\": \"77*\", \"priority\": 10, \"from\": \"trusted\","
    "  \"actions\": [{\"type\": \"hangup\", \"params\": {\"reason\": \"busy\"}}]},"
    " {\"id\": \"outbound\", \"pattern\": \"77*\", \"priority\": 20, \"from\": \"authenticated\","
    "  \"actions\": [{\"type\": \"hangup\", \"params\": {\"reason\": \"rejected\"}}]},"
    " {\"id\": \"rest\", \"pattern\": \"*\", \"priority\": 30, \"from\": \"any\","
    "  \"actions\": [{\"type\": \"hangup\"}]}]}";

static void test_from_selects_the_route_by_caller(void **state) {
    (void)state;
    dialplan_t *dp = dialplan_parse(plan, strlen(plan), no_gateway, NULL, err, sizeof err);
    if (!dp)
        fail_msg("%s", err);
    assert_int_equal(dp->routes[0].from, DP_FROM_TRUSTED);
    assert_string_equal(dialplan_match(dp, "771", DP_FROM_TRUSTED)->id, "from_trunk");
    assert_string_equal(dialplan_match(dp, "771", DP_FROM_AUTHENTICATED)->id, "outbound");
    assert_string_equal(dialplan_match(dp, "771", DP_FROM_ANY)->id, "rest");
    assert_string_equal(dialplan_match(dp, "500", DP_FROM_TRUSTED)->id, "rest");
    dialplan_free(dp);
}

static void test_bad_from_names_its_path(void **state) {
    (void)state;
    static const char bad[] =
        "{\"routes\": [{\"id\": \"r\", \"pattern\": \"*\", \"from\": \"carrier\","
        " \"actions\": [{\"type\": \"hangup\"}]}]}";
    assert_null(dialplan_parse(bad, strlen(bad), no_gateway, NULL, err, sizeof err));
    assert_non_null(strstr(err, "routes[0].from"));
    static const char num[] = "{\"routes\": [{\"id\": \"r\", \"pattern\": \"*\", \"from\": 1,"
                              " \"actions\": [{\"type\": \"hangup\"}]}]}";
    assert_null(dialplan_parse(num, strlen(num), no_gateway, NULL, err, sizeof err));
    assert_non_null(strstr(err, "routes[0].from"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_from_selects_the_route_by_caller),
        cmocka_unit_test(test_bad_from_names_its_path),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
