/*
 * progress (supervisor): the terminal implementation of the library's progress interface
 * (slotkeeper/progress.h): "label: done / total, rate, ETA" redrawn on stderr, only when
 * stderr is a terminal and the line is wanted.
 */
#ifndef SLOTKEEPER_SUPERVISOR_PROGRESS_H
#define SLOTKEEPER_SUPERVISOR_PROGRESS_H

#include <stdbool.h>

#include "slotkeeper/progress.h"

/* Prepares p to draw on stderr if it is a terminal and show is true (else it only counts). */
void sk_progress_init(sk_progress_t *p, const char *label, bool show);

#endif
