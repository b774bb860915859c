/*
 * NAME
 *   dialplan - the routes of dialplan.json (the Go prototype's format) and their matching.
 * DESCRIPTION
 *   dialplan_parse reads the prototype's JSON unchanged: `version`, `routes[]` of `id`
 *   (required, unique), `name`, `pattern` (required: a glob on the dialed user part,
 *   fnmatch(3) rules: `500`, `1*`, `*500`, `*`), `priority` (lower first, default 100),
 *   `enabled` (default true), `from` (who the route serves: `any`, the default,
 *   `trusted` for sip_trusted_peers only, `authenticated` for subscribers only, so a
 *   gateway route can be kept from callers who came in from a trunk) and `actions[]`
 *   (required, at least one) of
 *   `{"type": "play_audio" | "dial" | "hangup", "params": {...}}`: play_audio needs
 *   `file` (relative to audio_path, no `..`), dial needs `target` (`user/NAME`,
 *   `user/NAME@DOMAIN` whose DOMAIN, unless it holds a variable, is a host name or
 *   address, `sip:URI`, `gateway/NAME` of dialplan_gateways) and takes `timeout` (seconds,
 *   1..3600, default 30), hangup takes `reason` (normal, busy, rejected, unavailable).
 *   Every error names the JSON path of the offending value
 *   (`routes[2].actions[0].params.timeout: ...`) or the line and column of a syntax
 *   error. Unknown keys are ignored (the prototype's tooling may add its own).
 *   dialplan_match gives the first enabled route of lowest priority (file order among
 *   equals) whose pattern matches and whose `from` serves the caller. dialplan_expand
 *   substitutes `${destination}`, `${caller_id}`, `${caller_name}` and `${call_id}`.
 *   Never does I/O but dialplan_load's read of the file; never logs.
 * OWNERSHIP
 *   A dialplan_t owns all its strings; routes and actions returned point into it and
 *   live until dialplan_free.
 * LOOP
 *   routerd's loop (pure code).
 * ERRORS
 *   dialplan_parse/load return NULL and fill err ("path: what") on any error.
 */
#ifndef SB_ROUTERD_DIALPLAN_H
#define SB_ROUTERD_DIALPLAN_H

#include <stdbool.h>
#include <stddef.h>

#define DIALPLAN_DEFAULT_PRIORITY 100
#define DIALPLAN_DEFAULT_TIMEOUT 30

enum dp_action_type { DP_PLAY_AUDIO, DP_DIAL, DP_HANGUP };

struct dp_action {
    enum dp_action_type type;
    char *file;   /* play_audio */
    char *target; /* dial, before expansion */
    int timeout;  /* dial, seconds */
    char *reason; /* hangup */
};

/* Who a route serves ("from"): anyone, trusted peers only, authenticated subscribers
 * only; and who a call comes from (DP_FROM_ANY: neither, sip_auth off). */
enum dp_from { DP_FROM_ANY, DP_FROM_TRUSTED, DP_FROM_AUTHENTICATED };

struct dp_route {
    char *id, *name, *pattern;
    int priority;
    bool enabled;
    enum dp_from from;
    struct dp_action *actions;
    size_t nactions;
};

typedef struct dialplan {
    char *version;
    struct dp_route *routes; /* sorted: priority, then file order */
    size_t nroutes;
} dialplan_t;

/* Whether a gateway name is configured (dial targets gateway/NAME are checked). */
typedef bool (*dialplan_gateway_fn)(void *arg, const char *name);

dialplan_t *dialplan_parse(const char *text, size_t len, dialplan_gateway_fn gateway, void *arg,
                           char *err, size_t errlen);
/* Reads and parses path; errors start with the path. */
dialplan_t *dialplan_load(const char *path, dialplan_gateway_fn gateway, void *arg, char *err,
                          size_t errlen);
/* The same, path opened relative to dirfd, a descriptor of its directory (res_open_at;
 * -1: by its whole path), as routerd does after its privilege drop. */
dialplan_t *dialplan_load_at(int dirfd, const char *path, dialplan_gateway_fn gateway, void *arg,
                             char *err, size_t errlen);
void dialplan_free(dialplan_t *dp);

/* The first route for destination that serves a caller of kind caller (a route "from"
 * trusted or authenticated serves only that kind; a caller that is both, trusted and
 * authenticated, counts as trusted). */
const struct dp_route *dialplan_match(const dialplan_t *dp, const char *destination,
                                      enum dp_from caller);

struct dp_vars {
    const char *destination, *caller_id, *caller_name, *call_id;
};
/* tmpl with its ${...} variables replaced; unknown ones are kept as written. Returns the
 * length or -ENOSPC. */
int dialplan_expand(const char *tmpl, const struct dp_vars *vars, char *out, size_t cap);
/* Writes in escaped into out (NUL-terminated, cap bytes): its length or -ENOSPC. */
typedef int (*dialplan_escape_fn)(const char *in, char *out, size_t cap);
/* dialplan_expand with every variable's value written through escape (NULL: as it is). */
int dialplan_expand_with(const char *tmpl, const struct dp_vars *vars, dialplan_escape_fn escape,
                         char *out, size_t cap);

/* The SIP code of a hangup reason before the call is answered: busy 486, rejected 603,
 * unavailable 480, normal (or none) 480. */
int dialplan_hangup_status(const char *reason);

#endif
