/* registrar: RFC 3261 10.3 rules (expiry, wildcard, ordering) and the stored record. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <cmocka.h>
#include <jansson.h>

#include "procs/routerd/binding.h"
#include "procs/routerd/location.h"
#include "procs/routerd/registrar.h"

static const struct binding_limits limits = {
    .default_expires = 3600, .min_expires = 60, .max_expires = 7200};

/* ---- expiry of one Contact (step 7) ---- */

static void test_expiry_contact_param_wins_over_header(void **state) {
    (void)state;
    uint32_t e = 1;
    assert_int_equal(binding_contact_expires(120, 600, &limits, &e), 0);
    assert_int_equal(e, 120);
}

static void test_expiry_header_when_no_param(void **state) {
    (void)state;
    uint32_t e = 1;
    assert_int_equal(binding_contact_expires(-1, 600, &limits, &e), 0);
    assert_int_equal(e, 600);
}

static void test_expiry_default_when_neither(void **state) {
    (void)state;
    uint32_t e = 1;
    assert_int_equal(binding_contact_expires(-1, -1, &limits, &e), 0);
    assert_int_equal(e, 3600);
}

static void test_expiry_default_is_kept_within_limits(void **state) {
    (void)state;
    struct binding_limits l = {.default_expires = 10, .min_expires = 60, .max_expires = 7200};
    uint32_t e = 1;
    assert_int_equal(binding_contact_expires(-1, -1, &l, &e), 0); /* never a 423 for ours */
    assert_int_equal(e, 60);
    l.default_expires = 99999;
    assert_int_equal(binding_contact_expires(-1, -1, &l, &e), 0);
    assert_int_equal(e, 7200);
}

static void test_expiry_above_max_is_cut(void **state) {
    (void)state;
    uint32_t e = 1;
    assert_int_equal(binding_contact_expires(100000, -1, &limits, &e), 0);
    assert_int_equal(e, 7200);
    assert_int_equal(binding_contact_expires(-1, INT32_MAX, &limits, &e), 0);
    assert_int_equal(e, 7200);
}

static void test_expiry_below_min_is_423(void **state) {
    (void)state;
    uint32_t e = 0;
    assert_int_equal(binding_contact_expires(59, -1, &limits, &e), 423);
    assert_int_equal(binding_contact_expires(-1, 1, &limits, &e), 423);
    assert_int_equal(binding_contact_expires(60, -1, &limits, &e), 0);
    assert_int_equal(e, 60);
}

static void test_expiry_zero_removes_even_below_min(void **state) {
    (void)state;
    uint32_t e = 99;
    assert_int_equal(binding_contact_expires(0, 3600, &limits, &e), 0);
    assert_int_equal(e, 0);
    e = 99;
    assert_int_equal(binding_contact_expires(-1, 0, &limits, &e), 0);
    assert_int_equal(e, 0);
}

/* ---- the whole REGISTER (steps 6-7) ---- */

struct req {
    Sb__RegisterRequest rq;
    Sb__ContactSpec specs[BINDING_MAX_CONTACTS + 2];
    Sb__ContactSpec *ptrs[BINDING_MAX_CONTACTS + 2];
};

static void req_init(struct req *r, int32_t header_expires) {
    memset(r, 0, sizeof *r);
    sb__register_request__init(&r->rq);
    r->rq.aor = "sip:alice@example.com";
    r->rq.call_id = "call-1";
    r->rq.cseq = 7;
    r->rq.expires = header_expires;
    r->rq.contacts = r->ptrs;
}

static void req_contact(struct req *r, const char *uri, int32_t expires, int32_t q) {
    Sb__ContactSpec *c = &r->specs[r->rq.n_contacts];
    sb__contact_spec__init(c);
    c->uri = (char *)uri;
    c->expires = expires;
    c->q = q;
    r->ptrs[r->rq.n_contacts++] = c;
}

