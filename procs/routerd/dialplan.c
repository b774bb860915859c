/* dialplan - see dialplan.h */
#include "dialplan.h"

#include <errno.h>
#include <fnmatch.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "resources.h"

#include "domains.h"

#define DP_MAX_ROUTES 10000
#define DP_MAX_ACTIONS 64
#define DP_MAX_FILE (4 << 20)

static void fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void fail(char *err, size_t errlen, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

static void route_fini(struct dp_route *r) {
    free(r->id);
    free(r->name);
    free(r->pattern);
    for (size_t i = 0; i < r->nactions; i++) {
        free(r->actions[i].file);
        free(r->actions[i].target);
        free(r->actions[i].reason);
    }
    free(r->actions);
}

void dialplan_free(dialplan_t *dp) {
    if (!dp)
        return;
    for (size_t i = 0; i < dp->nroutes; i++)
        route_fini(&dp->routes[i]);
    free(dp->routes);
    free(dp->version);
    free(dp);
}

/* A string member: required or optional (*out NULL then). false with err on a wrong type. */
static bool get_string(json_t *obj, const char *key, bool required, const char *path,
                       char **out, char *err, size_t errlen) {
    json_t *v = json_object_get(obj, key);
    *out = NULL;
    if (!v) {
        if (required)
            fail(err, errlen, "%s.%s: missing (a string is required)", path, key);
        return !required;
    }
    if (!json_is_string(v)) {
        fail(err, errlen, "%s.%s: must be a string", path, key);
        return false;
    }
    if (required && json_string_length(v) == 0) {
        fail(err, errlen, "%s.%s: must not be empty", path, key);
        return false;
    }
    if (strlen(json_string_value(v)) != json_string_length(v)) {
        fail(err, errlen, "%s.%s: must not contain NUL", path, key);
        return false;
    }
    *out = strdup(json_string_value(v));
    if (!*out) {
        fail(err, errlen, "%s.%s: out of memory", path, key);
        return false;
    }
    return true;
}

static bool check_target(const char *t, const char *path, dialplan_gateway_fn gateway, void *arg,
                         char *err, size_t errlen) {
    if (strncmp(t, "user/", 5) == 0 && t[5]) {
        /* user/NAME@DOMAIN: a DOMAIN without variables must be a host (docs/dialplan.md) */
        const char *at = strrchr(t + 5, '@');
        char host[DOMAINS_MAX_HOST + 2];
        if (!at || strstr(at, "${") ||
            (at > t + 5 && at[1] &&
             domains_host(NULL, at + 1, strlen(at + 1), host, sizeof host) > 0))
            return true;
        fail(err, errlen, "%s.params.target: '%s' is not user/NAME@DOMAIN (a host name or address)",
             path, t);
        return false;
    }
    if ((strncmp(t, "sip:", 4) == 0 && t[4]) || (strncmp(t, "sips:", 5) == 0 && t[5]))
        return true;
    if (strncmp(t, "gateway/", 8) == 0 && t[8]) {
        if (gateway && !gateway(arg, t + 8)) {
            fail(err, errlen, "%s.params.target: gateway '%s' is not in dialplan_gateways", path,
                 t + 8);
            return false;
        }
        return true;
    }
    fail(err, errlen, "%s.params.target: '%s' is not user/NAME, sip:URI or gateway/NAME", path, t);
    return false;
}

static bool parse_action(json_t *a, const char *path, struct dp_action *out,
                         dialplan_gateway_fn gateway, void *arg, char *err, size_t errlen) {
    if (!json_is_object(a)) {
        fail(err, errlen, "%s: must be an object", path);
        return false;
    }
    char *type;
    if (!get_string(a, "type", true, path, &type, err, errlen))
        return false;
    json_t *params = json_object_get(a, "params");
    if (params && !json_is_object(params)) {
        free(type);
        fail(err, errlen, "%s.params: must be an object", path);
        return false;
    }
    json_t *empty = NULL;
    if (!params)
        params = empty = json_object();
    char ppath[160];
    snprintf(ppath, sizeof ppath, "%s.params", path);
    bool ok = true;
    if (strcmp(type, "play_audio") == 0) {
        out->type = DP_PLAY_AUDIO;
        ok = get_string(params, "file", true, ppath, &out->file, err, errlen);
        if (ok && (out->file[0] == '/' || strstr(out->file, ".."))) {
            fail(err, errlen, "%s.file: must be a path inside audio_path (no '/' start, no '..')",
                 ppath);
            ok = false;
        }
    } else if (strcmp(type, "dial") == 0) {
        out->type = DP_DIAL;
        out->timeout = DIALPLAN_DEFAULT_TIMEOUT;
        ok = get_string(params, "target", true, ppath, &out->target, err, errlen) &&
             check_target(out->target, path, gateway, arg, err, errlen);
        json_t *t = json_object_get(params, "timeout");
        if (ok && t) {
            if (!json_is_integer(t) || json_integer_value(t) < 1 ||
                json_integer_value(t) > 3600) {
                fail(err, errlen, "%s.timeout: must be an integer of seconds, 1..3600", ppath);
                ok = false;
            } else {
                out->timeout = (int)json_integer_value(t);
            }
        }
    } else if (strcmp(type, "hangup") == 0) {
        out->type = DP_HANGUP;
        ok = get_string(params, "reason", false, ppath, &out->reason, err, errlen);
        if (ok && out->reason && strcmp(out->reason, "normal") && strcmp(out->reason, "busy") &&
            strcmp(out->reason, "rejected") && strcmp(out->reason, "unavailable")) {
            fail(err, errlen, "%s.reason: '%s' is not normal, busy, rejected or unavailable",
                 ppath, out->reason);
            ok = false;
        }
    } else {
        fail(err, errlen, "%s.type: '%s' is not play_audio, dial or hangup", path, type);
        ok = false;
    }
    free(type);
    json_decref(empty);
    return ok;
}

static bool parse_route(json_t *r, const char *path, struct dp_route *out,
                        dialplan_gateway_fn gateway, void *arg, char *err, size_t errlen) {
    if (!json_is_object(r)) {
        fail(err, errlen, "%s: must be an object", path);
        return false;
    }
    if (!get_string(r, "id", true, path, &out->id, err, errlen) ||
        !get_string(r, "name", false, path, &out->name, err, errlen) ||
        !get_string(r, "pattern", true, path, &out->pattern, err, errlen))
        return false;
    out->priority = DIALPLAN_DEFAULT_PRIORITY;
    json_t *v = json_object_get(r, "priority");
    if (v) {
        if (!json_is_integer(v) || json_integer_value(v) < -1000000000 ||
            json_integer_value(v) > 1000000000) {
            fail(err, errlen, "%s.priority: must be an integer", path);
            return false;
        }
        out->priority = (int)json_integer_value(v);
    }
    out->enabled = true;
    v = json_object_get(r, "enabled");
    if (v) {
        if (!json_is_boolean(v)) {
            fail(err, errlen, "%s.enabled: must be true or false", path);
            return false;
        }
        out->enabled = json_is_true(v);
    }
    out->from = DP_FROM_ANY;
    v = json_object_get(r, "from");
    if (v) {
        const char *f = json_is_string(v) ? json_string_value(v) : "";
        if (strcmp(f, "any") == 0)
            out->from = DP_FROM_ANY;
        else if (strcmp(f, "trusted") == 0)
            out->from = DP_FROM_TRUSTED;
        else if (strcmp(f, "authenticated") == 0)
            out->from = DP_FROM_AUTHENTICATED;
        else {
            fail(err, errlen, "%s.from: must be \"any\", \"trusted\" or \"authenticated\"", path);
            return false;
        }
    }
    json_t *actions = json_object_get(r, "actions");
    if (!json_is_array(actions) || json_array_size(actions) == 0) {
        fail(err, errlen, "%s.actions: must be an array of at least one action", path);
        return false;
    }
    if (json_array_size(actions) > DP_MAX_ACTIONS) {
        fail(err, errlen, "%s.actions: more than %d actions", path, DP_MAX_ACTIONS);
        return false;
    }
    out->actions = calloc(json_array_size(actions), sizeof *out->actions);
    if (!out->actions) {
        fail(err, errlen, "%s.actions: out of memory", path);
        return false;
    }
    for (size_t i = 0; i < json_array_size(actions); i++) {
        char apath[128];
        snprintf(apath, sizeof apath, "%s.actions[%zu]", path, i);
        out->nactions = i + 1; /* what route_fini frees */
        if (!parse_action(json_array_get(actions, i), apath, &out->actions[i], gateway, arg, err,
                          errlen))
            return false;
    }
    return true;
}

static int route_order(const struct dp_route *x, const struct dp_route *y) {
    return (x->priority > y->priority) - (x->priority < y->priority);
}

dialplan_t *dialplan_parse(const char *text, size_t len, dialplan_gateway_fn gateway, void *arg,
                           char *err, size_t errlen) {
    json_error_t je;
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
    if (!root) {
        fail(err, errlen, "line %d column %d: %s", je.line, je.column, je.text);
        return NULL;
    }
    dialplan_t *dp = calloc(1, sizeof *dp);
    json_t *routes = json_object_get(root, "routes");
    bool ok = dp != NULL;
    if (!ok)
        fail(err, errlen, "out of memory");
    else if (!json_is_object(root)) {
        fail(err, errlen, "$: must be an object with \"routes\"");
        ok = false;
    } else if (!get_string(root, "version", false, "$", &dp->version, err, errlen)) {
        ok = false;
    } else if (!json_is_array(routes)) {
        fail(err, errlen, "$.routes: must be an array");
        ok = false;
    } else if (json_array_size(routes) > DP_MAX_ROUTES) {
        fail(err, errlen, "$.routes: more than %d routes", DP_MAX_ROUTES);
        ok = false;
    }
    if (ok && json_array_size(routes)) {
        dp->routes = calloc(json_array_size(routes), sizeof *dp->routes);
        if (!dp->routes) {
            fail(err, errlen, "out of memory");
            ok = false;
        }
    }
    for (size_t i = 0; ok && i < json_array_size(routes); i++) {
        char path[64];
        snprintf(path, sizeof path, "routes[%zu]", i);
        dp->nroutes = i + 1;
        ok = parse_route(json_array_get(routes, i), path, &dp->routes[i], gateway, arg, err,
                         errlen);
        for (size_t k = 0; ok && k < i; k++)
            if (strcmp(dp->routes[k].id, dp->routes[i].id) == 0) {
                fail(err, errlen, "%s.id: '%s' is also the id of routes[%zu]", path,
                     dp->routes[i].id, k);
                ok = false;
            }
    }
    json_decref(root);
    if (!ok) {
        dialplan_free(dp);
        return NULL;
    }
    for (size_t i = 1; i < dp->nroutes; i++) /* insertion sort: stable, routes are few */
        for (size_t k = i; k > 0 && route_order(&dp->routes[k - 1], &dp->routes[k]) > 0; k--) {
            struct dp_route t = dp->routes[k];
            dp->routes[k] = dp->routes[k - 1];
            dp->routes[k - 1] = t;
        }
    return dp;
}

dialplan_t *dialplan_load(const char *path, dialplan_gateway_fn gateway, void *arg, char *err,
                          size_t errlen) {
    return dialplan_load_at(-1, path, gateway, arg, err, errlen);
}

dialplan_t *dialplan_load_at(int dirfd, const char *path, dialplan_gateway_fn gateway, void *arg,
                             char *err, size_t errlen) {
    int fd = res_open_at(dirfd, path);
    FILE *f = fd >= 0 ? fdopen(fd, "rb") : NULL;
    if (!f) {
        fail(err, errlen, "%s: %s", path, strerror(fd < 0 ? -fd : errno));
        if (fd >= 0)
            close(fd);
        return NULL;
    }
    char *buf = malloc(DP_MAX_FILE + 1);
    size_t n = buf ? fread(buf, 1, DP_MAX_FILE + 1, f) : 0;
    bool read_error = ferror(f);
    fclose(f);
    if (!buf || read_error || n > DP_MAX_FILE) {
        fail(err, errlen, "%s: %s", path,
             !buf ? "out of memory" : read_error ? "read error" : "larger than 4 MiB");
        free(buf);
        return NULL;
    }
    char inner[512];
    dialplan_t *dp = dialplan_parse(buf, n, gateway, arg, inner, sizeof inner);
    free(buf);
    if (!dp)
        fail(err, errlen, "%s: %s", path, inner);
    return dp;
}

const struct dp_route *dialplan_match(const dialplan_t *dp, const char *destination,
                                      enum dp_from caller) {
    if (!dp || !destination)
        return NULL;
    for (size_t i = 0; i < dp->nroutes; i++)
        if (dp->routes[i].enabled &&
            (dp->routes[i].from == DP_FROM_ANY || dp->routes[i].from == caller) &&
            fnmatch(dp->routes[i].pattern, destination, 0) == 0)
            return &dp->routes[i];
    return NULL;
}

int dialplan_expand(const char *tmpl, const struct dp_vars *v, char *out, size_t cap) {
    return dialplan_expand_with(tmpl, v, NULL, out, cap);
}

int dialplan_expand_with(const char *tmpl, const struct dp_vars *v, dialplan_escape_fn escape,
                         char *out, size_t cap) {
    static const char *const names[] = {"destination", "caller_id", "caller_name", "call_id"};
    const char *values[] = {v->destination, v->caller_id, v->caller_name, v->call_id};
    size_t n = 0;
    for (const char *p = tmpl; *p;) {
        const char *val = NULL;
        size_t skip = 0;
        if (p[0] == '$' && p[1] == '{') {
            const char *close = strchr(p + 2, '}');
            for (size_t i = 0; close && i < sizeof names / sizeof names[0]; i++)
                if ((size_t)(close - p - 2) == strlen(names[i]) &&
                    strncmp(p + 2, names[i], strlen(names[i])) == 0) {
                    val = values[i] ? values[i] : "";
                    skip = (size_t)(close - p + 1);
                }
        }
        if (!val) {
            val = p;
            skip = 1;
        } else if (escape) {
            int e = escape(val, out + n, cap - n);
            if (e < 0)
                return -ENOSPC;
            n += (size_t)e;
            p += skip;
            continue;
        }
        size_t len = val == p ? 1 : strlen(val);
        if (n + len >= cap)
            return -ENOSPC;
        memcpy(out + n, val, len);
        n += len;
        p += skip;
    }
    if (cap == 0)
        return -ENOSPC;
    out[n] = '\0';
    return (int)n;
}

int dialplan_hangup_status(const char *reason) {
    if (reason && strcmp(reason, "busy") == 0)
        return 486;
    if (reason && strcmp(reason, "rejected") == 0)
        return 603;
    return 480;
}
