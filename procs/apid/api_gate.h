/*
 * NAME
 *   api_gate - the checks every request passes before any route sees it: the Host
 *   allowlist, the Origin (CORS), the preflight and the bearer token.
 * DESCRIPTION
 *   api_gate_check runs first in api_handle, for every path, so a route added to api.c
 *   is guarded without a word of its own. In order:
 *   1. refuse set (apid has no token and may not serve without one): 503 to everything.
 *   2. Host: its host part (port dropped) must be one of hosts (the node's addresses,
 *      localhost, api_listen's, api_allowed_hosts), else 421: a page whose name an
 *      attacker rebinds to our address (DNS rebinding) sends its own name. A request
 *      without Host (HTTP/1.0) passes: a browser always sends one.
 *   The dashboard files stop here (public). For /api/ and /metrics:
 *   3. Origin, when sent: the request's own origin (scheme://Host), one naming this apid
 *      under another of its names (our scheme, a host rule 2 accepts, the port of Host) or
 *      an origin of api_peers passes; the last two get Access-Control-Allow-Origin naming
 *      it (never "*") and Vary: Origin. Any other origin: 403, whatever the method or
 *      token. Without a token (insecure mode) a peer's request may only read (GET, HEAD).
 *   4. OPTIONS under /api/ is the preflight: 204, with the Allow-Methods, -Headers and
 *      Max-Age headers only for a peer's origin (methods: GET only without a token).
 *   5. The token (api_token_ok), unless the path is public (public_path) or the gate has
 *      none (insecure mode): 401 with WWW-Authenticate.
 * OWNERSHIP
 *   Borrows everything; what it adds to an answer (the echoed origin) lives in the answer
 *   (api_answer_fini frees it).
 * LOOP
 *   apid's loop (pure code).
 * ERRORS
 *   Out of memory while echoing an origin: 500.
 */
#ifndef SB_API_GATE_H
#define SB_API_GATE_H

#include <stdbool.h>
#include <stddef.h>

#include "domains.h"

struct api_answer;
struct api_request;

struct api_gate {
    const char *refuse;     /* non-NULL: why apid serves nothing (every answer 503) */
    const char *token;      /* the bearer token; NULL or "": none needed (insecure mode) */
    const domains_t *hosts; /* what Host may name; NULL: any */
    const char *peers;      /* main.cf api_peers: the origins allowed cross-origin */
    bool tls;               /* served over TLS: the request's own origin is https:// */
};

/* 0: go on to the routes (ans untouched, or with CORS headers); else the status of the
 * answer put in ans. api: the path is under /api/ or is /metrics; public_path: a route that
 * needs no token (health). gate NULL: no checks but the token of env (unit tests). */
int api_gate_check(const struct api_gate *gate, const struct api_request *req, bool api,
                   bool public_path, struct api_answer *ans);
/* True when origin (as sent in an Origin header) is one of the origins of the api_peers
 * list peers (space or comma separated base URLs), compared without case. */
bool api_gate_peer_origin(const char *peers, const char *origin);
/* True when the Host header host (host[:port], IPv6 in brackets) names one of hosts. */
bool api_gate_host_ok(const domains_t *hosts, const char *host);

#endif
