/*
 * test_lineage: "newest" is the highest head block of a chain (sk_snap_order_cmp), ids are only
 * what slotkeeper writes, and retention is per chain (invariant 11).
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "slotkeeper/prune.h"
#include "slotkeeper/repo.h"
#include "unit.h"

#define CHAIN_X "8a34ec7df1b8cd06ff4a8abbaa7cc50300823350cadc59ab296cb00d104d2b8f"
#define CHAIN_Y "90d8c7436017001e64891e8b6b7eb0060baeb350048eb52d2cdb594fdbc2617d"

static sk_repo_t *new_repo(enum sk_lock_mode mode)
{
    sk_err_t err;
    sk_err_clear(&err);
    CHECK_OK(sk_repo_init("repo", 65536, 3, &err), &err);
    sk_repo_t *r = NULL;
    CHECK_OK(sk_repo_open("repo", mode, 0, "unit-test", &r, &err), &err);
    return r;
}

/* A valid manifest with the given time, head block (0: none) and chain (NULL: none). */
static void put(const char *id, int64_t time, unsigned head, const char *chain)
{
    sk_manifest_t *m = sk_manifest_new();
    CHECK(m);
    snprintf(m->id, sizeof(m->id), "%s", id);
    m->chunk_size = 65536;
    m->time = time;
    CHECK_EQ(sk_manifest_add_include(m, "blocks"), 0);
    char h[16];
    snprintf(h, sizeof(h), "%u", head);
    CHECK_EQ(sk_manifest_set_fact(m, "source.layout", "leap5"), 0);
    if (head) {
        CHECK_EQ(sk_manifest_set_fact(m, "source.first-block", "1"), 0);
        CHECK_EQ(sk_manifest_set_fact(m, "source.last-block", h), 0);
    }
    if (chain)
        CHECK_EQ(sk_manifest_set_fact(m, "source.chain-id", chain), 0);
    sk_mentry_t e = {.type = 'd', .path = "blocks", .mode = 0755};
    CHECK(sk_manifest_add_entry(m, &e) >= 0);
    char *buf;
    size_t len;
    CHECK_EQ(sk_manifest_serialize(m, &buf, &len), 0);
    char p[PATH_MAX];
    snprintf(p, sizeof(p), "repo/snapshots/%s", id);
    unit_write_file(p, buf, len);
    free(buf);
    sk_manifest_free(m);
}

#define T2031 "20310101T000000Z-000000-aaaa" /* taken with the clock in the future, head 100 */
#define T2026 "20261203T080000Z-000000-bbbb" /* taken later, at the present time, head 200 */
#define TNONE "20270101T000000Z-000000-cccc" /* no blocks yet */

TEST(lineage_newest_is_the_highest_head_block)
{
    sk_repo_t *r = new_repo(SK_LOCK_SHARED);
    put(T2031, 1924992000, 100, CHAIN_X);
    put(T2026, 1796284800, 200, CHAIN_X);
    put(TNONE, 1798761600, 0, CHAIN_X);
    /* Names that are not what slotkeeper writes are not snapshots (not listed, not bad). */
    unit_write_text("repo/snapshots/blocks", "x");
    CHECK_EQ(mkdir("repo/snapshots/state", 0755), 0);
    unit_write_text("repo/snapshots/zzzz_latest", "x");
    sk_err_t err;
    sk_err_clear(&err);
    char **ids;
    size_t n;
    CHECK_OK(sk_repo_list_ids(r, &ids, &n, &err), &err);
    CHECK_EQ(n, 3);
    CHECK_STR(ids[0], TNONE);
    CHECK_STR(ids[1], T2031);
    CHECK_STR(ids[2], T2026);
    sk_repo_ids_free(ids, n);
    sk_manifest_t *m = NULL;
    CHECK_OK(sk_repo_latest_good(r, &m, &err), &err);
    CHECK_STR(m->id, T2026);
    /* The same order from a loaded manifest's facts as from the listing. */
    sk_snap_order_t a, b;
    sk_snap_order_of(m, &a);
    CHECK_EQ(a.head, 200);
    CHECK_STR(a.chain_id, CHAIN_X);
    sk_manifest_free(m);
    memset(&b, 0, sizeof(b));
    snprintf(b.id, sizeof(b.id), "%s", T2031);
    b.time = 1924992000;
    b.has_head = true;
    b.head = 100;
    CHECK(sk_snap_order_cmp(&a, &b) > 0);
    /* Equal heads: time decides, then the id. */
    b.head = 200;
    CHECK(sk_snap_order_cmp(&a, &b) < 0);
    b.time = a.time;
    CHECK(sk_snap_order_cmp(&a, &b) < 0);
    sk_repo_close(r);
}

