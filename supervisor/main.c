/*
 * main: the slotkeeper command line. Parses options into one struct, checks
 * which options each command accepts in one place, dispatches to cmd_<verb>,
 * and turns an operation's error record into one line on stderr and a
 * documented exit code:
 *
 *   0  success
 *   1  the operation failed (I/O error, missing file, ...)
 *   2  usage error (unknown command or option, bad value)
 *   3  damaged data: a corrupt manifest or a missing/damaged chunk (verify found damage)
 *   4  the repository is locked by another slotkeeper process (see --lock-wait)
 *   5  the data-dir is in use (a live process holds its state lock, or another restore runs)
 *   6  out of space (ENOSPC, EDQUOT, or the free-space check before a restore)
 *   7  the data-dir is not clean: its state's dirty flag is set, or a restore into it is unfinished
 *   8  incompatible: the snapshot's state environment differs from --reference's
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

#include "slotkeeper/config.h"
#include "slotkeeper/datadir.h"
#include "slotkeeper/error.h"
#include "slotkeeper/export.h"
#include "slotkeeper/import.h"
#include "slotkeeper/run.h"
#include "slotkeeper/fsutil.h"
#include "slotkeeper/log.h"
#include "slotkeeper/pool.h"
#include "slotkeeper/progress.h"
#include "slotkeeper/prune.h"
#include "slotkeeper/repo.h"
#include "slotkeeper/restore.h"
#include "slotkeeper/snapshot.h"
#include "slotkeeper/verify.h"

#define SK_VERSION "0.1.0"

enum {
    EXIT_OK = 0,
    EXIT_FAIL = 1,
    EXIT_USAGE = 2,
    EXIT_DAMAGED = 3,
    EXIT_BUSY = 4,
    EXIT_IN_USE = 5,
    EXIT_NOSPACE = 6,
    EXIT_NOT_CLEAN = 7,
    EXIT_INCOMPATIBLE = 8,
};

/* Options, as one struct; `given` remembers which were on the command line. */
enum opt_id {
    O_REPO,
    O_DATA_DIR,
    O_INCLUDE,
    O_LEVEL,
    O_THREADS,
    O_LOCK_WAIT,
    O_CHUNK_SIZE,
    O_LOG_CHUNK_SIZE,
    O_SNAPSHOT,
    O_QUARANTINE,
    O_KEEP_QUARANTINE,
    O_KEEP_LAST,
    O_JSON,
    O_ALL,
    O_NO_PROGRESS,
    O_QUIET,
    O_DEEP,
    O_REFERENCE,
    O_CONFIG,
    O_SLOT,
    O_OUTPUT,
    O_TRIES,
    O_STARTUP_GRACE,
    O_HELP,
    O_COUNT
};

struct options {
    bool given[O_COUNT];
    const char *repo, *data_dir, *snapshot;
    char *include_buf;
    const char *include[16];
    size_t ninclude;
    int level, threads;
    uint64_t lock_wait_ms, chunk_size, log_chunk_size;
    bool quarantine_delete;
    unsigned keep_quarantine, keep_last;
    bool json, all, progress, quiet, deep;
    const char *reference;
    const char *config;
    unsigned slot;
    char slot_dir[PATH_MAX];
    const char *output;
    unsigned tries;
    uint64_t startup_grace_ms;
    char **args;
    int nargs;
};

static const struct option long_opts[] = {
    {"repo", required_argument, NULL, O_REPO},
    {"data-dir", required_argument, NULL, O_DATA_DIR},
    {"include", required_argument, NULL, O_INCLUDE},
    {"level", required_argument, NULL, O_LEVEL},
    {"threads", required_argument, NULL, O_THREADS},
    {"lock-wait", required_argument, NULL, O_LOCK_WAIT},
    {"chunk-size", required_argument, NULL, O_CHUNK_SIZE},
    {"log-chunk-size", required_argument, NULL, O_LOG_CHUNK_SIZE},
    {"snapshot", required_argument, NULL, O_SNAPSHOT},
    {"quarantine", required_argument, NULL, O_QUARANTINE},
    {"keep-quarantine", required_argument, NULL, O_KEEP_QUARANTINE},
    {"keep-last", required_argument, NULL, O_KEEP_LAST},
    {"json", no_argument, NULL, O_JSON},
    {"all", no_argument, NULL, O_ALL},
    {"no-progress", no_argument, NULL, O_NO_PROGRESS},
    {"quiet", no_argument, NULL, O_QUIET},
    {"deep", no_argument, NULL, O_DEEP},
    {"reference", required_argument, NULL, O_REFERENCE},
    {"config", required_argument, NULL, O_CONFIG},
    {"slot", required_argument, NULL, O_SLOT},
    {"output", required_argument, NULL, O_OUTPUT},
    {"tries", required_argument, NULL, O_TRIES},
    {"startup-grace", required_argument, NULL, O_STARTUP_GRACE},
    {"help", no_argument, NULL, O_HELP},
    {NULL, 0, NULL, 0},
};

struct command {
    const char *name;
    int (*run)(struct options *o);
    uint32_t allowed;  /* bit per opt_id */
    uint32_t required; /* bit per opt_id */
    int min_args, max_args;
    const char *usage;
};

#define B(x)   (1u << (x))
#define COMMON (B(O_HELP) | B(O_QUIET))

static int cmd_repo_init(struct options *o);
static int cmd_snapshot(struct options *o);
static int cmd_restore(struct options *o);
static int cmd_list(struct options *o);
static int cmd_verify(struct options *o);
static int cmd_prune(struct options *o);
static int cmd_check(struct options *o);
static int cmd_config_check(struct options *o);
static int cmd_export(struct options *o);
static int cmd_import(struct options *o);
static int cmd_run(struct options *o);

/* The configuration given with -c, for the command's whole run. */
static sk_config_t the_config;
static bool the_config_loaded;

