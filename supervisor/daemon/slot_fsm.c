/*
 * slot_fsm: a slot's state machine (see slot.h for the states and what an exit
 * means). The table at the end says, for every state and event, which action
 * runs; an event a state does not expect is logged at debug level and dropped.
 * Actions ask for processes, probes and thread-pool jobs through the host's ops
 * table and for state files through its put_file; each of those comes back as
 * another event (sk_slot_event, sk_slot_job_finished, sk_slot_exited). Jobs
 * carry the slot's generation, so the result of a check that an operator's stop
 * made moot is dropped; restores and snapshots are never dropped (they change
 * the disk) and a stop waits for them. The restore budget is restoreq.h's.
 */
#include "daemon/slot_impl.h"

#include "slotkeeper/nodeos.h"

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "slotkeeper/fsutil.h"
#include "slotkeeper/log.h"

/* nodeos's exit codes for "cannot start on this data" (nodeos-facts.md section 2). */
/* Checks in a row that may fail to read a data-dir (an I/O error, not a verdict) before the slot is failed. */
#define SK_CHECK_ATTEMPTS 3

static const char *const state_names[SK_SLOT_NSTATES] = {
    "stopped", "checking", "starting",  "running",      "stopping",
    "backoff", "queued",   "restoring", "snapshotting", "failed",
};
static const char *const event_names[SK_EV_COUNT] = {
    "start",      "stop",     "restore",     "cycle",   "checked",   "exit",   "timer",
    "restore-go", "restored", "snapshotted", "healthy", "unhealthy", "frozen",
};

const char *const sk_restore_reason_names[SK_REASON_COUNT] = {
    "clean", "running", "dirty", "incompatible", "corrupt", "missing", "restoring", "log", "operator", "killed",
};

const char *sk_slot_state_name(sk_slot_state_t st)
{
    return st < SK_SLOT_NSTATES ? state_names[st] : "?";
}

void sk_slot_set_state(sk_slot_t *s, sk_slot_state_t st, const char *fmt, ...)
{
    sk_slot_state_t old = s->v.state;
    s->v.state = st;
    if (old != st)
        s->v.state_since = sk_now();
    if (fmt) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(s->v.detail, sizeof(s->v.detail), fmt, ap);
        va_end(ap);
    } else {
        s->v.detail[0] = '\0';
    }
    if (old != st)
        log_debug("%s: %s -> %s%s%s", s->v.name, state_names[old], state_names[st], s->v.detail[0] ? ": " : "",
                  s->v.detail);
    s->host->changed(s->host->arg, s);
}

void sk_slot_fail_note(sk_slot_t *s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->v.last_failure, sizeof(s->v.last_failure), fmt, ap);
    va_end(ap);
}
static void on_timer(uv_timer_t *t)
{
    sk_slot_event(t->data, SK_EV_TIMER);
}

void sk_slot_start_timer(sk_slot_t *s, uint64_t ms)
{
    uv_timer_start(&s->timer, on_timer, ms, 0);
}

void sk_slot_stop_timer(sk_slot_t *s)
{
    uv_timer_stop(&s->timer);
}

/* ---- actions ---- */

typedef void (*action_fn)(sk_slot_t *s);

static void do_spawn(sk_slot_t *s);
static void record_cycle(sk_slot_t *s);

static void begin_check(sk_slot_t *s, bool after_exit)
{
    s->gen++;
    s->check_after_exit = after_exit;
    sk_slot_stop_timer(s);
    if (s->job_busy) {
        /* A disk job is still running (it cannot be cancelled); check once it is done. */
        s->check_pending = true;
        sk_slot_set_state(s, SK_SLOT_CHECKING, "waiting for the previous job");
        return;
    }
    s->check_pending = false;
    int rc = s->host->ops->queue_job(s, SK_JOB_CHECK);
    if (rc < 0) {
        sk_slot_fail_note(s, "cannot queue a check: %s", uv_strerror(rc));
        sk_slot_set_state(s, SK_SLOT_BACKOFF, "%s", s->v.last_failure);
        sk_slot_start_timer(s, s->backoff_ms ? s->backoff_ms : 1000);
        return;
    }
    sk_slot_set_state(s, SK_SLOT_CHECKING, after_exit ? "after its exit" : "before starting");
}

static void run_pending_check(sk_slot_t *s)
{
    if (s->check_pending && !s->job_busy && s->v.state == SK_SLOT_CHECKING) {
        s->check_pending = false;
        begin_check(s, s->check_after_exit);
    }
}

static void act_start(sk_slot_t *s)
{
    s->then = SK_THEN_NONE;
    if (s->v.external) {
        sk_slot_set_state(s, SK_SLOT_STOPPED, "external: its node is run by `slotkeeper run`; restored on request");
        return;
    }
    begin_check(s, false);
}

void sk_slot_reset(sk_slot_t *s)
{
    sk_budget_clear(&s->budget);
    sk_slot_save_budget(s);
    s->backoff_ms = sk_slot_cfg(s)->backoff_min_ms;
    s->check_errors = 0;
    s->v.last_failure[0] = '\0';
}

