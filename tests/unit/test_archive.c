/*
 * test_archive: export and import through the library. A snapshot exported and imported into
 * another repository is the same snapshot (its files and chunks); a plain tarball of a clean
 * data-dir imports as a new snapshot whose facts come from the check; what import refuses
 * (not an archive, a path that climbs out, a truncated stream, a damaged member) leaves the
 * repository as it was; export refuses what it cannot find.
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
#include "slotkeeper/export.h"
#include "slotkeeper/facts.h"
#include "slotkeeper/import.h"
#include "slotkeeper/notice.h"
#include "slotkeeper/repo.h"
#include "slotkeeper/restore.h"
#include "slotkeeper/snapshot.h"
#include "unit.h"

static void tool(const char *args)
{
    char exe[PATH_MAX], t[PATH_MAX + 64], cmd[2 * PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    CHECK(n > 0);
    exe[n] = '\0';
    *strrchr(exe, '/') = '\0';
    snprintf(t, sizeof(t), "%s/tools/mkdatadir", exe);
    if (access(t, X_OK) < 0)
        snprintf(t, sizeof(t), "%s/../tools/mkdatadir", exe);
    snprintf(cmd, sizeof(cmd), "%s %s >/dev/null 2>&1", t, args);
    CHECK_EQ(system(cmd), 0);
}

static sk_repo_t *repo(const char *path)
{
    sk_err_t err;
    sk_err_clear(&err);
    CHECK_OK(sk_repo_init(path, 64 * 1024, 3, &err), &err);
    sk_repo_t *r = NULL;
    CHECK_OK(sk_repo_open(path, SK_LOCK_SHARED, 0, "unit", &r, &err), &err);
    return r;
}

static const char *const inc[] = {"blocks", "state"};

static void snap(sk_repo_t *r, const char *dir, sk_snapshot_result_t *res)
{
    sk_snapshot_opts_t o = {.data_dir = dir, .include = inc, .ninclude = 2, .threads = 2};
    sk_err_t err;
    sk_err_clear(&err);
    CHECK_OK(sk_snapshot_create(r, &o, NULL, res, &err), &err);
}

static int do_import(sk_repo_t *r, const char *file, sk_import_result_t *res, sk_err_t *err)
{
    int fd = open(file, O_RDONLY);
    CHECK(fd >= 0);
    sk_err_clear(err);
    int rc = sk_import(r, fd, file, 2, NULL, res, err);
    close(fd);
    return rc;
}

static size_t count_snapshots(sk_repo_t *r)
{
    char **ids;
    size_t n;
    sk_err_t err;
    sk_err_clear(&err);
    CHECK_OK(sk_repo_list_ids(r, &ids, &n, &err), &err);
    sk_repo_ids_free(ids, n);
    return n;
}

static void same_files(const sk_manifest_t *a, const sk_manifest_t *b)
{
    CHECK_EQ(a->nentries, b->nentries);
    for (size_t i = 0; i < a->nentries; i++) {
        CHECK_STR(a->entries[i].path, b->entries[i].path);
        CHECK_EQ(a->entries[i].size, b->entries[i].size);
        CHECK_EQ(a->entries[i].nchunks, b->entries[i].nchunks);
        for (size_t c = 0; c < a->entries[i].nchunks; c++)
            CHECK(!memcmp(&a->entries[i].chunks[c].hash, &b->entries[i].chunks[c].hash, sizeof(sk_hash_t)));
    }
}

static int notices;
static void count_notice(enum sk_notice_level level, const char *msg)
{
    (void)level;
    (void)msg;
    notices++;
}

TEST(archive_export_import_round_trip)
{
    tool("create d --blocks-size 256K --state-size 2M --state-data 128K --seed 3");
    sk_repo_t *a = repo("a"), *b = repo("b");
    sk_snapshot_result_t sr;
    snap(a, "d", &sr);
    int fd = open("x.tar.zst", O_WRONLY | O_CREAT | O_TRUNC, 0644);
    CHECK(fd >= 0);
    sk_export_result_t er;
    sk_err_t err;
    sk_err_clear(&err);
    sk_progress_t p;
    sk_progress_setup(&p, NULL, NULL, "export");
    CHECK_OK(sk_export(a, "latest", fd, 0, 2, &p, &er, &err), &err);
    close(fd);
    CHECK_STR(er.id, sr.id);
    CHECK(er.out_bytes > 0 && er.entries > 0);
    CHECK(atomic_load(&p.done) > 0);

    sk_import_result_t ir;
    CHECK_OK(do_import(b, "x.tar.zst", &ir, &err), &err);
    CHECK(ir.had_manifest);
    CHECK_STR(ir.source_id, sr.id);
    sk_manifest_t *ma, *mb;
    CHECK_OK(sk_repo_manifest_load(a, sr.id, &ma, &err), &err);
    CHECK_OK(sk_repo_manifest_load(b, ir.snap.id, &mb, &err), &err);
    same_files(ma, mb);
    sk_manifest_free(ma);
    sk_manifest_free(mb);

    /* By id, into a plain (uncompressed) level; and an id that is not there. */
    fd = open("y.tar.zst", O_WRONLY | O_CREAT | O_TRUNC, 0644);
    CHECK_OK(sk_export(a, sr.id, fd, 1, 1, NULL, &er, &err), &err);
    CHECK_EQ(sk_export(a, "20000101T000000Z-000000-0000", fd, 1, 1, NULL, &er, &err), -ENOENT);
    close(fd);
    sk_repo_close(a);
    sk_repo_close(b);
}

