/*
 * test_snapshot: snapshot, restore, verify and prune in-process on a small
 * data-dir (a 3 MiB block log of random, repeated and zero data, a sparse
 * 64 MiB shared_memory.bin, links, odd names): byte-for-byte and metadata
 * equal restores that keep holes, deduplication, quarantine of replaced
 * folders, damaged chunks caught by verify and by restore (which then leaves
 * the slot untouched), and retention with garbage collection.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "slotkeeper/fsutil.h"
#include "slotkeeper/hashset.h"
#include "slotkeeper/manifest.h"
#include "slotkeeper/pool.h"
#include "slotkeeper/prune.h"
#include "slotkeeper/repo.h"
#include "slotkeeper/restore.h"
#include "slotkeeper/snapshot.h"
#include "slotkeeper/verify.h"
#include "unit.h"

#define KIB       (1024ULL)
#define MIB       (1024ULL * 1024)
#define CS        (64 * 1024)
#define FORK_LEN  100000
#define INDEX_LEN 12345

/* ---- fixtures ------------------------------------------------------------ */

static void set_mtime(const char *path, long long sec, long nsec)
{
    struct timespec ts[2] = {{.tv_sec = sec, .tv_nsec = nsec}, {.tv_sec = sec, .tv_nsec = nsec}};
    if (utimensat(AT_FDCWD, path, ts, AT_SYMLINK_NOFOLLOW) < 0)
        unit_fail(__FILE__, __LINE__, "utimensat(%s): %s", path, strerror(errno));
}

static void mkdir_in(const char *dir, const char *name, mode_t mode)
{
    char p[PATH_MAX];
    snprintf(p, sizeof(p), "%s/%s", dir, name);
    if (mkdir(p, mode) < 0 || chmod(p, mode) < 0)
        unit_fail(__FILE__, __LINE__, "mkdir(%s): %s", p, strerror(errno));
}

static void write_in(const char *dir, const char *name, const void *data, size_t len, mode_t mode)
{
    char p[PATH_MAX];
    snprintf(p, sizeof(p), "%s/%s", dir, name);
    unit_write_file(p, data, len);
    CHECK_EQ(chmod(p, mode), 0);
}

static void link_in(const char *dir, const char *name, const char *target)
{
    char p[PATH_MAX];
    snprintf(p, sizeof(p), "%s/%s", dir, name);
    if (symlink(target, p) < 0)
        unit_fail(__FILE__, __LINE__, "symlink(%s): %s", p, strerror(errno));
}

static void mtime_in(const char *dir, const char *name, long long sec, long nsec)
{
    char p[PATH_MAX];
    snprintf(p, sizeof(p), "%s/%s", dir, name);
    set_mtime(p, sec, nsec);
}

/* A small nodeos-like data-dir. */
static void make_datadir(const char *dir)
{
    uint64_t seed = 2026;
    CHECK_EQ(mkdir(dir, 0755), 0);
    mkdir_in(dir, "blocks", 0755);
    mkdir_in(dir, "blocks/reversible", 0750);
    mkdir_in(dir, "state", 0755);

    /* blocks.log: 1 MiB random, one random 64 KiB block 16 times, 512 KiB of written
     * zeros, 512 KiB random. */
    unsigned char *log = malloc(3 * MIB);
    CHECK(log);
    unit_fill_random(log, MIB, &seed);
    unit_fill_random(log + MIB, CS, &seed);
    for (int i = 1; i < 16; i++)
        memcpy(log + MIB + (size_t)i * CS, log + MIB, CS);
    memset(log + 2 * MIB, 0, 512 * KIB);
    unit_fill_random(log + 2 * MIB + 512 * KIB, 512 * KIB, &seed);
    write_in(dir, "blocks/blocks.log", log, 3 * MIB, 0640);
    free(log);

    unsigned char *idx = malloc(INDEX_LEN);
    CHECK(idx);
    for (size_t i = 0; i < INDEX_LEN; i++)
        idx[i] = (unsigned char)(i * 7 + i / 256);
    write_in(dir, "blocks/blocks.index", idx, INDEX_LEN, 0600);
    free(idx);

    unsigned char *fork = malloc(FORK_LEN);
    CHECK(fork);
    for (size_t i = 0; i < FORK_LEN; i++)
        fork[i] = (unsigned char)"forkdb!"[i % 7];
    write_in(dir, "blocks/reversible/fork_db.dat", fork, FORK_LEN, 0644);
    free(fork);
    write_in(dir, "blocks/odd name %.txt", "hello\n", 6, 0444);
    write_in(dir, "blocks/empty", "", 0, 0644);
    link_in(dir, "blocks/reversible/dangling", "no-such-file");

    /* state/shared_memory.bin: 64 MiB sparse, 2 MiB of data at 1 MiB, 4 KiB at 40 MiB. */
    char p[PATH_MAX];
    snprintf(p, sizeof(p), "%s/state/shared_memory.bin", dir);
    int fd = open(p, O_RDWR | O_CREAT | O_TRUNC, 0600);
    CHECK(fd >= 0);
    CHECK_EQ(ftruncate(fd, (off_t)(64 * MIB)), 0);
    unsigned char *st = malloc(2 * MIB);
    CHECK(st);
    unit_fill_random(st, 2 * MIB, &seed);
    CHECK_EQ(sk_pwrite_all(fd, st, 2 * MIB, (off_t)MIB), 0);
    unit_fill_random(st, 4 * KIB, &seed);
    CHECK_EQ(sk_pwrite_all(fd, st, 4 * KIB, (off_t)(40 * MIB)), 0);
    free(st);
    CHECK_EQ(fsync(fd), 0);
    close(fd);
    link_in(dir, "state/link", "shared_memory.bin");
    write_in(dir, "config.ini", "# not included\n", 15, 0644);

    /* Times with nanoseconds; folders last, since creating entries changes them. */
    mtime_in(dir, "blocks/blocks.log", 1700000001, 123456789);
    mtime_in(dir, "blocks/blocks.index", 1700000002, 0);
    mtime_in(dir, "blocks/reversible/fork_db.dat", 1700000003, 999999999);
    mtime_in(dir, "blocks/odd name %.txt", 1600000000, 1);
    mtime_in(dir, "blocks/empty", 1700000004, 5);
    mtime_in(dir, "blocks/reversible/dangling", 1700000005, 6);
    mtime_in(dir, "state/shared_memory.bin", 1700000006, 7);
    mtime_in(dir, "state/link", 1700000007, 8);
    mtime_in(dir, "blocks/reversible", 1700000008, 9);
    mtime_in(dir, "blocks", 1700000009, 10);
    mtime_in(dir, "state", 1700000010, 11);
}

/* Expected stats of make_datadir with 64 KiB chunks. */
#define DD_FILES   6
#define DD_LOGICAL (3 * MIB + INDEX_LEN + FORK_LEN + 6 + 0 + 64 * MIB)
#define DD_DATA    ((3 * MIB - 512 * KIB) + INDEX_LEN + FORK_LEN + 6 + (2 * MIB + CS))
#define DD_CHUNKS  (16 + 1 + 8 + 1 + 2 + 1 + 32 + 1)

/* A slot that a restore will replace parts of, identical every time it is made. */
static void make_slot(const char *dir)
{
    CHECK_EQ(mkdir(dir, 0755), 0);
    mkdir_in(dir, "blocks", 0755);
    mkdir_in(dir, "state", 0700);
    mkdir_in(dir, "logs", 0755);
    write_in(dir, "config.ini", "plugin = eosio::chain_plugin\n", 29, 0644);
    write_in(dir, "logs/x", "log line\n", 9, 0644);
    write_in(dir, "blocks/old.log", "old blocks", 10, 0644);
    write_in(dir, "state/shared_memory.bin", "old state", 9, 0600);
    write_in(dir, "state/old", "o", 1, 0600);
    mtime_in(dir, "config.ini", 1500000000, 1);
    mtime_in(dir, "logs/x", 1500000001, 2);
    mtime_in(dir, "blocks/old.log", 1500000002, 3);
    mtime_in(dir, "state/shared_memory.bin", 1500000003, 4);
    mtime_in(dir, "state/old", 1500000004, 5);
    mtime_in(dir, "logs", 1500000005, 6);
    mtime_in(dir, "blocks", 1500000006, 7);
    mtime_in(dir, "state", 1500000007, 8);
}

