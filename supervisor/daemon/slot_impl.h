/*
 * slot_impl: the inside of a slot, shared by the files of the slot module and by
 * nothing else (the unit tests of the state machine excepted, which read it).
 *
 * The module is split by concern, and its calls run one way only:
 *
 *   slot.c        the object: creation from the configuration, command lines, freeing
 *   slot_fsm.c    the state machine: the state x event table and its actions
 *   slot_jobs.c   disk jobs on libuv's thread pool (check, restore, snapshot, verify+prune)
 *   slot_proc.c   the node's process: spawn, log-writer, exit, adoption, signals
 *   slot_health.c health probes of a running node
 *   slot_files.c  the slot's state files (restore budget, archive cycles)
 *   slot_ops.c    the table of the real jobs and processes (sk_slot_node_ops)
 *
 * The state machine asks for jobs, processes and probes only through the
 * host's ops table (sk_slot_ops_t), so it never calls slot_jobs.c, slot_proc.c
 * or slot_health.c by name; those report back by calling the state machine
 * (sk_slot_job_finished, sk_slot_exited, sk_slot_event). No circle.
 */
#ifndef SLOTKEEPER_SLOT_IMPL_H
#define SLOTKEEPER_SLOT_IMPL_H

#include "daemon/restoreq.h"
#include "daemon/slot.h"
#include "slotkeeper/error.h"
#include "slotkeeper/log.h"

typedef enum { SK_THEN_NONE, SK_THEN_START, SK_THEN_RESTORE, SK_THEN_SNAPSHOT } sk_then_t;

/* The disk jobs a slot runs on the thread pool. */
typedef enum {
    SK_JOB_CHECK,
    SK_JOB_RESTORE,
    SK_JOB_SNAPSHOT,
    SK_JOB_AFTER_CYCLE,
    /* A cycle's snapshot of its frozen copy (freeze.h), while the node runs again: it runs beside
     * the slot's other jobs (s->frozen_busy, not s->job_busy) and ends the cycle. */
    SK_JOB_FROZEN_SNAPSHOT,
} sk_slot_job_t;

/* What the state machine asks of the world outside it. */
struct sk_slot_ops {
    /* Queues a job of this kind for s, with its inputs taken from s now; its result comes
     * back through sk_slot_job_finished. 0 or a negative libuv/errno code. */
    int (*queue_job)(sk_slot_t *s, sk_slot_job_t kind);
    /* Starts s's node (s->argv) with its output through a log-writer; sets s->v.pid,
     * s->v.started_at and writes the pid file. Its exit comes back as sk_slot_exited. */
    int (*spawn)(sk_slot_t *s);
    /* Sends sig to s's node (ours or adopted). */
    void (*signal)(sk_slot_t *s, int sig);
    /* Starts probing s's node's health (when it has a health URL). */
    void (*probe)(sk_slot_t *s);
    /* After a failed start: if the node's log-writer is still writing its last lines, arranges
     * for sk_slot_log_drained(s) once it has (or after 2 s) and returns true. */
    bool (*await_log)(sk_slot_t *s);
    /* Lets go of a frozen copy no job will read (its folder is swept later); may be NULL. */
    void (*release_frozen)(void *frozen);
    /* Takes over s's node when a process that is one (by its environment) runs without a pid
     * file naming it; true when it did (s is then STARTING or RUNNING). May be NULL. */
    bool (*adopt)(sk_slot_t *s);
};

/* A job's outcome, as the state machine takes it. */
typedef struct sk_slot_job_result {
    sk_slot_job_t kind;
    unsigned gen; /* the slot's generation when the job was queued */
    int rc;
    char err[640]; /* "path: message" when rc < 0 */
    /* check */
    sk_verdict_t verdict; /* also a snapshot's refusal */
    char reason[512];
    pid_t lock_pid;
    bool state_present;
    bool log_corrupt, log_env;
    /* restore, snapshot, after-cycle */
    char id[SK_ID_MAX];
    uint64_t bytes_read, new_bytes;
    char note[160];
    /* a cycle's snapshot job: the frozen copy it made (then the snapshot is still to take, by
     * SK_JOB_FROZEN_SNAPSHOT), and how long the data-dir was held */
    void *frozen;
    double stopped_s;
    char freeze_note[400]; /* why there was no freeze, or "" */
    bool freeze_failed;    /* ... because it failed (said every time), not because it cannot be */
    /* restore: the path taken and its bytes (restore.h) */
    char path[16];
    uint64_t bytes_written, bytes_cloned, bytes_unchanged;
} sk_slot_job_result_t;

