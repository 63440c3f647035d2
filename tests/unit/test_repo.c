/*
 * test_repo: repository layout and config (init, refusals, config errors
 * that name the line and the file), the flock protocol between processes
 * (exclusive vs shared, waiting, dead holders), sweeping of stale writer
 * sessions while live ones are kept, bad markers and the id listing.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "slotkeeper/fsutil.h"
#include "slotkeeper/manifest.h"
#include "slotkeeper/repo.h"
#include "unit.h"

static void init_repo(const char *path, uint32_t cs)
{
    sk_err_t err;
    sk_err_clear(&err);
    CHECK_OK(sk_repo_init(path, cs, 3, &err), &err);
}

static sk_repo_t *open_repo(const char *path, enum sk_lock_mode mode)
{
    sk_err_t err;
    sk_err_clear(&err);
    sk_repo_t *r = NULL;
    CHECK_OK(sk_repo_open(path, mode, 0, "unit-test", &r, &err), &err);
    CHECK(r != NULL);
    return r;
}

static bool is_dir(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static bool is_file(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static int count_dir(const char *path)
{
    DIR *d = opendir(path);
    CHECK(d != NULL);
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL)
        if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
            n++;
    closedir(d);
    return n;
}

TEST(repo_init_layout)
{
    init_repo("repo", 65536);
    CHECK(is_file("repo/config"));
    CHECK(is_file("repo/lock"));
    CHECK(is_dir("repo/chunks"));
    CHECK(is_dir("repo/snapshots"));
    CHECK(is_dir("repo/tmp"));
    CHECK_EQ(count_dir("repo"), 5);
    CHECK_EQ(count_dir("repo/chunks"), 256);
    for (int i = 0; i < 256; i++) {
        char p[64];
        snprintf(p, sizeof(p), "repo/chunks/%02x", i);
        if (!is_dir(p))
            unit_fail(__FILE__, __LINE__, "%s is not a folder", p);
    }
    CHECK_EQ(count_dir("repo/snapshots"), 0);
    CHECK_EQ(count_dir("repo/tmp"), 0);

    sk_repo_t *r = open_repo("repo", SK_LOCK_SHARED);
    CHECK_EQ(r->chunk_size, 65536);
    CHECK_EQ(r->level, 3);
    CHECK(r->sesslock == NULL);
    CHECK_STR(r->path, "repo");
    sk_repo_close(r);

    /* A missing folder is created, with its parents; an existing empty one is fine. */
    init_repo("deep/er/repo2", SK_CHUNK_SIZE_MIN);
    CHECK(is_file("deep/er/repo2/config"));
    CHECK_EQ(mkdir("empty", 0755), 0);
    init_repo(unit_abs("empty", 0), SK_CHUNK_SIZE_MAX);
    r = open_repo(unit_abs("empty", 0), SK_LOCK_EXCLUSIVE);
    CHECK_EQ(r->chunk_size, SK_CHUNK_SIZE_MAX);
    sk_repo_close(r);
}

TEST(repo_init_refusals)
{
    sk_err_t err;
    /* Not empty. */
    CHECK_EQ(mkdir("full", 0755), 0);
    unit_write_text("full/x", "x");
    sk_err_clear(&err);
    CHECK_EQ(sk_repo_init("full", 65536, 3, &err), -ENOTEMPTY);
    CHECK_EQ(err.code, -ENOTEMPTY);
    CHECK_STR(err.path, "full");
    CHECK_EQ(count_dir("full"), 1);
    /* A hidden file counts too. */
    CHECK_EQ(mkdir("hidden", 0755), 0);
    unit_write_text("hidden/.x", "x");
    sk_err_clear(&err);
    CHECK_EQ(sk_repo_init("hidden", 65536, 3, &err), -ENOTEMPTY);
    /* Already a repository. */
    init_repo("repo", 65536);
    sk_err_clear(&err);
    CHECK_EQ(sk_repo_init("repo", 65536, 3, &err), -EEXIST);
    CHECK_EQ(err.code, -EEXIST);
    /* A file where the folder should be. */
    unit_write_text("file", "f");
    sk_err_clear(&err);
    CHECK(sk_repo_init("file", 65536, 3, &err) < 0);
    CHECK(err.code < 0);

    /* Chunk sizes: powers of two from 4 KiB to 64 MiB only. */
    const uint32_t bad_cs[] = {0, 1, 1000, 2048, 4095, 4097, 65535, 65537, 100000, 3 << 20, 128U << 20, 0x80000000U};
    for (size_t i = 0; i < sizeof(bad_cs) / sizeof(bad_cs[0]); i++) {
        sk_err_clear(&err);
        if (sk_repo_init("bad", bad_cs[i], 3, &err) != -EINVAL)
            unit_fail(__FILE__, __LINE__, "chunk size %u accepted", bad_cs[i]);
        CHECK(!unit_exists("bad"));
    }
    /* Levels 1..19. */
    const int bad_level[] = {-1, 0, 20, 22, 1000};
    for (size_t i = 0; i < sizeof(bad_level) / sizeof(bad_level[0]); i++) {
        sk_err_clear(&err);
        if (sk_repo_init("bad", 65536, bad_level[i], &err) != -EINVAL)
            unit_fail(__FILE__, __LINE__, "level %d accepted", bad_level[i]);
        CHECK(!unit_exists("bad"));
    }
    sk_err_clear(&err);
    CHECK_OK(sk_repo_init("lvl1", 4096, 1, &err), &err);
    CHECK_OK(sk_repo_init("lvl19", 4096, 19, &err), &err);
}

