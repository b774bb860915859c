/* dlg - see dlg.h */
#include "dlg.h"

#include <stdlib.h>
#include <string.h>

bool dlg_set(char **dst, const char *src) {
    char *copy = strdup(src ? src : "");
    free(*dst);
    *dst = copy;
    return copy != NULL;
}

bool dlg_set_routes(struct dlg *d, char *const *record_route, size_t n) {
    for (size_t i = 0; i < d->nroutes; i++)
        free(d->route_set[i]);
    d->nroutes = 0;
    bool ok = true;
    for (size_t i = 0; i < n && i < DLG_MAX_ROUTES; i++) {
        const char *v = d->role == DLG_UAC ? record_route[n - 1 - i] : record_route[i];
        char *copy = strdup(v ? v : "");
        if (!copy) {
            ok = false;
            continue;
        }
        d->route_set[d->nroutes++] = copy;
    }
    return ok;
}

void dlg_blob_keep(struct dlg_blob *dst, const uint8_t *data, size_t len) {
    if (data == dst->data || len == 0) /* the one kept already (it must outlive this) */
        return;
    uint8_t *copy = malloc(len);
    if (!copy)
        return;
    memcpy(copy, data, len);
    free(dst->data);
    dst->data = copy;
    dst->len = len;
}

void dlg_blob_free(struct dlg_blob *b) {
    free(b->data);
    b->data = NULL;
    b->len = 0;
}

void dlg_clear(struct dlg *d) {
    char *strs[] = {d->call_id,        d->local_tag,     d->remote_tag,
                    d->local_uri,      d->remote_uri,    d->local_display,
                    d->remote_display, d->remote_target, d->remote_host};
    for (size_t i = 0; i < sizeof strs / sizeof strs[0]; i++)
        free(strs[i]);
    for (size_t i = 0; i < d->nroutes; i++)
        free(d->route_set[i]);
    dlg_blob_free(&d->sdp);
    dlg_blob_free(&d->ours);
    memset(d, 0, sizeof *d);
}

static char *text(char *s) {
    return s ? s : "";
}

void dlg_request_fill(const struct dlg *d, Sb__SipMessage *msg, const char *method, uint32_t cseq) {
    msg->method = (char *)method;
    msg->cseq = cseq;
    msg->request_uri = text(d->remote_target);
    msg->from_display = text(d->local_display);
    msg->from_uri = text(d->local_uri);
    msg->from_tag = text(d->local_tag);
    msg->to_display = text(d->remote_display);
    msg->to_uri = text(d->remote_uri);
    msg->to_tag = text(d->remote_tag);
    msg->call_id = text(d->call_id);
    msg->route = (char **)d->route_set;
    msg->n_route = d->nroutes;
}
