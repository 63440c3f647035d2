/*
 * progress: counts an operation's bytes and calls the program's implementation (see
 * progress.h). The drawing itself lives above, in the supervisor.
 */
#include "slotkeeper/progress.h"

#include <stddef.h>

#include "slotkeeper/fsutil.h"

void sk_progress_setup(sk_progress_t *p, const sk_progress_ops_t *ops, void *ctx, const char *label)
{
    p->ops = ops;
    p->ctx = ctx;
    p->label = label;
    atomic_store(&p->done, 0);
    p->total = 0;
    p->start = sk_now();
    p->last_draw = 0;
    p->draws = 0;
}

void sk_progress_start(sk_progress_t *p, const char *label, uint64_t total)
{
    if (!p)
        return;
    p->label = label;
    p->total = total;
    atomic_store(&p->done, 0);
    p->start = sk_now();
    if (p->ops && p->ops->start)
        p->ops->start(p);
}

void sk_progress_add(sk_progress_t *p, uint64_t bytes)
{
    if (p)
        atomic_fetch_add_explicit(&p->done, bytes, memory_order_relaxed);
}

void sk_progress_tick(void *arg)
{
    sk_progress_t *p = arg;
    if (!p || !p->ops || !p->ops->draw)
        return;
    double now = sk_now();
    if (now - p->last_draw < 0.15)
        return;
    p->last_draw = now;
    p->draws++;
    p->ops->draw(p);
}

void sk_progress_end(sk_progress_t *p)
{
    if (p && p->ops && p->ops->end)
        p->ops->end(p);
}
