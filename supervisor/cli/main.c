/*
 * main: the slotkeeper command line. Parses options into one struct, checks
 * which options each command accepts in one place, dispatches to cmd_<verb>,
 * and turns an operation's error record into one line on stderr and a
 * documented exit code (the table is sk_exit_code, exitcode.h):
 *
 *   0  success
 *   1  the operation failed (I/O error, missing file, ...)
 *   2  usage error (unknown command or option, bad value)
 *   3  damaged data: a corrupt manifest or a missing/damaged chunk (verify found damage)
 *   4  the repository is locked by another slotkeeper process (see --lock-wait)
 *   5  the data-dir is in use (a live process holds its state lock, or another restore runs)
 *   6  out of space (ENOSPC, EDQUOT, or the free-space check before a restore)
 *   7  the data-dir is not clean: its state's dirty flag is set, or a restore into it is unfinished
 *   8  incompatible: the snapshot's state environment differs from --reference's, or its chain from the slot's
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "option.h"
#include "slotkeeper/config.h"
#include "slotkeeper/datadir.h"
#include "slotkeeper/error.h"
#include "slotkeeper/inclist.h"
#include "slotkeeper/export.h"
#include "slotkeeper/import.h"
#include "run.h"
#include "slotkeeper/fsutil.h"
#include "slotkeeper/chainid.h"
#include "slotkeeper/log.h"
#include "slotkeeper/paths.h"
#include "slotkeeper/pool.h"
#include "slotkeeper/notice.h"
#include "slotkeeper/progress.h"
#include "slotkeeper/prune.h"
#include "slotkeeper/repo.h"
#include "slotkeeper/restore.h"
#include "slotkeeper/snapshot.h"
#include "slotkeeper/verify.h"

#define SK_VERSION "0.1.0"

/* getopt's view of the option table (option.h), filled once by main. */
static struct option long_opts[O_COUNT + 1];
static char short_opts[16] = ":";

static void build_long_opts(void)
{
    size_t n = 0, ns = 1;
    for (size_t i = 0; i < sk_noptions; i++) {
        const sk_option_t *k = &sk_options[i];
        if (!k->flag)
            continue;
        long_opts[n++] = (struct option){k->flag, k->type == T_FLAG ? no_argument : required_argument, NULL, k->id};
        if (k->short_flag && ns + 2 < sizeof(short_opts)) {
            short_opts[ns++] = k->short_flag;
            if (k->type != T_FLAG)
                short_opts[ns++] = ':';
        }
    }
}

/* The short option of ch ('c' for -c), as its enum sk_opt_id, or ch itself. */
static int short_to_id(int ch)
{
    for (size_t i = 0; i < sk_noptions; i++)
        if (sk_options[i].flag && sk_options[i].short_flag && sk_options[i].short_flag == ch)
            return sk_options[i].id;
    return ch;
}

struct command {
    const char *name;
    int (*run)(struct options *o);
    uint64_t allowed;  /* bit per opt_id */
    uint64_t required; /* bit per opt_id */
    int min_args, max_args;
    const char *usage;
};

#define B(x)   (1ull << (x))
#define COMMON (B(O_HELP) | B(O_QUIET))

/* The configuration given with -c, for the command's whole run. */