static void act_reset(sk_slot_t *s)
{
    sk_slot_reset(s);
    act_start(s);
}

static void stop_node(sk_slot_t *s, sk_then_t then)
{
    s->then = then;
    s->killed = false;
    s->host->ops->signal(s, SIGTERM);
    uint64_t t = s->v.archive ? sk_slot_cfg(s)->stop_timeout_ms : sk_slot_cfg(s)->worker_stop_timeout_ms;
    sk_slot_start_timer(s, t);
    sk_slot_set_state(s, SK_SLOT_STOPPING, "SIGTERM sent to pid %ld", (long)s->v.pid);
}

static void act_stop_node(sk_slot_t *s)
{
    stop_node(s, SK_THEN_NONE);
}

static void act_restart_node(sk_slot_t *s)
{
    s->v.restarts++;
    log_warnx("%s: %s; restarting it", s->v.name, s->v.last_failure);
    stop_node(s, SK_THEN_START);
}

static void act_stop_idle(sk_slot_t *s)
{
    s->gen++;
    s->then = SK_THEN_NONE;
    sk_slot_stop_timer(s);
    if (s->v.state == SK_SLOT_QUEUED)
        s->host->dequeue(s->host->arg, s);
    sk_slot_set_state(s, SK_SLOT_STOPPED, NULL);
}

/* A stop while a disk job runs waits for it. */
static void act_stop_later(sk_slot_t *s)
{
    s->then = SK_THEN_NONE;
    s->stay_stopped_after = true;
    snprintf(s->v.detail, sizeof(s->v.detail), "will stop when the current job ends");
}

static void request_restore(sk_slot_t *s);

static void act_restore_request(sk_slot_t *s)
{
    s->operator_restore = true;
    s->restore_reason = SK_REASON_OPERATOR;
    if (s->v.pid > 0) {
        stop_node(s, SK_THEN_RESTORE);
        return;
    }
    sk_slot_stop_timer(s);
    s->gen++;
    request_restore(s);
}

/* Counts a restore against the slot's budget, or sends the slot to failed. */
static bool budget_allows(sk_slot_t *s)
{
    const sk_config_t *c = sk_slot_cfg(s);
    double now = (double)time(NULL), window = (double)c->restore_window_ms / 1000.0;
    bool allows = sk_budget_allows(&s->budget, now, window, c->restore_budget);
    return s->operator_restore || allows;
}

static void request_restore(sk_slot_t *s)
{
    if (!budget_allows(s)) {
        char w[32];
        snprintf(w, sizeof(w), "%.0fs", (double)sk_slot_cfg(s)->restore_window_ms / 1000.0);
        sk_slot_fail_note(s,
                          "restore budget spent: %u restores within %s, and it needs another (%s); run `slotkeeper "
                          "restore --slot %u` or `slotkeeper reset --slot %u`",
                          s->budget.n, w, s->verdict_reason, s->v.num, s->v.num);
        log_warnx("%s: FAILED: %s", s->v.name, s->v.last_failure);
        sk_slot_set_state(s, SK_SLOT_FAILED, "%s", s->v.last_failure);
        return;
    }
    sk_slot_set_state(s, SK_SLOT_QUEUED, "waiting for the host's restore budget");
    s->host->want_restore(s->host->arg, s);
}

static void act_restore_go(sk_slot_t *s)
{
    /* The budget rations the daemon's own restores; an operator's do not count. */
    s->counted_restore = !s->operator_restore;
    if (s->counted_restore && sk_budget_count(&s->budget, (double)time(NULL)))
        sk_slot_save_budget(s);
    int rc = s->host->ops->queue_job(s, SK_JOB_RESTORE);
    if (rc < 0) {
        s->host->restore_done(s->host->arg, s);
        sk_slot_fail_note(s, "cannot queue the restore: %s", uv_strerror(rc));
        sk_slot_set_state(s, SK_SLOT_FAILED, "%s", s->v.last_failure);
        return;
    }
    log_info("%s: restoring %s from %s", s->v.name, s->v.data_dir,
             s->want_snapshot[0] ? s->want_snapshot : "the newest good snapshot");
    sk_slot_set_state(s, SK_SLOT_RESTORING, "%s", s->want_snapshot[0] ? s->want_snapshot : "newest good snapshot");
}

