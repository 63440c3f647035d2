/*
 * daemon: `slotkeeper daemon -c FILE`, the supervisor of one host's nodes.
 *
 * One libuv loop holds: a slot (slot.h) per worker and one for the archival
 * node, the control socket (control.h), the health prober (health.h), the
 * archival cycle timer, and the signals: SIGTERM/SIGINT stop every node
 * cleanly and then exit 0; SIGHUP reloads the configuration (a bad file is
 * refused and the old one stays in force; changed slots restart, removed ones
 * stop, new ones start).
 *
 * Nodes are started detached (their own session) with their output on a pipe
 * to a `slotkeeper log-writer` process, so they keep running when the daemon
 * dies; pid files in state_dir let the next daemon adopt them instead of
 * starting second ones. One daemon per state_dir (a lock file says so).
 *
 * Restores are rationed: at most restores_at_once at a time on the host (the
 * others queue), and at most restore_budget per slot per restore_window; past
 * it the slot goes to `failed` until an operator restores or resets it.
 */
#ifndef SLOTKEEPER_DAEMON_H
#define SLOTKEEPER_DAEMON_H

#include <stdbool.h>
#include <uv.h>

#include "slotkeeper/config.h"
#include "daemon/control.h"
#include "daemon/health.h"
#include "daemon/metrics.h"
#include "daemon/restoreq.h"
#include "daemon/slot.h"
#include "daemon/statefile.h"

typedef struct sk_waiter sk_waiter_t;

typedef struct sk_daemon {
    uv_loop_t *loop;
    sk_config_t cfg;
    char exe[PATH_MAX]; /* this binary, for log-writer processes */
    sk_slot_t **slots;  /* slots[0] is the archival node (NULL if none), 1..nslots the workers */
    unsigned nslots;
    sk_slot_t **retired; /* removed by a reload, stopping; freed once idle */
    unsigned nretired;
    sk_ctl_server_t *ctl;
    sk_health_t *health;
    sk_metrics_t *metrics;
    sk_statefiles_t *statefiles; /* pid and budget files, written on the thread pool */
    struct sk_follow *follow;    /* copying [repository] upstream, or NULL */
    /* the repository, as last measured on the thread pool (at start and after each cycle) */
    uint64_t repo_snapshots, repo_bad, repo_bytes;
    bool repo_measured, repo_measuring;
    uv_signal_t sig_term, sig_int, sig_hup;
    uv_timer_t cycle_timer, reap_timer;
    sk_slot_host_t host;    /* what the slots get of the daemon */
    sk_restoreq_t restoreq; /* slots waiting for a restore, and the restores running */
    sk_waiter_t *waiters;
    bool shutting_down;
    int lockfd;
    double started_at;
    int64_t start_unix;
    int exit_code;
} sk_daemon_t;

/* Runs the daemon on config_path until SIGTERM/SIGINT; returns the process exit code. */
int sk_daemon_main(const char *config_path);

#endif