static const struct command commands[] = {
    {"repo init", cmd_repo_init, COMMON | B(O_REPO) | B(O_CHUNK_SIZE) | B(O_LOG_CHUNK_SIZE) | B(O_LEVEL) | B(O_GOLDEN),
     0, 0, 1,
     "usage: slotkeeper repo init REPO [--chunk-size SIZE] [--log-chunk-size SIZE] [--level N] [--golden]\n"
     "\n"
     "Creates an empty repository in REPO (a missing or empty folder). Chunk sizes are powers\n"
     "of two from 4KiB to 64MiB, fixed for the life of the repository. With --golden it keeps\n"
     "a golden copy (see 'slotkeeper repo golden --help').\n"},
    {"repo golden", cmd_repo_golden, COMMON | B(O_REPO) | B(O_LOCK_WAIT) | B(O_NO_PROGRESS) | B(O_JSON), 0, 0, 2,
     "usage: slotkeeper repo golden REPO on|off|rebuild|verify|status [--json]\n"
     "\n"
     "The golden copy: REPO/golden/ holds the newest good snapshot materialised, verified, and\n"
     "updated after each snapshot by writing only the chunks that changed. A restore into a slot\n"
     "on the same file system, where it can clone (XFS reflink=1, btrfs), clones its files\n"
     "instead of writing chunks. 'on' records it in REPO/config and builds it; 'off' removes it;\n"
     "'rebuild' makes it again from the chunks; 'verify' re-hashes it (a damaged copy is marked,\n"
     "never cloned from, and rebuilt; exit 3); 'status' (the default) says what it holds.\n"},
    {"snapshot", cmd_snapshot,
     COMMON | B(O_REPO) | B(O_DATA_DIR) | B(O_INCLUDE) | B(O_LEVEL) | B(O_THREADS) | B(O_LOCK_WAIT) | B(O_NO_PROGRESS) |
         B(O_CONFIG) | B(O_JSON) | B(O_FULL_REREAD) | B(O_NO_FREEZE) | B(O_AFTER_FREEZE),
     B(O_REPO) | B(O_DATA_DIR), 0, 0,
     "usage: slotkeeper snapshot --data-dir DIR --repo REPO [--include blocks,state] [options]\n"
     "\n"
     "Snapshots the named sub-folders of a stopped node's data-dir into the repository and\n"
     "prints the new snapshot id on stdout (with --json, one JSON object). Chunks the repository\n"
     "already holds are not written again; holes and all-zero chunks are not stored. The\n"
     "unchanged prefix of files nodeos only appends to is taken from the previous snapshot\n"
     "without reading it (see README, incremental snapshots); --full-reread reads everything.\n"
     "Where the file system clones (XFS reflink=1, btrfs), the folders are cloned first and\n"
     "the data-dir is free again at once (--after-freeze CMD restarts the node then); the\n"
     "clone is read and removed.\n"},
    {"restore", cmd_restore,
     COMMON | B(O_REPO) | B(O_DATA_DIR) | B(O_SNAPSHOT) | B(O_THREADS) | B(O_LOCK_WAIT) | B(O_QUARANTINE) |
         B(O_KEEP_QUARANTINE) | B(O_NO_PROGRESS) | B(O_REFERENCE) | B(O_CONFIG) | B(O_SLOT) | B(O_CHAIN_ID) |
         B(O_FORCE_CHAIN) | B(O_FULL) | B(O_JSON),
     B(O_REPO) | B(O_DATA_DIR), 0, 0,
     "usage: slotkeeper restore --snapshot ID|latest --data-dir DIR --repo REPO [options]\n"
     "       slotkeeper restore --slot N [-c FILE] [options]\n"
     "\n"
     "Makes the snapshot's folders (e.g. blocks/ and state/) in DIR the snapshot;\n"
     "everything else in DIR stays. DIR may be missing or empty. Refuses while a live\n"
     "process holds DIR's state lock. By default only the chunks that differ are written\n"
     "(a delta restore), and what they overwrite is kept in DIR/.slotkeeper/quarantine/\n"
     "(see its index); --full rewrites everything and keeps the replaced folders whole.\n"
     "Run it again if it was interrupted.\n"},
    {"list", cmd_list, COMMON | B(O_REPO) | B(O_JSON) | B(O_LOCK_WAIT) | B(O_CONFIG), B(O_REPO), 0, 0,
     "usage: slotkeeper list --repo REPO [--json]\n"
     "\n"
     "Lists the snapshots, oldest first: id, time, files, logical size, stored size\n"
     "(compressed bytes of the chunks it references), new bytes (what it added), status.\n"},
    {"verify", cmd_verify,
     COMMON | B(O_REPO) | B(O_JSON) | B(O_ALL) | B(O_THREADS) | B(O_LOCK_WAIT) | B(O_NO_PROGRESS) | B(O_CONFIG),
     B(O_REPO), 0, 64,
     "usage: slotkeeper verify [ID...|latest|--all] --repo REPO [--json]\n"
     "\n"
     "Reads and decompresses every chunk the snapshots reference and checks every hash.\n"
     "A snapshot that fails is marked bad (never restored again) and its damaged chunks and\n"
     "files are named. Exits 3 if any snapshot is bad. Without ID, checks the newest one;\n"
     "'latest' is the one restore and export take: the newest good one (highest head block).\n"},
    {"sync", cmd_sync,
     COMMON | B(O_REPO) | B(O_FROM) | B(O_SNAPSHOT) | B(O_ALL) | B(O_THREADS) | B(O_LOCK_WAIT) | B(O_NO_PROGRESS) |
         B(O_CONFIG) | B(O_JSON),
     B(O_REPO) | B(O_FROM), 0, 0,
     "usage: slotkeeper sync --from URL --repo REPO [--snapshot ID | --all] [options]\n"
     "\n"
     "Copies the newest good snapshot of the upstream repository URL (s3://BUCKET/PREFIX, or\n"
     "a folder), or the one named, or with --all every good one, into REPO, a follower's\n"
     "local repository: the chunks REPO lacks are read and checked against their hash, then\n"
     "the manifest is published last. A snapshot REPO already has is skipped, so an\n"
     "interrupted sync resumes. An upstream chunk that fails its hash is never stored: that\n"
     "snapshot is not published locally (exit 3). Prints the snapshot id on stdout.\n"},
    {"prune", cmd_prune, COMMON | B(O_REPO) | B(O_KEEP_LAST) | B(O_LOCK_WAIT) | B(O_CONFIG) | B(O_JSON),
     B(O_REPO) | B(O_KEEP_LAST), 0, 0,
     "usage: slotkeeper prune --keep-last N --repo REPO\n"
     "\n"
     "Keeps the newest N good snapshots (N >= 1; the newest good one is never removed),\n"
     "removes the others (bad ones included), then every chunk nothing references.\n"
     "Takes the repository's exclusive lock.\n"},
    {"export", cmd_export,
     COMMON | B(O_REPO) | B(O_OUTPUT) | B(O_LEVEL) | B(O_THREADS) | B(O_LOCK_WAIT) | B(O_NO_PROGRESS) | B(O_CONFIG),
     B(O_REPO) | B(O_OUTPUT), 1, 1,
     "usage: slotkeeper export ID|latest -o FILE.tar.zst --repo REPO [options]\n"
     "\n"
     "Writes a snapshot as a standard pax tar compressed with zstd, sparse files recorded as\n"
     "sparse and the manifest inside as " SK_EXPORT_MANIFEST_NAME ". A host without slotkeeper\n"
     "restores it with: tar --zstd -xf FILE.tar.zst -C DATA_DIR. Every chunk is checked on\n"
     "the way; memory does not grow with the snapshot. The file appears only when complete.\n"},
    {"import", cmd_import, COMMON | B(O_REPO) | B(O_THREADS) | B(O_LOCK_WAIT) | B(O_NO_PROGRESS) | B(O_CONFIG),
     B(O_REPO), 1, 1,
     "usage: slotkeeper import FILE|- --repo REPO [options]\n"
     "\n"
     "Adds a snapshot from a tar archive (.tar, .tar.gz, .tar.zst; - reads stdin). An archive\n"
     "made by 'slotkeeper export' is checked file by file and chunk by chunk against the\n"
     "manifest inside; one without a manifest (a plain blocks/ + state/ tarball, or one top\n"
     "folder holding them: tar -C /srv/eos -czf x.tar.gz archive) is imported when 'check'\n"
     "says the data-dir it holds is clean. Hostile archives are refused (exit 3):\n"
     "absolute paths, '..', hard links, links leaving their folder, devices, fifos, truncated\n"
     "streams, manifests that do not match; nothing is left behind. Prints the new id.\n"},
    {"run", cmd_run,
     COMMON | B(O_REPO) | B(O_DATA_DIR) | B(O_SLOT) | B(O_CONFIG) | B(O_TRIES) | B(O_STARTUP_GRACE) | B(O_LOCK_WAIT),
     B(O_DATA_DIR), 1, 4096,
     "usage: slotkeeper run --slot N -c FILE -- nodeos ARGS...\n"
     "       slotkeeper run --slot N --data-dir DIR -c FILE -- nodeos ARGS...   (in a container)\n"
     "       slotkeeper run --data-dir DIR [--repo REPO] -- nodeos ARGS...\n"
     "\n"
     "The entrypoint of a worker (a Docker Swarm task, a systemd unit per slot). Checks the\n"
     "data-dir; if nodeos would refuse it (dirty, corrupt, incompatible, missing, an unfinished\n"
     "restore), has the newest good snapshot restored first: with --slot and -c, by the host\n"
     "daemon when one listens on [daemon] control_socket (one restore at a time on the host),\n"
     "otherwise directly from the repository. A data-dir in use by a live process is\n"
     "an error (exit 5). Then runs the node as its child, stdout/stderr passed through,\n"
     "forwards SIGTERM, SIGINT and SIGHUP, and exits with the node's own exit code (128+signal\n"
     "if it was killed). A node that fails at startup on corrupted state is restored and\n"
     "started again, at most --tries starts in all; then run exits with the node's code.\n"},
    {"daemon", cmd_daemon, COMMON | B(O_CONFIG), 0, 0, 0,
     "usage: slotkeeper daemon [-c FILE]\n"
     "\n"
     "Supervises this host's nodes in the foreground: the archival node (stopped, snapshotted\n"
     "and restarted every [archive] snapshot_interval) and the worker slots (restarted after a\n"
     "crash, restored from the newest good snapshot when they cannot start on their data).\n"
     "Serves the control socket that status, snapshot -c, restore --slot, stop, start and\n"
     "reset use. SIGHUP reloads the configuration; SIGTERM or SIGINT stops every node cleanly,\n"
     "then exits 0. Nodes survive a crash of the daemon; the next daemon adopts them.\n"},
    {"status", cmd_status, COMMON | B(O_CONFIG) | B(O_JSON), 0, 0, 0,
     "usage: slotkeeper status [-c FILE] [--json]\n"
     "\n"
     "Asks the daemon for every slot's state, pid, uptime, head block, restarts, restores and\n"
     "last failure, the archival node's, and the last snapshot cycles.\n"},
    {"stop", cmd_stop, COMMON | B(O_CONFIG) | B(O_SLOT), B(O_SLOT), 0, 0,
     "usage: slotkeeper stop --slot N [-c FILE]\n"
     "\n"
     "Asks the daemon to stop slot N's node cleanly (SIGTERM, then SIGKILL after [workers]\n"
     "stop_timeout) and keep it stopped until `slotkeeper start --slot N`. Waits for it.\n"},
    {"start", cmd_start, COMMON | B(O_CONFIG) | B(O_SLOT), B(O_SLOT), 0, 0,
     "usage: slotkeeper start --slot N [-c FILE]\n"
     "\n"
     "Asks the daemon to check slot N's data-dir (restoring it if it needs it) and start its\n"
     "node. Waits until the node's process is started (state starting; `slotkeeper status`\n"
     "shows when it answers and is running), or says why it did not start.\n"},
    {"reset", cmd_reset, COMMON | B(O_CONFIG) | B(O_SLOT), B(O_SLOT), 0, 0,
     "usage: slotkeeper reset --slot N [-c FILE]\n"
     "\n"
     "Clears slot N's failure, restore budget and back-off in the daemon and starts it again:\n"
     "what an operator runs once a slot in `failed` has been looked at.\n"},
    {"log-writer", cmd_log_writer, COMMON, 0, 3, 3,
     "usage: slotkeeper log-writer FILE MAX_SIZE KEEP\n"
     "\n"
     "Internal: the daemon runs one per node. Appends standard input to FILE, rotating it at\n"
     "MAX_SIZE and keeping KEEP old files, until end of input.\n"},
    {"config check", cmd_config_check, COMMON | B(O_CONFIG), B(O_CONFIG), 0, 0,
     "usage: slotkeeper config check -c FILE\n"
     "\n"
     "Reads the configuration file, checks every key (type, bounds, required keys, templates),\n"
     "and prints the effective configuration, defaults included, with each key's\n"
     "documentation. A bad file gets one line 'FILE: line N: [section] key: reason' and exit 2\n"
     "(a file that cannot be read: exit 1).\n"
     "etc/slotkeeper.conf documents every key.\n"},
    {"check", cmd_check, COMMON | B(O_JSON) | B(O_DEEP) | B(O_REFERENCE), 0, 1, 1,
     "usage: slotkeeper check DATA_DIR [--json] [--deep] [--reference FILE]\n"
     "\n"
     "Diagnoses a nodeos data-dir without starting nodeos: reads the state header, the\n"
     "block log's preamble and tail and the index's ends (milliseconds on any size), and\n"
     "prints a verdict with the facts behind it. The exit code is the verdict's:\n"
     "   0 clean         nodeos would start\n"
     "  10 running       a live process holds the state file's lock (its pid is shown)\n"
     "  11 dirty         the state's dirty flag is set (unclean shutdown, kill, OOM)\n"
     "  12 incompatible  unknown state header, or an environment other than --reference's\n"
     "  13 corrupt       block log or index damaged, fork database missing, bad state size\n"
     "  14 missing       no state file or no block log\n"
     "  15 restoring     a slotkeeper restore into it is unfinished\n"
     "  (1: the data-dir could not be read; 2: usage error)\n"},
};

