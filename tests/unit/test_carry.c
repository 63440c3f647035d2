/*
 * test_carry: the helpers of append-aware snapshots (carry.h): the frozen-origin parser, the
 * append-only name patterns, and the log/index check where a carried prefix ends.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "slotkeeper/carry.h"
#include "slotkeeper/snapshot.h"
#include "unit.h"

static int parse(const char *text, sk_origin_t **o, char *why)
{
    return sk_origin_parse(text, strlen(text), o, why, 256);
}

TEST(carry_origin_parse)
{
    char why[256];
    sk_origin_t *o = NULL;
    CHECK_EQ(parse("slotkeeper-frozen-origin 1\n"
                   "2049 131 67785863 1796300942427765108 blocks/blocks.log\n"
                   "2049 7 4096 0 blocks/reversible/fork db.dat\n"
                   "18446744073709551615 18446744073709551615 0 1 state/shared_memory.bin\n",
                   &o, why),
             0);
    CHECK_EQ(o->n, 3);
    const sk_origin_file_t *f = sk_origin_find(o, "blocks/blocks.log");
    CHECK(f && f->dev == 2049 && f->ino == 131 && f->size == 67785863 && f->mtime_ns == 1796300942427765108ULL);
    f = sk_origin_find(o, "blocks/reversible/fork db.dat"); /* the rest of the line is the path */
    CHECK(f && f->ino == 7);
    f = sk_origin_find(o, "state/shared_memory.bin");
    CHECK(f && f->dev == UINT64_MAX);
    CHECK(sk_origin_find(o, "blocks/blocks.index") == NULL);
    CHECK(sk_origin_find(NULL, "blocks/blocks.log") == NULL);
    sk_origin_free(o);
    CHECK_EQ(parse("slotkeeper-frozen-origin 1\n", &o, why), 0);
    CHECK_EQ(o->n, 0);
    sk_origin_free(o);

    static const struct {
        const char *text, *why;
    } bad[] = {
        {"", "line 1"},
        {"slotkeeper-frozen-origin 2\n", "line 1"},
        {"slotkeeper-frozen-origin 1\n1 2 3 4 blocks/blocks.log", "line 2: unterminated"},
        {"slotkeeper-frozen-origin 1\n1 2 3 blocks/blocks.log\n", "line 2: expected"},
        {"slotkeeper-frozen-origin 1\n1 2 3 4 \n", "line 2: bad path"},
        {"slotkeeper-frozen-origin 1\n1 2 3 4 /etc/passwd\n", "line 2: bad path"},
        {"slotkeeper-frozen-origin 1\n1 2 3 4 blocks/../x\n", "line 2: bad path"},
        {"slotkeeper-frozen-origin 1\n01 2 3 4 blocks/x\n", "line 2: expected"},
        {"slotkeeper-frozen-origin 1\n-1 2 3 4 blocks/x\n", "line 2: expected"},
        {"slotkeeper-frozen-origin 1\n18446744073709551616 2 3 4 blocks/x\n", "line 2: expected"},
        {"slotkeeper-frozen-origin 1\n1  2 3 4 blocks/x\n", "line 2: expected"},
        {"slotkeeper-frozen-origin 1\n1 2 3 4 a\n1 2 3 4 b\n5 6 7 8 a\n", "listed twice"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        why[0] = '\0';
        o = NULL;
        int rc = parse(bad[i].text, &o, why);
        if (rc != -EBADMSG || o || !strstr(why, bad[i].why))
            unit_fail(__FILE__, __LINE__, "bad origin %zu: rc %d, why '%s' (want '%s')", i, rc, why, bad[i].why);
    }
}

TEST(carry_origin_load)
{
    char why[64];
    (void)why;
    int dfd = open(".", O_RDONLY | O_DIRECTORY);
    CHECK(dfd >= 0);
    sk_err_t err;
    sk_err_clear(&err);
    sk_origin_t *o = (sk_origin_t *)1;
    CHECK_EQ(sk_origin_load(dfd, "dd", &o, &err), 0); /* none: not an error */
    CHECK(o == NULL);
    CHECK_EQ(mkdir(".slotkeeper", 0755), 0);
    unit_write_text(SK_FROZEN_ORIGIN, "slotkeeper-frozen-origin 1\n1 2 3 4 blocks/blocks.log\n");
    CHECK_EQ(sk_origin_load(dfd, "dd", &o, &err), 0);
    CHECK(o && o->n == 1);
    sk_origin_free(o);
    unit_write_text(SK_FROZEN_ORIGIN, "slotkeeper-frozen-origin 1\nnonsense\n");
    CHECK_EQ(sk_origin_load(dfd, "dd", &o, &err), -EBADMSG);
    CHECK_STR(err.path, "dd/.slotkeeper/frozen-origin");
    CHECK(strstr(err.msg, "line 2") != NULL);
    close(dfd);
}