TEST(repo_open_errors)
{
    sk_err_t err;
    sk_repo_t *r = NULL;
    sk_err_clear(&err);
    CHECK_EQ(sk_repo_open("missing", SK_LOCK_SHARED, 0, "t", &r, &err), -ENOENT);
    CHECK(r == NULL);
    CHECK_EQ(err.code, -ENOENT);
    CHECK_STR(err.path, "missing");
    CHECK(err.msg[0] != '\0');

    /* A folder without config is not a repository. */
    CHECK_EQ(mkdir("plain", 0755), 0);
    sk_err_clear(&err);
    CHECK_EQ(sk_repo_open("plain", SK_LOCK_SHARED, 0, "t", &r, &err), -ENOENT);

    struct {
        const char *text;
        int line; /* 0: no line number expected */
    } cfgs[] = {
        {"slotkeeper-repository 1\nchunk-size 65536\nbogus 1\nlevel 3\n", 3},
        {"slotkeeper-repository 2\nchunk-size 65536\nlevel 3\n", 1},
        {"slotkeeper-repository 1\nchunk-size 65535\nlevel 3\n", 2},
        {"slotkeeper-repository 1\nchunk-size 65536\nlevel 0\n", 3},
        {"slotkeeper-repository 1\nlevel 3\nchunk-size 1G\n", 3},
        {"slotkeeper-repository 1\nchunk-size 65536\nlevel 3", 3},
        {"slotkeeper-repository 1\nchunk-size 65536\n", 0},
        {"slotkeeper-repository 1\nchunk-size 65536\nlevel 3\ngolden on\ngolden off\n", 5},
        {"slotkeeper-repository 1\nchunk-size 65536\nlevel 3\ngolden yes\n", 4},
        {"", 0},
    };
    for (size_t i = 0; i < sizeof(cfgs) / sizeof(cfgs[0]); i++) {
        char name[32];
        snprintf(name, sizeof(name), "r%zu", i);
        init_repo(name, 65536);
        char cfg[64];
        snprintf(cfg, sizeof(cfg), "%s/config", name);
        unit_write_text(cfg, cfgs[i].text);
        sk_err_clear(&err);
        r = NULL;
        int rc = sk_repo_open(name, SK_LOCK_SHARED, 0, "t", &r, &err);
        if (rc != -EBADMSG)
            unit_fail(__FILE__, __LINE__, "config %zu: rc %d, want -EBADMSG", i, rc);
        CHECK(r == NULL);
        CHECK_EQ(err.code, -EBADMSG);
        CHECK_STR(err.path, cfg);
        if (cfgs[i].line) {
            char want[32];
            snprintf(want, sizeof(want), "line %d", cfgs[i].line);
            if (!strstr(err.msg, want))
                unit_fail(__FILE__, __LINE__, "config %zu: message \"%s\" does not name %s", i, err.msg, want);
        }
    }

    /* "golden on": the repository keeps a golden copy; sk_repo_set_golden rewrites the config. */
    init_repo("gold", 65536);
    sk_err_clear(&err);
    CHECK_EQ(sk_repo_open("gold", SK_LOCK_SHARED, 0, "t", &r, &err), 0);
    CHECK(!r->golden);
    CHECK_EQ(sk_repo_set_golden(r, true, &err), 0);
    sk_repo_close(r);
    CHECK_EQ(sk_repo_open("gold", SK_LOCK_SHARED, 0, "t", &r, &err), 0);
    CHECK(r->golden);
    CHECK_EQ(r->chunk_size, 65536u);
    CHECK_EQ(sk_repo_set_golden(r, false, &err), 0);
    sk_repo_close(r);
    CHECK_EQ(sk_repo_open("gold", SK_LOCK_SHARED, 0, "t", &r, &err), 0);
    CHECK(!r->golden);
    sk_repo_close(r);

    /* A missing sub-folder is reported with its path. */
    init_repo("nochunks", 65536);
    CHECK_EQ(sk_rm_rf_at(AT_FDCWD, "nochunks/chunks"), 0);
    sk_err_clear(&err);
    CHECK_EQ(sk_repo_open("nochunks", SK_LOCK_SHARED, 0, "t", &r, &err), -ENOENT);
    CHECK_STR(err.path, "nochunks/chunks");
}