static const char main_usage[] =
    "usage: slotkeeper <command> [options]\n"
    "\n"
    "Snapshots and restores EOSIO/Antelope nodeos data-dirs.\n"
    "\n"
    "commands:\n"
    "  repo init REPO        create a repository\n"
    "  snapshot              snapshot a stopped node's data-dir\n"
    "  restore               restore a snapshot into a slot's data-dir\n"
    "  list                  list snapshots\n"
    "  verify                check snapshots chunk by chunk\n"
    "  sync --from URL       copy the newest snapshot of an upstream repository into REPO\n"
    "  prune                 remove old snapshots and unreferenced chunks\n"
    "  check DATA_DIR        diagnose a data-dir without starting nodeos\n"
    "  config check -c FILE  check a configuration file and print it with its defaults\n"
    "  export ID -o FILE     write a snapshot as a portable .tar.zst\n"
    "  import FILE           add a snapshot from a .tar.zst (or .tar, .tar.gz)\n"
    "  run -- nodeos ...     a worker's entrypoint: check, restore if needed, run, forward signals\n"
    "  daemon                supervise the archival node and the worker slots (-c FILE)\n"
    "  status                the daemon's view of every slot and the last snapshot cycles\n"
    "  stop|start|reset      --slot N: stop, start, or clear the failure of a slot, via the daemon\n"
    "\n"
    "'slotkeeper <command> --help' describes each command's options.\n"
    "exit codes: 0 ok, 1 failed, 2 usage, 3 damaged data, 4 repository locked,\n"
    "            5 data-dir in use, 6 out of space, 7 data-dir not clean, 8 incompatible\n";

