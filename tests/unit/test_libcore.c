/*
 * test_libcore: the small library modules both halves share: the include-list parser
 * (inclist), the growable buffer and array growth (buf), the worker loop of the pool
 * (sk_pool_each: every item once, first error stops, cancellation), the progress
 * interface and the notice callback.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "slotkeeper/buf.h"
#include "slotkeeper/inclist.h"
#include "slotkeeper/notice.h"
#include "slotkeeper/pool.h"
#include "slotkeeper/progress.h"
#include "unit.h"

static void parse_ok(const char *csv, size_t want_n, const char *const *want)
{
    sk_err_t err;
    sk_err_clear(&err);
    char **names = NULL;
    size_t n = 0;
    CHECK_OK(sk_include_parse(csv, &names, &n, &err), &err);
    CHECK_EQ(n, want_n);
    for (size_t i = 0; i < n; i++)
        CHECK_STR(names[i], want[i]);
    sk_include_free(names, n);
}

static void parse_bad(const char *csv, const char *msg_part)
{
    sk_err_t err;
    sk_err_clear(&err);
    char **names = (char **)1;
    size_t n = 99;
    CHECK_EQ(sk_include_parse(csv, &names, &n, &err), -EINVAL);
    CHECK_EQ(err.code, -EINVAL);
    CHECK(strstr(err.msg, msg_part) != NULL);
    CHECK(names == (char **)1 && n == 99); /* nothing returned */
}

TEST(inclist_parses_trims_and_skips_empty_items)
{
    parse_ok("blocks,state", 2, (const char *const[]){"blocks", "state"});
    parse_ok(" blocks ,\tstate\t", 2, (const char *const[]){"blocks", "state"});
    parse_ok("blocks,,state,", 2, (const char *const[]){"blocks", "state"});
    parse_ok("shared_mem", 1, (const char *const[]){"shared_mem"});
}

TEST(inclist_is_unbounded)
{
    /* The daemon's old parser stopped silently at 16 names. */
    char csv[4096] = "";
    const char *want[40];
    char names[40][8];
    for (int i = 0; i < 40; i++) {
        snprintf(names[i], sizeof(names[i]), "d%02d", i);
        want[i] = names[i];
        strcat(csv, names[i]);
        strcat(csv, ",");
    }
    parse_ok(csv, 40, want);
}

TEST(inclist_refuses_what_snapshot_refuses)
{
    parse_bad("", "nothing to include");
    parse_bad(" , ,", "nothing to include");
    parse_bad(NULL, "nothing to include");
    parse_bad("blocks,a/b", "plain name");
    parse_bad("blocks,..", "plain name");
    parse_bad(".", "plain name");
    parse_bad("a b", "plain name");
    parse_bad("50%", "plain name");
    parse_bad("blocks,\x01x", "plain name");
    parse_bad("blocks,.slotkeeper", "own folder");
    parse_bad("blocks,state,blocks", "included twice");
    sk_err_t err;
    sk_err_clear(&err);
    CHECK_EQ(sk_include_check("state", NULL, &err), 0);
    CHECK_EQ(sk_include_check("x/y", "/dd/x/y", &err), -EINVAL);
    CHECK_STR(err.path, "/dd/x/y");
}

TEST(buf_appends_prints_and_grows)
{
    sk_mbuf_t b = {0};
    for (int i = 0; i < 1000; i++)
        sk_mbuf_printf(&b, "%d,", i);
    CHECK(!b.failed);
    CHECK(b.len == strlen(b.data));
    CHECK(!strncmp(b.data, "0,1,2,", 6));
    CHECK(!strcmp(b.data + b.len - 4, "999,"));
    sk_mbuf_append(&b, "xyz", 3);
    CHECK(!strcmp(b.data + b.len - 3, "xyz"));
    char big[5000];
    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    size_t before = b.len;
    sk_mbuf_printf(&b, "%s", big);
    CHECK_EQ(b.len, before + sizeof(big) - 1);
    sk_mbuf_free(&b);
    CHECK(b.data == NULL && b.len == 0 && b.cap == 0);
    /* An impossible reservation fails once and for all. */
    CHECK_EQ(sk_mbuf_reserve(&b, SIZE_MAX), -ENOMEM);
    CHECK(b.failed);
    sk_mbuf_printf(&b, "ignored");
    sk_mbuf_append(&b, "x", 1);
    CHECK(b.len == 0);
    sk_mbuf_free(&b);
}

