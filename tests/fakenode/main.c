/*
 * fakenode: a stand-in for nodeos (Leap 5, Spring 1, EOSIO 2.x, Dawn 3.0) that behaves like nodeos for
 * everything slotkeeper can observe: the data-dir layout and file formats, chainbase's dirty flag and fcntl lock,
 * the startup checks with nodeos's messages and exit codes, signals, a growing deterministic chain, and
 * /v1/chain/get_info.  It does no real blockchain work.
 *
 *   fakenode --data-dir DIR [--config-dir DIR] [--http-server-address HOST:PORT|""|off]
 *            [--chain-state-db-size-mb N] [--flavour leap|leap4|spring|eosio2|dawn3] [--block-interval-ms N]
 *            [--catch-up-rate N] [--stop-at-block N] [--crash-after-blocks N] [--shutdown-delay-ms N]
 *            [--fail-at-startup dirty|blocklog|forkdb|environment|lock|initialize|exhausted]
 *            [--replay-blockchain] [--delete-all-blocks] [--genesis-json FILE] [--logconf FILE]
 *   fakenode --probe-lock FILE      print the pid holding an fcntl write lock on FILE (exit 0), or "unlocked" (1)
 *
 * Startup, in nodeos's order: options (bad ones exit 255); genesis.json in the config dir (created when missing;
 * its bytes hash to the chain id, its initial_timestamp dates block 1); the chainbase state file (size, id, dirty
 * flag -> exit 2, environment, lock -> exit 254; then dirty=1); the block log checks (exit 254); Spring's
 * chain_head.dat and the fork database (read, then deleted; missing while the state exists -> exit 254).  A fresh
 * state replays the blocks already in the log; a new log gets its preamble and block 1.
 *
 * Running: the head follows 1 + (now - initial_timestamp) / block-interval.  A node that is behind appends the
 * missing blocks at --catch-up-rate blocks/s (get_info answers meanwhile, as nodeos does, with the head it has), then
 * one block per interval.  Each
 * block is appended to blocks.log/blocks.index and rewrites a few pages of the state file, all as pure functions
 * of (chain id, block number).
 *
 * SIGINT/SIGTERM/SIGPIPE: clean shutdown (fork_db.dat and chain_head.dat written, dirty flag cleared, "nodeos
 * successfully exiting", exit 0).  SIGHUP: "Received HUP..." and carry on.  --crash-after-blocks N: after N blocks
 * "database memory exhausted" and _Exit(1) with the dirty flag set.
 */
#include "fakenode.h"

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

struct options opt;

static const struct flavour flavours[] = {
    {.id = FL_LEAP,
     .name = "leap",
     .db_id = "EOSIODB3",
     .version = "v5.0.3-fakenode",
     .util = "leap-util",
     .state_dir = "state",
     .forkdb = "blocks/reversible/fork_db.dat",
     .size_option = "chain-state-db-size-mb",
     .preamble = true,
     .strict_index = true,
     .main_line = 160,
     .chain_line = 1074,
     .appbase_note = true},
    {.id = FL_LEAP4,
     .name = "leap4",
     .db_id = "EOSIODB2",
     .version = "v4.0.6-fakenode",
     .util = "leap-util",
     .state_dir = "state",
     .forkdb = "blocks/reversible/fork_db.dat",
     .size_option = "chain-state-db-size-mb",
     .preamble = true,
     .strict_index = true,
     .main_line = 157,
     .chain_line = 1077},
    {.id = FL_SPRING,
     .name = "spring",
     .db_id = "CHAINB01",
     .version = "v1.2.2-fakenode",
     .util = "spring-util",
     .state_dir = "state",
     .forkdb = "blocks/reversible/fork_db.dat",
     .size_option = "chain-state-db-size-mb",
     .chain_head = true,
     .preamble = true,
     .strict_index = true,
     .main_line = 220,
     .chain_line = 1074,
     .appbase_note = true},
    {.id = FL_EOSIO2,
     .name = "eosio2",
     .db_id = "EOSIODB2",
     .version = "v2.0.14-fakenode",
     .util = "eosio-blocklog",
     .state_dir = "state",
     .forkdb = "state/fork_db.dat",
     .size_option = "chain-state-db-size-mb",
     .preamble = true,
     .reversible_db = true,
     .capital_dirty = true,
     .main_line = 152,
     .chain_line = 1074,
     .appbase_note = true},
    {.id = FL_DAWN3,
     .name = "dawn3",
     .version = "dawn-v3.0.0-fakenode",
     .util = "",
     .state_dir = "shared_mem",
     .size_option = "shared-memory-size-mb",
     .exit_zero = true,
     .main_line = 95,
     .chain_line = 1074},
};

#define REVERSIBLE_DB_MB 340

/* everything the running node keeps */
static struct {
    uv_loop_t *loop;
    uv_signal_t sig[4];
    int nsig;
    uv_timer_t timer;
    struct chain chain;
    struct cdb state, reversible;
    struct blog blog;
    char *forkdb_path, *chain_head_path;
    uint32_t head;
    bool forkdb_open; /* the fork database was opened: a close writes fork_db.dat */
    bool started;     /* startup finished */
    bool quitting;
    bool catching_up;
    bool replaying;
    uint64_t produced; /* blocks produced by this run */
    double credit;     /* catch-up budget, in blocks */
    int64_t last_tick;
} N;

/* ------------------------------------------------------------------------------------------------------------ */
/* fork_db.dat and chain_head.dat */