TEST(archive_import_of_a_plain_tarball)
{
    tool("create d --blocks-size 256K --state-size 2M --state-data 64K --seed 5");
    CHECK_EQ(mkdir("d/.slotkeeper", 0755), 0);
    unit_write_text("d/config.ini", "# not taken\n");
    CHECK_EQ(system("tar -C d -cf plain.tar blocks state .slotkeeper config.ini"), 0);
    CHECK_EQ(system("tar -C d -czf plain.tar.gz blocks state"), 0);
    sk_repo_t *r = repo("r");
    sk_import_result_t ir;
    sk_err_t err;
    notices = 0;
    sk_set_notice(count_notice);
    CHECK_OK(do_import(r, "plain.tar", &ir, &err), &err);
    sk_set_notice(NULL);
    CHECK(!ir.had_manifest);
    CHECK(notices >= 2); /* .slotkeeper/ and config.ini skipped, said so */
    sk_manifest_t *m;
    CHECK_OK(sk_repo_manifest_load(r, ir.snap.id, &m, &err), &err);
    CHECK(sk_manifest_fact(m, "source.chain-id") != NULL);
    CHECK(sk_manifest_fact(m, "source.last-block") != NULL);
    sk_manifest_free(m);
    CHECK_OK(do_import(r, "plain.tar.gz", &ir, &err), &err);
    CHECK_EQ(count_snapshots(r), 2);
    /* The restore of the import gives the data-dir back. */
    sk_restore_opts_t o = {.data_dir = "slot", .snapshot = ir.snap.id, .threads = 2};
    sk_restore_result_t rr;
    sk_err_clear(&err);
    CHECK_OK(sk_restore(r, &o, NULL, &rr, &err), &err);
    CHECK_EQ(system("cmp -s d/blocks/blocks.log slot/blocks/blocks.log"), 0);
    sk_repo_close(r);
}

TEST(archive_import_refuses_and_leaves_nothing)
{
    sk_repo_t *r = repo("r");
    sk_import_result_t ir;
    sk_err_t err;
    unit_write_text("garbage", "this is not a tar archive at all, not even close\n");
    CHECK_EQ(do_import(r, "garbage", &ir, &err), -EBADMSG);
    CHECK(strstr(err.msg, "refused"));

    /* A member that climbs out of the archive's folder. */
    CHECK_EQ(mkdir("x", 0755), 0);
    CHECK_EQ(mkdir("x/blocks", 0755), 0);
    unit_write_text("x/evil", "evil\n");
    CHECK_EQ(system("tar -C x -cf climb.tar --transform='s|^evil|blocks/../../evil|' blocks evil 2>/dev/null"), 0);
    CHECK(do_import(r, "climb.tar", &ir, &err) < 0);

    /* A fifo, a hard link: refused. */
    CHECK_EQ(mkfifo("x/blocks/fifo", 0644), 0);
    CHECK_EQ(system("tar -C x -cf fifo.tar blocks"), 0);
    CHECK(do_import(r, "fifo.tar", &ir, &err) < 0);
    CHECK_EQ(unlink("x/blocks/fifo"), 0);
    unit_write_text("x/blocks/a", "a\n");
    CHECK_EQ(link("x/blocks/a", "x/blocks/b"), 0);
    CHECK_EQ(system("tar -C x -cf hard.tar blocks"), 0);
    CHECK(do_import(r, "hard.tar", &ir, &err) < 0);

    /* An archive without a clean data-dir in it. */
    CHECK_EQ(unlink("x/blocks/b"), 0);
    CHECK_EQ(system("tar -C x -cf notclean.tar blocks"), 0);
    CHECK(do_import(r, "notclean.tar", &ir, &err) < 0);

    /* An export cut short. */
    tool("create d --blocks-size 128K --state-size 1M --state-data 32K --seed 9");
    sk_repo_t *a = repo("a");
    sk_snapshot_result_t sr;
    snap(a, "d", &sr);
    int fd = open("full.tar.zst", O_WRONLY | O_CREAT | O_TRUNC, 0644);
    sk_export_result_t er;
    sk_err_clear(&err);
    CHECK_OK(sk_export(a, sr.id, fd, 0, 1, NULL, &er, &err), &err);
    close(fd);
    struct stat st;
    CHECK_EQ(stat("full.tar.zst", &st), 0);
    CHECK_EQ(truncate("full.tar.zst", st.st_size / 2), 0);
    CHECK(do_import(r, "full.tar.zst", &ir, &err) < 0);
    sk_repo_close(a);

    CHECK_EQ(count_snapshots(r), 0);
    /* nothing left in the session area */
    CHECK_EQ(system("test -z \"$(ls -A r/tmp)\""), 0);
    sk_repo_close(r);
}

