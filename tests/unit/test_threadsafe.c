/*
 * test_threadsafe: the library's parsers run at the same time on several threads, as they do
 * in the daemon (a snapshot cycle and a restore on libuv's thread pool). Issue 11 found
 * strtok (one hidden cursor for the whole process) in restore.c's marker parser and in the
 * daemon; the fix is strtok_r. These tests would catch its return: threads parse different
 * manifests' head lines (repo.c's order_peek, a strtok_r loop) and different restore
 * markers at once, thousands of times, and check every result. With strtok, one thread's
 * next token comes from another thread's buffer (wrong heads, wrong chains, or a read of
 * freed memory), so the checks fail or the child crashes within a few hundred rounds.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "slotkeeper/fsutil.h"
#include "slotkeeper/repo.h"
#include "unit.h"

enum { THREADS = 4, SNAPS = 12, ROUNDS = 1500 };

struct lister {
    char repo[64];
    unsigned base; /* heads are base + i */
    int failures;
};

/* A manifest whose head lines order_peek reads: time, then facts, then the entries. Only the
 * head matters to sk_repo_list, so the rest need not be a whole manifest. */
static void write_head(const char *repo, unsigned t, unsigned i, unsigned head)
{
    char path[256], text[1024], chain[65];
    for (int k = 0; k < 64; k++)
        chain[k] = "0123456789abcdef"[(t * 7 + (unsigned)k) % 16];
    chain[64] = '\0';
    snprintf(path, sizeof(path), "%s/snapshots/20260101T0000%02uZ-%06u-%04x", repo, i, 100 + t, i);
    snprintf(text, sizeof(text),
             "slotkeeper-manifest 1\nid 20260101T0000%02uZ-%06u-%04x\ntime %u UTC\nchunk-size 131072\n"
             "include blocks state\nfact source.chain-id %s\nfact source.last-block %u\n"
             "fact padding.%u %s\nd 0755 0 0 0.000000000 blocks\n",
             i, 100 + t, i, 1000 - i, chain, head, t, "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
    unit_write_text(path, text);
}

static void *list_many(void *arg)
{
    struct lister *l = arg;
    sk_err_t err;
    sk_err_clear(&err);
    sk_repo_t *r = NULL;
    if (sk_repo_open(l->repo, SK_LOCK_SHARED, 0, "unit", &r, &err) < 0) {
        l->failures++;
        return NULL;
    }
    for (int round = 0; round < ROUNDS && !l->failures; round++) {
        sk_snap_order_t *v = NULL;
        size_t n = 0;
        if (sk_repo_list(r, &v, &n, &err) < 0 || n != SNAPS) {
            l->failures++;
            free(v);
            break;
        }
        /* Oldest first by head: base, base+1, ... with time decreasing (head wins). */
        for (size_t i = 0; i < n; i++) {
            unsigned t = l->base / 1000;
            char want[65];
            for (int k = 0; k < 64; k++)
                want[k] = "0123456789abcdef"[(t * 7 + (unsigned)k) % 16];
            want[64] = '\0';
            if (!v[i].has_head || v[i].head != l->base + i || v[i].time != (int64_t)(1000 - i) ||
                strcmp(v[i].chain_id, want))
                l->failures++;
        }
        free(v);
    }
    sk_repo_close(r);
    return NULL;
}

TEST(threadsafe_manifest_heads_parse_at_once)
{
    struct lister ls[THREADS];
    pthread_t tid[THREADS];
    for (unsigned t = 0; t < THREADS; t++) {
        sk_err_t err;
        sk_err_clear(&err);
        snprintf(ls[t].repo, sizeof(ls[t].repo), "repo%u", t);
        ls[t].base = (t + 1) * 1000;
        ls[t].failures = 0;
        CHECK_OK(sk_repo_init(ls[t].repo, 64 * 1024, 1, &err), &err);
        for (unsigned i = 0; i < SNAPS; i++)
            write_head(ls[t].repo, t + 1, i, ls[t].base + i);
    }
    for (int t = 0; t < THREADS; t++)
        CHECK(pthread_create(&tid[t], NULL, list_many, &ls[t]) == 0);
    for (int t = 0; t < THREADS; t++)
        pthread_join(tid[t], NULL);
    for (int t = 0; t < THREADS; t++)
        CHECK_EQ(ls[t].failures, 0);
}
