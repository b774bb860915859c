/* srclimit - see srclimit.h */
#include "srclimit.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

int srclimit_parse_exempt(const char *text, struct srclimit_config *cfg, char *err, size_t errlen) {
    return netacl_parse(text, &cfg->exempt, err, errlen) < 0 ? -EINVAL : 0;
}

bool srclimit_is_exempt(const struct srclimit_config *cfg, const union sipaddr *addr) {
    return cfg->exempt.n && netacl_match(&cfg->exempt, &addr->sa);
}

static bool enabled(const struct srclimit *sl) {
    return sl->table && (sl->cfg.pike.requests || sl->cfg.pike.calls);
}

bool srclimit_blocked(struct srclimit *sl, const union sipaddr *src) {
    if (!enabled(sl) || srclimit_is_exempt(&sl->cfg, src))
        return false;
    uint64_t key = shm_pike_key(&src->sa);
    if (!shm_pike_blocked(sl->table, key, &sl->cfg.pike, shm_pike_now_ms()))
        return false;
    shm_count(sl->slot, SHM_C_sip_pike_dropped, 1);
    return true;
}

bool srclimit_admit(struct srclimit *sl, const union sipaddr *src, bool call) {
    if (!enabled(sl) || srclimit_is_exempt(&sl->cfg, src))
        return true;
    uint64_t key = shm_pike_key(&src->sa);
    switch (shm_pike_admit(sl->table, key, call, &sl->cfg.pike, shm_pike_now_ms())) {
    case SHM_PIKE_PASS:
    case SHM_PIKE_UNTRACKED:
        return true;
    case SHM_PIKE_BLOCKS: {
        char ip[64] = "?";
        int port = 0;
        sipaddr_text(src, ip, sizeof ip, &port);
        log_ratelimited(LOG_WARN,
                        "blocking %s for %us: over sip_pike_requests (%u) or sip_pike_calls (%u) "
                        "per %ums",
                        ip, sl->cfg.pike.block_s, sl->cfg.pike.requests, sl->cfg.pike.calls,
                        sl->cfg.pike.window_ms);
        shm_count(sl->slot, SHM_C_sip_pike_blocks, 1);
        shm_count(sl->slot, SHM_C_sip_pike_dropped, 1);
        return false;
    }
    case SHM_PIKE_BLOCKED:
        shm_count(sl->slot, SHM_C_sip_pike_dropped, 1);
        return false;
    }
    return true;
}