/* Fills what the command line left out from the configuration file given with -c. */
static int apply_config(const struct command *c, struct options *o)
{
    sk_err_t err;
    sk_err_clear(&err);
    if (sk_config_load(o->config, &cli_the_config, &err) < 0)
        return cli_config_error(&err);
    cli_the_config_loaded = true;
    sk_config_t *cf = &cli_the_config;
    if (!o->given[O_REPO] && (c->allowed & B(O_REPO))) {
        o->repo = cf->repo_path;
        o->given[O_REPO] = true;
    }
    if (!o->given[O_LOCK_WAIT])
        o->lock_wait_ms = cf->lock_wait_ms;
    if (!o->given[O_THREADS])
        o->threads = (int)cf->threads;
    if (c->run == cmd_snapshot) {
        if (!o->given[O_DATA_DIR] && *cf->archive_data_dir) {
            o->data_dir = cf->archive_data_dir;
            o->given[O_DATA_DIR] = true;
        }
        if (!o->given[O_LEVEL])
            o->level = (int)cf->level;
        o->full_reread_every = cf->full_reread_every;
        if (cf->archive_freeze == 1)
            o->no_freeze = true;
        if (!o->given[O_INCLUDE]) {
            /* The loader checked it against the same table: only out of memory can fail. */
            sk_err_t e;
            sk_err_clear(&e);
            int n = sk_include_parse(cf->archive_include, &o->include, &o->ninclude, &e);
            if (n < 0) {
                log_errorx("%s: [archive] include: %s", o->config, e.msg);
                return n == -ENOMEM ? SK_EXIT_FAIL : SK_EXIT_USAGE;
            }
        }
    }
    if (c->run == cmd_run && !o->given[O_STARTUP_GRACE])
        o->startup_grace_ms = cf->startup_grace_ms;
    if (c->run == cmd_restore || c->run == cmd_run) {
        if (o->given[O_SLOT] && o->given[O_DATA_DIR] && c->run == cmd_run) {
            /* In a container: --data-dir is the slot's folder as mounted here, --slot (or
             * SLOTKEEPER_SLOT) names it to the host daemon. */
            if (o->slot > cf->slots) {
                log_errorx("%s: --slot %u: the configuration has %u slot(s)", o->config, o->slot, cf->slots);
                return SK_EXIT_USAGE;
            }
        } else if (o->given[O_SLOT]) {
            if (o->given[O_DATA_DIR])
                return cli_usage_error("give --slot or --data-dir, not both");
            if (o->slot > cf->slots) {
                log_errorx("%s: --slot %u: the configuration has %u slot(s)", o->config, o->slot, cf->slots);
                return SK_EXIT_USAGE;
            }
            if (sk_config_expand(cf, cf->worker_data_dir, o->slot, o->slot_dir, sizeof(o->slot_dir)) < 0)
                return cli_usage_error("--slot: the data-dir path is too long");
            o->data_dir = o->slot_dir;
            o->given[O_DATA_DIR] = true;
        }
        if (c->run == cmd_run)
            return 0;
        if (!o->given[O_QUARANTINE])
            o->quarantine_delete = cf->quarantine == 1;
        if (!o->given[O_KEEP_QUARANTINE]) {
            o->keep_quarantine = cf->quarantine_keep;
            o->given[O_KEEP_QUARANTINE] = true;
        }
    }
    if (c->run == cmd_prune && !o->given[O_KEEP_LAST]) {
        o->keep_last = cf->keep_last;
        o->given[O_KEEP_LAST] = true;
    }
    return 0;
}

