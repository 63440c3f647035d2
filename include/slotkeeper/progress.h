/*
 * progress: the progress line of long commands (snapshot, restore, verify).
 *
 * Workers add the bytes they finish with sk_progress_add (atomic, cheap); the
 * waiting thread calls sk_progress_tick a few times a second, which redraws
 * "label: done / total, rate, ETA" on stderr, but only when stderr is a
 * terminal and the line is enabled. A NULL progress is valid everywhere.
 */
#ifndef SLOTKEEPER_PROGRESS_H
#define SLOTKEEPER_PROGRESS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct sk_progress {
    const char *label;
    _Atomic uint64_t done;
    uint64_t total;
    double start;
    double last_draw;
    bool enabled; /* drawing allowed (stderr is a terminal and not disabled) */
    bool drawn;   /* something is on the line and needs clearing */
} sk_progress_t;

/* Prepares p; the line is drawn only if stderr is a terminal and show is true. */
void sk_progress_init(sk_progress_t *p, const char *label, bool show);
void sk_progress_start(sk_progress_t *p, const char *label, uint64_t total);
void sk_progress_add(sk_progress_t *p, uint64_t bytes);
/* Redraws the line; the tick callback for sk_pool_run (arg is the sk_progress_t). */
void sk_progress_tick(void *p);
/* Clears the line. */
void sk_progress_end(sk_progress_t *p);

#endif
