/*
 * config: slotkeeper's configuration file, one INI file parsed by Debian's inih
 * and checked against one table that gives every key's section, type, bounds,
 * default and documentation (supervisor/config.c). etc/slotkeeper.conf
 * documents every key. Durations take units (300s, 10m, 1h, 250ms), sizes take
 * binary units (64MiB). Templates may use {slot}, {data_dir}, {http_port} and
 * {p2p_port}.
 *
 * Errors are one line, "file:line: key: reason" (a missing required key has no
 * line: "file: [section] key: required"), and leave the caller's config as it
 * was, so a daemon keeps running on the old file when a reload is bad.
 */
#ifndef SLOTKEEPER_CONFIG_H
#define SLOTKEEPER_CONFIG_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "slotkeeper/error.h"

#define SK_CONFIG_DEFAULT_PATH "/etc/slotkeeper/slotkeeper.conf"

typedef struct sk_config {
    char *path; /* the file it was read from */
    /* [daemon] */
    char *control_socket;
    unsigned control_socket_mode;
    char *state_dir;
    unsigned log_level;    /* 0 error, 1 warn, 2 info, 3 debug */
    char *metrics_address; /* "" when off */
    /* [repository] */
    char *repo_path;
    unsigned keep_last;
    unsigned level;
    unsigned threads;
    uint64_t lock_wait_ms;
    char *s3_endpoint; /* "" when none */
    char *s3_region;   /* "" when none */
    char *upstream;    /* "" when none */
    uint64_t sync_interval_ms;
    unsigned golden_full_verify_every; /* golden.h: every Nth update re-hashes the whole copy */
    /* [archive] */
    char *archive_data_dir;
    char *archive_command;
    char *archive_include;
    uint64_t snapshot_interval_ms;
    uint64_t stop_timeout_ms;
    unsigned full_reread_every;
    unsigned archive_freeze; /* 0 auto, 1 off (freeze.h) */
    /* [workers] */
    unsigned slots;
    char *worker_data_dir;
    char *worker_command;
    unsigned http_port_base;
    unsigned p2p_port_base;
    uint64_t startup_grace_ms;
    char *health_url;
    uint64_t health_interval_ms;
    uint64_t stall_timeout_ms;
    uint64_t backoff_min_ms;
    uint64_t backoff_max_ms;
    uint64_t stable_after_ms;
    unsigned restore_budget;
    uint64_t restore_window_ms;
    unsigned restores_at_once;
    unsigned quarantine; /* 0 keep, 1 delete */
    unsigned quarantine_keep;
    char *log_file;
    uint64_t log_max_size;
    unsigned log_keep;
    uint64_t worker_stop_timeout_ms;
} sk_config_t;

/* Reads path over the defaults into *out (which it owns afterwards; free with sk_config_free).
 * On failure *out is untouched and err holds the one-line reason. */
int sk_config_load(const char *path, sk_config_t *out, sk_err_t *err);
void sk_config_free(sk_config_t *c);

/* What `config check` adds to the loader: the program of [archive] command and of [workers]
 * command is found as execvp would find it (a name with a '/' as it is, any other on PATH) and
 * is an executable file. -ENOENT with "line N: [section] command: 'X' not found or not
 * executable" otherwise. A program named by a template ({...}) is not checked. */
int sk_config_check_programs(const sk_config_t *c, sk_err_t *err);

/* Writes the effective configuration, every key with its value and documentation, as an INI
 * file that sk_config_load reads back to the same values. */
void sk_config_print(const sk_config_t *c, FILE *f);

/* Expands a template for slot: {slot}, {data_dir} (the slot's data-dir), {http_port} and
 * {p2p_port} (the port bases plus the slot number). -ENAMETOOLONG if it does not fit. */
int sk_config_expand(const sk_config_t *c, const char *tmpl, unsigned slot, char *out, size_t len);

#endif