static void test_register_each_contact_gets_its_expiry(void **state) {
    (void)state;
    struct req r;
    struct binding_plan p;
    req_init(&r, 600);
    req_contact(&r, "sip:a@10.0.0.1", -1, 500);
    req_contact(&r, "sip:a@10.0.0.2", 120, -1);
    req_contact(&r, "sip:a@10.0.0.3", 0, -1);
    req_contact(&r, "sip:a@10.0.0.4", 86400, 1000);
    assert_int_equal(binding_plan_make(&r.rq, &limits, &p), 0);
    assert_int_equal(p.status, 0);
    assert_false(p.wildcard);
    assert_int_equal(p.n, 4);
    assert_string_equal(p.changes[0].uri, "sip:a@10.0.0.1");
    assert_int_equal(p.changes[0].expires, 600);
    assert_int_equal(p.changes[0].q, 500);
    assert_int_equal(p.changes[1].expires, 120);
    assert_int_equal(p.changes[1].q, -1);
    assert_int_equal(p.changes[2].expires, 0);
    assert_int_equal(p.changes[3].expires, 7200);
    binding_plan_clear(&p);
    assert_null(p.changes);
}

static void test_register_one_brief_contact_is_423_for_all(void **state) {
    (void)state;
    struct req r;
    struct binding_plan p;
    req_init(&r, -1);
    req_contact(&r, "sip:a@10.0.0.1", 3600, -1);
    req_contact(&r, "sip:a@10.0.0.2", 30, -1);
    assert_int_equal(binding_plan_make(&r.rq, &limits, &p), 0);
    assert_int_equal(p.status, 423);
    assert_int_equal(p.min_expires, 60);
    assert_string_equal(p.reason, "Interval Too Brief");
    assert_int_equal(p.n, 0); /* nothing is applied */
    binding_plan_clear(&p);
}

static void test_register_without_contacts_is_a_query(void **state) {
    (void)state;
    struct req r;
    struct binding_plan p;
    req_init(&r, -1);
    assert_int_equal(binding_plan_make(&r.rq, &limits, &p), 0);
    assert_int_equal(p.status, 0);
    assert_false(p.wildcard);
    assert_int_equal(p.n, 0);
    binding_plan_clear(&p);
}

static void test_register_wildcard_removes_all(void **state) {
    (void)state;
    struct req r;
    struct binding_plan p;
    req_init(&r, 0);
    r.rq.wildcard = true;
    assert_int_equal(binding_plan_make(&r.rq, &limits, &p), 0);
    assert_int_equal(p.status, 0);
    assert_true(p.wildcard);
    assert_int_equal(p.n, 0);
    binding_plan_clear(&p);
}

static void test_register_wildcard_needs_expires_zero(void **state) {
    (void)state;
    struct req r;
    struct binding_plan p;
    int32_t bad[] = {-1, 1, 3600};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        req_init(&r, bad[i]);
        r.rq.wildcard = true;
        assert_int_equal(binding_plan_make(&r.rq, &limits, &p), 0);
        assert_int_equal(p.status, 400);
        assert_false(p.wildcard);
        binding_plan_clear(&p);
    }
}

static void test_register_wildcard_with_another_contact_is_400(void **state) {
    (void)state;
    struct req r;
    struct binding_plan p;
    req_init(&r, 0);
    r.rq.wildcard = true;
    req_contact(&r, "sip:a@10.0.0.1", 0, -1);
    assert_int_equal(binding_plan_make(&r.rq, &limits, &p), 0);
    assert_int_equal(p.status, 400);
    assert_false(p.wildcard);
    binding_plan_clear(&p);
}

static void test_register_malformed_is_400(void **state) {
    (void)state;
    struct req r;
    struct binding_plan p;
    req_init(&r, -1);
    req_contact(&r, "sip:a@10.0.0.1", -1, 1001);
    assert_int_equal(binding_plan_make(&r.rq, &limits, &p), 0);
    assert_int_equal(p.status, 400);
    binding_plan_clear(&p);

    req_init(&r, -1);
    req_contact(&r, "", -1, -1);
    assert_int_equal(binding_plan_make(&r.rq, &limits, &p), 0);
    assert_int_equal(p.status, 400);
    binding_plan_clear(&p);

    req_init(&r, -1);
    r.rq.call_id = "";
    assert_int_equal(binding_plan_make(&r.rq, &limits, &p), 0);
    assert_int_equal(p.status, 400);
    binding_plan_clear(&p);

    req_init(&r, -1);
    for (int i = 0; i < BINDING_MAX_CONTACTS + 1; i++)
        req_contact(&r, "sip:a@10.0.0.1", -1, -1);
    assert_int_equal(binding_plan_make(&r.rq, &limits, &p), 0);
    assert_int_equal(p.status, 400);
    binding_plan_clear(&p);
}

/* ---- location order ---- */