struct holder_arg {
    const char *path;
    enum sk_lock_mode mode;
    int exit_after_ms; /* > 0: exit on its own after this long, without waiting for release */
};

static void hold_repo(void *arg, int ready_fd)
{
    struct holder_arg *a = arg;
    sk_err_t err;
    sk_err_clear(&err);
    sk_repo_t *r = NULL;
    if (sk_repo_open(a->path, a->mode, 0, "holder", &r, &err) < 0)
        _exit(2);
    char msg[32];
    snprintf(msg, sizeof(msg), "%ld", (long)getpid());
    unit_child_ready(ready_fd, msg);
    if (a->exit_after_ms > 0) {
        usleep((useconds_t)a->exit_after_ms * 1000);
        _exit(0);
    }
    /* r stays open, with its lock, until the process exits. */
}

TEST(repo_lock_exclusive_vs_shared)
{
    init_repo("repo", 65536);
    sk_err_t err;
    sk_repo_t *r = NULL;

    /* Another process holds the exclusive lock: neither mode can be had with wait 0. */
    struct holder_arg ex = {.path = "repo", .mode = SK_LOCK_EXCLUSIVE};
    unit_child_t c;
    unit_child_start(&c, hold_repo, &ex);
    char pidbuf[32];
    unit_child_wait_ready(&c, pidbuf, sizeof(pidbuf));
    sk_err_clear(&err);
    CHECK_EQ(sk_repo_open("repo", SK_LOCK_SHARED, 0, "t", &r, &err), -EWOULDBLOCK);
    CHECK(r == NULL);
    CHECK_EQ(err.code, -EWOULDBLOCK);
    /* The holder recorded its command and pid in the lock file, and the message shows them. */
    char *lock = unit_read_file("repo/lock", NULL);
    CHECK(strstr(lock, "holder") != NULL);
    CHECK(strstr(lock, pidbuf) != NULL);
    free(lock);
    CHECK(strstr(err.msg, pidbuf) != NULL);
    sk_err_clear(&err);
    CHECK_EQ(sk_repo_open("repo", SK_LOCK_EXCLUSIVE, 0, "t", &r, &err), -EWOULDBLOCK);
    /* Waiting a little does not help while it is held. */
    sk_err_clear(&err);
    double t0 = sk_now();
    CHECK_EQ(sk_repo_open("repo", SK_LOCK_EXCLUSIVE, 200, "t", &r, &err), -EWOULDBLOCK);
    CHECK(sk_now() - t0 >= 0.19);
    int status = unit_child_release(&c);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    sk_err_clear(&err);
    CHECK_OK(sk_repo_open("repo", SK_LOCK_EXCLUSIVE, 0, "t", &r, &err), &err);
    sk_repo_close(r);

    /* Shared holders: more shared ones are fine, exclusive is not. */
    struct holder_arg sh = {.path = "repo", .mode = SK_LOCK_SHARED};
    unit_child_start(&c, hold_repo, &sh);
    unit_child_wait_ready(&c, NULL, 0);
    r = open_repo("repo", SK_LOCK_SHARED);
    sk_repo_close(r);
    sk_err_clear(&err);
    CHECK_EQ(sk_repo_open("repo", SK_LOCK_EXCLUSIVE, 0, "t", &r, &err), -EWOULDBLOCK);
    unit_child_release(&c);
    r = open_repo("repo", SK_LOCK_EXCLUSIVE);
    /* And the other way round: while we hold it exclusively, a child cannot share it. */
    unit_child_start(&c, hold_repo, &sh);
    status = unit_child_release(&c);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 2);
    sk_repo_close(r);
}

