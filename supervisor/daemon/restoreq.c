/*
 * restoreq: the host's restore queue and a slot's restore budget (see
 * restoreq.h). Plain bookkeeping on arrays: no loop, no I/O, no logging, so
 * that the rationing can be tested alone.
 */
#include "daemon/restoreq.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int sk_restoreq_push(sk_restoreq_t *q, void *item)
{
    void **grown = realloc(q->items, (q->n + 1) * sizeof(*grown));
    if (!grown)
        return -ENOMEM;
    q->items = grown;
    q->items[q->n++] = item;
    return 0;
}

void sk_restoreq_remove(sk_restoreq_t *q, void *item)
{
    for (unsigned i = 0; i < q->n; i++)
        if (q->items[i] == item) {
            memmove(q->items + i, q->items + i + 1, (q->n - i - 1) * sizeof(*q->items));
            q->n--;
            return;
        }
}

void *sk_restoreq_next(sk_restoreq_t *q, unsigned at_once)
{
    if (!q->n || q->running >= at_once)
        return NULL;
    void *item = q->items[0];
    memmove(q->items, q->items + 1, (q->n - 1) * sizeof(*q->items));
    q->n--;
    q->running++;
    return item;
}

void sk_restoreq_done(sk_restoreq_t *q)
{
    if (q->running)
        q->running--;
}

void sk_restoreq_clear(sk_restoreq_t *q)
{
    q->n = 0;
}

void sk_restoreq_free(sk_restoreq_t *q)
{
    free(q->items);
    q->items = NULL;
    q->n = 0;
}

int sk_budget_init(sk_budget_t *b, unsigned budget)
{
    b->times = calloc(budget + 1, sizeof(double));
    b->n = 0;
    b->cap = b->times ? budget + 1 : 0;
    return b->times ? 0 : -ENOMEM;
}

int sk_budget_resize(sk_budget_t *b, unsigned budget)
{
    double *t = realloc(b->times, (budget + 1) * sizeof(double));
    if (!t)
        return -ENOMEM;
    b->times = t;
    b->cap = budget + 1;
    if (b->n > b->cap)
        b->n = b->cap;
    return 0;
}

void sk_budget_free(sk_budget_t *b)
{
    free(b->times);
    b->times = NULL;
    b->n = b->cap = 0;
}

void sk_budget_parse(sk_budget_t *b, char *text, double now, double window_s)
{
    for (char *save, *t = strtok_r(text, "\n", &save); t && b->n < b->cap; t = strtok_r(NULL, "\n", &save)) {
        char *end;
        double v = strtod(t, &end);
        if (end != t && v <= now && now - v < window_s)
            b->times[b->n++] = v;
    }
}

size_t sk_budget_format(const sk_budget_t *b, char *buf, size_t len)
{
    size_t o = 0;
    if (len)
        buf[0] = '\0';
    for (unsigned i = 0; i < b->n && o + 32 < len; i++)
        o += (size_t)snprintf(buf + o, len - o, "%.0f\n", b->times[i]);
    return o;
}

unsigned sk_budget_expire(sk_budget_t *b, double now, double window_s)
{
    unsigned k = 0;
    for (unsigned i = 0; i < b->n; i++)
        if (now - b->times[i] < window_s)
            b->times[k++] = b->times[i];
    b->n = k;
    return k;
}

bool sk_budget_allows(sk_budget_t *b, double now, double window_s, unsigned budget)
{
    return sk_budget_expire(b, now, window_s) < budget;
}

bool sk_budget_count(sk_budget_t *b, double now)
{
    if (b->n >= b->cap)
        return false;
    b->times[b->n++] = now;
    return true;
}

void sk_budget_uncount(sk_budget_t *b)
{
    if (b->n)
        b->n--;
}

void sk_budget_clear(sk_budget_t *b)
{
    b->n = 0;
}
