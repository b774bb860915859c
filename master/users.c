/* users - see users.h */
#include "users.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include <hiredis/hiredis.h>

#include "digest.h"
#include "domains.h"
#include "keys.h"
#include "redis.h"
#include "redisacl.h"

static void users_usage(void) {
    fprintf(stderr, "usage: switchboard user add USER [PASSWORD|-] [--domain D]\n"
                    "       switchboard user del USER [--domain D]\n"
                    "       switchboard user list\n");
}

static redisContext *connect_redis(const cfg_t *cfg) {
    char host[4096], err[256];
    int port = 0;
    const char *address = cfg_str(cfg, CFG_redis_address);
    if (rds_parse_address(address, host, sizeof host, &port, err, sizeof err) < 0) {
        fprintf(stderr, "switchboard: redis_address: %s\n", err);
        return NULL;
    }
    struct timeval tv = {2, 0};
    redisContext *rc =
        port ? redisConnectWithTimeout(host, port, tv) : redisConnectUnixWithTimeout(host, tv);
    if (!rc || rc->err) {
        fprintf(stderr, "switchboard: cannot reach Redis at %s: %s\n", address,
                rc ? rc->errstr : "out of memory");
        if (rc)
            redisFree(rc);
        return NULL;
    }
    redisSetTimeout(rc, tv);
    if (cfg_bool(cfg, CFG_redis_acl)) { /* as the operator: Redis's default user */
        char pw[128];
        if (redisacl_admin_password(cfg, pw, sizeof pw, err, sizeof err) < 0) {
            fprintf(stderr, "switchboard: redis_acl: %s\n", err);
            redisFree(rc);
            return NULL;
        }
        redisReply *r = redisCommand(rc, "AUTH %s", pw);
        explicit_bzero(pw, sizeof pw);
        bool ok = r && r->type != REDIS_REPLY_ERROR;
        if (!ok)
            fprintf(stderr, "switchboard: Redis at %s refused AUTH: %s\n", address,
                    r && r->str ? r->str : rc->errstr);
        freeReplyObject(r);
        if (!ok) {
            redisFree(rc);
            return NULL;
        }
    }
    return rc;
}

/* A user name we store: printable, no '@', '{', '}' or spaces (they would change the key). */
static bool user_ok(const char *u) {
    if (!*u || strlen(u) > 128)
        return false;
    for (const char *p = u; *p; p++)
        if ((unsigned char)*p <= ' ' || *p == '@' || *p == '{' || *p == '}' || *p == 0x7f)
            return false;
    return true;
}

static bool realm_of(const cfg_t *cfg, const char *domain, char *out, size_t cap) {
    if (domain) {
        if (!*domain || strchr(domain, '{') || strchr(domain, '}') || strchr(domain, ' '))
            return false;
        snprintf(out, cap, "%s", domain);
        return true;
    }
    char why[256];
    domains_t *d = domains_new(cfg_str(cfg, CFG_sip_domains), false, why, sizeof why);
    if (!d) {
        fprintf(stderr, "switchboard: sip_domains: %s\n", why);
        return false;
    }
    snprintf(out, cap, "%s", domains_name(d));
    domains_free(d);
    return true;
}

static int reply_ok(redisContext *rc, redisReply *r, const char *what) {
    if (!r || r->type == REDIS_REPLY_ERROR) {
        fprintf(stderr, "switchboard: %s: %s\n", what, r ? r->str : rc->errstr);
        if (r)
            freeReplyObject(r);
        return 1;
    }
    freeReplyObject(r);
    return 0;
}

/* The subscriber's key, sb:sub:{USER@REALM}; false when it does not fit. */
static bool sub_key(const char *user, const char *realm, char *key, size_t cap) {
    char id[512];
    return snprintf(id, sizeof id, "%s@%s", user, realm) < (int)sizeof id &&
           sb_key(key, cap, SB_KEY_SUB, id) == 0;
}

