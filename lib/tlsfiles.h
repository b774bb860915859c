/*
 * NAME
 *   tlsfiles - sipd's TLS certificate and key (sip_tls_cert, sip_tls_key) as PEM text.
 * DESCRIPTION
 *   sipd reads them as root when it starts; after its privilege drop it may not read them
 *   again, so at a reload master reads them (it runs as root) and hands the PEM text to
 *   sipd in the RELOAD control (Control.sip_tls_cert_pem and sip_tls_key_pem). Nothing is
 *   read when sip_tls_cert is empty. The text is NUL-terminated; never parsed here.
 * OWNERSHIP
 *   The caller owns the struct; tlsfiles_free wipes the key and frees both.
 * LOOP
 *   Start-up (sipd) or master's loop (reload).
 * ERRORS
 *   tlsfiles_read: -1 with err naming main.cf, the parameter and the file (unreadable,
 *   empty, over TLSFILES_MAX bytes); nothing is kept then.
 */
#ifndef SB_MASTER_TLSFILES_H
#define SB_MASTER_TLSFILES_H

#include <stddef.h>

#include "cfg.h"

#define TLSFILES_MAX 16384 /* each; both go in one IPC envelope with main.cf */

struct tlsfiles {
    char *cert, *key;
    size_t cert_len, key_len;
};

int tlsfiles_read(const cfg_t *cfg, struct tlsfiles *f, char *err, size_t errlen);
void tlsfiles_free(struct tlsfiles *f);

#endif
