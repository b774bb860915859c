/* api - see api.h */
#include "api.h"

#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api_auth.h"
#include "api_gate.h"
#include "api_metrics.h"
#include "api_views.h"

/* RFC 9110 9.1: a server that supports GET supports HEAD (MHD drops HEAD's body). */
#define API_ALLOW_GET "GET, HEAD"
#define API_ALLOW_DELETE "DELETE"
#define API_ALLOW_POST "POST"
#define API_ALLOW_DIALOG "GET, HEAD, DELETE"
#define API_ALLOW_DRAIN "GET, HEAD, POST, DELETE"
#define API_REG_PREFIX "/api/v1/registrations/"
#define API_DLG_PREFIX "/api/v1/dialogs/"
#define API_RTP_PREFIX "/api/v1/rtpmanagers/"
#define API_DRAIN_SUFFIX "/drain"

typedef int (*api_get_fn)(const struct api_env *env, json_t **doc);

/* The routes with a fixed path: adding one is one line. get NULL: op names the work. */
static const struct api_endpoint {
    const char *path;
    bool public; /* no token needed */
    api_get_fn get;
    enum api_op op;
    bool post;  /* POST only; else GET and HEAD */
    bool redis; /* the work reads Redis: 503 at once while the link is down */
} api_endpoints[] = {
    {"/api/v1/health", true, api_view_health, API_OP_NONE, false, false},
    {"/api/v1/processes", false, api_view_processes, API_OP_NONE, false, false},
    {"/api/v1/stats", false, api_view_stats, API_OP_NONE, false, false},
    {"/api/v1/config", false, api_view_config, API_OP_NONE, false, false},
    {"/api/v1/registrations", false, NULL, API_OP_REG_LIST, false, true},
    {"/api/v1/events", false, NULL, API_OP_EVENTS, false, false},
    {"/api/v1/dialogs", false, NULL, API_OP_DLG_LIST, false, true},
    {"/api/v1/sessions", false, NULL, API_OP_SESSIONS, false, false},
    {"/api/v1/rtpmanagers", false, api_view_rtpmanagers, API_OP_NONE, false, false},
    {"/api/v1/nodes", false, api_view_nodes, API_OP_NONE, false, false},
    {"/api/v1/dialplan/reload", false, NULL, API_OP_DIALPLAN_RELOAD, true, false},
    {"/metrics", false, NULL, API_OP_NONE, false, false},
};

static int api_answer_error(struct api_answer *ans, int status, const char *text) {
    ans->status = status;
    ans->body = api_error_text(status, text);
    ans->content_type = API_JSON;
    return status;
}

static bool api_is_get(const char *method) {
    return strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
}

/* DELETE /api/v1/registrations/{aor} [{"contact": URI}]: aor in the registrar's canonical
 * form (RFC 3261 10.3, domains_aor_text), so sip:1002@127.0.0.1:5060 names the binding of
 * sip:1002@DOMAIN when 127.0.0.1 is one of the domain's addresses. */
static int api_reg_delete(const struct api_env *env, const struct api_request *req, const char *aor,
                          size_t aor_len, struct api_answer *ans) {
    if (strcmp(req->method, "DELETE") != 0) {
        ans->allow = API_ALLOW_DELETE;
        return api_answer_error(ans, 405, NULL);
    }
    if (aor_len == 0 || aor_len > API_MAX_AOR)
        return api_answer_error(ans, 400, "the AOR is empty or too long");
    for (size_t i = 0; i < aor_len; i++)
        if ((unsigned char)aor[i] < 0x21 || aor[i] == 0x7f)
            return api_answer_error(ans, 400, "the AOR has a space or a control character");
    char canon[3 * API_MAX_AOR + 8]; /* an escape per byte at most */
    int canon_len = domains_aor_text(env->domains, aor, aor_len, canon, sizeof canon);
    if (canon_len == -ENOSPC)
        return api_answer_error(ans, 400, "the AOR is empty or too long");
    if (canon_len < 0)
        return api_answer_error(ans, 400, "the AOR is not a SIP address-of-record (sip:user@host)");
    char *contact = NULL;
    if (req->body_len > 0) {
        if (!req->body)
            return api_answer_error(ans, 413, NULL);
        json_error_t jerr;
        json_t *doc = json_loadb(req->body, (size_t)req->body_len, JSON_REJECT_DUPLICATES, &jerr);
        if (!doc)
            return api_answer_error(ans, 400, "malformed JSON body");
        json_t *c = json_object_get(doc, "contact");
        bool ok = json_is_object(doc) && json_object_size(doc) == (c ? 1u : 0u) &&
                  (!c || (json_is_string(c) && json_string_length(c) > 0 &&
                          json_string_length(c) <= API_MAX_AOR));
        if (ok && c && !(contact = strdup(json_string_value(c)))) {
            json_decref(doc);
            return api_answer_error(ans, 500, NULL);
        }
        json_decref(doc);
        if (!ok)
            return api_answer_error(ans, 400, "the body must be {} or {\"contact\": \"URI\"}");
    }
    ans->aor = strndup(canon, (size_t)canon_len);
    if (!ans->aor) {
        free(contact);
        return api_answer_error(ans, 500, NULL);
    }
    ans->contact = contact;
    ans->op = API_OP_REG_DELETE;
    ans->status = 200;
    return 200;
}

