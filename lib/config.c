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

int config_load(const char *confdir, cfg_t **cfgp, mcf_t **mcfp, char *err, size_t errlen) {
    cfg_t *cfg = cfg_load(confdir, err, errlen);
    if (!cfg)
        return -1;
    mcf_t *mcf = mcf_load(cfg, err, errlen);
    if (!mcf) {
        cfg_free(cfg);
        return -1;
    }
    if (apitok_check(cfg, err, errlen) < 0) {
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