static void act_restored(sk_slot_t *s)
{
    s->host->restore_done(s->host->arg, s);
    s->operator_restore = false;
    s->want_snapshot[0] = '\0';
    s->v.restore_ok = s->job_rc == 0;
    s->v.restore_rc = s->job_rc;
    snprintf(s->v.restore_err, sizeof(s->v.restore_err), "%s", s->job_err);
    bool stay = s->stay_stopped_after || s->host->shutting_down(s->host->arg) || s->v.external;
    s->stay_stopped_after = false;
    if (s->job_rc == 0) {
        s->v.restores++;
        s->v.restores_by[s->restore_reason]++;
        char w[32], c[32], u[32];
        log_info("%s: restored snapshot %s (%s: %s written, %s cloned, %s unchanged)", s->v.name, s->v.restore_id,
                 s->v.restore_path, sk_fmt_bytes(s->v.restore_written, w, sizeof(w)),
                 sk_fmt_bytes(s->v.restore_cloned, c, sizeof(c)), sk_fmt_bytes(s->v.restore_unchanged, u, sizeof(u)));
        s->v.restore_seq++;
        if (stay) {
            sk_slot_set_state(s, SK_SLOT_STOPPED, "restored %s", s->v.restore_id);
            return;
        }
        begin_check(s, false);
        return;
    }
    sk_slot_fail_note(s, "restore failed: %s", s->job_err);
    log_warnx("%s: %s", s->v.name, s->v.last_failure);
    s->v.restore_seq++;
    if (stay) {
        sk_slot_set_state(s, SK_SLOT_STOPPED, "%s", s->v.last_failure);
        return;
    }
    /* A slot with no state at all (a new one) and nothing to restore: nodeos starts it from
     * genesis and syncs, as it would without us. */
    if (s->verdict == SK_VERDICT_MISSING && !s->state_present && s->job_rc == -ENOENT) {
        log_info("%s: no snapshot to restore; starting the node on its new data-dir", s->v.name);
        if (s->counted_restore && s->budget.n) {
            sk_budget_uncount(&s->budget); /* nothing was restored */
            sk_slot_save_budget(s);
        }
        s->v.last_failure[0] = '\0';
        do_spawn(s);
        return;
    }
    /* No snapshot to restore, or none that fits: an operator must act. Others (a lock held by
     * a prune, a full disk) may pass: try again after a back-off, within the budget. */
    if (s->job_rc == -ENOENT || s->job_rc == -EPROTOTYPE || s->job_rc == -EBUSY) {
        sk_slot_set_state(s, SK_SLOT_FAILED, "%s", s->v.last_failure);
        return;
    }
    sk_slot_set_state(s, SK_SLOT_BACKOFF, "%s", s->v.last_failure);
    sk_slot_start_timer(s, s->backoff_ms ? s->backoff_ms : 1000);
    s->backoff_ms =
        s->backoff_ms * 2 > sk_slot_cfg(s)->backoff_max_ms ? sk_slot_cfg(s)->backoff_max_ms : s->backoff_ms * 2;
}

static void go_backoff(sk_slot_t *s)
{
    uint64_t ms = s->backoff_ms;
    sk_slot_set_state(s, SK_SLOT_BACKOFF, "%s; next start in %.1fs", s->v.last_failure, (double)ms / 1000.0);
    sk_slot_start_timer(s, ms);
    uint64_t next = ms ? ms * 2 : sk_slot_cfg(s)->backoff_min_ms;
    if (next > sk_slot_cfg(s)->backoff_max_ms)
        next = sk_slot_cfg(s)->backoff_max_ms;
    s->backoff_ms = next;
}

static void begin_snapshot(sk_slot_t *s);

static void act_checked(sk_slot_t *s)
{
    if (s->stay_stopped_after || s->host->shutting_down(s->host->arg)) {
        s->stay_stopped_after = false;
        sk_slot_set_state(s, SK_SLOT_STOPPED, NULL);
        return;
    }
    if (s->then == SK_THEN_SNAPSHOT) {
        s->then = SK_THEN_NONE;
        begin_snapshot(s);
        return;
    }
    bool after_exit = s->check_after_exit;
    if (s->check_rc < 0) {
        /* An I/O error (descriptors, a failing disk, a vanished mount) is never taken for
         * damage: check again a few times, then stop and say why. Never a restore. */
        s->check_errors++;
        sk_slot_fail_note(s, "cannot check %s: %s", s->v.data_dir, s->verdict_reason);
        log_warnx("%s: %s", s->v.name, s->v.last_failure);
        if (s->check_errors >= SK_CHECK_ATTEMPTS) {
            sk_slot_set_state(s, SK_SLOT_FAILED, "%s (%u checks in a row); not starting or restoring it",
                              s->v.last_failure, s->check_errors);
            return;
        }
        go_backoff(s);
        return;
    }
    s->check_errors = 0;
    if (s->verdict == SK_VERDICT_RUNNING) {
        /* Our own node after all: started by a daemon that died before writing its pid file,
         * which had not taken the data-dir's lock yet when this daemon started (so not adopted
         * then). */
        if (!s->v.external && s->host->ops->adopt && s->host->ops->adopt(s))
            return;
        sk_slot_fail_note(s, "%s is in use by pid %ld, a process slotkeeper did not start; not touching it",
                          s->v.data_dir, (long)s->lock_pid);
        log_warnx("%s: %s", s->v.name, s->v.last_failure);
        sk_slot_set_state(s, SK_SLOT_BACKOFF, "%s", s->v.last_failure);
        sk_slot_start_timer(s, sk_slot_cfg(s)->backoff_max_ms > 1000 ? sk_slot_cfg(s)->backoff_max_ms : 1000);
        return;
    }
    if (sk_verdict_needs_restore(s->verdict) || (after_exit && s->log_says_corrupt)) {
        if (!sk_slot_cfg(s)->repo_path || !sk_slot_cfg(s)->repo_path[0]) {
            sk_slot_fail_note(s, "%s: %s; no repository configured", sk_verdict_name(s->verdict), s->verdict_reason);
            sk_slot_set_state(s, SK_SLOT_FAILED, "%s", s->v.last_failure);
            return;
        }
        s->restore_reason = sk_verdict_needs_restore(s->verdict) ? (sk_restore_reason_t)s->verdict
                            : s->log_says_env                    ? SK_REASON_INCOMPATIBLE
                                                                 : SK_REASON_LOG;
        sk_slot_fail_note(s, "%s: %s", sk_verdict_needs_restore(s->verdict) ? sk_verdict_name(s->verdict) : "corrupt",
                          s->verdict_reason);
        log_warnx("%s: %s; it needs a restore", s->v.name, s->v.last_failure);
        request_restore(s);
        return;
    }
    if (after_exit && s->then != SK_THEN_START) {
        /* A crash that left the data clean: restart after the back-off. */
        s->v.restarts++;
        go_backoff(s);
        return;
    }
    s->then = SK_THEN_NONE;
    do_spawn(s);
}

