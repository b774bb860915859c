/* dialplan and router: the prototype's dialplan.json loads unchanged, routes match in
 * priority order, every error names its JSON path, variables expand; a user/NAME target
 * becomes the registrar's canonical AOR, and a RouteReply whose first action dials one
 * carries its location (503 without Redis), the others none. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "log.h"
#include "procs/routerd/dialplan.h"
#include "procs/routerd/registrar.h"
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
    assert_string_equal(dialplan_match(dp, "500", DP_FROM_ANY)->id, "route_ivr");
    const struct dp_route *r = dialplan_match(dp, "1001", DP_FROM_ANY);
    assert_string_equal(r->id, "route_internal");
    assert_int_equal(r->actions[0].type, DP_DIAL);
    assert_string_equal(r->actions[0].target, "user/${destination}");
    assert_int_equal(r->actions[0].timeout, 30);
    r = dialplan_match(dp, "2000", DP_FROM_ANY);
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
    assert_string_equal(dialplan_match(dp, "123", DP_FROM_ANY)->id, "a"); /* default 100, before b */
    assert_string_equal(dialplan_match(dp, "9993", DP_FROM_ANY)->id, "b");
    assert_string_equal(dialplan_match(dp, "7500", DP_FROM_ANY)->id, "sfx");
    assert_string_equal(dialplan_match(dp, "1299", DP_FROM_ANY)->id, "late"); /* "off" is disabled */
    assert_int_equal(dialplan_hangup_status(dialplan_match(dp, "7500", DP_FROM_ANY)->actions[0].reason), 486);
    dialplan_free(dp);
    dp = parse("{\"routes\": [{\"id\": \"x\", \"pattern\": \"500\", \"actions\": [{\"type\": "
               "\"hangup\"}]}]}");
    assert_null(dialplan_match(dp, "501", DP_FROM_ANY)); /* no route: the caller gets 404 */
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
    static const char *const bad_domains[] = {"user/1001@", "user/@pbx.example.com",
                                              "user/1001@bad host", "user/1001@[::1"};
    for (size_t i = 0; i < sizeof bad_domains / sizeof *bad_domains; i++) {
        char route[256], want[256];
        snprintf(route, sizeof route,
                 ROUTE("", "[{\"type\": \"dial\", \"params\": {\"target\": \"%s\"}}]"),
                 bad_domains[i]);
        snprintf(want, sizeof want,
                 "routes[0].actions[0].params.target: '%s' is not user/NAME@DOMAIN (a host name "
                 "or address)",
                 bad_domains[i]);
        assert_string_equal(error_of(route), want);
    }
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

/* The AOR of user/TARGET (as sipd's registrar keys it, RFC 3261 10.3) from a domain, with
 * the served domain d. */
static const char *user_aor_in(const domains_t *d, const char *target, const char *domain) {
    static char aor[64];
    assert_true(router_user_aor(d, target, domain, aor, sizeof aor));
    return aor;
}

static const char *user_aor(const char *target, const char *domain) {
    return user_aor_in(NULL, target, domain);
}

static void test_user_aor_is_the_registrars_canonical_form(void **state) {
    (void)state;
    assert_string_equal(user_aor("1001", "example.com"), "sip:1001@example.com");
    assert_string_equal(user_aor("1001", "Example.COM"), "sip:1001@example.com");
    assert_string_equal(user_aor("1001", "example.com:5060"), "sip:1001@example.com");
    assert_string_equal(user_aor("1001", "EXAMPLE.com:5080;transport=tcp"), "sip:1001@example.com");
    assert_string_equal(user_aor("1001", "example.com;user=phone"), "sip:1001@example.com");
    assert_string_equal(user_aor("1001", "example.com?subject=x"), "sip:1001@example.com");
    assert_string_equal(user_aor("1001", "10.0.0.1:5062"), "sip:1001@10.0.0.1");
    assert_string_equal(user_aor("1001", "[2001:DB8::1]:5060"), "sip:1001@[2001:db8::1]");
    assert_string_equal(user_aor("1001", "[2001:db8::1]"), "sip:1001@[2001:db8::1]");
    /* sipd passes an IPv6 host without brackets; the AOR writes them, as sipuri_aor does */
    assert_string_equal(user_aor("1001", "2001:DB8::1"), "sip:1001@[2001:db8::1]");
}

