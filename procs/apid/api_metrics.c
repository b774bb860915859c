/* api_metrics - see api_metrics.h */
#include "api_metrics.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_views.h"

struct api_buf {
    char *p;
    size_t len, cap;
    bool oom;
};

__attribute__((format(printf, 2, 3))) static void api_printf(struct api_buf *b, const char *fmt,
                                                             ...) {
    if (b->oom)
        return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(b->p ? b->p + b->len : NULL, b->p ? b->cap - b->len : 0, fmt, ap);
        va_end(ap);
        if (n < 0) {
            b->oom = true;
            return;
        }
        if (b->p && b->len + (size_t)n < b->cap) {
            b->len += (size_t)n;
            return;
        }
        size_t cap = b->cap ? b->cap * 2 : 8192;
        while (cap <= b->len + (size_t)n)
            cap *= 2;
        char *grown = realloc(b->p, cap);
        if (!grown) {
            b->oom = true;
            return;
        }
        b->p = grown;
        b->cap = cap;
    }
}

/* A label value as the exposition format wants it (\\, \" and \n escaped). */
static void api_label(char *out, size_t outlen, const char *v) {
    size_t o = 0;
    for (const char *p = v; *p && o + 3 < outlen; p++) {
        if (*p == '\\' || *p == '"') {
            out[o++] = '\\';
            out[o++] = *p;
        } else if (*p == '\n') {
            out[o++] = '\\';
            out[o++] = 'n';
        } else {
            out[o++] = *p;
        }
    }
    out[o] = '\0';
}

static void api_labels(char *out, size_t outlen, const struct shm_proc *p) {
    char service[80], role[40];
    api_label(service, sizeof service, p->service);
    api_label(role, sizeof role, p->role);
    snprintf(out, outlen, "service=\"%s\",role=\"%s\",instance=\"%u\"", service, role, p->instance);
}

/* The statistics beside the slots (shm_stats), summed over the node's processes: SIP
 * requests by method and responses by code, each way (sipd), and the call setup time
 * histogram (dialogd). Exec services have none. */
static void api_metrics_stats(struct api_buf *b, const struct api_env *env,
                              const struct shm_proc *procs, const int *slots, int n) {
    uint64_t req[2][SHM_SIP_METHOD_COUNT] = {{0}};
    uint64_t *resp = calloc(2 * SHM_SIP_CODES, sizeof *resp);
    uint64_t buckets[SHM_SETUP_BUCKETS + 1] = {0}, sum_ms = 0, count = 0;
    if (!resp) {
        b->oom = true;
        return;
    }
    for (int k = 0; k < n; k++) {
        if (procs[k].flags & SHM_F_EXEC)
            continue;
        const struct shm_stats *st = &env->shm->stats[slots[k]];
        for (int d = 0; d < 2; d++) {
            for (int m = 0; m < SHM_SIP_METHOD_COUNT; m++)
                req[d][m] += __atomic_load_n(&st->sip_requests[d][m], __ATOMIC_RELAXED);
            for (int c = 0; c < SHM_SIP_CODES; c++)
                resp[d * SHM_SIP_CODES + c] +=
                    __atomic_load_n(&st->sip_responses[d][c], __ATOMIC_RELAXED);
        }
        for (int i = 0; i <= SHM_SETUP_BUCKETS; i++)
            buckets[i] += __atomic_load_n(&st->setup_buckets[i], __ATOMIC_RELAXED);
        sum_ms += __atomic_load_n(&st->setup_sum_ms, __ATOMIC_RELAXED);
        count += __atomic_load_n(&st->setup_count, __ATOMIC_RELAXED);
    }
    static const char *const dirs[2] = {"rx", "tx"};
    api_printf(b, "# HELP switchboard_sip_requests_total SIP requests by method, received (rx) "
                  "and sent (tx), retransmissions too (sipd).\n"
                  "# TYPE switchboard_sip_requests_total counter\n");
    for (int d = 0; d < 2; d++)
        for (int m = 0; m < SHM_SIP_METHOD_COUNT; m++)
            api_printf(b, "switchboard_sip_requests_total{method=\"%s\",direction=\"%s\"} %llu\n",
                       shm_sip_method_name((enum shm_sip_method)m), dirs[d],
                       (unsigned long long)req[d][m]);
    api_printf(b, "# HELP switchboard_sip_responses_total SIP responses by code, received (rx) "
                  "and sent (tx), retransmissions too (sipd); codes never seen are left out.\n"
                  "# TYPE switchboard_sip_responses_total counter\n");
    for (int d = 0; d < 2; d++)
        for (int c = 0; c < SHM_SIP_CODES; c++)
            if (resp[d * SHM_SIP_CODES + c])
                api_printf(
                    b, "switchboard_sip_responses_total{code=\"%d\",direction=\"%s\"} %llu\n",
                    c + SHM_SIP_CODE_MIN, dirs[d], (unsigned long long)resp[d * SHM_SIP_CODES + c]);
    free(resp);
    static const uint64_t bounds[SHM_SETUP_BUCKETS] = SHM_SETUP_BOUNDS_MS;
    api_printf(b, "# HELP switchboard_call_setup_seconds Call setup time: the caller's INVITE "
                  "to the 2xx we send it (dialogd).\n"
                  "# TYPE switchboard_call_setup_seconds histogram\n");
    uint64_t cumulative = 0;
    for (int i = 0; i < SHM_SETUP_BUCKETS; i++) {
        cumulative += buckets[i];
        api_printf(b, "switchboard_call_setup_seconds_bucket{le=\"%g\"} %llu\n",
                   (double)bounds[i] / 1000.0, (unsigned long long)cumulative);
    }
    cumulative += buckets[SHM_SETUP_BUCKETS];
    api_printf(b, "switchboard_call_setup_seconds_bucket{le=\"+Inf\"} %llu\n",
               (unsigned long long)cumulative);
    api_printf(b, "switchboard_call_setup_seconds_sum %llu.%03llu\n",
               (unsigned long long)(sum_ms / 1000), (unsigned long long)(sum_ms % 1000));
    /* _count is the +Inf bucket (Prometheus requires it); setup_count is what dialogd
     * counted, the same unless a scrape fell between its two increments. */
    (void)count;
    api_printf(b, "switchboard_call_setup_seconds_count %llu\n", (unsigned long long)cumulative);
}