/* Starts the node now (the data-dir was checked). */
static void do_spawn(sk_slot_t *s)
{
    int rc = s->host->ops->spawn(s);
    if (rc < 0) {
        sk_slot_fail_note(s, "cannot start %s: %s", s->argv[0], uv_strerror(rc));
        log_warnx("%s: %s", s->v.name, s->v.last_failure);
        go_backoff(s);
        return;
    }
    log_info("%s: started pid %ld", s->v.name, (long)s->v.pid);
    s->v.start_seq++;
    s->host->ops->probe(s);
    sk_slot_start_timer(s, sk_slot_cfg(s)->startup_grace_ms);
    sk_slot_set_state(s, SK_SLOT_STARTING, "pid %ld", (long)s->v.pid);
    if (s->v.archive && s->cycle_t0 > 0 && s->cur.start && !s->cur.downtime_ms) {
        /* The archival node is back: the cycle's downtime ends here. With a freeze, the cycle
         * ends when the snapshot of its frozen copy does. */
        s->cur.downtime_ms = (uint64_t)((sk_now() - s->down_t0) * 1000);
        if (s->frozen_busy)
            log_info("archive: node running again after %.2fs down; its snapshot goes on from the frozen copy",
                     (double)s->cur.downtime_ms / 1000.0);
        else
            record_cycle(s);
    }
}

/* The node exited while running or starting, without being asked to. */
static void act_exited(sk_slot_t *s)
{
    sk_slot_stop_timer(s);
    double up = sk_now() - s->v.started_at;
    bool early = up * 1000 < (double)sk_slot_cfg(s)->startup_grace_ms;
    char how[96];
    if (s->exit_status < 0)
        snprintf(how, sizeof(how), "exited (adopted, status unknown)");
    else if (s->term_signal)
        snprintf(how, sizeof(how), "was killed by signal %d", s->term_signal);
    else
        snprintf(how, sizeof(how), "exited with status %" PRId64, s->exit_status);
    sk_slot_fail_note(s, "node %s after %.1fs%s", how, up, early ? ", within its startup grace" : "");
    log_warnx("%s: %s", s->v.name, s->v.last_failure);
    if (up * 1000 >= (double)sk_slot_cfg(s)->stable_after_ms)
        s->backoff_ms = sk_slot_cfg(s)->backoff_min_ms;
    s->failed_start = early || sk_nodeos_exit_means_bad_data((int)s->exit_status);
    s->then = SK_THEN_NONE;
    if (s->failed_start && s->host->ops->await_log(s)) {
        /* Its last words are still in the log-writer's pipe: check once it has written them
         * (it ends at end of input), or after 2 s if something else keeps the pipe open. */
        s->check_after_logger = true;
        s->gen++;
        sk_slot_set_state(s, SK_SLOT_CHECKING, "after its exit, once its log is written");
        return;
    }
    begin_check(s, true);
}

static void act_grace_over(sk_slot_t *s)
{
    if (!s->health_url[0])
        sk_slot_set_state(s, SK_SLOT_RUNNING, "pid %ld", (long)s->v.pid);
}

static void act_healthy(sk_slot_t *s)
{
    sk_slot_stop_timer(s);
    sk_slot_set_state(s, SK_SLOT_RUNNING, "pid %ld, head %" PRIu64, (long)s->v.pid, s->v.head);
}

static void act_stop_timeout(sk_slot_t *s)
{
    log_warnx("%s: pid %ld did not stop within the stop timeout; sending SIGKILL", s->v.name, (long)s->v.pid);
    s->killed = true;
    s->host->ops->signal(s, SIGKILL);
    snprintf(s->v.detail, sizeof(s->v.detail), "SIGKILL sent to pid %ld", (long)s->v.pid);
}