static const char *const no_meta[] = {SK_SLOT_META_DIR, NULL};

/* slot is exactly what make_slot made (ref), apart from its own .slotkeeper folder. */
static void check_slot_untouched(const char *slot, const char *ref)
{
    unit_compare_trees(slot, ref, false, no_meta);
    const char *items[] = {"blocks", "state", "logs", "config.ini"};
    for (size_t i = 0; i < sizeof(items) / sizeof(items[0]); i++) {
        char a[PATH_MAX], b[PATH_MAX];
        snprintf(a, sizeof(a), "%s/%s", slot, items[i]);
        snprintf(b, sizeof(b), "%s/%s", ref, items[i]);
        unit_compare_trees(a, b, true, NULL);
    }
    char p[PATH_MAX];
    snprintf(p, sizeof(p), "%s/%s", slot, SK_RESTORE_MARKER);
    CHECK(!unit_exists(p));
    snprintf(p, sizeof(p), "%s/%s", slot, SK_STAGING_DIR);
    CHECK(!unit_exists(p));
}

static sk_repo_t *new_repo(const char *path, enum sk_lock_mode mode)
{
    sk_err_t err;
    sk_err_clear(&err);
    CHECK_OK(sk_repo_init_ex(path, CS, CS, 3, &err), &err);
    sk_repo_t *r = NULL;
    CHECK_OK(sk_repo_open(path, mode, 0, "unit-test", &r, &err), &err);
    return r;
}

static const char *const includes[] = {"blocks", "state"};

static void take_snapshot(sk_repo_t *r, const char *dir, sk_snapshot_result_t *res)
{
    sk_fact_t facts[] = {{.key = "nodeos.version", .value = "v5.0.3"},
                         {.key = "note", .value = "spaces, 100% and\na newline"}};
    sk_snapshot_opts_t o = {
        .data_dir = dir, .include = includes, .ninclude = 2, .threads = 2, .facts = facts, .nfacts = 2};
    sk_err_t err;
    sk_err_clear(&err);
    CHECK_OK(sk_snapshot_create(r, &o, NULL, res, &err), &err);
    CHECK(sk_id_valid(res->id));
}

static int do_restore(sk_repo_t *r, const char *dir, const char *id, unsigned keep, sk_restore_result_t *res,
                      sk_err_t *err)
{
    sk_restore_opts_t o = {.data_dir = dir, .snapshot = id, .threads = 2, .keep = keep};
    sk_err_clear(err);
    return sk_restore(r, &o, NULL, res, err);
}

/* The full path (staging and swap), whose quarantine keeps the replaced folders whole. */
static int do_restore_full(sk_repo_t *r, const char *dir, const char *id, unsigned keep, sk_restore_result_t *res,
                           sk_err_t *err)
{
    sk_restore_opts_t o = {.data_dir = dir, .snapshot = id, .threads = 2, .keep = keep, .full = true};
    sk_err_clear(err);
    return sk_restore(r, &o, NULL, res, err);
}

static long long blocks_of(const char *path)
{
    struct stat st;
    CHECK_EQ(lstat(path, &st), 0);
    return (long long)st.st_blocks;
}

/* Number of chunk files and their total size. */
static int count_chunks(const char *repo, uint64_t *bytes)
{
    int n = 0;
    *bytes = 0;
    for (int i = 0; i < 256; i++) {
        char p[PATH_MAX];
        snprintf(p, sizeof(p), "%s/chunks/%02x", repo, i);
        DIR *d = opendir(p);
        CHECK(d != NULL);
        struct dirent *de;
        while ((de = readdir(d)) != NULL) {
            if (de->d_name[0] == '.')
                continue;
            char f[PATH_MAX];
            snprintf(f, sizeof(f), "%s/%s", p, de->d_name);
            struct stat st;
            CHECK_EQ(stat(f, &st), 0);
            *bytes += (uint64_t)st.st_size;
            n++;
        }
        closedir(d);
    }
    return n;
}

static int count_dir(const char *path)
{
    DIR *d = opendir(path);
    if (!d)
        return -1;
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL)
        if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
            n++;
    closedir(d);
    return n;
}

static const sk_mentry_t *find_entry(const sk_manifest_t *m, const char *path)
{
    for (size_t i = 0; i < m->nentries; i++)
        if (!strcmp(m->entries[i].path, path))
            return &m->entries[i];
    unit_fail(__FILE__, __LINE__, "no entry %s in the manifest", path);
}

/* ---- snapshot and restore -------------------------------------------------- */

TEST(snapshot_restore_round_trip)
{
    make_datadir("data");
    char data[PATH_MAX], out[PATH_MAX];
    snprintf(data, sizeof(data), "%s", unit_abs("data", 0));
    snprintf(out, sizeof(out), "%s", unit_abs("restored", 0));
    sk_repo_t *r = new_repo("repo", SK_LOCK_SHARED);

    sk_snapshot_result_t s;
    take_snapshot(r, data, &s);
    CHECK_EQ(s.files, DD_FILES);
    CHECK_EQ(s.logical_bytes, DD_LOGICAL);
    CHECK_EQ(s.data_bytes, DD_DATA);
    CHECK_EQ(s.chunks, DD_CHUNKS);
    CHECK_EQ(s.new_chunks, DD_CHUNKS);
    CHECK_EQ(s.new_bytes, s.stored_bytes);
    uint64_t bytes;
    CHECK_EQ(count_chunks("repo", &bytes), DD_CHUNKS);
    CHECK_EQ(bytes, s.stored_bytes);
    /* Only random data is stored at its size: the repeated and zero parts cost (almost) nothing. */
    CHECK(s.stored_bytes < DD_DATA);
    CHECK_EQ(count_dir("repo/tmp"), 0);

    /* The manifest says what the data-dir holds. */
    sk_err_t err;
    sk_err_clear(&err);
    sk_manifest_t *m = NULL;
    CHECK_OK(sk_repo_manifest_load(r, s.id, &m, &err), &err);
    CHECK_STR(m->id, s.id);
    CHECK_EQ(m->chunk_size, CS);
    CHECK_EQ(m->ninclude, 2);
    CHECK_EQ(m->nentries, 11);
    CHECK_STR(sk_manifest_fact(m, "nodeos.version"), "v5.0.3");
    CHECK_STR(sk_manifest_fact(m, "note"), "spaces, 100% and\na newline");
    CHECK_EQ(m->files, s.files);
    CHECK_EQ(m->data_bytes, s.data_bytes);
    CHECK_EQ(m->stored_bytes, s.stored_bytes);
    const sk_mentry_t *e = find_entry(m, "state/shared_memory.bin");
    CHECK_EQ(e->type, 'f');
    CHECK_EQ(e->size, 64 * MIB);
    CHECK_EQ(e->mode, 0600);
    CHECK_EQ(e->mtime_sec, 1700000006);
    CHECK_EQ(e->mtime_nsec, 7);
    CHECK_EQ(e->nchunks, 33);
    CHECK_EQ(e->chunks[0].index, 16);
    CHECK_EQ(e->chunks[32].index, 640);
    e = find_entry(m, "blocks/blocks.log");
    CHECK_EQ(e->nchunks, 48 - 8);
    e = find_entry(m, "state/link");
    CHECK_EQ(e->type, 'l');
    CHECK_STR(e->target, "shared_memory.bin");
    e = find_entry(m, "blocks/odd name %.txt");
    CHECK_EQ(e->mode, 0444);
    sk_manifest_free(m);

    /* Restore into a folder that does not exist yet. */
    sk_restore_result_t rr;
    CHECK_OK(do_restore(r, out, s.id, SK_QUARANTINE_KEEP, &rr, &err), &err);
    CHECK_STR(rr.id, s.id);
    CHECK_EQ(rr.files, DD_FILES);
    CHECK_EQ(rr.data_bytes, DD_DATA);
    CHECK(!rr.resumed);
    CHECK_STR(rr.quarantine, "");
    unit_compare_trees("data/blocks", "restored/blocks", true, NULL);
    unit_compare_trees("data/state", "restored/state", true, NULL);
    CHECK(!unit_exists("restored/config.ini"));
    CHECK(!unit_exists("restored/" SK_RESTORE_MARKER));
    CHECK(!unit_exists("restored/" SK_STAGING_DIR));
    CHECK(count_dir("restored/" SK_QUARANTINE_DIR) <= 0);

    /* Holes stay holes: the restored state file allocates what the original does. */
    long long ob = blocks_of("data/state/shared_memory.bin"), rb = blocks_of("restored/state/shared_memory.bin");
    if (rb != ob)
        unit_note("shared_memory.bin: %lld blocks restored, %lld in the original", rb, ob);
    CHECK(rb <= ob + (long long)(CS / 512));
    CHECK(rb < (long long)(4 * MIB / 512));
    sk_repo_close(r);
}