/* fork_db.dat: u32 magic, u32 version 1, root (num, id), head (num, id), then reversible block states. */
static void forkdb_write(void)
{
    uint8_t buf[8 + 72 + 4 + 32 * 96], *p = buf;
    uint32_t root = chain_lib(N.head);
    p = put32(p, FORKDB_MAGIC);
    p = put32(p, 1);
    p = put32(p, root);
    chain_block_id(&N.chain, root, p);
    p += 32;
    p = put32(p, N.head);
    chain_block_id(&N.chain, N.head, p);
    p += 32;
    uint32_t n = N.head - root > 32 ? 32 : N.head - root;
    p = put32(p, n);
    struct rng r = {chain_seed(&N.chain, N.head, 5)};
    rand_fill(&r, p, (size_t)n * 96);
    p += (size_t)n * 96;
    char *dir = strdup(N.forkdb_path);
    *strrchr(dir, '/') = 0;
    mkdirs(dir);
    free(dir);
    FILE *f = fopen(N.forkdb_path, "wb");
    if (!f || fwrite(buf, 1, (size_t)(p - buf), f) != (size_t)(p - buf) || fclose(f) != 0)
        nlog(LV_ERROR, "fork_database.cpp", 230, "close", "unable to write %s: %s", N.forkdb_path, strerror(errno));
}

/* Read and delete fork_db.dat; returns false when there is none. */
static bool forkdb_read(uint32_t *root, uint32_t *head)
{
    size_t len;
    char *text = read_text(N.forkdb_path, 1 << 20, &len);
    if (!text)
        return false;
    const uint8_t *b = (const uint8_t *)text;
    if (len < 8 || get32(b) != FORKDB_MAGIC) {
        char actual[9] = "";
        if (len >= 4)
            snprintf(actual, sizeof actual, "%u", get32(b));
        fail_fc("3020000 fork_database_exception", "Fork database exception", "fork_database.cpp", 136, "open",
                "Fork database file '%s' has unexpected magic number: %s. Expected %u", N.forkdb_path, actual,
                FORKDB_MAGIC);
    }
    if (get32(b + 4) != 1)
        fail_fc("3020000 fork_database_exception", "Fork database exception", "fork_database.cpp", 143, "open",
                "Unsupported version of fork database file '%s'. Fork database version is %u while code supports "
                "version(s) [1,1]",
                N.forkdb_path, get32(b + 4));
    if (len < 8 + 72)
        fail_fc("3020000 fork_database_exception", "Fork database exception", "fork_database.cpp", 150, "open",
                "only able to read %zu bytes of fork database file '%s'", len, N.forkdb_path);
    *root = get32(b + 8);
    *head = get32(b + 44);
    free(text);
    unlink(N.forkdb_path);
    return true;
}

/* Spring's state/chain_head.dat: u64 magic, u64 version 1, then the head block handle. */
static void chain_head_write(void)
{
    uint8_t buf[16 + 36 + 64], *p = buf;
    uint8_t id[32];
    char idhex[65];
    chain_block_id(&N.chain, N.head, id);
    hex(idhex, id, 32);
    nlog(LV_INFO, "block_handle.cpp", 22, "write", "Writing chain_head block %u %s", N.head, idhex);
    p = put64(p, CHAIN_HEAD_MAGIC);
    p = put64(p, 1);
    p = put32(p, N.head);
    memcpy(p, id, 32);
    p += 32;
    struct rng r = {chain_seed(&N.chain, N.head, 6)};
    rand_fill(&r, p, 64);
    p += 64;
    FILE *f = fopen(N.chain_head_path, "wb");
    if (!f || fwrite(buf, 1, (size_t)(p - buf), f) != (size_t)(p - buf) || fclose(f) != 0)
        nlog(LV_ERROR, "block_handle.cpp", 25, "write", "unable to write %s: %s", N.chain_head_path, strerror(errno));
}

static bool chain_head_read(uint32_t *head)
{
    size_t len;
    char *text = read_text(N.chain_head_path, 1 << 20, &len);
    if (!text)
        return false;
    const uint8_t *b = (const uint8_t *)text;
    if (len < 16)
        fail_fc("3000000 chain_exception", "blockchain exception", "block_handle.cpp", 38, "read",
                "File `chain_head.dat` seems to be corrupted. The best course of action might be to restart from a "
                "snapshot (v8 or above)");
    if (get64(b) != CHAIN_HEAD_MAGIC || get64(b + 8) != 1 || len < 16 + 36)
        fail_fc("3000000 chain_exception", "blockchain exception", "block_handle.cpp", 50, "read",
                "Error reading `chain_head.dat` file. It is likely a Spring 1.0 version which is not supported by "
                "Spring 1.01 and aboveThe best course of action might be to restart from a snapshot (v8 or above)");
    *head = get32(b + 16);
    char idhex[65];
    hex(idhex, b + 20, 32);
    nlog(LV_INFO, "block_handle.cpp", 53, "read", "Loading chain_head block %u %s", *head, idhex);
    free(text);
    unlink(N.chain_head_path);
    return true;
}

/* ------------------------------------------------------------------------------------------------------------ */
/* closing */

/* What the controller's and chainbase's destructors do; used by clean shutdowns and failed startups alike. */
static void release(bool slow)
{
    if (N.forkdb_open) {
        if (opt.fl->chain_head)
            chain_head_write();
        if (opt.fl->forkdb)
            forkdb_write();
        N.forkdb_open = false;
    }
    if (slow && opt.shutdown_delay_ms && N.state.open) {
        /* mapped_private / heap mode: the whole database is written back before the flag is cleared */
        const char *name = N.state.name;
        raw_err("CHAINBASE: Writing \"%s\" database file, this could take a moment...", name);
        uint32_t steps = 10;
        for (uint32_t i = 1; i <= steps; i++) {
            uint64_t ns = (uint64_t)opt.shutdown_delay_ms * 1000000 / steps;
            struct timespec ts = {.tv_sec = (time_t)(ns / 1000000000), .tv_nsec = (long)(ns % 1000000000)};
            while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
                ;
            if (i < steps)
                raw_err("CHAINBASE: Writing \"%s\" database file, %u%% complete...", name, i * 100 / steps);
        }
        raw_err("CHAINBASE: Writing \"%s\" database file, complete.", name);
    }
    cdb_close(&N.reversible);
    cdb_close(&N.state);
    blog_close(&N.blog);
    layouts_close();
}

