/* authstore - see authstore.h */
#include "authstore.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <jansson.h>

#include "api_base.h"
#include "clock.h"
#include "keys.h"
#include "log.h"

/* SCAN over ARGV[1] inside Redis; per key: the key, then field values (HMGET of
 * ARGV[3..] for hashes when ARGV[2] is "hash", else GET and PTTL). At most ARGV[4]
 * keys... (the limit is the last argument). */
static const char list_lua[] =
    "local out, n, cur, limit = {}, 0, '0', tonumber(ARGV[#ARGV])\n"
    "repeat\n"
    "  local r = redis.call('SCAN', cur, 'MATCH', ARGV[1], 'COUNT', 1000)\n"
    "  cur = r[1]\n"
    "  for _, k in ipairs(r[2]) do\n"
    "    n = n + 1\n"
    "    if n > limit then return {1, out} end\n"
    "    if ARGV[2] == 'hash' then\n"
    "      local v = redis.call('HMGET', k, 'user', 'realm')\n"
    "      table.insert(out, {k, v[1] or '', v[2] or ''})\n"
    "    else\n"
    "      table.insert(out, {k, redis.call('GET', k) or '', redis.call('PTTL', k)})\n"
    "    end\n"
    "  end\n"
    "until cur == '0'\n"
    "return {0, out}\n";

struct authstore {
    rds_t *redis;
    struct authstore_req *reqs;
};

struct authstore_req {
    authstore_t *as;   /* NULL once the store is freed */
    http_call_t *call; /* NULL once the client went away */
    struct api_auth_op op;
    struct authstore_req *prev, *next;
};

static void req_unlink(struct authstore_req *r) {
    if (!r->as)
        return;
    if (r->prev)
        r->prev->next = r->next;
    else
        r->as->reqs = r->next;
    if (r->next)
        r->next->prev = r->prev;
    r->as = NULL;
}

static void req_closed(void *arg) {
    struct authstore_req *r = arg;
    r->call = NULL;
}

static void answer_json(struct authstore_req *r, int status, json_t *doc) {
    if (r->call) {
        struct http_response resp = {.status = status, .content_type = API_JSON};
        resp.body = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
        if (!resp.body) {
            resp.status = 500;
            resp.body = api_error_body(500);
        }
        resp.body_len = resp.body ? strlen(resp.body) : 0;
        http_call_answer(r->call, &resp);
    }
    json_decref(doc);
}

static void answer_error(struct authstore_req *r, int status, const char *text) {
    if (r->call) {
        struct http_response resp = {.status = status, .content_type = API_JSON};
        resp.body = api_error_text(status, text);
        resp.body_len = resp.body ? strlen(resp.body) : 0;
        http_call_answer(r->call, &resp);
    }
}

/* The id inside a key's braces (prefix{ID}) as a JSON string. */
static json_t *key_id(const redisReply *k, size_t prefix) {
    if (k->type != REDIS_REPLY_STRING || k->len < prefix + 2)
        return json_string("");
    return json_stringn(k->str + prefix + 1, k->len - prefix - 2);
}

static void list_done(struct authstore_req *r, const redisReply *rep) {
    bool bans = r->op.kind == API_AUTH_BAN_LIST;
    json_t *items = json_array(), *doc = json_object();
    const redisReply *list = rep->element[1];
    int64_t now = clock_wall_us() / 1000;
    for (size_t i = 0; items && i < list->elements; i++) {
        const redisReply *e = list->element[i];
        if (e->type != REDIS_REPLY_ARRAY || e->elements != 3)
            continue;
        json_t *o = json_object();
        if (bans) {
            long long since = e->element[1]->type == REDIS_REPLY_STRING
                                  ? strtoll(e->element[1]->str, NULL, 10)
                                  : 0;
            long long pttl =
                e->element[2]->type == REDIS_REPLY_INTEGER ? e->element[2]->integer : -1;
            api_set(o, "address", key_id(e->element[0], strlen(SB_KEY_BAN)));
            api_set(o, "since", api_time_ms(since));
            api_set(o, "until", pttl >= 0 ? api_time_ms(now + pttl) : json_null());
        } else {
            api_set(o, "user",
                    json_stringn(e->element[1]->str ? e->element[1]->str : "",
                                 e->element[1]->str ? e->element[1]->len : 0));
            api_set(o, "realm",
                    json_stringn(e->element[2]->str ? e->element[2]->str : "",
                                 e->element[2]->str ? e->element[2]->len : 0));
        }
        json_array_append_new(items, o);
    }
    api_set(doc, bans ? "bans" : "subscribers", items);
    api_set(doc, "truncated", json_boolean(rep->element[0]->integer == 1));
    answer_json(r, 200, doc);
}

