/*
 * NAME
 *   users - `switchboard user add|del|list`: the SIP subscribers digest authentication
 *   knows (docs/security.md).
 * DESCRIPTION
 *   A subscriber is the Redis hash sb:sub:{USER@REALM} with user, realm, ha1_md5 and
 *   ha1_sha256 (lib/keys.h): the two HA1 hashes of RFC 7616 3.4.2, never the password.
 *   REALM is --domain D, else the node's SIP domain (main.cf sip_domains' first entry,
 *   "localhost" without one), which is the realm routerd challenges with. The password
 *   comes from the command line or, given as "-" or left out, from the first line of
 *   standard input (so it need not show in the process list or shell history).
 *   It talks to the Redis of main.cf redis_address directly, synchronously.
 * OWNERSHIP
 *   Borrows cfg.
 * LOOP
 *   switchboard's (no loop: blocking calls, a 2 s timeout).
 * ERRORS
 *   Prints the problem on stderr; returns 0, 1 (Redis or input), 2 (usage).
 */
#ifndef SB_MASTER_USERS_H
#define SB_MASTER_USERS_H

#include "cfg.h"

/* argv[0] is "add", "del" or "list". */
int users_main(const cfg_t *cfg, int argc, char **argv);

#endif