static void test_user_aor_keeps_the_user_part_as_given(void **state) {
    (void)state;
    /* RFC 3261 19.1.4: the user part compares with case */
    assert_string_equal(user_aor("Alice", "Example.com"), "sip:Alice@example.com");
    /* and with escapes normalised, as the registrar's AOR */
    assert_string_equal(user_aor("%31001", "example.com"), "sip:1001@example.com");
}

static void test_user_aor_without_a_domain_is_ours(void **state) {
    (void)state;
    assert_string_equal(user_aor("1001", NULL), "sip:1001@" DOMAINS_DEFAULT_NAME);
    assert_string_equal(user_aor("1001", ""), "sip:1001@localhost");
    char why[128];
    domains_t *d = domains_new("PBX.example.com", false, why, sizeof why);
    assert_non_null(d);
    assert_string_equal(user_aor_in(d, "1001", NULL), "sip:1001@pbx.example.com");
    domains_free(d);
}

static void test_user_aor_maps_our_hosts_to_the_domain(void **state) {
    (void)state;
    char why[128];
    domains_t *d = domains_new("pbx.example.com 192.0.2.10", true, why, sizeof why);
    assert_non_null(d);
    assert_string_equal(user_aor_in(d, "1002", "127.0.0.1"), "sip:1002@pbx.example.com");
    assert_string_equal(user_aor_in(d, "1002", "192.0.2.10:5060"), "sip:1002@pbx.example.com");
    assert_string_equal(user_aor_in(d, "1002", "::1"), "sip:1002@pbx.example.com");
    assert_string_equal(user_aor_in(d, "1002", "example.org"), "sip:1002@example.org");
    domains_free(d);
}

static void test_user_aor_names_its_domain(void **state) {
    (void)state;
    char why[128];
    domains_t *d = domains_new("pbx.example.com", true, why, sizeof why);
    assert_non_null(d);
    /* user/NAME@DOMAIN: the dialplan's domain, not the Request-URI's */
    assert_string_equal(user_aor_in(d, "1002@example.org", "127.0.0.1"), "sip:1002@example.org");
    assert_string_equal(user_aor_in(d, "1002@Example.ORG:5070", NULL), "sip:1002@example.org");
    assert_string_equal(user_aor_in(d, "1002@127.0.0.2", "example.org"),
                        "sip:1002@pbx.example.com");
    assert_string_equal(user_aor_in(d, "1002@PBX.example.com", "example.org"),
                        "sip:1002@pbx.example.com");
    domains_free(d);
}

static void test_user_target_with_a_domain_loads(void **state) {
    (void)state;
    static const char *const good[] = {"user/1002@pbx.example.com", "user/${destination}@[::1]",
                                       "user/1002@192.0.2.1:5060", "user/1002@${caller_id}",
                                       "user/a@b@example.org"};
    for (size_t i = 0; i < sizeof good / sizeof *good; i++) {
        char route[256];
        snprintf(route, sizeof route,
                 ROUTE("", "[{\"type\": \"dial\", \"params\": {\"target\": \"%s\"}}]"),
                 good[i]);
        dialplan_t *dp = parse(route);
        if (!dp)
            fail_msg("%s: %s", good[i], err);
        assert_string_equal(dp->routes[0].actions[0].target, good[i]);
        dialplan_free(dp);
    }
}

static void test_user_aor_that_is_no_aor_is_refused(void **state) {
    (void)state;
    char aor[64];
    assert_false(router_user_aor(NULL, "", "example.com", aor, sizeof aor));
    assert_false(router_user_aor(NULL, "@example.com", NULL, aor, sizeof aor));
    assert_false(router_user_aor(NULL, "1001@", NULL, aor, sizeof aor));
    assert_false(router_user_aor(NULL, "1001@bad host", NULL, aor, sizeof aor));
    assert_false(router_user_aor(NULL, "1001", "ex ample.com", aor, sizeof aor));
    assert_false(router_user_aor(NULL, "1001", "[2001:db8::1", aor, sizeof aor));
    assert_false(router_user_aor(NULL, "1001", "example.com:50x", aor, sizeof aor));
}