static void reply_cb(redisAsyncContext *ac, void *reply, void *priv) {
    (void)ac;
    struct authstore_req *r = priv;
    redisReply *rep = reply;
    req_unlink(r);
    if (!rep || rep->type == REDIS_REPLY_ERROR) {
        if (rep)
            log_ratelimited(LOG_WARN, "redis refused a subscriber or ban request: %s", rep->str);
        answer_error(r, 503, "Redis is unavailable");
        free(r);
        return;
    }
    json_t *doc;
    switch (r->op.kind) {
    case API_AUTH_SUB_LIST:
    case API_AUTH_BAN_LIST:
        if (rep->type == REDIS_REPLY_ARRAY && rep->elements == 2 &&
            rep->element[0]->type == REDIS_REPLY_INTEGER &&
            rep->element[1]->type == REDIS_REPLY_ARRAY)
            list_done(r, rep);
        else
            answer_error(r, 503, "unexpected answer from Redis");
        break;
    case API_AUTH_SUB_GET:
        if (rep->type == REDIS_REPLY_ARRAY && rep->elements == 2 &&
            rep->element[0]->type == REDIS_REPLY_STRING) {
            doc = json_object();
            api_set(doc, "user", json_string(r->op.user));
            api_set(doc, "realm", json_string(r->op.realm));
            api_set(doc, "algorithms", json_pack("[ss]", "SHA-256", "MD5"));
            answer_json(r, 200, doc);
        } else {
            answer_error(r, 404, "no such subscriber");
        }
        break;
    case API_AUTH_SUB_PUT:
        doc = json_object();
        api_set(doc, "user", json_string(r->op.user));
        api_set(doc, "realm", json_string(r->op.realm));
        answer_json(r, 200, doc);
        break;
    case API_AUTH_SUB_DELETE:
    case API_AUTH_BAN_DELETE:
        if (rep->type == REDIS_REPLY_INTEGER && rep->integer > 0) {
            doc = json_object();
            api_set(doc, "deleted", json_true());
            answer_json(r, 200, doc);
        } else {
            answer_error(r, 404,
                         r->op.kind == API_AUTH_BAN_DELETE ? "no such ban" : "no such subscriber");
        }
        break;
    }
    free(r);
}

authstore_t *authstore_new(rds_t *redis) {
    authstore_t *as = calloc(1, sizeof *as);
    if (as)
        as->redis = redis;
    return as;
}

void authstore_free(authstore_t *as) {
    if (!as)
        return;
    while (as->reqs) /* their replies come with NULL when the link closes, and free them */
        req_unlink(as->reqs);
    free(as);
}

void authstore_run(authstore_t *as, const struct api_auth_op *op, http_call_t *call,
                   struct http_response *resp) {
    redisAsyncContext *ac = as->redis ? rds_context(as->redis) : NULL;
    if (!ac) {
        resp->status = 503;
        resp->body = api_error_text(503, "Redis is unavailable");
        return;
    }
    struct authstore_req *r = calloc(1, sizeof *r);
    if (!r) {
        resp->status = 500;
        resp->body = api_error_body(500);
        return;
    }
    r->op = *op;
    char id[400], key[512], key2[512], limit[16];
    snprintf(limit, sizeof limit, "%d", AUTHSTORE_MAX_LIST);
    snprintf(id, sizeof id, "%s@%s", op->user, op->realm);
    int rc = REDIS_ERR;
    switch (op->kind) {
    case API_AUTH_SUB_LIST: {
        const char *argv[] = {"EVAL", list_lua, "0", SB_KEY_SUB_ALL, "hash", limit};
        rc = redisAsyncCommandArgv(ac, reply_cb, r, 6, argv, NULL);
        break;
    }
    case API_AUTH_BAN_LIST: {
        const char *argv[] = {"EVAL", list_lua, "0", SB_KEY_BAN_ALL, "string", limit};
        rc = redisAsyncCommandArgv(ac, reply_cb, r, 6, argv, NULL);
        break;
    }
    case API_AUTH_SUB_GET:
        sb_key(key, sizeof key, SB_KEY_SUB, id);
        rc = redisAsyncCommand(ac, reply_cb, r, "HMGET %s user realm", key);
        break;
    case API_AUTH_SUB_PUT:
        sb_key(key, sizeof key, SB_KEY_SUB, id);
        rc = redisAsyncCommand(ac, reply_cb, r, "HSET %s user %s realm %s ha1_md5 %s ha1_sha256 %s",
                               key, op->user, op->realm, op->ha1_md5, op->ha1_sha256);
        break;
    case API_AUTH_SUB_DELETE:
        sb_key(key, sizeof key, SB_KEY_SUB, id);
        rc = redisAsyncCommand(ac, reply_cb, r, "DEL %s", key);
        break;
    case API_AUTH_BAN_DELETE: /* one hash tag: the ban and its failure count */
        sb_key(key, sizeof key, SB_KEY_BAN, op->address);
        sb_key(key2, sizeof key2, SB_KEY_AUTHFAIL, op->address);
        rc = redisAsyncCommand(ac, reply_cb, r, "EVAL %s 2 %s %s",
                               "local n = redis.call('DEL', KEYS[1]) redis.call('DEL', KEYS[2]) "
                               "return n",
                               key, key2);
        break;
    }
    if (rc != REDIS_OK) {
        free(r);
        resp->status = 503;
        resp->body = api_error_text(503, "Redis is unavailable");
        return;
    }
    r->as = as;
    r->call = call;
    r->next = as->reqs;
    if (as->reqs)
        as->reqs->prev = r;
    as->reqs = r;
    resp->defer = true;
    resp->on_close = req_closed;
    resp->close_arg = r;
}
