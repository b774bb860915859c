/* api_auth - see api_auth.h */
#include "api_auth.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "api.h"
#include "domains.h"

static int auth_error(struct api_answer *ans, int status, const char *text) {
    ans->status = status;
    ans->body = api_error_text(status, text);
    ans->content_type = API_JSON;
    return status;
}

static bool path_is(const char *url, size_t len, const char *p) {
    return strlen(p) == len && memcmp(url, p, len) == 0;
}

static bool path_under(const char *url, size_t len, const char *p) {
    size_t n = strlen(p);
    return len > n + 1 && memcmp(url, p, n) == 0 && url[n] == '/';
}

bool api_auth_path(const char *url, size_t path_len) {
    return path_is(url, path_len, API_SUBSCRIBERS) || path_under(url, path_len, API_SUBSCRIBERS) ||
           path_is(url, path_len, API_BANS) || path_under(url, path_len, API_BANS);
}

/* A user or realm as switchboard user add takes them: printable, no space, '@', '{', '}'. */
static bool name_ok(const char *s, size_t n, size_t max) {
    if (n == 0 || n > max)
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] <= ' ' || s[i] == '@' || s[i] == '{' || s[i] == '}' ||
            s[i] == 0x7f || s[i] == '/')
            return false;
    return true;
}

static int sub_item(const struct api_env *env, const struct api_request *req, const char *id,
                    size_t id_len, struct api_auth_op *op, struct api_answer *ans) {
    bool get = strcmp(req->method, "GET") == 0 || strcmp(req->method, "HEAD") == 0;
    bool put = strcmp(req->method, "PUT") == 0, del = strcmp(req->method, "DELETE") == 0;
    if (!get && !put && !del) {
        ans->allow = "GET, PUT, DELETE";
        return auth_error(ans, 405, NULL);
    }
    const char *at = memchr(id, '@', id_len);
    size_t ul = at ? (size_t)(at - id) : id_len;
    if (!name_ok(id, ul, sizeof op->user - 1) ||
        (at && !name_ok(at + 1, id_len - ul - 1, sizeof op->realm - 1)))
        return auth_error(ans, 400,
                          "a subscriber is USER or USER@REALM: printable, no space, "
                          "'@', '{', '}' or '/'");
    memcpy(op->user, id, ul);
    if (at)
        memcpy(op->realm, at + 1, id_len - ul - 1);
    else
        snprintf(op->realm, sizeof op->realm, "%s", domains_name(env->domains));
    if (!put) {
        if (req->body_len > 0)
            return auth_error(ans, 413, NULL);
        op->kind = get ? API_AUTH_SUB_GET : API_AUTH_SUB_DELETE;
        return 200;
    }
    if (!req->body || req->body_len == 0)
        return auth_error(ans, 400, "the body must be {\"password\": \"...\"}");
    json_error_t jerr;
    json_t *doc = json_loadb(req->body, (size_t)req->body_len, JSON_REJECT_DUPLICATES, &jerr);
    json_t *pw = doc ? json_object_get(doc, "password") : NULL;
    bool ok = json_is_object(doc) && json_object_size(doc) == 1 && json_is_string(pw) &&
              json_string_length(pw) > 0 && json_string_length(pw) <= 256 &&
              strlen(json_string_value(pw)) == json_string_length(pw);
    if (ok && (digest_ha1(DIGEST_MD5, op->user, op->realm, json_string_value(pw), op->ha1_md5,
                          sizeof op->ha1_md5) < 0 ||
               digest_ha1(DIGEST_SHA256, op->user, op->realm, json_string_value(pw), op->ha1_sha256,
                          sizeof op->ha1_sha256) < 0)) {
        json_decref(doc);
        return auth_error(ans, 500, NULL);
    }
    json_decref(doc);
    if (!ok)
        return auth_error(ans, 400, "the body must be {\"password\": \"...\"} (1-256 bytes)");
    op->kind = API_AUTH_SUB_PUT;
    return 200;
}

static int ban_item(const struct api_request *req, const char *id, size_t id_len,
                    struct api_auth_op *op, struct api_answer *ans) {
    if (strcmp(req->method, "DELETE") != 0) {
        ans->allow = "DELETE";
        return auth_error(ans, 405, NULL);
    }
    if (req->body_len > 0)
        return auth_error(ans, 413, NULL);
    unsigned char bin[16];
    if (id_len >= sizeof op->address)
        return auth_error(ans, 400, "not a numeric address");
    memcpy(op->address, id, id_len);
    if (inet_pton(AF_INET, op->address, bin) != 1 && inet_pton(AF_INET6, op->address, bin) != 1)
        return auth_error(ans, 400, "not a numeric address");
    op->kind = API_AUTH_BAN_DELETE;
    return 200;
}

int api_auth_handle(const struct api_env *env, const struct api_request *req, size_t path_len,
                    struct api_answer *ans) {
    const char *url = req->url;
    struct api_auth_op *op = calloc(1, sizeof *op);
    if (!op)
        return auth_error(ans, 500, NULL);
    int status;
    bool get = strcmp(req->method, "GET") == 0 || strcmp(req->method, "HEAD") == 0;
    size_t sn = strlen(API_SUBSCRIBERS), bn = strlen(API_BANS);
    if (path_is(url, path_len, API_SUBSCRIBERS) || path_is(url, path_len, API_BANS)) {
        if (!get) {
            ans->allow = "GET";
            status = auth_error(ans, 405, NULL);
        } else if (req->body_len > 0) {
            status = auth_error(ans, 413, NULL);
        } else {
            op->kind = path_is(url, path_len, API_BANS) ? API_AUTH_BAN_LIST : API_AUTH_SUB_LIST;
            status = 200;
        }
    } else if (path_under(url, path_len, API_SUBSCRIBERS)) {
        status = sub_item(env, req, url + sn + 1, path_len - sn - 1, op, ans);
    } else {
        status = ban_item(req, url + bn + 1, path_len - bn - 1, op, ans);
    }
    if (status == 200 && !env->redis_up)
        status = auth_error(ans, 503, "Redis is unavailable");
    if (status != 200) {
        free(op);
        return status;
    }
    ans->auth_op = op;
    ans->op = API_OP_AUTH;
    ans->status = 200;
    return 200;
}
