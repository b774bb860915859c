/*
 * reg_probe - sends one RegisterRequest, LocationRequest (as sipd would) or RouteRequest
 * (as dialogd would) to a routerd IPC socket and prints the answer in a greppable form,
 * for the integration tests.
 *   reg_probe PATH register AOR CALL-ID CSEQ [OPTIONS] [CONTACT ...]
 *       CONTACT is URI[;expires=N][;q=Q][;reg-id=N][;instance=I] (those parameters, at
 *       the end, become the ContactSpec's fields; any other parameter stays in the URI)
 *       --expires N      the Expires header      --wildcard   Contact: *
 *       --ua TEXT        User-Agent              --source TRANSPORT:ADDR:PORT[#INSTANCE]
 *       --flow-gone      the source's flow is gone (removals only while still on it)
 *   reg_probe PATH lookup AOR [OPTIONS]
 *   reg_probe PATH route DESTINATION [DOMAIN] [OPTIONS]
 *   OPTIONS (all): --timeout-ms N (default 5000); --close-after-ms N: send, read nothing,
 *   close the socket after N ms and print "sent" (a requester that goes away before
 *   routerd answers); --no-wait is --close-after-ms 0.
 * Output: "status N", "reason TEXT", "min_expires N", "retry_after N", "count N", then one
 * line per binding, in the order received. A RouteReply prints "status N", "route_id ID",
 * "actions N", then per action "action I type=T aor=A uri=U location=S count=N" (S: the
 * location's status, "none" when absent) followed by that location's binding lines.
 * Binding lines:
 *   binding uri=URI expires=N q=N cseq=N call_id=ID source=T:ADDR:PORT#I
 *           registered_at_ms=N expires_at_ms=N user_agent=TEXT   (one line)
 * Exit: 0 when an answer came (whatever its status), 1 when none did, 2 on usage errors.
 * Envelopes that are not the answer (routerd's channel probes) are skipped.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "clock.h"
#include "ipc.h"

#define PROBE_REQUEST_ID 4242

static void usage(void) {
    fprintf(stderr,
            "usage: reg_probe PATH register AOR CALL-ID CSEQ [--expires N] [--wildcard]\n"
            "         [--ua TEXT] [--source T:ADDR:PORT[#I]] [--timeout-ms N] [--no-wait]\n"
            "         [--close-after-ms N] [--flow-gone]\n"
            "         [CONTACT[;expires=N][;q=Q][;reg-id=N][;instance=I] ...]\n"
            "       reg_probe PATH lookup AOR [--timeout-ms N] [--no-wait]\n"
            "         [--close-after-ms N]\n"
            "       reg_probe PATH route DESTINATION [DOMAIN] [--timeout-ms N] [--no-wait]\n"
            "         [--close-after-ms N]\n");
    exit(2);
}

static long parse_long(const char *s, long lo, long hi) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) {
        fprintf(stderr, "reg_probe: bad number '%s'\n", s);
        exit(2);
    }
    return v;
}

/* Takes trailing ";expires=N" and ";q=Q" off uri (in place) into c. */
static void parse_contact(char *uri, Sb__ContactSpec *c) {
    sb__contact_spec__init(c);
    c->expires = -1;
    c->q = -1;
    for (;;) {
        char *semi = strrchr(uri, ';');
        if (!semi)
            break;
        if (strncmp(semi, ";expires=", 9) == 0) {
            c->expires = (int32_t)parse_long(semi + 9, 0, INT32_MAX);
        } else if (strncmp(semi, ";reg-id=", 8) == 0) {
            c->reg_id = (uint32_t)parse_long(semi + 8, 0, INT32_MAX);
        } else if (strncmp(semi, ";instance=", 10) == 0) {
            c->instance = semi + 10;
        } else if (strncmp(semi, ";q=", 3) == 0) {
            char *end;
            double q = strtod(semi + 3, &end);
            if (end == semi + 3 || *end || q < 0 || q > 1000) {
                fprintf(stderr, "reg_probe: bad q '%s'\n", semi + 3);
                exit(2);
            }
            c->q = (int32_t)(q * 1000 + 0.5);
        } else {
            break;
        }
        *semi = '\0';
    }
    c->uri = uri;
}

static void parse_source(char *spec, Sb__SipPeer *p) {
    sb__sip_peer__init(p);
    char *hash = strchr(spec, '#');
    if (hash) {
        *hash = '\0';
        p->sipd_instance = (uint32_t)parse_long(hash + 1, 0, 1000);
    }
    char *c1 = strchr(spec, ':'), *c2 = strrchr(spec, ':');
    if (!c1 || c1 == c2)
        usage();
    *c1 = *c2 = '\0';
    p->transport = spec;
    p->addr = c1 + 1;
    p->port = (uint32_t)parse_long(c2 + 1, 0, 65535);
}

