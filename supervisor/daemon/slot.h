/*
 * slot: one node the daemon supervises, a worker slot (1..N) or the archival
 * node (number 0), followed through a state machine written as a table of
 * states x events (supervisor/daemon/slot_fsm.c). Disk work (check, restore, snapshot,
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
#include <stddef.h>
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
    SK_EV_FROZEN,      /* a cycle froze the stopped data-dir (slot->frozen): the node may run again */
    SK_EV_COUNT
} sk_slot_event_t;

#define SK_CYCLES_KEPT 16

typedef struct sk_cycle {
    int64_t start; /* unix time */
    uint64_t downtime_ms, duration_ms, bytes_read, new_bytes;
    char id[SK_ID_MAX]; /* the snapshot published, or "" */
    char failure[320];  /* why nothing was published, or "" */
    char note[160];     /* verify/prune outcome */
    /* freeze: "frozen" (the snapshot read a clone while the node ran again) or "direct" (the node
     * stayed stopped for the whole snapshot); stopped_ms: how long the data-dir was held */
    char path[8];
    uint64_t stopped_ms;
} sk_cycle_t;

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

/* A slot. Its struct is private to the slot module (slot_impl.h); the host reads it through
 * sk_slot_view() and drives it through the functions below. */
typedef struct sk_slot sk_slot_t;

/* What the host (status, metrics, control replies) may read of a slot. Kept current by the
 * slot; read-only outside it. */
typedef struct sk_slot_view {
    unsigned num; /* 1..N, 0 for the archival node */
    bool archive;
    char name[24]; /* "slot 3" or "archive" */
    char data_dir[PATH_MAX];
    bool external; /* no command: run elsewhere, only restored on request */

    sk_slot_state_t state;
    double state_since;
    char detail[512]; /* what the state is about */

    pid_t pid; /* the node's, 0 when none runs */
    bool adopted;
    double started_at;
    uint64_t head; /* the head block get_info last reported, when head_known */
    bool head_known;

    unsigned restarts, restores;
    unsigned restores_by[SK_REASON_COUNT]; /* successful restores by reason */
    char last_failure[512];

    /* outcomes the control socket waits for: each counter moves when one is reached */
    unsigned restore_seq, cycle_seq, start_seq, stop_seq;
    bool restore_ok; /* the last restore's outcome: */
    int restore_rc;  /* ... its -errno when it failed */
    char restore_id[SK_ID_MAX];
    char restore_err[640];
    /* the last successful restore: the path it took ("delta", "full", "clone") and its bytes;
     * and the totals of every restore's bytes */
    char restore_path[16];
    uint64_t restore_written, restore_cloned, restore_unchanged;
    uint64_t restored_written, restored_cloned, restored_unchanged;

    /* the archival node's cycles */
    sk_cycle_t cycles[SK_CYCLES_KEPT];
    unsigned ncycles; /* total; the last SK_CYCLES_KEPT are in cycles[n % KEPT] */
    unsigned cycles_published, cycles_failed;
    int64_t last_success; /* unix time of the last published cycle, 0 if none */
} sk_slot_view_t;

typedef struct sk_slot_ops sk_slot_ops_t;

/*
 * The host interface: what a slot needs from whoever holds it (the daemon, or a test). One
 * host serves every slot. The slot never calls the host's code by name, only through here.
 */
typedef struct sk_slot_host {
    uv_loop_t *loop;
    const sk_config_t *cfg; /* the configuration in force; the host keeps it current on reload */
    const char *exe;        /* this binary, run as `exe log-writer` beside each node */
    sk_health_t *health;    /* the prober, or NULL when probes are unavailable */
    /* How the slot runs its disk jobs and its node: &sk_slot_node_ops (slot_ops.c), the real
     * thread-pool jobs and processes, or a test's fakes. */
    const sk_slot_ops_t *ops;
    void *arg; /* passed to every callback below */
    /* After every transition, and when a job ends: the host answers what waited for it. */
    void (*changed)(void *arg, sk_slot_t *s);
    /* s waits for a restore: the host queues it and feeds SK_EV_RESTORE_GO when its turn comes. */
    void (*want_restore)(void *arg, sk_slot_t *s);
    /* s's restore ended (or never started): its place is free. */
    void (*restore_done)(void *arg, sk_slot_t *s);
    /* s was queued for a restore and no longer wants it. */
    void (*dequeue)(void *arg, sk_slot_t *s);
    /* The archival node recorded a cycle: the host schedules the next one. */
    void (*cycle_done)(void *arg, sk_slot_t *s);
    /* True once the host is shutting down: nothing is started any more. */
    bool (*shutting_down)(void *arg);
    /* Writes a small state file atomically, off the loop, in order; buf NULL removes it. */
    void (*put_file)(void *arg, const char *path, const void *buf, size_t len);
} sk_slot_host_t;

/* The real jobs and processes (thread pool, uv_spawn, log-writers, health probes). */
extern const sk_slot_ops_t sk_slot_node_ops;

/* A cycle as the status and state_dir/archive.cycles give it: start, downtime_ms (stop
 * requested to node started again), duration_ms, bytes_read, new_bytes, snapshot (null when
 * none was published), failure (null when none), note, path ("frozen", "direct", or "" when
 * no snapshot was taken) and stopped_ms. A new reference. */
json_t *sk_cycle_json(const sk_cycle_t *c);

/* Creates slot num (0: the archival node) from host->cfg; NULL with a logged reason if a
 * template does not expand. The slot starts in `stopped`. host must outlive the slot. */
sk_slot_t *sk_slot_new(const sk_slot_host_t *host, unsigned num);

/* What the host may read of s. */
const sk_slot_view_t *sk_slot_view(const sk_slot_t *s);

/* True if the slot's node would be started differently under c (a reload then restarts it). */
bool sk_slot_changed(const sk_slot_t *s, const sk_config_t *c);

/* Looks for a node of this slot left running by an earlier daemon (pid file, process start
 * time, and the holder of the state file's lock) and adopts it. Returns true if it did. */
bool sk_slot_adopt(sk_slot_t *s);

/* Feeds an event through the state table. */
void sk_slot_event(sk_slot_t *s, sk_slot_event_t ev);

/* An operator's restore of snapshot id ("" or "latest": the newest good one): SK_EV_RESTORE,
 * unless a restore is already queued or running. -ENAMETOOLONG if id cannot be an id. */
int sk_slot_request_restore(sk_slot_t *s, const char *id);

/* True while the archival node is in a cycle (stopping for it, snapshotting, or, with a
 * freeze, its snapshot of the frozen copy still running). */
bool sk_slot_in_cycle(const sk_slot_t *s);

/* True while a disk job (check, restore, snapshot, verify) runs for s. */
bool sk_slot_job_busy(const sk_slot_t *s);

/* The repository knows a snapshot published at t (unix time): the last success is at least then. */
void sk_slot_saw_success(sk_slot_t *s, int64_t t);

/* A reload changed restore_budget: the slot's budget follows. */
void sk_slot_set_budget(sk_slot_t *s, unsigned restore_budget);

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
