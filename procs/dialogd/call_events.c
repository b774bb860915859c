/* call_events - see call_events.h */
#include "call_events.h"

#include <stdlib.h>
#include <string.h>

#include "jsonw.h"
#include "keys.h"
#include "log.h"

void call_events_publish(b2b_t *b, struct call *c, const char *type) {
    redisAsyncContext *ac = b->io.redis ? b->io.redis(b->io.arg) : NULL;
    if (!ac)
        return;
    const cfg_t *cfg = b->io.cfg ? b->io.cfg(b->io.arg) : NULL;
    const struct dlg *a = &c->leg[LEG_A];
    int64_t now = call_wall_ms();
    jsonw_t j;
    jsonw_init(&j);
    jsonw_object_open(&j);
    jsonw_kv_string(&j, "type", type);
    jsonw_kv_string(&j, "call_id", a->call_id);
    jsonw_kv_string(&j, "node_id", cfg ? cfg_str(cfg, CFG_node_id) : "");
    jsonw_kv_int(&j, "dialogd", b->instance);
    jsonw_kv_int(&j, "ts_ms", now);
    if (strcmp(type, "call.started") == 0) {
        jsonw_kv_string(&j, "from_uri", a->remote_uri);
        jsonw_kv_string(&j, "to_uri", a->local_uri);
        jsonw_kv_string(&j, "caller_id", c->caller_id);
        jsonw_kv_string(&j, "caller_name", a->remote_display);
        jsonw_kv_string(&j, "destination", c->destination);
    } else if (strcmp(type, "call.ringing") == 0) {
        jsonw_kv_int(&j, "status", c->ringing_status);
    } else if (strcmp(type, "call.answered") == 0) {
        const char *b_call_id = c->leg[LEG_B].call_id;
        jsonw_kv_string(&j, "b_call_id", b_call_id);
        jsonw_kv_int(&j, "setup_ms", c->answered_ms - c->created_ms);
        jsonw_key(&j, "local");
        jsonw_bool(&j, b_call_id == NULL);
    } else if (strcmp(type, "call.ended") == 0) {
        jsonw_kv_string(&j, "cause", c->end_cause ? c->end_cause : "ended");
        jsonw_kv_int(&j, "status", c->end_status);
        jsonw_kv_int(&j, "duration_ms", c->answered_ms ? now - c->answered_ms : 0);
    }
    jsonw_object_close(&j);
    size_t len;
    char *text = jsonw_finish(&j, &len);
    if (!text) {
        log_call_ratelimited(LOG_WARN, a->call_id, "%s event not written (out of memory)", type);
        return;
    }
    redisAsyncCommand(ac, NULL, NULL, "PUBLISH %s %b", SB_EVENTS_CHANNEL, text, len);
    free(text);
}

static void ended(b2b_t *b, struct call *c) {
    if (!c->quiet)
        call_events_publish(b, c, "call.ended");
}

void call_events_init(b2b_t *b) {
    call_teardown_add(b, ended);
}
