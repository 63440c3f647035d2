/*
 * option: the option table and its value parser (see option.h). Every bound,
 * default and line of documentation of an option is written here once; the
 * configuration file (config.c) and the command line (cli/main.c) both read
 * it, so `--keep-last` and `[repository] keep_last` accept the same numbers.
 */
#include "option.h"

#include "slotkeeper/inclist.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "slotkeeper/chainid.h"
#include "slotkeeper/config.h"
#include "slotkeeper/fsutil.h"
#include "slotkeeper/manifest.h"
#include "daemon/metrics.h"

#define SUN_PATH_MAX (sizeof(((struct sockaddr_un *)0)->sun_path) - 1)
#define OFF(f)       offsetof(sk_config_t, f)
#define NOFF         0
#define DAY          (24ULL * 3600 * 1000)

static const char *const log_levels[] = {"error", "warn", "info", "debug", NULL};
static const char *const quarantine_policies[] = {"keep", "delete", NULL};
static const char *const freeze_modes[] = {"auto", "off", NULL};

/* section, key, flag, id, short, type, offset, min, max, default, values, arg, doc */
const sk_option_t sk_options[] = {
    {"daemon", "control_socket", NULL, O_NONE, 0, T_SOCKET, OFF(control_socket), 1, SUN_PATH_MAX,
     "/run/slotkeeper/control.sock", NULL, NULL, "UNIX socket the CLI talks to the daemon through"},
    {"daemon", "control_socket_mode", NULL, O_NONE, 0, T_MODE, OFF(control_socket_mode), 0, 0777, "0600", NULL, NULL,
     "permissions of the control socket (octal)"},
    {"daemon", "state_dir", NULL, O_NONE, 0, T_PATH, OFF(state_dir), 0, 0, "/var/lib/slotkeeper/state", NULL, NULL,
     "where the daemon keeps pid files and slot state"},
    {"daemon", "log_level", NULL, O_NONE, 0, T_ENUM, OFF(log_level), 0, 0, "info", log_levels, NULL,
     "error, warn, info or debug"},
    {"daemon", "metrics_address", NULL, O_NONE, 0, T_ADDRESS, OFF(metrics_address), 0, 0, "", NULL, NULL,
     "HOST:PORT where the daemon serves Prometheus metrics at /metrics (e.g. 127.0.0.1:9488); empty: off"},

    {"repository", "path", "repo", O_REPO, 0, T_PATH, OFF(repo_path), 0, 0, NULL, NULL, "REPO",
     "the snapshot repository (made with `slotkeeper repo init`); required"},
    {"repository", "keep_last", "keep-last", O_KEEP_LAST, 0, T_UINT, OFF(keep_last), 1, 100000, "6", NULL, "N",
     "snapshots prune keeps (the newest good one is never removed)"},
    {"repository", "level", "level", O_LEVEL, 0, T_UINT, OFF(level), 1, 19, "3", NULL, "N",
     "zstd level of new snapshots"},
    {"repository", "threads", "threads", O_THREADS, 0, T_UINT, OFF(threads), 0, 256, "0", NULL, "N",
     "worker threads of snapshot, restore and verify; 0: one per CPU"},
    {"repository", "lock_wait", "lock-wait", O_LOCK_WAIT, 0, T_DURATION, OFF(lock_wait_ms), 0, DAY, "60s", NULL, "DUR",
     "how long a command waits for the repository lock"},
    {"repository", "endpoint", NULL, O_NONE, 0, T_STR, OFF(s3_endpoint), 0, 0, "", NULL, NULL,
     "for a path s3://BUCKET/PREFIX: the S3 endpoint, http(s)://HOST[:PORT] (path-style requests); "
     "AWS_ENDPOINT_URL_S3 or AWS_ENDPOINT_URL win; empty: AWS"},
    {"repository", "region", NULL, O_NONE, 0, T_STR, OFF(s3_region), 0, 0, "", NULL, NULL,
     "for a path s3://...: the S3 region; AWS_REGION or AWS_DEFAULT_REGION win; empty: us-east-1"},
    {"repository", "upstream", NULL, O_NONE, 0, T_STR, OFF(upstream), 0, 0, "", NULL, NULL,
     "a follower host: the shared repository (s3://BUCKET/PREFIX, or an absolute path) whose newest "
     "good snapshot the daemon copies into path every sync_interval; empty: none"},
    {"repository", "sync_interval", NULL, O_NONE, 0, T_DURATION, OFF(sync_interval_ms), 1000, DAY, "60s", NULL, NULL,
     "how often the daemon looks for a new snapshot upstream"},
    {"repository", "golden_full_verify_every", NULL, O_NONE, 0, T_UINT, OFF(golden_full_verify_every), 0, 100000, "24",
     NULL, NULL,
     "a golden copy's update re-hashes only the bytes that changed, but every Nth update in a row "
     "re-hashes the whole copy; 0: never (only `slotkeeper verify`)"},

    {"archive", "data_dir", NULL, O_NONE, 0, T_PATH, OFF(archive_data_dir), 0, 0, "", NULL, NULL,
     "data-dir of the archival node that is snapshotted; empty: no archival node"},
    {"archive", "command", NULL, O_NONE, 0, T_TEMPLATE, OFF(archive_command), 0, 0, "", NULL, NULL,
     "command line that starts the archival node ({data_dir} is its data-dir)"},
    {"archive", "include", "include", O_INCLUDE, 0, T_LIST, OFF(archive_include), 0, 0, "blocks,state", NULL, "LIST",
     "sub-folders a snapshot takes (Dawn 3.0: blocks,shared_mem)"},
    {"archive", "snapshot_interval", NULL, O_NONE, 0, T_DURATION, OFF(snapshot_interval_ms), 60000, 30 * DAY, "30m",
     NULL, NULL, "time between two snapshots of the archival node"},
    {"archive", "stop_timeout", NULL, O_NONE, 0, T_DURATION, OFF(stop_timeout_ms), 1000, DAY, "300s", NULL, NULL,
     "how long the archival node may take to stop after SIGTERM; past it, it is killed and that "
     "cycle publishes nothing"},
    {"archive", "full_reread_every", NULL, O_NONE, 0, T_UINT, OFF(full_reread_every), 0, 100000, "24", NULL, NULL,
     "every Nth snapshot in a row that carries the unchanged prefix of append-only files from its parent "
     "reads everything again; 0: never"},
    {"archive", "freeze", NULL, O_NONE, 0, T_ENUM, OFF(archive_freeze), 0, 0, "auto", freeze_modes, NULL,
     "auto: clone the stopped data-dir where the file system can (XFS reflink=1), restart the node, "
     "snapshot the clone; off: stay stopped for the snapshot"},

    {"workers", "slots", NULL, O_NONE, 0, T_UINT, OFF(slots), 0, 1000, "0", NULL, NULL,
     "number of worker slots, numbered 1..slots"},
    {"workers", "data_dir", NULL, O_NONE, 0, T_TEMPLATE, OFF(worker_data_dir), 0, 0, "", NULL, NULL,
     "data-dir of each slot, with {slot} (e.g. /srv/eos/{slot}); required when slots > 0"},
    {"workers", "command", NULL, O_NONE, 0, T_TEMPLATE, OFF(worker_command), 0, 0, "", NULL, NULL,
     "command line that starts a worker ({slot}, {data_dir}, {http_port}, {p2p_port}); empty: the "
     "workers run elsewhere (`slotkeeper run` in containers) and the daemon only restores them when "
     "asked"},
    {"workers", "http_port_base", NULL, O_NONE, 0, T_UINT, OFF(http_port_base), 1, 65000, "8888", NULL, NULL,
     "{http_port} of slot N is http_port_base + N"},
    {"workers", "p2p_port_base", NULL, O_NONE, 0, T_UINT, OFF(p2p_port_base), 1, 65000, "9876", NULL, NULL,
     "{p2p_port} of slot N is p2p_port_base + N"},
    {"workers", "startup_grace", "startup-grace", O_STARTUP_GRACE, 0, T_DURATION, OFF(startup_grace_ms), 1000, DAY,
     "120s", NULL, "DUR", "a worker that exits within this time of starting failed to start"},
    {"workers", "health_url", NULL, O_NONE, 0, T_TEMPLATE, OFF(health_url), 0, 0,
     "http://127.0.0.1:{http_port}/v1/chain/get_info", NULL, NULL,
     "get_info URL probed on each running worker; empty: no probe"},
    {"workers", "health_interval", NULL, O_NONE, 0, T_DURATION, OFF(health_interval_ms), 1000, DAY, "10s", NULL, NULL,
     "time between two probes"},
    {"workers", "stall_timeout", NULL, O_NONE, 0, T_DURATION, OFF(stall_timeout_ms), 1000, DAY, "120s", NULL, NULL,
     "a worker whose head block does not move for this long, or that does not answer, is restarted"},
    {"workers", "backoff_min", NULL, O_NONE, 0, T_DURATION, OFF(backoff_min_ms), 0, DAY, "1s", NULL, NULL,
     "first restart delay after a crash; doubles on each crash"},
    {"workers", "backoff_max", NULL, O_NONE, 0, T_DURATION, OFF(backoff_max_ms), 0, DAY, "5m", NULL, NULL,
     "longest restart delay"},
    {"workers", "stable_after", NULL, O_NONE, 0, T_DURATION, OFF(stable_after_ms), 1000, DAY, "10m", NULL, NULL,
     "a worker running this long has its back-off reset"},
    {"workers", "restore_budget", NULL, O_NONE, 0, T_UINT, OFF(restore_budget), 1, 1000, "3", NULL, NULL,
     "restores a slot may have per restore_window; past it the slot goes to failed"},
    {"workers", "restore_window", NULL, O_NONE, 0, T_DURATION, OFF(restore_window_ms), 60000, 30 * DAY, "1h", NULL,
     NULL, "the window of restore_budget"},
    {"workers", "restores_at_once", NULL, O_NONE, 0, T_UINT, OFF(restores_at_once), 1, 64, "1", NULL, NULL,
     "restores running at the same time on this host; others wait"},
    {"workers", "quarantine", "quarantine", O_QUARANTINE, 0, T_ENUM, OFF(quarantine), 0, 0, "keep", quarantine_policies,
     "keep|delete", "keep the folders a restore replaces, or delete them"},
    {"workers", "quarantine_keep", "keep-quarantine", O_KEEP_QUARANTINE, 0, T_UINT, OFF(quarantine_keep), 0, 1000, "1",
     NULL, "K", "replaced copies kept per slot (with quarantine = keep)"},
    {"workers", "log_file", NULL, O_NONE, 0, T_TEMPLATE, OFF(log_file), 0, 0, "{data_dir}/nodeos.log", NULL, NULL,
     "where a worker's stdout and stderr go"},
    {"workers", "log_max_size", NULL, O_NONE, 0, T_SIZE, OFF(log_max_size), 4096, 1ULL << 40, "64MiB", NULL, NULL,
     "a worker's log is rotated at this size"},
    {"workers", "log_keep", NULL, O_NONE, 0, T_UINT, OFF(log_keep), 0, 100, "5", NULL, NULL, "rotated logs kept"},
    {"workers", "stop_timeout", NULL, O_NONE, 0, T_DURATION, OFF(worker_stop_timeout_ms), 1000, DAY, "300s", NULL, NULL,
     "how long a worker may take to stop after SIGTERM"},

    /* The command line only. */
    {NULL, NULL, "data-dir", O_DATA_DIR, 0, T_STR, NOFF, 0, 0, NULL, NULL, "DIR",
     "the node's data-dir (snapshot: it must be stopped; restore: the slot's)"},
    {NULL, NULL, "snapshot", O_SNAPSHOT, 0, T_SNAPSHOT_ID, NOFF, 0, 0, "latest", NULL, "ID",
     "the snapshot, or 'latest': the newest good one of the slot's chain (highest head block)"},
    {NULL, NULL, "chunk-size", O_CHUNK_SIZE, 0, T_POW2, NOFF, SK_CHUNK_SIZE_MIN, SK_CHUNK_SIZE_MAX, "128KiB", NULL,
     "SIZE", "chunk size of files changed in place, such as state/shared_memory.bin"},
    {NULL, NULL, "log-chunk-size", O_LOG_CHUNK_SIZE, 0, T_POW2, NOFF, SK_CHUNK_SIZE_MIN, SK_CHUNK_SIZE_MAX, "1MiB",
     NULL, "SIZE", "chunk size of append-only files (names ending in .log or .index, such as blocks/blocks.log)"},
    {NULL, NULL, "slot", O_SLOT, 0, T_UINT, NOFF, 1, 1000, NULL, NULL, "N",
     "with -c: worker slot N, whose data-dir is [workers] data_dir (run: or SLOTKEEPER_SLOT)"},
    {NULL, NULL, "tries", O_TRIES, 0, T_UINT, NOFF, 1, 100, "2", NULL, "N",
     "starts in all when the node fails at startup on its data"},
    {NULL, NULL, "chain-id", O_CHAIN_ID, 0, T_CHAIN_ID, NOFF, 0, 0, NULL, NULL, "ID",
     "the chain (64 hex digits) when the data-dir's blocks.log and genesis.json name none"},
    {NULL, NULL, "force-chain", O_FORCE_CHAIN, 0, T_FLAG, NOFF, 0, 0, NULL, NULL, NULL,
     "restore a snapshot of another chain than the data-dir's (refused otherwise: exit 8)"},
    {NULL, NULL, "no-freeze", O_NO_FREEZE, 0, T_FLAG, NOFF, 0, 0, NULL, NULL, NULL,
     "snapshot the stopped data-dir itself, keeping it locked throughout, instead of a clone of it"},
    {NULL, NULL, "after-freeze", O_AFTER_FREEZE, 0, T_STR, NOFF, 0, 0, NULL, NULL, "CMD",
     "run CMD (sh -c) as soon as the data-dir is free again, e.g. to restart the node: right after the freeze, "
     "or after the snapshot when it could not freeze"},
    {NULL, NULL, "full", O_FULL, 0, T_FLAG, NOFF, 0, 0, NULL, NULL, NULL,
     "restore every byte: materialise the snapshot beside the slot and swap it in, the replaced folders kept "
     "whole in quarantine (default: a delta restore, which writes only the chunks that differ)"},
    {NULL, NULL, "golden", O_GOLDEN, 0, T_FLAG, NOFF, 0, 0, NULL, NULL, NULL,
     "keep a golden copy of the newest good snapshot in REPO/golden/, which restores on the same reflink "
     "file system clone (see `slotkeeper repo golden`)"},
    {NULL, NULL, "reference", O_REFERENCE, 0, T_STR, NOFF, 0, 0, NULL, NULL, "FILE",
     "a state file or snapshot manifest from the node's build: its state environment (OS, arch, Boost, "
     "compiler) must match (exit 8 otherwise)"},
    {NULL, NULL, "output", O_OUTPUT, 'o', T_STR, NOFF, 0, 0, NULL, NULL, "FILE",
     "the archive to write, or - for stdout"},
    {NULL, NULL, "from", O_FROM, 0, T_STR, NOFF, 0, 0, NULL, NULL, "URL",
     "the upstream repository sync copies from (s3://BUCKET/PREFIX, or a folder)"},
    {NULL, NULL, "json", O_JSON, 0, T_FLAG, NOFF, 0, 0, NULL, NULL, NULL, "one JSON object on stdout"},
    {NULL, NULL, "all", O_ALL, 0, T_FLAG, NOFF, 0, 0, NULL, NULL, NULL, "every snapshot"},
    {NULL, NULL, "deep", O_DEEP, 0, T_FLAG, NOFF, 0, 0, NULL, NULL, NULL,
     "also walk every block-log entry and the whole index, and report the first inconsistency"},
    {NULL, NULL, "no-progress", O_NO_PROGRESS, 0, T_FLAG, NOFF, 0, 0, NULL, NULL, NULL,
     "no progress line even on a terminal"},
    {NULL, NULL, "config", O_CONFIG, 'c', T_STR, NOFF, 0, 0, NULL, NULL, "FILE",
     "the configuration: options not given here are taken from it (daemon, status, stop, start, reset, "
     "restore --slot and run --slot read " SK_CONFIG_DEFAULT_PATH " without -c)"},
    {NULL, NULL, "full-reread", O_FULL_REREAD, 0, T_FLAG, NOFF, 0, 0, NULL, NULL, NULL,
     "read every file whole: carry nothing from the parent snapshot"},
    {NULL, NULL, "quiet", O_QUIET, 0, T_FLAG, NOFF, 0, 0, NULL, NULL, NULL, "no summary line"},
    {NULL, NULL, "help", O_HELP, 'h', T_FLAG, NOFF, 0, 0, NULL, NULL, NULL, "this help"},
};
const size_t sk_noptions = sizeof(sk_options) / sizeof(sk_options[0]);