static void test_user_aor_that_does_not_fit_is_refused(void **state) {
    (void)state;
    char aor[21];
    assert_true(router_user_aor(NULL, "1001", "example.com", aor, sizeof aor));
    assert_false(router_user_aor(NULL, "1001", "example.com", aor, sizeof aor - 1));
}

/* A routerd without Redis (its link down), on a loop, with a dialplan and a requester on
 * the other end of a socket pair. */
struct routing {
    uv_loop_t loop;
    worker_t w;
    registrar_t *registrar;
    router_t *router;
    ipc_chan_t *ch; /* routerd's end */
    int peer;       /* the requester's end */
    char path[64];
};

static void on_envelope(ipc_chan_t *ch, Sb__Envelope *env, void *arg) {
    (void)ch, (void)env, (void)arg;
}

static void on_malformed(ipc_chan_t *ch, size_t len, const char *why, void *arg) {
    (void)ch, (void)len, (void)why, (void)arg;
}

static void on_close(ipc_chan_t *ch, int err, void *arg) {
    (void)ch, (void)err, (void)arg;
}

static const struct ipc_handlers handlers = {on_envelope, on_malformed, on_close};

static int routing_setup(void **state) {
    static const char json[] =
        "{\"routes\": ["
        "{\"id\": \"user\", \"pattern\": \"1*\", \"actions\": ["
        "  {\"type\": \"dial\", \"params\": {\"target\": \"user/${destination}\"}},"
        "  {\"type\": \"hangup\", \"params\": {\"reason\": \"busy\"}}]},"
        "{\"id\": \"uri\", \"pattern\": \"2*\", \"actions\": ["
        "  {\"type\": \"dial\", \"params\": {\"target\": \"sip:${destination}@10.0.0.9\"}},"
        "  {\"type\": \"dial\", \"params\": {\"target\": \"user/${destination}\"}}]},"
        "{\"id\": \"ivr\", \"pattern\": \"5*\", \"actions\": ["
        "  {\"type\": \"play_audio\", \"params\": {\"file\": \"x.wav\"}},"
        "  {\"type\": \"dial\", \"params\": {\"target\": \"user/${destination}\"}}]}]}";
    struct routing *t = calloc(1, sizeof *t);
    assert_non_null(t);
    log_set_level(LOG_DEBUG); /* the debug lines read the request too */
    snprintf(t->path, sizeof t->path, "/tmp/dialplan_test.XXXXXX");
    int fd = mkstemp(t->path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, json, sizeof json - 1), (ssize_t)(sizeof json - 1));
    close(fd);
    char text[128], cfgerr[256];
    snprintf(text, sizeof text, "dialplan_path = %s\nregister_timeout = 2s\n", t->path);
    t->w.cfg = cfg_parse(text, strlen(text), "main.cf", "/etc/sb", cfgerr, sizeof cfgerr);
    assert_non_null(t->w.cfg);
    assert_int_equal(uv_loop_init(&t->loop), 0);
    t->w.loop = &t->loop;
    t->registrar = registrar_new(&t->w);
    assert_non_null(t->registrar);
    t->router = router_new(&t->w, t->registrar, -1);
    assert_non_null(t->router);
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv), 0);
    t->ch = ipc_chan_open(&t->loop, sv[0], &handlers, NULL, 65536);
    assert_non_null(t->ch);
    t->peer = sv[1];
    *state = t;
    return 0;
}

static int routing_teardown(void **state) {
    struct routing *t = *state;
    registrar_stop(t->registrar);
    router_free(t->router);
    ipc_chan_close(t->ch);
    uv_run(&t->loop, UV_RUN_DEFAULT);
    uv_loop_close(&t->loop);
    cfg_free(t->w.cfg);
    close(t->peer);
    unlink(t->path);
    free(t);
    return 0;
}

