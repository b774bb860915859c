/*
 * NAME
 *   transport_tls - the TLS layer of SIP over TLS (RFC 3261 26.2.1, RFC 5630), on memory
 *   BIOs (sipd).
 * DESCRIPTION
 *   A tls_ctx holds what every session of one side shares: the server side's certificate
 *   and key (PEM text, as read before the privilege drop), or the client side's CA store
 *   (a PEM file, or the system's default store) with peer verification on. A tls_session
 *   is one connection's TLS state with no socket: the transport feeds it the bytes read
 *   from the network (tls_session_input), takes the cleartext out (tls_session_read),
 *   hands it cleartext to protect (tls_session_write) and sends what it produced
 *   (tls_session_output) on the connection. Cleartext written before the handshake is
 *   done waits in the session and goes out once it is. A client session checks the
 *   peer's certificate against the CA store and the host (a name, or a numeric address
 *   against the certificate's IP entries). TLS 1.2 or later. Never does I/O, never
 *   parses SIP.
 * OWNERSHIP
 *   tls_ctx_free may be called while sessions made from it live (OpenSSL counts them).
 *   A session is owned by its connection (tls_session_free).
 * LOOP
 *   sipd's loop, through transport_tcp.
 * ERRORS
 *   tls_ctx_*_new: NULL with err filled (bad PEM, key not matching the certificate, CA
 *   file unreadable). tls_session_read: -ESHUTDOWN on the peer's close_notify,
 *   -ECONNRESET on a TLS error (or bytes that are not TLS), -EACCES when the peer's
 *   certificate failed verification.
 */
#ifndef SB_SIPD_TRANSPORT_TLS_H
#define SB_SIPD_TRANSPORT_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct tls_ctx;
struct tls_session;

/* The server side from a PEM certificate chain and its key (both borrowed). */
struct tls_ctx *tls_ctx_server_new(const char *cert_pem, size_t cert_len, const char *key_pem,
                                   size_t key_len, char *err, size_t errlen);
/* The client side: peers verified against ca_file (PEM), or the system store when ca_file
 * is NULL or empty. */
struct tls_ctx *tls_ctx_client_new(const char *ca_file, char *err, size_t errlen);
void tls_ctx_free(struct tls_ctx *ctx);
/* The SHA-256 fingerprint of the server side's certificate, as hex (65 bytes with NUL). */
void tls_ctx_fingerprint(const struct tls_ctx *ctx, char out[65]);

/* A session of ctx; a client one verifies the peer against host (copied; NULL: chain
 * only). NULL when out of memory. */
struct tls_session *tls_session_new(struct tls_ctx *ctx, const char *host);
void tls_session_free(struct tls_session *t);
/* Bytes read from the network. 0 or -ENOMEM. */
int tls_session_input(struct tls_session *t, const char *raw, size_t len);
/* Cleartext into out: >0 bytes, 0 when no more for now, negative on error (above). */
ssize_t tls_session_read(struct tls_session *t, char *out, size_t cap);
/* Cleartext to protect (copied): 0, -ENOMEM or -ECONNRESET. */
int tls_session_write(struct tls_session *t, const char *buf, size_t len);
/* Protected bytes to send, into out: >0 bytes, 0 when none. */
size_t tls_session_output(struct tls_session *t, char *out, size_t cap);
bool tls_session_established(const struct tls_session *t);

#endif
