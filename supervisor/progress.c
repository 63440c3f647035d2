/*
 * progress: draws the library's progress on a terminal line (see progress.h here and
 * slotkeeper/progress.h for the interface).
 */
#include "progress.h"

#include <stdio.h>
#include <unistd.h>

#include "slotkeeper/fsutil.h"

static void term_draw(sk_progress_t *p)
{
    double now = sk_now();
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
}

static void term_end(sk_progress_t *p)
{
    if (p->draws) {
        fputs("\r\033[K", stderr);
        fflush(stderr);
        p->draws = 0;
    }
}

static const sk_progress_ops_t term_ops = {.draw = term_draw, .end = term_end};

void sk_progress_init(sk_progress_t *p, const char *label, bool show)
{
    sk_progress_setup(p, show && isatty(STDERR_FILENO) ? &term_ops : NULL, NULL, label);
}
