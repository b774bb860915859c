/*
 * NAME
 *   media_port - RTP/RTCP port pairs: a claim in the shm pool (shm.h) proved by binding both
 *   sockets.
 * DESCRIPTION
 *   media_port_pair_open claims an even port of the range for this process, binds a UDP
 *   socket to it and one to the next odd port on the media address (DSCP EF, a 1 MB receive
 *   buffer for bursts). A port another program holds stays claimed while the next is tried
 *   (up to MEDIA_PORT_TRIES), then every such claim is given back. It never polls, reads or
 *   writes the sockets: that is the relay's work.
 * OWNERSHIP
 *   The caller owns the two descriptors and the claim; media_port_pair_release gives the
 *   claim back (the caller closes the descriptors).
 * LOOP
 *   mediad's loop; never blocks.
 * ERRORS
 *   -ENOSPC no free pair (or every free one taken by other programs); -EMFILE, -ENFILE,
 *   -ENOBUFS, -ENOMEM out of descriptors or memory (no other port would do better).
 */
#ifndef SB_MEDIA_PORT_H
#define SB_MEDIA_PORT_H

#include <stdint.h>

#include "media_addr.h"
#include "shm.h"

#define MEDIA_PORT_TRIES 16

/* The even port of the pair claimed and bound, fds[0] RTP and fds[1] RTCP; or negative errno.
 * addr: the IPv4 or IPv6 address to bind (its port ignored; unspecified: every address of
 * its family; an IPv6 socket takes IPv6 only). */
int media_port_pair_open(struct shm_media_pool *pool, int lo, int hi, const media_sa_t *addr,
                         int fds[2]);
/* Gives the claim of the pair at port back to the pool. */
void media_port_pair_release(struct shm_media_pool *pool, int port);

#endif