/* GET, DELETE /api/v1/dialogs/{call_id} */
static int api_dialog_item(const struct api_request *req, const char *id, size_t id_len,
                           struct api_answer *ans) {
    bool get = api_is_get(req->method), del = strcmp(req->method, "DELETE") == 0;
    if (!get && !del) {
        ans->allow = API_ALLOW_DIALOG;
        return api_answer_error(ans, 405, NULL);
    }
    if (req->body_len > 0)
        return api_answer_error(ans, 413, NULL);
    if (id_len == 0 || id_len > API_MAX_CALL_ID)
        return api_answer_error(ans, 400, "the Call-ID is empty or too long");
    for (size_t i = 0; i < id_len; i++)
        if ((unsigned char)id[i] < 0x21 || (unsigned char)id[i] > 0x7e)
            return api_answer_error(ans, 400, "the Call-ID has a space or a control character");
    if (!(ans->call_id = strndup(id, id_len)))
        return api_answer_error(ans, 500, NULL);
    ans->op = get ? API_OP_DLG_GET : API_OP_DLG_HANGUP;
    ans->status = 200;
    return 200;
}

/* POST, GET, DELETE /api/v1/rtpmanagers/{node_id}/drain[?mode=graceful|aggressive] */
static int api_drain_item(const struct api_env *env, const struct api_request *req,
                          const char *rest, size_t rest_len, struct api_answer *ans) {
    size_t id_len = strcspn(rest, "/");
    if (id_len > rest_len)
        id_len = rest_len;
    size_t sl = strlen(API_DRAIN_SUFFIX);
    if (rest_len - id_len != sl || memcmp(rest + id_len, API_DRAIN_SUFFIX, sl) != 0)
        return api_answer_error(ans, 404, NULL);
    bool get = api_is_get(req->method), post = strcmp(req->method, "POST") == 0,
         del = strcmp(req->method, "DELETE") == 0;
    if (!get && !post && !del) {
        ans->allow = API_ALLOW_DRAIN;
        return api_answer_error(ans, 405, NULL);
    }
    if (req->body_len > 0)
        return api_answer_error(ans, 413, NULL);
    int instance = api_mediad_of_node(rest, id_len);
    if (instance < 0 || api_mediad_slot(env, instance) < 0)
        return api_answer_error(ans, 404, "no such rtp manager (node_id is mediad-N)");
    ans->instance = instance;
    if (get) {
        json_t *doc =
            api_drain_json(env->drains ? &env->drains[instance] : NULL, instance, env->now_wall_us);
        ans->body = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
        json_decref(doc);
        if (!ans->body)
            return api_answer_error(ans, 500, NULL);
        ans->content_type = API_JSON;
        ans->status = 200;
        return 200;
    }
    if (post) {
        const char *mode = req->mode && *req->mode ? req->mode : "graceful";
        if (strcmp(mode, "aggressive") == 0)
            ans->aggressive = true;
        else if (strcmp(mode, "graceful") != 0)
            return api_answer_error(ans, 400, "mode is graceful or aggressive");
        if (env->drains && env->drains[instance].state == API_DRAIN_DRAINING)
            return api_answer_error(ans, 409, "a drain of this rtp manager is under way");
    }
    ans->op = post ? API_OP_DRAIN_START : API_OP_DRAIN_CANCEL;
    ans->status = 200;
    return 200;
}

static bool api_has_prefix(const char *url, size_t path_len, const char *prefix) {
    size_t n = strlen(prefix);
    return path_len >= n && memcmp(url, prefix, n) == 0;
}

