/* transport_tls - see transport_tls.h */
#include "transport_tls.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

struct tls_ctx {
    SSL_CTX *ssl;
    bool server;
};

struct tls_session {
    SSL *ssl;
    BIO *rbio, *wbio; /* network -> SSL, SSL -> network (owned by ssl) */
    char *pending;    /* cleartext written before the handshake was done */
    size_t pending_len;
    bool failed;
};

static void last_error(const char *what, char *err, size_t errlen) {
    unsigned long e = ERR_get_error();
    char buf[200] = "";
    if (e)
        ERR_error_string_n(e, buf, sizeof buf);
    snprintf(err, errlen, "%s%s%s", what, *buf ? ": " : "", buf);
    ERR_clear_error();
}

static SSL_CTX *ctx_base(bool server) {
    SSL_CTX *s = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());
    if (!s)
        return NULL;
    SSL_CTX_set_min_proto_version(s, TLS1_2_VERSION);
    SSL_CTX_set_mode(s, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    SSL_CTX_set_options(s, SSL_OP_NO_RENEGOTIATION);
    return s;
}

struct tls_ctx *tls_ctx_server_new(const char *cert_pem, size_t cert_len, const char *key_pem,
                                   size_t key_len, char *err, size_t errlen) {
    struct tls_ctx *c = calloc(1, sizeof *c);
    SSL_CTX *s = c ? ctx_base(true) : NULL;
    BIO *b = NULL;
    X509 *x = NULL;
    EVP_PKEY *k = NULL;
    if (!s) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    b = BIO_new_mem_buf(cert_pem, (int)cert_len);
    x = b ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL;
    if (!x || SSL_CTX_use_certificate(s, x) != 1) {
        last_error("no usable PEM certificate", err, errlen);
        goto fail;
    }
    for (X509 *chain; (chain = PEM_read_bio_X509(b, NULL, NULL, NULL));)
        if (SSL_CTX_add_extra_chain_cert(s, chain) != 1) { /* takes chain on success */
            X509_free(chain);
            last_error("certificate chain", err, errlen);
            goto fail;
        }
    ERR_clear_error(); /* the end of the chain */
    BIO_free(b);
    b = BIO_new_mem_buf(key_pem, (int)key_len);
    k = b ? PEM_read_bio_PrivateKey(b, NULL, NULL, NULL) : NULL;
    if (!k) {
        last_error("no usable PEM private key", err, errlen);
        goto fail;
    }
    if (SSL_CTX_use_PrivateKey(s, k) != 1 || SSL_CTX_check_private_key(s) != 1) {
        last_error("the private key does not match the certificate", err, errlen);
        goto fail;
    }
    X509_free(x);
    EVP_PKEY_free(k);
    BIO_free(b);
    c->ssl = s;
    c->server = true;
    return c;
fail:
    X509_free(x);
    EVP_PKEY_free(k);
    BIO_free(b);
    SSL_CTX_free(s);
    free(c);
    return NULL;
}

struct tls_ctx *tls_ctx_client_new(const char *ca_file, char *err, size_t errlen) {
    struct tls_ctx *c = calloc(1, sizeof *c);
    SSL_CTX *s = c ? ctx_base(false) : NULL;
    if (!s) {
        snprintf(err, errlen, "out of memory");
        free(c);
        return NULL;
    }
    int ok = ca_file && *ca_file ? SSL_CTX_load_verify_locations(s, ca_file, NULL)
                                 : SSL_CTX_set_default_verify_paths(s);
    if (ok != 1) {
        last_error(ca_file && *ca_file ? "cannot load the CA file" : "no system CA store", err,
                   errlen);
        SSL_CTX_free(s);
        free(c);
        return NULL;
    }
    SSL_CTX_set_verify(s, SSL_VERIFY_PEER, NULL);
    c->ssl = s;
    return c;
}

void tls_ctx_free(struct tls_ctx *ctx) {
    if (!ctx)
        return;
    SSL_CTX_free(ctx->ssl);
    free(ctx);
}

void tls_ctx_fingerprint(const struct tls_ctx *ctx, char out[65]) {
    unsigned char md[32];
    unsigned int n = 0;
    X509 *x = ctx ? SSL_CTX_get0_certificate(ctx->ssl) : NULL;
    out[0] = '\0';
    if (!x || X509_digest(x, EVP_sha256(), md, &n) != 1 || n != sizeof md)
        return;
    for (unsigned i = 0; i < n; i++)
        snprintf(out + 2 * i, 3, "%02X", md[i]);
}

