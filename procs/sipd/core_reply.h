/*
 * NAME
 *   core_reply - sipd's answers: stateless ones and those of a server transaction.
 * DESCRIPTION
 *   core_reply_stateless answers a request too malformed to have a transaction;
 *   core_txn_start opens the server transaction of a request (its echo of Via, From, To,
 *   Call-ID, CSeq, and a To tag that is a keyed hash of the request, so a retransmission
 *   gets the same one); core_reply and core_reply_body answer in it, core_reply_warning
 *   adds a Warning (399) naming the problem. Responses go where RFC 3261 18.2.2 and RFC
 *   3581 say. The bottom layer of the core: calls nothing above it.
 * OWNERSHIP
 *   Builds into the core's buffers; a transaction keeps its own copy of what it sends.
 * LOOP
 *   sipd's loop.
 * ERRORS
 *   A response that does not fit is replaced by a 500; out of memory: logged, not sent.
 */
#ifndef SB_SIPD_CORE_REPLY_H
#define SB_SIPD_CORE_REPLY_H

#include "core_int.h"

/* A stateless answer to m from src (status, reason; a Warning names reason). */
void core_reply_stateless(struct core *c, const sipmsg_t *m, const struct sipdest *src, int status,
                          const char *reason);
/* The same with a Retry-After of retry_after_s seconds (0: none), for a refusal that no
 * transaction remembers (overload: sip_max_transactions). */
void core_reply_stateless_retry(struct core *c, const sipmsg_t *m, const struct sipdest *src,
                                int status, const char *reason, unsigned retry_after_s);
/* Whether the ACK m acknowledges a stateless answer of ours to its INVITE (its To tag is
 * the one core_reply_stateless gave): nothing more to do with it. */
bool core_reply_acks_stateless(const struct core *c, const sipmsg_t *m);
/* The server transaction of cm's request (key, and merge key or NULL); NULL when out of
 * memory. It takes over cm->index_hash. */
struct txn *core_txn_start(struct core *c, struct core_msg *cm, const char *key, size_t key_len,
                           const char *merge_key, size_t merge_len);
/* Answers in t; headers are extra lines (each ending in CRLF), body its body. */
void core_reply_body(struct core *c, struct txn *t, int status, const char *reason,
                     const char *headers, size_t headers_len, const char *body, size_t body_len);
void core_reply(struct core *c, struct txn *t, int status, const char *reason, const char *headers,
                size_t headers_len);
void core_reply_warning(struct core *c, struct txn *t, int status, const char *reason,
                        const char *headers, size_t headers_len);

#endif