static const struct command commands[] = {
    {"repo init", cmd_repo_init, COMMON | B(O_REPO) | B(O_CHUNK_SIZE) | B(O_LOG_CHUNK_SIZE) | B(O_LEVEL), 0, 0, 1,
     "usage: slotkeeper repo init REPO [--chunk-size SIZE] [--log-chunk-size SIZE] [--level N]\n"
     "\n"
     "Creates an empty repository in REPO (a missing or empty folder). Chunk sizes are powers\n"
     "of two from 4KiB to 64MiB, fixed for the life of the repository.\n"
     "  --chunk-size SIZE      chunk size of files changed in place, such as\n"
     "                         state/shared_memory.bin (default 128KiB)\n"
     "  --log-chunk-size SIZE  chunk size of append-only files, names ending in .log or\n"
     "                         .index such as blocks/blocks.log (default 1MiB)\n"
     "  --level N              default zstd level for snapshots, 1..19 (default 3)\n"},
    {"snapshot", cmd_snapshot,
     COMMON | B(O_REPO) | B(O_DATA_DIR) | B(O_INCLUDE) | B(O_LEVEL) | B(O_THREADS) | B(O_LOCK_WAIT) | B(O_NO_PROGRESS) |
         B(O_CONFIG),
     B(O_REPO) | B(O_DATA_DIR), 0, 0,
     "usage: slotkeeper snapshot --data-dir DIR --repo REPO [--include blocks,state] [options]\n"
     "\n"
     "Snapshots the named sub-folders of a stopped node's data-dir into the repository and\n"
     "prints the new snapshot id on stdout. Chunks the repository already holds are not\n"
     "written again; holes and all-zero chunks are not stored.\n"
     "  --data-dir DIR     the node's data-dir (it must not be in use)\n"
     "  --repo REPO        the repository\n"
     "  --include LIST     comma-separated sub-folders (default blocks,state; a Dawn 3.0\n"
     "                     data-dir uses blocks,shared_mem)\n"
     "  --level N          zstd level 1..19 (default: the repository's)\n"
     "  --threads N        worker threads (default: one per CPU)\n"
     "  --lock-wait DUR    wait up to DUR (e.g. 30s, 5m) for the repository lock (default 60s)\n"
     "  --no-progress      no progress line even on a terminal\n"
     "  -c, --config FILE  take --repo, --data-dir ([archive] data_dir), --include and --level\n"
     "                     from the configuration when not given\n"},
    {"restore", cmd_restore,
     COMMON | B(O_REPO) | B(O_DATA_DIR) | B(O_SNAPSHOT) | B(O_THREADS) | B(O_LOCK_WAIT) | B(O_QUARANTINE) |
         B(O_KEEP_QUARANTINE) | B(O_NO_PROGRESS) | B(O_REFERENCE) | B(O_CONFIG) | B(O_SLOT),
     B(O_REPO) | B(O_DATA_DIR), 0, 0,
     "usage: slotkeeper restore --snapshot ID|latest --data-dir DIR --repo REPO [options]\n"
     "       slotkeeper restore --slot N -c FILE [options]\n"
     "\n"
     "Replaces the snapshot's folders (e.g. blocks/ and state/) in DIR with the snapshot;\n"
     "everything else in DIR stays. DIR may be missing or empty. Refuses while a live\n"
     "process holds DIR's state lock. The replaced folders are kept in\n"
     "DIR/.slotkeeper/quarantine/. Run it again if it was interrupted.\n"
     "  --snapshot ID      the snapshot to restore, or 'latest' (the default): the newest good one\n"
     "  --data-dir DIR     the slot's data-dir\n"
     "  --repo REPO        the repository\n"
     "  --quarantine keep|delete\n"
     "                     keep the replaced folders (default) or delete them when done\n"
     "  --keep-quarantine K  replaced copies to keep per slot (default 1)\n"
     "  -c, --config FILE  take --repo and the quarantine policy from the configuration\n"
     "  --slot N           with -c: the data-dir of worker slot N ([workers] data_dir)\n"
     "  --reference FILE   a state file or snapshot manifest from the slot's nodeos build: only a\n"
     "                     snapshot whose state environment (OS, arch, Boost, compiler) matches\n"
     "                     it is restored ('latest' picks the newest such one; exit 8 otherwise)\n"
     "  --threads N        worker threads (default: one per CPU)\n"
     "  --lock-wait DUR    wait up to DUR for the repository lock (default 60s)\n"
     "  --no-progress      no progress line even on a terminal\n"},
    {"list", cmd_list, COMMON | B(O_REPO) | B(O_JSON) | B(O_LOCK_WAIT) | B(O_CONFIG), B(O_REPO), 0, 0,
     "usage: slotkeeper list --repo REPO [--json]\n"
     "\n"
     "Lists the snapshots, oldest first: id, time, files, logical size, stored size\n"
     "(compressed bytes of the chunks it references), new bytes (what it added), status.\n"
     "  --json             one JSON object with a \"snapshots\" array\n"
     "  --lock-wait DUR    wait up to DUR for the repository lock (default 60s)\n"
     "  -c, --config FILE  take --repo from the configuration\n"},
    {"verify", cmd_verify,
     COMMON | B(O_REPO) | B(O_JSON) | B(O_ALL) | B(O_THREADS) | B(O_LOCK_WAIT) | B(O_NO_PROGRESS) | B(O_CONFIG),
     B(O_REPO), 0, 64,
     "usage: slotkeeper verify [ID...|--all] --repo REPO [--json]\n"
     "\n"
     "Reads and decompresses every chunk the snapshots reference and checks every hash.\n"
     "A snapshot that fails is marked bad (never restored again) and its damaged chunks and\n"
     "files are named. Exits 3 if any snapshot is bad. Without ID, checks the newest one.\n"
     "  --all              every snapshot\n"
     "  --json             one JSON object with the results\n"
     "  --threads N        worker threads (default: one per CPU)\n"
     "  --lock-wait DUR    wait up to DUR for the repository lock (default 60s)\n"
     "  -c, --config FILE  take --repo from the configuration\n"},
    {"prune", cmd_prune, COMMON | B(O_REPO) | B(O_KEEP_LAST) | B(O_LOCK_WAIT) | B(O_CONFIG), B(O_REPO) | B(O_KEEP_LAST),
     0, 0,
     "usage: slotkeeper prune --keep-last N --repo REPO\n"
     "\n"
     "Keeps the newest N good snapshots (N >= 1; the newest good one is never removed),\n"
     "removes the others (bad ones included), then every chunk nothing references.\n"
     "Takes the repository's exclusive lock.\n"
     "  --keep-last N      snapshots to keep\n"
     "  --lock-wait DUR    wait up to DUR for the repository lock (default 60s)\n"
     "  -c, --config FILE  take --repo and --keep-last ([repository] keep_last) from the configuration\n"},
    {"export", cmd_export,
     COMMON | B(O_REPO) | B(O_OUTPUT) | B(O_LEVEL) | B(O_THREADS) | B(O_LOCK_WAIT) | B(O_NO_PROGRESS) | B(O_CONFIG),
     B(O_REPO) | B(O_OUTPUT), 1, 1,
     "usage: slotkeeper export ID|latest -o FILE.tar.zst --repo REPO [options]\n"
     "\n"
     "Writes a snapshot as a standard pax tar compressed with zstd, sparse files recorded as\n"
     "sparse and the manifest inside as " SK_EXPORT_MANIFEST_NAME ". A host without slotkeeper\n"
     "restores it with: tar --zstd -xf FILE.tar.zst -C DATA_DIR. Every chunk is checked on\n"
     "the way; memory does not grow with the snapshot. The file appears only when complete.\n"
     "  -o, --output FILE  the archive to write, or - for stdout\n"
     "  --repo REPO        the repository (or -c FILE)\n"
     "  --level N          zstd level 1..19 (default: the repository's)\n"
     "  --threads N        zstd threads (default: one per CPU)\n"
     "  --lock-wait DUR    wait up to DUR for the repository lock (default 60s)\n"
     "  --no-progress      no progress line even on a terminal\n"
     "  -c, --config FILE  take --repo from the configuration\n"},
    {"import", cmd_import, COMMON | B(O_REPO) | B(O_THREADS) | B(O_LOCK_WAIT) | B(O_NO_PROGRESS) | B(O_CONFIG),
     B(O_REPO), 1, 1,
     "usage: slotkeeper import FILE|- --repo REPO [options]\n"
     "\n"
     "Adds a snapshot from a tar archive (.tar, .tar.gz, .tar.zst; - reads stdin). An archive\n"
     "made by 'slotkeeper export' is checked file by file and chunk by chunk against the\n"
     "manifest inside; one without a manifest (a plain blocks/ + state/ tarball) is imported\n"
     "when 'check' says the data-dir it holds is clean. Hostile archives are refused (exit 3):\n"
     "absolute paths, '..', hard links, links leaving their folder, devices, fifos, truncated\n"
     "streams, manifests that do not match; nothing is left behind. Prints the new id.\n"
     "  --repo REPO        the repository (or -c FILE)\n"
     "  --threads N        worker threads (default: one per CPU)\n"
     "  --lock-wait DUR    wait up to DUR for the repository lock (default 60s)\n"
     "  --no-progress      no progress line even on a terminal\n"
     "  -c, --config FILE  take --repo from the configuration\n"},
    {"run", cmd_run,
     COMMON | B(O_REPO) | B(O_DATA_DIR) | B(O_SLOT) | B(O_CONFIG) | B(O_TRIES) | B(O_STARTUP_GRACE) | B(O_LOCK_WAIT),
     B(O_DATA_DIR), 1, 4096,
     "usage: slotkeeper run --slot N -c FILE -- nodeos ARGS...\n"
     "       slotkeeper run --data-dir DIR [--repo REPO] -- nodeos ARGS...\n"
     "\n"
     "The entrypoint of a worker (a Docker Swarm task, a systemd unit per slot). Checks the\n"
     "data-dir; if nodeos would refuse it (dirty, corrupt, incompatible, missing, an unfinished\n"
     "restore), restores the newest good snapshot first. A data-dir in use by a live process is\n"
     "an error (exit 5). Then runs the node as its child, stdout/stderr passed through,\n"
     "forwards SIGTERM, SIGINT and SIGHUP, and exits with the node's own exit code (128+signal\n"
     "if it was killed). A node that fails at startup on corrupted state is restored and\n"
     "started again, at most --tries starts in all; then run exits with the node's code.\n"
     "  --slot N             with -c: worker slot N ([workers] data_dir); default: $SLOTKEEPER_SLOT\n"
     "  -c, --config FILE    take the repository, the slot's data-dir and the startup grace from it\n"
     "  --data-dir DIR       the data-dir (without -c)\n"
     "  --repo REPO          the repository to restore from (without -c)\n"
     "  --tries N            starts in all (default 2)\n"
     "  --startup-grace DUR  an exit within this time of starting is a failure to start (default 120s)\n"
     "  --lock-wait DUR      wait up to DUR for the repository lock (default 60s)\n"},
    {"config check", cmd_config_check, COMMON | B(O_CONFIG), B(O_CONFIG), 0, 0,
     "usage: slotkeeper config check -c FILE\n"
     "\n"
     "Reads the configuration file, checks every key (type, bounds, required keys, templates),\n"
     "and prints the effective configuration, defaults included, with each key's\n"
     "documentation. A bad file gets one line 'FILE: line N: [section] key: reason' and exit 2.\n"
     "etc/slotkeeper.conf documents every key.\n"
     "  -c, --config FILE  the configuration file\n"},
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
     "  (1: the data-dir could not be read; 2: usage error)\n"
     "  --json             the same facts as one JSON object with a \"verdict\" field\n"
     "  --deep             also walk every block-log entry and the whole index and report the\n"
     "                     first inconsistency with its offset\n"
     "  --reference FILE   a state file (shared_memory.bin) or a snapshot manifest whose\n"
     "                     state environment (OS, arch, Boost, compiler) the data-dir must match\n"},
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
    "  prune                 remove old snapshots and unreferenced chunks\n"
    "  check DATA_DIR        diagnose a data-dir without starting nodeos\n"
    "  config check -c FILE  check a configuration file and print it with its defaults\n"
    "  export ID -o FILE     write a snapshot as a portable .tar.zst\n"
    "  import FILE           add a snapshot from a .tar.zst (or .tar, .tar.gz)\n"
    "  run -- nodeos ...     a worker's entrypoint: check, restore if needed, run, forward signals\n"
    "\n"
    "'slotkeeper <command> --help' describes each command's options.\n"
    "exit codes: 0 ok, 1 failed, 2 usage, 3 damaged data, 4 repository locked,\n"
    "            5 data-dir in use, 6 out of space, 7 data-dir not clean, 8 incompatible\n";

