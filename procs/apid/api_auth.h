/*
 * NAME
 *   api_auth - the REST routes of digest authentication's data: subscribers and bans
 *   (docs/api.md, docs/security.md).
 * DESCRIPTION
 *   GET /api/v1/subscribers, GET|PUT|DELETE /api/v1/subscribers/{user}[@realm] (PUT's
 *   body {"password": "..."}: only the two HA1 hashes are kept, computed here; the realm
 *   is the served domain unless the path names one), GET /api/v1/bans and DELETE
 *   /api/v1/bans/{address}. api_auth_handle checks method, name and body and hands the
 *   Redis work to authstore.h as an api_auth_op (API_OP_AUTH). Pure code, as api.c.
 * OWNERSHIP
 *   ans->auth_op is malloc'd (api_answer_fini frees it).
 * LOOP
 *   apid's loop (pure code).
 * ERRORS
 *   400 (a bad name or body), 405, 413, 503 (Redis down), 500 (out of memory).
 */
#ifndef SB_API_AUTH_H
#define SB_API_AUTH_H

#include <stdbool.h>
#include <stddef.h>

#include "digest.h"

struct api_env;
struct api_request;
struct api_answer;

#define API_SUBSCRIBERS "/api/v1/subscribers"
#define API_BANS "/api/v1/bans"

enum api_auth_kind {
    API_AUTH_SUB_LIST,
    API_AUTH_SUB_GET,
    API_AUTH_SUB_PUT,
    API_AUTH_SUB_DELETE,
    API_AUTH_BAN_LIST,
    API_AUTH_BAN_DELETE,
};

struct api_auth_op {
    enum api_auth_kind kind;
    char user[130], realm[256];                               /* subscribers */
    char address[64];                                         /* bans: a numeric address */
    char ha1_md5[DIGEST_HEX_MAX], ha1_sha256[DIGEST_HEX_MAX]; /* PUT */
};

/* Whether the path (path_len bytes of url) is one of these routes. */
bool api_auth_path(const char *url, size_t path_len);
/* Answers ans for one of those paths (token already checked): API_OP_AUTH with
 * ans->auth_op, or an error status. Returns the status. */
int api_auth_handle(const struct api_env *env, const struct api_request *req, size_t path_len,
                    struct api_answer *ans);

#endif
