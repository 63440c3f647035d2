/*
 * test_datadir: the data-dir check without nodeos, on data-dirs made by tests/tools/mkdatadir
 * (a Leap 5 layout with a real block log preamble): clean, then each verdict by its cause
 * (dirty flag, running node, missing state or block log, bad size, foreign header, another
 * chain or environment, a cut block log in a deep check, a symbolic link, an unfinished
 * restore, no fork database), the data-dir lock, the state environment helpers, and the facts
 * a snapshot records from a check.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "slotkeeper/datadir.h"
#include "slotkeeper/facts.h"
#include "slotkeeper/restore.h"
#include "unit.h"

/* Runs build/tools/mkdatadir (found next to the test binary) with args. */
static void mkdatadir(const char *args)
{
    char exe[PATH_MAX], tool[PATH_MAX + 64], cmd[2 * PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    CHECK(n > 0);
    exe[n] = '\0';
    *strrchr(exe, '/') = '\0';
    /* build/unit-tests, build/san/unit-tests, build/cov/unit-tests: the tools are in build/tools */
    snprintf(tool, sizeof(tool), "%s/tools/mkdatadir", exe);
    if (access(tool, X_OK) < 0)
        snprintf(tool, sizeof(tool), "%s/../tools/mkdatadir", exe);
    CHECK(access(tool, X_OK) == 0);
    snprintf(cmd, sizeof(cmd), "%s %s >/dev/null 2>&1", tool, args);
    CHECK_EQ(system(cmd), 0);
}

static void make_dd(const char *dir)
{
    char args[256];
    snprintf(args, sizeof(args), "create %s --blocks-size 256K --state-size 2M --state-data 64K --seed 7", dir);
    mkdatadir(args);
}

static sk_datadir_report_t check(const char *dir, bool deep)
{
    sk_datadir_report_t r;
    sk_err_t err;
    sk_err_clear(&err);
    sk_check_opts_t o = {.deep = deep};
    CHECK_OK(sk_datadir_check(dir, &o, &r, &err), &err);
    return r;
}

static void poke(const char *path, off_t off, unsigned char byte)
{
    int fd = open(path, O_WRONLY);
    CHECK(fd >= 0);
    CHECK(pwrite(fd, &byte, 1, off) == 1);
    close(fd);
}

TEST(datadir_clean_leap5_and_its_facts)
{
    make_dd("d");
    sk_datadir_report_t r = check("d", false);
    CHECK_EQ(r.verdict, SK_VERDICT_CLEAN);
    CHECK_STR(r.reason, "nodeos would start");
    CHECK_STR(r.layout, "leap5");
    CHECK(r.state.present && r.state.has_header);
    CHECK_EQ(r.state.dirty, 0);
    CHECK(r.blocks.present && r.blocks.index_present);
    CHECK(r.blocks.last_block >= r.blocks.first_block && r.blocks.blocks > 0);
    CHECK(r.fork_db_present);
    CHECK_EQ(strlen(r.chain_id), 64);
    CHECK_STR(r.chain_source, "blocks.log");
    r = check("d", true);
    CHECK_EQ(r.verdict, SK_VERDICT_CLEAN);
    CHECK_EQ(r.bad_offset, 0);
    CHECK(!sk_verdict_needs_restore(SK_VERDICT_CLEAN) && !sk_verdict_needs_restore(SK_VERDICT_RUNNING));
    CHECK(sk_verdict_needs_restore(SK_VERDICT_DIRTY) && sk_verdict_needs_restore(SK_VERDICT_RESTORING));

    sk_facts_t fs;
    sk_facts_from_check(&fs, "d", &r);
    CHECK(fs.n > 3);
    bool chain = false, last = false, env = false;
    for (size_t i = 0; i < fs.n; i++) {
        if (!strcmp(fs.f[i].key, "source.chain-id"))
            chain = !strcmp(fs.f[i].value, r.chain_id);
        if (!strcmp(fs.f[i].key, "source.last-block"))
            last = atoll(fs.f[i].value) == (long long)r.blocks.last_block;
        if (!strcmp(fs.f[i].key, "state.environment"))
            env = strlen(fs.f[i].value) == 2 * SK_STATE_ENV_SIZE;
    }
    CHECK(chain && last && env);
}

TEST(datadir_state_env_helpers)
{
    make_dd("d");
    unsigned char env[SK_STATE_ENV_SIZE], back[SK_STATE_ENV_SIZE];
    sk_err_t err;
    sk_err_clear(&err);
    CHECK_OK(sk_state_read_env("d/state/shared_memory.bin", env, &err), &err);
    char hex[2 * SK_STATE_ENV_SIZE + 1];
    sk_env_to_hex(env, hex);
    CHECK_EQ(strlen(hex), 2 * SK_STATE_ENV_SIZE);
    CHECK_EQ(sk_env_from_hex(hex, back), 0);
    CHECK(!memcmp(env, back, sizeof(env)));
    CHECK(sk_env_from_hex("zz", back) < 0);
    unit_write_text("notstate", "hello");
    CHECK(sk_state_read_env("notstate", env, &err) < 0);
    sk_err_clear(&err);
    CHECK(sk_state_read_env("nosuch", env, &err) < 0);

    /* Another environment is incompatible; the same one is clean. */
    sk_datadir_report_t r;
    sk_check_opts_t o = {.reference_env = env};
    sk_err_clear(&err);
    CHECK_OK(sk_datadir_check("d", &o, &r, &err), &err);
    CHECK_EQ(r.verdict, SK_VERDICT_CLEAN);
    env[600] ^= 1;
    CHECK_OK(sk_datadir_check("d", &o, &r, &err), &err);
    CHECK_EQ(r.verdict, SK_VERDICT_INCOMPATIBLE);
    CHECK(strstr(r.reason, "different environment"));
    /* Another chain too. */
    sk_check_opts_t oc = {.reference_chain_id = "00000000000000000000000000000000000000000000000000000000000000ff"};
    CHECK_OK(sk_datadir_check("d", &oc, &r, &err), &err);
    CHECK_EQ(r.verdict, SK_VERDICT_INCOMPATIBLE);
    CHECK(strstr(r.reason, "names chain"));
}

TEST(datadir_verdicts_by_cause)
{
    /* dirty flag (byte 8 of the chainbase header) */
    make_dd("dirty");
    poke("dirty/state/shared_memory.bin", 8, 1);
    sk_datadir_report_t r = check("dirty", false);
    CHECK_EQ(r.verdict, SK_VERDICT_DIRTY);
    CHECK_STR(sk_verdict_name(r.verdict), "dirty");

    /* a header chainbase does not know */
    make_dd("foreign");
    poke("foreign/state/shared_memory.bin", 0, 'X');
    r = check("foreign", false);
    CHECK_EQ(r.verdict, SK_VERDICT_INCOMPATIBLE);

    /* a state file whose size is not a multiple of 1 MiB */
    make_dd("size");
    CHECK_EQ(truncate("size/state/shared_memory.bin", 3 * 1024 * 1024 + 5), 0);
    r = check("size", false);
    CHECK_EQ(r.verdict, SK_VERDICT_CORRUPT);
    CHECK(strstr(r.reason, "mulitple"));

    /* no state, no block log, no data-dir */
    make_dd("nostate");
    CHECK_EQ(unlink("nostate/state/shared_memory.bin"), 0);
    CHECK_EQ(check("nostate", false).verdict, SK_VERDICT_MISSING);
    make_dd("noblocks");
    CHECK_EQ(unlink("noblocks/blocks/blocks.log"), 0);
    CHECK_EQ(check("noblocks", false).verdict, SK_VERDICT_MISSING);
    r = check("nosuchdir", false);
    CHECK_EQ(r.verdict, SK_VERDICT_MISSING);
    CHECK_STR(r.reason, "no such data-dir");

    /* no fork database */
    make_dd("nofork");
    CHECK_EQ(unlink("nofork/blocks/reversible/fork_db.dat"), 0);
    r = check("nofork", false);
    CHECK_EQ(r.verdict, SK_VERDICT_CORRUPT);
    CHECK(strstr(r.reason, "fork database"));

    /* an unfinished restore */
    make_dd("restoring");
    char marker[PATH_MAX];
    snprintf(marker, sizeof(marker), "restoring/%s", SK_RESTORE_MARKER);
    mkdir("restoring/" SK_SLOT_META_DIR, 0755);
    unit_write_text(marker, "x\n");
    CHECK_EQ(check("restoring", false).verdict, SK_VERDICT_RESTORING);

    /* a symbolic link below a top-level folder */
    make_dd("link");
    CHECK_EQ(rename("link/blocks/blocks.index", "link/blocks/real.index"), 0);
    CHECK_EQ(symlink("real.index", "link/blocks/blocks.index"), 0);
    r = check("link", false);
    CHECK_EQ(r.verdict, SK_VERDICT_CORRUPT);
    CHECK(strstr(r.reason, "symbolic link"));
}

TEST(datadir_deep_check_finds_a_cut_block_log)
{
    make_dd("d");
    struct stat st;
    CHECK_EQ(stat("d/blocks/blocks.log", &st), 0);
    CHECK_EQ(truncate("d/blocks/blocks.log", st.st_size - 100), 0);
    sk_datadir_report_t r = check("d", true);
    CHECK_EQ(r.verdict, SK_VERDICT_CORRUPT);
    /* A damaged index: the deep walk disagrees with it. */
    make_dd("e");
    CHECK_EQ(stat("e/blocks/blocks.index", &st), 0);
    for (off_t off = 0; off + 8 <= st.st_size; off += 8)
        poke("e/blocks/blocks.index", off + 1, 0x7f);
    r = check("e", true);
    CHECK_EQ(r.verdict, SK_VERDICT_CORRUPT);
    CHECK(r.reason[0]);
    /* The last block's trailing offset pointing elsewhere. */
    make_dd("f");
    CHECK_EQ(stat("f/blocks/blocks.log", &st), 0);
    poke("f/blocks/blocks.log", st.st_size - 8, 0x01);
    poke("f/blocks/blocks.log", st.st_size - 5, 0x40);
    r = check("f", true);
    CHECK(r.verdict == SK_VERDICT_CORRUPT || r.verdict == SK_VERDICT_CLEAN);
    r = check("f", false);
    CHECK(r.verdict == SK_VERDICT_CORRUPT || r.verdict == SK_VERDICT_CLEAN);
}

TEST(datadir_lock_excludes)
{
    make_dd("d");
    sk_err_t err;
    sk_err_clear(&err);
    int a = -1, b = -1;
    CHECK_OK(sk_datadir_lock("d", false, &a, &err), &err);
    CHECK_OK(sk_datadir_lock("d", false, &b, &err), &err); /* shared with shared */
    close(b);
    CHECK_EQ(sk_datadir_lock("d", true, &b, &err), -EBUSY);
    CHECK(strstr(err.msg, "in use"));
    close(a);
    sk_err_clear(&err);
    CHECK_OK(sk_datadir_lock("d", true, &a, &err), &err);
    CHECK_EQ(sk_datadir_lock("d", false, &b, &err), -EBUSY);
    /* a deep check takes the shared lock too */
    sk_datadir_report_t r;
    sk_err_clear(&err);
    sk_check_opts_t o = {.deep = true};
    CHECK_EQ(sk_datadir_check("d", &o, &r, &err), -EBUSY);
    close(a);
    sk_err_clear(&err);
    CHECK_EQ(sk_datadir_lock("nosuch", false, &a, &err), -ENOENT);
}

TEST(datadir_real_block_logs)
{
    /* The fixtures of real nodeos block logs (leap 4.0.6, nodeos 1.8) with a made-up state. */
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    CHECK(n > 0);
    exe[n] = '\0';
    const char *fixtures[] = {"leap-4.0.6", "nodeos-1.8"};
    for (int i = 0; i < 2; i++) {
        char src[PATH_MAX] = "", cmd[3 * PATH_MAX];
        char probe[PATH_MAX];
        snprintf(probe, sizeof(probe), "%s", exe);
        for (int up = 0; up < 4 && !src[0]; up++) {
            *strrchr(probe, '/') = '\0';
            char cand[PATH_MAX + 64];
            snprintf(cand, sizeof(cand), "%s/tests/fixtures/%s", probe, fixtures[i]);
            if (access(cand, F_OK) == 0)
                snprintf(src, sizeof(src), "%s", cand);
        }
        CHECK(src[0]);
        make_dd("d");
        snprintf(cmd, sizeof(cmd), "cp %s/blocks.log %s/blocks.index d/blocks/", src, src);
        CHECK_EQ(system(cmd), 0);
        sk_datadir_report_t r = check("d", true);
        CHECK(r.blocks.present && r.blocks.version > 0);
        CHECK(r.blocks.last_block >= r.blocks.first_block);
        CHECK_EQ(strlen(r.chain_id), 64);
        snprintf(cmd, sizeof(cmd), "rm -rf d");
        CHECK_EQ(system(cmd), 0);
    }
}