static int exit_code_for(int code)
{
    if (code == 0)
        return EXIT_OK;
    if (code == -EBADMSG)
        return EXIT_DAMAGED;
    if (code == -EWOULDBLOCK)
        return EXIT_BUSY;
    if (code == -EBUSY)
        return EXIT_IN_USE;
    if (sk_err_is_nospace(code))
        return EXIT_NOSPACE;
    if (code == -EUCLEAN)
        return EXIT_NOT_CLEAN;
    if (code == -EPROTOTYPE)
        return EXIT_INCOMPATIBLE;
    return EXIT_FAIL;
}

/* Prints the operation's error as one line and returns its exit code. */
static int fail(const sk_err_t *err)
{
    if (err->path[0])
        log_warnx("%s: %s", err->path, err->msg);
    else
        log_warnx("%s", err->msg);
    return exit_code_for(err->code);
}

static int usage_error(const struct command *c, const char *fmt, ...) SK_PRINTF(2, 3);
static int usage_error(const struct command *c, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    log_warnx("%s (see 'slotkeeper %s --help')", msg, c ? c->name : "");
    return EXIT_USAGE;
}

static int open_repo(struct options *o, enum sk_lock_mode mode, const char *command, sk_repo_t **repo)
{
    sk_err_t err;
    sk_err_clear(&err);
    if (sk_repo_open(o->repo, mode, o->lock_wait_ms, command, repo, &err) < 0)
        return fail(&err);
    return 0;
}