static const char *str(const char *s) {
    return s ? s : "";
}

static void print_binding(const Sb__Binding *b) {
    const Sb__SipPeer *s = b->source;
    printf("binding uri=%s expires=%" PRIu32 " q=%" PRId32 " cseq=%" PRIu32 " call_id=%s "
           "source=%s:%s:%" PRIu32 "#%" PRIu32 " registered_at_ms=%" PRId64
           " expires_at_ms=%" PRId64 " user_agent=%s\n",
           str(b->uri), b->expires, b->q, b->cseq, str(b->call_id), s ? str(s->transport) : "",
           s ? str(s->addr) : "", s ? s->port : 0, s ? s->sipd_instance : 0, b->registered_at_ms,
           b->expires_at_ms, str(b->user_agent));
}

static const char *action_type(Sb__RouteActionType t) {
    switch (t) {
    case SB__ROUTE_ACTION_TYPE__ROUTE_ACTION_DIAL:
        return "dial";
    case SB__ROUTE_ACTION_TYPE__ROUTE_ACTION_PLAY_AUDIO:
        return "play_audio";
    case SB__ROUTE_ACTION_TYPE__ROUTE_ACTION_HANGUP:
        return "hangup";
    default:
        return "unknown";
    }
}

static void print_action(size_t i, const Sb__RouteAction *a) {
    const Sb__LocationReply *l = a->location;
    char loc[16] = "none";
    if (l)
        snprintf(loc, sizeof loc, "%" PRIu32, l->status);
    printf("action %zu type=%s aor=%s uri=%s location=%s count=%zu\n", i, action_type(a->type),
           str(a->aor), str(a->uri), loc, l ? l->n_bindings : 0);
    for (size_t k = 0; l && k < l->n_bindings; k++)
        print_binding(l->bindings[k]);
}

