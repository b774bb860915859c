/*
 * NAME
 *   api_fuzz - libFuzzer target for apid's pure request and message handling (api*.h).
 * DESCRIPTION
 *   The first byte picks what the rest is: 0 an HTTP request ("METHOD\nURL\nAUTH\nBODY",
 *   AUTH being "AUTHORIZATION[\tHOST[\tORIGIN]]"), routed by api_handle through the gate
 *   (token "tok", Host 127.0.0.1 or pbx.example.com or local, peer http://10.0.0.2:8080)
 *   on a small process table; 1 a message
 *   published on sb:events (api_sse_from_message); 2 a Redis registration record
 *   (api_registration_append); 3 an Authorization header (api_token_ok); 4 bytes written
 *   as a string by lib/jsonw (valid JSON; valid UTF-8 reads back unchanged). Promises
 *   checked: a status among 200/204/400/401/403/404/405/413/421/500/503; 421 exactly when
 *   the Host is not ours; Access-Control-Allow-Origin only ever names the request's
 *   origin (never "*"); an error or answered body
 *   that is JSON with "error" and "code" (or a metrics page); a 401 whenever the token
 *   was wrong on a guarded route; an unregister names a non-empty AOR without spaces or
 *   control characters; an event is exactly "id: N\nevent: TYPE\ndata: ONE LINE\n\n"; a
 *   registration entry has the six fields. A broken promise aborts.
 * OWNERSHIP
 *   Everything allocated for one input is freed before the next (LeakSanitizer checks).
 * LOOP
 *   None: pure code, called by libFuzzer. The only file-level state is the gate's host
 *   set, made once.
 * SEE ALSO
 *   tests/fuzz/run.sh, procs/apid/api.h, api_records.h, api_sse.h
 */
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "jsonw.h"
#include "procs/apid/api.h"
#include "procs/apid/api_gate.h"
#include "procs/apid/api_records.h"
#include "procs/apid/api_sse.h"

__attribute__((noreturn)) static void broken(const char *what) {
    fprintf(stderr, "api_fuzz: %s\n", what);
    abort();
}

/* The next '\n'-terminated piece of [*p, end), NUL-terminated in a malloc'd copy. */
static char *piece(const uint8_t **p, const uint8_t *end) {
    const uint8_t *nl = memchr(*p, '\n', (size_t)(end - *p));
    const uint8_t *stop = nl ? nl : end;
    char *s = strndup((const char *)*p, (size_t)(stop - *p));
    *p = nl ? nl + 1 : end;
    if (!s)
        abort();
    return s;
}

static void fuzz_request(const uint8_t *data, size_t size) {
    const uint8_t *p = data, *end = data + size;
    char *method = piece(&p, end), *url = piece(&p, end), *auth = piece(&p, end);
    size_t body_len = (size_t)(end - p);
    char *body = malloc(body_len + 1);
    struct shm_seg *seg = calloc(1, sizeof *seg);
    if (!body || !seg)
        abort();
    memcpy(body, p, body_len);
    body[body_len] = '\0';
    seg->hdr.master_started_us = 1;
    seg->procs[0].state = SHM_READY;
    snprintf(seg->procs[0].service, sizeof seg->procs[0].service, "sipd");
    snprintf(seg->procs[0].role, sizeof seg->procs[0].role, "sipd");
    seg->procs[0].pid = 10;
    struct api_env env = {.shm = seg,
                          .node_id = "n",
                          .token = "tok",
                          .redis_up = true,
                          .registrations = 3,
                          .now_wall_us = 1795504236000000LL,
                          .now_mono_us = 1000000};
    /* the third line: AUTHORIZATION[\tHOST[\tORIGIN]] (the gate's Host and Origin rules) */
    char *host = strchr(auth, '\t'), *origin = NULL;
    if (host) {
        *host++ = '\0';
        if ((origin = strchr(host, '\t')))
            *origin++ = '\0';
    }
    static domains_t *hosts;
    if (!hosts) {
        char why[128];
        if (!(hosts = domains_new("127.0.0.1 pbx.example.com", true, why, sizeof why)))
            abort();
    }
    struct api_gate gate = {.token = "tok", .hosts = hosts, .peers = "http://10.0.0.2:8080"};
    env.gate = &gate;
    struct api_request req = {.method = method,
                              .url = url,
                              .host = host,
                              .origin = origin,
                              .authorization = *auth ? auth : NULL,
                              .body = body_len ? body : NULL,
                              .body_len = body_len};
    struct api_answer ans;
    int status = api_handle(&env, &req, &ans);
    if (status != ans.status)
        broken("returned status differs from the answer's");
    switch (status) {
    case 200:
    case 204:
    case 400:
    case 401:
    case 403:
    case 421:
    case 404:
    case 405:
    case 413:
    case 500:
    case 503:
        break;
    default:
        broken("unexpected status");
    }
    if (status == 421 && (!host || api_gate_host_ok(hosts, host)))
        broken("421 for a Host that is ours");
    if (status != 421 && status != 413 && host && !api_gate_host_ok(hosts, host))
        broken("a Host not ours got past the gate");
    for (size_t i = 0; ans.headers && ans.headers[i] && ans.headers[i + 1]; i += 2)
        if (strcmp(ans.headers[i], "Access-Control-Allow-Origin") == 0 &&
            (!origin || strcmp(ans.headers[i + 1], origin) != 0))
            broken("Access-Control-Allow-Origin is not the request's origin");
    size_t path_len = strcspn(url, "?");
    bool guarded =
        strncmp(url, "/api/", 5) == 0 || (path_len == 8 && strncmp(url, "/metrics", 8) == 0);
    bool health = strncmp(url, "/api/v1/health", 14) == 0 && (url[14] == '\0' || url[14] == '?');
    if (status == 200 && guarded && !health && !api_token_ok("tok", req.authorization, NULL))
        broken("a guarded route answered 200 without the token");
    if (ans.op == API_OP_NONE && ans.body && ans.content_type &&
        strcmp(ans.content_type, "application/json") == 0) {
        json_t *doc = json_loads(ans.body, 0, NULL);
        if (!doc)
            broken("a JSON answer is not JSON");
        if (status >= 400 && (!json_is_string(json_object_get(doc, "error")) ||
                              !json_is_string(json_object_get(doc, "code"))))
            broken("an error without error and code");
        json_decref(doc);
    }
    if (ans.op == API_OP_REG_DELETE) {
        if (!ans.aor || !*ans.aor || strlen(ans.aor) > API_MAX_AOR)
            broken("unregister without a usable AOR");
        for (const char *c = ans.aor; *c; c++)
            if ((unsigned char)*c <= 0x20 || *c == 0x7f)
                broken("unregister AOR with a space or control character");
        if (ans.contact && !*ans.contact)
            broken("unregister with an empty contact");
    }
    if (ans.op != API_OP_NONE && ans.body)
        broken("an operation with a body");
    api_answer_fini(&ans);
    free(seg);
    free(body);
    free(auth);
    free(url);
    free(method);
}