static void fmt_time(int64_t t, char *buf, size_t len)
{
    time_t tt = (time_t)t;
    struct tm tm;
    gmtime_r(&tt, &tm);
    strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static int cmd_repo_init(struct options *o)
{
    sk_err_t err;
    sk_err_clear(&err);
    if (o->nargs == 1) {
        if (o->repo)
            return usage_error(&commands[0], "give the repository once");
        o->repo = o->args[0];
    }
    if (!o->repo)
        return usage_error(&commands[0], "missing REPO");
    uint32_t cs = o->given[O_CHUNK_SIZE] ? (uint32_t)o->chunk_size : SK_REPO_DEFAULT_CHUNK;
    uint32_t lcs = o->given[O_LOG_CHUNK_SIZE] ? (uint32_t)o->log_chunk_size : 0;
    int level = o->given[O_LEVEL] ? o->level : SK_REPO_DEFAULT_LEVEL;
    if (sk_repo_init_ex(o->repo, cs, lcs, level, &err) < 0)
        return fail(&err);
    sk_repo_t *repo;
    if (sk_repo_open(o->repo, SK_LOCK_SHARED, 0, NULL, &repo, &err) < 0)
        return fail(&err);
    char b[32], c[32];
    if (!o->quiet)
        printf("initialised repository %s (chunk size %s, log chunk size %s, zstd level %d)\n", o->repo,
               sk_fmt_bytes(repo->chunk_size, b, sizeof(b)), sk_fmt_bytes(repo->log_chunk_size, c, sizeof(c)), level);
    sk_repo_close(repo);
    return EXIT_OK;
}

/* What `check` found, as manifest facts. */
struct facts {
    sk_fact_t f[16];
    size_t n;
    char buf[16][2 * SK_STATE_ENV_SIZE + 1];
};

static void add_fact(struct facts *fs, const char *key, const char *fmt, ...) SK_PRINTF(3, 4);
static void add_fact(struct facts *fs, const char *key, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(fs->buf[fs->n], sizeof(fs->buf[fs->n]), fmt, ap);
    va_end(ap);
    if (!fs->buf[fs->n][0])
        return;
    fs->f[fs->n].key = (char *)key;
    fs->f[fs->n].value = fs->buf[fs->n];
    fs->n++;
}

static void facts_from_check(struct facts *fs, const char *dir, const sk_datadir_report_t *r)
{
    char host[256] = "", abs[PATH_MAX];
    gethostname(host, sizeof(host) - 1);
    add_fact(fs, "source.host", "%s", host);
    add_fact(fs, "source.data-dir", "%s", realpath(dir, abs) ? abs : dir);
    add_fact(fs, "source.layout", "%s", r->layout);
    if (r->blocks.blocks) {
        add_fact(fs, "source.first-block", "%u", r->blocks.first_block);
        add_fact(fs, "source.last-block", "%u", r->blocks.last_block);
    }
    if (r->blocks.has_chain_id)
        add_fact(fs, "source.chain-id", "%s", r->blocks.chain_id);
    if (r->state.has_header) {
        add_fact(fs, "state.id", "%s", r->state.id);
        add_fact(fs, "state.size", "%llu", (unsigned long long)r->state.size);
        add_fact(fs, "state.os", "%d", r->state.os);
        add_fact(fs, "state.arch", "%d", r->state.arch);
        add_fact(fs, "state.debug", "%d", r->state.debug);
        add_fact(fs, "state.boost-version", "%u", r->state.boost_version);
        add_fact(fs, "state.compiler", "%s", r->state.compiler);
        sk_env_to_hex(r->state.env, fs->buf[fs->n]);
        fs->f[fs->n].key = "state.environment";
        fs->f[fs->n].value = fs->buf[fs->n];
        fs->n++;
    }
}

static int cmd_snapshot(struct options *o)
{
    sk_err_t err;
    sk_err_clear(&err);
    /* Never snapshot a data-dir nodeos would not start from, nor one in use. */
    sk_datadir_report_t chk;
    if (sk_datadir_check(o->data_dir, &(sk_check_opts_t){0}, &chk, &err) < 0)
        return fail(&err);
    if (chk.verdict == SK_VERDICT_RUNNING) {
        char p[PATH_MAX];
        sk_path_join(p, sizeof(p), o->data_dir, chk.state.path);
        sk_err_set(&err, -EBUSY, p, "in use by process %ld (a running node holds its lock)", (long)chk.lock_pid);
        return fail(&err);
    }
    if (chk.verdict != SK_VERDICT_CLEAN) {
        sk_err_set(&err, chk.verdict == SK_VERDICT_MISSING ? -ENOENT : -EUCLEAN, o->data_dir,
                   "%s: %s; refusing to snapshot it (see 'slotkeeper check')", sk_verdict_name(chk.verdict),
                   chk.reason);
        return fail(&err);
    }
    struct facts fs = {.n = 0};
    facts_from_check(&fs, o->data_dir, &chk);
    sk_repo_t *repo;
    int ex = open_repo(o, SK_LOCK_SHARED, "snapshot", &repo);
    if (ex)
        return ex;
    sk_repo_sweep(repo);
    static const char *defaults[] = {"blocks", "state"}, *dawn[] = {"blocks", "shared_mem"};
    sk_snapshot_opts_t so = {
        .data_dir = o->data_dir,
        .include = o->ninclude                    ? o->include
                   : !strcmp(chk.layout, "dawn3") ? dawn
                                                  : defaults,
        .ninclude = o->ninclude ? o->ninclude : 2,
        .threads = o->threads,
        .level = o->level,
        .facts = fs.f,
        .nfacts = fs.n,
    };
    sk_progress_t prog;
    sk_progress_init(&prog, "snapshot", o->progress);
    sk_snapshot_result_t res;
    int rc = sk_snapshot_create(repo, &so, &prog, &res, &err);
    sk_repo_close(repo);
    if (rc < 0)
        return fail(&err);
    char a[32], b[32], c[32], d[32];
    if (!o->quiet)
        log_info("%s: %" PRIu64 " files, %s logical, %s data, %s stored, %s new in %" PRIu64 " new chunks, %.2fs",
                 res.id, res.files, sk_fmt_bytes(res.logical_bytes, a, sizeof(a)),
                 sk_fmt_bytes(res.data_bytes, b, sizeof(b)), sk_fmt_bytes(res.stored_bytes, c, sizeof(c)),
                 sk_fmt_bytes(res.new_bytes, d, sizeof(d)), res.new_chunks, res.seconds);
    printf("%s\n", res.id);
    return EXIT_OK;
}

static int load_reference(const char *path, unsigned char env[SK_STATE_ENV_SIZE], sk_err_t *err);

static int cmd_restore(struct options *o)
{
    sk_err_t err;
    sk_err_clear(&err);
    static char env_hex[2 * SK_STATE_ENV_SIZE + 1];
    if (o->reference) {
        unsigned char env[SK_STATE_ENV_SIZE];
        if (load_reference(o->reference, env, &err) < 0)
            return fail(&err);
        sk_env_to_hex(env, env_hex);
    }
    sk_repo_t *repo;
    int ex = open_repo(o, SK_LOCK_SHARED, "restore", &repo);
    if (ex)
        return ex;
    sk_restore_opts_t ro = {
        .require_env = o->reference ? env_hex : NULL,
        .data_dir = o->data_dir,
        .snapshot = o->snapshot ? o->snapshot : "latest",
        .threads = o->threads,
        .keep = o->given[O_KEEP_QUARANTINE] ? o->keep_quarantine : SK_QUARANTINE_KEEP,
        .quarantine_delete = o->quarantine_delete,
    };
    sk_progress_t prog;
    sk_progress_init(&prog, "restore", o->progress);
    sk_restore_result_t res;
    int rc = sk_restore(repo, &ro, &prog, &res, &err);
    sk_repo_close(repo);
    if (rc < 0)
        return fail(&err);
    char a[32];
    if (!o->quiet) {
        log_info("restored snapshot %s into %s: %" PRIu64 " files, %s written, %.2fs%s", res.id, o->data_dir, res.files,
                 sk_fmt_bytes(res.data_bytes, a, sizeof(a)), res.seconds,
                 res.resumed ? " (finished an interrupted restore)" : "");
        if (res.quarantine[0])
            log_info("replaced folders kept in %s", res.quarantine);
    }
    printf("%s\n", res.id);
    return EXIT_OK;
}

static int cmd_list(struct options *o)
{
    sk_repo_t *repo;
    int ex = open_repo(o, SK_LOCK_SHARED, "list", &repo);
    if (ex)
        return ex;
    sk_err_t err;
    sk_err_clear(&err);
    char **ids;
    size_t n;
    if (sk_repo_list_ids(repo, &ids, &n, &err) < 0) {
        sk_repo_close(repo);
        return fail(&err);
    }
    json_t *arr = o->json ? json_array() : NULL;
    if (!o->json)
        printf("%-29s %-20s %6s %10s %10s %10s  %s\n", "ID", "TIME", "FILES", "LOGICAL", "STORED", "NEW", "STATUS");
    for (size_t i = 0; i < n; i++) {
        sk_manifest_t *m = NULL;
        sk_err_t lerr;
        sk_err_clear(&lerr);
        char reason[512] = "";
        bool bad = sk_repo_is_bad(repo, ids[i], reason, sizeof(reason)) == 1;
        int rc = sk_repo_manifest_load(repo, ids[i], &m, &lerr);
        if (rc < 0) {
            bad = true;
            snprintf(reason, sizeof(reason), "%s", lerr.msg);
        }
        char t[32] = "?";
        if (m)
            fmt_time(m->time, t, sizeof(t));
        if (o->json) {
            json_t *j = json_object();
            json_object_set_new(j, "id", json_string(ids[i]));
            json_object_set_new(j, "time", m ? json_string(t) : json_null());
            json_object_set_new(j, "files", m ? json_integer((json_int_t)m->files) : json_null());
            json_object_set_new(j, "logical_bytes", m ? json_integer((json_int_t)m->logical_bytes) : json_null());
            json_object_set_new(j, "data_bytes", m ? json_integer((json_int_t)m->data_bytes) : json_null());
            json_object_set_new(j, "stored_bytes", m ? json_integer((json_int_t)m->stored_bytes) : json_null());
            json_object_set_new(j, "new_bytes", m ? json_integer((json_int_t)m->new_bytes) : json_null());
            json_object_set_new(j, "chunks", m ? json_integer((json_int_t)m->chunks) : json_null());
            json_object_set_new(j, "status", json_string(bad ? "bad" : "good"));
            if (bad)
                json_object_set_new(j, "reason", json_string(reason));
            if (m && m->nfacts) {
                json_t *facts = json_object();
                for (size_t f = 0; f < m->nfacts; f++)
                    json_object_set_new(facts, m->facts[f].key, json_string(m->facts[f].value));
                json_object_set_new(j, "facts", facts);
            }
            json_array_append_new(arr, j);
        } else {
            char a[32] = "-", b[32] = "-", c[32] = "-", files[32] = "-";
            if (m) {
                sk_fmt_bytes(m->logical_bytes, a, sizeof(a));
                sk_fmt_bytes(m->stored_bytes, b, sizeof(b));
                sk_fmt_bytes(m->new_bytes, c, sizeof(c));
                snprintf(files, sizeof(files), "%" PRIu64, m->files);
            }
            printf("%-29s %-20s %6s %10s %10s %10s  %s%s%s\n", ids[i], t, files, a, b, c, bad ? "bad" : "good",
                   bad ? ": " : "", bad ? reason : "");
        }
        sk_manifest_free(m);
    }
    if (o->json) {
        json_t *root = json_object();
        json_object_set_new(root, "repository", json_string(repo->path));
        json_object_set_new(root, "snapshots", arr);
        char *s = json_dumps(root, JSON_INDENT(2));
        if (s)
            printf("%s\n", s);
        free(s);
        json_decref(root);
    }
    sk_repo_ids_free(ids, n);
    sk_repo_close(repo);
    return EXIT_OK;
}

static int cmd_verify(struct options *o)
{
    if (o->all && o->nargs)
        return usage_error(&commands[4], "give snapshot ids or --all, not both");
    sk_repo_t *repo;
    int ex = open_repo(o, SK_LOCK_SHARED, "verify", &repo);
    if (ex)
        return ex;
    sk_err_t err;
    sk_err_clear(&err);
    const char *const *ids = (const char *const *)o->args;
    size_t nids = (size_t)o->nargs;
    char **all = NULL;
    size_t nall = 0;
    const char *latest[1];
    if (!o->all && nids == 0) {
        if (sk_repo_list_ids(repo, &all, &nall, &err) < 0) {
            sk_repo_close(repo);
            return fail(&err);
        }
        if (nall == 0) {
            sk_repo_ids_free(all, nall);
            sk_repo_close(repo);
            sk_err_set(&err, -ENOENT, o->repo, "no snapshot to verify");
            return fail(&err);
        }
        latest[0] = all[nall - 1];
        ids = latest;
        nids = 1;
    }
    for (size_t i = 0; i < nids; i++) {
        sk_manifest_t *m;
        sk_err_t lerr;
        sk_err_clear(&lerr);
        int rc = sk_repo_manifest_load(repo, ids[i], &m, &lerr);
        if (rc == 0)
            sk_manifest_free(m);
        else if (rc != -EBADMSG) {
            sk_repo_ids_free(all, nall);
            sk_repo_close(repo);
            return fail(&lerr);
        }
    }
    sk_progress_t prog;
    sk_progress_init(&prog, "verify", o->progress);
    sk_verify_report_t rep;
    int rc = sk_verify(repo, ids, o->all ? 0 : nids, o->threads, &prog, &rep, &err);
    sk_repo_ids_free(all, nall);
    sk_repo_close(repo);
    if (rc < 0) {
        sk_verify_report_free(&rep);
        return fail(&err);
    }
    int bad = 0;
    json_t *arr = o->json ? json_array() : NULL;
    for (size_t i = 0; i < rep.n; i++) {
        sk_verify_snapshot_t *s = &rep.snaps[i];
        if (!s->ok)
            bad++;
        if (o->json) {
            json_t *j = json_object();
            json_object_set_new(j, "id", json_string(s->id));
            json_object_set_new(j, "status", json_string(s->ok ? "good" : "bad"));
            json_object_set_new(j, "chunks", json_integer((json_int_t)s->chunks));
            json_object_set_new(j, "bytes", json_integer((json_int_t)s->bytes));
            if (!s->ok) {
                json_object_set_new(j, "reason", json_string(s->reason));
                json_object_set_new(j, "damaged_references", json_integer((json_int_t)s->ndamaged));
                json_t *dl = json_array();
                for (size_t k = 0; k < s->ndamage; k++) {
                    json_t *d = json_object();
                    json_object_set_new(d, "chunk", json_string(s->damage[k].chunk));
                    json_object_set_new(d, "file", json_string(s->damage[k].file));
                    json_object_set_new(d, "index", json_integer((json_int_t)s->damage[k].index));
                    json_object_set_new(d, "problem", json_string(s->damage[k].missing ? "missing" : "damaged"));
                    json_array_append_new(dl, d);
                }
                json_object_set_new(j, "damaged", dl);
            }
            json_array_append_new(arr, j);
        } else {
            char b[32];
            if (s->ok) {
                printf("%s good: %" PRIu64 " chunks, %s checked%s\n", s->id, s->chunks,
                       sk_fmt_bytes(s->bytes, b, sizeof(b)), s->was_bad ? " (stays marked bad from before)" : "");
            } else {
                printf("%s BAD: %s\n", s->id, s->reason);
                for (size_t k = 0; k < s->ndamage; k++)
                    printf("  %s %s: chunk %" PRIu64 " of %s\n", s->damage[k].missing ? "missing" : "damaged",
                           s->damage[k].chunk, s->damage[k].index, s->damage[k].file);
            }
        }
    }
    if (o->json) {
        json_t *root = json_object();
        json_object_set_new(root, "repository", json_string(o->repo));
        json_object_set_new(root, "snapshots", arr);
        json_object_set_new(root, "chunks_read", json_integer((json_int_t)rep.chunks_read));
        json_object_set_new(root, "bytes_checked", json_integer((json_int_t)rep.bytes_checked));
        json_object_set_new(root, "bad", json_integer(bad));
        char *s = json_dumps(root, JSON_INDENT(2));
        if (s)
            printf("%s\n", s);
        free(s);
        json_decref(root);
    } else if (!o->quiet) {
        char b[32];
        log_info("%zu snapshot(s) checked, %d bad; %" PRIu64 " chunks read, %s in %.2fs", rep.n, bad, rep.chunks_read,
                 sk_fmt_bytes(rep.bytes_checked, b, sizeof(b)), rep.seconds);
    }
    sk_verify_report_free(&rep);
    return bad ? EXIT_DAMAGED : EXIT_OK;
}

static int cmd_prune(struct options *o)
{
    sk_repo_t *repo;
    int ex = open_repo(o, SK_LOCK_EXCLUSIVE, "prune", &repo);
    if (ex)
        return ex;
    sk_err_t err;
    sk_err_clear(&err);
    sk_prune_result_t res;
    int rc = sk_prune(repo, o->keep_last, &res, &err);
    sk_repo_close(repo);
    if (rc < 0) {
        sk_prune_result_free(&res);
        return fail(&err);
    }
    char b[32];
    for (size_t i = 0; i < res.nremoved; i++)
        printf("removed %s\n", res.removed[i]);
    if (!o->quiet)
        printf("kept %zu snapshot(s), removed %zu; removed %" PRIu64 " chunks, freed %s\n", res.kept, res.nremoved,
               res.chunks_removed, sk_fmt_bytes(res.bytes_freed, b, sizeof(b)));
    sk_prune_result_free(&res);
    return EXIT_OK;
}

/* Reads the state environment of --reference: a snapshot manifest (its state.environment fact)
 * or a state file's header. */
static int load_reference(const char *path, unsigned char env[SK_STATE_ENV_SIZE], sk_err_t *err)
{
    char *buf;
    size_t len;
    int rc = sk_read_file_at(AT_FDCWD, path, SK_MANIFEST_MAX, &buf, &len);
    if (rc == -EFBIG || rc == -EINVAL)
        return sk_state_read_env(path, env, err);
    if (rc < 0)
        return sk_err_set(err, rc, path, NULL);
    if (len < 20 || memcmp(buf, "slotkeeper-manifest ", 20)) {
        free(buf);
        return sk_state_read_env(path, env, err);
    }
    sk_manifest_t *m = NULL;
    char why[256];
    rc = sk_manifest_parse(buf, len, &m, why, sizeof(why));
    free(buf);
    if (rc < 0)
        return sk_err_set(err, rc, path, "corrupt manifest: %s", why);
    const char *hex = sk_manifest_fact(m, "state.environment");
    rc = hex ? sk_env_from_hex(hex, env) : -ENOENT;
    sk_manifest_free(m);
    if (rc < 0)
        return sk_err_set(err, -EINVAL, path, "the manifest records no state environment");
    return 0;
}

static int cmd_check(struct options *o)
{
    sk_err_t err;
    sk_err_clear(&err);
    unsigned char env[SK_STATE_ENV_SIZE];
    sk_check_opts_t co = {.deep = o->deep};
    if (o->reference) {
        if (load_reference(o->reference, env, &err) < 0)
            return fail(&err);
        co.reference_env = env;
    }
    const char *dir = o->args[0];
    sk_datadir_report_t r;
    if (sk_datadir_check(dir, &co, &r, &err) < 0)
        return fail(&err);
    const sk_state_info_t *s = &r.state;
    const sk_blocklog_info_t *b = &r.blocks;
    if (o->json) {
        json_t *j = json_object();
        json_object_set_new(j, "data_dir", json_string(dir));
        json_object_set_new(j, "verdict", json_string(sk_verdict_name(r.verdict)));
        json_object_set_new(j, "reason", json_string(r.reason));
        json_object_set_new(j, "layout", json_string(r.layout));
        if (r.lock_pid)
            json_object_set_new(j, "lock_pid", json_integer(r.lock_pid));
        json_t *js = json_object();
        json_object_set_new(js, "present", json_boolean(s->present));
        if (s->present) {
            json_object_set_new(js, "path", json_string(s->path));
            json_object_set_new(js, "size", json_integer((json_int_t)s->size));
            json_object_set_new(js, "allocated", json_integer((json_int_t)s->allocated));
        }
        if (s->has_header) {
            json_object_set_new(js, "id", json_string(s->id));
            json_object_set_new(js, "dirty", json_integer(s->dirty));
            json_object_set_new(js, "debug", json_integer(s->debug));
            json_object_set_new(js, "os", json_integer(s->os));
            json_object_set_new(js, "arch", json_integer(s->arch));
            json_object_set_new(js, "boost_version", json_integer(s->boost_version));
            json_object_set_new(js, "compiler", json_string(s->compiler));
        }
        json_object_set_new(j, "state", js);
        json_t *jb = json_object();
        json_object_set_new(jb, "present", json_boolean(b->present));
        if (b->present) {
            json_object_set_new(jb, "log_size", json_integer((json_int_t)b->log_size));
            json_object_set_new(jb, "index_size", json_integer((json_int_t)b->index_size));
            json_object_set_new(jb, "version", json_integer(b->version));
            json_object_set_new(jb, "pruned", json_boolean(b->pruned));
            json_object_set_new(jb, "first_block", json_integer(b->first_block));
            json_object_set_new(jb, "last_block", json_integer(b->last_block));
            json_object_set_new(jb, "blocks", json_integer((json_int_t)b->blocks));
            if (b->has_chain_id)
                json_object_set_new(jb, "chain_id", json_string(b->chain_id));
        }
        json_object_set_new(j, "blocks", jb);
        json_object_set_new(j, "fork_db", json_boolean(r.fork_db_present));
        if (r.deep)
            json_object_set_new(j, "bad_offset", r.bad_offset ? json_integer((json_int_t)r.bad_offset) : json_null());
        char *txt = json_dumps(j, JSON_INDENT(2));
        if (txt)
            printf("%s\n", txt);
        free(txt);
        json_decref(j);
    } else {
        char a[32], c[32];
        printf("%s: %s: %s\n", dir, sk_verdict_name(r.verdict), r.reason);
        printf("  layout:  %s\n", r.layout);
        if (s->present) {
            printf("  state:   %s, %s (%s allocated)", s->path, sk_fmt_bytes(s->size, a, sizeof(a)),
                   sk_fmt_bytes(s->allocated, c, sizeof(c)));
            if (s->has_header)
                printf(", id %s, dirty %d, os %d, arch %d, boost %u, compiler '%s'", s->id, s->dirty, s->os, s->arch,
                       s->boost_version, s->compiler);
            printf("\n");
        }
        if (b->present) {
            printf("  blocks:  blocks.log %s, version %u%s, blocks %u..%u (%llu in the index)",
                   sk_fmt_bytes(b->log_size, a, sizeof(a)), b->version, b->pruned ? " (pruned)" : "", b->first_block,
                   b->last_block, (unsigned long long)b->blocks);
            if (b->has_chain_id)
                printf(", chain id %s", b->chain_id);
            printf("\n");
        }
        printf("  fork db: %s\n", r.fork_db_present ? "present" : "absent");
        if (r.deep && r.bad_offset)
            printf("  first inconsistency at offset %llu\n", (unsigned long long)r.bad_offset);
    }
    static const int codes[] = {[SK_VERDICT_CLEAN] = 0,         [SK_VERDICT_RUNNING] = 10, [SK_VERDICT_DIRTY] = 11,
                                [SK_VERDICT_INCOMPATIBLE] = 12, [SK_VERDICT_CORRUPT] = 13, [SK_VERDICT_MISSING] = 14,
                                [SK_VERDICT_RESTORING] = 15};
    return codes[r.verdict];
}

/* Fills what the command line left out from the configuration file given with -c. */
static int apply_config(const struct command *c, struct options *o)
{
    sk_err_t err;
    sk_err_clear(&err);
    if (sk_config_load(o->config, &the_config, &err) < 0) {
        log_warnx("%s: %s", err.path, err.msg);
        return EXIT_USAGE;
    }
    the_config_loaded = true;
    sk_config_t *cf = &the_config;
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
        if (!o->given[O_INCLUDE]) {
            o->include_buf = strdup(cf->archive_include);
            if (!o->include_buf)
                return EXIT_FAIL;
            for (char *save, *t = strtok_r(o->include_buf, ",", &save); t && o->ninclude < 16;
                 t = strtok_r(NULL, ",", &save))
                o->include[o->ninclude++] = t;
        }
    }
    if (c->run == cmd_run && !o->given[O_STARTUP_GRACE])
        o->startup_grace_ms = cf->startup_grace_ms;
    if (c->run == cmd_restore || c->run == cmd_run) {
        if (o->given[O_SLOT]) {
            if (o->given[O_DATA_DIR])
                return usage_error(c, "give --slot or --data-dir, not both");
            if (o->slot > cf->slots) {
                log_warnx("%s: --slot %u: the configuration has %u slot(s)", o->config, o->slot, cf->slots);
                return EXIT_USAGE;
            }
            if (sk_config_expand(cf, cf->worker_data_dir, o->slot, o->slot_dir, sizeof(o->slot_dir)) < 0)
                return usage_error(c, "--slot: the data-dir path is too long");
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

static int cmd_export(struct options *o)
{
    const char *which = o->args[0];
    if (strcmp(which, "latest") && !sk_id_valid(which))
        return usage_error(&commands[0], "'%s' is not a snapshot id", which);
    sk_err_t err;
    sk_err_clear(&err);
    bool to_stdout = !strcmp(o->output, "-");
    if (to_stdout && isatty(STDOUT_FILENO)) {
        log_warnx("refusing to write an archive to a terminal (use -o FILE or a pipe)");
        return EXIT_USAGE;
    }
    /* A file appears under its name only when complete: written as a temporary, then renamed. */
    char tmp[PATH_MAX];
    int fd = STDOUT_FILENO;
    if (!to_stdout) {
        if (snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", o->output, (long)getpid()) >= (int)sizeof(tmp))
            return usage_error(&commands[0], "-o: path too long");
        fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        if (fd < 0) {
            sk_err_errno(&err, o->output);
            return fail(&err);
        }
    }
    sk_repo_t *repo;
    int ex = open_repo(o, SK_LOCK_SHARED, "export", &repo);
    if (ex) {
        if (!to_stdout) {
            close(fd);
            unlink(tmp);
        }
        return ex;
    }
    sk_progress_t prog;
    sk_progress_init(&prog, "export", o->progress);
    sk_export_result_t res;
    int rc = sk_export(repo, which, fd, o->level, o->threads, &prog, &res, &err);
    sk_repo_close(repo);
    if (!to_stdout) {
        if (rc == 0 && fsync(fd) < 0)
            rc = sk_err_errno(&err, o->output);
        if (close(fd) < 0 && rc == 0)
            rc = sk_err_errno(&err, o->output);
        if (rc == 0 && rename(tmp, o->output) < 0)
            rc = sk_err_errno(&err, o->output);
        if (rc < 0)
            unlink(tmp);
    }
    if (rc < 0)
        return fail(&err);
    char a[32], b[32];
    if (!o->quiet)
        log_info("%s: snapshot %s, %" PRIu64 " entries, %s of data in %s, %.2fs", to_stdout ? "stdout" : o->output,
                 res.id, res.entries, sk_fmt_bytes(res.data_bytes, a, sizeof(a)),
                 sk_fmt_bytes(res.out_bytes, b, sizeof(b)), res.seconds);
    return EXIT_OK;
}

static int cmd_import(struct options *o)
{
    const char *file = o->args[0];
    sk_err_t err;
    sk_err_clear(&err);
    int fd = STDIN_FILENO;
    if (strcmp(file, "-")) {
        fd = open(file, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
            sk_err_errno(&err, file);
            return fail(&err);
        }
    }
    sk_repo_t *repo;
    int ex = open_repo(o, SK_LOCK_SHARED, "import", &repo);
    if (ex) {
        if (fd != STDIN_FILENO)
            close(fd);
        return ex;
    }
    sk_repo_sweep(repo);
    sk_progress_t prog;
    sk_progress_init(&prog, "import", o->progress);
    sk_import_result_t res;
    int rc = sk_import(repo, fd, strcmp(file, "-") ? file : "stdin", o->threads, &prog, &res, &err);
    sk_repo_close(repo);
    if (fd != STDIN_FILENO)
        close(fd);
    if (rc < 0)
        return fail(&err);
    char a[32], b[32];
    if (!o->quiet)
        log_info("%s: %s%s%s; %" PRIu64 " files, %s of data, %s new", res.snap.id,
                 res.had_manifest ? "checked against its manifest, from snapshot " : "no manifest, data-dir clean",
                 res.had_manifest ? res.source_id : "", "", res.snap.files,
                 sk_fmt_bytes(res.snap.data_bytes, a, sizeof(a)), sk_fmt_bytes(res.snap.new_bytes, b, sizeof(b)));
    printf("%s\n", res.snap.id);
    return EXIT_OK;
}

static int cmd_run(struct options *o)
{
    sk_run_opts_t ro = {
        .data_dir = o->data_dir,
        .repo = o->given[O_REPO] ? o->repo : NULL,
        .argv = o->args,
        .tries = o->tries ? o->tries : 2,
        .startup_grace_ms = o->given[O_STARTUP_GRACE] || o->config ? o->startup_grace_ms : 120000,
        .lock_wait_ms = o->lock_wait_ms,
    };
    /* The run's own SIGINT/SIGTERM handler would only cancel slotkeeper's work: the node gets them. */
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    return sk_run(&ro);
}

static int cmd_config_check(struct options *o)
{
    sk_err_t err;
    sk_err_clear(&err);
    sk_config_t cf;
    if (sk_config_load(o->config, &cf, &err) < 0) {
        log_warnx("%s: %s", err.path, err.msg);
        return EXIT_USAGE;
    }
    printf("# effective configuration of %s, defaults included\n", o->config);
    sk_config_print(&cf, stdout);
    sk_config_free(&cf);
    if (!o->quiet)
        log_info("%s: configuration OK", o->config);
    return EXIT_OK;
}

static int parse_options(const struct command *c, int argc, char **argv, struct options *o)
{
    o->progress = true;
    o->lock_wait_ms = 60000;
    o->keep_quarantine = SK_QUARANTINE_KEEP;
    optind = 1;
    opterr = 0;
    int ch;
    uint64_t v;
    while ((ch = getopt_long(argc, argv, ":hc:o:", long_opts, NULL)) != -1) {
        if (ch == 'h')
            ch = O_HELP;
        if (ch == 'o')
            ch = O_OUTPUT;
        if (ch == 'c')
            ch = O_CONFIG;
        if (ch == '?')
            return usage_error(c, "unknown option '%s'", argv[optind - 1]);
        if (ch == ':')
            return usage_error(c, "option '%s' needs a value", argv[optind - 1]);
        if (!(c->allowed & B(ch)))
            return usage_error(c, "option '--%s' does not apply to '%s'", long_opts[ch].name, c->name);
        o->given[ch] = true;
        switch (ch) {
        case O_REPO:
            o->repo = optarg;
            break;
        case O_DATA_DIR:
            o->data_dir = optarg;
            break;
        case O_SNAPSHOT:
            if (strcmp(optarg, "latest") && !sk_id_valid(optarg))
                return usage_error(c, "--snapshot: '%s' is not a snapshot id", optarg);
            o->snapshot = optarg;
            break;
        case O_INCLUDE: {
            free(o->include_buf);
            o->include_buf = strdup(optarg);
            o->ninclude = 0;
            if (!o->include_buf)
                return EXIT_FAIL;
            for (char *save, *t = strtok_r(o->include_buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
                if (o->ninclude == 16)
                    return usage_error(c, "--include: at most 16 folders");
                if (!*t || strchr(t, '/') || !strcmp(t, ".") || !strcmp(t, ".."))
                    return usage_error(c, "--include: '%s' is not a plain folder name", t);
                o->include[o->ninclude++] = t;
            }
            if (!o->ninclude)
                return usage_error(c, "--include: empty list");
            break;
        }
        case O_LEVEL:
            if (sk_parse_uint(optarg, 1, 19, &v) < 0)
                return usage_error(c, "--level: '%s' is not a zstd level 1..19", optarg);
            o->level = (int)v;
            break;
        case O_THREADS:
            if (sk_parse_uint(optarg, 1, 256, &v) < 0)
                return usage_error(c, "--threads: '%s' is not a number 1..256", optarg);
            o->threads = (int)v;
            break;
        case O_LOCK_WAIT:
            if (sk_parse_duration_ms(optarg, &o->lock_wait_ms) < 0)
                return usage_error(c, "--lock-wait: '%s' is not a duration (e.g. 0, 30s, 5m)", optarg);
            break;
        case O_CHUNK_SIZE:
        case O_LOG_CHUNK_SIZE: {
            uint64_t *dst = ch == O_CHUNK_SIZE ? &o->chunk_size : &o->log_chunk_size;
            if (sk_parse_size(optarg, dst) < 0 || *dst < SK_CHUNK_SIZE_MIN || *dst > SK_CHUNK_SIZE_MAX ||
                (*dst & (*dst - 1)))
                return usage_error(c, "--%s: '%s' is not a power of two from 4KiB to 64MiB", long_opts[ch].name,
                                   optarg);
            break;
        }
        case O_QUARANTINE:
            if (!strcmp(optarg, "delete"))
                o->quarantine_delete = true;
            else if (!strcmp(optarg, "keep"))
                o->quarantine_delete = false;
            else
                return usage_error(c, "--quarantine: '%s' is not 'keep' or 'delete'", optarg);
            break;
        case O_KEEP_QUARANTINE:
            if (sk_parse_uint(optarg, 0, 1000, &v) < 0)
                return usage_error(c, "--keep-quarantine: '%s' is not a number 0..1000", optarg);
            o->keep_quarantine = (unsigned)v;
            break;
        case O_KEEP_LAST:
            if (sk_parse_uint(optarg, 1, 1000000, &v) < 0)
                return usage_error(c, "--keep-last: '%s' is not a number of at least 1", optarg);
            o->keep_last = (unsigned)v;
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
        case O_REFERENCE:
            o->reference = optarg;
            break;
        case O_CONFIG:
            o->config = optarg;
            break;
        case O_TRIES:
            if (sk_parse_uint(optarg, 1, 100, &v) < 0)
                return usage_error(c, "--tries: '%s' is not a number 1..100", optarg);
            o->tries = (unsigned)v;
            break;
        case O_STARTUP_GRACE:
            if (sk_parse_duration_ms(optarg, &o->startup_grace_ms) < 0)
                return usage_error(c, "--startup-grace: '%s' is not a duration (e.g. 120s)", optarg);
            break;
        case O_OUTPUT:
            o->output = optarg;
            break;
        case O_SLOT:
            if (sk_parse_uint(optarg, 1, 1000, &v) < 0)
                return usage_error(c, "--slot: '%s' is not a slot number 1..1000", optarg);
            o->slot = (unsigned)v;
            break;
        case O_HELP:
            break;
        }
    }
    if (o->given[O_HELP]) {
        fputs(c->usage, stdout);
        return -1;
    }
    o->args = argv + optind;
    o->nargs = argc - optind;
    /* Docker Swarm templates only env, mounts and hostname, not the command: take the slot from
     * SLOTKEEPER_SLOT={{.Task.Slot}} when --slot is not given. */
    const char *env_slot = getenv("SLOTKEEPER_SLOT");
    if (c->run == cmd_run && !o->given[O_SLOT] && !o->given[O_DATA_DIR] && env_slot && *env_slot) {
        if (sk_parse_uint(env_slot, 1, 1000, &v) < 0)
            return usage_error(c, "SLOTKEEPER_SLOT: '%s' is not a slot number 1..1000", env_slot);
        o->slot = (unsigned)v;
        o->given[O_SLOT] = true;
    }
    if (o->config && c->run != cmd_config_check) {
        int rc = apply_config(c, o);
        if (rc)
            return rc;
    }
    if (o->given[O_SLOT] && !o->config)
        return usage_error(c, "--slot needs -c FILE (the slots' data-dirs are in the configuration)");
    if (o->nargs < c->min_args || o->nargs > c->max_args)
        return usage_error(c, o->nargs > c->max_args ? "unexpected argument '%s'" : "missing argument%s",
                           o->nargs > c->max_args ? argv[optind + c->max_args] : "");
    for (int i = 0; i < O_COUNT; i++)
        if ((c->required & B(i)) && !o->given[i])
            return usage_error(c, "missing --%s", long_opts[i].name);
    return 0;
}

static void on_signal(int sig)
{
    (void)sig;
    sk_cancel_request();
}

int main(int argc, char **argv)
{
    log_init("slotkeeper", NULL, SK_LOG_INFO);
    if (argc < 2) {
        fputs(main_usage, stderr);
        return EXIT_USAGE;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        fputs(main_usage, stdout);
        return EXIT_OK;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("slotkeeper %s\n", SK_VERSION);
        return EXIT_OK;
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
        if (!strcmp(argv[1], "repo"))
            log_warnx("usage: slotkeeper repo init REPO");
        else
            log_warnx("unknown command '%s' (see 'slotkeeper --help')", argv[1]);
        return EXIT_USAGE;
    }
    log_set_command(c->name);

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
    else if (rc < 0)
        rc = EXIT_OK;
    free(o.include_buf);
    if (the_config_loaded)
        sk_config_free(&the_config);
    if (fflush(stdout) != 0 && rc == 0)
        rc = EXIT_FAIL;
    return rc;
}