int api_handle(const struct api_env *env, const struct api_request *req, struct api_answer *ans) {
    memset(ans, 0, sizeof *ans);
    /* The overall cap comes first: no route ever reads more than this. */
    if (req->body_len > API_MAX_BODY)
        return api_answer_error(ans, 413, NULL);
    if (!req->method || !req->url)
        return api_answer_error(ans, 404, NULL);
    const char *url = req->url;
    size_t path_len = strcspn(url, "?");
    bool api = path_len >= 5 && memcmp(url, "/api/", 5) == 0;
    bool metrics = path_len == 8 && memcmp(url, "/metrics", 8) == 0;
    bool public_path = !api && !metrics; /* the dashboard: public code, no data */
    for (size_t i = 0; i < sizeof api_endpoints / sizeof api_endpoints[0]; i++)
        if (api_endpoints[i].public && strlen(api_endpoints[i].path) == path_len &&
            memcmp(api_endpoints[i].path, url, path_len) == 0)
            public_path = true;
    /* Host, Origin and the token, before any route: a route added below cannot skip them. */
    struct api_gate plain = {.token = env->token};
    int gate = api_gate_check(env->gate ? env->gate : &plain, req, api || metrics, public_path,
                              ans);
    if (gate != 0)
        return gate;
    if (!api && !metrics) {
        if (!api_is_get(req->method)) {
            ans->allow = API_ALLOW_GET;
            return api_answer_error(ans, 405, NULL);
        }
        if (req->body_len > 0)
            return api_answer_error(ans, 413, NULL);
        ans->op = API_OP_FILE;
        ans->status = 200;
        return 200;
    }
    const struct api_endpoint *ep = NULL;
    for (size_t i = 0; i < sizeof api_endpoints / sizeof api_endpoints[0]; i++)
        if (strlen(api_endpoints[i].path) == path_len &&
            memcmp(api_endpoints[i].path, url, path_len) == 0)
            ep = &api_endpoints[i];
    size_t rp = strlen(API_REG_PREFIX), dp = strlen(API_DLG_PREFIX), mp = strlen(API_RTP_PREFIX);
    bool reg_item = !ep && api_has_prefix(url, path_len, API_REG_PREFIX);
    bool dlg_item = !ep && api_has_prefix(url, path_len, API_DLG_PREFIX);
    bool drain_item = !ep && api_has_prefix(url, path_len, API_RTP_PREFIX);
    bool auth_item = !ep && api_auth_path(url, path_len);
    if (!ep && !reg_item && !dlg_item && !drain_item && !auth_item)
        return api_answer_error(ans, 404, NULL);
    if (auth_item)
        return api_auth_handle(env, req, path_len, ans);
    if (reg_item)
        return api_reg_delete(env, req, url + rp, path_len - rp, ans);
    if (dlg_item) {
        int status = api_dialog_item(req, url + dp, path_len - dp, ans);
        if (status == 200 && !env->redis_up) {
            free(ans->call_id);
            ans->call_id = NULL;
            ans->op = API_OP_NONE;
            return api_answer_error(ans, 503, "Redis is unavailable");
        }
        return status;
    }
    if (drain_item)
        return api_drain_item(env, req, url + mp, path_len - mp, ans);
    if (ep->post ? strcmp(req->method, "POST") != 0 : !api_is_get(req->method)) {
        ans->allow = ep->post ? API_ALLOW_POST : API_ALLOW_GET;
        return api_answer_error(ans, 405, NULL);
    }
    if (req->body_len > 0)
        return api_answer_error(ans, 413, NULL);
    if (ep->op != API_OP_NONE) {
        if (!env->redis_up && ep->redis)
            return api_answer_error(ans, 503, "Redis is unavailable");
        ans->op = ep->op;
        ans->status = 200;
        return 200;
    }
    if (!ep->get) { /* /metrics */
        ans->body = api_metrics(env);
        if (!ans->body)
            return api_answer_error(ans, 500, NULL);
        ans->content_type = API_PROM;
        ans->status = 200;
        return 200;
    }
    json_t *doc = NULL;
    int status = ep->get(env, &doc);
    if (!doc)
        return api_answer_error(ans, status == 503 ? 503 : 500, NULL);
    ans->body = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    if (!ans->body)
        return api_answer_error(ans, 500, NULL);
    ans->content_type = API_JSON;
    ans->status = status;
    return status;
}

void api_answer_fini(struct api_answer *ans) {
    free(ans->body);
    free(ans->aor);
    free(ans->contact);
    free(ans->call_id);
    free(ans->cors_origin);
    free(ans->auth_op);
    ans->body = ans->aor = ans->contact = ans->call_id = ans->cors_origin = NULL;
    ans->auth_op = NULL;
}

int api_route(const struct api_env *env, const char *method, const char *url, uint64_t body_len,
              char **body_out, const char **allow_out) {
    struct api_request req = {.method = method, .url = url, .body_len = body_len};
    struct api_answer ans;
    int status = api_handle(env, &req, &ans);
    *allow_out = ans.allow;
    *body_out = ans.body;
    ans.body = NULL;
    api_answer_fini(&ans);
    return status;
}