static void fuzz_message(const uint8_t *data, size_t size) {
    size_t len = 0;
    char *ev = api_sse_from_message((const char *)data, size, 42, &len);
    if (!ev)
        return;
    if (len != strlen(ev) || strncmp(ev, "id: 42\nevent: ", 14) != 0)
        broken("event does not start with its id and name");
    const char *data_line = strstr(ev, "\ndata: ");
    if (!data_line || len < 2 || strcmp(ev + len - 2, "\n\n") != 0)
        broken("event without data or its end");
    size_t newlines = 0;
    for (const char *c = ev; *c; c++)
        newlines += *c == '\n';
    if (newlines != 4)
        broken("event spans more lines than id, event, data and the blank line");
    free(ev);
}

static void fuzz_record(const uint8_t *data, size_t size) {
    json_t *list = json_array();
    if (!list)
        abort();
    int rc = api_registration_append(list, "sip:a@b", 7, "sip:a@1.2.3.4", 13, (const char *)data,
                                     size, 1795504236000LL);
    if (rc == 1) {
        json_t *e = json_array_get(list, 0);
        static const char *const keys[] = {"aor",           "contact",    "expires",
                                           "registered_at", "expires_at", "user_agent"};
        for (size_t i = 0; i < 6; i++)
            if (!json_object_get(e, keys[i]))
                broken("registration entry misses a field");
        if (json_integer_value(json_object_get(e, "expires")) <= 0)
            broken("a listed binding has expired");
    } else if (rc != 0 || json_array_size(list) != 0) {
        broken("a skipped record left an entry");
    }
    json_decref(list);
}

/* Only "Bearer tok" (scheme in any case, spaces before the token) may pass. */
static void fuzz_token(const uint8_t *data, size_t size) {
    char *h = strndup((const char *)data, size);
    if (!h)
        abort();
    if (api_token_ok("tok", h, NULL)) {
        if (strncasecmp(h, "bearer ", 7) != 0)
            broken("a header without the Bearer scheme was accepted");
        const char *t = h + 7 + strspn(h + 7, " ");
        if (strcmp(t, "tok") != 0)
            broken("a wrong token was accepted");
    }
    free(h);
}

/* Any bytes written as a JSON string by lib/jsonw (the writer of apid's process events) are
 * valid JSON; bytes that are valid UTF-8 read back unchanged. */
static void fuzz_jsonw(const uint8_t *data, size_t size) {
    jsonw_t w;
    jsonw_init(&w);
    jsonw_array_open(&w);
    jsonw_stringn(&w, (const char *)data, size);
    jsonw_array_close(&w);
    size_t len;
    char *text = jsonw_finish(&w, &len);
    if (!text)
        abort(); /* out of memory only */
    json_t *doc = json_loadb(text, len, JSON_ALLOW_NUL, NULL);
    if (!json_is_array(doc) || !json_is_string(json_array_get(doc, 0)))
        broken("jsonw wrote a string that is not JSON");
    json_t *same = json_stringn((const char *)data, size); /* NULL: not valid UTF-8 */
    if (same && !json_equal(same, json_array_get(doc, 0)))
        broken("jsonw changed a valid UTF-8 string");
    json_decref(same);
    json_decref(doc);
    free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1)
        return 0;
    switch (data[0] % 5) {
    case 0:
        fuzz_request(data + 1, size - 1);
        break;
    case 1:
        fuzz_message(data + 1, size - 1);
        break;
    case 2:
        fuzz_record(data + 1, size - 1);
        break;
    case 3:
        fuzz_token(data + 1, size - 1);
        break;
    default:
        fuzz_jsonw(data + 1, size - 1);
    }
    return 0;
}
