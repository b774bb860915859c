/* tlsfiles - see tlsfiles.h */
#include "tlsfiles.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

static int read_one(const cfg_t *cfg, enum cfg_param p, char **out, size_t *len, char *err,
                    size_t errlen) {
    const char *path = cfg_str(cfg, p);
    FILE *f = fopen(path, "re");
    if (!f) {
        snprintf(err, errlen, "%s:%d: %s = %s: %s", cfg_file(cfg), cfg_line(cfg, p),
                 cfg_param_info(p)->name, path, strerror(errno));
        return -1;
    }
    char *text = malloc(TLSFILES_MAX + 1);
    size_t n = text ? fread(text, 1, TLSFILES_MAX + 1, f) : 0;
    bool bad = ferror(f) || n == 0 || n > TLSFILES_MAX;
    fclose(f);
    if (!text || bad) {
        if (text)
            OPENSSL_cleanse(text, TLSFILES_MAX + 1);
        free(text);
        snprintf(err, errlen, "%s:%d: %s = %s: %s", cfg_file(cfg), cfg_line(cfg, p),
                 cfg_param_info(p)->name, path,
                 text ? "empty, unreadable or over 16 KB" : "out of memory");
        return -1;
    }
    text[n] = '\0';
    *out = text;
    *len = n;
    return 0;
}

int tlsfiles_read(const cfg_t *cfg, struct tlsfiles *f, char *err, size_t errlen) {
    memset(f, 0, sizeof *f);
    if (!*cfg_str(cfg, CFG_sip_tls_cert) || !*cfg_str(cfg, CFG_sip_tls_key))
        return 0;
    if (read_one(cfg, CFG_sip_tls_cert, &f->cert, &f->cert_len, err, errlen) < 0 ||
        read_one(cfg, CFG_sip_tls_key, &f->key, &f->key_len, err, errlen) < 0) {
        tlsfiles_free(f);
        return -1;
    }
    return 0;
}

void tlsfiles_free(struct tlsfiles *f) {
    if (f->key)
        OPENSSL_cleanse(f->key, f->key_len);
    free(f->cert);
    free(f->key);
    memset(f, 0, sizeof *f);
}
