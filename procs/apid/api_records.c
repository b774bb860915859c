/* api_records - see api_records.h */
#include "api_records.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "keys.h"

const char *api_aor_of_key(const char *key, size_t keylen, size_t *len) {
    static const char *const prefixes[] = {SB_KEY_REG "{", SB_KEY_REGEXP "{"};
    for (size_t i = 0; i < 2; i++) {
        size_t pl = strlen(prefixes[i]);
        if (keylen > pl + 1 && memcmp(key, prefixes[i], pl) == 0 && key[keylen - 1] == '}') {
            *len = keylen - pl - 1;
            return key + pl;
        }
    }
    return NULL;
}

int api_registration_append(json_t *list, const char *aor, size_t aor_len, const char *contact,
                            size_t contact_len, const char *record, size_t record_len,
                            int64_t now_ms) {
    json_t *rec = json_loadb(record, record_len, 0, NULL);
    if (!json_is_object(rec)) {
        json_decref(rec);
        return 0;
    }
    json_t *reg_at = json_object_get(rec, "registered_at_ms");
    json_t *exp_at = json_object_get(rec, "expires_at_ms");
    json_t *ua = json_object_get(rec, "user_agent");
    /* Times outside 1970..9999 are not times (and would overflow in microseconds). */
    if (!json_is_integer(reg_at) || !json_is_integer(exp_at) || json_integer_value(reg_at) < 0 ||
        json_integer_value(reg_at) > API_MAX_TIME_MS ||
        json_integer_value(exp_at) > API_MAX_TIME_MS || json_integer_value(exp_at) <= now_ms) {
        json_decref(rec);
        return 0;
    }
    int64_t exp_ms = json_integer_value(exp_at);
    int64_t reg_ms = json_integer_value(reg_at);
    /* routerd stores valid UTF-8; a key or field that is not is skipped, not fatal. */
    json_t *j_aor = json_stringn(aor, aor_len);
    json_t *j_contact = json_stringn(contact, contact_len);
    if (!j_aor || !j_contact) {
        json_decref(j_aor);
        json_decref(j_contact);
        json_decref(rec);
        return 0;
    }
    json_t *o = json_object();
    int rc = o ? 0 : -1;
    rc |= api_set(o, "aor", j_aor);
    rc |= api_set(o, "contact", j_contact);
    rc |= api_set(o, "expires", json_integer((exp_ms - now_ms + 999) / 1000));
    rc |= api_set(o, "registered_at", api_time(reg_ms * 1000));
    rc |= api_set(o, "expires_at", api_time(exp_ms * 1000));
    rc |= api_set(o, "user_agent", json_string(json_is_string(ua) ? json_string_value(ua) : ""));
    json_decref(rec);
    if (rc == 0)
        rc = json_array_append_new(list, o);
    else
        json_decref(o);
    return rc == 0 ? 1 : -1;
}

static int api_reg_cmp(const void *a, const void *b) {
    json_t *x = *(json_t *const *)a, *y = *(json_t *const *)b;
    int c = strcmp(json_string_value(json_object_get(x, "aor")),
                   json_string_value(json_object_get(y, "aor")));
    return c ? c
             : strcmp(json_string_value(json_object_get(x, "contact")),
                      json_string_value(json_object_get(y, "contact")));
}

void api_registrations_sort(json_t *list) {
    api_json_sort(list, api_reg_cmp);
}

const char *api_dialog_state(const char *state, int64_t ringing_ms) {
    if (!state)
        return "Terminated";
    if (strcmp(state, "routing") == 0)
        return "Initial";
    if (strcmp(state, "calling") == 0)
        return ringing_ms > 0 ? "Early" : "Initial";
    if (strcmp(state, "answered") == 0)
        return "WaitingACK";
    if (strcmp(state, "confirmed") == 0)
        return "Confirmed";
    if (strcmp(state, "ending") == 0)
        return "Terminating";
    return "Terminated";
}

/* A field of a dialog record; "" when absent. */
static const char *api_rec_str(const json_t *rec, const char *key) {
    const char *v = json_string_value(json_object_get(rec, key));
    return v ? v : "";
}

/* A numeric field of a dialog record; 0 when absent or not a number. */
static int64_t api_rec_int(const json_t *rec, const char *key) {
    const char *v = api_rec_str(rec, key);
    char *end;
    long long n = strtoll(v, &end, 10);
    return *v && *end == '\0' ? (int64_t)n : 0;
}

/* "" or "0" (no session) is null; ids are strings: 64 bits do not fit a JS number. */
static json_t *api_id_or_null(const char *id) {
    return *id && strcmp(id, "0") != 0 ? json_string(id) : json_null();
}

static json_t *api_str_or_null(const char *s) {
    return *s ? json_string(s) : json_null();
}