TEST(snapshot_dedup_second_run)
{
    make_datadir("data");
    char data[PATH_MAX];
    snprintf(data, sizeof(data), "%s", unit_abs("data", 0));
    sk_repo_t *r = new_repo("repo", SK_LOCK_SHARED);
    sk_snapshot_result_t a, b, c;
    take_snapshot(r, data, &a);
    uint64_t bytes_a, bytes_b;
    int na = count_chunks("repo", &bytes_a);

    take_snapshot(r, data, &b);
    CHECK(strcmp(a.id, b.id));
    CHECK_EQ(b.new_bytes, 0);
    CHECK_EQ(b.new_chunks, 0);
    CHECK_EQ(b.stored_bytes, a.stored_bytes);
    CHECK_EQ(b.chunks, a.chunks);
    CHECK_EQ(b.data_bytes, a.data_bytes);
    CHECK_EQ(count_chunks("repo", &bytes_b), na);
    CHECK_EQ(bytes_b, bytes_a);

    /* One changed 4 KiB page costs one chunk. */
    int fd = open("data/blocks/blocks.log", O_WRONLY);
    CHECK(fd >= 0);
    CHECK_EQ(sk_pwrite_all(fd, "changed!", 8, (off_t)(2 * MIB + 512 * KIB + 100)), 0);
    close(fd);
    take_snapshot(r, data, &c);
    CHECK_EQ(c.new_chunks, 1);
    CHECK(c.new_bytes > 0 && c.new_bytes <= CS + 1024);
    CHECK_EQ(c.chunks, a.chunks);
    CHECK_EQ(count_chunks("repo", &bytes_b), na + 1);

    sk_err_t err;
    sk_err_clear(&err);
    char **ids;
    size_t n;
    CHECK_OK(sk_repo_list_ids(r, &ids, &n, &err), &err);
    CHECK_EQ(n, 3);
    sk_repo_ids_free(ids, n);
    sk_repo_close(r);
}

TEST(restore_full_quarantines_replaced_folders)
{
    make_datadir("data");
    make_slot("slot");
    make_slot("slot-ref");
    char data[PATH_MAX], slot[PATH_MAX];
    snprintf(data, sizeof(data), "%s", unit_abs("data", 0));
    snprintf(slot, sizeof(slot), "%s", unit_abs("slot", 0));
    sk_repo_t *r = new_repo("repo", SK_LOCK_SHARED);
    sk_snapshot_result_t s;
    take_snapshot(r, data, &s);

    sk_restore_result_t rr;
    sk_err_t err;
    CHECK_OK(do_restore_full(r, slot, s.id, 1, &rr, &err), &err);
    unit_compare_trees("data/blocks", "slot/blocks", true, NULL);
    unit_compare_trees("data/state", "slot/state", true, NULL);
    /* What is not included is not touched. */
    unit_compare_trees("slot-ref/config.ini", "slot/config.ini", true, NULL);
    unit_compare_trees("slot-ref/logs", "slot/logs", true, NULL);
    CHECK(!unit_exists("slot/" SK_RESTORE_MARKER));
    CHECK(!unit_exists("slot/" SK_STAGING_DIR));

    /* The replaced folders are in .slotkeeper/quarantine/<stamp>/, whole. */
    CHECK_EQ(count_dir("slot/" SK_QUARANTINE_DIR), 1);
    char qdir[PATH_MAX];
    DIR *d = opendir("slot/" SK_QUARANTINE_DIR);
    CHECK(d != NULL);
    struct dirent *de;
    qdir[0] = '\0';
    while ((de = readdir(d)) != NULL)
        if (de->d_name[0] != '.')
            snprintf(qdir, sizeof(qdir), "slot/%s/%s", SK_QUARANTINE_DIR, de->d_name);
    closedir(d);
    CHECK(qdir[0] != '\0');
    char want[PATH_MAX];
    snprintf(want, sizeof(want), "%s", unit_abs(qdir, 0));
    CHECK_STR(rr.quarantine, want);
    char p[PATH_MAX], q[PATH_MAX];
    snprintf(p, sizeof(p), "%s/blocks", qdir);
    unit_compare_trees("slot-ref/blocks", p, true, NULL);
    snprintf(p, sizeof(p), "%s/state", qdir);
    unit_compare_trees("slot-ref/state", p, true, NULL);
    CHECK_EQ(count_dir(qdir), 2);

    /* Restoring again keeps only the newest replaced copy (keep 1)... */
    CHECK_OK(do_restore_full(r, slot, s.id, 1, &rr, &err), &err);
    CHECK_EQ(count_dir("slot/" SK_QUARANTINE_DIR), 1);
    CHECK(strcmp(rr.quarantine, want));
    snprintf(q, sizeof(q), "%s/blocks", rr.quarantine);
    unit_compare_trees("data/blocks", q, true, NULL);
    unit_compare_trees("data/blocks", "slot/blocks", true, NULL);
    unit_compare_trees("data/state", "slot/state", true, NULL);

    /* ...and with quarantine_delete nothing is kept. */
    sk_restore_opts_t o = {
        .data_dir = slot, .snapshot = "latest", .threads = 1, .keep = 1, .quarantine_delete = true, .full = true};
    sk_err_clear(&err);
    CHECK_OK(sk_restore(r, &o, NULL, &rr, &err), &err);
    CHECK_STR(rr.quarantine, "");
    CHECK(count_dir("slot/" SK_QUARANTINE_DIR) <= 0);
    unit_compare_trees("data/state", "slot/state", true, NULL);
    unit_compare_trees("slot-ref/config.ini", "slot/config.ini", true, NULL);
    sk_repo_close(r);
}

TEST(restore_refuses_symlinked_folder_and_bad_ids)
{
    make_datadir("data");
    char data[PATH_MAX], slot[PATH_MAX];
    snprintf(data, sizeof(data), "%s", unit_abs("data", 0));
    snprintf(slot, sizeof(slot), "%s", unit_abs("slot", 0));
    sk_repo_t *r = new_repo("repo", SK_LOCK_SHARED);
    sk_snapshot_result_t s;
    take_snapshot(r, data, &s);
    sk_restore_result_t rr;
    sk_err_t err;

    CHECK_EQ(mkdir("slot", 0755), 0);
    CHECK_EQ(mkdir("elsewhere", 0755), 0);
    unit_write_text("elsewhere/keep", "k");
    CHECK_EQ(symlink("../elsewhere", "slot/blocks"), 0);
    CHECK_EQ(do_restore(r, slot, s.id, 1, &rr, &err), -EINVAL);
    CHECK(unit_exists("elsewhere/keep"));
    CHECK_EQ(count_dir("elsewhere"), 1);
    CHECK(!unit_exists("slot/" SK_RESTORE_MARKER));
    CHECK_EQ(unlink("slot/blocks"), 0);

    CHECK_EQ(do_restore(r, slot, "20200101T000000Z-000000-0000", 1, &rr, &err), -ENOENT);
    CHECK_EQ(do_restore(r, slot, "no-such-snapshot", 1, &rr, &err), -EINVAL);
    CHECK_EQ(do_restore(r, slot, "../../etc", 1, &rr, &err), -EINVAL);
    CHECK(!unit_exists("slot/blocks"));
    CHECK(!unit_exists("slot/state"));
    sk_repo_close(r);
}

struct lock_arg {
    const char *path;
};