void node_release(void)
{
    release(false);
}

static _Noreturn void shutdown_node(int rc)
{
    N.quitting = true;
    if (N.replaying)
        nlog(LV_INFO, "controller.cpp", 535, "replay", "quitting from replay because of shutdown");
    uv_timer_stop(&N.timer);
    http_stop();
    nlog(LV_INFO, "controller.cpp", 3750, "~controller_impl", "shutting down; head block #%u", N.head);
    release(true);
    if (rc == RC_SUCCESS)
        nlog(LV_INFO, "main.cpp", opt.fl->main_line + 30, "main", "nodeos successfully exiting");
    fflush(stderr);
    exit(rc);
}

/* ------------------------------------------------------------------------------------------------------------ */
/* the chain */

static uint32_t target_head(int64_t now)
{
    uint64_t t = 1;
    if (now > N.chain.t0_ms)
        t += (uint64_t)(now - N.chain.t0_ms) / opt.interval_ms;
    if (t > UINT32_MAX - 1)
        t = UINT32_MAX - 1;
    if (opt.stop_at && t > opt.stop_at)
        t = opt.stop_at;
    return (uint32_t)t;
}

static void log_block(uint32_t num, uint32_t ntrx)
{
    uint8_t id[32];
    char idhex[65], when[32];
    chain_block_id(&N.chain, num, id);
    hex(idhex, id, 32);
    iso_time(when, sizeof when, chain_block_time(&N.chain, num));
    int64_t latency = now_ms() - chain_block_time(&N.chain, num);
    nlog(LV_INFO, "controller.cpp", 3340, "log_applied",
         "Received block %.16s... #%u @ %s signed by %s [trxs: %u, lib: %u, confirmed: 0, net: %u, cpu: %u, "
         "elapsed: %u, time: %u, latency: %" PRId64 " ms]",
         idhex + 8, num, when, chain_producer(num), ntrx, chain_lib(num), 136 * ntrx, 100 + 180 * ntrx, 50 + 40 * ntrx,
         120 + 60 * ntrx, latency);
}

static void produce(uint32_t num, bool live)
{
    uint32_t ntrx = 0;
    blog_append(&N.blog, &N.chain, num, &ntrx);
    cdb_touch(&N.state, &N.chain, num);
    N.head = num;
    N.produced++;
    if (live || num % 1000 == 0)
        log_block(num, ntrx);
    if (opt.crash_after && N.produced >= opt.crash_after)
        fail_exhausted();
}

static void on_tick(uv_timer_t *t)
{
    if (N.quitting)
        return;
    int64_t now = now_ms();
    uint32_t target = target_head(now);
    if (N.head + 1 < target) {
        /* more than one block behind: catch up at --catch-up-rate */
        if (!N.catching_up)
            nlog(LV_INFO, "net_plugin.cpp", 2010, "verify_catchup",
                 "catching up: head block #%u, expected head block #%u", N.head, target);
        N.catching_up = true;
        double dt = (double)(now - N.last_tick) / 1000.0;
        if (dt < 0)
            dt = 0;
        if (dt > 0.05)
            dt = 0.05;
        N.credit += opt.catch_up_rate * dt;
        double cap = opt.catch_up_rate * 0.05 + 1;
        if (N.credit > cap)
            N.credit = cap;
        uint32_t n = target - N.head;
        if ((double)n > N.credit)
            n = (uint32_t)N.credit;
        N.credit -= n;
        for (uint32_t i = 0; i < n; i++)
            produce(N.head + 1, false);
    } else {
        if (N.catching_up)
            nlog(LV_INFO, "net_plugin.cpp", 2030, "verify_catchup", "caught up at head block #%u", N.head);
        N.catching_up = false;
        N.credit = 0;
        if (N.head < target)
            produce(N.head + 1, true);
    }
    N.last_tick = now;
    if (opt.stop_at && N.head >= opt.stop_at) {
        nlog(LV_INFO, "main.cpp", 1, "fakenode", "reached --stop-at-block %u", opt.stop_at);
        shutdown_node(RC_SUCCESS);
    }

    uint64_t delay = 10;
    if (N.head + 1 >= target_head(now)) {
        int64_t due = N.chain.t0_ms + (int64_t)N.head * opt.interval_ms; /* when block head+1 is due */
        delay = due > now ? (uint64_t)(due - now) : 1;
        if (opt.stop_at && N.head >= opt.stop_at)
            delay = 1000;
    }
    uv_timer_start(t, on_tick, delay, 0);
}

