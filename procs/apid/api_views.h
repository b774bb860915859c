/*
 * NAME
 *   api_views - the node's views: processes, health, stats, config, rtp managers and
 *   their drains, nodes of the HA pair, and the dashboard's Content-Security-Policy.
 * DESCRIPTION
 *   Each view reads only struct api_env (the shm process table, main.cf, the Redis link
 *   state, the registration count, the drain table, the clocks) and builds its document;
 *   no I/O, no state. An api_peers URL (http(s)://host[:port][/...]) is split here by one
 *   function, api_peer_origin; nothing here reads SIP.
 * OWNERSHIP
 *   env is borrowed. *doc and every json_t * returned are new references (the caller's).
 * LOOP
 *   apid's loop (pure code). Slots are read only through shm_proc_read.
 * ERRORS
 *   Views return the HTTP status: 200, 503 (health degraded, no config), 500 (out of
 *   memory, *doc left NULL).
 */
#ifndef SB_API_VIEWS_H
#define SB_API_VIEWS_H

#include <stddef.h>

#include <jansson.h>

#include "api_base.h"

/* GET /api/v1/health, processes, stats, config, rtpmanagers, nodes: the status, and the
 * document in *doc (also with a 503 of health). */
int api_view_health(const struct api_env *env, json_t **doc);
int api_view_processes(const struct api_env *env, json_t **doc);
int api_view_stats(const struct api_env *env, json_t **doc);
int api_view_config(const struct api_env *env, json_t **doc);
int api_view_rtpmanagers(const struct api_env *env, json_t **doc);
int api_view_nodes(const struct api_env *env, json_t **doc);

/* The mediad instance a drain node_id names ("mediad-3"): the number, or -1. */
int api_mediad_of_node(const char *node_id, size_t len);
/* The slot of mediad instance in the process table, or -1. */
int api_mediad_slot(const struct api_env *env, int instance);
/* GET /api/v1/rtpmanagers/{node_id}/drain of a drain (NULL: never drained); NULL when out
 * of memory. */
json_t *api_drain_json(const struct api_drain *d, int instance, int64_t now_wall_us);

/* The length of the origin (scheme://host[:port]) at the start of the api_peers URL of len
 * bytes at url: http or https only, a non-empty authority of [A-Za-z0-9:.[]-]; 0 when it
 * is not one. */
size_t api_peer_origin(const char *url, size_t len);
/* The dashboard's Content-Security-Policy: our own scripts only, fetches to us and to the
 * origins of api_peers (space or comma separated base URLs; anything but a plain
 * http(s)://host[:port] is left out). Its length, 0 when cap is too small. */
size_t api_csp(const char *peers, char *out, size_t cap);

#endif
