/*
 * slot: one node the daemon supervises, a worker slot (1..N) or the archival
 * node (number 0), followed through a state machine written as a table of
 * states x events (supervisor/slot.c). Disk work (check, restore, snapshot,
 * verify, prune) runs on libuv's thread pool; its result comes back as an
 * event, so the loop never blocks.
 *
 *   stopped      not running, and not wanted to run (operator stop, daemon exit)
 *   checking     the data-dir is being checked before a start or after an exit
 *   starting     the node runs, within its startup grace (or not yet healthy)
 *   running      the node runs and is healthy
 *   stopping     SIGTERM sent; SIGKILL at the stop timeout
 *   backoff      waiting before the next start after a crash
 *   queued       wants a restore; waits for the host's restore budget
 *   restoring    a restore runs on the thread pool
 *   snapshotting the archival node is stopped and being snapshotted
 *   failed       out of restore budget, or no way to start; waits for an operator
 *
 * What an exit means: the daemon checks the data-dir. A verdict that needs a
 * restore (dirty, corrupt, incompatible, missing, restoring), or a failure to
 * start (exit within the startup grace, or nodeos's exit code 2/254) whose log
 * ends with one of nodeos's corruption messages, leads to a restore from the
 * newest good snapshot whose state environment matches the node's. A clean
 * data-dir leads to a restart after an exponential back-off. A data-dir locked by
 * a process the daemon did not start is never touched.
 */
#ifndef SLOTKEEPER_SLOT_H
#define SLOTKEEPER_SLOT_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <jansson.h>
#include <uv.h>

#include "slotkeeper/config.h"
#include "slotkeeper/datadir.h"
#include "daemon/health.h"
#include "slotkeeper/manifest.h"

typedef enum sk_slot_state {
    SK_SLOT_STOPPED,
    SK_SLOT_CHECKING,
    SK_SLOT_STARTING,
    SK_SLOT_RUNNING,
    SK_SLOT_STOPPING,
    SK_SLOT_BACKOFF,
    SK_SLOT_QUEUED,
    SK_SLOT_RESTORING,
    SK_SLOT_SNAPSHOTTING,
    SK_SLOT_FAILED,
    SK_SLOT_NSTATES
} sk_slot_state_t;

typedef enum sk_slot_event {
    SK_EV_START,       /* run the node (daemon start, operator start, reset) */
    SK_EV_STOP,        /* stop it and keep it stopped */
    SK_EV_RESTORE,     /* operator: stop, restore (slot->want_snapshot or latest), start */
    SK_EV_CYCLE,       /* archival node: stop, snapshot, start */
    SK_EV_CHECKED,     /* a check finished (slot->verdict) */
    SK_EV_EXIT,        /* the node exited */
    SK_EV_TIMER,       /* the state's timer fired: grace, back-off or stop timeout */
    SK_EV_RESTORE_GO,  /* the host's restore budget lets this slot restore now */
    SK_EV_RESTORED,    /* a restore finished (slot->job_rc) */
    SK_EV_SNAPSHOTTED, /* a cycle's snapshot finished (slot->job_rc) */
    SK_EV_HEALTHY,     /* a probe found the node serving and its head moving */
    SK_EV_UNHEALTHY,   /* no answer, or no head progress, for the stall timeout */
    SK_EV_COUNT
} sk_slot_event_t;

#define SK_CYCLES_KEPT 16

typedef struct sk_cycle {
    int64_t start; /* unix time */
    uint64_t downtime_ms, duration_ms, bytes_read, new_bytes;
    char id[SK_ID_MAX]; /* the snapshot published, or "" */
    char failure[320];  /* why nothing was published, or "" */
    char note[160];     /* verify/prune outcome */
} sk_cycle_t;

struct sk_daemon;

/* Why a restore ran: the verdicts' order (datadir.h) for the first ones, then the others. */
typedef enum sk_restore_reason {
    SK_REASON_DIRTY = SK_VERDICT_DIRTY,
    SK_REASON_INCOMPATIBLE = SK_VERDICT_INCOMPATIBLE,
    SK_REASON_CORRUPT = SK_VERDICT_CORRUPT,
    SK_REASON_MISSING = SK_VERDICT_MISSING,
    SK_REASON_RESTORING = SK_VERDICT_RESTORING,
    SK_REASON_LOG,      /* the node's log ended with a corruption message */
    SK_REASON_OPERATOR, /* restore --slot, or `slotkeeper run` through the daemon */
    SK_REASON_KILLED,   /* the archival node had to be killed in a cycle */
    SK_REASON_COUNT
} sk_restore_reason_t;