static void begin_snapshot(sk_slot_t *s)
{
    int rc = s->host->ops->queue_job(s, SK_JOB_SNAPSHOT);
    if (rc < 0) {
        snprintf(s->cur.failure, sizeof(s->cur.failure), "cannot queue the snapshot: %s", uv_strerror(rc));
        record_cycle(s);
        begin_check(s, false);
        return;
    }
    sk_slot_set_state(s, SK_SLOT_SNAPSHOTTING, "cycle started %.0fs ago", sk_now() - s->cycle_t0);
}

/* The node stopped as asked. */
static void act_stopped(sk_slot_t *s)
{
    sk_slot_stop_timer(s);
    sk_then_t then = s->then;
    s->then = SK_THEN_NONE;
    s->v.stop_seq++;
    if (s->host->shutting_down(s->host->arg))
        then = SK_THEN_NONE;
    switch (then) {
    case SK_THEN_NONE:
        log_info("%s: stopped%s", s->v.name, s->killed ? " (killed)" : "");
        sk_slot_set_state(s, SK_SLOT_STOPPED, s->killed ? "killed after the stop timeout" : NULL);
        break;
    case SK_THEN_START:
        begin_check(s, false);
        break;
    case SK_THEN_RESTORE:
        request_restore(s);
        break;
    case SK_THEN_SNAPSHOT:
        if (s->killed) {
            snprintf(s->cur.failure, sizeof(s->cur.failure),
                     "the archival node had to be killed after the stop timeout; nothing published, restoring it");
            log_warnx("archive: %s", s->cur.failure);
            record_cycle(s);
            s->operator_restore = true; /* the archival node's own repair is not rationed */
            s->restore_reason = SK_REASON_KILLED;
            request_restore(s);
            break;
        }
        begin_snapshot(s);
        break;
    }
}

static void act_snapshotted(sk_slot_t *s)
{
    s->cur.duration_ms = (uint64_t)((sk_now() - s->cycle_t0) * 1000);
    bool stay = s->stay_stopped_after || s->host->shutting_down(s->host->arg);
    s->stay_stopped_after = false;
    if (s->job_rc < 0) {
        snprintf(s->cur.failure, sizeof(s->cur.failure), "%s", s->job_err);
        log_warnx("archive: cycle failed: %s", s->cur.failure);
        if (s->job_rc == -EUCLEAN || sk_verdict_needs_restore(s->verdict)) {
            record_cycle(s);
            s->operator_restore = true;
            s->restore_reason =
                sk_verdict_needs_restore(s->verdict) ? (sk_restore_reason_t)s->verdict : SK_REASON_DIRTY;
            if (stay) {
                sk_slot_set_state(s, SK_SLOT_STOPPED, "%s", s->cur.failure);
                return;
            }
            request_restore(s);
            return;
        }
        if (s->verdict == SK_VERDICT_RUNNING && !stay) {
            /* A process the daemon did not start holds the data-dir: no start will end this
             * cycle's downtime (the check backs off), so the cycle ends here. */
            s->cur.downtime_ms = (uint64_t)((sk_now() - s->down_t0) * 1000);
            record_cycle(s);
        }
    } else {
        log_info("archive: published snapshot %s (%" PRIu64 " bytes read, %" PRIu64 " new, %.1fs)", s->cur.id,
                 s->cur.bytes_read, s->cur.new_bytes, (double)s->cur.duration_ms / 1000.0);
    }
    if (stay) {
        s->cur.downtime_ms = (uint64_t)((sk_now() - s->down_t0) * 1000);
        record_cycle(s);
        sk_slot_set_state(s, SK_SLOT_STOPPED, NULL);
        return;
    }
    /* Restart at once; the cycle is recorded when the node has been started (downtime). */
    begin_check(s, false);
}

/* The cycle's job froze the stopped data-dir: the snapshot goes on from the frozen copy, beside
 * the node's states, and the node starts again at once (its check was the job's, under the
 * data-dir lock). */
static void act_frozen(sk_slot_t *s)
{
    log_info("archive: frozen in %.2fs; starting the node again, snapshotting the frozen copy",
             (double)s->cur.stopped_ms / 1000.0);
    int rc = s->host->ops->queue_job(s, SK_JOB_FROZEN_SNAPSHOT);
    if (rc < 0) {
        if (s->host->ops->release_frozen)
            s->host->ops->release_frozen(s->frozen);
        s->frozen = NULL;
        snprintf(s->cur.failure, sizeof(s->cur.failure), "cannot queue the snapshot: %s", uv_strerror(rc));
    }
    bool stay = s->stay_stopped_after || s->host->shutting_down(s->host->arg);
    s->stay_stopped_after = false;
    if (stay) {
        s->cur.downtime_ms = (uint64_t)((sk_now() - s->down_t0) * 1000);
        if (!s->frozen_busy)
            record_cycle(s);
        sk_slot_set_state(s, SK_SLOT_STOPPED, s->frozen_busy ? "snapshotting its frozen copy" : NULL);
        return;
    }
    do_spawn(s);
    if (!s->frozen_busy && s->cur.start)
        record_cycle(s);
}