struct tls_session *tls_session_new(struct tls_ctx *ctx, const char *host) {
    struct tls_session *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    t->ssl = SSL_new(ctx->ssl);
    t->rbio = BIO_new(BIO_s_mem());
    t->wbio = BIO_new(BIO_s_mem());
    if (!t->ssl || !t->rbio || !t->wbio)
        goto fail;
    SSL_set_bio(t->ssl, t->rbio, t->wbio); /* ssl owns them from here */
    if (ctx->server) {
        SSL_set_accept_state(t->ssl);
        return t;
    }
    SSL_set_connect_state(t->ssl);
    if (host && *host) {
        unsigned char bin[16];
        bool ip = inet_pton(AF_INET, host, bin) == 1 || inet_pton(AF_INET6, host, bin) == 1;
        X509_VERIFY_PARAM *vp = SSL_get0_param(t->ssl);
        /* RFC 5922 7.2: the name (or address) we dialed must be in the certificate */
        if (ip ? X509_VERIFY_PARAM_set1_ip_asc(vp, host) != 1
               : (SSL_set_tlsext_host_name(t->ssl, host) != 1 ||
                  X509_VERIFY_PARAM_set1_host(vp, host, 0) != 1))
            goto fail_ssl;
    }
    return t;
fail:
    BIO_free(t->rbio);
    BIO_free(t->wbio);
fail_ssl:
    SSL_free(t->ssl);
    free(t);
    ERR_clear_error();
    return NULL;
}

void tls_session_free(struct tls_session *t) {
    if (!t)
        return;
    SSL_free(t->ssl);
    free(t->pending);
    free(t);
}

int tls_session_input(struct tls_session *t, const char *raw, size_t len) {
    while (len) {
        int n = BIO_write(t->rbio, raw, len > 65536 ? 65536 : (int)len);
        if (n <= 0)
            return -ENOMEM;
        raw += n;
        len -= (size_t)n;
    }
    return 0;
}

bool tls_session_established(const struct tls_session *t) {
    return SSL_is_init_finished(t->ssl);
}

/* Writes what waited for the handshake. */
static int flush_pending(struct tls_session *t) {
    size_t off = 0;
    while (off < t->pending_len) {
        int n = SSL_write(t->ssl, t->pending + off, (int)(t->pending_len - off));
        if (n <= 0) {
            ERR_clear_error();
            t->failed = true;
            return -ECONNRESET;
        }
        off += (size_t)n;
    }
    free(t->pending);
    t->pending = NULL;
    t->pending_len = 0;
    return 0;
}

ssize_t tls_session_read(struct tls_session *t, char *out, size_t cap) {
    if (t->failed)
        return -ECONNRESET;
    if (!SSL_is_init_finished(t->ssl)) {
        int r = SSL_do_handshake(t->ssl);
        if (r != 1) {
            int e = SSL_get_error(t->ssl, r);
            if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
                return 0;
            long v = SSL_get_verify_result(t->ssl);
            ERR_clear_error();
            t->failed = true;
            return v != X509_V_OK ? -EACCES : -ECONNRESET;
        }
        if (flush_pending(t) < 0)
            return -ECONNRESET;
    }
    if (cap == 0)
        return 0;
    int n = SSL_read(t->ssl, out, cap > 65536 ? 65536 : (int)cap);
    if (n > 0)
        return n;
    int e = SSL_get_error(t->ssl, n);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
        return 0;
    ERR_clear_error();
    t->failed = true;
    return e == SSL_ERROR_ZERO_RETURN ? -ESHUTDOWN : -ECONNRESET;
}

int tls_session_write(struct tls_session *t, const char *buf, size_t len) {
    if (t->failed)
        return -ECONNRESET;
    if (!SSL_is_init_finished(t->ssl) || t->pending_len) {
        char *p = realloc(t->pending, t->pending_len + len);
        if (!p)
            return -ENOMEM;
        memcpy(p + t->pending_len, buf, len);
        t->pending = p;
        t->pending_len += len;
        if (!SSL_is_init_finished(t->ssl)) {
            int r = SSL_do_handshake(t->ssl); /* a client's first flight */
            if (r != 1) {
                int e = SSL_get_error(t->ssl, r);
                ERR_clear_error();
                if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) {
                    t->failed = true;
                    return -ECONNRESET;
                }
                return 0;
            }
        }
        return flush_pending(t);
    }
    size_t off = 0;
    while (off < len) {
        int n = SSL_write(t->ssl, buf + off, (int)(len - off > 65536 ? 65536 : len - off));
        if (n <= 0) {
            ERR_clear_error();
            t->failed = true;
            return -ECONNRESET;
        }
        off += (size_t)n;
    }
    return 0;
}

size_t tls_session_output(struct tls_session *t, char *out, size_t cap) {
    int n = BIO_read(t->wbio, out, cap > 65536 ? 65536 : (int)cap);
    return n > 0 ? (size_t)n : 0;
}