static void hold_state_lock(void *arg, int ready_fd)
{
    struct lock_arg *a = arg;
    int fd = open(a->path, O_RDWR);
    struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
    if (fd < 0 || fcntl(fd, F_SETLK, &fl) < 0)
        _exit(2);
    unit_child_ready(ready_fd, NULL);
}

TEST(snapshot_and_restore_refuse_running_node)
{
    make_datadir("data");
    make_slot("slot");
    make_slot("slot-ref");
    char data[PATH_MAX], slot[PATH_MAX];
    snprintf(data, sizeof(data), "%s", unit_abs("data", 0));
    snprintf(slot, sizeof(slot), "%s", unit_abs("slot", 0));
    sk_repo_t *r = new_repo("repo", SK_LOCK_SHARED);

    /* A "nodeos" holds the data-dir's state lock: the snapshot is refused. */
    struct lock_arg la = {.path = "data/state/shared_memory.bin"};
    unit_child_t c;
    unit_child_start(&c, hold_state_lock, &la);
    unit_child_wait_ready(&c, NULL, 0);
    sk_snapshot_opts_t o = {.data_dir = data, .include = includes, .ninclude = 2, .threads = 2};
    sk_snapshot_result_t s;
    sk_err_t err;
    sk_err_clear(&err);
    CHECK_EQ(sk_snapshot_create(r, &o, NULL, &s, &err), -EBUSY);
    CHECK(strstr(err.path, "shared_memory.bin") != NULL);
    char pid[32];
    snprintf(pid, sizeof(pid), "%ld", (long)c.pid);
    CHECK(strstr(err.msg, pid) != NULL);
    uint64_t bytes;
    CHECK_EQ(count_chunks("repo", &bytes), 0);
    CHECK_EQ(count_dir("repo/snapshots"), 0);
    CHECK_EQ(count_dir("repo/tmp"), 0);
    unit_child_release(&c);

    take_snapshot(r, data, &s);

    /* A "nodeos" runs on the slot: the restore is refused and the slot is untouched. */
    la.path = "slot/state/shared_memory.bin";
    unit_child_start(&c, hold_state_lock, &la);
    unit_child_wait_ready(&c, NULL, 0);
    sk_restore_result_t rr;
    CHECK_EQ(do_restore(r, slot, s.id, 1, &rr, &err), -EBUSY);
    snprintf(pid, sizeof(pid), "%ld", (long)c.pid);
    CHECK(strstr(err.msg, pid) != NULL);
    check_slot_untouched("slot", "slot-ref");
    unit_child_release(&c);
    sk_repo_close(r);
}

TEST(snapshot_refuses_bad_includes)
{
    make_datadir("data");
    char data[PATH_MAX];
    snprintf(data, sizeof(data), "%s", unit_abs("data", 0));
    sk_repo_t *r = new_repo("repo", SK_LOCK_SHARED);
    sk_snapshot_result_t s;
    sk_err_t err;
    const char *const missing[] = {"blocks", "nope"};
    const char *const slash[] = {"blocks/reversible"};
    const char *const dots[] = {".."};
    const char *const twice[] = {"blocks", "blocks"};
    const char *const file[] = {"config.ini"};
    struct {
        const char *const *inc;
        size_t n;
        int rc;
    } cases[] = {{missing, 2, -ENOENT}, {slash, 1, -EINVAL}, {dots, 1, -EINVAL},
                 {twice, 2, -EINVAL},   {file, 1, -ENOTDIR}, {includes, 0, -EINVAL}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        sk_snapshot_opts_t o = {.data_dir = data, .include = cases[i].inc, .ninclude = cases[i].n, .threads = 1};
        sk_err_clear(&err);
        int rc = sk_snapshot_create(r, &o, NULL, &s, &err);
        if (rc != cases[i].rc)
            unit_fail(__FILE__, __LINE__, "case %zu: rc %d, want %d (%s: %s)", i, rc, cases[i].rc, err.path, err.msg);
        CHECK(err.msg[0] != '\0');
    }
    /* A missing data-dir. */
    sk_snapshot_opts_t o = {.data_dir = "no-such-dir", .include = includes, .ninclude = 2, .threads = 1};
    sk_err_clear(&err);
    CHECK_EQ(sk_snapshot_create(r, &o, NULL, &s, &err), -ENOENT);
    uint64_t bytes;
    CHECK_EQ(count_chunks("repo", &bytes), 0);
    CHECK_EQ(count_dir("repo/snapshots"), 0);
    CHECK_EQ(count_dir("repo/tmp"), 0);
    sk_repo_close(r);
}

/* Issue 10, item 2: a link that may point outside the snapshot (absolute, or with "..") is
 * refused, never recorded as a link for a restore to recreate in a worker's slot. */
TEST(snapshot_refuses_links_that_leave_their_folder)
{
    const char *targets[] = {"/elsewhere/shared_memory.bin", "../../outside", "a/../../b"};
    for (size_t i = 0; i < sizeof(targets) / sizeof(targets[0]); i++) {
        char dir[32];
        snprintf(dir, sizeof(dir), "data%zu", i);
        make_datadir(dir);
        char data[PATH_MAX], rel[64];
        snprintf(data, sizeof(data), "%s", unit_abs(dir, 0));
        snprintf(rel, sizeof(rel), "%s/state/shared_memory.bin", dir);
        CHECK_EQ(unlink(unit_abs(rel, 0)), 0);
        link_in(dir, "state/shared_memory.bin", targets[i]);
        char repo[32];
        snprintf(repo, sizeof(repo), "repo%zu", i);
        sk_repo_t *r = new_repo(repo, SK_LOCK_SHARED);
        sk_snapshot_opts_t o = {.data_dir = data, .include = includes, .ninclude = 2, .threads = 1};
        sk_snapshot_result_t s;
        sk_err_t err;
        sk_err_clear(&err);
        CHECK_EQ(sk_snapshot_create(r, &o, NULL, &s, &err), -EINVAL);
        CHECK(strstr(err.path, "state/shared_memory.bin") != NULL);
        CHECK(strstr(err.msg, "symbolic link") != NULL);
        snprintf(repo, sizeof(repo), "repo%zu/snapshots", i);
        CHECK_EQ(count_dir(repo), 0);
        sk_repo_close(r);
    }
}

TEST(restore_full_resumes_after_crash)
{
    make_datadir("data");
    make_slot("slot");
    make_slot("slot-ref");
    char data[PATH_MAX], slot[PATH_MAX];
    snprintf(data, sizeof(data), "%s", unit_abs("data", 0));
    snprintf(slot, sizeof(slot), "%s", unit_abs("slot", 0));
    sk_repo_t *r = new_repo("repo", SK_LOCK_SHARED);
    sk_snapshot_result_t s;
    take_snapshot(r, data, &s);

    /* What a restore killed in the middle of the swap leaves: the marker naming its
     * quarantine folder, the original blocks/ already there, something of its own in
     * blocks/, the original state/ not moved yet, and a half-written staging folder. */
    const char *q = "slot/" SK_QUARANTINE_DIR "/20200101T000000Z";
    CHECK_EQ(sk_mkdir_p(q, 0700), 0);
    char p[PATH_MAX];
    snprintf(p, sizeof(p), "%s/blocks", q);
    CHECK_EQ(rename("slot/blocks", p), 0);
    CHECK_EQ(mkdir("slot/blocks", 0700), 0);
    unit_write_text("slot/blocks/partial", "half restored");
    CHECK_EQ(sk_mkdir_p("slot/" SK_STAGING_DIR "/state", 0700), 0);
    unit_write_text("slot/" SK_STAGING_DIR "/state/junk", "j");
    char marker[256];
    snprintf(marker, sizeof(marker),
             "slotkeeper restore in progress: do not start a node on this data-dir\n"
             "snapshot %s\nquarantine 20200101T000000Z\npid 999999\nstarted 1577836800\n",
             s.id);
    unit_write_text("slot/" SK_RESTORE_MARKER, marker);

    sk_restore_result_t rr;
    sk_err_t err;
    CHECK_OK(do_restore_full(r, slot, s.id, 5, &rr, &err), &err);
    CHECK(rr.resumed);
    unit_compare_trees("data/blocks", "slot/blocks", true, NULL);
    unit_compare_trees("data/state", "slot/state", true, NULL);
    unit_compare_trees("slot-ref/config.ini", "slot/config.ini", true, NULL);
    unit_compare_trees("slot-ref/logs", "slot/logs", true, NULL);
    CHECK(!unit_exists("slot/" SK_RESTORE_MARKER));
    CHECK(!unit_exists("slot/" SK_STAGING_DIR));
    /* The originals are in the quarantine folder the marker named, both of them, intact. */
    CHECK_EQ(count_dir("slot/" SK_QUARANTINE_DIR), 1);
    snprintf(p, sizeof(p), "%s/blocks", q);
    unit_compare_trees("slot-ref/blocks", p, true, NULL);
    snprintf(p, sizeof(p), "%s/state", q);
    unit_compare_trees("slot-ref/state", p, true, NULL);
    CHECK_STR(rr.quarantine, unit_abs(q, 0));
    sk_repo_close(r);
}