/* One leg of a record: a (the caller's, inbound) or b (the callee's, outbound). */
static json_t *api_dialog_leg(const json_t *rec, bool a, int64_t now_ms) {
    int64_t created = api_rec_int(rec, "created_ms");
    int64_t dur = created > 0 && now_ms > created ? (now_ms - created) / 1000 : 0;
    json_t *o = json_object();
    int rc = o ? 0 : -1;
    rc |= api_set(o, "call_id", json_string(api_rec_str(rec, a ? "a_call_id" : "b_call_id")));
    /* Our tag is the To tag we gave A and the From tag we gave B. */
    rc |= api_set(o, "local_tag", json_string(api_rec_str(rec, a ? "a_to_tag" : "b_from_tag")));
    rc |= api_set(o, "remote_tag", json_string(api_rec_str(rec, a ? "a_from_tag" : "b_to_tag")));
    rc |= api_set(o, "state",
                  json_string(api_dialog_state(json_string_value(json_object_get(rec, "state")),
                                               api_rec_int(rec, "ringing_ms"))));
    rc |= api_set(o, "direction", json_string(a ? "inbound" : "outbound"));
    rc |= api_set(o, "from_uri", json_string(api_rec_str(rec, "a_from_uri")));
    rc |= api_set(o, "to_uri", json_string(api_rec_str(rec, a ? "a_to_uri" : "b_to_uri")));
    /* the leg's remote target as sipd read it from its Contact */
    const char *addr = a ? "a_target_addr" : "b_target_addr";
    const char *port = a ? "a_target_port" : "b_target_port";
    rc |= api_set(o, "remote_addr", json_string(api_rec_str(rec, addr)));
    rc |= api_set(o, "remote_port", json_integer(api_rec_int(rec, port)));
    rc |= api_set(o, "session_id", api_id_or_null(api_rec_str(rec, "media_session")));
    rc |= api_set(o, "created_at", api_time_ms(created));
    rc |= api_set(o, "duration_seconds", json_integer(dur));
    /* Ours besides the prototype's. */
    rc |= api_set(o, "leg", json_string(a ? "a" : "b"));
    rc |= api_set(o, "peer_call_id",
                  api_str_or_null(api_rec_str(rec, a ? "b_call_id" : "a_call_id")));
    rc |= api_set(o, "node_id", json_string(api_rec_str(rec, "node")));
    rc |= api_set(o, "answered_at", api_time_ms(api_rec_int(rec, "answered_ms")));
    rc |= api_set(o, "remote_target", json_string(api_rec_str(rec, a ? "a_target" : "b_target")));
    if (rc) {
        json_decref(o);
        return NULL;
    }
    return o;
}

int api_dialog_legs_append(json_t *list, const json_t *rec, int64_t now_wall_ms) {
    if (!json_is_object(rec) || !*api_rec_str(rec, "a_call_id"))
        return 0;
    json_t *a = api_dialog_leg(rec, true, now_wall_ms);
    if (!a || json_array_append_new(list, a) < 0)
        return -1;
    if (!*api_rec_str(rec, "b_call_id"))
        return 1;
    json_t *b = api_dialog_leg(rec, false, now_wall_ms);
    if (!b || json_array_append_new(list, b) < 0)
        return -1;
    return 2;
}

static int api_dlg_cmp(const void *x, const void *y) {
    const json_t *a = *(json_t *const *)x, *b = *(json_t *const *)y;
    int64_t ca = api_rec_int(a, "created_ms"), cb = api_rec_int(b, "created_ms");
    if (ca != cb)
        return ca < cb ? -1 : 1;
    return strcmp(api_rec_str(a, "a_call_id"), api_rec_str(b, "a_call_id"));
}

void api_dialogs_sort(json_t *records) {
    api_json_sort(records, api_dlg_cmp);
}

json_t *api_dialog_detail(const json_t *rec, int64_t now_wall_ms, json_t *stats) {
    json_t *legs = json_array();
    int rc = legs ? 0 : -1;
    if (rc == 0 && api_dialog_legs_append(legs, rec, now_wall_ms) < 0)
        rc = -1;
    int64_t created = api_rec_int(rec, "created_ms");
    const char *mediad = api_rec_str(rec, "mediad");
    int64_t mediad_n = api_rec_int(rec, "mediad");
    json_t *media = json_object();
    rc |= media ? 0 : -1;
    rc |= api_set(media, "session_id", api_id_or_null(api_rec_str(rec, "media_session")));
    rc |= api_set(media, "mediad", *mediad && mediad_n >= 0 ? json_integer(mediad_n) : json_null());
    rc |= api_set(media, "stats", stats ? stats : json_null());
    json_t *o = json_object();
    rc |= o ? 0 : -1;
    rc |= api_set(o, "call_id", json_string(api_rec_str(rec, "a_call_id")));
    rc |= api_set(o, "b_call_id", api_str_or_null(api_rec_str(rec, "b_call_id")));
    rc |= api_set(o, "state",
                  json_string(api_dialog_state(json_string_value(json_object_get(rec, "state")),
                                               api_rec_int(rec, "ringing_ms"))));
    rc |= api_set(o, "call_state", json_string(api_rec_str(rec, "state")));
    rc |= api_set(o, "node_id", json_string(api_rec_str(rec, "node")));
    rc |= api_set(o, "dialogd", json_integer(api_rec_int(rec, "dialogd")));
    rc |= api_set(o, "from_display", json_string(api_rec_str(rec, "a_from_display")));
    rc |= api_set(o, "from_uri", json_string(api_rec_str(rec, "a_from_uri")));
    rc |= api_set(o, "to_uri", json_string(api_rec_str(rec, "a_to_uri")));
    rc |= api_set(o, "created_at", api_time_ms(created));
    rc |= api_set(o, "ringing_at", api_time_ms(api_rec_int(rec, "ringing_ms")));
    rc |= api_set(o, "answered_at", api_time_ms(api_rec_int(rec, "answered_ms")));
    rc |= api_set(
        o, "duration_seconds",
        json_integer(created > 0 && now_wall_ms > created ? (now_wall_ms - created) / 1000 : 0));
    rc |= api_set(o, "legs", legs);
    rc |= api_set(o, "media", media);
    if (rc) {
        json_decref(o);
        return NULL;
    }
    return o;
}

