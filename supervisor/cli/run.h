/*
 * run: the entrypoint of a worker container or of a systemd unit per slot.
 *
 *   slotkeeper run --slot N -c FILE -- nodeos ARGS...
 *   slotkeeper run --data-dir DIR --repo REPO -- nodeos ARGS...
 *
 * Before starting the node it checks the data-dir; a verdict that calls for a
 * restore (dirty, corrupt, incompatible, missing, restoring) restores it from
 * the newest good snapshot: through the host daemon's control socket when one
 * listens there (the daemon then restores the slot, one restore at a time on
 * the host), otherwise directly from the repository. When the slot's state file still has a
 * chainbase header (and is not itself the incompatible part), only a snapshot
 * made in the same environment (OS, arch,
 * Boost, compiler) is used, since its node would refuse any other (exit 8 if
 * there is none). `running` is an error, never a restore.
 * Then it starts the node as its child with stdout/stderr passed through,
 * forwards SIGTERM, SIGINT and SIGHUP, waits, and exits with the node's own
 * exit code (128+signal if it was killed). A node that fails at startup on
 * corrupted state (exit within the startup grace, with nodeos's dirty or
 * startup-failure code or a data-dir that `check` no longer calls clean) is
 * restored and started again, at most `tries` times in all; then run exits
 * non-zero with a clear message and the container's restart policy takes over.
 * The loop, the child and the signals are libuv's.
 */
#ifndef SLOTKEEPER_RUN_H
#define SLOTKEEPER_RUN_H

#include <stdint.h>

typedef struct sk_run_opts {
    const char *data_dir;
    const char *repo;  /* NULL: no repository, so a data-dir that needs a restore is an error */
    char *const *argv; /* the node's command line */
    unsigned tries;    /* starts in all (default 2) */
    uint64_t startup_grace_ms;
    uint64_t lock_wait_ms;
    /* With a slot and the host daemon's control socket (mounted into the container), a restore
     * is asked of the daemon, so the host's restores-at-once budget holds; when no daemon
     * listens there, it is done directly from repo. */
    const char *control_socket;
    unsigned slot;
} sk_run_opts_t;

/* Runs the node; returns the process exit code for slotkeeper itself. */
int sk_run(const sk_run_opts_t *o);

#endif