static int user_add(const cfg_t *cfg, const char *user, const char *password, const char *domain) {
    char line[1024], realm[300], key[600];
    if (!password || strcmp(password, "-") == 0) {
        if (!fgets(line, sizeof line, stdin)) {
            fprintf(stderr, "switchboard: no password on standard input\n");
            return 1;
        }
        line[strcspn(line, "\r\n")] = '\0';
        password = line;
    }
    if (!*password) {
        fprintf(stderr, "switchboard: empty password\n");
        return 1;
    }
    if (!realm_of(cfg, domain, realm, sizeof realm))
        return 2;
    char ha1_md5[DIGEST_HEX_MAX], ha1_sha256[DIGEST_HEX_MAX];
    if (digest_ha1(DIGEST_MD5, user, realm, password, ha1_md5, sizeof ha1_md5) < 0 ||
        digest_ha1(DIGEST_SHA256, user, realm, password, ha1_sha256, sizeof ha1_sha256) < 0) {
        fprintf(stderr, "switchboard: cannot hash the password\n");
        return 1;
    }
    memset(line, 0, sizeof line);
    if (!sub_key(user, realm, key, sizeof key))
        return 2;
    redisContext *rc = connect_redis(cfg);
    if (!rc)
        return 1;
    int rv = reply_ok(rc,
                      redisCommand(rc, "HSET %s user %s realm %s ha1_md5 %s ha1_sha256 %s", key,
                                   user, realm, ha1_md5, ha1_sha256),
                      "HSET");
    redisFree(rc);
    if (!rv)
        printf("switchboard: subscriber %s@%s saved\n", user, realm);
    return rv;
}

static int user_del(const cfg_t *cfg, const char *user, const char *domain) {
    char realm[300], key[600];
    if (!realm_of(cfg, domain, realm, sizeof realm))
        return 2;
    if (!sub_key(user, realm, key, sizeof key))
        return 2;
    redisContext *rc = connect_redis(cfg);
    if (!rc)
        return 1;
    redisReply *r = redisCommand(rc, "DEL %s", key);
    int rv = 1;
    if (r && r->type == REDIS_REPLY_INTEGER) {
        rv = r->integer == 1 ? 0 : 1;
        if (rv)
            fprintf(stderr, "switchboard: no subscriber %s@%s\n", user, realm);
        else
            printf("switchboard: subscriber %s@%s deleted\n", user, realm);
    } else {
        fprintf(stderr, "switchboard: DEL: %s\n", r ? r->str : rc->errstr);
    }
    if (r)
        freeReplyObject(r);
    redisFree(rc);
    return rv;
}

static int user_list(const cfg_t *cfg) {
    redisContext *rc = connect_redis(cfg);
    if (!rc)
        return 1;
    char cursor[32] = "0";
    int rv = 0;
    size_t prefix = strlen(SB_KEY_SUB) + 1;
    do {
        redisReply *r = redisCommand(rc, "SCAN %s MATCH %s COUNT 1000", cursor, SB_KEY_SUB_ALL);
        if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 2) {
            fprintf(stderr, "switchboard: SCAN: %s\n", r && r->str ? r->str : rc->errstr);
            if (r)
                freeReplyObject(r);
            rv = 1;
            break;
        }
        snprintf(cursor, sizeof cursor, "%s", r->element[0]->str);
        for (size_t i = 0; i < r->element[1]->elements; i++) {
            const redisReply *k = r->element[1]->element[i];
            if (k->type == REDIS_REPLY_STRING && k->len > prefix)
                printf("%.*s\n", (int)(k->len - prefix - 1), k->str + prefix);
        }
        freeReplyObject(r);
    } while (strcmp(cursor, "0") != 0);
    redisFree(rc);
    return rv;
}

int users_main(const cfg_t *cfg, int argc, char **argv) {
    const char *domain = NULL, *pos[3];
    int npos = 0;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--domain") == 0 && i + 1 < argc)
            domain = argv[++i];
        else if (npos < 3)
            pos[npos++] = argv[i];
        else
            npos = 4;
    }
    if (npos == 0 || npos > 3) {
        users_usage();
        return 2;
    }
    if (strcmp(pos[0], "list") == 0 && npos == 1)
        return user_list(cfg);
    if ((strcmp(pos[0], "add") == 0 && npos >= 2) || (strcmp(pos[0], "del") == 0 && npos == 2)) {
        if (!user_ok(pos[1])) {
            fprintf(stderr,
                    "switchboard: '%s': a user is 1-128 printable characters without "
                    "spaces, '@', '{' or '}'\n",
                    pos[1]);
            return 2;
        }
        return pos[0][0] == 'a' ? user_add(cfg, pos[1], npos == 3 ? pos[2] : NULL, domain)
                                : user_del(cfg, pos[1], domain);
    }
    users_usage();
    return 2;
}