/* "ip:port" split; addr "" and port 0 when text is not one. */
static void api_split_addr(const char *text, char *addr, size_t addrlen, int *port) {
    addr[0] = '\0';
    *port = 0;
    const char *colon = text ? strrchr(text, ':') : NULL;
    if (!colon || (size_t)(colon - text) >= addrlen)
        return;
    memcpy(addr, text, (size_t)(colon - text));
    addr[colon - text] = '\0';
    *port = atoi(colon + 1);
}

static json_t *api_side_json(const Sb__MediaSideStats *s) {
    json_t *o = json_object();
    int rc = o ? 0 : -1;
    rc |= api_set(o, "rx_packets", api_uint(s ? s->rx_packets : 0));
    rc |= api_set(o, "rx_bytes", api_uint(s ? s->rx_bytes : 0));
    rc |= api_set(o, "rx_lost", api_uint(s ? s->rx_lost : 0));
    rc |= api_set(o, "rx_jitter", api_uint(s ? s->rx_jitter : 0));
    rc |= api_set(o, "rx_dropped", api_uint(s ? s->rx_dropped : 0));
    rc |= api_set(o, "tx_packets", api_uint(s ? s->tx_packets : 0));
    rc |= api_set(o, "tx_bytes", api_uint(s ? s->tx_bytes : 0));
    rc |= api_set(o, "rtcp_packets", api_uint(s ? s->rtcp_packets : 0));
    rc |= api_set(o, "srtp_failed", api_uint(s ? s->srtp_failed : 0));
    rc |= api_set(o, "remote", json_string(s && s->remote ? s->remote : ""));
    rc |= api_set(o, "local", json_string(s && s->local ? s->local : ""));
    if (rc) {
        json_decref(o);
        return NULL;
    }
    return o;
}

json_t *api_session_json(const Sb__MediaSessionInfo *info, unsigned instance) {
    char id[24], bridged[24], node[32], local[64], remote[64];
    int lport, rport;
    snprintf(id, sizeof id, "%llu", (unsigned long long)info->session_id);
    snprintf(bridged, sizeof bridged, "%llu", (unsigned long long)info->bridged_to);
    snprintf(node, sizeof node, "mediad-%u", instance);
    /* The prototype's one address pair: side A's (the caller's), as the relay sees it. */
    api_split_addr(info->a ? info->a->local : NULL, local, sizeof local, &lport);
    api_split_addr(info->a ? info->a->remote : NULL, remote, sizeof remote, &rport);
    json_t *o = json_object();
    int rc = o ? 0 : -1;
    rc |= api_set(o, "session_id", json_string(id));
    rc |= api_set(o, "call_id", json_string(info->call_id ? info->call_id : ""));
    rc |= api_set(o, "local_addr", json_string(local));
    rc |= api_set(o, "local_port", json_integer(lport));
    rc |= api_set(o, "remote_addr", json_string(remote));
    rc |= api_set(o, "remote_port", json_integer(rport));
    rc |= api_set(o, "codec", json_string(info->codec ? info->codec : ""));
    rc |= api_set(o, "state", json_string(info->state ? info->state : ""));
    rc |= api_set(o, "rtp_manager", json_string(node));
    rc |= api_set(o, "created_at", api_time_ms(info->created_at_ms));
    rc |= api_set(o, "mediad", json_integer(instance));
    rc |= api_set(o, "media_lines", json_integer(info->media_lines));
    rc |= api_set(o, "bridged_to", info->bridged_to ? json_string(bridged) : json_null());
    rc |= api_set(o, "playing", json_boolean(info->playing));
    rc |= api_set(o, "a", api_side_json(info->a));
    rc |= api_set(o, "b", api_side_json(info->b));
    if (rc) {
        json_decref(o);
        return NULL;
    }
    return o;
}