TEST(archive_export_reports_a_damaged_chunk)
{
    tool("create d --blocks-size 128K --state-size 1M --state-data 32K --seed 11");
    sk_repo_t *a = repo("a");
    sk_snapshot_result_t sr;
    snap(a, "d", &sr);
    sk_manifest_t *m;
    sk_err_t err;
    sk_err_clear(&err);
    CHECK_OK(sk_repo_manifest_load(a, sr.id, &m, &err), &err);
    const sk_mchunk_t *c = NULL;
    for (size_t i = 0; i < m->nentries && !c; i++)
        if (m->entries[i].nchunks)
            c = &m->entries[i].chunks[0];
    CHECK(c);
    char rel[PATH_MAX], path[PATH_MAX + 8];
    sk_repo_chunk_relpath(&c->hash, rel, sizeof(rel));
    snprintf(path, sizeof(path), "a/%s", rel);
    unit_write_text(path, "garbage instead of a zstd frame");
    sk_manifest_free(m);
    int fd = open("out.tar.zst", O_WRONLY | O_CREAT | O_TRUNC, 0644);
    sk_export_result_t er;
    CHECK(sk_export(a, sr.id, fd, 0, 1, NULL, &er, &err) < 0);
    close(fd);
    sk_repo_close(a);
}

/* Unpacks x.tar.zst into dir t/, lets the caller change it, and packs it back as a plain tar
 * with the given member order. */
static void unpack(const char *zst)
{
    char cmd[512];
    snprintf(cmd, sizeof(cmd), "rm -rf t && mkdir t && zstd -dqc %s | tar -C t -xf -", zst);
    CHECK_EQ(system(cmd), 0);
}

static void pack(const char *out, const char *members)
{
    char cmd[512];
    snprintf(cmd, sizeof(cmd), "tar -C t --format=pax -cf %s %s", out, members);
    CHECK_EQ(system(cmd), 0);
}

static void refused(sk_repo_t *r, const char *file, const char *why)
{
    sk_import_result_t ir;
    sk_err_t err;
    int rc = do_import(r, file, &ir, &err);
    if (rc >= 0 || !strstr(err.msg, why))
        unit_fail(__FILE__, __LINE__, "%s: rc %d, \"%s\" does not say \"%s\"", file, rc, err.msg, why);
}