int node_get_info(char *buf, size_t n)
{
    /* Like nodeos, it answers while it catches up (HTTP 200, the head where it is): the head
     * block's time says how far behind it is. */
    uint32_t head = N.head;
    uint32_t lib = chain_lib(head);
    uint8_t id[32];
    char chain_id[65], head_id[65], lib_id[65], head_time[32], lib_time[32];
    hex(chain_id, N.chain.id, 32);
    chain_block_id(&N.chain, head, id);
    hex(head_id, id, 32);
    chain_block_id(&N.chain, lib, id);
    hex(lib_id, id, 32);
    iso_time(head_time, sizeof head_time, chain_block_time(&N.chain, head));
    iso_time(lib_time, sizeof lib_time, chain_block_time(&N.chain, lib));
    uint32_t short_hash = (uint32_t)mix64(strlen(opt.fl->version) ^ (uint64_t)opt.fl->version[1] << 8);
    snprintf(buf, n,
             "{\"server_version\":\"%08x\",\"chain_id\":\"%s\",\"head_block_num\":%u,"
             "\"last_irreversible_block_num\":%u,\"last_irreversible_block_id\":\"%s\",\"head_block_id\":\"%s\","
             "\"head_block_time\":\"%s\",\"head_block_producer\":\"%s\",\"virtual_block_cpu_limit\":200000000,"
             "\"virtual_block_net_limit\":1048576000,\"block_cpu_limit\":200000,\"block_net_limit\":1048576,"
             "\"server_version_string\":\"%s\",\"fork_db_head_block_num\":%u,\"fork_db_head_block_id\":\"%s\","
             "\"server_full_version_string\":\"%s-%08x\",\"total_cpu_weight\":\"0\",\"total_net_weight\":\"0\","
             "\"earliest_available_block_num\":%u,\"last_irreversible_block_time\":\"%s\"}",
             short_hash, chain_id, head, lib, lib_id, head_id, head_time, chain_producer(head), opt.fl->version, head,
             head_id, opt.fl->version, short_hash, N.blog.first_num, lib_time);
    return 200;
}

/* ------------------------------------------------------------------------------------------------------------ */
/* signals */

static void on_signal(uv_signal_t *h, int signum)
{
    if (N.quitting)
        return;
    if (signum == SIGHUP && (N.started || opt.fl->id != FL_EOSIO2)) {
        /* EOSIO 1.8-2.x quit on a SIGHUP during startup; otherwise it reloads logging.json */
        if (exists(opt.logconf))
            nlog(LV_INFO, "main.cpp", 66, "logging_conf_handler",
                 "Received HUP.  Reloading logging configuration from %s.", opt.logconf);
        else
            nlog(LV_INFO, "main.cpp", 68, "logging_conf_handler",
                 "Received HUP.  No log config found at %s, setting to default.", opt.logconf);
        return;
    }
    if (!N.started) {
        /* appbase quits before plugin startup; the chain plugin's destructors close the database cleanly */
        nlog(LV_INFO, "application_base.cpp", 160, "operator()", "received signal %d during startup, quitting", signum);
    }
    shutdown_node(RC_SUCCESS);
}

static void install_signals(void)
{
    /* AntelopeIO and EOSIO appbase handle INT, TERM, PIPE and HUP; Dawn 3.0 only INT and TERM (HUP and PIPE keep
     * their default action and kill the process uncleanly) */
    static const int leap_sigs[] = {SIGINT, SIGTERM, SIGPIPE, SIGHUP};
    int n = opt.fl->id == FL_DAWN3 ? 2 : 4;
    for (int i = 0; i < n; i++) {
        uv_signal_init(N.loop, &N.sig[i]);
        uv_signal_start(&N.sig[i], on_signal, leap_sigs[i]); /* stays referenced, so uv_run(NOWAIT) polls it */
    }
    N.nsig = n;
}

/* Let pending signals run their handlers (used while startup is still synchronous). */
static void poll_signals(void)
{
    if (N.nsig)
        uv_run(N.loop, UV_RUN_NOWAIT);
}

/* ------------------------------------------------------------------------------------------------------------ */
/* startup */

static bool forced(const char *kind)
{
    return opt.fail_at && strcmp(opt.fail_at, kind) == 0;
}

static void write_protocol_features(void)
{
    static const char *const features[] = {
        "PREACTIVATE_FEATURE",      "ONLY_LINK_TO_EXISTING_PERMISSION",
        "REPLACE_DEFERRED",         "NO_DUPLICATE_DEFERRED_ID",
        "FIX_LINKAUTH_RESTRICTION", "DISALLOW_EMPTY_PRODUCER_SCHEDULE",
        "RESTRICT_ACTION_TO_SELF",  "ONLY_BILL_FIRST_AUTHORIZER",
        "FORWARD_SETCODE",          "GET_SENDER",
        "RAM_RESTRICTIONS",         "WTMSIG_BLOCK_SIGNATURES",
    };
    char *dir = path_join(opt.config_dir, "protocol_features");
    if (exists(dir) || mkdirs(dir) < 0) {
        free(dir);
        return;
    }
    for (size_t i = 0; i < sizeof features / sizeof features[0]; i++) {
        char name[128], digest[65], text[1024];
        uint8_t d[32];
        struct rng r = {mix64(i + 0x7066)};
        rand_fill(&r, d, 32);
        hex(digest, d, 32);
        snprintf(name, sizeof name, "BUILTIN-%s.json", features[i]);
        snprintf(text, sizeof text,
                 "{\n    \"protocol_feature_type\": \"builtin\",\n    \"dependencies\": [],\n"
                 "    \"description_digest\": \"%s\",\n    \"subjective_restrictions\": {\n"
                 "        \"enabled\": true,\n        \"preactivation_required\": %s,\n"
                 "        \"earliest_allowed_activation_time\": \"1970-01-01T00:00:00.000\"\n    },\n"
                 "    \"builtin_feature_codename\": \"%s\"\n}",
                 digest, i ? "true" : "false", features[i]);
        char *path = path_join(dir, name);
        write_text(path, text);
        free(path);
    }
    free(dir);
}

