/*
 * routerd - registrar, location service and dialplan (issue: SIP core / calls).
 * So far it runs the worker lifecycle only (lib/worker.h): status to master, heartbeat
 * and counters in shm, IPC with its peers, its Redis link, reload, drain and stop.
 * Its real job arrives with its issue; until then it answers Ping and Hello and refuses
 * every other request with an Error envelope.
 */
#include "worker.h"

static const struct worker_ops routerd_ops = {
    .role = SB_ROLE_routerd,
};

int main(int argc, char **argv) {
    return worker_main(argc, argv, &routerd_ops);
}
