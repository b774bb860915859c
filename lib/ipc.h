/*
 * NAME
 *   ipc - protobuf-c envelopes over Unix SOCK_SEQPACKET sockets on a libuv loop.
 * DESCRIPTION
 *   One packet carries one packed Sb__Envelope (proto/envelope.proto). A channel wraps a
 *   connected socket: it reads every packet the socket has when it becomes readable,
 *   unpacks it and calls on_envelope; a packet that is too big, does not unpack or has
 *   no body is dropped and reported through on_malformed (the process logs it); a
 *   zero-length packet cannot be told from EOF and ends the channel. Sends
 *   never block: what the socket cannot take now is queued (up to IPC_QUEUE_MAX bytes)
 *   and flushed when it becomes writable. Requests carry a request_id; the answer
 *   carries it in reply_to and is routed to the request's callback, or the callback gets
 *   NULL when the timeout passes or the channel closes first.
 *   Also: helpers to create listening sockets (master) and to connect (workers).
 * OWNERSHIP
 *   The channel owns its fd from ipc_chan_open on and closes it. The envelope passed to
 *   on_envelope or a reply callback is freed when the callback returns. ipc_send packs
 *   the caller's envelope and keeps nothing of it. After on_close the channel is freed.
 * LOOP
 *   The loop given to ipc_chan_open; callbacks run on it. Not thread-safe.
 * ERRORS
 *   Negative errno: -ENOBUFS queue full, -EMSGSIZE envelope over max size, -EPIPE closed.
 *   Never logs; counts rx/tx/malformed in the shm slot given with ipc_chan_set_slot.
 */
#ifndef SB_IPC_H
#define SB_IPC_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <uv.h>

#include "proto/envelope.pb-c.h"
#include "shm.h"

#define IPC_QUEUE_MAX (4u << 20)

typedef struct ipc_chan ipc_chan_t;

struct ipc_handlers {
    /* An envelope arrived that is not an answer to a pending request. */
    void (*on_envelope)(ipc_chan_t *ch, Sb__Envelope *env, void *arg);
    /* A packet of len bytes was dropped as malformed; why names the reason. */
    void (*on_malformed)(ipc_chan_t *ch, size_t len, const char *why, void *arg);
    /* The peer closed or the socket failed (err negative errno, 0 at EOF). */
    void (*on_close)(ipc_chan_t *ch, int err, void *arg);
};

/* reply is NULL when the request timed out or the channel closed. */
typedef void (*ipc_reply_cb)(ipc_chan_t *ch, Sb__Envelope *reply, void *arg);

/* Wraps a connected SEQPACKET fd (made non-blocking here). NULL on allocation failure
 * (fd is then closed). max_msg: largest packet accepted or sent. */
ipc_chan_t *ipc_chan_open(uv_loop_t *loop, int fd, const struct ipc_handlers *handlers,
                          void *arg, size_t max_msg);
/* Closes now: pending requests get their callback with NULL, on_close is not called.
 * Safe to call from inside any callback of this channel. */
void ipc_chan_close(ipc_chan_t *ch);
void *ipc_chan_arg(const ipc_chan_t *ch);
void ipc_chan_set_arg(ipc_chan_t *ch, void *arg);
void ipc_chan_set_slot(ipc_chan_t *ch, struct shm_proc *slot);
/* Packets sent and received on this channel, and packets dropped as malformed. */
void ipc_chan_stats(const ipc_chan_t *ch, uint64_t *tx, uint64_t *rx, uint64_t *malformed);

/* Sends env as it is (request_id/reply_to untouched). */
int ipc_send(ipc_chan_t *ch, const Sb__Envelope *env);
/* Sets env->request_id to a fresh id, sends, and calls cb with the answer or NULL. */
int ipc_request(ipc_chan_t *ch, Sb__Envelope *env, ipc_reply_cb cb, void *cb_arg,
                uint32_t timeout_ms);
/* Sends reply as the answer to req (sets reply->reply_to). */
int ipc_reply(ipc_chan_t *ch, const Sb__Envelope *req, Sb__Envelope *reply);

/* Creates a listening SEQPACKET socket at path (replacing a stale file) with mode. */
int ipc_listen_path(const char *path, mode_t mode);
/* Connects to path without blocking; returns the fd or negative errno. */
int ipc_connect_path(const char *path);

typedef struct ipc_listener ipc_listener_t;
/* Accepts connections on a listening fd (owned from now on); on_accept gets each new fd. */
ipc_listener_t *ipc_listener_open(uv_loop_t *loop, int fd,
                                  void (*on_accept)(ipc_listener_t *l, int fd, void *arg),
                                  void *arg);
void ipc_listener_close(ipc_listener_t *l);

/* The name of an envelope's body case ("hello", "ping", ...), "none" if unset. */
const char *ipc_body_name(const Sb__Envelope *env);

/* ipc_envelope_NAME(msg), ipc_send_NAME(ch, msg), ipc_request_NAME(ch, msg, cb, arg,
 * timeout_ms) and ipc_reply_NAME(ch, req, msg) for every body NAME of the Envelope
 * (generated from proto/envelope.proto): the envelope is built on the stack, msg is
 * borrowed. */
#include "proto/envelope_send.h"

#endif
