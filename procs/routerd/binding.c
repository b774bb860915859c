/* binding - see binding.h */
#include "binding.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

int binding_contact_expires(int32_t contact_expires, int32_t header_expires,
                            const struct binding_limits *lim, uint32_t *expires) {
    uint32_t asked;
    if (contact_expires >= 0) {
        asked = (uint32_t)contact_expires;
    } else if (header_expires >= 0) {
        asked = (uint32_t)header_expires;
    } else {
        /* Our own choice, not the UA's: never a 423, always within the limits. */
        asked = lim->default_expires;
        if (asked < lim->min_expires)
            asked = lim->min_expires;
        if (asked < 1)
            asked = 1;
    }
    if (asked == 0) {
        *expires = 0;
        return 0;
    }
    if (asked < lim->min_expires) { /* RFC 3261 10.3 step 7: 423 Interval Too Brief */
        *expires = asked;
        return 423;
    }
    *expires = asked > lim->max_expires ? lim->max_expires : asked;
    return 0;
}

static void plan_refuse(struct binding_plan *plan, uint32_t status, const char *reason) {
    free(plan->changes);
    plan->changes = NULL;
    plan->n = 0;
    plan->wildcard = false;
    plan->status = status;
    plan->reason = reason;
}

int binding_plan_make(const Sb__RegisterRequest *req, const struct binding_limits *lim,
                      struct binding_plan *plan) {
    memset(plan, 0, sizeof *plan);
    if (!req->aor || !req->aor[0]) {
        plan_refuse(plan, 400, "Missing AOR");
        return 0;
    }
    if (!req->call_id || !req->call_id[0]) {
        plan_refuse(plan, 400, "Missing Call-ID");
        return 0;
    }
    if (req->wildcard) {
        /* RFC 3261 10.3 step 6: "*" only with Expires: 0 and no other Contact. */
        if (req->n_contacts != 0 || req->expires != 0)
            plan_refuse(plan, 400, "Invalid wildcard Contact");
        else
            plan->wildcard = true;
        return 0;
    }
    if (req->n_contacts > BINDING_MAX_CONTACTS) {
        plan_refuse(plan, 400, "Too many Contacts");
        return 0;
    }
    if (req->n_contacts == 0)
        return 0; /* a query: the current bindings */
    plan->changes = calloc(req->n_contacts, sizeof *plan->changes);
    if (!plan->changes)
        return -ENOMEM;
    for (size_t i = 0; i < req->n_contacts; i++) {
        const Sb__ContactSpec *c = req->contacts[i];
        if (!c->uri || !c->uri[0]) {
            plan_refuse(plan, 400, "Empty Contact URI");
            return 0;
        }
        if (c->q < -1 || c->q > 1000) {
            plan_refuse(plan, 400, "Bad q-value");
            return 0;
        }
        uint32_t expires;
        if (binding_contact_expires(c->expires, req->expires, lim, &expires) == 423) {
            plan_refuse(plan, 423, "Interval Too Brief");
            plan->min_expires = lim->min_expires;
            return 0;
        }
        plan->changes[i].uri = c->uri;
        plan->changes[i].expires = expires;
        plan->changes[i].q = c->q;
    }
    plan->n = req->n_contacts;
    return 0;
}

void binding_plan_clear(struct binding_plan *plan) {
    free(plan->changes);
    memset(plan, 0, sizeof *plan);
}

static int q_rank(int32_t q) {
    return q < 0 ? BINDING_Q_ABSENT_RANK : q;
}

int binding_compare(const struct binding *a, const struct binding *b) {
    int qa = q_rank(a->q), qb = q_rank(b->q);
    if (qa != qb)
        return qa > qb ? -1 : 1;
    if (a->registered_at_ms != b->registered_at_ms)
        return a->registered_at_ms > b->registered_at_ms ? -1 : 1;
    return strcmp(a->uri, b->uri);
}

static int compare_ptr(const void *a, const void *b) {
    return binding_compare(*(const struct binding *const *)a, *(const struct binding *const *)b);
}

void binding_sort(struct binding **v, size_t n) {
    if (n > 1)
        qsort(v, n, sizeof *v, compare_ptr);
}

uint32_t binding_seconds_left(const struct binding *b, int64_t now_ms) {
    if (b->expires_at_ms <= now_ms)
        return 0;
    int64_t s = (b->expires_at_ms - now_ms + 999) / 1000;
    return s > UINT32_MAX ? UINT32_MAX : (uint32_t)s;
}