TEST(carry_kinds)
{
    CHECK_EQ(sk_carry_kind("blocks/blocks.log"), SK_CARRY_APPEND | SK_CARRY_BLOCKLOG | SK_CARRY_PRUNABLE);
    CHECK_EQ(sk_carry_kind("blocks/blocks.index"), SK_CARRY_APPEND | SK_CARRY_BLOCKLOG | SK_CARRY_INDEX);
    CHECK_EQ(sk_carry_kind("blocks/retained/blocks-1-100000.log"), SK_CARRY_APPEND | SK_CARRY_BLOCKLOG);
    CHECK_EQ(sk_carry_kind("archive/blocks-100001-200000.index"), SK_CARRY_APPEND | SK_CARRY_BLOCKLOG | SK_CARRY_INDEX);
    CHECK_EQ(sk_carry_kind("state-history/trace_history.log"), SK_CARRY_APPEND | SK_CARRY_PRUNABLE);
    CHECK_EQ(sk_carry_kind("state-history/chain_state_history.index"), SK_CARRY_APPEND | SK_CARRY_INDEX);
    CHECK_EQ(sk_carry_kind("state-history/retained/trace_history-1-1000.log"), SK_CARRY_APPEND);
    CHECK_EQ(sk_carry_kind("state/shared_memory.bin"), 0);
    CHECK_EQ(sk_carry_kind("blocks/reversible/fork_db.dat"), 0);
    CHECK_EQ(sk_carry_kind("blocks/blocks-1-x.log"), 0);
    CHECK_EQ(sk_carry_kind("blocks/blocks-1.log"), 0);
    CHECK_EQ(sk_carry_kind("blocks/nodeos.log"), 0); /* a log file of some other kind */
    CHECK_EQ(sk_carry_kind("blocks/.log"), 0);
    char c[64];
    CHECK_EQ(sk_carry_companion("blocks/blocks.log", c, sizeof(c)), 0);
    CHECK_STR(c, "blocks/blocks.index");
    CHECK_EQ(sk_carry_companion("blocks/blocks.index", c, sizeof(c)), 0);
    CHECK_STR(c, "blocks/blocks.log");
    CHECK_EQ(sk_carry_companion("state/shared_memory.bin", c, sizeof(c)), -EINVAL);
    CHECK_EQ(sk_carry_companion("blocks/blocks.log", c, 10), -ENAMETOOLONG);
}

static void put64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

/* A v3 block log of n blocks of 100 bytes from block first, and its index. */
static void make_log_at(const char *lp, const char *ip, uint32_t first, int n, bool pruned)
{
    size_t len = 48 + (size_t)n * 108 + (pruned ? 4 : 0);
    unsigned char *b = calloc(1, len), *ix = calloc((size_t)n, 8);
    CHECK(b && ix);
    put64(b, 3 | (uint64_t)first << 32);
    if (pruned)
        b[3] |= 0x80;
    put64(b + 40, UINT64_MAX);
    for (int i = 0; i < n; i++) {
        size_t off = 48 + (size_t)i * 108;
        uint32_t prev = first + (uint32_t)i - 1;
        b[off + 14] = (unsigned char)(prev >> 24);
        b[off + 15] = (unsigned char)(prev >> 16);
        b[off + 16] = (unsigned char)(prev >> 8);
        b[off + 17] = (unsigned char)prev;
        put64(b + off + 100, off);
        put64(ix + 8 * i, off);
    }
    if (pruned)
        b[len - 4] = (unsigned char)n;
    unit_write_file(lp, b, len);
    unit_write_file(ip, ix, (size_t)n * 8);
    free(b);
    free(ix);
}

static void make_log(uint32_t first, int n, bool pruned)
{
    make_log_at("l", "i", first, n, pruned);
}

static bool sound(uint64_t log_limit, uint64_t index_limit, char *why)
{
    int l = open("l", O_RDONLY), i = open("i", O_RDONLY);
    CHECK(l >= 0 && i >= 0);
    uint64_t ls = (uint64_t)lseek(l, 0, SEEK_END), is = (uint64_t)lseek(i, 0, SEEK_END);
    bool ok = sk_carry_log_sound(l, ls, i, is, true, log_limit, index_limit, why, 256);
    close(l);
    close(i);
    return ok;
}