/* appbase: a missing config.ini is written with every option commented out */
static void write_default_config(const char *path)
{
    char text[1024];
    snprintf(text, sizeof text,
             "# fakenode (nodeos stand-in, flavour %s) default configuration; options set here apply unless given\n"
             "# on the command line\n\n"
             "# %s = 1024\n\n"
             "# http-server-address = 127.0.0.1:8888\n",
             opt.fl->name, opt.fl->size_option);
    write_text(path, text);
}

/* main.cpp prints these once appbase's initialize() returned, i.e. after chain_plugin opened the state
 * database and the block log (a node refused there never prints them); the fork database and the replay come
 * later, in plugin startup. */
void version_lines(void)
{
    nlog(LV_INFO, "main.cpp", opt.fl->main_line - 17, "main", "nodeos version %.*s %s",
         (int)(strstr(opt.fl->version, "-fakenode") - opt.fl->version), opt.fl->version, opt.fl->version);
    nlog(LV_INFO, "main.cpp", opt.fl->main_line - 14, "main", "nodeos using configuration file %s/config.ini",
         opt.config_dir);
    nlog(LV_INFO, "main.cpp", opt.fl->main_line - 13, "main", "nodeos data directory is %s", opt.data_dir);
}

static void startup(void)
{
    const struct flavour *fl = opt.fl;
    nlog(LV_INFO, "chain_plugin.cpp", 470, "plugin_initialize", "initializing chain plugin");
    char *blocks_dir = path_join(opt.data_dir, "blocks");
    char *state_dir = path_join(opt.data_dir, fl->state_dir);
    char *log_path = path_join(blocks_dir, "blocks.log");
    char *reversible_dir = path_join(blocks_dir, "reversible");
    N.forkdb_path = fl->forkdb ? path_join(opt.data_dir, fl->forkdb) : NULL;
    N.chain_head_path = path_join(state_dir, "chain_head.dat");

    if (opt.delete_all) {
        nlog(LV_INFO, "chain_plugin.cpp", 728, "plugin_initialize", "Deleting state database and blocks");
        remove_tree_contents(state_dir);
        remove_tree_contents(blocks_dir);
    } else if (opt.replay) {
        nlog(LV_INFO, "chain_plugin.cpp", 738, "plugin_initialize", "Replay requested: deleting state database");
        remove_tree_contents(state_dir);
        if (N.forkdb_path)
            unlink(N.forkdb_path);
        if (fl->reversible_db)
            remove_tree_contents(reversible_dir);
    }
    if (fl->id == FL_LEAP || fl->id == FL_LEAP4 || fl->id == FL_SPRING) {
        /* chain_plugin moves a 1.x/2.x state/fork_db.dat to blocks/reversible/ */
        char *old = path_join(state_dir, "fork_db.dat");
        if (exists(old) && !exists(N.forkdb_path)) {
            mkdirs(reversible_dir);
            if (rename(old, N.forkdb_path) == 0)
                nlog(LV_INFO, "chain_plugin.cpp", 460, "plugin_initialize", "moved %s to %s", old, N.forkdb_path);
        }
        free(old);
    }

    chain_load(&N.chain, opt.genesis, log_path);

    /* chainbase: size, id, dirty, environment, lock; then dirty=1 */
    if (forced("dirty") && fl->db_id)
        fail_std("Database dirty flag set");
    if (forced("environment")) {
        raw_err("CHAINBASE: \"state\" database was created with a chainbase from a different environment");
        fail_std(fl->db_id ? "Database incompatible; All environment parameters must match"
                           : "database created by a different compiler, build, or operating system");
    }
    if (forced("lock"))
        fail_std(fl->db_id ? "Could not gain write access to the shared memory file"
                           : "could not gain write access to the shared memory file");
    cdb_open(&N.state, state_dir, "state", opt.state_mb * MIB);
    if (fl->reversible_db)
        cdb_open(&N.reversible, reversible_dir, "reversible", REVERSIBLE_DB_MB * MIB);
    bool existing_state = !N.state.created;

    /* block log */
    if (forced("blocklog"))
        fail_fc("3190000 block_log_exception", "Block log exception", "block_log.cpp", 1208, "open",
                "The last block position from %s is at 0 which does not match the last block postion 0 from %s/"
                "blocks.index, please use %s to fix the inconsistency. (forced by --fail-at-startup blocklog)",
                log_path, blocks_dir, fl->util);
    blog_open(&N.blog, blocks_dir);
    layouts_open(&N.blog, &N.chain);
    if (N.blog.has_genesis && N.blog.head >= N.blog.first_num && memcmp(N.blog.genesis, N.chain.genesis, GENESIS_SIZE))
        fail_fc("3110006 plugin_config_exception", "Incorrect plugin configuration", "chain_plugin.cpp", 802,
                "plugin_initialize",
                "Genesis state, provided via command line arguments, does not match the existing genesis state in "
                "blocks.log. It is not necessary to provide genesis state arguments when a full blocks.log file "
                "already exists.");
    if (N.blog.has_chain_id && memcmp(N.blog.chain_id, N.chain.id, 32)) {
        char a[65], b[65];
        hex(a, N.blog.chain_id, 32);
        hex(b, N.chain.id, 32);
        fail_fc("3110006 plugin_config_exception", "Incorrect plugin configuration", "chain_plugin.cpp", 812,
                "plugin_initialize", "chain id %s in the block log does not match chain id %s of %s", a, b,
                opt.genesis);
    }
    uint8_t sid[32];
    if (existing_state && cdb_chain_id(&N.state, sid) && memcmp(sid, N.chain.id, 32)) {
        char a[65], b[65];
        hex(a, sid, 32);
        hex(b, N.chain.id, 32);
        fail_fc("3110006 plugin_config_exception", "Incorrect plugin configuration", "chain_plugin.cpp", 820,
                "plugin_initialize",
                "chain id %s extracted from the state database does not match the chain id %s from the genesis "
                "state",
                a, b);
    }
    cdb_store_chain_id(&N.state, N.chain.id);
    version_lines();

    /* Spring's chain_head.dat and the fork database: read, then deleted; written again on a clean close */
    uint32_t state_head = existing_state ? N.blog.head : 0;
    if (forced("forkdb"))
        fail_fc("3020000 fork_database_exception", "Fork database exception", "controller.cpp", 661, "startup",
                "No existing fork database despite existing chain state. Replay required.");
    if (fl->chain_head) {
        uint32_t h;
        if (chain_head_read(&h)) {
            if (existing_state)
                state_head = h;
        } else if (existing_state) {
            fail_fc("3000000 chain_exception", "blockchain exception", "controller.cpp", 2031, "startup",
                    "No existing chain_head.dat file");
        }
    }
    if (fl->forkdb) {
        uint32_t root = 0, fhead = 0;
        bool have = forkdb_read(&root, &fhead);
        if (existing_state) {
            if (!have)
                fail_fc(fl->id == FL_EOSIO2 ? "3060000 database_exception" : "3020000 fork_database_exception",
                        fl->id == FL_EOSIO2 ? "Database exception" : "Fork database exception", "controller.cpp", 661,
                        "startup", "No existing fork database despite existing chain state. Replay required.");
            if (N.blog.head >= N.blog.first_num && (root < layouts_first_block(&N.blog) || root > N.blog.head))
                fail_fc("3190000 block_log_exception", "Block log exception", "controller.cpp", 672, "startup",
                        "block log (ranging from %u to %u) does not contain the last irreversible block (%u)",
                        N.blog.first_num, N.blog.head, root);
            if (!fl->chain_head)
                state_head = fhead;
        }
    }
    N.forkdb_open = fl->forkdb != NULL || fl->chain_head;

    /* a new block log: preamble and the genesis block */
    if (N.blog.head < N.blog.first_num && N.blog.first_num == 1) {
        if (N.blog.log_size == 0 || fl->preamble)
            blog_reset(&N.blog, &N.chain);
        produce(1, false);
        if (state_head < 1)
            state_head = 1;
    }
    N.head = N.blog.head;

    /* blocks the log has and the state has not: replay them into the state */
    if (state_head < N.blog.head) {
        uint32_t from = state_head + 1, to = N.blog.head;
        nlog(LV_INFO, "controller.cpp", 520, "replay", "existing block log, attempting to replay from %u to %u blocks",
             from, to);
        int64_t t0 = now_ms();
        N.replaying = true;
        for (uint32_t num = from; num <= to; num++) {
            cdb_touch(&N.state, &N.chain, num);
            if (num % 1000 == 0) {
                N.head = num;
                poll_signals();
                if (num % 100000 == 0)
                    nlog(LV_INFO, "controller.cpp", 530, "replay", "%u of %u", num, to);
            }
        }
        N.head = to;
        N.replaying = false;
        nlog(LV_INFO, "controller.cpp", 545, "replay", "%u irreversible blocks replayed", to - from + 1);
        nlog(LV_INFO, "controller.cpp", 560, "replay", "replayed %u blocks in %" PRId64 " seconds", to - from + 1,
             (now_ms() - t0) / 1000);
    }
    /* blocks the state has and the log lacks (they were reversible, in fork_db.dat): write them to the log */
    for (uint32_t num = N.blog.head + 1; num <= state_head; num++) {
        uint32_t ntrx;
        blog_append(&N.blog, &N.chain, num, &ntrx);
        N.head = num;
    }
    if (forced("exhausted"))
        fail_exhausted();

    if (fl->id != FL_DAWN3) {
        char *snap = path_join(opt.data_dir, "snapshots");
        mkdirs(snap);
        free(snap);
    }
    char when[32];
    iso_time(when, sizeof when, N.chain.t0_ms);
    nlog(LV_INFO, "chain_plugin.cpp", 1190, "plugin_startup",
         "Blockchain started; head block is #%u, genesis timestamp is %s", N.head, when);
    free(blocks_dir);
    free(state_dir);
    free(log_path);
    free(reversible_dir);
}

