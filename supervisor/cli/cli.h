/*
 * cli: what the command line's files share (private to supervisor/cli/). main.c
 * parses the options of one command into struct options and dispatches to its
 * cmd_* function in cmd_repo.c, cmd_node.c or cmd_archive.c; these report
 * errors with cli_fail, one line and a documented exit code.
 */
#ifndef SLOTKEEPER_CLI_H
#define SLOTKEEPER_CLI_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "slotkeeper/datadir.h"
#include "slotkeeper/error.h"
#include "slotkeeper/exitcode.h"
#include "slotkeeper/repo.h"
#include "option.h"

/* snapshot -c and restore --slot through the daemon: not an exit code, the result of a
 * forwarding helper when no daemon listens, so that the caller does the work itself. */
enum { CLI_NO_DAEMON = -1 };

/* Options, as one struct; `given` remembers which were on the command line (ids: option.h). */
struct options {
    bool given[O_COUNT];
    const char *repo, *data_dir, *snapshot;
    char **include; /* --include or [archive] include (sk_include_parse), unbounded */
    size_t ninclude;
    int level, threads;
    uint64_t lock_wait_ms, chunk_size, log_chunk_size;
    bool quarantine_delete;
    unsigned keep_quarantine, keep_last;
    bool json, all, progress, quiet, deep;
    bool full_reread;           /* snapshot --full-reread */
    unsigned full_reread_every; /* [archive] full_reread_every */
    const char *reference;
    const char *chain_id;     /* restore --chain-id */
    bool force_chain;         /* restore --force-chain */
    bool no_freeze;           /* snapshot --no-freeze, or [archive] freeze = off */
    const char *after_freeze; /* snapshot --after-freeze CMD */
    bool full;                /* restore --full */
    bool golden;              /* repo init --golden */
    const char *config;
    unsigned slot;
    char slot_dir[PATH_MAX];
    const char *output;
    const char *from; /* sync --from */
    unsigned tries;
    uint64_t startup_grace_ms;
    char **args;
    int nargs;
    bool explicit_repo, explicit_data_dir; /* given on the command line, not by -c */
};

/* Prints the error as one line "slotkeeper: <command>: <path>: <reason>"; returns its exit code. */
int cli_fail(const sk_err_t *err);
/* Prints a configuration file's error as one line "slotkeeper: FILE: line N: reason" (no
 * command name); returns 1 when the file could not be read (missing, unreadable), 2 when it is
 * wrong. */
int cli_config_error(const sk_err_t *err);
/* Prints a usage error of the current command; returns SK_EXIT_USAGE. */
int cli_usage_error(const char *fmt, ...) SK_PRINTF(1, 2);
/* Opens o->repo with its lock; 0, or an exit code after printing why. */
int cli_open_repo(struct options *o, enum sk_lock_mode mode, const char *command, sk_repo_t **repo);
/* Refuses (one line naming the path and the reason; SK_EXIT_USAGE, or the exit code of a path
 * that cannot be resolved) a data-dir that is a system
 * folder, or that is, contains or lies inside the repository (paths.h); repo may be NULL.
 * 0 when they are apart. */
int cli_check_paths(const char *data_dir, const char *repo);
/* The state environment of --reference: a snapshot manifest's or a state file's. */
int cli_load_reference(const char *path, unsigned char env[SK_STATE_ENV_SIZE], sk_err_t *err);

int cmd_repo_init(struct options *o);
int cmd_repo_golden(struct options *o);
int cmd_snapshot(struct options *o);
int cmd_restore(struct options *o);
int cmd_list(struct options *o);
int cmd_verify(struct options *o);
int cmd_sync(struct options *o);
int cmd_prune(struct options *o);
int cmd_check(struct options *o);
int cmd_config_check(struct options *o);
int cmd_export(struct options *o);
int cmd_import(struct options *o);
int cmd_run(struct options *o);
int cmd_daemon(struct options *o);
int cmd_status(struct options *o);
int cmd_stop(struct options *o);
int cmd_start(struct options *o);
int cmd_reset(struct options *o);
int cmd_log_writer(struct options *o);

/* The configuration loaded with -c (or the default path, for the daemon's commands), or NULL. */
const struct sk_config *cli_config(void);

/* The running command's name (for usage errors), and the configuration main loaded with -c;
 * set by main only. */
extern const char *cli_command;
extern struct sk_config cli_the_config;
extern bool cli_the_config_loaded;
/* snapshot -c and restore --slot through a running daemon: an exit code (exitcode.h), or
 * CLI_NO_DAEMON when no daemon listens (the caller then works directly). */
int cli_daemon_snapshot(struct options *o);
int cli_daemon_restore(struct options *o);

#endif
