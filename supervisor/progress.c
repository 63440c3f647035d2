/*
 * progress: draws the progress line on a terminal (see progress.h).
 */
#include "slotkeeper/progress.h"

#include <stdio.h>
#include <unistd.h>

#include "slotkeeper/fsutil.h"

void sk_progress_init(sk_progress_t *p, const char *label, bool show)
{
    p->label = label;
    atomic_store(&p->done, 0);
    p->total = 0;
    p->start = sk_now();
    p->last_draw = 0;
    p->enabled = show && isatty(STDERR_FILENO);
    p->drawn = false;
}

void sk_progress_start(sk_progress_t *p, const char *label, uint64_t total)
{
    if (!p)
        return;
    p->label = label;
    p->total = total;
    atomic_store(&p->done, 0);
    p->start = sk_now();
}

void sk_progress_add(sk_progress_t *p, uint64_t bytes)
{
    if (p)
        atomic_fetch_add_explicit(&p->done, bytes, memory_order_relaxed);
}

void sk_progress_tick(void *arg)
{
    sk_progress_t *p = arg;
    if (!p || !p->enabled)
        return;
    double now = sk_now();
    if (now - p->last_draw < 0.15)
        return;
    p->last_draw = now;
    uint64_t done = atomic_load(&p->done);
    double el = now - p->start;
    double rate = el > 0 ? (double)done / el : 0;
    char a[32], b[32], r[32], eta[32] = "--";
    if (rate > 0 && p->total > done) {
        double left = (double)(p->total - done) / rate;
        snprintf(eta, sizeof(eta), "%dm%02ds", (int)(left / 60), (int)left % 60);
    }
    fprintf(stderr, "\r\033[K%s: %s / %s, %s/s, ETA %s", p->label ? p->label : "", sk_fmt_bytes(done, a, sizeof(a)),
            sk_fmt_bytes(p->total, b, sizeof(b)), sk_fmt_bytes((uint64_t)rate, r, sizeof(r)), eta);
    fflush(stderr);
    p->drawn = true;
}

void sk_progress_end(sk_progress_t *p)
{
    if (p && p->drawn) {
        fputs("\r\033[K", stderr);
        fflush(stderr);
        p->drawn = false;
    }
}
