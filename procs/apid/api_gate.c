/* api_gate - see api_gate.h */
#include "api_gate.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api.h"
#include "api_views.h"

#define API_BEARER "Bearer realm=\"switchboard\""

bool api_token_ok(const char *token, const char *authorization, const char *access_token) {
    if (!token || !*token)
        return true;
    const char *given = access_token;
    if (authorization && strncasecmp(authorization, "Bearer ", 7) == 0) {
        given = authorization + 7;
        while (*given == ' ')
            given++;
    }
    if (!given)
        return false;
    /* Constant time in the candidate: every byte of the token is compared, whatever
     * the candidate's length or where it first differs. */
    size_t n = strlen(token), m = strlen(given);
    volatile unsigned char diff = (unsigned char)(n != m);
    for (size_t i = 0; i < n; i++)
        diff |= (unsigned char)token[i] ^ (unsigned char)(i < m ? given[i] : 0);
    return diff == 0;
}

static int api_gate_error(struct api_answer *ans, int status, const char *text) {
    ans->status = status;
    ans->body = api_error_text(status, text);
    ans->content_type = API_JSON;
    return status;
}

bool api_gate_host_ok(const domains_t *hosts, const char *host) {
    if (!hosts)
        return true;
    size_t len = strlen(host);
    if (len == 0 || len > DOMAINS_MAX_HOST + 6)
        return false;
    size_t hlen;
    if (host[0] == '[') { /* [v6]:port */
        const char *end = memchr(host, ']', len);
        if (!end || (end[1] && (end[1] != ':' || !end[2])))
            return false;
        hlen = (size_t)(end - host) + 1;
    } else {
        const char *colon = memchr(host, ':', len);
        if (colon && (memchr(colon + 1, ':', len - (size_t)(colon - host) - 1) || !colon[1]))
            return false;
        hlen = colon ? (size_t)(colon - host) : len;
    }
    for (size_t i = hlen; i < len; i++) /* the port: digits only */
        if (host[i] != ':' && host[i] != ']' && (host[i] < '0' || host[i] > '9'))
            return false;
    if (hlen > 1 && host[hlen - 1] == '.') /* "localhost." names the same host */
        hlen--;
    return hlen > 0 && domains_ours(hosts, host, hlen);
}

bool api_gate_peer_origin(const char *peers, const char *origin) {
    size_t olen = strlen(origin);
    const char *p = peers ? peers : "";
    while (*p) {
        p += strspn(p, " ,\t");
        size_t n = strcspn(p, " ,\t");
        size_t peer_len = n ? api_peer_origin(p, n) : 0;
        if (peer_len && peer_len == olen && strncasecmp(p, origin, olen) == 0)
            return true;
        p += n;
    }
    return false;
}

/* The port of a host[:port] text ("" when none: the scheme's default). */
static const char *api_gate_port(const char *hostport) {
    const char *end = hostport[0] == '[' ? strchr(hostport, ']') : hostport;
    const char *colon = end ? strrchr(end, ':') : NULL;
    return colon ? colon + 1 : "";
}

/* The request's own origin: scheme://Host, as a browser writes it for a page of ours. */
static bool api_gate_same_origin(const struct api_gate *g, const char *origin, const char *host) {
    const char *scheme = g->tls ? "https://" : "http://";
    size_t sl = strlen(scheme);
    return host && strncasecmp(origin, scheme, sl) == 0 && strcasecmp(origin + sl, host) == 0;
}

/* An origin naming this apid under another of its names: our scheme, a host the Host rule
 * accepts and the port the request came to (http://localhost:8080 reading
 * http://127.0.0.1:8080). A page there is ours. */
static bool api_gate_own_origin(const struct api_gate *g, const char *origin, const char *host) {
    const char *scheme = g->tls ? "https://" : "http://";
    size_t sl = strlen(scheme);
    if (!host || strncasecmp(origin, scheme, sl) != 0 || strchr(origin + sl, '/'))
        return false;
    const char *deflt = g->tls ? "443" : "80";
    const char *op = api_gate_port(origin + sl), *hp = api_gate_port(host);
    if (strcmp(*op ? op : deflt, *hp ? hp : deflt) != 0)
        return false;
    return api_gate_host_ok(g->hosts, origin + sl);
}

static bool api_gate_reads(const char *method) {
    return strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
}

/* Access-Control-Allow-Origin naming origin (a copy kept in ans), then extra pairs. */
static int api_gate_cors(struct api_answer *ans, const char *origin, bool preflight,
                         bool mutating_ok) {
    if (!(ans->cors_origin = strdup(origin)))
        return -1;
    size_t i = 0;
    ans->cors[i++] = "Access-Control-Allow-Origin";
    ans->cors[i++] = ans->cors_origin;
    ans->cors[i++] = "Vary";
    ans->cors[i++] = "Origin";
    if (preflight) {
        ans->cors[i++] = "Access-Control-Allow-Methods";
        ans->cors[i++] = mutating_ok ? "GET, POST, DELETE" : "GET";
        ans->cors[i++] = "Access-Control-Allow-Headers";
        ans->cors[i++] = "Authorization, Content-Type";
        ans->cors[i++] = "Access-Control-Max-Age";
        ans->cors[i++] = "600";
    }
    ans->cors[i] = NULL;
    ans->headers = ans->cors;
    return 0;
}

int api_gate_check(const struct api_gate *g, const struct api_request *req, bool api,
                   bool public_path, struct api_answer *ans) {
    if (g->refuse)
        return api_gate_error(ans, 503, g->refuse);
    if (req->host && !api_gate_host_ok(g->hosts, req->host))
        return api_gate_error(ans, 421,
                              "this server does not answer to that Host "
                              "(main.cf api_allowed_hosts)");
    if (!api)
        return 0; /* the dashboard's files: public code, no data */
    bool token_needed = g->token && *g->token;
    bool preflight = strcmp(req->method, "OPTIONS") == 0 && strncmp(req->url, "/api/", 5) == 0;
    bool peer = false;
    if (req->origin && !api_gate_same_origin(g, req->origin, req->host)) {
        bool own = g->hosts && api_gate_own_origin(g, req->origin, req->host);
        peer = own || api_gate_peer_origin(g->peers, req->origin);
        if (!peer)
            return api_gate_error(ans, 403, "origin not allowed (main.cf api_peers)");
        /* Without a token nothing but the origin stands between a page and our calls. */
        if (!own && !token_needed && !preflight && !api_gate_reads(req->method))
            return api_gate_error(ans, 403, "a cross-origin change needs the API token");
        if (api_gate_cors(ans, req->origin, preflight, token_needed || own) < 0)
            return api_gate_error(ans, 500, NULL);
    }
    /* A preflight carries no credentials: it learns only what the API accepts. */
    if (preflight) {
        ans->status = 204;
        return 204;
    }
    if (!public_path && token_needed &&
        !api_token_ok(g->token, req->authorization, req->access_token)) {
        ans->www_authenticate = API_BEARER;
        return api_gate_error(ans, 401, NULL);
    }
    return 0;
}
