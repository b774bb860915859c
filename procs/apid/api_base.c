/* api_base - see api_base.h */
#include "api_base.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const struct api_error {
    int status;
    const char *error;
    const char *code;
} api_errors[] = {
    {400, "bad request", "BAD_REQUEST"},
    {401, "missing or wrong bearer token", "UNAUTHORIZED"},
    {403, "origin not allowed", "FORBIDDEN"},
    {404, "no such endpoint", "NOT_FOUND"},
    {405, "method not allowed", "METHOD_NOT_ALLOWED"},
    {409, "conflict", "CONFLICT"},
    {413, "request body not accepted", "PAYLOAD_TOO_LARGE"},
    {421, "this server does not answer to that Host", "MISDIRECTED"},
    {429, "too many event streams from this address", "TOO_MANY_REQUESTS"},
    {503, "service unavailable", "UNAVAILABLE"},
    {500, "internal error", "INTERNAL"}, /* last: the default */
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
int api_set(json_t *obj, const char *key, json_t *value) {
    return value ? json_object_set_new(obj, key, value) : -1;
}

/* Text from shm or main.cf; master and cfg check names, so "?" only marks a corrupt one. */
json_t *api_text(const char *s) {
    json_t *j = s ? json_string(s) : NULL;
    return j ? j : json_string("?");
}

json_t *api_time(int64_t wall_us) {
    char text[32];
    if (wall_us <= 0 || api_iso8601(wall_us, text, sizeof text) < 0)
        return json_null();
    return json_string(text);
}

json_t *api_uint(uint64_t v) {
    return json_integer(v > (uint64_t)LLONG_MAX ? LLONG_MAX : (json_int_t)v);
}

json_t *api_time_ms(int64_t ms) {
    return ms > 0 && ms <= API_MAX_TIME_MS ? api_time(ms * 1000) : json_null();
}

char *api_error_text(int status, const char *text) {
    const struct api_error *e = &api_errors[sizeof api_errors / sizeof api_errors[0] - 1];
    for (size_t i = 0; i < sizeof api_errors / sizeof api_errors[0]; i++)
        if (api_errors[i].status == status)
            e = &api_errors[i];
    json_t *o = json_object();
    char *out = NULL;
    if (o && api_set(o, "error", json_string(text ? text : e->error)) == 0 &&
        api_set(o, "code", json_string(e->code)) == 0)
        out = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return out;
}

char *api_error_body(int status) {
    return api_error_text(status, NULL);
}

void api_json_sort(json_t *list, int (*cmp)(const void *, const void *)) {
    size_t n = json_array_size(list);
    if (n < 2)
        return;
    json_t **items = malloc(n * sizeof *items);
    if (!items)
        return; /* unsorted is still right */
    for (size_t i = 0; i < n; i++)
        items[i] = json_incref(json_array_get(list, i));
    qsort(items, n, sizeof *items, cmp);
    json_array_clear(list);
    for (size_t i = 0; i < n; i++)
        json_array_append_new(list, items[i]);
    free(items);
}