/* The delta restore (the default) over a slot that holds the snapshot but a few damaged
 * bytes, an extra file and a missing one: only the damaged chunks are written, and the
 * quarantine keeps their old bytes, listed in its index, and the extra file. */
TEST(restore_delta_writes_what_differs)
{
    make_datadir("data");
    char data[PATH_MAX], slot[PATH_MAX];
    snprintf(data, sizeof(data), "%s", unit_abs("data", 0));
    snprintf(slot, sizeof(slot), "%s", unit_abs("slot", 0));
    sk_repo_t *r = new_repo("repo", SK_LOCK_SHARED);
    sk_snapshot_result_t s;
    take_snapshot(r, data, &s);
    sk_restore_result_t rr;
    sk_err_t err;
    CHECK_OK(do_restore(r, slot, s.id, 1, &rr, &err), &err);
    CHECK_STR(rr.path, "delta");
    CHECK_EQ(rr.bytes_written, DD_DATA);
    CHECK_EQ(rr.bytes_unchanged, 0);
    CHECK(count_dir("slot/" SK_QUARANTINE_DIR) <= 0);
    unit_compare_trees("data/blocks", "slot/blocks", true, NULL);
    unit_compare_trees("data/state", "slot/state", true, NULL);

    /* Over itself: nothing written. */
    CHECK_OK(do_restore(r, slot, s.id, 1, &rr, &err), &err);
    CHECK_EQ(rr.bytes_written, 0);
    CHECK_EQ(rr.bytes_unchanged, DD_DATA);

    /* One byte of state, the dirty flag's place; an extra file; a missing one. */
    int fd = open("slot/state/shared_memory.bin", O_WRONLY);
    CHECK(fd >= 0);
    CHECK_EQ(pwrite(fd, "\1", 1, (off_t)MIB + 8), 1);
    close(fd);
    unit_write_text("slot/blocks/extra", "not in the snapshot");
    CHECK_EQ(unlink("slot/blocks/reversible/fork_db.dat"), 0);
    CHECK_OK(do_restore(r, slot, s.id, 1, &rr, &err), &err);
    CHECK_EQ(rr.bytes_written, CS + FORK_LEN);
    CHECK_EQ(rr.bytes_unchanged, DD_DATA - CS - FORK_LEN);
    unit_compare_trees("data/blocks", "slot/blocks", true, NULL);
    unit_compare_trees("data/state", "slot/state", true, NULL);
    CHECK(rr.quarantine[0] != '\0');
    char p[PATH_MAX], *idx = NULL;
    size_t len = 0;
    snprintf(p, sizeof(p), "%s/index", rr.quarantine);
    CHECK_EQ(sk_read_file_at(AT_FDCWD, p, 1 << 20, &idx, &len), 0);
    CHECK(strstr(idx, "slotkeeper-quarantine 1\n") == idx);
    char want[128];
    snprintf(want, sizeof(want), "region state/shared_memory.bin %llu %llu saved/state/shared_memory.bin\n", MIB,
             (unsigned long long)CS);
    CHECK(strstr(idx, want) != NULL);
    CHECK(strstr(idx, "moved blocks/extra 0 0 moved/blocks/extra\n") != NULL);
    CHECK(strstr(idx, "created blocks/reversible/fork_db.dat 0 0 -\n") != NULL);
    free(idx);
    /* The saved chunk holds the old byte at its own offset. */
    snprintf(p, sizeof(p), "%s/saved/state/shared_memory.bin", rr.quarantine);
    fd = open(p, O_RDONLY);
    CHECK(fd >= 0);
    char b = 0;
    CHECK_EQ(pread(fd, &b, 1, (off_t)MIB + 8), 1);
    CHECK_EQ(b, 1);
    close(fd);
    snprintf(p, sizeof(p), "%s/moved/blocks/extra", rr.quarantine);
    CHECK(unit_exists(p));
    sk_repo_close(r);
}

TEST(interrupted_operations_change_nothing)
{
    make_datadir("data");
    make_slot("slot");
    make_slot("slot-ref");
    char data[PATH_MAX], slot[PATH_MAX];
    snprintf(data, sizeof(data), "%s", unit_abs("data", 0));
    snprintf(slot, sizeof(slot), "%s", unit_abs("slot", 0));
    sk_repo_t *r = new_repo("repo", SK_LOCK_SHARED);
    sk_snapshot_result_t s;
    take_snapshot(r, data, &s);
    uint64_t bytes_before, bytes_after;
    int chunks_before = count_chunks("repo", &bytes_before);

    /* What a SIGINT handler does; this test runs in a process of its own. */
    sk_cancel_request();
    CHECK(sk_cancelled());

    sk_restore_result_t rr;
    sk_err_t err;
    CHECK_EQ(do_restore(r, slot, s.id, 1, &rr, &err), -ECANCELED);
    check_slot_untouched("slot", "slot-ref");
    CHECK_EQ(sk_repo_is_bad(r, s.id, NULL, 0), 0);

    unit_write_text("data/blocks/new-file", "new data that is not in the repository yet");
    sk_snapshot_opts_t o = {.data_dir = data, .include = includes, .ninclude = 2, .threads = 2};
    sk_snapshot_result_t s2;
    sk_err_clear(&err);
    CHECK_EQ(sk_snapshot_create(r, &o, NULL, &s2, &err), -ECANCELED);
    CHECK_EQ(count_chunks("repo", &bytes_after), chunks_before);
    CHECK_EQ(bytes_after, bytes_before);
    CHECK_EQ(count_dir("repo/snapshots"), 1);
    CHECK_EQ(count_dir("repo/tmp"), 0);

    /* An interrupted verify is not a finding: nothing is marked bad. */
    sk_verify_report_t rep;
    sk_err_clear(&err);
    CHECK_EQ(sk_verify(r, NULL, 0, 2, NULL, &rep, &err), -ECANCELED);
    sk_verify_report_free(&rep);
    CHECK_EQ(sk_repo_is_bad(r, s.id, NULL, 0), 0);
    sk_repo_close(r);
}

TEST(snapshot_follows_top_level_symlink)
{
    /* blocks/ on another disk, linked into the data-dir. */
    CHECK_EQ(sk_mkdir_p("disk2/blocks/reversible", 0755), 0);
    CHECK_EQ(sk_mkdir_p("data/state", 0755), 0);
    unit_write_text("disk2/blocks/blocks.log", "block log");
    unit_write_text("disk2/blocks/reversible/fork_db.dat", "fork db");
    unit_write_text("data/state/shared_memory.bin", "state");
    CHECK_EQ(chmod("disk2/blocks", 0750), 0);
    set_mtime("disk2/blocks/reversible", 1600000000, 1);
    set_mtime("disk2/blocks", 1600000001, 2);
    CHECK_EQ(symlink("../disk2/blocks", "data/blocks"), 0);
    char data[PATH_MAX], out[PATH_MAX];
    snprintf(data, sizeof(data), "%s", unit_abs("data", 0));
    snprintf(out, sizeof(out), "%s", unit_abs("out", 0));
    sk_repo_t *r = new_repo("repo", SK_LOCK_SHARED);
    sk_snapshot_result_t s;
    take_snapshot(r, data, &s);
    CHECK_EQ(s.files, 3);

    sk_restore_result_t rr;
    sk_err_t err;
    CHECK_OK(do_restore(r, out, s.id, 1, &rr, &err), &err);
    struct stat st;
    CHECK_EQ(lstat("out/blocks", &st), 0);
    CHECK(S_ISDIR(st.st_mode));
    unit_compare_trees("disk2/blocks", "out/blocks", true, NULL);
    unit_compare_trees("data/state", "out/state", true, NULL);
    sk_repo_close(r);
}

