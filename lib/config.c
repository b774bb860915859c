/* config - see config.h */
#include "config.h"

#include "apitoken.h"

#include <stdio.h>

#include "shm.h"

int config_process_count(const mcf_t *mcf) {
    int n = 0;
    for (size_t i = 0; i < mcf->count; i++)
        n += mcf->services[i].maxproc;
    return n;
}

/* SIP over TLS needs a certificate and its key. */
static int sip_tls_check(const cfg_t *cfg, char *err, size_t errlen) {
    if (cfg_check_pair(cfg, CFG_sip_tls_cert, CFG_sip_tls_key, "SIP over TLS", err, errlen) < 0)
        return -1;
    if (cfg_addrs(cfg, CFG_sip_listen_tls, NULL) && !*cfg_str(cfg, CFG_sip_tls_cert)) {
        snprintf(err, errlen, "%s:%d: sip_listen_tls needs sip_tls_cert and sip_tls_key",
                 cfg_file(cfg), cfg_line(cfg, CFG_sip_listen_tls));
        return -1;
    }
    return 0;
}

int config_load(const char *confdir, cfg_t **cfgp, mcf_t **mcfp, char *err, size_t errlen) {
    cfg_t *cfg = cfg_load(confdir, err, errlen);
    if (!cfg)
        return -1;
    mcf_t *mcf = mcf_load(cfg, err, errlen);
    if (!mcf) {
        cfg_free(cfg);
        return -1;
    }
    if (apitok_check(cfg, err, errlen) < 0 || sip_tls_check(cfg, err, errlen) < 0) {
        mcf_free(mcf);
        cfg_free(cfg);
        return -1;
    }
    /* Retiring processes of a reload hold slots too: keep half the table for them. */
    int total = config_process_count(mcf);
    if (total > SHM_MAX_PROCS / 2) {
        snprintf(err, errlen, "%s/master.cf: %d processes in all; at most %d", confdir, total,
                 SHM_MAX_PROCS / 2);
        mcf_free(mcf);
        cfg_free(cfg);
        return -1;
    }
    *cfgp = cfg;
    *mcfp = mcf;
    return 0;
}