TEST(archive_import_checks_every_file_against_the_manifest)
{
    tool("create d --blocks-size 128K --state-size 1M --state-data 32K --seed 13");
    sk_repo_t *a = repo("a"), *b = repo("b");
    sk_snapshot_result_t sr;
    snap(a, "d", &sr);
    int fd = open("x.tar.zst", O_WRONLY | O_CREAT | O_TRUNC, 0644);
    sk_export_result_t er;
    sk_err_t err;
    sk_err_clear(&err);
    CHECK_OK(sk_export(a, sr.id, fd, 0, 1, NULL, &er, &err), &err);
    close(fd);
    const char *all = ".slotkeeper/manifest blocks state";

    unpack("x.tar.zst");
    pack("ok.tar", all);
    sk_import_result_t ir;
    CHECK_OK(do_import(b, "ok.tar", &ir, &err), &err); /* unpacked and repacked: still the same */

    unpack("x.tar.zst");
    CHECK_EQ(rename("t/.slotkeeper/manifest", "t/.slotkeeper-manifest"), 0); /* an older export's name */
    pack("late.tar", "blocks .slotkeeper-manifest state");
    refused(b, "late.tar", "manifest must come first");

    unpack("x.tar.zst");
    CHECK_EQ(truncate("t/blocks/blocks.log", 4096), 0);
    pack("size.tar", all);
    refused(b, "size.tar", "size differs");

    unpack("x.tar.zst");
    CHECK_EQ(unlink("t/blocks/blocks.index"), 0);
    pack("gone.tar", all);
    refused(b, "gone.tar", "");

    unpack("x.tar.zst");
    unit_write_text("t/state/extra", "not in the manifest\n");
    pack("extra.tar", all);
    refused(b, "extra.tar", "");

    unpack("x.tar.zst");
    CHECK_EQ(chmod("t/blocks/blocks.index", 0600), 0);
    pack("mode.tar", all);
    refused(b, "mode.tar", "mode differs");

    unpack("x.tar.zst");
    CHECK_EQ(system("printf 'XXXXXXXX' | dd of=t/blocks/blocks.log bs=1 seek=200 conv=notrunc 2>/dev/null"), 0);
    pack("bytes.tar", all);
    refused(b, "bytes.tar", "hash");

    unpack("x.tar.zst");
    CHECK_EQ(mkdir("t/other", 0755), 0);
    unit_write_text("t/other/f", "x\n");
    pack("otherdir.tar", ".slotkeeper/manifest blocks state other");
    refused(b, "otherdir.tar", "");

    unpack("x.tar.zst");
    CHECK_EQ(symlink("/etc/passwd", "t/state/abs"), 0);
    pack("abslink.tar", all);
    refused(b, "abslink.tar", "symbolic link target");

    unpack("x.tar.zst");
    unit_write_text("t/.slotkeeper/manifest", "slotkeeper-manifest 1\nnot really\n");
    pack("badman.tar", all);
    refused(b, "badman.tar", "manifest");

    unpack("x.tar.zst");
    pack("empty.tar", ".slotkeeper/manifest");
    refused(b, "empty.tar", "");

    CHECK_EQ(count_snapshots(b), 1);
    sk_repo_close(a);
    sk_repo_close(b);
}

/* Not an archive test, but it shares the helpers: restore's chain and environment options. */
TEST(restore_chain_and_environment_options)
{
    tool("create d --blocks-size 128K --state-size 1M --state-data 32K --seed 17");
    sk_repo_t *a = repo("a");
    sk_err_t err;
    sk_err_clear(&err);
    sk_datadir_report_t rep;
    CHECK_OK(sk_datadir_check("d", &(sk_check_opts_t){0}, &rep, &err), &err);
    sk_facts_t fs;
    sk_facts_from_check(&fs, "d", &rep);
    sk_snapshot_opts_t so = {
        .data_dir = "d", .include = inc, .ninclude = 2, .threads = 1, .facts = fs.f, .nfacts = fs.n};
    sk_snapshot_result_t sr;
    CHECK_OK(sk_snapshot_create(a, &so, NULL, &sr, &err), &err);
    char chain[65];
    snprintf(chain, sizeof(chain), "%s", rep.chain_id);
    const char *other = "00000000000000000000000000000000000000000000000000000000000000aa";
    sk_restore_result_t rr;

    sk_restore_opts_t o = {.data_dir = "s1", .snapshot = "latest", .threads = 1, .chain_id = "nothex"};
    sk_err_clear(&err);
    CHECK_EQ(sk_restore(a, &o, NULL, &rr, &err), -EINVAL);
    CHECK(strstr(err.msg, "not a chain id"));

    /* An empty slot: the chain the option names decides "latest". */
    o.chain_id = other;
    sk_err_clear(&err);
    CHECK_EQ(sk_restore(a, &o, NULL, &rr, &err), -ENOENT);
    CHECK(strstr(err.msg, "of chain"));
    o.chain_id = chain;
    sk_err_clear(&err);
    CHECK_OK(sk_restore(a, &o, NULL, &rr, &err), &err);

    /* A slot of one chain, an option naming another: refused, unless forced. */
    o.chain_id = other;
    sk_err_clear(&err);
    CHECK_EQ(sk_restore(a, &o, NULL, &rr, &err), -EPROTOTYPE);
    o.force_chain = true;
    sk_err_clear(&err);
    CHECK_EQ(sk_restore(a, &o, NULL, &rr, &err), -ENOENT);
    o.force_chain = false;
    o.chain_id = NULL;

    /* An environment no snapshot has. */
    char env[2 * 775 + 1];
    memset(env, '0', sizeof(env) - 1);
    env[sizeof(env) - 1] = '\0';
    o.require_env = env;
    sk_err_clear(&err);
    CHECK(sk_restore(a, &o, NULL, &rr, &err) < 0);
    /* Named by id, a snapshot of another environment is refused too. */
    o.snapshot = sr.id;
    sk_err_clear(&err);
    CHECK(sk_restore(a, &o, NULL, &rr, &err) < 0);
    sk_repo_close(a);
}