static struct binding mk(const char *uri, int32_t q, int64_t registered_at_ms) {
    struct binding b = {0};
    b.uri = (char *)uri;
    b.q = q;
    b.registered_at_ms = registered_at_ms;
    return b;
}

static void test_order_q_descending_then_newest(void **state) {
    (void)state;
    struct binding a = mk("sip:a@h", 500, 3000), b = mk("sip:b@h", 900, 1000),
                   c = mk("sip:c@h", 900, 2000), d = mk("sip:d@h", 100, 9000);
    struct binding *v[] = {&a, &b, &c, &d};
    binding_sort(v, 4);
    assert_string_equal(v[0]->uri, "sip:c@h"); /* q 0.9, newer */
    assert_string_equal(v[1]->uri, "sip:b@h"); /* q 0.9, older */
    assert_string_equal(v[2]->uri, "sip:a@h");
    assert_string_equal(v[3]->uri, "sip:d@h");
}

static void test_order_absent_q_counts_as_one(void **state) {
    (void)state;
    struct binding none = mk("sip:none@h", -1, 1000), full = mk("sip:full@h", 1000, 2000),
                   high = mk("sip:high@h", 999, 5000);
    struct binding *v[] = {&high, &none, &full};
    binding_sort(v, 3);
    assert_string_equal(v[0]->uri, "sip:full@h"); /* 1.0 and newer than the absent one */
    assert_string_equal(v[1]->uri, "sip:none@h");
    assert_string_equal(v[2]->uri, "sip:high@h");
    assert_true(binding_compare(&none, &high) < 0);
}

static void test_order_ties_are_deterministic(void **state) {
    (void)state;
    struct binding a = mk("sip:a@h", 500, 1000), b = mk("sip:b@h", 500, 1000);
    assert_true(binding_compare(&a, &b) < 0);
    assert_true(binding_compare(&b, &a) > 0);
    assert_int_equal(binding_compare(&a, &a), 0);
}

static void test_seconds_left_rounds_up_and_stops_at_zero(void **state) {
    (void)state;
    struct binding b = {.expires_at_ms = 10000};
    assert_int_equal(binding_seconds_left(&b, 10000 - 3600000), 3600);
    assert_int_equal(binding_seconds_left(&b, 10000 - 3599001), 3600);
    assert_int_equal(binding_seconds_left(&b, 9999), 1);
    assert_int_equal(binding_seconds_left(&b, 10000), 0);
    assert_int_equal(binding_seconds_left(&b, 20000), 0);
}

/* ---- the record in Redis ---- */

static void test_record_round_trips(void **state) {
    (void)state;
    struct binding b = {.uri = "sip:alice@10.0.0.1:5062;transport=tcp",
                        .q = 250,
                        .call_id = "a84b4c76e66710@pc33",
                        .cseq = 4294967295u,
                        .user_agent = "Phone \"X\" 1.0\n",
                        .transport = "tcp",
                        .addr = "10.0.0.1",
                        .port = 5062,
                        .sipd_instance = 3,
                        .local_addr = "192.0.2.10",
                        .local_port = 5060,
                        .conn_id = 42,
                        .nated = true,
                        .registered_at_ms = 1795507102698,
                        .expires_at_ms = 1795510702698};
    char *text = binding_encode(&b);
    assert_non_null(text);
    assert_non_null(strstr(text, "\"call_id\":\"a84b4c76e66710@pc33\""));
    struct binding *d = binding_decode(text, strlen(text));
    assert_non_null(d);
    assert_string_equal(d->uri, b.uri);
    assert_int_equal(d->q, 250);
    assert_string_equal(d->call_id, b.call_id);
    assert_int_equal(d->cseq, 4294967295u);
    assert_string_equal(d->user_agent, b.user_agent);
    assert_string_equal(d->transport, "tcp");
    assert_string_equal(d->addr, "10.0.0.1");
    assert_int_equal(d->port, 5062);
    assert_int_equal(d->sipd_instance, 3);
    assert_int_equal(d->registered_at_ms, 1795507102698);
    assert_int_equal(d->expires_at_ms, 1795510702698);
    assert_string_equal(d->local_addr, "192.0.2.10");
    assert_int_equal(d->local_port, 5060);
    assert_int_equal(d->conn_id, 42);
    assert_true(d->nated);
    free(d);
    free(text);
}