/* The snapshot of a cycle's frozen copy ended (whatever the node did meanwhile): the cycle ends. */
static void frozen_snapshot_done(sk_slot_t *s, const sk_slot_job_result_t *r)
{
    s->frozen_busy = false;
    if (!s->cur.start)
        return;
    snprintf(s->cur.id, sizeof(s->cur.id), "%s", r->rc == 0 ? r->id : "");
    s->cur.bytes_read = r->bytes_read;
    s->cur.new_bytes = r->new_bytes;
    s->cur.duration_ms = (uint64_t)((sk_now() - s->cycle_t0) * 1000);
    if (!s->cur.downtime_ms) /* not back yet: down at least this long */
        s->cur.downtime_ms = (uint64_t)((sk_now() - s->down_t0) * 1000);
    if (r->rc < 0) {
        snprintf(s->cur.failure, sizeof(s->cur.failure), "%s", r->err);
        log_warnx("archive: cycle failed: %s", s->cur.failure);
    } else {
        log_info("archive: published snapshot %s from the frozen copy (%" PRIu64 " bytes read, %" PRIu64
                 " new, %.1fs; node down %.2fs)",
                 s->cur.id, s->cur.bytes_read, s->cur.new_bytes, (double)s->cur.duration_ms / 1000.0,
                 (double)s->cur.downtime_ms / 1000.0);
    }
    record_cycle(s);
}

/* A cycle cannot start while the last one's snapshot still reads its frozen copy. */
static bool cycle_still_running(sk_slot_t *s)
{
    if (!s->frozen_busy)
        return false;
    sk_cycle_t c = {.start = (int64_t)time(NULL)};
    snprintf(c.failure, sizeof(c.failure), "skipped: the last cycle's snapshot is still running");
    /* Recorded apart from the running cycle's record, which it must not overwrite. */
    sk_cycle_t keep = s->cur;
    double t0 = s->cycle_t0;
    s->cur = c;
    s->cycle_t0 = 0;
    record_cycle(s);
    s->cur = keep;
    s->cycle_t0 = t0;
    return true;
}

static void act_cycle_running(sk_slot_t *s)
{
    if (cycle_still_running(s))
        return;
    memset(&s->cur, 0, sizeof(s->cur));
    s->cur.start = (int64_t)time(NULL);
    s->cycle_t0 = s->down_t0 = sk_now();
    log_info("archive: cycle: stopping pid %ld", (long)s->v.pid);
    stop_node(s, SK_THEN_SNAPSHOT);
}

static void act_cycle_stopped(sk_slot_t *s)
{
    if (cycle_still_running(s))
        return;
    memset(&s->cur, 0, sizeof(s->cur));
    s->cur.start = (int64_t)time(NULL);
    s->cycle_t0 = s->down_t0 = sk_now();
    s->stay_stopped_after = s->v.state == SK_SLOT_STOPPED;
    sk_slot_stop_timer(s);
    s->gen++;
    begin_snapshot(s);
}

/* A cycle request the archival node cannot take now (it is being restored or checked). */
static void act_cycle_busy(sk_slot_t *s)
{
    sk_cycle_t c = {.start = (int64_t)time(NULL)};
    snprintf(c.failure, sizeof(c.failure), "skipped: the archival node is %s", state_names[s->v.state]);
    s->cur = c;
    s->cycle_t0 = 0;
    record_cycle(s);
}

static void act_stop_more(sk_slot_t *s)
{
    if (s->then == SK_THEN_SNAPSHOT)
        s->stay_stopped_after = true; /* the cycle goes on, the node stays down */
    else
        s->then = SK_THEN_NONE;
}

static void act_restore_after_stop(sk_slot_t *s)
{
    s->operator_restore = true;
    s->restore_reason = SK_REASON_OPERATOR;
    if (s->then != SK_THEN_SNAPSHOT)
        s->then = SK_THEN_RESTORE;
}

static void act_backoff_over(sk_slot_t *s)
{
    begin_check(s, false);
}

static void act_start_checking(sk_slot_t *s)
{
    /* Already on the way: a check with a start after it. */
    s->then = SK_THEN_NONE;
    s->stay_stopped_after = false;
}

static void act_ignore_start_failed(sk_slot_t *s)
{
    act_reset(s);
}