/* Waits for the envelope answering PROBE_REQUEST_ID; NULL on timeout or EOF. */
static Sb__Envelope *await_reply(int fd, int timeout_ms) {
    static uint8_t buf[1 << 20];
    int64_t end = clock_mono_us() + (int64_t)timeout_ms * 1000;
    for (;;) {
        int64_t left = (end - clock_mono_us()) / 1000;
        if (left <= 0)
            return NULL;
        struct pollfd pfd = {fd, POLLIN, 0};
        int rc = poll(&pfd, 1, (int)left);
        if (rc < 0 && errno == EINTR)
            continue;
        if (rc <= 0)
            return NULL;
        ssize_t n = recv(fd, buf, sizeof buf, 0);
        if (n <= 0)
            return NULL;
        Sb__Envelope *env = sb__envelope__unpack(NULL, (size_t)n, buf);
        if (env && env->reply_to == PROBE_REQUEST_ID)
            return env;
        if (env)
            sb__envelope__free_unpacked(env, NULL);
    }
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc < 4)
        usage();
    const char *path = argv[1], *op = argv[2];
    bool is_register = strcmp(op, "register") == 0, is_route = strcmp(op, "route") == 0;
    if (!is_register && !is_route && strcmp(op, "lookup") != 0)
        usage();
    if (is_register && argc < 6)
        usage();

    Sb__Envelope env = SB__ENVELOPE__INIT;
    Sb__RegisterRequest rr = SB__REGISTER_REQUEST__INIT;
    Sb__LocationRequest lr = SB__LOCATION_REQUEST__INIT;
    Sb__RouteRequest rt = SB__ROUTE_REQUEST__INIT;
    Sb__SipPeer source;
    Sb__ContactSpec specs[64];
    Sb__ContactSpec *spec_ptrs[64];
    int timeout_ms = 5000;
    int close_after_ms = -1; /* -1: wait for the answer */
    int i = 4;
    if (is_register) {
        rr.aor = argv[3];
        rr.call_id = argv[4];
        rr.cseq = (uint32_t)parse_long(argv[5], 0, UINT32_MAX);
        rr.expires = -1;
        rr.user_agent = "reg_probe";
        static char default_source[] = "udp:127.0.0.1:5060#0";
        parse_source(default_source, &source);
        rr.source = &source;
        rr.contacts = spec_ptrs;
        i = 6;
    } else if (is_route) {
        rt.call_id = "reg-probe-route";
        rt.destination = argv[3];
        rt.caller_id = "reg_probe";
        if (argc > 4 && argv[4][0] != '-')
            rt.domain = argv[i++];
    } else {
        lr.aor = argv[3];
    }
    for (; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--timeout-ms") == 0 && i + 1 < argc) {
            timeout_ms = (int)parse_long(argv[++i], 1, 600000);
        } else if (strcmp(a, "--no-wait") == 0) {
            close_after_ms = 0;
        } else if (strcmp(a, "--close-after-ms") == 0 && i + 1 < argc) {
            close_after_ms = (int)parse_long(argv[++i], 0, 600000);
        } else if (is_register && strcmp(a, "--expires") == 0 && i + 1 < argc) {
            rr.expires = (int32_t)parse_long(argv[++i], -1, INT32_MAX);
        } else if (is_register && strcmp(a, "--flow-gone") == 0) {
            rr.flow_gone = true;
        } else if (is_register && strcmp(a, "--wildcard") == 0) {
            rr.wildcard = true;
        } else if (is_register && strcmp(a, "--ua") == 0 && i + 1 < argc) {
            rr.user_agent = argv[++i];
        } else if (is_register && strcmp(a, "--source") == 0 && i + 1 < argc) {
            parse_source(argv[++i], &source);
        } else if (is_register && a[0] != '-' && rr.n_contacts < 64) {
            parse_contact(argv[i], &specs[rr.n_contacts]);
            spec_ptrs[rr.n_contacts] = &specs[rr.n_contacts];
            rr.n_contacts++;
        } else {
            usage();
        }
    }
    env.request_id = PROBE_REQUEST_ID;
    if (is_register) {
        env.body_case = SB__ENVELOPE__BODY_REGISTER_REQUEST;
        env.register_request = &rr;
    } else if (is_route) {
        env.body_case = SB__ENVELOPE__BODY_ROUTE_REQUEST;
        env.route_request = &rt;
    } else {
        env.body_case = SB__ENVELOPE__BODY_LOCATION_REQUEST;
        env.location_request = &lr;
    }

    int fd = ipc_connect_path(path);
    if (fd < 0) {
        fprintf(stderr, "reg_probe: connect %s: %s\n", path, strerror(-fd));
        return 1;
    }
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
    size_t len = sb__envelope__get_packed_size(&env);
    uint8_t *pkt = malloc(len);
    sb__envelope__pack(&env, pkt);
    ssize_t sent = send(fd, pkt, len, 0);
    free(pkt);
    if (sent != (ssize_t)len) {
        fprintf(stderr, "reg_probe: send: %s\n", strerror(errno));
        close(fd);
        return 1;
    }
    if (close_after_ms >= 0) {
        if (close_after_ms > 0)
            usleep((useconds_t)close_after_ms * 1000);
        close(fd);
        printf("sent\n");
        return 0;
    }
    Sb__Envelope *reply = await_reply(fd, timeout_ms);
    close(fd);
    if (!reply) {
        printf("no reply\n");
        return 1;
    }
    int rc = 0;
    if (reply->body_case == SB__ENVELOPE__BODY_REGISTER_REPLY) {
        const Sb__RegisterReply *r = reply->register_reply;
        printf("status %" PRIu32 "\nreason %s\nmin_expires %" PRIu32 "\nretry_after %" PRIu32
               "\ncount %zu\n",
               r->status, str(r->reason), r->min_expires, r->retry_after, r->n_bindings);
        for (size_t k = 0; k < r->n_bindings; k++)
            print_binding(r->bindings[k]);
    } else if (reply->body_case == SB__ENVELOPE__BODY_LOCATION_REPLY) {
        const Sb__LocationReply *r = reply->location_reply;
        printf("status %" PRIu32 "\ncount %zu\n", r->status, r->n_bindings);
        for (size_t k = 0; k < r->n_bindings; k++)
            print_binding(r->bindings[k]);
    } else if (reply->body_case == SB__ENVELOPE__BODY_ROUTE_REPLY) {
        const Sb__RouteReply *r = reply->route_reply;
        printf("status %" PRIu32 "\nroute_id %s\nactions %zu\n", r->status, str(r->route_id),
               r->n_actions);
        for (size_t k = 0; k < r->n_actions; k++)
            print_action(k, r->actions[k]);
    } else if (reply->body_case == SB__ENVELOPE__BODY_ERROR) {
        printf("error %d %s\n", reply->error->code, str(reply->error->message));
    } else {
        printf("unexpected %s\n", ipc_body_name(reply));
        rc = 1;
    }
    sb__envelope__free_unpacked(reply, NULL);
    return rc;
}