/* A record written before local_addr, local_port, conn_id and nated reads them as "", 0. */
static void test_record_without_the_flow_fields_still_reads(void **state) {
    (void)state;
    static const char old[] =
        "{\"uri\":\"sip:a@10.0.0.1\",\"q\":-1,\"call_id\":\"c\",\"cseq\":2,\"user_agent\":\"\","
        "\"transport\":\"udp\",\"addr\":\"10.0.0.1\",\"port\":5060,\"sipd_instance\":1,"
        "\"registered_at_ms\":1795507102698,\"expires_at_ms\":1795510702698}";
    struct binding *d = binding_decode(old, strlen(old));
    assert_non_null(d);
    assert_string_equal(d->addr, "10.0.0.1");
    assert_int_equal(d->sipd_instance, 1);
    assert_string_equal(d->local_addr, "");
    assert_int_equal(d->local_port, 0);
    assert_int_equal(d->conn_id, 0);
    assert_false(d->nated);
    free(d);
}

static void test_record_invalid_utf8_becomes_question_marks(void **state) {
    (void)state;
    struct binding b = {.uri = "sip:a@h",
                        .q = -1,
                        .call_id = "id\xff\xfe",
                        .user_agent = "caf\xc3\xa9 \xc3",
                        .transport = "",
                        .addr = ""};
    char *text = binding_encode(&b);
    assert_non_null(text);
    struct binding *d = binding_decode(text, strlen(text));
    assert_non_null(d);
    assert_string_equal(d->call_id, "id??");
    assert_string_equal(d->user_agent, "caf\xc3\xa9 ?"); /* valid UTF-8 is kept */
    assert_int_equal(d->q, -1);
    free(d);
    free(text);
    char *clean = binding_clean_text("ok\x80");
    assert_string_equal(clean, "ok?");
    free(clean);
}

static void test_record_decode_refuses_what_is_not_ours(void **state) {
    (void)state;
    const char *bad[] = {"",
                         "[]",
                         "{}",
                         "not json",
                         "{\"uri\":\"sip:a@h\"}",
                         "{\"uri\":\"sip:a@h\",\"q\":5000,\"cseq\":1,\"registered_at_ms\":1,"
                         "\"expires_at_ms\":2}",
                         "{\"uri\":\"\",\"q\":1,\"cseq\":1,\"registered_at_ms\":1,"
                         "\"expires_at_ms\":2}"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_null(binding_decode(bad[i], strlen(bad[i])));
    const char *ok = "{\"uri\":\"sip:a@h\",\"q\":1,\"cseq\":1,\"registered_at_ms\":1,"
                     "\"expires_at_ms\":2}";
    struct binding *d = binding_decode(ok, strlen(ok));
    assert_non_null(d);
    assert_string_equal(d->call_id, "");
    free(d);
}

/* What jansson writes for b (the record's format before it was written by hand). */
static char *jansson_record(const struct binding *b) {
    char *s[6] = {binding_clean_text(b->uri),        binding_clean_text(b->call_id),
                  binding_clean_text(b->user_agent), binding_clean_text(b->transport),
                  binding_clean_text(b->addr),       binding_clean_text(b->local_addr)};
    json_t *o =
        json_pack("{s:s, s:i, s:s, s:I, s:s, s:s, s:s, s:I, s:I, s:s, s:I, s:I, s:I, s:I, "
                  "s:I}",
                  "uri", s[0], "q", (int)b->q, "call_id", s[1], "cseq", (json_int_t)b->cseq,
                  "user_agent", s[2], "transport", s[3], "addr", s[4], "port", (json_int_t)b->port,
                  "sipd_instance", (json_int_t)b->sipd_instance, "local_addr", s[5], "local_port",
                  (json_int_t)b->local_port, "conn_id", (json_int_t)b->conn_id, "nated",
                  (json_int_t)(b->nated ? 1 : 0), "registered_at_ms",
                  (json_int_t)b->registered_at_ms, "expires_at_ms", (json_int_t)b->expires_at_ms);
    char *text = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(o);
    for (int i = 0; i < 6; i++)
        free(s[i]);
    return text;
}

static void test_record_bytes_are_what_jansson_wrote(void **state) {
    (void)state;
    char every[256];
    for (int i = 1; i < 256; i++)
        every[i - 1] = (char)i;
    every[255] = '\0';
    const char *texts[] = {
        "",          "plain",
        "a\"b\\c/d", "\x01\x1f\x7f\b\f\n\r\t",
        every,       "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \xed\xa0\x80 \xc0\xaf"};
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        struct binding b = {.uri = (char *)texts[i],
                            .q = i % 2 ? -1 : 1000,
                            .call_id = (char *)texts[(i + 1) % 6],
                            .cseq = (uint32_t)i * 1000000007u,
                            .user_agent = (char *)texts[(i + 2) % 6],
                            .transport = (char *)texts[(i + 3) % 6],
                            .addr = (char *)texts[(i + 4) % 6],
                            .port = 65535,
                            .sipd_instance = (uint32_t)i,
                            .registered_at_ms = 1795507102698 + (int64_t)i,
                            .expires_at_ms = INT64_MAX - (int64_t)i};
        char *ours = binding_encode(&b), *theirs = jansson_record(&b);
        assert_non_null(ours);
        assert_non_null(theirs);
        assert_string_equal(ours, theirs);
        if (texts[i][0]) { /* an empty URI is not a record */
            struct binding *d = binding_decode(ours, strlen(ours));
            assert_non_null(d);
            char *uri = binding_clean_text(texts[i]), *ua = binding_clean_text(b.user_agent);
            assert_string_equal(d->uri, uri);
            assert_string_equal(d->user_agent, ua);
            assert_int_equal(d->expires_at_ms, b.expires_at_ms);
            assert_int_equal(d->cseq, b.cseq);
            free(uri);
            free(ua);
            free(d);
        }
        free(ours);
        free(theirs);
    }
}