const sk_option_t *sk_option_by_id(int id)
{
    for (size_t i = 0; i < sk_noptions; i++)
        if (sk_options[i].flag && sk_options[i].id == id)
            return &sk_options[i];
    return NULL;
}

const sk_option_t *sk_option_by_key(const char *section, const char *key)
{
    for (size_t i = 0; i < sk_noptions; i++)
        if (sk_options[i].key && !strcmp(sk_options[i].section, section) && !strcmp(sk_options[i].key, key))
            return &sk_options[i];
    return NULL;
}

static const char *const placeholders[] = {"{slot}", "{data_dir}", "{http_port}", "{p2p_port}", NULL};

static bool template_ok(const char *v, char *why, size_t len)
{
    for (const char *p = strchr(v, '{'); p; p = strchr(p + 1, '{')) {
        bool known = false;
        for (int i = 0; placeholders[i]; i++)
            if (!strncmp(p, placeholders[i], strlen(placeholders[i])))
                known = true;
        if (!known) {
            size_t n = strcspn(p, "}");
            snprintf(why, len, "unknown placeholder '%.*s' (known: {slot}, {data_dir}, {http_port}, {p2p_port})",
                     (int)(n + 1), p);
            return false;
        }
    }
    return true;
}

int sk_option_parse(const sk_option_t *k, const char *v, bool from_file, sk_optval_t *out, char *why, size_t len)
{
    out->n = 0;
    out->s = v;
    uint64_t n = 0;
    switch (k->type) {
    case T_FLAG:
        return 0;
    case T_STR:
    case T_PATH:
    case T_TEMPLATE:
    case T_LIST:
    case T_SOCKET:
    case T_ADDRESS:
        if ((!k->def || k->type == T_SOCKET || (k->type == T_LIST && !from_file)) && !*v) {
            snprintf(why, len, "empty, but required");
            return -EINVAL;
        }
        if (k->type == T_SOCKET && strlen(v) > k->max) {
            snprintf(why, len, "'%s' is %zu bytes; a UNIX socket path is at most %" PRIu64 " bytes", v, strlen(v),
                     k->max);
            return -EINVAL;
        }
        if (k->type == T_ADDRESS && *v) {
            struct sockaddr_storage ss;
            sk_err_t e;
            sk_err_clear(&e);
            if (sk_metrics_parse_address(v, &ss, &e) < 0) {
                snprintf(why, len, "'%s' is %s", v, e.msg);
                return -EINVAL;
            }
        }
        /* The repository may also be an object store (s3://BUCKET/PREFIX). */
        if (from_file && (k->type == T_PATH || k->type == T_SOCKET) && *v && v[0] != '/' &&
            !(k->offset == OFF(repo_path) && !strncmp(v, "s3://", 5))) {
            snprintf(why, len, "'%s' is not an absolute path", v);
            return -EINVAL;
        }
        if (k->type == T_TEMPLATE && !template_ok(v, why, len))
            return -EINVAL;
        if (k->type == T_LIST && *v) {
            char **names;
            size_t nn;
            sk_err_t e;
            sk_err_clear(&e);
            int rc = sk_include_parse(v, &names, &nn, &e);
            if (rc < 0) {
                snprintf(why, len, "%s", e.msg);
                return rc;
            }
            sk_include_free(names, nn);
        }
        return 0;
    case T_UINT:
        if (sk_parse_uint(v, k->min, k->max, &n) < 0) {
            snprintf(why, len, "'%s' is not a whole number from %" PRIu64 " to %" PRIu64, v, k->min, k->max);
            return -EINVAL;
        }
        out->n = n;
        return 0;
    case T_MODE: {
        char *end;
        errno = 0;
        unsigned long m = strtoul(v, &end, 8);
        if (!*v || *end || errno || m > k->max) {
            snprintf(why, len, "'%s' is not an octal mode such as 0660", v);
            return -EINVAL;
        }
        out->n = m;
        return 0;
    }
    case T_DURATION:
        if (sk_parse_duration_ms(v, &n) < 0 || n < k->min || n > k->max) {
            snprintf(why, len, "'%s' is not a duration from %" PRIu64 "ms to %" PRIu64 "ms (e.g. 300s, 10m, 1h)", v,
                     k->min, k->max);
            return -EINVAL;
        }
        out->n = n;
        return 0;
    case T_SIZE:
    case T_POW2:
        if (sk_parse_size(v, &n) < 0 || n < k->min || n > k->max || (k->type == T_POW2 && (n & (n - 1)))) {
            snprintf(why, len, "'%s' is not a size%s from %" PRIu64 " to %" PRIu64 " bytes (e.g. 64MiB)", v,
                     k->type == T_POW2 ? " that is a power of two" : "", k->min, k->max);
            return -EINVAL;
        }
        out->n = n;
        return 0;
    case T_ENUM:
        for (unsigned i = 0; k->values[i]; i++) {
            if (!strcmp(v, k->values[i])) {
                out->n = i;
                return 0;
            }
        }
        snprintf(why, len, "'%s' is not one of:", v);
        for (unsigned i = 0; k->values[i]; i++)
            snprintf(why + strlen(why), len - strlen(why), " %s", k->values[i]);
        return -EINVAL;
    case T_SNAPSHOT_ID:
        if (strcmp(v, "latest") && !sk_id_valid(v)) {
            snprintf(why, len, "'%s' is not a snapshot id", v);
            return -EINVAL;
        }
        return 0;
    case T_CHAIN_ID:
        if (!sk_chainid_valid(v)) {
            snprintf(why, len, "'%s' is not a chain id (64 lowercase hex digits)", v);
            return -EINVAL;
        }
        return 0;
    }
    return -EINVAL;
}

