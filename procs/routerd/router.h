/*
 * NAME
 *   router - routerd's call routing: RouteRequest -> the dialplan's route and actions.
 * DESCRIPTION
 *   Loads dialplan_path at start and at every reload (dialplan.h); a file that does not
 *   load is refused with its JSON path in the log and the running dialplan stays (at
 *   start there is then none: every RouteRequest gets 503 until a good one loads).
 *   router_route answers a RouteRequest: 404 when no route matches the destination, 200
 *   with the route's actions, their variables expanded, dial targets resolved to an AOR
 *   (user/NAME -> sip:NAME@domain, user/NAME@DOMAIN -> sip:NAME@DOMAIN, both in the
 *   registrar's canonical form with the worker's served domain, router_user_aor, for
 *   dialogd's LocationRequest) or a Request-URI
 *   (sip:URI; gateway/NAME -> sip:DESTINATION@gateway from dialplan_gateways). When the
 *   first action is a dial to user/NAME, the reply waits for that AOR's lookup
 *   (registrar_lookup: the LocationRequest's Redis read, statuses 200/404/503 and
 *   timeout) and carries it in that action's location; it is never sent on a channel
 *   that closed meanwhile (the registrar forgets it, registrar_peer_closed).
 *   router_reload_request reloads on apid's request and answers with the outcome.
 * OWNERSHIP
 *   router_t belongs to routerd's context; it owns its dialplan and borrows the
 *   registrar, which must outlive every lookup it was given (registrar_stop answers them).
 *   A reply waiting for a location owns a copy of its strings (a reload may free the
 *   dialplan meanwhile).
 * LOOP
 *   routerd's loop.
 * ERRORS
 *   Load errors are logged (file and JSON path) and counted in dialplan_errors; requests
 *   are always answered.
 */
#ifndef SB_ROUTERD_ROUTER_H
#define SB_ROUTERD_ROUTER_H

#include <stdbool.h>

#include "domains.h"
#include "registrar.h"
#include "worker.h"

typedef struct router router_t;

/* The longest a RouteReply waits for its first dial's location (7/8 of register_timeout
 * when that is shorter): it must reach dialogd before dialogd's own 2 s timeout. */
#define ROUTER_LOCATION_MAX_WAIT_MS 1750

/* A router with the dialplan of w's main.cf loaded (or none, logged), looking up first
 * dials with registrar. NULL: no memory. */
/* dirfd: a descriptor of dialplan_path's directory opened before the privilege drop
 * (taken), or -1. */
router_t *router_new(worker_t *w, registrar_t *registrar, int dirfd);
/* Loads the dialplan again (main.cf reloaded, or switchboard reload): true when the new
 * one is in force; false keeps the old one. */
bool router_reload(router_t *r);
/* Whether a dialplan is loaded (routerd is not ready to route without one). */
bool router_has_dialplan(const router_t *r);
/* The same on a DialplanReloadRequest (apid's POST /api/v1/dialplan/reload): answers a
 * DialplanReloadReply, 200 with the routes now running or 400 with the error (file and
 * JSON path). */
void router_reload_request(router_t *r, ipc_chan_t *ch, const Sb__Envelope *env);
/* Answers a RouteRequest with a RouteReply, at once or after the first dial's lookup. */
void router_route(router_t *r, ipc_chan_t *ch, const Sb__Envelope *env);
void router_free(router_t *r);

/* The AOR a dial to user/TARGET looks up, into aor, in the registrar's canonical form
 * (domains_aor, RFC 3261 10.3, d the served domain, borrowed): TARGET is NAME@DOMAIN, or
 * NAME at domain (a RouteRequest's, the Request-URI host; NULL or empty: our domain).
 * A host of ours becomes the domain's name, another is lower-cased; a port, parameters
 * and headers are dropped; NAME keeps its case. False when TARGET or the host is not an
 * AOR's, or when it does not fit cap. */
bool router_user_aor(const domains_t *d, const char *target, const char *domain, char *aor,
                     size_t cap);

/* The URI of gateway name in a dialplan_gateways list, into uri; false when absent. */
bool router_gateway_uri(const char *list, const char *name, char *uri, size_t cap);

#endif