TEST(buf_grow_doubles_and_keeps_contents)
{
    int *a = NULL;
    size_t cap = 0;
    CHECK_EQ(sk_grow(&a, &cap, 1, sizeof(*a), 4), 0);
    CHECK_EQ(cap, 4);
    for (int i = 0; i < 100; i++) {
        CHECK_EQ(sk_grow(&a, &cap, (size_t)i + 1, sizeof(*a), 4), 0);
        a[i] = i;
    }
    CHECK_EQ(cap, 128);
    for (int i = 0; i < 100; i++)
        CHECK_EQ(a[i], i);
    CHECK_EQ(sk_grow(&a, &cap, 50, sizeof(*a), 4), 0); /* already room */
    CHECK_EQ(cap, 128);
    CHECK_EQ(sk_grow(&a, &cap, SIZE_MAX / 2, sizeof(*a), 4), -ENOMEM);
    CHECK_EQ(cap, 128);
    free(a);
}

struct each_test {
    _Atomic int *seen;
    size_t fail_at;
    _Atomic int inits, finis;
    int cancel_at;
};

static int each_init(void *arg, void **state)
{
    struct each_test *t = arg;
    atomic_fetch_add(&t->inits, 1);
    *state = malloc(8);
    return *state ? 0 : -ENOMEM;
}

static void each_fini(void *arg, void *state)
{
    struct each_test *t = arg;
    atomic_fetch_add(&t->finis, 1);
    free(state);
}

static int each_item(void *arg, void *state, size_t i)
{
    struct each_test *t = arg;
    CHECK(state != NULL || atomic_load(&t->inits) == 0);
    atomic_fetch_add(&t->seen[i], 1);
    if (t->fail_at && i == t->fail_at)
        return -EIO; /* no error recorded: the helper records it */
    if (t->cancel_at && (int)i == t->cancel_at)
        sk_cancel_request();
    return 0;
}

TEST(pool_each_runs_every_item_once)
{
    enum { N = 10000 };
    _Atomic int *seen = calloc(N, sizeof(*seen));
    struct each_test t = {.seen = seen};
    sk_err_t err;
    sk_err_clear(&err);
    sk_pool_each_t e = {
        .n = N, .arg = &t, .init = each_init, .item = each_item, .fini = each_fini, .err = &err, .path = "p"};
    CHECK_OK(sk_pool_each(4, &e, NULL, NULL), &err);
    for (int i = 0; i < N; i++)
        CHECK_EQ(seen[i], 1);
    CHECK_EQ(t.inits, 4);
    CHECK_EQ(t.finis, 4);
    /* No items at all, and no init/fini. */
    sk_pool_each_t none = {.n = 0, .arg = &t, .item = each_item, .err = &err, .path = "p"};
    CHECK_EQ(sk_pool_each(3, &none, NULL, NULL), 0);
    free(seen);
}

TEST(pool_each_stops_at_the_first_error)
{
    enum { N = 100000 };
    _Atomic int *seen = calloc(N, sizeof(*seen));
    struct each_test t = {.seen = seen, .fail_at = 10};
    sk_err_t err;
    sk_err_clear(&err);
    sk_pool_each_t e = {
        .n = N, .arg = &t, .init = each_init, .item = each_item, .fini = each_fini, .err = &err, .path = "/repo"};
    CHECK_EQ(sk_pool_each(2, &e, NULL, NULL), -EIO);
    CHECK_EQ(err.code, -EIO);
    CHECK_STR(err.path, "/repo");
    CHECK_EQ(seen[10], 1);
    int done = 0;
    for (int i = 0; i < N; i++)
        done += seen[i];
    CHECK(done < N); /* the other thread stopped too */
    CHECK_EQ(t.finis, t.inits);
    free(seen);
}