void sk_option_print_duration(FILE *f, uint64_t ms)
{
    if (ms && ms % 3600000 == 0)
        fprintf(f, "%" PRIu64 "h", ms / 3600000);
    else if (ms && ms % 60000 == 0)
        fprintf(f, "%" PRIu64 "m", ms / 60000);
    else if (ms % 1000 == 0)
        fprintf(f, "%" PRIu64 "s", ms / 1000);
    else
        fprintf(f, "%" PRIu64 "ms", ms);
}

void sk_option_print_size(FILE *f, uint64_t n)
{
    static const char *units[] = {"TiB", "GiB", "MiB", "KiB"};
    for (int i = 0; i < 4; i++) {
        uint64_t u = 1ULL << (10 * (4 - i));
        if (n && n % u == 0) {
            fprintf(f, "%" PRIu64 "%s", n / u, units[i]);
            return;
        }
    }
    fprintf(f, "%" PRIu64, n);
}

void sk_option_print_help(uint64_t mask, FILE *f)
{
    for (size_t i = 0; i < sk_noptions; i++) {
        const sk_option_t *k = &sk_options[i];
        if (!k->flag || !(mask & (1ull << k->id)))
            continue;
        char head[64];
        snprintf(head, sizeof(head), "%s%c%s--%s%s%s", k->short_flag ? "-" : "", k->short_flag ? k->short_flag : ' ',
                 k->short_flag ? ", " : "", k->flag, k->arg ? " " : "", k->arg ? k->arg : "");
        const char *h = k->short_flag ? head : head + 1;
        fprintf(f, "  %-22s %s", h, k->doc);
        if (k->type == T_UINT)
            fprintf(f, " (%" PRIu64 "..%" PRIu64 "%s%s)", k->min, k->max, k->def ? ", default " : "",
                    k->def ? k->def : "");
        else if (k->type == T_DURATION) {
            fprintf(f, " (up to ");
            sk_option_print_duration(f, k->max);
            fprintf(f, "%s%s)", k->def ? ", default " : "", k->def ? k->def : "");
        } else if (k->type == T_POW2) {
            fprintf(f, " (a power of two from ");
            sk_option_print_size(f, k->min);
            fprintf(f, " to ");
            sk_option_print_size(f, k->max);
            fprintf(f, ", default %s)", k->def);
        } else if (k->def && *k->def && k->type != T_FLAG)
            fprintf(f, " (default %s)", k->def);
        fputc('\n', f);
    }
}