TEST(repo_lock_dead_holder_and_wait)
{
    init_repo("repo", 65536);
    sk_err_t err;
    sk_repo_t *r = NULL;

    /* A holder killed with SIGKILL never blocks the repository. */
    struct holder_arg ex = {.path = "repo", .mode = SK_LOCK_EXCLUSIVE};
    unit_child_t c;
    unit_child_start(&c, hold_repo, &ex);
    unit_child_wait_ready(&c, NULL, 0);
    sk_err_clear(&err);
    CHECK_EQ(sk_repo_open("repo", SK_LOCK_SHARED, 0, "t", &r, &err), -EWOULDBLOCK);
    unit_child_kill(&c);
    sk_err_clear(&err);
    CHECK_OK(sk_repo_open("repo", SK_LOCK_SHARED, 0, "t", &r, &err), &err);
    sk_repo_close(r);
    sk_err_clear(&err);
    CHECK_OK(sk_repo_open("repo", SK_LOCK_EXCLUSIVE, 0, "t", &r, &err), &err);
    sk_repo_close(r);

    /* With a wait, the open succeeds once the holder goes away by itself. */
    ex.exit_after_ms = 300;
    unit_child_start(&c, hold_repo, &ex);
    unit_child_wait_ready(&c, NULL, 0);
    double t0 = sk_now();
    sk_err_clear(&err);
    CHECK_OK(sk_repo_open("repo", SK_LOCK_EXCLUSIVE, 10000, "t", &r, &err), &err);
    double waited = sk_now() - t0;
    CHECK(waited >= 0.1 && waited < 5.0);
    sk_repo_close(r);
    unit_child_release(&c);
}

static void begin_session(void *arg, int ready_fd)
{
    const char *path = arg;
    sk_err_t err;
    sk_err_clear(&err);
    sk_repo_t *r = NULL;
    if (sk_repo_open(path, SK_LOCK_SHARED, 0, "writer", &r, &err) < 0 || sk_repo_session_begin(r, &err) < 0)
        _exit(2);
    unit_child_ready(ready_fd, r->sessname);
    /* The session stays open (and locked) until the process exits. */
}

static void crash_in_session(void *arg, int ready_fd)
{
    begin_session(arg, ready_fd);
    _exit(0); /* no session_end: what a crash leaves behind */
}