/* Not an exit code: parse_options's result when it printed --help (main then exits 0). */
enum { HELP_SHOWN = -1 };

/* The default of a command-line option as the table gives it (the same as its key's). */
static uint64_t table_default(int id)
{
    const sk_option_t *k = sk_option_by_id(id);
    sk_optval_t v;
    char why[128];
    return k && k->def && sk_option_parse(k, k->def, false, &v, why, sizeof(why)) == 0 ? v.n : 0;
}

static int parse_options(const struct command *c, int argc, char **argv, struct options *o)
{
    o->progress = true;
    o->lock_wait_ms = table_default(O_LOCK_WAIT);
    o->keep_quarantine = (unsigned)table_default(O_KEEP_QUARANTINE);
    {
        /* [archive] full_reread_every's default, also without -c */
        const sk_option_t *k = sk_option_by_key("archive", "full_reread_every");
        sk_optval_t v;
        char why[128];
        o->full_reread_every = k && sk_option_parse(k, k->def, true, &v, why, sizeof(why)) == 0 ? (unsigned)v.n : 0;
    }
    optind = 1;
    opterr = 0;
    int ch;
    while ((ch = getopt_long(argc, argv, short_opts, long_opts, NULL)) != -1) {
        ch = short_to_id(ch);
        if (ch == '?')
            return cli_usage_error("unknown option '%s'", argv[optind - 1]);
        if (ch == ':')
            return cli_usage_error("option '%s' needs a value", argv[optind - 1]);
        const sk_option_t *k = sk_option_by_id(ch);
        if (!k)
            return cli_usage_error("unknown option '%s'", argv[optind - 1]);
        if (!(c->allowed & B(ch)))
            return cli_usage_error("option '--%s' does not apply to '%s'", k->flag, c->name);
        /* Every value is checked against the table, with the bounds its configuration key has. */
        sk_optval_t v = {0, optarg};
        char why[512];
        if (k->type != T_FLAG && sk_option_parse(k, optarg, false, &v, why, sizeof(why)) < 0)
            return cli_usage_error("--%s: %s", k->flag, why);
        o->given[ch] = true;
        switch (ch) {
        case O_REPO:
            o->repo = optarg;
            break;
        case O_DATA_DIR:
            o->data_dir = optarg;
            break;
        case O_SNAPSHOT:
            o->snapshot = optarg;
            break;
        case O_INCLUDE: {
            sk_include_free(o->include, o->ninclude);
            o->include = NULL;
            o->ninclude = 0;
            sk_err_t e;
            sk_err_clear(&e);
            int n = sk_include_parse(optarg, &o->include, &o->ninclude, &e);
            if (n == -ENOMEM)
                return SK_EXIT_FAIL;
            if (n < 0)
                return cli_usage_error("--include: %s", e.msg);
            break;
        }
        case O_LEVEL:
            o->level = (int)v.n;
            break;
        case O_THREADS:
            o->threads = (int)v.n;
            break;
        case O_LOCK_WAIT:
            o->lock_wait_ms = v.n;
            break;
        case O_CHUNK_SIZE:
            o->chunk_size = v.n;
            break;
        case O_LOG_CHUNK_SIZE:
            o->log_chunk_size = v.n;
            break;
        case O_QUARANTINE:
            o->quarantine_delete = v.n == 1;
            break;
        case O_KEEP_QUARANTINE:
            o->keep_quarantine = (unsigned)v.n;
            break;
        case O_KEEP_LAST:
            o->keep_last = (unsigned)v.n;
            break;
        case O_JSON:
            o->json = true;
            break;
        case O_ALL:
            o->all = true;
            break;
        case O_NO_PROGRESS:
            o->progress = false;
            break;
        case O_QUIET:
            o->quiet = true;
            break;
        case O_DEEP:
            o->deep = true;
            break;
        case O_FULL_REREAD:
            o->full_reread = true;
            break;
        case O_REFERENCE:
            o->reference = optarg;
            break;
        case O_CHAIN_ID:
            o->chain_id = optarg;
            break;
        case O_FORCE_CHAIN:
            o->force_chain = true;
            break;
        case O_NO_FREEZE:
            o->no_freeze = true;
            break;
        case O_AFTER_FREEZE:
            o->after_freeze = optarg;
            break;
        case O_FULL:
            o->full = true;
            break;
        case O_GOLDEN:
            o->golden = true;
            break;
        case O_CONFIG:
            o->config = optarg;
            break;
        case O_TRIES:
            o->tries = (unsigned)v.n;
            break;
        case O_STARTUP_GRACE:
            o->startup_grace_ms = v.n;
            break;
        case O_OUTPUT:
            o->output = optarg;
            break;
        case O_FROM:
            o->from = optarg;
            break;
        case O_SLOT:
            o->slot = (unsigned)v.n;
            break;
        case O_HELP:
            break;
        }
    }
    if (o->given[O_HELP]) {
        fputs(c->usage, stdout);
        fputs("\noptions:\n", stdout);
        sk_option_print_help(c->allowed, stdout);
        return HELP_SHOWN;
    }
    o->args = argv + optind;
    o->nargs = argc - optind;
    /* Docker Swarm templates only env, mounts and hostname, not the command: take the slot from
     * SLOTKEEPER_SLOT={{.Task.Slot}} when --slot is not given. */
    const char *env_slot = getenv("SLOTKEEPER_SLOT");
    if (c->run == cmd_run && !o->given[O_SLOT] && (!o->given[O_DATA_DIR] || o->config) && env_slot && *env_slot) {
        sk_optval_t v;
        char why[256];
        if (sk_option_parse(sk_option_by_id(O_SLOT), env_slot, false, &v, why, sizeof(why)) < 0)
            return cli_usage_error("SLOTKEEPER_SLOT: %s", why);
        o->slot = (unsigned)v.n;
        o->given[O_SLOT] = true;
    }
    o->explicit_repo = o->given[O_REPO];
    o->explicit_data_dir = o->given[O_DATA_DIR];
    /* The daemon's commands, and restore --slot and run --slot (the slots' data-dirs are in the
     * configuration), read the default configuration file when -c is not given. */
    if (!o->config && (c->run == cmd_daemon || c->run == cmd_status || c->run == cmd_stop || c->run == cmd_start ||
                       c->run == cmd_reset || ((c->run == cmd_restore || c->run == cmd_run) && o->given[O_SLOT])))
        o->config = SK_CONFIG_DEFAULT_PATH;
    if (o->config && c->run != cmd_config_check) {
        int rc = apply_config(c, o);
        if (rc)
            return rc;
    }
    if (o->given[O_SLOT] && !o->config)
        return cli_usage_error("--slot needs -c FILE (the slots' data-dirs are in the configuration)");
    if (o->nargs < c->min_args || o->nargs > c->max_args)
        return cli_usage_error(o->nargs > c->max_args ? "unexpected argument '%s'" : "missing argument%s",
                               o->nargs > c->max_args ? argv[optind + c->max_args] : "");
    for (int i = 0; i < O_COUNT; i++)
        if ((c->required & B(i)) && !o->given[i])
            return cli_usage_error("missing --%s", sk_option_by_id(i)->flag);
    return 0;
}