/* ------------------------------------------------------------------------------------------------------------ */
/* options */

static _Noreturn void usage(void)
{
    printf("usage: fakenode --data-dir DIR [--config-dir DIR] [--http-server-address HOST:PORT|\"\"|off]\n"
           "                [--chain-state-db-size-mb N] [--flavour leap|leap4|spring|eosio2|dawn3]\n"
           "                [--block-interval-ms N] [--catch-up-rate N] [--stop-at-block N]\n"
           "                [--crash-after-blocks N] [--shutdown-delay-ms N] [--fail-at-startup KIND]\n"
           "                [--replay-blockchain] [--delete-all-blocks] [--genesis-json FILE] [--logconf FILE]\n"
           "       fakenode --probe-lock FILE\n"
           "KIND: dirty blocklog forkdb environment lock initialize exhausted\n");
    exit(RC_SUCCESS);
}

static uint64_t parse_num(const char *name, const char *v, uint64_t min, uint64_t max)
{
    char *end;
    errno = 0;
    unsigned long long x = strtoull(v, &end, 10);
    if (*v < '0' || *v > '9' || *end || errno || x < min || x > max)
        fail_initialize("the argument ('%s') for option '--%s' is invalid", v, name);
    return x;
}

static char *absolute(const char *path)
{
    char *s;
    if (path[0] == '/') {
        s = strdup(path);
    } else {
        char cwd[4096];
        if (!getcwd(cwd, sizeof cwd))
            fail_initialize("cannot determine the current directory: %s", strerror(errno));
        s = path_join(cwd, path);
    }
    size_t n = strlen(s);
    while (n > 1 && s[n - 1] == '/')
        s[--n] = 0;
    return s;
}