TEST(repo_sweep_sessions)
{
    init_repo("repo", 65536);
    /* A session whose writer died. */
    unit_child_t dead, live;
    unit_child_start(&dead, crash_in_session, "repo");
    char deadname[64], livename[64];
    unit_child_wait_ready(&dead, deadname, sizeof(deadname));
    unit_child_release(&dead);
    char p[PATH_MAX];
    snprintf(p, sizeof(p), "repo/tmp/%s", deadname);
    CHECK(is_dir(p));
    CHECK(!strncmp(deadname, "s-", 2));
    snprintf(p, sizeof(p), "repo/tmp/%s/staged-chunk", deadname);
    unit_write_text(p, "left over");

    /* A session whose writer is alive. */
    unit_child_start(&live, begin_session, "repo");
    unit_child_wait_ready(&live, livename, sizeof(livename));
    CHECK(strcmp(deadname, livename));

    /* Stale temporary files of atomic writes: a dead pid's go, a live pid's stay. */
    pid_t gone = fork();
    if (gone == 0)
        _exit(0);
    CHECK(gone > 0);
    waitpid(gone, NULL, 0);
    char stale[PATH_MAX], fresh[PATH_MAX];
    snprintf(stale, sizeof(stale), "repo/snapshots/.x.bad.tmp.%ld", (long)gone);
    snprintf(fresh, sizeof(fresh), "repo/snapshots/.y.bad.tmp.%ld", (long)getpid());
    unit_write_text(stale, "s");
    unit_write_text(fresh, "f");

    /* Session folders caught between mkdir and rename: a dead pid's go, a live pid's
     * stay unless they are older than an hour. */
    char newdead[PATH_MAX], newlive[PATH_MAX], newold[PATH_MAX];
    snprintf(newdead, sizeof(newdead), "repo/tmp/new-%ld-0000abcd", (long)gone);
    snprintf(newlive, sizeof(newlive), "repo/tmp/new-%ld-0000abcd", (long)getpid());
    snprintf(newold, sizeof(newold), "repo/tmp/new-%ld-0000ef01", (long)getpid());
    CHECK_EQ(mkdir(newdead, 0700), 0);
    CHECK_EQ(mkdir(newlive, 0700), 0);
    CHECK_EQ(mkdir(newold, 0700), 0);
    struct timeval old_times[2] = {{.tv_sec = time(NULL) - 7200}, {.tv_sec = time(NULL) - 7200}};
    CHECK_EQ(utimes(newold, old_times), 0);

    sk_repo_t *r = open_repo("repo", SK_LOCK_SHARED);
    int removed = sk_repo_sweep(r);
    CHECK_EQ(removed, 4);
    CHECK(!unit_exists(newdead));
    CHECK(is_dir(newlive));
    CHECK(!unit_exists(newold));
    CHECK_EQ(rmdir(newlive), 0);
    snprintf(p, sizeof(p), "repo/tmp/%s", deadname);
    CHECK(!unit_exists(p));
    snprintf(p, sizeof(p), "repo/tmp/%s", livename);
    CHECK(is_dir(p));
    CHECK(!unit_exists(stale));
    CHECK(unit_exists(fresh));

    /* Our own session is never swept; once the live writer exits, its session goes too. */
    sk_err_t err;
    sk_err_clear(&err);
    CHECK_OK(sk_repo_session_begin(r, &err), &err);
    char ours[64];
    snprintf(ours, sizeof(ours), "%s", r->sessname);
    CHECK_EQ(sk_repo_sweep(r), 0);
    unit_child_kill(&live);
    CHECK_EQ(sk_repo_sweep(r), 1);
    snprintf(p, sizeof(p), "repo/tmp/%s", livename);
    CHECK(!unit_exists(p));
    snprintf(p, sizeof(p), "repo/tmp/%s", ours);
    CHECK(is_dir(p));
    sk_repo_session_end(r);
    CHECK(!unit_exists(p));
    CHECK_EQ(count_dir("repo/tmp"), 0);
    sk_repo_close(r);
}

TEST(repo_chunks_stage_and_publish)
{
    init_repo("repo", 65536);
    sk_repo_t *r = open_repo("repo", SK_LOCK_SHARED);
    sk_err_t err;
    sk_err_clear(&err);
    sk_hash_t h;
    sk_hash_compute("chunk", 5, &h);
    char rel[64];
    sk_repo_chunk_relpath(&h, rel, sizeof(rel));
    char hex[SK_HASH_HEX_LEN + 1];
    sk_hash_hex(&h, hex);
    char want[64];
    snprintf(want, sizeof(want), "chunks/%.2s/%s", hex, hex);
    CHECK_STR(rel, want);

    CHECK_EQ(sk_repo_chunk_stat(r, &h, NULL), 0);
    CHECK_OK(sk_repo_session_begin(r, &err), &err);
    CHECK_OK(sk_repo_chunk_stage(r, &h, "frame-bytes", 11, &err), &err);
    /* Staged is not visible. */
    CHECK_EQ(sk_repo_chunk_stat(r, &h, NULL), 0);
    CHECK_OK(sk_repo_chunk_sync(r, &h, &err), &err);
    CHECK_OK(sk_repo_chunk_publish(r, &h, &err), &err);
    bool touched[256] = {false};
    touched[h.b[0]] = true;
    CHECK_OK(sk_repo_chunk_dirs_sync(r, touched, &err), &err);
    uint32_t csize = 0;
    CHECK_EQ(sk_repo_chunk_stat(r, &h, &csize), 1);
    CHECK_EQ(csize, 11);
    void *buf = NULL;
    size_t cap = 0, len = 0;
    CHECK_EQ(sk_repo_chunk_read(r, &h, &buf, &cap, &len), 0);
    CHECK_EQ(len, 11);
    CHECK(cap >= 11 && !memcmp(buf, "frame-bytes", 11));
    sk_hash_t other;
    sk_hash_compute("other", 5, &other);
    CHECK_EQ(sk_repo_chunk_read(r, &other, &buf, &cap, &len), -ENOENT);
    free(buf);
    sk_repo_session_end(r);
    /* An empty chunk file does not count as stored. */
    sk_repo_chunk_relpath(&other, rel, sizeof(rel));
    char p[PATH_MAX];
    snprintf(p, sizeof(p), "repo/%s", rel);
    unit_write_file(p, "", 0);
    CHECK_EQ(sk_repo_chunk_stat(r, &other, NULL), 0);
    sk_repo_close(r);
}

