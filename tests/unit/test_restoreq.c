/*
 * test_restoreq: the restore rationing alone (restoreq.h): the host's queue lets
 * at most restores_at_once go, oldest first, and a removed or finished one makes
 * room; a slot's budget counts restores within the window, forgets old ones,
 * refuses past the budget, survives as text (and skips what does not parse or
 * lies outside the window), and follows a new budget on reload.
 */
#include <stdio.h>
#include <string.h>

#include "daemon/restoreq.h"
#include "unit.h"

TEST(restoreq_lets_at_most_at_once_go_oldest_first)
{
    sk_restoreq_t q = {0};
    int a, b, c;
    CHECK_EQ(sk_restoreq_push(&q, &a), 0);
    CHECK_EQ(sk_restoreq_push(&q, &b), 0);
    CHECK_EQ(sk_restoreq_push(&q, &c), 0);
    CHECK(sk_restoreq_next(&q, 2) == &a);
    CHECK(sk_restoreq_next(&q, 2) == &b);
    CHECK(sk_restoreq_next(&q, 2) == NULL); /* two run */
    CHECK_EQ(q.running, 2);
    CHECK_EQ(q.n, 1);
    sk_restoreq_done(&q);
    CHECK(sk_restoreq_next(&q, 2) == &c);
    CHECK(sk_restoreq_next(&q, 2) == NULL); /* none waits */
    sk_restoreq_done(&q);
    sk_restoreq_done(&q);
    sk_restoreq_done(&q); /* more done than running: stays at 0 */
    CHECK_EQ(q.running, 0);
    sk_restoreq_free(&q);
}

TEST(restoreq_remove_and_clear)
{
    sk_restoreq_t q = {0};
    int a, b, c;
    sk_restoreq_push(&q, &a);
    sk_restoreq_push(&q, &b);
    sk_restoreq_push(&q, &c);
    sk_restoreq_remove(&q, &b);
    sk_restoreq_remove(&q, &b); /* not there: nothing */
    CHECK_EQ(q.n, 2);
    CHECK(sk_restoreq_next(&q, 5) == &a);
    CHECK(sk_restoreq_next(&q, 5) == &c);
    sk_restoreq_push(&q, &a);
    sk_restoreq_clear(&q);
    CHECK(sk_restoreq_next(&q, 5) == NULL);
    CHECK_EQ(q.running, 2);
    sk_restoreq_free(&q);
}

TEST(budget_counts_within_the_window)
{
    sk_budget_t b;
    CHECK_EQ(sk_budget_init(&b, 2), 0);
    double now = 100000, window = 3600;
    CHECK(sk_budget_allows(&b, now, window, 2));
    CHECK(sk_budget_count(&b, now - 4000)); /* outside the window by the next look */
    CHECK(sk_budget_count(&b, now - 10));
    CHECK(sk_budget_allows(&b, now, window, 2)); /* the old one is forgotten */
    CHECK_EQ(b.n, 1);
    CHECK(sk_budget_count(&b, now));
    CHECK(!sk_budget_allows(&b, now, window, 2));
    CHECK(sk_budget_count(&b, now));  /* budget + 1 fits */
    CHECK(!sk_budget_count(&b, now)); /* and no more */
    sk_budget_uncount(&b);
    CHECK_EQ(b.n, 2);
    sk_budget_clear(&b);
    CHECK(sk_budget_allows(&b, now, window, 2));
    sk_budget_free(&b);
}

TEST(budget_text_round_trip_skips_bad_lines)
{
    sk_budget_t b;
    CHECK_EQ(sk_budget_init(&b, 3), 0);
    double now = 100000;
    char text[] = "99990\nnonsense\n200000\n10\n99995\n";
    sk_budget_parse(&b, text, now, 3600); /* the future and the too old are skipped */
    CHECK_EQ(b.n, 2);
    char buf[256];
    size_t n = sk_budget_format(&b, buf, sizeof(buf));
    CHECK_STR(buf, "99990\n99995\n");
    CHECK_EQ(n, strlen(buf));
    sk_budget_t c;
    CHECK_EQ(sk_budget_init(&c, 1), 0); /* room for 2 */
    char many[] = "99991\n99992\n99993\n";
    sk_budget_parse(&c, many, now, 3600);
    CHECK_EQ(c.n, 2);
    sk_budget_free(&c);
    sk_budget_free(&b);
}

TEST(budget_resize_keeps_what_fits)
{
    sk_budget_t b;
    CHECK_EQ(sk_budget_init(&b, 3), 0);
    for (int i = 0; i < 4; i++)
        CHECK(sk_budget_count(&b, 1000 + i));
    CHECK_EQ(sk_budget_resize(&b, 1), 0);
    CHECK_EQ(b.n, 2);
    CHECK_EQ(b.cap, 2);
    CHECK_EQ(sk_budget_resize(&b, 5), 0);
    CHECK(sk_budget_count(&b, 2000));
    CHECK_EQ(b.n, 3);
    sk_budget_free(&b);
}