/* key = value lines of config.ini; values given on the command line win */
static void read_config_ini(const char *path, bool have_http, bool have_size)
{
    char *text = read_text(path, 1 << 20, NULL);
    if (!text)
        return;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        while (*line == ' ' || *line == '\t')
            line++;
        if (*line == '#' || !*line)
            continue;
        char *eq = strchr(line, '=');
        if (!eq)
            continue;
        char *k = line, *v = eq + 1, *ke = eq;
        while (ke > k && (ke[-1] == ' ' || ke[-1] == '\t'))
            ke--;
        *ke = 0;
        while (*v == ' ' || *v == '\t')
            v++;
        size_t vl = strlen(v);
        while (vl && (v[vl - 1] == ' ' || v[vl - 1] == '\t' || v[vl - 1] == '\r'))
            v[--vl] = 0;
        if (!have_http && strcmp(k, "http-server-address") == 0) {
            free(opt.http_addr);
            opt.http_addr = vl && strcmp(v, "off") ? strdup(v) : NULL;
        } else if (!have_size && strcmp(k, opt.fl->size_option) == 0) {
            opt.state_mb = parse_num(k, v, 1, 8 * MIB);
        } else {
            layouts_config(k, v);
        }
    }
    free(text);
}

int main(int argc, char **argv)
{
    const char *data_dir = NULL, *config_dir = NULL, *genesis = NULL, *logconf = NULL;
    bool have_http = false, have_size = false;
    opt.fl = &flavours[0];
    opt.http_addr = strdup("127.0.0.1:8888");
    opt.state_mb = 1024;
    opt.interval_ms = 500;
    opt.catch_up_rate = 5000;

    /* pass 1: --flavour decides which size option is valid; --probe-lock, --help and --version end here */
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = NULL;
        if (strncmp(a, "--flavour", 9) == 0 || strncmp(a, "--flavor", 8) == 0) {
            const char *eq = strchr(a, '=');
            v = eq ? eq + 1 : (i + 1 < argc ? argv[i + 1] : "");
            opt.fl = NULL;
            for (size_t f = 0; f < sizeof flavours / sizeof flavours[0]; f++)
                if (strcmp(v, flavours[f].name) == 0)
                    opt.fl = &flavours[f];
            if (!opt.fl)
                fail_initialize("the argument ('%s') for option '--flavour' is invalid", v);
        } else if (strcmp(a, "--probe-lock") == 0) {
            if (i + 1 >= argc)
                fail_initialize("the required argument for option '--probe-lock' is missing");
            return probe_lock(argv[i + 1]);
        } else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage();
        } else if (strcmp(a, "--version") == 0 || strcmp(a, "-v") == 0) {
            printf("%.*s\n", (int)(strstr(opt.fl->version, "-fakenode") - opt.fl->version), opt.fl->version);
        } else if (strcmp(a, "--full-version") == 0) {
            printf("%s\n", opt.fl->version);
        }
    }
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--version") || !strcmp(argv[i], "-v") || !strcmp(argv[i], "--full-version"))
            return RC_SUCCESS;

    /* pass 2 */
    for (int i = 1; i < argc; i++) {
        char *a = argv[i];
        char name[64];
        const char *v = NULL;
        if (a[0] != '-' || a[1] == 0)
            fail_initialize("too many positional options have been specified on the command line");
        const char *n = a[1] == '-' ? a + 2 : a + 1;
        const char *eq = strchr(n, '=');
        size_t nl = eq ? (size_t)(eq - n) : strlen(n);
        if (nl >= sizeof name)
            nl = sizeof name - 1;
        memcpy(name, n, nl);
        name[nl] = 0;
        if (a[1] != '-') { /* short options */
            if (!strcmp(name, "d"))
                strcpy(name, "data-dir");
            else if (!strcmp(name, "e"))
                strcpy(name, "enable-stale-production");
            else if (!strcmp(name, "p"))
                strcpy(name, "producer-name");
            else
                fail_initialize("unrecognised option '%s'", a);
        }
        static const char *const flags[] = {"replay-blockchain", "delete-all-blocks", "enable-stale-production"};
        bool is_flag = false;
        for (size_t f = 0; f < sizeof flags / sizeof flags[0]; f++)
            is_flag |= strcmp(name, flags[f]) == 0;
        if (is_flag) {
            if (eq)
                fail_initialize("option '--%s' does not take any arguments", name);
            if (!strcmp(name, "replay-blockchain"))
                opt.replay = true;
            else if (!strcmp(name, "delete-all-blocks"))
                opt.delete_all = true;
            continue;
        }
        static const char *const valued[] = {
            "data-dir",
            "config-dir",
            "http-server-address",
            "chain-state-db-size-mb",
            "shared-memory-size-mb",
            "flavour",
            "flavor",
            "block-interval-ms",
            "catch-up-rate",
            "crash-after-blocks",
            "shutdown-delay-ms",
            "fail-at-startup",
            "stop-at-block",
            "genesis-json",
            "logconf",
            "plugin",
            "p2p-listen-endpoint",
            "p2p-peer-address",
            "producer-name",
            "agent-name",
        };
        bool known = false;
        for (size_t f = 0; f < sizeof valued / sizeof valued[0]; f++)
            known |= strcmp(name, valued[f]) == 0;
        if (!known)
            fail_initialize("unrecognised option '%s'", a);
        if (eq)
            v = eq + 1;
        else if (i + 1 < argc)
            v = argv[++i];
        else
            fail_initialize("the required argument for option '--%s' is missing", name);

        if (!strcmp(name, "data-dir"))
            data_dir = v;
        else if (!strcmp(name, "config-dir"))
            config_dir = v;
        else if (!strcmp(name, "genesis-json"))
            genesis = v;
        else if (!strcmp(name, "logconf"))
            logconf = v;
        else if (!strcmp(name, "http-server-address")) {
            free(opt.http_addr);
            opt.http_addr = *v && strcmp(v, "off") ? strdup(v) : NULL;
            have_http = true;
        } else if (!strcmp(name, "chain-state-db-size-mb") || !strcmp(name, "shared-memory-size-mb")) {
            if (strcmp(name, opt.fl->size_option))
                fail_initialize("unrecognised option '--%s'", name);
            opt.state_mb = parse_num(name, v, 1, UINT64_MAX / MIB);
            have_size = true;
        } else if (!strcmp(name, "block-interval-ms"))
            opt.interval_ms = (uint32_t)parse_num(name, v, 1, 3600000);
        else if (!strcmp(name, "catch-up-rate"))
            opt.catch_up_rate = (uint32_t)parse_num(name, v, 1, 10000000);
        else if (!strcmp(name, "crash-after-blocks"))
            opt.crash_after = parse_num(name, v, 1, UINT32_MAX);
        else if (!strcmp(name, "shutdown-delay-ms"))
            opt.shutdown_delay_ms = (uint32_t)parse_num(name, v, 0, 86400000);
        else if (!strcmp(name, "stop-at-block"))
            opt.stop_at = (uint32_t)parse_num(name, v, 1, UINT32_MAX - 1);
        else if (!strcmp(name, "fail-at-startup")) {
            static const char *const kinds[] = {"dirty", "blocklog",   "forkdb",   "environment",
                                                "lock",  "initialize", "exhausted"};
            bool ok = false;
            for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++)
                ok |= strcmp(v, kinds[k]) == 0;
            if (!ok)
                fail_initialize("the argument ('%s') for option '--fail-at-startup' is invalid", v);
            opt.fail_at = v;
        }
        /* flavour: pass 1; plugin, p2p-*, producer-name, agent-name: accepted and ignored */
    }
    if (!data_dir)
        fail_initialize("fakenode needs --data-dir (it does not use nodeos's default data directory)");
    if (forced("initialize"))
        fail_initialize("fakenode: initialization failure (forced by --fail-at-startup initialize)");
    opt.data_dir = absolute(data_dir);
    opt.config_dir = absolute(config_dir ? config_dir : data_dir);
    if (mkdirs(opt.config_dir) < 0)
        fail_initialize("unable to create %s: %s", opt.config_dir, strerror(errno));
    char *config_ini = path_join(opt.config_dir, "config.ini");
    if (!exists(config_ini))
        write_default_config(config_ini);
    read_config_ini(config_ini, have_http, have_size);
    if (opt.fl->id != FL_DAWN3 && opt.state_mb > 8 * MIB)
        fail_fc("3110006 plugin_config_exception", "Incorrect plugin configuration", "chain_plugin.cpp", 607,
                "plugin_initialize",
                "The maximum supported size for the chain state db (chain-state-db-size-mb) "
                "is 8TiB");
    opt.genesis = genesis ? absolute(genesis) : path_join(opt.config_dir, "genesis.json");
    opt.logconf = logconf ? absolute(logconf) : path_join(opt.config_dir, "logging.json");
    if (mkdirs(opt.data_dir) < 0)
        fail_initialize("unable to create %s: %s", opt.data_dir, strerror(errno));

    N.loop = uv_default_loop();
    N.blog.lfd = N.blog.ifd = -1;
    N.state.fd = N.reversible.fd = -1;
    N.state.meta_fd = N.reversible.meta_fd = -1;
    uv_timer_init(N.loop, &N.timer);
    if (opt.fl->id != FL_DAWN3) /* Dawn 3.0 installed its handlers only in exec() */
        install_signals();

    free(config_ini);
    if (opt.fl->id != FL_DAWN3)
        write_protocol_features();

    startup();

    if (opt.http_addr) {
        char err[512];
        if (http_start(N.loop, opt.http_addr, err, sizeof err) < 0) {
            nlog(LV_ERROR, "http_plugin.cpp", 380, "plugin_startup", "http service failed to start for %s: %s",
                 opt.http_addr, err);
            shutdown_node(RC_OTHER_FAIL);
        }
        nlog(LV_INFO, "http_plugin.cpp", 372, "plugin_startup", "start listening for http requests (boost::beast)");
        nlog(LV_INFO, "beast_http_listener.hp", 93, "listen", "acceptor_.listen() %s", opt.http_addr);
    }
    if (opt.fl->id == FL_DAWN3)
        install_signals();
    poll_signals(); /* signals that arrived during startup */
    N.started = true;
    if (opt.stop_at && N.head >= opt.stop_at) {
        nlog(LV_INFO, "main.cpp", 1, "fakenode", "head block #%u already at --stop-at-block %u", N.head, opt.stop_at);
        shutdown_node(RC_SUCCESS);
    }
    N.last_tick = now_ms();
    uv_timer_start(&N.timer, on_tick, 0, 0);
    uv_run(N.loop, UV_RUN_DEFAULT);
    shutdown_node(RC_SUCCESS); /* not reached: the timer keeps the loop alive until a signal ends the process */
}
