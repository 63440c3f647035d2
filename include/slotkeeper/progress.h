/*
 * progress: the progress interface of long operations (snapshot, restore, verify, export,
 * import).
 *
 * The library counts; the program shows. An operation calls sk_progress_start with its
 * label and total, workers add the bytes they finish with sk_progress_add (atomic, cheap),
 * the waiting thread calls sk_progress_tick a few times a second, and sk_progress_end
 * closes. A tick calls the implementation's draw at most about seven times a second. The
 * implementation (the ops and ctx, e.g. the supervisor's terminal line) is set by the
 * program; with no ops the counter still counts. A NULL progress is valid everywhere.
 */
#ifndef SLOTKEEPER_PROGRESS_H
#define SLOTKEEPER_PROGRESS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct sk_progress sk_progress_t;

/* What a progress implementation does; every member may be NULL. start is called after
 * label, total, done and start are set; draw reads done and total; end closes the line. */
typedef struct sk_progress_ops {
    void (*start)(sk_progress_t *p);
    void (*draw)(sk_progress_t *p);
    void (*end)(sk_progress_t *p);
} sk_progress_ops_t;

struct sk_progress {
    const sk_progress_ops_t *ops; /* the implementation, or NULL */
    void *ctx;                    /* the implementation's own state */
    const char *label;
    _Atomic uint64_t done;
    uint64_t total;
    double start;     /* sk_now() when started */
    double last_draw; /* sk_now() at the last draw */
    unsigned draws;   /* draws since start */
};

/* Sets p up with an implementation (ops may be NULL: count only). */
void sk_progress_setup(sk_progress_t *p, const sk_progress_ops_t *ops, void *ctx, const char *label);
void sk_progress_start(sk_progress_t *p, const char *label, uint64_t total);
void sk_progress_add(sk_progress_t *p, uint64_t bytes);
/* Asks the implementation to draw (rate-limited); the tick callback for sk_pool_run. */
void sk_progress_tick(void *p);
void sk_progress_end(sk_progress_t *p);

#endif
