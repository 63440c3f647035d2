/*
 * restoreq: how restores are rationed, as two small pieces of bookkeeping that
 * know nothing of slots, processes or the loop.
 *
 * The host's restore queue (sk_restoreq_t): at most restores_at_once restores
 * run at a time on the host; the slots that want one wait in line, oldest
 * first. The queue holds opaque items (the daemon's slots) and only says which
 * item may go next; the caller tells the item.
 *
 * A slot's restore budget (sk_budget_t): the wall-clock times of the restores
 * counted within the restore window. A slot may have restore_budget restores
 * per window; past it the daemon stops restoring it until an operator acts.
 * The times outlive the daemon as text, one time (whole seconds) a line, so
 * that a daemon that restarts or crash-loops does not get a fresh budget.
 */
#ifndef SLOTKEEPER_RESTOREQ_H
#define SLOTKEEPER_RESTOREQ_H

#include <stdbool.h>
#include <stddef.h>

typedef struct sk_restoreq {
    void **items; /* waiting, oldest first */
    unsigned n;
    unsigned running; /* restores let go and not yet done */
} sk_restoreq_t;

/* Puts item at the end of the line. 0, or -ENOMEM (the queue is unchanged). */
int sk_restoreq_push(sk_restoreq_t *q, void *item);

/* Takes item out of the line if it waits there (a slot that no longer wants a restore). */
void sk_restoreq_remove(sk_restoreq_t *q, void *item);

/* The item whose restore may start now, taken out of the line and counted as running, or
 * NULL when none waits or at_once restores already run. */
void *sk_restoreq_next(sk_restoreq_t *q, unsigned at_once);

/* A running restore ended (or never started): its place is free. */
void sk_restoreq_done(sk_restoreq_t *q);

/* Empties the line (the running count stays). */
void sk_restoreq_clear(sk_restoreq_t *q);

/* Frees the line's memory. */
void sk_restoreq_free(sk_restoreq_t *q);

typedef struct sk_budget {
    double *times; /* unix times of the counted restores, oldest first */
    unsigned n;
    unsigned cap; /* restore_budget + 1 */
} sk_budget_t;

/* Room for a budget of `budget` restores. 0, or -ENOMEM. */
int sk_budget_init(sk_budget_t *b, unsigned budget);

/* Changes the budget (a reload); keeps the newest times that fit. 0, or -ENOMEM (unchanged). */
int sk_budget_resize(sk_budget_t *b, unsigned budget);

void sk_budget_free(sk_budget_t *b);

/* Reads times from text (one a line; what does not parse, lies in the future, or is older
 * than window_s before now is skipped), after the ones b holds, as many as fit. Modifies text. */
void sk_budget_parse(sk_budget_t *b, char *text, double now, double window_s);

/* Writes b's times as text, one a line, into buf (len bytes, NUL-terminated); returns the
 * length written (times that do not fit are left out). */
size_t sk_budget_format(const sk_budget_t *b, char *buf, size_t len);

/* Forgets the times older than window_s before now; returns how many are left. */
unsigned sk_budget_expire(sk_budget_t *b, double now, double window_s);

/* True if another restore fits: fewer than `budget` within the window (expires the old ones). */
bool sk_budget_allows(sk_budget_t *b, double now, double window_s, unsigned budget);

/* Counts a restore started at now (ignored when b is full). Returns true if it was counted. */
bool sk_budget_count(sk_budget_t *b, double now);

/* Takes back the newest counted restore (it restored nothing). */
void sk_budget_uncount(sk_budget_t *b);

/* Forgets every time (an operator's reset). */
void sk_budget_clear(sk_budget_t *b);

#endif