TEST(repo_bad_markers)
{
    init_repo("repo", 65536);
    sk_repo_t *r = open_repo("repo", SK_LOCK_SHARED);
    char reason[256] = "untouched";
    CHECK_EQ(sk_repo_is_bad(r, "20260101T000000Z-000001-0000", reason, sizeof(reason)), 0);
    CHECK_EQ(sk_repo_mark_bad(r, "20260101T000000Z-000001-0000", "damaged chunks/ab/x (chunk 3 of blocks/blocks.log)"),
             0);
    CHECK_EQ(sk_repo_is_bad(r, "20260101T000000Z-000001-0000", reason, sizeof(reason)), 1);
    CHECK_STR(reason, "damaged chunks/ab/x (chunk 3 of blocks/blocks.log)");
    CHECK_EQ(sk_repo_is_bad(r, "20260101T000000Z-000001-0000", NULL, 0), 1);
    CHECK(is_file("repo/snapshots/20260101T000000Z-000001-0000.bad"));
    /* Marking again replaces the reason; only its first line is reported. */
    CHECK_EQ(sk_repo_mark_bad(r, "20260101T000000Z-000001-0000", "first line\nsecond line"), 0);
    CHECK_EQ(sk_repo_is_bad(r, "20260101T000000Z-000001-0000", reason, sizeof(reason)), 1);
    CHECK_STR(reason, "first line");
    /* A small reason buffer is truncated, not overrun. */
    char small[6];
    CHECK_EQ(sk_repo_is_bad(r, "20260101T000000Z-000001-0000", small, sizeof(small)), 1);
    CHECK_STR(small, "first");
    /* Other snapshots are unaffected; no temporary files are left. */
    CHECK_EQ(sk_repo_is_bad(r, "20260101T000000Z-000002-0000", NULL, 0), 0);
    CHECK_EQ(count_dir("repo/snapshots"), 1);
    /* Removing the snapshot removes its marker. */
    sk_err_t err;
    sk_err_clear(&err);
    CHECK_OK(sk_repo_snapshot_remove(r, "20260101T000000Z-000001-0000", &err), &err);
    CHECK_EQ(sk_repo_is_bad(r, "20260101T000000Z-000001-0000", NULL, 0), 0);
    CHECK_EQ(count_dir("repo/snapshots"), 0);
    sk_repo_close(r);
}

TEST(repo_list_ids)
{
    init_repo("repo", 65536);
    const char *names[] = {"20260101T000000Z-000000-bbbb",
                           "20250101T000000Z-000000-aaaa",
                           "b",
                           "a",
                           "20260101T000000Z-000000-aaaa",
                           ".x",
                           "a.bad",
                           ".a.bad.tmp.123",
                           "x.manifest",
                           "-dash",
                           "has space",
                           "20250101T000000Z-000000-aaaa.bad"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        char p[PATH_MAX];
        snprintf(p, sizeof(p), "repo/snapshots/%s", names[i]);
        unit_write_text(p, "not a manifest\n");
    }
    sk_repo_t *r = open_repo("repo", SK_LOCK_SHARED);
    sk_err_t err;
    sk_err_clear(&err);
    char **ids = NULL;
    size_t n = 0;
    CHECK_OK(sk_repo_list_ids(r, &ids, &n, &err), &err);
    /* Only slotkeeper's ids: "a", "b" and the rest are not snapshots. */
    const char *want[] = {"20250101T000000Z-000000-aaaa", "20260101T000000Z-000000-aaaa",
                          "20260101T000000Z-000000-bbbb"};
    CHECK_EQ(n, sizeof(want) / sizeof(want[0]));
    for (size_t i = 0; i < n; i++)
        CHECK_STR(ids[i], want[i]);
    sk_repo_ids_free(ids, n);

    /* An empty repository lists nothing. */
    init_repo("empty", 65536);
    sk_repo_t *e = open_repo("empty", SK_LOCK_SHARED);
    ids = NULL;
    n = 99;
    CHECK_OK(sk_repo_list_ids(e, &ids, &n, &err), &err);
    CHECK_EQ(n, 0);
    sk_repo_ids_free(ids, n);
    sk_repo_close(e);

    /* What is listed but does not parse is corrupt; an invalid id is refused outright. */
    sk_manifest_t *m = NULL;
    sk_err_clear(&err);
    CHECK_EQ(sk_repo_manifest_load(r, "20250101T000000Z-000000-aaaa", &m, &err), -EBADMSG);
    CHECK_STR(err.path, "repo/snapshots/20250101T000000Z-000000-aaaa");
    sk_err_clear(&err);
    CHECK_EQ(sk_repo_manifest_load(r, "20240101T000000Z-000000-aaaa", &m, &err), -ENOENT);
    sk_err_clear(&err);
    CHECK_EQ(sk_repo_manifest_load(r, "a", &m, &err), -EINVAL);
    sk_err_clear(&err);
    CHECK_EQ(sk_repo_manifest_load(r, "../config", &m, &err), -EINVAL);
    sk_repo_close(r);
}