char *api_metrics(const struct api_env *env) {
    struct shm_proc *procs = malloc(SHM_MAX_PROCS * sizeof *procs); /* ~120 KiB */
    if (!procs)
        return NULL;
    int n = 0;
    int slots[SHM_MAX_PROCS]; /* procs[k] is slot slots[k]: its shm_stats */
    for (int i = 0; i < SHM_MAX_PROCS; i++) {
        shm_proc_read(&env->shm->procs[i], &procs[n]);
        procs[n].service[sizeof procs[n].service - 1] = '\0';
        procs[n].role[sizeof procs[n].role - 1] = '\0';
        slots[n] = i;
        if (procs[n].state != SHM_EMPTY)
            n++;
    }
    struct api_buf b = {0};
    char labels[200];
    api_printf(&b, "# HELP switchboard_up 1: apid answers.\n# TYPE switchboard_up gauge\n"
                   "switchboard_up 1\n");
    int64_t up = env->shm->hdr.master_started_us > 0
                     ? (env->now_wall_us - env->shm->hdr.master_started_us) / 1000000
                     : 0;
    api_printf(&b,
               "# HELP switchboard_uptime_seconds Seconds since master started.\n"
               "# TYPE switchboard_uptime_seconds gauge\nswitchboard_uptime_seconds %lld\n",
               (long long)(up > 0 ? up : 0));
    api_printf(&b,
               "# HELP switchboard_redis_up 1 while apid's Redis link is up.\n"
               "# TYPE switchboard_redis_up gauge\nswitchboard_redis_up %d\n",
               env->redis_up ? 1 : 0);
    if (env->registrations >= 0)
        api_printf(&b,
                   "# HELP switchboard_registrations_active Bindings in the location "
                   "service (counted in Redis).\n"
                   "# TYPE switchboard_registrations_active gauge\n"
                   "switchboard_registrations_active %lld\n",
                   (long long)env->registrations);
    api_printf(&b, "# HELP switchboard_process_up 1 while the slot's process is ready.\n"
                   "# TYPE switchboard_process_up gauge\n");
    for (int i = 0; i < n; i++) {
        api_labels(labels, sizeof labels, &procs[i]);
        api_printf(&b, "switchboard_process_up{%s} %d\n", labels,
                   procs[i].pid > 0 && procs[i].state == SHM_READY);
    }
    api_printf(&b, "# HELP switchboard_process_state 1 for the slot's state: starting (not yet "
                   "ready), ready, degraded (a dependency is down), draining, stopping, "
                   "throttled.\n# TYPE switchboard_process_state gauge\n");
    for (int i = 0; i < n; i++) {
        api_labels(labels, sizeof labels, &procs[i]);
        api_printf(&b, "switchboard_process_state{%s,state=\"%s\"} 1\n", labels,
                   shm_state_name((enum shm_state)procs[i].state));
    }
    json_t *health = NULL;
    int hs = api_view_health(env, &health);
    json_decref(health);
    api_printf(&b,
               "# HELP switchboard_node_ready 1 while the node can take calls "
               "(GET /api/v1/health answers 200).\n"
               "# TYPE switchboard_node_ready gauge\nswitchboard_node_ready %d\n",
               hs == 200);
    api_printf(&b, "# HELP switchboard_process_restarts_total Processes started in the slot "
                   "after the first.\n# TYPE switchboard_process_restarts_total counter\n");
    for (int i = 0; i < n; i++) {
        api_labels(labels, sizeof labels, &procs[i]);
        api_printf(&b, "switchboard_process_restarts_total{%s} %u\n", labels, procs[i].restarts);
    }
    /* Every shm counter of every worker (exec services have none). */
    for (int c = 0; c < SHM_COUNTER_COUNT; c++) {
        const char *name = shm_counter_name((enum shm_counter)c);
        const char *doc = shm_counter_doc((enum shm_counter)c);
        bool gauge = strncmp(doc, "gauge: ", 7) == 0;
        if (gauge)
            doc += 7;
        api_printf(&b, "# HELP switchboard_%s%s %s\n# TYPE switchboard_%s%s %s\n", name,
                   gauge ? "" : "_total", doc, name, gauge ? "" : "_total",
                   gauge ? "gauge" : "counter");
        for (int i = 0; i < n; i++) {
            if (procs[i].flags & SHM_F_EXEC)
                continue;
            api_labels(labels, sizeof labels, &procs[i]);
            api_printf(&b, "switchboard_%s%s{%s} %llu\n", name, gauge ? "" : "_total", labels,
                       (unsigned long long)procs[i].counters[c]);
        }
    }
    api_metrics_stats(&b, env, procs, slots, n);
    free(procs);
    if (b.oom) {
        free(b.p);
        return NULL;
    }
    return b.p;
}