/* Length of the valid UTF-8 sequence at s (at most n bytes), 0 when invalid. */
static size_t utf8_seq(const unsigned char *s, size_t n) {
    unsigned c = s[0];
    size_t len;
    unsigned min, cp;
    if (c < 0x80)
        return 1;
    if ((c & 0xe0) == 0xc0) {
        len = 2, min = 0x80, cp = c & 0x1f;
    } else if ((c & 0xf0) == 0xe0) {
        len = 3, min = 0x800, cp = c & 0x0f;
    } else if ((c & 0xf8) == 0xf0) {
        len = 4, min = 0x10000, cp = c & 0x07;
    } else {
        return 0;
    }
    if (len > n)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return len;
}

char *binding_clean_text(const char *s) {
    if (!s)
        s = "";
    size_t n = strlen(s);
    char *copy = malloc(n + 1);
    if (!copy)
        return NULL;
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = 0; i < n;) {
        size_t l = utf8_seq(u + i, n - i);
        if (l == 0) {
            copy[i++] = '?';
        } else {
            memcpy(copy + i, s + i, l);
            i += l;
        }
    }
    copy[n] = '\0';
    return copy;
}

static json_t *json_clean_string(const char *s) {
    char *copy = binding_clean_text(s);
    if (!copy)
        return NULL;
    json_t *j = json_string_nocheck(copy);
    free(copy);
    return j;
}

char *binding_encode(const struct binding *b) {
    json_t *o = json_pack(
        "{s:o, s:i, s:o, s:I, s:o, s:o, s:o, s:I, s:I, s:I, s:I}", "uri", json_clean_string(b->uri),
        "q", (int)b->q, "call_id", json_clean_string(b->call_id), "cseq", (json_int_t)b->cseq,
        "user_agent", json_clean_string(b->user_agent), "transport",
        json_clean_string(b->transport), "addr", json_clean_string(b->addr), "port",
        (json_int_t)b->port, "sipd_instance", (json_int_t)b->sipd_instance, "registered_at_ms",
        (json_int_t)b->registered_at_ms, "expires_at_ms", (json_int_t)b->expires_at_ms);
    if (!o)
        return NULL;
    char *text = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(o);
    return text;
}

static const char *get_str(json_t *o, const char *key) {
    const char *s = json_string_value(json_object_get(o, key));
    return s ? s : "";
}

static bool get_int(json_t *o, const char *key, int64_t lo, int64_t hi, int64_t *out) {
    json_t *v = json_object_get(o, key);
    if (!json_is_integer(v))
        return false;
    json_int_t i = json_integer_value(v);
    if (i < lo || i > hi)
        return false;
    *out = i;
    return true;
}

struct binding *binding_decode(const char *text, size_t len) {
    json_t *o = json_loadb(text, len, JSON_REJECT_DUPLICATES, NULL);
    if (!json_is_object(o)) {
        json_decref(o);
        return NULL;
    }
    int64_t q, cseq, port = 0, inst = 0, reg_at, exp_at;
    const char *uri = get_str(o, "uri");
    struct binding *b = NULL;
    if (!uri[0] || !get_int(o, "q", -1, 1000, &q) || !get_int(o, "cseq", 0, UINT32_MAX, &cseq) ||
        !get_int(o, "registered_at_ms", 0, INT64_MAX, &reg_at) ||
        !get_int(o, "expires_at_ms", 0, INT64_MAX, &exp_at))
        goto out;
    get_int(o, "port", 0, 65535, &port);
    get_int(o, "sipd_instance", 0, UINT32_MAX, &inst);
    const char *strs[6] = {uri,
                           get_str(o, "call_id"),
                           get_str(o, "user_agent"),
                           get_str(o, "transport"),
                           get_str(o, "addr"),
                           NULL};
    size_t total = sizeof *b;
    for (int i = 0; strs[i]; i++)
        total += strlen(strs[i]) + 1;
    b = malloc(total);
    if (!b)
        goto out;
    char *p = (char *)(b + 1);
    char **dst[5] = {&b->uri, &b->call_id, &b->user_agent, &b->transport, &b->addr};
    for (int i = 0; strs[i]; i++) {
        size_t l = strlen(strs[i]) + 1;
        memcpy(p, strs[i], l);
        *dst[i] = p;
        p += l;
    }
    b->q = (int32_t)q;
    b->cseq = (uint32_t)cseq;
    b->port = (uint32_t)port;
    b->sipd_instance = (uint32_t)inst;
    b->registered_at_ms = reg_at;
    b->expires_at_ms = exp_at;
out:
    json_decref(o);
    return b;
}
