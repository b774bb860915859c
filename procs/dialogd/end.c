/* end - see end.h */
#include "end.h"

#include "log.h"
#include "record.h"
#include "sipout.h"

bool end_cancel_fork(b2b_t *b, struct call *c, unsigned k) {
    struct call_fork *f = &c->forks[k];
    if (f->cancel_sent)
        return true;
    if (!f->txn)
        return false;
    f->cancel_sent = sipout_cancel(b, f->txn);
    return f->cancel_sent;
}

bool end_cancel_forks(b2b_t *b, struct call *c) {
    bool waiting = false;
    for (unsigned k = 0; k < c->nforks; k++) {
        if (c->forks[k].done || (int)k == c->winner)
            continue;
        if (end_cancel_fork(b, c, k))
            waiting = true;
        else
            c->forks[k].done = true;
    }
    return waiting;
}

void end_held_forget(b2b_t *b, struct call *c, bool bye) {
    if (bye && c->held.call_id)
        sipout_request_dlg(b, c, &c->held, NULL, LEG_B, "BYE", ++c->held.local_cseq, KIND_STRAY,
                           NULL, 0, NULL);
    dlg_clear(&c->held);
    c->held_is_a = false;
}

void end_fail(b2b_t *b, struct call *c, unsigned status, const char *reason) {
    if (c->leg[LEG_A].final_sent) { /* answered here (play_audio): the end is a BYE */
        if (!c->end_cause)
            c->end_cause = "route_over";
        end_hang_up(b, c, reason ? reason : "the route is over");
        return;
    }
    if (!c->end_cause)
        c->end_cause = c->cancelled ? "cancelled" : "failed";
    c->end_status = status;
    sipout_respond_a(b, c, status, reason, NULL, NULL, 0, NULL);
    shm_count(b->slot, SHM_C_calls_failed, 1);
    call_free(b, c);
}

void end_hang_up(b2b_t *b, struct call *c, const char *why) {
    log_call(LOG_INFO, c->leg[LEG_A].call_id, "hanging up (%s)", why);
    uv_timer_stop(&c->dial_timer);
    bool dialing = c->state == CS_CALLING || c->state == CS_EARLY || c->state == CS_TRANSFERRING;
    if (dialing) /* B still rings */
        end_cancel_forks(b, c);
    bool b_up = c->leg[LEG_B].remote_tag && *c->leg[LEG_B].remote_tag && call_established(c);
    if (c->held.call_id) /* the leg being replaced is still up */
        end_held_forget(b, c, true);
    c->state = CS_ENDING;
    c->pending_byes = 0;
    if (b_up)
        c->pending_byes +=
            sipout_request(b, c, LEG_B, "BYE", call_next_cseq(c, LEG_B), KIND_BYE, NULL, 0, NULL);
    if (c->leg[LEG_A].final_sent)
        c->pending_byes +=
            sipout_request(b, c, LEG_A, "BYE", call_next_cseq(c, LEG_A), KIND_BYE, NULL, 0, NULL);
    record_save(b, c);
    if (c->pending_byes == 0)
        call_free(b, c);
}

void end_bye(b2b_t *b, struct call *c, int n, ipc_chan_t *ch, uint64_t txn) {
    bool b_up = c->leg[LEG_B].remote_tag && *c->leg[LEG_B].remote_tag && call_established(c);
    if (c->state == CS_ENDING || (n == LEG_A ? !c->leg[LEG_A].final_sent : !b_up)) {
        sipout_respond(b, ch, txn, 481, NULL, 0, NULL);
        return;
    }
    sipout_respond(b, ch, txn, 200, NULL, 0, NULL);
    log_call(LOG_INFO, c->leg[LEG_A].call_id, "%s hung up", n == LEG_A ? "caller" : "callee");
    shm_count(b->slot, SHM_C_calls_ended, 1);
    c->end_cause = n == LEG_A ? "caller_hangup" : "callee_hangup";
    if (n == LEG_A && !b_up) {            /* an IVR call, or one still dialing its callee */
        c->leg[LEG_A].final_sent = false; /* no BYE back to A */
        end_hang_up(b, c, "caller hung up");
        return;
    }
    int other = call_other(n);
    c->state = CS_ENDING;
    c->pending_byes =
        sipout_request(b, c, other, "BYE", call_next_cseq(c, other), KIND_BYE, NULL, 0, NULL);
    record_save(b, c);
    if (c->pending_byes == 0)
        call_free(b, c);
}

void end_bye_answered(b2b_t *b, struct call *c, unsigned status) {
    if (status < 200 || c->state != CS_ENDING)
        return;
    if (--c->pending_byes <= 0)
        call_free(b, c);
}
