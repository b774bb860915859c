/* dlg - see dlg.h */
#include "dlg.h"

#include <stdio.h>
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

void dlg_peer_free(Sb__SipPeer *p) {
    if (p->base.descriptor) {
        free(p->transport);
        free(p->addr);
        free(p->local_addr);
        free(p->instance);
        for (size_t i = 0; i < p->n_path; i++)
            free(p->path[i]);
        free(p->path);
    }
    memset(p, 0, sizeof *p);
}

bool dlg_peer_copy(Sb__SipPeer *dst, const Sb__SipPeer *src) {
    dlg_peer_free(dst);
    if (!src)
        return true;
    sb__sip_peer__init(dst);
    dst->transport = dst->addr = dst->local_addr = dst->instance = NULL;
    bool ok = dlg_set(&dst->instance, src->instance) && dlg_set(&dst->transport, src->transport) &&
              dlg_set(&dst->addr, src->nated || src->outbound ? src->addr : "") &&
              dlg_set(&dst->local_addr, src->local_addr);
    dst->port = src->nated || src->outbound ? src->port : 0;
    dst->outbound = src->outbound;
    if (ok && src->n_path) { /* RFC 3327 Path: the Route our requests to it carry */
        size_t n = src->n_path < DLG_MAX_ROUTES ? src->n_path : DLG_MAX_ROUTES;
        ok = (dst->path = calloc(n, sizeof *dst->path)) != NULL;
        for (size_t i = 0; ok && i < n; i++) {
            ok = dlg_set(&dst->path[i], src->path[i]);
            dst->n_path = i + 1;
        }
    }
    dst->local_port = src->local_port;
    dst->conn_id = src->conn_id;
    dst->sipd_instance = src->sipd_instance;
    dst->nated = src->nated;
    if (!ok)
        dlg_peer_free(dst);
    return ok;
}

/* "transport addr port local_addr local_port conn_id instance flags", "-" for ""; flags:
 * 1 nated, 2 outbound */
const char *dlg_hop_text(const Sb__SipPeer *hop, char out[DLG_HOP_TEXT_MAX]) {
    out[0] = '\0';
    if (!hop->base.descriptor)
        return out;
#define DLG_DASH(s) ((s) && *(s) ? (s) : "-")
    int n = snprintf(out, DLG_HOP_TEXT_MAX, "%s %s %u %s %u %llu %u %d", DLG_DASH(hop->transport),
                     DLG_DASH(hop->addr), hop->port, DLG_DASH(hop->local_addr), hop->local_port,
                     (unsigned long long)hop->conn_id, hop->sipd_instance,
                     (hop->nated ? 1 : 0) | (hop->outbound ? 2 : 0));
#undef DLG_DASH
    if (n < 0 || n >= DLG_HOP_TEXT_MAX)
        out[0] = '\0';
    return out;
}

bool dlg_hop_parse(Sb__SipPeer *hop, const char *text) {
    dlg_peer_free(hop);
    if (!text || !*text)
        return true;
    char transport[8], addr[64], local[64];
    unsigned port, local_port, instance;
    unsigned long long conn;
    int nated;
    if (sscanf(text, "%7s %63s %u %63s %u %llu %u %d", transport, addr, &port, local,
               &local_port, &conn, &instance, &nated) != 8 ||
        port > 65535 || local_port > 65535)
        return false;
    Sb__SipPeer p = SB__SIP_PEER__INIT;
    p.transport = strcmp(transport, "-") ? transport : "";
    p.addr = strcmp(addr, "-") ? addr : "";
    p.port = port;
    p.local_addr = strcmp(local, "-") ? local : "";
    p.local_port = local_port;
    p.conn_id = conn;
    p.sipd_instance = instance;
    p.nated = (nated & 1) != 0;
    p.outbound = (nated & 2) != 0;
    return dlg_peer_copy(hop, &p);
}

static bool tag_is(const char *have, const char *got) {
    return have && *have && got && *got && strcmp(have, got) == 0;
}

bool dlg_matches(const struct dlg *d, const char *from_tag, const char *to_tag) {
    return tag_is(d->local_tag, to_tag) && tag_is(d->remote_tag, from_tag);
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
    dlg_peer_free(&d->hop);
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
    if (d->hop.base.descriptor)
        msg->next_hop = (Sb__SipPeer *)&d->hop;
}