static void record_cycle(sk_slot_t *s)
{
    if (!s->cur.start)
        return;
    if (!s->cur.duration_ms && s->cycle_t0 > 0)
        s->cur.duration_ms = (uint64_t)((sk_now() - s->cycle_t0) * 1000);
    s->v.cycles[s->v.ncycles % SK_CYCLES_KEPT] = s->cur;
    s->v.ncycles++;
    s->v.cycle_seq++;
    bool ok = s->cur.id[0] && !s->cur.failure[0];
    if (ok) {
        s->v.cycles_published++;
        s->v.last_success = (int64_t)time(NULL);
    } else {
        s->v.cycles_failed++;
    }
    if (ok && !s->job_busy) {
        if (s->host->ops->queue_job(s, SK_JOB_AFTER_CYCLE) < 0)
            log_warnx("archive: cannot queue the verify of %s", s->cur.id);
    }
    memset(&s->cur, 0, sizeof(s->cur));
    s->cycle_t0 = 0;
    sk_slot_save_cycles(s);
    s->host->cycle_done(s->host->arg, s);
}

/* ---- what the jobs and the node report ---- */

void sk_slot_job_finished(sk_slot_t *s, const sk_slot_job_result_t *r)
{
    if (r->kind == SK_JOB_FROZEN_SNAPSHOT) {
        frozen_snapshot_done(s, r);
        run_pending_check(s);
        s->host->changed(s->host->arg, s);
        return;
    }
    s->job_busy = false;
    s->job_rc = r->rc;
    snprintf(s->job_err, sizeof(s->job_err), "%s", r->rc < 0 ? r->err : "");
    switch (r->kind) {
    case SK_JOB_CHECK:
        if (r->gen == s->gen) {
            s->check_rc = r->rc;
            if (r->rc < 0) {
                /* Not a verdict: what could not be read is not thereby damaged (act_checked). */
                snprintf(s->verdict_reason, sizeof(s->verdict_reason), "%s", s->job_err);
            } else {
                s->verdict = r->verdict;
                snprintf(s->verdict_reason, sizeof(s->verdict_reason), "%s", r->reason);
            }
            s->lock_pid = r->lock_pid;
            s->state_present = r->rc == 0 && r->state_present;
            s->log_says_corrupt = r->log_corrupt;
            s->log_says_env = r->log_env;
            sk_slot_event(s, SK_EV_CHECKED);
            return;
        }
        break;
    case SK_JOB_RESTORE:
        snprintf(s->v.restore_id, sizeof(s->v.restore_id), "%s", r->id);
        if (r->rc == 0) {
            snprintf(s->v.restore_path, sizeof(s->v.restore_path), "%s", r->path);
            s->v.restore_written = r->bytes_written;
            s->v.restore_cloned = r->bytes_cloned;
            s->v.restore_unchanged = r->bytes_unchanged;
            s->v.restored_written += r->bytes_written;
            s->v.restored_cloned += r->bytes_cloned;
            s->v.restored_unchanged += r->bytes_unchanged;
        }
        sk_slot_event(s, SK_EV_RESTORED);
        return;
    case SK_JOB_SNAPSHOT:
        s->cur.stopped_ms = (uint64_t)(r->stopped_s * 1000);
        if (r->freeze_failed) {
            log_warnx("archive: %s; the node stays stopped for the whole snapshot", r->freeze_note);
        } else if (r->freeze_note[0] && !s->said_no_freeze) {
            s->said_no_freeze = true; /* once: it stays true for this data-dir */
            log_info("archive: %s; the node stays stopped for the whole snapshot", r->freeze_note);
        }
        if (r->frozen) {
            snprintf(s->cur.path, sizeof(s->cur.path), "frozen");
            s->frozen = r->frozen;
            sk_slot_event(s, SK_EV_FROZEN);
            if (s->frozen) { /* nobody took it */
                if (s->host->ops->release_frozen)
                    s->host->ops->release_frozen(s->frozen);
                s->frozen = NULL;
            }
            return;
        }
        snprintf(s->cur.path, sizeof(s->cur.path), "%s", r->rc == 0 ? "direct" : "");
        snprintf(s->cur.id, sizeof(s->cur.id), "%s", r->rc == 0 ? r->id : "");
        s->cur.bytes_read = r->bytes_read;
        s->cur.new_bytes = r->new_bytes;
        s->verdict = r->verdict;
        sk_slot_event(s, SK_EV_SNAPSHOTTED);
        return;
    case SK_JOB_AFTER_CYCLE: {
        /* The record was already published; amend it with the verify/prune outcome. */
        sk_cycle_t *c = NULL;
        for (unsigned i = 0; i < SK_CYCLES_KEPT && i < s->v.ncycles; i++) {
            sk_cycle_t *x = &s->v.cycles[(s->v.ncycles - 1 - i) % SK_CYCLES_KEPT];
            if (!strcmp(x->id, r->id)) {
                c = x;
                break;
            }
        }
        if (c) {
            snprintf(c->note, sizeof(c->note), "%s", r->note[0] ? r->note : s->job_err);
            if (r->rc == -EBADMSG) {
                snprintf(c->failure, sizeof(c->failure), "the new snapshot failed verification (%s)", r->note);
                log_warnx("archive: snapshot %s failed verification: %s", r->id, r->note);
            }
        }
        if (r->rc == 0)
            log_info("archive: snapshot %s: %s", r->id, r->note);
        if (c)
            sk_slot_save_cycles(s);
        s->host->changed(s->host->arg, s);
        break;
    }
    case SK_JOB_FROZEN_SNAPSHOT:
        break; /* above */
    }
    /* A check queued behind this job runs now. */
    run_pending_check(s);
    if (sk_slot_idle(s) || s->v.state == SK_SLOT_STOPPED)
        s->host->changed(s->host->arg, s);
}