/* "dirty", "corrupt", ..., for logs and metrics (index 0 and 1 are unused). */
extern const char *const sk_restore_reason_names[SK_REASON_COUNT];

typedef enum { SK_THEN_NONE, SK_THEN_START, SK_THEN_RESTORE, SK_THEN_SNAPSHOT } sk_then_t;

typedef struct sk_slot {
    struct sk_daemon *d;
    unsigned num; /* 1..N, 0 for the archival node */
    bool archive;
    char name[24]; /* "slot 3" or "archive" */
    char data_dir[PATH_MAX], log_file[PATH_MAX], pid_file[PATH_MAX];
    char *command; /* expanded command line, for reload comparison */
    char **argv;
    char health_url[1024];
    char include[256];

    sk_slot_state_t state;
    double state_since;
    char detail[512]; /* what the state is about, for status */

    /* the node */
    pid_t pid;
    bool adopted; /* found running at daemon start, not our child */
    bool killed;  /* we had to SIGKILL it */
    int64_t exit_status;
    int term_signal;
    double started_at;
    uv_process_t proc;
    uv_process_t logger;
    uv_timer_t timer, health_timer, watch_timer;
    uv_poll_t pidfd_poll;
    int pidfd;
    bool proc_active, logger_active, pidfd_active;
    int open_handles;
    bool closing;

    /* health */
    sk_probe_t *probe;
    uint64_t head;
    bool head_known;
    double head_changed_at, answered_at;

    /* policy */
    uint64_t backoff_ms;
    unsigned restarts, restores;
    unsigned restores_by[SK_REASON_COUNT]; /* successful restores by reason */
    sk_restore_reason_t restore_reason;    /* of the restore asked for last */
    bool external;                         /* no command: run elsewhere, only restored on request */
    double *restore_times;                 /* starts of restores within the window */
    unsigned nrestore_times;
    char last_failure[512];

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

    /* outcomes the control socket waits for */
    unsigned restore_seq, cycle_seq, start_seq, stop_seq;
    bool restore_ok;
    char restore_id[SK_ID_MAX];
    char restore_err[640];
    sk_cycle_t cycles[SK_CYCLES_KEPT];
    unsigned ncycles; /* total; the last SK_CYCLES_KEPT are in cycles[n % KEPT] */
    unsigned cycles_published, cycles_failed;
    int64_t last_success; /* unix time of the last published cycle, 0 if none */
    sk_cycle_t cur;       /* the cycle in progress */
    double cycle_t0, down_t0;
} sk_slot_t;

/* A cycle as the status and state_dir/archive.cycles give it: start, downtime_ms,
 * duration_ms, bytes_read, new_bytes, snapshot (null when none was published), failure
 * (null when none), note. A new reference. */
json_t *sk_cycle_json(const sk_cycle_t *c);

/* Creates slot num (0: the archival node) from the configuration; NULL with a logged
 * reason if a template does not expand. The slot starts in `stopped`. */
sk_slot_t *sk_slot_new(struct sk_daemon *d, unsigned num, const sk_config_t *c);

/* True if the slot's node would be started differently under c (a reload then restarts it). */
bool sk_slot_changed(const sk_slot_t *s, const sk_config_t *c);

/* Looks for a node of this slot left running by an earlier daemon (pid file, process start
 * time, and the holder of the state file's lock) and adopts it. Returns true if it did. */
bool sk_slot_adopt(sk_slot_t *s);

/* Feeds an event through the state table. */
void sk_slot_event(sk_slot_t *s, sk_slot_event_t ev);

/* Clears the slot's restore budget (also on disk), back-off and last failure. */
void sk_slot_reset(sk_slot_t *s);

/* Closes the slot's handles and frees it once they are closed; it must be stopped and idle. */
void sk_slot_free(sk_slot_t *s);

/* True once the slot has no node, no job and no pending work: a stopped slot can go. */
bool sk_slot_idle(const sk_slot_t *s);

const char *sk_slot_state_name(sk_slot_state_t st);

/* The newest cycle record, or NULL. */
const sk_cycle_t *sk_slot_last_cycle(const sk_slot_t *s);

#endif