static void test_record_decode_reads_any_json_of_it(void **state) {
    (void)state;
    /* Written by someone else (whitespace, order, escapes, extra keys, other types): read
     * as jansson reads it. */
    const char *ok[] = {
        " { \"expires_at_ms\" : 2 , \"registered_at_ms\":1,\"cseq\":7,\"q\":-1,"
        "\"uri\":\"sip:a@h\" } ",
        "{\"uri\":\"sip:\\u0061@h\",\"q\":-1,\"cseq\":7,\"registered_at_ms\":1,"
        "\"expires_at_ms\":2}",
        "{\"uri\":\"sip:a@h\",\"q\":-1,\"cseq\":7,\"registered_at_ms\":1,\"expires_at_ms\":2,"
        "\"extra\":[1,{\"x\":null}],\"port\":\"5060\",\"user_agent\":true}",
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        struct binding *d = binding_decode(ok[i], strlen(ok[i]));
        assert_non_null(d);
        assert_string_equal(d->uri, "sip:a@h");
        assert_int_equal(d->cseq, 7);
        assert_int_equal(d->q, -1);
        assert_int_equal(d->port, 0); /* not an integer: absent */
        assert_string_equal(d->user_agent, "");
        assert_int_equal(d->expires_at_ms, 2);
        free(d);
    }
    const char *bad[] = {
        "{\"uri\":\"sip:a@h\",\"uri\":\"sip:b@h\",\"q\":1,\"cseq\":1,\"registered_at_ms\":1,"
        "\"expires_at_ms\":2}", /* duplicate key */
        "{\"uri\":\"sip:a@h\",\"q\":1.0,\"cseq\":1,\"registered_at_ms\":1,\"expires_at_ms\":2}",
        "{\"uri\":\"sip:a@h\",\"q\":01,\"cseq\":1,\"registered_at_ms\":1,\"expires_at_ms\":2}",
        "{\"uri\":\"sip:a@h\",\"q\":1,\"cseq\":1,\"registered_at_ms\":1,\"expires_at_ms\":2}x",
        "{\"uri\":\"sip:a@h\",\"q\":1,\"cseq\":1,\"registered_at_ms\":1,\"expires_at_ms\":2",
        "{\"uri\":\"sip:\xff@h\",\"q\":1,\"cseq\":1,\"registered_at_ms\":1,\"expires_at_ms\":2}",
        "{\"uri\":\"sip:a@h\",\"q\":1,\"cseq\":-1,\"registered_at_ms\":1,\"expires_at_ms\":2}",
        "{\"uri\":\"sip:a@h\",\"q\":1,\"cseq\":1,\"registered_at_ms\":1,"
        "\"expires_at_ms\":99999999999999999999}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_null(binding_decode(bad[i], strlen(bad[i])));
}

/* ---- overload: shed only when Redis is stuck ---- */

static void test_overload_redis_behind_but_answering_keeps_queueing(void **state) {
    (void)state;
    /* 5 answers owed past their deadline, 1,000 waiting, last answer 10 ms ago. */
    assert_null(registrar_shed(5, 1000, 10000, 2000));
    assert_null(registrar_shed(1, 1, 499999, 2000)); /* silent just under 1/4 of 2 s */
}

static void test_overload_redis_stuck_gets_503_at_once(void **state) {
    (void)state;
    const char *why = registrar_shed(1, 1, 500000, 2000); /* silent 1/4 of register_timeout */
    assert_non_null(why);
    assert_string_equal(why, "redis has not answered earlier requests");
    assert_non_null(registrar_shed(1, 1, 250000, 1000));
}

static void test_overload_idle_redis_is_not_stuck(void **state) {
    (void)state;
    assert_null(registrar_shed(0, 0, INT64_MAX / 2, 2000)); /* nothing owed: just quiet */
    assert_null(registrar_shed(0, 7, 10000000, 2000));      /* waiting, none past deadline */
}

static void test_overload_queue_is_bounded(void **state) {
    (void)state;
    assert_null(registrar_shed(0, REGISTRAR_MAX_IN_REDIS - 1, 0, 2000));
    assert_string_equal(registrar_shed(0, REGISTRAR_MAX_IN_REDIS, 0, 2000),
                        "too many requests waiting for redis");
}

static void test_script_refuses_late_and_checks_cseq(void **state) {
    (void)state;
    /* The properties docs/registrar.md promises, as text the script must hold. */
    assert_non_null(strstr(loc_register_lua, "redis.call('TIME')"));
    assert_non_null(strstr(loc_register_lua, "return {'late'}"));
    assert_non_null(strstr(loc_register_lua, "r.cseq >= cseq"));
    assert_non_null(strstr(loc_register_lua, "PEXPIREAT"));
    /* Events are published from the script, atomically with the change. */
    assert_non_null(strstr(loc_register_lua, "redis.call('PUBLISH', '" SB_EVENTS_CHANNEL "'"));
    assert_string_equal(SB_EVENTS_CHANNEL, "sb:events");
}

/* ---- RFC 5626 outbound and RFC 3327 Path ---- */

static void test_outbound_binding_is_keyed_by_instance_and_reg_id(void **state) {
    (void)state;
    Sb__ContactSpec c1 = SB__CONTACT_SPEC__INIT, c2 = SB__CONTACT_SPEC__INIT,
                    c3 = SB__CONTACT_SPEC__INIT, *cs[] = {&c1, &c2, &c3};
    c1.uri = "sip:b@10.0.0.1:5001;transport=tcp";
    c1.expires = c2.expires = c3.expires = -1;
    c1.q = c2.q = c3.q = -1;
    c1.instance = "<urn:uuid:1>";
    c1.reg_id = 1;
    c2.uri = "sip:b@10.0.0.1:5002;transport=tcp";
    c2.instance = "<urn:uuid:1>";
    c2.reg_id = 2;
    c3.uri = "sip:b@10.0.0.1:5003";
    c3.instance = "";
    c3.reg_id = 7; /* no instance: a plain binding */
    Sb__RegisterRequest rq = SB__REGISTER_REQUEST__INIT;
    rq.aor = "sip:b@example.com";
    rq.call_id = "x";
    rq.expires = -1;
    rq.contacts = cs;
    rq.n_contacts = 3;
    struct binding_plan p;
    assert_int_equal(binding_plan_make(&rq, &limits, &p), 0);
    assert_int_equal(p.status, 0);
    char f[128];
    assert_true(binding_field_max(&p.changes[0]) <= sizeof f);
    binding_field_into(&p.changes[0], f);
    assert_string_equal(f, "<urn:uuid:1>;reg-id=1");
    binding_field_into(&p.changes[1], f);
    assert_string_equal(f, "<urn:uuid:1>;reg-id=2");
    /* a new flow of reg-id 1 (another URI) is stored under the same field: it replaces */
    struct binding_change again = p.changes[0];
    again.uri = "sip:b@10.0.0.1:6001;transport=tcp";
    char g[128];
    binding_field_into(&again, g);
    assert_string_equal(g, "<urn:uuid:1>;reg-id=1");
    assert_int_equal(p.changes[2].reg_id, 0);
    binding_field_into(&p.changes[2], f);
    assert_string_equal(f, "sip:b@10.0.0.1:5003");
    binding_plan_clear(&p);
}

static void test_record_keeps_instance_reg_id_and_path(void **state) {
    (void)state;
    char *path_in[] = {"<sip:edge1.example.com;lr>", "<sip:edge2.example.com;lr>"};
    char *path = binding_path_join(path_in, 2);
    assert_string_equal(path, "<sip:edge1.example.com;lr>\n<sip:edge2.example.com;lr>");
    struct binding b = mk("sip:b@10.0.0.1", -1, 1000);
    b.expires_at_ms = 5000;
    b.instance = "<urn:uuid:1>";
    b.reg_id = 3;
    b.path = path;
    char *text = binding_encode(&b);
    assert_non_null(text);
    struct binding *d = binding_decode(text, strlen(text));
    assert_non_null(d);
    assert_string_equal(d->instance, "<urn:uuid:1>");
    assert_int_equal(d->reg_id, 3);
    char *v[BINDING_MAX_PATH];
    assert_int_equal(binding_path_split(d->path, v, BINDING_MAX_PATH), 2);
    assert_string_equal(v[0], "<sip:edge1.example.com;lr>");
    assert_string_equal(v[1], "<sip:edge2.example.com;lr>");
    assert_int_equal(d->expires_at_ms, 5000);
    assert_int_equal(d->registered_at_ms, 1000);
    /* the script reads the expiry at the record's end */
    assert_non_null(strstr(text, ",\"expires_at_ms\":5000}"));
    free(d);
    free(text);
    /* a plain binding's record has none of the three fields */
    b.instance = "";
    b.reg_id = 0;
    b.path = "";
    text = binding_encode(&b);
    assert_null(strstr(text, "reg_id"));
    d = binding_decode(text, strlen(text));
    assert_string_equal(d->instance, "");
    assert_int_equal(d->reg_id, 0);
    assert_string_equal(d->path, "");
    free(d);
    free(text);
    free(path);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_expiry_contact_param_wins_over_header),
        cmocka_unit_test(test_expiry_header_when_no_param),
        cmocka_unit_test(test_expiry_default_when_neither),
        cmocka_unit_test(test_expiry_default_is_kept_within_limits),
        cmocka_unit_test(test_expiry_above_max_is_cut),
        cmocka_unit_test(test_expiry_below_min_is_423),
        cmocka_unit_test(test_expiry_zero_removes_even_below_min),
        cmocka_unit_test(test_register_each_contact_gets_its_expiry),
        cmocka_unit_test(test_register_one_brief_contact_is_423_for_all),
        cmocka_unit_test(test_register_without_contacts_is_a_query),
        cmocka_unit_test(test_register_wildcard_removes_all),
        cmocka_unit_test(test_register_wildcard_needs_expires_zero),
        cmocka_unit_test(test_register_wildcard_with_another_contact_is_400),
        cmocka_unit_test(test_register_malformed_is_400),
        cmocka_unit_test(test_order_q_descending_then_newest),
        cmocka_unit_test(test_order_absent_q_counts_as_one),
        cmocka_unit_test(test_order_ties_are_deterministic),
        cmocka_unit_test(test_seconds_left_rounds_up_and_stops_at_zero),
        cmocka_unit_test(test_record_round_trips),
        cmocka_unit_test(test_record_without_the_flow_fields_still_reads),
        cmocka_unit_test(test_record_invalid_utf8_becomes_question_marks),
        cmocka_unit_test(test_record_decode_refuses_what_is_not_ours),
        cmocka_unit_test(test_record_bytes_are_what_jansson_wrote),
        cmocka_unit_test(test_record_decode_reads_any_json_of_it),
        cmocka_unit_test(test_overload_redis_behind_but_answering_keeps_queueing),
        cmocka_unit_test(test_overload_redis_stuck_gets_503_at_once),
        cmocka_unit_test(test_overload_idle_redis_is_not_stuck),
        cmocka_unit_test(test_overload_queue_is_bounded),
        cmocka_unit_test(test_script_refuses_late_and_checks_cseq),
        cmocka_unit_test(test_outbound_binding_is_keyed_by_instance_and_reg_id),
        cmocka_unit_test(test_record_keeps_instance_reg_id_and_path),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
