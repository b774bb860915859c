/* api_sse - see api_sse.h */
#include "api_sse.h"

#include <ctype.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsonw.h"

static bool api_event_type_ok(const char *t) {
    size_t n = strlen(t);
    if (n == 0 || n > 64)
        return false;
    for (const char *p = t; *p; p++)
        if (!(islower((unsigned char)*p) || isdigit((unsigned char)*p) || *p == '.' || *p == '_' ||
              *p == '-'))
            return false;
    return true;
}

char *api_sse_format(const char *type, const char *data, uint64_t id, size_t *len) {
    int n =
        snprintf(NULL, 0, "id: %llu\nevent: %s\ndata: %s\n\n", (unsigned long long)id, type, data);
    char *out = n > 0 ? malloc((size_t)n + 1) : NULL;
    if (!out)
        return NULL;
    snprintf(out, (size_t)n + 1, "id: %llu\nevent: %s\ndata: %s\n\n", (unsigned long long)id, type,
             data);
    *len = (size_t)n;
    return out;
}

char *api_sse_from_message(const char *msg, size_t msg_len, uint64_t id, size_t *len) {
    json_t *doc = json_loadb(msg, msg_len, JSON_REJECT_DUPLICATES, NULL);
    const char *type = json_string_value(json_object_get(doc, "type"));
    char *out = NULL;
    if (json_is_object(doc) && type && api_event_type_ok(type)) {
        /* Re-encoded compact: one line whatever newlines the publisher put in. */
        char *data = json_dumps(doc, JSON_COMPACT);
        if (data)
            out = api_sse_format(type, data, id, len);
        free(data);
    }
    json_decref(doc);
    return out;
}

static void api_proc_event(const struct shm_proc *p, int32_t pid, const char *type,
                           const char *node_id, int64_t now_wall_us,
                           void (*emit)(void *arg, const char *type, const char *data), void *arg) {
    jsonw_t w;
    jsonw_init(&w);
    jsonw_object_open(&w);
    jsonw_kv_string(&w, "type", type);
    jsonw_kv_string(&w, "service", p->service);
    jsonw_kv_string(&w, "role", p->role);
    jsonw_kv_int(&w, "instance", p->instance);
    jsonw_kv_int(&w, "pid", pid);
    jsonw_kv_int(&w, "restarts", p->restarts);
    jsonw_kv_string(&w, "state", shm_state_name((enum shm_state)p->state));
    jsonw_kv_string(&w, "node_id", node_id);
    jsonw_kv_int(&w, "ts_ms", now_wall_us / 1000);
    jsonw_object_close(&w);
    char *text = jsonw_finish(&w, NULL);
    if (text)
        emit(arg, type, text);
    free(text);
}

int api_proc_changes(struct api_proc_seen seen[SHM_MAX_PROCS], const struct shm_seg *shm,
                     bool prime, int64_t now_wall_us,
                     void (*emit)(void *arg, const char *type, const char *data), void *arg) {
    char node_id[sizeof shm->hdr.node_id + 1]; /* master's copy of main.cf node_id */
    memcpy(node_id, shm->hdr.node_id, sizeof shm->hdr.node_id);
    node_id[sizeof shm->hdr.node_id] = '\0';
    int events = 0;
    for (int i = 0; i < SHM_MAX_PROCS; i++) {
        struct shm_proc p;
        shm_proc_read(&shm->procs[i], &p);
        p.service[sizeof p.service - 1] = '\0';
        p.role[sizeof p.role - 1] = '\0';
        struct api_proc_seen *s = &seen[i];
        bool used = p.state != SHM_EMPTY;
        if (!prime && used && s->used) {
            /* A pid that goes away or changes: the old process died. */
            if (s->pid > 0 && p.pid != s->pid) {
                api_proc_event(&p, s->pid, "process.died", node_id, now_wall_us, emit, arg);
                events++;
            }
            /* A new process with a higher restart count: master respawned the slot. */
            if (p.pid > 0 && p.pid != s->pid && p.restarts > s->restarts) {
                api_proc_event(&p, p.pid, "process.respawned", node_id, now_wall_us, emit, arg);
                events++;
            }
        }
        s->used = used;
        s->pid = used ? p.pid : 0;
        s->restarts = used ? p.restarts : 0;
    }
    return events;
}