/* Writes a valid, checksummed manifest with the given id into repo/snapshots/<name>. */
static void put_manifest(const char *name, const char *id)
{
    sk_manifest_t *m = sk_manifest_new();
    CHECK(m);
    snprintf(m->id, sizeof(m->id), "%s", id);
    m->chunk_size = 65536;
    m->time = 1700000000;
    CHECK_EQ(sk_manifest_add_include(m, "blocks"), 0);
    sk_mentry_t e = {.type = 'd', .path = "blocks", .mode = 0755};
    CHECK(sk_manifest_add_entry(m, &e) >= 0);
    char *buf;
    size_t len;
    CHECK_EQ(sk_manifest_serialize(m, &buf, &len), 0);
    char p[PATH_MAX];
    snprintf(p, sizeof(p), "repo/snapshots/%s", name);
    unit_write_file(p, buf, len);
    free(buf);
    sk_manifest_free(m);
}

TEST(repo_latest_good)
{
    init_repo("repo", 65536);
    sk_repo_t *r = open_repo("repo", SK_LOCK_SHARED);
    sk_err_t err;
    sk_manifest_t *m = NULL;
    sk_err_clear(&err);
    CHECK_EQ(sk_repo_latest_good(r, &m, &err), -ENOENT);

    put_manifest("20261201T000001Z-000000-0001", "20261201T000001Z-000000-0001");
    put_manifest("20261201T000002Z-000000-0002", "20261201T000002Z-000000-0002");
    put_manifest("20261201T000003Z-000000-0003",
                 "20261201T000003Z-000000-0009"); /* id does not match its name: corrupt */
    unit_write_text("repo/snapshots/20261201T000004Z-000000-0004", "garbage\n");
    put_manifest("20261201T000005Z-000000-0005", "20261201T000005Z-000000-0005");
    CHECK_EQ(sk_repo_mark_bad(r, "20261201T000005Z-000000-0005", "marked by the test"), 0);

    sk_err_clear(&err);
    CHECK_OK(sk_repo_latest_good(r, &m, &err), &err);
    CHECK_STR(m->id, "20261201T000002Z-000000-0002");
    sk_manifest_free(m);
    /* The corrupt ones met on the way are now marked bad; the marked one kept its reason. The
     * garbage one tells no head block or time, so it sorts oldest and is not met. */
    char reason[256];
    CHECK_EQ(sk_repo_is_bad(r, "20261201T000004Z-000000-0004", reason, sizeof(reason)), 0);
    CHECK_EQ(sk_repo_is_bad(r, "20261201T000003Z-000000-0003", reason, sizeof(reason)), 1);
    CHECK_EQ(sk_repo_is_bad(r, "20261201T000005Z-000000-0005", reason, sizeof(reason)), 1);
    CHECK_STR(reason, "marked by the test");
    CHECK_EQ(sk_repo_is_bad(r, "20261201T000002Z-000000-0002", NULL, 0), 0);
    CHECK_EQ(sk_repo_is_bad(r, "20261201T000001Z-000000-0001", NULL, 0), 0);
    sk_repo_close(r);
}