TEST(snapshot_skips_special_files)
{
    CHECK_EQ(sk_mkdir_p("data/blocks", 0755), 0);
    CHECK_EQ(sk_mkdir_p("data/state", 0755), 0);
    unit_write_text("data/blocks/blocks.log", "log");
    CHECK_EQ(mkfifo("data/blocks/a-fifo", 0644), 0);
    CHECK_EQ(mkfifo("data/state/z-fifo", 0600), 0);
    char data[PATH_MAX], out[PATH_MAX];
    snprintf(data, sizeof(data), "%s", unit_abs("data", 0));
    snprintf(out, sizeof(out), "%s", unit_abs("out", 0));
    sk_repo_t *r = new_repo("repo", SK_LOCK_SHARED);
    sk_snapshot_result_t s;
    take_snapshot(r, data, &s);
    CHECK_EQ(s.files, 1);
    sk_manifest_t *m = NULL;
    sk_err_t err;
    sk_err_clear(&err);
    CHECK_OK(sk_repo_manifest_load(r, s.id, &m, &err), &err);
    CHECK_EQ(m->nentries, 3);
    sk_manifest_free(m);
    sk_restore_result_t rr;
    CHECK_OK(do_restore(r, out, s.id, 1, &rr, &err), &err);
    CHECK(unit_exists("out/blocks/blocks.log"));
    CHECK(!unit_exists("out/blocks/a-fifo"));
    CHECK(!unit_exists("out/state/z-fifo"));
    sk_repo_close(r);
}

static void hold_dir_flock(void *arg, int ready_fd)
{
    int fd = open(arg, O_RDONLY | O_DIRECTORY);
    if (fd < 0 || flock(fd, LOCK_EX | LOCK_NB) < 0)
        _exit(2);
    unit_child_ready(ready_fd, NULL);
}

TEST(restore_refuses_concurrent_restore)
{
    make_datadir("data");
    make_slot("slot");
    make_slot("slot-ref");
    char data[PATH_MAX], slot[PATH_MAX];
    snprintf(data, sizeof(data), "%s", unit_abs("data", 0));
    snprintf(slot, sizeof(slot), "%s", unit_abs("slot", 0));
    sk_repo_t *r = new_repo("repo", SK_LOCK_SHARED);
    sk_snapshot_result_t s;
    take_snapshot(r, data, &s);
    unit_child_t c;
    unit_child_start(&c, hold_dir_flock, "slot");
    unit_child_wait_ready(&c, NULL, 0);
    sk_restore_result_t rr;
    sk_err_t err;
    CHECK_EQ(do_restore(r, slot, s.id, 1, &rr, &err), -EBUSY);
    check_slot_untouched("slot", "slot-ref");
    unit_child_release(&c);
    CHECK_OK(do_restore(r, slot, s.id, 1, &rr, &err), &err);
    unit_compare_trees("data/state", "slot/state", true, NULL);
    sk_repo_close(r);
}

/* ---- damage ------------------------------------------------------------------ */

static void flip_byte(const char *path, off_t off)
{
    int fd = open(path, O_RDWR);
    CHECK(fd >= 0);
    unsigned char b;
    CHECK_EQ(pread(fd, &b, 1, off), 1);
    b ^= 0x5a;
    CHECK_EQ(pwrite(fd, &b, 1, off), 1);
    close(fd);
}

TEST(verify_and_restore_catch_damaged_chunk)
{
    make_datadir("data");
    make_slot("slot");
    make_slot("slot-ref");
    char data[PATH_MAX], slot[PATH_MAX];
    snprintf(data, sizeof(data), "%s", unit_abs("data", 0));
    snprintf(slot, sizeof(slot), "%s", unit_abs("slot", 0));
    sk_repo_t *r = new_repo("repo", SK_LOCK_SHARED);
    sk_snapshot_result_t s;
    take_snapshot(r, data, &s);

    /* Before any damage, verify finds nothing. */
    sk_verify_report_t rep;
    sk_err_t err;
    sk_err_clear(&err);
    CHECK_OK(sk_verify(r, NULL, 0, 2, NULL, &rep, &err), &err);
    CHECK_EQ(rep.n, 1);
    CHECK(rep.snaps[0].ok);
    CHECK_EQ(rep.snaps[0].ndamaged, 0);
    CHECK_EQ(rep.snaps[0].chunks, DD_CHUNKS);
    CHECK_EQ(rep.snaps[0].bytes, s.data_bytes - 15 * CS); /* distinct chunks: the repeated block once */
    CHECK_EQ(rep.chunks_read, DD_CHUNKS);
    sk_verify_report_free(&rep);

    /* Damage the chunk only the 4 KiB at 40 MiB of shared_memory.bin uses (index 640). */
    sk_manifest_t *m = NULL;
    CHECK_OK(sk_repo_manifest_load(r, s.id, &m, &err), &err);
    const sk_mentry_t *e = find_entry(m, "state/shared_memory.bin");
    CHECK_EQ(e->chunks[e->nchunks - 1].index, 640);
    sk_hash_t bad = e->chunks[e->nchunks - 1].hash;
    sk_manifest_free(m);
    char rel[64], p[PATH_MAX];
    sk_repo_chunk_relpath(&bad, rel, sizeof(rel));
    snprintf(p, sizeof(p), "repo/%s", rel);
    struct stat st;
    CHECK_EQ(stat(p, &st), 0);
    flip_byte(p, st.st_size / 2);

    sk_err_clear(&err);
    CHECK_OK(sk_verify(r, NULL, 0, 2, NULL, &rep, &err), &err);
    CHECK_EQ(rep.n, 1);
    sk_verify_snapshot_t *vs = &rep.snaps[0];
    CHECK_STR(vs->id, s.id);
    CHECK(!vs->ok);
    CHECK(!vs->was_bad);
    CHECK_EQ(vs->ndamaged, 1);
    CHECK_EQ(vs->ndamage, 1);
    CHECK_STR(vs->damage[0].chunk, rel);
    CHECK_STR(vs->damage[0].file, "state/shared_memory.bin");
    CHECK_EQ(vs->damage[0].index, 640);
    CHECK(!vs->damage[0].missing);
    CHECK(strstr(vs->reason, rel) != NULL);
    sk_verify_report_free(&rep);
    char reason[512];
    CHECK_EQ(sk_repo_is_bad(r, s.id, reason, sizeof(reason)), 1);
    CHECK(strstr(reason, rel) != NULL);

    /* A restore of the marked snapshot fails and leaves the slot as it was. */
    sk_restore_result_t rr;
    CHECK_EQ(do_restore(r, slot, s.id, 1, &rr, &err), -EBADMSG);
    check_slot_untouched("slot", "slot-ref");
    /* "latest" finds no good snapshot. */
    CHECK_EQ(do_restore(r, slot, "latest", 1, &rr, &err), -ENOENT);
    check_slot_untouched("slot", "slot-ref");

    /* Without the marker the restore meets the damaged chunk itself: same outcome, and the
     * snapshot is marked bad again, naming the chunk. */
    char badfile[PATH_MAX];
    snprintf(badfile, sizeof(badfile), "repo/snapshots/%s.bad", s.id);
    CHECK_EQ(unlink(badfile), 0);
    CHECK_EQ(do_restore(r, slot, s.id, 1, &rr, &err), -EBADMSG);
    CHECK(strstr(err.path, rel) != NULL);
    CHECK(strstr(err.msg, "state/shared_memory.bin") != NULL);
    check_slot_untouched("slot", "slot-ref");
    CHECK_EQ(sk_repo_is_bad(r, s.id, reason, sizeof(reason)), 1);
    CHECK(strstr(reason, rel) != NULL);

    /* A missing chunk is reported as missing, with the damaged one, on a snapshot already marked. */
    m = NULL;
    CHECK_OK(sk_repo_manifest_load(r, s.id, &m, &err), &err);
    e = find_entry(m, "blocks/blocks.index");
    CHECK_EQ(e->nchunks, 1);
    sk_repo_chunk_relpath(&e->chunks[0].hash, rel, sizeof(rel));
    sk_manifest_free(m);
    snprintf(p, sizeof(p), "repo/%s", rel);
    CHECK_EQ(unlink(p), 0);
    sk_err_clear(&err);
    CHECK_OK(sk_verify(r, NULL, 0, 1, NULL, &rep, &err), &err);
    vs = &rep.snaps[0];
    CHECK(!vs->ok);
    CHECK(vs->was_bad);
    CHECK_EQ(vs->ndamaged, 2);
    bool found = false;
    for (size_t i = 0; i < vs->ndamage; i++)
        if (!strcmp(vs->damage[i].chunk, rel)) {
            CHECK(vs->damage[i].missing);
            CHECK_STR(vs->damage[i].file, "blocks/blocks.index");
            CHECK_EQ(vs->damage[i].index, 0);
            found = true;
        }
    CHECK(found);
    sk_verify_report_free(&rep);
    sk_repo_close(r);
}

