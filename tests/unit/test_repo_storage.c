/*
 * test_repo_storage: what the repository does through its storage that test_repo leaves out:
 * a missing lock file is recreated (and said), the config refusals
 * of a key given twice, scratch folders need a session, a chunk that is a link or set aside
 * reads as damaged, prune's sweeps of chunks and orphan marks.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "slotkeeper/notice.h"
#include "slotkeeper/repo.h"
#include "unit.h"

static int warned;
static void on_notice(enum sk_notice_level level, const char *msg)
{
    if (level == SK_NOTICE_WARN && strstr(msg, "was missing; recreated it"))
        warned++;
}

static sk_repo_t *open_r(const char *path, enum sk_lock_mode mode, sk_err_t *err)
{
    sk_repo_t *r = NULL;
    sk_err_clear(err);
    return sk_repo_open(path, mode, 0, "unit", &r, err) == 0 ? r : NULL;
}

TEST(repo_recreates_a_missing_lock_file)
{
    sk_err_t err;
    sk_err_clear(&err);
    CHECK_OK(sk_repo_init("r", 64 * 1024, 3, &err), &err);
    CHECK_EQ(unlink("r/lock"), 0);
    sk_set_notice(on_notice);
    sk_repo_t *r = open_r("r", SK_LOCK_EXCLUSIVE, &err);
    sk_set_notice(NULL);
    CHECK(r != NULL);
    CHECK_EQ(warned, 1);
    char *t = unit_read_file("r/lock", NULL);
    CHECK(strstr(t, "unit pid "));
    free(t);
    /* While held exclusively, a shared open says who holds it. */
    sk_repo_t *r2 = open_r("r", SK_LOCK_SHARED, &err);
    CHECK(r2 == NULL);
    CHECK_EQ(err.code, -EWOULDBLOCK);
    CHECK(strstr(err.msg, "held by unit pid"));
    sk_repo_close(r);
}

TEST(repo_config_refusals)
{
    sk_err_t err;
    sk_err_clear(&err);
    CHECK_OK(sk_repo_init("r", 64 * 1024, 3, &err), &err);
    static const char *bad[] = {
        "slotkeeper-repository 1\nchunk-size 65536\nchunk-size 65536\nlevel 3\n",
        "slotkeeper-repository 1\nchunk-size 65536\nlevel 3\nlevel 3\n",
        "slotkeeper-repository 1\nchunk-size 65536\nlog-chunk-size 3\nlevel 3\n",
        "slotkeeper-repository 1\nchunk-size 65536\nlog-chunk-size 65536\nlog-chunk-size 65536\nlevel 3\n",
        "slotkeeper-repository 1\nchunk-size "
        "65536xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
        "x"
        "xxxxxxxxxxxxxxxxxxxxx\nlevel 3\n",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        unit_write_text("r/config", bad[i]);
        CHECK(open_r("r", SK_LOCK_SHARED, &err) == NULL);
        CHECK_EQ(err.code, -EBADMSG);
    }
    /* without log-chunk-size: one size for every file */
    unit_write_text("r/config", "slotkeeper-repository 1\nchunk-size 65536\nlevel 3\n");
    sk_repo_t *r = open_r("r", SK_LOCK_SHARED, &err);
    CHECK(r != NULL);
    CHECK_EQ(r->log_chunk_size, 65536);
    sk_repo_close(r);
    /* a folder of the layout replaced by a link */
    CHECK_EQ(rename("r/tmp", "r/tmp2"), 0);
    CHECK_EQ(symlink("tmp2", "r/tmp"), 0);
    CHECK(open_r("r", SK_LOCK_SHARED, &err) == NULL);
    CHECK_EQ(err.code, -ELOOP);
    /* bad sizes at init */
    sk_err_clear(&err);
    CHECK_EQ(sk_repo_init_ex("r2", 65536, 3, 3, &err), -EINVAL);
    sk_err_clear(&err);
    CHECK_EQ(sk_repo_init_ex("r2", 65536, 65536, 30, &err), -EINVAL);
}

TEST(repo_scratch_needs_a_session_and_damaged_chunks_read_as_damage)
{
    sk_err_t err;
    sk_err_clear(&err);
    CHECK_OK(sk_repo_init("r", 64 * 1024, 3, &err), &err);
    sk_repo_t *r = open_r("r", SK_LOCK_SHARED, &err);
    CHECK(r != NULL);
    char path[4096];
    int fd = -1;
    CHECK_EQ(sk_repo_session_scratch(r, "x", path, sizeof(path), &fd, &err), -EINVAL);
    sk_err_clear(&err);
    CHECK_OK(sk_repo_session_begin(r, &err), &err);
    CHECK_OK(sk_repo_session_scratch(r, "x", path, sizeof(path), &fd, &err), &err);
    CHECK(fd >= 0 && strstr(path, "/tmp/s-"));
    close(fd);
    CHECK_OK(sk_repo_session_begin(r, &err), &err); /* already open: nothing to do */

    sk_hash_t h;
    memset(&h, 0xab, sizeof(h));
    char rel[256], full[300];
    sk_repo_chunk_relpath(&h, rel, sizeof(rel));
    snprintf(full, sizeof(full), "r/%s", rel);
    void *buf = NULL;
    size_t cap = 0, len;
    CHECK_EQ(sk_repo_chunk_read(r, &h, &buf, &cap, &len), -ENOENT);
    CHECK_EQ(symlink("/etc/passwd", full), 0);
    CHECK_EQ(sk_repo_chunk_read(r, &h, &buf, &cap, &len), -EBADMSG);
    CHECK_EQ(sk_repo_chunk_stat(r, &h, NULL), 0); /* a link is not a stored chunk */
    CHECK_EQ(unlink(full), 0);
    unit_write_text(full, "zz");
    CHECK_EQ(sk_repo_chunk_stat(r, &h, NULL), 1);
    CHECK_EQ(sk_repo_chunk_set_aside(r, &h), 0);
    CHECK_EQ(sk_repo_chunk_set_aside(r, &h), 0); /* already gone: fine */
    CHECK_EQ(sk_repo_chunk_read(r, &h, &buf, &cap, &len), -EBADMSG);
    free(buf);

    /* the chunk sweep removes what is set aside and what keep() does not want */
    uint64_t removed = 0, freed = 0;
    sk_repo_close(r);
    r = open_r("r", SK_LOCK_EXCLUSIVE, &err);
    CHECK(r != NULL);
    CHECK_OK(sk_repo_chunk_sweep(r, NULL, NULL, &removed, &freed, &err), &err);
    CHECK_EQ(removed, 1);
    /* an orphan mark goes, a mark with its manifest stays */
    unit_write_text("r/snapshots/20260101T000000Z-000001-0001.bad", "x\n");
    unit_write_text("r/snapshots/20260101T000000Z-000002-0002.bad", "x\n");
    unit_write_text("r/snapshots/20260101T000000Z-000002-0002", "x\n");
    unit_write_text("r/snapshots/not-an-id.bad", "x\n");
    CHECK_EQ(sk_repo_sweep_orphan_marks(r), 1);
    CHECK(unit_exists("r/snapshots/20260101T000000Z-000002-0002.bad"));
    CHECK(unit_exists("r/snapshots/not-an-id.bad"));
    CHECK_OK(sk_repo_snapshots_sync(r, &err), &err);
    sk_repo_close(r);
}
