/*
 * NAME
 *   resources - the values and files of main.cf a worker loads, read one way by the
 *   worker and by `switchboard check`.
 * DESCRIPTION
 *   A worker opens the directories it needs (res_dir_open) before it drops privileges,
 *   then opens files relative to those descriptors (res_open_at, res_audio_open): the
 *   service user then needs no search permission on the directories above them (a clone
 *   under a 0700 /root works), only read permission on the files themselves.
 *   switchboard check opens them the same way, and as the service user, so what it
 *   accepts a worker can load. Also the parsers of values a worker would otherwise be
 *   first to refuse: media_address ([NAME/]LOCAL[!PUBLIC] interfaces), dialplan_gateways
 *   (NAME=sip:host[:port] ...), CIDR lists (media_allow_targets). Never logs.
 * OWNERSHIP
 *   Descriptors returned belong to the caller.
 * ERRORS
 *   Negative errno, or -EINVAL with the reason in err.
 */
#ifndef SB_RESOURCES_H
#define SB_RESOURCES_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The directory path opened for openat (O_PATH, close-on-exec); negative errno. */
int res_dir_open(const char *path);
/* The directory part of path into dir ("." when none); its last component, or NULL when
 * dir is too small. */
const char *res_split(const char *path, char *dir, size_t cap);
/* Opens the file path for reading: relative to dirfd (the descriptor of path's directory)
 * when dirfd >= 0, else by its whole path. Negative errno. */
int res_open_at(int dirfd, const char *path);
/* Opens a play_audio file of the dialplan (a name relative to audio_path, no '/' start,
 * no ".."; the prototype's "audio/NAME" is also looked up as NAME) relative to the
 * audio_path descriptor dirfd (or the path audio_dir when dirfd < 0). Negative errno;
 * -EINVAL for a refused name. */
int res_audio_open(int dirfd, const char *audio_dir, const char *file);
/* One interface of media_address: [NAME/]LOCAL[!PUBLIC]. */
struct res_media_if {
    char name[32];                   /* "" when not named */
    char local[INET6_ADDRSTRLEN];    /* the address bound; "" every address of family */
    char announce[INET6_ADDRSTRLEN]; /* the address announced in SDP: PUBLIC, else LOCAL */
    int family;                      /* AF_INET or AF_INET6 */
};
#define RES_MEDIA_IF_MAX 8
/* media_address: entries [NAME/]LOCAL[!PUBLIC] separated by spaces or commas (IPv4 or
 * IPv6, an IPv6 address optionally in brackets; LOCAL may be empty before !PUBLIC: every
 * address of its family is bound; LOCAL and PUBLIC of one family). "" is no interface
 * (follow each call's signaling). 0 with *n entries in out, or -EINVAL with the reason in
 * err. */
int res_media_interfaces(const char *text, struct res_media_if *out, size_t cap, size_t *n,
                         char *err, size_t errlen);
/* dialplan_gateways: NAME=sip:host[:port] entries, space or comma separated. 0, or
 * -EINVAL with the offending entry in err. */
int res_gateways_check(const char *list, char *err, size_t errlen);
/* The URI of gateway name in list (NAME=URI ...); false when absent or too long. */
bool res_gateway_uri(const char *list, const char *name, char *uri, size_t cap);

#endif