/* A log-writer process. Each start of the node gets one of its own, with a handle of its own:
 * the previous run's log-writer may still be writing its node's last lines (it ends at the end
 * of its input) when the next run starts, and a libuv handle must not be spawned again while
 * it is still in the loop's process queue. */
typedef struct sk_logger {
    uv_process_t proc; /* first: the handle's address is the logger's */
    sk_slot_t *slot;
    struct sk_logger *next;
} sk_logger_t;

struct sk_slot {
    sk_slot_view_t v; /* what the host reads */
    const sk_slot_host_t *host;
    char log_file[PATH_MAX], pid_file[PATH_MAX];
    char *command; /* expanded command line, for reload comparison */
    char **argv;   /* the words, with the buffer holding them after the NULL */
    char health_url[1024];
    char include[256];

    /* the node */
    bool killed; /* we had to SIGKILL it */
    int64_t exit_status;
    int term_signal;
    uv_process_t proc;
    sk_logger_t *logger;  /* this run's log-writer while it runs, else NULL */
    sk_logger_t *loggers; /* every log-writer that still runs, this run's among them */
    uv_timer_t timer, health_timer, watch_timer;
    uv_poll_t pidfd_poll;
    int pidfd;
    bool proc_active, logger_active, pidfd_active;
    int open_handles;
    bool closing;

    /* health */
    sk_probe_t *probe;
    double head_changed_at, answered_at;

    /* policy */
    uint64_t backoff_ms;
    sk_restore_reason_t restore_reason; /* of the restore asked for last */
    sk_budget_t budget;                 /* restores counted within the window */

    /* jobs on the thread pool */
    unsigned gen;
    bool job_busy;
    bool check_after_exit;
    bool check_pending;      /* a check waits for the running job to end */
    bool check_after_logger; /* ... or for the log-writer to write the node's last lines */
    bool failed_start;       /* the last exit was early or one of nodeos's startup codes */
    uint64_t log_offset;     /* the log's size when the node was started */
    sk_verdict_t verdict;
    char verdict_reason[512];
    pid_t lock_pid;
    bool state_present;    /* the last check found a state file */
    int check_rc;          /* the last check could not read the data-dir (an error, never a verdict) */
    unsigned check_errors; /* ... so many times in a row */
    bool log_says_corrupt;
    bool log_says_env; /* ... with a message about another build's state */
    int job_rc;
    char job_err[640];

    /* what to do once stopped */
    sk_then_t then;
    bool stay_stopped_after; /* an archival cycle of a stopped node leaves it stopped */
    bool operator_restore;   /* bypasses the budget */
    bool counted_restore;    /* the restore running counts against the budget */
    char want_snapshot[SK_ID_MAX];

    /* freeze (freeze.h): the cycle's frozen copy, handed from the snapshot job to the frozen
     * snapshot job; that job runs while frozen_busy */
    void *frozen;
    bool frozen_busy;
    bool said_no_freeze; /* "no freeze: why" is logged once */

    sk_cycle_t cur; /* the cycle in progress */
    double cycle_t0, down_t0;
};

static inline const sk_config_t *sk_slot_cfg(const sk_slot_t *s)
{
    return s->host->cfg;
}

/* slot.c */
void sk_slot_handle_closed(uv_handle_t *h); /* close callback of every handle of a slot */
void sk_slot_logger_closed(uv_handle_t *h); /* ... of a log-writer's handle: also frees it */

/* slot_fsm.c: what the other files of the module report. */
void sk_slot_set_state(sk_slot_t *s, sk_slot_state_t st, const char *fmt, ...) SK_PRINTF(3, 4);
void sk_slot_fail_note(sk_slot_t *s, const char *fmt, ...) SK_PRINTF(2, 3);
void sk_slot_start_timer(sk_slot_t *s, uint64_t ms);
void sk_slot_stop_timer(sk_slot_t *s);
/* A job ended with r (s->job_busy is cleared here). */
void sk_slot_job_finished(sk_slot_t *s, const sk_slot_job_result_t *r);
/* The node exited (status -1 when unknown: an adopted node); feeds SK_EV_EXIT. */
void sk_slot_exited(sk_slot_t *s, int64_t status, int term_signal);
/* The log-writer wrote the node's last lines (see ops->await_log). */
void sk_slot_log_drained(sk_slot_t *s);

/* slot_files.c */
void sk_slot_load_budget(sk_slot_t *s);
void sk_slot_save_budget(sk_slot_t *s);
void sk_slot_load_cycles(sk_slot_t *s);
void sk_slot_save_cycles(sk_slot_t *s);

#endif
