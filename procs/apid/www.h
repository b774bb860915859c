/*
 * NAME
 *   www - the dashboard's files (procs/apid/www/), compiled into apid.
 * DESCRIPTION
 *   The build turns every file of procs/apid/www/ into a constant array
 *   (procs/apid/www_gen.sh writes $(BUILD)/gen/www.c), so apid serves the dashboard
 *   without reading the disk: it runs chrooted and unprivileged, and a binary and its
 *   dashboard can never disagree. No CDN, no network: the page is plain JS.
 * OWNERSHIP
 *   Everything is static and read-only.
 * LOOP
 *   Any (pure lookups).
 * ERRORS
 *   www_find returns NULL for a path it does not have.
 * SEE ALSO
 *   api.h (API_OP_FILE), docs/api.md
 */
#ifndef SB_WWW_H
#define SB_WWW_H

#include <stddef.h>

struct www_file {
    const char *path;         /* "/index.html" */
    const char *content_type; /* from the file's extension */
    const unsigned char *data;
    size_t len;
};

/* The file served at path ("/app.js"), or NULL. */
const struct www_file *www_find(const char *path);

#endif