TEST(lineage_latest_within_a_chain)
{
    sk_repo_t *r = new_repo(SK_LOCK_SHARED);
    put("20261201T000000Z-000000-0001", 1796083200, 500, CHAIN_Y);
    put("20261202T000000Z-000000-0002", 1796169600, 90, CHAIN_X);
    put("20261203T000000Z-000000-0003", 1796256000, 80, NULL);
    sk_err_t err;
    sk_err_clear(&err);
    sk_manifest_t *m = NULL;
    sk_fact_t x = {.key = "source.chain-id", .value = CHAIN_X};
    CHECK_OK(sk_repo_latest_good_where(r, &x, 1, "of chain x", &m, &err), &err);
    CHECK_STR(m->id, "20261202T000000Z-000000-0002");
    sk_manifest_free(m);
    sk_fact_t z = {.key = "source.chain-id", .value = "00"};
    CHECK_EQ(sk_repo_latest_good_where(r, &z, 1, "of chain 00", &m, &err), -ENOENT);
    CHECK(strstr(err.msg, "no good snapshot in the repository of chain 00"));
    /* No filter, no "why": the message says no more than it knows. */
    sk_repo_close(r);
    CHECK_EQ(mkdir("e", 0755), 0);
    sk_err_clear(&err);
    CHECK_OK(sk_repo_init("e/repo", 65536, 3, &err), &err);
    CHECK_OK(sk_repo_open("e/repo", SK_LOCK_SHARED, 0, "unit-test", &r, &err), &err);
    CHECK_EQ(sk_repo_latest_good(r, &m, &err), -ENOENT);
    CHECK_STR(err.msg, "no good snapshot in the repository");
    sk_repo_close(r);
}

TEST(lineage_prune_keeps_the_newest_of_each_chain)
{
    sk_repo_t *r = new_repo(SK_LOCK_EXCLUSIVE);
    put("20261201T000000Z-000000-0001", 1796083200, 100, CHAIN_X);
    put("20310101T000000Z-000000-0002", 1924992000, 150, CHAIN_X); /* future clock */
    put("20261202T000000Z-000000-0003", 1796169600, 300, CHAIN_X); /* the newest of X */
    put("20261201T000000Z-000000-0004", 1796083200, 999, CHAIN_Y); /* the newest of Y */
    put("20261130T000000Z-000000-0005", 1795996800, 10, CHAIN_Y);
    put("20261101T000000Z-000000-0006", 1793491200, 5, NULL); /* unknown chain */
    sk_err_t err;
    sk_err_clear(&err);
    sk_prune_result_t res;
    CHECK_OK(sk_prune(r, 1, &res, &err), &err);
    CHECK_EQ(res.kept, 3);
    CHECK_EQ(res.nremoved, 3);
    sk_prune_result_free(&res);
    CHECK(unit_exists("repo/snapshots/20261202T000000Z-000000-0003"));
    CHECK(unit_exists("repo/snapshots/20261201T000000Z-000000-0004"));
    CHECK(unit_exists("repo/snapshots/20261101T000000Z-000000-0006"));
    CHECK(!unit_exists("repo/snapshots/20310101T000000Z-000000-0002"));
    CHECK(!unit_exists("repo/snapshots/20261201T000000Z-000000-0001"));
    CHECK(!unit_exists("repo/snapshots/20261130T000000Z-000000-0005"));
    sk_repo_close(r);
}