/* The library's notices (slotkeeper/notice.h) go to the log at their level. */
static void on_notice(enum sk_notice_level level, const char *msg)
{
    if (level == SK_NOTICE_WARN)
        log_warnx("%s", msg);
    else if (level == SK_NOTICE_INFO)
        log_info("%s", msg);
    else
        log_debug("%s", msg);
}

static void on_signal(int sig)
{
    (void)sig;
    sk_cancel_request();
}

int main(int argc, char **argv)
{
    build_long_opts();
    log_init("slotkeeper", NULL, SK_LOG_INFO);
    sk_set_notice(on_notice);
    if (argc < 2) {
        fputs(main_usage, stderr);
        return SK_EXIT_USAGE;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        fputs(main_usage, stdout);
        return SK_EXIT_OK;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("slotkeeper %s\n", SK_VERSION);
        return SK_EXIT_OK;
    }
    const struct command *c = NULL;
    int skip = 1;
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
        const char *name = commands[i].name;
        const char *sp = strchr(name, ' ');
        if (sp) {
            size_t n = (size_t)(sp - name);
            if (argc >= 3 && strlen(argv[1]) == n && !strncmp(argv[1], name, n) && !strcmp(argv[2], sp + 1)) {
                c = &commands[i];
                skip = 2;
            }
        } else if (!strcmp(argv[1], name)) {
            c = &commands[i];
        }
    }
    if (!c) {
        /* The first word of a two-word command ("config", "repo"): its usage, on stdout with
         * --help, on stderr (exit 2) otherwise. */
        for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
            const char *name = commands[i].name, *sp = strchr(name, ' ');
            if (!sp || strlen(argv[1]) != (size_t)(sp - name) || strncmp(argv[1], name, (size_t)(sp - name)))
                continue;
            if (argc >= 3 && (!strcmp(argv[2], "--help") || !strcmp(argv[2], "-h"))) {
                fputs(commands[i].usage, stdout);
                fputs("\noptions:\n", stdout);
                sk_option_print_help(commands[i].allowed, stdout);
                return SK_EXIT_OK;
            }
            const char *u = commands[i].usage;
            if (argc >= 3)
                log_errorx("unknown command '%s %s'; %.*s (see 'slotkeeper %s --help')", argv[1], argv[2],
                           (int)strcspn(u, "\n"), u, argv[1]);
            else
                log_errorx("%.*s (see 'slotkeeper %s --help')", (int)strcspn(u, "\n"), u, argv[1]);
            return SK_EXIT_USAGE;
        }
        log_errorx("unknown command '%s' (see 'slotkeeper --help')", argv[1]);
        return SK_EXIT_USAGE;
    }
    log_set_command(c->name);
    cli_command = c->name;

    /* Many files may be open at once during a snapshot. */
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    struct sigaction sa = {.sa_handler = on_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    signal(SIGXFSZ, SIG_IGN); /* a file-size limit shows up as EFBIG, handled like a full disk */

    struct options o = {0};
    int rc = parse_options(c, argc - skip, argv + skip, &o);
    if (rc == 0)
        rc = c->run(&o);
    else if (rc == HELP_SHOWN)
        rc = SK_EXIT_OK;
    sk_include_free(o.include, o.ninclude);
    if (cli_the_config_loaded)
        sk_config_free(&cli_the_config);
    if (fflush(stdout) != 0 && rc == 0)
        rc = SK_EXIT_FAIL;
    return rc;
}