TEST(carry_log_sound)
{
    char why[256];
    make_log(1000, 100, false);
    CHECK(sound(5000, 0, why));
    CHECK(sound(0, 400, why));
    CHECK(sound(48 + 99 * 108 + 1, 800, why)); /* the last block, against the log's last 8 bytes */
    CHECK(!sound(0, 808, why));                /* an index shorter than its prefix */
    CHECK(!sound(40, 0, why));                 /* no entry starts in the prefix */
    make_log(1000, 100, true);                 /* pruned: the last position before the block count */
    CHECK(sound(48 + 99 * 108 + 1, 800, why));
    /* A block that is not where the index says: its self-offset, or its number. */
    make_log(1000, 100, false);
    int fd = open("l", O_WRONLY);
    unsigned char z[8] = {0};
    CHECK(pwrite(fd, z, 8, 48 + 45 * 108 + 100) == 8); /* block 1045's trailing position */
    close(fd);
    CHECK(!sound(48 + 45 * 108 + 50, 0, why));
    CHECK(strstr(why, "its own position") != NULL);
    CHECK(!sound(48 + 46 * 108 + 50, 0, why)); /* the entry after it: the one before it is wrong */
    CHECK(sound(48 + 60 * 108 + 50, 0, why));  /* elsewhere: fine */
    make_log(1000, 100, false);
    fd = open("l", O_WRONLY);
    CHECK(pwrite(fd, z, 4, 48 + 70 * 108 + 14) == 4);
    close(fd);
    CHECK(!sound(0, 71 * 8, why));
    CHECK(strstr(why, "does not hold block 1070") != NULL);
    /* an empty or ragged index */
    unit_write_file("i", "1234567", 7);
    CHECK(!sound(5000, 0, why));
}

/* The library end to end: a grown log carries from its parent; the parent is of the same chain;
 * full_reread_every and full_reread read everything. (t_incremental.sh covers the rest.) */
static sk_snapshot_result_t snap_of(sk_repo_t *r, const char *chain, uint32_t every, bool full)
{
    static const char *const inc[] = {"blocks"};
    sk_fact_t facts[] = {{.key = "source.chain-id", .value = (char *)chain}};
    sk_snapshot_opts_t o = {.data_dir = "dd",
                            .include = inc,
                            .ninclude = 1,
                            .threads = 2,
                            .facts = facts,
                            .nfacts = chain ? 1 : 0,
                            .full_reread_every = every,
                            .full_reread = full};
    sk_snapshot_result_t res;
    sk_err_t err;
    sk_err_clear(&err);
    CHECK_OK(sk_snapshot_create(r, &o, NULL, &res, &err), &err);
    return res;
}

TEST(carry_snapshot_library)
{
    CHECK_EQ(mkdir("dd", 0755), 0);
    CHECK_EQ(mkdir("dd/blocks", 0755), 0);
    sk_err_t err;
    sk_err_clear(&err);
    CHECK_OK(sk_repo_init_ex("repo", 4096, 4096, 1, &err), &err);
    sk_repo_t *r = NULL;
    CHECK_OK(sk_repo_open("repo", SK_LOCK_SHARED, 0, "unit-test", &r, &err), &err);
    make_log_at("dd/blocks/blocks.log", "dd/blocks/blocks.index", 1000, 1000, false);
    sk_snapshot_result_t a = snap_of(r, "aa", 0, false);
    CHECK_EQ(a.carried_bytes, 0);
    CHECK_EQ(a.read_bytes, a.data_bytes);
    CHECK_STR(a.parent, "");
    make_log_at("dd/blocks/blocks.log", "dd/blocks/blocks.index", 1000, 1100, false); /* same inode, grown */
    sk_snapshot_result_t b = snap_of(r, "aa", 3, false);
    CHECK(b.carried_bytes > 90000);
    CHECK(b.read_bytes < 30000);
    CHECK_STR(b.parent, a.id);
    sk_manifest_t *m = NULL;
    CHECK_OK(sk_repo_manifest_load(r, b.id, &m, &err), &err);
    CHECK(m->has_carry_run && m->carry_run == 1);
    sk_manifest_free(m);
    /* another chain's snapshot is never a parent */
    make_log_at("dd/blocks/blocks.log", "dd/blocks/blocks.index", 1000, 1200, false);
    sk_snapshot_result_t c = snap_of(r, "bb", 3, false);
    CHECK_EQ(c.carried_bytes, 0);
    /* chain aa again: carried from b (run 2); the next one is the 3rd of the run: reads all */
    sk_snapshot_result_t d = snap_of(r, "aa", 3, false);
    CHECK(d.carried_bytes > 0);
    CHECK_STR(d.parent, b.id);
    sk_snapshot_result_t e = snap_of(r, "aa", 3, false);
    CHECK_EQ(e.carried_bytes, 0);
    CHECK_EQ(e.read_bytes, e.data_bytes);
    sk_snapshot_result_t f = snap_of(r, "aa", 3, false);
    CHECK(f.carried_bytes > 0);
    sk_snapshot_result_t g = snap_of(r, "aa", 0, true);
    CHECK_EQ(g.carried_bytes, 0);
    CHECK_STR(g.parent, "");
    sk_repo_close(r);
}