TEST(verify_reports_corrupt_manifest)
{
    make_datadir("data");
    char data[PATH_MAX];
    snprintf(data, sizeof(data), "%s", unit_abs("data", 0));
    sk_repo_t *r = new_repo("repo", SK_LOCK_SHARED);
    sk_snapshot_result_t a, b;
    take_snapshot(r, data, &a);
    take_snapshot(r, data, &b);
    char p[PATH_MAX];
    snprintf(p, sizeof(p), "repo/snapshots/%s", a.id);
    flip_byte(p, 40);

    sk_verify_report_t rep;
    sk_err_t err;
    sk_err_clear(&err);
    const char *ids[] = {a.id, b.id};
    CHECK_OK(sk_verify(r, ids, 2, 2, NULL, &rep, &err), &err);
    CHECK_EQ(rep.n, 2);
    CHECK(!rep.snaps[0].ok);
    CHECK(rep.snaps[0].reason[0] != '\0');
    CHECK(rep.snaps[1].ok);
    /* The chunks the two share are read once. */
    CHECK_EQ(rep.chunks_read, DD_CHUNKS);
    sk_verify_report_free(&rep);
    CHECK_EQ(sk_repo_is_bad(r, a.id, NULL, 0), 1);
    CHECK_EQ(sk_repo_is_bad(r, b.id, NULL, 0), 0);

    /* An invalid id is an error of the run, not a finding. */
    const char *badid[] = {"../x"};
    sk_err_clear(&err);
    CHECK_EQ(sk_verify(r, badid, 1, 1, NULL, &rep, &err), -EINVAL);
    sk_verify_report_free(&rep);
    sk_repo_close(r);
}

/* ---- prune --------------------------------------------------------------------- */

/* Puts the distinct chunk hashes of snapshot id into set. */
static void chunks_of(sk_repo_t *r, const char *id, sk_hset_t *set)
{
    sk_manifest_t *m = NULL;
    sk_err_t err;
    sk_err_clear(&err);
    CHECK_OK(sk_repo_manifest_load(r, id, &m, &err), &err);
    for (size_t i = 0; i < m->nentries; i++)
        for (size_t c = 0; c < m->entries[i].nchunks; c++)
            CHECK(sk_hset_add(set, &m->entries[i].chunks[c].hash, 0) >= 0);
    sk_manifest_free(m);
}

TEST(prune_keeps_last_and_collects_chunks)
{
    make_datadir("data");
    char data[PATH_MAX];
    snprintf(data, sizeof(data), "%s", unit_abs("data", 0));
    sk_repo_t *r = new_repo("repo", SK_LOCK_EXCLUSIVE);
    uint64_t seed = 5;
    for (int i = 0; i < 3; i++) {
        /* Each snapshot has a first chunk of blocks.log of its own. */
        unsigned char buf[CS];
        unit_fill_random(buf, sizeof(buf), &seed);
        int fd = open("data/blocks/blocks.log", O_WRONLY);
        CHECK(fd >= 0);
        CHECK_EQ(sk_pwrite_all(fd, buf, sizeof(buf), 0), 0);
        close(fd);
        sk_snapshot_result_t s;
        take_snapshot(r, data, &s);
        CHECK_EQ(s.new_chunks, i ? 1 : DD_CHUNKS);
    }
    sk_err_t err;
    sk_err_clear(&err);
    char **ids;
    size_t n;
    CHECK_OK(sk_repo_list_ids(r, &ids, &n, &err), &err);
    CHECK_EQ(n, 3);

    /* What prune must leave alone and what it must take. */
    sk_hset_t keep, all;
    sk_hset_init(&keep);
    sk_hset_init(&all);
    chunks_of(r, ids[2], &keep);
    for (size_t i = 0; i < 3; i++)
        chunks_of(r, ids[i], &all);
    uint64_t doomed = all.n - keep.n;
    CHECK_EQ(doomed, 2);
    /* Leftovers of an interrupted snapshot: a stale session and an unreferenced chunk. */
    CHECK_EQ(mkdir("repo/tmp/s-999999-deadbeef", 0700), 0);
    unit_write_text("repo/tmp/s-999999-deadbeef/x", "x");
    sk_hash_t orphan;
    sk_hash_compute("orphan", 6, &orphan);
    char rel[64], p[PATH_MAX];
    sk_repo_chunk_relpath(&orphan, rel, sizeof(rel));
    snprintf(p, sizeof(p), "repo/%s", rel);
    unit_write_text(p, "not referenced");
    uint64_t bytes;
    int before = count_chunks("repo", &bytes);
    CHECK_EQ((uint64_t)before, all.n + 1);

    sk_prune_result_t pr;
    sk_err_clear(&err);
    CHECK_EQ(sk_prune(r, 0, &pr, &err), -EINVAL);
    sk_prune_result_free(&pr);
    sk_err_clear(&err);
    CHECK_OK(sk_prune(r, 1, &pr, &err), &err);
    CHECK_EQ(pr.nremoved, 2);
    CHECK_EQ(pr.kept, 1);
    CHECK_STR(pr.removed[0], ids[0]);
    CHECK_STR(pr.removed[1], ids[1]);
    CHECK_EQ(pr.chunks_removed, doomed + 1);
    CHECK(pr.bytes_freed > 0);
    CHECK(pr.sessions_swept >= 1);
    sk_prune_result_free(&pr);
    CHECK(!unit_exists("repo/tmp/s-999999-deadbeef"));
    CHECK(!unit_exists(p));

    char **left;
    size_t nleft;
    CHECK_OK(sk_repo_list_ids(r, &left, &nleft, &err), &err);
    CHECK_EQ(nleft, 1);
    CHECK_STR(left[0], ids[2]);
    sk_repo_ids_free(left, nleft);
    CHECK_EQ((uint64_t)count_chunks("repo", &bytes), keep.n);
    for (size_t i = 0; i < all.cap; i++) {
        if (!all.slots[i].used)
            continue;
        int want = sk_hset_find(&keep, &all.slots[i].key) ? 1 : 0;
        CHECK_EQ(sk_repo_chunk_stat(r, &all.slots[i].key, NULL), want);
    }

    /* The kept snapshot is whole. */
    sk_verify_report_t rep;
    sk_err_clear(&err);
    CHECK_OK(sk_verify(r, NULL, 0, 2, NULL, &rep, &err), &err);
    CHECK_EQ(rep.n, 1);
    CHECK(rep.snaps[0].ok);
    sk_verify_report_free(&rep);

    /* Pruning again changes nothing. */
    sk_err_clear(&err);
    CHECK_OK(sk_prune(r, 1, &pr, &err), &err);
    CHECK_EQ(pr.nremoved, 0);
    CHECK_EQ(pr.chunks_removed, 0);
    sk_prune_result_free(&pr);
    sk_hset_free(&keep);
    sk_hset_free(&all);
    sk_repo_ids_free(ids, n);
    sk_repo_close(r);
}