/* Asks for a route to destination in domain; the RouteReply that came back (free it). */
static Sb__RouteReply *route(struct routing *t, const char *destination, const char *domain) {
    Sb__RouteRequest rq = SB__ROUTE_REQUEST__INIT;
    rq.call_id = "c1@h";
    rq.destination = (char *)destination;
    rq.domain = (char *)domain;
    Sb__Envelope env = SB__ENVELOPE__INIT;
    env.request_id = 77;
    env.body_case = SB__ENVELOPE__BODY_ROUTE_REQUEST;
    env.route_request = &rq;
    router_route(t->router, t->ch, &env);
    uv_run(&t->loop, UV_RUN_NOWAIT);
    static uint8_t buf[65536];
    ssize_t n = recv(t->peer, buf, sizeof buf, MSG_DONTWAIT);
    assert_true(n > 0);
    Sb__Envelope *got = sb__envelope__unpack(NULL, (size_t)n, buf);
    assert_non_null(got);
    assert_int_equal(got->reply_to, 77);
    assert_int_equal(got->body_case, SB__ENVELOPE__BODY_ROUTE_REPLY);
    Sb__RouteReply *rep = got->route_reply;
    got->route_reply = NULL;
    got->body_case = SB__ENVELOPE__BODY__NOT_SET;
    sb__envelope__free_unpacked(got, NULL);
    return rep;
}

static void test_first_dial_to_a_user_carries_its_location_503_without_redis(void **state) {
    struct routing *t = *state;
    Sb__RouteReply *rep = route(t, "1001", "Example.COM:5060");
    assert_int_equal(rep->status, 200);
    assert_string_equal(rep->route_id, "user");
    assert_int_equal(rep->n_actions, 2);
    const Sb__RouteAction *dial = rep->actions[0];
    assert_int_equal(dial->type, SB__ROUTE_ACTION_TYPE__ROUTE_ACTION_DIAL);
    assert_string_equal(dial->aor, "sip:1001@example.com");
    assert_non_null(dial->location);
    assert_int_equal(dial->location->status, 503); /* Redis is down: answered, not dropped */
    assert_int_equal(dial->location->n_bindings, 0);
    assert_int_equal(rep->actions[1]->type, SB__ROUTE_ACTION_TYPE__ROUTE_ACTION_HANGUP);
    assert_string_equal(rep->actions[1]->reason, "busy");
    assert_int_equal(rep->actions[1]->status, 486);
    assert_null(rep->actions[1]->location);
    sb__route_reply__free_unpacked(rep, NULL);
}

static void test_only_a_first_dial_to_a_user_is_looked_up(void **state) {
    struct routing *t = *state;
    Sb__RouteReply *rep = route(t, "2002", "example.com");
    assert_string_equal(rep->route_id, "uri");
    assert_string_equal(rep->actions[0]->uri, "sip:2002@10.0.0.9");
    assert_null(rep->actions[0]->location); /* a sip: target has nothing to look up */
    assert_string_equal(rep->actions[1]->aor, "sip:2002@example.com");
    assert_null(rep->actions[1]->location); /* later actions: dialogd asks */
    sb__route_reply__free_unpacked(rep, NULL);
    rep = route(t, "5005", "example.com");
    assert_string_equal(rep->route_id, "ivr");
    assert_string_equal(rep->actions[0]->file, "x.wav");
    assert_null(rep->actions[0]->location);
    assert_null(rep->actions[1]->location);
    sb__route_reply__free_unpacked(rep, NULL);
}

static void test_no_route_is_404_without_a_lookup(void **state) {
    struct routing *t = *state;
    Sb__RouteReply *rep = route(t, "999", "example.com");
    assert_int_equal(rep->status, 404);
    assert_int_equal(rep->n_actions, 0);
    sb__route_reply__free_unpacked(rep, NULL);
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
        cmocka_unit_test(test_user_aor_without_a_domain_is_ours),
        cmocka_unit_test(test_user_aor_maps_our_hosts_to_the_domain),
        cmocka_unit_test(test_user_aor_names_its_domain),
        cmocka_unit_test(test_user_target_with_a_domain_loads),
        cmocka_unit_test(test_user_aor_that_is_no_aor_is_refused),
        cmocka_unit_test(test_user_aor_that_does_not_fit_is_refused),
        cmocka_unit_test_setup_teardown(
            test_first_dial_to_a_user_carries_its_location_503_without_redis, routing_setup,
            routing_teardown),
        cmocka_unit_test_setup_teardown(test_only_a_first_dial_to_a_user_is_looked_up,
                                        routing_setup, routing_teardown),
        cmocka_unit_test_setup_teardown(test_no_route_is_404_without_a_lookup, routing_setup,
                                        routing_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
