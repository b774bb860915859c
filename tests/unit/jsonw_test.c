/* jsonw_test - the JSON writer of lib/jsonw.h: escaping, UTF-8 repair, nesting, growth. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "jsonw.h"

/* The text of one string value of len bytes. */
static char *string_of(const char *s, size_t len) {
    jsonw_t w;
    jsonw_init(&w);
    jsonw_stringn(&w, s, len);
    char *out = jsonw_finish(&w, NULL);
    assert_non_null(out);
    return out;
}

static void assert_string_writes(const char *in, size_t len, const char *want) {
    char *out = string_of(in, len);
    assert_string_equal(out, want);
    /* and jansson reads it back as valid JSON */
    json_t *j = json_loads(out, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
    assert_non_null(j);
    assert_true(json_is_string(j));
    json_decref(j);
    free(out);
}

static void test_escapes_quote_backslash_and_controls_only(void **state) {
    (void)state;
    static const struct {
        const char *in;
        size_t len;
        const char *want;
    } table[] = {
        {"plain", 5, "\"plain\""},
        {"", 0, "\"\""},
        {"a\"b", 3, "\"a\\\"b\""},
        {"a\\b", 3, "\"a\\\\b\""},
        {"/", 1, "\"/\""},
        {"\n", 1, "\"\\u000a\""},
        {"\r\t", 2, "\"\\u000d\\u0009\""},
        {"\b\f", 2, "\"\\u0008\\u000c\""},
        {"\x01\x1f", 2, "\"\\u0001\\u001f\""},
        {"a\0b", 3, "\"a\\u0000b\""},
        {"\x7f", 1, "\"\x7f\""},
        {"\x20~", 2, "\" ~\""},
    };
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
        assert_string_writes(table[i].in, table[i].len, table[i].want);
}

static void test_valid_utf8_passes_unchanged(void **state) {
    (void)state;
    static const char *const ok[] = {
        "caf\xc3\xa9",      /* U+00E9 */
        "\xe2\x82\xac",     /* U+20AC */
        "\xed\x9f\xbf",     /* U+D7FF, just below the surrogates */
        "\xee\x80\x80",     /* U+E000, just above */
        "\xef\xbf\xbd",     /* U+FFFD itself */
        "\xf0\x9f\x98\x80", /* U+1F600 */
        "\xf4\x8f\xbf\xbf", /* U+10FFFF */
        "\xc2\x80\xdf\xbf", /* the two-byte range's ends */
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        char want[32];
        snprintf(want, sizeof want, "\"%s\"", ok[i]);
        assert_string_writes(ok[i], strlen(ok[i]), want);
    }
}

#define FFFD "\xef\xbf\xbd"

static void test_invalid_utf8_becomes_replacement_characters(void **state) {
    (void)state;
    static const struct {
        const char *in;
        const char *want;
    } table[] = {
        {"A\xff"
         "B",
         "\"A" FFFD "B\""},                                  /* never a UTF-8 byte */
        {"\x80", "\"" FFFD "\""},                            /* a lone continuation */
        {"\xc0\xaf", "\"" FFFD FFFD "\""},                   /* overlong '/' */
        {"\xc3", "\"" FFFD "\""},                            /* truncated at the end */
        {"\xc3(", "\"" FFFD "(\""},                          /* truncated before ASCII */
        {"\xe2\x82", "\"" FFFD "\""},                        /* one maximal subpart */
        {"\xe0\x80\x80", "\"" FFFD FFFD FFFD "\""},          /* overlong: E0 needs A0.. */
        {"\xed\xa0\x80", "\"" FFFD FFFD FFFD "\""},          /* a surrogate, U+D800 */
        {"\xf4\x90\x80\x80", "\"" FFFD FFFD FFFD FFFD "\""}, /* past U+10FFFF */
        {"\xf0\x9f\x98", "\"" FFFD "\""},                    /* a 4-byte one cut short */
        {"\xf5\x80", "\"" FFFD FFFD "\""},
        {"Jos\xe9 \"x\"", "\"Jos" FFFD " \\\"x\\\"\""}, /* Latin-1 display name */
    };
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
        assert_string_writes(table[i].in, strlen(table[i].in), table[i].want);
}

static void test_nesting_places_commas_and_colons(void **state) {
    (void)state;
    jsonw_t w;
    jsonw_init(&w);
    jsonw_object_open(&w);
    jsonw_kv_string(&w, "type", "call.started");
    jsonw_kv_int(&w, "n", -42);
    jsonw_key(&w, "list");
    jsonw_array_open(&w);
    jsonw_int(&w, 1);
    jsonw_object_open(&w);
    jsonw_object_close(&w);
    jsonw_array_open(&w);
    jsonw_array_close(&w);
    jsonw_null(&w);
    jsonw_bool(&w, true);
    jsonw_bool(&w, false);
    jsonw_uint(&w, UINT64_MAX);
    jsonw_array_close(&w);
    jsonw_key(&w, "raw");
    jsonw_raw(&w, "{\"a\":[1]}", 9);
    jsonw_key(&w, "k\"ey");
    jsonw_string(&w, NULL);
    jsonw_object_close(&w);
    size_t len = 0;
    char *out = jsonw_finish(&w, &len);
    assert_non_null(out);
    assert_string_equal(out, "{\"type\":\"call.started\",\"n\":-42,\"list\":[1,{},[],null,true,"
                             "false,18446744073709551615],\"raw\":{\"a\":[1]},\"k\\\"ey\":\"\"}");
    assert_int_equal(len, strlen(out));
    json_t *j = json_loads(out, JSON_DECODE_INT_AS_REAL, NULL); /* UINT64_MAX */
    assert_non_null(j);
    json_decref(j);
    free(out);
    /* finish leaves the writer empty and usable */
    assert_null(w.buf);
    jsonw_int(&w, 7);
    out = jsonw_finish(&w, NULL);
    assert_string_equal(out, "7");
    free(out);
}

static void test_unbalanced_nesting_fails(void **state) {
    (void)state;
    jsonw_t w;
    jsonw_init(&w);
    jsonw_object_open(&w);
    assert_null(jsonw_finish(&w, NULL)); /* still open */
    jsonw_array_close(&w);
    assert_true(jsonw_failed(&w)); /* a close without its open */
    jsonw_int(&w, 1);
    assert_null(jsonw_finish(&w, NULL));
    jsonw_init(&w);
    for (int i = 0; i <= JSONW_MAX_DEPTH; i++)
        jsonw_array_open(&w);
    assert_true(jsonw_failed(&w));
    jsonw_fini(&w);
}

static void test_buffer_grows_past_its_first_size(void **state) {
    (void)state;
    jsonw_t w;
    jsonw_init(&w);
    jsonw_array_open(&w);
    char piece[100];
    memset(piece, 'x', sizeof piece - 1);
    piece[sizeof piece - 1] = '\0';
    for (int i = 0; i < 1000; i++) {
        jsonw_string(&w, piece);
        jsonw_string(&w, "\x01\xff");
    }
    jsonw_array_close(&w);
    size_t len;
    char *out = jsonw_finish(&w, &len);
    assert_non_null(out);
    assert_int_equal(len, 2 + 1000 * (101 + 1 + (2 + 6 + 3) + 1) - 1);
    json_t *j = json_loads(out, 0, NULL);
    assert_non_null(j);
    assert_int_equal(json_array_size(j), 2000);
    assert_string_equal(json_string_value(json_array_get(j, 1999)), "\x01" FFFD);
    json_decref(j);
    free(out);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_escapes_quote_backslash_and_controls_only),
        cmocka_unit_test(test_valid_utf8_passes_unchanged),
        cmocka_unit_test(test_invalid_utf8_becomes_replacement_characters),
        cmocka_unit_test(test_nesting_places_commas_and_colons),
        cmocka_unit_test(test_unbalanced_nesting_fails),
        cmocka_unit_test(test_buffer_grows_past_its_first_size),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
