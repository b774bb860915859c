/*
 * dialogd - B2BUA call state (issue: calls).
 * So far it runs the worker lifecycle only (lib/worker.h): status to master, heartbeat
 * and counters in shm, IPC with its peers, its Redis link, reload, drain and stop.
 * Its real job arrives with its issue; until then it answers Ping and Hello and refuses
 * every other request with an Error envelope.
 */
#include "worker.h"

static const struct worker_ops dialogd_ops = {
    .role = SB_ROLE_dialogd,
};

int main(int argc, char **argv) {
    return worker_main(argc, argv, &dialogd_ops);
}