TEST(pool_each_stops_when_cancelled)
{
    enum { N = 100000 };
    _Atomic int *seen = calloc(N, sizeof(*seen));
    struct each_test t = {.seen = seen, .cancel_at = 5};
    sk_err_t err;
    sk_err_clear(&err);
    sk_pool_each_t e = {.n = N, .arg = &t, .item = each_item, .err = &err, .path = "/dd"};
    CHECK_EQ(sk_pool_each(2, &e, NULL, NULL), -ECANCELED);
    CHECK_STR(err.msg, "interrupted");
    CHECK_STR(err.path, "/dd");
    free(seen);
}

static int init_fails(void *arg, void **state)
{
    *state = NULL;
    return -ENOMEM;
}

TEST(pool_each_reports_a_failed_init)
{
    _Atomic int seen[4] = {0};
    struct each_test t = {.seen = seen};
    sk_err_t err;
    sk_err_clear(&err);
    sk_pool_each_t e = {.n = 4, .arg = &t, .init = init_fails, .item = each_item, .err = &err, .path = "/x"};
    CHECK_EQ(sk_pool_each(2, &e, NULL, NULL), -ENOMEM);
    CHECK_EQ(seen[0] + seen[1] + seen[2] + seen[3], 0);
}

struct prog_rec {
    int starts, draws, ends;
};

static void rec_start(sk_progress_t *p)
{
    ((struct prog_rec *)p->ctx)->starts++;
}
static void rec_draw(sk_progress_t *p)
{
    ((struct prog_rec *)p->ctx)->draws++;
}
static void rec_end(sk_progress_t *p)
{
    ((struct prog_rec *)p->ctx)->ends++;
}

TEST(progress_counts_and_calls_its_implementation)
{
    static const sk_progress_ops_t ops = {.start = rec_start, .draw = rec_draw, .end = rec_end};
    struct prog_rec rec = {0};
    sk_progress_t p;
    sk_progress_setup(&p, &ops, &rec, "x");
    sk_progress_start(&p, "snapshot", 100);
    CHECK_STR(p.label, "snapshot");
    CHECK_EQ(p.total, 100);
    sk_progress_add(&p, 40);
    sk_progress_add(&p, 2);
    CHECK_EQ(atomic_load(&p.done), 42);
    sk_progress_tick(&p);
    sk_progress_tick(&p); /* rate-limited: at most one draw in 150 ms */
    CHECK_EQ(rec.draws, 1);
    CHECK_EQ(p.draws, 1);
    sk_progress_end(&p);
    CHECK_EQ(rec.starts, 1);
    CHECK_EQ(rec.ends, 1);
    /* NULL progress and no implementation are both fine. */
    sk_progress_start(NULL, "x", 1);
    sk_progress_add(NULL, 1);
    sk_progress_tick(NULL);
    sk_progress_end(NULL);
    sk_progress_setup(&p, NULL, NULL, "y");
    sk_progress_start(&p, "y", 1);
    sk_progress_add(&p, 1);
    sk_progress_tick(&p);
    sk_progress_end(&p);
    CHECK_EQ(atomic_load(&p.done), 1);
}

static char last_notice[256];
static int last_level;

static void record_notice(enum sk_notice_level level, const char *msg)
{
    last_level = (int)level;
    snprintf(last_notice, sizeof(last_notice), "%s", msg);
}

TEST(notice_goes_to_the_program_function)
{
    sk_notice(SK_NOTICE_WARN, "dropped %d", 1); /* none set: dropped */
    CHECK_STR(last_notice, "");
    sk_set_notice(record_notice);
    sk_notice(SK_NOTICE_INFO, "%s: waiting", "/repo");
    CHECK_STR(last_notice, "/repo: waiting");
    CHECK_EQ(last_level, SK_NOTICE_INFO);
    errno = EAGAIN;
    sk_notice_errno(SK_NOTICE_WARN, -ENOENT, "%s: cannot remove", "/q");
    CHECK_STR(last_notice, "/q: cannot remove: No such file or directory");
    CHECK_EQ(errno, EAGAIN);
    sk_notice_errno(SK_NOTICE_DEBUG, 0, "x");
    CHECK_STR(last_notice, "x: Input/output error");
    sk_set_notice(NULL);
}