void sk_slot_exited(sk_slot_t *s, int64_t status, int term_signal)
{
    s->exit_status = status;
    s->term_signal = term_signal;
    s->v.pid = 0;
    s->v.adopted = false;
    sk_slot_event(s, SK_EV_EXIT);
}

void sk_slot_log_drained(sk_slot_t *s)
{
    if (!s->check_after_logger)
        return;
    s->check_after_logger = false;
    if (s->v.state == SK_SLOT_CHECKING)
        begin_check(s, true);
}

int sk_slot_request_restore(sk_slot_t *s, const char *id)
{
    if (strlen(id) >= sizeof(s->want_snapshot))
        return -ENAMETOOLONG;
    if (s->v.state == SK_SLOT_QUEUED || s->v.state == SK_SLOT_RESTORING)
        return 0;
    snprintf(s->want_snapshot, sizeof(s->want_snapshot), "%s", strcmp(id, "latest") ? id : "");
    sk_slot_event(s, SK_EV_RESTORE);
    return 0;
}

/* The state x event table. NULL: the event means nothing in that state. */
#define S(x) SK_SLOT_##x
static const action_fn table[SK_SLOT_NSTATES][SK_EV_COUNT] = {
    [S(STOPPED)] =
        {[SK_EV_START] = act_start, [SK_EV_RESTORE] = act_restore_request, [SK_EV_CYCLE] = act_cycle_stopped},
    [S(CHECKING)] = {[SK_EV_START] = act_start_checking,
                     [SK_EV_STOP] = act_stop_idle,
                     [SK_EV_CHECKED] = act_checked,
                     [SK_EV_RESTORE] = act_restore_request,
                     [SK_EV_CYCLE] = act_cycle_busy},
    [S(STARTING)] = {[SK_EV_STOP] = act_stop_node,
                     [SK_EV_RESTORE] = act_restore_request,
                     [SK_EV_CYCLE] = act_cycle_running,
                     [SK_EV_EXIT] = act_exited,
                     [SK_EV_TIMER] = act_grace_over,
                     [SK_EV_HEALTHY] = act_healthy},
    [S(RUNNING)] = {[SK_EV_STOP] = act_stop_node,
                    [SK_EV_RESTORE] = act_restore_request,
                    [SK_EV_CYCLE] = act_cycle_running,
                    [SK_EV_EXIT] = act_exited,
                    [SK_EV_UNHEALTHY] = act_restart_node},
    [S(STOPPING)] = {[SK_EV_EXIT] = act_stopped,
                     [SK_EV_TIMER] = act_stop_timeout,
                     [SK_EV_STOP] = act_stop_more,
                     [SK_EV_RESTORE] = act_restore_after_stop},
    [S(BACKOFF)] = {[SK_EV_START] = act_start,
                    [SK_EV_STOP] = act_stop_idle,
                    [SK_EV_RESTORE] = act_restore_request,
                    [SK_EV_TIMER] = act_backoff_over,
                    [SK_EV_CYCLE] = act_cycle_stopped},
    [S(QUEUED)] = {[SK_EV_STOP] = act_stop_idle, [SK_EV_RESTORE_GO] = act_restore_go, [SK_EV_CYCLE] = act_cycle_busy},
    [S(RESTORING)] = {[SK_EV_STOP] = act_stop_later, [SK_EV_RESTORED] = act_restored, [SK_EV_CYCLE] = act_cycle_busy},
    [S(SNAPSHOTTING)] =
        {[SK_EV_STOP] = act_stop_later, [SK_EV_SNAPSHOTTED] = act_snapshotted, [SK_EV_FROZEN] = act_frozen},
    [S(FAILED)] = {[SK_EV_START] = act_ignore_start_failed,
                   [SK_EV_STOP] = act_stop_idle,
                   [SK_EV_RESTORE] = act_restore_request,
                   [SK_EV_CYCLE] = act_cycle_stopped},
};
#undef S

void sk_slot_event(sk_slot_t *s, sk_slot_event_t ev)
{
    action_fn fn = table[s->v.state][ev];
    if (!fn) {
        log_debug("%s: %s ignored in state %s", s->v.name, event_names[ev], state_names[s->v.state]);
        /* A check whose slot moved on: drop it, but run a check that was waiting for a job. */
        if (ev == SK_EV_CHECKED || ev == SK_EV_RESTORED || ev == SK_EV_SNAPSHOTTED || ev == SK_EV_FROZEN)
            s->host->changed(s->host->arg, s);
        return;
    }
    fn(s);
    /* A check that had to wait for a job: queue it now that the job is done. */
    run_pending_check(s);
}