TEST(prune_never_removes_newest_good)
{
    make_datadir("data");
    char data[PATH_MAX];
    snprintf(data, sizeof(data), "%s", unit_abs("data", 0));
    sk_repo_t *r = new_repo("repo", SK_LOCK_EXCLUSIVE);
    sk_snapshot_result_t s;
    for (int i = 0; i < 3; i++)
        take_snapshot(r, data, &s);
    sk_err_t err;
    sk_err_clear(&err);
    char **ids;
    size_t n;
    CHECK_OK(sk_repo_list_ids(r, &ids, &n, &err), &err);
    CHECK_EQ(n, 3);
    /* The newest is bad, the middle one's manifest is corrupt: keep_last 1 keeps the oldest. */
    CHECK_EQ(sk_repo_mark_bad(r, ids[2], "test"), 0);
    char p[PATH_MAX];
    snprintf(p, sizeof(p), "repo/snapshots/%s", ids[1]);
    flip_byte(p, 30);
    sk_prune_result_t pr;
    sk_err_clear(&err);
    int rc = sk_prune(r, 1, &pr, &err);
    /* The corrupt manifest is removed, so nothing stops the chunk sweep. */
    CHECK_OK(rc, &err);
    CHECK_EQ(pr.kept, 1);
    CHECK_EQ(pr.nremoved, 2);
    sk_prune_result_free(&pr);
    char **left;
    size_t nleft;
    CHECK_OK(sk_repo_list_ids(r, &left, &nleft, &err), &err);
    CHECK_EQ(nleft, 1);
    CHECK_STR(left[0], ids[0]);
    sk_repo_ids_free(left, nleft);
    CHECK_EQ(sk_repo_is_bad(r, ids[2], NULL, 0), 0); /* its marker went with it */
    uint64_t bytes;
    CHECK_EQ(count_chunks("repo", &bytes), DD_CHUNKS);
    sk_repo_ids_free(ids, n);
    sk_repo_close(r);
}

/* ---- what the snapshot must never publish ------------------------------------------ */

/* repo.h lists ids "ascending (oldest first)" and prune/latest keep "the newest" by that
 * order, so ids made one after the other must sort in that order, also within one second.
 * (Two snapshots are never made within a few microseconds, so the ids are made 20 us apart.) */
TEST(snapshot_ids_sort_in_creation_order)
{
    char prev[SK_ID_MAX], id[SK_ID_MAX];
    int64_t t;
    sk_snapshot_new_id(prev, &t);
    CHECK(sk_id_valid(prev));
    int out_of_order = 0;
    for (int i = 0; i < 100; i++) {
        struct timespec pause = {0, 20 * 1000};
        nanosleep(&pause, NULL);
        sk_snapshot_new_id(id, &t);
        CHECK(sk_id_valid(id));
        CHECK(strcmp(id, prev));
        if (strcmp(id, prev) < 0) {
            unit_note("%s made after %s", id, prev);
            out_of_order++;
        }
        memcpy(prev, id, sizeof(id));
    }
    if (out_of_order)
        unit_fail(__FILE__, __LINE__, "%d of 100 ids made in sequence sort before the one made just earlier",
                  out_of_order);
}

/* Every snapshot sk_snapshot_create reports as made must load (or it must be refused). */
static void check_snapshot_loads(sk_repo_t *r, const char *data, const char *const *inc, size_t ninc)
{
    sk_snapshot_opts_t o = {.data_dir = data, .include = inc, .ninclude = ninc, .threads = 1};
    sk_snapshot_result_t s;
    sk_err_t err;
    sk_err_clear(&err);
    if (sk_snapshot_create(r, &o, NULL, &s, &err) < 0)
        return; /* refused: fine */
    sk_manifest_t *m = NULL;
    sk_err_clear(&err);
    int rc = sk_repo_manifest_load(r, s.id, &m, &err);
    if (rc != 0)
        unit_fail(__FILE__, __LINE__, "snapshot %s was published but does not load: %s: %s", s.id, err.path, err.msg);
    sk_manifest_free(m);
}

TEST(snapshot_of_file_older_than_1970_loads)
{
    CHECK_EQ(sk_mkdir_p("data/blocks", 0755), 0);
    unit_write_text("data/blocks/blocks.log", "old");
    set_mtime("data/blocks/blocks.log", -86400, 0);
    sk_repo_t *r = new_repo("repo", SK_LOCK_SHARED);
    const char *const inc[] = {"blocks"};
    check_snapshot_loads(r, unit_abs("data", 0), inc, 1);
    sk_repo_close(r);
}

TEST(snapshot_of_folder_with_space_loads)
{
    CHECK_EQ(sk_mkdir_p("data/my blocks", 0755), 0);
    unit_write_text("data/my blocks/blocks.log", "data");
    sk_repo_t *r = new_repo("repo", SK_LOCK_SHARED);
    const char *const inc[] = {"my blocks"};
    check_snapshot_loads(r, unit_abs("data", 0), inc, 1);
    sk_repo_close(r);
}

/* With the default sizes, append-only files (.log, .index) get the large log chunk size and
 * the state file the small one; the manifest records each file's size and a restore of such a
 * snapshot is exact. */
TEST(snapshot_uses_log_chunk_size_for_logs)
{
    make_datadir("data");
    char data[PATH_MAX], out[PATH_MAX];
    snprintf(data, sizeof(data), "%s", unit_abs("data", 0));
    snprintf(out, sizeof(out), "%s", unit_abs("restored", 0));
    sk_err_t err;
    sk_err_clear(&err);
    CHECK_OK(sk_repo_init_ex("repo", 16 * KIB, 512 * KIB, 3, &err), &err);
    sk_repo_t *r = NULL;
    CHECK_OK(sk_repo_open("repo", SK_LOCK_SHARED, 0, "unit-test", &r, &err), &err);
    CHECK_EQ(r->chunk_size, 16 * KIB);
    CHECK_EQ(r->log_chunk_size, 512 * KIB);
    CHECK_EQ(sk_repo_chunk_size_for(r, "blocks.log"), 512 * KIB);
    CHECK_EQ(sk_repo_chunk_size_for(r, "blocks.index"), 512 * KIB);
    CHECK_EQ(sk_repo_chunk_size_for(r, "trace_history.log"), 512 * KIB);
    CHECK_EQ(sk_repo_chunk_size_for(r, "shared_memory.bin"), 16 * KIB);
    CHECK_EQ(sk_repo_chunk_size_for(r, ".log"), 16 * KIB);
    sk_snapshot_result_t s;
    take_snapshot(r, data, &s);
    sk_manifest_t *m = NULL;
    CHECK_OK(sk_repo_manifest_load(r, s.id, &m, &err), &err);
    CHECK_EQ(m->chunk_size, 16 * KIB);
    const sk_mentry_t *log = find_entry(m, "blocks/blocks.log");
    CHECK_EQ(log->chunk_size, 512 * KIB);
    CHECK_EQ(log->nchunks, 5); /* 3 MiB / 512 KiB, minus the chunk of written zeros */
    const sk_mentry_t *st = find_entry(m, "state/shared_memory.bin");
    CHECK_EQ(st->chunk_size, 16 * KIB);
    CHECK_EQ(st->nchunks, 2 * MIB / (16 * KIB) + 1);
    CHECK_EQ(find_entry(m, "blocks/reversible/fork_db.dat")->chunk_size, 16 * KIB);
    sk_manifest_free(m);
    sk_restore_result_t rr;
    CHECK_OK(do_restore(r, out, s.id, 1, &rr, &err), &err);
    char a[PATH_MAX], b[PATH_MAX];
    snprintf(a, sizeof(a), "%s/blocks", data);
    snprintf(b, sizeof(b), "%s/blocks", out);
    unit_compare_trees(a, b, true, NULL);
    snprintf(a, sizeof(a), "%s/state", data);
    snprintf(b, sizeof(b), "%s/state", out);
    unit_compare_trees(a, b, true, NULL);
    snprintf(a, sizeof(a), "%s/state/shared_memory.bin", data);
    snprintf(b, sizeof(b), "%s/state/shared_memory.bin", out);
    CHECK_EQ(blocks_of(b), blocks_of(a));
    sk_repo_close(r);
}
